"""`brine convert model.pkl model.skops` (issue 13 item 2): a pickled scikit-learn estimator
written as a skops archive from the pickle's graph, nothing unpickled by brine.

Each scikit-learn release available (the project venv's 1.9.1, Debian's 1.2 and the release
venvs 1.1, 1.3, 1.5) fits a matrix of estimators on small data — linear models, SVC, trees,
forests, extra trees, gradient boosting, HistGradientBoosting, k-NN on a KD and a ball tree,
k-means, naive Bayes, PCA, scalers, encoders, imputers, Pipeline, ColumnTransformer,
FeatureUnion — pickles them (protocols 2 and 5, and joblib), saves the original's predictions
and skops.io.dump's archive of the same live estimator (benign fixtures made here). brine
converts each; the writing release loads brine's archive with
skops.io.load(f, trusted=skops.io.get_untrusted_types(file=f)) — never the pickle — and
predicts. Every estimator must either convert, predict exactly the same (np.array_equal) and
have skops.io.dump's schema (node kinds, classes, modules, JSON values, every .npy member's
descr, shape, order and bytes), or be refused with exit 1 and a message naming what skops
cannot represent. The estimators expected to convert are listed: a regression there fails the
test. The matrix is printed.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q -s tests/python/test_skops_convert.py
"""

import json
import os
import subprocess

import pytest

import brinetest as bt

CACHE = "/var/cache/brine"
VENV = CACHE + "/venv/bin/python"
# scikit-learn 1.9.1 (project venv, skops 0.16 installed) and the release venvs of
# requirements-sklearn-*.txt, which have no skops: skops 0.16 (pure Python) is imported there
# from the project venv's site-packages, so each release loads what its own pickles hold
RELEASES = {"1.9.1": VENV, "1.1": CACHE + "/sk-1.1/bin/python", "1.2": "/usr/bin/python3",
            "1.3": CACHE + "/sk-1.3/bin/python", "1.5": CACHE + "/sk-1.5/bin/python"}
needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")

WRITE = r"""
import json, pickle, sys, joblib, numpy as np
from sklearn.linear_model import LogisticRegression, LinearRegression, Ridge
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.ensemble import (RandomForestClassifier, GradientBoostingClassifier,
                              HistGradientBoostingClassifier, RandomForestRegressor,
                              ExtraTreesClassifier, ExtraTreesRegressor,
                              GradientBoostingRegressor)
try:
    from sklearn.ensemble import HistGradientBoostingRegressor
except ImportError:  # 1.1 and older: still experimental
    from sklearn.experimental import enable_hist_gradient_boosting
    from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler, OneHotEncoder, MinMaxScaler
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, FeatureUnion
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
out = sys.argv[1]
rng = np.random.RandomState(0)
X = rng.randn(60, 4); y = (X[:, 0] + X[:, 1] > 0).astype(int); yr = X @ [1.0, 2.0, -1.0, 0.5]
Xc = rng.randint(0, 3, (60, 2)).astype(float)
Xn = X.copy(); Xn[::7, 1] = np.nan
np.save(out + "/X.npy", X); np.save(out + "/Xc.npy", Xc); np.save(out + "/Xn.npy", Xn)
try:
    ohe = OneHotEncoder(sparse_output=False)
except TypeError:  # before 1.2
    ohe = OneHotEncoder(sparse=False)
models = {
  "LogisticRegression": (LogisticRegression().fit(X, y), "X", "predict_proba"),
  "LinearRegression": (LinearRegression().fit(X, yr), "X", "predict"),
  "Ridge": (Ridge(alpha=0.5).fit(X, yr), "X", "predict"),
  "SVC": (SVC().fit(X, y), "X", "decision_function"),
  "DecisionTree": (DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), "X", "predict_proba"),
  "RandomForest": (RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y), "X", "predict_proba"),
  "GradientBoosting": (GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y), "X", "predict_proba"),
  "HistGradientBoosting": (HistGradientBoostingClassifier(max_iter=3).fit(X, y), "X", "predict_proba"),
  "KMeans": (KMeans(n_clusters=2, n_init=2, random_state=0).fit(X), "X", "predict"),
  "KNeighbors": (KNeighborsClassifier(n_neighbors=3).fit(X, y), "X", "predict_proba"),
  "DecisionTreeRegressor": (DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, yr), "X", "predict"),
  "RandomForestRegressor": (RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, yr), "X", "predict"),
  "ExtraTrees": (ExtraTreesClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y), "X", "predict_proba"),
  "ExtraTreesRegressor": (ExtraTreesRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, yr), "X", "predict"),
  "GradientBoostingRegressor": (GradientBoostingRegressor(n_estimators=3, random_state=0).fit(X, yr), "X", "predict"),
  "HistGradientBoostingRegressor": (HistGradientBoostingRegressor(max_iter=3).fit(X, yr), "X", "predict"),
  "KNeighborsRegressor": (KNeighborsRegressor(n_neighbors=3).fit(X, yr), "X", "predict"),
  "KNeighborsBallTree": (KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree").fit(X, y), "X", "predict_proba"),
  "GaussianNB": (GaussianNB().fit(X, y), "X", "predict_proba"),
  "StandardScaler": (StandardScaler().fit(X), "X", "transform"),
  "PCA": (PCA(n_components=2).fit(X), "X", "transform"),
  "OneHotEncoder": (ohe.fit(Xc), "Xc", "transform"),
  "SimpleImputer": (SimpleImputer().fit(Xn), "Xn", "transform"),
  "Pipeline": (Pipeline([("s", StandardScaler()), ("l", LogisticRegression())]).fit(X, y), "X", "predict_proba"),
  "ColumnTransformer": (ColumnTransformer([("s", StandardScaler(), [0, 1]), ("m", MinMaxScaler(), [2, 3])]).fit(X), "X", "transform"),
  "FeatureUnion": (FeatureUnion([("s", StandardScaler()), ("m", MinMaxScaler())]).fit(X), "X", "transform"),
}
try:  # skops' own archive of the same live estimator, to compare brine's schema with
    import skops.io as sio
except ImportError:
    sio = None
meta = {}
for k, (m, data, method) in models.items():
    np.save("%s/%s.want.npy" % (out, k), getattr(m, method)(np.load("%s/%s.npy" % (out, data))))
    try:
        sio.dump(m, "%s/%s.ref.skops" % (out, k))
    except Exception as e:
        open("%s/%s.ref.error" % (out, k), "w").write("%s: %s" % (type(e).__name__, e))
    for p in (2, 5):
        open("%s/%s_p%d.pkl" % (out, k, p), "wb").write(pickle.dumps(m, protocol=p))
    joblib.dump(m, "%s/%s.joblib" % (out, k))
    meta[k] = [data, method]
print(json.dumps(meta))
"""

CHECK = r"""
import io, json, os, sys, zipfile, numpy as np, skops.io as sio
from numpy.lib import format as npf
d = sys.argv[1]


def npy(z, name):
    f = io.BytesIO(z.read(name))
    version = npf.read_magic(f)
    read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
    shape, fortran, dtype = read(f)
    return npf.dtype_to_descr(dtype), shape, fortran, f.read()


def same_schema(a, b, za, zb, where):
    # brine's schema against skops.io.dump's for the same estimator: node kinds, classes,
    # modules, JSON values and every .npy member's descr, shape, order and bytes. skops writes
    # an object met twice as a CachedNode; brine writes it again in full.
    if isinstance(b, dict) and b.get("__loader__") == "CachedNode":
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        ka, kb = set(a) - {"__id__"}, set(b) - {"__id__"}
        if ka != kb:
            return "%s: keys %s vs skops %s" % (where, sorted(ka ^ kb), sorted(kb))
        if a.get("__loader__") == "JsonNode":
            return None if json.loads(a["content"]) == json.loads(b["content"]) or (
                a["content"] == b["content"]) else "%s: %s vs skops %s" % (
                    where, a["content"], b["content"])
        if a.get("__loader__") == "NdArrayNode" and a.get("type") == "numpy":
            x, y = npy(za, a["file"]), npy(zb, b["file"])
            return None if x == y else "%s: array %s vs skops %s" % (where, x[:3], y[:3])
        for k in sorted(ka):
            if k in ("file",):
                continue
            r = same_schema(a[k], b[k], za, zb, where + "." + k)
            if r:
                return r
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d items vs skops %d" % (where, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            r = same_schema(x, y, za, zb, "%s.%d" % (where, i))
            if r:
                return r
        return None
    return None if a == b else "%s: %r vs skops %r" % (where, a, b)


res = {}
for path, name, data, method in json.loads(sys.argv[2]):
    try:
        untrusted = sio.get_untrusted_types(file=path)
        m = sio.load(path, trusted=untrusted)
        got = getattr(m, method)(np.load("%s/%s.npy" % (d, data)))
        want = np.load("%s/%s.want.npy" % (d, name))
        verdict = "equal" if np.array_equal(got, want) else "differ"
    except Exception as e:
        res[path] = ["load failed: %s: %s" % (type(e).__name__, e), [], "not compared"]
        continue
    ref = "%s/%s.ref.skops" % (d, name)
    if os.path.exists(ref):
        za, zb = zipfile.ZipFile(path), zipfile.ZipFile(ref)
        diff = same_schema(json.loads(za.read("schema.json")), json.loads(zb.read("schema.json")),
                           za, zb, "")
        schema = "schema differs from skops.io.dump: " + diff if diff else "schema = skops.io.dump"
    else:
        schema = "no skops.io.dump reference (%s)" % open(ref[:-6] + ".error").read()[:120]
    res[path] = [verdict, untrusted, schema]
print(json.dumps(res))
"""

# what brine converts today from protocol-5 pickles and joblib files (a regression here fails
# the test); everything else must convert exactly or be refused with the message
CONVERTS = {"LogisticRegression", "LinearRegression", "Ridge", "SVC", "GaussianNB",
            "StandardScaler", "PCA", "SimpleImputer", "Pipeline", "ColumnTransformer",
            "FeatureUnion", "KMeans", "OneHotEncoder",
            # structured arrays (tree nodes, predictor records, KDTree node data), object
            # arrays, RandomState/Generator, Cython losses, newObj-built binary trees
            "DecisionTree", "DecisionTreeRegressor", "RandomForest", "RandomForestRegressor",
            "ExtraTrees", "ExtraTreesRegressor", "GradientBoosting", "GradientBoostingRegressor",
            "HistGradientBoosting", "HistGradientBoostingRegressor", "KNeighbors",
            "KNeighborsRegressor", "KNeighborsBallTree"}
# must convert from protocol 2 too (the rest may be refused there with the message)
CONVERTS_P2 = CONVERTS


def skops_env(tmp_path, python):
    """Environment for python with skops importable (the project venv's copy)."""
    import glob

    env = dict(os.environ)
    if python != VENV:
        site = glob.glob(CACHE + "/venv/lib/python3*/site-packages/skops")
        if not site:
            pytest.skip("no skops in the project venv")
        path = tmp_path / "skpath"
        path.mkdir()
        (path / "skops").symlink_to(site[0])
        env["PYTHONPATH"] = str(path)
    return env


@needs_brine
@pytest.mark.parametrize("release", sorted(RELEASES))
def test_skops_matrix(tmp_path, release):
    python = RELEASES[release]
    if not os.path.exists(python):
        pytest.skip("no venv for scikit-learn " + release)
    d = str(tmp_path)
    env = skops_env(tmp_path, python)
    meta = json.loads(subprocess.run([python, "-c", WRITE, d], check=True, capture_output=True,
                                     text=True, env=env).stdout.strip().splitlines()[-1])
    rows, to_check = [], []
    for name, (data, method) in meta.items():
        for src in ("%s_p2.pkl" % name, "%s_p5.pkl" % name, "%s.joblib" % name):
            out = "%s/%s.skops" % (d, src.replace(".", "_"))
            r = subprocess.run([bt.brine_path(), "convert", "--allow", "sklearn",
                                "%s/%s" % (d, src), out], capture_output=True, text=True)
            rows.append([name, src, r.returncode, r.stderr.strip(), out])
            if r.returncode == 0:
                to_check.append([out, name, data, method])
    checked = json.loads(subprocess.run([python, "-c", CHECK, d, json.dumps(to_check)],
                                        check=True, capture_output=True, text=True,
                                        env=env).stdout.strip().splitlines()[-1])
    failures = []
    print("\nscikit-learn %s\n%-29s %-33s result" % (release, "estimator", "input"))
    for name, src, rc, msg, out in rows:
        if rc == 0:
            verdict, untrusted, schema = checked[out]
            line = "converted, loads, predictions %s; %s (untrusted types: %s)" % (
                verdict, schema, untrusted or "none")
            if verdict != "equal":
                failures.append((name, src, verdict))
            if schema.startswith("schema differs"):
                failures.append((name, src, schema))
        else:
            line = "refused (exit %d): %s" % (rc, msg)
            # refusals are exit 1 with a message naming what skops cannot represent
            if rc != 1 or "no exact skops representation" not in msg:
                failures.append((name, src, line))
            if name in (CONVERTS_P2 if src.endswith("_p2.pkl") else CONVERTS):
                failures.append((name, src, "expected to convert: " + line))
        print("%-29s %-33s %s" % (name, src, line))
    assert not failures, failures
    assert any(rc == 0 for _, _, rc, _, _ in rows)


@needs_brine
def test_refuses_call_with_arguments(tmp_path):
    """An estimator class called with arguments (REDUCE, not NEWOBJ + BUILD) is not what skops'
    ObjectNode rebuilds (cls.__new__ then __setstate__): refused, naming the class."""
    p = b"\x80\x02csklearn.preprocessing._data\nStandardScaler\nq\x00K\x01\x85q\x01Rq\x02."
    src = tmp_path / "r.pkl"
    src.write_bytes(p)
    out = tmp_path / "r.skops"
    r = subprocess.run([bt.brine_path(), "convert", "--allow", "sklearn", str(src), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 1, r
    assert "sklearn.preprocessing._data.StandardScaler" in r.stderr, r.stderr
    assert "no exact skops representation" in r.stderr, r.stderr
    assert not out.exists()


@needs_brine
def test_refuses_function_and_writes_nothing(tmp_path):
    """A global that is not a class (a function passed as a value) is refused, naming it,
    and no output appears."""
    # hand-made protocol-2 pickle: sklearn.preprocessing._data.StandardScaler with a function
    # object as an attribute (builtins.len), built without importing sklearn
    p = (b"\x80\x02csklearn.preprocessing._data\nStandardScaler\nq\x00)\x81q\x01}q\x02"
         b"X\x01\x00\x00\x00fq\x03cbuiltins\nlen\nq\x04sb.")
    src = tmp_path / "f.pkl"
    src.write_bytes(p)
    out = tmp_path / "f.skops"
    r = subprocess.run([bt.brine_path(), "convert", "--allow", "sklearn", "--allow",
                        "builtins.len", str(src), str(out)], capture_output=True, text=True)
    assert r.returncode == 1, r
    assert "builtins.len" in r.stderr and "no exact skops representation" in r.stderr, r.stderr
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir()] == ["f.pkl"]
