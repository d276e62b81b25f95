#!/usr/bin/python3
"""Work floods (issue 7 item 5): files whose scan time grew faster than their size.

usage: /usr/bin/python3 tests/gen/gen_hostile_linear.py OUTDIR MARKER

  flood_loads.pkl      one 200 kB literal handed to pickle.loads 40,000 times through the
                       memo (~480 kB); the literal runs 100,000 NONE/POP pairs, then
                       builtins.open(MARKER, 'a') — harmless: it would only create MARKER
  single_loads.pkl     the same literal handed over once: the flood must judge the same
  flood_storage.pkl    one 200 kB torch storage (real torch.save legacy bytes, what
                       Storage.__reduce__ produces) handed to torch.storage._load_from_bytes
                       40,000 times (~440 kB, the sample of the issue)
  single_storage.pkl   the same storage once
  distinct_storages.pkl  2,000 different small storages, each handed over once: the opcodes of
                       all nested pickles add up; the tests scan it under a lowered max_work
  two_loaders.pkl      one literal, a pickle holding only a torch storage persistent id, handed
                       to _load_from_bytes, then (through the memo) to pickle.loads: judged
                       once per loader (pickle.loads has no persistent_load: it fails there)
  memo_collide.pkl     100,000 protocol-0 PUTs at indices j * 2^38 - 1 (pickle.py's memo is a
                       dict, any index goes), which all shared one probe chain of brine's old
                       fixed memo hash; then os.system('touch MARKER') stored at one of those
                       indices and called through GET

Outer pickles are assembled by hand (no pickle.dumps of anything that could run); the storage
bytes come from Debian's torch (benign). NOTHING here is ever loaded. OUTDIR/manifest.json
records, per file, the number of references and the literal sizes, so the tests can check the
fixtures with pickletools.genops before they check brine.
"""

import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from brinetest import (  # noqa: E402
    EMPTY_LIST, MARKOP, NONE, POP, REDUCE, STOP, TUPLE1, TUPLE2, binget, binput, bu, glob,
    proto, sbb)

FLOOD = 40000
APPENDS = b"e"


def u32_get(n):
    """LONG_BINGET."""
    return b"j" + n.to_bytes(4, "little")


def nested_payload(marker, pairs):
    """A protocol-2 pickle that burns `pairs` NONE/POP pairs, then opens MARKER for append."""
    return (proto(2) + (NONE + POP) * pairs + glob("builtins", "open") + bu(marker) + bu("a") +
            TUPLE2 + REDUCE + STOP)


def flood(callable_module, callable_name, literal, refs):
    """proto 2: [f(literal) for each of refs], f and literal shared through the memo."""
    body = proto(2) + glob(callable_module, callable_name) + binput(0) + sbb(literal) + binput(1)
    body += POP + POP + EMPTY_LIST + MARKOP  # the list the results are appended to
    body += (binget(0) + binget(1) + TUPLE1 + REDUCE) * refs
    return body + APPENDS + STOP


def legacy_storage_bytes(torch, storage):
    """What torch 1.13's Storage.__reduce__ hands to _load_from_bytes."""
    buf = io.BytesIO()
    torch.save(storage, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def main():
    out, marker = Path(sys.argv[1]), sys.argv[2]
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}

    payload = nested_payload(marker, 100000)
    for name, refs in (("flood_loads.pkl", FLOOD), ("single_loads.pkl", 1)):
        (out / name).write_bytes(flood("pickle", "loads", payload, refs))
        manifest[name] = {"refs": refs, "literal_len": len(payload), "loader": "pickle.loads"}

    import torch  # Debian's 1.13: the legacy bytes are torch's own
    big = legacy_storage_bytes(torch, torch.arange(50000, dtype=torch.float32).storage())
    for name, refs in (("flood_storage.pkl", FLOOD), ("single_storage.pkl", 1)):
        (out / name).write_bytes(flood("torch.storage", "_load_from_bytes", big, refs))
        manifest[name] = {"refs": refs, "literal_len": len(big),
                          "loader": "torch.storage._load_from_bytes"}

    # a pickle that is only a legacy-style storage persistent id: torch's persistent_load
    # resolves it, plain pickle.loads has none and fails
    pid = (proto(2) + MARKOP + bu("storage") + glob("torch", "FloatStorage") + bu("0") +
           bu("cpu") + b"K\x04" + NONE + b"t" + b"Q" + STOP)
    body = proto(2) + glob("torch.storage", "_load_from_bytes") + binput(0) + POP
    body += glob("pickle", "loads") + binput(1) + POP + sbb(pid) + binput(2) + POP
    body += EMPTY_LIST + MARKOP + binget(0) + binget(2) + TUPLE1 + REDUCE
    body += binget(1) + binget(2) + TUPLE1 + REDUCE + APPENDS + STOP
    (out / "two_loaders.pkl").write_bytes(body)
    manifest["two_loaders.pkl"] = {"refs": 2, "literal_len": len(pid)}

    # distinct literals: memo slots 0 (the callable) and 1.. are not reused, each literal is
    # its own bytes, so no cache can fold them — only the work budget bounds them
    n = 2000
    body = proto(2) + glob("torch.storage", "_load_from_bytes") + binput(0) + POP
    body += EMPTY_LIST + MARKOP
    for i in range(n):
        lit = legacy_storage_bytes(torch, torch.full((1 + i % 7,), float(i)).storage())
        body += u32_get(0) + sbb(lit) + TUPLE1 + REDUCE
    body += APPENDS + STOP
    (out / "distinct_storages.pkl").write_bytes(body)
    manifest["distinct_storages.pkl"] = {"refs": n, "loader": "torch.storage._load_from_bytes"}

    puts = 100000
    body = b"N" + b"".join(b"p%d\n" % (j * (1 << 38) - 1) for j in range(1, puts + 1)) + b"0"
    target = (puts // 2) * (1 << 38) - 1 + (1 << 38) * puts  # a fresh index on the same chain
    body += glob("os", "system") + b"p%d\n0" % target + b"g%d\n" % target
    body += b"(V" + ("touch " + marker).encode() + b"\ntR."
    (out / "memo_collide.pkl").write_bytes(body)
    manifest["memo_collide.pkl"] = {"puts": puts, "target": target}

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
