"""brine's tar reader against Python's own tarfile (the reader torch.load uses): on every
fixture of tests/gen/gen_archives.py and on thousands of deterministic header mutations of
them, brine must list the same members (name, type, size, link target, header and data
offsets, data bytes) and must agree on whether tarfile.open raises, whether getmembers()
raises, and whether what it raises is a ReadError (torch.load then falls back to pickle.load).
Nothing is unpickled; the marker a hostile member would create must never appear."""
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen", "gen_archives.py")
TAR_LIST = os.environ.get("TAR_LIST")

pytestmark = pytest.mark.skipif(not TAR_LIST, reason="TAR_LIST (tests/c/tar_list) not set")
assert sys.version_info[:2] == (3, 11), "the reference is CPython 3.11's tarfile"

MAX_CALLS = 100000  # members before the oracle calls it a loop (brine's limit is higher)


class SmallMachine:
    """A file whose read(n) fails for n over 4 GiB, as it does wherever that much memory
    cannot be allocated (io.BufferedReader allocates n bytes first): brine treats such reads
    as failing, whatever the machine running this test has."""

    def __init__(self, f):
        self._f = f

    def read(self, n=-1):
        if n is not None and n > 1 << 32:
            raise MemoryError("read of %d bytes" % n)
        return self._f.read(n)

    def __getattr__(self, name):
        return getattr(self._f, name)


def oracle(path):
    """What tarfile does with the file, read without extracting anything."""
    res = {"open_ok": True, "complete": True, "read_error": False, "members": []}
    with open(path, "rb") as real:
        raw = real.read()
        real.seek(0)
        f = SmallMachine(real)
        try:
            tf = tarfile.open(fileobj=f, mode="r:")
        except tarfile.ReadError:
            return dict(res, open_ok=False, complete=False, read_error=True)
        except Exception:  # noqa: BLE001 — any other exception is the point
            return dict(res, open_ok=False, complete=False, read_error=False)
        try:
            first = tf.firstmember
            if first is not None and tf.offset <= first.offset:
                raise RecursionError("tarfile would re-read this member forever")
            while not tf._loaded and len(tf.members) < MAX_CALLS:
                ti = tf.next()
                if ti is None:
                    break
                if tf.offset <= ti.offset:
                    raise RecursionError("tarfile would re-read this member forever")
        except tarfile.ReadError:
            res.update(complete=False, read_error=True)
        except Exception:  # noqa: BLE001
            res.update(complete=False, read_error=False)
        tf._loaded = True  # link lookups search what was listed, without reading on
        for ti in tf.members:
            m = {"name": ti.name.encode("utf-8", "surrogateescape").hex(),
                 "link": ti.linkname.encode("utf-8", "surrogateescape").hex(),
                 "type": ti.type[0],
                 "size": max(-2 ** 63, min(ti.size, 2 ** 63 - 1)),  # brine: int64
                 "offset": ti.offset,
                 "offset_data": ti.offset_data, "sparse": ti.sparse is not None, "data": None}
            if ((ti.isreg() or ti.type not in tarfile.SUPPORTED_TYPES) and ti.sparse is None
                    and ti.size >= 0 and ti.offset_data + ti.size <= len(raw)):
                m["data"] = hashlib.sha256(raw[ti.offset_data:ti.offset_data + ti.size]).hexdigest()
                if res["complete"]:  # extractfile must give exactly these bytes
                    assert hashlib.sha256(tf.extractfile(ti).read()).hexdigest() == m["data"]
            m["link_target"] = -1
            if ti.islnk() or ti.issym():
                try:
                    target = tf._find_link_target(ti)
                    m["link_target"] = next(k for k, x in enumerate(tf.members) if x is target)
                except KeyError:
                    pass
            res["members"].append(m)
        if not res["open_ok"]:
            res["members"] = []
    return res


def brine_list(paths):
    out = {}
    for start in range(0, len(paths), 400):
        r = subprocess.run([TAR_LIST] + paths[start:start + 400], capture_output=True,
                           check=True)
        for line in r.stdout.decode().splitlines():
            o = json.loads(line)
            out[o["file"]] = o
    return out


def as_brine(o, raw):
    assert o["ok"], o
    assert "leak" not in o, o
    members = []
    for m in o["members"]:
        d = None
        if m["data"] is not None:
            start, n = m["data"]
            assert start == m["offset_data"] and n == m["size"], m
            d = hashlib.sha256(raw[start:start + n]).hexdigest()
        members.append({"name": m["name_hex"], "link": m["link_hex"], "type": m["type"],
                        "size": m["size"], "offset": m["offset"],
                        "offset_data": m["offset_data"], "sparse": "sparse" in m["anomalies"],
                        "data": d, "link_target": m["link_target"]})
    return {"open_ok": o["open_ok"], "complete": o["complete"],
            "read_error": o["read_error"] if not o["complete"] else False, "members": members}


def compare(paths):
    got = brine_list(paths)
    bad = []
    for p in paths:
        with open(p, "rb") as f:
            raw = f.read()
        want = oracle(p)
        b = as_brine(got[p], raw)
        if not want["open_ok"]:
            b["members"] = []
        if b != want:
            bad.append((os.path.basename(p), want, b, got[p].get("reason")))
    return got, bad


@pytest.fixture(scope="module")
def corpus():
    with tempfile.TemporaryDirectory(prefix="brine-archives-") as tmp:
        out = os.path.join(tmp, "a")
        marker = os.path.join(tmp, "MARKER")
        subprocess.run([sys.executable, GEN, out, marker], check=True)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        yield out, manifest, tmp
        assert not os.path.exists(marker), "a payload ran"


def test_fixtures_match_tarfile(corpus):
    out, manifest, _ = corpus
    paths = [os.path.join(out, n) for n in sorted(manifest) if n.endswith(".tar")]
    assert len(paths) >= 80
    got, bad = compare(paths)
    assert not bad, json.dumps(bad[:3], indent=1)
    # the fixtures really exercise both sides of every question
    outcomes = {(o["open_ok"], o["complete"], o["read_error"] if not o["complete"] else None)
                for o in got.values()}
    assert (True, True, None) in outcomes and (False, False, True) in outcomes
    assert (True, False, True) in outcomes  # opens, then "unexpected end of data"
    assert (True, False, False) in outcomes or (False, False, False) in outcomes


def anomalies(got, out, name):
    return set(got[os.path.join(out, name)]["anomalies"])


def member_anomalies(got, out, name):
    return [set(m["anomalies"]) for m in got[os.path.join(out, name)]["members"]]


def test_anomalies_and_lookup(corpus):
    out, manifest, _ = corpus
    paths = [os.path.join(out, n) for n in sorted(manifest) if n.endswith(".tar")]
    got = brine_list(paths)
    dup = got[os.path.join(out, "y_duplicate.tar")]
    # getmember returns the last of a name: the hostile one
    assert [m["find"] for m in dup["members"]] == [2, 1, 2]
    assert "duplicate" in dup["members"][0]["anomalies"]
    with tarfile.open(os.path.join(out, "y_duplicate.tar")) as tf:
        assert tf.getmember("model.pkl").offset == dup["members"][2]["offset"]
    esc = member_anomalies(got, out, "y_dotdot.tar")
    assert "name-dotdot" in esc[0] and "name-absolute" in esc[1] and "name-dotdot" in esc[2]
    basic = member_anomalies(got, out, "y_ustar_basic.tar")
    assert "link" in basic[3] and "link-escape" in basic[3]
    assert "trailing" in anomalies(got, out, "n_garbage_after_end.tar")
    assert "trailing" in anomalies(got, out, "n_garbage_after_first_zero.tar")
    assert "stopped-early" in anomalies(got, out, "n_bad_checksum_later.tar")
    assert "no-end" in anomalies(got, out, "n_no_end.tar")
    assert "pax-global" in anomalies(got, out, "y_pax_global.tar")
    assert any("size-no-data" in a for a in member_anomalies(got, out, "n_size_on_type_2.tar"))
    assert any("sparse" in a for a in member_anomalies(got, out, "y_gnutar_posix.tar")) or \
        not os.path.exists(os.path.join(out, "y_gnutar_posix.tar"))
    links = [m["link_target"] for m in got[os.path.join(out, "y_links.tar")]["members"]]
    assert links == [-1, 0, 0, 0, -1, -1, 5, -1, -1, 0, -1, -1, 11, -1, 0], links
    # torch: only tars whose members say so
    assert got[os.path.join(out, "y_torch_names.tar")]["torch"]
    assert not got[os.path.join(out, "y_pax_evil.tar")]["torch"]
    assert not got[os.path.join(out, "y_ustar_basic.tar")]["torch"]
    # probe: a tar header first, or nothing
    assert got[os.path.join(out, "y_ustar_basic.tar")]["probe"] > 50
    for n in ("n_text.tar", "n_empty.tar", "n_bad_checksum_first.tar", "y_zero_first_block.tar"):
        assert got[os.path.join(out, n)]["probe"] == 0, n


def test_limits(corpus):
    out, _, _ = corpus
    p = os.path.join(out, "y_ustar_basic.tar")
    r = subprocess.run([TAR_LIST, "--max-members", "3", p], capture_output=True, check=True)
    o = json.loads(r.stdout)
    assert not o["ok"] and o["limit"] == "archive_max_members", o
    p = os.path.join(out, "y_pax_longnames.tar")
    r = subprocess.run([TAR_LIST, "--max-name", "100", p], capture_output=True, check=True)
    o = json.loads(r.stdout)
    assert not o["ok"] and o["limit"] == "archive_max_name", o


VALUES = [b"0", b"", b" ", b"-1", b"-512", b"-513", b"+7", b"0o17", b"0O7", b"0o_7", b"_7",
          b"7_", b"1_0", b"1__0", b"8", b"777", b"\x1c7", b"7\x1f", b"\x80" + b"\0" * 6 + b"\x01",
          b"\xff" * 8, b"\xff" * 7 + b"\xfe", b"\x80\x7f" + b"\xff" * 10, b"0 7", b"\t12\n",
          b"00000001000", b"77777777777", b"1000", b"\xe9", b"0x10", b"- 1", b"--1"]
TYPES = b"0123456789LKSxgXAV\0"


def mutate(data, rng):
    data = bytearray(data)
    nblocks = max(1, len(data) // 512)
    for _ in range(rng.randint(1, 3)):
        off = 512 * rng.randrange(min(nblocks, 8))
        h = data[off:off + 512]
        if len(h) < 512:
            continue
        kind = rng.randrange(7)
        if kind == 0:  # a numeric field
            start, width = rng.choice([(100, 8), (108, 8), (124, 12), (124, 12), (136, 12),
                                       (329, 8), (148, 8)])
            h[start:start + width] = rng.choice(VALUES).ljust(width, b"\0")[:width]
        elif kind == 1:
            h[156] = rng.choice(TYPES)
        elif kind == 2:  # size to the length of something nearby
            h[124:136] = b"%011o\0" % rng.choice([0, 1, 511, 512, 513, 1024, 5000, 10 ** 9])
        elif kind == 3:
            h[rng.randrange(512)] = rng.randrange(256)
        elif kind == 4:  # a name ending in '/', or a prefix
            if rng.random() < 0.5:
                h[0:100] = (b"dir/" if rng.random() < 0.5 else b"a" * 99 + b"/").ljust(100, b"\0")
            else:
                h[345:500] = b"pre/fix".ljust(155, b"\0")
        elif kind == 5:  # pax-looking data in the next block
            rec = rng.choice([b"12 path=xy\n", b"9 size=3\n", b"30 GNU.sparse.map=1,2,3,x\n",
                              b"4 a=\n", b"13 linkpath=/\n", b"99999999999999999999999 x=1\n",
                              b"21 GNU.sparse.size=5\n", b"22 GNU.sparse.major=1\n"])
            if off + 1024 <= len(data):
                data[off + 512:off + 512 + len(rec)] = rec
        else:  # cut
            del data[rng.randrange(len(data)):]
            return bytes(data)
        if rng.random() < 0.8:
            h[148:156] = b" " * 8
            s = sum(h)
            h[148:156] = b"%06o\0 " % s
        data[off:off + 512] = h
    return bytes(data)


PAX_RECORDS = [b"path=x/y", b"path=dir/", b"path=", b"linkpath=../t", b"size=0", b"size=700",
               b"size=-1", b"size= 12 ", b"size=1_0", b"size=\xc2\xa0", b"mtime=1.5",
               b"GNU.sparse.map=0,3,10,2", b"GNU.sparse.map=", b"GNU.sparse.size=20",
               b"GNU.sparse.offset=0", b"GNU.sparse.numbytes=x", b"GNU.sparse.realsize=99",
               b"GNU.sparse.name=sp/", b"GNU.sparse.major=1", b"GNU.sparse.minor=0",
               b"hdrcharset=BINARY", b"comment=\xff\xfe", b"uid=abc"]


def pax_record(r):
    n = len(r) + 2
    while len(b"%d %s\n" % (n, r)) != n:
        n += 1
    return b"%d %s\n" % (n, r)


def ext_header(rng):
    """An extension header (pax x/g/X or GNU L/K) with random content, to insert before a
    member: exercises the header chains of tarfile.TarInfo._proc_*."""
    kind = rng.choice(b"xxgXLK")
    if kind in b"LK":
        body = rng.choice([b"long/name.pkl", b"d" * 300 + b"/", b"", b"n\0tail"])
    else:
        body = b"".join(pax_record(rng.choice(PAX_RECORDS)) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            body += rng.choice([b"3 x\n", b"5 =x\n", b"7 a=b\n", b"99 k=v\n", b"\0junk"])
    info = tarfile.TarInfo("././@Ext")
    info.type = bytes([kind])
    info.size = len(body)
    block = info.tobuf(tarfile.USTAR_FORMAT) + body + b"\0" * (-len(body) % 512)
    if rng.random() < 0.3:  # a GNU sparse 1.0 map block after the next header
        block += b""
    return block


def insert_ext(data, rng):
    """Inserts one or two extension headers at a random member boundary of a valid tar."""
    offsets = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            offsets = [ti.offset for ti in tf.getmembers()][:8]
    except Exception:  # noqa: BLE001
        pass
    if not offsets:
        return data
    at = rng.choice(offsets)
    ext = b"".join(ext_header(rng) for _ in range(rng.randint(1, 2)))
    out = data[:at] + ext + data[at:]
    if b"GNU.sparse.major=1" in ext and rng.random() < 0.7:  # the 1.0 map after the header
        hdr_end = at + len(ext) + 512
        out = out[:hdr_end] + (b"1\n0\n3\n" + b"\0" * 506) + out[hdr_end:]
    return out


def test_extension_chains_match_tarfile(corpus):
    out, manifest, tmp = corpus
    seeds = [n for n in sorted(manifest) if n.endswith(".tar") and n.startswith("y_")]
    rng = random.Random(5122026)
    mdir = os.path.join(tmp, "ext")
    os.makedirs(mdir)
    paths = []
    for i in range(1500):
        with open(os.path.join(out, rng.choice(seeds)), "rb") as f:
            data = insert_ext(f.read(), rng)
        if rng.random() < 0.3:
            data = mutate(data, rng)
        p = os.path.join(mdir, "e%05d.tar" % i)
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    got, bad = compare(paths)
    assert not bad, "%d of %d differ; first: %s" % (len(bad), len(paths),
                                                      json.dumps(bad[:2], indent=1))
    sparse = sum(any("sparse" in m["anomalies"] for m in o["members"]) for o in got.values())
    other = sum(o["ok"] and not o["complete"] and not o["read_error"] for o in got.values())
    assert sparse >= 20 and other >= 5, (sparse, other)


def test_mutations_match_tarfile(corpus):
    out, manifest, tmp = corpus
    seeds = [n for n in sorted(manifest) if n.endswith(".tar") and n.startswith("y_")]
    rng = random.Random(20261205)
    mdir = os.path.join(tmp, "mut")
    os.makedirs(mdir)
    paths = []
    for i in range(3000):
        with open(os.path.join(out, rng.choice(seeds)), "rb") as f:
            data = f.read()
        p = os.path.join(mdir, "m%05d.tar" % i)
        with open(p, "wb") as f:
            f.write(mutate(data, rng))
        paths.append(p)
    got, bad = compare(paths)
    assert not bad, "%d of %d differ; first: %s" % (len(bad), len(paths),
                                                      json.dumps(bad[:2], indent=1))
    kinds = {(o["open_ok"], o["complete"], o["read_error"]) for o in got.values()}
    assert len(kinds) >= 4, kinds
