"""Train an ensemble of the paper's networks, with checkpoints and exact resume.

A run directory holds::

    RUN_DIR/manifest.json                 config + one entry per checkpoint written
    RUN_DIR/checkpoints/iter_0000100.pt   {"format", "config", "iteration", "model"}
    RUN_DIR/resume.pt                     model + optimiser state, iteration, loss sums

Every file is written atomically. Randomness is a pure function of the config's seed:
network i's initialisation of (seed, i), its batch order of (seed, i, epoch) (one
permutation of the training set per epoch), dropout and CIFAR-10 crops/flips of
(seed, iteration). So resuming needs no RNG state, and a resumed run ends with exactly the
weights of an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import contextlib
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._io import atomic_torch_save, atomic_write_json
from .data import DATASETS, dataset_spec, load_dataset, prepare_batch
from .nets import ARCHS, DROPOUT, Ensemble, network_seed
from .rundir import MANIFEST_FORMAT, checkpoint_name as _checkpoint_name
from .rundir import read_manifest as _read_manifest

__all__ = ["CHECKPOINT_FORMAT", "TrainConfig", "build_model", "evaluate", "load_checkpoint",
           "load_run_config", "train", "train_step"]

CHECKPOINT_FORMAT = "cnntopo-ensemble/1"
RESUME_FORMAT = "cnntopo-resume/1"

DEFAULT_LR = {"M": 1e-3, "C": 0.1}          # Adam (tf.train.AdamOptimizer default) / SGD
DEFAULT_WEIGHT_DECAY = {"M": 0.0, "C": 0.004}  # L2 loss wd * sum(w**2) / 2 on the FC weight

# On the CPU, activations above glibc's 32 MiB mmap threshold are fresh mmaps on every
# step, and their page faults cost more than the arithmetic: run a few networks at a time.
CPU_PASS_BYTES = 32 * 2 ** 20
GPU_EVAL_PASS_BYTES = 2 * 2 ** 30

# second key of network_seed: one stream per purpose (0 is the initialisation, in nets.py)
_BATCH_STREAM, _DROPOUT_STREAM, _AUGMENT_STREAM = 1, 2, 3


@dataclass
class TrainConfig:
    """Everything that determines a run's weights; saved in every checkpoint.

    Attributes
    ----------
    arch : {"M", "C"}
    widths : tuple of 3 ints
        (X, Y, Z); 0 removes a block.
    no_pool : bool
        C without max-pooling (Figure 11).
    dataset : {"mnist", "cifar10-grey", "cifar10-color"}
    n_nets : int
        Networks trained side by side (each its own init and batch order).
    iterations : int
        Batch iterations (the paper's "batch iterations"), per network.
    checkpoints : list of int
        Iterations at which to save the weights and test every network; None: the last.
    seed : int
    batch_size : int
        Images per network per iteration (128).
    lr : float
        Learning rate; None: 1e-3 (Adam) for M, 0.1 (SGD) for C.
    weight_decay : float
        L2 weight loss coefficient on the FC weight; None: 0 for M, 0.004 for C.
    device : str
        "cpu" or "cuda" (or "cuda:1", ...).
    data_dir : str or None
        Passed to `cnntopo.data.load_dataset`.
    """

    arch: str
    widths: tuple
    no_pool: bool = False
    dataset: str = "mnist"
    n_nets: int = 1
    iterations: int = 1000
    checkpoints: list = field(default=None)
    seed: int = 0
    batch_size: int = 128
    lr: float = None
    weight_decay: float = None
    device: str = "cpu"
    data_dir: str = None

    def __post_init__(self):
        def bad(name, expected):
            return ValueError(f"The '{name}' parameter of TrainConfig must be {expected}; "
                              f"got {getattr(self, name)!r}.")

        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        if self.arch not in ARCHS:
            raise bad("arch", "'M' or 'C'")
        if (not isinstance(self.widths, (tuple, list)) or len(self.widths) != 3
                or not all(is_int(w) and w >= 0 for w in self.widths) or self.widths[0] == 0):
            raise bad("widths", "three integers (X, Y, Z) >= 0 with X > 0")
        self.widths = tuple(int(w) for w in self.widths)
        if self.no_pool and self.arch != "C":
            raise bad("no_pool", "False unless arch is 'C'")
        if self.dataset not in DATASETS:
            raise bad("dataset", f"one of {sorted(DATASETS)}")
        for name in ("n_nets", "iterations", "batch_size"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise bad(name, "an int >= 1")
        if not is_int(self.seed) or self.seed < 0:
            raise bad("seed", "an int >= 0")
        if self.checkpoints is None:
            self.checkpoints = [self.iterations]
        if (not isinstance(self.checkpoints, (list, tuple)) or not self.checkpoints
                or not all(is_int(c) and 1 <= c <= self.iterations for c in self.checkpoints)):
            raise bad("checkpoints", f"a non-empty list of iterations in [1, {self.iterations}]")
        self.checkpoints = sorted({int(c) for c in self.checkpoints})
        if self.lr is None:
            self.lr = DEFAULT_LR[self.arch]
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY[self.arch]
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise bad(name, "a float >= 0")
            setattr(self, name, float(v))
        if self.data_dir is not None:
            self.data_dir = str(self.data_dir)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown TrainConfig keys {unknown}.")
        return cls(**d)


def build_model(config):
    """The `Ensemble` a `TrainConfig` (or its dict) describes, freshly initialised, on CPU."""
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    spec = dataset_spec(config.dataset)
    return Ensemble(config.arch, config.widths, config.n_nets, in_channels=spec.in_channels,
                    image_size=spec.image_size, n_classes=spec.n_classes,
                    no_pool=config.no_pool, seed=config.seed)


# ------------------------------------------------------------------------- batch order

class _BatchOrder:
    """Network i's batch at iteration t: positions [tB, (t+1)B) of its stream of epochs.

    Epoch e of network i is a permutation of the training set drawn from (seed, i, e) alone.
    """

    def __init__(self, seed, n_nets, n_train, batch_size, device):
        self.seed, self.n_nets, self.n, self.b, self.device = seed, n_nets, n_train, batch_size, device
        self._perms = {}

    def _perm(self, epoch):
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            gens = [torch.Generator().manual_seed(network_seed(self.seed, _BATCH_STREAM, i, epoch))
                    for i in range(self.n_nets)]
            self._perms[epoch] = torch.stack(
                [torch.randperm(self.n, generator=g) for g in gens]).to(self.device)
        return self._perms[epoch]

    def __call__(self, t):
        """Indices (N, B) of the training images of iteration t (0-based)."""
        start, stop = t * self.b, (t + 1) * self.b
        parts = []
        for epoch in range(start // self.n, (stop - 1) // self.n + 1):
            lo, hi = max(start, epoch * self.n), min(stop, (epoch + 1) * self.n)
            parts.append(self._perm(epoch)[:, lo - epoch * self.n:hi - epoch * self.n])
        return torch.cat(parts, dim=1)


# --------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model, images, labels, dataset, batch=None):
    """Test accuracy of every network of `model`.

    Parameters
    ----------
    model : Ensemble
    images : torch.Tensor, (n, ...) raw images as `load_dataset` gives them
    labels : torch.Tensor, (n,)
    dataset : str
        Name for `prepare_batch` (evaluation transform: central crop for CIFAR-10).
    batch : int, optional
        Images per forward pass; None: 1000 on a GPU, on the CPU as many as keep one
        network's largest activation under 32 MiB.

    Returns
    -------
    numpy.ndarray, float, shape (N,)
        Fraction of `images` network i classifies correctly.
    """
    was_training = model.training
    model.eval()
    device = model.out.weight.device
    correct = torch.zeros(model.n_nets, dtype=torch.long, device=device)
    budget = CPU_PASS_BYTES if device.type == "cpu" else GPU_EVAL_PASS_BYTES
    if batch is None:
        batch = 1000 if device.type != "cpu" else max(1, budget // model.activation_bytes(1))
    per_pass = _nets_per_pass(model, batch, budget)
    try:
        for lo in range(0, len(labels), batch):
            x = prepare_batch(dataset, images[lo:lo + batch].to(device), train=False)
            y = labels[lo:lo + batch].to(device)
            for nets in _passes(model.n_nets, per_pass):
                pred = model(x, nets=nets).argmax(-1)  # shared input: (n, b)
                correct[nets] += (pred == y).sum(1)
    finally:
        model.train(was_training)
    return (correct.double() / len(labels)).cpu().numpy()


def _nets_per_pass(model, batch, budget):
    return max(1, min(model.n_nets, budget // model.activation_bytes(batch)))


def _passes(n, per_pass):
    return [slice(lo, min(lo + per_pass, n)) for lo in range(0, n, per_pass)]


# -------------------------------------------------------------------------- the files

def _load(path, fmt, what):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError, KeyError) as exc:
        raise ValueError(f"{what} {path} is corrupt or truncated and cannot be read "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from exc
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{what} {path} is not a {fmt!r} file (format {got!r}).")
    return obj


def load_checkpoint(path):
    """Read and validate one checkpoint file.

    Returns
    -------
    dict
        ``{"format": "cnntopo-ensemble/1", "config": dict, "iteration": int, "model":
        state_dict}``; ``model["conv1.weight"]`` has shape (N, X, C, 3, 3).

    Raises
    ------
    ValueError
        The file is truncated, not a checkpoint, or its weights do not fit its config.
    """
    ckpt = _load(path, CHECKPOINT_FORMAT, "Checkpoint")
    missing = {"config", "iteration", "model"} - set(ckpt)
    if missing:
        raise ValueError(f"Checkpoint {path} lacks {sorted(missing)}.")
    expected = {k: tuple(v.shape) for k, v in build_model(ckpt["config"]).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in ckpt["model"].items()}
    if got != expected:
        raise ValueError(f"Checkpoint {path}: weights {got} do not fit its config {expected}.")
    return ckpt


def load_run_config(run_dir):
    """The `TrainConfig` saved in ``run_dir/manifest.json``."""
    return TrainConfig.from_dict(_read_manifest(Path(run_dir))["config"])


def _differing_keys(a, b):
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# ---------------------------------------------------------------------------- training

def _loss_per_network(logits, labels, config, fc_weight=None):
    """(n,) softmax cross-entropy (mean over the batch) + L2 weight loss on `fc_weight` (n, Z, F)."""
    n, b, k = logits.shape
    loss = F.cross_entropy(logits.reshape(n * b, k), labels.reshape(n * b),
                           reduction="none").view(n, b).mean(1)
    if config.weight_decay and fc_weight is not None:
        loss = loss + config.weight_decay * 0.5 * fc_weight.square().sum((1, 2))
    return loss


def _optimizer(model, config):
    # Elementwise optimisers: on stacked parameters each network gets exactly its own update,
    # and the fused kernels make it one pass over the memory for all N networks.
    if config.arch == "M":
        return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    return torch.optim.SGD(model.parameters(), lr=config.lr, fused=True)


def train_step(model, opt, x, y, config, passes, keep=None):
    """One iteration of every network: forward/backward pass by pass, then one optimiser step.

    Parameters
    ----------
    model : Ensemble
    opt : torch.optim.Optimizer
        Over ``model.parameters()``.
    x : torch.Tensor, (N, B, C, H, W)
    y : torch.Tensor, (N, B)
    config : TrainConfig
    passes : list of slice
        Networks per forward/backward pass, covering 0..N-1 once.
    keep : torch.Tensor of bool, (N, B, Z), optional
        Dropout keep-mask of M's FC layer.

    Returns
    -------
    torch.Tensor, (N,)
        Each network's loss on its batch (before the step).
    """
    named = dict(model.named_parameters())
    for p in named.values():
        if p.grad is None:  # every pass overwrites its networks' slice: no zeroing needed
            p.grad = torch.empty_like(p)
    losses = []
    for nets in passes:
        # leaf views, so that a pass's backward writes gradients of its own networks only
        # (through p[nets] it would write a zero-filled gradient of all N every pass)
        w = {k: p.detach()[nets].requires_grad_() for k, p in named.items()}
        logits = model(x[nets], nets=nets, keep=None if keep is None else keep[nets], weights=w)
        loss = _loss_per_network(logits, y[nets], config, w.get("fc.weight"))
        loss.sum().backward()
        for k, p in named.items():
            p.grad[nets] = w[k].grad
        losses.append(loss.detach())
    opt.step()
    return torch.cat(losses)


def train(config, out_dir, *, resume=False, progress=True, resume_every=500, callback=None,
          nets_per_pass=None):
    """Train ``config.n_nets`` networks side by side; save checkpoints and a manifest.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path-like
        The run directory (see the module docstring). Must not hold a run unless `resume`.
    resume : bool
        Continue the run in `out_dir` from its ``resume.pt``; the config must equal the
        saved one. Finished checkpoints are never rewritten.
    progress : bool
        Show a tqdm bar (loss averaged over the networks, iterations/s).
    resume_every : int
        Also save ``resume.pt`` every this many iterations (it is always saved at start and
        at each checkpoint).
    callback : callable, optional
        ``callback(iteration, model)`` after each iteration's files are written.
    nets_per_pass : int, optional
        Networks per forward/backward pass of a step (the optimiser steps once, after all
        passes). None: all on a GPU; on the CPU as many as keep the largest activation
        under 32 MiB. Runs are bitwise reproducible for a fixed value.

    Returns
    -------
    dict
        The manifest: ``{"format", "config", "n_params_per_network", "checkpoints": [
        {"iteration", "file", "test_accuracy" (N floats), "mean_test_accuracy",
        "train_loss", "train_loss_per_network", "wall_time"}, ...], "completed"}``;
        train losses are means over the iterations since the previous checkpoint, wall
        time is seconds of training so far (summed over resumes).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"The 'config' parameter of train must be a TrainConfig; "
                        f"got {type(config).__name__}.")
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    manifest_path, resume_path = out_dir / "manifest.json", out_dir / "resume.pt"
    cfg = asdict(config)
    device = torch.device(config.device)
    model = build_model(config).to(device)
    opt = _optimizer(model, config)
    n = config.n_nets
    loss_sum = torch.zeros(n, dtype=torch.float64, device=device)
    start, loss_count, elapsed = 0, 0, 0.0

    if resume:
        manifest = _read_manifest(out_dir)
        diff = _differing_keys(TrainConfig.from_dict(manifest["config"]).__dict__, cfg)
        if diff:
            raise ValueError(f"Cannot resume {out_dir}: the config differs from the saved "
                             f"one in {diff}.")
        state = _load(resume_path, RESUME_FORMAT, "Resume file")
        diff = _differing_keys(state.get("config", {}), cfg)
        if diff:
            raise ValueError(f"Resume file {resume_path} belongs to another config "
                             f"(differs in {diff}).")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, loss_count, elapsed = state["iteration"], state["loss_count"], state["elapsed"]
        loss_sum.copy_(state["loss_sum"])
    else:
        if manifest_path.exists() or resume_path.exists():
            raise FileExistsError(f"{out_dir} already holds a training run; pass resume=True "
                                  "to continue it, or choose another directory.")
        manifest = {"format": MANIFEST_FORMAT, "config": cfg,
                    "n_params_per_network": sum(p[0].numel() for p in model.parameters()),
                    "checkpoints": [], "completed": False}
    done = {c["iteration"] for c in manifest["checkpoints"]}

    def save_resume(t):
        atomic_torch_save(resume_path, {
            "format": RESUME_FORMAT, "config": cfg, "iteration": t, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "loss_sum": loss_sum.cpu(), "loss_count": loss_count,
            "elapsed": elapsed})

    if start >= config.iterations:
        return manifest
    # Read the data before the first file is written: a wrong data_dir must leave no run
    # behind that a corrected command would then refuse to overwrite.
    train_x, train_y, test_x, test_y = load_dataset(config.dataset, data_dir=config.data_dir)
    if not resume:
        atomic_write_json(manifest_path, manifest)
        save_resume(0)
    train_x, train_y = train_x.to(device), train_y.to(device)
    spec = dataset_spec(config.dataset)
    order = _BatchOrder(config.seed, n, len(train_y), config.batch_size, device)
    gen = torch.Generator(device=device)
    shape = (n, config.batch_size, spec.in_channels, spec.image_size, spec.image_size)
    if nets_per_pass is None:
        nets_per_pass = (n if device.type != "cpu"
                         else _nets_per_pass(model, config.batch_size, CPU_PASS_BYTES))
    passes = _passes(n, int(nets_per_pass))
    dropout = (n, config.batch_size, config.widths[2]) if config.arch == "M" and config.widths[2] else None

    from tqdm.auto import tqdm  # local: only the loop needs it

    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations,
               disable=not progress, desc=f"{n} x {config.arch}{config.widths}", unit="it")
    ctx = _deterministic() if device.type == "cpu" else contextlib.nullcontext()
    with ctx:
        tick = time.perf_counter()
        model.train()
        for t in bar:
            idx = order(t)                                       # (N, B)
            gen.manual_seed(network_seed(config.seed, _AUGMENT_STREAM, t))
            x = prepare_batch(config.dataset, train_x[idx.flatten()], train=True,
                              generator=gen).view(shape)
            y = train_y[idx]
            keep = None
            if dropout:
                gen.manual_seed(network_seed(config.seed, _DROPOUT_STREAM, t))
                keep = torch.rand(dropout, generator=gen, device=device) >= DROPOUT
            loss_sum += train_step(model, opt, x, y, config, passes, keep)
            loss_count += 1
            it = t + 1
            if progress and (it % 25 == 0 or it == config.iterations):
                bar.set_postfix(loss=f"{(loss_sum / loss_count).mean().item():.4f}")
            if it in config.checkpoints or it % resume_every == 0:
                elapsed += time.perf_counter() - tick
                tick = time.perf_counter()
                if it in config.checkpoints and it not in done:
                    _write_checkpoint(model, cfg, it, ckpt_dir, manifest, manifest_path,
                                      test_x, test_y, config.dataset,
                                      (loss_sum / loss_count).cpu().numpy(), elapsed)
                    done.add(it)
                if it in config.checkpoints:
                    loss_sum.zero_()
                    loss_count = 0
                save_resume(it)
                tick = time.perf_counter()  # evaluation and saving are not training time
            if callback is not None:
                callback(it, model)
    bar.close()
    return manifest


def _write_checkpoint(model, cfg, t, ckpt_dir, manifest, manifest_path, test_x, test_y,
                      dataset, train_loss, elapsed):
    name = _checkpoint_name(t)
    atomic_torch_save(ckpt_dir / name, {"format": CHECKPOINT_FORMAT, "config": cfg,
                                        "iteration": t, "model": model.state_dict()})
    acc = evaluate(model, test_x, test_y, dataset)
    manifest["checkpoints"].append({
        "iteration": t, "file": f"checkpoints/{name}", "test_accuracy": acc.tolist(),
        "mean_test_accuracy": float(acc.mean()), "train_loss": float(train_loss.mean()),
        "train_loss_per_network": train_loss.tolist(), "wall_time": round(elapsed, 3)})
    manifest["completed"] = t == cfg["iterations"]
    atomic_write_json(manifest_path, manifest)


@contextlib.contextmanager
def _deterministic():
    """Deterministic kernels for the duration of training; the global flag is restored."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
