"""Systematic malformed inputs: every fixture, truncated, bit-flipped and with inflated length
fields, must give `brine scan` a clean answer — exit status 0 or 1, one valid JSON document
naming every file with one of the four verdicts — and never a crash, a sanitizer report, a
hang or "could not read" (exit 2) for a file that is readable.

Fixtures: samples/*, the fuzz seed corpora (fuzz/corpus/*), and the files the fixture
generators write (tests/gen/gen_benign.py OUTDIR, tests/gen/gen_hostile.py OUTDIR MARKER)
when they exist. Mutants are written to a temporary directory and scanned in batches (the
scan command takes many paths); a batch that fails is re-run one file at a time to name the
culprit, and every failing mutant is saved (BRINE_MUTATION_FAILURES, or a fresh temporary
directory) for fuzz/regressions/.

Environment: BRINE (the binary, required), BRINE_MUTATION_BATCH (files per run, default
400), BRINE_MUTATION_TIMEOUT (seconds per single-file run, default 10), BRINE_MUTATION_MAX
(mutants of each kind, evenly spread over the fixtures, default 12000).

Nothing here loads a fixture with pickle/torch/joblib/numpy: the hostile generator's MARKER
file must never appear.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
BRINE = os.environ.get("BRINE")
BATCH = int(os.environ.get("BRINE_MUTATION_BATCH", "400"))
TIMEOUT = float(os.environ.get("BRINE_MUTATION_TIMEOUT", "10"))
VERDICTS = {"safe", "unverified", "invalid", "unsafe"}

SMALL = 4096           # every truncation below this size
SPREAD = 256           # truncation points for larger files
FLIP_HEAD = 16         # bit flips in the first bytes (magics, headers)
FLIP_SPREAD = 24       # and spread over the rest
MAX_INFLATIONS = 48    # length-field inflations per file
# mutants of one kind, at most: the seed corpora grow with every format, and the suite runs
# twice (once under ASan) within CI's budget; longer sweeps set BRINE_MUTATION_MAX
MAX_PER_KIND = int(os.environ.get("BRINE_MUTATION_MAX", "12000"))

pytestmark = pytest.mark.skipif(not BRINE, reason="BRINE is not set (CTest sets it)")


# ------------------------------------------------------------------ fixtures

def _read_tree(root):
    out = []
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json":
            out.append((str(p), p.read_bytes()))
    return out


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """[(name, bytes)], distinct contents only."""
    found = []
    found += _read_tree(REPO / "samples")
    found += _read_tree(REPO / "fuzz" / "corpus")
    gen = REPO / "tests" / "gen"
    marker = tmp_path_factory.mktemp("marker") / "MARKER"
    if (gen / "gen_benign.py").exists():
        out = tmp_path_factory.mktemp("benign")
        subprocess.run([PYTHON, str(gen / "gen_benign.py"), str(out)], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        found += _read_tree(out)
    if (gen / "gen_hostile.py").exists():
        out = tmp_path_factory.mktemp("hostile")
        subprocess.run([PYTHON, str(gen / "gen_hostile.py"), str(out), str(marker)], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        found += _read_tree(out)
    seen, distinct = set(), []
    for name, data in found:
        h = hashlib.blake2b(data, digest_size=16).digest()
        if h not in seen:
            seen.add(h)
            distinct.append((os.path.relpath(name, REPO) if name.startswith(str(REPO)) else
                             "gen/" + Path(name).name, data))
    assert len(distinct) > 100, "too few fixtures"
    yield distinct
    assert not marker.exists(), "a hostile payload ran while generating fixtures"


# ------------------------------------------------------------------ mutations

def truncations(data):
    n = len(data)
    if n < SMALL:
        points = range(n)
    else:
        points = sorted({n * i // SPREAD for i in range(SPREAD)} | {n - 1, n - 2, n - 8, 1, 8})
    for k in points:
        yield f"truncate@{k}", data[:k]


def bit_flips(data):
    n = len(data)
    if n == 0:
        return
    points = list(range(min(n, FLIP_HEAD)))
    if n > FLIP_HEAD:
        points += sorted({FLIP_HEAD + (n - FLIP_HEAD) * i // FLIP_SPREAD for i in range(FLIP_SPREAD)})
    for i, pos in enumerate(points):
        bit = (pos * 5 + i) % 8
        m = bytearray(data)
        m[pos] ^= 1 << bit
        yield f"flip@{pos}.{bit}", bytes(m)


# pickle opcodes followed by a little-endian length: opcode byte -> field width
PICKLE_LENGTHS = {b"B"[0]: 4, b"X"[0]: 4, b"T"[0]: 4, 0x8D: 8, 0x8E: 8, 0x96: 8, 0x95: 8}
# zip records: signature -> [(offset, width)] of counts, sizes and offsets
ZIP_FIELDS = {
    b"PK\x03\x04": [(18, 4), (22, 4), (26, 2), (28, 2)],
    b"PK\x01\x02": [(20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (42, 4)],
    b"PK\x05\x06": [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
    b"PK\x06\x06": [(4, 8), (24, 8), (32, 8), (40, 8), (48, 8)],
    b"PK\x06\x07": [(8, 8)],
    b"PK\x07\x08": [(8, 4), (12, 4)],
}


def _huge(width, n, pos):
    """Values that make a length field lie: all ones, sign bit, just past the end."""
    top = (1 << (8 * width)) - 1
    vals = [top, 1 << (8 * width - 1), min(top, n - pos + 1), min(top, n * 2 + 7)]
    if width == 8:
        vals.append(1 << 32)
    return sorted(set(vals))


def _set(data, pos, width, value):
    m = bytearray(data)
    m[pos:pos + width] = value.to_bytes(width, "little")
    return bytes(m)


def inflations(data):
    n = len(data)
    fields = []  # (pos, width, what)
    for i, b in enumerate(data):
        w = PICKLE_LENGTHS.get(b)
        if w and i + 1 + w <= n:
            fields.append((i + 1, w, f"op{b:02x}"))
    for sig, offs in ZIP_FIELDS.items():
        i = data.find(sig)
        while i >= 0:
            for off, w in offs:
                if i + off + w <= n:
                    fields.append((i + off, w, f"{sig[2:].hex()}+{off}"))
            i = data.find(sig, i + 1)
    if n >= 8:
        fields.append((0, 8, "head64"))  # safetensors header length
    if data.startswith(b"\x93NUMPY") and n >= 12:
        fields.append((8, 2 if data[6] == 1 else 4, "npy-header"))
    if len(fields) > MAX_INFLATIONS:  # a deterministic spread
        step = len(fields) / MAX_INFLATIONS
        fields = [fields[int(k * step)] for k in range(MAX_INFLATIONS)]
    for pos, w, what in fields:
        for v in _huge(w, n, pos):
            yield f"inflate:{what}@{pos}={v:#x}", _set(data, pos, w, v)


def mutants(fixtures, kind):
    """Distinct mutants [(description, bytes)] of one kind over all fixtures."""
    seen, out = set(), []
    gen = {"truncate": truncations, "flip": bit_flips, "inflate": inflations}[kind]
    for name, data in fixtures:
        for desc, m in gen(data):
            h = hashlib.blake2b(m, digest_size=16).digest()
            if h not in seen:
                seen.add(h)
                out.append((f"{name} {desc}", m))
    if len(out) > MAX_PER_KIND:  # an even, deterministic spread over every fixture
        out = [out[len(out) * i // MAX_PER_KIND] for i in range(MAX_PER_KIND)]
    return out


# ------------------------------------------------------------------ running brine

def _shm_dir():
    d = "/dev/shm"
    return d if os.path.isdir(d) and os.access(d, os.W_OK) else None


def _problem(proc_rc, stdout, stderr, paths):
    """None when the run is clean, else what went wrong."""
    if proc_rc is None:
        return "timeout"
    if proc_rc < 0:
        return f"killed by signal {-proc_rc}"
    if proc_rc not in (0, 1):
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        return f"exit status {proc_rc}: {' | '.join(tail)}"
    try:
        doc = json.loads(stdout)
    except ValueError as e:
        return f"output is not JSON: {e}"
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        return "no files[] in the JSON"
    if doc.get("errors"):
        return f"errors[] for readable files: {str(doc['errors'])[:200]}"
    by_path = {}
    for f in files:
        if not isinstance(f, dict) or f.get("verdict") not in VERDICTS:
            return f"bad file entry: {str(f)[:200]}"
        if not isinstance(f.get("format"), str) or not f["format"]:
            return f"file entry without a format: {str(f)[:200]}"
        by_path[f.get("path")] = f
    missing = [p for p in paths if p not in by_path]
    if missing or len(files) != len(paths):
        return f"{len(files)} file entries for {len(paths)} paths; missing {missing[:3]}"
    failing = any(f["verdict"] != "safe" for f in files)
    if proc_rc != (1 if failing else 0):
        return f"exit status {proc_rc} but {'some' if failing else 'no'} file is not safe"
    if b"runtime error" in stderr or b"Sanitizer" in stderr:
        return f"sanitizer output: {stderr.decode(errors='replace')[:300]}"
    return None


def _scan(paths, timeout):
    try:
        p = subprocess.run([BRINE, "scan", "--format", "json", *paths], capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return _problem(p.returncode, p.stdout, p.stderr, paths)
    except subprocess.TimeoutExpired:
        return _problem(None, b"", b"", paths)


def _failure_dir():
    d = os.environ.get("BRINE_MUTATION_FAILURES")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return tempfile.mkdtemp(prefix="brine-mutation-failures-")


def run_mutants(items):
    """Scans every mutant; returns [(description, problem, saved path)] of the failures."""
    failures = []
    save_dir = None
    with tempfile.TemporaryDirectory(prefix="brine-mut-", dir=_shm_dir()) as tmp:
        for start in range(0, len(items), BATCH):
            batch = items[start:start + BATCH]
            paths = []
            for i, (_, data) in enumerate(batch):
                p = os.path.join(tmp, f"m{start + i:07d}")
                with open(p, "wb") as f:
                    f.write(data)
                paths.append(p)
            if _scan(paths, timeout=max(60.0, TIMEOUT * 6)) is not None:
                # find the culprits one by one
                for (desc, data), p in zip(batch, paths):
                    problem = _scan([p], timeout=TIMEOUT)
                    if problem:
                        save_dir = save_dir or _failure_dir()
                        name = hashlib.blake2b(data, digest_size=8).hexdigest()
                        saved = os.path.join(save_dir, name)
                        shutil.copyfile(p, saved)
                        failures.append((desc, problem, saved))
            for p in paths:
                os.unlink(p)
    return failures


def _check(fixtures, kind):
    items = mutants(fixtures, kind)
    failures = run_mutants(items)
    print(f"{kind}: {len(items)} distinct mutants of {len(fixtures)} fixtures, "
          f"{len(failures)} failures", file=sys.stderr)
    if failures:
        lines = [f"  {desc}: {problem}\n      saved as {saved}" for desc, problem, saved in failures[:25]]
        more = f"\n  ... and {len(failures) - 25} more" if len(failures) > 25 else ""
        pytest.fail(f"{len(failures)} of {len(items)} {kind} mutants broke brine:\n"
                    + "\n".join(lines) + more)


def test_truncations(fixtures):
    _check(fixtures, "truncate")


def test_bit_flips(fixtures):
    _check(fixtures, "flip")


def test_length_inflations(fixtures):
    _check(fixtures, "inflate")


def test_mutators_are_deterministic(fixtures):
    """The same fixtures always give the same mutants, so a failure reproduces."""
    small = fixtures[:20]
    for kind in ("truncate", "flip", "inflate"):
        a = [(d, hashlib.sha256(m).hexdigest()) for d, m in mutants(small, kind)]
        b = [(d, hashlib.sha256(m).hexdigest()) for d, m in mutants(small, kind)]
        assert a == b


def test_inflation_finds_length_fields():
    """The length-field mutator reaches pickle lengths, zip fields and header lengths."""
    pk = b"\x80\x04\x8c\x01aX\x03\x00\x00\x00abc\x8e" + struct.pack("<Q", 1) + b"x."
    whats = {d.split("@")[0] for d, _ in inflations(pk)}
    assert {"inflate:op58", "inflate:op8e", "inflate:head64"} <= whats
    zp = (REPO / "fuzz" / "corpus" / "zip" / "stored.zip").read_bytes()
    whats = {d.split("@")[0] for d, _ in inflations(zp)}
    assert any(w.startswith("inflate:0102+") for w in whats)
    assert any(w.startswith("inflate:0506+") for w in whats)
