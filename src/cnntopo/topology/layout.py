"""Where to draw a Mapper graph: node positions, thumbnail choice and mean filters.

The figure (:func:`cnntopo.viz.plots.plot_mapper`) and the interactive page
(:func:`cnntopo.viz.graph_html.mapper_html`) draw what this module computes, so that one
:class:`MapperLayout`, computed once from one seed, gives both the same picture.

Inputs are plain data: a networkx node-link dict whose nodes carry ``"members"`` (row
indices into the point array) and whose edges sit under ``"links"`` (or ``"edges"``), and
an ``(n, h*w)`` array of normalised spatial filters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import InputError, check_members, checked_graph, graph_parts

__all__ = ["node_positions", "mean_filters", "choose_thumbnail_nodes", "MapperLayout",
           "mapper_layout"]


# --------------------------------------------------------------------------- inputs

# --------------------------------------------------------------------------- layout

def mean_filters(graph, points, node_ids=None, *, shape=(3, 3), radius=0):
    """Mean filter of the points of Mapper nodes, reshaped to images.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph; nodes carry ``"members"``.
    points : array-like of shape (n, h*w)
        The point cloud the members index into.
    node_ids : sequence, optional
        Nodes to average (default: all, in graph order).
    shape : (int, int)
        ``(h, w)``: a row of ``points`` is reshaped row-major to it.
    radius : int
        0: the members of the node alone; 1: the union of the members of the node and of
        its neighbours ("the mean of adjacent points"); r: nodes within r links. Every
        point counts once.

    Returns
    -------
    ndarray of shape (len(node_ids), h, w)
    """
    fn = "mean_filters"
    points, (h, w), ids, members, _, edges = checked_graph(graph, points, shape, fn)
    if not isinstance(radius, (int, np.integer)) or radius < 0:
        raise InputError(f"The 'radius' parameter of {fn} must be an int >= 0; got {radius!r}.")
    index = {node_id: i for i, node_id in enumerate(ids)}
    if node_ids is None:
        node_ids = ids
    chosen = []
    for node_id in node_ids:
        if node_id not in index:
            raise InputError(f"The 'node_ids' parameter of {fn} must name nodes of the "
                             f"graph; got {node_id!r}.")
        chosen.append(index[node_id])
    neighbours = [[] for _ in ids]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    out = np.empty((len(chosen), h, w))
    for k, i in enumerate(chosen):
        reached, frontier = {i}, {i}
        for _ in range(radius):
            frontier = {j for f in frontier for j in neighbours[f]} - reached
            reached |= frontier
        rows = np.unique(np.concatenate([members[j] for j in sorted(reached)]))
        out[k] = points[rows].mean(axis=0).reshape(h, w)
    return out


def _fruchterman_reingold(pos, edges, *, iterations=60, temperature=0.1, gravity=0.05):
    """Dense, vectorised Fruchterman-Reingold refinement of a start layout.

    networkx switches to a per-node Python loop above 500 nodes (seconds for a Mapper(30, 3)
    graph); this stays in NumPy, in row blocks to bound memory.
    """
    n = len(pos)
    if n < 2:
        return pos
    pos = pos.copy()
    k = 1.0 / np.sqrt(n)
    adj_i, adj_j = edges[:, 0], edges[:, 1]
    dt = temperature / (iterations + 1)
    block = max(1, 4_000_000 // n)
    for _ in range(iterations):
        # float32 and separate x / y planes: the n x n repulsion is the whole cost.
        x, y = pos[:, 0].astype(np.float32), pos[:, 1].astype(np.float32)
        disp = np.empty_like(pos)
        for s in range(0, n, block):
            dx = x[s:s + block, None] - x[None, :]
            dy = y[s:s + block, None] - y[None, :]
            f = dx * dx
            f += dy * dy
            np.maximum(f, np.float32(1e-6), out=f)
            np.divide(np.float32(k * k), f, out=f)
            disp[s:s + block, 0] = np.einsum("ij,ij->i", dx, f)
            disp[s:s + block, 1] = np.einsum("ij,ij->i", dy, f)
        if len(edges):
            d = pos[adj_i] - pos[adj_j]
            dist = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-3)
            pull = d * dist / k
            np.add.at(disp, adj_i, -pull)
            np.add.at(disp, adj_j, pull)
        # A weak pull to the centre keeps separate components from drifting apart.
        disp -= gravity * n * k * (pos - pos.mean(axis=0))
        length = np.maximum(np.linalg.norm(disp, axis=1, keepdims=True), 1e-9)
        pos += disp / length * np.minimum(length, temperature)
        temperature -= dt
    return pos


def node_positions(graph, points=None, *, seed=0, layout="spring"):
    """Deterministic 2-D positions of the nodes of a Mapper graph, inside the unit disc.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph.
    points : array-like of shape (n, d), optional
        When given, the layout starts from the nodes' mean points projected on the first two
        principal axes of `points`, so a circle of filters is drawn as a circle; otherwise
        from a seeded random layout.
    seed : int
        Seed for the random start and the tie-breaking jitter.
    layout : {"spring", "pca", "kamada_kawai"} or dict
        "spring": PCA start refined by a force-directed layout (default); "pca": the PCA
        start alone; "kamada_kawai": networkx's Kamada-Kawai (slow above ~500 nodes); a dict
        ``{node_id: (x, y)}`` is taken as given and only rescaled.

    Returns
    -------
    dict
        ``{node_id: (x, y)}``, centred at 0 with the farthest node at distance 1.
    """
    fn = "node_positions"
    ids, members, _, edges = graph_parts(graph, fn)
    n = len(ids)
    rng = np.random.default_rng(seed)
    if isinstance(layout, dict):
        missing = [i for i in ids if i not in layout]
        if missing:
            raise InputError(f"The 'layout' parameter of {fn} must give a position for "
                             f"every node; {len(missing)} missing, e.g. {missing[0]!r}.")
        pos = np.array([layout[i] for i in ids], dtype=float).reshape(n, 2)
        return _normalise_positions(pos, ids)
    if layout not in ("spring", "pca", "kamada_kawai"):
        raise InputError(f"The 'layout' parameter of {fn} must be 'spring', 'pca', "
                         f"'kamada_kawai' or a dict of positions; got {layout!r}.")
    if n == 0:
        return {}
    if points is not None:
        points = np.asarray(points, dtype=float)
        check_members(members, len(points), fn)
        means = np.stack([points[m].mean(axis=0) for m in members])
        # The principal axes of the cloud, not of the node means: hundreds of small nodes off
        # a ring (the off-model patches of VGG16's layers 5, 6, 8, 11, 12) tilt the axes of
        # the means into a third direction and the ring is drawn folded. For a PCA-lens graph
        # this start is each node's mean lens value.
        centre = points.mean(axis=0)
        centred = means - centre
        if n >= 2 and np.abs(centred).max() > 0:
            _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
            pos = centred @ vt[:2].T
            if pos.shape[1] < 2:
                pos = np.column_stack([pos, np.zeros(n)])
            # SVD signs are arbitrary; fix them so the figure does not flip between runs.
            for c in range(2):
                j = np.argmax(np.abs(vt[c]))
                if vt[c, j] < 0:
                    pos[:, c] *= -1
        else:
            pos = np.zeros((n, 2))
    else:
        pos = rng.uniform(-1, 1, size=(n, 2))
    scale = np.abs(pos).max()
    pos = pos / scale if scale > 0 else pos
    # Nodes with equal means would sit on top of each other and get no repulsive direction.
    pos = pos + rng.normal(scale=1e-3, size=pos.shape)
    if layout == "spring":
        pos = _fruchterman_reingold(pos, edges)
    elif layout == "kamada_kawai":
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(map(tuple, edges))
        got = nx.kamada_kawai_layout(g, pos={i: pos[i] for i in range(n)})
        pos = np.array([got[i] for i in range(n)])
    return _normalise_positions(pos, ids)


def _normalise_positions(pos, ids):
    pos = pos - pos.mean(axis=0) if len(pos) else pos
    r = np.linalg.norm(pos, axis=1).max() if len(pos) else 0.0
    if r > 0:
        pos = pos / r
    return {node_id: (float(x), float(y)) for node_id, (x, y) in zip(ids, pos)}


def choose_thumbnail_nodes(graph, positions, n_thumbnails=12, *, min_size_quantile=0.5):
    """Pick up to `n_thumbnails` nodes spread around the layout, for mean-filter thumbnails.

    Candidates are the nodes whose size is at least the `min_size_quantile` quantile of the
    sizes, so a thumbnail averages a reasonable number of points. The plane around the
    layout's centre is cut into `n_thumbnails` equal angular sectors (the first centred
    straight up) and each sector gives its outermost candidate, so the thumbnails ring the
    graph and their lines do not cross it. Sectors left empty are made up by farthest-point
    sampling among the remaining candidates.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph.
    positions : dict
        ``{node_id: (x, y)}``, e.g. from :func:`node_positions`.
    n_thumbnails : int
        How many nodes to pick at most.
    min_size_quantile : float
        Size quantile below which a node is not a candidate.

    Returns
    -------
    list
        Node ids, sector picks first (counter-clockwise from the top), then the fill-ins.
    """
    ids, _, sizes, _ = graph_parts(graph, "choose_thumbnail_nodes")
    if n_thumbnails <= 0 or not ids:
        return []
    cand = np.flatnonzero(sizes >= np.quantile(sizes, min_size_quantile))
    xy = np.array([positions[ids[i]] for i in cand], dtype=float).reshape(-1, 2)
    centre = np.array([positions[i] for i in ids], dtype=float).mean(axis=0)
    rel = xy - centre
    r = np.round(np.hypot(rel[:, 0], rel[:, 1]), 9)
    width = 2 * np.pi / n_thumbnails
    sector = np.floor(((np.arctan2(rel[:, 1], rel[:, 0]) - np.pi / 2 + width / 2)
                       % (2 * np.pi)) / width).astype(int) % n_thumbnails
    picked = []
    for q in range(n_thumbnails):
        inside = np.flatnonzero(sector == q)
        if len(inside):
            # outermost; ties: the larger node, then graph order
            best = np.lexsort((inside, -sizes[cand[inside]], -r[inside]))[0]
            picked.append(int(inside[best]))
    if len(picked) < min(n_thumbnails, len(cand)):
        dmin = np.min([np.hypot(*(xy - xy[p]).T) for p in picked], axis=0)
        while len(picked) < min(n_thumbnails, len(cand)):
            nxt = int(np.argmax(dmin))
            if dmin[nxt] <= 1e-9:
                break  # the rest sit on top of nodes already picked
            picked.append(nxt)
            dmin = np.minimum(dmin, np.hypot(*(xy - xy[nxt]).T))
    return [ids[cand[i]] for i in picked]


@dataclass(frozen=True)
class MapperLayout:
    """Positions and thumbnails of a Mapper graph, computed once for every picture of it.

    Attributes
    ----------
    positions : dict
        ``{node_id: (x, y)}``, centred at 0 with the farthest node at distance 1
        (:func:`node_positions`).
    thumbnail_node_ids : list
        Nodes that get a mean-filter thumbnail (:func:`choose_thumbnail_nodes`).
    thumbnails : ndarray of shape (len(thumbnail_node_ids), h, w)
        Their mean filters (:func:`mean_filters` with ``radius=thumbnail_radius``).
    seed : int
        The seed the positions came from.
    """

    positions: dict
    thumbnail_node_ids: list
    thumbnails: np.ndarray
    seed: int = 0


def mapper_layout(graph, points, *, shape=(3, 3), seed=0, layout="spring", n_thumbnails=12,
                  thumbnail_radius=1):
    """Node positions, thumbnail nodes and their mean filters, for the PNG and the HTML.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph (nodes with ``"id"``, ``"members"``; edges under ``"links"``).
    points : array-like of shape (n, h*w)
        The point cloud the members index into.
    shape : (int, int)
        ``(h, w)`` of a filter.
    seed : int
        Seed of :func:`node_positions`.
    layout : {"spring", "pca", "kamada_kawai"} or dict
        See :func:`node_positions`.
    n_thumbnails : int
        At most this many thumbnails (:func:`choose_thumbnail_nodes`).
    thumbnail_radius : int
        A thumbnail averages the points of its node and of nodes within this many links.

    Returns
    -------
    MapperLayout
    """
    fn = "mapper_layout"
    points, (h, w), *_ = checked_graph(graph, points, shape, fn)
    positions = node_positions(graph, points, seed=seed, layout=layout)
    thumb_ids = choose_thumbnail_nodes(graph, positions, n_thumbnails)
    thumbs = (mean_filters(graph, points, thumb_ids, shape=shape, radius=thumbnail_radius)
              if thumb_ids else np.empty((0, h, w)))
    return MapperLayout(positions=positions, thumbnail_node_ids=thumb_ids, thumbnails=thumbs,
                        seed=int(seed))
