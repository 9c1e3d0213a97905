"""Training speed of the ensemble of conditions against a loop over plain networks.

One training iteration (forward, backward, Adam step, batch 25) of the ten runs one seed of
``cnntopo reproduce klein-layers`` trains on MNIST (the eight conditions and the two runs in
the published setting), two ways:

    loop      ten `SmallCNN` modules (``ConditionEnsemble.network(i)``: KleinConv2d for a
              frozen conv1, nn.Conv2d + klein_connect_ for a masked conv2, nn.Linear), each
              with its own torch.optim.Adam, one after the other
    ensemble  one `ConditionEnsemble`: shared im2col, one matmul per conv1 kind, frozen
              families computed once without autograd, conv2 as one grouped convolution,
              `MemberAdam`

Both start from the same weights and see the same batch; the script checks that they agree
after the timed iterations. Timed in alternation after warm-up; reported: the median CPU
seconds per iteration (process time: the machine is shared) and member-images per CPU
second, with 1 and 2 PyTorch threads (two threads spend their time waiting when the
machine is busy).

    .venv/bin/python benchmarks/bench_klein_conditions.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
import torch.nn.functional as F

from cnntopo.experiments.klein_layers import CONDITIONS, condition_members
from cnntopo.training.conditions import ConditionEnsemble, MemberAdam

BATCH = 25


def _setup():
    runs = condition_members({name: 1e-3 for name, *_ in CONDITIONS}, published=True)
    members = [m for _, m in runs]
    ens = ConditionEnsemble(members, seed=0)
    nets = [ens.network(i) for i in range(len(members))]
    opts = [torch.optim.Adam(net.parameters(), lr=m.lr) for net, m in zip(nets, members)]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    return members, ens, MemberAdam(ens), nets, opts, x, y


def _loop_step(members, nets, opts, x, y):
    onehot = F.one_hot(y, 10).float()
    for m, net, opt in zip(members, nets, opts):
        opt.zero_grad()
        out = net(x)
        loss = F.cross_entropy(out, y) if m.loss == "ce" else F.mse_loss(out.softmax(-1), onehot)
        loss.backward()
        opt.step()


def _ensemble_step(ens, opt, x, y):
    opt.zero_grad()
    ens.losses(ens(x), y).sum().backward()
    opt.step()


def _cpu(f, iters):
    t = time.process_time()
    for _ in range(iters):
        f()
    return (time.process_time() - t) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=10)
    args = p.parse_args()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        members, ens, opt, nets, opts, x, y = _setup()
        steps = {"loop": functools.partial(_loop_step, members, nets, opts, x, y),
                 "ensemble": functools.partial(_ensemble_step, ens, opt, x, y)}
        times = {name: [] for name in steps}
        for step in steps.values():
            step()                                  # warm-up
        for _ in range(args.rounds):
            for name, step in steps.items():
                times[name].append(_cpu(step, args.iters))
        with torch.no_grad():
            got = ens(x)
            worst = max((net(x) - got[i]).abs().max().item() for i, net in enumerate(nets))
        if worst > 1e-3:
            raise SystemExit(f"the ensemble and the loop disagree: max |logit difference| {worst:.2e}")
        base = statistics.median(times["loop"])
        print(f"{threads} thread(s), {len(members)} members, batch {BATCH}, "
              f"{args.rounds} x {args.iters} iterations each; max |logit difference| {worst:.1e}")
        for name, t in times.items():
            med = statistics.median(t)
            print(f"  {name:<9} {1e3 * med:7.1f} ms CPU / iteration  "
                  f"{len(members) * BATCH / med:6.0f} member-images / CPU s  x{base / med:.2f}")


if __name__ == "__main__":
    main()
