"""No new false positives from the policy: the benign corpus (tests/gen/gen_benign.py) keeps
its verdicts under the default policy and is never `unsafe` under any profile; numpy 2's dtype
classes, pickled by the real numpy in the project venv, are `safe` by their exact names; the
committed list src/policy/numpy_dtypes.def is what tools/gen_numpy_dtypes.py finds; exact
entries still admit ordinary dotted names (nested classes) that wildcards no longer admit.

Run: BRINE=build/brine BRINE_VENV_PYTHON=... /usr/bin/python3 -m pytest -q tests/python/test_policy_benign.py
"""

import json
import os
import subprocess
import sys

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")
PROFILES = [None, "numpy", "sklearn", "xgboost", "lightgbm", "torch", "builtins"]
VENV = os.environ.get("BRINE_VENV_PYTHON") or "/var/cache/brine/venv/bin/python3"
needs_venv = pytest.mark.skipif(not os.path.exists(VENV), reason="no project venv")


@needs_brine
@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_benign_corpus_keeps_its_verdicts(profile):
    b, manifest, _h, _hm, _m = bt.generated()
    args = ["scan", "-r", "--format", "jsonl", str(b)]
    if profile:
        args[1:1] = ["--allow", profile]
    r = bt.run_brine(*args, timeout=300)
    wrong = []
    for line in r.stdout.decode().splitlines():
        doc = json.loads(line)
        name = os.path.basename(doc["path"])
        if name not in manifest:
            continue
        want = manifest[name]["expect"]
        got = doc["verdict"]
        if got == "unsafe" or (want == "safe" and got != "safe") or \
                (profile is None and got != want):
            wrong.append(f"{name}: expected {want}, got {got}: {doc['findings'][:2]}")
    assert not wrong, "\n".join(wrong)


DTYPE_PROBE = r"""
import pickle, sys, numpy as np
out = sys.argv[1]
kinds = ["?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g", "F", "D",
         "G", "O", "S3", "U3", "V4", "M8[s]", "m8[s]"]
names = []
for k in kinds:
    cls = type(np.dtype(k))
    for p in (2, 4):
        fn = "%s/%s_%d.pkl" % (out, cls.__name__, p)
        open(fn, "wb").write(pickle.dumps(cls, protocol=p))
    names.append(cls.__module__ + "." + cls.__qualname__)
sd = np.dtypes.StringDType
open(out + "/StringDType_cls.pkl", "wb").write(pickle.dumps(sd, protocol=4))
names.append(sd.__module__ + "." + sd.__qualname__)
print("\n".join(sorted(set(names))))
"""


@needs_brine
@needs_venv
def test_numpy2_dtype_classes_are_safe(tmp_path):
    r = subprocess.run([VENV, "-c", DTYPE_PROBE, str(tmp_path)], capture_output=True, text=True,
                       check=True)
    names = set(r.stdout.split())
    assert len(names) >= 20 and all(n.startswith("numpy.dtypes.") for n in names), names
    res = bt.run_brine("scan", "-r", "--format", "jsonl", str(tmp_path))
    docs = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert len(docs) >= 40
    for doc in docs:
        assert doc["verdict"] == "safe", doc
    seen = {g for doc in docs for g in doc["globals"]}
    assert names <= seen


@needs_brine
def test_numpy_dtypes_outside_the_list_are_not_allowed(tmp_path):
    for name in ["_add_dtype_helper", "NotADType", "Float64DType.mro"]:
        f = tmp_path / (name + ".pkl")
        f.write_bytes(b"\x80\x04" + bt.sg("numpy.dtypes", name) + b".")
        code, doc, r = bt.scan_json(str(f))
        assert doc["files"][0]["verdict"] != "safe", bt.describe(r)


@needs_venv
def test_numpy_dtypes_def_is_current():
    tool = bt.REPO / "tools" / "gen_numpy_dtypes.py"
    r = subprocess.run([sys.executable, str(tool), VENV, bt.PYTHON], capture_output=True,
                       text=True, check=True)
    committed = (bt.REPO / "src" / "policy" / "numpy_dtypes.def").read_text()
    got = {line for line in r.stdout.splitlines() if line.startswith("NUMPY_DTYPE")}
    want = {line for line in committed.splitlines() if line.startswith("NUMPY_DTYPE")}
    assert got <= want, "regenerate src/policy/numpy_dtypes.def: missing %s" % (got - want)


def test_default_allowlist_has_no_wildcard():
    text = (bt.REPO / "src" / "policy" / "allowlist.def").read_text()
    for line in text.splitlines():
        if line.startswith('ALLOW("default"'):
            assert "*" not in line, line


@needs_brine
def test_exact_entries_admit_dotted_names_wildcards_do_not(tmp_path):
    f = tmp_path / "nested.pkl"
    f.write_bytes(b"\x80\x04" + bt.sg("mypkg.models", "Outer.Inner") + b")\x81.")
    for allow, want in ((["mypkg.models.Outer.Inner"], "safe"), (["mypkg.*"], "unsafe"),
                        (["mypkg.models.*"], "unsafe"), ([], "unsafe")):
        args = sum((["--allow", a] for a in allow), [])
        code, doc, r = bt.scan_json(*args, str(f))
        assert doc["files"][0]["verdict"] == want, (allow, bt.describe(r))
