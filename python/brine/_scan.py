"""brine.scan and brine.scan_tree: judge files without executing them."""

from __future__ import annotations

import ctypes
import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from . import _lib
from ._errors import BrineError

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Finding:
    """One reason for a verdict (brine_finding)."""

    rule: str
    verdict: str
    message: str
    offset: Optional[int] = None
    member: Optional[str] = None
    global_: Optional[str] = None


@dataclass(frozen=True)
class TensorSpec:
    """A tensor or array the scan validated: name, dtype (safetensors spelling), shape."""

    name: str
    dtype: str
    shape: Tuple[int, ...]


@dataclass(frozen=True)
class ScanResult:
    """What brine concluded about one file. `verdict` is "safe", "unverified", "invalid" or
    "unsafe"; `format` the detected format ("pickle", "pytorch-zip", ..., "none");
    `findings` most severe first; `globals` every "module.qualname" referenced."""

    verdict: str
    format: str
    findings: List[Finding] = field(default_factory=list)
    globals: List[str] = field(default_factory=list)
    tensors: List[TensorSpec] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        return self.verdict == "safe"


def _text(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "replace")


def _tensor_spec(info: _lib.TensorInfo) -> TensorSpec:
    return TensorSpec(_text(info.name), _text(info.dtype),
                      tuple(info.shape[k] for k in range(info.ndim)))


def _collect(lib, handle) -> ScanResult:
    findings = []
    for i in range(lib.brine_result_finding_count(handle)):
        f = lib.brine_result_finding(handle, i).contents
        findings.append(Finding(rule=_text(f.rule), verdict=_lib.VERDICTS[f.severity],
                                message=_text(f.message),
                                offset=f.offset if f.offset >= 0 else None,
                                member=_text(f.member), global_=_text(f.global_)))
    globals_ = [_text(lib.brine_result_global(handle, i))
                for i in range(lib.brine_result_global_count(handle))]
    tensors = []
    for i in range(lib.brine_result_tensor_count(handle)):
        info, err = _lib.TensorInfo(), _lib.Error()
        _lib.check(lib.brine_result_tensor(handle, i, ctypes.byref(info), ctypes.byref(err)), err)
        tensors.append(_tensor_spec(info))
    return ScanResult(verdict=_lib.VERDICTS[lib.brine_result_verdict(handle)],
                      format=_text(lib.brine_result_format(handle)), findings=findings,
                      globals=globals_, tensors=tensors)


def scan(path_or_bytes: Union[PathLike, bytes, bytearray, memoryview],
         allow: Iterable[str] = (), limits: Optional[Mapping[str, int]] = None) -> ScanResult:
    """Scans one file (a path) or an in-memory file (bytes-like) without executing it.

    `allow` widens the default policy (profiles such as "sklearn", "module.qualname" or
    "module.*"; never-allowable modules raise PolicyError). `limits` maps limit names
    (brine --help-limits) to values. A malicious or malformed file is a result, not an error;
    BrineIOError is raised when a path cannot be read."""
    lib = _lib.lib()
    policy = _lib.Policy(allow)
    lim = _lib.make_limits(limits)
    opts = _lib.ScanOptions(policy.handle, ctypes.pointer(lim) if lim is not None else None)
    handle, err = ctypes.c_void_p(), _lib.Error()
    try:
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            st = lib.brine_scan_bytes(data, len(data), ctypes.byref(opts), ctypes.byref(handle),
                                      ctypes.byref(err))
        else:
            st = lib.brine_scan_file(_lib.fspath_bytes(path_or_bytes), ctypes.byref(opts),
                                     ctypes.byref(handle), ctypes.byref(err))
        _lib.check(st, err)
        try:
            return _collect(lib, handle)
        finally:
            lib.brine_result_free(handle)
    finally:
        policy.close()


def scan_tree(path: PathLike, allow: Iterable[str] = (),
              limits: Optional[Mapping[str, int]] = None, errors: str = "raise"
              ) -> Iterator[Tuple[str, Union[ScanResult, BrineError]]]:
    """Scans every regular file under `path` (a directory, walked in sorted order without
    following symbolic links; or a single file) and yields (path, ScanResult).

    A file that cannot be read raises its BrineError, or with errors="yield" is yielded as
    (path, error) and the walk goes on."""
    if errors not in ("raise", "yield"):
        raise ValueError("errors must be 'raise' or 'yield'")
    allow = tuple(allow)
    root = os.fspath(path)
    if isinstance(root, bytes):
        root = os.fsdecode(root)
    if not os.path.isdir(root):
        files: Iterable[str] = [root]
    else:
        files = _walk(root)
    for file in files:
        try:
            yield file, scan(file, allow=allow, limits=limits)
        except BrineError as exc:
            if errors == "raise":
                raise
            yield file, exc


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                mode = os.lstat(full).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                yield full
