"""The topology of a Keras 3 model's filters while it trains: :class:`TopologyMonitor`.

::

    # KERAS_BACKEND=torch (or jax, tensorflow): any backend Keras 3 runs on
    from cnntopo.integrations.keras import TopologyMonitor

    model.fit(x, y, callbacks=[TopologyMonitor("runs/watch", every_n_steps=50)])

It records the weights when training begins, after every optimiser step that is a multiple of
`every_n_steps` (the optimiser's ``iterations``, counted across epochs and fits) and when it
ends, into a run directory (:class:`cnntopo.training.watch.Watcher`). Keras kernels are stored
in PyTorch layout, as cnntopo reads every Keras file: ``Conv2D`` ``(kh, kw, in, out)`` as
``(out, in, kh, kw)`` named ``<layer>.weight``, ``DepthwiseConv2D`` (and the depthwise half of
``SeparableConv2D``) ``(kh, kw, in, m)`` as ``(in * m, 1, kh, kw)``.

Needs Keras 3 (``pip install 'cnntopo[keras]'``); with ``KERAS_BACKEND=torch`` no TensorFlow
is needed.
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import keras
except ImportError:
    raise ImportError("cnntopo.integrations.keras needs Keras 3: pip install 'cnntopo[keras]' "
                      "(and KERAS_BACKEND=torch for no TensorFlow)") from None

import numpy as np

from ..training.watch import Watcher

__all__ = ["TopologyMonitor", "keras_conv_weights"]


def _numpy(variable):
    value = getattr(variable, "value", variable)
    if hasattr(value, "detach"):  # the torch backend: straight from the tensor (Keras' own
        return value.detach().cpu().numpy()  # conversion warns under NumPy 2)
    return keras.ops.convert_to_numpy(variable)


def _layers(model):
    flatten = getattr(model, "_flatten_layers", None)  # every nested layer, in tracking order
    if callable(flatten):
        return list(flatten(include_self=False, recursive=True))
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        out += _layers(layer)
    return out


def keras_conv_weights(model):
    """The 2-D conv kernels of a Keras model as a PyTorch-layout state dict.

    Returns
    -------
    dict of str to ndarray
        ``{"<layer>.weight": (out, in, kh, kw)}`` (``<layer>.depthwise.weight`` for a separable
        conv's depthwise kernel), in the order Keras tracks the layers.
    """
    out = {}
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            kernel = _numpy(layer.kernel)                              # (kh, kw, in, out)
            out[f"{layer.name}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
            continue
        if isinstance(layer, keras.layers.SeparableConv2D):
            kernel, name = layer.depthwise_kernel, f"{layer.name}.depthwise.weight"
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel, name = layer.kernel, f"{layer.name}.weight"
        else:
            continue
        k = _numpy(kernel)                                                 # (kh, kw, in, m)
        kh, kw, c, m = k.shape
        out[name] = np.ascontiguousarray(k.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw))
    return out


class _LazyWeights(Mapping):
    """The model's conv weights, read from the backend only if the Watcher takes a snapshot."""

    def __init__(self, model):
        self._model, self._weights = model, None

    def _get(self):
        if self._weights is None:
            self._weights = keras_conv_weights(self._model)
        return self._weights

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())


class TopologyMonitor(keras.callbacks.Callback):
    """Watch the topology of the model's conv filters during ``model.fit``.

    Parameters
    ----------
    out_dir : path-like
        The run directory (``cnntopo describe / grid / report`` read it).
    every_n_steps : int
        A snapshot at every optimiser step that is a multiple of this.
    layers : None, int, str or list
        As :class:`~cnntopo.training.watch.Watcher` (names are ``<layer>.weight``).
    writer : object with ``add_scalar``, optional
        E.g. ``torch.utils.tensorboard.SummaryWriter``.
    significance : bool
        At the end, the significance test (b0, b1) of every snapshot.
    **watcher_options
        ``max_filters``, ``picture_every``, ``seed``, ``meta`` of the Watcher.
    """

    def __init__(self, out_dir, every_n_steps=50, layers=None, writer=None, *,
                 significance=False, **watcher_options):
        super().__init__()
        self.out_dir, self.every_n_steps, self.layers = out_dir, every_n_steps, layers
        self.writer, self.significance = writer, bool(significance)
        self.watcher_options = watcher_options
        self.watcher = None
        Watcher.check_options(every=every_n_steps, layers=layers, writer=writer,
                              **watcher_options)

    def _step(self):
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return 0 if iterations is None else int(_numpy(iterations))

    def on_train_begin(self, logs=None):
        self.watcher = Watcher(self.out_dir, every=self.every_n_steps, layers=self.layers,
                               writer=self.writer, **self.watcher_options)
        self.watcher.step(_LazyWeights(self.model), self._step())

    def on_train_batch_end(self, batch, logs=None):
        if self.watcher is not None:
            self.watcher.step(_LazyWeights(self.model), self._step())

    def on_train_end(self, logs=None):
        if self.watcher is None:
            return
        self.watcher.step(_LazyWeights(self.model), self._step(), force=True)
        self.watcher.close(significance=self.significance, progress=False)
        self.watcher = None
