"""Nerve Betti numbers against hand-worked graphs and GUDHI's clique complex."""

import itertools

import numpy as np
import pytest
from conftest import need_module

from cnntopo.topology.nerve import nerve_betti


def _graph(n, edges):
    return {"nodes": [{"id": i} for i in range(n)],
            "links": [{"source": a, "target": b} for a, b in edges]}


def _cycle(n):
    return [(i, (i + 1) % n) for i in range(n)]


@pytest.mark.parametrize("edges, n, expected", [
    (_cycle(3), 3, [1, 0]),                     # a triangle is filled
    (_cycle(4), 4, [1, 1]),                     # a square is a loop
    (_cycle(4) + [(0, 2)], 4, [1, 0]),          # its diagonal fills it
    (_cycle(5) + [(i + 5, (i + 1) % 5 + 5) for i in range(5)], 10, [2, 2]),  # two pentagons
    ([], 3, [3, 0]),                            # isolated nodes
    (list(itertools.combinations(range(6), 2)), 6, [1, 0]),  # K6 is a simplex
])
def test_known_graphs(edges, n, expected):
    assert nerve_betti(_graph(n, edges)) == expected


def test_octahedron_is_a_sphere():
    # flag complex of the octahedron graph (K_{2,2,2}) is the 2-sphere
    opposite = {(0, 1), (2, 3), (4, 5)}
    edges = [e for e in itertools.combinations(range(6), 2) if e not in opposite]
    assert nerve_betti(_graph(6, edges), maxdim=2) == [1, 0, 1]


def test_one_skeleton_cycles_overcount():
    # a triangulated disk: many graph cycles, no hole
    n = 7  # hub 0 and a ring 1..6
    edges = [(0, i) for i in range(1, n)] + [(i, i % 6 + 1) for i in range(1, n)]
    g = _graph(n, edges)
    assert len(edges) - n + 1 == 6
    assert nerve_betti(g) == [1, 0]


def test_matches_gudhi_clique_complex():
    gudhi = need_module("gudhi", "GUDHI (a core dependency)")
    rng = np.random.default_rng(3)
    for trial in range(5):
        n = 25
        edges = [e for e in itertools.combinations(range(n), 2) if rng.random() < 0.12]
        st = gudhi.SimplexTree()
        for i in range(n):
            st.insert([i])
        for a, b in edges:
            st.insert([a, b])
        st.expansion(3)
        st.compute_persistence(homology_coeff_field=2, persistence_dim_max=True)
        want = [int(x) for x in st.betti_numbers()[:3]]
        want += [0] * (3 - len(want))
        assert nerve_betti(_graph(n, edges), maxdim=2) == want, trial


def test_node_ids_need_not_be_positions():
    g = {"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}],
         "links": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"},
                   {"source": "c", "target": "d"}, {"source": "d", "target": "a"}]}
    assert nerve_betti(g) == [1, 1]


@pytest.mark.parametrize("bad, match", [
    ({"nodes": [{"id": 0}], "links": [{"source": 0, "target": 5}]}, "not among its nodes"),
    ({"nodes": [{"name": 0}], "links": []}, "node-link data"),
    ({"nodes": [{"id": 0}, {"id": 0}], "links": []}, "repeated node ids"),
])
def test_bad_graphs(bad, match):
    with pytest.raises(ValueError, match=match):
        nerve_betti(bad)


def test_bad_maxdim():
    with pytest.raises(ValueError, match="'maxdim' parameter of nerve_betti"):
        nerve_betti(_graph(2, [(0, 1)]), maxdim=-1)
