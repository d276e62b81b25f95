"""ctypes declarations of include/brine.h, the only interface the binding uses.

Why ctypes and not a compiled extension: the C library already has a small, stable, documented
C ABI (opaque handles, status codes, an error struct), so ctypes needs no compiler at install
time, ties the wheel to no Python ABI (one libbrine.so serves every CPython 3.x), and keeps the
binding in plain Python where it can be read next to the header. Every call that can fail
returns a brine_status and fills a brine_error, which `check` turns into a BrineError.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint,
                    c_uint8, c_uint64, c_void_p)
from pathlib import Path

from ._errors import error_from_status

_HERE = Path(__file__).resolve().parent


def library_path() -> str:
    """Where libbrine.so is: $BRINE_LIBRARY (tests, development trees), else inside the package."""
    override = os.environ.get("BRINE_LIBRARY")
    if override:
        return override
    return str(_HERE / "libbrine.so")


def cli_path() -> str:
    """Where the bundled `brine` tool is: $BRINE_CLI, else inside the package."""
    override = os.environ.get("BRINE_CLI")
    if override:
        return override
    return str(_HERE / "_bin" / "brine")


# struct_size stays 0 (the layout of brine 0.1, which these classes mirror).
# Structs the caller allocates are followed by zeroed spare room: brine.h only ever adds
# fields at the end, a zero field means "default", and a library newer than this file then
# reads zeros (options) or writes into the spare room (out-structs) instead of past the end.
# tests/python/test_pkg_api.py checks every offset below against the compiled header.
_SPARE = [("_spare", c_uint64 * 16)]


class Error(Structure):
    _fields_ = [
        ("code", c_int),
        ("has_offset", c_int),
        ("offset", c_uint64),
        ("limit", c_char_p),
        ("limit_value", c_uint64),
        ("observed", c_uint64),
        ("source_line", c_int),
        ("msg", c_char * 256),
    ] + _SPARE


LIMIT_NAMES = (
    "max_input_bytes", "max_opcodes", "max_stack", "max_marks", "max_memo", "max_nodes",
    "max_depth", "max_string", "max_memory", "max_pickles", "max_nested", "zip_max_entries",
    "zip_max_entry_bytes", "zip_max_total_bytes", "zip_max_ratio", "st_max_header",
    "max_tensors", "filter_max_bytes", "filter_max_ratio", "max_filter_depth", "max_expansion",
    "max_nesting", "max_memo_index", "archive_max_members", "archive_max_name", "max_work",
)


class Limits(Structure):
    _fields_ = [(name, c_uint64) for name in LIMIT_NAMES] + _SPARE


class Finding(Structure):
    _fields_ = [
        ("severity", c_int),
        ("rule", c_char_p),
        ("global_", c_char_p),
        ("member", c_char_p),
        ("offset", c_int64),
        ("message", c_char_p),
    ]


class ScanOptions(Structure):
    _fields_ = [("policy", c_void_p), ("limits", POINTER(Limits)), ("struct_size", c_size_t)] + _SPARE


LoadOptions = ScanOptions  # brine_load_options has the same fields


class TensorInfo(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("dtype", c_char_p),
        ("itemsize", c_size_t),
        ("ndim", c_uint),
        ("shape", POINTER(c_int64)),
        ("strides", POINTER(c_int64)),
        ("storage_offset", c_int64),
        ("numel", c_uint64),
        ("nbytes", c_uint64),
        ("storage", c_size_t),
        ("data", c_void_p),
        ("struct_size", c_size_t),
    ] + _SPARE


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)


class ConvertOptions(Structure):
    _fields_ = [
        ("config_path", c_char_p),
        ("progress", PROGRESS_FN),
        ("progress_ctx", c_void_p),
        ("no_sync", c_int),
        ("force", c_int),
        ("key", c_char_p),
        ("state_dict", c_int),
        ("dedup", c_int),
        ("max_shard_size", c_uint64),
        ("struct_size", c_size_t),
    ] + _SPARE


VERDICTS = ("safe", "unverified", "invalid", "unsafe")

_lib = None


def lib() -> ctypes.CDLL:
    """The loaded library with every prototype declared (loaded once, on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    try:
        so = ctypes.CDLL(path)
    except OSError as exc:
        raise ImportError(f"brine: cannot load the C library {path}: {exc}") from exc
    st = c_int
    err = POINTER(Error)
    protos = {
        "brine_status_name": (c_char_p, [c_int]),
        "brine_verdict_name": (c_char_p, [c_int]),
        "brine_limits_default": (None, [POINTER(Limits)]),
        "brine_policy_new": (c_void_p, []),
        "brine_policy_free": (None, [c_void_p]),
        "brine_policy_allow": (st, [c_void_p, c_char_p, err]),
        "brine_policy_load": (st, [c_void_p, c_char_p, err]),
        "brine_scan_file": (st, [c_char_p, POINTER(ScanOptions), POINTER(c_void_p), err]),
        "brine_scan_bytes": (st, [c_void_p, c_size_t, POINTER(ScanOptions), POINTER(c_void_p),
                                  err]),
        "brine_result_free": (None, [c_void_p]),
        "brine_result_verdict": (c_int, [c_void_p]),
        "brine_result_format": (c_char_p, [c_void_p]),
        "brine_result_finding_count": (c_size_t, [c_void_p]),
        "brine_result_finding": (POINTER(Finding), [c_void_p, c_size_t]),
        "brine_result_global_count": (c_size_t, [c_void_p]),
        "brine_result_global": (c_char_p, [c_void_p, c_size_t]),
        "brine_result_tensor_count": (c_size_t, [c_void_p]),
        "brine_result_tensor": (st, [c_void_p, c_size_t, POINTER(TensorInfo), err]),
        "brine_model_open": (st, [c_char_p, POINTER(LoadOptions), POINTER(c_void_p), err]),
        "brine_model_free": (None, [c_void_p]),
        "brine_model_format": (c_char_p, [c_void_p]),
        "brine_model_tensor_count": (c_size_t, [c_void_p]),
        "brine_model_tensor": (st, [c_void_p, c_size_t, POINTER(TensorInfo), err]),
        "brine_model_tensor_read": (st, [c_void_p, c_size_t, c_void_p, c_size_t, err]),
        "brine_model_tensor_file_offset": (st, [c_void_p, c_size_t, POINTER(c_uint64), err]),
        "brine_model_tensor_sha256": (st, [c_void_p, c_size_t, POINTER(c_uint8 * 32), err]),
        "brine_model_config_json": (c_char_p, [c_void_p]),
        "brine_model_write_safetensors": (st, [c_void_p, c_char_p, POINTER(ConvertOptions),
                                               err]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(so, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = so
    return so


def check(status: int, err: Error) -> None:
    """Raises the BrineError subclass for status, carrying err's message and offset."""
    if status == 0:
        return
    raise error_from_status(
        status,
        err.msg.decode("utf-8", "replace"),
        offset=err.offset if err.has_offset else None,
        limit=err.limit.decode() if err.limit else None,
        limit_value=err.limit_value if err.limit else None,
        observed=err.observed if err.limit else None,
    )


def make_limits(limits) -> Limits | None:
    """A brine_limits from a mapping {name: value} (zero or absent: the default)."""
    if limits is None:
        return None
    out = Limits()
    for name, value in dict(limits).items():
        if name not in LIMIT_NAMES:
            from ._errors import UsageError
            raise UsageError(f"unknown limit {name!r}; the limits are: {', '.join(LIMIT_NAMES)}",
                             5)
        setattr(out, name, int(value))
    return out


class Policy:
    """A brine_policy widened by `allow` entries (profile, module.qualname or module.*)."""

    def __init__(self, allow=()):
        self.handle = None
        self._lib = lib()
        self.handle = self._lib.brine_policy_new()
        if not self.handle:
            raise MemoryError("brine: out of memory creating a policy")
        if isinstance(allow, (str, bytes)):
            allow = (allow,)
        for entry in allow:
            e = Error()
            entry_b = entry.encode() if isinstance(entry, str) else entry
            check(self._lib.brine_policy_allow(self.handle, entry_b, ctypes.byref(e)), e)

    def close(self) -> None:
        if self.handle:
            self._lib.brine_policy_free(self.handle)
            self.handle = None

    def __del__(self):
        if getattr(self, "handle", None):
            self.close()


def fspath_bytes(path) -> bytes:
    return os.fsencode(os.fspath(path))
