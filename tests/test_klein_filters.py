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
