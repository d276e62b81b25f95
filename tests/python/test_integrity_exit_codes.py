"""Every command's exit status, exactly as docs/contract.md "Exit codes" says (issue 9, item 3),
and `--limit NAME=VALUE` accepted — and applied — by every command.

Files from tests/gen/gen_integrity.py: benign checkpoints written by torch 1.13, a hostile
torch zip and raw pickle assembled opcode by opcode (never loaded), an unverified pickle, a
truncated checkpoint, a text file.
"""
import json
import os
import subprocess

import pytest

import brinetest as bt
from integrity_common import fx, run  # noqa: F401

F = "FIXTURE:"  # argument prefix: a file of the fixture directory
MISSING = F + "no-such-file.pt"

CASES = [
    # scan: 0 every file passes, 1 one fails, 2 usage / unreadable and nothing failed
    (["scan", F + "sd.pt"], 0),
    (["scan", F + "sd_legacy.pt", F + "notes.txt"], 0),
    (["scan", F + "unverified.pkl"], 1),
    (["scan", F + "truncated.pt"], 1),
    (["scan", F + "evil.pt"], 1),
    (["scan", F + "evil.pkl", MISSING], 1),            # findings win over errors
    (["scan", "--fail-on", "unsafe", F + "unverified.pkl"], 0),
    (["scan", "--fail-on", "invalid", F + "truncated.pt"], 1),
    (["scan", MISSING], 2),
    (["scan", F + "sd.pt", MISSING], 2),
    (["scan", "--frob", F + "sd.pt"], 2),
    (["scan"], 2),
    # dis: 0 listed (a malformed or hostile stream too), 2 usage / unreadable
    (["dis", F + "evil.pkl"], 0),
    (["dis", F + "truncated.pt"], 0),
    (["dis", F + "notes.txt"], 0),
    (["dis", MISSING], 2),
    (["dis"], 2),
    (["dis", F + "sd.pt", F + "sd.pt"], 2),
    # inspect: 0 listed, 1 refused, 2 usage / unreadable
    (["inspect", F + "sd.pt"], 0),
    (["inspect", F + "sd_legacy.pt"], 0),
    (["inspect", F + "evil.pt"], 1),
    (["inspect", F + "unverified.pkl"], 1),
    (["inspect", F + "truncated.pt"], 1),
    (["inspect", F + "notes.txt"], 1),
    (["inspect", MISSING], 2),
    (["inspect", "--format", "xml", F + "sd.pt"], 2),
    (["inspect"], 2),
    # diff: 0 identical, 1 different or refused, 2 usage / unreadable
    (["diff", F + "sd.pt", F + "sd_same.pt"], 0),
    (["diff", F + "sd.pt", F + "sd_legacy.pt"], 0),
    (["diff", F + "sd.pt", F + "sd_other.pt"], 1),
    (["diff", F + "sd.pt", F + "one.pt"], 1),
    (["diff", F + "sd.pt", F + "evil.pt"], 1),
    (["diff", F + "sd.pt", MISSING], 2),
    (["diff", F + "sd.pt"], 2),
    # convert: 0 converted, 1 refused conversion, 2 usage / I/O / collision / existing output
    (["convert", F + "sd.pt", "OUT"], 0),
    (["convert", F + "sd_legacy.pt", "OUT"], 0),
    (["convert", F + "evil.pt", "OUT"], 1),
    (["convert", F + "unverified.pkl", "OUT"], 1),
    (["convert", F + "truncated.pt", "OUT"], 1),
    (["convert", F + "notes.txt", "OUT"], 1),
    (["convert", F + "dup_names.pt", "OUT"], 1),
    (["convert", F + "metadata_name.pt", "OUT"], 1),
    (["convert", MISSING, "OUT"], 2),
    (["convert", F + "sd.pt", F + "sd.pt"], 2),
    (["convert", F + "sd.pt", F + "sd_same.pt"], 2),           # exists, no --force
    (["convert", "--to", "onnx", F + "sd.pt", "OUT"], 2),
    (["convert", F + "sd.pt"], 2),
    (["convert", "--allow", "os.system", F + "sd.pt", "OUT"], 2),
]


def resolve(args, fixdir, tmp_path):
    out = []
    for a in args:
        if a.startswith(F):
            out.append(str(fixdir / a[len(F):]))
        elif a == "OUT":
            out.append(str(tmp_path / "out.safetensors"))
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("args,code", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_exit_code(fx, tmp_path, args, code):
    r = run(*resolve(args, fx[0], tmp_path))
    assert r.returncode == code, bt.describe(r)
    if code == 2:
        assert r.stderr.strip() or r.stdout.strip(), "exit 2 without saying why"
    written = sorted(os.listdir(tmp_path))
    if args[0] == "convert":
        assert written == (["out.config.json", "out.safetensors"] if code == 0 else []), written


COMMANDS = {
    "scan": ["scan", F + "sd.pt"],
    "dis": ["dis", F + "sd.pt"],
    "inspect": ["inspect", F + "sd.pt"],
    "convert": ["convert", F + "sd.pt", "OUT"],
    "diff": ["diff", F + "sd.pt", F + "sd_same.pt"],
}


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_limit_accepted_by_every_command(fx, tmp_path, cmd):
    argv = COMMANDS[cmd]
    r = run(argv[0], "--limit", "max_memory=1G", *resolve(argv[1:], fx[0], tmp_path))
    assert r.returncode == 0, bt.describe(r)
    for bad in ("nosuch=1", "max_memory=0", "max_memory", "max_memory=1X"):
        r = run(argv[0], "--limit", bad, *resolve(argv[1:], fx[0], tmp_path / "x"))
        assert r.returncode == 2 and b"--limit" in r.stderr, bt.describe(r)


@pytest.mark.parametrize("cmd", ["scan", "inspect", "convert", "diff"])
def test_limit_is_applied(fx, tmp_path, cmd):
    """sd.pt holds 2 tensors: max_tensors=1 makes it invalid (scan 1) and refused (1)."""
    argv = COMMANDS[cmd]
    r = run(argv[0], "--limit", "max_tensors=1", *resolve(argv[1:], fx[0], tmp_path))
    assert r.returncode == 1, bt.describe(r)
    if cmd != "scan":
        assert b"max_tensors" in r.stderr, bt.describe(r)
    if cmd == "convert":
        assert os.listdir(tmp_path) == []


def test_dis_limit_is_applied(fx):
    r = run("dis", "--limit", "max_opcodes=3", fx[0] / "evil.pkl")
    assert r.returncode == 0 and b"max_opcodes" in r.stdout, bt.describe(r)


@pytest.mark.parametrize("fname,code,verdict", [("sd.pt", 0, "safe"), ("evil.pkl", 1, "unsafe"),
                                                ("truncated.pt", 1, "invalid")])
def test_scan_stdin(fx, fname, code, verdict):
    """`brine scan -` reads standard input (a pipe: FIFOs are fine there) and judges it as the
    same bytes in a file."""
    data = (fx[0] / fname).read_bytes()
    r = subprocess.run([bt.brine_path(), "scan", "--format", "json", "-"], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == code, bt.describe(r)
    f = json.loads(r.stdout)["files"][0]
    assert f["path"] == "-" and f["verdict"] == verdict
    _, doc, _ = bt.scan_json(fx[0] / fname)
    assert doc["files"][0]["findings"] == f["findings"]


def test_scan_stdin_once_and_bounded(fx):
    data = (fx[0] / "sd.pt").read_bytes()
    r = subprocess.run([bt.brine_path(), "scan", "-", "-"], input=data, capture_output=True,
                       timeout=60)
    assert r.returncode == 2 and b"already scanned" in r.stdout, bt.describe(r)
    r = subprocess.run([bt.brine_path(), "scan", "--limit", "max_memory=100", "-"], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 2 and b"larger than max_memory" in r.stdout, bt.describe(r)
