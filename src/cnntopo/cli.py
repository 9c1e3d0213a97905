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

__all__ = ["main"]


class CLIError(Exception):
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


def _diagrams_json(diagrams):
    return [[[float(b), None if math.isinf(d) else float(d)] for b, d in dgm] for dgm in diagrams]


def _check_outputs(*paths):
    for p in paths:
        if p is not None and Path(p).is_dir():
            raise CLIError(f"output {str(p)!r} is a directory; expected a file path")


# ---------------------------------------------------------------------------- verbs

def cmd_barcodes(args) -> int:
    from ._io import atomic_write_json
    from .homology import lazy_witness_barcodes, long_bars
    from .pipeline import load_points, prepare_points

    _check_outputs(args.json, args.png)
    prep = prepare_points(load_points(args.points), k=args.k, p=args.p)
    bars = lazy_witness_barcodes(prep.points, args.landmarks, nu=args.nu, maxdim=args.maxdim,
                                 coeff=args.coeff, seed=args.seed, max_filtration=args.max_filtration,
                                 num_divisions=args.divisions)
    longs = [int(long_bars(d, scale=bars.scale)) for d in bars.diagrams]
    out = {
        "n_input": prep.n_input, "n_constant": prep.n_constant,
        "n_points": prep.n_points, "n_filtered": prep.n_filtered,
        "k": args.k, "p": args.p,
        "landmarks_requested": args.landmarks, "n_landmarks": int(len(bars.landmarks)),
        "all_points_are_landmarks": bool(bars.all_points_are_landmarks),
        "nu": args.nu, "maxdim": args.maxdim, "coeff": args.coeff, "seed": args.seed,
        "covering_radius": float(bars.covering_radius),
        "scale": float(bars.scale),
        "long_bars_rule": "never dies, or length >= 0.2 x scale",
        "long_bars": longs,
        "landmark_rows": prep.rows[bars.landmarks].tolist(),
        "diagrams": _diagrams_json(bars.diagrams),
    }
    if bars.all_points_are_landmarks:
        print(f"note: only {prep.n_filtered} points are left, not more than the {args.landmarks} "
              f"landmarks asked for: every point is a landmark", file=sys.stderr)
    fig = None
    if args.png:
        from .plots import plot_barcodes
        title = f"lazy witness barcodes, {len(bars.landmarks)} landmarks, nu={args.nu}, n={prep.n_filtered}"
        fig = plot_barcodes(bars.diagrams, title=title, long_counts=longs)
    atomic_write_json(args.json, out)
    if fig is not None:
        from .plots import save_figure
        save_figure(fig, args.png)
    print(f"{prep.n_filtered} points -> long bars per dimension {longs} -> {args.json}")
    return 0


def cmd_mapper(args) -> int:
    import numpy as np

    from ._io import atomic_write_json
    from .mapper import mapper_graph
    from .pipeline import load_points, prepare_points

    _check_outputs(args.json, args.png, args.html)
    prep = prepare_points(load_points(args.points), k=args.k, p=args.p)
    lens = None
    if args.lens in ("pca", "neighborhood"):
        lens = args.lens
    elif args.lens:
        if not Path(args.lens).is_file():
            raise CLIError(f"--lens file {args.lens!r} does not exist")
        full = np.asarray(np.load(args.lens, allow_pickle=False), dtype=float)
        if full.shape[0] != prep.n_input:
            raise CLIError(f"--lens has {full.shape[0]} rows; expected one per point ({prep.n_input})")
        lens = full[prep.rows]
    shape = _filter_shape(prep.points.shape[1], args.shape)
    graph = mapper_graph(prep.points, lens=lens, resolution=args.resolution, gain=args.gain,
                         vne=None if args.vne == "none" else args.vne, n_bins=args.bins,
                         min_cluster_fraction=args.min_cluster_fraction, seed=args.seed)
    # members refer to rows of POINTS.npy (the contract), not to the filtered cloud
    out = dict(graph)
    out["graph"] = dict(graph.get("graph", {}), n_input=prep.n_input, n_points=prep.n_points,
                        n_filtered=prep.n_filtered, k=args.k, p=args.p)
    out["nodes"] = [dict(n, members=prep.rows[np.asarray(n["members"], dtype=int)].tolist()) for n in graph["nodes"]]
    fig = html = None
    if args.png:
        from .plots import plot_mapper
        fig = plot_mapper(graph, prep.points, shape=shape, seed=args.seed,
                          title=f"Mapper({args.resolution}, {args.gain:g}), n={prep.n_filtered}")
    if args.html:
        from .graph_html import mapper_html
        html = mapper_html(graph, prep.points, shape=shape,
                           title=f"Mapper({args.resolution}, {args.gain:g}) of {Path(args.points).name}")
    atomic_write_json(args.json, out)
    if fig is not None:
        from .plots import save_figure
        save_figure(fig, args.png)
    if html is not None:
        from ._io import atomic_write_text
        atomic_write_text(args.html, html)
    print(f"{prep.n_filtered} points -> {len(out['nodes'])} nodes, {len(out['links'])} links -> {args.json}")
    return 0


def cmd_filters(args) -> int:
    import numpy as np

    from ._io import atomic_save_npy, atomic_write_json
    from .filters import filters_from_source

    if args.list:
        from .filters import describe_layers
        for line in describe_layers(args.source, kernel_size=args.kernel_size):
            print(line)
        return 0
    if args.layer is None or args.output is None:
        raise CLIError("filters needs --layer L and -o OUT.npy (or --list)")
    filt, meta, info = filters_from_source(args.source, args.layer, iteration=args.iteration,
                                           channel=args.channel, kernel_size=args.kernel_size)
    out = Path(args.output)
    meta_path = out.with_suffix(".meta.npz")
    info_path = out.with_suffix(".json")
    buf_meta = {k: np.asarray(v) for k, v in meta.items()}
    import io
    from ._io import atomic_write_bytes
    b = io.BytesIO()
    np.savez(b, **buf_meta)
    atomic_save_npy(out, filt)
    atomic_write_bytes(meta_path, b.getvalue())
    atomic_write_json(info_path, dict(info, n_filters=int(filt.shape[0]), dim=int(filt.shape[1]),
                                      rows="ordered by network, then output map, then input map",
                                      meta_file=meta_path.name))
    print(f"{filt.shape[0]} spatial filters of dimension {filt.shape[1]} from {info.get('layer_name', args.layer)} -> {out}")
    return 0


def cmd_train(args) -> int:
    from .train import TrainConfig, load_run_config, train

    if args.resume:
        config = load_run_config(args.resume)
        manifest = train(config, args.resume, resume=True, progress=not args.quiet)
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
        config = TrainConfig(arch=args.arch, widths=widths, no_pool=args.no_pool, dataset=args.dataset,
                             n_nets=args.nets, iterations=args.iterations, checkpoints=checkpoints,
                             seed=args.seed, batch_size=args.batch_size, lr=args.lr, device=args.device,
                             data_dir=args.data_dir)
        manifest = train(config, args.out, resume=False, progress=not args.quiet)
        out = args.out
    last = manifest["checkpoints"][-1] if manifest.get("checkpoints") else None
    if last:
        acc = last.get("test_accuracy") or []
        mean = sum(acc) / len(acc) if acc else float("nan")
        print(f"iteration {last['iteration']}: mean test accuracy {mean:.4f} over {len(acc)} networks -> {out}")
    return 0


def cmd_download(args) -> int:
    if args.what == "cifar10":
        if not args.data_dir:
            raise CLIError("download cifar10 needs --data-dir DIR")
        from .data import download_cifar10
        path = download_cifar10(args.data_dir)
    else:
        from .pretrained import download_vgg
        path = download_vgg(args.what, args.dest or ".")
    print(f"ready: {path}")
    return 0


def _run_config(name_or_path, args) -> int:
    from .experiments.runner import load_config, run_experiment

    config = load_config(name_or_path, args.scale)
    out = args.out or f"runs/{config['name']}-{args.scale}"
    summary = run_experiment(config, out, data_dir=args.data_dir, weights=args.weights,
                             progress=not args.quiet)
    print(f"report: {Path(out) / 'index.html'}")
    _print_summary(summary)
    return 0


def cmd_reproduce(args) -> int:
    if args.list or not args.figure:
        from .experiments.runner import list_experiments

        for name, title in list_experiments():
            print(f"{name:<14} {title}")
        return 0
    return _run_config(args.figure, args)


def cmd_run(args) -> int:
    return _run_config(args.config, args)


def cmd_demo(args) -> int:
    args.figure, args.scale, args.list = "fig2", "laptop", False
    args.weights = None
    return cmd_reproduce(args)


def _print_summary(summary) -> None:
    for a in summary.get("analyses", []):
        print(f"  {a.get('tag', '')}: {a.get('n_filtered', '?')} points, long bars {a.get('long_bars')}, "
              f"primary-circle fraction {a.get('primary_circle_fraction')}")


# ---------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnntopo", description="The topology of CNN weights: spatial filters -> "
                                "density filtration -> lazy witness barcodes and Mapper graphs.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def density(sp):
        sp.add_argument("--k", type=int, help="density filtration: k-th nearest neighbour (with --p)")
        sp.add_argument("--p", type=float, help="density filtration: fraction of densest points kept, in (0, 1]")

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
    b.add_argument("--json", required=True, metavar="OUT.json")
    b.add_argument("--png", metavar="OUT.png")
    b.set_defaults(func=cmd_barcodes)

    m = sub.add_parser("mapper", help="Mapper graph (PCA lenses, VNE metric, single linkage + gap rule)")
    m.add_argument("points", metavar="POINTS.npy")
    density(m)
    m.add_argument("--resolution", type=int, required=True)
    m.add_argument("--gain", type=float, required=True)
    m.add_argument("--vne", choices=["variance", "std", "none"], default="variance",
                   help="column scaling of the metric (paper: variance)")
    m.add_argument("--bins", type=int, default=10, help="histogram bins of the gap rule (default 10)")
    m.add_argument("--lens", metavar="pca|neighborhood|LENS.npy", help="pca (default, the paper's), neighborhood "
                   "(Isomap of the 10-NN graph, seeded by --seed) or your own lens .npy, one row per input point")
    m.add_argument("--min-cluster-fraction", type=float, default=0.0, metavar="A",
                   help="keep clusters of at least A x the median cover-set size (default 0: all)")
    m.add_argument("--shape", help="filter shape HxW for thumbnails (default: square root of d)")
    m.add_argument("--seed", type=int, default=0, help="seed of the pictures' layout and of the neighborhood lens")
    m.add_argument("--json", required=True, metavar="OUT.json")
    m.add_argument("--png", metavar="OUT.png")
    m.add_argument("--html", metavar="OUT.html")
    m.set_defaults(func=cmd_mapper)

    t = sub.add_parser("train", help="train an ensemble of the paper's M or C networks")
    t.add_argument("--arch", choices=["M", "C"])
    t.add_argument("--widths", help="X,Y,Z e.g. 64,32,64 (0 removes a block)")
    t.add_argument("--no-pool", action="store_true", help="C without max-pooling (paper Figure 11)")
    t.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10-grey", "cifar10-color"])
    t.add_argument("--nets", type=int, default=1)
    t.add_argument("--iterations", type=int)
    t.add_argument("--checkpoints", help="comma-separated iterations to save (default: the last)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: per architecture)")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--data-dir", help="IDX MNIST or CIFAR-10 python batches")
    t.add_argument("--out", metavar="RUN_DIR")
    t.add_argument("--resume", metavar="RUN_DIR", help="resume an interrupted run")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("filters", help="spatial filters of a conv layer -> (n, w*h) .npy")
    f.add_argument("source", metavar="SOURCE", help="run directory, .pt/.pth state dict or .safetensors")
    f.add_argument("--layer", type=int, help="conv layer, 1-based")
    f.add_argument("--iteration", type=int, help="checkpoint of a run directory (default: last)")
    f.add_argument("--channel", type=int, help="keep one input map only (e.g. 0, 1, 2 for R, G, B)")
    f.add_argument("--kernel-size", type=int, default=None, help="count only k x k conv layers")
    f.add_argument("--list", action="store_true", help="list the conv layers and stop")
    f.add_argument("-o", "--output", metavar="OUT.npy")
    f.set_defaults(func=cmd_filters)

    d = sub.add_parser("download", help="download CIFAR-10 or VGG weights (needs the internet)")
    d.add_argument("what", choices=["cifar10", "vgg16", "vgg19"])
    d.add_argument("--data-dir", help="for cifar10")
    d.add_argument("--dest", help="for vgg16 / vgg19")
    d.set_defaults(func=cmd_download)

    def runopts(sp):
        sp.add_argument("--scale", choices=["smoke", "laptop", "paper"], default="laptop")
        sp.add_argument("--out", metavar="DIR")
        sp.add_argument("--data-dir", help="CIFAR-10 python batches")
        sp.add_argument("--weights", help="pretrained weights file (VGG)")
        sp.add_argument("--quiet", action="store_true")

    r = sub.add_parser("reproduce", help="reproduce a figure of the paper (--list to see them)")
    r.add_argument("figure", nargs="?", metavar="FIG")
    r.add_argument("--list", action="store_true")
    runopts(r)
    r.set_defaults(func=cmd_reproduce)

    c = sub.add_parser("run", help="run an experiment config (JSON)")
    c.add_argument("config", metavar="CONFIG")
    runopts(c)
    c.set_defaults(func=cmd_run)

    dm = sub.add_parser("demo", help="the main job: Figure 2 at laptop scale (MNIST ensemble)")
    dm.add_argument("--out", default="runs/demo")
    dm.add_argument("--data-dir", default=None)
    dm.add_argument("--quiet", action="store_true")
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, ValueError, FileNotFoundError) as exc:
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
