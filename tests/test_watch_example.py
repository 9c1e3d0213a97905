"""The example a user copies (examples/watch_fashion_mnist.py) at tiny scale, and the
commands that read its run directory: describe, grid, report, train --resume."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from cnntopo.cli import main
from cnntopo.sources.rundir import read_manifest
from cnntopo.training.data import FASHION_MNIST_DIR
from cnntopo.verdict.layers import describe_source

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watch_fashion_mnist.py"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("watch_fashion_mnist", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("example")
    threads = torch.get_num_threads()
    try:  # one thread: a tiny model only loses to the second one's synchronisation
        assert module.main(["--tiny", "--quiet", "--threads", "1", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def test_the_example_trains_with_the_watcher_and_draws_the_grid_and_the_report(example_run):
    run = example_run / "run"
    manifest = read_manifest(run)
    assert [e["iteration"] for e in manifest["checkpoints"]] == [0, 2, 4, 6]
    fashion = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
    assert manifest["config"]["meta"]["data"] == ("Fashion-MNIST" if fashion else "MNIST")
    layers = [(e["name"], tuple(e["shape"][-2:])) for e in manifest["config"]["layers"]]
    # the 7x7 stem and the eight 3x3 convs of the blocks; the 1x1 shortcut has no spatial filter
    assert layers[0] == ("stem.weight", (7, 7)) and len(layers) == 9
    assert all(shape == (3, 3) for _, shape in layers[1:])
    rows = describe_source(run, layers=[2], iterations=["6"], n_landmarks="auto", n_resamples=3,
                           progress=False)
    assert rows[0]["layer_name"] == "stage1.0.conv1" and rows[0]["n_filters"] == 16
    grid = json.loads((run / "grid.json").read_text())
    assert grid["iterations"] == [0, 4, 6] and grid["layers"] == [1, 7, 8]
    assert (run / "grid.png").stat().st_size > 10_000
    page = (run / "index.html").read_text()
    assert "Readings over training" in page and 'src="readings.png"' in page
    assert 'src="grid.png"' in page and (run / "readings.png").stat().st_size > 10_000
    assert list((example_run / "tensorboard").glob("events.out.tfevents.*"))


def test_grid_and_report_commands_read_the_run(example_run, tmp_path, capsys):
    run = example_run / "run"
    png = tmp_path / "g.png"
    assert main(["grid", str(run), "--layer", "3", "--iteration", "2,6", "--mapper", "4,2",
                 "--thumbnails", "2", "--quiet", "-o", str(png)]) == 0
    out = capsys.readouterr().out
    assert "layer 3 stage1.0.conv2" in out and png.stat().st_size > 5_000
    cells = json.loads(png.with_suffix(".json").read_text())["cells"]
    assert [[c["iteration"] for c in row] for row in cells] == [[2, 6]]
    assert cells[0][0]["n_kept"] == 16 and cells[0][0]["nodes"] >= 1
    # each cell's nerve comes with its confidence over 100 resamples (the default)
    for c in cells[0]:
        assert c["n_bootstrap"] == 100 and len(c["nerve_betti_confidence"]) == 2
        assert all(0 <= x <= 1 for x in c["nerve_betti_confidence"] + [c["nerve_stability"]])
    assert " ".join(f"{x:.2f}" for x in cells[0][1]["nerve_betti_confidence"]) in out
    assert main(["grid", str(run), "--layer", "3", "--iteration", "6", "--mapper", "4,2,0",
                 "--jobs", "0", "--quiet", "-o", str(tmp_path / "h.png")]) == 2
    assert capsys.readouterr().err.strip() == \
        "cnntopo grid: error: --jobs takes an int >= 1, or -1 for every core; got 0"
    assert not (tmp_path / "h.png").exists()
    assert main(["report", str(run), "--quiet"]) == 0
    assert "readings.png" in capsys.readouterr().out


def test_commands_refuse_what_is_not_theirs_in_one_line(example_run, tmp_path, capsys):
    assert main(["grid", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a run directory" in err
    assert main(["train", "--resume", str(example_run / "run")]) == 2
    assert "written by a cnntopo.Watcher" in capsys.readouterr().err
    assert main(["grid", str(example_run / "run"), "--iteration", "5", "--quiet"]) == 2
    assert "--iteration 5 is not a checkpoint" in capsys.readouterr().err
