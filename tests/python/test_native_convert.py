"""`brine convert model.pkl model.json|.ubj|.txt` (issue 13 item 3): the XGBoost or LightGBM
model inside a pickle, written as the library's own file without unpickling. The real libraries
load brine's output and predict exactly what the pickled model predicted.

Each venv that has the library (the project venv: xgboost 3.2, lightgbm 4.7; sk-1.3: xgboost
2.1) fits small models, pickles them (protocols 2, 4, 5 and joblib) and saves the original's
predictions; brine converts; the same venv loads the native file (never the pickle) and
predicts. The scikit-learn wrapper's attributes must be in the config.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_native_convert.py
"""

import json
import os
import subprocess

import pytest

import brinetest as bt

CACHE = "/var/cache/brine"
XGB_ENVS = {"3.2": CACHE + "/venv/bin/python", "2.1": CACHE + "/sk-1.3/bin/python"}
LGB_ENVS = {"4.7": CACHE + "/venv/bin/python"}
needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")

WRITE_XGB = r"""
import pickle, sys, joblib, numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.RandomState(0)
X = rng.rand(80, 4); y = (X[:, 0] + X[:, 1] > 1).astype(int); y3 = rng.randint(0, 3, 80)
np.save(out + "/X.npy", X)
models = {
  "clf": xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y),
  "multi": xgb.XGBClassifier(n_estimators=4).fit(X, y3),
  "reg": xgb.XGBRegressor(n_estimators=5, base_score=0.25).fit(X, X[:, 0] * 3),
}
models["booster"] = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 3)
for k, m in models.items():
    b = m if isinstance(m, xgb.Booster) else m.get_booster()
    np.save("%s/%s.pred.npy" % (out, k), b.predict(xgb.DMatrix(X)))
    for p in (2, 4, 5):
        open("%s/%s_p%d.pkl" % (out, k, p), "wb").write(pickle.dumps(m, protocol=p))
    joblib.dump(m, "%s/%s.joblib" % (out, k))
print(xgb.__version__)
"""

CHECK_XGB = r"""
import json, sys, numpy as np, xgboost as xgb
d = sys.argv[1]
X = np.load(d + "/X.npy")
for model, name in json.loads(sys.argv[2]):
    got = xgb.Booster(model_file=model).predict(xgb.DMatrix(X))
    want = np.load("%s/%s.pred.npy" % (d, name))
    print("equal" if np.array_equal(got, want) else "differ %r" % np.abs(got - want).max())
"""

WRITE_LGB = r"""
import pickle, sys, joblib, numpy as np, lightgbm as lgb
out = sys.argv[1]
rng = np.random.RandomState(0)
X = rng.rand(120, 4); y = (X[:, 0] + X[:, 1] > 1).astype(int)
np.save(out + "/X.npy", X)
models = {
  "clf": lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y),
  "reg": lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, X[:, 0] * 3),
  "booster": lgb.train({"verbose": -1, "objective": "binary"}, lgb.Dataset(X, y), 4),
}
for k, m in models.items():
    b = m if isinstance(m, lgb.Booster) else m.booster_
    np.save("%s/%s.pred.npy" % (out, k), b.predict(X))
    for p in (2, 4, 5):
        open("%s/%s_p%d.pkl" % (out, k, p), "wb").write(pickle.dumps(m, protocol=p))
    joblib.dump(m, "%s/%s.joblib" % (out, k))
print(lgb.__version__)
"""

CHECK_LGB = r"""
import json, sys, numpy as np, lightgbm as lgb
d = sys.argv[1]
X = np.load(d + "/X.npy")
for model, name in json.loads(sys.argv[2]):
    got = lgb.Booster(model_file=model).predict(X)
    want = np.load("%s/%s.pred.npy" % (d, name))
    print("equal" if np.array_equal(got, want) else "differ %r" % np.abs(got - want).max())
"""


def py(interp, code, *args):
    r = subprocess.run([interp, "-c", code, *args], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode().strip()


def convert_all(tmp_path, interp, check, exts, allow):
    todo = []
    for f in sorted(os.listdir(tmp_path)):
        if not (f.endswith(".pkl") or f.endswith(".joblib")):
            continue
        name = f.split("_p")[0].split(".")[0]
        for ext in exts:
            out = tmp_path / ("%s-%s.%s" % (f.replace(".", "-"), ext, ext))
            r = bt.run_brine("convert", *sum((["--allow", a] for a in allow), []), str(tmp_path / f),
                             str(out))
            assert r.returncode == 0, (f, r.stderr.decode())
            todo.append(((f, ext), str(out), name))
            cfg = json.loads((tmp_path / (out.name[:-len(ext) - 1] + ".config.json")).read_text())
            assert cfg["format"] in ("xgboost", "lightgbm")
            if name != "booster":
                assert "n_estimators" in cfg["attributes"], cfg
                assert "_Booster" not in cfg["attributes"]
                assert cfg["class"].split(".")[-1].startswith(("XGB", "LGBM")), cfg["class"]
    out = py(interp, check, str(tmp_path), json.dumps([[o, n] for _k, o, n in todo])).splitlines()
    assert len(out) == len(todo)
    return {k: v for (k, _o, _n), v in zip(todo, out)}


@needs_brine
@pytest.mark.parametrize("release", sorted(XGB_ENVS))
def test_xgboost_native_files_predict_identically(release, tmp_path):
    interp = XGB_ENVS[release]
    if not os.path.exists(interp):
        pytest.skip("no venv with xgboost " + release)
    assert py(interp, WRITE_XGB, str(tmp_path)).startswith(release)
    results = convert_all(tmp_path, interp, CHECK_XGB, ("json", "ubj"), ["xgboost", "sklearn"])
    assert len(results) == 4 * 4 * 2
    wrong = {k: v for k, v in results.items() if v != "equal"}
    assert not wrong, wrong


@needs_brine
@pytest.mark.parametrize("release", sorted(LGB_ENVS))
def test_lightgbm_native_files_predict_identically(release, tmp_path):
    interp = LGB_ENVS[release]
    if not os.path.exists(interp):
        pytest.skip("no venv with lightgbm " + release)
    assert py(interp, WRITE_LGB, str(tmp_path)).startswith(release)
    results = convert_all(tmp_path, interp, CHECK_LGB, ("txt",), ["lightgbm", "sklearn"])
    assert len(results) == 3 * 4
    wrong = {k: v for k, v in results.items() if v != "equal"}
    assert not wrong, wrong


@needs_brine
def test_no_booster_is_refused_and_nothing_written(tmp_path):
    # a plain dict of arrays: a safe pickle, but no XGBoost or LightGBM model
    (tmp_path / "d.pkl").write_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.")
    for ext in ("json", "ubj", "txt"):
        r = bt.run_brine("convert", str(tmp_path / "d.pkl"), str(tmp_path / ("o." + ext)))
        assert r.returncode == 1, r.stderr
        assert b"no XGBoost Booster" in r.stderr or b"no LightGBM Booster" in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["d.pkl"]


@needs_brine
def test_corrupt_snapshot_is_refused(tmp_path):
    """A Booster whose handle is not a whole UBJSON snapshot: refused, never a partial file."""
    for i, handle in enumerate([b"{L\x00\x00\x00\x00\x00\x00\x00\x05Model{", b"not ubjson",
                                b"{L\x7f\xff\xff\xff\xff\xff\xff\xffModel"]):
        body = (b"\x80\x02cxgboost.core\nBooster\nq\x00)\x81}X\x06\x00\x00\x00handle" +
                b"C" + bytes([len(handle)]) + handle + b"sb.")
        (tmp_path / ("b%d.pkl" % i)).write_bytes(body)
        r = bt.run_brine("convert", "--allow", "xgboost", str(tmp_path / ("b%d.pkl" % i)),
                         str(tmp_path / ("o%d.ubj" % i)))
        assert r.returncode == 1, (i, r.returncode, r.stderr)
        assert not (tmp_path / ("o%d.ubj" % i)).exists()


MUTATE_SOURCE = r"""
import pickle, sys, numpy as np, xgboost as xgb
rng = np.random.RandomState(1)
X = rng.rand(40, 3); y = (X[:, 0] > .5).astype(int)
b = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 2)
open(sys.argv[1], "wb").write(pickle.dumps(b, protocol=4))
"""


@needs_brine
def test_mutated_snapshots_are_refused_or_valid(tmp_path):
    """Random byte changes inside a real Booster's UBJSON snapshot: brine either refuses the
    file (exit 1) or writes a .ubj and a .json that is well-formed JSON — never a crash (the
    ASan build runs this too) and never a partial file."""
    import random
    interp = XGB_ENVS["3.2"]
    if not os.path.exists(interp):
        pytest.skip("no venv with xgboost 3.2")
    src = tmp_path / "b.pkl"
    py(interp, MUTATE_SOURCE, str(src))
    data = src.read_bytes()
    start = data.find(b"{L\x00\x00\x00\x00\x00\x00\x00\x06Config")
    assert start > 0
    end = data.rfind(b"}") + 1
    rnd = random.Random(13)
    counts = {0: 0, 1: 0}
    for i in range(120):
        m = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            m[rnd.randrange(start, end)] = rnd.randrange(256)
        f = tmp_path / ("m%03d.pkl" % i)
        f.write_bytes(bytes(m))
        for ext in ("json", "ubj"):
            out = tmp_path / ("m%03d-%s.%s" % (i, ext, ext))
            r = bt.run_brine("convert", "--allow", "xgboost", str(f), str(out))
            assert r.returncode in (0, 1), (i, r.returncode, r.stderr)
            counts[r.returncode] += 1
            assert out.exists() == (r.returncode == 0)
            if r.returncode == 0 and ext == "json":
                json.loads(out.read_text())
    assert counts[0] and counts[1], counts
