"""Scan work linear in the file (issue 7 item 5), tested by behaviour, never by the clock.

- Work floods from tests/gen/gen_hostile_linear.py (never loaded; the marker their payload
  would create must never appear): one nested literal handed to a loader 40,000 times is
  judged exactly like the same literal handed over once, and distinct nested literals are
  bounded by the max_work budget, which trips at exactly the number of opcodes pickletools
  counts for the file and its nested pickles, and names itself.
- Checkpoints with thousands of tensors (torch 1.13, legacy and zip, benign): every tensor
  is found, with the dtype, shape and bytes torch.load(weights_only=True) gives, shared
  storages included — the storage lookups that are now hashed return the right records.
- The pickle memo, keyed now, still resolves indices that all collided under its old hash.
- The seeded SipHash-1-3 behind the map equals CPython's own (PYTHONHASHSEED=0).

Timings are in bench/linear_scan.py, not here.
"""
import hashlib
import json
import os
import pickletools
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "gen", "gen_hostile_linear.py")
BRINE = os.environ.get("BRINE")
TEST_LINEAR = os.environ.get("TEST_LINEAR")

pytestmark = pytest.mark.skipif(not BRINE, reason="BRINE (path of the brine binary) not set")


@pytest.fixture(scope="module")
def floods():
    with tempfile.TemporaryDirectory(prefix="brine-linear-") as tmp:
        out = os.path.join(tmp, "floods")
        marker = os.path.join(tmp, "marker-dir", "BRINE_PAYLOAD_RAN")
        os.mkdir(os.path.dirname(marker))
        subprocess.run(["/usr/bin/python3", GEN, out, marker], check=True, timeout=600)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        yield out, manifest, marker
        assert not os.path.exists(marker), "a payload ran"


def scan(path, *extra):
    r = subprocess.run([BRINE, "scan", "--format", "json", *extra, path], capture_output=True,
                       timeout=600)
    assert r.returncode in (0, 1), r.stderr.decode()
    return json.loads(r.stdout)["files"][0]


def pickles(data, start=0, count=None):
    """[(ops, end)] of consecutive pickles from start, read with pickletools.genops only."""
    out = []
    pos = start
    while pos < len(data) and (count is None or len(out) < count):
        ops = []
        for op, arg, at in pickletools.genops(data[pos:]):
            ops.append((op.name, arg))
            if op.name == "STOP":
                end = pos + at + 1
                break
        out.append((ops, end))
        pos = end
    return out


def literals(ops):
    return [arg for name, arg in ops if name in ("BINBYTES", "SHORT_BINBYTES")]


def judged(doc):
    return doc["verdict"], sorted({(f["rule"], f.get("global")) for f in doc["findings"]})


# ------------------------------------------------------------------ floods

def test_fixtures_are_what_they_claim(floods):
    out, manifest, marker = floods
    for name in ("flood_loads.pkl", "flood_storage.pkl"):
        data = open(os.path.join(out, name), "rb").read()
        [(ops, end)] = pickles(data)
        assert end == len(data)
        assert sum(1 for n, _ in ops if n == "REDUCE") == manifest[name]["refs"] == 40000
        assert len(literals(ops)) == 1  # one literal, shared through the memo
        assert sum(1 for n, _ in ops if n == "BINGET") == 2 * 40000
        assert len(literals(ops)[0]) == manifest[name]["literal_len"] > 200000
    nested = literals(pickles(open(os.path.join(out, "flood_loads.pkl"), "rb").read())[0][0])[0]
    [(nops, _)] = pickles(nested)
    assert ("GLOBAL", "builtins open") in nops and ("BINUNICODE", marker) in nops
    assert len(nops) > 200000  # each judgment is expensive: repeating it 40,000 times is not


@pytest.mark.parametrize("kind", ["loads", "storage"])
def test_flood_is_judged_like_one_reference(floods, kind):
    out, _, marker = floods
    flood = scan(os.path.join(out, "flood_%s.pkl" % kind))
    single = scan(os.path.join(out, "single_%s.pkl" % kind))
    assert judged(flood) == judged(single)
    if kind == "loads":
        assert flood["verdict"] == "unsafe"
        hits = [f for f in flood["findings"] if f.get("global") == "builtins.open"]
        assert hits and "pickle.loads bytes" in hits[0]["member"]
    else:
        assert flood["verdict"] == "safe"  # a real torch storage, 40,000 times


def test_one_literal_two_loaders_judged_twice(floods):
    """The cache is per loader: the same literal node handed to _load_from_bytes and to
    pickle.loads is judged once for each. torch.load reads the bytes like a file (issue 7.6):
    without the legacy magic, its first pickle.load meets the persistent id and fails, as
    pickle.loads does."""
    out, _, _ = floods
    doc = scan(os.path.join(out, "two_loaders.pkl"))
    rules = {(f["rule"], f.get("member", "").split(" bytes")[0]) for f in doc["findings"]}
    assert ("persistent-id", "pickle.loads") in rules, doc["findings"]
    assert ("persistent-id", "torch.storage._load_from_bytes") in rules, doc["findings"]


def total_opcodes(data):
    """Opcodes of the outer pickle plus those of the five pickles of each nested legacy
    storage stream handed to _load_from_bytes — what brine's machine has to run."""
    [(ops, _)] = pickles(data)
    total = len(ops)
    for lit in literals(ops):
        total += sum(len(o) for o, _ in pickles(lit, 0, 5))
    return total


def test_work_budget_trips_at_the_opcode_count(floods):
    out, manifest, _ = floods
    path = os.path.join(out, "distinct_storages.pkl")
    data = open(path, "rb").read()
    total = total_opcodes(data)
    n = manifest["distinct_storages.pkl"]["refs"]
    assert total > 10 * n  # every distinct literal is work

    def budget_findings(doc):
        return [f for f in doc["findings"] if f["rule"] == "limit" and "max_work" in f["message"]]

    default = scan(path)
    assert default["verdict"] == "safe" and not budget_findings(default)
    exact = scan(path, "--limit", "max_work=%d" % total)
    assert exact["verdict"] == "safe" and not budget_findings(exact)
    short = scan(path, "--limit", "max_work=%d" % (total - 1))
    assert short["verdict"] == "invalid"
    assert budget_findings(short), short["findings"]
    # the budget is the file's: the nested pickles after the point it ran out are not judged,
    # and that is said once, not once per pickle
    half = scan(path, "--limit", "max_work=%d" % (total // 2))
    assert half["verdict"] == "invalid"
    assert 1 <= len(budget_findings(half)) <= 2, half["findings"]


def test_work_budget_cannot_hide_a_payload(floods):
    """A lowered budget makes the file invalid, never safe; with the payload judged first the
    file stays unsafe."""
    out, _, _ = floods
    path = os.path.join(out, "single_loads.pkl")
    assert scan(path, "--limit", "max_work=1000")["verdict"] in ("invalid", "unsafe")
    assert scan(path, "--limit", "max_work=10")["verdict"] in ("invalid", "unsafe")
    assert scan(path)["verdict"] == "unsafe"


def test_memo_indices_on_one_chain_resolve(floods):
    """GET of one of 100,000 memo indices that shared a probe chain under the old fixed hash
    still finds what PUT stored there (CPython's recorder agrees it reaches os.system)."""
    out, manifest, _ = floods
    path = os.path.join(out, "memo_collide.pkl")
    data = open(path, "rb").read()
    sys.path.insert(0, HERE)
    import brinetest
    assert brinetest.first_find_class(data, pure=True) == ("os", "system")
    [(ops, _)] = pickles(data)
    assert sum(1 for n, _ in ops if n == "PUT") == manifest["memo_collide.pkl"]["puts"] + 1
    doc = scan(path)
    assert doc["verdict"] == "unsafe"
    assert any(f.get("global") == "os.system" for f in doc["findings"])


# ------------------------------------------------------------------ many tensors

def save_checkpoint(torch, path, n, legacy):
    """n tensors of several dtypes and shapes; every 5th a view of one shared storage."""
    dtypes = [torch.float32, torch.float16, torch.int64, torch.bfloat16, torch.uint8]
    base = torch.arange(4096, dtype=torch.float32)
    sd = {}
    for i in range(n):
        if i % 5 == 4:
            sd["shared.%d" % i] = base[i % 1000:i % 1000 + 16].view(4, 4)
        else:
            t = torch.arange(i % 13 + 1, dtype=torch.float32) * (i + 1)
            sd["layer%d.weight" % i] = t.to(dtypes[i % len(dtypes)]).reshape(-1, 1)
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)


def tensor_sha256(torch, t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_thousands_of_tensors_match_torch(legacy, tmp_path):
    torch = pytest.importorskip("torch")
    path = str(tmp_path / "many.pt")
    save_checkpoint(torch, path, 3000, legacy)
    doc = scan(path)
    assert doc["verdict"] == "safe", doc["findings"][:5]
    assert doc["format"] == ("pytorch-legacy" if legacy else "pytorch-zip")
    r = subprocess.run([BRINE, "inspect", "--format", "json", "--hash", path],
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    got = {t["name"]: t for t in json.loads(r.stdout)["tensors"]}
    want = torch.load(path, weights_only=True)  # benign: written just above
    names = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64,
             "BF16": torch.bfloat16, "U8": torch.uint8}
    assert sorted(got) == sorted(want)
    for name, t in want.items():
        g = got[name]
        assert names[g["dtype"]] == t.dtype and g["shape"] == list(t.shape), name
        assert g["sha256"] == tensor_sha256(torch, t), name


# ------------------------------------------------------------------ the hash itself

def test_siphash_matches_cpython():
    if not TEST_LINEAR:
        pytest.skip("TEST_LINEAR (path of the test_linear helper) not set")
    if sys.hash_info.algorithm != "siphash13":
        pytest.skip("this Python hashes bytes with %s" % sys.hash_info.algorithm)
    inputs = [bytes(range(n)) for n in range(1, 40)] + [b"data/0", b"archive/data/123",
                                                       os.urandom(1000), b"\x00" * 64]
    code = ("import sys\nfor h in sys.argv[1:]:\n"
            "    print(hash(bytes.fromhex(h)) & 0xFFFFFFFFFFFFFFFF)\n")
    hexes = [b.hex() for b in inputs]
    py = subprocess.run([sys.executable, "-c", code, *hexes], capture_output=True, check=True,
                        env=dict(os.environ, PYTHONHASHSEED="0")).stdout.split()
    c = subprocess.run([TEST_LINEAR, "--siphash", *hexes], capture_output=True,
                       check=True).stdout.split()
    assert len(py) == len(inputs)
    # CPython maps a hash of -1 to -2; no input above hashes to -1 under the zero key
    assert c == py
