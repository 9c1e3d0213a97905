"""The readers on the real ImageNet files, found in the download cache (skipped when absent).

`make test` fetches them first (best effort); by hand: `cnntopo download vgg19 --format keras`,
`cnntopo download vgg16 --format keras`, `cnntopo download mobilenet_v2|squeezenet|inceptionv3`.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import cached_weights

from cnntopo.sources.filters import (
    conv_layers,
    describe_layers,
    filters_from_source,
    load_state_dict,
)
from cnntopo.sources.pretrained import (
    load_vgg_weights,
    vgg_conv_weights,
    vgg_state_dict_shapes,
)


def _real(name):
    return cached_weights(name)  # verified by its checksums


def _vgg_shapes(name):
    return [s for k, s in vgg_state_dict_shapes(name, features_only=True).items()
            if k.endswith("weight")]


def test_vgg16_onnx_is_the_keras_imagenet_conv_base():
    path = _real("vgg16-keras-onnx")
    sd = load_state_dict(path)
    convs = conv_layers(sd)
    assert [n for n, _ in convs][:2] == ["functional_1/block1_conv1_1/BiasAdd.weight",
                                         "functional_1/block1_conv2_1/BiasAdd.weight"]
    assert [n.split("/")[1] for n, _ in convs][-1] == "block5_conv3_1"
    assert [tuple(w.shape) for _, w in convs] == _vgg_shapes("vgg16")
    np.testing.assert_allclose(sd["functional_1/block1_conv1_1/BiasAdd.bias"][:4],
                               [0.734298, 0.093404, 0.067757, 0.886297], atol=1e-6)
    f, meta, info = filters_from_source(path, 1)
    assert f.shape == (192, 9) and info["shape"] == [64, 3, 3, 3]
    np.testing.assert_allclose(f[0], [0.429471, 0.373467, -0.061360, 0.274770, 0.038681,
                                      -0.367223, -0.057468, -0.262250, -0.350097], atol=1e-6)
    np.testing.assert_allclose(f[1], [0.550379, 0.440075, -0.081387, 0.345739, 0.040632,
                                      -0.453501, -0.058635, -0.330670, -0.485030], atol=1e-6)
    assert (meta["out_map"][1], meta["in_map"][1]) == (0, 1)
    # the same layers under torchvision's keys, numbered 1..13 alike
    tv = load_vgg_weights(path, "vgg16", features_only=True)
    np.testing.assert_array_equal(tv["features.0.bias"].numpy(),
                                  sd["functional_1/block1_conv1_1/BiasAdd.bias"])
    for layer in (2, 13):
        np.testing.assert_array_equal(filters_from_source(tv, layer)[0],
                                      filters_from_source(path, layer)[0])
    with pytest.raises(ValueError, match=r"is not a vgg19: its 13 conv layers have shapes"):
        load_vgg_weights(path, "vgg19", features_only=True)


def test_vgg19_keras_official_file():
    path = _real("vgg19-keras")
    lines = describe_layers(path)
    assert lines[0].endswith("16 conv layers (Keras HDF5 weights only, Keras 1/2; kernels "
                             "(kh, kw, in, out) transposed to (out, in, kh, kw))")
    assert [ln.split()[1] for ln in lines[1:]] == [
        f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
        for c in range(1, n + 1)]
    layers = vgg_conv_weights(path, "vgg19")
    assert [tuple(w.shape) for _, w in layers] == _vgg_shapes("vgg19")
    f, _, _ = filters_from_source(path, 1)
    np.testing.assert_allclose(f[0], [0.341195, 0.339992, -0.044844, 0.232159, 0.089782,
                                      -0.303314, -0.072609, -0.246675, -0.336833], atol=1e-6)
    np.testing.assert_allclose(f[1], [0.464184, 0.418108, -0.048069, 0.305112, 0.103854,
                                      -0.373141, -0.076468, -0.310707, -0.464537], atol=1e-6)
    with h5py.File(path, "r") as h:  # independently: the HWIO kernel, sliced by hand
        k = h["block3_conv2"]["block3_conv2_W_1:0"][()]
    f5 = filters_from_source(path, 6)[0]
    np.testing.assert_array_equal(f5[7 * 256 + 11], k[:, :, 11, 7].ravel())
    assert f5.shape == (256 * 256, 9)


def test_squeezenet_keras():
    path = _real("squeezenet-keras")
    assert len(conv_layers(load_state_dict(path))) == 26
    lines = describe_layers(path, kernel_size=3)
    assert [ln.split()[1] for ln in lines[1:]] == ["conv1"] + [
        f"fire{i}/expand3x3" for i in range(2, 10)]
    f, _, _ = filters_from_source(path, 1)
    np.testing.assert_allclose(f[0], [0.257235, 0.359366, 0.203427, -0.100434, -0.158039,
                                      -0.098039, -0.070557, -0.188632, -0.196386], atol=1e-6)


def test_inceptionv3_keras_whole_model():
    path = _real("inceptionv3-keras")
    lines = describe_layers(path)
    assert lines[0].endswith("94 conv layers (Keras HDF5 whole model (model_weights), Keras "
                             "3.8.0; kernels (kh, kw, in, out) transposed to (out, in, kh, kw))")
    assert lines[1].split()[1:3] == ["conv2d_188", "(32,"]
    assert lines[94].split()[1] == "conv2d_281"
    assert len(describe_layers(path, kernel_size=3)) == 1 + 17
    f, _, _ = filters_from_source(path, 1)
    np.testing.assert_allclose(f[0], [-0.459106, -0.751269, -0.075307, -0.309671, -0.550011,
                                      -0.061321, 0.161151, 0.040621, 0.083631], atol=1e-6)


def test_mobilenet_v2_pth():
    path = _real("mobilenet_v2")
    sd = load_state_dict(path)
    convs = conv_layers(sd, kernel_size=3)
    assert len(conv_layers(sd)) == 52 and len(convs) == 18
    assert convs[1] == ("features.1.conv.0.0.weight", convs[1][1])
    assert tuple(convs[1][1].shape) == (32, 1, 3, 3)  # depthwise: 32 filters
    assert filters_from_source(path, 2, kernel_size=3)[0].shape == (32, 9)
