"""The verdict table of a source: one row per (conv layer, checkpoint).

A source is a points ``.npy`` (one filter a row), a run directory (every checkpoint, or those
asked for), or any weights file :func:`cnntopo.sources.filters.load_state_dict` reads. Each
layer's filters go through :func:`cnntopo.verdict.analysis.describe_cloud`.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from ..sources.arrays import load_points
from ..sources.filters import conv_layers, filters_from_source, load_state_dict
from ..sources.rundir import run_checkpoints
from ..validation import InputError
from .analysis import describe_cloud
from .table import select_iterations

__all__ = ["describe_source"]


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
