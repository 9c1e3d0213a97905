"""Shared clouds, and the rule for tests whose asset is missing.

Clouds with known topology, drawn from a seed (``from conftest import noisy_circle``):
``noisy_circle(n, noise, seed, dim)``, ``circle(rng, n, axes, dim)`` and
``primary_circle_filters(n, seed, noise)``.

Assets: a test that needs something the project fetches or ships (registry weights, the
data packages, the browser, ``../shared`` data, the dev and bench extras) calls
:func:`missing_asset` when it is absent. That skips it, with the reason, on a developer's
machine; under ``CNNTOPO_REQUIRE_ASSETS=1`` (what ``.ci/run`` sets) it fails, so a green CI
run means every such test ran. Only the CUDA tests may skip there.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

# `make test` runs the suite on every core (pytest-xdist, one worker per core): one thread per
# worker, set before NumPy or PyTorch start their thread pools, so that workers do not fight.
if os.environ.get("PYTEST_XDIST_WORKER"):
    # LOKY_MAX_CPU_COUNT: `n_jobs=None` (every core, cnntopo.parallel) means this worker's one
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "LOKY_MAX_CPU_COUNT"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import state_guard  # noqa: E402

REQUIRE_ASSETS = os.environ.get("CNNTOPO_REQUIRE_ASSETS") == "1"
SHARED = Path(__file__).resolve().parents[2] / "shared"
# Lines for the end of the run: which weights the paper-claim tests read, and the like.
RUN_NOTES = []


def missing_asset(reason, *, required=True):
    """Skip the calling test for `reason`; fail it instead under CNNTOPO_REQUIRE_ASSETS=1.

    ``required=False`` is for assets no machine of the project can get (a file served only
    by a URL outside the package registries): those skip everywhere, and say so.
    """
    if REQUIRE_ASSETS and required:
        pytest.fail(f"CNNTOPO_REQUIRE_ASSETS=1 and an asset is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need_module(name, why=None):
    """Import `name` (a package of the project's extras) or :func:`missing_asset`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing_asset(f"{why or name} is not importable ({exc}); `make setup` installs it")


def need_program(name, why):
    """The path of program `name` or :func:`missing_asset`."""
    path = shutil.which(name)
    if path is None:
        missing_asset(f"{why} needs `{name}` on PATH")
    return path


def shared_file(*parts):
    """A file of ``../shared`` (public regression data CI has) or :func:`missing_asset`."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        missing_asset(f"{path} is absent (../shared beside the checkout)")
    return path


def cached_weights(name):
    """The verified cache file of download artifact `name` or :func:`missing_asset`.

    Required where the package registry serves the file (``make test`` fetches it); a file
    only its official URL serves may be absent wherever that URL is out of reach.
    """
    from cnntopo.sources.downloads import ARTIFACTS, cached

    hit = cached(name)
    if hit is None or hit.artifact.name != name:
        art = ARTIFACTS[name]
        missing_asset(f"{name} is not in the download cache (`cnntopo download ...`)",
                      required=art.registry is not None or art.package is not None)
    return hit.path


def pytest_report_header(config):
    mode = "fail" if REQUIRE_ASSETS else "skip"
    return f"cnntopo: tests with a missing asset {mode} (CNNTOPO_REQUIRE_ASSETS={int(REQUIRE_ASSETS)})"


# The longest files first: `make test` runs with `--dist loadfile` (a file's module fixtures,
# such as VGG16's readings or a Ray cluster, are computed once, on one worker), and starting
# the long files first keeps the workers' loads even.
_LONGEST_FIRST = ("test_paper_claims", "test_cluster", "test_significance", "test_device_check",
                  "test_demo_ring", "test_experiments", "test_watch_example")


@pytest.fixture(autouse=True, scope="module")
def _module_leaves_global_state_as_it_found_it(request):
    # set up before the module's own fixtures and torn down after them
    before = state_guard.snapshot()
    yield
    state_guard.check(before, f"{request.module.__name__} (its module-scoped fixtures)")


@pytest.fixture(autouse=True)
def _test_leaves_global_state_as_it_found_it(request):
    """No test leaves torch's threads, dtype or compiler config changed (state_guard.py)."""
    before = state_guard.snapshot()
    yield
    state_guard.check(before, request.node.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # notes travel with the test's report, so that they reach the end of the run from xdist
    # workers too
    report = (yield).get_result()
    report.user_properties.extend(("cnntopo-note", line) for line in RUN_NOTES)


def pytest_runtest_logreport(report):
    for key, line in getattr(report, "user_properties", ()):
        if key == "cnntopo-note" and line not in RUN_NOTES:
            RUN_NOTES.append(line)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if RUN_NOTES:
        terminalreporter.section("cnntopo: what the tests ran on")
        for line in dict.fromkeys(RUN_NOTES):
            terminalreporter.write_line(line)
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        terminalreporter.write_line("cnntopo: no test was skipped")
        return
    reasons = {}
    for rep in skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reasons[reason.removeprefix("Skipped: ")] = reasons.get(reason.removeprefix("Skipped: "), 0) + 1
    terminalreporter.section("cnntopo: why tests were skipped")
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{n:4d}  {reason}")


# ------------------------------------------------------------------ clouds of known shape

def noisy_circle(n, noise, seed, dim=2):
    """(X, t): the unit circle in the first two axes of R^dim at angles t, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.zeros((n, dim))
    X[:, 0], X[:, 1] = np.cos(t), np.sin(t)
    return X + noise * rng.normal(size=X.shape), t


def circle(rng, n, axes=(0, 1), dim=3):
    """n points of the unit circle in two axes of R^dim, drawn from `rng`."""
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.zeros((n, dim))
    x[:, axes[0]], x[:, axes[1]] = np.cos(t), np.sin(t)
    return x


def primary_circle_filters(n, seed=0, noise=0.05):
    """3x3 edge filters at every angle (the primary circle of the DCT basis), flattened, with a
    little noise."""
    from cnntopo.topology.klein import dct_basis

    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    e = dct_basis()[:2]
    x = np.cos(t)[:, None] * e[0] + np.sin(t)[:, None] * e[1]
    return x + noise * rng.normal(size=x.shape)
