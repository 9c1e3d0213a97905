"""Speed of the ensemble's training loop on one device, and of a loop over single networks.

Used by benchmarks/device_check.py. `measure_ensemble` times the body of
`cnntopo.training.loop.train`'s loop (batch gathering and CIFAR-10 crops on the device, then the
step, eager or replayed from a CUDA graph) for one variant (precision x conv implementation
x CUDA graph), after checking its first steps against a float32 reference;
`measure_loop` times N plain `Net` modules with their own optimisers;
`flops_per_network_iteration` counts the multiply-adds.
"""

from __future__ import annotations

import copy
import gc
import math
import time

import torch
import torch.nn.functional as F

from cnntopo.training.data import dataset_spec
from cnntopo.training.loop import (
    TrainConfig,
    _Batches,
    _optimizer,
    _passes,
    _Step,
    autocast,
    numerics,
)
from cnntopo.training.nets import Net

__all__ = ["flops_per_network_iteration", "measure_ensemble", "measure_loop", "profile_ensemble",
           "variant_name"]


def _free():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- FLOPs

def flops_per_network_iteration(arch, widths, *, no_pool=False, in_channels=1, image_size=28,
                                batch=128):
    """Multiply-add FLOPs (2 per MAC) of one training iteration of one network.

    Forward 2 x MACs per layer; backward 2 x MACs for the weight gradient of every layer and
    2 x MACs for the input gradient of every layer but the first. Element-wise work
    (pooling, ReLU, LRN, optimiser) is not counted.
    """
    net = Net(arch, tuple(widths), in_channels=in_channels, image_size=image_size,
              no_pool=no_pool)
    size, macs = image_size, []
    for cin, cout, k, s, _, _ in net.blocks:
        macs.append(size * size * cout * cin * 9)
        if k:
            size = math.ceil(size / s)
    for name in ("fc", "out"):
        if hasattr(net, name):
            w = getattr(net, name).weight
            macs.append(w.shape[0] * w.shape[1])
    return batch * (6 * sum(macs) - 2 * macs[0])


# ------------------------------------------------------------------- measuring a variant

def variant_name(v):
    return (f"{v['precision']}-{'graph' if v['graph'] else 'eager'}-{v['conv_impl']}"
            f"{'-compile' if v.get('compile') else ''}")


def _synthetic_set(dataset, n_images, device, seed=0):
    """Random training images in the dataset's raw format (MNIST float, CIFAR-10 uint8)."""
    g = torch.Generator().manual_seed(seed)
    if dataset == "mnist":
        x = torch.rand(n_images, 1, 28, 28, generator=g)
    else:
        x = torch.randint(0, 256, (n_images, 3, 32, 32), generator=g, dtype=torch.uint8)
    return x.to(device), torch.randint(0, 10, (n_images,), generator=g).to(device)


def _learnable_batches(cfg, steps, device, seed=1):
    """Fixed prepared batches (class templates plus noise) for the agreement check."""
    spec = dataset_spec(cfg.dataset)
    g = torch.Generator().manual_seed(seed)
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    templates = torch.randn(10, *shape, generator=g)
    out = []
    for _ in range(steps):
        y = torch.randint(0, 10, (cfg.n_nets, cfg.batch_size), generator=g)
        x = templates[y] + 0.5 * torch.randn(cfg.n_nets, cfg.batch_size, *shape, generator=g)
        keep = None
        if cfg.arch == "M" and cfg.widths[2]:
            keep = torch.rand(cfg.n_nets, cfg.batch_size, cfg.widths[2], generator=g) >= 0.5
        out.append((x.to(device), y.to(device), None if keep is None else keep.to(device)))
    return out


def _variant_step(cfg, variant, base, data, graph=None):
    """(config, model, optimiser, step, batches) of `variant`, all N networks in one pass,
    from a copy of `base`; `graph` overrides the variant's CUDA-graph setting."""
    graph = variant["graph"] if graph is None else graph
    cfg = TrainConfig(**{**cfg.__dict__, "precision": variant["precision"]})
    model = copy.deepcopy(base).to(torch.device(cfg.device)).train()
    model.conv_impl = variant["conv_impl"]
    opt = _optimizer(model, cfg, capturable=graph)
    step = _Step(model, opt, cfg, _passes(cfg.n_nets, cfg.n_nets), graph=graph,
                 compile=bool(variant.get("compile")))
    return cfg, model, opt, step, _Batches(cfg, *data)


def measure_ensemble(cfg, variant, base, data, *, seconds, check=None, log=print):
    """Train-loop rate of one variant (and its agreement with a reference).

    Parameters
    ----------
    cfg : TrainConfig
        Shape of the ensemble; its precision is replaced by the variant's.
    variant : dict
        ``{"precision", "graph", "conv_impl"}`` and optionally ``"compile"`` (torch.compile
        of the forward; its compilation counts as warm-up).
    base : Ensemble
        Initial weights (CPU), copied.
    data : (train_x, train_y)
        Synthetic training set on the device.
    seconds : float
        Time the loop for about this long after warm-up.
    check : dict, optional
        ``{"batches": [...], "reference": {"losses", "moved"} or None}``: first train on
        these batches from `base`; compare with the reference (or become it).

    Returns
    -------
    dict
        Rates (iterations/s, network-iterations/s), warm-up seconds, agreement numbers,
        and, for the reference, ``_reference`` (its losses and weight changes).
    """
    device = torch.device(cfg.device)
    cfg, model, opt, step, batches = _variant_step(cfg, variant, base, data)
    res = {"variant": variant_name(variant), **variant, "n_nets": cfg.n_nets,
           "batch_size": cfg.batch_size}
    total = torch.zeros(cfg.n_nets, dtype=torch.float64, device=device)
    try:
        with numerics(cfg.precision, device):
            synchronize(device)
            t0 = time.perf_counter()
            t = 0
            if check is not None:
                losses = []
                for x, y, keep in check["batches"]:
                    losses.append(step(x, y, keep).detach().float().mean().item())
                    t += 1
                init = dict(base.state_dict())
                moved = {k: v.detach().cpu() - init[k] for k, v in model.state_dict().items()}
                ref = check["reference"]
                if ref is None:
                    res["_reference"] = {"losses": losses, "moved": moved}
                    ref = res["_reference"]
                # Weight trajectories of Adam part quickly under any change of arithmetic
                # (bf16 vs fp32 on a CPU, 4 x M(64,32,64), 20 steps: 0.11-0.23 of the
                # change, with losses within 0.1%): judge by the losses, and by the weights
                # only against gross failure (a step that does nothing gives 1.0).
                rel_move = max(float((moved[k] - ref["moved"][k]).norm()
                                     / ref["moved"][k].norm().clamp_min(1e-30)) for k in moved)
                rel_loss = max(abs(a - b) / abs(b) for a, b in zip(losses, ref["losses"]))
                loss_ok = all(abs(a - b) <= 0.05 * abs(b) + 0.01
                              for a, b in zip(losses, ref["losses"]))
                drop, ref_drop = losses[0] - losses[-1], ref["losses"][0] - ref["losses"][-1]
                learned = drop >= 0.5 * ref_drop  # learns at least half what fp32 eager does
                res["agreement"] = {
                    "steps": len(losses), "losses": losses, "reference_losses": ref["losses"],
                    "max_rel_loss_diff": rel_loss, "max_rel_weight_change_diff": rel_move,
                    "learned": bool(learned),
                    "rule": "every step's loss within 5% + 0.01 of fp32 eager's, its loss "
                            "falls at least half as much, weight change within 50% (norm) "
                            "of fp32 eager's",
                    "pass": bool(loss_ok and learned and rel_move <= 0.5
                                 and all(map(math.isfinite, losses)))}
            while t < 4:  # warm-up: cuDNN autotuning, graph capture
                total += step(*batches(t))
                t += 1
            synchronize(device)
            res["warmup_s"] = round(time.perf_counter() - t0, 3)
            if step.error:
                res["graph_error"] = step.error
            n_done, chunk, start = 0, 2, time.perf_counter()
            while True:
                for _ in range(chunk):
                    total += step(*batches(t))
                    t += 1
                n_done += chunk
                synchronize(device)
                el = time.perf_counter() - start
                if el >= seconds or n_done >= 100_000:
                    break
                rate = n_done / el
                chunk = max(1, min(int(rate * (seconds - el)) + 1, 4 * n_done))
        finite = bool(torch.isfinite(total).all()) and all(
            bool(torch.isfinite(p).all()) for p in model.parameters())
        res.update(iterations=n_done, seconds=el, it_per_s=n_done / el,
                   net_it_per_s=cfg.n_nets * n_done / el, finite=finite)
        if device.type == "cuda":
            res["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2)
    finally:
        step.close()
        del model, opt, step
        _free()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
    log(f"   {res['variant']:<22} {res['net_it_per_s']:>10.1f} net-it/s  "
        f"({res['it_per_s']:.2f} it/s, warm-up {res['warmup_s']:.1f}s)"
        + (f"  loss diff {res['agreement']['max_rel_loss_diff']:.1e}, weight change diff "
           f"{res['agreement']['max_rel_weight_change_diff']:.1e}"
           f"{'' if res['agreement']['pass'] else ' FAILS the sanity check'}"
           if "agreement" in res else ""))
    return res


def measure_loop(cfg, precision, *, seconds, log=print):
    """N separate `Net` modules, each its own optimiser, one after another (batches pre-drawn)."""
    device = torch.device(cfg.device)
    spec = dataset_spec(cfg.dataset)
    nets = [Net(cfg.arch, cfg.widths, in_channels=spec.in_channels, image_size=spec.image_size,
                no_pool=cfg.no_pool, seed=cfg.seed, index=i).to(device).train()
            for i in range(cfg.n_nets)]
    if cfg.arch == "M":
        opts = [torch.optim.Adam(net.parameters(), lr=cfg.lr) for net in nets]
    else:
        opts = [torch.optim.SGD(net.parameters(), lr=cfg.lr) for net in nets]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(cfg.n_nets, cfg.batch_size, spec.in_channels, spec.image_size,
                    spec.image_size, generator=g).to(device)
    y = torch.randint(0, 10, (cfg.n_nets, cfg.batch_size), generator=g).to(device)

    def step():
        for i, (net, opt) in enumerate(zip(nets, opts)):
            with autocast(precision, device):
                loss = F.cross_entropy(net(x[i]).float(), y[i])
                if cfg.weight_decay and hasattr(net, "fc"):
                    loss = loss + cfg.weight_decay * 0.5 * net.fc.weight.square().sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    try:
        with numerics(precision, device):
            step()
            step()
            synchronize(device)
            n_done, start = 0, time.perf_counter()
            while True:
                step()
                n_done += 1
                synchronize(device)
                el = time.perf_counter() - start
                if el >= seconds:
                    break
    finally:
        del nets, opts
        _free()
    res = {"variant": f"loop-{precision}", "precision": precision, "n_nets": cfg.n_nets,
           "iterations": n_done, "seconds": el, "it_per_s": n_done / el,
           "net_it_per_s": cfg.n_nets * n_done / el}
    log(f"   {res['variant']:<22} {res['net_it_per_s']:>10.1f} net-it/s")
    return res


# --------------------------------------------------------------------------- profiling

def profile_ensemble(cfg, variant, base, data, *, steps=5, top=25):
    """Where one eager training step of the ensemble spends its time (torch.profiler).

    The step runs eagerly with the variant's precision and conv implementation (a CUDA
    graph replays as one opaque launch, so it is not profiled), after 3 warm-up steps.

    Returns
    -------
    dict
        ``{"steps", "activity", "total_ms_per_step", "ops": [{"name", "calls",
        "self_ms_per_step", "share"}]}``: the `top` operators by self time on the device
        (on the CPU: self CPU time), per step, and their share of the step's total; on
        CUDA also ``"kernels"``, the same for the kernels themselves.
    """
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(cfg.device)
    cfg, model, opt, step, batches = _variant_step(cfg, variant, base, data, graph=False)
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    try:
        with numerics(cfg.precision, device):
            for t in range(3):
                step(*batches(t))
            synchronize(device)
            with profile(activities=activities) as prof:
                for t in range(3, 3 + steps):
                    step(*batches(t))
                synchronize(device)
    finally:
        step.close()
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()

    def table(rows):
        rows = sorted((e for e in rows if getattr(e, attr, 0) > 0),
                      key=lambda e: getattr(e, attr), reverse=True)
        total = sum(getattr(e, attr) for e in rows)  # microseconds, all steps
        return total, [{"name": e.key, "calls": e.count // steps,
                        "self_ms_per_step": getattr(e, attr) / 1e3 / steps,
                        "share": getattr(e, attr) / total if total else 0.0} for e in rows[:top]]

    # Operators (CPU-side events) carry the device time of the kernels they launch; the
    # kernels are events of their own: two tables, each adding up to the step once.
    cpu_type = torch.autograd.DeviceType.CPU
    total, ops = table(e for e in averages if e.device_type == cpu_type)
    result = {"steps": steps, "activity": "cuda" if cuda else "cpu",
              "total_ms_per_step": total / 1e3 / steps, "ops": ops}
    if cuda:
        _, result["kernels"] = table(e for e in averages if e.device_type != cpu_type)
    del model, opt, step
    _free()
    return result
