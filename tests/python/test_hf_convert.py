"""Hugging Face conventions in `brine convert` (issue 10 part 3), checked with the real
safetensors package and torch 2.x: --state-dict of a whole pickled module (names
model.state_dict() gives, persistent buffers only), --key PATH (one part of a checkpoint),
--dedup (tied weights stored once, as safetensors.torch.save_model does, re-tied on load),
sharded checkpoints and whole model folders (pytorch_model-0000x-of-0000N.bin + index ->
model-0000x-of-0000N.safetensors + model.safetensors.index.json), --max-shard-size.

Every pickle here is benign and written by this file (or by Debian's torch 1.13 from the
script below); torch.load(weights_only=False) is used on nothing.
"""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, load_model, save_model

import brinetest as bt

REPO = Path(__file__).resolve().parents[2]
BRINE = os.environ.get("BRINE")
pytestmark = pytest.mark.skipif(not BRINE, reason="BRINE not set")
spec = importlib.util.spec_from_file_location("brine_checkpoint",
                                              REPO / "python" / "brine" / "checkpoint.py")
checkpoint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checkpoint)

MODULES = "torch.nn.modules.*"


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.inner = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 3, bias=False))
        self.register_buffer("scale", torch.tensor([2.0]))
        self.register_buffer("cache", torch.zeros(3), persistent=False)
        self.register_parameter("unused", None)

    def forward(self, x):
        return self.inner(self.bn(self.fc1(x))) * self.scale


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 6)
        self.body = torch.nn.Linear(6, 6)
        self.head = torch.nn.Linear(6, 10, bias=False)
        self.head.weight = self.embed.weight


def brine(*args, ok=True):
    r = subprocess.run([BRINE, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def trained_block(seed=0):
    torch.manual_seed(seed)
    m = Block()
    m.train()
    m(torch.randn(6, 4))  # running stats and num_batches_tracked move
    return m


def same_state(a, b):
    assert list(a) == list(b) or sorted(a) == sorted(b), (sorted(a), sorted(b))
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------ --state-dict

def test_state_dict_of_a_whole_pickled_module(tmp_path):
    m = trained_block()
    torch.save(m, tmp_path / "whole.pt")
    out = tmp_path / "model.safetensors"
    brine("convert", "--allow", MODULES, "--allow", Block.__module__ + ".Block", "--state-dict",
          tmp_path / "whole.pt", out)
    sd = load_file(out)
    want = m.state_dict()
    assert "cache" not in sd and "bn.num_batches_tracked" in sd and "scale" in sd
    same_state(want, sd)
    fresh = Block()
    fresh.load_state_dict(sd, strict=True)
    same_state(want, fresh.state_dict())
    rebuilt = checkpoint.load_checkpoint(out)  # the config: an OrderedDict in state_dict order
    assert type(rebuilt).__name__ == "OrderedDict" and list(rebuilt) == list(want)
    same_state(want, rebuilt)


DEBIAN_WHOLE = """
import sys, torch
torch.manual_seed(1)
m = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5),
                        torch.nn.Sequential(torch.nn.Linear(5, 2)))
m(torch.randn(4, 3))
torch.save(m, sys.argv[1])
torch.save(m.state_dict(), sys.argv[2])
torch.save({"model": m, "epoch": 3}, sys.argv[3])
"""


def test_state_dict_torch113_module(tmp_path):
    files = [tmp_path / n for n in ("whole.pt", "sd.pt", "ckpt.pt")]
    subprocess.run([bt.PYTHON, "-c", DEBIAN_WHOLE, *map(str, files)], check=True, timeout=300)
    want = torch.load(files[1], weights_only=True)
    for src, extra in ((files[0], []), (files[2], ["--key", "model"])):
        out = tmp_path / (src.stem + ".safetensors")
        brine("convert", "--allow", MODULES, "--state-dict", *extra, src, out)
        sd = load_file(out)
        same_state(want, sd)
        fresh = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5),
                                    torch.nn.Sequential(torch.nn.Linear(5, 2)))
        fresh.load_state_dict(sd, strict=True)


def test_state_dict_refuses_a_value_that_is_not_a_module(tmp_path):
    torch.save({"a": torch.ones(2)}, tmp_path / "d.pt")
    r = brine("convert", "--state-dict", tmp_path / "d.pt", tmp_path / "o.safetensors", ok=False)
    assert r.returncode == 2 and "torch.nn.Module" in r.stderr, r.stderr
    assert not (tmp_path / "o.safetensors").exists()


# ------------------------------------------------------------------ --key

def test_key_takes_one_part(tmp_path):
    m = trained_block()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.randn(6, 4)).sum().backward()
    opt.step()
    torch.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 7},
               tmp_path / "ckpt.pt")
    out = tmp_path / "model.safetensors"
    brine("convert", "--key", "model", tmp_path / "ckpt.pt", out)
    sd = load_file(out)
    same_state(m.state_dict(), sd)
    Block().load_state_dict(sd, strict=True)
    rebuilt = checkpoint.load_checkpoint(out)
    assert type(rebuilt).__name__ == "OrderedDict"
    same_state(m.state_dict(), rebuilt)
    assert rebuilt._metadata == m.state_dict()._metadata
    # a dotted path through an int-keyed dict
    brine("convert", "--key", "optimizer.state.0", tmp_path / "ckpt.pt",
          tmp_path / "s0.safetensors")
    s0 = checkpoint.load_checkpoint(tmp_path / "s0.safetensors")
    first = opt.state[next(iter(m.parameters()))]
    assert sorted(s0) == sorted(first) and torch.equal(s0["momentum_buffer"],
                                                       first["momentum_buffer"])
    assert set(load_file(tmp_path / "s0.safetensors")) == {"momentum_buffer"}
    # a plain value part: no tensors, the config holds it
    brine("convert", "--key", "epoch", tmp_path / "ckpt.pt", tmp_path / "e.safetensors")
    assert checkpoint.load_checkpoint(tmp_path / "e.safetensors") == 7


def test_key_missing(tmp_path):
    torch.save({"model": {"w": torch.ones(1)}}, tmp_path / "c.pt")
    r = brine("convert", "--key", "model.nope", tmp_path / "c.pt", tmp_path / "o.safetensors",
              ok=False)
    assert r.returncode == 2 and "no such part" in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


# ------------------------------------------------------------------ --dedup

def test_dedup_stores_tied_weights_once_like_save_model(tmp_path):
    torch.manual_seed(0)
    m = Tied()
    torch.save(m.state_dict(), tmp_path / "tied.pt")
    ref = tmp_path / "ref.safetensors"
    save_model(m, str(ref))
    out = tmp_path / "model.safetensors"
    brine("convert", "--dedup", tmp_path / "tied.pt", out)
    with safe_open(str(out), "pt") as f, safe_open(str(ref), "pt") as g:
        assert sorted(f.keys()) == sorted(g.keys())  # the same name kept
        aliases = json.loads(f.metadata()["brine.aliases"])
    assert aliases == {"head.weight": "embed.weight"}
    fresh = Tied()
    missing, unexpected = load_model(fresh, str(out), strict=True)
    assert not missing and not unexpected
    assert fresh.head.weight is fresh.embed.weight
    same_state(m.state_dict(), fresh.state_dict())
    rebuilt = checkpoint.load_checkpoint(out)
    # state_dict() detaches each name: two tensors on one storage, as torch.load gives
    assert rebuilt["head.weight"].data_ptr() == rebuilt["embed.weight"].data_ptr()
    same_state(m.state_dict(), rebuilt)
    # without --dedup both names are written (and listed as sharing a storage)
    brine("convert", tmp_path / "tied.pt", tmp_path / "both.safetensors")
    assert {"head.weight", "embed.weight"} <= set(load_file(tmp_path / "both.safetensors"))


def test_dedup_keeps_different_views_apart(tmp_path):
    w = torch.arange(12.0).reshape(3, 4)
    torch.save({"w": w, "rows": w[:2], "t": w.t(), "same": w.view(3, 4)}, tmp_path / "v.pt")
    out = tmp_path / "v.safetensors"
    brine("convert", "--dedup", tmp_path / "v.pt", out)
    assert sorted(load_file(out)) == ["rows", "same", "t"] or sorted(load_file(out)) == \
        ["rows", "t", "w"]
    got = checkpoint.load_checkpoint(out)
    for k in ("w", "rows", "t", "same"):
        assert torch.equal(got[k], {"w": w, "rows": w[:2], "t": w.t(), "same": w}[k]), k
    assert got["w"].data_ptr() == got["same"].data_ptr() and got["w"] is not got["same"]
