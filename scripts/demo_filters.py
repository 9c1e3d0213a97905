"""Train the demo's ensemble for several seeds and keep its layer-1 filters.

The demo is Figure 2 at laptop scale (8 x M(64,32,64) on MNIST, 1,000 iterations of 32
images). Its picture must not depend on the seed or on the CPU's float rounding, so the tests
read the first-layer filters of several seeds trained under several kernel settings of PyTorch
(``ATEN_CPU_CAPABILITY``: avx512, avx2, default). This script makes them::

    python scripts/demo_filters.py --seeds 0 1 2 3 4 --out tests/data/demo-filters
    ATEN_CPU_CAPABILITY=default python scripts/demo_filters.py --seeds 0 1 --out ...

Each seed gives ``<capability>-seed<S>.npy`` (512 x 9 float32, rows as
``cnntopo filters`` orders them) and a line in ``<capability>-seed<S>.json`` (the settings,
the mean test accuracy, torch's version and the CPU capability it ran on).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cnntopo.experiments import load_config  # noqa: E402
from cnntopo.experiments.runner import train_config  # noqa: E402
from cnntopo.files import atomic_save_npy, atomic_write_json  # noqa: E402
from cnntopo.sources.filters import filters_from_source  # noqa: E402
from cnntopo.training.loop import train  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", type=Path, default=Path("tests/data/demo-filters"))
    args = ap.parse_args(argv)
    capability = torch.backends.cpu.get_cpu_capability().lower()
    base = train_config(load_config("fig2", "laptop")["source"], None)
    for seed in args.seeds:
        cfg = replace(base, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = train(cfg, Path(tmp) / "run", progress=False)
            filters, _, info = filters_from_source(Path(tmp) / "run", 1)
        acc = manifest["checkpoints"][-1]["test_accuracy"]
        name = f"{capability}-seed{seed}"
        atomic_save_npy(args.out / f"{name}.npy", filters.astype(np.float32))
        atomic_write_json(args.out / f"{name}.json", {
            "config": asdict(cfg), "layer": info["layer_name"], "shape": list(filters.shape),
            "mean_test_accuracy": float(np.mean(acc)), "torch": torch.__version__,
            "cpu_capability": capability, "machine": platform.processor() or platform.machine()})
        print(f"{name}: {filters.shape[0]} filters, mean test accuracy {np.mean(acc):.4f}",
              flush=True)


if __name__ == "__main__":
    main()
