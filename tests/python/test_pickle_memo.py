"""The pickle memo (issue 11 item 3): a dense array for the indices pickles count 0, 1, 2, ...
and a keyed sparse map for the rest. A key lives where it was first put, so the interplay is
what can go wrong: a PUT far ahead (sparse), the gap filled later (dense), a PUT overwriting
a key in either place, MEMOIZE indexing by len(memo) after sparse keys, GET of every kind.

Seeded programs store distinct made-up globals in the memo in those patterns and end with a
tuple of GETs. Both real unpicklers (pickle.Unpickler and pickle._Unpickler) run each one with
a find_class that only returns (module, name) — nothing is imported — and `brine dis` must
render the same tuple (its `result = (...)` line), so every GET found what was put last."""
import io
import os
import pickle
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
import brinetest as bt  # noqa: E402

N_PROGRAMS = int(os.environ.get("PICKLE_MEMO_N", "120"))
MODULE = "brine_fake_memo"


def recording(base):
    class Recording(base):
        def find_class(self, module, name):
            return (module, name)
    return Recording


def put(idx, proto_rng):
    if idx < 256 and proto_rng.random() < 0.5:
        return b"q" + bytes([idx])                      # BINPUT
    if proto_rng.random() < 0.3:
        return b"p%d\n" % idx                            # PUT (text)
    return b"r" + struct.pack("<I", idx)                 # LONG_BINPUT


def get(idx, rng):
    if idx < 256 and rng.random() < 0.5:
        return b"h" + bytes([idx])                      # BINGET
    if rng.random() < 0.3:
        return b"g%d\n" % idx                            # GET (text)
    return b"j" + struct.pack("<I", idx)                 # LONG_BINGET


def program(rng):
    """(pickle bytes, the memo index of every GET in the final tuple)."""
    out = bytearray(b"\x80\x04")
    keys = []       # every index put so far (len(keys) = len(memo))
    counter = 0
    pattern = rng.choice(["dense", "gappy", "sparse-first", "memoize-after-sparse", "mixed"])
    for _ in range(rng.randrange(20, 400)):
        out += b"c%s\nf%d\n" % (MODULE.encode(), counter)
        counter += 1
        roll = rng.random()
        if pattern == "dense" or (pattern == "mixed" and roll < 0.5):
            idx = len(keys) if rng.random() < 0.9 or not keys else rng.choice(keys)
        elif pattern == "gappy":
            idx = len(keys) + rng.randrange(0, 200)
        elif pattern == "sparse-first":
            idx = rng.choice([rng.randrange(0, 64), rng.randrange(1000, 10 ** 7)])
        elif pattern == "memoize-after-sparse":
            if rng.random() < 0.3:
                out += b"\x94"                           # MEMOIZE: index len(memo)
                if len(keys) not in keys:
                    keys.append(len(keys))
                out += b"0"
                continue
            idx = rng.randrange(0, 5000)
        else:
            idx = rng.choice([rng.randrange(0, 2 * len(keys) + 70), rng.randrange(0, 10 ** 6)])
        out += put(idx, rng) + b"0"                      # PUT, POP
        if idx not in keys:
            keys.append(idx)
    gets = [rng.choice(keys) for _ in range(rng.randrange(1, 13))]  # dis shows 12 items
    out += b"("
    for idx in gets:
        out += get(idx, rng)
    out += b"t."
    return bytes(out), gets


def render(value):
    return "(" + ", ".join("%s.%s" % mn for mn in value) + ("," if len(value) == 1 else "") + ")"


def test_memo_gets_what_was_put(tmp_path):
    rng = random.Random(20261205)
    checked = 0
    for k in range(N_PROGRAMS):
        data, gets = program(rng)
        results = [recording(cls)(io.BytesIO(data)).load()
                   for cls in (pickle.Unpickler, pickle._Unpickler)]
        assert results[0] == results[1]
        assert len(results[0]) == len(gets)
        path = tmp_path / ("memo%d.pkl" % k)
        path.write_bytes(data)
        proc = bt.run_brine("dis", path)
        assert proc.returncode == 0, proc.stderr
        lines = [ln for ln in proc.stdout.decode().splitlines() if ln.startswith("result = ")]
        assert lines == ["result = " + render(results[0])], (k, lines[:1])
        checked += 1
    print("memo programs checked against both unpicklers:", checked)
    assert checked == N_PROGRAMS
