#!/usr/bin/env python3
"""make_corpus_ml.py — seeds for fuzz_gguf, fuzz_onnx and fuzz_savedmodel: the fixtures
tests/gen/gen_gguf.py, gen_onnx.py and gen_savedmodel.py write with the real gguf, onnx and
protobuf packages (benign, hostile and corrupted), each file under 64 KiB, copied to
fuzz/corpus/{gguf,onnx,savedmodel}/. Run with the venv python:

    /var/cache/brine/venv/bin/python fuzz/make_corpus_ml.py
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE.parent / "tests" / "gen"
MAX_FILE = 64 * 1024

for kind, gen in (("gguf", "gen_gguf.py"), ("onnx", "gen_onnx.py"),
                  ("savedmodel", "gen_savedmodel.py")):
    out = HERE / "corpus" / kind
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, str(GEN / gen), d], check=True, capture_output=True)
        for f in json.loads((Path(d) / "manifest.json").read_text())["files"]:
            p = Path(d) / f["file"]
            if p.is_file() and p.stat().st_size <= MAX_FILE:
                shutil.copyfile(p, out / f["file"].replace("/", "__"))
