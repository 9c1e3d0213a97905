"""Significant bars: known shapes, noise, real patches, trained filters, invariances, errors."""


import numpy as np
import pytest
from conftest import circle, shared_file

from cnntopo.cloud.pointcloud import density_filter, normalise
from cnntopo.topology.klein import dct_basis
from cnntopo.topology.significance import MIN_WITNESSES_PER_LANDMARK, significant_bars


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Null maxima go to a fresh folder: no test reads what another one computed."""
    monkeypatch.setenv("CNNTOPO_CACHE", str(tmp_path / "cache"))


def noisy(rng, x, sigma=0.03):
    return x + sigma * rng.standard_normal(x.shape)


def three_circle_model(rng, n=600, sigma=0.03):
    """Primary circle (e1, e2) and the secondary circles (e1, e3), (e2, e4) of 3x3 patches."""
    e = dct_basis(normalisation="euclidean")
    parts = []
    for a, b in ((0, 1), (0, 2), (1, 3)):
        t = rng.uniform(0, 2 * np.pi, n)
        parts.append(np.cos(t)[:, None] * e[a] + np.sin(t)[:, None] * e[b])
    return noisy(rng, np.vstack(parts), sigma)


def rho(x, k, p):
    unit, _ = normalise(x)
    return unit[density_filter(unit, k, p)], {"density": (k, p), "n_input": len(unit)}


def test_count_rule_on_hand_made_ratios():
    from cnntopo.topology.significance import _count

    # 1.0 / 0.9 is no gap; 0.9 / 0.3 is; 0.3 / 0.25 is not; 0.25 is under t_abs
    assert _count(np.array([1.0, 0.9, 0.3, 0.25, 0.1]), 0.28, 1.5) == 2
    assert _count(np.array([0.5]), 0.3, 1.5) == 1          # no second bar: an infinite gap
    assert _count(np.array([0.2, 0.01]), 0.3, 1.5) == 0    # under t_abs
    assert _count(np.zeros(0), 0.3, 1.5) == 0


# ----------------------------------------------------------------- known shapes

def test_noisy_circle_one_loop():
    rng = np.random.default_rng(0)
    res = significant_bars(noisy(rng, circle(rng, 800)), 50, seed=0)
    assert res.counts == [1, 1] and res.confidence[1] >= 0.9
    assert res.undecided == [False, False] and res.params["null"] == "gaussian"


def test_figure_eight_two_loops():
    rng = np.random.default_rng(2)
    x = np.vstack([circle(rng, 800), circle(rng, 800) + [2.0, 0.0, 0.0]])
    res = significant_bars(noisy(rng, x), 50)
    assert res.counts == [1, 2] and res.confidence[1] >= 0.9


def test_three_circle_model_five_loops():
    res = significant_bars(three_circle_model(np.random.default_rng(1)), 50)
    assert res.counts == [1, 5] and res.confidence[1] >= 0.9


def test_two_sphere_one_void_and_a_blob_none():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2000, 3))
    sphere = noisy(rng, x / np.linalg.norm(x, axis=1, keepdims=True))
    assert significant_bars(sphere, 50, maxdim=2).counts == [1, 0, 1]
    assert significant_bars(x, 50, maxdim=2).counts == [1, 0, 0]   # a Gaussian blob


def test_uniform_seven_sphere_has_no_loop():
    x, _ = normalise(np.random.default_rng(3).standard_normal((1500, 9)))
    res = significant_bars(x, 50)
    assert res.params["null"] == "filters"
    assert res.counts == [1, 0] and res.confidence[1] >= 0.8 and not any(res.undecided)


@pytest.mark.parametrize("n_landmarks", [30, 100])
def test_false_alarms_on_noise_stay_near_alpha(n_landmarks):
    """Each resample is a level-0.05 test: 20 unstructured filter clouds, few false loops."""
    hits = 0
    for seed in range(20):
        x, kw = rho(np.random.default_rng(100 + seed).standard_normal((2000, 9)), 20, 0.3)
        res = significant_bars(x, n_landmarks, n_resamples=1, seed=seed, **kw)
        hits += res.counts[1] > 0
    assert hits <= 3  # P(>= 4 of 20 | 5%) = 1.6%


# ----------------------------------------------------------------- patches

def test_natural_patches_rho300_primary_circle():
    from cnntopo.sources.patches import natural_patches

    x, kw = rho(natural_patches(10_000, seed=0), 300, 0.3)
    res = significant_bars(x, 50, **kw)
    assert res.counts[1] == 1 and res.confidence[1] >= 0.7


def load_optical(k):
    path = shared_file("data", "javaplex-optical-patches", f"pointsOpticalDct_k{k}.mat")
    from scipy.io import loadmat

    return loadmat(path)[f"pointsOpticalDct_k{k}"]


@pytest.mark.slow
@pytest.mark.parametrize("k, loops", [(300, 1), (15, 5)])
def test_optical_patches_one_and_five_loops(k, loops):
    # 15,000 unit vectors of R^8 (DCT coordinates): the core X(k, 30%) of 50,000 patches
    x = load_optical(k)
    res = significant_bars(x, 100, density=(k, 0.3), n_input=50_000)
    assert res.params["null"] == "sphere"
    assert res.counts[1] == loops and res.confidence[1] >= 0.5


# ----------------------------------------------------------------- trained filters

@pytest.mark.slow
def test_trained_m_layer1_filters_show_the_primary_circle(tmp_path):
    """The smallest training that showed b1 = 1 on every seed tried (CPU seeds 0-5, GPU 0-4):
    4 x M(64, 0, 32), batches of 32, 300 iterations; 256 filters at rho(20, 0.5). The
    same networks at initialisation show no loop."""
    import torch

    from cnntopo.sources.filters import filters_from_source, spatial_filters
    from cnntopo.training.loop import TrainConfig, build_model, train

    config = TrainConfig(arch="M", widths=(64, 0, 32), n_nets=4, iterations=300, batch_size=32,
                         seed=0)
    with torch.no_grad():
        start = spatial_filters(build_model(config).state_dict()["conv1.weight"])
    x, kw = rho(start, 20, 0.5)
    assert significant_bars(x, 30, **kw).counts[1] == 0
    train(config, tmp_path / "run", progress=False)
    x, kw = rho(filters_from_source(tmp_path / "run", 1)[0], 20, 0.5)
    for n_landmarks in (30, 50):
        res = significant_bars(x, n_landmarks, **kw)
        assert res.counts[1] == 1 and res.confidence[1] >= 0.7, (n_landmarks, res)
    # 128 points, resamples of 103 for 100 landmarks: a loop, or "too few points", never a 0
    res = significant_bars(x, 100, **kw)
    assert res.counts[1] == 1 or res.undecided[1], res


# ----------------------------------------------------------------- too few points

def test_too_few_points_per_landmark_is_undecided_not_zero():
    # 512 unstructured filters at rho(20, 0.3): 154 points, resamples of 124
    x, kw = rho(np.random.default_rng(7).standard_normal((512, 9)), 20, 0.3)
    thin = significant_bars(x, 100, **kw)
    assert thin.counts == [1, 0] and thin.undecided == [True, True]
    assert "too few points to tell" in thin.reason[1]
    assert "1.24 points per landmark" in thin.reason[1]
    assert 124 < MIN_WITNESSES_PER_LANDMARK * 100
    enough = significant_bars(x, 30, **kw)  # 4.1 points per landmark
    assert enough.counts == [1, 0] and enough.undecided == [False, False]
    assert enough.reason == [None, None]


# ----------------------------------------------------------------- invariances and output

def test_scale_free():
    rng = np.random.default_rng(5)
    x = noisy(rng, circle(rng, 500))
    a = significant_bars(x, 40, seed=3).to_dict()
    b = significant_bars(7.3 * x, 40, seed=3).to_dict()
    for key in ("counts", "confidence", "undecided", "distribution"):
        assert a[key] == b[key], key
    np.testing.assert_allclose(a["thresholds"], b["thresholds"], rtol=1e-6)  # ripser: float32
    np.testing.assert_allclose(a["longest"], b["longest"], rtol=1e-6)
    np.testing.assert_allclose(a["gap_thresholds"], b["gap_thresholds"], rtol=1e-6)
    # normalised filters scaled by 7.3 still meet the "filters" null
    f, _ = normalise(rng.standard_normal((300, 9)))
    assert significant_bars(7.3 * f, 30, n_resamples=2).params["null"] == "filters"


def test_same_seed_same_result_and_cache_round_trip(tmp_path):
    import cnntopo.topology.significance as sig

    x, kw = rho(np.random.default_rng(8).standard_normal((800, 9)), 20, 0.3)
    first = significant_bars(x, 30, seed=4, **kw, cache_dir=tmp_path)
    assert list((tmp_path / "significance").glob("null-*.json"))
    sig.NULL_CACHE.clear()          # the second call reads the disk
    again = significant_bars(x, 30, seed=4, **kw, cache_dir=tmp_path)
    assert again.to_dict() == first.to_dict()
    sig.NULL_CACHE.clear()          # and without any cache: the same null again
    fresh = significant_bars(x, 30, seed=4, **kw, cache_dir=None)
    assert fresh.to_dict() == first.to_dict()
    other = significant_bars(x, 30, seed=5, **kw, cache_dir=tmp_path)
    assert other.params["seed"] == 5 and other.thresholds == first.thresholds


def test_to_dict_is_plain_json():
    import json

    rng = np.random.default_rng(0)
    res = significant_bars(noisy(rng, circle(rng, 300)), 20, n_resamples=5)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["counts"] == res.counts and d["confidence"] == res.confidence
    assert d["method"] == "null-max-gap" and "Bobrowski" in d["reference"]
    assert set(d["params"]) >= {"n_landmarks", "alpha", "n_resamples", "n_null", "null",
                                "density", "n_input", "seed", "resample_size"}
    assert sum(d["distribution"][1].values()) == pytest.approx(1.0)


# ----------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, match", [
    ({"n_landmarks": 0}, r"'n_landmarks' parameter of significant_bars must be an int >= 3; got 0"),
    ({"n_landmarks": 2}, r"'n_landmarks' parameter .* >= 3; got 2"),
    ({"density": (600, 0.3), "n_input": 600},
     r"'density' parameter .* k an int in \[1, n_input - 1\] = \[1, 599\]; got k=600"),
    ({"density": (20, 0.3)}, r"'n_input' parameter .* must give the number of points"),
    ({"density": (20, 0.3), "n_input": 1000}, r"keeps 300 of 1000 points, but the cloud has 200"),
    ({"density": (20, 1.5), "n_input": 200}, r"p a float in \(0, 1\]; got p=1.5"),
    ({"null": "uniform"},
     r"'null' parameter .* one of \('auto', 'filters', 'sphere', 'gaussian'\)"),
    ({"alpha": 0.5}, r"'alpha' parameter .* float in \(0.0, 0.5\); got 0.5"),
    ({"n_resamples": 0}, r"'n_resamples' parameter .* int >= 1; got 0"),
    ({"seed": -1}, r"'seed' parameter .* int >= 0; got -1"),
    ({"n_null": 49}, r"'n_null' parameter .* at least 99 for alpha = 0.01 .*; got 49"),
])
def test_bad_parameters(kwargs, match):
    x = np.random.default_rng(0).standard_normal((200, 3))
    with pytest.raises(ValueError, match=match):
        significant_bars(x, **{"n_landmarks": 20, **kwargs})


def test_bad_points():
    with pytest.raises(ValueError, match=r"at least 5 points to test anything; got 4"):
        significant_bars(np.random.default_rng(0).standard_normal((4, 3)), 3)
    x = np.random.default_rng(0).standard_normal((50, 3))
    x[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"'points' parameter of significant_bars must hold "
                                         r"finite values; got 1 NaN/inf"):
        significant_bars(x, 10)
    with pytest.raises(ValueError, match=r"all 30 rows are equal"):
        significant_bars(np.ones((30, 3)), 10)
