"""Differential test of brine's pickle machine against BOTH real CPython unpicklers.

A seeded generator writes a few thousand random-but-plausible opcode sequences: valid programs
mixed with the places where Lib/pickle.py (pickle._Unpickler, used by joblib) and
Modules/_pickle.c (pickle.Unpickler) disagree — FLOAT spellings, memo indices past ssize_t,
INT octal, GLOBAL lines cut by the end of the input, INST without MARK, REDUCE with a list,
FRAMEs cut short or crossed, empty APPENDS, odd SETITEMS — around GLOBAL, STACK_GLOBAL, REDUCE,
NEWOBJ, BUILD, INST/OBJ and persistent ids.

Each sequence is run by a subclass of each real unpickler whose find_class only records
(module, name) and returns a do-nothing stand-in class, and whose persistent_load records and
returns a stand-in: nothing real is imported or called (module names are made up). Then
`brine scan` must
  - name every global either unpickler reached (superset), and judge it (a finding that is
    not the linear after-error fallback);
  - not call a file safe when either unpickler called persistent_load and reached STOP;
  - call a file invalid or unsafe when the two unpicklers disagree (one raises, the other
    does not, or they reach different globals).
_pickle.c on a stream without peek() (a bare BytesIO) reads different bytes after a read that
crosses a FRAME end; brine does not follow that reading, it reports the crossing as unsafe
(rule frame-boundary): what it reaches there must come with that finding.
The counts are printed.
"""
import io
import json
import os
import pickle
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
import brinetest as bt  # noqa: E402

N_PROGRAMS = int(os.environ.get("UNPICKLER_DIFF_N", "3000"))
SEED = int(os.environ.get("UNPICKLER_DIFF_SEED", "20261205"))

MODULES = ["brine_fake_a", "brine_fake_b", "brine_fake_c.sub"]
NAMES = ["Thing", "func", "Other", "a.b"]
INTS = ["0", "1", "00", "01", "7", "-3", "010", "0x1f", "1_000", " 5", "+2", "0o17",
        "99999999999999999999", "12\x00x", "", "x"]
FLOATS = ["1.5", "-0.0", "1e5", "1_0.5", " 2.5", "2.5 ", "inf", "-Infinity", "nan", "1e999",
          "1__0", ".5", "5.", "1.5\x00x", "0x10", "1e1_0", "_1", "",
          # about DBL_MAX, where brine parses a line at once (else when it is read)
          "9e307", "99e307", "1.7976931348623157e308", "1.7976931348623159e308", "1e99999",
          "1e-99999", "0.0001e312"]


class Stub:
    """What find_class hands back: a class whose every use does nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Stub()

    def __setstate__(self, state):
        pass

    def extend(self, items):
        pass

    def append(self, item):
        pass

    def add(self, item):
        pass

    def __setitem__(self, key, value):
        pass


def recording(base):
    class Recorder(base):
        def __init__(self, file, log):
            super().__init__(file)
            self.log = log

        def find_class(self, module, name):
            self.log.append(("global", module, name))
            return Stub

        def persistent_load(self, pid):
            self.log.append(("persid", repr(pid)[:40], ""))
            return Stub()

    return Recorder


C_UNPICKLER = recording(pickle.Unpickler)
PY_UNPICKLER = recording(pickle._Unpickler)
assert pickle.Unpickler is not pickle._Unpickler, "the C unpickler is missing"


def run(cls, data, peek=True):
    """Loads data with a recorder. The stream is a BufferedReader (has peek(), like the file
    pickle.load gets from open()); peek=False gives a bare BytesIO, on which _pickle.c drops
    the unread end of a FRAME when a read crosses it (gh-154848) and reads other bytes."""
    log = []
    stream = io.BufferedReader(io.BytesIO(data)) if peek else io.BytesIO(data)
    try:
        cls(stream, log).load()
        ok = True
    except Exception:  # noqa: BLE001 - every way a load can fail is a result here
        ok = False
    return ok, log


# ------------------------------------------------------------------ the generator

class Gen:
    def __init__(self, rng):
        self.r = rng
        self.puts = []

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def mod(self):
        return "" if self.r.random() < 0.03 else self.pick(MODULES)

    def lit(self):
        r = self.r.randrange(14)
        if r == 0:
            return b"I" + self.pick(INTS).encode() + b"\n"
        if r == 1:
            return b"F" + self.pick(FLOATS).encode() + b"\n"
        if r == 2:
            return b"K" + bytes([self.r.randrange(256)])
        if r == 3:
            return self.pick([b"S'abc'\n", b'S"q"\n', b"S'a\\x41'\n"])
        if r == 4:
            return bt.su(self.pick(["x", "brine_fake_a", "Thing", "a.b"]))
        if r == 5:
            return self.pick([b"L12L\n", b"L010\n", b"L-5\n"])
        if r == 6:
            return b"J" + struct.pack("<i", self.r.randrange(-5, 5))
        return self.pick([b"N", b"\x88", b"\x89", b"]", b"}", b")", b"\x8f", b"G" +
                          struct.pack(">d", 1.5), b"C\x02ab", b"X\x01\x00\x00\x00z"])

    def glob(self):
        return b"c" + self.mod().encode() + b"\n" + self.pick(NAMES).encode() + b"\n"

    def callable_(self):
        return self.glob() if self.r.random() < 0.7 else (
            bt.su(self.pick(MODULES)) + bt.su(self.pick(NAMES)) + b"\x93")

    def args(self):
        return self.pick([b")", b"(" + self.lit() + b"t", b"]", b"(" + self.lit() + b"l",
                          b"N", bt.su("ab"), b"}", b"(" + self.lit() + self.lit() + b"t"])

    def fragment(self):
        r = self.r.randrange(30)
        if r < 5:
            return self.lit()
        if r < 7:
            return self.callable_()
        if r == 7:
            return self.callable_() + self.args() + b"R"
        if r == 8:
            return self.callable_() + self.pick([b")", b"]", b"(" + self.lit() + b"t"]) + b"\x81"
        if r == 9:
            return self.callable_() + b")}" + b"\x92"
        if r == 10:
            mark = b"(" if self.r.random() < 0.8 else b""
            return (mark + self.lit() + b"i" + self.mod().encode() + b"\n" +
                    self.pick(NAMES).encode() + b"\n")
        if r == 11:
            return b"(" + self.callable_() + self.lit() + b"o"
        if r == 12:
            return self.callable_() + b")R" + self.pick([b"}", b"N", b"(" + self.lit() + b"t"]) + b"b"
        if r == 13:
            idx = self.pick([self.r.randrange(8), self.r.randrange(1 << 16), 10 ** 20])
            self.puts.append(idx)
            form = self.r.randrange(4)
            if form == 0 or idx > 0xFFFF:
                return b"p%d\n" % idx
            if form == 1 and idx < 256:
                return b"q" + bytes([idx])
            if form == 2:
                return b"r" + struct.pack("<I", idx)
            return b"\x94"
        if r == 14:
            idx = self.pick(self.puts) if self.puts and self.r.random() < 0.8 else self.r.randrange(9)
            if idx > 0xFFFF:
                return b"g%d\n" % idx
            return self.pick([b"g%d\n" % idx, (b"h" + bytes([idx])) if idx < 256 else b"g%d\n" % idx,
                              b"j" + struct.pack("<I", idx)])
        if r == 15:
            return self.pick([b"(", b"0", b"1", b"2", b"\x85", b"\x86", b"\x87", b"t", b"l",
                              b"d", b"a", b"s"])
        if r == 16:
            return b"](" + self.lit() + self.lit() + b"e"
        if r == 17:
            return self.pick([self.callable_() + b")R(e", b"}(e", self.callable_() + b")R(\x90",
                              b"\x8f(" + self.lit() + b"\x90", b"](e"])
        if r == 18:
            return self.pick([b"}(" + self.lit() + b"u",
                              self.callable_() + b")R(" + self.lit() + self.lit() + self.lit() + b"u",
                              b"}(" + self.lit() + self.lit() + b"u"])
        if r == 19:
            return b"}" + self.lit() + self.lit() + b"s"
        if r == 20:
            return self.pick([b"Pabc\n", bt.su("x") + b"Q", b"P\xff\n"])
        if r == 21:
            return b"\x82\x01"
        if r == 22:
            body = self.fragment()
            k = self.pick([len(body), max(0, len(body) - 1), len(body) + 5, 0])
            return b"\x95" + struct.pack("<Q", k) + body
        if r == 23:
            return b"(" + self.lit() + self.lit() + b"\x91"
        return self.lit()

    def program(self):
        out = b""
        if self.r.random() < 0.7:
            out += b"\x80" + bytes([self.r.randrange(6)])
        for _ in range(self.r.randrange(1, 9)):
            out += self.fragment()
        if self.r.random() < 0.85:
            out += b"."
        if self.r.random() < 0.08:
            out = out[:self.r.randrange(1, len(out) + 1)]
        return out


def programs():
    rng = random.Random(SEED)
    seen, out = set(), []
    while len(out) < N_PROGRAMS:
        p = Gen(rng).program()
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def test_union_of_both_unpicklers(tmp_path):
    progs = programs()
    d = tmp_path / "progs"
    d.mkdir()
    for i, p in enumerate(progs):
        (d / ("p%05d.pkl" % i)).write_bytes(p)
    r = bt.run_brine("scan", "--format", "jsonl", "-r", d, timeout=300)
    results = {}
    for line in r.stdout.decode().splitlines():
        f = json.loads(line)
        results[os.path.basename(f["path"])] = f
    assert len(results) == len(progs), bt.describe(r)

    counts = dict(programs=len(progs), both_ok=0, c_only_ok=0, py_only_ok=0, reached=0,
                  c_only_globals=0, py_only_globals=0, disagree=0, persid=0,
                  nopeek_other_globals=0)
    missing, unjudged, safe_persid, quiet_disagreement, nopeek = [], [], [], [], []
    for i, p in enumerate(progs):
        name = "p%05d.pkl" % i
        ok_c, log_c = run(C_UNPICKLER, p)
        ok_py, log_py = run(PY_UNPICKLER, p)
        g_c = {"%s.%s" % (m, n) for k, m, n in log_c if k == "global"}
        g_py = {"%s.%s" % (m, n) for k, m, n in log_py if k == "global"}
        counts["both_ok"] += ok_c and ok_py
        counts["c_only_ok"] += ok_c and not ok_py
        counts["py_only_ok"] += ok_py and not ok_c
        counts["reached"] += len(g_c | g_py)
        counts["c_only_globals"] += len(g_c - g_py)
        counts["py_only_globals"] += len(g_py - g_c)
        f = results[name]
        named = set(f["globals"]) | {x["global"] for x in f["findings"] if x.get("global")}
        judged = {x["global"] for x in f["findings"]
                  if x.get("global") and x["rule"] != "after-error"}
        if (g_c | g_py) - named:
            missing.append((name, p, sorted((g_c | g_py) - named), f["verdict"]))
        if (g_c | g_py) - judged:
            unjudged.append((name, p, sorted((g_c | g_py) - judged), f["verdict"]))
        _, log_s = run(C_UNPICKLER, p, peek=False)
        g_s = {"%s.%s" % (m, n) for k, m, n in log_s if k == "global"}
        if g_s - named:
            counts["nopeek_other_globals"] += 1
            if "frame-boundary" not in {x["rule"] for x in f["findings"]} or f["verdict"] != "unsafe":
                nopeek.append((name, p, sorted(g_s - named), f["verdict"]))
        if any(k == "persid" for k, _, _ in log_c + log_py):
            counts["persid"] += 1
            if f["verdict"] == "safe" and (ok_c or ok_py):
                safe_persid.append((name, p))
        if ok_c != ok_py or g_c != g_py:
            counts["disagree"] += 1
            if f["verdict"] not in ("invalid", "unsafe"):
                quiet_disagreement.append((name, p, ok_c, ok_py, sorted(g_c), sorted(g_py),
                                           f["verdict"]))
    print("unpickler differential:", json.dumps(counts))
    print("globals either unpickler reached: %d; not named by brine: %d; not judged: %d"
          % (counts["reached"], sum(len(m[2]) for m in missing),
             sum(len(m[2]) for m in unjudged)))
    assert counts["c_only_ok"] and counts["py_only_ok"] and counts["py_only_globals"], counts
    assert not missing, missing[:10]
    assert not unjudged, unjudged[:10]
    assert not safe_persid, safe_persid[:10]
    assert not quiet_disagreement, quiet_disagreement[:10]
    assert not nopeek, nopeek[:10]
