"""Klein-bottle and primary-circle readings of k x k filters (5x5, 7x7, 11x11, ...).

The reading: **a k x k filter is area-averaged to 3x3, then read as a 3x3 filter**
(:func:`cnntopo.topology.klein.klein_readings`). The filter is seen as a function on the
square [-1, 1]^2, constant on each of its k x k cells; its average over each of the 3 x 3
equal cells of the same square (a cell of the fine grid cut by a coarse boundary counts with
the share of its area on each side) is what the 3x3 model describes. For k = 3 nothing
changes. Since the model's k x k filters (:func:`cnntopo.topology.klein_filters.klein_filters`)
are cell integrals of one function, their 3x3 averages are the model's 3x3 filters (exactly
when 3 divides k; within 0.03 otherwise, e.g. 5x5, where a fine cell split by a coarse
boundary is taken as flat): the reading measures distances to the same Klein bottle, the model
sampled on the k x k grid, at the resolution the model was made for.

Why not the distance to the model sampled on the k x k grid itself (measured,
``benchmarks/bench_klein_kxk.py``, BENCHMARKS.md): in R^25 and up a 2-D surface fills almost
none of the sphere, so random filters lie within 0.5 of it 0% of the time from 5x5 on, and
trained edge filters, which are localised and sharper than the model's linear ramp, 0-2%.
Neither number can be read. Step edges at k x k fare no better (0% random, 1% trained).
Area-averaged, random 5x5 filters lie within 0.5 of the Klein bottle 18% of the time, trained
MNIST 5x5 first layers about 60%, and the same reading rules apply to every kernel size.

A filter whose 3x3 average is constant (a checkerboard, say) has nothing the model describes:
it is at distance 1 from the model (the distance of the zero patch to every unit patch),
counted off the model, with angles 0.

Random baselines: :func:`random_fractions` gives, for each kernel size, the same fractions for
Gaussian random filters of that shape (normalised, no density filtration), so a fraction can
be read against chance (circle / Klein bottle): 1.4% / 10.0% at 3x3, 3.6% / 17.6% at 5x5,
2.4% / 14.3% at 7x7, 2.0% / 12.8% at 11x11. They differ from 3x3's because averaging unequal
shares of the fine cells correlates neighbouring coarse cells; 6x6 and 9x9, whose coarse cells
average whole blocks, give 3x3's numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .. import caches
from ..cloud.pointcloud import normalise
from ..validation import InputError, check_int, validate_points
from .klein import (
    COVERAGE_BINS,
    READING_RADIUS,
    KleinReadings,
    angular_coverage,
    klein_readings,
    primary_circle_coordinates,
    primary_circle_fraction,
)

__all__ = ["area_weights", "area_average", "kernel_side", "kernel_klein_readings",
           "kernel_circle_fraction", "random_fractions", "RANDOM_KEYS", "MODEL_SIZE"]

#: The grid the Klein-bottle model is read on.
MODEL_SIZE = 3
#: Keys of :func:`random_fractions`.
RANDOM_KEYS = ("primary_circle_fraction_random", "klein_fraction_random",
               "off_model_fraction_random")


def kernel_side(n_weights):
    """k for filters of k * k weights, else None."""
    k = math.isqrt(int(n_weights))
    return k if k * k == n_weights else None


def area_weights(kernel_size, size=MODEL_SIZE):
    """The (size, k) matrix A whose rows average k cells into `size` equal ones.

    ``A[i, j]`` is the share of coarse cell i's width covered by fine cell j; each row sums
    to 1. A k x k filter F averages to ``A F A^T``.
    """
    k = check_int(kernel_size, "kernel_size", "area_weights", 1)
    m = check_int(size, "size", "area_weights", 1)
    lo = np.arange(m)[:, None] * k / m  # coarse cell i spans [i k / m, (i + 1) k / m)
    j = np.arange(k)[None, :]           # fine cell j spans [j, j + 1)
    overlap = np.clip(np.minimum(lo + k / m, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / (k / m)


def _side(x, fn, low=MODEL_SIZE):
    k = kernel_side(x.shape[1])
    if k is None or k < low:
        raise InputError(f"The 'points' parameter of {fn} must hold flattened k x k filters "
                         f"with k >= {low}, shape (n, k * k); got {x.shape}.")
    return k


def area_average(points, size=MODEL_SIZE):
    """k x k filters averaged over `size` x `size` equal cells.

    Parameters
    ----------
    points : array_like, shape (n, k * k)
        Flattened row-major, k >= `size`.
    size : int, default 3

    Returns
    -------
    averaged : ndarray of float64, shape (n, size * size)
        Row-major, like the input.
    """
    x = validate_points(points)
    k = _side(x, "area_average", low=size)
    a = area_weights(k, size)
    out = np.einsum("ij,njk,lk->nil", a, x.reshape(-1, k, k), a, optimize=True)
    return out.reshape(len(x), size * size)


# An average this much smaller than its filter (both mean-centred) is rounding, not shape.
_FLAT = 1e-8


def _averaged_unit(points, fn):
    """(unit 3x3 averages of the rows that have one, those rows, n)."""
    x = validate_points(points)
    _side(x, fn)
    avg = area_average(x)
    avg -= avg.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(avg, axis=1)
    keep = norms > _FLAT * np.linalg.norm(x - x.mean(axis=1, keepdims=True), axis=1)
    return avg[keep] / norms[keep, None], np.flatnonzero(keep), len(x)


def kernel_klein_readings(points, radius=READING_RADIUS, *, bins=COVERAGE_BINS, n_theta=720):
    """:func:`cnntopo.topology.klein.klein_readings` of k x k filters, area-averaged to 3x3.

    Parameters
    ----------
    points : array_like, shape (n, k * k)
        k x k filters, k >= 3, flattened row-major; any scale (each 3x3 average is
        normalised). For k = 3 they must be normalised, as for ``klein_readings``, whose
        result this then is.
    radius, bins, n_theta
        As for ``klein_readings``.

    Returns
    -------
    cnntopo.topology.klein.KleinReadings
        One entry per input row; a row whose average is constant has distance 1 to both
        models and angles 0. The fractions are over all rows.
    """
    x = validate_points(points)
    if _side(x, "kernel_klein_readings") == MODEL_SIZE:
        return klein_readings(x, radius, bins=bins, n_theta=n_theta)
    unit, kept, n = _averaged_unit(x, "kernel_klein_readings")
    if len(unit) == 0:  # every average flat: nothing near either model
        zeros, ones = np.zeros(n), np.ones(n)
        return KleinReadings(
            radius=float(radius), theta=zeros, phi=zeros.copy(), klein_distance=ones,
            circle_angle=zeros.copy(), circle_distance=ones.copy(), n_points=n,
            n_near_circle=0, n_near_klein=0, primary_circle_fraction=0.0,
            primary_circle_coverage=float("nan"), klein_fraction=0.0, off_model_fraction=1.0,
            coverage_bins=int(bins))
    r = klein_readings(unit, radius, bins=bins, n_theta=n_theta)

    def full(values, fill):
        out = np.full(n, fill, dtype=np.float64)
        out[kept] = values
        return out

    circle_distance = full(r.circle_distance, 1.0)
    klein_distance = full(r.klein_distance, 1.0)
    angle = full(r.circle_angle, 0.0)
    near_circle, near_klein = circle_distance <= r.radius, klein_distance <= r.radius
    return replace(r, theta=full(r.theta, 0.0), phi=full(r.phi, 0.0),
                   klein_distance=klein_distance, circle_angle=angle,
                   circle_distance=circle_distance, n_points=int(n),
                   n_near_circle=int(near_circle.sum()), n_near_klein=int(near_klein.sum()),
                   primary_circle_fraction=float(near_circle.mean()),
                   primary_circle_coverage=angular_coverage(angle[near_circle], bins),
                   klein_fraction=float(near_klein.mean()),
                   off_model_fraction=float(1.0 - near_klein.mean()))


def kernel_circle_fraction(points, radius=READING_RADIUS):
    """Share of k x k filters (k >= 3) within `radius` of the primary circle, read as
    :func:`kernel_klein_readings` reads them (cheaper: no Klein coordinates)."""
    x = validate_points(points)
    if _side(x, "kernel_circle_fraction") == MODEL_SIZE:
        return primary_circle_fraction(x, radius)
    unit, _, n = _averaged_unit(x, "kernel_circle_fraction")
    if len(unit) == 0:
        return 0.0
    _, distance = primary_circle_coordinates(unit)
    return float(np.sum(distance <= radius) / n)


# Random baselines are kept in the cache folder: a second process reads them (1 s each here).
RANDOM_CACHE = caches.ResultCache("klein", "fractions", prefix="random")
_CACHE_VERSION = 1


def _random_fractions(k, radius, n, seed):
    x = np.random.default_rng(seed).normal(size=(n, k * k))
    unit, _ = normalise(x)
    r = kernel_klein_readings(unit, radius)
    return [r.primary_circle_fraction, r.klein_fraction, r.off_model_fraction]


def random_fractions(kernel_size, radius=READING_RADIUS, *, n=20000, seed=0):
    """The readings' fractions for Gaussian random k x k filters: what chance gives.

    Monte Carlo over `n` filters (standard error under 0.3 percentage points at the
    default), normalised and read as :func:`kernel_klein_readings` reads them; computed once
    per shape and kept in the cache folder (:func:`cnntopo.caches.cache_dir`).

    Parameters
    ----------
    kernel_size : int
        k >= 3.
    radius : float, default 0.5
    n : int, default 20000
    seed : int, default 0

    Returns
    -------
    dict
        ``primary_circle_fraction_random``, ``klein_fraction_random``,
        ``off_model_fraction_random`` (:data:`RANDOM_KEYS`), rounded to 4 digits.
    """
    k = check_int(kernel_size, "kernel_size", "random_fractions", MODEL_SIZE)
    n = check_int(n, "n", "random_fractions", 1)
    seed = check_int(seed, "seed", "random_fractions", 0)
    radius = float(radius)
    key = {"version": _CACHE_VERSION, "kernel_size": k, "radius": radius, "n": n, "seed": seed}
    folder = caches.cache_dir()
    values = RANDOM_CACHE.get(key, folder)
    if values is None:
        values = _random_fractions(k, radius, n, seed)
        RANDOM_CACHE.put(key, values, folder)
    return {name: round(float(v), 4) for name, v in zip(RANDOM_KEYS, values)}
