"""Results that show themselves in a notebook: the HTML behind the ``_repr_html_`` hooks.

Jupyter (and VS Code, and anything that honours IPython's rich display) calls
``_repr_html_`` on the last value of a cell. Three kinds of results have one:

- a :class:`~cnntopo.verdict.analysis.CloudAnalysis` (:func:`cnntopo.analyse`):
  :func:`analysis_html`;
- a row of a describe frame (``df.iloc[i]``, a :class:`~cnntopo.verdict.frame.DescribeRow`):
  :func:`row_html`, the analysis the frame kept for that layer;
- a :class:`~cnntopo.Watcher` (or, through :func:`show`, any run directory): :func:`run_html`.

Each shows the verdict in numbers (the one table, :func:`cnntopo.verdict.table.format_table`),
the barcodes, the density on the Klein bottle and the interactive Mapper view with its hover
panel (:func:`cnntopo.viz.graph_html.mapper_html`). The output is self-contained: pictures
are PNG data URIs, the Mapper page sits in an ``<iframe srcdoc>`` with its script and style
inline; nothing is fetched, and several views in one notebook do not share ids or styles.

What the result does not hold is computed at display, cheaply: lazy witness barcodes on the
significance test's landmarks, and a Mapper graph (the paper's PCA lenses, Mapper(10, 3), no
bootstrap) for clouds up to :data:`MAX_DISPLAY_MAPPER` points; ``describe(..., mapper=...)``
makes the graph itself, with its confidence.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ..validation import InputError

__all__ = ["View", "show", "analysis_html", "row_html", "run_html", "MAX_DISPLAY_MAPPER",
           "DISPLAY_MAPPER"]

#: Largest cloud whose Mapper graph is made at display when the result has none.
MAX_DISPLAY_MAPPER = 20_000
#: The Mapper graph made at display: (resolution, gain), no bootstrap.
DISPLAY_MAPPER = (10, 3.0)
_STYLE = ("<style>.cnntopo-view{font-family:system-ui,sans-serif;font-size:13px;"
          "max-width:1100px}.cnntopo-view h3{margin:.4em 0}.cnntopo-view table.verdict{"
          "border-collapse:collapse;margin:.3em 0}.cnntopo-view table.verdict td,"
          ".cnntopo-view table.verdict th{border:1px solid #ccc;padding:2px 6px;"
          "text-align:right}.cnntopo-view table.verdict td.text,"
          ".cnntopo-view table.verdict th.text{text-align:left}"
          ".cnntopo-view .pictures{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}"
          ".cnntopo-view .pictures img{max-width:520px;height:auto}"
          ".cnntopo-view iframe{width:100%;height:640px;border:1px solid #ccc}"
          ".cnntopo-view .note{color:#555}.cnntopo-view .muted{color:#999}</style>")


class View:
    """HTML that a notebook shows (``_repr_html_``), and can save as a page.

    Attributes
    ----------
    html : str
        The fragment (one ``<div class="cnntopo-view">``, self-contained).
    """

    def __init__(self, fragment):
        self.html = fragment

    def _repr_html_(self):
        return self.html

    def save(self, path):
        """Write the view as a whole page (atomically); returns the path."""
        from ..files import atomic_write_text

        page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<link rel=\"icon\" href=\"data:,\"><title>cnntopo</title></head><body>"
                f"{self.html}</body></html>\n")
        atomic_write_text(path, page)
        return Path(path)


def _png(fig, dpi=90):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri, alt):
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _note(text):
    return f'<p class="note">{html.escape(text)}</p>'


def _barcodes(result, caption):
    from ..topology.witness import lazy_witness_barcodes, long_bars
    from .draw import barcodes_title
    from .plots import plot_barcodes

    bars, sig = result.barcodes, result.significance
    if bars is None:
        n = result.significance_landmarks or min(100, len(result.points))
        if len(result.points) < 3:
            return _note("Too few points for barcodes.")
        seed = 0 if result.spec.significance is None else result.spec.significance.seed
        bars = lazy_witness_barcodes(result.points, int(n), seed=seed)
    counts = ([int(long_bars(d, scale=bars.scale)) for d in bars.diagrams] if sig is None
              else [int(c) for c in sig.counts][:len(bars.diagrams)])  # H2: drawn to maxdim only
    fig = plot_barcodes(bars.diagrams, title=barcodes_title(f"Barcodes of {caption}", sig),
                        long_counts=counts)
    return _img(_png(fig), f"barcodes of {caption}")


def _klein(result, caption):
    from ..topology.klein import klein_histogram
    from .plots import plot_klein_density

    r = result.klein
    if r is None:
        return _note("No Klein-bottle picture: the filters are not k x k with k >= 3.")
    near = r.klein_distance <= r.radius
    counts, theta_edges, phi_edges = klein_histogram(r.theta[near], r.phi[near])
    fig = plot_klein_density(counts, theta_edges, phi_edges, n_total=r.n_points,
                             radius=r.radius, title=f"Klein bottle, {caption}")
    return _img(_png(fig), f"density on the Klein bottle, {caption}")


def _display_graph(result):
    """The result's graph, layout and confidence, or one made now (no bootstrap)."""
    from ..topology.layout import mapper_layout
    from ..verdict.analysis import mapper_of, mapper_spec

    if result.graph is not None:
        layout = result.layout
        if layout is None:
            layout = mapper_layout(result.graph, result.points, shape=result.shape,
                                   seed=result.spec.mapper.seed if result.spec.mapper else 0)
        return result.graph, layout, result.mapper_confidence, None
    n = len(result.points)
    if n > MAX_DISPLAY_MAPPER:
        return None, None, None, (f"No Mapper graph: {n:,} points are more than the view makes "
                                  f"at display ({MAX_DISPLAY_MAPPER:,}); ask describe(..., "
                                  f"mapper=('auto', 'auto')) or analyse with a MapperSpec.")
    try:
        graph, _, conf = mapper_of(result.points, mapper_spec(DISPLAY_MAPPER, n_bootstrap=0))
        layout = mapper_layout(graph, result.points, shape=result.shape, seed=0)
    except InputError as exc:
        return None, None, None, f"No Mapper graph: {exc}"
    return graph, layout, conf, (f"Mapper{DISPLAY_MAPPER[0], DISPLAY_MAPPER[1]} made for this "
                                 f"view (no bootstrap); describe(..., mapper=...) makes one "
                                 f"with its confidence.")


def _mapper(result, caption):
    from .colours import node_colourings
    from .draw import mapper_title
    from .graph_html import mapper_html

    graph, layout, conf, note = _display_graph(result)
    if graph is None:
        return _note(note)
    colourings = node_colourings(graph, points=result.points, meta=result.meta,
                                 readings=result.klein)
    page = mapper_html(graph, result.points, shape=result.shape, positions=layout,
                       title=mapper_title(graph, caption, conf), colours=list(colourings),
                       rows=result.prepared.rows, confidence=conf)
    frame = (f'<iframe class="mapper" title="Mapper graph of {html.escape(caption)}" '
             f'srcdoc="{html.escape(page, quote=True)}"></iframe>')
    return frame + (_note(note) if note else "")


def _table(rows):
    from ..verdict.table import format_table

    return format_table(rows, style="html")


def analysis_html(result, *, title=None, row=None):
    """The notebook view of one analysis: its verdict row, barcodes, Klein bottle, Mapper.

    Parameters
    ----------
    result : cnntopo.verdict.analysis.CloudAnalysis
    title : str, optional
        What the cloud is (default: its layer and checkpoint).
    row : dict, optional
        The row to show in the table (default ``result.row``).

    Returns
    -------
    str
        An HTML fragment, self-contained.
    """
    row = dict(result.row if row is None else row)
    if title is None:
        where = [f"layer {row['layer']}" if row.get("layer") is not None else "points",
                 *([str(row["layer_name"])] if row.get("layer_name") else []),
                 *([f"iteration {row['iteration']}"] if row.get("iteration") is not None
                   else [])]
        title = ", ".join(where)
    caption = f"{title} ({result.prepared.n_kept:,} points)"
    parts = [f'<div class="cnntopo-view">{_STYLE}<h3>{html.escape(title)}</h3>',
             _table([row]),
             '<div class="pictures">', _barcodes(result, title), _klein(result, title),
             "</div>", _mapper(result, caption), "</div>"]
    return "".join(parts)


def _plain_row(row):
    """A DescribeRow as a dict of Python values (NA as None)."""
    out = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and value != value) or \
                type(value).__name__ == "NAType":
            value = None
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def row_html(row):
    """The notebook view of a describe row (``df.iloc[i]``): its analysis, or its numbers.

    Parameters
    ----------
    row : cnntopo.verdict.frame.DescribeRow or pandas.Series or dict

    Returns
    -------
    str
    """
    plain = _plain_row(row)
    analysis = getattr(row, "analysis", None)
    if analysis is not None:
        return analysis_html(analysis, row=plain)
    why = (f"skipped: {plain.get('reason')}" if plain.get("status") == "skipped" else
           "The frame keeps no analysis for this row (read from a file, or "
           "describe(..., keep_analyses=False)): only the numbers.")
    title = f"layer {plain.get('layer')}" + (f", {plain['layer_name']}"
                                             if plain.get("layer_name") else "")
    return (f'<div class="cnntopo-view">{_STYLE}<h3>{html.escape(title)}</h3>'
            f"{_table([plain])}{_note(why)}</div>")


def run_html(run_dir, *, layer=None, iteration=None):
    """The notebook view of a run directory (a Watcher's or ``cnntopo train``'s).

    The readings over the steps (:func:`cnntopo.viz.watch.plot_run_readings`), the verdict
    rows where they were computed (``Watcher.close(significance=True)``), and one snapshot's
    layer analysed for its pictures (:func:`analysis_html`).

    Parameters
    ----------
    run_dir : path-like
    layer : int or str, optional
        The layer to picture (default: the first with k x k filters, k >= 3).
    iteration : int, optional
        Its checkpoint (default: the last).

    Returns
    -------
    str
    """
    from ..sources.rundir import read_manifest
    from ..training.readings import read_verdict, run_readings
    from ..verdict.analysis import AnalysisSpec
    from ..verdict.layers import analyse_layers
    from .watch import plot_run_readings

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    rows = run_readings(run_dir)
    if not rows:
        return (f'<div class="cnntopo-view">{_STYLE}<h3>{html.escape(str(run_dir))}</h3>'
                f"{_note('No snapshot yet.')}</div>")
    verdict = (read_verdict(run_dir) or {}).get("rows") or []
    unit = "step" if manifest["config"].get("kind") == "watch" else "iteration"
    fig = plot_run_readings(rows, verdict, unit=unit,
                            title=f"{run_dir.name}: the filters' topology over training")
    parts = [f'<div class="cnntopo-view">{_STYLE}<h3>Run {html.escape(run_dir.name)}: '
             f'{len(manifest["checkpoints"])} snapshots</h3>',
             _img(_png(fig, dpi=80), "readings over training")]
    if verdict:
        parts += ["<h3>Verdict</h3>", _table(verdict)]
    last = iteration if iteration is not None else max(r["iteration"] for r in rows)
    if layer is None:
        three = [r for r in rows if r["iteration"] == last and r.get("status") == "ok"
                 and r.get("primary_circle_fraction") is not None]
        layer = three[0]["layer"] if three else 1
    # the pictures of one snapshot's layer, read as the Watcher reads it (its rho(k, p));
    # the numbers are the verdict's where close(significance=True) computed it, else the
    # light readings': the display runs no significance test
    density = manifest["config"].get("density")
    spec = AnalysisSpec(k=density[0] if density else None, p=density[1] if density else None,
                        significance=None)
    done = analyse_layers(run_dir, [layer], [last], spec=spec, progress=False)
    snap = done[0]
    number = snap.row["layer"]
    shown = next((r for r in verdict if (r["iteration"], r["layer"]) == (last, number)), None) \
        or next((dict(r, reading=None) for r in rows
                 if (r["iteration"], r["layer"]) == (last, number)), snap.row)
    if snap.analysis is None:
        parts.append(_note(f"layer {number} at {unit} {last}: {snap.row['reason']}"))
    else:
        parts.append(analysis_html(snap.analysis, row=shown, title=(
            f"layer {number} {snap.row['layer_name']} at {unit} {last}")))
    parts.append("</div>")
    return "".join(parts)


def show(obj, **kwargs):
    """The notebook view of a result, as an object a notebook displays.

    Parameters
    ----------
    obj : CloudAnalysis, describe row or frame, Watcher, or path-like
        An analysis; a row of a describe frame (a frame: its first row, or ``row=i``); a
        Watcher or a run directory (``layer=``, ``iteration=`` as :func:`run_html`).

    Returns
    -------
    View
        ``view.html`` is the fragment; ``view.save(path)`` writes a page.
    """
    from ..verdict.analysis import CloudAnalysis

    if isinstance(obj, CloudAnalysis):
        return View(analysis_html(obj, **kwargs))
    if hasattr(obj, "iloc") and hasattr(obj, "columns"):
        return View(row_html(obj.iloc[int(kwargs.pop("row", 0))]))
    if hasattr(obj, "index") and hasattr(obj, "items"):
        return View(row_html(obj))
    if hasattr(obj, "out_dir") and hasattr(obj, "snapshots"):
        return View(run_html(obj.out_dir, **kwargs))
    if isinstance(obj, (str, Path)):
        return View(run_html(obj, **kwargs))
    raise InputError(f"The 'obj' parameter of show must be a CloudAnalysis, a describe row or "
                     f"frame, a Watcher or a run directory; got {type(obj).__name__}.")
