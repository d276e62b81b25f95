"""brine on benign PyTorch checkpoints, against torch itself.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_torch_differential.py

tests/gen/gen_checkpoints.py writes the corpus (real torch.save, zip and legacy, protocols
2-5; raw pickle.dumps of tensors and numpy arrays, protocols 0-5; zips repacked by zipfile,
deflated, and byteorder-marked little- and big-endian) into a temporary directory, with a
manifest of each file's tensors computed from the ORIGINAL objects before saving.

The oracle for a file's tensors is `torch.load(f, weights_only=True)` wherever torch 1.13 can
read it. It cannot read: any Python float (BINFLOAT: optimizer states, hyper-parameters),
quantized tensors, numpy arrays, opcodes above protocol 2 (FRAME, STACK_GLOBAL, MEMOIZE),
raw pickles (not a torch container), and it ignores a byteorder record. For those files the
oracle is the manifest (the generator has checked the manifest against torch on every file
torch can read, and against torch's byte-swapped view of the big-endian files). The manifest
says which oracle applies and why; this test also re-checks here that torch still agrees with
the manifest where torch is the oracle.

torch.load is only ever called with weights_only=True and only on these benign generated
files; nothing here unpickles anything else.
"""

import functools
import hashlib
import importlib.util
import json
import math
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


def _load_gen(name):
    spec = importlib.util.spec_from_file_location(name, bt.GEN_DIR / (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gc = _load_gen("gen_checkpoints")

# ------------------------------------------------------------------ corpus


@functools.lru_cache(maxsize=None)
def corpus():
    """(directory, manifest) of the generated checkpoints, made once per process."""
    root = Path(tempfile.mkdtemp(prefix="brine-torch-"))
    out = root / "ckpt"
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_checkpoints.py"), str(out)], check=True,
                   timeout=600, capture_output=True)
    import atexit
    atexit.register(shutil.rmtree, root, True)
    return out, json.loads((out / "manifest.json").read_text())


def names(pred=lambda e: True):
    _d, m = corpus()
    return sorted(f for f, e in m.items() if pred(e))


def entry(fname):
    d, m = corpus()
    return d / fname, m[fname]


SAFE = names(lambda e: e["scan"] == "safe")
UNVERIFIED = names(lambda e: e["scan"] == "unverified")
PLAIN = names(lambda e: e["scan"] == "safe" and not e.get("quantized"))
QUANTIZED = names(lambda e: e["scan"] == "safe" and e.get("quantized"))
MODIFIED = names(lambda e: "modified_from" in e)

# ------------------------------------------------------------------ brine runners


@functools.lru_cache(maxsize=None)
def scan_all():
    """path name -> file object of one `brine scan --format json` over the whole corpus."""
    d, m = corpus()
    r = bt.run_brine("scan", "--format", "json", *[d / f for f in sorted(m)], timeout=300)
    assert r.returncode in (0, 1), bt.describe(r)
    doc = json.loads(r.stdout)
    return {Path(f["path"]).name: f for f in doc["files"]}


@functools.lru_cache(maxsize=None)
def inspect(path, hash_=True):
    """(exit code, parsed JSON or None, CompletedProcess) of brine inspect --format json."""
    args = ["inspect", "--format", "json"] + (["--hash"] if hash_ else []) + [path]
    r = bt.run_brine(*args)
    try:
        doc = json.loads(r.stdout) if r.returncode == 0 else None
    except ValueError:
        doc = None
    return r.returncode, doc, r


def brine_tensors(doc):
    """name -> {dtype, shape, sha256} of an inspect document; names must be unique."""
    ts = doc["tensors"]
    got = {t["name"]: {"dtype": t["dtype"], "shape": t["shape"], "sha256": t.get("sha256")}
           for t in ts}
    assert len(got) == len(ts), "duplicate tensor names: %s" % [t["name"] for t in ts]
    return got


@functools.lru_cache(maxsize=None)
def oracle(fname):
    """(expected tensors, which oracle) for a file: torch.load(weights_only=True) where torch
    1.13 can read the file, else the manifest."""
    path, e = entry(fname)
    if e["oracle"] == "torch":
        ok, got = gc.torch_view(path)
        assert ok, "torch.load(weights_only=True) no longer reads %s: %s" % (fname, got)
        assert got == e["tensors"], "torch and the manifest disagree on %s" % fname
        return got, "torch.load(weights_only=True)"
    return e["tensors"], "manifest (%s)" % e["why"]


def compare(expected, got, what):
    """Assertion message listing every tensor that differs, or None."""
    problems = []
    for name in sorted(set(expected) | set(got)):
        if name not in got:
            problems.append("missing %r: expected %s" % (name, expected[name]))
        elif name not in expected:
            problems.append("unexpected %r: got %s" % (name, got[name]))
        elif expected[name] != got[name]:
            problems.append("%r: expected %s, got %s" % (name, expected[name], got[name]))
    return None if not problems else "%s:\n  %s" % (what, "\n  ".join(problems[:20]))


def compare_quantized(e, got, what):
    """compare() for files with quantized tensors: every manifest tensor must be there (the
    quantized ones as their stored integers); a quantized tensor's parameters may come along
    as extra tensors named below it (per_channel.<something>: scales, zero points)."""
    q = tuple(n + "." for n in e["quantized"])
    return compare(e["tensors"], {n: v for n, v in got.items()
                                  if n in e["tensors"] or not n.startswith(q)}, what)


def unwrap(v):
    """The container a typed config value stands for (docs/config.md), for path lookups:
    tuples and sets as their items, ordered dicts as their dict, dicts with non-text keys
    keyed by the key's JSON text."""
    while isinstance(v, dict) and "__type__" in v:
        t = v["__type__"]
        if t in ("tuple", "list", "set", "frozenset"):
            v = v["items"]
        elif t in ("collections.OrderedDict", "collections.Counter", "ref"):
            v = v["value"]
        elif t == "dict":
            v = {k if isinstance(k, str) else json.dumps(k): x for k, x in v["items"]}
        else:
            break
    return v


def lookup(values, path):
    """values[path[0]][path[1]]... (lists by index), or KeyError."""
    v = unwrap(values)
    for k in path:
        v = unwrap(v)
        if isinstance(v, list):
            v = v[k]
        elif isinstance(v, dict):
            v = v[str(k)]
        else:
            raise KeyError(k)
    return unwrap(v)


def same_value(want, got):
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, float):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and \
            float(got) == want and math.copysign(1, float(got)) == math.copysign(1, want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and \
            all(same_value(a, b) for a, b in zip(want, got))
    return type(got) is type(want) and got == want


def sha_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ the corpus itself


def test_corpus_is_large_and_covers_the_brief():
    _d, m = corpus()
    assert len(SAFE) >= 60
    dtypes = {t["dtype"] for e in m.values() for t in e["tensors"].values()}
    assert {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "C64",
            "C128"} <= dtypes
    writers = {(e["writer"], e["protocol"]) for e in m.values()}
    for p in (2, 3, 4, 5):
        assert ("zip", p) in writers and ("legacy", p) in writers
    for p in range(6):
        assert ("raw", p) in writers
    assert {"zip-big", "zip-little", "zip-deflated", "zip-unaligned"} <= {w for w, _ in writers}
    assert sum(e["oracle"] == "torch" for e in m.values()) >= 40
    # views, stride 0, 0-d, empty, tied weights are in the corpus
    views = m["views_zip_p2.pt"]["tensors"]
    assert views["expand"]["shape"] == [3, 4] and views["scalar_view"]["shape"] == []
    assert m["scalars_zip_p2.pt"]["tensors"]["empty_3d"]["shape"] == [2, 0, 4]
    shared = m["shared_zip_p2.pt"]["tensors"]
    assert shared["embed.weight"] == shared["lm_head.weight"]
    assert any(k.endswith("num_batches_tracked") for k in m["batchnorm_zip_p2.pt"]["tensors"])


# ------------------------------------------------------------------ scan


@needs_brine
@pytest.mark.parametrize("fname", SAFE + UNVERIFIED)
def test_scan_verdict_and_format(fname):
    _path, e = entry(fname)
    f = scan_all()[fname]
    detail = json.dumps(f)[:1500]
    assert f["format"] == e["format"], detail
    assert f["verdict"] == e["scan"], detail
    for g in e["globals_outside"]:
        assert g in f["globals"], detail
        assert any(x.get("global") == g for x in f["findings"]), detail


# ------------------------------------------------------------------ inspect vs torch


@needs_brine
@pytest.mark.parametrize("fname", PLAIN)
def test_inspect_tensors_equal_torch(fname):
    path, e = entry(fname)
    rc, doc, r = inspect(str(path))
    assert rc == 0 and doc is not None, bt.describe(r)
    assert doc["format"] == e["format"]
    expected, which = oracle(fname)
    problem = compare(expected, brine_tensors(doc), "%s: brine inspect vs %s" % (fname, which))
    assert problem is None, problem


@needs_brine
@pytest.mark.parametrize("fname", sorted({f for f in PLAIN if entry(f)[1]["values"]}))
def test_inspect_values(fname):
    path, e = entry(fname)
    rc, doc, r = inspect(str(path))
    assert rc == 0, bt.describe(r)
    for p, want in e["values"]:
        got = lookup(doc["values"], p)
        assert same_value(want, got), "%s: values%s = %r, expected %r" % (fname, p, got, want)


@needs_brine
@pytest.mark.parametrize("fname", PLAIN)
def test_inspect_values_point_at_every_tensor(fname):
    """Each tensor appears in `values` as {"__type__": "tensor" (or "ndarray"), "name": name}
    exactly where it was."""
    path, _e = entry(fname)
    rc, doc, r = inspect(str(path), False)
    assert rc == 0, bt.describe(r)
    seen = []

    def walk(v):
        if isinstance(v, dict):
            if v.get("__type__") in ("tensor", "ndarray"):
                seen.append(v["name"])
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc["values"])
    assert sorted(seen) == sorted(t["name"] for t in doc["tensors"])


@needs_brine
@pytest.mark.parametrize("fname", QUANTIZED)
def test_quantized_tensors_are_not_dropped(fname):
    """torch 1.13's weights_only refuses _rebuild_qtensor, and the contract does not say how
    brine spells a quantized dtype. Either answer is acceptable: refuse the file with a
    message, or list every quantized tensor as its stored integers (int_repr). Silently
    leaving them out (and listing their scales as if they were weights) is not."""
    path, e = entry(fname)
    rc, doc, r = inspect(str(path))
    if rc == 1:
        assert r.stderr.strip(), bt.describe(r)
        return
    assert rc == 0 and doc is not None, bt.describe(r)
    problem = compare_quantized(e, brine_tensors(doc), "%s: brine inspect vs the manifest "
                                "(quantized tensors as int_repr)" % fname)
    assert problem is None, problem


@needs_brine
@pytest.mark.parametrize("fname", UNVERIFIED)
def test_inspect_refuses_unverified(fname):
    path, e = entry(fname)
    rc, _doc, r = inspect(str(path), False)
    assert rc == 1, bt.describe(r)
    err = r.stderr.decode("utf-8", "replace")
    assert any(g in err for g in e["globals_outside"]), bt.describe(r)


# ------------------------------------------------------------------ diff


@needs_brine
@pytest.mark.parametrize("fname", PLAIN)
def test_diff_with_itself(fname):
    path, _e = entry(fname)
    r = bt.run_brine("diff", path, path)
    assert r.returncode == 0, bt.describe(r)


def twin_pairs():
    """(reference, twin) for every group of files holding the same tensors."""
    _d, m = corpus()
    groups = {}
    for f in PLAIN:
        groups.setdefault(m[f]["group"], []).append(f)
    pairs = []
    for members in groups.values():
        ref = min(members, key=lambda f: (not f.endswith("_zip_p2.pt"), f))
        pairs += [(ref, f) for f in members if f != ref]
    return sorted(pairs)


@needs_brine
@pytest.mark.parametrize("ref,twin", twin_pairs())
def test_diff_twins_are_identical(ref, twin):
    """zip vs legacy vs raw pickle vs other protocols vs repacked / big-endian zips."""
    a, _ = entry(ref)
    b, _ = entry(twin)
    assert entry(ref)[1]["tensors"] == entry(twin)[1]["tensors"]
    r = bt.run_brine("diff", a, b)
    assert r.returncode == 0, bt.describe(r)
    r = bt.run_brine("diff", b, a)
    assert r.returncode == 0, bt.describe(r)


@needs_brine
@pytest.mark.parametrize("fname", MODIFIED)
def test_diff_modified_copy_differs(fname):
    path, e = entry(fname)
    base, _ = entry(e["modified_from"])
    for a, b in ((base, path), (path, base)):
        r = bt.run_brine("diff", a, b)
        assert r.returncode == 1, bt.describe(r)


@needs_brine
def test_diff_exit_status_on_refused_input():
    """A file brine refuses is neither identical nor different: not exit 0."""
    ok, _ = entry("linear_zip_p2.pt")
    refused, _ = entry(UNVERIFIED[0])
    r = bt.run_brine("diff", ok, refused)
    assert r.returncode != 0 and r.returncode >= 0, bt.describe(r)
    assert r.stderr.strip()


# ------------------------------------------------------------------ convert


@functools.lru_cache(maxsize=None)
def convert_available():
    if bt.brine_path() is None:
        return False
    r = bt.run_brine("convert", "--help")
    text = (r.stdout + r.stderr).decode("utf-8", "replace").lower()
    return r.returncode == 0 and "not implemented" not in text


needs_convert = pytest.mark.skipif(not convert_available(), reason="brine convert not built")

# dtypes of the safetensors reference (formats.md 3.4), bits per element
ST_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8,
           "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16,
           "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64,
           "F64": 64, "I64": 64, "U64": 64}


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate JSON keys %s" % keys
    return dict(pairs)


def read_safetensors(path):
    """A strict, independent reader: (metadata, {name: (dtype, shape, bytes)}).
    The reference validator's rules (formats.md 3.2), stricter on duplicate keys, extra keys
    in a tensor entry and non-string metadata, plus what brine's writer promises: the header
    padded so the buffer starts 8-aligned, every tensor aligned to its element size."""
    blob = Path(path).read_bytes()
    assert len(blob) >= 8, "file shorter than the header length"
    (n,) = struct.unpack_from("<Q", blob, 0)
    assert n <= 100_000_000, "header too large"
    assert 8 + n <= len(blob), "header length past the end"
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    assert isinstance(header, dict)
    assert (8 + n) % 8 == 0, "buffer does not start 8-aligned (header length %d)" % n
    meta = header.pop("__metadata__", None)
    if meta is not None:
        assert isinstance(meta, dict)
        for k, v in meta.items():
            assert isinstance(k, str) and isinstance(v, str), "metadata %r: %r" % (k, v)
    buf = blob[8 + n:]
    spans, tensors = [], {}
    for name, info in header.items():
        assert isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}, \
            "%s: %r" % (name, info)
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        assert dtype in ST_BITS, "%s: dtype %r is not a safetensors dtype" % (name, dtype)
        assert isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
        assert isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)
        begin, end = offs
        assert 0 <= begin <= end
        numel = 1
        for d in shape:
            numel *= d
        bits = numel * ST_BITS[dtype]
        assert bits % 8 == 0 and end - begin == bits // 8, "%s: %d bytes for %s %s" % (
            name, end - begin, dtype, shape)
        if end > begin:
            assert (8 + n + begin) % min(max(ST_BITS[dtype] // 8, 1), 8) == 0, \
                "%s: data at file offset %d is not aligned" % (name, 8 + n + begin)
        spans.append((begin, end, name))
        tensors[name] = (dtype, shape, buf[begin:end])
    pos = 0
    for begin, end, name in sorted(spans):
        assert begin == pos, "%s: gap or overlap at %d (expected %d)" % (name, begin, pos)
        pos = end
    assert pos == len(buf), "buffer has %d bytes, tensors cover %d" % (len(buf), pos)
    return meta, tensors


def convert(fname, tmp_path):
    """Runs brine convert into an empty directory; (CompletedProcess, out path, input
    hash before)."""
    path, _e = entry(fname)
    before = sha_file(path)
    out = tmp_path / "out.safetensors"
    r = bt.run_brine("convert", path, out, timeout=300)
    assert sha_file(path) == before, "brine convert modified its input"
    return r, out


def has_c128(e):
    return any(t["dtype"] == "C128" for t in e["tensors"].values())


@needs_convert
@pytest.mark.parametrize("fname", PLAIN)
def test_convert_roundtrip(fname, tmp_path):
    _path, e = entry(fname)
    r, out = convert(fname, tmp_path)
    if has_c128(e):
        # safetensors has no complex128: refuse with a message, write nothing
        assert r.returncode == 1 and r.stderr.strip(), bt.describe(r)
        assert list(tmp_path.iterdir()) == [], "failed convert left %s" % list(tmp_path.iterdir())
        return
    assert r.returncode == 0, bt.describe(r)
    meta, tensors = read_safetensors(out)
    got = {n: {"dtype": d, "shape": s, "sha256": hashlib.sha256(b).hexdigest()}
           for n, (d, s, b) in tensors.items()}
    problem = compare(e["tensors"], got, "%s: converted safetensors vs the manifest" % fname)
    assert problem is None, problem
    # the config: one JSON file beside the output, nothing else left behind
    others = sorted(p.name for p in tmp_path.iterdir() if p != out)
    assert len(others) == 1 and others[0].endswith(".json"), others
    config = json.loads((tmp_path / others[0]).read_text())
    for p, want in e["values"]:
        got_v = lookup(config, p)
        assert same_value(want, got_v), "%s: config%s = %r, expected %r" % (fname, p, got_v, want)


@functools.lru_cache(maxsize=None)
def safetensors_available():
    """True when this brine build recognises safetensors files (a one-tensor file)."""
    if bt.brine_path() is None:
        return False
    d = Path(tempfile.mkdtemp(prefix="brine-st-"))
    try:
        header = b'{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
        header += b" " * (-len(header) % 8)
        (d / "probe.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\x07")
        _rc, doc, _r = bt.scan_json(d / "probe.safetensors")
        return doc is not None and doc["files"][0]["format"] == "safetensors"
    finally:
        shutil.rmtree(d, True)


@needs_convert
@pytest.mark.parametrize("fname", sorted(f for f in PLAIN if not has_c128(entry(f)[1]))[::3])
def test_convert_output_reads_back_in_brine(fname, tmp_path):
    """brine reads its own output back: same tensors, and diff against the input is 0."""
    if not safetensors_available():
        pytest.skip("this brine build does not read safetensors yet")
    path, e = entry(fname)
    r, out = convert(fname, tmp_path)
    assert r.returncode == 0, bt.describe(r)
    rc, doc, r2 = inspect(str(out))
    assert rc == 0 and doc is not None, bt.describe(r2)
    assert doc["format"] == "safetensors"
    problem = compare(e["tensors"], brine_tensors(doc), "%s: brine inspect of the converted "
                      "file" % fname)
    assert problem is None, problem
    r3 = bt.run_brine("diff", path, out)
    assert r3.returncode == 0, bt.describe(r3)


@needs_convert
def test_convert_records_shared_tensors(tmp_path):
    r, out = convert("shared_zip_p2.pt", tmp_path)
    assert r.returncode == 0, bt.describe(r)
    meta, _t = read_safetensors(out)
    text = json.dumps(meta)
    assert meta and all(n in text for n in ("embed.weight", "lm_head.weight", "param_data")), meta


def hostile_checkpoint(path, marker):
    """A torch zip whose data.pkl calls os.system: assembled opcode by opcode, never loaded."""
    bad = _load_gen("gen_bad_checkpoints")
    return bad.torch_zip(path, [("data.pkl", bad.payload(marker)), ("data/0", bad.W4),
                                ("version", b"3\n")])


@needs_convert
def test_convert_refuses_hostile_and_leaves_nothing(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    src = hostile_checkpoint(tmp_path / "evil.pt", marker)
    before = sha_file(src)
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = bt.run_brine("convert", src, outdir / "evil.safetensors")
    assert r.returncode == 1, bt.describe(r)
    assert b"os.system" in r.stderr, bt.describe(r)
    assert list(outdir.iterdir()) == [], "failed convert left %s" % list(outdir.iterdir())
    assert sha_file(src) == before
    assert not marker.exists()


@needs_convert
def test_failed_convert_keeps_an_existing_output(tmp_path):
    """Atomic output: a refused conversion does not truncate or replace OUT, even with --force
    (without it an existing OUT is refused before IN is read)."""
    src = hostile_checkpoint(tmp_path / "evil.pt", tmp_path / "PAYLOAD_RAN")
    out = tmp_path / "existing.safetensors"
    out.write_bytes(b"previous contents")
    r = bt.run_brine("convert", "--force", src, out)
    assert r.returncode == 1, bt.describe(r)
    assert out.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt", "existing.safetensors"]


@needs_convert
@pytest.mark.parametrize("fname", UNVERIFIED)
def test_convert_refuses_unverified(fname, tmp_path):
    r, _out = convert(fname, tmp_path)
    assert r.returncode == 1 and r.stderr.strip(), bt.describe(r)
    assert list(tmp_path.iterdir()) == []


@needs_convert
@pytest.mark.parametrize("fname", QUANTIZED)
def test_convert_does_not_drop_quantized_tensors(fname, tmp_path):
    """As test_quantized_tensors_are_not_dropped: refuse (exit 1, nothing written), or write
    every quantized tensor (as its stored integers) — never a file without the weights."""
    _path, e = entry(fname)
    r, out = convert(fname, tmp_path)
    if r.returncode == 1:
        assert r.stderr.strip() and list(tmp_path.iterdir()) == [], bt.describe(r)
        return
    assert r.returncode == 0, bt.describe(r)
    _meta, tensors = read_safetensors(out)
    got = {n: {"dtype": d, "shape": s, "sha256": hashlib.sha256(b).hexdigest()}
           for n, (d, s, b) in tensors.items()}
    problem = compare_quantized(e, got, "%s: converted safetensors vs the manifest "
                                "(quantized tensors as int_repr)" % fname)
    assert problem is None, problem
