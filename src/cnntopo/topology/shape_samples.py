"""Samples of the shape models, as normalised 3x3 filters: known shapes for the readings.

Every sample lies in the space the pipeline reads filters in: the unit sphere of the
zero-mean hyperplane of R^9 (:func:`cnntopo.cloud.pointcloud.normalise` leaves it as it is).

- ``"circle"``, ``"two circles meeting in two points"``, ``"three circles"`` and
  ``"Klein bottle"`` come from the Klein-bottle parametrisation of
  :func:`cnntopo.topology.klein.klein_coordinates`, ``K(theta, phi) = cos(phi) L_theta +
  sin(phi) Q_theta``: the primary circle is ``phi = 0`` (theta all round), the secondary
  circles ``theta = 0`` and ``theta = pi / 2`` (phi all round), the Klein bottle all of it.
  With ``space="patch"`` they are the model's own patches; with ``space="plain"`` the same
  shape rotated by a random rotation of the hyperplane (an isometry: the same metric space,
  away from the patch coordinates, so the Klein readings no longer apply).
- ``"torus"`` (the flat torus ``(cos a, sin a, cos b, sin b) / sqrt(2)``) and ``"sphere"``
  (the round 2-sphere) are embedded isometrically by a random orthonormal frame of the
  hyperplane.
- ``"point"``: the null model, unstructured filters (normalised Gaussian rows).

Noise is Gaussian, added before the pipeline's normalisation; outliers replace a share of
the points by unstructured filters (uniform on the filter sphere).
"""

from __future__ import annotations

import numpy as np

from ..validation import InputError, check_int
from .klein import klein_patches

__all__ = ["SAMPLES", "SPACES", "sample_shape"]

SAMPLES = ("point", "circle", "two circles meeting in two points", "three circles",
           "Klein bottle", "torus", "sphere")
SPACES = ("patch", "plain")
# Bound of the Klein-bottle model's area element (its maximum is 2 sqrt(2), measured 2.8284).
_AREA_MAX = 2.83


def _hyperplane_frame(rng, k):
    """`k` orthonormal vectors of the zero-mean hyperplane of R^9, shape (k, 9)."""
    ones = np.ones((9, 1)) / 3.0
    z = rng.standard_normal((9, k))
    z -= ones @ (ones.T @ z)
    q, _ = np.linalg.qr(z)
    return q.T


def _klein(theta, phi):
    return klein_patches(theta, phi)


def _area_element(theta, phi, h=1e-5):
    """|dK/dtheta ^ dK/dphi| of the model, by central differences."""
    a = (_klein(theta + h, phi) - _klein(theta - h, phi)) / (2 * h)
    b = (_klein(theta, phi + h) - _klein(theta, phi - h)) / (2 * h)
    aa, bb, ab = (a * a).sum(1), (b * b).sum(1), (a * b).sum(1)
    return np.sqrt(np.maximum(aa * bb - ab * ab, 0.0))


def _circles(rng, n, which):
    """`n` patches spread over the circles `which` ("primary", 0, pi/2) of the model."""
    parts = np.array_split(np.arange(n), len(which))
    out = []
    for idx, c in zip(parts, which):
        t = rng.uniform(0, 2 * np.pi, len(idx))
        out.append(_klein(t, np.zeros(len(idx))) if c == "primary"
                   else _klein(np.full(len(idx), c), t))
    return np.vstack(out)


def _clean(name, n, rng):
    if name == "point":
        x = rng.standard_normal((n, 9))
        x -= x.mean(axis=1, keepdims=True)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    if name == "circle":
        return _circles(rng, n, ["primary"])
    if name == "two circles meeting in two points":
        return _circles(rng, n, ["primary", 0.0])
    if name == "three circles":
        return _circles(rng, n, ["primary", 0.0, np.pi / 2])
    if name == "Klein bottle":
        # uniform on the surface: rejection on its area element |dK/dtheta ^ dK/dphi|
        out = np.empty((0, 9))
        while len(out) < n:
            theta, phi = rng.uniform(0, np.pi, 4 * n), rng.uniform(0, 2 * np.pi, 4 * n)
            area = _area_element(theta, phi)
            keep = rng.uniform(0, _AREA_MAX, 4 * n) < area
            out = np.vstack([out, _klein(theta[keep], phi[keep])])
        return out[:n]
    frame = _hyperplane_frame(rng, 4 if name == "torus" else 3)
    if name == "torus":
        a, b = rng.uniform(0, 2 * np.pi, (2, n))
        flat = np.column_stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)]) / np.sqrt(2)
        return flat @ frame
    z = rng.standard_normal((n, 3))
    return (z / np.linalg.norm(z, axis=1, keepdims=True)) @ frame


def sample_shape(name, n, *, noise=0.0, outliers=0.0, space="patch", seed=0):
    """`n` points of a shape model as normalised 3x3 filters.

    Parameters
    ----------
    name : str
        One of :data:`SAMPLES`.
    n : int
        Points (>= 1).
    noise : float
        Standard deviation of Gaussian noise added to every coordinate (>= 0); the
        pipeline's normalisation then puts the points back on the filter sphere.
    outliers : float
        Share of the points, in [0, 1), replaced by unstructured filters (uniform on the
        filter sphere), at random rows.
    space : {"patch", "plain"}
        The Klein-bottle models in patch coordinates, or rotated off them (see the module
        docstring). The torus, the sphere and the point are the same either way.
    seed : int

    Returns
    -------
    ndarray of float64, shape (n, 9)
    """
    fn = "sample_shape"
    if name not in SAMPLES:
        raise InputError(f"The 'name' parameter of {fn} must be one of {list(SAMPLES)}; "
                         f"got {name!r}.")
    if space not in SPACES:
        raise InputError(f"The 'space' parameter of {fn} must be one of {list(SPACES)}; "
                         f"got {space!r}.")
    n = check_int(n, "n", fn, 1)
    if not np.isfinite(noise) or noise < 0:
        raise InputError(f"The 'noise' parameter of {fn} must be a float >= 0; got {noise!r}.")
    if not 0 <= outliers < 1:
        raise InputError(f"The 'outliers' parameter of {fn} must be a float in [0, 1); "
                         f"got {outliers!r}.")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SAMPLES.index(name)]))
    x = _clean(name, n, rng)
    if space == "plain" and name in SAMPLES[1:5]:
        x = x @ _hyperplane_frame(rng, 8).T @ _hyperplane_frame(rng, 8)
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    m = int(round(outliers * n))
    if m:
        rows = rng.choice(n, m, replace=False)
        x[rows] = _clean("point", m, rng)
    return x
