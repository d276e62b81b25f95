"""brine.load_state_dict against torch.load(weights_only=True), tensor for tensor and type
for type, on benign checkpoints: under the venv's torch 2.x, written here by torch.save;
under Debian's torch 1.13 (/usr/bin/python3), also tests/gen/gen_checkpoints.py's corpus (the
files its manifest says torch 1.13 itself can read).

torch.load is only ever called with weights_only=True, on files made here from objects built
here. brine.load_state_dict rebuilds the nested object with brine.checkpoint.rebuild (the
lossless config); it must return exactly what torch.load returns: same container types and key
order, same scalars, OrderedDict _metadata, tensors with the same dtype, shape, bytes and
requires_grad, Parameters as Parameters.
"""

import collections
import json
import subprocess
import sys

import pytest
import torch

import pkgtest
from pkgtest import assert_same

import brine

TORCH2 = int(torch.__version__.split(".")[0]) >= 2


def _objects():
    """name -> (object, torch.save keyword arguments)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(2):
        net(torch.randn(5, 6)).sum().backward()
        opt.step()
        sgd.step()
        sched.step()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    dtypes = {str(dt).split(".")[1]: (torch.randn(3, 4) * 5).to(dt)
              for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
                         torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)}
    dtypes["bool"] = torch.randn(7) > 0
    dtypes["complex64"] = torch.complex(torch.randn(3), torch.randn(3))
    dtypes["nan_inf"] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0])
    objs = {
        "state_dict": (net.state_dict(), {}),
        "full_training": ({"epoch": 7, "global_step": 1234, "model": net.state_dict(),
                           "optimizer": opt.state_dict(), "sgd": sgd.state_dict(),
                           "scheduler": sched.state_dict(), "best_loss": 0.125,
                           "tags": ["a", "b"], "shape": (2, 3), "none": None, "flag": True}, {}),
        "dtypes": (dtypes, {}),
        "views": ({"base": base, "row": base[1], "col": base[:, 2], "t": base.t(),
                   "tied_a": base, "tied_b": base,
                   "windows": base.view(-1).as_strided((4, 3), (2, 1), 1),  # overlapping
                   "bcast": torch.arange(3.0).expand(2, 3)}, {}),
        "params": (collections.OrderedDict(net.named_parameters()), {}),
        "int_keys": ({0: torch.ones(2), 1: {"x": torch.zeros(3), 2: [torch.ones(1), 3]}}, {}),
        # a NUL byte in a key (fuzz_joblib, 2026-12-06: the name was cut at it, and its
        # memory freed short)
        "nul_key": ({"in\0ercept_": torch.ones(2), "in": torch.zeros(3), "key0": 5}, {}),
        "scalars": ({"i": 2 ** 40, "neg": -5, "f": 1.5, "s": "text", "b": b"bytes",
                     "nested": [[1, 2], (3, (4, 5))], "empty": {}, "e2": [], "t": ()}, {}),
        "empty_tensors": ({"z": torch.zeros(0), "z2": torch.zeros(3, 0), "s": torch.tensor(2)},
                          {}),
    }
    out = {}
    for name, (obj, kw) in objs.items():
        out[name + "_zip"] = (obj, kw)
        out[name + "_legacy"] = (obj, dict(kw, _use_new_zipfile_serialization=False))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("sd")
    files = []
    for name, (obj, kw) in _objects().items():
        p = d / f"{name}.pt"
        torch.save(obj, p, **kw)
        files.append(p)
    if not TORCH2:
        gen = d / "gen"
        subprocess.run([sys.executable, str(pkgtest.GEN_DIR / "gen_checkpoints.py"), str(gen)],
                       check=True, timeout=600, capture_output=True)
        manifest = json.loads((gen / "manifest.json").read_text())
        files += [gen / f for f, e in sorted(manifest.items()) if e["oracle"] == "torch"]
    return files


def _readable(p):
    """torch.load(weights_only=True) of a benign file made here, or None when torch itself
    refuses it (torch 1.13 cannot read BINFLOAT or protocol > 2): then there is no oracle."""
    try:
        return torch.load(p, weights_only=True)
    except Exception:  # noqa: BLE001 - torch's own refusal, recorded by the caller
        return None


def test_load_state_dict_equals_torch_load(corpus):
    compared, failures = 0, []
    for p in corpus:
        want = _readable(p)
        if want is None:
            continue
        try:
            assert_same(want, brine.load_state_dict(p))
            assert_same(want, brine.load_state_dict(p, mmap=True))
            compared += 1
        except (AssertionError, brine.BrineError, KeyError, TypeError, ValueError) as exc:
            failures.append(f"{p.name}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)
    assert compared >= (16 if TORCH2 else 40), compared


def test_state_dict_restores_module(corpus):
    """The rebuilt state dict loads into the module with strict=True."""
    p = next(p for p in corpus if p.name == "state_dict_zip.pt")
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2))
    net.load_state_dict(brine.load_state_dict(p), strict=True)
    want = torch.load(p, weights_only=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, want[k]), k


def test_refuses_what_torch_refuses(tmp_path):
    """A checkpoint holding an object torch.load(weights_only=True) refuses is refused."""
    p = tmp_path / "deque.pt"
    torch.save({"x": collections.deque([1, 2])}, p)
    with pytest.raises(Exception):
        torch.load(p, weights_only=True)
    with pytest.raises(brine.PolicyError):
        brine.load_state_dict(p)


def _flatten(obj, prefix=""):
    """Tensors of a nested object by brine's naming: keys and indices joined with '.'."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for i, (k, v) in enumerate(obj.items()):
            if isinstance(k, str) and "\0" in k:
                k = f"key{i}"  # no NUL in a name: the key's position instead
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}.{i}" if prefix else str(i))


def test_tensors_equal_torch_load(corpus):
    """The tensors alone (safe_open framework="pt", the binding's part of load_state_dict):
    by name, dtype, shape and bytes, against torch.load(weights_only=True)."""
    compared = 0
    for p in corpus:
        want = _readable(p)
        if want is None:
            continue
        want = dict(_flatten(want))
        with brine.safe_open(p, framework="pt") as f:
            assert sorted(f.keys()) == sorted(want), p.name
            for name, w in want.items():
                g = f.get_tensor(name)
                assert (g.dtype, tuple(g.shape)) == (w.dtype, tuple(w.shape)), (p.name, name)
                assert pkgtest.torch_bytes(g) == pkgtest.torch_bytes(w), (p.name, name)
        compared += 1
    assert compared >= (16 if TORCH2 else 40), compared


def _by_storage(tensors):
    """The names grouped by the storage their tensors are views of."""
    groups = collections.defaultdict(set)
    for name, t in tensors.items():
        ptr = t.untyped_storage().data_ptr() if TORCH2 else t.storage().data_ptr()
        groups[ptr].add(name)
    return sorted(sorted(g) for g in groups.values())


def test_shared_storages_stay_shared(corpus):
    """Views and tied weights share one storage, as torch.load returns them: the same grouping
    by storage, strides and storage offsets, and a write through one is seen through all."""
    checked = 0
    for p in corpus:
        if not p.name.startswith("views_"):
            continue
        want = dict(_flatten(torch.load(p, weights_only=True)))
        assert len(_by_storage(want)) < len(want), p.name  # the oracle shares storages
        for mmap in (False, True):
            got = dict(_flatten(brine.load_state_dict(p, mmap=mmap)))
            assert _by_storage(got) == _by_storage(want), (p.name, mmap)
            for name, w in want.items():
                g = got[name]
                assert (g.stride(), g.storage_offset()) == (w.stride(), w.storage_offset()), \
                    (p.name, mmap, name)
                assert torch.equal(g, w), (p.name, mmap, name)
            checked += 1
            if p.name in ("views_zip.pt", "views_legacy.pt"):  # written by _objects() above
                got["base"][1, 2] = 100.0
                assert got["row"][2] == got["col"][1] == got["t"][2, 1] == got["tied_b"][1, 2]
                assert got["tied_a"][1, 2] == 100
    assert checked >= 4, checked
