import numpy as np
import pytest

from cnntopo.cloud.pointcloud import density_filter, normalise
from cnntopo.sources.patches import grid_laplacian, natural_patches
from cnntopo.topology.klein import (
    COVERAGE_BINS,
    READING_RADIUS,
    KleinReadings,
    angular_coverage,
    dct_basis,
    klein_coordinates,
    klein_histogram,
    klein_readings,
    primary_circle_coordinates,
    primary_circle_fraction,
)

ROWS, COLS = np.divmod(np.arange(9), 3)
GX, GY = COLS - 1.0, 1.0 - ROWS            # x left to right, y bottom to top


def _unit(v):
    v = np.asarray(v, float)
    v = v - v.mean(axis=-1, keepdims=True)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_dct_basis_d_orthonormal_and_eigenvectors():
    e = dct_basis()
    lap = grid_laplacian()
    np.testing.assert_allclose(e @ lap @ e.T, np.eye(8), atol=1e-14)
    np.testing.assert_allclose(e.sum(axis=1), 0, atol=1e-15)
    for v in e:   # each is an eigenvector of D
        w = lap @ v
        lam = (v @ w) / (v @ v)
        np.testing.assert_allclose(w, lam * v, atol=1e-14)
    np.testing.assert_array_equal(e[0] * np.sqrt(6), [1, 0, -1] * 3)


def test_dct_basis_euclidean_orthonormal():
    e = dct_basis(normalisation="euclidean")
    np.testing.assert_allclose(e @ e.T, np.eye(8), atol=1e-15)
    with pytest.raises(ValueError, match=r"'normalisation' parameter of dct_basis"):
        dct_basis(normalisation="l1")


def test_primary_circle_exact_answers():
    vertical_edge = _unit([[1, 0, -1] * 3])          # bright left
    angle, dist = primary_circle_coordinates(vertical_edge)
    assert angle[0] == 0.0 and dist[0] < 1e-7
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    ramps = _unit(np.cos(angles)[:, None] * -GX + np.sin(angles)[:, None] * GY)
    angle, dist = primary_circle_coordinates(ramps)
    np.testing.assert_allclose(angle, angles, atol=1e-12)
    np.testing.assert_allclose(dist, 0, atol=1e-7)
    # e3..e8 are orthogonal to the circle: distance sqrt(2) from every point of it
    _, dist = primary_circle_coordinates(dct_basis(normalisation="euclidean")[2:])
    np.testing.assert_allclose(dist, np.sqrt(2), atol=1e-15)
    # halfway between the circle and e3: distance 2 sin(pi/8)
    mixed = (ramps[3] + dct_basis(normalisation="euclidean")[2]) / np.sqrt(2)
    _, dist = primary_circle_coordinates(mixed[None])
    np.testing.assert_allclose(dist, 2 * np.sin(np.pi / 8), atol=1e-12)


def test_primary_circle_fraction_uniform_reference():
    x, _ = normalise(np.random.default_rng(0).standard_normal((200_000, 9)))
    expected = (1 - (1 - 0.5 ** 2 / 2) ** 2) ** 3
    assert abs(primary_circle_fraction(x, 0.5) - expected) < 0.002
    with pytest.raises(ValueError, match=r"'radius' parameter .* \(0, 2\]; got 0"):
        primary_circle_fraction(x[:10], 0)
    with pytest.raises(ValueError, match=r"shape \(n, 9\); got \(4, 4\)"):
        primary_circle_coordinates(np.eye(4))


def test_klein_coordinates_exact_answers():
    theta = np.array([0.0, np.pi / 6, 1.0, 2.5])
    phi = np.array([0.0, np.pi / 2, 2.0, 4.0])
    s = -np.cos(theta)[:, None] * GX + np.sin(theta)[:, None] * GY
    lin, quad = _unit(s), _unit(s ** 2)
    patches = np.cos(phi)[:, None] * lin + np.sin(phi)[:, None] * quad
    grid_step = np.pi / 720
    t, p, d = klein_coordinates(patches)
    # theta is found on a grid of step pi/720: 0 and pi/6 lie on it, 1.0 and 2.5 do not
    assert np.all(np.abs(t - theta) <= grid_step / 2 + 1e-12)
    np.testing.assert_allclose(p[[0, 1]], phi[[0, 1]], atol=1e-12)
    assert np.all(np.abs(p - phi) < 0.02) and np.all(d < 0.02)
    # the edge at theta + pi is the same Klein point with phi -> pi - phi
    t2, p2, _ = klein_coordinates((np.cos(2.0) * -lin[2] + np.sin(2.0) * quad[2])[None])
    assert abs(t2[0] - 1.0) <= grid_step / 2 + 1e-12
    assert abs(p2[0] - (np.pi - 2.0)) < 0.02
    # primary circle points agree with primary_circle_coordinates
    ang, _ = primary_circle_coordinates(lin)
    np.testing.assert_allclose(ang, theta, atol=1e-12)
    np.testing.assert_allclose(np.mod(ang, np.pi), t, atol=grid_step)


def test_natural_patches_concentrate_on_primary_circle():
    # Carlsson et al. 2008: the density core rho(300, 0.3) of high-contrast natural
    # patches lies around the primary circle (measured here ~0.87-0.90 at radius 0.5,
    # against 0.38 before filtering and 0.013 for uniform points)
    x, _ = normalise(natural_patches(15_000, seed=0))
    core = x[density_filter(x, 300, 0.3)]
    frac_core = primary_circle_fraction(core, 0.5)
    assert frac_core > 0.8
    assert primary_circle_fraction(x, 0.5) < 0.5 < frac_core
    _, _, dist = klein_coordinates(core)
    assert np.median(dist) < 0.2


# --------------------------------------------------------------------------- readings

def _klein_points(theta, phi):
    """K(theta, phi) = cos(phi) L_theta + sin(phi) Q_theta, built here from the formula."""
    s = -np.cos(theta)[:, None] * GX + np.sin(theta)[:, None] * GY
    return np.cos(phi)[:, None] * _unit(s) + np.sin(phi)[:, None] * _unit(s ** 2)


def test_readings_of_the_primary_circle_at_uniform_angles():
    # 64 angles, 4 per orientation bin (none on a bin boundary): coverage exactly 1
    t = (np.arange(64) + 0.5) * 2 * np.pi / 64
    r = klein_readings(_klein_points(np.mod(t, np.pi), np.where(t < np.pi, 0.0, np.pi)))
    assert isinstance(r, KleinReadings) and r.radius == READING_RADIUS == 0.5
    assert (r.primary_circle_fraction, r.klein_fraction, r.off_model_fraction) == (1.0, 1.0, 0.0)
    assert r.primary_circle_coverage == 1.0
    np.testing.assert_allclose(r.circle_angle, t, atol=1e-12)
    np.testing.assert_allclose(r.circle_distance, 0, atol=1e-7)
    assert r.klein_distance.max() < np.pi / 1440   # theta on a grid of pi/720
    assert r.to_dict() == {"radius": 0.5, "n_points": 64, "n_near_circle": 64, "n_near_klein": 64,
                           "primary_circle_fraction": 1.0, "primary_circle_coverage": 1.0,
                           "klein_fraction": 1.0, "off_model_fraction": 0.0,
                           "coverage_bins": COVERAGE_BINS}


def test_readings_of_edges_at_one_angle_have_no_coverage():
    t = 0.7 + np.random.default_rng(0).uniform(-0.05, 0.05, 50)   # all inside one bin
    r = klein_readings(_klein_points(t, np.zeros(50)))
    assert r.primary_circle_fraction == 1.0 and r.primary_circle_coverage == 0.0


def test_readings_on_the_klein_bottle_off_the_circle():
    # phi on a uniform grid: distance to the circle is sqrt(2 - 2 |cos phi|) exactly (Q_theta
    # is orthogonal to e1, e2), so the fraction near the circle is 2 arccos(1 - r^2/2) / pi
    n = 4000
    phi = (np.arange(n) + 0.5) * 2 * np.pi / n
    theta = np.random.default_rng(1).uniform(0, np.pi, n)
    r = klein_readings(_klein_points(theta, phi))
    assert r.klein_fraction == 1.0 and r.off_model_fraction == 0.0
    assert r.klein_distance.max() < 0.02   # theta on a grid of pi/720
    np.testing.assert_allclose(r.circle_distance, np.sqrt(2 - 2 * np.abs(np.cos(phi))), atol=1e-7)
    expected = 2 * np.arccos(1 - 0.5 ** 2 / 2) / np.pi          # 0.3216
    assert abs(r.primary_circle_fraction - expected) <= 2 / n
    assert r.primary_circle_coverage > 0.99


def test_readings_of_uniform_points_on_the_7_sphere():
    """Circle: the analytic fraction. Klein bottle: a brute-force nearest model point."""
    x, _ = normalise(np.random.default_rng(2).standard_normal((20_000, 9)))
    r = klein_readings(x)
    circle = (1 - (1 - 0.5 ** 2 / 2) ** 2) ** 3
    assert abs(r.primary_circle_fraction - circle) < 4 * np.sqrt(circle / 20_000)
    assert 0.095 < r.klein_fraction < 0.107   # 10.1% (klein_readings' docstring), +-3 sd
    assert r.primary_circle_coverage > 0.97   # ~260 uniform directions near the circle
    # independent: the nearest of 180 x 360 model points K(theta, phi), by largest dot
    # product (all are unit vectors), for the first 4,000 points
    tt, pp = np.meshgrid(np.arange(180) * np.pi / 180, np.arange(360) * 2 * np.pi / 360)
    model = _klein_points(tt.ravel(), pp.ravel())
    xs = x[:4000]
    best = np.concatenate([(xs[i:i + 500] @ model.T).max(axis=1) for i in range(0, 4000, 500)])
    brute = np.sqrt(np.maximum(2 - 2 * best, 0))
    d = r.klein_distance[:4000]
    # klein_coordinates minimises over a finer theta grid (pi/720, holding this one) and an
    # exact phi, so it is never farther; the coarse grid adds little (measured 0.0009)
    assert np.all(brute >= d - 1e-9) and np.all(brute - d < 0.003)
    assert abs(np.mean(d <= 0.5) - np.mean(brute <= 0.5)) < 0.005


def test_readings_refuse_unnormalised_filters_and_bad_radius():
    x = _klein_points(np.array([0.1, 0.2]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"'points' parameter of klein_readings must hold "
                                         r"normalised filters .*1 rows are not, the first is row 1 "
                                         r"with norm 2"):
        klein_readings(np.vstack([x[0], 2 * x[1]]))
    with pytest.raises(ValueError, match=r"'radius' parameter of klein_readings .*got 3"):
        klein_readings(x, 3)
    with pytest.raises(ValueError, match=r"shape \(n, 9\); got \(2, 4\)"):
        klein_readings(np.ones((2, 4)))


def test_readings_with_nothing_near_the_circle():
    r = klein_readings(dct_basis(normalisation="euclidean")[2:])   # e3..e8: sqrt(2) away
    assert r.primary_circle_fraction == 0.0 and np.isnan(r.primary_circle_coverage)
    assert r.to_dict()["primary_circle_coverage"] is None


def test_angular_coverage_known_values():
    n = 20
    # two opposite orientations (an edge and its negative): H = log 2, plus (2 - 1) / (2 n)
    two = np.repeat([0.3, 0.3 + np.pi], n // 2)
    assert angular_coverage(two) == pytest.approx((np.log(2) + 1 / (2 * n)) / np.log(16))
    # four axis-aligned orientations, equally often: (log 4 + 3 / (2 n)) / log 16
    four = np.repeat(np.arange(4) * np.pi / 2, 10)
    assert angular_coverage(four) == pytest.approx((np.log(4) + 3 / 80) / np.log(16))
    # bins are centred on the axes: pi/2 -/+ a rounding error stays in one bin
    assert angular_coverage([np.pi / 2 - 1e-12, np.pi / 2 + 1e-12, 5 * np.pi / 2]) == 0.0
    assert angular_coverage([1.0]) == 0.0 and np.isnan(angular_coverage([]))
    assert angular_coverage(np.arange(16) * 2 * np.pi / 16) == 1.0


def test_angular_coverage_small_samples_and_concentration():
    rng = np.random.default_rng(3)
    means = {n: np.mean([angular_coverage(rng.uniform(0, 2 * np.pi, n)) for _ in range(300)])
             for n in (10, 20, 50)}
    # the values the docstring gives: 0.82, 0.93, 0.99
    assert abs(means[10] - 0.82) < 0.03 and abs(means[20] - 0.93) < 0.02 and means[50] > 0.98
    # falls as a von Mises spread concentrates
    cov = [np.mean([angular_coverage(rng.vonmises(1.0, k, 300)) for _ in range(20)])
           for k in (0.5, 2, 8, 32)]
    assert all(a > b + 0.05 for a, b in zip(cov, cov[1:]))
    with pytest.raises(ValueError, match=r"'bins' parameter of angular_coverage must be an int >= 2"):
        angular_coverage([0.0], bins=1)
    with pytest.raises(ValueError, match=r"1-D array of finite angles; got shape \(1,\) with NaN"):
        angular_coverage([np.nan])


def test_klein_histogram_counts_each_point_once_in_its_cell():
    theta = np.array([0.0, 0.01, np.pi - 1e-9, 1.0])
    phi = np.array([0.0, 2 * np.pi - 1e-9, np.pi, 3.0])
    counts, te, pe = klein_histogram(theta, phi, bins=(18, 36))
    assert counts.shape == (18, 36) and counts.sum() == 4
    assert (counts[0, 0], counts[0, 35], counts[17, 18]) == (1, 1, 1)
    assert counts[int(1.0 / (np.pi / 18)), int(3.0 / (2 * np.pi / 36))] == 1
    np.testing.assert_allclose([te[-1], pe[-1]], [np.pi, 2 * np.pi])
    with pytest.raises(ValueError, match=r"lie in \[0, pi\) and \[0, 2 pi\)"):
        klein_histogram([np.pi], [0.0])
