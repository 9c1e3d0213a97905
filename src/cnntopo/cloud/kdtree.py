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

__all__ = ["build_kdtree", "box_min_sq", "box_max_sq", "BOX_MARGIN"]

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


