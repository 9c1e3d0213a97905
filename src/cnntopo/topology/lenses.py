"""Lenses for Mapper: the paper's PCA lenses and a neighbourhood lens.

A lens maps each point to a few real values; Mapper covers the lens values with overlapping
intervals (:mod:`cnntopo.topology.mapper`).

- :func:`pca_lens`: projection on the first principal components (the paper's PCA 1 and 2).
- :func:`neighborhood_lens`: a 2-D embedding of the k-nearest-neighbour graph, in the spirit
  of Ayasdi's Neighborhood lenses 1 and 2, which the paper says give the same results as PCA.
  It is Isomap (Tenenbaum, de Silva & Langford 2000; scikit-learn's ``Isomap``): classical
  MDS of the shortest-path distances of the kNN graph. So a loop of points is drawn as a
  loop even where PCA folds it (PCA sees only the directions of largest variance). Isomap is
  fitted on a seeded sample of at most `n_landmarks` points and the other points are placed
  by scikit-learn's out-of-sample extension (``Isomap.transform``: each point's geodesic
  distances are those of its nearest sample points plus the step to them). That keeps the
  cost linear in the number of points: about 20 s for 78,643 points on two cores.

  Why Isomap rather than a spectral embedding (Laplacian eigenmaps, scikit-learn's
  ``SpectralEmbedding(affinity="nearest_neighbors")``): measured on the VGG16 filter clouds
  (benchmarks/bench_mapper_dense.py and the notes), the spectral lens collapsed when the
  kNN graph was disconnected (VGG16 layer 2: a 60-node graph), packed the dense parts of the
  ring together (its scale follows density), and needed the whole 78k-point graph's
  eigenvectors (21-33 s). The Isomap lens ordered the primary-circle filters by their angle
  in every one of layers 2-12: the lens angle phi about its centre agreed with theta up to a
  rotation or reflection, ``|mean exp(i (phi -+ theta))| = 1.00``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..validation import InputError, check_int, check_points

__all__ = ["pca_lens", "neighborhood_lens"]

_CHUNK = 4096  # rows per out-of-sample block: memory ~ 8 * _CHUNK * n_landmarks bytes





def pca_lens(points, n_components=2):
    """Project points on their first principal components (the paper's PCA 1 and 2).

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    n_components : int, default 2
        In ``[1, min(n_points, n_features)]``.

    Returns
    -------
    lens : array of shape (n_points, n_components)
        Deterministic: scikit-learn's full SVD solver with its sign convention.
    """
    from sklearn.decomposition import PCA

    X = check_points(points, "pca_lens")
    top = min(X.shape)
    if (isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral)
            or not 1 <= n_components <= top):
        raise InputError(f"The 'n_components' parameter of pca_lens must be an int in "
                         f"[1, min(n_points, n_features)] = [1, {top}]; got {n_components!r}.")
    return PCA(n_components=int(n_components), svd_solver="full").fit_transform(X)


def neighborhood_lens(points, n_components=2, *, n_neighbors=10, n_landmarks=2000, seed=0):
    """A neighbourhood lens: Isomap embedding of the k-nearest-neighbour graph.

    Parameters
    ----------
    points : array of shape (n_points, n_features)
    n_components : int, default 2
        Dimensions of the embedding, in ``[1, n_fit - 1]`` with
        ``n_fit = min(n_points, n_landmarks)``.
    n_neighbors : int, default 10
        Neighbours per point in the kNN graph, in ``[1, n_fit - 1]``. Where the graph of
        the sample falls apart, scikit-learn joins its pieces by their closest pairs (and
        warns).
    n_landmarks : int, default 2000
        Isomap is fitted on at most this many points, drawn without replacement with
        `seed`; the others are placed by ``Isomap.transform``. With ``n_points <=
        n_landmarks`` every point is fitted and `seed` is not used.
    seed : int, default 0
        Seed of the sample.

    Returns
    -------
    lens : array of shape (n_points, n_components)
        Isomap coordinates; each column's sign is fixed so that its entry of largest
        absolute value is positive (same input and seed, same lens).

    Examples
    --------
    Points on a circle go round the lens once:

    >>> t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    >>> lens = neighborhood_lens(np.c_[np.cos(t), np.sin(t), np.zeros(200)])
    >>> angle = np.unwrap(np.arctan2(lens[:, 1], lens[:, 0]))
    >>> float(round(abs(angle[-1] - angle[0]) / (2 * np.pi), 1))
    1.0
    """
    from scipy.sparse import SparseEfficiencyWarning
    from sklearn.manifold import Isomap

    func = "neighborhood_lens"
    X = check_points(points, func)
    n_landmarks = check_int(n_landmarks, "n_landmarks", func, 3)
    seed = check_int(seed, "seed", func, 0)
    n = X.shape[0]
    n_fit = min(n, n_landmarks)
    if n_fit < 3:
        raise InputError(f"The 'points' parameter of {func} must have at least 3 rows; "
                         f"got {n}.")
    n_neighbors = check_int(n_neighbors, "n_neighbors", func, 1)
    if n_neighbors > n_fit - 1:
        raise InputError(f"The 'n_neighbors' parameter of {func} must be an int in "
                         f"[1, {n_fit - 1}] (fitted points - 1); got {n_neighbors}.")
    n_components = check_int(n_components, "n_components", func, 1)
    if n_components > n_fit - 1:
        raise InputError(f"The 'n_components' parameter of {func} must be an int in "
                         f"[1, {n_fit - 1}] (fitted points - 1); got {n_components}.")
    if n > n_landmarks:
        rows = np.sort(np.random.default_rng(seed).choice(n, n_landmarks, replace=False))
    else:
        rows = np.arange(n)
    # The dense eigensolver is exact and needs no random start (ARPACK's would).
    iso = Isomap(n_neighbors=n_neighbors, n_components=n_components, eigen_solver="dense")
    with warnings.catch_warnings():
        # scikit-learn's joining of a disconnected graph edits a CSR matrix in place; its
        # own warning (how many pieces were joined) still shows.
        warnings.simplefilter("ignore", SparseEfficiencyWarning)
        iso.fit(X[rows])
    if n > n_landmarks:
        lens = np.vstack([iso.transform(X[s:s + _CHUNK]) for s in range(0, n, _CHUNK)])
        lens[rows] = iso.embedding_  # equal up to rounding; exact for the fitted rows
    else:
        lens = np.array(iso.embedding_, dtype=np.float64)
    big = np.argmax(np.abs(lens), axis=0)
    lens *= np.where(lens[big, np.arange(lens.shape[1])] < 0, -1.0, 1.0)
    return lens
