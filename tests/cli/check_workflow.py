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
  precommit  (venv Python) .pre-commit-hooks.yaml run by the real pre-commit (try-repo) in a
           temporary git repository, offline: a hostile pickle fails the hook, a benign one
           passes, a file whose name is not a model's is not given to it
  action   (venv Python, PyYAML) action.yml's run: steps are, line for line, the commands
           README.md documents; the scan and final steps run here with bash against a tree
           (a real brine build when BRINE_TEST_ACTION_BUILD=1 runs the build step too)
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
    for bad in (["-o", "tree/"], ["-j", "0"], ["--jobs", "x"], ["-j", "1025"]):
        rc, out, err = run("scan", *bad, "tree/ok.pkl", cwd=tmp)
        check(rc == 2 and out == b"" and "Try 'brine scan --help'" in err, f"{bad}: usage error")
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
    # more files than -j 4 queues (256 per thread): the walker also waits for room, and the
    # main thread scans queued files meanwhile
    many = os.path.join(tree, "p-many")
    os.makedirs(many)
    pickles = sorted(f for f in os.listdir(os.path.join(SRC, "samples")) if f.endswith(".pkl"))
    for i in range(1100):
        shutil.copy(os.path.join(SRC, "samples", pickles[i % len(pickles)]),
                    os.path.join(many, f"f{i:04d}.pkl"))
    n = sum(len(f) for _, _, f in os.walk(tree))
    check(n >= 1300, f"a tree of at least 1,300 files ({n})")
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


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def part_precommit(tmp):
    env = dict(os.environ)
    env.update({"PATH": os.path.dirname(BRINE) + os.pathsep + env.get("PATH", ""),
                "HOME": tmp, "PRE_COMMIT_HOME": os.path.join(tmp, "pre-commit-cache"),
                "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    env.pop("PRE_COMMIT", None)
    pre_commit = os.path.join(os.path.dirname(sys.executable), "pre-commit")
    # The hook repository: this repository's hook file, committed (try-repo clones it).
    hooks = os.path.join(tmp, "hooks")
    os.makedirs(hooks)
    shutil.copy(os.path.join(SRC, ".pre-commit-hooks.yaml"), hooks)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "hooks"]):
        subprocess.run(["git", *args], cwd=hooks, check=True, capture_output=True, env=env)
    project = os.path.join(tmp, "project")
    os.makedirs(project)
    marker = os.path.join(tmp, "MARKER")
    evil = b"\x80\x02cposix\nsystem\nX" + len(b"touch " + marker.encode()).to_bytes(4, "little") + \
        b"touch " + marker.encode() + b"\x85R."
    write(os.path.join(project, "models", "evil.pkl"), evil)
    write(os.path.join(project, "models", "ok.pkl"))
    write(os.path.join(project, "models", "evil.pt.gz"), b"\x1f\x8b\x08\x00cut short")
    write(os.path.join(project, "notes.txt"), evil)  # not a model's name: not passed to the hook
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, env=env)

    def hook(*files):
        p = subprocess.run([pre_commit, "try-repo", hooks, "brine-scan", "--files", *files],
                           cwd=project, env=env, capture_output=True, timeout=300)
        return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")

    rc, out = hook("models/ok.pkl")
    check(rc == 0 and "Passed" in out, f"pre-commit: a benign pickle passes (rc {rc}):\n{out}")
    rc, out = hook("models/evil.pkl")
    check(rc == 1 and "Failed" in out and "unsafe" in out and "evil.pkl" in out,
          f"pre-commit: a hostile pickle fails the hook (rc {rc}):\n{out}")
    rc, out = hook("models/ok.pkl", "models/evil.pkl")
    check(rc == 1 and "Failed" in out, "pre-commit: one hostile file among others fails the hook")
    rc, out = hook("models/evil.pt.gz")
    check(rc == 1 and "invalid" in out, f"pre-commit: a broken compressed checkpoint fails (rc {rc})")
    rc, out = hook("notes.txt")
    check(rc == 0 and "no files to check" in out.lower(),
          f"pre-commit: a file without a model's name is not scanned (rc {rc}):\n{out}")
    check(not os.path.exists(marker), "no payload ran")


def readme_commands():
    """The lines of README.md's ```sh block after "The action's steps are these commands"."""
    text = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
    at = text.index("The action's steps are these commands")
    start = text.index("```sh\n", at) + len("```sh\n")
    return [l.strip() for l in text[start:text.index("```", start)].splitlines() if l.strip()]


def action_steps():
    import yaml
    with open(os.path.join(SRC, "action.yml"), encoding="utf-8") as f:
        action = yaml.safe_load(f)
    check(action["runs"]["using"] == "composite", "action.yml is a composite action")
    check(set(action["inputs"]) >= {"path", "fail-on", "allow"}, "inputs path, fail-on, allow")
    return action, action["runs"]["steps"]


def expand(script, inputs, outputs):
    """${{ inputs.x }} and ${{ steps.scan.outputs.x }} as GitHub would substitute them."""
    import re
    script = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], script)
    return re.sub(r"\$\{\{\s*steps\.scan\.outputs\.(\w+)\s*\}\}",
                  lambda m: outputs.get(m.group(1), ""), script)


def part_action(tmp):
    action, steps = action_steps()
    documented = readme_commands()
    run_lines = []
    for step in steps:
        if "run" in step:
            check(step.get("shell") == "bash", f"step {step['name']!r} runs in bash")
            run_lines += [l.strip() for l in step["run"].splitlines() if l.strip()]
    check(run_lines == documented,
          "action.yml's run: lines are README's commands:\n  " +
          "\n  ".join(f"{a!r} | {b!r}" for a, b in zip(run_lines, documented) if a != b) +
          f"\n  ({len(run_lines)} vs {len(documented)} lines)")
    uploads = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    check(len(uploads) == 1 and uploads[0]["with"]["sarif_file"] == "brine.sarif",
          "the action uploads brine.sarif with github/codeql-action/upload-sarif")
    check("always()" in uploads[0].get("if", ""), "the SARIF is uploaded even when files fail")

    # Run the steps after the dependencies, as the runner would, with the inputs substituted.
    runner_temp = os.path.join(tmp, "runner")
    os.makedirs(os.path.join(runner_temp, "brine-build"))
    workspace = os.path.join(tmp, "workspace")
    write(os.path.join(workspace, "models", "evil.pkl"), HOSTILE)
    write(os.path.join(workspace, "models", "sub", "ok.pkl"))
    write(os.path.join(workspace, "models", "est.pkl"), b"\x80\x02csklearn.linear_model._base\nLinearRegression\n)\x81.")
    build = os.environ.get("BRINE_TEST_ACTION_BUILD") == "1"
    if not build:  # the build step is the one ctest already ran: use its brine
        os.symlink(BRINE, os.path.join(runner_temp, "brine-build", "brine"))

    def run_steps(inputs):
        outputs = {}
        results = {}
        gh_output = os.path.join(tmp, "github_output")
        for step in steps:
            if "run" not in step or step["name"].startswith("Install"):
                continue
            if step["name"].startswith("Build") and not build:
                continue
            if os.path.exists(gh_output):
                os.unlink(gh_output)
            env = dict(os.environ)
            env.update({"GITHUB_ACTION_PATH": SRC, "RUNNER_TEMP": runner_temp,
                        "GITHUB_OUTPUT": gh_output})
            env.update({k: expand(str(v), inputs, outputs) for k, v in step.get("env", {}).items()})
            p = subprocess.run(["bash", "-e", "-c", expand(step["run"], inputs, outputs)],
                               cwd=workspace, env=env, capture_output=True, timeout=1800)
            results[step.get("id", step["name"])] = p.returncode
            if os.path.exists(gh_output):
                for line in open(gh_output):
                    k, _, v = line.strip().partition("=")
                    outputs[k] = v
        return results, outputs

    results, outputs = run_steps({"path": "models", "fail-on": "unverified", "allow": ""})
    check(results.get("scan") == 0 and outputs.get("status") == "1",
          f"scan step: succeeds, records status 1 ({results}, {outputs})")
    check(results.get("Fail when a file fails") == 1, "the last step fails with the scan's status")
    with open(os.path.join(workspace, "brine.sarif")) as f:
        log = json.load(f)
    uris = sorted({r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                   for r in log["runs"][0]["results"]})
    check(uris == ["models/est.pkl", "models/evil.pkl"], f"brine.sarif names the failing files: {uris}")
    results, outputs = run_steps({"path": "models/sub", "fail-on": "unverified", "allow": ""})
    check(outputs.get("status") == "0" and results.get("Fail when a file fails") == 0,
          f"a clean path passes ({results}, {outputs})")
    results, outputs = run_steps({"path": "models", "fail-on": "unsafe", "allow": "sklearn\nnumpy"})
    check(outputs.get("status") == "1", "fail-on unsafe still fails on the hostile pickle")
    with open(os.path.join(workspace, "brine.sarif")) as f:
        log = json.load(f)
    rules = {r["ruleId"] for r in log["runs"][0]["results"]}
    check("unverified-global" not in rules, f"allow: sklearn reaches --allow ({rules})")
    os.unlink(os.path.join(workspace, "models", "evil.pkl"))
    results, outputs = run_steps({"path": "models", "fail-on": "unverified", "allow": "sklearn"})
    check(outputs.get("status") == "0" and results.get("Fail when a file fails") == 0,
          f"allowed estimator, nothing hostile: passes ({outputs})")
    # An entry that looks like a glob reaches brine as written, even when a file matches it.
    write(os.path.join(workspace, "sklearn.decoy"))
    results, outputs = run_steps({"path": "models", "fail-on": "unverified", "allow": "sklearn.*"})
    check(outputs.get("status") == "0", f"allow: sklearn.* is not expanded as a file glob ({outputs})")


def main():
    tmp = tempfile.mkdtemp(prefix="brine-workflow-")
    try:
        {"filters": part_filters, "stdin": part_stdin, "output": part_output,
         "jobs": part_jobs, "precommit": part_precommit, "action": part_action}[PART](tmp)
    finally:
        shutil.rmtree(tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print(f"{PART}: all checks passed")
    return 0


sys.exit(main())
