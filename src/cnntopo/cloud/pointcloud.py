"""Point clouds of spatial filters: validation, normalisation and density filtration.

Every point (a flattened ``w x h`` spatial filter) is mean-centred and scaled to unit
Euclidean norm before anything else (Gabrielsson & Carlsson 2018, section 5); the density
filtration rho(k, p, X) then keeps the fraction ``p`` of points whose distance to their
``k``-th nearest neighbour is smallest (section 4).
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from ..validation import InputError, validate_points

__all__ = ["normalise", "knn_distance", "density_filter"]

# Larger leaves than scipy's default (16) measured ~25% faster for k ~ 200 on 8-dim data.
_LEAFSIZE = 64
# density_filter's cut-off estimate: exact distances of at least this many sampled points,
# and a quantile this many binomial standard deviations above the kept fraction (a sample
# that misses only costs a second query of the undecided points, never a wrong answer).
_BOUND_SAMPLE_MIN = 1024
_BOUND_Z = 4.0
# Queries below this many points run on one thread: starting and joining cKDTree's worker
# threads costs more than a small query (13 ms against 2 ms for 300 points on a busy 2-core
# machine), and the Watcher filters every layer at every snapshot.
_PARALLEL_QUERIES = 4096
# density_filter screens clouds of at least this many points in compiled code (below it,
# cKDTree's bounded query is as fast), with thresholds at this many quantiles of a sample
# of this size spread over this many binomial standard deviations either side of p.
_SCREEN_POINTS = 20_000
_SCREEN_THRESHOLDS = 24
_SCREEN_SAMPLE = 2048
_SCREEN_Z = 6.0


def normalise(points, *, rtol=1e-10, atol=0.0):
    """Mean-centre every point and scale it to unit Euclidean norm.

    A point whose coordinates are (numerically) all equal has no direction and cannot be
    normalised: it is dropped, never turned into NaN. A point ``x`` counts as constant when
    ``||x - mean(x)|| <= atol + rtol * ||x||``; the relative part makes the test independent
    of scale (a row of 1e6 carrying float rounding noise is constant; a non-constant row
    of 1e-20 is kept).

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
    rtol : float, default 1e-10
        Relative tolerance for a constant point.
    atol : float, default 0.0
        Absolute tolerance for a constant point.

    Returns
    -------
    unit_points : ndarray of float64, shape (n_kept, n_dims)
        Rows with zero mean and unit Euclidean norm.
    kept : ndarray of int64, shape (n_kept,)
        Indices into the rows of `points`, ascending; ``n_points - n_kept`` were dropped.
    """
    x = validate_points(points)
    for label, value in (("rtol", rtol), ("atol", atol)):
        if not isinstance(value, numbers.Real) or not value >= 0:
            raise InputError(
                f"The '{label}' parameter of normalise must be a real number >= 0; "
                f"got {value!r}."
            )
    # Scaling each row by a power of two near its largest entry is exact, so ordinary rows
    # give the same bits as unscaled, while rows of tiny (1e-160) or huge entries no longer
    # underflow or overflow when squared.
    exponent = np.frexp(np.abs(x).max(axis=1, keepdims=True))[1]
    scaled = np.ldexp(x, -exponent)
    centred = scaled - scaled.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    with np.errstate(over="ignore"):
        floor = np.ldexp(atol, -exponent[:, 0]) + rtol * np.linalg.norm(scaled, axis=1)
    keep = norms > floor
    kept = np.flatnonzero(keep).astype(np.int64)
    return centred[keep] / norms[keep, None], kept


def _drop_constant_direction(x):
    """Rotate zero-mean rows into the (d-1)-dim hyperplane orthogonal to (1, ..., 1).

    An exact isometry for rows that sum to zero, so nearest-neighbour distances are kept
    while a k-d tree gets one dimension less (about 25% faster for 3x3 filters). Rows that
    do not sum to zero are returned unchanged.
    """
    n_dims = x.shape[1]
    if n_dims < 2:
        return x
    scale = np.abs(x).max()
    # Mean-centred data leaves only rounding (~1e-16 * scale) along the ones direction;
    # anything larger would change small distances, so the rotation is refused then.
    if np.abs(x.sum(axis=1)).max() > 1e-12 * n_dims * max(scale, np.finfo(float).tiny):
        return x
    basis, _ = np.linalg.qr(np.column_stack([np.ones(n_dims), np.eye(n_dims)[:, :-1]]))
    return x @ basis[:, 1:]


def _check_k(k, n_points, func):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) \
            or not 1 <= k <= n_points - 1:
        raise InputError(
            f"The 'k' parameter of {func} must be an int in [1, n_points - 1] = "
            f"[1, {n_points - 1}]; got {k!r}."
        )
    return int(k)


def _query_kth(tree, y, rows, k, bound=np.inf):
    """k-th neighbour distance (self excluded) of rows `rows` of `y`, exact below `bound`.

    Returns an array of shape (n_points,) filled only at `rows`. Rows whose k-th neighbour
    is not strictly closer than `bound` come back inf: cKDTree keeps a neighbour only when
    ``d**2 < bound**2`` and prunes every cell farther than that, so far points cost little.
    """
    # Querying in the tree's own leaf order keeps neighbouring queries on the same nodes
    # (cache reuse, ~20% faster); the point itself is its own 0-th neighbour, hence k + 1.
    order = tree.indices
    if rows.size < order.size:
        wanted = np.zeros(order.size, dtype=bool)
        wanted[rows] = True
        order = order[wanted[order]]
    distances = np.full(y.shape[0], np.nan)
    distances[order] = tree.query(y[order], k=[k + 1], distance_upper_bound=bound,
                                  workers=-1 if order.size >= _PARALLEL_QUERIES else 1)[0][:, 0]
    return distances


def _build_tree(x):
    from scipy.spatial import cKDTree

    y = _drop_constant_direction(x)
    return y, cKDTree(y, leafsize=_LEAFSIZE)


def knn_distance(points, k):
    """Distance from each point to its `k`-th nearest neighbour, the point itself excluded.

    Other points at distance 0 (duplicates) count as neighbours. The result equals the last
    column of ``sklearn.neighbors.NearestNeighbors(n_neighbors=k).fit(X).kneighbors()[0]``
    (exact Euclidean distances, not an approximation).

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
    k : int
        Neighbour rank, ``1 <= k <= n_points - 1``.

    Returns
    -------
    distances : ndarray of float64, shape (n_points,)
    """
    x = validate_points(points)
    k = _check_k(k, x.shape[0], "knn_distance")
    y, tree = _build_tree(x)
    return _query_kth(tree, y, tree.indices, k)


def _densest(x, k, n_kept):
    """Indices of the `n_kept` points of smallest k-th neighbour distance, ties by index.

    On large clouds the k-th distances are first bracketed between thresholds near the
    cut-off (:func:`cnntopo.cloud.kdtree.kth_distance_brackets`, exact brackets from a
    compiled screen of the pairs closer than the largest threshold). Points whose bracket
    lies wholly below the threshold under which fewer than `n_kept` points can lie are kept,
    points whose bracket lies wholly above the one under which `n_kept` points surely lie are
    dropped, and only the few in between get their exact distance from cKDTree, the same
    numbers :func:`knn_distance` gives, so the kept set is the same. The thresholds come from
    a sample's exact distances: they decide the speed, never the result.
    """
    n_points = x.shape[0]
    y, tree = _build_tree(x)
    if n_points < _SCREEN_POINTS:
        return _densest_bounded(y, tree, k, n_kept)
    q = n_kept / n_points
    rng = np.random.default_rng(0)  # fixed: the sample decides only the running time
    sample = np.sort(rng.choice(n_points, min(_SCREEN_SAMPLE, n_points), replace=False))
    exact = _query_kth(tree, y, sample, k)[sample]
    half = _SCREEN_Z * np.sqrt(q * (1 - q) / sample.size) + 2 / sample.size
    levels = np.clip(np.linspace(q - half, q + half, _SCREEN_THRESHOLDS), 0.0, 1.0)
    # Squared distances are screened with rounding far below `margin` (a few ulps of the
    # largest possible squared distance); thresholds closer than that are merged.
    largest = float(np.einsum("ij,ij->i", y, y).max())
    margin = 1e-12 * 4 * largest
    if not 1e-280 < largest < 1e280:
        # squared distances would underflow into subnormals (rounding no longer relative)
        # or overflow: the bounded query works on the distances themselves
        return _densest_bounded(y, tree, k, n_kept)
    thresholds = []
    for t in np.quantile(exact, levels) ** 2:
        if t > 4 * margin and (not thresholds or t > thresholds[-1] + 8 * margin):
            thresholds.append(float(t))
    if not thresholds:
        return _densest_bounded(y, tree, k, n_kept)
    from .kdtree import kth_distance_brackets

    low, high = kth_distance_brackets(y, k, np.array(thresholds), margin,
                                      leaf_size=_LEAFSIZE, threads=_threads())
    n_t = len(thresholds)
    b = np.arange(n_t)
    # fewer than n_kept points can lie below threshold b_lo: every point surely below it is
    # kept; at least n_kept points lie below threshold b_hi: every point surely above it is
    # dropped.
    maybe_below = np.searchsorted(np.sort(low), b, side="left")      # #{low < b}
    surely_below = np.searchsorted(np.sort(high), b, side="right")   # #{high <= b}
    b_lo = int(np.count_nonzero(maybe_below < n_kept)) - 1
    above = np.flatnonzero(surely_below >= n_kept)
    b_hi = int(above[0]) if above.size else n_t
    kept = np.flatnonzero(high <= b_lo) if b_lo >= 0 else np.empty(0, dtype=np.int64)
    undecided = np.flatnonzero(~(high <= b_lo) & ~(low >= b_hi))
    distances = _query_kth(tree, y, undecided, k)[undecided]
    chosen = undecided[np.argsort(distances, kind="stable")[:n_kept - kept.size]]
    return np.sort(np.concatenate([kept, chosen])).astype(np.int64)


def _threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _densest_bounded(y, tree, k, n_kept):
    """Indices of the `n_kept` points of smallest k-th neighbour distance, ties by index.

    Exact, yet without every distance: the cut-off distance is estimated from the exact
    distances of a random sample of points, raised to a quantile safely above the kept
    fraction, and every point is then queried with that distance as an upper bound. All
    points whose k-th neighbour lies beyond the bound (most of the cloud when `p` is small)
    are pruned early and come back inf. If at least `n_kept` points come back clearly below
    the bound, they hold the answer, since every other point's distance is at least the
    bound; otherwise the undecided points are queried in full. The sample only decides the
    speed, never the result.
    """
    n_points = y.shape[0]
    everyone = tree.indices
    q = n_kept / n_points
    # Sample size balancing its own cost (m queries) against the extra points that the
    # margin of z binomial standard deviations lets into the bound (n z sd(q) / sqrt(m)).
    spread = np.sqrt(q * (1 - q))
    sample_size = int(np.clip((n_points * abs(_BOUND_Z) * spread / 2) ** (2 / 3),
                              _BOUND_SAMPLE_MIN, n_points))
    level = q + _BOUND_Z * spread / np.sqrt(sample_size) + 2 / sample_size
    if sample_size >= n_points // 2 or level >= 1:
        distances = _query_kth(tree, y, everyone, k)
    else:
        # Fixed seed: the result does not depend on the sample, only the running time.
        in_sample = np.zeros(n_points, dtype=bool)
        rng = np.random.default_rng(0)
        in_sample[rng.choice(n_points, sample_size, replace=False)] = True
        sample = np.flatnonzero(in_sample)
        distances = _query_kth(tree, y, sample, k)
        estimate = np.quantile(distances[sample], max(level, 0.0), method="higher")
        # A relative nudge keeps points tied at the estimate inside the (strict) bound; the
        # floor keeps bound**2 > 0 so that distance-0 neighbours (duplicates) count.
        bound = max(estimate * (1 + 2.0 ** -20), 2 * np.sqrt(np.finfo(float).tiny))
        rest = np.flatnonzero(~in_sample)
        distances[rest] = _query_kth(tree, y, rest, k, bound)[rest]
        # Below `safe`, rounding in cKDTree's cell pruning cannot have hidden a neighbour,
        # so those distances are exact and every other point lies at or beyond `safe`
        # (sampled points are exact anyway). Too few below it: query the rest in full.
        safe = bound * (1 - 1e-9)
        if np.count_nonzero(distances < safe) < n_kept:
            rows = np.flatnonzero(~(distances < safe) & ~in_sample)
            distances[rows] = _query_kth(tree, y, rows, k)[rows]
    return np.sort(np.argsort(distances, kind="stable")[:n_kept]).astype(np.int64)


def density_filter(points, k, p, *, return_distances=False):
    """Density filtration rho(k, p): keep the fraction `p` of densest points.

    Density is read from the distance to the `k`-th nearest neighbour (smaller is denser,
    see :func:`knn_distance`). The number kept is ``p * n_points`` rounded to the nearest
    integer, halves up, and at least 1 (6400 points at p = 0.3 keep 1920, as in the paper).
    Equal distances are broken by the lower index, so the result is deterministic.

    The kept set is exact (the same as from :func:`knn_distance`), but without
    `return_distances` only the points near the cut-off get an exact k-nearest query: on
    clouds of 20,000 points or more a compiled screen first brackets every point's k-th
    distance between thresholds near the cut-off
    (:func:`cnntopo.cloud.kdtree.kth_distance_brackets`; 3.9 s instead of 14.7 s for VGG16's
    262,144 layer-13 filters at rho(100, 0.3)), and smaller clouds query everything with a
    distance bound estimated from a sample, so far points stop early.

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
        Usually the output of :func:`normalise`.
    k : int
        Neighbour rank, ``1 <= k <= n_points - 1``.
    p : float
        Fraction kept, ``0 < p <= 1``.
    return_distances : bool, default False
        Also return the k-th neighbour distances of all points.

    Returns
    -------
    indices : ndarray of int64, shape (n_kept,)
        Rows of `points` kept, ascending.
    distances : ndarray of float64, shape (n_points,)
        Only with ``return_distances=True``.
    """
    x = validate_points(points)
    n_points = x.shape[0]
    _check_k(k, n_points, "density_filter")
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real) \
            or not 0 < p <= 1:
        raise InputError(
            f"The 'p' parameter of density_filter must be a float in (0, 1]; got {p!r}."
        )
    # floor(. + 0.5) rather than round(): Python's round sends halves to even.
    n_kept = max(1, min(n_points, int(np.floor(float(p) * n_points + 0.5))))
    if return_distances:
        distances = knn_distance(x, k)
        indices = np.sort(np.argsort(distances, kind="stable")[:n_kept]).astype(np.int64)
        return indices, distances
    if n_kept == n_points:
        return np.arange(n_points, dtype=np.int64)
    return _densest(x, int(k), n_kept)
