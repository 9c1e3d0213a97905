"""Single linkage without the distance matrix: the Euclidean minimum spanning tree.

Single linkage of ``m`` points is their Euclidean minimum spanning tree (MST): the merge
heights of :func:`scipy.cluster.hierarchy.linkage` (``method="single"``) are the MST's edge
weights, and the clusters of a cut at height ``t`` are the connected components of the MST
edges of weight ``<= t``. Every MST has the same multiset of weights and the same
components at every cut, so ties (equal distances, duplicate points) change nothing.

Mapper needs less than the tree: :func:`height_labels` (the cut at one height) and
:func:`gap_labels` (the first-empty-bin rule) find the clusters at a height as the
components of the graph of pairs within it (thresholded connectivity on a k-d tree), which
costs far less than every merge height; see :func:`gap_labels` for how the histogram's bins
are counted that way. Every distance is computed as :func:`scipy.spatial.distance.pdist`
does (the square root of the sum of squared differences, summed over coordinates in order,
in float64), so the labels are bit-identical to the dense rule's.

:func:`euclidean_mst` gives the tree itself by two exact routes, with weights bit-identical
to ``linkage(pdist(X), "single")[:, 2]``:

- small sets: Prim's algorithm over all pairs, ``O(m^2)`` time and ``O(m)`` memory; every
  pair is visited once, which gives the diameter (the largest pairwise distance) for free.
- large sets: Borůvka's algorithm on a k-d tree. Each round every point looks for its
  nearest point in another component; a tree node is skipped when all its points are in the
  point's own component or when its box is farther than the best edge found so far. Edges
  are ordered by ``(weight, smaller index, larger index)``, a strict total order, so the
  rounds never close a cycle. The diameter is found by branch and bound on the same tree:
  a node is skipped when the farthest corner of its box is nearer than the best pair so far.

Box bounds are rounded floats; they prune only with a relative margin (``BOX_MARGIN``) far
above their rounding error, so a pruned node never holds a pair that would change the
answer.
"""

from __future__ import annotations

import numba
import numpy as np

from ..cloud.kdtree import BOX_MARGIN, build_kdtree, box_max_sq, box_min_sq

__all__ = ["euclidean_mst", "cut_labels", "gap_labels", "height_labels"]

# Below this many points Prim over all pairs beats building a tree (measured, see
# BENCHMARKS.md, "single linkage").
_DENSE_BELOW = 2048
_LEAF_SIZE = 64


@numba.njit(cache=True, nogil=True)
def _dist(X, i, j):
    # pdist's order: sum over coordinates in turn, then one square root.
    s = 0.0
    for k in range(X.shape[1]):
        t = X[i, k] - X[j, k]
        s += t * t
    return np.sqrt(s)


# Comparisons only (no arithmetic to reassociate or contract), so these flags let LLVM
# vectorise the reductions without changing any value.
@numba.njit(cache=True, nogil=True, fastmath={"nnan", "ninf", "nsz"})
def _relax(s, key, parent, n, current):
    """Prim's key update against the point that joined: largest square, next point."""
    mx = 0.0
    for j in range(n):
        mx = max(mx, s[j])
    for j in range(n):
        if s[j] < key[j]:
            key[j] = s[j]
            parent[j] = current
    best = np.inf
    at = 0
    for j in range(n):
        if key[j] < best:
            best = key[j]
            at = j
    return mx, at


@numba.njit(cache=True, nogil=True)
def _prim(X):
    """MST edges (u, v, w) and the diameter by Prim over all pairs."""
    m, d = X.shape
    u = np.empty(m - 1, dtype=np.int64)
    v = np.empty(m - 1, dtype=np.int64)
    w = np.empty(m - 1, dtype=np.float64)
    # The points not yet in the tree are the first n columns of XT (coordinates in rows),
    # so that the inner loops run over contiguous memory; `idx` holds their row in X.
    XT = np.ascontiguousarray(X.T)
    idx = np.arange(m)
    key = np.full(m, np.inf)
    parent = np.zeros(m, dtype=np.int64)
    s = np.empty(m)
    xc = np.empty(d)
    diam2 = 0.0
    n = m
    at = 0
    for e in range(m):
        # Move the point joining the tree (column `at`) out of the packed front.
        current = idx[at]
        for k in range(d):
            xc[k] = XT[k, at]
        n -= 1
        if e > 0:
            u[e - 1], v[e - 1], w[e - 1] = parent[at], current, key[at]
        for k in range(d):
            XT[k, at] = XT[k, n]
        idx[at], key[at], parent[at] = idx[n], key[n], parent[n]
        if n == 0:
            break
        for j in range(n):
            s[j] = 0.0
        # pdist's order: the squared differences summed over coordinates in turn.
        for k in range(d):
            c = xc[k]
            row = XT[k]
            for j in range(n):
                t = c - row[j]
                s[j] += t * t
        mx, at = _relax(s, key, parent, n, current)
        if mx > diam2:
            diam2 = mx
    # sqrt is monotone and correctly rounded: the tree of squared distances is a tree of
    # distances, and sqrt of the largest square is the largest distance, bit for bit.
    return u, v, np.sqrt(w), np.sqrt(diam2)


@numba.njit(cache=True, nogil=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@numba.njit(cache=True, nogil=True)
def _before(d1, a1, b1, d2, a2, b2):
    """Edge (d1, a1, b1) comes strictly before (d2, a2, b2); a <= b in both."""
    if d1 != d2:
        return d1 < d2
    if a1 != a2:
        return a1 < a2
    return b1 < b2


@numba.njit(cache=True, nogil=True)
def _sq(X, i, j):
    # pdist's order: squared differences summed over coordinates in turn.
    s = 0.0
    for k in range(X.shape[1]):
        t = X[i, k] - X[j, k]
        s += t * t
    return s


@numba.njit(cache=True, nogil=True)
def _node_components(comp, start, end, left, right, node_comp):
    """Per tree node, the component all its points are in, or -1 where they differ."""
    # Children come after their parent, so a reverse sweep is bottom-up.
    for node in range(start.shape[0] - 1, -1, -1):
        if left[node] < 0:
            c = comp[start[node]]
            for r in range(start[node] + 1, end[node]):
                if comp[r] != c:
                    c = -1
                    break
            node_comp[node] = c
        else:
            cl, cr = node_comp[left[node]], node_comp[right[node]]
            node_comp[node] = cl if cl == cr else -1


@numba.njit(cache=True, nogil=True)
def _boruvka(X, order, start, end, left, right, lo, hi):
    """MST edges (u, v, squared weight) by Borůvka rounds of nearest-other-component queries.

    Works on positions in tree order (the points of a node are contiguous); rows of `X`
    (``order[position]``) only order ties and name the edges.
    """
    m = X.shape[0]
    d = X.shape[1]
    n_nodes = start.shape[0]
    Xs = np.empty((m, d))
    for r in range(m):
        for k in range(d):
            Xs[r, k] = X[order[r], k]
    uf = np.arange(m)
    comp = np.empty(m, dtype=np.int64)
    node_comp = np.empty(n_nodes, dtype=np.int64)
    # Per component (indexed by its root): the best edge so far, (square, a, b) with rows
    # a < b, and the positions of its ends.
    best_d = np.empty(m)
    best_a = np.empty(m, dtype=np.int64)
    best_b = np.empty(m, dtype=np.int64)
    best_p = np.empty(m, dtype=np.int64)
    best_q = np.empty(m, dtype=np.int64)
    # Per point: a lower bound on the square distance to the nearest point of another
    # component. Components only grow, so last round's bound still holds.
    floor = np.zeros(m)
    u = np.empty(m - 1, dtype=np.int64)
    v = np.empty(m - 1, dtype=np.int64)
    w = np.empty(m - 1)
    n_edges = 0
    stack = np.empty(n_nodes + 64, dtype=np.int64)
    grow = 1.0 + BOX_MARGIN
    shrink = 1.0 - BOX_MARGIN
    while n_edges < m - 1:
        for i in range(m):
            comp[i] = _find(uf, i)
        _node_components(comp, start, end, left, right, node_comp)
        for i in range(m):
            best_d[i] = np.inf
            best_a[i] = -1
            best_b[i] = -1
        for i in range(m):
            ci = comp[i]
            bd, ba, bb = best_d[ci], best_a[ci], best_b[ci]
            if floor[i] * shrink > bd:
                continue  # nothing near enough to beat the component's best edge
            oi = order[i]
            bp, bq = best_p[ci], best_q[ci]
            top = 0
            stack[top] = 0
            top += 1
            while top > 0:
                top -= 1
                node = stack[top]
                if node_comp[node] == ci:
                    continue
                if box_min_sq(Xs, i, lo, hi, node) > bd * grow:
                    continue
                if left[node] < 0:
                    for j in range(start[node], end[node]):
                        if comp[j] == ci:
                            continue
                        dist = 0.0
                        for k in range(d):
                            t = Xs[i, k] - Xs[j, k]
                            dist += t * t
                        if dist > bd:
                            continue
                        oj = order[j]
                        a = min(oi, oj)
                        b = max(oi, oj)
                        if _before(dist, a, b, bd, ba, bb):
                            bd, ba, bb, bp, bq = dist, a, b, i, j
                else:
                    l, rr = left[node], right[node]
                    dl = box_min_sq(Xs, i, lo, hi, l)
                    dr = box_min_sq(Xs, i, lo, hi, rr)
                    # Nearer child on top of the stack.
                    if dl <= dr:
                        stack[top] = rr
                        stack[top + 1] = l
                    else:
                        stack[top] = l
                        stack[top + 1] = rr
                    top += 2
            # Every point of another component nearer than bd was seen.
            floor[i] = bd
            best_d[ci], best_a[ci], best_b[ci] = bd, ba, bb
            best_p[ci], best_q[ci] = bp, bq
        for c in range(m):
            if comp[c] != c or best_a[c] < 0:
                continue
            ra, rb = _find(uf, best_p[c]), _find(uf, best_q[c])
            if ra == rb:
                continue  # the same edge chosen by both its components
            uf[ra] = rb
            u[n_edges], v[n_edges], w[n_edges] = best_a[c], best_b[c], best_d[c]
            n_edges += 1
    return u, v, w


@numba.njit(cache=True, nogil=True)
def _tree_diameter(X, order, start, end, left, right, lo, hi):
    m = X.shape[0]
    # A good first bound: a double sweep (farthest from point 0, then farthest from it).
    a = 0
    far = 0.0
    for j in range(m):
        dd = _dist(X, 0, j)
        if dd > far:
            far, a = dd, j
    best = 0.0
    for j in range(m):
        dd = _dist(X, a, j)
        if dd > best:
            best = dd
    stack = np.empty(start.shape[0] + 64, dtype=np.int64)
    shrink = 1.0 - BOX_MARGIN
    for r0 in range(m):
        i = order[r0]
        top = 0
        stack[top] = 0
        top += 1
        while top > 0:
            top -= 1
            node = stack[top]
            if box_max_sq(X, i, lo, hi, node) < best * best * shrink:
                continue
            if left[node] < 0:
                for r in range(start[node], end[node]):
                    dd = _dist(X, i, order[r])
                    if dd > best:
                        best = dd
            else:
                l, rr = left[node], right[node]
                # Farther child on top of the stack.
                if box_max_sq(X, i, lo, hi, l) >= box_max_sq(X, i, lo, hi, rr):
                    stack[top] = rr
                    stack[top + 1] = l
                else:
                    stack[top] = l
                    stack[top + 1] = rr
                top += 2
    return best


def euclidean_mst(points, *, method="auto"):
    """Euclidean minimum spanning tree of a point cloud, with its diameter.

    Parameters
    ----------
    points : array of shape (m, n_features), m >= 1
        Finite float64 values (not checked here).
    method : {"auto", "dense", "tree"}
        ``"dense"``: Prim over all pairs; ``"tree"``: Borůvka on a k-d tree; ``"auto"``:
        dense below ``_DENSE_BELOW`` points.

    Returns
    -------
    edges : int64 array of shape (m - 1, 2)
        Row indices ``[u, v]`` of each MST edge, sorted by weight (ties in a fixed order).
    weights : float64 array of shape (m - 1,)
        Non-decreasing; bit-identical to ``linkage(pdist(points), "single")[:, 2]``.
    diameter : float
        The largest pairwise distance, bit-identical to ``pdist(points).max()`` (0 for one
        point).
    """
    X = np.ascontiguousarray(points, dtype=np.float64)
    m = X.shape[0]
    if m < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0), 0.0
    if method not in ("auto", "dense", "tree"):
        raise ValueError(f"method must be 'auto', 'dense' or 'tree'; got {method!r}")
    if method == "dense" or (method == "auto" and m < _DENSE_BELOW):
        u, v, w, diam = _prim(X)
    else:
        tree = build_kdtree(X, _LEAF_SIZE)
        u, v, w2 = _boruvka(X, *tree)
        w = np.sqrt(w2)
        diam = _tree_diameter(X, *tree)
    order = np.argsort(w, kind="stable")
    return np.column_stack([u[order], v[order]]), w[order], float(diam)


@numba.njit(cache=True, nogil=True)
def _components(m, edges, n_keep):
    """Labels of the components of the first `n_keep` edges, numbered by smallest member."""
    uf = np.arange(m)
    for e in range(n_keep):
        ra, rb = _find(uf, edges[e, 0]), _find(uf, edges[e, 1])
        if ra != rb:
            uf[max(ra, rb)] = min(ra, rb)
    labels = np.full(m, -1, dtype=np.int64)
    root_label = np.full(m, -1, dtype=np.int64)
    n = 0
    for i in range(m):
        root = _find(uf, i)
        if root_label[root] < 0:
            root_label[root] = n
            n += 1
        labels[i] = root_label[root]
    return labels


def cut_labels(edges, weights, m, cut):
    """Cluster labels of the MST cut at `cut`: edges of weight ``<= cut`` are kept.

    Parameters
    ----------
    edges : int array of shape (m - 1, 2)
    weights : float array of shape (m - 1,), non-decreasing
    m : int
    cut : float

    Returns
    -------
    labels : int64 array of shape (m,)
        ``0 .. n_clusters - 1``, numbered in the order of each cluster's smallest member.
    """
    n_keep = int(np.searchsorted(weights, cut, side="right"))
    return _components(m, np.ascontiguousarray(edges, dtype=np.int64), n_keep)


# ---------------------------------------------------------------- clusters at a height

@numba.njit(cache=True, nogil=True)
def _closest_sq(Xs, start, end, left, right, lo, hi):
    """Smallest squared distance between two different points (positions in tree order)."""
    m, d = Xs.shape
    best = np.inf
    stack = np.empty(start.shape[0] + 64, dtype=np.int64)
    near = np.empty(start.shape[0] + 64)
    grow = 1.0 + BOX_MARGIN
    for i in range(m):
        top = 1
        stack[0] = 0
        near[0] = 0.0
        while top > 0:
            top -= 1
            node = stack[top]
            if near[top] > best * grow:
                continue
            if left[node] < 0:
                for j in range(start[node], end[node]):
                    if j == i:
                        continue
                    s = 0.0
                    for k in range(d):
                        t = Xs[i, k] - Xs[j, k]
                        s += t * t
                    if s < best:
                        best = s
                if best == 0.0:
                    return 0.0  # a duplicate: nothing is closer (and a leaf of many is slow)
            else:
                l, rr = left[node], right[node]
                dl = box_min_sq(Xs, i, lo, hi, l)
                dr = box_min_sq(Xs, i, lo, hi, rr)
                if dl <= dr:
                    stack[top], near[top], stack[top + 1], near[top + 1] = rr, dr, l, dl
                else:
                    stack[top], near[top], stack[top + 1], near[top + 1] = l, dl, rr, dr
                top += 2
    return best


@numba.njit(cache=True, nogil=True)
def _connect(Xs, start, end, left, right, lo, hi, uf, height):
    """Join in `uf` every two points at distance <= `height`; returns the component count.

    Borůvka's rounds with any edge instead of the shortest: each round every component but
    the largest looks for one point of another component within `height` (nearest boxes
    first, so the first leaf usually has one). The largest need not look: a pair joining it
    to another component is found from the other side. A point that finds none is marked
    and not searched again: components only grow. The rounds end when no component finds
    one; the components are then exactly those of the graph of pairs at distance <=
    `height` (every point outside the largest has found nothing outside its own), and `uf`
    holds them (a later call with a larger height goes on from there).
    """
    m, d = Xs.shape
    n_nodes = start.shape[0]
    comp = np.empty(m, dtype=np.int64)
    size = np.zeros(m, dtype=np.int64)
    node_comp = np.empty(n_nodes, dtype=np.int64)
    done = np.zeros(m, dtype=np.bool_)
    exhausted = np.zeros(m, dtype=np.bool_)
    stack = np.empty(n_nodes + 64, dtype=np.int64)
    near = np.empty(n_nodes + 64)
    h2 = height * height * (1.0 + BOX_MARGIN)
    while True:
        n_comp = 0
        for i in range(m):
            size[i] = 0
        for i in range(m):
            comp[i] = _find(uf, i)
            if comp[i] == i:
                n_comp += 1
            size[comp[i]] += 1
            done[i] = False
        if n_comp == 1:
            return 1
        largest = 0
        for i in range(m):
            if size[i] > size[largest]:
                largest = i
        done[largest] = True
        _node_components(comp, start, end, left, right, node_comp)
        merged = False
        for i in range(m):
            ci = comp[i]
            if done[ci] or exhausted[i]:
                continue
            found = -1
            top = 1
            stack[0] = 0
            near[0] = 0.0
            while top > 0 and found < 0:
                top -= 1
                node = stack[top]
                if node_comp[node] == ci or near[top] > h2:
                    continue
                if left[node] < 0:
                    for j in range(start[node], end[node]):
                        if comp[j] == ci:
                            continue
                        s = 0.0
                        for k in range(d):
                            t = Xs[i, k] - Xs[j, k]
                            s += t * t
                        # pdist's distance, compared as linkage's cut compares it
                        if s <= h2 and np.sqrt(s) <= height:
                            found = j
                            break
                else:
                    l, rr = left[node], right[node]
                    dl = box_min_sq(Xs, i, lo, hi, l)
                    dr = box_min_sq(Xs, i, lo, hi, rr)
                    # Nearer child on top; a child beyond the height is never pushed.
                    if dl <= dr:
                        if dr <= h2:
                            stack[top], near[top] = rr, dr
                            top += 1
                        if dl <= h2:
                            stack[top], near[top] = l, dl
                            top += 1
                    else:
                        if dl <= h2:
                            stack[top], near[top] = l, dl
                            top += 1
                        if dr <= h2:
                            stack[top], near[top] = rr, dr
                            top += 1
            if found < 0:
                exhausted[i] = True
                continue
            ra, rb = _find(uf, i), _find(uf, found)
            if ra != rb:
                uf[max(ra, rb)] = min(ra, rb)
                merged = True
            done[ci] = True
            done[comp[found]] = True
        if not merged:
            return n_comp


@numba.njit(cache=True, nogil=True)
def _labels(uf, order):
    """Labels by row of the points, components numbered in the order of their smallest row."""
    m = uf.shape[0]
    root_of_row = np.empty(m, dtype=np.int64)
    for r in range(m):
        root_of_row[order[r]] = _find(uf, r)
    labels = np.empty(m, dtype=np.int64)
    root_label = np.full(m, -1, dtype=np.int64)
    n = 0
    for i in range(m):
        root = root_of_row[i]
        if root_label[root] < 0:
            root_label[root] = n
            n += 1
        labels[i] = root_label[root]
    return labels


def _sorted_tree(X):
    """The k-d tree of `X` and the points in its order (contiguous per node)."""
    order, start, end, left, right, lo, hi = build_kdtree(X, _LEAF_SIZE)
    return order, X[order], (start, end, left, right, lo, hi)


def height_labels(points, height):
    """Single-linkage clusters cut at `height` (merges at or below it kept), no matrix.

    The same labels as cutting ``linkage(pdist(points), "single")`` at `height`: the
    components of the graph joining points at distance ``<= height``.

    Parameters
    ----------
    points : array of shape (m, n_features)
    height : float >= 0

    Returns
    -------
    labels : int64 array of shape (m,)
        ``0 .. n_clusters - 1`` in the order of each cluster's smallest row.
    """
    X = np.ascontiguousarray(points, dtype=np.float64)
    m = X.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    order, Xs, tree = _sorted_tree(X)
    uf = np.arange(m)
    _connect(Xs, *tree, uf, float(height))
    return _labels(uf, order)


def gap_labels(points, n_bins):
    """Single linkage cut at the first empty bin of the merge heights' histogram, no matrix.

    The rule of :func:`cnntopo.topology.mapper.single_linkage_gap` with the same result, bit
    for bit, but neither the distance matrix nor every merge height is needed. The bins
    span ``[h_min, diam]``: ``h_min`` is the closest pair's distance (the lowest merge),
    ``diam`` the farthest pair's. Bin ``k`` (``1 <= k <= n_bins - 2``) counts the merges of
    height in ``(b_k, b_{k+1}]``, which is ``c(b_k) - c(b_{k+1})`` where ``c(t)`` is the
    number of clusters at height ``t``; the first and last bins always hold ``h_min`` and
    ``diam``. So the clusters at ``b_1, b_2, ...`` are grown until two consecutive counts
    agree: that bin is the first empty one, and its clusters are those of the cut at its
    midpoint. On a cover set whose heights all lie in the first bin (the usual case) one
    connectivity test at ``b_1`` decides.

    Parameters
    ----------
    points : array of shape (m, n_features)
    n_bins : int >= 1

    Returns
    -------
    labels : int64 array of shape (m,)
    """
    X = np.ascontiguousarray(points, dtype=np.float64)
    m = X.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    order, Xs, tree = _sorted_tree(X)
    diam = float(_tree_diameter(X, order, *tree))
    one = np.zeros(m, dtype=np.int64)
    if n_bins < 3:
        return one  # the first and last bins are never empty
    # b_1 = h_min + (diam - h_min) / n_bins >= diam / n_bins: if the clusters at this lower
    # height are already one, so are those at b_1, whatever h_min is, and the closest pair
    # (the costly part) is never searched. The factor stays below b_1 despite rounding.
    uf = np.arange(m)
    if _connect(Xs, *tree, uf, diam / n_bins * (1.0 - 1e-9)) == 1:
        return one
    h_min = float(np.sqrt(_closest_sq(Xs, *tree)))
    if h_min >= diam:
        return one
    # The breaks exactly as the dense rule computes them.
    breaks = h_min + (diam - h_min) / n_bins * np.arange(n_bins + 1)
    previous = _connect(Xs, *tree, uf, float(breaks[1]))
    for k in range(1, n_bins - 1):
        if previous == 1:
            return one  # every merge at or below b_k: bin k is empty, one cluster
        count = _connect(Xs, *tree, uf, float(breaks[k + 1]))
        if count == previous:
            # No merge in (b_k, b_{k+1}]: the partition did not change.
            return _labels(uf, order)
        previous = count
    return one
