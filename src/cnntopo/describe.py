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

__all__ = ["ROW_KEYS", "OFF_MODEL_NOTABLE", "CIRCLE_DOMINANT", "COVERAGE_EVEN", "CONFIDENT",
           "parse_ranges", "select_iterations", "reading", "verdict_row", "klein_numbers",
           "cloud_significance", "auto_landmarks", "describe_cloud", "describe_source",
           "format_table"]

ROW_KEYS = ("layer", "iteration", "n_filters", "n_kept", "k", "p", "significant",
            "significant_confidence", "undecided", "primary_circle_fraction",
            "primary_circle_coverage", "klein_fraction", "off_model_fraction", "nerve_betti",
            "reading")

# The rules' thresholds (see `reading`).
CIRCLE_DOMINANT = 0.5    # primary-circle fraction from which a loop reads as the primary circle
COVERAGE_EVEN = 0.5      # coverage under which the circle's orientations read as concentrated
OFF_MODEL_NOTABLE = 0.05  # off-model fraction from which off-model patches are named
CONFIDENT = 0.5          # H1 confidence under which the reading says "(uncertain)"

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
    K: Klein fraction; O: off-model fraction):

    1. H1 undecided (too few points for the landmarks) and no loop found: "too few points to
       tell".
    2. b1 = 0: "clusters (b0)" when b0 >= 2, else "no significant structure".
    3. b1 = 5 with K >= 0.5: "three circles" (the three-circle model's five loops).
    4. b1 >= 1 with P >= 0.5 (CIRCLE_DOMINANT): "primary circle", with "+ n more loops"
       when b1 = 1 + n, and "(orientations concentrated)" when C < 0.5 (COVERAGE_EVEN).
    5. Otherwise "one loop", "two circles" (b1 = 2), or "b1 loops".
    6. b0 >= 2 with loops: ", in b0 clusters" is appended.
    7. O >= 0.05 (OFF_MODEL_NOTABLE), with some structure (loops or clusters):
       "+ off-model patches".
    8. The H1 count holds in fewer than half the resamples (confidence < 0.5,
       CONFIDENT): " (uncertain)" is appended.

    Without Klein-bottle numbers (filters that are not 3x3) only the bars are read.
    """
    b0, b1 = _count(row, 0), _count(row, 1)
    P, C, K, O = (row.get(k) for k in ("primary_circle_fraction", "primary_circle_coverage",
                                       "klein_fraction", "off_model_fraction"))
    if b1 is None or (_undecided(row, 1) and not b1):
        return "too few points to tell"
    clusters = b0 is not None and b0 >= 2
    conf = row.get("significant_confidence") or []
    doubt = " (uncertain)" if len(conf) > 1 and conf[1] is not None and conf[1] < CONFIDENT else ""
    off = O is not None and O >= OFF_MODEL_NOTABLE
    if b1 == 0:
        if not clusters:
            return "no significant structure" + doubt
        return f"clusters ({b0})" + (" + off-model patches" if off else "") + doubt
    if b1 == 5 and K is not None and K >= CIRCLE_DOMINANT:
        text = "three circles"
    elif P is not None and P >= CIRCLE_DOMINANT:
        text = "primary circle"
        if C is not None and C < COVERAGE_EVEN:
            text += " (orientations concentrated)"
        if b1 > 1:
            text += f" + {b1 - 1} more loop" + ("s" if b1 > 2 else "")
    elif b1 == 1:
        text = "one loop"
    elif b1 == 2:
        text = "two circles"
    else:
        text = f"{b1} loops"
    if clusters:
        text += f", in {b0} clusters"
    if off:
        text += " + off-model patches"
    return text + doubt


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
    significance : cnntopo.significance.SignificantBars or None
        None when the cloud was too small to test (the row then reads "too few points").
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
           "significant": None, "significant_confidence": None, "undecided": None,
           "primary_circle_fraction": klein.get("primary_circle_fraction"),
           "primary_circle_coverage": klein.get("primary_circle_coverage"),
           "klein_fraction": klein.get("klein_fraction"),
           "off_model_fraction": klein.get("off_model_fraction"),
           "nerve_betti": _list(nerve_betti)}
    if significance is not None:
        row.update(significant=[int(c) for c in significance.counts],
                   significant_confidence=[round(float(c), 3) for c in significance.confidence],
                   undecided=[bool(u) for u in significance.undecided])
    row["reading"] = reading(row)
    return row


def klein_numbers(points):
    """The four Klein-bottle readings of a row (None for filters that are not 3x3)."""
    if points.shape[1] != 9:
        return None
    from .klein import klein_readings

    return klein_readings(points).to_dict()


def cloud_significance(prep, landmarks=100, *, k=None, p=None, maxdim=1, coeff=2, seed=0,
                       n_resamples=None):
    """:func:`cnntopo.significance.significant_bars` of a prepared cloud, its null clouds made
    as `prep` was (normalised, then rho(k, p) when given)."""
    from .significance import significant_bars

    kwargs = {} if n_resamples is None else {"n_resamples": int(n_resamples)}
    return significant_bars(prep.points, landmarks, maxdim=maxdim, coeff=coeff, seed=seed,
                            density=None if k is None else (k, p), n_input=prep.n_points,
                            **kwargs)


def describe_cloud(filters, *, layer=None, iteration=None, k=None, p=None, landmarks=100,
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
    landmarks : int or "auto"
        Of the significance test (:func:`cloud_significance`); "auto":
        :func:`auto_landmarks` of the kept points.
    seed : int
        Of the significance test.
    mapper : (resolution, gain) or None
        Make a Mapper graph (the paper's PCA lenses) and report its nerve's Betti numbers.
    n_resamples : int, optional
        Resamples of the significance test (its default when None).

    Returns
    -------
    row : dict
        See the module docstring.
    """
    from .pipeline import prepare_points

    prep = prepare_points(filters, k=k, p=p)
    if landmarks == "auto":
        landmarks = auto_landmarks(prep.n_filtered)
    sig = cloud_significance(prep, landmarks, k=k, p=p, seed=seed, n_resamples=n_resamples)
    betti = None
    if mapper is not None:
        from .mapper import mapper_graph
        from .nerve import nerve_betti

        resolution, gain = mapper
        betti = nerve_betti(mapper_graph(prep.points, resolution=resolution, gain=gain))
    row = verdict_row(layer=layer, iteration=iteration, n_filters=prep.n_input,
                      n_kept=prep.n_filtered, k=k, p=p, significance=sig,
                      klein=klein_numbers(prep.points), nerve_betti=betti)
    row["landmarks"] = int(landmarks)
    return row


def auto_landmarks(n_kept):
    """The paper's 100 landmarks, fewer for small clouds: ``max(10, min(100, n_kept // 4))``.

    Four points per landmark leave a resample of the significance test (80% of the points)
    over three, enough to decide (:data:`cnntopo.significance.MIN_WITNESSES_PER_LANDMARK`);
    under 40 points the test stays at 10 landmarks and may say "too few points to tell".
    """
    return max(10, min(100, int(n_kept) // 4))


# ------------------------------------------------------------------------------ sources

def select_iterations(specs, available, where):
    """Checkpoints chosen by ``--iteration`` values: a number must be a checkpoint, a range
    ``A-B`` takes the checkpoints inside it.

    Parameters
    ----------
    specs : iterable of str or int
    available : list of int
        The checkpoints of the run directory.
    where : str
        The run directory, for messages.

    Returns
    -------
    list of int
        Sorted, without repeats.
    """
    chosen = set()
    for spec in specs:
        for part in str(spec).split(","):
            values = parse_ranges([part], "iteration")
            if "-" in part:
                inside = [it for it in available if values[0] <= it <= values[-1]]
                if not inside:
                    raise ValueError(f"--iteration {part.strip()}: {where} has no checkpoint in "
                                     f"that range; its checkpoints are {available}.")
                chosen.update(inside)
            elif values[0] not in available:
                raise ValueError(f"--iteration {values[0]} is not a checkpoint of {where}; its "
                                 f"checkpoints are {available}.")
            else:
                chosen.add(values[0])
    return sorted(chosen)


def describe_source(source, *, layers=None, iterations=None, k=None, p=None, landmarks=100,
                    seed=0, mapper=None, kernel_size=None, n_resamples=None, progress=True):
    """The verdict table of a points file, run directory or weights file.

    Parameters
    ----------
    source : path-like
        ``.npy`` points (one filter a row), a run directory, or a weights file that
        :func:`cnntopo.filters.load_state_dict` reads.
    layers : list of int, optional
        1-based conv layers; default every conv layer (of `kernel_size`, if given).
    iterations : list of str or int, optional
        ``--iteration`` values of a run directory (numbers and ranges, see
        :func:`select_iterations`); default its last checkpoint.
    kernel_size : int, optional
        Count only conv layers of this size (e.g. 3).
    Others as :func:`describe_cloud`.

    Returns
    -------
    rows : list of dict
        One per (layer, iteration), layers inside iterations.
    """
    from pathlib import Path

    from tqdm.auto import tqdm

    from .filters import conv_layers, filters_from_source, load_state_dict

    path = Path(source)
    common = dict(k=k, p=p, landmarks=landmarks, seed=seed, mapper=mapper,
                  n_resamples=n_resamples)
    if path.suffix.lower() == ".npy" and not path.is_dir():
        if layers or iterations:
            raise ValueError(f"{path.name} is a points file: --layer and --iteration select "
                             f"conv layers of a run directory or weights file.")
        from .pipeline import load_points

        return [describe_cloud(load_points(path), **common)]
    if path.is_dir():
        from .rundir import run_checkpoints

        available = list(run_checkpoints(path))
        if not available:
            raise ValueError(f"{path / 'manifest.json'} lists no checkpoints yet.")
        its = select_iterations(iterations, available, path) if iterations else available[-1:]
    elif iterations:
        raise ValueError(f"--iteration selects checkpoints of a run directory; {path} is a "
                         f"single weights file.")
    else:
        its = [None]
    rows = []
    with tqdm(total=None, desc="describe", unit="layer", disable=not progress) as bar:
        for it in its:
            weights = load_state_dict(source, iteration=it)  # read once per checkpoint
            todo = layers or list(range(1, len(conv_layers(weights, kernel_size=kernel_size)) + 1))
            bar.total = (bar.total or 0) + len(todo)
            for layer in todo:
                filt, _, info = filters_from_source(weights, layer, kernel_size=kernel_size)
                bar.set_postfix_str(f"layer {layer} ({info['layer_name']}, {len(filt):,} filters)")
                row = describe_cloud(filt, layer=layer, iteration=it, **common)
                rows.append(dict(row, layer_name=info["layer_name"]))
                bar.update()
    return rows


# ------------------------------------------------------------------------------ the table

def _f(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _bars(row):
    sig, conf, und = row["significant"], row["significant_confidence"], row["undecided"]
    if sig is None:
        return "-"
    return "  ".join("?" if u and not b else f"{b} ({c:.2f})" for b, c, u in zip(sig, conf, und))


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
