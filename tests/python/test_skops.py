"""skops archives (issue 12 part 5): fixtures from the real skops 0.16 and scikit-learn of the
venv (tests/gen/gen_skops.py). The set of types brine reports must be exactly what
skops.io.get_untrusted_types returns for the same file (nothing when skops would audit
nothing, invalid when skops cannot read the schema); benign .npy members must hash as np.load
reads them. Hostile files are never loaded: MARKER must not exist at the end.
"""
import functools
import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from brinetest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    out, files, marker = brinetest.gen_corpus("gen_skops.py", "brine-skops-", marker=True,
                                              timeout=900)
    yield out, files
    assert not marker.exists()


run = functools.partial(brinetest.run_brine, timeout=300)
scan = functools.partial(brinetest.scan_one, timeout=300)


def test_untrusted_types_equal_skops(corpus):
    out, files = corpus
    assert len(files) >= 20
    bad = []
    for f in files:
        s = scan(out / f["file"])
        named = set()
        for x in s["findings"]:
            if x["rule"] in ("skops-untrusted-type", "skops-dangerous-type"):
                named |= set(re.findall(r"names '([^']+)'", x["message"]))
        dangerous = any(x["rule"] == "skops-dangerous-type" for x in s["findings"])
        if f["untrusted"] is None:
            want = "invalid"
        elif not f["untrusted"]:
            want = "safe"
        else:
            want = "unsafe" if dangerous else "unverified"
            if named != set(f["untrusted"]):
                bad.append((f["file"], "types", sorted(named), f["untrusted"]))
        if f["untrusted"] is not None and not f["untrusted"] and named:
            bad.append((f["file"], "types", sorted(named), []))
        if s["verdict"] != want or (f["expect"] and s["verdict"] != f["expect"]):
            bad.append((f["file"], "verdict", s["verdict"], want, f["expect"], s["findings"][:2]))
    assert not bad, bad


def test_known_code_runners_are_unsafe(corpus):
    out, files = corpus
    for name in ["eval.skops", "os_system.skops", "partial.skops", "ctor_reduce.skops"]:
        assert scan(out / name)["verdict"] == "unsafe", name


def test_arrays_equal_np_load(corpus):
    out, files = corpus
    compared = 0
    for f in files:
        if f["kind"] != "benign":
            continue
        r = run("inspect", "--hash", "--format", "json", out / f["file"])
        if f["untrusted"]:
            assert r.returncode != 0  # inspect refuses what scan does not call safe
            continue
        assert r.returncode == 0, (f["file"], r.stderr)
        got = {t["name"]: t["sha256"] for t in json.loads(r.stdout)["tensors"]}
        assert got == f["arrays"], f["file"]
        compared += len(got)
    assert compared > 20
