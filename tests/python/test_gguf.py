"""GGUF through the format model (issue 12 part 4). Fixtures: tests/gen/gen_gguf.py with the
real gguf-py GGUFWriter (and hand-made v1/v2 and corrupted variants). Checks: every fixture's
verdict and rule; `inspect --hash` of benign files equals the bytes gguf-py's GGUFReader
maps for each tensor, with its numpy shape; `convert` round-trips through safetensors;
brine's ggml type table equals gguf-py's GGML_QUANT_SIZES. Hostile templates are never
rendered.
"""
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brinetest  # noqa: E402
from brinetest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    d, files, _ = brinetest.gen_corpus("gen_gguf.py", "brine-gguf-")
    return d, files


run = brinetest.run_brine
scan = brinetest.scan_one


def test_verdicts(corpus):
    d, files = corpus
    assert len(files) >= 35
    bad = []
    for f in files:
        s = scan(d / f["file"])
        rules = [x["rule"] for x in s["findings"]]
        if s["verdict"] != f["expect"] or s["format"] != "gguf" or \
                (f["rule"] and f["rule"] not in rules):
            bad.append((f["file"], s["verdict"], s["findings"][:2]))
    assert not bad, "\n".join(map(repr, bad))


def test_hash_equals_gguf_reader(corpus):
    d, files = corpus
    checked = 0
    for f in files:
        if not f["read"] or f["file"] == "y_q8_0.gguf":
            continue
        r = gguf.GGUFReader(str(d / f["file"]))
        out = run("inspect", "--format", "json", "--hash", d / f["file"])
        assert out.returncode == 0, out.stderr
        ts = {t["name"]: t for t in json.loads(out.stdout)["tensors"]}
        assert len(ts) == len(r.tensors)
        for t in r.tensors:
            b = ts[t.name]
            assert b["sha256"] == hashlib.sha256(np.ascontiguousarray(t.data).tobytes()).hexdigest()
            assert b["shape"] == [int(x) for x in reversed(t.shape.tolist())], t.name
            assert b["dtype"] == t.tensor_type.name, t.name
            checked += 1
    assert checked >= 12


def test_v1_tensors_equal_what_was_written(corpus):
    d, _ = corpus
    want = np.load(d / "v_tensors.npy")
    out = run("inspect", "--format", "json", "--hash", d / "y_v1.gguf")
    assert out.returncode == 0, out.stderr
    ts = json.loads(out.stdout)["tensors"]
    assert [t["shape"] for t in ts] == [[3, 4], [5]]
    got = hashlib.sha256(want[:12].astype("<f4").tobytes()).hexdigest()
    assert ts[0]["sha256"] == got


def test_quantized_is_listed_not_converted(corpus):
    d, _ = corpus
    r = run("inspect", "--hash", d / "y_q8_0.gguf")
    assert r.returncode == 1 and b"Q8_0" in r.stderr and b"quantized" in r.stderr


def test_convert_round_trips(corpus, tmp_path):
    pytest.importorskip("safetensors")
    d, _ = corpus
    out = tmp_path / "m.safetensors"
    r = run("convert", d / "y_floats.gguf", out)
    assert r.returncode == 0, r.stderr
    from safetensors import safe_open
    rd = gguf.GGUFReader(str(d / "y_floats.gguf"))
    with safe_open(str(out), framework="numpy") as f:
        names = set(f.keys())
        for t in rd.tensors:
            assert t.name in names
            if t.tensor_type.name == "BF16":
                continue  # numpy has no bfloat16
            a = f.get_tensor(t.name)
            assert a.tobytes() == np.ascontiguousarray(t.data).tobytes(), t.name


def test_type_table_matches_gguf_py():
    from gguf.constants import GGML_QUANT_SIZES
    src = (REPO / "src/formats/gguf.c").read_text()
    table = {int(m[0]): (m[1], int(m[2]), int(m[3])) for m in
             re.findall(r'\[(\d+)\] = \{"(\w+)", (\d+), (\d+),', src)}
    want = {int(t.value): (t.name, b, s) for t, (b, s) in GGML_QUANT_SIZES.items()}
    assert table == want


def test_real_templates_are_jinja_and_safe(corpus):
    """The benign templates are real Jinja (parsed, never rendered) and brine calls them safe;
    the hostile ones parse too, so the unsafe verdicts are about templates Jinja would run."""
    jinja2 = pytest.importorskip("jinja2")
    d, files = corpus
    n = 0
    for f in files:
        if "template" not in f["file"] or f["file"].startswith("n_v1"):
            continue
        r = gguf.GGUFReader(str(d / f["file"]))
        for k, fld in r.fields.items():
            if k.startswith("tokenizer.chat_template"):
                jinja2.Environment().parse(bytes(fld.parts[fld.data[0]]).decode())
                n += 1
    assert n >= 11
