#!/usr/bin/env python3
"""Seeds for fuzz_keras_config and fuzz_keras_h5 from the Keras and skops fixtures.

    KERAS_BACKEND=torch /var/cache/brine/venv/bin/python fuzz/make_corpus_keras.py

Runs tests/gen/gen_keras.py and gen_skops.py (the real keras 3.15, h5py, skops 0.16) into a
temporary folder, then writes fuzz/corpus/keras_config/ (config.json, model_config,
training_config and schema.json texts behind the target's selector byte) and
fuzz/corpus/keras_files/ (the smaller whole files).
"""
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
tmp = Path(tempfile.mkdtemp(prefix="brine-keras-seeds-"))
env = dict(os.environ, KERAS_BACKEND="torch")
for gen, out in [("gen_keras.py", "k"), ("gen_skops.py", "s")]:
    subprocess.run([sys.executable, str(REPO / "tests/gen" / gen), str(tmp / out),
                    str(tmp / "MARKER")], check=True, capture_output=True, env=env)
assert not (tmp / "MARKER").exists()

cfg = HERE / "corpus/keras_config"
files = HERE / "corpus/keras_files"
for d in (cfg, files):
    d.mkdir(parents=True, exist_ok=True)
    for f in d.iterdir():
        f.unlink()

for p in sorted((tmp / "k").glob("*.keras")):
    try:
        with zipfile.ZipFile(p) as z:
            (cfg / f"k_{p.stem}").write_bytes(b"\x02" + z.read("config.json"))
    except (zipfile.BadZipFile, KeyError):
        pass
for p in sorted((tmp / "k").glob("*.h5")):
    try:
        with h5py.File(p, "r") as f:
            for attr, sel in (("model_config", b"\x02"), ("training_config", b"\x00")):
                v = f.attrs.get(attr)
                if v is not None:
                    v = v.encode() if isinstance(v, str) else bytes(v)
                    (cfg / f"h_{p.stem}_{attr}").write_bytes(sel + v)
    except OSError:
        pass
for p in sorted((tmp / "s").glob("*.skops")):
    try:
        with zipfile.ZipFile(p) as z:
            (cfg / f"s_{p.stem}").write_bytes(b"\x03" + z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError):
        pass
for p in sorted(list((tmp / "k").glob("*")) + list((tmp / "s").glob("*"))):
    if p.suffix in (".h5", ".keras", ".skops") and p.stat().st_size <= 24000:
        (files / p.name).write_bytes(p.read_bytes())
print(len(list(cfg.iterdir())), "config seeds,", len(list(files.iterdir())), "file seeds")
