"""What a Mapper graph's confidence costs, against one Mapper run, at 154 and at 20,000 points.

Clouds: the demo's kept first-layer filters (tests/data/demo-filters' seed 0 at rho(20, 0.3),
154 points, and at the demo's rho(20, 0.5), 256 points), and 20,000 points of a
noisy primary circle of 3x3 edge filters (as bench_mapper.py). For each, in one process:

- one Mapper run at the parameters used (the demo's Mapper(6, 3); Mapper(30, 3) at 20k);
- the parameters from the data (``auto_parameters``: the sampling scale, the resolution and
  the gain scan);
- the confidence: B bootstrap resamples (Mapper, extended persistence, bottleneck distance)
  and the 3 x 3 stability neighbourhood.

Times are the best of `--repeats`; the ratios are what to read (a shared, noisy machine).

Run:  .venv/bin/python benchmarks/bench_mapper_confidence.py [--bootstrap 100] [--repeats 2]

Processes and VGG16 (issue 21): ``--vgg-layers 5,13`` reads VGG16's conv layers (the
``vgg16-keras`` weights of the cache, ``cnntopo download vgg16 --format keras``) at
rho(100, 0.3), the paper's Mapper(30, 3), and times the confidence (B resamples and the 8
graphs of the stability neighbourhood) on each process count of ``--jobs 1,2``, in the same
run, checking that every count gives the same result. ``--vgg-bootstrap`` sets its B (fewer
resamples, then the time of B = 100 estimated per resample, says so). ``--describe 2-13``
times ``cnntopo describe vgg16-keras --layer 2-13 --k 100 --p 0.3 --mapper 30,3`` (B = 100)
with ``--jobs`` of each count.

``--extended 5,13`` times the extended persistence of those layers' Mapper(30, 3) graphs, GUDHI's
``SimplexTree.extended_persistence`` against cnntopo's (ripser on the coned flag filtration),
and checks they give the same points. ``--rows-out PATH`` keeps describe's JSON.

Run:  .venv/bin/python benchmarks/bench_mapper_confidence.py --skip-small --vgg-layers 5,13 \
          --vgg-bootstrap 100 --jobs 1,2 [--extended 5,8,13] [--describe 2-13]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_mapper import best_of, edge_circle  # noqa: E402  (the same clouds and timing)


def demo_cloud(p):
    from cnntopo.cloud.prepare import prepare_points

    files = sorted((ROOT / "tests" / "data" / "demo-filters").glob("*-seed0.npy"))
    if files:
        return prepare_points(np.load(files[0]), k=20, p=p).points, f"{files[0].name}, rho(20, {p})"
    return edge_circle(int(512 * p)), "edge circle (no demo filters found)"


def machine():
    """The CPU's name (lscpu), the cores this process may use and the load average."""
    name = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
        if "avx512f" in out:
            name += ", AVX-512"
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return f"{name}; {len(os.sched_getaffinity(0))} cores usable; load average " \
           f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"


def cpu_seconds():
    """CPU seconds of this process and of its finished children (the worker processes count
    once they are shut down: :func:`stop_workers`)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def stop_workers():
    """Shut joblib's worker processes down (so that their CPU time is counted)."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def vgg16_layer(layer, k=100, p=0.3):
    """Layer `layer` (1-based) of VGG16 (the cache's vgg16-keras weights) at rho(k, p)."""
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.sources.downloads import resolve_model
    from cnntopo.sources.filters import load_state_dict, spatial_filters
    from cnntopo.sources.live import state_dict_conv_layers

    got = resolve_model("vgg16-keras", progress=False)
    conv = state_dict_conv_layers(load_state_dict(got.path))[layer - 1]
    return prepare_points(spatial_filters(conv.weight), k=k, p=p).points, got.path.name


def vgg_confidence(layers, bootstrap, jobs):
    """The confidence of VGG16 layers' Mapper(30, 3) on each process count, in one run."""
    from cnntopo.topology.mapper import mapper_graph, pca_lens
    from cnntopo.topology.mapper_stats import mapper_confidence

    print(f"\n| VGG16 layer, rho(100, 0.3) | points | one Mapper(30, 3) | B | "
          + " | ".join(f"confidence, {j} process{'es' * (j > 1)}" for j in jobs)
          + " | B = 100 on free cores: CPU / processes | same result |")
    print("|---|---|---|---|" + "---|" * len(jobs) + "---|---|")
    for layer in layers:
        X, name = vgg16_layer(layer)
        F = pca_lens(X, 2)
        kw = {"resolution": 30, "gain": 3.0}
        t0 = time.perf_counter()
        graph = mapper_graph(X, lens=F, **kw)
        one = time.perf_counter() - t0
        times, cpus, results = [], [], []
        for j in jobs:
            t0, c0 = time.perf_counter(), cpu_seconds()
            results.append(mapper_confidence(X, graph, F, n_bootstrap=bootstrap,
                                             graph_kwargs=kw, n_jobs=j).to_dict())
            times.append(time.perf_counter() - t0)
            stop_workers()  # their start is part of the cost; their CPU time counts now
            cpus.append(cpu_seconds() - c0)
        same = all(r == results[0] for r in results)
        # on j free cores a run takes at least its CPU time / j: what it needs of a machine
        # that is not shared
        free = min(c / j for c, j in zip(cpus, jobs))
        scale = (100 + 8) / (bootstrap + 8)
        how = "measured" if bootstrap == 100 else f"B = {bootstrap} scaled per resample"
        print(f"| {layer} ({name}) | {len(X):,} | {one:.1f} s | {bootstrap} | "
              + " | ".join(f"{t:.1f} s wall, {c:.1f} s CPU" for t, c in zip(times, cpus))
              + f" | {free * scale / 60:.1f} min ({how}) | {same} |", flush=True)
        c = results[0]
        print(f"|   nerve {c['nerve_betti']}, confidence {c['betti_confidence']}, stability "
              f"{c['stability']}, {os.cpu_count()} CPUs |" + " |" * (len(jobs) + 5))


def _gudhi_extended(graph, values):
    """GUDHI's extended persistence of the lower-star flag complex (what cnntopo used before)."""
    import gudhi

    st = gudhi.SimplexTree()
    for i, v in enumerate(values):
        st.insert([i], filtration=float(v))
    for link in graph["links"]:
        a, b = link["source"], link["target"]
        st.insert([a, b], filtration=float(max(values[a], values[b])))
    st.expansion(2)
    st.extend_filtration()
    return st.extended_persistence()


def extended_times(layers, repeats):
    """Extended persistence of each layer's Mapper(30, 3) graph: ripser on the coned flag
    filtration (cnntopo) against GUDHI's SimplexTree, the same points."""
    from cnntopo.topology.mapper import mapper_graph, pca_lens
    from cnntopo.topology.mapper_stats import _node_values, extended_diagrams

    print("\n| VGG16 layer, rho(100, 0.3), Mapper(30, 3) | nodes | links | GUDHI "
          "extended_persistence | cnntopo (ripser, coned flag filtration) | ratio | same points |")
    print("|---|---|---|---|---|---|---|")
    for layer in layers:
        X, _ = vgg16_layer(layer)
        F = pca_lens(X, 2)
        g = mapper_graph(X, lens=F, resolution=30, gain=3.0)
        values = _node_values(g, F[:, 0])
        ours = extended_diagrams(g, values)
        ordinary, relative, plus, minus = _gudhi_extended(g, values)
        theirs = {"ord0": [p for q, p in ordinary if q == 0], "rel1": [p for q, p in relative
                                                                     if q == 1],
                  "ext0": [p for q, p in plus if q == 0], "ext1": [p for q, p in minus if q == 1]}
        same = all(np.allclose(np.sort(np.asarray(theirs[k]).reshape(-1, 2), axis=0),
                               np.sort(ours[k], axis=0), rtol=0, atol=1e-12) for k in ours)
        t_gudhi = best_of(lambda: _gudhi_extended(g, values), repeats)[0]
        t_ours = best_of(lambda: extended_diagrams(g, values), repeats)[0]
        print(f"| {layer} | {len(g['nodes']):,} | {len(g['links']):,} | {t_gudhi:.3f} s | "
              f"{t_ours:.3f} s | {t_gudhi / t_ours:.1f}x | {same} |", flush=True)


def describe_times(layers, jobs, rows_out=None):
    """``cnntopo describe vgg16-keras --layer LAYERS --k 100 --p 0.3 --mapper 30,3`` on each
    process count, its rows compared (and the first count's written to `rows_out`)."""
    import json
    import tempfile

    print(f"\n| describe vgg16-keras --layer {layers} --k 100 --p 0.3 --mapper 30,3 (B = 100) "
          f"| time | same rows |")
    print("|---|---|---|")
    first = None
    for j in jobs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            t0, c0 = time.perf_counter(), cpu_seconds()
            subprocess.run([sys.executable, "-m", "cnntopo.cli", "describe", "vgg16-keras",
                            "--layer", layers, "--k", "100", "--p", "0.3", "--mapper", "30,3",
                            "--jobs", str(j), "--quiet", "--json", str(out)], check=True,
                           stdout=subprocess.DEVNULL)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            rows = json.loads(out.read_text())["rows"]
            if rows_out and first is None:
                Path(rows_out).write_text(out.read_text())
        first = rows if first is None else first
        print(f"| --jobs {j} | {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU: "
              f"{cpu / j / 60:.1f} min on {j} free core{'s' * (j > 1)} | {rows == first} |",
              flush=True)


def main(argv=None):
    from cnntopo.topology.mapper import mapper_graph, pca_lens
    from cnntopo.topology.mapper_stats import auto_parameters, mapper_confidence

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--skip-small", action="store_true", help="only the VGG16 parts")
    ap.add_argument("--vgg-layers", default="", help="VGG16 conv layers, e.g. 5,13")
    ap.add_argument("--vgg-bootstrap", type=int, default=100)
    ap.add_argument("--jobs", default="1,2", help="process counts to compare, e.g. 1,2")
    ap.add_argument("--describe", default="", metavar="LAYERS",
                    help="also time `cnntopo describe vgg16-keras --layer LAYERS ...`")
    ap.add_argument("--extended", default="", metavar="LAYERS",
                    help="time extended persistence of VGG16 layers' graphs, e.g. 5,13")
    ap.add_argument("--rows-out", default=None, metavar="PATH",
                    help="write describe's JSON (the first process count's) here")
    args = ap.parse_args(argv)
    jobs = [int(j) for j in args.jobs.split(",")]
    print(f"CPU: {machine()}; B = {args.bootstrap}")
    if args.vgg_layers:
        vgg_confidence([int(x) for x in args.vgg_layers.split(",")], args.vgg_bootstrap, jobs)
    if args.extended:
        extended_times([int(x) for x in args.extended.split(",")], args.repeats)
    if args.describe:
        describe_times(args.describe, jobs, args.rows_out)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.skip_small:
        return
    cases = [(f"demo ({name})", X, 6) for X, name in (demo_cloud(0.3), demo_cloud(0.5))]
    cases.append((f"{args.n:,} edge filters", edge_circle(args.n), 30))
    print("| cloud | points | one Mapper | auto parameters | confidence (B + 8) | "
          "confidence / one Mapper |")
    print("|---|---|---|---|---|---|")
    for label, X, res in cases:
        F = pca_lens(X, 2)
        kw = {"resolution": res, "gain": 3.0}
        one, graph = best_of(lambda: mapper_graph(X, lens=F, **kw), args.repeats)
        auto, _ = best_of(lambda: auto_parameters(X, F), 1)
        conf, c = best_of(lambda: mapper_confidence(X, graph, F, n_bootstrap=args.bootstrap,
                                                    graph_kwargs=kw), 1)
        print(f"| {label} | {len(X):,} | {one:.3f} s | {auto:.2f} s | {conf:.1f} s | "
              f"{conf / one:.0f}x |", flush=True)
        print(f"|   nerve {c.nerve_betti}, confidence {c.betti_confidence}, stability "
              f"{c.stability} | | | | | |")


if __name__ == "__main__":
    main()
