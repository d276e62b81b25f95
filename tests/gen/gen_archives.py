#!/usr/bin/python3
"""Builds tar (and, when the tools exist, 7z) fixtures for brine's archive readers.

Tars come from Python's own tarfile in its three formats (ustar, gnu, pax), from GNU tar and
bsdtar when installed, and from byte-level edits of those (numeric-field spellings, checksums,
truncations, garbage after the end, types that carry no data, duplicates, '..' names) — the
cases where tarfile's reading decides what torch.load does. Every fixture's expected reading
comes from tarfile itself in the test (tests/python/test_tar_diff.py), never from brine.

Hostile members hold a pickle whose payload would `touch MARKER`; nothing here loads them.

Usage: gen_archives.py OUTDIR MARKER   (writes OUTDIR/manifest.json: name -> description)
"""
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile

BLOCK = 512


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def add(tar, name, data=b"", type=tarfile.REGTYPE, linkname="", **kw):
    info = tarfile.TarInfo(name)
    info.type = type
    info.linkname = linkname
    info.size = len(data) if type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if info.size else None)


def make(members, fmt, pax_headers=None):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax_headers) as tar:
        for m in members:
            add(tar, *m[:2], **(m[2] if len(m) > 2 else {}))
    return out.getvalue()


def header_at(data, off):
    return bytearray(data[off:off + BLOCK])


def fix_checksum(h, signed=False):
    h[148:156] = b" " * 8
    s = sum((b - 256 if signed and b > 127 else b) for b in h)
    h[148:156] = b"%06o\0 " % (s & 0o777777) if s >= 0 else b"%07d\0" % s
    return h


def put(data, off, h):
    data = bytearray(data)
    data[off:off + BLOCK] = h
    return bytes(data)


def set_field(data, off, start, width, value, checksum=True):
    h = header_at(data, off)
    h[start:start + width] = value.ljust(width, b"\0")[:width]
    if checksum:
        fix_checksum(h)
    return put(data, off, h)


def main(outdir, marker):
    os.makedirs(outdir, exist_ok=True)
    manifest = {}

    def write(name, data, what):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        manifest[name] = what

    evil = pickle.dumps(Payload(marker), protocol=2)
    cfg = b'{"hidden_size": 8}\n'
    basic = [("config.json", cfg), ("weights.bin", bytes(range(256)) * 3),
             ("sub/dir", b"", {"type": tarfile.DIRTYPE}),
             ("sub/link", b"", {"type": tarfile.SYMTYPE, "linkname": "../config.json"}),
             ("hard", b"", {"type": tarfile.LNKTYPE, "linkname": "config.json"}),
             ("fifo", b"", {"type": tarfile.FIFOTYPE}),
             ("chr", b"", {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}),
             ("blk", b"", {"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}),
             ("empty", b"")]
    for fmt, tag in ((tarfile.USTAR_FORMAT, "ustar"), (tarfile.GNU_FORMAT, "gnu"),
                     (tarfile.PAX_FORMAT, "pax")):
        write("y_%s_basic.tar" % tag, make(basic, fmt), "every member type, %s" % tag)
        long = "d" * 120 + "/" + "n" * 150 + ".pkl"
        members = [(long, evil), ("l" * 30, b"", {"type": tarfile.SYMTYPE,
                                                  "linkname": "t" * 130})]
        if fmt != tarfile.USTAR_FORMAT:
            write("y_%s_longnames.tar" % tag, make(members, fmt), "long names, %s" % tag)
        write("y_%s_prefix.tar" % tag, make([("p" * 90 + "/" + "q" * 90, cfg)], fmt),
              "name split into ustar prefix and name, %s" % tag)
        write("y_%s_evil.tar" % tag, make([("config.json", cfg), ("evil.pkl", evil)], fmt),
              "a pickle member, %s" % tag)
    # GNU base-256 numbers (uid over 8**7, size fits): written by tarfile's GNU format
    write("y_gnu_base256_uid.tar", make([("big", cfg, {"uid": 8 ** 8, "gid": 8 ** 9})],
                                        tarfile.GNU_FORMAT), "base-256 uid/gid")
    write("y_pax_unicode.tar", make([("caf\u00e9/\u6a21\u578b.pkl", evil)], tarfile.PAX_FORMAT),
          "non-ASCII pax path")
    write("y_pax_global.tar", make([("a", cfg), ("b", cfg)], tarfile.PAX_FORMAT,
                                   pax_headers={"comment": "global"}), "pax global header")
    write("y_empty_archive.tar", make([], tarfile.USTAR_FORMAT), "no members")
    write("y_duplicate.tar", make([("model.pkl", b"benign"), ("x", cfg), ("model.pkl", evil)],
                                  tarfile.USTAR_FORMAT), "duplicate names, last one hostile")
    write("y_dotdot.tar", make([("../../etc/evil.pkl", evil), ("/abs/path", cfg),
                                ("ok/../../up", cfg)], tarfile.USTAR_FORMAT), "escaping names")
    write("y_v7_dir.tar", make([("olddir/", b"", {"type": tarfile.AREGTYPE})],
                               tarfile.USTAR_FORMAT), "v7 directory: AREGTYPE + '/'")
    # links as tarfile._find_link_target resolves them (normpath, hard links look back only)
    sym, hard = tarfile.SYMTYPE, tarfile.LNKTYPE
    write("y_links.tar", make([
        ("a/b/c.pkl", evil), ("a/x", b"", {"type": sym, "linkname": "b/./c.pkl"}),
        ("a/y", b"", {"type": sym, "linkname": "../a/b/c.pkl"}),
        ("z", b"", {"type": hard, "linkname": "./a//b/c.pkl"}),
        ("h2", b"", {"type": hard, "linkname": "later"}), ("later", cfg),
        ("s2", b"", {"type": sym, "linkname": "later"}),
        ("abs", b"", {"type": sym, "linkname": "/a/b/c.pkl"}),
        ("up", b"", {"type": sym, "linkname": "../../a/b/c.pkl"}),
        ("dd", b"", {"type": hard, "linkname": "a/b/../b/c.pkl"}),
        ("d//e/", b"", {"type": tarfile.DIRTYPE}), ("d//e/f", cfg),
        ("d//e/g", b"", {"type": sym, "linkname": "f"}),
        ("self", b"", {"type": hard, "linkname": "self"}),
        ("storages", b"", {"type": hard, "linkname": "a/b/c.pkl"})], tarfile.USTAR_FORMAT),
        "links resolved inside the archive")
    # torch's member names without being a checkpoint, and a torch-like one
    write("y_torch_names.tar", make([("sys_info", cfg), ("storages", b"x"),
                                     ("tensors", b"y"), ("pickle", evil)],
                                    tarfile.PAX_FORMAT), "torch member names")

    base = make([("first", cfg), ("second.pkl", evil), ("third", cfg)], tarfile.USTAR_FORMAT)
    second = 512 + 512  # header of "second.pkl"
    # truncations: in the first header, in data, in the padding, in a later header, at a block
    for cut in (0, 100, 511, 512, 530, 1023, 1024, 1100, 1535, 1536, 1600, 2047, 2048,
                len(base) - 1024, len(base) - 512, len(base) - 1):
        write("n_cut_%d.tar" % cut, base[:cut], "truncated at %d" % cut)
    end = 3 * 1024  # three members of one data block each
    assert base[end:].count(0) == len(base) - end
    write("n_no_end.tar", base[:end], "no end-of-archive blocks")
    write("n_one_zero_block.tar", base[:end + 512], "one end block")
    write("n_garbage_after_end.tar", base + evil + b"\0" * 600, "pickle after the end")
    write("n_garbage_after_first_zero.tar", base[:end + 512] + evil,
          "pickle after the first zero block")
    write("n_bad_checksum_first.tar", set_field(base, 0, 148, 8, b"0000000\0", False),
          "bad checksum in the first header")
    write("n_bad_checksum_later.tar", set_field(base, second, 148, 8, b"0000000\0", False),
          "bad checksum after the first member: tarfile stops silently")
    h = fix_checksum(header_at(base, 0), signed=True)
    write("y_signed_checksum.tar", put(base, 0, h), "checksum as signed sum (no high bytes)")
    hi = set_field(base, 0, 265, 32, "\u00e9\u00e9".encode("latin-1"), False)
    write("y_signed_checksum_high.tar", put(hi, 0, fix_checksum(header_at(hi, 0), True)),
          "checksum as signed sum with high bytes")
    write("y_zero_first_block.tar", b"\0" * 512 + base, "a zero block first: empty archive")
    write("n_empty.tar", b"", "empty file")
    write("n_text.tar", b"hello world\n" * 100, "not a tar")
    # numeric spellings that nti() accepts or refuses (size field of the first header)
    spellings = {"spaces": b"  0000023 ", "nul_first": b"\x00" * 12, "plus": b"+23",
                 "minus": b"-0", "prefix": b"0o23", "underscore": b"2_3", "bad_digit": b"0000009",
                 "trailing_junk": b"23x", "tab": b"\t23\t", "base256": b"\x80" + b"\0" * 10 + b"\x13",
                 "negative256": b"\xff" * 12, "inner_space": b"2 3", "fs_space": b"\x1c23",
                 "double_us": b"2__3", "high_byte": b"23\xe9", "empty_spaces": b" " * 12}
    for tag, value in spellings.items():
        write("n_size_%s.tar" % tag, set_field(base, 0, 124, 12, value), "size field %r" % value)
    for tag, value in (("mtime_bad", (136, 12, b"zz")), ("mode_bad", (100, 8, b"9")),
                       ("devmajor_bad", (329, 8, b"x")), ("uid_minus", (108, 8, b"-7"))):
        write("n_%s.tar" % tag, set_field(base, 0, *value), "field %r" % (value,))
    # types that carry no data: a size on a link is read as the next header by tarfile
    inner = make([("hidden.pkl", evil)], tarfile.USTAR_FORMAT)[:-1024]
    for t in b"123456":
        lk = make([("lnk", b"", {"type": bytes([t]), "linkname": "x"})],
                  tarfile.USTAR_FORMAT)
        data = set_field(lk, 0, 124, 12, b"%011o" % len(inner))
        write("n_size_on_type_%c.tar" % t, data[:512] + inner + b"\0" * 1024,
              "type %c with a size, a header in its data" % t)
    for t in b"AVDMNZ":
        write("n_unknown_type_%c.tar" % t, set_field(base, 0, 156, 1, bytes([t])),
              "unknown type %c: data skipped as a regular file" % t)
    # pax records: size override, bad records, path override
    def pax_member(records, name="m", data=cfg, type=b"x"):
        body = b"".join(record(r) for r in records)
        info = tarfile.TarInfo("././@PaxHeader")
        info.type = type
        info.size = len(body)
        hdr = info.tobuf(tarfile.USTAR_FORMAT)
        pad = b"\0" * (-len(body) % 512)
        rest = make([(name, data)], tarfile.USTAR_FORMAT)
        return hdr + body + pad + rest

    def record(r):
        n = len(r) + 2
        while len(b"%d %s\n" % (n, r)) != n:
            n += 1
        return b"%d %s\n" % (n, r)

    write("y_pax_path_override.tar", pax_member([b"path=evil.pkl"]), "pax path")
    write("y_pax_size_override.tar", pax_member([b"size=5"]), "pax size smaller than ustar")
    write("n_pax_size_bad.tar", pax_member([b"size=abc"]), "pax size not a number -> 0")
    write("n_pax_size_huge.tar", pax_member([b"size=99999999999999999999"]), "pax size huge")
    write("y_pax_linkpath.tar", pax_member([b"linkpath=/etc/passwd"], type=b"x"), "linkpath")
    write("n_pax_bad_record.tar", pax_member([b"path=a"])[:512] + b"3 x\n" + b"\0" * 508 +
          make([("m", cfg)], tarfile.USTAR_FORMAT), "pax record too short")
    write("n_pax_sparse_map_bad.tar", pax_member([b"GNU.sparse.map=1,x"]), "bad sparse map")
    write("y_pax_sparse00.tar", pax_member([b"GNU.sparse.size=10", b"GNU.sparse.offset=0",
                                            b"GNU.sparse.numbytes=3"]), "GNU sparse 0.0")
    write("y_pax_global_path.tar", pax_member([b"path=g"], type=b"g"), "global path")
    lg = make([("L" * 200, cfg)], tarfile.GNU_FORMAT)
    write("n_gnu_longname_then_eof.tar", lg[:1024], "GNU long name, then nothing")
    write("n_gnu_longname_then_zero.tar", lg[:1024] + b"\0" * 1024, "GNU long name, zeros")
    write("n_pax_then_bad.tar", pax_member([b"path=x"])[:1024] + b"\x01" * 512,
          "pax header then a bad header")
    # external tools: GNU tar (sparse files, its own long-name spelling) and bsdtar
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, "d"))
        with open(os.path.join(src, "d", "model.pkl"), "wb") as f:
            f.write(evil)
        with open(os.path.join(src, "sparse.bin"), "wb") as f:
            f.seek(1 << 20)
            f.write(b"end")
        with open(os.path.join(src, "n" * 150), "wb") as f:
            f.write(cfg)
        for tool, args, tag in (("tar", ["--format=gnu", "-S"], "gnutar_gnu"),
                                ("tar", ["--format=posix", "-S"], "gnutar_posix"),
                                ("tar", ["--format=oldgnu", "-S"], "gnutar_oldgnu"),
                                ("tar", ["--format=v7"], "gnutar_v7"),
                                ("bsdtar", ["--format=pax"], "bsdtar_pax"),
                                ("bsdtar", ["--format=ustar"], "bsdtar_ustar")):
            if not shutil.which(tool):
                continue
            out = os.path.join(tmp, tag + ".tar")
            names = sorted(os.listdir(src))
            if tag.endswith(("v7", "ustar")):
                names = [n for n in names if len(n) < 100]
            r = subprocess.run([tool, "-cf", out] + args + ["-C", src] + names,
                               capture_output=True)
            if r.returncode == 0:
                with open(out, "rb") as f:
                    write("y_%s.tar" % tag, f.read(), tag)
        # 7z through the 7-Zip CLI, when installed: a model-like tree, and a bomb
        seven = shutil.which("7zz") or shutil.which("7z")
        src7 = os.path.join(tmp, "src7")
        os.makedirs(os.path.join(src7, "model", "empty"))
        with open(os.path.join(src7, "model", "evil.pkl"), "wb") as f:
            f.write(evil)
        with open(os.path.join(src7, "model", "config.json"), "wb") as f:
            f.write(cfg)
        with open(os.path.join(src7, "model", "weights.bin"), "wb") as f:
            f.write(bytes((i * 7919 + (i >> 7) * 31) & 255 for i in range(300000)))
        with open(os.path.join(src7, "caf\u00e9.txt"), "wb") as f:
            f.write(b"non-ASCII name\n")
        os.symlink("model/config.json", os.path.join(src7, "link"))
        many = os.path.join(tmp, "many")  # 1500 small files, one folder each (-ms=off)
        os.makedirs(many)
        for i in range(1500):
            with open(os.path.join(many, "f%04d.txt" % i), "w") as f:
                f.write("file %d\n" % i)
        bomb = os.path.join(tmp, "bomb")
        os.makedirs(bomb)
        with open(os.path.join(bomb, "zeros.pkl"), "wb") as f:
            f.write(b"\0" * (8 << 20))
        for tag, args, where in (("plain", [], src7), ("store", ["-mx=0"], src7),
                                 ("solid_lzma", ["-m0=LZMA", "-ms=on"], src7),
                                 ("bzip2", ["-m0=BZip2"], src7),
                                 ("encrypted", ["-pSECRET"], src7),
                                 ("encrypted_names", ["-pSECRET", "-mhe=on"], src7),
                                 ("bomb", [], bomb),
                                 # header shapes brine reads before libarchive does
                                 ("plain_header", ["-mhc=off"], src7),
                                 ("ppmd", ["-m0=PPMd"], src7),
                                 ("bcj_lzma2", ["-m0=BCJ", "-m1=LZMA2"], src7),
                                 ("deflate", ["-m0=Deflate"], src7),
                                 ("many", ["-ms=off"], many),
                                 ("bomb_dict", ["-m0=LZMA:d=64m"], bomb)):
            if not seven:
                break
            out = os.path.join(tmp, tag + ".7z")
            r = subprocess.run([seven, "a", "-bd", "-y", "-snl", out] + args + ["."], cwd=where,
                               capture_output=True)
            if r.returncode == 0:
                with open(out, "rb") as f:
                    data = f.read()
                write("z_%s.7z" % tag, data, "7z " + tag)
                if tag == "plain":
                    write("z_cut_half.7z", data[:len(data) // 2], "7z cut in half")
                    write("z_cut_header.7z", data[:20], "7z cut in its signature header")
        # and through libarchive's own 7z writer (bsdtar), one per compression it offers
        bsdtar = shutil.which("bsdtar")
        for method in ("store", "deflate", "bzip2", "lzma1", "lzma2", "ppmd"):
            if not bsdtar:
                break
            out = os.path.join(tmp, "la_%s.7z" % method)
            r = subprocess.run([bsdtar, "--format", "7zip", "--options",
                                "7zip:compression=" + method, "-cf", out] + sorted(os.listdir(src7)),
                               cwd=src7,
                               capture_output=True)
            if r.returncode == 0:
                with open(out, "rb") as f:
                    write("z_la_%s.7z" % method, f.read(), "7z by libarchive, " + method)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
