"""Mapper(30, 3) on 20,000 points in R^9: cnntopo.topology.mapper against KeplerMapper 2.1.0.

Points: a noisy primary circle of 3x3 edge filters (cos t e1 + sin t e2 in the DCT basis),
plus Gaussian noise, mean-centred and normalised, seeded. Both tools get the same lenses
(PCA 1 and 2), the same VNE-scaled points, a cover with the same intervals (KeplerMapper's
`limits` set so that its cubes equal ours, see cnntopo.topology.mapper's docstring) and the same
clusterer (single linkage cut by the first-empty-bin rule). KeplerMapper is also timed with
its default-style cover `Cover(n_cubes=30, perc_overlap=2/3)` and with scikit-learn's
AgglomerativeClustering(linkage="single", distance_threshold=fixed) for reference.

Run:  flock /tmp/cnntopo-cpu.lock .venv/bin/python benchmarks/bench_mapper.py [--n 20000]

The scale table (issue 21), `--table`: Mapper(30, 3), PCA 1 and 2 lenses, on the 20k noisy edge
circle, VGG16's layer 13 after rho(100, 0.3) (78,643 points), and the 100k and 200k circles.
Columns: cnntopo with the gap rule and with a fixed height (``cluster_height``), the old
dense single linkage (pdist + linkage per cover set, kept as the reference; graphs checked
identical), KeplerMapper 2.1.0 (same cover cubes, scikit-learn single linkage at the same
height) and tda-mapper 0.12.0 (its own venv, NumPy < 2: `CubicalCover(30, 2/3)` with the
"standard" and the "proximity" algorithm, the same clusterer; skipped with a message when
its venv is missing), and cnntopo's peak memory (a child process per cloud).

      .venv/bin/python benchmarks/bench_mapper.py --table --cache /tmp/bench-cache \
          [--clouds circle:20000,vgg16:13,circle:100000,circle:200000] [--peers-max-n 80000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def edge_circle(n, noise=0.15, seed=0):
    """n points of the primary circle of 3x3 edge filters with noise, centred, unit norm."""
    rng = np.random.default_rng(seed)
    e1 = np.array([1, 0, -1] * 3, dtype=float) / np.sqrt(6)
    e2 = np.repeat([1.0, 0.0, -1.0], 3) / np.sqrt(6)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2 + noise * rng.normal(size=(n, 9))
    X -= X.mean(axis=1, keepdims=True)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def kmapper_counts(kg):
    n_links = sum(len(v) for v in kg["links"].values())
    return len(kg["nodes"]), n_links


def main(argv=None):
    import kmapper as km
    from sklearn.cluster import AgglomerativeClustering

    from cnntopo.topology.mapper import (
        GapSingleLinkage,
        mapper_graph,
        pca_lens,
        variance_normalise,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--resolution", type=int, default=30)
    ap.add_argument("--gain", type=float, default=3.0)
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="fixed distance_threshold of the sklearn reference run (VNE units)")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--table", action="store_true", help="the scale table of issue 21")
    ap.add_argument("--clouds", default="circle:20000,vgg16:13,circle:100000,circle:200000")
    ap.add_argument("--height", type=float, default=4.0,
                    help="fixed single-linkage height of the fixed runs and the peers (VNE units)")
    ap.add_argument("--peers-max-n", type=int, default=80000,
                    help="run KeplerMapper and tda-mapper only on clouds up to this size")
    ap.add_argument("--dense-max-n", type=int, default=80000,
                    help="run (and compare with) the dense path only up to this size")
    ap.add_argument("--tdamapper-python", default=os.environ.get(
        "TDAMAPPER_PYTHON", "/work/venvs/tdamapper/bin/python"))
    ap.add_argument("--cache", default=None, help="folder keeping VGG16's prepared points")
    ap.add_argument("--child-memory", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_memory:
        return _child_memory(args)
    if args.table:
        return table(args)
    res, gain = args.resolution, args.gain

    X = edge_circle(args.n)
    lens = pca_lens(X, 2)
    Y = variance_normalise(X, "variance")

    t_ours, g = best_of(lambda: mapper_graph(X, lens=lens, resolution=res, gain=gain), 3)
    ours = (len(g["nodes"]), len(g["links"]))

    # KeplerMapper's cubes equal ours with these limits (see cnntopo.topology.mapper's docstring).
    lo, hi = lens.min(axis=0), lens.max(axis=0)
    step = (hi - lo) / (res - 1 + gain)
    start = lo + (gain - 1) * step / 2
    limits = np.column_stack([start, start + res * step])

    def run_km(clusterer, cover):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kmapper warns that limits differ from the data range
            return km.KeplerMapper(verbose=0).map(lens, Y, clusterer=clusterer, cover=cover)

    rows = [("cnntopo mapper_graph (best of 3)", t_ours, *ours)]
    t, kg = best_of(lambda: run_km(GapSingleLinkage(10), km.Cover(res, 1 - 1 / gain,
                                                                  limits=limits.copy())), 1)
    rows.append(("kmapper, same cover, same gap clusterer", t, *kmapper_counts(kg)))
    same = sorted(tuple(sorted(v)) for v in kg["nodes"].values())
    t, kg = best_of(lambda: run_km(GapSingleLinkage(10), km.Cover(res, 1 - 1 / gain)), 1)
    rows.append(("kmapper, own Cover(30, 2/3), gap clusterer", t, *kmapper_counts(kg)))
    if not args.skip_sklearn:
        agg = AgglomerativeClustering(n_clusters=None, linkage="single",
                                      distance_threshold=args.threshold)
        t, kg = best_of(lambda: run_km(agg, km.Cover(res, 1 - 1 / gain)), 1)
        rows.append((f"kmapper, own cover, sklearn single t={args.threshold}", t,
                     *kmapper_counts(kg)))
        # The nerve step alone on those nodes: kmapper compares every pair of nodes, ours
        # pairs the nodes of each point (inverted index).
        from kmapper.nerve import GraphNerve

        from cnntopo.topology.mapper import _links
        node_lists = [np.asarray(v, dtype=np.int64) for v in kg["nodes"].values()]
        t_ours_nerve, pairs = best_of(lambda: _links(node_lists, args.n), 3)
        t_km_nerve, _ = best_of(lambda: GraphNerve().compute(kg["nodes"]), 1)
        nerve_row = (len(node_lists), len(pairs), t_ours_nerve, t_km_nerve)

    print(f"Mapper({res}, {gain:g}) on {args.n} points in R^9 (edge circle), VNE=variance")
    print(f"{'run':48s} {'seconds':>9s} {'x ours':>8s} {'nodes':>7s} {'links':>8s}")
    for name, t, nodes, links in rows:
        print(f"{name:48s} {t:9.2f} {t / t_ours:8.1f} {nodes:7d} {links:8d}")
    if not args.skip_sklearn:
        nodes, links, t_a, t_b = nerve_row
        print(f"nerve only, {nodes} nodes / {links} links: ours {t_a:.3f} s, "
              f"kmapper GraphNerve {t_b:.2f} s ({t_b / t_a:.0f}x)")
    # Cubes of one point: ours keep them as nodes, kmapper drops them (min 2 samples).
    from cnntopo.topology.mapper import cover_sets
    lone = {c for c, m in cover_sets(lens, res, gain).items() if m.size == 1}
    mine = sorted(tuple(nd["members"]) for nd in g["nodes"] if tuple(nd["cube"]) not in lone)
    print(f"node member sets identical to kmapper's (same cover, same clusterer): {mine == same}")


def load_cloud(spec, cache=None):
    """`circle:N` (the noisy edge circle) or `vgg16:L` (VGG16 layer L after rho(100, 0.3))."""
    kind, _, value = spec.partition(":")
    if kind == "circle":
        return f"noisy edge circle {int(value):,}", edge_circle(int(value))
    if kind != "vgg16":
        raise SystemExit(f"--clouds: expected circle:N or vgg16:L; got {spec!r}")
    layer = int(value)
    path = Path(cache, f"vgg16_l{layer}_rho100_0.3.npy") if cache else None
    if path is not None and path.exists():
        return f"VGG16 layer {layer}, rho(100, 0.3)", np.load(path)
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.sources.downloads import resolve_model
    from cnntopo.sources.filters import filters_from_source

    filters = filters_from_source(resolve_model("vgg16", progress=False).path, layer)[0]
    points = prepare_points(filters, k=100, p=0.3).points
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, points)
    return f"VGG16 layer {layer}, rho(100, 0.3)", points


def _kmapper_limits(lens, res, gain):
    lo, hi = lens.min(axis=0), lens.max(axis=0)
    step = (hi - lo) / (res - 1 + gain)
    start = lo + (gain - 1) * step / 2
    return np.column_stack([start, start + res * step])


def _child_memory(args):
    """In a fresh process: one gap-rule Mapper run's seconds and peak memory (JSON line)."""
    from cnntopo.topology.mapper import mapper_graph, pca_lens

    mapper_graph(edge_circle(500), resolution=5)  # load the compiled code first
    _, X = load_cloud(args.child_memory, args.cache)
    lens = pca_lens(X, 2)
    before = _rss_mb("VmRSS")
    try:  # Linux: reset the peak (VmHWM) to the current size, so it measures this run only
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    t0 = time.perf_counter()
    mapper_graph(X, lens=lens, resolution=args.resolution, gain=args.gain)
    seconds = time.perf_counter() - t0
    peak = _rss_mb("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "before_mb": before or 0.0}))


def _rss_mb(field):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _tdamapper(python, Y, lens, res, gain, height, algorithm):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "cloud.npz")
        np.savez(path, points=Y, lens=lens, resolution=res, overlap=1 - 1 / gain, height=height)
        out = subprocess.run([python, str(Path(__file__).with_name("_tdamapper_run.py")),
                              str(path), algorithm], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(args):
    import kmapper as km
    from sklearn.cluster import AgglomerativeClustering

    from cnntopo.topology import mapper as M

    res, gain, h = args.resolution, args.gain, args.height
    have_tdamapper = Path(args.tdamapper_python).exists()
    if not have_tdamapper:
        print(f"tda-mapper skipped: no interpreter at {args.tdamapper_python} (make its venv: "
              f"python3.11 -m venv DIR; DIR/bin/pip install tda-mapper==0.12.0 'numpy<2' "
              f"scikit-learn; pass --tdamapper-python DIR/bin/python)")
    M.mapper_graph(edge_circle(500), resolution=5)  # load the compiled code first
    cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if ln.startswith("Model name")), "unknown CPU")
    print(f"Mapper({res}, {gain:g}), PCA 1 and 2, VNE=variance; fixed height {h:g}; "
          f"{cpu}, {os.cpu_count()} cores; load average at start {os.getloadavg()}")
    rows = []
    for spec in args.clouds.split(","):
        name, X = load_cloud(spec, args.cache)
        n = len(X)
        lens = M.pca_lens(X, 2)
        Y = M.variance_normalise(X, "variance")
        row = {"cloud": name, "points": n}
        t, g = best_of(lambda: M.mapper_graph(X, lens=lens, resolution=res, gain=gain), 3)
        row["gap"] = (t, len(g["nodes"]), len(g["links"]))
        t, gf = best_of(lambda: M.mapper_graph(X, lens=lens, resolution=res, gain=gain,
                                               cluster_height=h), 3)
        row["fixed"] = (t, len(gf["nodes"]), len(gf["links"]))
        if n <= args.dense_max_n:
            fast = (M._gap_labels, M._height_labels)
            M._gap_labels, M._height_labels = M._gap_labels_dense, M._height_labels_dense
            try:
                t, g0 = best_of(lambda: M.mapper_graph(X, lens=lens, resolution=res, gain=gain), 1)
                gf0 = M.mapper_graph(X, lens=lens, resolution=res, gain=gain, cluster_height=h)
            finally:
                M._gap_labels, M._height_labels = fast
            row["dense"] = (t, len(g0["nodes"]), len(g0["links"]))
            row["identical"] = g == g0 and gf == gf0
        if n <= args.peers_max_n:
            agg = AgglomerativeClustering(n_clusters=None, linkage="single", distance_threshold=h)
            cover = km.Cover(res, 1 - 1 / gain, limits=_kmapper_limits(lens, res, gain))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t, kg = best_of(lambda: km.KeplerMapper(verbose=0).map(
                    lens, Y, clusterer=agg, cover=cover), 1)
            row["kmapper"] = (t, *kmapper_counts(kg))
            if have_tdamapper:
                for algorithm in ("standard", "proximity"):
                    r = _tdamapper(args.tdamapper_python, Y, lens, res, gain, h, algorithm)
                    row[f"tdamapper {algorithm}"] = (r["seconds"], r["nodes"], r["links"])
        child = subprocess.run([sys.executable, __file__, "--child-memory", spec,
                                "--resolution", str(res), "--gain", str(gain)]
                               + (["--cache", args.cache] if args.cache else []),
                               capture_output=True, text=True, check=True)
        row["memory"] = json.loads(child.stdout.strip().splitlines()[-1])
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        _print_row(row)
    base = rows[0]["gap"][0]
    print(f"growth of the gap-rule time from {rows[0]['points']:,} points: " + ", ".join(
        f"{r['points']:,}: {r['gap'][0] / base:.1f}x" for r in rows[1:]))
    return rows


def _print_row(row):
    print(f"\n{row['cloud']} ({row['points']:,} points), load average {row['load']:.1f}")
    t_gap = row["gap"][0]
    for key in ("gap", "fixed", "dense", "kmapper", "tdamapper standard", "tdamapper proximity"):
        if key in row:
            t, nodes, links = row[key]
            label = {"gap": "cnntopo gap rule", "fixed": "cnntopo fixed height",
                     "dense": "cnntopo gap rule, dense (old) path",
                     "kmapper": "KeplerMapper, same cubes, sklearn single"}.get(key, key)
            print(f"  {label:42s} {t:8.2f} s  {t / t_gap:6.1f}x  {nodes:6d} nodes {links:7d} links")
    if "identical" in row:
        print(f"  graphs identical to the dense path (gap and fixed): {row['identical']}")
    mem = row["memory"]
    print(f"  child process: gap rule {mem['seconds']:.2f} s, peak RSS {mem['peak_mb']:.0f} MB "
          f"({mem['peak_mb'] - mem['before_mb']:.0f} MB above the process with its cloud loaded)")


if __name__ == "__main__":
    main()
