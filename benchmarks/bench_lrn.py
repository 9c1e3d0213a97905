"""The C network's training step with LRN as one banded matmul against torch's LRN.

`cnntopo.training.nets._lrn_last` computes ``tf.nn.lrn`` over the channels of channels-last maps as
``x / (1 + x**2 @ band) ** 0.75`` (band: the 9-wide 0/1 window times alpha). Baseline: the
same step with the LRN it replaced, ``F.local_response_norm`` on (images, C, H, W) views
(which pads and average-pools a 5-D view). One `train_step` of N x C(64, 32, 64) on colour
CIFAR-shaped data (batch 128, SGD, networks in passes as `train` runs them on this device),
the two timed in alternation, median of `rounds`; then both train the same 4 steps from the
same weights and the largest weight difference is printed (it must be float rounding).

    .venv/bin/python benchmarks/bench_lrn.py [--nets 2 --rounds 4] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import cnntopo.training.nets as nets
from cnntopo.training.loop import (
    CPU_PASS_BYTES,
    TrainConfig,
    _nets_per_pass,
    _optimizer,
    _passes,
    train_step,
)


def torch_lrn_last(x):
    """The LRN `_lrn_last` replaced: torch's local_response_norm over per-image views."""
    def lrn(x):
        size = 2 * nets.LRN_RADIUS + 1  # torch divides alpha by the window size; TF does not
        return F.local_response_norm(x.float(), size, alpha=nets.LRN_ALPHA * size,
                                     beta=nets.LRN_BETA, k=nets.LRN_BIAS).to(x.dtype)
    return nets._per_image(x, lrn)


OURS = nets._lrn_last


def step_time(lrn, args, x, y, iters):
    nets._lrn_last = lrn
    try:
        cfg = TrainConfig(arch="C", widths=(64, 32, 64), dataset="cifar10-color",
                          n_nets=args.nets, batch_size=128, precision="fp32", device=args.device)
        model = nets.Ensemble("C", cfg.widths, args.nets, in_channels=3, image_size=24,
                              seed=0).to(args.device).train()
        opt = _optimizer(model, cfg)
        per_pass = args.nets if args.device != "cpu" else _nets_per_pass(model, 128, CPU_PASS_BYTES)
        passes = _passes(args.nets, per_pass)
        train_step(model, opt, x, y, cfg, passes)  # warm-up
        sync = torch.cuda.synchronize if args.device != "cpu" else (lambda: None)
        sync()
        t = time.perf_counter()
        for _ in range(iters):
            train_step(model, opt, x, y, cfg, passes)
        sync()
        return (time.perf_counter() - t) / iters, model
    finally:
        nets._lrn_last = OURS


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.nets, 128, 3, 24, 24, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.nets, 128), generator=g).to(args.device)
    times = {"torch": [], "ours": []}
    for _ in range(args.rounds):
        for name, lrn in (("torch", torch_lrn_last), ("ours", OURS)):
            times[name].append(step_time(lrn, args, x, y, args.iterations)[0])
    base, ours = statistics.median(times["torch"]), statistics.median(times["ours"])
    _, a = step_time(torch_lrn_last, args, x, y, 3)
    _, b = step_time(OURS, args, x, y, 3)
    diff = max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))
    print(f"{args.nets} x C(64,32,64), batch 128, {args.device}: s/iteration torch LRN "
          f"{base:.3f}, banded-matmul LRN {ours:.3f}: {base / ours:.2f}x; largest weight "
          f"difference after 4 steps {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
