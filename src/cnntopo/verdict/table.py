"""The verdict table: what shape the filters of each layer and iteration take, in numbers and words.

One row per (layer, iteration) of a source (a points ``.npy``, a run directory, or any
weights file :func:`cnntopo.sources.filters.filters_from_source` reads). Each row holds

============================  =====================================================================
key                           meaning
============================  =====================================================================
``layer``, ``iteration``      conv layer (1-based) and checkpoint; null for a points file / a
                              weights file without iterations
``n_filters``                 spatial filters in the layer (rows before normalising)
``n_kept``                    points analysed: after dropping constant filters and rho(k, p)
``k``, ``p``                  the density filtration (null: none)
``significant``               significant bars per dimension [b0, b1]
                              (:func:`cnntopo.topology.significance.significant_bars`)
``significant_confidence``    share of resamples that give that count, per dimension
``undecided``                 per dimension: too few points to tell (the count is then not a
                              finding)
``primary_circle_fraction``   share of filters within 0.5 of the primary circle
``primary_circle_coverage``   1 for edges at every orientation, falling as they concentrate
``klein_fraction``            share of filters within 0.5 of the Klein-bottle model
``off_model_fraction``        share of filters farther than 0.5 from it
``..._fraction_random``       the same three fractions for Gaussian random filters of the
                              same shape: what chance gives
                              (:func:`cnntopo.topology.klein_grid.random_fractions`)
``nerve_betti``               Betti numbers [b0, b1] of the Mapper graph's nerve; null without
                              a Mapper graph
``nerve_confidence``          per dimension, the bootstrap confidence of the weakest component
                              or loop (:func:`cnntopo.topology.mapper_stats.mapper_confidence`)
``nerve_robust``              per dimension, components and loops that survive at least 90%
                              of the resamples (significant at level 0.1)
``nerve_loop_confidence``     the confidence of each loop of the graph, highest first
``nerve_stability``           share of the neighbouring (resolution, gain) whose nerve has the
                              same Betti numbers
``reading``                   the short reading in words, by the rules of :func:`reading`
============================  =====================================================================

The Klein-bottle numbers are null for filters that are not square k x k with k >= 3; k x k
filters are read area-averaged to 3x3 (:mod:`cnntopo.topology.klein_grid`).
"""

from __future__ import annotations

import numbers
import re

from ..topology.klein_grid import RANDOM_KEYS
from ..validation import InputError

__all__ = ["ROW_KEYS", "OFF_MODEL_NOTABLE", "CIRCLE_DOMINANT", "COVERAGE_EVEN", "CONFIDENT",
           "NERVE_ROBUST",
           "parse_ranges", "select_iterations", "reading", "verdict_row", "format_table"]

ROW_KEYS = ("layer", "iteration", "n_filters", "n_kept", "k", "p", "significant",
            "significant_confidence", "undecided", "primary_circle_fraction",
            "primary_circle_coverage", "klein_fraction", "off_model_fraction",
            "primary_circle_fraction_random", "klein_fraction_random",
            "off_model_fraction_random", "nerve_betti", "nerve_confidence", "nerve_robust",
            "nerve_loop_confidence", "nerve_stability", "reading")

# The rules' thresholds (see `reading`).
CIRCLE_DOMINANT = 0.5    # primary-circle fraction from which a loop reads as the primary circle
COVERAGE_EVEN = 0.5      # coverage under which the circle's orientations read as concentrated
OFF_MODEL_NOTABLE = 0.05  # off-model fraction from which off-model patches are named
CONFIDENT = 0.5          # H1 confidence under which the reading says "(uncertain)"
# A loop or component of a Mapper graph is robust when it survives this share of the bootstrap
# resamples: significant at level 0.1, the 90% confidence region of Carrière et al. (2018).
NERVE_ROBUST = 0.9

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
                raise InputError(f"--{name} takes integers and ranges like 2-13 (repeat it or "
                                 f"separate with commas); got {spec!r}.")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise InputError(f"--{name} range {part.strip()!r} runs backwards; write "
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
    9. With a Mapper graph, its loops are compared with the significant bars (the robust
       loops, those surviving at least 90% of the bootstrap resamples (NERVE_ROBUST), where
       there is a bootstrap). When they agree and the graph has no other loop, nothing is added; when
       only robust loops agree: "; Mapper: m loops (confidence ...), r robust, as the
       barcodes"; when they disagree: "; Mapper: m loops (confidence ...), barcodes: b1
       (confidence ...)" and why, from the numbers: "the bars are uncertain" (H1 confidence
       < 0.5), "the graph changes with its parameters" (stability < 0.5), "the graph's loops
       do not survive resampling" (no robust loop), else "both hold: read the graph at other
       resolutions".

    Without Klein-bottle numbers (filters that are not 3x3) only the bars are read.
    """
    return _bars_reading(row) + _mapper_clause(row)


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def _mapper_clause(row):
    nerve, b1 = row.get("nerve_betti"), _count(row, 1)
    if not nerve or len(nerve) < 2 or b1 is None:
        return ""
    m = int(nerve[1])
    loops = row.get("nerve_loop_confidence")
    robust = m if loops is None else sum(c >= NERVE_ROBUST for c in loops)
    if robust == b1 and m == b1:
        return ""
    graph = f"; Mapper: {_plural(m, 'loop')}"
    if loops:
        graph += " (confidence " + ", ".join(f"{c:.2f}" for c in loops) + ")"
    elif loops is None:
        graph += " (no bootstrap)"
    if robust == b1:
        return graph + f", {robust} robust, as the barcodes"
    conf = row.get("significant_confidence") or [None, None]
    cb = conf[1] if len(conf) > 1 else None
    text = graph + f", barcodes: {b1}" + ("" if cb is None else f" (confidence {cb:.2f})")
    stability = row.get("nerve_stability")
    if cb is not None and cb < CONFIDENT:
        return text + ": the bars are uncertain"
    if stability is not None and stability < CONFIDENT:
        return text + f": the graph changes with its parameters (stability {stability:.2f})"
    if loops is not None and robust == 0:
        return text + ": the graph's loops do not survive resampling"
    return text + ": both hold; read the graph at other resolutions"


def _bars_reading(row):
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
                nerve_betti=None, mapper_confidence=None):
    """One row of the verdict table from what was computed about one cloud.

    Parameters
    ----------
    layer, iteration : int or None
    n_filters, n_kept : int
    k, p : int and float, or None
    significance : cnntopo.topology.significance.SignificantBars or None
        None when the cloud was too small to test (the row then reads "too few points").
    klein : dict or None
        ``primary_circle_fraction``, ``primary_circle_coverage``, ``klein_fraction``,
        ``off_model_fraction`` (:func:`cnntopo.verdict.analysis.klein_numbers`) and, when
        known, the same fractions for random filters (``primary_circle_fraction_random``,
        ...); None for filters that are not k x k with k >= 3.
    nerve_betti : list of int or None
    mapper_confidence : cnntopo.topology.mapper_stats.MapperConfidence or None

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
           **{key: klein.get(key) for key in RANDOM_KEYS},
           "nerve_betti": _list(nerve_betti), "nerve_confidence": None, "nerve_robust": None,
           "nerve_loop_confidence": None, "nerve_stability": None}
    if mapper_confidence is not None:
        mc = mapper_confidence
        row.update(nerve_confidence=[round(float(c), 3) for c in mc.betti_confidence],
                   nerve_robust=[sum(f["kind"] == kind and f["confidence"] >= NERVE_ROBUST
                                     for f in mc.features) for kind in ("component", "loop")],
                   nerve_loop_confidence=sorted((round(float(f["confidence"]), 3)
                                                 for f in mc.features if f["kind"] == "loop"),
                                                reverse=True),
                   nerve_stability=round(float(mc.stability), 3))
    if significance is not None:
        row.update(significant=[int(c) for c in significance.counts],
                   significant_confidence=[round(float(c), 3) for c in significance.confidence],
                   undecided=[bool(u) for u in significance.undecided])
    row["reading"] = reading(row)
    return row


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
                    raise InputError(f"--iteration {part.strip()}: {where} has no checkpoint in "
                                     f"that range; its checkpoints are {available}.")
                chosen.update(inside)
            elif values[0] not in available:
                raise InputError(f"--iteration {values[0]} is not a checkpoint of {where}; its "
                                 f"checkpoints are {available}.")
            else:
                chosen.add(values[0])
    return sorted(chosen)


# ------------------------------------------------------------------------------ the table

def _f(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _bars(row):
    sig, conf, und = row["significant"], row["significant_confidence"], row["undecided"]
    if sig is None:
        return "-"
    return "  ".join("?" if u and not b else f"{b} ({c:.2f})" for b, c, u in zip(sig, conf, und))


def _nerve(row):
    betti, conf = row.get("nerve_betti"), row.get("nerve_confidence")
    if betti is None:
        return "-"
    if conf is None:
        return ",".join(map(str, betti))
    return "  ".join(f"{b} ({c:.2f})" for b, c in zip(betti, conf))


def format_table(rows):
    """The verdict table as fixed-width text (what ``cnntopo describe`` prints)."""
    header = ["layer", "iter", "filters", "kept", "b0 (conf)  b1 (conf)", "circle", "cover",
              "klein", "off", "nerve (conf)", "reading"]
    body = []
    for r in rows:
        body.append(["-" if r["layer"] is None else str(r["layer"]),
                     "-" if r["iteration"] is None else str(r["iteration"]),
                     f"{r['n_filters']:,}", f"{r['n_kept']:,}", _bars(r),
                     _f(r["primary_circle_fraction"]), _f(r["primary_circle_coverage"]),
                     _f(r["klein_fraction"]), _f(r["off_model_fraction"]),
                     _nerve(r),
                     r["reading"]])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i in (4, 10) else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    for b in body:
        lines.append("  ".join(c.ljust(w) if i in (4, 10) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(b, widths))))
    return "\n".join(lines)
