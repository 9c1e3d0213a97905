"""Tests of cnntopo.viz.plots and cnntopo.viz.graph_html: what is drawn, not only that it ran."""

from __future__ import annotations

import json
import struct
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import need_program
from matplotlib import colormaps
from matplotlib.colors import rgb_to_hsv
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnntopo.topology.layout import (
    MapperLayout,
    choose_thumbnail_nodes,
    mapper_layout,
    mean_filters,
    node_positions,
)
from cnntopo.viz.colours import node_colours, node_colours_from_values
from cnntopo.viz.graph_html import mapper_html, write_mapper_html
from cnntopo.viz.plots import (
    plot_barcodes,
    plot_evolution_grid,
    plot_klein_density,
    plot_mapper,
    save_figure,
)

# --------------------------------------------------------------------------- helpers

def circle_filters(n=300, noise=0.1, seed=0):
    """Noisy primary circle of 3x3 edge filters, mean-centred and unit norm, and angles."""
    rng = np.random.default_rng(seed)
    e1 = np.array([[1.0, 0.0, -1.0]] * 3)
    e2 = e1.T
    t = rng.uniform(0, 2 * np.pi, n)
    x = (np.cos(t)[:, None] * e1.ravel() + np.sin(t)[:, None] * e2.ravel()
         + noise * rng.normal(size=(n, 9)))
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, t


def angle_bin_graph(t, bins=30, overlap=0.75):
    """Stand-in Mapper graph: overlapping angle bins, each linked to the next."""
    width = 2 * np.pi / bins
    nodes, links = [], []
    for b in range(bins):
        d = np.angle(np.exp(1j * (t - b * width)))
        m = np.flatnonzero(np.abs(d) < overlap * width)
        nodes.append({"id": b, "members": m.tolist(), "size": len(m)})
        links.append({"source": b, "target": (b + 1) % bins})
    return {"directed": False, "multigraph": False, "graph": {}, "nodes": nodes,
            "links": links}


def graph_of(members, links=()):
    return {"directed": False, "multigraph": False, "graph": {},
            "nodes": [{"id": i, "members": list(m), "size": len(m)}
                      for i, m in enumerate(members)],
            "links": [{"source": a, "target": b} for a, b in links]}


@pytest.fixture(scope="module")
def circle():
    x, t = circle_filters()
    return angle_bin_graph(t), x


def bars_of(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


# --------------------------------------------------------------------------- barcodes

DIAGRAMS = [np.array([[0.0, 0.2], [0.0, np.inf], [0.0, 0.5], [0.0, 0.1], [0.0, 0.35]]),
            np.array([[0.3, 0.9], [0.4, 0.45], [0.2, 0.6]]),
            np.zeros((0, 2))]


def test_barcodes_one_panel_per_dimension_one_bar_per_interval():
    fig = plot_barcodes(DIAGRAMS)
    assert len(fig.axes) == 3
    assert [len(bars_of(ax)) for ax in fig.axes] == [5, 3, 0]
    assert [ax.get_ylabel() for ax in fig.axes] == ["$H_0$", "$H_1$", "$H_2$"]


def test_barcodes_sorted_by_length_longest_on_top():
    fig = plot_barcodes(DIAGRAMS)
    for ax, dgm in zip(fig.axes[:2], DIAGRAMS):
        rects = sorted(bars_of(ax), key=lambda r: -r.get_y())  # top first
        got = [(r.get_x(), r.get_x() + r.get_width()) for r in rects]
        finite = dgm[np.isfinite(dgm[:, 1])]
        want = sorted(map(tuple, finite), key=lambda b: -(b[1] - b[0]))
        n_inf = len(dgm) - len(finite)
        assert np.allclose(got[n_inf:], want)


def test_barcodes_infinite_bars_reach_the_axis_limit():
    fig = plot_barcodes(DIAGRAMS)
    ax = fig.axes[0]
    right = ax.get_xlim()[1]
    ends = sorted(r.get_x() + r.get_width() for r in bars_of(ax))
    assert ends[-1] == pytest.approx(right)
    assert ends[-2] == pytest.approx(0.5) and right > 0.5
    fig = plot_barcodes(DIAGRAMS, xmax=2.0)
    assert max(r.get_x() + r.get_width() for r in bars_of(fig.axes[0])) == pytest.approx(2.0)


def test_barcodes_long_bars_highlighted_and_max_bars():
    fig = plot_barcodes(DIAGRAMS, long_counts=[1, 2])
    for ax, n_long in zip(fig.axes, [1, 2]):
        rects = sorted(bars_of(ax), key=lambda r: -r.get_y())
        reds = [r.get_facecolor()[0] > 0.7 for r in rects]
        assert reds == [True] * n_long + [False] * (len(rects) - n_long)
    fig = plot_barcodes(DIAGRAMS, max_bars=2)
    ends = sorted(r.get_x() + r.get_width() for r in bars_of(fig.axes[0]))
    assert len(ends) == 2 and ends[0] == pytest.approx(0.5)
    assert "(2 of 5)" in fig.axes[0].get_ylabel()


def test_barcodes_reuses_a_given_figure():
    fig = Figure()
    fig.add_subplot()
    assert plot_barcodes(DIAGRAMS[:2], fig=fig) is fig
    assert len(fig.axes) == 2


@pytest.mark.parametrize("bad, match", [
    ([np.zeros((3, 3))], r"diagrams\[0\] has shape \(3, 3\)"),
    ([np.array([[0.5, 0.2]])], r"deaths >= births"),
    ([np.array([[np.nan, 0.2]])], r"diagrams\[0\]"),
    ([], r"at least one"),
])
def test_barcodes_rejects_bad_diagrams(bad, match):
    with pytest.raises(ValueError, match=match):
        plot_barcodes(bad)


def test_barcodes_rejects_a_bare_array():
    with pytest.raises(TypeError, match="wrap it in a list"):
        plot_barcodes(np.array([[0.0, 1.0]]))


# --------------------------------------------------------------------------- mean filters

def test_mean_filters_exact_values():
    pts = np.arange(5 * 4, dtype=float).reshape(5, 4) ** 1.5
    g = graph_of([[0, 1], [1, 2], [4]], links=[(0, 1)])
    got = mean_filters(g, pts, shape=(2, 2))
    want = np.stack([pts[[0, 1]].mean(0), pts[[1, 2]].mean(0), pts[4]]).reshape(3, 2, 2)
    np.testing.assert_array_equal(got, want)
    # radius 1: union of the node's and its neighbours' members, each point once
    got = mean_filters(g, pts, [0, 2], shape=(2, 2), radius=1)
    np.testing.assert_array_equal(got[0], pts[[0, 1, 2]].mean(0).reshape(2, 2))
    np.testing.assert_array_equal(got[1], pts[4].reshape(2, 2))


def test_mean_filters_reshape_is_row_major_h_by_w():
    pts = np.arange(6, dtype=float)[None]
    got = mean_filters(graph_of([[0]]), pts, shape=(2, 3))
    np.testing.assert_array_equal(got[0], [[0, 1, 2], [3, 4, 5]])


def test_mean_filters_errors():
    g = graph_of([[0, 1]])
    with pytest.raises(ValueError, match=r"\(n, 9\) array for shape=\(3, 3\); got .*\(2, 4\)"):
        mean_filters(g, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="members outside"):
        mean_filters(graph_of([[0, 7]]), np.zeros((2, 9)))
    with pytest.raises(ValueError, match="name nodes of the graph; got 5"):
        mean_filters(g, np.zeros((2, 9)), [5])
    with pytest.raises(ValueError, match="'shape' parameter"):
        mean_filters(g, np.zeros((2, 9)), shape=(3, 0))
    with pytest.raises(ValueError, match="at least one member"):
        mean_filters(graph_of([[]]), np.zeros((2, 9)))


# --------------------------------------------------------------------------- Mapper figure

def test_mapper_node_colours_follow_size(circle):
    g, x = circle
    fig = plot_mapper(g, x)
    d = fig.mapper_drawing
    sizes = {n["id"]: n["size"] for n in g["nodes"]}
    drawn = np.array([sizes[i] for i in d.drawn_node_ids], dtype=float)
    assert len(np.unique(drawn)) > 3
    fig.draw_without_rendering()  # colours are mapped from the sizes at draw time
    rgba = d.nodes.get_facecolors()
    assert len(rgba) == len(g["nodes"])
    # independent reference: jet of the size scaled to [0, 1]
    want = colormaps["jet"]((drawn - drawn.min()) / (drawn.max() - drawn.min()))
    np.testing.assert_allclose(rgba, want, atol=1e-6)
    # hue falls from blue (2/3) to red (0) as size grows: monotone in size
    hue = rgb_to_hsv(rgba[:, :3])[:, 0]
    order = np.argsort(drawn, kind="stable")
    assert np.all(np.diff(hue[order]) <= 1e-9)
    assert hue[np.argmin(drawn)] == pytest.approx(2 / 3, abs=1e-3)
    assert hue[np.argmax(drawn)] == pytest.approx(0.0, abs=1e-3)


def test_mapper_colorbar_is_labelled(circle):
    fig = plot_mapper(*circle)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "points per node" in labels


def test_mapper_thumbnails_are_mean_filters_outside_the_graph(circle):
    g, x = circle
    fig = plot_mapper(g, x, n_thumbnails=12)
    d = fig.mapper_drawing
    assert len(d.thumbnail_node_ids) == 12
    want = mean_filters(g, x, d.thumbnail_node_ids, radius=1)
    np.testing.assert_array_equal(d.thumbnails, want)
    images = fig.axes[0].get_images()
    assert len(images) == 12
    for im, thumb in zip(images, want):
        np.testing.assert_array_equal(np.asarray(im.get_array()), thumb)
    ext = np.array(d.thumbnail_axes_extents)  # x0, x1, y0, y1
    # nearest point of each box to the origin lies outside the unit disc of the graph
    nx_ = np.clip(0, ext[:, 0], ext[:, 1])
    ny_ = np.clip(0, ext[:, 2], ext[:, 3])
    assert np.all(np.hypot(nx_, ny_) > 1.0)
    for i in range(len(ext)):
        for j in range(i + 1, len(ext)):
            apart = (ext[i, 1] <= ext[j, 0] or ext[j, 1] <= ext[i, 0]
                     or ext[i, 3] <= ext[j, 2] or ext[j, 3] <= ext[i, 2])
            assert apart, (i, j)


def test_mapper_thumbnails_show_the_circle_in_order(circle):
    """Around the ring the thumbnails' edge angle turns once, like the filters do."""
    g, x = circle
    d = plot_mapper(g, x, n_thumbnails=8).mapper_drawing
    e1 = np.array([[1.0, 0, -1]] * 3)
    ang = np.array([np.arctan2((th * e1.T).sum(), (th * e1).sum()) for th in d.thumbnails])
    ext = np.array(d.thumbnail_axes_extents)
    slot = np.arctan2(ext[:, 2:].mean(1), ext[:, :2].mean(1))
    turns = np.angle(np.exp(1j * np.diff(ang[np.argsort(slot)], append=ang[np.argsort(slot)][0])))
    assert abs(abs(turns.sum()) - 2 * np.pi) < 1e-6


def test_circle_graph_is_laid_out_as_a_circle(circle):
    g, x = circle
    pos = node_positions(g, x)
    xy = np.array([pos[n["id"]] for n in g["nodes"]])
    r = np.hypot(*xy.T)
    assert r.max() == pytest.approx(1.0) and r.min() > 0.7
    theta = np.unwrap(np.arctan2(xy[:, 1], xy[:, 0]))
    steps = np.diff(theta)
    assert np.all(steps > 0) or np.all(steps < 0)  # nodes keep their order round the ring
    assert pos == node_positions(g, x)  # deterministic


def test_mapper_handles_one_node_no_links_and_components():
    x, _ = circle_filters(20)
    for g in (graph_of([[0, 1, 2]]),
              graph_of([[0, 1], [2, 3], [4]]),
              graph_of([[0, 1], [1, 2], [5, 6], [6, 7], [10]], links=[(0, 1), (2, 3)])):
        fig = plot_mapper(g, x, n_thumbnails=12)
        d = fig.mapper_drawing
        xy = np.array(list(d.positions.values()))
        assert np.all(np.isfinite(xy)) and np.all(np.hypot(*xy.T) <= 1 + 1e-9)
        assert len(d.drawn_node_ids) == len(g["nodes"])
        assert 1 <= len(d.thumbnail_node_ids) <= len(g["nodes"])


def test_choose_thumbnail_nodes_picks_one_outermost_node_per_sector():
    # four big nodes on the axes, small ones near the centre, one big inner node
    pos = {0: (0, 1), 1: (-1, 0), 2: (0, -1), 3: (1, 0), 4: (0.1, 0.1), 5: (0.2, 0.5)}
    g = graph_of([[0] * 5, [0] * 5, [0] * 5, [0] * 5, [0], [0] * 5])
    assert choose_thumbnail_nodes(g, pos, 4) == [0, 1, 2, 3]
    assert choose_thumbnail_nodes(g, pos, 0) == []


def test_mapper_draws_into_a_given_axes(circle):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_mapper(*circle, ax=ax, colorbar=False, title="t") is fig
    assert ax.get_title() == "t" and len(fig.axes) == 1


def test_mapper_errors_name_the_argument(circle):
    g, x = circle
    with pytest.raises(ValueError, match=r"'points' parameter of plot_mapper .*shape=\(3, 3\)"):
        plot_mapper(g, x[:, :8])
    with pytest.raises(ValueError, match="unknown node 99"):
        plot_mapper({"nodes": g["nodes"], "links": [{"source": 0, "target": 99}]}, x)
    with pytest.raises(TypeError, match="node-link dict"):
        plot_mapper([1, 2], x)
    with pytest.raises(ValueError, match="'layout' parameter"):
        node_positions(g, x, layout="circular")


def test_evolution_grid_layout_and_labels(circle):
    g, x = circle
    small = angle_bin_graph(circle_filters()[1], bins=8)
    fig = plot_evolution_grid([[(g, x), None], [(small, x), (g, x)]],
                              row_labels=["layer 1", "layer 2"], col_labels=["100", "200"])
    grid = fig.mapper_drawings
    assert grid[0][1] is None and len(grid[1][0].drawn_node_ids) == 8
    cells = [ax for ax in fig.axes if hasattr(ax, "mapper_drawing")]
    assert len(cells) == 3
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"layer 1", "layer 2"} <= texts
    assert [fig.axes[0].get_title(), fig.axes[1].get_title()] == ["100", "200"]
    with pytest.raises(ValueError, match="one label per row \\(2\\); got 1"):
        plot_evolution_grid([[None], [None]], row_labels=["a"], col_labels=["b"])


# --------------------------------------------------------------------------- saving

def test_save_figure_png_size_and_no_temp_file(tmp_path):
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "sub" / "f.png", dpi=50)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (200, 150)
    assert [p.name for p in out.parent.iterdir()] == ["f.png"]


def test_save_figure_pdf_svg_and_bad_suffix(tmp_path):
    fig = plot_barcodes(DIAGRAMS)
    assert save_figure(fig, tmp_path / "b.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in save_figure(fig, tmp_path / "b.svg").read_text()
    with pytest.raises(ValueError, match=r"\.png, \.pdf or \.svg; got 'b\.jpg'"):
        save_figure(fig, tmp_path / "b.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.pdf", "b.svg"]


# --------------------------------------------------------------------------- HTML

class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.scripts = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append([dict(attrs), ""])

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "script":
            self.scripts[-1][1] += data


def parse(page):
    p = _Page()
    p.feed(page)
    p.close()
    return p


def test_html_one_element_per_node_and_link(circle):
    g, x = circle
    p = parse(mapper_html(g, x))
    circles = [a for t, a in p.tags if t == "circle" and "node" in a.get("class", "")]
    assert sorted(int(a["data-id"]) for a in circles) == [n["id"] for n in g["nodes"]]
    assert {int(a["data-id"]): int(a["data-size"]) for a in circles} == \
        {n["id"]: n["size"] for n in g["nodes"]}
    assert sum(t == "line" and a.get("class") == "link" for t, a in p.tags) == len(g["links"])
    assert any(a.get("id") == "tooltip" for _, a in p.tags)


def test_html_json_block_round_trips(circle):
    g, x = circle
    p = parse(mapper_html(g, x, title="</script><b>x</b>"))
    blocks = [s for a, s in p.scripts if a.get("type") == "application/json"]
    assert len(blocks) == 1 and len(p.scripts) == 2
    data = json.loads(blocks[0])
    assert data["title"] == "</script><b>x</b>"
    assert [n["id"] for n in data["nodes"]] == [n["id"] for n in g["nodes"]]
    assert [n["size"] for n in data["nodes"]] == [n["size"] for n in g["nodes"]]
    assert [n["members"] for n in data["nodes"]] == [n["members"] for n in g["nodes"]]
    means = np.array([n["mean"] for n in data["nodes"]])
    np.testing.assert_allclose(means, mean_filters(g, x).reshape(len(g["nodes"]), 9),
                               atol=1e-5)
    assert sorted(map(tuple, data["links"])) == \
        sorted((lk["source"], lk["target"]) for lk in g["links"])


def test_html_is_self_contained_and_escapes_the_title(circle):
    page = mapper_html(*circle, title="a <b> & c")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and " src=" not in page
    assert "<title>a &lt;b&gt; &amp; c</title>" in page


def test_html_reuses_the_figure_layout(circle):
    g, x = circle
    pos = plot_mapper(g, x).mapper_drawing.positions
    data = json.loads([s for a, s in parse(mapper_html(g, x, positions=pos)).scripts
                       if a.get("type") == "application/json"][0])
    for n in data["nodes"]:
        assert (n["x"], n["y"]) == pytest.approx(pos[n["id"]], abs=1e-5)


def test_write_mapper_html_atomic(tmp_path, circle):
    out = write_mapper_html(tmp_path / "g.html", *circle, title="T")
    assert out.read_text() == mapper_html(*circle, title="T")
    assert [p.name for p in tmp_path.iterdir()] == ["g.html"]


_DOM_STUB = r"""
function El(id) {
  this.id = id; this.attrs = {}; this.handlers = {}; this.style = {}; this.innerHTML = "";
  var cls = new Set();
  this.classList = {add: function (c) { cls.add(c); }, remove: function (c) { cls.delete(c); },
                    contains: function (c) { return cls.has(c); }};
}
El.prototype.addEventListener = function (k, f) { this.handlers[k] = f; };
El.prototype.getAttribute = function (k) { return this.attrs[k]; };
El.prototype.setAttribute = function (k, v) { this.attrs[k] = String(v); };
El.prototype.getBoundingClientRect = function () { return {left: 0, top: 0, width: 100, height: 100}; };
var els = {graph: new El("graph"), tooltip: new El("tooltip"), "mapper-data": new El("d")};
els["mapper-data"].textContent = DATA;
globalThis.document = {getElementById: function (i) { return els[i]; }};
globalThis.window = new El("window");
"""

_DOM_DRIVE = r"""
var node = new El("c"); node.classList.add("node"); node.setAttribute("data-id", NODE_ID);
var svg = els.graph, tip = els.tooltip;
svg.handlers.mouseover({target: node, clientX: 10, clientY: 20});
var shown = {display: tip.style.display, html: tip.innerHTML, hover: node.classList.contains("hover")};
svg.handlers.wheel({clientX: 50, clientY: 50, deltaY: 1, preventDefault: function () {}});
var vb = svg.getAttribute("viewBox");
svg.handlers.mouseout({target: node});
console.log(JSON.stringify({shown: shown, hidden: tip.style.display, viewBox: vb}));
"""


def test_html_script_shows_tooltip_with_mean_filter(circle):
    need_program("node", "running the page's script")
    """Run the page's own script under node with a minimal DOM stub and hover a node."""
    g, x = circle
    p = parse(mapper_html(g, x))
    data = [s for a, s in p.scripts if a.get("type") == "application/json"][0]
    script = [s for a, s in p.scripts if "type" not in a][0]
    node = g["nodes"][3]
    js = (f"var DATA = {json.dumps(data)}; var NODE_ID = '{node['id']}';\n" + _DOM_STUB
          + script + _DOM_DRIVE)
    run = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["shown"]["display"] == "block" and out["shown"]["hover"]
    assert f"node {node['id']}</b><br>{node['size']} points" in out["shown"]["html"]
    assert out["shown"]["html"].count("<rect ") == 9
    assert out["hidden"] == "none"
    vb = [float(v) for v in out["viewBox"].split()]
    assert vb[2] == pytest.approx(2.3 * 1.15)  # zoomed out about the centre
    assert vb[0] + vb[2] / 2 == pytest.approx(0.0)


# --------------------------------------------------------------------------- layout, colours

def test_mapper_layout_is_the_positions_and_thumbnails_of_one_seed(circle):
    g, x = circle
    lay = mapper_layout(g, x, seed=3, n_thumbnails=8)
    assert lay.positions == node_positions(g, x, seed=3)
    assert lay.thumbnail_node_ids == choose_thumbnail_nodes(g, lay.positions, 8)
    np.testing.assert_array_equal(lay.thumbnails,
                                  mean_filters(g, x, lay.thumbnail_node_ids, radius=1))
    assert mapper_layout(g, x, seed=4).positions != lay.positions
    # the figure draws it as given: same positions, same thumbnails
    d = plot_mapper(g, x, layout=lay, seed=99, n_thumbnails=2).mapper_drawing
    assert d.positions is lay.positions and d.thumbnail_node_ids == lay.thumbnail_node_ids
    with pytest.raises(ValueError, match=r"'layout' parameter of plot_mapper must place every "
                                         r"node"):
        plot_mapper(g, x, layout=MapperLayout({}, [], np.empty((0, 3, 3))))


def test_node_colours_are_means_and_circular_means_of_members():
    from scipy.stats import circmean

    g = graph_of([[0, 1], [1, 2, 3], [4]])
    v = np.array([0.1, 2 * np.pi - 0.1, 1.0, 2.0, 5.0])
    plain = node_colours_from_values(g, v, label="v")
    np.testing.assert_allclose(plain.values, [np.pi, (2 * np.pi + 2.9) / 3, 5.0])
    assert (plain.vmin, plain.vmax, plain.cmap, plain.circular) == \
        (pytest.approx((2 * np.pi + 2.9) / 3), 5.0, "viridis", False)
    circ = node_colours_from_values(g, v, label="angle", circular=True)
    want = [circmean(v[m]) for m in ([0, 1], [1, 2, 3], [4])]
    np.testing.assert_allclose(circ.values, want, atol=1e-12)
    assert abs(np.angle(np.exp(1j * circ.values[0]))) < 1e-12   # 0.1 and -0.1 give 0, not pi
    assert np.all((circ.values >= 0) & (circ.values < 2 * np.pi))
    assert (circ.vmin, circ.vmax, circ.cmap) == (0.0, 2 * np.pi, "twilight")
    size = node_colours(g)
    np.testing.assert_array_equal(size.values, [2, 3, 1])
    assert (size.label, size.cmap, size.integer) == ("points per node", "jet", True)
    with pytest.raises(ValueError, match=r"one value per point \(3 given\), but node 1 has member 3"):
        node_colours_from_values(g, v[:3], label="v")
    with pytest.raises(ValueError, match=r"'by' parameter of node_colours must be one of size, "
                                         r"theta, klein-distance, network, iteration"):
        node_colours(g, "colour")
    with pytest.raises(ValueError, match=r"by='network'.* needs the 'meta' parameter"):
        node_colours(g, "network")


def test_named_colourings_theta_distance_network(circle):
    from scipy.stats import circmean

    from cnntopo.topology.klein import klein_coordinates

    g, x = circle
    members = [np.asarray(n["members"]) for n in g["nodes"]]
    theta = node_colours(g, "theta", points=x)
    t = np.mod(np.arctan2(x @ (np.array([[1.0, 1, 1], [0, 0, 0], [-1, -1, -1]]).ravel()),
                          x @ (np.array([[1.0, 0, -1]] * 3).ravel())), 2 * np.pi)
    np.testing.assert_allclose(theta.values, [circmean(t[m]) for m in members], atol=1e-9)
    # angle-bin graph: node b gathers angles near b * 2 pi / 30
    centre = np.arange(30) * 2 * np.pi / 30
    assert np.all(np.abs(np.angle(np.exp(1j * (theta.values - centre)))) < 0.1)
    dist = node_colours(g, "klein-distance", points=x)
    np.testing.assert_allclose(dist.values, [klein_coordinates(x)[2][m].mean() for m in members])
    net = node_colours(g, "network", meta={"network": np.arange(len(x)) % 3})
    np.testing.assert_allclose(net.values, [np.mean(m % 3) for m in members])
    assert net.integer and net.label == "network index (mean)"


def test_mapper_png_coloured_by_theta_has_a_named_cyclic_colour_bar(circle):
    g, x = circle
    colours = node_colours(g, "theta", points=x)
    fig = plot_mapper(g, x, colours=colours)
    d = fig.mapper_drawing
    fig.draw_without_rendering()
    by_id = dict(zip([n["id"] for n in g["nodes"]], colours.values))
    drawn = np.array([by_id[i] for i in d.drawn_node_ids])
    want = colormaps["twilight"](drawn / (2 * np.pi))
    np.testing.assert_allclose(d.nodes.get_facecolors(), want, atol=1e-6)
    bar = [ax for ax in fig.axes if ax.get_ylabel() == colours.label]
    assert len(bar) == 1
    assert [t.get_text() for t in bar[0].get_yticklabels()] == ["0", "π/2", "π", "3π/2", "2π"]
    with pytest.raises(ValueError, match=r"'colours' parameter of plot_mapper must hold one "
                                         r"value per node \(30\); got 2"):
        plot_mapper(g, x, colours=node_colours(graph_of([[0], [1]])))


def test_evolution_grid_draws_the_layouts_it_is_given(circle):
    g, x = circle
    lay = mapper_layout(g, x, seed=5, n_thumbnails=3)
    fig = plot_evolution_grid([[(g, x, lay), (g, x)]], row_labels=["r"], col_labels=["a", "b"],
                              n_thumbnails=3)
    given, computed = fig.mapper_drawings[0]
    assert given.positions is lay.positions and given.thumbnail_node_ids == lay.thumbnail_node_ids
    assert computed.positions == node_positions(g, x, seed=0)


# --------------------------------------------------------------------------- Klein square

def test_klein_density_draws_the_counts_the_gluing_and_the_circle():
    from matplotlib.lines import Line2D

    counts = np.arange(18 * 36).reshape(18, 36) % 7
    te, pe = np.linspace(0, np.pi, 19), np.linspace(0, 2 * np.pi, 37)
    fig = plot_klein_density(counts, te, pe, n_total=1000, radius=0.5, title="t")
    ax = fig.axes[0]
    (im,) = ax.images
    np.testing.assert_array_equal(np.asarray(im.get_array()), counts.T)   # phi up, theta right
    assert im.get_extent() == [0.0, np.pi, 0.0, 2 * np.pi]
    dashed = sorted(line.get_ydata()[0] for line in ax.lines
                    if isinstance(line, Line2D) and line.get_linestyle() == "--")
    np.testing.assert_allclose(dashed, [0, np.pi, 2 * np.pi])   # the primary circle
    arrows = [a.xy for a in ax.texts if hasattr(a, "arrow_patch") and a.arrow_patch]
    # two heads on the bottom and on the top edge (direct), one on each side (flipped):
    # at glued points, (0, 3 pi / 4) pointing up and (pi, pi / 4) pointing down
    assert len(arrows) == 6
    side = sorted((round(x, 6), round(y, 6)) for x, y in arrows if x in (0.0, np.pi))
    assert side == [(0.0, round(3 * np.pi / 4 + 0.06, 6)), (round(np.pi, 6), round(np.pi / 4 - 0.06, 6))]
    assert "of 1,000 filters lie within 0.5 of the model" in ax.get_title()
    with pytest.raises(ValueError, match=r"'theta_edges' and 'phi_edges' parameters of "
                                         r"plot_klein_density must have one more entry"):
        plot_klein_density(counts, te[:-1], pe)


# --------------------------------------------------------------------------- HTML colourings

def test_html_offers_every_colouring_and_maps_rows(circle):
    g, x = circle
    offered = [node_colours(g, "theta", points=x), node_colours(g)]
    rows = np.arange(len(x)) * 2 + 7
    page = mapper_html(g, x, colours=offered, rows=rows)
    p = parse(page)
    data = json.loads([s for a, s in p.scripts if a.get("type") == "application/json"][0])
    assert [c["key"] for c in data["colourings"]] == ["theta", "size"]
    assert [a["value"] for t, a in p.tags if t == "option"] == ["theta", "size"]
    scales = [a for t, a in p.tags if t == "div" and "scale" in a.get("class", "").split()]
    assert [(a["data-key"], "shown" in a["class"]) for a in scales] == [("theta", True),
                                                                        ("size", False)]
    tw, jet = colormaps["twilight"], colormaps["jet"]
    hexes = lambda cm, v: "#" + "".join(f"{int(round(255 * c)):02x}" for c in cm(v)[:3])  # noqa: E731
    for node, th, size in zip(data["nodes"], offered[0].values, offered[1].scaled()):
        assert node["colour"] == node["colours"]["theta"] == hexes(tw, th / (2 * np.pi))
        assert node["colours"]["size"] == hexes(jet, size)
        assert node["values"]["theta"] == pytest.approx(th, abs=1e-6)
    circles = {a["data-id"]: a["fill"] for t, a in p.tags if t == "circle"}
    assert circles == {str(n["id"]): n["colours"]["theta"] for n in data["nodes"]}
    assert [n["members"] for n in data["nodes"]] == [list(rows[m["members"]]) for m in g["nodes"]]
    with pytest.raises(ValueError, match=r"'rows' parameter of mapper_html must be an int array "
                                         r"with one input row per point, shape \(300,\)"):
        mapper_html(g, x, rows=rows[:5])


_DOM_SELECT = r"""
var circles = [];
DATA_NODES.forEach(function (n) { var c = new El("c"); c.classList.add("node");
  c.setAttribute("data-id", String(n.id)); circles.push(c); });
var scales = DATA_KEYS.map(function (k) { var s = new El("s"); s.classList.add("scale");
  s.setAttribute("data-key", k); return s; });
els.graph.querySelectorAll = function () { return circles; };
document.querySelectorAll = function () { return scales; };
els["colour-by"] = new El("colour-by");
"""

_DOM_SWITCH = r"""
var sel = els["colour-by"];
sel.value = "size"; sel.handlers.change();
console.log(JSON.stringify({fills: circles.map(function (c) { return c.getAttribute("fill"); }),
  shown: scales.map(function (s) { return s.classList.contains("shown"); })}));
"""


def test_html_selector_recolours_the_nodes(circle):
    need_program("node", "running the page's script")
    g, x = circle
    page = mapper_html(g, x, colours=[node_colours(g, "theta", points=x), node_colours(g)])
    p = parse(page)
    data = [s for a, s in p.scripts if a.get("type") == "application/json"][0]
    script = [s for a, s in p.scripts if "type" not in a][0]
    nodes = json.loads(data)["nodes"]
    js = (f"var DATA = {json.dumps(data)};\n" + _DOM_STUB
          + f"var DATA_NODES = {json.dumps([{'id': n['id']} for n in nodes])};"
          + "var DATA_KEYS = ['theta', 'size'];" + _DOM_SELECT + script + _DOM_SWITCH)
    run = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["fills"] == [n["colours"]["size"] for n in nodes]
    assert out["shown"] == [False, True]
