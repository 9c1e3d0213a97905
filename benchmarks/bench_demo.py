"""`make demo`'s cost in two parts: its training step against a baseline tree, and its analysis.

    python benchmarks/bench_demo.py [--baseline-src OLD/src] [--iterations 12] [--rounds 2]

Training: the demo's ensemble (fig2 at laptop scale: 8 x M(64, 32, 64), batch 128, bundled
MNIST) trains `--iterations` iterations in a fresh subprocess with this tree's ``src``, and
with ``--baseline-src`` (e.g. ``git archive COMMIT src | tar -x -C /tmp/old``) in alternation
(who goes first alternates too);
reported: the median seconds per iteration (training only, from the run's manifest) and the
ratio. Analysis: ``run_experiment`` on the fig2 laptop config over a run trained to the
config's iteration count (trained here unless ``--run DIR`` names one), analysis seconds only.
On a shared machine compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_TRAIN = """
import json, sys
from cnntopo.experiments.runner import load_config
from cnntopo.training.loop import TrainConfig, train
s = load_config("fig2", "laptop")["source"]
its = int(sys.argv[2])
cfg = TrainConfig(arch=s["arch"], widths=tuple(s["widths"]), dataset=s["dataset"], n_nets=s["nets"],
                  iterations=its, checkpoints=[its], seed=s["seed"], batch_size=s["batch_size"])
m = train(cfg, sys.argv[1], progress=False)
print(json.dumps({"seconds": m["checkpoints"][-1]["wall_time"], "iterations": its,
                  "nets": s["nets"]}))
"""


def _train_once(src, iterations):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(src))
        out = subprocess.run([sys.executable, "-c", _TRAIN, str(Path(tmp) / "run"), str(iterations)],
                             env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", help="a src/ folder of another version, for the ratio")
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--run", help="a finished demo run directory (skips training it)")
    ap.add_argument("--skip-analysis", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from cnntopo.experiments.runner import load_config, run_experiment

    trees = {"this tree": REPO / "src"}
    if args.baseline_src:
        trees["baseline"] = Path(args.baseline_src)
    times = {name: [] for name in trees}
    for r in range(args.rounds):
        order = list(trees.items())
        for name, src in (order if r % 2 == 0 else order[::-1]):  # alternate who goes first
            r = _train_once(src, args.iterations)
            times[name].append(r["seconds"] / r["iterations"])
            print(f"  {name}: {times[name][-1]:.3f} s/iteration", flush=True)
    med = {name: statistics.median(t) for name, t in times.items() if t}
    for name, s in med.items():
        print(f"{name:>10}: {s:.3f} s/iteration (median of {args.rounds}), "
              f"{8 / s:.1f} network-iterations/s")
    if "baseline" in med:
        print(f"step rate, this tree / baseline: {med['baseline'] / med['this tree']:.3f}")
    if args.skip_analysis:
        return 0
    config = load_config("fig2", "laptop")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else None
        if run is None:
            from cnntopo.experiments.runner import _train

            run = Path(tmp) / "out" / "run"
            _train(config["source"], run, None, False)
        analysis = dict(config, source={"kind": "run", "path": str(run)})
        t0 = time.perf_counter()
        summary = run_experiment(analysis, Path(tmp) / "analysis", progress=False)
        a = summary["analyses"][0]
        print(f"analysis: {time.perf_counter() - t0:.1f} s (long bars {a['long_bars']}, "
              f"{a['n_kept']} points, primary-circle fraction "
              f"{a['primary_circle_fraction']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
