#!/usr/bin/python3
"""Hostile fixtures for the policy (issue 7 items 3 and 4): names that a wildcard, a profile or
the old default policy let through, each `unsafe` now.

usage: /usr/bin/python3 tests/gen/gen_hostile_policy.py OUTDIR MARKER

Causes:
  walk      a protocol-4 dotted name walking from an allowed module into os, builtins, a
            loader (`torch` + `os.system` under --allow torch, ...)
  dunder    a dotted name through a dunder (__globals__, __builtins__, __loader__, ...), even
            when the user allowed that very dotted name exactly
  dtypes    numpy.dtypes.__loader__.set_data: numpy 2's dtypes module holds its loader, which
            writes files (the old default `numpy.dtypes.*` admitted it)
  deny      denylist gaps: loader aliases, writers, joblib's compat loader and loky launchers,
            sklearn's test helpers, yaml loaders, torch.utils.cpp_extension, ...

Every payload would at most create MARKER (a file under a temporary folder) or fail
harmlessly. Samples are assembled opcode by opcode; NOTHING is loaded. Two checks keep them
honest: brinetest.first_find_class (a recording find_class that raises before importing) must
be asked for the name the sample claims, and — for walks and denylisted names whose library is
installed in this Python — the real module must hold the attribute chain (resolved with getattr
on the imported library; nothing is called).

OUTDIR/manifest.json: {file: {"cause", "global": the name brine must report as unsafe,
  "profiles": the --allow profiles to scan it under (null = default policy),
  "allow": extra exact --allow entries, "verified": the walk was checked on the real module}}
"""

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import brinetest  # noqa: E402
from brinetest import (  # noqa: E402
    MARKOP, REDUCE, STOP, TUPLE, binint1, glob, proto, sg, su)

ALL_PROFILES = [None, "numpy", "sklearn", "xgboost", "lightgbm", "torch", "builtins"]
VENV_PYTHON = "/var/cache/brine/venv/bin/python3"


def call_global(module, name, *args, dotted_proto=4):
    """Imports module.name and calls it with literal string/int args; nothing else."""
    enc = []
    for a in args:
        enc.append(su(a) if isinstance(a, str) else binint1(a))
    fn = proto(dotted_proto) + sg(module, name) if "." in name else glob(module, name)
    return fn + MARKOP + b"".join(enc) + TUPLE + REDUCE + STOP


def walk_exists(module, name, python=None):
    """True when the real `module` holds the attribute chain `name` (None: not installed)."""
    if python:
        probe = ("import importlib,functools,sys\n"
                 "try: m = importlib.import_module(sys.argv[1])\n"
                 "except ImportError: print('none'); raise SystemExit\n"
                 "try: functools.reduce(getattr, sys.argv[2].split('.'), m); print('yes')\n"
                 "except AttributeError: print('no')\n")
        try:
            out = subprocess.run([python, "-c", probe, module, name], capture_output=True,
                                 text=True, timeout=120).stdout.strip()
        except OSError:
            return None
        return {"yes": True, "no": False}.get(out)
    try:
        obj = importlib.import_module(module)
    except ImportError:
        return None
    for part in name.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def build(marker):
    m = str(marker)
    touch = "touch " + m
    S = []  # (file stem, cause, module, name, data, profiles, allow, python-for-check)

    def add(stem, cause, module, name, data, profiles=ALL_PROFILES, allow=(), python=None):
        S.append((stem, cause, module, name, data, profiles, list(allow), python))

    # -- walks from a module a profile allows, into what the module imported
    add("walk_torch_os_system", "walk", "torch", "os.system",
        call_global("torch", "os.system", touch))
    add("walk_sklearn_csparsetools_builtins_exec", "walk", "scipy.sparse._csparsetools",
        "__builtins__.exec", call_global("scipy.sparse._csparsetools", "__builtins__.exec",
                                         "open(%r, 'w')" % m))
    add("walk_numpy_lib_npyio_pickle_loads", "walk", "numpy.lib.npyio", "pickle.loads",
        call_global("numpy.lib.npyio", "pickle.loads", "x"))
    add("walk_torch_serialization_pickle_load", "walk", "torch.serialization",
        "pickle.load", call_global("torch.serialization", "pickle.load", m))
    add("walk_datetime_sys_modules", "walk", "datetime", "sys.modules",
        call_global("datetime", "sys.modules"))
    add("walk_torch_private_os_system", "walk", "torch.hub", "os.system",
        call_global("torch.hub", "os.system", touch))
    add("walk_sklearn_testing_shutil_rmtree", "walk", "sklearn.utils._testing",
        "shutil.rmtree", call_global("sklearn.utils._testing",
                                             "shutil.rmtree", m))
    add("walk_joblib_wrapper_read", "walk", "joblib.numpy_pickle", "NumpyArrayWrapper.read",
        call_global("joblib.numpy_pickle", "NumpyArrayWrapper.read", m))
    # xgboost and lightgbm are not installed here: the shape is what matters to the judge
    add("walk_xgboost_core_os_system", "walk", "xgboost.core", "os.system",
        call_global("xgboost.core", "os.system", touch))
    add("walk_lightgbm_basic_subprocess", "walk", "lightgbm.basic", "subprocess.call",
        call_global("lightgbm.basic", "subprocess.call", touch))

    # -- dunders, even under an exact --allow of the dotted name itself
    for stem, module, name in [
            ("globals", "torch.nn.modules.module", "Module.__init__.__globals__"),
            ("builtins", "scipy.sparse._csparsetools", "__builtins__.eval"),
            ("loader", "collections", "__loader__.get_data"),
            ("dict", "torch", "__dict__.get"),
            ("class_subclasses", "builtins", "object.__subclasses__"),
            ("import", "builtins", "object.__import__"),
            ("code", "collections", "namedtuple.__code__.replace"),
            ("self", "torch", "ones.__self__.load"),
            ("func", "torch", "Tensor.storage.__func__.__globals__"),
            ("getattribute", "builtins", "object.__getattribute__"),
            ("reduce", "builtins", "object.__reduce_ex__"),
            ("spec", "numpy", "__spec__.loader.get_data"),
            ("mro", "builtins", "int.__mro__"),
            ("frame", "sklearn", "utils.f_globals.get"),
            ("private_os", "random", "_os.system")]:
        data = call_global(module, name, touch)
        add("dunder_" + stem, "dunder", module, name, data,
            allow=[module + "." + name])

    # -- numpy 2: numpy.dtypes holds its loader, set_data writes a file
    add("dtypes_loader_set_data", "dtypes", "numpy.dtypes", "__loader__.set_data",
        call_global("numpy.dtypes", "__loader__.set_data", m, "x"), python=VENV_PYTHON)

    # -- denylist gaps, each with an argument that would only touch the marker
    deny = [
        ("numpy", "save", (m, 0), ["numpy"]),
        ("numpy", "savetxt", (m, 0), ["numpy"]),
        ("numpy.lib", "load", (m,), ["numpy"]),
        ("numpy.lib.npyio", "load", (m,), ["numpy"]),
        ("numpy.lib.format", "open_memmap", (m, "w+"), ["numpy"]),
        ("numpy", "memmap", (m, "uint8", "w+", 0, 1), ["numpy"]),
        ("numpy", "fromfile", (m,), ["numpy"]),
        ("torch", "save", (0, m), ["torch"]),
        ("torch.serialization", "save", (0, m), ["torch"]),
        ("torch.utils.cpp_extension", "load_inline", ("x", ""), ["torch"]),
        ("torch.utils.model_zoo", "load_url", ("file://" + m,), ["torch"]),
        ("joblib", "dump", (0, m), ALL_PROFILES),
        ("joblib.numpy_pickle_compat", "load_compatibility", (m,), ALL_PROFILES),
        ("joblib.externals.loky.backend.fork_exec", "fork_exec", (touch, 0), ALL_PROFILES),
        ("joblib.externals.loky", "get_reusable_executor", (1,), ALL_PROFILES),
        ("joblib._store_backends", "rm_subdirs", (m,), ALL_PROFILES),
        ("sklearn.utils._testing", "assert_run_python_script",
         ("open(%r, 'w')" % m,), ["sklearn"]),
        ("sklearn.datasets", "dump_svmlight_file", (m,), ["sklearn"]),
        ("sklearn.tree", "export_graphviz", (m,), ["sklearn"]),
        ("scipy.io", "savemat", (m,), ["sklearn"]),
        ("scipy.sparse", "save_npz", (m,), ["sklearn"]),
        ("yaml", "unsafe_load", ("!!python/object/apply:os.system [%r]" % touch,), [None]),
        ("yaml", "load", ("!!python/object/apply:os.system [%r]" % touch,), [None]),
        ("yaml", "full_load", ("x",), [None]),
        ("yaml", "load_all", ("x",), [None]),
        ("yaml", "unsafe_load_all", ("x",), [None]),
        ("yaml", "full_load_all", ("x",), [None]),
        ("numpy.core.tests.test_multiarray", "TestIO", (), ["numpy"]),
        ("torch.testing._internal.common_utils", "shell", (touch,), ["torch"]),
    ]
    for module, name, args, profiles in deny:
        stem = "deny_" + (module + "." + name).replace(".", "_")
        add(stem, "deny", module, name, call_global(module, name, *args), profiles)
    return S


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("marker")
    a = ap.parse_args()
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for stem, cause, module, name, data, profiles, allow, python in build(a.marker):
        got = brinetest.first_find_class(data)
        if got is None or tuple(got) != (module, name):
            sys.exit("gen_hostile_policy: %s: find_class is asked for %r, not %r"
                     % (stem, got, (module, name)))
        verified = None
        if cause in ("walk", "dtypes", "deny"):
            verified = walk_exists(module, name, python)
            if verified is False:
                sys.exit("gen_hostile_policy: %s: the real %s has no %s" % (stem, module, name))
        fname = stem + ".pkl"
        assert fname not in manifest, fname
        manifest[fname] = {"cause": cause, "global": module + "." + name,
                           "profiles": profiles, "allow": allow, "verified": verified}
        (out / fname).write_bytes(data)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print("gen_hostile_policy: %d files, %d checked on the real modules, in %s"
          % (len(manifest), sum(1 for v in manifest.values() if v["verified"]), out))


if __name__ == "__main__":
    main()
