"""The format model (issues 7 and 8): every reading a loader could make is judged, errors and
limits never make a file inert, nested bytes are detected like files, unsupported model
formats are never `none` — and scan, inspect and dis agree about every file, because they walk
it through the same formats.

Fixtures: tests/gen/gen_format_model.py (hand-assembled, harmless payloads, never loaded),
tests/gen/gen_checkpoints.py and tests/gen/gen_benign.py (real torch/numpy/CPython output).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402

BRINE = os.environ.get("BRINE", str(brinetest.REPO / "build" / "brine"))
GEN = brinetest.GEN_DIR


def scan_json(path, *extra):
    r = subprocess.run([BRINE, "scan", "--format", "json", *extra, str(path)],
                       capture_output=True, timeout=120)
    assert r.returncode in (0, 1), r
    return r.returncode, json.loads(r.stdout)["files"][0]


@pytest.fixture(scope="module")
def hostile():
    d = Path(tempfile.mkdtemp(prefix="brine-fm-"))
    marker = d / "MARKER"
    subprocess.run([brinetest.PYTHON, str(GEN / "gen_format_model.py"), str(d / "f"), str(marker)],
                   check=True, timeout=300)
    return d / "f", json.loads((d / "f" / "manifest.json").read_text()), marker


def test_every_fixture_gets_its_verdict(hostile):
    out, manifest, marker = hostile
    assert len(manifest) >= 15
    bad = []
    for name, e in sorted(manifest.items()):
        rc, f = scan_json(out / name)
        got = (f["verdict"], f["format"])
        findings = f["findings"]
        ok = f["verdict"] == e["expect"] and rc == (0 if e["expect"] == "safe" else 1)
        if e.get("global"):
            ok &= any(x.get("global") and e["global"] in x["global"] for x in findings) or \
                any(e["global"] in g for g in f["globals"])
        if e.get("member"):
            ok &= any(e["member"] in (x.get("member") or "") for x in findings)
        if e.get("rule"):
            ok &= any(x["rule"] == e["rule"] for x in findings)
        if e.get("format"):
            ok &= f["format"] == e["format"]
        if not ok:
            bad.append((name, e, got, findings[:4]))
    assert not marker.exists()
    assert not bad, "\n".join(map(repr, bad))


def test_project_fuzz_seeds_of_joblib_are_read_as_joblib():
    """fuzz/corpus/other/joblib_* (joblib.dump with each compressor) were `safe (none)`."""
    seeds = sorted((brinetest.REPO / "fuzz" / "corpus" / "other").glob("joblib_*"))
    assert len(seeds) >= 7
    for p in seeds:
        _, f = scan_json(p)
        assert f["format"] != "none", f
        assert f["verdict"] in ("safe", "unverified"), f
        assert any("joblib.numpy_pickle" in g for g in f["globals"]), f


def test_text_output_says_not_a_model_file(hostile):
    out, _, _ = hostile
    r = subprocess.run([BRINE, "scan", str(out / "y_text.txt")], capture_output=True, timeout=60)
    assert r.returncode == 0 and b"not a model file" in r.stdout, r


def test_dis_member_reaches_pickles_inside_containers(hostile):
    out, _, _ = hostile
    r = subprocess.run([BRINE, "dis", "--member", "evil.pkl", str(out / "n_prefixed_zip.bin")],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and b"posix system" in r.stdout, r
    r = subprocess.run([BRINE, "dis", "--member", "nope.pkl", str(out / "n_prefixed_zip.bin")],
                       capture_output=True, timeout=60)
    assert r.returncode == 2 and b"evil.pkl" in r.stderr, r


@pytest.fixture(scope="module")
def benign_corpus():
    d = Path(tempfile.mkdtemp(prefix="brine-fm-benign-"))
    subprocess.run([brinetest.PYTHON, str(GEN / "gen_checkpoints.py"), str(d / "ckpt")],
                   check=True, timeout=600, capture_output=True)
    subprocess.run([brinetest.PYTHON, str(GEN / "gen_benign.py"), str(d / "benign")],
                   check=True, timeout=600, capture_output=True)
    return [p for p in sorted(d.rglob("*")) if p.is_file() and p.name != "manifest.json"]


def test_scan_and_inspect_agree(benign_corpus):
    """Same format, same tensors (name, dtype, shape) for every file both commands read; a
    file inspect refuses is one scan does not call safe (or one inspect cannot serve)."""
    assert len(benign_corpus) > 300
    disagree = []
    compared = 0
    for p in benign_corpus:
        _, f = scan_json(p)
        r = subprocess.run([BRINE, "inspect", "--format", "json", str(p)], capture_output=True,
                           timeout=120)
        if r.returncode != 0:
            if f["verdict"] == "safe" and b"does not rebuild" not in r.stderr and \
                    b"not a model file" not in r.stderr:
                disagree.append((p.name, "inspect refused a safe file", r.stderr[:200]))
            continue
        if f["verdict"] != "safe":
            disagree.append((p.name, "inspect served a file scan calls " + f["verdict"]))
            continue
        ins = json.loads(r.stdout)
        compared += 1
        if ins.get("format") != f["format"]:
            disagree.append((p.name, "format", ins.get("format"), f["format"]))
        a = [(t["name"], t["dtype"], t["shape"]) for t in f.get("tensors", [])]
        b = [(t["name"], t["dtype"], t["shape"]) for t in ins.get("tensors", [])]
        if a != b:
            disagree.append((p.name, "tensors", a[:3], b[:3]))
    assert not disagree, "\n".join(map(repr, disagree[:20]))
    assert compared > 300, compared  # the comparison itself ran, on most of the corpus
