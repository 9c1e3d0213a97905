"""scripts/device-check.sh end to end on the CPU at toy size (--tiny), and its bookkeeping."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import device_check  # noqa: E402

import cnntopo.training.loop as train_mod  # noqa: E402
from cnntopo.experiments.runner import list_experiments  # noqa: E402
from cnntopo.sources.filters import load_state_dict  # noqa: E402


def test_flops_of_m64_32_64_by_hand():
    # MACs per image: conv1 28*28*64*1*9 = 451,584; conv2 14*14*32*64*9 = 3,612,672;
    # fc 1568*64 = 100,352; readout 64*10 = 640. Forward 2x, weight gradients 2x, input
    # gradients 2x except conv1: 6 * 4,165,248 - 2 * 451,584 = 24,088,320 per image.
    assert device_check.flops_per_network_iteration("M", (64, 32, 64)) == 128 * 24_088_320
    # C(64,32,64) colour on 24x24: conv1 24*24*64*27, pool to 12, conv2 12*12*32*64*9,
    # pool 2x2/1 keeps 12, fc 4608*64, readout 640
    macs = [24 * 24 * 64 * 27, 12 * 12 * 32 * 64 * 9, 4608 * 64, 640]
    assert device_check.flops_per_network_iteration(
        "C", (64, 32, 64), in_channels=3, image_size=24, batch=1) == 6 * sum(macs) - 2 * macs[0]


def test_no_budget_skips_every_section_and_still_reports(tmp_path):
    assert device_check.main(["--tiny", "--budget-s", "0.5", "--out", str(tmp_path),
                              "--work-dir", str(tmp_path / "work")]) == 0
    rep = json.loads((tmp_path / "device-check.json").read_text())
    assert {s["status"] for s in rep["sections"].values()} == {"skipped"}
    assert set(rep["sections"]) == {"tests", "speed_M", "speed_C", "profile", "compile",
                                    "shapes", "fig2", "costs"}
    assert rep["targets"]["M_net_it_per_s_ge_10000"] is False


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("device-check")
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device-check.sh"), "--tiny",
                           "--budget-s", "400", "--work-dir", str(out.parent / "work"),
                           "--fig2-iterations", "10"],
                          env=env, capture_output=True, text=True, timeout=900)
    return proc, out, json.loads((out / "device-check.json").read_text())


def test_tiny_run_end_to_end(tiny_run):
    proc, out, rep = tiny_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert rep["format"] == "cnntopo-device-check/1" and rep["tiny"] is True
    assert {k: s["status"] for k, s in rep["sections"].items()} == dict.fromkeys(
        ["tests", "speed_M", "speed_C", "profile", "compile", "shapes", "fig2", "costs"], "ok")
    # the log is the script's output
    log = (out / "device-check.log").read_text()
    assert "== fig2" in log and "done in" in log
    if not torch.cuda.is_available():
        assert "skipped" in rep["tests"]["summary"] and "failed" not in rep["tests"]["summary"]


def test_tiny_run_speed_numbers_add_up(tiny_run):
    _, _, rep = tiny_run
    for arch in ("M", "C"):
        s = rep["speed"][arch]
        timed = [v for v in s["variants"] if "net_it_per_s" in v]
        assert len(timed) >= 2
        for v in timed:
            assert v["net_it_per_s"] == pytest.approx(v["n_nets"] * v["iterations"] / v["seconds"])
            assert v["iterations"] >= 2 and v["finite"]
        ref = timed[0]
        assert ref["variant"] == "fp32-eager-auto"
        assert ref["agreement"]["max_rel_loss_diff"] == 0.0 and ref["agreement"]["pass"]
        chosen = max((v for v in timed if v["agreement"]["pass"]),
                     key=lambda v: v["net_it_per_s"])
        assert s["chosen"]["variant"] == chosen["variant"]
        loop = max(v["net_it_per_s"] for v in s["loops"] if "net_it_per_s" in v)
        assert s["speedup_vs_best_loop"] == pytest.approx(chosen["net_it_per_s"] / loop)
        assert s["chosen"]["tflop_per_s"] == pytest.approx(
            chosen["net_it_per_s"] * s["gflop_per_network_iteration"] / 1e3)


def test_tiny_run_compiled_variant_is_checked_and_timed(tiny_run):
    _, _, rep = tiny_run
    for arch in ("M", "C"):
        s = rep["speed"][arch]
        (v,) = [v for v in s["variants"] if v.get("compile")]
        assert v["variant"].endswith("-compile")
        if train_mod.cpp_compiler() is None:  # torch.compile on the CPU needs one: a failed variant
            assert "error" in v
            continue
        assert v["net_it_per_s"] > 0
        assert v["agreement"]["pass"]  # compiled, it trains like fp32 eager
        # the chosen variant is still the fastest sound one, compiled or not
        sound = [r for r in s["variants"] if "net_it_per_s" in r and r["agreement"]["pass"]]
        assert s["chosen"]["variant"] == max(sound, key=lambda r: r["net_it_per_s"])["variant"]


def test_tiny_run_profile_adds_up(tiny_run):
    _, out, rep = tiny_run
    for arch in ("M", "C"):
        p = rep["profile"][arch]
        # profiled with the variant the speed section chose, eagerly
        chosen = rep["speed"][arch]["chosen"]
        assert p["variant"] == f"{chosen['precision']}-eager-{chosen['conv_impl']}"
        ms = [o["self_ms_per_step"] for o in p["ops"]]
        assert ms == sorted(ms, reverse=True) and len(ms) >= 5
        assert sum(o["share"] for o in p["ops"]) <= 1 + 1e-9
        assert sum(ms) <= p["total_ms_per_step"] * (1 + 1e-9)
        for o in p["ops"]:
            assert o["share"] == pytest.approx(o["self_ms_per_step"] / p["total_ms_per_step"])
        # the step's matmuls / convolutions are among the operators timed
        assert any(k in o["name"] for o in p["ops"] for k in ("bmm", "conv", "mm"))
        text = (out / f"profile-{arch}.md").read_text()
        assert f"`{p['ops'][0]['name']}`" in text and "| share |" in text


def test_tiny_run_fig2_outputs(tiny_run):
    _, out, rep = tiny_run
    f = rep["fig2"]
    # smoke scale trains 20 iterations; --fig2-iterations 10 stops it at 10 and extrapolates
    assert (f["iterations_paper"], f["iterations_planned"], f["iterations_done"]) == (20, 10, 10)
    assert f["checkpoints"] == [2, 5, 10, 20] and f["extrapolated"] is True
    assert [c[0] for c in f["accuracy_by_checkpoint"]] == [2, 5, 10]
    assert f["full_train_seconds"] == pytest.approx(f["train_seconds"] * 2)
    assert 0.0 <= f["test_accuracy_min"] <= f["test_accuracy_mean"] <= f["test_accuracy_max"] <= 1
    assert f["analyses"][0]["tag"] == "layer1" and len(f["analyses"][0]["long_bars"]) == 2
    for name in ("fig2-mapper_layer1.png", "fig2-barcodes_layer1.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "fig2-summary.json").read_text())
    assert summary["analyses"][0]["n_filters"] == 2 * 8  # 2 networks x 8 conv1 filters
    # the returned weights are the last checkpoint's
    w = np.load(out / "fig2-weights.npz")
    sd = load_state_dict(Path(rep["settings"]["work_dir"]) / "fig2" / "run", iteration=10)
    np.testing.assert_array_equal(w["conv1_weight"], np.asarray(sd["conv1.weight"]))
    assert w["conv2_weight"].shape == (2, 4, 8, 3, 3) and int(w["iteration"]) == 10
    assert summary["analyses"][0]["iteration"] == 10
    assert len(list(out.iterdir())) <= 8  # what a device call can bring back (+ 2 profiles)


def test_markdown_tables_from_the_report(tiny_run, capsys):
    _, out, rep = tiny_run
    assert device_check.main(["--table", str(out / "device-check.json")]) == 0
    text = capsys.readouterr().out
    assert "| **" + rep["speed"]["M"]["chosen"]["variant"] + "** |" in text
    assert text.count("| fig") >= 14 and "Paper total: **" in text


def test_tiny_run_cost_table(tiny_run):
    _, _, rep = tiny_run
    c = rep["costs"]
    rows = {r["experiment"]: r for r in c["rows"]}
    assert set(rows) == {name for name, _ in list_experiments()}
    assert rows["fig14"]["gpu_minutes"] == 0.0 and rows["patches"]["gpu_minutes"] == 0.0
    # fig12 trains the very run fig9 trains: counted once
    assert rows["fig12"]["same_run_as"] == "fig9" and rows["fig9"]["same_run_as"] is None
    unique = sum(r["gpu_minutes"] for r in c["rows"] if r.get("nets") and not r["same_run_as"])
    assert c["total_gpu_minutes_identical_runs_once"] == pytest.approx(unique)
    # what `reproduce --all` trains: 12 runs, fig7 and fig8 inside fig5's, fig13 inside fig9's
    planned = {tuple(p["experiments"]): p for p in c["planned_trainings"]}
    assert len(planned) == 12 and ("fig5", "fig7", "fig8") in planned
    assert planned[("fig5", "fig7", "fig8")]["iterations"] == 70_000
    assert c["total_gpu_minutes_as_planned"] == pytest.approx(
        sum(p["gpu_minutes"] for p in planned.values()))
    assert c["total_gpu_minutes_as_planned"] < c["total_gpu_minutes_identical_runs_once"]
    r = rows["fig2"]
    assert r["network_iterations"] == 100 * 40_000
    assert r["how"] in ("measured", "estimated from FLOPs")


def test_a_second_call_reuses_earlier_rates(tiny_run, tmp_path):
    # e.g. a second device call that only trains fig2 longer: the cost table still has rates
    _, out, rep = tiny_run
    assert device_check.main(["--tiny", "--sections", "costs", "--out", str(tmp_path),
                              "--previous", str(out / "device-check.json"),
                              "--work-dir", str(tmp_path / "work")]) == 0
    again = json.loads((tmp_path / "device-check.json").read_text())
    assert again["speed"] == rep["speed"] and set(again["sections"]) == {"costs"}
    assert [r["gpu_minutes"] for r in again["costs"]["rows"] if r["experiment"] == "fig9"] == \
        [r["gpu_minutes"] for r in rep["costs"]["rows"] if r["experiment"] == "fig9"]
