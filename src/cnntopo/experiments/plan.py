"""Several experiments at once: which ones, which trainings they need, in which order.

Experiments whose ``source`` trains networks with the same settings (Figures 9 and 12 at
every scale; Figure 2 and ``mnist-layer2-all`` at the paper's) share one trained ensemble.
So do experiments whose trainings differ only in length and checkpoints: the shorter is the
start of the longer (Figures 7 and 8 of Figure 5's run, Figure 13 of Figure 9's), and one run
as long as the longest, saving every checkpoint any of them reads, serves them all. A plan
finds them by a hash of the settings that determine the weights, so each distinct ensemble
trains once, before the experiments that read it::

    ROOT/train-<key>/    one trained ensemble (a run directory of cnntopo.training.loop)
    ROOT/<name>/         one experiment's figures, numbers and report (run_experiment)

:func:`run_serial` does the work here, one step after another; ``cluster.run_plan`` does the
same steps as Ray tasks. Both call :func:`train_source` and :func:`run_job`, so both write
the same files.

>>> plan = make_plan(["fig9", "fig12"], "smoke", "runs/smoke")   # doctest: +SKIP
>>> [t.experiments for t in plan.trainings]                       # doctest: +SKIP
[('fig9', 'fig12')]
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..validation import InputError
from ._config import list_experiments, load_config, validate_config
from .runner import check_inputs, run_complete, run_experiment, train_config

__all__ = ["Training", "Job", "Plan", "training_key", "prefix_key", "make_plan", "check_plan",
           "train_source", "run_job", "run_serial", "mapper_cost", "cost_line"]

# The Mapper graphs of a confidence besides its B resamples: the stability neighbourhood.
_NEIGHBOURS = 8
# ... and of parameters from the data: the scan of six gains.
_GAIN_SCAN = 6


@dataclass(frozen=True)
class Training:
    """One distinct ensemble to train.

    Attributes
    ----------
    key : str
        :func:`training_key` of its settings; names the run directory.
    source : dict
        The (validated) ``source`` of the experiments that read it.
    run_dir : Path
        ``ROOT/train-<key>``, absolute.
    experiments : tuple of str
        Names of the experiments that read it, in plan order.
    """

    key: str
    source: dict
    run_dir: Path
    experiments: tuple

    @property
    def device(self) -> str:
        return self.source["device"]


@dataclass(frozen=True)
class Job:
    """One experiment's analyses: ``run_experiment(config, out_dir, run_dir=run_dir)``.

    ``training`` is the key of the :class:`Training` it reads (None: its source needs none).
    """

    name: str
    config: dict
    out_dir: Path
    run_dir: Path | None
    training: str | None

    @property
    def mapper_cost(self) -> dict:
        """:func:`mapper_cost` of its config."""
        return mapper_cost(self.config)


@dataclass(frozen=True)
class Plan:
    """Trainings first (in order of first use), then the experiments, in the order given."""

    root: Path
    trainings: tuple
    jobs: tuple

    def training(self, key):
        return next(t for t in self.trainings if t.key == key)


def _settings_hash(source, caller, ignore):
    if not isinstance(source, dict) or source.get("kind") != "train":
        raise InputError(f"The 'source' parameter of {caller} must be a validated 'train' "
                         f"source; got {source!r}.")
    settings = {k: v for k, v in asdict(train_config(source, None)).items()
                if k not in ("device", "precision", "data_dir") + ignore}
    settings["widths"] = list(settings["widths"])
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def training_key(source):
    """12 hex digits naming the weights a ``train`` source produces.

    A hash of every `TrainConfig` setting with defaults filled in (so ``lr: null`` and the
    default rate agree), except ``device``, ``precision`` and ``data_dir``: where the data
    lives and which device trains, in which arithmetic, do not change what the weights are
    meant to be (the runner ignores them as well when it reuses a run).

    Parameters
    ----------
    source : dict
        A validated ``train`` source (``config["source"]``).

    Returns
    -------
    str
    """
    return _settings_hash(source, "training_key", ())


def prefix_key(source):
    """:func:`training_key` without ``iterations`` and ``checkpoints``.

    Sources with the same prefix key train the same networks on the same batches; a shorter
    one is the start of the longest (the batches and dropout of iteration t come from
    (seed, t), the rates are constant), so one run of the longest, saving every checkpoint
    any of them asks for, serves them all.
    """
    return _settings_hash(source, "prefix_key", ("iterations", "checkpoints"))


def _merged(sources):
    """One source that trains as long as the longest and saves every checkpoint asked for."""
    first = sources[0]
    return {**first, "iterations": max(s["iterations"] for s in sources),
            "checkpoints": sorted({int(c) for s in sources for c in s["checkpoints"]})}


def mapper_cost(config):
    """What an experiment's Mapper graphs cost, counted in Mapper runs.

    Each graph drawn (an analysis with a ``mapper``, a cell of the grid) is one run; its
    confidence adds B bootstrap resamples and the 8 neighbours of its stability, each about
    one more run of the same size; parameters from the data (``"gain": "auto"``) add a scan
    of six gains. So a grid of 14 cells at B = 100 makes 14 x 109 = 1,526 runs.

    Parameters
    ----------
    config : dict
        A validated config (:func:`cnntopo.experiments.runner.load_config`).

    Returns
    -------
    dict
        ``{"graphs", "runs", "n_bootstrap"}``: the graphs drawn, all the Mapper runs, and the
        distinct B of its graphs (sorted).
    """
    mappers = [a["mapper"] for a in config.get("analyses") or [] if a.get("mapper")]
    grid = config.get("grid")
    if grid:
        mappers += [r["mapper"] for r in grid["rows"] for _ in grid["iterations"]]
    runs = 0
    for m in mappers:
        boot = int(m.get("n_bootstrap", 0))
        runs += 1 + (boot + _NEIGHBOURS if boot else 0) + (_GAIN_SCAN if m["gain"] == "auto"
                                                           else 0)
    return {"graphs": len(mappers), "runs": runs,
            "n_bootstrap": sorted({int(m.get("n_bootstrap", 0)) for m in mappers})}


def cost_line(job):
    """One line on a job's Mapper cost, for ``cnntopo reproduce`` to print before it starts."""
    c = job.mapper_cost
    if not c["graphs"]:
        return f"{job.name}: no Mapper graph"
    boot = "/".join(str(b) for b in c["n_bootstrap"])
    return (f"{job.name}: {c['graphs']} Mapper graph{'s' * (c['graphs'] > 1)}, B = {boot}: "
            f"{c['runs']:,} Mapper runs")


def _load(experiment, scale):
    if isinstance(experiment, dict):  # an already loaded config (tests, notebooks)
        return validate_config(experiment)
    return load_config(experiment, scale)


def make_plan(experiments, scale, root, *, device=None):
    """The plan of `experiments`: their configs, and each distinct training once.

    Parameters
    ----------
    experiments : list of str or dict
        Bundled experiment names (``"fig9"``), config file paths, or loaded configs;
        ``"all"`` alone means every bundled experiment.
    scale : {"paper", "laptop", "smoke"}
        For names and paths.
    root : path-like
        Output folder of the whole plan (made absolute: Ray workers may start elsewhere).
    device : str, optional
        Train on this device ("cpu", "cuda") instead of each config's ``source.device``.

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        An unknown experiment, an empty list, or two experiments with the same name.
    """
    if experiments == "all":
        experiments = [name for name, _ in list_experiments()]
    if isinstance(experiments, (str, dict)) or not experiments:
        raise InputError(f"The 'experiments' parameter of make_plan must be a non-empty list of "
                         f"experiment names, config paths or configs (or 'all'); got "
                         f"{experiments!r}.")
    root = Path(root).absolute()
    configs, names = [], set()
    for experiment in experiments:
        config = _load(experiment, scale)
        name, src = config["name"], config["source"]
        if name in names:
            raise InputError(f"two experiments are named {name!r}; each needs its own output "
                             f"folder {str(root / name)!r}: rename one (its 'name' key).")
        names.add(name)
        if device is not None and src["kind"] == "train":
            src["device"] = device
        configs.append(config)
    # trainings that are prefixes of one another train once, as long as the longest
    groups = {}
    for config in configs:
        if config["source"]["kind"] == "train":
            groups.setdefault(prefix_key(config["source"]), []).append(config)
    merged = {}  # prefix key -> (training key, merged source, readers)
    for pkey, group in groups.items():
        src = _merged([c["source"] for c in group])
        merged[pkey] = (training_key(src), src, tuple(c["name"] for c in group))
    jobs = []
    for config in configs:
        src = config["source"]
        key = run_dir = None
        if src["kind"] == "train":
            key = merged[prefix_key(src)][0]
            run_dir = root / f"train-{key}"
        elif src["kind"] == "run":  # absolute paths: Ray workers may start elsewhere
            run_dir = Path(src["path"]).absolute()
            src["path"] = str(run_dir)
        elif src["kind"] == "vgg" and src["weights"] is not None:
            src["weights"] = str(Path(src["weights"]).absolute())
        jobs.append(Job(name=config["name"], config=config, out_dir=root / config["name"],
                        run_dir=run_dir, training=key))
    return Plan(root=root,
                trainings=tuple(Training(key, src, root / f"train-{key}", users)
                                for key, src, users in merged.values()),
                jobs=tuple(jobs))


def check_plan(plan, *, data_dir=None, weights=None, progress=True):
    """Check every experiment's inputs (CIFAR-10, VGG weights) before any work.

    Nothing is written into the plan's folders; VGG weights that are not given are fetched
    into the download cache, as `check_inputs` does. Raises the first experiment's
    FileNotFoundError (or ValueError), whose message names the flag or command that provides
    what is missing.
    """
    for job in plan.jobs:
        check_inputs(job.config, job.out_dir, data_dir=data_dir, weights=weights,
                     progress=progress, run_dir=job.run_dir)


def train_source(training, *, data_dir=None, progress=True, callback=None):
    """Train `training`'s ensemble, or finish it: an interrupted run resumes from its last
    saved state (``resume.pt``, written at every checkpoint), a finished one is left alone.

    Parameters
    ----------
    training : Training
    data_dir : path-like, optional
        As for `cnntopo.training.loop.TrainConfig`.
    progress : bool
        Show the trainer's progress bar.
    callback : callable, optional
        Passed to `cnntopo.training.loop.train`: ``callback(iteration, model)`` after each iteration.

    Returns
    -------
    dict
        ``{"key", "run_dir", "iterations", "started_at"}``: ``started_at`` is the iteration
        this call started from (0: from scratch; the iteration of the last saved state when
        resumed; ``iterations``: it was finished already).
    """
    from ..sources.rundir import is_run_dir
    from ..training.loop import train

    src, run_dir = training.source, Path(training.run_dir)
    done = {"key": training.key, "run_dir": str(run_dir), "iterations": src["iterations"]}
    if run_complete(run_dir, src["checkpoints"]):
        return {**done, "started_at": src["iterations"]}
    resume = is_run_dir(run_dir)
    started = []

    def hook(it, model):
        if not started:
            started.append(it - 1)
            if it > 1:
                print(f"{run_dir.name}: resumed at iteration {it - 1}", file=sys.stderr,
                      flush=True)
        if callback is not None:
            callback(it, model)

    train(train_config(src, data_dir), run_dir, resume=resume, progress=progress,
          callback=hook)
    return {**done, "started_at": started[0] if started else src["iterations"]}


def run_job(job, *, data_dir=None, weights=None, progress=True):
    """Run one experiment of a plan (its training already done); returns its summary."""
    return run_experiment(job.config, job.out_dir, data_dir=data_dir, weights=weights,
                          progress=progress, run_dir=job.run_dir)


def run_serial(plan, *, data_dir=None, weights=None, progress=True, on_done=None,
               on_trained=None):
    """Run `plan` here, one step after another: each training just before its first reader.

    Parameters
    ----------
    plan : Plan
    data_dir, weights : path-like, optional
        As for `run_experiment`.
    progress : bool
    on_done : callable, optional
        ``on_done(name, summary, error)`` after each experiment (error is always None here:
        the first error is raised).
    on_trained : callable, optional
        ``on_trained(key, info, error)`` after each training (info: `train_source`'s dict).

    Returns
    -------
    dict
        ``{"summaries": {name: summary}, "trainings": {key: train_source's dict},
        "errors": {}}``, in plan order.
    """
    check_plan(plan, data_dir=data_dir, weights=weights, progress=progress)
    trained, summaries = {}, {}
    for job in plan.jobs:
        if job.training is not None and job.training not in trained:
            trained[job.training] = train_source(plan.training(job.training), data_dir=data_dir,
                                                 progress=progress)
            if on_trained is not None:
                on_trained(job.training, trained[job.training], None)
        summaries[job.name] = run_job(job, data_dir=data_dir, weights=weights, progress=progress)
        if on_done is not None:
            on_done(job.name, summaries[job.name], None)
    return {"summaries": summaries, "trainings": trained, "errors": {}}
