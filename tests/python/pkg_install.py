"""`pip install .` into a fresh virtual environment, then the issue's check:
`python -c "import brine; print(brine.scan('samples/seed_exploit.pkl').verdict)"` prints
`unsafe`, from a directory outside the source tree so the installed package is the one used.

usage: pkg_install.py SOURCE_DIR WORK_DIR

The venv is made without system site packages, by the Python running this script; pip uses
its configured index (scikit-build-core and numpy come from there). The CMake build of the
wheel is kept in WORK_DIR/skbuild between runs (scikit-build-core's build-dir), so a re-run
only rebuilds what changed; the venv itself is made fresh every time.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def main():
    src, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    venv = work / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    out = run([py, "-c", "import sys; print(sys.flags.no_site, sys.prefix != sys.base_prefix,"
               " any('dist-packages' in p for p in sys.path))"], capture_output=True, text=True)
    assert out.stdout.split() == ["0", "True", "False"], out.stdout  # isolated from Debian's
    env = dict(os.environ)
    for var in ("PYTHONPATH", "BRINE_LIBRARY", "BRINE_CLI"):
        env.pop(var, None)
    run([py, "-m", "pip", "install", "--quiet", "--no-cache-dir", src,
         f"--config-settings=build-dir={work / 'skbuild'}"], env=env, cwd=work)
    with tempfile.TemporaryDirectory() as elsewhere:
        sample = src / "samples" / "seed_exploit.pkl"
        (Path(elsewhere) / "samples").mkdir()
        shutil.copy(sample, Path(elsewhere) / "samples" / "seed_exploit.pkl")
        out = run([py, "-c", "import brine; print(brine.scan('samples/seed_exploit.pkl').verdict)"],
                  capture_output=True, text=True, env=env, cwd=elsewhere)
        assert out.stdout == "unsafe\n", out
        where = run([py, "-c", "import brine, brine._lib as l; print(brine.__file__);"
                     " print(l.library_path()); print(l.cli_path())"],
                    capture_output=True, text=True, env=env, cwd=elsewhere).stdout.split()
        for p in where:
            assert p.startswith(str(venv)), where
        cli = subprocess.run([str(venv / "bin" / "brine"), "scan", "samples/seed_exploit.pkl"],
                             env=env, cwd=elsewhere, capture_output=True, text=True)
        assert cli.returncode == 1 and "unsafe" in cli.stdout, cli
        mod = subprocess.run([str(py), "-m", "brine", "--version"], env=env, cwd=elsewhere,
                             capture_output=True, text=True)
        assert mod.returncode == 0 and mod.stdout.startswith("brine "), mod
    print("pkg_install: ok")


if __name__ == "__main__":
    main()
