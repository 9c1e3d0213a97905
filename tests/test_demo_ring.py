"""The demo's picture holds on every CPU and seed (issue 17).

`make demo` is Figure 2 at laptop scale: 8 x M(64,32,64) trained 1,000 iterations on MNIST,
then rho(20, 0.5) of the 512 first-layer filters (256 kept), barcodes and Mapper(6, 3). Its
Mapper ring used to depend on floating-point rounding: rho(20, 0.3) kept 154 points, and the
nerve's b1 flipped between AVX-512 and AVX2 runs. ``tests/data/demo-filters/`` holds the first-layer
filters of that training for seeds 0-4, trained under two kernel settings of PyTorch: its
AVX2 kernels (``avx2-*``, what most laptops run) and its plain C++ kernels (``default-*``,
``ATEN_CPU_CAPABILITY=default``), so five seeds times two roundings
(``scripts/demo_filters.py`` makes them; the JSON beside each says how). Training these
takes ten minutes, so the tests read them; a test below checks that they are still what the
demo trains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data" / "demo-filters"
# PyTorch's kernel settings: held to AVX2 (as the issue ran it), and no vector kernels at all
SETTINGS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
}
SEEDS = range(5)

# The demo's analysis, run in a fresh interpreter under a kernel setting: one row per file.
_ANALYSE = """
import json, sys
import numpy as np
import torch
from cnntopo.experiments import load_config
from cnntopo.verdict.analysis import AnalysisSpec, analyse
a = load_config("fig2", "laptop")["analyses"][0]
rows = [analyse(np.load(f), AnalysisSpec.from_config(a), layer=1).row for f in sys.argv[1:]]
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "rows": rows}))
"""


def _demo_analysis():
    from cnntopo.experiments import load_config

    return load_config("fig2", "laptop")["analyses"][0]


def _assert_ring(row, what):
    assert row["n_kept"] == 256, what
    assert row["significant"][1] == 1 and not row["undecided"][1], (what, row)
    assert row["significant_confidence"][1] >= 0.9, (what, row)
    # edges at every orientation; after 1,000 iterations 41-55% of the kept half lie within
    # 0.5 of the primary circle, so the reading is "primary circle" or "one loop" by seed
    assert row["reading"].startswith(("primary circle", "one loop")), (what, row)
    assert row["primary_circle_fraction"] >= 0.4, (what, row)
    assert row["primary_circle_coverage"] > 0.9, (what, row)
    # a closed ring, and one that holds: it survives resampling and nearby parameters
    assert row["nerve_betti"] == [1, 1], (what, row)
    assert row["nerve_robust"] == [1, 1], (what, row)
    assert row["nerve_loop_confidence"][0] >= 0.9, (what, row)
    assert row["nerve_stability"] >= 0.75, (what, row)


def test_the_demo_settings_are_the_ones_measured_here():
    a = _demo_analysis()
    assert (a["k"], a["p"]) == (20, 0.5)
    assert (a["mapper"]["resolution"], a["mapper"]["gain"]) == (6, 3)
    assert a["mapper"]["n_bootstrap"] >= 100


@pytest.mark.parametrize("name", [f"{kind}-seed{s}" for kind in SETTINGS for s in SEEDS])
def test_the_filters_are_the_demos_training(name):
    """Each file was trained with the demo's settings at its seed, and trained well."""
    from cnntopo.experiments import load_config
    from cnntopo.experiments.runner import train_config

    info = json.loads((DATA / f"{name}.json").read_text())
    base = train_config(load_config("fig2", "laptop")["source"], None)
    expected = asdict(replace(base, seed=int(name.rsplit("seed", 1)[1])))
    assert info["config"] == json.loads(json.dumps(expected)), \
        "the demo's training changed: rerun scripts/demo_filters.py"
    assert info["cpu_capability"] == name.split("-")[0]
    assert info["mean_test_accuracy"] > 0.95
    x = np.load(DATA / f"{name}.npy")
    assert x.shape == (512, 9) and x.dtype == np.float32 and np.isfinite(x).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SETTINGS))
def test_the_demo_analysis_under_both_kernel_settings_gives_the_ring(kind):
    """Seeds 0 and 1 of each kind, analysed in a process under that kernel setting."""
    files = [str(DATA / f"{kind}-seed{s}.npy") for s in (0, 1)]
    env = {**os.environ, **SETTINGS[kind], "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _ANALYSE, *files], env=env, check=True,
                          capture_output=True, text=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["capability"].lower() == kind
    for f, row in zip(files, out["rows"]):
        _assert_ring(row, f)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SETTINGS))
def test_every_seed_gives_the_ring(kind):
    from cnntopo.verdict.analysis import AnalysisSpec, analyse

    spec = AnalysisSpec.from_config(_demo_analysis())
    for s in (2, 3, 4):
        _assert_ring(analyse(np.load(DATA / f"{kind}-seed{s}.npy"), spec, layer=1).row,
                     f"{kind}-seed{s}")


def test_at_the_old_setting_the_ring_was_fragile():
    """Why the demo keeps half of the filters: at rho(20, 0.3) (154 points) the nerve of the
    AVX2-trained seed 0 is an open arc and seed 1 has no significant loop at all."""
    from cnntopo.verdict.analysis import AnalysisSpec, analyse

    a = dict(_demo_analysis(), p=0.3)
    a["mapper"] = dict(a["mapper"], n_bootstrap=0)
    spec = AnalysisSpec.from_config(a)
    rows = [analyse(np.load(DATA / f"avx2-seed{s}.npy"), spec, layer=1).row for s in (0, 1)]
    assert [r["n_kept"] for r in rows] == [154, 154]
    assert rows[0]["nerve_betti"] == [1, 0]
    assert rows[1]["significant"][1] == 0
