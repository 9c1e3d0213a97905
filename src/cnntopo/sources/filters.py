"""Spatial filters out of any weights: state dicts, checkpoints, run directories, ensembles.

A spatial filter is one ``h x w`` slice of a convolution kernel for one input channel
(Gabrielsson & Carlsson 2018, section 3): a layer with ``d`` output maps and ``c`` input maps
gives ``d * c`` points in R^(h*w). Each slice is flattened row-major, so coordinate
``i * w + j`` of a point holds kernel entry ``[row i, column j]``.

Rows are ordered by network, then output map, then input map: for an ensemble weight of shape
``(n_networks, d, c, h, w)`` row ``(net * d + out) * c + in`` is ``weight[net, out, in]``.

Files are read only through :mod:`cnntopo.sources.weights` (PyTorch, safetensors, ONNX, Keras), which
presents each as a PyTorch-layout state dict, and run directories through :mod:`cnntopo.sources.rundir`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..validation import InputError
from .rundir import CHECKPOINT_FORMAT

__all__ = ["spatial_filters", "filter_meta", "conv_layers", "layer_name", "no_such_layer", "load_state_dict",
           "filters_from_source", "describe_layers", "ENSEMBLE_FORMAT"]

ENSEMBLE_FORMAT = CHECKPOINT_FORMAT  # a checkpoint of `cnntopo train` holds an ensemble
# Listing every layer of a deep network (EfficientNet has 81) in an error would bury it.
_MAX_LISTED = 20


# ----------------------------------------------------------------------------- arrays

def _to_numpy(weight, name="weight"):
    """A float64 NumPy view/copy of an array or a torch tensor (torch imported only if given one)."""
    if hasattr(weight, "detach") and hasattr(weight, "cpu"):
        import torch  # local: a NumPy-only caller must not pay for torch

        return weight.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(weight)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"The '{name}' argument must be a real numeric array; got dtype {arr.dtype}.")
    return arr.astype(np.float64, copy=False)


def _as_torch_layout(arr, layout):
    if layout not in ("torch", "tf"):
        raise InputError(f"The 'layout' parameter of spatial_filters must be 'torch' "
                         f"(out, in, kh, kw) or 'tf' (kh, kw, in, out); got {layout!r}.")
    if arr.ndim not in (4, 5):
        expected = ("(out, in, kh, kw) or (n_networks, out, in, kh, kw)" if layout == "torch"
                    else "(kh, kw, in, out) or (n_networks, kh, kw, in, out)")
        raise InputError(f"The 'weight' array of spatial_filters must be 4-D or 5-D, {expected}; "
                         f"got shape {arr.shape}.")
    if layout == "tf":
        arr = arr.transpose(3, 2, 0, 1) if arr.ndim == 4 else arr.transpose(0, 4, 3, 1, 2)
    if arr.ndim == 4:
        arr = arr[None]
    if 0 in arr.shape:
        raise InputError(f"The 'weight' array of spatial_filters must be non-empty; "
                         f"got shape {arr.shape[1:] if arr.shape[0] == 1 else arr.shape}.")
    return arr


def _check_channel(channel, n_in, caller):
    if channel is None:
        return None
    if (not isinstance(channel, numbers.Integral) or isinstance(channel, bool)
            or not 0 <= channel < n_in):
        raise InputError(f"The 'channel' parameter of {caller} must be an int in "
                         f"[0, n_input_maps - 1] = [0, {n_in - 1}]; got {channel!r}.")
    return int(channel)


def filter_meta(shape, *, channel=None, iteration=None):
    """Network, output map and input map of every row :func:`spatial_filters` returns.

    Parameters
    ----------
    shape : tuple of int
        A conv weight shape in PyTorch layout: ``(out, in, kh, kw)`` or
        ``(n_networks, out, in, kh, kw)``.
    channel : int or None
        The input map kept, as passed to :func:`spatial_filters`.
    iteration : int or None
        Training iteration of the weights; ``-1`` is stored when unknown.

    Returns
    -------
    meta : dict of str to ndarray of int64, each shape (n_filters,)
        ``network`` (0 for a single network), ``out_map``, ``in_map`` and ``iteration``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        shape = (1,) + shape
    if len(shape) != 5:
        raise InputError(f"The 'shape' parameter of filter_meta must have 4 or 5 entries; "
                         f"got {shape}.")
    n_net, n_out, n_in = shape[:3]
    channel = _check_channel(channel, n_in, "filter_meta")
    ins = np.arange(n_in, dtype=np.int64) if channel is None else np.array([channel], np.int64)
    net, out, inp = np.meshgrid(np.arange(n_net, dtype=np.int64), np.arange(n_out, dtype=np.int64),
                                ins, indexing="ij")
    it = -1 if iteration is None else int(iteration)
    return {"network": net.ravel(), "out_map": out.ravel(), "in_map": inp.ravel(),
            "iteration": np.full(net.size, it, dtype=np.int64)}


def spatial_filters(weight, *, channel=None, layout="torch", return_meta=False, iteration=None):
    """The spatial filters of one conv layer as points in R^(kh*kw).

    Parameters
    ----------
    weight : array_like or torch.Tensor
        Conv weight of one network, shape ``(out, in, kh, kw)`` (PyTorch layout), or of an
        ensemble, shape ``(n_networks, out, in, kh, kw)``. With ``layout="tf"``:
        ``(kh, kw, in, out)`` or ``(n_networks, kh, kw, in, out)``.
    channel : int or None
        Keep only the filters acting on this input map (e.g. 0, 1, 2 for R, G, B of a first
        layer). None keeps all.
    layout : {"torch", "tf"}
        Axis order of `weight`; never guessed.
    return_meta : bool
        Also return the metadata of :func:`filter_meta`.
    iteration : int or None
        Stored in the metadata only.

    Returns
    -------
    filters : ndarray of float64, shape (n_networks * out * n_in, kh * kw)
        ``n_in`` is 1 when `channel` is given. Row ``(net * out + o) * n_in + c`` is the
        row-major flatten of the ``(kh, kw)`` slice ``weight[net, o, c]``.
    meta : dict of str to ndarray of int64, shape (n_filters,)
        Only when `return_meta`; see :func:`filter_meta`.

    Raises
    ------
    ValueError
        If `weight` is not 4-D / 5-D, is empty, or `channel` is out of range.
    """
    arr = _as_torch_layout(_to_numpy(weight), layout)
    shape = arr.shape
    channel = _check_channel(channel, shape[2], "spatial_filters")
    if channel is not None:
        arr = arr[:, :, channel:channel + 1]
    kh, kw = shape[3:]
    filters = np.ascontiguousarray(arr.reshape(-1, kh * kw), dtype=np.float64)
    if not return_meta:
        return filters
    return filters, filter_meta(shape, channel=channel, iteration=iteration)


# ----------------------------------------------------------------------------- state dicts

def _kernel_size(kernel_size):
    if kernel_size is None:
        return None
    if isinstance(kernel_size, numbers.Integral) and not isinstance(kernel_size, bool):
        kernel_size = (kernel_size, kernel_size)
    try:
        kh, kw = (int(k) for k in kernel_size)
    except (TypeError, ValueError):
        raise InputError(f"The 'kernel_size' parameter must be an int or a pair (kh, kw); "
                         f"got {kernel_size!r}.") from None
    return kh, kw


def layer_name(key):
    """The name of a conv layer from its state-dict key, as every row and table names it.

    Parameters
    ----------
    key : str or None
        A state-dict key (``"features.0.weight"``).

    Returns
    -------
    str or None
        The key without ``.weight`` (``"features.0"``).
    """
    return None if key is None else str(key).removesuffix(".weight")


def no_such_layer(layer, names, where, *, kind="conv layers"):
    """The one error for a layer that is not there (a number out of range or an unknown name).

    Parameters
    ----------
    layer : int or str
        What was asked for.
    names : list of str
        The layers there are, in order (``.weight`` is dropped in the listing).
    where : str
        The source, for the message.
    kind : str
        What the layers are (``"conv layers of kernel size 3x3"``).

    Returns
    -------
    InputError
        ``layer 9 does not exist: SOURCE has 2 conv layers (1 conv1, 2 conv2).`` or ``layer
        'fc' does not exist: SOURCE has no conv layer of that name; its 2 conv layers are 1
        conv1, 2 conv2.``
    """
    names = [layer_name(n) for n in names]
    listed = ", ".join(f"{i} {n}" for i, n in enumerate(names[:_MAX_LISTED], start=1))
    if len(names) > _MAX_LISTED:
        listed += f", ... ({len(names) - _MAX_LISTED} more)"
    if isinstance(layer, str):
        return InputError(f"layer {layer!r} does not exist: {where} has no conv layer of that "
                          f"name; its {len(names)} {kind} are {listed}.")
    return InputError(f"layer {layer} does not exist: {where} has {len(names)} {kind}"
                      + (f" ({listed})" if names else "") + ".")


def conv_layers(state_dict, *, kernel_size=None):
    """The conv weights of a model, in state-dict order.

    A conv weight is an entry whose key ends with ``"weight"`` and whose value is 4-D
    ``(out, in, kh, kw)``, or 5-D ``(n_networks, out, in, kh, kw)`` for a cnntopo ensemble.
    Layer numbers elsewhere in this module are 1-based positions in this list.

    Parameters
    ----------
    state_dict : mapping of str to array or torch.Tensor
    kernel_size : int, (int, int) or None
        Keep only layers with this ``(kh, kw)`` (e.g. 3 for the 3x3 convs of EfficientNet,
        which also has 1x1 and 5x5 ones).

    Returns
    -------
    layers : list of (str, array or torch.Tensor)
        The values as stored (no copy).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"The 'state_dict' argument of conv_layers must be a mapping of names "
                        f"to arrays; got {type(state_dict).__name__}.")
    ks = _kernel_size(kernel_size)
    out = []
    for key, value in state_dict.items():
        shape = getattr(value, "shape", None)
        if not (isinstance(key, str) and key.endswith("weight") and shape is not None
                and len(shape) in (4, 5)):
            continue
        if ks is not None and tuple(shape[-2:]) != ks:
            continue
        out.append((key, value))
    return out


def _load(source, iteration=None):
    """(state dict, iteration or None, description of the source, format details or None)."""
    if isinstance(source, Mapping):
        from .weights import unwrap_state_dict

        sd, it = unwrap_state_dict(source, "the state dict")
        return sd, it if iteration is None else iteration, "the state dict", None
    from .weights import read_weights

    path = Path(source)
    if path.is_dir():
        from .rundir import is_run_dir, run_checkpoints

        if not is_run_dir(path):
            raise InputError(f"{path} is a directory but not a run directory: it has no "
                             f"manifest.json (train one with `cnntopo train`).")
        checkpoints = run_checkpoints(path)
        if not checkpoints:
            raise InputError(f"{path / 'manifest.json'} lists no checkpoints yet.")
        if iteration is None:
            iteration = next(reversed(checkpoints))
        elif iteration not in checkpoints:
            raise InputError(f"The 'iteration' parameter must be one of the checkpoints of "
                             f"{path}: {list(checkpoints)}; got {iteration!r}.")
        ckpt = checkpoints[iteration]
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt} is listed in {path / 'manifest.json'} but missing.")
        w = read_weights(ckpt, format="torch")
        return w.tensors, iteration if w.iteration is None else w.iteration, str(ckpt), None
    w = read_weights(path)
    if iteration is not None and w.iteration != iteration:
        held = "no iteration" if w.iteration is None else f"iteration {w.iteration}"
        raise InputError(f"The 'iteration' parameter selects a checkpoint of a run directory; "
                         f"{path} is a single file holding {held}, not {iteration}.")
    return w.tensors, w.iteration, str(path), w.details


def load_state_dict(path, *, iteration=None):
    """Read the weights of a model from a file or a trainer run directory.

    Parameters
    ----------
    path : path-like
        A weights file of any format :func:`cnntopo.sources.weights.read_weights` reads (``.pt`` /
        ``.pth`` state dicts or checkpoints, ``.safetensors``, ``.onnx``, Keras ``.h5`` and
        ``.keras``), presented as a PyTorch-layout state dict (conv weights ``(out, in /
        groups, kh, kw)`` in forward order); or a run directory ``RUN_DIR/manifest.json`` +
        ``RUN_DIR/checkpoints/iter_0000100.pt`` (:mod:`cnntopo.sources.rundir`).
    iteration : int or None
        Checkpoint of a run directory; None takes the last.

    Returns
    -------
    state_dict : dict of str to torch.Tensor or ndarray
        Only the tensor entries, in forward order.

    Raises
    ------
    ValueError
        If the file is corrupt, truncated or holds no tensors (the message names the file), or
        the iteration is not in the run directory.
    FileNotFoundError
        If `path` does not exist.
    """
    return _load(path, iteration)[0]


def _describe(name, value):
    return f"{name} {tuple(int(s) for s in value.shape)}"


def describe_layers(source, *, kernel_size=None, iteration=None):
    """The ``cnntopo filters --list`` lines: a header, then one line per conv layer.

    Parameters
    ----------
    source : path-like or mapping
        As for :func:`filters_from_source`.
    kernel_size, iteration
        As for :func:`filters_from_source`.

    Returns
    -------
    lines : list of str
        See :func:`cnntopo.sources.weights.layer_listing`: 1-based number, name, shape
        ``(out, in, kh, kw)``, filter count.
    """
    from .weights import layer_listing

    sd, _, where, details = _load(source, iteration)
    return layer_listing(where, conv_layers(sd, kernel_size=kernel_size), details=details)


def filters_from_source(source, layer, *, iteration=None, channel=None, kernel_size=None):
    """Spatial filters of conv layer `layer` (1-based) of a file, run directory or state dict.

    Parameters
    ----------
    source : path-like or mapping
        See :func:`load_state_dict`; a state dict (mapping) is used as it is.
    layer : int
        1-based position in :func:`conv_layers` (after `kernel_size` filtering).
    iteration : int or None
        Checkpoint of a run directory; None takes the last.
    channel : int or None
        Keep one input map only.
    kernel_size : int, (int, int) or None
        Count only conv layers of this kernel size.

    Returns
    -------
    filters : ndarray of float64, shape (n_filters, kh * kw)
        Ordered by network, then output map, then input map; row-major slices.
    meta : dict of str to ndarray of int64, shape (n_filters,)
        ``network``, ``out_map``, ``in_map``, ``iteration`` (-1 when unknown).
    info : dict
        ``layer_name`` (str), ``shape`` (list of int, the stored weight shape), ``source`` (str,
        the file actually read), ``layer`` (int), ``iteration`` (int or None), ``channel``.

    Raises
    ------
    ValueError
        If `layer` does not exist (the message lists the conv layers there are), `channel`
        is out of range, or the source cannot be read.
    """
    if not isinstance(layer, numbers.Integral) or isinstance(layer, bool) or layer < 1:
        raise InputError(f"The 'layer' parameter of filters_from_source must be an int >= 1 "
                         f"(layers are 1-based); got {layer!r}.")
    sd, it, where, _ = _load(source, iteration)
    layers = conv_layers(sd, kernel_size=kernel_size)
    if layer > len(layers):
        ks = _kernel_size(kernel_size)
        kind = "conv layers" if ks is None else f"conv layers of kernel size {ks[0]}x{ks[1]}"
        raise no_such_layer(layer, [n for n, _ in layers], where, kind=kind)
    name, weight = layers[layer - 1]
    filters, meta = spatial_filters(weight, channel=channel, return_meta=True, iteration=it)
    info = {"layer_name": layer_name(name), "shape": [int(s) for s in weight.shape], "source": where,
            "layer": int(layer), "iteration": it, "channel": channel}
    return filters, meta, info

