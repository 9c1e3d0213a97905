"""``cnntopo.describe``: the verdict table of any model as a pandas DataFrame.

The habit it follows is WeightWatcher's ``WeightWatcher(model=...).analyze()``: a live model
in, one row per layer out, ready for ``df.query``, ``df.plot`` and ``df.to_csv``::

    import cnntopo
    df = cnntopo.describe(model)                    # torch.nn.Module, Keras 3 model, state
    df = cnntopo.describe("runs/m64", iterations=["100-2000"])   # dict, checkpoint, file ...
    df[df.status == "ok"][["layer_name", "kernel", "b1", "primary_circle_fraction",
                           "primary_circle_fraction_random", "reading"]]
    df.iloc[1]                                      # in a notebook: the layer's pictures

The columns are built from the verdict rows (:func:`cnntopo.verdict.layers.analyse_layers`),
so a key added to the row becomes a column: lists are split into one column per entry
(``significant`` -> ``b0``, ``b1``; ``significant_confidence`` -> ``b0_confidence``, ...;
``undecided`` -> ``b0_undecided``, ...; ``nerve_betti`` -> ``nerve_b0``, ``nerve_b1``;
``nerve_confidence`` -> ``nerve_b0_confidence``, ...; ``nerve_robust`` -> ``nerve_b0_robust``,
...; ``nerve_loop_confidence``, one entry per loop, stays one column of lists), a
``<x>_random`` column stands right after ``<x>``, and the order is: the identifying columns,
the numbers, ``reading``, ``status``, ``reason``.

The frame is a :class:`DescribeFrame`, a DataFrame that keeps each layer's
:class:`~cnntopo.verdict.analysis.CloudAnalysis`; its rows are :class:`DescribeRow`, which a
notebook shows with the layer's barcodes, Klein-bottle picture and Mapper view.
:func:`save_frame` writes it as JSON (what ``cnntopo describe --json`` and ``--format json``
write) and :func:`load_frame` reads that file back.
"""

from __future__ import annotations

import logging
import numbers
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..validation import InputError, renamed
from .layers import analyse_layers
from .table import WHOLE, flat_records, format_table, upgrade_row

__all__ = ["describe", "DescribeFrame", "DescribeRow", "rows_to_frame", "frame_table",
           "FORMATS", "format_frame", "frame_json", "save_frame", "load_frame",
           "FRAME_FORMAT", "IDENTIFYING", "TRAILING"]

#: The columns every frame starts with.
IDENTIFYING = ("layer", "layer_name", "kernel", "iteration", "n_filters", "n_kept", "k", "p")
#: ... and ends with.
TRAILING = ("reading", "status", "reason")
#: What ``cnntopo describe --format`` writes.
FORMATS = ("table", "csv", "json")
#: The format tag of :func:`save_frame`'s files.
FRAME_FORMAT = "cnntopo-describe/1"

_INTS = {"layer", "iteration", "n_filters", "n_kept", "k", "n_landmarks"}


def _dtype(name, values):
    """The column's dtype: by its name for the known columns (so that an all-missing column
    still has it), else by its values."""
    if name in WHOLE:  # a list per row (one entry per loop)
        return object
    if name in _INTS or re.fullmatch(r"(nerve_|z3_)?b\d+(_robust)?", name):
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


class DescribeRow(pd.Series):
    """A row of a describe frame (``df.iloc[i]``, ``df.loc[label]``, ``df.iterrows()``): a
    pandas Series that a notebook shows with the layer's barcodes, Klein-bottle picture and
    Mapper view (:func:`cnntopo.viz.notebook.row_html`).

    Attributes
    ----------
    analysis : CloudAnalysis or None
        What was computed for this row's layer and checkpoint (None for a skipped layer, a
        frame read from a file, or ``describe(..., keep_analyses=False)``).
    """

    _metadata = ["analyses"]

    @property
    def _constructor(self):
        return DescribeRow

    @property
    def _constructor_expanddim(self):
        return DescribeFrame

    @property
    def analysis(self):
        return _lookup(getattr(self, "analyses", None), self)

    def _is_row(self):
        return all(c in self.index for c in ("layer", "reading", "status"))

    def _repr_html_(self):
        if not self._is_row():  # a column of the frame: pandas' own display
            return None
        from ..viz.notebook import row_html  # display only: computing never gets here

        return row_html(self)


class DescribeFrame(pd.DataFrame):
    """The verdict table as a DataFrame (:func:`describe`), keeping each layer's analysis.

    ``frame.analyses`` maps ``(layer, iteration)`` to the
    :class:`~cnntopo.verdict.analysis.CloudAnalysis` (carried along by slicing and
    filtering); :meth:`analysis` looks one up. Its rows are :class:`DescribeRow`.
    ``frame.attrs`` holds the settings.
    """

    _metadata = ["analyses"]

    @property
    def _constructor(self):
        return DescribeFrame

    @property
    def _constructor_sliced(self):
        return DescribeRow

    def analysis(self, i):
        """The CloudAnalysis of row `i` (a position, as ``iloc``), or None."""
        return self.iloc[int(i)].analysis


def _key(layer, iteration):
    def plain(v):
        return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else int(v)

    return plain(layer), plain(iteration)


def _lookup(analyses, row):
    if not analyses or "layer" not in row.index:
        return None
    return analyses.get(_key(row.get("layer"), row.get("iteration")))


def rows_to_frame(rows, *, analyses=None):
    """Verdict rows (dicts) as a DataFrame, one row each, columns as the module says.

    Parameters
    ----------
    rows : list of dict
        :func:`cnntopo.verdict.layers.describe_source` rows, or any verdict rows (or the
        flat records of a frame).
    analyses : dict, optional
        ``{(layer, iteration): CloudAnalysis}``, kept by the frame for display.

    Returns
    -------
    DescribeFrame
        Integers as ``Int64`` and flags as ``boolean`` (both nullable: a skipped row has no
        bars), fractions as ``float64`` (NaN when unknown).
    """
    records, order = flat_records([upgrade_row(r) for r in rows])
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
    frame = DescribeFrame(series, columns=columns)
    frame.analyses = analyses or {}
    return frame


@renamed(landmarks="n_landmarks")
def describe(obj, layers=None, iterations=None, *, k=None, p=None, n_landmarks="auto", seed=0,
             mapper=None, kernel_size=None, n_resamples=None, keep_analyses=True,
             n_jobs=None, ray=None, progress=True):
    """The shape of every conv layer of a model, one row per (layer, iteration).

    Parameters
    ----------
    obj : torch.nn.Module, Keras 3 model, mapping, path-like or array
        A live model; a state dict or a checkpoint dict (its ``model``, ``state_dict`` or
        ``state_dict_ema``; ``module.`` and ``_orig_mod.`` dropped from the names); a weights
        file, a run directory or a model name of ``cnntopo download --list`` (resolved
        cache-first, :func:`cnntopo.sources.downloads.resolve_model`); a points ``.npy`` or
        2-D array (one filter a row).
    layers : list of int or str, optional
        1-based layer numbers, ranges (``"2-13"``) or names (``"features.0"``, with or
        without ``.weight``); default every conv layer. An unknown name fails with the list
        of names.
    iterations : None, "all" or list of int or str, optional
        Checkpoints of a run directory (numbers and ranges); default **the last**, ``"all"``
        every one.
    k, p : int and float, optional
        The density filtration rho(k, p) of every layer.
    n_landmarks : int or "auto", default "auto"
        Landmarks of the significance test (``landmarks`` is a deprecated alias); "auto" is 100 (the paper's) for layers of 400 kept points or
        more, fewer for small ones (:func:`cnntopo.verdict.analysis.auto_landmarks`).
    seed : int
        Of the significance test.
    mapper : (resolution, gain[, n_bootstrap]), optional
        Also a Mapper graph per layer, for ``nerve_b0`` and ``nerve_b1``; resolution and gain
        may be ``"auto"`` (:func:`cnntopo.topology.mapper_stats.auto_parameters`), and with
        ``n_bootstrap`` > 0 (default 100) each loop and component gets its bootstrap
        confidence (:func:`cnntopo.topology.mapper_stats.mapper_confidence`).
    kernel_size : int, optional
        Only the conv layers of this size (numbered among themselves).
    n_resamples : int, optional
        Resamples of the significance test (default 20).
    keep_analyses : bool, default True
        Keep each layer's :class:`~cnntopo.verdict.analysis.CloudAnalysis` in the frame, for
        a notebook's display of a row (``df.iloc[i]``) and :meth:`DescribeFrame.analysis`;
        False saves the memory (about the layer's filters over again).
    n_jobs : int or None
        None (default): the rows one after another, each Mapper graph's bootstrap on every
        core when its cloud has 2,000 points or more; N >= 2 (-1: every core): the rows, one
        (layer, checkpoint) each, on N processes; 1: all in this process. The frame is the
        same for any value (:func:`cnntopo.verdict.layers.analyse_layers`).
    ray : str, optional
        A Ray address (``"auto"``, ``"local"``, ``HOST:PORT``): the rows as Ray tasks, the
        same frame.
    progress : bool
        A progress bar.

    Returns
    -------
    DescribeFrame
        A pandas DataFrame. Columns ``layer``, ``layer_name``, ``kernel`` (``"5x5"``),
        ``iteration``, ``n_filters``, ``n_kept``, ``k``, ``p``; ``b0``, ``b1`` (significant
        bars), ``b0_confidence``, ``b1_confidence``, ``b0_undecided``, ``b1_undecided``;
        ``primary_circle_fraction`` and ``primary_circle_fraction_random`` (the same for
        random filters of the shape), ``primary_circle_coverage``, ``klein_fraction``,
        ``klein_fraction_random``, ``off_model_fraction``, ``off_model_fraction_random``;
        ``nerve_b0``, ``nerve_b1``, ``nerve_b0_confidence``, ``nerve_b1_confidence``,
        ``nerve_b0_robust``, ``nerve_b1_robust``, ``nerve_loop_confidence`` (a list per row),
        ``nerve_stability`` (with a Mapper graph); ``n_landmarks``; ``reading``; ``status``
        (``"ok"`` or ``"skipped"``) and ``reason``. ``frame.attrs`` holds the settings
        (and ``source``, and ``file``: the file a model name resolved to).

    Raises
    ------
    cnntopo.InputError
        A model without conv layers, an unknown layer or iteration, an unreadable file.
    """
    from .analysis import verdict_spec

    source, file = obj, None
    if isinstance(obj, (str, Path)) and not Path(obj).exists():
        from ..sources.downloads import is_model_name, resolve_model

        if is_model_name(str(obj)):  # a model name, as the CLI takes it
            got = resolve_model(str(obj), progress=progress)
            source = file = got.path
            logging.getLogger("cnntopo").info("describe: %s is %s (%s, from %s)", obj,
                                              got.path, got.artifact.name, got.source)
    elif isinstance(obj, (str, Path)):
        file = obj
    spec = verdict_spec(k=k, p=p, n_landmarks=n_landmarks, seed=seed, mapper=mapper,
                        n_resamples=n_resamples)
    results = analyse_layers(source, layers, iterations, spec=spec, kernel_size=kernel_size,
                             n_jobs=n_jobs, ray=ray, progress=progress)
    analyses = {_key(r.row["layer"], r.row["iteration"]): r.analysis for r in results
                if r.analysis is not None} if keep_analyses else {}
    frame = rows_to_frame([r.row for r in results], analyses=analyses)
    m = spec.mapper
    frame.attrs.update({
        "source": obj if isinstance(obj, (str, Path)) else type(obj).__name__,
        "file": None if file is None else str(file),
        "k": k, "p": p, "n_landmarks": n_landmarks, "seed": seed,
        "mapper": None if m is None else [m.resolution, m.gain, m.n_bootstrap],
        "n_resamples": n_resamples, "kernel_size": kernel_size})
    if isinstance(frame.attrs["source"], Path):
        frame.attrs["source"] = str(frame.attrs["source"])
    return frame


# ------------------------------------------------------------------------------ files

def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    return value


def _document(frame):
    return {"format": FRAME_FORMAT, "settings": {k: _plain(v) for k, v in frame.attrs.items()},
            "columns": [str(c) for c in frame.columns],
            "rows": [{str(k): _plain(v) for k, v in rec.items()}
                     for rec in frame.to_dict("records")]}


def frame_json(frame):
    """A describe frame as the JSON text of :func:`save_frame` (``cnntopo describe --format
    json``).

    Parameters
    ----------
    frame : DescribeFrame or pandas.DataFrame

    Returns
    -------
    str
        ``{"format", "settings", "columns", "rows"}``: the settings are ``frame.attrs``, the
        rows one record per row with the frame's columns; NaN and NA as null, floats exact.
    """
    import json

    return json.dumps(_document(frame), indent=1, allow_nan=False)


def save_frame(frame, path):
    """Write a describe frame as JSON, atomically: what ``cnntopo describe --json`` writes.

    Parameters
    ----------
    frame : DescribeFrame or pandas.DataFrame
        :func:`describe`'s frame (or :func:`rows_to_frame`'s).
    path : path-like

    Returns
    -------
    pathlib.Path

    Notes
    -----
    The file: ``{"format": "cnntopo-describe/1", "settings": frame.attrs, "columns": [...],
    "rows": [{column: value, ...}, ...]}``; one record per row with the frame's columns,
    missing values as null. :func:`load_frame` reads it back.
    """
    from ..files import atomic_write_text

    atomic_write_text(path, frame_json(frame) + "\n")
    return Path(path)


def load_frame(path):
    """Read a file of :func:`save_frame` (``cnntopo describe --json``) back as a frame.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    DescribeFrame
        The same columns, dtypes and ``attrs`` as the frame written (without the analyses).
        Rows of earlier versions (``landmarks``, ``n_filtered``, ``skipped``) come back
        under today's names.

    Raises
    ------
    cnntopo.InputError
        A file that is not JSON or not a describe file.
    """
    import json

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} cannot be read as a describe file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FRAME_FORMAT \
            or not isinstance(doc.get("rows"), list):
        raise InputError(f"{path} is not a {FRAME_FORMAT!r} file (`cnntopo describe --json` "
                         f"writes one).")
    frame = rows_to_frame(doc["rows"])
    columns = [upgrade_row({c: None}).popitem()[0] for c in doc.get("columns") or []]
    if columns and set(columns) == set(frame.columns):
        frame = frame[columns]
    frame.attrs.update(doc.get("settings") or {})
    return frame


# ------------------------------------------------------------------------------ text

def frame_table(frame):
    """A describe frame as fixed-width text.

    Parameters
    ----------
    frame : DescribeFrame or pandas.DataFrame

    Returns
    -------
    str
        :func:`cnntopo.verdict.table.format_table` of the frame (the one table formatter).
    """
    return format_table(frame)


def format_frame(frame, fmt="table"):
    """A describe frame as text: what ``cnntopo describe --format`` prints.

    Parameters
    ----------
    frame : DescribeFrame or pandas.DataFrame
    fmt : {"table", "csv", "json"}
        ``"table"``: :func:`frame_table`; ``"csv"``: every column; ``"json"``:
        :func:`frame_json`, every column.

    Returns
    -------
    str
    """
    if fmt == "table":
        return frame_table(frame)
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return frame_json(frame)
    raise InputError(f"The 'fmt' parameter of format_frame must be one of {list(FORMATS)}; "
                     f"got {fmt!r}.")
