#!/usr/bin/python3
"""Benchmark: brine on a ~1 GiB PyTorch checkpoint, next to cp and torch.

usage: /usr/bin/python3 bench/torch_convert.py [--brine build/brine] [--workdir DIR]
                                               [--tensors 16] [--mib 64] [--runs 5]

Builds (once, cached in the work directory) a checkpoint of TENSORS float32 tensors of MIB
MiB each with torch.save, then reports in one run:
  - `brine convert CKPT OUT.safetensors` vs `cp CKPT OUT` (and cp + fsync of the copy, since
    brine's atomic writer fsyncs) vs torch.load(weights_only=True) + a safetensors file
    written from Python by hand (struct + json, fsync + rename like brine);
  - loading every tensor with libbrine (bench/torch_convert.c: brine_model_open + touching
    each page of each tensor, or reading every byte) vs torch.load(weights_only=True), both
    timed inside their process, and as whole commands;
  - `brine scan CKPT` and `brine diff CKPT CKPT`;
  - peak RSS of each command (file-backed mapped pages count in RSS).
Whole commands are timed with hyperfine (warm page cache: the checkpoint is read once
first). Prints a table and the ratios DESIGN.md sets targets for (convert within 1.3x of cp,
load at least 5x faster than torch). A benchmark, never a test.
"""

import argparse
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"

ST_NAME = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16",
           "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
           "bool": "BOOL", "complex64": "C64"}


# ------------------------------------------------------------------ the Python side


def flatten(obj, prefix="", out=None):
    import torch
    out = {} if out is None else out
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, "%s.%s" % (prefix, k) if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, "%s.%d" % (prefix, i) if prefix else str(i), out)
    return out


def write_safetensors(tensors, path):
    """A safetensors file by hand: u64 header length, JSON header padded to 8, the data;
    written to a temporary file, fsynced and renamed, as brine's writer does."""
    import torch
    names = sorted(tensors)
    header, offset, parts = {"__metadata__": {"format": "pt"}}, 0, []
    for n in names:
        t = tensors[n].detach().contiguous()
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        a = t.numpy()
        header[n] = {"dtype": ST_NAME[str(tensors[n].dtype).replace("torch.", "")],
                     "shape": list(t.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        parts.append(a)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for a in parts:
            f.write(memoryview(a).cast("B"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def py_convert(ckpt, out):
    import torch
    t0 = time.perf_counter()
    obj = torch.load(ckpt, weights_only=True)
    write_safetensors(flatten(obj), out)
    print("inprocess %.6f" % (time.perf_counter() - t0))


def py_load(ckpt, runs):
    import torch
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        obj = torch.load(ckpt, weights_only=True)
        n = sum(t.numel() for t in flatten(obj).values())
        times.append(time.perf_counter() - t0)
        del obj
    times.sort()
    print("best %.6f median %.6f elements %d" % (times[0], times[len(times) // 2], n))


# ------------------------------------------------------------------ the driver


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s%s" % (r.returncode, " ".join(map(str, cmd)), r.stdout,
                                            r.stderr))
    return r


def build_checkpoint(path, tensors, mib):
    stamp = path.with_suffix(".json")
    want = {"tensors": tensors, "mib": mib}
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        return
    import torch
    torch.manual_seed(0)
    n = mib * 1024 * 1024 // 4
    sd = {"layer%02d.weight" % i: torch.empty(n, dtype=torch.float32).uniform_(-1, 1)
          .reshape(-1, 1024) for i in range(tensors)}
    torch.save(sd, str(path))
    stamp.write_text(json.dumps(want))


def hyperfine(name, cmd, workdir, runs, prepare=None):
    out = workdir / ("hf-%s.json" % name)
    args = ["hyperfine", "--style", "none", "--warmup", "1", "--runs", str(runs),
            "--export-json", str(out)]
    if prepare:
        args += ["--prepare", prepare]
    sh(args + [cmd])
    r = json.loads(out.read_text())["results"][0]
    return {"mean": r["mean"], "stddev": r["stddev"] or 0.0, "min": r["min"],
            "median": r["median"]}


def peak_memory_mib(cmd, prepare=None):
    """(peak RSS, peak anonymous RSS) in MiB of one run of cmd. RSS counts the file pages a
    process maps, so a zero-copy reader of a 1 GiB file shows ~1 GiB of RSS that is page
    cache, not memory it allocated; RssAnon (sampled from /proc every 2 ms) is the part
    that is its own. Commands with && are run by sh and get no anonymous figure."""
    if prepare:
        subprocess.run(prepare, shell=True, check=True)
    if "&&" in cmd:
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "sh", "-c", cmd],
                           capture_output=True, text=True)
        return int(r.stderr.strip().splitlines()[-1]) / 1024, float("nan")
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M"] + shlex.split(cmd),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    anon, child = 0, None
    while proc.poll() is None:
        try:
            if child is None:
                kids = Path("/proc/%d/task/%d/children" % (proc.pid, proc.pid)).read_text()
                child = int(kids.split()[0]) if kids.split() else None
            if child is not None:
                for line in Path("/proc/%d/status" % child).read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.002)
    err = proc.stderr.read()
    return int(err.strip().splitlines()[-1]) / 1024, anon / 1024


def tensor_hashes(path):
    """name -> sha256 of the bytes, reading a safetensors file."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], hashlib.sha256(
        blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]]).hexdigest())
        for k, v in header.items()}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_pyconvert":
        return py_convert(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "_pyload":
        return py_load(sys.argv[2], int(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brine", default=str(REPO / "build" / "brine"))
    ap.add_argument("--workdir", default="/tmp/brine-bench-torch")
    ap.add_argument("--tensors", type=int, default=16)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("hyperfine"):
        sys.exit("needs hyperfine (apt-get install hyperfine)")
    brine = Path(args.brine).resolve()
    build = brine.parent
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "ckpt.pt"
    print("building the checkpoint (%d x %d MiB float32) ..." % (args.tensors, args.mib),
          flush=True)
    build_checkpoint(ckpt, args.tensors, args.mib)
    size = ckpt.stat().st_size
    loader = work / "torch_convert_load"
    sh(["cc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I", str(REPO / "include"),
        str(REPO / "bench" / "torch_convert.c"), "-L", str(build), "-lbrine",
        "-Wl,-rpath," + str(build), "-o", str(loader)])
    # warm the page cache: every command below reads a cached file
    subprocess.run(["cat", str(ckpt)], stdout=subprocess.DEVNULL, check=True)

    me = str(Path(__file__).resolve())
    q = lambda p: "'%s'" % p  # noqa: E731
    out_cp, out_st, out_py = work / "copy.pt", work / "out.safetensors", work / "py.safetensors"
    rm_st = "rm -f %s %s" % (q(out_st), q(work / "out.config.json"))
    cmds = [
        ("cp", "cp %s %s" % (q(ckpt), q(out_cp)), "rm -f %s" % q(out_cp)),
        ("cp+fsync", "cp %s %s && sync %s" % (q(ckpt), q(out_cp), q(out_cp)),
         "rm -f %s" % q(out_cp)),
        ("brine convert", "%s convert %s %s" % (q(brine), q(ckpt), q(out_st)), rm_st),
        ("brine convert --no-sync", "%s convert --no-sync %s %s" % (q(brine), q(ckpt), q(out_st)),
         rm_st),
        ("torch.load + py safetensors", "%s %s _pyconvert %s %s" % (PY, me, q(ckpt), q(out_py)),
         "rm -f %s" % q(out_py)),
        ("brine scan", "%s scan %s" % (q(brine), q(ckpt)), None),
        ("brine diff F F", "%s diff %s %s" % (q(brine), q(ckpt), q(ckpt)), None),
        ("libbrine load (pages)", "%s %s 1 pages" % (q(loader), q(ckpt)), None),
        ("libbrine load (bytes)", "%s %s 1 bytes" % (q(loader), q(ckpt)), None),
        ("torch.load(weights_only)", "%s %s _pyload %s 1" % (PY, me, q(ckpt)), None),
        ("python3 -c 'import torch'", "%s -c 'import torch'" % PY, None),
    ]
    res = {}
    for name, cmd, prep in cmds:
        print("timing %s ..." % name, flush=True)
        res[name] = hyperfine(str(len(res)), cmd, work, args.runs, prep)
        res[name]["rss"], res[name]["anon"] = peak_memory_mib(cmd, prep)

    # in-process load times
    c_pages = sh([str(loader), str(ckpt), str(args.runs), "pages"]).stdout.split()
    c_bytes = sh([str(loader), str(ckpt), str(args.runs), "bytes"]).stdout.split()
    py = sh([PY, me, "_pyload", str(ckpt), str(args.runs)]).stdout.split()
    pyconv = sh([PY, me, "_pyconvert", str(ckpt), str(out_py)]).stdout.split()
    sh(["sh", "-c", rm_st])
    sh([str(brine), "convert", str(ckpt), str(out_st)])
    same = tensor_hashes(out_st) == tensor_hashes(out_py)

    gib = size / 2**30
    print()
    print("checkpoint: %s, %.3f GiB, %d float32 tensors of %d MiB; %d runs each, warm cache"
          % (ckpt, gib, args.tensors, args.mib, args.runs))
    print("%-30s %9s %8s %8s %10s %10s" % ("command", "mean s", "± s", "GiB/s", "peak RSS",
                                             "anon RSS"))
    for name, _c, _p in cmds:
        r = res[name]
        print("%-30s %9.4f %8.4f %8.2f %6.0f MiB %6.0f MiB" % (
            name, r["mean"], r["stddev"], gib / r["mean"], r["rss"], r["anon"]))
    print()
    print("in-process load, best of %d: libbrine pages %.4f s, libbrine bytes %.4f s, "
          "torch.load(weights_only=True) %.4f s" % (args.runs, float(c_pages[1]),
                                                   float(c_bytes[1]), float(py[1])))
    print("in-process torch.load + py safetensors writer: %.4f s" % float(pyconv[1]))
    print("brine's and Python's safetensors hold the same tensors: %s" % same)
    print()
    conv = res["brine convert"]["mean"]
    print("ratios (lower is better for brine; DESIGN.md targets in brackets):")
    print("  brine convert / cp             = %.2f   [<= 1.3]" % (conv / res["cp"]["mean"]))
    print("  brine convert / cp+fsync       = %.2f" % (conv / res["cp+fsync"]["mean"]))
    print("  brine convert --no-sync / cp   = %.2f   [<= 1.3]" %
          (res["brine convert --no-sync"]["mean"] / res["cp"]["mean"]))
    print("  torch+py convert / brine conv. = %.2f" %
          (res["torch.load + py safetensors"]["mean"] / conv))
    print("  torch.load / libbrine load (in-process, pages) = %.1fx   [>= 5x]" %
          (float(py[1]) / float(c_pages[1])))
    print("  torch.load / libbrine load (in-process, every byte read) = %.1fx" %
          (float(py[1]) / float(c_bytes[1])))
    print("  torch.load cmd / libbrine load cmd (whole processes) = %.1fx" %
          (res["torch.load(weights_only)"]["mean"] / res["libbrine load (pages)"]["mean"]))
    print("  brine scan of %.2f GiB: %.1f ms" % (gib, res["brine scan"]["mean"] * 1000))
    for p in (out_cp, out_st, out_py, work / "out.config.json"):
        if p.exists():
            p.unlink()


if __name__ == "__main__":
    main()
