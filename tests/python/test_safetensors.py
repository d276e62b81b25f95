"""brine's safetensors reader and writer against an independent strict reader written here.

The oracle (`strict_read`) implements the format rules of research/formats.md §3.2 with
json + struct only — the reference validator's checks, plus brine's stricter ones (repeated
keys and non-string metadata refused). It shares no code with brine.

  - the corpus of tests/gen/gen_malformed_formats.py: y_* accepted by both with identical
    contents, n_* refused by both (brine with the manifest's message);
  - files written here by hand (random dtypes, shapes, names, metadata, key order, extra keys,
    whitespace): brine's reading equals the oracle's;
  - files written by brine's C writer (`test_safetensors --write`): the oracle accepts them,
    the header is what the reference writer would emit byte for byte (compact JSON, metadata
    first, tensors by dtype descending then name, padded with spaces to 8), every tensor is
    aligned to its element size, and the bytes are the ones given — including real torch
    tensors of every dtype torch 1.13 shares with safetensors;
  - a failed write leaves nothing behind.
"""

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN = REPO / "tests" / "gen" / "gen_malformed_formats.py"

# the reference's Dtype enum, in order, with bits per element (formats.md §3.4)
DTYPES = [("BOOL", 8), ("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6), ("U8", 8), ("I8", 8),
          ("F8_E5M2", 8), ("F8_E4M3", 8), ("F8_E8M0", 8), ("F8_E4M3FNUZ", 8),
          ("F8_E5M2FNUZ", 8), ("I16", 16), ("U16", 16), ("F16", 16), ("BF16", 16), ("I32", 32),
          ("U32", 32), ("F32", 32), ("C64", 64), ("F64", 64), ("I64", 64), ("U64", 64)]
BITS = dict(DTYPES)
RANK = {name: i for i, (name, _) in enumerate(DTYPES)}
MAX_HEADER = 100_000_000
U64 = 2 ** 64 - 1


class Invalid(Exception):
    pass


def _no_dup_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Invalid("duplicate key")
    return dict(pairs)


class _Float:
    """Marks a JSON number with a fraction or exponent (serde's usize refuses those)."""


def _depth(v, d=0):
    if d >= 128:  # serde_json's recursion limit
        raise Invalid("too deep")
    if isinstance(v, dict):
        for x in v.values():
            _depth(x, d + 1)
    elif isinstance(v, list):
        for x in v:
            _depth(x, d + 1)


def _uint(v):
    if type(v) is not int or v < 0 or v > U64:  # bool is an int subclass: excluded
        raise Invalid("not a usize: %r" % (v,))
    return v


def strict_read(blob):
    """(metadata or None, [(name, dtype, shape, begin, end, bytes)] in offset order)."""
    if len(blob) < 8:
        raise Invalid("HeaderTooSmall")
    (n,) = struct.unpack_from("<Q", blob)
    if n > MAX_HEADER:
        raise Invalid("HeaderTooLarge")
    if 8 + n > len(blob):
        raise Invalid("InvalidHeaderLength")
    try:
        text = blob[8:8 + n].decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Invalid("InvalidHeader")
    if "\0" in text.strip(" \t\n\r").replace("\\u0000", "\0"):
        raise Invalid("NUL")

    def bad_constant(c):
        raise Invalid("constant %s" % c)

    try:
        root = json.loads(text, object_pairs_hook=_no_dup_pairs, parse_float=lambda s: _Float(),
                          parse_constant=bad_constant)
    except (ValueError, RecursionError) as e:
        raise Invalid("json: %s" % e)
    _depth(root)
    if not isinstance(root, dict):
        raise Invalid("root")
    meta = root.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise Invalid("metadata")
    for s in list(root) + list(meta or {}) + list((meta or {}).values()):
        if "\0" in s:
            raise Invalid("NUL in a string")
    tensors = []
    for name, e in root.items():
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= set(e):
            raise Invalid("entry %r" % name)
        if not isinstance(e["dtype"], str) or e["dtype"] not in BITS:
            raise Invalid("dtype %r" % (e["dtype"],))
        if not isinstance(e["shape"], list):
            raise Invalid("shape")
        shape = [_uint(d) for d in e["shape"]]
        off = e["data_offsets"]
        if not isinstance(off, list) or len(off) != 2:
            raise Invalid("data_offsets")
        tensors.append((name, e["dtype"], shape, _uint(off[0]), _uint(off[1])))
    tensors.sort(key=lambda t: (t[3], t[4]))
    start = 0
    out = []
    for name, dtype, shape, b, e in tensors:
        if b != start or e < b:
            raise Invalid("InvalidOffset(%s)" % name)
        start = e
        count = 1
        for d in shape:
            count *= d
        bits = count * BITS[dtype]
        if count > U64 or bits > U64:
            raise Invalid("ValidationOverflow")
        if bits % 8:
            raise Invalid("MisalignedSlice")
        if e - b != bits // 8:
            raise Invalid("TensorInvalidInfo")
        out.append((name, dtype, shape, b, e, blob[8 + n + b:8 + n + e]))
    if 8 + n + start != len(blob):
        raise Invalid("MetadataIncompleteBuffer")
    return meta, out


# ------------------------------------------------------------------ brine


def tool():
    env = os.environ.get("TEST_SAFETENSORS")
    if env:
        return env
    for cand in ("build", "build-zip"):
        p = REPO / cand / "tests" / "test_safetensors"
        if p.exists():
            return str(p)
    pytest.skip("test_safetensors not built (set TEST_SAFETENSORS)")


def brine_dump(path):
    r = subprocess.run([tool(), "--dump", str(path)], capture_output=True, timeout=120)
    assert r.returncode in (0, 1), (path, r.returncode, r.stderr[-2000:])
    assert not r.stderr, r.stderr[-2000:]
    return json.loads(r.stdout)


def brine_write(path, spec, tmp):
    sp = tmp / (path.name + ".spec.json")
    sp.write_text(json.dumps(spec))
    return subprocess.run([tool(), "--write", str(path), str(sp)], capture_output=True,
                          timeout=300)


def same_reading(d, meta, tensors):
    assert d["ok"], d.get("error")
    assert d["metadata"] == meta
    got = [(t["name"], t["dtype"], t["shape"], t["begin"], t["end"], bytes.fromhex(t["hex"]))
           for t in d["tensors"]]
    # ties (zero-size tensors at one offset) may come in either order
    assert sorted(got) == sorted(tensors)
    assert [g[3] for g in got] == [t[3] for t in tensors]


# ------------------------------------------------------------------ corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(GEN), str(out)], check=True, capture_output=True)
    return out, json.loads((out / "manifest.json").read_text())


def _st_names():
    sys.path.insert(0, str(GEN.parent))
    try:
        import gen_malformed_formats as g
        return sorted(g.st_cases())
    finally:
        sys.path.pop(0)


@pytest.mark.parametrize("name", _st_names())
def test_corpus(corpus, name):
    out, manifest = corpus
    spec = manifest["safetensors"][name]
    path = out / "safetensors" / name
    d = brine_dump(path)
    blob = path.read_bytes()
    if spec["expect"] == "parse":
        assert name.startswith("y_")
        meta, tensors = strict_read(blob)
        same_reading(d, meta, tensors)
    else:
        assert name.startswith("n_")
        assert not d["ok"]
        assert spec["message"] in d["error"], d["error"]
        assert d["offset"] is not None
        with pytest.raises(Invalid):
            strict_read(blob)


# ------------------------------------------------------------------ hand-written files


def random_file(rng, k):
    names = set()
    while len(names) < k:
        names.add(rng.choice(["w", "bias", "layer.%d.weight" % rng.randrange(50), "\u00e9", "",
                              "a\"b\\c", "tab\tname", "x" * rng.randrange(1, 40), "\U0001f600"]))
    entries = []
    for name in names:
        dtype = rng.choice(DTYPES)[0]
        while True:
            shape = [rng.randrange(0, 5) for _ in range(rng.randrange(0, 4))]
            count = 1
            for d in shape:
                count *= d
            if count * BITS[dtype] % 8 == 0:
                break
        entries.append((name, dtype, shape, count * BITS[dtype] // 8))
    rng.shuffle(entries)  # offsets in this order; the JSON in another
    header, off, data = {}, 0, bytearray()
    for name, dtype, shape, nb in entries:
        entry = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + nb]}
        if rng.random() < 0.2:
            entry["extra"] = {"ignored": [1, 2.5, None]}
        header[name] = entry
        data += bytes(rng.randrange(256) for _ in range(nb))
        off += nb
    items = list(header.items())
    rng.shuffle(items)
    if rng.random() < 0.5:
        items.insert(rng.randrange(len(items) + 1),
                     ("__metadata__", {"format": "pt", "k%d" % rng.randrange(9): "v\u00fc"}))
    text = json.dumps(dict(items), ensure_ascii=rng.random() < 0.5,
                      separators=(",", ":") if rng.random() < 0.5 else (", ", ": "))
    text = rng.choice(["", " ", "\n\t"]) + text + " " * rng.randrange(8)
    h = text.encode()
    return struct.pack("<Q", len(h)) + h + bytes(data)


@pytest.mark.parametrize("seed", range(40))
def test_hand_written(tmp_path, seed):
    rng = random.Random(seed)
    blob = random_file(rng, rng.randrange(0, 12))
    p = tmp_path / "f.safetensors"
    p.write_bytes(blob)
    meta, tensors = strict_read(blob)
    same_reading(brine_dump(p), meta, tensors)


# ------------------------------------------------------------------ the C writer


def reference_header(meta, tensors):
    """What the reference writer emits: serde_json compact, __metadata__ first, tensors by
    dtype descending (enum order) then name, padded with spaces to a multiple of 8."""
    order = sorted(tensors, key=lambda t: (-RANK[t["dtype"]], t["name"].encode()))
    obj, off = {}, 0
    if meta:
        obj["__metadata__"] = dict(sorted(meta.items(), key=lambda kv: kv[0].encode()))
    for t in order:
        nb = len(bytes.fromhex(t["hex"]))
        obj[t["name"]] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [off, off + nb]}
        off += nb
    h = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return h + b" " * (-len(h) % 8), order


def check_written(path, spec):
    blob = path.read_bytes()
    meta, tensors = strict_read(blob)
    (n,) = struct.unpack_from("<Q", blob)
    want, order = reference_header(spec.get("metadata"), spec["tensors"])
    assert blob[8:8 + n] == want
    assert n % 8 == 0
    assert (meta or {}) == (spec.get("metadata") or {})
    assert [t[0] for t in tensors] == [t["name"] for t in order]
    for (name, dtype, shape, b, e, data), t in zip(tensors, order):
        assert (dtype, shape, data) == (t["dtype"], t["shape"], bytes.fromhex(t["hex"]))
        size = BITS[dtype] // 8
        if size:
            assert (8 + n + b) % size == 0, "%s not aligned" % name
    same_reading(brine_dump(path), meta, tensors)


def random_spec(rng, k):
    spec = {"metadata": {}, "tensors": []}
    used = set()
    for i in range(k):
        name = rng.choice(["w%d" % i, "layer.%d" % i, "\u00e9%d" % i, "q\"\\%d\n" % i, "t\x01%d" % i])
        dtype = rng.choice(DTYPES)[0]
        shape = [rng.randrange(0, 4) for _ in range(rng.randrange(0, 4))]
        count = 1
        for d in shape:
            count *= d
        if count * BITS[dtype] % 8:
            shape.append(2)
            count *= 2
            if count * BITS[dtype] % 8:
                shape[-1] = 4
                count *= 2
        nb = count * BITS[dtype] // 8
        spec["tensors"].append({"name": name, "dtype": dtype, "shape": shape,
                                "hex": bytes(rng.randrange(256) for _ in range(nb)).hex(),
                                "stream": rng.random() < 0.5})
        used.add(name)
    for j in range(rng.randrange(0, 4)):
        spec["metadata"]["k%d\u00fc" % j] = "v\"%d\t" % rng.randrange(100)
    return spec


@pytest.mark.parametrize("seed", range(30))
def test_c_writer(tmp_path, seed):
    rng = random.Random(1000 + seed)
    spec = random_spec(rng, rng.randrange(0, 15))
    p = tmp_path / "out.safetensors"
    r = brine_write(p, spec, tmp_path)
    assert r.returncode == 0, r.stderr
    check_written(p, spec)


def test_c_writer_every_dtype(tmp_path):
    spec = {"metadata": {"format": "pt"}, "tensors": []}
    for name, bits in DTYPES:
        nb = 8 * bits // 8
        spec["tensors"].append({"name": name.lower(), "dtype": name, "shape": [2, 4],
                                "hex": bytes(range(nb)).hex(), "stream": name < "F"})
    p = tmp_path / "all.safetensors"
    assert brine_write(p, spec, tmp_path).returncode == 0
    check_written(p, spec)


def test_c_writer_large_streamed(tmp_path):
    data = bytes(random.Random(7).randrange(256) for _ in range(3 << 20))
    spec = {"tensors": [{"name": "big", "dtype": "F32", "shape": [len(data) // 4],
                         "hex": data.hex(), "stream": True},
                        {"name": "small", "dtype": "U8", "shape": [3], "hex": "010203"}]}
    p = tmp_path / "big.safetensors"
    assert brine_write(p, spec, tmp_path).returncode == 0
    check_written(p, spec)


def test_torch_tensors_roundtrip(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # torch 1.13 dtypes that have a safetensors spelling
    table = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
             torch.int32: "I32", torch.int64: "I64", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
             torch.complex64: "C64"}
    tensors = {}
    for dt in table:
        for shape in ((), (0,), (3,), (2, 3, 4)):
            if dt == torch.bool:
                t = torch.rand(shape) > 0.5
            elif dt.is_floating_point or dt.is_complex:
                t = torch.randn(shape, dtype=dt)
            else:
                t = torch.randint(-100 if dt != torch.uint8 else 0, 100, shape, dtype=dt)
            tensors["%s.%s" % (str(dt)[6:], "x".join(map(str, shape)) or "scalar")] = t

    def raw(t):
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().tobytes()
        return t.numpy().tobytes()

    spec = {"metadata": {"format": "pt"},
            "tensors": [{"name": k, "dtype": table[t.dtype], "shape": list(t.shape),
                         "hex": raw(t).hex(), "stream": i % 2 == 0}
                        for i, (k, t) in enumerate(sorted(tensors.items()))]}
    p = tmp_path / "torch.safetensors"
    assert brine_write(p, spec, tmp_path).returncode == 0
    check_written(p, spec)
    _, read = strict_read(p.read_bytes())
    back = {name: (dtype, shape, data) for name, dtype, shape, _, _, data in read}
    for k, t in tensors.items():
        dtype, shape, data = back[k]
        assert shape == list(t.shape)
        if not t.numel():
            u = torch.empty(0, dtype=t.dtype)
        elif t.dtype == torch.bfloat16:
            u = torch.frombuffer(bytearray(data), dtype=torch.int16).view(torch.bfloat16)
        else:
            u = torch.frombuffer(bytearray(data), dtype=t.dtype)
        assert torch.equal(u.reshape(t.shape), t), k


def test_failed_write_leaves_nothing(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    p = d / "x.safetensors"
    spec = {"tensors": [{"name": "a", "dtype": "U8", "shape": [1], "hex": "01"},
                        {"name": "a", "dtype": "I8", "shape": [1], "hex": "02"}]}
    r = brine_write(p, spec, tmp_path)
    assert r.returncode == 1 and b"two tensors are called 'a'" in r.stderr
    assert list(d.iterdir()) == []
    # an existing file is kept as it was when a write fails
    p.write_bytes(b"old")
    assert brine_write(p, spec, tmp_path).returncode == 1
    assert p.read_bytes() == b"old" and len(list(d.iterdir())) == 1


def test_oracle_is_strict():
    """The oracle itself refuses what brine refuses and the reference accepts."""
    dup = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' \
          b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    with pytest.raises(Invalid):
        strict_read(struct.pack("<Q", len(dup)) + dup + b"\x01")
    meta = b'{"__metadata__":{"n":1}}'
    with pytest.raises(Invalid):
        strict_read(struct.pack("<Q", len(meta)) + meta)
    ok = b'{"a":{"dtype":"U8","shape":[true],"data_offsets":[0,1]}}'
    with pytest.raises(Invalid):
        strict_read(struct.pack("<Q", len(ok)) + ok + b"\x01")
