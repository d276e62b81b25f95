"""`brine scan` / `brine inspect` on joblib files, end to end — WAITING FOR THE WIRING.

tests/joblib.cmake registers this as CTest `py_joblib_scan` with DISABLED TRUE: the scan
driver (src/scan/, the lead's format model) does not call formats/joblib.c yet. Once the
joblib format runs the pickle through jl_run (and the filters unwrap compressed files, and
sidecars are opened next to the main file), remove DISABLED in tests/joblib.cmake.

Expectations (fixtures from tests/gen/gen_joblib.py, never loaded when hostile):
  - benign files: `safe` when every global is on the default allowlist (brinetest.allowed),
    else `unverified` naming each global outside it; never `invalid`;
  - hostile files (payload at the top, after a raw array, inside or after an object array's
    nested pickle), uncompressed and through every compressor: `unsafe`, naming posix.system;
  - joblib's own test data: not `invalid`; sidecar files judged;
  - `inspect --hash`: tensors named, typed and hashed as joblib.load's arrays are.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from test_joblib import DATA, GEN, PYTHONS, TENSOR_DTYPES, py3_names  # noqa: E402

PAYLOAD = {"posix.system", "os.system", "nt.system"}


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp("joblib_scan")
    for name, py in PYTHONS.items():
        if Path(py).exists():
            subprocess.run([py, str(GEN), str(root / name)], check=True, timeout=600)
            out[name] = (root / name, json.loads((root / name / "manifest.json").read_text()))
    return out


def verdict_of(path):
    rc, doc, r = brinetest.scan_json(path)
    assert doc, r.stderr
    return doc["files"][0]


def test_benign_verdicts(generated):
    for name, (root, manifest) in generated.items():
        for e in manifest["files"]:
            if e["hostile"]:
                continue
            f = verdict_of(root / e["file"])
            where = f"{name}/{e['file']}"
            if "globals" in e:
                outside = {g for g in py3_names(e["globals"]) if not brinetest.allowed(g)}
                want = "unverified" if outside else "safe"
                assert f["verdict"] == want, (where, f)
                for g in outside:
                    assert g in f.get("globals", []), (where, g)
            else:
                assert f["verdict"] in ("safe", "unverified"), (where, f)


def test_hostile_verdicts(generated):
    for name, (root, manifest) in generated.items():
        for e in manifest["files"]:
            if not e["hostile"]:
                continue
            f = verdict_of(root / e["file"])
            assert f["verdict"] == "unsafe", (name, e["file"], f)
            assert PAYLOAD & {x.get("global") for x in f["findings"]}, (name, e["file"], f)
            assert not (root / "PWNED").exists()


def test_joblib_test_data_not_invalid():
    for p in sorted(DATA.iterdir()):
        if p.name.startswith("joblib_"):
            f = verdict_of(p)
            assert f["verdict"] in ("safe", "unverified"), (p.name, f)


def test_inspect_tensors_equal_joblib(generated):
    for name, (root, manifest) in generated.items():
        for e in manifest["files"]:
            if e["hostile"] or not e["file"].startswith("numeric_") or e["compress"]:
                continue
            r = brinetest.run_brine("inspect", "--format", "json", "--hash", root / e["file"])
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            got = {t["name"]: t for t in doc["tensors"]}
            for w in e["arrays"]:
                if w["kind"] == "inline" and w["path"] and w["dtype"][1:] in TENSOR_DTYPES:
                    t = got[w["path"]]
                    assert t["dtype"] == TENSOR_DTYPES[w["dtype"][1:]]
                    assert t["shape"] == w["shape"]
                    assert t["sha256"] == w["tensor_sha256"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
