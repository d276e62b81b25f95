#!/usr/bin/python3
"""Benchmark: files per second scanning a folder of 1,000 small pickles, brine vs the
pickletools approach of the Python scanners.

usage: /usr/bin/python3 bench/scan_small_files.py [--brine build/brine] [--workdir DIR]
                                                  [--files 1000] [--runs 5]

Writes (once, cached in WORKDIR/small) FILES small pickles of the kinds a model folder holds:
builtin containers and scalars, numpy arrays, torch tensors pickled raw, small sklearn
estimators, across protocols 0-5, and about 2% hand-assembled malicious pickles (os.system,
never loaded). Then measures, best of RUNS:

  brine      `brine scan -r DIR --format json > /dev/null`, the whole command (process start,
             directory walk, mapping each file, the symbolic machine, the policy, the report)
  pickletools  a Python loop doing what picklescan and modelscan do per file: read it, walk
             every opcode of every concatenated pickle with pickletools.genops, collect the
             GLOBAL/INST names and resolve STACK_GLOBAL operands through a memo of the
             preceding string opcodes, then look the names up in a denylist. Timed inside
             the Python process (interpreter start-up and imports excluded, which favours it).

Prints files/second for each and the ratio (DESIGN.md's target: at least 100x). A benchmark,
never a test; nothing here loads a pickle.
"""

import argparse
import os
import pickle
import shutil
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------ the folder


def make_folder(path, n_files):
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int)
    estimators = [LogisticRegression().fit(X, y), DecisionTreeClassifier(max_depth=2).fit(X, y)]
    cmd = b"echo brine-bench"

    def malicious(i):
        if i % 2:
            return b"cos\nsystem\n(S'" + cmd + b"'\ntR."
        return (b"\x80\x04\x95" + struct.pack("<Q", 0) + b"\x8c\x05posix\x94\x8c\x06system\x94\x93"
                + b"\x8c" + bytes([len(cmd)]) + cmd + b"\x85R.")

    def benign(i):
        kind = i % 6
        proto = i % 6
        if kind == 0:
            obj = {"epoch": i, "lr": 0.001 * i, "name": f"run-{i}", "tags": ["a", "b"], "ok": True}
        elif kind == 1:
            obj = [list(range(i % 50)), {"nested": {"k": (1, 2.5, None)}}, b"\x00" * (i % 64)]
        elif kind == 2:
            obj = rng.standard_normal((4, 1 + i % 16)).astype(np.float32)
            proto = max(proto, 2)
        elif kind == 3:
            obj = {"w": torch.arange(1 + i % 32, dtype=torch.float32), "b": torch.zeros(2)}
            proto = max(proto, 2)
        elif kind == 4:
            obj = estimators[i % 2]
            proto = max(proto, 2)
        else:
            obj = {"counts": {str(k): k * k for k in range(i % 40)}, "s": "text" * (i % 10)}
        return pickle.dumps(obj, protocol=proto)

    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for i in range(n_files):
        data = malicious(i) if i % 50 == 7 else benign(i)
        with open(os.path.join(tmp, f"f{i:05d}.pkl"), "wb") as f:
            f.write(data)
    os.replace(tmp, path)


# ------------------------------------------------------------------ the pickletools loop

PICKLETOOLS_LOOP = r'''
import io, os, pickletools, sys, time
DENY = {("os", "system"), ("posix", "system"), ("nt", "system"), ("builtins", "eval"),
        ("builtins", "exec"), ("__builtin__", "eval"), ("subprocess", "Popen")}
STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
           "BINSTRING", "SHORT_BINSTRING"}

def globals_of(data):
    """picklescan's _list_globals, in essence."""
    found = set()
    stream = io.BytesIO(data)
    pos = 0
    while pos < len(data):
        ops = []
        memo = {}
        stream.seek(pos)
        try:
            for op, arg, p in pickletools.genops(stream):
                ops.append((op, arg))
                name = op.name
                if name in ("PUT", "BINPUT", "LONG_BINPUT") and len(ops) > 1:
                    memo[arg] = ops[-2][1]
                elif name == "MEMOIZE" and len(ops) > 1:
                    memo[len(memo)] = ops[-2][1]
                elif name in ("GLOBAL", "INST"):
                    found.add(tuple(str(arg).split(" ", 1)))
                elif name == "STACK_GLOBAL":
                    vals = []
                    for o, a in reversed(ops[:-1]):
                        if o.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                            continue
                        if o.name in ("GET", "BINGET", "LONG_BINGET"):
                            vals.append(memo.get(a, "unknown"))
                        elif o.name in STRINGS:
                            vals.append(a)
                        else:
                            vals.append("unknown")
                        if len(vals) == 2:
                            break
                    if len(vals) == 2:
                        found.add((str(vals[1]), str(vals[0])))
                if name == "STOP":
                    pos = p + 1
                    break
            else:
                break
        except Exception:
            break
    return found

root = sys.argv[1]
t0 = time.perf_counter()
n = bad = 0
for dirpath, _, names in os.walk(root):
    for name in names:
        with open(os.path.join(dirpath, name), "rb") as f:
            data = f.read()
        n += 1
        if globals_of(data) & DENY:
            bad += 1
dt = time.perf_counter() - t0
print(f"{n} {bad} {dt:.6f}")
'''


def time_pickletools(folder, runs):
    """Best in-process time and best whole-command time (with interpreter start-up)."""
    best = whole = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PICKLETOOLS_LOOP, folder], check=True,
                             capture_output=True, text=True).stdout.split()
        w = time.perf_counter() - t0
        n, bad, dt = int(out[0]), int(out[1]), float(out[2])
        best = dt if best is None else min(best, dt)
        whole = w if whole is None else min(whole, w)
    return n, bad, best, whole


def time_brine(brine, folder, runs):
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([brine, "scan", "-r", folder, "--format", "json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if p.returncode not in (0, 1):
            raise SystemExit(f"brine failed ({p.returncode}): {p.stderr.decode()[-500:]}")
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brine", default=os.path.join(REPO, "build", "brine"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    folder = os.path.join(args.workdir, f"small-{args.files}")
    if not os.path.isdir(folder):
        os.makedirs(args.workdir, exist_ok=True)
        print(f"writing {args.files} pickles to {folder} ...", file=sys.stderr)
        make_folder(folder, args.files)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))

    # warm the page cache and check both see the same malicious files
    p = subprocess.run([args.brine, "scan", "-r", folder, "--format", "json"],
                       capture_output=True, text=True)
    import json
    doc = json.loads(p.stdout)
    brine_unsafe = doc["summary"].get("unsafe", 0)

    n, bad, t_py, t_py_whole = time_pickletools(folder, args.runs)
    t_brine = time_brine(args.brine, folder, args.runs)
    fps_brine = n / t_brine
    fps_py = n / t_py
    print(f"folder: {n} pickles, {size / 1024:.0f} KiB, {folder}")
    print(f"brine scan -r --format json   {t_brine * 1000:9.1f} ms  {fps_brine:10.0f} files/s"
          f"  (whole command; {brine_unsafe} unsafe)")
    print(f"pickletools.genops loop       {t_py * 1000:9.1f} ms  {fps_py:10.0f} files/s"
          f"  (in-process; {bad} denylisted)")
    print(f"pickletools.genops loop       {t_py_whole * 1000:9.1f} ms  {n / t_py_whole:10.0f} files/s"
          f"  (whole command, with interpreter start-up)")
    print(f"ratio: brine is {fps_brine / fps_py:.1f}x the files/second of the pickletools loop"
          f" ({t_py_whole / t_brine:.1f}x comparing whole commands; best of {args.runs} runs each)")


if __name__ == "__main__":
    main()
