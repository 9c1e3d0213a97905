"""The verdict table: ranges, reading rules, rows from every kind of source, the CLI."""

import json

import numpy as np
import pytest
from conftest import need_module, primary_circle_filters

from cnntopo.cli import main
from cnntopo.verdict.analysis import describe_cloud
from cnntopo.verdict.layers import describe_source
from cnntopo.verdict.table import (
    ROW_KEYS,
    format_table,
    parse_ranges,
    reading,
    select_iterations,
)


def _noise_filters(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 9))


# ------------------------------------------------------------------------ ranges

@pytest.mark.parametrize("specs, expected", [
    (["2-4"], [2, 3, 4]),
    (["7", "2-3"], [2, 3, 7]),
    (["9,11", "10"], [9, 10, 11]),
    ([3, "3"], [3]),
    ([" 2 - 13 "], list(range(2, 14))),
])
def test_parse_ranges(specs, expected):
    assert parse_ranges(specs) == expected


@pytest.mark.parametrize("spec, match", [
    ("2-", "integers and ranges like 2-13"),
    ("a", "integers and ranges like 2-13"),
    ("5-2", "runs backwards; write 2-5"),
])
def test_parse_ranges_refuses(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_ranges([spec], "layer")


def test_select_iterations():
    have = [100, 200, 300, 1000]
    assert select_iterations(["200-400"], have, "RUN") == [200, 300]
    assert select_iterations(["100", "1000"], have, "RUN") == [100, 1000]
    with pytest.raises(ValueError, match="250 is not a checkpoint of RUN; its checkpoints are"):
        select_iterations(["250"], have, "RUN")
    with pytest.raises(ValueError, match="has no checkpoint in that range"):
        select_iterations(["400-900"], have, "RUN")


# ------------------------------------------------------------------------ the words

def _row(b0, b1, P=0.7, C=0.9, K=0.95, O=0.01, undecided=(False, False)):
    return {"significant": [b0, b1], "undecided": list(undecided),
            "primary_circle_fraction": P, "primary_circle_coverage": C,
            "klein_fraction": K, "off_model_fraction": O}


@pytest.mark.parametrize("row, expected", [
    (_row(1, 1), "primary circle"),
    (_row(1, 1, C=0.3), "primary circle (orientations concentrated)"),
    (_row(1, 1, O=0.18), "primary circle + off-model patches"),
    (_row(1, 3), "primary circle + 2 more loops"),
    (_row(1, 2), "primary circle + 1 more loop"),
    (_row(1, 1, P=0.2), "one loop"),
    (_row(1, 2, P=0.2), "two circles"),
    (_row(1, 4, P=0.2), "4 loops"),
    (_row(1, 5, P=0.4, K=0.8), "three circles"),
    (_row(1, 5, P=0.2, K=0.3), "5 loops"),
    (_row(5, 0), "clusters (5)"),
    (_row(2, 0, O=1.0), "clusters (2) + off-model patches"),
    (_row(1, 0), "no significant structure"),
    (_row(1, 0, O=0.9), "no significant structure"),
    (_row(3, 1), "primary circle, in 3 clusters"),
    (_row(1, 0, undecided=(True, True)), "too few points to tell"),
    (_row(1, 1, undecided=(False, True)), "primary circle"),   # a loop found is still reported
    ({"significant": None}, "too few points to tell"),
    (_row(1, 1, P=None, C=None, K=None, O=None), "one loop"),  # not 3x3 filters
    (dict(_row(1, 0, O=0.18), significant_confidence=[0.95, 0.45]),
     "no significant structure (uncertain)"),
    (dict(_row(1, 3, O=0.06), significant_confidence=[0.95, 0.5]),
     "primary circle + 2 more loops + off-model patches"),
])
def test_reading_rules(row, expected):
    assert reading(row) == expected


def _graph(row, betti, loops, stability=1.0, conf=(1.0, 1.0)):
    return dict(row, significant_confidence=list(conf), nerve_betti=list(betti),
                nerve_loop_confidence=loops, nerve_stability=stability)


@pytest.mark.parametrize("row, expected", [
    # the graph and the bars agree: nothing to add
    (_graph(_row(1, 1), [1, 1], [1.0]), "primary circle"),
    # agree on the robust loops; the others are named with their confidence
    (_graph(_row(1, 1), [1, 3], [0.98, 0.3, 0.1]),
     "primary circle; Mapper: 3 loops (confidence 0.98, 0.30, 0.10), 1 robust, as the barcodes"),
    # VGG16 layer 5: a ring and two bands against an uncertain barcode
    (_graph(_row(1, 0, O=0.3), [1, 3], [0.95, 0.2, 0.1], conf=(1.0, 0.45)),
     "no significant structure (uncertain); Mapper: 3 loops (confidence 0.95, 0.20, 0.10), "
     "barcodes: 0 (confidence 0.45): the bars are uncertain"),
    # the demo's open arc at one resolution: the bars hold, the graph does not
    (_graph(_row(1, 1), [1, 0], [], stability=0.12),
     "primary circle; Mapper: 0 loops, barcodes: 1 (confidence 1.00): the graph changes with "
     "its parameters (stability 0.12)"),
    (_graph(_row(1, 1), [1, 2], [0.4, 0.3]),
     "primary circle; Mapper: 2 loops (confidence 0.40, 0.30), barcodes: 1 (confidence 1.00): "
     "the graph's loops do not survive resampling"),
    (_graph(_row(1, 1), [1, 2], [1.0, 0.97]),
     "primary circle; Mapper: 2 loops (confidence 1.00, 0.97), barcodes: 1 (confidence 1.00): "
     "both hold; read the graph at other resolutions"),
    (_graph(_row(1, 1), [1, 2], None),
     "primary circle; Mapper: 2 loops (no bootstrap), barcodes: 1 (confidence 1.00): both "
     "hold; read the graph at other resolutions"),
])
def test_reading_says_where_the_mapper_graph_and_the_bars_disagree(row, expected):
    assert reading(row) == expected


def test_describe_reports_the_nerves_confidence_and_stability():
    row = describe_cloud(primary_circle_filters(400, seed=2, noise=0.3), k=15, p=0.5,
                         n_landmarks=30, mapper=("auto", "auto", 20), n_resamples=5)
    assert row["nerve_betti"][1] >= 1
    assert row["nerve_loop_confidence"][0] >= 0.9 and row["nerve_robust"][1] == 1
    assert 0 <= row["nerve_stability"] <= 1 and len(row["nerve_confidence"]) == 2
    assert "Mapper:" not in row["reading"] or "as the barcodes" in row["reading"]


# ------------------------------------------------------------------------ rows

def test_circle_cloud_reads_as_the_primary_circle():
    row = describe_cloud(primary_circle_filters(600), layer=3, iteration=7, k=20, p=0.9,
                         n_landmarks=30, mapper=(8, 3, 10), n_resamples=8)
    assert list(row)[:len(ROW_KEYS)] == list(ROW_KEYS)
    assert (row["layer"], row["iteration"], row["n_filters"], row["n_kept"]) == (3, 7, 600, 540)
    assert row["significant"] == [1, 1, 0]  # b0, b1 as ever; b2 from the two-field test
    assert row["significant_z3"] == [1, 1, 0]
    assert row["primary_circle_fraction"] == 1.0 and row["off_model_fraction"] == 0.0
    assert row["primary_circle_coverage"] > 0.9
    assert row["nerve_betti"][1] >= 1
    assert row["reading"] == "primary circle"
    assert row["shape"] == "primary circle", row["shape_reading"]
    assert row["shape_reading"].startswith("primary circle: b = (1, 1, 0) over Z/2 and Z/3")


def test_noise_cloud_has_no_structure():
    row = describe_cloud(_noise_filters(800), n_resamples=8, n_landmarks=30)
    assert row["significant"][1] == 0
    assert row["primary_circle_fraction"] < 0.05 and row["off_model_fraction"] > 0.8
    assert row["nerve_betti"] is None and (row["k"], row["p"]) == (None, None)
    assert row["reading"] == "no significant structure"
    assert row["shape"] == "no significant structure", row["shape_reading"]


def test_rows_of_a_weights_file_and_the_table(tmp_path):
    import torch
    conv1 = torch.as_tensor(primary_circle_filters(16 * 25, seed=1).reshape(16, 25, 3, 3), dtype=torch.float32)
    conv2 = torch.as_tensor(_noise_filters(8 * 50, seed=2).reshape(8, 50, 3, 3), dtype=torch.float32)
    path = tmp_path / "two.pt"
    torch.save({"a.weight": conv1, "a.bias": torch.zeros(16), "b.weight": conv2}, path)
    rows = describe_source(path, n_landmarks=30, n_resamples=6, progress=False)
    assert [r["layer"] for r in rows] == [1, 2] and [r["iteration"] for r in rows] == [None, None]
    assert [r["layer_name"] for r in rows] == ["a", "b"]  # module names, as a live model lists them
    assert [r["n_filters"] for r in rows] == [400, 400]
    assert rows[0]["reading"] == "primary circle"
    assert rows[1]["reading"] == "no significant structure"
    table = format_table(rows).splitlines()
    assert len(table) == 3 and "reading" in table[0]
    assert table[1].rstrip().endswith("primary circle")
    with pytest.raises(ValueError, match="layer 3 does not exist"):
        describe_source(path, layers=[3], progress=False)
    with pytest.raises(ValueError, match="--iteration selects checkpoints of a run directory"):
        describe_source(path, iterations=["5"], progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from cnntopo.training.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(arch="M", widths=(8, 0, 8), n_nets=2, iterations=4, checkpoints=[2, 4],
                      batch_size=16), out, progress=False)
    return out


def test_rows_of_a_run_directory(tiny_run):
    rows = describe_source(tiny_run, iterations=["1-4"], n_landmarks=5, n_resamples=3,
                           progress=False)
    assert [(r["layer"], r["iteration"]) for r in rows] == [(1, 2), (1, 4)]
    assert all(r["n_filters"] == 16 for r in rows)
    last = describe_source(tiny_run, n_landmarks=5, n_resamples=3, progress=False)
    assert [r["iteration"] for r in last] == [4]
    with pytest.raises(ValueError, match="3 is not a checkpoint"):
        describe_source(tiny_run, iterations=["3"], progress=False)


# ------------------------------------------------------------------------ the CLI

def test_cli_points_file_table_and_json(tmp_path, capsys):
    pts = tmp_path / "circle.npy"
    np.save(pts, primary_circle_filters(500, seed=3))
    out = tmp_path / "verdict.json"
    assert main(["describe", str(pts), "--k", "20", "--p", "0.9", "--landmarks", "30",
                 "--resamples", "6", "--mapper", "8,3", "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "primary circle" in printed and "b1 (conf)" in printed
    doc = json.loads(out.read_text())
    # the DataFrame's columns, as --format json prints them
    assert doc["format"] == "cnntopo-describe/1" and len(doc["rows"]) == 1
    assert list(doc["rows"][0]) == doc["columns"]
    assert (doc["rows"][0]["b0"], doc["rows"][0]["b1"]) == (1, 1)
    assert doc["settings"]["mapper"] == [8, 3.0, 100] and doc["settings"]["n_landmarks"] == 30


@pytest.mark.parametrize("extra, message", [
    (["--layer", "2"], "is a points file: --layer and --iteration select"),
    (["--layer", "9-2"], "runs backwards"),
    (["--mapper", "30"], "--mapper takes RESOLUTION,GAIN"),
    (["--k", "5000", "--p", "0.3"], "'k'"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
    pts = tmp_path / "p.npy"
    np.save(pts, _noise_filters(100))
    out = tmp_path / "v.json"
    assert main(["describe", str(pts), "--json", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


# ------------------------------------------------------------------------ rows as tasks

@pytest.fixture(scope="module")
def three_layers(tmp_path_factory):
    import torch

    path = tmp_path_factory.mktemp("three") / "three.pt"
    conv = [primary_circle_filters(16 * 25, seed=1), _noise_filters(8 * 50, seed=2),
            primary_circle_filters(8 * 40, seed=3, noise=0.2)]
    torch.save({f"c{i}.weight": torch.as_tensor(f.reshape(8 * (2 - (i == 0)), -1, 3, 3),
                                                dtype=torch.float32)
                for i, f in enumerate(conv)}, path)
    return path


def test_rows_on_two_processes_are_the_serial_rows_in_order(three_layers, tiny_run):
    """Each (layer, checkpoint) a task on two worker processes: the same rows, bit for bit,
    in the same order, the Mapper graph's bootstrap confidence and stability included."""
    kw = dict(n_landmarks=10, n_resamples=3, mapper=(4, 2, 5), progress=False)
    serial = describe_source(three_layers, **kw, n_jobs=1)
    assert [r["layer"] for r in serial] == [1, 2, 3]
    assert all(r["nerve_stability"] is not None for r in serial)
    assert describe_source(three_layers, **kw, n_jobs=2) == serial
    its = describe_source(tiny_run, iterations=["all"], **kw, n_jobs=1)
    assert [(r["layer"], r["iteration"]) for r in its] == [(1, 2), (1, 4)]
    assert describe_source(tiny_run, iterations=["all"], **kw, n_jobs=2) == its
    with pytest.raises(ValueError, match="'n_jobs' parameter of analyse_layers"):
        describe_source(three_layers, n_jobs=0, progress=False)


@pytest.mark.slow
def test_rows_and_resamples_on_ray_are_the_serial_ones(three_layers, tmp_path, capsys):
    ray = need_module("ray")
    from cnntopo.topology.mapper import mapper_graph, pca_lens
    from cnntopo.topology.mapper_stats import mapper_confidence

    kw = dict(n_landmarks=10, n_resamples=3, mapper=(4, 2, 5), progress=False)
    serial = describe_source(three_layers, **kw, n_jobs=1)
    X = primary_circle_filters(300, seed=4)
    F = pca_lens(X, 2)
    g = mapper_graph(X, lens=F, resolution=5, gain=3)
    alone = mapper_confidence(X, g, F, n_bootstrap=6, graph_kwargs={"resolution": 5, "gain": 3},
                              n_jobs=1)
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        assert describe_source(three_layers, **kw, ray="auto") == serial
        assert mapper_confidence(X, g, F, n_bootstrap=6, ray="auto",
                                 graph_kwargs={"resolution": 5, "gain": 3}) == alone
        out = tmp_path / "rows.json"
        assert main(["describe", str(three_layers), "--landmarks", "10", "--resamples", "3",
                     "--mapper", "4,2,5", "--ray", "auto", "--quiet", "--json", str(out)]) == 0
        rows = json.loads(out.read_text())["rows"]
        assert [(r["nerve_b0"], r["nerve_b1"], r["nerve_stability"]) for r in rows] == \
            [(*r["nerve_betti"], r["nerve_stability"]) for r in serial]
    finally:
        ray.shutdown()


def test_a_mapper_graph_gets_100_resamples_unless_told():
    """describe, describe_cloud, describe_run and the CLI read `mapper` through
    verdict_spec; the grid has its own default."""
    import inspect

    from cnntopo.verdict.analysis import verdict_spec
    from cnntopo.verdict.layers import analyse_run_grid

    assert verdict_spec(mapper=(30, 3)).mapper.n_bootstrap == 100
    assert verdict_spec(mapper=(30, 3, 0)).mapper.n_bootstrap == 0
    assert inspect.signature(analyse_run_grid).parameters["n_bootstrap"].default == 100


def test_cli_jobs_and_ray_errors_are_one_line_before_any_work(three_layers, tmp_path, capsys,
                                                             monkeypatch):
    out = tmp_path / "rows.json"
    assert main(["describe", str(three_layers), "--jobs", "-2", "--json", str(out)]) == 2
    assert capsys.readouterr().err.strip() == \
        "cnntopo describe: error: --jobs takes an int >= 1, or -1 for every core; got -2"
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` fails
    assert main(["describe", str(three_layers), "--ray", "local", "--json", str(out)]) == 2
    assert capsys.readouterr().err.strip() == \
        "cnntopo describe: error: --ray needs Ray: pip install 'cnntopo[ray]'"
    assert not out.exists()
