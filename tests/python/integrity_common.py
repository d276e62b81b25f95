"""Shared by tests/python/test_integrity_*.py: the fixtures of tests/gen/gen_integrity.py (made
once per test module by torch 1.13), directory snapshots, and a strict safetensors reader.

The hostile fixtures are never loaded; tests assert that their marker file never appears.
"""
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gen"))
import brinetest as bt  # noqa: E402
import gen_integrity  # noqa: E402


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """(fixture dir, marker path). The marker must never exist."""
    d = tmp_path_factory.mktemp("integrity")
    marker = d / "PAYLOAD_RAN"
    gen_integrity.make(d / "fx", marker)
    yield d / "fx", marker
    assert not marker.exists(), "a hostile payload ran"


def snapshot(directory):
    """{relative name: sha256 or 'link->target' or file type} of everything under directory,
    hidden temporaries included."""
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, directory)
            if os.path.islink(p):
                out[rel] = "link->" + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = "special"
    return out


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} of a safetensors file, with its layout checked."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out, end = {}, 0
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = t["data_offsets"]
        assert a == end, "safetensors data must be contiguous"
        end = b
        out[name] = (t["dtype"], t["shape"], data[a:b])
    assert end == len(data), "safetensors data must end at the file's end"
    return out


def run(*args, timeout=60):
    return bt.run_brine(*args, timeout=timeout)
