"""GGUF fixtures (issue 12 part 4): benign files written by the real gguf-py GGUFWriter (every
metadata type, nested arrays, float/int tensors, a quantized Q8_0 tensor, a benign chat
template), hostile chat templates (Jinja sandbox escapes, obfuscated) and hand-corrupted
variants (truncated, huge counts and lengths, misaligned/overlapping/out-of-range offsets,
unknown types, bad alignment, duplicates) plus hand-written v1 and v2 files.

Usage: gen_gguf.py OUTDIR. Writes OUTDIR/*.gguf and OUTDIR/manifest.json:
{"files": [{"file", "expect" (verdict), "rule" (expected rule or null), "read": true when
gguf-py may read it (benign)}]}. Hostile files are never rendered as templates.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
FILES = []

# A real chat template shape (Llama-3 style): loops, conditionals, filters, no Python internals.
BENIGN_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}")


def add(name, expect, rule=None, read=False):
    FILES.append({"file": name, "expect": expect, "rule": rule, "read": read})


def write(name, build, template=BENIGN_TEMPLATE, extra_templates=None):
    path = OUT / name
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_uint8("t.u8", 7)
    w.add_int8("t.i8", -7)
    w.add_uint16("t.u16", 700)
    w.add_int16("t.i16", -700)
    w.add_uint32("t.u32", 70000)
    w.add_int32("t.i32", -70000)
    w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True)
    w.add_uint64("t.u64", 1 << 40)
    w.add_int64("t.i64", -(1 << 40))
    w.add_float64("t.f64", 2.25)
    w.add_string("t.str", "héllo")
    w.add_array("t.arr_int", [1, 2, 3])
    w.add_array("t.arr_str", ["a", "bc", ""])
    w.add_array("t.arr_nested", [[1, 2], [3]])
    w.add_array("t.arr_empty", [])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    if template is not None:
        w.add_chat_template(template)
    for k, v in (extra_templates or {}).items():
        w.add_string(k, v)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


rng = np.random.default_rng(12)


def float_tensors(w):
    w.add_tensor("tok_embd.weight", rng.standard_normal((4, 8)).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((8, 8)).astype(np.float16))
    w.add_tensor("blk.0.norm", rng.standard_normal(8).astype(np.float32))
    w.add_tensor("blk.0.f64", rng.standard_normal((2, 3)).astype(np.float64))
    w.add_tensor("blk.0.i8", rng.integers(-128, 127, (3, 5), dtype=np.int8))
    w.add_tensor("blk.0.i16", rng.integers(-30000, 30000, (5,), dtype=np.int16))
    w.add_tensor("blk.0.i32", rng.integers(-1 << 30, 1 << 30, (2, 2, 2), dtype=np.int32))
    w.add_tensor("blk.0.i64", rng.integers(-1 << 60, 1 << 60, (3,), dtype=np.int64))
    w.add_tensor("blk.0.3d", rng.standard_normal((2, 3, 4)).astype(np.float32))
    bf = (rng.standard_normal((3, 4)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("blk.0.bf16", bf.view(np.uint8), raw_dtype=T.BF16)


write("y_floats.gguf", float_tensors)
add("y_floats.gguf", "safe", read=True)
write("y_no_template.gguf", float_tensors, template=None)
add("y_no_template.gguf", "safe", read=True)


def q8(w):
    w.add_tensor("f", rng.standard_normal((2, 32)).astype(np.float32))
    raw = rng.integers(0, 255, (2, 34), dtype=np.uint8)  # 2 rows of one Q8_0 block each
    w.add_tensor("q", raw, raw_dtype=T.Q8_0)


write("y_q8_0.gguf", q8)
add("y_q8_0.gguf", "safe", read=True)

# real templates (ChatML, Mistral, Gemma, Llama 3.1 tool use, as published with those models)
REAL_TEMPLATES = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
              "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt "
              "%}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
               "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
               "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' "
               "%}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
               "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception("
               "'Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System "
             "role not supported') }}{% endif %}{% for message in messages %}{% if (message['role']"
             " == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
             "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
             "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>"
             "model\n'}}{% endif %}",
    "llama31_tools": "{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = "
                     "strftime_now(\"%d %b %Y\") %}{%- endif %}{%- if builtin_tools is defined or "
                     "tools is not none %}{{- \"Environment: ipython\\n\" }}{%- endif %}{%- if "
                     "builtin_tools is defined %}{{- \"Tools: \" + builtin_tools | reject('equalto',"
                     " 'code_interpreter') | join(\", \") + \"\\n\\n\"}}{%- endif %}{{- "
                     "\"Cutting Knowledge Date: December 2023\\n\" }}{%- for t in tools %}{{- t | "
                     "tojson(indent=4) }}{%- endfor %}{%- for message in messages | selectattr("
                     "'role', 'equalto', 'user') | map(attribute='content') %}{{ message }}"
                     "{%- endfor %}{{- 'Respond in the format {\"name\": function name, "
                     "\"parameters\": dictionary of argument name and its value}. Do not use "
                     "variables. Given the important system request, evaluate it.' }}",
}
for k, tpl in REAL_TEMPLATES.items():
    write(f"y_template_{k}.gguf", float_tensors, template=tpl)
    add(f"y_template_{k}.gguf", "safe", read=True)

# --- hostile chat templates (CVE-2024-34359 class); never rendered
HOSTILE = {
    "plain": "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch M').read() }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "concat": "{{ ''['__cla'~'ss__']['__m' + 'ro__'] }}",
    "escape": "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "attr": "{{ cycler|attr('_'*2 ~ 'init' ~ '_'*2) }}",
    "format_c": "{{ ('%c'|format(95))*2 ~ 'class' }}",
    "lipsum": "{{ lipsum['_' * 2 ~ 'glo' ~ 'bals' ~ '_' * 2] }}",
}
for k, tpl in HOSTILE.items():
    write(f"n_template_{k}.gguf", float_tensors, template=tpl)
    add(f"n_template_{k}.gguf", "unsafe", "template-injection")
write("n_template_named.gguf", float_tensors,
      extra_templates={"tokenizer.chat_template.tool_use": HOSTILE["plain"]})
add("n_template_named.gguf", "unsafe", "template-injection")

# --- corrupted variants of a valid file
base = (OUT / "y_floats.gguf").read_bytes()
r = gguf.GGUFReader(str(OUT / "y_floats.gguf"))
data_off = r.data_offset


def corrupt(name, b, rule="malformed"):
    (OUT / name).write_bytes(bytes(b))
    add(name, "invalid", rule)


for cut in (6, 12, 20, 100, data_off - 1, len(base) - 20):
    corrupt(f"n_truncated_{cut}.gguf", base[:cut])
b = bytearray(base); b[4:8] = struct.pack("<I", 4); corrupt("n_version4.gguf", b)
b = bytearray(base); b[16:24] = struct.pack("<Q", 1 << 62); corrupt("n_huge_kv_count.gguf", b)
b = bytearray(base); b[8:16] = struct.pack("<Q", 1 << 62); corrupt("n_huge_tensor_count.gguf", b)
b = bytearray(base); b[24:32] = struct.pack("<Q", (1 << 64) - 1); corrupt("n_huge_key_len.gguf", b)


def field_offset(name):
    f = r.fields[name]
    return int(f.offset)


def patch_field_tail(name, fn):
    """fn(bytearray, offset of the field's first byte) -> mutated copy"""
    b = bytearray(base)
    fn(b, field_offset(name))
    return b


# the string value length of t.str: key len(8) + key + type(4) then value len(8)
klen = len("t.str")
corrupt("n_huge_string_len.gguf", patch_field_tail(
    "t.str", lambda b, o: b.__setitem__(slice(o + 8 + klen + 4, o + 8 + klen + 12),
                                        struct.pack("<Q", 1 << 63))))
klen = len("t.arr_int")
corrupt("n_huge_array_count.gguf", patch_field_tail(
    "t.arr_int", lambda b, o: b.__setitem__(slice(o + 8 + klen + 8, o + 8 + klen + 16),
                                            struct.pack("<Q", 1 << 61))))
corrupt("n_bad_value_type.gguf", patch_field_tail(
    "t.u8", lambda b, o: b.__setitem__(slice(o + 8 + 4, o + 8 + 4 + 4), struct.pack("<I", 99))))
# duplicate key: rename t.i8 to t.u8 (same length)
corrupt("n_duplicate_key.gguf", patch_field_tail(
    "t.i8", lambda b, o: b.__setitem__(slice(o + 8, o + 12), b"t.u8")))


def tensor_info(i):
    """offset of tensor i's info record"""
    t = r.tensors[i]
    return int(t.field.offset)


def patch_tensor(i, what, value):
    b = bytearray(base)
    o = tensor_info(i)
    nlen = struct.unpack_from("<Q", b, o)[0]
    p = o + 8 + nlen
    ndim = struct.unpack_from("<I", b, p)[0]
    if what == "ndim":
        struct.pack_into("<I", b, p, value)
    elif what == "dim0":
        struct.pack_into("<Q", b, p + 4, value)
    elif what == "type":
        struct.pack_into("<I", b, p + 4 + 8 * ndim, value)
    elif what == "offset":
        struct.pack_into("<Q", b, p + 4 + 8 * ndim + 4, value)
    return b


first_off = int(r.tensors[1].data_offset) - data_off
corrupt("n_misaligned_offset.gguf", patch_tensor(1, "offset", first_off + 4))
corrupt("n_overlapping_offset.gguf", patch_tensor(1, "offset", 0))
corrupt("n_offset_past_end.gguf", patch_tensor(1, "offset", 1 << 40))
corrupt("n_offset_wraps.gguf", patch_tensor(1, "offset", (1 << 64) - 32))
corrupt("n_unknown_type.gguf", patch_tensor(0, "type", 4))  # Q4_2: removed from ggml
corrupt("n_type_huge.gguf", patch_tensor(0, "type", 1 << 31))
corrupt("n_ndim5.gguf", patch_tensor(0, "ndim", 5))
corrupt("n_dim_overflow.gguf", patch_tensor(0, "dim0", 1 << 62))
b = bytearray(base)
o = tensor_info(1)
nlen = struct.unpack_from("<Q", b, o)[0]
b[o + 8:o + 8 + nlen] = base[tensor_info(0) + 8:tensor_info(0) + 8 + nlen] if \
    struct.unpack_from("<Q", base, tensor_info(0))[0] == nlen else b[o + 8:o + 8 + nlen]
if bytes(b) != base:
    corrupt("n_duplicate_tensor.gguf", b)


# alignment: a writer-made file with general.alignment, then set to 48
def aligned(w):
    w.add_custom_alignment(64)
    w.add_tensor("a", np.arange(5, dtype=np.float32))
    w.add_tensor("b", np.arange(7, dtype=np.float32))


write("y_align64.gguf", aligned)
add("y_align64.gguf", "safe", read=True)
ra = gguf.GGUFReader(str(OUT / "y_align64.gguf"))
ao = int(ra.fields["general.alignment"].offset) + 8 + len("general.alignment") + 4
b = bytearray((OUT / "y_align64.gguf").read_bytes())
struct.pack_into("<I", b, ao, 48)
corrupt("n_align_not_pow2.gguf", b)
struct.pack_into("<I", b, ao, 0)
corrupt("n_align_zero.gguf", b)


# --- hand-written v1 (32-bit counts, lengths and dims) and v2 files
def hand(version, tensors, kvs, template=None):
    w32 = version == 1
    L = (lambda n: struct.pack("<I", n)) if w32 else (lambda n: struct.pack("<Q", n))

    def s(x):
        x = x.encode()
        return L(len(x)) + x
    body = b"GGUF" + struct.pack("<I", version) + L(len(tensors)) + \
        L(len(kvs) + (1 if template else 0))
    for k, v in kvs:
        body += s(k) + struct.pack("<I", 4) + struct.pack("<I", v)
    if template:
        body += s("tokenizer.chat_template") + struct.pack("<I", 8) + s(template)
    off = 0
    blobs = []
    for name, arr in tensors:
        dims = list(reversed(arr.shape))
        body += s(name) + struct.pack("<I", len(dims)) + b"".join(L(d) for d in dims)
        body += struct.pack("<I", 0) + struct.pack("<Q", off)
        raw = arr.astype("<f4").tobytes()
        blobs.append(raw + b"\0" * ((-len(raw)) % 32))
        off += len(blobs[-1])
    body += b"\0" * ((-len(body)) % 32)
    return body + b"".join(blobs)


v_tensors = [("w", rng.standard_normal((3, 4)).astype(np.float32)),
             ("b", rng.standard_normal(5).astype(np.float32))]
(OUT / "y_v1.gguf").write_bytes(hand(1, v_tensors, [("x.u32", 5)]))
add("y_v1.gguf", "safe")
(OUT / "y_v2.gguf").write_bytes(hand(2, v_tensors, [("x.u32", 5)]))
add("y_v2.gguf", "safe", read=True)
(OUT / "n_v1_template.gguf").write_bytes(hand(1, v_tensors, [], HOSTILE["concat"]))
add("n_v1_template.gguf", "unsafe", "template-injection")
v1 = hand(1, v_tensors, [("x.u32", 5)])
corrupt("n_v1_truncated.gguf", v1[:-20])
np.save(OUT / "v_tensors.npy", np.concatenate([t.ravel() for _, t in v_tensors]))

(OUT / "manifest.json").write_text(json.dumps({"files": FILES}, indent=1))
