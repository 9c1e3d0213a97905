"""Where cnntopo keeps what it fetched or computed once.

One folder for everything (:func:`cache_dir`: downloaded weights, the significance test's null
distributions) and one kind of result cache (:class:`ResultCache`): a bounded in-memory LRU
in front of JSON files written atomically. The statistics only say what to compute; keeping it
is done here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .files import atomic_write_json

__all__ = ["CACHE_ENV", "cache_dir", "ResultCache"]

CACHE_ENV = "CNNTOPO_CACHE"


def cache_dir():
    """``$CNNTOPO_CACHE`` (``~`` expanded), else ``~/.cache/cnntopo``; not created here."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnntopo"


class ResultCache:
    """Arrays that are a pure function of a JSON-able key, kept in memory and on disk.

    Parameters
    ----------
    namespace : str
        Sub-folder of the cache folder, and the first part of each file's name.
    field : str
        The JSON field holding the value in each file (``{"key": ..., field: [...]}``).
    maxsize : int
        Entries kept in memory; the least recently used goes first.
    """

    def __init__(self, namespace, field, *, prefix, maxsize=256):
        self.namespace, self.field, self.prefix, self.maxsize = namespace, field, prefix, maxsize
        self._memory = OrderedDict()

    def digest(self, key):
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]

    def _path(self, folder, digest):
        return Path(folder).expanduser() / self.namespace / f"{self.prefix}-{digest}.json"

    def get(self, key, folder=None):
        """The stored value of `key` (memory, then `folder`'s file), or None."""
        digest = self.digest(key)
        if digest in self._memory:
            self._memory.move_to_end(digest)
            return self._memory[digest]
        if folder is None:
            return None
        try:
            stored = json.loads(self._path(folder, digest).read_text())
            if stored.get("key") != key:
                return None
            value = np.asarray(stored[self.field], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # absent or unreadable: the caller recomputes (and overwrites)
        self._remember(digest, value)
        return value

    def put(self, key, value, folder=None):
        """Keep `value` in memory and, when `folder` is given, in its file (best effort)."""
        digest = self.digest(key)
        value = np.asarray(value, dtype=np.float64)
        self._remember(digest, value)
        if folder is not None:
            try:
                atomic_write_json(self._path(folder, digest),
                                  {"key": key, self.field: value.tolist()}, indent=None)
            except OSError:
                pass  # a read-only cache folder only costs the recomputation next time

    def clear(self):
        """Forget what is held in memory (files stay)."""
        self._memory.clear()

    def _remember(self, digest, value):
        self._memory[digest] = value
        self._memory.move_to_end(digest)
        while len(self._memory) > self.maxsize:
            self._memory.popitem(last=False)
