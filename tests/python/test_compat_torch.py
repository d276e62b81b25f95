"""`brine inspect --compat` and the torch archive version (issue 13 item 4), checked against
the real torch releases: Debian's torch 1.13 (/usr/bin/python3) and torch 2.13 (the project
venv). Each release writes a benign checkpoint (zip and legacy); this test rewrites its
version record (`archive/version`, `archive/.data/version`, the legacy protocol version) and
every release then really loads each variant with torch.load(weights_only=True) — only files
this test wrote. brine's prediction (`check.loads` under --target torch==R) must equal what
happened, and the reported version must be the one written.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q -s tests/python/test_compat_torch.py
"""

import io
import json
import os
import subprocess
import zipfile

import pytest

import brinetest as bt

ENVS = {"1.13": "/usr/bin/python3", "2.13": "/var/cache/brine/venv/bin/python"}
needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")

WRITE = r"""
import sys, torch
torch.save({"w": torch.arange(4.0)}, sys.argv[1] + "/zip.pt")
torch.save({"w": torch.arange(4.0)}, sys.argv[1] + "/legacy.pt",
           _use_new_zipfile_serialization=False)
print(torch.__version__)
"""

# Loads only the files this test wrote into its own directory.
READ = r"""
import glob, json, os, sys, warnings; warnings.simplefilter("ignore")
import torch
res = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.pt")):
    try:
        t = torch.load(f, weights_only=True)["w"]
        res[os.path.basename(f)] = "loads" if t.tolist() == [0.0, 1.0, 2.0, 3.0] else "different"
    except Exception as e:
        res[os.path.basename(f)] = "fails: " + str(e).splitlines()[0][:80]
print(json.dumps(res))
"""


def run(py, code, *args):
    r = subprocess.run([py, "-c", code, *args], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode().strip()


def rewrite_zip(src, dst, version=None, data_version=None):
    """src with its <root>/version record replaced and/or a <root>/.data/version added."""
    zin = zipfile.ZipFile(src)
    root = zin.namelist()[0].split("/")[0]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for n in zin.namelist():
            data = zin.read(n)
            if n == root + "/version" and version is not None:
                data = version
            z.writestr(n, data)
        if data_version is not None:
            z.writestr(root + "/.data/version", data_version)


def variants(d):
    """name -> the version brine must report"""
    out = {}
    for v in (b"1\n", b"3\n", b"10\n", b"11\n", b"0\n", b"99\n"):
        n = "zip_v%s.pt" % v.strip().decode()
        rewrite_zip(d / "zip.pt", d / n, version=v)
        out[n] = int(v)
    rewrite_zip(d / "zip.pt", d / "zip_data11.pt", data_version=b"11\n")  # read first: fails
    out["zip_data11.pt"] = 11
    rewrite_zip(d / "zip.pt", d / "zip_data3_v11.pt", version=b"11\n", data_version=b"3\n")
    out["zip_data3_v11.pt"] = 3
    legacy = (d / "legacy.pt").read_bytes()
    # the second pickle is the protocol version 1001: BININT2 0x03e9 after the magic pickle
    at = legacy.index(b"M\xe9\x03.")
    assert at < 40
    (d / "legacy_p1002.pt").write_bytes(legacy[:at] + b"M\xea\x03." + legacy[at + 4:])
    out["legacy_p1002.pt"] = 1002
    out["legacy.pt"] = 1001
    out["zip.pt"] = 3
    return out


@needs_brine
def test_torch_archive_version_prediction_matches_reality(tmp_path):
    envs = {r: p for r, p in ENVS.items() if os.path.exists(p)}
    if len(envs) < 2:
        pytest.skip("needs torch 1.13 and 2.13")
    rows, disagree = [], []
    for rel_w, py_w in envs.items():
        d = tmp_path / rel_w
        d.mkdir()
        assert run(py_w, WRITE, str(d)).startswith(rel_w)
        expect = variants(d)
        for rel_r, py_r in envs.items():
            real = json.loads(run(py_r, READ, str(d)))
            assert set(real) == set(expect)
            for name, what in sorted(real.items()):
                r = bt.run_brine("inspect", "--compat", "--target", "torch==" + rel_r,
                                 str(d / name))
                assert r.returncode in (0, 1), r.stderr
                doc = json.loads(r.stdout)
                assert doc["torch_archive"]["version"] == expect[name], (name, doc)
                said = doc["check"]["loads"]
                rows.append((rel_w, rel_r, name, "loads" if said else "fails", what))
                if said != (what == "loads"):
                    disagree.append(rows[-1])
    print("\n| writer | reader | file | brine predicts | real torch.load |\n|---|---|---|---|---|")
    for row in rows:
        print("| %s | %s | %s | %s | %s |" % row)
    print("%d cells, %d disagreements" % (len(rows), len(disagree)))
    assert not disagree, disagree
    assert len(rows) == 2 * 2 * 11


@needs_brine
def test_legacy_and_zip_records_are_reported(tmp_path):
    r = subprocess.run([ENVS["1.13"], "-c", WRITE, str(tmp_path)], capture_output=True)
    if r.returncode:
        pytest.skip("no torch 1.13")
    doc = json.loads(bt.run_brine("inspect", "--compat", str(tmp_path / "zip.pt")).stdout)
    assert doc["torch_archive"] == {"record": "zip/version", "version": 3}, doc
    doc = json.loads(bt.run_brine("inspect", "--compat", str(tmp_path / "legacy.pt")).stdout)
    assert doc["torch_archive"] == {"record": "legacy protocol", "version": 1001}, doc
