"""Watch the topology of a model's weights while it trains: :class:`Watcher`.

Two lines in any PyTorch loop::

    watcher = cnntopo.Watcher("runs/watch", every=50)       # writer=SummaryWriter(...) too
    watcher.step(model, 0)                                  # the initial weights
    for step in range(1, n_steps + 1):
        ...                                                 # forward, backward, opt.step()
        watcher.step(model, step)                           # a snapshot when step % 50 == 0
    watcher.close()                                         # close(significance=True): b0, b1

Each snapshot is a checkpoint of a ``cnntopo-run/1`` run directory (:mod:`cnntopo.sources.rundir`)
holding the watched conv weights only, listed by the manifest, which is rewritten atomically
once the checkpoint file is complete. Its *light readings* (per layer the Klein-bottle numbers
of the normalised filters, :func:`cnntopo.training.readings.layer_readings`) are a line of
``readings.jsonl``.
``cnntopo filters``, ``describe``, ``grid`` and ``report`` read the folder as they read a
``cnntopo train`` run. What takes seconds per cloud (significance, Mapper) is computed later:
by :meth:`Watcher.close` when asked, ``cnntopo describe``, ``grid`` or ``report``.

Layers are numbered in the run directory as every reader numbers them: 1, 2, ... over the
watched layers, in the model's state-dict order. By default those are every conv layer with
more than one weight per filter (a 1x1 conv has no spatial filter: every one is constant).

Resuming: a new Watcher on the same folder continues it. When its first step is earlier than
the snapshots there (a training restarted from an earlier checkpoint), the later snapshots are
removed, with one line on the ``cnntopo`` logger; no step is ever listed twice. Within one
Watcher a repeated step (gradient accumulation) is ignored and a step that goes backwards is
an error. A crash mid-snapshot leaves at most an unlisted file, which the next Watcher on the
folder removes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from ..files import atomic_torch_save, atomic_write_json
from ..sources.filters import conv_layers, layer_name
from ..sources.rundir import (
    CHECKPOINT_DIR,
    MANIFEST_FORMAT,
    SNAPSHOT_FORMAT,
    WATCH_KIND,
    checkpoint_file,
    is_run_dir,
    manifest_path,
    read_manifest,
)
from ..sources.weights import clean_names
from ..validation import InputError, check_int, is_int, renamed
from ..verdict.layers import ALL, select_layers
from .readings import (
    append_readings,
    check_density,
    describe_run,
    forget_verdicts,
    keep_readings,
    layer_readings,
    stored_readings,
)
from .writers import klein_image, log_readings, log_verdict

__all__ = ["Watcher", "model_conv_weights"]

log = logging.getLogger("cnntopo")

def model_conv_weights(model):
    """The conv weights of a model, in state-dict order, as every cnntopo reader finds them.

    Parameters
    ----------
    model : torch.nn.Module or mapping of str to array or tensor
        A module (its ``state_dict()``; wrapper prefixes ``module.`` and ``_orig_mod.``
        dropped), or a state dict in PyTorch layout (what the Keras callback passes).

    Returns
    -------
    list of (str, torch.Tensor or ndarray)
        The 4-D (or 5-D ensemble) ``*weight`` entries (:func:`cnntopo.sources.filters.conv_layers`).
    """
    if hasattr(model, "state_dict") and callable(model.state_dict):
        state = clean_names(model.state_dict())
    elif isinstance(model, Mapping):
        state = dict(model)
    else:
        raise InputError(f"The 'model' parameter of Watcher.step must be a torch.nn.Module or a "
                         f"state dict (a mapping of names to weights); got "
                         f"{type(model).__name__}.")
    return conv_layers(state)


def _as_cpu_tensor(value):
    import torch

    if isinstance(value, torch.Tensor):
        # a copy: the snapshot must not share (or pickle) a larger storage, nor change later
        return value.detach().to("cpu", copy=True).contiguous()
    import numpy as np

    return torch.from_numpy(np.array(value, copy=True))


def _check_layers(layers):
    if layers is None:
        return None
    if isinstance(layers, (str, int)) and not isinstance(layers, bool):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError:
        layers = [object()]
    if not layers or not all(isinstance(v, str) or (is_int(v) and v >= 1) for v in layers):
        raise InputError(f"The 'layers' parameter of Watcher must be None (every conv layer "
                         f"with a spatial kernel), a layer or a list of layers: 1-based numbers "
                         f"among the model's conv layers or names; got {layers!r}.")
    return layers


class Watcher:
    """Record a model's conv weights and their topology's light readings while it trains.

    Parameters
    ----------
    out_dir : path-like
        The run directory (created at the first snapshot). A folder a Watcher wrote before is
        continued; a ``cnntopo train`` run is refused.
    every : int
        Take a snapshot at every step that is a multiple of `every` (step 0 included).
    layers : None, int, str or list of them
        The conv layers to watch: 1-based numbers among the model's conv layers (every 4-D
        ``*weight`` of its state dict, as ``cnntopo filters --list`` numbers a weights file)
        or names (``"layer1.0.conv1"`` or ``"layer1.0.conv1.weight"``). None: every conv
        layer with more than one weight per filter. Only these are saved.
    writer : object with ``add_scalar`` (or ``log_metrics``), optional
        TensorBoard's ``SummaryWriter`` or any writer: see :mod:`cnntopo.training.writers`.
    max_filters : int
        Light readings read at most this many filters per layer (a seeded subsample, the same
        rows at every snapshot); the saved weights are always complete.
    density : (int, float) or None
        Light readings of the densest filters only, rho(k, p), as the paper reads a layer
        (layers with at most k filters are read whole); None: every filter.
    picture_every : int
        Send the Klein-density picture to the writer at every this many-th snapshot (the
        first included); 0: never.
    threads : int or None
        BLAS threads the readings may use (then restored). 1 by default: their matrices are
        small (at most `max_filters` x 720), and beside a training that keeps the cores busy,
        handing them to more threads costs more than it saves (10x on a shared 2-core
        machine: BENCHMARKS.md). None leaves the setting alone.
    seed : int
        Of the subsamples.
    meta : dict, optional
        Anything JSON-able to keep in the manifest (hyperparameters, the model's description).

    Attributes
    ----------
    out_dir : pathlib.Path
    snapshots : list of int
        The steps the run directory lists.
    """

    def __init__(self, out_dir, every=50, layers=None, writer=None, *, max_filters=2048,
                 density=None, picture_every=5, threads=1, seed=0, meta=None):
        options = self.check_options(every=every, layers=layers, writer=writer,
                                     max_filters=max_filters, density=density,
                                     picture_every=picture_every, threads=threads, seed=seed,
                                     meta=meta)
        self._asked = options.pop("layers")
        vars(self).update(options)  # every, max_filters, density, picture_every, threads, seed
        self.writer, self.meta = writer, meta
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError(f"The 'out_dir' parameter of Watcher must be a folder; "
                             f"{str(self.out_dir)!r} is a file.")
        self._manifest = None
        if is_run_dir(self.out_dir):
            manifest = read_manifest(self.out_dir)
            if manifest["config"].get("kind") != WATCH_KIND:
                raise InputError(f"{self.out_dir} holds a `cnntopo train` run; a Watcher writes "
                                 f"a run directory of its own: give it another folder.")
            config = manifest["config"]
            for key, mine in (("max_filters", self.max_filters), ("density", self.density)):
                theirs = config.get(key)
                theirs = tuple(theirs) if isinstance(theirs, list) else theirs
                if theirs != mine:
                    raise InputError(f"{self.out_dir} reads its layers with {key}={theirs!r}; "
                                     f"this Watcher would with {mine!r}, and the readings would "
                                     f"not compare. Continue with {key}={theirs!r}, or write to "
                                     f"another folder.")
            self._manifest = manifest
            self._remove_unlisted()
        self._last = None       # the last step this Watcher was given
        self._taken = set()     # the steps this Watcher took a snapshot of
        self._layers = None     # [(number among the model's conv layers, name)]
        self._closed = False

    @staticmethod
    def check_options(*, every=50, layers=None, writer=None, max_filters=2048, density=None,
                      picture_every=5, threads=1, seed=0, meta=None):
        """The Watcher's arguments, checked (InputError) without touching any folder: what the
        callbacks call when they are made, long before training starts.

        Returns
        -------
        dict
            The arguments as the Watcher keeps them.
        """
        fn = "Watcher"
        if writer is not None and not (hasattr(writer, "add_scalar")
                                       or hasattr(writer, "log_metrics")):
            raise InputError(f"The 'writer' parameter of Watcher must have add_scalar(tag, "
                             f"value, step) (TensorBoard's SummaryWriter, ...) or "
                             f"log_metrics(dict, step); got {type(writer).__name__}.")
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"The 'meta' parameter of Watcher must be JSON-able; {exc}.") from None
        return {"every": check_int(every, "every", fn, 1), "layers": _check_layers(layers),
                "max_filters": check_int(max_filters, "max_filters", fn, 1),
                "density": check_density(density, fn),
                "picture_every": check_int(picture_every, "picture_every", fn, 0),
                "threads": None if threads is None else check_int(threads, "threads", fn, 1),
                "seed": check_int(seed, "seed", fn, 0)}

    # ------------------------------------------------------------------ the public steps

    @property
    def snapshots(self):
        return [] if self._manifest is None else [int(e["iteration"])
                                                  for e in self._manifest["checkpoints"]]

    def step(self, model, step, *, force=False):
        """Take a snapshot if `step` is a multiple of ``every`` (or `force`).

        Call it with step 0 before training and after every optimiser step; it costs nothing
        at the other steps.

        Parameters
        ----------
        model : torch.nn.Module or mapping
            See :func:`model_conv_weights`.
        step : int
            Optimiser steps taken so far (>= 0).
        force : bool
            Take a snapshot whatever the step (the last step of a training, say).

        Returns
        -------
        list of dict or None
            The readings rows of the snapshot (one per layer), or None when none was taken.

        Raises
        ------
        InputError
            The model has no conv layer, a watched layer is missing or changed shape (named),
            the step goes backwards within this Watcher, or the Watcher is closed. Nothing is
            written then. NaN weights are no error: that layer's row says why it was skipped.
        """
        if self._closed:
            raise InputError(f"This Watcher of {self.out_dir} is closed; open a new one to "
                             f"continue the run.")
        step = check_int(step, "step", "Watcher.step", 0)
        first = self._last is None
        if not first and step < self._last:
            raise InputError(f"The 'step' parameter of Watcher.step went backwards, from "
                             f"{self._last} to {step}, within one Watcher of {self.out_dir}. "
                             f"To restart a training from an earlier step, open a new "
                             f"Watcher on the folder: it replaces the later snapshots.")
        self._last = step
        if first and self._manifest is not None:
            self._rewind(step)
        # a step seen again (gradient accumulation repeats the optimiser step) is no new
        # snapshot; `force` takes one only where this Watcher has none yet
        if step in self._taken or not (force or step % self.every == 0):
            return None
        rows = self._snapshot(model, step)
        self._taken.add(step)
        return rows

    @renamed(landmarks="n_landmarks")
    def close(self, *, significance=False, mapper=None, density="watcher", n_landmarks="auto",
              n_resamples=None, iterations=None, progress=True):
        """Mark the run complete; optionally compute the verdict of every snapshot.

        Parameters
        ----------
        significance : bool
            Run the significance test (b0, b1 and the reading in words) on every snapshot and
            watched layer (:func:`cnntopo.training.readings.describe_run`; rows kept in
            ``verdict.json`` and sent to the writer). Seconds per cloud.
        mapper : (resolution, gain[, n_bootstrap]) or None
            Also a Mapper graph per cloud, for its nerve's Betti numbers (as
            :func:`cnntopo.verdict.analysis.mapper_spec`).
        density : "watcher", (int, float) or None
            rho(k, p) before the test: by default the light readings' (``density``).
        n_landmarks, n_resamples
            As :func:`~cnntopo.training.readings.describe_run`.
        iterations : None or list of int or str
            The snapshots to test; None: **every** snapshot (``"all"``).
        progress : bool

        Returns
        -------
        list of dict or None
            The verdict rows, when `significance` or `mapper` asked for them.
        """
        rows = None
        if self._manifest is not None and not self._closed:
            self._manifest["completed"] = True
            atomic_write_json(manifest_path(self.out_dir), self._manifest)
        self._closed = True
        if (significance or mapper is not None) and self._manifest is not None:
            density = self.density if density == "watcher" else check_density(density,
                                                                               "Watcher.close")
            k, p = density or (None, None)
            rows = describe_run(self.out_dir, iterations=ALL if iterations is None else iterations,
                                k=k, p=p,
                                n_landmarks=n_landmarks, mapper=mapper, n_resamples=n_resamples,
                                seed=self.seed, progress=progress)
            if self.writer is not None:
                log_verdict(self.writer, rows)
        if self.writer is not None and hasattr(self.writer, "flush"):
            self.writer.flush()
        return rows

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif self.writer is not None and hasattr(self.writer, "flush"):
            self.writer.flush()
        return False

    def _repr_html_(self):
        """In a notebook: the run's readings over the steps, its verdict rows and the last
        snapshot's pictures (:func:`cnntopo.viz.notebook.run_html`)."""
        if self._manifest is None:
            return None
        from ..viz.notebook import run_html  # display only: training never gets here

        return run_html(self.out_dir)

    def __repr__(self):
        return (f"Watcher({str(self.out_dir)!r}, every={self.every}, "
                f"snapshots={len(self.snapshots)})")

    # ------------------------------------------------------------------ the run directory

    def _remove_unlisted(self):
        """Files a crash left behind: checkpoints the manifest never listed, temporary files."""
        steps = set(self.snapshots)
        if set(stored_readings(self.out_dir)) - steps:
            keep_readings(self.out_dir, steps)
        folder = self.out_dir / CHECKPOINT_DIR
        if not folder.is_dir():
            return
        listed = {Path(e["file"]).name for e in self._manifest["checkpoints"]}
        for path in folder.iterdir():
            orphan = path.name.startswith("iter_") and path.suffix == ".pt" \
                and path.name not in listed
            if orphan or (path.name.startswith(".iter_") and path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)

    def _rewind(self, step):
        """A training restarted at `step`: the snapshots after it belong to the old future."""
        later = [e for e in self._manifest["checkpoints"] if e["iteration"] > step]
        if not later:
            return
        self._manifest["checkpoints"] = [e for e in self._manifest["checkpoints"]
                                         if e["iteration"] <= step]
        self._manifest["completed"] = False
        atomic_write_json(manifest_path(self.out_dir), self._manifest)  # first: never lists
        for e in later:                                                  # a removed file
            (self.out_dir / e["file"]).unlink(missing_ok=True)
        keep_readings(self.out_dir, self.snapshots)
        forget_verdicts(self.out_dir, step + 1)
        steps = [e["iteration"] for e in later]
        shown = ", ".join(str(s) for s in steps[:5]) + (", ..." if len(steps) > 5 else "")
        log.warning("cnntopo.Watcher: the training restarted at step %d; removed the %d later "
                    "snapshot%s of %s (steps %s)", step, len(steps),
                    "" if len(steps) == 1 else "s", self.out_dir, shown)

    def _resolve_layers(self, convs):
        numbered = list(enumerate(convs, 1))
        if not numbered:
            raise InputError("The 'model' of Watcher.step has no conv layer: cnntopo reads the "
                             "spatial filters of conv weights (out, in, kh, kw), and the model "
                             "has no 4-D '*weight' parameter.")
        listing = ", ".join(f"{i} {n} {tuple(w.shape)}" for i, (n, w) in numbered[:20])
        by_name = {n: i for i, (n, _) in numbered}
        if self._asked is None and self._manifest is not None:  # continue what the folder watches
            before = [entry["name"] for entry in self._manifest["config"]["layers"]]
            missing = [n for n in before if n not in by_name]
            if missing:
                raise InputError(f"{self.out_dir} watches the layers {before}; the model has no "
                                 f"{missing[0]!r} (its conv layers are {listing}). Continue with "
                                 f"the same model, or write to another folder.")
            return [(by_name[n], n) for n in before]
        if self._asked is None:
            chosen = [(i, n) for i, (n, w) in numbered if w.shape[-1] * w.shape[-2] > 1]
            if not chosen:
                raise InputError(f"The model's conv layers are all 1x1 ({listing}): they have "
                                 f"no spatial filters to read.")
        else:
            chosen = [(i, numbered[i - 1][1][0]) for i in
                      select_layers(self._asked, [c[0] for _, c in numbered], "the model")]
        if self._manifest is not None:
            before = [entry["name"] for entry in self._manifest["config"]["layers"]]
            now = [n for _, n in chosen]
            if before != now:
                raise InputError(f"{self.out_dir} watches the layers {before}; this Watcher "
                                 f"and model would watch {now}. Continue with the same layers, "
                                 f"or write to another folder.")
        return chosen

    def _take(self, convs):
        """{name: a CPU copy of the weight} of the watched layers, their shapes checked."""
        weights = dict(convs)
        shapes = ({e["name"]: e["shape"] for e in self._manifest["config"]["layers"]}
                  if self._manifest is not None else {})
        out = {}
        for _, name in self._layers:
            if name not in weights:
                raise InputError(f"Layer {name!r}, watched since the start of {self.out_dir}, "
                                 f"is no longer in the model.")
            shape = [int(s) for s in weights[name].shape]
            if name in shapes and shapes[name] != shape:
                raise InputError(f"Layer {name!r} changed shape mid-run: {tuple(shapes[name])} "
                                 f"in the snapshots of {self.out_dir}, {tuple(shape)} now. A "
                                 f"run directory holds one architecture: write the rest to "
                                 f"another folder.")
            out[name] = _as_cpu_tensor(weights[name])
        return out

    def _new_manifest(self, model, weights):
        return {"format": MANIFEST_FORMAT,
                "config": {"kind": WATCH_KIND, "every": self.every, "max_filters": self.max_filters,
                           "density": None if self.density is None else list(self.density),
                           "seed": self.seed, "model": type(model).__name__,
                           "layers": [{"layer": i, "name": name, "model_layer": number,
                                       "shape": [int(s) for s in weights[name].shape]}
                                      for i, (number, name) in enumerate(self._layers, 1)],
                           "meta": self.meta},
                "checkpoints": [], "completed": False}

    def _blas_threads(self):
        if self.threads is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads, user_api="blas")

    def _snapshot(self, model, step):
        tick = time.perf_counter()
        convs = model_conv_weights(model)
        if self._layers is None:
            self._layers = self._resolve_layers(convs)
        weights = self._take(convs)
        manifest = self._manifest or self._new_manifest(model, weights)
        position = sum(e["iteration"] < step for e in manifest["checkpoints"])
        picture = (self.writer is not None and self.picture_every > 0
                   and position % self.picture_every == 0)
        rows, images = [], {}
        with self._blas_threads():
            for i, (name, weight) in enumerate(weights.items(), 1):
                row, coords = layer_readings(weight, max_filters=self.max_filters,
                                             density=self.density, seed=(self.seed, i),
                                             coordinates=picture)
                rows.append({"layer": i, "layer_name": layer_name(name), **row})
                if coords is not None:
                    images[name] = klein_image(*coords)
        # readings line, checkpoint file, then the manifest that lists them: a crash at any
        # point leaves the run as it was, plus leftovers the next Watcher removes
        rel = checkpoint_file(step)
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        append_readings(self.out_dir, step, rows)
        atomic_torch_save(path, {"format": SNAPSHOT_FORMAT, "iteration": step, "model": weights})
        entry = {"iteration": step, "file": rel, "bytes": path.stat().st_size,
                 "seconds": round(time.perf_counter() - tick, 4), "time": round(time.time(), 3)}
        manifest["config"]["every"] = self.every
        manifest["checkpoints"] = sorted([e for e in manifest["checkpoints"]
                                          if e["iteration"] != step] + [entry],
                                         key=lambda e: e["iteration"])
        manifest["completed"] = False
        atomic_write_json(manifest_path(self.out_dir), manifest)  # the snapshot now exists
        self._manifest = manifest
        if self.writer is not None:
            log_readings(self.writer, rows, step, images=images)
        return rows
