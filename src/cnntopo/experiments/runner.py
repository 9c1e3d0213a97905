"""Run one paper experiment end to end: weights -> filters -> barcodes and Mapper -> report.

:func:`run_experiment` checks first that everything it needs is on disk (CIFAR-10, VGG
weights), and only then writes into ``out_dir``::

    out_dir/run/                 the trained ensemble (reused and resumed on a rerun)
    out_dir/points_<tag>.npy     the analysed point cloud (normalised, density filtered)
    out_dir/mapper_<tag>.png     Mapper graph with mean-filter thumbnails
    out_dir/mapper_<tag>.json    the graph as node-link JSON
    out_dir/graph_<tag>.html     the graph as an interactive page
    out_dir/barcodes_<tag>.png   lazy witness barcodes
    out_dir/barcodes_<tag>.json  the intervals and long-bar counts
    out_dir/grid.png             Figures 8 and 13: rows = layers, columns = iterations
    out_dir/summary.json         the config used and every number below
    out_dir/index.html           the report (cnntopo.report)
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .._io import atomic_save_npy, atomic_write_json
from ._config import list_experiments, load_config, resolve_scale, validate_config

__all__ = ["list_experiments", "load_config", "resolve_scale", "validate_config",
           "check_inputs", "run_experiment"]

_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch")


# ------------------------------------------------------------------ inputs, checked first

def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _read_manifest(run_dir):
    import json

    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid run manifest: {exc}") from None


def _run_complete(run_dir, checkpoints):
    """True when `run_dir` already holds every checkpoint asked for (no training needed)."""
    manifest = _read_manifest(run_dir)
    if not manifest:
        return False
    have = {}
    for entry in manifest.get("checkpoints") or []:
        if isinstance(entry, dict) and "iteration" in entry:
            have[int(entry["iteration"])] = entry.get("file") or entry.get("path")
    for it in checkpoints:
        rel = have.get(int(it))
        if rel is None or not (Path(run_dir) / rel).is_file():
            return False
    return True


def _train_config(src, data_dir):
    from ..train import TrainConfig

    return TrainConfig(arch=src["arch"], widths=tuple(src["widths"]), no_pool=src["no_pool"],
                       dataset=src["dataset"], n_nets=src["nets"], iterations=src["iterations"],
                       checkpoints=list(src["checkpoints"]), seed=src["seed"],
                       batch_size=src["batch_size"], lr=src["lr"], device=src["device"],
                       data_dir=None if data_dir is None else str(data_dir))


def _check_same_run(config, run_dir, data_dir):
    """An existing ``out_dir/run`` must have been trained with the same settings."""
    from dataclasses import asdict

    manifest = _read_manifest(run_dir)
    if not manifest or not isinstance(manifest.get("config"), dict):
        return
    want = asdict(_train_config(config["source"], data_dir))
    have = manifest["config"]
    # where the data lives and which device trained do not change the weights' meaning
    diff = sorted(k for k in want if k not in ("data_dir", "device") and have.get(k) != want[k]
                  and not (isinstance(want[k], tuple) and list(want[k]) == have.get(k)))
    if diff:
        raise ValueError(f"{run_dir} holds a run with other settings (differs in "
                         f"{', '.join(diff)}); choose another out_dir or remove that run.")


def _cifar_missing(data_dir):
    folder = Path(data_dir)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    return [name for name in _CIFAR_FILES if not (folder / name).is_file()]


def _vgg_weights(name, weights):
    """The weights file of VGG `name`: a file, or the one ``<name>*.pth`` in a folder."""
    how = (f"pass the ImageNet weights of {name} with --weights PATH (weights=... in Python); "
           f"get them with `cnntopo download {name} --dest DIR`")
    if weights is None:
        raise FileNotFoundError(f"{name} needs its pretrained weights: {how}.")
    path = Path(weights)
    if path.is_dir():
        found = sorted(p for p in path.iterdir()
                       if p.name.startswith(name) and p.suffix in (".pth", ".pt", ".safetensors"))
        if len(found) != 1:
            raise FileNotFoundError(f"{path} holds {len(found)} {name} weight files "
                                    f"({', '.join(p.name for p in found) or 'none'}); {how}.")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"the {name} weights {str(path)!r} do not exist; {how}.")
    return path


def check_inputs(config, out_dir, *, data_dir=None, weights=None):
    """Check that everything `config` needs exists, before any work; create nothing.

    Returns
    -------
    dict
        ``{"run_dir", "train": bool, "weights": Path or None}``: where the networks live and
        whether they still have to be trained.

    Raises
    ------
    FileNotFoundError
        With the command or flag that provides what is missing.
    """
    config = validate_config(config)
    src = config["source"]
    out = {"run_dir": None, "train": False, "weights": None}
    if src["kind"] == "train":
        run_dir = Path(out_dir) / "run"
        out["run_dir"] = run_dir
        _check_same_run(config, run_dir, data_dir)
        out["train"] = not _run_complete(run_dir, src["checkpoints"])
        if out["train"] and src["dataset"].startswith("cifar10"):
            if data_dir is None:
                raise FileNotFoundError(
                    f"experiment {config['name']!r} trains on CIFAR-10: pass the folder of the "
                    f"CIFAR-10 python batches with --data-dir DIR (data_dir=... in Python); get "
                    f"them with `cnntopo download cifar10 --data-dir DIR`.")
            missing = _cifar_missing(data_dir)
            if missing:
                raise FileNotFoundError(
                    f"experiment {config['name']!r} trains on CIFAR-10 but {data_dir} lacks "
                    f"{', '.join(missing)}; get them with "
                    f"`cnntopo download cifar10 --data-dir {data_dir}`.")
    elif src["kind"] == "run":
        run_dir = Path(src["path"])
        if not (run_dir / "manifest.json").is_file() and not (run_dir / "checkpoints").is_dir():
            raise FileNotFoundError(f"source.path {str(run_dir)!r} is not a run directory "
                                    f"(no manifest.json); train one with `cnntopo train`.")
        out["run_dir"] = run_dir
    elif src["kind"] == "vgg":
        given = weights if weights is not None else src["weights"]
        out["weights"] = _vgg_weights(src["name"], given)
    elif src["kind"] == "efficientnet-lite0":
        from ..pretrained import efficientnet_lite0_path

        out["weights"] = Path(efficientnet_lite0_path())
    return out


# ------------------------------------------------------------------ the weights source

class _Source:
    """Filters of one source, loading each checkpoint or weights file once."""

    def __init__(self, src, plan):
        self.src, self.plan = src, plan
        self._key, self._sd, self._patches = None, None, None

    def _state_dict(self, iteration):
        from ..filters import load_state_dict

        where = self.plan["run_dir"] or self.plan["weights"]
        if self._key != (where, iteration):
            self._sd = None  # drop the previous checkpoint before loading the next
            self._sd = load_state_dict(where, iteration=iteration)
            self._key = (where, iteration)
        return self._sd

    def iteration(self, iteration):
        """The checkpoint actually read: `iteration`, or the last one of a run directory."""
        if iteration is not None or self.plan["run_dir"] is None:
            return iteration
        its = [e.get("iteration") for e in (_read_manifest(self.plan["run_dir"]) or {})
               .get("checkpoints") or [] if isinstance(e, dict)]
        its = [int(i) for i in its if isinstance(i, int)]
        return max(its) if its else None

    def filters(self, spec, iteration=None):
        """(filters (n, h*w), description) of an analysis or grid row."""
        if self.src["kind"] == "patches":
            if self._patches is None:
                from ..patches import natural_patches

                self._patches = natural_patches(self.src["n_patches"],
                                                top_contrast=self.src["top_contrast"],
                                                seed=self.src["seed"])
            return self._patches, {"layer_names": []}
        from ..filters import filters_from_source

        sd = self._state_dict(iteration)
        kernel = 3 if self.src["kind"] == "efficientnet-lite0" else None
        layers = spec["layer"] if isinstance(spec["layer"], list) else [spec["layer"]]
        parts, names = [], []
        for layer in layers:
            f, meta, info = filters_from_source(sd, layer, channel=spec["channel"],
                                                kernel_size=kernel)
            if spec["network"] is not None:
                n_nets = int(meta["network"].max()) + 1
                if spec["network"] >= n_nets:
                    raise ValueError(f"network {spec['network']} does not exist: layer {layer} "
                                     f"holds {n_nets} networks (0 to {n_nets - 1}).")
                f = f[meta["network"] == spec["network"]]
            parts.append(f)
            names.append(info["layer_name"])
        sizes = sorted({p.shape[1] for p in parts})
        if len(sizes) > 1:
            raise ValueError(f"layers {layers} have filters of different sizes ({sizes}); "
                             f"pool same-size layers only.")
        return np.concatenate(parts), {"layer_names": names}


def _subsample(filters, spec):
    if spec["subsample"] is None or spec["subsample"] >= len(filters):
        return filters
    rng = np.random.default_rng(spec["seed"])
    return filters[np.sort(rng.choice(len(filters), spec["subsample"], replace=False))]


def _shape(d):
    r = math.isqrt(d)
    return (r, r) if r * r == d else (1, d)


def _prepare(filters, spec):
    from ..pipeline import prepare_points

    return prepare_points(filters, k=spec["k"], p=spec["p"])


def _graph_numbers(graph):
    import networkx as nx

    from ..mapper import to_networkx

    g = to_networkx(graph)
    return {"nodes": g.number_of_nodes(), "links": g.number_of_edges(),
            "cycles": len(nx.cycle_basis(g)), "components": nx.number_connected_components(g)}


def _circle_fraction(points):
    from ..klein import primary_circle_fraction

    return primary_circle_fraction(points) if points.shape[1] == 9 else None


def _mapper_graph(points, m):
    from ..mapper import mapper_graph

    return mapper_graph(points, resolution=m["resolution"], gain=m["gain"],
                        vne=None if m["vne"] == "none" else m["vne"], n_bins=m["n_bins"],
                        lens=m["lens"], min_cluster_fraction=m["min_cluster_fraction"],
                        seed=m["seed"])


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


def _barcodes(points, b, title, tag, out_dir):
    """Lazy witness barcodes of `points`: (numbers for the summary, files written)."""
    from ..homology import lazy_witness_barcodes, long_bars
    from ..plots import plot_barcodes, save_figure

    bars = lazy_witness_barcodes(points, b["landmarks"], nu=b["nu"], maxdim=b["maxdim"],
                                 coeff=b["coeff"], seed=b["seed"],
                                 max_filtration=b["max_filtration"],
                                 num_divisions=b["num_divisions"])
    longs = [int(long_bars(d, scale=bars.scale)) for d in bars.diagrams]
    diagrams = [[[float(x), None if math.isinf(y) else float(y)] for x, y in np.asarray(d)]
                for d in bars.diagrams]
    numbers = {"n_landmarks": int(len(bars.landmarks)),
               "all_points_are_landmarks": bool(bars.all_points_are_landmarks),
               "covering_radius": _finite(float(bars.covering_radius)),
               "scale": _finite(float(bars.scale)),
               "long_bars_rule": "never dies, or length >= 0.2 x scale (homology.long_bars)",
               "long_bars": longs, "n_bars": [len(d) for d in diagrams]}
    atomic_write_json(out_dir / f"barcodes_{tag}.json", {
        **numbers, **{k: b[k] for k in ("nu", "maxdim", "coeff", "seed")},
        "landmark_rows": [int(i) for i in np.asarray(bars.landmarks)], "diagrams": diagrams})
    save_figure(plot_barcodes(bars.diagrams, title=title, long_counts=longs),
                out_dir / f"barcodes_{tag}.png", dpi=120)
    return numbers, {"barcodes_png": f"barcodes_{tag}.png", "barcodes_json": f"barcodes_{tag}.json"}


def _mapper_outputs(points, rows, m, shape, title, tag, out_dir):
    """Mapper graph of `points`: (numbers for the summary, files written)."""
    from ..graph_html import write_mapper_html
    from ..plots import plot_mapper, save_figure

    graph = _mapper_graph(points, m)
    graph["graph"]["point_rows"] = [int(i) for i in rows]  # rows of the raw filters
    atomic_write_json(out_dir / f"mapper_{tag}.json", graph, indent=None)
    fig = plot_mapper(graph, points, shape=shape, n_thumbnails=m["n_thumbnails"], seed=m["seed"],
                      title=title)
    save_figure(fig, out_dir / f"mapper_{tag}.png", dpi=120)
    # the page reuses the figure's layout, so the two pictures match
    write_mapper_html(out_dir / f"graph_{tag}.html", graph, points, shape=shape, title=title,
                      positions=fig.mapper_drawing.positions)
    numbers = {**_graph_numbers(graph), "resolution": m["resolution"], "gain": m["gain"],
               **{k: graph["graph"][k] for k in ("lens", "min_cluster_fraction", "n_unassigned")}}
    return numbers, {"mapper_png": f"mapper_{tag}.png", "mapper_json": f"mapper_{tag}.json",
                     "graph_html": f"graph_{tag}.html"}


def _run_analysis(config, a, source, out_dir):
    tag, t0 = a["tag"], time.perf_counter()
    try:
        raw, info = source.filters(a, a["iteration"])
        raw = _subsample(raw, a)
        prep = _prepare(raw, a)
    except ValueError as exc:
        raise ValueError(f"analysis {tag!r}: {exc}") from exc
    points = prep.points
    atomic_save_npy(out_dir / f"points_{tag}.npy", points)
    files = {"points": f"points_{tag}.npy"}
    res = {"tag": tag, "layer": a["layer"], "layer_names": info["layer_names"],
           "iteration": source.iteration(a["iteration"]), "channel": a["channel"],
           "network": a["network"], "k": a["k"], "p": a["p"], "n_filters": int(len(raw)),
           "n_points": prep.n_points, "n_constant": prep.n_constant,
           "n_filtered": prep.n_filtered, "dim": int(raw.shape[1]),
           "primary_circle_fraction": _circle_fraction(points),
           "primary_circle_fraction_before_filtering": None,
           "long_bars": None, "barcodes": None, "mapper": None}
    if a["k"] is not None:
        everything = _prepare(raw, {"k": None, "p": None}).points
        res["primary_circle_fraction_before_filtering"] = _circle_fraction(everything)
    caption = _caption(config, a)
    if a["barcodes"] is not None:
        res["barcodes"], more = _barcodes(points, a["barcodes"], f"Barcodes of {caption}", tag,
                                          out_dir)
        res["long_bars"] = res["barcodes"]["long_bars"]
        files.update(more)
    if a["mapper"] is not None:
        m = a["mapper"]
        title = f"Mapper({m['resolution']}, {m['gain']:g}) of {caption}"
        res["mapper"], more = _mapper_outputs(points, prep.rows, m, _shape(raw.shape[1]), title,
                                              tag, out_dir)
        files.update(more)
    res["files"], res["seconds"] = files, round(time.perf_counter() - t0, 3)
    return res


def _run_grid(config, source, out_dir, bar):
    """Figures 8 and 13: a Mapper graph per (row = layer, column = iteration)."""
    from ..plots import plot_evolution_grid, save_figure

    grid = config["grid"]
    rows, its = grid["rows"], grid["iterations"]
    cells = [[None] * len(its) for _ in rows]
    numbers = [[None] * len(its) for _ in rows]
    for c, it in enumerate(its):  # iterations outside: each checkpoint is read once
        for r, row in enumerate(rows):
            try:
                raw = _subsample(source.filters(row, it)[0], row)
                prep = _prepare(raw, row)
            except ValueError as exc:
                raise ValueError(f"grid row {row['label']!r}, iteration {it}: {exc}") from exc
            graph = _mapper_graph(prep.points, row["mapper"])
            cells[r][c] = (graph, prep.points)
            numbers[r][c] = {"iteration": it, "n_filters": int(len(raw)),
                             "n_points": prep.n_points, "n_filtered": prep.n_filtered,
                             "primary_circle_fraction": _circle_fraction(prep.points),
                             **_graph_numbers(graph)}
            bar.update()
    fig = plot_evolution_grid(cells, row_labels=[r["label"] for r in rows],
                              col_labels=[f"{it:,} iterations" for it in its],
                              shape=_shape(cells[0][0][1].shape[1]),
                              n_thumbnails=min(r["mapper"]["n_thumbnails"] for r in rows))
    save_figure(fig, out_dir / "grid.png", dpi=110)
    return {"iterations": its, "rows": [r["label"] for r in rows], "cells": numbers,
            "file": "grid.png"}


def _accuracies(manifest):
    out = []
    for entry in (manifest or {}).get("checkpoints") or []:
        if not isinstance(entry, dict):
            continue
        acc = entry.get("test_accuracy")
        acc = [acc] if isinstance(acc, (int, float)) else list(acc or [])
        acc = [float(x) for x in acc if x is not None and math.isfinite(float(x))]
        out.append({"iteration": entry.get("iteration"), "n_networks": len(acc),
                    "mean": float(np.mean(acc)) if acc else None,
                    "min": min(acc) if acc else None, "max": max(acc) if acc else None})
    return out


def _train(src, run_dir, data_dir, progress):
    from ..train import train

    resume = (Path(run_dir) / "manifest.json").is_file()
    return train(_train_config(src, data_dir), run_dir, resume=resume, progress=progress)


def run_experiment(config, out_dir, *, data_dir=None, weights=None, progress=True):
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
        VGG weights file (or a folder holding one); overrides ``source.weights``.
    progress : bool
        Show progress bars (stderr).

    Returns
    -------
    dict
        The summary also written to ``out_dir/summary.json``: ``name, title, paper, scale,
        config, source`` (kind, run directory, weights, test accuracies per checkpoint),
        ``analyses`` (per analysis: ``tag``, point counts ``n_filters`` -> ``n_points``
        (normalised) -> ``n_filtered``, ``long_bars`` per dimension, ``barcodes``
        (covering radius, landmarks), ``primary_circle_fraction``, ``mapper`` (nodes, links,
        cycles, components), ``files``), ``grid`` (or None), ``files``, ``seconds``.

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
        raise ValueError(f"The 'out_dir' parameter of run_experiment must be a folder; "
                         f"{str(out_dir)!r} is a file.")
    plan = check_inputs(config, out_dir, data_dir=data_dir, weights=weights)
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

    summary = {
        "name": config["name"], "title": config["title"], "paper": config["paper"],
        "notes": config["notes"], "scale": config["scale"], "config": config,
        "source": {"kind": src["kind"],
                   "run_dir": None if plan["run_dir"] is None else str(plan["run_dir"]),
                   "weights": None if plan["weights"] is None else str(plan["weights"]),
                   "trained_now": bool(plan["train"]),
                   "test_accuracy": _accuracies(manifest)},
        "analyses": analyses, "grid": grid,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    summary["files"] = {"summary": "summary.json", "report": "index.html"}
    atomic_write_json(out_dir / "summary.json", summary)
    from ..report import write_report

    write_report(out_dir, summary)
    return summary
