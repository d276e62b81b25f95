#!/usr/bin/env python3
"""make_corpus_ml.py — seeds for fuzz_gguf, fuzz_onnx and fuzz_savedmodel: the fixtures
tests/gen/gen_gguf.py, gen_onnx.py and gen_savedmodel.py write with the real gguf, onnx and
protobuf packages (benign, hostile and corrupted), each file under 64 KiB, copied to
fuzz/corpus/{gguf,onnx,savedmodel}/. Run with the venv python:

    /var/cache/brine/venv/bin/python fuzz/make_corpus_ml.py
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE.parent / "tests" / "gen"
MAX_FILE = 64 * 1024

for kind, gen in (("gguf", "gen_gguf.py"), ("onnx", "gen_onnx.py"),
                  ("savedmodel", "gen_savedmodel.py")):
    out = HERE / "corpus" / kind
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, str(GEN / gen), d], check=True, capture_output=True)
        for f in json.loads((Path(d) / "manifest.json").read_text())["files"]:
            p = Path(d) / f["file"]
            if p.is_file() and p.stat().st_size <= MAX_FILE:
                shutil.copyfile(p, out / f["file"].replace("/", "__"))

# fuzz_native and fuzz_skops_convert (brine convert to .json/.ubj/.txt and to .skops): benign
# models pickled by the real libraries — XGBoost and LightGBM boosters and sklearn wrappers
# (corpus/native/, with the raw UBJSON snapshots of the XGBoost boosters, which fuzz_native
# also wraps in a pickle itself), and small scikit-learn estimators, pipelines and
# transformers (corpus/sklearn/). Only ever dumped, never loaded.
import pickle  # noqa: E402

import numpy as np  # noqa: E402


def _native_and_sklearn_seeds():
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline, FeatureUnion
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.impute import SimpleImputer
    from sklearn.cluster import KMeans
    from sklearn.svm import SVC

    rng = np.random.RandomState(0)
    X = rng.rand(30, 3)
    y = (X[:, 0] > .5).astype(int)
    native, sk = {}, {}
    b = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 2)
    native["xgb_booster_p4.pkl"] = pickle.dumps(b, protocol=4)
    native["xgb_booster_p2.pkl"] = pickle.dumps(b, protocol=2)
    native["xgb_snapshot.ubj"] = bytes(b.__getstate__()["handle"])
    native["xgb_model.ubj"] = bytes(b.save_raw("ubj"))
    c = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    native["xgb_classifier_p5.pkl"] = pickle.dumps(c, protocol=5)
    lb = lgb.train({"num_leaves": 3, "verbose": -1, "min_data_in_leaf": 2},
                   lgb.Dataset(X, y), 2)
    native["lgb_booster_p4.pkl"] = pickle.dumps(lb, protocol=4)
    lr = lgb.LGBMRegressor(n_estimators=2, num_leaves=3, min_child_samples=2,
                           verbose=-1).fit(X, X[:, 1])
    native["lgb_regressor_p5.pkl"] = pickle.dumps(lr, protocol=5)

    sk["logreg_p4.pkl"] = pickle.dumps(LogisticRegression().fit(X, y), protocol=4)
    sk["linreg_p2.pkl"] = pickle.dumps(LinearRegression().fit(X, X[:, 2]), protocol=2)
    sk["gnb_p5.pkl"] = pickle.dumps(GaussianNB().fit(X, y), protocol=5)
    sk["svc_p4.pkl"] = pickle.dumps(SVC().fit(X, y), protocol=4)
    sk["kmeans_p4.pkl"] = pickle.dumps(KMeans(2, n_init=1, random_state=0).fit(X), protocol=4)
    sk["forest_p4.pkl"] = pickle.dumps(
        RandomForestClassifier(2, max_depth=2, random_state=0).fit(X, y), protocol=4)
    sk["pipeline_p4.pkl"] = pickle.dumps(
        Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler()),
                  ("lr", LogisticRegression())]).fit(X, y), protocol=4)
    Xc = np.c_[X, rng.randint(0, 3, size=(30, 1))]
    sk["columns_p4.pkl"] = pickle.dumps(
        ColumnTransformer([("num", StandardScaler(), [0, 1]),
                           ("cat", OneHotEncoder(), [3])]).fit(Xc), protocol=4)
    sk["union_p5.pkl"] = pickle.dumps(
        FeatureUnion([("a", StandardScaler()), ("b", SimpleImputer())]).fit(X), protocol=5)
    return native, sk


for kind, files in zip(("native", "sklearn"), _native_and_sklearn_seeds()):
    out = HERE / "corpus" / kind
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name, data in sorted(files.items()):
        if len(data) <= MAX_FILE:
            (out / name).write_bytes(data)
