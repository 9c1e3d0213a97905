"""The run-directory format: one strict manifest reader for training, filters and the runner."""

from __future__ import annotations

import json
import re

import pytest
import torch

from cnntopo.experiments.runner import check_inputs, run_complete
from cnntopo.sources import rundir
from cnntopo.sources.filters import filters_from_source, load_state_dict
from cnntopo.training.loop import TrainConfig, load_run_config, train

_GOOD = {"format": "cnntopo-run/1", "config": {"arch": "M"},
         "checkpoints": [{"iteration": 10, "file": "checkpoints/iter_0000010.pt"},
                         {"iteration": 20, "file": "checkpoints/iter_0000020.pt"}],
         "completed": True}


def test_names():
    assert rundir.checkpoint_name(100) == "iter_0000100.pt"
    assert rundir.checkpoint_file(7) == "checkpoints/iter_0000007.pt"
    assert rundir.manifest_path("r").as_posix() == "r/manifest.json"


def test_a_good_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(_GOOD))
    assert rundir.read_manifest(tmp_path) == _GOOD
    # listed out of order: sorted by iteration; the files themselves are not opened
    m = dict(_GOOD, checkpoints=_GOOD["checkpoints"][::-1])
    assert rundir.run_checkpoints(tmp_path, m) == {
        10: tmp_path / "checkpoints" / "iter_0000010.pt",
        20: tmp_path / "checkpoints" / "iter_0000020.pt"}


def _with(**changes):
    m = json.loads(json.dumps(_GOOD))
    for key, value in changes.items():
        if key.startswith("entry_"):
            m["checkpoints"][0][key[6:]] = value
        else:
            m[key] = value
    return json.dumps(m)


# (manifest text, what the message must say)
BAD = {
    "half-written": (json.dumps(_GOOD)[:40], r"is corrupt or half-written \(not valid JSON"),
    "empty": ("", r"is corrupt or half-written"),
    "not utf-8": ("\udcff", r"is corrupt or half-written"),
    "a list": ("[]", r"the top level must be an object; got list"),
    "no format": (_with(format=None), r"its format is None"),
    "other format": (_with(format="cnntopo-run/2"), r"its format is 'cnntopo-run/2'"),
    "no config": (_with(config=None), r"it has no 'config' object"),
    "checkpoints not a list": (_with(checkpoints={"10": "x"}), r"'checkpoints' must be a list"),
    "entry a string": (_with(checkpoints=["checkpoints/iter_0000010.pt"]),
                       r"checkpoints\[0\] must be an object; got str"),
    "no iteration": (_with(entry_iteration=None), r"checkpoints\[0\]\.iteration must be an int"),
    "bool iteration": (_with(entry_iteration=True), r"iteration must be an int >= 0; got True"),
    "negative iteration": (_with(entry_iteration=-1), r"iteration must be an int >= 0; got -1"),
    "no file": (_with(entry_file=None), r"checkpoints\[0\]\.file must be a path relative"),
    "absolute file": (_with(entry_file="/etc/passwd"), r"must stay inside the run directory"),
    "escaping file": (_with(entry_file="../x.pt"), r"must stay inside the run directory"),
    "duplicate": (_with(entry_iteration=20), r"iteration 20 is listed twice"),
}


def _write_bad(tmp_path, text):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    path = run / "manifest.json"
    if text == "\udcff":
        path.write_bytes(b'{"format": "\xff"}')
    else:
        path.write_text(text)
    return run, re.escape(str(path))


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_reader_refuses_a_bad_manifest_by_name(tmp_path, case, monkeypatch):
    text, message = BAD[case]
    run, name = _write_bad(tmp_path, text)
    expected = rf"Manifest {name} .*{message}"
    with pytest.raises(ValueError, match=expected):
        rundir.read_manifest(run)
    # cnntopo filters
    with pytest.raises(ValueError, match=expected):
        load_state_dict(run)
    with pytest.raises(ValueError, match=expected):
        filters_from_source(run, 1)
    # cnntopo train --resume
    with pytest.raises(ValueError, match=expected):
        load_run_config(run)
    cfg = TrainConfig(arch="M", widths=(4, 0, 8), n_nets=1, iterations=4, checkpoints=[4])
    with pytest.raises(ValueError, match=expected):
        train(cfg, run, resume=True, progress=False)
    # the experiment runner, for a "run" source and for its own out_dir/run
    with pytest.raises(ValueError, match=expected):
        run_complete(run, [10])
    config = {"name": "x", "title": "t", "paper": "t", "source": {"kind": "run", "path": str(run)},
              "analyses": [{"tag": "a", "layer": 1, "mapper": {"resolution": 2}}]}
    with pytest.raises(ValueError, match=expected):
        check_inputs(config, tmp_path / "out")
    config["source"] = {"kind": "train", "arch": "M", "widths": [4, 0, 8], "iterations": 4,
                        "checkpoints": [4]}
    with pytest.raises(ValueError, match=expected):
        check_inputs(config, tmp_path)  # tmp_path / "run" is the bad run


def test_no_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest.json does not exist: .* holds no "
                                                r"training run"):
        rundir.read_manifest(tmp_path)
    assert not rundir.is_run_dir(tmp_path)
    assert run_complete(tmp_path, [10]) is False


def test_run_complete_needs_every_checkpoint_file(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(_GOOD))
    (tmp_path / "checkpoints").mkdir()
    torch.save({}, tmp_path / "checkpoints" / "iter_0000010.pt")
    assert run_complete(tmp_path, [10]) is True
    assert run_complete(tmp_path, [10, 20]) is False  # listed but not on disk
    assert run_complete(tmp_path, [30]) is False  # not listed
