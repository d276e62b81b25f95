#!/usr/bin/env python3
"""Writes skops fixtures with the REAL skops 0.16 and scikit-learn of the venv.

    /var/cache/brine/venv/bin/python tests/gen/gen_skops.py OUT MARKER

OUT/manifest.json lists every file with the oracle: "untrusted" is what
skops.io.get_untrusted_types(file=...) returns (it builds and audits the node tree, importing
nothing), or null when it raises (skops cannot load the file: brine must say invalid);
"arrays" maps each .npy member (without ".npy") to the sha256 of np.load's array in C order,
for benign files. Hostile files are benign ones whose schema.json was edited to name
builtins.eval, os.system, operator.attrgetter, a partial of os.system("touch MARKER"), ...;
they are never loaded (skops.io.load would refuse them anyway without trusted=).
"""
import copy
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.cluster import KMeans

OUT = Path(sys.argv[1])
MARKER = Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
files = []

X, y = make_classification(n_samples=60, n_features=5, random_state=0)
Xr, yr = make_regression(n_samples=40, n_features=3, random_state=0)


def sha(a):
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def oracle(path):
    try:
        return sorted(sio.get_untrusted_types(file=path))
    except Exception:  # skops cannot read it: no audit, no load
        return None


def arrays(path):
    out = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.endswith(".npy"):
                a = np.load(io.BytesIO(z.read(n)), allow_pickle=False)
                if a.dtype.kind in "fiub":
                    out[n[:-4]] = sha(a)
    return out


def add(name, kind, expect=None):
    p = OUT / name
    files.append({"file": name, "kind": kind, "untrusted": oracle(p),
                  "arrays": arrays(p) if kind == "benign" else None, "expect": expect})


models = {
    "logistic": LogisticRegression().fit(X, y),
    "pipeline": Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(X, y),
    "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
    "hgb": HistGradientBoostingClassifier(max_iter=3).fit(X, y),
    "sgd": SGDClassifier(loss="hinge", max_iter=5, tol=None, random_state=0).fit(X, y),
    "ridge": Ridge().fit(Xr, yr),
    "kmeans": KMeans(n_clusters=2, n_init=2, random_state=0).fit(X),
    "containers": {"a": np.arange(6, dtype="f4").reshape(2, 3), "b": [1, 2.5, "x", None],
                   "t": (np.int64(3), np.float32(1.5)), "s": {1, 2},
                   "m": np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
                   "rng": np.random.RandomState(0), "by": b"raw"},
}
for name, obj in models.items():
    sio.dump(obj, OUT / f"{name}.skops")
    add(f"{name}.skops", "benign")


def edit(src, dst, fn, members=None):
    with zipfile.ZipFile(OUT / src) as zin, zipfile.ZipFile(OUT / dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "schema.json":
                schema = json.loads(data)
                fn(schema)
                data = json.dumps(schema, indent=2).encode()
            if members is None or members(info.filename):
                zout.writestr(info, data)


def attr(schema, key, node):
    schema["content"]["content"][key] = node


def fn_node(module, name, id_):
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode", "__id__": id_}


edit("logistic.skops", "eval.skops", lambda s: attr(s, "C", fn_node("builtins", "eval", 11)))
add("eval.skops", "hostile", "unsafe")
edit("logistic.skops", "os_system.skops", lambda s: attr(s, "C", fn_node("os", "system", 12)))
add("os_system.skops", "hostile", "unsafe")
TOUCH = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
         "content": json.dumps("touch " + str(MARKER)), "is_json": True, "__id__": 14}
PARTIAL = {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
           "__id__": 13, "content": {
               "func": fn_node("os", "system", 15),
               "args": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "__id__": 16, "content": [TOUCH]},
               "kwds": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "__id__": 17, "content": {},
                        "key_types": {"__class__": "list", "__module__": "builtins",
                                      "__loader__": "ListNode", "__id__": 18, "content": []}},
               "namespace": {"__class__": "dict", "__module__": "builtins",
                             "__loader__": "DictNode", "__id__": 19, "content": {},
                             "key_types": {"__class__": "list", "__module__": "builtins",
                                           "__loader__": "ListNode", "__id__": 20,
                                           "content": []}}}}
edit("logistic.skops", "partial.skops", lambda s: attr(s, "C", PARTIAL))
add("partial.skops", "hostile", "unsafe")
ATTRGETTER = {"__class__": "attrgetter", "__module__": "operator",
              "__loader__": "OperatorFuncNode", "__id__": 21,
              "attrs": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                        "__id__": 22, "content": [dict(TOUCH, __id__=23)]}}
edit("logistic.skops", "attrgetter.skops", lambda s: attr(s, "C", ATTRGETTER))
add("attrgetter.skops", "hostile")
edit("logistic.skops", "custom_class.skops", lambda s: attr(s, "C", {
    "__class__": "Evil", "__module__": "mypkg.evil", "__loader__": "ObjectNode", "__id__": 24,
    "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                "__id__": 25, "content": {},
                "key_types": {"__class__": "list", "__module__": "builtins",
                              "__loader__": "ListNode", "__id__": 26, "content": []}}}))
add("custom_class.skops", "hostile", "unverified")
edit("logistic.skops", "ctor_reduce.skops", lambda s: attr(s, "C", {
    "__class__": "Popen", "__module__": "subprocess", "__loader__": "ConstructorFromReduceNode",
    "__id__": 27, "content": {"__class__": "tuple", "__module__": "builtins",
                              "__loader__": "TupleNode", "__id__": 28,
                              "content": [dict(TOUCH, __id__=29)]}}))
add("ctor_reduce.skops", "hostile", "unsafe")


def method(s):
    obj = copy.deepcopy(s)
    obj["__id__"] = 31
    attr(s, "C", {"__class__": s["__class__"], "__module__": s["__module__"],
                  "__loader__": "MethodNode", "__id__": 30,
                  "content": {"obj": obj, "func": "fit"}})


edit("logistic.skops", "method.skops", method)
add("method.skops", "hostile", "unverified")


def memo_shadow(s):
    # the dangerous node reuses the __id__ of a node seen before it: skops takes the earlier
    # node and never audits (nor constructs) this one
    first = next(iter(s["content"]["content"].values()))
    s["content"]["content"]["zz_shadow"] = fn_node("builtins", "eval", first["__id__"])


edit("logistic.skops", "memo_shadow.skops", memo_shadow)
add("memo_shadow.skops", "hostile")

# broken: skops' get_tree raises
edit("logistic.skops", "unknown_loader.skops",
     lambda s: attr(s, "C", dict(fn_node("x", "y", 40), __loader__="EvilNode")))
add("unknown_loader.skops", "broken", "invalid")
edit("logistic.skops", "bad_protocol.skops", lambda s: s.__setitem__("protocol", 99))
add("bad_protocol.skops", "broken", "invalid")
edit("logistic.skops", "missing_npy.skops", lambda s: None,
     members=lambda n: not n.endswith(".npy"))
add("missing_npy.skops", "broken", "invalid")
edit("logistic.skops", "no_loader.skops", lambda s: s["content"].pop("__loader__"))
add("no_loader.skops", "broken", "invalid")
raw = (OUT / "logistic.skops").read_bytes()
(OUT / "truncated.skops").write_bytes(raw[: len(raw) - 100])
files.append({"file": "truncated.skops", "kind": "broken", "untrusted": None, "arrays": None,
              "expect": "invalid"})

(OUT / "manifest.json").write_text(json.dumps({"files": files}, indent=1))
