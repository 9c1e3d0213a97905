"""The HTML report of an experiment: one static, self-contained ``index.html``.

The page shows what was run (the paper's caption, notes, the config as JSON), the numbers
(point counts, long bars, covering radius, the Klein-bottle readings, Mapper graph sizes
and the Betti numbers of their nerves, test accuracies) in tables, the figures written
beside it (``<img>`` with relative paths: each analysis' barcodes beside its Klein-bottle
density, then its Mapper graphs) and the first interactive Mapper graph inline (an
``<iframe>`` of its ``graph_<tag>.html``), with links to the others. No scripts, no CDN, no network: the folder can be zipped and mailed.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..files import atomic_write_text
from ..validation import InputError
from .static import static_text

__all__ = ["write_report", "report_html"]


def _e(x):
    return html.escape(str(x), quote=True)


def _fmt(value, digits=3):
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return _e(", ".join(str(v) for v in value))
    return _e(value)


def _table(header, rows, text_cols=1):
    out = ["<table>", "<tr>"]
    out += [f'<th class="text">{_e(h)}</th>' if i < text_cols else f"<th>{_e(h)}</th>"
            for i, h in enumerate(header)]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="text">{c}</td>' if i < text_cols else f"<td>{c}</td>"
            for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _klein_cells(a):
    return [_fmt(a.get(k)) for k in ("primary_circle_fraction", "primary_circle_coverage",
                                     "klein_fraction", "off_model_fraction")]


def _analysis_rows(analyses):
    rows = []
    for a in analyses:
        m, b = a.get("mapper") or {}, a.get("barcodes") or {}
        rho = "—" if a.get("k") is None else f"rho({a['k']}, {a['p']})"
        rows.append([
            _e(a.get("tag")), _fmt(a.get("layer")), _fmt(a.get("iteration")),
            _fmt(a.get("n_filters")), _fmt(a.get("n_points")), _e(rho), _fmt(a.get("n_kept", a.get("n_filtered"))),
            _sig_cell(b.get("significant"), b.get("significant_confidence"),
                      b.get("significant_undecided")),
            _fmt(a.get("long_bars")), _fmt(b.get("covering_radius")), *_klein_cells(a),
            _fmt(m.get("nodes")), _fmt(m.get("links")), _fmt(m.get("nerve_betti")),
        ])
    return rows


_KLEIN_HEADER = ["primary-circle fraction", "circle coverage", "Klein fraction",
                 "off-model fraction"]
_ANALYSIS_HEADER = ["analysis", "layer", "iteration", "filters", "normalised", "density filter",
                    "kept", "significant bars (H0, H1, ...)", "long bars (0.2 x scale rule)",
                    "covering radius", *_KLEIN_HEADER,
                    "Mapper nodes", "links", "nerve Betti (b0, b1)"]
_KLEIN_NOTE = ("Readings of k x k filters (cnntopo.topology.klein.klein_readings; larger kernels "
               "area-averaged to 3x3 first, cnntopo.topology.klein_grid), all at Euclidean "
               "radius 0.5 on the unit sphere: the fraction of filters within it of the primary "
               "circle; the circle coverage, 1 when the edges near the circle take every "
               "orientation evenly and 0 when all share one (normalised entropy of 16 "
               "orientation bins); the fraction within it of the Klein-bottle model, and the "
               "rest, off the model. Nerve Betti numbers: components and independent loops of "
               "the Mapper graph's flag complex.")


def _sig_cell(counts, confidence, undecided):
    """``1 (1.00), 1 (0.95)``; "?" where too few points to tell."""
    if counts is None:
        return _fmt(None)
    undecided = undecided or [False] * len(counts)
    return _e(", ".join("?" if u and not c else f"{c} ({p:.2f})"
                        for c, p, u in zip(counts, confidence, undecided)))


_VERDICT_NOTE = ("Significant bars: counts per dimension (H0, H1) from a Monte Carlo test "
                 "against null clouds made the same way (cnntopo.topology.significance), with the share "
                 "of resamples that give the count; ? means too few points to tell. Nerve "
                 "Betti numbers of the Mapper graph, each with the share of bootstrap resamples "
                 "in which every component or loop survives, and the share of neighbouring "
                 "(resolution, gain) that give the same numbers "
                 "(cnntopo.topology.mapper_stats). The reading follows the documented rules of "
                 "cnntopo.verdict.table.reading.")


def _verdict_table(rows):
    """The verdict rows as HTML: the one table formatter
    (:func:`cnntopo.verdict.table.format_table`), an experiment's analysis tag in front."""
    from ..verdict.table import format_table

    if not any(r.get("tag") for r in rows):
        return format_table(rows, style="html")
    labelled = [dict(r, analysis=str(r.get("tag", "")) + (
        "" if r.get("k") is None else f" rho({r['k']}, {r['p']})")) for r in rows]
    return format_table(labelled, style="html", lead=[("analysis", "analysis")])


_READINGS_HEADER = ["layer", "name", "kernel", "filters", "read", "kept", *_KLEIN_HEADER,
                    "note"]
_READINGS_NOTE = ("Light readings, taken at every checkpoint (cnntopo.training.readings."
                  "layer_readings): the Klein-bottle readings of the layer's normalised filters "
                  "(at most max_filters of them, the same seeded subsample every time; kept: "
                  "after the density filtration rho(k, p) where the Watcher was given one). The "
                  "significant bars (b1) come from the significance test (Watcher.close("
                  "significance=True) or cnntopo report RUN --significance).")


def _readings_section(r):
    unit = r.get("unit", "steps")
    out = ['<h2 id="readings">Readings over training</h2>', f"<p>{_e(r.get('line', ''))}</p>",
           _figure(r["file"], f"Each layer's readings against the {unit}", wide=True),
           f"<h3>At {_e(unit.rstrip('s'))} {_fmt(r.get('iteration'))}</h3>"]
    rows = [[_fmt(x.get("layer")), _e(x.get("layer_name")), _e(x.get("kernel", "")),
             _fmt(x.get("n_filters")), _fmt(x.get("n_read")), _fmt(x.get("n_kept")),
             *_klein_cells(x),
             _e(x.get("reason") or x.get("skipped") or "")] for x in r.get("rows") or []]
    out += [_table(_READINGS_HEADER, rows, text_cols=3),
            f'<p class="notes">{_e(_READINGS_NOTE)}</p>']
    return out


def _figure(src, caption, wide=False, narrow=False):
    cls = ' class="wide"' if wide else (' class="narrow"' if narrow else "")
    return (f'<figure{cls}><a href="{_e(src)}"><img src="{_e(src)}" alt="{_e(caption)}"></a>'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def report_html(summary):
    """The report page of `summary` (as :func:`cnntopo.experiments.run_experiment` returns it).

    Returns
    -------
    str
        A complete HTML document; figure paths are the relative names in ``summary``.
    """
    if not isinstance(summary, dict):
        raise TypeError(f"The 'summary' parameter of report_html must be a dict; "
                        f"got {type(summary).__name__}.")
    title = summary.get("title") or summary.get("name") or "cnntopo experiment"
    analyses = summary.get("analyses") or []
    src = summary.get("source") or {}
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             # no favicon request: the page must load with no failed fetches
             '<link rel="icon" href="data:,">',
             f"<title>{_e(title)}</title>", f"<style>{static_text('report.css')}</style>", "</head>", "<body>",
             f"<h1>{_e(title)}</h1>"]
    if summary.get("paper"):
        parts.append(f'<p class="caption">{_e(summary["paper"])}</p>')
    if summary.get("kind") == "run":  # a run directory's report (cnntopo report)
        meta = [f"run directory <b>{_e(summary.get('name', '?'))}</b>"]
    else:
        meta = [f"experiment <b>{_e(summary.get('name', '?'))}</b>",
                f"scale <b>{_e(summary.get('scale', '?'))}</b>"]
    if summary.get("seconds") is not None:
        meta.append(f"{summary['seconds']:.1f} s")
    parts.append(f"<p>{' · '.join(meta)}</p>")
    if summary.get("notes"):
        parts.append(f'<p class="notes">{_e(summary["notes"])}</p>')
    weights = src.get("weights_file")
    if isinstance(weights, dict):  # which pretrained file, checked how, from where
        parts.append(f'<p class="notes" id="weights">Weights: <b>{_e(weights.get("file"))}</b> '
                     f'({_fmt(weights.get("bytes"))} bytes; MD5 <code>{_e(weights.get("md5"))}'
                     f'</code>; SHA-256 <code>{_e(weights.get("sha256"))}</code>), from '
                     f'{_e(weights.get("obtained_from"))}. {_e(weights.get("provenance"))}'
                     + (f' Licence: {_e(weights["licence"])}.' if weights.get("licence") else "")
                     + "</p>")
    if summary.get("scale") not in (None, "paper"):
        parts.append(f'<p class="notes">This is the <b>{_e(summary["scale"])}</b> scale: the '
                     "paper's shape at a smaller size (fewer networks, iterations or points); "
                     "the caption and notes above describe the paper's setting, the "
                     "configuration below what was run.</p>")

    if summary.get("readings"):
        parts += _readings_section(summary["readings"])
    verdict = (summary.get("verdict") or {}).get("rows") or []
    if verdict:
        parts.append('<h2 id="verdict">What the shape is</h2>')
        parts.append(_verdict_table(verdict))
        parts.append(f'<p class="notes">{_e(_VERDICT_NOTE)}</p>')
    if analyses:
        parts.append("<h2>Numbers</h2>")
        parts.append(_table(_ANALYSIS_HEADER, _analysis_rows(analyses)))
        parts.append(f'<p class="notes">{_e(_KLEIN_NOTE)}</p>')
    accs = src.get("test_accuracy") or []
    if accs:
        parts.append("<h3>Test accuracy of the networks</h3>")
        parts.append(_table(["iteration", "networks", "mean", "min", "max"],
                            [[_fmt(r.get("iteration")), _fmt(r.get("n_networks")),
                              _fmt(r.get("mean"), 4), _fmt(r.get("min"), 4),
                              _fmt(r.get("max"), 4)] for r in accs]))

    graphs = [a for a in analyses if (a.get("files") or {}).get("graph_html")]
    if graphs:
        main = graphs[0]["files"]["graph_html"]
        parts.append("<h2>Interactive Mapper graph</h2>")
        parts.append(f'<p>{_e(graphs[0]["tag"])}: hover a node for its size and mean filter; '
                     f'wheel to zoom, drag to pan. <a href="{_e(main)}">Open on its own</a>'
                     + "".join(f' · <a href="{_e(a["files"]["graph_html"])}">{_e(a["tag"])}</a>'
                               for a in graphs[1:]) + "</p>")
        parts.append(f'<iframe id="graph-frame" src="{_e(main)}" title="interactive Mapper graph '
                     f'{_e(graphs[0]["tag"])}"></iframe>')

    if analyses:
        parts.append("<h2>Figures</h2>")
    for a in analyses:
        files = a.get("files") or {}
        parts.append(f'<h3 id="{_e(a["tag"])}">{_e(a["tag"])}</h3>')
        if files.get("barcodes_png"):
            parts.append(_figure(files["barcodes_png"], f"Barcodes, {a['tag']}"))
        if files.get("klein_png"):
            parts.append(_figure(files["klein_png"], f"Density on the Klein bottle, {a['tag']}",
                                 narrow=True))
        if files.get("mapper_png"):
            parts.append(_figure(files["mapper_png"], f"Mapper graph, {a['tag']}, by size"))
        if files.get("mapper_theta_png"):
            parts.append(_figure(files["mapper_theta_png"],
                                 f"Mapper graph, {a['tag']}, by angle on the primary circle"))
        links = [f'<a href="{_e(files[k])}">{label}</a>' for k, label in
                 (("graph_html", "interactive graph"), ("mapper_json", "graph JSON"),
                  ("barcodes_json", "barcodes JSON"), ("filters", "filters .npy (input rows)"),
                  ("points", "points .npy (filtered)")) if files.get(k)]
        if links:
            parts.append(f"<p>{' · '.join(links)}</p>")

    grid = summary.get("grid")
    if grid:
        parts.append("<h2>Evolution over training</h2>")
        parts.append(_figure(grid.get("file", "grid.png"),
                             "Mapper graphs: rows = layers, columns = batch iterations", wide=True))
        rows = []
        for label, cells in zip(grid.get("rows") or [], grid.get("cells") or []):
            for c in cells:
                rows.append([_e(label), _fmt(c.get("iteration")), _fmt(c.get("n_kept", c.get("n_filtered"))),
                             *_klein_cells(c), _fmt(c.get("nodes")), _fmt(c.get("links")),
                             _fmt(c.get("nerve_betti"))])
        parts.append(_table(["row", "iteration", "points", *_KLEIN_HEADER, "Mapper nodes",
                             "links", "nerve Betti (b0, b1)"], rows))

    config = summary.get("config")
    if config is not None:
        parts.append("<h2>Configuration</h2>")
        parts.append(f"<pre>{_e(json.dumps(config, indent=2))}</pre>")
    parts.append('<p class="muted">Written by cnntopo; numbers also in '
                 '<a href="summary.json">summary.json</a>.</p>')
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(out_dir, summary):
    """Write ``out_dir/index.html`` (atomically) for `summary`; return its path.

    Parameters
    ----------
    out_dir : path-like
        The experiment folder holding the figures named in `summary`.
    summary : dict
        As returned by :func:`cnntopo.experiments.run_experiment`.

    Returns
    -------
    pathlib.Path
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"The 'out_dir' parameter of write_report must be a folder; "
                         f"{str(out_dir)!r} is a file.")
    path = out_dir / "index.html"
    atomic_write_text(path, report_html(summary))
    return path
