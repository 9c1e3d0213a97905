"""The documentation can be trusted: it builds, its examples run, its tables are the generators'.

- The site (mkdocs.yml) builds with warnings as errors, as ``make docs`` builds it.
- Every ``python`` and ``bash`` block of README.md and of docs/ runs
  (tests/test_docs_examples.py), page by page, in a fresh folder: a page's python blocks share
  one namespace, in order, and its bash blocks run there too, with the project's ``cnntopo``
  on PATH. A block that would take minutes (``make demo``,
  a paper-scale run) is marked on the line before it, visibly in the source::

      <!-- docs-test: skip (why) -->

  ``text`` blocks (synopses with ``[--option]``, printed output) are not run; ``json``
  blocks must parse.
- docs/atlas.md and docs/klein-layers/klein_layers.md are what their generators write from
  the JSON beside them, and no page copies a line of them by hand.
- Every dotted name ``cnntopo.x.y`` the docs mention exists; every module has an API page;
  no file cites a document the repository lacks.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_module

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Written by `cnntopo atlas` and `cnntopo reproduce klein-layers`; pages include them.
GENERATED = {DOCS / "atlas.md", DOCS / "klein-layers" / "klein_layers.md"}
README_MAX_LINES = 250

FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!-- docs-test: (?P<what>\w+) \((?P<why>[^)]+)\) -->[ \t]*\n\Z")
RUN = {"python", "bash"}
NOT_RUN = {"text", "json", ""}


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def doc_pages():
    """README.md and every page of docs/ (not the generated tables)."""
    return [ROOT / "README.md"] + sorted(p for p in DOCS.rglob("*.md") if p not in GENERATED)


def code_blocks(path):
    """``(line, language, code, skip_reason)`` of every fenced block of `path`, in order."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        lang = m.group("info").strip().split()[0] if m.group("info").strip() else ""
        before = text[:m.start()]
        d = DIRECTIVE.search(before)
        if d and d.group("what") != "skip":
            raise ValueError(f"{path.name}:{line - 1}: unknown docs-test directive {d.group('what')!r}")
        blocks.append((line, lang, m.group("code"), d.group("why") if d else None))
    return blocks


def _rel(path):
    return str(path.relative_to(ROOT))


def test_code_blocks_are_python_bash_or_not_run_and_json_parses():
    for page in doc_pages():
        for line, lang, code, skip in code_blocks(page):
            where = f"{_rel(page)}:{line}"
            assert lang in RUN | NOT_RUN, f"{where}: block of language {lang!r}: use python, bash, text or json"
            if lang == "json":
                json.loads(code)
            if lang == "bash" and skip is None:
                # a synopsis with [--option] is a text block: a bash block is what one types
                assert not re.search(r"\s\[-", code), f"{where}: a synopsis ([--opt]) belongs in a text block"


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    need_module("mkdocs", "MkDocs (the cnntopo[docs] extra)")
    need_module("mkdocstrings", "mkdocstrings (the cnntopo[docs] extra)")
    need_module("material", "mkdocs-material (the cnntopo[docs] extra)")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "--site-dir", str(site)], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    cli = (site / "reference" / "cli" / "index.html").read_text()
    from cnntopo.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for verb, sub in verbs.items():
        assert f'id="cnntopo-{verb}"' in cli, verb
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in cli, (verb, flag)
    api = (site / "reference" / "api" / "verdict" / "index.html").read_text()
    assert 'id="cnntopo.verdict.layers.analyse_layers"' in api
    assert ":func:" not in api  # the docstrings' Sphinx roles are dropped, their code kept
    atlas = (site / "results" / "atlas" / "index.html").read_text()
    assert "primary circle" in atlas and "EfficientNet-Lite0" in atlas


# --- generated tables ---------------------------------------------------------------------

def test_the_atlas_table_is_what_cnntopo_atlas_writes():
    from cnntopo.verdict.atlas import atlas_markdown

    result = json.loads((DOCS / "atlas.json").read_text())
    assert (DOCS / "atlas.md").read_text() == atlas_markdown(result)


def test_the_klein_layers_tables_are_what_the_experiment_writes():
    from cnntopo.experiments.klein_summary import format_tables, summarise

    results = json.loads((DOCS / "klein-layers" / "klein_layers.json").read_text())
    results["summary"] = summarise(results)
    assert (DOCS / "klein-layers" / "klein_layers.md").read_text() == format_tables(results)


def test_the_shapes_page_is_what_its_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("shapes_doc", ROOT / "scripts" / "shapes_doc.py")
    shapes_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shapes_doc)
    data = json.loads((DOCS / "shapes.json").read_text())
    shapes_doc.write_page(data["rows"], data["seconds"], tmp_path / "shapes.md")
    assert (DOCS / "shapes.md").read_text() == (tmp_path / "shapes.md").read_text()


def test_the_shapes_klein_layer_rows_are_what_the_script_computes(tmp_path):
    """The Klein-layer rows of docs/shapes.json are the verdict of the experiment's conv1
    (docs/klein-layers/klein_layers.json, seeds pooled) and of the Klein bank, computed again
    (80-filter clouds: seconds), and the refresh keeps every other row as it was."""
    from cnntopo.files import atomic_write_json

    spec = importlib.util.spec_from_file_location("shapes_doc", ROOT / "scripts" / "shapes_doc.py")
    shapes_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shapes_doc)
    data = json.loads((DOCS / "shapes.json").read_text())
    stored = [r for r in data["rows"] if r.get("source") in shapes_doc.KLEIN_SOURCES]
    atomic_write_json(tmp_path / "rows.json", shapes_doc.klein_layer_rows()
                      + shapes_doc.klein_bank_rows())
    assert stored == json.loads((tmp_path / "rows.json").read_text())
    results = json.loads((DOCS / "klein-layers" / "klein_layers.json").read_text())
    trained = [(d, run) for d, v in results["datasets"].items() for run, r in v["runs"].items()
               if "conv1_final" in r]
    assert len(trained) == sum(r["source"] == "klein-layers" for r in stored) == 5
    assert [r["model"] for r in stored if r["source"] == "klein-layers"][1] == \
        "klein-layers mnist: klein-init (5 seeds pooled)"
    # a refresh replaces those rows and leaves the others (the atlas: minutes of CPU) alone
    others = [r for r in data["rows"] if r.get("source") not in shapes_doc.KLEIN_SOURCES]
    atomic_write_json(tmp_path / "shapes.json", {"seconds": 1.0, "rows": others + stored[:1]})
    shapes_doc.main(["--refresh-klein-layers", "--rows", str(tmp_path / "shapes.json"),
                     "--out", str(tmp_path / "shapes.md")])
    again = json.loads((tmp_path / "shapes.json").read_text())["rows"]
    assert again == others + stored


def test_no_page_copies_a_generated_table_by_hand():
    generated = {line.strip() for path in GENERATED for line in path.read_text().splitlines()
                 if line.startswith("| ") and not line.startswith("|---")}
    generated -= {line for line in generated if line.count("|") < 4 or set(line) <= set("|- ")}
    for page in doc_pages() + [ROOT / "BENCHMARKS.md"]:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            assert line.strip() not in generated or line.strip().startswith("| network |") or \
                line.strip().startswith("| condition |"), \
                f"{_rel(page)}:{n} copies a line of a generated table; include it instead"


def test_the_generated_parts_expand():
    hooks = _hooks()
    text = hooks.expand("<!-- generated: atlas-rows VGG16 2-3 markdown -->\n")
    assert text.count("\n| 2 | `") == 1 and text.count("\n| 3 | `") == 1, text
    cli = hooks.cli_reference()
    assert "## cnntopo describe {#cnntopo-describe}" in cli and "`--landmarks N\\|auto`" in cli
    with pytest.raises(KeyError, match="no generator named"):
        hooks.expand("<!-- generated: nothing -->\n")


# --- names and citations ------------------------------------------------------------------

DOTTED = re.compile(r"(?<![\w/.-])cnntopo(?:\.[A-Za-z_]\w*)+")


SRC = ROOT / "src"


def _module_file(dotted):
    base = SRC.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _defines(body, name):
    """The statement of `body` (an AST body) that binds `name` at its top level, or None."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name.split(".")[0]) == name for a in node.names):
            return node
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and n.id == name:
                    return node
        if isinstance(node, (ast.If, ast.Try)):  # names bound under a guard count too
            found = _defines(node.body + getattr(node, "orelse", []) +
                             sum((h.body for h in getattr(node, "handlers", [])), []), name)
            if found is not None:
                return found
    return None


def _exists(dotted):
    """Whether `cnntopo.x.y` names a module, or a name a module binds (read from the source,
    so that checking the docs imports neither Lightning nor Keras). ``cnntopo.NAME`` is a name
    of the package's lazy exports; a module's ``__getattr__`` aliases (deprecated spellings)
    count when the name appears in it as a string."""
    import cnntopo

    parts = dotted.split(".")
    if len(parts) == 2 and parts[1] in cnntopo._WHERE:
        return True
    for i in range(len(parts), 1, -1):
        path = _module_file(".".join(parts[:i]))
        if path is None:
            continue
        rest = parts[i:]
        if not rest:
            return True
        tree = ast.parse(path.read_text(encoding="utf-8"))
        node = _defines(tree.body, rest[0])
        if node is None:
            getattr_ = _defines(tree.body, "__getattr__")
            return getattr_ is not None and f"{rest[0]!r}" in ast.unparse(getattr_).replace('"', "'")
        for attr in rest[1:]:  # a class's methods and attributes
            if not isinstance(node, ast.ClassDef):
                return False
            node = _defines(node.body, attr)
            if node is None:
                return False
        return True
    return False


def test_every_dotted_name_in_the_docs_exists():
    missing = []
    for page in doc_pages() + [ROOT / "BENCHMARKS.md"]:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            missing += [f"{_rel(page)}:{n}: {name}" for name in DOTTED.findall(line)
                        if not _exists(name)]
    assert not missing, "names that do not exist:\n" + "\n".join(missing)


def test_the_name_check_can_fail():
    assert _exists("cnntopo.topology.mapper.mapper_graph") and _exists("cnntopo.describe")
    assert _exists("cnntopo.verdict.frame.DescribeFrame") and _exists("cnntopo.integrations.keras")
    assert _exists("cnntopo.viz.colours.COLOR_BY")  # a deprecated alias still exists
    for gone in ("cnntopo.mapper", "cnntopo.records", "cnntopo.rundir",
                 "cnntopo.verdict.frame.no_such_function", "cnntopo.nothing"):
        assert not _exists(gone), gone


def test_every_public_module_has_an_api_page():
    import cnntopo

    documented = set()
    for page in (DOCS / "reference" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: (cnntopo[\w.]*)", page.read_text(), re.M))
    modules = [m.name for m in pkgutil.walk_packages(cnntopo.__path__, "cnntopo.")
               if not any(part.startswith("_") for part in m.name.split(".")) and not m.ispkg]
    assert modules and not set(modules) - documented, sorted(set(modules) - documented)


_CITED = re.compile(r"(?<![\w/.-])(?:[A-Z][A-Z0-9_]+\.md|docs/[\w./-]+\.md)\b")
_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def _text_files():
    for top in ("src", "tests", "docs", "scripts", "benchmarks", "examples", ".ci"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".sh", ".json", ".ipynb", ".yml", ""} \
                    and "__pycache__" not in path.parts and path.stat().st_size < 2_000_000:
                yield path
    yield from (ROOT / name for name in ("README.md", "BENCHMARKS.md", "Makefile", "mkdocs.yml",
                                         "pyproject.toml"))


def test_no_file_cites_a_document_the_repository_lacks():
    bad = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in set(_CITED.findall(text)):
            if not ((ROOT / cited).is_file() or (path.parent / cited).is_file()):
                bad.append(f"{_rel(path)} cites {cited}")
        if path.suffix == ".md":
            for link in set(_LINK.findall(text)):
                if "://" not in link and not (path.parent / link).is_file():
                    bad.append(f"{_rel(path)} links {link}")
    assert not bad, "\n".join(sorted(bad))


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)
    first = next(code for _, lang, code, _ in code_blocks(ROOT / "README.md"))
    assert first.splitlines()[0].startswith("make demo") and first.splitlines()[1].startswith("make test")
    assert "make demo" in "\n".join(lines[:25])
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_the_readmes_findings_are_the_atlas_numbers():
    """What README.md says it found, read again from docs/atlas.json (the rows the atlas wrote)."""
    rows = json.loads((DOCS / "atlas.json").read_text())["rows"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    vgg16 = {r["layer"]: r for r in rows if r["model"] == "VGG16"}
    circle = [vgg16[i]["primary_circle_fraction"] for i in range(2, 13)]
    assert f"{min(circle):.2f} to {max(circle):.2f} in every layer 2 to 12" in readme
    assert [i for i in range(2, 13) if vgg16[i]["significant"][1] == 0] == [5]
    off = sorted(range(2, 14), key=lambda i: -vgg16[i]["off_model_fraction"])[:6]
    assert sorted(off) == [5, 6, 8, 11, 12, 13]
    top = [vgg16[i]["off_model_fraction"] for i in off]
    assert f"({min(top):.2f} to {max(top):.2f})" in readme
    coverage = {i: vgg16[i]["primary_circle_coverage"] for i in range(2, 14)}
    assert min(coverage, key=coverage.get) == 13 and f"coverage {coverage[13]:.2f}" in readme
    vgg19 = next(r for r in rows if r["model"] == "VGG19" and r["layer"] == 5)
    assert f"coverage {vgg19['primary_circle_coverage']:.2f} against {coverage[13]:.2f}" in readme
    assert vgg19["significant"][1] == 1 and \
        f"confidence {vgg19['significant_confidence'][1]:.2f}" in readme
    depthwise = [r["off_model_fraction"] for r in rows
                 if r["model"] in ("MobileNetV2", "EfficientNet-Lite0") and r["layer"] > 1]
    assert f"off-model {min(depthwise):.2f} to {max(depthwise):.2f}" in readme
    assert sum(r["model"] == m for r in rows for m in ("VGG16",)) == 13 and len(rows) == 81
    assert "81 layers" in readme
