#!/usr/bin/env python3
"""Hostile pickles for the unpickler model (issue 7 item 2, issue 9 item 4).

usage: /usr/bin/python3 tests/gen/gen_hostile_unpickler.py OUTDIR MARKER

Writes OUTDIR/<case>.pkl and OUTDIR/manifest.json:
  {file: {"verdict": "unsafe"|"invalid", "rules": [rule, ...], "limit": name|null,
          "globals": [names brine must name], "runs_under": "c"|"py"|"both"|"none", "why": ...}}

Two families:
  - divergence: opcodes one CPython unpickler accepts and the other refuses (Lib/pickle.py vs
    Modules/_pickle.c), each followed by a payload `os.system("touch MARKER")` that only the
    accepting unpickler reaches;
  - amplification: graphs that are tiny in the file and huge (or deep) once a consumer walks
    them, and a memo index _pickle.c would grow its memo array to.

The bytes are assembled by hand (pickletools only checks them); nothing here ever loads a file.
Which unpickler runs the payload is stated from the CPython sources, not observed.
"""
import json
import pickletools
import struct
import sys
from pathlib import Path


def su(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def payload(marker):
    """os.system('touch MARKER') then STOP, as protocol-0 opcodes (valid in any protocol)."""
    cmd = "touch %s" % marker
    return b"cos\nsystem\n(S'" + cmd.encode() + b"'\ntR."


def cases(marker):
    pay = payload(marker)
    out = {}

    def add(name, data, verdict, rules, runs_under, why, limit=None, globals_=("os.system",)):
        out[name] = (data, {"verdict": verdict, "rules": list(rules), "limit": limit,
                            "globals": list(globals_), "runs_under": runs_under, "why": why})

    # ---- divergence: pickle.py goes on where _pickle.c raises
    add("div_float_underscore", b"F1_0\n0" + pay, "unsafe", ["unpickler-divergence", "forbidden-module"],
        "py", "float() takes '1_0', PyOS_string_to_double does not")
    add("div_float_spaces", b"F 2.5 \n0" + pay, "unsafe", ["unpickler-divergence", "forbidden-module"],
        "py", "float() strips whitespace, PyOS_string_to_double does not")
    add("div_float_overflow", b"F1e999\n0" + pay, "unsafe", ["unpickler-divergence", "forbidden-module"],
        "py", "float() gives inf, _pickle.c raises OverflowError")
    add("div_put_past_ssize_t", b"Np99999999999999999999\n0" + pay, "unsafe",
        ["unpickler-divergence", "forbidden-module"], "py",
        "pickle.py's memo is a dict; _pickle.c raises OverflowError on the index")
    add("div_get_put_past_ssize_t",
        b"cos\nsystem\np123456789012345678901234567890\n0g123456789012345678901234567890\n"
        b"(S'touch " + str(marker).encode() + b"'\ntR.", "unsafe",
        ["unpickler-divergence", "forbidden-module"], "py", "GET of a dict-only memo key")
    add("div_reduce_list_args", b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\nlR.",
        "unsafe", ["unpickler-divergence", "forbidden-module"], "py",
        "REDUCE with a list: func(*args) in pickle.py, 'argument list must be a tuple' in C")
    add("div_frame_truncated",
        b"\x80\x04\x95" + struct.pack("<Q", 10 ** 6) + b"\x80\x02" + su("os") + su("system")
        + b"\x93" + su("touch %s" % marker) + b"\x85R.", "unsafe",
        ["frame-truncated", "forbidden-module"], "py",
        "pickle.py reads a frame cut short by the end of the input; _pickle.c raises")
    add("div_inst_before_mark", b"ios\nsystem\n.", "unsafe", ["forbidden-module"], "none",
        "pickle.py's load_inst calls find_class (imports os) before pop_mark raises")
    add("div_global_at_eof", b"cos\nsystemX", "unsafe", ["forbidden-module"], "none",
        "pickle.py's readline returns the unterminated line and [:-1] drops the last byte: "
        "find_class('os', 'system')")
    add("div_global_empty_module", b"c\nsystem\n.", "invalid", ["unpickler-divergence"], "py",
        "_pickle.c refuses an empty module name, pickle.py calls find_class('', 'system')",
        globals_=(".system",))
    # ---- divergence: _pickle.c goes on where pickle.py raises
    add("div_int_octal", b"I010\n0" + pay, "unsafe", ["unpickler-divergence", "forbidden-module"], "c",
        "strtol reads '010' as octal 8; int('010', 0) raises")
    add("div_frame_crossing",
        b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00" + su("os") + su("system") + b"\x93"
        + su("touch %s" % marker) + b"\x85R.", "unsafe", ["frame-boundary", "forbidden-module"],
        "c", "an opcode crosses the frame end: pickle.py raises, _pickle.c reads on")

    # ---- amplification
    laughs = bytearray(b"\x80\x02K\x01q\x00")
    for level in range(1, 31):  # ten references per level: 10^30 leaves
        laughs += b"(" + (b"h" + bytes([level - 1])) * 10 + b"lq" + bytes([level])
    laughs += b"."
    add("amp_memo_billion_laughs", bytes(laughs), "invalid", ["limit"], "both",
        "%d bytes expanding to 10^30 leaves through memo references" % len(laughs),
        limit="max_expansion", globals_=())
    add("amp_dup_tuple_2_40", b"\x80\x02K\x01" + b"2\x86" * 40 + b".", "invalid", ["limit"],
        "both", "DUP + TUPLE2 forty times: a tuple of 2^40 leaves", limit="max_expansion",
        globals_=())
    # lists filled top-down: sizes are only right when computed over the final graph
    topdown = bytearray(b"\x80\x02")
    for level in range(41):
        topdown += b"]q" + bytes([level]) + b"0"
    for level in range(40, 0, -1):
        topdown += (b"h" + bytes([level]) + (b"h" + bytes([level - 1]) + b"a") * 2 + b"0")
    topdown += b"h\x28."
    add("amp_lists_filled_top_down", bytes(topdown), "invalid", ["limit"], "both",
        "40 lists, each holding the next twice, filled from the top: 2^40 leaves",
        limit="max_expansion", globals_=())
    depth = 200000
    add("amp_nested_lists_200000", b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".",
        "invalid", ["limit"], "both", "200,000 nested lists", limit="max_nesting", globals_=())
    add("amp_long_binput_ffffffff", b"\x80\x02]r\xff\xff\xff\xff.", "invalid", ["limit"], "py",
        "LONG_BINPUT 0xffffffff: _pickle.c grows its memo array to 2^33 pointers (64 GiB)",
        limit="max_memo_index", globals_=())
    add("amp_long_binput_then_payload", b"\x80\x02]r\xff\xff\xff\xff0" + pay, "unsafe",
        ["limit", "forbidden-module"], "py",
        "pickle.py's dict memo goes on past the index _pickle.c cannot allocate",
        limit="max_memo_index")
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    outdir, marker = Path(sys.argv[1]), sys.argv[2]
    outdir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (data, meta) in sorted(cases(marker).items()):
        path = outdir / (name + ".pkl")
        path.write_bytes(data)
        manifest[path.name] = meta
        # pickletools must at least walk the opcodes that exist (it never imports)
        try:
            for _ in pickletools.genops(data):
                pass
        except Exception:  # noqa: BLE001 - some cases are malformed for pickletools on purpose
            pass
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
