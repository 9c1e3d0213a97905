"""The one per-layer path: (source, layers, iterations) -> one result per layer and checkpoint.

:func:`analyse_layers` is the only loop over the conv layers of a source. ``describe``
(:func:`describe_source`, :func:`cnntopo.verdict.frame.describe`), the run verdict
(:func:`cnntopo.training.readings.describe_run`, which ``Watcher.close`` calls), the atlas
(:func:`cnntopo.verdict.atlas.atlas`) and the evolution grid (:func:`analyse_run_grid`) all
call it, so they agree on

- which layers there are: 1-based numbers among the source's conv layers (of `kernel_size`,
  when given), ranges (``"2-13"``) or names (:func:`select_layers`), with one message per
  mistake;
- which checkpoint: ``iterations=None`` is the **last** checkpoint of a run directory,
  ``"all"`` every one (:func:`select_checkpoints`);
- the layer's name, ``layer_name``: the module path without ``.weight`` (``features.0``);
- a layer that cannot be read: ``status`` ``"skipped"`` and the ``reason`` (a 1x1 or
  non-square kernel, a 1-D or 3-D conv, NaN weights, too few filters, a cloud the analysis
  refuses); the others have ``status`` ``"ok"`` and ``reason`` None. No layer is dropped.

A source is a points ``.npy`` or array (one filter a row), a run directory, any weights file
:func:`cnntopo.sources.filters.load_state_dict` reads, or a model in memory
(:func:`cnntopo.sources.live.live_conv_layers`: a ``torch.nn.Module``, a Keras 3 model, a
state dict or a checkpoint dict). Each layer's filters go through
:func:`cnntopo.verdict.analysis.analyse`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..parallel import check_n_jobs, check_ray, connect, map_tasks, resolve_n_jobs
from ..sources.arrays import load_points
from ..sources.filters import load_state_dict, no_such_layer, spatial_filters
from ..sources.live import is_live_model, live_conv_layers, state_dict_conv_layers
from ..sources.rundir import run_checkpoints
from ..validation import InputError, check_int, renamed
from .analysis import (
    MIN_TESTABLE,
    AnalysisSpec,
    CloudAnalysis,
    analyse,
    mapper_spec,
    n_landmarks_of,
    verdict_spec,
)
from .table import parse_ranges, select_iterations, verdict_row

__all__ = ["analyse_layers", "LayerResult", "describe_source", "select_layers",
           "select_checkpoints", "skip_reason", "kernel_label", "analyse_run_grid", "RunGrid",
           "spread", "ALL", "GRID_BOOTSTRAP"]

_RANGE = re.compile(r"^\s*\d+\s*(-\s*\d+\s*)?$")
_NUMERIC = re.compile(r"^[\d\s-]+$")
#: ``iterations=ALL`` (or ``--iteration all``): every checkpoint of a run directory.
ALL = "all"
#: Bootstrap resamples of each cell of an evolution grid, as of every other Mapper graph.
GRID_BOOTSTRAP = 100


def kernel_label(kernel):
    """``"5x5"`` for (5, 5), ``"3"`` for a 1-D kernel (3,), None for None."""
    return None if kernel is None else "x".join(str(int(k)) for k in kernel)


def select_layers(specs, names, where):
    """1-based layer numbers chosen by numbers, ranges and names: the one check of a layer
    argument (``describe``, ``describe_run``, the grid, the Watcher).

    Parameters
    ----------
    specs : iterable of int or str
        Each a layer number, a range ``"2-4"``, a comma-separated list of those, or a layer
        name as listed (``"features.0"``; a trailing ``".weight"`` is ignored).
    names : list of str
        The layers' names, in order (a trailing ``".weight"`` is ignored).
    where : str
        The source, for messages.

    Returns
    -------
    list of int
        Sorted, without repeats.

    Raises
    ------
    InputError
        ``layer N does not exist: WHERE has M conv layers (1 a, 2 b, ...)`` for a number out
        of range, ``layer 'x' does not exist: WHERE has no conv layer of that name; ...`` for
        an unknown name.
    """
    chosen = set()
    names = [n.removesuffix(".weight") for n in names]
    index = {n: i for i, n in enumerate(names, start=1)}
    if isinstance(specs, (str, int)) and not isinstance(specs, bool):
        specs = [specs]
    for spec in specs:
        parts = str(spec).split(",") if isinstance(spec, str) else [spec]
        for part in parts:
            if not isinstance(part, str) or _RANGE.match(part):
                chosen.update(parse_ranges([part], "layer"))
                continue
            name = part.strip().removesuffix(".weight")
            if name not in index:
                raise no_such_layer(part.strip(), names, where)
            chosen.add(index[name])
    bad = sorted(c for c in chosen if not 1 <= c <= len(names))
    if bad:
        raise no_such_layer(bad[0], names, where)
    return sorted(chosen)


def select_checkpoints(iterations, available, where):
    """The checkpoints an ``iterations`` argument chooses: the one default of every reader.

    Parameters
    ----------
    iterations : None, "all", or list of int or str
        None: the **last** checkpoint. ``"all"`` (alone or in the list): every one. Else
        numbers and ranges (:func:`cnntopo.verdict.table.select_iterations`).
    available : list of int
        The run directory's checkpoints, sorted.
    where : str
        The run directory, for messages.

    Returns
    -------
    list of int
    """
    if iterations is None:
        return list(available[-1:])
    if isinstance(iterations, (str, int)) and not isinstance(iterations, bool):
        iterations = [iterations]
    iterations = list(iterations)
    if any(str(i).strip().lower() == ALL for i in iterations):
        return list(available)
    if not iterations:
        return list(available[-1:])
    return select_iterations(iterations, available, where)


def skip_reason(layer, filters, k=None):
    """Why a conv layer cannot be read as a cloud of k x k filters, or None.

    Parameters
    ----------
    layer : cnntopo.sources.live.ConvLayer
    filters : ndarray of shape (n, kh * kw) or None
        Its spatial filters (None when the layer has none).
    k : int or None
        Of the density filtration rho(k, p), which needs more than k filters.

    Returns
    -------
    str or None
        The reason in words (the row's ``reason``), None when the layer can be read.
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


@dataclass
class LayerResult:
    """One (layer, checkpoint) of :func:`analyse_layers`.

    Attributes
    ----------
    row : dict
        The verdict row (:data:`cnntopo.verdict.table.ROW_KEYS`), then ``n_landmarks``,
        ``layer_name``, ``kernel`` (``"5x5"``), ``status`` (``"ok"`` or ``"skipped"``) and
        ``reason`` (None when ok). A skipped row's numbers and reading are None.
    analysis : CloudAnalysis or None
        What was computed (None for a skipped layer, or a row taken from `cached`).
    """

    row: dict
    analysis: CloudAnalysis | None = None


def _skipped_row(layer_no, iteration, n_filters, k, p, reason):
    row = verdict_row(layer=layer_no, iteration=iteration, n_filters=0, n_kept=0, k=k, p=p,
                      significance=None)
    # a layer without 2-D filters (Conv1d, ...) has no count to give
    return dict(row, n_filters=n_filters, reading=None, n_landmarks=None, status="skipped",
                reason=reason)


def _ok(result, ident):
    return LayerResult(dict(result.row, n_landmarks=n_landmarks_of(result), **ident,
                            status="ok", reason=None), result)


def _keep_size(layers, kernel_size):
    if kernel_size is None:
        return layers
    ks = (kernel_size, kernel_size) if np.ndim(kernel_size) == 0 else tuple(kernel_size)
    return [c for c in layers if c.weight is not None and tuple(c.kernel) == tuple(map(int, ks))]


def _points_source(source):
    """The points array of a points source (a 2-D array or a ``.npy``), or None."""
    if hasattr(source, "shape") and not isinstance(source, Mapping) and \
            not is_live_model(source):
        if len(source.shape) != 2:
            raise InputError(f"A points array must be 2-D, one filter a row; got shape "
                             f"{tuple(source.shape)} (a conv weight: pass the model or its "
                             f"state dict).")
        return source.detach().cpu().numpy() if hasattr(source, "detach") else source
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".npy" \
            and not Path(source).is_dir():
        return load_points(source)
    return None


def _bar(progress, desc):
    if hasattr(progress, "update"):  # a bar of the caller's (the atlas: one over six models)
        import contextlib

        return contextlib.nullcontext(progress)
    from tqdm.auto import tqdm

    return tqdm(total=None, desc=desc, unit="layer", disable=not progress)


def analyse_layers(source, layers=None, iterations=None, *, spec=None, density=None,
                   kernel_size=None, cached=None, on_checkpoint=None, n_jobs=None, ray=None,
                   progress=True, desc="describe"):
    """Analyse every chosen conv layer at every chosen checkpoint of a source: the one loop.

    Parameters
    ----------
    source : path-like, array, torch.nn.Module, Keras model or mapping
        ``.npy`` points or a 2-D array (one filter a row: one "layer", numbered None), a run
        directory, a weights file that :func:`cnntopo.sources.filters.load_state_dict` reads,
        or a model in memory (:func:`cnntopo.sources.live.live_conv_layers`).
    layers : list of int or str, optional
        1-based conv layers, ranges (``"2-13"``) or layer names (:func:`select_layers`);
        default every conv layer (of `kernel_size`, if given).
    iterations : None, "all" or list of int or str, optional
        Checkpoints of a run directory (:func:`select_checkpoints`): default **the last**;
        ``"all"`` every one.
    spec : AnalysisSpec, optional
        What to compute about each layer; default :func:`cnntopo.verdict.analysis.verdict_spec`
        (the significance test with ``n_landmarks="auto"``, the Klein-bottle readings).
    density : callable, optional
        ``density(n_filters) -> (k, p)``: each layer's rho(k, p) from its number of filters,
        in place of ``spec.k`` and ``spec.p`` (the atlas).
    kernel_size : int, optional
        Count only conv layers of this size (numbered among themselves).
    cached : callable, optional
        ``cached(iteration, layer) -> row or None``: a row already computed (a run's
        ``verdict.json``) is taken as it is; a checkpoint whose chosen layers are all cached
        is not read.
    on_checkpoint : callable, optional
        ``on_checkpoint(iteration, results)`` after each checkpoint's layers (to save them).
    n_jobs : int or None
        None (default): the rows one after another, each Mapper graph's bootstrap on every
        core when its cloud is large (:func:`cnntopo.topology.mapper_stats.mapper_confidence`).
        An int >= 2 (-1: every core): the rows, (layer, checkpoint) each, as tasks on that
        many processes (a lone row's bootstrap gets them instead). 1: everything here.
        The results are the same, in the same order, for any value.
    ray : str, optional
        A Ray address (``"auto"``, ``"local"``, ``HOST:PORT``;
        :func:`cnntopo.parallel.connect`): the rows as Ray tasks (the same results).
    progress : bool or tqdm bar
        A progress bar (one of the caller's is updated instead).
    desc : str
        The bar's label.

    Returns
    -------
    list of LayerResult
        Checkpoints outer, layers inner. With `n_jobs` or `ray`, the rows of a few checkpoints
        run together (at least one task per process) before their `on_checkpoint` calls.

    Raises
    ------
    InputError
        An unknown layer or checkpoint (one message each), a source without conv layers (of
        `kernel_size`), an unreadable file; for a points source, a cloud the analysis
        refuses (there is no layer to skip).
    """
    spec = verdict_spec() if spec is None else spec
    if isinstance(spec, dict):
        spec = AnalysisSpec(**spec)
    for s in ([layers] if isinstance(layers, str) else layers or ()):
        for part in str(s).split(","):  # a bad range is reported as such, whatever the source
            if _NUMERIC.match(part):
                parse_ranges([part], "layer")
    points = _points_source(source)
    if points is not None:
        check_n_jobs(n_jobs, "analyse_layers"), check_ray(ray, "analyse_layers")
        if (layers or iterations) and isinstance(source, (str, os.PathLike)):
            raise InputError(f"{Path(source).name} is a points file: --layer and --iteration "
                             f"select conv layers of a run directory or weights file.")
        if layers or iterations:
            raise InputError("The source is a points array: layers and iterations select "
                             "conv layers of a model, run directory or weights file.")
        x = np.asarray(points)
        side = int(round(np.sqrt(x.shape[1])))
        kernel = (side, side) if side * side == x.shape[1] else None
        if density is not None:
            spec = replace(spec, **dict(zip(("k", "p"), density(len(x)))))
        result = analyse(x, spec, n_jobs=n_jobs, ray=ray)
        return [_ok(result, {"layer_name": None, "kernel": kernel_label(kernel)})]
    if not is_live_model(source) and not isinstance(source, (str, os.PathLike)):
        raise InputError(f"The 'source' parameter of describe must be a torch.nn.Module, a "
                         f"Keras model, a state dict or checkpoint dict, a points array, or the "
                         f"path of a weights file, run directory or points .npy; got "
                         f"{type(source).__name__!r}.")
    results, todo, own_bar, batch = [], None, not hasattr(progress, "update"), []
    n_jobs, ray = check_n_jobs(n_jobs, "analyse_layers"), check_ray(ray, "analyse_layers")
    rows_as_tasks = ray is not None or n_jobs not in (None, 1)
    jobs = 1 if not rows_as_tasks else _cluster_cpus(ray) if ray is not None else \
        resolve_n_jobs(n_jobs, 1 << 30)
    with _bar(progress, desc) as bar:
        for it, read in _checkpoints(source, iterations):
            if todo is not None and cached is not None and \
                    all(cached(it, n) is not None for n in todo):
                batch.append((it, [LayerResult(cached(it, n)) for n in todo], False))
                continue
            found, where, it = read()
            sizes = sorted({kernel_label(c.kernel) for c in found})
            found = _keep_size(found, kernel_size)
            if not found:
                raise InputError(f"{where} has no conv layer of kernel size {kernel_size}; its "
                                 f"kernels are {', '.join(sizes)}.")
            todo = select_layers(layers, [c.name for c in found], where) if layers else \
                list(range(1, len(found) + 1))
            if own_bar:
                bar.total = (bar.total or 0) + len(todo)
            mine = []
            for number in todo:
                row = None if cached is None else cached(it, number)
                if row is not None:
                    mine.append(LayerResult(row))
                    bar.update()
                    continue
                work = _layer_work(found[number - 1], number, it, spec, density)
                if isinstance(work, LayerResult) or not rows_as_tasks:
                    if not isinstance(work, LayerResult):
                        bar.set_postfix_str(f"layer {number} ({work[4]['layer_name']}, "
                                            f"{len(work[0]):,} filters)")
                        work = _layer_task(*work, n_jobs, ray)
                    mine.append(work)
                    bar.update()
                else:
                    mine.append(work)  # a task, run with the batch
            batch.append((it, mine, True))
            if not rows_as_tasks or sum(_is_task(w) for _, m, _ in batch for w in m) >= jobs:
                results += _run_batch(batch, jobs, ray, n_jobs, bar, on_checkpoint)
                batch = []
        results += _run_batch(batch, jobs, ray, n_jobs, bar, on_checkpoint)
    return results


def _cluster_cpus(address):
    return max(1, int(connect(address).cluster_resources().get("CPU", 1)))


def _is_task(work):
    return not isinstance(work, LayerResult)


def _run_batch(batch, jobs, ray, n_jobs, bar, on_checkpoint):
    """The rows of some checkpoints: their tasks run together, then `on_checkpoint` for each
    checkpoint read (not those taken whole from the cache), in order."""
    tasks = [w for _, mine, _ in batch for w in mine if _is_task(w)]
    if len(tasks) == 1:  # one row: its own resamples get the processes (or the cluster)
        done = [_layer_task(*tasks[0], n_jobs, ray)]
        bar.update()
    else:
        done = map_tasks(_layer_task, [(*t, 1, None) for t in tasks], n_jobs=jobs, ray=ray,
                         bar=bar)
    done, out = iter(done), []
    for it, mine, new in batch:
        mine = [next(done) if _is_task(w) else w for w in mine]
        out += mine
        if new and on_checkpoint is not None:
            on_checkpoint(it, mine)
    return out


def _layer_work(layer, number, iteration, spec, density):
    """A layer's skipped row, or the arguments of :func:`_layer_task` that analyses it."""
    filt = None if layer.weight is None else spatial_filters(layer.weight)
    n = None if filt is None else len(filt)
    ident = {"layer_name": layer.name, "kernel": kernel_label(layer.kernel)}
    if density is not None and n is not None:
        spec = replace(spec, **dict(zip(("k", "p"), density(n))))
    reason = skip_reason(layer, filt, spec.k)
    if reason is not None:
        return LayerResult({**_skipped_row(number, iteration, n, spec.k, spec.p, reason),
                            **ident})
    return (filt, spec, number, iteration, ident)


def _layer_task(filters, spec, number, iteration, ident, n_jobs, ray):
    """One row: a task of its own (here, in a worker process or on Ray)."""
    try:
        return _ok(analyse(filters, spec, layer=number, iteration=iteration, n_jobs=n_jobs,
                           ray=ray), ident)
    except InputError as exc:  # a cloud the analysis refuses is a skipped layer
        return LayerResult({**_skipped_row(number, iteration, len(filters), spec.k, spec.p,
                                           str(exc)), **ident})


@renamed(landmarks="n_landmarks")
def describe_source(source, layers=None, iterations=None, *, k=None, p=None, n_landmarks="auto",
                    seed=0, mapper=None, kernel_size=None, n_resamples=None, n_jobs=None,
                    ray=None, progress=True):
    """The verdict rows of a points file, run directory, weights file or live model.

    Parameters
    ----------
    source, layers, iterations, kernel_size, progress
        As :func:`analyse_layers` (default: every conv layer at the last checkpoint).
    k, p, n_landmarks, seed, mapper, n_resamples
        As :func:`cnntopo.verdict.analysis.verdict_spec` (``n_landmarks="auto"``;
        ``landmarks`` is a deprecated alias).
    n_jobs, ray
        Where the rows run: as :func:`analyse_layers` (default: one after another, each Mapper
        bootstrap on every core for a large cloud; ``n_jobs=N``: the rows on N processes;
        ``ray``: as Ray tasks). The rows are the same for any value.

    Returns
    -------
    rows : list of dict
        One per (layer, iteration), layers inside iterations (:attr:`LayerResult.row`).
    """
    spec = verdict_spec(k=k, p=p, n_landmarks=n_landmarks, seed=seed, mapper=mapper,
                        n_resamples=n_resamples)
    return [r.row for r in analyse_layers(source, layers, iterations, spec=spec,
                                          kernel_size=kernel_size, n_jobs=n_jobs, ray=ray,
                                          progress=progress)]


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
        its = select_checkpoints(iterations, available, path)
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
                     n_thumbnails=6, seed=0, n_bootstrap=GRID_BOOTSTRAP, n_jobs=None, ray=None,
                     progress=True):
    """A Mapper graph of each (layer, checkpoint) of a run directory, laid out for drawing.

    Parameters
    ----------
    run_dir : path-like
        A run directory (``cnntopo train`` or a Watcher).
    layers : list of int or str, optional
        Conv layers (the rows), as :func:`select_layers`; default every one.
    iterations : list of str or int, optional
        Checkpoints (the columns; numbers and ranges as ``cnntopo describe --iteration``, or
        ``"all"``); default six spread from the first to the last.
    k, p : int and float, optional
        rho(k, p) before the Mapper graph; default none (every normalised filter).
    mapper : (resolution, gain[, n_bootstrap])
        Of the Mapper graph (the paper's PCA lenses; either may be ``"auto"``), as
        :func:`cnntopo.verdict.analysis.mapper_spec`.
    n_thumbnails, seed
        Of the layout (and the graph).
    n_bootstrap : int, default 100
        Bootstrap resamples of each cell's graph when `mapper` has no third entry
        (:func:`cnntopo.topology.mapper_stats.mapper_confidence`): each cell's nerve Betti
        numbers with their confidence. 0 skips it (each resample costs about one graph).
    n_jobs, ray
        Where the cells run (:func:`analyse_layers`: the same grid for any value).
    progress : bool

    Returns
    -------
    RunGrid
    """
    path = Path(run_dir)
    available = list(run_checkpoints(path))
    if not available:
        raise InputError(f"{path / 'manifest.json'} lists no checkpoints yet.")
    its = spread(available, 6) if not iterations else \
        select_checkpoints(iterations, available, path)
    m = mapper_spec(mapper, n_bootstrap=check_int(n_bootstrap, "n_bootstrap",
                                                  "analyse_run_grid", 0),
                    seed=check_int(seed, "seed", "analyse_run_grid", 0),
                    n_thumbnails=check_int(n_thumbnails, "n_thumbnails", "analyse_run_grid", 1))
    if m is None:
        raise InputError("The 'mapper' parameter of analyse_run_grid must be (resolution, "
                         "gain[, n_bootstrap]); got None.")
    spec = AnalysisSpec(k=k, p=p, significance=None, layout=True, mapper=m)
    results = analyse_layers(path, layers, its, spec=spec, n_jobs=n_jobs, ray=ray,
                             progress=progress, desc="grid")
    chosen = sorted({r.row["layer"] for r in results})
    names = {r.row["layer"]: r.row["layer_name"] for r in results}
    cells = [[None] * len(its) for _ in chosen]
    problems = []
    for r in results:
        row = r.row
        i, j = chosen.index(row["layer"]), its.index(row["iteration"])
        cells[i][j] = r.analysis
        if row["status"] != "ok":
            problems.append(f"layer {row['layer']}, iteration {row['iteration']}: "
                            f"{row['reason']}")
    return RunGrid(cells=cells, layers=chosen, layer_names=[names[lay] for lay in chosen],
                   iterations=its, problems=problems)
