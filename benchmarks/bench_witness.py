"""Lazy witness barcodes at the paper's scale: 200,000 points in R^9, 100 maxmin landmarks.

Times each stage of ``lazy_witness_barcodes`` (maxmin, witness filtration, ripser) and the
whole call, best of ``--repeats``, against a straightforward NumPy baseline for the filtration
(scipy ``cdist`` to the landmarks, then ``max(d_a, d_b) - m`` broadcast over blocks of
witnesses and reduced with ``min``), whose result must be identical. ``--gudhi`` adds GUDHI's
EuclideanStrongWitnessComplex on the same landmarks as the nearest library construction
(a different, relaxed squared-distance complex, capped at ``--gudhi-alpha2``: timing only).

Run as ``flock /tmp/cnntopo-cpu.lock .venv/bin/python benchmarks/bench_witness.py``.
"""

import argparse
import time

import numpy as np
from scipy.spatial.distance import cdist

from cnntopo.topology.witness import (
    _maxmin,
    _ripser_diagrams,
    _witness_matrix,
    lazy_witness_barcodes,
)


def primary_circle(n, seed):
    """Noisy edge filters cos(t) e1 + sin(t) e2 in R^9 on the unit sphere (seeded)."""
    rng = np.random.default_rng(seed)
    e1 = np.array([[1, 0, -1]] * 3, dtype=float)
    e1 /= np.linalg.norm(e1)
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.cos(t)[:, None] * e1.ravel() + np.sin(t)[:, None] * e1.T.ravel()
    x += 0.1 * rng.standard_normal(x.shape)
    x -= x.mean(axis=1, keepdims=True)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def naive_filtration(points, landmarks, nu, block=256):
    d = cdist(points, points[landmarks])
    m = np.sort(d, axis=1)[:, nu - 1] if nu else np.zeros(len(points))
    v = d - m[:, None]
    out = np.full((len(landmarks),) * 2, np.inf)
    for s in range(0, len(points), block):
        w = v[s:s + block]
        out = np.minimum(out, np.maximum(w[:, :, None], w[:, None, :]).min(axis=0))
    out = np.maximum(out, 0.0)
    np.fill_diagonal(out, 0.0)
    return out


def best_of(repeats, fn):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--landmarks", type=int, default=100)
    ap.add_argument("--nu", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gudhi", action="store_true", help="also time GUDHI's strong witness complex")
    ap.add_argument("--gudhi-alpha2", type=float, default=0.1,
                    help="GUDHI's max_alpha_square (default 0.1)")
    args = ap.parse_args()

    x = primary_circle(args.n, seed=0)
    lazy_witness_barcodes(x[:2000], 20)  # warm: imports of torch and ripser are not timed
    t_maxmin, (landmarks, dist) = best_of(args.repeats, lambda: _maxmin(x, args.landmarks, 0))
    t_filt, filt = best_of(args.repeats, lambda: _witness_matrix(dist, args.nu))
    t_rips, dgms = best_of(args.repeats,
                           lambda: _ripser_diagrams(filt, maxdim=1, coeff=2))
    t_total, bars = best_of(args.repeats, lambda: lazy_witness_barcodes(
        x, args.landmarks, nu=args.nu, maxdim=1, seed=0))
    t_naive, naive = best_of(args.repeats, lambda: naive_filtration(x, landmarks, args.nu))
    if not np.allclose(naive, filt, rtol=0, atol=1e-12):
        raise SystemExit("the naive and the blocked filtration differ")

    rows = [("maxmin landmarks (+ distances)", t_maxmin), ("witness filtration", t_filt),
            ("ripser (maxdim 1)", t_rips), ("lazy_witness_barcodes total", t_total),
            ("baseline: cdist + numpy broadcast filtration", t_naive)]
    if args.gudhi:
        import gudhi

        def strong_witness():
            wc = gudhi.EuclideanStrongWitnessComplex(landmarks=x[landmarks], witnesses=x)
            # The relaxation must be capped: with no cap every witness witnesses every
            # triangle (2,000 points did not finish in 200 s).
            st = wc.create_simplex_tree(max_alpha_square=args.gudhi_alpha2, limit_dimension=2)
            st.compute_persistence()
            return st
        t_gudhi, _ = best_of(1, strong_witness)
        rows.append(("GUDHI EuclideanStrongWitnessComplex + persistence (1 run)", t_gudhi))

    print(f"{args.n} points in R^{x.shape[1]}, {args.landmarks} landmarks, nu = {args.nu}, "
          f"best of {args.repeats}; R = {bars.covering_radius:.4f}, "
          f"H1 bars {len(bars.diagrams[1])}, longest "
          f"{np.max(np.diff(bars.diagrams[1], axis=1), initial=0):.4f}")
    print(f"{'stage':<58}{'seconds':>9}")
    for name, t in rows:
        print(f"{name:<58}{t:>9.3f}")
    t_base = t_maxmin + t_naive + t_rips
    print(f"{'baseline total (maxmin + baseline filtration + ripser)':<58}{t_base:>9.3f}")
    print(f"{'speed-up, filtration (cdist + broadcast vs blocked torch)':<58}"
          f"{t_naive / t_filt:>8.1f}x")
    print(f"{'speed-up, total':<58}{t_base / t_total:>8.1f}x")


if __name__ == "__main__":
    main()
