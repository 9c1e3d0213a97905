"""MkDocs hooks: the parts of the documentation written by the code, not by hand.

A page asks for a generated part with a marker on a line of its own:

- ``<!-- generated: cli -->``: the command-line reference, from ``cnntopo.cli.build_parser()``;
- ``<!-- generated: experiments -->``: the bundled experiments, from their JSON configs;
- ``<!-- generated: exports -->``: the names ``import cnntopo`` offers and where they live;
- ``<!-- generated: atlas-rows MODEL FIRST-LAST STYLE -->``: rows of the atlas
  (``docs/atlas.json``, written by ``cnntopo atlas``) through the one table formatter.

The docstrings cite with Sphinx roles (``:func:`x```), which Markdown does not know; the
rendered pages keep the code and drop the role's name. tests/test_docs.py imports this file
to compare the pages with their generators.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

MARKER = re.compile(r"^<!-- generated: ([\w-]+)((?: [^ \n]+)*) -->$", re.M)
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj|ref|py:\w+):(?=<code>)")


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_rows(parser):
    rows = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if a.help == argparse.SUPPRESS:
            continue
        if a.option_strings:
            name = ", ".join(a.option_strings)
            if a.nargs != 0:
                meta = a.metavar if a.metavar is not None else a.dest.upper()
                name += " " + (meta if isinstance(meta, str) else " ".join(meta))
        else:
            name = a.metavar or a.dest
        default = ""
        if a.default not in (None, False, argparse.SUPPRESS) and a.nargs != 0:
            default = f"`{a.default}`"
        choices = f" (one of {', '.join(map(str, a.choices))})" if a.choices else ""
        rows.append(f"| `{_cell(name)}` | {default} | {_cell((a.help or '') + choices)} |")
    return rows


def cli_reference(parser=None):
    """The command-line reference in Markdown: a section per verb with its usage and options.

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional
        Default: ``cnntopo.cli.build_parser()``.
    """
    if parser is None:
        from cnntopo.cli import build_parser

        parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    out = [_cell(parser.description), "", "| verb | what it does |", "|---|---|"]
    out += [f"| [`{v}`](#cnntopo-{v}) | {_cell(helps.get(v, ''))} |" for v in sub.choices]
    for verb, sp in sub.choices.items():
        sp.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=78)
        usage = sp.format_usage().strip()
        usage = usage[len("usage: "):] if usage.startswith("usage: ") else usage
        out += ["", f"### cnntopo {verb} {{#cnntopo-{verb}}}", "", _cell(helps.get(verb, "")), "",
                "```text", usage, "```", ""]
        if sp.description:
            out += [_cell(sp.description), ""]
        rows = _option_rows(sp)
        if rows:
            out += ["| argument | default | meaning |", "|---|---|---|", *rows]
        if sp.epilog:
            out += ["", _cell(sp.epilog)]
    return "\n".join(out) + "\n"


def experiments_table():
    """The bundled experiments: name, what it shows, what the paper shows."""
    from cnntopo.experiments._config import _config_files

    out = ["| `cnntopo reproduce NAME` | what | the paper |", "|---|---|---|"]
    for path in _config_files():
        cfg = json.loads(path.read_text(encoding="utf-8"))
        name = cfg.get("name", path.stem)
        out.append(f"| `{name}` | {_cell(cfg.get('title', ''))} | {_cell(cfg.get('paper', ''))} |")
    return "\n".join(out) + "\n"


def exports_table():
    """The names of ``import cnntopo`` (imported on first use) with the module that defines each."""
    import cnntopo

    out = ["| name | defined in |", "|---|---|"]
    for name in sorted(cnntopo._WHERE, key=str.lower):
        mod = f"cnntopo.{cnntopo._WHERE[name]}"
        out.append(f"| [`cnntopo.{name}`][{mod}.{name}] | [`{mod}`][{mod}] |")
    return "\n".join(out) + "\n"


ROOT = Path(__file__).resolve().parents[1]
ATLAS_JSON = ROOT / "docs" / "atlas.json"


def atlas_rows(model, layers, style="markdown"):
    """Rows `layers` (``"2-13"``) of network `model` (its label, ``VGG16``) of the atlas, as
    :func:`cnntopo.verdict.table.format_table` formats them (``text`` in a code block)."""
    from cnntopo.verdict.table import format_table, parse_ranges

    rows = json.loads(ATLAS_JSON.read_text(encoding="utf-8"))["rows"]
    wanted = set(parse_ranges([layers]))
    rows = [r for r in rows if r["model"] == model and r["layer"] in wanted]
    if len(rows) != len(wanted):
        raise KeyError(f"the atlas has no layers {layers} of {model!r}")
    table = format_table(rows, style=style)
    return f"```text\n{table}\n```\n" if style == "text" else table + "\n"


GENERATORS = {"cli": cli_reference, "experiments": experiments_table, "exports": exports_table,
              "atlas-rows": atlas_rows}


def expand(markdown):
    """`markdown` with every generated-part marker replaced by its part."""
    def part(m):
        if m.group(1) not in GENERATORS:
            raise KeyError(f"no generator named {m.group(1)!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[m.group(1)](*m.group(2).split())

    return MARKER.sub(part, markdown)


def on_page_markdown(markdown, page, config, files):
    return expand(markdown)


def on_page_content(html, page, config, files):
    return _ROLE.sub("", html)
