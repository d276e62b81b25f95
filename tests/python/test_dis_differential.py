"""`brine dis --format json` against pickletools.genops, the reference disassembler.

For every generated benign pickle the opcode stream brine lists (offset, name, code,
argument as docs/contract.md encodes it) must equal what pickletools.genops yields, pickle by
pickle for concatenated streams. On hostile files brine dis must never crash, must report
`error` where the stream is broken and `trailing` for junk after the last STOP, and what it
does list must agree with pickletools as far as pickletools gets.
"""

import io
import pickletools

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")


def genops_pickles(data):
    """[(offset, end, [(pos, op, arg)])] for each complete pickle, then the ops pickletools
    managed to read of a final broken one (end None)."""
    out = []
    pos = 0
    while pos < len(data):
        f = io.BytesIO(data)
        f.seek(pos)
        ops = []
        try:
            for op, arg, p in pickletools.genops(f):
                ops.append((p, op, arg))
        except Exception:
            if ops:
                out.append((pos, None, ops))
            break
        out.append((pos, f.tell(), ops))
        pos = f.tell()
    return out


def compare_ops(want_ops, got_ops, where):
    """First difference between genops ops and brine's listed ops, or None."""
    for i, ((pos, op, arg), got) in enumerate(zip(want_ops, got_ops)):
        want = {"offset": pos, "op": op.name, "code": ord(op.code),
                "arg": bt.contract_arg(op.name, arg)}
        same = (got.get("offset") == pos and got.get("op") == op.name
                and got.get("code") == want["code"] and bt.same_arg(want["arg"], got.get("arg")))
        if not same:
            return "%s op #%d: pickletools %r, brine %r" % (where, i, want, got)
    return None


@needs_brine
@pytest.mark.parametrize("name", bt.manifest_names("benign"))
def test_dis_matches_genops(name):
    b, bm, _h, _hm, _m = bt.generated()
    if bm[name]["next_buffer"]:
        pytest.skip("NEXT_BUFFER: data is out of band")
    data = (b / name).read_bytes()
    rc, doc, r = bt.dis_json(b / name)
    assert rc == 0 and doc is not None, bt.describe(r)
    assert doc.get("error") is None, bt.describe(r)
    assert doc.get("trailing") is None, bt.describe(r)
    want = genops_pickles(data)
    got = doc["pickles"]
    assert [(p["offset"], p["end"]) for p in got] == [(s, e) for s, e, _ in want], \
        bt.describe(r)
    for (start, _end, ops), pk in zip(want, got):
        assert len(pk["ops"]) == len(ops), "pickle at %d: %d ops, pickletools %d" % (
            start, len(pk["ops"]), len(ops))
        diff = compare_ops(ops, pk["ops"], "pickle at %d" % start)
        assert diff is None, diff


@needs_brine
@pytest.mark.parametrize("name", bt.manifest_names("hostile"))
def test_dis_hostile(name):
    _b, _bm, h, hm, _m = bt.generated()
    m = hm[name]
    data = (h / name).read_bytes()
    rc, doc, r = bt.dis_json(h / name)
    assert rc == 0, bt.describe(r)
    assert doc is not None and "pickles" in doc, bt.describe(r)
    if m["dis"] == "error":
        e = doc.get("error")
        assert e and isinstance(e.get("offset"), int) and e.get("message"), bt.describe(r)
        assert 0 <= e["offset"] <= len(data), bt.describe(r)
    if m["dis"] == "trailing":
        end = [e for _s, e, _ops in genops_pickles(data) if e is not None][-1]
        assert doc.get("trailing") == {"offset": end, "length": len(data) - end}, \
            bt.describe(r)
    if m.get("rule") == "frame-boundary":
        return  # brine may read a frame straddle like CPython's stream reader, not pickletools
    # what brine lists agrees with pickletools as far as both get
    want = genops_pickles(data)
    for (start, _end, ops), pk in zip(want, doc["pickles"]):
        assert pk["offset"] == start, bt.describe(r)
        diff = compare_ops(ops, pk["ops"], "pickle at %d" % start)
        assert diff is None, diff


@needs_brine
@pytest.mark.parametrize("name", ["a_seed_exploit_p0.pkl", "c_memo_put_after_get.pkl",
                                  "d_nullifai.pkl"])
def test_dis_text_lists_opcodes(name):
    path = bt.generated()[2] / name
    r = bt.run_brine("dis", path)
    assert r.returncode == 0, bt.describe(r)
    out = r.stdout.decode("utf-8", "replace")
    assert "GLOBAL" in out or "STACK_GLOBAL" in out, bt.describe(r)


def test_zz_marker_never_appeared():
    marker = bt.generated()[4]
    assert not marker.exists(), "a payload ran: %s exists" % marker
