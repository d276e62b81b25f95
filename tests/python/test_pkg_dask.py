"""brine.dask on a real distributed LocalCluster (2 worker processes, 1 thread each).

The files are written here (pickles, torch checkpoints, the committed samples, unreadable
paths); each JSONL record is checked against brine.scan run in this process, and every path
must appear exactly once — also when a worker process dies in the middle of a task (the task
function calls os._exit the first time it meets a flag file) and when a task raises on every
try (recorded as failed). The hostile sample's payload touches a marker that must not appear.
"""

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster

import pkgtest

import brine
import brine.dask


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    d = tmp_path_factory.mktemp("tree")
    paths = []
    for i in range(60):
        p = d / f"arr_{i}.pkl"
        p.write_bytes(pickle.dumps({"w": np.arange(i + 1, dtype=np.float32)}, protocol=i % 6))
        paths.append(p)
    for i in range(10):
        p = d / f"ck_{i}.pt"
        torch.save({"w": torch.ones(i + 1), "step": i}, p)
        paths.append(p)
    for s in sorted(pkgtest.SAMPLES.iterdir()):
        shutil.copy(s, d / s.name)
        paths.append(d / s.name)
    (d / "cut.pkl").write_bytes((pkgtest.SAMPLES / "state_dict_raw.pkl").read_bytes()[:50])
    paths.append(d / "cut.pkl")
    paths.append(d / "missing.pkl")          # brine cannot open it: an error record
    os.mkdir(d / "adir")
    paths.append(d / "adir")                  # not a regular file: an error record
    return d, [str(p) for p in paths]


def _records(out):
    lines = Path(out).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _check_against_local(records):
    for r in records:
        if r.get("failed"):
            continue
        if "error" in r:
            with pytest.raises(brine.BrineError):
                brine.scan(r["path"])
            continue
        local = brine.scan(r["path"])
        assert (r["verdict"], r["format"], r["globals"]) == \
            (local.verdict, local.format, local.globals), r["path"]
        assert [f["rule"] for f in r["findings"]] == [f.rule for f in local.findings]


def test_scan_files(client, tree, tmp_path):
    d, paths = tree
    out = tmp_path / "scan.jsonl"
    summary = brine.dask.scan_files(paths + paths[:5], client, str(out),   # duplicates once
                                    batch_size=7)
    recs = _records(out)
    assert sorted(r["path"] for r in recs) == sorted(paths)
    assert summary["files"] == len(paths) and summary["failed"] == 0
    assert summary["unsafe"] == 1 and summary["errors"] == 2 and summary["invalid"] == 1
    _check_against_local(recs)
    assert summary == {**summary, "safe": len(paths) - 4}


def killer(path, **kw):
    """The task function of the worker-death test: the first task to find the flag file
    removes it and kills its worker process outright (no exception, no cleanup)."""
    flag = os.environ.get("BRINE_TEST_KILL_FLAG") or str(Path(path).parent / "KILL")
    if path.endswith("arr_7.pkl") and os.path.exists(flag):
        os.remove(flag)
        os._exit(1)
    if path.endswith("arr_9.pkl"):
        raise RuntimeError("this task always fails")
    return brine.dask.scan_file(path, **kw)


def test_worker_death_loses_nothing(client, tree, tmp_path):
    d, paths = tree
    flag = d / "KILL"
    flag.write_text("kill once")
    out = tmp_path / "scan.jsonl"
    before = set(client.scheduler_info()["workers"])
    summary = brine.dask.scan_files(paths, client, str(out), scanner=killer, retries=1,
                                    batch_size=4, window=3)
    assert not flag.exists(), "the killing task never ran"
    recs = _records(out)
    assert sorted(r["path"] for r in recs) == sorted(paths)       # each path exactly once
    failed = [r for r in recs if r.get("failed")]
    assert [Path(r["path"]).name for r in failed] == ["arr_9.pkl"]
    assert "always fails" in failed[0]["error"] and summary["failed"] == 1
    victim = next(r for r in recs if r["path"].endswith("arr_7.pkl"))
    assert victim["verdict"] == "safe"                             # re-run after the death
    _check_against_local(recs)
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before       # a worker was replaced


def test_resume(client, tree, tmp_path):
    d, paths = tree
    out = tmp_path / "scan.jsonl"
    brine.dask.scan_files(paths[:20], client, str(out))
    with open(out, "a") as f:
        f.write('{"path": "' + paths[20])                          # a line cut by a crash
    summary = brine.dask.scan_files(paths, client, str(out), resume=True)
    assert summary["skipped"] == 20 and summary["files"] == len(paths) - 20
    recs = [json.loads(line) for line in out.read_text().splitlines()
            if line.endswith("}")]
    assert sorted(r["path"] for r in recs) == sorted(paths)
