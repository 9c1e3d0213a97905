"""Pictures of a run directory over its checkpoints: the readings, the grid, the report.

- :func:`plot_run_readings`: each layer's primary-circle fraction, significant H1 bars (b1)
  and off-model fraction against the step;
- :func:`draw_run_grid`: the evolution grid of Figures 8 and 13 (Mapper graphs, layers x
  checkpoints) of any run directory (``cnntopo grid``);
- :func:`write_run_report`: ``readings.png`` and ``index.html`` in the run directory
  (``cnntopo report``), with the verdict rows and the grid where they were computed.

They draw what :mod:`cnntopo.training.readings` and :mod:`cnntopo.verdict.layers` computed.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from ..files import atomic_write_json
from ..sources.rundir import WATCH_KIND, read_manifest
from ..training.readings import read_verdict, run_readings
from ..validation import InputError
from ..verdict.layers import analyse_run_grid
from .draw import draw_grid

__all__ = ["plot_run_readings", "draw_run_grid", "write_run_report", "READINGS_PNG", "GRID_PNG"]

READINGS_PNG = "readings.png"
GRID_PNG = "grid.png"


def _series(rows, key):
    """{layer: (layer_name, steps, values)} with NaN where a row has no value."""
    out = {}
    for r in rows:
        name, xs, ys = out.setdefault(r["layer"], (r["layer_name"], [], []))
        xs.append(r["iteration"])
        v = None if r.get("status") == "skipped" else r.get(key)
        ys.append(np.nan if v is None else float(v))
    return out


def plot_run_readings(rows, verdict_rows=None, *, fig=None, title=None, unit="step"):
    """Each layer's readings against the step: primary-circle fraction, b1, off-model fraction.

    Parameters
    ----------
    rows : list of dict
        Light readings (:func:`cnntopo.training.readings.run_readings`): ``iteration``,
        ``layer``, ``layer_name``, ``primary_circle_fraction``, ``off_model_fraction``.
    verdict_rows : list of dict, optional
        Verdict rows of the same run (:func:`cnntopo.training.readings.describe_run`): their
        significant H1 bars make the middle panel (hollow markers: too few points to tell).
    fig : matplotlib.figure.Figure, optional
    title : str, optional
    unit : str
        The x axis' label.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes sharing the x axis; one line per layer, coloured by depth. Layers without
        Klein-bottle readings (kernels other than 3x3) are named under the axes.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    if not rows:
        raise InputError("The 'rows' parameter of plot_run_readings must hold readings of at "
                         "least one checkpoint; got none.")
    if fig is None:
        fig = Figure(figsize=(8.0, 7.6), layout="constrained")
    else:
        fig.clear()
    ax_p, ax_b, ax_o = fig.subplots(3, 1, sharex=True)
    circle, off = _series(rows, "primary_circle_fraction"), _series(rows, "off_model_fraction")
    layers = sorted(circle)
    cmap = colormaps["viridis"]
    colour = {lay: cmap(0.9 * i / max(len(layers) - 1, 1)) for i, lay in enumerate(layers)}
    unread = []
    for lay in layers:
        name, xs, ys = circle[lay]
        if np.all(np.isnan(ys)):
            kernel = next((r.get("kernel") for r in rows if r["layer"] == lay), None)
            unread.append(f"{lay} {name}" + (f" ({kernel})" if kernel else ""))
            continue
        label = f"{lay} {name.removesuffix('.weight')}"
        ax_p.plot(xs, ys, "-o", color=colour[lay], ms=3, lw=1.4, label=label)
        ax_o.plot(off[lay][1], off[lay][2], "-o", color=colour[lay], ms=3, lw=1.4)
    verdict_rows = [r for r in verdict_rows or [] if r.get("status") != "skipped"
                    and r.get("significant") is not None]
    if verdict_rows:
        tested = sorted({r["layer"] for r in verdict_rows})
        for j, lay in enumerate(tested):
            mine = sorted((r for r in verdict_rows if r["layer"] == lay),
                          key=lambda r: r["iteration"])
            xs = np.array([r["iteration"] for r in mine])
            b1 = np.array([r["significant"][1] for r in mine], dtype=float)
            und = np.array([bool((r.get("undecided") or [False, False])[1]) for r in mine])
            c = colour.get(lay, "0.4")
            b1 = b1 + 0.05 * (j - (len(tested) - 1) / 2)   # apart, so that equal lines show
            ax_b.plot(xs, b1, "-", color=c, lw=1.2, drawstyle="steps-post")
            ax_b.plot(xs[~und], b1[~und], "o", color=c, ms=4)
            ax_b.plot(xs[und], b1[und], "o", mfc="white", color=c, ms=4)
        top = max(max(r["significant"][1] for r in verdict_rows), 1)
        ax_b.set_ylim(-0.3, top + 0.5)
        ax_b.set_yticks(range(0, top + 1))
    else:
        ax_b.text(0.5, 0.5, "b1 comes from the significance test:\nWatcher.close(significance="
                  "True) or `cnntopo report RUN --significance`", transform=ax_b.transAxes,
                  ha="center", va="center", fontsize=9, color="0.35")
        ax_b.set_yticks([])
    ax_p.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax_p.set_ylabel("primary-circle fraction\n(within 0.5)")
    ax_b.set_ylabel("b1: significant\nH1 bars")
    ax_o.set_ylabel("off-model fraction\n(farther than 0.5\nfrom the Klein bottle)")
    ax_o.set_xlabel(unit)
    for ax in (ax_p, ax_o):
        ax.set_ylim(0, 1)
    for ax in (ax_p, ax_b, ax_o):
        ax.grid(alpha=0.3)
    if ax_p.lines[1:]:  # the dashed line is the first
        ax_p.legend(fontsize=7, ncol=3 if len(layers) > 6 else 2, loc="upper left",
                    title="layer", title_fontsize=7)
    if unread:
        fig.text(0.01, 0.0, "No Klein-bottle readings (not 3x3): " + ", ".join(unread),
                 fontsize=7, color="0.35", ha="left", va="bottom")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _unit(run_dir):
    try:
        kind = read_manifest(run_dir)["config"].get("kind")
    except (ValueError, FileNotFoundError):
        return "iterations"
    return "steps" if kind == WATCH_KIND else "iterations"


def _cell_numbers(cell, it):
    if cell is None:
        return {"iteration": it}
    r = cell.row
    return {"iteration": it, "n_kept": r["n_kept"],
            **{k: r.get(k) for k in ("primary_circle_fraction", "primary_circle_coverage",
                                     "klein_fraction", "off_model_fraction")},
            "nodes": len(cell.graph["nodes"]), "links": len(cell.graph["links"]),
            "nerve_betti": cell.nerve_betti, **_confidence_numbers(cell)}


def _confidence_numbers(cell):
    """A cell's nerve confidence (None without a bootstrap)."""
    c = cell.mapper_confidence
    return {"nerve_betti_confidence": None if c is None else list(c.betti_confidence),
            "nerve_stability": None if c is None else c.stability,
            "n_bootstrap": 0 if c is None else c.n_bootstrap}


def draw_run_grid(run_dir, path=None, *, layers=None, iterations=None, k=None, p=None,
                  mapper=(10, 3), n_thumbnails=6, seed=0, n_jobs=None, ray=None,
                  progress=True):
    """The evolution grid (Figures 8 and 13) of a run directory, and its numbers.

    Parameters
    ----------
    run_dir : path-like
    path : path-like, optional
        The PNG; default ``RUN_DIR/grid.png``. Its numbers go beside it, ``.json``.
    layers, iterations, k, p, mapper, n_thumbnails, seed, n_jobs, ray, progress
        As :func:`cnntopo.verdict.layers.analyse_run_grid` (each cell's graph with its
        confidence over 100 bootstrap resamples unless `mapper` says otherwise).

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    run_dir = Path(run_dir)
    path = run_dir / GRID_PNG if path is None else Path(path)
    grid = analyse_run_grid(run_dir, layers=layers, iterations=iterations, k=k, p=p,
                            mapper=mapper, n_thumbnails=n_thumbnails, seed=seed,
                            n_jobs=n_jobs, ray=ray, progress=progress)
    if all(c is None for row in grid.cells for c in row):
        raise InputError("no cell of the grid could be analysed: " + "; ".join(grid.problems))
    labels = [f"layer {lay}\n{name.removesuffix('.weight')}"
              for lay, name in zip(grid.layers, grid.layer_names)]
    draw_grid(grid.cells, path, row_labels=labels, iterations=grid.iterations,
              n_thumbnails=n_thumbnails, unit=_unit(run_dir))
    atomic_write_json(path.with_suffix(".json"), {
        "file": path.name, "rows": [label.replace("\n", " ") for label in labels],
        "layers": grid.layers, "iterations": grid.iterations,
        "mapper": list(mapper), "k": k, "p": p,
        "problems": grid.problems,
        "cells": [[_cell_numbers(c, it) for c, it in zip(row, grid.iterations)]
                  for row in grid.cells]})
    return path


def _snapshot_line(manifest):
    entries = manifest["checkpoints"]
    if not entries:
        return "No checkpoint yet."
    steps = [e["iteration"] for e in entries]
    line = f"{len(entries)} checkpoints, {steps[0]:,} to {steps[-1]:,}"
    config = manifest["config"]
    if config.get("kind") == WATCH_KIND:
        line += f", every {config['every']} steps, {len(config['layers'])} watched conv layers"
        if config.get("density"):
            line += ", read at rho({}, {})".format(*config["density"])
        sizes = [e["bytes"] for e in entries if e.get("bytes")]
        secs = [e["seconds"] for e in entries if e.get("seconds") is not None]
        if sizes:
            line += f"; {statistics.median(sizes) / 1024:,.0f} KiB per snapshot"
        if secs:
            line += f", {statistics.median(secs):.3f} s per snapshot (median)"
    return line + ("." if manifest.get("completed") else "; still running or stopped early.")


def write_run_report(run_dir, *, progress=False):
    """``readings.png`` and ``index.html`` of a run directory (written into it).

    The page: the readings over the steps, the last checkpoint's readings per layer, the
    verdict rows where :func:`~cnntopo.training.readings.describe_run` computed them, the
    grid where :func:`draw_run_grid` drew it (``grid.png`` / ``grid.json``), the config.

    Parameters
    ----------
    run_dir : path-like
    progress : bool
        A bar while readings are computed (a ``cnntopo train`` run has none stored).

    Returns
    -------
    pathlib.Path
        ``RUN_DIR/index.html``.
    """
    from .plots import save_figure
    from .report import write_report

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    rows = run_readings(run_dir, progress=progress)
    if not rows:
        raise InputError(f"{run_dir / 'manifest.json'} lists no checkpoints yet.")
    verdict = (read_verdict(run_dir) or {}).get("rows") or []
    unit = _unit(run_dir)
    density = manifest["config"].get("density")
    read = "" if not density else " (light readings of rho({}, {}))".format(*density)
    where = f"{run_dir.resolve().parent.name}/{run_dir.name}"
    save_figure(plot_run_readings(rows, verdict, unit=unit,
                                  title=f"{where}: the filters' topology over training{read}"),
                run_dir / READINGS_PNG, dpi=110)
    last = max(r["iteration"] for r in rows)
    tested = [r for r in verdict if r.get("status") != "skipped"]
    latest = max((r["iteration"] for r in tested), default=None)
    summary = {
        "kind": "run", "name": where, "title": f"Training run {where}",
        "readings": {"file": READINGS_PNG, "line": _snapshot_line(manifest), "unit": unit,
                     "iteration": last, "rows": [r for r in rows if r["iteration"] == last]},
        # the table: the last tested checkpoint (b1 over the steps is in the picture above;
        # every row is in verdict.json)
        "verdict": {"rows": [r for r in tested if r["iteration"] == latest]},
        "config": manifest["config"],
    }
    grid_json = run_dir / (Path(GRID_PNG).stem + ".json")
    if grid_json.is_file():
        try:
            summary["grid"] = json.loads(grid_json.read_text(encoding="utf-8"))
        except ValueError:
            pass  # a grid.json that is not ours: the report goes without the grid
    return write_report(run_dir, summary)
