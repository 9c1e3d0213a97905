"""A k-d tree for compiled loops (numba), and the density filter's neighbour counts on it.

The tree is plain arrays, so compiled code can walk it: the point order (the points of a node
are ``order[start[node]:end[node]]``), each node's children (``-1`` at a leaf) and its
bounding box. Sliding-midpoint splits (as scipy's cKDTree) build it in O(m log m).

Box bounds are rounded floats; callers prune only with a relative margin (``BOX_MARGIN``) far
above their rounding error, so a pruned node never holds a point that would change an answer.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["build_kdtree", "box_min_sq", "box_max_sq", "BOX_MARGIN", "kth_distance_brackets"]

# Relative slack on squared box bounds: their rounding error is a few ulps (~1e-15).
BOX_MARGIN = 1e-9


@numba.njit(cache=True, nogil=True)
def build_kdtree(X, leaf_size):
    """Sliding-midpoint k-d tree: point order, node ranges, children and boxes."""
    m, d = X.shape
    order = np.arange(m)
    max_nodes = 2 * m + 1
    start = np.empty(max_nodes, dtype=np.int64)
    end = np.empty(max_nodes, dtype=np.int64)
    left = np.full(max_nodes, -1, dtype=np.int64)
    right = np.full(max_nodes, -1, dtype=np.int64)
    lo = np.empty((max_nodes, d))
    hi = np.empty((max_nodes, d))
    start[0] = 0
    end[0] = m
    n_nodes = 1
    stack = np.empty(max_nodes, dtype=np.int64)
    stack[0] = 0
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        a, b = start[node], end[node]
        for k in range(d):
            lo[node, k] = np.inf
            hi[node, k] = -np.inf
        for r in range(a, b):
            i = order[r]
            for k in range(d):
                x = X[i, k]
                if x < lo[node, k]:
                    lo[node, k] = x
                if x > hi[node, k]:
                    hi[node, k] = x
        if b - a <= leaf_size:
            continue
        dim = 0
        spread = -1.0
        for k in range(d):
            if hi[node, k] - lo[node, k] > spread:
                spread = hi[node, k] - lo[node, k]
                dim = k
        if spread <= 0.0:
            continue  # all points equal: a leaf, however many
        # Sliding midpoint: split the widest side of the box at its middle, in place, so
        # that building costs O(m log m); if no point lies below the middle, the smallest
        # values go left.
        cut = lo[node, dim] + 0.5 * spread
        if not cut > lo[node, dim]:
            cut = hi[node, dim]
        mid = a
        for r in range(a, b):
            if X[order[r], dim] < cut:
                order[mid], order[r] = order[r], order[mid]
                mid += 1
        if mid == a:
            for r in range(a, b):
                if X[order[r], dim] == lo[node, dim]:
                    order[mid], order[r] = order[r], order[mid]
                    mid += 1
        lc, rc = n_nodes, n_nodes + 1
        n_nodes += 2
        start[lc], end[lc] = a, mid
        start[rc], end[rc] = mid, b
        left[node], right[node] = lc, rc
        stack[top] = lc
        stack[top + 1] = rc
        top += 2
    return order, start[:n_nodes], end[:n_nodes], left[:n_nodes], right[:n_nodes], \
        lo[:n_nodes], hi[:n_nodes]


@numba.njit(cache=True, nogil=True)
def box_min_sq(X, i, lo, hi, node):
    s = 0.0
    for k in range(X.shape[1]):
        x = X[i, k]
        if x < lo[node, k]:
            t = lo[node, k] - x
            s += t * t
        elif x > hi[node, k]:
            t = x - hi[node, k]
            s += t * t
    return s


@numba.njit(cache=True, nogil=True)
def box_max_sq(X, i, lo, hi, node):
    s = 0.0
    for k in range(X.shape[1]):
        x = X[i, k]
        t = max(x - lo[node, k], hi[node, k] - x)
        s += t * t
    return s




@numba.njit(cache=True, nogil=True, fastmath=True)
def _bracket_leaves(Y, YT, k, edges, start, end, left, right, lo, hi, leaves, first, last, L, H):
    """Brackets of the k-th neighbour distance for the points of leaves[first:last].

    A point's squared distances below the current radius go into a histogram over `edges`
    (each threshold minus and plus the margin); once k of them lie below a threshold's lower
    edge, the point's k-th distance is known to be below it, and only nearer pairs matter
    from then on (the radius shrinks, as a k-nearest query's would).
    """
    n_edges = edges.shape[0]
    n_t = n_edges // 2
    d = Y.shape[1]
    n_leaves = leaves.shape[0]
    r_top = edges[n_edges - 1]
    stack = np.empty(start.shape[0], dtype=np.int64)
    cand = np.empty(n_leaves, dtype=np.int64)
    cand_d = np.empty(n_leaves)
    clo = np.empty((d, n_leaves))
    chi = np.empty((d, n_leaves))
    pb = np.empty(n_leaves)
    hist = np.zeros(n_edges + 1, dtype=np.int64)
    max_leaf = 1
    for qi in range(n_leaves):
        max_leaf = max(max_leaf, end[leaves[qi]] - start[leaves[qi]])
    buf = np.empty(max_leaf)
    for qi in range(first, last):
        q = leaves[qi]
        # The leaves whose box comes within the top edge of this leaf's box, nearest first.
        n_c = 0
        top = 1
        stack[0] = 0
        while top > 0:
            top -= 1
            node = stack[top]
            s = 0.0
            for a in range(d):
                t = max(lo[node, a] - hi[q, a], lo[q, a] - hi[node, a], 0.0)
                s += t * t
            if s >= r_top:
                continue
            if left[node] == -1:
                cand[n_c] = node
                cand_d[n_c] = s
                n_c += 1
            else:
                stack[top] = left[node]
                stack[top + 1] = right[node]
                top += 2
        by = np.argsort(cand_d[:n_c])
        sorted_c = cand[:n_c][by]
        sorted_d = cand_d[:n_c][by]
        for ci in range(n_c):
            for a in range(d):
                clo[a, ci] = lo[sorted_c[ci], a]
                chi[a, ci] = hi[sorted_c[ci], a]
        for i in range(start[q], end[q]):
            x = Y[i]
            # point-to-box distances, all candidates at once (vectorised over them)
            for ci in range(n_c):
                pb[ci] = 0.0
            for a in range(d):
                xa = YT[a, i]
                for ci in range(n_c):
                    t = max(clo[a, ci] - xa, xa - chi[a, ci], 0.0)
                    pb[ci] += t * t
            for b in range(n_edges + 1):
                hist[b] = 0
            radius = r_top
            h = n_t
            for ci in range(n_c):
                if sorted_d[ci] >= radius:
                    break
                if pb[ci] >= radius:
                    continue
                c = sorted_c[ci]
                a0 = start[c]
                m = end[c] - a0
                blk = Y[a0:a0 + m]
                if d == 8:  # 3x3 filters: a literal trip count lets the compiler unroll
                    for j in range(m):
                        s = 0.0
                        for a in range(8):
                            t = x[a] - blk[j, a]
                            s += t * t
                        buf[j] = s
                else:
                    for j in range(m):
                        s = 0.0
                        for a in range(d):
                            t = x[a] - blk[j, a]
                            s += t * t
                        buf[j] = s
                n_in = 0
                for j in range(m):
                    if buf[j] < radius:
                        n_in += 1
                if n_in == 0:
                    continue
                for j in range(m):
                    s = buf[j]
                    if s < radius and a0 + j != i:
                        b_lo, b_hi = 0, n_edges
                        while b_lo < b_hi:
                            mid = (b_lo + b_hi) >> 1
                            if edges[mid] <= s:
                                b_lo = mid + 1
                            else:
                                b_hi = mid
                        hist[b_lo] += 1
                cum = 0
                for b in range(h):
                    cum += hist[2 * b]
                    if cum >= k:
                        h = b
                        break
                    cum += hist[2 * b + 1]
                if h == 0:
                    break
                if h < n_t:
                    radius = edges[2 * h]
            H[i] = h
            cum = 0
            low = n_t - 1
            for b in range(n_t):
                cum += hist[2 * b] + hist[2 * b + 1]
                if cum >= k:
                    low = b - 1
                    break
            L[i] = low
    return 0


def kth_distance_brackets(points, k, thresholds, margin, *, leaf_size=64, threads=1):
    """Between which thresholds each point's k-th neighbour distance lies, exactly.

    For every point, two threshold indices ``low`` and ``high`` with
    ``thresholds[low] <= d_k**2 < thresholds[high]`` for the exact squared k-th neighbour
    distance d_k**2 (the point itself excluded, duplicates counted), where index -1 stands
    for 0 and ``len(thresholds)`` for infinity. Distances are screened in floating point with
    any rounding below `margin`, and a pair within `margin` of a threshold counts on the
    safe side of it, so the brackets hold for the exact distances; a point within `margin`
    of a threshold gets a bracket two thresholds wide. Only pairs closer than the largest
    threshold are visited (as a bounded k-nearest query), and a point's search stops once
    its distance is known to lie below the first threshold.

    Parameters
    ----------
    points : ndarray of float64, shape (n_points, d)
    k : int
        Neighbour rank, ``1 <= k < n_points``.
    thresholds : ndarray of float64, shape (T,)
        Squared distances, ascending, each more than ``2 * margin`` above the last (and the
        first above ``margin``).
    margin : float
        Upper bound on the rounding error of a squared distance.
    leaf_size : int
    threads : int
        Threads over the tree's leaves (the compiled loop releases the GIL).

    Returns
    -------
    low, high : ndarray of int64, shape (n_points,)
    """
    from concurrent.futures import ThreadPoolExecutor

    x = np.ascontiguousarray(points, dtype=np.float64)
    n = x.shape[0]
    order, start, end, left, right, lo, hi = build_kdtree(x, leaf_size)
    y = np.ascontiguousarray(x[order])
    yt = np.ascontiguousarray(y.T)
    leaves = np.flatnonzero(left == -1)
    t = np.asarray(thresholds, dtype=np.float64)
    edges = np.empty(2 * t.size)
    edges[0::2] = t - margin
    edges[1::2] = t + margin
    low = np.empty(n, dtype=np.int64)
    high = np.empty(n, dtype=np.int64)
    # Many more chunks than threads: leaves in dense regions cost more than others.
    cuts = np.linspace(0, leaves.size, 16 * threads + 1).astype(np.int64)
    work = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

    def run(span):
        return _bracket_leaves(y, yt, int(k), edges, start, end, left, right, lo, hi, leaves,
                               span[0], span[1], low, high)

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, work))
    else:
        for span in work:
            run(span)
    out_low = np.empty(n, dtype=np.int64)
    out_high = np.empty(n, dtype=np.int64)
    out_low[order] = low
    out_high[order] = high
    return out_low, out_high
