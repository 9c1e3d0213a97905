"""The conv layers of a model in memory: a ``torch.nn.Module``, a Keras 3 model, a state dict
or a checkpoint dict.

Whatever the object, :func:`live_conv_layers` returns the same list of :class:`ConvLayer`,
in forward order (the order the modules were registered), each weight in PyTorch layout
``(out, in / groups, kh, kw)`` so that :func:`cnntopo.sources.filters.spatial_filters` reads
it as it reads a file's. Names are what a researcher sees in their own code:

- PyTorch: the dotted module name (``features.0``, ``layer1.0.conv1``), without the
  ``module.`` that ``DataParallel`` / ``DistributedDataParallel`` put in front and without the
  ``_orig_mod.`` of ``torch.compile``.
- Keras 3: the layer names, nested models joined by ``/`` (``inner/conv2d``), a separable
  conv as ``sep/depthwise_kernel`` and ``sep/pointwise_kernel``: the names
  :func:`cnntopo.sources.weights.read_weights` gives the same model saved as ``.keras``.
- A state dict: its keys without the trailing ``.weight`` (and without ``module.`` /
  ``_orig_mod.``); a checkpoint dict is unwrapped first (``model``, ``state_dict``,
  ``state_dict_ema``, see :func:`cnntopo.sources.weights.unwrap_state_dict`).

A live module also names the conv layers that have no k x k spatial filters (``Conv1d``,
``Conv3d``, an uninitialised lazy conv): they come back with ``weight=None`` and a ``note``
saying why, so that a caller can list them instead of dropping them silently.

Nothing here imports torch or keras: the object passed in has already loaded its own.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..validation import InputError

__all__ = ["ConvLayer", "live_conv_layers", "state_dict_conv_layers", "is_live_model",
           "is_keras_model", "is_torch_module"]


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer of a model.

    Attributes
    ----------
    name : str
        The layer's name (see the module docstring), without ``.weight``.
    kernel : tuple of int
        The spatial kernel shape: ``(kh, kw)`` for a 2-D conv, ``(k,)`` for a 1-D one,
        ``(kd, kh, kw)`` for a 3-D one.
    weight : torch.Tensor, ndarray or None
        PyTorch layout ``(out, in / groups, kh, kw)``, or ``(n_networks, out, in, kh, kw)``
        for a cnntopo ensemble in a state dict; None when the layer has no 2-D filters.
    note : str or None
        Why `weight` is None.
    """

    name: str
    kernel: tuple
    weight: object
    note: str | None = None


def is_torch_module(obj):
    torch = sys.modules.get("torch")  # an nn.Module has imported torch already
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_keras_model(obj):
    """True for a Keras 3 layer or model (which, under the torch backend, is an nn.Module too)."""
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") and c.__name__ == "Layer"
               for c in type(obj).__mro__)


def is_live_model(obj):
    """True for the objects :func:`live_conv_layers` reads: a module, a Keras model, a mapping."""
    return isinstance(obj, Mapping) or is_torch_module(obj) or is_keras_model(obj)


# ----------------------------------------------------------------------------- PyTorch

def _torch_layers(module):
    import torch  # the module has loaded it

    from .weights import clean_name

    nn = torch.nn
    lazy = getattr(nn.parameter, "UninitializedParameter", ())
    out, seen = [], set()
    for name, m in module.named_modules():
        is_conv = isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                                 nn.ConvTranspose2d, nn.ConvTranspose3d))
        if is_conv:  # m.weight: also the weight a parametrization (weight_norm, ...) computes
            weight = getattr(m, "weight", None)
        else:        # any other module that holds a 4-D weight of its own (a custom conv)
            weight = dict(m.named_parameters(recurse=False)).get("weight")
            if lazy and isinstance(weight, lazy) or getattr(weight, "ndim", 0) != 4:
                continue
        if weight is None:
            continue
        if id(weight) in seen:  # one weight shared by two modules is one layer
            continue
        seen.add(id(weight))
        label = clean_name(name) or type(m).__name__
        if lazy and isinstance(weight, lazy):
            out.append(ConvLayer(label, tuple(getattr(m, "kernel_size", ())), None,
                                 f"uninitialised {type(m).__name__} (run a forward pass first)"))
        elif weight.ndim == 4:
            out.append(ConvLayer(label, tuple(int(s) for s in weight.shape[2:]), weight))
        else:
            kernel = tuple(int(s) for s in weight.shape[2:])
            out.append(ConvLayer(label, kernel, None,
                                 f"{type(m).__name__}: {len(kernel)}-D kernel "
                                 f"{'x'.join(map(str, kernel))}, no 2-D spatial filters"))
    return out


# ----------------------------------------------------------------------------- Keras

_KERAS_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _keras_leaves(layer, prefix=""):
    """(name, layer) of every layer under `layer` that is not itself a model."""
    for sub in getattr(layer, "layers", None) or []:
        full = f"{prefix}{sub.name}"
        if getattr(sub, "layers", None):
            yield from _keras_leaves(sub, f"{full}/")
        else:
            yield full, sub


def _keras_layers(model):
    from .weights import keras_kernel_to_torch

    leaves = list(_keras_leaves(model)) if getattr(model, "layers", None) else [(model.name, model)]
    out = []
    for name, layer in leaves:
        kernels = [v for v in layer.weights
                   if v.name in _KERAS_KERNELS and len(v.shape) >= 3]
        size = getattr(layer, "kernel_size", None)
        if not layer.weights and "Conv" in type(layer).__name__ and size is not None:
            out.append(ConvLayer(name, tuple(size), None, f"{type(layer).__name__} not built "
                                 f"(call the model on an input first)"))
        for v in kernels:
            label = name if len(kernels) == 1 else f"{name}/{v.name}"
            ndim = len(v.shape)
            kernel = tuple(int(s) for s in v.shape[:ndim - 2])
            if ndim != 4:
                out.append(ConvLayer(label, kernel, None,
                                     f"{type(layer).__name__}: {ndim - 2}-D kernel "
                                     f"{'x'.join(map(str, kernel))}, no 2-D spatial filters"))
                continue
            depthwise = v.name == "depthwise_kernel" or type(layer).__name__ == "DepthwiseConv2D"
            out.append(ConvLayer(label, kernel,
                                 keras_kernel_to_torch(np.asarray(v), depthwise)))
    return out


# ----------------------------------------------------------------------------- state dicts

def state_dict_conv_layers(sd):
    """:func:`cnntopo.sources.filters.conv_layers` of a state dict as :class:`ConvLayer`, named
    without ``.weight``."""
    from .filters import conv_layers

    return [ConvLayer(name[:-len(".weight")] if name.endswith(".weight") else name,
                      tuple(int(s) for s in w.shape[-2:]), w)
            for name, w in conv_layers(sd)]


def live_conv_layers(obj, where="the model"):
    """The conv layers of a model in memory, in forward order.

    Parameters
    ----------
    obj : torch.nn.Module, Keras 3 model or layer, or mapping
        A live model, a state dict (names to tensors or arrays) or a checkpoint dict holding
        one (under ``model``, ``state_dict`` or ``state_dict_ema``; a ``model`` that is an
        ``nn.Module`` is read as a module).
    where : str
        How to name `obj` in messages.

    Returns
    -------
    layers : list of ConvLayer
        Every conv layer, those without 2-D filters included (``weight=None``, ``note``).

    Raises
    ------
    InputError
        If `obj` is none of those, or holds no conv layer at all (the message says what it
        holds instead).
    """
    if is_keras_model(obj):
        layers = _keras_layers(obj)
        kind = f"Keras {type(obj).__name__}"
    elif is_torch_module(obj):
        layers = _torch_layers(obj)
        kind = f"torch {type(obj).__name__}"
    elif isinstance(obj, Mapping):
        from .weights import CHECKPOINT_KEYS, unwrap_state_dict

        inner = [obj[k] for k in CHECKPOINT_KEYS
                 if k in obj and (is_torch_module(obj[k]) or is_keras_model(obj[k]))]
        if inner:  # {"model": the nn.Module itself, ...}
            return live_conv_layers(inner[0], where)
        sd, _ = unwrap_state_dict(obj, where)
        layers = state_dict_conv_layers(sd)
        kind = "state dict"
        if not layers:
            shapes = ", ".join(f"{k} {tuple(getattr(v, 'shape', ()))}" for k, v in
                               list(sd.items())[:8])
            raise InputError(f"{where} has no conv layer: no 4-D '...weight' entry in the "
                             f"{kind} (it holds {shapes}{', ...' if len(sd) > 8 else ''}).")
        return layers
    else:
        raise InputError(f"The 'obj' parameter must be a torch.nn.Module, a Keras model, a "
                         f"state dict or checkpoint dict, a points array or a path; got a "
                         f"{type(obj).__name__}.")
    if not layers:
        raise InputError(f"{where} ({kind}) has no conv layer: nothing to read as spatial "
                         f"filters.")
    return layers
