"""Klein-bottle readings of k x k filters: area-averaged to 3x3, read beside random filters."""

import numpy as np
import pytest
from conftest import cached_weights

from cnntopo.cloud.pointcloud import normalise
from cnntopo.topology.klein import klein_readings
from cnntopo.topology.klein_filters import cell_centres, circle_filters, klein_filters
from cnntopo.topology.klein_grid import (
    area_average,
    area_weights,
    kernel_circle_fraction,
    kernel_klein_readings,
    random_fractions,
)
from cnntopo.verdict.analysis import analyse, klein_numbers


def _unit(filters):
    return normalise(np.reshape(filters, (len(filters), -1)))[0]


def test_area_weights_by_hand():
    assert np.array_equal(area_weights(3), np.eye(3))
    assert np.allclose(area_weights(6), np.kron(np.eye(3), [0.5, 0.5]))
    # 5 cells into 3 of width 5/3: cell 1 is split 2/3 : 1/3, cell 3 1/3 : 2/3
    assert np.allclose(area_weights(5), [[0.6, 0.4, 0, 0, 0], [0, 0.2, 0.6, 0.2, 0],
                                         [0, 0, 0, 0.4, 0.6]])
    for k in (4, 7, 11):
        assert np.allclose(area_weights(k).sum(axis=1), 1)


@pytest.mark.parametrize("k", [6, 9])
def test_averaged_model_is_the_3x3_model_exactly(k):
    # cell integrals over a grid that 3 divides add up to the 3x3 cell integrals
    fine = klein_filters(8, 8, k).reshape(64, -1)
    coarse = klein_filters(8, 8, 3).reshape(64, -1)
    assert np.allclose(area_average(fine) * (k / 3) ** 2, coarse, atol=1e-12)
    r = kernel_klein_readings(fine)
    assert r.klein_fraction == 1.0 and r.klein_distance.max() < 0.01


@pytest.mark.parametrize("k", [5, 7, 11])
def test_circle_filters_read_on_the_circle_at_their_angle(k):
    fine = circle_filters(24, k).reshape(24, -1)
    r = kernel_klein_readings(_unit(fine))
    same = klein_readings(_unit(circle_filters(24, 3)))
    assert r.primary_circle_fraction == 1.0 and r.circle_distance.max() < 1e-6
    assert np.allclose(r.circle_angle, same.circle_angle, atol=1e-9)
    assert kernel_circle_fraction(fine) == 1.0


def test_flat_average_is_off_the_model():
    k = 6
    checker = (np.indices((k, k)).sum(axis=0) % 2 * 2 - 1.0).reshape(1, -1)
    edge = circle_filters(1, k).reshape(1, -1)
    r = kernel_klein_readings(np.vstack([checker, edge]))
    assert r.klein_distance[0] == 1.0 and r.circle_distance[0] == 1.0 and r.theta[0] == 0.0
    assert r.klein_fraction == 0.5 and r.off_model_fraction == 0.5


def test_random_baseline_of_3x3_is_the_closed_form_and_6x6_the_same():
    # Uniform on S^7: (1 - (1 - r^2/2)^2)^3 within r of the primary circle. Averaging 2 x 2
    # blocks of iid Gaussians gives iid Gaussians again, so 6x6 filters read as 3x3 ones.
    exact = (1 - (1 - 0.5 ** 2 / 2) ** 2) ** 3
    r3, r6 = random_fractions(3), random_fractions(6)
    assert abs(r3["primary_circle_fraction_random"] - exact) < 0.003
    assert abs(r6["primary_circle_fraction_random"] - exact) < 0.003
    assert abs(r3["klein_fraction_random"] - 0.101) < 0.006
    assert abs(r6["klein_fraction_random"] - r3["klein_fraction_random"]) < 0.01
    assert r3["klein_fraction_random"] + r3["off_model_fraction_random"] == pytest.approx(1)


def _step_edges(n, k, seed=0):
    """Sharp step edges (not ramps) across k x k filters, softly localised, with noise: the
    edges trained first layers learn."""
    rng = np.random.default_rng(seed)
    xc, yc = cell_centres(k)
    t, c = rng.uniform(0, 2 * np.pi, n), rng.uniform(-0.2, 0.2, n)
    u = np.cos(t)[:, None, None] * xc + np.sin(t)[:, None, None] * yc - c[:, None, None]
    f = (np.sign(u) * np.exp(-(xc ** 2 + yc ** 2) / 2)).reshape(n, -1)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f + 0.1 / k * rng.normal(size=f.shape)


@pytest.mark.parametrize("k", [5, 7, 11])
def test_step_edges_read_as_edges_and_random_filters_as_chance(k):
    unit = _unit(_step_edges(300, k))
    r = kernel_klein_readings(unit)
    assert r.primary_circle_fraction > 0.9 and r.primary_circle_coverage > 0.9
    # measured on the k x k grid itself, a step is far from the linear ramp: the reason for
    # averaging (benchmarks/bench_klein_kxk.py)
    ramps = _unit(circle_filters(720, k))
    grid_distance = np.sqrt(np.maximum(2 - 2 * (unit @ ramps.T).max(axis=1), 0))
    assert np.mean(grid_distance <= 0.5) < 0.05
    noise = kernel_klein_readings(_unit(np.random.default_rng(1).normal(size=(3000, k * k))))
    base = random_fractions(k)
    assert abs(noise.primary_circle_fraction - base["primary_circle_fraction_random"]) < 0.015
    assert abs(noise.klein_fraction - base["klein_fraction_random"]) < 0.03
    assert base["primary_circle_fraction_random"] < 0.05


def test_inceptionv3_5x5_layers_lie_nearer_the_circle_than_chance():
    from cnntopo.sources.filters import filters_from_source

    path = cached_weights("inceptionv3-keras")
    filters, _, info = filters_from_source(path, 10)
    assert info["shape"][-2:] == [5, 5]
    r = kernel_klein_readings(_unit(filters))
    base = random_fractions(5)
    # measured: 0.128 and 0.256 against 0.036 and 0.176 (BENCHMARKS.md)
    assert r.primary_circle_fraction > 3 * base["primary_circle_fraction_random"]
    assert r.klein_fraction > base["klein_fraction_random"] + 0.05


def test_klein_numbers_keys_are_the_same_for_every_square_kernel():
    keys = None
    for k in (3, 5, 7):
        numbers = klein_numbers(_unit(circle_filters(16, k)))
        assert numbers["primary_circle_fraction"] == 1.0
        assert numbers["primary_circle_fraction_random"] == random_fractions(k)[
            "primary_circle_fraction_random"]
        keys = keys or set(numbers)
        assert set(numbers) == keys
    assert klein_numbers(_unit(np.random.default_rng(0).normal(size=(10, 4)))) is None
    assert klein_numbers(_unit(np.random.default_rng(0).normal(size=(10, 8)))) is None


def test_analyse_reads_5x5_filters():
    result = analyse(_step_edges(200, 5), {"significance": None})
    assert result.klein is not None and result.klein.n_points == 200
    row = result.row
    assert row["primary_circle_fraction"] > 0.9
    assert row["primary_circle_fraction_random"] == random_fractions(5)[
        "primary_circle_fraction_random"]
