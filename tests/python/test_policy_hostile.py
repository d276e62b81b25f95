"""Policy fixtures (tests/gen/gen_hostile_policy.py): dotted names walking out of an allowed
module, dunder components, numpy 2's numpy.dtypes.__loader__, and the denylist gaps of issue 7
— each must be `unsafe` (exit 1, the named global in an unsafe finding) under the default
policy and under every profile listed for it, dunder walks even under an exact --allow of the
dotted name itself. The payloads would only create MARKER; nothing is ever loaded.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_policy_hostile.py
"""

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")
PROFILES = [None, "numpy", "sklearn", "xgboost", "lightgbm", "torch", "builtins"]


@functools.lru_cache(maxsize=None)
def generated():
    root = Path(tempfile.mkdtemp(prefix="brine-policy-"))
    marker = root / "marker-dir" / "BRINE_PAYLOAD_RAN"
    (root / "marker-dir").mkdir()
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_hostile_policy.py"), str(root / "h"),
                    str(marker)], check=True, timeout=600, capture_output=True)
    import atexit
    atexit.register(shutil.rmtree, root, True)
    return root / "h", json.loads((root / "h" / "manifest.json").read_text()), marker


def scan_dir(d, *allow):
    args = ["scan", "-r", "--format", "jsonl"]
    for a in allow:
        args += ["--allow", a]
    r = bt.run_brine(*args, str(d), timeout=300)
    docs = {Path(doc["path"]).name: doc for doc in map(json.loads, r.stdout.decode().splitlines())}
    return r, docs


def check_unsafe(name, doc, want, how):
    named = [f.get("global") for f in doc["findings"] if f["severity"] == "unsafe"]
    assert doc["verdict"] == "unsafe" and want in named, \
        f"{name} {how}: {doc['verdict']}, unsafe globals {named}, findings {doc['findings']}"


def test_fixtures_cover_every_cause():
    _d, manifest, _m = generated()
    causes = {}
    for v in manifest.values():
        causes[v["cause"]] = causes.get(v["cause"], 0) + 1
    assert set(causes) == {"walk", "dunder", "dtypes", "deny"}, causes
    # most samples were checked against the real module: the walk exists there
    assert sum(1 for v in manifest.values() if v["verified"]) >= 30


@needs_brine
@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_unsafe_under_profile(profile):
    d, manifest, _m = generated()
    r, docs = scan_dir(d, *([profile] if profile else []))
    assert r.returncode == 1, bt.describe(r)
    checked = 0
    for name, v in manifest.items():
        if profile in v["profiles"]:
            check_unsafe(name, docs[name], v["global"], "under --allow %s" % profile)
            checked += 1
    assert checked > 0


@needs_brine
def test_dunder_walks_unsafe_even_when_allowed_exactly():
    d, manifest, _m = generated()
    for name, v in sorted(manifest.items()):
        if not v["allow"]:
            continue
        r = bt.run_brine("scan", "--format", "json", *sum((["--allow", a] for a in v["allow"]), []),
                         str(d / name))
        assert r.returncode == 1, bt.describe(r)
        doc = json.loads(r.stdout)["files"][0]
        check_unsafe(name, doc, v["global"], "under --allow " + " ".join(v["allow"]))
        assert any(f["rule"] == "dotted-name" for f in doc["findings"]), doc


@needs_brine
def test_denylisted_name_needs_the_exact_allow():
    """A DENY entry yields only to an exact --allow of that very name (never a wildcard)."""
    d, manifest, _m = generated()
    f = d / "deny_sklearn_utils__testing_assert_run_python_script.pkl"
    for allow in (["sklearn"], ["sklearn.*"], ["sklearn.utils.*"], ["sklearn.utils._testing.*"]):
        r, docs = scan_dir(d, *allow)
        check_unsafe(f.name, docs[f.name], "sklearn.utils._testing.assert_run_python_script",
                     "under --allow " + " ".join(allow))
    r = bt.run_brine("scan", "--format", "json", "--allow",
                     "sklearn.utils._testing.assert_run_python_script", str(f))
    assert json.loads(r.stdout)["files"][0]["verdict"] == "safe", bt.describe(r)
    # a forbidden module never yields
    r = bt.run_brine("scan", "--allow", "os.system", str(d / "walk_torch_os_system.pkl"))
    assert r.returncode == 2, bt.describe(r)


def test_marker_never_appeared():
    _d, _manifest, marker = generated()
    assert not marker.exists()
