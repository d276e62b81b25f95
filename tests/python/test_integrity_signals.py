"""An interrupted `brine convert` leaves nothing behind and says it was interrupted
(issue 9, item 1).

A ~1 GiB checkpoint (four float32 tensors, torch.save by torch 1.13 in a temporary
directory) is converted; the conversion is stopped

  - by `timeout --preserve-status -s SIG T brine convert ...` at three points spread over
    its measured duration (SIGINT early, SIGTERM in the middle, SIGHUP late), and
  - by sending each signal the moment the hidden temporary beside OUT has grown past 64 MiB
    (so a live temporary is certainly removed, however fast the machine).

Each time: brine dies of that signal (timeout reports 128+N, waitpid WIFSIGNALED), the
directory holds the input only — no output, no config, no `.OUT.tmp-*` — and the input is
unchanged.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

import brinetest as bt
from integrity_common import run  # noqa: F401

import gen_integrity  # noqa: E402

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def fingerprint(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
        f.seek(-(1 << 20), os.SEEK_END)
        tail = f.read()
    return st.st_size, st.st_mtime_ns, st.st_ino, head, tail


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    src = d / "big.pt"
    gen_integrity.make_big(src)
    assert src.stat().st_size > 1 << 30
    yield d, src
    shutil.rmtree(d)  # 1 GiB, and whatever a failing run left beside it


def convert_argv(src, d):
    return [bt.brine_path(), "convert", str(src), str(d / "out.safetensors")]


def left_over(d):
    return sorted(n for n in os.listdir(d) if n != "big.pt")


@pytest.fixture(scope="module")
def duration(big):
    """Seconds a whole conversion takes here (the faster of two runs), checked complete."""
    d, src = big
    best = None
    for _ in range(2):
        t0 = time.monotonic()
        r = subprocess.run(convert_argv(src, d), capture_output=True, timeout=600)
        took = time.monotonic() - t0
        assert r.returncode == 0, bt.describe(r)
        assert (d / "out.safetensors").stat().st_size > 1 << 30
        os.unlink(d / "out.safetensors")
        os.unlink(d / "out.config.json")
        best = took if best is None else min(best, took)
    return best


@pytest.mark.parametrize("sig,fraction", [(signal.SIGINT, 0.1), (signal.SIGTERM, 0.4),
                                          (signal.SIGHUP, 0.7)],
                         ids=["INT-early", "TERM-middle", "HUP-late"])
def test_timeout_kill_points(big, duration, sig, fraction):
    d, src = big
    before = fingerprint(src)
    delay = max(0.02, duration * fraction)
    for _attempt in range(4):
        argv = ["timeout", "--preserve-status", "-s", sig.name[3:], "%.3f" % delay]
        r = subprocess.run(argv + convert_argv(src, d), capture_output=True, timeout=600)
        if r.returncode != 0:
            break
        # finished before the signal (a faster run than measured): clean up, stop earlier
        os.unlink(d / "out.safetensors")
        os.unlink(d / "out.config.json")
        delay /= 2
    assert r.returncode == 128 + sig, "%s after %.3fs: %s" % (sig.name, delay, bt.describe(r))
    assert left_over(d) == [], "interrupted convert left %s" % left_over(d)
    assert fingerprint(src) == before


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_while_temporary_grows(big, sig):
    d, src = big
    before = fingerprint(src)
    p = subprocess.Popen(convert_argv(src, d), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = None
    deadline = time.monotonic() + 300
    while p.poll() is None and time.monotonic() < deadline and not seen:
        for n in os.listdir(d):
            if n.startswith(".out.safetensors.tmp-"):
                try:
                    if os.stat(d / n).st_size > 64 << 20:
                        seen = n
                except FileNotFoundError:
                    pass
        if not seen:
            time.sleep(0.001)
    if seen:
        p.send_signal(sig)
    out, err = p.communicate(timeout=300)
    assert seen, "the conversion ended before its temporary was seen (%r)" % err
    assert p.returncode == -sig, "exit %s after %s: %r" % (p.returncode, sig.name, err)
    assert left_over(d) == [], "interrupted convert left %s" % left_over(d)
    assert fingerprint(src) == before


def test_ignored_signal_stays_ignored(big, tmp_path):
    """nohup semantics: a SIGHUP ignored by the parent does not stop the conversion."""
    d, src = big
    p = subprocess.Popen(convert_argv(src, d), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    time.sleep(0.05)
    p.send_signal(signal.SIGHUP)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert sorted(left_over(d)) == ["out.config.json", "out.safetensors"]
    os.unlink(d / "out.safetensors")
    os.unlink(d / "out.config.json")
