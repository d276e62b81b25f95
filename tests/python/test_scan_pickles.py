"""`brine scan` on pickles: verdicts of generated benign and hostile files, the globals
brine names, exit codes, --fail-on, --allow, --policy, -r, text output and non-pickles.

Run: BRINE=build/brine /usr/bin/python3 -m pytest -q tests/python/test_scan_pickles.py
The fixtures are generated into a temporary directory by tests/gen/gen_benign.py and
gen_hostile.py. Hostile payloads would only create MARKER; the last test checks it never
appeared. Nothing here unpickles anything.
"""

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

import brinetest as bt

needs_brine = pytest.mark.skipif(bt.brine_path() is None, reason="no brine binary (set BRINE)")

SEVERITY = {"safe": 0, "unverified": 1, "invalid": 2, "unsafe": 3}


def benign(name):
    b, bm, _h, _hm, _m = bt.generated()
    return b / name, bm[name]


def hostile(name):
    _b, _bm, h, hm, _m = bt.generated()
    return h / name, hm[name]


def only_file(doc, r):
    assert doc is not None, "output is not JSON\n" + bt.describe(r)
    assert len(doc.get("files", [])) == 1, bt.describe(r)
    return doc["files"][0]


def offsets_in_file(f, path):
    size = Path(path).stat().st_size
    return all(0 <= x["offset"] <= size for x in f.get("findings", []) if "offset" in x)


def named(f, expected):
    """True when `expected` is (a substring of) a finding's global or a listed global."""
    names = [x.get("global") or "" for x in f.get("findings", [])] + list(f.get("globals", []))
    return any(expected in n for n in names)


# ------------------------------------------------------------------ the generators

def test_generated_sets_are_large_and_cover_every_family():
    _b, bm, _h, hm, _m = bt.generated()
    assert len(bm) >= 150
    assert {v["expect"] for v in bm.values()} == {"safe", "unverified"}
    assert len(hm) >= 40
    assert {v["family"] for v in hm.values()} == {"A", "B", "C", "D"}
    for name, v in hm.items():
        assert v["expect"] and set(v["expect"]) <= {"unsafe", "invalid"}, name
    for name, v in bm.items():
        assert (v["expect"] == "unverified") == bool(v["globals_outside"]), name


def test_generators_are_deterministic(tmp_path):
    b, _bm, h, _hm, marker = bt.generated()
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_benign.py"), str(tmp_path / "b")],
                   check=True, capture_output=True)
    subprocess.run([bt.PYTHON, str(bt.GEN_DIR / "gen_hostile.py"), str(tmp_path / "h"),
                    str(marker)], check=True, capture_output=True)
    for ref, new in ((b, tmp_path / "b"), (h, tmp_path / "h")):
        names = sorted(p.name for p in ref.iterdir())
        assert names == sorted(p.name for p in new.iterdir())
        for n in names:
            assert (ref / n).read_bytes() == (new / n).read_bytes(), n


# ------------------------------------------------------------------ benign verdicts

@needs_brine
@pytest.mark.parametrize("name", bt.manifest_names("benign"))
def test_benign_verdict(name):
    path, m = benign(name)
    rc, doc, r = bt.scan_json(path)
    f = only_file(doc, r)
    assert f["format"] == "pickle", bt.describe(r)
    assert f["verdict"] == m["expect"], "%s\noracle globals outside the policy: %s\n%s" % (
        name, m["globals_outside"], bt.describe(r))
    assert rc == (0 if m["expect"] == "safe" else 1), bt.describe(r)
    listed = f.get("globals", [])
    # every global the file's pickles reference is listed; nothing is invented
    missing = [g for g in m["globals"] if g not in listed]
    assert not missing, "globals not listed: %s\n%s" % (missing, bt.describe(r))
    assert [g for g in listed if g in m["globals"]] == m["globals"], \
        "globals not in first-seen order\n" + bt.describe(r)
    invented = [g for g in listed if g not in m["globals"] + m["globals_nested"]]
    assert not invented, "globals not in the file: %s\n%s" % (invented, bt.describe(r))
    for g in m["globals_outside"]:
        assert g in listed or g in m["globals_nested"], g
        assert any(x.get("rule") == "unverified-global" and x.get("global") == g
                   for x in f["findings"]), "no unverified-global finding for %s\n%s" % (
            g, bt.describe(r))
    worst = max([SEVERITY[x["severity"]] for x in f["findings"]], default=0)
    assert worst == SEVERITY[f["verdict"]], bt.describe(r)


# ------------------------------------------------------------------ hostile verdicts

@needs_brine
@pytest.mark.parametrize("name", bt.manifest_names("hostile"))
def test_hostile_verdict(name):
    path, m = hostile(name)
    rc, doc, r = bt.scan_json(path)
    f = only_file(doc, r)
    why = "%s (%s: %s)\n%s" % (name, m["family"], m["technique"], bt.describe(r))
    assert f["verdict"] in m["expect"], why
    assert rc == 1, why
    assert f["format"] == "pickle", why
    assert offsets_in_file(f, path), why
    if f["verdict"] == "unsafe":
        assert any(x["severity"] == "unsafe" for x in f["findings"]), why
    if m["global"] and f["verdict"] == "unsafe":
        assert named(f, m["global"]), "%s is not named\n%s" % (m["global"], why)
    if m.get("rule"):
        assert any(x["rule"] == m["rule"] for x in f["findings"]), \
            "no %s finding\n%s" % (m["rule"], why)


@needs_brine
@pytest.mark.parametrize("name", [n for n in bt.manifest_names("hostile")
                                  if bt.generated()[3][n].get("nested_global")])
def test_hostile_nested_pickle_is_scanned(name):
    """bytes handed to pickle.loads or torch.storage._load_from_bytes are pickles: brine
    scans them in turn, and their findings say where (`member`, docs/contract.md)."""
    path, m = hostile(name)
    rc, doc, r = bt.scan_json(path)
    f = only_file(doc, r)
    assert any(m["nested_global"] in (x.get("global") or "") and x.get("member")
               for x in f["findings"]), "%s inside the nested pickle is not named\n%s" % (
        m["nested_global"], bt.describe(r))


# ------------------------------------------------------------------ exit codes

@needs_brine
def test_exit_0_on_a_safe_file():
    path, _ = benign("ints_small_p4.pkl")
    rc, doc, r = bt.scan_json(path)
    assert rc == 0 and only_file(doc, r)["verdict"] == "safe", bt.describe(r)
    assert doc["summary"]["failed"] == 0 and doc["summary"]["safe"] == 1, bt.describe(r)


@needs_brine
@pytest.mark.parametrize("sample", ["benign_model.pkl", "state_dict_raw.pkl"])
def test_committed_benign_samples_are_safe(sample):
    rc, doc, r = bt.scan_json(bt.REPO / "samples" / sample)
    assert rc == 0 and only_file(doc, r)["verdict"] == "safe", bt.describe(r)


@needs_brine
def test_exit_1_on_the_seed_exploit():
    rc, doc, r = bt.scan_json(bt.REPO / "samples" / "seed_exploit.pkl")
    f = only_file(doc, r)
    assert rc == 1 and f["verdict"] == "unsafe", bt.describe(r)
    assert named(f, "posix.system"), bt.describe(r)


@needs_brine
def test_exit_2_on_a_missing_path(tmp_path):
    missing = tmp_path / "missing.pkl"
    rc, doc, r = bt.scan_json(missing)
    assert rc == 2, bt.describe(r)
    assert doc is not None, bt.describe(r)
    assert [e["path"] for e in doc["errors"]] == [str(missing)], bt.describe(r)
    assert doc["files"] == [] and doc["summary"]["errors"] == 1, bt.describe(r)


@needs_brine
def test_findings_beat_errors(tmp_path):
    missing = tmp_path / "missing.pkl"
    bad, _ = hostile("a_seed_exploit_p4.pkl")
    for order in ((missing, bad), (bad, missing)):
        rc, doc, r = bt.scan_json(*order)
        assert rc == 1, bt.describe(r)
        assert doc["summary"]["unsafe"] == 1 and doc["summary"]["errors"] == 1, bt.describe(r)
    unverified, _ = benign("decimal_p4.pkl")
    rc, _doc, r = bt.scan_json(missing, unverified)
    assert rc == 1, bt.describe(r)
    safe, _ = benign("none_p4.pkl")
    rc, _doc, r = bt.scan_json(safe, missing)
    assert rc == 2, bt.describe(r)


@needs_brine
def test_fail_on_threshold():
    unverified, _ = benign("sklearn_logreg_p4.pkl")
    bad, _ = hostile("a_seed_exploit_p2.pkl")
    broken_and_bad, _ = hostile("d_nullifai.pkl")
    for level in ("unsafe", "invalid"):
        rc, doc, r = bt.scan_json("--fail-on", level, unverified)
        assert rc == 0, bt.describe(r)
        assert only_file(doc, r)["verdict"] == "unverified", bt.describe(r)
        rc, _doc, r = bt.scan_json("--fail-on", level, bad)
        assert rc == 1, bt.describe(r)
    rc, _doc, r = bt.scan_json("--fail-on", "unsafe", broken_and_bad)
    assert rc == 1, bt.describe(r)
    rc, _doc, r = bt.scan_json("--fail-on", "unverified", unverified)
    assert rc == 1, bt.describe(r)


@needs_brine
@pytest.mark.parametrize("allow, files", [
    (["decimal.Decimal"], ["decimal_p4.pkl", "decimal_p0.pkl"]),
    (["datetime.*"], ["datetime_tz_p4.pkl", "datetime_p2.pkl"]),
    (["fractions.Fraction", "argparse.Namespace"], ["fraction_p3.pkl", "namespace_p5.pkl"]),
    (["sklearn"], ["sklearn_logreg_p2.pkl", "sklearn_logreg_p4.pkl", "sklearn_logreg_p5.pkl"]),
])
def test_allow_widens_the_policy(allow, files):
    paths = [benign(n)[0] for n in files]
    rc, doc, _ = bt.scan_json(*paths)
    assert all(f["verdict"] == "unverified" for f in doc["files"])
    args = [a for entry in allow for a in ("--allow", entry)]
    rc, doc, r = bt.scan_json(*args, *paths)
    assert rc == 0, bt.describe(r)
    assert [f["verdict"] for f in doc["files"]] == ["safe"] * len(files), bt.describe(r)


@needs_brine
def test_allow_does_not_widen_beyond_its_entry():
    path, _ = benign("datetime_tz_p4.pkl")  # datetime.datetime, .timezone, .timedelta
    rc, doc, r = bt.scan_json("--allow", "datetime.datetime", path)
    f = only_file(doc, r)
    assert rc == 1 and f["verdict"] == "unverified", bt.describe(r)
    flagged = {x.get("global") for x in f["findings"] if x["rule"] == "unverified-global"}
    assert flagged == {"datetime.timezone", "datetime.timedelta"}, bt.describe(r)


@needs_brine
def test_policy_file(tmp_path):
    policy = tmp_path / "policy.txt"
    policy.write_text("# brine policy for this project\n\ndecimal.Decimal\n"
                      "fractions.Fraction   # rationals\n")
    paths = [benign("decimal_p4.pkl")[0], benign("fraction_p2.pkl")[0]]
    rc, doc, r = bt.scan_json("--policy", policy, *paths)
    assert rc == 0, bt.describe(r)
    assert [f["verdict"] for f in doc["files"]] == ["safe", "safe"], bt.describe(r)
    rc, doc, r = bt.scan_json("--policy", policy, benign("namespace_p4.pkl")[0])
    assert rc == 1 and only_file(doc, r)["verdict"] == "unverified", bt.describe(r)


@needs_brine
def test_forbidden_globals_cannot_be_allowed(tmp_path):
    """os/posix/subprocess/eval can never be allowed: refused (usage error) or still unsafe."""
    policy = tmp_path / "policy.txt"
    policy.write_text("posix.*\nos.system\n")
    seed, _ = hostile("a_seed_exploit_p4.pkl")
    for args in (["--allow", "posix.system"], ["--allow", "posix.*"], ["--policy", policy]):
        rc, doc, r = bt.scan_json(*args, seed)
        assert rc in (1, 2), bt.describe(r)
        if rc == 1:
            assert only_file(doc, r)["verdict"] == "unsafe", bt.describe(r)
    for entry, sample in (("builtins.eval", "a_builtins_eval.pkl"),
                          ("subprocess.getoutput", "a_subprocess_getoutput.pkl")):
        rc, doc, r = bt.scan_json("--allow", entry, hostile(sample)[0])
        assert rc in (1, 2), bt.describe(r)
        if rc == 1:
            assert only_file(doc, r)["verdict"] == "unsafe", bt.describe(r)


# ------------------------------------------------------------------ directories and output

@needs_brine
def test_recursive_directory_scan(tmp_path):
    """-r walks directories; files are recognised by content, not by extension."""
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    files = {
        root / "model.pkl": benign("np_model_p4.pkl")[0].read_bytes(),
        root / "sub" / "pytorch_model": hostile("a_seed_exploit_p2.pkl")[0].read_bytes(),
        root / "sub" / "deeper" / "weights.txt": benign("decimal_p1.pkl")[0].read_bytes(),
        root / "sub" / "model.safetensors": hostile("c_string_operands_noproto.pkl")[0]
        .read_bytes(),
        root / "README.md": b"# tiny model\n\nA test tree.\n",
    }
    for p, data in files.items():
        p.write_bytes(data)
    rc, doc, r = bt.scan_json("-r", root)
    assert rc == 1, bt.describe(r)
    got = {os.path.normpath(f["path"]): f["verdict"] for f in doc["files"]}
    assert got == {
        str(root / "model.pkl"): "safe",
        str(root / "sub" / "pytorch_model"): "unsafe",
        str(root / "sub" / "deeper" / "weights.txt"): "unverified",
        str(root / "sub" / "model.safetensors"): "unsafe",
        str(root / "README.md"): "safe",
    }, bt.describe(r)
    assert doc["summary"]["files"] == 5, bt.describe(r)


@needs_brine
@pytest.mark.parametrize("sample, callable_", [
    ("a_seed_exploit_p0.pkl", "posix.system"),
    ("b_dotted_random.pkl", "random._os.system"),
    ("b_py2_commands_getoutput.pkl", "subprocess.getoutput"),
])
def test_text_output_names_the_callable(sample, callable_):
    r = bt.run_brine("scan", hostile(sample)[0])
    assert r.returncode == 1, bt.describe(r)
    assert callable_ in r.stdout.decode("utf-8", "replace"), bt.describe(r)


@needs_brine
def test_jsonl_prints_one_object_per_file(tmp_path):
    paths = [benign("none_p0.pkl")[0], hostile("a_seed_exploit_p4.pkl")[0]]
    missing = tmp_path / "missing.pkl"
    r = bt.run_brine("scan", "--format", "jsonl", *paths, missing)
    assert r.returncode == 1, bt.describe(r)
    lines = [json.loads(x) for x in r.stdout.decode().splitlines() if x.strip()]
    assert {x["path"]: x.get("verdict") for x in lines if "verdict" in x} == {
        str(paths[0]): "safe", str(paths[1]): "unsafe"}, bt.describe(r)
    assert [x for x in lines if "error" in x and x["path"] == str(missing)], bt.describe(r)
    assert not any("summary" in x for x in lines), bt.describe(r)


@needs_brine
def test_truncated_malicious_pickle_is_unsafe_not_an_error():
    for name in ("d_truncated_mid_argument.pkl", "d_truncated_before_stop.pkl",
                 "d_truncated_frame_p4.pkl"):
        rc, doc, r = bt.scan_json(hostile(name)[0])
        assert rc == 1 and doc["errors"] == [], bt.describe(r)
        assert only_file(doc, r)["verdict"] == "unsafe", bt.describe(r)


@needs_brine
@pytest.mark.parametrize("kind", ["readme", "png", "random"])
def test_files_that_are_not_pickles(tmp_path, kind):
    rnd = random.Random(20240601)
    data = {
        "readme": b"# Model card\n\nThis model classifies tiny things.\n\n## Usage\n\n"
                  b"    brine scan model.pkl\n",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
               b"\x00\x00\x00\x90wS\xde" + bytes(rnd.randrange(256) for _ in range(64)),
        # 0x00 is no pickle opcode (pickletools.code2op)
        "random": b"\x00" + bytes(rnd.randrange(256) for _ in range(4096)),
    }[kind]
    path = tmp_path / ("README.md" if kind == "readme" else kind + ".bin")
    path.write_bytes(data)
    rc, doc, r = bt.scan_json(path)
    f = only_file(doc, r)
    assert (f["format"], f["verdict"], rc) == ("none", "safe", 0), bt.describe(r)


@needs_brine
def test_zip_header_read_as_a_pickle_names_nothing(tmp_path):
    """A zip written at hh:m0:20 (m0 a multiple of 8 minutes) has a newline at byte 10, the
    low byte of the DOS time: read as a pickle, "PK..." is a persistent id and the time's high
    byte the next opcode — EXT4 at 16:32, GLOBAL at 12:24. pickle.load raises at the
    persistent id and torch.load reads the zip, so none of these names counts."""
    import pickle
    import pickletools
    import zipfile
    paths = []
    for hour in range(24):
        for minute in range(0, 60, 8):
            path = tmp_path / f"at-{hour:02}{minute:02}20.zip"
            info = zipfile.ZipInfo("data.pkl", date_time=(2024, 6, 1, hour, minute, 20))
            with zipfile.ZipFile(path, "w") as z:
                z.writestr(info, pickle.dumps({"weights": [1.0, 2.0]}, protocol=2))
            head = path.read_bytes()
            assert head[10] == 0x0A and head[11] == hour << 3 | minute >> 3
            assert next(pickletools.genops(head))[0].name == "PERSID"
            paths.append(path)
    rc, doc, r = bt.scan_json(*paths)
    verdicts = {Path(f["path"]).name: (f["format"], f["verdict"]) for f in doc["files"]}
    assert len(verdicts) == len(paths), bt.describe(r)
    assert set(verdicts.values()) == {("zip", "safe")}, verdicts
    assert rc == 0, bt.describe(r)
    # the same first opcode in a file that is no zip: a loader with persistent_load runs on
    hostile_raw = tmp_path / "persid-then-system.pkl"
    hostile_raw.write_bytes(b"P0\ncos\nsystem\n(S'true'\ntR\xff")
    rc, doc, r = bt.scan_json(hostile_raw)
    assert (rc, only_file(doc, r)["verdict"]) == (1, "unsafe"), bt.describe(r)


@needs_brine
def test_one_run_over_everything_has_a_consistent_summary():
    b, bm, h, hm, _m = bt.generated()
    paths = [b / n for n in sorted(bm)] + [h / n for n in sorted(hm)]
    rc, doc, r = bt.scan_json(*paths)
    assert rc == 1, bt.describe(r)
    files = doc["files"]
    assert sorted(f["path"] for f in files) == sorted(map(str, paths)), bt.describe(r)
    s = doc["summary"]
    assert s["files"] == len(paths) and s["errors"] == 0
    for v in SEVERITY:
        assert s[v] == sum(f["verdict"] == v for f in files), v
    assert s["failed"] == sum(f["verdict"] != "safe" for f in files)
    for f in files:
        sev = [SEVERITY[x["severity"]] for x in f["findings"]]
        assert sev == sorted(sev, reverse=True), "findings not most-severe-first: " + f["path"]


# ------------------------------------------------------------------ last: nothing ran

def test_zz_marker_never_appeared():
    marker = bt.generated()[4]
    assert not Path(marker).exists(), "a payload ran: %s exists" % marker
    assert list(Path(marker).parent.iterdir()) == []
