"""The klein-layers experiment: its shifts, its statistics, and a smoke run through the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from cnntopo.experiments.klein_layers import CONDITIONS, LRS, PUBLISHED, SCALES
from cnntopo.experiments.klein_summary import images_to_reach, t_interval
from cnntopo.training.shifts import blur, class_noise, invert


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_class_noise_adds_one_pattern_per_class():
    x = torch.full((6, 1, 5, 5), 0.5)
    y = torch.tensor([0, 1, 0, 2, 1, 0])
    a = class_noise(x, y, tau=0.1, omega2=0.0)
    b = class_noise(x, y, tau=0.1, omega2=0.0, noise_seed=9)
    torch.testing.assert_close(a, b)                     # no per-image noise: patterns only
    torch.testing.assert_close(a[0], a[2])               # same class, same pattern
    assert not torch.allclose(a[0], a[1])
    pattern = torch.randn((10, 1, 5, 5), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a[3], (0.5 + 0.1 * pattern[2]).clamp(0, 1))
    c = class_noise(x, y, tau=0.0, omega2=0.04, noise_seed=3)
    assert abs((c - 0.5).std().item() - 0.2) < 0.03      # omega = 0.2 per pixel
    assert c.min() >= 0 and c.max() <= 1
    with pytest.raises(ValueError, match="'omega2' parameter of class_noise"):
        class_noise(x, y, omega2=-1.0)


def test_invert_and_blur():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    torch.testing.assert_close(invert(invert(x)), x)
    b = blur(x, 1.0)
    assert math.isclose(b.sum().item(), 1.0, rel_tol=1e-6)      # an interior impulse keeps its mass
    torch.testing.assert_close(b, b.flip(-1))
    torch.testing.assert_close(b, b.transpose(-1, -2))
    g = math.exp(-0.5)                                           # one pixel away, sigma 1
    assert math.isclose((b[0, 0, 4, 5] / b[0, 0, 4, 4]).item(), g, rel_tol=1e-5)


def test_t_interval_against_scipy_stats():
    from scipy import stats

    x = np.array([0.91, 0.93, 0.90, 0.95, 0.92])
    mean, lo, hi = t_interval(x)
    ref = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert math.isclose(mean, x.mean()) and np.allclose([lo, hi], ref)
    assert math.isnan(t_interval([0.5])[1]) and math.isnan(t_interval([])[0])


def test_images_to_reach_interpolates_in_log_images():
    images = [500, 1000, 2000]
    assert images_to_reach(images, [0.5, 0.8, 0.95], 0.9) == pytest.approx(
        math.exp(math.log(1000) + (0.1 / 0.15) * math.log(2)))
    assert images_to_reach(images, [0.91, 0.95, 0.97], 0.9) == 500.0
    assert images_to_reach(images, [0.5, 0.6, 0.7], 0.9) is None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from cnntopo.cli import main

    out = tmp_path_factory.mktemp("klein-layers")
    assert main(["reproduce", "klein-layers", "--scale", "smoke", "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    return out, json.loads((out / "klein_layers.json").read_text())


def test_smoke_run_writes_every_measure(smoke):
    out, res = smoke
    cfg = SCALES["smoke"]
    for name in ("klein_layers.md", "learning_curves.png", "conv1_readings.png"):
        assert (out / name).stat().st_size > 0
    d = res["datasets"]["mnist"]
    names = [c[0] for c in CONDITIONS]
    assert list(d["runs"])[:len(names)] == names and len(d["runs"]) == len(names) + 2
    for run, r in d["runs"].items():
        assert np.array(r["test"]).shape == (cfg.seeds, len(cfg.checkpoints))
        assert ((0 <= np.array(r["test"])) & (np.array(r["test"]) <= 1)).all()
        published = "published" in run
        assert r["lr"] == (1e-5 if published else d["selection"]["chosen"][run])
        shifts = {"clean->noisy", "polarity", "blur"} | (set() if published else
                                                         {"noisy->clean", "noisy->noisy"})
        assert set(r["shift"]) == shifts
        # readings only where conv1 trains: baseline, klein-init and the published baseline
        assert ("readings" in r) == (run in ("baseline", "klein-init",
                                             "baseline (published setting)"))
    assert set(d["selection"]["chosen"].values()) <= set(LRS)
    # at 0 images the Klein-initialised conv1 is the Klein bank: every filter on the model
    start = [s[0] for s in d["runs"]["klein-init"]["readings"]]
    assert [s["klein_fraction"] for s in start] == [1.0, 1.0]
    assert all(s["klein_distance_median"] < 0.01 for s in start)
    assert all(abs(s["cosine_to_start_median"] - 1) < 1e-9 for s in start)
    final = np.array(d["runs"]["baseline"]["conv1_final"])
    assert final.shape == (cfg.seeds, 16, 9)
    assert res["banks"]["circle"]["primary_circle_fraction"] == 1.0
    # the summary is the t-interval of the per-seed numbers
    s = res["summary"]["mnist"]["runs"]["klein-frozen"]["test"][-1]
    mean, lo, hi = t_interval(np.array(d["runs"]["klein-frozen"]["test"])[:, -1])
    assert (s["mean"], s["low"], s["high"]) == pytest.approx((mean, lo, hi))
    table = (out / "klein_layers.md").read_text()
    assert "published: Klein filters + Klein connectivity" in table
    assert PUBLISHED["mnist"]["images"] == 2000 and "| *68* |" not in table  # no 2,000 column


def test_redraw_rewrites_the_tables_from_the_numbers(smoke):
    from cnntopo.cli import main

    out, _ = smoke
    table = (out / "klein_layers.md").read_text()
    (out / "klein_layers.md").unlink()
    assert main(["redraw", str(out)]) == 0
    assert (out / "klein_layers.md").read_text() == table


def test_klein_layers_is_listed_but_not_in_all(capsys):
    from cnntopo.cli import main
    from cnntopo.experiments.runner import list_experiments

    assert main(["reproduce", "--list"]) == 0
    assert "klein-layers" in capsys.readouterr().out
    assert "klein-layers" not in [n for n, _ in list_experiments()]
    assert main(["reproduce", "klein-layers", "fig2", "--scale", "smoke"]) == 2
    assert "runs on its own" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["reproduce", "klein-layers", "--scale", "smoke", "--device", "cuda"]) == 2
        assert "'device' parameter of run_klein_layers" in capsys.readouterr().err


def test_the_verdict_keeps_the_shape_and_old_results_still_redraw(tmp_path):
    """A run's verdict stores the shape columns (issue 23); results written before, whose
    verdicts lack them, redraw as they were, and a verdict with a shape shows it."""
    import shutil
    from pathlib import Path

    from cnntopo.experiments.klein_layers import _verdicts, redraw_klein_layers

    docs = Path(__file__).resolve().parents[1] / "docs" / "klein-layers"
    old = json.loads((docs / "klein_layers.json").read_text())
    run = old["datasets"]["mnist"]["runs"]["klein-init"]
    v = _verdicts({"klein-init": [np.array(f) for f in run["conv1_final"]]})["klein-init"]
    for key in ("shape", "shape_confidence", "shape_reading", "significant_z3",
                "significant_z3_confidence", "undecided", "undecided_z3"):
        assert key in v, key
    assert len(v["significant"]) == len(v["significant_z3"]) == 3
    stored = run["verdict"]  # written before issue 23: b0 and b1 over Z/2
    assert "shape" not in stored and v["significant"][:2] == stored["significant"]
    assert (v["reading"], v["n_kept"]) == (stored["reading"], stored["n_kept"])

    shutil.copy(docs / "klein_layers.json", tmp_path / "klein_layers.json")
    redraw_klein_layers(tmp_path)
    assert (tmp_path / "klein_layers.md").read_text() == (docs / "klein_layers.md").read_text()
    run["verdict"] = json.loads(json.dumps(v))
    (tmp_path / "klein_layers.json").write_text(json.dumps(old))
    redraw_klein_layers(tmp_path)
    assert f"; shape: {v['shape']} ({v['shape_confidence']:.2f}) |" in \
        (tmp_path / "klein_layers.md").read_text()
