"""TensorFlow SavedModel and keras_metadata.pb through the format model (issue 12 part 6).
Fixtures: tests/gen/gen_savedmodel.py, protobuf messages built with the venv's protobuf from
TensorFlow's real field numbers (tensorflow itself is not installed). Every SavedModel is at
least unverified (graph-program: a graph runs); ops that run Python or touch files, in the
graph or in its function library, and Lambda layers in keras_metadata.pb are unsafe
(graph-op, naming the op); a truncated file is invalid.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from brinetest import REPO  # noqa: E402

BRINE = os.environ.get("BRINE", str(REPO / "build" / "brine"))


@pytest.fixture(scope="module")
def corpus():
    pytest.importorskip("google.protobuf")
    d, files, _ = brinetest.gen_corpus("gen_savedmodel.py", "brine-savedmodel-")
    return d, files


def test_verdicts(corpus):
    d, files = corpus
    assert len(files) >= 20
    bad = []
    for f in files:
        r = subprocess.run([BRINE, "scan", "--format", "json", d / f["file"]],
                           capture_output=True, timeout=60)
        assert r.returncode in (0, 1), r
        s = json.loads(r.stdout)["files"][0]
        rules = [x["rule"] for x in s["findings"]]
        if s["verdict"] != f["expect"] or (f["rule"] and f["rule"] not in rules):
            bad.append((f["file"], s["verdict"], s["findings"][:2]))
        if f["rule"] == "graph-op" and "lambda" not in f["file"] and "printv2" not in f["file"]:
            op = f["file"].split("/")[0][2:].replace("_in_function", "")
            if not any(op in x["message"] for x in s["findings"]):
                bad.append((f["file"], "op not named", s["findings"][:1]))
    assert not bad, "\n".join(map(repr, bad))


def test_never_safe(corpus):
    d, files = corpus
    for f in files:
        r = subprocess.run([BRINE, "scan", "--format", "json", d / f["file"]],
                           capture_output=True, timeout=60)
        assert json.loads(r.stdout)["files"][0]["verdict"] != "safe", f["file"]
