#!/usr/bin/python3
"""Benchmark (issue 7 item 5): scan time must grow linearly with the file.

usage: /usr/bin/python3 bench/linear_scan.py [--brine build/brine] [--baseline OLD_BRINE]
                                             [--workdir DIR] [--sizes 1000,2000,4000,8000]
                                             [--runs 3] [--timeout 300]

Writes (cached in WORKDIR) real checkpoints with Debian's torch 1.13 — a state dict of N small
tensors of mixed dtypes, every fifth a view of one shared storage — in the legacy format
(torch.save(..., _use_new_zipfile_serialization=False)) and in the zip format, for each N; and
the work floods of tests/gen/gen_hostile_linear.py at 10,000 .. 80,000 references (one 200 kB
literal handed to pickle.loads / torch.storage._load_from_bytes again and again, through the
memo), distinct nested storages at 1,000 .. 8,000, and memo floods (protocol-0 PUTs whose
indices all collided under brine's old fixed memo hash) at 25,000 .. 200,000.

Measures the whole command, best of RUNS: `brine scan`, `brine inspect --format json` and
`brine convert` (checkpoints), plus torch.load for reference. With --baseline, the same
for an older brine binary, each run cut at --timeout seconds. Prints one table: time and
time per unit, so linear growth reads as a constant last column. A benchmark, never a test;
nothing hostile is ever loaded (the floods' payloads would only touch a marker file).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "gen"))
sys.path.insert(0, str(REPO / "tests" / "python"))


def timed(cmd, runs, timeout):
    """Best wall time of runs runs of cmd, or None when one exceeds timeout."""
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return best


def checkpoints(torch, work, sizes):
    from test_linear import save_checkpoint  # the same state dicts the tests use
    out = []
    for n in sizes:
        for legacy in (True, False):
            p = work / ("%s_%d.pt" % ("legacy" if legacy else "zip", n))
            if not p.exists():
                save_checkpoint(torch, str(p), n, legacy)
            out.append((p, n, "tensors"))
    return out


def floods(torch, work, marker):
    import gen_hostile_linear as g
    out = []
    payload = g.nested_payload(marker, 100000)
    big = g.legacy_storage_bytes(torch, torch.arange(50000, dtype=torch.float32).storage())
    for refs in (10000, 20000, 40000, 80000):
        for kind, mod, name, lit in (("loads", "pickle", "loads", payload),
                                     ("storage", "torch.storage", "_load_from_bytes", big)):
            p = work / ("flood_%s_%d.pkl" % (kind, refs))
            if not p.exists():
                p.write_bytes(g.flood(mod, name, lit, refs))
            out.append((p, refs, "refs"))
    for n in (1000, 2000, 4000, 8000):
        p = work / ("distinct_%d.pkl" % n)
        if not p.exists():
            body = (g.proto(2) + g.glob("torch.storage", "_load_from_bytes") + g.binput(0) +
                    g.POP + g.EMPTY_LIST + g.MARKOP)
            for i in range(n):
                lit = g.legacy_storage_bytes(torch, torch.full((1 + i % 7,), float(i)).storage())
                body += g.u32_get(0) + g.sbb(lit) + g.TUPLE1 + g.REDUCE
            p.write_bytes(body + g.APPENDS + g.STOP)
        out.append((p, n, "literals"))
    for puts in (25000, 50000, 100000, 200000):
        p = work / ("memo_%d.pkl" % puts)
        if not p.exists():
            body = b"N" + b"".join(b"p%d\n" % (j * (1 << 38) - 1) for j in range(1, puts + 1))
            p.write_bytes(body + b".")
        out.append((p, puts, "PUTs"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brine", default=str(REPO / "build" / "brine"))
    ap.add_argument("--baseline", help="an older brine binary to compare with")
    ap.add_argument("--workdir", default="/tmp/brine-bench-linear")
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-floods", action="store_true")
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    marker = str(work / "marker-dir" / "BRINE_PAYLOAD_RAN")
    import torch
    files = checkpoints(torch, work, [int(s) for s in a.sizes.split(",")])
    if not a.no_floods:
        files += floods(torch, work, marker)
    bins = [("brine", a.brine)] + ([("baseline", a.baseline)] if a.baseline else [])
    print("%-26s %9s %8s  %-8s %-9s %10s %12s" % ("file", "size kB", "units", "binary",
                                                  "command", "seconds", "us per unit"))

    def row(p, n, unit, who, what, t):
        shown = "> %g" % a.timeout if t is None else "%.3f" % t
        per = "" if t is None else "%.2f" % (t / n * 1e6)
        print("%-26s %9d %8d  %-8s %-9s %10s %12s" % (p.name, p.stat().st_size // 1024, n, who,
                                                      what, shown, per), flush=True)

    for p, n, unit in files:
        for who, exe in bins:
            row(p, n, unit, who, "scan", timed([exe, "scan", str(p)], a.runs, a.timeout))
            if unit == "tensors":
                row(p, n, unit, who, "inspect",
                    timed([exe, "inspect", "--format", "json", str(p)], a.runs, a.timeout))
                dst = work / (p.stem + ".safetensors")

                def convert(exe=exe, dst=dst):
                    for f in (dst, dst.with_suffix(".config.json")):
                        if f.exists():
                            f.unlink()
                    return [exe, "convert", str(p), str(dst)]
                best = None
                for _ in range(a.runs):
                    cmd = convert()
                    t = timed(cmd, 1, a.timeout)
                    if t is None:
                        best = None
                        break
                    best = t if best is None or t < best else best
                row(p, n, unit, who, "convert", best)
        if unit == "tensors":
            code = "import sys, torch; torch.load(sys.argv[1], weights_only=True)"
            row(p, n, unit, "torch", "load",
                timed([sys.executable, "-c", code, str(p)], a.runs, a.timeout))
    assert not os.path.exists(marker), "a payload ran"


if __name__ == "__main__":
    main()
