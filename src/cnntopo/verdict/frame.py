"""``cnntopo.describe``: the verdict table of any model as a pandas DataFrame.

The habit it follows is WeightWatcher's ``WeightWatcher(model=...).analyze()``: a live model
in, one row per layer out, ready for ``df.query``, ``df.plot`` and ``df.to_csv``::

    import cnntopo
    df = cnntopo.describe(model)                    # torch.nn.Module, Keras 3 model, state
    df = cnntopo.describe("runs/m64", iterations=["100-2000"])   # dict, checkpoint, file ...
    df[df.status == "ok"][["layer_name", "kernel", "b1", "primary_circle_fraction",
                           "primary_circle_fraction_random", "reading"]]

The columns are built from the verdict rows (:func:`cnntopo.verdict.layers.describe_source`),
so a key added to the row becomes a column: lists are split into one column per entry
(``significant`` -> ``b0``, ``b1``; ``significant_confidence`` -> ``b0_confidence``, ...;
``undecided`` -> ``b0_undecided``, ...; ``nerve_betti`` -> ``nerve_b0``, ``nerve_b1``;
``nerve_confidence`` -> ``nerve_b0_confidence``, ...; ``nerve_robust`` -> ``nerve_b0_robust``,
...; ``nerve_loop_confidence``, one entry per loop, stays one column of lists), a
``<x>_random`` column stands right after ``<x>``, and the order is: the identifying columns,
the numbers, ``reading``, ``status``, ``reason``.
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .layers import describe_source

__all__ = ["describe", "rows_to_frame", "frame_table", "FORMATS", "format_frame",
           "IDENTIFYING", "TRAILING"]

#: The columns every frame starts with.
IDENTIFYING = ("layer", "layer_name", "kernel", "iteration", "n_filters", "n_kept", "k", "p")
#: ... and ends with.
TRAILING = ("reading", "status", "reason")
# Row keys holding one value per dimension, and the column each entry becomes.
_SPLIT = {"significant": "b{}", "significant_confidence": "b{}_confidence",
          "undecided": "b{}_undecided", "nerve_betti": "nerve_b{}",
          "nerve_confidence": "nerve_b{}_confidence", "nerve_robust": "nerve_b{}_robust"}
# Row keys whose lists vary in length from row to row (one entry per loop): one column of lists.
_WHOLE = {"nerve_loop_confidence"}
#: What ``cnntopo describe --format`` writes.
FORMATS = ("table", "csv", "json")


def _columns_of(row, q_max):
    out = []
    for key, value in row.items():
        if key not in _WHOLE and (key in _SPLIT or isinstance(value, (list, tuple))):
            pattern = _SPLIT.get(key, key + "_{}")
            out += [(key, q, pattern.format(q)) for q in range(q_max.get(key, 0))]
        else:
            out.append((key, None, key))
    return out


_INTS = {"layer", "iteration", "n_filters", "n_kept", "k", "landmarks"}


def _dtype(name, values):
    """The column's dtype: by its name for the known columns (so that an all-missing column
    still has it), else by its values."""
    if name in _INTS or re.fullmatch(r"(nerve_)?b\d+(_robust)?", name):
        return "Int64"
    if name.endswith("_undecided"):
        return "boolean"
    if name == "p" or name.endswith(("_confidence", "_fraction", "_random", "_coverage")):
        return "float64"
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in present):
        return "Int64"
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present):
        return "float64"
    return None


def rows_to_frame(rows):
    """Verdict rows (dicts) as a DataFrame, one row each, columns as the module says.

    Parameters
    ----------
    rows : list of dict
        :func:`cnntopo.verdict.layers.describe_source` rows, or any verdict rows.

    Returns
    -------
    pandas.DataFrame
        Integers as ``Int64`` and flags as ``boolean`` (both nullable: a skipped row has no
        bars), fractions as ``float64`` (NaN when unknown).
    """
    q_max = {}
    for row in rows:
        for key, value in row.items():
            if key not in _WHOLE and (key in _SPLIT or isinstance(value, (list, tuple))):
                # b0 and b1 (nerve_b0, nerve_b1) always, even when no row has bars
                low = 2 if key in _SPLIT else 0
                q_max[key] = max(q_max.get(key, low), len(value or ()))
    order, records = [], []
    for row in rows:
        record = {}
        for key, q, name in _columns_of(row, q_max):
            value = row[key]
            record[name] = value if q is None else (
                value[q] if value is not None and q < len(value) else None)
            if name not in order:
                order.append(name)
        records.append(record)
    lead = [c for c in IDENTIFYING if c in order]
    tail = [c for c in TRAILING if c in order]
    middle = [c for c in order if c not in lead and c not in tail
              and not (c.endswith("_random") and c[:-len("_random")] in order)]
    for c in order:  # each random baseline right after its fraction
        if c.endswith("_random") and c[:-len("_random")] in middle:
            middle.insert(middle.index(c[:-len("_random")]) + 1, c)
    columns = lead + middle + tail
    series = {}
    for c in columns:
        values = [r.get(c) for r in records]
        dtype = _dtype(c, values)
        if dtype == "float64":
            values = [np.nan if v is None else v for v in values]
        series[c] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(series, columns=columns)


def describe(obj, layers=None, iterations=None, *, k=None, p=None, landmarks="auto", seed=0,
             mapper=None, kernel_size=None, n_resamples=None, progress=True):
    """The shape of every conv layer of a model, one row per (layer, iteration).

    Parameters
    ----------
    obj : torch.nn.Module, Keras 3 model, mapping, path-like or array
        A live model; a state dict or a checkpoint dict (its ``model``, ``state_dict`` or
        ``state_dict_ema``; ``module.`` and ``_orig_mod.`` dropped from the names); a weights
        file, a run directory or a model name of ``cnntopo download --list``; a points
        ``.npy`` or 2-D array (one filter a row).
    layers : list of int or str, optional
        1-based layer numbers, ranges (``"2-13"``) or names (``"features.0"``, with or
        without ``.weight``); default every conv layer. An unknown name fails with the list
        of names.
    iterations : list of int or str, optional
        Checkpoints of a run directory (numbers and ranges); default the last.
    k, p : int and float, optional
        The density filtration rho(k, p) of every layer.
    landmarks : int or "auto", default "auto"
        Of the significance test; "auto" is 100 (the paper's) for layers of 400 filters or
        more, fewer for small ones (:func:`cnntopo.verdict.analysis.auto_landmarks`).
    seed : int
    mapper : (resolution, gain[, n_bootstrap]), optional
        Also a Mapper graph per layer, for ``nerve_b0`` and ``nerve_b1``; resolution and gain
        may be ``"auto"`` (:func:`cnntopo.topology.mapper_stats.auto_parameters`), and with
        ``n_bootstrap`` > 0 (default 100) each loop and component gets its bootstrap
        confidence (:func:`cnntopo.topology.mapper_stats.mapper_confidence`).
    kernel_size : int, optional
        Only the conv layers of this size (numbered among themselves).
    n_resamples : int, optional
        Resamples of the significance test (default 20).
    progress : bool
        A progress bar.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``layer_name``, ``kernel`` (``"5x5"``), ``iteration``,
        ``n_filters``, ``n_kept``, ``k``, ``p``; ``b0``, ``b1`` (significant bars),
        ``b0_confidence``, ``b1_confidence``, ``b0_undecided``, ``b1_undecided``;
        ``primary_circle_fraction`` and ``primary_circle_fraction_random`` (the same for
        random filters of the shape), ``primary_circle_coverage``, ``klein_fraction``,
        ``klein_fraction_random``, ``off_model_fraction``, ``off_model_fraction_random``;
        ``nerve_b0``, ``nerve_b1``, ``nerve_b0_confidence``, ``nerve_b1_confidence``,
        ``nerve_b0_robust``, ``nerve_b1_robust``, ``nerve_loop_confidence`` (a list per row),
        ``nerve_stability`` (with a Mapper graph); ``landmarks``; ``reading``; ``status`` (``"ok"`` or
        ``"skipped"``) and ``reason``. ``frame.attrs`` holds the settings.

    Raises
    ------
    cnntopo.InputError
        A model without conv layers, an unknown layer or iteration, an unreadable file.
    """
    source = obj
    if isinstance(obj, str) and not Path(obj).exists():
        from ..sources.downloads import ARTIFACTS, MODELS, artifact_name, fetch

        if obj in MODELS or obj in ARTIFACTS:  # a model name, as the CLI takes it
            source = fetch(artifact_name(obj), progress=progress).path
    rows = describe_source(source, layers=layers, iterations=iterations, k=k, p=p,
                           landmarks=landmarks, seed=seed, mapper=mapper,
                           kernel_size=kernel_size, n_resamples=n_resamples, progress=progress)
    frame = rows_to_frame(rows)
    frame.attrs.update({"k": k, "p": p, "landmarks": landmarks, "seed": seed,
                        "mapper": None if mapper is None else list(mapper),
                        "n_resamples": n_resamples})
    return frame


# ------------------------------------------------------------------------------ text

def _cell(value, digits=2):
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def _get(rec, key):
    v = rec.get(key)
    return None if v is pd.NA or (isinstance(v, float) and v != v) else v


def _bars_cell(rec):
    cells = []
    for q in range(2):
        b, c, u = (_get(rec, f"b{q}"), _get(rec, f"b{q}_confidence"),
                   _get(rec, f"b{q}_undecided"))
        if b is None:
            return "-"
        cells.append("?" if u and not b else f"{int(b)} ({c:.2f})")
    return "  ".join(cells)


def _with_random(rec, key):
    v, r = _get(rec, key), _get(rec, f"{key}_random")
    return _cell(v) if r is None or v is None else f"{v:.2f} ({r:.2f})"


def _nerve_cell(rec):
    """``1 (1.00)  1 (0.98)``: the nerve's Betti numbers with their bootstrap confidence
    where there is one, ``1,1`` without."""
    nerve = [_get(rec, f"nerve_b{q}") for q in (0, 1)]
    if nerve[0] is None:
        return "-"
    conf = [_get(rec, f"nerve_b{q}_confidence") for q in (0, 1)]
    if any(c is None for c in conf):
        return ",".join(str(int(b)) for b in nerve if b is not None)
    return "  ".join(f"{int(b)} ({c:.2f})" for b, c in zip(nerve, conf))


def frame_table(frame):
    """A describe frame as fixed-width text: one line per row, every column shown (bars with
    their confidence, ``?`` when undecided; each fraction with the random filters' in
    brackets; the nerve's Betti numbers with their bootstrap confidence where there is one; a
    skipped row's reason in place of its reading)."""
    header = ["layer", "name", "kernel", "iter", "filters", "kept", "b0 (conf)  b1 (conf)",
              "circle (rand)", "cover", "klein (rand)", "off (rand)", "nerve", "reading"]
    left = {1, 6, 12}
    body = []
    for rec in frame.to_dict("records"):
        skipped = _get(rec, "status") == "skipped"
        body.append([_cell(_get(rec, "layer")), _cell(_get(rec, "layer_name")),
                     _cell(_get(rec, "kernel")), _cell(_get(rec, "iteration")),
                     _cell(_get(rec, "n_filters")), _cell(_get(rec, "n_kept")),
                     _bars_cell(rec), _with_random(rec, "primary_circle_fraction"),
                     _cell(_get(rec, "primary_circle_coverage")),
                     _with_random(rec, "klein_fraction"),
                     _with_random(rec, "off_model_fraction"),
                     _nerve_cell(rec),
                     f"skipped: {_get(rec, 'reason')}" if skipped else
                     _cell(_get(rec, "reading"))])
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header)] + [line(b) for b in body])


def format_frame(frame, fmt="table"):
    """A describe frame as text: ``"table"`` (:func:`frame_table`), ``"csv"`` or ``"json"``
    (a list of records, NaN as null); csv and json carry every column."""
    if fmt == "table":
        return frame_table(frame)
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return frame.to_json(orient="records", indent=1)
    from ..validation import InputError

    raise InputError(f"The 'fmt' parameter of format_frame must be one of {list(FORMATS)}; "
                     f"got {fmt!r}.")
