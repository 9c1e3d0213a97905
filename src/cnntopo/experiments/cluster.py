"""A plan as Ray tasks: the whole paper over the GPUs of a node or a cluster.

One task per distinct training (one GPU when it trains on CUDA), then one task per
experiment, which Ray starts when the training it reads has finished. The tasks call
``plan.train_source`` and ``plan.run_job``, exactly what ``plan.run_serial`` calls, and write
into the plan's root, which every node must see at the same path (a shared file system;
on one node, any folder).

A worker that dies (node lost, process killed, out of memory) is retried by Ray up to
`max_retries` times; a retried training resumes from its last saved state (written at every
checkpoint), not from the start. Python exceptions (bad input) are not retried.

Ray is an optional extra (``pip install 'cnntopo[ray]'``), imported only when called
(:func:`cnntopo.parallel.connect`, which the bootstrap and ``describe`` share).
"""

from __future__ import annotations

from pathlib import Path

from ..parallel import RAY_MISSING, RayMissingError, connect
from ..validation import InputError
from .plan import check_plan, run_job, train_source

__all__ = ["RAY_MISSING", "RayMissingError", "connect", "run_plan"]


def _train_task(training, data_dir, threads, callback):
    if threads:
        import torch

        torch.set_num_threads(threads)
    return train_source(training, data_dir=data_dir, progress=False, callback=callback)


def _job_task(job, data_dir, weights, trained):  # trained: the training's result, unused
    return run_job(job, data_dir=data_dir, weights=weights, progress=False)


def _cpu_threads(ray):
    """Threads of a CPU training: as many as torch uses here, at most a node's CPUs.

    PyTorch's CPU kernels round differently with another thread count; with the same count
    a task's weights equal those of a serial run on this machine bit for bit.
    """
    import torch

    node_cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return max(1, min(torch.get_num_threads(), max(node_cpus, default=1)))


def _one_line(exc):
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def run_plan(plan, *, address="auto", data_dir=None, weights=None, max_retries=3,
             train_callback=None, on_done=None, on_trained=None):
    """Run `plan` as Ray tasks; the results equal :func:`plan.run_serial`'s.

    Parameters
    ----------
    plan : Plan
    address : str
        Passed to :func:`connect` (ignored when Ray is already initialised here).
    data_dir, weights : path-like, optional
        As for `run_experiment`; made absolute. Every node must see them at that path.
    max_retries : int
        Retries of a task whose worker died; a training resumes from its last saved state.
    train_callback : callable, optional
        ``callback(iteration, model)`` after every iteration of every training, run in the
        worker (it must pickle).
    on_done : callable, optional
        ``on_done(name, summary, error)`` here, as each experiment ends (error: one line).
    on_trained : callable, optional
        ``on_trained(key, info, error)`` here, as each training ends.

    Returns
    -------
    dict
        ``{"summaries": {name: summary}, "trainings": {key: train_source's dict},
        "errors": {name or key: one line}}``; an experiment whose training failed fails.

    Raises
    ------
    FileNotFoundError
        Before any task, when an input is missing (see ``plan.check_plan``).
    ValueError
        A CUDA training on a cluster without a GPU.
    RayMissingError
        Ray is not installed.
    """
    ray = connect(address)
    data_dir = None if data_dir is None else str(Path(data_dir).absolute())
    weights = None if weights is None else str(Path(weights).absolute())
    check_plan(plan, data_dir=data_dir, weights=weights)
    if any(t.device.startswith("cuda") for t in plan.trainings):
        if ray.cluster_resources().get("GPU", 0) < 1:
            raise InputError("the trainings ask for a GPU (device 'cuda') but the Ray cluster "
                             "has none; train with --device cpu or add GPU nodes.")
        bad = sorted({t.device for t in plan.trainings if t.device.startswith("cuda:")})
        if bad:
            raise InputError(f"with Ray, train with --device cuda (Ray gives each training its "
                             f"own GPU); got {bad[0]!r}.")
    threads = _cpu_threads(ray)
    train_fn = ray.remote(_train_task)
    job_fn = ray.remote(_job_task)

    trains = {}
    for t in plan.trainings:
        gpu = t.device.startswith("cuda")
        trains[t.key] = train_fn.options(
            num_cpus=1 if gpu else threads, num_gpus=1 if gpu else 0, max_retries=max_retries,
            retry_exceptions=False, name=f"train-{t.key}",
        ).remote(t, data_dir, None if gpu else threads, train_callback)
    jobs = {job_fn.options(num_cpus=1, max_retries=max_retries, retry_exceptions=False,
                           name=job.name)
            .remote(job, data_dir, weights, trains.get(job.training)): job.name
            for job in plan.jobs}

    summaries, trainings, errors = {}, {}, {}
    what = {ref: (on_done, summaries, name) for ref, name in jobs.items()}
    what.update({ref: (on_trained, trainings, key) for key, ref in trains.items()})
    pending = list(what)
    while pending:  # report each task as it ends
        (ref,), pending = ray.wait(pending, num_returns=1)
        report, results, name = what[ref]
        error = None
        try:
            results[name] = ray.get(ref)
        except ray.exceptions.RayError as exc:
            error = _one_line(exc)
            errors[name if results is summaries else f"train-{name}"] = error
        if report is not None:
            report(name, results.get(name), error)
    order = [job.name for job in plan.jobs]
    return {"summaries": {n: summaries[n] for n in order if n in summaries},
            "trainings": trainings, "errors": errors}
