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
"""

from __future__ import annotations

import argparse
import platform
import sys
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


def main(argv=None):
    from cnntopo.topology.mapper import mapper_graph, pca_lens
    from cnntopo.topology.mapper_stats import auto_parameters, mapper_confidence

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args(argv)
    print(f"CPU: {platform.processor() or platform.machine()}; B = {args.bootstrap}")
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
