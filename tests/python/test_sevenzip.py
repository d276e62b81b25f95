"""brine's 7z reader (libarchive) against the 7-Zip tool that wrote the fixtures: the same
members (name, directory or file, size) and the same bytes (7zz x -so), encrypted members
reported by name and never guessed, header-encrypted and cut archives refused, and the
decompression limits (a 8 MiB bomb in 1.4 KB) enforced. Nothing is unpickled; the marker a
hostile member would create must never appear."""
import hashlib
import json
import os
import struct
import shutil
import subprocess
import sys
import tempfile
import zlib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen", "gen_archives.py")
SZ_LIST = os.environ.get("SZ_LIST")
SEVEN = shutil.which("7zz") or shutil.which("7z")

pytestmark = [pytest.mark.skipif(not SZ_LIST, reason="SZ_LIST (tests/c/sz_list) not set"),
              pytest.mark.skipif(not SEVEN, reason="7-Zip (Debian package 7zip) not installed")]

UNSUPPORTED, LIMIT, MALFORMED = 7, 2, 1


@pytest.fixture(scope="module")
def corpus():
    with tempfile.TemporaryDirectory(prefix="brine-7z-") as tmp:
        out = os.path.join(tmp, "a")
        marker = os.path.join(tmp, "MARKER")
        subprocess.run([sys.executable, GEN, out, marker], check=True)
        yield out
        assert not os.path.exists(marker), "a payload ran"


def brine(path, *args):
    r = subprocess.run([SZ_LIST, *args, path], capture_output=True, check=True)
    o = json.loads(r.stdout)
    assert o["leak"] == 0, o
    return o


def seven_listing(path):
    """(name, is_dir, size, encrypted) per member, from `7zz l -slt`."""
    r = subprocess.run([SEVEN, "l", "-slt", "-ba", "-pWRONG", path], capture_output=True,
                       check=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    members, cur = [], {}
    for line in r.stdout.decode("utf-8").splitlines() + [""]:
        if not line.strip():
            if cur:
                members.append(cur)
            cur = {}
            continue
        k, _, v = line.partition(" = ")
        cur[k] = v
    return [(m["Path"], "D" in m["Attributes"].split(" ")[0], int(m["Size"] or 0),
             m.get("Encrypted") == "+", m["Attributes"]) for m in members]


def seven_bytes(path, name):
    r = subprocess.run([SEVEN, "x", "-so", path, name], capture_output=True, check=True,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    return r.stdout


@pytest.mark.parametrize("tag", ["plain", "store", "solid_lzma", "bzip2", "plain_header", "ppmd",
                                 "bcj_lzma2", "deflate", "many", "la_store", "la_deflate",
                                 "la_bzip2", "la_lzma1", "la_lzma2", "la_ppmd"])
def test_members_match_7zip(corpus, tag):
    path = os.path.join(corpus, "z_%s.7z" % tag)
    o = brine(path)
    assert o["ok"], o
    want = seven_listing(path)
    got = o["members"]
    assert len(got) == len(want) >= 6
    for (name, is_dir, size, _, attrs), m in zip(sorted(want), sorted(got, key=lambda m: m["name"].rstrip("/"))):
        assert m["name"].rstrip("/") == name, (m, name)
        if is_dir:
            assert m["type"] == "5" and m["sha256"] is None, m
        elif attrs.split(" ")[-1].startswith("l"):  # symlink: 7-Zip stores the target as data
            assert m["type"] == "2" and m["sha256"] is None, m
            assert m["link"] == seven_bytes(path, name).decode(), m
        else:
            assert m["type"] == "0" and m["status"] == 0 and m["len"] == size, m
            assert m["sha256"] == hashlib.sha256(seven_bytes(path, name)).hexdigest(), name
    names = {m["name"] for m in got}
    if tag != "many":
        assert "model/evil.pkl" in names and "caf\u00e9.txt" in names


def test_encrypted_members_are_named(corpus):
    path = os.path.join(corpus, "z_encrypted.7z")
    o = brine(path)
    files = [m for m in o["members"] if m["type"] == "0"]
    assert files, o
    assert all(m["status"] == UNSUPPORTED and "encrypted" in m["reason"] and m["sha256"] is None
               for m in files), o
    encrypted = {n for n, d, _, enc, _ in seven_listing(path) if enc}
    assert {m["name"] for m in files} <= encrypted
    # libarchive cannot skip past encrypted data: the walk stops with a reason, never "ok"
    assert not o["ok"] and o["code"] == UNSUPPORTED, o


def test_refused_archives(corpus):
    o = brine(os.path.join(corpus, "z_encrypted_names.7z"))
    assert not o["ok"] and o["code"] == UNSUPPORTED and "encrypted" in o["error"], o
    for n in ("z_cut_half.7z", "z_cut_header.7z"):
        o = brine(os.path.join(corpus, n))
        assert not o["ok"] and o["code"] == MALFORMED and not o["members"], (n, o)
    o = brine(os.path.join(corpus, "y_ustar_basic.tar"))
    assert not o["ok"] and o["code"] == MALFORMED, o
    # a damaged start header: refused before libarchive trusts any size in it
    with open(os.path.join(corpus, "z_plain.7z"), "rb") as f:
        data = bytearray(f.read())
    data[24] ^= 0x40  # next-header size
    p = os.path.join(corpus, "damaged_start.7z")
    with open(p, "wb") as f:
        f.write(data)
    o = brine(p)
    assert not o["ok"] and o["code"] == MALFORMED and "CRC" in o["error"], o


def test_limits(corpus):
    bomb = os.path.join(corpus, "z_bomb.7z")
    o = brine(bomb)
    assert not o["ok"] and o["limit"] == "zip_max_ratio", o
    assert o["members"][0]["status"] == LIMIT and o["members"][0]["sha256"] is None
    o = brine(bomb, "--max-ratio", "100000")  # the ratio allows it: read in full
    assert o["ok"] and o["members"][0]["len"] == 8 << 20, o
    assert o["members"][0]["sha256"] == hashlib.sha256(b"\0" * (8 << 20)).hexdigest()
    o = brine(bomb, "--max-ratio", "100000", "--max-entry-bytes", str(1 << 20))
    assert not o["ok"] and o["limit"] == "zip_max_entry_bytes", o
    plain = os.path.join(corpus, "z_plain.7z")
    o = brine(plain, "--max-total-bytes", "1000")
    assert not o["ok"] and o["limit"] == "zip_max_total_bytes", o
    o = brine(plain, "--max-members", "3")
    assert not o["ok"] and o["limit"] == "archive_max_members", o


def with_crcs(data):
    """The archive with both start-header CRCs made right (as fuzz_sevenzip does)."""
    d = bytearray(data)
    off, size = struct.unpack("<QQ", d[12:28])
    d[28:32] = struct.pack("<I", zlib.crc32(d[32 + off:32 + off + size]))
    d[8:12] = struct.pack("<I", zlib.crc32(d[12:32]))
    return bytes(d)


def regression(corpus, name):
    """A fuzz_sevenzip regression input with its CRCs repaired (as the harness does), in corpus."""
    with open(os.path.join(HERE, "..", "..", "fuzz", "regressions", "fuzz_sevenzip", name),
              "rb") as f:
        data = with_crcs(f.read())
    p = os.path.join(corpus, "crcs-" + name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_header_counts_checked_before_libarchive(corpus):
    # F18: a 124-byte header declaring 67,108,863 files; libarchive 3.6 allocated 5.9 GB for them
    p = regression(corpus, "oom-libarchive-67-million-files.7z")
    o = brine(p)
    assert not o["ok"] and o["limit"] == "archive_max_members" and not o["members"], o
    assert "67108863" in o["error"], o
    # allowed that many members, the header still cannot describe them
    o = brine(p, "--max-members", "100000000")
    assert not o["ok"] and o["code"] == MALFORMED and "files in" in o["error"], o
    # 1,500 files, one folder each: counts in the (LZMA-compressed) header over the limit
    o = brine(os.path.join(corpus, "z_many.7z"), "--max-members", "1000")
    assert not o["ok"] and o["limit"] == "archive_max_members" and not o["members"], o


def test_archive_properties_refused(corpus):
    # F20: archive properties whose bytes libarchive 3.6 does not skip; it then read a file
    # count of 67,108,863 out of them (5.9 GB asked for), where 7-Zip reads other properties
    p = regression(corpus, "oom-libarchive-reads-archive-property-bytes-as-header.7z")
    o = brine(p, "--max-members", "100000000")
    assert not o["ok"] and o["code"] == MALFORMED and not o["members"], o
    assert "archive properties" in o["error"], o


def test_coder_memory_within_max_memory(corpus):
    # an 8 MiB dictionary (7-Zip shrinks the 64 MiB asked for to the data) is allocated whole
    bomb = os.path.join(corpus, "z_bomb_dict.7z")
    o = brine(bomb, "--max-ratio", "100000", "--max-memory", str(1 << 20))
    assert not o["ok"] and o["limit"] == "max_memory" and not o["members"], o
    o = brine(bomb, "--max-ratio", "100000", "--max-memory", str(64 << 20))
    assert o["ok"] and o["members"][0]["len"] == 8 << 20, o
