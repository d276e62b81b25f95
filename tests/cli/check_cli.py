#!/usr/bin/python3
"""Checks of the brine tool's interface: help texts, usage errors, exit codes, report formats.

    check_cli.py BRINE SOURCE_DIR PART

PART is one of:
  help     every command's --help lists every long option its source declares (struct option
           tables in cli/<command>.c), the man page documents them too, usage errors exit 2,
           --version and --help-limits agree with include/brine.h
  scan     exit codes of `brine scan` and the shape of its text, json, jsonl and sarif output
           (docs/contract.md), on hand-made files
  rules    every rule the scanner can emit is documented: docs/contract.md, docs/brine.1 and
           the report's rule table (src/report/rules.def, which SARIF lists)

Only hand-made byte strings are scanned; nothing is ever unpickled.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

BRINE, SRC, PART = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, stdin=None):
    p = subprocess.run([BRINE, *args], capture_output=True, timeout=60, stdin=stdin)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def man_text():
    """The man page with roff's escaped minus signs turned back into '-'."""
    return read("docs/brine.1").replace("\\-", "-").replace("\\(em", "-")


COMMANDS = ["scan", "dis", "inspect", "convert", "diff"]


def declared_options():
    """{command: [long option names]} from the `struct option` tables in cli/<command>.c."""
    out = {}
    for cmd in COMMANDS:
        path = os.path.join(SRC, "cli", cmd + ".c")
        if not os.path.exists(path):
            continue
        text = open(path, encoding="utf-8").read()
        names = []
        for table in re.findall(r"struct option\s+\w+\[\]\s*=\s*\{(.*?)\};", text, re.S):
            names += re.findall(r'\{\s*"([a-z][a-z0-9-]*)"', table)
        out[cmd] = names
    return out


def part_help():
    man = man_text()
    rc, out, err = run("--help")
    check(rc == 0, "brine --help exits 0")
    for word in COMMANDS + ["--help", "--version", "--help-limits", "Exit status"]:
        check(word in out, f"brine --help mentions {word}")
        check(word.lower() in man.lower(), f"the man page mentions {word}")
    check(run("-h")[1] == out and run("help")[1] == out, "-h and 'help' print the same help")

    # Options of each command: in its --help and in the man page.
    declared = declared_options()
    check("scan" in declared and "dis" in declared, "cli/scan.c and cli/dis.c declare options")
    for cmd in COMMANDS:
        rc, out, err = run(cmd, "--help")
        check(rc == 0, f"brine {cmd} --help exits 0 (got {rc}: {err.strip()})")
        check(out.startswith("Usage: brine " + cmd), f"brine {cmd} --help starts with its usage")
        check(run("help", cmd)[1] == out, f"'brine help {cmd}' equals 'brine {cmd} --help'")
        check(re.search(r"^\.SS\s+\"?brine " + cmd, read("docs/brine.1"), re.M) is not None,
              f"the man page has a section for brine {cmd}")
        for name in declared.get(cmd, []):
            check("--" + name in out, f"brine {cmd} --help lists --{name}")
            check("--" + name in man, f"the man page lists --{name} (brine {cmd})")
        if "not implemented yet" in out:
            rc2, out2, err2 = run(cmd, "x")
            check(rc2 == 2 and "not implemented yet" in err2,
                  f"brine {cmd} (not implemented yet) exits 2 and says so")
        if cmd in ("scan", "dis"):
            check("Exit status" in out, f"brine {cmd} --help documents the exit status")
    scan_help = run("scan", "--help")[1]
    for v in ("safe", "unverified", "invalid", "unsafe"):
        check(v in scan_help, f"brine scan --help explains the verdict {v}")
    for code in ("0 ", "1 ", "2 "):
        check("  " + code in scan_help, f"brine scan --help explains exit status {code.strip()}")
    # The profiles the library offers are the ones the help names.
    m = re.search(r"Profiles: (.*)", scan_help)
    check(m is not None and "sklearn" in m.group(1), "brine scan --help lists the profiles")

    # --version agrees with the project version (brine_version.h is generated from it).
    version = re.search(r"project\(brine VERSION ([0-9.]+)", read("CMakeLists.txt")).group(1)
    rc, out, err = run("--version")
    check(rc == 0 and out.strip() == "brine " + version, f"--version prints 'brine {version}'")
    check(run("-V")[1] == out, "-V equals --version")

    # --help-limits lists every field of brine_limits, in order, with its default.
    fields = re.findall(r"uint64_t\s+(\w+);",
                        re.search(r"typedef struct brine_limits \{(.*?)\} brine_limits;",
                                  read("include/brine.h"), re.S).group(1))
    rc, out, err = run("--help-limits")
    listed = re.findall(r"^  ([a-z_0-9]+)\s+(\d+)\s", out, re.M)
    check(rc == 0 and [n for n, _ in listed] == fields,
          f"--help-limits lists the brine_limits fields {fields}, got {listed}")
    for name in fields:
        check(name in man, f"the man page documents the limit {name}")

    # Usage errors exit 2, with a diagnostic on stderr and nothing on stdout.
    usage = [
        [], ["frob"], ["--frob"], ["help", "frob"],
        ["scan"], ["scan", "--frob", "x"], ["scan", "--format"], ["scan", "--format", "xml", "x"],
        ["scan", "--fail-on", "safe", "x"], ["scan", "--fail-on", "never", "x"],
        ["scan", "--limit", "max_memory", "x"], ["scan", "--limit", "nosuch=1", "x"],
        ["scan", "--limit", "max_memory=0", "x"], ["scan", "--limit", "max_memory=-1", "x"],
        ["scan", "--limit", "max_memory=1X", "x"], ["scan", "--limit", "max_memory=0x10", "x"],
        ["scan", "--limit", "max_memory=99999999999999999999", "x"],
        ["scan", "--allow", "os.system", "x"], ["scan", "--policy", "/nonexistent/policy", "x"],
        ["dis"], ["dis", "a", "b"], ["dis", "--format", "sarif", "x"], ["dis", "--frob", "x"],
        ["dis", "--limit", "bogus=1", "x"],
    ]
    for args in usage:
        rc, out, err = run(*args)
        check(rc == 2 and err.strip() and not out,
              f"brine {' '.join(args)} is a usage error (exit {rc}, stderr {err.strip()!r})")


# Hand-made inputs. None of them is ever loaded; brine only reads them.
SAFE = b"\x80\x04N."                                         # protocol 4: None
UNSAFE = b"cos\nsystem\n(S'echo hi'\ntR."                    # os.system('echo hi')
UNVERIFIED = b"\x80\x02cfractions\nFraction\nq\x00X\x03\x00\x00\x001/3q\x01\x85q\x02Rq\x03."
INVALID = b"\x80\x04]q\x00(K\x01K\x02"                       # truncated: no STOP
TEXT = b"hello, I am a README\n"


def write_tree(root):
    files = {"a_safe.pkl": SAFE, "b_unsafe.bin": UNSAFE, "c_unverified": UNVERIFIED,
             "d_invalid.pt": INVALID, "e_readme.txt": TEXT,
             "sub/deeper/x.pkl": SAFE, "sub/y": UNSAFE}
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return {rel: os.path.join(root, rel) for rel in files}


def part_scan():
    with tempfile.TemporaryDirectory() as top:
        tmp = os.path.join(top, "tree")  # what -r scans; scratch files go beside it in top
        p = write_tree(tmp)
        missing = os.path.join(tmp, "missing.pkl")

        # Exit codes.
        cases = [
            ([p["a_safe.pkl"]], 0), ([p["e_readme.txt"]], 0), ([p["b_unsafe.bin"]], 1),
            ([p["c_unverified"]], 1), ([p["d_invalid.pt"]], 1), ([missing], 2),
            ([p["a_safe.pkl"], missing], 2), ([missing, p["b_unsafe.bin"]], 1),
            ([tmp], 2), (["-r", tmp], 1),
            (["--fail-on", "invalid", p["c_unverified"]], 0),
            (["--fail-on", "invalid", p["d_invalid.pt"]], 1),
            (["--fail-on", "unsafe", p["d_invalid.pt"], p["c_unverified"]], 0),
            (["--fail-on", "unsafe", p["b_unsafe.bin"]], 1),
            (["--allow", "fractions.Fraction", p["c_unverified"]], 0),
            (["--allow", "fractions.*", p["c_unverified"]], 0),
            (["--limit", "max_opcodes=2", p["c_unverified"]], 1),
        ]
        for args, want in cases:
            for fmt in ("text", "json", "jsonl", "sarif"):
                rc, out, err = run("scan", "--format", fmt, *args)
                check(rc == want, f"scan --format {fmt} {args}: exit {rc}, want {want}")

        # A policy file.
        pol = os.path.join(top, "policy.txt")
        with open(pol, "w") as f:
            f.write("# sklearn-free policy\nfractions.Fraction  \n\n")
        check(run("scan", "--policy", pol, p["c_unverified"])[0] == 0, "--policy FILE widens")

        # Text: one line per file, findings indented, the summary last.
        rc, out, err = run("scan", "-r", tmp)
        lines = out.splitlines()
        check(lines[-1] == "7 files: 3 safe, 1 unverified, 1 invalid, 2 unsafe; 0 errors",
              f"text summary line, got {lines[-1]!r}")
        heads = [l for l in lines[:-1] if not l.startswith("  ")]
        check(heads == sorted(heads), "directory entries are scanned in sorted order")
        check(f"{p['b_unsafe.bin']}: unsafe (pickle)" in lines, "text: PATH: VERDICT (FORMAT)")
        check(any(l.startswith(f"{p['e_readme.txt']}: ") and l.endswith(" (not a model file)")
                  for l in lines), "text: a README is reported as 'not a model file'")
        check(any(re.match(r"  \[unsafe\] [a-z-]+: .*\(os\.system, offset \d+\)$", l)
                  for l in lines), "text: indented finding with global and offset")
        rc, out, err = run("scan", missing)
        check(f"{missing}: error: cannot open: No such file or directory" in out,
              f"text: an unreadable path is an error line, got {out!r}")

        # JSON: the document of docs/contract.md.
        rc, out, err = run("scan", "--format", "json", "-r", tmp, missing)
        doc = json.loads(out)
        check(list(doc) == ["brine", "files", "errors", "summary"], "json top-level keys in order")
        check(len(doc["files"]) == 7, "json lists every file")
        for f in doc["files"]:
            check(list(f) == ["path", "format", "verdict", "findings", "globals"],
                  f"json file keys in order: {list(f)}")
            for fd in f["findings"]:
                keys = [k for k in fd]
                order = ["severity", "rule", "global", "member", "offset", "message"]
                check(keys == [k for k in order if k in keys] and "severity" in keys and
                      "rule" in keys and "message" in keys, f"json finding keys: {keys}")
        by = {f["path"]: f for f in doc["files"]}
        u = by[p["b_unsafe.bin"]]
        check(u["verdict"] == "unsafe" and u["globals"] == ["os.system"] and
              u["findings"][0]["global"] == "os.system", "json: the unsafe file names os.system")
        check(doc["errors"] == [{"path": missing,
                                 "message": "cannot open: No such file or directory"}],
              f"json errors: {doc['errors']}")
        check(doc["summary"] == {"files": 7, "safe": 3, "unverified": 1, "invalid": 1,
                                 "unsafe": 2, "errors": 1, "failed": 4},
              f"json summary: {doc['summary']}")
        rc, out, err = run("scan", "--format", "json", "--fail-on", "unsafe", "-r", tmp)
        check(json.loads(out)["summary"]["failed"] == 2, "json summary.failed follows --fail-on")
        check(missing in run("scan", "--format", "json", missing)[2],
              "json: an unreadable path is also named on stderr")
        rc, out, err = run("scan", "--format", "json", p["a_safe.pkl"])
        check(run("scan", "--format", "json", p["a_safe.pkl"])[1] == out,
              "json output is deterministic")

        # JSONL: one object per line, errors as {path, error}, no summary.
        rc, out, err = run("scan", "--format", "jsonl", "-r", tmp, missing)
        objs = [json.loads(l) for l in out.splitlines()]
        check(len(objs) == 8 and objs[-1] == {"path": missing,
                                              "error": "cannot open: No such file or directory"},
              f"jsonl: 7 files then the error line, got {len(objs)} lines")
        check(all("summary" not in o for o in objs), "jsonl has no summary")

        # SARIF 2.1.0.
        rc, out, err = run("scan", "--format", "sarif", "-r", tmp, missing)
        s = json.loads(out)
        check(s["version"] == "2.1.0" and len(s["runs"]) == 1, "sarif: version, one run")
        drv = s["runs"][0]["tool"]["driver"]
        check(drv["name"] == "brine", "sarif: driver name")
        ids = [r["id"] for r in drv["rules"]]
        check(len(ids) == len(set(ids)), "sarif: rule ids are unique")
        results = s["runs"][0]["results"]
        levels = {r["properties"]["severity"]: r["level"] for r in results}
        check(levels.get("unsafe") == "error" and levels.get("invalid") == "error" and
              levels.get("unverified") == "warning", f"sarif levels: {levels}")
        for r in results:
            check(drv["rules"][r["ruleIndex"]]["id"] == r["ruleId"], "sarif: ruleIndex")
            loc = r["locations"][0]["physicalLocation"]
            check(loc["artifactLocation"]["uri"].startswith("file://"), "sarif: absolute URI")
            if "region" in loc:
                check(isinstance(loc["region"]["byteOffset"], int), "sarif: byteOffset")
        check(any(r["ruleId"] and r["locations"][0].get("logicalLocations", [{}])[0]
                  .get("fullyQualifiedName") == "os.system" for r in results),
              "sarif: the global as a logical location")
        inv = s["runs"][0]["invocations"][0]
        check(inv["executionSuccessful"] is False and
              len(inv["toolExecutionNotifications"]) == 1, "sarif: the error is a notification")

        # Text output never passes terminal controls through.
        evil = os.path.join(tmp, "evil\x1b]0;pwned\x07.pkl")
        with open(evil, "wb") as f:
            f.write(b"cos\x1b[2J\nsys\xe2\x80\xaetem\n.")
        rc, out, err = run("scan", evil)
        check("\x1b" not in out and "\x07" not in out and "\u202e" not in out,
              "text output escapes control and bidi characters")
        rc, out, err = run("scan", "--format", "json", evil)
        check(json.loads(out)["files"][0]["path"] == evil, "json keeps a control character")

        # A file name that is not UTF-8 still gives valid JSON.
        bad = os.path.join(tmp.encode(), b"bad\xff.pkl")
        with open(bad, "wb") as f:
            f.write(SAFE)
        p2 = subprocess.run([BRINE.encode(), b"scan", b"--format", b"json", bad],
                            capture_output=True, timeout=60)
        check(json.loads(p2.stdout.decode("utf-8"))["files"][0]["path"].endswith("bad\ufffd.pkl"),
              "json: invalid UTF-8 in a path becomes U+FFFD")

        # Recursion: symlinks to directories are not followed, links to files are scanned,
        # special files are errors (never opened: a FIFO would block).
        os.symlink(tmp, os.path.join(tmp, "sub", "loop"))
        os.symlink(p["b_unsafe.bin"], os.path.join(tmp, "sub", "link.pkl"))
        os.mkfifo(os.path.join(tmp, "sub", "fifo"))
        rc, out, err = run("scan", "--format", "json", "-r", os.path.join(tmp, "sub"))
        doc = json.loads(out)
        paths = [f["path"] for f in doc["files"]]
        check(not any("/loop/" in x for x in paths), "recursion does not follow a dir link")
        check(any(x.endswith("link.pkl") for x in paths), "recursion scans a link to a file")
        check([e["path"].endswith("fifo") for e in doc["errors"]] == [True] and rc == 1,
              "a FIFO is an error entry")
        check("not followed" in err, "a skipped directory link is named on stderr")

        # The output cannot be written: exit 2 (1 when something already failed).
        with open("/dev/full", "w") as full:
            rc = subprocess.run([BRINE, "scan", p["a_safe.pkl"]], stdout=full,
                                stderr=subprocess.PIPE, timeout=60).returncode
        check(rc == 2, f"scan > /dev/full exits 2, got {rc}")

        # dis: lists, and --member on a plain pickle is refused with exit 2.
        rc, out, err = run("dis", p["b_unsafe.bin"])
        check(rc == 0 and "GLOBAL" in out and "os system" in out, "dis lists GLOBAL 'os system'")
        rc, out, err = run("dis", "--format", "json", p["a_safe.pkl"])
        check(rc == 0 and json.loads(out)["pickles"][0]["ops"][0]["op"] == "PROTO",
              "dis --format json")
        rc, out, err = run("dis", "--member", "data.pkl", p["a_safe.pkl"])
        check(rc == 2 and "no pickle member data.pkl" in err, "dis --member on a plain pickle")
        check(run("dis", missing)[0] == 2, "dis on a missing file exits 2")


def emitted_rules():
    """Rule names passed as literals to the finding functions anywhere in src/."""
    rules = set()
    for dirpath, _, files in os.walk(os.path.join(SRC, "src")):
        for name in files:
            if not name.endswith(".c"):
                continue
            text = open(os.path.join(dirpath, name), encoding="utf-8").read()
            rules |= set(re.findall(
                r'(?:scan_add_finding\s*\([^,]+,|FIND\s*\()\s*BRINE_[A-Z]+\s*,\s*"([a-z0-9-]+)"',
                text))
    return rules


def part_rules():
    rules = emitted_rules()
    check(len(rules) >= 10, f"found the scanner's rules: {sorted(rules)}")
    contract = read("docs/contract.md")
    man = man_text()
    table = set(re.findall(r'^RULE\("([a-z0-9-]+)"', read("src/report/rules.def"), re.M))
    for rule in sorted(rules):
        check(f"`{rule}`" in contract, f"docs/contract.md documents the rule {rule}")
        check(rule in man, f"docs/brine.1 documents the rule {rule}")
        check(rule in table, f"src/report/rules.def lists the rule {rule} (for SARIF)")
    for rule in sorted(table):
        check(f"`{rule}`" in contract, f"rules.def's {rule} is in docs/contract.md")
        check(rule in man, f"rules.def's {rule} is in docs/brine.1")
    check("zip-" in man, "docs/brine.1 documents the zip-* rules")

    # What the tool prints carries only documented rules. Scanning the committed samples and
    # fuzz seeds (zips with reader discrepancies among them) also catches a rule string that
    # does not outlive the scan: it would come out as garbage here.
    zip_h = os.path.join(SRC, "src", "formats", "zip.h")
    known = set(table)
    if os.path.exists(zip_h):
        known |= {"zip-" + n for n in re.findall(r'X\(\w+,\s*\d+,\s*"([a-z0-9-]+)"',
                                                 open(zip_h, encoding="utf-8").read())}
    dirs = [d for d in (os.path.join(SRC, "samples"), os.path.join(SRC, "fuzz", "corpus"))
            if os.path.isdir(d)]
    if dirs:
        p = subprocess.run([BRINE, "scan", "-r", "--format", "jsonl", *dirs],
                           capture_output=True, timeout=600)
        seen = {}
        for line in p.stdout.decode("utf-8").splitlines():
            for fd in json.loads(line).get("findings", []):
                seen.setdefault(fd["rule"], json.loads(line)["path"])
        for rule, path in sorted(seen.items()):
            check(rule in known, f"scan of {path} reports the undocumented rule {rule!r}")


{"help": part_help, "scan": part_scan, "rules": part_rules}[PART]()
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("ok")
