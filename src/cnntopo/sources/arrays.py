"""Point clouds and filters as ``.npy`` files: what ``cnntopo filters`` writes, the library reads.

A points file is one (n, d) array, one point a row, that any tool reads. ``cnntopo filters
-o OUT.npy`` writes the filters so, with their metadata beside them (``OUT.meta.npz``: the
network, output map, input map and iteration of each row; ``OUT.json``: the layer, source and
shape), and :func:`load_filters` reads all three back.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..files import atomic_save_npy, atomic_write_bytes, atomic_write_json
from ..validation import InputError, validate_points

__all__ = ["load_points", "filters_files", "save_filters", "load_filters"]


def load_points(path) -> np.ndarray:
    """Read an (n, d) point cloud from a ``.npy`` file, one point a row.

    Raises
    ------
    ValueError
        If the file is not a NumPy array file or the array is not a finite 2-D numeric array.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"POINTS {str(path)!r} is a directory; expected a .npy file of one point a row")
    if not path.is_file():
        raise InputError(f"POINTS file {str(path)!r} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # np.load raises several types for non-.npy content
        raise InputError(
            f"POINTS file {str(path)!r} is not a NumPy .npy array file ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise InputError(f"POINTS file {str(path)!r} is an .npz archive; expected one (n, d) array in a .npy file")
    if arr.size == 0:
        raise InputError(f"POINTS file {str(path)!r} holds an empty array (shape {arr.shape}); "
                         f"expected an (n, d) array with at least one point")
    try:
        return validate_points(arr)
    except ValueError as exc:  # "POINTS file 'x.npy': The 'points' array must be 2-D ..."
        raise InputError(f"POINTS file {str(path)!r}: {exc}") from None


def filters_files(path):
    """The three files of a filters file ``OUT.npy``: (``OUT.npy``, ``OUT.meta.npz``,
    ``OUT.json``)."""
    path = Path(path)
    return path, path.with_suffix(".meta.npz"), path.with_suffix(".json")


def save_filters(path, filters, meta, info):
    """Write filters as ``cnntopo filters`` does: the (n, kh*kw) array, its metadata beside it.

    Parameters
    ----------
    path : path-like
        ``OUT.npy`` (the rows; any tool reads it); ``OUT.meta.npz`` gets `meta` (one value per
        row: ``network``, ``out_map``, ``in_map``, ``iteration``) and ``OUT.json`` `info`.
    filters, meta, info
        As :func:`filters_from_source` returns them.

    Notes
    -----
    Each file is written atomically; :func:`load_filters` reads them back.
    """
    npy, meta_path, info_path = filters_files(path)
    filters = np.asarray(filters)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in meta.items()})
    atomic_save_npy(npy, filters)
    atomic_write_bytes(meta_path, buf.getvalue())
    atomic_write_json(info_path, dict(info, n_filters=int(filters.shape[0]),
                                      dim=int(filters.shape[1]),
                                      rows="ordered by network, then output map, then input map",
                                      meta_file=meta_path.name))


def load_filters(path):
    """Read what :func:`save_filters` (``cnntopo filters -o OUT.npy``) wrote.

    Returns
    -------
    filters : ndarray of shape (n, d)
    meta : dict of str to ndarray of shape (n,)
        Empty when ``OUT.meta.npz`` is not there (a plain points file).
    info : dict
        ``OUT.json``'s content; empty when it is not there.

    Raises
    ------
    InputError
        If a file is damaged, or the metadata does not hold one value per row.
    """
    npy, meta_path, info_path = filters_files(path)
    filters = load_points(npy)
    meta, info = {}, {}
    if meta_path.is_file():
        try:
            with np.load(meta_path, allow_pickle=False) as z:
                meta = {k: np.asarray(z[k]) for k in z.files}
        except Exception as exc:  # np.load raises several types for a damaged archive
            raise InputError(f"{str(meta_path)!r} is not a NumPy .npz archive "
                             f"({type(exc).__name__}: {exc})") from None
        bad = [k for k, v in meta.items() if v.shape != (len(filters),)]
        if bad:
            raise InputError(f"{meta_path.name} must hold one value per row of {npy.name} "
                             f"({len(filters)}); {bad[0]!r} has shape {meta[bad[0]].shape}")
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{str(info_path)!r} is not a JSON file ({exc})") from None
    return filters, meta, info
