"""The checks every function makes of its arguments, in one place.

Errors follow scikit-learn's wording: "The 'x' parameter of F must be ...; got ... instead",
so a user reads which argument is wrong and what was expected. Every input error is an
:class:`InputError` (a ``ValueError``), which the CLI reports in one line; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

__all__ = ["InputError", "warn_deprecated", "renamed", "is_int", "is_prime", "check_int", "check_real", "check_points",
           "validate_points", "check_filter_shape", "graph_parts", "checked_graph", "check_members"]


class InputError(ValueError):
    """An argument or input file that is not what the function needs (the user's to fix)."""


def warn_deprecated(old, new, *, stacklevel=3):
    """Warn that `old` is a deprecated spelling of `new` (docs/reference/names.md lists them all).

    Parameters
    ----------
    old, new : str
        The old spelling, still accepted, and the one to use.
    stacklevel : int
        Of :func:`warnings.warn`: 3 points at the caller of the function that warns.
    """
    warnings.warn(f"{old} is deprecated; use {new} (it means the same).", DeprecationWarning,
                  stacklevel=stacklevel)


def renamed(**old_to_new):
    """Decorator: keyword arguments renamed, the old names kept as deprecated aliases.

    ``@renamed(landmarks="n_landmarks")``: a call with ``landmarks=`` works as with
    ``n_landmarks=`` and warns (:func:`warn_deprecated`); both at once is an error.
    """
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise InputError(f"{fn.__name__} got both {old!r} and {new!r}; {old!r} "
                                         f"is the old name of {new!r}: pass {new!r} only.")
                    warn_deprecated(f"The {old!r} parameter of {fn.__name__}", repr(new))
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return inner
    return wrap


def is_int(x):
    """True for Python and NumPy integers, False for bools."""
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_prime(p):
    return p >= 2 and all(p % k for k in range(2, int(p ** 0.5) + 1))


def check_int(value, name, func, low, high=None):
    """`value` as an int in [low, high] (high: no bound when None)."""
    if not is_int(value) or value < low or (high is not None and value > high):
        span = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise InputError(f"The '{name}' parameter of {func} must be an int {span}; "
                         f"got {value!r}.")
    return int(value)


def check_real(value, name, func, low, high):
    """`value` as a float in the open interval (low, high)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not low < value < high:
        raise InputError(f"The '{name}' parameter of {func} must be a float in ({low}, {high}); "
                         f"got {value!r}.")
    return float(value)


def check_points(points, func):
    """`points` as a C-contiguous float64 (n >= 1, d >= 1) array of finite values.

    The check every function taking a point cloud makes; errors name `func`.
    """
    X = np.ascontiguousarray(points, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"The 'points' parameter of {func} must be a 2-d array of shape "
                         f"(n_points >= 1, n_features >= 1); got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise InputError(f"The 'points' parameter of {func} must hold finite values; "
                         f"got {int(np.sum(~np.isfinite(X)))} NaN/inf entries.")
    return X


def validate_points(points, name="points"):
    """Check that `points` is a finite, non-empty 2-D numeric array.

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
    name : str
        How the argument is called in error messages.

    Returns
    -------
    points : ndarray of float64, shape (n_points, n_dims)
        A C-contiguous float64 array (a copy only where a conversion was needed).

    Raises
    ------
    InputError
        If `points` is not numeric, not 2-D, empty, or holds NaN or inf.
    """
    arr = np.asarray(points)
    if arr.dtype.kind not in "biuf":
        try:
            if arr.dtype.kind == "c":
                raise TypeError
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"The '{name}' array must be real numeric; got dtype {arr.dtype}."
            ) from None
    if arr.ndim != 2:
        raise InputError(
            f"The '{name}' array must be 2-D (n_points, n_dims); got shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"The '{name}' array must be non-empty; got shape {arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(
            f"The '{name}' array must be finite; {rows.size} of {arr.shape[0]} rows hold "
            f"NaN or inf, the first is row {rows[0]}."
        )
    return arr


# ------------------------------------------------------------------ filters and graphs

def check_filter_shape(shape, fn):
    """(rows, columns) of a filter, both positive ints."""
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape)):
        raise InputError(f"The 'shape' parameter of {fn} must be a pair of positive ints "
                         f"(rows, columns) of a filter; got {shape!r}.")
    return int(shape[0]), int(shape[1])


def _check_filters(points, shape, fn):
    h, w = check_filter_shape(shape, fn)
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != h * w:
        raise InputError(f"The 'points' parameter of {fn} must be an (n, {h * w}) array "
                         f"for shape={(h, w)}; got an array of shape {points.shape}.")
    return points, (h, w)


def graph_parts(graph, fn):
    """Node ids, members, sizes and (i, j) edge index pairs of a node-link dict."""
    if not isinstance(graph, dict) or "nodes" not in graph:
        raise TypeError(f"The 'graph' parameter of {fn} must be a node-link dict with "
                        f"'nodes' and 'links'; got {type(graph).__name__}.")
    nodes = graph["nodes"]
    links = graph.get("links", graph.get("edges", []))
    ids = [node["id"] for node in nodes]
    index = {node_id: i for i, node_id in enumerate(ids)}
    if len(index) != len(ids):
        raise InputError(f"The 'graph' parameter of {fn} must have unique node ids; "
                         f"got {len(ids) - len(index)} repeated.")
    members = []
    for node in nodes:
        m = np.asarray(node.get("members", []), dtype=np.intp).ravel()
        if m.size == 0:
            raise InputError(f"The 'graph' parameter of {fn} must have nodes with at least "
                             f"one member; node {node['id']!r} has none.")
        members.append(m)
    sizes = np.array([int(node.get("size", len(m))) for node, m in zip(nodes, members)])
    edges = []
    for link in links:
        try:
            edges.append((index[link["source"]], index[link["target"]]))
        except KeyError as err:
            raise InputError(f"The 'graph' parameter of {fn} has a link to an unknown node "
                             f"{err.args[0]!r}.") from None
    edges = np.array(edges, dtype=np.intp).reshape(-1, 2)
    return ids, members, sizes, edges


def checked_graph(graph, points, shape, fn):
    """Validated points (n, h*w), (h, w) and the graph's ids, members, sizes and edges."""
    points, hw = _check_filters(points, shape, fn)
    ids, members, sizes, edges = graph_parts(graph, fn)
    check_members(members, len(points), fn)
    return points, hw, ids, members, sizes, edges


def check_members(members, n_points, fn):
    """Every node's members are rows of a cloud of `n_points` points."""
    for m in members:
        if m.min() < 0 or m.max() >= n_points:
            raise InputError(f"The 'graph' parameter of {fn} has members outside "
                             f"[0, {n_points - 1}] (the rows of 'points'); got "
                             f"{int(m.min())}..{int(m.max())}.")
