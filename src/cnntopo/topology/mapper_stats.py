"""How far a Mapper graph holds: parameters from the data, a confidence for each loop and
component, and how its nerve changes with the parameters.

After Carrière, Michel & Oudot, "Statistical analysis and parameter selection for Mapper",
JMLR 19(12), 2018, and Carrière & Oudot, "Structure and stability of the one-dimensional
Mapper", Found. Comput. Math. 18, 2018:

1. *Sampling scale* (:func:`sampling_delta`). The Hausdorff distance between the cloud and the
   shape it samples is estimated by subsampling: ``delta`` is the mean, over 100 subsamples of
   ``s = n / log_C(n)^(1 + beta)`` points, of the Hausdorff distance from the cloud to the
   subsample (their Section 4; ``C = 10``, ``beta = 0`` as in the authors' implementation,
   GUDHI's ``cover_complex.estimate_scale``).
2. *Resolution* (:func:`auto_resolution`). The cover's intervals must be longer than each lens
   varies across ``delta``: with ``spread_j = max{|f_j(x) - f_j(x')| : |x - x'| <= delta}``,
   lens ``j`` gets ``int(range_j / spread_j)`` intervals (at least 1), the count GUDHI's
   ``MapperComplex`` takes; the overlap then widens each of them.
3. *Gain*. Their results hold for overlaps ``g`` in (1/3, 1/2), i.e. our gain ``1 / (1 - g)``
   in (1.5, 2). ``gain="auto"`` scans that range and takes the gain whose nerve agrees with
   the most of its neighbours (:func:`auto_parameters`).
4. *Confidence* (:func:`mapper_confidence`). The features of a Mapper graph are the points of
   the extended persistence diagram of a function on its nerve (here the mean first lens value
   of each node, on the flag complex): an ``Ext0`` point per component, an ``Ext1`` point per
   loop, spanning the function values the feature covers. Bootstrap resamples of the cloud
   (drawn with replacement, seeded; each graph on the distinct points drawn, see
   :func:`bootstrap_rows`) give Mapper graphs with the same lens values and cover;
   a feature of persistence ``p`` *survives* a resample when the bottleneck distance between
   the two diagrams is below ``p / 2`` (then no matching can send it to the diagonal). Its
   confidence is the share of resamples it survives: their confidence region at level
   ``1 - alpha``, read backwards. Resample i has its own seed (the i-th child of `seed`),
   so the resamples run on any number of processes, or as Ray tasks, with the same result
   (:func:`cnntopo.parallel.map_tasks`).
5. *Stability* (:func:`nerve_stability`): the nerve's Betti numbers over the 3 x 3
   neighbourhood of (resolution +-1, overlap +-0.05), and the share of neighbours that agree.

KeplerMapper and giotto-tda offer none of this.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from ..parallel import check_n_jobs, check_ray, map_tasks, resolve_n_jobs
from ..validation import InputError, check_int, check_points
from .mapper import mapper_graph
from .nerve import nerve_betti

__all__ = ["sampling_delta", "auto_resolution", "auto_parameters", "extended_diagrams",
           "nerve_stability", "mapper_confidence", "MapperConfidence", "gain_of_overlap",
           "THEORY_OVERLAPS", "REFERENCE", "PARALLEL_POINTS", "bootstrap_rows"]

REFERENCE = ("Carrière, Michel & Oudot (2018), 'Statistical analysis and parameter selection "
             "for Mapper', J. Mach. Learn. Res. 19(12): 1-39; Carrière & Oudot (2018), "
             "'Structure and stability of the one-dimensional Mapper', Found. Comput. Math. "
             "18: 1333-1396")
# The overlaps g for which their estimates hold, open interval (1/3, 1/2), as scanned.
THEORY_OVERLAPS = (0.35, 0.375, 0.4, 0.425, 0.45, 0.475)
_STABILITY_OVERLAP_STEP = 0.05
_NEIGHBOUR_CHUNK = 2048
#: ``n_jobs=None`` runs the resampled Mapper graphs of clouds this large on every core (a
#: smaller cloud's graphs take less time than starting the processes).
PARALLEL_POINTS = 2000


def gain_of_overlap(overlap):
    """Our gain (Ayasdi's) of an overlap fraction g: ``1 / (1 - g)``."""
    return 1.0 / (1.0 - float(overlap))


def _overlap_of_gain(gain):
    return 1.0 - 1.0 / float(gain)


# ---------------------------------------------------------------------------- parameters

def sampling_delta(points, *, n_subsamples=100, beta=0.0, C=10.0, seed=0):
    """The subsampling estimate of the Hausdorff distance from the cloud to its shape.

    Parameters
    ----------
    points : array of shape (n, d)
    n_subsamples : int
        Subsamples averaged over.
    beta, C : float
        Subsample size ``s = n / (log(n) / log(C))^(1 + beta)``.
    seed : int

    Returns
    -------
    delta : float
        The mean over the subsamples of ``max_x min_{y in subsample} |x - y|``.
    """
    from scipy.spatial import cKDTree

    fn = "sampling_delta"
    X = check_points(points, fn)
    n_subsamples = check_int(n_subsamples, "n_subsamples", fn, 1)
    n = len(X)
    if n < 3:
        return 0.0
    size = min(n, max(2, int(n / (math.log(n) / math.log(C)) ** (1 + beta))))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_subsamples):
        sub = rng.choice(n, size, replace=False)
        out.append(cKDTree(X[sub]).query(X, k=1)[0].max())
    return float(np.mean(out))


def _lens_spread(X, F, delta):
    """Per lens, the largest difference of lens values between points within `delta`."""
    from scipy.spatial import cKDTree

    tree = cKDTree(X)
    spread = np.zeros(F.shape[1])
    for start in range(0, len(X), _NEIGHBOUR_CHUNK):
        rows = np.arange(start, min(start + _NEIGHBOUR_CHUNK, len(X)))
        near = tree.query_ball_point(X[rows], r=delta)
        counts = np.fromiter((len(a) for a in near), dtype=np.int64, count=len(rows))
        if counts.sum() == 0:
            continue
        i = np.repeat(rows, counts)
        j = np.concatenate([np.asarray(a, dtype=np.int64) for a in near])
        spread = np.maximum(spread, np.abs(F[i] - F[j]).max(axis=0))
    return spread


def auto_resolution(points, lens_values, *, delta=None, seed=0):
    """Intervals per lens from the sampling (Carrière, Michel & Oudot 2018, Section 4.2).

    Parameters
    ----------
    points : array of shape (n, d)
        The cloud (distances are Euclidean here).
    lens_values : array of shape (n, n_lenses)
    delta : float, optional
        :func:`sampling_delta` of the cloud (computed with `seed` when None).

    Returns
    -------
    resolution : tuple of int
        Per lens, ``int(range / spread)``, at least 1.
    """
    X = check_points(points, "auto_resolution")
    F = np.asarray(lens_values, dtype=np.float64).reshape(len(X), -1)
    if delta is None:
        delta = sampling_delta(X, seed=seed)
    spread = _lens_spread(X, F, delta)
    span = F.max(axis=0) - F.min(axis=0)
    return tuple(1 if s <= 0 else max(1, int(R / s)) for s, R in zip(spread, span))


# ---------------------------------------------------------------------------- diagrams

def _node_values(graph, values):
    return np.array([float(np.mean(values[np.asarray(n["members"], dtype=np.int64)]))
                     for n in graph["nodes"]])


def extended_diagrams(graph, node_values):
    """The extended persistence diagram of `node_values` on the flag complex of `graph`.

    Extended persistence of a lower-star function ``f`` is the ordinary persistence of the
    cone over the complex: the sublevel sets of ``f`` going up, then the cone over the
    superlevel sets coming down (Cohen-Steiner, Edelsbrunner & Harer, 2009). On a flag
    complex that cone is itself a flag filtration: the apex enters first, a node at its
    rank in ``f`` going up, a link at the later of its two nodes, the apex-to-node edge at
    the node's rank coming down, and every triangle with its last edge. So ripser's sparse
    Vietoris-Rips persistence (vertex births on the diagonal) computes it, about 10x
    faster than GUDHI's ``SimplexTree.extended_persistence`` on a VGG16 layer's graph,
    with the same points (a test holds them equal on random graphs, ties included). The
    filtration is given as integer ranks, which float32 (ripser's values) holds exactly,
    and read back as the values themselves.

    Parameters
    ----------
    graph : dict
        Node-link Mapper graph.
    node_values : array of shape (n_nodes,)
        The function on the nodes (lower-star on edges and triangles).

    Returns
    -------
    diagrams : dict of str to ndarray of shape (m, 2)
        ``"ord0"``, ``"rel1"`` (branches), ``"ext0"`` (one point per component: its lowest and
        highest value), ``"ext1"`` (one point per loop: its highest and lowest value; a loop
        whose highest value is below its lowest, which a flag complex can hold, is left out
        as GUDHI's ``Ext-`` diagram leaves it). Points of zero persistence are left out;
        rows are sorted.
    """
    from ripser import ripser
    from scipy import sparse

    f = np.asarray(node_values, dtype=np.float64).reshape(-1)
    n = f.shape[0]
    if n == 0:
        return {k: np.empty((0, 2)) for k in ("ord0", "rel1", "ext0", "ext1")}
    index = {node["id"]: i for i, node in enumerate(graph["nodes"])}
    ab = np.array([(index[link["source"]], index[link["target"]]) for link in graph["links"]],
                  dtype=np.int64).reshape(-1, 2)
    ab = np.sort(ab[ab[:, 0] != ab[:, 1]], axis=1)
    a, b = np.divmod(np.unique(ab[:, 0] * n + ab[:, 1]), n)
    values, rank = np.unique(f, return_inverse=True)
    r = values.shape[0]
    up = rank + 1                  # 1 .. r: the sublevel sets, going up
    down = 2 * r + 1 - rank        # r + 2 .. 2r + 1: the cone over the superlevel sets
    nodes = np.arange(n)
    apex = np.full(n, n)           # the apex is vertex n, born at 0 (ripser's default)
    rows = np.concatenate([nodes, a, nodes])
    cols = np.concatenate([nodes, b, apex])
    times = np.concatenate([up, np.maximum(up[a], up[b]), down]).astype(np.float64)
    dgms = ripser(sparse.coo_matrix((times, (rows, cols)), shape=(n + 1, n + 1)),
                  distance_matrix=True, maxdim=1)["dgms"]

    def value(t):
        t = np.rint(t).astype(np.int64)
        return values[np.where(t <= r, t - 1, 2 * r + 1 - t)]

    h0 = dgms[0][np.isfinite(dgms[0][:, 1])]  # the apex's class never dies
    b0, d0 = value(h0[:, 0]), value(h0[:, 1])
    b1, d1 = value(dgms[1][:, 0]), value(dgms[1][:, 1])
    born_up, died_up = dgms[1][:, 0] <= r + 0.5, dgms[1][:, 1] <= r + 0.5
    died_up0 = h0[:, 1] <= r + 0.5

    def pick(births, deaths, keep):
        out = np.column_stack([births[keep], deaths[keep]]).reshape(-1, 2)
        return out[np.lexsort((out[:, 1], out[:, 0]))]

    return {"ord0": pick(b0, d0, died_up0 & (d0 > b0)),
            "rel1": pick(b1, d1, ~born_up & (b1 != d1)),
            "ext0": pick(b0, d0, ~died_up0 & (d0 > b0)),
            "ext1": pick(b1, d1, born_up & ~died_up & (b1 > d1))}


def _bottleneck(a, b):
    import gudhi

    return max(gudhi.bottleneck_distance(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- stability

def _stability_cells(resolution, gain):
    """The 3 x 3 neighbourhood of (resolution, gain): ``(resolution, gain)`` per cell, the
    centre fifth."""
    res = np.atleast_1d(np.asarray(resolution, dtype=np.int64))
    overlap = _overlap_of_gain(gain)
    cells = []
    for dr in (-1, 0, 1):
        r = tuple(int(v) for v in np.maximum(res + dr, 1))
        r_arg = r[0] if np.ndim(resolution) == 0 else r
        for do in (-_STABILITY_OVERLAP_STEP, 0.0, _STABILITY_OVERLAP_STEP):
            o = min(max(overlap + do, 0.05), 0.95)
            cells.append((r_arg, gain if do == 0 else gain_of_overlap(o)))
    return cells


def _cell_betti(points, lens, resolution, gain, kw):
    """One task: the nerve's Betti numbers of one cell of the stability neighbourhood."""
    return [int(b) for b in nerve_betti(mapper_graph(points, lens=lens, resolution=resolution,
                                                     gain=gain, **kw))]


def _stability_of(cells, bettis):
    grid = [{"resolution": r if isinstance(r, int) else list(r), "gain": round(float(g), 6),
             "nerve_betti": [int(x) for x in b]} for (r, g), b in zip(cells, bettis)]
    centre = grid[4]["nerve_betti"]
    others = grid[:4] + grid[5:]  # the centre is the fifth of the 3 x 3
    return sum(c["nerve_betti"] == centre for c in others) / len(others), grid


def nerve_stability(points, *, lens, resolution, gain, graph_kwargs=None, betti=None,
                    n_jobs=1, ray=None):
    """The nerve's Betti numbers over (resolution - 1 .. + 1) x (overlap -+ 0.05).

    Parameters
    ----------
    points : array of shape (n, d)
    lens : array of shape (n, n_lenses)
        Lens values (held fixed).
    resolution : int or tuple of int
    gain : float
    graph_kwargs : dict, optional
        The other arguments of :func:`cnntopo.topology.mapper.mapper_graph`.
    betti : list of int, optional
        The Betti numbers at (resolution, gain), if known.
    n_jobs : int or None, default 1
        Processes for the 8 (or 9) graphs (:func:`cnntopo.parallel.map_tasks`; None: every
        core for clouds of :data:`PARALLEL_POINTS` points or more); the result does not
        depend on it.
    ray : str, optional
        A Ray address: the graphs as Ray tasks.

    Returns
    -------
    stability : float
        Share of the neighbours (up to 8) whose Betti numbers equal those at the centre.
    grid : list of dict
        ``{"resolution", "gain", "nerve_betti"}`` per cell, centre included.
    """
    fn = "nerve_stability"
    n_jobs, ray = check_n_jobs(n_jobs, fn), check_ray(ray, fn)
    kw = dict(graph_kwargs or {})
    X = np.asarray(points)
    cells = _stability_cells(resolution, gain)
    todo = [i for i in range(9) if not (i == 4 and betti is not None)]
    jobs = resolve_n_jobs(n_jobs, len(todo), auto=len(X) >= PARALLEL_POINTS)
    got = map_tasks(_cell_betti, [(X, lens, *cells[i], kw) for i in todo], n_jobs=jobs, ray=ray)
    bettis = dict(zip(todo, got))
    if betti is not None:
        bettis[4] = list(betti)
    return _stability_of(cells, [bettis[i] for i in range(9)])


def auto_parameters(points, lens_values, *, resolution="auto", gain="auto", vne=None,
                    graph_kwargs=None, seed=0, n_jobs=None, ray=None):
    """The data's Mapper parameters (see the module docstring), as keyword arguments.

    The scale ``delta`` and the lens spreads are measured in the metric the clustering uses
    (:func:`cnntopo.topology.mapper.variance_normalise` of `vne`), and single linkage is cut at
    ``delta`` (``cluster_height``), as in the paper and GUDHI's ``MapperComplex``.
    ``resolution="auto"``: :func:`auto_resolution`. ``gain="auto"``: each overlap of
    :data:`THEORY_OVERLAPS`; the one whose nerve Betti numbers agree with the most overlaps of
    the scan (ties: the overlap nearest 0.4).

    The six graphs of the gain scan run on `n_jobs` processes or as Ray tasks at `ray`
    (as :func:`mapper_confidence`; the same result for any value).

    Returns
    -------
    kwargs : dict
        ``resolution`` (tuple of int or as given), ``gain`` (float) and ``cluster_height``
        for :func:`cnntopo.topology.mapper.mapper_graph`.
    info : dict
        ``delta``, ``rule`` and, for ``gain="auto"``, ``gain_scan``: per overlap its gain and
        nerve Betti numbers.
    """
    from .mapper import variance_normalise

    X = check_points(points, "auto_parameters")
    n_jobs, ray = check_n_jobs(n_jobs, "auto_parameters"), check_ray(ray, "auto_parameters")
    F = np.asarray(lens_values, dtype=np.float64).reshape(len(X), -1)
    Y = variance_normalise(X, vne)
    delta = sampling_delta(Y, seed=seed)
    res = auto_resolution(Y, F, delta=delta) if resolution == "auto" else resolution
    info = {"delta": delta, "rule": REFERENCE}
    if gain != "auto":
        return {"resolution": res, "gain": float(gain), "cluster_height": delta}, info
    kw = dict(graph_kwargs or {}, vne=vne, cluster_height=delta)
    gains = [gain_of_overlap(o) for o in THEORY_OVERLAPS]
    jobs = resolve_n_jobs(n_jobs, len(gains), auto=len(X) >= PARALLEL_POINTS)
    bettis = map_tasks(_cell_betti, [(X, F, res, g, kw) for g in gains], n_jobs=jobs, ray=ray)
    scan = [{"overlap": o, "gain": g, "nerve_betti": b}
            for o, g, b in zip(THEORY_OVERLAPS, gains, bettis)]
    votes = [sum(s["nerve_betti"] == u["nerve_betti"] for u in scan) for s in scan]
    best = max(range(len(scan)), key=lambda i: (votes[i], -abs(scan[i]["overlap"] - 0.4)))
    info["gain_scan"] = scan
    return {"resolution": res, "gain": scan[best]["gain"], "cluster_height": delta}, info


# ---------------------------------------------------------------------------- confidence

@dataclass
class MapperConfidence:
    """The bootstrap confidence of a Mapper graph's features and the stability of its nerve.

    Attributes
    ----------
    nerve_betti : list of int
        [b0, b1] of the flag complex of the graph.
    betti_confidence : list of float
        Per dimension, the share of resamples in which every feature of that dimension
        survives (the weakest feature's confidence); for a count of 0, the share of
        resamples whose nerve has none either.
    features : list of dict
        ``{"kind": "component" | "loop", "low", "high", "persistence", "confidence"}``,
        the extended persistence points (function = mean first lens value of a node).
    distances : list of float
        Bottleneck distance of each resample's diagram to the graph's.
    stability : float
        :func:`nerve_stability`'s share of agreeing neighbours.
    stability_grid : list of dict
    n_bootstrap : int
    seed : int
    method : str
    reference : str
    """

    nerve_betti: list
    betti_confidence: list
    features: list
    distances: list
    stability: float
    stability_grid: list
    n_bootstrap: int
    seed: int
    method: str = "bootstrap bottleneck of extended persistence"
    reference: str = REFERENCE
    params: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


def _resample_seeds(seed, n_bootstrap):
    """Resample i's seed: the i-th child of the run's seed, whatever `n_bootstrap` is and
    wherever the resample is drawn."""
    return np.random.SeedSequence([0x4D41, seed]).spawn(n_bootstrap)


def bootstrap_rows(seed_seq, n):
    """The distinct points of one bootstrap resample: `n` draws with replacement, sorted.

    A point drawn twice would add a zero-length single-linkage merge: the gap rule's lowest
    height would drop to 0 and every bin with it, and a cover set could split where the
    cloud does not (``single_linkage_gap`` of 0, 5, 10, 15 is one cluster; with 0 twice,
    four). A point's multiplicity carries no geometry, so a resample's graph is built on the
    points it drew, each once.

    Parameters
    ----------
    seed_seq : numpy.random.SeedSequence or int
        The resample's seed.
    n : int
        Points in the cloud (and draws).

    Returns
    -------
    rows : ndarray of int64, shape (m,)
        Increasing row indices, m <= n (about 0.63 n).
    """
    # bincount, not np.unique: the same sorted rows, without sorting the n draws
    drawn = np.bincount(np.random.default_rng(seed_seq).integers(0, n, n), minlength=n)
    return np.flatnonzero(drawn)


def _resample(points, lens, seed_seq, resolution, gain, bounds, kw, base):
    """One task: a bootstrap resample's Mapper graph, read against the graph's diagrams.

    Returns
    -------
    distance : float
        Bottleneck distance of the resample's extended diagrams to `base`.
    betti : list of int
        Its nerve's Betti numbers.
    """
    rows = bootstrap_rows(seed_seq, len(points))
    F = lens[rows]
    with warnings.catch_warnings():  # a thin resample may leave no node: that is a finding
        warnings.simplefilter("ignore", UserWarning)
        g = mapper_graph(points[rows], lens=F, resolution=resolution, gain=gain,
                         lens_bounds=bounds, **kw)
    d = _bottleneck(base, extended_diagrams(g, _node_values(g, F[:, 0])))
    return float(d), [int(b) for b in nerve_betti(g)]


def _confidence_task(kind, points, lens, *args):
    """One task of :func:`mapper_confidence`: a resample, or a cell of the neighbourhood."""
    return _resample(points, lens, *args) if kind == "resample" else \
        _cell_betti(points, lens, *args)


def mapper_confidence(points, graph, lens_values, *, n_bootstrap=100, seed=0, graph_kwargs=None,
                      n_jobs=None, ray=None, progress=False):
    """Bootstrap confidence of each loop and component of `graph`, and its stability.

    Parameters
    ----------
    points : array of shape (n, d)
        The cloud `graph` was built from.
    graph : dict
        Its Mapper graph (:func:`cnntopo.topology.mapper.mapper_graph`).
    lens_values : array of shape (n, n_lenses)
        The lens values the graph was built with (held fixed in the resamples).
    n_bootstrap : int
        Resamples (with replacement, n points each). Resample i is drawn from the i-th child
        of `seed`: the first 20 of B = 100 are the 20 of B = 20.
    seed : int
    graph_kwargs : dict, optional
        ``resolution``, ``gain`` and the other arguments the graph was built with.
    n_jobs : int or None
        Processes for the resamples and the 8 graphs of the stability neighbourhood
        (:func:`cnntopo.parallel.map_tasks`): an int >= 1, -1 for every core; None (default)
        every core for clouds of :data:`PARALLEL_POINTS` points or more, else 1. The result
        is the same for any value.
    ray : str, optional
        A Ray address (``"auto"``, ``"local"``, ``HOST:PORT``; :func:`cnntopo.parallel.connect`):
        the resamples and graphs as Ray tasks instead (the same result).
    progress : bool

    Returns
    -------
    MapperConfidence
    """
    fn = "mapper_confidence"
    X = check_points(points, fn)
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", fn, 1)
    seed = check_int(seed, "seed", fn, 0)
    n_jobs, ray = check_n_jobs(n_jobs, fn), check_ray(ray, fn)
    F = np.ascontiguousarray(np.asarray(lens_values, dtype=np.float64).reshape(len(X), -1))
    kw = dict(graph_kwargs or {})
    if "resolution" not in kw or "gain" not in kw:
        raise InputError(f"The 'graph_kwargs' parameter of {fn} must hold the graph's "
                         f"'resolution' and 'gain'; got {sorted(kw)}.")
    resolution, gain = kw.pop("resolution"), kw.pop("gain")
    kw.pop("lens", None)
    betti = [int(b) for b in nerve_betti(graph)]
    base = extended_diagrams(graph, _node_values(graph, F[:, 0]))
    bounds = np.column_stack([F.min(axis=0), F.max(axis=0)])
    cells = _stability_cells(resolution, gain)
    neighbours = [i for i in range(9) if i != 4]
    tasks = [("resample", X, F, s, resolution, gain, bounds, kw, base)
             for s in _resample_seeds(seed, n_bootstrap)]
    tasks += [("cell", X, F, *cells[i], kw) for i in neighbours]
    jobs = resolve_n_jobs(n_jobs, len(tasks), auto=len(X) >= PARALLEL_POINTS)
    bar = _progress(len(tasks), progress)
    got = map_tasks(_confidence_task, tasks, n_jobs=jobs, ray=ray, bar=bar)
    bar.close()
    d = np.asarray([r[0] for r in got[:n_bootstrap]])
    counts = [r[1] for r in got[:n_bootstrap]]
    bettis = dict(zip(neighbours, got[n_bootstrap:]))
    bettis[4] = betti
    features = []
    for kind, key, (lo, hi) in (("component", "ext0", (0, 1)), ("loop", "ext1", (1, 0))):
        for p in base[key]:
            pers = float(abs(p[1] - p[0]))
            features.append({"kind": kind, "low": float(p[lo]), "high": float(p[hi]),
                             "persistence": pers, "confidence": float(np.mean(d < pers / 2))})
    conf = []
    for q, kind in enumerate(("component", "loop")):
        mine = [f["confidence"] for f in features if f["kind"] == kind]
        conf.append(min(mine) if mine else float(np.mean([c[q] == 0 for c in counts])))
    stability, grid = _stability_of(cells, [bettis[i] for i in range(9)])
    return MapperConfidence(
        nerve_betti=betti, betti_confidence=[round(c, 3) for c in conf], features=features,
        distances=[float(x) for x in d], stability=round(float(stability), 3),
        stability_grid=grid, n_bootstrap=n_bootstrap, seed=seed,
        params={"resolution": resolution if isinstance(resolution, int) else list(resolution),
                "gain": float(gain), "function": "mean first lens value of a node"})


def _progress(total, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Mapper bootstrap", unit="graph", leave=False,
                disable=not enabled)
