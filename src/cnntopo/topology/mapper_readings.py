"""Readings of a Mapper graph of 3x3 filters: does the graph carry the primary circle?

:func:`theta_winding` asks whether the nodes whose mean filter lies near the primary circle
form a loop along which the edge angle theta goes round once. It is the check that a
simplified or re-laid-out graph still shows the circle that the paper's figures show.

Definition. Each node ``v`` has a mean filter ``m_v`` (the mean of its members' rows of
`points`, not renormalised) with primary-circle angle ``theta_v`` and distance ``d_v``
(:func:`cnntopo.topology.klein.primary_circle_coordinates`). The *near* nodes are those with
``d_v <= radius``; ``H`` is the subgraph of the Mapper graph they induce. A closed walk
``v_0, v_1, ..., v_k = v_0`` in ``H`` has winding number
``w = (1 / 2 pi) sum_i wrap(theta_{v_{i+1}} - theta_{v_i})``, with ``wrap`` into
``(-pi, pi]``: an integer, the number of times theta goes round along the walk (each step
is read as the shorter way round). ``w`` adds over sums of cycles, so it is a homomorphism
from the cycle group ``H_1(H; Z)`` to the integers; its image is ``g Z`` for one ``g >= 0``.
``g`` (the gcd of the windings of any cycle basis) is the reading:

- ``g = 1``: some loop of near nodes winds once round the circle: the graph carries it;
- ``g = 0``: no loop of near nodes goes round (a path, an arc, a loop that turns back);
- ``g >= 2``: every loop that goes round goes round at least g times (a multiple cover).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..validation import InputError

__all__ = ["ThetaWinding", "theta_winding"]


@dataclass
class ThetaWinding:
    """Result of :func:`theta_winding`.

    Attributes
    ----------
    winding : int
        ``g >= 0``, the positive generator of the windings of all loops of near nodes.
    cycle : list
        Node ids of one loop of near nodes that winds round, in order and oriented so that
        theta increases along it; the shortest basis cycle with the smallest nonzero
        winding. Empty when ``winding == 0``.
    cycle_winding : int
        The winding number of `cycle` (``winding`` itself unless the basis has no cycle of
        that winding; 0 when `cycle` is empty).
    n_near : int
        Nodes whose mean filter lies within `radius` of the primary circle.
    n_cycles : int
        Independent cycles of the near subgraph (its first Betti number as a graph).
    node_theta : dict
        ``{node_id: theta}`` for the near nodes, in [0, 2 pi).
    """

    winding: int
    cycle: list
    cycle_winding: int
    n_near: int
    n_cycles: int
    node_theta: dict = field(default_factory=dict)


def _walk_winding(theta):
    steps = np.angle(np.exp(1j * (np.roll(theta, -1) - theta)))
    return int(round(float(steps.sum()) / (2 * np.pi)))


def theta_winding(graph, points, *, radius=0.5):
    """How many times theta goes round along the loops of near-circle Mapper nodes.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph (:func:`cnntopo.topology.mapper.mapper_graph`): nodes with ``id`` and
        ``members``, links with ``source`` and ``target``.
    points : array of shape (n_points, 9)
        The normalised 3x3 filters the members index into.
    radius : float, default 0.5
        A node is near the circle when its mean filter is within this Euclidean distance of
        it (the radius of :func:`cnntopo.topology.klein.primary_circle_fraction`).

    Returns
    -------
    ThetaWinding
        See the module docstring for the definition.

    Examples
    --------
    Eight nodes on the circle, joined in a ring, wind once:

    >>> from cnntopo.topology.klein import dct_basis
    >>> e1, e2 = dct_basis()[:2]
    >>> t = np.arange(8) * np.pi / 4
    >>> pts = np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2
    >>> ring = {"nodes": [{"id": i, "members": [i]} for i in range(8)],
    ...         "links": [{"source": i, "target": (i + 1) % 8} for i in range(8)]}
    >>> theta_winding(ring, pts).winding
    1
    """
    import networkx as nx

    from .klein import primary_circle_coordinates

    func = "theta_winding"
    if (isinstance(radius, bool) or not isinstance(radius, numbers.Real)
            or not np.isfinite(radius) or radius <= 0):
        raise InputError(f"The 'radius' parameter of {func} must be a real number > 0; "
                         f"got {radius!r}.")
    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 9:
        raise InputError(f"The 'points' parameter of {func} must be an (n, 9) array of 3x3 "
                         f"filters; got shape {X.shape}.")
    try:
        ids = [node["id"] for node in graph["nodes"]]
        members = [np.asarray(node["members"], dtype=np.int64).ravel()
                   for node in graph["nodes"]]
        pairs = [(link["source"], link["target"]) for link in graph["links"]]
    except (KeyError, TypeError) as exc:
        raise InputError(f"The 'graph' parameter of {func} must be node-link data with "
                         f"'nodes' (each with 'id' and 'members') and 'links' (each with "
                         f"'source' and 'target'); {type(exc).__name__}: {exc}") from None
    for node_id, m in zip(ids, members):
        if m.size == 0 or m.min() < 0 or m.max() >= len(X):
            raise InputError(f"The 'graph' parameter of {func} has node {node_id!r} with no "
                             f"members or members outside [0, {len(X) - 1}] (the rows of "
                             f"'points').")
    if not ids:
        return ThetaWinding(0, [], 0, 0, 0, {})
    means = np.stack([X[m].mean(axis=0) for m in members])
    theta, dist = primary_circle_coordinates(means)
    near = dist <= radius
    index = {node_id: i for i, node_id in enumerate(ids)}
    H = nx.Graph()
    H.add_nodes_from(np.flatnonzero(near).tolist())
    for a, b in pairs:
        try:
            i, j = index[a], index[b]
        except KeyError as exc:
            raise InputError(f"The 'graph' parameter of {func} has a link to node "
                             f"{exc.args[0]!r}, which is not among its nodes.") from None
        if i != j and near[i] and near[j]:
            H.add_edge(i, j)
    basis = nx.cycle_basis(H)
    windings = [_walk_winding(theta[c]) for c in basis]
    g = 0
    for w in windings:
        g = math.gcd(g, abs(w))
    cycle, cycle_winding = [], 0
    nonzero = [k for k, w in enumerate(windings) if w != 0]
    if nonzero:
        k = min(nonzero, key=lambda k: (abs(windings[k]), len(basis[k])))
        c = basis[k] if windings[k] > 0 else basis[k][::-1]
        cycle, cycle_winding = [ids[i] for i in c], abs(windings[k])
    node_theta = {ids[i]: float(theta[i]) for i in np.flatnonzero(near)}
    return ThetaWinding(winding=g, cycle=cycle, cycle_winding=cycle_winding,
                        n_near=int(near.sum()), n_cycles=len(basis), node_theta=node_theta)
