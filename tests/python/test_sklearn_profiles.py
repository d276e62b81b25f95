"""Profiles are generated tables (issue 13 item 1): `--allow sklearn` (xgboost, lightgbm, numpy,
torch) admits exactly the classes and reconstruction functions tools/gen_profiles.py found in
pickles of the real libraries, one table per release (src/policy/profiles/*.def).

- every estimator class of each release (sklearn.utils.all_estimators, run in that release's
  venv) is in its table, and brine scans a pickle naming it `safe` under --allow sklearn;
- pickles of fitted estimators written by each release scan `safe` under --allow sklearn;
- no entry is a callable the gadget walk (tests/data/gadgets.txt) found reaching code,
  processes, file writes or loaders, and every FUNC entry is a function of a reviewed kind
  (importing it in the release's venv: never a class disguised, never a plain code runner);
- sklearn.utils._testing.assert_run_python_script and torch.utils.cpp_extension.load_inline
  (imported, or called) are unsafe or unverified under every profile.

Nothing here unpickles anything: fixtures are written by the venvs and only scanned.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_sklearn_profiles.py
"""

import json
import os
import re
import subprocess

import pytest

import brinetest as bt

PROFILE_DIR = bt.REPO / "src" / "policy" / "profiles"
CACHE = os.path.dirname(os.environ.get("BRINE_VENV_PYTHON") or "/var/cache/brine/venv/bin/python")
CACHE = os.path.dirname(os.path.dirname(CACHE))
# release table → interpreter that has that release
SKLEARN_ENVS = {
    "1.1": os.path.join(CACHE, "sk-1.1", "bin", "python"),
    "1.2": "/usr/bin/python3",
    "1.3": os.path.join(CACHE, "sk-1.3", "bin", "python"),
    "1.5": os.path.join(CACHE, "sk-1.5", "bin", "python"),
    "1.9": os.path.join(CACHE, "venv", "bin", "python"),
}
PROFILES = [None, "numpy", "sklearn", "xgboost", "lightgbm", "torch", "builtins"]
ENTRY = re.compile(r'^(CLASS|FUNC|ESTIMATOR)\("([^"]+)"', re.M)
needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


def table(name):
    entries = {}
    for kind, full in ENTRY.findall((PROFILE_DIR / name).read_text()):
        entries.setdefault(full, set()).add(kind)
    return entries


def all_tables():
    return sorted(p.name for p in PROFILE_DIR.glob("*.def"))


def glob_pickle(full):
    module, name = full.rsplit(".", 1)
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n."


def scan_dir(d, *allow):
    args = ["scan", "-r", "--format", "jsonl"] + [a for p in allow for a in ("--allow", p)]
    r = bt.run_brine(*args, str(d), timeout=600)
    return {os.path.basename(json.loads(l)["path"]): json.loads(l)
            for l in r.stdout.decode().splitlines()}


def run_env(py, code, *args):
    r = subprocess.run([py, "-c", code, *args], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode()


LIST_ESTIMATORS = r"""
import warnings; warnings.simplefilter("ignore")
import sklearn
from sklearn.utils import all_estimators
print(sklearn.__version__)
for _n, c in all_estimators():
    print(c.__module__ + "." + c.__qualname__)
"""


@pytest.mark.parametrize("release", sorted(SKLEARN_ENVS))
def test_every_estimator_of_the_release_is_in_its_table(release):
    py = SKLEARN_ENVS[release]
    if not os.path.exists(py):
        pytest.skip("no venv for scikit-learn " + release)
    out = run_env(py, LIST_ESTIMATORS).split()
    assert out[0].startswith(release + "."), (release, out[0])
    names = out[1:]
    assert len(names) > 150, names
    t = table("sklearn-%s.def" % release)
    missing = [n for n in names if "CLASS" not in t.get(n, ())]
    assert not missing, missing


@needs_brine
def test_estimator_classes_scan_safe_under_the_sklearn_profile(tmp_path):
    names = set()
    for release in SKLEARN_ENVS:
        names |= {n for n, k in table("sklearn-%s.def" % release).items() if "ESTIMATOR" in k}
    index = {}
    for i, n in enumerate(sorted(names)):
        (tmp_path / ("e%04d.pkl" % i)).write_bytes(glob_pickle(n))
        index["e%04d.pkl" % i] = n
    docs = scan_dir(tmp_path, "sklearn")
    wrong = [(index[f], d["verdict"]) for f, d in docs.items() if d["verdict"] != "safe"]
    assert len(docs) == len(index) and not wrong, wrong[:20]
    # and not under the default policy: the profile is what admits them
    docs = scan_dir(tmp_path)
    assert all(d["verdict"] == "unverified" for d in docs.values())


FIT_AND_PICKLE = r"""
import pickle, sys, warnings; warnings.simplefilter("ignore")
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler, OneHotEncoder
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier, GradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.cluster import KMeans
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.impute import SimpleImputer
rng = np.random.RandomState(0)
X = rng.rand(60, 4); y = (X[:, 0] > .5).astype(int)
models = {
  "pipe": make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()),
  "ct": make_pipeline(ColumnTransformer([("s", StandardScaler(), [0, 1]),
                                         ("o", OneHotEncoder(handle_unknown="ignore"), [2])]),
                      SVC()),
  "rf": RandomForestClassifier(n_estimators=3, random_state=0),
  "hgb": HistGradientBoostingClassifier(max_iter=3),
  "gb": GradientBoostingClassifier(n_estimators=3),
  "knn": KNeighborsClassifier(algorithm="kd_tree"), "km": KMeans(2, n_init=1),
  "knn_ball": KNeighborsClassifier(algorithm="ball_tree", metric="manhattan"),
  "nb": GaussianNB(), "sgd": SGDClassifier(), "mlp": MLPClassifier(max_iter=5),
}
for k, m in models.items():
    m.fit(X, y)
    for p in (2, 4, 5):
        open("%s/%s_p%d.pkl" % (sys.argv[1], k, p), "wb").write(pickle.dumps(m, protocol=p))
"""


@needs_brine
@pytest.mark.parametrize("release", sorted(SKLEARN_ENVS))
def test_fitted_pickles_of_each_release_scan_safe(release, tmp_path):
    py = SKLEARN_ENVS[release]
    if not os.path.exists(py):
        pytest.skip("no venv for scikit-learn " + release)
    run_env(py, FIT_AND_PICKLE, str(tmp_path))
    docs = scan_dir(tmp_path, "sklearn")
    assert len(docs) == 33
    wrong = {f: (d["verdict"], [x.get("global") for x in d["findings"]][:5])
             for f, d in docs.items() if d["verdict"] != "safe"}
    assert not wrong, wrong


def gadget_names():
    names = set()
    for line in (bt.REPO / "tests" / "data" / "gadgets.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            mod, qual = line.split("\t")[0].split(":")
            names.add(mod + "." + qual)
    return names


def test_no_entry_is_a_gadget():
    gadgets = gadget_names()
    assert len(gadgets) > 500
    hits = {}
    for t in all_tables():
        for full in table(t):
            if full in gadgets or any(full.startswith(g + ".") for g in gadgets):
                hits.setdefault(t, []).append(full)
    assert not hits, hits


CLASSIFY = r"""
import importlib, sys, types, warnings; warnings.simplefilter("ignore")
import sklearn.ensemble, sklearn.linear_model  # Cython 3 modules register short names (_loss)
def resolve(full):
    parts = full.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = sys.modules.get(".".join(parts[:cut])) or \
                importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        for p in parts[cut:]:
            obj = getattr(obj, p, None)
        return obj
for full in sys.stdin.read().split():
    o = resolve(full)
    print(full, "class" if isinstance(o, type) else type(o).__name__)
"""

# What a FUNC entry may be: a reconstruction function (rebuilds an object from judged parts)
# or a default parameter that only computes on arrays. Checked by kind and by name, in the
# release that wrote the table.
FUNC_OK = re.compile(r"(\.__pyx_unpickle_\w+|\.newObj|^numpy\.random\._pickle\.__\w+_ctor|"
                     r"^numpy\.(_core|core)\.(multiarray\._reconstruct|multiarray\.scalar|"
                     r"numeric\._frombuffer)|^numpy\.ma\.core\._mareconstruct|^_codecs\.encode|"
                     r"^copyreg\._reconstructor|^torch\._utils\._rebuild_(tensor_v2|parameter)|"
                     r"^torch\.nn\.functional\.(relu|gelu)|^numpy\.mean|"
                     r"\._univariate_selection\.(f_classif|f_regression|chi2)|"
                     r"^sklearn\.cluster\._kmeans\._kmeans_single_lloyd|"
                     r"^sklearn\.metrics\._scorer\._passthrough_scorer|"
                     r"^sklearn\.metrics\._classification\.balanced_accuracy_score|"
                     r"^scipy\._lib\.array_api_compat\.numpy\._aliases\.asarray)$")


@pytest.mark.parametrize("release", sorted(SKLEARN_ENVS))
def test_entries_are_classes_or_reviewed_functions(release):
    py = SKLEARN_ENVS[release]
    if not os.path.exists(py):
        pytest.skip("no venv for scikit-learn " + release)
    t = table("sklearn-%s.def" % release)
    out = run_env_stdin(py, CLASSIFY, "\n".join(sorted(t)))
    wrong = []
    for line in out.splitlines():
        full, kind = line.split()
        kinds = t[full]
        if "CLASS" in kinds and kind != "class":
            wrong.append((full, "CLASS but", kind))
        if "FUNC" in kinds and (kind == "class" or not FUNC_OK.search(full)):
            wrong.append((full, "FUNC of an unreviewed kind", kind))
    assert not wrong, wrong


def run_env_stdin(py, code, text):
    r = subprocess.run([py, "-c", code], input=text.encode(), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode()


def test_0_2x_names_follow_scikit_learns_list():
    moved = {}
    for line in (bt.REPO / "tools" / "sklearn_moved.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            old, new, _d, _r = line.split("\t")
            moved[old] = new
    assert moved["sklearn.ensemble.forest"] == "sklearn.ensemble._forest"
    assert moved["sklearn.tree.tree"] == "sklearn.tree._classes"
    t = table("sklearn-0.2x.def")
    assert "sklearn.ensemble.forest.RandomForestClassifier" in t
    assert "sklearn.svm.classes.SVC" in t
    for full in t:
        mod = full.rsplit(".", 1)[0]
        assert mod in moved, full


GADGETS = ["sklearn.utils._testing.assert_run_python_script",
           "sklearn.utils.testing.assert_run_python_script",
           "torch.utils.cpp_extension.load_inline"]


@needs_brine
@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_issue_gadgets_refused_under_every_profile(profile, tmp_path):
    for i, g in enumerate(GADGETS):
        mod, name = g.rsplit(".", 1)
        (tmp_path / ("import%d.pkl" % i)).write_bytes(glob_pickle(g))
        # called: GLOBAL, ("print(1)",), REDUCE
        call = b"c" + mod.encode() + b"\n" + name.encode() + b"\n(Vprint(1)\ntR."
        (tmp_path / ("call%d.pkl" % i)).write_bytes(call)
    docs = scan_dir(tmp_path, *([profile] if profile else []))
    assert len(docs) == 2 * len(GADGETS)
    wrong = {f: d["verdict"] for f, d in docs.items() if d["verdict"] not in ("unsafe",)}
    # the denylist names all three: unsafe, not merely unverified
    assert not wrong, wrong
