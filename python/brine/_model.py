"""Safe loading: brine.safe_open, load_state_dict, inspect, diff, convert.

Everything here goes through brine_model_open, which scans the file first and refuses anything
the policy does not allow, then rebuilds tensors with brine's own code: no pickle is run.
"""

from __future__ import annotations

import ctypes
import json
import mmap as _mmap
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import _lib
from ._errors import UnsupportedError, UsageError
from ._scan import PathLike

# safetensors dtype spelling -> numpy dtype name, for the types numpy has. The others (bfloat16,
# float8) are carried as same-width unsigned integers in numpy, or through ml_dtypes if present.
_NUMPY = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
          "F16": "float16", "I32": "int32", "U32": "uint32", "F32": "float32",
          "C64": "complex64", "F64": "float64", "I64": "int64", "U64": "uint64",
          "C128": "complex128"}
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
              "F8_E8M0": "float8_e8m0fnu", "F8_E4M3FNUZ": "float8_e4m3fnuz",
              "F8_E5M2FNUZ": "float8_e5m2fnuz"}
_TORCH = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
          "F16": "float16", "BF16": "bfloat16", "I32": "int32", "U32": "uint32",
          "F32": "float32", "C64": "complex64", "F64": "float64", "I64": "int64",
          "U64": "uint64", "C128": "complex128", "F8_E4M3": "float8_e4m3fn",
          "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
          "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz"}


def _numpy_dtype(st_dtype: str, itemsize: int):
    import numpy as np
    if st_dtype in _NUMPY:
        return np.dtype(_NUMPY[st_dtype]).newbyteorder("<")
    if st_dtype in _ML_DTYPES:
        try:
            import ml_dtypes
            return np.dtype(getattr(ml_dtypes, _ML_DTYPES[st_dtype]))
        except (ImportError, AttributeError):
            return np.dtype(f"<u{itemsize}")
    raise UnsupportedError(f"dtype {st_dtype} has no numpy equivalent", 7)


class _Model:
    """An open brine_model. Freed only when nothing refers to it any more: zero-copy arrays
    keep it alive, since their memory is its read-only mapping of the file."""

    def __init__(self, path: PathLike, allow: Iterable[str] = (),
                 limits: Optional[Mapping[str, int]] = None, mmap: bool = False) -> None:
        self.handle = None
        self.cow = None
        self.lib = _lib.lib()
        # mmap=True: our own copy-on-write mapping of the file, opened BEFORE brine maps the
        # path and checked to be the same file afterwards, so tensors built over it hold the
        # bytes brine judged (as long as nobody writes the file in place: then, as with
        # torch.load(mmap=True), the mapping sees the change).
        own = open(path, "rb") if mmap else None
        policy = _lib.Policy(allow)
        try:
            lim = _lib.make_limits(limits)
            opts = _lib.LoadOptions(policy.handle,
                                    ctypes.pointer(lim) if lim is not None else None)
            handle, err = ctypes.c_void_p(), _lib.Error()
            _lib.check(self.lib.brine_model_open(_lib.fspath_bytes(path), ctypes.byref(opts),
                                                 ctypes.byref(handle), ctypes.byref(err)), err)
            self.handle = handle
            if own is not None:
                self.cow = _cow_map(own, path)
        finally:
            policy.close()
            if own is not None:
                own.close()
        self.format = self.lib.brine_model_format(self.handle).decode()
        self.infos: List[_lib.TensorInfo] = []
        self.index: Dict[str, int] = {}
        for i in range(self.lib.brine_model_tensor_count(self.handle)):
            info, err = _lib.TensorInfo(), _lib.Error()
            _lib.check(self.lib.brine_model_tensor(self.handle, i, ctypes.byref(info),
                                                   ctypes.byref(err)), err)
            self.infos.append(info)
            name = info.name.decode("utf-8", "surrogateescape")
            if name in self.index:
                # {"a": {"b.c": t}, "a.b": {"c": u}}: both are "a.b.c"; refuse, as convert does,
                # rather than hand out one of them under a name that means both
                raise UnsupportedError(f"two tensors are named {name!r} (nested keys joined "
                                       "with '.')", 7)
            self.index[name] = i

    def __del__(self) -> None:
        if getattr(self, "handle", None):
            self.lib.brine_model_free(self.handle)
            self.handle = None

    def file_offset(self, i: int) -> Optional[int]:
        """Tensor i's byte offset in the file, or None when the file does not hold it as is."""
        offset, err = ctypes.c_uint64(), _lib.Error()
        st = self.lib.brine_model_tensor_file_offset(self.handle, i, ctypes.byref(offset),
                                                     ctypes.byref(err))
        if st == 7:  # BRINE_ERR_UNSUPPORTED: a view, swapped or compressed
            return None
        _lib.check(st, err)
        return offset.value

    def config_json(self) -> str:
        return self.lib.brine_model_config_json(self.handle).decode("utf-8")

    def shape(self, i: int) -> Tuple[int, ...]:
        info = self.infos[i]
        return tuple(info.shape[k] for k in range(info.ndim))

    def raw(self, i: int, copy: bool):
        """Tensor i's C-order little-endian bytes as a 1-D uint8 numpy array: a read-only view
        of the mapped file when brine exposes one and copy is False, else a fresh copy."""
        import numpy as np
        info = self.infos[i]
        n = info.nbytes
        if n == 0:
            return np.empty(0, dtype=np.uint8)
        if info.data and not copy:
            # A ctypes array subclass can hold a reference to the model; the read-only
            # memoryview stops numpy (and anyone) from writing to the PROT_READ mapping.
            buf_type = type("_Mapped", (ctypes.c_uint8 * n,), {})
            buf = buf_type.from_address(info.data)
            buf.model = self
            return np.frombuffer(memoryview(buf).cast("B").toreadonly(), dtype=np.uint8)
        out = np.empty(n, dtype=np.uint8)
        if info.data:
            ctypes.memmove(out.ctypes.data, info.data, n)
        else:
            err = _lib.Error()
            _lib.check(self.lib.brine_model_tensor_read(self.handle, i, out.ctypes.data, n,
                                                        ctypes.byref(err)), err)
        return out

    def numpy(self, i: int, copy: bool = False):
        info = self.infos[i]
        dtype = _numpy_dtype(info.dtype.decode(), info.itemsize)
        return self.raw(i, copy).view(dtype).reshape(self.shape(i))

    def strides(self, i: int) -> Tuple[int, ...]:
        info = self.infos[i]
        return tuple(info.strides[k] for k in range(info.ndim))

    def plain_layout(self, i: int) -> bool:
        """Tensor i is C-contiguous from the start of its storage (a fresh copy is the same)."""
        want, step = [], 1
        for n in reversed(self.shape(i)):
            want.append(step)
            step *= max(n, 1)
        return self.infos[i].storage_offset == 0 and \
            all(n <= 1 or st == w for n, st, w in zip(self.shape(i), self.strides(i),
                                                       reversed(want)))

    def torch_dtype(self, i: int):
        import torch
        info = self.infos[i]
        name = _TORCH.get(info.dtype.decode())
        tdtype = getattr(torch, name, None) if name else None
        if tdtype is None:
            raise UnsupportedError(f"dtype {info.dtype.decode()} has no equivalent in torch "
                                   f"{torch.__version__}", 7)
        return tdtype

    def torch(self, i: int):
        import torch
        info = self.infos[i]
        tdtype = self.torch_dtype(i)
        if info.nbytes == 0:
            return torch.empty(self.shape(i), dtype=tdtype)
        offset = self.file_offset(i) if self.cow is not None else None
        if offset is not None and offset % max(info.itemsize, 1) == 0:
            # Over the private copy-on-write mapping: no copy, writable, and a write changes
            # only this process's pages, never the file.
            raw = torch.frombuffer(self.cow, dtype=torch.uint8, count=info.nbytes,
                                   offset=offset)
            if tdtype is not torch.uint8:
                raw = raw.view(tdtype)
            return raw.reshape(self.shape(i))
        # Always a copy: torch has no read-only tensors, and a write into the PROT_READ mapping
        # would kill the process. The bytes are copied straight into the tensor's memory and
        # viewed as the dtype, so bfloat16 and float8 need no numpy type.
        raw = torch.empty(info.nbytes, dtype=torch.uint8)
        if info.data:
            ctypes.memmove(raw.data_ptr(), info.data, info.nbytes)
        else:
            err = _lib.Error()
            _lib.check(self.lib.brine_model_tensor_read(self.handle, i, raw.data_ptr(),
                                                        info.nbytes, ctypes.byref(err)), err)
        if tdtype is not torch.uint8:
            raw = raw.view(tdtype)
        return raw.reshape(self.shape(i))

    def torch_shared(self, members: List[int]) -> Dict[int, Any]:
        """Tensors that share one storage in the file, as views of one torch storage, the way
        torch.load returns them: over the copy-on-write mapping when the file holds the
        storage as is, else over a storage their bytes are copied into (as long as the views
        reach, not the file's whole storage). Also for one tensor whose strides or storage
        offset a copy would not keep. {} when they cannot share one (dtypes differ, all are
        empty): then each is a copy of its own."""
        import torch
        infos = [self.infos[i] for i in members]
        if any(x.dtype != infos[0].dtype for x in infos) or not any(x.nbytes for x in infos):
            return {}
        tdtype, itemsize = self.torch_dtype(members[0]), infos[0].itemsize
        layout = {i: (self.shape(i), self.strides(i), self.infos[i].storage_offset)
                  for i in members}
        extent = max(off + sum((n - 1) * st for n, st in zip(shape, strides)) + 1
                     for i, (shape, strides, off) in layout.items() if self.infos[i].nbytes)
        storage = None
        for i in members if self.cow is not None else ():
            at = self.file_offset(i) if self.infos[i].nbytes else None
            if at is None:
                continue
            # the storage starts storage_offset elements before the first element
            base = at - layout[i][2] * itemsize
            if base >= 0 and base % itemsize == 0 and base + extent * itemsize <= len(self.cow):
                storage = torch.frombuffer(self.cow, dtype=torch.uint8, count=extent * itemsize,
                                           offset=base)
            break
        copied = storage is None
        if copied:
            storage = torch.zeros(extent * itemsize, dtype=torch.uint8)
        flat = storage.view(tdtype) if tdtype is not torch.uint8 else storage
        views = {i: flat.as_strided(*layout[i]) for i in members}
        if copied:
            for i, view in views.items():
                if self.infos[i].nbytes:
                    _write_view(view, self.torch(i))
        return views

    def sha256(self, i: int) -> str:
        digest, err = (ctypes.c_uint8 * 32)(), _lib.Error()
        _lib.check(self.lib.brine_model_tensor_sha256(self.handle, i, ctypes.byref(digest),
                                                      ctypes.byref(err)), err)
        return bytes(digest).hex()


def _write_view(view, values) -> None:
    """Stores values into view, a strided view of a fresh storage. A broadcast dimension
    (stride 0) is written once: torch refuses to copy into it, and its places hold one value.
    Windows that overlap otherwise are copied into as they are (equal values land on shared
    places)."""
    for dim, (n, step) in enumerate(zip(view.shape, view.stride())):
        if step == 0 and n > 1:
            view, values = view.narrow(dim, 0, 1), values.narrow(dim, 0, 1)
    view.copy_(values)


def _cow_map(own, path):
    before = os.fstat(own.fileno())
    after = os.stat(path)
    if (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns) != \
            (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns):
        from ._errors import BrineIOError
        raise BrineIOError(f"{os.fsdecode(os.fspath(path))} changed while it was opened", 4)
    if before.st_size == 0:
        return None
    return _mmap.mmap(own.fileno(), 0, access=_mmap.ACCESS_COPY)


class safe_open:
    """Opens a model file for reading its tensors, like `safetensors.safe_open`, for every
    format brine loads (PyTorch zip and legacy checkpoints, pickles of tensors and arrays,
    joblib, npy/npz, safetensors, ...). The file is scanned first: anything not `safe` under
    the policy (widened by `allow`) raises PolicyError, an invalid file MalformedError.

    framework="np" returns numpy arrays: read-only and zero-copy over the mapped file when the
    tensor is stored contiguous and uncompressed, copies otherwise (bfloat16/float8 as
    ml_dtypes types when ml_dtypes is installed, else as same-width unsigned integers).
    framework="pt" returns torch tensors: copies (torch has no read-only tensors), or with
    mmap=True tensors over a private copy-on-write mapping of the file where the file holds
    them as is (no copy; writable; writes never reach the file), like torch.load(mmap=True);
    then two get_tensor calls for one name share memory, as both view the same mapping.

        with brine.safe_open("pytorch_model.bin", framework="pt") as f:
            for name in f.keys():
                t = f.get_tensor(name)
    """

    def __init__(self, path: PathLike, framework: str = "np", device: str = "cpu",
                 allow: Iterable[str] = (), limits: Optional[Mapping[str, int]] = None,
                 mmap: bool = False) -> None:
        if framework in ("numpy",):
            framework = "np"
        if framework in ("torch", "pytorch"):
            framework = "pt"
        if framework not in ("np", "pt"):
            raise UsageError(f"framework must be 'np' or 'pt', not {framework!r}", 5)
        if device != "cpu" and framework == "np":
            raise UsageError("numpy arrays live on the cpu", 5)
        self.framework = framework
        self.device = device
        self._model: Optional[_Model] = _Model(path, allow, limits,
                                               mmap=mmap and framework == "pt")

    def __enter__(self) -> "safe_open":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Drops this handle's reference; zero-copy arrays still alive keep the mapping."""
        self._model = None

    def _m(self) -> _Model:
        if self._model is None:
            raise UsageError("the file is closed", 5)
        return self._model

    @property
    def format(self) -> str:
        """brine's name of the container format ("pytorch-zip", "pickle", "safetensors", ...)."""
        return self._m().format

    def keys(self) -> List[str]:
        """Tensor names (nested keys joined with '.'), in the order the file holds them."""
        return list(self._m().index)

    def __contains__(self, name: str) -> bool:
        return name in self._m().index

    def __len__(self) -> int:
        return len(self._m().index)

    def _find(self, name: str) -> int:
        try:
            return self._m().index[name]
        except KeyError:
            raise KeyError(name) from None

    def get_tensor(self, name: str):
        """The tensor called `name` as a numpy array or torch tensor (see the class doc)."""
        i = self._find(name)
        if self.framework == "np":
            return self._m().numpy(i)
        t = self._m().torch(i)
        return t if self.device == "cpu" else t.to(self.device)

    def get_dtype(self, name: str) -> str:
        return self._m().infos[self._find(name)].dtype.decode()

    def get_shape(self, name: str) -> Tuple[int, ...]:
        return self._m().shape(self._find(name))

    def metadata(self) -> Dict[str, str]:
        """String metadata, as safetensors returns it: {"format": brine's format name,
        "config": the JSON text of the non-tensor values (brine_model_config_json)}."""
        return {"format": self._m().format, "config": self._m().config_json()}

    def config(self) -> Any:
        """The non-tensor values as parsed JSON; each tensor appears as {"__tensor__": name}."""
        return json.loads(self._m().config_json())


def load_state_dict(path: PathLike, allow: Iterable[str] = (),
                    limits: Optional[Mapping[str, int]] = None, map_location=None,
                    mmap: bool = False) -> Any:
    """A drop-in for `torch.load(path, weights_only=True)` built without unpickling: the same
    nested structure (dicts, lists, scalars, strings) with real torch.Tensors. Anything
    torch.load(weights_only=True) would refuse raises PolicyError (or MalformedError).
    Tensors are fresh copies — or with mmap=True, as torch.load(mmap=True), views of a private
    copy-on-write mapping of the file wherever the file holds them as is. Tensors that share a
    storage in the file (views, tied weights) share one here too, with the same strides and
    storage offsets; that storage holds what the views reach, not always the file's whole
    storage."""
    model = _Model(path, allow, limits, mmap=mmap)
    by_storage: Dict[int, List[int]] = {}
    for i in model.index.values():
        by_storage.setdefault(model.infos[i].storage, []).append(i)
    shared: Dict[int, Any] = {}
    for members in by_storage.values():
        if len(members) > 1 or not model.plain_layout(members[0]):
            shared.update(model.torch_shared(members))
    tensors = {name: shared[i] if i in shared else model.torch(i)
               for name, i in model.index.items()}
    if map_location is not None:
        tensors = {k: v.to(map_location) for k, v in tensors.items()}
    from .checkpoint import rebuild
    return rebuild(model.config_json(), tensors)


def inspect(path: PathLike, hash: bool = False, allow: Iterable[str] = (),
            limits: Optional[Mapping[str, int]] = None) -> Dict[str, Any]:
    """What `brine inspect --format json` prints, as a dict: {"path", "format", "tensors":
    [{"name", "dtype", "shape"[, "sha256"]}], "values": the non-tensor values}."""
    model = _Model(path, allow, limits)
    tensors = []
    for i, info in enumerate(model.infos):
        t: Dict[str, Any] = {"name": info.name.decode("utf-8", "surrogateescape"),
                             "dtype": info.dtype.decode(), "shape": list(model.shape(i))}
        if hash:
            t["sha256"] = model.sha256(i)
        tensors.append(t)
    return {"path": os.fsdecode(os.fspath(path)), "format": model.format, "tensors": tensors,
            "values": json.loads(model.config_json())}


def diff(a: PathLike, b: PathLike, allow: Iterable[str] = (),
         limits: Optional[Mapping[str, int]] = None) -> Dict[str, Any]:
    """Compares the tensors of two model files, as `brine diff` does: by name, dtype, shape and
    element bytes (SHA-256 of the C-order little-endian bytes). Returns {"identical": bool,
    "only_a", "only_b": [names], "different": [{"name", "what", "a", "b"}],
    "values_differ": bool} (differing non-tensor values do not make files non-identical)."""
    ma, mb = _Model(a, allow, limits), _Model(b, allow, limits)
    only_a = [n for n in ma.index if n not in mb.index]
    only_b = [n for n in mb.index if n not in ma.index]
    different = []
    for name, i in ma.index.items():
        j = mb.index.get(name)
        if j is None:
            continue
        da, db = ma.infos[i].dtype.decode(), mb.infos[j].dtype.decode()
        if da != db:
            different.append({"name": name, "what": "dtype", "a": da, "b": db})
        elif ma.shape(i) != mb.shape(j):
            different.append({"name": name, "what": "shape", "a": list(ma.shape(i)),
                              "b": list(mb.shape(j))})
        elif ma.sha256(i) != mb.sha256(j):
            different.append({"name": name, "what": "values", "a": ma.sha256(i),
                              "b": mb.sha256(j)})
    values_differ = json.loads(ma.config_json()) != json.loads(mb.config_json())
    return {"identical": not (only_a or only_b or different), "only_a": only_a,
            "only_b": only_b, "different": different, "values_differ": values_differ}


def _same_file(x: str, y: str) -> bool:
    try:
        return os.path.samefile(x, y)
    except OSError:
        return os.path.abspath(x) == os.path.abspath(y)


def convert(src: PathLike, dst: PathLike, config_path: Optional[PathLike] = None,
            force: bool = False, no_sync: bool = False, allow: Iterable[str] = (),
            limits: Optional[Mapping[str, int]] = None) -> Tuple[str, str]:
    """Converts a model file into safetensors `dst` plus a JSON config of its non-tensor values
    (default: dst with .safetensors replaced by .config.json), as `brine convert` does. Both
    are written atomically; nothing is written on failure. Refuses (UsageError) to write over
    src. Returns (dst, config_path)."""
    src_s, dst_s = os.fsdecode(os.fspath(src)), os.fsdecode(os.fspath(dst))
    if config_path is None:
        base = dst_s[:-len(".safetensors")] if dst_s.endswith(".safetensors") else dst_s
        cfg_s = base + ".config.json"
    else:
        cfg_s = os.fsdecode(os.fspath(config_path))
    for out in (dst_s, cfg_s):
        if _same_file(src_s, out):
            raise UsageError(f"convert: {out} is the input file {src_s}: convert never writes "
                             "over its input", 5)
    model = _Model(src_s, allow, limits)
    opts = _lib.ConvertOptions(config_path=os.fsencode(cfg_s), no_sync=int(no_sync),
                               force=int(force))
    err = _lib.Error()
    _lib.check(model.lib.brine_model_write_safetensors(model.handle, os.fsencode(dst_s),
                                                       ctypes.byref(opts), ctypes.byref(err)),
               err)
    return dst_s, cfg_s

