"""In a notebook a result shows itself: ``examples/notebook.ipynb`` executed, its HTML rendered.

The notebook goes from a live model through ``describe`` to a Watcher's readings. It is run
with nbclient (a real IPython kernel, as Jupyter runs it); its rich outputs must be the
views of :mod:`cnntopo.viz.notebook` (pictures as data URIs, the Mapper page inline), and
headless chromium must show them with every image loaded, no console error, no request
leaving the page, and the Mapper graph answering a hover with its panel. The screenshot is
kept where ``CNNTOPO_SCREENSHOTS`` points (to look at), else in the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import missing_asset, need_module

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = need_module("nbformat", "nbformat (the dev extra)")
    nbclient = need_module("nbclient", "nbclient (the dev extra)")
    need_module("ipykernel", "ipykernel (the dev extra)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cwd = tmp_path_factory.mktemp("notebook")
    env = {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them; restored below
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _html_outputs(nb):
    return [o["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for o in cell.get("outputs", []) if "text/html" in o.get("data", {})]


def test_the_notebook_runs_and_its_results_show_themselves(executed):
    errors = [o for cell in executed.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    views = [h for h in _html_outputs(executed) if 'class="cnntopo-view"' in h]
    # the row of the describe frame, and the watched run (which holds the last snapshot's)
    assert len(views) == 2
    row, run = views
    for view in views:
        assert view.count('src="data:image/png;base64,') >= 2       # barcodes, Klein bottle
        assert "<iframe" in view and "srcdoc=" in view and "mapper-data" in view
        # self-contained: nothing to fetch
        assert not re.search(r'(src|href)="(https?:)?//', view)
    assert "primary circle" in row and "<b>" in row                 # the reading, in the table
    assert "Run run" in run and "Verdict" in run


def test_chromium_shows_the_views_with_the_mapper_hover_panel(executed, tmp_path):
    from test_report_browser import CHROME_FLAGS, CHROMEDRIVER, CHROMIUM

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        missing_asset(f"needs {CHROMIUM} and {CHROMEDRIVER} (scripts/install-browser.sh)")
    webdriver = need_module("selenium.webdriver", "selenium (the dev extra)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "views.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'>"
                    "<link rel='icon' href='data:,'></head><body>"
                    + "".join(_html_outputs(executed)) + "</body></html>", encoding="utf-8")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    except Exception as exc:
        missing_asset(f"chromium did not start: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        driver.set_page_load_timeout(30)
        driver.get(page.as_uri())
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
        assert len(images) >= 5 and all(ok and w > 0 for ok, w in images)
        frames = driver.find_elements(By.CSS_SELECTOR, "iframe.mapper")
        assert len(frames) == 2
        shots = Path(os.environ.get("CNNTOPO_SCREENSHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        driver.set_window_size(1280, 2600)
        driver.save_screenshot(str(shots / "notebook-views.png"))
        # the first Mapper view: hovering a node opens the panel with its mean filter
        driver.execute_script("arguments[0].scrollIntoView()", frames[0])
        driver.switch_to.frame(frames[0])
        node = driver.find_elements(By.CSS_SELECTOR, "circle.node")[-1]
        ActionChains(driver).move_to_element(node).perform()
        tip = driver.find_element(By.ID, "tooltip")
        WebDriverWait(driver, 5).until(lambda d: tip.value_of_css_property("display") == "block")
        assert f"{node.get_attribute('data-size')} points" in tip.text
        assert len(tip.find_elements(By.CSS_SELECTOR, "svg.filter rect")) == 9  # its mean filter
        driver.switch_to.default_content()
        driver.save_screenshot(str(shots / "notebook-hover.png"))
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert severe == []
        requests = [e["message"] for e in driver.get_log("performance")
                    if '"Network.requestWillBeSent"' in e["message"]]
        assert not [m for m in requests if re.search(r'"url":"https?://', m)]
    finally:
        driver.quit()
    if not os.environ.get("CNNTOPO_SCREENSHOTS"):
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_a_row_shows_its_analysis_a_row_read_back_its_numbers_a_column_stays_pandas(tmp_path):
    from conftest import primary_circle_filters

    import cnntopo

    frame = cnntopo.describe(primary_circle_filters(200, seed=4), n_landmarks=10,
                             n_resamples=3, progress=False)
    row = frame.iloc[0]
    assert row.analysis is frame.analysis(0) and row.analysis.row["n_kept"] == row.n_kept
    view = row._repr_html_()
    assert view.count("data:image/png;base64,") == 2 and "<iframe" in view
    assert "Mapper(10, 3.0) made for this view" in view        # describe made no graph
    assert frame["layer"]._repr_html_() is None                 # a column: pandas' display
    back = cnntopo.load_frame(cnntopo.save_frame(frame, tmp_path / "f.json")).iloc[0]
    numbers = back._repr_html_()
    assert "keeps no analysis" in numbers and "<iframe" not in numbers
    assert "primary circle" in numbers
    page = cnntopo.show(frame).save(tmp_path / "view.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and view in page
