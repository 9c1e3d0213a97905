"""Every ``python`` and ``bash`` block of README.md and docs/ runs (see tests/test_docs.py).

Each page's blocks run in order in a fresh folder of their own: its python blocks share one
namespace, its bash blocks run through ``bash -euo pipefail`` with the project's ``cnntopo``
on PATH. A block marked ``<!-- docs-test: skip (why) -->`` on the line before it does not run.
The pages run one after the other in one Python process apart from pytest's (PyTorch is
imported once, and nothing a page does reaches the test process); a test per page reports
its page. Apart from tests/test_docs.py so that the suite's workers share the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import missing_asset
from test_docs import RUN, _rel, code_blocks, doc_pages

# The extras a page may use: where one is missing, that page's test skips (fails in CI).
EXTRAS = ("lightning", "keras", "tensorboard")

# Runs every page: its own folder and namespace; python exec'd, bash through bash -euo pipefail.
_DRIVER = r"""
import json, os, subprocess, sys, time, traceback
pages, out, extras = json.load(open(sys.argv[1])), sys.argv[2], set(sys.argv[3].split(","))
results = {}
for page, blocks in pages.items():
    work = os.path.join(out, str(len(results)))
    os.makedirs(work)
    os.chdir(work)
    ns, log, start, status = {"__name__": "__main__"}, [], time.perf_counter(), "ok"
    for b in blocks:
        where = f"{page}:{b['line']}"
        log.append(f"--- {where} ({b['lang']}) at {time.perf_counter() - start:.1f} s")
        if b["lang"] == "python":
            try:
                exec(compile(b["code"], where, "exec"), ns)
            except ModuleNotFoundError as exc:  # a block of an extra that is not installed
                if (exc.name or "").split(".")[0] in extras:
                    status = f"skip: {where} needs {exc.name} (an extra of pyproject.toml)"
                else:
                    status = "failed"
                    log.append(traceback.format_exc())
                break
            except BaseException:
                status = "failed"
                log.append(traceback.format_exc())
                break
        else:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]],
                                  capture_output=True, text=True)
            if done.returncode:
                status = "failed"
                log.append(f"{where}: the bash block exited with {done.returncode}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
                break
    try:
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass
    log.append(f"{page}: {time.perf_counter() - start:.1f} s")
    results[page] = {"status": status, "log": "\n".join(log)}
    with open(os.path.join(out, "results.json"), "w") as fh:
        json.dump(results, fh)
"""


def _page_blocks(page):
    return [{"line": line, "lang": lang, "code": code}
            for line, lang, code, skip in code_blocks(page) if lang in RUN and skip is None]


PAGES = [p for p in doc_pages() if _page_blocks(p)]


@pytest.fixture(scope="module")
def page_results(tmp_path_factory):
    """Every page's blocks, run once: ``{page: {"status", "log"}}``."""
    tmp = tmp_path_factory.mktemp("docs-examples")
    (tmp / "pages.json").write_text(json.dumps({_rel(p): _page_blocks(p) for p in PAGES}))
    (tmp / "driver.py").write_text(_DRIVER)
    out = tmp / "work"
    out.mkdir()
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, str(tmp / "driver.py"), str(tmp / "pages.json"), str(out),
                           ",".join(EXTRAS)], env=env, capture_output=True, text=True, timeout=600)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return results, done


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_code_block_of_the_page_runs(page, page_results):
    results, done = page_results
    got = results.get(_rel(page))
    assert got is not None, f"the driver stopped before {_rel(page)}:\n{done.stderr[-6000:]}"
    if got["status"].startswith("skip: "):
        missing_asset(got["status"][len("skip: "):] + "; `make setup` installs it")
    assert got["status"] == "ok", got["log"][-8000:]
