"""The atlas of ImageNet CNNs: its settings, rows, table and picture."""

import json

import numpy as np
import pytest
from conftest import cached_weights

from cnntopo.cli import main
from cnntopo.topology.shape import SHAPES
from cnntopo.verdict.analysis import auto_landmarks
from cnntopo.verdict.atlas import ATLAS_MODELS, atlas, atlas_density, atlas_markdown
from cnntopo.verdict.table import ROW_KEYS, SHAPE_KEYS


@pytest.mark.parametrize("n, expected", [(32, (3, 0.3)), (192, (19, 0.3)), (1_000, (100, 0.3)),
                                         (262_144, (100, 0.3)), (5, (2, 0.3))])
def test_atlas_density(n, expected):
    assert atlas_density(n) == expected


@pytest.mark.parametrize("kept, expected", [(9, 10), (58, 14), (400, 100), (78_643, 100)])
def test_auto_landmarks(kept, expected):
    assert auto_landmarks(kept) == expected


def test_efficientnet_atlas_rows_table_and_cli(tmp_path, capsys):
    cached_weights("efficientnet-lite0")
    result = atlas(["efficientnet-lite0"], n_resamples=4, progress=False)
    (model,) = result["models"]
    assert model["label"] == "EfficientNet-Lite0" and model["n_layers"] == 8
    rows = result["rows"]
    assert [r["layer"] for r in rows] == list(range(1, 9))
    assert rows[0]["depth"] == 0.0 and rows[-1]["depth"] == 1.0
    assert np.all(np.diff([r["depth"] for r in rows]) > 0)
    # the stem (32 x 3) and the seven 3x3 depthwise convs (efficientnet_lite0_conv3x3)
    assert [r["n_filters"] for r in rows] == [96, 32, 96, 144, 240, 480, 480, 1152]
    for r in rows:
        assert set(ROW_KEYS) <= set(r)
        assert set(SHAPE_KEYS) <= set(r) and r["shape"] in SHAPES  # issue 23
        k, p = atlas_density(r["n_filters"])
        assert (r["k"], r["p"]) == (k, p)
        assert r["n_landmarks"] == auto_landmarks(r["n_kept"])
    table = atlas_markdown(result).splitlines()
    assert len(table) == 2 + 8 and table[2].startswith("| EfficientNet-Lite0 | 1 | `_conv_stem` |")

    out = tmp_path / "atlas"
    assert main(["atlas", "--models", "efficientnet-lite0", "--resamples", "4", "--out", str(out),
                 "--quiet"]) == 0
    assert "atlas of 8 layers" in capsys.readouterr().out
    saved = json.loads((out / "atlas.json").read_text())
    assert [r["reading"] for r in saved["rows"]] == [r["reading"] for r in rows]
    assert (out / "atlas.md").read_text().splitlines() == table
    assert (out / "atlas.png").stat().st_size > 10_000


def test_atlas_refuses_an_unknown_model():
    with pytest.raises(ValueError, match="must name models of the atlas"):
        atlas(["alexnet"], progress=False)
    assert len(ATLAS_MODELS) == 6


def test_plot_atlas_draws_a_line_per_model():
    from cnntopo.viz.plots import plot_atlas

    rows = [{"model": m, "depth": d, "primary_circle_fraction": 0.5 + 0.1 * i,
             "off_model_fraction": 0.1 * i, "undecided": [False, d == 0.0]}
            for i, m in enumerate(["A", "B"]) for d in (0.0, 0.5, 1.0)]
    rows.append({"model": "C", "depth": 0.0, "primary_circle_fraction": None,
                 "off_model_fraction": None, "undecided": [False, False]})  # not 3x3: left out
    fig = plot_atlas(rows, title="t")
    top, bottom = fig.axes[:2]
    lines = [ln for ln in top.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 3]
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), [0.6, 0.6, 0.6])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["A", "B", "C", "too few points to tell"]
