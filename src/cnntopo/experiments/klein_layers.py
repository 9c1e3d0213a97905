"""``cnntopo reproduce klein-layers``: what Klein-bottle conv layers buy, measured with seeds.

Gabrielsson & Carlsson (2019) and Love et al. (2023) reported that conv layers built from
the Klein bottle learn faster and transfer better. Their notebooks show one run per
condition, Adam at lr 1e-5 with an MSE loss on softmax outputs, "frozen" layers set with
``module.requires_grad = False`` (which freezes nothing), and no ReLU after the Klein layer.
This experiment asks the same question as a controlled comparison:

- one architecture for every condition (:mod:`cnntopo.training.conditions`: conv 16, conv 16,
  FC 64), ReLU after conv1;
- conditions (`CONDITIONS`): the default-initialised baseline; Klein init, trainable; Klein
  frozen; circle, Gabor and random filters frozen at the same norm; Klein frozen with conv2
  masked by Klein connectivity, and with a random mask of the same density;
- cross-entropy and Adam, each condition's learning rate chosen from `LRS` by its mean
  validation accuracy (the last ``n_val`` training images) over the checkpoints up to
  ``select_at`` images, on selection seeds that are never reported;
- the published setting (Adam 1e-5, MSE on softmax) once, MNIST, for the baseline and Klein
  + Klein connectivity;
- ``seeds`` seeds per condition: a seed fixes the initialisation of every layer a condition
  does not set and the batch order, the same for all conditions (paired comparisons);
  the conditions of a seed train side by side as one vectorised ensemble;
- measures: test accuracy after each checkpoint's number of training images seen; the
  images needed to reach `THRESHOLDS`; at the end, distribution shift: class-correlated
  noise (train noisy / test clean, and train clean / test noisy; :mod:`cnntopo.training.shifts`),
  polarity inversion and blur of the test images;
- the readings: primary-circle and Klein fractions of the trainable conditions' conv1 over
  training (:func:`cnntopo.topology.klein.klein_readings` of the normalised filters) and the
  verdict row of their last filters, all seeds pooled
  (:func:`cnntopo.verdict.analysis.describe_cloud`).

Intervals are 95% Student t-intervals over seeds (:mod:`cnntopo.experiments.klein_summary`).
On a CPU the jobs (one per dataset and seed) run in ``workers`` single-threaded processes:
PyTorch's two-thread kernels spend most of their time waiting on a shared machine (measured
here: 3,400 member-images per CPU second on one thread, 460 on two), and each job is a pure
function of its dataset, seed and config, so the results do not depend on ``workers``.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..files import atomic_write_json, atomic_write_text
from ..validation import InputError
from .klein_summary import format_tables, summarise

__all__ = ["CONDITIONS", "LRS", "NAME", "PUBLISHED", "PUBLISHED_SETTING", "SCALES",
           "THRESHOLDS", "TITLE", "KleinLayersConfig", "condition_members",
           "redraw_klein_layers", "run_klein_layers", "write_outputs"]

NAME = "klein-layers"
TITLE = ("Klein-bottle conv layers against controls: conditions x seeds -> accuracy, "
         "images to a threshold, distribution shift (not part of --all)")
LRS = (1e-4, 3e-4, 1e-3)
THRESHOLDS = {"mnist": 0.90, "fashion-mnist": 0.80}
# (name, conv1, frozen, conv2 mask)
CONDITIONS = (
    ("baseline", "default", False, None),
    ("klein-init", "klein", False, None),
    ("klein-frozen", "klein", True, None),
    ("circle-frozen", "circle", True, None),
    ("gabor-frozen", "gabor", True, None),
    ("random-frozen", "random", True, None),
    ("klein-frozen+klein-mask", "klein", True, "klein"),
    ("klein-frozen+random-mask", "klein", True, "random"),
)
PUBLISHED_SETTING = {"lr": 1e-5, "loss": "mse"}
PUBLISHED_RUNS = (("baseline (published setting)", "baseline"),
                  ("klein-frozen+klein-mask (published setting)", "klein-frozen+klein-mask"))
# read from the authors' notebooks: MNIST test accuracy after about 2,000 training images
PUBLISHED = {"mnist": {"images": 2000, "klein-frozen+klein-mask": 0.68, "baseline": 0.50,
                       "source": "the notebooks of Gabrielsson & Carlsson (2019) / Love et al. "
                                 "(2023): one run each, Adam 1e-5, MSE on softmax, no ReLU "
                                 "after the Klein layer"}}
SELECTION_SEED0 = 1000  # selection seeds 1000, 1001, ...: never reported


@dataclass(frozen=True)
class KleinLayersConfig:
    """One scale of the experiment (`SCALES`); every size counts training images seen.

    Attributes
    ----------
    datasets : tuple of str
    seeds, selection_seeds : int
        Reported seeds 0 .. seeds-1; lr-selection seeds 1000, 1001, ...
    batch : int
        Images per iteration (every size below is a multiple of it).
    checkpoints : tuple of int
        Test accuracy after this many images; the last is the length of training.
    select_at : int
        The lr selection reads validation accuracy at the checkpoints up to here.
    noisy_images : int
        Length of the training on noisy images.
    n_val, val_eval : int
        The last n_val training images are held out; the selection reads val_eval of them.
    n_fit : int or None
        Train on the first n_fit of the others (None: all, 55,000).
    test_stride : int
        Test on every test_stride-th test image (2: 5,000 of MNIST's 10,000).
    published_datasets : tuple of str
        Where the published setting runs too.
    widths : (int, int, int)
        conv1, conv2, FC.
    verdict : bool
        ``describe_cloud`` of the trainable conditions' last conv1 filters.
    """

    datasets: tuple = ("mnist", "fashion-mnist")
    seeds: int = 5
    selection_seeds: int = 2
    batch: int = 25
    checkpoints: tuple = (500, 1000, 2000, 3000, 5000, 10000, 20000, 60000)
    select_at: int = 5000
    noisy_images: int = 10000
    n_val: int = 5000
    val_eval: int = 2000
    n_fit: int = None
    test_stride: int = 2
    published_datasets: tuple = ("mnist",)
    widths: tuple = (16, 16, 64)
    lrs: tuple = LRS
    blur_sigma: float = 1.0
    verdict: bool = True

    def __post_init__(self):
        sizes = tuple(self.checkpoints) + (self.select_at, self.noisy_images)
        if (any(c < self.batch or c % self.batch for c in sizes)
                or self.select_at not in self.checkpoints
                or list(self.checkpoints) != sorted(set(self.checkpoints))):
            raise InputError(f"KleinLayersConfig: checkpoints (increasing), select_at and "
                             f"noisy_images must be multiples of the batch size {self.batch}, "
                             f"select_at one of the checkpoints; got {self.checkpoints}, "
                             f"{self.select_at}, {self.noisy_images}.")
        unknown = set(self.datasets) - set(THRESHOLDS)
        if unknown or not self.datasets:
            raise InputError(f"KleinLayersConfig: datasets must be among {sorted(THRESHOLDS)}; "
                             f"got {self.datasets}.")

    @property
    def max_images(self):
        return self.checkpoints[-1]


SCALES = {
    # seconds, for the tests: two seeds, a few hundred images
    "smoke": KleinLayersConfig(datasets=("mnist",), seeds=2, selection_seeds=1, batch=20,
                               checkpoints=(100, 200), select_at=100, noisy_images=100,
                               val_eval=200, n_fit=1000, test_stride=40, verdict=False),
    # under 30 minutes on 2 CPU cores (BENCHMARKS.md)
    "laptop": KleinLayersConfig(),
    # every lr to 60,000 images, 10 seeds, the whole test set
    "paper": KleinLayersConfig(seeds=10, selection_seeds=3,
                               checkpoints=(500, 1000, 2000, 3000, 5000, 7000, 10000, 15000,
                                            20000, 30000, 40000, 60000),
                               select_at=60000, noisy_images=60000, val_eval=5000,
                               test_stride=1),
}


# ----------------------------------------------------------------------------- the jobs

class _Data:
    """One dataset's splits on the device: fit / validation / test, and the shifted tests."""

    def __init__(self, name, cfg, device, data_dir):
        from ..training.data import load_dataset
        from ..training.shifts import blur, class_noise, invert

        train_x, train_y, test_x, test_y = load_dataset(name, data_dir=data_dir)
        n_fit = len(train_y) - cfg.n_val
        used = n_fit if cfg.n_fit is None else min(n_fit, cfg.n_fit)
        fit_x, fit_y = train_x[:used], train_y[:used]
        test_x, test_y = test_x[::cfg.test_stride], test_y[::cfg.test_stride]
        tensors = {
            "fit_x": fit_x, "fit_y": fit_y,
            "val_x": train_x[n_fit:n_fit + cfg.val_eval],
            "val_y": train_y[n_fit:n_fit + cfg.val_eval],
            "test_x": test_x, "test_y": test_y,
            # the class patterns are the same for the training and the test images
            "noisy_fit_x": class_noise(fit_x, fit_y, noise_seed=1),
            "noise": class_noise(test_x, test_y, noise_seed=2),
            "polarity": invert(test_x), "blur": blur(test_x, cfg.blur_sigma)}
        for key, value in tensors.items():
            setattr(self, key, value.contiguous().to(device))


_DATA = {}  # one dataset per process at a time: (name, cfg, device, data_dir) -> _Data


def _data(name, cfg, device, data_dir):
    key = (name, cfg, str(device), str(data_dir))
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = _Data(name, cfg, device, data_dir)
    return _DATA[key]


def condition_members(lr_of, published):
    """[(run name, Member)]: the conditions at their lr (`lr_of`: name -> lr), then the two
    runs in the published setting when `published`."""
    from ..training.conditions import Member

    spec = {name: (conv1, frozen, mask) for name, conv1, frozen, mask in CONDITIONS}
    runs = [(name, Member(*spec[name], lr=lr_of[name])) for name in spec]
    if published:
        runs += [(run, Member(*spec[c], **PUBLISHED_SETTING)) for run, c in PUBLISHED_RUNS]
    return runs


def _conv1_readings(filters, start=None):
    """Fractions near the primary circle and the Klein bottle, the median distance to the
    Klein bottle, and (given the filters at 0 images) the median cosine to where they began."""
    from ..cloud.pointcloud import normalise
    from ..topology.klein import klein_readings

    points = normalise(filters.reshape(-1, 9))[0]
    r = klein_readings(points)
    out = {"primary_circle_fraction": r.primary_circle_fraction,
           "klein_fraction": r.klein_fraction,
           "klein_distance_median": float(np.median(r.klein_distance))}
    if start is not None:
        out["cosine_to_start_median"] = float(np.median(
            (points * normalise(start.reshape(-1, 9))[0]).sum(axis=1)))
    return out


def _selection_job(name, seed, cfg, device, data_dir, bar=None):
    """Validation accuracy of every (lr, condition) member at the checkpoints <= select_at.

    Returns ndarray (len(lrs) * len(CONDITIONS), checkpoints), rows lr-major; CPU seconds.
    """
    from ..training.conditions import (
        BatchStream,
        ConditionEnsemble,
        MemberAdam,
        accuracy,
        train_members,
    )

    cpu0 = time.process_time()
    data = _data(name, cfg, device, data_dir)
    points = [c for c in cfg.checkpoints if c <= cfg.select_at]
    members = [m for lr in cfg.lrs
               for _, m in condition_members({n: lr for n, *_ in CONDITIONS}, published=False)]
    ens = ConditionEnsemble(members, seed, cfg.widths).to(device)
    scores = np.zeros((len(members), len(points)))

    def at(images):
        scores[:, points.index(images)] = accuracy(ens, data.val_x, data.val_y)

    train_members(ens, MemberAdam(ens), data.fit_x, data.fit_y,
                  BatchStream(seed, len(data.fit_y), cfg.batch), start=0, stop=cfg.select_at,
                  checkpoints=points, callback=at, bar=bar)
    return scores, time.process_time() - cpu0


def _seed_job(name, seed, lr_of, cfg, device, data_dir, bar=None):
    """Every run of one seed: test curve, conv1 readings and shifts; then noisy training.

    Returns (runs, conv1 filters of the trainable runs, CPU seconds).
    """
    from ..training.conditions import (
        BatchStream,
        ConditionEnsemble,
        MemberAdam,
        accuracy,
        train_members,
    )

    cpu0 = time.process_time()
    data = _data(name, cfg, device, data_dir)
    runs = condition_members(lr_of, published=name in cfg.published_datasets)
    names = [n for n, _ in runs]
    ens = ConditionEnsemble([m for _, m in runs], seed, cfg.widths).to(device)
    out = {n: {"test": []} for n in names}
    start = {i: ens.conv1_filters(i) for i in ens.trainable}
    for i in ens.trainable:
        out[names[i]]["readings"] = [_conv1_readings(start[i], start[i])]  # 0 images

    def at(images):
        for i, acc in enumerate(accuracy(ens, data.test_x, data.test_y)):
            out[names[i]]["test"].append(float(acc))
        for i in ens.trainable:
            out[names[i]]["readings"].append(_conv1_readings(ens.conv1_filters(i), start[i]))

    stream = BatchStream(seed, len(data.fit_y), cfg.batch)
    train_members(ens, MemberAdam(ens), data.fit_x, data.fit_y, stream, start=0,
                  stop=cfg.max_images, checkpoints=cfg.checkpoints, callback=at, bar=bar)
    shifted = {k: accuracy(ens, getattr(data, k), data.test_y)
               for k in ("noise", "polarity", "blur")}
    for i, n in enumerate(names):
        out[n]["shift"] = {"clean->noisy": float(shifted["noise"][i]),
                           "polarity": float(shifted["polarity"][i]),
                           "blur": float(shifted["blur"][i])}
    filters = {names[i]: ens.conv1_filters(i) for i in ens.trainable}
    # the conditions again, trained on noisy images, tested on clean and noisy ones
    noisy = ConditionEnsemble([m for _, m in runs[:len(CONDITIONS)]], seed, cfg.widths).to(device)
    train_members(noisy, MemberAdam(noisy), data.noisy_fit_x, data.fit_y, stream, start=0,
                  stop=cfg.noisy_images, bar=bar)
    clean_acc = accuracy(noisy, data.test_x, data.test_y)
    noisy_acc = accuracy(noisy, data.noise, data.test_y)
    for i in range(len(CONDITIONS)):
        out[names[i]]["shift"]["noisy->clean"] = float(clean_acc[i])
        out[names[i]]["shift"]["noisy->noisy"] = float(noisy_acc[i])
    return out, filters, time.process_time() - cpu0


def _init_worker():
    import torch

    torch.set_num_threads(1)


class _Runner:
    """Runs jobs here (one worker, with a live progress bar) or in a process pool."""

    def __init__(self, workers, bar):
        self.bar = bar
        self.pool = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_worker) if workers > 1 else None)

    def map(self, fn, jobs, steps):
        """[fn(*job) for job in jobs], in order; `steps` iterations each, for the bar."""
        if self.pool is None:
            return [fn(*job, bar=self.bar) for job in jobs]
        futures = [self.pool.submit(fn, *job) for job in jobs]
        out = []
        for f, n in zip(futures, steps):
            out.append(f.result())
            self.bar.update(n)
        return out

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


def _bank_readings(cfg):
    """The frozen families' own readings (the random bank of seed 0)."""
    from ..training.klein_layers import filter_bank

    return {family: _conv1_readings(filter_bank(family, cfg.widths[0], seed=0))
            for family in ("klein", "circle", "gabor", "random")}


# The verdict's columns a run keeps: its bars over Z/2 (b0, b1, b2) and Z/3, the Klein
# readings, the reading and the shape both fields name (cnntopo.topology.shape). Results
# written before issue 23 hold the first seven only (b0 and b1 over Z/2): the tables read
# ``reading``, ``significant[1]`` and ``n_kept``, and the shape where there is one.
_VERDICT_KEYS = ("n_filters", "n_kept", "significant", "significant_confidence",
                "primary_circle_fraction", "klein_fraction", "reading", "n_landmarks",
                "undecided", "significant_z3", "significant_z3_confidence", "undecided_z3",
                "shape", "shape_confidence", "shape_reading")


def _verdicts(filters):
    """The verdict row of each trainable run's last conv1 filters, all seeds pooled
    (`_VERDICT_KEYS` of it)."""
    from ..verdict.analysis import describe_cloud

    out = {}
    for run, per_seed in filters.items():
        row = describe_cloud(np.concatenate([f.reshape(-1, 9) for f in per_seed]),
                             n_landmarks="auto", seed=0)
        out[run] = {k: row[k] for k in _VERDICT_KEYS if k in row}
    return out


def _choose(cfg, scores):
    """The lr selection table: mean validation accuracy of (condition, lr); the best lr."""
    mean = np.mean(scores, axis=(0, 2))  # over seeds and checkpoints
    table = {name: {} for name, *_ in CONDITIONS}
    for k, score in enumerate(mean):
        lr, (name, *_) = cfg.lrs[k // len(CONDITIONS)], CONDITIONS[k % len(CONDITIONS)]
        table[name][f"{lr:g}"] = float(score)
    # ties (equal accuracy) go to the smaller lr
    chosen = {n: float(max(cfg.lrs, key=lambda lr: (t[f"{lr:g}"], -lr))) for n, t in table.items()}
    return {"seeds": [SELECTION_SEED0 + s for s in range(cfg.selection_seeds)],
            "checkpoints": [c for c in cfg.checkpoints if c <= cfg.select_at],
            "scores": table, "chosen": chosen}


def _gather(per_seed, lr_of):
    runs = {}
    for out in per_seed:
        for run, v in out.items():
            r = runs.setdefault(run, {"lr": lr_of.get(run, PUBLISHED_SETTING["lr"]),
                                      "test": [], "shift": {}})
            r["test"].append(v["test"])
            for k, x in v["shift"].items():
                r["shift"].setdefault(k, []).append(x)
            if "readings" in v:
                r.setdefault("readings", []).append(v["readings"])
    return runs


def run_klein_layers(scale="laptop", out_dir=None, *, config=None, device="cpu",
                     data_dir=None, workers=None, progress=True):
    """Run the experiment at `scale` (or `config`) and write its results into `out_dir`.

    Parameters
    ----------
    scale : {"smoke", "laptop", "paper"}
    out_dir : path-like, optional
        Where ``klein_layers.json``, ``klein_layers.md`` and the figures go; None: nowhere.
    config : KleinLayersConfig, optional
        Instead of the scale's, e.g. ``dataclasses.replace(SCALES["laptop"], seeds=10)``.
    device : str
        "cpu" or "cuda".
    data_dir : path-like, optional
        A folder with the dataset's IDX files (default: the bundled MNIST, Debian's
        Fashion-MNIST).
    workers : int, optional
        Processes, one thread each; default min(4, CPU count) on the CPU, 1 on CUDA (1:
        everything in this process, with its threads as they are).
    progress : bool

    Returns
    -------
    dict
        What ``klein_layers.json`` holds: ``config``, ``datasets`` (per dataset: the lr
        ``selection``, every run's per-seed ``test`` curve, ``shift`` and ``readings``, and
        for a trainable conv1 its ``verdict`` and ``conv1_final`` filters), ``summary`` (:func:`~cnntopo.experiments.klein_summary.summarise`),
        ``published``, ``banks``, ``timing``, ``environment``.
    """
    import torch
    from tqdm.auto import tqdm

    from ..training.device import check_device

    if scale not in SCALES:
        raise InputError(f"The 'scale' parameter of run_klein_layers must be one of "
                         f"{sorted(SCALES)}; got {scale!r}.")
    cfg = config or SCALES[scale]
    device = check_device(device, "run_klein_layers")
    if workers is None:
        workers = 1 if device.type == "cuda" else min(4, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"The 'workers' parameter of run_klein_layers must be an int >= 1; "
                         f"got {workers!r}.")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    sel_steps = cfg.select_at // cfg.batch
    seed_steps = (cfg.max_images + cfg.noisy_images) // cfg.batch
    total = len(cfg.datasets) * (cfg.selection_seeds * sel_steps + cfg.seeds * seed_steps)
    results = {"experiment": NAME, "scale": scale, "config": _config_dict(cfg),
               "datasets": {}, "published": PUBLISHED, "published_setting": PUBLISHED_SETTING,
               "conditions": [c[0] for c in CONDITIONS], "banks": _bank_readings(cfg)}
    job_cpu = 0.0
    with tqdm(total=total, disable=not progress, desc=NAME, unit="it") as bar:
        runner = _Runner(workers, bar)
        try:
            sel = runner.map(_selection_job,
                             [(n, SELECTION_SEED0 + s, cfg, device, data_dir)
                              for n in cfg.datasets for s in range(cfg.selection_seeds)],
                             [sel_steps] * len(cfg.datasets) * cfg.selection_seeds)
            job_cpu += sum(c for _, c in sel)
            selection = {n: _choose(cfg, [s for s, _ in sel[i * cfg.selection_seeds:
                                                          (i + 1) * cfg.selection_seeds]])
                         for i, n in enumerate(cfg.datasets)}
            per = runner.map(_seed_job,
                             [(n, s, selection[n]["chosen"], cfg, device, data_dir)
                              for n in cfg.datasets for s in range(cfg.seeds)],
                             [seed_steps] * len(cfg.datasets) * cfg.seeds)
        finally:
            runner.close()
    job_cpu += sum(c for *_, c in per)
    for i, name in enumerate(cfg.datasets):
        mine = per[i * cfg.seeds:(i + 1) * cfg.seeds]
        lr_of = selection[name]["chosen"]
        runs = _gather([out for out, *_ in mine], lr_of)
        if cfg.verdict:
            filters = {}
            for _, f, _ in mine:
                for run, v in f.items():
                    filters.setdefault(run, []).append(v)
            for run, v in _verdicts(filters).items():
                runs[run]["verdict"] = v
        for _, f, _ in mine:  # the last conv1 filters, (seeds, C1, 9) per trainable run
            for run, v in f.items():
                runs[run].setdefault("conv1_final", []).append(v.reshape(len(v), 9).tolist())
        results["datasets"][name] = {
            "threshold": THRESHOLDS[name], "checkpoints": list(cfg.checkpoints),
            "selection": selection[name], "runs": runs,
            "lr": {run: r["lr"] for run, r in runs.items()}}
    results["summary"] = summarise(results)
    here = time.process_time() - cpu0
    results["timing"] = {
        "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds": here + (job_cpu if workers > 1 else 0.0),
        "workers": workers, "device": str(device)}
    results["environment"] = {"torch": torch.__version__, "cpu": _cpu_name(),
                              "cpu_count": os.cpu_count(), "python": platform.python_version()}
    if out_dir is not None:
        write_outputs(results, out_dir)
    return results


def _config_dict(cfg):
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    d["max_images"] = cfg.max_images
    return d


def config_from_dict(d):
    """The `KleinLayersConfig` of a result's ``config`` (to rerun it)."""
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "max_images"}
    return replace(KleinLayersConfig(), **d)


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_outputs(results, out_dir):
    """Write ``klein_layers.json``, ``klein_layers.md`` and the figures; returns their paths."""
    from pathlib import Path

    from ..viz.klein_layers import plot_learning_curves, plot_readings
    from ..viz.plots import save_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "klein_layers.json", results)
    atomic_write_text(out / "klein_layers.md", format_tables(results))
    paths = [out / "klein_layers.json", out / "klein_layers.md",
             save_figure(plot_learning_curves(results), out / "learning_curves.png", dpi=110)]
    if any("readings" in r for s in results["summary"].values() for r in s["runs"].values()):
        paths.append(save_figure(plot_readings(results), out / "conv1_readings.png", dpi=110))
    return paths


def redraw_klein_layers(out_dir):
    """Rewrite the tables and figures of a ``klein_layers.json`` (``cnntopo redraw``).

    The summary is computed again from the per-seed numbers; nothing is trained.
    """
    import json
    from pathlib import Path

    path = Path(out_dir) / "klein_layers.json"
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable result of klein-layers ({exc}).") from None
    results["summary"] = summarise(results)
    return write_outputs(results, out_dir)
