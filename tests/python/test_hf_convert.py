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


# ------------------------------------------------------------------ shards and folders

def write_sharded(folder, sd, per_shard):
    """pytorch_model-0000k-of-0000N.bin + pytorch_model.bin.index.json, as transformers'
    save_pretrained(safe_serialization=False) lays them out."""
    folder.mkdir(exist_ok=True)
    names = list(sd)
    parts = [names[i:i + per_shard] for i in range(0, len(names), per_shard)]
    weight_map, total = {}, 0
    for i, part in enumerate(parts):
        fn = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(parts))
        torch.save({k: sd[k] for k in part}, folder / fn)
        for k in part:
            weight_map[k] = fn
            total += sd[k].numel() * sd[k].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(
        json.dumps(index, indent=2, sort_keys=True) + "\n")
    return len(parts), total


def load_sharded(index_path):
    """What transformers does with model.safetensors.index.json: every shard the weight_map
    names, loaded with safetensors."""
    index = json.loads(Path(index_path).read_text())
    sd = {}
    for shard in sorted(set(index["weight_map"].values())):
        part = load_file(Path(index_path).parent / shard)
        assert {k for k, v in index["weight_map"].items() if v == shard} == set(part)
        sd.update(part)
    return index, sd


def test_folder_with_sharded_checkpoint(tmp_path):
    m = trained_block()
    src = tmp_path / "hf"
    nshards, total = write_sharded(src, m.state_dict(), 3)
    (src / "config.json").write_text('{"model_type": "block"}\n')
    (src / "tokenizer.json").write_text('{"version": "1.0"}')
    (src / "special_tokens_map.json").write_bytes(b"{}\n")
    out = tmp_path / "out"
    r = brine("convert", src, out)
    assert "model.safetensors.index.json" in r.stdout
    files = sorted(os.listdir(out))
    shards = ["model-%05d-of-%05d.safetensors" % (i + 1, nshards) for i in range(nshards)]
    assert set(shards) <= set(files) and "model.safetensors.index.json" in files
    for f in ("config.json", "tokenizer.json", "special_tokens_map.json"):
        assert (out / f).read_bytes() == (src / f).read_bytes()
    assert not any(f.endswith(".bin") for f in files)
    index, sd = load_sharded(out / "model.safetensors.index.json")
    assert index["metadata"]["total_size"] == total
    assert set(index["weight_map"].values()) == set(shards)
    fresh = Block()
    fresh.load_state_dict(sd, strict=True)
    same_state(m.state_dict(), fresh.state_dict())
    rebuilt = checkpoint.load_checkpoint(out / "model.safetensors.index.json")
    assert type(rebuilt).__name__ == "dict"  # what torch.save wrote per shard
    same_state(m.state_dict(), rebuilt)
    text = (out / "model.safetensors.index.json").read_text()
    assert text == json.dumps(index, indent=2, sort_keys=True) + "\n"  # as transformers writes


def test_folder_refuses_an_unsafe_file_and_writes_nothing(tmp_path):
    src = tmp_path / "hf"
    src.mkdir()
    torch.save(trained_block().state_dict(), src / "pytorch_model.bin")
    marker = tmp_path / "BRINE_PAYLOAD_RAN"
    # training_args.bin that runs a command when unpickled (never loaded here)
    payload = b"\x80\x02cposix\nsystem\nq\x00X" + len("touch %s" % marker).to_bytes(4, "little") \
        + ("touch %s" % marker).encode() + b"\x85R."
    (src / "training_args.bin").write_bytes(payload)
    out = tmp_path / "out"
    r = brine("convert", src, out, ok=False)
    assert r.returncode == 1 and "training_args.bin" in r.stderr, r.stderr
    assert not out.exists() or os.listdir(out) == []
    assert not marker.exists()


def test_max_shard_size_splits_like_transformers(tmp_path):
    m = trained_block()
    torch.save(m.state_dict(), tmp_path / "pytorch_model.bin")
    out = tmp_path / "o"
    out.mkdir()
    brine("convert", "--max-shard-size", "150B", tmp_path / "pytorch_model.bin",
          out / "model.safetensors")
    files = sorted(os.listdir(out))
    assert "model.safetensors" not in files and "model.safetensors.index.json" in files
    index, sd = load_sharded(out / "model.safetensors.index.json")
    sizes = {}
    for name, shard in index["weight_map"].items():
        sizes[shard] = sizes.get(shard, 0) + sd[name].numel() * sd[name].element_size()
    n = len(sizes)
    assert n >= 3 and sorted(sizes) == ["model-%05d-of-%05d.safetensors" % (i + 1, n)
                                        for i in range(n)]
    big = max(t.numel() * t.element_size() for t in sd.values())
    assert all(v <= max(150, big) for v in sizes.values()), sizes
    assert index["metadata"]["total_size"] == sum(sizes.values())
    Block().load_state_dict(sd, strict=True)
    same_state(m.state_dict(), sd)
    rebuilt = checkpoint.load_checkpoint(out / "model.safetensors.index.json",
                                         out / "model.config.json")
    same_state(m.state_dict(), rebuilt)
    # small enough for one file: model.safetensors as usual, no index
    brine("convert", "--max-shard-size", "5GB", tmp_path / "pytorch_model.bin",
          tmp_path / "one.safetensors")
    assert (tmp_path / "one.safetensors").exists()
    r = brine("convert", "--max-shard-size", "lots", tmp_path / "pytorch_model.bin",
              tmp_path / "x.safetensors", ok=False)
    assert r.returncode == 2


def test_folder_without_a_model_is_refused(tmp_path):
    src = tmp_path / "hf"
    src.mkdir()
    (src / "config.json").write_text("{}")
    r = brine("convert", src, tmp_path / "out", ok=False)
    assert r.returncode == 2 and "no model file" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
