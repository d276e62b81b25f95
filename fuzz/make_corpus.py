#!/usr/bin/python3
"""make_corpus.py — writes the committed seed corpora and dictionaries of brine's fuzz targets.

    /usr/bin/python3 fuzz/make_corpus.py [--check]

Outputs (under fuzz/):
  corpus/pickle/       hand-made pickles that use every opcode of protocols 0-5 (each opcode in
                       a minimal valid stream, plus the constructs scanners get wrong: memo
                       tricks, dotted names, FRAME straddles, trailing data, deep nesting, memo
                       and length floods), and real pickles written by CPython, numpy, torch,
                       sklearn and joblib across protocols 0-5
  corpus/zip/          zip archives: torch.save checkpoints, a TorchScript archive, zipfile
                       archives (stored, deflated, ZIP64, data descriptors, comments), .npz
  corpus/safetensors/  safetensors files (valid, and near-valid variants of each rule)
  corpus/other/        .npy, joblib (raw and compressed), legacy torch files
  pickle.dict, zip.dict, safetensors.dict   libFuzzer dictionaries

Hostile inputs are written as bytes and never loaded: nothing here calls pickle.load,
torch.load, joblib.load or np.load on them. Benign objects are only ever *dumped*.
Outputs are deterministic where the libraries allow (fixed seeds, fixed zip timestamps);
--check fails when the set of committed files differs from what the script would write.
Keep every file small (< 64 KiB; the fuzzers run with -max_len=65536) and the total < 2 MB.
"""
import collections
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import tempfile
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FILE = 64 * 1024

# ------------------------------------------------------------------ opcode helpers

def u8(n):
    return struct.pack("<B", n)


def u16(n):
    return struct.pack("<H", n)


def u32(n):
    return struct.pack("<I", n)


def i32(n):
    return struct.pack("<i", n)


def u64(n):
    return struct.pack("<Q", n)


def sbu(s):
    """SHORT_BINUNICODE"""
    b = s.encode()
    return b"\x8c" + u8(len(b)) + b


def binu(s):
    """BINUNICODE"""
    b = s.encode()
    return b"X" + u32(len(b)) + b


def glob(mod, name):
    """GLOBAL"""
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def sg(mod, name):
    """STACK_GLOBAL with SHORT_BINUNICODE operands"""
    return sbu(mod) + sbu(name) + b"\x93"


def framed(body, proto=4):
    """PROTO + one FRAME around body (body ends with STOP)."""
    return b"\x80" + u8(proto) + b"\x95" + u64(len(body)) + body


# One minimal valid stream per opcode. Each must parse with pickletools.genops; the script
# checks that together they use every opcode pickletools knows.
OPCODE_SNIPPETS = {
    "INT": [b"I42\n.", b"I01\n.", b"I00\n.", b"I-7\n.", b"I0x1f\n.", b"I99999999999999999999\n."],
    "BININT": [b"J" + i32(-5) + b"."],
    "BININT1": [b"K\x05."],
    "BININT2": [b"M\x00\x01."],
    "LONG": [b"L123456789012345678901234567890L\n.", b"L-5\n."],
    "LONG1": [b"\x80\x02\x8a\x02\x00\x01.", b"\x80\x02\x8a\x00.", b"\x80\x02\x8a\x09" + b"\xff" * 9 + b"."],
    "LONG4": [b"\x80\x02\x8b\x02\x00\x00\x00\xff\x7f."],
    "STRING": [b"S'abc'\n.", b'S"a\\x41\\n\\\'b"\n.', b"S'\\101\\t'\n."],
    "BINSTRING": [b"T\x03\x00\x00\x00abc."],
    "SHORT_BINSTRING": [b"U\x03abc."],
    "BINBYTES": [b"\x80\x03B\x03\x00\x00\x00abc."],
    "SHORT_BINBYTES": [b"\x80\x03C\x03abc."],
    "BINBYTES8": [b"\x80\x04\x8e" + u64(3) + b"abc."],
    "BYTEARRAY8": [b"\x80\x05\x96" + u64(3) + b"abc."],
    "NEXT_BUFFER": [b"\x80\x05\x97."],
    "READONLY_BUFFER": [b"\x80\x05\x97\x98."],
    "NONE": [b"N."],
    "NEWTRUE": [b"\x80\x02\x88."],
    "NEWFALSE": [b"\x80\x02\x89."],
    "UNICODE": [b"Vabc\\u1234\\U0001f600\n.", b"V\\ud800\n."],
    "SHORT_BINUNICODE": [b"\x80\x04" + sbu("h\u00e9llo") + b"."],
    "BINUNICODE": [binu("\u20ac") + b"."],
    "BINUNICODE8": [b"\x80\x04\x8d" + u64(3) + b"abc."],
    "FLOAT": [b"F1.5\n.", b"Fnan\n.", b"F-inf\n.", b"F1e308\n."],
    "BINFLOAT": [b"G" + struct.pack(">d", 1.5) + b".", b"G\x7f\xf8\x00\x00\x00\x00\x00\x00."],
    "EMPTY_LIST": [b"]."],
    "APPEND": [b"]Na."],
    "APPENDS": [b"](K\x01K\x02e."],
    "LIST": [b"(K\x01l."],
    "EMPTY_TUPLE": [b")."],
    "TUPLE": [b"(K\x01K\x02t."],
    "TUPLE1": [b"\x80\x02K\x01\x85."],
    "TUPLE2": [b"\x80\x02K\x01K\x02\x86."],
    "TUPLE3": [b"\x80\x02K\x01K\x02K\x03\x87."],
    "EMPTY_DICT": [b"}."],
    "DICT": [b"(K\x01K\x02d."],
    "SETITEM": [b"}K\x01K\x02s."],
    "SETITEMS": [b"}(K\x01K\x02K\x03K\x04u."],
    "EMPTY_SET": [b"\x80\x04\x8f."],
    "ADDITEMS": [b"\x80\x04\x8f(K\x01K\x02\x90."],
    "FROZENSET": [b"\x80\x04(K\x01\x91."],
    "POP": [b"NN0."],
    "DUP": [b"(N2l."],
    "MARK": [b"(l."],
    "POP_MARK": [b"N(NN1."],
    "GET": [b"Np0\n0g0\n."],
    "BINGET": [b"Nq\x000h\x00."],
    "LONG_BINGET": [b"Nr\x00\x00\x00\x000j\x00\x00\x00\x00."],
    "PUT": [b"Np0\n."],
    "BINPUT": [b"Nq\x05."],
    "LONG_BINPUT": [b"Nr\x05\x00\x00\x00."],
    "MEMOIZE": [b"\x80\x04N\x94h\x00."],
    "EXT1": [b"\x80\x02\x82\x01."],
    "EXT2": [b"\x80\x02\x83\x01\x02."],
    "EXT4": [b"\x80\x02\x84\x01\x02\x03\x04."],
    "GLOBAL": [glob("collections", "OrderedDict") + b"."],
    "STACK_GLOBAL": [b"\x80\x04" + sg("collections", "OrderedDict") + b"."],
    "REDUCE": [glob("collections", "OrderedDict") + b")R."],
    "BUILD": [glob("collections", "OrderedDict") + b")R}b."],
    "INST": [b"(icollections\nOrderedDict\n."],
    "OBJ": [b"(" + glob("collections", "OrderedDict") + b"o."],
    "NEWOBJ": [b"\x80\x02" + glob("collections", "OrderedDict") + b")\x81."],
    "NEWOBJ_EX": [b"\x80\x04" + sg("collections", "OrderedDict") + b")}\x92."],
    "PROTO": [b"\x80\x02N.", b"\x80\x05N."],
    "STOP": [b"N."],
    "FRAME": [framed(b"N.")],
    "PERSID": [b"P0\n."],
    "BINPERSID": [binu("storage") + b"Q."],
}

CMD = "echo brine-fuzz-seed"

# Hostile and odd streams (written, never loaded). Names say what each exercises.
HOSTILE = {
    "seed_exploit_proto0": glob("os", "system") + b"(S'" + CMD.encode() + b"'\ntR.",
    "posix_system_proto4": framed(sg("posix", "system") + sbu(CMD) + b"\x85R."),
    "builtins_eval_inst": b"(S'1+1'\ni__builtin__\neval\n.",
    "builtins_exec_obj": b"(" + glob("builtins", "exec") + b"S'pass'\no0N.",
    "newobj_ex_subprocess": b"\x80\x04" + sg("subprocess", "Popen") + b"(" + sbu("id") + b"\x85}\x92.",
    "dotted_random_os": b"\x80\x04" + sg("random", "_os.system") + sbu(CMD) + b"\x85R.",
    "dotted_torch_serialization": b"\x80\x04" + sg("torch", "serialization.os.system") + sbu(CMD) + b"\x85R.",
    "memo_put_after_get": (b"\x80\x04" + sbu("os") + b"q\x00h\x00q\x010" + b"0" + sbu("system")
                           + b"q\x020h\x01h\x02\x93" + sbu(CMD) + b"\x85R."),
    "memo_decoy": (b"\x80\x04" + sbu("os") + b"\x94" + sbu("system") + b"\x94" + sbu("torch") + b"\x94"
                   + sbu("LongStorage") + b"\x94" + b"0000h\x00h\x01\x93" + sbu(CMD) + b"\x85R."),
    "stack_global_string_operands": b"S'os'\nS'system'\n\x93S'" + CMD.encode() + b"'\n\x85R.",
    "stack_global_dynamic": (b"\x80\x04" + sg("builtins", "getattr") + sg("builtins", "__import__")
                             + sbu("os") + b"\x85R" + sbu("system") + b"\x86R" + sbu(CMD) + b"\x85R."),
    "build_poison_module": (b"\x80\x05" + glob("numpy", "prod") + b"N(Va\nVos\nd\x86bN(Vb\nVsystem\nd\x86b0"
                            + glob("numpy", "prod.a") + b"p0\n" + glob("numpy", "prod.b") + b"p1\n00g0\ng1\n\x93V"
                            + CMD.encode() + b"\n\x85R."),
    "ext_opcode_call": b"\x80\x02\x82\x01(S'x'\ntR.",
    "nullifai_broken": b"\x80\x02" + glob("os", "system") + b"(V" + CMD.encode() + b"\ntR\xff\xfe junk",
    "trailing_junk": glob("os", "system") + b"(S'x'\ntR.\n\n\t\t",
    "benign_then_malicious": pickle.dumps([1, 2, 3], protocol=2) + glob("os", "system") + b"(S'x'\ntR.",
    "truncated_malicious": (glob("os", "system") + b"(S'" + CMD.encode() + b"'\ntR.")[:-3],
    "persid_storage": (b"\x80\x02" + glob("torch._utils", "_rebuild_tensor_v2") + b"(("
                       + binu("storage") + glob("torch", "FloatStorage") + binu("0") + binu("cpu")
                       + b"K\x04tQK\x00K\x04\x85K\x01\x85\x89" + glob("collections", "OrderedDict")
                       + b")RtR."),
    "nested_load_from_bytes": (b"\x80\x02" + glob("torch.storage", "_load_from_bytes") + b"C"
                               + u8(len(glob("os", "system") + b"(S'x'\ntR.")) + glob("os", "system")
                               + b"(S'x'\ntR.\x85R."),
    "pickle_loads_nested": (b"\x80\x03" + glob("pickle", "loads") + b"C"
                            + u8(len(glob("os", "system") + b"(S'x'\ntR.")) + glob("os", "system")
                            + b"(S'x'\ntR.\x85R."),
    "setitem_on_global": b"\x80\x02" + glob("builtins", "__dict__") + b"K\x01K\x02s.",
    "append_on_call": b"\x80\x02" + glob("collections", "deque") + b")RK\x01a.",
    "py2_names_proto2": b"\x80\x02" + glob("__builtin__", "set") + b"]\x85R" + glob("copy_reg", "_reconstructor") + b"0.",
    "cpickle_loads_py2": b"\x80\x02" + glob("cPickle", "loads") + b"U\x02N.\x85R.",
    "next_buffer_oob": b"\x80\x05\x97\x98\x85.",
    "dup_proto": b"\x80\x04\x80\x02N.",
    "proto_late": b"N0\x80\x04N.",
    "bad_proto": b"\x80\x06N.",
    "unknown_opcode": b"\x80\x04\xff.",
    "pop_empty": b"0.",
    "pop_mark_no_mark": b"1.",
    "get_missing": b"\x80\x02h\x07.",
    "stop_empty": b".",
    "empty": b"",
}


def frame_straddle():
    """CPython issue #154848: a BINBYTES that straddles a FRAME hides opcodes from pickletools.
    The real exploit pads with a 128 KiB UNICODE so CPython's stream buffer splits there; brine
    checks frame ends exactly whatever the buffering, so the small form exercises the same check."""
    hidden = glob("os", "system") + b"V" + CMD.encode() + b"\n\x85R("
    hidden += b"N" * (261 - len(hidden))
    body = b"\x80\x05N" + b"V" + b"a" * 64 + b"\n0("
    body += b"\x95" + u64(2) + b"B" + u32(263) + b"\x00\x00" + hidden + b"1."
    return body


def memo_flood():
    return b"\x80\x02N" + b"".join(b"r" + u32(0xFFFFFFFF - i) for i in range(64)) + b"."


def length_floods():
    out = {}
    out["binunicode8_huge"] = b"\x80\x04\x8d" + u64(1 << 63) + b"abc."
    out["binbytes8_huge"] = b"\x80\x04\x8e" + u64(0xFFFFFFFFFFFFFFFF) + b"abc."
    out["bytearray8_huge"] = b"\x80\x05\x96" + u64(1 << 40) + b"x."
    out["binunicode_huge"] = b"X" + u32(0xFFFFFFFF) + b"abc."
    out["binstring_negative"] = b"T" + i32(-1) + b"abc."
    out["binbytes_huge"] = b"\x80\x03B" + u32(0x7FFFFFFF) + b"abc."
    out["long4_huge"] = b"\x80\x02\x8b" + u32(0x7FFFFFFF) + b"\x01."
    out["frame_huge"] = b"\x80\x04\x95" + u64(1 << 62) + b"N."
    out["frame_short"] = b"\x80\x04\x95" + u64(1) + b"K\x01."
    out["long_text_huge"] = b"L" + b"9" * 5000 + b"\n."
    return out


def nesting():
    out = {}
    d = 3000
    out["deep_lists"] = b"\x80\x02" + b"]" * d + b"a" * (d - 1) + b"."
    out["deep_tuples"] = b"\x80\x02N" + b"\x85" * d + b"."
    out["deep_marks"] = b"(" * 5000 + b"N" + b"t" * 5000 + b"."
    out["deep_dicts"] = b"\x80\x02" + b"}K\x01" * 2000 + b"s" * 1999 + b"."
    # shared references doubling each level: a naive walker renders 2^40 nodes
    laughs = b"\x80\x02]q\x00"
    for k in range(40):
        laughs += b"(h" + u8(k) + b"h" + u8(k) + b"lq" + u8(k + 1)
    out["billion_laughs"] = laughs + b"."
    # a list that contains itself, and a dict that is its own value
    out["recursive_list"] = b"\x80\x02]q\x00h\x00a."
    out["recursive_dict"] = b"\x80\x02}q\x00K\x01h\x00s."
    out["many_pickles"] = b"N." * 2000
    out["dup_flood"] = b"\x80\x02]" + b"2" * 20000 + b"."
    return out


def real_pickles():
    """Benign objects as CPython, numpy, torch and sklearn pickle them, protocols 0-5."""
    import numpy as np

    rec = []
    rec.append(rec)
    shared = [1, 2]
    objs = {
        "scalars": [None, True, False, 0, -1, 255, 65536, -2**31, 2**63, -2**100, 1.5, float("inf"),
                    float("nan"), 1j, "", "t\u00e9xt\U0001f600", b"", b"\x00\xff", bytearray(b"ba")],
        "containers": {"a": (1,), "b": [1, [2, [3]]], "c": {1, 2}, "d": frozenset({3}), (): {}},
        "shared_refs": [shared, shared, {"s": shared}],
        "recursive": rec,
        "ordered": collections.OrderedDict([("x", 1), ("y", [2])]),
        "big_str": "x" * 70000,
    }
    out = {}
    for name, obj in objs.items():
        for proto in range(0, 6):
            data = pickle.dumps(obj, protocol=proto)
            if len(data) <= MAX_FILE:
                out[f"py_{name}_p{proto}"] = data
    rng = np.random.default_rng(1)
    arrays = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "i64": np.arange(10, dtype=np.int64),
        "bool": np.array([True, False]),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "scalar": np.float64(2.5),
        "structured": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "bigendian": np.arange(4, dtype=">u4"),
    }
    for name, arr in arrays.items():
        for proto in (2, 4, 5):
            out[f"np_{name}_p{proto}"] = pickle.dumps(arr, protocol=proto)
    import torch

    torch.manual_seed(1)
    tensors = {
        "tensor": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "view": torch.arange(10, dtype=torch.int64)[2:7:2],
        "param": torch.nn.Parameter(torch.ones(2)),
        "bf16": torch.ones(3, dtype=torch.bfloat16),
    }
    for name, t in tensors.items():
        for proto in (2, 4):
            out[f"torch_{name}_p{proto}"] = pickle.dumps(t, protocol=proto)
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    out["sklearn_logreg_p4"] = pickle.dumps(LogisticRegression().fit(X, y), protocol=4)
    out["sklearn_tree_p5"] = pickle.dumps(DecisionTreeClassifier(random_state=0).fit(X, y), protocol=5)
    return out


def check_opcode_coverage():
    used = set()
    for name, snippets in OPCODE_SNIPPETS.items():
        # the first snippet is plain; later ones may use what only CPython's C unpickler
        # accepts (INT in base 16, ...), which pickletools rejects
        for s in snippets[:1]:
            ops = [op.name for op, _, _ in pickletools.genops(s)]
            if name not in ops:
                raise SystemExit(f"snippet for {name} does not use it: {ops}")
            used.update(ops)
    missing = {op.name for op in pickletools.opcodes} - used
    if missing:
        raise SystemExit(f"opcodes without a corpus snippet: {sorted(missing)}")


def pickle_corpus():
    check_opcode_coverage()
    out = {}
    for name, snippets in OPCODE_SNIPPETS.items():
        for i, s in enumerate(snippets):
            out[f"op_{name}_{i}"] = s
    # every opcode in one framed protocol-4 stream, and a protocol-0 text stream
    body = b"".join(s[2:] if s.startswith(b"\x80") else s for s in
                    (OPCODE_SNIPPETS[n][0] for n in ("NONE", "BININT1", "SHORT_BINUNICODE")))
    out["walk_framed"] = framed(b"(" + body.replace(b".", b"") + b"t" + b".")
    for name, data in HOSTILE.items():
        out[f"hostile_{name}"] = data
    out["hostile_frame_straddle"] = frame_straddle()
    out["limit_memo_flood"] = memo_flood()
    for name, data in length_floods().items():
        out[f"limit_{name}"] = data
    for name, data in nesting().items():
        out[f"limit_{name}"] = data
    out.update(real_pickles())
    return out


# ------------------------------------------------------------------ zip

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def zip_bytes(members, compression=zipfile.ZIP_STORED, comment=b"", force_zip64=False, stream=False):
    buf = io.BytesIO()

    class Unseekable(io.RawIOBase):
        """Makes zipfile write data descriptors (bit 3), as torch's writer does."""

        def writable(self):
            return True

        def write(self, b):
            return buf.write(b)

    target = Unseekable() if stream else buf
    with zipfile.ZipFile(target, "w", compression=compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = compression
            with z.open(info, "w", force_zip64=force_zip64) as f:
                f.write(data)
        z.comment = comment
    return buf.getvalue()


def torch_zips():
    import torch

    torch.manual_seed(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        def saved(name, obj, **kw):
            path = os.path.join(tmp, name + ".pt")
            torch.save(obj, path, **kw)
            with open(path, "rb") as f:
                return f.read()

        lin = torch.nn.Linear(4, 2)
        out["torch_state_dict"] = saved("model", lin.state_dict())
        base = torch.arange(12, dtype=torch.float32)
        out["torch_views"] = saved("views", {"a": base[2:6], "b": base.view(3, 4).t(), "n": 7,
                                             "s": "str", "f": 0.5})
        out["torch_dtypes"] = saved("dtypes", [torch.zeros(2, dtype=d) for d in (
            torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.bool, torch.complex64,
            torch.float64, torch.int16, torch.int32, torch.int64)])
        out["torch_empty"] = saved("empty", {"e": torch.zeros(0, 3), "s": torch.tensor(3.0)})
        script = torch.jit.script(torch.nn.Linear(2, 2))
        path = os.path.join(tmp, "script.pt")
        torch.jit.save(script, path)
        with open(path, "rb") as f:
            data = f.read()
        if len(data) <= MAX_FILE:
            out["torchscript_linear"] = data
        legacy = {}
        legacy["legacy_state_dict"] = saved("legacy", lin.state_dict(), _use_new_zipfile_serialization=False)
    return out, legacy


def zip_corpus():
    import numpy as np

    pk = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)
    evil = glob("os", "system") + b"(S'" + CMD.encode() + b"'\ntR."
    out = {}
    out["stored"] = zip_bytes([("archive/data.pkl", pk), ("archive/version", b"3\n")])
    out["deflated"] = zip_bytes([("archive/data.pkl", pk), ("archive/data/0", bytes(64))],
                                compression=zipfile.ZIP_DEFLATED)
    out["zip64"] = zip_bytes([("archive/data.pkl", pk)], force_zip64=True)
    out["descriptors"] = zip_bytes([("archive/data.pkl", pk), ("archive/data/0", bytes(16))], stream=True)
    out["comment"] = zip_bytes([("a/data.pkl", pk)], comment=b"PK\x05\x06 fake eocd in comment")
    out["empty"] = zip_bytes([])
    out["malicious_data_pkl"] = zip_bytes([("archive/data.pkl", evil), ("archive/version", b"3\n")])
    out["wrong_ext"] = zip_bytes([("archive/data.txt", evil)])
    out["duplicate_names"] = zip_bytes([("archive/data.pkl", pk), ("archive/data.pkl", evil)])
    out["traversal"] = zip_bytes([("../../etc/data.pkl", pk), ("/abs/data.pkl", pk)])
    out["deflate_bomb_small"] = zip_bytes([("archive/data/0", bytes(60000))], compression=zipfile.ZIP_DEFLATED)
    # local-header name differs from the central directory (CVE-2025-1944)
    z = bytearray(out["malicious_data_pkl"])
    i = z.find(b"archive/data.pkl")
    z[i:i + 16] = b"archive/datb.pkl"
    out["local_name_mismatch"] = bytes(z)
    # CRC mismatch (CVE-2025-10156): flip the CRC in both headers
    z = bytearray(out["malicious_data_pkl"])
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        j = z.find(sig)
        off = 14 if sig == b"PK\x03\x04" else 16
        z[j + off] ^= 0xFF
    out["crc_mismatch"] = bytes(z)
    # flag bits in the local header only (CVE-2025-1945)
    z = bytearray(out["malicious_data_pkl"])
    j = z.find(b"PK\x03\x04")
    z[j + 6] |= 0x21
    out["local_flags"] = bytes(z)
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(4), b=np.ones((2, 2)))
    out["npz"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(100))
    out["npz_compressed"] = buf.getvalue()
    tz, legacy = torch_zips()
    out.update(tz)
    return out, legacy


# ------------------------------------------------------------------ safetensors

def st_file(header, data=b"", pad=True, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad and raw_header is None:
        h += b" " * (-len(h) % 8)
    return u64(len(h)) + h + data


def safetensors_corpus():
    out = {}
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    out["valid_mix"] = st_file({
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
        "c": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
        "d": {"dtype": "BOOL", "shape": [], "data_offsets": [28, 29]},
        "e": {"dtype": "F32", "shape": [2, 0], "data_offsets": [29, 29]},
        "f": {"dtype": "F4", "shape": [2], "data_offsets": [29, 30]},
        "g": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [30, 31]},
    }, f32 + u64(7) + b"\x80\x3f\x00\x40" + b"\x01" + b"\x12" + b"\x38")
    out["empty_header"] = st_file({})
    out["metadata_only"] = st_file({"__metadata__": {"k": "v"}})
    out["leading_ws"] = st_file(None, raw_header=b'\t\n {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}') + b"\x05"
    dts = [("BOOL", 8), ("U8", 8), ("I8", 8), ("F8_E5M2", 8), ("F8_E4M3", 8), ("F8_E8M0", 8),
           ("F8_E4M3FNUZ", 8), ("F8_E5M2FNUZ", 8), ("I16", 16), ("U16", 16), ("F16", 16),
           ("BF16", 16), ("I32", 32), ("U32", 32), ("F32", 32), ("C64", 64), ("F64", 64),
           ("I64", 64), ("U64", 64), ("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6)]
    hdr, pos = {}, 0
    for dt, bits in dts:
        n = bits  # 8 elements of `bits` bits = bits bytes
        hdr["t_" + dt] = {"dtype": dt, "shape": [8], "data_offsets": [pos, pos + n]}
        pos += n
    out["all_dtypes"] = st_file(hdr, bytes(range(256))[:pos] if pos <= 256 else bytes(pos))
    out["dup_identical"] = st_file(None, raw_header=b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                   b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}') + b"\x01"
    out["dup_metadata"] = st_file(None, raw_header=b'{"__metadata__":{},"__metadata__":{}}')
    out["header_too_large"] = u64(100_000_001) + b"{}"
    out["header_past_eof"] = u64(4096) + b"{}"
    out["header_not_utf8"] = st_file(None, raw_header=b'{"\xff":1}')
    out["nul_padding"] = st_file(None, raw_header=b"{}\x00\x00\x00\x00\x00\x00")
    out["metadata_not_string"] = st_file({"__metadata__": {"n": 1}})
    out["unknown_dtype"] = st_file({"a": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}, b"\x00")
    out["negative_shape"] = st_file(None, raw_header=b'{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}') + b"\x00"
    out["float_shape"] = st_file(None, raw_header=b'{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}') + b"\x00"
    out["gap"] = st_file({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                          "b": {"dtype": "U8", "shape": [1], "data_offsets": [2, 3]}}, b"\x00" * 3)
    out["overlap"] = st_file({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                              "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"\x00" * 3)
    out["size_mismatch"] = st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\x00" * 4)
    out["shape_overflow"] = st_file({"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}}, b"\x00" * 4)
    out["f4_odd"] = st_file({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\x00" * 2)
    out["trailing_bytes"] = st_file({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x00PK\x05\x06")
    out["offsets_huge"] = st_file({"a": {"dtype": "U8", "shape": [1], "data_offsets": [2**64 - 1, 0]}}, b"")
    out["tensor_named_metadata"] = st_file({"__metadata__": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x00")
    out["too_small"] = b"\x02\x00\x00"
    out["deep_json"] = st_file(None, raw_header=b'{"__metadata__":' + b"[" * 5000 + b"]" * 5000 + b"}")
    return out


# ------------------------------------------------------------------ other formats

def other_corpus(legacy):
    import joblib
    import numpy as np

    out = dict(legacy)
    for name, arr in {"f32": np.arange(6, dtype=np.float32).reshape(2, 3),
                      "fortran": np.asfortranarray(np.ones((2, 3))),
                      "object": np.array([1, "a", None], dtype=object)}.items():
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=True)
        out[f"npy_{name}"] = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        obj = {"w": np.arange(16, dtype=np.float64), "meta": [1, "x"], "b": np.ones(3, dtype=np.int8)}
        for comp in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
            path = os.path.join(tmp, "j.joblib")
            joblib.dump(obj, path, compress=comp)
            with open(path, "rb") as f:
                tag = comp[0] if comp else "raw"
                out[f"joblib_{tag}"] = f.read()
        try:
            import lz4  # noqa: F401
            path = os.path.join(tmp, "j.joblib")
            joblib.dump(obj, path, compress=("lz4", 3))
            with open(path, "rb") as f:
                out["joblib_lz4"] = f.read()
        except ImportError:
            pass
    out["gguf_header"] = b"GGUF" + u32(3) + u64(0) + u64(0)
    out["text"] = b"# README\nnot a model\n"
    return out


# ------------------------------------------------------------------ dictionaries

def dict_line(b):
    return '"' + "".join(chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else "\\x%02x" % c for c in b) + '"'


def pickle_dict():
    lines = ["# pickle.dict — libFuzzer dictionary for pickle streams (written by make_corpus.py)"]
    for op in pickletools.opcodes:
        lines.append(f"op_{op.name}={dict_line(op.code.encode('latin-1'))}")
    for p in range(6):
        lines.append(f"proto_{p}={dict_line(bytes([0x80, p]))}")
    for name, n in (("zero", 0), ("small", 16), ("huge", 1 << 62)):
        lines.append(f"frame_{name}={dict_line(bytes([0x95]) + u64(n))}")
    for name, n in (("u32_max", 0xFFFFFFFF), ("u32_2g", 0x80000000), ("u32_64k", 0x10000)):
        lines.append(f"len4_{name}={dict_line(u32(n))}")
    for name, n in (("u64_max", 2**64 - 1), ("u64_2p63", 2**63), ("u64_4g", 2**32)):
        lines.append(f"len8_{name}={dict_line(u64(n))}")
    globals_ = [("os", "system"), ("posix", "system"), ("nt", "system"), ("builtins", "eval"),
                ("builtins", "exec"), ("builtins", "getattr"), ("__builtin__", "eval"),
                ("__builtin__", "set"), ("copy_reg", "_reconstructor"), ("subprocess", "Popen"),
                ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                ("torch._utils", "_rebuild_parameter"), ("torch", "FloatStorage"),
                ("torch", "LongStorage"), ("torch.storage", "_load_from_bytes"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode"), ("pickle", "loads"), ("random", "_os.system"),
                ("runpy", "_run_code"), ("pkgutil", "resolve_name")]
    for i, (m, n) in enumerate(globals_):
        lines.append(f"global_{i}={dict_line(glob(m, n))}")
        lines.append(f"sglobal_{i}={dict_line(sg(m, n))}")
    for i, s in enumerate(("storage", "cpu", "os", "system", "__reduce__", "__setstate__")):
        lines.append(f"str_{i}={dict_line(sbu(s))}")
    return "\n".join(lines) + "\n"


def zip_dict():
    entries = {
        "local_sig": b"PK\x03\x04", "central_sig": b"PK\x01\x02", "eocd_sig": b"PK\x05\x06",
        "zip64_eocd_sig": b"PK\x06\x06", "zip64_locator_sig": b"PK\x06\x07", "descriptor_sig": b"PK\x07\x08",
        "zip64_extra": b"\x01\x00", "torch_pad_extra": b"FB", "ver_20": b"\x14\x00", "ver_45": b"\x2d\x00",
        "flags_dd_utf8": b"\x08\x08", "flags_encrypted": b"\x01\x00", "method_deflate": b"\x08\x00",
        "method_store": b"\x00\x00", "u16_max": b"\xff\xff", "u32_max": b"\xff\xff\xff\xff",
        "u64_max": b"\xff" * 8, "name_data_pkl": b"archive/data.pkl", "name_version": b"archive/version",
        "name_data0": b"archive/data/0", "name_constants": b"archive/constants.pkl",
        "name_code": b"archive/code/__torch__/", "name_byteorder": b"archive/byteorder",
        "big": b"big", "little": b"little", "dotdot": b"../", "npy_magic": b"\x93NUMPY\x01\x00",
        "pickle_hdr": b"\x80\x02}q\x00.",
    }
    lines = ["# zip.dict — libFuzzer dictionary for zip archives and PyTorch checkpoints (make_corpus.py)"]
    lines += [f"{k}={dict_line(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def safetensors_dict():
    words = ['{"', '"}', '":', ',"', '"__metadata__"', '"dtype"', '"shape"', '"data_offsets"', '[]', '[0,0]',
             '{}', '"format":"pt"', '18446744073709551615', '9223372036854775807', '100000000', '-1', '1.0',
             '1e400', '\\u0000', '\\ud800', 'null', 'true', '    ']
    words += ['"%s"' % d for d in ("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
                                   "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
                                   "I32", "U32", "F32", "C64", "F64", "I64", "U64")]
    lines = ["# safetensors.dict — libFuzzer dictionary for safetensors headers (make_corpus.py)"]
    lines += [f"w{i}={dict_line(w.encode())}" for i, w in enumerate(words)]
    lines.append(f"hdr_len_8={dict_line(u64(8))}")
    lines.append(f"hdr_len_max={dict_line(u64(100_000_000))}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main

def build():
    files = {}
    for name, data in pickle_corpus().items():
        files[f"corpus/pickle/{name}.pkl"] = data
    zips, legacy = zip_corpus()
    for name, data in zips.items():
        files[f"corpus/zip/{name}.zip"] = data
    for name, data in safetensors_corpus().items():
        files[f"corpus/safetensors/{name}.safetensors"] = data
    for name, data in other_corpus(legacy).items():
        files[f"corpus/other/{name}"] = data
    files["pickle.dict"] = pickle_dict().encode()
    files["zip.dict"] = zip_dict().encode()
    files["safetensors.dict"] = safetensors_dict().encode()
    big = {k: len(v) for k, v in files.items() if len(v) > MAX_FILE}
    if big:
        raise SystemExit(f"corpus files over {MAX_FILE} bytes: {big}")
    total = sum(len(v) for v in files.values())
    if total > 2_000_000:
        raise SystemExit(f"corpus is {total} bytes, over 2 MB")
    return files


def main():
    warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
    check = "--check" in sys.argv[1:]
    files = build()
    if check:
        bad = []
        for rel, data in files.items():
            path = os.path.join(HERE, rel)
            if not os.path.exists(path):
                bad.append(f"missing {rel}")
        for d in ("corpus/pickle", "corpus/zip", "corpus/safetensors", "corpus/other"):
            for name in os.listdir(os.path.join(HERE, d)):
                if f"{d}/{name}" not in files:
                    bad.append(f"extra {d}/{name}")
        if bad:
            raise SystemExit("corpus differs from make_corpus.py:\n  " + "\n  ".join(bad))
        print(f"{len(files)} files match")
        return
    for d in ("corpus/pickle", "corpus/zip", "corpus/safetensors", "corpus/other"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        os.makedirs(os.path.join(HERE, d))
    for rel, data in sorted(files.items()):
        with open(os.path.join(HERE, rel), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files, {sum(len(v) for v in files.values())} bytes")


if __name__ == "__main__":
    main()
