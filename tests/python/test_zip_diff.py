"""brine's zip reader against Python's zipfile, and over the malformed-zip corpus.

Differential part: benign archives written by zipfile (stored, deflated, ZIP64, data
descriptors, UTF-8 names, comments, many entries) and by torch.save / torch.jit.save are
listed by brine (tests/c/zip_list.c prints JSON) and by zipfile; every central-directory field,
every entry's bytes and the absence of anomalies must agree.

Corpus part: tests/gen/gen_malformed_formats.py writes y_* archives that must parse (with
exactly the anomalies its manifest lists) and n_* archives that must be rejected with the
manifest's message — never a crash. A few corpus files are also shown to zipfile, to pin
down where brine deliberately reads like torch's miniz instead (CVE-2025-10156, -1944).

Nothing here loads a pickle: torch is only used to *write* archives.
"""

import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "tests" / "gen" / "gen_malformed_formats.py"


def zip_list_bin():
    env = os.environ.get("ZIP_LIST")
    if env:
        return env
    for cand in ("build", "build-zip"):
        p = REPO / cand / "tests" / "zip_list"
        if p.exists():
            return str(p)
    pytest.skip("zip_list not built (set ZIP_LIST)")


def listing(path, *args):
    r = subprocess.run([zip_list_bin(), *args, str(path)], capture_output=True, timeout=120)
    assert r.returncode in (0, 1), (path, r.returncode, r.stderr[-2000:])
    assert not r.stderr, r.stderr[-2000:]  # sanitizer reports, leak notes
    return json.loads(r.stdout)


# ------------------------------------------------------------------ benign archives


class Unseekable(io.RawIOBase):
    """A write-only stream without tell/seek: zipfile then writes data descriptors."""

    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


def zipfile_archives(tmp):
    text = b"".join(b"line %d of some text\n" % i for i in range(5000))
    noise = bytes((i * 2654435761 >> 7) & 0xFF for i in range(300000))
    out = {}

    p = tmp / "mixed.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a/stored.bin", noise[:1000])
        z.writestr(zipfile.ZipInfo("a/deflated.txt"), text, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("a/empty", b"")
        z.writestr("a/dir/", b"")
        z.writestr("caf\u00e9/\u00fcnicode.txt", b"utf-8 name", compress_type=zipfile.ZIP_DEFLATED)
        z.comment = b"an archive comment"
    out["mixed"] = p

    p = tmp / "levels.zip"
    with zipfile.ZipFile(p, "w") as z:
        for lvl in (0, 1, 6, 9):
            z.writestr("t%d" % lvl, text, compress_type=zipfile.ZIP_DEFLATED, compresslevel=lvl)
        z.writestr("noise", noise, compress_type=zipfile.ZIP_DEFLATED)  # incompressible
    out["levels"] = p

    p = tmp / "zip64.zip"
    with zipfile.ZipFile(p, "w") as z:
        with z.open("forced", "w", force_zip64=True) as f:
            f.write(text)
        zi = zipfile.ZipInfo("forced_deflated")
        zi.compress_type = zipfile.ZIP_DEFLATED
        with z.open(zi, "w", force_zip64=True) as f:
            f.write(text)
        z.writestr("plain", b"x")
    out["zip64"] = p

    s = Unseekable()
    with zipfile.ZipFile(s, "w") as z:
        z.writestr("d1", text, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("d2", noise[:5000])
    p = tmp / "descriptors.zip"
    p.write_bytes(bytes(s.buf))
    out["descriptors"] = p

    p = tmp / "many.zip"
    with zipfile.ZipFile(p, "w") as z:
        for i in range(3000):
            z.writestr("m/%05d" % i, b"%d" % i)
    out["many"] = p

    p = tmp / "extra.zip"
    with zipfile.ZipFile(p, "w") as z:
        zi = zipfile.ZipInfo("with_extra")
        zi.extra = b"UT\x05\x00\x03\x00\x00\x00\x00"  # extended timestamp field
        z.writestr(zi, b"payload")
    out["extra"] = p
    return out


def torch_archives(tmp):
    torch = pytest.importorskip("torch")
    out = {}
    p = tmp / "arange.pt"
    torch.save({"a": torch.arange(10)}, p)
    out["torch_arange"] = p
    buf = io.BytesIO()
    torch.save({"a": torch.arange(10)}, buf)  # file-like: root folder "archive"
    p = tmp / "arange_buffer.pt"
    p.write_bytes(buf.getvalue())
    out["torch_buffer"] = p
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    p = tmp / "state_dict.pt"
    torch.save(model.state_dict(), p)
    out["torch_state_dict"] = p
    p = tmp / "dtypes.pt"
    torch.save({str(dt): torch.zeros(3, dtype=dt) for dt in (
        torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
        torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64)}, p)
    out["torch_dtypes"] = p
    # TorchScript archives hold deflated code records: real deflate from torch's writer
    p = tmp / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(p))
    out["torchscript"] = p
    return out


def name_bytes(zi):
    return zi.orig_filename.encode("utf-8" if zi.flag_bits & 0x800 else "cp437")


def compare_with_zipfile(path):
    d = listing(path)
    assert d["ok"], d
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert len(d["entries"]) == len(infos)
        for k, (zi, e) in enumerate(zip(infos, d["entries"])):
            where = "%s entry %d (%s)" % (path.name, k, zi.filename)
            assert e["name_hex"] == name_bytes(zi).hex(), where
            assert e["method"] == zi.compress_type, where
            assert e["flags"] == zi.flag_bits, where
            assert e["crc"] == zi.CRC, where
            assert e["csize"] == zi.compress_size, where
            assert e["usize"] == zi.file_size, where
            assert e["local_offset"] == zi.header_offset, where
            assert e["anomalies"] == [], (where, e["anomalies"])
            assert e["find"] == k, where  # names are unique: each finds itself
            data = z.read(zi)
            r = e["read"]
            assert r["ok"], (where, r)
            assert r["len"] == len(data) and r["crc"] == zlib.crc32(data), where
            # stored data is served from the file itself, deflated data is inflated
            assert r["zero_copy"] == (zi.compress_type == zipfile.ZIP_STORED), where
            assert r["owned"] == (zi.compress_type == zipfile.ZIP_DEFLATED), where
    assert d["anomalies"] == [], d["anomalies"]
    return d


@pytest.fixture(scope="module")
def benign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benign")
    archives = zipfile_archives(tmp)
    try:
        archives.update(torch_archives(tmp))
    except pytest.skip.Exception:
        pass
    return archives


@pytest.mark.parametrize("kind", ["mixed", "levels", "zip64", "descriptors", "many", "extra"])
def test_zipfile_written(benign, kind):
    d = compare_with_zipfile(benign[kind])
    if kind == "zip64":
        assert any(e["usize"] for e in d["entries"])
    if kind == "descriptors":
        assert all(e["flags"] & 8 for e in d["entries"])


@pytest.mark.parametrize("kind", ["torch_arange", "torch_buffer", "torch_state_dict",
                                  "torch_dtypes", "torchscript"])
def test_torch_written(benign, kind):
    if kind not in benign:
        pytest.skip("torch not available")
    d = compare_with_zipfile(benign[kind])
    if kind != "torchscript":
        # torch.save: ZIP64 end record, data descriptors, 64-byte aligned stored records
        assert d["zip64"]
        for e in d["entries"]:
            assert e["flags"] & 8 and e["method"] == 0
            assert e["data_offset"] % 64 == 0
    else:
        assert any(e["method"] == 8 for e in d["entries"])


def test_case_insensitive_lookup(tmp_path):
    """zip_find follows miniz: ASCII case-insensitive, the first of duplicates."""
    p = tmp_path / "case.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("arch/data.pkl", b"1")
        z.writestr("other", b"2")
        z.writestr("ARCH/Data.PKL", b"3")
    d = listing(p)
    assert [e["find"] for e in d["entries"]] == [0, 1, 0]
    assert d["entries"][0]["anomalies"] == ["duplicate-case"]
    assert d["entries"][2]["anomalies"] == ["duplicate-case"]


# ------------------------------------------------------------------ the corpus


def _corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(GEN), str(out)], check=True, capture_output=True)
    return out, json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _corpus(tmp_path_factory)


def _zip_names():
    # the case list is fixed by the generator; read it without writing the files
    sys.path.insert(0, str(GEN.parent))
    try:
        import gen_malformed_formats as g
        return sorted(g.zip_cases())
    finally:
        sys.path.pop(0)


@pytest.mark.parametrize("name", _zip_names())
def test_corpus(corpus, name):
    out, manifest = corpus
    spec = manifest["zip"][name]
    d = listing(out / "zip" / name, *spec["args"])
    if spec["expect"] == "parse":
        assert d["ok"], d.get("error")
        failed = [e["read"] for e in d["entries"] if not e["read"]["ok"]]
        assert not failed, failed
        seen = set(d["anomalies"])
        for e in d["entries"]:
            seen.update(e["anomalies"])
        assert sorted(seen) == spec["anomalies"]
    else:
        assert name.startswith("n_")
        if not d["ok"]:
            messages = [d["error"]]
        else:
            messages = [e["read"]["error"] for e in d["entries"] if not e["read"]["ok"]]
        assert messages, "accepted: %s" % name
        assert any(spec["message"] in m for m in messages), messages
        # a clear message: says what was needed or found, not just "error"
        assert all(len(m) > 20 for m in messages)


def test_corpus_names_match_expectations(corpus):
    _, manifest = corpus
    for name, spec in manifest["zip"].items():
        assert name[:2] == ("y_" if spec["expect"] == "parse" else "n_"), name


def test_zipfile_disagrees_where_torch_does(corpus):
    """Where zipfile and torch's miniz disagree, brine reads like miniz and says so."""
    out, _ = corpus
    with zipfile.ZipFile(out / "zip" / "y_crc_mismatch.zip") as z:
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            z.read("archive/data.pkl")
    d = listing(out / "zip" / "y_crc_mismatch.zip")
    assert d["entries"][0]["read"]["ok"] and "crc" in d["entries"][0]["anomalies"]

    with zipfile.ZipFile(out / "zip" / "y_local_name_mismatch.zip") as z:
        with pytest.raises(zipfile.BadZipFile, match="differ"):
            z.read("archive/data.pkl")
    d = listing(out / "zip" / "y_local_name_mismatch.zip")
    assert bytes.fromhex(d["entries"][0]["name_hex"]) == b"archive/data.pkl"
    assert d["entries"][0]["anomalies"] == ["local-name"]

    # bytes between the directory and the end record: zipfile shifts every offset by them
    # (and then misses the directory), torch 1.13's miniz does not
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(out / "zip" / "y_cd_gap.zip")
    d = listing(out / "zip" / "y_cd_gap.zip")
    assert d["entries"][0]["read"]["ok"] and d["anomalies"] == ["cd-gap"]

    # the converse: junk prepended without fixing the offsets; zipfile's shift finds the
    # members (miniz needs "PK\3\4" first and cannot open it at all), and so does brine, so
    # whatever zipfile users load is judged
    with zipfile.ZipFile(out / "zip" / "y_prepended_unadjusted.zip") as z:
        assert z.read("a") == b"hello, world"
    d = listing(out / "zip" / "y_prepended_unadjusted.zip")
    assert d["ok"] and d["entries"][0]["read"]["ok"] and "prefix" in d["anomalies"]
