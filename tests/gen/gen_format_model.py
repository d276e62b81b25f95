#!/usr/bin/python3
"""Fixtures for the format model (issues 7.1, 7.6 and 8.2, 8.3, 8.8): files whose danger only
shows when every reading a loader could make is judged, when a decoding error or a limit does
not end the judging, and when nested bytes are detected like a file.

usage: /usr/bin/python3 tests/gen/gen_format_model.py OUTDIR MARKER

OUTDIR/manifest.json: {file: {"expect": verdict, "global": a global some finding must name
(or null), "member": a substring some finding's member must contain (or absent), "rule": a
rule some finding must carry (or absent), "format": the format scan must report (or absent),
"why": what the file tests}}

Payloads would at most `touch MARKER`; nothing here is ever loaded. Where a sample claims a
real unpickler reaches its callable, generation checks it with brinetest.first_find_class (a
recording find_class that raises before importing anything), for pickle.py (pure=True) or
the C unpickler as the sample says.
"""

import argparse
import io
import json
import struct
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import brinetest  # noqa: E402
from brinetest import (  # noqa: E402
    EMPTY_TUPLE, MARKOP, POP, REDUCE, STOP, TUPLE, glob, proto, sbb, su)


def payload(marker, p=2):
    """posix.system('touch MARKER') as a protocol-p pickle body (no PROTO, no STOP)."""
    return glob("posix", "system") + MARKOP + su("touch " + marker) + TUPLE + REDUCE


def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def safetensors_bytes(header_json, data=b""):
    h = header_json.encode()
    return struct.pack("<Q", len(h)) + h + data


def build(marker):
    evil = proto(2) + payload(marker) + STOP
    out = {}

    def add(name, data, expect, why, global_="posix.system", pure=None, **kw):
        if pure is not None:  # prove the named unpickler reaches the callable
            got = brinetest.first_find_class(data, pure=pure)
            assert got == ("posix", "system"), (name, got)
        out[name] = (data, dict(expect=expect, why=why, **{"global": global_}, **kw))

    # ---- 7.1: a decoding error or a limit before the payload never makes a file inert
    # pickle.py's load_float is float(): "1_0" parses; _pickle.c's strtod stops at '_'
    add("n_float_underscore_then_payload.pkl",
        proto(2) + b"F1_0\n" + POP + payload(marker) + STOP, "unsafe",
        "FLOAT that only pickle.py (joblib) accepts, payload after it", pure=True)
    add("n_float_space_then_payload.pkl",
        b"F 1.5 \n" + POP + payload(marker) + STOP, "unsafe",
        "FLOAT with surrounding whitespace (pickle.py accepts), no PROTO, payload after it",
        pure=True)
    add("n_marks_limit_then_payload.pkl",
        proto(2) + MARKOP * 100001 + payload(marker) + STOP, "unsafe",
        "max_marks hit before the payload (CPython has no such limit)", pure=False,
        rule="limit")
    add("n_binput_huge_then_payload.pkl",
        proto(2) + EMPTY_TUPLE + b"r\xff\xff\xff\x7f" + POP + payload(marker) + STOP, "unsafe",
        "LONG_BINPUT of a huge index (pickle.py's memo is a dict) before the payload",
        pure=True)

    # ---- 7.6: bytes for torch.storage._load_from_bytes are read as torch.load reads a file
    inner_zip = zip_bytes([("archive/data.pkl", evil), ("archive/version", b"3\n")])
    add("n_load_from_bytes_zip.pkl",
        proto(2) + glob("torch.storage", "_load_from_bytes") + MARKOP + sbb(inner_zip) + TUPLE
        + REDUCE + STOP, "unsafe",
        "a torch zip handed to torch.storage._load_from_bytes: torch.load takes the zip path",
        member="archive/data.pkl")

    # ---- 8.2: every reading a loader could make
    # a tar whose first member's name is a pickle: tarfile reads a tar, pickle.load the payload
    t = bytearray(tar_bytes([("x" * 90, b"hello\n")]))
    head = evil
    assert len(head) < 100
    t[0:len(head)] = head
    t[len(head):100] = b"\0" * (100 - len(head))
    t[148:156] = b"        "
    chk = sum(t[0:512])
    t[148:156] = b"%06o\0 " % chk
    tarfile.open(fileobj=io.BytesIO(bytes(t))).getmembers()  # tarfile accepts it
    add("n_tar_name_is_pickle.tar", bytes(t), "unsafe",
        "a valid tar whose first header starts with a pickle payload", pure=False)
    # a tar holding a pickle: every member is judged, named in the finding
    add("n_tar_with_evil_pkl.tar", tar_bytes([("model/evil.pkl", evil), ("README", b"hi\n")]),
        "unsafe", "a plain tar holding evil.pkl", member="model/evil.pkl", format="tar")
    # a plain tar with a config only is neither inert-by-accident nor an old torch checkpoint
    add("y_tar_config_only.tar", tar_bytes([("config.json", b'{"a": 1}\n')]), "safe",
        "a plain tar holding config.json: not a torch checkpoint", global_=None, format="tar")
    # a zip found only by its end record, after a prefix no loader runs: zipfile opens it
    add("n_prefixed_zip.bin", b"JUNK-PREFIX\n" * 4 + zip_bytes([("evil.pkl", evil)]), "unsafe",
        "a zip after non-pickle bytes: zipfile finds it by its end record",
        member="evil.pkl")
    # safetensors whose header-length bytes start a pickle (PROTO 5)
    hdr = '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}'
    st = safetensors_bytes(hdr.ljust(0x0580, " "), b"\1\2")
    assert st[:2] == b"\x80\x05"
    add("n_safetensors_length_starts_pickle.safetensors", st, "invalid",
        "a valid safetensors file whose length bytes start a pickle: the pickle reading fails",
        global_=None, rule="malformed")

    # ---- 8.4: compressed streams are unwrapped as Python's modules read them (pandas.read_pickle
    # and joblib.load open a gzipped pickle), every stream of a multi-stream file included
    import bz2
    import gzip
    import lzma
    add("n_gzip_pickle.pkl.gz", gzip.compress(evil), "unsafe", "a gzipped pickle",
        member="<gzip>", format="gzip")
    add("n_gzip_second_member.gz", gzip.compress(proto(2) + b"N" + STOP) + gzip.compress(evil),
        "unsafe", "the payload in a second gzip member (gzip.GzipFile reads every member; a "
        "caller loading pickle after pickle reaches it)", member="<gzip>")
    add("n_bz2_pickle.bz2", bz2.compress(evil), "unsafe", "a bz2 pickle", member="<bz2>")
    add("n_xz_pickle.xz", lzma.compress(evil), "unsafe", "an xz pickle", member="<xz>")
    add("n_tar_gz_evil.tar.gz", gzip.compress(tar_bytes([("m/evil.pkl", evil)])), "unsafe",
        "a gzipped tar holding evil.pkl", member="<gzip>/m/evil.pkl")
    add("n_gzip_corrupt.gz", gzip.compress(evil)[:-12] + b"\xff" * 12, "unsafe",
        "a corrupt gzip stream: what decompressed before the error is still judged",
        member="<gzip>")
    add("n_gzip_truncated_header.gz", b"\x1f\x8b\x08\x00\x00", "invalid",
        "a gzip stream that cannot be decompressed", global_=None)

    # ---- 8.3: what brine recognises but does not analyse is unverified, never none
    # GGUF is read now (src/formats/gguf.c): a metadata entry past the end is invalid
    add("n_gguf_truncated.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1), "invalid",
        "GGUF magic, a metadata entry past the end", global_=None, rule="malformed",
        format="gguf")
    # HDF5 and Keras v3 are read now (src/formats/keras.c): a superblock libhdf5 cannot open
    # and a .keras whose config names no model are invalid, still never none
    add("u_hdf5.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "invalid", "HDF5 magic",
        global_=None, rule="malformed", format="hdf5")
    add("u_keras.keras", zip_bytes([("config.json", b"{}"), ("metadata.json", b"{}"),
                                    ("model.weights.h5", b"\x89HDF\r\n\x1a\n")]),
        "invalid", "Keras v3 archive", global_=None, rule="malformed", format="keras")
    add("y_text.txt", b"# just a README\nnothing to see\n", "safe", "text", global_=None,
        format="none")

    # ---- 8.8
    add("n_proto6.pkl", b"\x80\x06N.", "invalid", "PROTO 6: CPython refuses it", global_=None,
        format="pickle")
    add("n_safetensors_huge_length.safetensors", struct.pack("<Q", 1 << 40) + b'{"a":1}',
        "invalid", "a safetensors header length past the end", global_=None,
        format="safetensors")
    z = bytearray(zip_bytes([("evil.pkl", evil)]))
    # flag the entry encrypted in both headers: the bytes are still a plain payload
    lh = z.index(b"PK\x03\x04")
    ch = z.index(b"PK\x01\x02")
    z[lh + 6] |= 1
    z[ch + 8] |= 1
    add("n_zip_encrypted_flag_payload.zip", bytes(z), "unsafe",
        "an entry flagged encrypted whose bytes are a plain payload", member="evil.pkl")
    # ---- a zip written at 16:00:20 on 2026-12-05: its local header's time and date bytes are
    # "\n\x80\x85", so a raw reading of the file takes "PK\x03..." as a persistent id that
    # ends there and then meets PROTO 133. pickle.load raises at the persistent id; the zip
    # (a torch checkpoint layout) is what loaders read. It was `invalid` at those seconds only.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("x/data.pkl", date_time=(2026, 12, 5, 16, 0, 20)),
                   proto(2) + b"ccollections\nOrderedDict\nq\x00)Rq\x01" + STOP)
    assert buf.getvalue()[10:13] == b"\n\x80\x85"
    add("y_zip_timestamp_newline_proto.pt", buf.getvalue(), "safe",
        "zip header bytes that read as PERSID then PROTO 133", global_=None,
        format="pytorch-zip")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("marker")
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (data, meta) in build(args.marker).items():
        (args.outdir / name).write_bytes(data)
        manifest[name] = meta
    (args.outdir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
