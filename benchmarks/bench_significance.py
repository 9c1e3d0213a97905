"""Cost and answers of significant_bars on filter clouds of the paper's sizes.

Each cloud stands in for a density-filtered layer: noisy primary-circle edge filters,
normalised (on the 7-sphere of R^9), with the size the density
filtration would have left: 150 points (the demo, 512 filters at rho(20, 0.3)) and 2,000 /
20,000 / 80,000 / 260,000 points (told as rho(100, 0.3) of n / 0.3 filters, as VGG16's
layers). The clouds are drawn at their filtered size, as a filtered core would look, but are not
filtered here, so only the null clouds pay for a density filtration. A pure-noise cloud of each size (uniform filters)
checks the other answer (b1 = 0).

Per cloud: the first call with an empty cache (null clouds drawn and filtered: "cold"), a
second call (null maxima read back from the cache: "warm"), and as the baseline the one
lazy witness barcode the CLI draws (`lazy_witness_barcodes`, 100 landmarks, nu = 1) on the
same cloud.

    python benchmarks/bench_significance.py                  # all sizes, 100 landmarks
    python benchmarks/bench_significance.py --sizes 150,2000 --landmarks 30,50,100

Run it alone (``flock /tmp/cnntopo-cpu.lock ...``): the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from cnntopo.homology import lazy_witness_barcodes
from cnntopo.pointcloud import normalise
from cnntopo.significance import _memory_cache, significant_bars


def make_cloud(n, seed=0, circle_share=1.0, noise=0.1):
    """`n` normalised 3x3 filters: a noisy primary circle and uniform ones."""
    rng = np.random.default_rng(seed)
    e1 = np.tile([1.0, 0.0, -1.0], 3) / np.sqrt(6.0)
    e2 = np.repeat([1.0, 0.0, -1.0], 3) / np.sqrt(6.0)
    n_circle = int(round(circle_share * n))
    t = rng.uniform(0.0, 2 * np.pi, n_circle)
    circle = np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2
    circle += noise * rng.standard_normal((n_circle, 9))
    noise_rows = rng.standard_normal((n - n_circle, 9))
    unit, _ = normalise(np.vstack([circle, noise_rows]))
    return unit


def density_of(n):
    """(points, rho(k, p), input size): the demo for small `n`, else rho(100, 0.3) of n / 0.3."""
    if n <= 200:
        return 154, (20, 0.3), 512   # 512 filters of 8 x M(64, 32, 64) at rho(20, 0.3)
    return n, (100, 0.3), int(round(n / 0.3))


def _timed(func):
    t0 = time.perf_counter()
    out = func()
    return out, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="150,2000,20000,80000,260000")
    ap.add_argument("--landmarks", default="100")
    ap.add_argument("--resamples", type=int, default=20)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    landmarks = [int(s) for s in args.landmarks.split(",")]
    cpu = os.popen("lscpu | grep 'Model name' | head -1").read().split(":")[-1].strip()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"{'points':>7} {'cloud':>6} {'L':>4} {'b0,b1':>6} {'confidence':>11} "
          f"{'cold s':>7} {'warm s':>7} {'barcode s':>9} {'warm/barcode':>12}")
    for n in sizes:
        n, density, n_input = density_of(n)
        for kind, share in (("circle", 1.0), ("noise", 0.0)):
            x = make_cloud(n, circle_share=share)
            for L in landmarks:
                _memory_cache.clear()
                with tempfile.TemporaryDirectory() as cache:
                    kw = dict(density=density, n_input=n_input, n_resamples=args.resamples,
                              cache_dir=cache)
                    _, cold = _timed(lambda: significant_bars(x, L, **kw))
                    res, warm = _timed(lambda: significant_bars(x, L, **kw))
                _, base = _timed(lambda: lazy_witness_barcodes(x, L, nu=1))
                counts = ",".join(str(c) + ("?" if u else "")
                                  for c, u in zip(res.counts, res.undecided))
                conf = ",".join(f"{c:.2f}" for c in res.confidence)
                print(f"{n:>7} {kind:>6} {L:>4} {counts:>6} {conf:>11} {cold:>7.1f} "
                      f"{warm:>7.1f} {base:>9.2f} {warm / base:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
