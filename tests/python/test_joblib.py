"""joblib files read as joblib.load reads them (issue 8 item 6), through tests/c/joblib_dump.

Fixtures: tests/gen/gen_joblib.py run with Debian's joblib 1.2 (/usr/bin/python3) and with the
venv's joblib 1.6 ($BRINE_VENV_PYTHON); joblib's own test data in tests/data/joblib/ (joblib
0.8-0.11, Python 2.7-3.6). The oracle for benign files is joblib.load itself with recorders on
find_class and NumpyArrayWrapper.read (gen_joblib.py); hostile files are never loaded.

Checked: every global joblib resolves is one brine reports and the reverse; every array joblib
reads is one brine reads, in the same order, with the same kind, shape, order, itemsize, byte
order and the same bytes (sha256 of the span in the file); numeric arrays become tensors equal
to joblib's bit for bit; payloads anywhere (top level, after a raw array, inside an object
array's nested pickle, after one) are seen; and hostile edits of a real file fail closed.
"""

import _compat_pickle
import bz2
import gzip
import hashlib
import json
import lzma
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "tests" / "gen" / "gen_joblib.py"
DATA = REPO / "tests" / "data" / "joblib"
DUMP = os.environ.get("JOBLIB_DUMP", str(REPO / "build" / "tests" / "joblib_dump"))
PYTHONS = {"debian": "/usr/bin/python3",
           "venv": os.environ.get("BRINE_VENV_PYTHON", "/var/cache/brine/venv/bin/python")}
PAYLOAD_GLOBALS = {"posix.system", "os.system", "nt.system"}
# numpy dtype.str (without byte order) -> brine's tensor dtype; others are not tensors
TENSOR_DTYPES = {"b1": "BOOL", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64", "u1": "U8",
                 "u2": "U16", "u4": "U32", "u8": "U64", "f2": "F16", "f4": "F32", "f8": "F64",
                 "c8": "C64"}


def py3_names(names):
    """The recorders see find_class's arguments before pickle's Python-2 name mapping (applied
    for protocol < 3, as brine applies it); Python 3 pickles never use the old names."""
    out = set()
    for full in names:
        module, _, name = full.rpartition(".")
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        out.add(module + "." + name)
    return out


def dump(path):
    r = subprocess.run([DUMP, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"joblib_dump {path}: rc {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp("joblib")
    for name, py in PYTHONS.items():
        if not Path(py).exists():
            continue
        subprocess.run([py, str(GEN), str(root / name)], check=True, timeout=600)
        out[name] = (root / name, json.loads((root / name / "manifest.json").read_text()))
    return out


def entries(generated, hostile):
    for name, (root, manifest) in generated.items():
        for e in manifest["files"]:
            if e["hostile"] == hostile and not e["compress"]:
                yield name, root, e


def test_both_generations_generated(generated):
    missing = set(PYTHONS) - set(generated)
    if missing:
        pytest.skip(f"interpreters missing: {sorted(missing)} (run scripts/lib.sh brine_ensure_venv)")
    assert generated["debian"][1]["joblib"].startswith("1.2")
    assert not generated["venv"][1]["joblib"].startswith("1.2")


def check_arrays(got, want, data_root=None):
    """brine's array records against joblib's reads, in order."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert g["kind"] == w["kind"]
        if w["kind"].startswith("sidecar"):
            assert g["sidecar"] == w["sidecar"] and not g["escapes"]
            continue
        assert g["shape"] == w["shape"]
        if w["kind"] == "inline":
            assert g["itemsize"] == w["itemsize"]
            assert g["fortran"] == w["fortran"]
            assert g["big_endian"] == (w["dtype"][0] == ">"), (g, w)
            assert g["raw_sha256"] == w["raw_sha256"], (g, w)
            assert g["data_len"] == w["itemsize"] * _prod(w["shape"])


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def check_tensors(d, want):
    tensorable = [w for w in want if w["kind"] == "inline" and w["dtype"][1:] in TENSOR_DTYPES]
    if d["tensors_error"] is not None:
        # the tensor pass gives up on the whole file only for what it cannot rebuild
        assert len(tensorable) < len(want) or "unsupported" in d["tensors_error"], d
        return
    assert len(d["tensors"]) == len(tensorable), (d["tensors"], tensorable)
    pool = list(d["tensors"])
    for w in tensorable:
        match = [t for t in pool
                 if t["dtype"] == TENSOR_DTYPES[w["dtype"][1:]] and t["shape"] == w["shape"]
                 and t.get("sha256") == w["tensor_sha256"]
                 and (w["path"] is None or t["name"] == w["path"])]
        assert match, f"no tensor equal to joblib's {w} in {pool}"
        pool.remove(match[0])


def test_benign_generated_files_match_joblib(generated):
    n = 0
    for name, root, e in entries(generated, hostile=False):
        d = dump(root / e["file"])
        where = f"{name}/{e['file']}"
        assert d["ok"], f"{where}: {d['error']}"
        assert d["trailing"] == 0, where
        assert set(d["globals"]) == py3_names(e["globals"]), (where, d["globals"], e["globals"])
        check_arrays(d["arrays"], e["arrays"])
        check_tensors(d, e["arrays"])
        n += 1
    assert n >= 20


def test_benign_generated_tensors_exist(generated):
    """The all-numeric fixtures and the sklearn models give tensors, not an error."""
    for name, root, e in entries(generated, hostile=False):
        if e["file"].startswith(("numeric_", "sk_logreg", "sk_pipeline", "matrix_")):
            d = dump(root / e["file"])
            assert d["tensors_error"] is None and d["tensors"], (name, e["file"], d)
            if e["file"].startswith("numeric_"):
                names = {t["name"] for t in d["tensors"]}
                assert {"layer.weight", "layer.bias", "list.0", "list.1", "big",
                        "big_endian.f8", "big_endian.i2", "big_endian.fortran_u4"} <= names


def test_hostile_generated_files_show_the_payload(generated):
    n = 0
    for name, root, e in entries(generated, hostile=True):
        d = dump(root / e["file"])
        where = f"{name}/{e['file']}"
        assert d["ok"], f"{where}: {d['error']}"
        assert PAYLOAD_GLOBALS & set(d["globals"]), (where, d["globals"])
        if "object_array" in e["file"]:
            assert any(a["kind"] == "object" for a in d["arrays"]), where
        if "in_object_array" in e["file"]:
            # the payload is inside the nested pickle joblib runs for the object array (read
            # twice: name mapping by its own protocol and by the outer one)
            assert len(d["pickles"]) == 3, where
        assert not (root / "PWNED").exists()
        n += 1
    assert n >= 8


def test_compressed_fixtures_listed(generated):
    """Compressed files are the decompression filters' job: once unwrapped, they read here."""
    for name, (root, manifest) in generated.items():
        comp = [e for e in manifest["files"] if e["compress"]]
        assert len(comp) >= 10
        for e in comp:
            raw = decompress((root / e["file"]).read_bytes())
            assert raw is not None, e["file"]
            tmp = root / (e["file"] + ".raw")
            tmp.write_bytes(raw)
            d = dump(tmp)
            assert d["ok"], (e["file"], d["error"])
            if e["hostile"]:
                assert PAYLOAD_GLOBALS & set(d["globals"])


def decompress(b):
    """joblib's compressors by prefix (joblib/compressor.py)."""
    if b[:1] == b"\x78":
        return zlib.decompress(b)
    if b[:2] == b"\x1f\x8b":
        return gzip.decompress(b)
    if b[:2] == b"BZ":
        return bz2.decompress(b)
    if b[:5] == b"\xfd7zXZ":
        return lzma.decompress(b, format=lzma.FORMAT_XZ)
    if b[:2] == b"\x5d\x00":
        return lzma.decompress(b, format=lzma.FORMAT_ALONE)
    if b[:4] == b"\x04\x22\x4d\x18":
        try:
            import lz4.frame
        except ImportError:
            return None
        return lz4.frame.decompress(b)
    return None


# ------------------------------------------------------------------ joblib's own test data

def data_files():
    return sorted(p for p in DATA.iterdir() if p.name.startswith("joblib_")
                  and ".npy" not in p.name)


def readable(p):
    """The bytes joblib's unpickler reads: ZF files are read by brine; the compressed streams
    of joblib >= 0.10 are unwrapped here with the standard library (the filters' job)."""
    b = p.read_bytes()
    if b[:2] == b"ZF":
        return p, b
    raw = decompress(b) if not b.startswith(b"\x80") else b
    return p, raw


@pytest.fixture(scope="session")
def data_oracle():
    files = [str(p) for p in data_files()]
    r = subprocess.run([PYTHONS["debian"], str(GEN), "--observe", *files], capture_output=True,
                       text=True, timeout=600, check=True)
    return json.loads(r.stdout)


def test_joblib_test_data(data_oracle, tmp_path):
    checked = loaded = 0
    for p in data_files():
        path, raw = readable(p)
        assert raw is not None, p.name
        if raw != p.read_bytes():
            path = tmp_path / p.name
            path.write_bytes(raw)
        d = dump(path)
        assert d["ok"], (p.name, d["error"])
        assert d["trailing"] == 0, p.name
        for a in d["arrays"]:
            if a["kind"].startswith("sidecar"):
                assert not a["escapes"] and (DATA / a["sidecar"]).exists(), a
        kinds = [a["kind"] for a in d["arrays"]]
        if "_0.9." in p.name and "compressed_pickle" not in p.name or "cache_size" in p.name:
            assert kinds and all(k.startswith("sidecar") for k in kinds), (p.name, kinds)
        elif "_0.1" in p.name:
            assert kinds == ["inline", "inline", "object", "inline"], (p.name, kinds)
        else:  # 0.8.4 / 0.9.2 ZF: arrays pickled by numpy itself inside the ZF pickle
            assert d["zfile"] and kinds == [], (p.name, kinds)
        o = data_oracle[str(p)]
        if "error" not in o:  # Python 2 files do not load on Python 3 joblib
            assert set(d["globals"]) == py3_names(o["globals"]), (p.name, d["globals"], o["globals"])
            check_arrays(d["arrays"], o["arrays"])
            loaded += 1
        checked += 1
    assert checked >= 30 and loaded >= 15, (checked, loaded)


# ------------------------------------------------------------------ hostile edits

@pytest.fixture(scope="session")
def sample(generated):
    root, _ = generated["debian"]
    return (root / "numeric_p2.joblib").read_bytes()


def first_array(b):
    d = dump_bytes(b)
    return d, d["arrays"][0]


def dump_bytes(b, name="x.joblib", _dir=[]):
    import tempfile
    if not _dir:
        _dir.append(Path(tempfile.mkdtemp()))
    p = _dir[0] / name
    p.write_bytes(b)
    return dump(p)


def test_truncated_array_is_an_error(sample):
    d, a = first_array(sample)
    cut = sample[: a["data_offset"] + a["data_len"] - 1]
    r = dump_bytes(cut)
    assert not r["ok"] and "remain" in r["error"]


def test_pad_length_past_the_end_is_an_error(sample):
    d, a = first_array(sample)
    # the pad byte sits right before the 0xFF padding: make it claim 255 bytes near the end
    pad_at = a["data_offset"] - 1
    while sample[pad_at] == 0xFF:
        pad_at -= 1
    b = bytearray(sample[: pad_at + 1 + 8])
    b[pad_at] = 255
    r = dump_bytes(bytes(b))
    assert not r["ok"]


def test_dtype_flags_claiming_objects_start_a_nested_pickle(sample):
    """numpy takes dtype.hasobject from the pickled flags: joblib then runs pickle.load where
    the raw bytes were. brine must follow, not read the bytes as data."""
    # dtype state ... K\xff\xff\xff\xff J\xff\xff\xff\xff K\x00 t  (elsize -1, align -1, flags 0)
    needle = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
    i = sample.find(needle)
    assert i > 0, "fixture layout changed"
    b = bytearray(sample)
    b[i + len(needle) - 2] = 63  # NPY_OBJECT_DTYPE_FLAGS
    r = dump_bytes(bytes(b))
    # the padding/array bytes are now read as a pickle: an error, or an object array
    assert not r["ok"] or r["arrays"][0]["kind"] == "object"


def test_itemsize_lie_is_an_error(sample):
    needle = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
    i = sample.find(needle)
    b = bytearray(sample)
    b[i + 1: i + 5] = struct.pack("<i", 4)  # elsize 4 on an f4/f8 dtype
    r = dump_bytes(bytes(b))
    assert not r["ok"] and "itemsize" in r["error"]


def test_payload_bytes_hidden_in_array_data_are_not_opcodes(sample):
    """Bytes inside an array's span are data for joblib: a GLOBAL there must not appear."""
    d, a = first_array(sample)
    evil = b"cposix\nsystem\n"
    assert a["data_len"] >= len(evil)
    b = bytearray(sample)
    b[a["data_offset"]: a["data_offset"] + len(evil)] = evil
    r = dump_bytes(bytes(b))
    assert r["ok"] and "posix.system" not in r["globals"]


def test_zfile_length_mismatch_is_an_error():
    body = zlib.compress(b"\x80\x02K\x01.")
    good = b"ZF" + b"0x5".ljust(19) + body
    assert dump_bytes(good, "z1")["ok"]
    bad = b"ZF" + b"0x6".ljust(19) + body
    r = dump_bytes(bad, "z2")
    assert not r["ok"] and "declares" in r["error"]
    junk = b"ZF" + b"0xzz".ljust(19) + body
    assert not dump_bytes(junk, "z3")["ok"]


def test_sidecar_escape_is_reported():
    # NDArrayWrapper as joblib 0.9 pickled it, with a filename that leaves the folder
    p = (b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\nq\x00)\x81q\x01}q\x02("
         b"X\x08\x00\x00\x00filenameq\x03X\x0d\x00\x00\x00../etc/passwdq\x04"
         b"X\x08\x00\x00\x00subclassq\x05cnumpy\nndarray\nq\x06ub.")
    r = dump_bytes(p, "side.pkl")
    assert r["ok"], r["error"]
    assert r["arrays"] == [{"kind": "sidecar-npy", "sidecar": "../etc/passwd", "escapes": True}]


def test_wrapper_alias_is_an_error():
    p = (b"\x80\x04\x8c\x06joblib\x8c\x1enumpy_pickle.NumpyArrayWrapper\x93)\x81}b.")
    r = dump_bytes(p, "alias.pkl")
    # a dotted name that resolves to the real class: read as the wrapper (no dtype: error)
    assert not r["ok"] and "NumpyArrayWrapper" in r["error"]
    p2 = b"\x80\x04\x8c\x0fjoblib._store_x\x8c\x1enumpy_pickle.NumpyArrayWrapper\x93)\x81}b."
    r2 = dump_bytes(p2, "alias2.pkl")
    assert not r2["ok"] and "cannot tell" in r2["error"]


def test_object_array_pickle_ending_inside_a_frame_is_an_error(generated):
    """The nested unpickler reads its FRAME whole, so joblib resumes after the frame, not
    after the nested STOP: a frame that goes on past STOP must not let brine resume early."""
    if "venv" not in generated:
        pytest.skip("needs the venv's joblib (protocol 5 nested pickles)")
    root, _ = generated["venv"]
    b = (root / "objects_p5.joblib").read_bytes()
    d = dump_bytes(b, "obj5.joblib")
    assert d["ok"]
    nested = d["pickles"][1]
    s, e = nested["start"], nested["end"]
    assert b[s:s + 3] == b"\x80\x05\x95"
    flen = struct.unpack("<Q", b[s + 3:s + 11])[0]
    assert s + 11 + flen == e, "fixture layout changed: one frame up to STOP"
    edited = b[:s + 3] + struct.pack("<Q", flen + 1) + b[s + 11:e] + b"N" + b[e:]
    r = dump_bytes(edited, "obj5_frame.joblib")
    assert not r["ok"] and "FRAME" in r["error"], r


def test_object_array_names_mapped_both_ways(generated):
    """joblib 1.2 reads an object array with pickle.load (Python-2 names mapped by the nested
    pickle's protocol); joblib 1.6 gives the nested Unpickler the outer's find_class (mapped
    by the OUTER protocol). A protocol-5 nested pickle naming __builtin__.eval inside a
    protocol-2 file resolves to builtins.eval in joblib 1.6: brine must report that name."""
    if "venv" not in generated:
        pytest.skip("needs the venv's joblib (protocol 5 nested pickles)")
    root, _ = generated["venv"]
    b = (root / "objects_p2.joblib").read_bytes()
    assert b[:2] == b"\x80\x02"
    d = dump_bytes(b, "obj2.joblib")
    s, e = d["pickles"][1]["start"], d["pickles"][1]["end"]
    nested = b"\x80\x05c__builtin__\neval\n."
    r = dump_bytes(b[:s] + nested + b[e:], "obj2_eval.joblib")
    assert r["ok"], r["error"]
    assert {"builtins.eval", "__builtin__.eval"} <= set(r["globals"]), r["globals"]


def test_wrapper_build_inside_a_frame_is_an_error(generated):
    """joblib commits the FRAME before writing an array; a file whose frame runs on over the
    array bytes would have joblib read them from after the frame. brine refuses it."""
    root, _ = generated["debian"]
    b = (root / "numeric_p4.joblib").read_bytes()
    d = dump_bytes(b, "n4.joblib")
    a = d["arrays"][0]
    # the frame that ends right where the array's padding starts
    for at in range(a["pad_offset"] - 9, 1, -1):
        if b[at] == 0x95 and at + 9 + struct.unpack("<Q", b[at + 1:at + 9])[0] == a["pad_offset"]:
            break
    else:
        pytest.fail("fixture layout changed: no frame ends at the first array")
    flen = struct.unpack("<Q", b[at + 1:at + 9])[0]
    edited = b[:at + 1] + struct.pack("<Q", flen + 16) + b[at + 9:]
    r = dump_bytes(edited, "n4_frame.joblib")
    assert not r["ok"] and "FRAME" in r["error"], r


def test_zfiles_inflate_as_read_zfile():
    """Every ZF file of joblib's test data (main pickles and .z sidecars) inflates to the bytes
    joblib's own read_zfile returns (a function that only decompresses: nothing is loaded)."""
    files = [p for p in sorted(DATA.iterdir()) if p.read_bytes()[:2] == b"ZF"]
    assert len(files) >= 9
    code = ("import sys, json, hashlib\n"
            "from joblib.numpy_pickle_compat import read_zfile\n"
            "out = {}\n"
            "for p in sys.argv[1:]:\n"
            "    with open(p, 'rb') as f:\n"
            "        out[p] = hashlib.sha256(read_zfile(f)).hexdigest()\n"
            "print(json.dumps(out))\n")
    want = json.loads(subprocess.run([PYTHONS["debian"], "-c", code, *map(str, files)],
                                     capture_output=True, text=True, check=True).stdout)
    for p in files:
        r = subprocess.run([DUMP, "--zfile", str(p)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["ok"] and got["sha256"] == want[str(p)], (p.name, got)
