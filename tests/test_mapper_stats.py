"""A Mapper that holds: parameters from the sampling, bootstrap confidence, stability."""

import numpy as np
import pytest
from conftest import noisy_circle
from scipy.spatial.distance import directed_hausdorff

from cnntopo.topology.mapper import mapper_graph, pca_lens
from cnntopo.topology.mapper_stats import (auto_parameters, auto_resolution, extended_diagrams,
                                           gain_of_overlap, mapper_confidence, nerve_stability,
                                           sampling_delta)


def test_sampling_delta_is_the_mean_hausdorff_distance_to_subsamples():
    """Against scipy's directed Hausdorff distance on the same subsamples."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    n, size = 200, int(200 / (np.log(200) / np.log(10)))   # C = 10, beta = 0
    draw = np.random.default_rng(5)
    want = np.mean([directed_hausdorff(X, X[draw.choice(n, size, replace=False)])[0]
                    for _ in range(7)])
    assert sampling_delta(X, n_subsamples=7, seed=5) == pytest.approx(want, rel=1e-12)
    assert sampling_delta(X, seed=1) == sampling_delta(X, seed=1)


def test_auto_resolution_by_hand():
    # 11 points on a line at unit spacing, the lens their coordinate: within delta = 1 the
    # lens changes by at most 1, over a range of 10, so 10 intervals.
    X = np.c_[np.arange(11.0), np.zeros(11)]
    assert auto_resolution(X, X[:, :1], delta=1.0) == (10,)
    assert auto_resolution(X, X[:, :1], delta=2.5) == (5,)   # spread 2: 10 / 2
    # a lens constant on the cloud gets one interval
    assert auto_resolution(X, np.c_[X[:, 0], np.ones(11)], delta=1.0) == (10, 1)


def test_extended_persistence_of_a_square_and_a_triangle_by_hand():
    square = {"nodes": [{"id": i} for i in range(4)],
              "links": [{"source": a, "target": b} for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]]}
    d = extended_diagrams(square, np.array([0.0, 1.0, 2.0, 1.0]))
    np.testing.assert_array_equal(d["ext0"], [[0.0, 2.0]])    # one component, from 0 to 2
    np.testing.assert_array_equal(d["ext1"], [[2.0, 0.0]])    # one loop spanning 0 .. 2
    filled = dict(square, links=square["links"] + [{"source": 0, "target": 2}])
    assert extended_diagrams(filled, np.array([0.0, 1.0, 2.0, 1.0]))["ext1"].shape == (0, 2)


def _gudhi_extended_diagrams(graph, node_values):
    """The reference: GUDHI's extended persistence of the lower-star flag complex."""
    import gudhi

    st = gudhi.SimplexTree()
    index = {node["id"]: i for i, node in enumerate(graph["nodes"])}
    for i, v in enumerate(node_values):
        st.insert([i], filtration=float(v))
    for link in graph["links"]:
        a, b = index[link["source"]], index[link["target"]]
        st.insert([a, b], filtration=float(max(node_values[a], node_values[b])))
    st.expansion(2)
    st.extend_filtration()
    ordinary, relative, ext_plus, ext_minus = st.extended_persistence()

    def pick(pairs, dim):
        out = np.array([p for q, p in pairs if q == dim], dtype=np.float64).reshape(-1, 2)
        return out[np.lexsort((out[:, 1], out[:, 0]))]

    return {"ord0": pick(ordinary, 0), "rel1": pick(relative, 1), "ext0": pick(ext_plus, 0),
            "ext1": pick(ext_minus, 1)}


def _random_graph(rng):
    n = int(rng.integers(1, 35))
    p = rng.uniform(0.02, 0.5)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    # ids out of order, as a graph from elsewhere may have them
    ids = rng.permutation(n) + 100
    return {"nodes": [{"id": int(i)} for i in ids],
            "links": [{"source": int(ids[i]), "target": int(ids[j])} for i, j in pairs]}, n


def test_extended_diagrams_match_gudhi_on_random_graphs_ties_included():
    """ripser on the coned flag filtration gives GUDHI's points: components, loops, branches,
    on random graphs, half of them with values from 0..5 (many ties)."""
    rng = np.random.default_rng(11)
    n_loops = 0
    for trial in range(150):
        graph, n = _random_graph(rng)
        values = (rng.integers(0, 6, n).astype(float) if trial % 2
                  else rng.normal(size=n))
        got, want = extended_diagrams(graph, values), _gudhi_extended_diagrams(graph, values)
        for key in want:
            # GUDHI maps the values through [-2, -1] and [1, 2] and back: last-digit rounding
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, err_msg=key)
        n_loops += len(want["ext1"])
    assert n_loops > 100   # the comparison saw loops, not only trees


def test_extended_diagrams_of_a_mapper_graph_match_gudhi():
    X, _ = noisy_circle(2000, 0.05, seed=4)
    F = pca_lens(X, 2)
    g = mapper_graph(X, lens=F, resolution=10, gain=3.0)
    from cnntopo.topology.mapper_stats import _node_values

    values = _node_values(g, F[:, 0])
    got, want = extended_diagrams(g, values), _gudhi_extended_diagrams(g, values)
    assert len(want["ext1"]) == 1 and len(want["ext0"]) == 1   # the ring, one component
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, err_msg=key)
    assert extended_diagrams({"nodes": [], "links": []}, np.empty(0))["ext1"].shape == (0, 2)


@pytest.fixture(scope="module")
def ring():
    X, _ = noisy_circle(400, 0.08, seed=2)
    F = pca_lens(X, 2)
    kw = {"resolution": 8, "gain": 3.0, "vne": None}
    return X, F, kw, mapper_graph(X, lens=F, **kw)


def test_a_clear_ring_is_one_loop_with_full_confidence(ring):
    X, F, kw, g = ring
    c = mapper_confidence(X, g, F, n_bootstrap=20, seed=0, graph_kwargs=kw)
    assert c.nerve_betti == [1, 1]
    (loop,) = [f for f in c.features if f["kind"] == "loop"]
    assert loop["confidence"] >= 0.9 and c.betti_confidence[1] == loop["confidence"]
    assert len(c.distances) == 20 and c.stability >= 0.75
    again = mapper_confidence(X, g, F, n_bootstrap=20, seed=0, graph_kwargs=kw)
    assert again.distances == c.distances  # the same seed, the same resamples


def test_small_loops_of_a_blob_do_not_survive_resampling():
    """A fine cover of a Gaussian blob makes loops of the nerve; none is robust."""
    X = np.random.default_rng(4).normal(size=(300, 2))
    F = pca_lens(X, 2)
    kw = {"resolution": 12, "gain": 3.0, "vne": None}
    g = mapper_graph(X, lens=F, **kw)
    c = mapper_confidence(X, g, F, n_bootstrap=20, seed=1, graph_kwargs=kw)
    loops = [f["confidence"] for f in c.features if f["kind"] == "loop"]
    assert loops, "the fine cover was meant to make spurious loops"
    assert max(loops) < 0.5 and c.betti_confidence[1] == min(loops)


def test_stability_grid_is_the_3x3_neighbourhood(ring):
    X, F, kw, g = ring
    stability, grid = nerve_stability(X, lens=F, resolution=8, gain=3.0,
                                      graph_kwargs={"vne": None})
    assert [c["resolution"] for c in grid] == [7] * 3 + [8] * 3 + [9] * 3
    overlaps = sorted({round(1 - 1 / c["gain"], 6) for c in grid})
    assert overlaps == pytest.approx([2 / 3 - 0.05, 2 / 3, 2 / 3 + 0.05])
    assert stability == sum(c["nerve_betti"] == grid[4]["nerve_betti"]
                            for i, c in enumerate(grid) if i != 4) / 8


def test_auto_parameters_find_the_ring_and_stay_in_the_theorys_overlaps(ring):
    X, F, _, _ = ring
    kw, info = auto_parameters(X, F, vne=None)
    assert 1 / 3 < 1 - 1 / kw["gain"] < 1 / 2
    assert kw["cluster_height"] == info["delta"] > 0
    assert all(r >= 2 for r in kw["resolution"])
    g = mapper_graph(X, lens=F, vne=None, **kw)
    c = mapper_confidence(X, g, F, n_bootstrap=20, graph_kwargs=dict(kw, vne=None))
    # a 2-d cover leaves small loops where the ring crosses cubes diagonally: only the
    # ring survives 90% of the resamples
    loops = sorted((f["confidence"] for f in c.features if f["kind"] == "loop"), reverse=True)
    assert loops[0] >= 0.9 and all(x < 0.9 for x in loops[1:])
    assert gain_of_overlap(0.4) == pytest.approx(5 / 3)


def test_the_confidence_names_its_arguments():
    X, _ = noisy_circle(50, 0.05, seed=0)
    F = pca_lens(X, 2)
    g = mapper_graph(X, lens=F, resolution=4, gain=2)
    with pytest.raises(ValueError, match="'graph_kwargs' parameter of mapper_confidence"):
        mapper_confidence(X, g, F, n_bootstrap=5)
    with pytest.raises(ValueError, match="'n_bootstrap' parameter of mapper_confidence"):
        mapper_confidence(X, g, F, n_bootstrap=0, graph_kwargs={"resolution": 4, "gain": 2})
    with pytest.raises(ValueError, match="'n_jobs' parameter of mapper_confidence must be an "
                                         "int >= 1, -1"):
        mapper_confidence(X, g, F, n_bootstrap=5, graph_kwargs={"resolution": 4, "gain": 2},
                          n_jobs=0)
    with pytest.raises(ValueError, match="'ray' parameter of nerve_stability"):
        nerve_stability(X, lens=F, resolution=4, gain=2, ray=3)


def test_resample_i_is_the_same_for_any_count_and_any_number_of_processes(ring):
    """Resample i has its own seed: B = 6 are the first 6 of B = 10, and two worker processes
    give what one process gives, to the bit (distances, Betti numbers, the stability grid)."""
    X, F, kw, g = ring
    ten = mapper_confidence(X, g, F, n_bootstrap=10, seed=3, graph_kwargs=kw, n_jobs=1)
    six = mapper_confidence(X, g, F, n_bootstrap=6, seed=3, graph_kwargs=kw, n_jobs=1)
    assert six.distances == ten.distances[:6]
    assert len(set(ten.distances)) > 1  # the resamples differ from one another
    two = mapper_confidence(X, g, F, n_bootstrap=10, seed=3, graph_kwargs=kw, n_jobs=2)
    assert two.to_dict() == ten.to_dict()
    # the stability alone, on two processes, is the grid of the confidence
    stability, grid = nerve_stability(X, lens=F, resolution=8, gain=3.0,
                                      graph_kwargs={"vne": None}, n_jobs=2)
    assert (round(stability, 3), grid) == (ten.stability, ten.stability_grid)


def test_a_duplicate_point_in_a_resample_changes_no_cluster(monkeypatch):
    from cnntopo.topology.mapper import single_linkage_gap
    from cnntopo.topology.mapper_stats import bootstrap_rows

    # The hazard: a drawn-twice point adds a zero merge height and moves the gap rule's bins.
    line = np.array([[0.0], [5.0], [10.0], [15.0]])
    assert single_linkage_gap(line).tolist() == [0, 0, 0, 0]
    assert len(set(single_linkage_gap(np.vstack([line, line[:1]])).tolist())) == 4
    # So a resample is its distinct draws: the same draws, each once, in order.
    seq = np.random.SeedSequence(7)
    draws = np.random.default_rng(seq).integers(0, 500, 500)
    rows = bootstrap_rows(seq, 500)
    assert len(np.unique(draws)) < 500  # the draw did repeat points
    assert rows.tolist() == sorted(set(draws.tolist()))
    # and a resample's Mapper graph is built on those points, each once.
    from cnntopo.topology import mapper_stats
    from cnntopo.topology.nerve import nerve_betti

    X, _ = noisy_circle(500, 0.05, seed=3)
    F = pca_lens(X, 1)
    bounds = [[float(F.min()), float(F.max())]]
    g = mapper_graph(X, lens=F, resolution=8, gain=3.0)
    base = extended_diagrams(g, mapper_stats._node_values(g, F[:, 0]))
    graphs = []
    real = mapper_stats.mapper_graph

    def spy(points, **kw):
        graphs.append(points)
        return real(points, **kw)

    monkeypatch.setattr(mapper_stats, "mapper_graph", spy)
    _, betti = mapper_stats._resample(X, F, seq, 8, 3.0, bounds, {}, base)
    assert len(graphs) == 1 and np.array_equal(graphs[0], X[rows])
    assert betti == [int(b) for b in nerve_betti(real(X[rows], lens=F[rows], resolution=8,
                                                      gain=3.0, lens_bounds=bounds))]
