"""Run one paper experiment end to end: weights -> filters -> barcodes and Mapper -> report.

:func:`run_experiment` checks first that everything it needs is on disk (CIFAR-10, VGG
weights), and only then writes into ``out_dir``::

    out_dir/run/                 the trained ensemble (reused and resumed on a rerun)
    out_dir/filters_<tag>.npy    the analysis' input: its filters as read (and subsampled)
    out_dir/points_<tag>.npy     the analysed point cloud (normalised, density filtered)
    out_dir/mapper_<tag>.png     Mapper graph with mean-filter thumbnails, coloured by size
    out_dir/mapper_theta_<tag>.png  the same graph coloured by the angle on the primary
                                 circle (3x3 filters)
    out_dir/mapper_<tag>.json    the graph as node-link JSON (cnntopo.records)
    out_dir/graph_<tag>.html     the graph as an interactive page (every colouring)
    out_dir/barcodes_<tag>.png   lazy witness barcodes
    out_dir/barcodes_<tag>.json  the intervals and long-bar counts (cnntopo.records)
    out_dir/klein_<tag>.png      density of the filters on the Klein bottle (3x3 filters)
    out_dir/grid.png             Figures 8 and 13: rows = layers, columns = iterations
    out_dir/summary.json         the config used and every number below
    out_dir/index.html           the report (cnntopo.report)

In the JSON files ``members`` and ``landmark_rows`` are rows of ``filters_<tag>.npy``, as
they are rows of POINTS.npy in the CLI's files; ``point_rows`` and ``landmark_points`` tie
them to ``points_<tag>.npy`` (see :mod:`cnntopo.records`).
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
    """The run's manifest (strict, :func:`cnntopo.rundir.read_manifest`), or None if absent."""
    from ..rundir import is_run_dir, read_manifest

    return read_manifest(run_dir) if is_run_dir(run_dir) else None


def _run_complete(run_dir, checkpoints):
    """True when `run_dir` already holds every checkpoint asked for (no training needed)."""
    from ..rundir import run_checkpoints

    manifest = _read_manifest(run_dir)
    if manifest is None:
        return False
    have = run_checkpoints(run_dir, manifest)
    return all(int(it) in have and have[int(it)].is_file() for it in checkpoints)


def _train_config(src, data_dir):
    from ..train import TrainConfig

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
    diff = _run_covers(manifest["config"], asdict(_train_config(config["source"], data_dir)))
    if diff:
        raise ValueError(f"{run_dir} holds a run with other settings (differs in "
                         f"{', '.join(diff)}); choose another out_dir or remove that run.")


def _cifar_missing(data_dir):
    folder = Path(data_dir)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    return [name for name in _CIFAR_FILES if not (folder / name).is_file()]


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
    from ..downloads import DownloadError, artifact_name, fetch

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
    from ..downloads import describe_file

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
    (:func:`cnntopo.downloads.fetch`: the cache, the official URL, then the package registry)
    and checked to be a VGG of the configured depth.

    `run_dir` is where a ``train`` source's networks live (default ``out_dir/run``; a shared
    run of several experiments lives elsewhere, see ``plan.py``).

    Returns
    -------
    dict
        ``{"run_dir", "train": bool, "weights": Path or None, "weights_file": dict or None}``:
        where the networks live, whether they still have to be trained, and for pretrained
        weights what :func:`cnntopo.downloads.describe_file` says of the file plus
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
        if _read_manifest(run_dir) is None:
            raise FileNotFoundError(f"source.path {str(run_dir)!r} is not a run directory "
                                    f"(no manifest.json); train one with `cnntopo train`.")
        out["run_dir"] = run_dir
    elif src["kind"] == "vgg":
        from ..pretrained import load_vgg_weights

        given = weights if weights is not None else src["weights"]
        if given is not None:
            path, fetched = _vgg_weights(src["name"], given), None
        else:
            path, fetched = _fetch_vgg(src, progress)
        load_vgg_weights(path, src["name"], features_only=True)  # the right network?
        out["weights"] = path
        out["weights_file"] = _weights_record(path, fetched)
    elif src["kind"] == "efficientnet-lite0":
        from ..pretrained import efficientnet_lite0_path

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
        from ..filters import load_state_dict

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
        from ..rundir import run_checkpoints

        its = list(run_checkpoints(self.plan["run_dir"]))
        return its[-1] if its else None

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
                    raise ValueError(f"network {spec['network']} does not exist: layer {layer} "
                                     f"holds {n_nets} networks (0 to {n_nets - 1}).")
                keep = meta["network"] == spec["network"]
                f, meta = f[keep], {k: v[keep] for k, v in meta.items()}
            parts.append(f)
            metas.append(meta)
            names.append(info["layer_name"])
        sizes = sorted({p.shape[1] for p in parts})
        if len(sizes) > 1:
            raise ValueError(f"layers {layers} have filters of different sizes ({sizes}); "
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


def _shape(d):
    r = math.isqrt(d)
    return (r, r) if r * r == d else (1, d)


def _prepare(filters, spec):
    from ..pipeline import prepare_points

    return prepare_points(filters, k=spec["k"], p=spec["p"])


def _graph_numbers(graph, betti=None):
    """Nodes, links and the Betti numbers [b0, b1] of the nerve (its flag complex)."""
    from ..nerve import nerve_betti

    return {"nodes": len(graph["nodes"]), "links": len(graph["links"]),
            "nerve_betti": list(nerve_betti(graph) if betti is None else betti)}


def _circle_fraction(points):
    from ..klein import primary_circle_fraction

    return primary_circle_fraction(points) if points.shape[1] == 9 else None


_KLEIN_KEYS = ("primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
               "off_model_fraction")


def _klein(points):
    """Klein-bottle readings of 3x3 filters (None for other shapes)."""
    from ..klein import klein_readings

    return klein_readings(points) if points.shape[1] == 9 else None


def _klein_numbers(readings):
    """The four headline readings (None without 3x3 filters) and the full record."""
    if readings is None:
        return {**{k: None for k in _KLEIN_KEYS}, "klein": None}
    d = readings.to_dict()
    return {**{k: d[k] for k in _KLEIN_KEYS}, "klein": d}


def _klein_png(readings, title, tag, out_dir):
    """The density of the filters near the Klein bottle on its fundamental square."""
    from ..klein import klein_histogram
    from ..plots import plot_klein_density, save_figure

    near = readings.klein_distance <= readings.radius
    counts, theta_edges, phi_edges = klein_histogram(readings.theta[near], readings.phi[near])
    fig = plot_klein_density(counts, theta_edges, phi_edges, n_total=readings.n_points,
                             radius=readings.radius, title=title)
    save_figure(fig, out_dir / f"klein_{tag}.png", dpi=120)
    return f"klein_{tag}.png"


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


# The significance test of a cloud without a barcodes block: the paper's 100 landmarks.
_VERDICT_BARS = {"landmarks": 100, "maxdim": 1, "coeff": 2, "seed": 0}
# Fewer points than this cannot be tested (significant_bars needs 5).
_MIN_TESTABLE = 5


def _significance(prep, b, rho):
    """Significant bars of `prep.points` with the landmarks of `b` (None if too few points)."""
    from ..describe import cloud_significance

    if prep.n_filtered < _MIN_TESTABLE:
        return None
    return cloud_significance(prep, b["landmarks"], k=rho["k"], p=rho["p"],
                              maxdim=b["maxdim"], coeff=b["coeff"], seed=b["seed"])


def _verdict(prep, sig, readings, rho, *, layer, iteration, betti=None, **extra):
    """The verdict row of one cloud (cnntopo.describe.verdict_row), `extra` keys in front."""
    from ..describe import verdict_row

    row = verdict_row(layer=layer, iteration=iteration, n_filters=prep.n_input,
                      n_kept=prep.n_filtered, k=rho["k"], p=rho["p"], significance=sig,
                      klein=None if readings is None else readings.to_dict(),
                      nerve_betti=betti)
    return {**extra, **row}


def _barcodes(prep, b, rho, sig, title, tag, out_dir):
    """Lazy witness barcodes of `prep.points`: (numbers for the summary, files written)."""
    from ..homology import lazy_witness_barcodes
    from ..plots import plot_barcodes, save_figure
    from ..records import barcodes_record

    bars = lazy_witness_barcodes(prep.points, b["landmarks"], nu=b["nu"], maxdim=b["maxdim"],
                                 coeff=b["coeff"], seed=b["seed"],
                                 max_filtration=b["max_filtration"],
                                 num_divisions=b["num_divisions"])
    record = barcodes_record(prep, bars, k=rho["k"], p=rho["p"], landmarks=b["landmarks"],
                             maxdim=b["maxdim"], seed=b["seed"], significance=sig,
                             input_file=f"filters_{tag}.npy", filtered_file=f"points_{tag}.npy")
    atomic_write_json(out_dir / f"barcodes_{tag}.json", record)
    if sig is not None:
        title += "\nsignificant bars " + str(record["significant"]) + " (confidence " + \
            ", ".join(f"{c:.2f}" for c in record["significant_confidence"]) + ")"
    save_figure(plot_barcodes(bars.diagrams, title=title,
                              long_counts=record["long_bars"] if sig is None else record["significant"]),
                out_dir / f"barcodes_{tag}.png", dpi=120)
    numbers = {k: record.get(k) for k in ("n_landmarks", "all_points_are_landmarks",
                                          "covering_radius", "scale", "significant",
                                          "significant_confidence", "significant_undecided",
                                          "long_bars_rule", "long_bars", "n_bars")}
    return numbers, {"barcodes_png": f"barcodes_{tag}.png", "barcodes_json": f"barcodes_{tag}.json"}


def _mapper_outputs(prep, meta, readings, m, rho, shape, title, tag, out_dir):
    """Mapper graph of `prep.points`: (numbers for the summary, files written).

    `meta` holds the ``network`` and ``iteration`` of each point of `prep.points` (or is
    None); `readings` its Klein-bottle readings (or None).
    """
    from ..graph_html import write_mapper_html
    from ..layout import mapper_layout
    from ..nerve import nerve_betti
    from ..node_colours import node_colourings
    from ..plots import plot_mapper, save_figure
    from ..records import mapper_record

    graph = _mapper_graph(prep.points, m)
    betti = nerve_betti(graph)
    atomic_write_json(out_dir / f"mapper_{tag}.json",
                      mapper_record(prep, graph, k=rho["k"], p=rho["p"], nerve_betti=betti,
                                    input_file=f"filters_{tag}.npy",
                                    filtered_file=f"points_{tag}.npy"), indent=None)
    # one layout for the figures and the page, so the pictures match
    lay = mapper_layout(graph, prep.points, shape=shape, seed=m["seed"],
                        n_thumbnails=m["n_thumbnails"])
    colourings = {c.key: c for c in node_colourings(graph, points=prep.points, meta=meta,
                                                     readings=readings)}
    files = {"mapper_png": f"mapper_{tag}.png", "mapper_json": f"mapper_{tag}.json",
             "graph_html": f"graph_{tag}.html"}
    save_figure(plot_mapper(graph, prep.points, shape=shape, layout=lay,
                            colours=colourings["size"], title=title),
                out_dir / files["mapper_png"], dpi=120)
    if "theta" in colourings:
        files["mapper_theta_png"] = f"mapper_theta_{tag}.png"
        save_figure(plot_mapper(graph, prep.points, shape=shape, layout=lay,
                                colours=colourings["theta"], title=title),
                    out_dir / files["mapper_theta_png"], dpi=120)
    write_mapper_html(out_dir / files["graph_html"], graph, prep.points, shape=shape,
                      title=title, positions=lay, colours=list(colourings.values()),
                      rows=prep.rows)
    numbers = {**_graph_numbers(graph, betti), "resolution": m["resolution"], "gain": m["gain"],
               **{k: graph["graph"][k] for k in ("lens", "min_cluster_fraction", "n_unassigned")}}
    return numbers, files


def _run_analysis(config, a, source, out_dir):
    tag, t0 = a["tag"], time.perf_counter()
    try:
        raw, info = source.filters(a, a["iteration"])
        raw, meta = _subsample(raw, a, info.get("meta"))
        prep = _prepare(raw, a)
    except ValueError as exc:
        raise ValueError(f"analysis {tag!r}: {exc}") from exc
    points = prep.points
    # the input rows (filters_) that members and landmark_rows index, and the filtered cloud
    atomic_save_npy(out_dir / f"filters_{tag}.npy", raw)
    atomic_save_npy(out_dir / f"points_{tag}.npy", points)
    files = {"filters": f"filters_{tag}.npy", "points": f"points_{tag}.npy"}
    meta = None if meta is None else {k: v[prep.rows] for k, v in meta.items()}
    readings = _klein(points)
    res = {"tag": tag, "layer": a["layer"], "layer_names": info["layer_names"],
           "iteration": source.iteration(a["iteration"]), "channel": a["channel"],
           "network": a["network"], "k": a["k"], "p": a["p"], "n_filters": int(len(raw)),
           "n_points": prep.n_points, "n_constant": prep.n_constant,
           "n_filtered": prep.n_filtered, "dim": int(raw.shape[1]),
           **_klein_numbers(readings),
           "primary_circle_fraction_before_filtering": None,
           "long_bars": None, "barcodes": None, "mapper": None, "verdict": None}
    if a["k"] is not None:
        everything = _prepare(raw, {"k": None, "p": None}).points
        res["primary_circle_fraction_before_filtering"] = _circle_fraction(everything)
    caption = _caption(config, a)
    sig = _significance(prep, a["barcodes"] or _VERDICT_BARS, a)
    if a["barcodes"] is not None:
        res["barcodes"], more = _barcodes(prep, a["barcodes"], a, sig, f"Barcodes of {caption}",
                                          tag, out_dir)
        res["long_bars"] = res["barcodes"]["long_bars"]
        files.update(more)
    if readings is not None:
        files["klein_png"] = _klein_png(readings, f"Klein bottle, {caption}", tag, out_dir)
    if a["mapper"] is not None:
        m = a["mapper"]
        title = f"Mapper({m['resolution']}, {m['gain']:g}) of {caption}"
        res["mapper"], more = _mapper_outputs(prep, meta, readings, m, a, _shape(raw.shape[1]),
                                              title, tag, out_dir)
        files.update(more)
    res["verdict"] = _verdict(prep, sig, readings, a, layer=a["layer"],
                              iteration=res["iteration"], tag=tag,
                              betti=(res["mapper"] or {}).get("nerve_betti"))
    res["files"], res["seconds"] = files, round(time.perf_counter() - t0, 3)
    return res


def _run_grid(config, source, out_dir, bar):
    """Figures 8 and 13: a Mapper graph per (row = layer, column = iteration)."""
    from ..layout import mapper_layout
    from ..plots import plot_evolution_grid, save_figure

    grid = config["grid"]
    rows, its = grid["rows"], grid["iterations"]
    cells = [[None] * len(its) for _ in rows]
    numbers = [[None] * len(its) for _ in rows]
    n_thumbnails = min(r["mapper"]["n_thumbnails"] for r in rows)
    for c, it in enumerate(its):  # iterations outside: each checkpoint is read once
        for r, row in enumerate(rows):
            try:
                raw = _subsample(source.filters(row, it)[0], row)[0]
                prep = _prepare(raw, row)
            except ValueError as exc:
                raise ValueError(f"grid row {row['label']!r}, iteration {it}: {exc}") from exc
            graph = _mapper_graph(prep.points, row["mapper"])
            shape = _shape(raw.shape[1])
            cells[r][c] = (graph, prep.points,
                           mapper_layout(graph, prep.points, shape=shape,
                                         seed=row["mapper"]["seed"], n_thumbnails=n_thumbnails))
            readings = _klein(prep.points)
            graph_numbers = _graph_numbers(graph)
            numbers[r][c] = {"iteration": it, "n_filters": int(len(raw)),
                             "n_points": prep.n_points, "n_filtered": prep.n_filtered,
                             **_klein_numbers(readings), **graph_numbers,
                             "verdict": _verdict(prep, _significance(prep, _VERDICT_BARS, row),
                                                 readings, row, layer=row["layer"],
                                                 iteration=it, tag=f"{row['label']}, {it}",
                                                 betti=graph_numbers["nerve_betti"])}
            bar.update()
    fig = plot_evolution_grid(cells, row_labels=[r["label"] for r in rows],
                              col_labels=[f"{it:,} iterations" for it in its],
                              shape=_shape(cells[0][0][1].shape[1]),
                              n_thumbnails=n_thumbnails)
    save_figure(fig, out_dir / "grid.png", dpi=110)
    return {"iterations": its, "rows": [r["label"] for r in rows], "cells": numbers,
            "file": "grid.png"}


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

    from ..train import train

    manifest = _read_manifest(run_dir)
    config = _train_config(src, data_dir)
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
        (normalised) -> ``n_filtered``, ``long_bars`` per dimension, ``barcodes``
        (covering radius, landmarks), the Klein-bottle readings
        ``primary_circle_fraction``, ``primary_circle_coverage``, ``klein_fraction``,
        ``off_model_fraction`` and ``klein`` (all of
        :meth:`cnntopo.klein.KleinReadings.to_dict`; None unless the filters are 3x3),
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
        raise ValueError(f"The 'out_dir' parameter of run_experiment must be a folder; "
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
    from ..report import write_report

    write_report(out_dir, summary)
    return summary
