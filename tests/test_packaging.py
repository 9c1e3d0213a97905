"""The wheel a user installs: built from the tree, installed into a fresh venv outside the repo,
it runs `cnntopo describe` and writes the Mapper HTML page from its own files (package data
included), and carries its licence and its one version."""

import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import primary_circle_filters

import cnntopo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation: the build needs only setuptools (the dev extra), not the network
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out), str(REPO)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a deprecated pyproject setting is printed as a warning; none is allowed
    assert "Deprecat" not in proc.stderr, proc.stderr[-3000:]
    (whl,) = out.glob("cnntopo-*.whl")
    return whl


def test_the_wheel_has_one_version_its_licence_and_its_package_data(wheel):
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in meta and meta["dynamic"] == ["version"]  # __init__ is the one place
    assert wheel.name == f"cnntopo-{cnntopo.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(f"cnntopo-{cnntopo.__version__}.dist-info/METADATA").decode()
    assert f"cnntopo-{cnntopo.__version__}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: BSD-3-Clause" in metadata
    assert re.search(r"^Version: " + re.escape(cnntopo.__version__) + "$", metadata, re.M)
    for data in ("cnntopo/viz/static/graph.js", "cnntopo/viz/static/graph.css",
                 "cnntopo/viz/static/report.css", "cnntopo/experiments/fig2.json"):
        assert data in names, data


@pytest.mark.slow
def test_the_installed_wheel_describes_points_and_writes_the_mapper_page(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The suite's dependencies come from its own site-packages, appended as a plain path: its
    # .pth files (among them the editable install of this checkout) are not processed, so
    # only the wheel provides `cnntopo`.
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; "
                                         "print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "suite-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                           "--no-deps", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    work = tmp_path / "work"  # outside the repository, so nothing is found from the checkout
    work.mkdir()
    np.save(work / "circle.npy", primary_circle_filters(300))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    cli = env_dir / "bin" / "cnntopo"
    where = subprocess.run([str(python), "-c", "import cnntopo; print(cnntopo.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout

    desc = subprocess.run([str(cli), "describe", "circle.npy", "--landmarks", "50",
                           "--resamples", "5", "--format", "json", "--quiet"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert desc.returncode == 0, desc.stderr[-3000:]
    rows = json.loads(desc.stdout)
    (row,) = rows["rows"] if isinstance(rows, dict) else rows
    # 3x3 edge filters at every angle: one significant loop, read as the primary circle
    assert row["b1"] == 1 and row["n_kept"] == 300 and row["reading"] == "primary circle" 

    page = subprocess.run([str(cli), "mapper", "circle.npy", "--resolution", "8", "--gain", "3",
                           "--bootstrap", "0", "--quiet", "--json", "graph.json", "--html",
                           "graph.html"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert page.returncode == 0, page.stderr[-3000:]
    html = (work / "graph.html").read_text()
    graph = json.loads((work / "graph.json").read_text())
    # the page inlines the package's script and style (package data of the installed wheel)
    static = Path(where.stdout.strip()).parent / "viz" / "static"
    assert (static / "graph.js").read_text().strip()[:200] in html
    assert (static / "graph.css").read_text().strip()[:100] in html
    assert len(graph["nodes"]) >= 8
