"""The training step with and without torch.compile of the forward pass (`train --compile`).

Two shapes on this device: the demo's 8 x M(64, 32, 64) at batch 32 and 2 x C(64, 32, 64)
at batch 128, networks in passes as `train` runs them. After the compiled step's warm-up
(its compilation, reported), eager and compiled are timed in alternation, median of
`rounds`. On the CPU torch.compile needs a C++ compiler.

    .venv/bin/python benchmarks/bench_compile.py [--rounds 4] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from cnntopo.training.loop import (
    CPU_PASS_BYTES,
    TrainConfig,
    _nets_per_pass,
    _optimizer,
    _passes,
    _Step,
)
from cnntopo.training.nets import Ensemble

SHAPES = [("M", (64, 32, 64), 8, 32, "mnist", 1, 28),
          ("C", (64, 32, 64), 2, 128, "cifar10-color", 3, 24)]


def bench(shape, args):
    arch, widths, n, b, dataset, c, size = shape
    cfg = TrainConfig(arch=arch, widths=widths, dataset=dataset, n_nets=n, batch_size=b,
                      precision="fp32", device=args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, b, c, size, size, generator=g).to(args.device)
    y = torch.randint(0, 10, (n, b), generator=g).to(args.device)
    keep = (torch.rand(n, b, widths[2], generator=g) >= 0.5).to(args.device) if arch == "M" else None
    sync = torch.cuda.synchronize if args.device != "cpu" else (lambda: None)
    steps, warm = {}, {}
    for compiled in (False, True):
        model = Ensemble(arch, widths, n, in_channels=c, image_size=size, seed=0)
        model = model.to(args.device).train()
        per_pass = n if args.device != "cpu" else _nets_per_pass(model, b, CPU_PASS_BYTES)
        step = _Step(model, _optimizer(model, cfg), cfg, _passes(n, per_pass), compile=compiled)
        t = time.perf_counter()
        step(x, y, keep)
        step(x, y, keep)
        sync()
        steps[compiled], warm[compiled] = step, time.perf_counter() - t
    times = {False: [], True: []}
    for _ in range(args.rounds):
        for compiled, step in steps.items():
            sync()
            t = time.perf_counter()
            for _ in range(3):
                step(x, y, keep)
            sync()
            times[compiled].append((time.perf_counter() - t) / 3)
    eager, comp = statistics.median(times[False]), statistics.median(times[True])
    print(f"{n} x {arch}{widths} batch {b}, {args.device}: eager {eager:.3f} s/it, compiled "
          f"{comp:.3f} s/it: {eager / comp:.2f}x; compilation (2 warm-up steps) "
          f"{warm[True]:.0f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    for shape in SHAPES:
        bench(shape, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
