#!/usr/bin/python3
"""Writes the committed demo files in samples/ (see samples/README.md).

usage: /usr/bin/python3 scripts/make_samples.py [OUTDIR]   (default: samples/ of the repo)

Run with Debian's /usr/bin/python3, which has python3-numpy and python3-torch. Output is
reproducible: fixed seeds, and torch's storage keys (memory addresses) renamed to counters.
Dumping the exploit is safe: pickle.dumps never calls the function __reduce__ names.
"""

import collections
import io
import os
import pickle
import pickletools
import struct
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


class Exploit:
    """The seed document's example, with a harmless command."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/brine-seed-demo-marker",))


_orig_storage_reduce = torch.storage.TypedStorage.__reduce__


def _storage_reduce(self):
    # torch's legacy writer names storages by address (str(storage._cdata)); rename them to
    # counters inside the five leading pickles so the sample is byte-for-byte reproducible
    fn, (blob,) = _orig_storage_reduce(self)
    f = io.BytesIO(blob)
    for _ in range(5):
        ops = list(pickletools.genops(f))
    head_end = f.tell()
    keys = [a for _op, a, _p in ops if isinstance(a, str)]
    head = blob[:head_end]
    for i, key in enumerate(keys):
        new = "storage%d" % i
        head = head.replace(b"X" + struct.pack("<I", len(key)) + key.encode(),
                            b"X" + struct.pack("<I", len(new)) + new.encode())
    return fn, (head + blob[head_end:],)


def benign_model():
    rng = np.random.default_rng(0)
    return {
        "weights": {"dense1.kernel": rng.standard_normal((4, 8)).astype(np.float32),
                    "dense1.bias": np.zeros(8, np.float32),
                    "dense2.kernel": rng.standard_normal((8, 3)).astype(np.float32),
                    "dense2.bias": np.zeros(3, np.float32)},
        "hyperparameters": {"learning_rate": 0.01, "epochs": 20, "batch_size": 32,
                            "activation": "relu", "layers": [4, 8, 3]},
        "classes": ["cat", "dog", "bird"],
    }


def state_dict_raw():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    # a plain OrderedDict of tensors (what state_dict() holds, without its _metadata)
    return collections.OrderedDict((k, v.detach().clone())
                                   for k, v in model.state_dict().items())


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "samples"
    out.mkdir(parents=True, exist_ok=True)
    torch.storage.TypedStorage.__reduce__ = _storage_reduce
    try:
        files = {
            "seed_exploit.pkl": pickle.dumps(Exploit()),
            "benign_model.pkl": pickle.dumps(benign_model()),
            "state_dict_raw.pkl": pickle.dumps(state_dict_raw()),
        }
    finally:
        torch.storage.TypedStorage.__reduce__ = _orig_storage_reduce
    for name, data in files.items():
        (out / name).write_bytes(data)
        print("%s: %d bytes" % (out / name, len(data)))


if __name__ == "__main__":
    main()
