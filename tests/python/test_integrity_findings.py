"""Findings say what really happens (issue 9, item 5): a TorchScript archive is `unsafe`
because torch.load hands it to torch.jit.load, which runs its code/ — not because its
data.pkl and code/*.debug_pkl members call torch.jit._pickle.build_intlist, an identity
function (torch/jit/_pickle.py: `def build_intlist(data): return data`).

The archive is written by torch.jit.save (tests/gen/gen_integrity.py) and only scanned.
"""
import json

import pytest

import brinetest as bt
from integrity_common import fx, run  # noqa: F401


def scan(path):
    r = run("scan", "--format", "json", path)
    return r, json.loads(r.stdout)["files"][0]


def test_torchscript_is_unsafe_for_its_code(fx):
    r, f = scan(fx[0] / "scripted.pt")
    assert r.returncode == 1 and f["verdict"] == "unsafe", bt.describe(r)
    assert any(x["rule"] == "torchscript" and x["severity"] == "unsafe"
               for x in f["findings"]), f["findings"]


def test_build_intlist_is_not_said_to_run_code(fx):
    r, f = scan(fx[0] / "scripted.pt")
    wrong = [x for x in f["findings"] if x.get("global", "").startswith("torch.jit._pickle.")
             and "runs" in x["message"]]
    assert wrong == [], wrong
