"""Cost and answers of significant_bars on filter clouds of the paper's sizes.

Each cloud stands in for a density-filtered layer: noisy primary-circle edge filters,
normalised (on the 7-sphere of R^9), with the size the density filtration would have left:
154 points (the demo, 512 filters at rho(20, 0.3)) and 2,000 / 20,000 / 80,000 / 260,000
points (told as rho(100, 0.3) of n / 0.3 filters, as VGG16's layers). The clouds are drawn at
their filtered size, as a filtered core would look, but are not filtered here, so only the
null clouds pay for a density filtration. A pure-noise cloud of each size (uniform filters)
checks the other answer (b1 = 0).

Per cloud: the first call with an empty cache (null clouds drawn and filtered: "cold"), a
second call (null maxima read back from the cache: "warm"), and as the baseline the one
lazy witness barcode the CLI draws (`lazy_witness_barcodes`, 100 landmarks, nu = 1) on the
same cloud.

    python benchmarks/bench_significance.py                  # all sizes, 100 landmarks
    python benchmarks/bench_significance.py --sizes 150,2000 --landmarks 30,50,100

``--table`` instead gives the answers on the clouds of tests/test_significance.py at 30, 50
and 100 landmarks (add ``--demo-run RUN_DIR`` for the demo's layer-1 filters at rho(20,
0.3)); ``--rho15`` the natural patches at rho(15, 0.3) with more patches and other images.

Run it alone (``flock /tmp/cnntopo-cpu.lock ...``): the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from cnntopo.cloud.pointcloud import normalise
from cnntopo.topology.significance import NULL_CACHE, significant_bars
from cnntopo.topology.witness import lazy_witness_barcodes


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


def _circle(rng, n, axes=(0, 1), dim=3):
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.zeros((n, dim))
    x[:, axes[0]], x[:, axes[1]] = np.cos(t), np.sin(t)
    return x


def table_clouds(demo_run=None):
    """(name, points, keyword arguments) of the clouds the tests read."""
    from cnntopo.cloud.pointcloud import density_filter
    from cnntopo.sources.patches import natural_patches
    from cnntopo.topology.klein import dct_basis

    rng = np.random.default_rng(0)
    ring = _circle(rng, 1000) + 0.03 * rng.standard_normal((1000, 3))
    out = [("noisy circle (R^3, 1000)", ring, {})]
    eight = np.vstack([_circle(rng, 1000), _circle(rng, 1000) + [2.0, 0.0, 0.0]])
    out.append(("figure eight (R^3, 2000)", eight + 0.03 * rng.standard_normal(eight.shape), {}))
    e = dct_basis(normalisation="euclidean")
    parts = []
    for a, b in ((0, 1), (0, 2), (1, 3)):
        t = rng.uniform(0, 2 * np.pi, 1000)
        parts.append(np.cos(t)[:, None] * e[a] + np.sin(t)[:, None] * e[b])
    three = np.vstack(parts)
    three += 0.03 * rng.standard_normal(three.shape)
    out.append(("three-circle model (R^9, 3000)", three, {}))
    out.append(("uniform 7-sphere (R^9, 2000)", normalise(rng.standard_normal((2000, 9)))[0], {}))

    def rho(x, k, p):
        unit, _ = normalise(x)
        return unit[density_filter(unit, k, p)], {"density": (k, p), "n_input": len(unit)}

    patches = natural_patches(50_000, seed=0)
    for k in (300, 15):
        x, kw = rho(patches, k, 0.3)
        out.append((f"natural_patches(50000) rho({k}, 0.3)", x, kw))
    from pathlib import Path
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "javaplex-optical-patches"
    for k in (300, 15):
        path = data / f"pointsOpticalDct_k{k}.mat"
        if path.exists():
            from scipy.io import loadmat

            x = loadmat(path)[f"pointsOpticalDct_k{k}"]
            out.append((f"optical patches k{k} (JavaPlex)", x,
                        {"density": (k, 0.3), "n_input": 50_000}))
    if demo_run is not None:
        from cnntopo.sources.filters import filters_from_source

        x, kw = rho(filters_from_source(demo_run, 1)[0], 20, 0.3)
        out.append(("demo layer 1, rho(20, 0.3)", x, kw))
    return out


def _cell(res, q):
    mark = "?" if res.undecided[q] else ""
    return f"{res.counts[q]}{mark} ({res.confidence[q]:.2f})"


def run_table(demo_run, landmarks, resamples):
    print("| cloud | points | L | b0 (conf.) | b1 (conf.) | seconds |")
    print("|---|---|---|---|---|---|")
    for name, x, kw in table_clouds(demo_run):
        for L in landmarks:
            res, sec = _timed(lambda: significant_bars(x, L, n_resamples=resamples, **kw))
            print(f"| {name} | {len(x)} | {L} | {_cell(res, 0)} | {_cell(res, 1)} | {sec:.1f} |",
                  flush=True)


def run_rho15(landmarks, resamples):
    """Natural patches at rho(15, 0.3): more patches, other images, other landmark counts."""
    from cnntopo.cloud.pointcloud import density_filter
    from cnntopo.sources.patches import natural_patches

    photos = ("camera", "astronaut", "coffee", "chelsea", "rocket")
    textures = ("grass", "brick", "gravel")
    print("| patches | images | L | b0 (conf.) | b1 (conf.) | b1 shares |")
    print("|---|---|---|---|---|---|")
    for n, images, label in ((50_000, None, "all 8"), (200_000, None, "all 8"),
                             (50_000, photos, "5 photographs"), (50_000, textures, "3 textures"),
                             (50_000, None, "all 8, seed 1")):
        seed = 1 if label.endswith("seed 1") else 0
        unit, _ = normalise(natural_patches(n, seed=seed, images=images))
        x = unit[density_filter(unit, 15, 0.3)]
        for L in landmarks:
            res = significant_bars(x, L, density=(15, 0.3), n_input=len(unit),
                                   n_resamples=resamples)
            shares = ", ".join(f"{c}: {v:.2f}" for c, v in res.distribution[1].items())
            print(f"| {n} | {label} | {L} | {_cell(res, 0)} | {_cell(res, 1)} | {shares} |",
                  flush=True)


def _timed(func):
    t0 = time.perf_counter()
    out = func()
    return out, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="150,2000,20000,80000,260000")
    ap.add_argument("--landmarks", default="100")
    ap.add_argument("--resamples", type=int, default=20)
    ap.add_argument("--table", action="store_true", help="answers on the test clouds")
    ap.add_argument("--rho15", action="store_true", help="natural patches at rho(15, 0.3)")
    ap.add_argument("--demo-run", default=None, help="run directory of the demo (table)")
    args = ap.parse_args(argv)
    if args.table or args.rho15:
        landmarks = [int(s) for s in (args.landmarks if args.landmarks != "100"
                                      else "30,50,100").split(",")]
        if args.table:
            run_table(args.demo_run, landmarks, args.resamples)
        if args.rho15:
            run_rho15(landmarks, args.resamples)
        return
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
                NULL_CACHE.clear()
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
