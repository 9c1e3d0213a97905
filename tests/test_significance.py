"""Significant bars: known shapes, noise, real patches, trained filters, invariances, errors."""

from pathlib import Path

import numpy as np
import pytest

from cnntopo.klein import dct_basis
from cnntopo.pointcloud import density_filter, normalise
from cnntopo.significance import MIN_WITNESSES_PER_LANDMARK, significant_bars

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "javaplex-optical-patches"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Null maxima go to a fresh folder: no test reads what another one computed."""
    monkeypatch.setenv("CNNTOPO_CACHE", str(tmp_path / "cache"))


def circle(rng, n, axes=(0, 1), dim=3):
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.zeros((n, dim))
    x[:, axes[0]], x[:, axes[1]] = np.cos(t), np.sin(t)
    return x


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
    from cnntopo.significance import _count

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
