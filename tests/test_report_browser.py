"""The HTML report in a real headless browser (Debian's chromium driven by selenium).

The page must load without console errors, every image must load, and the interactive
Mapper graph (inline, in an iframe) must answer a hover with a tooltip giving the node's
size. Skips, with the reason, when chromium, chromedriver or selenium are missing: install
them with ``scripts/install-browser.sh`` (root) and the project's dev extra.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import missing_asset, need_module

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# This machine's network is closed: without these chromium keeps trying to reach Google's
# services and the log fills with refused connections.
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000")


# ------------------------------------------------------------------ the report to look at

def _circle_points(n=240, seed=0):
    """Noisy primary-circle filters cos(t) e1 + sin(t) e2, unit norm, shape (n, 9)."""
    from cnntopo.topology.klein import dct_basis

    rng = np.random.default_rng(seed)
    e = dct_basis()
    t = rng.uniform(0, 2 * np.pi, n)
    x = np.cos(t)[:, None] * e[0] + np.sin(t)[:, None] * e[1] + 0.05 * rng.normal(size=(n, 9))
    x -= x.mean(axis=1, keepdims=True)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _build_report(out):
    """A report from synthetic data drawn with the real plot, graph page and report code."""
    from cnntopo.files import atomic_write_json
    from cnntopo.topology.klein import klein_histogram, klein_readings
    from cnntopo.topology.layout import mapper_layout
    from cnntopo.topology.mapper import mapper_graph
    from cnntopo.topology.nerve import nerve_betti
    from cnntopo.viz.colours import node_colourings
    from cnntopo.viz.graph_html import write_mapper_html
    from cnntopo.viz.plots import (
        plot_barcodes,
        plot_evolution_grid,
        plot_klein_density,
        plot_mapper,
        save_figure,
    )
    from cnntopo.viz.report import write_report

    points = _circle_points()
    graph = mapper_graph(points, resolution=10, gain=3)
    lay = mapper_layout(graph, points)
    readings = klein_readings(points)
    colourings = node_colourings(graph, points=points, readings=readings)
    fig = plot_mapper(graph, points, layout=lay, title="synthetic primary circle")
    save_figure(fig, out / "mapper_circle.png", dpi=60)
    write_mapper_html(out / "graph_circle.html", graph, points, title="synthetic primary circle",
                      positions=lay, colours=colourings)
    save_figure(plot_klein_density(*klein_histogram(readings.theta, readings.phi),
                                   n_total=readings.n_points), out / "klein_circle.png", dpi=60)
    atomic_write_json(out / "mapper_circle.json", graph)
    diagrams = [np.array([[0.0, 0.05], [0.0, 0.1], [0.0, np.inf]]), np.array([[0.2, 0.9]])]
    save_figure(plot_barcodes(diagrams, long_counts=[1, 1]), out / "barcodes_circle.png", dpi=60)
    save_figure(plot_evolution_grid([[(graph, points), None]], row_labels=["layer 1"],
                                    col_labels=["100", "200"]), out / "grid.png", dpi=40)
    summary = {
        "name": "synthetic", "title": "Synthetic report <check escaping>", "scale": "smoke",
        "paper": "Figure 2: Mapper(30, 3) and barcodes of rho(200, 0.3, ...)", "notes": None,
        "config": {"name": "synthetic", "source": {"kind": "patches"}},
        "source": {"kind": "train", "test_accuracy": [
            {"iteration": 100, "n_networks": 2, "mean": 0.9, "min": 0.89, "max": 0.91}]},
        "analyses": [{
            "tag": "circle", "layer": 1, "iteration": 100, "k": 20, "p": 0.3,
            "n_filters": 300, "n_points": 300, "n_kept": len(points), "long_bars": [1, 1],
            "barcodes": {"covering_radius": 0.3}, **{k: v for k, v in readings.to_dict().items()
                                                     if k.endswith("fraction")
                                                     or k.endswith("coverage")},
            "mapper": {"nodes": len(graph["nodes"]), "links": len(graph["links"]),
                       "nerve_betti": nerve_betti(graph)},
            "files": {"mapper_png": "mapper_circle.png", "barcodes_png": "barcodes_circle.png",
                      "klein_png": "klein_circle.png", "graph_html": "graph_circle.html",
                      "mapper_json": "mapper_circle.json"}}],
        "grid": {"iterations": [100, 200], "rows": ["layer 1"], "file": "grid.png",
                 "cells": [[{"iteration": 100, "n_kept": 240, "nodes": 20, "links": 20,
                             "nerve_betti": [1, 1]}]]},
        "seconds": 1.0,
    }
    write_report(out, summary)
    return graph


# ------------------------------------------------------------------ browser plumbing

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        missing_asset(f"needs {CHROMIUM} and {CHROMEDRIVER} (run scripts/install-browser.sh as root)")
    webdriver = need_module("selenium.webdriver", "selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    except Exception as exc:  # a broken install reads as a missing asset, with its reason
        missing_asset(f"chromium did not start: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    graph = _build_report(out)
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", out, graph
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _severe(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _images(driver):
    return driver.execute_script(
        "return Array.from(document.images).map(function (i) {"
        "  return [i.getAttribute('src'), i.complete, i.naturalWidth]; });")


def _load(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


# ------------------------------------------------------------------ tests

def test_report_loads_without_errors_and_every_image_loads(browser, served_report):
    base, out, _ = served_report
    _load(browser, f"{base}/index.html")
    assert _severe(browser) == []
    images = _images(browser)
    assert sorted(src for src, _, _ in images) == ["barcodes_circle.png", "grid.png",
                                                   "klein_circle.png", "mapper_circle.png"]
    assert all(complete and width > 0 for _, complete, width in images), images
    assert browser.title == "Synthetic report <check escaping>"


def test_a_missing_image_is_caught(browser, served_report):
    """The checks above can fail: a report whose figure is gone shows up in both."""
    base, out, _ = served_report
    hidden = out / "hidden"
    hidden.mkdir(exist_ok=True)
    shutil.move(out / "barcodes_circle.png", hidden / "barcodes_circle.png")
    try:
        browser.get_log("browser")  # drop what earlier pages logged
        _load(browser, f"{base}/index.html")
        broken = [src for src, _, width in _images(browser) if width == 0]
        severe = _severe(browser)
    finally:
        shutil.move(hidden / "barcodes_circle.png", out / "barcodes_circle.png")
    assert broken == ["barcodes_circle.png"]
    assert any("barcodes_circle.png" in e["message"] and "404" in e["message"] for e in severe)


def test_hovering_a_node_of_the_inline_graph_shows_its_size(browser, served_report):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, _, graph = served_report
    _load(browser, f"{base}/index.html")
    frame = browser.find_element(By.CSS_SELECTOR, "iframe#graph-frame")
    # The frame sits below the fold; chromedriver cannot move the mouse outside the viewport.
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", frame)
    browser.switch_to.frame(frame)
    try:
        WebDriverWait(browser, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "circle.node[data-id]"))
        nodes = browser.find_elements(By.CSS_SELECTOR, "circle.node[data-id]")
        assert len(nodes) == len(graph["nodes"])
        tooltip = browser.find_element(By.ID, "tooltip")
        assert not tooltip.is_displayed()
        node = nodes[-1]  # drawn last, so on top: nothing covers its centre
        node_id = node.get_attribute("data-id")
        size = {str(n["id"]): n["size"] for n in graph["nodes"]}[node_id]
        assert node.get_attribute("data-size") == str(size)
        ActionChains(browser).move_to_element(node).perform()
        WebDriverWait(browser, 10).until(lambda d: tooltip.is_displayed())
        assert f"node {node_id}" in tooltip.text
        assert f"{size} points" in tooltip.text
        assert _severe(browser) == []
    finally:
        browser.switch_to.default_content()


def test_the_colour_selector_recolours_the_graph(browser, served_report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _, graph = served_report
    _load(browser, f"{base}/graph_circle.html")
    nodes = browser.find_elements(By.CSS_SELECTOR, "circle.node[data-id]")
    before = {n.get_attribute("data-id"): n.get_attribute("fill") for n in nodes}
    select = Select(browser.find_element(By.ID, "colour-by"))
    assert [o.get_attribute("value") for o in select.options] == ["size", "theta",
                                                                   "klein-distance"]
    shown = browser.find_elements(By.CSS_SELECTOR, ".scale.shown")
    assert [s.get_attribute("data-key") for s in shown] == ["size"]
    select.select_by_value("theta")
    after = {n.get_attribute("data-id"): n.get_attribute("fill") for n in nodes}
    data = browser.execute_script(
        "return JSON.parse(document.getElementById('mapper-data').textContent);")
    assert after == {str(n["id"]): n["colours"]["theta"] for n in data["nodes"]} != before
    shown = browser.find_elements(By.CSS_SELECTOR, ".scale.shown")
    assert [s.get_attribute("data-key") for s in shown] == ["theta"]
    assert shown[0].is_displayed() and "primary circle" in shown[0].text
    assert _severe(browser) == []
