"""What the Watcher costs a training: the example's training with and without it.

The model, data and loop of ``examples/watch_fashion_mnist.py`` (a small ResNet on
Fashion-MNIST, batch 128), trained for ``--steps`` steps from the same initialisation and
batches: without a Watcher, with ``Watcher(every=50)`` (light readings, no writer), and with
a TensorBoard ``SummaryWriter`` too (scalars, text, a picture every 5th snapshot). The variants
are interleaved in each of ``--repeats`` rounds (the machine may be shared); the ratio of
training wall times is reported per round and as the median. A second, steadier measure of the
same cost: the seconds the Watcher spent inside its snapshots (the manifest records each one),
as a share of the watched training's wall time; and the ratio of CPU time (user + sys of the
process, all threads), which other users of a shared machine do not inflate. Also the bytes
per snapshot, of the manifest and of readings.jsonl.

    .venv/bin/python benchmarks/bench_watch.py [--steps 200] [--every 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from cnntopo import Watcher
from cnntopo.sources.rundir import read_manifest
from cnntopo.training.readings import READINGS_NAME, stored_readings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watch_fashion_mnist.py"


def load_example():
    spec = importlib.util.spec_from_file_location("watch_fashion_mnist", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(ex, data, variant, args, folder):
    torch.manual_seed(args.seed)
    model = ex.SmallResNet(args.width)
    watcher = writer = None
    if variant != "none":
        if variant == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(folder / "tb"))
        watcher = Watcher(folder / "run", every=args.every, writer=writer,
                          density=args.density)
    tick, cpu = time.perf_counter(), time.process_time()
    ex.train(model, data, steps=args.steps, batch=args.batch, seed=args.seed, watcher=watcher,
             progress=False)
    if watcher is not None:
        watcher.close()
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - tick
    out = {"variant": variant, "seconds": seconds, "cpu_seconds": time.process_time() - cpu}
    if watcher is not None:
        manifest = read_manifest(folder / "run")
        entries = manifest["checkpoints"]
        last = stored_readings(folder / "run")[entries[-1]["iteration"]]
        out.update(snapshots=len(entries), snapshot_seconds=sum(e["seconds"] for e in entries),
                   median_snapshot_seconds=statistics.median(e["seconds"] for e in entries),
                   bytes_per_snapshot=statistics.median(e["bytes"] for e in entries),
                   manifest_bytes=(folder / "run" / "manifest.json").stat().st_size,
                   readings_bytes=(folder / "run" / READINGS_NAME).stat().st_size,
                   filters=sum(r["n_filters"] for r in last),
                   read=sum(r.get("n_kept", 0) for r in last))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--density", default="15,0.3",
                    help="the Watcher's rho(k, p), as in the example ('none': every filter)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    args.density = (None if args.density == "none"
                    else (int(args.density.split(",")[0]), float(args.density.split(",")[1])))
    if args.threads:
        torch.set_num_threads(args.threads)
    ex = load_example()
    data = ex.load_data()
    variants = ("none", "watcher", "tensorboard")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up: first-call costs (allocator, imports of the readings and the writer)
        run(ex, (data[0][:512], data[1][:512]), "tensorboard",
            argparse.Namespace(**{**vars(args), "steps": 2, "every": 1}), Path(tmp) / "warm")
        for r in range(args.repeats):
            for i, variant in enumerate(variants):
                res = run(ex, data, variant, args, Path(tmp) / f"{r}-{i}")
                res["round"] = r
                results.append(res)
                print(json.dumps(res), flush=True)
    base = {r["round"]: r["seconds"] for r in results if r["variant"] == "none"}
    base_cpu = {r["round"]: r["cpu_seconds"] for r in results if r["variant"] == "none"}
    print(f"\n{args.steps} steps of SmallResNet({args.width}) on {data[4]}, batch {args.batch}, "
          f"every {args.every}, {torch.get_num_threads()} threads; median of {args.repeats} "
          f"interleaved rounds")
    print(f"{'variant':<12} {'train s':>8} {'ratio':>6} {'per round':>22} {'CPU s':>7} "
          f"{'ratio':>6} {'in snapshots':>13} {'snapshots':>9} {'s/snap':>7} {'KiB/snap':>9}")
    for variant in variants:
        mine = [r for r in results if r["variant"] == variant]
        ratios = [r["seconds"] / base[r["round"]] for r in mine]
        cpu = [r["cpu_seconds"] / base_cpu[r["round"]] for r in mine]
        line = (f"{variant:<12} {statistics.median(r['seconds'] for r in mine):>8.1f} "
                f"{statistics.median(ratios):>6.3f} {' '.join(f'{x:.3f}' for x in ratios):>22} "
                f"{statistics.median(r['cpu_seconds'] for r in mine):>7.1f} "
                f"{statistics.median(cpu):>6.3f}")
        if variant != "none":
            share = statistics.median(r["snapshot_seconds"] / r["seconds"] for r in mine)
            per = statistics.median(r["median_snapshot_seconds"] for r in mine)
            line += (f" {share:>12.2%} {mine[0]['snapshots']:>9} {per:>7.3f} "
                     f"{mine[0]['bytes_per_snapshot'] / 1024:>9.1f}")
        print(line)
    w = next(r for r in results if r["variant"] == "watcher")
    print(f"filters per snapshot {w['filters']:,} (read after rho: {w['read']:,}); manifest "
          f"{w['manifest_bytes'] / 1024:.1f} KiB and readings.jsonl "
          f"{w['readings_bytes'] / 1024:.1f} KiB after {w['snapshots']} snapshots")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results},
                                              indent=1))


if __name__ == "__main__":
    main()
