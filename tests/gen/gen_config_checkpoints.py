"""Benign checkpoints for the config round trip (tests/python/test_config_roundtrip.py): what
training scripts really save — model + optimizer + scheduler + GradScaler state, a
Lightning-style checkpoint, argparse namespaces — and every value the typed config encoding
(docs/config.md) must carry: int, tuple, float, None and bool keys, big integers, NaN/inf,
-0.0, bytes, sets, numpy scalars and dtypes, torch dtypes/devices/sizes, recursion.

Runs under torch 1.13 (Debian) and 2.x (the venv). `python3 gen_config_checkpoints.py OUT`
writes OUT/<name>.pt with torch.save and OUT/manifest.json: {name: {"allow": [...]}}.
Imported by the test to build the same objects in-process (CHECKPOINTS).
"""

import argparse
import collections
import json
import os
import sys

import numpy as np
import torch


def trained(opt_kind, steps=2, seed=0):
    """A small model (Linear, BatchNorm with running stats, Linear) trained a few steps."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    if opt_kind == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    scaler = gradscaler()
    for _ in range(steps):
        opt.zero_grad()
        loss = model(torch.randn(5, 4)).pow(2).mean()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
    return model, opt, sched, scaler


def gradscaler():
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        try:
            return amp.GradScaler("cpu")
        except (TypeError, RuntimeError):
            pass
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.cuda.amp.GradScaler(enabled=False)  # torch 1.13 on CPU: state {}


def full_training():
    model, opt, sched, scaler = trained("adam")
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "epoch": 2}


def sgd_momentum():
    model, opt, sched, _ = trained("sgd")
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict()}


def lightning():
    model, opt, sched, _ = trained("adam", steps=3, seed=1)
    return {
        "epoch": 4, "global_step": 1234, "pytorch-lightning_version": "2.1.0",
        "state_dict": collections.OrderedDict(("model." + k, v)
                                              for k, v in model.state_dict().items()),
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}":
                      {"best_model_score": torch.tensor(0.25), "best_k_models": {},
                       "dirpath": "/tmp/ckpt", "kth_value": float("inf")}},
        "hparams_name": "kwargs",
        "hyper_parameters": {"lr": 1e-3, "layers": (64, 32), "dropout": None, "act": "relu",
                             "nested": {"a": [1, 2, (3, 4)], "b": None, "c": {"d": True}},
                             "schedule": [(0, 1.0), (10, 0.1)]},
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 5}}}},
    }


def namespace():
    model, _opt, _sched, _ = trained("sgd", steps=1)
    args = argparse.Namespace(lr=0.1, sizes=(128, 64), name="run-7", flag=True, nothing=None,
                              milestones=[30, 60], extra={"k": 1})
    return {"args": args, "state_dict": model.state_dict(), "arch": "mlp"}


def odd_values():
    rec = [1, "x"]
    rec.append(rec)
    d = {"self": None}
    d["self"] = d
    return {
        "int_keys": {0: "a", 1: "b", -5: "c", 2**40: "d"},
        "tuple_keys": {(1, 2): "t", ("a", (3, None)): "nested", (): "empty"},
        "other_keys": {None: 1, 2.5: 2, True: 3, b"raw": 4, frozenset([1]): 5},
        "mixed_keys": {"s": 1, 7: 2},
        "reserved": {"__type__": "not a type", "other": 1},
        "big": 2**70, "negbig": -2**70, "huge": 3**500, "i64max": 2**63 - 1, "i64min": -2**63,
        "past_i64": 2**63,
        "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "negzero": -0.0,
        "tiny": 5e-324, "floats": [0.1, 1 / 3, 1e308],
        "bytes": b"\x00\xff\x80abc", "empty_bytes": b"", "bytearray": bytearray(b"\x01\x02"),
        "set": {1, 2, 3}, "frozenset": frozenset(["a", "b"]), "empty_set": set(),
        "tuple": (1, (2, 3), [4]), "empty_tuple": (), "list": [1, [2, []]],
        "np_f32": np.float32(1.5), "np_f64": np.float64(-2.25), "np_i64": np.int64(-7),
        "np_u8": np.uint8(200), "np_bool": np.bool_(True), "np_f16": np.float16(0.5),
        "np_dtype": np.dtype("float32"), "np_dtype_be": np.dtype(">i4"),
        "np_array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "np_array_be": np.arange(3, dtype=">f8"), "np_fortran": np.asfortranarray(np.ones((2, 3))),
        "torch_dtypes": [torch.float32, torch.bfloat16, torch.int8, torch.bool],
        "device": torch.device("cpu"), "device_idx": torch.device("cpu", 0),
        "size": torch.Size([2, 3, 4]), "empty_size": torch.Size([]),
        "complex": 1 + 2j, "complex_nan": complex(float("nan"), -0.0),
        "text": "t\u00e9xt \U0001f600 \x00 nul", "counter": collections.Counter("abracadabra"),
        "od": collections.OrderedDict([("z", 1), ("a", 2)]),
        "recursive_list": rec, "recursive_dict": d,
        "tensor": torch.arange(4.0), "param": torch.nn.Parameter(torch.ones(2)),
        "frozen_param": torch.nn.Parameter(torch.zeros(3), requires_grad=False),
        "empty": {}, "none": None, "true": True,
    }


# name -> (builder, extra --allow entries, legacy writer too)
CHECKPOINTS = {
    "full_training": (full_training, [], True),
    "sgd_momentum": (sgd_momentum, [], False),
    "lightning": (lightning, [], True),
    "namespace": (namespace, ["argparse.Namespace"], True),
    "odd_values": (odd_values, ["builtins.bytes"], False),
}


def write_all(out):
    os.makedirs(out, exist_ok=True)
    manifest = {}
    for name, (build, allow, legacy) in CHECKPOINTS.items():
        obj = build()
        torch.save(obj, os.path.join(out, name + ".pt"))
        manifest[name + ".pt"] = {"allow": allow, "object": name}
        if legacy:
            torch.save(obj, os.path.join(out, name + ".legacy.pt"),
                       _use_new_zipfile_serialization=False)
            manifest[name + ".legacy.pt"] = {"allow": allow, "object": name}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "files": manifest}, f, indent=1)


if __name__ == "__main__":
    write_all(sys.argv[1])
