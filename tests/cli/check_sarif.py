#!/usr/bin/env python3
"""brine's SARIF as GitHub code scanning reads it, validated against the SARIF 2.1.0 schema.

    check_sarif.py BRINE SOURCE_DIR        (run with the venv's Python: it needs jsonschema)

- the whole log validates against tests/data/sarif-schema-2.1.0.json (OASIS 2.1.0 errata 01,
  committed: no network);
- every result has a location whose region has startLine (1: findings are about a file),
  and byteOffset only when the offset is in the file itself (not inside an archive member);
- every rule has shortDescription, fullDescription, help.text and help.markdown, tags and a
  security-severity that is a number in the band of its verdict (unsafe >= 9, unverified
  4-7, invalid 3-5);
- partialFingerprints are the documented hash (recomputed here from the rule, the path
  relative to the scan's working directory, the member, the global and the occurrence),
  differ between the findings of a run, and are the same when the same files are scanned
  from another checkout through an absolute path.

The files scanned are hand-made byte strings; nothing is ever unpickled.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import jsonschema

BRINE, SRC = os.path.abspath(sys.argv[1]), sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


# A pickle that would call posix.system and builtins.eval, and one outside the allowlist.
HOSTILE = (b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R"
           b"cbuiltins\neval\nX\x01\x00\x00\x001\x85R\x86.")
UNVERIFIED = b"\x80\x02cmymodule\nMyThing\n)R."
TRUNCATED = b"\x80\x02]q\x00(K\x01K\x02"


def make_tree(root):
    models = os.path.join(root, "models")
    os.makedirs(os.path.join(models, "sub"))
    with open(os.path.join(models, "evil.pkl"), "wb") as f:
        f.write(HOSTILE)
    with open(os.path.join(models, "sub", "odd name%.pkl"), "wb") as f:
        f.write(UNVERIFIED)
    with open(os.path.join(models, "broken.pkl"), "wb") as f:
        f.write(TRUNCATED)
    # A torch-style zip: the finding is inside a member, at an offset of that member.
    with zipfile.ZipFile(os.path.join(models, "ckpt.pt"), "w") as z:
        z.writestr("archive/data.pkl", HOSTILE)
        z.writestr("archive/version", "3\n")
    return models


def scan(cwd, *paths):
    p = subprocess.run([BRINE, "scan", "--format", "sarif", "-r", *paths], cwd=cwd,
                       capture_output=True, timeout=120)
    check(p.returncode == 1, f"scan exits 1 on hostile files (got {p.returncode}: {p.stderr!r})")
    return json.loads(p.stdout)


def expected_fingerprint(rule, path, member, glob, occurrence):
    data = b""
    for field in (rule, path, member, glob, str(occurrence)):
        data += b"\x00\x00" if field is None else b"\x01" + field.encode() + b"\x00"
    return hashlib.sha256(data).hexdigest()


def main():
    with open(os.path.join(SRC, "tests/data/sarif-schema-2.1.0.json"), encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft4Validator(schema)
    check(schema.get("id", "").endswith("/sarif-schema-2.1.0.json"), "the committed schema is 2.1.0")

    tmp = tempfile.mkdtemp(prefix="brine-sarif-")
    try:
        a = os.path.join(tmp, "checkout-a")
        b = os.path.join(tmp, "checkout-b")
        make_tree(a)
        make_tree(b)
        log_a = scan(a, "models", "missing.pkl")
        log_b = scan(b, os.path.join(b, "models"))

        errors = sorted(validator.iter_errors(log_a), key=lambda e: list(e.path))
        for e in errors[:5]:
            print("schema:", list(e.path), e.message[:200])
        check(not errors, f"the SARIF log validates against the 2.1.0 schema ({len(errors)} errors)")
        check(not list(validator.iter_errors(log_b)), "the second log validates too")

        run = log_a["runs"][0]
        rules = run["tool"]["driver"]["rules"]
        for r in rules:
            rid = r["id"]
            check(r.get("shortDescription", {}).get("text"), f"{rid}: shortDescription")
            check(len(r.get("fullDescription", {}).get("text", "")) >
                  len(r["shortDescription"]["text"]), f"{rid}: fullDescription says more")
            check(r.get("help", {}).get("text") and r["help"].get("markdown"),
                  f"{rid}: help text and markdown")
            props = r.get("properties", {})
            check("security" in props.get("tags", []), f"{rid}: tagged security")
            sev = props.get("security-severity")
            check(isinstance(sev, str), f"{rid}: security-severity is a string")
            band = {"unsafe": (9.0, 10.0), "unverified": (4.0, 6.9), "invalid": (3.0, 5.0)}
            lo, hi = band.get(props.get("severity"), (0.1, 10.0))
            try:
                check(lo <= float(sev) <= hi, f"{rid}: security-severity {sev} in [{lo}, {hi}]")
            except (TypeError, ValueError):
                check(False, f"{rid}: security-severity {sev!r} is a number")

        results = run["results"]
        check(len(results) >= 5, f"findings for every hostile file ({len(results)} results)")
        seen = {}
        fps = []
        for res in results:
            loc = res["locations"][0]
            phys = loc["physicalLocation"]
            region = phys.get("region", {})
            check(region.get("startLine") == 1, f"{res['ruleId']}: region.startLine is 1")
            member = None
            for ll in loc.get("logicalLocations", []):
                if ll.get("kind") == "resource":
                    member = ll["name"]
            glob = None
            for ll in loc.get("logicalLocations", []):
                if "fullyQualifiedName" in ll:
                    glob = ll["fullyQualifiedName"]
            if member is not None:
                check("byteOffset" not in region, "no byteOffset for an offset inside a member")
            uri = phys["artifactLocation"]["uri"]
            path = uri.replace("%25", "%").replace("%20", " ")
            key = (res["ruleId"], path, member, glob)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            fp = res.get("partialFingerprints", {}).get("brineFinding/v1")
            check(fp == expected_fingerprint(res["ruleId"], path, member, glob, occurrence),
                  f"fingerprint of {key} #{occurrence} is the documented hash")
            fps.append(fp)
        check(len(set(fps)) == len(fps), "fingerprints differ between the findings of a run")
        check(any(k[3] and "eval" in k[3] for k in seen), "two findings in one file are covered")
        check(any(r["locations"][0].get("logicalLocations") and
                  any(ll.get("kind") == "resource" for ll in r["locations"][0]["logicalLocations"])
                  for r in results), "a finding inside an archive member is covered")

        # Checkout b was scanned through an absolute path below its working directory.
        fps_b = [r["partialFingerprints"]["brineFinding/v1"] for r in log_b["runs"][0]["results"]]
        check(sorted(fps_b) == sorted(fps),
              "the same findings in another checkout (absolute path) have the same fingerprints")
        check(not any(tmp in json.dumps(r["partialFingerprints"]) for r in results),
              "no absolute path in a fingerprint")
        inv = run["invocations"][0]
        check(inv["executionSuccessful"] is False and
              len(inv["toolExecutionNotifications"]) == 1, "the missing path is a notification")
    finally:
        shutil.rmtree(tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("sarif: all checks passed")
    return 0


sys.exit(main())
