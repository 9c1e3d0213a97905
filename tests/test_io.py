import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnntopo.files import (
    atomic_open,
    atomic_save_npy,
    atomic_write_json,
    atomic_write_text,
)


def test_failed_write_leaves_old_content_and_no_temp_files(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write('{"a": 2, "half')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_written_files_get_the_umask_mode_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_save_npy_round_trip(tmp_path):
    x = np.arange(12.0).reshape(4, 3)
    atomic_save_npy(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)


def test_import_cnntopo_is_light_and_every_export_resolves():
    code = ("import sys, cnntopo; assert 'torch' not in sys.modules, 'torch imported eagerly'; "
            "[getattr(cnntopo, n) for n in cnntopo.__all__]; print(len(cnntopo.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 30
