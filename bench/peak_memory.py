#!/usr/bin/python3
"""Benchmark: peak memory and time of `brine scan` on the worst inputs — pickle bombs, zip
bombs, huge declared lengths — next to each file's size.

usage: /usr/bin/python3 bench/peak_memory.py [--brine build/brine] [--workdir DIR]

Every input is hand-assembled bytes (nothing is pickled from objects, nothing is loaded).
For each: file size, brine's verdict and the limit it reports (if any), wall time, and peak
resident memory (ru_maxrss of the child), with the amplification peak / file size. The
documented bounds are the limits in src/core/limits.h (max_memory: 2 GiB per file by
default); this shows how close the worst inputs get. A benchmark, never a test.
"""

import argparse
import json
import os
import resource
import struct
import subprocess
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def zip_one(name, payload, level=9):
    """A minimal zip with one deflated entry (raw deflate, central directory, EOCD)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    data = c.compress(payload) + c.flush()
    crc = zlib.crc32(payload)
    n = name.encode()
    local = (b"PK\x03\x04" + struct.pack("<HHHHHIII", 20, 0, 8, 0, 0, crc, len(data), len(payload))
             + struct.pack("<HH", len(n), 0) + n)
    cd = (b"PK\x01\x02" + struct.pack("<HHHHHHIII", 20, 20, 0, 8, 0, 0, crc, len(data), len(payload))
          + struct.pack("<HHHHHII", len(n), 0, 0, 0, 0, 0, 0) + n)
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(cd), len(local) + len(data), 0)
    return local + data + cd + eocd


def inputs():
    mb = 1 << 20
    out = {}
    # pickle bombs: many nodes that stay alive in the graph
    out["nodes: EMPTY_LIST+POP x 8M"] = b"\x80\x02" + b"]0" * (8 * mb) + b"N."
    out["nodes: EMPTY_LIST+APPEND into one list x 8M"] = b"\x80\x02]" + b"]a" * (8 * mb) + b"."
    out["nodes: EMPTY_LIST+APPEND into one list x 12M"] = b"\x80\x02]" + b"]a" * (12 * mb) + b"."
    out["stack: MARK flood 16 MB"] = b"(" * (16 * mb) + b"."
    out["stack: NONE flood 16 MB"] = b"N" * (16 * mb) + b"."
    out["memo: BINPUT flood x 4M distinct"] = b"\x80\x02N" + b"".join(
        b"r" + u32(i) for i in range(4 * mb)) + b"."
    laughs = b"\x80\x02]q\x00"
    for k in range(60):
        laughs += b"(h" + bytes([k]) + b"h" + bytes([k]) + b"lq" + bytes([k + 1])
    out["billion laughs: 60 levels of shared lists"] = laughs + b"."
    out["depth: 1M nested lists"] = b"\x80\x02" + b"]" * mb + b"a" * (mb - 1) + b"."
    out["opcodes: 64M DUP/POP"] = b"\x80\x02N" + b"20" * (32 * mb) + b"."
    # huge declared lengths
    out["length: BINUNICODE8 2^63"] = b"\x80\x04\x8d" + u64(1 << 63) + b"abc."
    out["length: BINBYTES8 2^64-1"] = b"\x80\x04\x8e" + u64(2**64 - 1) + b"abc."
    out["length: FRAME 2^62"] = b"\x80\x04\x95" + u64(1 << 62) + b"N."
    out["length: LONG_BINPUT 0xffffffff"] = b"\x80\x02Nr" + u32(0xFFFFFFFF) + b"."
    out["length: 50 MB escaped STRING"] = b"S'" + b"\\x41" * (12 * mb) + b"'\n."
    # zip bombs
    out["zip: data.pkl deflated 1 GiB of zeros"] = zip_one("archive/data.pkl", bytes(1 << 30))
    out["zip: data/0 deflated 1 GiB of zeros"] = zip_one("archive/data/0", bytes(1 << 30))
    return out


def run(brine, path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run([brine, "scan", "--format", "json", path], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    verdict, why = "?", ""
    try:
        f = json.loads(p.stdout)["files"][0]
        verdict = f["verdict"]
        lim = [x for x in f["findings"] if x["rule"] == "limit"]
        if lim:
            why = lim[0]["message"][:70]
    except (ValueError, KeyError, IndexError):
        why = f"exit {p.returncode}: {p.stderr.strip()[-70:]}"
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: only exact when it grows
    return p.returncode, verdict, why, dt, peak, peak > before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brine", default=os.path.join(REPO, "build", "brine"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench", "worst"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rows = []
    for i, (name, data) in enumerate(inputs().items()):
        path = os.path.join(args.workdir, f"w{i:02d}")
        with open(path, "wb") as f:
            f.write(data)
        # a fresh Python per input, so ru_maxrss is this child's own peak
        out = subprocess.run(
            ["/usr/bin/python3", "-c",
             "import sys; sys.path.insert(0, sys.argv[3]); import peak_memory as m;"
             "print(repr(m.run(sys.argv[1], sys.argv[2])))",
             args.brine, path, os.path.dirname(os.path.abspath(__file__))],
            capture_output=True, text=True, check=True).stdout
        rc, verdict, why, dt, peak_kb, _ = eval(out)  # our own repr of a tuple
        rows.append((name, len(data), verdict, why, dt, peak_kb * 1024))
        os.unlink(path)
    print(f"{'input':46} {'file':>9} {'peak RSS':>10} {'x file':>8} {'time':>8}  verdict / limit")
    for name, size, verdict, why, dt, peak in rows:
        print(f"{name:46} {size / 1048576:8.2f}M {peak / 1048576:9.1f}M {peak / max(size, 1):8.0f}"
              f" {dt:7.2f}s  {verdict} {why}")


if __name__ == "__main__":
    main()
