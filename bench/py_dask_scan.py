"""Throughput of brine.dask.scan_files on ~1,000 small files, per worker.

usage: BRINE_LIBRARY=build/libbrine.so PYTHONPATH=python python bench/py_dask_scan.py [N] [WORKERS] [BATCH]

Writes N small model files (pickled dicts of numpy arrays, protocols 2-5, and torch.save
checkpoints of a few KiB), then scans them with a LocalCluster(n_workers=WORKERS,
threads_per_worker=1, processes=True), timing scan_files alone (cluster already up), and
scans them in this process with brine.dask.scan_file in a loop for comparison.
"""

import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from distributed import Client, LocalCluster

import brine.dask


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    d = Path(tempfile.mkdtemp(prefix="brine-dask-bench-"))
    paths = []
    for i in range(n):
        p = d / f"f{i:05d}.{'pt' if i % 4 == 0 else 'pkl'}"
        if i % 4 == 0:
            torch.save({"w": torch.randn(16, 16), "b": torch.zeros(16), "step": i}, p)
        else:
            p.write_bytes(pickle.dumps({"w": np.random.rand(32, 8), "i": i}, protocol=2 + i % 4))
        paths.append(str(p))
    size = sum(Path(p).stat().st_size for p in paths)
    t0 = time.perf_counter()
    for p in paths:
        brine.dask.scan_file(p)
    local = time.perf_counter() - t0
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(lambda: __import__("brine").scan(paths[0]))   # warm the workers
        t0 = time.perf_counter()
        summary = brine.dask.scan_files(paths, client, str(d / "out.jsonl"), batch_size=batch)
        dist = time.perf_counter() - t0
    lines = (d / "out.jsonl").read_text().splitlines()
    assert len(lines) == n and summary["safe"] == n, summary
    print(json.dumps({"files": n, "bytes": size, "workers": workers, "batch_size": batch,
                      "in_process_files_per_s": round(n / local, 1),
                      "dask_seconds": round(dist, 2),
                      "dask_files_per_s": round(n / dist, 1),
                      "dask_files_per_s_per_worker": round(n / dist / workers, 1)}))


if __name__ == "__main__":
    main()
