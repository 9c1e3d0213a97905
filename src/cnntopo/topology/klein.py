"""Where normalised 3x3 filters lie relative to the primary circle and the Klein bottle.

Conventions. Patches are flattened in row-major order, pixel (row r, column c) at index
``3 r + c``; with ``x = c - 1`` (left to right) and ``y = 1 - r`` (bottom to top), the DCT
vectors of Carlsson et al. (2008) are ``e1 = -x``, ``e2 = y`` (linear ramps),
``e3 ~ x^2``, ``e4 ~ y^2`` (centred quadratics), ``e5 = -x y`` and three higher ones.

All distances here are Euclidean, matching the pipeline's normalisation
(:func:`cnntopo.cloud.pointcloud.normalise`: zero mean, unit Euclidean norm). e1 and e2 have
unit Euclidean norm *and* unit D-norm, so the primary circle ``cos t e1 + sin t e2`` is
the same set under both conventions; the Klein bottle model is built from
Euclidean-normalised polynomials.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..validation import InputError, validate_points

__all__ = ["dct_basis", "primary_circle_coordinates", "primary_circle_fraction",
           "klein_coordinates", "klein_patches", "angular_coverage", "klein_readings",
           "KleinReadings", "klein_histogram", "READING_RADIUS", "COVERAGE_BINS"]

#: The one radius of every reading: a filter is "near" the primary circle or the Klein
#: bottle when its Euclidean distance to it is at most this (a 29 degree cone on S^7).
READING_RADIUS = 0.5
#: Orientation bins of :func:`angular_coverage` (22.5 degrees each).
COVERAGE_BINS = 16

_DCT_RAW = np.array([
    [1, 0, -1, 1, 0, -1, 1, 0, -1],
    [1, 1, 1, 0, 0, 0, -1, -1, -1],
    [1, -2, 1, 1, -2, 1, 1, -2, 1],
    [1, 1, 1, -2, -2, -2, 1, 1, 1],
    [1, 0, -1, 0, 0, 0, -1, 0, 1],
    [1, 0, -1, -2, 0, 2, 1, 0, -1],
    [1, -2, 1, 0, 0, 0, -1, 2, -1],
    [1, -2, 1, -2, 4, -2, 1, -2, 1],
], dtype=np.float64)
_DCT_SCALE = 1.0 / np.sqrt([6.0, 6.0, 54.0, 54.0, 8.0, 48.0, 48.0, 216.0])


def dct_basis(*, normalisation="D"):
    """The DCT basis e1..e8 of mean-centred 3x3 patches (Carlsson et al. 2008).

    Parameters
    ----------
    normalisation : {"D", "euclidean"}, default "D"
        ``"D"``: D-orthonormal, ``e_i^T D e_j = delta_ij`` with D the grid Laplacian
        (:func:`cnntopo.sources.patches.grid_laplacian`): the scales of Carlsson, Ishkhanov,
        de Silva & Zomorodian (2008), "On the local behavior of spaces of natural images",
        IJCV 76, Section 2 (:data:`_DCT_SCALE`: 1/sqrt(6), 1/sqrt(6), 1/sqrt(54), ...).
        ``"euclidean"``: unit Euclidean norm (JavaPlex's ``dct.m``); the rows are then an
        orthonormal basis of the zero-mean hyperplane.

    Returns
    -------
    basis : ndarray of float64, shape (8, 9)
        Row i is e_{i+1}, flattened row-major.
    """
    if normalisation == "D":
        return _DCT_RAW * _DCT_SCALE[:, None]
    if normalisation == "euclidean":
        return _DCT_RAW / np.linalg.norm(_DCT_RAW, axis=1, keepdims=True)
    raise InputError(
        f"The 'normalisation' parameter of dct_basis must be 'D' or 'euclidean'; "
        f"got {normalisation!r}."
    )


def _check_nine(points):
    x = validate_points(points)
    if x.shape[1] != 9:
        raise InputError(
            f"The 'points' array must hold flattened 3x3 patches, shape (n, 9); "
            f"got {x.shape}."
        )
    return x


def primary_circle_coordinates(points):
    """Angle of, and Euclidean distance to, the nearest point of the primary circle.

    The primary circle is ``C(t) = cos(t) e1 + sin(t) e2``: linear edges at every angle,
    ``t = 0`` the vertical edge bright on the left, ``t = pi/2`` the horizontal edge bright
    on top. For a point ``x``, ``a = x.e1``, ``b = x.e2``, the nearest point is ``C(t)``
    with ``t = atan2(b, a)`` and the distance ``sqrt(||x||^2 - 2 sqrt(a^2 + b^2) + 1)``
    (``sqrt(2 - 2 sqrt(a^2 + b^2))`` for unit points, at most sqrt(2)). Points orthogonal
    to e1 and e2 are equally far from the whole circle; they get angle 0.

    Parameters
    ----------
    points : array_like, shape (n, 9)
        Usually normalised patches (zero mean, unit Euclidean norm).

    Returns
    -------
    angle : ndarray of float64, shape (n,)
        In [0, 2 pi).
    distance : ndarray of float64, shape (n,)
    """
    x = _check_nine(points)
    e = dct_basis()[:2]
    a, b = x @ e[0], x @ e[1]
    radius = np.hypot(a, b)
    angle = np.mod(np.arctan2(b, a), 2 * np.pi)
    angle[angle >= 2 * np.pi] = 0.0   # mod can round -tiny up to 2 pi
    sq = np.einsum("ij,ij->i", x, x) - 2 * radius + 1
    return angle, np.sqrt(np.maximum(sq, 0.0))


def primary_circle_fraction(points, radius=0.5):
    """Fraction of points within Euclidean distance `radius` of the primary circle.

    For reference, points uniform on the unit sphere of the zero-mean hyperplane (S^7)
    give ``(1 - (1 - radius**2 / 2)**2)**3``: 1.3% at the default radius 0.5 (which is
    a 29 degree cone around the circle).

    Parameters
    ----------
    points : array_like, shape (n, 9)
        Normalised patches.
    radius : float, default 0.5
        In (0, 2].

    Returns
    -------
    fraction : float
    """
    _check_radius(radius, "primary_circle_fraction")
    _, distance = primary_circle_coordinates(points)
    return float(np.mean(distance <= radius))


def _check_radius(radius, fn):
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, numbers.Real) \
            or not 0 < radius <= 2:
        raise InputError(
            f"The 'radius' parameter of {fn} must be a float in (0, 2]; got {radius!r}."
        )
    return float(radius)


def _klein_frames(theta):
    """Unit linear (L) and quadratic (Q) profiles along direction theta, shape (m, 9)."""
    rows, cols = np.divmod(np.arange(9), 3)
    gx, gy = cols - 1.0, 1.0 - rows
    # s = cos(theta) e1 + sin(theta) e2 (up to scale), so K(t, 0) = C(t)
    s = -np.cos(theta)[:, None] * gx + np.sin(theta)[:, None] * gy
    lin = s / np.linalg.norm(s, axis=1, keepdims=True)
    quad = s ** 2 - (s ** 2).mean(axis=1, keepdims=True)
    quad /= np.linalg.norm(quad, axis=1, keepdims=True)
    return lin, quad


def klein_patches(theta, phi):
    """The Klein-bottle model's patches ``K(theta, phi) = cos(phi) L_theta + sin(phi) Q_theta``
    (see :func:`klein_coordinates`), normalised 3x3 patches.

    Parameters
    ----------
    theta, phi : array_like of float, shape (m,)

    Returns
    -------
    ndarray of float64, shape (m, 9)
    """
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    phi = np.asarray(phi, dtype=np.float64).reshape(-1)
    lin, quad = _klein_frames(theta)
    return np.cos(phi)[:, None] * lin + np.sin(phi)[:, None] * quad


def klein_coordinates(points, *, n_theta=720, block=4096):
    """Klein bottle coordinates (theta, phi) of 3x3 patches and distance to the model.

    The model (Carlsson et al. 2008) holds the patches ``K(theta, phi) = cos(phi) L_theta +
    sin(phi) Q_theta`` with ``s = -cos(theta) x + sin(theta) y``, ``L_theta`` the unit
    linear ramp ``s`` (so ``K(t, 0) = C(t)``, the primary circle) and ``Q_theta`` the
    unit mean-centred ``s**2`` (phi = pi/2: a dark line across the ramp's gradient,
    phi = 3 pi/2 a bright one). Since ``K(theta + pi, phi) = K(theta, pi - phi)``, theta is
    reported in [0, pi) and phi in [0, 2 pi): the Klein bottle. theta is found on a grid of
    `n_theta` angles (resolution pi / n_theta), phi exactly for that theta.

    Parameters
    ----------
    points : array_like, shape (n, 9)
        Normalised patches.
    n_theta : int, default 720
    block : int, default 4096
        Rows per block (memory ~ 16 * block * n_theta bytes).

    Returns
    -------
    theta : ndarray of float64, shape (n,)
    phi : ndarray of float64, shape (n,)
    distance : ndarray of float64, shape (n,)
        Euclidean distance to ``K(theta, phi)``.
    """
    x = _check_nine(points)
    for label, value in (("n_theta", n_theta), ("block", block)):
        if not isinstance(value, numbers.Integral) or value < 1:
            raise InputError(
                f"The '{label}' parameter of klein_coordinates must be an int >= 1; "
                f"got {value!r}."
            )
    grid = np.arange(n_theta) * (np.pi / n_theta)
    lin, quad = _klein_frames(grid)
    n = x.shape[0]
    theta, phi = np.empty(n), np.empty(n)
    for start in range(0, n, block):
        xb = x[start:start + block]
        pl, pq = xb @ lin.T, xb @ quad.T
        # L and Q are orthogonal (odd vs even under the point reflection of the grid),
        # so for each theta the best phi is atan2(<x,Q>, <x,L>) with score hypot(.).
        best = np.argmax(pl * pl + pq * pq, axis=1)
        rows = np.arange(xb.shape[0])
        theta[start:start + block] = grid[best]
        phi[start:start + block] = np.arctan2(pq[rows, best], pl[rows, best])
    phi = np.mod(phi, 2 * np.pi)
    phi[phi >= 2 * np.pi] = 0.0
    lin_t, quad_t = _klein_frames(theta)
    model = np.cos(phi)[:, None] * lin_t + np.sin(phi)[:, None] * quad_t
    return theta, phi, np.linalg.norm(x - model, axis=1)


# --------------------------------------------------------------------------- readings

def angular_coverage(angles, bins=COVERAGE_BINS):
    """How evenly angles spread round the full circle: 1 uniform, 0 all in one bin.

    The estimator is the normalised entropy of the angle histogram, with the Miller-Madow
    bias correction::

        coverage = min(1, (H + (m - 1) / (2 n)) / log(bins)),   H = -sum p_j log p_j,

    over `bins` equal bins *centred* on the multiples of ``2 pi / bins`` (so axis-aligned
    edges, t = 0, pi/2, ..., sit in the middle of a bin, not on a boundary), ``p_j`` the
    share of the `n` angles in bin j and ``m`` the number of non-empty bins. Unlike
    ``1 - R`` (R the mean resultant length), it does not call two opposite orientations
    "uniform": angles at t and t + pi are distinct filters (an edge and its negative) and
    give about 0.25 with 16 bins, four axis-aligned orientations about 0.5, a von Mises
    spread of concentration 2 (a 40 degree spread) about 0.8.

    Small samples: the plain entropy of a uniform sample is biased low by about
    ``(bins - 1) / (2 n)``; the correction removes most of it, not all. Uniform angles give
    a mean coverage of 0.65 at n = 5, 0.82 at n = 10, 0.93 at n = 20, 0.99 at n = 50 and
    above 0.995 from n = 100 (16 bins; 5% quantiles 0.45, 0.68, 0.84, 0.95, 0.98): read
    a coverage from fewer than about 3 x `bins` angles as a lower bound. All angles in one
    bin give exactly 0 at any n, one angle alone gives 0, no angles give NaN.

    Parameters
    ----------
    angles : array_like, shape (n,)
        Angles in radians (any real values; taken modulo 2 pi).
    bins : int, default 16
        Number of orientation bins, >= 2.

    Returns
    -------
    coverage : float
        In [0, 1], NaN when `angles` is empty.
    """
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
        raise InputError(f"The 'bins' parameter of angular_coverage must be an int >= 2; "
                         f"got {bins!r}.")
    a = np.asarray(angles, dtype=np.float64)
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise InputError(f"The 'angles' parameter of angular_coverage must be a 1-D array of "
                         f"finite angles; got shape {a.shape}"
                         + ("" if a.ndim != 1 else " with NaN or inf") + ".")
    n = a.size
    if n == 0:
        return float("nan")
    # shifting by half a bin centres the bins on the multiples of 2 pi / bins
    counts, _ = np.histogram(np.mod(a + np.pi / bins, 2 * np.pi), bins=bins, range=(0, 2 * np.pi))
    share = counts[counts > 0] / n
    entropy = float(-(share * np.log(share)).sum()) + (share.size - 1) / (2 * n)
    return float(min(1.0, entropy / math.log(bins)))


@dataclass(frozen=True)
class KleinReadings:
    """Where a cloud of normalised 3x3 filters lies relative to the Klein-bottle model.

    Attributes
    ----------
    radius : float
        The radius of every "near" below (Euclidean, on the unit sphere).
    theta, phi : ndarray of float64, shape (n,)
        Klein-bottle coordinates, theta in [0, pi), phi in [0, 2 pi)
        (:func:`klein_coordinates`).
    klein_distance : ndarray of float64, shape (n,)
        Distance of each filter to the Klein-bottle model.
    circle_angle : ndarray of float64, shape (n,)
        Angle t in [0, 2 pi) of the nearest point of the primary circle
        (:func:`primary_circle_coordinates`).
    circle_distance : ndarray of float64, shape (n,)
        Distance of each filter to the primary circle.
    n_points, n_near_circle, n_near_klein : int
        Filters in all, within `radius` of the circle, within `radius` of the Klein bottle.
    primary_circle_fraction : float
        ``n_near_circle / n_points``.
    primary_circle_coverage : float
        :func:`angular_coverage` of the circle angles of the filters near the circle;
        NaN when none is near.
    klein_fraction : float
        ``n_near_klein / n_points``.
    off_model_fraction : float
        Filters farther than `radius` from the Klein bottle, ``1 - klein_fraction``.
    coverage_bins : int
        Orientation bins of the coverage.
    """

    radius: float
    theta: np.ndarray
    phi: np.ndarray
    klein_distance: np.ndarray
    circle_angle: np.ndarray
    circle_distance: np.ndarray
    n_points: int
    n_near_circle: int
    n_near_klein: int
    primary_circle_fraction: float
    primary_circle_coverage: float
    klein_fraction: float
    off_model_fraction: float
    coverage_bins: int

    def to_dict(self):
        """The scalar readings as a JSON-ready dict (NaN as None); the arrays are left out.

        Keys: ``radius``, ``n_points``, ``n_near_circle``, ``n_near_klein``,
        ``primary_circle_fraction``, ``primary_circle_coverage``, ``klein_fraction``,
        ``off_model_fraction``, ``coverage_bins``.
        """
        def plain(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        keys = ("radius", "n_points", "n_near_circle", "n_near_klein",
                "primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
                "off_model_fraction", "coverage_bins")
        return {k: plain(getattr(self, k)) for k in keys}


def _check_normalised(x, fn, tol=1e-6):
    norms = np.linalg.norm(x, axis=1)
    means = x.mean(axis=1)
    bad = np.flatnonzero((np.abs(norms - 1) > tol) | (np.abs(means) > tol))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"The 'points' parameter of {fn} must hold normalised filters (zero mean, unit "
            f"Euclidean norm; see cnntopo.cloud.pointcloud.normalise); {bad.size} rows are not, "
            f"the first is row {i} with norm {norms[i]:.4g} and mean {means[i]:.3g}.")


def klein_readings(points, radius=READING_RADIUS, *, bins=COVERAGE_BINS, n_theta=720):
    """Distances to, and fractions near, the primary circle and the Klein bottle.

    A filter is near the primary circle (or the Klein bottle) when its Euclidean distance
    to it is at most `radius`. For reference, points uniform on S^7 (no structure) give a
    primary-circle fraction of ``(1 - (1 - radius**2 / 2)**2)**3`` (1.3% at 0.5) and a
    Klein fraction of 10.1% at 0.5 (Monte Carlo, 400,000 points; checked against a
    brute-force nearest model point in tests/test_klein.py).

    Parameters
    ----------
    points : array_like, shape (n, 9)
        Normalised 3x3 filters (zero mean, unit Euclidean norm, as
        :func:`cnntopo.cloud.pointcloud.normalise` or :func:`cnntopo.cloud.prepare.prepare_points`
        give them), flattened row-major.
    radius : float, default 0.5
        In (0, 2].
    bins : int, default 16
        Orientation bins of the coverage (:func:`angular_coverage`).
    n_theta : int, default 720
        Grid of :func:`klein_coordinates`.

    Returns
    -------
    KleinReadings
    """
    fn = "klein_readings"
    radius = _check_radius(radius, fn)
    x = _check_nine(points)
    _check_normalised(x, fn)
    angle, circle_distance = primary_circle_coordinates(x)
    theta, phi, klein_distance = klein_coordinates(x, n_theta=n_theta)
    near_circle = circle_distance <= radius
    near_klein = klein_distance <= radius
    n = x.shape[0]
    return KleinReadings(
        radius=radius, theta=theta, phi=phi, klein_distance=klein_distance,
        circle_angle=angle, circle_distance=circle_distance, n_points=int(n),
        n_near_circle=int(near_circle.sum()), n_near_klein=int(near_klein.sum()),
        primary_circle_fraction=float(near_circle.mean()),
        primary_circle_coverage=angular_coverage(angle[near_circle], bins),
        klein_fraction=float(near_klein.mean()),
        off_model_fraction=float(1.0 - near_klein.mean()),
        coverage_bins=int(bins))


def klein_histogram(theta, phi, bins=(18, 36)):
    """Counts of (theta, phi) on the Klein bottle's fundamental square [0, pi) x [0, 2 pi).

    Parameters
    ----------
    theta, phi : array_like, shape (n,)
        Klein coordinates as :func:`klein_coordinates` gives them.
    bins : (int, int), default (18, 36)
        Cells along theta and phi (10 degrees each by default).

    Returns
    -------
    counts : ndarray of int64, shape (bins[0], bins[1])
        ``counts[i, j]``: points with theta in cell i and phi in cell j.
    theta_edges : ndarray, shape (bins[0] + 1,)
        From 0 to pi.
    phi_edges : ndarray, shape (bins[1] + 1,)
        From 0 to 2 pi.
    """
    fn = "klein_histogram"
    if (not isinstance(bins, (tuple, list)) or len(bins) != 2
            or not all(isinstance(b, numbers.Integral) and not isinstance(b, bool) and b >= 1
                       for b in bins)):
        raise InputError(f"The 'bins' parameter of {fn} must be a pair of ints >= 1; "
                         f"got {bins!r}.")
    t = np.asarray(theta, dtype=np.float64)
    p = np.asarray(phi, dtype=np.float64)
    if t.ndim != 1 or p.shape != t.shape:
        raise InputError(f"The 'theta' and 'phi' parameters of {fn} must be 1-D arrays of one "
                         f"length; got shapes {t.shape} and {p.shape}.")
    if t.size and (not np.all((t >= 0) & (t < np.pi)) or not np.all((p >= 0) & (p < 2 * np.pi))):
        raise InputError(f"The 'theta' and 'phi' parameters of {fn} must lie in [0, pi) and "
                         f"[0, 2 pi) (as klein_coordinates gives them).")
    counts, theta_edges, phi_edges = np.histogram2d(
        t, p, bins=[int(bins[0]), int(bins[1])], range=[[0, np.pi], [0, 2 * np.pi]])
    return counts.astype(np.int64), theta_edges, phi_edges
