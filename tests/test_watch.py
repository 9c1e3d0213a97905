"""The Watcher: snapshots of a training as a run directory the readers read, resuming, bad
input, the writer's scalars, text and pictures read back from TensorBoard's event file."""

import json
import logging

import numpy as np
import pytest
import torch
from conftest import need_module, primary_circle_filters

from cnntopo import Watcher
from cnntopo.cloud.prepare import prepare_points
from cnntopo.sources.filters import filters_from_source, load_state_dict, spatial_filters
from cnntopo.sources.rundir import read_manifest, run_checkpoints
from cnntopo.topology.klein import klein_readings
from cnntopo.training.readings import describe_run, run_readings
from cnntopo.training.writers import klein_image
from cnntopo.validation import InputError
from cnntopo.verdict.layers import describe_source


class Net(torch.nn.Module):
    """A 5x5 conv, a 3x3 conv (64 filters), a 1x1 conv, a linear head."""

    def __init__(self, c2=8):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 5)
        self.conv2 = torch.nn.Conv2d(8, c2, 3)
        self.down = torch.nn.Conv2d(c2, 4, 1)
        self.fc = torch.nn.Linear(4, 2)


def circle_net(seed=0):
    """conv2 holds 64 edge filters at every angle: the primary circle."""
    torch.manual_seed(seed)
    net = Net()
    with torch.no_grad():
        net.conv2.weight.copy_(torch.from_numpy(
            primary_circle_filters(64, seed=seed, noise=0.05).reshape(8, 8, 3, 3)))
    return net


def scramble(net, seed):
    """A 'training step' that moves the weights: conv2 becomes noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))
        net.conv2.weight.copy_(torch.randn(net.conv2.weight.shape, generator=g))


def entries(run):
    return [e["iteration"] for e in read_manifest(run)["checkpoints"]]


def test_snapshots_every_n_steps_are_a_run_directory_the_readers_read(tmp_path):
    run, net = tmp_path / "run", circle_net()
    w = Watcher(run, every=3)
    steps = {}
    for s in range(0, 8):
        if s == 4:
            scramble(net, 1)
        rows = w.step(net, s)
        assert (rows is not None) == (s % 3 == 0)
        if rows is not None:
            steps[s] = net.conv2.weight.detach().clone()
    w.close()
    manifest = read_manifest(run)
    assert entries(run) == [0, 3, 6] and manifest["completed"]
    # the 1x1 conv has no spatial filter and is not watched; layers are numbered as saved
    assert [(e["layer"], e["name"], e["model_layer"]) for e in manifest["config"]["layers"]] \
        == [(1, "conv1.weight", 1), (2, "conv2.weight", 2)]
    assert list(run_checkpoints(run)) == [0, 3, 6]
    # every reader: the saved weights are the model's at that step, conv weights only
    for s, weight in steps.items():
        sd = load_state_dict(run, iteration=s)
        assert list(sd) == ["conv1.weight", "conv2.weight"]
        assert torch.equal(sd["conv2.weight"], weight)
        filters, meta, info = filters_from_source(run, 2, iteration=s)
        np.testing.assert_array_equal(filters, spatial_filters(weight))
        assert info["iteration"] == s and info["layer_name"] == "conv2"
    rows = describe_source(run, layers=[2], iterations=["0-6"], n_landmarks="auto",
                           n_resamples=3, progress=False)
    assert [r["iteration"] for r in rows] == [0, 3, 6]
    # the light readings are the Klein-bottle readings of the saved filters
    readings = {(r["iteration"], r["layer"]): r for r in run_readings(run)}
    assert sorted(readings) == [(s, lay) for s in (0, 3, 6) for lay in (1, 2)]
    for e in manifest["checkpoints"]:
        row = readings[e["iteration"], 2]
        ref = klein_readings(prepare_points(spatial_filters(steps[e["iteration"]])).points)
        assert row["n_filters"] == row["n_read"] == row["n_kept"] == 64 and row["kernel"] == "3x3"
        for key in ("primary_circle_fraction", "klein_fraction", "off_model_fraction"):
            assert row[key] == pytest.approx(getattr(ref, key), abs=1e-4)
        assert e["bytes"] == (run / e["file"]).stat().st_size > 0
    circle = [readings[s, 2]["primary_circle_fraction"] for s in (0, 3, 6)]
    assert circle[0] > 0.9 and circle[1] > 0.9 and circle[2] < 0.2   # noise after step 4
    # the 5x5 layer is saved and read; Klein readings of 3x3 filters only (for now)
    assert readings[0, 1]["n_filters"] == 8 and readings[0, 1]["kernel"] == "5x5"
    # a run without readings.jsonl (as `cnntopo train` writes) is read from its checkpoints
    (run / "readings.jsonl").unlink()
    assert run_readings(run) == sorted(readings.values(),
                                       key=lambda r: (r["iteration"], r["layer"]))


def test_a_new_watcher_continues_and_a_restart_replaces_the_later_snapshots(tmp_path, caplog):
    run, net = tmp_path / "run", circle_net()
    w = Watcher(run, every=2)
    for s in range(0, 7):
        w.step(net, s)
    del w                                            # killed: never closed
    w = Watcher(run, every=2)
    assert w.snapshots == [0, 2, 4, 6]
    wrapped = torch.nn.DataParallel(net)             # "module.conv2.weight": the same layer
    for s in (7, 8):
        w.step(wrapped, s)
    assert entries(run) == [0, 2, 4, 6, 8]
    # restarted from the checkpoint of step 4: 6 and 8 belong to the old future
    scramble(net, 2)
    w = Watcher(run, every=2)
    with caplog.at_level(logging.WARNING, logger="cnntopo"):
        w.step(net, 4)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "restarted at step 4" in lines[0] and "(steps 6, 8)" in lines[0]
    assert entries(run) == [0, 2, 4]                 # no step listed twice, 4 replaced
    assert not (run / "checkpoints" / "iter_0000006.pt").exists()
    assert torch.equal(load_state_dict(run, iteration=4)["conv2.weight"], net.conv2.weight)
    # within one Watcher: a repeated step is no new snapshot, a step back is an error
    assert w.step(net, 4) is None
    with pytest.raises(InputError, match="went backwards, from 4 to 3"):
        w.step(net, 3)
    # force: the last step of a training, whatever `every` says; once
    assert w.step(net, 5, force=True) is not None and w.step(net, 5, force=True) is None
    assert entries(run) == [0, 2, 4, 5]


def test_a_snapshot_half_written_at_a_crash_is_never_listed(tmp_path, monkeypatch):
    import cnntopo.training.watch as watch

    run, net = tmp_path / "run", circle_net()
    w = Watcher(run, every=1)
    w.step(net, 0)
    real = watch.atomic_write_json

    def crash(path, obj):
        raise OSError("the machine went down")

    monkeypatch.setattr(watch, "atomic_write_json", crash)
    with pytest.raises(OSError):
        w.step(net, 1)                               # the checkpoint file is complete ...
    monkeypatch.setattr(watch, "atomic_write_json", real)
    assert (run / "checkpoints" / "iter_0000001.pt").exists()
    assert entries(run) == [0] and list(run_checkpoints(run)) == [0]   # ... but not listed
    (run / "checkpoints" / ".iter_0000002.pt.x1y2.tmp").write_bytes(b"half a file")
    with open(run / "readings.jsonl", "a") as fh:
        fh.write('{"iteration": 2, "readi')            # a line torn by the crash
    assert [r["iteration"] for r in run_readings(run)] == [0, 0]
    w = Watcher(run, every=1)                        # the next Watcher cleans up
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["iter_0000000.pt"]
    assert [json.loads(line)["iteration"]
            for line in (run / "readings.jsonl").read_text().splitlines()] == [0]
    w.step(net, 1)
    assert entries(run) == [0, 1]
    assert [r["iteration"] for r in run_readings(run)] == [0, 0, 1, 1]


def test_bad_input_is_a_clear_error_and_loses_nothing(tmp_path):
    with pytest.raises(InputError, match="no conv layer"):
        Watcher(tmp_path / "a").step(torch.nn.Linear(3, 2), 0)
    assert not (tmp_path / "a").exists()
    with pytest.raises(InputError, match=r"layer 'nope' does not exist: the model has no conv "
                       r"layer of that name; its 3 conv layers are 1 conv1, 2 conv2, 3 down\."):
        Watcher(tmp_path / "b", layers=["conv2", "nope"]).step(Net(), 0)
    w = Watcher(tmp_path / "c", layers="conv2", every=1)
    w.step(circle_net(), 0)
    assert [e["name"] for e in read_manifest(tmp_path / "c")["config"]["layers"]] == ["conv2.weight"]
    # a layer that changes shape mid-run is named, and nothing is written
    with pytest.raises(InputError, match=r"'conv2\.weight' changed shape mid-run: \(8, 8, 3, 3\) "
                                         r"in the snapshots .* \(12, 8, 3, 3\) now"):
        w.step(Net(c2=12), 1)
    assert entries(tmp_path / "c") == [0]
    # NaN weights: that layer's row says why, the snapshot and the training go on
    net = circle_net()
    with torch.no_grad():
        net.conv2.weight[0, 0, 1, 1] = float("nan")
    rows = Watcher(tmp_path / "d", every=1).step(net, 0)
    assert (rows[1]["status"], rows[1]["reason"]) == ("skipped",
                                                      "1 of 576 weights are NaN or infinite")
    assert (rows[0]["status"], rows[0]["reason"]) == ("ok", None) and rows[0]["n_points"] == 8
    for bad, match in ((dict(every=0), "'every' parameter of Watcher must be an int >= 1"),
                       (dict(density=(0, 0.3)), "'density' parameter of Watcher"),
                       (dict(layers=[0]), "'layers' parameter"),
                       (dict(writer=object()), "'writer' parameter"),
                       (dict(meta={"x": object()}), "'meta' parameter")):
        with pytest.raises(InputError, match=match):
            Watcher(tmp_path / "e", **bad)
    # a `cnntopo train` run is not continued
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "manifest.json").write_text(json.dumps(
        {"format": "cnntopo-run/1", "config": {"arch": "M"}, "checkpoints": []}))
    with pytest.raises(InputError, match="holds a `cnntopo train` run"):
        Watcher(tmp_path / "f")


def test_the_verdict_at_close_finds_the_primary_circle_and_is_kept(tmp_path, monkeypatch):
    run, net = tmp_path / "run", circle_net()
    w = Watcher(run, every=1, layers=[2])
    w.step(net, 0)
    scramble(net, 3)
    w.step(net, 1)
    rows = w.close(significance=True, n_resamples=5, progress=False)
    assert [(r["iteration"], r["layer"]) for r in rows] == [(0, 1), (1, 1)]
    assert rows[0]["significant"][1] == 1 and rows[0]["reading"].startswith("primary circle")
    assert rows[1]["significant"][1] == 0
    # the shape over both fields comes with the verdict (issue 23)
    assert all(len(r["significant"]) == len(r["significant_z3"]) == 3 for r in rows)
    assert rows[0]["shape"] in ("primary circle", "too few points to test H2")
    assert rows[0]["shape_reading"].startswith(rows[0]["shape"])
    import cnntopo.verdict.layers as layers

    monkeypatch.setattr(layers, "analyse", None)   # kept: nothing is recomputed
    again = describe_run(run, iterations="all", n_resamples=5, progress=False)
    assert again == rows
    # the default checkpoint of describe_run is describe's: the last
    assert describe_run(run, n_resamples=5, progress=False) == rows[-1:]
    with pytest.raises(InputError, match="closed"):
        w.step(net, 2)


def test_klein_image_of_the_primary_circle_is_dark_on_its_two_lines():
    points = prepare_points(primary_circle_filters(400, seed=2, noise=0.02)).points
    r = klein_readings(points)
    img = klein_image(r.theta, r.phi, cell=4)
    assert img.shape == (36 * 4 + 2, 18 * 4 + 2, 3) and img.dtype == np.uint8
    dark = 255 - img[1:-1, 1:-1].mean(axis=(1, 2))        # per pixel row, top = phi 2 pi
    phi = (2 * np.pi) * (1 - (np.arange(len(dark)) + 0.5) / len(dark))
    near = np.minimum(np.abs(phi - np.pi), np.minimum(phi, 2 * np.pi - phi)) < 0.4
    assert dark[near].mean() > 5 * dark[~near].mean()


def test_tensorboard_gets_one_scalar_per_layer_and_reading_the_text_and_the_picture(tmp_path):
    need_module("tensorboard", "TensorBoard (the cnntopo[tensorboard] extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "tb"))
    net = circle_net()
    w = Watcher(tmp_path / "run", every=2, writer=writer, picture_every=2)
    for s in range(0, 7):
        if s == 3:
            scramble(net, 4)
        w.step(net, s)
    verdict = w.close(significance=True, n_resamples=3, progress=False)
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "images": 0,
                                                                    "tensors": 0})
    events.Reload()
    tags = events.Tags()
    klein = ("primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
             "off_model_fraction")
    # conv1 (5x5) is read area-averaged to 3x3, without a coverage; its 8 filters are too few
    # to tell H1
    assert sorted(tags["scalars"]) == sorted(
        [f"topology/conv2/{m}" for m in (*klein, "b0", "b1")]
        + [f"topology/conv1/{m}" for m in klein if m != "primary_circle_coverage"]
        + ["topology/conv1/b0"])
    # close(significance=True): b1 at every snapshot's step, as the verdict rows say
    b1 = {e.step: e.value for e in events.Scalars("topology/conv2/b1")}
    assert b1 == {r["iteration"]: r["significant"][1] for r in verdict if r["layer"] == 2}
    assert b1[0] == 1 and b1[6] == 0                 # the primary circle, then noise
    said = events.Tensors("topology/conv2/verdict/text_summary")
    assert said[0].tensor_proto.string_val[0].decode().startswith("primary circle")
    manifest = read_manifest(tmp_path / "run")
    logged = {e.step: e.value for e in events.Scalars("topology/conv2/primary_circle_fraction")}
    assert logged == pytest.approx({r["iteration"]: r["primary_circle_fraction"]
                                    for r in run_readings(tmp_path / "run") if r["layer"] == 2},
                                   abs=1e-6)
    assert [e["iteration"] for e in manifest["checkpoints"]] == sorted(logged)
    # pictures at every second snapshot (steps 0 and 4), of the 3x3 layer only
    assert tags["images"] == ["topology/conv2/klein_density"]
    assert [e.step for e in events.Images("topology/conv2/klein_density")] == [0, 4]
    text = events.Tensors("topology/conv2/reading/text_summary")
    assert [t.step for t in text] == [0, 2, 4, 6]
    assert "near the primary circle" in text[0].tensor_proto.string_val[0].decode()
    first = events.Tensors("topology/conv1/reading/text_summary")[0]
    assert ("5x5 filters area-averaged to 3x3; random 5x5 filters: "
            in first.tensor_proto.string_val[0].decode())


def test_density_filtered_readings_read_the_dense_core(tmp_path):
    net = circle_net()
    with torch.no_grad():  # 16 of the 64 filters become far-off noise
        net.conv2.weight.view(64, 9)[:16] = torch.randn(16, 9, generator=torch.Generator()
                                                        .manual_seed(5))
    rows = Watcher(tmp_path / "run", every=1, density=(5, 0.5)).step(net, 0)
    assert (rows[1]["k"], rows[1]["p"], rows[1]["n_points"], rows[1]["n_kept"]) == (5, 0.5, 64, 32)
    plain = Watcher(tmp_path / "plain", every=1).step(net, 0)[1]
    assert plain["primary_circle_fraction"] < 0.8 < rows[1]["primary_circle_fraction"]
    with pytest.raises(InputError, match=r"reads its layers with density=\(5, 0.5\)"):
        Watcher(tmp_path / "run", density=(10, 0.5))
