"""Filters sampled from the Klein-bottle model on a k x k grid (Gabrielsson & Carlsson 2019).

A point (t1, t2) of the Klein bottle is the function on the square [-1, 1]^2

    F(x, y) = sin(t2) u + cos(t2) (2 u^2 - 1),   u = cos(t1) x + sin(t1) y,

an edge across direction t1 at t2 = pi/2 (the primary circle: a linear ramp), a line at
t2 = 0 or pi (a quadratic), and the blend of the two between. A k x k filter is the integral
of F over each of the k x k equal cells of the square, row 0 the top of the patch (y near
+1), column 0 its left (x near -1). Those cell integrals are exact here: over a cell of width
h and centre (xc, yc), u integrates to h^2 uc and u^2 to h^2 (uc^2 + h^2 / 12), with
uc = cos(t1) xc + sin(t1) yc.

After mean-centring and scaling to unit norm (:func:`cnntopo.cloud.pointcloud.normalise`) a 3x3
Klein filter is a point of the model that :func:`cnntopo.topology.klein.klein_coordinates`
measures distances to, since the h^2 / 12 shift is a constant and the cell-centre samples are
the model's.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_int, check_real

__all__ = [
    "cell_centres",
    "circle_filters",
    "gabor_filters",
    "klein_connectivity",
    "klein_filter_angles",
    "klein_filters",
    "klein_grid_distances",
]


def cell_centres(kernel_size):
    """(xc, yc), each shape (k, k): the centres of the k x k cells of [-1, 1]^2, row 0 at
    the top (yc decreasing down the rows), column 0 at the left."""
    k = check_int(kernel_size, "kernel_size", "cell_centres", 1)
    c = -1.0 + (2.0 * np.arange(k) + 1.0) / k
    return c[None, :].repeat(k, axis=0), c[::-1, None].repeat(k, axis=1)


def _cell_integrals(t1, t2, kernel_size):
    xc, yc = cell_centres(kernel_size)
    h = 2.0 / kernel_size
    t1, t2 = np.asarray(t1, dtype=np.float64), np.asarray(t2, dtype=np.float64)
    u = np.cos(t1)[:, None, None] * xc + np.sin(t1)[:, None, None] * yc
    mean_u2 = u ** 2 + h * h / 12.0
    f = np.sin(t2)[:, None, None] * u + np.cos(t2)[:, None, None] * (2.0 * mean_u2 - 1.0)
    return h * h * f


def klein_filter_angles(n_theta1, n_theta2):
    """(t1, t2), each shape (n_theta1 * n_theta2,): t1 = pi i / n1 (outer), t2 = 2 pi j / n2."""
    n1 = check_int(n_theta1, "n_theta1", "klein_filters", 1)
    n2 = check_int(n_theta2, "n_theta2", "klein_filters", 1)
    t1 = np.pi * np.arange(n1) / n1
    t2 = 2.0 * np.pi * np.arange(n2) / n2
    return np.repeat(t1, n2), np.tile(t2, n1)


def klein_filters(n_theta1, n_theta2, kernel_size=3):
    """Filters at an n1 x n2 grid of the Klein bottle, integrated over a k x k grid.

    Parameters
    ----------
    n_theta1 : int
        Directions t1 = pi i / n1, i = 0 .. n1 - 1.
    n_theta2 : int
        Profiles t2 = 2 pi j / n2, j = 0 .. n2 - 1 (pi / 2: an edge; 0, pi: lines).
    kernel_size : int, default 3

    Returns
    -------
    filters : ndarray of float64, shape (n1 * n2, k, k)
        Filter ``i * n2 + j`` is (t1_i, t2_j) (:func:`klein_filter_angles`); not normalised.
    """
    k = check_int(kernel_size, "kernel_size", "klein_filters", 1)
    t1, t2 = klein_filter_angles(n_theta1, n_theta2)
    return _cell_integrals(t1, t2, k)


def circle_filters(n, kernel_size=3):
    """Edges at n directions around the circle: t2 = pi / 2 and t1 = 2 pi i / n.

    Returns
    -------
    filters : ndarray of float64, shape (n, k, k)
        Linear ramps ``u = cos(t1) x + sin(t1) y`` integrated over the k x k cells: the
        primary circle of the Klein bottle, each orientation with both polarities.
    """
    n = check_int(n, "n", "circle_filters", 1)
    k = check_int(kernel_size, "kernel_size", "circle_filters", 1)
    t1 = 2.0 * np.pi * np.arange(n) / n
    return _cell_integrals(t1, np.full(n, np.pi / 2), k)


def gabor_filters(n_theta1, n_theta2, kernel_size=3, *, wavelength=3.0, sigma=1.0):
    """Gabor filters on the Klein filters' grid: the same directions t1 and phases t2.

    Filter (t1, t2) samples, at the k x k cell centres of [-1, 1]^2,

        G(x, y) = -exp(-(x^2 + y^2) / (2 sigma^2)) cos(2 pi u / wavelength + t2),
        u = cos(t1) x + sin(t1) y,

    the Gabor counterpart of Klein filter (t1, t2): t2 = pi / 2 an odd (edge) filter rising
    along u, t2 = 0 an even one with a dark centre line, as in :func:`klein_filters`. They
    differ from the Klein filters by the Gaussian envelope and the sinusoidal profile (the
    comparison of Love et al. 2023, section 3.3).

    Parameters
    ----------
    n_theta1, n_theta2 : int
        Directions t1 = pi i / n1 and phases t2 = 2 pi j / n2, as :func:`klein_filter_angles`.
    kernel_size : int, default 3
    wavelength : float, default 3.0
        In units of the patch's half-width (the patch is 2 wide): 4.5 pixels on a 3x3 grid.
        At 2 (one period across the patch) the diagonal filters alias on 3x3.
    sigma : float, default 1.0
        Width of the envelope, same units (the patch's edge at one sigma). With these
        defaults every 3x3 Gabor filter of a 4 x 4 grid lies within 0.4 of the Klein-bottle
        model after normalising, cosine >= 0.92 to its Klein twin: a close relative with its
        own shape.

    Returns
    -------
    filters : ndarray of float64, shape (n1 * n2, k, k)
        Filter ``i * n2 + j`` is (t1_i, t2_j); not normalised.
    """
    fn = "gabor_filters"
    k = check_int(kernel_size, "kernel_size", fn, 1)
    wavelength = check_real(wavelength, "wavelength", fn, 0.0, np.inf)
    sigma = check_real(sigma, "sigma", fn, 0.0, np.inf)
    t1, t2 = klein_filter_angles(n_theta1, n_theta2)
    xc, yc = cell_centres(k)
    u = np.cos(t1)[:, None, None] * xc + np.sin(t1)[:, None, None] * yc
    envelope = np.exp(-(xc ** 2 + yc ** 2) / (2.0 * sigma ** 2))
    return -envelope * np.cos(2.0 * np.pi * u / wavelength + t2[:, None, None])


def klein_grid_distances(t1_a, t2_a, t1_b, t2_b):
    """Distances on the flat Klein bottle between points (t1, t2) of two sets.

    The Klein bottle is the square [0, pi) x [0, 2 pi) with (t1, t2 + 2 pi) ~ (t1, t2) and
    (t1 + pi, t2) ~ (t1, -t2): the filter F of (t1 + pi, t2) is that of (t1, -t2) (u changes
    sign). The distance is the Euclidean one of the plane between the nearest lifts.

    Parameters
    ----------
    t1_a, t2_a : array_like, shape (n,)
    t1_b, t2_b : array_like, shape (m,)

    Returns
    -------
    ndarray of float64, shape (n, m)
    """
    t1_a, t2_a = (np.asarray(v, dtype=np.float64)[:, None] for v in (t1_a, t2_a))
    t1_b, t2_b = (np.asarray(v, dtype=np.float64)[None, :] for v in (t1_b, t2_b))
    best = np.full(np.broadcast_shapes(t1_a.shape, t1_b.shape), np.inf)
    for shift in (-2, -1, 0, 1, 2):  # lifts of b: (t1 + shift pi, (-1)^shift t2), t2 mod 2 pi
        d1 = t1_a - (t1_b + shift * np.pi)
        d2 = np.remainder(t2_a - (-1) ** shift * t2_b + np.pi, 2 * np.pi) - np.pi
        best = np.minimum(best, np.hypot(d1, d2))
    return best


def klein_connectivity(n_theta1, n_theta2, radius):
    """Which channels of a Klein-indexed layer feed which: distance on the Klein bottle <= radius.

    Channel i of a layer whose channels sit at the :func:`klein_filter_angles` grid connects
    to channel j of the next when their points are within `radius` of each other
    (:func:`klein_grid_distances`): the "Klein one layer" (KOL) connectivity of Love et al.
    (2023), a channel seeing the features of neighbouring edges and lines only.

    Parameters
    ----------
    n_theta1, n_theta2 : int
        The grid of both layers.
    radius : float
        > 0; a small tolerance (1e-9) keeps points at exactly `radius` connected.

    Returns
    -------
    mask : ndarray of bool, shape (n1 * n2, n1 * n2)
        ``mask[j, i]``: output channel j reads input channel i (symmetric, true on the
        diagonal).
    """
    radius = check_real(radius, "radius", "klein_connectivity", 0.0, np.inf)
    t1, t2 = klein_filter_angles(n_theta1, n_theta2)
    return klein_grid_distances(t1, t2, t1, t2) <= radius + 1e-9
