"""Tests of cnntopo.topology.lenses.neighborhood_lens: an independent Isomap (kNN graph, Dijkstra,
classical MDS), loops drawn as loops, the landmark extension, seeds and errors."""

import warnings

import numpy as np
import pytest
from conftest import noisy_circle
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree

from cnntopo.topology.lenses import neighborhood_lens
from cnntopo.topology.mapper import mapper_graph


def isomap_reference(X, k, n_components):
    """Isomap from its definition: kNN graph, all shortest paths, classical MDS."""
    n = len(X)
    dist, idx = cKDTree(X).query(X, k + 1)
    rows = np.repeat(np.arange(n), k)
    G = csr_matrix((dist[:, 1:].ravel(), (rows, idx[:, 1:].ravel())), shape=(n, n))
    D = shortest_path(G, method="D", directed=False)
    J = np.eye(n) - 1.0 / n
    B = -0.5 * J @ (D ** 2) @ J
    vals, vecs = np.linalg.eigh(B)
    top = np.argsort(vals)[::-1][:n_components]
    return vecs[:, top] * np.sqrt(vals[top])


def same_up_to_column_signs(A, B, atol):
    signs = np.sign(np.sum(A * B, axis=0))
    np.testing.assert_allclose(A, B * signs, atol=atol)


def winding_of_lens(lens, t):
    """Turns of the lens angle (about its centre) as the circle parameter t goes round."""
    order = np.argsort(t)
    c = lens - lens.mean(axis=0)
    angle = np.unwrap(np.arctan2(c[order, 1], c[order, 0]))
    closing = np.angle(np.exp(1j * (angle[0] - angle[-1])))
    return (angle[-1] - angle[0] + closing) / (2 * np.pi)


def test_equals_isomap_from_its_definition():
    X, _ = noisy_circle(300, 0.05, seed=0, dim=3)
    lens = neighborhood_lens(X, n_neighbors=8)
    same_up_to_column_signs(lens, isomap_reference(X, 8, 2), atol=1e-8)


def test_noisy_circle_is_a_loop_in_the_lens():
    X, t = noisy_circle(500, 0.05, seed=1, dim=9)
    lens = neighborhood_lens(X)
    assert abs(winding_of_lens(lens, t)) == pytest.approx(1.0, abs=1e-9)
    # and the radius is about even: a loop, not a line folded back on itself
    r = np.linalg.norm(lens - lens.mean(axis=0), axis=1)
    assert r.min() > 0.5 * np.median(r)


def test_landmarks_fitted_exactly_and_the_rest_placed_on_the_loop():
    X, t = noisy_circle(3000, 0.03, seed=3, dim=3)
    lens = neighborhood_lens(X, n_landmarks=400, seed=5)
    rows = np.sort(np.random.default_rng(5).choice(3000, 400, replace=False))
    same_up_to_column_signs(lens[rows], isomap_reference(X[rows], 10, 2), atol=1e-8)
    out = np.setdiff1d(np.arange(3000), rows)
    assert abs(winding_of_lens(lens[out], t[out])) == pytest.approx(1.0)


def test_seeded_and_sign_convention():
    X, _ = noisy_circle(1500, 0.05, seed=4, dim=3)
    a = neighborhood_lens(X, n_landmarks=300, seed=1)
    np.testing.assert_array_equal(a, neighborhood_lens(X, n_landmarks=300, seed=1))
    assert not np.allclose(a, neighborhood_lens(X, n_landmarks=300, seed=2))
    big = np.argmax(np.abs(a), axis=0)
    assert (a[big, [0, 1]] > 0).all()


def test_mapper_graph_with_the_neighborhood_lens():
    X, _ = noisy_circle(200, 0.05, seed=5, dim=3)
    g = mapper_graph(X, lens="neighborhood", resolution=10, seed=3)
    ref = mapper_graph(X, lens=neighborhood_lens(X, seed=3), resolution=10)
    assert (g["graph"]["lens"], g["graph"]["seed"]) == ("neighborhood", 3)
    assert g["nodes"] == ref["nodes"] and g["links"] == ref["links"]
    assert mapper_graph(X, lens="pca", resolution=10)["nodes"] == \
        mapper_graph(X, resolution=10)["nodes"]


@pytest.mark.parametrize("kwargs, needle", [
    ({"n_neighbors": 0}, r"'n_neighbors' parameter of neighborhood_lens must be an int >= 1"),
    ({"n_neighbors": 50}, r"'n_neighbors' .* in \[1, 29\] \(fitted points - 1\); got 50"),
    ({"n_landmarks": 2}, r"'n_landmarks' parameter of neighborhood_lens must be an int >= 3"),
    ({"n_components": 30}, r"'n_components' .* in \[1, 29\]"),
    ({"seed": -1}, r"'seed' parameter of neighborhood_lens must be an int >= 0"),
])
def test_bad_input(kwargs, needle):
    X, _ = noisy_circle(30, 0.05, seed=0, dim=3)
    with pytest.raises(ValueError, match=needle):
        neighborhood_lens(X, **kwargs)


def test_bad_lens_name():
    X, _ = noisy_circle(30, 0.05, seed=0, dim=3)
    with pytest.raises(ValueError, match=r"'lens' parameter of mapper_graph must be an array, "
                                         r"None, 'pca' or 'neighborhood'; got 'umap'"):
        mapper_graph(X, lens="umap")


def test_disconnected_graph_is_joined_with_a_warning():
    X, _ = noisy_circle(200, 0.02, seed=6, dim=3)
    X = np.r_[X, X[:50] + 100.0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lens = neighborhood_lens(X, n_neighbors=5)
    assert np.isfinite(lens).all()
    assert any("connected components" in str(w.message) for w in caught)
