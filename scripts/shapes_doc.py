"""Write docs/shapes.md: the shape verdict (homology over Z/2 and Z/3) of real networks.

Does any trained CNN layer carry the Klein bottle's homology, and not only lie near the
model? The atlas of six pretrained CNNs (every 3x3 conv layer at rho(100, 0.3), VGG16's
layers 2-13 and VGG19 among them), the demo's conv1 filters (``tests/data/demo-filters``, 5
seeds of 8 x M(64, 32, 64) at rho(20, 0.3)), the Klein-layer experiment's trained conv1
(``--klein-layers``: its ``klein_layers.json``, every seed's last filters pooled, read as the
experiment reads them) with the Klein bank as a control, and any run directories given with
``--run`` (the Figure 12 run) go through the verdict; the rows are kept in ``--rows`` (JSON,
docs/shapes.json) and the page is written from them.

    python scripts/shapes_doc.py                                  # everything (minutes)
    python scripts/shapes_doc.py --run fig12=runs/fig12/run:1,2   # and a run's layers
    python scripts/shapes_doc.py --refresh-klein-layers           # only the Klein-layer rows
    python scripts/shapes_doc.py --from-rows docs/shapes.json     # rewrite the page only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_rows(seed=0):
    """The demo's conv1 filters of each saved seed, at rho(20, 0.3) (the demo's reading)."""
    import numpy as np

    from cnntopo.verdict.analysis import describe_cloud

    rows = []
    for path in sorted((ROOT / "tests" / "data" / "demo-filters").glob("avx2-seed*.npy")):
        row = describe_cloud(np.load(path), layer=1, k=20, p=0.3, seed=seed)
        rows.append(dict(row, model=f"demo ({path.stem})", layer_name="conv1"))
    return rows


KLEIN_LAYERS = ROOT / "docs" / "klein-layers" / "klein_layers.json"
# The rows of the Klein-layer experiment ("source"): trained conv1 layers, and the Klein
# bank as a control (filters on the model, not a trained layer: not counted in the answer).
KLEIN_SOURCES = ("klein-layers", "klein-bank")
# The control's sizes: the experiment's bank (its conv1 width), as many filters as a pooled
# conv1 (16 x 5 seeds), and a grid fine enough for the reading to see the Klein bottle.
BANK_SIZES = (16, 80, 320)


def klein_layer_rows(path=KLEIN_LAYERS, seed=0):
    """The verdict rows of the Klein-layer experiment's trained conv1, every seed pooled.

    Parameters
    ----------
    path : path-like
        A ``klein_layers.json`` (``cnntopo reproduce klein-layers``).
    seed : int
        The verdict's seed (the experiment's is 0).

    Returns
    -------
    list of dict
        Per dataset and trainable run (those with ``conv1_final``), the row of
        ``describe_cloud`` of the last conv1 filters of all seeds, (seeds x 16, 9), at
        ``n_landmarks="auto"`` as the experiment's ``_verdicts`` reads them; ``model`` is
        e.g. "klein-layers mnist: klein-init (5 seeds pooled)", ``source`` "klein-layers".
    """
    import numpy as np

    from cnntopo.verdict.analysis import describe_cloud

    results = json.loads(Path(path).read_text())
    rows = []
    for dataset, d in results["datasets"].items():
        for run, r in d["runs"].items():
            if "conv1_final" not in r:
                continue
            filters = np.asarray(r["conv1_final"], dtype=np.float64)
            row = describe_cloud(filters.reshape(-1, 9), layer=1, n_landmarks="auto",
                                 seed=seed)
            rows.append(dict(row, model=f"klein-layers {dataset}: {run} "
                                        f"({len(filters)} seeds pooled)",
                             layer_name="conv1", source="klein-layers"))
    return rows


def klein_bank_rows(sizes=BANK_SIZES, seed=0):
    """The Klein bank as a control: the verdict rows of n filters on the Klein-bottle model.

    Parameters
    ----------
    sizes : sequence of int
        Bank sizes n (``filter_bank("klein", n)``, an n1 x n2 grid on the model; 16 is the
        Klein conditions' conv1).
    seed : int
        The verdict's seed.

    Returns
    -------
    list of dict
        One row per size, read as :func:`klein_layer_rows` reads a trained conv1; ``source``
        "klein-bank" (not a trained layer: the answer does not count it).
    """
    from cnntopo.training.klein_layers import filter_bank, grid_shape
    from cnntopo.verdict.analysis import describe_cloud

    rows = []
    for n in sizes:
        row = describe_cloud(filter_bank("klein", n, seed=0).reshape(-1, 9), layer=1,
                             n_landmarks="auto", seed=seed)
        n1, n2 = grid_shape(n)
        what = ", the Klein conditions' conv1" if n == 16 else ""
        rows.append(dict(row, model=f"Klein bank: {n} filters ({n1} x {n2} grid{what})",
                         layer_name="bank", source="klein-bank"))
    return rows


def _layers(rows):
    """The rows of trained layers (not the Klein bank's control rows)."""
    return [r for r in rows if r.get("source") != "klein-bank"]


def run_rows(spec, seed=0):
    """``LABEL=RUN_DIR[:LAYERS]``: the verdict of a run's last checkpoint at rho(20, 0.3)."""
    from cnntopo.verdict.layers import describe_source

    label, _, rest = spec.partition("=")
    where, _, layers = rest.partition(":")
    rows = describe_source(where, layers.split(",") if layers else None, k=20, p=0.3,
                           seed=seed, progress=False)
    return [dict(r, model=label) for r in rows]


def klein_answer(rows):
    """The one-line answer, from the rows."""
    from cnntopo.topology.shape import model_of

    tested = [r for r in _layers(rows) if r.get("shape") is not None]
    homology = [r for r in tested if model_of(r["significant"], r["significant_z3"])[0]
                == "Klein bottle" and not any(r["undecided"]) and not any(r["undecided_z3"])]
    near = [r for r in tested if (r.get("klein_fraction") or 0) >= 0.5]
    if homology:
        names = ", ".join(f"{r['model']} layer {r['layer']}" for r in homology)
        return (f"Yes: {len(homology)} of {len(tested)} layers carry the Klein bottle's "
                f"homology over Z/2 and Z/3 ({names}); {len(near)} lie near the model.")
    return (f"No: none of the {len(tested)} layers tested carries the Klein bottle's homology "
            f"(b = (1, 2, 1) over Z/2 and (1, 1, 0) over Z/3), although {len(near)} of them "
            f"lie near the model (at least half their filters within 0.5 of it).")


def _klein_layers_section(rows):
    """What the Klein-layer experiment's conv1 reads, and what the Klein bank says of it."""
    trained = [r for r in rows if r.get("source") == "klein-layers"]
    banks = [r for r in rows if r.get("source") == "klein-bank"]
    if not trained:
        return []
    lines = ["## The Klein-layer experiment's conv1", ""]
    lines += [f"- {r['model']}: {r['shape_reading']} ({r['n_kept']} filters, "
              f"{r['n_landmarks']} landmarks)" for r in trained]
    tested = [r for r in trained if not any(r["undecided"]) and not any(r["undecided_z3"])]
    sizes = sorted({r["n_kept"] for r in trained})
    if len(tested) == len(trained):
        lines.append(f"- H2 is tested in every one of them ({', '.join(map(str, sizes))} "
                     "filters, no bar undecided over either field).")
    else:
        lines.append(f"- {len(trained) - len(tested)} of the {len(trained)} have a bar left "
                     "undecided: too few points to test it.")
    if any(": klein-init " in r["model"] for r in trained):
        lines.append("- Every seed's Klein-initialised conv1 starts from the same 16 bank "
                     "filters and barely moves ([the experiment](results/klein-layers.md)): "
                     "its pooled filters are close copies of the bank's 16 more than 80 "
                     "points spread over the model.")
    for b in banks:
        lines.append(f"- Control, {b['model']}: {b['shape_reading']}.")
    pooled = [b for b in banks if b["n_kept"] in sizes]
    seen = [b for b in banks if b.get("shape") == "Klein bottle"]
    if pooled and all(b.get("shape") != "Klein bottle" for b in pooled):
        lines.append(f"- So at {pooled[0]['n_kept']} filters the reading does not name the "
                     "Klein bottle even for filters exactly on the model: that a pooled conv1 "
                     "does not carry its homology says nothing about whether training kept "
                     "it" + (f"; the reading names it from a grid of {seen[0]['n_kept']} "
                             f"filters (confidence {seen[0]['shape_confidence']:.2f})."
                             if seen else "."))
    return lines + [""]


def write_page(rows, seconds, out):
    from collections import Counter

    from cnntopo.files import atomic_write_text
    from cnntopo.verdict.table import format_table

    layers = _layers(rows)
    counts = Counter(r.get("shape") or "not tested" for r in layers)
    lines = ["# The shape of real networks' filters, over two fields", "",
             "Generated by `python scripts/shapes_doc.py` (issue 23); the rows of every table "
             "are the verdict's (`cnntopo.describe`): significant bars over Z/2 (b0, b1, b2) and "
             "over Z/3 on the same resamples, the Klein-bottle readings, and the shape both "
             "fields name (`cnntopo.topology.shape`).", "",
             "**Does any trained CNN layer carry the Klein bottle's homology?** "
             + klein_answer(rows), "",
             "Shapes read: " + ", ".join(f"{s} {n}" for s, n in counts.most_common()) + ".", "",
             f"Computed in {seconds / 60:.0f} min on the 2-core AMD EPYC (shared).", "",
             "The atlas's six networks (every 3x3 conv layer at rho(min(100, n/10), 0.3), "
             "VGG16's layers 1-13 and VGG19's 1-16 among them), the demo's conv1 (five "
             "seeds of 8 x M(64, 32, 64), rho(20, 0.3)) and the Klein-layer experiment's "
             "conv1: the last filters of each run whose conv1 trains, 16 a seed, every seed "
             "pooled, read as the experiment reads them (`docs/klein-layers/klein_layers.json`"
             ", `cnntopo reproduce klein-layers`; nothing retrained). The Klein bank (the "
             "filters the Klein conditions start from or keep frozen) is read the same way as "
             "a control; it is not a trained layer, and the counts on this page leave it out. "
             "Run directories join with `--run LABEL=RUN_DIR[:LAYERS]`. The Figure 12 run "
             "(`cnntopo reproduce fig12`) is not in this page: it trains on the full "
             "CIFAR-10, which is not available on this machine, so it was not run.", ""]
    for model in dict.fromkeys(r["model"] for r in rows):
        part = [r for r in rows if r["model"] == model]
        lines += [f"## {model}", "", format_table(part, style="markdown"), ""]
    lines += _klein_layers_section(rows)
    same = sum(list(r["significant"]) == list(r["significant_z3"]) for r in layers
               if r.get("shape") is not None)
    voids = [r for r in layers if r.get("shape") is not None and r["significant"][2]
             and not r["undecided"][2]]
    lines += ["## What the second field and H2 add", "",
              f"- Z/2 and Z/3 give the same Betti vectors in {same} of the "
              f"{sum(r.get('shape') is not None for r in layers)} layers tested: no layer shows "
              "the 2-torsion of a non-orientable surface, the Klein bottle's signature.",
              f"- {len(voids)} layers have a significant void (b2 = 1 over both fields). The "
              "verdict's `reading` (b0 and b1 over Z/2, unchanged) does not see it; the shape "
              "does. A void with b1 = 0 reads \"sphere\": normalised filters that spread over "
              "three dominant directions lie on the 2-sphere of those directions (normalised "
              "Gaussian filters with three dominant axes read b = (1, 1, 1) the same way, "
              "measured). With b1 = 2 it reads \"torus\" over both fields, never the Klein "
              "bottle.", "",
              "| network | layer | kept | b (Z/2) | b (Z/3) | reading (unchanged) | shape (conf) |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['layer']} | {r['n_kept']:,} | {tuple(r['significant'])} | "
              f"{tuple(r['significant_z3'])} | {r['reading']} | {r['shape']} "
              f"({r['shape_confidence']:.2f}) |" for r in voids]
    lines += ["", "## Readings in full", ""]
    lines += [f"- {r['model']} layer {r['layer']}: {r['shape_reading']}" for r in rows
              if r.get("shape_reading")]
    atomic_write_text(out, "\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], help="LABEL=RUN_DIR[:LAYERS]")
    ap.add_argument("--models", default=None, help="atlas models, comma-separated (all six)")
    ap.add_argument("--no-atlas", action="store_true")
    ap.add_argument("--klein-layers", type=Path, default=KLEIN_LAYERS,
                    help="the Klein-layer experiment's klein_layers.json (its conv1 rows)")
    ap.add_argument("--no-klein-layers", action="store_true")
    ap.add_argument("--refresh-klein-layers", action="store_true",
                    help="replace only the Klein-layer rows of --rows (the atlas is kept)")
    # the rows are kept beside the page, so that a test can check the page against them
    ap.add_argument("--rows", type=Path, default=ROOT / "docs" / "shapes.json")
    ap.add_argument("--from-rows", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "shapes.md")
    args = ap.parse_args(argv)

    from cnntopo.files import atomic_write_json

    if args.from_rows is not None:
        data = json.loads(args.from_rows.read_text())
        write_page(data["rows"], data["seconds"], args.out)
        return
    if args.refresh_klein_layers:
        data = json.loads(args.rows.read_text())
        t = time.perf_counter()
        rows = [r for r in data["rows"] if r.get("source") not in KLEIN_SOURCES]
        rows += klein_layer_rows(args.klein_layers) + klein_bank_rows()
        seconds = data["seconds"] + time.perf_counter() - t
        atomic_write_json(args.rows, {"seconds": seconds, "rows": rows})
        write_page(rows, seconds, args.out)
        print(klein_answer(rows))
        return
    t = time.perf_counter()
    rows = []
    if not args.no_atlas:
        from cnntopo.verdict.atlas import atlas

        models = None if args.models is None else args.models.split(",")
        rows += atlas(models, progress=True)["rows"]
    rows += demo_rows()
    if not args.no_klein_layers:
        rows += klein_layer_rows(args.klein_layers) + klein_bank_rows()
    for spec in args.run:
        rows += run_rows(spec)
    seconds = time.perf_counter() - t
    atomic_write_json(args.rows, {"seconds": seconds, "rows": rows})
    write_page(rows, seconds, args.out)
    print(klein_answer(rows))


if __name__ == "__main__":
    main()
