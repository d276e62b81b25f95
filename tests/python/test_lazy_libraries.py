"""libhdf5 and libarchive are loaded when the first HDF5 or 7z file shows up, not at start-up
(src/core/lazylib.h): neither the tool nor the shared library names them (nor the forty
libraries they bring: libcurl, GnuTLS, libxml2, ICU, ...), and when one cannot be loaded the
files it reads are never `safe` while every other file is judged as before.

Run: ctest -R abi_lazy_libraries (it passes BRINE, BRINE_SHARED and BRINE_LAZY_SONAMES).
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

import brinetest as bt

REPO = Path(__file__).resolve().parents[2]
H5 = REPO / "fuzz/corpus/keras_files/sequential.h5"
H5_HOSTILE = REPO / "fuzz/corpus/keras_files/external_link.h5"
SEVENZIP = REPO / "fuzz/corpus/sevenzip/tiny_store.7z"
SEVENZIP_HOSTILE = REPO / "fuzz/corpus/sevenzip/z_plain.7z"
PICKLE_HOSTILE = REPO / "samples/seed_exploit.pkl"

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


def needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def sonames():
    """The sonames the build loads on first use (CMakeLists.txt read them from the libraries)."""
    names = os.environ.get("BRINE_LAZY_SONAMES", "").split(";")
    assert len(names) == 2 and all(".so." in n for n in names), names
    return names


def verdicts(*paths, env=None):
    r = subprocess.run([bt.brine_path(), "scan", "--format", "json", *map(str, paths)],
                       capture_output=True, env=env, timeout=120)
    doc = json.loads(r.stdout)
    return {Path(f["path"]).name: f for f in doc["files"]}, r


@needs_brine
def test_neither_library_is_linked():
    shared = os.environ.get("BRINE_SHARED")
    for binary in [bt.brine_path()] + ([shared] if shared else []):
        deps = needed(binary)
        assert deps, binary
        heavy = [d for d in deps if d.startswith(("libhdf5", "libarchive", "libcurl", "libxml2"))]
        assert not heavy, (binary, deps)


@needs_brine
def test_the_files_are_read_when_the_libraries_load():
    files, r = verdicts(H5, H5_HOSTILE, SEVENZIP, SEVENZIP_HOSTILE)
    got = {name: f["verdict"] for name, f in files.items()}
    assert got == {H5.name: "safe", H5_HOSTILE.name: "unsafe", SEVENZIP.name: "safe",
                   SEVENZIP_HOSTILE.name: "unsafe"}, bt.describe(r)


@needs_brine
def test_a_library_that_cannot_load_makes_its_files_unverified(tmp_path):
    # a file that is no ELF under each soname, found first through LD_LIBRARY_PATH
    for soname in sonames():
        (tmp_path / soname).write_bytes(b"not a library\n")
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    files, r = verdicts(H5, H5_HOSTILE, SEVENZIP, SEVENZIP_HOSTILE, PICKLE_HOSTILE, env=env)
    for name in (H5.name, H5_HOSTILE.name, SEVENZIP.name, SEVENZIP_HOSTILE.name):
        f = files[name]
        assert f["verdict"] == "unverified", bt.describe(r)
        assert any(x["rule"] == "unsupported-format" and "cannot be loaded" in x["message"]
                   for x in f["findings"]), f
    assert files[PICKLE_HOSTILE.name]["verdict"] == "unsafe", bt.describe(r)
    assert r.returncode == 1, bt.describe(r)
