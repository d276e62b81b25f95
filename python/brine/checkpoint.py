"""Rebuild a checkpoint from brine's safetensors + JSON config, without unpickling.

`brine convert` writes a model's tensors to safetensors and everything else to a JSON config in
the typed encoding of docs/config.md: plain JSON for plain values, ``{"__type__": T, ...}`` for
what JSON cannot hold (non-string dict keys, big integers, NaN, bytes, tuples, sets, ordered
dicts with their ``_metadata``, numpy scalars and dtypes, torch dtypes, devices and sizes,
argparse namespaces, tensor references, recursive references). ``rebuild`` turns that config
and the tensors back into the original object.

Only a fixed table of known constructors is used (below); a name from the config is never
imported or looked up anywhere else, so a config can describe data but cannot run code. A
callee outside the table raises ``UnsupportedValue``.

This module is pure Python: it does not load brine's C library. torch and numpy are imported
only when the config needs them.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
from typing import Any, Callable, Dict, Mapping, Optional, Union

__all__ = ["rebuild", "load_checkpoint", "UnsupportedValue", "TYPE_KEY"]

TYPE_KEY = "__type__"


class UnsupportedValue(ValueError):
    """The config holds something this rebuilder does not construct (an unknown callee, a
    malformed typed value, a missing tensor)."""


def _torch():
    import torch  # only when the config needs it

    return torch


def _numpy():
    import numpy

    return numpy


# ------------------------------------------------------------------ globals by name

# torch dtypes, layouts and quantization schemes that torch.load(weights_only=True) admits
_TORCH_DTYPES = (
    "float64 float32 float16 bfloat16 complex128 complex64 complex32 int64 int32 int16 int8 "
    "uint8 uint16 uint32 uint64 bool qint8 quint8 qint32 quint4x2 quint2x4 float8_e4m3fn "
    "float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz double float half cfloat cdouble long int "
    "short").split()
_TORCH_OTHER = ("strided sparse_coo sparse_csr per_tensor_affine per_tensor_symmetric "
                "per_channel_affine per_channel_symmetric per_channel_affine_float_qparams").split()
_BUILTIN_TYPES = {"builtins." + t.__name__: t
                  for t in (list, dict, tuple, set, frozenset, int, float, str, bytes, bytearray,
                            bool, complex, object, slice, range)}


def _global(name: str) -> Any:
    if name in _BUILTIN_TYPES:
        return _BUILTIN_TYPES[name]
    if name == "argparse.Namespace":
        return argparse.Namespace
    if name in ("collections.OrderedDict", "collections.Counter", "collections.defaultdict"):
        return getattr(collections, name.split(".")[1])
    if name.startswith("torch."):
        short = name[len("torch."):]
        if short in _TORCH_DTYPES or short in _TORCH_OTHER:
            value = getattr(_torch(), short, None)
            if value is not None:
                return value
    m = re.fullmatch(r"numpy\.dtypes\.([A-Za-z0-9]+DType)", name)
    if m:
        cls = getattr(getattr(_numpy(), "dtypes", None), m.group(1), None)
        if isinstance(cls, type) and issubclass(cls, _numpy().dtype):
            return cls
    raise UnsupportedValue("global %r is not in the rebuilder's table" % name)


# ------------------------------------------------------------------ constructors by name

_NUMPY_CODE = re.compile(r"[<>|=]?(b1|[iuf][1248]|f16|c8|c16|c32|\?|[bBhHiIlLqQefdgFDG])")


def _numpy_dtype(args, state):
    if not args or not isinstance(args[0], str) or not _NUMPY_CODE.fullmatch(args[0]):
        raise UnsupportedValue("numpy.dtype%r: only plain numeric dtypes" % (tuple(args),))
    dt = _numpy().dtype(args[0])
    if state is not None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in "<>|=" or \
                any(s is not None for s in state[2:5]):
            raise UnsupportedValue("numpy.dtype state %r: only a byte order" % (state,))
        if state[1] in "<>" and dt.itemsize > 1:
            dt = dt.newbyteorder(state[1])
    return dt


def _numpy_scalar(args):
    np = _numpy()
    if len(args) != 2 or not isinstance(args[0], np.dtype) or args[0].hasobject or \
            not isinstance(args[1], (bytes, bytearray)) or len(args[1]) != args[0].itemsize:
        raise UnsupportedValue("numpy scalar: expected (dtype, itemsize bytes)")
    return np.frombuffer(bytes(args[1]), dtype=args[0], count=1)[0]


def _defaultdict(args):
    factory = args[0] if args else None
    if factory is not None and factory not in (list, dict, set, int, float, str, tuple):
        raise UnsupportedValue("defaultdict factory %r" % (factory,))
    return collections.defaultdict(factory)


def _reconstructor(args):
    # copyreg._reconstructor(cls, base, state): protocols 0-1 instances
    if len(args) != 3 or args[1] is not object or args[2] is not None or \
            args[0] not in (argparse.Namespace,):
        raise UnsupportedValue("copyreg._reconstructor%r" % (tuple(args),))
    return object.__new__(args[0])


def _check_args(name, args, lo, hi):
    if not lo <= len(args) <= hi:
        raise UnsupportedValue("%s takes %d to %d arguments, the config gives %d"
                               % (name, lo, hi, len(args)))
    return args


# name -> (build(args) for REDUCE/INST, build(args) for NEWOBJ or None, accepts dict state)
_SIMPLE = {
    "builtins.set": (set, 0, 1), "builtins.frozenset": (frozenset, 0, 1),
    "builtins.bytearray": (bytearray, 0, 3), "builtins.bytes": (bytes, 0, 3),
    "builtins.complex": (complex, 0, 2), "builtins.slice": (slice, 1, 3),
    "builtins.range": (range, 1, 3), "builtins.list": (list, 0, 1),
    "builtins.tuple": (tuple, 0, 1), "builtins.dict": (dict, 0, 1),
    "builtins.int": (int, 0, 2), "builtins.float": (float, 0, 1), "builtins.str": (str, 0, 3),
    "builtins.bool": (bool, 0, 1),
    "collections.OrderedDict": (collections.OrderedDict, 0, 1),
    "collections.Counter": (collections.Counter, 0, 1),
}
_DICT_STATE = (argparse.Namespace, collections.OrderedDict, collections.Counter,
               collections.defaultdict)


def _construct(callee: str, how: str, args: tuple, state_given: bool, state: Any) -> Any:
    if callee in _SIMPLE:
        fn, lo, hi = _SIMPLE[callee]
        _check_args(callee, args, lo, hi)
        obj = fn.__new__(fn, *args) if how == "newobj" and fn in (set, frozenset) else fn(*args)
    elif callee == "argparse.Namespace":
        obj = argparse.Namespace() if how == "newobj" and not args else argparse.Namespace()
        if args:
            raise UnsupportedValue("argparse.Namespace with positional arguments")
    elif callee == "collections.defaultdict":
        obj = _defaultdict(_check_args(callee, args, 0, 1))
    elif callee == "copyreg._reconstructor":
        obj = _reconstructor(args)
    elif callee == "torch.Size":
        obj = _torch().Size(*_check_args(callee, args, 0, 1))
    elif callee == "torch.device":
        if not all(isinstance(a, (str, int)) for a in _check_args(callee, args, 1, 2)):
            raise UnsupportedValue("torch.device%r" % (tuple(args),))
        obj = _torch().device(*args)
    elif callee == "numpy.dtype":
        return _numpy_dtype(_check_args(callee, args, 1, 3), state if state_given else None)
    elif callee in ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"):
        obj = _numpy_scalar(args)
    else:
        raise UnsupportedValue("callee %r is not in the rebuilder's table" % callee)
    if state_given:
        _set_state(obj, state)
    return obj


def _set_state(obj, state):
    """BUILD without __setstate__: a dict (and, in a pair, slot values) set as attributes, only
    on the classes of the table that have a __dict__."""
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    if not isinstance(obj, _DICT_STATE) or (state is not None and not isinstance(state, dict)) \
            or (slots is not None and not isinstance(slots, dict)):
        raise UnsupportedValue("BUILD state on %s" % type(obj).__name__)
    for src in (state or {}), (slots or {}):
        for k, v in src.items():
            if not isinstance(k, str):
                raise UnsupportedValue("attribute name %r" % (k,))
            setattr(obj, k, v)


# ------------------------------------------------------------------ the decoder

class _Rebuilder:
    def __init__(self, tensors: Mapping[str, Any], framework: str):
        self.tensors = tensors
        self.framework = framework
        self.memo: Dict[int, Any] = {}

    def value(self, x):
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [self.value(v) for v in x]
        if not isinstance(x, dict):
            raise UnsupportedValue("not a JSON value: %r" % type(x).__name__)
        t = x.get(TYPE_KEY)
        if t is None:
            return {k: self.value(v) for k, v in x.items()}
        handler = self._TYPES.get(t) if isinstance(t, str) else None
        if handler is None:
            raise UnsupportedValue("unknown %s %r" % (TYPE_KEY, t))
        ident = x.get("id")
        if ident is not None and not isinstance(ident, int):
            raise UnsupportedValue("id %r" % (ident,))
        obj = handler(self, x, ident)
        if ident is not None:
            self.memo[ident] = obj  # the finished value (a tuple is registered only now)
        return obj

    def _register(self, ident, obj):
        """A container is registered before its contents are rebuilt, so that a reference
        from inside it (recursion) finds it."""
        if ident is not None:
            self.memo[ident] = obj

    @staticmethod
    def _field(x, name, kind):
        if name not in x or not isinstance(x[name], kind):
            raise UnsupportedValue("%s %r: field %r missing or not %s"
                                   % (TYPE_KEY, x.get(TYPE_KEY), name, kind))
        return x[name]

    def _hex(self, x):
        try:
            return bytes.fromhex(self._field(x, "hex", str))
        except ValueError:
            raise UnsupportedValue("bad hex in %r" % x.get(TYPE_KEY)) from None

    # each returns the Python value of one typed object
    def _int(self, x, ident):
        if "value" in x:
            v = self._field(x, "value", str)
            if not re.fullmatch(r"-?[0-9]+", v):
                raise UnsupportedValue("int %r" % v)
            return int(v)
        return int.from_bytes(bytes.fromhex(self._field(x, "le_hex", str)), "little", signed=True)

    def _float(self, x, ident):
        v = self._field(x, "value", str)
        if v not in ("nan", "inf", "-inf"):
            raise UnsupportedValue("float %r" % v)
        return float(v)

    def _str(self, x, ident):
        return self._hex(x).decode("utf-8", "surrogatepass")

    def _bytes(self, x, ident):
        return self._hex(x)

    def _bytearray(self, x, ident):
        out = bytearray(self._hex(x))
        self._register(ident, out)
        return out

    def _list(self, x, ident):
        items = self._field(x, "items", list)
        out = []
        self._register(ident, out)
        out.extend(self.value(v) for v in items)
        if "state" in x:
            raise UnsupportedValue("BUILD state on a list")
        return out

    def _immutable(self, kind):
        def build(self, x, ident):
            items = [self.value(v) for v in self._field(x, "items", list)]
            if "state" in x:
                raise UnsupportedValue("BUILD state on a %s" % kind.__name__)
            return kind(items)
        return build

    def _set(self, x, ident):
        out = set()
        self._register(ident, out)
        out.update(self.value(v) for v in self._field(x, "items", list))
        return out

    def _fill_pairs(self, out, pairs):
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise UnsupportedValue("dict item is not a [key, value] pair")
            out[self.value(pair[0])] = self.value(pair[1])

    def _dict(self, x, ident):
        out = {}
        self._register(ident, out)
        self._fill_pairs(out, self._field(x, "items", list))
        if "state" in x:
            raise UnsupportedValue("BUILD state on a dict")
        return out

    def _fill_dict(self, out, value):
        """A dict value (plain object or typed dict) poured into out, in order."""
        if isinstance(value, dict) and TYPE_KEY not in value:
            for k, v in value.items():
                out[k] = self.value(v)
        elif isinstance(value, dict) and value.get(TYPE_KEY) == "dict":
            self._fill_pairs(out, self._field(value, "items", list))
        else:
            raise UnsupportedValue("expected a dict value")

    def _dict_class(self, cls):
        def build(self, x, ident):
            out = cls()
            self._register(ident, out)
            self._fill_dict(out, x.get("value", {}))
            if "state" in x:
                _set_state(out, self.value(x["state"]))
            return out
        return build

    def _global(self, x, ident):
        return _global(self._field(x, "name", str))

    def _object(self, x, ident):
        callee = self._field(x, "callee", str)  # a callee that is not a plain name: unsupported
        how = x.get("how", "reduce")
        if how not in ("reduce", "newobj", "inst"):
            raise UnsupportedValue("object how=%r" % how)
        args = x.get("args", [])
        args = tuple(self.value(a) for a in args) if isinstance(args, list) else self.value(args)
        if not isinstance(args, tuple):
            raise UnsupportedValue("%s: arguments are not a tuple" % callee)
        if x.get("kwargs"):
            raise UnsupportedValue("%s: keyword arguments" % callee)
        obj = _construct(callee, how, args, False, None)
        self._register(ident, obj)
        # the order of the pickle (and of the JSON): items (SETITEMS), then BUILD state
        items = x.get("items")
        if items:
            if not isinstance(obj, dict) or not isinstance(items, list) or len(items) % 2:
                raise UnsupportedValue("%s: SETITEMS/APPENDS items on this object" % callee)
            vals = [self.value(v) for v in items]
            for k, v in zip(vals[0::2], vals[1::2]):
                obj[k] = v
        if "state" in x:
            state = self.value(x["state"])
            if callee == "numpy.dtype":
                obj = _numpy_dtype(args, state)
            else:
                _set_state(obj, state)
        return obj

    def _tensor_data(self, x):
        name = self._field(x, "name", str)
        if name not in self.tensors:
            raise UnsupportedValue("tensor %r is not in the weights" % name)
        return self.tensors[name]

    def _same_as(self, x):
        ident = x["same_as"]
        if not isinstance(ident, int) or ident not in self.memo:
            raise UnsupportedValue("same_as %r: no such tensor before it" % (ident,))
        return self.memo[ident]

    def _tensor(self, x, ident):
        if "same_as" in x:  # tied weights: the very same object as the first occurrence
            return self._same_as(x)
        t = self._tensor_data(x)
        if "qparams" in x:
            raise UnsupportedValue("quantized tensor %r: not rebuilt" % x["name"])
        if self.framework != "pt":
            return t
        torch = _torch()
        if not isinstance(t, torch.Tensor):
            t = torch.from_numpy(t)
        if x.get("parameter"):
            return torch.nn.Parameter(t, requires_grad=bool(x.get("requires_grad")))
        if x.get("requires_grad"):
            t.requires_grad_(True)
        return t

    def _ndarray(self, x, ident):
        if "same_as" in x:
            return self._same_as(x)
        t = self._tensor_data(x)
        if hasattr(t, "numpy") and not isinstance(t, _numpy().ndarray):
            t = t.numpy()
        if x.get("byteorder") == ">":  # stored little-endian; the original was big-endian
            t = t.astype(t.dtype.newbyteorder(">"))
        return t

    def _ref(self, x, ident):
        # "value" repeats the contents for readers that do not resolve references
        if ident not in self.memo:
            raise UnsupportedValue("reference %r to no value rebuilt before it (or into a "
                                   "value that cannot hold itself, a tuple)" % (ident,))
        return self.memo[ident]

    def _unsupported(self, x, ident):
        raise UnsupportedValue("%s %r is not rebuilt" % (TYPE_KEY, x.get(TYPE_KEY)))

    _TYPES: Dict[str, Callable] = {}


_Rebuilder._TYPES = {
    "int": _Rebuilder._int, "float": _Rebuilder._float, "str": _Rebuilder._str,
    "pystr": _Rebuilder._bytes, "bytes": _Rebuilder._bytes, "bytearray": _Rebuilder._bytearray,
    "list": _Rebuilder._list, "tuple": _Rebuilder._immutable(None, tuple),
    "frozenset": _Rebuilder._immutable(None, frozenset), "set": _Rebuilder._set,
    "dict": _Rebuilder._dict,
    "collections.OrderedDict": _Rebuilder._dict_class(None, collections.OrderedDict),
    "collections.Counter": _Rebuilder._dict_class(None, collections.Counter),
    "global": _Rebuilder._global, "object": _Rebuilder._object,
    "tensor": _Rebuilder._tensor, "ndarray": _Rebuilder._ndarray,
    "ref": _Rebuilder._ref,
    "persid": _Rebuilder._unsupported, "ext": _Rebuilder._unsupported,
    "buffer": _Rebuilder._unsupported,
}


def rebuild(config: Union[str, bytes, Any], tensors: Mapping[str, Any],
            framework: str = "pt") -> Any:
    """The original object from a brine config (JSON text, or already parsed) and its tensors
    (name -> torch.Tensor or numpy array). framework "pt" gives torch tensors (Parameters where
    the file had them), "np" numpy arrays. Raises UnsupportedValue for anything outside the
    rebuilder's fixed table."""
    if isinstance(config, (str, bytes, bytearray)):
        config = json.loads(config)
    if framework not in ("pt", "np"):
        raise ValueError("framework must be 'pt' or 'np'")
    try:
        return _Rebuilder(tensors, framework).value(config)
    except RecursionError:
        raise UnsupportedValue("config nested too deeply for this interpreter") from None


def _config_path_for(weights: str) -> str:
    for ext in (".safetensors.index.json", ".safetensors"):
        if weights.endswith(ext):
            return weights[:-len(ext)] + ".config.json"
    return weights + ".config.json"


def _load_tensors(path: str, framework: str, aliases: Dict[str, str]) -> Dict[str, Any]:
    """The file's tensors; names `brine convert --dedup` stored once are listed in the metadata
    key "brine.aliases" ({"alias": "stored name"}) and come back as views of the stored tensor
    (the same memory, as in the original)."""
    from safetensors import safe_open
    if framework == "pt":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file
    tensors = load_file(path)
    with safe_open(path, framework="pt" if framework == "pt" else "np") as f:
        meta = f.metadata() or {}
    if "brine.aliases" in meta:
        aliases.update(json.loads(meta["brine.aliases"]))
    return tensors


def _retie(tensors: Dict[str, Any], aliases: Dict[str, str], framework: str) -> None:
    for alias, kept in aliases.items():
        if alias not in tensors and kept in tensors:
            t = tensors[kept]
            tensors[alias] = t.view(t.shape) if framework == "pt" else t.view()


def load_checkpoint(weights: Union[str, os.PathLike], config: Union[str, os.PathLike, None] = None,
                    framework: str = "pt") -> Any:
    """Rebuilds what `brine convert` converted: weights is the .safetensors file (or a
    model.safetensors.index.json of shards), config the JSON config beside it (default: the
    weights' name with .safetensors replaced by .config.json)."""
    weights = os.fspath(weights)
    cfg = os.fspath(config) if config is not None else _config_path_for(weights)
    shards = []
    if weights.endswith(".index.json"):
        with open(weights, encoding="utf-8") as f:
            index = json.load(f)
        base = os.path.dirname(weights)
        tensors: Dict[str, Any] = {}
        aliases: Dict[str, str] = {}
        shards = sorted(set(index["weight_map"].values()))
        for shard in shards:
            if os.path.basename(shard) != shard:
                raise ValueError("shard %r is not a file name beside the index" % shard)
            tensors.update(_load_tensors(os.path.join(base, shard), framework, aliases))
        extra = index.get("metadata", {}).get("brine.aliases")
        if isinstance(extra, dict):
            aliases.update(extra)
    else:
        aliases = {}
        tensors = _load_tensors(weights, framework, aliases)
    _retie(tensors, aliases, framework)
    if shards and config is None and not os.path.exists(cfg):
        # `brine convert DIR` wrote one config per shard (each that shard's state dict):
        # the checkpoint is their union, in shard order
        merged = None
        for shard in shards:
            with open(_config_path_for(os.path.join(base, shard)), encoding="utf-8") as f:
                part = rebuild(f.read(), tensors, framework)
            if not isinstance(part, dict):
                raise UnsupportedValue("shard %r: its config is not a dict" % shard)
            merged = part if merged is None else merged
            if part is not merged:
                merged.update(part)
        return merged
    with open(cfg, encoding="utf-8") as f:
        text = f.read()
    return rebuild(text, tensors, framework)
