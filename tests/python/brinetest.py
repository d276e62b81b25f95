"""Helpers shared by brine's Python tests and fixture generators.

Three things live here:
  - the default allowlist, as the tests understand it (exact names after Python-2 mapping);
  - two *safe* oracles for what a pickle references: a static walk over pickletools.genops
    with a tiny stack/memo model, and a C-unpickler subclass whose find_class records the
    first name and raises before anything is imported. Neither ever calls a global;
  - runners for the brine binary (path from $BRINE) and for the generators, and the fixture
    corpora of the format tests (gen_corpus).

Never call pickle.load/loads, joblib.load, torch.load or np.load(allow_pickle=True) on a
hostile sample, not even to check it: the recorder below is the only loader allowed there.
"""

import _compat_pickle
import functools
import io
import json
import math
import os
import pickle
import pickletools
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GEN_DIR = REPO / "tests" / "gen"
# Debian's python3 has torch/numpy/sklearn; a pyenv python on PATH does not.
PYTHON = "/usr/bin/python3"

# ------------------------------------------------------------------ default allowlist

ALLOW_EXACT = frozenset("""
builtins.set builtins.frozenset builtins.bytearray builtins.complex builtins.slice builtins.range
_codecs.encode collections.OrderedDict collections.Counter
copyreg._reconstructor builtins.object
torch.jit._pickle.build_intlist torch.jit._pickle.build_tensorlist
torch.jit._pickle.build_doublelist torch.jit._pickle.build_boollist
torch.jit._pickle.build_tensor_from_id torch.jit._pickle.restore_type_tag
numpy.core.multiarray._reconstruct numpy._core.multiarray._reconstruct
numpy.core.multiarray.scalar numpy._core.multiarray.scalar numpy.ndarray numpy.dtype
numpy.core.numeric._frombuffer numpy._core.numeric._frombuffer
joblib.numpy_pickle.NumpyArrayWrapper
torch._utils._rebuild_tensor torch._utils._rebuild_tensor_v2 torch._utils._rebuild_tensor_v3
torch._utils._rebuild_parameter torch._utils._rebuild_parameter_with_state
torch._utils._rebuild_qtensor torch._utils._rebuild_sparse_tensor
torch._utils._rebuild_sparse_csr_tensor torch._utils._rebuild_meta_tensor_no_storage
torch._utils._rebuild_device_tensor_from_numpy torch._tensor._rebuild_from_type_v2
torch.nn.parameter.Parameter torch.serialization._get_layout torch.Size torch.Tensor
torch.device torch.UntypedStorage torch.storage._load_from_bytes
""".split())

TORCH_DTYPES = frozenset("""
float32 float float64 double float16 half bfloat16 complex32 chalf complex64 cfloat
complex128 cdouble uint8 int8 int16 short int32 int int64 long bool qint8 quint8 qint32
quint4x2 quint2x4 uint16 uint32 uint64 float8_e4m3fn float8_e5m2 float8_e4m3fnuz
float8_e5m2fnuz bits8 bits16 bits1x8 bits2x4 bits4x2
""".split())

TORCH_QSCHEMES = frozenset("""
per_tensor_affine per_channel_affine per_tensor_symmetric per_channel_symmetric
per_channel_affine_float_qparams
""".split())

_STORAGE = re.compile(r"torch\.[A-Za-z0-9]+Storage")
# numpy.dtypes classes: the exact list the default policy holds (no wildcard there)
_NUMPY_DTYPES = frozenset(
    "numpy.dtypes." + m for m in re.findall(
        r'NUMPY_DTYPE\("([A-Za-z0-9_]+)"\)',
        (REPO / "src" / "policy" / "numpy_dtypes.def").read_text(encoding="utf-8")))


def allowed(name):
    """True when the default policy allows the global `name` ("module.qualname")."""
    if name in ALLOW_EXACT or _STORAGE.fullmatch(name) or name in _NUMPY_DTYPES:
        return True
    if name.startswith("torch.") and name.count(".") == 1:
        attr = name[len("torch."):]
        return attr in TORCH_DTYPES or attr in TORCH_QSCHEMES
    return False


def py2_map(module, name, proto):
    """CPython's find_class renaming (fix_imports), applied only below protocol 3."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


# ------------------------------------------------------------------ static oracle

class _Mark:
    __slots__ = ()


MARK = _Mark()


class _Opaque:
    """A value the model does not track (containers, call results)."""
    __slots__ = ()


OPAQUE = _Opaque()


class _Global:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_LITERALS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT",
}


def pickle_spans(data, start=0, limit=None):
    """(start, end) of each complete pickle from `start` on, as pickletools parses them.
    Stops at the first byte range that is not a complete pickle."""
    spans = []
    f = io.BytesIO(data)
    pos = start
    while pos < len(data) and (limit is None or len(spans) < limit):
        f.seek(pos)
        try:
            for op, _arg, _p in pickletools.genops(f):
                pass
        except Exception:
            break
        end = f.tell()
        spans.append((pos, end))
        pos = end
    return spans


class _Walk:
    """Walks one byte string of concatenated pickles and lists the globals it names, the way
    CPython's find_class would see them (Python-2 mapping below protocol 3, dotted names
    joined). Nested torch legacy files handed to torch.storage._load_from_bytes are walked
    too. Only for pickles produced by real picklers: it trusts the stream."""

    def __init__(self):
        self.outer = []
        self.nested = []

    def _add(self, name, nested):
        seen = self.nested if nested else self.outer
        if name not in seen:
            seen.append(name)

    def walk(self, data, nested=False, max_pickles=None):
        for start, _end in pickle_spans(data, limit=max_pickles):
            self._one(data, start, nested)

    def _one(self, data, start, nested):
        f = io.BytesIO(data)
        f.seek(start)
        stack, memo, proto = [], {}, 0

        def pop_mark():
            items = []
            while stack:
                v = stack.pop()
                if v is MARK:
                    return items[::-1]
                items.append(v)
            return items[::-1]

        def top():
            return stack[-1] if stack else OPAQUE

        for op, arg, _pos in pickletools.genops(f):
            n = op.name
            if n in _LITERALS:
                stack.append(arg)
            elif n == "PROTO":
                proto = arg
            elif n in ("FRAME", "STOP", "READONLY_BUFFER"):
                pass
            elif n == "MARK":
                stack.append(MARK)
            elif n == "NONE":
                stack.append(None)
            elif n in ("NEWTRUE", "NEWFALSE"):
                stack.append(n == "NEWTRUE")
            elif n == "EMPTY_TUPLE":
                stack.append(())
            elif n == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(n[-1])
                items = stack[-k:]
                del stack[-k:]
                stack.append(tuple(items))
            elif n in ("LIST", "DICT", "FROZENSET", "OBJ"):
                pop_mark()
                stack.append(OPAQUE)
            elif n in ("APPENDS", "SETITEMS", "ADDITEMS", "POP_MARK"):
                pop_mark()
            elif n == "APPEND":
                stack.pop()
            elif n == "SETITEM":
                del stack[-2:]
            elif n == "POP":
                stack.pop()
            elif n == "DUP":
                stack.append(top())
            elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = top()
            elif n == "MEMOIZE":
                memo[len(memo)] = top()
            elif n in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, OPAQUE))
            elif n in ("GLOBAL", "INST"):
                module, name = arg.split(" ", 1)
                module, name = py2_map(module, name, proto)
                self._add(module + "." + name, nested)
                if n == "INST":
                    pop_mark()
                    stack.append(OPAQUE)
                else:
                    stack.append(_Global(module + "." + name))
            elif n == "STACK_GLOBAL":
                name, module = stack.pop(), stack.pop()
                if isinstance(module, str) and isinstance(name, str):
                    module, name = py2_map(module, name, proto)
                    self._add(module + "." + name, nested)
                    stack.append(_Global(module + "." + name))
                else:
                    stack.append(OPAQUE)
            elif n == "REDUCE":
                args, fn = stack.pop(), stack.pop()
                stack.append(self._reduce(fn, args, nested))
            elif n == "BUILD":
                stack.pop()
            elif n == "NEWOBJ":
                del stack[-2:]
                stack.append(OPAQUE)
            elif n == "NEWOBJ_EX":
                del stack[-3:]
                stack.append(OPAQUE)
            elif n == "BINPERSID":
                stack.pop()
                stack.append(OPAQUE)
            elif n in ("PERSID", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "EMPTY_LIST",
                       "EMPTY_DICT", "EMPTY_SET"):
                stack.append(OPAQUE)
            else:
                raise AssertionError("static oracle does not model " + n)

    def _reduce(self, fn, args, nested):
        name = fn.name if isinstance(fn, _Global) else None
        # bytes at protocol < 3 are _codecs.encode(latin-1 text, 'latin1')
        if name == "_codecs.encode" and isinstance(args, tuple) and len(args) == 2 \
                and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1")
        if name == "torch.storage._load_from_bytes" and isinstance(args, tuple) \
                and len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            # a legacy torch file: magic, protocol, sys_info, the object, storage keys;
            # raw storage bytes follow and are not pickles
            self.walk(bytes(args[0]), nested=True, max_pickles=5)
        return OPAQUE


def static_globals(data):
    """(outer, nested): globals of the pickles in `data`, first-seen order, and of nested
    torch legacy files. Trusts the stream: use it on files produced by real picklers."""
    w = _Walk()
    w.walk(data)
    return w.outer, w.nested


class _Recorded(Exception):
    pass


class _Recorder(pickle.Unpickler):
    """The C unpickler, reading from a stream like torch and joblib do, with a find_class
    that records the names it is asked for and raises: nothing is imported or called."""

    def find_class(self, module, name):
        self.calls.append((module, name))
        raise _Recorded()


class _PyRecorder(pickle._Unpickler):
    """The same recorder on pickle.py's pure-Python unpickler, which some loaders use and
    which differs from the C one on frames (formats.md 1.11)."""

    def find_class(self, module, name):
        self.calls.append((module, name))
        raise _Recorded()


def first_find_class(data, pure=False):
    """The (module, name) CPython's find_class is first asked for when the stream is loaded
    pickle after pickle, each with a fresh unpickler (as torch's legacy loader does), or
    None when loading fails or ends first. Raw names: Python-2 mapping not applied.
    pure=True uses pickle.py's _Unpickler instead of the C unpickler."""
    f = io.BytesIO(data)
    while f.tell() < len(data):
        u = (_PyRecorder if pure else _Recorder)(f)
        u.calls = []
        try:
            u.load()
        except _Recorded:
            return u.calls[0]
        except Exception:
            return None
    return None


# ------------------------------------------------------------------ tiny assembler

def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def proto(n):
    return b"\x80" + bytes([n])


def su(s):
    """SHORT_BINUNICODE (or BINUNICODE when long)."""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + u32(len(b)) + b


def bu(s):
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + u32(len(b)) + b


def uni(s):
    """UNICODE: protocol-0 text string, escaped as pickle.py's save_str does (raw-unicode-
    escape leaves newlines and backslashes alone)."""
    for ch in "\\\0\n\r\x1a":
        s = s.replace(ch, "\\u%04x" % ord(ch))
    return b"V" + s.encode("raw-unicode-escape") + b"\n"


def string(s):
    """STRING: a protocol-0 Python-2 str, quoted and escaped as repr() does (CPython and
    pickletools undo it with escape_decode)."""
    return b"S" + repr(s).encode("ascii") + b"\n"


def sbs(s):
    """SHORT_BINSTRING."""
    b = s.encode("ascii")
    return b"U" + bytes([len(b)]) + b


def sbb(b):
    """SHORT_BINBYTES / BINBYTES."""
    if len(b) < 256:
        return b"C" + bytes([len(b)]) + b
    return b"B" + u32(len(b)) + b


def glob(module, name):
    """GLOBAL module\\nname\\n."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sg(module, name):
    """STACK_GLOBAL on two SHORT_BINUNICODE literals."""
    return su(module) + su(name) + b"\x93"


def binint1(n):
    return b"K" + bytes([n])


def binput(n):
    return b"q" + bytes([n])


def binget(n):
    return b"h" + bytes([n])


MARKOP, STOP, REDUCE, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b"(", b".", b"R", b"t", b"\x85", b"\x86", b"\x87"
EMPTY_TUPLE, EMPTY_DICT, EMPTY_LIST, NONE, POP, DUP = b")", b"}", b"]", b"N", b"0", b"2"
MEMOIZE, STACK_GLOBAL, BUILD, SETITEM, APPEND = b"\x94", b"\x93", b"b", b"s", b"a"
NEWOBJ, NEWOBJ_EX, OBJ, POP_MARK = b"\x81", b"\x92", b"o", b"1"


def frame(body):
    """FRAME header for `body` (protocol 4+)."""
    return b"\x95" + u64(len(body)) + body


# ------------------------------------------------------------------ brine runners

def brine_path():
    p = os.environ.get("BRINE") or str(REPO / "build" / "brine")
    return p if os.path.isfile(p) and os.access(p, os.X_OK) else None


def run_brine(*args, timeout=120):
    exe = brine_path()
    assert exe, "no brine binary (set BRINE)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, timeout=timeout)


def scan_json(*args):
    """(exit code, parsed JSON or None, the CompletedProcess) of `brine scan --format json`."""
    r = run_brine("scan", "--format", "json", *args)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
    return r.returncode, doc, r


def _int_or_negative_zero(token):
    # a float -0.0 printed as the JSON number -0 keeps its sign; json.loads alone drops it
    return -0.0 if token == "-0" else int(token)


def dis_json(path):
    r = run_brine("dis", "--format", "json", path)
    try:
        doc = json.loads(r.stdout, parse_int=_int_or_negative_zero)
    except ValueError:
        doc = None
    return r.returncode, doc, r


def describe(r):
    """A short description of a brine run for assertion messages."""
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    return "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, out[:3000], err[:2000])


def scan_one(path, timeout=120):
    """brine's JSON report of one file (`scan --format json`, which must exit 0 or 1)."""
    r = run_brine("scan", "--format", "json", path, timeout=timeout)
    assert r.returncode in (0, 1), describe(r)
    return json.loads(r.stdout)["files"][0]


def gen_corpus(script, prefix, marker=False, timeout=600, env=None):
    """Runs the fixture generator tests/gen/<script> with this interpreter (the venv's, which
    has the format's library) into a fresh temporary directory. Returns (out, files, marker):
    the directory of the fixtures, its manifest's "files" and, with marker=True, the file a
    hostile payload would create (handed to the generator after out; it must never exist),
    else None."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    out, mark = (root / "f", root / "MARKER") if marker else (root, None)
    args = [str(out)] + ([str(mark)] if marker else [])
    subprocess.run([sys.executable, str(GEN_DIR / script), *args], check=True,
                   capture_output=True, timeout=timeout, env=env)
    return out, json.loads((out / "manifest.json").read_text())["files"], mark


# ------------------------------------------------------------------ fixtures

@functools.lru_cache(maxsize=None)
def generated():
    """Runs both generators once per process into a fresh temporary directory.
    Returns (benign_dir, benign_manifest, hostile_dir, hostile_manifest, marker)."""
    root = Path(tempfile.mkdtemp(prefix="brine-py-"))
    marker = root / "marker-dir" / "BRINE_PAYLOAD_RAN"
    (root / "marker-dir").mkdir()
    benign, hostile = root / "benign", root / "hostile"
    for script, out, extra in (("gen_benign.py", benign, []),
                               ("gen_hostile.py", hostile, [str(marker)])):
        subprocess.run([PYTHON, str(GEN_DIR / script), str(out), *extra], check=True,
                       timeout=600)
    import atexit
    atexit.register(shutil.rmtree, root, True)
    return (benign, json.loads((benign / "manifest.json").read_text()),
            hostile, json.loads((hostile / "manifest.json").read_text()), marker)


def manifest_names(which):
    """Sorted file names of a generated set, for parametrize (generates on first use)."""
    b, bm, h, hm, _ = generated()
    return sorted(bm if which == "benign" else hm)


# ------------------------------------------------------------------ dis argument encoding

_BYTES_ARGS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES",
               "BINBYTES8", "BYTEARRAY8"}


def contract_arg(opname, arg):
    """The `arg` docs/contract.md says brine dis prints for a pickletools.genops argument."""
    if arg is None:
        return None
    if opname in _BYTES_ARGS:
        # pickletools decodes py2 strings to text (latin-1, or ASCII for STRING)
        b = arg.encode("latin-1") if isinstance(arg, str) else bytes(arg)
        d = {"len": len(b), "hex": b[:4096].hex()}
        if len(b) > 4096:
            d["truncated"] = True
        return d
    if isinstance(arg, float):
        if math.isnan(arg):
            return "nan"
        if math.isinf(arg):
            return "inf" if arg > 0 else "-inf"
    return arg


def same_arg(want, got):
    """Exact comparison of a contract argument with brine's JSON (bool is not int)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return False
        return float(got) == want and math.copysign(1, float(got)) == math.copysign(1, want)
    if isinstance(want, int):
        return type(got) is int and got == want
    if isinstance(want, dict):
        return isinstance(got, dict) and got.get("len") == want["len"] \
            and str(got.get("hex", "")).lower() == want["hex"] \
            and bool(got.get("truncated", False)) == want.get("truncated", False)
    return type(want) is type(got) and want == got
