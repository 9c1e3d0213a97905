"""Every ``python`` and ``bash`` block of README.md and docs/ runs (see tests/test_docs.py).

A page's blocks run in order in a fresh folder, in one Python process: the python blocks share
one namespace, the bash blocks run through ``bash -euo pipefail`` with the project's
``cnntopo`` on PATH. A block marked ``<!-- docs-test: skip (why) -->`` on the line before it
does not run. Apart from tests/test_docs.py so that the suite's workers share the time.
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


# Runs a page's blocks in order: python in one namespace, bash through bash -euo pipefail.
_DRIVER = r"""
import json, subprocess, sys, time
blocks = json.load(open(sys.argv[1]))
EXTRAS = set(sys.argv[2].split(","))
start = time.perf_counter()
ns = {"__name__": "__main__"}
for b in blocks:
    where = f"{b['page']}:{b['line']}"
    print(f"--- {where} ({b['lang']}) at {time.perf_counter() - start:.1f} s", flush=True)
    if b["lang"] == "python":
        try:
            exec(compile(b["code"], where, "exec"), ns)
        except ModuleNotFoundError as exc:  # a block of an extra that is not installed
            if (exc.name or "").split(".")[0] not in EXTRAS:
                raise
            print(f"{where}: needs {exc.name} (an extra of pyproject.toml)", file=sys.stderr)
            sys.exit(77)
    else:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]])
        if done.returncode:
            sys.exit(f"{where}: the bash block exited with {done.returncode}")
"""


def _runnable_pages():
    return [p for p in doc_pages() if any(lang in RUN and skip is None
                                          for _, lang, _, skip in code_blocks(p))]


@pytest.mark.parametrize("page", _runnable_pages(), ids=_rel)
def test_every_code_block_of_the_page_runs(page, tmp_path):
    blocks = [{"page": _rel(page), "line": line, "lang": lang, "code": code}
              for line, lang, code, skip in code_blocks(page) if lang in RUN and skip is None]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "driver.py").write_text(_DRIVER)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0", NO_MKDOCS_2_WARNING="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "blocks.json"),
                           ",".join(EXTRAS)], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode == 77:
        missing_asset(done.stderr.strip().splitlines()[-1] + "; `make setup` installs it")
    assert done.returncode == 0, f"{_rel(page)}:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
