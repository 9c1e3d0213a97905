"""Tests of cnntopo.topology.mapper_readings.theta_winding: hand-made graphs with known windings, a
brute-force check over all simple cycles, and Mapper graphs of synthetic filter clouds."""

import math

import networkx as nx
import numpy as np
import pytest

from cnntopo.topology.klein import dct_basis
from cnntopo.topology.mapper import mapper_graph
from cnntopo.topology.mapper_readings import theta_winding

E1, E2 = dct_basis()[:2]


def on_circle(t):
    """Unit 3x3 patches on the primary circle at angles t."""
    t = np.asarray(t, dtype=float)
    return np.cos(t)[:, None] * E1 + np.sin(t)[:, None] * E2


def graph_of(n_nodes, edges):
    """Node i has the single member i."""
    return {"nodes": [{"id": i, "members": [i]} for i in range(n_nodes)],
            "links": [{"source": a, "target": b} for a, b in edges]}


def ring_edges(n):
    return [(i, (i + 1) % n) for i in range(n)]


def test_ring_winds_once_and_the_cycle_goes_round_with_theta():
    t = np.arange(8) * 2 * np.pi / 8
    r = theta_winding(graph_of(8, ring_edges(8)), on_circle(t))
    assert (r.winding, r.cycle_winding, r.n_near, r.n_cycles) == (1, 1, 8, 1)
    assert sorted(r.cycle) == list(range(8))
    # oriented so that theta increases: consecutive ids step by +1 mod 8
    steps = {(b - a) % 8 for a, b in zip(r.cycle, r.cycle[1:] + r.cycle[:1])}
    assert steps == {1}
    np.testing.assert_allclose([r.node_theta[i] for i in range(8)], t, atol=1e-12)


def test_ring_that_goes_round_twice_has_winding_two():
    t = np.arange(12) * 4 * np.pi / 12  # steps of 60 degrees, twice round
    r = theta_winding(graph_of(12, ring_edges(12)), on_circle(t))
    assert (r.winding, r.cycle_winding) == (2, 2)


def test_figure_eight_of_two_arcs_does_not_wind():
    # two triangles sharing node 0, each on a short arc of the circle
    t = [0.0, 0.3, 0.6, -0.3, -0.6]
    edges = [(0, 1), (1, 2), (2, 0), (0, 3), (3, 4), (4, 0)]
    r = theta_winding(graph_of(5, edges), on_circle(t))
    assert (r.winding, r.cycle, r.cycle_winding, r.n_cycles) == (0, [], 0, 2)


def test_figure_eight_of_two_full_loops_winds_once():
    # two rings of six sharing node 0, both going round: every loop winds a multiple of 1
    t = np.r_[np.arange(6), np.arange(1, 6)] * np.pi / 3
    edges = ring_edges(6) + [(0, 6), (6, 7), (7, 8), (8, 9), (9, 10), (10, 0)]
    r = theta_winding(graph_of(11, edges), on_circle(t))
    assert (r.winding, r.cycle_winding, r.n_cycles) == (1, 1, 2)
    assert len(r.cycle) == 6


def test_path_has_no_cycle():
    t = np.arange(8) * 2 * np.pi / 8
    r = theta_winding(graph_of(8, ring_edges(8)[:-1]), on_circle(t))
    assert (r.winding, r.cycle, r.n_cycles) == (0, [], 0)


def test_node_far_from_the_circle_breaks_the_loop():
    t = np.arange(8) * 2 * np.pi / 8
    pts = on_circle(t)
    centre_surround = np.array([1, 1, 1, 1, -8, 1, 1, 1, 1], float)
    pts[3] = centre_surround / np.linalg.norm(centre_surround)
    r = theta_winding(graph_of(8, ring_edges(8)), pts)
    assert (r.winding, r.n_near) == (0, 7)
    assert 3 not in r.node_theta
    # a larger radius takes it in: it sits at distance sqrt(2) from the circle
    assert theta_winding(graph_of(8, ring_edges(8)), pts, radius=1.5).winding == 1


def test_node_mean_is_not_renormalised():
    # a node averaging two opposite edges has mean 0: far from the circle
    t = np.arange(8) * 2 * np.pi / 8
    pts = np.vstack([on_circle(t), on_circle([t[2] + np.pi])])
    g = graph_of(8, ring_edges(8))
    g["nodes"][2]["members"] = [2, 8]
    r = theta_winding(g, pts)
    assert (r.winding, r.n_near) == (0, 7)


def test_winding_equals_gcd_over_all_simple_cycles():
    # independent reference: every simple cycle of a small graph, not a cycle basis
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(40):
        n = int(rng.integers(4, 9))
        G = nx.gnp_random_graph(n, 0.5, seed=int(rng.integers(1 << 30)))
        t = rng.uniform(0, 2 * np.pi, n)
        r = theta_winding(graph_of(n, list(G.edges())), on_circle(t))
        g = 0
        for c in nx.simple_cycles(G):
            steps = np.angle(np.exp(1j * (np.roll(t[c], -1) - t[c])))
            g = math.gcd(g, abs(int(round(steps.sum() / (2 * np.pi)))))
        assert r.winding == g
        seen.add(g)
    assert {0, 1} <= seen  # both answers were exercised


def test_mapper_graph_of_the_primary_circle_winds_once_and_of_an_arc_not():
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2 * np.pi, 600)
    X = on_circle(t) + 0.03 * rng.normal(size=(600, 9))
    X -= X.mean(axis=1, keepdims=True)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    assert theta_winding(mapper_graph(X, resolution=12, gain=3), X).winding == 1
    arc = X[(t > 0.2) & (t < 0.8 * 2 * np.pi)]
    assert theta_winding(mapper_graph(arc, resolution=12, gain=3), arc).winding == 0


def test_empty_graph():
    r = theta_winding({"nodes": [], "links": []}, np.zeros((0, 9)))
    assert (r.winding, r.cycle, r.n_near) == (0, [], 0)


@pytest.mark.parametrize("kwargs, needle", [
    ({"points": np.zeros((3, 4))}, r"'points' parameter of theta_winding must be an \(n, 9\)"),
    ({"radius": 0}, r"'radius' parameter of theta_winding must be a real number > 0"),
    ({"graph": {"nodes": [{"id": 0}]}}, r"'graph' parameter of theta_winding must be node-link"),
    ({"graph": graph_of(2, [(0, 5)])}, r"link to node 5"),
    ({"graph": graph_of(9, [])}, r"members outside \[0, 7\]"),
])
def test_bad_input(kwargs, needle):
    args = {"graph": graph_of(8, ring_edges(8)), "points": on_circle(np.arange(8.0))}
    args.update(kwargs)
    with pytest.raises(ValueError, match=needle):
        theta_winding(**args)
