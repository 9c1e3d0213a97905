"""The run-directory format that :func:`cnntopo.training.loop.train` writes, and its one strict reader.

A run directory::

    RUN_DIR/manifest.json                 {"format": "cnntopo-run/1", "config": {...},
                                           "checkpoints": [{"iteration": 100,
                                             "file": "checkpoints/iter_0000100.pt", ...}, ...],
                                           "completed": bool, ...}
    RUN_DIR/checkpoints/iter_0000100.pt   one file per checkpoint
    RUN_DIR/resume.pt                     the training state, for an exact resume

A run that :class:`cnntopo.training.watch.Watcher` writes has the same layout without
``resume.pt``: its config says ``"kind": "watch"``, its checkpoint files hold the conv weights
only (format :data:`SNAPSHOT_FORMAT`), and each entry also carries the light readings taken at
the snapshot.

The manifest is written atomically after each checkpoint, so it never lists a file that is
not there yet. Training, ``cnntopo filters`` and the experiment runner all read it through
:func:`read_manifest`, which refuses anything it does not fully understand (a half-written
or hand-edited manifest, a wrong format tag, an entry without an iteration or file) with a
message naming the file and what is wrong.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path, PurePosixPath

from ..validation import InputError

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "CHECKPOINT_FORMAT", "SNAPSHOT_FORMAT",
           "WATCH_KIND", "CHECKPOINT_DIR", "checkpoint_name",
           "checkpoint_file", "manifest_path", "is_run_dir", "read_manifest", "run_checkpoints"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "cnntopo-run/1"
# what each checkpoint file holds: the ensemble, its optimiser state and its config
CHECKPOINT_FORMAT = "cnntopo-ensemble/1"
# what a watched run's checkpoint holds: {"format", "iteration", "model": the conv weights only}
SNAPSHOT_FORMAT = "cnntopo-snapshot/1"
# config["kind"] of a run directory a Watcher writes (a `cnntopo train` config has no "kind")
WATCH_KIND = "watch"
CHECKPOINT_DIR = "checkpoints"


def checkpoint_name(iteration):
    """``iter_0000100.pt``: the file name of the checkpoint at `iteration`."""
    return f"iter_{int(iteration):07d}.pt"


def checkpoint_file(iteration):
    """``checkpoints/iter_0000100.pt``: the checkpoint's path relative to the run directory."""
    return f"{CHECKPOINT_DIR}/{checkpoint_name(iteration)}"


def manifest_path(run_dir):
    """``RUN_DIR/manifest.json``."""
    return Path(run_dir) / MANIFEST_NAME


def is_run_dir(path):
    """True when `path` is a folder holding a ``manifest.json`` (valid or not)."""
    return manifest_path(path).is_file()


def _bad(path, what):
    return ValueError(f"Manifest {path} is not a valid {MANIFEST_FORMAT!r} run manifest: {what}.")


def _check_entry(path, i, entry):
    where = f"checkpoints[{i}]"
    if not isinstance(entry, dict):
        raise _bad(path, f"{where} must be an object; got {type(entry).__name__}")
    it = entry.get("iteration")
    if isinstance(it, bool) or not isinstance(it, numbers.Integral) or it < 0:
        raise _bad(path, f"{where}.iteration must be an int >= 0; got {it!r}")
    rel = entry.get("file")
    if not isinstance(rel, str) or not rel:
        raise _bad(path, f"{where}.file must be a path relative to the run directory; "
                         f"got {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise _bad(path, f"{where}.file must stay inside the run directory; got {rel!r}")


def read_manifest(run_dir):
    """Read and check ``run_dir/manifest.json``.

    Parameters
    ----------
    run_dir : path-like

    Returns
    -------
    dict
        The manifest as written by :func:`cnntopo.training.loop.train`: ``format`` is
        :data:`MANIFEST_FORMAT`, ``config`` a dict, ``checkpoints`` a list of dicts each with
        an int ``iteration`` (distinct) and a relative ``file``.

    Raises
    ------
    FileNotFoundError
        If there is no manifest.
    ValueError
        If the manifest is not valid JSON (half-written, truncated, edited), is not a
        ``cnntopo-run/1`` manifest, or an entry is malformed; the message names the file and
        the first problem found.
    """
    path = manifest_path(run_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} holds no training run "
                                "(train one with `cnntopo train`).")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InputError(f"Manifest {path} is corrupt or half-written (not valid JSON: "
                         f"{exc}).") from None
    if not isinstance(manifest, dict):
        raise _bad(path, f"the top level must be an object; got {type(manifest).__name__}")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise _bad(path, f"its format is {manifest.get('format')!r}")
    if not isinstance(manifest.get("config"), dict):
        raise _bad(path, "it has no 'config' object")
    entries = manifest.get("checkpoints")
    if not isinstance(entries, list):
        raise _bad(path, f"'checkpoints' must be a list; got {entries!r}")
    seen = set()
    for i, entry in enumerate(entries):
        _check_entry(path, i, entry)
        if entry["iteration"] in seen:
            raise _bad(path, f"iteration {entry['iteration']} is listed twice")
        seen.add(entry["iteration"])
    return manifest


def run_checkpoints(run_dir, manifest=None):
    """The checkpoints a run directory lists, sorted by iteration.

    Parameters
    ----------
    run_dir : path-like
    manifest : dict or None
        Already read with :func:`read_manifest`; None reads it.

    Returns
    -------
    dict of int to pathlib.Path
        ``{iteration: RUN_DIR/checkpoints/iter_....pt}``; the files are not opened.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir) if manifest is None else manifest
    found = {int(e["iteration"]): run_dir / e["file"] for e in manifest["checkpoints"]}
    return dict(sorted(found.items()))
