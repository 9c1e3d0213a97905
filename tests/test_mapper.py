"""Tests of cnntopo.topology.mapper: hand-worked covers and cuts, brute-force references, KeplerMapper."""

import itertools
import json
import warnings

import networkx as nx
import numpy as np
import pytest
from conftest import need_module, noisy_circle
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from cnntopo.topology.mapper import (
    GapSingleLinkage,
    cover_intervals,
    cover_sets,
    mapper_graph,
    pca_lens,
    single_linkage_gap,
    to_networkx,
    variance_normalise,
)

# ---------------------------------------------------------------- cover

def test_cover_intervals_by_hand():
    # resolution 2, gain 2 on [0, 3]: s = 3 / (2 - 1 + 2) = 1, L = 2.
    np.testing.assert_array_equal(cover_intervals(0, 3, 2, 2), [[0, 2], [1, 3]])
    # resolution 3, gain 3 on [0, 10]: s = 10 / 5 = 2, L = 6.
    np.testing.assert_allclose(cover_intervals(0, 10, 3, 3), [[0, 6], [2, 8], [4, 10]])
    # resolution 1: the whole range.
    np.testing.assert_array_equal(cover_intervals(-1, 4, 1, 3), [[-1, 4]])


def test_cover_intervals_overlap_is_one_minus_one_over_gain():
    iv = cover_intervals(-2.0, 5.0, 30, 3.0)
    lengths = iv[:, 1] - iv[:, 0]
    np.testing.assert_allclose(lengths, lengths[0])
    overlap = (iv[:-1, 1] - iv[1:, 0]) / lengths[0]
    np.testing.assert_allclose(overlap, 1 - 1 / 3)
    assert iv[0, 0] == -2.0 and iv[-1, 1] == 5.0


def test_cover_sets_closed_intervals_by_hand():
    sets = cover_sets(np.array([0.0, 1.0, 2.0, 3.0, 0.5]), resolution=2, gain=2)
    assert list(sets) == [(0,), (1,)]
    np.testing.assert_array_equal(sets[(0,)], [0, 1, 2, 4])
    np.testing.assert_array_equal(sets[(1,)], [1, 2, 3])


def test_cover_sets_equal_brute_force_product_cover():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(300, 2))
    res, gain = 7, 3.0
    sets = cover_sets(F, res, gain)
    ivs = [cover_intervals(F[:, j].min(), F[:, j].max(), res, gain) for j in range(2)]
    expected = {}
    for i, j in itertools.product(range(res), repeat=2):
        inside = ((ivs[0][i, 0] <= F[:, 0]) & (F[:, 0] <= ivs[0][i, 1])
                  & (ivs[1][j, 0] <= F[:, 1]) & (F[:, 1] <= ivs[1][j, 1]))
        if inside.any():
            expected[(i, j)] = np.flatnonzero(inside)
    assert list(sets) == sorted(expected)
    for cube, members in expected.items():
        np.testing.assert_array_equal(sets[cube], members)


def test_constant_lens_does_not_crash():
    X = np.random.default_rng(0).normal(size=(50, 3))
    lens = np.c_[np.zeros(50), X[:, 0]]
    with pytest.warns(UserWarning, match="lens 0 is constant"):
        g = mapper_graph(X, lens=lens, resolution=5, gain=2)
    assert {node["cube"][0] for node in g["nodes"]} == {0}
    assert set().union(*(node["members"] for node in g["nodes"])) == set(range(50))


# ---------------------------------------------------------------- clustering

def test_gap_rule_by_hand():
    # Heights 1, 1, 1, 8 and diameter 11: bins of width 1 from 1 to 11; the values
    # 1, 1, 1, 8, 11 leave bin (2, 3] empty first, so the cut is 2.5.
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    np.testing.assert_array_equal(single_linkage_gap(x, 10), [0, 0, 0, 1, 1])
    # Two bins [1, 6], (6, 11] hold 1, 1, 1 and 8, 11: no empty bin, one cluster.
    np.testing.assert_array_equal(single_linkage_gap(x, 2), [0, 0, 0, 0, 0])
    # A height on a bin edge: heights 1, 3, 7, diameter 11. Right-closed bins put 3 in
    # (2, 3], so (3, 4] is the first empty bin and the cut 3.5 keeps 0, 1, 4 together
    # (left-closed bins would cut at 2.5 and give three clusters).
    x = np.array([[0.0], [1.0], [4.0], [11.0]])
    np.testing.assert_array_equal(single_linkage_gap(x, 10), [0, 0, 0, 1])
    # Equally spaced points: heights all 1, diameter 5; bin 2 is empty, cut 1.6: one cluster.
    np.testing.assert_array_equal(single_linkage_gap(np.arange(6.0)[:, None]), np.zeros(6))


def test_gap_rule_blobs():
    rng = np.random.default_rng(1)
    one = rng.normal(size=(80, 3))
    two = np.r_[one, rng.normal(size=(60, 3)) + 20.0]
    labels = single_linkage_gap(two)
    np.testing.assert_array_equal(labels, np.r_[np.zeros(80), np.ones(60)])
    assert single_linkage_gap(one).max() == 0
    assert single_linkage_gap(one[:1]).tolist() == [0]
    assert single_linkage_gap(np.zeros((4, 2))).tolist() == [0, 0, 0, 0]


def _gap_reference(X, n_bins):
    """Independent first-empty-bin rule: MST by scipy's csgraph, R's hist by a loop."""
    m = len(X)
    D = squareform(pdist(X))
    diam = D.max()
    mst = minimum_spanning_tree(D).toarray()
    heights = np.sort(mst[mst > 0])
    heights = np.r_[np.zeros(m - 1 - heights.size), heights]  # zero-length edges vanish
    lo = heights.min()
    if lo == diam:
        return np.zeros(m, dtype=int)
    width = (diam - lo) / n_bins
    counts = [0] * n_bins
    for v in list(heights) + [diam]:
        k = 0
        while k < n_bins - 1 and v > lo + (k + 1) * width:
            k += 1
        counts[k] += 1
    if 0 not in counts:
        return np.zeros(m, dtype=int)
    k = counts.index(0)
    cut = lo + (k + 0.5) * width
    graph = np.where((mst > 0) & (mst <= cut), 1, 0)
    _, labels = connected_components(graph, directed=False)
    return labels


@pytest.mark.parametrize("seed", range(25))
def test_gap_rule_matches_reference(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 70))
    centres = rng.uniform(0, 10, size=(int(rng.integers(1, 4)), 4))
    X = centres[rng.integers(0, len(centres), m)] + rng.normal(size=(m, 4))
    n_bins = int(rng.integers(3, 15))
    np.testing.assert_array_equal(single_linkage_gap(X, n_bins), _gap_reference(X, n_bins))


def test_gap_single_linkage_estimator():
    X = np.r_[np.zeros((3, 2)), np.full((2, 2), 9.0)]
    est = GapSingleLinkage(n_bins=10).fit(X)
    np.testing.assert_array_equal(est.labels_, [0, 0, 0, 1, 1])
    assert est.get_params() == {"n_bins": 10}


# ---------------------------------------------------------------- metric

def test_variance_normalise_values_and_zero_variance_column():
    rng = np.random.default_rng(2)
    X = np.c_[rng.normal(0, 2.0, 100), np.full(100, 7.0), rng.normal(0, 0.5, 100)]
    Y = variance_normalise(X, "variance")
    assert np.all(np.isfinite(Y))
    np.testing.assert_allclose(Y[:, 0], X[:, 0] / X[:, 0].var())
    np.testing.assert_allclose(Y[:, 2], X[:, 2] / X[:, 2].var())
    np.testing.assert_array_equal(Y[:, 1], 7.0)
    np.testing.assert_allclose(variance_normalise(X, "std")[:, 2], X[:, 2] / X[:, 2].std())
    np.testing.assert_array_equal(variance_normalise(X, None), X)
    # A constant column adds nothing to any distance: same graph as without it.
    lens = X[:, 0]
    with_const = mapper_graph(X, lens=lens, resolution=6, gain=2.5)
    without = mapper_graph(X[:, [0, 2]], lens=lens, resolution=6, gain=2.5)
    assert with_const["nodes"] == without["nodes"] and with_const["links"] == without["links"]


def test_vne_variance_is_not_scale_invariant():
    # Dividing by the variance (the paper's wording) maps a column scaled by c to 1/c times
    # the original; dividing by the std makes it scale-free.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(50, 2))
    Xc = X * [10.0, 1.0]
    np.testing.assert_allclose(variance_normalise(Xc)[:, 0], variance_normalise(X)[:, 0] / 10)
    np.testing.assert_allclose(variance_normalise(Xc, "std"), variance_normalise(X, "std"))


# ---------------------------------------------------------------- graph

@pytest.mark.parametrize("dense_nodes", [4096, 0])   # the table of node pairs, and past it
def test_graph_structure_and_links_brute_force(dense_nodes, monkeypatch):
    from cnntopo.topology import mapper as mapper_module

    monkeypatch.setattr(mapper_module, "_DENSE_LINK_NODES", dense_nodes)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 5))
    g = mapper_graph(X, resolution=8, gain=3)
    assert g["directed"] is False and g["multigraph"] is False
    assert g["graph"]["lens"] == "pca" and g["graph"]["n_points"] == 400
    nodes = g["nodes"]
    assert [nd["id"] for nd in nodes] == list(range(len(nodes)))
    assert all(nd["size"] == len(nd["members"]) == len(set(nd["members"])) for nd in nodes)
    assert all(nd["members"] == sorted(nd["members"]) for nd in nodes)
    keys = [(nd["cube"], nd["members"][0]) for nd in nodes]
    assert keys == sorted(keys)
    # Every point lies in some node; a cube's nodes partition its cover set.
    assert set().union(*(nd["members"] for nd in nodes)) == set(range(400))
    sets = cover_sets(pca_lens(X), 8, 3)
    for cube, members in sets.items():
        parts = [nd["members"] for nd in nodes if tuple(nd["cube"]) == cube]
        assert sorted(itertools.chain(*parts)) == members.tolist()
    brute = [{"source": a, "target": b} for a, b in itertools.combinations(range(len(nodes)), 2)
             if set(nodes[a]["members"]) & set(nodes[b]["members"])]
    assert g["links"] == brute
    assert len(brute) > 0


def test_noisy_circle_has_one_cycle():
    X = noisy_circle(400, 0.05, seed=0)[0]
    G = to_networkx(mapper_graph(X, lens=X[:, 0], resolution=10, gain=1.5))
    assert nx.is_connected(G)
    assert len(nx.cycle_basis(G)) == 1
    assert G.number_of_nodes() == G.number_of_edges()  # a single cycle, no tails either


@pytest.mark.parametrize("resolution", [1, 5])
def test_two_blobs_two_components(resolution):
    # Uniform blobs: Gaussian tails would let the gap rule split off lone outliers.
    rng = np.random.default_rng(5)
    X = np.r_[rng.uniform(size=(300, 3)), rng.uniform(size=(300, 3)) + [30, 0, 0]]
    # vne=None: dividing by the variance would shrink the long axis that separates them
    # (its variance is ~225), see test_vne_variance_is_not_scale_invariant.
    G = to_networkx(mapper_graph(X, resolution=resolution, gain=2, vne=None))
    # With one cover set only the gap rule can separate them.
    assert nx.number_connected_components(G) == 2
    if resolution == 1:
        assert G.number_of_nodes() == 2


def test_determinism_and_networkx_round_trip():
    X = noisy_circle(500, 0.1, seed=6)[0]
    X = np.c_[X, np.random.default_rng(6).normal(size=(500, 3))]
    a = json.dumps(mapper_graph(X, resolution=12, gain=3))
    b = json.dumps(mapper_graph(X.copy(), resolution=12, gain=3))
    assert a == b
    g = json.loads(a)
    G = to_networkx(g)
    assert G.number_of_nodes() == len(g["nodes"]) and G.number_of_edges() == len(g["links"])
    assert G.nodes[0]["members"] == g["nodes"][0]["members"]
    assert G.graph["resolution"] == 12


@pytest.mark.parametrize("res, gain", [(8, 2.0), (8, 4.0), (16, 4.0), (4, 2.0)])
def test_same_nodes_and_links_as_kmapper(res, gain):
    """KeplerMapper with limits that make its cubes ours, and our clusterer, builds the same
    graph. Integer lens values with dyadic gains keep both covers' arithmetic exact, so the
    many points on interval ends test closed-interval handling on both sides."""
    km = need_module("kmapper", "KeplerMapper (the bench extra)")
    rng = np.random.default_rng(res + int(gain))
    n = 250
    X = rng.normal(size=(n, 9))
    top = res - 1 + gain  # with step s = 1
    lens = rng.integers(0, int(top) + 1, size=(n, 2)).astype(float)
    lens[0], lens[1] = 0.0, top
    start = (gain - 1) / 2
    limits = np.array([[start, start + res]] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kg = km.KeplerMapper(verbose=0).map(
            lens, variance_normalise(X), clusterer=GapSingleLinkage(10),
            cover=km.Cover(n_cubes=res, perc_overlap=1 - 1 / gain, limits=limits))
    g = mapper_graph(X, lens=lens, resolution=res, gain=gain)
    # KeplerMapper skips cubes holding a single point; ours makes them a node.
    lone = {c for c, m in cover_sets(lens, res, gain).items() if m.size == 1}
    kept = [nd for nd in g["nodes"] if tuple(nd["cube"]) not in lone]
    ours = sorted(tuple(nd["members"]) for nd in kept)
    theirs = sorted(tuple(sorted(v)) for v in kg["nodes"].values())
    assert ours == theirs
    by_id = {nd["id"]: tuple(nd["members"]) for nd in kept}
    our_links = sorted(tuple(sorted((by_id[e["source"]], by_id[e["target"]])))
                       for e in g["links"] if e["source"] in by_id and e["target"] in by_id)
    members = {key: tuple(sorted(v)) for key, v in kg["nodes"].items()}
    their_links = sorted(tuple(sorted((members[a], members[b])))
                         for a, targets in kg["links"].items() for b in targets)
    assert len(our_links) > 0
    assert our_links == their_links


# ---------------------------------------------------------------- small clusters

def _blobs_on_a_line_lens():
    """Lens 0..3 at resolution 2, gain 2: cover sets [0, 2] and [1, 3].

    Set [0, 2]: blob A (10 points) and, far from it in the metric, blob B (2 points), both
    at lens 0.5. Set [1, 3]: blob C (6 points) at lens 2.5. Sizes 12 and 6: median 9.
    """
    # evenly spaced rows: every merge height is the spacing, so the gap rule keeps a blob
    A = np.c_[0.01 * np.arange(10), np.zeros(10)]
    B = np.c_[100 + 0.01 * np.arange(2), np.zeros(2)]
    C = np.c_[0.01 * np.arange(6), np.full(6, 5.0)]
    X = np.r_[A, B, C]
    lens = np.r_[np.full(12, 0.5), np.full(6, 2.5)]
    lens[0], lens[12] = 0.0, 3.0  # the lens range is [0, 3]
    return X, lens


@pytest.mark.parametrize("fraction, min_size, kept", [
    (0.0, 1, [range(10), range(10, 12), range(12, 18)]),
    (0.2, 2, [range(10), range(10, 12), range(12, 18)]),   # 1.8 -> 2: B stays
    (0.3, 3, [range(10), range(12, 18)]),                   # 2.7 -> 3: B goes
    (2 / 3, 6, [range(10), range(12, 18)]),                 # 6 exactly: C stays
    (0.7, 7, [range(10)]),                                  # 6.3 -> 7: C goes
])
def test_min_cluster_fraction_by_hand(fraction, min_size, kept):
    X, lens = _blobs_on_a_line_lens()
    g = mapper_graph(X, lens=lens, resolution=2, gain=2, vne=None,
                     min_cluster_fraction=fraction)
    assert [nd["members"] for nd in g["nodes"]] == [list(r) for r in kept]
    assert g["graph"]["min_cluster_size"] == min_size
    assert g["graph"]["min_cluster_fraction"] == fraction
    assert g["graph"]["n_unassigned"] == 18 - sum(len(r) for r in kept)


def test_min_cluster_fraction_rounding_keeps_exact_products():
    # 0.3 * 10 is 3.0000000000000004 in floating point; clusters of 3 must stay.
    X = np.r_[np.zeros((7, 1)), np.full((3, 1), 50.0), np.full((10, 1), 200.0)]
    lens = np.r_[np.zeros(10), np.ones(10)]
    g = mapper_graph(X, lens=lens, resolution=2, gain=2, vne=None, min_cluster_fraction=0.3)
    assert g["graph"]["min_cluster_size"] == 3
    assert sorted(nd["size"] for nd in g["nodes"]) == [3, 7, 10]


def test_min_cluster_fraction_keeps_exactly_the_large_nodes_and_their_links():
    rng = np.random.default_rng(12)
    X = np.c_[noisy_circle(700, 0.15, seed=12)[0], rng.normal(scale=0.3, size=(700, 2))]
    full = mapper_graph(X, resolution=15, gain=3)
    sizes = [len(m) for m in cover_sets(pca_lens(X), 15, 3).values()]
    g = mapper_graph(X, resolution=15, gain=3, min_cluster_fraction=0.5)
    min_size = int(np.ceil(0.5 * np.median(sizes)))
    assert g["graph"]["min_cluster_size"] == min_size > 1
    big = [nd for nd in full["nodes"] if nd["size"] >= min_size]
    assert 0 < len(big) < len(full["nodes"])
    assert [(nd["cube"], nd["members"]) for nd in g["nodes"]] == \
        [(nd["cube"], nd["members"]) for nd in big]
    old_id = {nd["id"]: i for i, nd in enumerate(big)}
    induced = sorted((old_id[e["source"]], old_id[e["target"]]) for e in full["links"]
                     if e["source"] in old_id and e["target"] in old_id)
    assert [(e["source"], e["target"]) for e in g["links"]] == induced
    covered = set().union(*(nd["members"] for nd in g["nodes"]))
    assert g["graph"]["n_unassigned"] == 700 - len(covered)


def test_min_cluster_fraction_that_leaves_nothing_warns():
    with pytest.warns(UserWarning, match=r"min_cluster_fraction=100\.0 .* left no node"):
        g = mapper_graph(X_SMALL_CIRCLE, resolution=3, min_cluster_fraction=100.0)
    assert g["nodes"] == [] and g["links"] == [] and g["graph"]["n_unassigned"] == 60


X_SMALL_CIRCLE = noisy_circle(60, 0.05, seed=1)[0]


# ---------------------------------------------------------------- errors

X_SMALL = np.random.default_rng(9).normal(size=(20, 3))


@pytest.mark.parametrize("kwargs, match", [
    ({"resolution": 0}, r"'resolution' parameter of mapper_graph must be an int >= 1; got 0"),
    ({"resolution": 2.5}, r"'resolution' .* got 2\.5"),
    ({"gain": 1}, r"'gain' parameter of mapper_graph must be a finite real number > 1; got 1"),
    ({"gain": True}, r"'gain' .* got True"),
    ({"n_bins": 0}, r"'n_bins' parameter of mapper_graph must be an int >= 1; got 0"),
    ({"vne": "l2"}, r"'vne' parameter of mapper_graph must be one of .*; got 'l2'"),
    ({"lens": np.zeros(19)}, r"'lens' parameter of mapper_graph must have shape \(20,\) or "
                             r"\(20, n_lenses\); got shape \(19,\)"),
    ({"lens": np.r_[np.nan, np.zeros(19)]}, r"'lens' .* finite values; got 1 NaN/inf"),
    ({"min_cluster_fraction": -0.1}, r"'min_cluster_fraction' parameter of mapper_graph must "
                                     r"be a finite real number >= 0; got -0\.1"),
    ({"min_cluster_fraction": np.nan}, r"'min_cluster_fraction' .* got nan"),
    ({"min_cluster_fraction": "0.3"}, r"'min_cluster_fraction' .* got '0\.3'"),
    ({"seed": -1}, r"'seed' parameter of mapper_graph must be an int >= 0; got -1"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mapper_graph(X_SMALL, **kwargs)


def test_bad_points_and_components():
    with pytest.raises(ValueError, match=r"'points' parameter of mapper_graph must be a 2-d"):
        mapper_graph(np.zeros(5))
    with pytest.raises(ValueError, match=r"'points' .* finite values; got 1 NaN/inf"):
        mapper_graph(np.r_[X_SMALL[:-1], [[np.inf, 0, 0]]])
    with pytest.raises(ValueError, match=r"'n_components' parameter of pca_lens .* \[1, 3\]; "
                                         r"got 4"):
        pca_lens(X_SMALL, 4)
    with pytest.raises(ValueError, match=r"'gain' parameter of cover_intervals"):
        cover_intervals(0, 1, 3, 0.5)
