"""Where training runs and in what arithmetic: device strings, their availability, TF32, bf16.

`device_problem` says in a few words why a device string cannot train here (not a device, a
CPU-only PyTorch, no visible GPU, an index beyond the GPUs); `check_device` turns that into
a ValueError. `numerics` and `autocast` set a training precision ("fp32": strict IEEE
float32, TF32 off; "tf32"; "bf16": bfloat16 autocast) for the duration of a block and
restore PyTorch's global flags afterwards.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from ..validation import InputError

__all__ = ["check_device", "device_problem"]


def parse_device(device):
    """torch.device of a "cpu" / "cuda" / "cuda:N" string (or torch.device); None if not one."""
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            return None
    else:
        return None
    if dev.type == "cpu" and dev.index in (None, 0):
        return torch.device("cpu")
    return dev if dev.type == "cuda" else None


def _available_devices():
    if not (torch.version.cuda and torch.cuda.is_available()):
        return ["cpu"]
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def device_problem(device):
    """Why `device` cannot train here, in a few words; None when it can.

    Parameters
    ----------
    device : str or torch.device
        "cpu", "cuda" or "cuda:N".

    Returns
    -------
    str or None
        E.g. "this PyTorch has no CUDA (CPU-only build 2.13.0+cpu); available: cpu".
    """
    available = "available: " + ", ".join(_available_devices())
    dev = parse_device(device)
    if dev is None:
        return f"not a device this package trains on (expected cpu, cuda or cuda:N); {available}"
    if dev.type == "cpu":
        return None
    if not torch.version.cuda:
        return f"this PyTorch has no CUDA (CPU-only build {torch.__version__}); {available}"
    if not torch.cuda.is_available():
        return (f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU "
                f"(no driver, or CUDA_VISIBLE_DEVICES hides them); {available}")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        return f"there {'is' if count == 1 else 'are'} only {count} CUDA GPU{'s' * (count != 1)}; {available}"
    return None


def check_device(device, caller="train"):
    """`device` as a torch.device, or ValueError saying why it cannot be used here."""
    problem = device_problem(device)
    if problem:
        raise InputError(f"The 'device' parameter of {caller} is {str(device)!r}: {problem}.")
    return parse_device(device)


@contextlib.contextmanager
def numerics(precision, device):
    """TF32 on or off (strict float32 for "fp32") and cuDNN autotuning, restored afterwards."""
    if device.type != "cuda":
        yield
        return
    tf32 = precision != "fp32"
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark)
    with warnings.catch_warnings():  # newer PyTorch suggests its fp32_precision API
        warnings.simplefilter("ignore")
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = tf32, tf32, True
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = before


def autocast(precision, device):
    """bfloat16 autocast for "bf16", else nothing (the forward pass and loss only)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    # no weight-cast cache: it would pin casts made during a CUDA graph capture
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)

def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
