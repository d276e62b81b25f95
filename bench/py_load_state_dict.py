"""brine.load_state_dict vs torch.load(weights_only=True) on a ~75 MiB checkpoint.

usage: BRINE_LIBRARY=build/libbrine.so PYTHONPATH=python python bench/py_load_state_dict.py [DIR]

Writes a transformer-like state dict (float32, 75 MiB, 100 tensors) with torch.save (zip and
legacy formats), then times each loader, best of 7 warm runs, after checking they agree.
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

import brine


def best(fn, n=7):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    d = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    torch.manual_seed(0)
    sd = {}
    for layer in range(12):
        for name, shape in (("attn.qkv.weight", (384, 128)), ("attn.qkv.bias", (384,)),
                            ("attn.out.weight", (128, 128)), ("mlp.fc1.weight", (512, 128)),
                            ("mlp.fc2.weight", (128, 512)), ("ln.weight", (128,)),
                            ("ln.bias", (128,)), ("mlp.fc1.bias", (512,))):
            sd[f"layers.{layer}.{name}"] = torch.randn(shape)
    sd["embed.weight"] = torch.randn(32000, 512)
    nbytes = sum(t.numel() * t.element_size() for t in sd.values())
    for kind, kw in (("zip", {}), ("legacy", {"_use_new_zipfile_serialization": False})):
        p = d / f"bench_{kind}.pt"
        torch.save(sd, p, **kw)
        a, b = torch.load(p, weights_only=True), brine.load_state_dict(p)
        assert all(torch.equal(a[k], b[k]) for k in a) and len(a) == len(b)
        tt = best(lambda: torch.load(p, weights_only=True))
        tb = best(lambda: brine.load_state_dict(p))
        tmm = best(lambda: torch.load(p, weights_only=True, mmap=True)) \
            if kind == "zip" and int(torch.__version__.split(".")[0]) >= 2 else None
        tbm = best(lambda: brine.load_state_dict(p, mmap=True))
        c = brine.load_state_dict(p, mmap=True)
        assert all(torch.equal(a[k], c[k]) for k in a)

        def np_all():
            with brine.safe_open(p) as f:
                return [f.get_tensor(k) for k in f.keys()]
        tn = best(np_all)
        print(f"{kind}: {nbytes / 2**20:.1f} MiB, {len(sd)} tensors: torch.load(weights_only) "
              f"{tt * 1e3:.1f} ms, brine.load_state_dict {tb * 1e3:.1f} ms "
              f"({tt / tb:.2f}x), brine.load_state_dict(mmap=True) {tbm * 1e3:.1f} ms, brine.safe_open np zero-copy {tn * 1e3:.1f} ms"
              + (f", torch.load(mmap=True) {tmm * 1e3:.1f} ms" if tmm else ""))


if __name__ == "__main__":
    main()
