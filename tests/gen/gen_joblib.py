#!/usr/bin/env python3
"""Writes joblib fixtures with the REAL joblib of the interpreter running it, plus a manifest.

    /usr/bin/python3 tests/gen/gen_joblib.py OUT          (Debian: joblib 1.2, numpy 1.24, sklearn 1.2)
    /var/cache/brine/venv/bin/python tests/gen/gen_joblib.py OUT   (joblib 1.6, numpy 2.x, pandas)

OUT/manifest.json lists every file: benign or hostile, protocol, and — for benign files only —
what joblib itself reads, taken from a joblib.load of the file with two recorders attached:
  - find_class records every global (the outer NumpyUnpickler's and the nested unpickler's of
    object arrays: joblib 1.2 calls pickle.load there, which is wrapped for the occasion);
  - NumpyArrayWrapper.read records each array in the order joblib reads it: kind (inline or
    object), dtype, shape, order, the sha256 of the bytes as they sit in the file, and the
    sha256 of its elements in C order little-endian (brine's tensor hash), plus the path of
    the array in the loaded object when it is reachable through dicts and lists only.
Hostile files are never loaded: their payload (os.system touching a marker in OUT) would run.

OUT/compressed/ holds the same kind of files through every compressor this joblib has
(zlib, gzip, bz2, lzma, xz, lz4): for the decompression filters, listed in the manifest too.
"""

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
from joblib import numpy_pickle, numpy_pickle_compat

OBSERVE = len(sys.argv) > 1 and sys.argv[1] == "--observe"
OUT = Path(sys.argv[1] if not OBSERVE else ".")
MARKER = OUT / "PWNED"


class Evil:
    """Pickles as os.system("touch MARKER"): joblib.load would run it."""

    def __reduce__(self):
        return (os.system, ("touch " + str(MARKER),))


def arrays_of_many_dtypes():
    base = np.arange(12).reshape(3, 4)
    d = {}
    for dt in ["f8", "f4", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "c8", "c16"]:
        d[dt] = (base * 3 - 7).astype(dt)
    d["bool"] = base % 3 == 0
    d["fortran_f4"] = np.asfortranarray(np.arange(24, dtype="f4").reshape(2, 3, 4))
    d["fortran_i8"] = np.asfortranarray(np.arange(6, dtype="i8").reshape(3, 2))
    d["zero_d"] = np.array(3.5)
    d["empty"] = np.zeros((0, 3), dtype="f4")
    d["big_endian_f8"] = np.arange(5, dtype=">f8")
    d["big_endian_i4"] = np.arange(7, dtype=">i4").reshape(7, 1)
    d["strided"] = np.arange(40, dtype="f4").reshape(5, 8)[::2, 1::3]
    d["text"] = np.array(["a", "bc", "déf"])
    d["bytes"] = np.array([b"x", b"yz"])
    d["dates"] = np.array(["2020-01-01", "2021-06-30"], dtype="M8[D]")
    d["deltas"] = np.array([1, 2], dtype="m8[s]")
    d["longdouble"] = np.arange(3, dtype=np.longdouble)
    d["structured"] = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")])
    return d


def numeric_only():
    return {
        "layer": {"weight": np.arange(6, dtype="f4").reshape(2, 3), "bias": np.ones(3, "f4")},
        "list": [np.arange(4, dtype="i8"), np.asfortranarray(np.eye(3, dtype="f8"))],
        "big_endian": {"f8": np.arange(5, dtype=">f8") / 3,
                       "i2": np.arange(-6, 6, dtype=">i2").reshape(3, 4),
                       "fortran_u4": np.asfortranarray(np.arange(6, dtype=">u4").reshape(2, 3))},
        "scalar": np.float64(2.5),
        "meta": {"epoch": 3, "name": "model"},
        "big": np.linspace(0, 1, 70000, dtype="f8"),  # spans several frames at protocol 4+
    }


def objects_benign():
    return {
        "obj": np.array([1, "abc", {"a": 1}], dtype=object),
        "after": np.arange(4, dtype="i4"),
        "struct_obj": np.array([(1, "x")], dtype=[("a", "<i4"), ("b", "O")]),
        "tail": np.full(3, 7, dtype="u2"),
    }


def sklearn_models():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.tree import DecisionTreeClassifier
    except ImportError:
        return {}
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    labels = np.where(y == 1, "yes", "no")
    return {
        "sk_logreg": LogisticRegression().fit(X, y),
        "sk_tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, labels),
        "sk_pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
    }


def pandas_frames():
    try:
        import pandas as pd
    except ImportError:
        return {}
    return {"pandas_frame": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})}


# ------------------------------------------------------------------ the oracle (benign only)


def tensor_sha(a):
    """brine's tensor hash: elements in C order, little-endian."""
    le = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    return hashlib.sha256(np.ascontiguousarray(a).astype(le).tobytes()).hexdigest()


# The oracle is joblib.load itself, on benign files only (generated here, or joblib's own test
# data); as a second guard its find_class resolves only the libraries those files use and a
# few plain builtins, and raises on anything else before importing it.
ORACLE_MODULES = ("numpy", "joblib", "sklearn", "scipy", "pandas", "collections", "copyreg",
                  "copy_reg", "_codecs", "datetime", "decimal")
ORACLE_BUILTINS = {"object", "list", "dict", "set", "frozenset", "tuple", "bytearray", "bytes",
                   "complex", "slice", "range", "int", "float", "str", "bool", "unicode"}


def oracle_guard(module, name):
    top = module.split(".")[0]
    ok = top in ORACLE_MODULES or (top in ("builtins", "__builtin__") and name in ORACLE_BUILTINS)
    if not ok:
        raise pickle.UnpicklingError(f"oracle refuses {module}.{name}: not a benign file's name")


def observe_load(path):
    seen, reads = [], []
    real_read = numpy_pickle.NumpyArrayWrapper.read

    def read(self, unpickler, *args):
        arr = real_read(self, unpickler, *args)
        dt = self.dtype
        rec = {"kind": "object" if dt.hasobject else "inline", "dtype": dt.str,
               "itemsize": dt.itemsize, "shape": [int(x) for x in self.shape],
               "fortran": self.order == "F"}
        if not dt.hasobject:
            order = "F" if self.order == "F" else "C"
            rec["raw_sha256"] = hashlib.sha256(
                np.asarray(arr).astype(dt).tobytes(order=order)).hexdigest()
            rec["tensor_sha256"] = tensor_sha(np.asarray(arr))
        rec["_id"] = id(arr)
        reads.append((rec, arr))
        return arr

    sidecar_reads = {}
    for cls, kind in [(numpy_pickle_compat.NDArrayWrapper, "sidecar-npy"),
                      (numpy_pickle_compat.ZNDArrayWrapper, "sidecar-z")]:
        real = cls.__dict__["read"]
        sidecar_reads[cls] = real

        def sidecar_read(self, unpickler, _real=real, _kind=kind):
            arr = _real(self, unpickler)
            reads.append(({"kind": _kind, "sidecar": self.filename, "_id": id(arr)}, arr))
            return arr

        cls.read = sidecar_read

    class Recorder(numpy_pickle.NumpyUnpickler):
        def find_class(self, module, name):
            seen.append(module + "." + name)
            oracle_guard(module, name)
            return super().find_class(module, name)

    class NestedRecorder(pickle.Unpickler):
        def find_class(self, module, name):
            seen.append(module + "." + name)
            oracle_guard(module, name)
            return super().find_class(module, name)

    class PickleShim:
        """joblib 1.2 reads object arrays with pickle.load(file): record its globals too."""

        def __getattr__(self, name):
            return getattr(pickle, name)

        @staticmethod
        def load(f, *a, **k):
            return NestedRecorder(f, *a, **k).load()

    class CompatRecorder(numpy_pickle_compat.ZipNumpyUnpickler):
        def find_class(self, module, name):
            seen.append(module + "." + name)
            oracle_guard(module, name)
            return super().find_class(module, name)

    saved = (numpy_pickle.NumpyUnpickler, numpy_pickle.pickle,
             numpy_pickle_compat.ZipNumpyUnpickler)
    numpy_pickle.NumpyArrayWrapper.read = read
    numpy_pickle.NumpyUnpickler = Recorder
    numpy_pickle.pickle = PickleShim()
    numpy_pickle_compat.ZipNumpyUnpickler = CompatRecorder
    try:
        obj = joblib.load(path)
    finally:
        numpy_pickle.NumpyArrayWrapper.read = real_read
        for cls, real in sidecar_reads.items():
            cls.read = real
        (numpy_pickle.NumpyUnpickler, numpy_pickle.pickle,
         numpy_pickle_compat.ZipNumpyUnpickler) = saved

    paths = {}

    def walk(x, path, depth=0):
        if depth > 20:
            return
        if isinstance(x, np.ndarray):
            paths.setdefault(id(x), path)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}.{k}" if path else str(k), depth + 1)
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{path}.{i}" if path else str(i), depth + 1)

    walk(obj, "")
    arrays = []
    for rec, arr in reads:
        rec["path"] = paths.get(rec.pop("_id"))
        arrays.append(rec)
    return sorted(set(seen)), arrays


# ------------------------------------------------------------------ writing


def observe_files(paths):
    """--observe FILE...: the oracle alone, for benign files written elsewhere (joblib's own
    test data). Prints {file: {"globals", "arrays"} or {"error"}} as JSON."""
    out = {}
    for p in paths:
        try:
            g, a = observe_load(p)
            out[p] = {"globals": g, "arrays": a}
        except Exception as e:  # an old file this joblib/numpy cannot load
            out[p] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


def generate():
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"python": sys.version.split()[0], "joblib": joblib.__version__,
                "numpy": np.__version__, "files": []}


    def write(name, value, hostile, protocol=None, compress=0, folder=OUT):
        path = folder / name
        joblib.dump(value, path, protocol=protocol, compress=compress)
        entry = {"file": str(path.relative_to(OUT)), "hostile": hostile, "protocol": protocol,
                 "compress": compress if isinstance(compress, (int, bool)) else list(compress)}
        if not hostile and not compress:
            entry["globals"], entry["arrays"] = observe_load(path)
        manifest["files"].append(entry)

    for proto in [0, 1, 2, 3, 4, 5]:
        write(f"dtypes_p{proto}.joblib", arrays_of_many_dtypes(), False, proto)
        write(f"numeric_p{proto}.joblib", numeric_only(), False, proto)
    for proto in [2, 5]:
        write(f"objects_p{proto}.joblib", objects_benign(), False, proto)
        write(f"matrix_p{proto}.joblib", {"m": np.matrix([[1, 2], [3, 4]])}, False, proto)
    for name, model in {**sklearn_models(), **pandas_frames()}.items():
        write(f"{name}.joblib", model, False)

    for proto in [2, None]:
        p = "default" if proto is None else proto
        write(f"evil_top_p{p}.joblib", {"m": Evil(), "w": np.zeros(3)}, True, proto)
        write(f"evil_after_array_p{p}.joblib", {"w": np.arange(10.0), "x": Evil()}, True, proto)
        write(f"evil_in_object_array_p{p}.joblib",
              {"a": np.array([Evil(), 1], dtype=object), "b": np.ones(2)}, True, proto)
        write(f"evil_after_object_array_p{p}.joblib",
              {"o": np.array([1, "a"], dtype=object), "w": np.arange(3), "x": Evil()}, True, proto)

    compressed = OUT / "compressed"
    compressed.mkdir(exist_ok=True)
    compressors = ["zlib", "gzip", "bz2", "lzma", "xz"]
    try:
        import lz4  # noqa: F401

        compressors.append("lz4")
    except ImportError:
        pass
    for c in compressors:
        write(f"numeric_{c}.joblib", numeric_only(), False, compress=(c, 3), folder=compressed)
        write(f"evil_after_array_{c}.joblib", {"w": np.arange(10.0), "x": Evil()}, True,
              compress=(c, 3), folder=compressed)

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1))
    assert not MARKER.exists(), "a payload ran while generating"


if __name__ == "__main__":
    if OBSERVE:
        observe_files(sys.argv[2:])
    else:
        generate()
