"""brine's .npy/.npz reader against numpy itself (issue 8 item 5).

Runs under Debian's python3 (numpy 1.24) and the venv (numpy 2.x): tests/gen/gen_npy.py
writes fixtures with the numpy of the running interpreter, test_npy (TEST_NPY) prints brine's
reading, and each file is compared with np.load(allow_pickle=False) — which never unpickles.
Object arrays are checked with pickletools.genops and a find_class recorder, never loaded.
"""

import hashlib
import io
import json
import os
import pickletools
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402

warnings.simplefilter("ignore")
REPO = Path(__file__).resolve().parents[2]
NUMPY2 = int(np.__version__.split(".")[0]) >= 2
TENSOR = {"b1": "BOOL", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64", "u1": "U8",
          "u2": "U16", "u4": "U32", "u8": "U64", "f2": "F16", "f4": "F32", "f8": "F64",
          "c8": "C64", "c16": "C128"}

# Files numpy reads and brine refuses, each with the reason brine is stricter (never safe:
# the caller turns these into invalid/unverified).
STRICTER = {
    "h_descr_float_name.npy": "dtype names ('float64') are not interpreted: unsupported",
    "h_escape_named.npy": "\\N{...} escapes are not interpreted: unsupported",
}
if not NUMPY2:
    STRICTER["h_negative_dim.npy"] = ("numpy 1.24 reads a -1 dimension of a real file as "
                                      "'all the data' (fromfile count=-1); numpy 2.x and npz "
                                      "members refuse it; brine refuses it")


@pytest.fixture(scope="module")
def gen():
    root = Path(tempfile.mkdtemp(prefix="brine-npy-"))
    marker = root / "marker-dir" / "BRINE_PAYLOAD_RAN"
    (root / "marker-dir").mkdir()
    out = root / "files"
    subprocess.run([sys.executable, str(REPO / "tests/gen/gen_npy.py"), str(out), str(marker)],
                   check=True, timeout=600)
    manifest = json.loads((out / "manifest.json").read_text())
    yield out, manifest, marker
    assert not marker.exists(), "a payload ran"
    import shutil
    shutil.rmtree(root, True)


def brine(*paths):
    exe = os.environ.get("TEST_NPY") or str(REPO / "build/tests/test_npy")
    r = subprocess.run([exe, *map(str, paths)], capture_output=True, timeout=300, check=True)
    out = {}
    for line in r.stdout.decode().splitlines():
        d = json.loads(line)
        assert "leak" not in d, d
        out[Path(d["file"]).name] = d
    return out


def numpy_reading(data):
    """What np.load(allow_pickle=False) makes of an .npy file's bytes (a real file, as users
    call it)."""
    with tempfile.NamedTemporaryFile(suffix=".npy") as f:
        f.write(data)
        f.flush()
        try:
            return "ok", np.load(f.name, allow_pickle=False)
        except ValueError as e:
            if "Object arrays cannot be loaded" in str(e):
                return "object", None
            if "Header info length" in str(e):
                return "header_limit", None
            return "error", repr(e)
        except Exception as e:  # noqa: BLE001 — any failure is a refusal
            return "error", repr(e)


def expected_sha(a):
    le = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(le.tobytes()).hexdigest()


def check_pickle_at(data, offset, entry):
    """The body is a pickle that parses to STOP; the recorder's first find_class is numpy's
    array reconstructor, and for payloads the static walk finds the payload's global.
    Never loaded."""
    if entry.get("kind") == "header" and len(data) == offset:
        return  # no pickle at all: pickle.load raises EOFError, the caller's judge too
    ops = list(pickletools.genops(io.BytesIO(data[offset:])))
    assert ops and ops[-1][0].name == "STOP"
    if entry.get("kind") == "object":
        first = brinetest.first_find_class(data[offset:])
        assert first is not None and first[1] == "_reconstruct", first
    if entry.get("hostile"):
        outer, _ = brinetest.static_globals(data[offset:])
        assert ".".join(entry["glob"]) in [str(g) for g in outer], outer


def compare(name, data, b, entry=None):
    how, a = numpy_reading(data)
    if name in STRICTER:
        assert how == "ok", (name, "numpy refuses it too: stale STRICTER entry", a)
        assert b["status"] != "ok", (name, b)
        return
    if how == "ok":
        assert b["status"] == "ok", (name, b, a.dtype, a.shape)
        assert not b["has_object"]
        assert tuple(b["shape"]) == a.shape, (name, b["shape"], a.shape)
        assert b["itemsize"] == a.dtype.itemsize, (name, b["itemsize"], a.dtype)
        if a.dtype.names is None and a.dtype.subdtype is None:
            assert b["descr"] == a.dtype.str, (name, b["descr"], a.dtype.str)
        code = a.dtype.str[1:]
        want = TENSOR.get(code) if a.dtype.names is None else None
        assert b["tensor"] == want, (name, b["tensor"], a.dtype.str)
        if want:
            assert b.get("sha256") == expected_sha(a), (name, b)
        assert b["fortran"] == (a.ndim > 1 and a.flags.f_contiguous and
                                not a.flags.c_contiguous) or a.size <= 1 or b["fortran"]
    elif how == "object":
        assert b["status"] == "ok" and b["has_object"], (name, b)
        check_pickle_at(data, b["data_offset"], entry or {})
    elif how == "header_limit":
        assert b["status"] == "ok" and b["header_over_numpy_limit"], (name, b)
        if b["has_object"]:
            check_pickle_at(data, b["data_offset"], entry or {})
    else:
        assert b["status"] != "ok", (name, b, a)


def test_every_fixture(gen):
    out, manifest, marker = gen
    files = [e for e in manifest["files"] if e["kind"] != "npz"]
    got = brine(*(out / e["file"] for e in files))
    kinds = {}
    for e in files:
        b = got[e["file"]]
        compare(e["file"], (out / e["file"]).read_bytes(), b, e)
        kinds.setdefault(e["kind"], 0)
        kinds[e["kind"]] += 1
        if e["kind"] == "object":
            assert b["has_object"], e
    assert kinds["array"] > 150 and kinds["object"] >= 8 and kinds["header"] > 80, kinds


def test_tensor_dtypes_all_covered(gen):
    out, manifest, _ = gen
    files = [e["file"] for e in manifest["files"] if e["file"].startswith("a_")]
    got = brine(*(out / f for f in files))
    seen = {b["tensor"] for b in got.values() if not b["structured"]}
    assert seen == set(TENSOR.values()), seen
    assert any(b["big_endian"] for b in got.values())
    assert any(b["fortran"] for b in got.values())


def test_object_arrays_report_the_pickle(gen):
    out, manifest, _ = gen
    objs = [e for e in manifest["files"] if e["kind"] == "object"]
    got = brine(*(out / e["file"] for e in objs))
    for e in objs:
        b = got[e["file"]]
        data = (out / e["file"]).read_bytes()
        assert b["status"] == "ok" and b["has_object"] and b["tensor"] is None, b
        # np.load(allow_pickle=True) unpickles right after the header
        assert b["data_offset"] == 10 + b["header_len"] + (2 if b["version"][0] > 1 else 0)
        check_pickle_at(data, b["data_offset"], e)


def test_published_fixture_dns_exfiltration():
    path = REPO / "tests/data/dns_exfiltration.npy"
    b = brine(path)[path.name]
    assert b["status"] == "ok" and b["has_object"], b
    data = path.read_bytes()
    outer, _ = brinetest.static_globals(data[b["data_offset"]:])
    assert "ssl.get_server_certificate" in [str(g) for g in outer], outer


def test_npz_members(gen):
    """Every member np.load can read as an array is one npy_parse accepts, whatever its name
    or compression; a member np.load returns unread does not start with the magic."""
    out, manifest, _ = gen
    tmp = Path(tempfile.mkdtemp(prefix="brine-npz-"))
    outcomes = {"array": 0, "object": 0, "raw": 0}
    for e in (e for e in manifest["files"] if e["kind"] == "npz"):
        path = out / e["file"]
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            assert sorted(names) == sorted(e["members"])
            blobs = {n: z.read(n) for n in names}
        files = {}
        for i, n in enumerate(names):
            files[n] = tmp / f"{e['file']}.{i}"
            files[n].write_bytes(blobs[n])
        got = brine(*files.values())
        npz = np.load(path, allow_pickle=False)
        for n in names:
            key = n[:-4] if n.endswith(".npy") else n
            b = got[files[n].name]
            is_array = blobs[n][:6] == b"\x93NUMPY"
            try:
                v = npz[key]
                how = "ok"
            except ValueError as ex:
                assert "Object arrays cannot be loaded" in str(ex)
                how = "object"
            if not is_array:
                assert how == "ok" and not isinstance(v, np.ndarray), (n, type(v))
                assert b["status"] != "ok"
                outcomes["raw"] += 1
                continue
            if how == "object":
                assert b["has_object"], (e["file"], n, b)
                outcomes["object"] += 1
                continue
            outcomes["array"] += 1
            assert b["status"] == "ok" and tuple(b["shape"]) == v.shape, (n, b)
            assert b["sha256"] == expected_sha(v), (e["file"], n)
        npz.close()
    assert outcomes["array"] >= 13 and outcomes["object"] >= 4 and outcomes["raw"] >= 2, outcomes


MUTATION_BASES = [
    ("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", b"\1\0\0\0\2\0\0\0", 1),
    ("{'descr': [('a', '<i2'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }",
     b"\x80\x02K\x01.", 1),
    ("{'descr': ('<f4', (2,)), 'fortran_order': True, 'shape': (1, 1), }", b"\0" * 8, 1),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (3L, 1), }", b"\x80\x02K\x01.", 2),
    ("{'descr': [('x', '>u2', (2,)), ('', '|V2')], 'fortran_order': False, 'shape': (), }",
     b"\0" * 6, 1),
    ("{'descr': [('\u00e9', '<f8')], 'fortran_order': False, 'shape': (1,), }", b"\0" * 8, 3),
    ("{'descr': '>c8', 'fortran_order': True, 'shape': (2, 1), }", b"\0" * 16, 2),
]
MUTATION_ALPHABET = list("{}()[],:'\"<>|=#\\\n\r\t LOVSUuibfcr0123456789-+._xjJeE\u00e9\0") + [
    "True", "False", "None", "set()", "'O'", "(2,)", "'|O'", "b'", "u'", "r'", "'''", "\\x",
    "\\u00", "-1", "0x", "1_0", "# c\n", "\\\n"]


def test_header_mutations_agree_with_numpy():
    """Random edits of real headers: whatever numpy (allow_pickle=False) reads, brine reads
    the same way; whatever numpy refuses, brine refuses or reports as an object array;
    brine may only be stricter by saying 'unsupported' (never safe), and rarely."""
    import random
    sys.path.insert(0, str(REPO / "tests/gen"))
    from gen_npy import npy_bytes
    rng = random.Random(20261205)
    tmp = Path(tempfile.mkdtemp(prefix="brine-npy-mut-"))
    cases = []
    for i in range(3000):
        header, body, major = rng.choice(MUTATION_BASES)
        for _ in range(rng.randint(1, 3)):
            pos, op = rng.randrange(len(header) + 1), rng.random()
            tok = rng.choice(MUTATION_ALPHABET)
            header = (header[:pos] + tok + header[pos:] if op < 0.4 else
                      header[:pos] + header[pos + 1:] if op < 0.7 else
                      header[:pos] + tok + header[pos + 1:])
        try:
            data = npy_bytes(header, body, major)
        except UnicodeEncodeError:
            continue
        path = tmp / f"m{i}.npy"
        path.write_bytes(data)
        cases.append((path, header, data))
    got = brine(*(c[0] for c in cases))
    unsupported = 0
    for path, header, data in cases:
        b = got[path.name]
        how, a = numpy_reading(data)
        if how == "ok":
            if b["status"] == "unsupported":
                unsupported += 1
                continue
            assert b["status"] == "ok" and not b["has_object"], (header, b)
            assert tuple(b["shape"]) == a.shape and b["itemsize"] == a.dtype.itemsize, header
            if b["descr"]:
                assert b["descr"] == a.dtype.str, (header, b["descr"], a.dtype.str)
            if b["tensor"]:
                assert b["sha256"] == expected_sha(a), header
        elif how == "object":
            assert b["status"] == "ok" and b["has_object"], (header, b)
        else:
            assert b["status"] != "ok" or b["has_object"], (header, a, b)
    assert len(cases) > 2500 and unsupported < len(cases) // 50, (len(cases), unsupported)
    import shutil
    shutil.rmtree(tmp, True)
