"""Several experiments at once: shared trainings found and trained once, the same results in
serial and as Ray tasks on a local 2-CPU cluster, and a killed training worker resumed.

The Ray tests (marked slow) need the ``ray`` extra; everything else runs without Ray.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_module

from cnntopo.cli import main
from cnntopo.experiments import list_experiments, load_config
from cnntopo.experiments.plan import make_plan, prefix_key, training_key

# ------------------------------------------------------------------ plans (no Ray)


def _keys(plan):
    return {t.experiments: t.key for t in plan.trainings}


def test_smoke_plan_shares_the_figure_9_and_12_training(tmp_path):
    names = ["fig9", "fig12", "cifar-color-rgb", "cifar-color-layer2-all", "fig2",
             "mnist-layer2-all", "patches", "fig14"]
    plan = make_plan(names, "smoke", tmp_path)
    # at smoke scale fig9, fig12 and cifar-color-rgb train C(8, 4, 16); the others differ
    assert sorted(_keys(plan)) == sorted([("fig9", "fig12", "cifar-color-rgb"),
                                          ("cifar-color-layer2-all",), ("fig2",),
                                          ("mnist-layer2-all",)])
    jobs = {j.name: j for j in plan.jobs}
    shared = plan.trainings[0]
    assert shared.experiments == ("fig9", "fig12", "cifar-color-rgb")
    assert shared.run_dir == tmp_path.absolute() / f"train-{shared.key}"
    assert {jobs[n].run_dir for n in shared.experiments} == {shared.run_dir}
    assert jobs["fig9"].out_dir == tmp_path.absolute() / "fig9"
    assert jobs["patches"].training is None and jobs["patches"].run_dir is None
    assert jobs["fig14"].training is None
    assert [j.name for j in plan.jobs] == names


def test_paper_plan_shares_what_the_paper_shares(tmp_path):
    plan = make_plan("all", "paper", tmp_path)
    assert [j.name for j in plan.jobs] == [n for n, _ in list_experiments()]
    groups = set(_keys(plan))
    # identical trainings, and shorter ones that are the start of a longer one (Figures 7
    # and 8 of Figure 5's 70,000 iterations, Figure 13 of Figure 9's 100,000)
    assert ("fig9", "fig12", "fig13", "cifar-color-layer2-all", "cifar-color-rgb") in groups
    assert ("fig5", "fig7", "fig8") in groups
    assert ("fig2", "mnist-layer2-all") in groups
    n_train = sum(load_config(n, "paper")["source"]["kind"] == "train"
                  for n, _ in list_experiments())
    assert sum(len(g) for g in groups) == n_train
    assert len(groups) == n_train - 7  # 7 experiments read another's training
    fig5 = next(t for t in plan.trainings if t.experiments[0] == "fig5")
    assert fig5.source["iterations"] == 70_000
    assert fig5.source["checkpoints"] == [100, 200, 300, 400, 500, 1000, 2000, 50_000, 70_000]
    assert fig5.key == training_key(fig5.source)


def test_prefix_key_ignores_only_the_length():
    src = load_config("fig5", "smoke")["source"]
    key = prefix_key(src)
    assert prefix_key({**src, "iterations": 50, "checkpoints": [7, 50]}) == key
    for change in ({"seed": 1}, {"nets": 3}, {"batch_size": 64}, {"widths": [8, 4, 17]}):
        assert prefix_key({**src, **change}) != key, change
    with pytest.raises(ValueError, match=r"'source' parameter of prefix_key must be"):
        prefix_key(load_config("patches", "smoke")["source"])


def test_training_key_is_the_weights_settings():
    src = load_config("fig2", "smoke")["source"]
    key = training_key(src)
    assert len(key) == 12 and int(key, 16) >= 0
    assert training_key({**src, "device": "cuda"}) == key          # where it trains: same
    assert training_key({**src, "lr": 1e-3}) == key                # M's default rate: same
    for change in ({"seed": 1}, {"nets": 3}, {"lr": 1e-2}, {"checkpoints": [5, 20]},
                   {"widths": [8, 4, 17]}, {"batch_size": 64}):
        assert training_key({**src, **change}) != key, change
    with pytest.raises(ValueError, match=r"'source' parameter of training_key must be"):
        training_key(load_config("patches", "smoke")["source"])


def test_device_override_and_plan_errors(tmp_path):
    plan = make_plan(["fig2", "patches"], "smoke", tmp_path, device="cuda")
    (t,) = plan.trainings
    assert t.device == "cuda" and plan.jobs[0].config["source"]["device"] == "cuda"
    assert t.key == make_plan(["fig2"], "smoke", tmp_path).trainings[0].key
    with pytest.raises(ValueError, match=r"two experiments are named 'fig2'"):
        make_plan(["fig2", "fig2"], "smoke", tmp_path)
    with pytest.raises(ValueError, match=r"'experiments' parameter of make_plan"):
        make_plan([], "smoke", tmp_path)
    with pytest.raises(ValueError, match=r"no experiment named 'fig99'"):
        make_plan(["fig2", "fig99"], "smoke", tmp_path)


def test_cli_checks_every_input_before_any_work(tmp_path, capsys):
    out = tmp_path / "root"
    assert main(["reproduce", "fig2", "fig9", "--scale", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "experiment 'fig9' trains on CIFAR-10" in err and "--data-dir" in err
    assert not out.exists()  # fig2 (MNIST, listed first) did not start


def test_cli_all_and_figures_exclude_each_other(capsys):
    assert main(["reproduce", "fig2", "--all", "--scale", "smoke"]) == 2
    assert "FIG...) or --all, not both" in capsys.readouterr().err


def test_cli_ray_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "root"
    assert main(["reproduce", "patches", "--ray", "local", "--scale", "smoke",
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cnntopo reproduce: error: --ray needs Ray: pip install 'cnntopo[ray]'"]
    assert not out.exists()


# ------------------------------------------------------------------ serial against Ray

_SOURCE = {"kind": "train", "arch": "M", "widths": [4, 8, 16], "nets": 2, "iterations": 6,
           "checkpoints": [3, 6], "batch_size": 32, "seed": 3}
_CONFIGS = {  # a and b read the same training (b spells out M's default rate); c trains none
    "a": {"source": _SOURCE, "analyses": [{"tag": "l1", "layer": 1, "mapper": {
        "resolution": 3, "gain": 2, "n_bootstrap": 5}, "barcodes": {"landmarks": 5}}]},
    "b": {"source": {**_SOURCE, "lr": 0.001}, "analyses": [{
        "tag": "l2", "layer": 2, "iteration": 3, "k": 3, "p": 0.5,
        "mapper": {"resolution": 3, "gain": 2, "n_bootstrap": 5}}]},
    "c": {"source": {"kind": "patches", "n_patches": 1000}, "analyses": [{
        "tag": "p", "k": 5, "p": 0.5, "mapper": {"resolution": 4, "n_bootstrap": 5},
        "barcodes": {"landmarks": 20}}]},
}


def _write_configs(folder, configs):
    paths = []
    for name, c in configs.items():
        paths.append(str(folder / f"{name}.json"))
        Path(paths[-1]).write_text(json.dumps({"name": name, "title": name, "paper": "-", **c}))
    return paths


def _prefix_configs():
    long = {**_SOURCE, "iterations": 8, "checkpoints": [4, 8]}
    short = {**_SOURCE, "iterations": 6, "checkpoints": [3, 6]}
    analyses = _CONFIGS["a"]["analyses"]
    return {"long": {"source": long, "analyses": analyses},
            "short": {"source": short, "analyses": analyses}}


def test_a_shorter_training_reads_the_longer_run_and_gets_what_it_would_alone(tmp_path):
    import torch

    paths = _write_configs(tmp_path, _prefix_configs())
    both, alone = tmp_path / "both", tmp_path / "alone"
    assert main(["reproduce", *paths, "--scale", "paper", "--out", str(both), "--quiet"]) == 0
    assert main(["reproduce", paths[1], "--scale", "paper", "--out", str(alone),
                 "--quiet"]) == 0
    (shared,) = [p for p in both.iterdir() if p.name.startswith("train-")]
    own = alone / "run"  # one experiment alone: its own run, inside its folder
    manifest = json.loads((shared / "manifest.json").read_text())
    assert manifest["config"]["iterations"] == 8  # trained once, as long as the longest
    assert [c["iteration"] for c in manifest["checkpoints"]] == [3, 4, 6, 8]
    for it in (3, 6):  # the shorter run's weights, bit for bit
        name = f"checkpoints/iter_{it:07d}.pt"
        got = torch.load(shared / name, weights_only=True)["model"]
        want = torch.load(own / name, weights_only=True)["model"]
        for k in want:
            assert torch.equal(got[k], want[k]), (it, k)
    # the short experiment reads its own last checkpoint and reports its own accuracies
    short = json.loads((both / "short" / "summary.json").read_text())
    assert short["source"]["run_dir"] == str(shared.absolute())
    assert short["analyses"][0]["iteration"] == 6
    assert [a["iteration"] for a in short["source"]["test_accuracy"]] == [3, 6]
    short_alone = json.loads((alone / "summary.json").read_text())
    assert (short["source"].pop("trained_now"), short_alone["source"].pop("trained_now")) == (
        False, True)  # the plan trains before the experiments; alone, the experiment trains
    assert _comparable(short) == _comparable(short_alone)
    long = json.loads((both / "long" / "summary.json").read_text())
    assert long["analyses"][0]["iteration"] == 8
    assert [a["iteration"] for a in long["source"]["test_accuracy"]] == [4, 8]


def test_a_shorter_experiment_finishes_an_interrupted_longer_run(tmp_path):
    from cnntopo.experiments.plan import train_source
    from cnntopo.experiments.runner import run_experiment

    paths = _write_configs(tmp_path, _prefix_configs())
    plan = make_plan(paths, "paper", tmp_path / "root")
    (t,) = plan.trainings

    def stop(it, model):
        if it == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed after checkpoints 3 and 4
        train_source(t, progress=False, callback=stop)
    short = next(j for j in plan.jobs if j.name == "short")
    summary = run_experiment(short.config, short.out_dir, run_dir=t.run_dir, progress=False)
    # it resumed the shared run (as long as the longest) rather than refusing or restarting
    manifest = json.loads((t.run_dir / "manifest.json").read_text())
    assert manifest["completed"] and manifest["config"]["iterations"] == 8
    assert [c["iteration"] for c in manifest["checkpoints"]] == [3, 4, 6, 8]
    assert summary["source"]["trained_now"] and summary["analyses"][0]["iteration"] == 6
    assert [a["iteration"] for a in summary["source"]["test_accuracy"]] == [3, 6]


def test_a_run_that_lacks_a_checkpoint_is_refused(tmp_path):
    from cnntopo.experiments import validate_config
    from cnntopo.experiments.runner import run_experiment

    paths = _write_configs(tmp_path, {"short": _prefix_configs()["short"]})
    assert main(["reproduce", *paths, "--scale", "paper", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    run = tmp_path / "r" / "run"  # trained 6 iterations, checkpoints 3 and 6
    for change, words in (({"iterations": 5, "checkpoints": [5]}, "checkpoints"),
                          ({"iterations": 9, "checkpoints": [3, 9]}, "checkpoints, iterations"),
                          ({"seed": 4}, "seed")):
        config = validate_config({"name": "x", "title": "x", "paper": "-",
                                  "source": {**_SOURCE, **change},
                                  "analyses": _CONFIGS["a"]["analyses"]})
        with pytest.raises(ValueError, match=rf"holds a run with other settings \(differs in "
                                             rf"{words}\)"):
            run_experiment(config, tmp_path / "x", run_dir=run, progress=False)


class KillOnce:
    """Training callback: SIGKILL its own worker after the first checkpoint, on the first
    attempt only (a marker file remembers), and log each attempt's first iteration."""

    def __init__(self, folder, at):
        self.folder, self.at, self.first = Path(folder), at, None

    def __call__(self, iteration, model):
        if self.first is None:
            self.first = iteration
            with open(self.folder / "attempts.txt", "a") as fh:
                fh.write(f"{os.getpid()} {iteration}\n")
        marker = self.folder / "killed"
        if iteration == self.at and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same three experiments run serially (CLI) and as Ray tasks (2 CPUs)."""
    ray = need_module("ray")
    import torch

    from cnntopo.experiments.cluster import run_plan

    tmp = tmp_path_factory.mktemp("cluster")
    paths = []
    for name, c in _CONFIGS.items():
        paths.append(str(tmp / f"{name}.json"))
        Path(paths[-1]).write_text(json.dumps({"name": name, "title": name, "paper": "-", **c}))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the Ray tasks train with min(2, a node's 2 CPUs) threads too
    try:
        assert main(["reproduce", *paths, "--scale", "paper", "--out", str(tmp / "serial"),
                     "--quiet"]) == 0
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # KillOnce
        (tmp / "kill").mkdir()
        plan = make_plan(paths, "paper", tmp / "ray")
        result = run_plan(plan, train_callback=KillOnce(tmp / "kill", at=3))
        yield tmp, plan, result
    finally:
        torch.set_num_threads(threads)
        ray.shutdown()


def _comparable(summary):
    s = json.loads(json.dumps(summary))
    s.pop("seconds")
    s["source"].pop("run_dir")
    for a in s["analyses"]:
        a.pop("seconds")
    return s


@pytest.mark.slow
def test_ray_results_equal_the_serial_run(runs):
    tmp, plan, result = runs
    assert result["errors"] == {}
    (t,) = plan.trainings
    assert t.experiments == ("a", "b")
    assert sorted(p.name for p in (tmp / "serial").iterdir()) == ["a", "b", "c", f"train-{t.key}"]
    for name in "abc":
        serial = json.loads((tmp / "serial" / name / "summary.json").read_text())
        ray_run = json.loads((tmp / "ray" / name / "summary.json").read_text())
        assert _comparable(ray_run) == _comparable(serial)
        assert _comparable(result["summaries"][name]) == _comparable(serial)
        files = sorted(p.name for p in (tmp / "serial" / name).glob("*_*.*"))
        assert files == sorted(p.name for p in (tmp / "ray" / name).glob("*_*.*"))
        for f in files:
            if f.endswith(".npy"):
                np.testing.assert_array_equal(np.load(tmp / "ray" / name / f),
                                              np.load(tmp / "serial" / name / f))
            elif f.endswith(".json"):
                assert json.loads((tmp / "ray" / name / f).read_text()) == \
                    json.loads((tmp / "serial" / name / f).read_text())
    # both read the one shared run, trained once
    for where in ("serial", "ray"):
        manifest = json.loads((tmp / where / f"train-{t.key}" / "manifest.json").read_text())
        assert [c["iteration"] for c in manifest["checkpoints"]] == [3, 6]
        run_dirs = {json.loads((tmp / where / n / "summary.json").read_text())["source"]
                    ["run_dir"] for n in "ab"}
        assert run_dirs == {str(tmp.absolute() / where / f"train-{t.key}")}


@pytest.mark.slow
def test_killed_training_worker_resumes_from_its_checkpoint(runs):
    import torch

    tmp, plan, result = runs
    (t,) = plan.trainings
    attempts = [line.split() for line in (tmp / "kill" / "attempts.txt").read_text().splitlines()]
    assert (tmp / "kill" / "killed").exists()
    assert [int(it) for _, it in attempts] == [1, 4]  # 2nd attempt: iteration 4, after 3
    assert attempts[0][0] != attempts[1][0]          # in a new worker process
    assert result["trainings"][t.key]["started_at"] == 3
    manifest = json.loads((t.run_dir / "manifest.json").read_text())
    assert [c["iteration"] for c in manifest["checkpoints"]] == [3, 6]
    assert manifest["completed"] is True
    for it in (3, 6):  # the weights of an uninterrupted (serial) run, bit for bit
        name = f"checkpoints/iter_{it:07d}.pt"
        got = torch.load(t.run_dir / name, weights_only=True)["model"]
        want = torch.load(tmp / "serial" / f"train-{t.key}" / name, weights_only=True)["model"]
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), (it, k)


@pytest.mark.slow
def test_cli_ray_runs_on_the_connected_cluster_and_reports_failures(runs, capsys):
    tmp, plan, _ = runs  # Ray is initialised: --ray uses that instance
    bad = tmp / "d.json"  # reads the serial run's networks, asks for a network it lacks
    bad.write_text(json.dumps({
        "name": "d", "title": "d", "paper": "-",
        "source": {"kind": "run", "path": str(tmp / "serial" / f"train-{plan.trainings[0].key}")},
        "analyses": [{"tag": "n5", "layer": 1, "network": 5, "mapper": {"resolution": 2, "n_bootstrap": 0}}]}))
    out = tmp / "cli-ray"
    assert main(["reproduce", str(bad), str(tmp / "c.json"), "--ray", "auto", "--scale",
                 "paper", "--out", str(out), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert f"c: report {out / 'c' / 'index.html'}" in captured.out
    assert ("d: FAILED: InputError: analysis 'n5': network 5 does not exist: layer 1 holds "
            "2 networks (0 to 1).") in captured.err.splitlines()
    assert captured.err.splitlines()[-1] == "cnntopo reproduce: failed (see above): d"
    np.testing.assert_array_equal(np.load(out / "c" / "points_p.npy"),
                                  np.load(tmp / "serial" / "c" / "points_p.npy"))
