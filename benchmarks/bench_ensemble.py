"""Training speed of the vectorised ensemble against a plain loop over separate networks.

One training iteration of N networks M(64, 32, 64) on MNIST-shaped data (batch 128 per
network; forward, backward, Adam step; dropout on), two ways:

    loop      N separate `Net` modules (plain nn.Conv2d / nn.Linear), each with its own
              torch.optim.Adam (PyTorch's default implementation), one after the other
    ensemble  `cnntopo.training.loop.train_step` on one `Ensemble`: stacked weights, channels-last
              activations, im2col first layer, one fused Adam over all N; networks in passes
              as `train` runs them (on the CPU as many as keep the largest activation under
              32 MiB, here 1 per pass; on a GPU all N in one pass)

The inputs are drawn once, outside the timing, for both. After warm-up iterations the two
are timed in alternation, `repeats` rounds; reported: the median seconds per iteration,
network-iterations per second (N x iterations / s) and the speed-up over the loop.

    flock /tmp/cnntopo-cpu.lock .venv/bin/python benchmarks/bench_ensemble.py [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from cnntopo.training.loop import (
    CPU_PASS_BYTES,
    TrainConfig,
    _nets_per_pass,
    _optimizer,
    _passes,
    train_step,
)
from cnntopo.training.nets import Ensemble, Net

WIDTHS = (64, 32, 64)
BATCH = 128


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(n, device):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, BATCH, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (n, BATCH), generator=g).to(device)
    keep = (torch.rand(n, BATCH, WIDTHS[2], generator=g) >= 0.5).to(device)
    return x, y, keep


def loop_step(n, device):
    nets = [Net("M", WIDTHS, seed=0, index=i).to(device).train() for i in range(n)]
    opts = [torch.optim.Adam(net.parameters(), lr=1e-3) for net in nets]
    x, y, _ = _data(n, device)

    def step():
        for i, (net, opt) in enumerate(zip(nets, opts)):
            loss = F.cross_entropy(net(x[i]), y[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return step


def ensemble_step(n, device):
    config = TrainConfig(arch="M", widths=WIDTHS, n_nets=n, batch_size=BATCH, device=str(device))
    model = Ensemble("M", WIDTHS, n, seed=0).to(device).train()
    opt = _optimizer(model, config)
    per_pass = n if device.type != "cpu" else _nets_per_pass(model, BATCH, CPU_PASS_BYTES)
    passes = _passes(n, per_pass)
    x, y, keep = _data(n, device)
    return lambda: train_step(model, opt, x, y, config, passes, keep)


def _seconds(step, iterations, device):
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(iterations):
        step()
    synchronize(device)
    return (time.perf_counter() - t0) / iterations


def measure(n, device, warm=2, repeats=5, iterations=3):
    """Median seconds per iteration of each method, timed in alternation."""
    steps = {"loop": loop_step(n, device), "ensemble": ensemble_step(n, device)}
    for step in steps.values():
        for _ in range(warm):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(_seconds(step, iterations, device))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nets", default="8,100", help="comma-separated N")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    print(f"M{WIDTHS}, batch {BATCH}, device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; median of alternating rounds")
    print(f"{'N':>4} {'method':>9} {'s/iter':>8} {'net-it/s':>9} {'vs loop':>8}")
    for n in (int(s) for s in args.nets.split(",")):
        slow = n >= 50 and device.type == "cpu"  # the N = 100 loop takes seconds per iteration
        sec = measure(n, device, warm=1 if slow else 2, repeats=3 if slow else 5,
                      iterations=1 if slow else 3)
        for name, s in sec.items():
            print(f"{n:>4} {name:>9} {s:>8.3f} {n / s:>9.1f} {sec['loop'] / s:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
