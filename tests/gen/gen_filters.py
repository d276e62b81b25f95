#!/usr/bin/env python3
"""Writes compressed fixtures for brine's decompression filters (src/filters/).

Every compressed byte comes from the real library: Python's gzip/zlib/bz2/lzma modules, the
`lz4` package (lz4.frame), `zstandard` and the `zstd` CLI. Only damage is applied by hand
(truncation, bit flips, trailing bytes, hand-built gzip headers around real deflate data).

    gen_filters.py OUTDIR
    gen_filters.py --seeds fuzz/corpus/filters

writes OUTDIR/<kind>/<name> and OUTDIR/manifest.json: a list of {"file", "kind", "note"}.
With --seeds, the fixtures of at most SEED_MAX bytes go flat into the fuzz seed directory
(fuzz/fuzz_filters.c), named <kind>_<name>; the directory is replaced.
The payloads are benign pickles (pickle.dumps of plain data) and plain bytes: nothing here is
ever loaded, the differential test compares bytes only. Codecs whose Python package is missing
from this interpreter are skipped (and listed in manifest "skipped").
"""

import bz2
import gzip
import json
import lzma
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

RNG = random.Random(8)
PICKLE = pickle.dumps({"weights": list(range(2000)), "name": "model", "lr": 0.01}, protocol=4)
TEXT = b"".join(b"line %d of a compressible payload\n" % i for i in range(3000))
NOISE = bytes(RNG.getrandbits(8) for _ in range(40000))  # incompressible: many blocks
ZEROS_BIG = bytes(80 << 20)  # a bomb: 80 MiB of zeros

entries = []
skipped = []


def put(out, kind, name, data, note=""):
    d = out / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    entries.append({"file": f"{kind}/{name}", "kind": kind, "note": note})


def flip(data, at):
    b = bytearray(data)
    b[at] ^= 0x55
    return bytes(b)


def damage(out, kind, base, data, body_at):
    """The usual damage: truncations at several points, a flipped byte in the body."""
    for cut in sorted({1, 2, 5, 10, len(data) // 2, len(data) - 5, len(data) - 1}):
        if 0 < cut < len(data):
            put(out, kind, f"{base}_trunc{cut}", data[:cut], "truncated")
    mid = body_at + (len(data) - body_at) // 2
    put(out, kind, f"{base}_flip_mid", flip(data, mid), "corrupted body")
    put(out, kind, f"{base}_flip_end", flip(data, len(data) - 2), "corrupted trailer")


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def gzip_member(data, flags=0, extra=b"", name=b"", comment=b"", hcrc=None, method=8):
    """A gzip member with a hand-built header (RFC 1952 2.3) around zlib's raw deflate data."""
    hdr = b"\x1f\x8b" + bytes([method, flags]) + struct.pack("<I", 0) + b"\x00\xff"
    if flags & 4:
        hdr += struct.pack("<H", len(extra)) + extra
    if flags & 8:
        hdr += name + b"\0"
    if flags & 16:
        hdr += comment + b"\0"
    if flags & 2:
        hdr += struct.pack("<H", (zlib.crc32(hdr) & 0xFFFF) if hcrc is None else hcrc)
    return hdr + raw_deflate(data) + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def gen_gzip(out):
    g1 = gzip.compress(PICKLE, mtime=0)
    g2 = gzip.compress(TEXT, mtime=0)
    put(out, "gzip", "single", g1)
    put(out, "gzip", "text", g2)
    put(out, "gzip", "empty_payload", gzip.compress(b"", mtime=0))
    put(out, "gzip", "two_members", g1 + g2, "gzip.GzipFile reads both, joblib the first")
    put(out, "gzip", "three_members_zero_padded", g1 + b"\0" * 7 + g2 + b"\0" * 3 + g1)
    put(out, "gzip", "zero_padding", g1 + b"\0" * 16)
    put(out, "gzip", "trailing_garbage", g1 + b"garbage")
    put(out, "gzip", "trailing_zeros_then_garbage", g1 + b"\0\0x")
    put(out, "gzip", "trailing_1f", g1 + b"\x1f")
    put(out, "gzip", "trailing_magic", g1 + b"\x1f\x8b")
    put(out, "gzip", "trailing_header_only", g1 + g2[:10])
    put(out, "gzip", "leading_zero", b"\0" + g1)
    put(out, "gzip", "noise", gzip.compress(NOISE, mtime=0))
    with open(out / "named.tmp", "wb") as f, gzip.GzipFile("model.pkl", "wb", fileobj=f, mtime=0) as z:
        z.write(PICKLE)
    put(out, "gzip", "fname", (out / "named.tmp").read_bytes())
    os.unlink(out / "named.tmp")
    put(out, "gzip", "all_header_fields",
        gzip_member(PICKLE, 4 | 8 | 16 | 2, extra=b"AB\x02\x00hi", name=b"n", comment=b"c"))
    put(out, "gzip", "bad_header_crc", gzip_member(PICKLE, 2, hcrc=0x1234),
        "gzip.py never checks FHCRC, zlib does")
    put(out, "gzip", "reserved_flag", gzip_member(PICKLE, 0x20), "gzip.py ignores, zlib refuses")
    put(out, "gzip", "method_7", gzip_member(PICKLE, method=7))
    put(out, "gzip", "fname_unterminated", gzip_member(PICKLE, 8, name=b"x")[:12])
    put(out, "gzip", "fextra_too_long", gzip_member(b"", 4, extra=b"")[:10] + b"\xff\xff" + b"x" * 20)
    m = bytearray(g1)
    m[-8:-4] = struct.pack("<I", zlib.crc32(PICKLE) ^ 1)
    put(out, "gzip", "bad_crc", bytes(m))
    m = bytearray(g1)
    m[-4:] = struct.pack("<I", len(PICKLE) + 1)
    put(out, "gzip", "bad_isize", bytes(m))
    put(out, "gzip", "second_member_corrupt", g1 + flip(g2, len(g2) // 2))
    put(out, "gzip", "second_member_truncated", g1 + g2[:-9])
    damage(out, "gzip", "single", g1, 10)
    put(out, "gzip", "bomb_zeros", gzip.compress(ZEROS_BIG, 9, mtime=0), "bomb")


def gen_zlib(out):
    z1 = zlib.compress(PICKLE, 3)
    z2 = zlib.compress(TEXT, 9)
    put(out, "zlib", "single", z1)
    put(out, "zlib", "level9", z2)
    put(out, "zlib", "empty_payload", zlib.compress(b""))
    put(out, "zlib", "two_streams", z1 + z2)
    put(out, "zlib", "trailing_garbage", z1 + b"garbage")
    c = zlib.compressobj(6, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=b"weights")
    put(out, "zlib", "preset_dict", c.compress(PICKLE) + c.flush(), "FDICT: nobody passes zdict")
    for wbits in (9, 12):
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        put(out, "zlib", f"window{wbits}", c.compress(TEXT) + c.flush())
    damage(out, "zlib", "single", z1, 2)
    put(out, "zlib", "bomb_zeros", zlib.compress(ZEROS_BIG, 9), "bomb")


def gen_bz2(out):
    b1 = bz2.compress(PICKLE)
    b2 = bz2.compress(TEXT, 1)
    bn = bz2.compress(NOISE * 30, 1)  # several 100k blocks
    put(out, "bz2", "single", b1)
    put(out, "bz2", "empty_payload", bz2.compress(b""))
    put(out, "bz2", "two_streams", b1 + b2)
    put(out, "bz2", "multiblock", bn)
    put(out, "bz2", "multiblock_then_stream", bn + b1, "second stream starts far from a block edge")
    put(out, "bz2", "trailing_garbage", b1 + b"garbage", "ignored by BZ2File")
    put(out, "bz2", "trailing_BZ", b1 + b"BZ", "too short to fail: EOFError")
    put(out, "bz2", "trailing_BZh9", b1 + b"BZh9")
    put(out, "bz2", "trailing_BZh9_junk", b1 + b"BZh9" + b"x" * 20)
    put(out, "bz2", "trailing_zeros", b1 + b"\0" * 4)
    put(out, "bz2", "second_stream_corrupt", b1 + flip(b2, len(b2) // 2))
    put(out, "bz2", "second_stream_truncated", b1 + b2[:-3])
    # a second stream corrupt beyond the first 8192-byte block the reader hands it
    put(out, "bz2", "second_stream_corrupt_late", b1 + flip(bn, 20000))
    damage(out, "bz2", "single", b1, 4)
    put(out, "bz2", "bomb_zeros", bz2.compress(ZEROS_BIG, 9), "bomb")


def gen_xz(out):
    x1 = lzma.compress(PICKLE)
    x2 = lzma.compress(TEXT, preset=1)
    put(out, "xz", "single", x1)
    put(out, "xz", "empty_payload", lzma.compress(b""))
    put(out, "xz", "two_streams", x1 + x2)
    put(out, "xz", "padding_between", x1 + b"\0" * 4 + x2, "Python stops at the padding; xz -d does not")
    put(out, "xz", "padding_at_end", x1 + b"\0" * 4, "EOFError: the padding reads as an lzma-alone header")
    put(out, "xz", "padding_at_end_13", x1 + b"\0" * 16)
    put(out, "xz", "trailing_garbage", x1 + b"garbage")
    put(out, "xz", "trailing_20_g", x1 + b"g" * 20)
    for check in ("CHECK_NONE", "CHECK_CRC32", "CHECK_SHA256"):
        put(out, "xz", f"check_{check[6:].lower()}", lzma.compress(PICKLE, check=getattr(lzma, check)))
    filters = [{"id": lzma.FILTER_DELTA, "dist": 4}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
    put(out, "xz", "delta_filter", lzma.compress(NOISE, filters=filters))
    put(out, "xz", "second_stream_corrupt", x1 + flip(x2, len(x2) // 2))
    put(out, "xz", "xz_then_alone", x1 + lzma.compress(TEXT, format=lzma.FORMAT_ALONE))
    damage(out, "xz", "single", x1, 12)
    put(out, "xz", "bomb_zeros", lzma.compress(ZEROS_BIG, preset=1), "bomb")
    if shutil.which("xz"):
        p = subprocess.run(["xz", "-c", "-T2", "--block-size=20000", "-3"], input=NOISE * 3,
                           stdout=subprocess.PIPE, check=True)
        put(out, "xz", "xz_cli_multiblock", p.stdout)

    a1 = lzma.compress(PICKLE, format=lzma.FORMAT_ALONE)
    a2 = lzma.compress(TEXT, format=lzma.FORMAT_ALONE)
    put(out, "lzma", "single", a1, "joblib compress='lzma'")
    put(out, "lzma", "empty_payload", lzma.compress(b"", format=lzma.FORMAT_ALONE))
    put(out, "lzma", "two_streams", a1 + a2)
    put(out, "lzma", "trailing_garbage", a1 + b"xyz")
    put(out, "lzma", "then_xz", a1 + x1)
    damage(out, "lzma", "single", a1, 13)
    # the known-size variant: an .lzma header with the real uncompressed size
    known = a1[:5] + struct.pack("<Q", len(PICKLE)) + a1[13:]
    put(out, "lzma", "known_size_with_eopm", known)

    # lzip (https://www.nongnu.org/lzip/manual/lzip_manual.html, "File format"): the header,
    # trailer and CRC by hand around the real encoder's raw LZMA1 stream with an end marker.
    def lzip(data, dict_log=16):
        raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[
            {"id": lzma.FILTER_LZMA1, "dict_size": 1 << dict_log, "lc": 3, "lp": 0, "pb": 2}])
        return (b"LZIP\x01" + bytes([dict_log]) + raw +
                struct.pack("<IQQ", zlib.crc32(data), len(data), 6 + len(raw) + 20))
    l1 = lzip(PICKLE)
    put(out, "lzip", "single", l1, "pandas.read_pickle('m.xz') reads it")
    put(out, "lzip", "two_members", l1 + lzip(TEXT))
    put(out, "lzip", "trailing_garbage", l1 + b"garbage")
    put(out, "lzip", "bad_crc", l1[:-20] + struct.pack("<I", zlib.crc32(PICKLE) ^ 1) + l1[-16:])
    damage(out, "lzip", "single", l1, 6)


def gen_lz4(out):
    try:
        import lz4.frame as F
    except ImportError:
        skipped.append("lz4")
        return
    f1 = F.compress(PICKLE)
    f2 = F.compress(TEXT, content_checksum=True, block_checksum=True)
    fn = F.compress(NOISE * 3, block_size=F.BLOCKSIZE_MAX64KB, block_linked=False)
    put(out, "lz4", "single", f1, "joblib compress='lz4'")
    put(out, "lz4", "checksums", f2)
    put(out, "lz4", "independent_blocks", fn)
    put(out, "lz4", "empty_payload", F.compress(b""))
    put(out, "lz4", "two_frames", f1 + f2)
    put(out, "lz4", "skippable_first", b"\x50\x2a\x4d\x18\x04\0\0\0abcd" + f1)
    put(out, "lz4", "skippable_between", f1 + b"\x5f\x2a\x4d\x18\x00\0\0\0" + f2)
    put(out, "lz4", "trailing_garbage", f1 + b"garbage")
    put(out, "lz4", "trailing_zeros", f1 + b"\0" * 4)
    put(out, "lz4", "content_size", F.compress(TEXT, store_size=True))
    put(out, "lz4", "checksum_flip", flip(f2, len(f2) - 2))
    damage(out, "lz4", "single", f1, 7)
    put(out, "lz4", "bomb_zeros", F.compress(ZEROS_BIG), "bomb")


def gen_zstd(out):
    try:
        import zstandard as Z
    except ImportError:
        skipped.append("zstd")
        return
    c = Z.ZstdCompressor(level=3)
    s1 = c.compress(PICKLE)
    s2 = Z.ZstdCompressor(level=19, write_checksum=True).compress(TEXT)
    put(out, "zstd", "single", s1)
    put(out, "zstd", "checksum", s2)
    put(out, "zstd", "empty_payload", c.compress(b""))
    put(out, "zstd", "two_frames", s1 + s2)
    put(out, "zstd", "skippable_first", b"\x50\x2a\x4d\x18\x04\0\0\0abcd" + s1)
    put(out, "zstd", "skippable_between", s1 + b"\x5e\x2a\x4d\x18\x02\0\0\0zz" + s2)
    put(out, "zstd", "trailing_garbage", s1 + b"garbage")
    put(out, "zstd", "checksum_flip", flip(s2, len(s2) - 2))
    put(out, "zstd", "noise", c.compress(NOISE * 3))
    damage(out, "zstd", "single", s1, 6)
    put(out, "zstd", "bomb_zeros", Z.ZstdCompressor(level=19).compress(ZEROS_BIG), "bomb")
    if shutil.which("zstd"):
        cli = subprocess.run(["zstd", "-q", "-c", "--no-check"], input=TEXT,
                             stdout=subprocess.PIPE, check=True).stdout
        put(out, "zstd", "cli_frame_then_lib_frame", cli + s1)


SEED_MAX = 6000


def main():
    seeds = sys.argv[1] == "--seeds"
    out = Path(sys.argv[-1])
    if seeds:
        import tempfile
        work = Path(tempfile.mkdtemp(prefix="gen_filters"))
    else:
        work = out
    work.mkdir(parents=True, exist_ok=True)
    for gen in (gen_gzip, gen_zlib, gen_bz2, gen_xz, gen_lz4, gen_zstd):
        gen(work)
    if not seeds:
        (out / "manifest.json").write_text(json.dumps({"entries": entries, "skipped": skipped}, indent=1))
        return
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for e in entries:
        data = (work / e["file"]).read_bytes()
        if len(data) <= SEED_MAX:
            (out / e["file"].replace("/", "_")).write_bytes(data)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
