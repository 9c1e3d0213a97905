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

On a CUDA device the same step runs in the config's ``precision`` ("fp32": strict IEEE
float32, TF32 off; "tf32": TF32 matmuls and convolutions; "bf16": bfloat16 autocast of the
convolutions and matmuls, float32 weights, loss and optimiser), by default replayed from a
CUDA graph captured after a few eager iterations (the same kernels, without the launch
overhead of ~100 small kernels per step); batches are gathered and CIFAR-10 crops/flips/
standardisation computed on the device. The randomness stays a function of the seed, but
GPU kernels are not bitwise reproducible run to run.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..files import atomic_torch_save, atomic_write_json
from ..sources.rundir import (
    CHECKPOINT_FORMAT,
    MANIFEST_FORMAT,
    WATCH_KIND,
    checkpoint_name,
    read_manifest,
)
from ..validation import InputError
from .data import DATASETS, dataset_spec, load_dataset, prepare_batch
from .device import (
    autocast,
    check_device,
    device_problem,
    numerics,
    parse_device,
    synchronize,
)
from .nets import ARCHS, CONV_IMPLS, DROPOUT, Ensemble, network_seed

__all__ = ["CHECKPOINT_FORMAT", "PRECISIONS", "TrainConfig", "build_model", "check_device",
           "device_problem", "evaluate", "load_checkpoint", "load_run_config", "train",
           "train_step"]

RESUME_FORMAT = "cnntopo-resume/1"

DEFAULT_LR = {"M": 1e-3, "C": 0.1}          # Adam (tf.train.AdamOptimizer default) / SGD
DEFAULT_WEIGHT_DECAY = {"M": 0.0, "C": 0.004}  # L2 loss wd * sum(w**2) / 2 on the FC weight
PRECISIONS = ("fp32", "tf32", "bf16")
DEFAULT_PRECISION = {"cpu": "fp32", "cuda": "bf16"}

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
    dataset : {"mnist", "fashion-mnist", "cifar10-grey", "cifar10-color"}
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
        Passed to `cnntopo.training.data.load_dataset`.
    precision : {"fp32", "tf32", "bf16"}
        Arithmetic of the training step (see the module docstring); None: "fp32" on the
        CPU, "bf16" on CUDA. Weights, optimiser state and evaluation stay float32.
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
    precision: str = None

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
        if parse_device(self.device) is None:
            raise bad("device", "'cpu', 'cuda' or 'cuda:N'")
        self.device = str(self.device)
        if self.precision is None:
            self.precision = DEFAULT_PRECISION[parse_device(self.device).type]
        if self.precision not in PRECISIONS:
            raise bad("precision", f"one of {PRECISIONS} or None")

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise InputError(f"Unknown TrainConfig keys {unknown}.")
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
        raise InputError(f"{what} {path} is corrupt or truncated and cannot be read "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from exc
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{what} {path} is not a {fmt!r} file (format {got!r}).")
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
        raise InputError(f"Checkpoint {path} lacks {sorted(missing)}.")
    expected = {k: tuple(v.shape) for k, v in build_model(ckpt["config"]).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in ckpt["model"].items()}
    if got != expected:
        raise InputError(f"Checkpoint {path}: weights {got} do not fit its config {expected}.")
    return ckpt


def load_run_config(run_dir):
    """The `TrainConfig` saved in ``run_dir/manifest.json``."""
    config = read_manifest(Path(run_dir))["config"]
    if config.get("kind") == WATCH_KIND:
        raise InputError(f"{run_dir} was written by a cnntopo.Watcher watching a training of "
                         f"its own, not by `cnntopo train`: there is nothing to resume here.")
    return TrainConfig.from_dict(config)


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


def _optimizer(model, config, capturable=False):
    # Elementwise optimisers: on stacked parameters each network gets exactly its own update,
    # and the fused kernels make it one pass over the memory for all N networks.
    # `capturable`: Adam may be captured in a CUDA graph (its step count stays on the GPU;
    # the fused kernel computes the same update either way). SGD keeps no step count.
    if config.arch == "M":
        return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True,
                                capturable=capturable)
    return torch.optim.SGD(model.parameters(), lr=config.lr, fused=True)


def train_step(model, opt, x, y, config, passes, keep=None, forward=None):
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
    forward : callable, optional
        Used instead of ``model.forward`` (e.g. its ``torch.compile``-d version).

    Returns
    -------
    torch.Tensor, (N,)
        Each network's loss on its batch (before the step), float32.

    Notes
    -----
    ``config.precision == "bf16"`` runs the forward pass and the loss under bfloat16
    autocast (the loss itself is float32); TF32 is set by the caller (`train`).
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
        with autocast(config.precision, x.device):
            logits = (forward or model)(x[nets], nets=nets,
                                        keep=None if keep is None else keep[nets], weights=w)
            loss = _loss_per_network(logits.float(), y[nets], config, w.get("fc.weight"))
        loss.sum().backward()
        for k, p in named.items():
            p.grad[nets] = w[k].grad
        losses.append(loss.detach())
    opt.step()
    return torch.cat(losses)


class _Batches:
    """The inputs of iteration t for every network, drawn on the training device.

    ``batches(t)`` -> x (N, B, C, H, W) float32, y (N, B) int64, keep (N, B, Z) bool or None
    (the dropout mask of M's FC layer): network i's images are positions [tB, (t+1)B) of
    its own stream of epochs; crops/flips (CIFAR-10) and dropout come from (seed, t).
    """

    def __init__(self, config, train_x, train_y):
        device = train_x.device
        spec = dataset_spec(config.dataset)
        n, b = config.n_nets, config.batch_size
        self.config, self.train_x, self.train_y = config, train_x, train_y
        self.order = _BatchOrder(config.seed, n, len(train_y), b, device)
        self.gen = torch.Generator(device=device)
        self.shape = (n, b, spec.in_channels, spec.image_size, spec.image_size)
        self.dropout = (n, b, config.widths[2]) if config.arch == "M" and config.widths[2] else None

    def __call__(self, t):
        cfg = self.config
        idx = self.order(t)                                       # (N, B)
        self.gen.manual_seed(network_seed(cfg.seed, _AUGMENT_STREAM, t))
        x = prepare_batch(cfg.dataset, self.train_x[idx.flatten()], train=True,
                          generator=self.gen).view(self.shape)
        keep = None
        if self.dropout:
            self.gen.manual_seed(network_seed(cfg.seed, _DROPOUT_STREAM, t))
            keep = torch.rand(self.dropout, generator=self.gen, device=x.device) >= DROPOUT
        return x, self.train_y[idx], keep


class _Step:
    """`train_step` as a callable; on CUDA optionally replayed from a captured CUDA graph.

    With ``graph=True`` the first `warmup` calls run eagerly on a side stream (cuDNN
    autotuning, lazy optimiser state), the next one captures the whole step (forward,
    backward, optimiser) into a CUDA graph and replays it; every later call copies its
    batch into the graph's input buffers and replays. Each call is one real iteration
    either way. The returned loss tensor is the graph's output buffer: use it before the
    next call. If the capture fails, the step falls back to eager (``self.error`` says why).
    """

    def __init__(self, model, opt, config, passes, *, graph=False, warmup=3, compile=False):
        self.model, self.opt, self.config, self.passes = model, opt, config, passes
        self.graph, self.warmup, self.calls, self.error = bool(graph), int(warmup), 0, None
        self._g = self._static = self._loss = None
        # torch.compile of the forward (AOTAutograd compiles its backward too); fixed shapes,
        # so one compilation per pass size, done in the first (eager, warm-up) calls
        self.forward = torch.compile(model.forward, dynamic=False) if compile else None

    def _eager(self, x, y, keep):
        return train_step(self.model, self.opt, x, y, self.config, self.passes, keep,
                          forward=self.forward)

    def __call__(self, x, y, keep=None):
        if not self.graph:
            return self._eager(x, y, keep)
        self.calls += 1
        if self._g is None and self.calls <= self.warmup:
            side, main = torch.cuda.Stream(x.device), torch.cuda.current_stream(x.device)
            side.wait_stream(main)
            with torch.cuda.stream(side), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*capturable=True.*")
                loss = self._eager(x, y, keep)
            torch.cuda.synchronize(x.device)
            return loss
        if self._g is None:
            try:
                self._capture(x, y, keep)
            except RuntimeError as exc:  # e.g. an op that cannot be captured
                self.graph, self._g, self._static, self._loss = False, None, None, None
                self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                warnings.warn(f"CUDA graph capture failed, training eagerly: {self.error}",
                              RuntimeWarning, stacklevel=2)
                torch.cuda.synchronize(x.device)
                return self._eager(x, y, keep)
        for buf, new in zip(self._static, (x, y, keep)):
            if buf is not None:
                buf.copy_(new)
        self._g.replay()
        return self._loss

    def _capture(self, x, y, keep):
        torch.cuda.synchronize(x.device)
        self._static = tuple(None if v is None else v.clone() for v in (x, y, keep))
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, capture_error_mode="thread_local"):
            self._loss = self._eager(*self._static)
        self._g = g

    def close(self):
        """Free the graph and its memory pool."""
        self._g = self._static = self._loss = None


def cpp_compiler():
    """The C++ compiler torch.compile would build with on the CPU, or None.

    As torch documents it: ``$CXX`` if set, else ``g++`` (``clang++`` on macOS), looked up on
    PATH. Only public interfaces: torch's private ``cpp_builder`` reads a config that tests
    and users patch, and a bad patch there would break this check too.

    Returns
    -------
    str or None
        The compiler's full path, None when none is found.
    """
    wanted = os.environ.get("CXX")
    if wanted:
        return shutil.which(wanted)
    for name in (("clang++", "g++") if sys.platform == "darwin" else ("g++", "clang++")):
        found = shutil.which(name)
        if found:
            return found
    return None


def _check_cpp_compiler():
    """torch.compile on the CPU builds C++: refuse `compile` early, before any file is written."""
    if cpp_compiler() is None:
        wanted = os.environ.get("CXX")
        what = f"CXX={wanted!r} is not an executable on PATH" if wanted else \
            "neither g++ nor clang++ is on PATH"
        raise InputError(f"The 'compile' parameter of train needs a C++ compiler on the CPU "
                         f"(torch.compile builds C++ there): {what}; install g++ or set CXX, "
                         f"or train without compile.")


def train(config, out_dir, *, resume=False, progress=True, resume_every=500, callback=None,
          nets_per_pass=None, cuda_graph=None, conv_impl="auto", compile=False):
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
    cuda_graph : bool, optional
        Replay the step from a CUDA graph (see `_Step`); None: on CUDA devices. How the
        step runs, not what it computes: not part of the config.
    conv_impl : {"auto", "im2col", "grouped"}
        How the ensemble runs its conv layers (`cnntopo.training.nets.Ensemble`); not part of the
        config either.
    compile : bool
        Run the forward pass (and so its backward) through ``torch.compile``: a compilation
        of tens of seconds per pass size first, then fused element-wise work. Not faster on
        2 CPU cores (0.73x the demo's M step, 0.99x C's; benchmarks/bench_compile.py); on a
        GPU the device check measures it. Not part of the config.

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
    device = check_device(config.device)
    if compile and device.type == "cpu":
        _check_cpp_compiler()
    if cuda_graph is None:
        cuda_graph = device.type == "cuda"
    if cuda_graph and device.type != "cuda":
        raise InputError(f"The 'cuda_graph' parameter of train needs a CUDA device; the "
                         f"config's device is {config.device!r}.")
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    manifest_path, resume_path = out_dir / "manifest.json", out_dir / "resume.pt"
    cfg = asdict(config)
    model = build_model(config).to(device)
    model.conv_impl = conv_impl
    if conv_impl not in CONV_IMPLS:
        raise InputError(f"The 'conv_impl' parameter of train must be one of {CONV_IMPLS}; "
                         f"got {conv_impl!r}.")
    opt = _optimizer(model, config, capturable=bool(cuda_graph))
    n = config.n_nets
    loss_sum = torch.zeros(n, dtype=torch.float64, device=device)
    start, loss_count, elapsed = 0, 0, 0.0

    if resume:
        manifest = read_manifest(out_dir)
        diff = _differing_keys(TrainConfig.from_dict(manifest["config"]).__dict__, cfg)
        if diff:
            raise InputError(f"Cannot resume {out_dir}: the config differs from the saved "
                             f"one in {diff}.")
        state = _load(resume_path, RESUME_FORMAT, "Resume file")
        saved = state.get("config", {})
        with contextlib.suppress(TypeError, ValueError):  # files from before a new field
            saved = asdict(TrainConfig.from_dict(saved))
        diff = _differing_keys(saved, cfg)
        if diff:
            raise InputError(f"Resume file {resume_path} belongs to another config "
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
    batches = _Batches(config, train_x.to(device), train_y.to(device))
    if nets_per_pass is None:
        nets_per_pass = (n if device.type != "cpu"
                         else _nets_per_pass(model, config.batch_size, CPU_PASS_BYTES))
    step = _Step(model, opt, config, _passes(n, int(nets_per_pass)), graph=cuda_graph,
                 compile=compile)

    from tqdm.auto import tqdm  # local: only the loop needs it

    bar = tqdm(range(start, config.iterations), initial=start, total=config.iterations,
               disable=not progress, desc=f"{n} x {config.arch}{config.widths}", unit="it")
    ctx = _deterministic() if device.type == "cpu" else numerics(config.precision, device)
    try:
        with ctx:
            tick = time.perf_counter()
            model.train()
            for t in bar:
                loss_sum += step(*batches(t))
                loss_count += 1
                it = t + 1
                if progress and (it % 25 == 0 or it == config.iterations):
                    bar.set_postfix(loss=f"{(loss_sum / loss_count).mean().item():.4f}")
                if it in config.checkpoints or it % resume_every == 0:
                    synchronize(device)  # GPU work is queued: count it where it ends
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
    finally:
        bar.close()
        step.close()
    return manifest



def _write_checkpoint(model, cfg, t, ckpt_dir, manifest, manifest_path, test_x, test_y,
                      dataset, train_loss, elapsed):
    name = checkpoint_name(t)
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
