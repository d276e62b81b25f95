#!/usr/bin/env python3
"""contract_examples.py BRINE SOURCE_DIR [--write] — docs/contract.md's examples are brine's
real output.

Every ```console block of docs/contract.md holds `$ brine ...` command lines, each followed by
what brine printed (stdout and stderr as one stream) and `[exit status N]`. This script runs
the commands of each block in order, in a fresh temporary directory where `samples` links to
the repository's committed samples/, and rebuilds the block from what they print. Without
--write it fails (exit 1, with a diff) when a block differs, so the contract cannot go stale;
with --write it rewrites docs/contract.md.

Nothing here loads a sample: brine only reads them (samples/seed_exploit.pkl is hostile).
"""
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile

BLOCK = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)


def run_block(brine, samples, body):
    commands = [line[2:] for line in body.splitlines() if line.startswith("$ brine")]
    out = []
    with tempfile.TemporaryDirectory(prefix="brine-contract-") as tmp:
        os.symlink(samples, os.path.join(tmp, "samples"))
        env = dict(os.environ, LC_ALL="C", LANG="C")
        for cmd in commands:
            argv = shlex.split(cmd)
            r = subprocess.run([brine] + argv[1:], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            text = r.stdout.decode("utf-8", "replace").rstrip("\n")
            out.append("$ " + cmd)
            if text:
                out.append(text)
            out.append("[exit status %d]" % r.returncode)
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: contract_examples.py BRINE SOURCE_DIR [--write]")
    brine, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    write = "--write" in sys.argv[3:]
    path = os.path.join(src, "docs", "contract.md")
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    samples = os.path.join(src, "samples")
    blocks = 0

    def regenerate(m):
        nonlocal blocks
        if "$ brine" not in m.group(1):
            return m.group(0)
        blocks += 1
        return "```console\n" + run_block(brine, samples, m.group(1)) + "```"

    new = BLOCK.sub(regenerate, doc)
    if blocks == 0:
        sys.exit("docs/contract.md has no ```console example with a '$ brine' line")
    if new == doc:
        print("docs/contract.md: %d examples match brine's output" % blocks)
        return 0
    if write:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
        print("docs/contract.md: examples rewritten")
        return 0
    sys.stdout.writelines(difflib.unified_diff(doc.splitlines(True), new.splitlines(True),
                                               "docs/contract.md", "brine's real output"))
    print("\ndocs/contract.md is stale: run tests/cli/contract_examples.py BRINE SOURCE_DIR --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
