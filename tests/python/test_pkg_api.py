"""The Python package's API against the real libraries (torch, safetensors, numpy).

Run: tests/python_package.cmake (venv Python, $BRINE_LIBRARY and $BRINE_CLI from the build).
Every fixture is written here by torch.save / safetensors / numpy from objects this file
builds; torch.load is only called with weights_only=True on those benign files. The hostile
corpus comes from tests/gen/gen_hostile.py and is only ever given to brine; its payloads touch
a marker file, which must never appear.
"""

import ctypes
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pkgtest
from pkgtest import SAMPLES, torch_bytes

import brine

TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64,
                torch.float8_e4m3fn, torch.float8_e5m2]


def _tensor(dtype, shape=(3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(shape, generator=g) * 7
    if dtype == torch.bool:
        return t > 0
    if dtype.is_complex:
        return torch.complex(t, -t).to(dtype)
    return t.to(dtype)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pkg")
    out = {}
    sd = {f"t_{str(dt).split('.')[1]}": _tensor(dt, seed=i) for i, dt in enumerate(TORCH_DTYPES)}
    base = torch.arange(40, dtype=torch.float32).reshape(5, 8)
    sd["view_T"] = base.t()           # a strided view: copied, not mapped
    sd["view_row"] = base[2]          # a contiguous view at an offset
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    out["zip"] = d / "dtypes.pt"
    torch.save(sd, out["zip"])
    out["legacy"] = d / "legacy.pt"
    torch.save({k: v for k, v in sd.items() if "float8" not in k}, out["legacy"],
               _use_new_zipfile_serialization=False)
    from safetensors.numpy import save_file as np_save
    from safetensors.torch import save_file as pt_save
    out["st"] = d / "model.safetensors"
    pt_save({k: v.contiguous() for k, v in sd.items() if k != "empty"}, str(out["st"]),
            metadata={"note": "x"})
    out["npy"] = d / "a.npy"
    np.save(out["npy"], np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    out["st_np"] = d / "np.safetensors"
    np_save({"a": np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4)}, str(out["st_np"]))
    return out, sd


# ------------------------------------------------------------------ scan

def test_scan_samples_path_and_bytes():
    r = brine.scan(SAMPLES / "seed_exploit.pkl")
    assert r.verdict == "unsafe" and r.format == "pickle"
    assert r.findings[0].rule == "forbidden-module" and r.findings[0].global_ == "posix.system"
    assert r.findings[0].offset is not None and "posix.system" in r.globals
    assert brine.scan((SAMPLES / "seed_exploit.pkl").read_bytes()) == r
    ok = brine.scan(str(SAMPLES / "state_dict_raw.pkl"))
    assert ok.verdict == "safe" and ok.findings == []
    assert [t.name for t in ok.tensors] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert ok.tensors[0].dtype == "F32" and ok.tensors[0].shape == (8, 4)


def test_scan_agrees_with_cli_json(files):
    out, _ = files
    paths = [str(p) for p in [*out.values(), *sorted(SAMPLES.iterdir())]]
    cli = subprocess.run([os.environ["BRINE_CLI"], "scan", "--format", "json", *paths],
                         capture_output=True, check=False)
    doc = json.loads(cli.stdout)
    for f in doc["files"]:
        r = brine.scan(f["path"])
        assert (r.verdict, r.format, r.globals) == (f["verdict"], f["format"], f["globals"])
        assert [(x.rule, x.offset) for x in r.findings] == \
            [(x["rule"], x.get("offset")) for x in f["findings"]]


def test_scan_tree(files, tmp_path):
    out, _ = files
    (tmp_path / "sub").mkdir()
    for i, p in enumerate(out.values()):
        (tmp_path / "sub" / f"{i}_{p.name}").write_bytes(p.read_bytes())
    (tmp_path / "evil.pkl").write_bytes((SAMPLES / "seed_exploit.pkl").read_bytes())
    os.symlink("/etc/passwd", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    got = dict(brine.scan_tree(tmp_path))
    want = {str(tmp_path / "evil.pkl")} | {str(p) for p in (tmp_path / "sub").iterdir()}
    assert set(got) == want
    assert got[str(tmp_path / "evil.pkl")].verdict == "unsafe"
    assert all(r.verdict == "safe" for p, r in got.items() if "evil" not in p), got
    os.chmod(tmp_path / "evil.pkl", 0)
    if os.geteuid() != 0:
        with pytest.raises(brine.BrineIOError):
            dict(brine.scan_tree(tmp_path))
        errs = [r for _, r in brine.scan_tree(tmp_path, errors="yield")
                if isinstance(r, brine.BrineError)]
        assert len(errs) == 1


def test_errors():
    with pytest.raises(brine.BrineIOError) as e:
        brine.scan("/nonexistent/x.pkl")
    assert isinstance(e.value, OSError) and e.value.status == 4 and "No such file" in str(e.value)
    with pytest.raises(brine.PolicyError):
        brine.scan(SAMPLES / "benign_model.pkl", allow=["os.system"])
    with pytest.raises(brine.UsageError):
        brine.scan(SAMPLES / "benign_model.pkl", limits={"no_such_limit": 1})
    # over a limit, the file is invalid: brine_model_open refuses it as malformed
    with pytest.raises(brine.MalformedError) as e:
        brine.safe_open(SAMPLES / "state_dict_raw.pkl", limits={"max_opcodes": 5})
    assert "max_opcodes is 5" in e.value.message and e.value.offset is not None
    r = brine.scan(SAMPLES / "state_dict_raw.pkl", limits={"max_opcodes": 5})
    assert r.verdict == "invalid" and r.findings[0].rule == "limit"
    with pytest.raises(brine.PolicyError) as e:
        brine.safe_open(SAMPLES / "seed_exploit.pkl")
    assert e.value.offset == 68 and "posix.system" in e.value.message
    with pytest.raises(brine.MalformedError):
        brine.safe_open(_truncated(SAMPLES / "state_dict_raw.pkl"))


def _truncated(p):
    import tempfile
    t = Path(tempfile.mkdtemp()) / "cut.pkl"
    t.write_bytes(p.read_bytes()[:-40])
    return t


def test_allow_widens_policy(tmp_path):
    import collections
    import pickle
    p = tmp_path / "counter.pkl"
    p.write_bytes(pickle.dumps({"c": collections.deque([1, 2])}, protocol=4))
    assert brine.scan(p).verdict == "unverified"
    assert brine.scan(p, allow=["collections.deque"]).verdict == "safe"
    with pytest.raises(brine.PolicyError):
        brine.safe_open(p)


# ------------------------------------------------------------------ safe_open

@pytest.mark.parametrize("kind", ["zip", "legacy", "st"])
def test_safe_open_pt_equals_torch(files, kind):
    out, _ = files
    if kind == "st":
        from safetensors import safe_open as st_open
        with st_open(str(out[kind]), framework="pt") as f:
            want = {k: f.get_tensor(k) for k in f.keys()}
    else:
        want = torch.load(out[kind], weights_only=True)
    with brine.safe_open(out[kind], framework="pt") as f:
        assert set(f.keys()) == set(want)
        for k in f.keys():
            got = f.get_tensor(k)
            assert got.dtype == want[k].dtype and got.shape == want[k].shape, k
            assert torch_bytes(got) == torch_bytes(want[k]), k
            got.add_(1) if got.dtype not in (torch.bool,) and got.numel() and \
                not str(got.dtype).startswith("torch.float8") else None  # copies are writable


@pytest.mark.parametrize("kind", ["zip", "st", "st_np", "npy"])
def test_safe_open_np(files, kind):
    out, _ = files
    if kind == "npy":
        want = {"": np.load(out[kind], allow_pickle=False)}
    elif kind.startswith("st"):
        from safetensors import safe_open as st_open
        with st_open(str(out[kind]), framework="pt") as f:
            want = {k: f.get_tensor(k) for k in f.keys()}
    else:
        want = torch.load(out[kind], weights_only=True)
    with brine.safe_open(out[kind], framework="np") as f:
        names = f.keys()
        if kind == "npy":
            assert len(names) == 1
            want = {names[0]: want[""]}
        for k in names:
            a = f.get_tensor(k)
            w = want[k]
            if not a.flags.writeable:   # mapped: numpy refuses to make it writable
                with pytest.raises(ValueError):
                    a.flags.writeable = True
            wb = w.tobytes() if isinstance(w, np.ndarray) else torch_bytes(w)
            assert a.tobytes() == wb, k
            assert a.shape == tuple(w.shape), k


def test_safe_open_np_zero_copy(files):
    """Contiguous stored tensors come from the file's mapping: two reads share memory, and the
    arrays outlive the `with` block. A strided view is a copy."""
    out, _ = files
    with brine.safe_open(out["st"]) as f:
        a, b = f.get_tensor("t_float32"), f.get_tensor("t_float32")
        assert np.shares_memory(a, b) and not a.flags.writeable
        assert a.dtype == np.float32
    with brine.safe_open(out["zip"]) as f:
        a, b = f.get_tensor("t_int64"), f.get_tensor("t_int64")
        assert np.shares_memory(a, b)
        v1, v2 = f.get_tensor("view_T"), f.get_tensor("view_T")
        assert not np.shares_memory(v1, v2) and v1.flags.writeable
        assert v1.tolist() == torch.arange(40, dtype=torch.float32).reshape(5, 8).t().tolist()
    assert a.sum() == torch.load(out["zip"], weights_only=True)["t_int64"].sum().item()


def test_safe_open_metadata_and_shapes(files):
    out, sd = files
    with brine.safe_open(out["zip"]) as f:
        assert f.format == "pytorch-zip"
        md = f.metadata()
        assert md["format"] == "pytorch-zip" and json.loads(md["config"]) == f.config()
        assert f.get_shape("view_T") == (8, 5) and f.get_dtype("t_bfloat16") == "BF16"
        with pytest.raises(KeyError):
            f.get_tensor("nope")
    with pytest.raises(brine.UsageError):
        f.keys()


# ------------------------------------------------------------------ inspect / diff / convert

def test_inspect_hash(files):
    out, _ = files
    want = torch.load(out["zip"], weights_only=True)
    doc = brine.inspect(out["zip"], hash=True)
    assert doc["format"] == "pytorch-zip"
    assert {t["name"] for t in doc["tensors"]} == set(want)
    for t in doc["tensors"]:
        assert t["shape"] == list(want[t["name"]].shape)
        assert t["sha256"] == hashlib.sha256(torch_bytes(want[t["name"]])).hexdigest(), t


def test_convert_and_diff(files, tmp_path):
    out, _ = files
    dst = tmp_path / "conv.safetensors"
    got_dst, cfg = brine.convert(out["legacy"], dst)
    assert Path(got_dst) == dst and Path(cfg) == tmp_path / "conv.config.json"
    assert json.loads(Path(cfg).read_text()) is not None
    from safetensors.torch import load_file
    conv = load_file(str(dst))
    want = torch.load(out["legacy"], weights_only=True)
    assert set(conv) == set(want)
    for k in want:
        assert torch_bytes(conv[k]) == torch_bytes(want[k]), k
    assert brine.diff(out["legacy"], dst)["identical"]
    with pytest.raises(brine.BrineIOError):
        brine.convert(out["legacy"], dst)           # exists, no force
    brine.convert(out["legacy"], dst, force=True, no_sync=True)
    with pytest.raises(brine.UsageError):
        brine.convert(out["legacy"], out["legacy"])
    with pytest.raises(brine.UsageError):
        brine.convert(out["legacy"], tmp_path / "x.safetensors", config_path=out["legacy"])
    changed = dict(want)
    changed["t_float32"] = want["t_float32"] + 1
    changed["extra"] = torch.ones(2)
    del changed["t_int8"]
    other = tmp_path / "other.pt"
    torch.save(changed, other)
    d = brine.diff(out["legacy"], other)
    assert not d["identical"] and d["only_a"] == ["t_int8"] and d["only_b"] == ["extra"]
    assert [(x["name"], x["what"]) for x in d["different"]] == [("t_float32", "values")]


# ------------------------------------------------------------------ CLI

def test_python_m_brine():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pkgtest.REPO / "python")
    r = subprocess.run([sys.executable, "-m", "brine", "scan", str(SAMPLES / "seed_exploit.pkl")],
                       capture_output=True, env=env)
    assert r.returncode == 1 and b"unsafe" in r.stdout
    r = subprocess.run([sys.executable, "-m", "brine", "--version"], capture_output=True, env=env)
    assert r.returncode == 0 and r.stdout.startswith(b"brine ")


# ------------------------------------------------------------------ hostile corpus

@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    marker = d / "marker" / "BRINE_PAYLOAD_RAN"
    (d / "marker").mkdir()
    subprocess.run(["/usr/bin/python3", str(pkgtest.GEN_DIR / "gen_hostile.py"), str(d / "h"),
                    str(marker)], check=True, timeout=600)
    return d / "h", json.loads((d / "h" / "manifest.json").read_text()), marker


def test_hostile_refused(hostile):
    """The generator's manifest says which verdicts each hostile file may get; safe_open and
    load_state_dict refuse every one of them, and no payload runs."""
    d, manifest, marker = hostile
    assert len(manifest) > 20
    for name, entry in sorted(manifest.items()):
        p = d / name
        r = brine.scan(p)
        assert r.verdict in entry["expect"], (name, r.verdict, entry["expect"])
        with pytest.raises((brine.PolicyError, brine.MalformedError, brine.LimitError)):
            brine.safe_open(p)
        with pytest.raises((brine.PolicyError, brine.MalformedError, brine.LimitError)):
            brine.load_state_dict(p)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["zip", "legacy", "st"])
def test_mmap_tensors(files, kind, tmp_path):
    """mmap=True: tensors over a private copy-on-write mapping where the file holds them as
    is (brine_model_tensor_file_offset says where: the file's bytes there are the tensor's),
    copies elsewhere; equal to torch.load either way, writable, and writes never reach the
    file."""
    out, _ = files
    p = tmp_path / out[kind].name
    p.write_bytes(out[kind].read_bytes())
    before = p.read_bytes()
    want = torch.load(out["zip" if kind == "st" else kind], weights_only=True)
    mapped = 0
    with brine.safe_open(p, framework="pt", mmap=True) as f:
        model = f._m()
        for k in f.keys():
            got = f.get_tensor(k)
            w = want[k].contiguous() if kind != "st" else want[k]
            assert torch_bytes(got) == torch_bytes(w), k
            off = model.file_offset(model.index[k])
            if off is not None:
                n = got.numel() * got.element_size()
                assert before[off:off + n] == torch_bytes(w), k
                mapped += 1
            if got.dtype == torch.float32 and got.numel():
                got.add_(1)
    assert p.read_bytes() == before
    with brine.safe_open(p, framework="pt", mmap=True) as f:   # a new mapping: unchanged
        for k in f.keys():
            w = want[k].contiguous() if kind != "st" else want[k]
            assert torch_bytes(f.get_tensor(k)) == torch_bytes(w), k
    assert mapped >= 10


def test_safe_open_joblib_npz(tmp_path):
    """joblib (plain and zlib-compressed) and npz, against joblib.load / np.load of the same
    benign files written here."""
    import joblib
    obj = {"a": np.arange(10.0), "b": [np.ones((2, 3), dtype=np.int32), np.float16([1.5, -2])],
           "n": 3}
    cases = []
    for name, kw in (("plain.joblib", {}), ("z.joblib", {"compress": 3})):
        p = tmp_path / name
        joblib.dump(obj, p, **kw)
        loaded = joblib.load(p)
        cases.append((p, {"a": loaded["a"], "b.0": loaded["b"][0], "b.1": loaded["b"][1]}))
    p = tmp_path / "x.npz"
    np.savez(p, a=np.arange(5), b=np.eye(3, dtype=np.float32))
    with np.load(p, allow_pickle=False) as z:
        cases.append((p, {k: z[k] for k in z.files}))
    for p, want in cases:
        with brine.safe_open(p) as f:
            assert sorted(f.keys()) == sorted(want), p.name
            for k, w in want.items():
                a = f.get_tensor(k)
                assert a.dtype == w.dtype and a.shape == w.shape and a.tobytes() == w.tobytes()


def test_ctypes_layout_matches_header(tmp_path):
    """Every field offset of the ctypes structs (python/brine/_lib.py) is the compiled
    header's, so a change to brine.h's structs cannot silently break the binding."""
    from brine import _lib
    structs = {"brine_error": _lib.Error, "brine_limits": _lib.Limits,
               "brine_finding": _lib.Finding, "brine_scan_options": _lib.ScanOptions,
               "brine_load_options": _lib.LoadOptions, "brine_tensor_info": _lib.TensorInfo,
               "brine_convert_options": _lib.ConvertOptions}
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "brine.h"',
             "int main(void) {"]
    for cname, cls in structs.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for fname, _ in cls._fields_:
            if fname == "_spare":
                continue
            c_field = "global" if fname == "global_" else fname
            lines.append(f'printf("{cname} {fname} %zu\\n", offsetof({cname}, {c_field}));')
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    # brine_version.h is generated into the build tree, beside the library under test
    generated = Path(os.environ["BRINE_LIBRARY"]).parent / "include"
    subprocess.run(["cc", "-std=c11", "-I", str(pkgtest.REPO / "include"), "-I", str(generated),
                    str(src), "-o", str(exe)], check=True)
    seen = 0
    for line in subprocess.run([str(exe)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        cname, fname, value = line.split()
        cls = structs[cname]
        if fname == "size":
            spare = getattr(cls, "_spare", None)
            end = spare.offset if spare is not None else ctypes.sizeof(cls)
            assert int(value) <= end and end - int(value) < 8, (cname, value, end)
        else:
            assert getattr(cls, fname).offset == int(value), (cname, fname)
        seen += 1
    assert seen > 50


def test_colliding_names_refused(tmp_path):
    p = tmp_path / "collide.pt"
    torch.save({"a": {"b.c": torch.ones(1)}, "a.b": {"c": torch.zeros(1)}}, p)
    assert len(torch.load(p, weights_only=True)) == 2
    with pytest.raises(brine.UnsupportedError):
        brine.safe_open(p)
