#!/usr/bin/env python3
"""Writes a profile table: the globals that pickles of a library's objects really reference.

Run it with the interpreter of the environment whose release it describes (one venv per
scikit-learn release, see scripts/lib.sh brine_ensure_release_venvs):

    /var/cache/brine/sk-1.3/bin/python tools/gen_profiles.py sklearn src/policy/profiles/
    tools/gen_profiles.py --check sklearn src/policy/profiles/   (regenerates and compares)

A table is not every public name of the library: for every estimator class
(sklearn.utils.all_estimators) an instance is built, fitted on a tiny data set and pickled
(protocols 2 and 5); the opcodes of those pickles (pickletools.genops, STACK_GLOBAL resolved
through the memo) name the classes and reconstruction functions the file will hold — the
estimator, its internal helpers (sklearn.tree._tree.Tree, loss objects, KD trees...), numpy's
random-state constructors, scipy.sparse matrices. Every estimator class is listed even when
this tool could not fit it.

Each global is imported here and classified: a class → CLASS(name); a function → FUNC(name,
why) only when it is in REVIEWED below (reconstruction functions and default parameters whose
code only computes on arrays), otherwise it is left out and named in a comment (a profile never
admits a plain function nobody read). Output: <lib>-<release>.def, sorted, deterministic.
"""

import importlib
import inspect
import io
import os
import pickle
import pickletools
import platform
import sys
import warnings

# Functions a profile may admit, with why calling them from a pickle does no harm. Anything
# else that a pickle references as a function is left out of the table.
REVIEWED = {
    "numpy.random._pickle.__randomstate_ctor":
        "rebuilds a RandomState around a bit generator (the constructor is itself judged)",
    "numpy.random._pickle.__generator_ctor":
        "rebuilds a Generator around a bit generator (the constructor is itself judged)",
    "numpy.random._pickle.__bit_generator_ctor":
        "looks a bit generator up by name in numpy's table, or calls a judged class",
    "numpy.random._pickle.__legacy_seeding":
        "seeds a legacy RandomState",
    "copyreg._reconstructor": "object.__new__ of a judged class (protocols 0-1)",
    "copyreg.__newobj__": "cls.__new__ of a judged class",
    "sklearn.neighbors._binary_tree.newObj": "cls.__new__ of a judged BinaryTree class",
    "sklearn.neighbors._ball_tree.newObj": "cls.__new__ of a judged BinaryTree class",
    "sklearn.neighbors._kd_tree.newObj": "cls.__new__ of a judged BinaryTree class",
    "sklearn.feature_selection._univariate_selection.f_classif":
        "SelectKBest/SelectPercentile default score function: ANOVA F on arrays",
    "sklearn.feature_selection._univariate_selection.f_regression":
        "univariate regression F statistic on arrays",
    "sklearn.feature_selection._univariate_selection.chi2": "chi-squared statistic on arrays",
    "sklearn.metrics.pairwise.euclidean_distances": "distance on arrays",
    "torch._utils._rebuild_parameter": "a Parameter around a judged tensor",
    "torch._utils._rebuild_tensor_v2": "a tensor view of a judged storage",
    "torch.nn.functional.relu": "an activation stored by Transformer layers: arithmetic",
    "torch.nn.functional.gelu": "an activation stored by Transformer layers: arithmetic",
    "numpy.core.multiarray._reconstruct": "ndarray.__new__ (default profile)",
    "numpy._core.multiarray._reconstruct": "ndarray.__new__ (default profile)",
    "numpy.core.multiarray.scalar": "a numpy scalar from bytes (default profile)",
    "numpy._core.multiarray.scalar": "a numpy scalar from bytes (default profile)",
    "numpy.core.numeric._frombuffer": "an array over bytes (default profile)",
    "numpy._core.numeric._frombuffer": "an array over bytes (default profile)",
    "numpy.ma.core._mareconstruct": "MaskedArray.__new__ of a judged class",
    "_codecs.encode": "str to bytes (default profile)",
    "numpy.mean": "FeatureAgglomeration's default pooling_func: a mean of arrays",
    "sklearn.cluster._kmeans._kmeans_single_lloyd": "BisectingKMeans's k-means step on arrays",
    "sklearn.metrics._scorer._passthrough_scorer":
        "the *SearchCV default scorer: estimator.score on a judged estimator",
    "sklearn.metrics._classification.balanced_accuracy_score":
        "the metric a make_scorer scorer stores: arithmetic on label arrays",
    "scipy._lib.array_api_compat.numpy._aliases.asarray":
        "the array namespace's asarray scikit-learn stores: numpy.asarray on judged values",
}


def reviewed(full, obj):
    """Why the function full may be in a profile, or None."""
    if full in REVIEWED:
        return REVIEWED[full]
    mod, _, name = full.rpartition(".")
    real = getattr(sys.modules.get(mod), "__name__", mod)
    if name.startswith("__pyx_unpickle_") and real.startswith(("sklearn.", "xgboost.",
                                                                "lightgbm.", "numpy.")):
        # Cython's generated unpickler: cls.__new__ for a subclass of the named class, then
        # the state, after checking the layout checksum
        if isinstance(resolve(mod + "." + name[len("__pyx_unpickle_"):]), type):
            return "Cython's unpickler of %s: __new__ of a judged subclass, then its state" % \
                name[len("__pyx_unpickle_"):]
    if name == "newObj" and mod.startswith("sklearn."):
        return "cls.__new__ of a judged class (scikit-learn's Cython trees and metrics)"
    return None

# Globals whose pickles never name them by this spelling are not a concern; names a pickle
# references that the default profile already allows are written too (a table stands alone).


class Recorder:
    def __init__(self):
        self.names = {}  # "module.qualname" -> first source

    def add_pickle(self, data, source):
        stack, memo = [], {}
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                mod, qual = arg.split(" ", 1)
                self.names.setdefault(mod + "." + qual, source)
                stack.append(None)
            elif name == "STACK_GLOBAL":
                qual, mod = stack.pop() if stack else None, stack.pop() if stack else None
                if isinstance(mod, str) and isinstance(qual, str):
                    self.names.setdefault(mod + "." + qual, source)
                stack.append(None)
            elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                stack.append(arg)
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1] if stack else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg))
            else:
                stack.append(None)
            if len(stack) > 64:
                del stack[:-8]

    def add_object(self, obj, source):
        for proto in (2, 5):
            try:
                # Python-3 names: brine maps Python-2 names before judging them
                self.add_pickle(pickle.dumps(obj, protocol=proto, fix_imports=False), source)
            except Exception as e:  # an object that cannot be pickled says nothing
                print("  cannot pickle %s (protocol %d): %s" % (source, proto, e), file=sys.stderr)
                return False
        return True


def resolve(full):
    """The object a pickle's find_class would return for full, or None."""
    parts = full.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            # Cython 3 registers extension modules under their short name too (sklearn 1.5
            # pickles name `_loss.__pyx_unpickle_CyHalfBinomialLoss`)
            obj = sys.modules.get(".".join(parts[:cut])) or \
                importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for p in parts[cut:]:
                obj = getattr(obj, p)
            return obj
        except AttributeError:
            return None
    return None


# ------------------------------------------------------------------ scikit-learn


def sklearn_instances():
    """(name, estimator class, instance or None, fit callables) for every estimator."""
    import numpy as np
    from sklearn.utils import all_estimators
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from sklearn.preprocessing import StandardScaler, OneHotEncoder
    from sklearn.decomposition import PCA

    rng = np.random.RandomState(0)
    X = np.abs(rng.randn(40, 5)) + 0.1
    Xc = np.hstack([X[:, :3], rng.randint(0, 3, (40, 1)).astype(float)])
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    y3 = rng.randint(0, 3, 40)
    yr = X @ [1.0, 2.0, 1.0, 0.5, 0.1] + 0.1 * rng.rand(40)  # positive: Poisson, Gamma
    Y2 = np.column_stack([y, 1 - y])
    Yr2 = np.column_stack([yr, -yr])
    texts = ["alpha beta gamma", "beta gamma delta", "gamma delta eps", "alpha eps"] * 10
    dicts = [{"a": float(i), "b": "x" if i % 2 else "y"} for i in range(40)]

    from sklearn.base import ClassifierMixin, RegressorMixin

    def for_kind(cls):
        clf = issubclass(cls, ClassifierMixin)  # is_classifier refuses classes since 1.6
        return (LogisticRegression(), DecisionTreeClassifier(max_depth=2)) if clf else \
            (Ridge(), DecisionTreeRegressor(max_depth=2))

    def construct(name, cls):
        sig = inspect.signature(cls.__init__)
        kw = {}
        a, b = for_kind(cls)
        for p in list(sig.parameters.values())[1:]:
            if p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL,
                                                                      p.VAR_KEYWORD):
                continue
            if p.name in ("estimator", "base_estimator"):
                kw[p.name] = a
            elif p.name == "estimators":
                kw[p.name] = [("a", a), ("b", b)]
            elif p.name == "steps":
                kw[p.name] = [("s", StandardScaler()), ("m", a)]
            elif p.name == "transformer_list":
                kw[p.name] = [("p", PCA(1)), ("s", StandardScaler())]
            elif p.name == "transformers":
                kw[p.name] = [("s", StandardScaler(), [0, 1, 2]),
                              ("o", OneHotEncoder(handle_unknown="ignore"), [3])]
            elif p.name == "param_grid":
                kw[p.name] = {"C": [1.0]} if cls.__name__ == "GridSearchCV" else [{"C": 1.0}]
            elif p.name == "param_distributions":
                kw[p.name] = {"C": [1.0, 2.0]}
            elif p.name == "dictionary":
                kw[p.name] = np.eye(3)
            elif p.name == "n_components":
                kw[p.name] = 2
            else:
                return None
        if name == "SelectKBest":
            kw["k"] = 2
        if name in ("GaussianRandomProjection", "SparseRandomProjection"):
            kw["n_components"] = 2
        if "GridSearch" in cls.__name__ or "RandomizedSearch" in cls.__name__ or \
                "HalvingRandom" in cls.__name__ or "HalvingGrid" in cls.__name__:
            kw["estimator"] = LogisticRegression()
            kw.setdefault("cv", 2)
        return cls(**kw)

    def fits(name, est):
        if name in ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer"):
            return [lambda: est.fit(texts)]
        if name in ("DictVectorizer", "FeatureHasher"):
            return [lambda: est.fit(dicts)]
        if name in ("LabelEncoder", "LabelBinarizer"):
            return [lambda: est.fit(y3)]
        if name == "MultiLabelBinarizer":
            return [lambda: est.fit([[1, 2], [3]])]
        if name == "IsotonicRegression":
            return [lambda: est.fit(X[:, 0], yr)]
        if name == "KernelCenterer":
            return [lambda: est.fit(X @ X.T)]
        if name == "PatchExtractor":
            return [lambda: est.fit(rng.rand(2, 8, 8))]
        if name == "ColumnTransformer":
            return [lambda: est.fit(Xc)]
        if name in ("ClassifierChain", "MultiOutputClassifier"):
            return [lambda: est.fit(X, Y2)]
        if name in ("RegressorChain", "MultiOutputRegressor", "CCA", "PLSCanonical", "PLSSVD",
                    "PLSRegression", "MultiTaskLasso",
                    "MultiTaskElasticNet", "MultiTaskLassoCV", "MultiTaskElasticNetCV"):
            return [lambda: est.fit(X, Yr2)]
        if isinstance(est, ClassifierMixin):
            return [lambda: est.fit(X, y), lambda: est.fit(X, y3)]
        if isinstance(est, RegressorMixin):
            return [lambda: est.fit(X, yr)]
        return [lambda: est.fit(X, y), lambda: est.fit(X), lambda: est.fit(X, yr)]

    out = []
    for name, cls in all_estimators():
        try:
            est = construct(name, cls)
        except Exception as e:
            print("  cannot construct %s: %s" % (name, e), file=sys.stderr)
            est = None
        out.append((name, cls, est, fits(name, est) if est is not None else []))
    return out


def record_sklearn(rec):
    import numpy as np
    import sklearn
    from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    estimator_classes = []
    unfitted = []
    for name, cls, est, fit_fns in sklearn_instances():
        estimator_classes.append(cls.__module__ + "." + cls.__qualname__)
        rec.add_object(cls, name)
        if est is None:
            unfitted.append(name)
            continue
        rec.add_object(est, name)
        for fit in fit_fns:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit()
                rec.add_object(est, name + " (fitted)")
                break
            except Exception as e:
                last = e
        else:
            unfitted.append(name)
            print("  cannot fit %s: %s" % (name, last), file=sys.stderr)
    # loss and link objects other settings of the same estimators store
    rng = np.random.RandomState(1)
    X = rng.rand(40, 3)
    for cls, losses, y in (
            (GradientBoostingClassifier, ["log_loss", "exponential", "deviance"],
             (X[:, 0] > .5).astype(int)),
            (GradientBoostingRegressor, ["squared_error", "absolute_error", "huber", "quantile",
                                         "ls", "lad"], X[:, 0]),
            (HistGradientBoostingClassifier, ["log_loss", "auto", "binary_crossentropy",
                                              "categorical_crossentropy"],
             rng.randint(0, 3, 40)),
            (HistGradientBoostingRegressor, ["squared_error", "absolute_error", "poisson",
                                             "gamma", "quantile", "least_squares"], X[:, 0] + .1),
            (SGDClassifier, ["hinge", "log_loss", "log", "modified_huber", "squared_hinge",
                             "perceptron", "squared_error", "huber", "epsilon_insensitive"],
             (X[:, 0] > .5).astype(int)),
            (SGDRegressor, ["squared_error", "huber", "epsilon_insensitive",
                            "squared_epsilon_insensitive"], X[:, 0])):
        for loss in losses:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kw = {"loss": loss}
                    if loss == "quantile" and "Hist" in cls.__name__:
                        kw["quantile"] = 0.5
                    est = cls(**kw)
                    est.fit(X, y)
                rec.add_object(est, "%s(loss=%s)" % (cls.__name__, loss))
            except Exception:
                pass  # a loss this release does not have
    # the trees and distance metrics nearest-neighbour settings store (the default
    # algorithm picks one tree for this data; BallTree pickles name other classes)
    from sklearn.neighbors import KNeighborsClassifier
    for algorithm in ("ball_tree", "kd_tree"):
        for metric in ("minkowski", "manhattan", "chebyshev"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = KNeighborsClassifier(n_neighbors=3, algorithm=algorithm,
                                               metric=metric).fit(X, (X[:, 0] > .5).astype(int))
                rec.add_object(est, "KNeighborsClassifier(%s, %s)" % (algorithm, metric))
            except Exception:
                pass  # a combination this release does not have
    # the containers scikit-learn objects hold
    import scipy.sparse as sp
    for fmt in ("csr", "csc", "coo", "lil", "dok", "bsr", "dia"):
        m = sp.random(4, 4, density=0.5, format=fmt, random_state=0)
        rec.add_object(m, "scipy.sparse " + fmt + "_matrix")
        if hasattr(sp, fmt + "_array"):
            rec.add_object(getattr(sp, fmt + "_array")(m), "scipy.sparse " + fmt + "_array")
    record_numpy_random(rec)
    versions = "scikit-learn %s, numpy %s, scipy %s" % (sklearn.__version__, np.__version__,
                                                         __import__("scipy").__version__)
    return sklearn.__version__, versions, estimator_classes, unfitted


def record_numpy_random(rec):
    import numpy as np
    rec.add_object(np.random.RandomState(0), "numpy RandomState")
    rec.add_object(np.random.default_rng(0), "numpy Generator")
    for bg in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
        if hasattr(np.random, bg):
            rec.add_object(getattr(np.random, bg)(0), "numpy " + bg)


def record_numpy(rec):
    import numpy as np
    for v in (np.arange(3.0), np.float64(1), np.int64(1), np.bool_(True), np.complex128(1j),
              np.dtype("f8"), np.dtype([("a", "i4")]), np.ma.masked_array([1, 2], [0, 1]),
              np.matrix([[1, 2]]), np.rec.fromrecords([(1, 2.0)]), np.datetime64("2020-01-01"),
              np.timedelta64(1, "s"), np.array(["a"]), np.str_("a"), np.bytes_(b"a")):
        rec.add_object(v, "numpy " + type(v).__name__)
    for k in ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g", "F",
              "D", "G", "O", "S3", "U3", "V4", "M8[s]", "m8[s]"):
        rec.add_object(np.dtype(k), "numpy dtype " + k)
        rec.add_object(type(np.dtype(k)), "numpy dtype class " + k)
        rec.add_object(np.dtype(k).type, "numpy scalar type " + k)
    record_numpy_random(rec)
    return np.__version__, "numpy %s" % np.__version__, [], []


def record_xgboost(rec):
    import numpy as np
    import xgboost as xgb
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 3), rng.randint(0, 2, 40)
    classes = []
    for cls in (xgb.XGBClassifier, xgb.XGBRegressor, xgb.XGBRanker, xgb.XGBRFClassifier,
                xgb.XGBRFRegressor):
        classes.append(cls.__module__ + "." + cls.__qualname__)
        est = cls(n_estimators=2)
        rec.add_object(est, cls.__name__)
        kw = {"qid": np.repeat(np.arange(4), 10)} if cls is xgb.XGBRanker else {}
        est.fit(X, y, **kw)
        rec.add_object(est, cls.__name__ + " (fitted)")
    rec.add_object(xgb.train({}, xgb.DMatrix(X, y), 2), "Booster")
    classes.append("xgboost.core.Booster")
    return xgb.__version__, "xgboost %s, numpy %s" % (xgb.__version__, np.__version__), \
        classes, []


def record_lightgbm(rec):
    import numpy as np
    import lightgbm as lgb
    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 3), rng.randint(0, 2, 60)
    classes = []
    for cls in (lgb.LGBMClassifier, lgb.LGBMRegressor, lgb.LGBMRanker):
        classes.append(cls.__module__ + "." + cls.__qualname__)
        est = cls(n_estimators=2, verbose=-1, min_child_samples=2)
        rec.add_object(est, cls.__name__)
        kw = {"group": [15, 15, 15, 15]} if cls is lgb.LGBMRanker else {}
        est.fit(X, y, **kw)
        rec.add_object(est, cls.__name__ + " (fitted)")
    rec.add_object(lgb.train({"verbose": -1}, lgb.Dataset(X, y), 2), "Booster")
    classes.append("lightgbm.basic.Booster")
    return lgb.__version__, "lightgbm %s, numpy %s" % (lgb.__version__, np.__version__), \
        classes, []


def record_torch(rec):
    import torch
    import torch.nn as nn
    classes, unbuilt = [], []
    for name in sorted(dir(nn)):
        cls = getattr(nn, name)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            continue
        classes.append(cls.__module__ + "." + cls.__qualname__)
        rec.add_object(cls, name)
        sig = inspect.signature(cls.__init__)
        need = [p for p in list(sig.parameters.values())[1:]
                if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        for args in ([2] * len(need), [(2,)] * len(need), [nn.Linear(2, 2)] * len(need)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = cls(*args)
                rec.add_object(m, name + " (instance)")
                break
            except Exception:
                continue
        else:
            unbuilt.append(name)
    rec.add_object(torch.zeros(2), "tensor")
    rec.add_object(nn.Parameter(torch.zeros(2)), "parameter")
    return torch.__version__.split("+")[0], "torch %s" % torch.__version__, classes, unbuilt


LIBRARIES = {"sklearn": record_sklearn, "numpy": record_numpy, "xgboost": record_xgboost,
             "lightgbm": record_lightgbm, "torch": record_torch}


def render(lib):
    rec = Recorder()
    release, versions, estimators, unfitted = LIBRARIES[lib](rec)
    names = set(rec.names) | set(estimators)
    classes, funcs, left_out = [], [], []
    for full in sorted(names):
        obj = resolve(full)
        if isinstance(obj, type):
            classes.append(full)
        elif reviewed(full, obj):
            funcs.append(full)
        else:
            left_out.append("%s (%s)" % (full, type(obj).__name__))
    short = ".".join(release.split(".")[:2])
    head = ["/* Generated by tools/gen_profiles.py %s under Python %s (%s); do not edit.\n" %
            (lib, platform.python_version(), versions),
            " * What pickles of %s %s objects reference: CLASS(name) a class, FUNC(name, why) a\n"
            " * reviewed reconstruction function, ESTIMATOR(name) a class of the release's\n"
            " * estimator list. %d estimators, %d not fitted here (their class is still listed).\n"
            % (lib, release, len(estimators), len(unfitted))]
    if left_out:
        head.append(" * Left out (functions nobody reviewed): %s\n" % ", ".join(left_out))
    head.append(" */\n")
    body = ['CLASS("%s")\n' % c for c in classes]
    body += ['FUNC("%s", "%s")\n' % (f, reviewed(f, None)) for f in funcs]
    body += ['ESTIMATOR("%s")\n' % e for e in sorted(set(estimators))]
    return "%s-%s.def" % (lib, short), "".join(head + body)


def render_moved(directory):
    """sklearn-0.2x.def: the names 0.20-0.23 pickles use for the classes of the generated tables
    (tools/sklearn_moved.tsv, from scikit-learn's own list of the modules 0.22 made private),
    and MOVED(old module, new module, deprecated in, removed in) for brine inspect --compat."""
    import re
    moved = []
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "sklearn_moved.tsv"), encoding="ascii") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                moved.append(line.rstrip("\n").split("\t"))
    entries = {}
    for fname in sorted(os.listdir(directory)):
        if re.fullmatch(r"sklearn-1\.\d+\.def", fname):
            with open(os.path.join(directory, fname), encoding="ascii") as f:
                for m in re.finditer(r'^(CLASS|FUNC)\("([^"]+)"(?:, "([^"]*)")?\)', f.read(), re.M):
                    entries[m.group(2)] = (m.group(1), m.group(3))
    new_to_old = {new: old for old, new, _d, _r in moved}
    body = []
    for full, (kind, why) in sorted(entries.items()):
        mod, _, name = full.rpartition(".")
        if mod in new_to_old:
            old = new_to_old[mod] + "." + name
            body.append('CLASS("%s")\n' % old if kind == "CLASS" else
                        'FUNC("%s", "%s")\n' % (old, why))
    body += ['MOVED("%s", "%s", "%s", "%s")\n' % tuple(m) for m in moved]
    head = ("/* Generated by tools/gen_profiles.py --moved from tools/sklearn_moved.tsv and the\n"
            " * sklearn-1.x tables; do not edit. The names scikit-learn 0.20-0.23 pickles give the\n"
            " * classes of the generated tables: 0.22 made these modules private (the old path\n"
            " * imported the new one with a warning until 0.24 removed it).\n */\n")
    return "sklearn-0.2x.def", head + "".join(sorted(set(body), key=body.index))


def main(argv):
    if len(argv) == 3 and argv[1] == "--moved":
        fname, text = render_moved(argv[2])
        with open(os.path.join(argv[2], fname), "w", encoding="ascii") as f:
            f.write(text)
        print(os.path.join(argv[2], fname))
        return 0
    check = "--check" in argv
    args = [a for a in argv[1:] if a != "--check"]
    if len(args) != 2 or args[0] not in LIBRARIES:
        print(__doc__, file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    fname, text = render(args[0])
    path = os.path.join(args[1], fname)
    if check:
        with open(path, encoding="ascii") as f:
            if f.read() != text:
                print("%s is out of date: rerun tools/gen_profiles.py" % path)
                return 1
        print("%s matches" % path)
        return 0
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
