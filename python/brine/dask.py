"""Scanning many files on a Dask distributed cluster: one JSONL line per file.

    from distributed import Client, LocalCluster
    import brine.dask

    with LocalCluster(n_workers=8, threads_per_worker=1) as cluster, Client(cluster) as client:
        summary = brine.dask.scan_files(paths, client, "scan.jsonl")

Each task runs `scan_file`, a pure function of the path (no shared state, so a task can be
re-run anywhere), over a batch of paths. The client writes each result as it arrives and flushes, so the
JSONL holds every finished file even if the client is interrupted; `resume=True` skips paths
already in it. Nothing is lost when a worker dies mid-task: the scheduler re-runs the task on
another worker (distributed's `allowed-failures` deaths per task, then KilledWorker), and a
file whose task still fails — or whose scan raises — is recorded as a line with "failed":
true, never dropped. At most `window` tasks are in flight, so a list of millions of paths does not flood the
scheduler. No scheduling is done here: that is distributed's job.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from ._errors import BrineError
from ._scan import scan


def scan_file(path: str, allow: Iterable[str] = (),
              limits: Optional[Mapping[str, int]] = None) -> Dict[str, Any]:
    """Scans one file and returns its JSONL record: {"path", "verdict", "format", "findings":
    [{"rule", "verdict", "message", "offset", "member", "global"}], "globals", "tensors"
    (how many)} — or {"path", "error", "status"} when brine cannot read it."""
    try:
        r = scan(path, allow=allow, limits=limits)
    except BrineError as exc:
        return {"path": path, "error": exc.message, "status": type(exc).__name__}
    return {"path": path, "verdict": r.verdict, "format": r.format,
            "findings": [{"rule": f.rule, "verdict": f.verdict, "message": f.message,
                          "offset": f.offset, "member": f.member, "global": f.global_}
                         for f in r.findings],
            "globals": r.globals, "tensors": len(r.tensors)}


def _done_paths(out_jsonl: str) -> set:
    done = set()
    try:
        with open(out_jsonl, encoding="utf-8") as f:
            for line in f:
                try:
                    done.add(json.loads(line)["path"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that path is scanned again
    except FileNotFoundError:
        pass
    return done


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def scan_batch(paths: List[str], allow: Iterable[str] = (),
               limits: Optional[Mapping[str, int]] = None, retries: int = 2,
               scanner: Callable[..., Dict[str, Any]] = scan_file) -> List[Dict[str, Any]]:
    """The task: scanner over a few paths, one record each. A scanner that raises is tried
    again up to `retries` times and then recorded as {"path", "error", "failed": true}; a
    worker that dies takes the whole batch with it, and the scheduler runs it again."""
    records = []
    for path in paths:
        for attempt in range(retries + 1):
            try:
                records.append(scanner(path, allow=allow, limits=limits))
                break
            except Exception as exc:  # noqa: BLE001 - recorded, never lost
                if attempt == retries:
                    records.append({"path": path, "error": f"{type(exc).__name__}: {exc}",
                                    "failed": True})
    return records


def scan_files(paths: Iterable[str], client, out_jsonl: str, allow: Iterable[str] = (),
               limits: Optional[Mapping[str, int]] = None, retries: int = 2,
               batch_size: int = 32, window: int = 1000, resume: bool = False,
               scanner: Callable[..., Dict[str, Any]] = scan_file) -> Dict[str, int]:
    """Scans every path on the cluster behind `client` (a distributed.Client), writing one
    JSON line per path to out_jsonl (appending when resume=True, which also skips paths
    already recorded there). Duplicate paths are scanned once. Paths go to the workers in
    tasks of `batch_size` (one task per file costs the scheduler more than brine's scan of a
    small file); at most `window` tasks are in flight. `retries`: how many times a scanner
    that raised is tried again. `scanner` is the per-file function (scan_file, or a wrapper of
    it). Returns counts: {"files", "safe", "unverified", "invalid", "unsafe", "errors",
    "failed", "skipped"}."""
    from distributed import as_completed

    if batch_size < 1 or window < 1:
        raise ValueError("batch_size and window must be at least 1")
    allow = tuple(allow)
    limits = dict(limits) if limits is not None else None
    done = _done_paths(out_jsonl) if resume else set()
    counts = {"files": 0, "safe": 0, "unverified": 0, "invalid": 0, "unsafe": 0, "errors": 0,
              "failed": 0, "skipped": 0}
    seen = set()

    def batches():
        batch = []
        for p in paths:
            p = os.fspath(p)
            if p in seen:
                continue
            seen.add(p)
            if p in done:
                counts["skipped"] += 1
                continue
            batch.append(p)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    pending = batches()
    paths_of = {}

    def submit(n):
        futures = []
        for batch in pending:
            fut = client.submit(scan_batch, batch, allow=allow, limits=limits, retries=retries,
                                scanner=scanner, pure=False)
            paths_of[fut.key] = batch
            futures.append(fut)
            if len(futures) >= n:
                break
        return futures

    def write(out, record):
        if record.get("failed"):
            counts["failed"] += 1
        else:
            counts[record["verdict"] if "verdict" in record else "errors"] += 1
        counts["files"] += 1
        out.write(json.dumps(record, ensure_ascii=False) + "\n")

    with open(out_jsonl, "a" if resume else "w", encoding="utf-8") as out:
        if resume and out.tell() > 0 and not _ends_with_newline(out_jsonl):
            out.write("\n")  # a line cut by a crash stays alone on its line
        stream = as_completed(submit(window), with_results=True, raise_errors=False)
        for fut, result in stream:
            batch = paths_of.pop(fut.key)
            if fut.status != "finished":
                # KilledWorker (the batch killed allowed-failures workers) or a cancelled
                # task; with raise_errors=False an error comes as (type, exception, traceback)
                exc = result[1] if isinstance(result, tuple) and len(result) == 3 else result
                result = [{"path": p, "error": f"{type(exc).__name__}: {exc}", "failed": True}
                          for p in batch]
            for record in result:
                write(out, record)
            out.flush()
            fut.release()
            for nxt in submit(1):
                stream.add(nxt)
    return counts
