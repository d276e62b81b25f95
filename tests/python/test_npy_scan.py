"""NumPy files through the format model (issue 8 item 5): `brine scan` judges every object
array's pickle as np.load(allow_pickle=True) would unpickle it, and `brine inspect --hash`
serves numeric arrays (.npy, and every .npy member of an .npz) bit for bit as
np.load(allow_pickle=False) reads them. Fixtures: tests/gen/gen_npy.py with the numpy of the
running Python (Debian's 1.24, or the venv's 2.x); hostile ones are never loaded.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BRINE = os.environ.get("BRINE", str(REPO / "build" / "brine"))


@pytest.fixture(scope="module")
def corpus():
    d = Path(tempfile.mkdtemp(prefix="brine-npy-scan-"))
    subprocess.run([sys.executable, str(REPO / "tests/gen/gen_npy.py"), str(d / "f"),
                    str(d / "MARKER")], check=True, capture_output=True, timeout=600)
    yield d / "f", json.loads((d / "f" / "manifest.json").read_text())["files"]
    assert not (d / "MARKER").exists()


def run(*args):
    return subprocess.run([BRINE, *map(str, args)], capture_output=True, timeout=120)


def scan(path):
    r = run("scan", "--format", "json", path)
    assert r.returncode in (0, 1), r
    return json.loads(r.stdout)["files"][0]


def c_order_sha(a):
    """The contract's tensor hash: elements in C order, little-endian."""
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def test_numeric_arrays_are_safe_and_equal_np_load(corpus):
    out, files = corpus
    arrays = [f for f in files if f["kind"] == "array"]
    assert len(arrays) > 100
    bad = []
    for f in arrays:
        p = out / f["file"]
        a = np.load(p, allow_pickle=False)
        s = scan(p)
        if s["verdict"] != "safe" or s["format"] != "npy":
            bad.append((f["file"], "scan", s["verdict"], s["findings"][:2]))
            continue
        r = run("inspect", "--format", "json", "--hash", p)
        if r.returncode != 0:
            if a.dtype.kind in "biufc":
                bad.append((f["file"], "inspect refused", r.stderr[:200]))
            continue
        ts = json.loads(r.stdout)["tensors"]
        if a.dtype.kind not in "biufc" or (a.dtype.kind == "f" and a.dtype.itemsize > 8) or \
                a.dtype.itemsize > 16:  # long double has no counterpart
            continue
        if len(ts) != 1 or ts[0]["shape"] != list(a.shape) or ts[0]["sha256"] != c_order_sha(a):
            bad.append((f["file"], "tensor", ts, list(a.shape), c_order_sha(a)))
    assert not bad, "\n".join(map(repr, bad[:10]))


def test_object_arrays_are_judged_as_pickles(corpus):
    out, files = corpus
    objs = [f for f in files if f["kind"] == "object"]
    assert objs
    for f in objs:
        s = scan(out / f["file"])
        if f.get("hostile"):
            assert s["verdict"] == "unsafe", (f, s)
            assert any(x.get("global") == ".".join(f["glob"]) for x in s["findings"]), (f, s)
        else:
            assert s["verdict"] in ("safe", "unverified"), (f, s)


def test_npz_members_are_tensors_named_as_np_load_names_them(corpus):
    out, files = corpus
    for f in (f for f in files if f["kind"] == "npz"):
        p = out / f["file"]
        s = scan(p)
        if f["file"].startswith("z_object") or "bzip2" in f["file"]:
            assert s["verdict"] != "safe", (f, s)
            continue
        assert s["verdict"] == "safe" and s["format"] == "npz", (f, s)
        r = run("inspect", "--format", "json", "--hash", p)
        assert r.returncode == 0, r
        got = {t["name"]: t["sha256"] for t in json.loads(r.stdout)["tensors"]}
        with np.load(p, allow_pickle=False) as z:
            want = {k: c_order_sha(z[k]) for k in z.files}
        assert got == want, (f["file"], got, want)


def test_published_scanner_fixture_is_unsafe():
    s = scan(REPO / "tests" / "data" / "dns_exfiltration.npy")
    assert s["verdict"] == "unsafe" and s["format"] == "npy", s
    assert any(x.get("global") == "ssl.get_server_certificate" for x in s["findings"]), s
