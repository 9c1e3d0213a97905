"""A Mapper graph as one self-contained, interactive HTML page.

No CDN and no external files: the SVG, the style, the script and the data all sit inside
the page, so it opens offline and can be attached to a report or an e-mail.
"""

from __future__ import annotations

import html
import json

import numpy as np

from ..files import atomic_write_text
from ..topology.layout import MapperLayout, node_positions
from ..validation import InputError, checked_graph
from .static import static_text

__all__ = ["mapper_html", "write_mapper_html"]

_VIEW = 1.15  # half-width of the initial view box; positions lie in the unit disc


# Plain ES2015, no libraries. Event delegation on the SVG: one listener for all nodes.


def _plain(value):
    """NumPy scalars as Python ones, so node ids serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _hex(rgba):
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgba[:3])


def _json_for_script(obj):
    # "<", ">" and "&" as JSON escapes: nothing inside can close the <script> element.
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _legend_scale(colours, colormap, shown):
    """The colour bar of one colouring: label, gradient, end values."""
    stops = "".join(f'<stop offset="{t:.2f}" stop-color="{_hex(colormap(t))}"></stop>'
                    for t in np.linspace(0, 1, 11))
    if colours.circular:
        lo, hi = "0", "2\u03c0"
    elif colours.integer:
        lo, hi = f"{colours.vmin:.0f}", f"{colours.vmax:.0f}"
    else:
        lo, hi = f"{colours.vmin:.3g}", f"{colours.vmax:.3g}"
    key = html.escape(colours.key)
    return (f'<div class="scale{" shown" if shown else ""}" data-key="{key}">'
            f'<div>{html.escape(colours.label)}</div>'
            '<svg width="150" height="34" xmlns="http://www.w3.org/2000/svg">'
            f'<defs><linearGradient id="grad-{key}">{stops}</linearGradient></defs>'
            f'<rect x="5" y="2" width="140" height="12" fill="url(#grad-{key})" stroke="#444" '
            'stroke-width="0.5"></rect>'
            f'<text x="5" y="28" font-size="11">{lo}</text>'
            f'<text x="145" y="28" font-size="11" text-anchor="end">{hi}</text></svg></div>')


def _colourings(graph, colours, cmap, fn):
    from .colours import NodeColours, node_colours

    if colours is None:
        return [node_colours(graph, "size", cmap=cmap)]
    if isinstance(colours, NodeColours):
        colours = [colours]
    colours = list(colours)
    keys = [c.key for c in colours if isinstance(c, NodeColours)]
    if len(keys) != len(colours) or not colours:
        raise TypeError(f"The 'colours' parameter of {fn} must be a NodeColours or a non-empty "
                        f"list of them (cnntopo.viz.colours.node_colours).")
    if len(set(keys)) != len(keys):
        raise InputError(f"The 'colours' parameter of {fn} must have distinct keys; got {keys}.")
    for c in colours:
        if len(c.values) != len(graph["nodes"]):
            raise InputError(f"The 'colours' parameter of {fn} must hold one value per node "
                             f"({len(graph['nodes'])}); {c.key!r} has {len(c.values)}.")
    return colours


def mapper_html(graph, points, *, shape=(3, 3), title="Mapper graph", positions=None, seed=0,
                cmap="jet", colours=None, rows=None, confidence=None):
    """Render a Mapper graph as one self-contained interactive HTML page.

    The page holds an inline SVG of the graph, its nodes coloured by the first of
    `colours` (default: size, blue = smallest, red = largest) with a colour bar that names
    the value; with several colourings a selector switches between them. A small script:
    hovering a node shows a tooltip with its id, its size, its value and its mean filter
    drawn as an ``h x w`` grey grid; the mouse wheel zooms, a drag pans, a double click
    resets the view. No external files or network access.

    Selectors, for browser tests and for scripting the page:

    - ``svg#graph``: the graph; ``circle.node[data-id="<id>"]``: one per node, with
      ``data-size``; ``line.link``: one per link;
    - ``select#colour-by`` (only with several colourings), one ``option`` per colouring;
      ``.scale[data-key="<key>"]``: the colour bar of each, the shown one with class
      ``shown``;
    - ``#tooltip``: the tooltip (``display: block`` while a node is hovered), holding an
      ``svg.filter`` with ``h*w`` ``rect`` cells;
    - ``script#mapper-data`` (``type="application/json"``): the data, ``{"title", "shape",
      "viewBox", "colourings": [{"key", "label"}], "nodes": [{"id", "size", "members",
      "mean", "x", "y", "colour", "colours": {key: colour}, "values": {key: value}}],
      "links": [[source_id, target_id], ...]}``; ``mean`` is the row-major mean filter of
      the node's members, ``members`` as in the Mapper JSON (see `rows`).

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph (nodes with ``"id"``, ``"members"``, ``"size"``; edges under
        ``"links"``).
    points : array-like of shape (n, h*w)
        The point cloud the members index into.
    shape : (int, int)
        ``(h, w)`` of a filter.
    title : str
        Page title and heading.
    positions : MapperLayout or dict, optional
        The layout to draw: a :class:`cnntopo.topology.layout.MapperLayout` (the one the figure drew,
        so the two pictures match) or ``{node_id: (x, y)}``, rescaled into the unit disc.
        Default: :func:`cnntopo.topology.layout.node_positions` with `seed`.
    seed : int
        Seed of the layout when `positions` is not given.
    cmap : str
        Colour map of node size when `colours` is None.
    colours : NodeColours or list of NodeColours, optional
        The colourings offered (:func:`cnntopo.viz.colours.node_colours`), the first shown.
    rows : array-like of int, shape (n,), optional
        The input row of each point (:attr:`cnntopo.cloud.prepare.PreparedPoints.rows`): the
        page's ``members`` are then rows of the input, as in the Mapper JSON, rather than
        indices into `points`.
    confidence : cnntopo.topology.mapper_stats.MapperConfidence, optional
        Shown beside the graph (``#confidence``): the nerve's Betti numbers, the bootstrap
        confidence of each component and loop, and the stability over neighbouring
        parameters; also in the data as ``"confidence"``.

    Returns
    -------
    str
        The HTML page.
    """
    from matplotlib import colormaps

    fn = "mapper_html"
    points, (h, w), ids, members, sizes, edges = checked_graph(graph, points, shape, fn)
    if isinstance(positions, MapperLayout):
        positions = positions.positions
    pos = node_positions(graph, points, seed=seed,
                         layout="spring" if positions is None else positions)
    colourings = _colourings(graph, colours, cmap, fn)
    if rows is not None:
        rows = np.asarray(rows)
        if rows.shape != (len(points),) or rows.dtype.kind not in "iu":
            raise InputError(f"The 'rows' parameter of {fn} must be an int array with one input "
                             f"row per point, shape ({len(points)},); got {rows.dtype}, "
                             f"shape {rows.shape}.")
    colormaps_ = [colormaps[c.cmap] for c in colourings]
    hexes = [[_hex(cm(t)) for t in c.scaled()] for c, cm in zip(colourings, colormaps_)]
    n = len(ids)
    radius = float(np.clip(0.6 / np.sqrt(max(n, 1)), 0.006, 0.05))
    rel = np.sqrt(sizes / sizes.max()) if n else sizes

    nodes = []
    for i, node_id in enumerate(ids):
        x, y = pos[node_id]
        m = members[i] if rows is None else rows[members[i]]
        nodes.append({
            "id": _plain(node_id),
            "size": int(sizes[i]),
            "members": [int(v) for v in m],
            "mean": [round(float(v), 5) for v in points[members[i]].mean(axis=0)],
            "x": round(x, 5), "y": round(y, 5),
            "colour": hexes[0][i],
            "colours": {c.key: hx[i] for c, hx in zip(colourings, hexes)},
            "values": {c.key: round(float(c.values[i]), 6) for c in colourings},
        })
    view_box = [-_VIEW, -_VIEW, 2 * _VIEW, 2 * _VIEW]
    data = {"title": str(title), "shape": [h, w], "viewBox": view_box,
            "confidence": None if confidence is None else confidence.to_dict(),
            "colourings": [{"key": c.key, "label": c.label} for c in colourings],
            "nodes": nodes,
            "links": [[_plain(ids[a]), _plain(ids[b])] for a, b in edges]}

    stroke = 0.004 if n < 200 else 0.002
    svg = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="{" ".join(map(str, view_box))}" preserveAspectRatio="xMidYMid meet">',
           f'<g class="links" stroke-width="{stroke}">']
    for a, b in edges:
        xa, ya = pos[ids[a]]
        xb, yb = pos[ids[b]]
        # SVG's y axis points down; flip so the page matches the matplotlib figure.
        svg.append(f'<line class="link" x1="{xa:.5f}" y1="{-ya:.5f}" x2="{xb:.5f}" '
                   f'y2="{-yb:.5f}"></line>')
    svg.append(f'</g><g class="nodes" stroke-width="{stroke / 2:.4f}">')
    for i in np.argsort(sizes, kind="stable"):  # large nodes on top, as in the figure
        node = nodes[i]
        r = radius * (0.55 + 0.45 * rel[i])
        svg.append(f'<circle class="node" data-id="{html.escape(str(node["id"]))}" '
                   f'data-size="{node["size"]}" cx="{node["x"]:.5f}" cy="{-node["y"]:.5f}" '
                   f'r="{r:.5f}" fill="{node["colour"]}"></circle>')
    svg.append("</g></svg>")

    select = ""
    if len(colourings) > 1:
        options = "".join(f'<option value="{html.escape(c.key)}">{html.escape(c.key)}</option>'
                          for c in colourings)
        select = (f'<label>colour by <select id="colour-by">{options}</select></label>')
    scales = "".join(_legend_scale(c, cm, i == 0)
                     for i, (c, cm) in enumerate(zip(colourings, colormaps_)))
    legend = (
        f'<div id="legend">{select}{scales}'
        f'<div>{n} nodes, {len(edges)} links</div>{_confidence_panel(confidence)}'
        '<p class="hint">Hover a node for its mean filter.<br>Wheel: zoom; drag: pan;'
        '<br>double click: reset.</p></div>')
    t = html.escape(str(title))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        # no favicon request: the page opened on its own makes no failed fetch
        '<link rel="icon" href="data:,">', f"<title>{t}</title>", f"<style>{static_text('graph.css')}</style>", "</head>", "<body>",
        f"<h1>{t}</h1>", '<div id="wrap">', "".join(svg), legend, "</div>",
        '<div id="tooltip"></div>',
        f'<script type="application/json" id="mapper-data">{_json_for_script(data)}</script>',
        f"<script>{static_text('graph.js')}</script>", "</body>", "</html>", ""])


def _confidence_panel(confidence):
    """The nerve's numbers and their bootstrap confidence, as a small table."""
    if confidence is None:
        return ""
    b0, b1 = confidence.nerve_betti[:2]
    c0, c1 = confidence.betti_confidence[:2]
    rows = [f'<tr><td>{html.escape(f["kind"])}</td><td>{f["persistence"]:.3g}</td>'
            f'<td>{f["confidence"]:.2f}</td></tr>'
            for f in sorted(confidence.features, key=lambda f: (f["kind"], -f["confidence"]))]
    return (f'<div id="confidence"><p>nerve b0 = {b0} (confidence {c0:.2f}), b1 = {b1} '
            f'(confidence {c1:.2f})<br>stability over neighbouring parameters: '
            f'{confidence.stability:.2f}<br>{confidence.n_bootstrap} bootstrap resamples</p>'
            '<table><tr><th>feature</th><th>span</th><th>confidence</th></tr>'
            + "".join(rows) + "</table></div>")


def write_mapper_html(path, graph, points, **kwargs):
    """Write :func:`mapper_html` of `graph` and `points` to `path` atomically.

    Keyword arguments go to :func:`mapper_html`. Returns the path as given.
    """
    atomic_write_text(path, mapper_html(graph, points, **kwargs))
    return path
