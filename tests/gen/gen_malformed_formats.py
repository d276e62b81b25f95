#!/usr/bin/python3
"""Writes the malformed-zip and malformed-safetensors corpora.

    gen_malformed_formats.py OUTDIR

OUTDIR/zip/*.zip and OUTDIR/safetensors/*.safetensors, plus OUTDIR/manifest.json saying
what brine must make of each file:

  y_*  must parse. For zips: the directory opens and every entry reads; the anomalies brine
       records must be exactly the listed ones (entry and archive anomalies together).
  n_*  must be rejected with a clear message: the zip does not open, or an entry does not
       read; a safetensors file does not open. `message` is a substring of that message.

`args` are extra zip_list options (lower limits) for the case.

The zip tricks are those of research/threats.md §7 E (CVE-2025-10156 CRC mismatch,
CVE-2025-1944 local/central name mismatch, CVE-2025-1945 flag bits, CVE-2025-1889 member
names) plus the structural ones of formats.md §2.2; the safetensors cases are the reference
validator's rules and results (formats.md §3.2, §3.5). Archives are built byte by byte
(APPNOTE.TXT) so that each case corrupts exactly one field; two start from real torch.save
output. Nothing here ever loads a file.
"""

import io
import json
import os
import struct
import sys
import zlib

# ------------------------------------------------------------------ zip building


def deflate_raw(data, level=9):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


class Entry:
    """One member. Fields mirror the ones tests/c/test_zip.c's builder has."""

    def __init__(self, name, data=b"", method=0, **kw):
        self.name = name.encode() if isinstance(name, str) else name
        self.lname = kw.pop("lname", None)
        if isinstance(self.lname, str):
            self.lname = self.lname.encode()
        self.data = data
        self.method = method
        self.flags = kw.pop("flags", 0)
        self.lflags = kw.pop("lflags", None)
        self.lmethod = kw.pop("lmethod", None)
        self.bad_crc = kw.pop("bad_crc", False)
        self.descriptor = kw.pop("descriptor", 0)  # 1 sig+32, 2 no sig, 3 sig+64
        self.zip64 = kw.pop("zip64", False)
        self.zip64_missing = kw.pop("zip64_missing", False)
        self.same_local_as = kw.pop("same_local_as", None)  # index of an earlier entry
        self.csize_delta = kw.pop("csize_delta", 0)
        self.usize_delta = kw.pop("usize_delta", 0)
        self.usize_set = kw.pop("usize_set", None)
        self.gap_before = kw.pop("gap_before", b"")
        self.tail = kw.pop("tail", b"")
        self.comp = kw.pop("comp", None)  # explicit compressed bytes
        self.lofs_delta = kw.pop("lofs_delta", 0)
        self.cd_extra = kw.pop("cd_extra", b"")  # appended to the central extra field
        assert not kw, kw


def build_zip(entries, prefix=b"", zip64_end=False, comment=b"", comment_len_delta=0,
              cd_trailing=b"", cd_gap=b"", count=None, count64=None, cd_size=None,
              disk=0, cd_disk=0, after=b"", locator_delta=0, eocd64_gap=b""):
    out = bytearray(prefix)
    for i, e in enumerate(entries):
        e.crc = zlib.crc32(e.data) ^ (0x5A5A5A5A if e.bad_crc else 0)
        e.usize = len(e.data) if e.usize_set is None else e.usize_set
        if e.same_local_as is not None:
            s = entries[e.same_local_as]
            e.lofs, e.csize, e.crc, e.usize = s.lofs, s.csize, s.crc, s.usize
            continue
        comp = e.comp if e.comp is not None else (deflate_raw(e.data) if e.method == 8 else e.data)
        comp = comp + e.tail
        e.csize = len(comp)
        out += e.gap_before
        e.lofs = len(out)
        lname = e.name if e.lname is None else e.lname
        lflags = e.flags if e.lflags is None else e.lflags
        lmethod = e.method if e.lmethod is None else e.lmethod
        if lflags & 8:
            sizes = (0, 0, 0)
        else:
            sizes = (e.crc, e.csize, e.usize)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, lflags, lmethod, 0, 0, *sizes,
                           len(lname), 0)
        out += lname + comp
        if e.descriptor == 1:
            out += struct.pack("<IIII", 0x08074B50, e.crc, e.csize, e.usize)
        elif e.descriptor == 2:
            out += struct.pack("<III", e.crc, e.csize, e.usize)
        elif e.descriptor == 3:
            out += struct.pack("<IIQQ", 0x08074B50, e.crc, e.csize, e.usize)
    cd = len(out)
    for e in entries:
        cs, us = e.csize + e.csize_delta, e.usize + e.usize_delta
        lofs = e.lofs + e.lofs_delta
        big = e.zip64 or e.zip64_missing
        extra = (struct.pack("<HHQQQ", 1, 24, us, cs, lofs) if e.zip64 else b"") + e.cd_extra
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, e.flags, e.method, 0, 0,
                           e.crc, 0xFFFFFFFF if big else cs, 0xFFFFFFFF if big else us,
                           len(e.name), len(extra), 0, 0, 0, 0,
                           0xFFFFFFFF if big else lofs)
        out += e.name + extra
    out += cd_trailing
    size = len(out) - cd
    out += cd_gap
    n = len(entries) if count is None else count
    if zip64_end:
        e64 = len(out)
        n64 = n if count64 is None else count64
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n64, n64,
                           size if cd_size is None else cd_size, cd)
        out += eocd64_gap
        out += struct.pack("<IIQI", 0x07064B50, 0, e64 + locator_delta, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, disk, cd_disk, n & 0xFFFF, n & 0xFFFF,
                       (size if cd_size is None else cd_size) & 0xFFFFFFFF, cd & 0xFFFFFFFF,
                       len(comment) + comment_len_delta)
    out += comment + after
    return bytes(out)


# ------------------------------------------------------------------ torch-made archives


def torch_archive():
    """torch.save output (zip64 end record, data descriptors, 64-byte alignment), or None."""
    try:
        import torch
    except ImportError:
        return None
    buf = io.BytesIO()
    torch.save({"a": torch.arange(10), "w": torch.ones(2, 3)}, buf)
    return buf.getvalue()


def patch_member(zipbytes, member, fn):
    """Applies fn(bytearray, local_ofs, cd_ofs) for the member called `member`."""
    b = bytearray(zipbytes)
    eocd = b.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", b, eocd + 16)[0]
    if cd == 0xFFFFFFFF:
        loc = eocd - 20
        e64 = struct.unpack_from("<Q", b, loc + 8)[0]
        cd = struct.unpack_from("<Q", b, e64 + 48)[0]
    p = cd
    while b[p:p + 4] == b"PK\x01\x02":
        nlen, xlen, clen = struct.unpack_from("<HHH", b, p + 28)
        name = bytes(b[p + 46:p + 46 + nlen])
        lofs = struct.unpack_from("<I", b, p + 42)[0]
        if name.endswith(member.encode()):
            fn(b, lofs, p)
            return bytes(b)
        p += 46 + nlen + xlen + clen
    raise KeyError(member)


def flip_crc(b, lofs, cdofs):
    # torch's local headers carry zero CRCs (data descriptors): flip the central one and the
    # descriptor's, as the CVE-2025-10156 sample does
    struct.pack_into("<I", b, cdofs + 16, struct.unpack_from("<I", b, cdofs + 16)[0] ^ 0xFFFFFFFF)


def rename_local(b, lofs, cdofs):
    nlen = struct.unpack_from("<H", b, lofs + 26)[0]
    name = bytes(b[lofs + 30:lofs + 30 + nlen])
    b[lofs + 30:lofs + 30 + nlen] = name.replace(b"data.pkl", b"datb.pkl")


# ------------------------------------------------------------------ zip cases

PICKLE0 = b"(dp0\nVa\np1\nI1\ns."  # a protocol-0 pickle: no PROTO byte to sniff


def zip_cases():
    text = bytes((i * 7 + 3) % 256 for i in range(5000))
    hello = b"hello, world"
    cases = {}

    def case(name, data, expect, anomalies=(), message=None, args=()):
        cases[name] = (data, {"expect": expect, "anomalies": sorted(anomalies),
                              "message": message, "args": list(args)})

    def E(*a, **k):
        return Entry(*a, **k)

    # ---------------------------------------------------------- must parse
    case("y_empty.zip", build_zip([]), "parse")
    case("y_stored_and_deflated.zip",
         build_zip([E("arch/data.pkl", hello), E("arch/data/0", text, 8), E("arch/e", b"")]),
         "parse")
    case("y_local_name_mismatch.zip",  # CVE-2025-1944
         build_zip([E("archive/data.pkl", hello, lname="archive/datb.pkl")]), "parse",
         ["local-name"])
    for bit in (0x1, 0x20, 0x40):  # CVE-2025-1945, local header only: torch and zipfile read
        case("y_local_flag_0x%x.zip" % bit,
             build_zip([E("archive/data.pkl", hello, lflags=bit)]), "parse", ["local-flags"])
    case("y_crc_mismatch.zip",  # CVE-2025-10156 on a hand-built archive
         build_zip([E("archive/data.pkl", hello, bad_crc=True), E("b", text, 8, bad_crc=True)]),
         "parse", ["crc"])
    case("y_nonstandard_member_name.zip",  # CVE-2025-1889: a pickle under another extension
         build_zip([E("archive/data.txt", PICKLE0), E("archive/version", b"3\n")]), "parse")
    case("y_zip64.zip",
         build_zip([E("a", hello, zip64=True), E("b", text, 8, zip64=True), E("c", hello)],
                   zip64_end=True), "parse")
    case("y_data_descriptor.zip",
         build_zip([E("sig", hello, flags=8, descriptor=1), E("nosig", hello, flags=8,
                                                              descriptor=2),
                    E("z64", text, 8, flags=0x808, descriptor=3)]), "parse")
    case("y_overlapping_entries.zip",
         build_zip([E("a", hello), E("b", hello, same_local_as=0), E("c", hello)]), "parse",
         ["overlap", "local-name"])
    case("y_eocd_in_comment.zip",
         build_zip([E("a", hello)], comment=b"PK\x05\x06" + bytes(18)), "parse",
         ["eocd-in-comment", "cd-gap"])
    case("y_eocd_comment_length.zip", build_zip([E("a", hello)], comment=b"x", after=b"tail"),
         "parse", ["eocd-comment"])
    case("y_duplicate_names.zip", build_zip([E("dup", hello), E("dup", text)]), "parse",
         ["duplicate"])
    case("y_duplicate_case.zip", build_zip([E("arch/data.pkl", hello), E("arch/DATA.pkl",
                                                                         text)]),
         "parse", ["duplicate-case"])
    case("y_name_dotdot.zip", build_zip([E("../../etc/passwd", hello)]), "parse",
         ["name-dotdot"])
    case("y_name_absolute.zip", build_zip([E("/etc/passwd", hello)]), "parse", ["name-absolute"])
    case("y_name_backslash.zip", build_zip([E("a\\b", hello)]), "parse", ["name-backslash"])
    case("y_name_drive.zip", build_zip([E("C:\\x", hello)]), "parse",
         ["name-absolute", "name-backslash"])
    case("y_name_nul.zip", build_zip([E(b"data.pkl\x00.txt", hello)]), "parse", ["name-nul"])
    case("y_name_empty.zip", build_zip([E(b"", hello)]), "parse", ["name-empty"])
    case("y_cd_trailing.zip", build_zip([E("a", hello)], cd_trailing=b"\0" * 46), "parse",
         ["cd-trailing"])
    case("y_cd_gap.zip", build_zip([E("a", hello)], cd_gap=b"gap"), "parse", ["cd-gap"])
    case("y_prefix.zip", build_zip([E("a", hello)], prefix=b"#!/bin/sh\nexit 0\n"), "parse",
         ["prefix"])
    case("y_hidden_bytes.zip", build_zip([E("a", hello), E("b", hello, gap_before=b"HIDDEN")]),
         "parse", ["hidden-bytes"])
    case("y_zip64_mismatch.zip",
         build_zip([E("a", hello), E("b", hello)], zip64_end=True, count=1, count64=2),
         "parse", ["zip64-mismatch"])
    case("y_zip64_locator_off.zip",
         build_zip([E("a", hello)], zip64_end=True, locator_delta=5), "parse",
         ["zip64-locator"])
    case("y_deflate_tail.zip", build_zip([E("a", text, 8, tail=b"extra")]), "parse",
         ["deflate-tail"])
    case("y_malformed_extra.zip",  # a field header claiming 16 bytes, 3 present
         build_zip([E("a", hello, cd_extra=b"UT\x10\x00abc")]), "parse", ["extra"])
    case("y_extra_fields.zip",  # well-formed fields, and a ZIP64 field nobody needs
         build_zip([E("a", hello, cd_extra=b"UT\x05\x00\x03\x00\x00\x00\x00"
                                             b"\x01\x00\x08\x00" + bytes(8))]), "parse")
    case("y_local_method.zip", build_zip([E("a", hello, lmethod=8)]), "parse", ["local-method"])
    case("y_bad_descriptor.zip", build_zip([E("a", hello, flags=8, descriptor=0)]), "parse",
         ["descriptor"])
    case("y_overlap_cd.zip", build_zip([E("a", hello, usize_delta=20, csize_delta=20)]),
         "parse", ["overlap-cd", "local-sizes", "crc"])

    t = torch_archive()
    if t is not None:
        case("y_torch_benign.zip", t, "parse")
        case("y_torch_crc_mismatch.zip", patch_member(t, "data.pkl", flip_crc), "parse",
             ["crc", "descriptor"])
        case("y_torch_local_name.zip", patch_member(t, "data.pkl", rename_local), "parse",
             ["local-name"])

    # ---------------------------------------------------------- must be rejected
    case("n_empty_file.zip", b"", "reject", message="needs 22 bytes")
    case("n_not_a_zip.zip", b"\x80\x02}q\x00." * 10, "reject",
         message="no end-of-central-directory")
    case("n_eocd_too_far.zip", build_zip([E("a", hello)], after=bytes(70000)), "reject",
         message="no end-of-central-directory record in the last 65557 bytes")
    case("n_truncated_file.zip", build_zip([E("a", hello), E("b", text, 8)])[:-30], "reject",
         message="no end-of-central-directory")
    for bit, what in ((0x1, "encrypted"), (0x40, "encrypted"), (0x2000, "encrypted"),
                      (0x20, "patch")):
        case("n_cd_flag_0x%x.zip" % bit, build_zip([E("archive/data.pkl", hello, flags=bit)]),
             "reject", message=what)
    case("n_method_bzip2.zip", build_zip([E("a", hello, 12)]), "reject",
         message="neither stored (0) nor deflate (8)")
    case("n_method_lzma.zip", build_zip([E("a", hello, 14)]), "reject",
         message="neither stored (0) nor deflate (8)")
    case("n_truncated_cd_count.zip", build_zip([E("a", hello), E("b", hello)], cd_size=60),
         "reject", message="which need at least 92 bytes")
    case("n_truncated_cd.zip", build_zip([E("a", hello), E("b", hello)], cd_size=93),
         "reject", message="central directory record 1 needs 1 bytes of name")
    case("n_cd_past_eof.zip", build_zip([E("a", hello)], cd_size=5000), "reject",
         message="extends past the end of the file")
    case("n_cd_bad_signature.zip",
         build_zip([E("a", hello)], cd_trailing=b"XXXX" + bytes(42), count=2), "reject",
         message="expected signature 50 4b 01 02")
    case("n_entry_count_bomb.zip", build_zip([E("a", hello)], count=65535), "reject",
         message="declares 65535 entries")
    case("n_entry_count_bomb_zip64.zip",
         build_zip([E("a", hello)], zip64_end=True, count64=1 << 40), "reject",
         message="entries")
    case("n_entry_limit.zip", build_zip([E(str(i), hello) for i in range(50)]), "reject",
         message="zip_max_entries", args=["--max-entries", "10"])
    zeros = bytes(8 << 20)
    case("n_deflate_bomb_ratio.zip", build_zip([E("bomb", zeros, 8)]), "reject",
         message="zip_max_ratio", args=["--max-ratio", "100"])
    case("n_deflate_bomb_declared.zip",  # 4 GiB declared for a small stream
         build_zip([E("bomb", zeros[:1 << 20], 8, usize_set=(4 << 30) - 2)]), "reject",
         message="zip_max_ratio")
    case("n_deflate_bomb_entry.zip", build_zip([E("bomb", zeros, 8)]), "reject",
         message="zip_max_entry_bytes", args=["--max-entry-bytes", "1000000"])
    # Fifield's overlapping-entry bomb: many names, one deflate stream
    case("n_deflate_bomb_overlap.zip",
         build_zip([E("k0", zeros, 8)] + [E("k%d" % i, zeros, 8, same_local_as=0)
                                          for i in range(1, 12)]),
         "reject", message="zip_max_total_bytes", args=["--max-total-bytes", "50000000"])
    case("n_inflate_longer.zip", build_zip([E("a", text, 8, usize_delta=-1)]), "reject",
         message="inflates to more than")
    case("n_inflate_shorter.zip", build_zip([E("a", text, 8, usize_delta=1)]), "reject",
         message="inflates to 5000 bytes")
    case("n_truncated_deflate.zip", build_zip([E("a", text, 8, csize_delta=-100)]), "reject",
         message="cut off")
    case("n_invalid_deflate.zip", build_zip([E("a", text, 8, comp=b"\x07" + bytes(40))]),
         "reject", message="invalid deflate data")
    case("n_data_past_eof.zip", build_zip([E("a", hello, csize_delta=10 ** 6,
                                             usize_delta=10 ** 6)]),
         "reject", message="past the end of the file")
    case("n_no_local_header.zip", build_zip([E("a", hello, lofs_delta=3)]), "reject",
         message="no valid local header")
    case("n_stored_size_mismatch.zip", build_zip([E("a", hello, usize_delta=4)]), "reject",
         message="inconsistent sizes")
    case("n_zip64_field_missing.zip", build_zip([E("a", hello, zip64_missing=True)]),
         "reject", message="ZIP64 extra field")
    # junk prepended without fixing the offsets: zipfile shifts them by the difference
    # (_EndRecData's concat) and reads the members; so does brine, reporting the prefix
    case("y_prepended_unadjusted.zip", b"JUNK" * 40 + build_zip([E("a", hello)]), "parse",
         ["prefix"])
    case("n_multidisk.zip", build_zip([E("a", hello)], disk=1, cd_disk=0), "reject",
         message="multi-disk")
    case("n_zip64_bad_locator.zip",
         build_zip([E("a", hello)], zip64_end=True, locator_delta=3, eocd64_gap=b"gap"),
         "reject", message="ZIP64 locator")
    return cases


# ------------------------------------------------------------------ safetensors cases


def st_file(header, data=b"", raw_header=None):
    h = raw_header if raw_header is not None else (
        header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode())
    return struct.pack("<Q", len(h)) + h + data


def T(dtype, shape, begin, end, **extra):
    d = {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}
    d.update(extra)
    return d


def st_cases():
    cases = {}

    def case(name, data, expect, message=None):
        cases[name] = (data, {"expect": expect, "message": message})

    def raw(s):
        return s.encode() if isinstance(s, str) else s

    b = bytes(range(256)) * 4
    mix = {"__metadata__": {"format": "pt"},
           "f32": T("F32", [2], 0, 8), "bf16": T("BF16", [2], 8, 12), "i64": T("I64", [1], 12, 20),
           "bool": T("BOOL", [3], 20, 23), "f64s": T("F64", [], 23, 31),
           "empty": T("F32", [2, 0], 31, 31), "f8": T("F8_E4M3", [2], 31, 33),
           "f4": T("F4", [2, 2], 33, 35)}
    # ---------------------------------------------------------- must parse (§3.5 "OK" rows)
    case("y_valid_mix.safetensors", st_file(mix, b[:35]), "parse")
    case("y_empty_header.safetensors", st_file({}), "parse")
    case("y_empty_header_padded.safetensors", st_file(b"{}      "), "parse")
    case("y_metadata_only.safetensors", st_file({"__metadata__": {"a": "b"}}), "parse")
    case("y_metadata_null.safetensors", st_file({"__metadata__": None}), "parse")
    case("y_leading_whitespace.safetensors", st_file(b"\t\n {}"), "parse")
    case("y_extra_entry_key.safetensors",
         st_file({"a": T("U8", [4], 0, 4, x=1, y={"z": [1, 2]})}, b[:4]), "parse")
    case("y_offsets_out_of_order.safetensors",
         st_file({"b": T("U8", [1], 1, 2), "a": T("U8", [1], 0, 1)}, b[:2]), "parse")
    all_dtypes = [("BOOL", 8), ("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6), ("U8", 8), ("I8", 8),
                  ("F8_E5M2", 8), ("F8_E4M3", 8), ("F8_E8M0", 8), ("F8_E4M3FNUZ", 8),
                  ("F8_E5M2FNUZ", 8), ("I16", 16), ("U16", 16), ("F16", 16), ("BF16", 16),
                  ("I32", 32), ("U32", 32), ("F32", 32), ("C64", 64), ("F64", 64), ("I64", 64),
                  ("U64", 64)]
    hdr, off = {}, 0
    for name, bits in all_dtypes:
        n = 8 * bits // 8  # 8 elements
        hdr["t_" + name] = T(name, [2, 4], off, off + n)
        off += n
    case("y_all_dtypes.safetensors", st_file(hdr, (b * 4)[:off]), "parse")
    case("y_unicode_names.safetensors",
         st_file({"\u00e9t\u00e9": T("U8", [1], 0, 1), "": T("U8", [1], 1, 2),
                  "a\\\"b\n": T("U8", [], 2, 3)}, b[:3]), "parse")
    case("y_zero_size_tensors.safetensors",
         st_file({"a": T("F32", [0], 0, 0), "b": T("F32", [3, 0, 5], 0, 0),
                  "c": T("U8", [1], 0, 1)}, b[:1]), "parse")
    case("y_scalar.safetensors", st_file({"s": T("F64", [], 0, 8)}, b[:8]), "parse")

    # ---------------------------------------------------------- must be rejected
    case("n_header_too_small.safetensors", b"\x02\x00\x00\x00", "reject", "HeaderTooSmall")
    case("n_header_too_large.safetensors", struct.pack("<Q", 100_000_001) + b"{}", "reject",
         "HeaderTooLarge")
    case("n_header_len_past_eof.safetensors", struct.pack("<Q", 64) + b"{}", "reject",
         "InvalidHeaderLength")
    case("n_header_not_utf8.safetensors", st_file(b'{"\xff":1}'), "reject", "InvalidHeader")
    case("n_nul_padding.safetensors", st_file(b"{}\0\0\0\0\0\0"), "reject", "NUL byte")
    case("n_metadata_not_string.safetensors", st_file({"__metadata__": {"n": 1}}), "reject",
         "expected a string")
    case("n_metadata_nested.safetensors", st_file({"__metadata__": {"n": {"a": "b"}}}),
         "reject", "expected a string")
    case("n_duplicate_tensor_identical.safetensors",
         st_file(raw('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                     '"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'), b[:1]),
         "reject", "duplicate")
    case("n_duplicate_tensor_different.safetensors",
         st_file(raw('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                     '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'), b[:2]),
         "reject", "duplicate")
    case("n_duplicate_metadata.safetensors",
         st_file(raw('{"__metadata__":{},"__metadata__":{"a":"b"}}')), "reject", "duplicate")
    case("n_unknown_dtype.safetensors", st_file({"a": T("Q8", [1], 0, 1)}, b[:1]), "reject",
         "unknown variant")
    case("n_negative_shape.safetensors", st_file({"a": T("U8", [-1], 0, 1)}, b[:1]), "reject",
         "below zero")
    case("n_float_shape.safetensors", st_file(raw(
        '{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}'), b[:1]), "reject", "a float")
    case("n_gap.safetensors", st_file({"a": T("U8", [1], 0, 1), "b": T("U8", [1], 2, 3)},
                                      b[:3]), "reject", "gap (InvalidOffset)")
    case("n_overlap.safetensors", st_file({"a": T("U8", [2], 0, 2), "b": T("U8", [2], 1, 3)},
                                          b[:3]), "reject", "overlap (InvalidOffset)")
    case("n_size_mismatch.safetensors", st_file({"a": T("F32", [2], 0, 4)}, b[:4]), "reject",
         "TensorInvalidInfo")
    case("n_shape_overflow.safetensors",
         st_file({"a": T("U8", [2 ** 32, 2 ** 32], 0, 0)}), "reject", "ValidationOverflow")
    case("n_f4_odd.safetensors", st_file({"a": T("F4", [3], 0, 2)}, b[:2]), "reject",
         "MisalignedSlice")
    case("n_trailing_bytes_polyglot.safetensors",
         st_file({"a": T("U8", [1], 0, 1)}, b[:1] + b"PK\x05\x06" + bytes(18)), "reject",
         "MetadataIncompleteBuffer")
    case("n_missing_bytes.safetensors", st_file({"a": T("I32", [2, 2], 0, 16)}, b[:14]),
         "reject", "MetadataIncompleteBuffer")
    case("n_root_array.safetensors", st_file(b"[]"), "reject", "must be a JSON object")
    case("n_root_string.safetensors", st_file(b'"{}"'), "reject", "must be a JSON object")
    case("n_control_char_in_string.safetensors", st_file(b'{"a\x01":1}'), "reject",
         "control character")
    case("n_bad_escape.safetensors", st_file(b'{"a\\x":1}'), "reject", "unknown escape")
    case("n_leading_zero.safetensors", st_file(raw(
        '{"a":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}'), b[:1]), "reject",
         "not valid JSON")
    case("n_nan.safetensors", st_file(b'{"__metadata__":{},"x":NaN}'), "reject",
         "expected a value")
    case("n_missing_dtype.safetensors", st_file({"a": {"shape": [1], "data_offsets": [0, 1]}},
                                                b[:1]), "reject", "missing field")
    case("n_three_offsets.safetensors", st_file(raw(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}'), b[:1]), "reject",
         "data_offsets must be")
    case("n_tensor_named_metadata.safetensors",
         st_file({"__metadata__": T("U8", [1], 0, 1)}, b[:1]), "reject", "expected a string")
    case("n_deep_nesting.safetensors",
         st_file(raw('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":' + "[" * 200 +
                     "]" * 200 + "}}")), "reject", "recursion limit")
    case("n_not_json.safetensors", st_file(b"{'a': 1}"), "reject", "not valid JSON")
    case("n_truncated_json.safetensors", st_file(b'{"a":{"dtype":'), "reject",
         "not valid JSON")
    case("n_lone_surrogate.safetensors", st_file(raw('{"\\ud800":1}')), "reject",
         "not valid JSON")
    case("n_integer_too_big.safetensors", st_file(raw(
        '{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}}')),
         "reject", "too big integer")
    return cases


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: gen_malformed_formats.py OUTDIR\n")
        return 2
    out = argv[1]
    manifest = {"zip": {}, "safetensors": {}}
    for kind, cases in (("zip", zip_cases()), ("safetensors", st_cases())):
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        for name, (data, spec) in sorted(cases.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            manifest[kind][name] = spec
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print("wrote %d zip and %d safetensors files to %s"
          % (len(manifest["zip"]), len(manifest["safetensors"]), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
