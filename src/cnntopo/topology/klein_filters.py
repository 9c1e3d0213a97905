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

from ..validation import check_int

__all__ = ["klein_filters", "circle_filters", "klein_filter_angles", "cell_centres"]


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
