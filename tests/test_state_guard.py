"""The suite's guard against leaked global state (tests/state_guard.py) catches each kind of leak."""

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

LEAKY = '''
import numpy as np
import pytest
import torch
import torch._inductor.config as inductor_config


def test_threads_leak():
    torch.set_num_threads(torch.get_num_threads() + 1)


def test_dtype_leak():
    torch.set_default_dtype(torch.float64)


def test_inductor_entry_deleted_by_monkeypatch(monkeypatch):
    # pytest's undo deletes the entry, and torch hides it: the leak of issue 20
    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, "no-such-g++"))


def test_numpy_errstate_leak():
    np.seterr(all="raise")


def test_scoped_patch_is_fine():
    with inductor_config.patch({"cpp.cxx": (None, "no-such-g++")}):
        assert inductor_config.cpp.cxx == (None, "no-such-g++")


def test_restored_threads_are_fine():
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def module_threads():
    torch.set_num_threads(torch.get_num_threads() + 2)  # never put back


def test_after_the_leaks_all_is_restored(module_threads):
    assert torch.get_default_dtype() == torch.float32
    assert inductor_config.cpp.cxx[1]  # visible again
    assert np.geterr()["divide"] != "raise"
'''

CONFTEST = f'''
import sys
sys.path.insert(0, {str(TESTS)!r})
import pytest
import state_guard


@pytest.fixture(autouse=True, scope="module")
def _module_guard(request):
    before = state_guard.snapshot()
    yield
    state_guard.check(before, request.module.__name__)


@pytest.fixture(autouse=True)
def _test_guard(request):
    before = state_guard.snapshot()
    yield
    state_guard.check(before, request.node.nodeid)
'''


def test_the_guard_fails_each_leaking_test_and_restores_the_state(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-p", "no:xdist", "test_leaky.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    # each leak is an error at its teardown, named with what changed; the module fixture's
    # leak is reported at the module's end; the scoped changes pass
    # (a test whose teardown fails still counts as passed, plus one error)
    assert "7 passed, 5 errors" in out, out[-3000:]
    for line in ("test_threads_leak", "torch threads", "torch default dtype: torch.float32 -> "
                 "torch.float64", "torch._inductor.config.cpp.cxx: (None, ",
                 "<deleted: the entry is hidden>", "numpy errstate",
                 "test_leaky left global state changed (use monkeypatch.setenv, "
                 "torch._inductor.config.patch(...) or try/finally): torch threads"):
        assert line in out, (line, out[-3000:])
    for ok in ("test_scoped_patch_is_fine", "test_restored_threads_are_fine"):
        assert f"ERROR at teardown of {ok}" not in out
