"""Keras files (issue 12 parts 1-2): legacy .h5 models, save_weights files and .keras archives
written by the real keras 3.15 (torch backend) and edited with h5py/zipfile into hostile ones
(tests/gen/gen_keras.py). brine's verdict, rules and named objects must match the manifest;
`brine inspect --hash` must equal what h5py reads from the same datasets; `brine convert`
must round-trip through safetensors. Hostile files are never loaded: the Lambda payload would
create MARKER, which must not exist at the end.
"""
import functools
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from brinetest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    out, files, marker = brinetest.gen_corpus("gen_keras.py", "brine-keras-", marker=True,
                                              timeout=900,
                                              env=dict(os.environ, KERAS_BACKEND="torch"))
    yield out.parent, files
    assert not marker.exists(), "a Lambda payload ran"


run = functools.partial(brinetest.run_brine, timeout=300)
scan = functools.partial(brinetest.scan_one, timeout=300)


def test_verdicts_rules_and_names(corpus):
    d, files = corpus
    assert len(files) >= 30
    bad = []
    for f in files:
        s = scan(d / "f" / f["file"])
        rules = {x["rule"] for x in s["findings"]}
        text = json.dumps(s["findings"])
        if s["verdict"] != f["verdict"]:
            bad.append((f["file"], "verdict", s["verdict"], f["verdict"], s["findings"][:3]))
        for r in f["rules"]:
            if r not in rules:
                bad.append((f["file"], "rule", r, sorted(rules)))
        for n in f["names"]:
            if n not in text:
                bad.append((f["file"], "name", n, s["findings"][:3]))
        if f["format"] and s["format"] != f["format"]:
            bad.append((f["file"], "format", s["format"], f["format"]))
    assert not bad, bad


def test_every_verdict_is_covered(corpus):
    _, files = corpus
    assert {f["verdict"] for f in files} == {"safe", "unverified", "invalid", "unsafe"}


def test_inspect_hash_equals_h5py(corpus):
    d, files = corpus
    benign = [f for f in files if f["tensors"]]
    assert len(benign) >= 9
    compared = 0
    for f in benign:
        r = run("inspect", "--hash", "--format", "json", d / "f" / f["file"])
        assert r.returncode == 0, (f["file"], r.stderr)
        got = {t["name"]: t["sha256"] for t in json.loads(r.stdout)["tensors"]}
        assert got == f["tensors"], f["file"]
        compared += len(got)
    assert compared > 50


def test_convert_round_trips(corpus):
    import numpy as np
    from safetensors.numpy import load_file
    import h5py

    d, files = corpus
    for name in ["functional.h5", "half.weights.h5"]:
        out = d / (name + ".safetensors")
        r = run("convert", "--no-sync", "--force", d / "f" / name, out)
        assert r.returncode == 0, r.stderr
        st = load_file(str(out))
        with h5py.File(d / "f" / name, "r") as h:
            want = {}
            h.visititems(lambda n, o: want.__setitem__(n, o[()])
                         if isinstance(o, h5py.Dataset) and o.dtype.kind in "fiu" else None)
        assert set(st) == set(want), name
        for k, v in want.items():
            assert st[k].dtype == v.dtype.newbyteorder("<") and np.array_equal(st[k], v), k


def test_unsafe_load_refused(corpus):
    d, _ = corpus
    r = run("inspect", d / "f" / "lambda.keras")
    assert r.returncode != 0
    r = run("convert", "--no-sync", d / "f" / "lambda_keras2.h5", d / "never.safetensors")
    assert r.returncode != 0 and not (d / "never.safetensors").exists()


def test_keras_own_load_agrees(corpus):
    """keras.saving.load_model (safe_mode=True) on the benign files: every weight Keras
    rebuilds is one of the tensors brine reads, bit for bit."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import hashlib
    import keras
    import numpy as np

    d, files = corpus
    checked = 0
    for f in files:
        if not f["tensors"] or f["file"].endswith(".weights.h5"):
            continue
        m = keras.saving.load_model(str(d / "f" / f["file"]), compile=False)
        r = run("inspect", "--hash", "--format", "json", d / "f" / f["file"])
        brine = {t["sha256"] for t in json.loads(r.stdout)["tensors"]}
        for w in m.weights:
            a = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
            assert hashlib.sha256(a.tobytes()).hexdigest() in brine, (f["file"], w.path)
            checked += 1
    assert checked >= 20


def test_libhdf5_crash_is_contained():
    """A file on which Debian's libhdf5 1.10.8 segfaults (fuzz finding K2): brine reads HDF5
    in a forked child first, so the scan survives and the file is invalid."""
    f = REPO / "fuzz/regressions/fuzz_keras_h5/libhdf5-accum-read-segv.h5"
    r = run("scan", "--format", "json", f)
    assert r.returncode == 1, r
    s = json.loads(r.stdout)["files"][0]
    assert s["verdict"] == "invalid"
    assert any("libhdf5 crashes (signal" in x["message"] for x in s["findings"]), s["findings"]


def test_file_larger_than_max_memory(tmp_path):
    """libhdf5 reads the file where brine mapped it (no copy of the image): a 4 MB file whose
    datasets are small scans within max_memory=2 MiB. With the copy it was `invalid` (limit,
    "the HDF5 image needs 4213880 bytes"), and a 1.28 GB Keras model was over the default."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import h5py
    import keras
    import numpy as np
    p = tmp_path / "slack.h5"
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    m.save(p)
    with h5py.File(p, "a") as f:  # 4 MiB the walk never reads: a dataset since deleted
        f.create_dataset("junk", data=np.zeros(1 << 20, dtype=np.float32))
        f.attrs["after"] = "x" * 100
        f.create_group("later").create_dataset("x", data=np.ones(3))
    with h5py.File(p, "a") as f:
        del f["junk"], f["later"]
    assert p.stat().st_size > 4 << 20
    _, doc, r = brinetest.scan_json("--limit", f"max_memory={2 << 20}", p)
    assert doc["files"][0]["verdict"] == "safe", r.stdout
