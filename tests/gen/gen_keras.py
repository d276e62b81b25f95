#!/usr/bin/env python3
"""Writes Keras fixtures with the REAL keras 3.15 (torch backend) and h5py of the venv.

    KERAS_BACKEND=torch /var/cache/brine/venv/bin/python tests/gen/gen_keras.py OUT MARKER

OUT/manifest.json lists every file with what brine must say: "verdict", the "rules" that must
appear, a "names" substring the findings must mention (the layer, object or link), and for
benign files "tensors": {name: sha256 of the elements in C order little-endian}, read by h5py
from the same datasets (the weights file inside a .keras is read from the archive).

Hostile files are made by editing a benign file's config (h5py attributes, zipfile members):
a Lambda whose marshalled bytecode would create MARKER, non-modeling Keras APIs, modules from
outside Keras, custom classes, HDF5 external links and external storage. They are never
loaded; the caller asserts MARKER does not exist afterwards.
"""
import base64
import hashlib
import io
import json
import marshal
import os
import shutil
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(sys.argv[1])
MARKER = Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
files = []


def sha(a):
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def h5_tensors(f, prefix=""):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu":
            out[prefix + name] = sha(obj[()])

    f.visititems(visit)
    return out


def add(name, verdict, rules=(), names=(), tensors=None, fmt=None):
    files.append({"file": name, "verdict": verdict, "rules": list(rules), "names": list(names),
                  "tensors": tensors, "format": fmt})


def payload(x):
    """What a Lambda's bytecode would do if Keras ran it: create MARKER. Never called here."""
    open(str(MARKER), "w").close()
    return x


CODE = base64.b64encode(marshal.dumps(payload.__code__)).decode("ascii")

# ------------------------------------------------------------------ benign models
keras.utils.set_random_seed(7)


def sequential():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="d1"),
                          keras.layers.Dropout(0.1), keras.layers.Dense(3, name="d2")])
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return m


def functional():
    i = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(i)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    a = keras.layers.Dense(4, name="a")(x)
    b = keras.layers.Dense(4, name="b", kernel_regularizer=keras.regularizers.L2(0.01))(x)
    o = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.Add()([a, b]))
    m = keras.Model(i, o)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy",
              metrics=[keras.metrics.CategoricalAccuracy()])
    return m


def half():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, dtype="float16", name="h"),
                          keras.layers.Embedding(10, 2, name="emb")])
    return m


def keras_tensors(path):
    with zipfile.ZipFile(path) as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            return h5_tensors(f, "model.weights.h5/")


def h5_file_tensors(path):
    with h5py.File(path, "r") as f:
        return h5_tensors(f)


for name, build in [("sequential", sequential), ("functional", functional), ("half", half)]:
    m = build()
    m.save(OUT / f"{name}.keras")
    add(f"{name}.keras", "safe", tensors=keras_tensors(OUT / f"{name}.keras"), fmt="keras")
    m.save(OUT / f"{name}.h5")  # legacy HDF5, as model.save("x.h5") writes it
    add(f"{name}.h5", "safe", tensors=h5_file_tensors(OUT / f"{name}.h5"), fmt="keras-h5")
    m.save_weights(OUT / f"{name}.weights.h5")
    add(f"{name}.weights.h5", "safe", tensors=h5_file_tensors(OUT / f"{name}.weights.h5"),
        fmt="hdf5")


@keras.saving.register_keras_serializable(package="mypkg")
class MyDense(keras.layers.Dense):
    pass


m = keras.Sequential([keras.Input((3,)), MyDense(2, name="mine")])
m.save(OUT / "custom_registered.keras")
add("custom_registered.keras", "unverified", ["keras-custom-object"], ["mypkg>MyDense"])
m.save(OUT / "custom_registered.h5")
add("custom_registered.h5", "unverified", ["keras-custom-object"], ["MyDense"])

# ------------------------------------------------------------------ edited configs


def edit_keras(src, dst, fn):
    with zipfile.ZipFile(OUT / src) as zin, zipfile.ZipFile(OUT / dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                cfg = json.loads(data)
                fn(cfg)
                data = json.dumps(cfg).encode()
            zout.writestr(info, data)


def edit_h5(src, dst, fn, attr="model_config"):
    shutil.copy(OUT / src, OUT / dst)
    with h5py.File(OUT / dst, "r+") as f:
        cfg = json.loads(f.attrs[attr])
        fn(cfg)
        f.attrs[attr] = json.dumps(cfg)


def layers(cfg):
    return cfg["config"]["layers"]


LAMBDA3 = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "evil_lambda", "trainable": True, "dtype": "float32",
                      "function": {"class_name": "__lambda__",
                                   "config": {"code": CODE, "defaults": None, "closure": None}},
                      "arguments": {}}}
LAMBDA2 = {"class_name": "Lambda",
           "config": {"name": "evil_lambda", "trainable": True, "dtype": "float32",
                      "function": [CODE, None, None], "function_type": "lambda",
                      "module": "__main__", "output_shape": None, "output_shape_type": "raw",
                      "output_shape_module": None, "arguments": {}}}

edit_keras("sequential.keras", "lambda.keras", lambda c: layers(c).insert(2, LAMBDA3))
add("lambda.keras", "unsafe", ["keras-lambda"], ["evil_lambda"])
edit_h5("sequential.h5", "lambda_keras2.h5", lambda c: layers(c).insert(2, LAMBDA2))
add("lambda_keras2.h5", "unsafe", ["keras-lambda"], ["evil_lambda"])
edit_h5("functional.h5", "lambda_nested.h5",
        lambda c: layers(c).append({"class_name": "Sequential", "config": {
            "name": "inner", "layers": [LAMBDA2]}}))
add("lambda_nested.h5", "unsafe", ["keras-lambda"], ["evil_lambda"])


def set_activation(obj):
    def fn(c):
        layers(c)[1]["config"]["activation"] = obj
    return fn


edit_keras("sequential.keras", "get_file.keras", set_activation(
    {"module": "keras.utils", "class_name": "function", "config": "get_file",
     "registered_name": "get_file"}))
add("get_file.keras", "unsafe", ["keras-dangerous-object"], ["keras.utils.get_file"])
edit_keras("sequential.keras", "unsafe_deser.keras", set_activation(
    {"module": "keras.config", "class_name": "function",
     "config": "enable_unsafe_deserialization", "registered_name": None}))
add("unsafe_deser.keras", "unsafe", ["keras-dangerous-object"], ["enable_unsafe_deserialization"])
edit_keras("sequential.keras", "os_system.keras", set_activation(
    {"module": "os", "class_name": "function", "config": "system", "registered_name": None}))
add("os_system.keras", "unsafe", ["keras-dangerous-object"], ["os.system"])
edit_keras("sequential.keras", "builtins_eval.keras", set_activation(
    {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": None}))
add("builtins_eval.keras", "unsafe", ["keras-dangerous-object"], ["builtins.eval"])
edit_keras("sequential.keras", "custom_module.keras", lambda c: layers(c).insert(1, {
    "module": "mypkg.layers", "class_name": "Fancy", "registered_name": None,
    "config": {"name": "fancy"}}))
add("custom_module.keras", "unverified", ["keras-custom-object"], ["mypkg.layers.Fancy"])
edit_keras("sequential.keras", "custom_keras_module.keras", lambda c: layers(c).insert(1, {
    "module": "keras.layers", "class_name": "NotAKerasLayer", "registered_name": None,
    "config": {"name": "nope"}}))
add("custom_keras_module.keras", "unverified", ["keras-custom-object"],
    ["keras.layers.NotAKerasLayer"])
edit_h5("sequential.h5", "custom_class.h5", lambda c: layers(c).insert(1, {
    "class_name": "MyLayer", "config": {"name": "my_layer"}}))
add("custom_class.h5", "unverified", ["keras-custom-object"], ["MyLayer"])


def custom_loss(c):
    c["loss"] = {"class_name": "MyLoss", "config": {"name": "my_loss"}}


edit_h5("sequential.h5", "custom_loss.h5", custom_loss, attr="training_config")
add("custom_loss.h5", "unverified", ["keras-custom-object"], ["MyLoss"])

# ------------------------------------------------------------------ HDF5 containers
shutil.copy(OUT / "sequential.h5", OUT / "external_link.h5")
with h5py.File(OUT / "external_link.h5", "r+") as f:
    f["model_weights/leak"] = h5py.ExternalLink("/etc/passwd", "/data")
add("external_link.h5", "unsafe", ["hdf5-external"], ["model_weights/leak"])
shutil.copy(OUT / "sequential.h5", OUT / "external_storage.h5")
with h5py.File(OUT / "external_storage.h5", "r+") as f:
    f.create_dataset("model_weights/host", shape=(4,), dtype="u1",
                     external=[("/etc/hostname", 0, 4)])
add("external_storage.h5", "unsafe", ["hdf5-external"], ["model_weights/host"])
with h5py.File(OUT / "plain.h5", "w") as f:
    f["x"] = np.arange(10, dtype="f4")
add("plain.h5", "unverified", ["unsupported-format"], [])

# ------------------------------------------------------------------ broken files
raw = (OUT / "sequential.h5").read_bytes()
(OUT / "truncated.h5").write_bytes(raw[: len(raw) // 2])
add("truncated.h5", "invalid")
(OUT / "header_only.h5").write_bytes(raw[:600])
add("header_only.h5", "invalid")
raw = (OUT / "sequential.keras").read_bytes()
(OUT / "truncated.keras").write_bytes(raw[: len(raw) - 200])
add("truncated.keras", "invalid")
shutil.copy(OUT / "sequential.h5", OUT / "bad_json.h5")
with h5py.File(OUT / "bad_json.h5", "r+") as f:
    f.attrs["model_config"] = '{"class_name": "Sequential", "config": {'
add("bad_json.h5", "invalid", ["malformed"])
edit_keras("sequential.keras", "bad_json.keras", lambda c: None)
with zipfile.ZipFile(OUT / "sequential.keras") as zin, \
        zipfile.ZipFile(OUT / "bad_json.keras", "w") as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        zout.writestr(info, data[:-3] if info.filename == "config.json" else data)
add("bad_json.keras", "invalid", ["malformed"])
# the weights inside a .keras cut short: the archive is fine, the HDF5 member is not
with zipfile.ZipFile(OUT / "sequential.keras") as zin, \
        zipfile.ZipFile(OUT / "bad_weights.keras", "w") as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        zout.writestr(info, data[: len(data) // 3] if info.filename.endswith(".h5") else data)
add("bad_weights.keras", "invalid")

(OUT / "manifest.json").write_text(json.dumps({"keras": keras.__version__,
                                               "h5py": h5py.__version__, "files": files},
                                              indent=1))
