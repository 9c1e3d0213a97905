"""cnntopo.describe: any model in memory (or on disk) to a DataFrame, one row per conv layer."""

import json
import os

import numpy as np
import pytest
from conftest import need_module, primary_circle_filters

import cnntopo
from cnntopo.cli import main
from cnntopo.sources.live import live_conv_layers
from cnntopo.topology.klein_grid import random_fractions
from cnntopo.verdict.frame import frame_table, rows_to_frame
from cnntopo.verdict.layers import describe_source

torch = need_module("torch")
nn = torch.nn

FAST = dict(n_landmarks=10, n_resamples=3, progress=False)


def _edges(n, k, seed=0):
    """k x k edges at random angles with a little noise (the primary circle on the k grid)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    from cnntopo.topology.klein_filters import cell_centres

    xc, yc = cell_centres(k)
    f = np.cos(t)[:, None, None] * xc + np.sin(t)[:, None, None] * yc
    f = f.reshape(n, -1) / np.linalg.norm(f.reshape(n, -1), axis=1, keepdims=True)
    return f + 0.05 * rng.normal(size=f.shape)


class Net(nn.Module):
    """Every kind of conv layer a model may hold, in forward order."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(4, 15, 5), nn.ReLU(), nn.Conv2d(15, 4, 3),
                                      nn.Conv2d(4, 5, 1), nn.Conv2d(5, 2, (1, 7)))
        self.broken = nn.Conv2d(2, 20, 3)
        self.tiny = nn.Conv2d(1, 3, 3)
        self.audio = nn.Conv1d(3, 4, 3)
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.as_tensor(_edges(60, 5).reshape(15, 4, 5, 5)))
            self.features[2].weight.copy_(torch.as_tensor(
                primary_circle_filters(60, seed=2).reshape(4, 15, 3, 3)))
            self.broken.weight[3, 1, 0, 2] = float("nan")


@pytest.fixture(scope="module")
def frame():
    return cnntopo.describe(Net(), **FAST)


def test_one_row_per_conv_layer_none_dropped(frame):
    assert list(frame.columns[:8]) == ["layer", "layer_name", "kernel", "iteration",
                                       "n_filters", "n_kept", "k", "p"]
    assert list(frame.columns[-3:]) == ["reading", "status", "reason"]
    assert list(frame.layer) == [1, 2, 3, 4, 5, 6, 7]
    assert list(frame.layer_name) == ["features.0", "features.2", "features.3", "features.4",
                                      "broken", "tiny", "audio"]
    assert list(frame.kernel) == ["5x5", "3x3", "1x1", "1x7", "3x3", "3x3", "3"]
    assert list(frame.status) == ["ok", "ok"] + ["skipped"] * 5
    assert frame.reason.isna()[0] and frame.reason.isna()[1]
    reasons = list(frame.reason[2:])
    assert reasons[0].startswith("1x1 kernel")
    assert reasons[1] == "non-square kernel 1x7"
    assert reasons[2] == "NaN weights (1 of 40 filters)"
    assert reasons[3] == "too few filters: 3 not constant of 3 (at least 5)"
    assert reasons[4] == "Conv1d: 1-D kernel 3, no 2-D spatial filters"
    assert list(frame.n_filters[:6]) == [60, 60, 20, 10, 40, 3]
    assert frame.n_filters.isna()[6]


def test_5x5_edges_read_as_the_primary_circle_beside_chance(frame):
    five, three = frame.iloc[0], frame.iloc[1]
    assert five.primary_circle_fraction == 1.0 and three.primary_circle_fraction == 1.0
    assert five.primary_circle_fraction_random == random_fractions(5)[
        "primary_circle_fraction_random"]
    assert three.primary_circle_fraction_random == random_fractions(3)[
        "primary_circle_fraction_random"]
    assert (five.b0, five.b1) == (1, 1) and five.reading == "primary circle"
    cols = list(frame.columns)
    for name in ("primary_circle_fraction", "klein_fraction", "off_model_fraction"):
        assert cols.index(name + "_random") == cols.index(name) + 1
    assert str(frame.b1.dtype) == "Int64" and str(frame.b1_undecided.dtype) == "boolean"
    assert frame.b1.isna()[2] and np.isnan(frame.primary_circle_fraction[2])


def test_the_frame_is_the_rows_of_describe_source(frame):
    rows = describe_source(Net(), **FAST)
    again = rows_to_frame(rows)
    assert again.equals(frame)
    # a key added to the row becomes a column before the reading
    extra = rows_to_frame([dict(rows[0], some_new_reading=0.8)])
    assert list(extra.columns[-4:]) == ["some_new_reading", "reading", "status", "reason"]


def test_names_of_wrapped_and_compiled_modules():
    net = Net()
    expected = [c.name for c in live_conv_layers(net)]
    assert [c.name for c in live_conv_layers(nn.DataParallel(net))] == expected
    # torch.compile's OptimizedModule holds the model as `_orig_mod` (a stand-in: importing
    # torch._dynamo costs seconds)
    compiled = nn.Module()
    compiled._orig_mod = net
    assert [c.name for c in live_conv_layers(compiled)] == expected
    assert [c.name for c in live_conv_layers({"model": net, "epoch": 3})] == expected
    sd = {"module._orig_mod." + k: v for k, v in net.state_dict().items()}
    assert [c.name for c in live_conv_layers({"state_dict_ema": sd})][:2] == ["features.0",
                                                                             "features.2"]


def test_checkpoint_dicts_and_layer_choice():
    net = Net()
    ckpt = {"state_dict": {"module." + k: v for k, v in net.state_dict().items()},
            "iteration": 700}
    df = cnntopo.describe(ckpt, layers=["features.0.weight", "2"], **FAST)
    assert list(df.layer_name) == ["features.0", "features.2"] and list(df.iteration) == [700,
                                                                                        700]
    assert df.primary_circle_fraction[0] == 1.0
    with pytest.raises(ValueError, match=r"layer 'feature.0' does not exist: the model has no "
                       r"conv layer of that name; its 7 conv layers are 1 features\.0, 2 "
                       r"features\.2, .*, 7 audio\."):
        cnntopo.describe(net, layers=["feature.0"], progress=False)
    with pytest.raises(ValueError, match="has no conv layer"):
        cnntopo.describe(nn.Sequential(nn.Linear(3, 3)), progress=False)
    with pytest.raises(ValueError, match="has no conv layer: no 4-D"):
        cnntopo.describe({"fc.weight": torch.zeros(3, 3)}, progress=False)


def test_what_cannot_be_read_says_why():
    lazy = nn.Sequential(nn.LazyConv2d(4, 5))
    df = cnntopo.describe(lazy, progress=False)
    assert list(df.status) == ["skipped"] and df.kernel[0] == "5x5"
    assert df.reason[0] == "uninitialised LazyConv2d (run a forward pass first)"
    with pytest.raises(ValueError, match="has no conv layer of kernel size 7; its kernels are "
                       "5x5"):
        cnntopo.describe(lazy, kernel_size=7, progress=False)
    with pytest.raises(ValueError, match="The 'source' parameter of describe must be .* got "
                       "'int'"):
        cnntopo.describe(42, progress=False)
    with pytest.raises(ValueError, match="points array must be 2-D"):
        cnntopo.describe(torch.zeros(3, 3, 3, 3), progress=False)


def test_density_filtration_needs_more_filters_than_k():
    df = cnntopo.describe(Net(), layers=[1, 6], k=20, p=0.5, **FAST)
    assert list(df.status) == ["ok", "skipped"]
    assert df.n_kept[0] == 30
    assert df.reason[1] == "too few filters: 3 not constant of 3 (at least 5)"
    assert (df.k[0], df.p[0]) == (20, 0.5)


def test_keras_model_lists_what_its_saved_file_lists(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = need_module("keras", "Keras 3 (cnntopo[keras])")
    from cnntopo.sources.weights import read_weights

    inner = keras.Sequential([keras.Input((12, 12, 2)), keras.layers.Conv2D(3, 3, name="c")],
                             name="inner")
    x = keras.Input((12, 12, 2))
    y = keras.layers.Conv2D(30, 5, name="c5")(inner(x))
    y = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(y)
    y = keras.layers.SeparableConv2D(4, 3, name="sep")(y)
    model = keras.Model(x, y)
    model.get_layer("c5").kernel.assign(
        _edges(90, 5).reshape(30, 3, 5, 5).transpose(2, 3, 1, 0).astype("float32"))
    live = live_conv_layers(model)
    path = tmp_path / "m.keras"
    model.save(path)
    saved = read_weights(path).tensors
    assert [c.name + ".weight" for c in live] == [k for k in saved if k.endswith(".weight")]
    for c in live:
        assert np.array_equal(np.asarray(c.weight), saved[c.name + ".weight"])
    df = cnntopo.describe(model, **FAST)
    assert list(df.layer_name) == ["inner/c", "c5", "dw", "sep/depthwise_kernel",
                                   "sep/pointwise_kernel"]
    assert list(df.status) == ["ok", "ok", "ok", "ok", "skipped"]
    assert df.primary_circle_fraction[1] == 1.0


def test_cli_formats_carry_the_same_columns(tmp_path, capsys):
    net = Net()
    path = tmp_path / "net.pt"  # as DistributedDataParallel and Lightning save it
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    args = ["describe", str(path), "--landmarks", "10", "--resamples", "3", "--quiet"]
    frame = cnntopo.describe(path, **FAST)
    assert list(frame.layer_name[:2]) == ["features.0", "features.2"]
    assert main(args + ["--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split(",") == list(frame.columns) and len(lines) == 1 + len(frame)
    assert main(args + ["--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["columns"] == list(frame.columns)
    records = doc["rows"]
    assert [list(r) for r in records] == [list(frame.columns)] * len(frame)
    assert records[4]["reason"] == "NaN weights (1 of 40 filters)"
    assert records[0]["primary_circle_fraction"] == 1.0 and records[2]["b1"] is None
    assert main(args + ["--layer", "features.4", "--layer", "1-2"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "circle (rand)" in table[0] and "b1 (conf)" in table[0]
    assert "1.00 (0.04)" in table[1] and table[1].endswith("primary circle")
    assert table[3].endswith("skipped: non-square kernel 1x7")
    assert frame_table(frame).splitlines()[1] == table[1]


def test_the_table_gives_the_nerve_with_its_confidence_where_there_is_one():
    from cnntopo.verdict.frame import frame_table

    row = {"layer": 1, "nerve_betti": [1, 1], "nerve_confidence": [1.0, 0.98],
           "reading": "primary circle", "status": "ok", "reason": None}
    assert "1 (1.00)  1 (0.98)" in frame_table(rows_to_frame([row]))
    bare = dict(row, nerve_confidence=None)
    assert "1,1" in frame_table(rows_to_frame([bare]))
