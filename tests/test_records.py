"""The JSON records the CLI and the runner both write: which rows the indices refer to."""

import numpy as np
import pytest

from cnntopo.cloud.prepare import prepare_points
from cnntopo.topology.mapper import mapper_graph
from cnntopo.topology.nerve import nerve_betti
from cnntopo.topology.significance import significant_bars
from cnntopo.topology.witness import lazy_witness_barcodes, long_bars
from cnntopo.verdict.records import barcodes_record, mapper_record


@pytest.fixture(scope="module")
def prepared():
    """A noisy circle of 200 points with 3 constant rows, density filtered to 100."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 200)
    raw = np.column_stack([np.cos(t), np.sin(t), np.zeros(200)]) + 0.05 * rng.normal(size=(200, 3))
    raw[[4, 50, 51]] = 7.0
    return raw, prepare_points(raw, k=5, p=0.5)


def test_barcodes_record_rows_are_input_rows(prepared):
    raw, prep = prepared
    bars = lazy_witness_barcodes(prep.points, 20, seed=0)
    sig = significant_bars(prep.points, 20, density=(5, 0.5), n_input=prep.n_points,
                           n_resamples=5, cache_dir=None)
    rec = barcodes_record(prep, bars, k=5, p=0.5, landmarks=20, seed=0, input_file="in.npy",
                          significance=sig)
    assert (rec["n_input"], rec["n_constant"], rec["n_points"], rec["n_kept"]) == (200, 3, 197, 99)
    assert rec["landmark_points"] == [int(i) for i in bars.landmarks]
    # input rows: normalising those rows of the input gives the landmark points
    from cnntopo.cloud.pointcloud import normalise

    unit, _ = normalise(raw[rec["landmark_rows"]])
    np.testing.assert_allclose(unit, prep.points[rec["landmark_points"]])
    assert not {4, 50, 51} & set(rec["landmark_rows"])
    assert rec["long_bars"] == [long_bars(d, scale=bars.scale) for d in bars.diagrams]
    assert rec["n_bars"] == [len(d) for d in bars.diagrams]
    assert sum(d is None for _, d in rec["diagrams"][0]) == 1
    assert rec["significant"] == [int(c) for c in sig.counts]
    assert rec["significant_confidence"] == [round(c, 4) for c in sig.confidence]
    assert rec["significant_undecided"] == [bool(u) for u in sig.undecided]
    assert rec["significance"]["method"] == sig.method
    assert rec["significance"]["thresholds"] == sig.thresholds
    assert (rec["input_file"], rec["filtered_file"], rec["maxdim"], rec["nu"]) == ("in.npy", None, 1, 1)


def test_mapper_record_members_are_input_rows_and_point_rows_map_back(prepared):
    _, prep = prepared
    graph = mapper_graph(prep.points, resolution=6, gain=3)
    rec = mapper_record(prep, graph, k=5, p=0.5, filtered_file="points.npy")
    assert rec["graph"]["point_rows"] == prep.rows.tolist()
    assert rec["graph"]["nerve_betti"] == nerve_betti(graph)
    assert rec["graph"]["n_kept"] == 99 and rec["graph"]["filtered_file"] == "points.npy"
    point_rows = np.asarray(rec["graph"]["point_rows"])
    for mine, theirs in zip(rec["nodes"], graph["nodes"]):
        assert mine["members"] == prep.rows[theirs["members"]].tolist()
        # members -> rows of the filtered cloud, as the module docstring says
        assert np.searchsorted(point_rows, mine["members"]).tolist() == list(theirs["members"])
    assert rec["links"] == graph["links"]
