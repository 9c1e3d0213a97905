"""The verdict table: what shape the filters of each layer and iteration take, in numbers and words.

One row per (layer, iteration) of a source (a points ``.npy``, a run directory, or any
weights file :func:`cnntopo.filters.filters_from_source` reads). Each row holds

============================  =====================================================================
key                           meaning
============================  =====================================================================
``layer``, ``iteration``      conv layer (1-based) and checkpoint; null for a points file / a
                              weights file without iterations
``n_filters``                 spatial filters in the layer (rows before normalising)
``n_kept``                    points analysed: after dropping constant filters and rho(k, p)
``k``, ``p``                  the density filtration (null: none)
``significant``               significant bars per dimension [b0, b1]
                              (:func:`cnntopo.significance.significant_bars`)
``significant_confidence``    share of resamples that give that count, per dimension
``undecided``                 per dimension: too few points to tell (the count is then not a
                              finding)
``primary_circle_fraction``   share of filters within 0.5 of the primary circle
``primary_circle_coverage``   1 for edges at every orientation, falling as they concentrate
``klein_fraction``            share of filters within 0.5 of the Klein-bottle model
``off_model_fraction``        share of filters farther than 0.5 from it
``nerve_betti``               Betti numbers [b0, b1] of the Mapper graph's nerve; null without
                              a Mapper graph
``reading``                   the short reading in words, by the rules of :func:`reading`
============================  =====================================================================

The Klein-bottle numbers are null for filters that are not 3x3.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

__all__ = ["ROW_KEYS", "OFF_MODEL_NOTABLE", "CIRCLE_DOMINANT", "COVERAGE_EVEN",
           "parse_ranges", "reading", "verdict_row", "describe_cloud", "describe_source",
           "format_table"]

ROW_KEYS = ("layer", "iteration", "n_filters", "n_kept", "k", "p", "significant",
            "significant_confidence", "undecided", "primary_circle_fraction",
            "primary_circle_coverage", "klein_fraction", "off_model_fraction", "nerve_betti",
            "reading")

# The rules' thresholds (see `reading`).
CIRCLE_DOMINANT = 0.5    # primary-circle fraction from which a loop reads as the primary circle
COVERAGE_EVEN = 0.5      # coverage under which the circle's orientations read as concentrated
OFF_MODEL_NOTABLE = 0.05  # off-model fraction from which off-model patches are named

_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_ranges(specs, name="layer"):
    """Integers from repeated options that may hold ranges: ``["2-4", "7", "9,11"]``.

    Parameters
    ----------
    specs : iterable of str or int
        Each an int, ``"A-B"`` (inclusive) or a comma-separated list of those.
    name : str
        The option, for messages.

    Returns
    -------
    values : list of int
        Sorted, without repeats.
    """
    out = set()
    for spec in specs:
        if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            out.add(int(spec))
            continue
        for part in str(spec).split(","):
            m = _RANGE_RE.match(part)
            if not m:
                raise ValueError(f"--{name} takes integers and ranges like 2-13 (repeat it or "
                                 f"separate with commas); got {spec!r}.")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise ValueError(f"--{name} range {part.strip()!r} runs backwards; write "
                                 f"{hi}-{lo}.")
            out.update(range(lo, hi + 1))
    return sorted(out)


# ------------------------------------------------------------------------------ the words

def _count(row, q):
    sig = row.get("significant") or []
    return int(sig[q]) if len(sig) > q and sig[q] is not None else None


def _undecided(row, q):
    und = row.get("undecided") or []
    return bool(und[q]) if len(und) > q else False


def reading(row):
    """The reading in words of one row, from its numbers alone.

    Rules, in order (b0, b1: significant bars; P: primary-circle fraction; C: coverage;
    O: off-model fraction):

    1. H1 undecided (too few points for the landmarks): "too few points to tell".
    2. b1 = 0: "clusters (b0)" when b0 >= 2, else "no significant structure".
    3. b1 = 1: "primary circle" when P >= 0.5 (CIRCLE_DOMINANT), with "(orientations
       concentrated)" when C < 0.5 (COVERAGE_EVEN); otherwise "one loop".
    4. b1 = 2: "two circles"; b1 = 5: "three circles" (the three-circle model's five loops);
       other b1: "b1 loops".
    5. b0 >= 2 with loops: ", in b0 clusters" is appended.
    6. O >= 0.05 (OFF_MODEL_NOTABLE) with some structure: "+ off-model patches".

    Without Klein-bottle numbers (filters that are not 3x3) rules 3 and 6 read only the bars.
    """
    b0, b1 = _count(row, 0), _count(row, 1)
    P, C, O = (row.get(k) for k in ("primary_circle_fraction", "primary_circle_coverage",
                                    "off_model_fraction"))
    if b1 is None or _undecided(row, 1):
        return "too few points to tell"
    clusters = b0 is not None and b0 >= 2
    if b1 == 0:
        text = f"clusters ({b0})" if clusters else "no significant structure"
    else:
        if b1 == 1:
            if P is not None and P >= CIRCLE_DOMINANT:
                text = "primary circle"
                if C is not None and C < COVERAGE_EVEN:
                    text += " (orientations concentrated)"
            else:
                text = "one loop"
        elif b1 == 2:
            text = "two circles"
        elif b1 == 5:
            text = "three circles"
        else:
            text = f"{b1} loops"
        if clusters:
            text += f", in {b0} clusters"
    if O is not None and O >= OFF_MODEL_NOTABLE and text != "no significant structure":
        text += " + off-model patches"
    return text


# ------------------------------------------------------------------------------ one row

def _list(x):
    return None if x is None else [v.item() if hasattr(v, "item") else v for v in x]


def verdict_row(*, layer, iteration, n_filters, n_kept, k, p, significance, klein=None,
                nerve_betti=None):
    """One row of the verdict table from what was computed about one cloud.

    Parameters
    ----------
    layer, iteration : int or None
    n_filters, n_kept : int
    k, p : int and float, or None
    significance : object with ``counts``, ``confidence`` and ``undecided`` (lists by
        dimension), as :func:`cnntopo.significance.significant_bars` returns.
    klein : dict or None
        ``primary_circle_fraction``, ``primary_circle_coverage``, ``klein_fraction``,
        ``off_model_fraction`` (:func:`cnntopo.klein.klein_readings`); None for filters that
        are not 3x3.
    nerve_betti : list of int or None

    Returns
    -------
    row : dict
        The keys of ``ROW_KEYS``, in that order.
    """
    klein = klein or {}
    row = {"layer": layer, "iteration": iteration, "n_filters": int(n_filters),
           "n_kept": int(n_kept), "k": k, "p": p,
           "significant": _list(significance.counts),
           "significant_confidence": [round(float(c), 3) for c in significance.confidence],
           "undecided": [bool(u) for u in significance.undecided],
           "primary_circle_fraction": klein.get("primary_circle_fraction"),
           "primary_circle_coverage": klein.get("primary_circle_coverage"),
           "klein_fraction": klein.get("klein_fraction"),
           "off_model_fraction": klein.get("off_model_fraction"),
           "nerve_betti": _list(nerve_betti)}
    row["reading"] = reading(row)
    return row


def _klein_numbers(points):
    if points.shape[1] != 9:
        return None
    from .klein import klein_readings

    return klein_readings(points).to_dict()


def describe_cloud(filters, *, layer=None, iteration=None, k=None, p=None, landmarks=100, nu=1,
                   seed=0, mapper=None, n_resamples=None):
    """The verdict row of one cloud of spatial filters.

    Parameters
    ----------
    filters : array_like, shape (n_filters, d)
        Raw filters (normalised and density filtered here, as everywhere).
    layer, iteration : int or None
        Copied into the row.
    k, p : int and float, optional
        rho(k, p); both or neither.
    landmarks, nu, seed
        Lazy witness barcodes and their significance.
    mapper : (resolution, gain) or None
        Make a Mapper graph (PCA lenses, as the paper) and report its nerve's Betti numbers.
    n_resamples : int, optional
        Resamples of the significance test (its default when None).

    Returns
    -------
    row : dict
        See the module docstring.
    """
    from .pipeline import prepare_points
    from .significance import significant_bars

    prep = prepare_points(filters, k=k, p=p)
    kwargs = {} if n_resamples is None else {"n_resamples": n_resamples}
    sig = significant_bars(prep.points, landmarks, nu=nu, maxdim=1, seed=seed,
                           made_by=prep.made_by, **kwargs)
    betti = None
    if mapper is not None:
        from .mapper import mapper_graph
        from .nerve import nerve_betti

        resolution, gain = mapper
        betti = nerve_betti(mapper_graph(prep.points, resolution=resolution, gain=gain))
    return verdict_row(layer=layer, iteration=iteration, n_filters=prep.n_input,
                       n_kept=prep.n_filtered, k=k, p=p, significance=sig,
                       klein=_klein_numbers(prep.points), nerve_betti=betti)


# ------------------------------------------------------------------------------ sources

def _source_layers(source, iteration):
    from .filters import conv_layers, load_state_dict

    return len(conv_layers(load_state_dict(source, iteration=iteration)))


def describe_source(source, *, layers=None, iterations=None, k=None, p=None, landmarks=100,
                    nu=1, seed=0, mapper=None, kernel_size=None, n_resamples=None,
                    progress=True):
    """The verdict table of a points file, run directory or weights file.

    Parameters
    ----------
    source : path-like
        ``.npy`` points (one filter a row), a run directory, or a weights file.
    layers : list of int, optional
        1-based conv layers; default every conv layer (of `kernel_size`, if given).
    iterations : list of int, optional
        Checkpoints of a run directory; default the last. A value that is not a checkpoint is
        an error; use :func:`parse_ranges` output filtered by :func:`run_iterations` for ranges.
    kernel_size : int, optional
        Count only conv layers of this size (e.g. 3).
    Others as :func:`describe_cloud`.

    Returns
    -------
    rows : list of dict
        One per (layer, iteration), iterations outside.
    """
    from pathlib import Path

    from tqdm.auto import tqdm

    path = Path(source)
    common = dict(k=k, p=p, landmarks=landmarks, nu=nu, seed=seed, mapper=mapper,
                  n_resamples=n_resamples)
    if path.suffix.lower() == ".npy" and path.is_file():
        if layers or iterations:
            raise ValueError(f"{path.name} is a points file: --layer and --iteration select "
                             f"conv layers of a run directory or weights file.")
        from .pipeline import load_points

        return [describe_cloud(load_points(path), **common)]
    from .filters import filters_from_source

    its = list(iterations) if iterations else [None]
    if not layers:
        layers = list(range(1, _source_layers(source, its[0]) + 1))
        if kernel_size is not None:
            layers = list(range(1, _count_layers(source, its[0], kernel_size) + 1))
    rows = []
    with tqdm(total=len(its) * len(layers), desc="describe", unit="layer",
              disable=not progress) as bar:
        for it in its:
            for layer in layers:
                filt, _, info = filters_from_source(source, layer, iteration=it,
                                                    kernel_size=kernel_size)
                rows.append(describe_cloud(filt, layer=layer, iteration=info["iteration"],
                                           **common))
                bar.update()
    return rows


def _count_layers(source, iteration, kernel_size):
    from .filters import conv_layers, load_state_dict

    return len(conv_layers(load_state_dict(source, iteration=iteration), kernel_size=kernel_size))


def run_iterations(run_dir, wanted):
    """The checkpoints of `run_dir` among `wanted` (e.g. a parsed range); all when None."""
    from .rundir import run_checkpoints

    have = list(run_checkpoints(run_dir))
    if wanted is None:
        return have
    chosen = [it for it in have if it in set(wanted)]
    if not chosen:
        raise ValueError(f"none of the iterations asked for are checkpoints of {run_dir}; "
                         f"it has {have}.")
    return chosen


# ------------------------------------------------------------------------------ the table

def _f(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _bars(row):
    sig, conf, und = row["significant"], row["significant_confidence"], row["undecided"]
    return "  ".join("?" if u else f"{b} ({c:.2f})" for b, c, u in zip(sig, conf, und))


def format_table(rows):
    """The verdict table as fixed-width text (what ``cnntopo describe`` prints)."""
    header = ["layer", "iter", "filters", "kept", "b0 (conf)  b1 (conf)", "circle", "cover",
              "klein", "off", "nerve", "reading"]
    body = []
    for r in rows:
        body.append(["-" if r["layer"] is None else str(r["layer"]),
                     "-" if r["iteration"] is None else str(r["iteration"]),
                     f"{r['n_filters']:,}", f"{r['n_kept']:,}", _bars(r),
                     _f(r["primary_circle_fraction"]), _f(r["primary_circle_coverage"]),
                     _f(r["klein_fraction"]), _f(r["off_model_fraction"]),
                     "-" if r["nerve_betti"] is None else ",".join(map(str, r["nerve_betti"])),
                     r["reading"]])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i in (4, 10) else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    for b in body:
        lines.append("  ".join(c.ljust(w) if i in (4, 10) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)
