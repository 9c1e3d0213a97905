"""The numbers of the Klein-layers experiment: intervals over seeds, thresholds, tables.

Plain functions over the plain data :func:`cnntopo.experiments.klein_layers.run_klein_layers`
returns (``klein_layers.json``): :func:`summarise` gives every measure's mean and 95%
Student t-interval over seeds, and each condition's difference from the baseline paired by
seed; :func:`format_tables` writes them as Markdown.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CONTRASTS", "READINGS", "REPORT_AT", "SHIFTS", "format_tables", "headline_table",
           "images_to_reach", "summarise", "t_interval"]

REPORT_AT = (500, 1000, 2000, 5000, 10000, 60000)   # images: the table's columns
SHIFTS = ("noisy->clean", "noisy->noisy", "clean->noisy", "polarity", "blur")
# the questions, as paired differences (a - b, by seed): is it the Klein bottle, or any fixed
# edge filters? Does Klein connectivity beat a random mask of the same density? And the two
# runs of the published comparison, in its own setting.
CONTRASTS = (
    ("klein-frozen", "circle-frozen"),
    ("klein-frozen", "gabor-frozen"),
    ("klein-frozen", "random-frozen"),
    ("klein-frozen+klein-mask", "klein-frozen+random-mask"),
    ("klein-frozen+klein-mask", "klein-frozen"),
    ("klein-frozen+klein-mask (published setting)", "baseline (published setting)"),
)
READINGS = ("primary_circle_fraction", "klein_fraction", "klein_distance_median",
            "cosine_to_start_median")


def t_interval(values, level=0.95):
    """(mean, low, high): the Student t-interval of the mean of `values` (NaNs dropped).

    ``mean +- t(1/2 + level/2, n - 1) * s / sqrt(n)``, s the sample standard deviation. One
    value gives (v, nan, nan); none gives three NaNs.
    """
    from scipy.special import (
        stdtrit,  # the t quantile (scipy.stats takes seconds to import)
    )

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan,) * 3
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan
    half = float(stdtrit(x.size - 1, 0.5 + level / 2) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def images_to_reach(images, accuracy, threshold):
    """Training images at which `accuracy` first reaches `threshold`.

    Log-linear interpolation between the checkpoints around the crossing; the first
    checkpoint when it is already there; None when it is never reached.
    """
    for i, (n, a) in enumerate(zip(images, accuracy)):
        if a >= threshold:
            if i == 0:
                return float(n)
            n0, a0 = images[i - 1], accuracy[i - 1]
            f = (threshold - a0) / (a - a0)
            return float(math.exp(math.log(n0) + f * (math.log(n) - math.log(n0))))
    return None


def _ci(values):
    """{"mean", "low", "high", "n"}; None where nothing can be computed (JSON has no NaN)."""
    values = np.asarray(values, dtype=np.float64)
    mean, lo, hi = (None if math.isnan(v) else v for v in t_interval(values))
    return {"mean": mean, "low": lo, "high": hi, "n": int(np.isfinite(values).sum())}


def summarise(results):
    """Means and 95% t-intervals over seeds of every measure; plain data.

    Returns
    -------
    dict
        Per dataset: ``checkpoints``, ``threshold``, ``seeds`` and ``runs``: per run its
        ``lr``, ``test`` (one interval per checkpoint), ``diff_vs_baseline`` (paired by
        seed), ``images_to_threshold`` (over the seeds that reach it) and ``reached``,
        ``shift`` and ``shift_diff_vs_baseline`` (per shift), ``readings`` (per reading,
        one interval per checkpoint with 0 images first) where the run has them; and
        ``contrasts``: the paired differences of `CONTRASTS` (``test`` per checkpoint,
        ``shift``).
    """
    out = {}
    for name, d in results["datasets"].items():
        ckpt = d["checkpoints"]
        base = np.asarray(d["runs"]["baseline"]["test"], dtype=float)
        rows = {}
        for run, r in d["runs"].items():
            test = np.asarray(r["test"], dtype=float)           # (seeds, checkpoints)
            reach = [images_to_reach(ckpt, curve, d["threshold"]) for curve in test]
            row = {"lr": d["lr"][run],
                   "test": [_ci(test[:, j]) for j in range(len(ckpt))],
                   "diff_vs_baseline": [_ci(test[:, j] - base[:, j]) for j in range(len(ckpt))],
                   "images_to_threshold": _ci([np.nan if v is None else v for v in reach]),
                   "reached": int(sum(v is not None for v in reach)),
                   "shift": {k: _ci(v) for k, v in r["shift"].items()},
                   "shift_diff_vs_baseline": {
                       k: _ci(np.asarray(v, dtype=float)
                              - np.asarray(d["runs"]["baseline"]["shift"][k], dtype=float))
                       for k, v in r["shift"].items()}}
            if "readings" in r:
                keys = [k for k in READINGS if k in r["readings"][0][0]]
                row["readings"] = {key: [_ci([seed[j][key] for seed in r["readings"]])
                                         for j in range(len(ckpt) + 1)] for key in keys}
            rows[run] = row
        out[name] = {"checkpoints": ckpt, "threshold": d["threshold"], "runs": rows,
                     "seeds": int(base.shape[0]), "contrasts": _contrasts(d)}
    return out


def _contrasts(d):
    out = {}
    for a, b in CONTRASTS:
        if a not in d["runs"] or b not in d["runs"]:
            continue
        ra, rb = d["runs"][a], d["runs"][b]
        diff = np.asarray(ra["test"], dtype=float) - np.asarray(rb["test"], dtype=float)
        out[f"{a} - {b}"] = {
            "test": [_ci(diff[:, j]) for j in range(diff.shape[1])],
            "shift": {k: _ci(np.asarray(ra["shift"][k], dtype=float)
                             - np.asarray(rb["shift"][k], dtype=float))
                      for k in ra["shift"] if k in rb["shift"]}}
    return out


def _fmt(ci, pct=False):
    if ci is None or ci["mean"] is None:
        return "–"

    def f(v):
        return f"{100 * v:.1f}" if pct else f"{v:,.0f}"

    if ci["low"] is None:
        return f(ci["mean"])
    return f"{f(ci['mean'])} [{f(ci['low'])}, {f(ci['high'])}]"


def _columns(ckpt):
    cols = [c for c in REPORT_AT if c in ckpt]
    return cols or list(ckpt)


def _learning(name, s, results):
    ckpt, cols, thr, n = s["checkpoints"], _columns(s["checkpoints"]), s["threshold"], s["seeds"]
    lines = [(f"#### {name}: test accuracy (%) after n training images seen, mean [95% CI] "
              f"over {n} seeds"), "",
             "| condition | lr | " + " | ".join(f"{c:,}" for c in cols)
             + f" | images to {100 * thr:.0f}% |", "|---|---|" + "---|" * (len(cols) + 1)]
    for run, r in s["runs"].items():
        reach = _fmt(r["images_to_threshold"])
        if r["reached"] < n:
            reach += f" ({r['reached']}/{n} reached it by {ckpt[-1]:,})"
        lines.append(f"| {run} | {r['lr']:g} | "
                     + " | ".join(_fmt(r["test"][ckpt.index(c)], pct=True) for c in cols)
                     + f" | {reach} |")
    pub = results["published"].get(name)
    if pub:
        for key, label in (("klein-frozen+klein-mask", "Klein filters + Klein connectivity"),
                           ("baseline", "plain conv layers")):
            lines.append(f"| *published: {label} (one run, Adam 1e-5, MSE on softmax)* | 1e-05 | "
                         + " | ".join(f"*{100 * pub[key]:.0f}*" if c == pub["images"]
                                                  else "" for c in cols) + " | |")
    lines += ["", "Difference from the baseline, percentage points, paired by seed (mean [95% CI]):",
              "",
              "| condition | " + " | ".join(f"{c:,}" for c in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for run, r in s["runs"].items():
        if run != "baseline":
            lines.append(f"| {run} | " + " | ".join(
                _fmt(r["diff_vs_baseline"][ckpt.index(c)], pct=True) for c in cols) + " |")
    return lines


def _contrast_table(name, s):
    ckpt, cols = s["checkpoints"], _columns(s["checkpoints"])
    shifts = ("noisy->clean", "clean->noisy", "polarity", "blur")
    lines = [(f"#### {name}: contrasts, a - b in percentage points, paired by seed (mean "
              "[95% CI]): test accuracy after n images, then under shift"), "",
             "| a - b | " + " | ".join(f"{c:,}" for c in cols) + " | " + " | ".join(shifts)
             + " |", "|---|" + "---|" * (len(cols) + len(shifts))]
    for pair, c in s.get("contrasts", {}).items():
        lines.append(f"| {pair} | "
                     + " | ".join(_fmt(c["test"][ckpt.index(k)], pct=True) for k in cols) + " | "
                     + " | ".join(_fmt(c["shift"].get(k), pct=True) for k in shifts) + " |")
    return lines if s.get("contrasts") else []


def _shift(name, s, results):
    cfg = results["config"]
    lines = [(f"#### {name}: distribution shift, test accuracy (%) (training -> test images; "
              f"clean training {s['checkpoints'][-1]:,} images, noisy training "
              f"{cfg['noisy_images']:,})"), "",
             "| condition | " + " | ".join(SHIFTS) + " |", "|---|" + "---|" * len(SHIFTS)]
    for run, r in s["runs"].items():
        lines.append(f"| {run} | " + " | ".join(_fmt(r["shift"].get(k), pct=True)
                                               for k in SHIFTS) + " |")
    lines += ["", "Difference from the baseline under shift, percentage points, paired by seed:",
              "", "| condition | " + " | ".join(SHIFTS) + " |", "|---|" + "---|" * len(SHIFTS)]
    for run, r in s["runs"].items():
        if run != "baseline":
            lines.append(f"| {run} | " + " | ".join(
                _fmt(r["shift_diff_vs_baseline"].get(k), pct=True) for k in SHIFTS) + " |")
    return lines


def _selection(name, sel):
    lrs = list(next(iter(sel["scores"].values())))
    lines = [(f"#### {name}: learning-rate selection, mean validation accuracy (%) over "
              f"{', '.join(f'{c:,}' for c in sel['checkpoints'])} images, selection seeds "
              f"{', '.join(map(str, sel['seeds']))}"), "",
             "| condition | " + " | ".join(lrs) + " | chosen |",
             "|---|" + "---|" * (len(lrs) + 1)]
    for run, scores in sel["scores"].items():
        lines.append(f"| {run} | " + " | ".join(f"{100 * scores[k]:.1f}" for k in lrs)
                     + f" | {sel['chosen'][run]:g} |")
    return lines


def _readings(name, s, d):
    ckpt, cols = s["checkpoints"], _columns(s["checkpoints"])
    runs = [(run, r) for run, r in s["runs"].items() if "readings" in r]
    if not runs:
        return []
    lines = [(f"#### {name}: conv1 over training, mean over seeds: primary-circle fraction / "
              "Klein fraction / median distance to the Klein bottle (cosine to the start "
              "filters after the last checkpoint); the verdict of the last filters, all seeds "
              "pooled"), "",
             "| condition | 0 | " + " | ".join(f"{c:,}" for c in cols) + " | verdict |",
             "|---|---|" + "---|" * (len(cols) + 1)]
    for run, r in runs:
        rd = r["readings"]
        idx = [0] + [1 + ckpt.index(c) for c in cols]
        cells = [" / ".join(f"{rd[k][j]['mean']:.2f}" for k in READINGS[:3] if k in rd)
                 for j in idx]
        if "cosine_to_start_median" in rd:
            cells[-1] += f" ({rd['cosine_to_start_median'][-1]['mean']:.2f})"
        v = d["runs"][run].get("verdict")
        verdict = (f"{v['reading']} (b1 = {v['significant'][1]}, {v['n_kept']} filters)"
                   if v else "–")
        if v and v.get("shape"):  # results from before issue 23 have no shape
            verdict += f"; shape: {v['shape']} ({v['shape_confidence']:.2f})"
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {verdict} |")
    return lines


def format_tables(results):
    """The Markdown tables of a result: learning, distribution shift, lr selection, readings."""
    lines = []
    for name, s in results["summary"].items():
        d = results["datasets"][name]
        for part in (_learning(name, s, results), _contrast_table(name, s),
                     _shift(name, s, results), _selection(name, d["selection"]),
                     _readings(name, s, d)):
            if part:
                lines += part + [""]
    banks = results["banks"]
    lines += ["The frozen filter banks themselves (primary-circle / Klein fraction): "
              + ", ".join(f"{k} {v['primary_circle_fraction']:.2f} / {v['klein_fraction']:.2f}"
                          for k, v in banks.items()) + ".", ""]
    return "\n".join(lines)


def headline_table(results, columns=(500, 2000, 5000, 10000, 60000)):
    """One Markdown table of every dataset: test accuracy at a few image counts, the images
    to the threshold and the noisy -> clean shift, each run's mean [95% CI]; the published
    numbers beside them."""
    lines = []
    for name, s in results["summary"].items():
        ckpt = s["checkpoints"]
        cols = [c for c in columns if c in ckpt] or list(ckpt)
        pub = results["published"].get(name)
        lines += [f"**{name}** ({s['seeds']} seeds)", "",
                  "| run | " + " | ".join(f"{c:,} images" for c in cols)
                  + f" | images to {100 * s['threshold']:.0f}% | noisy -> clean |",
                  "|---|" + "---|" * (len(cols) + 2)]
        for run, r in s["runs"].items():
            reach = _fmt(r["images_to_threshold"])
            if r["reached"] < s["seeds"]:
                reach = f"{r['reached']}/{s['seeds']} reach it" if r["reached"] else "not reached"
            lines.append(f"| {run} | " + " | ".join(_fmt(r["test"][ckpt.index(c)], pct=True)
                                                   for c in cols)
                         + f" | {reach} | {_fmt(r['shift'].get('noisy->clean'), pct=True)} |")
        if pub:
            for key, label in (("klein-frozen+klein-mask", "Klein filters + Klein connectivity"),
                               ("baseline", "plain conv layers")):
                lines.append(f"| *published (one run, Adam 1e-5, MSE): {label}* | "
                             + " | ".join(f"*{100 * pub[key]:.0f}*" if c == pub["images"] else ""
                                          for c in cols) + " | | |")
        lines.append("")
    return "\n".join(lines)
