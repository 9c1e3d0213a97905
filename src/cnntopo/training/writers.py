"""What a :class:`~cnntopo.training.watch.Watcher` sends to a writer.

A writer is TensorBoard's ``SummaryWriter`` or anything with ``add_scalar(tag, value, step)``
(tensorboardX, a W&B or MLflow shim, a list of Lightning loggers through
:mod:`cnntopo.integrations.lightning`). What it gets per snapshot:

- one scalar per layer and reading, tagged ``topology/<layer>/<metric>``: ``<layer>`` is the
  layer's name without ``.weight`` (``layer1.0.conv1``), ``<metric>`` one of :data:`METRICS`;
- the readings in words, ``topology/<layer>/reading``, where the writer has ``add_text``;
- every few snapshots, where it has ``add_image``, the density of the layer's filters on the
  Klein bottle's fundamental square, ``topology/<layer>/klein_density`` (:func:`klein_image`).

A writer with ``log_metrics(dict, step)`` (the Lightning logger API) gets each snapshot's
scalars in one call instead. Later, :meth:`Watcher.close` with the significance test adds
``topology/<layer>/b0`` and ``b1`` at every snapshot's step and the verdict in words,
``topology/<layer>/verdict``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "layer_tag", "reading_text", "klein_image", "log_readings",
           "log_verdict"]

# the light readings a snapshot logs per layer, as the verdict rows name them
METRICS = ("primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
           "off_model_fraction")

# matplotlib's "magma_r" at 9 points (the colour map of plot_klein_density), so that the
# picture needs no matplotlib; empty cells are white.
_RAMP = np.array([[252, 253, 191], [254, 194, 135], [251, 135, 97], [229, 80, 100],
                  [181, 54, 122], [129, 37, 129], [79, 18, 123], [28, 16, 68], [0, 0, 4]],
                 dtype=np.float64)
_CIRCLE = np.array([31, 119, 180], dtype=np.uint8)  # the dashed primary circle, as in the plot


def layer_tag(name):
    """``layer1.0.conv1.weight`` -> ``layer1.0.conv1``: the layer part of a writer's tag."""
    name = str(name)
    return name[:-len(".weight")] if name.endswith(".weight") else name


def reading_text(row):
    """The light readings of one layer in words.

    Parameters
    ----------
    row : dict
        A readings row (:func:`cnntopo.training.watch.layer_readings`).

    Returns
    -------
    str
        ``"62% of 1,024 filters near the primary circle (orientation coverage 0.93); 81% within
        0.5 of the Klein bottle, 19% off the model."``; with a density filtration "... of the
        307 densest of 1,024 filters, rho(15, 0.3), ...".
    """
    n = row.get("n_filters")
    what = f"{n:,} filters" if n is not None else "the filters"
    if row.get("n_read") is not None and n is not None and row["n_read"] < n:
        what += f" ({row['n_read']:,} read)"
    if row.get("k") is not None and row.get("n_kept") is not None:
        what = f"the {row['n_kept']:,} densest of {what}, rho({row['k']}, {row['p']:g}),"
    if row.get("status") == "skipped":
        return f"Not read: {row.get('reason')}."
    if row.get("primary_circle_fraction") is None:
        return (f"{what}: no Klein-bottle readings for {row.get('kernel', '?')} filters "
                f"(the model is that of 3x3 patches).")
    cov = row.get("primary_circle_coverage")
    cov = "" if cov is None else f" (orientation coverage {cov:.2f})"
    text = (f"{row['primary_circle_fraction']:.0%} of {what} near the primary circle{cov}; "
            f"{row['klein_fraction']:.0%} within 0.5 of the Klein bottle, "
            f"{row['off_model_fraction']:.0%} off the model.")
    kernel = row.get("kernel")
    if kernel not in (None, "3x3") and row.get("primary_circle_fraction_random") is not None:
        text += (f" ({kernel} filters area-averaged to 3x3; random {kernel} filters: "
                 f"{row['primary_circle_fraction_random']:.0%} near the primary circle, "
                 f"{row['klein_fraction_random']:.0%} within 0.5 of the Klein bottle.)")
    return text


def klein_image(theta, phi, *, bins=(18, 36), cell=8):
    """The density of filters on the Klein bottle's fundamental square, as an RGB image.

    The picture of :func:`cnntopo.viz.plots.plot_klein_density` without its axes (so that
    logging it needs no matplotlib and costs a millisecond): theta (the edge's orientation,
    [0, pi)) runs left to right, phi (edge at 0, dark line at pi/2, negated edge at pi, bright
    line at 3 pi/2) bottom to top; counts on a square-root scale from white (none) through
    orange and purple to black (the most); the primary circle (phi = 0, pi, 2 pi) dashed in
    blue.

    Parameters
    ----------
    theta, phi : array_like of shape (n,)
        Klein coordinates of the filters near the model
        (:func:`cnntopo.topology.klein.klein_coordinates`).
    bins : (int, int)
        Cells along theta and phi.
    cell : int
        Pixels per cell side.

    Returns
    -------
    ndarray of uint8, shape (bins[1] * cell + 2, bins[0] * cell + 2, 3)
        Height x width x RGB (``dataformats="HWC"`` for TensorBoard), with a one-pixel frame.
    """
    from ..topology.klein import klein_histogram

    counts, _, _ = klein_histogram(np.asarray(theta), np.asarray(phi), bins=tuple(bins))
    top = max(int(counts.max()) if counts.size else 0, 1)
    level = np.sqrt(counts.T[::-1] / top)          # rows: phi from 2 pi (top) down to 0
    pos = level * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_RAMP) - 2)
    frac = (pos - lo)[..., None]
    rgb = (1 - frac) * _RAMP[lo] + frac * _RAMP[lo + 1]
    rgb[counts.T[::-1] == 0] = 255
    img = np.kron(rgb, np.ones((cell, cell, 1))).round().astype(np.uint8)
    h, w = img.shape[:2]
    dashes = (np.arange(w) // max(cell // 2, 1)) % 2 == 0
    for row in (0, h // 2, h - 1):                  # phi = 2 pi, pi, 0
        img[row, dashes] = _CIRCLE
    return np.pad(img, ((1, 1), (1, 1), (0, 0)), constant_values=0)


def _scalars(rows):
    out = {}
    for row in rows:
        if row.get("status") == "skipped":
            continue
        for metric in METRICS:
            value = row.get(metric)
            if value is not None:
                out[f"topology/{layer_tag(row['layer_name'])}/{metric}"] = float(value)
    return out


def _send_scalars(writer, scalars, step):
    if not scalars:
        return
    if hasattr(writer, "log_metrics"):  # the Lightning logger API: one call per step
        writer.log_metrics(scalars, step)
        return
    for tag, value in scalars.items():
        writer.add_scalar(tag, value, step)


def log_readings(writer, rows, step, *, images=None):
    """Send one snapshot's readings to `writer`.

    Parameters
    ----------
    writer : object with ``add_scalar`` or ``log_metrics``
    rows : list of dict
        One readings row per layer.
    step : int
    images : dict of str to ndarray, optional
        ``{layer name: HWC uint8 image}`` (:func:`klein_image`), sent where the writer has
        ``add_image``.
    """
    _send_scalars(writer, _scalars(rows), step)
    if hasattr(writer, "add_text"):
        for row in rows:
            writer.add_text(f"topology/{layer_tag(row['layer_name'])}/reading",
                            reading_text(row), step)
    if images and hasattr(writer, "add_image"):
        for name, img in images.items():
            writer.add_image(f"topology/{layer_tag(name)}/klein_density", img, step,
                             dataformats="HWC")


def log_verdict(writer, rows):
    """Send verdict rows (the significance test's bars and the reading in words) to `writer`.

    A count of zero where the row says "too few points to tell" is left out.

    Parameters
    ----------
    writer : object with ``add_scalar`` or ``log_metrics``
    rows : list of dict
        Verdict rows of snapshots (:func:`cnntopo.training.run_readings.describe_run`), each with
        ``iteration`` and ``layer_name``; skipped rows are left out.
    """
    by_step = {}
    for row in rows:
        if row.get("status") == "skipped" or row.get("significant") is None:
            continue
        tag = layer_tag(row["layer_name"])
        scalars = by_step.setdefault(int(row["iteration"]), {})
        undecided = row.get("undecided") or []
        for q, count in enumerate(row["significant"][:2]):
            if count == 0 and q < len(undecided) and undecided[q]:
                continue  # too few points to tell: no number to plot
            scalars[f"topology/{tag}/b{q}"] = float(count)
    for step, scalars in sorted(by_step.items()):
        _send_scalars(writer, scalars, step)
    if hasattr(writer, "add_text"):
        for row in rows:
            if row.get("status") != "skipped" and row.get("reading"):
                writer.add_text(f"topology/{layer_tag(row['layer_name'])}/verdict",
                                row["reading"], int(row["iteration"]))
