"""ONNX through the format model (issue 12 part 3). Fixtures: tests/gen/gen_onnx.py with the
real onnx package. Checks every fixture's verdict and rule (path-escape for traversal,
absolute, backslash, symlink and subgraph locations; custom-operator; malformed for missing
files, bad offsets, unknown keys, truncation and size mismatches), and on benign models that
`inspect --hash` equals sha256 of onnx.numpy_helper.to_array(t) for every initializer (external
data loaded by onnx.load itself), with its shape, and that `convert` round-trips. Hostile
models are never passed to onnx.load.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from brinetest import REPO  # noqa: E402

BRINE = os.environ.get("BRINE", str(REPO / "build" / "brine"))


@pytest.fixture(scope="module")
def corpus():
    d, files, _ = brinetest.gen_corpus("gen_onnx.py", "brine-onnx-")
    return d, files


run = brinetest.run_brine


def test_verdicts(corpus):
    d, files = corpus
    assert len(files) >= 20
    bad = []
    for f in files:
        s = brinetest.scan_one(d / f["file"])
        rules = [x["rule"] for x in s["findings"]]
        if s["verdict"] != f["expect"] or s["format"] != "onnx" or \
                (f["rule"] and f["rule"] not in rules):
            bad.append((f["file"], s["verdict"], s["findings"][:2]))
    assert not bad, "\n".join(map(repr, bad))


def test_bytes_scan_never_safe_for_external_data(corpus):
    d, _ = corpus
    data = (d / "y_external" / "model.onnx").read_bytes()
    r = subprocess.run([BRINE, "scan", "--format", "json", "-"], input=data,
                       capture_output=True, timeout=60)
    if r.returncode == 2:
        pytest.skip("scan reads no stdin")
    assert json.loads(r.stdout)["files"][0]["verdict"] != "safe"


def test_hash_equals_numpy_helper(corpus):
    d, files = corpus
    checked = 0
    for f in files:
        if not f["read"]:
            continue
        m = onnx.load(str(d / f["file"]))  # benign: loads its external data
        out = run("inspect", "--format", "json", "--hash", d / f["file"])
        assert out.returncode == 0, (f["file"], out.stderr)
        ts = {t["name"]: t for t in json.loads(out.stdout)["tensors"]}
        assert len(ts) == len(m.graph.initializer), f["file"]
        for t in m.graph.initializer:
            a = numpy_helper.to_array(t)  # tobytes() is C order; ascontiguousarray makes 0-d 1-d
            b = ts[t.name]
            assert b["shape"] == list(a.shape), (f["file"], t.name)
            assert b["sha256"] == hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()
                                                 ).hexdigest(), (f["file"], t.name)
            checked += 1
    assert checked >= 30


def test_convert_round_trips(corpus, tmp_path):
    pytest.importorskip("safetensors")
    from safetensors import safe_open
    d, _ = corpus
    for case in ("y_raw", "y_external"):
        out = tmp_path / f"{case}.safetensors"
        r = run("convert", d / case / "model.onnx", out)
        assert r.returncode == 0, r.stderr
        m = onnx.load(str(d / case / "model.onnx"))
        with safe_open(str(out), framework="numpy") as f:
            for t in m.graph.initializer:
                a = numpy_helper.to_array(t)
                assert f.get_tensor(t.name).tobytes() == a.tobytes()
