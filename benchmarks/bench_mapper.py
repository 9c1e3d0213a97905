"""Mapper(30, 3) on 20,000 points in R^9: cnntopo.topology.mapper against KeplerMapper 2.1.0.

Points: a noisy primary circle of 3x3 edge filters (cos t e1 + sin t e2 in the DCT basis),
plus Gaussian noise, mean-centred and normalised, seeded. Both tools get the same lenses
(PCA 1 and 2), the same VNE-scaled points, a cover with the same intervals (KeplerMapper's
`limits` set so that its cubes equal ours, see cnntopo.topology.mapper's docstring) and the same
clusterer (single linkage cut by the first-empty-bin rule). KeplerMapper is also timed with
its default-style cover `Cover(n_cubes=30, perc_overlap=2/3)` and with scikit-learn's
AgglomerativeClustering(linkage="single", distance_threshold=fixed) for reference.

Run:  flock /tmp/cnntopo-cpu.lock .venv/bin/python benchmarks/bench_mapper.py [--n 20000]
"""

from __future__ import annotations

import argparse
import time
import warnings

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
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    main()
