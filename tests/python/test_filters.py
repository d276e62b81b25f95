"""brine's decompression filters against the Python readers that open compressed models.

tests/gen/gen_filters.py writes fixtures with the real libraries; tests/c/flt_decode decodes
each with src/filters and writes the bytes plus a JSON line. The oracle is the real reader,
read in 8192-byte chunks as pickle.load's buffered reads would: gzip.GzipFile, zlib.decompress,
bz2.BZ2File, lzma.LZMAFile, lz4.frame.LZ4FrameFile, zstandard.open (pandas.read_pickle) and
joblib's BinaryGzipFile / BinaryZlibFile (joblib.load's 'gzip' and 'zlib'). For each fixture:

  - the reader returns data      -> brine says ok and its bytes are identical;
  - the reader raises            -> brine says malformed, and what the reader returned
                                    before raising is a prefix of what brine hands back;
  - the reader loops forever     -> (joblib, bytes after the stream) brine says ok, end=hang,
                                    identical bytes;
  - the reader ends silently on a truncated stream (joblib, zstandard) -> brine says
    malformed with silent_truncation=1 and the same bytes.

Runs under Debian's python3 (joblib 1.2, python3-lz4, python3-zstandard) and the venv
(joblib 1.6, lz4 4.4); a codec whose package is missing is skipped by the generator.
Only bytes are compared: no fixture is ever unpickled.
"""

import bz2
import gzip
import io
import json
import lzma
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "tests" / "gen" / "gen_filters.py"
CHUNK = 8192
JOBLIB_CHUNK = 64


def flt_bin():
    env = os.environ.get("FLT_DECODE")
    if env:
        return env
    p = REPO / "build" / "tests" / "flt_decode"
    if p.exists():
        return str(p)
    pytest.skip("flt_decode not built (set FLT_DECODE)")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("filters")
    subprocess.run([sys.executable, str(GEN), str(out)], check=True)
    return out, json.loads((out / "manifest.json").read_text())


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang()


def read_chunks(make, chunk=CHUNK):
    """(outcome, bytes): outcome is 'ok', 'raise:<Type>' or 'hang'."""
    got = []
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        f = make()
        while True:
            b = f.read(chunk)
            if not b:
                return "ok", b"".join(got)
            got.append(b)
    except Hang:
        return "hang", b"".join(got)
    except Exception as e:  # the reader's own exception: what we are comparing
        return "raise:" + type(e).__name__, b"".join(got)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def one_shot(fn, data):
    try:
        return "ok", fn(data)
    except Exception as e:
        return "raise:" + type(e).__name__, b""


def oracle(kind, reader, data):
    bio = lambda: io.BytesIO(data)
    if reader == "joblib":
        from joblib.compressor import BinaryGzipFile, BinaryZlibFile
        cls = BinaryGzipFile if kind == "gzip" else BinaryZlibFile
        # small reads: joblib's read(n) loops forever when n bytes are not there, so the
        # bytes before the hang are seen to within one read
        return read_chunks(lambda: cls(bio(), "rb"), JOBLIB_CHUNK)
    if kind == "gzip":
        return read_chunks(lambda: gzip.GzipFile(fileobj=bio()))
    if kind == "zlib":
        return one_shot(zlib.decompress, data)
    if kind == "bz2":
        return read_chunks(lambda: bz2.BZ2File(bio()))
    if kind in ("xz", "lzma", "lzip"):
        return read_chunks(lambda: lzma.LZMAFile(bio()))
    if kind == "lz4":
        import lz4.frame
        return read_chunks(lambda: lz4.frame.LZ4FrameFile(bio()))
    if kind == "zstd":
        import zstandard
        return read_chunks(lambda: zstandard.open(bio(), "rb",
                                                  dctx=zstandard.ZstdDecompressor()))
    raise AssertionError(kind)


def brine(path, kind, reader, tmp_path, *opts):
    out = tmp_path / "decoded"
    args = [flt_bin()] + list(opts) + (["--joblib"] if reader == "joblib" else [])
    p = subprocess.run(args + [kind, str(path), str(out)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), out.read_bytes()


def cases(corpus_entries):
    for e in corpus_entries:
        if e["note"] == "bomb":
            continue
        yield e, "python"
        if e["kind"] in ("gzip", "zlib"):
            yield e, "joblib"


def test_differential(corpus, tmp_path):
    root, manifest = corpus
    failures = []
    seen = {"ok": 0, "raise": 0, "hang": 0, "silent": 0}
    for e, reader in cases(manifest["entries"]):
        path = root / e["file"]
        data = path.read_bytes()
        want, pdata = oracle(e["kind"], reader, data)
        res, bdata = brine(path, e["kind"], reader, tmp_path)
        where = f"{e['file']} ({reader}): python {want} {len(pdata)}B, brine {res}"
        if want == "ok" and res["status"] == "malformed input" and res["silent_truncation"]:
            seen["silent"] += 1
            if bdata != pdata:
                failures.append(where + ": silent truncation, bytes differ")
        elif want == "ok":
            seen["ok"] += 1
            if res["status"] != "ok" or res["end"] == "hang":
                failures.append(where)
            elif bdata != pdata:
                failures.append(where + ": bytes differ")
        elif want == "hang":
            seen["hang"] += 1
            if res["status"] != "ok" or res["end"] != "hang":
                failures.append(where)
            elif not bdata.startswith(pdata) or len(bdata) - len(pdata) >= JOBLIB_CHUNK:
                failures.append(where + ": bytes before the hang differ")
        else:
            seen["raise"] += 1
            if res["status"] != "malformed input" or res["silent_truncation"]:
                failures.append(where)
            elif not bdata.startswith(pdata):
                failures.append(where + ": python's partial data is not a prefix of brine's")
    print(seen)
    assert not failures, "\n".join(failures)
    # the corpus exercises every outcome (a generator regression would silently shrink it)
    assert seen["ok"] > 30 and seen["raise"] > 30 and seen["hang"] >= 3


def test_probe(corpus, tmp_path):
    """Every well-formed fixture is probed as the codec that wrote it."""
    root, manifest = corpus
    for e in manifest["entries"]:
        name = e["file"].split("/")[1]
        if not name.startswith(("single", "two_", "empty_payload", "checksum", "skippable")):
            continue
        if "_trunc" in name or "_flip" in name:
            continue
        res, _ = brine(root / e["file"], "auto", "python", tmp_path)
        assert res["probed"] == e["kind"], (e["file"], res)
        assert res["confidence"] >= 25, (e["file"], res)
        assert res["status"] == "ok", (e["file"], res)


def test_not_compressed(tmp_path):
    """Plain pickles, zip and npy magics are not taken for a filter."""
    import pickle
    for i, data in enumerate([pickle.dumps([1, 2], protocol=p) for p in range(6)] +
                             [b"PK\x03\x04" + b"\0" * 30, b"\x93NUMPY\x01\x00", b"", b"x"]):
        f = tmp_path / f"plain{i}"
        f.write_bytes(data)
        res, _ = brine(f, "auto", "python", tmp_path)
        assert res["probed"] == "none" and res["confidence"] == 0, (data[:8], res)


@pytest.mark.parametrize("kind", ["gzip", "zlib", "bz2", "xz", "lz4", "zstd"])
def test_bomb_limits(corpus, tmp_path, kind):
    """80 MiB of zeros: decoded in full by default, stopped by filter_max_bytes and by
    filter_max_ratio (checked past 64 MiB), with the first bytes still handed back."""
    root, manifest = corpus
    path = root / kind / "bomb_zeros"
    if not path.exists():
        pytest.skip(f"{kind} not generated here")
    res, out = brine(path, kind, "python", tmp_path)
    assert res["status"] == "ok" and res["len"] == 80 << 20 and out == bytes(80 << 20), res
    res, out = brine(path, kind, "python", tmp_path, "--max-bytes", "1000000")
    assert res["status"] == "limit exceeded" or res["status"].startswith("limit"), res
    assert res["limit"] == "filter_max_bytes" and len(out) == 1000000 and not any(out), res
    ratio = (80 << 20) // path.stat().st_size
    res, out = brine(path, kind, "python", tmp_path, "--max-ratio", str(max(ratio // 4, 1)))
    assert res["limit"] == "filter_max_ratio", (ratio, res)
    res, out = brine(path, kind, "python", tmp_path, "--max-memory", str(8 << 20))
    assert res["status"] == "out of memory" and len(out) <= 8 << 20, res


JOBLIB_COMPRESSORS = {"zlib": "zlib", "gzip": "gzip", "bz2": "bz2", "xz": "xz", "lzma": "lzma",
                      "lz4": "lz4"}


@pytest.mark.parametrize("compressor", sorted(JOBLIB_COMPRESSORS))
def test_joblib_dump(tmp_path, compressor):
    """A real joblib.dump with each compressor: probed as the codec joblib's own prefix test
    picks, and decoded (as joblib reads it) to exactly the bytes of the uncompressed dump."""
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    if compressor == "lz4":
        pytest.importorskip("lz4")
    obj = {"w": np.arange(5000, dtype=np.float32), "names": ["a", "b"], "n": 3}
    plain, packed = tmp_path / "plain.joblib", tmp_path / f"m.{compressor}.joblib"
    joblib.dump(obj, plain, compress=0)
    joblib.dump(obj, packed, compress=(compressor, 3))
    from joblib.numpy_pickle_utils import _detect_compressor
    with open(packed, "rb") as f:
        assert _detect_compressor(f) == compressor
    res, out = brine(packed, "auto", "joblib", tmp_path)
    assert res["probed"] == JOBLIB_COMPRESSORS[compressor], res
    assert res["status"] == "ok" and res["end"] == "clean", res
    assert out == plain.read_bytes()


@pytest.mark.parametrize("compression", ["gzip", "bz2", "xz", "zstd"])
def test_pandas_to_pickle(tmp_path, compression):
    """pandas.to_pickle with each compression it infers from the file name: decoded as
    pandas.read_pickle reads it, to exactly the uncompressed pickle."""
    pd = pytest.importorskip("pandas")
    if compression == "zstd":
        pytest.importorskip("zstandard")
    df = pd.DataFrame({"a": range(1000), "b": [str(i) for i in range(1000)]})
    plain, packed = tmp_path / "df.pkl", tmp_path / f"df.pkl.{compression}"
    df.to_pickle(plain, compression=None)
    df.to_pickle(packed, compression=compression)
    res, out = brine(packed, "auto", "python", tmp_path)
    assert res["status"] == "ok" and res["end"] == "clean", res
    assert out == plain.read_bytes()
