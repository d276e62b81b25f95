"""Writes the benchmark inputs into a directory (run with the project venv: torch 2.x).

usage: python bench/gen.py DIR [--quick]

  ckpt_75m.pt     torch.save (zip format) of a state dict: 400 float32 tensors, 75 MiB
  ckpt_1g.pt      the same with 400 tensors, 1 GiB
  raw_1m.pkl, raw_10m.pkl, raw_100m.pkl
                  plain pickles (protocol 4) of nested builtin data: dicts of lists of
                  ints, floats, short strings and bytes, the shape of a tokenizer vocabulary or
                  a feature table (what a scanner reads opcode by opcode)
  small_1000/, small_10000/
                  that many small pickle files (0.3-2 kB each) of builtin data
Files that exist with the right size are kept. Nothing here loads a pickle.
"""

import os
import pickle
import random
import sys


def state_dict(total_bytes, n_tensors, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    per = total_bytes // n_tensors // 4
    sd = {}
    left = total_bytes // 4
    for i in range(n_tensors):
        n = per if i < n_tensors - 1 else left
        left -= n
        sd[f"layers.{i // 4}.block{i % 4}.weight"] = torch.rand(n, generator=g)
    return sd


def checkpoint(path, total_bytes, n_tensors):
    if os.path.exists(path) and os.path.getsize(path) >= total_bytes:
        return
    import torch

    tmp = path + ".tmp"
    torch.save(state_dict(total_bytes, n_tensors, len(path)), tmp)
    os.replace(tmp, path)


def raw_object(target, seed):
    rnd = random.Random(seed)
    words = ["".join(rnd.choice("abcdefghijklmnop") for _ in range(rnd.randint(3, 10))) for _ in range(5000)]
    rows, size, i = [], 0, 0
    while size < target:
        row = {
            "id": i,
            "token": words[i % len(words)] + str(i),
            "score": rnd.random(),
            "ids": [rnd.randint(0, 1 << 20) for _ in range(8)],
            "blob": bytes(rnd.getrandbits(8) for _ in range(8)),
            "flag": i % 3 == 0,
        }
        rows.append(row)
        i += 1
        size += 110  # about what one row pickles to
    return {"rows": rows, "vocab": {w: k for k, w in enumerate(words)}}


def raw_pickle(path, target):
    if os.path.exists(path) and abs(os.path.getsize(path) - target) < target // 4:
        return
    data = pickle.dumps(raw_object(target, target), protocol=4)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def small_files(path, n):
    done = os.path.join(path, ".complete")
    if os.path.exists(done):
        return
    os.makedirs(path, exist_ok=True)
    rnd = random.Random(n)
    for i in range(n):
        obj = {
            "name": f"item{i}",
            "weights": [rnd.random() for _ in range(rnd.randint(10, 150))],
            "labels": {f"k{j}": j for j in range(rnd.randint(1, 20))},
            "shape": (rnd.randint(1, 9), rnd.randint(1, 9)),
        }
        with open(os.path.join(path, f"f{i:05d}.pkl"), "wb") as f:
            f.write(pickle.dumps(obj, protocol=i % 6))
    open(done, "w").close()


def main():
    out = sys.argv[1]
    quick = "--quick" in sys.argv
    os.makedirs(out, exist_ok=True)
    if quick:
        checkpoint(os.path.join(out, "ckpt_75m.pt"), 1 << 20, 40)
        raw_pickle(os.path.join(out, "raw_1m.pkl"), 1 << 18)
        small_files(os.path.join(out, "small_1000"), 20)
        return
    checkpoint(os.path.join(out, "ckpt_75m.pt"), 75 << 20, 400)
    checkpoint(os.path.join(out, "ckpt_1g.pt"), 1 << 30, 400)
    for mb in (1, 10, 100):
        raw_pickle(os.path.join(out, f"raw_{mb}m.pkl"), mb * 1000 * 1000)
    small_files(os.path.join(out, "small_1000"), 1000)
    small_files(os.path.join(out, "small_10000"), 10000)


if __name__ == "__main__":
    main()
