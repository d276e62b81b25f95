#!/usr/bin/python3
"""Benchmark (issue 11 item 3): `brine scan` throughput and peak memory on raw pickles.

usage: ${BRINE_VENV_PYTHON} bench/raw_pickle.py [--brine build/brine] [--baseline OLD_BRINE]
           [--workdir DIR] [--sizes 1,10,100] [--kinds records-p4,records-p2,floats-p4,nested-p5]
           [--runs 5] [--csv FILE]

Writes (cached in WORKDIR, deterministic) raw `.pkl` files of about 1, 10 and 100 MB with
the standard library's pickle — nothing is ever loaded:
  records-p4  a list of dicts of str/int/float/bool, protocol 4 (FRAME, MEMOIZE; the dict
              keys are memo back references, BINGET)
  records-p2  the same at protocol 2 (BINPUT / LONG_BINPUT, no frames)
  floats-p4   one long list of floats, protocol 4 (BINFLOAT, APPENDS batches)
  nested-p5   a tree of dicts of lists of tuples (depth 6), protocol 5
Then runs `brine scan FILE` RUNS times per file under /usr/bin/time -f '%e %M', interleaved
with the --baseline binary when given, and prints one markdown table row per (file, binary):
median wall time, spread (min-max), MB/s (file size / median), median CPU time (user +
system; this machine is shared, so CPU time is the steadier figure) and MB per CPU second,
peak RSS and RSS / file size.
The issue's targets: >= 50 MB/s and peak RSS <= 4x the pickle. A benchmark, never a test.
Other scripts (bench/ of wp-perfio) may import rows() to mirror these rows.
"""

import argparse
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000
KINDS = ("records-p4", "records-p2", "floats-p4", "nested-p5")


def record(rng, i):
    return {"id": i, "name": "user%d-%x" % (i, rng.getrandbits(32)),
            "score": rng.random() * 100.0, "active": bool(i & 1)}


def nested_leaf(rng, i):
    return {"layer": "block%d" % i,
            "shape": (rng.randrange(1, 512), rng.randrange(1, 512)),
            "values": [rng.random() for _ in range(8)],
            "pairs": [(j, "k%d" % j) for j in range(4)]}


def make_items(kind, rng, n):
    if kind.startswith("records"):
        return [record(rng, i) for i in range(n)]
    if kind == "floats-p4":
        return [rng.random() for _ in range(n)]
    # nested: groups of 16 leaves under 4 levels of dicts and lists
    leaves = [nested_leaf(rng, i) for i in range(n)]
    groups = [{"g%d" % k: leaves[k:k + 16]} for k in range(0, len(leaves), 16)]
    level = groups
    for depth in range(3):
        level = [{"d%d" % depth: level[k:k + 8]} for k in range(0, len(level), 8)]
    return level


def protocol(kind):
    return int(kind.rsplit("-p", 1)[1])


def generate(kind, size_mb, workdir):
    path = Path(workdir) / ("%s-%dMB.pkl" % (kind, size_mb))
    if path.exists():
        return path
    rng = random.Random(11)
    sample = len(pickle.dumps(make_items(kind, random.Random(1), 4096), protocol=protocol(kind)))
    n = max(16, int(size_mb * MB * 4096 / sample))
    data = pickle.dumps(make_items(kind, rng, n), protocol=protocol(kind))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
    return path


def run_once(brine, path):
    """(wall seconds, peak RSS in kB, exit status, CPU seconds) of one `brine scan path`."""
    with tempfile.NamedTemporaryFile("r") as tf:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "-o", tf.name, str(brine),
                               "scan", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        fields = tf.read().split()
    return wall, int(fields[-3]), proc.returncode, float(fields[-2]) + float(fields[-1])


def rows(brines, paths, runs):
    """Yields dicts per (path, label): interleaved runs, medians."""
    for path in paths:
        size = path.stat().st_size
        samples = {label: [] for label, _ in brines}
        for _ in range(runs):
            for label, exe in brines:
                samples[label].append(run_once(exe, path))
        for label, _ in brines:
            walls = sorted(s[0] for s in samples[label])
            med = statistics.median(walls)
            rss = max(s[1] for s in samples[label]) * 1024
            cpu = statistics.median(s[3] for s in samples[label])
            yield {"file": path.name, "size": size, "brine": label, "median_s": med,
                   "min_s": walls[0], "max_s": walls[-1], "mb_s": size / MB / med, "cpu_s": cpu,
                   "cpu_mb_s": size / MB / cpu if cpu > 0 else float("inf"),
                   "rss": rss, "rss_ratio": rss / size,
                   "exit": sorted({s[2] for s in samples[label]})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brine", default=str(REPO / "build" / "brine"))
    ap.add_argument("--baseline", help="an older brine binary, run interleaved")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "brine-raw-pickle"))
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--csv", help="also write the rows to this CSV file")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            sys.exit("unknown kind %s (known: %s)" % (k, ", ".join(KINDS)))
    paths = [generate(k, int(s), a.workdir) for s in a.sizes.split(",") for k in kinds]
    brines = [("brine", a.brine)] + ([("baseline", a.baseline)] if a.baseline else [])
    print("| file | MB | binary | median s | spread s | MB/s | CPU s | MB/CPU-s | peak RSS MB "
          "| RSS/size | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    out = []
    for r in rows(brines, paths, a.runs):
        out.append(r)
        print("| %s | %.1f | %s | %.3f | %.3f-%.3f | %.1f | %.2f | %.1f | %.1f | %.2f | %s |" % (
            r["file"], r["size"] / MB, r["brine"], r["median_s"], r["min_s"], r["max_s"],
            r["mb_s"], r["cpu_s"], r["cpu_mb_s"], r["rss"] / MB, r["rss_ratio"], ",".join(map(str, r["exit"]))),
            flush=True)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("file,size,brine,median_s,min_s,max_s,mb_s,cpu_s,rss,rss_ratio\n")
            for r in out:
                f.write("%s,%d,%s,%.4f,%.4f,%.4f,%.2f,%.3f,%d,%.3f\n" % (
                    r["file"], r["size"], r["brine"], r["median_s"], r["min_s"], r["max_s"],
                    r["mb_s"], r["cpu_s"], r["rss"], r["rss_ratio"]))


if __name__ == "__main__":
    main()
