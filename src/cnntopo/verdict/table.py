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
``significant``               significant bars per dimension [b0, b1] over Z/2
                              (:func:`cnntopo.topology.significance.significant_bars`);
                              [b0, b1, b2] in the two-field verdict, b0 and b1 unchanged
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
``significant_z3``            the two-field verdict's [b0, b1, b2] over Z/3, on the same
                              resamples
                              (:func:`cnntopo.topology.significance.significant_bars_fields`)
``significant_z3_confidence`` its confidence per dimension, ``undecided_z3`` its undecided flags
``shape_confidence``          share of resamples whose vectors over both fields read that model
``shape``                     the model both fields name (:data:`cnntopo.topology.shape.SHAPES`)
``shape_reading``             the shape with its evidence, in words
                              (:func:`cnntopo.topology.shape.shape_reading`)
============================  =====================================================================

The Klein-bottle numbers are null for filters that are not square k x k with k >= 3; k x k
filters are read area-averaged to 3x3 (:mod:`cnntopo.topology.klein_grid`).
"""

from __future__ import annotations

import numbers
import re

from ..topology.klein_grid import RANDOM_KEYS
from ..validation import InputError

__all__ = ["ROW_KEYS", "SHAPE_KEYS", "OFF_MODEL_NOTABLE", "CIRCLE_DOMINANT", "COVERAGE_EVEN",
           "CONFIDENT",
           "NERVE_ROBUST", "RENAMED", "SPLIT", "WHOLE", "TABLE_COLUMNS", "TABLE_STYLES",
           "Column", "parse_ranges", "select_iterations", "reading", "verdict_row",
           "upgrade_row", "split_key", "flat_columns", "list_lengths", "flat_records",
           "format_table"]

ROW_KEYS = ("layer", "iteration", "n_filters", "n_kept", "k", "p", "significant",
            "significant_confidence", "undecided", "primary_circle_fraction",
            "primary_circle_coverage", "klein_fraction", "off_model_fraction",
            "primary_circle_fraction_random", "klein_fraction_random",
            "off_model_fraction_random", "nerve_betti", "nerve_confidence", "nerve_robust",
            "nerve_loop_confidence", "nerve_stability", "reading")
#: The shape columns (issue 23), after ``ROW_KEYS`` in a row of the two-field verdict:
#: the homology over Z/3 and the shape both fields name (:mod:`cnntopo.topology.shape`).
SHAPE_KEYS = ("significant_z3", "significant_z3_confidence", "undecided_z3",
              "shape_confidence", "shape", "shape_reading")

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
                nerve_betti=None, mapper_confidence=None, fields=None, shape=False):
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
    fields : cnntopo.topology.significance.FieldBars or None
        The homology over Z/2 and Z/3 (H0-H2): `significance` is then its Z/2 bars.
    shape : bool
        Add the :data:`SHAPE_KEYS` (None where the cloud was too small to test); implied by
        `fields`.

    Returns
    -------
    row : dict
        The keys of ``ROW_KEYS``, in that order, then :data:`SHAPE_KEYS` with `shape`.
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
    if fields is not None or shape:
        row.update(dict.fromkeys(SHAPE_KEYS))
    if fields is not None:
        from ..topology.shape import shape_of

        cols = shape_of(fields, klein)
        row.update({key: cols[key] for key in SHAPE_KEYS})
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


# ------------------------------------------------------------------------------ old files

# Row keys of earlier versions and their names now (docs/reference/names.md).
RENAMED = {"n_filtered": "n_kept", "landmarks": "n_landmarks",
           "circle_fraction_before_filtering": "primary_circle_fraction_before_filtering"}


def upgrade_row(row):
    """A row (verdict row, light readings row, describe record) of an earlier version as this
    one writes it: the renamed keys of :data:`RENAMED`, ``skipped: reason`` as ``status`` and
    ``reason``, ``layer_name`` without ``.weight``. A current row comes back equal.

    Parameters
    ----------
    row : dict

    Returns
    -------
    dict
        A new dict.
    """
    out = {}
    for key, value in row.items():
        new = RENAMED.get(key, key)
        if key in RENAMED and new in row:  # both: the new one wins
            continue
        out[new] = value
    if "skipped" in out:
        reason = out.pop("skipped")
        out["status"], out["reason"] = ("skipped", reason) if reason else ("ok", None)
    if isinstance(out.get("layer_name"), str):
        out["layer_name"] = out["layer_name"].removesuffix(".weight")
    return out


# ------------------------------------------------------------------------------ flat records

#: Row keys holding one value per dimension, and the column each entry becomes.
SPLIT = {"significant": "b{}", "significant_confidence": "b{}_confidence",
         "undecided": "b{}_undecided", "significant_z3": "z3_b{}",
         "significant_z3_confidence": "z3_b{}_confidence", "undecided_z3": "z3_b{}_undecided",
         "nerve_betti": "nerve_b{}",
         "nerve_confidence": "nerve_b{}_confidence", "nerve_robust": "nerve_b{}_robust"}
#: Row keys whose lists vary in length from row to row (one entry per loop): kept whole.
WHOLE = frozenset({"nerve_loop_confidence"})


def split_key(key, value):
    """True when `key` of a row is a list split into one column per entry."""
    return key not in WHOLE and (key in SPLIT or isinstance(value, (list, tuple)))


def flat_columns(row, q_max):
    """``[(key, q, column)]`` of a row: `q` None for a key kept whole, else the entry."""
    out = []
    for key, value in row.items():
        if split_key(key, value):
            pattern = SPLIT.get(key, key + "_{}")
            out += [(key, q, pattern.format(q)) for q in range(q_max.get(key, 0))]
        else:
            out.append((key, None, key))
    return out


def list_lengths(rows):
    """``{key: entries}`` of the split keys over `rows` (b0 and b1 at least)."""
    q_max = {}
    for row in rows:
        for key, value in row.items():
            if split_key(key, value):
                low = 2 if key in SPLIT else 0  # b0 and b1 always, even when no row has bars
                q_max[key] = max(q_max.get(key, low), len(value or ()))
    return q_max


def flat_records(rows):
    """Verdict rows as flat records, the describe frame's columns (``significant`` ->
    ``b0``, ``b1``, ...), without pandas: what the table formatter reads.

    Returns
    -------
    records : list of dict
    order : list of str
        Every column, in the order first seen.
    """
    q_max = list_lengths(rows)
    order, records, seen = [], [], set()
    for row in rows:
        record = {}
        for key, q, name in flat_columns(row, q_max):
            value = row[key]
            record[name] = value if q is None else (
                value[q] if value is not None and q < len(value) else None)
            if name not in seen:
                seen.add(name)
                order.append(name)
        records.append(record)
    return records, order


# ------------------------------------------------------------------------------ the table

def _missing(v):
    return v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType"


def _num(v, digits=2):
    if _missing(v):
        return None
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        return f"{float(v):.{digits}f}"
    return str(v)


def _dims(records, pattern):
    q = 0
    while any(not _missing(r.get(pattern.format(q))) for r in records):
        q += 1
    return q


def _bars_cell(rec, n, sep, prefix=""):
    if n == 0 or _missing(rec.get(f"{prefix}b0")):
        return None
    cells = []
    for q in range(n):
        b, c, u = (rec.get(f"{prefix}b{q}"), rec.get(f"{prefix}b{q}_confidence"),
                   rec.get(f"{prefix}b{q}_undecided"))
        if _missing(b):
            cells.append("?")
        elif not _missing(u) and u and not b:  # no bar found, and too few points to tell
            cells.append("?")
        else:
            cells.append(f"{int(b)}" if _missing(c) else f"{int(b)} ({float(c):.2f})")
    return sep.join(cells)


def _nerve_cell(rec, n, sep):
    if n == 0 or _missing(rec.get("nerve_b0")):
        return None
    betti = [rec.get(f"nerve_b{q}") for q in range(n)]
    conf = [rec.get(f"nerve_b{q}_confidence") for q in range(n)]
    if any(_missing(c) for c in conf):
        return ",".join(str(int(b)) for b in betti if not _missing(b))
    return sep.join(f"{int(b)} ({float(c):.2f})" for b, c in zip(betti, conf))


def _with_random(rec, key):
    v, r = rec.get(key), rec.get(f"{key}_random")
    if _missing(v):
        return None
    return f"{float(v):.2f}" if _missing(r) else f"{float(v):.2f} ({float(r):.2f})"


def _reading_cell(rec):
    if rec.get("status") == "skipped":
        return f"skipped: {rec.get('reason')}"
    return None if _missing(rec.get("reading")) else str(rec["reading"])


class Column:
    """One column of the verdict table: a header and a cell of a flat record.

    Attributes
    ----------
    header : str or callable
        The header, or ``header(dims, sep)`` for a column whose header depends on the
        homology dimensions shown.
    cell : callable
        ``cell(record, dims, sep) -> str or None`` (None: nothing to show).
    text : bool
        Left-aligned (words) rather than right-aligned (numbers).
    always : bool
        Shown even when empty in every row.
    """

    def __init__(self, header, cell, *, text=False, always=False):
        self.header, self.cell, self.text, self.always = header, cell, text, always


def _key(key, digits=2):
    return lambda rec, dims, sep: _num(rec.get(key), digits)


def _bars_header(dims, sep="  "):
    return sep.join(f"b{q} (conf)" for q in range(max(dims["b"], 2)))


def _z3_header(dims, sep="  "):
    return "Z/3 " + sep.join(f"b{q} (conf)" for q in range(max(dims["z3"], 2)))


def _shape_cell(rec):
    shape = rec.get("shape")
    if _missing(shape):
        return None
    conf = rec.get("shape_confidence")
    return str(shape) if _missing(conf) else f"{shape} ({float(conf):.2f})"


def _nerve_header(dims, sep="  "):
    return "nerve " + sep.join(f"b{q} (conf)" for q in range(max(dims["nerve"], 2)))


#: The columns of the verdict table, defined once for the text, Markdown and HTML tables
#: (``cnntopo describe``, ``report``, the atlas, the reports' pages, a notebook). The bars
#: show every homology dimension the rows have (b0, b1, b2, ...).
TABLE_COLUMNS = (
    Column("layer", _key("layer"), always=True),
    Column("name", lambda r, d, s: None if _missing(r.get("layer_name")) else str(r["layer_name"]),
           text=True),
    Column("kernel", lambda r, d, s: None if _missing(r.get("kernel")) else str(r["kernel"])),
    Column("iter", _key("iteration")),
    Column("filters", _key("n_filters"), always=True),
    Column("kept", _key("n_kept"), always=True),
    Column("landmarks", _key("n_landmarks")),
    Column(_bars_header, lambda r, d, s: _bars_cell(r, max(d["b"], 2), s), text=True,
           always=True),
    Column(_z3_header, lambda r, d, s: _bars_cell(r, max(d["z3"], 2), s, "z3_"), text=True),
    Column("circle (rand)", lambda r, d, s: _with_random(r, "primary_circle_fraction")),
    Column("cover", _key("primary_circle_coverage")),
    Column("klein (rand)", lambda r, d, s: _with_random(r, "klein_fraction")),
    Column("off (rand)", lambda r, d, s: _with_random(r, "off_model_fraction")),
    Column(_nerve_header, lambda r, d, s: _nerve_cell(r, max(d["nerve"], 2), s), text=True),
    Column("stability", _key("nerve_stability")),
    Column("shape (conf)", lambda r, d, s: _shape_cell(r), text=True),
    Column("reading", lambda r, d, s: _reading_cell(r), text=True, always=True),
)
#: What ``format_table`` writes.
TABLE_STYLES = ("text", "markdown", "html")
_MISSING = {"text": "-", "markdown": "–", "html": '<span class="muted">—</span>'}
_SEP = {"text": "  ", "markdown": ", ", "html": ", "}


def _records(rows):
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a describe frame
        return [{k: (None if _missing(v) else v) for k, v in rec.items()}
                for rec in rows.to_dict("records")]
    rows = list(rows)
    if all(not any(split_key(k, v) for k, v in r.items()) for r in rows):
        return rows  # already flat
    return flat_records(rows)[0]


def format_table(rows, *, style="text", lead=()):
    """The verdict table: one line per row, the columns of :data:`TABLE_COLUMNS`.

    The one table formatter: ``cnntopo describe`` and ``report`` print it, the atlas writes
    it as Markdown, the reports and notebooks show it as HTML. Bars with their confidence
    (``?``: too few points to tell), each fraction with the random filters' in brackets, the
    nerve's Betti numbers with their bootstrap confidence where there is one, and a skipped
    row's reason in place of its reading. A column empty in every row is left out.

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        Verdict rows (:func:`cnntopo.verdict.layers.describe_source`), their flat records, or
        a describe frame.
    style : {"text", "markdown", "html"}
        Fixed-width text, a Markdown table, or an HTML ``<table>`` (cells escaped).
    lead : sequence of str or (header, key)
        Columns put first: keys of the rows (the atlas: ``[("network", "model")]``).

    Returns
    -------
    str
    """
    if style not in TABLE_STYLES:
        raise InputError(f"The 'style' parameter of format_table must be one of "
                         f"{list(TABLE_STYLES)}; got {style!r}.")
    records = _records(rows)
    dims = {"b": _dims(records, "b{}"), "z3": _dims(records, "z3_b{}"),
            "nerve": _dims(records, "nerve_b{}")}
    sep = _SEP[style]
    lead_cols = []
    for item in lead:
        header, key = (item, item) if isinstance(item, str) else item
        lead_cols.append(Column(header, (lambda k: lambda r, d, s: _num(r.get(k)))(key),
                                text=True, always=True))
    columns, cells = [], []
    for col in lead_cols + list(TABLE_COLUMNS):
        values = [col.cell(r, dims, sep) for r in records]
        if col.always or any(v is not None for v in values):
            columns.append(col)
            cells.append(values)
    headers = [c.header(dims, sep) if callable(c.header) else c.header for c in columns]
    body = [[_MISSING[style] if v is None else v for v in row] for row in zip(*cells)] \
        if records else []
    if style == "html":
        return _html_table(headers, body, columns)
    if style == "markdown":
        code = {i for i, h in enumerate(headers) if h == "name"}
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for row in body:
            lines.append("| " + " | ".join(f"`{c}`" if i in code and c != _MISSING[style]
                                           else c for i, c in enumerate(row)) + " |")
        return "\n".join(lines) + "\n"
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(headers)]

    def line(row):
        return "  ".join(c.ljust(w) if col.text else c.rjust(w)
                         for c, w, col in zip(row, widths, columns)).rstrip()

    return "\n".join([line(headers)] + [line(b) for b in body])


def _html_table(headers, body, columns):
    import html

    def cls(col):
        return ' class="text"' if col.text else ""

    out = ['<table class="verdict">', "<tr>" + "".join(
        f"<th{cls(c)}>{html.escape(h)}</th>" for h, c in zip(headers, columns)) + "</tr>"]
    for row in body:
        cells = []
        for i, (v, c) in enumerate(zip(row, columns)):
            text = v if v == _MISSING["html"] else html.escape(v)
            if headers[i] == "reading" and v != _MISSING["html"]:
                text = f"<b>{text}</b>"
            cells.append(f"<td{cls(c)}>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
