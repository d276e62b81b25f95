#!/usr/bin/python3
"""brine's benchmark, side by side with the tools people use, in one command.

usage: python3 bench/run.py [--quick] [--reps N] [--only REGEX] [--workdir DIR]
                            [--brine PATH] [--timeout SECONDS] [--out FILE]

Builds brine if needed (build-bench/, or --brine), writes the inputs with bench/gen.py in the
project venv (torch 2.x checkpoints, raw pickles, folders of small pickles), then runs every
row REPS times, interleaved (rep 1 of every row, then rep 2, ...: this machine is shared and
noisy, so a slow minute hurts every tool alike), and writes one markdown table of medians,
spreads, ratios to each group's reference, peak RSS and bytes read from disk to --out
(bench/results.md). See bench/README.md for what each row means.

--quick is the CTest smoke test: tiny inputs, 1 rep, brine and cp only, written to a
temporary file. It checks that the script works, not how fast anything is.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VPY = os.environ.get("BRINE_VENV_PYTHON", "/var/cache/brine/venv/bin/python")
VBIN = os.path.dirname(VPY)

# ------------------------------------------------------------------ cache states


def files_under(path):
    if os.path.isdir(path):
        for d, _, names in os.walk(path):
            for n in names:
                yield os.path.join(d, n)
    else:
        yield path


def evict(path):
    """Drops path (every file under it) from the page cache: written back first, then
    POSIX_FADV_DONTNEED. Needs no privileges and leaves other people's caches alone."""
    for f in files_under(path):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(path):
    """Reads path (every file under it) so that it is in the page cache."""
    for f in files_under(path):
        with open(f, "rb", buffering=0) as fh:
            while fh.read(1 << 22):
                pass


def rewrite(src, dst):
    """dst becomes a fresh copy of src that is not yet synced: 'just written', like a
    download that finished a moment ago."""
    if os.path.exists(dst):
        os.unlink(dst)
    with open(src, "rb") as i, open(dst, "wb") as o:
        while True:
            b = i.read(1 << 22)
            if not b:
                break
            o.write(b)


# ------------------------------------------------------------------ one run


def run_once(cmd, timeout, env=None):
    """Wall time, peak RSS (KiB), bytes read from disk (ru_inblock x 512: what the process
    and the read-ahead it triggered fetched) and exit code of one command."""
    # peak RSS from GNU time: the high-water mark of a process forked from this Python
    # survives exec, so wait4's ru_maxrss would be ours
    fd, rss_file = tempfile.mkstemp(prefix="brine-bench-rss-")
    os.close(fd)
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    # a blocking wait (a polling loop would add up to its period to a 10 ms command); a timer
    # kills a run past the timeout
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    timer.cancel()
    if dt > timeout:
        os.unlink(rss_file)
        return None
    err = [x for x in p.stderr.read().decode("utf-8", "replace").strip().splitlines()
           if not x.startswith("Command exited with non-zero status")]
    p.stderr.close()
    with open(rss_file) as f:
        last = (f.read().strip().splitlines() or ["0"])[-1]
    os.unlink(rss_file)
    return {
        "time": dt,
        "rss": int(last) if last.isdigit() else 0,
        "read": ru.ru_inblock * 512,
        "rc": os.waitstatus_to_exitcode(status),
        "err": err[-1][:120] if err else "",
    }


# ------------------------------------------------------------------ rows


class Row:
    def __init__(self, group, name, cmd, state="warm", inp=None, ref=False, out=None,
                 expect_rc=(0,), note=""):
        self.group, self.name, self.cmd, self.state = group, name, cmd, state
        self.inp, self.ref, self.out = inp, ref, out
        self.expect_rc, self.note = expect_rc, note
        # ModelAudit uploads telemetry by default; offline, its retries would be timed too
        self.env = dict(os.environ, PROMPTFOO_DISABLE_TELEMETRY="1") \
            if "modelaudit" in cmd[0] else None
        self.runs, self.failed, self.timed_out, self.skipped = [], [], False, ""
        self.spent = 0.0
        self.grows_from = None  # (row on the smaller input, size factor)


def torch_load_cmd(path):
    code = ("import sys, torch; torch.load(sys.argv[1], weights_only=True, map_location='cpu')")
    return [VPY, "-c", code, path]


def scanner_cmds(path, is_dir):
    """The peer scanners, each as its README says to run it on a file or a folder."""
    cmds = {
        "picklescan": [os.path.join(VBIN, "picklescan"), "--path", path],
        "modelscan": [os.path.join(VBIN, "modelscan"), "-p", path],
        "modelaudit": [os.path.join(VBIN, "modelaudit"), "scan", "--no-cache", "-q", path],
    }
    if not is_dir:  # fickling analyses one pickle file; it has no folder mode
        cmds["fickling"] = [os.path.join(VBIN, "fickling"), "--check-safety", path]
    return {k: v for k, v in cmds.items() if os.path.exists(v[0])}


def peer_rc(tool):
    """Exit codes of a finished scan: 1 is findings; ModelAudit's 2 is a scan that finished
    with coverage it calls incomplete (the table notes it)."""
    return (0, 1, 2) if tool == "modelaudit" else (0, 1)


def brine_dir_cmd(brine, path):
    cmd = [brine, "scan", "-r"]
    help_text = subprocess.run([brine, "scan", "--help"], capture_output=True, text=True).stdout
    if re.search(r"(^|\s)-j[ ,]", help_text):  # `scan -j N`: every core
        cmd += ["-j", str(os.cpu_count() or 1)]
    return cmd + [path]


def link(rows, row, factor):
    """row's input is factor times the previous group's of the same kind: when that one's
    first run predicts a timeout, row is not run (and says so)."""
    kind = "raw pickle" if "raw pickle" in row.group else "small pickles"
    for r in reversed(rows[:-1]):
        if r.name == row.name and r.group != row.group and kind in r.group:
            row.grows_from = (r, factor)
            return


def make_rows(args, w):
    b = args.brine
    rows = []
    out = os.path.join(w, "out.safetensors")
    cpo = os.path.join(w, "cp.out")
    ckpts = [("75 MiB", "ckpt_75m.pt")] + ([] if args.quick else [("1 GiB", "ckpt_1g.pt")])
    # convert: brine vs cp (no sync), and brine's default (fsync) vs cp + sync FILE
    for label, name in ckpts:
        src = os.path.join(w, name)
        for state in ("warm", "cold", "written"):
            inp = os.path.join(w, "written_" + name) if state == "written" else src
            g = f"convert {label} checkpoint, {state}"
            rows.append(Row(g, "cp", ["cp", inp, cpo], state, inp, ref=True, out=cpo))
            rows.append(Row(g, "brine convert --no-sync",
                            [b, "convert", "--force", "--no-sync", inp, out], state, inp,
                            out=out))
            if args.quick:
                continue
            rows.append(Row(g, "cp + sync FILE",
                            ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", inp, cpo], state,
                            inp, ref="sync", out=cpo))
            rows.append(Row(g, "brine convert (fsync)", [b, "convert", "--force", inp, out],
                            state, inp, out=out, note="ratio to cp + sync FILE"))
    # scan / inspect / load of the checkpoints
    for label, name in ckpts:
        src = os.path.join(w, name)
        for state in ("warm", "cold"):
            g = f"scan {label} checkpoint, {state}"
            rows.append(Row(g, "cat > /dev/null", ["sh", "-c", 'cat "$1" > /dev/null', "sh",
                                                   src], state, src, ref=True))
            rows.append(Row(g, "brine scan", [b, "scan", src], state, src))
            rows.append(Row(g, "brine inspect", [b, "inspect", src], state, src))
            if args.quick:
                continue
            rows.append(Row(g, "torch.load(weights_only=True)", torch_load_cmd(src), state, src))
            for tool, cmd in scanner_cmds(src, False).items():
                rows.append(Row(g, tool, cmd, state, src, expect_rc=peer_rc(tool)))
    # raw pickles
    raws = [("1 MB", "raw_1m.pkl")] + ([] if args.quick else
                                       [("10 MB", "raw_10m.pkl"), ("100 MB", "raw_100m.pkl")])
    for label, name in raws:
        src = os.path.join(w, name)
        g = f"scan {label} raw pickle, warm"
        rows.append(Row(g, "cat > /dev/null", ["sh", "-c", 'cat "$1" > /dev/null', "sh", src],
                        "warm", src))
        rows.append(Row(g, "brine scan", [b, "scan", src], "warm", src, note="MB/s"))
        if args.quick:
            continue
        for tool, cmd in scanner_cmds(src, False).items():
            rows.append(Row(g, tool, cmd, "warm", src, ref=tool == "picklescan",
                            expect_rc=peer_rc(tool)))
            link(rows, rows[-1], 10)
    # folders of small files
    dirs = [("1,000", "small_1000")] + ([] if args.quick else [("10,000", "small_10000")])
    for label, name in dirs:
        src = os.path.join(w, name)
        g = f"scan {label} small pickles, warm"
        rows.append(Row(g, "brine scan -r", brine_dir_cmd(b, src), "warm", src,
                        note="files/s"))
        if args.quick:
            continue
        for tool, cmd in scanner_cmds(src, True).items():
            rows.append(Row(g, tool, cmd, "warm", src, ref=tool == "picklescan",
                            expect_rc=peer_rc(tool), note="files/s"))
            link(rows, rows[-1], 10)
    if args.only:
        rows = [r for r in rows if re.search(args.only, f"{r.group} | {r.name}")]
    return rows


# ------------------------------------------------------------------ the table


def fmt_time(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_bytes(n):
    if n < 1 << 20:
        return f"{n / 1024:.0f} KiB"
    if n < 1 << 30:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / (1 << 30):.2f} GiB"


def size_of(path):
    return sum(os.path.getsize(f) for f in files_under(path))


def count_files(path):
    return sum(1 for f in files_under(path) if not f.endswith(".complete"))


def table(rows, reps):
    """One markdown table: a row per tool and group."""
    lines = ["| group | tool | median | spread (min-max) | ratio | peak RSS | read from disk "
             "| notes |", "|---|---|---|---|---|---|---|---|"]
    groups = []
    for r in rows:
        if r.group not in groups:
            groups.append(r.group)
    for g in groups:
        members = [r for r in rows if r.group == g]
        refs = {}
        for r in members:
            if r.ref and r.runs:
                refs["sync" if r.ref == "sync" else "main"] = statistics.median(
                    x["time"] for x in r.runs)
        for r in members:
            notes = []
            if r.skipped:
                notes.append(r.skipped)
            if r.timed_out:
                notes.append(f"timed out ({r.timeout:.0f} s)")
            if r.failed:
                notes.append(f"failed {len(r.failed)}/{len(r.failed) + len(r.runs)}: "
                             f"rc={r.failed[0]['rc']} {r.failed[0]['err']}".strip())
            if not r.runs:
                lines.append(f"| {g} | {r.name} | - | - | - | - | - | {'; '.join(notes)} |")
                continue
            ts = [x["time"] for x in r.runs]
            med = statistics.median(ts)
            ref = refs.get("sync" if "fsync" in r.name else "main")
            ratio = f"{med / ref:.2f}x" if ref and not r.ref else ("ref" if r.ref else "")
            rss = max(x["rss"] for x in r.runs) * 1024
            rd = statistics.median(x["read"] for x in r.runs) if r.state != "warm" else None
            if r.note == "MB/s":
                notes.append(f"{size_of(r.inp) / 1e6 / med:.0f} MB/s, RSS "
                             f"{rss / size_of(r.inp):.1f}x the file")
            elif r.note == "files/s":
                notes.append(f"{count_files(r.inp) / med:,.0f} files/s")
            elif r.note:
                notes.append(r.note)
            codes = sorted({x["rc"] for x in r.runs if x["rc"]})
            if codes:
                notes.append("exit " + "/".join(map(str, codes)) +
                             (" (coverage incomplete)" if 2 in codes else ""))
            if len(r.runs) < reps:
                notes.append(f"{len(r.runs)} runs")
            lines.append(f"| {g} | {r.name} | {fmt_time(med)} | {fmt_time(min(ts))} - "
                         f"{fmt_time(max(ts))} | {ratio} | {fmt_bytes(rss)} | "
                         f"{fmt_bytes(rd) if rd is not None else '(warm)'} | "
                         f"{'; '.join(notes)} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def build_brine():
    path = os.path.join(REPO, "build-bench", "brine")
    if not os.path.exists(path):
        subprocess.run(["bash", "-c", ". scripts/lib.sh && brine_build build-bench gcc "
                        "-DBRINE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release"],
                       cwd=REPO, check=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", help="run the rows whose 'group | tool' matches this regex")
    ap.add_argument("--workdir", default="/var/tmp/brine-bench")
    ap.add_argument("--brine")
    ap.add_argument("--timeout", type=float, default=150,
                    help="per run; a row that times out is not run again")
    ap.add_argument("--row-budget", type=float, default=120,
                    help="seconds a row may spend before it is not repeated (slow peers)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results.md"))
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
        args.workdir = tempfile.mkdtemp(prefix="brine-bench-")
        if args.out == os.path.join(REPO, "bench", "results.md"):
            args.out = os.path.join(args.workdir, "results.md")
    args.brine = os.path.abspath(args.brine) if args.brine else build_brine()
    w = args.workdir
    os.makedirs(w, exist_ok=True)
    gen = [VPY if os.path.exists(VPY) else sys.executable, os.path.join(REPO, "bench", "gen.py"),
           w] + (["--quick"] if args.quick else [])
    subprocess.run(gen, check=True)
    rows = make_rows(args, w)
    for r in rows:
        r.timeout = args.timeout
    t_start = time.time()
    for rep in range(args.reps):
        for r in rows:
            if r.timed_out or r.skipped:
                continue
            if rep and r.spent > args.row_budget:
                continue  # a slow peer: fewer runs, the table says how many
            if r.grows_from and not r.runs:
                small, factor = r.grows_from
                first = (small.runs or small.failed or [None])[0]
                if small.skipped:
                    r.skipped = f"not run: skipped on the {factor}x smaller input too"
                    continue
                if small.timed_out or (first and first["time"] * factor > args.timeout):
                    t = "timed out" if small.timed_out else fmt_time(first["time"])
                    r.skipped = (f"not run: {t} on the {factor}x smaller input predicts more "
                                 f"than the {args.timeout:.0f} s timeout")
                    continue
            if r.out and os.path.exists(r.out):
                os.unlink(r.out)
            # no write-back of an earlier row's output competes with this run (the written
            # state then dirties its own input on purpose)
            os.sync()
            if r.state == "written":
                rewrite(r.inp.replace("written_", ""), r.inp)
            elif r.state == "cold":
                evict(r.inp)
            else:
                warm(r.inp)
            res = run_once(r.cmd, args.timeout, r.env)
            r.spent += res["time"] if res else args.timeout
            if res is None:
                r.timed_out = True
            elif res["rc"] in r.expect_rc:
                r.runs.append(res)
            else:
                r.failed.append(res)
            if not args.quick:
                print(f"rep {rep + 1} {r.group} | {r.name}: "
                      f"{'timeout' if res is None else fmt_time(res['time'])}", flush=True)
        for r in rows:
            if r.out and os.path.exists(r.out):
                os.unlink(r.out)
        if not args.quick:  # what is measured so far survives an interrupted run
            with open(args.out + ".partial", "w") as f:
                f.write(f"after rep {rep + 1} of {args.reps}\n\n" + table(rows, args.reps) +
                        "\n")
    if os.path.exists(args.out + ".partial"):
        os.unlink(args.out + ".partial")
    for name in os.listdir(w):
        if name.startswith("written_"):
            os.unlink(os.path.join(w, name))
    header = (f"brine benchmark: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{os.cpu_count()} cores, {args.reps} interleaved reps, "
              f"{(time.time() - t_start) / 60:.0f} min; `python3 bench/run.py"
              f"{' --only ' + repr(args.only) if args.only else ''}`\n\n")
    text = header + table(rows, args.reps) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    bad = [r for r in rows if r.name.startswith("brine") and (r.failed or not r.runs)]
    if args.quick:
        shutil.rmtree(w, ignore_errors=True)
    if bad:
        print("brine failed: " + ", ".join(f"{r.group} | {r.name}" for r in bad),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
