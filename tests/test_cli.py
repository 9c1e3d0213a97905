"""The CLI contract: JSON shapes other tools read, and one-line errors with no output left."""

import json

import numpy as np
import pytest

from cnntopo.cli import main


def edge(angle):
    """A 3x3 edge filter at `angle` on the primary circle (cos t * e1 + sin t * e2)."""
    e1 = np.array([[1, 0, -1]] * 3, dtype=float)
    return (np.cos(angle) * e1 + np.sin(angle) * e1.T).ravel()


@pytest.fixture
def circle_npy(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 600)
    pts = np.stack([edge(a) for a in t]) + 0.05 * rng.standard_normal((600, 9))
    pts[5] = 3.0  # a constant row: dropped and counted
    path = tmp_path / "points.npy"
    np.save(path, pts)
    return path


def test_barcodes_json_contract(circle_npy, tmp_path, capsys):
    out = tmp_path / "bars.json"
    assert main(["barcodes", str(circle_npy), "--k", "20", "--p", "0.5", "--landmarks", "40",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n_input"] == 600
    assert res["n_constant"] == 1 and res["n_points"] == 599
    assert res["n_filtered"] == round(0.5 * 599) or res["n_filtered"] == int(0.5 * 599)
    assert len(res["diagrams"]) == 2
    # exactly one infinite H0 bar, written as null
    assert sum(d is None for _, d in res["diagrams"][0]) == 1
    assert res["long_bars"][1] == 1  # the primary circle
    assert 5 not in res["landmark_rows"]


def test_barcodes_fewer_points_than_landmarks(circle_npy, tmp_path, capsys):
    out = tmp_path / "bars.json"
    assert main(["barcodes", str(circle_npy), "--k", "5", "--p", "0.05", "--landmarks", "100",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n_filtered"] < 100
    assert res["all_points_are_landmarks"] is True
    assert res["n_landmarks"] == res["n_filtered"]
    assert "every point is a landmark" in capsys.readouterr().err


def test_mapper_json_members_are_rows_of_input(circle_npy, tmp_path):
    out = tmp_path / "graph.json"
    assert main(["mapper", str(circle_npy), "--k", "20", "--p", "0.5", "--resolution", "10",
                 "--gain", "3", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    members = [set(n["members"]) for n in g["nodes"]]
    assert all(n["size"] == len(n["members"]) for n in g["nodes"])
    covered = set().union(*members)
    assert 5 not in covered  # the constant row never enters
    assert len(covered) == g["graph"]["n_filtered"]
    assert max(covered) < 600
    links = {(l["source"], l["target"]) for l in g["links"]}
    ids = [n["id"] for n in g["nodes"]]
    expected = {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))
                if members[i] & members[j]}
    assert {tuple(sorted(l)) for l in links} == {tuple(sorted(l)) for l in expected}


def test_mapper_neighborhood_lens_and_min_cluster_fraction(circle_npy, tmp_path):
    from cnntopo.mapper import mapper_graph
    from cnntopo.mapper_readings import theta_winding
    from cnntopo.pipeline import load_points, prepare_points

    out = tmp_path / "graph.json"
    # no density filter: rho(20, 0.5) of 600 uniform angles leaves gaps in the circle
    assert main(["mapper", str(circle_npy), "--resolution", "10",
                 "--gain", "3", "--lens", "neighborhood", "--min-cluster-fraction", "0.3",
                 "--seed", "2", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    info = g["graph"]
    assert (info["lens"], info["min_cluster_fraction"], info["seed"]) == ("neighborhood", 0.3, 2)
    prep = prepare_points(load_points(circle_npy))
    ref = mapper_graph(prep.points, lens="neighborhood", resolution=10, gain=3, seed=2,
                       min_cluster_fraction=0.3)
    # the same graph, its members written as rows of POINTS.npy
    assert [n["members"] for n in g["nodes"]] == \
        [prep.rows[n["members"]].tolist() for n in ref["nodes"]]
    assert theta_winding(ref, prep.points).winding == 1


def test_no_density_filter_without_k_p(circle_npy, tmp_path):
    out = tmp_path / "graph.json"
    assert main(["mapper", str(circle_npy), "--resolution", "5", "--gain", "2", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    assert g["graph"]["n_filtered"] == 599


@pytest.mark.parametrize("argv_tail, needle", [
    (["--k", "600", "--p", "0.3"], "'k'"),
    (["--k", "10", "--p", "0"], "'p'"),
    (["--k", "10", "--p", "1.5"], "'p'"),
    (["--k", "10"], "'p'"),
    (["--landmarks", "0"], "landmarks"),
    (["--nu", "3"], "nu"),
])
def test_barcodes_bad_arguments(circle_npy, tmp_path, capsys, argv_tail, needle):
    out = tmp_path / "bars.json"
    assert main(["barcodes", str(circle_npy), "--json", str(out)] + argv_tail) != 0
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [circle_npy]


@pytest.mark.parametrize("argv_tail, needle", [
    (["--resolution", "0", "--gain", "3"], "resolution"),
    (["--resolution", "10", "--gain", "1"], "gain"),
    (["--resolution", "10", "--gain", "3", "--min-cluster-fraction", "-1"], "min_cluster_fraction"),
])
def test_mapper_bad_arguments(circle_npy, tmp_path, capsys, argv_tail, needle):
    out = tmp_path / "graph.json"
    assert main(["mapper", str(circle_npy), "--json", str(out)] + argv_tail) != 0
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [circle_npy]


def test_bad_point_files(tmp_path, capsys):
    out = tmp_path / "bars.json"
    nan = tmp_path / "nan.npy"
    a = np.random.default_rng(0).standard_normal((50, 9))
    a[3, 2] = np.nan
    np.save(nan, a)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.arange(9.0))
    text = tmp_path / "text.npy"
    text.write_text("not an array")
    for path, needle in [(nan, "NaN"), (flat, "2-D"), (text, "not a NumPy"), (tmp_path / "missing.npy", "does not exist")]:
        assert main(["barcodes", str(path), "--json", str(out)]) == 2
        err = capsys.readouterr().err
        assert needle in err, err
        assert not out.exists()
