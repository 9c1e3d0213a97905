"""How to read k x k filters against the Klein bottle: three readings, random vs trained.

The 3x3 readings (distance 0.5 to the primary circle / the Klein bottle) need a definition for
5x5, 7x7 and 11x11 filters. This measures three candidates on the same clouds:

- ``grid``: the model sampled on the k x k grid itself (cell integrals of the linear ramp and
  the quadratic, cnntopo.klein_filters), distances in R^(k*k);
- ``step``: the primary circle as step edges through the centre (sign of u, integrated over
  each cell), distances in R^(k*k) (circle only);
- ``area``: the filter area-averaged to 3x3, then the 3x3 readings (what cnntopo uses,
  cnntopo.topology.klein_grid).

Clouds: Gaussian random filters (what chance gives), the first conv layers of small nets
trained on MNIST and Fashion-MNIST for 600 steps (8 nets x 16 filters, kernel k, then a 3x3
layer and a linear head, max-pooling after each conv; Adam 1e-3, batch 64), their initial
weights and what training added to them (trained - initial), and InceptionV3's three 5x5
layers (the download cache's ``inceptionv3-keras``; skipped when absent). No density
filtration in the main columns (every filter counts); the last two repeat the area reading on
the filters rho(10, 0.3) keeps, as the verdict would read them.

    python benchmarks/bench_klein_kxk.py                 # trains once, keeps filters in --out
    python benchmarks/bench_klein_kxk.py --steps 200 --kernels 5    # quick

Trained filters are kept in ``--out`` (default runs/bench_klein_kxk) and reused; ``--retrain``
trains again. The table goes to stdout and ``--out/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnntopo.cloud.pointcloud import normalise
from cnntopo.cloud.prepare import prepare_points
from cnntopo.topology.klein import READING_RADIUS
from cnntopo.topology.klein_filters import cell_centres
from cnntopo.topology.klein_grid import kernel_klein_readings

R = READING_RADIUS


# ------------------------------------------------------------------------------ readings

def grid_readings(unit, k, n_theta=360):
    """(circle, klein) fractions against the model sampled on the k x k grid."""
    if k == 3:
        r = kernel_klein_readings(unit)
        return r.primary_circle_fraction, r.klein_fraction
    xc, yc = cell_centres(k)
    x, y = xc.ravel(), yc.ravel()
    theta = np.arange(n_theta) * np.pi / n_theta
    s = -np.cos(theta)[:, None] * x + np.sin(theta)[:, None] * y
    lin = s / np.linalg.norm(s, axis=1, keepdims=True)
    quad = s ** 2 - (s ** 2).mean(axis=1, keepdims=True)
    quad /= np.linalg.norm(quad, axis=1, keepdims=True)
    best = ((unit @ lin.T) ** 2 + (unit @ quad.T) ** 2).max(axis=1)
    klein = np.sqrt(np.maximum(2 - 2 * np.sqrt(best), 0))
    e1, e2 = -x / np.linalg.norm(x), y / np.linalg.norm(y)
    circle = np.sqrt(np.maximum(2 - 2 * np.hypot(unit @ e1, unit @ e2), 0))
    return float(np.mean(circle <= R)), float(np.mean(klein <= R))


def step_edges(k, n=720, sub=16):
    """Unit step edges through the centre at n angles, each cell integrated on sub x sub."""
    t = 2 * np.pi * np.arange(n) / n
    c = -1 + (np.arange(k * sub) + 0.5) * 2 / (k * sub)
    X, Y = np.meshgrid(c, c[::-1])
    u = np.cos(t)[:, None, None] * X + np.sin(t)[:, None, None] * Y
    f = np.sign(u).reshape(n, k, sub, k, sub).mean(axis=(2, 4)).reshape(n, -1)
    return normalise(f)[0]


def step_fraction(unit, k):
    d = np.sqrt(np.maximum(2 - 2 * (unit @ step_edges(k).T).max(axis=1), 0))
    return float(np.mean(d <= R))


def readings(raw, k, density=(10, 0.3)):
    unit, _ = normalise(raw.reshape(len(raw), -1))
    g = grid_readings(unit, k)
    a = kernel_klein_readings(unit)
    # the verdict reads the filters kept by rho(k, p): the same reading after the filtration
    dense = kernel_klein_readings(prepare_points(unit, k=density[0], p=density[1]).points)
    return {"n": int(len(unit)), "grid_circle": g[0], "grid_klein": g[1],
            "step_circle": step_fraction(unit, k), "area_circle": a.primary_circle_fraction,
            "area_klein": a.klein_fraction, "area_coverage": a.primary_circle_coverage,
            "density": list(density), "dense_circle": dense.primary_circle_fraction,
            "dense_klein": dense.klein_fraction}


# ------------------------------------------------------------------------------ training

def train_first_layers(k, dataset, *, nets=8, width=16, steps=600, batch=64, seed=0):
    """First-layer weights (nets * width, k, k) after `steps`, their initial values, and the
    nets' mean test accuracy (on 2,000 test images). Net i starts from seed * 100 + i and
    draws its own batches."""
    import torch
    import torch.nn.functional as F

    from cnntopo.training.data import load_fashion_mnist, load_mnist

    loader = load_mnist if dataset == "mnist" else load_fashion_mnist
    X, y = loader("train")
    Xt, yt = loader("test")
    trained, init, accs = [], [], []
    for i in range(nets):
        torch.manual_seed(seed * 100 + i)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, k, padding=k // 2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(width, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))
        init.append(net[0].weight.detach().clone())
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(seed * 100 + i)
        for _ in range(steps):
            idx = torch.randint(0, len(X), (batch,), generator=gen)
            loss = F.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accs.append(float((net(Xt[:2000]).argmax(-1) == yt[:2000]).float().mean()))
        trained.append(net[0].weight.detach().clone())
    flat = [torch.cat(w).numpy().reshape(-1, k, k) for w in (trained, init)]
    return flat[0], flat[1], float(np.mean(accs))


# ------------------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=int, nargs="+", default=[3, 5, 7, 11])
    ap.add_argument("--datasets", nargs="*", default=["mnist", "fashion-mnist"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--random", type=int, default=20000, help="random filters per kernel size")
    ap.add_argument("--out", default="runs/bench_klein_kxk")
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training (1: fastest on a shared 2-core machine)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []

    def report(name, k, raw, **extra):
        t0 = time.perf_counter()
        r = {"cloud": name, "kernel": k, **readings(raw, k), **extra}
        r["seconds"] = round(time.perf_counter() - t0, 2)
        results.append(r)
        print(f"{name:34s} {k:2d}x{k:<2d} n={r['n']:6d}  grid P {r['grid_circle']:.3f} "
              f"K {r['grid_klein']:.3f} | step P {r['step_circle']:.3f} | area P "
              f"{r['area_circle']:.3f} K {r['area_klein']:.3f} | rho(10,0.3) area P "
              f"{r['dense_circle']:.3f} K {r['dense_klein']:.3f}"
              + (f"  (acc {extra['accuracy']:.3f})" if "accuracy" in extra else ""), flush=True)

    rng = np.random.default_rng(0)
    for k in args.kernels:
        report("random (Gaussian)", k, rng.normal(size=(args.random, k * k)))
    try:
        from cnntopo.sources.downloads import cached
        from cnntopo.sources.filters import filters_from_source

        hit = cached("inceptionv3-keras")
    except Exception:  # noqa: BLE001 - the cache is optional here
        hit = None
    if hit is None:
        print("InceptionV3 not in the download cache (`cnntopo download inceptionv3`): skipped")
    else:
        for layer in (10, 17, 24):
            f, _, info = filters_from_source(hit.path, layer)
            report(f"InceptionV3 {info['layer_name']}", 5, f)
    for dataset in args.datasets:
        for k in args.kernels:
            path = out / f"{dataset}_k{k}_s{args.steps}.npz"
            if path.exists() and not args.retrain:
                saved = np.load(path)
                trained, init, acc = saved["trained"], saved["init"], float(saved["accuracy"])
            else:
                t0 = time.perf_counter()
                trained, init, acc = train_first_layers(k, dataset, steps=args.steps)
                np.savez(path, trained=trained, init=init, accuracy=acc)
                print(f"  trained {dataset} {k}x{k} in {time.perf_counter() - t0:.0f} s",
                      flush=True)
            report(f"{dataset} init", k, init)
            report(f"{dataset} {args.steps} steps", k, trained, accuracy=acc)
            # what training added: at 11x11 the trained filter is mostly its initial noise
            report(f"{dataset} {args.steps} steps - init", k, trained - init)
    (out / "results.json").write_text(json.dumps({"radius": R, "rows": results}, indent=1))
    print(f"-> {out / 'results.json'}")


if __name__ == "__main__":
    main()
