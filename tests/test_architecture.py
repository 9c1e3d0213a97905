"""The layering contract: each stage imports only the stages before it, computing loads no plots.

The stages, in the order the data flows (the package docstring, ``cnntopo/__init__.py``, and
docs/reference/design.md): the base modules (validation, files, caches, parallel), sources,
cloud, topology, verdict, training, integrations, viz, experiments, cli. A module may import
from its own stage and the ones
before it, never after; imports inside functions count too, since they run as soon as the
function is called.

One exception, by name: a notebook's display hook. ``_repr_html_`` (of ``CloudAnalysis``, a
describe row, the ``Watcher``) may import ``cnntopo.viz.notebook``: only a notebook calls it,
to draw, and computing never does (the tests below check that a verdict loads no plotting).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cnntopo

PACKAGE = Path(cnntopo.__file__).resolve().parent
ORDER = ["base", "sources", "cloud", "topology", "verdict", "training", "integrations", "viz",
         "experiments", "cli"]
BASE = {"validation", "files", "caches", "parallel", "__init__"}
# Every name `cnntopo` exported before the stage layout (0.1.0): they keep working.
PUBLIC_BEFORE_THE_LAYOUT = [
    "KleinReadings", "MapperLayout", "NodeColours", "SignificantBars", "TrainConfig",
    "WitnessBarcodes", "angular_coverage", "barcodes_record", "choose_thumbnail_nodes",
    "cover_intervals", "density_filter", "describe_cloud", "describe_source",
    "download_cifar10", "efficientnet_lite0_conv3x3", "fetch", "filter_meta",
    "filters_from_source", "klein_coordinates", "klein_histogram", "klein_readings",
    "knn_distance", "lazy_witness_barcodes", "lazy_witness_filtration", "load_checkpoint",
    "load_cifar10", "load_mnist", "load_points", "load_state_dict", "load_vgg_weights",
    "long_bars", "mapper_graph", "mapper_layout", "mapper_record", "maxmin_landmarks",
    "mean_filters", "natural_patches", "nerve_betti", "node_colourings", "node_colours",
    "node_colours_from_values", "node_positions", "normalise", "pca_lens", "plot_barcodes",
    "plot_evolution_grid", "plot_klein_density", "plot_mapper", "prepare_points",
    "primary_circle_coordinates", "primary_circle_fraction", "read_weights", "reading",
    "significant_bars", "single_linkage_gap", "spatial_filters", "to_networkx", "train",
    "validate_points", "variance_normalise", "verdict_row", "vgg", "write_mapper_html",
]


def _stage(module):
    """The stage of a module given by its parts under cnntopo (``("topology", "mapper")``)."""
    if not module or module[0] in BASE:
        return "base"
    return module[0]


# The display hooks and the one module they may reach from an earlier stage.
DISPLAY_HOOK, DISPLAY_MODULE = "_repr_html_", ("viz", "notebook")


def _display_imports(tree):
    """The import nodes inside ``_repr_html_`` methods."""
    return {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
            and f.name == DISPLAY_HOOK for n in ast.walk(f)
            if isinstance(n, (ast.Import, ast.ImportFrom))}


def _imports(path, *, hooks=False):
    """Modules of cnntopo that `path` imports, as tuples of parts under cnntopo (those of its
    display hooks only with `hooks`)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1] if rel[-1] != "__init__" else rel[:-1]
    out = set()
    tree = ast.parse(path.read_text())
    in_hooks = _display_imports(tree)
    for node in ast.walk(tree):
        if (id(node) in in_hooks) != hooks:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = base + tuple((node.module or "").split(".")) if node.module else base
            elif node.module and node.module.startswith("cnntopo"):
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            out.add(tuple(p for p in target if p))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cnntopo."):
                    out.add(tuple(alias.name.split(".")[1:]))
    return rel, out


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_known_stage():
    for path in _modules():
        rel = path.relative_to(PACKAGE).with_suffix("").parts
        assert _stage(rel) in ORDER, f"{path.relative_to(PACKAGE)} is in no stage of {ORDER}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_stage_imports_only_the_stages_before_it(path):
    rel, imported = _imports(path)
    mine = ORDER.index(_stage(rel))
    later = sorted(".".join(m) for m in imported if ORDER.index(_stage(m)) > mine)
    assert not later, (f"{path.relative_to(PACKAGE)} ({_stage(rel)}) imports a later stage: "
                       f"{later}")


def test_a_display_hook_reaches_only_the_notebook_view():
    hooked = []
    for path in _modules():
        _, imported = _imports(path, hooks=True)
        assert imported <= {DISPLAY_MODULE}, (f"{path.relative_to(PACKAGE)}: a {DISPLAY_HOOK} "
                                              f"imports {sorted(imported)}")
        hooked += [path.name] if imported else []
    assert sorted(hooked) == ["analysis.py", "frame.py", "watch.py"]


def test_no_module_imports_a_private_name_of_another():
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("cnntopo")):
                private = [a.name for a in node.names if a.name.startswith("_")
                           and not a.name.startswith("__")]
                assert not private, (f"{path.relative_to(PACKAGE)} imports private "
                                     f"{private} from {node.module}")


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_import_cnntopo_loads_neither_torch_nor_matplotlib():
    loaded = _run("import sys, cnntopo; cnntopo.__all__; "
                  "print(*sorted(m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules))")
    assert loaded == []


def test_a_verdict_with_mapper_and_layout_loads_no_plotting():
    code = """
import sys
import numpy as np
from cnntopo import AnalysisSpec, analyse
from conftest import primary_circle_filters
spec = AnalysisSpec(k=10, p=0.5, mapper={"resolution": 6, "gain": 3}, layout=True,
                    significance={"landmarks": 20, "n_resamples": 3})
result = analyse(primary_circle_filters(300), spec)
assert result.layout is not None and result.row["nerve_betti"] is not None
print(*sorted(m for m in ("matplotlib", "cnntopo.viz", "cnntopo.experiments", "cnntopo.cli")
              if m in sys.modules))
"""
    env_path = str(Path(__file__).resolve().parent)
    assert _run(f"import sys; sys.path.insert(0, {env_path!r})\n" + code) == []


def test_every_public_name_of_before_still_resolves():
    assert not set(PUBLIC_BEFORE_THE_LAYOUT) - set(cnntopo.__all__)
    for name in PUBLIC_BEFORE_THE_LAYOUT:
        assert getattr(cnntopo, name) is not None
    # the module and the function of the same name no longer shadow each other
    assert callable(cnntopo.train) and callable(cnntopo.node_colours)
