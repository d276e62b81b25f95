"""brine.load_state_dict against torch.load(weights_only=True) on the same checkpoints.

Run with the project venv (torch 2.x) or /usr/bin/python3 (Debian's torch 1.13), from a build
tree: BRINE_LIBRARY=build/libbrine.so PYTHONPATH=python python bench/load_state_dict.py
Writes a ~48 MiB checkpoint (zip and, if asked, legacy) of a small transformer-like model plus an
optimizer state, then times both loaders interleaved, REPS times each; prints medians.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import brine


def checkpoint(legacy: bool, path: Path) -> None:
    torch.manual_seed(0)
    layers = {}
    for i in range(24):  # 24 x (2 x 256 x 1024 x 4 bytes) ~ 48 MiB
        layers["layers.%d.attn.weight" % i] = torch.randn(256, 1024)
        layers["layers.%d.mlp.weight" % i] = torch.randn(1024, 256)
        layers["layers.%d.mlp.bias" % i] = torch.randn(1024)
        layers["layers.%d.norm.weight" % i] = torch.ones(256)
    obj = {"model": layers, "epoch": 3, "step": 12345}  # no floats: torch 1.13 refuses BINFLOAT
    torch.save(obj, str(path), _use_new_zipfile_serialization=not legacy)


def timed(fn, *args, **kw) -> float:
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for legacy in (False, True):
            path = Path(d) / ("legacy.pt" if legacy else "zip.pt")
            checkpoint(legacy, path)
            a = torch.load(str(path), weights_only=True)
            b = brine.load_state_dict(str(path))
            assert a.keys() == b.keys() and all(
                torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
            rows = {"torch.load(weights_only=True)": [], "brine.load_state_dict": [],
                    "brine.load_state_dict(mmap=True)": []}
            for _ in range(args.reps):  # interleaved: the machine's noise hits both alike
                rows["torch.load(weights_only=True)"].append(
                    timed(torch.load, str(path), weights_only=True))
                rows["brine.load_state_dict"].append(timed(brine.load_state_dict, str(path)))
                rows["brine.load_state_dict(mmap=True)"].append(
                    timed(brine.load_state_dict, str(path), mmap=True))
            base = statistics.median(rows["torch.load(weights_only=True)"])
            size = path.stat().st_size / 2**20
            print("%s checkpoint, %.1f MiB, torch %s, median of %d:" % (
                "legacy" if legacy else "zip", size, torch.__version__, args.reps))
            for name, ts in rows.items():
                m = statistics.median(ts)
                print("  %-36s %7.1f ms  (%.2fx torch.load's time)" % (name, m * 1e3, m / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
