"""The readings of a run directory over its checkpoints: light ones, and the verdict.

*Light readings* (:func:`layer_readings`) are what a :class:`~cnntopo.training.watch.Watcher`
computes at every snapshot: the Klein-bottle numbers of a layer's normalised filters
(:func:`cnntopo.verdict.analysis.klein_numbers`), optionally density filtered, in tens of
milliseconds. A Watcher appends them to ``RUN_DIR/readings.jsonl``, one line per snapshot
(:data:`READINGS_NAME`): appending keeps a snapshot's cost flat however long the run, and the
manifest small. :func:`run_readings` returns them for every checkpoint the manifest lists (the
last line of a step wins; lines of unlisted steps and a torn last line are ignored), computed
from the checkpoint files where no line has them (a ``cnntopo train`` run).

*The verdict* (:func:`describe_run`) adds what takes seconds per cloud: the significance test's
bars (b0, b1), optionally a Mapper graph's nerve, and the reading in words, one verdict row per
(checkpoint, layer). The rows are kept in ``RUN_DIR/verdict.json`` with the settings that made
them, so a second call computes only the checkpoints that are new.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..cloud.pointcloud import density_filter
from ..cloud.prepare import prepare_points
from ..files import atomic_write_json, atomic_write_text
from ..sources.filters import conv_layers, layer_name, load_state_dict, spatial_filters
from ..sources.rundir import WATCH_KIND, read_manifest, run_checkpoints
from ..validation import InputError, check_int, is_int, renamed
from ..verdict.analysis import KLEIN_KEYS, klein_numbers, verdict_spec
from ..verdict.layers import analyse_layers
from ..verdict.table import upgrade_row

__all__ = ["layer_readings", "run_readings", "describe_run", "read_verdict", "forget_verdicts",
           "append_readings", "stored_readings", "keep_readings", "check_density",
           "READINGS_NAME", "VERDICT_NAME", "VERDICT_FORMAT", "READING_KEYS"]

READINGS_NAME = "readings.jsonl"
VERDICT_NAME = "verdict.json"
VERDICT_FORMAT = "cnntopo-run-verdict/2"
# the formats read_verdict reads (a /1 file's rows are brought to /2)
VERDICT_FORMATS_READ = ("cnntopo-run-verdict/1", VERDICT_FORMAT)
# what a light readings row keeps of klein_numbers (beside layer, name, counts)
# and, for kernels other than 3x3, what random filters of that shape give
READING_KEYS = KLEIN_KEYS + ("n_near_circle", "n_near_klein", "primary_circle_fraction_random",
                             "klein_fraction_random")


def _round(v):
    return round(v, 4) if isinstance(v, float) and math.isfinite(v) else v


def check_density(density, fn):
    """None or a (k, p) pair of an int >= 1 and a float in (0, 1]."""
    if density is None:
        return None
    try:
        k, p = density
    except (TypeError, ValueError):
        k = p = None
    if not is_int(k) or k < 1 or isinstance(p, bool) or not isinstance(p, (int, float)) \
            or not 0 < p <= 1:
        raise InputError(f"The 'density' parameter of {fn} must be None or (k, p), rho(k, p) "
                         f"with an int k >= 1 and p in (0, 1]; got {density!r}.")
    return int(k), float(p)


def layer_readings(weight, *, max_filters=2048, density=None, seed=0, coordinates=False):
    """The light readings of one conv weight: Klein-bottle numbers of its normalised filters.

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(out, in, kh, kw)``, or ``(n_networks, out, in, kh, kw)`` for an ensemble.
    max_filters : int
        Read at most this many filters, a seeded subsample without replacement (the same rows
        at every snapshot, so the readings stay comparable); a fraction read on 2,048 filters
        has a standard error of at most 0.011.
    density : (int, float) or None
        Read only the densest filters, rho(k, p) (as the paper reads every layer), where
        more than k filters are left after normalising; None reads them all.
    seed : int or tuple of int
        Of the subsample.
    coordinates : bool
        Also return the Klein coordinates of the filters near the model (3x3 only), for
        :func:`cnntopo.training.writers.klein_image`.

    Returns
    -------
    row : dict
        ``kernel`` ("3x3"), ``n_filters``, ``n_read`` (filters read), ``n_points`` (read and
        not constant), ``k`` and ``p`` (of the density filtration applied, else None),
        ``n_kept`` (after it), the :data:`READING_KEYS` (None for kernels
        :func:`~cnntopo.verdict.analysis.klein_numbers` does not read), ``status`` ``"ok"``
        and ``reason`` None; or, instead of the readings, ``status`` ``"skipped"`` and the
        ``reason`` why the layer could not be read (NaN or infinite weights, every filter
        constant).
    coordinates : (theta, phi) of ndarray, or None
    """
    filters = spatial_filters(weight)
    n, d = filters.shape
    shape = tuple(int(s) for s in getattr(weight, "shape", np.shape(weight)))
    row = {"kernel": f"{shape[-2]}x{shape[-1]}", "n_filters": int(n),
           "n_read": int(min(n, max_filters))}
    finite = np.isfinite(filters)
    if not finite.all():
        bad = int((~finite).sum())
        return dict(row, n_read=0, status="skipped",
                    reason=f"{bad:,} of {filters.size:,} weights are NaN or infinite"), None
    if n > max_filters:
        rng = np.random.default_rng(seed)
        filters = filters[np.sort(rng.choice(n, max_filters, replace=False))]
    try:
        points = prepare_points(filters).points
    except InputError:
        return dict(row, status="skipped",
                    reason="every filter is constant (no spatial variation)"), None
    row.update(n_points=int(len(points)), k=None, p=None)
    if density is not None and len(points) > density[0]:
        points = points[density_filter(points, density[0], density[1])]
        row.update(k=density[0], p=density[1])
    row["n_kept"] = int(len(points))
    coords = None
    if coordinates and d == 9:
        from ..topology.klein import klein_readings

        readings = klein_readings(points)
        numbers = readings.to_dict()
        near = readings.klein_distance <= readings.radius
        coords = (readings.theta[near], readings.phi[near])
    else:
        numbers = klein_numbers(points)
    for key in READING_KEYS:
        row[key] = None if numbers is None else _round(numbers.get(key))
    row.update(status="ok", reason=None)
    return row, coords


# ------------------------------------------------------------------- the readings file

def append_readings(run_dir, step, rows):
    """Append one snapshot's readings as a line of ``RUN_DIR/readings.jsonl``."""
    line = json.dumps({"iteration": int(step), "readings": rows}, allow_nan=False)
    with open(Path(run_dir) / READINGS_NAME, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def stored_readings(run_dir):
    """``{step: rows}`` from ``RUN_DIR/readings.jsonl`` (the last line of a step wins; a line
    that is not whole JSON, as a crash leaves the last one, is skipped); {} when absent."""
    path = Path(run_dir) / READINGS_NAME
    out = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            out[int(entry["iteration"])] = [upgrade_row(r) for r in entry["readings"]]
        except (ValueError, KeyError, TypeError):
            continue
    return out


def keep_readings(run_dir, steps):
    """Rewrite ``RUN_DIR/readings.jsonl`` (atomically) with one line per step of `steps`."""
    path = Path(run_dir) / READINGS_NAME
    if not path.is_file():
        return
    stored = stored_readings(run_dir)
    lines = [json.dumps({"iteration": s, "readings": stored[s]}, allow_nan=False)
             for s in sorted(stored) if s in set(steps)]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def run_readings(run_dir, *, max_filters=2048, seed=0, progress=False):
    """The light readings of every checkpoint of a run directory.

    Parameters
    ----------
    run_dir : path-like
        A run directory (:mod:`cnntopo.sources.rundir`): one a Watcher wrote (its readings are
        read from ``readings.jsonl``) or one of ``cnntopo train`` (computed from each
        checkpoint's conv layers, with `max_filters` and `seed` as in :func:`layer_readings`).

    Returns
    -------
    rows : list of dict
        One per (checkpoint, layer), sorted by iteration then layer: ``iteration``,
        ``layer`` (1-based, as ``cnntopo describe`` numbers them), ``layer_name`` and the
        readings of :func:`layer_readings`.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    files = run_checkpoints(run_dir, manifest)
    stored = stored_readings(run_dir)
    config = manifest["config"]
    density = check_density(config.get("density"), "run_readings")
    if config.get("kind") == WATCH_KIND:  # read missing lines as the Watcher would have
        max_filters, seed = config.get("max_filters", max_filters), config.get("seed", seed)
    rows = []
    from tqdm.auto import tqdm

    for it in tqdm(files, desc="readings", unit="checkpoint", disable=not progress):
        if stored.get(it) is not None:
            rows += [dict(r, iteration=it) for r in stored[it]]
            continue
        weights = load_state_dict(run_dir, iteration=it)
        for i, (name, w) in enumerate(conv_layers(weights), 1):
            row, _ = layer_readings(w, max_filters=max_filters, density=density,
                                    seed=(seed, i))
            rows.append({"iteration": it, "layer": i, "layer_name": layer_name(name), **row})
    return sorted(rows, key=lambda r: (r["iteration"], r["layer"]))


# ------------------------------------------------------------------------ the verdict

def read_verdict(run_dir):
    """``RUN_DIR/verdict.json`` as ``{"format", "settings", "rows"}``, or None when absent.

    A file of the previous format (:data:`VERDICT_FORMATS_READ`) is read and its rows brought
    to this one (``status``/``reason``, ``n_landmarks``, names without ``.weight``); its
    settings then differ from any new call's, so its rows are recomputed once.
    """
    path = Path(run_dir) / VERDICT_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is corrupt (not valid JSON: {exc}); delete it to "
                         f"recompute.") from None
    if not isinstance(data, dict) or data.get("format") not in VERDICT_FORMATS_READ \
            or not isinstance(data.get("rows"), list):
        raise InputError(f"{path} is not a {VERDICT_FORMAT!r} file; delete it to recompute.")
    if data["format"] != VERDICT_FORMAT:
        data = dict(data, format=VERDICT_FORMAT, settings={"from": data["format"]},
                    rows=[upgrade_row(r) for r in data["rows"]])
    return data


def forget_verdicts(run_dir, after):
    """Drop the verdict rows of iterations >= `after` (their snapshots are being replaced)."""
    data = read_verdict(run_dir)
    if data is None:
        return
    kept = [r for r in data["rows"] if int(r["iteration"]) < after]
    if len(kept) != len(data["rows"]):
        atomic_write_json(Path(run_dir) / VERDICT_NAME, dict(data, rows=kept))


@renamed(landmarks="n_landmarks")
def describe_run(run_dir, layers=None, iterations=None, *, k=None, p=None, n_landmarks="auto",
                 mapper=None, n_resamples=None, seed=0, n_jobs=None, ray=None, progress=True):
    """Verdict rows of a run's checkpoints, computed once and kept in ``RUN_DIR/verdict.json``.

    The rows are :func:`cnntopo.verdict.layers.describe_source`'s (the one per-layer path,
    :func:`cnntopo.verdict.layers.analyse_layers`); what this adds is the file: every row
    computed so far with the same settings is kept and reused, so a second call computes only
    the checkpoints that are new.

    Parameters
    ----------
    run_dir : path-like
        A run directory.
    layers : list of int or str, optional
        Conv layers (numbers, ranges, names); default all.
    iterations : None, "all" or list of str or int, optional
        Checkpoints: default **the last** (as ``describe``); ``"all"``: every one (what
        ``Watcher.close(significance=True)`` and ``cnntopo report --significance`` ask for).
    k, p, n_landmarks, mapper, n_resamples, seed
        As :func:`cnntopo.verdict.analysis.verdict_spec`.
    n_jobs, ray
        Where the rows run (:func:`cnntopo.verdict.layers.analyse_layers`; the same rows).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    rows : list of dict
        The asked (iteration, layer) rows, sorted by iteration then layer, each with
        ``layer_name``, ``kernel``, ``n_landmarks``, ``status`` and ``reason``.
    """
    run_dir = Path(run_dir)
    spec = verdict_spec(k=k, p=p, n_landmarks=n_landmarks, mapper=mapper, n_resamples=n_resamples,
                        seed=check_int(seed, "seed", "describe_run", 0))
    m = spec.mapper
    settings = {"k": k, "p": p, "n_landmarks": spec.significance.landmarks,
                "mapper": None if m is None else [m.resolution, m.gain, m.n_bootstrap],
                "n_resamples": n_resamples, "seed": int(seed),
                # the two-field test (issue 23): files without it are computed once again
                "fields": list(spec.significance.fields)}
    data = read_verdict(run_dir)
    if data is None or data.get("settings") != settings:
        data = {"format": VERDICT_FORMAT, "settings": settings, "rows": []}
    done = {(int(r["iteration"]), int(r["layer"])): r for r in data["rows"]}

    def save(iteration, results):  # what is done survives a stop
        for r in results:
            done[(int(r.row["iteration"]), int(r.row["layer"]))] = r.row
        data["rows"] = sorted(done.values(), key=lambda r: (r["iteration"], r["layer"]))
        atomic_write_json(run_dir / VERDICT_NAME, data)

    results = analyse_layers(run_dir, layers, iterations, spec=spec,
                             cached=lambda it, lay: done.get((it, lay)), on_checkpoint=save,
                             n_jobs=n_jobs, ray=ray, progress=progress, desc="verdict")
    return sorted((r.row for r in results), key=lambda r: (r["iteration"], r["layer"]))
