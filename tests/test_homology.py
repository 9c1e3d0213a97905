"""Lazy witness homology: brute-force references, known topology, JavaPlex regression data."""


import numpy as np
import pytest
from conftest import circle, need_module, shared_file
from scipy.spatial.distance import cdist

from cnntopo.topology.witness import (
    covering_radius,
    lazy_witness_barcodes,
    lazy_witness_filtration,
    long_bars,
    maxmin_landmarks,
)


def brute_force_filtration(points, landmarks, nu):
    """The LazyWitnessStream definition, one witness at a time."""
    d = cdist(points, points[landmarks])
    m = np.zeros(len(points)) if nu == 0 else np.sort(d, axis=1)[:, nu - 1]
    n_land = len(landmarks)
    out = np.zeros((n_land, n_land))
    for a in range(n_land):
        for b in range(n_land):
            if a != b:
                out[a, b] = max(0.0, min(max(d[w, a], d[w, b]) - m[w] for w in range(len(points))))
    return out


# ----------------------------------------------------------------- filtration

@pytest.mark.parametrize("nu", [0, 1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_filtration_equals_brute_force(nu, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 3))
    landmarks = maxmin_landmarks(x, 8, seed=seed)
    got = lazy_witness_filtration(x, landmarks, nu)
    np.testing.assert_allclose(got, brute_force_filtration(x, landmarks, nu), rtol=0, atol=1e-12)
    assert np.array_equal(got, got.T) and np.all(np.diag(got) == 0)


def test_filtration_more_witnesses_than_one_block():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 4))  # 300 witnesses span several blocks of 64
    landmarks = np.array([3, 17, 42, 99, 150, 299])
    np.testing.assert_allclose(lazy_witness_filtration(x, landmarks, 1),
                               brute_force_filtration(x, landmarks, 1), rtol=0, atol=1e-12)


def test_filtration_nu0_witness_between_landmarks():
    # Points 0, 1, 2 on a line, all landmarks: the middle point witnesses edge (0, 2) at
    # max(1, 1) = 1, so the lazy witness filtration is not the Rips distance 2.
    x = np.array([[0.0], [1.0], [2.0]])
    got = lazy_witness_filtration(x, np.arange(3), nu=0)
    np.testing.assert_array_equal(got, [[0, 1, 1], [1, 0, 1], [1, 1, 0]])


def test_nu0_all_landmarks_h0_equals_rips_and_bounded_by_distances():
    # With every point a landmark and nu = 0, an edge enters at min_w max(d(w,a), d(w,b)) <=
    # d(a, b), with equality when no point w is closer than d(a, b) to both ends; a witness w
    # that lowers an edge gives two shorter Rips edges, so single linkage (H0) is unchanged.
    from ripser import ripser

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 2))
    bars = lazy_witness_barcodes(x, 100, nu=0, maxdim=0)
    assert bars.all_points_are_landmarks and bars.n_landmarks == 60
    np.testing.assert_array_equal(bars.landmarks, np.arange(60))
    d = cdist(x, x)
    filt = bars.filtration
    assert np.all(filt <= d + 1e-12)
    lens_empty = np.array([[not np.any(np.maximum(d[:, a], d[:, b]) < d[a, b]) for b in range(60)]
                           for a in range(60)])
    np.testing.assert_allclose(filt[lens_empty], d[lens_empty], rtol=0, atol=1e-12)
    assert np.any(~lens_empty)  # the test would be empty otherwise
    rips_h0 = ripser(x, maxdim=0)["dgms"][0]
    rips_h0 = rips_h0[np.lexsort((rips_h0[:, 1], rips_h0[:, 0]))]
    np.testing.assert_allclose(bars.diagrams[0], rips_h0, rtol=1e-6)


# ----------------------------------------------------------------- maxmin

def brute_force_maxmin(x, first, n_landmarks):
    chosen = [first]
    d = cdist(x, x)
    while len(chosen) < n_landmarks:
        chosen.append(int(np.argmax(d[:, chosen].min(axis=1))))
    return np.array(chosen)


def test_maxmin_each_landmark_is_farthest_point():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 5))
    got = maxmin_landmarks(x, 30, seed=7)
    np.testing.assert_array_equal(got, brute_force_maxmin(x, got[0], 30))


def test_maxmin_seed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 3))
    firsts = {int(maxmin_landmarks(x, 5, seed=s)[0]) for s in range(10)}
    assert len(firsts) > 1
    np.testing.assert_array_equal(maxmin_landmarks(x, 20, seed=4), maxmin_landmarks(x, 20, seed=4))
    assert maxmin_landmarks(x, 1, seed=4)[0] == np.random.default_rng(4).integers(1000)


def test_maxmin_all_points():
    x = np.random.default_rng(0).standard_normal((10, 2))
    np.testing.assert_array_equal(maxmin_landmarks(x, 10), np.arange(10))
    np.testing.assert_array_equal(maxmin_landmarks(x, 50), np.arange(10))


def test_covering_radius_brute_force():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 3))
    landmarks = maxmin_landmarks(x, 25, seed=0)
    expected = cdist(x, x[landmarks]).min(axis=1).max()
    assert covering_radius(x, landmarks) == pytest.approx(expected, abs=1e-12)
    bars = lazy_witness_barcodes(x, 25, seed=0, maxdim=0)
    assert bars.covering_radius == pytest.approx(expected, abs=1e-12)
    # maxmin: the next landmark would be picked at distance R, no closer to the others
    assert cdist(x[landmarks], x[landmarks])[np.triu_indices(25, 1)].min() >= expected - 1e-12


# ----------------------------------------------------------------- known topology

def counts(bars):
    return [long_bars(d, scale=bars.scale) for d in bars.diagrams]


def noisy(rng, x, sigma=0.03):
    return x + sigma * rng.standard_normal(x.shape)


@pytest.mark.parametrize("nu", [0, 1, 2])
def test_circle_one_long_h1_bar(nu):
    rng = np.random.default_rng(0)
    bars = lazy_witness_barcodes(noisy(rng, circle(rng, 1000)), 50, nu=nu, maxdim=2)
    assert counts(bars) == [1, 1, 0]


@pytest.mark.parametrize("nu", [0, 1, 2])
def test_two_circles_meeting_in_two_points_three_long_h1_bars(nu):
    # unit circles in the xy- and xz-planes share (+-1, 0, 0): four arcs, b1 = 3
    rng = np.random.default_rng(1)
    x = np.vstack([circle(rng, 1000, (0, 1)), circle(rng, 1000, (0, 2))])
    bars = lazy_witness_barcodes(noisy(rng, x), 50, nu=nu, maxdim=2)
    assert counts(bars) == [1, 3, 0]


@pytest.mark.parametrize("nu", [0, 1, 2])
def test_figure_eight_two_long_h1_bars(nu):
    rng = np.random.default_rng(2)
    x = np.vstack([circle(rng, 1000), circle(rng, 1000) + [2.0, 0.0, 0.0]])  # touch at (1, 0, 0)
    bars = lazy_witness_barcodes(noisy(rng, x), 50, nu=nu, maxdim=2)
    assert counts(bars) == [1, 2, 0]


def test_sphere_one_long_h2_bar():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2000, 3))
    x = noisy(rng, x / np.linalg.norm(x, axis=1, keepdims=True))
    bars = lazy_witness_barcodes(x, 50, nu=1, maxdim=2)
    assert counts(bars) == [1, 0, 1]


def test_gaussian_blob_no_long_bars():
    x = np.random.default_rng(4).standard_normal((2000, 3))
    bars = lazy_witness_barcodes(x, 50, nu=1, maxdim=2)
    # (H0 is left out: maxmin picks the blob's outliers, which do join late)
    assert counts(bars)[1:] == [0, 0]


# ----------------------------------------------------------------- options and outputs

def test_threshold_makes_alive_bars_infinite_and_divisions_quantise():
    rng = np.random.default_rng(0)
    x = noisy(rng, circle(rng, 800))
    full = lazy_witness_barcodes(x, 40, nu=1)
    (birth, death), = full.diagrams[1][np.diff(full.diagrams[1], axis=1)[:, 0] > 0.3]
    cut = (birth + death) / 2
    bars = lazy_witness_barcodes(x, 40, nu=1, max_filtration=cut, num_divisions=100)
    step = cut / 100
    h1 = bars.diagrams[1]
    alive = h1[np.isinf(h1[:, 1])]
    assert len(alive) == 1 and long_bars(h1, scale=bars.scale) == 1
    assert np.floor(birth / step) * step == pytest.approx(alive[0, 0], rel=1e-6)
    values = np.concatenate([d[np.isfinite(d)] for d in bars.diagrams])
    np.testing.assert_allclose(values / step, np.round(values / step), atol=1e-3)
    assert bars.max_filtration == cut and bars.num_divisions == 100
    np.testing.assert_array_equal(bars.filtration, full.filtration)  # kept unquantised


def test_diagrams_sorted_by_birth_then_death():
    x = np.random.default_rng(8).standard_normal((300, 3))
    for d in lazy_witness_barcodes(x, 30, maxdim=2).diagrams:
        assert d.shape[1] == 2
        np.testing.assert_array_equal(np.lexsort((d[:, 1], d[:, 0])), np.arange(len(d)))


def test_fewer_points_than_landmarks():
    x = np.random.default_rng(0).standard_normal((12, 3))
    bars = lazy_witness_barcodes(x, 100)
    assert bars.all_points_are_landmarks and bars.n_landmarks == 12
    assert bars.covering_radius == 0.0
    assert np.isinf(bars.diagrams[0][:, 1]).sum() == 1


def test_long_bars_rule():
    dgm = np.array([[0.0, 1.0], [0.1, 0.25], [0.0, 0.1], [0.2, np.inf]])
    assert long_bars(dgm, scale=1.0) == 2  # inf and length 1.0; 0.15 < 0.2
    assert long_bars(dgm, scale=1.0, fraction=0.1) == 4
    assert long_bars(np.empty((0, 2))) == 0
    assert long_bars(dgm[:3]) == 1  # scale defaults to the largest value, 1.0


def test_ripser_and_giotto_ph_agree():
    gph = need_module("gph", "giotto-ph (the bench extra)")
    rng = np.random.default_rng(6)
    x = np.vstack([noisy(rng, circle(rng, 400, (0, 1))), noisy(rng, circle(rng, 400, (0, 2)))])
    bars = lazy_witness_barcodes(x, 40, nu=1, maxdim=2)
    other = gph.ripser_parallel(bars.filtration, metric="precomputed", maxdim=2)["dgms"]
    for ours, theirs in zip(bars.diagrams, other):
        theirs = theirs[theirs[:, 1] > theirs[:, 0]]
        theirs = theirs[np.lexsort((theirs[:, 1], theirs[:, 0]))]
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    assert [len(d) for d in bars.diagrams][1] >= 3


# ----------------------------------------------------------------- JavaPlex regression

def load_patches(k):
    path = shared_file("data", "javaplex-optical-patches", f"pointsOpticalDct_k{k}.mat")
    from scipy.io import loadmat

    return loadmat(path)[f"pointsOpticalDct_k{k}"]


@pytest.mark.parametrize("k, radius, n_long", [(300, 0.5919, 1), (15, 0.6554, 5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_javaplex_optical_patches(k, radius, n_long, seed):
    x = load_patches(k)
    # JavaPlex tutorial: 50 maxmin landmarks, nu = 1, max filtration R / 4, 1000 divisions
    landmarks = maxmin_landmarks(x, 50, seed=seed)
    r = covering_radius(x, landmarks)
    # The README's R is for JavaPlex's random first landmark; ours differs by a few percent.
    assert r == pytest.approx(radius, rel=0.05)
    bars = lazy_witness_barcodes(x, 50, nu=1, seed=seed, max_filtration=r / 4,
                                 num_divisions=1000)
    np.testing.assert_array_equal(bars.landmarks, landmarks)
    assert bars.covering_radius == r
    assert long_bars(bars.diagrams[1], scale=bars.scale) == n_long
    assert np.isinf(bars.diagrams[1][:, 1]).sum() == n_long
    # 100 landmarks, nu = 2 (JavaPlex's default), no threshold
    bars = lazy_witness_barcodes(x, 100, nu=2, seed=seed)
    assert long_bars(bars.diagrams[1], scale=bars.scale) == n_long


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, match", [
    ({"nu": 3}, "'nu' parameter of lazy_witness_barcodes must be 0, 1 or 2; got 3"),
    ({"n_landmarks": 0}, "'n_landmarks' parameter .* must be an int >= 1; got 0"),
    ({"coeff": 4}, "'coeff' parameter .* must be a prime int; got 4"),
    ({"maxdim": -1}, "'maxdim' parameter .* must be an int >= 0; got -1"),
    ({"num_divisions": 1000}, "'num_divisions' parameter .* needs 'max_filtration'"),
    ({"max_filtration": -1.0}, "'max_filtration' parameter .* finite float > 0"),
    ({"num_divisions": 0, "max_filtration": 1.0}, "'num_divisions' parameter .* int >= 1"),
])
def test_barcodes_bad_parameters(kwargs, match):
    x = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match=match):
        lazy_witness_barcodes(x, **{"n_landmarks": 5, **kwargs})


def test_other_bad_parameters():
    x = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match="'n_landmarks' parameter of maxmin_landmarks"):
        maxmin_landmarks(x, 0)
    with pytest.raises(ValueError, match="'nu' parameter of lazy_witness_filtration"):
        lazy_witness_filtration(x, [0, 1], nu=-1)
    with pytest.raises(ValueError, match="'landmarks' parameter of lazy_witness_filtration"):
        lazy_witness_filtration(x, [0, 20])
    with pytest.raises(ValueError, match="'points' parameter of maxmin_landmarks"):
        maxmin_landmarks(np.zeros(5), 2)
    with pytest.raises(ValueError, match="'fraction' parameter of long_bars"):
        long_bars([[0.0, 1.0]], fraction=0)
    with pytest.raises(ValueError, match="'diagram' parameter of long_bars"):
        long_bars(np.zeros((3, 3)))


def test_nan_points_are_refused_by_name():
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"'points' parameter of lazy_witness_barcodes must hold "
                                         r"finite values; got 1 NaN/inf"):
        lazy_witness_barcodes(x, 10)
