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
