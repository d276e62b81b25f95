"""Hostile pickles where the two CPython unpicklers part, and amplification limits.

The fixtures come from tests/gen/gen_hostile_unpickler.py (hand-assembled bytes, harmless
payloads that would touch a marker file); brine scans them and must name the limit or the
divergence and every global either unpickler would import. Nothing here loads a hostile file.

The benign side: every benign fixture the suite generates (tests/gen/gen_benign.py,
gen_checkpoints.py, the y_ files of gen_tar_checkpoints.py and gen_bad_checkpoints.py) is run
through unpickler_stats; the largest expansion ratio and nesting depth must stay at least ten
times below the defaults, and no benign file may diverge or hit a limit in `brine scan`.
"""
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import brinetest as bt  # noqa: E402

LIMITS_H = (bt.REPO / "src" / "core" / "limits.h").read_text()


def default_of(name):
    m = re.search(r"X\(%s, UINT64_C\((\d+)\)(?: << (\d+))?," % name, LIMITS_H)
    assert m, name
    return int(m.group(1)) << int(m.group(2) or 0)


@pytest.fixture(scope="module")
def hostile():
    root = Path(tempfile.mkdtemp(prefix="brine-unpickler-"))
    marker = root / "marker-dir" / "BRINE_PAYLOAD_RAN"
    marker.parent.mkdir()
    out = root / "hostile"
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_hostile_unpickler.py"), str(out),
                    str(marker)], check=True, timeout=300)
    yield out, json.loads((out / "manifest.json").read_text()), marker
    assert not marker.exists(), "a payload ran"
    shutil.rmtree(root, True)


HOSTILE_CASES = sorted(name + ".pkl" for name in runpy.run_path(
    str(bt.GEN_DIR / "gen_hostile_unpickler.py"))["cases"]("/nonexistent"))


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_hostile(hostile, name):
    out, manifest, marker = hostile
    want = manifest[name]
    code, doc, r = bt.scan_json(out / name)
    assert doc, bt.describe(r)
    f = doc["files"][0]
    assert f["verdict"] == want["verdict"], (want["why"], bt.describe(r))
    assert code == 1
    rules = {x["rule"] for x in f["findings"]}
    assert set(want["rules"]) <= rules, (want, bt.describe(r))
    for g in want["globals"]:
        assert g in f["globals"], (g, bt.describe(r))
    if want["limit"]:
        msgs = [x["message"] for x in f["findings"] if x["rule"] == "limit"]
        assert any(("limit %s " % want["limit"]) in m for m in msgs), bt.describe(r)
    if "unpickler-divergence" in want["rules"] and want["runs_under"] in ("c", "py"):
        msgs = [x["message"] for x in f["findings"] if x["rule"] == "unpickler-divergence"]
        assert any(m.startswith("unpickler divergence") for m in msgs), bt.describe(r)
    assert not marker.exists()


def test_limits_lowered_from_the_command_line(hostile):
    """--limit raises the amplification limits to their caps: the DUP tuple (2^40 leaves from
    41 nodes) is still over the cap ratio, the nested lists are not over a 10^6 nesting."""
    out, _, _ = hostile
    code, doc, r = bt.scan_json("--limit", "max_nesting=1000000",
                                out / "amp_nested_lists_200000.pkl")
    assert doc and doc["files"][0]["verdict"] == "safe", bt.describe(r)
    code, doc, r = bt.scan_json("--limit", "max_expansion=1000000",
                                out / "amp_dup_tuple_2_40.pkl")
    assert doc and doc["files"][0]["verdict"] == "invalid", bt.describe(r)


def benign_roots():
    root = Path(tempfile.mkdtemp(prefix="brine-unpickler-benign-"))
    marker = root / "MARK"
    roots = []
    for script, extra in (("gen_benign.py", []), ("gen_checkpoints.py", []),
                          ("gen_tar_checkpoints.py", [str(marker)]),
                          ("gen_bad_checkpoints.py", [])):
        out = root / script[:-3]
        subprocess.run([bt.PYTHON, str(bt.GEN_DIR / script), str(out), *extra], check=True,
                       timeout=600, capture_output=True)
        roots.append(out)
    return root, roots


def benign_files(roots, tmp):
    """Benign fixture files, and the pickle streams inside them (zip members extracted)."""
    files, streams = [], []
    for root in roots:
        manifest = json.loads((root / "manifest.json").read_text())
        for p in sorted(root.rglob("*")):
            if not p.is_file() or p.suffix == ".json" or p.name.startswith("n_"):
                continue
            meta = manifest.get(p.name, {})
            if isinstance(meta, dict) and meta.get("expect") in ("unsafe", "invalid"):
                continue
            files.append(p)
            if zipfile.is_zipfile(p):
                with zipfile.ZipFile(p) as z:
                    for n in z.namelist():
                        if n.endswith(".pkl"):
                            q = tmp / (p.name + "__" + n.replace("/", "_"))
                            q.write_bytes(z.read(n))
                            streams.append(q)
            else:
                streams.append(p)
    return files, streams


def test_benign_corpus_far_below_the_limits(tmp_path):
    exe = os.environ.get("UNPICKLER_STATS")
    assert exe, "UNPICKLER_STATS not set"
    root, roots = benign_roots()
    try:
        check_benign(roots, tmp_path, exe)
    finally:
        shutil.rmtree(root, True)


def check_benign(roots, tmp_path, exe):
    files, streams = benign_files(roots, tmp_path)
    assert len(streams) > 500
    out = subprocess.run([exe, *map(str, streams)], capture_output=True, text=True,
                         check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(streams)
    ratio = max(rows, key=lambda r: r["ratio"])
    nesting = max(rows, key=lambda r: r["nesting"])
    expanded = max(rows, key=lambda r: r["expanded"])
    print("benign streams: %d; largest expansion ratio %.2f (%s), deepest nesting %d (%s), "
          "largest expansion %d leaves (%s)" % (len(rows), ratio["ratio"], ratio["file"],
                                                nesting["nesting"], nesting["file"],
                                                expanded["expanded"], expanded["file"]))
    assert ratio["ratio"] * 10 <= default_of("max_expansion")
    assert nesting["nesting"] * 10 <= default_of("max_nesting")
    assert all(r["divergences"] == 0 for r in rows), [r for r in rows if r["divergences"]]
    # and the whole scan of those files: no limit and no divergence finding
    r = bt.run_brine("scan", "--format", "jsonl", *files, timeout=600)
    for line in r.stdout.decode().splitlines():
        f = json.loads(line)
        for x in f["findings"]:
            assert x["rule"] != "limit", (f["path"], x)
            assert not x["message"].startswith("unpickler divergence"), (f["path"], x)
