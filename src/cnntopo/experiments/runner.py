"""Run one paper experiment end to end: weights -> filters -> barcodes and Mapper -> report.

:func:`run_experiment` checks first that everything it needs is on disk (CIFAR-10, VGG
weights), and only then writes into ``out_dir``::

    out_dir/run/                 the trained ensemble (reused and resumed on a rerun)
    out_dir/filters_<tag>.npy    the analysis' input: its filters as read (and subsampled)
    out_dir/points_<tag>.npy     the analysed point cloud (normalised, density filtered)
    out_dir/mapper_<tag>.png     Mapper graph with mean-filter thumbnails, coloured by size
    out_dir/mapper_theta_<tag>.png  the same graph coloured by the angle on the primary
                                 circle (3x3 filters)
    out_dir/mapper_<tag>.json    the graph as node-link JSON (cnntopo.verdict.records)
    out_dir/graph_<tag>.html     the graph as an interactive page (every colouring)
    out_dir/barcodes_<tag>.png   lazy witness barcodes
    out_dir/barcodes_<tag>.json  the intervals and long-bar counts (cnntopo.verdict.records)
    out_dir/klein_<tag>.png      density of the filters on the Klein bottle (3x3 filters)
    out_dir/analysis_<tag>.json  the rest of the analysis (spec, verdict row, readings,
    out_dir/analysis_<tag>.npz   layout), so that `cnntopo redraw` redraws without computing
    out_dir/grid.png             Figures 8 and 13: rows = layers, columns = iterations
    out_dir/grid/                the grid's cells, saved the same way (tags r<row>-c<column>)
    out_dir/summary.json         the config used and every number below
    out_dir/index.html           the report (cnntopo.viz.report)

In the JSON files ``members`` and ``landmark_rows`` are rows of ``filters_<tag>.npy``, as
they are rows of POINTS.npy in the CLI's files; ``point_rows`` and ``landmark_points`` tie
them to ``points_<tag>.npy`` (see :mod:`cnntopo.verdict.records`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..files import atomic_write_json
from ..validation import InputError
from ..verdict.analysis import KLEIN_KEYS, AnalysisSpec, analyse
from ..verdict.results import analysis_numbers, graph_numbers, save_result
from ..viz.draw import draw_grid, draw_result
from ._config import list_experiments, load_config, resolve_scale, validate_config

__all__ = ["list_experiments", "load_config", "resolve_scale", "validate_config",
           "check_inputs", "run_experiment"]

# ------------------------------------------------------------------ inputs, checked first

def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _read_manifest(run_dir):
    """The run's manifest (strict, :func:`cnntopo.sources.rundir.read_manifest`), or None if absent."""
    from ..sources.rundir import is_run_dir, read_manifest

    return read_manifest(run_dir) if is_run_dir(run_dir) else None


def run_complete(run_dir, checkpoints):
    """True when `run_dir` already holds every checkpoint asked for (no training needed)."""
    from ..sources.rundir import run_checkpoints

    manifest = _read_manifest(run_dir)
    if manifest is None:
        return False
    have = run_checkpoints(run_dir, manifest)
    return all(int(it) in have and have[int(it)].is_file() for it in checkpoints)


def train_config(src, data_dir):
    from ..training.loop import TrainConfig

    return TrainConfig(arch=src["arch"], widths=tuple(src["widths"]), no_pool=src["no_pool"],
                       dataset=src["dataset"], n_nets=src["nets"], iterations=src["iterations"],
                       checkpoints=list(src["checkpoints"]), seed=src["seed"],
                       batch_size=src["batch_size"], lr=src["lr"], device=src["device"],
                       data_dir=None if data_dir is None else str(data_dir))


def _run_covers(have, want):
    """The settings in `want` (TrainConfig dict) that a run trained with `have` lacks.

    Where the data lives, which device trained and in what precision do not change the
    weights' meaning. A longer run of the same settings covers a shorter one when it saved
    every checkpoint asked for: training is the same up to any iteration whatever the length
    of the run (the batches and dropout of iteration t come from (seed, t), the rates are
    constant), so Figures 7 and 8 read checkpoints of Figure 5's run (see ``plan.py``).
    """
    diff = []
    for k, v in want.items():
        if k in ("data_dir", "device", "precision"):
            continue
        got = have.get(k)
        if isinstance(v, tuple):
            v = list(v)
        if k == "iterations":
            ok = isinstance(got, int) and got >= v
        elif k == "checkpoints":
            ok = isinstance(got, list) and set(v) <= set(got)
        else:
            ok = got == v
        if not ok:
            diff.append(k)
    return sorted(diff)


def _check_same_run(config, run_dir, data_dir):
    """An existing run directory must hold a run with the same settings (or a longer one)."""
    from dataclasses import asdict

    manifest = _read_manifest(run_dir)
    if manifest is None:
        return
    diff = _run_covers(manifest["config"], asdict(train_config(config["source"], data_dir)))
    if diff:
        raise InputError(f"{run_dir} holds a run with other settings (differs in "
                         f"{', '.join(diff)}); choose another out_dir or remove that run.")


_WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".h5", ".hdf5", ".keras", ".onnx")


def _vgg_weights(name, weights):
    """The weights file of VGG `name`: a file, or the one weights file naming it in a folder."""
    how = (f"pass the ImageNet weights of {name} with --weights PATH (weights=... in Python); "
           f"get them with `cnntopo download {name} --dest DIR` (torchvision .pth) or "
           f"`cnntopo download {name} --format keras --dest DIR`")
    path = Path(weights)
    if path.is_dir():
        found = sorted(p for p in path.iterdir()
                       if name in p.name and p.suffix.lower() in _WEIGHT_SUFFIXES)
        if len(found) != 1:
            raise FileNotFoundError(f"{path} holds {len(found)} {name} weight files "
                                    f"({', '.join(p.name for p in found) or 'none'}); {how}.")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"the {name} weights {str(path)!r} do not exist; {how}.")
    return path


def _fetch_vgg(src, progress):
    """Get the configured ImageNet VGG file (cache, official URL, registry); (path, Fetched)."""
    from ..sources.downloads import DownloadError, artifact_name, fetch

    wanted = artifact_name(src["name"], src["format"])
    try:
        got = fetch(wanted, progress=progress)
    except DownloadError as exc:
        raise FileNotFoundError(
            f"{src['name']} needs its ImageNet weights, which could not be fetched ({exc}). "
            f"Pass a copy with --weights PATH (torchvision .pth, Keras .h5 or ONNX).") from None
    if got.artifact.name != wanted:
        import warnings

        warnings.warn(f"{src['name']} runs on {got.artifact.name} ({got.path.name}), the "
                      f"fallback of {wanted}: {got.artifact.provenance}", stacklevel=3)
    return got.path, got


def _weights_record(path, fetched):
    """What the report says about the weights: file, checksums, provenance, where from."""
    from ..sources.downloads import describe_file

    record = describe_file(path, artifact=None if fetched is None else fetched.artifact)
    if fetched is None:
        record["obtained_from"] = "--weights (given by the user)"
    elif fetched.source == "cache":
        record["obtained_from"] = f"the download cache {path.parent} (checksums verified)"
    else:
        record["obtained_from"] = fetched.source
    return record


def check_inputs(config, out_dir, *, data_dir=None, weights=None, progress=True, run_dir=None):
    """Check that everything `config` needs exists, before any work; create nothing in `out_dir`.

    Pretrained VGG weights that are not given are fetched into the download cache
    (:func:`cnntopo.sources.downloads.fetch`: the cache, the official URL, then the package registry)
    and checked to be a VGG of the configured depth.

    `run_dir` is where a ``train`` source's networks live (default ``out_dir/run``; a shared
    run of several experiments lives elsewhere, see ``plan.py``).

    Returns
    -------
    dict
        ``{"run_dir", "train": bool, "weights": Path or None, "weights_file": dict or None}``:
        where the networks live, whether they still have to be trained, and for pretrained
        weights what :func:`cnntopo.sources.downloads.describe_file` says of the file plus
        ``obtained_from``.

    Raises
    ------
    FileNotFoundError
        With the command or flag that provides what is missing.
    ValueError
        If the weights are not a VGG of the configured depth.
    """
    config = validate_config(config)
    src = config["source"]
    out = {"run_dir": None, "train": False, "weights": None, "weights_file": None}
    if src["kind"] == "train":
        run_dir = Path(out_dir) / "run" if run_dir is None else Path(run_dir)
        out["run_dir"] = run_dir
        _check_same_run(config, run_dir, data_dir)
        out["train"] = not run_complete(run_dir, src["checkpoints"])
        if out["train"] and src["dataset"].startswith("cifar10"):
            if data_dir is None:
                raise FileNotFoundError(
                    f"experiment {config['name']!r} trains on CIFAR-10: pass the folder of the "
                    f"CIFAR-10 python batches with --data-dir DIR (data_dir=... in Python); get "
                    f"them with `cnntopo download cifar10 --data-dir DIR`.")
            from ..training.data import cifar10_missing

            missing = cifar10_missing(data_dir)
            if missing:
                raise FileNotFoundError(
                    f"experiment {config['name']!r} trains on CIFAR-10 but {data_dir} lacks "
                    f"{', '.join(missing)}; get them with "
                    f"`cnntopo download cifar10 --data-dir {data_dir}`.")
    elif src["kind"] == "run":
        run_dir = Path(src["path"])
        if _read_manifest(run_dir) is None:
            raise FileNotFoundError(f"source.path {str(run_dir)!r} is not a run directory "
                                    f"(no manifest.json); train one with `cnntopo train`.")
        out["run_dir"] = run_dir
    elif src["kind"] == "vgg":
        from ..sources.pretrained import load_vgg_weights

        given = weights if weights is not None else src["weights"]
        if given is not None:
            path, fetched = _vgg_weights(src["name"], given), None
        else:
            path, fetched = _fetch_vgg(src, progress)
        load_vgg_weights(path, src["name"], features_only=True)  # the right network?
        out["weights"] = path
        out["weights_file"] = _weights_record(path, fetched)
    elif src["kind"] == "efficientnet-lite0":
        from ..sources.pretrained import efficientnet_lite0_path

        out["weights"] = Path(efficientnet_lite0_path())
        out["weights_file"] = _weights_record(out["weights"], None)
        out["weights_file"]["obtained_from"] = "installed package"
    return out


# ------------------------------------------------------------------ the weights source

class _Source:
    """Filters of one source, loading each checkpoint or weights file once."""

    def __init__(self, src, plan):
        self.src, self.plan = src, plan
        self._key, self._sd, self._patches = None, None, None

    def _state_dict(self, iteration):
        from ..sources.filters import load_state_dict

        where = self.plan["run_dir"] or self.plan["weights"]
        if self._key != (where, iteration):
            self._sd = None  # drop the previous checkpoint before loading the next
            self._sd = load_state_dict(where, iteration=iteration)
            self._key = (where, iteration)
        return self._sd

    def iteration(self, iteration):
        """The checkpoint actually read: `iteration`, else the source's last one (a trained
        source's own, which a longer shared run goes beyond; a run directory's last)."""
        if iteration is not None or self.plan["run_dir"] is None:
            return iteration
        if self.src["kind"] == "train":
            return int(self.src["iterations"])
        from ..sources.rundir import run_checkpoints

        its = list(run_checkpoints(self.plan["run_dir"]))
        return its[-1] if its else None

    def filters(self, spec, iteration=None):
        """(filters (n, h*w), description) of an analysis or grid row."""
        if self.src["kind"] == "patches":
            if self._patches is None:
                from ..sources.patches import natural_patches

                self._patches = natural_patches(self.src["n_patches"],
                                                top_contrast=self.src["top_contrast"],
                                                seed=self.src["seed"])
            return self._patches, {"layer_names": []}
        from ..sources.filters import filters_from_source

        sd = self._state_dict(self.iteration(iteration))
        kernel = 3 if self.src["kind"] == "efficientnet-lite0" else None
        layers = spec["layer"] if isinstance(spec["layer"], list) else [spec["layer"]]
        parts, names, metas = [], [], []
        for layer in layers:
            f, meta, info = filters_from_source(sd, layer, channel=spec["channel"],
                                                kernel_size=kernel)
            if spec["network"] is not None:
                n_nets = int(meta["network"].max()) + 1
                if spec["network"] >= n_nets:
                    raise InputError(f"network {spec['network']} does not exist: layer {layer} "
                                     f"holds {n_nets} networks (0 to {n_nets - 1}).")
                keep = meta["network"] == spec["network"]
                f, meta = f[keep], {k: v[keep] for k, v in meta.items()}
            parts.append(f)
            metas.append(meta)
            names.append(info["layer_name"])
        sizes = sorted({p.shape[1] for p in parts})
        if len(sizes) > 1:
            raise InputError(f"layers {layers} have filters of different sizes ({sizes}); "
                             f"pool same-size layers only.")
        meta = {k: np.concatenate([m[k] for m in metas]) for k in ("network", "iteration")}
        return np.concatenate(parts), {"layer_names": names, "meta": meta}


def _subsample(filters, spec, meta=None):
    """(filters, meta) cut to ``spec["subsample"]`` rows drawn with ``spec["seed"]``."""
    if spec["subsample"] is None or spec["subsample"] >= len(filters):
        return filters, meta
    rng = np.random.default_rng(spec["seed"])
    rows = np.sort(rng.choice(len(filters), spec["subsample"], replace=False))
    return filters[rows], (None if meta is None else {k: v[rows] for k, v in meta.items()})


def _layers_text(layer):
    if layer is None:
        return "natural image patches"
    if not isinstance(layer, list):
        return f"layer {layer}"
    if len(layer) > 2 and layer == list(range(layer[0], layer[-1] + 1)):
        return f"layers {layer[0]}-{layer[-1]}"
    return "layers " + ", ".join(map(str, layer))


def _caption(config, a):
    what = [_layers_text(a["layer"])]
    if a["channel"] is not None:
        what.append(f"input channel {a['channel']}")
    if a["network"] is not None:
        what.append(f"network {a['network']}")
    if a["k"] is not None:
        what.append(f"rho({a['k']}, {a['p']})")
    return f"{config['name']}: " + ", ".join(what)


# The grid's cells are saved results (load_result) in this folder of the experiment's.
_GRID_FOLDER = "grid"
_CELL_NUMBERS = ("n_filters", "n_points", "n_kept", *KLEIN_KEYS, "klein")


def _run_analysis(config, a, source, out_dir):
    tag, t0 = a["tag"], time.perf_counter()
    try:
        raw, info = source.filters(a, a["iteration"])
        raw, meta = _subsample(raw, a, info.get("meta"))
        iteration = source.iteration(a["iteration"])
        result = analyse(raw, AnalysisSpec.from_config(a), layer=a["layer"],
                         iteration=iteration, meta=meta)
    except InputError as exc:
        raise InputError(f"analysis {tag!r}: {exc}") from exc
    caption = _caption(config, a)
    saved = save_result(result, out_dir, tag, caption=caption)
    drawn = draw_result(result, out_dir, tag, caption=caption)
    res = {"tag": tag, "layer": a["layer"], "layer_names": info["layer_names"],
           "iteration": iteration, "channel": a["channel"], "network": a["network"],
           "k": a["k"], "p": a["p"], **analysis_numbers(result),
           "verdict": {"tag": tag, **result.row}}
    res["files"] = {**saved, **drawn}
    res["seconds"] = round(time.perf_counter() - t0, 3)
    return res


def _run_grid(config, source, out_dir, bar):
    """Figures 8 and 13: a Mapper graph per (row = layer, column = iteration)."""
    grid = config["grid"]
    rows, its = grid["rows"], grid["iterations"]
    n_thumbnails = min(r["mapper"]["n_thumbnails"] for r in rows)
    cells = [[None] * len(its) for _ in rows]
    numbers = [[None] * len(its) for _ in rows]
    tags = [[f"r{r}-c{c}" for c in range(len(its))] for r in range(len(rows))]
    folder = out_dir / _GRID_FOLDER
    for c, it in enumerate(its):  # iterations outside: each checkpoint is read once
        for r, row in enumerate(rows):
            spec = AnalysisSpec.from_config(dict(row, mapper=dict(row["mapper"],
                                                                   n_thumbnails=n_thumbnails)))
            try:
                raw = _subsample(source.filters(row, it)[0], row)[0]
                result = analyse(raw, spec, layer=row["layer"], iteration=it)
            except InputError as exc:
                raise InputError(f"grid row {row['label']!r}, iteration {it}: {exc}") from exc
            save_result(result, folder, tags[r][c], caption=f"{row['label']}, {it:,} iterations")
            cells[r][c] = result
            n = analysis_numbers(result)
            numbers[r][c] = {"iteration": it, **{k: n[k] for k in _CELL_NUMBERS},
                             **graph_numbers(result.graph, result.nerve_betti),
                             "verdict": {"tag": f"{row['label']}, {it}", **result.row}}
            bar.update()
    draw_grid(cells, out_dir / "grid.png", row_labels=[r["label"] for r in rows],
              iterations=its, n_thumbnails=n_thumbnails)
    return {"iterations": its, "rows": [r["label"] for r in rows], "cells": numbers,
            "file": "grid.png", "folder": _GRID_FOLDER, "tags": tags,
            "n_thumbnails": n_thumbnails}


def _accuracies(manifest, iterations=None):
    """Test accuracy per checkpoint of the run (only `iterations`, when given)."""
    out = []
    for entry in (manifest or {}).get("checkpoints") or []:
        if not isinstance(entry, dict):
            continue
        if iterations is not None and entry.get("iteration") not in iterations:
            continue
        acc = entry.get("test_accuracy")
        acc = [acc] if isinstance(acc, (int, float)) else list(acc or [])
        acc = [float(x) for x in acc if x is not None and math.isfinite(float(x))]
        out.append({"iteration": entry.get("iteration"), "n_networks": len(acc),
                    "mean": float(np.mean(acc)) if acc else None,
                    "min": min(acc) if acc else None, "max": max(acc) if acc else None})
    return out


def _train(src, run_dir, data_dir, progress):
    from dataclasses import replace

    from ..training.loop import train

    manifest = _read_manifest(run_dir)
    config = train_config(src, data_dir)
    if manifest is not None:  # resume the run there, which may be a longer one (_run_covers)
        have = manifest["config"]
        config = replace(config, iterations=have["iterations"], checkpoints=have["checkpoints"])
    return train(config, run_dir, resume=manifest is not None, progress=progress)


def run_experiment(config, out_dir, *, data_dir=None, weights=None, progress=True,
                   run_dir=None):
    """Run an experiment config and write its figures, numbers and report into `out_dir`.

    Parameters
    ----------
    config : dict
        As :func:`load_config` returns it (a raw config is resolved at its ``scale``, default
        the paper's).
    out_dir : path-like
        Output folder, created when the inputs check out. A finished ``out_dir/run`` is
        reused and an interrupted one resumed, so a rerun only redoes the analyses.
    data_dir : path-like, optional
        CIFAR-10 python batches (or IDX MNIST files); MNIST defaults to the bundled copy.
    weights : path-like, optional
        VGG weights file of any format cnntopo reads (or a folder holding one); overrides
        ``source.weights``. Without either, the ImageNet file of ``source.format`` is fetched
        (cache, official URL, package registry).
    progress : bool
        Show progress bars (stderr).
    run_dir : path-like, optional
        Where a ``train`` source's networks live, trained here when unfinished; default
        ``out_dir/run``. Experiments with the same training settings can share one.

    Returns
    -------
    dict
        The summary also written to ``out_dir/summary.json``: ``name, title, paper, scale,
        config, source`` (kind, run directory, weights, ``weights_file``: file name, MD5,
        SHA-256, provenance and where it came from; test accuracies per checkpoint),
        ``analyses`` (per analysis: ``tag``, point counts ``n_filters`` -> ``n_points``
        (normalised) -> ``n_kept``, ``long_bars`` per dimension, ``barcodes``
        (covering radius, landmarks), the Klein-bottle readings
        ``primary_circle_fraction``, ``primary_circle_coverage``, ``klein_fraction``,
        ``off_model_fraction`` and ``klein`` (all of
        :meth:`cnntopo.topology.klein.KleinReadings.to_dict`; None unless the filters are 3x3),
        ``mapper`` (``nodes``, ``links``, ``nerve_betti`` [b0, b1] of the flag complex,
        ``resolution``, ``gain``), ``files``), ``grid`` (or None; per cell the point
        counts, the Klein readings and the Mapper numbers), ``files``, ``seconds``.

    Raises
    ------
    FileNotFoundError
        Before any work, when CIFAR-10 or pretrained weights are missing; the message gives
        the command that fetches them.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    config = validate_config(config)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"The 'out_dir' parameter of run_experiment must be a folder; "
                         f"{str(out_dir)!r} is a file.")
    plan = check_inputs(config, out_dir, data_dir=data_dir, weights=weights, progress=progress,
                        run_dir=run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = config["source"]
    manifest = None
    if src["kind"] == "train":
        if plan["train"]:
            manifest = _train(src, plan["run_dir"], data_dir, progress)
        else:
            manifest = _read_manifest(plan["run_dir"])
    elif src["kind"] == "run":
        manifest = _read_manifest(plan["run_dir"])

    source = _Source(src, plan)
    steps = len(config["analyses"]) + (
        len(config["grid"]["rows"]) * len(config["grid"]["iterations"]) if config["grid"] else 0)
    with tqdm(total=steps, desc=config["name"], unit="analysis", disable=not progress) as bar:
        analyses = []
        for a in config["analyses"]:
            analyses.append(_run_analysis(config, a, source, out_dir))
            bar.update()
        grid = _run_grid(config, source, out_dir, bar) if config["grid"] else None

    verdict = [a["verdict"] for a in analyses]
    if grid:
        verdict += [cell["verdict"] for row in grid["cells"] for cell in row]
    summary = {
        "name": config["name"], "title": config["title"], "paper": config["paper"],
        "verdict": {"rows": verdict},
        "notes": config["notes"], "scale": config["scale"], "config": config,
        "source": {"kind": src["kind"],
                   "run_dir": None if plan["run_dir"] is None else str(plan["run_dir"]),
                   "weights": None if plan["weights"] is None else str(plan["weights"]),
                   "weights_file": plan["weights_file"],
                   "trained_now": bool(plan["train"]),
                   "test_accuracy": _accuracies(
                       manifest, set(src["checkpoints"]) if src["kind"] == "train" else None)},
        "analyses": analyses, "grid": grid,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    summary["files"] = {"summary": "summary.json", "report": "index.html"}
    atomic_write_json(out_dir / "summary.json", summary)
    from ..viz.report import write_report

    write_report(out_dir, summary)
    return summary
