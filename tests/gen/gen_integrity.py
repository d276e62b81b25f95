#!/usr/bin/python3
"""Fixtures for the integrity tests (tests/python/test_integrity_*.py): convert collisions,
special files, signals and exit codes.

usage: /usr/bin/python3 tests/gen/gen_integrity.py OUTDIR [MARKER]
       /usr/bin/python3 tests/gen/gen_integrity.py --big PATH   (a ~1 GiB checkpoint)

Every benign file is written by torch 1.13 (torch.save) or pickle.dumps of plain values; the
hostile ones are assembled opcode by opcode (gen_bad_checkpoints.payload: os.system('touch
MARKER')) and never loaded. Writes OUTDIR/manifest.json: {file: what it is}.
"""

import fractions
import json
import pickle
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_bad_checkpoints as bad  # noqa: E402


def state_dict(seed):
    g = torch.Generator().manual_seed(seed)
    return {"layer.weight": torch.randn(4, 3, generator=g), "layer.bias": torch.randn(4, generator=g),
            "epoch": 7, "lr": 0.001, "name": "tiny"}


def make(out, marker):
    out.mkdir(parents=True, exist_ok=True)
    files = {}

    def save(name, obj, what, **kw):
        torch.save(obj, out / name, **kw)
        files[name] = what

    save("sd.pt", state_dict(1), "state dict, torch zip")
    save("sd_same.pt", state_dict(1), "the same tensors saved again (diff: identical)")
    save("sd_other.pt", state_dict(2), "other values, same names (diff: different)")
    save("sd_legacy.pt", state_dict(1), "state dict, legacy format",
         _use_new_zipfile_serialization=False)
    save("one.pt", {"w": torch.ones(3)}, "a single tensor (plural: '1 tensor')")
    save("dup_names.pt", {"a": {"b.c": torch.zeros(2)}, "a.b": {"c": torch.ones(2)}},
         "two tensors whose joined name is a.b.c: not representable in safetensors")
    save("metadata_name.pt", {"__metadata__": torch.zeros(2), "w": torch.ones(2)},
         "a tensor named __metadata__: not representable in safetensors")
    bad.torch_zip(out / "evil.pt", [("data.pkl", bad.payload(marker)), ("data/0", bad.W4),
                                    ("version", b"3\n")])
    files["evil.pt"] = "torch zip whose data.pkl calls os.system (never loaded)"
    (out / "evil.pkl").write_bytes(bad.payload(marker))
    files["evil.pkl"] = "raw pickle calling os.system (never loaded)"
    (out / "unverified.pkl").write_bytes(pickle.dumps(fractions.Fraction(1, 3), protocol=2))
    files["unverified.pkl"] = "fractions.Fraction: outside the allowlist, not dangerous"
    whole = (out / "sd.pt").read_bytes()
    (out / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    files["truncated.pt"] = "sd.pt cut in half: invalid"
    (out / "notes.txt").write_text("not a model\n")
    files["notes.txt"] = "text: format none"
    make_torchscript(out / "scripted.pt")
    files["scripted.pt"] = "TorchScript archive (torch.jit.save): unsafe for its code/"
    (out / "manifest.json").write_text(json.dumps(files, indent=1))
    return files


class ScriptedModel(torch.nn.Module):
    """Scripted by torch.jit.script: its int-list attribute makes torch write
    torch.jit._pickle.build_intlist into data.pkl and the code/*.debug_pkl members."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.sizes = [1, 2, 3]

    def forward(self, x):
        return self.linear(x)


def make_torchscript(path):
    torch.jit.save(torch.jit.script(ScriptedModel()), str(path))


def make_big(path):
    """~1 GiB: four float32 tensors of 64 Mi elements each, distinct values."""
    torch.save({"w%d" % i: torch.full((64 * 1024 * 1024,), float(i + 1)) for i in range(4)}, path)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--big":
        make_big(sys.argv[2])
    elif len(sys.argv) in (2, 3):
        make(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "/nonexistent/MARKER")
    else:
        sys.exit(__doc__)
