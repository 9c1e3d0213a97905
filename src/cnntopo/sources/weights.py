"""Reading weights files of any common format as a PyTorch-layout state dict.

One registry, keyed by format, holds a reader for each kind of file pretrained CNNs come in:

=============  =====================  =================================================
format         files                  read with
=============  =====================  =================================================
torch          .pt .pth .bin .ckpt    ``torch.load(weights_only=True, mmap=True)``
safetensors    .safetensors           ``safetensors``
onnx           .onnx                  ``onnx``: the weights of the Conv nodes
keras-h5       .h5 .hdf5              ``h5py``: Keras 1/2/3 HDF5 (weights only or whole model)
keras          .keras                 ``zipfile`` + ``h5py``: the Keras 3 zip archive
=============  =====================  =================================================

Whatever the file, :func:`read_weights` returns the same thing: a dict of names to arrays in
PyTorch layout, in forward order. A conv layer ``L`` gives ``"L.weight"``, shape
``(out, in / groups, kh, kw)``, and ``"L.bias"`` when it has one, so the layer numbers that
:func:`cnntopo.sources.filters.conv_layers` gives are the same 1, 2, ... whatever format the network
was saved in. Keras kernels ``(kh, kw, in, out)`` are transposed; a Keras depthwise kernel
``(kh, kw, in, depth_multiplier)`` becomes ``(in * depth_multiplier, 1, kh, kw)``, the layout
of the equivalent PyTorch conv with ``groups=in``. ONNX weights are already
``(out, in / groups, kh, kw)``.

The format is found from the file's first bytes (HDF5 signature, zip members, safetensors
header, pickle) and otherwise from its extension; ``format=`` overrides both.
"""

from __future__ import annotations

import json
import numbers
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..validation import InputError

__all__ = ["FORMATS", "WeightsFile", "detect_format", "read_weights", "layer_listing",
           "unwrap_state_dict", "keras_kernel_to_torch", "clean_name", "clean_names",
           "CHECKPOINT_KEYS"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# Listing every key of a file in an error would bury it.
_MAX_LISTED = 20


@dataclass(frozen=True)
class WeightsFile:
    """The weights of one file, in PyTorch layout.

    Attributes
    ----------
    path : pathlib.Path
        The file read.
    format : str
        A key of :data:`FORMATS`.
    tensors : dict of str to ndarray or torch.Tensor
        Forward order. Conv layers as ``"<layer>.weight"`` of shape ``(out, in / groups, kh,
        kw)`` (a cnntopo ensemble: ``(n_networks, out, in, kh, kw)``) and ``"<layer>.bias"``.
        torch files keep all their tensors (torch.Tensor, memory-mapped); the other formats
        give the conv layers only (ndarray).
    iteration : int or None
        Training iteration stored in a cnntopo checkpoint; None otherwise.
    details : str
        What kind of file it was and how its arrays were laid out, for listings and reports.
    """

    path: Path
    format: str
    tensors: dict = field(repr=False)
    iteration: int | None = None
    details: str = ""


@dataclass(frozen=True)
class _Format:
    description: str
    extensions: tuple
    reader: object  # callable(path) -> (tensors, iteration, details)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _unreadable(path, what, exc):
    return ValueError(f"{path} is not a readable {what} (corrupt, truncated or another kind of "
                      f"file): {type(exc).__name__}: {_first_line(exc)}")


# ----------------------------------------------------------------------------- torch

def clean_name(name):
    """`name` without ``torch.compile``'s ``_orig_mod`` parts and the leading ``module.`` of
    ``DataParallel`` / ``DistributedDataParallel`` (``module._orig_mod.features.0.weight`` ->
    ``features.0.weight``)."""
    parts = [p for p in str(name).split(".") if p != "_orig_mod"]
    while parts[:1] == ["module"] and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def clean_names(state):
    """A state dict with :func:`clean_name` keys: the one place the wrappers' prefixes go
    (``model.state_dict()`` of a ``DataParallel`` or ``torch.compile`` model, a checkpoint
    saved from one). Names that would then clash are kept as they are.

    Parameters
    ----------
    state : mapping of str to array or tensor

    Returns
    -------
    dict
    """
    clean = {clean_name(k) if isinstance(k, str) else k: v for k, v in state.items()}
    return clean if len(clean) == len(state) else dict(state)


# Where checkpoints keep their weights: cnntopo and most trainers ("model"), Lightning and
# timm ("state_dict"), timm's exponential moving average alone ("state_dict_ema").
CHECKPOINT_KEYS = ("model", "state_dict", "state_dict_ema")


def unwrap_state_dict(obj, where):
    """(state dict, iteration or None) from whatever a checkpoint file held.

    A checkpoint dict is unwrapped at the first of :data:`CHECKPOINT_KEYS` that holds a
    mapping; the names lose the wrappers' prefixes (:func:`clean_name`) unless two names
    would then clash. Only the entries with a shape (tensors, arrays) are kept.
    """
    iteration = None
    if isinstance(obj, Mapping):
        if isinstance(obj.get("iteration"), numbers.Integral):
            iteration = int(obj["iteration"])
        for key in CHECKPOINT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise InputError(f"{where} does not hold a state dict (a mapping of names to tensors); "
                         f"it holds a {type(obj).__name__}.")
    sd = {k: v for k, v in obj.items() if isinstance(k, str) and hasattr(v, "shape")}
    if not sd:
        raise InputError(f"{where} holds no tensors (keys: {list(obj)[:_MAX_LISTED]}).")
    return clean_names(sd), iteration


def _read_torch(path):
    import torch  # local: only .pt / .pth files need it

    try:
        try:
            # mmap reads lazily: a 528 MB VGG file costs only the tensors actually used.
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # legacy format
    except Exception as exc:  # pickle, zip and EOF errors all mean: not a readable checkpoint
        raise InputError(f"{path} is not a readable PyTorch checkpoint (corrupt, truncated or "
                         f"not saved with torch.save): {type(exc).__name__}: "
                         f"{_first_line(exc)}") from None
    sd, iteration = unwrap_state_dict(obj, str(path))
    return sd, iteration, "PyTorch checkpoint, tensors as stored"


# ----------------------------------------------------------------------------- safetensors

def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _read_safetensors(path):
    # safetensors does not keep insertion order (keys come back sorted by name), so the
    # layers are put in natural order: features.2 before features.10, as in a Sequential.
    sd = _safetensors_load(path)
    # Once ml_dtypes is imported (onnx does), NumPy reads bfloat16 / float8 as its own
    # extension dtypes, which are not numeric to NumPy: widen them to float32.
    sd = {k: sd[k].astype(np.float32) if isinstance(sd[k], np.ndarray)
          and sd[k].dtype.kind not in "biufc" else sd[k] for k in sorted(sd, key=_natural_key)}
    if not sd:
        raise InputError(f"{path} holds no tensors.")
    return sd, None, "safetensors, tensors as stored, in natural key order"


def _safetensors_load(path):
    try:
        from safetensors.numpy import load_file

        return load_file(str(path))
    except Exception as exc:
        if "bf16" not in str(exc).lower() and "bfloat16" not in str(exc).lower():
            raise _unreadable(path, "safetensors file", exc) from None
    try:  # NumPy has no bfloat16; torch reads it
        from safetensors.torch import load_file

        return load_file(str(path))
    except Exception as exc:
        raise _unreadable(path, "safetensors file", exc) from None


# ----------------------------------------------------------------------------- ONNX

def _onnx_constants(graph):
    """name -> TensorProto of the graph's initializers and Constant nodes."""
    found = {t.name: t for t in graph.initializer}
    for node in graph.node:  # graph order: an Identity of a constant is a constant too
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    found[node.output[0]] = attr.t
        elif node.op_type == "Identity" and node.input and node.input[0] in found:
            found[node.output[0]] = found[node.input[0]]
    return found


def _read_onnx(path):
    import onnx  # local: only .onnx files need it
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
        graph = model.graph
        consts = _onnx_constants(graph)
    except Exception as exc:  # DecodeError, missing external data, ...
        raise _unreadable(path, "ONNX model", exc) from None
    tensors = {}
    for i, node in enumerate(n for n in graph.node if n.op_type == "Conv"):
        if len(node.input) < 2 or node.input[1] not in consts:
            raise InputError(f"{path}: Conv node {node.name or i!r} takes its weight from "
                             f"{node.input[1] if len(node.input) > 1 else 'nothing'!r}, which "
                             "is not an initializer or constant of the graph (computed or "
                             "quantised weights are not read).")
        wname = node.input[1]
        has_bias = len(node.input) > 2 and node.input[2] in consts
        # A model exported from PyTorch names its initializers "features.0.weight": keep
        # those keys, so the .onnx and the .pth of one network list the same names.
        if wname.endswith("weight") and (not has_bias or node.input[2].endswith("bias")):
            wkey, bkey = wname, node.input[2] if has_bias else None
        else:
            stem = node.name or wname
            wkey, bkey = f"{stem}.weight", f"{stem}.bias"
        if wkey in tensors:
            raise InputError(f"{path}: two Conv nodes share the weight {wname!r}; shared "
                             "weights are not read.")
        # a copy: to_array may return a read-only view of the protobuf's bytes
        weight = np.array(numpy_helper.to_array(consts[wname]))
        if weight.ndim != 4:  # Conv1d / Conv3d: not spatial filters of images
            continue
        tensors[wkey] = weight
        if has_bias:
            tensors[bkey] = np.array(numpy_helper.to_array(consts[node.input[2]]))
    if not tensors:
        raise InputError(f"{path} is an ONNX model without 2-D Conv nodes.")
    return tensors, None, ("ONNX, weights of the Conv nodes in graph order, "
                           "(out, in/groups, kh, kw) as stored")


# ----------------------------------------------------------------------------- Keras

def _h5_attr_list(group, name):
    """A Keras list attribute, which Keras splits into name0, name1, ... when it is long."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values += list(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def keras_kernel_to_torch(kernel, depthwise):
    """Keras (kh, kw, in, out) -> (out, in, kh, kw); depthwise (kh, kw, in, m) -> (in*m, 1, kh, kw)."""
    kernel = np.asarray(kernel)
    if depthwise:
        kh, kw, c, m = kernel.shape
        # output channel c * m + j of a Keras depthwise conv applies kernel[:, :, c, j]
        return np.ascontiguousarray(kernel.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


_K1_KERNEL = re.compile(r"_W(_\d+)?$")  # Keras 1: block1_conv1_W_1:0 ; conv1_W:0


def _strip(name):
    return name[:-2] if name.endswith(":0") else name


def _is_bias_of(wname, bname):
    """True when `bname` is the bias that goes with kernel `wname` (Keras 1/2/3 names)."""
    w, b = _strip(wname), _strip(bname)
    prefix, _, last = w.rpartition("/")
    if last in ("kernel", "pointwise_kernel"):
        return b == f"{prefix}/bias"
    if last == "depthwise_kernel":
        return b == f"{prefix}/depthwise_bias"
    m = _K1_KERNEL.search(w)
    return bool(m) and b == w[:m.start()] + "_b" + (m.group(1) or "")


def _keras_layer(tensors, layer, weights, where):
    """Add the conv kernels among `weights` [(name, array or dataset)] of one Keras layer."""
    kernels = [(n, w) for n, w in weights if len(w.shape) == 4]
    for n, w in kernels:
        short = _strip(n)
        if len(kernels) == 1:
            stem = layer
        else:  # a separable conv or a nested model saved as one layer
            rest = short[len(layer) + 1:] if short.startswith(layer + "/") else short
            rest = re.sub(r"/kernel$", "", rest)
            stem = f"{layer}/{rest}"
        key = f"{stem}.weight"
        if key in tensors:
            raise InputError(f"{where}: the layer name {stem!r} occurs twice.")
        depthwise = short.endswith("depthwise_kernel")
        tensors[key] = keras_kernel_to_torch(w[()], depthwise)
        biases = [b for bn, b in weights if len(b.shape) == 1 and _is_bias_of(n, bn)]
        if not biases and len(kernels) == 1:
            biases = [b for bn, b in weights if len(b.shape) == 1
                      and _strip(bn).rsplit("/", 1)[-1] == "bias"]
        if len(biases) == 1 and biases[0].shape[0] == tensors[key].shape[0]:
            tensors[f"{stem}.bias"] = np.asarray(biases[0][()])


def _legacy_group(h5, group, path):
    """Keras 1/2 weights-only files and legacy (.h5) whole-model files of Keras 2/3."""
    tensors = {}
    for layer in _h5_attr_list(group, "layer_names"):
        if layer not in group:
            raise InputError(f"{path}: layer_names lists {layer!r} but the file has no such "
                             "group (the file is damaged).")
        g = group[layer]
        names = _h5_attr_list(g, "weight_names")
        missing = [n for n in names if n not in g]
        if missing:
            raise InputError(f"{path}: layer {layer!r} lists weights {missing} that the file "
                             "does not hold (the file is damaged).")
        _keras_layer(tensors, layer, [(n, g[n]) for n in names], path)
    return tensors


def _snake_case(name):
    """keras.src.utils.naming.to_snake_case: the name a .keras archive files a layer under."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_NESTED = ("Functional", "Sequential", "Model")


def _keras3_layers(store, layers, prefix, inner, tensors, path):
    """Walk a Keras 3 layer list as saving_lib does: layers/<snake_case class>[_n]/vars/<i>."""
    used = {}
    for entry in layers:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("config"), Mapping):
            raise InputError(f"{path}: config.json holds a layer entry that is not an object "
                             f"with a 'config': {str(entry)[:80]!r}.")
        cls = str(entry.get("class_name", ""))
        name = str(entry["config"].get("name") or entry.get("name") or cls)
        snake = _snake_case(cls)
        used[snake] = used.get(snake, -1) + 1
        where = f"{inner}/{snake}" + (f"_{used[snake]}" if used[snake] else "")
        full = f"{prefix}{name}"
        if cls in _NESTED and isinstance(entry["config"].get("layers"), list):
            _keras3_layers(store, entry["config"]["layers"], f"{full}/", f"{where}/layers",
                           tensors, path)
            continue
        vars_path = f"{where}/vars"
        if vars_path not in store and "_layer_checkpoint_dependencies" in store:
            # archives written by Keras 2.13 (saving_lib's H5Entry reads them the same way)
            vars_path = vars_path.replace("layers", "_layer_checkpoint_dependencies")
        if vars_path not in store:
            continue  # a layer without weights (InputLayer, pooling, ...)
        group = store[vars_path]
        keys = sorted(group, key=int)  # h5py lists "10" before "2"
        arrays = [group[k] for k in keys]
        if not arrays:
            continue
        if cls == "SeparableConv2D" and len(arrays) >= 2:
            named = [(f"{full}/depthwise_kernel", arrays[0]), (f"{full}/pointwise_kernel",
                                                               arrays[1])]
            named += [(f"{full}/bias", a) for a in arrays[2:3]]
        elif cls == "DepthwiseConv2D":
            named = [(f"{full}/depthwise_kernel", arrays[0])] + \
                    [(f"{full}/bias", a) for a in arrays[1:2]]
        else:
            named = [(f"{full}/kernel", arrays[0])] + [(f"{full}/bias", a) for a in arrays[1:2]]
        _keras_layer(tensors, full, named, path)


def _keras3_store_without_config(store, path):
    """A Keras 3 .weights.h5: no layer order is recorded; natural order of the group names."""
    found = []
    store.visititems(lambda name, obj: found.append(name) if name.endswith("/vars") else None)
    tensors = {}
    for vars_path in sorted(found, key=_natural_key):
        group = store[vars_path]
        arrays = [group[k] for k in sorted(group, key=int)]
        if not arrays or len(arrays[0].shape) != 4:
            continue
        layer = vars_path[:-len("/vars")]
        if layer.startswith("layers/"):
            layer = layer[len("layers/"):]
        depthwise = layer.rsplit("/", 1)[-1].startswith("depthwise_conv")
        named = [(f"{layer}/{'depthwise_kernel' if depthwise else 'kernel'}", arrays[0])]
        named += [(f"{layer}/bias", a) for a in arrays[1:2]]
        _keras_layer(tensors, layer, named, path)
    return tensors


def _read_keras_h5(path):
    import h5py  # local: only Keras files need it

    try:
        h5 = h5py.File(path, "r")
    except Exception as exc:
        raise _unreadable(path, "Keras HDF5 file", exc) from None
    try:
        with h5:
            version = h5.attrs.get("keras_version", b"")
            version = version.decode() if isinstance(version, bytes) else str(version)
            if "model_weights" in h5 and ("layer_names" in h5["model_weights"].attrs
                                          or "layer_names0" in h5["model_weights"].attrs):
                tensors = _legacy_group(h5, h5["model_weights"], path)
                kind = f"Keras HDF5 whole model (model_weights), Keras {version or '?'}"
            elif "layer_names" in h5.attrs or "layer_names0" in h5.attrs:
                tensors = _legacy_group(h5, h5, path)
                kind = f"Keras HDF5 weights only, Keras {version or '1/2'}"
            elif "layers" in h5 or "vars" in h5:
                tensors = _keras3_store_without_config(h5, path)
                kind = ("Keras 3 .weights.h5 (no layer order recorded: natural order of the "
                        "layer paths)")
            else:
                raise InputError(f"{path} is an HDF5 file but not Keras weights: no "
                                 "'layer_names' attribute, 'model_weights' group or 'layers' "
                                 f"group (top-level keys: {list(h5)[:_MAX_LISTED]}).")
    except ValueError:
        raise
    except Exception as exc:  # truncated datasets, bad attributes
        raise _unreadable(path, "Keras HDF5 file", exc) from None
    if not tensors:
        raise InputError(f"{path} is a {kind} file without conv kernels (4-D weights).")
    return tensors, None, kind + "; kernels (kh, kw, in, out) transposed to (out, in, kh, kw)"


def _read_keras_zip(path):
    import io

    import h5py

    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names or "model.weights.h5" not in names:
                raise InputError(f"{path} is a zip file but not a Keras 3 .keras archive: it "
                                 "lacks config.json or model.weights.h5 (members: "
                                 f"{sorted(names)[:_MAX_LISTED]}).")
            config = json.loads(zf.read("config.json"))
            blob = zf.read("model.weights.h5")
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise _unreadable(path, "Keras .keras archive", exc) from None
    except Exception as exc:  # BadZipFile, CRC errors, truncated members
        raise _unreadable(path, "Keras .keras archive", exc) from None
    inner = config.get("config") if isinstance(config, Mapping) else None
    if not isinstance(inner, Mapping) or not isinstance(inner.get("layers"), list):
        raise InputError(f"{path}: config.json does not describe a Functional or Sequential "
                         "model (no config.layers list); the layer order is unknown.")
    try:
        with h5py.File(io.BytesIO(blob), "r") as store:
            tensors = {}
            _keras3_layers(store, inner["layers"], "", "layers", tensors, path)
    except ValueError:
        raise
    except Exception as exc:
        raise _unreadable(path, "Keras .keras archive (model.weights.h5)", exc) from None
    if not tensors:
        raise InputError(f"{path} is a .keras model without conv kernels (4-D weights).")
    return tensors, None, ("Keras 3 .keras archive, layer order from config.json; kernels "
                           "(kh, kw, in, out) transposed to (out, in, kh, kw)")


# ----------------------------------------------------------------------------- registry

FORMATS = {
    "torch": _Format("PyTorch checkpoint", (".pt", ".pth", ".bin", ".ckpt"), _read_torch),
    "safetensors": _Format("safetensors", (".safetensors",), _read_safetensors),
    "onnx": _Format("ONNX model", (".onnx",), _read_onnx),
    "keras-h5": _Format("Keras HDF5", (".h5", ".hdf5", ".keras.h5", ".weights.h5"),
                        _read_keras_h5),
    "keras": _Format("Keras 3 archive", (".keras",), _read_keras_zip),
}


def _sniff(path):
    """The format the first bytes of `path` prove, or None."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head.startswith(_HDF5_MAGIC):
            return "keras-h5"
        for offset in (512, 1024, 2048):  # HDF5 allows a user block before the signature
            fh.seek(offset)
            if fh.read(8) == _HDF5_MAGIC:
                return "keras-h5"
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return None  # a truncated zip: the extension decides, the reader reports
        if "config.json" in names and "model.weights.h5" in names:
            return "keras"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        return None
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if head[8:9] == b"{" and 2 <= n <= Path(path).stat().st_size - 8:
            return "safetensors"
    return None


def detect_format(path):
    """The key of :data:`FORMATS` that reads `path`.

    The file's first bytes decide when they prove a format (the HDF5 signature, a zip holding
    ``config.json`` + ``model.weights.h5`` or a torch ``data.pkl``, a safetensors header);
    otherwise the extension; otherwise ``"torch"`` (torch.save files have any name).

    Parameters
    ----------
    path : path-like
        An existing file.

    Returns
    -------
    str
    """
    path = Path(path)
    sniffed = _sniff(path)
    if sniffed is not None:
        return sniffed
    name = path.name.lower()
    for key, fmt in FORMATS.items():
        if any(name.endswith(ext) for ext in fmt.extensions):
            return key
    return "torch"


def read_weights(path, *, format=None):
    """Read a weights file of any format in :data:`FORMATS` as a PyTorch-layout state dict.

    Parameters
    ----------
    path : path-like
        A file (not a run directory; see :func:`cnntopo.sources.filters.load_state_dict`).
    format : str or None
        A key of :data:`FORMATS`; None detects it (:func:`detect_format`).

    Returns
    -------
    WeightsFile
        ``tensors`` holds conv weights as ``"<layer>.weight"`` ``(out, in / groups, kh, kw)``
        in forward order (see the module docstring for each format's order and names).

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is corrupt, truncated or not a weights file of its format; the message
        names the file.
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise InputError(f"The 'format' parameter of read_weights must be one of "
                         f"{sorted(FORMATS)} or None; got {format!r}.")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if not path.is_file():
        raise InputError(f"{path} is not a file.")
    key = format or detect_format(path)
    tensors, iteration, details = FORMATS[key].reader(path)
    return WeightsFile(path=path, format=key, tensors=tensors, iteration=iteration,
                       details=details)


def layer_listing(where, layers, *, details=None):
    """The lines ``cnntopo filters --list`` prints: a header, then one line per conv layer.

    Parameters
    ----------
    where : str
        The file (or state dict) described.
    layers : list of (str, array-like with .shape)
        Conv layers in order, as :func:`cnntopo.sources.filters.conv_layers` returns them.
    details : str or None
        Format and layout of the file (:attr:`WeightsFile.details`).

    Returns
    -------
    lines : list of str
        ``"<where>: <n> conv layers"`` (plus ``" (<details>)"``), then
        ``"   1  <name>  (out, in, kh, kw)  <n> spatial filters of <kh>x<kw>"``.
    """
    head = f"{where}: {len(layers)} conv layers" + (f" ({details})" if details else "")
    lines = [head]
    for i, (name, value) in enumerate(layers, start=1):
        shape = tuple(int(s) for s in value.shape)
        n = int(np.prod(shape[:-2]))
        lines.append(f"{i:4d}  {name.removesuffix('.weight')}  {shape}  {n} spatial filters of {shape[-2]}x{shape[-1]}")
    return lines
