"""The exact Euclidean MST (single linkage) of one cover set: cnntopo.topology.emst vs libraries.

The cloud: the largest cover set of Mapper(30, 3) on VGG16's layer 13 after rho(100, 0.3)
(7,870 points in R^9, VNE-scaled), or any .npy of points. Rows: scipy's dense single
linkage (pdist + linkage, the reference), cnntopo's `euclidean_mst` by Prim over all pairs
and by Borůvka on its k-d tree, mlpack's dual-tree Borůvka (`mlpack.emst`) and hdbscan's
`KDTreeBoruvkaAlgorithm` (min_samples=1, so that mutual reachability is the Euclidean
distance). Each row says whether its sorted weights equal scipy's bit for bit (and the
largest difference otherwise). A library that is not installed is skipped with a message
(mlpack 4.8 and hdbscan 0.8.44 are on PyPI; neither is a dependency of cnntopo).

    .venv/bin/python benchmarks/bench_emst.py [--points FILE.npy] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from bench_mapper import best_of, load_cloud


def largest_cover_set(cache):
    from cnntopo.topology.mapper import cover_sets, pca_lens, variance_normalise

    _, X = load_cloud("vgg16:13", cache)
    members = max(cover_sets(pca_lens(X, 2), 30, 3).values(), key=len)
    return variance_normalise(X, "variance")[members]


def main(argv=None):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    from cnntopo.topology.emst import euclidean_mst

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default=None, help=".npy of points (default: see above)")
    ap.add_argument("--cache", default=None, help="folder keeping VGG16's prepared points")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    X = np.load(args.points) if args.points else largest_cover_set(args.cache)
    X = np.ascontiguousarray(X, dtype=np.float64)
    euclidean_mst(X[:50], method="tree")  # load the compiled code first

    t_ref, ref = best_of(lambda: linkage(pdist(X), method="single")[:, 2], args.repeats)
    rows = [("scipy pdist + linkage (dense)", t_ref, ref)]
    for method in ("dense", "tree"):
        t, out = best_of(lambda: euclidean_mst(X, method=method)[1], args.repeats)
        rows.append((f"cnntopo euclidean_mst, {'Prim' if method == 'dense' else 'Boruvka'}",
                     t, out))
    try:
        import mlpack

        t, out = best_of(lambda: mlpack.emst(input_=X)["output"][:, 2], args.repeats)
        rows.append(("mlpack.emst (dual-tree Boruvka)", t, np.sort(out)))
    except ImportError:
        print("mlpack skipped: not installed (pip install mlpack)")
    try:
        from hdbscan._hdbscan_boruvka import KDTreeBoruvkaAlgorithm
        from sklearn.neighbors import KDTree

        def hdb():
            tree = KDTree(X, leaf_size=40)
            return KDTreeBoruvkaAlgorithm(tree, min_samples=1).spanning_tree()[:, 2]

        t, out = best_of(hdb, args.repeats)
        rows.append(("hdbscan KDTreeBoruvkaAlgorithm", t, np.sort(out)))
    except ImportError:
        print("hdbscan skipped: not installed (pip install hdbscan)")

    print(f"Euclidean MST of {len(X):,} points in R^{X.shape[1]}; best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':40s} {'seconds':>8s} {'x fastest':>9s}  weights equal scipy's")
    fastest = min(t for _, t, _ in rows)
    for name, t, w in rows:
        same = "bit for bit" if np.array_equal(w, ref) else \
            f"no (max diff {np.max(np.abs(w - ref)):.2g})"
        print(f"{name:40s} {t:8.3f} {t / fastest:9.1f}  {same}")


if __name__ == "__main__":
    main()
