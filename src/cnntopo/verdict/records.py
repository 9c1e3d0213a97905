"""The JSON records of barcodes and Mapper graphs, one builder each for the CLI and the runner.

Both ``cnntopo barcodes`` / ``cnntopo mapper`` and the experiment runner write these
records, so a key means the same thing in every file. Row indices follow one rule:

- ``landmark_rows`` and the nodes' ``members`` are rows of the **input** array, the one
  given to :func:`cnntopo.cloud.prepare.prepare_points` (the CLI's ``POINTS.npy``; the runner's
  ``filters_<tag>.npy``), so a row can be looked up in the file it came from and in its
  ``.meta.npz``;
- ``landmark_points`` and ``point_rows`` are about the **filtered** cloud (the points after
  normalising and the density filtration; the runner saves it as ``points_<tag>.npy``):
  ``landmark_points`` indexes its rows, and ``point_rows[i]`` is the input row of its row
  ``i``, so ``members`` map to filtered rows by ``searchsorted(point_rows, members)``.

``input_file`` and ``filtered_file`` name those two files where they exist (None otherwise).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["barcodes_record", "mapper_record", "diagrams_json", "LONG_BARS_RULE"]

LONG_BARS_RULE = "never dies, or length >= 0.2 x scale (homology.long_bars)"


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def diagrams_json(diagrams):
    """Persistence diagrams as JSON lists ``[[birth, death], ...]``, a never-dying death null.

    Parameters
    ----------
    diagrams : list of array_like, each of shape (m_q, 2)

    Returns
    -------
    list of list of [float, float or None]
    """
    return [[[float(b), None if math.isinf(d) else float(d)] for b, d in np.asarray(dgm).reshape(-1, 2)]
            for dgm in diagrams]


def _rows_part(prep, input_file, filtered_file):
    return {"n_input": int(prep.n_input), "n_constant": int(prep.n_constant),
            "n_points": int(prep.n_points), "n_kept": int(prep.n_kept),
            "input_file": None if input_file is None else str(input_file),
            "filtered_file": None if filtered_file is None else str(filtered_file)}


def barcodes_record(prep, bars, *, k=None, p=None, landmarks=None, maxdim=None, seed=None,
                    long_bars=None, significance=None, input_file=None, filtered_file=None):
    """The barcodes JSON record of lazy witness barcodes of a prepared cloud.

    Parameters
    ----------
    prep : cnntopo.cloud.prepare.PreparedPoints
        The points the barcodes were computed from (``prep.points``).
    bars : cnntopo.topology.witness.WitnessBarcodes
    k, p : int and float, optional
        The density filtration rho(k, p), if any.
    landmarks : int, optional
        Landmarks asked for (``bars.n_landmarks`` says how many were used).
    maxdim, seed : int, optional
        As passed to :func:`cnntopo.topology.witness.lazy_witness_barcodes`; `maxdim` defaults to
        the number of diagrams less one.
    long_bars : list of int, optional
        The fixed-fraction counts per dimension (:func:`cnntopo.topology.witness.long_bars` with
        ``scale=bars.scale``); computed when not given.
    significance : cnntopo.topology.significance.SignificantBars, optional
        Adds the keys of :func:`significance_keys` (``significant``,
        ``significant_confidence``, ...).
    input_file, filtered_file : str, optional
        Names of the files the row indices refer to (see the module docstring).

    Returns
    -------
    dict
        ``n_input, n_constant, n_points, n_kept, input_file, filtered_file, k, p,
        landmarks_requested, n_landmarks, all_points_are_landmarks, nu, maxdim, coeff,
        seed, covering_radius, scale, long_bars_rule, long_bars, n_bars, landmark_rows,
        landmark_points, diagrams`` (+ the keys of :func:`significance_keys`).
    """
    from ..topology.witness import long_bars as count_long

    if long_bars is None:
        long_bars = [int(count_long(d, scale=bars.scale)) for d in bars.diagrams]
    landmark_points = np.asarray(bars.landmarks, dtype=np.int64)
    record = {
        **_rows_part(prep, input_file, filtered_file),
        "k": k, "p": p,
        "landmarks_requested": landmarks, "n_landmarks": int(len(landmark_points)),
        "all_points_are_landmarks": bool(bars.all_points_are_landmarks),
        "nu": int(bars.nu), "maxdim": int(len(bars.diagrams) - 1 if maxdim is None else maxdim),
        "coeff": int(bars.coeff), "seed": seed,
        "covering_radius": _finite(bars.covering_radius), "scale": _finite(bars.scale),
        "long_bars_rule": LONG_BARS_RULE,
        "long_bars": [int(c) for c in long_bars],
        "n_bars": [int(len(np.asarray(d).reshape(-1, 2))) for d in bars.diagrams],
        # rows of the input (POINTS.npy), then rows of the filtered cloud
        "landmark_rows": np.asarray(prep.rows)[landmark_points].tolist(),
        "landmark_points": landmark_points.tolist(),
        "diagrams": diagrams_json(bars.diagrams),
    }
    if significance is not None:
        record.update(significance_keys(significance))
    return record


def significance_keys(significance):
    """The keys a significance result adds to a barcodes record or a summary.

    Parameters
    ----------
    significance : cnntopo.topology.significance.SignificantBars

    Returns
    -------
    dict
        ``significant`` (counts per dimension), ``significant_confidence`` (share of
        resamples giving each count), ``significant_undecided`` (per dimension: too few
        points to tell) and ``significance`` (the whole result: method, reference,
        thresholds, distribution, parameters).
    """
    return {"significant": [int(c) for c in significance.counts],
            "significant_confidence": [round(float(c), 4) for c in significance.confidence],
            "significant_undecided": [bool(u) for u in significance.undecided],
            "significance": significance.to_dict()}


def mapper_record(prep, graph, *, k=None, p=None, nerve_betti=None, confidence=None,
                  input_file=None, filtered_file=None):
    """The Mapper JSON record (node-link data) of a graph of a prepared cloud.

    Parameters
    ----------
    prep : cnntopo.cloud.prepare.PreparedPoints
        The points the graph was built from; its nodes' ``members`` index ``prep.points``.
    graph : dict
        Node-link graph as :func:`cnntopo.topology.mapper.mapper_graph` returns it.
    k, p : int and float, optional
        The density filtration rho(k, p), if any.
    nerve_betti : list of int, optional
        Betti numbers of the nerve (:func:`cnntopo.topology.nerve.nerve_betti`); computed when not
        given.
    confidence : cnntopo.topology.mapper_stats.MapperConfidence, optional
        The bootstrap confidence of the graph's components and loops, and its stability:
        added as ``graph["confidence"]``.
    input_file, filtered_file : str, optional
        Names of the files the row indices refer to (see the module docstring).

    Returns
    -------
    dict
        The graph with ``members`` turned into input rows, and ``graph`` (the parameters)
        extended by ``n_input, n_constant, n_points, n_kept, input_file,
        filtered_file, k, p, nerve_betti, point_rows`` (and ``confidence``).
    """
    from ..topology.nerve import nerve_betti as betti

    rows = np.asarray(prep.rows, dtype=np.int64)
    if nerve_betti is None:
        nerve_betti = betti(graph)
    out = dict(graph)
    out["graph"] = dict(graph.get("graph", {}), **_rows_part(prep, input_file, filtered_file),
                        k=k, p=p, nerve_betti=[int(b) for b in nerve_betti],
                        point_rows=rows.tolist())
    if confidence is not None:
        out["graph"]["confidence"] = confidence.to_dict()
    out["nodes"] = [dict(n, members=rows[np.asarray(n["members"], dtype=np.int64)].tolist())
                    for n in graph["nodes"]]
    return out
