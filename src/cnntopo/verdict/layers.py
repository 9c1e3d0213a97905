"""The verdict table of a source: one row per (conv layer, checkpoint); the evolution grid.

A source is a points ``.npy`` or array (one filter a row), a run directory (every checkpoint,
or those asked for), any weights file :func:`cnntopo.sources.filters.load_state_dict` reads,
or a model in memory (:func:`cnntopo.sources.live.live_conv_layers`: a ``torch.nn.Module``, a
Keras 3 model, a state dict or a checkpoint dict). Each layer's filters go through
:func:`cnntopo.verdict.analysis.describe_cloud`.

No conv layer is dropped: one that cannot be read as a cloud of k x k filters gets a row with
``status`` ``"skipped"`` and the ``reason`` (a 1x1 or non-square kernel, a 1-D or 3-D conv,
NaN weights, too few filters); the others have ``status`` ``"ok"``.
:func:`analyse_run_grid` analyses the cells of Figures 8 and 13 (a Mapper graph per layer and
checkpoint) of any run directory, for :func:`cnntopo.viz.draw.draw_grid`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..sources.arrays import load_points
from ..sources.filters import conv_layers, load_state_dict, spatial_filters
from ..sources.live import is_live_model, live_conv_layers, state_dict_conv_layers
from ..sources.rundir import run_checkpoints
from ..validation import InputError, check_int
from .analysis import MIN_TESTABLE, AnalysisSpec, MapperSpec, analyse, describe_cloud
from .table import parse_ranges, select_iterations, verdict_row

__all__ = ["describe_source", "select_layers", "skip_reason", "kernel_label",
           "analyse_run_grid", "RunGrid", "spread"]

_RANGE = re.compile(r"^\s*\d+\s*(-\s*\d+\s*)?$")
_NUMERIC = re.compile(r"^[\d\s-]+$")
# Names listed in an error before "... (n more)".
_MAX_NAMES = 100


def kernel_label(kernel):
    """``"5x5"`` for (5, 5), ``"3"`` for a 1-D kernel (3,), None for None."""
    return None if kernel is None else "x".join(str(int(k)) for k in kernel)


def select_layers(specs, names, where):
    """1-based layer numbers chosen by numbers, ranges and names.

    Parameters
    ----------
    specs : iterable of int or str
        Each a layer number, a range ``"2-4"``, a comma-separated list of those, or a layer
        name as listed (``"features.0"``; a trailing ``".weight"`` is ignored).
    names : list of str
        The layers' names, in order.
    where : str
        The source, for messages.

    Returns
    -------
    list of int
        Sorted, without repeats.
    """
    chosen = set()
    index = {n: i for i, n in enumerate(names, start=1)}
    for spec in specs:
        parts = str(spec).split(",") if isinstance(spec, str) else [spec]
        for part in parts:
            if not isinstance(part, str) or _RANGE.match(part):
                chosen.update(parse_ranges([part], "layer"))
                continue
            name = part.strip()
            name = name[:-len(".weight")] if name.endswith(".weight") else name
            if name not in index:
                listed = ", ".join(names[:_MAX_NAMES])
                if len(names) > _MAX_NAMES:
                    listed += f", ... ({len(names) - _MAX_NAMES} more)"
                raise InputError(f"--layer {part.strip()!r}: {where} has no conv layer of that "
                                 f"name; its conv layers are {listed}.")
            chosen.add(index[name])
    bad = sorted(c for c in chosen if not 1 <= c <= len(names))
    if bad:
        listed = ", ".join(f"{i} {n}" for i, n in enumerate(names[:_MAX_NAMES], start=1))
        raise InputError(f"layer {bad[0]} does not exist: {where} has {len(names)} conv "
                         f"layers ({listed}).")
    return sorted(chosen)


def skip_reason(layer, filters, k=None):
    """Why a conv layer cannot be read as a cloud of k x k filters, or None.

    Parameters
    ----------
    layer : cnntopo.sources.live.ConvLayer
    filters : ndarray of shape (n, kh * kw) or None
        Its spatial filters (None when the layer has none).
    k : int or None
        Of the density filtration rho(k, p), which needs more than k filters.
    """
    if layer.note:
        return layer.note
    kernel = tuple(layer.kernel)
    if len(kernel) == 2 and kernel[0] != kernel[1]:
        return f"non-square kernel {kernel_label(kernel)}"
    if kernel == (1, 1):
        return "1x1 kernel: a filter of one weight has no spatial shape"
    bad = ~np.all(np.isfinite(filters), axis=1)
    if bad.any():
        what = "NaN" if np.isnan(filters[bad]).any() else "infinite"
        return f"{what} weights ({int(bad.sum()):,} of {len(filters):,} filters)"
    centred = filters - filters.mean(axis=1, keepdims=True)
    varied = int(np.sum(np.linalg.norm(centred, axis=1) > 1e-10 * np.linalg.norm(filters, axis=1)))
    if varied < MIN_TESTABLE:
        return (f"too few filters: {varied} not constant of {len(filters):,} (at least "
                f"{MIN_TESTABLE})")
    if k is not None and varied <= k:
        return f"too few filters for rho({k}, p): {varied} not constant, k must be below that"
    return None


def _skipped_row(layer_no, iteration, n_filters, k, p, reason):
    row = verdict_row(layer=layer_no, iteration=iteration, n_filters=0, n_kept=0, k=k, p=p,
                      significance=None)
    # a layer without 2-D filters (Conv1d, ...) has no count to give
    return dict(row, n_filters=n_filters, reading=None, status="skipped", reason=reason)


def _points_row(points, common):
    x = np.asarray(points)
    row = describe_cloud(x, **common)
    side = int(round(np.sqrt(x.shape[1]))) if x.ndim == 2 else None
    kernel = (side, side) if side is not None and side * side == x.shape[1] else None
    return [dict(row, layer_name=None, kernel=kernel_label(kernel), status="ok", reason=None)]


def _keep_size(layers, kernel_size):
    if kernel_size is None:
        return layers
    ks = (kernel_size, kernel_size) if np.ndim(kernel_size) == 0 else tuple(kernel_size)
    return [c for c in layers if c.weight is not None and tuple(c.kernel) == tuple(map(int, ks))]


def describe_source(source, *, layers=None, iterations=None, k=None, p=None, landmarks=100,
                    seed=0, mapper=None, kernel_size=None, n_resamples=None, progress=True):
    """The verdict table of a points file, run directory, weights file or live model.

    Parameters
    ----------
    source : path-like, array, torch.nn.Module, Keras model or mapping
        ``.npy`` points or a 2-D array (one filter a row), a run directory, a weights file
        that :func:`cnntopo.sources.filters.load_state_dict` reads, or a model in memory
        (:func:`cnntopo.sources.live.live_conv_layers`).
    layers : list of int or str, optional
        1-based conv layers, ranges (``"2-13"``) or layer names; default every conv layer
        (of `kernel_size`, if given).
    iterations : list of str or int, optional
        ``--iteration`` values of a run directory (numbers and ranges, see
        :func:`cnntopo.verdict.table.select_iterations`); default its last checkpoint.
    kernel_size : int, optional
        Count only conv layers of this size (e.g. 3).
    Others as :func:`cnntopo.verdict.analysis.describe_cloud`.

    Returns
    -------
    rows : list of dict
        One per (layer, iteration), layers inside iterations: the verdict row, then
        ``layer_name``, ``kernel`` (``"5x5"``), ``status`` (``"ok"`` or ``"skipped"``) and
        ``reason`` (None when ok). A skipped row's numbers and reading are None.
    """
    common = dict(k=k, p=p, landmarks=landmarks, seed=seed, mapper=mapper,
                  n_resamples=n_resamples)
    for spec in layers or ():  # a bad range is reported as such, whatever the source
        for part in str(spec).split(","):
            if _NUMERIC.match(part):
                parse_ranges([part], "layer")
    if hasattr(source, "shape") and not isinstance(source, Mapping) and \
            not is_live_model(source):
        if layers or iterations:
            raise InputError("The source is a points array: layers and iterations select "
                             "conv layers of a model, run directory or weights file.")
        if len(source.shape) != 2:
            raise InputError(f"A points array must be 2-D, one filter a row; got shape "
                             f"{tuple(source.shape)} (a conv weight: pass the model or its "
                             f"state dict).")
        pts = source.detach().cpu().numpy() if hasattr(source, "detach") else source
        return _points_row(pts, common)
    if not is_live_model(source) and not isinstance(source, (str, os.PathLike)):
        raise InputError(f"The 'source' parameter of describe must be a torch.nn.Module, a "
                         f"Keras model, a state dict or checkpoint dict, a points array, or "
                         f"the path of a weights file, run directory or points .npy; got "
                         f"{type(source).__name__!r}.")
    if not is_live_model(source) and Path(source).suffix.lower() == ".npy" \
            and not Path(source).is_dir():
        if layers or iterations:
            raise InputError(f"{Path(source).name} is a points file: --layer and --iteration "
                             f"select conv layers of a run directory or weights file.")
        return _points_row(load_points(source), common)
    checkpoints = _checkpoints(source, iterations)
    rows = []
    with tqdm(total=None, desc="describe", unit="layer", disable=not progress) as bar:
        for it, read in checkpoints:
            found, where, it = read()
            sizes = sorted({kernel_label(c.kernel) for c in found})
            found = _keep_size(found, kernel_size)
            if not found:
                raise InputError(f"{where} has no conv layer of kernel size {kernel_size}; its "
                                 f"kernels are {', '.join(sizes)}.")
            names = [c.name for c in found]
            todo = select_layers(layers, names, where) if layers else \
                list(range(1, len(found) + 1))
            bar.total = (bar.total or 0) + len(todo)
            for number in todo:
                rows.append(_layer_row(found[number - 1], number, it, common, bar))
                bar.update()
    return rows


def _layer_row(layer, number, iteration, common, bar):
    filt = None if layer.weight is None else spatial_filters(layer.weight)
    n = None if filt is None else len(filt)
    ident = {"layer_name": layer.name, "kernel": kernel_label(layer.kernel)}
    reason = skip_reason(layer, filt, common["k"])
    if reason is not None:
        return {**_skipped_row(number, iteration, n, common["k"], common["p"], reason),
                **ident}
    bar.set_postfix_str(f"layer {number} ({layer.name}, {n:,} filters)")
    row = describe_cloud(filt, layer=number, iteration=iteration, **common)
    return {**row, **ident, "status": "ok", "reason": None}


def _checkpoints(source, iterations):
    """[(iteration, read)], read() -> (conv layers, description of the source, iteration)."""
    if is_live_model(source):
        if iterations:
            raise InputError("--iteration selects checkpoints of a run directory; the source "
                             "is a model in memory.")
        it = source.get("iteration") if isinstance(source, Mapping) else None
        it = int(it) if isinstance(it, (int, np.integer)) and not isinstance(it, bool) else None
        where = "the model"
        return [(it, lambda: (live_conv_layers(source, where), where, it))]
    path = Path(source)
    if path.is_dir():
        available = list(run_checkpoints(path))
        if not available:
            raise InputError(f"{path / 'manifest.json'} lists no checkpoints yet.")
        its = select_iterations(iterations, available, path) if iterations else available[-1:]
    elif iterations:
        raise InputError(f"--iteration selects checkpoints of a run directory; {path} is a "
                         f"single weights file.")
    else:
        its = [None]

    def reader(it):
        def read():
            weights = load_state_dict(source, iteration=it)  # read once per checkpoint
            return state_dict_conv_layers(weights), str(path), it
        return read

    return [(it, reader(it)) for it in its]


# ------------------------------------------------------------------------ the evolution grid

def spread(values, n):
    """At most `n` of `values`, evenly spread, the first and the last included."""
    values = list(values)
    if len(values) <= n:
        return values
    if n == 1:
        return values[-1:]
    return sorted({values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)})


@dataclass
class RunGrid:
    """The cells of an evolution grid (Figures 8 and 13) of a run directory.

    Attributes
    ----------
    cells : list of list of CloudAnalysis or None
        ``cells[r][c]``: layer ``layers[r]`` at checkpoint ``iterations[c]``, with its Mapper
        graph and layout; None where the cloud could not be analysed (see `problems`).
    layers : list of int
    layer_names : list of str
    iterations : list of int
    problems : list of str
        One line per empty cell: which, and why.
    """

    cells: list
    layers: list
    layer_names: list
    iterations: list
    problems: list


def analyse_run_grid(run_dir, *, layers=None, iterations=None, k=None, p=None, mapper=(10, 3),
                     n_thumbnails=6, seed=0, n_bootstrap=0, progress=True):
    """A Mapper graph of each (layer, checkpoint) of a run directory, laid out for drawing.

    Parameters
    ----------
    run_dir : path-like
        A run directory (``cnntopo train`` or a Watcher).
    layers : list of int, optional
        1-based conv layers (the rows); default every one.
    iterations : list of str or int, optional
        Checkpoints (the columns; numbers and ranges as ``cnntopo describe --iteration``);
        default six spread from the first to the last.
    k, p : int and float, optional
        rho(k, p) before the Mapper graph; default none (every normalised filter).
    mapper : (int, float)
        Resolution and gain of the Mapper graph (the paper's PCA lenses).
    n_thumbnails, seed
        Of the layout.
    n_bootstrap : int, default 0
        Bootstrap resamples of each cell's Mapper graph for the confidence of its loops
        (:func:`cnntopo.topology.mapper_stats.mapper_confidence`); 0, the default, skips it
        (a grid is many graphs, each resample costs about one graph).
    progress : bool

    Returns
    -------
    RunGrid
    """
    path = Path(run_dir)
    available = list(run_checkpoints(path))
    if not available:
        raise InputError(f"{path / 'manifest.json'} lists no checkpoints yet.")
    its = select_iterations(iterations, available, path) if iterations else spread(available, 6)
    try:
        resolution, gain = int(mapper[0]), float(mapper[1])
    except (TypeError, ValueError, IndexError):
        raise InputError(f"The 'mapper' parameter of analyse_run_grid must be (resolution, "
                         f"gain); got {mapper!r}.") from None
    spec = AnalysisSpec(k=k, p=p, significance=None, layout=True, mapper=MapperSpec(
        resolution=resolution, gain=gain, seed=check_int(seed, "seed", "analyse_run_grid", 0),
        n_thumbnails=check_int(n_thumbnails, "n_thumbnails", "analyse_run_grid", 1),
        n_bootstrap=check_int(n_bootstrap, "n_bootstrap", "analyse_run_grid", 0)))
    convs = conv_layers(load_state_dict(path, iteration=its[0]))
    layers = list(layers) if layers else list(range(1, len(convs) + 1))
    bad = [lay for lay in layers if not 1 <= lay <= len(convs)]
    if bad:
        raise InputError(f"layer {bad[0]} does not exist: {path} has {len(convs)} conv layers.")
    names = [convs[lay - 1][0] for lay in layers]
    cells = [[None] * len(its) for _ in layers]
    problems = []
    with tqdm(total=len(layers) * len(its), desc="grid", unit="cell",
              disable=not progress) as bar:
        for c, it in enumerate(its):
            if c:
                convs = conv_layers(load_state_dict(path, iteration=it))
            for r, layer in enumerate(layers):
                bar.set_postfix_str(f"layer {layer}, iteration {it}")
                try:
                    cells[r][c] = analyse(spatial_filters(convs[layer - 1][1]), spec,
                                          layer=layer, iteration=it)
                except InputError as exc:
                    problems.append(f"layer {layer}, iteration {it}: {exc}")
                bar.update()
    return RunGrid(cells=cells, layers=layers, layer_names=names, iterations=its,
                   problems=problems)
