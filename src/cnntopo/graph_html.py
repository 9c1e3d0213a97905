"""A Mapper graph as one self-contained, interactive HTML page.

No CDN and no external files: the SVG, the style, the script and the data all sit inside
the page, so it opens offline and can be attached to a report or an e-mail.
"""

from __future__ import annotations

import html
import json

import numpy as np

from ._io import atomic_write_text
from .layout import MapperLayout, _checked_graph, node_positions

__all__ = ["mapper_html", "write_mapper_html"]

_VIEW = 1.15  # half-width of the initial view box; positions lie in the unit disc

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; font-weight: 600; margin: 0 0 .4em 0; }
#wrap { display: flex; gap: 1em; align-items: flex-start; }
#graph { width: min(80vh, 75vw); height: min(80vh, 75vw); border: 1px solid #ccc;
         background: #fff; cursor: grab; touch-action: none; }
#graph.dragging { cursor: grabbing; }
line.link { stroke: #777; stroke-linecap: round; }
circle.node { stroke: #222; cursor: pointer; }
circle.node.hover { stroke: #000; stroke-width: 2.5; }
#legend { font-size: .85em; }
#legend select { font-size: 1em; margin-bottom: .4em; }
.scale { display: none; }
.scale.shown { display: block; }
#tooltip { position: fixed; display: none; pointer-events: none; background: #fff;
           border: 1px solid #888; border-radius: 4px; padding: 6px 8px; font-size: .85em;
           box-shadow: 0 2px 6px rgba(0,0,0,.25); z-index: 10; }
#tooltip svg { display: block; margin-top: 4px; }
.hint { color: #666; font-size: .8em; }
"""

# Plain ES2015, no libraries. Event delegation on the SVG: one listener for all nodes.
_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mapper-data").textContent);
  var byId = {};
  data.nodes.forEach(function (n) { byId[String(n.id)] = n; });
  var svg = document.getElementById("graph");
  var tip = document.getElementById("tooltip");
  var h = data.shape[0], w = data.shape[1];
  var labels = {};
  data.colourings.forEach(function (c) { labels[c.key] = c.label; });
  var current = data.colourings[0].key;

  // Colour the nodes by another value: each node carries its colour per colouring.
  function colourBy(key) {
    current = key;
    var circles = svg.querySelectorAll ? svg.querySelectorAll("circle.node") : [];
    Array.prototype.forEach.call(circles, function (c) {
      var n = byId[c.getAttribute("data-id")];
      if (n) { c.setAttribute("fill", n.colors[key]); }
    });
    var scales = document.querySelectorAll ? document.querySelectorAll(".scale") : [];
    Array.prototype.forEach.call(scales, function (s) {
      if (s.getAttribute("data-key") === key) { s.classList.add("shown"); }
      else { s.classList.remove("shown"); }
    });
  }
  var select = document.getElementById("colour-by");
  if (select) {
    select.addEventListener("change", function () { colourBy(select.value); });
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function filterSvg(mean) {
    var m = 0, cell = 14, out = [], i;
    for (i = 0; i < mean.length; i++) { m = Math.max(m, Math.abs(mean[i])); }
    if (m === 0) { m = 1; }
    out.push('<svg class="filter" width="' + (w * cell) + '" height="' + (h * cell) + '">');
    for (i = 0; i < mean.length; i++) {
      var g = Math.round(127.5 + 127.5 * mean[i] / m);
      out.push('<rect x="' + ((i % w) * cell) + '" y="' + (Math.floor(i / w) * cell) +
               '" width="' + cell + '" height="' + cell + '" fill="rgb(' + g + ',' + g + ',' +
               g + ')"></rect>');
    }
    out.push("</svg>");
    return out.join("");
  }
  function place(evt) {
    tip.style.left = (evt.clientX + 14) + "px";
    tip.style.top = (evt.clientY + 14) + "px";
  }
  svg.addEventListener("mouseover", function (evt) {
    var t = evt.target;
    if (!t.classList || !t.classList.contains("node")) { return; }
    var n = byId[t.getAttribute("data-id")];
    if (!n) { return; }
    t.classList.add("hover");
    var value = "";
    if (current !== "size" && n.values && current in n.values) {
      value = "<br>" + esc(labels[current]) + ": " + Number(n.values[current]).toPrecision(3);
    }
    tip.innerHTML = "<b>node " + esc(n.id) + "</b><br>" + n.size + " points" + value +
                    "<br>mean filter (" + h + "&times;" + w + "):" + filterSvg(n.mean);
    tip.style.display = "block";
    place(evt);
  });
  svg.addEventListener("mousemove", function (evt) {
    if (tip.style.display === "block") { place(evt); }
  });
  svg.addEventListener("mouseout", function (evt) {
    var t = evt.target;
    if (t.classList && t.classList.contains("node")) {
      t.classList.remove("hover");
      tip.style.display = "none";
    }
  });

  // Zoom (wheel, about the cursor) and pan (drag) by editing the viewBox.
  var vb = data.viewBox.slice();
  function apply() { svg.setAttribute("viewBox", vb.join(" ")); }
  function toGraph(evt) {
    var r = svg.getBoundingClientRect();
    return [vb[0] + (evt.clientX - r.left) / r.width * vb[2],
            vb[1] + (evt.clientY - r.top) / r.height * vb[3]];
  }
  svg.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    var p = toGraph(evt), f = evt.deltaY > 0 ? 1.15 : 1 / 1.15;
    vb = [p[0] - (p[0] - vb[0]) * f, p[1] - (p[1] - vb[1]) * f, vb[2] * f, vb[3] * f];
    apply();
  }, {passive: false});
  var drag = null;
  svg.addEventListener("mousedown", function (evt) {
    drag = {x: evt.clientX, y: evt.clientY, vb: vb.slice()};
    svg.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (evt) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect();
    vb[0] = drag.vb[0] - (evt.clientX - drag.x) / r.width * vb[2];
    vb[1] = drag.vb[1] - (evt.clientY - drag.y) / r.height * vb[3];
    apply();
  });
  window.addEventListener("mouseup", function () {
    drag = null;
    svg.classList.remove("dragging");
  });
  svg.addEventListener("dblclick", function () { vb = data.viewBox.slice(); apply(); });
})();
"""


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
    from .node_colours import NodeColours, node_colours

    if colours is None:
        return [node_colours(graph, "size", cmap=cmap)]
    if isinstance(colours, NodeColours):
        colours = [colours]
    colours = list(colours)
    keys = [c.key for c in colours if isinstance(c, NodeColours)]
    if len(keys) != len(colours) or not colours:
        raise TypeError(f"The 'colours' parameter of {fn} must be a NodeColours or a non-empty "
                        f"list of them (cnntopo.node_colours.node_colours).")
    if len(set(keys)) != len(keys):
        raise ValueError(f"The 'colours' parameter of {fn} must have distinct keys; got {keys}.")
    for c in colours:
        if len(c.values) != len(graph["nodes"]):
            raise ValueError(f"The 'colours' parameter of {fn} must hold one value per node "
                             f"({len(graph['nodes'])}); {c.key!r} has {len(c.values)}.")
    return colours


def mapper_html(graph, points, *, shape=(3, 3), title="Mapper graph", positions=None, seed=0,
                cmap="jet", colours=None, rows=None):
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
      "mean", "x", "y", "color", "colors": {key: colour}, "values": {key: value}}],
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
        The layout to draw: a :class:`cnntopo.layout.MapperLayout` (the one the figure drew,
        so the two pictures match) or ``{node_id: (x, y)}``, rescaled into the unit disc.
        Default: :func:`cnntopo.layout.node_positions` with `seed`.
    seed : int
        Seed of the layout when `positions` is not given.
    cmap : str
        Colour map of node size when `colours` is None.
    colours : NodeColours or list of NodeColours, optional
        The colourings offered (:func:`cnntopo.node_colours.node_colours`), the first shown.
    rows : array-like of int, shape (n,), optional
        The input row of each point (:attr:`cnntopo.pipeline.PreparedPoints.rows`): the
        page's ``members`` are then rows of the input, as in the Mapper JSON, rather than
        indices into `points`.

    Returns
    -------
    str
        The HTML page.
    """
    from matplotlib import colormaps

    fn = "mapper_html"
    points, (h, w), ids, members, sizes, edges = _checked_graph(graph, points, shape, fn)
    if isinstance(positions, MapperLayout):
        positions = positions.positions
    pos = node_positions(graph, points, seed=seed,
                         layout="spring" if positions is None else positions)
    colourings = _colourings(graph, colours, cmap, fn)
    if rows is not None:
        rows = np.asarray(rows)
        if rows.shape != (len(points),) or rows.dtype.kind not in "iu":
            raise ValueError(f"The 'rows' parameter of {fn} must be an int array with one input "
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
            "color": hexes[0][i],
            "colors": {c.key: hx[i] for c, hx in zip(colourings, hexes)},
            "values": {c.key: round(float(c.values[i]), 6) for c in colourings},
        })
    view_box = [-_VIEW, -_VIEW, 2 * _VIEW, 2 * _VIEW]
    data = {"title": str(title), "shape": [h, w], "viewBox": view_box,
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
                   f'r="{r:.5f}" fill="{node["color"]}"></circle>')
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
        f'<div>{n} nodes, {len(edges)} links</div>'
        '<p class="hint">Hover a node for its mean filter.<br>Wheel: zoom; drag: pan;'
        '<br>double click: reset.</p></div>')
    t = html.escape(str(title))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        # no favicon request: the page opened on its own makes no failed fetch
        '<link rel="icon" href="data:,">', f"<title>{t}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{t}</h1>", '<div id="wrap">', "".join(svg), legend, "</div>",
        '<div id="tooltip"></div>',
        f'<script type="application/json" id="mapper-data">{_json_for_script(data)}</script>',
        f"<script>{_SCRIPT}</script>", "</body>", "</html>", ""])


def write_mapper_html(path, graph, points, **kwargs):
    """Write :func:`mapper_html` of `graph` and `points` to `path` atomically.

    Keyword arguments go to :func:`mapper_html`. Returns the path as given.
    """
    atomic_write_text(path, mapper_html(graph, points, **kwargs))
    return path
