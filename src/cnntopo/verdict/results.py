"""A cloud's analysis as plain files, and back: figures can be redrawn without recomputing.

:func:`save_result` writes what :func:`cnntopo.verdict.analysis.analyse` computed under a tag::

    filters_<tag>.npy     the input rows (every row index in the JSON files refers to them)
    points_<tag>.npy      the analysed cloud (normalised, density filtered)
    barcodes_<tag>.json   the lazy witness barcodes and significance (cnntopo.verdict.records)
    mapper_<tag>.json     the Mapper graph as node-link JSON (cnntopo.verdict.records)
    analysis_<tag>.json   the spec, the verdict row, the readings and the layout
    analysis_<tag>.npz    per analysed point: input row, Klein-bottle coordinates, metadata;
                          the witness filtration, node positions and thumbnails

:func:`load_result` reads them into the same :class:`~cnntopo.verdict.analysis.CloudAnalysis`,
and :func:`analysis_numbers` gives what an experiment's ``summary.json`` says of it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..cloud.prepare import PreparedPoints
from ..files import atomic_save_npy, atomic_write_bytes, atomic_write_json
from ..validation import InputError
from .analysis import KLEIN_KEYS, AnalysisSpec, CloudAnalysis
from .records import barcodes_record, mapper_record, significance_keys

__all__ = ["RESULT_FORMAT", "save_result", "load_result", "load_caption", "analysis_numbers",
           "graph_numbers", "result_files"]

RESULT_FORMAT = "cnntopo-analysis/1"
_KLEIN_ARRAYS = ("theta", "phi", "klein_distance", "circle_angle", "circle_distance")
_BARCODE_NUMBERS = ("n_landmarks", "all_points_are_landmarks", "covering_radius", "scale",
                    "significant", "significant_confidence", "significant_undecided",
                    "long_bars_rule", "long_bars", "n_bars")


def result_files(tag):
    """The file names :func:`save_result` uses for `tag`."""
    return {"filters": f"filters_{tag}.npy", "points": f"points_{tag}.npy",
            "barcodes_json": f"barcodes_{tag}.json", "mapper_json": f"mapper_{tag}.json",
            "analysis_json": f"analysis_{tag}.json", "analysis_npz": f"analysis_{tag}.npz"}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def save_result(result, folder, tag, *, caption=None):
    """Write `result` into `folder` under `tag` (every file atomically).

    Parameters
    ----------
    result : cnntopo.verdict.analysis.CloudAnalysis
    folder : path-like
    tag : str
        Part of every file name (letters, digits, ``_ . -``).
    caption : str, optional
        What the figures say the cloud is; kept for redrawing them.

    Returns
    -------
    files : dict
        ``filters``, ``points``, and where written ``barcodes_json``, ``mapper_json``; then
        ``analysis_json`` and ``analysis_npz``.
    """
    folder = Path(folder)
    names = result_files(tag)
    prep, spec = result.prepared, result.spec
    atomic_save_npy(folder / names["filters"], result.filters)
    atomic_save_npy(folder / names["points"], prep.points)
    files = {"filters": names["filters"], "points": names["points"]}
    where = {"input_file": names["filters"], "filtered_file": names["points"]}
    arrays = {"rows": np.asarray(prep.rows, dtype=np.int64)}
    if result.barcodes is not None:
        b = spec.barcodes
        atomic_write_json(folder / names["barcodes_json"], barcodes_record(
            prep, result.barcodes, k=spec.k, p=spec.p, landmarks=b.landmarks,
            maxdim=b.maxdim, seed=b.seed, significance=result.significance, **where))
        files["barcodes_json"] = names["barcodes_json"]
        arrays["witness_filtration"] = np.asarray(result.barcodes.filtration)
    if result.graph is not None:
        atomic_write_json(folder / names["mapper_json"], mapper_record(
            prep, result.graph, k=spec.k, p=spec.p, nerve_betti=result.nerve_betti,
            confidence=result.mapper_confidence, **where), indent=None)
        files["mapper_json"] = names["mapper_json"]
    if result.klein is not None:
        arrays.update({f"klein_{k}": getattr(result.klein, k) for k in _KLEIN_ARRAYS})
    for key, values in (result.meta or {}).items():
        arrays[f"meta_{key}"] = np.asarray(values)
    layout = None
    if result.layout is not None:
        lay = result.layout
        ids = [n["id"] for n in result.graph["nodes"]]
        arrays["layout_positions"] = np.array([lay.positions[i] for i in ids],
                                              dtype=np.float64).reshape(-1, 2)
        arrays["layout_thumbnails"] = np.asarray(lay.thumbnails, dtype=np.float64)
        layout = {"thumbnail_node_ids": [_plain(i) for i in lay.thumbnail_node_ids],
                  "seed": int(lay.seed)}
    record = {
        "format": RESULT_FORMAT, "tag": tag, "caption": caption, "spec": spec.to_dict(),
        "row": result.row,
        "prepared": {"n_input": prep.n_input, "n_points": prep.n_points,
                     "n_constant": prep.n_constant, "n_kept": prep.n_kept},
        "significance": None if result.significance is None else result.significance.to_dict(),
        "significance_landmarks": result.significance_landmarks,
        "klein": None if result.klein is None else result.klein.to_dict(),
        "primary_circle_fraction_before_filtering":
            result.primary_circle_fraction_before_filtering,
        "graph_params": None if result.graph is None else result.graph.get("graph"),
        "nerve_betti": result.nerve_betti, "layout": layout,
        "mapper_confidence": None if result.mapper_confidence is None
        else result.mapper_confidence.to_dict(),
        "meta_keys": sorted(result.meta or {}),
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(folder / names["analysis_npz"], buf.getvalue())
    atomic_write_json(folder / names["analysis_json"], record)
    files.update(analysis_json=names["analysis_json"], analysis_npz=names["analysis_npz"])
    return files


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the saved analysis {str(path)!r}: {exc}") from None


def load_result(folder, tag):
    """Read what :func:`save_result` wrote under `tag` back into a ``CloudAnalysis``.

    Returns
    -------
    result : cnntopo.verdict.analysis.CloudAnalysis
        As :func:`~cnntopo.verdict.analysis.analyse` returned it (the caption is in
        ``result.row`` no more than it was; :func:`load_caption` reads it).

    Raises
    ------
    InputError
        If a file is missing or damaged.
    """
    from ..topology.klein import KleinReadings
    from ..topology.layout import MapperLayout
    from ..topology.mapper_stats import MapperConfidence
    from ..topology.significance import SignificantBars
    from ..topology.witness import WitnessBarcodes

    folder = Path(folder)
    names = result_files(tag)
    rec = _read_json(folder / names["analysis_json"])
    if rec.get("format") != RESULT_FORMAT:
        raise InputError(f"{folder / names['analysis_json']} is not a saved analysis "
                         f"(format {rec.get('format')!r}, expected {RESULT_FORMAT!r}).")
    try:
        with np.load(folder / names["analysis_npz"], allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
        filters = np.load(folder / names["filters"], allow_pickle=False)
        points = np.load(folder / names["points"], allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the saved analysis {tag!r} in {folder}: {exc}") from None
    spec = AnalysisSpec.from_dict(rec["spec"])
    prepared = dict(rec["prepared"])
    if "n_filtered" in prepared:  # saved before the name n_kept
        prepared["n_kept"] = prepared.pop("n_filtered")
    prep = PreparedPoints(points=points, rows=arrays["rows"], **prepared)
    sig = None
    if rec["significance"] is not None:
        s = dict(rec["significance"])
        s["distribution"] = [{int(c): v for c, v in d.items()} for d in s["distribution"]]
        sig = SignificantBars(**s)
    klein = None
    if rec["klein"] is not None:
        k = dict(rec["klein"])
        if k["primary_circle_coverage"] is None:
            k["primary_circle_coverage"] = float("nan")
        klein = KleinReadings(**k, **{a: arrays[f"klein_{a}"] for a in _KLEIN_ARRAYS})
    bars = None
    if spec.barcodes is not None:
        b = _read_json(folder / names["barcodes_json"])
        bars = WitnessBarcodes(
            diagrams=[np.array([[bb, np.inf if d is None else d] for bb, d in dgm],
                               dtype=np.float64).reshape(-1, 2) for dgm in b["diagrams"]],
            landmarks=np.asarray(b["landmark_points"], dtype=np.int64),
            filtration=arrays.get("witness_filtration"),
            covering_radius=b["covering_radius"], scale=b["scale"],
            n_landmarks=b["n_landmarks"], all_points_are_landmarks=b["all_points_are_landmarks"],
            nu=b["nu"], coeff=b["coeff"], max_filtration=spec.barcodes.max_filtration,
            num_divisions=spec.barcodes.num_divisions)
    graph = layout = None
    if rec["graph_params"] is not None:
        g = _read_json(folder / names["mapper_json"])
        point_rows = np.asarray(g["graph"]["point_rows"], dtype=np.int64)
        graph = dict(g, graph=rec["graph_params"],
                     nodes=[dict(n, members=np.searchsorted(point_rows, n["members"]).tolist())
                            for n in g["nodes"]])
        if rec["layout"] is not None:
            ids = [n["id"] for n in graph["nodes"]]
            pos = arrays["layout_positions"]
            layout = MapperLayout(positions={i: tuple(float(v) for v in pos[j])
                                             for j, i in enumerate(ids)},
                                  thumbnail_node_ids=rec["layout"]["thumbnail_node_ids"],
                                  thumbnails=arrays["layout_thumbnails"],
                                  seed=rec["layout"]["seed"])
    meta = {k: arrays[f"meta_{k}"] for k in rec["meta_keys"]} or None
    return CloudAnalysis(spec=spec, filters=filters, prepared=prep, meta=meta,
                         significance=sig, significance_landmarks=rec["significance_landmarks"],
                         barcodes=bars, klein=klein,
                         primary_circle_fraction_before_filtering=rec.get(
                             "primary_circle_fraction_before_filtering",
                             rec.get("circle_fraction_before_filtering")),
                         graph=graph, nerve_betti=rec["nerve_betti"], layout=layout,
                         row=rec["row"], mapper_confidence=None if rec.get("mapper_confidence")
                         is None else MapperConfidence(**rec["mapper_confidence"]))


def load_caption(folder, tag):
    """The caption :func:`save_result` kept for `tag` (None if none was given)."""
    return _read_json(Path(folder) / result_files(tag)["analysis_json"]).get("caption")


def analysis_numbers(result):
    """What an experiment's summary says of one analysis: counts, readings, bars, graph.

    Returns
    -------
    dict
        ``n_filters, n_points, n_constant, n_kept, dim``, the four Klein-bottle readings
        and ``klein`` (None unless the filters are 3x3),
        ``primary_circle_fraction_before_filtering``, ``long_bars``, ``barcodes`` (the
        barcodes numbers, or None) and ``mapper`` (nodes, links, nerve Betti numbers and the
        graph's parameters, or None).
    """
    prep, spec = result.prepared, result.spec
    klein = None if result.klein is None else result.klein.to_dict()
    out = {"n_filters": int(len(result.filters)), "n_points": prep.n_points,
           "n_constant": prep.n_constant, "n_kept": prep.n_kept,
           "dim": int(result.filters.shape[1]),
           **{k: None if klein is None else klein[k] for k in KLEIN_KEYS}, "klein": klein,
           "primary_circle_fraction_before_filtering":
               result.primary_circle_fraction_before_filtering,
           "long_bars": None, "barcodes": None, "mapper": None}
    if result.barcodes is not None:
        b = spec.barcodes
        record = barcodes_record(prep, result.barcodes, k=spec.k, p=spec.p,
                                 landmarks=b.landmarks, maxdim=b.maxdim, seed=b.seed)
        if result.significance is not None:
            record.update(significance_keys(result.significance))
        out["barcodes"] = {k: record.get(k) for k in _BARCODE_NUMBERS}
        out["long_bars"] = out["barcodes"]["long_bars"]
    if result.graph is not None:
        params = result.graph["graph"]
        out["mapper"] = {**graph_numbers(result.graph, result.nerve_betti),
                         **{k: result.row[k] for k in ("nerve_confidence", "nerve_robust",
                                                       "nerve_loop_confidence",
                                                       "nerve_stability")},
                         "resolution": params["resolution"], "gain": params["gain"],
                         **{k: params[k] for k in ("lens", "min_cluster_fraction",
                                                   "n_unassigned")}}
    return out


def graph_numbers(graph, betti):
    """Nodes, links and the Betti numbers [b0, b1] of the nerve of a Mapper graph."""
    return {"nodes": len(graph["nodes"]), "links": len(graph["links"]),
            "nerve_betti": [int(b) for b in betti]}
