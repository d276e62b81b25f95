"""Every command opens only regular files and says why otherwise, without blocking
(issue 9, item 2).

A FIFO with no writer would block open(2) forever; a directory, a socket, a character device
(/dev/zero would never end) are not model files either. Each is given to every command in
every file position (scan PATH, dis FILE, inspect FILE, convert IN, diff A and B, scan
--policy FILE); each must return within seconds with exit 2 and a message naming what the
path is. Real files come from tests/gen/gen_integrity.py.
"""
import os
import socket
import time

import pytest

import brinetest as bt
from integrity_common import fx, run  # noqa: F401

KINDS = {"fifo": "FIFO", "directory": "directory", "socket": "socket",
         "chardev": "character device"}


@pytest.fixture(scope="module")
def specials(tmp_path_factory):
    d = tmp_path_factory.mktemp("special")
    # neutral names: the messages must say what the file is, not echo its name
    os.mkfifo(d / "node1")
    (d / "node2").mkdir()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d / "node3"))
    paths = {"fifo": d / "node1", "directory": d / "node2", "socket": d / "node3",
             "chardev": "/dev/zero"}
    yield paths
    s.close()


def invocations(good, special, tmp):
    """(label, argv) for every file position of every command."""
    return [
        ("scan", ["scan", special]),
        ("scan-json", ["scan", "--format", "json", special]),
        ("dis", ["dis", special]),
        ("inspect", ["inspect", special]),
        ("convert-in", ["convert", special, tmp / "o.safetensors"]),
        ("diff-a", ["diff", special, good]),
        ("diff-b", ["diff", good, special]),
        ("policy", ["scan", "--policy", special, good]),
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_command_refuses_promptly(fx, specials, tmp_path, kind):
    good = fx[0] / "sd.pt"
    for label, argv in invocations(good, specials[kind], tmp_path):
        if kind == "directory" and label.startswith("scan"):
            argv = argv[:-1] + [specials[kind]]  # scan without -r: "is a directory (use -r)"
        t0 = time.monotonic()
        r = run(*argv, timeout=20)  # a blocking open would hit this timeout and fail the test
        elapsed = time.monotonic() - t0
        assert elapsed < 10, "%s on a %s took %.1fs" % (label, kind, elapsed)
        assert r.returncode == 2, "%s on a %s: %s" % (label, kind, bt.describe(r))
        said = (r.stdout + r.stderr).decode()
        if label == "policy":
            assert "not a regular file" in said, said
        else:
            word = KINDS[kind]
            assert word in said, "%s on a %s does not say it is a %s: %s" % (label, kind, word,
                                                                               said)
        assert not os.path.exists(tmp_path / "o.safetensors")


def test_fifo_output_and_config_refused(fx, specials, tmp_path):
    good = fx[0] / "sd.pt"
    for argv in (["convert", "--force", good, specials["fifo"]],
                 ["convert", "--force", "--config", specials["fifo"], good,
                  tmp_path / "o.safetensors"],
                 ["convert", "--force", good, "/dev/null"]):
        r = run(*argv, timeout=20)
        assert r.returncode == 2 and b"not a regular file" in r.stderr, bt.describe(r)
    assert os.listdir(tmp_path) == []
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_regular_files_still_read(fx):
    """The non-blocking open changes nothing for a regular file (small and mapped sizes)."""
    for argv in (["scan", fx[0] / "sd.pt"], ["dis", fx[0] / "evil.pkl"],
                 ["inspect", fx[0] / "sd.pt"], ["diff", fx[0] / "sd.pt", fx[0] / "sd_same.pt"]):
        r = run(*argv)
        assert r.returncode == 0, bt.describe(r)
