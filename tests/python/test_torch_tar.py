"""The oldest PyTorch format (tar: storages, tensors, pickle members): brine scans every pickle
in it as torch's legacy_load reads them. Fixtures from tests/gen/gen_tar_checkpoints.py; the
benign ones are checked there against torch.load(weights_only=True); the hostile ones are never
loaded, and the marker their payload would create must never appear."""
import json
import os
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen", "gen_tar_checkpoints.py")
BRINE = os.environ.get("BRINE")

pytestmark = pytest.mark.skipif(not BRINE, reason="BRINE (path of the brine binary) not set")


@pytest.fixture(scope="module")
def corpus():
    with tempfile.TemporaryDirectory(prefix="brine-tar-") as tmp:
        out = os.path.join(tmp, "tar")
        marker = os.path.join(tmp, "MARKER")
        subprocess.run(["/usr/bin/python3", GEN, out, marker], check=True)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        yield out, manifest, marker
        assert not os.path.exists(marker), "a payload ran"


def scan(path):
    r = subprocess.run([BRINE, "scan", "--format", "json", path], capture_output=True)
    assert r.returncode in (0, 1), r.stderr.decode()
    return r.returncode, json.loads(r.stdout)["files"][0]


def test_every_file(corpus):
    out, manifest, marker = corpus
    assert len(manifest) >= 14
    for name, e in sorted(manifest.items()):
        rc, f = scan(os.path.join(out, name))
        assert f["format"] == "pytorch-tar", (name, f)
        assert f["verdict"] == e["expect"], (name, f)
        assert rc == (0 if e["expect"] == "safe" else 1), (name, f)
        if e.get("global"):
            assert any(x.get("global") == e["global"] for x in f["findings"]), (name, f)
        if e.get("rule"):
            assert any(x["rule"] == e["rule"] for x in f["findings"]), (name, f)
    assert not os.path.exists(marker)


def test_loading_is_refused_not_guessed(corpus):
    """brine does not rebuild tar checkpoints' tensors yet: inspect must say so, not crash."""
    out, manifest, _ = corpus
    name = next(n for n, e in manifest.items() if e["expect"] == "safe")
    r = subprocess.run([BRINE, "inspect", os.path.join(out, name)], capture_output=True)
    assert r.returncode == 1 and b"pytorch-tar" in r.stderr, r
