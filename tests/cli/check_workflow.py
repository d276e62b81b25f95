#!/usr/bin/env python3
"""brine scan in workflows: --include/--exclude, '-' (stdin), -o FILE, -j N.

    check_workflow.py BRINE SOURCE_DIR PART

PART:
  filters  --include/--exclude on a hand-made tree; the expected file lists are written out
           here from the rules of docs/brine.1 (gitignore-like globs), not taken from brine
  stdin    '-' scans standard input (path '-'), bounded by max_memory
  output   -o FILE holds what stdout would have held, stdout stays empty, the exit status is
           unchanged, FILE is replaced whole or not at all, the temporary file is never
           scanned nor left behind (also when the scan is killed)
  jobs     -j 1 and -j 4 (and the default) give byte-identical reports in all four formats on
           a tree of the hostile, malformed and archive fixtures (tests/gen) plus special files
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BRINE, SRC, PART = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
failures = []

HOSTILE = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R."
BENIGN = b'\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02]q\x03(G?\xf8\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x04eu.'  # pickle.dumps, protocol 2


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, cwd=None, stdin=None, input=None):
    p = subprocess.run([BRINE, *args], cwd=cwd, stdin=stdin, input=input, capture_output=True,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def write(path, data=BENIGN):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def scanned(tmp, *args):
    """The paths brine scan -r reports (jsonl), relative to tmp."""
    rc, out, err = run("scan", "-r", "--format", "jsonl", *args, "tree", cwd=tmp)
    check(rc in (0, 1), f"scan {args} exits 0 or 1 (got {rc}: {err})")
    return sorted(os.path.relpath(json.loads(l)["path"], "tree") for l in out.splitlines())


def part_filters(tmp):
    files = ["a.pkl", "a.bin", "ckpt/a.bin", "ckpt/x/a.bin", "ckpt/x/b.pkl", "cache/c.pkl",
             "sub/cache", ".git/objects/o.pkl", "deep/er/tmp/t.pt", "tmp/u.pt", "x.pkl/inner.bin"]
    for f in files:
        write(os.path.join(tmp, "tree", f))
    everything = sorted(files)
    check(scanned(tmp) == everything, "no filter: every file")
    cases = [
        (["--include", "*.pkl"], ["a.pkl", "cache/c.pkl", "ckpt/x/b.pkl", ".git/objects/o.pkl"]),
        (["--include", "ckpt/*.bin"], ["ckpt/a.bin"]),
        (["--include", "/ckpt/*.bin"], ["ckpt/a.bin"]),
        (["--include", "**/tmp/*.pt"], ["deep/er/tmp/t.pt", "tmp/u.pt"]),
        (["--include", "*.pkl", "--include", "*.pt"],
         ["a.pkl", "cache/c.pkl", "ckpt/x/b.pkl", ".git/objects/o.pkl", "deep/er/tmp/t.pt",
          "tmp/u.pt"]),
        (["--exclude", ".git"], [f for f in everything if not f.startswith(".git/")]),
        (["--exclude", "cache/"], [f for f in everything if f != "cache/c.pkl"]),  # dirs only
        (["--exclude", "cache"], [f for f in everything if f not in ("cache/c.pkl", "sub/cache")]),
        (["--exclude", "ckpt/x"], [f for f in everything if not f.startswith("ckpt/x/")]),
        (["--exclude", "x.pkl/"], [f for f in everything if f != "x.pkl/inner.bin"]),
        (["--include", "*.pkl", "--exclude", ".git", "--exclude", "b.*"],
         ["a.pkl", "cache/c.pkl"]),
        # a directory matching --include is still only a directory: its files must match too
        (["--include", "x.pkl"], []),
    ]
    for args, want in cases:
        got = scanned(tmp, *args)
        check(got == sorted(want), f"{args}: scanned {got}, want {sorted(want)}")
    # A path named on the command line is scanned whatever the filters.
    rc, out, err = run("scan", "--format", "jsonl", "--exclude", "*.bin", "tree/a.bin", cwd=tmp)
    check(rc == 0 and json.loads(out)["path"] == "tree/a.bin", "a named file ignores the filters")


def part_stdin(tmp):
    rc, out, err = run("scan", "--format", "json", "-", input=HOSTILE)
    doc = json.loads(out)
    check(rc == 1 and doc["files"][0]["path"] == "-" and doc["files"][0]["verdict"] == "unsafe",
          f"stdin: hostile pickle is unsafe, path '-' (rc {rc})")
    rc, out, err = run("scan", "-", input=BENIGN)
    check(rc == 0 and out.startswith(b"-: safe"), f"stdin: benign pickle is safe ({out!r})")
    big = BENIGN + b"\x00" * 5000
    rc, out, err = run("scan", "--limit", "max_memory=4K", "-", input=big)
    check(rc == 2 and "max_memory" in out.decode() + err, f"stdin over max_memory: error, exit 2 ({rc})")


def leftovers(d):
    return [n for n in os.listdir(d) if ".brine-" in n]


def part_output(tmp):
    write(os.path.join(tmp, "tree", "evil.pkl"), HOSTILE)
    write(os.path.join(tmp, "tree", "ok.pkl"))
    for fmt in ("text", "json", "jsonl", "sarif"):
        rc0, out0, _ = run("scan", "-r", "--format", fmt, "tree", cwd=tmp)
        rc, out, err = run("scan", "-r", "--format", fmt, "-o", "report.out", "tree", cwd=tmp)
        with open(os.path.join(tmp, "report.out"), "rb") as f:
            got = f.read()
        check(rc == rc0 == 1 and out == b"" and got == out0,
              f"-o ({fmt}): the file holds stdout's report, stdout empty, same status")
    # The report inside the tree being walked: never its own temporary file.
    rc, out, err = run("scan", "-r", "--format", "jsonl", "--output", "tree/r.jsonl", "tree",
                       cwd=tmp)
    paths = [json.loads(l)["path"] for l in open(os.path.join(tmp, "tree", "r.jsonl"))]
    check(paths == ["tree/evil.pkl", "tree/ok.pkl"], f"-o inside the tree: {paths}")
    os.unlink(os.path.join(tmp, "tree", "r.jsonl"))
    # Failures leave FILE as it was and nothing behind.
    with open(os.path.join(tmp, "keep.txt"), "w") as f:
        f.write("old\n")
    rc, out, err = run("scan", "--format", "nope", "-o", "keep.txt", "tree", cwd=tmp)
    check(rc == 2 and open(os.path.join(tmp, "keep.txt")).read() == "old\n",
          "a usage error leaves FILE as it was")
    rc, out, err = run("scan", "-o", "no/such/dir/r.txt", "tree/ok.pkl", cwd=tmp)
    check(rc == 2 and "no/such/dir" in err, f"-o in a missing directory: exit 2 ({rc}, {err})")
    rc, out, err = run("scan", "-o", "keep.txt", "tree/ok.pkl", "missing.pkl", cwd=tmp)
    check(rc == 2 and b"missing.pkl" not in out and
          "missing.pkl" in open(os.path.join(tmp, "keep.txt")).read(),
          "an unreadable path: exit 2, the report is still written")
    # Killed while reading stdin: the temporary file is removed, FILE untouched.
    with open(os.path.join(tmp, "keep.txt"), "w") as f:
        f.write("old\n")
    p = subprocess.Popen([BRINE, "scan", "-o", "keep.txt", "-"], cwd=tmp, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(100):
        if leftovers(tmp):
            break
        time.sleep(0.05)
    check(leftovers(tmp), "the temporary file exists while the scan runs")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    check(p.returncode == -signal.SIGTERM, f"killed by SIGTERM ({p.returncode})")
    check(open(os.path.join(tmp, "keep.txt")).read() == "old\n", "killed: FILE as it was")
    check(not leftovers(tmp), f"no temporary file left behind: {leftovers(tmp)}")
    # Writable only by owner? The report gets the usual permissions (umask), not mkstemp's 0600.
    run("scan", "-o", "perm.txt", "tree/ok.pkl", cwd=tmp)
    mode = os.stat(os.path.join(tmp, "perm.txt")).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    check(mode == 0o666 & ~umask, f"-o FILE has mode {oct(mode)}")
    check(not leftovers(tmp), "no temporary file left after success")


def gen(tmp, tree):
    marker = os.path.join(tmp, "MARKER")
    py = sys.executable
    for script, args in (("gen_hostile.py", ["hostile", marker]),
                         ("gen_malformed_formats.py", ["malformed"]),
                         ("gen_archives.py", ["archives", marker])):
        subprocess.run([py, os.path.join(SRC, "tests/gen", script),
                        *[os.path.join(tree, args[0])] + args[1:]],
                       check=True, capture_output=True, timeout=600)
    for name in os.listdir(os.path.join(SRC, "samples")):
        shutil.copy(os.path.join(SRC, "samples", name), os.path.join(tree, name))
    # Entries the walk reports as errors or notes, in order with the files.
    os.mkfifo(os.path.join(tree, "m-fifo"))
    os.symlink("does-not-exist", os.path.join(tree, "n-dangling"))
    os.symlink("hostile", os.path.join(tree, "o-dirlink"))
    os.symlink(os.path.join("..", "tree", "README.md"), os.path.join(tree, "q-filelink"))
    return marker


def part_jobs(tmp):
    tree = os.path.join(tmp, "tree")
    os.makedirs(tree)
    marker = gen(tmp, tree)
    n = sum(len(f) for _, _, f in os.walk(tree))
    check(n >= 200, f"a tree of at least 200 files ({n})")
    for fmt in ("text", "json", "jsonl", "sarif"):
        outs = {}
        for j in ("1", "4", None):
            args = ["scan", "-r", "--format", fmt] + (["-j", j] if j else []) + ["tree"]
            rc, out, err = run(*args, cwd=tmp)
            outs[j] = (rc, out, err.replace("\r\033[K", ""))
        check(outs["1"][0] == 1, f"{fmt}: the tree has failing files (exit {outs['1'][0]})")
        check(outs["1"] == outs["4"], f"{fmt}: -j 4 gives the same status, report and stderr as -j 1")
        check(outs["1"] == outs[None], f"{fmt}: the default -j gives the same report as -j 1")
        if fmt == "jsonl":
            lines = outs["1"][1].splitlines()
            check(len(lines) >= n - 5, f"jsonl: a line per file ({len(lines)} for {n})")
            check(any(b'"m-fifo"' in l or b"m-fifo" in l for l in lines), "the FIFO is reported")
    check(not os.path.exists(marker), "no payload ran")


def main():
    tmp = tempfile.mkdtemp(prefix="brine-workflow-")
    try:
        {"filters": part_filters, "stdin": part_stdin, "output": part_output,
         "jobs": part_jobs}[PART](tmp)
    finally:
        shutil.rmtree(tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print(f"{PART}: all checks passed")
    return 0


sys.exit(main())
