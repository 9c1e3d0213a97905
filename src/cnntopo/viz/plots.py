"""Figures: barcodes, Mapper graphs with mean-filter thumbnails, evolution grids.

Everything here draws on :class:`matplotlib.figure.Figure` objects created directly (no
pyplot, no backend chosen at import), so it runs headless and never opens a window.
Inputs are the plain data of the compute modules:

- barcodes: a list of ``(m_q, 2)`` arrays ``[birth, death]``, one per dimension
  ``q = 0, 1, ...``, ``np.inf`` for a bar that never dies;
- Mapper graphs: a networkx node-link dict whose nodes carry ``"members"`` (row indices
  into the point array) and whose edges sit under ``"links"`` (or ``"edges"``);
- points: an ``(n, h*w)`` array of normalised spatial filters, row ``i`` reshaped
  row-major to ``shape = (h, w)``.

Node colour is, by default, the number of points of the node, blue (smallest) to red
(largest), as in the paper, or any per-node value (:mod:`cnntopo.viz.colours`); beside
the graph the mean filters of a spread of nodes are drawn as grey thumbnails, each joined
to its node by a thin line. Where the nodes and thumbnails go is computed in
:mod:`cnntopo.topology.layout`; this module only draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_open
from ..validation import InputError, checked_graph

__all__ = ["plot_barcodes", "plot_mapper", "plot_evolution_grid", "plot_klein_density",
           "plot_atlas", "save_figure", "MapperDrawing"]

_BAR_COLOR = "#1f3f8f"
_LONG_BAR_COLOR = "#d62728"
_SAVE_FORMATS = ("png", "pdf", "svg")


# --------------------------------------------------------------------------- barcodes

def plot_barcodes(diagrams, *, fig=None, title=None, max_bars=None, long_counts=None,
                  xmax=None):
    """Draw persistence barcodes, one panel per homology dimension (JavaPlex style).

    Parameters
    ----------
    diagrams : list of array-like, each of shape (m_q, 2)
        ``diagrams[q]`` holds the ``[birth, death]`` intervals of dimension ``q``;
        ``np.inf`` marks a bar that never dies.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (cleared first); a new one is made when omitted.
    title : str, optional
        Figure title.
    max_bars : int, optional
        Draw at most this many bars per dimension (the longest); the panel label says how
        many were left out.
    long_counts : list of int, optional
        ``long_counts[q]`` bars of dimension ``q`` (the longest) are drawn in red: the
        significant bars (:func:`cnntopo.topology.significance.significant_bars`) or, without a test,
        the long bars of :func:`cnntopo.topology.witness.long_bars`; the others in dark blue.
    xmax : float, optional
        Right end of the filtration axis; infinite bars are drawn up to it and end in an
        arrow. Default: 5% past the largest finite value.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per dimension, top to bottom ``H0, H1, ...``, sharing the x axis. In each
        panel the bars are ``Rectangle`` patches, longest at the top.
    """
    from matplotlib.figure import Figure

    fn = "plot_barcodes"
    if isinstance(diagrams, np.ndarray) and diagrams.ndim == 2:
        raise TypeError(f"The 'diagrams' parameter of {fn} must be a list of (m, 2) arrays, "
                        f"one per dimension; got a single array (wrap it in a list).")
    bars = []
    for q, dgm in enumerate(diagrams):
        dgm = np.asarray(dgm, dtype=float).reshape(-1, 2) if np.size(dgm) == 0 else \
            np.asarray(dgm, dtype=float)
        if dgm.ndim != 2 or dgm.shape[1] != 2:
            raise InputError(f"The 'diagrams' parameter of {fn} must hold (m, 2) arrays; "
                             f"diagrams[{q}] has shape {dgm.shape}.")
        if np.isnan(dgm).any() or not np.isfinite(dgm[:, 0]).all() or \
                (dgm[:, 1] < dgm[:, 0]).any():
            raise InputError(f"The 'diagrams' parameter of {fn} must hold finite births and "
                             f"deaths >= births (inf allowed); diagrams[{q}] does not.")
        bars.append(dgm)
    if not bars:
        raise InputError(f"The 'diagrams' parameter of {fn} must hold at least one "
                         f"dimension; got an empty list.")
    if long_counts is not None and len(long_counts) > len(bars):
        raise InputError(f"The 'long_counts' parameter of {fn} must have at most one entry "
                         f"per dimension ({len(bars)}); got {len(long_counts)}.")
    if max_bars is not None and (not isinstance(max_bars, (int, np.integer)) or max_bars < 1):
        raise InputError(f"The 'max_bars' parameter of {fn} must be a positive int or None; "
                         f"got {max_bars!r}.")

    finite = np.concatenate([b[np.isfinite(b)] for b in bars] + [np.zeros(1)])
    lo = min(0.0, float(finite.min()))
    if xmax is None:
        hi = float(finite.max())
        xmax = hi + 0.05 * (hi - lo) if hi > lo else lo + 1.0
    xmax = float(xmax)

    # Panel heights follow the bar counts so a bar has about the same thickness everywhere.
    shown = [len(b) if max_bars is None else min(len(b), max_bars) for b in bars]
    ratios = [max(3, s) ** 0.8 for s in shown]
    if fig is None:
        fig = Figure(figsize=(6.0, min(2.0 + 0.9 * sum(r ** 0.5 for r in ratios), 10.0)),
                     layout="constrained")
    else:
        fig.clear()
    axes = fig.subplots(len(bars), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": ratios})[:, 0]
    for q, (ax, dgm) in enumerate(zip(axes, bars)):
        length = np.where(np.isinf(dgm[:, 1]), np.inf, dgm[:, 1] - dgm[:, 0])
        order = np.lexsort((dgm[:, 0], -length))
        n_all = len(order)
        if max_bars is not None:
            order = order[:max_bars]
        n_long = 0 if long_counts is None or q >= len(long_counts) else int(long_counts[q])
        n = len(order)
        for rank, i in enumerate(order):
            birth, death = dgm[i]
            right = xmax if np.isinf(death) else death
            y = n - 1 - rank  # longest at the top
            color = _LONG_BAR_COLOR if rank < n_long else _BAR_COLOR
            ax.barh(y, right - birth, left=birth, height=0.7, color=color, linewidth=0)
            if np.isinf(death):
                ax.plot([xmax], [y], marker=">", color=color, markersize=5, clip_on=False,
                        gid="infinite-bar-arrow")
        label = f"$H_{q}$"
        if n < n_all:
            label += f"\n({n} of {n_all})"
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)
        ax.set_yticks([])
        ax.grid(axis="x", color="0.85", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_ylim(-0.6, max(n, 1) - 0.4)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        if n == 0:
            ax.text(0.5, 0.5, "no bars", transform=ax.transAxes, ha="center", va="center",
                    color="0.5", fontsize=9)
    axes[0].set_xlim(lo, xmax)
    axes[-1].set_xlabel("filtration value")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- Mapper

def _ring_slots(angles, radius):
    """Evenly spaced slots on a ring, in the angular order of the nodes, rotated to fit."""
    n = len(angles)
    order = np.argsort(angles, kind="stable")
    step = 2 * np.pi / n
    offsets = angles[order] - step * np.arange(n)
    theta0 = np.angle(np.exp(1j * offsets).mean()) if n > 1 else angles[0]
    slots = np.empty(n)
    slots[order] = theta0 + step * np.arange(n)
    return radius * np.column_stack([np.cos(slots), np.sin(slots)])


@dataclass
class MapperDrawing:
    """What :func:`plot_mapper` drew, for tests and for reuse (e.g. the HTML view).

    Attributes
    ----------
    positions : dict
        ``{node_id: (x, y)}`` in the axes' data coordinates (unit disc).
    drawn_node_ids : list
        Node ids in the order of the offsets/face colours of ``nodes``.
    nodes : matplotlib.collections.PathCollection or None
        The node markers.
    thumbnail_node_ids : list
        Nodes that got a thumbnail.
    thumbnails : ndarray of shape (n_thumbnails, h, w)
        The mean filters shown (see :func:`cnntopo.topology.layout.mean_filters`).
    norm : matplotlib.colors.Normalize
        Node value -> colour normalisation.
    colours : cnntopo.viz.colours.NodeColours
        The node values drawn (in graph order) and their label.
    layout : cnntopo.topology.layout.MapperLayout
        The layout drawn.
    """

    positions: dict
    drawn_node_ids: list
    nodes: object
    thumbnail_node_ids: list
    thumbnails: np.ndarray
    norm: object = None
    thumbnail_axes_extents: list = field(default_factory=list)
    colours: object = None
    layout: object = None


def _resolve_layout(graph, points, layout, *, shape, seed, n_thumbnails, thumbnail_radius):
    """`layout` as given when it is a MapperLayout, else computed by cnntopo.topology.layout."""
    from ..topology.layout import MapperLayout, mapper_layout

    if isinstance(layout, MapperLayout):
        return layout
    return mapper_layout(graph, points, shape=shape, seed=seed,
                         layout="spring" if layout is None else layout,
                         n_thumbnails=n_thumbnails, thumbnail_radius=thumbnail_radius)


def _resolve_colours(graph, colours, cmap, fn):
    from .colours import NodeColours, node_colours

    if colours is None:
        return node_colours(graph, "size", cmap=cmap)
    if not isinstance(colours, NodeColours):
        raise TypeError(f"The 'colours' parameter of {fn} must be a NodeColours "
                        f"(cnntopo.viz.colours.node_colours) or None; "
                        f"got {type(colours).__name__}.")
    if len(colours.values) != len(graph["nodes"]):
        raise InputError(f"The 'colours' parameter of {fn} must hold one value per node "
                         f"({len(graph['nodes'])}); got {len(colours.values)}.")
    return colours


def _draw_mapper(ax, graph, points, *, shape, lay, colours, compact=False):
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    fn = "plot_mapper"
    points, (h, w), ids, members, sizes, edges = checked_graph(graph, points, shape, fn)
    positions = lay.positions
    missing = [i for i in ids if i not in positions]
    if missing:
        raise InputError(f"The 'layout' parameter of {fn} must place every node of the graph; "
                         f"{len(missing)} missing, e.g. {missing[0]!r}.")
    n = len(ids)
    xy = np.array([positions[i] for i in ids], dtype=float).reshape(n, 2)
    norm = Normalize(vmin=colours.vmin, vmax=colours.vmax)

    if len(edges):
        lw = 0.9 if n < 200 else 0.5
        ax.add_collection(LineCollection(xy[edges], colors="0.45", linewidths=lw, zorder=1))
    # Marker area grows mildly (square root) with size; the whole scale shrinks with n so
    # a thousand nodes still read as a graph, not a blob.
    base = float(np.clip(900.0 / np.sqrt(max(n, 1)), 6.0, 160.0)) * (0.6 if compact else 1.0)
    rel = np.sqrt(sizes / sizes.max()) if n else sizes
    order = np.argsort(sizes, kind="stable")  # large nodes on top
    nodes = ax.scatter(xy[order, 0], xy[order, 1], s=base * (0.35 + 0.65 * rel[order]),
                       c=np.asarray(colours.values, dtype=float)[order], cmap=colours.cmap,
                       norm=norm, edgecolors="0.15", linewidths=0.3 if n > 200 else 0.5,
                       zorder=2)

    thumb_ids, thumbs = list(lay.thumbnail_node_ids), np.asarray(lay.thumbnails)
    k = len(thumb_ids)
    ring = 1.32
    extents = []
    if k:
        txy = np.array([positions[i] for i in thumb_ids])
        angles = np.arctan2(txy[:, 1], txy[:, 0])
        centres = _ring_slots(angles, ring)
        chord = 2 * ring * np.sin(np.pi / max(k, 2))
        # Axis-aligned boxes on neighbouring slots stay apart when half < chord / (2 sqrt 2);
        # at the ring radius they also stay clear of the unit disc holding the graph.
        half = min(0.16, 0.33 * chord)
        for (cx, cy), (nx_, ny_), img in zip(centres, txy, thumbs):
            ax.plot([nx_, cx], [ny_, cy], color="0.55", linewidth=0.6, zorder=0.5)
            hx, hy = half * w / max(h, w), half * h / max(h, w)
            m = float(np.abs(img).max()) or 1.0
            ext = (cx - hx, cx + hx, cy - hy, cy + hy)
            ax.imshow(img, cmap="gray", vmin=-m, vmax=m, extent=ext, origin="upper",
                      interpolation="nearest", zorder=3)
            ax.add_patch(_frame(ext))
            extents.append(ext)
    lim = ring + 0.2 if k else 1.1
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return MapperDrawing(positions=positions, drawn_node_ids=[ids[i] for i in order],
                         nodes=nodes, thumbnail_node_ids=thumb_ids, thumbnails=thumbs,
                         norm=norm, thumbnail_axes_extents=extents, colours=colours, layout=lay)


def _frame(ext):
    from matplotlib.patches import Rectangle

    x0, x1, y0, y1 = ext
    return Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="0.3",
                     linewidth=0.5, zorder=3.5)


_PI_TICKS = ([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi],
             ["0", "\u03c0/2", "\u03c0", "3\u03c0/2", "2\u03c0"])


def _colour_bar(fig, mappable, ax, colours):
    from matplotlib.ticker import MaxNLocator

    cb = fig.colorbar(mappable, ax=ax, shrink=0.6, pad=0.02)
    cb.set_label(colours.label)
    if colours.circular:
        cb.set_ticks(_PI_TICKS[0], labels=_PI_TICKS[1])
    elif colours.integer:
        cb.locator = MaxNLocator(integer=True)
        cb.update_ticks()
    return cb


def plot_mapper(graph, points, *, shape=(3, 3), n_thumbnails=12, seed=0, ax=None, fig=None,
                title=None, layout=None, cmap="jet", thumbnail_radius=1, colorbar=True,
                colours=None):
    """Draw a Mapper graph with coloured nodes and mean-filter thumbnails around it.

    The positions and thumbnails come from a :class:`cnntopo.topology.layout.MapperLayout`: pass
    the one you computed (:func:`cnntopo.topology.layout.mapper_layout`) so that the figure and the
    HTML view (:func:`cnntopo.viz.graph_html.mapper_html`) show the same layout; otherwise it
    is computed here from `seed`, `n_thumbnails` and `thumbnail_radius`.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph (nodes with ``"id"``, ``"members"``, ``"size"``; edges
        under ``"links"``).
    points : array-like of shape (n, h*w)
        The point cloud the members index into (normalised spatial filters).
    shape : (int, int)
        ``(h, w)`` of a filter; rows of `points` are reshaped row-major to it.
    n_thumbnails : int
        How many mean filters to draw around the graph, when `layout` is not a
        MapperLayout (see :func:`cnntopo.topology.layout.choose_thumbnail_nodes`).
    seed : int
        Seed of the layout, when `layout` is not a MapperLayout.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; otherwise a new figure (or `fig`) is used.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on when `ax` is not given.
    title : str, optional
        Axes title.
    layout : MapperLayout, str or dict, optional
        A :class:`cnntopo.topology.layout.MapperLayout` is drawn as it is; a str or a dict of
        positions is passed to :func:`cnntopo.topology.layout.node_positions` (default "spring").
    cmap : str
        Colour map of node size when `colours` is None (blue = smallest, red = largest
        with the default "jet").
    thumbnail_radius : int
        A thumbnail averages the points of its node and of nodes within this many links
        (when `layout` is not a MapperLayout).
    colorbar : bool
        Add a colour bar labelled with what colours the nodes.
    colours : cnntopo.viz.colours.NodeColours, optional
        What colours the nodes (:func:`cnntopo.viz.colours.node_colours`); default: size.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its ``mapper_drawing`` attribute (also set on the axes) is a
        :class:`MapperDrawing` with the positions, node order and thumbnails drawn.
    """
    from matplotlib.figure import Figure

    fn = "plot_mapper"
    checked_points, *_ = checked_graph(graph, points, shape, fn)
    colours = _resolve_colours(graph, colours, cmap, fn)
    lay = _resolve_layout(graph, checked_points, layout, shape=shape, seed=seed,
                          n_thumbnails=n_thumbnails, thumbnail_radius=thumbnail_radius)
    if ax is None:
        if fig is None:
            fig = Figure(figsize=(7.0, 6.0), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    drawing = _draw_mapper(ax, graph, checked_points, shape=shape, lay=lay, colours=colours)
    if colorbar:
        _colour_bar(fig, drawing.nodes, ax, colours)
    if title:
        ax.set_title(title)
    ax.mapper_drawing = drawing
    fig.mapper_drawing = drawing
    return fig


def plot_evolution_grid(cells, *, row_labels, col_labels, shape=(3, 3), n_thumbnails=6,
                        seed=0, cmap="jet", cell_size=2.4, thumbnail_radius=1, captions=None):
    """Grid of Mapper graphs: rows = layers, columns = batch iterations (paper Figs 8, 13).

    Parameters
    ----------
    cells : 2-D list of (graph, points), (graph, points, MapperLayout) or None
        ``cells[r][c]`` is the Mapper graph and point cloud of row `r`, column `c` (and the
        layout to draw, :func:`cnntopo.topology.layout.mapper_layout`; computed from `seed` and
        `n_thumbnails` when left out); None leaves the cell empty.
    row_labels, col_labels : list of str
        One label per row (drawn at the left) and per column (drawn on top).
    shape : (int, int) or list of (int, int)
        ``(h, w)`` of a filter; or one per row, when the rows' layers differ in kernel size
        (a 7x7 stem above 3x3 blocks).
    n_thumbnails : int
        Thumbnails per cell.
    seed, cmap, thumbnail_radius
        As in :func:`plot_mapper`.
    cell_size : float
        Inches per cell.
    captions : 2-D list of str or None, optional
        A line under each cell (the nerve's Betti numbers and their confidence).

    Returns
    -------
    matplotlib.figure.Figure
        Its ``mapper_drawings`` attribute is a 2-D list of :class:`MapperDrawing` (None for
        empty cells). Colour is relative within each cell; one colour bar explains it.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fn = "plot_evolution_grid"
    if not cells or not all(isinstance(row, (list, tuple)) for row in cells):
        raise InputError(f"The 'cells' parameter of {fn} must be a non-empty 2-D list of "
                         f"(graph, points) or None; got {type(cells).__name__}.")
    nrows, ncols = len(cells), max(len(row) for row in cells)
    if len(row_labels) != nrows:
        raise InputError(f"The 'row_labels' parameter of {fn} must have one label per row "
                         f"({nrows}); got {len(row_labels)}.")
    if len(col_labels) != ncols:
        raise InputError(f"The 'col_labels' parameter of {fn} must have one label per "
                         f"column ({ncols}); got {len(col_labels)}.")
    shapes = list(shape) if shape and isinstance(shape[0], (tuple, list)) else [shape] * nrows
    if len(shapes) != nrows:
        raise InputError(f"The 'shape' parameter of {fn} must be one (h, w) or one per row "
                         f"({nrows}); got {len(shapes)}.")
    fig = Figure(figsize=(cell_size * ncols + 1.2, cell_size * nrows + 0.6),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    drawings = []
    for r in range(nrows):
        row_drawings = []
        for c in range(ncols):
            ax = axes[r, c]
            cell = cells[r][c] if c < len(cells[r]) else None
            if cell is None:
                ax.set_axis_off()
                ax.set_aspect("equal")
                ax.text(0.5, 0.5, "—", transform=ax.transAxes, ha="center", va="center",
                        color="0.6")
                row_drawings.append(None)
            else:
                if not isinstance(cell, (tuple, list)) or len(cell) not in (2, 3):
                    raise InputError(f"The 'cells' parameter of {fn} must hold (graph, points), "
                                     f"(graph, points, MapperLayout) or None; cell [{r}][{c}] "
                                     f"is a {type(cell).__name__}.")
                graph, points = cell[0], cell[1]
                shape = tuple(shapes[r])
                lay = _resolve_layout(graph, checked_graph(graph, points, shape, fn)[0],
                                      cell[2] if len(cell) == 3 else None, shape=shape,
                                      seed=seed, n_thumbnails=n_thumbnails,
                                      thumbnail_radius=thumbnail_radius)
                d = _draw_mapper(ax, graph, points, shape=shape, lay=lay,
                                 colours=_resolve_colours(graph, None, cmap, fn), compact=True)
                ax.mapper_drawing = d
                row_drawings.append(d)
                caption = captions[r][c] if captions and c < len(captions[r]) else None
                if caption:
                    ax.text(0.5, -0.01, caption, transform=ax.transAxes, ha="center",
                            va="top", fontsize=7, color="0.25")
            if r == 0:
                ax.set_title(str(col_labels[c]), fontsize=10)
            if c == 0:
                # Axis is off, so the row label is placed as text rather than a ylabel.
                ax.text(-0.04, 0.5, str(row_labels[r]), transform=ax.transAxes, rotation=90,
                        ha="right", va="center", fontsize=10)
        drawings.append(row_drawings)
    sm = ScalarMappable(norm=Normalize(0, 1), cmap=cmap)
    cb = fig.colorbar(sm, ax=axes, shrink=0.5, pad=0.01, aspect=30)
    cb.set_ticks([0, 1], labels=["fewest", "most"])
    cb.set_label("points per node (per cell)")
    fig.mapper_drawings = drawings
    return fig


# --------------------------------------------------------------------------- Klein bottle

def _edge_arrow(ax, xy, direction, n_heads, **kw):
    """`n_heads` arrowheads at `xy` pointing along `direction` (a unit vector)."""
    d = np.asarray(direction, dtype=float)
    for k in range(n_heads):
        tip = np.asarray(xy, dtype=float) + d * 0.09 * (k - (n_heads - 1) / 2)
        ax.annotate("", xy=tip + d * 0.06, xytext=tip - d * 0.06,
                    arrowprops=dict(arrowstyle="-|>", color=kw.get("color", "k"), lw=1.2,
                                    mutation_scale=13, shrinkA=0, shrinkB=0),
                    annotation_clip=False)


def plot_klein_density(counts, theta_edges, phi_edges, *, fig=None, title=None,
                       n_total=None, radius=None, cmap="magma_r"):
    """Draw the density of filters on the Klein bottle's fundamental square.

    theta (the edge's orientation, [0, pi)) runs left to right, phi (linear edge at 0, dark
    line at pi/2, negated edge at pi, bright line at 3 pi/2) bottom to top. The square's
    edges are glued as :func:`cnntopo.topology.klein.klein_coordinates` says: bottom to top
    directly, ``(theta, 0) ~ (theta, 2 pi)`` (double arrows, same direction), and left to
    right with a flip, ``(0, phi) ~ (pi, pi - phi)`` (single arrows, opposite
    directions; the dots at phi = pi/2 and 3 pi/2 are glued to themselves). The primary
    circle is the two dashed lines phi = 0 (= 2 pi) and phi = pi, joined across the flip.

    Parameters
    ----------
    counts : array_like of shape (n_theta_bins, n_phi_bins)
        Filters per cell, as :func:`cnntopo.topology.klein.klein_histogram` gives them.
    theta_edges : array_like of shape (n_theta_bins + 1,)
        Cell edges along theta, from 0 to pi.
    phi_edges : array_like of shape (n_phi_bins + 1,)
        Cell edges along phi, from 0 to 2 pi.
    fig : matplotlib.figure.Figure, optional
        Figure to draw on (cleared first).
    title : str, optional
    n_total : int, optional
        All filters, when `counts` holds only those near the model: the panel then says
        how many of them the square shows.
    radius : float, optional
        The distance that counted as near the model, for that sentence.
    cmap : str
        Colour map of the counts (white = none).

    Returns
    -------
    matplotlib.figure.Figure
        Its single image (``fig.axes[0].images[0]``) holds ``counts.T``.
    """
    from matplotlib.figure import Figure

    fn = "plot_klein_density"
    c = np.asarray(counts)
    t_e = np.asarray(theta_edges, dtype=float)
    p_e = np.asarray(phi_edges, dtype=float)
    if c.ndim != 2 or c.dtype.kind not in "biuf" or (c.size and c.min() < 0):
        raise InputError(f"The 'counts' parameter of {fn} must be a 2-D array of counts >= 0 "
                         f"(theta bins, phi bins); got shape {c.shape}, dtype {c.dtype}.")
    if t_e.shape != (c.shape[0] + 1,) or p_e.shape != (c.shape[1] + 1,):
        raise InputError(f"The 'theta_edges' and 'phi_edges' parameters of {fn} must have one "
                         f"more entry than 'counts' has rows and columns {c.shape}; got "
                         f"{t_e.shape} and {p_e.shape}.")
    if fig is None:
        fig = Figure(figsize=(4.6, 6.4), layout="constrained")
    else:
        fig.clear()
    ax = fig.add_subplot()
    from matplotlib.colors import PowerNorm

    vmax = max(float(c.max()) if c.size else 0.0, 1.0)
    im = ax.imshow(c.T, origin="lower", aspect="equal", cmap=cmap,
                   norm=PowerNorm(0.5, vmin=0, vmax=vmax),
                   extent=(t_e[0], t_e[-1], p_e[0], p_e[-1]), interpolation="nearest")
    for y in (0.0, np.pi, 2 * np.pi):
        ax.axhline(y, color="#1f77b4", linestyle="--", linewidth=1.4, zorder=3,
                   label="primary circle" if y == np.pi else None)
    pi = np.pi
    # bottom and top: glued directly (double arrowheads, same direction)
    for y in (0.0, 2 * pi):
        _edge_arrow(ax, (pi / 2, y), (1, 0), 2, color="k")
    # left and right: glued with phi -> pi - phi (single heads, opposite directions), the
    # two arrows drawn at glued points: (0, 3 pi / 4) ~ (pi, pi / 4)
    _edge_arrow(ax, (0.0, 3 * pi / 4), (0, 1), 1, color="k")
    _edge_arrow(ax, (pi, pi / 4), (0, -1), 1, color="k")
    ax.plot([0, 0, pi, pi], [pi / 2, 3 * pi / 2, pi / 2, 3 * pi / 2], "o", color="k",
            markersize=3.5, clip_on=False, zorder=4)
    ax.set_xlim(0, pi)
    ax.set_ylim(0, 2 * pi)
    ax.set_xticks([0, pi / 4, pi / 2, 3 * pi / 4, pi], ["0", "\u03c0/4", "\u03c0/2",
                                                        "3\u03c0/4", "\u03c0"])
    ax.set_yticks([0, pi / 2, pi, 3 * pi / 2, 2 * pi],
                  ["0 edge", "\u03c0/2 dark line", "\u03c0 edge (negated)",
                   "3\u03c0/2 bright line", "2\u03c0 edge"], fontsize=8)
    ax.set_xlabel("\u03b8: orientation of the edge")
    ax.set_ylabel("\u03c6", rotation=0, labelpad=8, fontsize=12)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), frameon=False, fontsize=8)
    cb = fig.colorbar(im, ax=ax, shrink=0.5, pad=0.02)
    cb.set_label("filters per cell (square-root scale)")
    shown = int(c.sum())
    note = ("glued: bottom\u2013top directly (\u00bb), left\u2013right by "
            "\u03c6 \u2192 \u03c0 \u2212 \u03c6 (\u203a)")
    if n_total is not None:
        within = "near the model" if radius is None else f"within {radius:g} of the model"
        note = f"{shown:,} of {int(n_total):,} filters lie {within}\n" + note
    ax.set_title(note, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --------------------------------------------------------------------------- output

def save_figure(fig, path, *, dpi=200):
    """Write `fig` atomically; the format comes from the suffix (.png, .pdf or .svg).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
    dpi : int
        Resolution of raster output.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _SAVE_FORMATS:
        raise InputError(f"The 'path' parameter of save_figure must end in .png, .pdf or "
                         f".svg; got {path.name!r}.")
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return path


def plot_atlas(rows, *, fig=None, title=None):
    """Primary-circle and off-model fractions against relative depth, one line per network.

    Parameters
    ----------
    rows : list of dict
        Atlas rows (:func:`cnntopo.verdict.atlas.atlas`): each with ``model``, ``depth``,
        ``primary_circle_fraction`` and ``off_model_fraction``; rows without Klein readings
        (not 3x3) are left out. Markers are hollow where the row's H1 count is undecided.
    fig : matplotlib.figure.Figure, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing the depth axis: the primary-circle fraction, then the off-model
        fraction.
    """
    from matplotlib.figure import Figure

    if fig is None:
        fig = Figure(figsize=(8.0, 6.4), layout="constrained")
    else:
        fig.clear()
    ax_p, ax_o = fig.subplots(2, 1, sharex=True)
    models = list(dict.fromkeys(r["model"] for r in rows))
    colours = [f"C{i}" for i in range(len(models))]
    for model, colour in zip(models, colours):
        mine = [r for r in rows if r["model"] == model and r.get("primary_circle_fraction") is not None]
        if not mine:
            continue
        depth = np.array([r["depth"] for r in mine])
        for ax, key in ((ax_p, "primary_circle_fraction"), (ax_o, "off_model_fraction")):
            y = np.array([r[key] for r in mine])
            ax.plot(depth, y, "-", color=colour, lw=1.4, alpha=0.85,
                    label=model if ax is ax_p else None)
            undecided = np.array([bool((r.get("undecided") or [False, False])[1]) for r in mine])
            ax.plot(depth[~undecided], y[~undecided], "o", color=colour, ms=4)
            ax.plot(depth[undecided], y[undecided], "o", mfc="white", color=colour, ms=4)
    ax_p.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax_p.set_ylabel("primary-circle fraction\n(within 0.5)")
    ax_o.set_ylabel("off-model fraction\n(farther than 0.5 from the Klein bottle)")
    ax_o.set_xlabel("relative depth (first to last 3x3 conv layer)")
    for ax in (ax_p, ax_o):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", ms=4, label=m) for m, c in zip(models, colours)]
    handles.append(Line2D([], [], color="0.4", marker="o", mfc="white", ls="none", ms=4,
                          label="too few points to tell"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig
