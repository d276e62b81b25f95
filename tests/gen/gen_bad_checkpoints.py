#!/usr/bin/python3
"""Malformed and hostile PyTorch checkpoints, assembled by hand (data.pkl written opcode by
opcode, archives written with zipfile and then patched byte by byte), plus a TorchScript
archive saved by torch.jit.save.

usage: /usr/bin/python3 tests/gen/gen_bad_checkpoints.py OUTDIR [MARKER]

Writes OUTDIR/<y_|n_><case>.pt and OUTDIR/manifest.json:
  {file: {"verdicts": [...], "rule"?: str, "global"?: str, "why": str,
          "tensors"?: {name: {dtype, shape, sha256}}}}
`y_` files are valid hand-made checkpoints (the assembler's baseline): brine must call them
`safe` and list `tensors`, which this script takes from torch.load(weights_only=True) of
those files — safe because they hold nothing but allowlisted rebuild calls built here.
`n_` files must get one of `verdicts` from `brine scan` (with `rule` among the findings and
`global` named when given) and be refused by `brine inspect` and `brine convert`.

Hostile payloads call os.system("touch MARKER"); MARKER defaults to a path that does not
exist. Nothing in this script loads an `n_` file: no pickle.load, no torch.load, no
torch.jit.load, no zipfile extraction of them.
"""

import argparse
import hashlib
import json
import pickle
import struct
import sys
import warnings
import zipfile
from pathlib import Path

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_checkpoints as gc  # noqa: E402

ROOT = "archive"

# ------------------------------------------------------------------ pickle assembly
# Protocol 2, the opcodes torch.save itself writes for data.pkl.

PROTO2, STOP, MARK, TUPLE, TUPLE1, REDUCE = b"\x80\x02", b".", b"(", b"t", b"\x85", b"R"
EMPTY_DICT, EMPTY_TUPLE, SETITEMS, NEWFALSE, BINPERSID = b"}", b")", b"u", b"\x89", b"Q"


def uni(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def integer(n):
    """Any int as CPython's protocol-2 pickler writes it (BININT1/2, BININT, LONG1)."""
    return pickle.dumps(n, protocol=2)[2:-1]


def int_tuple(values):
    return MARK + b"".join(integer(v) for v in values) + TUPLE


def persid(cls, key, numel, legacy=False):
    body = uni("storage") + glob("torch", cls) + uni(key) + uni("cpu") + integer(numel)
    if legacy:
        body += b"N"  # view_metadata None
    return MARK + body + TUPLE + BINPERSID


def rebuild_v2(cls, key, numel, offset, size, stride, legacy=False, nargs=6):
    args = [persid(cls, key, numel, legacy), integer(offset), int_tuple(size),
            int_tuple(stride), NEWFALSE,
            glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE][:nargs]
    return glob("torch._utils", "_rebuild_tensor_v2") + MARK + b"".join(args) + TUPLE + REDUCE


def dict_pickle(items):
    """{name: value-opcodes} as PROTO 2 EMPTY_DICT MARK ... SETITEMS STOP."""
    body = b"".join(uni(k) + v for k, v in items)
    return PROTO2 + EMPTY_DICT + MARK + body + SETITEMS + STOP


def payload(marker):
    """os.system('touch MARKER'): what a hostile data.pkl runs at load."""
    return PROTO2 + glob("os", "system") + uni("touch " + str(marker)) + TUPLE1 + REDUCE + STOP


def f32(values):
    return struct.pack("<%df" % len(values), *values)


# ------------------------------------------------------------------ archives


def torch_zip(path, records, root=ROOT):
    """A torch-layout zip (root/data.pkl, root/data/N, root/version) written by zipfile.
    records: list of (name below root, bytes[, compress_type])."""
    with zipfile.ZipFile(path, "w") as z:
        for rec in records:
            name, data = rec[0], rec[1]
            method = rec[2] if len(rec) > 2 else zipfile.ZIP_STORED
            z.writestr(root + "/" + name, data, compress_type=method)
    return path


def tensor_zip(path, entries, storages, extra=()):
    """entries: [(name, rebuild opcodes)]; storages: {key: bytes}."""
    recs = [("data.pkl", dict_pickle(entries))]
    recs += [("data/" + k, v) for k, v in storages.items()]
    recs += [("version", b"3\n")] + list(extra)
    return torch_zip(path, recs)


def legacy_file(path, entries, storages, counts=None, truncate=None, keys=None):
    """A legacy torch file: magic, protocol version, sys_info, the object (6-tuple persistent
    ids), the storage keys, then per key an int64 element count and the raw bytes."""
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    keys = sorted(storages) if keys is None else keys
    out = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    out += pickle.dumps(sys_info, protocol=2) + dict_pickle(entries)
    out += pickle.dumps(keys, protocol=2)
    for k in sorted(storages):
        data, elem = storages[k]
        count = (counts or {}).get(k, len(data) // elem)
        out += struct.pack("<q", count) + data
    if truncate:
        out = out[:-truncate]
    path.write_bytes(out)
    return path


def central_entries(blob):
    """(offset, name) of every central-directory record, walking from the EOCD."""
    eocd = blob.rindex(b"PK\x05\x06")
    count, _size, start = struct.unpack_from("<HII", blob, eocd + 10)
    out, p = [], start
    for _ in range(count):
        assert blob[p:p + 4] == b"PK\x01\x02"
        n, m, k = struct.unpack_from("<HHH", blob, p + 28)
        out.append((p, blob[p + 46:p + 46 + n].decode()))
        p += 46 + n + m + k
    return out


def patch_zip(path, member, local=None, central=None):
    """Patches the local header and/or central record of `member`: each a dict
    {field offset: (struct format, function of the old value)}."""
    blob = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        local_off = z.getinfo(member).header_offset
    for off, (fmt, fn) in (local or {}).items():
        old = struct.unpack_from(fmt, blob, local_off + off)[0]
        struct.pack_into(fmt, blob, local_off + off, fn(old))
    for cd_off, name in central_entries(bytes(blob)):
        if name == member:
            for off, (fmt, fn) in (central or {}).items():
                old = struct.unpack_from(fmt, blob, cd_off + off)[0]
                struct.pack_into(fmt, blob, cd_off + off, fn(old))
    path.write_bytes(bytes(blob))


def rename_local(path, member, new):
    """Rewrites the name in the local header only (same length): CVE-2025-1944."""
    assert len(new) == len(member)
    blob = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        off = z.getinfo(member).header_offset
    n = struct.unpack_from("<H", blob, off + 26)[0]
    assert blob[off + 30:off + 30 + n] == member.encode()
    blob[off + 30:off + 30 + n] = new.encode()
    path.write_bytes(bytes(blob))


# ------------------------------------------------------------------ the cases

W4 = f32([1.0, 2.0, 3.0, 4.0])  # 4 float32 elements, 16 bytes


def one(name="w", cls="FloatStorage", key="0", numel=4, offset=0, size=(4,), stride=(1,),
        legacy=False, nargs=6):
    return [(name, rebuild_v2(cls, key, numel, offset, size, stride, legacy, nargs))]


def build(out, marker):
    m = {}

    def case(fname, verdicts, why, rule=None, global_=None):
        m[fname] = {"verdicts": verdicts, "why": why}
        if rule:
            m[fname]["rule"] = rule
        if global_:
            m[fname]["global"] = global_
        return out / fname

    # valid baselines: the assembler writes what torch.load(weights_only=True) reads
    tensor_zip(case("y_baseline.pt", ["safe"], "hand-assembled, valid"), one(), {"0": W4})
    tensor_zip(case("y_view_to_the_end.pt", ["safe"], "view ends exactly at the storage end"),
               one(offset=1, size=(3,), stride=(1,)) +
               one("m", offset=0, size=(2, 2), stride=(2, 1)) +
               one("e", offset=0, size=(3, 4), stride=(0, 1)) +
               one("z", offset=4, size=(0,), stride=(1,)), {"0": W4})
    legacy_file(case("y_baseline_legacy.pt", ["safe"], "hand-assembled legacy, valid"),
                one(legacy=True), {"0": (W4, 4)})

    # storage records against data.pkl (torch 1.13 checks none of these in zips)
    tensor_zip(case("n_numel_exceeds_record.pt", ["invalid"], "data.pkl declares 100 "
                    "elements, data/0 holds 4: torch 1.13 exposes heap memory",
                    rule="storage-size"),
               one(numel=100, size=(100,)), {"0": W4})
    tensor_zip(case("n_numel_exceeds_record_small_view.pt", ["invalid"], "numel 100 > record "
                    "even though the view stays inside the record", rule="storage-size"),
               one(numel=100, size=(2,)), {"0": W4})
    tensor_zip(case("n_record_missing.pt", ["invalid"], "data.pkl names storage 1, no data/1",
                    rule="storage-size"),
               one() + one("v", key="1"), {"0": W4})
    tensor_zip(case("n_record_short_by_one_byte.pt", ["invalid"], "15-byte record for 4 float32",
                    rule="storage-size"), one(), {"0": W4[:15]})
    tensor_zip(case("n_numel_negative.pt", ["invalid"], "numel -1"), one(numel=-1), {"0": W4})
    tensor_zip(case("n_numel_huge.pt", ["invalid"], "numel 2**62: numel*4 overflows 64 bits"),
               one(numel=2**62, size=(4,)), {"0": W4})
    tensor_zip(case("n_numel_2_63.pt", ["invalid"], "numel 2**63 does not fit int64"),
               one(numel=2**63), {"0": W4})
    # sizes, strides, offsets
    tensor_zip(case("n_size_negative.pt", ["invalid"], "size (-1,)"), one(size=(-1,)), {"0": W4})
    tensor_zip(case("n_size_huge.pt", ["invalid"], "size (2**40,) on 4 elements"),
               one(size=(2**40,)), {"0": W4})
    tensor_zip(case("n_size_product_overflow.pt", ["invalid"], "sizes whose product overflows "
                    "int64, stride 0"), one(size=(2**32, 2**32, 4), stride=(0, 0, 1)), {"0": W4})
    tensor_zip(case("n_stride_negative.pt", ["invalid"], "stride (-1,) from offset 3"),
               one(offset=3, size=(4,), stride=(-1,)), {"0": W4})
    tensor_zip(case("n_stride_huge.pt", ["invalid"], "stride 2**62: (size-1)*stride overflows "
                    "when scaled to bytes"), one(size=(2,), stride=(2**62,)), {"0": W4})
    tensor_zip(case("n_stride_past_end.pt", ["invalid"], "size (3,) stride (2,): last element "
                    "at index 4 of 4"), one(size=(3,), stride=(2,)), {"0": W4})
    tensor_zip(case("n_offset_past_end.pt", ["invalid"], "storage offset 10 on 4 elements"),
               one(offset=10, size=(1,)), {"0": W4})
    tensor_zip(case("n_offset_negative.pt", ["invalid"], "storage offset -1"),
               one(offset=-1, size=(1,)), {"0": W4})
    tensor_zip(case("n_view_extent_past_storage.pt", ["invalid"], "offset 1 + 4 elements on 4"),
               one(offset=1, size=(4,)), {"0": W4})
    tensor_zip(case("n_view_2d_past_storage.pt", ["invalid"], "size (2,3) stride (3,1) needs 6"),
               one(size=(2, 3), stride=(3, 1)), {"0": W4})
    tensor_zip(case("n_rank_mismatch.pt", ["invalid"], "size has 2 dims, stride 1"),
               one(size=(2, 2), stride=(1,)), {"0": W4})
    tensor_zip(case("n_offset_huge.pt", ["invalid"], "offset 2**63-1 (offset + extent overflows)"),
               one(offset=2**63 - 1, size=(2,)), {"0": W4})
    # storage classes and arguments
    # torch's find_class maps any *Storage name to a StorageType that has no dtype, so the
    # load fails; brine's allowlist does not know the name either: unverified or invalid
    tensor_zip(case("n_unknown_storage_class.pt", ["invalid", "unverified"],
                    "torch.FooStorage: no dtype"),
               one(cls="FooStorage"), {"0": W4})
    tensor_zip(case("n_storage_two_types.pt", ["invalid"], "storage 0 read as float and as long"),
               one() + one("l", cls="LongStorage", numel=2, size=(2,)), {"0": W4})
    tensor_zip(case("n_rebuild_too_few_args.pt", ["invalid"], "_rebuild_tensor_v2 with 3 args: "
                    "the call raises TypeError"), one(nargs=3), {"0": W4})
    # legacy files
    legacy_file(case("n_legacy_count_mismatch.pt", ["invalid"], "record count 5, pickle says 4"),
                one(legacy=True), {"0": (W4 + W4[:4], 4)}, counts={"0": 5})
    legacy_file(case("n_legacy_numel_exceeds_record.pt", ["invalid"], "pickle declares 100 "
                     "elements, the record holds 4"),
                one(numel=100, size=(100,), legacy=True), {"0": (W4, 4)})
    legacy_file(case("n_legacy_truncated.pt", ["invalid"], "file ends inside the storage data"),
                one(legacy=True), {"0": (W4, 4)}, truncate=6)
    legacy_file(case("n_legacy_key_missing.pt", ["invalid"], "the object names storage 1, the "
                     "key list and records hold only 0"),
                one(legacy=True) + one("v", key="1", legacy=True), {"0": (W4, 4)})
    legacy_file(case("n_legacy_view_past_storage.pt", ["invalid"], "offset 2 + 4 elements"),
                one(offset=2, legacy=True), {"0": (W4, 4)})
    legacy_file(case("n_legacy_payload.pt", ["unsafe"], "legacy file whose object pickle runs "
                     "os.system", global_="os.system"),
                [("w", glob("os", "system") + uni("touch " + str(marker)) + TUPLE1 + REDUCE)],
                {})

    # TorchScript: torch.jit.load compiles and runs code/ (CVE-2025-32434 route)
    ts = case("n_torchscript.pt", ["unsafe"], "torch.jit.save of a scripted module",
              rule="torchscript")
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(ts))

    # zip tricks of threats.md 7 E around a hostile data.pkl
    evil = payload(marker)

    def hostile_zip(fname, why, **kw):
        p = case(fname, ["unsafe"], why, global_="os.system", **kw)
        return torch_zip(p, [("data.pkl", evil), ("data/0", W4), ("version", b"3\n")])

    hostile_zip("n_payload_plain.pt", "a hostile data.pkl, nothing hidden")
    p = hostile_zip("n_payload_crc_mismatch.pt", "CRC-32 of data.pkl flipped in local and "
                    "central headers (CVE-2025-10156: zipfile refuses, torch loads)")
    flip = ("<I", lambda v: v ^ 0xFFFFFFFF)
    patch_zip(p, ROOT + "/data.pkl", local={14: flip}, central={16: flip})
    p = hostile_zip("n_payload_local_name.pt", "local header says archive/datb.pkl, central "
                    "directory archive/data.pkl (CVE-2025-1944)")
    rename_local(p, ROOT + "/data.pkl", ROOT + "/datb.pkl")
    for bit in (0x1, 0x20, 0x40):
        p = hostile_zip("n_payload_local_flag_%#x.pt" % bit, "flag bit %#x set only in the local "
                        "header of data.pkl (CVE-2025-1945: torch ignores it)" % bit)
        patch_zip(p, ROOT + "/data.pkl", local={6: ("<H", lambda v, b=bit: v | b)})
    p = case("n_payload_deflated.pt", ["unsafe"], "hostile data.pkl stored deflated",
             global_="os.system")
    torch_zip(p, [("data.pkl", evil, zipfile.ZIP_DEFLATED), ("data/0", W4), ("version", b"3\n")])
    p = case("n_payload_duplicate_name.pt", ["unsafe"], "two central entries named "
             "archive/data.pkl: benign first, hostile second", global_="os.system")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(ROOT + "/data.pkl", dict_pickle(one()))
        z.writestr(ROOT + "/data.pkl", evil)
        z.writestr(ROOT + "/data/0", W4)
        z.writestr(ROOT + "/version", b"3\n")
    p = case("n_payload_duplicate_case.pt", ["unsafe"], "archive/DATA.pkl (hostile) next to "
             "archive/data.pkl: miniz looks names up case-insensitively", global_="os.system")
    torch_zip(p, [("DATA.pkl", evil), ("data.pkl", dict_pickle(one())), ("data/0", W4),
                  ("version", b"3\n")])
    p = case("n_payload_extra_member.pt", ["unsafe"], "benign data.pkl, hostile "
             "archive/extra.pkl another loader may read", global_="os.system")
    tensor_zip(p, one(), {"0": W4}, extra=[("extra.pkl", evil)])
    # the same tricks around a benign data.pkl: readers disagree, so never `safe`
    p = case("n_benign_crc_mismatch.pt", ["invalid"], "benign data.pkl with a flipped CRC",
             rule="zip-crc")
    tensor_zip(p, one(), {"0": W4})
    patch_zip(p, ROOT + "/data.pkl", local={14: flip}, central={16: flip})
    p = case("n_benign_local_name.pt", ["invalid"], "benign data.pkl, local name datb.pkl",
             rule="zip-local-name")
    tensor_zip(p, one(), {"0": W4})
    rename_local(p, ROOT + "/data.pkl", ROOT + "/datb.pkl")
    # (a wrong CRC on a storage record is not here: checking it would read every tensor
    # byte, and a scan costs the pickle and the central directory only — DESIGN.md)
    p = case("n_central_encrypted_flag.pt", ["invalid", "unsafe"], "hostile data.pkl flagged "
             "encrypted in the central directory: torch refuses to read it")
    torch_zip(p, [("data.pkl", evil), ("data/0", W4), ("version", b"3\n")])
    patch_zip(p, ROOT + "/data.pkl", central={8: ("<H", lambda v: v | 1)})
    return m


def check_baselines(out, m):
    """The y_ files are benign by construction: torch.load(weights_only=True) must read them,
    which proves the assembler writes what torch writes; their tensors go to the manifest."""
    for fname, entry in m.items():
        if not fname.startswith("y_"):
            continue
        obj = torch.load(str(out / fname), weights_only=True)
        entry["tensors"] = gc.expected_tensors(obj)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("marker", nargs="?", default="/nonexistent/brine-bad-checkpoint-ran")
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    m = build(args.outdir, args.marker)
    check_baselines(args.outdir, m)
    for fname in m:
        m[fname]["sha256_file"] = hashlib.sha256((args.outdir / fname).read_bytes()).hexdigest()
    (args.outdir / "manifest.json").write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")
    print("%d malformed or hostile checkpoints in %s" % (len(m), args.outdir))


if __name__ == "__main__":
    main()
