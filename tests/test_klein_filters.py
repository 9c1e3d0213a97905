"""Klein-bottle filters: exact cell integrals, layout conventions, and they lie on the model."""

import numpy as np
import pytest

from cnntopo import circle_filters, klein_filters
from cnntopo.cloud.pointcloud import normalise
from cnntopo.topology.klein import klein_coordinates, primary_circle_coordinates
from cnntopo.topology.klein_filters import klein_filter_angles


def _numerical(t1, t2, k, m=400):
    """Midpoint-rule integral of F over each cell, m x m samples per cell (error 8 (2 / (k m))^2 / 12 at most)."""
    s = -1 + (np.arange(k * m) + 0.5) * (2 / (k * m))
    x, y = np.meshgrid(s, s[::-1])  # row 0 at the top: y = +1
    u = np.cos(t1) * x + np.sin(t1) * y
    f = np.sin(t2) * u + np.cos(t2) * (2 * u ** 2 - 1)
    return f.reshape(k, m, k, m).mean(axis=(1, 3)) * (2 / k) ** 2


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_cell_integrals_equal_a_numerical_integral(k):
    t1, t2 = klein_filter_angles(4, 5)
    got = klein_filters(4, 5, kernel_size=k)
    assert got.shape == (20, k, k)
    for i in (0, 3, 7, 19):
        np.testing.assert_allclose(got[i], _numerical(t1[i], t2[i], k), atol=5e-5)


def test_orientation_and_order():
    f = klein_filters(2, 4)  # t1 in (0, pi/2), t2 in (0, pi/2, pi, 3pi/2)
    edge_x = f[1]            # t1 = 0, t2 = pi/2: u = x, dark left, bright right
    assert edge_x[0, 0] < 0 < edge_x[0, 2] and np.allclose(edge_x[:, 0], edge_x[0, 0])
    edge_y = f[5]            # t1 = pi/2, t2 = pi/2: u = y, bright top row
    assert edge_y[0, 1] > 0 > edge_y[2, 1]
    line = f[0]              # t1 = 0, t2 = 0: 2x^2 - 1, a dark vertical line in the middle
    assert line[1, 1] < line[1, 0] and np.allclose(line[1, 0], line[1, 2])
    np.testing.assert_allclose(circle_filters(4)[1], edge_y)  # t1 = pi/2 of 4 directions


def test_three_by_three_klein_filters_lie_on_the_klein_bottle_model():
    unit, kept = normalise(klein_filters(12, 16).reshape(-1, 9))
    assert len(kept) == 12 * 16
    _, _, distance = klein_coordinates(unit)
    assert distance.max() < 0.01
    _, circle_distance = primary_circle_coordinates(normalise(circle_filters(24).reshape(-1, 9))[0])
    assert circle_distance.max() < 1e-9


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="'kernel_size' parameter of klein_filters"):
        klein_filters(2, 2, kernel_size=0)
    with pytest.raises(ValueError, match="'n' parameter of circle_filters"):
        circle_filters(0)


def test_gabor_filters_share_the_klein_grid_conventions():
    from cnntopo.topology.klein_filters import gabor_filters

    g = gabor_filters(2, 4)                       # t1 in (0, pi/2), t2 in (0, pi/2, pi, 3pi/2)
    odd = g[1]                                    # t1 = 0, t2 = pi/2: rises left to right
    assert odd[1, 0] < 0 < odd[1, 2] and abs(odd[1, 1]) < 1e-12
    np.testing.assert_allclose(odd[:, 0], -odd[:, 2])
    even = g[0]                                   # t2 = 0: a dark vertical centre line
    assert even[1, 1] < even[1, 0] and np.isclose(even[1, 0], even[1, 2])
    np.testing.assert_allclose(g[2], -g[0])       # t2 + pi flips the sign
    # by hand: centre cell (0, 0) of (t1 = 0, t2 = 0) is -exp(0) cos(0) = -1
    assert np.isclose(even[1, 1], -1.0)
    # each Gabor filter is close to its Klein twin after normalising, but not equal
    unit_g = normalise(gabor_filters(4, 4).reshape(-1, 9))[0]
    unit_k = normalise(klein_filters(4, 4).reshape(-1, 9))[0]
    cos = (unit_g * unit_k).sum(1)
    assert cos.min() > 0.9 and cos.min() < 0.99


def test_klein_grid_distances_honour_the_identifications():
    from cnntopo.topology.klein_filters import klein_grid_distances

    t1, t2 = np.array([0.3, 1.0]), np.array([0.5, 5.0])
    # (t1 + pi, t2) is the point (t1, -t2): distance 0; t2 is 2 pi periodic
    np.testing.assert_allclose(np.diag(klein_grid_distances(t1, t2, t1 + np.pi, -t2)), 0, atol=1e-12)
    np.testing.assert_allclose(np.diag(klein_grid_distances(t1, t2, t1, t2 + 2 * np.pi)), 0, atol=1e-12)
    d = klein_grid_distances([0.0, 0.0], [0.0, 0.0], [0.0, np.pi / 2, 3.0], [np.pi / 2, 0.0, 0.0])
    # by hand: a quarter turn in t2; a half turn in t1 both ways; t1 = 3 is pi - 3 from t1 = pi
    np.testing.assert_allclose(d[0], [np.pi / 2, np.pi / 2, np.pi - 3.0])
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, np.pi, 20), rng.uniform(0, 2 * np.pi, 20)
    m = klein_grid_distances(a, b, a, b)
    np.testing.assert_allclose(m, m.T, atol=1e-12)


def test_klein_connectivity_of_a_four_by_four_grid():
    from cnntopo.topology.klein_filters import klein_connectivity

    mask = klein_connectivity(4, 4, np.pi / 2)
    _, t2 = klein_filter_angles(4, 4)
    # by hand: itself, t2 +- pi/2, t1 +- pi/4 and t1 + pi/2 (= t1 - pi/2 with t2 -> -t2,
    # one point when t2 is 0 or pi): 7 inputs, 6 on the lines t2 = 0, pi
    on_line = np.isclose(np.sin(t2), 0)
    np.testing.assert_array_equal(mask.sum(1), np.where(on_line, 6, 7))
    assert not mask.all() and np.array_equal(mask, mask.T) and mask.diagonal().all()
    np.testing.assert_array_equal(klein_connectivity(4, 4, 0.1), np.eye(16, dtype=bool))
    with pytest.raises(ValueError, match="'radius' parameter of klein_connectivity"):
        klein_connectivity(4, 4, -1.0)
