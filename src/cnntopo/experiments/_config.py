"""Experiment configs: one small JSON file per paper experiment, checked and completed here.

A config names a weights ``source`` (train an ensemble, pretrained VGG, EfficientNet-Lite0,
natural image patches, or an existing run directory), a list of ``analyses`` (one point
cloud each: layer, checkpoint, density filtration, Mapper and/or barcodes) and, for the
paper's evolution figures, a ``grid`` of Mapper graphs (rows = layers, columns = batch
iterations). ``scales`` holds overrides: ``paper`` is the paper's setting, ``laptop`` the same
shape at a size that finishes in minutes on two cores, ``smoke`` a tiny one for tests.

Override rules (``scales.<scale>``): dicts merge key by key; lists and scalars replace;
``analyses`` (and ``grid.rows``) given as a list merge element by element (same length; an
element ``null`` drops that analysis); ``each_analysis`` merges one dict into every analysis.
"""

from __future__ import annotations

import copy
import json
import numbers
import re
from pathlib import Path

from ..validation import InputError

__all__ = ["CONFIG_DIR", "SCALES", "SOURCE_KINDS", "list_experiments", "load_config",
           "validate_config", "resolve_scale"]

CONFIG_DIR = Path(__file__).resolve().parent
SCALES = ("paper", "laptop", "smoke")
SOURCE_KINDS = ("train", "vgg", "efficientnet-lite0", "patches", "run")
DATASETS = ("mnist", "fashion-mnist", "cifar10-grey", "cifar10-color")

_TOP_KEYS = {"name", "title", "paper", "notes", "source", "analyses", "grid", "scales", "scale"}
_OVERRIDE_KEYS = {"title", "notes", "source", "analyses", "each_analysis", "grid"}

_SOURCE_DEFAULTS = {
    "train": {"arch": None, "widths": None, "no_pool": False, "dataset": "mnist", "nets": 1,
              "iterations": None, "checkpoints": None, "seed": 0, "batch_size": 128,
              "lr": None, "device": "cpu"},
    # format: which ImageNet file to fetch when no weights are given (cnntopo.sources.downloads.MODELS)
    "vgg": {"name": "vgg16", "weights": None, "format": "keras"},
    "efficientnet-lite0": {},
    "patches": {"n_patches": 50_000, "top_contrast": 0.2, "seed": 0},
    "run": {"path": None},
}
_ANALYSIS_DEFAULTS = {"tag": None, "layer": None, "iteration": None, "channel": None,
                      "network": None, "subsample": None, "seed": 0, "k": None, "p": None,
                      "mapper": None, "barcodes": None}
_ROW_DEFAULTS = {"label": None, "layer": None, "channel": None, "network": None,
                 "subsample": None, "seed": 0, "k": None, "p": None, "mapper": None}
_MAPPER_DEFAULTS = {"resolution": 30, "gain": 3.0, "vne": "variance", "n_bins": 10, "seed": 0,
                    "n_thumbnails": 12, "lens": "pca", "min_cluster_fraction": 0.0,
                    "n_bootstrap": 100}
_BARCODE_DEFAULTS = {"landmarks": 100, "nu": 1, "maxdim": 1, "coeff": 2, "seed": 0,
                     "max_filtration": None, "num_divisions": None}
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Checker:
    """Type checks that name the offending key as a path like ``analyses[1].mapper.gain``."""

    def __init__(self, name):
        self.name = name

    def fail(self, where, expected, value):
        raise InputError(f"experiment {self.name!r}: {where} must be {expected}; got {value!r}.")

    def keys(self, where, obj, allowed):
        if not isinstance(obj, dict):
            self.fail(where, "a JSON object", obj)
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise InputError(f"experiment {self.name!r}: unknown key {unknown[0]!r} in {where} "
                             f"(allowed: {', '.join(sorted(allowed))}).")

    def int(self, where, value, low=None, *, optional=False):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
                (low is not None and value < low):
            self.fail(where, "an int" + (f" >= {low}" if low is not None else "")
                      + (" or null" if optional else ""), value)
        return int(value)

    def real(self, where, value, low, high, *, low_open=True, optional=False):
        if value is None and optional:
            return None
        ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
              and (value > low if low_open else value >= low) and value <= high)
        if not ok:
            bracket = "(" if low_open else "["
            either = " or null" if optional else ""
            self.fail(where, f"a number in {bracket}{low}, {high}]{either}", value)
        return float(value)

    def str(self, where, value, choices=None, *, optional=False):
        if value is None and optional:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            self.fail(where, "a string" if choices is None else f"one of {list(choices)}", value)
        return value


def _merge(base, override):
    """Dicts merge recursively; anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return copy.deepcopy(override)


def _merge_list(base, override, where, name):
    if isinstance(override, dict):  # one dict for every element
        return [_merge(b, override) for b in base]
    if not isinstance(override, list) or len(override) != len(base):
        raise InputError(f"experiment {name!r}: the override of {where} must be a list of "
                         f"{len(base)} entries (one per entry, null to drop one) or one object; "
                         f"got {override!r}.")
    return [_merge(b, o) for b, o in zip(base, override) if o is not None]


def resolve_scale(config, scale="paper"):
    """Apply the overrides of `scale` to a raw config; the result has ``scale``, no ``scales``."""
    if scale not in SCALES:
        raise InputError(f"The 'scale' parameter must be one of {list(SCALES)}; got {scale!r}.")
    if not isinstance(config, dict):
        raise TypeError(f"an experiment config must be a dict; got {type(config).__name__}.")
    name = config.get("name", "?")
    scales = config.get("scales") or {}
    if not isinstance(scales, dict):
        raise InputError(f"experiment {name!r}: scales must be a JSON object; got {scales!r}.")
    unknown = sorted(set(scales) - set(SCALES))
    if unknown:
        raise InputError(f"experiment {name!r}: unknown key {unknown[0]!r} in scales "
                         f"(allowed: {', '.join(SCALES)}).")
    if scale != "paper" and scale not in scales:
        raise InputError(f"experiment {name!r} has no {scale!r} scale (it has: "
                         f"{', '.join(['paper', *[s for s in scales if s != 'paper']])}).")
    override = scales.get(scale) or {}
    ck = _Checker(name)
    ck.keys(f"scales.{scale}", override, _OVERRIDE_KEYS)
    out = {k: copy.deepcopy(v) for k, v in config.items() if k not in ("scales", "scale")}
    for key, value in override.items():
        if key == "analyses":
            out["analyses"] = _merge_list(out.get("analyses") or [], value, "analyses", name)
        elif key == "each_analysis":
            ck.keys(f"scales.{scale}.each_analysis", value, _ANALYSIS_DEFAULTS)
        elif key == "grid" and isinstance(value, dict) and isinstance(out.get("grid"), dict):
            grid = dict(value)
            rows = grid.pop("rows", None)
            out["grid"] = _merge(out["grid"], grid)
            if rows is not None:
                out["grid"]["rows"] = _merge_list(out["grid"].get("rows") or [], rows,
                                                  "grid.rows", name)
        else:
            out[key] = _merge(out.get(key), value)
    if "each_analysis" in override:
        out["analyses"] = [_merge(a, override["each_analysis"]) for a in out.get("analyses") or []]
    out["scale"] = scale
    return out


def _check_mapper(ck, where, spec):
    ck.keys(where, spec, _MAPPER_DEFAULTS)
    m = {**_MAPPER_DEFAULTS, **spec}
    if m["resolution"] != "auto":
        m["resolution"] = ck.int(f"{where}.resolution", m["resolution"], 1)
    if m["gain"] != "auto":
        if isinstance(m["gain"], bool) or not isinstance(m["gain"], numbers.Real) or m["gain"] <= 1:
            ck.fail(f"{where}.gain", "a number > 1 or \"auto\"", m["gain"])
        m["gain"] = float(m["gain"])
    m["n_bootstrap"] = ck.int(f"{where}.n_bootstrap", m["n_bootstrap"], 0)
    if m["vne"] not in ("variance", "std", "none", None):
        ck.fail(f"{where}.vne", "one of 'variance', 'std', 'none'", m["vne"])
    m["vne"] = m["vne"] or "none"
    m["n_bins"] = ck.int(f"{where}.n_bins", m["n_bins"], 1)
    m["seed"] = ck.int(f"{where}.seed", m["seed"], 0)
    m["n_thumbnails"] = ck.int(f"{where}.n_thumbnails", m["n_thumbnails"], 0)
    m["lens"] = ck.str(f"{where}.lens", m["lens"], ("pca", "neighborhood"))
    m["min_cluster_fraction"] = ck.real(f"{where}.min_cluster_fraction",
                                        m["min_cluster_fraction"], 0, float("inf"), low_open=False)
    return m


def _check_barcodes(ck, where, spec):
    ck.keys(where, spec, _BARCODE_DEFAULTS)
    b = {**_BARCODE_DEFAULTS, **spec}
    b["landmarks"] = ck.int(f"{where}.landmarks", b["landmarks"], 2)
    b["nu"] = ck.int(f"{where}.nu", b["nu"], 0)
    if b["nu"] > 2:
        ck.fail(f"{where}.nu", "0, 1 or 2", b["nu"])
    b["maxdim"] = ck.int(f"{where}.maxdim", b["maxdim"], 0)
    b["coeff"] = ck.int(f"{where}.coeff", b["coeff"], 2)
    b["seed"] = ck.int(f"{where}.seed", b["seed"], 0)
    if b["max_filtration"] is not None:
        b["max_filtration"] = ck.real(f"{where}.max_filtration", b["max_filtration"], 0,
                                      float("inf"))
    b["num_divisions"] = ck.int(f"{where}.num_divisions", b["num_divisions"], 1, optional=True)
    if b["num_divisions"] is not None and b["max_filtration"] is None:
        ck.fail(f"{where}.max_filtration", "a number when num_divisions is set", None)
    return b


def _check_cloud(ck, where, spec, kind, defaults):
    """Fields shared by an analysis and a grid row: which points, and rho(k, p)."""
    ck.keys(where, spec, defaults)
    a = {**defaults, **spec}
    layer = a["layer"]
    if kind == "patches":
        if layer is not None:
            ck.fail(f"{where}.layer", "null for natural image patches", layer)
    elif isinstance(layer, list):
        if not layer:
            ck.fail(f"{where}.layer", "a layer number >= 1 or a non-empty list of them", layer)
        a["layer"] = [ck.int(f"{where}.layer[{i}]", v, 1) for i, v in enumerate(layer)]
    else:
        a["layer"] = ck.int(f"{where}.layer", layer, 1)
    a["channel"] = ck.int(f"{where}.channel", a["channel"], 0, optional=True)
    a["network"] = ck.int(f"{where}.network", a["network"], 0, optional=True)
    if a["network"] is not None and kind not in ("train", "run"):
        ck.fail(f"{where}.network", "null for a source that is not an ensemble", a["network"])
    if a["channel"] is not None and kind == "patches":
        ck.fail(f"{where}.channel", "null for natural image patches", a["channel"])
    a["subsample"] = ck.int(f"{where}.subsample", a["subsample"], 2, optional=True)
    a["seed"] = ck.int(f"{where}.seed", a["seed"], 0)
    a["k"] = ck.int(f"{where}.k", a["k"], 1, optional=True)
    a["p"] = ck.real(f"{where}.p", a["p"], 0, 1, optional=True)
    if (a["k"] is None) != (a["p"] is None):
        ck.fail(f"{where}.k and p", "both set (rho(k, p)) or both null", (a["k"], a["p"]))
    if a["mapper"] is not None:
        a["mapper"] = _check_mapper(ck, f"{where}.mapper", a["mapper"])
    return a


def _default_tag(a):
    parts = []
    layer = a.get("layer")
    if layer is None:
        parts.append("patches")
    else:
        layers = layer if isinstance(layer, list) else [layer]
        parts.append("layer" + "-".join(map(str, layers)))
    for key, short in (("iteration", "it"), ("channel", "ch"), ("network", "net")):
        if a.get(key) is not None:
            parts.append(f"{short}{a[key]}")
    if a.get("k") is not None:
        parts.append(f"k{a['k']}")
    return "_".join(parts)


def _check_source(ck, src):
    if not isinstance(src, dict):
        ck.fail("source", "a JSON object with a 'kind'", src)
    kind = ck.str("source.kind", src.get("kind"), SOURCE_KINDS)
    defaults = _SOURCE_DEFAULTS[kind]
    ck.keys("source", src, {"kind", *defaults})
    s = {"kind": kind, **defaults, **{k: v for k, v in src.items() if k != "kind"}}
    if kind == "train":
        s["arch"] = ck.str("source.arch", s["arch"], ("M", "C"))
        w = s["widths"]
        if not (isinstance(w, list) and len(w) == 3):
            ck.fail("source.widths", "a list of three widths [X, Y, Z]", w)
        s["widths"] = [ck.int(f"source.widths[{i}]", v, 0) for i, v in enumerate(w)]
        if s["widths"][0] == 0:
            ck.fail("source.widths[0]", "an int >= 1 (the first conv layer is what is read)", 0)
        if not isinstance(s["no_pool"], bool):
            ck.fail("source.no_pool", "true or false", s["no_pool"])
        s["dataset"] = ck.str("source.dataset", s["dataset"], DATASETS)
        s["nets"] = ck.int("source.nets", s["nets"], 1)
        s["iterations"] = ck.int("source.iterations", s["iterations"], 1)
        if s["checkpoints"] is not None:
            if not isinstance(s["checkpoints"], list):
                ck.fail("source.checkpoints", "a list of iterations or null", s["checkpoints"])
            s["checkpoints"] = [ck.int(f"source.checkpoints[{i}]", v, 1)
                                for i, v in enumerate(s["checkpoints"])]
        s["seed"] = ck.int("source.seed", s["seed"], 0)
        s["batch_size"] = ck.int("source.batch_size", s["batch_size"], 1)
        if s["lr"] is not None:
            s["lr"] = ck.real("source.lr", s["lr"], 0, float("inf"))
        s["device"] = ck.str("source.device", s["device"])
    elif kind == "vgg":
        s["name"] = ck.str("source.name", s["name"], ("vgg16", "vgg19"))
        s["weights"] = ck.str("source.weights", s["weights"], optional=True)
        s["format"] = ck.str("source.format", s["format"], ("keras", "torchvision"))
    elif kind == "patches":
        s["n_patches"] = ck.int("source.n_patches", s["n_patches"], 2)
        s["top_contrast"] = ck.real("source.top_contrast", s["top_contrast"], 0, 1)
        s["seed"] = ck.int("source.seed", s["seed"], 0)
    elif kind == "run":
        s["path"] = ck.str("source.path", s["path"])
    return s


def validate_config(config):
    """Check a config (as :func:`resolve_scale` returns it) and fill in every default.

    Returns a new dict; raises ValueError naming the offending key (``analyses[0].k``).
    A config that still has ``scales`` is resolved at the paper scale first.
    """
    if not isinstance(config, dict):
        raise TypeError(f"an experiment config must be a dict; got {type(config).__name__}.")
    if "scales" in config:
        config = resolve_scale(config, config.get("scale") or "paper")
    ck = _Checker(config.get("name", "?"))
    ck.keys("the config", config, _TOP_KEYS - {"scales"})
    for key in ("name", "title", "paper"):
        ck.str(key, config.get(key))
    if not _TAG.match(config["name"]):
        ck.fail("name", "letters, digits, '-', '_' or '.'", config["name"])
    out = {"name": config["name"], "title": config["title"], "paper": config["paper"],
           "notes": ck.str("notes", config.get("notes"), optional=True),
           "scale": ck.str("scale", config.get("scale", "paper"), SCALES)}
    src = out["source"] = _check_source(ck, config.get("source"))
    kind = src["kind"]

    analyses = config.get("analyses") or []
    if not isinstance(analyses, list):
        ck.fail("analyses", "a list", analyses)
    out["analyses"], tags = [], set()
    for i, raw in enumerate(analyses):
        where = f"analyses[{i}]"
        a = _check_cloud(ck, where, raw, kind, _ANALYSIS_DEFAULTS)
        a["iteration"] = ck.int(f"{where}.iteration", a["iteration"], 1, optional=True)
        if a["iteration"] is not None and kind not in ("train", "run"):
            ck.fail(f"{where}.iteration", "null for a source without checkpoints", a["iteration"])
        if a["barcodes"] is not None:
            a["barcodes"] = _check_barcodes(ck, f"{where}.barcodes", a["barcodes"])
        if a["mapper"] is None and a["barcodes"] is None:
            ck.fail(f"{where}", "an analysis with a 'mapper' or a 'barcodes' entry (or both)", raw)
        a["tag"] = _default_tag(a) if a["tag"] is None else ck.str(f"{where}.tag", a["tag"])
        if not _TAG.match(a["tag"]):
            ck.fail(f"{where}.tag", "letters, digits, '-', '_' or '.' (it names files)", a["tag"])
        if a["tag"] in tags:
            ck.fail(f"{where}.tag", "unique among the analyses", a["tag"])
        tags.add(a["tag"])
        out["analyses"].append(a)

    grid = config.get("grid")
    if grid is not None:
        if kind not in ("train", "run"):
            ck.fail("grid", "null for a source without checkpoints", grid)
        ck.keys("grid", grid, {"iterations", "rows"})
        its = grid.get("iterations")
        if not isinstance(its, list) or not its:
            ck.fail("grid.iterations", "a non-empty list of iterations", its)
        rows = grid.get("rows")
        if not isinstance(rows, list) or not rows:
            ck.fail("grid.rows", "a non-empty list of rows", rows)
        g = {"iterations": [ck.int(f"grid.iterations[{i}]", v, 1) for i, v in enumerate(its)],
             "rows": []}
        for i, raw in enumerate(rows):
            r = _check_cloud(ck, f"grid.rows[{i}]", raw, kind, _ROW_DEFAULTS)
            if r["mapper"] is None:
                r["mapper"] = dict(_MAPPER_DEFAULTS)
            if r["label"] is None:
                r["label"] = f"layer {r['layer']}"
            r["label"] = ck.str(f"grid.rows[{i}].label", r["label"])
            g["rows"].append(r)
        grid = g
    out["grid"] = grid
    if not out["analyses"] and grid is None:
        ck.fail("analyses", "a non-empty list (or give a grid)", analyses)

    if kind == "train":
        needed = sorted({a["iteration"] for a in out["analyses"] if a["iteration"]}
                        | set(grid["iterations"] if grid else []))
        total = src["iterations"]
        late = [i for i in needed + (src["checkpoints"] or []) if i > total]
        if late:
            ck.fail("source.iterations", f"at least every iteration asked for ({max(late)})", total)
        src["checkpoints"] = sorted(set(src["checkpoints"] or []) | set(needed) | {total})
    return out


def _config_files():
    def order(path):  # fig2 .. fig15 in figure order, then the text-only experiments by name
        m = re.fullmatch(r"fig(\d+)", path.stem)
        return (0, int(m.group(1)), "") if m else (1, 0, path.stem)

    return sorted(CONFIG_DIR.glob("*.json"), key=order)


def list_experiments():
    """The bundled experiments as ``(name, title)`` pairs: figures in order, then the rest."""
    out = []
    for path in _config_files():
        with open(path, encoding="utf-8") as fh:
            cfg = json.load(fh)
        out.append((cfg.get("name", path.stem), cfg.get("title", "")))
    return out


def load_config(name_or_path, scale="paper"):
    """Load a bundled experiment by name (``"fig2"``) or a config file by path, at `scale`.

    Returns
    -------
    dict
        The validated config with every default filled in and ``scale`` set.
    """
    path = Path(name_or_path)
    if not (path.suffix == ".json" or path.is_file()):
        path = CONFIG_DIR / f"{name_or_path}.json"
        if not path.is_file():
            names = ", ".join(n for n, _ in list_experiments())
            raise InputError(f"no experiment named {str(name_or_path)!r}; the bundled ones are: "
                             f"{names} (or give the path of a config .json file).")
    elif not path.is_file():
        raise InputError(f"experiment config file {str(path)!r} does not exist.")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"experiment config {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"experiment config {str(path)!r} must hold a JSON object; "
                         f"got {type(raw).__name__}.")
    return validate_config(resolve_scale(raw, scale))
