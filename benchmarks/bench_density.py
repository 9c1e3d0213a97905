"""rho(k, p) density filtration: cnntopo.cloud.pointcloud.density_filter vs scikit-learn.

The cloud imitates 64 x 32 x 100 = 204,800 second-layer 3x3 filters (paper, section 5.1):
half a noisy primary circle of edge filters, half uniform noise on the sphere, mean-centred
and normalised (so on a 7-sphere in R^9). The baseline is scikit-learn's default
NearestNeighbors (algorithm='auto') asked for the same k-th neighbour distance, followed
by the same selection (the fraction p of smallest distances, ties by lower index). Rows:
the plain density_filter(x, k, p) call that users run, and the path that returns every
distance (knn_distance). Both must give sklearn's kept set exactly.

    python benchmarks/bench_density.py            # full size (sklearn: minutes)
    python benchmarks/bench_density.py --n 20000  # quick
    cnntopo filters vgg16-keras --layer 13 -o l13.npy
    python benchmarks/bench_density.py --points l13.npy --k 100 --p 0.3   # issue 21's cloud

A row for the bounded cKDTree query that density_filter used before the compiled screen
(issue 21: `_densest_bounded`, still its path below 20,000 points) is timed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from cnntopo.cloud.pointcloud import (_build_tree, _densest_bounded, density_filter,
                                      normalise)
from cnntopo.cloud.prepare import prepare_points


def make_cloud(n, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    e1 = np.tile([1.0, 0.0, -1.0], 3)
    e2 = np.repeat([1.0, 0.0, -1.0], 3)
    n_circle = n // 2
    t = rng.uniform(0.0, 2 * np.pi, n_circle)
    circle = (np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2) / np.sqrt(6.0)
    circle += noise * rng.standard_normal((n_circle, 9))
    uniform = rng.standard_normal((n - n_circle, 9))
    unit, _ = normalise(np.vstack([circle, uniform]))
    return unit


def _time(func):
    t0 = time.perf_counter()
    out = func()
    return out, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=204_800)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", help="a .npy of raw filters (e.g. `cnntopo filters`); "
                                         "normalised as prepare_points does")
    args = parser.parse_args(argv)

    if args.points:
        raw = np.load(args.points)
        x = normalise(raw)[0]
        args.n = x.shape[0]
        _, t_prepare = _time(lambda: prepare_points(raw, k=args.k, p=args.p))
    else:
        x = make_cloud(args.n, args.seed)
        t_prepare = None

    # What users run: the kept indices only.
    idx, t_ours = _time(lambda: density_filter(x, args.k, args.p))
    # Every k-th neighbour distance (knn_distance), then the same selection.
    (idx_full, dist), t_full = _time(
        lambda: density_filter(x, args.k, args.p, return_distances=True))

    def reference():
        d = NearestNeighbors(n_neighbors=args.k).fit(x).kneighbors()[0][:, -1]
        return d, np.sort(np.argsort(d, kind="stable")[:idx.size])

    (ref_dist, ref_idx), t_ref = _time(reference)

    def bounded():
        y, tree = _build_tree(x)
        return _densest_bounded(y, tree, args.k, idx.size)

    idx_bounded, t_bounded = _time(bounded)

    rel = np.max(np.abs(dist - ref_dist) / ref_dist)
    same = np.array_equal(idx, ref_idx) and np.array_equal(idx_full, ref_idx)
    print(f"rho(k={args.k}, p={args.p}) on {args.n} points in R^9 (kept {idx.size})")
    print(f"{'method':<52}{'seconds':>10}{'ratio':>8}")
    print(f"{'sklearn NearestNeighbors (auto), k-th column + select':<52}"
          f"{t_ref:>10.2f}{1.0:>8.2f}")
    print(f"{'cnntopo density_filter(x, k, p)':<52}{t_ours:>10.2f}{t_ref / t_ours:>8.2f}")
    print(f"{'cnntopo density_filter(..., return_distances=True)':<52}"
          f"{t_full:>10.2f}{t_ref / t_full:>8.2f}")
    print(f"{'cnntopo before the screen (bounded cKDTree query)':<52}"
          f"{t_bounded:>10.2f}{t_ref / t_bounded:>8.2f}")
    if t_prepare is not None:
        print(f"{'cnntopo prepare_points(raw, k, p)':<52}{t_prepare:>10.2f}{t_ref / t_prepare:>8.2f}")
    print(f"screen vs before: {t_bounded / t_ours:.2f}x")
    same = same and np.array_equal(idx_bounded, ref_idx)
    print(f"max relative distance difference {rel:.2e}; same kept set: {same}")
    if rel > 1e-9 or not same:
        raise SystemExit("outputs disagree")


if __name__ == "__main__":
    main()
