"""The pictures of an analysis, drawn from a computed (or reloaded) result.

:func:`draw_result` writes the barcodes, Klein-bottle density, Mapper graph PNGs and the
interactive graph page of one :class:`~cnntopo.verdict.analysis.CloudAnalysis`;
:func:`draw_grid` the evolution grid of Figures 8 and 13; :func:`redraw` every figure and the
report of an experiment folder from its saved results (``cnntopo redraw``), computing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..validation import InputError
from ..verdict.analysis import filter_shape

__all__ = ["draw_result", "draw_grid", "redraw", "barcodes_title", "mapper_title"]


def barcodes_title(title, significance):
    """The barcodes figure's title: `title`, then the significant bars and their confidence."""
    if significance is None:
        return title
    from ..verdict.records import significance_keys

    keys = significance_keys(significance)
    return (title + "\nsignificant bars " + str(keys["significant"]) + " (confidence "
            + ", ".join(f"{c:.2f}" for c in keys["significant_confidence"]) + ")")


def mapper_title(graph, caption, confidence=None):
    """``Mapper(resolution, gain) of caption``, the parameters the graph was made with (and
    ``from the data`` when they were chosen so), then the nerve's Betti numbers with their
    bootstrap confidence and stability."""
    params = graph["graph"]
    res = params["resolution"]
    res = "x".join(map(str, res)) if isinstance(res, (list, tuple)) else str(res)
    auto = " from the data" if params.get("auto") else ""
    title = f"Mapper({res}, {params['gain']:.3g}){auto} of {caption}"
    if confidence is not None:
        (b0, b1), (c0, c1) = confidence.nerve_betti[:2], confidence.betti_confidence[:2]
        title += (f"\nnerve b0 = {b0} ({c0:.2f}), b1 = {b1} ({c1:.2f}); stability "
                  f"{confidence.stability:.2f}")
    return title


def cell_caption(result):
    """The line under a grid cell: its nerve's Betti numbers, with their bootstrap confidence
    and stability when computed (``nerve [1, 1] (1.00, 0.97), stab. 0.88``)."""
    if result is None or result.nerve_betti is None:
        return None
    text = f"nerve [{', '.join(str(int(b)) for b in result.nerve_betti[:2])}]"
    conf = result.mapper_confidence
    if conf is not None:
        text += (f" ({', '.join(f'{c:.2f}' for c in conf.betti_confidence[:2])}), "
                 f"stab. {conf.stability:.2f}")
    return text


def _barcodes_png(result, caption, path):
    from ..topology.witness import long_bars
    from .plots import plot_barcodes, save_figure

    bars, sig = result.barcodes, result.significance
    counts = ([int(long_bars(d, scale=bars.scale)) for d in bars.diagrams] if sig is None
              else [int(c) for c in sig.counts][:len(bars.diagrams)])  # H2: drawn to maxdim only
    save_figure(plot_barcodes(bars.diagrams, title=barcodes_title(f"Barcodes of {caption}", sig),
                              long_counts=counts), path, dpi=120)


def _klein_png(readings, caption, path):
    from ..topology.klein import klein_histogram
    from .plots import plot_klein_density, save_figure

    near = readings.klein_distance <= readings.radius
    counts, theta_edges, phi_edges = klein_histogram(readings.theta[near], readings.phi[near])
    save_figure(plot_klein_density(counts, theta_edges, phi_edges, n_total=readings.n_points,
                                   radius=readings.radius, title=f"Klein bottle, {caption}"),
                path, dpi=120)


def draw_result(result, folder, tag, *, caption):
    """Draw every picture of `result` into `folder` (atomically).

    Parameters
    ----------
    result : cnntopo.verdict.analysis.CloudAnalysis
        With a layout if it has a Mapper graph (``AnalysisSpec(layout=True)``).
    folder : path-like
    tag : str
    caption : str
        What the cloud is, for the titles (``"fig2: layer 1, rho(20, 0.3)"``).

    Returns
    -------
    files : dict
        ``barcodes_png``, ``klein_png``, ``mapper_png``, ``graph_html``, ``mapper_theta_png``,
        those that were drawn.
    """
    from .colours import node_colourings
    from .graph_html import write_mapper_html
    from .plots import plot_mapper, save_figure

    folder = Path(folder)
    files = {}
    if result.barcodes is not None:
        files["barcodes_png"] = f"barcodes_{tag}.png"
        _barcodes_png(result, caption, folder / files["barcodes_png"])
    if result.klein is not None:
        files["klein_png"] = f"klein_{tag}.png"
        _klein_png(result.klein, caption, folder / files["klein_png"])
    if result.graph is not None:
        if result.layout is None:
            raise InputError(f"draw_result: the Mapper graph of {tag!r} has no layout; analyse "
                             f"with AnalysisSpec(layout=True).")
        points, shape = result.points, result.shape
        title = mapper_title(result.graph, caption, result.mapper_confidence)
        colourings = {c.key: c for c in node_colourings(result.graph, points=points,
                                                         meta=result.meta, readings=result.klein)}
        files.update(mapper_png=f"mapper_{tag}.png", graph_html=f"graph_{tag}.html")
        save_figure(plot_mapper(result.graph, points, shape=shape, layout=result.layout,
                                colours=colourings["size"], title=title),
                    folder / files["mapper_png"], dpi=120)
        if "theta" in colourings:
            files["mapper_theta_png"] = f"mapper_theta_{tag}.png"
            save_figure(plot_mapper(result.graph, points, shape=shape, layout=result.layout,
                                    colours=colourings["theta"], title=title),
                        folder / files["mapper_theta_png"], dpi=120)
        write_mapper_html(folder / files["graph_html"], result.graph, points, shape=shape,
                          title=title, positions=result.layout,
                          colours=list(colourings.values()), rows=result.prepared.rows,
                          confidence=result.mapper_confidence)
    return files


def draw_grid(cells, path, *, row_labels, iterations, n_thumbnails, unit="iterations"):
    """Figures 8 and 13: the Mapper graph of each (row, iteration) result, in a grid.

    Parameters
    ----------
    cells : list of list of CloudAnalysis or None
        ``cells[r][c]``, each with a Mapper graph and its layout; None leaves a cell empty.
        The rows may differ in filter size.
    path : path-like
        The PNG to write.
    row_labels : list of str
    iterations : list of int
    n_thumbnails : int
    unit : str
        The columns' labels: ``f"{iteration:,} {unit}"``.
    """
    from .plots import plot_evolution_grid, save_figure

    drawn = [[None if c is None else (c.graph, c.points, c.layout) for c in row] for row in cells]
    shapes = [next((filter_shape(c.points.shape[1]) for c in row if c is not None), (3, 3))
              for row in cells]
    fig = plot_evolution_grid(drawn, row_labels=row_labels,
                              col_labels=[f"{it:,} {unit}" for it in iterations],
                              shape=shapes, n_thumbnails=n_thumbnails,
                              captions=[[cell_caption(c) for c in row] for row in cells])
    save_figure(fig, path, dpi=110)


def redraw(out_dir):
    """Redraw every figure and the report of an experiment folder from its saved results.

    Reads ``summary.json`` and each analysis' saved result
    (:func:`cnntopo.verdict.results.load_result`); nothing is recomputed, so a changed plot
    style costs seconds, not the analysis.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from ..verdict.results import load_caption, load_result
    from .report import write_report

    out_dir = Path(out_dir)
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{out_dir} holds no readable summary.json of an experiment "
                         f"({exc}).") from None
    written = []
    for a in summary["analyses"]:
        tag = a["tag"]
        files = draw_result(load_result(out_dir, tag), out_dir, tag,
                            caption=load_caption(out_dir, tag))
        written += [out_dir / f for f in files.values()]
    grid = summary.get("grid")
    if grid:
        folder = out_dir / grid["folder"]
        cells = [[load_result(folder, tag) for tag in row] for row in grid["tags"]]
        draw_grid(cells, out_dir / grid["file"], row_labels=grid["rows"],
                  iterations=grid["iterations"], n_thumbnails=grid["n_thumbnails"])
        written.append(out_dir / grid["file"])
    written.append(write_report(out_dir, summary))
    return written
