import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.neighbors import NearestNeighbors

from cnntopo.cloud import pointcloud as pc
from cnntopo.cloud.pointcloud import (
    density_filter,
    knn_distance,
    normalise,
    validate_points,
)


def _sphere_points(n, d=9, seed=0):
    unit, _ = normalise(np.random.default_rng(seed).standard_normal((n, d)))
    return unit


def _sklearn_kth(x, k):
    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors()[0][:, -1]


# ---------------------------------------------------------------- normalise

def test_normalise_hand_example():
    unit, kept = normalise([[1.0, 2.0, 3.0], [4.0, 4.0, 10.0]])
    s2, s6 = np.sqrt(2.0), np.sqrt(6.0)
    np.testing.assert_allclose(unit, [[-1 / s2, 0, 1 / s2], [-1 / s6, -1 / s6, 2 / s6]],
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(kept, [0, 1])


def test_normalise_rows_zero_mean_unit_norm():
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(500, 9))
    unit, kept = normalise(x)
    assert unit.shape == (500, 9) and kept.dtype == np.int64
    np.testing.assert_allclose(unit.mean(axis=1), 0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, rtol=1e-14)


def test_normalise_is_scale_and_shift_invariant():
    x = np.random.default_rng(2).standard_normal((50, 9))
    a, _ = normalise(x)
    b, _ = normalise(1e7 * x - 3e8)
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_normalise_drops_constant_rows_and_reports_kept():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 9))
    x[1] = 0.0
    x[3] = 1e6 + rng.uniform(-1, 1, 9) * np.spacing(1e6)   # constant up to rounding noise
    x[4] = -2.5
    tiny = 1e-20 * rng.standard_normal(9)                    # tiny but not constant
    x[5] = tiny
    unit, kept = normalise(x)
    np.testing.assert_array_equal(kept, [0, 2, 5])
    assert np.isfinite(unit).all()
    expected, _ = normalise(np.vstack([x[0], x[2], tiny / 1e-20]))
    np.testing.assert_allclose(unit, expected, atol=1e-12)


def test_normalise_all_constant_gives_empty_not_nan():
    unit, kept = normalise(np.full((4, 9), 7.0))
    assert unit.shape == (0, 9) and kept.shape == (0,)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 9)),
              elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_normalise_never_nan(x):
    unit, kept = normalise(x)
    assert np.isfinite(unit).all()
    assert unit.shape == (kept.size, x.shape[1])
    if kept.size:
        np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1, rtol=1e-12)


# ------------------------------------------------------------- knn_distance

@pytest.mark.parametrize("k", [1, 5, 40])
def test_knn_distance_matches_sklearn_on_sphere(k):
    x = _sphere_points(3000, seed=k)
    np.testing.assert_allclose(knn_distance(x, k), _sklearn_kth(x, k), rtol=1e-9, atol=0)


def test_knn_distance_matches_sklearn_not_centred_and_other_dims():
    x = np.random.default_rng(4).normal(2.0, 1.0, size=(1500, 5))
    np.testing.assert_allclose(knn_distance(x, 17), _sklearn_kth(x, 17), rtol=1e-9)
    x1 = np.random.default_rng(5).standard_normal((200, 1))
    np.testing.assert_allclose(knn_distance(x1, 3), _sklearn_kth(x1, 3), rtol=1e-9)


def test_knn_distance_with_duplicates():
    base = _sphere_points(400, seed=6)
    x = np.vstack([base, base[:150], base[:50]])          # some points three times over
    for k in (1, 2, 3, 10):
        got = knn_distance(x, k)
        np.testing.assert_allclose(got, _sklearn_kth(x, k), rtol=1e-9, atol=1e-15)
    assert np.all(knn_distance(x, 2)[:50] == 0.0)          # two copies at distance 0
    assert np.all(knn_distance(x, 1)[:150] == 0.0)


def test_knn_distance_hand_example():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_array_equal(knn_distance(x, 1), [1, 1, 2, 4])
    np.testing.assert_array_equal(knn_distance(x, 2), [3, 2, 3, 6])
    np.testing.assert_array_equal(knn_distance(x, 3), [7, 6, 4, 7])


# ----------------------------------------------------------- density_filter

def test_density_filter_hand_example():
    # a tight cluster of 4 points, a looser pair, and 4 outliers far apart
    x = np.array([[0.0], [0.1], [0.2], [0.3], [5.0], [5.5], [20.0], [40.0], [70.0], [99.0]])
    idx, dist = density_filter(x, 1, 0.4, return_distances=True)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3])
    np.testing.assert_allclose(dist, [0.1, 0.1, 0.1, 0.1, 0.5, 0.5, 14.5, 20, 29, 29])
    np.testing.assert_array_equal(density_filter(x, 1, 0.6), [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(density_filter(x, 1, 1.0), np.arange(10))


def test_density_filter_ties_broken_by_index():
    x = np.arange(10.0)[:, None]          # k=1 distance 1 everywhere
    np.testing.assert_array_equal(density_filter(x, 1, 0.3), [0, 1, 2])
    # k=2: ends see distance 2, interior points distance 1
    np.testing.assert_array_equal(density_filter(x, 2, 0.3), [1, 2, 3])


def test_density_filter_keeps_smallest_fraction_and_count():
    x = _sphere_points(6400, seed=7)
    idx, dist = density_filter(x, 20, 0.3, return_distances=True)
    assert idx.size == 1920 and np.all(np.diff(idx) > 0)
    rest = np.setdiff1d(np.arange(6400), idx)
    assert dist[idx].max() <= dist[rest].min()
    np.testing.assert_allclose(dist, _sklearn_kth(x, 20), rtol=1e-9)
    np.testing.assert_array_equal(density_filter(x, 20, 0.3), idx)     # deterministic


@pytest.mark.parametrize("n, p, expected", [(6400, 0.3, 1920), (100, 0.29, 29),
                                            (10, 0.25, 3), (10, 0.01, 1), (7, 1.0, 7)])
def test_density_filter_count_rounding(n, p, expected):
    x = np.random.default_rng(8).standard_normal((n, 2))
    assert density_filter(x, 1, p).size == expected


# --------------------------------------------------------------- bad input

@pytest.mark.parametrize("k, match", [(100, r"'k' parameter of density_filter.*\[1, 99\]; got 100"),
                                      (0, r"'k'.*got 0"), (-3, r"'k'.*got -3"),
                                      (2.0, r"'k'.*must be an int"),
                                      (True, r"'k'.*got True")])
def test_density_filter_bad_k(k, match):
    with pytest.raises(ValueError, match=match):
        density_filter(np.zeros((100, 3)) + np.arange(100)[:, None], k, 0.3)


@pytest.mark.parametrize("p", [0, 0.0, 1.5, -0.1, float("nan"), "0.3"])
def test_density_filter_bad_p(p):
    with pytest.raises(ValueError, match=r"'p' parameter of density_filter must be a float in \(0, 1\]"):
        density_filter(np.random.default_rng(0).standard_normal((20, 3)), 3, p)


def test_knn_distance_bad_k():
    with pytest.raises(ValueError, match=r"'k' parameter of knn_distance.*\[1, 4\]; got 5"):
        knn_distance(np.random.default_rng(0).standard_normal((5, 3)), 5)


def test_bad_points():
    x = np.random.default_rng(0).standard_normal((10, 9))
    x[3, 2] = np.nan
    x[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"'points' array must be finite; 2 of 10 rows .* first is row 3"):
        density_filter(x, 3, 0.5)
    with pytest.raises(ValueError, match=r"must be finite; 2 of 10 rows"):
        normalise(x)
    with pytest.raises(ValueError, match=r"'points' array must be 2-D.*got shape \(9,\)"):
        normalise(np.arange(9.0))
    with pytest.raises(ValueError, match=r"non-empty; got shape \(0, 9\)"):
        knn_distance(np.zeros((0, 9)), 1)
    with pytest.raises(ValueError, match=r"'filters' array must be real numeric"):
        validate_points([["a", "b"], ["c", "d"]], name="filters")
    with pytest.raises(ValueError, match=r"real numeric"):
        validate_points(np.ones((3, 3), dtype=complex))


def test_validate_points_converts():
    out = validate_points(np.arange(6, dtype=np.int32).reshape(3, 2))
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[0, 1], [2, 3], [4, 5]])


# ------------------------------------- density_filter: the bounded fast path

def _reference_kept(kth, p):
    n_kept = max(1, int(np.floor(p * kth.size + 0.5)))
    return np.sort(np.argsort(kth, kind="stable")[:n_kept])


@pytest.fixture
def query_log(monkeypatch):
    """Record (number of rows, bound) of every k-d tree query made by density_filter."""
    calls = []
    real = pc._query_kth

    def logged(tree, y, rows, k, bound=np.inf):
        out = real(tree, y, rows, k, bound)
        calls.append((rows.size, bound, int(np.isinf(out[rows]).sum())))
        return out

    monkeypatch.setattr(pc, "_query_kth", logged)
    return calls


def _clusters(seed=9):
    # three clusters whose densities differ by orders of magnitude, plus a sparse haze
    rng = np.random.default_rng(seed)
    parts = [rng.normal(c, s, size=(m, 5)) for c, s, m in
             [(0.0, 0.001, 300), (3.0, 0.05, 1500), (-3.0, 0.5, 2500), (0.0, 20.0, 700)]]
    return rng.permutation(np.vstack(parts))


def _duplicated_sphere():
    base = _sphere_points(1200, seed=10)
    rng = np.random.default_rng(11)
    return np.vstack([base, base[rng.choice(1200, 900)], base[:400]])   # up to 4 copies


def _grid():
    # integer grid: exact, massively tied distances (1, sqrt 2, 2, ...), ends and edges
    g = np.stack(np.meshgrid(np.arange(70.0), np.arange(45.0)), -1).reshape(-1, 2)
    return np.random.default_rng(12).permutation(g)


@pytest.mark.parametrize("cloud, k, p", [
    ("sphere", 30, 0.3), ("sphere", 30, 2e-4), ("sphere", 30, 0.95), ("sphere", 5, 0.97),
    ("clusters", 25, 0.05), ("clusters", 25, 0.3), ("clusters", 25, 0.6),
    ("clusters", 200, 0.1), ("duplicates", 1, 0.2), ("duplicates", 2, 0.3),
    ("duplicates", 3, 0.15), ("duplicates", 12, 0.3), ("grid", 1, 0.3), ("grid", 4, 0.5),
    ("grid", 8, 0.1), ("grid", 20, 0.9),
])
def test_density_filter_fast_path_matches_sklearn(cloud, k, p, query_log):
    x = {"sphere": lambda: _sphere_points(5000, seed=13), "clusters": _clusters,
         "duplicates": _duplicated_sphere, "grid": _grid}[cloud]()
    expected = _reference_kept(_sklearn_kth(x, k), p)
    got = density_filter(x, k, p)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64
    # the bounded path really ran: a sample query, then one bounded query of the rest
    assert len(query_log) >= 2 and np.isfinite(query_log[1][1])


def test_density_filter_p_near_one_queries_all():
    # no margin fits above p = 0.999: the full query, still the exact kept set
    x = _sphere_points(5000, seed=13)
    np.testing.assert_array_equal(density_filter(x, 5, 0.999),
                                  _reference_kept(_sklearn_kth(x, 5), 0.999))


def test_density_filter_fast_path_prunes_far_points(query_log):
    x = _clusters()
    density_filter(x, 25, 0.3)
    (n_sample, _, _), (n_rest, bound, n_pruned) = query_log
    assert len(query_log) == 2 and n_sample + n_rest == x.shape[0]
    assert n_pruned > 0.5 * x.shape[0]                # most of the cloud is cut short
    np.testing.assert_array_equal(density_filter(x, 25, 0.3),
                                  density_filter(x, 25, 0.3, return_distances=True)[0])


@pytest.mark.parametrize("z", [-8.0, -50.0])
@pytest.mark.parametrize("cloud, k, p", [("clusters", 25, 0.3), ("grid", 4, 0.93),
                                         ("duplicates", 2, 0.6)])
def test_density_filter_fallback_when_bound_too_small(cloud, k, p, z, query_log,
                                                      monkeypatch):
    # a negative margin puts the bound below the cut-off: too few points come back under
    # it, and the undecided ones must be queried again without a bound
    monkeypatch.setattr(pc, "_BOUND_Z", z)
    x = {"clusters": _clusters, "duplicates": _duplicated_sphere, "grid": _grid}[cloud]()
    got = density_filter(x, k, p)
    np.testing.assert_array_equal(got, _reference_kept(_sklearn_kth(x, k), p))
    assert len(query_log) == 3 and np.isinf(query_log[2][1])


def test_density_filter_small_cloud_uses_full_query(query_log):
    x = _sphere_points(300, seed=14)       # the sample would be the whole cloud
    np.testing.assert_array_equal(density_filter(x, 10, 0.3),
                                  _reference_kept(_sklearn_kth(x, 10), 0.3))
    assert len(query_log) == 1 and np.isinf(query_log[0][1])


def test_density_filter_p_one_needs_no_query(query_log):
    x = _sphere_points(3000, seed=15)
    np.testing.assert_array_equal(density_filter(x, 50, 1.0), np.arange(3000))
    assert query_log == []


def _brute_kth(x, k):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
    return np.sort(d, axis=1)[:, k]          # column 0 is the point itself (or a copy)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(60, 240), st.integers(1, 3),
       st.integers(1, 12), st.floats(0.01, 0.99), st.sampled_from([-2.0, 0.0, 1.0]))
def test_density_filter_fast_path_brute_force_integer_clouds(seed, n, dims, k, p, z):
    # Small integer clouds full of duplicates and exact ties; a tiny sample minimum and a
    # small (or negative: fallback) margin let them take the bounded path. Integer
    # coordinates make every distance exact, so the brute-force reference ties exactly
    # where the k-d tree does.
    x = np.random.default_rng(seed).integers(0, 6, size=(n, dims)).astype(float)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pc, "_BOUND_SAMPLE_MIN", 4)
        mp.setattr(pc, "_BOUND_Z", z)
        got = density_filter(x, k, p)
    np.testing.assert_array_equal(got, _reference_kept(_brute_kth(x, k), p))


# ------------------------------------- density_filter: the screened path (large clouds)

@pytest.fixture
def screen_log(monkeypatch):
    """Send every cloud through the screen; record (thresholds, points queried exactly)."""
    from cnntopo.cloud import kdtree

    calls = []
    real_brackets, real_query = kdtree.kth_distance_brackets, pc._query_kth

    def brackets(points, k, thresholds, margin, **kw):
        calls.append({"thresholds": len(thresholds), "exact": 0})
        return real_brackets(points, k, thresholds, margin, **kw)

    def query(tree, y, rows, k, bound=np.inf):
        if calls:
            calls[-1]["exact"] += rows.size
        return real_query(tree, y, rows, k, bound)

    monkeypatch.setattr(pc, "_SCREEN_POINTS", 0)
    monkeypatch.setattr(kdtree, "kth_distance_brackets", brackets)
    monkeypatch.setattr(pc, "_query_kth", query)
    return calls


@pytest.mark.parametrize("cloud, k, p", [
    ("sphere", 30, 0.3), ("sphere", 30, 2e-4), ("sphere", 30, 0.95), ("sphere", 5, 0.97),
    ("clusters", 25, 0.05), ("clusters", 25, 0.3), ("clusters", 200, 0.1),
    ("duplicates", 1, 0.2), ("duplicates", 3, 0.15), ("duplicates", 12, 0.3),
    ("grid", 1, 0.3), ("grid", 4, 0.5), ("grid", 20, 0.9),
])
def test_density_filter_screen_matches_sklearn(cloud, k, p, screen_log):
    x = {"sphere": lambda: _sphere_points(5000, seed=13), "clusters": _clusters,
         "duplicates": _duplicated_sphere, "grid": _grid}[cloud]()
    got = density_filter(x, k, p)
    kth = _sklearn_kth(x, k)
    np.testing.assert_array_equal(got, _reference_kept(kth, p))
    assert got.dtype == np.int64
    # the screen ran, except where the cut-off is 0 (more duplicates than points kept)
    assert (screen_log and screen_log[0]["thresholds"] > 0) or kth[got].max() == 0


def test_density_filter_screen_queries_few_points_exactly(screen_log):
    # the point of the screen: only points near the cut-off get an exact k-NN query
    x = _sphere_points(30_000, seed=16)
    got = density_filter(x, 100, 0.3)
    np.testing.assert_array_equal(got, _reference_kept(_sklearn_kth(x, 100), 0.3))
    (call,) = screen_log
    sample = min(pc._SCREEN_SAMPLE, x.shape[0])
    assert call["exact"] - sample < 0.05 * x.shape[0]


@pytest.mark.parametrize("z", [0.0, -3.0, -40.0, 40.0])
def test_density_filter_screen_thresholds_off_the_cut(z, screen_log, monkeypatch):
    # thresholds that miss the cut-off (all below, or spread far) cost exact queries of
    # more points, never a different kept set
    monkeypatch.setattr(pc, "_SCREEN_Z", z)
    monkeypatch.setattr(pc, "_SCREEN_SAMPLE", 64)
    x = _clusters()
    np.testing.assert_array_equal(density_filter(x, 25, 0.3),
                                  _reference_kept(_sklearn_kth(x, 25), 0.3))


def test_density_filter_screen_all_duplicates_falls_back(screen_log):
    # every k-th distance is 0: no threshold can sit above 0, the bounded path decides
    x = np.repeat(_sphere_points(50, seed=17), 40, axis=0)
    np.testing.assert_array_equal(density_filter(x, 10, 0.3),
                                  _reference_kept(np.zeros(x.shape[0]), 0.3))
    assert screen_log == []


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(60, 400), st.integers(1, 9),
       st.integers(1, 12), st.floats(0.01, 0.99), st.sampled_from([-4.0, 0.0, 1.0, 6.0]),
       st.sampled_from([8, 64, 2048]))
def test_density_filter_screen_brute_force_integer_clouds(seed, n, dims, k, p, z, sample):
    # Integer clouds: every distance exact, duplicates and ties everywhere, thresholds that
    # fall exactly on distances; the screen must keep exactly the brute-force set.
    x = np.random.default_rng(seed).integers(0, 5, size=(n, dims)).astype(float)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pc, "_SCREEN_POINTS", 0)
        mp.setattr(pc, "_SCREEN_Z", z)
        mp.setattr(pc, "_SCREEN_SAMPLE", sample)
        got = density_filter(x, k, p)
    np.testing.assert_array_equal(got, _reference_kept(_brute_kth(x, k), p))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(30, 300), st.sampled_from([1, 2, 3, 8, 9, 24]),
       st.integers(1, 20), st.integers(1, 12), st.booleans())
def test_kth_distance_brackets_hold_the_exact_distance(seed, n, dims, k, n_t, integer):
    from cnntopo.cloud.kdtree import kth_distance_brackets

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, dims)).astype(float) if integer \
        else rng.standard_normal((n, dims))
    k = min(k, n - 1)
    kth2 = _brute_kth(x, k) ** 2
    # thresholds on and between actual squared distances (exact ties included)
    t = np.unique(np.concatenate([rng.choice(kth2, n_t), rng.uniform(0, kth2.max() + 1, 2)]))
    t = t[t > 1e-9]
    if t.size == 0:
        return
    low, high = kth_distance_brackets(x, k, t, 1e-12, leaf_size=int(rng.integers(1, 40)),
                                      threads=int(rng.integers(1, 3)))
    edges = np.concatenate([[0.0], t, [np.inf]])
    assert np.all(low < high)
    assert np.all(edges[low + 1] <= kth2) and np.all(kth2 < edges[high + 1])
    # a bracket is one threshold wide unless the distance sits on a threshold (within margin)
    on = np.isin(kth2, t)
    assert np.all((high - low == 1) | on)


@pytest.mark.parametrize("scale", [1e-156, 1e-120, 1e120, 1e150])
def test_density_filter_screen_tiny_and_huge_coordinates(scale, monkeypatch):
    # raw (not normalised) clouds at extreme scales: the kept set of knn_distance's own
    # distances at that scale (scaling rounds the integer ties apart), with the screen where
    # squared distances stay normal floats and the bounded query elsewhere
    monkeypatch.setattr(pc, "_SCREEN_POINTS", 0)
    x = np.random.default_rng(18).integers(0, 5, size=(400, 4)).astype(float) * scale
    np.testing.assert_array_equal(density_filter(x, 6, 0.3),
                                  _reference_kept(knn_distance(x, 6), 0.3))
