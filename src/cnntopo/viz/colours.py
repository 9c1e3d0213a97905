"""What colours a Mapper node: its size, or the mean of a per-point value over its members.

A node's value is the mean of its members' values; for an angle (circular) it is the
circular mean, ``angle(mean(exp(i v)))`` in [0, 2 pi), drawn with a cyclic colour map.
The figure (:func:`cnntopo.viz.plots.plot_mapper`) and the page
(:func:`cnntopo.viz.graph_html.mapper_html`) draw a :class:`NodeColours`; they compute nothing.

Named colourings (:data:`COLOUR_BY`):

- ``size``: points per node (the paper's colouring, blue = fewest, red = most);
- ``theta``: angle t in [0, 2 pi) of the nearest point of the primary circle
  (:func:`cnntopo.topology.klein.primary_circle_coordinates`), circular, colour map "twilight";
- ``klein-distance``: Euclidean distance to the Klein-bottle model
  (:func:`cnntopo.topology.klein.klein_coordinates`);
- ``network``: index of the network a filter came from;
- ``iteration``: training iteration of the checkpoint it came from (-1 when unknown).

The last two come from the filters' metadata (:func:`cnntopo.sources.filters.filters_from_source`
returns it as ``meta``; ``cnntopo filters`` writes it beside its .npy as ``.meta.npz``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import InputError

__all__ = ["COLOUR_BY", "NodeColours", "node_colours", "node_colours_from_values",
           "node_colourings"]

COLOUR_BY = ("size", "theta", "klein-distance", "network", "iteration")


def __getattr__(name):
    if name == "COLOR_BY":  # the old spelling (docs/reference/names.md: colour everywhere)
        from ..validation import warn_deprecated

        warn_deprecated("cnntopo.viz.colours.COLOR_BY", "COLOUR_BY")
        return COLOUR_BY
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_NAMED = {
    "theta": ("edge angle t on the primary circle (circular mean)", True, "twilight"),
    "klein-distance": ("distance to the Klein bottle (mean)", False, "viridis"),
    "network": ("network index (mean)", False, "viridis"),
    "iteration": ("training iteration (mean)", False, "viridis"),
}


@dataclass(frozen=True)
class NodeColours:
    """One value per Mapper node and how to draw it.

    Attributes
    ----------
    key : str
        Short name, e.g. "size" or "theta" (the HTML view's selector shows it).
    values : ndarray of float64, shape (n_nodes,)
        In the order of ``graph["nodes"]``.
    label : str
        The colour bar's label.
    cmap : str
        Matplotlib colour map.
    vmin, vmax : float
        The ends of the colour scale (``vmin < vmax``).
    circular : bool
        Values are angles in [0, 2 pi) (colour bar ticks in multiples of pi / 2).
    integer : bool
        Values are whole numbers (integer colour bar ticks).
    """

    key: str
    values: np.ndarray
    label: str
    cmap: str
    vmin: float
    vmax: float
    circular: bool = False
    integer: bool = False

    def scaled(self):
        """`values` mapped to [0, 1] by ``(v - vmin) / (vmax - vmin)``, clipped."""
        return np.clip((self.values - self.vmin) / (self.vmax - self.vmin), 0.0, 1.0)


def _node_members(graph, fn):
    if not isinstance(graph, dict) or "nodes" not in graph:
        raise TypeError(f"The 'graph' parameter of {fn} must be a node-link dict with 'nodes'; "
                        f"got {type(graph).__name__}.")
    return [np.asarray(node.get("members", []), dtype=np.intp).ravel() for node in graph["nodes"]]


def _range(values, circular):
    if circular:
        return 0.0, 2 * np.pi
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 1.0
    return lo, (hi if hi > lo else lo + 1.0)


def node_colours_from_values(graph, values, *, label, key="values", circular=False,
                             cmap=None):
    """Colour each node by the mean of a per-point value over its members.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph; nodes carry ``"members"``, indices into `values`.
    values : array_like, shape (n_points,)
        One finite value per point of the cloud the members index into.
    label : str
        Names the value on the colour bar.
    key : str
        Short name.
    circular : bool
        Angles in radians: the node value is the circular mean in [0, 2 pi).
    cmap : str, optional
        Default "twilight" (cyclic) for angles, "viridis" otherwise.

    Returns
    -------
    NodeColours
    """
    fn = "node_colours_from_values"
    members = _node_members(graph, fn)
    v = np.asarray(values)
    if v.dtype.kind not in "biuf" or v.ndim != 1 or not np.all(np.isfinite(v)):
        raise InputError(f"The 'values' parameter of {fn} must be a 1-D array of finite numbers, "
                         f"one per point; got dtype {v.dtype}, shape {v.shape}.")
    v = v.astype(np.float64)
    for node, m in zip(graph["nodes"], members):
        if m.size == 0:
            raise InputError(f"The 'graph' parameter of {fn} must have nodes with at least one "
                             f"member; node {node.get('id')!r} has none.")
        if m.min() < 0 or m.max() >= v.size:
            raise InputError(f"The 'values' parameter of {fn} must hold one value per point "
                             f"({v.size} given), but node {node.get('id')!r} has member "
                             f"{int(m.max()) if m.max() >= v.size else int(m.min())}.")
    if circular:
        unit = np.exp(1j * v)
        node_v = np.array([np.mod(np.angle(unit[m].mean()), 2 * np.pi) for m in members])
        node_v[node_v >= 2 * np.pi] = 0.0
    else:
        node_v = np.array([v[m].mean() for m in members], dtype=np.float64)
    integer = bool(not circular and np.all(v == np.round(v)))
    lo, hi = _range(node_v, circular)
    return NodeColours(key=str(key), values=node_v, label=str(label),
                       cmap=cmap or ("twilight" if circular else "viridis"), vmin=lo, vmax=hi,
                       circular=bool(circular), integer=integer and not circular)


def node_colours(graph, by="size", *, points=None, meta=None, cmap=None):
    """A named node colouring (see the module docstring for the names).

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph; nodes carry ``"members"`` (and ``"size"``).
    by : {"size", "theta", "klein-distance", "network", "iteration"}
    points : array_like, shape (n, 9), optional
        The normalised 3x3 filters the members index into; needed by "theta" and
        "klein-distance".
    meta : mapping, optional
        Per-point arrays ``network`` and ``iteration``, shape (n,), aligned with the points
        the members index into; needed by "network" and "iteration".
    cmap : str, optional
        Colour map; default "jet" for size (as the paper), "twilight" for theta, "viridis"
        otherwise.

    Returns
    -------
    NodeColours
    """
    fn = "node_colours"
    if by not in COLOUR_BY:
        raise InputError(f"The 'by' parameter of {fn} must be one of {', '.join(COLOUR_BY)}; "
                         f"got {by!r}.")
    if by == "size":
        members = _node_members(graph, fn)
        sizes = np.array([int(node.get("size", len(m))) for node, m in
                          zip(graph["nodes"], members)], dtype=np.float64)
        lo, hi = _range(sizes, False)
        return NodeColours(key="size", values=sizes, label="points per node", cmap=cmap or "jet",
                           vmin=lo, vmax=hi, integer=True)
    label, circular, default_cmap = _NAMED[by]
    if by in ("theta", "klein-distance"):
        if points is None:
            raise InputError(f"node_colours(by={by!r}) needs the 'points' parameter (the "
                             f"normalised 3x3 filters the members index into).")
        from ..topology.klein import klein_coordinates, primary_circle_coordinates

        values = (primary_circle_coordinates(points)[0] if by == "theta"
                  else klein_coordinates(points)[2])
    else:
        if meta is None or by not in meta:
            raise InputError(f"node_colours(by={by!r}) needs the 'meta' parameter with a "
                             f"{by!r} array (the filters' metadata, one entry per point).")
        values = np.asarray(meta[by])
        if values.dtype.kind not in "biu":
            raise InputError(f"The 'meta' parameter of {fn} must hold integer {by!r} values; "
                             f"got dtype {values.dtype}.")
        if points is not None and len(values) != len(points):
            raise InputError(f"The 'meta' parameter of {fn} must have one {by!r} value per "
                             f"point ({len(points)}); got {len(values)}.")
    return node_colours_from_values(graph, values, label=label, key=by, circular=circular,
                                    cmap=cmap or default_cmap)


def node_colourings(graph, *, points=None, meta=None, readings=None):
    """Every named colouring the inputs allow, size first.

    Size always; theta and klein-distance when `points` are 3x3 filters (9 columns);
    network and iteration when `meta` holds them.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph.
    points : array_like, shape (n, d), optional
        The normalised filters the members index into.
    meta : mapping, optional
        Per-point ``network`` and ``iteration`` arrays.
    readings : cnntopo.topology.klein.KleinReadings, optional
        Readings of `points` already computed: their angles and distances are reused.

    Returns
    -------
    list of NodeColours
    """
    out = [node_colours(graph, "size")]
    if readings is not None:
        for by, values in (("theta", readings.circle_angle),
                           ("klein-distance", readings.klein_distance)):
            label, circular, cmap = _NAMED[by]
            out.append(node_colours_from_values(graph, values, label=label, key=by,
                                                circular=circular, cmap=cmap))
    elif points is not None and np.shape(points)[1] == 9:
        out += [node_colours(graph, by, points=points) for by in ("theta", "klein-distance")]
    if meta is not None:
        out += [node_colours(graph, by, points=points, meta=meta)
                for by in ("network", "iteration") if by in meta]
    return out
