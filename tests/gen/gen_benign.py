#!/usr/bin/python3
"""Benign pickle fixtures, written by the real libraries (Debian's python3-numpy, -torch,
-sklearn and CPython's own pickler) at protocols 0-5.

usage: /usr/bin/python3 tests/gen/gen_benign.py OUTDIR

Writes OUTDIR/<case>_p<protocol>.pkl and OUTDIR/manifest.json:
  {file: {"expect": "safe"|"unverified", "globals_outside": [...], "globals": [...],
          "globals_nested": [...], "protocol": n, "pickles": n, "next_buffer": bool}}
`globals` are the names the file's own pickles reference, `globals_nested` the extra names
in nested torch legacy files (torch.storage._load_from_bytes arguments).
`expect` comes from how each object was built (the CASES table says which objects need a
global outside the default policy). `globals_outside` and `globals` come from an independent
oracle, brinetest.static_globals (a genops walk), minus brinetest.allowed; generation fails
when the two disagree, so a wrong expectation cannot slip into the manifest. Each file is
also loaded back once through a pass-through find_class as a second check of the names; that
is safe only because every object here was built by this script.

Output is byte-for-byte deterministic: fixed seeds, PYTHONHASHSEED=0 (set and string order),
and torch's storage keys (memory addresses) renamed to counters of the same length.
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    # set and frozenset order of str elements depends on the hash seed
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import argparse
import collections
import datetime
import decimal
import fractions
import io
import json
import pickle
import pickletools
import struct
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import brinetest  # noqa: E402

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROTOCOLS = (0, 1, 2, 3, 4, 5)


class Plain:
    """A plain class: protocols 0/1 write copyreg._reconstructor, 2+ NEWOBJ."""

    def __init__(self):
        self.a = 1
        self.b = [1.5, "x"]


# ------------------------------------------------------------------ torch determinism

_orig_storage_reduce = torch.storage.TypedStorage.__reduce__


def _canonical_legacy_keys(blob):
    """torch's legacy writer names storages by memory address (serialization.py:
    str(storage._cdata)). Rename each key to a counter inside the five pickles (the raw
    storage records after them do not name keys), so output is reproducible."""
    spans = brinetest.pickle_spans(blob, limit=5)
    assert len(spans) == 5, "unexpected legacy torch layout"
    head_end = spans[-1][1]
    f = io.BytesIO(blob[spans[-1][0]:head_end])
    keys = [a for op, a, _ in pickletools.genops(f) if isinstance(a, str)]
    head = blob[:head_end]
    for i, key in enumerate(keys):
        new = "storage%d" % i
        enc = lambda s: b"X" + struct.pack("<I", len(s)) + s.encode()  # noqa: E731
        head = head.replace(enc(key), enc(new))
    return head + blob[head_end:]


def _storage_reduce(self):
    fn, (blob,) = _orig_storage_reduce(self)
    return fn, (_canonical_legacy_keys(blob),)


torch.storage.TypedStorage.__reduce__ = _storage_reduce


# ------------------------------------------------------------------ the objects

def _recursive_list():
    a = [1, "x"]
    a.append(a)
    return a


def _dict_cycle():
    a, b = {"name": "a"}, {"name": "b"}
    a["peer"], b["peer"] = b, a
    return [a, b]


def _tuple_cycle():
    holder = []
    t = (holder, 1)
    holder.append(t)
    return t


def _shared():
    x = [1, 2, "shared"]
    s = "a string seen twice"
    return {"first": x, "second": x, "more": (x, s, s), "inner": {"x": x}}


def _deep(n=200):
    v = "leaf"
    for i in range(n):
        v = [v] if i % 2 else {"k": v}
    return v


def _sklearn_model():
    from sklearn.linear_model import LogisticRegression
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1], [0.4, 0.6], [0.7, 0.2]])
    y = np.array([0, 1, 0, 1, 0, 1])
    return LogisticRegression(random_state=0).fit(x, y)


def _torch_seeded():
    torch.manual_seed(0)


def _linear_state():
    _torch_seeded()
    return torch.nn.Linear(3, 2).state_dict()


def _mlp_state():
    _torch_seeded()
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8),
                            torch.nn.Linear(8, 2))
    return m.state_dict()


def _checkpoint():
    _torch_seeded()
    m = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.ones(1, 2)).sum().backward()
    opt.step()
    return {"epoch": 3, "model": m.state_dict(), "optimizer": opt.state_dict(),
            "best": 0.25, "tags": ["tiny", "test"]}


def _tensor(dtype):
    def make():
        if dtype == torch.bool:
            return torch.tensor([True, False, True])
        if dtype.is_complex:
            return torch.tensor([1 + 2j, -0.5j], dtype=dtype)
        return torch.arange(12).reshape(3, 4).to(dtype)
    return make


def _np(dtype, shape=(2, 3)):
    def make():
        n = int(np.prod(shape))
        return (np.arange(n) % 7).astype(dtype).reshape(shape)
    return make


def _np_model():
    rng = np.random.default_rng(7)
    return {"W1": rng.standard_normal((4, 3)).astype(np.float32),
            "b1": np.zeros(3, np.float32),
            "W2": rng.standard_normal((3, 2)), "b2": np.zeros(2),
            "hyper": {"lr": 0.01, "epochs": 5, "activation": "relu", "layers": [4, 3, 2]}}


def _np_misc_arrays():
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    return {"zero_d": np.array(3.5), "one": np.ones(1, np.float32),
            "strided": a[::2, 1::2], "fortran": np.asfortranarray(a),
            "transposed": a.T, "big_endian": np.arange(5, dtype=">i4"),
            "three_d": np.arange(24, dtype=np.float64).reshape(2, 3, 4)}


def _np_structured():
    dt = np.dtype([("x", "<f4"), ("y", "<i8", (2,)), ("name", "U4")])
    return np.array([(1.5, (1, 2), "ab"), (-2.0, (3, 4), "cd")], dtype=dt)


def _np_scalars():
    return [np.float64(1.5), np.float32(-0.25), np.float16(2.0), np.int8(-3), np.int64(-2 ** 40),
            np.uint64(2 ** 64 - 1), np.bool_(True), np.complex64(1j), np.complex128(1 - 1j),
            np.str_("hé"), np.bytes_(b"ab"), np.datetime64("2020-01-01"),
            np.timedelta64(5, "s")]


def _np_dtypes():
    return [np.dtype("f4"), np.dtype(">i8"), np.dtype("U7"), np.dtype("S3"), np.dtype(object),
            np.dtype("M8[ms]"), np.dtype("m8[us]"), np.dtype("c16"),
            np.dtype([("a", "<u1"), ("b", "<f8", (3,))])]


# (name, factory, expect) - expect is "safe", "unverified" or a function of the protocol.
# Why each unverified object is unverified is in the comment beside it.
CASES = [
    ("none", lambda: None, "safe"),
    ("bools", lambda: [True, False], "safe"),
    ("ints_small", lambda: [0, 1, -1, 255, 256, 65535, 65536, -2 ** 31, 2 ** 31 - 1,
                            2 ** 31, -2 ** 31 - 1], "safe"),
    ("ints_huge", lambda: [2 ** 64, -2 ** 64, 2 ** 1000, -(2 ** 1000) + 1, 10 ** 400,
                           2 ** 2100], "safe"),
    ("floats", lambda: [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, 0.1, 1 / 3, float("nan"),
                        float("inf"), float("-inf")], "safe"),
    ("complex", lambda: [1 + 2j, complex(float("nan"), float("-inf")), -0j], "safe"),
    ("str_ascii", lambda: ["", "a", "ascii text", "line\nbreak\\back\r\x00nul\ttab"], "safe"),
    ("str_unicode", lambda: ["ünïcödé", "日本語", "ελληνικά", "\u20ac\u00a0\u2028"], "safe"),
    ("str_astral", lambda: ["😀 astral 𝄞", "\U0010ffff"], "safe"),
    ("str_surrogate", lambda: ["lone \ud800 surrogate", "\udfff"], "safe"),
    ("str_long", lambda: "x" * 70000 + "é", "safe"),
    ("bytes", lambda: [b"\x00\xff", bytes(range(256)), b"x" * 300], "safe"),
    # protocols 0-2 write b'' as builtins.bytes() (pickle.py save_bytes), which is not on
    # the default allowlist; non-empty bytes go through the allowlisted _codecs.encode
    ("bytes_empty", lambda: b"", lambda p: "unverified" if p < 3 else "safe"),
    ("bytes_big", lambda: b"\xab" * 100000, "safe"),
    ("bytearray", lambda: [bytearray(b"abc"), bytearray(), bytearray(range(256))], "safe"),
    ("tuples", lambda: [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], "safe"),
    ("lists", lambda: [[], [1], list(range(2500))], "safe"),
    ("dicts", lambda: [{}, {"a": 1}, {i: str(i) for i in range(1500)},
                       {(1, 2): None, 3.5: "f", None: b"n"}], "safe"),
    ("sets", lambda: [set(), {1, 2, 3}, {"b", "a", "c"}, set(range(1200))], "safe"),
    ("frozensets", lambda: [frozenset(), frozenset({1, 2}), frozenset({"x", (1, 2)})], "safe"),
    ("empties", lambda: [(), [], {}, set(), frozenset(), "", bytearray()],
     "safe"),
    ("nested", lambda: {"a": [1, (2, {"b": {3, 4}})], "c": {"d": [[[]]]}, "e": ((),)}, "safe"),
    ("deep", _deep, "safe"),
    ("shared_refs", _shared, "safe"),
    ("recursive_list", _recursive_list, "safe"),
    ("dict_cycle", _dict_cycle, "safe"),
    ("tuple_cycle", _tuple_cycle, "safe"),
    ("slice_range", lambda: [slice(1, 10, 2), slice(None), range(0, 100, 3), range(5)], "safe"),
    ("ordereddict", lambda: collections.OrderedDict([("b", 1), ("a", [2, 3])]), "safe"),
    ("counter", lambda: collections.Counter("abracadabra"), "safe"),
    ("config_mix", lambda: {"name": "tiny", "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                            "layers": [4, 8, 2], "flags": {"bias": True, "dropout": None},
                            "vocab": collections.OrderedDict(a=0, b=1), "seen": {1, 2}},
     "safe"),
    # numpy
    ("np_model", _np_model, "safe"),
    ("np_misc_arrays", _np_misc_arrays, "safe"),
    ("np_structured", _np_structured, "safe"),
    ("np_scalars", _np_scalars, "safe"),
    ("np_dtypes", _np_dtypes, "safe"),
    # an empty array's data is b'', which protocols 0-2 write as builtins.bytes()
    ("np_empty", lambda: np.empty((0, 3), np.float32),
     lambda p: "unverified" if p < 3 else "safe"),
    ("np_object_array", lambda: np.array([1, "a", None, 2.5, (1, 2)], dtype=object), "safe"),
    ("np_datetime", lambda: np.array(["2020-01-01T00:00", "2021-06-15T12:30"],
                                     dtype="M8[m]"), "safe"),
    ("np_shared_array", lambda: (lambda a: [a, a, {"again": a}])(np.arange(4.0)), "safe"),
] + [
    ("np_" + np.dtype(dt).name, _np(dt), "safe")
    for dt in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?", "c8",
               "c16", "U3", "S2")
] + [
    # torch, pickled raw with pickle.dumps: tensors go through torch.storage._load_from_bytes
    # and a nested legacy torch file, which brine scans
    ("torch_" + str(dt).replace("torch.", ""), _tensor(dt), "safe")
    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8,
               torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64)
] + [
    ("torch_views", lambda: (lambda t: {"base": t, "t": t.t(), "tail": t[1:], "col": t[:, 1],
                                        "scalar": torch.tensor(2.5),
                                        "empty": torch.empty(0, 3)})(torch.arange(12.).reshape(3, 4)),
     "safe"),
    ("torch_requires_grad", lambda: torch.ones(2, 2, requires_grad=True), "safe"),
    ("torch_parameter", lambda: torch.nn.Parameter(torch.arange(3.)), "safe"),
    ("torch_quantized", lambda: torch.quantize_per_tensor(torch.arange(4.), 0.5, 2, torch.quint8),
     "safe"),
    ("torch_quantized_channel",
     lambda: torch.quantize_per_channel(torch.arange(6.).reshape(2, 3), torch.tensor([0.1, 0.2]),
                                        torch.tensor([0, 1]), 0, torch.qint8), "safe"),
    ("torch_sparse_coo", lambda: torch.eye(3).to_sparse(), "safe"),
    ("torch_sparse_csr", lambda: torch.eye(3).to_sparse_csr(), "safe"),
    ("torch_meta", lambda: [torch.float32, torch.bfloat16, torch.int64, torch.Size([2, 3]),
                            torch.device("cpu"), torch.per_tensor_affine, torch.sparse_coo],
     "safe"),
    ("torch_linear_state_dict", _linear_state, "safe"),
    ("torch_mlp_state_dict", _mlp_state, "safe"),
    ("torch_checkpoint", _checkpoint, "safe"),
    # unverified: real classes outside the default policy, none of them dangerous
    ("datetime", lambda: [datetime.datetime(2020, 1, 2, 3, 4, 5, 6), datetime.date(2021, 1, 1)],
     "unverified"),
    ("datetime_tz", lambda: datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
     "unverified"),
    ("decimal", lambda: decimal.Decimal("1.10"), "unverified"),
    ("fraction", lambda: fractions.Fraction(1, 3), "unverified"),
    ("namespace", lambda: argparse.Namespace(lr=0.1, name="x"), "unverified"),
    ("deque", lambda: collections.deque([1, 2, 3], maxlen=5), "unverified"),
    ("defaultdict", lambda: collections.defaultdict(list, {"a": [1]}), "unverified"),
    ("ellipsis", lambda: [..., 1], "unverified"),
    ("plain_class", Plain, "unverified"),
    ("np_masked", lambda: np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]), "unverified"),
    ("np_matrix", lambda: np.matrix([[1, 2], [3, 4]]), "unverified"),
    ("np_recarray", lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
     "unverified"),
    ("np_random_state", lambda: np.random.RandomState(0), "unverified"),
    ("np_generator", lambda: np.random.default_rng(0), "unverified"),
    ("np_object_decimal", lambda: np.array([decimal.Decimal("1.5")], dtype=object),
     "unverified"),
    ("sklearn_logreg", _sklearn_model, "unverified"),
]


# Python-2-shaped pickles, hand-written (CPython 3 never writes STRING, BINSTRING, text
# GET or L-suffixed LONG). They cover opcodes the real picklers above never emit, for the
# dis differential. Each one is loaded back below to prove CPython accepts it.
PY2_STYLE = {
    "py2_text_ops": (b"(lp0\nS'abc'\np1\naI01\naI00\naI-42\naL12345678901234567890L\naF1.5\n"
                     b"a(dp2\nS'k'\np3\ng1\nsaVtext\\u00e9\np4\nag4\na.", "safe"),
    "py2_binstring": (b"]q\x00(U\x03abcq\x01T\x04\x00\x00\x00defgq\x02h\x01h\x02e.", "safe"),
    "py2_builtin_set": (b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.",
                        "safe"),
    "py2_dup_popmark": (b"K\x05(K\x01K\x022K\x031K\x06K\x070\x86.", "safe"),
    "py2_long_binput": (b"\x80\x02X\x01\x00\x00\x00ar\x00\x01\x00\x00j\x00\x01\x00\x00\x86.",
                        "safe"),
    "py2_reconstructor": (b"ccopy_reg\n_reconstructor\np0\n(c__main__\nPlain\np1\n"
                          b"c__builtin__\nobject\np2\nNtp3\nRp4\n(dp5\nVa\np6\nI1\nsb.",
                          "unverified"),
}


# Several pickles in one file, as legacy torch and joblib streams are.
def _concatenated():
    return {
        "concat_two": pickle.dumps(1, protocol=0) + pickle.dumps([2, "b"], protocol=2),
        "concat_mixed": (pickle.dumps({"a": np.arange(3)}, protocol=4)
                         + pickle.dumps(collections.OrderedDict(x=1), protocol=1)
                         + pickle.dumps((None, True), protocol=5)),
        "concat_unverified": pickle.dumps([1], protocol=3) + pickle.dumps(
            decimal.Decimal("2.5"), protocol=4),
    }


# ------------------------------------------------------------------ the oracle

def _outside(names):
    out = []
    for n in names:
        if not brinetest.allowed(n) and n not in out:
            out.append(n)
    return out


class _Restricted(pickle.Unpickler):
    """CPython's own unpickler, resolving only the few names the hand-written Python-2-style
    pickles above use (as spelled in them, before CPython's Python-2 mapping); anything else
    raises."""

    ALLOWED = {("__builtin__", "set"), ("__builtin__", "object"), ("copy_reg", "_reconstructor"),
               ("__main__", "Plain")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError("not allowed here: %s.%s" % (module, name))
        return Plain if module == "__main__" else super().find_class(module, name)


class _PassThrough(pickle.Unpickler):
    """Records raw names and then resolves them for real: used only on the objects this
    script has just built, never on anything from elsewhere."""

    def find_class(self, module, name):
        self.seen.append((module, name))
        return super().find_class(module, name)


def _loaded_names(data):
    names = []
    for start, _end in brinetest.pickle_spans(data):
        f = io.BytesIO(data[start:])
        first = next(pickletools.genops(io.BytesIO(data[start:])))
        proto = first[1] if first[0].name == "PROTO" else 0
        u = _PassThrough(f)
        u.seen = []
        u.load()
        for m, n in u.seen:
            m, n = brinetest.py2_map(m, n, proto)
            names.append(m + "." + n)
    return names


def _entry(name, data, expect):
    outer, nested = brinetest.static_globals(data)
    everything = outer + [n for n in nested if n not in outer]
    outside = _outside(everything)
    if (expect == "safe") != (not outside):
        sys.exit("gen_benign: %s is built as %s but the oracle finds %s outside the policy"
                 % (name, expect, outside or "nothing"))
    loaded = set(_loaded_names(data))
    if loaded != set(outer):
        sys.exit("gen_benign: %s: static oracle %s, loader %s" % (name, outer, sorted(loaded)))
    spans = brinetest.pickle_spans(data)
    assert spans and spans[-1][1] == len(data), name + ": not a clean pickle stream"
    ops = [op.name for s, _e in spans for op, _a, _p in pickletools.genops(io.BytesIO(data[s:]))]
    first = ops[0]
    return {"expect": expect, "globals_outside": outside, "globals": outer,
            "globals_nested": [n for n in nested if n not in outer],
            "protocol": None if len(spans) > 1 else (
                pickletools.genops(io.BytesIO(data)).__next__()[1] if first == "PROTO" else 0),
            "pickles": len(spans), "next_buffer": "NEXT_BUFFER" in ops}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    out = Path(ap.parse_args().outdir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}

    def emit(name, data, expect):
        fname = name + ".pkl"
        assert fname not in manifest, fname
        manifest[fname] = _entry(name, data, expect)
        (out / fname).write_bytes(data)

    for case, make, expect in CASES:
        obj = make()
        for p in PROTOCOLS:
            e = expect(p) if callable(expect) else expect
            emit("%s_p%d" % (case, p), pickle.dumps(obj, protocol=p), e)
    for case, (data, expect) in PY2_STYLE.items():
        _Restricted(io.BytesIO(data)).load()  # proves CPython accepts the hand-written shape
        emit(case, data, expect)
    for case, data in _concatenated().items():
        emit(case, data, "unverified" if case.endswith("unverified") else "safe")

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print("gen_benign: %d files (%d safe, %d unverified) in %s" % (
        len(manifest), sum(v["expect"] == "safe" for v in manifest.values()),
        sum(v["expect"] == "unverified" for v in manifest.values()), out))


if __name__ == "__main__":
    main()
