"""cnntopo.sources.weights: every reader on small files written in the real format by the test itself.

ONNX files are built with onnx.helper; Keras files are laid out with h5py exactly as Keras
writes them (keras/src/legacy/saving/legacy_h5_format.py for .h5, keras/src/saving/
saving_lib.py for .keras: layers/<snake_case class>[_n]/vars/<i>, order from config.json).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnntopo.cli import main
from cnntopo.sources.filters import (
    describe_layers,
    filters_from_source,
    load_state_dict,
)
from cnntopo.sources.weights import FORMATS, detect_format, read_weights


def _arange(*shape, start=0.0):
    return (start + np.arange(np.prod(shape), dtype=np.float32)).reshape(shape)


# ----------------------------------------------------------------------------- ONNX

def write_onnx(path):
    """x (1, 4, 8, 8) -> conv_a 3x3 -> Relu -> grouped 3x3 (group 2) -> depthwise 3x3 (group 6)
    -> unnamed 1x1 conv. Initializers are stored in reverse order: graph order must win."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = {"Wa": _arange(6, 4, 3, 3), "Ba": _arange(6, start=0.5),
         "Wg": _arange(6, 3, 3, 3, start=1000), "Wd": _arange(6, 1, 3, 3, start=2000),
         "Bd": _arange(6, start=-3), "W1": _arange(2, 6, 1, 1, start=3000)}
    nodes = [
        helper.make_node("Conv", ["x", "Wa", "Ba"], ["a"], name="conv_a", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "Wg"], ["g"], name="grouped", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], group=2),
        helper.make_node("Conv", ["g", "Wd", "Bd"], ["d"], name="depthwise",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=6),
        helper.make_node("Conv", ["d", "W1"], ["y"], kernel_shape=[1, 1]),
    ]
    inits = [numpy_helper.from_array(v, name=k) for k, v in reversed(list(w.items()))]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def test_onnx_graph_order_names_and_groups(tmp_path):
    path = tmp_path / "tiny.onnx"
    w = write_onnx(path)
    got = read_weights(path)
    assert got.format == "onnx"
    assert list(got.tensors) == ["conv_a.weight", "conv_a.bias", "grouped.weight",
                                 "depthwise.weight", "depthwise.bias", "W1.weight"]
    np.testing.assert_array_equal(got.tensors["conv_a.bias"], w["Ba"])
    lines = describe_layers(path)
    assert lines[0].startswith(f"{path}: 4 conv layers (ONNX")
    assert lines[2].split()[:2] == ["2", "grouped"]
    # grouped: (out, in/groups, kh, kw) as stored, 6 x 3 filters; depthwise: 6 filters
    f, meta, info = filters_from_source(path, 2)
    assert f.shape == (18, 9) and info["shape"] == [6, 3, 3, 3]
    np.testing.assert_array_equal(f[4], w["Wg"][1, 1].ravel())  # row out * 3 + in
    f, _, _ = filters_from_source(path, 3)
    assert f.shape == (6, 9)
    np.testing.assert_array_equal(f[5], np.arange(2000 + 45, 2000 + 54))
    # kernel_size 3 renumbers: the 1x1 conv is left out
    with pytest.raises(ValueError, match=re.escape(f"layer 4 does not exist: {path} has 3 conv "
                                                   "layers of kernel size 3x3 (1 conv_a, "
                                                   "2 grouped, 3 depthwise).")):
        filters_from_source(path, 4, kernel_size=3)
    assert filters_from_source(path, 4)[2]["layer_name"] == "W1"


def test_onnx_exported_from_pytorch_keeps_state_dict_names(tmp_path):
    """torch.onnx names initializers like the state dict: the .onnx lists the .pth's names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    wt, bt = _arange(3, 1, 3, 3), _arange(3)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "features.0.weight", "features.0.bias"], ["y"],
                          name="/features/features.0/Conv", kernel_shape=[3, 3])], "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 3, 3])],
        [numpy_helper.from_array(wt, "features.0.weight"),
         numpy_helper.from_array(bt, "features.0.bias")])
    onnx.save(helper.make_model(graph), str(tmp_path / "t.onnx"))
    sd = load_state_dict(tmp_path / "t.onnx")
    assert list(sd) == ["features.0.weight", "features.0.bias"]
    np.testing.assert_array_equal(sd["features.0.weight"], wt)


def test_onnx_weight_through_constant_and_identity_nodes(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = _arange(2, 1, 3, 3)
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(w, "k")),
         helper.make_node("Identity", ["k"], ["k2"]),
         helper.make_node("Conv", ["x", "k2"], ["y"], name="c", kernel_shape=[3, 3])], "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])])
    onnx.save(helper.make_model(graph), str(tmp_path / "t.onnx"))
    np.testing.assert_array_equal(load_state_dict(tmp_path / "t.onnx")["c.weight"], w)


def test_onnx_weight_computed_in_the_graph_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3])], "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 1, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3, 3])])
    onnx.save(helper.make_model(graph), str(tmp_path / "t.onnx"))
    with pytest.raises(ValueError, match=r"t\.onnx: Conv node 'c' takes its weight from 'w', "
                                         r"which is not an initializer"):
        read_weights(tmp_path / "t.onnx")


# ----------------------------------------------------------------------------- Keras HDF5

def _names(values):
    return np.array([v.encode("utf8") for v in values])


def _keras_layer(group, name, weights):
    """One layer group as legacy_h5_format.save_subset_weights_to_hdf5_group writes it."""
    g = group.create_group(name)
    g.attrs["weight_names"] = _names([n for n, _ in weights])
    for n, v in weights:
        g.create_dataset(n, data=v)  # "conv2d_1/kernel:0" makes a nested group, as in Keras


# layer order on purpose not alphabetical: h5py lists groups alphabetically
K1_LAYERS = ["input_1", "zz_conv1", "pool", "aa_conv2"]
K1 = {"zz_conv1": (_arange(3, 3, 2, 4), _arange(4, start=0.25)),
      "aa_conv2": (_arange(3, 3, 4, 5, start=100), _arange(5, start=-1))}


def write_keras1_weights(path):
    """A Keras 1/2 weights-only file, as the VGG19 / SqueezeNet notop files: names *_W_1:0."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = _names(K1_LAYERS)
        for layer in K1_LAYERS:
            if layer in K1:
                k, b = K1[layer]
                _keras_layer(f, layer, [(f"{layer}_W_1:0", k), (f"{layer}_b_1:0", b)])
            else:
                _keras_layer(f, layer, [])


def test_keras1_weights_only(tmp_path):
    path = tmp_path / "w.h5"
    write_keras1_weights(path)
    got = read_weights(path)
    assert got.format == "keras-h5" and "weights only" in got.details
    assert list(got.tensors) == ["zz_conv1.weight", "zz_conv1.bias", "aa_conv2.weight",
                                 "aa_conv2.bias"]
    np.testing.assert_array_equal(got.tensors["zz_conv1.bias"], K1["zz_conv1"][1])
    k = K1["aa_conv2"][0]  # (kh, kw, in, out) = (3, 3, 4, 5)
    f, meta, info = filters_from_source(path, 2)
    assert info["shape"] == [5, 4, 3, 3] and f.shape == (20, 9)
    for out in range(5):
        for c in range(4):
            np.testing.assert_array_equal(f[out * 4 + c], k[:, :, c, out].ravel())
    # by hand: k[i, j, c, o] = 100 + ((i * 3 + j) * 4 + c) * 5 + o; out 1, in 2 is row 6
    np.testing.assert_array_equal(f[6], [111, 131, 151, 171, 191, 211, 231, 251, 271])
    assert meta["out_map"][6] == 1 and meta["in_map"][6] == 2


def test_keras_long_layer_names_attribute_is_chunked(tmp_path):
    """Keras splits a long layer_names attribute into layer_names0, layer_names1, ..."""
    path = tmp_path / "w.h5"
    write_keras1_weights(path)
    with h5py.File(path, "a") as f:
        del f.attrs["layer_names"]
        f.attrs["layer_names0"] = _names(K1_LAYERS[:2])
        f.attrs["layer_names1"] = _names(K1_LAYERS[2:])
    assert list(read_weights(path).tensors)[::2] == ["zz_conv1.weight", "aa_conv2.weight"]


def write_keras_legacy_model(path, *, keras3=False):
    """A Keras 2/3 whole-model .h5 (model.save("m.h5")): model_weights/, Conv2D,
    DepthwiseConv2D (depth multiplier 2), SeparableConv2D, Dense; kernel/bias names."""
    colon = "" if keras3 else ":0"
    layers = ["input_layer", "conv2d", "depthwise_conv2d", "separable_conv2d", "flatten",
              "dense"]
    w = {"conv2d": _arange(3, 3, 3, 4), "conv2d_b": _arange(4, start=0.5),
         "dw": _arange(3, 3, 4, 2, start=100), "dw_b": _arange(8, start=-8),
         "sep_dw": _arange(3, 3, 8, 1, start=200), "sep_pw": _arange(1, 1, 8, 6, start=300),
         "sep_b": _arange(6), "dense": _arange(6, 2)}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.8.0" if keras3 else "2.4.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {}})
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = _names(layers)
        for layer in sorted(layers):  # Keras creates the groups sorted by name
            weights = {
                "conv2d": [("conv2d/kernel", w["conv2d"]), ("conv2d/bias", w["conv2d_b"])],
                "depthwise_conv2d": [("depthwise_conv2d/depthwise_kernel", w["dw"]),
                                     ("depthwise_conv2d/bias", w["dw_b"])],
                "separable_conv2d": [("separable_conv2d/depthwise_kernel", w["sep_dw"]),
                                     ("separable_conv2d/pointwise_kernel", w["sep_pw"]),
                                     ("separable_conv2d/bias", w["sep_b"])],
                "dense": [("dense/kernel", w["dense"])],
            }.get(layer, [])
            _keras_layer(g, layer, [(n + colon, v) for n, v in weights])
        f.create_group("optimizer_weights")
    return w


@pytest.mark.parametrize("keras3", [False, True])
def test_keras_legacy_whole_model(tmp_path, keras3):
    path = tmp_path / "m.h5"
    w = write_keras_legacy_model(path, keras3=keras3)
    got = read_weights(path)
    assert "whole model (model_weights)" in got.details
    assert [(k, tuple(v.shape)) for k, v in got.tensors.items()] == [
        ("conv2d.weight", (4, 3, 3, 3)), ("conv2d.bias", (4,)),
        ("depthwise_conv2d.weight", (8, 1, 3, 3)), ("depthwise_conv2d.bias", (8,)),
        ("separable_conv2d/depthwise_kernel.weight", (8, 1, 3, 3)),
        ("separable_conv2d/pointwise_kernel.weight", (6, 8, 1, 1)),
        ("separable_conv2d/pointwise_kernel.bias", (6,))]
    # depthwise (kh, kw, in, m): output channel c * m + j is kernel[:, :, c, j]
    f, _, _ = filters_from_source(path, 2)
    for c in range(4):
        for j in range(2):
            np.testing.assert_array_equal(f[c * 2 + j], w["dw"][:, :, c, j].ravel())
    assert describe_layers(path, kernel_size=1)[1].split()[:2] == \
        ["1", "separable_conv2d/pointwise_kernel"]


def _tf_conv(x, k):
    """tf.nn.conv2d, VALID, NHWC, written out: out[i, j, o] = sum x[i+di, j+dj, c] k[di, dj, c, o]."""
    kh, kw, _, n_out = k.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, n_out))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.einsum("abc,abco->o", x[i:i + kh, j:j + kw], k)
    return out


def _tf_depthwise(x, k):
    """tf.nn.depthwise_conv2d: out[i, j, c * m + q] = sum x[i+di, j+dj, c] k[di, dj, c, q]."""
    kh, kw, n_in, m = k.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, n_in * m))
    for i in range(h):
        for j in range(w):
            for c in range(n_in):
                for q in range(m):
                    out[i, j, c * m + q] = np.sum(x[i:i + kh, j:j + kw, c] * k[:, :, c, q])
    return out


def test_converted_keras_kernels_compute_what_keras_computes(tmp_path):
    """The converted weights, run by torch, give TensorFlow's conv and depthwise conv."""
    path = tmp_path / "m.h5"
    w = write_keras_legacy_model(path)
    sd = load_state_dict(path)
    rng = np.random.default_rng(0)
    x3, x4 = rng.normal(size=(6, 5, 3)), rng.normal(size=(6, 5, 4))

    def torch_conv(x, weight, groups=1):
        t = torch.from_numpy(x.transpose(2, 0, 1)[None])
        return F.conv2d(t, torch.as_tensor(weight, dtype=torch.float64),
                        groups=groups)[0].numpy().transpose(1, 2, 0)

    np.testing.assert_allclose(torch_conv(x3, sd["conv2d.weight"]),
                               _tf_conv(x3, w["conv2d"].astype(float)), rtol=1e-12)
    np.testing.assert_allclose(torch_conv(x4, sd["depthwise_conv2d.weight"], groups=4),
                               _tf_depthwise(x4, w["dw"].astype(float)), rtol=1e-12)


# ----------------------------------------------------------------------------- Keras 3 .keras

def _k3_layer(cls, name, **extra):
    return {"module": "keras.layers", "class_name": cls,
            "config": {"name": name, "trainable": True, **extra},
            "registered_name": None, "name": name, "inbound_nodes": []}


def write_dot_keras(path):
    """A .keras archive as saving_lib writes it: config.json, metadata.json, model.weights.h5
    with layers/<snake_case class>[_n]/vars/<i> (names NOT the layer names), a nested
    Sequential, and more than ten vars-less layers to catch string sorting."""
    inner = {"module": "keras", "class_name": "Sequential",
             "config": {"name": "head", "layers": [_k3_layer("Conv2D", "head_conv")]},
             "registered_name": None, "name": "head", "inbound_nodes": []}
    layers = ([_k3_layer("InputLayer", "input_layer"), _k3_layer("Conv2D", "stem")]
              + [_k3_layer("ReLU", f"relu{i}") for i in range(11)]
              + [_k3_layer("DepthwiseConv2D", "dw", depth_multiplier=1),
                 _k3_layer("Conv2D", "second"), inner, _k3_layer("Dense", "fc")])
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "config": {"name": "net", "trainable": True, "layers": layers,
                         "input_layers": [["input_layer", 0, 0]],
                         "output_layers": [["fc", 0, 0]]}, "registered_name": "Functional"}
    w = {"stem": _arange(3, 3, 3, 2), "stem_b": _arange(2, start=7),
         "dw": _arange(3, 3, 2, 1, start=50), "second": _arange(1, 1, 2, 3, start=90),
         "head": _arange(3, 3, 3, 2, start=400), "fc": _arange(2, 2)}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h:
        def vars_(p, arrays):
            g = h.create_group(p).create_group("vars")
            for i, a in enumerate(arrays):
                g[str(i)] = a
        vars_("layers/input_layer", [])
        vars_("layers/conv2d", [w["stem"], w["stem_b"]])
        for i in range(11):
            vars_("layers/re_lu" + (f"_{i}" if i else ""), [])
        vars_("layers/depthwise_conv2d", [w["dw"]])
        vars_("layers/conv2d_1", [w["second"]])
        vars_("layers/sequential", [])
        vars_("layers/sequential/layers/conv2d", [w["head"]])
        vars_("layers/dense", [w["fc"]])
        h.create_group("optimizer").create_group("vars")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
    return w


def test_dot_keras_archive(tmp_path):
    path = tmp_path / "net.keras"
    w = write_dot_keras(path)
    got = read_weights(path)
    assert got.format == "keras"
    assert [(k, tuple(v.shape)) for k, v in got.tensors.items()] == [
        ("stem.weight", (2, 3, 3, 3)), ("stem.bias", (2,)), ("dw.weight", (2, 1, 3, 3)),
        ("second.weight", (3, 2, 1, 1)), ("head/head_conv.weight", (2, 3, 3, 3))]
    np.testing.assert_array_equal(got.tensors["stem.bias"], [7, 8])
    f, _, info = filters_from_source(path, 3, kernel_size=3)
    assert info["layer_name"] == "head/head_conv"
    np.testing.assert_array_equal(f[1], w["head"][:, :, 1, 0].ravel())
    # the same archive under another name is still found by its content
    other = tmp_path / "net.bin"
    other.write_bytes(path.read_bytes())
    assert detect_format(other) == "keras"


def test_dot_keras_archive_of_keras_2_13(tmp_path):
    """Keras 2.13 filed the layers under _layer_checkpoint_dependencies/ instead of layers/."""
    path = tmp_path / "net.keras"
    write_dot_keras(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    datasets = []
    with h5py.File(io.BytesIO(members["model.weights.h5"]), "r") as old:
        old.visititems(lambda name, obj: datasets.append((name, obj[()]))
                       if isinstance(obj, h5py.Dataset) else None)
        groups = []
        old.visit(groups.append)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as new:
        # at every level, as saving_lib's H5Entry looks them up (str.replace of all)
        for name in set(groups) - {d for d, _ in datasets}:  # empty vars groups too
            new.require_group(name.replace("layers", "_layer_checkpoint_dependencies"))
        for name, value in datasets:
            new[name.replace("layers", "_layer_checkpoint_dependencies")] = value
    members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    assert list(read_weights(tmp_path / "old.keras").tensors) == list(read_weights(path).tensors)


def test_keras3_weights_h5_without_config(tmp_path):
    """model.save_weights("x.weights.h5") records no layer order: natural order of paths."""
    path = tmp_path / "x.weights.h5"
    with h5py.File(path, "w") as h:
        for p, a in [("layers/conv2d_10", _arange(3, 3, 1, 1, start=10)),
                     ("layers/conv2d_2", _arange(3, 3, 1, 1, start=2)),
                     ("layers/conv2d", _arange(3, 3, 1, 1))]:
            h.create_group(p).create_group("vars")["0"] = a
    got = read_weights(path)
    assert "no layer order recorded" in got.details
    assert list(got.tensors) == ["conv2d.weight", "conv2d_2.weight", "conv2d_10.weight"]


# ----------------------------------------------------------------------------- every format

def _write_torch(path):
    torch.save({"conv.weight": torch.arange(18.0).reshape(2, 1, 3, 3)}, path)


def _write_safetensors(path):
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.arange(18.0).reshape(2, 1, 3, 3)}, str(path))


WRITERS = {"tiny.onnx": write_onnx, "w.h5": write_keras1_weights,
           "m.h5": write_keras_legacy_model, "net.keras": write_dot_keras,
           "sd.pth": _write_torch, "sd.safetensors": _write_safetensors}
FORMAT_OF = {"tiny.onnx": "onnx", "w.h5": "keras-h5", "m.h5": "keras-h5", "net.keras": "keras",
             "sd.pth": "torch", "sd.safetensors": "safetensors"}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_cli_lists_and_extracts_every_format(tmp_path, capsys, name):
    path = tmp_path / name
    WRITERS[name](path)
    assert detect_format(path) == FORMAT_OF[name]
    assert main(["filters", str(path), "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == describe_layers(path) and listed[1].split()[0] == "1"
    out = tmp_path / "f.npy"
    assert main(["filters", str(path), "--layer", "1", "-o", str(out)]) == 0
    expected, _, info = filters_from_source(path, 1)
    np.testing.assert_array_equal(np.load(out), expected)
    assert json.loads(out.with_suffix(".json").read_text())["layer_name"] == info["layer_name"]
    assert main(["filters", str(path), "--layer", "99", "-o", str(out)]) == 2
    assert re.search(r"error: layer 99 does not exist: .* has \d+ conv layers \(",
                     capsys.readouterr().err)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_truncated_file_of_every_format(tmp_path, name):
    good = tmp_path / name
    WRITERS[name](good)
    data = good.read_bytes()
    for cut in (len(data) // 2, 12):
        bad = tmp_path / f"cut{cut}_{name}"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=re.escape(str(bad)) + r"(:| is not a readable| is)"):
            load_state_dict(bad)


@pytest.mark.parametrize("ext", [".onnx", ".h5", ".keras", ".pth", ".safetensors"])
def test_garbage_file_of_every_format(tmp_path, ext):
    bad = tmp_path / f"junk{ext}"
    bad.write_bytes(b"\x07 not a weights file " * 20)
    with pytest.raises(ValueError, match=re.escape(str(bad)) + r" is not a readable "
                       + re.escape(FORMATS[detect_format(bad)].description.split()[0])) as exc:
        load_state_dict(bad)
    assert exc.value.__cause__ is None  # one clear message, no library traceback chained


def test_hdf5_that_is_not_keras_and_zip_that_is_not_keras(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"x\.h5 is an HDF5 file but not Keras weights: no "
                                         r"'layer_names'.*\['data'\]"):
        read_weights(tmp_path / "x.h5")
    with zipfile.ZipFile(tmp_path / "y.keras", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match=r"y\.keras is a zip file but not a Keras 3 \.keras "
                                         r"archive: it lacks config\.json"):
        read_weights(tmp_path / "y.keras")


def test_damaged_keras_layer_list(tmp_path):
    path = tmp_path / "w.h5"
    write_keras1_weights(path)
    with h5py.File(path, "a") as f:
        f.attrs["layer_names"] = _names(K1_LAYERS + ["ghost"])
    with pytest.raises(ValueError, match=r"w\.h5: layer_names lists 'ghost' but the file has "
                                         r"no such group"):
        read_weights(path)


def test_format_argument(tmp_path):
    path = tmp_path / "w.h5"
    write_keras1_weights(path)
    with pytest.raises(ValueError, match=r"The 'format' parameter of read_weights must be one "
                                         r"of \['keras', 'keras-h5', 'onnx', 'safetensors', "
                                         r"'torch'\] or None; got 'tf'"):
        read_weights(path, format="tf")
    with pytest.raises(ValueError, match=r"w\.h5 is not a readable PyTorch checkpoint"):
        read_weights(path, format="torch")
    with pytest.raises(FileNotFoundError, match=r"nope\.onnx does not exist"):
        read_weights(tmp_path / "nope.onnx")


def test_bfloat16_safetensors_once_onnx_is_imported(tmp_path):
    """onnx imports ml_dtypes, after which NumPy reads bfloat16 as a non-numeric dtype."""
    import ml_dtypes  # noqa: F401 (what `import onnx` does)
    from safetensors.torch import save_file

    w = torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    save_file({"c.weight": w}, str(tmp_path / "bf.safetensors"))
    f, _, _ = filters_from_source(tmp_path / "bf.safetensors", 1)
    np.testing.assert_array_equal(f, w.double().reshape(6, 9).numpy())
