"""A guard against tests that leave process-wide state behind.

A test (or a module's fixtures) that changes torch's thread count, its default dtype, its grad
mode or deterministic flag, NumPy's floating-point error handling, or an entry of
``torch._inductor.config`` / ``torch._dynamo.config`` and does not put it back breaks whichever
test the same xdist worker runs next, so the suite's result would depend on the worker split.
:func:`snapshot` reads that state; ``conftest.py`` compares it before and after every test and
every module, restores what changed and fails the test that changed it.

Scoped mechanisms restore for you: ``monkeypatch.setenv``, ``torch._inductor.config.patch(...)``
as a context manager, or a ``try/finally`` around ``torch.set_num_threads``.
``monkeypatch.setattr`` on a torch config entry does NOT: pytest's undo deletes the entry
(torch then hides it, and every later ``torch.compile`` in the process fails).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

# torch config modules watched once they are imported (importing them costs ~2 s, so the guard
# imports inductor's only where torch is already loaded)
CONFIG_MODULES = ("torch._inductor.config", "torch._dynamo.config")
_MISSING = "<deleted: the entry is hidden>"


def _config_state(module):
    values = module.get_config_copy()
    with warnings.catch_warnings():  # reading a deprecated entry warns
        warnings.simplefilter("ignore")
        for key in values:
            try:
                getattr(module, key)
            except AttributeError:  # deleted, e.g. by monkeypatch.setattr's undo
                values[key] = _MISSING
    return values


def snapshot():
    """The process-wide state a test must leave as it found it.

    Returns
    -------
    dict
        ``{what: value}``; torch entries only when torch is imported.
    """
    state = {"numpy errstate": np.geterr()}
    torch = sys.modules.get("torch")
    if torch is None:
        return state
    import torch._inductor.config  # noqa: F401  (so that a test that imports it is watched)

    state.update({"torch threads": torch.get_num_threads(),
                  "torch default dtype": torch.get_default_dtype(),
                  "torch grad mode": torch.is_grad_enabled(),
                  "torch deterministic algorithms": torch.are_deterministic_algorithms_enabled()})
    for name in CONFIG_MODULES:
        if name in sys.modules:
            state[name] = _config_state(sys.modules[name])
    return state


def differences(before, after):
    """Lines naming what changed between two :func:`snapshot` results."""
    out = []
    for what, old in before.items():
        new = after.get(what)
        if what in CONFIG_MODULES:
            out += [f"{what}.{key}: {old[key]!r} -> {new.get(key, _MISSING)!r}"
                    for key in old if new.get(key, _MISSING) != old[key]]
        elif new != old:
            out.append(f"{what}: {old!r} -> {new!r}")
    return out


def restore(before):
    """Put back the state of a :func:`snapshot`."""
    np.seterr(**before["numpy errstate"])
    torch = sys.modules.get("torch")
    if torch is None or "torch threads" not in before:
        return
    torch.set_num_threads(before["torch threads"])
    torch.set_default_dtype(before["torch default dtype"])
    torch.set_grad_enabled(before["torch grad mode"])
    torch.use_deterministic_algorithms(before["torch deterministic algorithms"])
    for name in CONFIG_MODULES:
        if name in before:
            # setting an entry un-hides it
            sys.modules[name].load_config({k: v for k, v in before[name].items()
                                           if v != _MISSING})


def check(before, where):
    """Fail (after restoring) if the state differs from `before`."""
    import pytest

    after = snapshot()
    changed = differences(before, after)
    if changed:
        restore(before)
        pytest.fail(f"{where} left global state changed (use monkeypatch.setenv, "
                    f"torch._inductor.config.patch(...) or try/finally): " + "; ".join(changed),
                    pytrace=False)
