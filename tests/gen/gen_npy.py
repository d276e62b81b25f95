#!/usr/bin/env python3
"""Writes .npy and .npz fixtures with the real numpy, plus hand-made headers.

usage: python3 tests/gen/gen_npy.py OUTDIR MARKER

Runs under Debian's python3 (numpy 1.24) and the project venv (numpy 2.x); each writes its
own files. OUTDIR/manifest.json lists every file as {"file", "kind", "note", ...}:

  array    np.save / write_array(version=) of a numeric or other non-object array
  object   an object array (np.save pickles it); "hostile": its pickle would create MARKER,
           "global": the first (module, name) that pickle imports. Never loaded here.
  header   a hand-made file (header text and body given by the test case); the test asks
           np.load(allow_pickle=False) what numpy makes of it
  npz      np.savez / np.savez_compressed / a hand-made zip; "members": names in the zip

Nothing here ever loads a pickle: object arrays are only written.
"""

import io
import json
import os
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")

NUMERIC = ["?", "i1", "u1", "i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
SHAPES = [(), (0,), (5,), (3, 4), (2, 3, 4), (4, 0, 2)]


class Payload:
    """An object whose pickle, if loaded, would run `touch MARKER`."""

    marker = None

    def __reduce__(self):
        return (os.system, ("touch " + Payload.marker,))


def values(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    kind = np.dtype(dtype).kind
    if kind == "b":
        flat = rng.integers(0, 2, n).astype(bool)
    elif kind in "iu":
        info = np.iinfo(np.dtype(dtype))
        flat = rng.integers(info.min, info.max, n, dtype=np.dtype(dtype).newbyteorder("="),
                            endpoint=True)
    elif kind == "f":
        flat = rng.standard_normal(n) * 100
    else:
        flat = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    return np.asarray(flat).astype(dtype).reshape(shape)


def npy_bytes(header, body=b"", major=1, pad=True, declared=None):
    """A file with this header text; pad as numpy does (spaces + newline to 64)."""
    h = header.encode("latin1" if major < 3 else "utf8")
    pre = 8 + (2 if major == 1 else 4)
    if pad:
        h += b" " * ((64 - (pre + len(h) + 1) % 64) % 64) + b"\n"
    n = len(h) if declared is None else declared
    ln = struct.pack("<H", n) if major == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([major, 0]) + ln + h + body


def main():
    out = Path(sys.argv[1])
    Payload.marker = sys.argv[2]
    out.mkdir(parents=True, exist_ok=True)
    manifest = []

    def add(name, data, kind, note, **extra):
        (out / name).write_bytes(data)
        manifest.append(dict(file=name, kind=kind, note=note, **extra))

    def save(name, arr, note, version=None, kind="array", **extra):
        bio = io.BytesIO()
        np.lib.format.write_array(bio, arr, version=version, allow_pickle=True)
        add(name, bio.getvalue(), kind, note, **extra)

    # every numeric dtype, both byte orders, C and Fortran order, 0-d and empty
    seed = 0
    for code in NUMERIC:
        orders = ["|"] if np.dtype(code).itemsize == 1 else ["<", ">"]
        for order in orders:
            dt = np.dtype(code).newbyteorder(order) if order != "|" else np.dtype(code)
            for shape in SHAPES:
                seed += 1
                a = values(dt, shape, seed)
                tag = f"{dt.str.replace('|', 'p').replace('<', 'le').replace('>', 'be')}_" \
                      f"{'x'.join(map(str, shape)) or 'scalar'}"
                save(f"a_{tag}.npy", a, f"{dt.str} {shape}")
                if len(shape) >= 2:
                    save(f"a_{tag}_fortran.npy", np.asfortranarray(a),
                         f"{dt.str} {shape} Fortran order")
    # versions 1.0, 2.0, 3.0 (3.0: a UTF-8 field name)
    for v in ((1, 0), (2, 0), (3, 0)):
        save(f"a_version{v[0]}.npy", values("<f4", (3, 2), 99), f"write_array version={v}",
             version=v)
    save("a_version3_utf8_field.npy",
         np.zeros(3, dtype=[("\u00e9t\u00e9", "<i4"), ("x", "<f8")]),
         "version 3.0 header with a non-latin-1 field name", version=(3, 0))
    # dtypes that are not tensors
    others = {
        "longdouble": np.array([1.5, -2.25], dtype=np.longdouble),
        "clongdouble": np.array([1 + 2j], dtype=np.clongdouble),
        "bytes": np.array([b"ab", b"cdefg"], dtype="S5"),
        "unicode": np.array(["x", "\u00e9t\u00e9", "long text"], dtype="U9"),
        "unicode_be": np.array(["ab", "c"], dtype=">U2"),
        "void": np.array([b"\x01\x02\x03\x04\x05\x06\x07\x08"], dtype="V8"),
        "datetime": np.array(["2024-01-02T03:04:05"], dtype="M8[ns]"),
        "datetime_day": np.array(["2024-01-02", "1970-01-01"], dtype="M8[D]"),
        "timedelta": np.array([5, -3], dtype="m8[s]"),
        "struct": np.zeros(4, dtype=[("a", "<i4"), ("b", ">f8", (2,))]),
        "struct_nested": np.zeros(2, dtype=[("p", [("x", "<f4"), ("y", "<f4")]), ("n", "u1")]),
        "struct_aligned": np.zeros(3, dtype=np.dtype([("a", "u1"), ("b", "<i8")], align=True)),
        "struct_titles": np.zeros(2, dtype=np.dtype({"names": ["a"], "formats": ["<i2"],
                                                     "titles": ["Title A"]})),
        "struct_subarray": np.zeros(2, dtype=[("m", "<f4", (2, 3))]),
    }
    for name, a in others.items():
        save(f"n_{name}.npy", a, f"non-tensor dtype {a.dtype.descr}")

    # object arrays: benign and hostile, plain, structured field, sub-array field
    save("o_ints.npy", np.array([1, 2, 3], dtype=object), "object array of ints",
         kind="object", hostile=False)
    save("o_mixed_2d.npy", np.array([[1, "a"], [None, 2.5]], dtype=object),
         "2-D object array", kind="object", hostile=False)
    save("o_empty.npy", np.array([], dtype=object), "empty object array (still a pickle)",
         kind="object", hostile=False)
    save("o_hostile.npy", np.array([Payload(), 1], dtype=object),
         "object array holding a payload", kind="object", hostile=True,
         glob=["posix", "system"])
    s = np.zeros(2, dtype=[("w", "<f4"), ("o", "O")])
    s["o"][0] = Payload()
    save("o_struct_field.npy", s, "structured dtype with an object field", kind="object",
         hostile=True, glob=["posix", "system"])
    s = np.zeros(1, dtype=[("w", "<f4"), ("o", "O", (2,))])
    s["o"][0, 1] = Payload()
    save("o_subarray_field.npy", s, "structured dtype with a sub-array of objects",
         kind="object", hostile=True, glob=["posix", "system"])
    save("o_version3.npy", np.array([Payload()], dtype=object), "object array, version 3.0",
         version=(3, 0), kind="object", hostile=True, glob=["posix", "system"])
    bio = io.BytesIO()
    np.save(bio, np.array([Payload()], dtype=object), allow_pickle=True)
    add("o_trailing.npy", bio.getvalue() + b"trailing bytes numpy never reads",
        "object", "object array with bytes after the pickle's STOP", hostile=True,
        glob=["posix", "system"])

    # hand-made headers: numpy decides what it accepts; the test compares
    i4x2 = b"\x01\x00\x00\x00\x02\x00\x00\x00"
    pk = b"\x80\x02K\x01."  # a pickle of the int 1: harmless
    H = "{'descr':%s,'fortran_order':%s,'shape':%s}"
    cases = {
        "canonical": (H % ("'<i4'", "False", "(2,)"), i4x2),
        "no_padding": (H % ("'<i4'", "False", "(2,)"), i4x2, 1, False),
        "dup_key_last_wins": ("{'descr':'|O','descr':'<i4','fortran_order':False,"
                              "'shape':(2,)}", i4x2),
        "dup_key_object_last": ("{'descr':'<i4','descr':'|O','fortran_order':False,"
                                "'shape':(2,)}", pk),
        "pipe_f4": (H % ("'|f4'", "False", "(2,)"), i4x2),
        "native_f4": (H % ("'=f4'", "False", "(2,)"), i4x2),
        "no_order_i4": (H % ("'i4'", "False", "(2,)"), i4x2),
        "bang_order": (H % ("'!i4'", "False", "(2,)"), i4x2),
        "object_O8": (H % ("'|O8'", "False", "(2,)"), pk),
        "object_O4": (H % ("'<O4'", "False", "(2,)"), pk),
        "object_name": (H % ("'object'", "False", "(2,)"), pk),
        "object_commastr": (H % ("'i4,O'", "False", "(1,)"), pk),
        "object_subarray": (H % ("('|O',(2,))", "False", "(1,)"), pk),
        "object_struct": (H % ("[('a','<i4'),('b','|O')]", "False", "(1,)"), pk),
        "object_struct_nested": (H % ("[('a',[('b',[('c','|O')])])]", "False", "(1,)"), pk),
        "object_two_char_field": (H % ("['xO']", "False", "(1,)"), pk),
        "object_list_field": (H % ("[['a','|O']]", "False", "(1,)"), pk),
        "object_pad_dropped": (H % ("[('',('|O',(2,))),('b','<i4')]", "False", "(1,)"),
                               b"\x00" * 20),
        "object_negative_shape": (H % ("'|O'", "False", "(-5,)"), pk),
        "object_huge_shape": (H % ("'|O'", "False", "(99999999999999999999,)"), pk),
        "object_bool_shape": (H % ("'|O'", "False", "(True,)"), pk),
        "object_no_body": (H % ("'|O'", "False", "(0,)"), b""),
        "object_many_dims": (H % ("'|O'", "False", "(" + "1," * 70 + ")"), pk),
        "py2_long": (H % ("'<i4'", "False", "(2L,)"), i4x2),
        "py2_long_v3": (H % ("'<i4'", "False", "(2L,)"), i4x2, 3),
        "comment": ("{'descr':'<i4', # c\n'fortran_order':False,'shape':(2,)}", i4x2),
        "continuation": ("{'descr':'<i4',\\\n'fortran_order':False,'shape':(2,)}", i4x2),
        "crlf": ("{'descr':'<i4',\r\n'fortran_order':False,'shape':(2,)}", i4x2),
        "parenthesized": ("(" + H % ("'<i4'", "False", "(2,)") + ")", i4x2),
        "concatenated": (H % ("'<' \"i\" '4'", "False", "(2,)"), i4x2),
        "escape_hex": (H % ("'\\x3ci4'", "False", "(2,)"), i4x2),
        "escape_unicode": (H % ("u'\\u003ci4'", "False", "(2,)"), i4x2),
        "escape_named": (H % ("'\\N{LESS-THAN SIGN}i4'", "False", "(2,)"), i4x2),
        "raw_string": (H % ("r'<i4'", "False", "(2,)"), i4x2),
        "bytes_descr": (H % ("b'<i4'", "False", "(2,)"), i4x2),
        "triple_quoted": (H % ("'''<i4'''", "False", "(2,)"), i4x2),
        "hex_dim": (H % ("'<i4'", "False", "(0x2,)"), i4x2),
        "plus_dim": (H % ("'<i4'", "False", "(+2,)"), i4x2),
        "leading_zero_dim": (H % ("'<i4'", "False", "(02,)"), i4x2),
        "underscore_dim": (H % ("'<i4'", "False", "(1_0,)"), i4x2 * 5),
        "float_dim": (H % ("'<i4'", "False", "(2.0,)"), i4x2),
        "bool_dim": (H % ("'<i4'", "False", "(True,2)"), i4x2),
        "negative_dim": (H % ("'<i4'", "False", "(-1,)"), i4x2),
        "negative_zero_dim": (H % ("'<i4'", "False", "(-0,)"), b""),
        "list_shape": (H % ("'<i4'", "False", "[2]"), i4x2),
        "int_shape": (H % ("'<i4'", "False", "2"), i4x2),
        "fortran_int": (H % ("'<i4'", "0", "(2,)"), i4x2),
        "fortran_none": (H % ("'<i4'", "None", "(2,)"), i4x2),
        "extra_key": ("{'descr':'<i4','fortran_order':False,'shape':(2,),'x':1}", i4x2),
        "missing_key": ("{'descr':'<i4','shape':(2,)}", i4x2),
        "int_key": ("{'descr':'<i4','fortran_order':False,'shape':(2,),1:2}", i4x2),
        "not_a_dict": ("['descr','<i4']", i4x2),
        "set_value": ("{'descr':{1,2},'descr':'<i4','fortran_order':False,'shape':(2,)}",
                      i4x2),
        "unhashable_set": ("{'descr':{[1]},'descr':'<i4','fortran_order':False,"
                           "'shape':(2,)}", i4x2),
        "bad_dict": ("{'descr':'<i4','fortran_order':False,'shape':(2,)", i4x2),
        "bad_syntax": ("{'descr':'<i4' 'fortran_order':False,'shape':(2,)}", i4x2),
        "name_value": (H % ("'<i4'", "false", "(2,)"), i4x2),
        "call_value": (H % ("str('<i4')", "False", "(2,)"), i4x2),
        "indented": ("\n  " + H % ("'<i4'", "False", "(2,)"), i4x2),
        "leading_newline": ("\n" + H % ("'<i4'", "False", "(2,)"), i4x2),
        "leading_space": ("   " + H % ("'<i4'", "False", "(2,)"), i4x2),
        "nul_in_header": (H % ("'<i4'", "False", "(2,)") + "\0", i4x2),
        "trailing_text": (H % ("'<i4'", "False", "(2,)") + " x", i4x2),
        "trailing_body": (H % ("'<i4'", "False", "(2,)"), i4x2 + b"extra"),
        "short_body": (H % ("'<i4'", "False", "(2,)"), i4x2[:7]),
        "scalar_no_body": (H % ("'<i4'", "False", "()"), b""),
        "huge_shape": (H % ("'<f8'", "False", "(1000000000,1000000000)"), i4x2),
        "overflow_shape": (H % ("'<i1'", "False", "(4294967296,4294967296)"), b""),
        "empty_too_big": (H % ("'<f8'", "False", "(0,101000000000,1000000000)"), b""),
        "big_dim": (H % ("'<i1'", "False", "(99999999999999999999,)"), b""),
        "too_many_dims": (H % ("'<i1'", "False", "(" + "1," * 70 + ")"), b"\0"),
        "unicode_zero": (H % ("'<U0'", "False", "(3,)"), b""),
        "bytes_S3": (H % ("'|S3'", "False", "(2,)"), b"abcdef"),
        "struct_list": (H % ("[('a','<i4'),('b','<f4')]", "False", "(1,)"), i4x2),
        "struct_dup_names": (H % ("[('a','<i4'),('a','<f4')]", "False", "(1,)"), i4x2),
        "struct_bad_field": (H % ("[('a',)]", "False", "(1,)"), i4x2),
        "struct_empty": (H % ("[]", "False", "(3,)"), b""),
        "subarray_tuple_short": (H % ("('<i4',)", "False", "(1,)"), i4x2),
        "descr_int": (H % ("4", "False", "(2,)"), i4x2),
        "descr_typo": (H % ("'<i3'", "False", "(2,)"), i4x2),
        "descr_float_name": (H % ("'float64'", "False", "(1,)"), i4x2),
        "deep_nesting": ((H % ("'<i4'", "False", "(2,)"))[:-1] + ",'x':" + "[" * 250 +
                         "]" * 250 + "}", i4x2),
        "version_3_latin1_byte": (H % ("'<i4'", "False", "(2,)") + "#\u00e9", i4x2, 3),
        "long_header_numeric": (H % ("'<i4'", "False", "(2,)") + " " * 12000, i4x2, 2),
        "long_header_object": (H % ("'|O'", "False", "(1,)") + " " * 12000, pk, 2),
    }
    for name, spec in cases.items():
        header, body = spec[0], spec[1]
        major = spec[2] if len(spec) > 2 else 1
        pad = spec[3] if len(spec) > 3 else True
        add(f"h_{name}.npy", npy_bytes(header, body, major, pad), "header", name)
    # files that lie about their own size or version
    good = npy_bytes(H % ("'<i4'", "False", "(2,)"), i4x2)
    add("h_len_too_long.npy", npy_bytes(H % ("'<i4'", "False", "(2,)"), i4x2,
                                        declared=5000), "header", "header length past EOF")
    add("h_len_too_short.npy", npy_bytes(H % ("'<i4'", "False", "(2,)"), i4x2,
                                         declared=20), "header", "header length cuts the dict")
    add("h_version_1_1.npy", good[:7] + b"\x01" + good[8:], "header", "version (1,1)")
    add("h_version_4_0.npy", good[:6] + b"\x04\x00" + good[8:], "header", "version (4,0)")
    add("h_truncated_magic.npy", good[:7], "header", "7 bytes")
    add("h_bad_magic.npy", b"\x93NUMPZ" + good[6:], "header", "wrong magic")

    # .npz: numpy's writers, odd names, and hand-made zips
    arrays = {"a": values("<f4", (3, 2), 7), "dir/odd name": values(">i8", (4,), 8),
              "x.npy": values("|b1", (2, 2), 9), "\u00fcber": values("<c16", (2,), 10)}
    for fn, writer in (("z_savez.npz", np.savez), ("z_savez_compressed.npz",
                                                   np.savez_compressed)):
        bio = io.BytesIO()
        writer(bio, **arrays)
        add(fn, bio.getvalue(), "npz", writer.__name__,
            members=[k + ".npy" for k in arrays])
    for fn, comp in (("z_object_stored.npz", zipfile.ZIP_STORED),
                     ("z_object_deflated.npz", zipfile.ZIP_DEFLATED)):
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w", comp) as z:
            for name, arr in (("w.npy", values("<f8", (3,), 11)),
                              ("weights.bin", np.array([Payload()], dtype=object)),
                              ("plain", values("<i2", (2,), 12))):
                m = io.BytesIO()
                np.lib.format.write_array(m, arr, allow_pickle=True)
                z.writestr(name, m.getvalue())
            # a pickle that is not an npy member: np.load returns its bytes unread
            z.writestr("notes.pkl", b"\x80\x02cposix\nsystem\nq\x00.")
        add(fn, bio.getvalue(), "npz", "hand-made zip: npy members under any name, one an "
            "object array; a raw pickle member np.load never unpickles",
            members=["w.npy", "weights.bin", "plain", "notes.pkl"])

    # zipfile also reads bzip2 and LZMA members, so np.load does: a zip reader that only
    # knows stored and deflate must fail closed on these, not skip them
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        for name, comp in (("b.npy", zipfile.ZIP_BZIP2), ("l.npy", zipfile.ZIP_LZMA)):
            m = io.BytesIO()
            np.lib.format.write_array(m, np.array([Payload()], dtype=object), allow_pickle=True)
            z.writestr(zipfile.ZipInfo(name), m.getvalue(), compress_type=comp)
        m = io.BytesIO()
        np.lib.format.write_array(m, values("<f8", (2, 2), 13))
        z.writestr(zipfile.ZipInfo("w.npy"), m.getvalue(), compress_type=zipfile.ZIP_LZMA)
    add("z_bzip2_lzma.npz", bio.getvalue(), "npz", "members compressed with bzip2 and LZMA "
        "(zipfile methods 12 and 14), two of them object arrays", members=["b.npy", "l.npy",
                                                                          "w.npy"])

    (out / "manifest.json").write_text(json.dumps(
        {"numpy": np.__version__, "files": manifest}, indent=1))


if __name__ == "__main__":
    main()
