"""TensorFlow SavedModel fixtures (issue 12 part 6). tensorflow is not installed (it does not
fit the CI time), so the messages are built with the venv's `protobuf` package from message
descriptors declared here with TensorFlow's real field numbers (descriptor_pb2 +
message_factory), from:
  tensorflow/core/protobuf/saved_model.proto      SavedModel{schema_version=1, meta_graphs=2}
  tensorflow/core/protobuf/meta_graph.proto       MetaGraphDef{meta_info_def=1, graph_def=2,
                                                  signature_def=5}; MetaInfoDef{tags=4}
  tensorflow/core/framework/graph.proto           GraphDef{node=1, library=2}
  tensorflow/core/framework/node_def.proto        NodeDef{name=1, op=2, input=3, device=4,
                                                  attr=5 (map<string, AttrValue>)}
  tensorflow/core/framework/attr_value.proto      AttrValue{s=2, i=3, b=5}
  tensorflow/core/framework/function.proto        FunctionDefLibrary{function=1};
                                                  FunctionDef{signature=1, node_def=3}
  tensorflow/core/framework/op_def.proto          OpDef{name=1}
  keras/protobuf/saved_metadata.proto             SavedMetadata{nodes=1}; SavedObject{
                                                  node_id=2, node_path=3, identifier=4,
                                                  metadata=5}
Usage: gen_savedmodel.py OUTDIR → OUTDIR/<case>/saved_model.pb or keras_metadata.pb, and
manifest.json {"files": [{"file", "expect", "rule"}]}. Nothing here is ever executed.
"""
import json
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
FILES = []


def msg(fdp, name, fields, nested=()):
    m = fdp.message_type.add(name=name)
    for n in nested:
        m.nested_type.add().CopyFrom(n)
    for fname, num, typ, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=typ, label=label)
        if tname:
            f.type_name = tname
    return m


OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
fdp = descriptor_pb2.FileDescriptorProto(name="brine_tf_subset.proto", package="tensorflow",
                                         syntax="proto3")
msg(fdp, "AttrValue", [("s", 2, F.TYPE_BYTES, OPT, None), ("i", 3, F.TYPE_INT64, OPT, None),
                       ("b", 5, F.TYPE_BOOL, OPT, None)])
entry = descriptor_pb2.DescriptorProto(name="AttrEntry")
entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=OPT)
entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=OPT,
                type_name=".tensorflow.AttrValue")
entry.options.map_entry = True
msg(fdp, "NodeDef", [("name", 1, F.TYPE_STRING, OPT, None), ("op", 2, F.TYPE_STRING, OPT, None),
                     ("input", 3, F.TYPE_STRING, REP, None),
                     ("device", 4, F.TYPE_STRING, OPT, None),
                     ("attr", 5, F.TYPE_MESSAGE, REP, ".tensorflow.NodeDef.AttrEntry")],
    nested=[entry])
msg(fdp, "OpDef", [("name", 1, F.TYPE_STRING, OPT, None)])
msg(fdp, "FunctionDef", [("signature", 1, F.TYPE_MESSAGE, OPT, ".tensorflow.OpDef"),
                         ("node_def", 3, F.TYPE_MESSAGE, REP, ".tensorflow.NodeDef")])
msg(fdp, "FunctionDefLibrary", [("function", 1, F.TYPE_MESSAGE, REP, ".tensorflow.FunctionDef")])
msg(fdp, "GraphDef", [("node", 1, F.TYPE_MESSAGE, REP, ".tensorflow.NodeDef"),
                      ("library", 2, F.TYPE_MESSAGE, OPT, ".tensorflow.FunctionDefLibrary")])
msg(fdp, "MetaInfoDef", [("tags", 4, F.TYPE_STRING, REP, None)])
msg(fdp, "MetaGraphDef", [("meta_info_def", 1, F.TYPE_MESSAGE, OPT, ".tensorflow.MetaInfoDef"),
                          ("graph_def", 2, F.TYPE_MESSAGE, OPT, ".tensorflow.GraphDef")])
msg(fdp, "SavedModel", [("saved_model_schema_version", 1, F.TYPE_INT64, OPT, None),
                        ("meta_graphs", 2, F.TYPE_MESSAGE, REP, ".tensorflow.MetaGraphDef")])
msg(fdp, "SavedObject", [("node_id", 2, F.TYPE_INT32, OPT, None),
                         ("node_path", 3, F.TYPE_STRING, OPT, None),
                         ("identifier", 4, F.TYPE_STRING, OPT, None),
                         ("metadata", 5, F.TYPE_STRING, OPT, None)])
msg(fdp, "SavedMetadata", [("nodes", 1, F.TYPE_MESSAGE, REP, ".tensorflow.SavedObject")])
pool = descriptor_pool.DescriptorPool()
pool.Add(fdp)
C = {n: message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow." + n))
     for n in ("SavedModel", "NodeDef", "SavedMetadata", "AttrValue")}


def node(name, op, inputs=(), **attrs):
    n = C["NodeDef"](name=name, op=op, input=list(inputs))
    for k, v in attrs.items():
        if isinstance(v, bytes):
            n.attr[k].s = v
        else:
            n.attr[k].i = v
    return n


def benign_nodes():
    """A tiny serving graph plus the saver subgraph every SavedModel has."""
    return [node("x", "Placeholder"), node("w", "VarHandleOp", shared_name=b"w"),
            node("r", "ReadVariableOp", ["w"]), node("y", "MatMul", ["x", "r"]),
            node("saver_filename", "Placeholder"),
            node("save", "SaveV2", ["saver_filename"]),
            node("restore", "RestoreV2", ["saver_filename"]),
            node("merge", "MergeV2Checkpoints", ["saver_filename"])]


def saved_model(case, nodes, fn_nodes=(), expect="unverified", rule="graph-program",
                corrupt=None):
    sm = C["SavedModel"](saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.graph_def.node.extend(nodes)
    if fn_nodes:
        f = mg.graph_def.library.function.add()
        f.signature.name = "__inference_call_42"
        f.node_def.extend(fn_nodes)
    data = sm.SerializeToString()
    if corrupt:
        data = corrupt(data)
    d = OUT / case
    d.mkdir(parents=True, exist_ok=True)
    (d / "saved_model.pb").write_bytes(data)
    FILES.append({"file": f"{case}/saved_model.pb", "expect": expect, "rule": rule})


saved_model("u_benign", benign_nodes())
saved_model("u_benign_function", benign_nodes(), [node("add", "AddV2", ["a", "b"])])
for op in ("PyFunc", "EagerPyFunc", "PyFuncStateless", "ReadFile", "WriteFile",
           "MatchingFiles", "ImmutableConst", "LoadLibrary"):
    saved_model(f"n_{op}", benign_nodes() + [node("evil", op, ["x"])], expect="unsafe",
                rule="graph-op")
    saved_model(f"n_{op}_in_function", benign_nodes(), [node("evil", op, ["x"])],
                expect="unsafe", rule="graph-op")
saved_model("n_printv2_file", benign_nodes() + [
    node("p", "PrintV2", ["x"], output_stream=b"file:///tmp/leak.txt")],
    expect="unsafe", rule="graph-op")
saved_model("u_printv2_stderr", benign_nodes() + [
    node("p", "PrintV2", ["x"], output_stream=b"stderr")])
saved_model("n_truncated", benign_nodes(), expect="invalid", rule="malformed",
            corrupt=lambda b: b[:len(b) - 5])


def keras_metadata(case, class_name, expect, rule, escape=False):
    sm = C["SavedMetadata"]()
    for i, cls in enumerate(["InputLayer", class_name, "Dense"]):
        o = sm.nodes.add(node_id=i, node_path=f"root.layer-{i}", identifier="_tf_keras_layer")
        o.metadata = json.dumps({"class_name": cls, "name": f"l{i}",
                                 "config": {"function": ["4wEAAAAAAAAA", None, None]}
                                 if cls == "Lambda" else {}})
        if escape:  # json.loads reads "Lamb\u0064a" as "Lambda"
            o.metadata = o.metadata.replace('"Lambda"', '"Lamb\\u0064a"')
    d = OUT / case
    d.mkdir(parents=True, exist_ok=True)
    (d / "keras_metadata.pb").write_bytes(sm.SerializeToString())
    FILES.append({"file": f"{case}/keras_metadata.pb", "expect": expect, "rule": rule})


keras_metadata("u_keras_metadata", "Flatten", "unverified", "graph-program")
keras_metadata("n_keras_metadata_lambda", "Lambda", "unsafe", "graph-op")
keras_metadata("n_keras_metadata_lambda_escaped", "Lambda", "unsafe", "graph-op", escape=True)

# a protobuf that opens like one (small varint, then a length-delimited field) but is neither
# ONNX nor a SavedModel: still judged as a graph, never passed over
(OUT / "u_other_protobuf").mkdir(exist_ok=True)
(OUT / "u_other_protobuf" / "saved_model.pb").write_bytes(b"\x08\x01\x1a\x03abc")
FILES.append({"file": "u_other_protobuf/saved_model.pb", "expect": "unverified",
              "rule": "graph-program"})

(OUT / "manifest.json").write_text(json.dumps({"files": FILES}, indent=1))
