#!/usr/bin/env python3
"""gadget_walk.py — list the callables of real ML libraries whose code reaches a dangerous sink.

A pickle can name any attribute of any importable module; when such a name is called (REDUCE,
NEWOBJ, BUILD → __setstate__, ...), whatever that function's code reaches runs too. This tool
reads the installed source of numpy, torch, sklearn, joblib and scipy (whichever the running
Python has) and prints every function, class and method whose code reaches

  code      exec, eval, compile, runpy, code objects (marshal)
  process   os.system, os.popen, os.exec*, os.spawn*, os.posix_spawn*, subprocess.*, pty.spawn
  write     open()/io.open()/gzip.open()... in a write mode or a mode chosen by the caller,
            shutil copy/move/rmtree, os.remove/unlink/rename/..., np.save*, torch.save,
            joblib.dump, pickle.dump, Path.write_text/write_bytes, ndarray.tofile
  loader    pickle.load(s), np.load, torch.load, joblib.load, marshal.load(s), yaml.load and
            friends, dill/cloudpickle loads, pandas.read_pickle, shelve.open

It is a static analysis: modules are parsed with `ast` from their files and nothing in them is
called. Calls are resolved through each module's imports (relative, aliased and `*`), `self.`
/`cls.` methods of the enclosing class, and module-level names; a function reaches a sink when
it calls one or calls, within the same package, a function that does (transitive closure,
bounded by MAX_DEPTH). Calling a class runs __init__/__new__, BUILD runs __setstate__, and a
collected instance runs __del__, so a class is listed when one of those reaches a sink.
Re-exports are listed under every module that holds them: statically (from-imports, `*`) and,
for the modules the package itself imports, from the real module objects after `import pkg`.

Output, sorted: `module:qualname<TAB>kind<TAB>package` (qualname dotted for methods: a pickle
names those with a protocol-4 attribute walk).

usage: gadget_walk.py [--packages numpy,torch,...] [--no-import] > list.txt
"""

import argparse
import ast
import importlib
import os
import sys

PACKAGES = ("numpy", "torch", "sklearn", "joblib", "scipy")
MAX_DEPTH = 12          # call-graph hops followed inside one package
MAX_ALIAS_HOPS = 8      # re-export chains followed when resolving a name
# What unpickling a class can run: calling it (__new__, __init__, __post_init__), BUILD
# (__setstate__, and __getattr__ when it looks __setstate__ up), REDUCE on an instance
# (__call__), and garbage collection (__del__). __reduce__ runs when pickling, not here.
CLASS_ENTRY = ("__init__", "__new__", "__setstate__", "__del__", "__call__", "__getattr__",
               "__post_init__")

# --------------------------------------------------------------------------- sinks

# Fully-qualified call targets (after import resolution) and what they do. A key ending in
# "*" matches any name with that prefix.
SINKS = {
    "builtins.exec": "code", "builtins.eval": "code", "builtins.compile": "code",
    "builtins.execfile": "code", "runpy.*": "code", "marshal.load": "loader",
    "marshal.loads": "loader", "code.interact": "code", "code.InteractiveInterpreter*": "code",
    "code.InteractiveConsole*": "code", "types.CodeType": "code", "types.FunctionType": "code",
    "os.system": "process", "os.popen": "process", "os.exec*": "process",
    "os.spawn*": "process", "os.posix_spawn*": "process", "os.fork": "process",
    "os.forkpty": "process", "posix.*": "process", "subprocess.*": "process",
    "_posixsubprocess.*": "process", "pty.spawn": "process",
    "asyncio.create_subprocess_exec": "process", "asyncio.create_subprocess_shell": "process",
    "multiprocessing.Process": "process", "multiprocessing.Pool": "process",
    "os.remove": "write", "os.unlink": "write", "os.rmdir": "write", "os.removedirs": "write",
    "os.rename": "write", "os.renames": "write", "os.replace": "write", "os.truncate": "write",
    "os.open": "write", "os.symlink": "write", "os.link": "write", "os.chmod": "write",
    "shutil.copy": "write", "shutil.copy2": "write", "shutil.copyfile": "write",
    "shutil.copytree": "write", "shutil.copyfileobj": "write", "shutil.move": "write",
    "shutil.rmtree": "write", "shutil.make_archive": "write", "shutil.unpack_archive": "write",
    "tarfile.*": "write", "zipfile.ZipFile.extractall": "write",
    "numpy.save": "write", "numpy.savez": "write", "numpy.savez_compressed": "write",
    "numpy.savetxt": "write", "numpy.memmap": "write", "torch.save": "write",
    "joblib.dump": "write", "pickle.dump": "write", "_pickle.dump": "write",
    "pickle.load": "loader", "pickle.loads": "loader", "pickle.Unpickler*": "loader",
    "pickle._load": "loader", "pickle._loads": "loader", "pickle._Unpickler*": "loader",
    "_pickle.load": "loader", "_pickle.loads": "loader", "_pickle.Unpickler*": "loader",
    "cPickle.load": "loader", "cPickle.loads": "loader", "dill.load": "loader",
    "dill.loads": "loader", "cloudpickle.load": "loader", "cloudpickle.loads": "loader",
    "numpy.load": "loader", "torch.load": "loader", "joblib.load": "loader",
    "yaml.load": "loader", "yaml.load_all": "loader", "yaml.unsafe_load": "loader",
    "yaml.unsafe_load_all": "loader", "yaml.full_load": "loader",
    "yaml.full_load_all": "loader", "yaml.UnsafeLoader": "loader", "yaml.Loader": "loader",
    "pandas.read_pickle": "loader", "shelve.open": "loader",
}
# Builtins called by bare name.
BUILTIN_SINKS = {"exec": "code", "eval": "code", "compile": "code", "execfile": "code"}
# Methods recognised on any object, whatever its type: the name alone says what it does.
METHOD_SINKS = {"write_text": "write", "write_bytes": "write", "tofile": "write",
                "extractall": "write", "unsafe_load": "loader", "full_load": "loader"}
# Openers that write when their mode says so (or when the caller picks the mode).
OPENERS = {"builtins.open", "io.open", "_io.open", "codecs.open", "gzip.open", "bz2.open",
           "lzma.open", "gzip.GzipFile", "bz2.BZ2File", "lzma.LZMAFile", "io.FileIO",
           "tempfile.NamedTemporaryFile"}
MODE_POSITION = {"builtins.open": 1, "io.open": 1, "_io.open": 1, "codecs.open": 1,
                 "gzip.open": 1, "bz2.open": 1, "lzma.open": 1, "gzip.GzipFile": 1,
                 "bz2.BZ2File": 1, "lzma.LZMAFile": 1, "io.FileIO": 1}
KIND_ORDER = ("code", "process", "loader", "write")
# Modules that code reaches through an attribute (`self.np.load`, `unpickler.np.load`).
HELD_MODULES = {"np": "numpy", "numpy": "numpy", "pickle": "pickle", "torch": "torch",
                "joblib": "joblib", "marshal": "marshal", "yaml": "yaml", "os": "os",
                "subprocess": "subprocess", "shutil": "shutil"}


def sink_kind(target):
    k = SINKS.get(target)
    if k:
        return k
    for pat, kind in SINKS.items():
        if pat.endswith("*") and target.startswith(pat[:-1]):
            return kind
    return None


def opener_writes(target, call):
    """True when call opens a file in a mode that writes, or in a mode the caller chooses."""
    if target == "tempfile.NamedTemporaryFile":
        return True
    mode = None
    pos = MODE_POSITION.get(target, 1)
    if len(call.args) > pos:
        mode = call.args[pos]
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True  # the caller decides: a pickle can pass "w"


# --------------------------------------------------------------------------- modules


class Module:
    def __init__(self, name, path, is_pkg):
        self.name, self.path, self.is_pkg = name, path, is_pkg
        self.imports = {}     # local name -> dotted target
        self.stars = []       # modules imported with *
        self.defs = {}        # qualname -> (node, class qualname or None)
        self.classes = {}     # qualname -> ClassDef
        self.all = None       # __all__ when a literal list


def module_files(pkg_dir, pkg_name):
    for root, dirs, files in os.walk(pkg_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and d.isidentifier())
        rel = os.path.relpath(root, pkg_dir)
        parts = [pkg_name] + ([] if rel == "." else rel.split(os.sep))
        for f in sorted(files):
            if not f.endswith(".py") or not f[:-3].isidentifier():
                continue
            if f == "__init__.py":
                yield ".".join(parts), os.path.join(root, f), True
            else:
                yield ".".join(parts + [f[:-3]]), os.path.join(root, f), False


def resolve_relative(mod, level, target):
    if level == 0:
        return target or ""
    base = mod.name.split(".")
    if not mod.is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def parse_module(mod):
    try:
        with open(mod.path, "rb") as f:
            tree = ast.parse(f.read(), filename=mod.path)
    except (SyntaxError, ValueError, OSError):
        return None

    def scan_imports(body):
        for node in body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        mod.imports[a.asname] = a.name
                    else:
                        top = a.name.split(".")[0]
                        mod.imports.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom):
                src = resolve_relative(mod, node.level, node.module)
                for a in node.names:
                    if a.name == "*":
                        mod.stars.append(src)
                    else:
                        mod.imports[a.asname or a.name] = src + "." + a.name
            elif isinstance(node, (ast.If, ast.Try)):
                # imports under `if`/`try` at module level still bind names
                scan_imports(node.body)
                scan_imports(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    scan_imports(h.body)
                scan_imports(getattr(node, "finalbody", []))

    scan_imports(tree.body)

    def collect(body, prefix, cls):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = prefix + node.name
                mod.defs[q] = (node, cls)
            elif isinstance(node, ast.ClassDef):
                q = prefix + node.name
                mod.classes[q] = node
                collect(node.body, q + ".", q)
            elif isinstance(node, (ast.If, ast.Try)) and not prefix:
                collect(node.body, prefix, cls)
                collect(getattr(node, "orelse", []), prefix, cls)
                for h in getattr(node, "handlers", []):
                    collect(h.body, prefix, cls)
            elif (isinstance(node, ast.Assign) and not prefix and len(node.targets) == 1
                  and isinstance(node.targets[0], ast.Name)):
                t = node.targets[0].id
                if t == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                    mod.all = [e.value for e in node.value.elts
                               if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                elif isinstance(node.value, (ast.Name, ast.Attribute)):
                    # `load = _load` style aliases at module level
                    d = dotted(node.value)
                    if d:
                        mod.imports.setdefault(t, ("@local", d))

    collect(tree.body, "", None)
    return tree


def body_nodes(func):
    """Every node a call of func runs: its body, not its decorators or default values (those
    run once, when the module is imported)."""
    for stmt in func.body:
        yield from ast.walk(stmt)


def dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


# --------------------------------------------------------------------------- analysis


class Analysis:
    def __init__(self, packages):
        self.modules = {}
        self.packages = packages
        for name, pkg_dir in packages.items():
            for mname, path, is_pkg in module_files(pkg_dir, name):
                m = Module(mname, path, is_pkg)
                if parse_module(m) is not None:
                    self.modules[mname] = m
        self.direct = {}   # (module, qualname) -> kind
        self.edges = {}    # (module, qualname) -> set of (module, qualname)
        self.why = {}      # (module, qualname) -> the sink or the callee that reaches one

    # -- name resolution ------------------------------------------------------

    def resolve_in(self, mname, name, hops=0):
        """(module, qualname) of a def or class that `mname.name` names, or a dotted external
        target string, or None."""
        m = self.modules.get(mname)
        if m is None or hops > MAX_ALIAS_HOPS:
            return None
        head, _, rest = name.partition(".")
        if head in m.classes or head in m.defs:
            q = name
            if q in m.defs or q in m.classes:
                return (mname, q)
            return None
        if head in m.imports:
            target = m.imports[head]
            if isinstance(target, tuple):  # module-level `x = y`
                return self.resolve_in(mname, target[1] + ("." + rest if rest else ""),
                                       hops + 1)
            return self.resolve_dotted(target + ("." + rest if rest else ""), hops + 1)
        sub = mname + "." + head
        if sub in self.modules:
            return self.resolve_dotted(sub + ("." + rest if rest else ""), hops + 1)
        for star in m.stars:
            sm = self.modules.get(star)
            if sm is None:
                continue
            if sm.all is not None and head not in sm.all:
                continue
            if sm.all is None and head.startswith("_"):
                continue
            r = self.resolve_in(star, name, hops + 1)
            if r is not None:
                return r
        return None

    def resolve_dotted(self, target, hops=0):
        parts = target.split(".")
        if parts[0] not in self.packages:
            return target  # outside the analysed packages: matched against SINKS
        for i in range(len(parts) - 1, 0, -1):
            mname = ".".join(parts[:i])
            if mname in self.modules:
                r = self.resolve_in(mname, ".".join(parts[i:]), hops)
                return r if r is not None else target
        return target

    # -- call graph -------------------------------------------------------------

    def method_of(self, mname, cq, meth, hops=0):
        """The definition a call `obj.meth()` on an instance of class mname:cq runs, looked
        up through the class's bases; an external base gives "base.meth" to match sinks."""
        m = self.modules.get(mname)
        if m is None or hops > MAX_ALIAS_HOPS or cq not in m.classes:
            return None
        if cq + "." + meth in m.defs:
            return (mname, cq + "." + meth)
        for base in m.classes[cq].bases:
            d = dotted(base)
            if d is None:
                continue
            r = self.resolve_in(mname, d)
            if r is None and d.split(".")[0] not in m.imports:
                continue
            if isinstance(r, tuple):
                found = self.method_of(r[0], r[1], meth, hops + 1)
                if found is not None:
                    return found
            elif isinstance(r, str):
                return r + "." + meth
        return None

    def local_types(self, m, cls, node):
        """Local names bound to a new instance: `u = Unpickler(f)`, `with C() as c`."""
        types = {}
        for sub in body_nodes(node):
            pairs = []
            if (isinstance(sub, ast.Assign) and len(sub.targets) == 1
                    and isinstance(sub.targets[0], ast.Name) and isinstance(sub.value, ast.Call)):
                pairs.append((sub.targets[0].id, sub.value.func))
            elif isinstance(sub, (ast.With, ast.AsyncWith)):
                for item in sub.items:
                    if (isinstance(item.optional_vars, ast.Name)
                            and isinstance(item.context_expr, ast.Call)):
                        pairs.append((item.optional_vars.id, item.context_expr.func))
            for name, func in pairs:
                t = self.call_target(m, cls, func, {})
                if isinstance(t, tuple) and t[1] in self.modules[t[0]].classes:
                    types[name] = t
                elif isinstance(t, str):
                    types[name] = t
        return types

    def call_target(self, m, cls, func, types):
        if isinstance(func, ast.Name):
            n = func.id
            if n in m.defs or n in m.classes or n in m.imports:
                return self.resolve_in(m.name, n)
            if n in BUILTIN_SINKS or n == "open":
                return "builtins." + n
            return None
        d = dotted(func)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head in ("self", "cls") and cls is not None and rest and "." not in rest:
            return self.method_of(m.name, cls, rest)
        if head in types and rest and "." not in rest:
            t = types[head]
            return self.method_of(t[0], t[1], rest) if isinstance(t, tuple) else t + "." + rest
        if head in m.defs or head in m.classes or head in m.imports:
            r = self.resolve_in(m.name, d)
            if r is not None:
                return r
        parts = d.split(".")
        if len(parts) >= 3 and parts[-2] in HELD_MODULES:
            return HELD_MODULES[parts[-2]] + "." + parts[-1]
        return None

    def analyse(self):
        for m in self.modules.values():
            for q, (node, cls) in m.defs.items():
                key = (m.name, q)
                edges = self.edges.setdefault(key, set())
                types = self.local_types(m, cls, node)
                for sub in body_nodes(node):
                    if not isinstance(sub, ast.Call):
                        continue
                    t = self.call_target(m, cls, sub.func, types)
                    kind = None
                    if isinstance(t, tuple):
                        edges.add(t)
                        if t[1] in self.modules[t[0]].classes:
                            for e in CLASS_ENTRY:
                                edges.add((t[0], t[1] + "." + e))
                    elif isinstance(t, str):
                        if t in OPENERS:
                            kind = "write" if opener_writes(t, sub) else None
                        else:
                            kind = sink_kind(t)
                    if kind is None and isinstance(sub.func, ast.Attribute):
                        kind = METHOD_SINKS.get(sub.func.attr)
                    if kind is not None:
                        old = self.direct.get(key)
                        if old is None or KIND_ORDER.index(kind) < KIND_ORDER.index(old):
                            self.direct[key] = kind
                            self.why[key] = "%s (line %d)" % (
                                t if isinstance(t, str) else sub.func.attr, sub.lineno)
        # bounded transitive closure: kind propagates callee -> caller
        reach = dict(self.direct)
        for _ in range(MAX_DEPTH):
            changed = False
            for key, callees in self.edges.items():
                for c in callees:
                    k = reach.get(c)
                    if k is None:
                        continue
                    old = reach.get(key)
                    if old is None or KIND_ORDER.index(k) < KIND_ORDER.index(old):
                        reach[key] = k
                        self.why[key] = "%s:%s" % c
                        changed = True
            if not changed:
                break
        self.reach = reach
        # classes: calling, building or collecting one runs these methods
        for m in self.modules.values():
            for cq in m.classes:
                for e in CLASS_ENTRY:
                    k = reach.get((m.name, cq + "." + e))
                    if k is not None:
                        old = reach.get((m.name, cq))
                        if old is None or KIND_ORDER.index(k) < KIND_ORDER.index(old):
                            reach[(m.name, cq)] = k
                            self.why[(m.name, cq)] = "%s:%s.%s" % (m.name, cq, e)

    # -- names a pickle can use ---------------------------------------------------

    def gadgets(self):
        out = {}
        for (mname, q), kind in self.reach.items():
            if mname in self.modules and "<" not in q:
                out[(mname, q)] = kind
        # re-exports: every module-level name that resolves to a gadget
        for m in self.modules.values():
            names = set(m.imports)
            for star in m.stars:
                sm = self.modules.get(star)
                if sm is not None:
                    names.update(sm.all if sm.all is not None else
                                 [n for n in list(sm.defs) + list(sm.classes) + list(sm.imports)
                                  if "." not in n and not n.startswith("_")])
            for n in names:
                r = self.resolve_in(m.name, n)
                if isinstance(r, tuple) and r in self.reach:
                    out[(m.name, n)] = self.reach[r]
                elif isinstance(r, str) and not n.startswith("__"):
                    # `from subprocess import check_output`: the module holds the sink itself
                    k = "write" if r in OPENERS else sink_kind(r)
                    if k is not None:
                        out[(m.name, n)] = k
        return out


def live_aliases(analysis, found):
    """Names the imported package's real module objects hold that are gadgets."""
    by_def = {}
    for (mname, q), kind in found.items():
        by_def.setdefault((mname, q), kind)
    extra = {}
    for mname, mod in list(sys.modules.items()):
        if mod is None or mname.split(".")[0] not in analysis.packages:
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:
            continue
        for attr, obj in items:
            if attr.startswith("__"):
                continue
            try:
                key = (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None))
            except Exception:  # noqa: BLE001 - lazy attributes of real modules may raise
                continue
            if not isinstance(key[0], str) or not isinstance(key[1], str):
                continue
            kind = analysis.reach.get(key)
            if kind is not None and "<" not in key[1]:
                extra[(mname, attr)] = kind
    return extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", default=",".join(PACKAGES))
    ap.add_argument("--no-import", action="store_true",
                    help="do not import the packages to find live re-exports")
    ap.add_argument("--why", metavar="MODULE:QUALNAME",
                    help="print the call chain from this definition to its sink and exit")
    args = ap.parse_args()
    packages = {}
    import importlib.util
    for p in args.packages.split(","):
        spec = importlib.util.find_spec(p)
        if spec is None or not spec.submodule_search_locations:
            print(f"gadget_walk: {p} is not installed for {sys.executable}", file=sys.stderr)
            continue
        packages[p] = list(spec.submodule_search_locations)[0]
    analysis = Analysis(packages)
    analysis.analyse()
    if args.why:
        key, seen = tuple(args.why.split(":")), set()
        while key in analysis.why and key not in seen:
            seen.add(key)
            print("%s:%s -> %s" % (key[0], key[1], analysis.why[key]))
            nxt = analysis.why[key].split(" ")[0]
            key = tuple(nxt.split(":")) if ":" in nxt else None
        return
    found = analysis.gadgets()
    if not args.no_import:
        for p in packages:
            try:
                importlib.import_module(p)
            except Exception as e:  # noqa: BLE001 - report, go on with the static list
                print(f"gadget_walk: import {p}: {e}", file=sys.stderr)
        for k, v in live_aliases(analysis, found).items():
            found.setdefault(k, v)
    for (mname, q), kind in sorted(found.items()):
        print(f"{mname}:{q}\t{kind}\t{mname.split('.')[0]}")


if __name__ == "__main__":
    main()
