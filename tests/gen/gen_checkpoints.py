#!/usr/bin/python3
"""Benign PyTorch checkpoints, written by Debian's torch 1.13 with real torch.save (zip and
legacy formats, pickle protocols 2-5), raw pickle.dumps of tensors (protocols 0-5) and of
numpy arrays, and a few zips repacked with Python's zipfile (unaligned, deflated, and
byteorder-marked little- and big-endian, the big one with every storage byte-swapped).

usage: /usr/bin/python3 tests/gen/gen_checkpoints.py OUTDIR

Writes OUTDIR/<object>_<writer>[_p<protocol>].<ext> and OUTDIR/manifest.json:
  {file: {"object", "writer", "protocol", "format", "scan", "globals_outside",
          "tensors": {name: {"dtype", "shape", "sha256"}},
          "values": [[path, value], ...], "oracle": "torch"|"manifest", "why", "group",
          "modified_from"?, "quantized"?}}

`tensors` is computed from the ORIGINAL objects before they are saved: names join dict keys
and list/tuple indices with '.', dtype in safetensors spelling, sha256 of the elements in C
order little-endian (bfloat16 viewed as int16) — DESIGN.md's contract for `brine inspect
--hash`. `values` are non-tensor values that must come back in brine's config JSON.
`oracle` says whether torch 1.13's `torch.load(weights_only=True)` can read the file (it
cannot read any Python float — BINFLOAT —, quantized tensors, numpy arrays, opcodes above
protocol 2 such as FRAME/STACK_GLOBAL/MEMOIZE, raw pickles, and it ignores a byteorder
record): this script tries it on every file it wrote and, where it works, checks that torch's
tensors equal the manifest, so a wrong manifest cannot slip through. `group` names files
holding the same tensors (twins for `brine diff`); `modified_from` marks a copy saved from a
modified object (diff must say "different").

Every file here is made by this script from objects it built, so loading them back with
weights_only=True is safe. Nothing here is hostile: see gen_bad_checkpoints.py for those.
torch 1.13 drops the conjugate and negative bits of a tensor on save (it writes the storage
without the bit), so conj/neg views are resolved before saving.
"""

import argparse
import collections
import hashlib
import json
import pickle
import pickletools
import sys
import warnings
import zipfile
from pathlib import Path

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

# ------------------------------------------------------------------ dtypes

ST_DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64", torch.complex128: "C128",
}
NP_DTYPE = {"f2": "F16", "f4": "F32", "f8": "F64", "i1": "I8", "i2": "I16", "i4": "I32",
            "i8": "I64", "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL",
            "c8": "C64", "c16": "C128"}
# torch.<Name>Storage -> (element size, numpy dtype whose elements are byte-swapped)
STORAGE_SWAP = {
    "DoubleStorage": (8, "u8"), "FloatStorage": (4, "u4"), "HalfStorage": (2, "u2"),
    "BFloat16Storage": (2, "u2"), "LongStorage": (8, "u8"), "IntStorage": (4, "u4"),
    "ShortStorage": (2, "u2"), "CharStorage": (1, None), "ByteStorage": (1, None),
    "BoolStorage": (1, None), "ComplexFloatStorage": (8, "u4"),  # each half on its own
    "ComplexDoubleStorage": (16, "u8"),
}

# ------------------------------------------------------------------ expected tensors


def tensor_record(t):
    """{dtype, shape, sha256} of a torch tensor or numpy array, per DESIGN.md."""
    if isinstance(t, np.ndarray):
        code = t.dtype.kind + str(t.dtype.itemsize)
        le = np.ascontiguousarray(t).astype(t.dtype.newbyteorder("<"), copy=False)
        return {"dtype": NP_DTYPE[code], "shape": list(t.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(le).tobytes()).hexdigest()}
    t = t.detach()
    if t.is_quantized:
        # the stored integers; scale and zero point are parameters, not elements
        t = t.int_repr()
    t = t.resolve_conj().resolve_neg().contiguous()
    dtype = ST_DTYPE[t.dtype]
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return {"dtype": dtype, "shape": list(t.shape),
            "sha256": hashlib.sha256(t.numpy().tobytes()).hexdigest()}


def is_tensor(v):
    return isinstance(v, (torch.Tensor, np.ndarray))


def flatten(obj, prefix="", out=None):
    """name -> tensor for every tensor or array in obj: dict keys (str, or int as decimal)
    and list/tuple indices joined with '.'; the root itself is named ''."""
    if out is None:
        out = collections.OrderedDict()
    if is_tensor(obj):
        out[prefix] = obj
        return out

    def child(k):
        return prefix + "." + k if prefix else k

    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (str, int)) and not isinstance(k, bool) and k != ""
            flatten(v, child(str(k)), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, child(str(i)), out)
    return out


def expected_tensors(obj):
    return {name: tensor_record(t) for name, t in flatten(obj).items()}


# ------------------------------------------------------------------ objects


def seeded():
    torch.manual_seed(1234)
    np.random.seed(1234)


def all_dtypes():
    """One tensor of every dtype torch 1.13 stores, with edge values."""
    f = [0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38, 7.0]
    d = collections.OrderedDict()
    d["f64"] = torch.tensor(f + [1e-310, 1e300], dtype=torch.float64).reshape(3, 4)
    d["f32"] = torch.tensor(f, dtype=torch.float32).reshape(2, 5)
    d["f16"] = torch.tensor([0.0, -0.0, 1.0, 65504.0, 6e-8, float("inf"), float("nan"), -3.5],
                            dtype=torch.float16)
    d["bf16"] = torch.tensor([0.0, -0.0, 1.0, 3.0e38, 1e-39, float("-inf"), float("nan"), 0.1],
                             dtype=torch.bfloat16).reshape(2, 2, 2)
    d["i64"] = torch.tensor([0, 1, -1, 2**63 - 1, -2**63, 123456789012], dtype=torch.int64)
    d["i32"] = torch.tensor([[0, -1, 2**31 - 1], [-2**31, 7, 8]], dtype=torch.int32)
    d["i16"] = torch.tensor([0, -1, 32767, -32768], dtype=torch.int16)
    d["i8"] = torch.tensor([0, -1, 127, -128, 5], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 1, 255, 128], dtype=torch.uint8)
    d["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    d["c64"] = torch.tensor([1 + 2j, -0.5j, float("inf") + 0j, 3.25 - 1j], dtype=torch.complex64)
    d["c128"] = torch.tensor([[1e300 + 1e-300j, -1 - 1j]], dtype=torch.complex128)
    return d


def views():
    """Views of one storage: offsets, transposes, steps, stride 0 (expand), overlapping
    as_strided windows, a permuted 3-d block, an empty slice."""
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    flat = base.view(-1)
    return collections.OrderedDict([
        ("base", base),
        ("t", base[0].t()),
        ("rows", base[1:, 1:3]),
        ("step", flat[3:50:7]),
        ("col", base[:, :, 2]),
        ("perm", base.permute(2, 0, 1)),
        ("expand", torch.arange(4.0).expand(3, 4)),
        ("bcast", torch.arange(3, dtype=torch.int64).reshape(3, 1).expand(3, 6)),
        ("window", flat.as_strided((5, 4), (3, 1), 2)),
        ("diag", base[0].diagonal()),
        ("narrow", base.narrow(2, 1, 3)),
        ("unsq", flat[10:14].unsqueeze(0).unsqueeze(2)),
        ("empty_slice", base[:, 4:4]),
        ("scalar_view", flat[17]),
        ("i16_t", torch.arange(12, dtype=torch.int16).reshape(3, 4).t()),
        ("bf16_step", torch.arange(20, dtype=torch.bfloat16)[1::3]),
        ("c64_t", (torch.arange(6.0).to(torch.complex64) * (1 + 1j)).reshape(2, 3).t()),
    ])


def shared():
    """Tied weights (one tensor under two names), two views of one storage, a Parameter
    sharing its tensor's data, and the same list appearing twice."""
    seeded()
    w = torch.randn(5, 3)
    p = nn.Parameter(torch.randn(4))
    common = [torch.ones(2, dtype=torch.int32)]
    return collections.OrderedDict([
        ("embed.weight", w),
        ("lm_head.weight", w),
        ("first_rows", w[:2]),
        ("last_rows", w[3:]),
        ("param", p),
        ("param_data", p.data),
        ("a", common),
        ("b", common),
    ])


def scalars_and_empty():
    return collections.OrderedDict([
        ("f32", torch.tensor(2.5)),
        ("i64", torch.tensor(-7)),
        ("bool", torch.tensor(True)),
        ("bf16", torch.tensor(0.1, dtype=torch.bfloat16)),
        ("c128", torch.tensor(1 - 2j, dtype=torch.complex128)),
        ("empty", torch.empty(0)),
        ("empty_2d", torch.zeros(0, 3)),
        ("empty_3d", torch.zeros(2, 0, 4, dtype=torch.int8)),
        ("empty_t", torch.zeros(0, 5).t()),
        ("one", torch.ones(1, 1, 1)),
    ])


def parameters():
    seeded()
    return collections.OrderedDict([
        ("weight", nn.Parameter(torch.randn(3, 2))),
        ("frozen", nn.Parameter(torch.randn(2), requires_grad=False)),
        ("grad_tensor", torch.randn(2, 2, requires_grad=True)),
        ("half_param", nn.Parameter(torch.randn(4).half())),
    ])


def module_state(make):
    def build():
        seeded()
        return make().state_dict()
    return build


def batchnorm_state():
    seeded()
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    m.train()
    m(torch.randn(2, 3, 8, 8))  # running stats and num_batches_tracked move
    return m.state_dict()


def sequential_state():
    seeded()
    m = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 2))
    return m.state_dict()


def nested():
    """Nested dicts, lists and tuples around tensors, with non-float values only (torch
    1.13's weights_only reads it)."""
    seeded()
    return {
        "model": sequential_state(),
        "epoch": 3,
        "step": 1000,
        "name": "run-1",
        "flag": True,
        "nothing": None,
        "big": 2**40,
        "layers": [torch.randn(2), [torch.arange(3), {"x": torch.zeros(2, 2, dtype=torch.float64)}]],
        "pair": (torch.tensor([1, 2], dtype=torch.int16), torch.tensor([True])),
        "7": torch.ones(1),
    }


def nested_floats():
    """Hyper-parameters as Python floats: BINFLOAT, which torch 1.13's weights_only refuses."""
    seeded()
    return {
        "state_dict": module_state(lambda: nn.Linear(3, 3))(),
        "lr": 0.001,
        "betas": (0.9, 0.999),
        "epoch": 12,
        "history": [0.5, 0.25, {"loss": 0.125}],
        "neg": -0.0,
    }


def optimizer(kind):
    def build():
        seeded()
        m = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
        if kind == "sgd":
            opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        else:
            opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        for _ in range(2):
            opt.zero_grad()
            m(torch.randn(5, 4)).pow(2).sum().backward()
            opt.step()
        return {"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}
    return build


def int_keys():
    return {0: torch.arange(2), 1: {2: torch.ones(3, dtype=torch.uint8)}, "s": [torch.zeros(1)]}


def larger():
    """A few MiB in several tensors, so records are not toy-sized."""
    seeded()
    return collections.OrderedDict([
        ("a", torch.randn(512, 1024)),
        ("b", torch.randn(1000, 333).double()),
        ("c", torch.randint(-100, 100, (777, 41), dtype=torch.int32)),
        ("d", torch.randn(256, 256).bfloat16().t()),
    ])


def single_tensor():
    seeded()
    return torch.randn(3, 4)


def numpy_arrays():
    """numpy arrays of every dtype numpy shares with safetensors, big-endian and Fortran
    order, 0-d and empty, pickled by numpy's own __reduce__."""
    rng = np.random.default_rng(5)
    d = collections.OrderedDict()
    for code in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "c8", "c16"):
        d[code] = (rng.standard_normal(6) * 100).astype(code).reshape(2, 3)
    d["b1"] = np.array([True, False, True])
    d["be_f4"] = np.arange(5, dtype=">f4")
    d["be_i8"] = np.array([[1, -2], [3, 2**40]], dtype=">i8")
    d["be_c16"] = np.array([1 + 2j, -3j], dtype=">c16")
    d["fortran"] = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    d["scalar"] = np.array(3.5)
    return d


def numpy_empty():
    """An empty array's data is b'', which protocols 0-2 write as builtins.bytes() (pickle.py
    save_bytes): outside the default policy, as gen_benign.py's np_empty."""
    return {"empty": np.zeros((0, 4), dtype=np.float32), "one": np.ones(2, dtype=np.uint8)}


def numpy_single():
    return np.arange(10, dtype=np.int16).reshape(2, 5)


def numpy_in_checkpoint():
    """torch.save of a dict holding numpy arrays next to tensors: numpy globals in data.pkl,
    inside brine's default policy (not torch 1.13's weights_only)."""
    return {"w": torch.arange(4.0), "np": np.arange(6, dtype=np.float64).reshape(2, 3),
            "np_be": np.array([1, 2], dtype=">u2")}


def quantized():
    """Quantized tensors (_rebuild_qtensor): torch 1.13's weights_only refuses them."""
    return collections.OrderedDict([
        ("per_tensor", torch.quantize_per_tensor(torch.arange(6.0).reshape(2, 3), 0.5, 2,
                                                 torch.quint8)),
        ("per_channel", torch.quantize_per_channel(torch.arange(6.0).reshape(2, 3),
                                                   torch.tensor([0.1, 0.2], dtype=torch.float64),
                                                   torch.tensor([0, 1]), 0, torch.qint8)),
        ("plain", torch.ones(2)),
    ])


def module_object():
    seeded()
    return nn.Linear(2, 2)


OBJECTS = {
    "dtypes": all_dtypes,
    "views": views,
    "shared": shared,
    "scalars": scalars_and_empty,
    "params": parameters,
    "linear": module_state(lambda: nn.Linear(5, 3)),
    "conv": module_state(lambda: nn.Conv2d(3, 8, (3, 5), groups=1)),
    "batchnorm": batchnorm_state,
    "embedding": module_state(lambda: nn.Embedding(20, 6, padding_idx=0)),
    "lstm": module_state(lambda: nn.LSTM(4, 6, num_layers=2, bidirectional=True)),
    "sequential": sequential_state,
    "nested": nested,
    "nested_floats": nested_floats,
    "optim_sgd": optimizer("sgd"),
    "optim_adam": optimizer("adam"),
    "int_keys": int_keys,
    "larger": larger,
    "single": single_tensor,
    "numpy": numpy_arrays,
    "numpy_single": numpy_single,
    "numpy_empty": numpy_empty,
    "numpy_in_ckpt": numpy_in_checkpoint,
    "quantized": quantized,
    "module_object": module_object,
}

# Non-tensor values that must appear in brine's config JSON: object -> [(path, value)].
VALUES = {
    "nested": [(["epoch"], 3), (["step"], 1000), (["name"], "run-1"), (["flag"], True),
               (["nothing"], None), (["big"], 2**40)],
    "nested_floats": [(["lr"], 0.001), (["betas", 0], 0.9), (["betas", 1], 0.999),
                      (["epoch"], 12), (["history", 2, "loss"], 0.125)],
    "optim_sgd": [(["epoch"], 2), (["optimizer", "param_groups", 0, "lr"], 0.1),
                  (["optimizer", "param_groups", 0, "momentum"], 0.9),
                  (["optimizer", "param_groups", 0, "params"], [0, 1, 2, 3])],
    "optim_adam": [(["epoch"], 2), (["optimizer", "param_groups", 0, "lr"], 0.001),
                   (["optimizer", "param_groups", 0, "betas"], [0.9, 0.999])],
}

# ------------------------------------------------------------------ which files

ZIP, LEGACY, RAW = "zip", "legacy", "raw"
FORMAT = {ZIP: "pytorch-zip", LEGACY: "pytorch-legacy", RAW: "pickle"}

PLAN = []  # (object, writer, protocol)
for _obj in ("dtypes", "views", "shared", "scalars", "params", "linear", "conv", "batchnorm",
             "embedding", "lstm", "sequential", "nested", "nested_floats", "optim_sgd",
             "optim_adam", "int_keys", "larger", "single", "numpy_in_ckpt", "quantized",
             "module_object"):
    for _w in (ZIP, LEGACY):
        PLAN.append((_obj, _w, 2))
for _obj in ("dtypes", "views", "shared", "nested_floats"):
    for _w in (ZIP, LEGACY):
        for _p in (3, 4, 5):
            PLAN.append((_obj, _w, _p))
for _obj in ("single", "dtypes", "views", "nested", "params"):
    for _p in range(6):
        PLAN.append((_obj, RAW, _p))
for _obj in ("numpy", "numpy_single", "numpy_empty"):
    for _p in range(6):
        PLAN.append((_obj, RAW, _p))

# Copies saved from a modified object: brine diff against the group's zip_p2 file says 1.
MODIFIED = {
    "nested_mod_value": ("nested", lambda o: o["layers"][0].__setitem__(1, 9.0)),
    "nested_mod_dtype": ("nested", lambda o: o.__setitem__("7", o["7"].double())),
    "nested_mod_shape": ("nested", lambda o: o["layers"][1][1].__setitem__(
        "x", o["layers"][1][1]["x"].reshape(4, 1))),
    "nested_mod_name": ("nested", lambda o: o.__setitem__("8", o.pop("7"))),
    "nested_mod_extra": ("nested", lambda o: o.__setitem__("extra", torch.zeros(1))),
    "nested_mod_missing": ("nested", lambda o: o.pop("pair")),
    "dtypes_mod_nan": ("dtypes", lambda o: o["f32"].view(torch.int32).view(-1).__setitem__(
        6, 0x7FC00001)),  # another NaN payload: same value for ==, different bytes
}

# ------------------------------------------------------------------ writers


def write(obj, path, writer, proto):
    if writer == ZIP:
        torch.save(obj, path, pickle_protocol=proto)
    elif writer == LEGACY:
        torch.save(obj, path, pickle_protocol=proto, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=proto))


class _Mark:
    pass


def storage_refs(pkl):
    """key -> storage class name of every torch persistent id in a data.pkl, by a static
    walk over pickletools.genops (stack effects from pickletools' opcode table); never
    unpickles."""
    mark, opaque = _Mark(), object()
    stack, memo, refs = [], {}, {}

    def pop_mark():
        items = []
        while True:
            v = stack.pop()
            if v is mark:
                return items[::-1]
            items.append(v)

    for op, arg, _pos in pickletools.genops(pkl):
        n = op.name
        if n == "MARK":
            stack.append(mark)
        elif n == "GLOBAL":
            stack.append(("G", arg.replace(" ", ".")))
        elif n == "STACK_GLOBAL":
            name, module = stack.pop(), stack.pop()
            stack.append(("G", "%s.%s" % (module, name)))
        elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif n == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif n in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif n == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif n == "EMPTY_TUPLE":
            stack.append(())
        elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
            k = int(n[-1])
            items = tuple(stack[-k:])
            del stack[-k:]
            stack.append(items)
        elif n == "BINPERSID":
            pid = stack.pop()
            if isinstance(pid, tuple) and pid and pid[0] == "storage":
                refs[pid[2]] = pid[1][1].split(".")[-1]
            stack.append(opaque)
        elif arg is not None and n not in ("PROTO", "FRAME") and not op.stack_before:
            stack.append(arg)
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                pop_mark()
                for _ in range(before.index(pickletools.markobject)):
                    stack.pop()
            else:
                for _ in before:
                    stack.pop()
            stack.extend(opaque for _ in op.stack_after)
    return refs


def repack(src, dst, byteorder=None, swap=False, deflate=False):
    """Rewrites a torch zip with Python's zipfile (no 64-byte alignment, no data
    descriptors): optionally a `<root>/byteorder` record and every storage byte-swapped,
    or storages deflated. torch 1.13 reads such archives (formats.md 2.2)."""
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        root = infos[0].filename.split("/", 1)[0]
        refs = storage_refs(zin.read(root + "/data.pkl"))
        with zipfile.ZipFile(dst, "w") as zout:
            for info in infos:
                data = zin.read(info)
                rec = info.filename[len(root) + 1:]
                method = zipfile.ZIP_STORED
                if rec.startswith("data/"):
                    if deflate:
                        method = zipfile.ZIP_DEFLATED
                    if swap:
                        size, np_code = STORAGE_SWAP[refs[rec[5:]]]
                        assert len(data) % size == 0
                        if np_code:
                            data = np.frombuffer(data, dtype="<" + np_code).byteswap().tobytes()
                zout.writestr(info.filename, data, compress_type=method)
                if rec == "data.pkl" and byteorder is not None:
                    zout.writestr(root + "/byteorder", byteorder.encode())


# ------------------------------------------------------------------ torch as a check


def torch_reason(e):
    """The informative part of a torch.load error ("Unsupported operand 71", ...)."""
    text = " ".join(str(e).split())
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    return "%s: %s" % (type(e).__name__, text[:200])


def torch_view(path, swapped=False):
    """(ok, tensors-or-error) from torch.load(weights_only=True) of a file this script
    wrote (benign by construction). swapped: torch read byte-swapped storages as they are
    (it has no byteorder record); swap each element back before hashing."""
    try:
        obj = torch.load(str(path), weights_only=True)
    except Exception as e:  # noqa: BLE001 - any refusal means "torch cannot be the oracle"
        return False, torch_reason(e)
    tensors = flatten(obj)
    if swapped:
        for name, t in tensors.items():
            t = t.detach().contiguous()
            if t.dtype.is_complex:
                t = torch.view_as_real(t)
            if t.element_size() > 1:
                w = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
                a = t.view(w).numpy().byteswap()
                t = torch.from_numpy(a).view(t.dtype)
            if tensors[name].dtype.is_complex:
                t = torch.view_as_complex(t)
            tensors[name] = t
    return True, {name: tensor_record(t) for name, t in tensors.items()}


def globals_outside(obj_name, proto):
    """Globals of a file outside brine's default policy (then `brine scan` says
    `unverified` and names them)."""
    if obj_name == "module_object":
        return ["torch.nn.modules.linear.Linear"]
    if obj_name == "numpy_empty" and proto < 3:
        return ["builtins.bytes"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    args = ap.parse_args()
    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}

    def record(fname, obj_name, writer, proto, expected, oracle_hint=None, **extra):
        path = out / fname
        entry = {
            "object": obj_name, "writer": writer, "protocol": proto,
            "format": FORMAT.get(writer, "pytorch-zip"),
            "scan": "unverified" if globals_outside(obj_name, proto) else "safe",
            "globals_outside": globals_outside(obj_name, proto),
            "tensors": expected,
            "values": [[p, v] for p, v in VALUES.get(obj_name, [])],
            "group": obj_name,
        }
        entry.update(extra)
        if writer == RAW:
            ok, why = False, "raw pickle: torch.load reads only zip and legacy files"
        elif oracle_hint:
            # torch reads the bytes but not the byte order: check the manifest against
            # torch's tensors swapped back, then use the manifest as the oracle
            ok, got = torch_view(path, swapped=True)
            if not ok or got != expected:
                sys.exit("%s: byte-swapped torch view disagrees with the manifest" % fname)
            ok, why = False, oracle_hint
        else:
            ok, got = torch_view(path)
            why = got if not ok else ""
            if ok and got != expected:
                diff = sorted(k for k in set(got) | set(expected)
                              if got.get(k) != expected.get(k))
                sys.exit("%s: torch.load(weights_only=True) disagrees with the manifest "
                         "on %s" % (fname, diff))
        entry["oracle"] = "torch" if ok else "manifest"
        entry["why"] = why
        manifest[fname] = entry

    for obj_name, writer, proto in PLAN:
        obj = OBJECTS[obj_name]()
        expected = {} if obj_name == "module_object" else expected_tensors(obj)
        ext = ".pkl" if writer == RAW else ".pt"
        fname = "%s_%s_p%d%s" % (obj_name, writer, proto, ext)
        write(obj, out / fname, writer, proto)
        extra = {}
        if obj_name == "quantized":
            extra["quantized"] = ["per_tensor", "per_channel"]
        record(fname, obj_name, writer, proto, expected, **extra)

    # zips repacked by Python's zipfile
    for obj_name in ("dtypes", "views", "nested"):
        src = out / ("%s_zip_p2.pt" % obj_name)
        expected = manifest[src.name]["tensors"]
        for suffix, kw, hint in (
                ("unaligned", {}, None),
                ("deflated", {"deflate": True}, None),
                ("little", {"byteorder": "little"}, None),
                ("big", {"byteorder": "big", "swap": True},
                 "byteorder 'big': torch 1.13 has no byteorder record and would not swap")):
            if obj_name != "dtypes" and suffix in ("unaligned", "little"):
                continue
            fname = "%s_zip_%s.pt" % (obj_name, suffix)
            repack(src, out / fname, **kw)
            record(fname, obj_name, "zip-" + suffix, 2, expected, oracle_hint=hint)

    # modified copies
    for fname_stem, (obj_name, change) in MODIFIED.items():
        obj = OBJECTS[obj_name]()
        change(obj)
        fname = fname_stem + "_zip_p2.pt"
        torch.save(obj, out / fname)
        record(fname, obj_name, ZIP, 2, expected_tensors(obj),
               modified_from="%s_zip_p2.pt" % obj_name)
        manifest[fname]["group"] = fname_stem

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print("%d checkpoints in %s" % (len(manifest), out))


if __name__ == "__main__":
    main()
