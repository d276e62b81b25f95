"""`brine inspect --compat --target sklearn==R` on INDEPENDENT fixtures (issue 13 item 4).

compat.c's layout rules (src/policy/compat.c layout_changes) were written from the
cross-release runs of test_sklearn_compat.py (a pipeline with LogisticRegression, a random
forest, HistGradientBoostingClassifier, GradientBoostingClassifier, KNeighborsClassifier,
GaussianNB). This test uses none of those estimators: each scikit-learn release (1.1, 1.2 from
Debian, 1.3, 1.5, 1.9) fits the estimators below on its own, pickles them (benign) with its
outputs, and every release then really loads each file (pickle.load of files this test just
wrote, never of anything else) and compares its outputs. brine's prediction is compared with
what happened; the table (writer x reader x estimator) is printed and written to
$BRINE_COMPAT_TABLE_INDEPENDENT when set.

Asserted: every release reads its own files and brine says so; brine's false alarms (it says
the file breaks in R, yet R loads it and gives the same outputs) and misses (it says the file
loads, yet R fails or gives different outputs) are counted and printed, and must stay at or
below the numbers measured when this test was written (MAX_FALSE_ALARMS, MAX_MISSES), so a
change that makes the prediction worse fails here.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q -s tests/python/test_compat_independent.py
"""

import json
import os
import subprocess

import pytest

import brinetest as bt

CACHE = "/var/cache/brine"
ENVS = {"1.1": CACHE + "/sk-1.1/bin/python", "1.2": "/usr/bin/python3",
        "1.3": CACHE + "/sk-1.3/bin/python", "1.5": CACHE + "/sk-1.5/bin/python",
        "1.9": CACHE + "/venv/bin/python"}
needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")
MAX_FALSE_ALARMS = 1  # measured 2026-12-05 after the rules below; before them: 3
MAX_MISSES = 0  # before the rules added from the first run: 14

WRITE = r"""
import pickle, sys, warnings; warnings.simplefilter("ignore")
import numpy as np, sklearn
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, MinMaxScaler
from sklearn.ensemble import (ExtraTreesClassifier, AdaBoostClassifier, BaggingRegressor,
                              IsolationForest, HistGradientBoostingRegressor)
from sklearn.tree import DecisionTreeRegressor
from sklearn.svm import SVC, LinearSVC
from sklearn.linear_model import Ridge, SGDClassifier, LogisticRegression
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.neighbors import KNeighborsRegressor
out = sys.argv[1]
rng = np.random.RandomState(1)
X = rng.rand(80, 4); X[:, 3] = rng.randint(0, 3, 80)
y = (X[:, 0] + X[:, 1] > 1).astype(int); y3 = rng.randint(0, 3, 80); r = X[:, 0] * 2 + X[:, 2]
np.save(out + "/X.npy", X)
models = {
    "extratrees": (ExtraTreesClassifier(n_estimators=3, random_state=0), y),
    "adaboost": (AdaBoostClassifier(n_estimators=3, random_state=0), y),
    "bagging_reg": (BaggingRegressor(n_estimators=3, random_state=0), r),
    "isoforest": (IsolationForest(n_estimators=3, random_state=0), None),
    "hgb_reg": (HistGradientBoostingRegressor(max_iter=3), r),
    "dtree_reg": (DecisionTreeRegressor(max_depth=3, random_state=0), r),
    "svc": (SVC(random_state=0), y),
    "linearsvc": (LinearSVC(random_state=0), y),
    "ridge": (Ridge(), r),
    "sgd": (SGDClassifier(random_state=0), y),
    "logreg3": (LogisticRegression(), y3),
    "kmeans": (KMeans(n_clusters=2, n_init=2, random_state=0), None),
    "pca": (PCA(n_components=2), None),
    "mlp": (MLPClassifier(hidden_layer_sizes=(3,), max_iter=20, random_state=0), y),
    "knn_reg": (KNeighborsRegressor(n_neighbors=3), r),
    "columns": (ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), [3]),
                                   ("mm", MinMaxScaler(), [0, 1])], sparse_threshold=0), None),
}
def method(m):
    for f in ("predict_proba", "decision_function", "predict", "transform"):
        if hasattr(m, f):
            return f
v = sklearn.__version__
for k, (m, t) in models.items():
    m.fit(X, t) if t is not None else m.fit(X)
    open("%s/%s_%s.pkl" % (out, v, k), "wb").write(pickle.dumps(m, protocol=4))
    f = method(m)  # the reader calls the same method
    open("%s/%s_%s.method" % (out, v, k), "w").write(f)
    np.save("%s/%s_%s.out.npy" % (out, v, k), np.asarray(getattr(m, f)(X), dtype=float))
print(v)
"""

# Loads only the fixtures WRITE produced in this test's own directory.
READ = r"""
import glob, json, os, pickle, sys, warnings; warnings.simplefilter("ignore")
import numpy as np, sklearn
d = sys.argv[1]
X = np.load(d + "/X.npy")
res = {}
for f in sorted(glob.glob(d + "/*.pkl")):
    name = os.path.basename(f)[:-4]
    try:
        with open(f, "rb") as fh:
            m = pickle.load(fh)
    except Exception as e:
        res[name] = "load fails: %s: %s" % (type(e).__name__, str(e)[:60]); continue
    try:
        f = open(d + "/" + name + ".method").read()
        p = np.asarray(getattr(m, f)(X), dtype=float)
        q = np.load(d + "/" + name + ".out.npy")
        res[name] = "same" if p.shape == q.shape and np.allclose(p, q) else "different"
    except Exception as e:
        res[name] = "predict fails: %s: %s" % (type(e).__name__, str(e)[:60])
print(json.dumps({"reader": sklearn.__version__, "results": res}))
"""


def run(py, code, *args):
    r = subprocess.run([py, "-c", code, *args], capture_output=True, timeout=900)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode().strip()


@needs_brine
def test_independent_compat_prediction_table(tmp_path):
    envs = {r: p for r, p in ENVS.items() if os.path.exists(p)}
    if len(envs) < 3:
        pytest.skip("fewer than three scikit-learn venvs")
    writers = {}
    for rel, py in envs.items():
        d = tmp_path / rel
        d.mkdir()
        writers[rel] = run(py, WRITE, str(d))
        assert writers[rel].startswith(rel)
    rows, false_alarms, misses = [], [], []
    for rel_r, py in envs.items():
        for rel_w in envs:
            d = tmp_path / rel_w
            real = json.loads(run(py, READ, str(d)))["results"]
            for name, what in sorted(real.items()):
                r = bt.run_brine("inspect", "--allow", "sklearn", "--compat", "--target",
                                 "sklearn==" + rel_r, str(d / (name + ".pkl")))
                assert r.returncode in (0, 1), r.stderr
                doc = json.loads(r.stdout)
                said = doc["check"]["loads"]
                works = what == "same"
                why = "; ".join(p.get("global", p["status"]) + " " + p["status"]
                                for p in doc["check"]["problems"])
                rows.append((rel_w, rel_r, name.split("_", 1)[1],
                             "loads" if said else "fails (" + why[:70] + ")", what))
                if not said and works:
                    false_alarms.append(rows[-1])
                if said and not works:
                    misses.append(rows[-1])
    table = ["| writer | reader | model | brine predicts | real load + outputs |",
             "|---|---|---|---|---|"]
    table += ["| %s | %s | %s | %s | %s |" % r for r in rows]
    text = "\n".join(table) + "\n\n%d cells, %d false alarms, %d misses\n" % (
        len(rows), len(false_alarms), len(misses))
    text += "".join("false alarm: %s\n" % (r,) for r in false_alarms)
    text += "".join("miss: %s\n" % (r,) for r in misses)
    print("\n" + text)
    if os.environ.get("BRINE_COMPAT_TABLE_INDEPENDENT"):
        with open(os.environ["BRINE_COMPAT_TABLE_INDEPENDENT"], "w") as f:
            f.write(text)
    assert len(rows) == len(envs) ** 2 * 16
    own = [r for r in rows if r[0] == r[1]]
    assert all(r[3] == "loads" and r[4] == "same" for r in own), own
    if MAX_FALSE_ALARMS is not None:
        assert len(false_alarms) <= MAX_FALSE_ALARMS, false_alarms
    if MAX_MISSES is not None:
        assert len(misses) <= MAX_MISSES, misses
