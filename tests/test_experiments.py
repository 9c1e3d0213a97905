"""Experiment configs and the runner: every config validates, paper values match the paper,
missing inputs fail before any work, and smoke runs write the expected files and numbers."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from cnntopo.experiments import SCALES, list_experiments, load_config, run_experiment
from cnntopo.experiments._config import resolve_scale, validate_config

NAMES = [name for name, _ in list_experiments()]


def _minimal(**overrides):
    config = {"name": "t", "title": "t", "paper": "t",
              "source": {"kind": "patches", "n_patches": 500},
              "analyses": [{"tag": "a", "k": 5, "p": 0.5, "mapper": {"resolution": 4}}]}
    config.update(overrides)
    return config


# ------------------------------------------------------------------ the bundled configs

def test_every_paper_figure_and_claim_has_a_config():
    expected = {f"fig{i}" for i in range(2, 16)} | {
        "mnist-m64-0-64", "mnist-m64-8-512", "mnist-m64-16-512", "mnist-m256-32-512",
        "mnist-layer2-all", "cifar-color-rgb", "cifar-color-layer2-all", "efficientnet-lite0",
        "patches"}
    assert expected <= set(NAMES)
    assert NAMES[:3] == ["fig2", "fig3", "fig4"]  # figures first, in figure order


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", NAMES)
def test_every_config_loads_and_validates_at_every_scale(name, scale):
    config = load_config(name, scale)
    assert config["name"] == name and config["scale"] == scale
    assert validate_config(config) == config  # a validated config is a fixed point
    src = config["source"]
    if src["kind"] == "train":
        wanted = {a["iteration"] for a in config["analyses"] if a["iteration"]}
        wanted |= set(config["grid"]["iterations"] if config["grid"] else [])
        assert wanted <= set(src["checkpoints"])
        assert max(src["checkpoints"]) == src["iterations"]
    tags = [a["tag"] for a in config["analyses"]]
    assert len(tags) == len(set(tags))


def test_paper_scale_fig2_is_the_papers_setting():
    c = load_config("fig2", "paper")
    s, (a,) = c["source"], c["analyses"]
    assert (s["arch"], s["widths"], s["dataset"], s["nets"], s["iterations"]) == \
        ("M", [64, 32, 64], "mnist", 100, 40_000)
    assert (a["layer"], a["iteration"], a["k"], a["p"]) == (1, 40_000, 200, 0.3)
    assert (a["mapper"]["resolution"], a["mapper"]["gain"]) == (30, 3.0)
    assert (a["barcodes"]["landmarks"], a["barcodes"]["nu"]) == (100, 1)


def test_paper_scale_fig11_is_the_papers_setting():
    c = load_config("fig11", "paper")
    s, (a,) = c["source"], c["analyses"]
    assert (s["arch"], s["widths"], s["no_pool"], s["dataset"], s["nets"], s["iterations"]) == \
        ("C", [48, 0, 64], True, "cifar10-color", 82, 30_000)
    assert (a["layer"], a["k"], a["p"]) == (1, 200, 0.32)
    assert a["barcodes"] is not None and a["mapper"]["resolution"] == 30


def test_paper_scale_fig14_is_the_papers_setting():
    c = load_config("fig14", "paper")
    assert c["source"] == {"kind": "vgg", "name": "vgg16", "weights": None}
    by_layer = {a["layer"]: a for a in c["analyses"]}
    assert sorted(by_layer) == list(range(2, 14))
    assert by_layer[2]["p"] == 0.4
    assert {by_layer[i]["p"] for i in range(3, 14)} == {0.3}
    assert {a["k"] for a in c["analyses"]} == {100}
    assert {(a["mapper"]["resolution"], a["mapper"]["gain"]) for a in c["analyses"]} == {(30, 3.0)}
    # the paper's PCA lenses; small clusters left out so the dense layers draw as rings
    assert {(a["mapper"]["lens"], a["mapper"]["min_cluster_fraction"])
            for a in c["analyses"]} == {("pca", 0.3)}
    (a15,) = load_config("fig15", "paper")["analyses"]
    assert (a15["mapper"]["lens"], a15["mapper"]["min_cluster_fraction"]) == ("pca", 0.7)
    # configs that do not ask keep the paper's Mapper
    (a2,) = load_config("fig2", "paper")["analyses"]
    assert (a2["mapper"]["lens"], a2["mapper"]["min_cluster_fraction"]) == ("pca", 0.0)


def test_paper_scale_evolution_grids():
    g8 = load_config("fig8", "paper")["grid"]
    assert [(r["layer"], r["k"], r["p"], r["mapper"]["resolution"], r["mapper"]["gain"])
            for r in g8["rows"]] == [(1, None, None, 30, 3.0), (2, 15, 0.5, 70, 2.0)]
    assert g8["iterations"][0] == 100 and g8["iterations"][-1] == 2000
    g13 = load_config("fig13", "paper")["grid"]
    assert [(r["layer"], r["k"], r["p"], r["mapper"]["resolution"], r["mapper"]["gain"])
            for r in g13["rows"]] == [(1, None, None, 33, 2.0), (2, 100, 0.3, 60, 2.0)]
    assert g13["iterations"][-1] == 1500


def test_laptop_fig2_is_small_and_keeps_the_shape():
    c = load_config("fig2", "laptop")
    s, (a,) = c["source"], c["analyses"]
    assert s["nets"] * s["iterations"] <= 10_000
    assert (a["layer"], a["barcodes"] is not None, a["mapper"] is not None) == (1, True, True)
    assert s["checkpoints"] == [s["iterations"]]


# ------------------------------------------------------------------ overrides and validation

def test_scale_overrides_merge_drop_and_apply_to_every_analysis():
    raw = _minimal(analyses=[{"tag": "a", "k": 5, "p": 0.5, "mapper": {"resolution": 4}},
                             {"tag": "b", "k": 6, "p": 0.5, "mapper": {"resolution": 4}}],
                   scales={"smoke": {"source": {"n_patches": 100},
                                     "analyses": [None, {"k": 9}],
                                     "each_analysis": {"mapper": {"gain": 2}}}})
    c = validate_config(resolve_scale(raw, "smoke"))
    assert c["source"]["n_patches"] == 100 and c["source"]["top_contrast"] == 0.2
    assert [a["tag"] for a in c["analyses"]] == ["b"]
    assert (c["analyses"][0]["k"], c["analyses"][0]["mapper"]["resolution"],
            c["analyses"][0]["mapper"]["gain"]) == (9, 4, 2.0)
    assert validate_config(resolve_scale(raw, "paper"))["source"]["n_patches"] == 500


@pytest.mark.parametrize("change, match", [
    ({"analysis": []}, r"unknown key 'analysis' in the config"),
    ({"source": {"kind": "patches", "npatches": 3}}, r"unknown key 'npatches' in source"),
    ({"source": {"kind": "imagenet"}}, r"source\.kind must be one of"),
    ({"analyses": [{"k": 5, "p": 0.5, "mapper": {"resolution": 0}}]},
     r"analyses\[0\]\.mapper\.resolution must be an int >= 1; got 0"),
    ({"analyses": [{"k": 5, "p": 0.5, "mapper": {"gain": 1}}]}, r"analyses\[0\]\.mapper\.gain"),
    ({"analyses": [{"mapper": {"min_cluster_fraction": -1}}]},
     r"analyses\[0\]\.mapper\.min_cluster_fraction must be a number in \[0, inf\]; got -1"),
    ({"analyses": [{"mapper": {"lens": "umap"}}]},
     r"analyses\[0\]\.mapper\.lens must be one of \['pca', 'neighborhood'\]; got 'umap'"),
    ({"analyses": [{"k": 5, "mapper": {}}]}, r"analyses\[0\]\.k and p must be both set"),
    ({"analyses": [{"k": 5, "p": 1.5, "mapper": {}}]}, r"analyses\[0\]\.p must be a number in \(0, 1\]"),
    ({"analyses": [{"k": 5, "p": 0.5}]}, r"analyses\[0\] must be an analysis with a 'mapper'"),
    ({"analyses": [{"tag": "x", "mapper": {}}, {"tag": "x", "mapper": {}}]},
     r"analyses\[1\]\.tag must be unique"),
    ({"analyses": [{"tag": "a/b", "mapper": {}}]}, r"analyses\[0\]\.tag must be letters"),
    ({"analyses": [{"layer": 2, "mapper": {}}]}, r"analyses\[0\]\.layer must be null for natural"),
    ({"analyses": [{"mapper": {}, "barcodes": {"nu": 3}}]}, r"analyses\[0\]\.barcodes\.nu must be 0, 1 or 2"),
    ({"analyses": [{"mapper": {}, "barcodes": {"landmark": 3}}]},
     r"unknown key 'landmark' in analyses\[0\]\.barcodes"),
])
def test_invalid_configs_name_the_bad_key(change, match):
    with pytest.raises(ValueError, match=match):
        validate_config(_minimal(**change))


def test_train_source_checks():
    src = {"kind": "train", "arch": "M", "widths": [8, 0, 16], "nets": 2, "iterations": 100}
    c = validate_config(_minimal(source=src, analyses=[{"layer": 1, "iteration": 50, "mapper": {}}]))
    assert c["source"]["checkpoints"] == [50, 100]  # the analysis' checkpoint is added
    with pytest.raises(ValueError, match=r"source\.iterations must be at least every iteration "
                                         r"asked for \(150\); got 100"):
        validate_config(_minimal(source=src, analyses=[{"layer": 1, "iteration": 150, "mapper": {}}]))
    with pytest.raises(ValueError, match=r"source\.widths must be a list of three widths"):
        validate_config(_minimal(source={**src, "widths": [8, 16]},
                                 analyses=[{"layer": 1, "mapper": {}}]))
    with pytest.raises(ValueError, match=r"grid must be null for a source without checkpoints"):
        validate_config(_minimal(grid={"iterations": [1], "rows": [{"layer": 1}]}))


def test_load_config_errors():
    with pytest.raises(ValueError, match=r"no experiment named 'fig99'; the bundled ones are: fig2"):
        load_config("fig99")
    with pytest.raises(ValueError, match=r"experiment 't' has no 'laptop' scale"):
        resolve_scale(_minimal(scales={"smoke": {}}), "laptop")
    with pytest.raises(ValueError, match=r"The 'scale' parameter must be one of"):
        load_config("fig2", "huge")
    with pytest.raises(ValueError, match=r"unknown key 'sorce' in scales\.smoke"):
        resolve_scale(_minimal(scales={"smoke": {"sorce": {}}}), "smoke")


def test_load_config_from_a_user_file(tmp_path):
    raw = json.loads((load_config.__globals__["CONFIG_DIR"] / "fig2.json").read_text())
    raw["name"] = "mine"
    raw["scales"]["laptop"]["source"]["nets"] = 3
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(raw))
    c = load_config(str(path), "laptop")
    assert (c["name"], c["source"]["nets"]) == ("mine", 3)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        load_config(str(path))


# ------------------------------------------------------------------ inputs checked first

def test_missing_cifar_fails_before_any_work(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"`cnntopo download cifar10 --data-dir DIR`"):
        run_experiment(load_config("fig5", "smoke"), out, progress=False)
    assert not out.exists()
    out.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "data_batch_1").write_bytes(b"")
    with pytest.raises(FileNotFoundError,
                       match=r"lacks data_batch_2, .*test_batch; get them with "
                             r"`cnntopo download cifar10 --data-dir .*data`"):
        run_experiment(load_config("fig8", "smoke"), out, data_dir=data, progress=False)
    assert list(out.iterdir()) == []


def test_missing_vgg_weights_fail_before_any_work(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"--weights PATH.*`cnntopo download vgg16 --dest DIR`"):
        run_experiment(load_config("fig14", "smoke"), out, progress=False)
    with pytest.raises(FileNotFoundError, match=r"holds 0 vgg19 weight files.*download vgg19"):
        run_experiment(load_config("fig15", "smoke"), out, weights=tmp_path, progress=False)
    assert not out.exists()


# ------------------------------------------------------------------ smoke runs

_ANALYSIS_KEYS = {"tag", "layer", "iteration", "channel", "network", "k", "p", "n_filters",
                  "n_points", "n_constant", "n_filtered", "dim", "primary_circle_fraction",
                  "mapper", "barcodes", "long_bars", "files"}


@pytest.fixture(scope="module")
def patches_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("patches-smoke")
    config = load_config("patches", "smoke")
    return out, config, run_experiment(config, out, progress=False)


def test_patches_smoke_run_writes_summary_and_files(patches_run):
    out, config, summary = patches_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert {"name", "title", "paper", "scale", "config", "source", "analyses", "grid",
            "files", "seconds"} <= set(on_disk)
    assert on_disk["config"] == config and on_disk["scale"] == "smoke"
    (a,) = on_disk["analyses"]
    assert _ANALYSIS_KEYS <= set(a)
    n = config["source"]["n_patches"]
    assert a["n_filters"] == n and a["n_points"] == n - a["n_constant"]
    points = np.load(out / a["files"]["points"])
    assert points.shape == (a["n_filtered"], 9)
    assert a["n_filtered"] == round(config["analyses"][0]["p"] * a["n_points"])
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)
    assert isinstance(a["long_bars"], list) and len(a["long_bars"]) == 2
    assert a["long_bars"] == a["barcodes"]["long_bars"]
    assert all(isinstance(c, int) and c >= 0 for c in a["long_bars"])
    assert a["long_bars"][0] >= 1  # H0 always has its never-dying bar
    assert a["long_bars"] == [1, 1]  # the primary circle: one component, one loop
    for key in ("mapper_png", "barcodes_png", "graph_html", "mapper_json", "barcodes_json"):
        assert (out / a["files"][key]).is_file()
    graph = json.loads((out / a["files"]["mapper_json"]).read_text())
    assert a["mapper"]["nodes"] == len(graph["nodes"]) and a["mapper"]["links"] == len(graph["links"])
    # cycle rank of a graph: links - nodes + components
    assert a["mapper"]["cycles"] == a["mapper"]["links"] - a["mapper"]["nodes"] + a["mapper"]["components"]
    bars = json.loads((out / a["files"]["barcodes_json"]).read_text())
    assert bars["long_bars"] == a["long_bars"] and len(bars["diagrams"]) == 2
    assert (out / "index.html").is_file()


def test_patches_smoke_finds_the_primary_circle(patches_run):
    """High-contrast natural patches after rho(k, 0.3) lie near the primary circle."""
    _, _, summary = patches_run
    (a,) = summary["analyses"]
    assert a["primary_circle_fraction"] > 0.7
    assert a["primary_circle_fraction"] > a["primary_circle_fraction_before_filtering"]


def test_report_shows_every_figure_and_the_inline_graph(patches_run):
    out, _, summary = patches_run
    page = (out / "index.html").read_text()
    (a,) = summary["analyses"]
    for key in ("mapper_png", "barcodes_png"):
        assert f'<img src="{a["files"][key]}"' in page
    assert f'<iframe id="graph-frame" src="{a["files"]["graph_html"]}"' in page
    assert "https://" not in page and "<script" not in page  # static, nothing fetched
    assert f"<td>{a['n_filtered']:,}</td>" in page


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """The Figure 2 smoke config plus an evolution grid (layers 1, 2 x iterations 10, 20)."""
    out = tmp_path_factory.mktemp("mnist-smoke")
    config = load_config("fig2", "smoke")
    config["grid"] = {"iterations": [10, 20], "rows": [
        {"layer": 1, "mapper": {"resolution": 3, "gain": 2}},
        {"layer": 2, "k": 3, "p": 0.5, "mapper": {"resolution": 3, "gain": 2}}]}
    config = validate_config(config)
    return out, config, run_experiment(config, out, progress=False)


def test_mnist_smoke_run_trains_and_reports(mnist_run):
    out, config, summary = mnist_run
    s = config["source"]
    assert s["checkpoints"] == [10, 20]  # the grid's iterations were added
    assert summary["source"]["trained_now"] is True
    assert [(a["iteration"], a["n_networks"]) for a in summary["source"]["test_accuracy"]] == \
        [(10, s["nets"]), (20, s["nets"])]
    (a,) = summary["analyses"]
    assert a["n_filters"] == s["nets"] * s["widths"][0] * 1  # N x X first-layer filters, 1 channel
    assert a["iteration"] == s["iterations"] and a["layer_names"] == ["conv1.weight"]


def test_mnist_smoke_grid(mnist_run):
    out, config, summary = mnist_run
    g = summary["grid"]
    assert (out / g["file"]).is_file() and g["rows"] == ["layer 1", "layer 2"]
    s = config["source"]
    X, Y = s["widths"][:2]
    assert [[c["n_filters"] for c in row] for row in g["cells"]] == \
        [[s["nets"] * X] * 2, [s["nets"] * Y * X] * 2]
    assert [[c["iteration"] for c in row] for row in g["cells"]] == [[10, 20], [10, 20]]
    assert all(c["n_filtered"] == round(0.5 * c["n_points"]) for c in g["cells"][1])
    # layer 1 at iteration 20 is the analysed cloud (no density filter in the grid row)
    assert g["cells"][0][1]["n_points"] == summary["analyses"][0]["n_points"]


def test_mnist_rerun_reuses_the_run_and_refuses_another_config(mnist_run):
    out, config, first = mnist_run
    ckpt = out / "run" / "checkpoints"
    stamp = {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()}
    second = run_experiment(config, out, progress=False)
    assert second["source"]["trained_now"] is False
    assert {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()} == stamp
    assert second["analyses"][0]["n_filtered"] == first["analyses"][0]["n_filtered"]
    assert second["source"]["test_accuracy"] == first["source"]["test_accuracy"]
    other = copy.deepcopy(config)
    other["source"]["nets"] += 1
    with pytest.raises(ValueError, match=r"holds a run with other settings \(differs in n_nets\)"):
        run_experiment(other, out, progress=False)


def test_a_run_source_reads_an_existing_run(mnist_run, tmp_path):
    out, config, first = mnist_run
    mine = {"name": "mine", "title": "t", "paper": "t",
            "source": {"kind": "run", "path": str(out / "run")},
            "analyses": [{"tag": "n1", "layer": 1, "iteration": 10, "network": 1,
                          "mapper": {"resolution": 2}}]}
    summary = run_experiment(mine, tmp_path / "mine", progress=False)
    (a,) = summary["analyses"]
    s = config["source"]
    assert (a["iteration"], a["n_filters"]) == (10, s["widths"][0])  # one network's filters
    points = np.load(tmp_path / "mine" / a["files"]["points"])
    from cnntopo.filters import filters_from_source
    from cnntopo.pointcloud import normalise

    raw, meta, _ = filters_from_source(out / "run", 1, iteration=10)
    np.testing.assert_allclose(points, normalise(raw[meta["network"] == 1])[0])
    with pytest.raises(ValueError, match=r"analysis .n1.: network 5 does not exist: layer 1 holds 2 "):
        mine["analyses"][0]["network"] = 5
        run_experiment(mine, tmp_path / "mine", progress=False)


def test_efficientnet_filter_counts():
    """EfficientNet-Lite0's 3x3 depthwise layers 2-8 hold 2,624 filters, layer 8 1,152."""
    from cnntopo.experiments.runner import _Source, check_inputs

    config = load_config("efficientnet-lite0", "paper")

    plan = check_inputs(config, "unused")
    source = _Source(config["source"], plan)
    counts = [len(source.filters(a)[0]) for a in config["analyses"]]
    assert counts == [32 + 96 + 144 + 240 + 480 + 480 + 1152, 1152]
