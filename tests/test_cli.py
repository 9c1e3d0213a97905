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
    assert res["n_kept"] == 300   # p * n = 299.5, rounded half up
    assert len(res["diagrams"]) == 2
    # exactly one infinite H0 bar, written as null
    assert sum(d is None for _, d in res["diagrams"][0]) == 1
    assert res["long_bars"][1] == 1  # the primary circle
    assert 5 not in res["landmark_rows"]
    # landmark_rows are rows of POINTS.npy, landmark_points rows of the filtered cloud
    from cnntopo.cloud.pointcloud import normalise
    from cnntopo.cloud.prepare import prepare_points

    prep = prepare_points(np.load(circle_npy), k=20, p=0.5)
    assert res["landmark_rows"] == prep.rows[res["landmark_points"]].tolist()
    np.testing.assert_allclose(normalise(np.load(circle_npy)[res["landmark_rows"]])[0],
                               prep.points[res["landmark_points"]])
    assert res["input_file"] == "points.npy"


def test_barcodes_fewer_points_than_landmarks(circle_npy, tmp_path, capsys):
    out = tmp_path / "bars.json"
    assert main(["barcodes", str(circle_npy), "--k", "5", "--p", "0.05", "--landmarks", "100",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n_kept"] < 100
    assert res["all_points_are_landmarks"] is True
    assert res["n_landmarks"] == res["n_kept"]
    assert "every point is a landmark" in capsys.readouterr().err


def test_mapper_json_members_are_rows_of_input(circle_npy, tmp_path):
    out = tmp_path / "graph.json"
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--k", "20", "--p", "0.5", "--resolution", "10",
                 "--gain", "3", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    members = [set(n["members"]) for n in g["nodes"]]
    assert all(n["size"] == len(n["members"]) for n in g["nodes"])
    covered = set().union(*members)
    assert 5 not in covered  # the constant row never enters
    assert len(covered) == g["graph"]["n_kept"]
    assert max(covered) < 600
    links = {(l["source"], l["target"]) for l in g["links"]}
    ids = [n["id"] for n in g["nodes"]]
    expected = {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))
                if members[i] & members[j]}
    assert {tuple(sorted(l)) for l in links} == {tuple(sorted(l)) for l in expected}


def test_mapper_neighborhood_lens_and_min_cluster_fraction(circle_npy, tmp_path):
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.sources.arrays import load_points
    from cnntopo.topology.mapper import mapper_graph
    from cnntopo.topology.mapper_readings import theta_winding

    out = tmp_path / "graph.json"
    # no density filter: rho(20, 0.5) of 600 uniform angles leaves gaps in the circle
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--resolution", "10",
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
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--resolution", "5", "--gain", "2", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    assert g["graph"]["n_kept"] == 599


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
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--json", str(out)] + argv_tail) != 0
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
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 9)))
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    for path, needle in [(nan, "NaN"), (flat, "2-D"), (text, "not a NumPy"),
                         (tmp_path / "missing.npy", "does not exist"),
                         (folder, f"POINTS {str(folder)!r} is a directory; expected a .npy file"),
                         (empty, f"POINTS file {str(empty)!r} holds an empty array (shape (0, 9)); "
                                 f"expected an (n, d) array with at least one point")]:
        assert main(["barcodes", str(path), "--json", str(out)]) == 2
        err = capsys.readouterr().err
        assert needle in err, err
        assert "The 'the array" not in err and len(err.strip().splitlines()) == 1
        assert not out.exists()


# ---------------------------------------------------------------------------- colouring, layout

def _page_data(path):
    import re

    text = path.read_text()
    return json.loads(re.search(r'<script type="application/json" id="mapper-data">(.*?)</script>',
                                text, re.S).group(1).replace("\\u003c", "<"))


def _filtered_graph(g):
    """The JSON graph with members turned back into rows of the filtered cloud."""
    rows = np.asarray(g["graph"]["point_rows"])
    return {"nodes": [dict(n, members=np.searchsorted(rows, n["members"]).tolist()) for n in g["nodes"]],
            "links": g["links"]}


def test_mapper_png_and_html_use_one_layout_from_the_seed(circle_npy, tmp_path):
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.topology.layout import node_positions

    prep = prepare_points(np.load(circle_npy), k=20, p=0.5)
    pages = {}
    for seed in (0, 1):
        out, html, png = (tmp_path / f"g{seed}.{ext}" for ext in ("json", "html", "png"))
        assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--k", "20", "--p", "0.5", "--resolution", "8",
                     "--gain", "3", "--seed", str(seed), "--json", str(out), "--html", str(html),
                     "--png", str(png)]) == 0
        g = json.loads(out.read_text())
        data = _page_data(html)
        want = node_positions(_filtered_graph(g), prep.points, seed=seed)
        for n in data["nodes"]:
            assert (n["x"], n["y"]) == pytest.approx(want[n["id"]], abs=1e-5)
        # the page's members are rows of POINTS.npy, as in the JSON
        assert [n["members"] for n in data["nodes"]] == [n["members"] for n in g["nodes"]]
        pages[seed] = {n["id"]: (n["x"], n["y"]) for n in data["nodes"]}
    assert pages[0] != pages[1]


def test_mapper_color_by_network_file_and_theta(circle_npy, tmp_path, capsys):
    n = 600
    meta = {"network": np.arange(n) % 4, "iteration": np.full(n, 500), "out_map": np.arange(n)}
    np.savez(tmp_path / "points.meta.npz", **meta)
    values = np.linspace(0.0, 1.0, n)
    np.save(tmp_path / "score.npy", values)
    out, html = tmp_path / "g.json", tmp_path / "g.html"
    for by, want_of in [("network", lambda m: meta["network"][m].mean()),
                        ("iteration", lambda m: 500.0),
                        (str(tmp_path / "score.npy"), lambda m: values[m].mean())]:
        assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--k", "20", "--p", "0.5", "--resolution", "8",
                     "--gain", "3", "--colour-by", by, "--json", str(out), "--html", str(html)]) == 0
        data = _page_data(html)
        key = data["colourings"][0]["key"]
        assert [c["key"] for c in data["colourings"]] == [key, "size"]
        for node in data["nodes"]:   # members are input rows: the value is their mean
            assert node["values"][key] == pytest.approx(want_of(np.asarray(node["members"])), abs=1e-6)
    assert data["colourings"][0] == {"key": "score", "label": "score (mean)"}
    png = tmp_path / "theta.png"
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--resolution", "8", "--gain", "3",
                 "--colour-by", "theta", "--json", str(out), "--png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("by, needle", [
    ("network", "--colour-by network needs the filters' metadata other.meta.npz beside other.npy "
                "(`cnntopo filters` writes it)"),
    ("colour", "--colour-by must be one of size, theta, klein-distance, network, iteration or a .npy "
               "file of one value per input row; got 'colour'"),
    ("MISSING.npy", "--colour-by file 'MISSING.npy' does not exist"),
    ("SHORT.npy", "must hold one finite number per row of POINTS (shape (600,)); got dtype float64, "
                  "shape (5,)"),
])
def test_mapper_color_by_errors(circle_npy, tmp_path, capsys, by, needle):
    other = tmp_path / "other.npy"
    other.write_bytes(circle_npy.read_bytes())
    np.save(tmp_path / "SHORT.npy", np.zeros(5))
    by = str(tmp_path / by) if by.endswith(".npy") else by
    needle = needle.replace("'MISSING.npy'", repr(by))
    out = tmp_path / "g.json"
    assert main(["mapper", "--bootstrap", "0", str(other), "--resolution", "5", "--gain", "2", "--colour-by", by,
                 "--json", str(out), "--png", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_mapper_json_carries_the_nerve_betti_numbers(circle_npy, tmp_path, capsys):
    from test_experiments import _gudhi_betti  # an independent clique complex (GUDHI)

    out = tmp_path / "g.json"
    assert main(["mapper", "--bootstrap", "0", str(circle_npy), "--k", "20", "--p", "0.5", "--resolution", "5",
                 "--gain", "3", "--json", str(out)]) == 0
    g = json.loads(out.read_text())
    assert g["graph"]["nerve_betti"] == _gudhi_betti(g) == [1, 1]
    assert "nerve Betti numbers [1, 1]" in capsys.readouterr().out


def test_an_input_error_is_one_line_and_a_library_bug_keeps_its_traceback(circle_npy, tmp_path,
                                                                          capsys, monkeypatch):
    out = tmp_path / "b.json"
    assert main(["barcodes", str(circle_npy), "--k", "0", "--p", "0.5", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'k' parameter" in err and "Traceback" not in err

    def broken(*args, **kwargs):  # a ValueError from inside the library, not from the input
        raise ValueError("operands could not be broadcast together")
    monkeypatch.setattr("cnntopo.topology.witness.lazy_witness_barcodes", broken)
    with pytest.raises(ValueError, match="could not be broadcast"):
        main(["barcodes", str(circle_npy), "--json", str(out), "--no-significance"])
    assert not out.exists()
