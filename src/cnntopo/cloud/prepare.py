"""The shared first steps of every reading: load, normalise, density filter.

``prepare_points`` is what the CLI verbs and the experiment runner call, so the numbers they
report (points before and after normalising and filtering) mean the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import InputError, validate_points, warn_deprecated
from .pointcloud import density_filter, normalise

__all__ = ["PreparedPoints", "prepare_points"]


@dataclass(frozen=True)
class PreparedPoints:
    """Points ready for barcodes and Mapper.

    Attributes
    ----------
    points : ndarray of shape (n_kept, d)
        Mean-centred, unit-norm points that survived the density filtration.
    rows : ndarray of shape (n_kept,)
        Index of each point's row in the input array.
    n_input : int
        Rows in the input.
    n_points : int
        Rows left after normalising (constant rows dropped).
    n_constant : int
        Rows dropped because they have no variance.
    n_kept : int
        Rows left after the density filtration (equals ``n_points`` without one): the points
        analysed. (``n_filtered`` is a deprecated alias.)
    """

    points: np.ndarray
    rows: np.ndarray
    n_input: int
    n_points: int
    n_constant: int
    n_kept: int

    @property
    def n_filtered(self):
        warn_deprecated("PreparedPoints.n_filtered", "n_kept")
        return self.n_kept


def prepare_points(points, *, k=None, p=None) -> PreparedPoints:
    """Normalise every point, then apply the density filtration rho(k, p) if asked.

    Parameters
    ----------
    points : array-like of shape (n, d)
    k, p : int and float, optional
        Both or neither. Without them no density filtration is applied.
    """
    if (k is None) != (p is None):
        raise InputError(f"The 'k' and 'p' parameters go together (rho(k, p)); got k={k}, p={p}")
    raw = validate_points(points)
    unit, kept = normalise(raw)
    if unit.shape[0] == 0:
        raise InputError(f"all {raw.shape[0]} points are constant (no variance); nothing is left to analyse")
    if k is not None:
        dense = density_filter(unit, k, p)
        unit, kept_rows = unit[dense], kept[dense]
    else:
        kept_rows = kept
    return PreparedPoints(points=unit, rows=np.asarray(kept_rows, dtype=np.int64), n_input=raw.shape[0],
                          n_points=int(kept.shape[0]), n_constant=int(raw.shape[0] - kept.shape[0]),
                          n_kept=int(unit.shape[0]))
