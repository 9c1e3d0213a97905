"""The verdict table of a source: one row per (conv layer, checkpoint); the evolution grid.

A source is a points ``.npy`` (one filter a row), a run directory (every checkpoint, or those
asked for), or any weights file :func:`cnntopo.sources.filters.load_state_dict` reads. Each
layer's filters go through :func:`cnntopo.verdict.analysis.describe_cloud`.
:func:`analyse_run_grid` analyses the cells of Figures 8 and 13 (a Mapper graph per layer and
checkpoint) of any run directory, for :func:`cnntopo.viz.draw.draw_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..sources.arrays import load_points
from ..sources.filters import conv_layers, filters_from_source, load_state_dict, spatial_filters
from ..sources.rundir import run_checkpoints
from ..validation import InputError, check_int
from .analysis import AnalysisSpec, MapperSpec, analyse, describe_cloud
from .table import select_iterations

__all__ = ["describe_source", "analyse_run_grid", "RunGrid", "spread"]


def describe_source(source, *, layers=None, iterations=None, k=None, p=None, landmarks=100,
                    seed=0, mapper=None, kernel_size=None, n_resamples=None, progress=True):
    """The verdict table of a points file, run directory or weights file.

    Parameters
    ----------
    source : path-like
        ``.npy`` points (one filter a row), a run directory, or a weights file that
        :func:`cnntopo.sources.filters.load_state_dict` reads.
    layers : list of int, optional
        1-based conv layers; default every conv layer (of `kernel_size`, if given).
    iterations : list of str or int, optional
        ``--iteration`` values of a run directory (numbers and ranges, see
        :func:`select_iterations`); default its last checkpoint.
    kernel_size : int, optional
        Count only conv layers of this size (e.g. 3).
    Others as :func:`cnntopo.verdict.analysis.describe_cloud`.

    Returns
    -------
    rows : list of dict
        One per (layer, iteration), layers inside iterations.
    """
    path = Path(source)
    common = dict(k=k, p=p, landmarks=landmarks, seed=seed, mapper=mapper,
                  n_resamples=n_resamples)
    if path.suffix.lower() == ".npy" and not path.is_dir():
        if layers or iterations:
            raise InputError(f"{path.name} is a points file: --layer and --iteration select "
                             f"conv layers of a run directory or weights file.")
        return [describe_cloud(load_points(path), **common)]
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
    rows = []
    with tqdm(total=None, desc="describe", unit="layer", disable=not progress) as bar:
        for it in its:
            weights = load_state_dict(source, iteration=it)  # read once per checkpoint
            todo = layers or list(range(1, len(conv_layers(weights, kernel_size=kernel_size)) + 1))
            bar.total = (bar.total or 0) + len(todo)
            for layer in todo:
                filt, _, info = filters_from_source(weights, layer, kernel_size=kernel_size)
                bar.set_postfix_str(f"layer {layer} ({info['layer_name']}, {len(filt):,} filters)")
                row = describe_cloud(filt, layer=layer, iteration=it, **common)
                rows.append(dict(row, layer_name=info["layer_name"]))
                bar.update()
    return rows


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
                     n_thumbnails=6, seed=0, progress=True):
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
        n_thumbnails=check_int(n_thumbnails, "n_thumbnails", "analyse_run_grid", 1)))
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
