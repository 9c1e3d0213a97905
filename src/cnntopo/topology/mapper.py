"""Mapper graphs as in the paper (Ayasdi-style): PCA lenses, a resolution/gain cover,
Variance Normalised Euclidean metric, single linkage with a fixed gap heuristic.

The result is plain node-link data (networkx's format) so that any graph tool can read it.

Cover
-----
For one lens with values in ``[a, b]`` (range ``R = b - a``), ``resolution`` = ``N`` closed
intervals of equal length ``L`` start at ``a + i * s`` (``i = 0 .. N-1``), with step
``s = L / gain``. Consecutive intervals then overlap by ``L - s``, i.e. a fraction
``1 - 1/gain`` of their length (Ayasdi's percent overlap), and every point lies in about
``gain`` intervals. The first interval starts at ``a`` and the last ends at ``b``::

    a + (N - 1) * s + L = b   =>   s = R / (N - 1 + gain),   L = gain * s
                                   (equivalently L = R / ((N - 1) / gain + 1)).

For two or more lenses the cover sets are the products of one interval per lens; a cover
set is named by its ``cube`` index ``[i, j, ...]``.

KeplerMapper's ``Cover(n_cubes=N, perc_overlap=1 - 1/gain)`` differs: it uses step
``R / N`` and length ``gain * R / N`` and centres the N intervals on ``[a, b]``, so its first
and last intervals stick out of the lens range by ``(gain - 1) * R / (2 N)`` on each side and
cover nothing there. Its intervals are longer than ours (``gain R / N`` against
``gain R / (N - 1 + gain)``). Giving KeplerMapper ``limits = [a + (gain - 1) s / 2,
a + (gain - 1) s / 2 + N s]`` (``s`` ours) makes its intervals equal to ours.

Clustering (the gap heuristic)
------------------------------
Inside each cover set with ``m >= 2`` points, single linkage gives ``m - 1`` merge heights
``h``; let ``diam`` be the largest pairwise distance in the set. As in TDAmapper's
``cluster_cutoff_at_first_empty_bin`` (the histogram rule of Singh, Memoli & Carlsson 2007):
``n_bins`` equal bins span ``[min(h), diam]``; the values ``h`` together with ``diam`` are
counted in right-closed bins ``[b0, b1], (b1, b2], ..., (b_{n-1}, b_n]`` (R's ``hist``);
the tree is cut at the midpoint of the first empty bin (merges with height above the cut
separate clusters). If no bin is empty, or ``min(h) == diam`` (e.g. two points, or all points
equidistant), the set is one cluster. A cover set with one point is one cluster.

Neither the distance matrix nor every merge height is computed: :mod:`cnntopo.topology.emst`
finds the diameter, the closest pair and the clusters at the bin breaks on a k-d tree, in
about ``m log m`` per cover set instead of ``m^2`` time and memory, with the same labels bit
for bit as ``scipy.cluster.hierarchy.linkage(pdist(X), "single")`` (``_gap_labels_dense`` is
that reference). A duplicate point adds a merge at height 0: it joins its twin's cluster,
but as the rule is defined (R's ``hist`` of the heights) it also moves ``min(h)`` to 0, and
with it the bins, in a cover set that had no duplicate before.

Small clusters (``min_cluster_fraction``)
-----------------------------------------
Let ``m`` be the median number of points of the non-empty cover sets. With
``min_cluster_fraction = a > 0``, a cluster becomes a node only when it holds at least
``a * m`` points (rounded up; at least 1). Its points are not moved anywhere; most of them
lie in other, larger clusters of the overlapping cover sets. The median is taken because a
few cover sets on a dense circle can hold a hundred times the typical count. Why: when the
lens image is a filled region (the PCA image of a circle plus off-model patches is a disc),
every sparse cover set still gives a node and Mapper draws a filled disc of small nodes;
the rule keeps the structure carried by at least ``a`` times the typical cover-set count.
``a = 0`` (the default) keeps every cluster, as the paper's Ayasdi runs did.
"""

from __future__ import annotations

import numbers
import warnings

import numba
import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist

from ..validation import InputError, check_int, check_points, is_int
from .emst import gap_labels, height_labels
from .lenses import neighborhood_lens, pca_lens

__all__ = ["pca_lens", "neighborhood_lens", "lens_values", "cover_intervals", "cover_sets",
           "variance_normalise", "single_linkage_gap", "GapSingleLinkage", "mapper_graph",
           "to_networkx"]

_VNE_CHOICES = ("variance", "std", None)


# ---------------------------------------------------------------- validation helpers




def _check_gain(gain, func):
    if (isinstance(gain, bool) or not isinstance(gain, numbers.Real)
            or not np.isfinite(gain) or gain <= 1):
        raise InputError(f"The 'gain' parameter of {func} must be a finite real number > 1; "
                         f"got {gain!r}.")
    return float(gain)


def _check_lens(lens, n_points, func):
    F = np.asarray(lens, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    if F.ndim != 2 or F.shape[0] != n_points or F.shape[1] < 1:
        raise InputError(f"The 'lens' parameter of {func} must have shape ({n_points},) or "
                         f"({n_points}, n_lenses); got shape {np.shape(lens)}.")
    if not np.all(np.isfinite(F)):
        raise InputError(f"The 'lens' parameter of {func} must hold finite values; "
                         f"got {int(np.sum(~np.isfinite(F)))} NaN/inf entries.")
    return F


# ---------------------------------------------------------------- cover

def cover_intervals(lens_min, lens_max, resolution, gain):
    """The `resolution` closed intervals covering ``[lens_min, lens_max]`` for one lens.

    Interval ``i`` is ``[a + i s, a + i s + L]`` with ``s = R / (resolution - 1 + gain)``,
    ``L = gain * s``, ``R = lens_max - lens_min`` (see the module docstring); the last end is
    set to ``lens_max`` exactly so that rounding never leaves the maximum uncovered.

    Parameters
    ----------
    lens_min, lens_max : float
        With ``lens_min <= lens_max``.
    resolution : int >= 1
    gain : float > 1

    Returns
    -------
    intervals : array of shape (resolution, 2)
        Rows ``[start, end]``. A lens of range 0 gives ``resolution`` copies of
        ``[lens_min, lens_min]``.
    """
    resolution = check_int(resolution, "resolution", "cover_intervals", 1)
    gain = _check_gain(gain, "cover_intervals")
    a, b = float(lens_min), float(lens_max)
    if not (np.isfinite(a) and np.isfinite(b) and a <= b):
        raise InputError(f"The 'lens_min', 'lens_max' parameters of cover_intervals must be "
                         f"finite with lens_min <= lens_max; got {a!r}, {b!r}.")
    step = (b - a) / (resolution - 1 + gain)
    starts = a + step * np.arange(resolution)
    ends = starts + gain * step
    ends[-1] = b
    return np.column_stack([starts, ends])


def _interval_ranges(values, intervals):
    """Per point, the first and last interval index containing it (closed intervals)."""
    # starts and ends are both increasing, so containment is two binary searches.
    first = np.searchsorted(intervals[:, 1], values, side="left")
    last = np.searchsorted(intervals[:, 0], values, side="right") - 1
    return first, last


def _resolutions(resolution, n_lenses, func):
    """One int >= 1 per lens: `resolution` repeated, or a sequence of one per lens."""
    if isinstance(resolution, (list, tuple, np.ndarray)):
        if len(resolution) != n_lenses:
            raise InputError(f"The 'resolution' parameter of {func} must be an int or one int "
                             f"per lens ({n_lenses}); got {list(resolution)!r}.")
        return tuple(check_int(r, "resolution", func, 1) for r in resolution)
    return (check_int(resolution, "resolution", func, 1),) * n_lenses


def _cover_pairs(F, resolutions, gain, func, bounds=None):
    """(cube code, point) pairs of the product cover, sorted by code then point.

    `bounds` (n_lenses, 2) fixes the covered range of each lens (default: the lens's range).
    """
    n, c = F.shape
    lo, hi = F.min(axis=0), F.max(axis=0)
    if bounds is not None:
        lo, hi = np.minimum(bounds[:, 0], lo), np.maximum(bounds[:, 1], hi)
    intervals = []
    pts = np.arange(n)
    codes = np.zeros(n, dtype=np.int64)
    for j in range(c):
        resolution = resolutions[j]
        if hi[j] == lo[j]:
            # Every interval would be [lo, lo] and hold every point: resolution copies of
            # the same cover set. One set carries all the information there is.
            warnings.warn(f"{func}: lens {j} is constant ({lo[j]!r}); all points go to its "
                          f"interval 0.", UserWarning, stacklevel=3)
            iv = cover_intervals(lo[j], hi[j], resolution, gain)
            first = np.zeros(n, dtype=np.int64)
            last = first
        else:
            iv = cover_intervals(lo[j], hi[j], resolution, gain)
            first, last = _interval_ranges(F[:, j], iv)
            # Only with gain within rounding of 1 can a value fall between two intervals;
            # it then goes to the next one rather than vanish.
            last = np.maximum(last, first)
        intervals.append(iv)
        counts = (last - first + 1)[pts]
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        codes = np.repeat(codes, counts) * resolution + np.repeat(first[pts], counts) + offsets
        pts = np.repeat(pts, counts)
    order = np.lexsort((pts, codes))
    return codes[order], pts[order], intervals


def cover_sets(lens, resolution=30, gain=3.0):
    """The non-empty sets of the product cover of the lens values.

    Parameters
    ----------
    lens : array of shape (n_points,) or (n_points, n_lenses)
    resolution : int >= 1
    gain : float > 1

    Returns
    -------
    sets : dict
        ``{cube: members}``, ``cube`` a tuple of interval indices (one per lens), ``members``
        an increasing int array of row indices; keys in lexicographic order.
    """
    resolutions = _resolutions(resolution, np.shape(lens)[1] if np.ndim(lens) == 2 else 1,
                               "cover_sets")
    gain = _check_gain(gain, "cover_sets")
    F = _check_lens(lens, np.shape(lens)[0] if np.ndim(lens) else 0, "cover_sets")
    codes, pts, _ = _cover_pairs(F, resolutions, gain, "cover_sets")
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out = {}
    for code, members in zip(codes[np.r_[0, bounds]], np.split(pts, bounds)):
        out[_cube_of(int(code), resolutions)] = members
    return out


def _cube_of(code, resolutions):
    cube = []
    for resolution in reversed(resolutions):
        code, i = divmod(code, resolution)
        cube.append(i)
    return tuple(reversed(cube))


# ---------------------------------------------------------------- metric and clustering

def variance_normalise(points, vne="variance"):
    """Scale each column for the Variance Normalised Euclidean metric.

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    vne : {"variance", "std", None}
        ``"variance"``: divide each column by its variance, as the paper words it;
        ``"std"``: by its standard deviation (the usual standardised Euclidean distance,
        scipy's ``seuclidean``); ``None``: no scaling. Population statistics (ddof 0) over
        all rows. A column whose variance is 0, or below ``1e-12`` times the largest column
        variance, is constant up to rounding; it is left unscaled (divided by 1) so that it
        never produces NaN or inf.

    Returns
    -------
    scaled : array of shape (n_points, n_features)
    """
    if vne not in _VNE_CHOICES:
        raise InputError(f"The 'vne' parameter of variance_normalise must be one of "
                         f"'variance', 'std', None; got {vne!r}.")
    X = check_points(points, "variance_normalise")
    if vne is None:
        return X.copy()
    var = X.var(axis=0)
    constant = var <= 1e-12 * var.max()
    scale = var if vne == "variance" else np.sqrt(var)
    scale = np.where(constant, 1.0, scale)
    return X / scale


def _gap_labels(X, n_bins):
    """Cluster labels 0..k-1 by the first-empty-bin rule, numbered by smallest member."""
    return gap_labels(X, n_bins)


def _height_labels(X, height):
    """Cluster labels of single linkage cut at `height` (merges at or below it are kept)."""
    return height_labels(X, height)


# The dense rule on the full distance matrix, O(m^2) memory: the reference that the
# matrix-free route above must match bit for bit (tests/test_mapper.py).
def _gap_labels_dense(X, n_bins):
    """Cluster labels 0..k-1 by the first-empty-bin rule, numbered by smallest member."""
    m = X.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    d = pdist(X)
    diam = d.max()
    Z = linkage(d, method="single")
    heights = Z[:, 2]
    h_min = heights.min()
    if h_min >= diam:
        return np.zeros(m, dtype=np.int64)
    breaks = h_min + (diam - h_min) / n_bins * np.arange(n_bins + 1)
    values = np.append(heights, diam)
    # Right-closed bins (R's hist), lowest bin closed on the left too.
    bins = np.clip(np.searchsorted(breaks, values, side="left") - 1, 0, n_bins - 1)
    empty = np.flatnonzero(np.bincount(bins, minlength=n_bins) == 0)
    if empty.size == 0:
        return np.zeros(m, dtype=np.int64)
    k = empty[0]
    return _cut(Z, m, 0.5 * (breaks[k] + breaks[k + 1]))


def _height_labels_dense(X, height):
    """Cluster labels of single linkage cut at `height` (merges at or below it are kept)."""
    m = X.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    return _cut(linkage(pdist(X), method="single"), m, height)


def _cut(Z, m, cut):
    """Labels of the single-linkage tree `Z` of `m` points cut at `cut`."""
    heights = Z[:, 2]
    # Rows of Z come in increasing height: the first n_keep merges survive the cut. Node
    # m + i is the cluster made by row i; components of the kept merges are the clusters.
    n_keep = int(np.searchsorted(heights, cut, side="right"))
    kept = Z[:n_keep, :2].astype(np.int64)
    made = m + np.arange(n_keep)
    adj = coo_matrix((np.ones(2 * n_keep), (np.r_[kept[:, 0], kept[:, 1]], np.r_[made, made])),
                     shape=(m + n_keep, m + n_keep))
    # connected_components numbers components by their smallest node, always a point here.
    _, labels = connected_components(adj, directed=False)
    return labels[:m].astype(np.int64)


def single_linkage_gap(points, n_bins=10):
    """Single-linkage clusters cut at the first empty bin of the merge-height histogram.

    The rule of Singh, Memoli & Carlsson (2007) as TDAmapper implements it; see the module
    docstring for the exact histogram.

    Parameters
    ----------
    points : array of shape (n_points, n_features)
        Already scaled for the metric wanted (Euclidean distances are taken).
    n_bins : int >= 1, default 10

    Returns
    -------
    labels : int array of shape (n_points,)
        ``0 .. n_clusters - 1``, numbered in the order of each cluster's smallest row index.
    """
    X = check_points(points, "single_linkage_gap")
    n_bins = check_int(n_bins, "n_bins", "single_linkage_gap", 1)
    return _gap_labels(X, n_bins)


class GapSingleLinkage:
    """scikit-learn-style clusterer over :func:`single_linkage_gap` (``fit`` sets ``labels_``).

    Lets other Mapper implementations (e.g. KeplerMapper's ``clusterer=``) run the same
    clustering as :func:`mapper_graph`.
    """

    def __init__(self, n_bins=10):
        self.n_bins = n_bins

    def get_params(self, deep=True):
        return {"n_bins": self.n_bins}

    def set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y=None):
        self.labels_ = single_linkage_gap(X, self.n_bins)
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_

    def __repr__(self):
        return f"GapSingleLinkage(n_bins={self.n_bins})"


# ---------------------------------------------------------------- the graph

# Up to this many nodes the links are marked in an n_nodes x n_nodes table (16 MB at most).
_DENSE_LINK_NODES = 4096


@numba.njit(cache=True, nogil=True)
def _dense_links(pts, nodes, n_points, n_nodes):
    """Links from (point, node) entries in node order: a table of node pairs, then read."""
    # Each point's nodes, in increasing order (a counting sort by point keeps node order).
    count = np.zeros(n_points + 1, dtype=np.int64)
    for p in pts:
        count[p + 1] += 1
    for i in range(n_points):
        count[i + 1] += count[i]
    fill = count[:-1].copy()
    by_point = np.empty(pts.shape[0], dtype=np.int64)
    for e in range(pts.shape[0]):
        by_point[fill[pts[e]]] = nodes[e]
        fill[pts[e]] += 1
    seen = np.zeros((n_nodes, n_nodes), dtype=np.bool_)
    n_links = 0
    for i in range(n_points):
        for x in range(count[i], count[i + 1]):
            u = by_point[x]
            for y in range(x + 1, count[i + 1]):
                v = by_point[y]
                if not seen[u, v]:
                    seen[u, v] = True
                    n_links += 1
    out = np.empty((n_links, 2), dtype=np.int64)
    k = 0
    for u in range(n_nodes):
        for v in range(u + 1, n_nodes):
            if seen[u, v]:
                out[k, 0] = u
                out[k, 1] = v
                k += 1
    return out


def _links(node_members, n_points):
    """Pairs of nodes sharing a point, sorted, from the inverted index point -> nodes."""
    n_nodes = len(node_members)
    if n_nodes < 2:
        return np.empty((0, 2), dtype=np.int64)
    sizes = np.fromiter((len(m) for m in node_members), dtype=np.int64, count=n_nodes)
    pts = np.concatenate(node_members).astype(np.int64, copy=False)
    nodes = np.repeat(np.arange(n_nodes, dtype=np.int64), sizes)
    if n_nodes <= _DENSE_LINK_NODES:
        return _dense_links(pts, nodes, n_points, n_nodes)
    order = np.lexsort((nodes, pts))
    pts, nodes = pts[order], nodes[order]
    # Each point's nodes are a contiguous run; pair entries d apart within a run.
    run = np.bincount(pts, minlength=n_points)
    pairs = []
    for d in range(1, int(run.max()) if run.size else 0):
        same = pts[:-d] == pts[d:]
        if not same.any():
            break
        pairs.append(nodes[:-d][same] * n_nodes + nodes[d:][same])
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(pairs))
    return np.column_stack(np.divmod(codes, n_nodes))


def _check_fraction(value, func):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value)
            or value < 0):
        raise InputError(f"The 'min_cluster_fraction' parameter of {func} must be a finite "
                         f"real number >= 0; got {value!r}.")
    return float(value)


def lens_values(points, lens=None, *, seed=0, func="lens_values"):
    """The lens values Mapper covers, and the lens's name.

    Parameters
    ----------
    points : array of shape (n, d)
    lens : None, "pca", "neighborhood" or array of shape (n,) or (n, n_lenses)
        As for :func:`mapper_graph`.
    seed : int
        Of the neighbourhood lens.

    Returns
    -------
    values : ndarray of shape (n, n_lenses)
    name : {"pca", "neighborhood", "user"}
    """
    X = check_points(points, func)
    if lens is None or (isinstance(lens, str) and lens == "pca"):
        return pca_lens(X, min(2, *X.shape)), "pca"
    if isinstance(lens, str):
        if lens != "neighborhood":
            raise InputError(f"The 'lens' parameter of {func} must be an array, None, "
                             f"'pca' or 'neighborhood'; got {lens!r}.")
        return neighborhood_lens(X, min(2, X.shape[0] - 1), seed=seed), "neighborhood"
    return _check_lens(lens, X.shape[0], func), "user"


def mapper_graph(points, *, lens=None, resolution=30, gain=3.0, vne="variance", n_bins=10,
                 min_cluster_fraction=0.0, seed=0, lens_bounds=None, cluster_height=None):
    """Mapper graph of a point cloud: Mapper(resolution, gain) in the paper's notation.

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    lens : None, "pca", "neighborhood" or array of shape (n_points,) or (n_points, n_lenses)
        ``None`` or ``"pca"`` (default): ``pca_lens(points, 2)``, PCA 1 and 2 of the unscaled
        points (or as many components as the shape allows), the paper's lenses;
        ``"neighborhood"``: ``neighborhood_lens(points, 2, seed=seed)``, an Isomap embedding
        of the 10-nearest-neighbour graph (call :func:`neighborhood_lens` yourself for other
        settings and pass the array); an array: your own lens values.
    resolution : int >= 1 or sequence of int, default 30
        Intervals per lens (one number for every lens, or one per lens).
    gain : float > 1, default 3.0
        Percent overlap ``1 - 1/gain`` (see the module docstring for the cover).
    vne : {"variance", "std", None}, default "variance"
        Column scaling of the metric used for clustering (:func:`variance_normalise`).
    n_bins : int >= 1, default 10
        Histogram bins of the gap heuristic (:func:`single_linkage_gap`).
    min_cluster_fraction : float >= 0, default 0.0
        A cluster becomes a node only if it holds at least this fraction of the median
        number of points of the non-empty cover sets (see the module docstring). 0 keeps
        every cluster (the paper's Mapper).
    seed : int >= 0, default 0
        Seed of the neighbourhood lens's sample; unused by the other lenses.
    lens_bounds : array of shape (n_lenses, 2), optional
        The range ``[min, max]`` of each lens that the cover spans (widened to the values'
        range if they stick out). Default: the range of the values. A bootstrap resample
        keeps the cover of the cloud it was drawn from this way.
    cluster_height : float, optional
        Cut single linkage at this height (in the metric of `vne`) instead of the gap
        heuristic: the clustering of Carrière, Michel & Oudot (2018), with the scale
        :func:`cnntopo.topology.mapper_stats.auto_parameters` estimates.

    Returns
    -------
    graph : dict
        networkx node-link data: ``{"directed": False, "multigraph": False, "graph": {...},
        "nodes": [...], "links": [...]}``. ``graph`` holds ``resolution, gain, vne, n_bins,
        n_points, lens`` (``"pca"``, ``"neighborhood"`` or ``"user"``), ``n_lenses``,
        ``intervals`` (per lens, the ``[start, end]`` list), ``seed``,
        ``min_cluster_fraction``, ``min_cluster_size`` (the smallest size a node may have)
        and ``n_unassigned`` (points in no node; 0 when ``min_cluster_fraction`` is 0). Each
        node is ``{"id", "members", "size", "cube"}``: ``members`` the sorted row indices
        into `points`, ``cube`` the interval index per lens. Nodes are ordered by cube
        (lexicographic), then by smallest member, and ``id`` is the position. Each link
        ``{"source", "target"}`` (``source < target``) joins two nodes sharing at least one
        member; links are sorted.
    """
    func = "mapper_graph"
    X = check_points(points, func)
    gain = _check_gain(gain, func)
    n_bins = check_int(n_bins, "n_bins", func, 1)
    min_cluster_fraction = _check_fraction(min_cluster_fraction, func)
    seed = check_int(seed, "seed", func, 0)
    if vne not in _VNE_CHOICES:
        raise InputError(f"The 'vne' parameter of {func} must be one of 'variance', 'std', "
                         f"None; got {vne!r}.")
    n = X.shape[0]
    F, lens_name = lens_values(X, lens, seed=seed, func=func)
    resolutions = _resolutions(resolution, F.shape[1], func)
    if cluster_height is not None and (isinstance(cluster_height, bool) or not isinstance(
            cluster_height, numbers.Real) or not np.isfinite(cluster_height) or cluster_height < 0):
        raise InputError(f"The 'cluster_height' parameter of {func} must be a finite number "
                         f">= 0 or None; got {cluster_height!r}.")
    if lens_bounds is not None:
        lens_bounds = np.asarray(lens_bounds, dtype=np.float64)
        if lens_bounds.shape != (F.shape[1], 2) or not np.all(np.isfinite(lens_bounds)):
            raise InputError(f"The 'lens_bounds' parameter of {func} must be a finite array of "
                             f"shape ({F.shape[1]}, 2); got {np.shape(lens_bounds)}.")
    Y = variance_normalise(X, vne)

    codes, pts, intervals = _cover_pairs(F, resolutions, gain, func, lens_bounds)
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = np.r_[0, bounds]
    # ceil of a rounded product, so that 0.3 * 10 keeps clusters of 3 points
    typical = float(np.median(np.diff(np.r_[starts, len(codes)])))
    min_size = max(1, int(np.ceil(round(min_cluster_fraction * typical, 9))))
    node_members, node_cubes = [], []
    for code, members in zip(codes[starts], np.split(pts, bounds)):
        labels = (_gap_labels(Y[members], n_bins) if cluster_height is None
                  else _height_labels(Y[members], cluster_height))
        cube = list(_cube_of(int(code), resolutions))
        # Labels are numbered by smallest member, so this order is the documented one; a
        # stable sort keeps each cluster's members increasing.
        by_label = np.argsort(labels, kind="stable")
        splits = np.flatnonzero(np.diff(labels[by_label])) + 1
        for cluster in np.split(members[by_label], splits):
            if cluster.size >= min_size:
                node_members.append(cluster)
                node_cubes.append(cube)

    assigned = np.zeros(n, dtype=bool)
    for m in node_members:
        assigned[m] = True
    if not node_members:
        warnings.warn(f"{func}: min_cluster_fraction={min_cluster_fraction!r} (clusters of at "
                      f"least {min_size} points) left no node.", UserWarning, stacklevel=2)
    links = _links(node_members, n)
    return {
        "directed": False,
        "multigraph": False,
        "graph": {"resolution": resolutions[0] if is_int(resolution) else list(resolutions),
                  "gain": gain, "vne": vne, "n_bins": n_bins,
                  "n_points": n, "lens": lens_name, "n_lenses": int(F.shape[1]),
                  "intervals": [iv.tolist() for iv in intervals], "seed": seed,
                  "min_cluster_fraction": min_cluster_fraction, "min_cluster_size": min_size,
                  "cluster_height": None if cluster_height is None else float(cluster_height),
                  "n_unassigned": int(n - assigned.sum())},
        "nodes": [{"id": i, "members": m.tolist(), "size": int(m.size), "cube": c}
                  for i, (m, c) in enumerate(zip(node_members, node_cubes))],
        "links": [{"source": int(a), "target": int(b)} for a, b in links],
    }


def to_networkx(graph):
    """The node-link dict of :func:`mapper_graph` as a ``networkx.Graph``.

    Node attributes ``members``, ``size`` and ``cube`` are kept; ``graph.graph`` holds the
    parameters.
    """
    import networkx as nx

    try:
        return nx.node_link_graph(graph, edges="links")
    except TypeError:  # networkx < 3.4 has no `edges` keyword; "links" was its default
        return nx.node_link_graph(graph)
