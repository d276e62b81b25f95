"""ONNX fixtures (issue 12 part 3), written with the real onnx package (onnx.helper,
numpy_helper, external_data_helper, onnx.save): benign models (raw_data and typed-field
initializers of many dtypes, external data in the folder and in a subfolder, If subgraphs,
model-local functions), a custom-domain operator, and hostile external-data locations
(../ traversal, absolute, nested traversal, a symlink out of the folder, traversal inside a
subgraph attribute) plus invalid ones (missing file, offset past the end, unknown key,
truncated model, raw_data of the wrong size). Hostile models are written, never loaded.

Usage: gen_onnx.py OUTDIR. Each case is a folder OUTDIR/<case>/ holding model.onnx (and its
data files); OUTDIR/manifest.json lists {"file", "expect", "rule", "read"} (read: benign,
onnx.load may read it with its external data).
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
FILES = []
rng = np.random.default_rng(3)


def add(case, expect, rule=None, read=False):
    FILES.append({"file": f"{case}/model.onnx", "expect": expect, "rule": rule, "read": read})


def case_dir(case):
    d = OUT / case
    d.mkdir(parents=True, exist_ok=True)
    return d


def ext_tensor(name, dims):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.raw_data = b"\0" * 4  # set_external_data wants raw_data; cleared below
    return t


def set_external(t, location, offset=None, length=None):
    set_external_data(t, location=location, offset=offset, length=length)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL


def model(inits, nodes=None, opsets=None, functions=None, extra_outputs=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = nodes or [helper.make_node("Identity", ["x"], ["y"], name="id0")]
    g = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=opsets or [helper.make_opsetid("", 17)],
                          functions=functions)
    m.ir_version = 8
    return m


def save(case, m, **kw):
    onnx.save_model(m, str(case_dir(case) / "model.onnx"), **kw)


def raw_inits():
    arrs = {
        "w_f32": rng.standard_normal((3, 4)).astype(np.float32),
        "w_f16": rng.standard_normal((2, 5)).astype(np.float16),
        "w_f64": rng.standard_normal(4),
        "w_i64": rng.integers(-1 << 40, 1 << 40, (2, 2)),
        "w_i32": rng.integers(-1000, 1000, (3,), dtype=np.int32),
        "w_i8": rng.integers(-100, 100, (7,), dtype=np.int8),
        "w_u8": rng.integers(0, 255, (2, 3, 2), dtype=np.uint8),
        "w_bool": rng.integers(0, 2, (5,)).astype(bool),
        "w_scalar": np.array(3.5, dtype=np.float32),
        "w_empty": np.zeros((0, 3), dtype=np.float32),
    }
    return [numpy_helper.from_array(a, n) for n, a in arrs.items()]


save("y_raw", model(raw_inits()))
add("y_raw", "safe", read=True)

typed = [
    helper.make_tensor("t_f32", TensorProto.FLOAT, [2, 2], [1.0, -2.5, 3.25, 0.0]),
    helper.make_tensor("t_f64", TensorProto.DOUBLE, [3], [1e300, -2.0, 0.5]),
    helper.make_tensor("t_i32", TensorProto.INT32, [3], [-5, 7, 1 << 30]),
    helper.make_tensor("t_i64", TensorProto.INT64, [2], [-(1 << 50), 12]),
    helper.make_tensor("t_i8", TensorProto.INT8, [4], [-128, -1, 0, 127]),
    helper.make_tensor("t_u16", TensorProto.UINT16, [2], [65535, 3]),
    helper.make_tensor("t_f16", TensorProto.FLOAT16, [3],
                       np.array([1.5, -2.0, 65504.0], dtype=np.float16)),
    helper.make_tensor("t_u64", TensorProto.UINT64, [2], [(1 << 64) - 1, 5]),
    helper.make_tensor("t_bool", TensorProto.BOOL, [3], [True, False, True]),
    helper.make_tensor("t_c64", TensorProto.COMPLEX64, [2], [1 + 2j, -3.5 + 0.25j]),
    helper.make_tensor("t_bf16", TensorProto.BFLOAT16, [2], [1.5, -2.0]),
]
save("y_typed", model(typed))
add("y_typed", "safe", read=True)

# external data written by onnx.save itself, in the folder
m = model(raw_inits())
save("y_external", m, save_as_external_data=True, all_tensors_to_one_file=True,
     location="weights.bin", size_threshold=0)
add("y_external", "safe", read=True)

# external data in a subfolder, one file per tensor
m = model(raw_inits())
save("y_external_subdir", m, save_as_external_data=True, all_tensors_to_one_file=False,
     size_threshold=0)
add("y_external_subdir", "safe", read=True)
d = case_dir("y_external_subdir2")
(d / "data").mkdir(exist_ok=True)
arr = rng.standard_normal((4, 4)).astype(np.float32)
(d / "data" / "w.bin").write_bytes(b"\0" * 64 + arr.tobytes())
t = ext_tensor("w_ext", [4, 4])
set_external(t, location="data/w.bin", offset=64, length=arr.nbytes)
save("y_external_subdir2", model([t]))
add("y_external_subdir2", "safe", read=True)

# If with subgraphs, and a model-local function
then_g = helper.make_graph([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
    np.ones(3, np.float32), "cv"))], "then", [], [helper.make_tensor_value_info("c", 1, [3])])
else_g = helper.make_graph([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
    np.zeros(3, np.float32), "cv"))], "else", [], [helper.make_tensor_value_info("c", 1, [3])])
cond = numpy_helper.from_array(np.array(True), "cond")
if_node = helper.make_node("If", ["cond"], ["z"], then_branch=then_g, else_branch=else_g)
fn = helper.make_function("local.fn", "MyIdentity", ["a"], ["b"],
                          [helper.make_node("Identity", ["a"], ["b"])],
                          [helper.make_opsetid("", 17)])
save("y_subgraph_function", model([cond], nodes=[
    if_node, helper.make_node("MyIdentity", ["x"], ["y"], domain="local.fn")],
    opsets=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)], functions=[fn]))
# a model-local function is a graph in the model: calling it needs no native custom op
add("y_subgraph_function", "safe", read=True)
# ... but an op of the function's domain that is not one of its functions does
save("u_function_domain_other_op", model([], nodes=[
    helper.make_node("MyIdentity", ["x"], ["t"], domain="local.fn"),
    helper.make_node("NotAFunction", ["t"], ["y"], domain="local.fn", name="native")],
    opsets=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)], functions=[fn]))
add("u_function_domain_other_op", "unverified", "custom-operator")

save("u_custom_domain", model([], nodes=[helper.make_node(
    "MyOp", ["x"], ["y"], domain="com.example.custom", name="evil")],
    opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.example.custom", 1)]))
add("u_custom_domain", "unverified", "custom-operator")


def external_case(case, location, expect, rule, offset=None, length=None, key=None,
                  subgraph=False, data=None):
    d = case_dir(case)
    arr = np.arange(6, dtype=np.float32)
    if data is not None:
        (d / data).write_bytes(arr.tobytes())
    t = ext_tensor("w", [6])
    set_external(t, location=location, offset=offset, length=length)
    if key:
        t.external_data.add(key=key, value="1")
    if subgraph:
        g = helper.make_graph([helper.make_node("Constant", [], ["c"], value=t)], "then", [],
                              [helper.make_tensor_value_info("c", 1, [6])])
        node = helper.make_node("If", ["cond"], ["z"], then_branch=g, else_branch=g)
        m = model([numpy_helper.from_array(np.array(True), "cond")], nodes=[node])
    else:
        m = model([t])
    (d / "model.onnx").write_bytes(m.SerializeToString())
    add(case, expect, rule)


external_case("n_traversal", "../../../../etc/passwd", "unsafe", "path-escape")
external_case("n_absolute", "/etc/passwd", "unsafe", "path-escape")
external_case("n_nested_traversal", "sub/../../secret.bin", "unsafe", "path-escape")
external_case("n_backslash", "..\\..\\secret.bin", "unsafe", "path-escape")
external_case("n_subgraph_traversal", "../secret.bin", "unsafe", "path-escape", subgraph=True)
(OUT / "outside.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
d = case_dir("n_symlink")
if not (d / "link.bin").is_symlink():
    os.symlink("../outside.bin", d / "link.bin")
external_case("n_symlink", "link.bin", "unsafe", "path-escape")
external_case("n_missing", "missing.bin", "invalid", "malformed")
external_case("n_offset_past_end", "w.bin", "invalid", "malformed", offset=4096, data="w.bin")
external_case("n_length_mismatch", "w.bin", "invalid", "malformed", length=8, data="w.bin")
external_case("n_unknown_key", "w.bin", "invalid", "malformed", key="__class__", data="w.bin")

base = (OUT / "y_raw" / "model.onnx").read_bytes()
for cut in (len(base) // 2, len(base) - 3):
    case_dir(f"n_truncated_{cut}")
    (OUT / f"n_truncated_{cut}" / "model.onnx").write_bytes(base[:cut])
    add(f"n_truncated_{cut}", "invalid", "malformed")
bad = numpy_helper.from_array(np.arange(6, dtype=np.float32), "w")
bad.raw_data = bad.raw_data[:-4]
save("n_raw_size", model([bad]))
add("n_raw_size", "invalid", "malformed")
bad = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
bad.dims[0] = 6
save("n_typed_count", model([bad]))
add("n_typed_count", "invalid", "malformed")

(OUT / "manifest.json").write_text(json.dumps({"files": FILES}, indent=1))
