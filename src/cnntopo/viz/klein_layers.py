"""Figures of the Klein-layers experiment, drawn from its results (``klein_layers.json``).

:func:`plot_learning_curves`: test accuracy against training images seen, one panel per
dataset, the mean over seeds with its 95% interval as a band, the published notebooks'
numbers as marks. :func:`plot_readings`: the primary-circle and Klein fractions of the
trainable conditions' conv1 over training.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONDITION_STYLE", "plot_learning_curves", "plot_readings"]

# colour and line of each run; the published-setting runs dashed, in a paler colour
CONDITION_STYLE = {
    "baseline": ("#222222", "-"),
    "klein-init": ("#1f77b4", "-"),
    "klein-frozen": ("#d62728", "-"),
    "circle-frozen": ("#ff7f0e", "-"),
    "gabor-frozen": ("#2ca02c", "-"),
    "random-frozen": ("#8c564b", "-"),
    "klein-frozen+klein-mask": ("#9467bd", "-"),
    "klein-frozen+random-mask": ("#e377c2", "-"),
    "baseline (published setting)": ("#8a8a8a", "--"),
    "klein-frozen+klein-mask (published setting)": ("#c5b0d5", "--"),
}


def _figure(n_cols, n_rows=1, height=4.6, ratios=None):
    """A figure and its axes [row][column]; the rows of a column share the x axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * n_cols, height), layout="constrained")
    grid = fig.add_gridspec(n_rows, n_cols, height_ratios=ratios)
    axes = [[fig.add_subplot(grid[0, c]) for c in range(n_cols)]]
    for r in range(1, n_rows):
        axes.append([fig.add_subplot(grid[r, c], sharex=axes[0][c]) for c in range(n_cols)])
    return fig, axes


def _legend(axes, loc):
    """One legend of every run (the panel with the most labelled lines holds the others'),
    drawn in the last panel, whose lower right is empty once the curves have risen."""
    handles, labels = max((a.get_legend_handles_labels() for a in axes), key=lambda h: len(h[1]))
    axes[-1].legend(handles, labels, fontsize=7, loc=loc, framealpha=0.9)


def _band(ax, x, cis, colour, style, label, scale=1.0):
    def values(key):
        return scale * np.array([np.nan if c[key] is None else c[key] for c in cis], dtype=float)

    mean, lo, hi = values("mean"), values("low"), values("high")
    ax.plot(x, mean, style, color=colour, lw=1.6, label=label, marker="o", ms=2.5)
    if np.isfinite(lo).any():
        ax.fill_between(x, lo, hi, color=colour, alpha=0.13, lw=0)


def plot_learning_curves(results):
    """Test accuracy against training images seen, and the difference from the baseline.

    Top row: each run's mean test accuracy over seeds with its 95% t-interval as a band,
    the published notebooks' two numbers as marks. Bottom row: each condition's difference
    from the baseline in percentage points, paired by seed, with its interval (zero: no
    difference). One column per dataset.

    Parameters
    ----------
    results : dict
        As :func:`cnntopo.experiments.klein_layers.run_klein_layers` returns it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    summary = results["summary"]
    fig, axes = _figure(len(summary), 2, height=9.0, ratios=(3, 2))
    for col, (name, s) in enumerate(summary.items()):
        top, bottom = axes[0][col], axes[1][col]
        x = np.asarray(s["checkpoints"], dtype=float)
        for run, r in s["runs"].items():
            colour, style = CONDITION_STYLE.get(run, ("#7f7f7f", "-"))
            _band(top, x, r["test"], colour, style, f"{run} (lr {r['lr']:g})")
            if run != "baseline" and "published" not in run:
                _band(bottom, x, r["diff_vs_baseline"], colour, style, run, scale=100.0)
        pub = results.get("published", {}).get(name)
        if pub:
            for key, marker in (("klein-frozen+klein-mask", "*"), ("baseline", "X")):
                top.plot([pub["images"]], [pub[key]], marker, color=CONDITION_STYLE[key][0],
                         ms=13, mec="white", mew=0.8, ls="none",
                         label=f"published {key} (1 run, lr 1e-5, MSE)")
        top.axhline(s["threshold"], color="#999999", lw=0.8, ls=":")
        bottom.axhline(0.0, color="#222222", lw=0.9)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
        top.set_ylim(0.0, 1.0)
        top.set_ylabel("test accuracy")
        top.set_title(f"{name}: mean and 95% interval over {s['seeds']} seeds "
                      f"(dotted: {100 * s['threshold']:.0f}%)")
        bottom.set_xlabel("training images seen")
        bottom.set_ylabel("difference from baseline (points)")
        bottom.set_title("paired by seed, 95% interval")
    _legend(axes[0], "lower right")
    return fig


def plot_readings(results):
    """conv1 of the trainable runs over training: the fractions within 0.5 of the primary
    circle (solid) and of the Klein bottle (dotted), the median distance to the Klein bottle
    (dash-dot); mean and 95% interval over seeds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    summary = results["summary"]
    fig, axes = _figure(len(summary), height=5.4)
    banks = results.get("banks", {})
    for ax, (name, s) in zip(axes[0], summary.items()):
        # 0 images drawn at half the first checkpoint (log axis)
        x = np.asarray([s["checkpoints"][0] / 2] + list(s["checkpoints"]), dtype=float)
        for run, r in s["runs"].items():
            if "readings" not in r:
                continue
            colour, _ = CONDITION_STYLE.get(run, ("#7f7f7f", "-"))
            _band(ax, x, r["readings"]["primary_circle_fraction"], colour, "-",
                  f"{run}: near the primary circle")
            _band(ax, x, r["readings"]["klein_fraction"], colour, ":",
                  f"{run}: near the Klein bottle")
            if "klein_distance_median" in r["readings"]:
                _band(ax, x, r["readings"]["klein_distance_median"], colour, "-.",
                      f"{run}: median distance to the Klein bottle")
        if "random" in banks:
            ax.axhline(banks["random"]["klein_fraction"], color="#8c564b", lw=0.8, ls=":",
                       label="random filters: near the Klein bottle")
        ax.set_xscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(["0"] + [f"{int(c):,}" for c in s["checkpoints"]], rotation=45,
                           fontsize=7)
        ax.set_xlabel("training images seen")
        ax.set_ylabel("fraction within 0.5  /  median distance")
        ax.set_ylim(0.0, 1.1)
        ax.set_title(f"{name}: conv1 of the trainable conditions")
        ax.grid(True, lw=0.3, alpha=0.5)
    handles, labels = max((a.get_legend_handles_labels() for a in axes[0]),
                          key=lambda h: len(h[1]))
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7)
    return fig
