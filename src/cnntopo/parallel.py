"""Independent tasks on the cores a user has, or on a Ray cluster, in the order given.

The bootstrap of a Mapper graph (:func:`cnntopo.topology.mapper_stats.mapper_confidence`),
its stability neighbourhood and the rows of ``describe`` over layers and checkpoints
(:func:`cnntopo.verdict.layers.analyse_layers`) are independent pieces of work. Each task is a
function of its own arguments and seed only, so :func:`map_tasks` returns the same results,
bit for bit and in the same order, whether it runs them here, in `n_jobs` processes or as Ray
tasks.

- Processes are joblib's (loky: started once, reused by later calls, and killed when idle).
  Each worker runs one BLAS/OpenMP thread (and so one PyTorch thread), so that `n_jobs`
  workers use `n_jobs` cores, not `n_jobs` times every core. The calling process's settings
  (torch threads, NumPy state) are not touched.
- Ray (``pip install 'cnntopo[ray]'``): :func:`connect` joins a cluster, as
  ``cnntopo reproduce --ray`` does; each task asks for one CPU (Ray then runs it on one
  thread), and a large array shared by the tasks is put in the object store once.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .validation import InputError, is_int

__all__ = ["map_tasks", "check_n_jobs", "check_ray", "resolve_n_jobs", "usable_cpus", "connect",
           "RAY_MISSING", "RayMissingError", "SHARE_BYTES"]

RAY_MISSING = "--ray needs Ray: pip install 'cnntopo[ray]'"
#: Arrays of at least this size are sent once (memory-mapped to the processes, put in Ray's
#: object store) however many tasks take them.
SHARE_BYTES = 1 << 20


class RayMissingError(ImportError):
    """Ray is not installed."""


def usable_cpus():
    """The cores this process may run on (its affinity and container limits)."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def check_n_jobs(n_jobs, fn):
    """`n_jobs` checked: None (the caller's automatic choice), -1 (every core) or an int >= 1.

    Raises
    ------
    InputError
        ``The 'n_jobs' parameter of FN must be ...; got X.``
    """
    if n_jobs is None:
        return None
    if not is_int(n_jobs) or not (n_jobs >= 1 or n_jobs == -1):
        raise InputError(f"The 'n_jobs' parameter of {fn} must be an int >= 1, -1 (every core) "
                         f"or None (automatic); got {n_jobs!r}.")
    return int(n_jobs)


def resolve_n_jobs(n_jobs, n_tasks, *, auto=True):
    """The processes to use: `n_jobs` (-1: every core; None: every core when `auto`, else 1),
    at most one per task."""
    if n_jobs is None:
        n_jobs = -1 if auto else 1
    if n_jobs == -1:
        n_jobs = usable_cpus()
    return max(1, min(int(n_jobs), int(n_tasks)))


def check_ray(ray, fn):
    """`ray` checked: None (no Ray) or a Ray address (:func:`connect`)."""
    if ray is not None and (not isinstance(ray, str) or not ray):
        raise InputError(f"The 'ray' parameter of {fn} must be None or a Ray address ('auto', "
                         f"'local', HOST:PORT); got {ray!r}.")
    return ray


# ----------------------------------------------------------------------------------- Ray

def _ray():
    try:
        import ray
    except ImportError:
        raise RayMissingError(RAY_MISSING) from None
    return ray


def _send_auth_token():
    """Ray >= 2.59: `ray start --head` turns token authentication on when a token file exists
    (any earlier ray.init() writes one), but a driver that connects sends no token unless
    RAY_AUTH_MODE=token (ray-project/ray#64755). A token sent to a cluster without
    authentication does no harm. Ray reads the variable when it is imported."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN")
                                              or os.path.isfile(path)):
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(address="auto"):
    """Connect to a Ray cluster (unless this process already is); returns the ``ray`` module.

    Parameters
    ----------
    address : str
        ``"auto"``: the cluster started on this machine with ``ray start --head`` (or named
        by ``RAY_ADDRESS``); ``"local"``: start a Ray instance for this process, with this
        machine's CPUs and GPUs; anything else: a cluster address (``HOST:6379``,
        ``ray://HOST:10001``).

    Raises
    ------
    RayMissingError
        Ray is not installed.
    ConnectionError
        No cluster at `address`.
    """
    if not isinstance(address, str) or not address:
        raise InputError(f"The 'address' parameter of connect must be 'auto', 'local' or a Ray "
                         f"address; got {address!r}.")
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray
    if address != "local":
        _send_auth_token()
    ray = _ray()
    if address == "local":
        ray.init(address="local", include_dashboard=False)
        return ray
    try:
        ray.init(address=address)
    except ConnectionError as exc:
        raise ConnectionError(f"no Ray cluster at {address!r} ({str(exc).splitlines()[0]}); "
                              f"start one with `ray start --head`, or use --ray local") from None
    return ray


def _on_ray(fn, tasks, address, bar):
    ray = connect(address)
    remote = ray.remote(fn).options(num_cpus=1, max_retries=3, retry_exceptions=False)
    refs = {}

    def shared(arg):  # one copy of a big array in the object store, however many tasks
        if isinstance(arg, np.ndarray) and arg.nbytes >= SHARE_BYTES:
            if id(arg) not in refs:
                refs[id(arg)] = (ray.put(arg), arg)
            return refs[id(arg)][0]
        return arg

    pending = [remote.remote(*[shared(a) for a in task]) for task in tasks]
    order = {ref: i for i, ref in enumerate(pending)}
    out, waiting = [None] * len(pending), list(pending)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        for ref in done:
            try:
                out[order[ref]] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the task's own exception, as here
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, BaseException) else exc) from None
            if bar is not None:
                bar.update()
    return out


# ----------------------------------------------------------------------------- processes

def _in_processes(fn, tasks, n_jobs, bar):
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        results = Parallel(n_jobs=n_jobs, return_as="generator", max_nbytes=SHARE_BYTES,
                           mmap_mode="r")(delayed(fn)(*task) for task in tasks)
        out = []
        for r in results:
            out.append(r)
            if bar is not None:
                bar.update()
    return out


def map_tasks(fn, tasks, *, n_jobs=1, ray=None, bar=None):
    """``[fn(*task) for task in tasks]``: here, in `n_jobs` processes, or as Ray tasks.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled by name); it must not depend on the process it
        runs in (global state, threads), so that every way of running it gives its result.
    tasks : list of tuple
        The arguments of each call. Arrays of :data:`SHARE_BYTES` or more are sent once.
    n_jobs : int
        Processes (1: here, in this process); at most one per task.
    ray : str, optional
        A Ray address (:func:`connect`): run the tasks on that cluster instead.
    bar : tqdm bar, optional
        Updated once per finished task.

    Returns
    -------
    list
        The results, in the order of `tasks`. A task's exception is raised here.
    """
    tasks = [tuple(t) for t in tasks]
    if ray is not None:
        return _on_ray(fn, tasks, ray, bar)
    if n_jobs == 1 or len(tasks) <= 1:
        out = []
        for task in tasks:
            out.append(fn(*task))
            if bar is not None:
                bar.update()
        return out
    return _in_processes(fn, tasks, n_jobs, bar)
