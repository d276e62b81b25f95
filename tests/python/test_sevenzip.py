"""brine's 7z reader (libarchive) against the 7-Zip tool that wrote the fixtures: the same
members (name, directory or file, size) and the same bytes (7zz x -so), encrypted members
reported by name and never guessed, header-encrypted and cut archives refused, and the
decompression limits (a 8 MiB bomb in 1.4 KB) enforced. Nothing is unpickled; the marker a
hostile member would create must never appear."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

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


@pytest.mark.parametrize("tag", ["plain", "store", "solid_lzma", "bzip2"])
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
