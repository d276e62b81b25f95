"""`brine inspect --compat --target python==R` (issue 13 item 4): Python 2 names and the
protocol a Python release reads.

Python-2 names are checked against the running CPython 3: for each name and protocol, what
its Unpickler.find_class does (the _compat_pickle mapping below protocol 3, then the import)
is the truth, and brine's prediction for --target python==<this release> must equal it. No
pickle is loaded: find_class is called on the name alone, for standard-library names whose
import has no side effect. Python 2 itself is not installed here: the python==2.7 cases are
checked against _compat_pickle's reverse tables only.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_compat_python.py
"""

import _compat_pickle
import io
import json
import pickle
import sys

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")
HERE = "%d.%d" % sys.version_info[:2]

# (module, name) as a Python 2 pickler writes them; benign standard-library names
NAMES = [("__builtin__", "unicode"), ("__builtin__", "long"), ("__builtin__", "xrange"),
         ("__builtin__", "set"), ("__builtin__", "buffer"), ("__builtin__", "cmp"),
         ("__builtin__", "coerce"), ("__builtin__", "unichr"), ("copy_reg", "_reconstructor"),
         ("exceptions", "StandardError"), ("exceptions", "ValueError"),
         ("UserDict", "UserDict"), ("Queue", "Queue"), ("sets", "Set"), ("sets", "ImmutableSet"),
         ("cStringIO", "StringIO"), ("StringIO", "StringIO"), ("collections", "OrderedDict")]


def mapped(module, name, proto):
    """the name CPython's Unpickler looks up (pickle.py find_class)"""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        if module in _compat_pickle.IMPORT_MAPPING:
            return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def cpython_finds(module, name, proto):
    u = pickle._Unpickler(io.BytesIO(b""))
    u.proto = proto
    try:
        u.find_class(module, name)
        return True
    except (ImportError, AttributeError):
        return False


def global_pickle(module, name, proto):
    head = b"\x80" + bytes([proto]) if proto >= 2 else b""
    return head + b"c" + module.encode() + b"\n" + name.encode() + b"\n."


def compat(path, target, allow):
    r = bt.run_brine("inspect", "--allow", allow, "--compat", "--target", target, str(path))
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


@needs_brine
def test_python2_names_match_cpython_find_class(tmp_path):
    rows, wrong = [], []
    for module, name in NAMES:
        for proto in (0, 2, 3, 4):
            f = tmp_path / ("%s.%s.p%d.pkl" % (module, name, proto))
            f.write_bytes(global_pickle(module, name, proto))
            m, n = mapped(module, name, proto)
            doc = compat(f, "python==" + HERE, m + "." + n)
            said = doc["check"]["loads"]
            real = cpython_finds(module, name, proto)
            rows.append((module + "." + name, proto, said, real))
            if said != real:
                wrong.append(rows[-1])
    print("\n".join("%s p%d brine=%s cpython=%s" % r for r in rows))
    assert len(rows) == len(NAMES) * 4
    assert any(not r[3] for r in rows) and any(r[3] for r in rows)
    assert not wrong, wrong


@needs_brine
def test_protocol_a_release_reads(tmp_path):
    f = tmp_path / "p5.pkl"
    f.write_bytes(pickle.dumps({"a": 1}, protocol=5))  # no globals at all
    assert compat(f, "python==3.7", "builtins")["check"]["problems"] == [
        {"status": "protocol", "protocol": 5, "highest": 4}]
    assert compat(f, "python==3.8", "builtins")["check"]["loads"]
    assert compat(f, "python==" + HERE, "builtins")["check"]["loads"]
    assert pickle.loads(f.read_bytes()) == {"a": 1}  # this file was written just above
    f.write_bytes(pickle.dumps({"a": 1}, protocol=3))
    doc = compat(f, "python==2.7", "builtins")
    assert doc["check"]["problems"] == [{"status": "protocol", "protocol": 3, "highest": 2}]


@needs_brine
def test_python3_names_under_python2(tmp_path):
    """A Python 3 pickler writes Python 2 spellings below protocol 3 (fix_imports):
    _compat_pickle.REVERSE_IMPORT_MAPPING. A file that names the Python 3 module anyway
    cannot load in Python 2; the Python 2 spelling can (brine reads it mapped)."""
    assert _compat_pickle.REVERSE_IMPORT_MAPPING["copyreg"] == "copy_reg"
    f = tmp_path / "py3name.pkl"
    f.write_bytes(global_pickle("copyreg", "_reconstructor", 2))
    doc = compat(f, "python==2.7", "copyreg._reconstructor")
    assert doc["check"]["problems"] == [{"global": "copyreg._reconstructor", "status": "absent",
                                         "why": "a Python 3 module: Python 2 cannot import it"}]
    f.write_bytes(global_pickle("copy_reg", "_reconstructor", 2))
    assert compat(f, "python==2.7", "copyreg._reconstructor")["check"]["loads"]
