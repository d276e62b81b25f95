"""`brine convert` never writes over its input or its other output (issue 9, item 1).

Every collision — the same path, a hard link, a symlink (to the file or through a linked
directory), a bind mount, a path spelled two ways, --config equal to IN or OUT, the default
config path equal to IN — is refused with exit 2 before a byte of IN is read (a hostile IN is
not even judged: the message is about the paths), and nothing in the directory changes. An
existing OUT or config is refused without --force and replaced with it. Names safetensors
cannot represent exit 1 (a refused conversion), not 2. Fixtures: tests/gen/gen_integrity.py.
"""
import os
import shutil
import subprocess

import pytest
import torch

import brinetest as bt
from integrity_common import fx, read_safetensors, run, snapshot  # noqa: F401

import gen_integrity  # noqa: E402  (tests/gen is on the path once integrity_common is imported)


def workdir(fx, tmp_path, *names):
    d = tmp_path / "w"
    d.mkdir()
    for n in names:
        shutil.copy(fx[0] / n, d / n)
    return d


def refused_untouched(d, args, rc=2, words=()):
    before = snapshot(d)
    r = run("convert", *args)
    assert r.returncode == rc, bt.describe(r)
    err = r.stderr.decode()
    for w in words:
        assert w in err, bt.describe(r)
    assert snapshot(d) == before, "convert changed the directory: %s -> %s" % (before, snapshot(d))
    return err


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize("how", ["same", "spelled", "hardlink", "symlink", "dirlink"])
def test_self_convert_refused(fx, tmp_path, how, force):
    d = workdir(fx, tmp_path, "sd.pt")
    src = d / "sd.pt"
    if how == "same":
        out = src
    elif how == "spelled":
        (d / "sub").mkdir()
        out = str(d / "sub" / ".." / "sd.pt")
    elif how == "hardlink":
        out = d / "hl.pt"
        os.link(src, out)
    elif how == "symlink":
        out = d / "sl.pt"
        os.symlink("sd.pt", out)
    else:
        os.symlink(".", d / "here")
        out = d / "here" / "sd.pt"
    err = refused_untouched(d, force + [src, out], words=["is the input file"])
    assert "refused (" not in err  # the paths were judged, not the file


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_hostile_input_is_not_read_before_the_collision_check(fx, tmp_path, force):
    d = workdir(fx, tmp_path, "evil.pt")
    err = refused_untouched(d, force + [d / "evil.pt", d / "evil.pt"], words=["is the input"])
    assert "unsafe" not in err and "os.system" not in err


def test_bind_mount_refused(fx, tmp_path):
    """The same file through a bind mount: same st_dev+st_ino, different path."""
    d = workdir(fx, tmp_path, "sd.pt")
    (d / "target.pt").write_bytes(b"")
    brine = bt.brine_path()
    script = ('mount --bind "$1" "$2" || exit 77; "$3" convert --force "$1" "$2"; rc=$?; '
              'umount "$2"; exit $rc')
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(d / "sd.pt"),
                            str(d / "target.pt"), brine], capture_output=True, timeout=60)
    except (FileNotFoundError, PermissionError):
        pytest.skip("unshare not available")
    if r.returncode == 77 or b"unshare" in r.stderr and r.returncode != 2:
        pytest.skip("cannot bind-mount here: %s" % r.stderr.decode()[:200])
    assert r.returncode == 2 and b"is the input file" in r.stderr, bt.describe(r)
    assert (d / "target.pt").read_bytes() == b"" and len(os.listdir(d)) == 2


def test_config_collisions(fx, tmp_path):
    d = workdir(fx, tmp_path, "sd.pt")
    src, out = d / "sd.pt", d / "out.safetensors"
    refused_untouched(d, ["--config", src, src, out], words=["the config", "is the input file"])
    refused_untouched(d, ["--force", "--config", src, src, out], words=["is the input file"])
    refused_untouched(d, ["--config", out, src, out], words=["are the same file"])
    (d / "sub").mkdir()
    refused_untouched(d, ["--config", d / "sub" / ".." / "out.safetensors", src, out],
                      words=["are the same file"])
    os.link(src, d / "cfg_link")
    refused_untouched(d, ["--force", "--config", d / "cfg_link", src, out],
                      words=["is the input file"])
    # the default config path (OUT with .safetensors -> .config.json) is checked too
    shutil.copy(src, d / "m.config.json")
    refused_untouched(d, [d / "m.config.json", d / "m.safetensors"],
                      words=["the config", "is the input file"])
    # an existing OUT that is a hard link of the config
    out.write_bytes(b"old")
    os.link(out, d / "cfg2")
    refused_untouched(d, ["--force", "--config", d / "cfg2", src, out], words=["same file"])


def expected_tensors(seed):
    """The tensors gen_integrity.py saved in sd.pt, rebuilt from the same seed (torch 1.13's
    weights_only unpickler refuses the float hyper-parameters, and nothing else may load it)."""
    return {k: v for k, v in gen_integrity.state_dict(seed).items() if isinstance(v, torch.Tensor)}


# --no-sync replaces by swapping names (RENAME_EXCHANGE) and removing the old file after
@pytest.mark.parametrize("sync", [[], ["--no-sync"]])
def test_existing_out_refused_without_force_replaced_with_it(fx, tmp_path, sync):
    d = workdir(fx, tmp_path, "sd.pt")
    src, out, cfg = d / "sd.pt", d / "out.safetensors", d / "out.config.json"
    out.write_bytes(b"previous weights")
    err = refused_untouched(d, [src, out], words=["exists", "--force"])
    assert "OUT" in err
    out.unlink()
    cfg.write_bytes(b"previous config")
    refused_untouched(d, [src, out], words=["the config", "exists", "--force"])
    out.write_bytes(b"previous weights")
    r = run("convert", "--force", *sync, src, out)
    assert r.returncode == 0, bt.describe(r)
    got = read_safetensors(out)
    want = expected_tensors(1)
    assert sorted(got) == sorted(want)
    for name, t in want.items():
        assert got[name][1] == list(t.shape) and got[name][2] == t.numpy().tobytes(), name
    config = cfg.read_text()
    assert '"epoch": 7' in config and "previous" not in config
    assert sorted(os.listdir(d)) == ["out.config.json", "out.safetensors", "sd.pt"]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_special_output_refused_even_with_force(fx, tmp_path, kind):
    d = workdir(fx, tmp_path, "sd.pt")
    out = d / "out.safetensors"
    if kind == "directory":
        out.mkdir()
    else:
        os.mkfifo(out)
    refused_untouched(d, ["--force", d / "sd.pt", out], words=["not a regular file"]
                      if kind == "fifo" else ["directory"])


def test_output_in_missing_directory(fx, tmp_path):
    d = workdir(fx, tmp_path, "sd.pt")
    refused_untouched(d, [d / "sd.pt", d / "nope" / "out.safetensors"], words=["directory"])


@pytest.mark.parametrize("fname,words", [
    ("dup_names.pt", ["cannot be represented", "a.b.c"]),
    ("metadata_name.pt", ["cannot be represented", "__metadata__"]),
])
def test_unrepresentable_names_are_a_refused_conversion(fx, tmp_path, fname, words):
    d = workdir(fx, tmp_path, fname)
    refused_untouched(d, [d / fname, d / "out.safetensors"], rc=1, words=words)


@pytest.mark.parametrize("fname", ["evil.pt", "evil.pkl", "unverified.pkl", "truncated.pt",
                                   "notes.txt"])
def test_refused_input_leaves_nothing(fx, tmp_path, fname):
    d = workdir(fx, tmp_path, fname)
    refused_untouched(d, [d / fname, d / "out.safetensors"], rc=1)


def test_plural_forms(fx, tmp_path):
    d = workdir(fx, tmp_path, "one.pt", "sd.pt")
    r = run("convert", d / "one.pt", d / "one.safetensors")
    assert r.returncode == 0 and b": 1 tensor written to " in r.stdout, bt.describe(r)
    r = run("convert", d / "sd.pt", d / "sd.safetensors")
    assert r.returncode == 0 and b": 2 tensors written to " in r.stdout, bt.describe(r)
    r = run("inspect", d / "one.pt")
    assert r.stdout.splitlines()[0].endswith(b", 1 tensor"), bt.describe(r)
    r = run("diff", d / "one.pt", d / "one.safetensors")
    assert r.returncode == 0 and b"1 tensor in A, 1 in B: identical" in r.stdout, bt.describe(r)
    r = run("scan", d / "one.pt")
    assert r.stdout.splitlines()[-1] == b"1 file: 1 safe, 0 unverified, 0 invalid, 0 unsafe; 0 errors"
    r = run("scan", d / "one.pt", d / "missing.pt")
    assert r.stdout.splitlines()[-1].endswith(b"; 1 error"), bt.describe(r)
    r = run("scan", fx[0] / "notes.txt")
    assert r.stdout.splitlines()[0].endswith(b": safe (not a model file)"), bt.describe(r)
