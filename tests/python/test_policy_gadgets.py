"""The gadget walk: every callable of the real numpy, torch, sklearn, joblib and scipy whose code
reaches exec/eval/compile, a process launcher, a file write or a nested loader must be `unsafe`
in brine, under the default policy and under every --allow profile.

tools/gadget_walk.py lists them by static analysis of the installed sources (Debian's
/usr/bin/python3 for all five, the project venv for numpy 2 and joblib 1.6); the list is
regenerated here and joined with the committed tests/data/gadgets.txt, so a library upgrade
that adds a gadget fails this test until the denylist covers it. For each name one tiny pickle
that only imports it (GLOBAL or, for a dotted qualname, protocol-4 STACK_GLOBAL, then STOP) is
written and scanned; nothing is ever unpickled.

Run: BRINE=build/brine BRINE_VENV_PYTHON=... /usr/bin/python3 -m pytest -q tests/python/test_policy_gadgets.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import brinetest as bt

TOOL = bt.REPO / "tools" / "gadget_walk.py"
COMMITTED = bt.REPO / "tests" / "data" / "gadgets.txt"
PROFILES = [None, "sklearn", "torch", "numpy", "xgboost", "lightgbm", "builtins"]
# Which interpreter walks which packages: Debian's has all five, the venv has what users run.
# Packages are walked independently (the closure stays inside each), so torch, the largest,
# gets a process of its own.
WALKS = [(bt.PYTHON, "torch"), (bt.PYTHON, "numpy,sklearn,joblib,scipy"),
         (os.environ.get("BRINE_VENV_PYTHON"), "numpy,joblib")]

# Gadgets brine allows on purpose, because it judges what they would do: the bytes handed to
# torch.storage._load_from_bytes are scanned as a nested file (scan.c nested_loader; the
# hostile fixture a_load_from_bytes_legacy of gen_hostile.py checks that). Only the bare
# import of such a name is exempt here.
INTERPRETED = {"torch.storage:_load_from_bytes"}

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


def read_list(text):
    names = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, kind, _pkg = line.split("\t")
        names[name] = kind
    return names


def gadget_pickle(name):
    """A pickle whose only effect is importing module:qualname (nothing called)."""
    module, qual = name.split(":")
    if "." not in qual:
        return b"c" + module.encode() + b"\n" + qual.encode() + b"\n."
    out = bytearray(b"\x80\x04")
    for s in (module, qual):
        b = s.encode()
        out += (b"\x8c" + bytes([len(b)]) if len(b) < 256 else b"X" + len(b).to_bytes(4, "little")) + b
    return bytes(out + b"\x93.")


@pytest.fixture(scope="module")
def gadgets():
    procs = []
    for py, pkgs in WALKS:
        if py and os.path.exists(py):
            procs.append(subprocess.Popen([py, str(TOOL), "--packages", pkgs],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    names = read_list(COMMITTED.read_text())
    committed = set(names)
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode(errors="replace")
        names.update(read_list(out.decode()))
    new = sorted(set(names) - committed)
    if new:
        print(f"{len(new)} gadgets not in {COMMITTED.name} (regenerate it): {new[:20]}",
              file=sys.stderr)
    return names


def test_walk_finds_known_gadgets(gadgets):
    """The walk is not vacuous: gadgets checked by hand in the sources must be on it."""
    for name in ["numpy:load", "numpy.lib.npyio:load", "joblib:load", "torch:load",
                 "torch.serialization:load", "sklearn.utils._testing:assert_run_python_script",
                 "numpy:save", "torch:save", "joblib.numpy_pickle_compat:load_compatibility",
                 "joblib.numpy_pickle:NumpyUnpickler"]:
        assert name in gadgets or name.replace(".lib.npyio", ".lib._npyio_impl") in gadgets, name
    per_pkg = {}
    for n in gadgets:
        per_pkg[n.split(".")[0].split(":")[0]] = per_pkg.get(n.split(".")[0].split(":")[0], 0) + 1
    print("gadgets per package:", per_pkg, file=sys.stderr)
    for pkg in ("numpy", "torch", "sklearn", "joblib", "scipy"):
        assert per_pkg.get(pkg, 0) >= 20, per_pkg


@needs_brine
@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p or "default")
def test_every_gadget_is_unsafe(gadgets, tmp_path, profile):
    index = {}
    assert INTERPRETED <= set(gadgets), "the walk no longer finds " + str(INTERPRETED)
    for i, name in enumerate(sorted(set(gadgets) - INTERPRETED)):
        f = tmp_path / f"g{i:05d}.pkl"
        f.write_bytes(gadget_pickle(name))
        index[str(f)] = name
    args = ["scan", "-r", "--format", "jsonl", str(tmp_path)]
    if profile:
        args[1:1] = ["--allow", profile]
    r = bt.run_brine(*args, timeout=600)
    assert r.returncode == 1, r.stderr.decode(errors="replace")
    seen, wrong = set(), []
    for line in r.stdout.decode().splitlines():
        doc = json.loads(line)
        name = index[doc["path"]]
        seen.add(name)
        module, qual = name.split(":")
        full = module + "." + qual
        named = {f.get("global") for f in doc["findings"] if f["severity"] == "unsafe"}
        if doc["verdict"] != "unsafe" or full not in named:
            wrong.append(f"{full}: {doc['verdict']} {[f['rule'] for f in doc['findings']]}")
    assert seen == set(gadgets) - INTERPRETED, "brine did not report every file"
    assert not wrong, f"{len(wrong)} gadgets not unsafe under --allow {profile}:\n" + \
        "\n".join(wrong[:200])
