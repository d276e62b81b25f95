"""brine on malformed and hostile PyTorch checkpoints (tests/gen/gen_bad_checkpoints.py).

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_bad_checkpoints.py

`n_` files: `brine scan` gives the manifest's verdict (never `safe`), names the rule and the
global the manifest gives, and exits 1 — never crashes (exit 0/1 only, no signal);
`brine inspect` refuses them with a message (exit 1); `brine convert` refuses them and
writes nothing. `y_` files (valid hand-assembled checkpoints) are `safe` and list the tensors
torch.load(weights_only=True) read from them at generation time, so the `n_` files differ
from a valid checkpoint only by the defect they are named after.

Hostile payloads would only create MARKER; the last test checks it never appeared. Nothing
here loads any of these files.
"""

import functools
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


@functools.lru_cache(maxsize=None)
def corpus():
    """(directory, manifest, marker) of the generated files, made once per process."""
    root = Path(tempfile.mkdtemp(prefix="brine-badckpt-"))
    marker = root / "marker-dir" / "BRINE_PAYLOAD_RAN"
    (root / "marker-dir").mkdir()
    out = root / "bad"
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_bad_checkpoints.py"), str(out),
                    str(marker)], check=True, timeout=600, capture_output=True)
    import atexit
    atexit.register(shutil.rmtree, root, True)
    return out, json.loads((out / "manifest.json").read_text()), marker


def names(prefix):
    _d, m, _k = corpus()
    return sorted(f for f in m if f.startswith(prefix))


BAD = names("n_")
GOOD = names("y_")


def entry(fname):
    d, m, _k = corpus()
    return d / fname, m[fname]


def sha_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_corpus_covers_the_brief():
    assert len(BAD) >= 30 and len(GOOD) >= 2
    for needed in ("n_numel_exceeds_record.pt", "n_record_missing.pt", "n_size_negative.pt",
                   "n_stride_negative.pt", "n_size_huge.pt", "n_offset_past_end.pt",
                   "n_view_extent_past_storage.pt", "n_unknown_storage_class.pt",
                   "n_torchscript.pt", "n_payload_crc_mismatch.pt", "n_payload_local_name.pt",
                   "n_payload_local_flag_0x1.pt", "n_legacy_count_mismatch.pt"):
        assert needed in BAD


@needs_brine
@pytest.mark.parametrize("fname", BAD)
def test_scan_verdict(fname):
    path, e = entry(fname)
    rc, doc, r = bt.scan_json(path)
    assert rc in (0, 1), "brine scan crashed or errored\n" + bt.describe(r)
    assert doc is not None and len(doc["files"]) == 1, bt.describe(r)
    f = doc["files"][0]
    detail = "%s (%s)\n%s" % (fname, e["why"], json.dumps(f)[:2000])
    assert f["verdict"] in e["verdicts"], detail
    assert rc == 1, detail
    rules = [x["rule"] for x in f["findings"]]
    if "rule" in e:
        assert e["rule"] in rules, detail
    if "global" in e:
        assert e["global"] in f["globals"], detail
        assert any(x.get("global") == e["global"] for x in f["findings"]), detail
    # every finding carries a documented-looking rule and a message
    for x in f["findings"]:
        assert x["rule"] and all(c.isalnum() or c == "-" for c in x["rule"]), detail
        assert x["message"].strip(), detail


@needs_brine
@pytest.mark.parametrize("fname", BAD)
def test_inspect_refuses_with_a_message(fname):
    path, e = entry(fname)
    r = bt.run_brine("inspect", "--format", "json", "--hash", path)
    assert r.returncode == 1, "%s (%s)\n%s" % (fname, e["why"], bt.describe(r))
    assert r.stderr.strip(), bt.describe(r)
    assert sha_file(path) == e["sha256_file"]


@needs_brine
@pytest.mark.parametrize("fname", BAD)
def test_diff_refuses(fname):
    path, _e = entry(fname)
    r = bt.run_brine("diff", path, path)
    assert r.returncode == 1 or r.returncode == 2, bt.describe(r)
    assert r.returncode >= 0 and r.stderr.strip(), bt.describe(r)


@functools.lru_cache(maxsize=None)
def convert_available():
    if bt.brine_path() is None:
        return False
    r = bt.run_brine("convert", "--help")
    return r.returncode == 0 and b"not implemented" not in (r.stdout + r.stderr).lower()


@needs_brine
@pytest.mark.parametrize("fname", BAD)
def test_convert_refuses_and_leaves_nothing(fname, tmp_path):
    if not convert_available():
        pytest.skip("brine convert not built")
    path, e = entry(fname)
    r = bt.run_brine("convert", path, tmp_path / "out.safetensors")
    assert r.returncode == 1, "%s (%s)\n%s" % (fname, e["why"], bt.describe(r))
    assert r.stderr.strip()
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    assert sha_file(path) == e["sha256_file"]


@needs_brine
@pytest.mark.parametrize("fname", GOOD)
def test_valid_baselines(fname):
    path, e = entry(fname)
    rc, doc, r = bt.scan_json(path)
    assert rc == 0 and doc["files"][0]["verdict"] == "safe", bt.describe(r)
    r = bt.run_brine("inspect", "--format", "json", "--hash", path)
    assert r.returncode == 0, bt.describe(r)
    got = {t["name"]: {"dtype": t["dtype"], "shape": t["shape"], "sha256": t["sha256"]}
           for t in json.loads(r.stdout)["tensors"]}
    assert got == e["tensors"]


def test_no_payload_ran():
    """Runs last (file order): nothing above executed a hostile payload."""
    _d, _m, marker = corpus()
    assert not marker.exists()
