"""Single linkage without the distance matrix (cnntopo.topology.emst) against scipy's dense one.

Exact means bit for bit: the MST weights equal ``linkage(pdist(X), "single")[:, 2]``, the
diameter equals ``pdist(X).max()``, and the labels equal the dense rule's
(``cnntopo.topology.mapper._gap_labels_dense``), on random clouds with ties (points on a small
integer grid, so many equal distances) and duplicate points. Small leaf sizes make the k-d
tree deep even on small clouds, so that its pruning is exercised.
"""

import warnings

import numpy as np
import pytest
from conftest import noisy_circle
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist

from cnntopo.topology import emst
from cnntopo.topology.emst import euclidean_mst, gap_labels, height_labels
from cnntopo.topology.mapper import (
    _gap_labels_dense,
    _height_labels_dense,
    mapper_graph,
    pca_lens,
)


def _cloud(seed, kind, m, d):
    """Random clouds: Gaussian, integer grid (ties), with duplicates, or separated blobs."""
    rng = np.random.default_rng(seed)
    if kind == "grid":
        return rng.integers(0, 3, size=(m, d)).astype(float)
    if kind == "duplicates":
        X = rng.normal(size=(m, d))
        X[rng.integers(0, m, m // 3)] = X[rng.integers(0, m, m // 3)]
        return X
    if kind == "blobs":
        centres = rng.normal(size=(int(rng.integers(1, 6)), d)) * 10
        return centres[rng.integers(0, len(centres), m)] + rng.normal(size=(m, d)) * \
            rng.uniform(0.1, 2.0)
    return rng.normal(size=(m, d))


clouds = st.builds(_cloud, st.integers(0, 2**32 - 1),
                   st.sampled_from(["gauss", "grid", "duplicates", "blobs"]),
                   st.integers(2, 300), st.integers(1, 9))


@pytest.fixture(params=[1, 4, 64], ids=lambda s: f"leaf{s}")
def leaf_size(request, monkeypatch):
    monkeypatch.setattr(emst, "_LEAF_SIZE", request.param)
    return request.param


@settings(max_examples=60, deadline=None)
@given(X=clouds, method=st.sampled_from(["dense", "tree"]))
def test_mst_weights_and_diameter_are_scipys_bit_for_bit(X, method):
    d = pdist(X)
    edges, weights, diam = euclidean_mst(X, method=method)
    np.testing.assert_array_equal(weights, linkage(d, method="single")[:, 2])
    assert diam == d.max()
    # The edges are a spanning tree, and each weight is its edge's length.
    assert len({tuple(e) for e in np.sort(edges, axis=1)}) == len(X) - 1
    np.testing.assert_array_equal(weights, [pdist(X[e])[0] for e in edges])
    assert emst._labels(np.arange(len(X)), np.arange(len(X))).max() == len(X) - 1
    assert emst.cut_labels(edges, weights, len(X), np.inf).max() == 0


@settings(max_examples=80, deadline=None)
@given(X=clouds, n_bins=st.integers(1, 14), height=st.floats(0.0, 4.0))
def test_labels_equal_the_dense_rules(X, n_bins, height):
    for leaf in (2, 64):
        emst._LEAF_SIZE, saved = leaf, emst._LEAF_SIZE
        try:
            np.testing.assert_array_equal(gap_labels(X, n_bins), _gap_labels_dense(X, n_bins))
            np.testing.assert_array_equal(height_labels(X, height),
                                          _height_labels_dense(X, height))
        finally:
            emst._LEAF_SIZE = saved


def test_labels_equal_the_dense_rules_with_several_clusters(leaf_size):
    # Blobs with gaps between them: the rule has to grow the clusters over several bins.
    n_split = 0
    for seed in range(40):
        X = _cloud(seed, "blobs", 250, 4)
        expected = _gap_labels_dense(X, 10)
        n_split += expected.max() > 0
        np.testing.assert_array_equal(gap_labels(X, 10), expected)
        edges, weights, _ = euclidean_mst(X)
        np.testing.assert_array_equal(
            emst.cut_labels(edges, weights, len(X), weights[len(X) // 2]),
            _height_labels_dense(X, weights[len(X) // 2]))
    assert n_split >= 10


def test_one_point_two_points_and_all_equal():
    assert gap_labels(np.zeros((1, 3)), 10).tolist() == [0]
    assert height_labels(np.zeros((1, 3)), 0.0).tolist() == [0]
    assert gap_labels(np.array([[0.0], [5.0]]), 10).tolist() == [0, 0]
    assert height_labels(np.array([[0.0], [5.0]]), 4.9).tolist() == [0, 1]
    assert height_labels(np.array([[0.0], [5.0]]), 5.0).tolist() == [0, 0]
    assert gap_labels(np.zeros((300, 2)), 10).tolist() == [0] * 300
    edges, weights, diam = euclidean_mst(np.zeros((300, 2)), method="tree")
    assert weights.tolist() == [0.0] * 299 and diam == 0.0


def test_a_duplicate_point_adds_a_zero_edge_and_changes_no_cluster():
    X, _ = noisy_circle(400, noise=0.05, seed=3)
    X = np.r_[X, X[10:11] * 1.0, X[20:22] + [[5.0, 0.0], [5.0, 0.0]]]  # with two far points
    twin = np.r_[X, X[7:8]]                                             # row 7 twice
    _, w, diam = euclidean_mst(X, method="tree")
    _, w_twin, diam_twin = euclidean_mst(twin, method="tree")
    np.testing.assert_array_equal(w_twin, np.sort(np.r_[0.0, w]))
    assert diam_twin == diam
    # X already holds a duplicate (row 400 is row 10), so the lowest merge is 0 either way.
    assert w[0] == 0.0
    for labels, with_twin in ((height_labels(X, 0.3), height_labels(twin, 0.3)),
                              (gap_labels(X, 10), gap_labels(twin, 10))):
        assert labels.max() >= 1  # the far points are clusters of their own
        np.testing.assert_array_equal(with_twin[:-1], labels)
        assert with_twin[-1] == labels[7]


@pytest.mark.parametrize("cluster_height", [None, 0.35])
def test_mapper_graphs_identical_to_the_dense_path(monkeypatch, cluster_height):
    from cnntopo.topology import mapper

    rng = np.random.default_rng(5)
    X = np.r_[noisy_circle(1500, noise=0.1, seed=1, dim=5)[0], rng.normal(size=(300, 5)) * 2]
    X[rng.integers(0, len(X), 200)] = X[rng.integers(0, len(X), 200)]  # duplicates
    lens = pca_lens(X, 2)
    kw = dict(lens=lens, resolution=12, gain=3.0, cluster_height=cluster_height)
    fast = mapper_graph(X, **kw)
    monkeypatch.setattr(mapper, "_gap_labels", _gap_labels_dense)
    monkeypatch.setattr(mapper, "_height_labels", _height_labels_dense)
    dense = mapper_graph(X, **kw)
    assert fast == dense
    assert sum(len(n["members"]) for n in fast["nodes"]) > len(X)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 600), d=st.integers(3, 6),
       resolution=st.integers(1, 12), gain=st.floats(1.5, 4.0),
       grid=st.booleans(), height=st.one_of(st.none(), st.floats(0.0, 3.0)))
def test_mapper_graphs_identical_to_the_dense_path_on_random_clouds(seed, n, d, resolution,
                                                                    gain, grid, height):
    from cnntopo.topology import mapper

    X = _cloud(seed, "grid" if grid else "blobs", n, d)
    kw = dict(lens=X[:, :2] + 0.01 * X[:, 2:3], resolution=resolution, gain=gain,
              cluster_height=height)
    saved = mapper._gap_labels, mapper._height_labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a constant lens on the grid says so
        fast = mapper_graph(X, **kw)
        mapper._gap_labels, mapper._height_labels = _gap_labels_dense, _height_labels_dense
        try:
            dense = mapper_graph(X, **kw)
        finally:
            mapper._gap_labels, mapper._height_labels = saved
    assert fast == dense
