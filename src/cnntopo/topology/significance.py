"""Which bars of a lazy witness barcode are signal: a Monte Carlo test against null clouds.

Method (``"null-max-gap"``)
---------------------------
*Persistence in link units.* Every bar is measured in units of the median finite H0 death
of the same complex, the filtration value at which neighbouring landmarks typically link
(the resolution of the complex): ``(death - birth) / unit`` in H1 and up, ``death / unit``
in H0. The unit makes the measure scale-free, and it stays defined when every point is a
landmark. It is read on the ``nu = 0`` lazy witness complex of the landmarks, where every
filtration value is a witnessed distance (with ``nu >= 1`` the typical link is 0).

*The test.* Null clouds are drawn "the same way" as the data: the same dimension and number
of points, normalised and density filtered as the data was (see `null` and `density` of
:func:`significant_bars`), read with the same landmarks and resampling. In dimension q let
``p_1 >= p_2 >= ...`` be the bars of one resample. The count is the largest ``j`` with

    p_j > t_q          (longer than the longest noise bar of the null clouds)
    p_j > g_q p_(j+1)  (standing out from the next bar as noise bars never do)

(0 if there is none); ``t_q`` and ``g_q`` are the Monte Carlo critical values at level
`alpha` of the null's largest bar and of its longest-to-second ratio ``p_1 / p_2``
(Besag & Diggle 1977: with 99 null resamples and alpha = 0.01, the largest of the 99). The
first condition is the test of Bobrowski, Kahle & Skraba (2017), who measure noise by the
persistence of its maximally persistent cycle; alone it already holds the false-alarm rate
at `alpha` per dimension, since pure noise passes it with probability `alpha`. The second
is the issue's longest-to-second ratio, generalised to the j-th bar: real data are rarely
uniform noise, and their noise bars can outgrow the null's (the optical patches' second
H1 bar reached 0.29 link units against a null critical value of 0.22); what they do not do
is stand out from the bar below them.

*Confidence.* The count is read on `n_resamples` resamples of the cloud: subsamples of a
share `resample_fraction` of the points (at most `max_witnesses`) without replacement, each
with a fresh first maxmin landmark (subsampling, Politis & Romano 1994). The reported count
is the most frequent one, its confidence the share of resamples that give it, and
`distribution` holds all the shares.

*Too few points.* Where a resample holds fewer than :data:`MIN_WITNESSES_PER_LANDMARK`
points per landmark, the witness complex is close to a Rips complex on the points
themselves and a count of no extra bar says nothing: that dimension is marked undecided.

*Cost.* Null maxima are cached by their parameters (in memory and, atomically written, in
``$CNNTOPO_CACHE/significance`` or ``~/.cache/cnntopo/significance``). A null cloud is never
larger than one resample needs: beyond ``max_witnesses / (resample_fraction p)`` input
points the null is drawn at that size (same k), which measured slightly conservative.
"""

from __future__ import annotations

import contextlib
import hashlib
import numbers
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import caches
from ..cloud.pointcloud import density_filter, normalise
from ..validation import (
    InputError,
    check_int,
    check_points,
    check_real,
    is_int,
    is_prime,
)
from .witness import flag_diagrams, maxmin_distances, witness_matrix

__all__ = ["significant_bars", "SignificantBars", "significant_bars_fields", "FieldBars",
           "H2_LANDMARKS", "MIN_H2_LANDMARKS", "METHOD", "REFERENCE",
           "MIN_WITNESSES_PER_LANDMARK", "NULL_CACHE"]

METHOD = "null-max-gap"
REFERENCE = ("Bobrowski, Kahle & Skraba (2017), 'Maximally persistent cycles in random "
             "geometric complexes', Ann. Appl. Probab. 27(4): 2032-2060; Monte Carlo test: "
             "Besag & Diggle (1977), 'Simple Monte Carlo tests for spatial pattern', Appl. "
             "Statist. 26(3): 327-333; resampling: Politis & Romano (1994), Ann. Statist. "
             "22(4): 2031-2050")
# Bumped whenever a change alters the null thresholds, so old cache entries are not reused.
_CACHE_VERSION = 4
MIN_WITNESSES_PER_LANDMARK = 2.0
_NULL_MODELS = ("auto", "filters", "sphere", "gaussian")
# Rows whose norms agree to this relative tolerance lie on a sphere ("auto" null model).
_SPHERE_RTOL = 1e-6
# Density filtering a null cloud costs about n_input * (k + 100) (measured: 17,067 points
# took 3.9 s at k = 100 and 7.7 s at k = 300 on a loaded core); a cloud is drawn afresh
# for every null resample while that stays under this budget, and otherwise
# serves several resamples (at least _MIN_NULL_CLOUDS clouds in all). Resamples of one
# cloud differ in their points and landmarks: for 4,096 points at rho(100, 0.3) and 100
# landmarks, 4 clouds x 50 resamples gave the same 95% quantiles as 200 clouds x 1
# (H0 1.221 / 1.223, H1 0.252 / 0.245); for 512 points at rho(20, 0.3) they did not
# (H1 0.296 / 0.310), and such clouds cost nothing to draw afresh.
_NULL_NEIGHBOUR_BUDGET = 200_000
_MIN_NULL_CLOUDS = 5
_NULL_STREAM = 0x5167  # first SeedSequence key of the null clouds
_DATA_STREAM = 0x5168  # second SeedSequence key of the cloud's resamples
_MIN_POINTS = 5
_MIN_GAP_SAMPLES = 19
# Null maxima, a pure function of their parameters (the key holds _CACHE_VERSION).
NULL_CACHE = caches.ResultCache("significance", "null_max", prefix="null")


# ---------------------------------------------------------------------------- one replicate

@contextlib.contextmanager
def _torch_threads(n):
    """Run torch ops on `n` intra-op threads, then restore the previous setting.

    Many small witness blocks mean one OpenMP barrier per block; on a shared, loaded
    machine two threads then wait out scheduler time slices: 10,000 witnesses x 100
    landmarks took 4-5 s on 2 threads against 0.2-0.3 s on 1 (load ~11 on 2 cores).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ratios(diagrams):
    """Scale-free persistence of every bar, per dimension, sorted descending.

    The unit is the median finite H0 death: the typical filtration value at which
    neighbouring landmarks link, i.e. the resolution of the complex. H0 bars (all born at
    0) measure ``death / unit``, the one infinite bar left out (it is always counted); bars
    of H1 and up ``(death - birth) / unit``.
    """
    h0 = diagrams[0]
    d0 = h0[np.isfinite(h0[:, 1]), 1]
    unit = float(np.median(d0)) if d0.size else 0.0
    if unit <= 0:  # one landmark, or landmarks on duplicate points: nothing to measure
        return [np.zeros(0) for _ in diagrams]
    out = [np.sort(d0 / unit)[::-1]]
    for dgm in diagrams[1:]:
        out.append(np.sort((dgm[:, 1] - dgm[:, 0]) / unit)[::-1])
    return out


def _top_two(ratios):
    """(largest, second largest) of sorted-descending `ratios`, 0 for a missing bar."""
    return (ratios[0] if ratios.size else 0.0, ratios[1] if ratios.size > 1 else 0.0)


def _gap(first, second):
    """first / second, infinite when there is no second bar (and a first one)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(second > 0, first / np.where(second > 0, second, 1.0),
                        np.where(first > 0, np.inf, 1.0))


def _gap_critical_value(top_two, alpha):
    """Critical value of the longest-to-second ratio over null resamples with two bars.

    A lone null bar (no second one) says nothing about how noise bars stand out from each
    other; counted as an infinite ratio it would make the critical value infinite wherever
    noise rarely has two bars (H2 of a 3-d cloud). With fewer than _MIN_GAP_SAMPLES such
    resamples there is no gap guard (1.0).
    """
    both = top_two[(top_two[:, 1] > 0)]
    if len(both) < _MIN_GAP_SAMPLES:
        return 1.0
    ratios = np.sort(both[:, 0] / both[:, 1])
    rank = int(np.ceil((1 - alpha) * (len(ratios) + 1))) - 1
    return float(ratios[min(rank, len(ratios) - 1)])


def _count(ratios, t_abs, t_gap):
    """Significant bars of one resample: the largest j with p_j > t_abs and p_j > t_gap p_{j+1}."""
    p = np.append(ratios, 0.0)
    ok = (p[:-1] > t_abs) & (_gap(p[:-1], p[1:]) > t_gap)
    hits = np.flatnonzero(ok)
    return int(hits[-1] + 1) if hits.size else 0


def _replicate(points, n_landmarks, n_sub, rng, *, maxdim, coeff, nu=0):
    """Ratios of one resample: `n_sub` points without replacement, maxmin from a random start."""
    n = points.shape[0]
    sub = points[np.sort(rng.choice(n, n_sub, replace=False))] if n_sub < n else points
    _, dist = maxmin_distances(sub, n_landmarks, int(rng.integers(2 ** 63)))
    with _torch_threads(1):
        filt = witness_matrix(dist, nu)
    top = filt.max()
    if top > 0:  # ripser works in float32: one scale for every cloud keeps the ratios scale-free
        filt /= top
    return _ratios(flag_diagrams(filt, maxdim=maxdim, coeff=coeff))


# ---------------------------------------------------------------------------- null clouds

def _null_input_size(n_input, n_sub, density, fraction):
    """Points per null cloud: enough that one resample of `n_sub` can be drawn from it.

    Without a density filtration a resample of iid points is iid points: `n_sub`. With
    rho(k, p), the data's own `n_input` where that is small; beyond, the smallest input that
    rho keeps ``n_sub / fraction`` of, ``n_sub / (fraction p)``. The null then filters at a
    coarser k / n than the data, which measured conservative: at rho(100, 0.3), 4,096
    points per resample and 100 landmarks, 17,067 null points gave 95% / 99% quantiles of
    the longest H1 bar of 0.248 / 0.264 link units against 0.230 / 0.245 with 65,536 (H0:
    1.161 / 1.170 against 1.134 / 1.151); the longest-to-second ratio came out lower
    (99%: 1.26 against 1.36), a small loss of the gap guard only.
    """
    if density is None:
        return int(n_sub)
    k, p = density
    need = int(np.ceil(n_sub / (fraction * p)))
    return int(min(n_input, max(need, k + 1)))


def _null_model(points, null, fn):
    """Resolve `null` ("auto" looks at the rows) and, for "gaussian", the covariance factor."""
    if null not in _NULL_MODELS:
        raise InputError(f"The 'null' parameter of {fn} must be one of {_NULL_MODELS}; "
                         f"got {null!r}.")
    norms = np.linalg.norm(points, axis=1)
    if null == "auto":
        top = float(norms.max())
        if top > 0 and float(norms.min()) >= top * (1 - _SPHERE_RTOL):
            centred = np.abs(points.mean(axis=1)).max() <= _SPHERE_RTOL * top
            null = "filters" if centred and points.shape[1] >= 2 else "sphere"
        else:
            null = "gaussian"
    if null != "gaussian":
        return null, None
    # N(0, C) with C the covariance of the rows, scaled to unit trace (the ratios are
    # scale-free) and rounded, so that a rescaled cloud gets the very same null.
    centred = points - points.mean(axis=0)
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    total = float(np.sqrt(np.sum(sing ** 2)))  # > 0: a repeated point was refused before
    factor = np.round((sing / total)[:, None] * vt, 12)
    return null, factor


def _null_cloud(rng, n, dim, model, factor, density):
    """`n` points of pure noise made like the data: model, then normalise, then rho(k, p)."""
    if model == "gaussian":
        z = rng.standard_normal((n, factor.shape[0])) @ factor
    else:
        z = rng.standard_normal((n, dim))
        if model == "filters":
            z = normalise(z)[0]   # drops nothing: a Gaussian row is never constant
        else:
            z /= np.linalg.norm(z, axis=1, keepdims=True)
    if density is not None:
        k, p = density
        z = z[density_filter(z, k, p)]
    return z


def _null_replicates(key, seed_key, dim, factor, n_null, progress, replicate):
    """Yield ``replicate(cloud, resample_size, rng)`` for each of the `n_null` null resamples.

    The null clouds (fewer than `n_null` when density filtering makes them costly) and their
    resamples are drawn from the seed of `seed_key`, in one order, so the one-field and the
    two-field tests see the same null resamples.
    """
    n_in, n_sub = key["null_input"], key["resample_size"]
    density = None if key["density"] is None else tuple(key["density"])
    work = n_in * (density[0] + 100) if density is not None else 0
    n_clouds = n_null if work == 0 else int(
        np.clip(np.ceil(n_null * _NULL_NEIGHBOUR_BUDGET / work), _MIN_NULL_CLOUDS, n_null))
    digest = NULL_CACHE.digest(seed_key)
    rng = np.random.default_rng(np.random.SeedSequence([_NULL_STREAM, int(digest, 16)]))
    bar = _progress(n_null, "null clouds", progress)
    cloud, made = None, -1
    for i in range(n_null):
        if i * n_clouds // n_null != made:
            made = i * n_clouds // n_null
            cloud = _null_cloud(rng, n_in, dim, key["model"], factor, density)
        yield replicate(cloud, min(n_sub, len(cloud)), rng)
        bar.update()
    bar.close()


def _null_maxima(key, dim, factor, *, n_null, progress, cache_dir):
    """The two longest bars per dimension of each null resample, shape (n_null, maxdim + 1, 2).

    In link units, 0 for a missing bar. Kept by `key` in :data:`NULL_CACHE` (in memory and,
    unless `cache_dir` is None, on disk).
    """
    maxima = NULL_CACHE.get(key, cache_dir)
    if maxima is not None:
        return maxima

    def replicate(cloud, m, rng):
        ratios = _replicate(cloud, key["n_landmarks"], m, rng, maxdim=key["maxdim"],
                            coeff=key["coeff"])
        return [_top_two(r) for r in ratios]

    maxima = np.array(list(_null_replicates(key, key, dim, factor, n_null, progress, replicate)),
                      dtype=np.float64).reshape(n_null, key["maxdim"] + 1, 2)
    NULL_CACHE.put(key, maxima, cache_dir)
    return maxima


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total, desc, enabled):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


# ---------------------------------------------------------------------------- result

@dataclass(frozen=True)
class SignificantBars:
    """Significant bars of a cloud's lazy witness barcodes, per homology dimension.

    Attributes
    ----------
    counts : list of int, length maxdim + 1
        Significant bars per dimension, the most frequent count over the resamples. H0
        counts the component that never dies, so ``counts[0] >= 1``.
    confidence : list of float
        Share of the resamples that give ``counts[q]``, in (0, 1].
    undecided : list of bool
        True where the points are too few to decide: the resamples hold fewer than
        :data:`MIN_WITNESSES_PER_LANDMARK` points per landmark and no finite bar of that
        dimension was significant, so the count (0 extra bars) says nothing. Callers should
        print "too few points to tell" rather than the count.
    reason : list of str or None
        Why a dimension is undecided, in words; None where it is decided.
    distribution : list of dict of int to float
        ``distribution[q][c]``: share of resamples with count ``c`` (sorted by count).
    thresholds : list of float
        Per dimension, the persistence (in link units) a bar must exceed: the Monte Carlo
        critical value at level `alpha` of the longest bar of the null resamples.
    gap_thresholds : list of float
        Per dimension, how many times longer than the next bar a bar must be: the critical
        value of the null's longest-to-second ratio.
    longest : list of float
        Median over the resamples of the longest bar of each dimension, in link units
        (0 without bars); compare with `thresholds`.
    n_points : int
        Points of the cloud tested.
    method : str
        :data:`METHOD`.
    reference : str
        The literature the method follows.
    params : dict
        Everything that determined the result (JSON-able): landmarks, alpha, resamples,
        resample size, null model and resamples, density filtration, seed.
    """

    counts: list
    confidence: list
    undecided: list
    reason: list
    distribution: list
    thresholds: list
    gap_thresholds: list
    longest: list
    n_points: int
    method: str = METHOD
    reference: str = REFERENCE
    params: dict = field(default_factory=dict)

    def to_dict(self):
        """Plain JSON-able data (``distribution`` keys become strings)."""
        out = asdict(self)
        out["distribution"] = [{str(c): s for c, s in d.items()} for d in self.distribution]
        return out


# ---------------------------------------------------------------------------- checks

def _check_density(density, n_input, n_points, fn):
    """(k, p) and the number of points that entered the filtration, checked together."""
    if density is None:
        if n_input is not None and n_input != n_points:
            raise InputError(f"The 'n_input' parameter of {fn} must equal the number of points "
                             f"({n_points}) when no 'density' filtration is given; "
                             f"got {n_input!r}.")
        return None, n_points
    if not isinstance(density, (tuple, list)) or len(density) != 2:
        raise InputError(f"The 'density' parameter of {fn} must be a pair (k, p) or None; "
                         f"got {density!r}.")
    if n_input is None:
        raise InputError(f"The 'n_input' parameter of {fn} must give the number of points that "
                         f"entered the density filtration rho{tuple(density)}; got None.")
    n_input = check_int(n_input, "n_input", fn, n_points)
    k, p = density
    if not is_int(k) or not 1 <= k <= n_input - 1:
        raise InputError(f"The 'density' parameter of {fn} must be (k, p) with k an int in "
                         f"[1, n_input - 1] = [1, {n_input - 1}]; got k={k!r}.")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
        raise InputError(f"The 'density' parameter of {fn} must be (k, p) with p a float in "
                         f"(0, 1]; got p={p!r}.")
    kept = max(1, min(n_input, int(np.floor(float(p) * n_input + 0.5))))
    if kept != n_points:
        raise InputError(f"The 'n_input' parameter of {fn} must be the number of points that "
                         f"entered rho({k}, {p}), which keeps {kept} of {n_input} points, but "
                         f"the cloud has {n_points}; pass the count after normalising (constant "
                         f"rows dropped), before the density filtration.")
    return (int(k), float(p)), n_input


# ---------------------------------------------------------------------------- the test

def _setup(points, n_landmarks, *, maxdim, density, n_input, null, alpha, n_resamples, n_null,
           resample_fraction, max_witnesses, coeffs, seed, cache_dir, fn):
    """Every argument of a significance test checked, and what follows from them: the
    resample size, the landmarks used, the null model and the null cache key of the first
    field."""
    points = check_points(points, fn)
    n_points, dim = points.shape
    if n_points < _MIN_POINTS:
        raise InputError(f"The 'points' parameter of {fn} must hold at least {_MIN_POINTS} "
                         f"points to test anything; got {n_points}.")
    if np.ptp(points, axis=0).max() == 0:
        raise InputError(f"The 'points' parameter of {fn} must not be one point repeated; "
                         f"all {n_points} rows are equal.")
    n_landmarks = check_int(n_landmarks, "n_landmarks", fn, 3)
    maxdim = check_int(maxdim, "maxdim", fn, 0, 2)
    alpha = check_real(alpha, "alpha", fn, 0.0, 0.5)
    n_resamples = check_int(n_resamples, "n_resamples", fn, 1)
    n_null = check_int(n_null, "n_null", fn, 19)
    if (n_null + 1) * alpha < 1 - 1e-9:
        raise InputError(f"The 'n_null' parameter of {fn} must be at least "
                         f"{int(np.ceil(1 / alpha - 1e-9)) - 1} for alpha = {alpha} (a Monte Carlo "
                         f"test of n_null resamples cannot reach a level below 1 / (n_null + 1)); "
                         f"got {n_null}.")
    if isinstance(resample_fraction, bool) or not isinstance(resample_fraction, numbers.Real) \
            or not 0 < resample_fraction <= 1:
        raise InputError(f"The 'resample_fraction' parameter of {fn} must be a float in (0, 1]; "
                         f"got {resample_fraction!r}.")
    max_witnesses = check_int(max_witnesses, "max_witnesses", fn, _MIN_POINTS)
    if not is_int(seed) or seed < 0:
        raise InputError(f"The 'seed' parameter of {fn} must be an int >= 0; got {seed!r}.")
    density, n_input = _check_density(density, n_input, n_points, fn)
    model, factor = _null_model(points, null, fn)
    if cache_dir == "default":
        cache_dir = caches.cache_dir()

    n_sub = max(min(int(np.ceil(resample_fraction * n_points)), max_witnesses), _MIN_POINTS)
    n_sub = min(n_sub, n_points)
    landmarks = min(n_landmarks, n_sub)
    null_input = _null_input_size(n_input, n_sub, density, float(resample_fraction))
    key = {"version": _CACHE_VERSION, "model": model, "dim": int(dim), "null_input": null_input,
           "density": None if density is None else list(density),
           "n_landmarks": int(n_landmarks), "resample_size": int(n_sub), "maxdim": maxdim,
           "coeff": int(coeffs[0]), "n_null": n_null,
           "factor": None if factor is None else hashlib.sha256(factor.tobytes()).hexdigest()}
    return {"points": points, "n_points": n_points, "dim": dim, "model": model,
            "factor": factor, "cache_dir": cache_dir, "n_landmarks": n_landmarks,
            "maxdim": maxdim, "alpha": alpha, "n_resamples": n_resamples, "n_null": n_null,
            "n_sub": n_sub, "landmarks": landmarks, "density": density, "n_input": n_input,
            "null_input": null_input, "key": key, "max_witnesses": max_witnesses,
            "resample_fraction": float(resample_fraction)}


def _check_prime(coeff, name, fn):
    if not is_int(coeff) or not is_prime(int(coeff)):
        raise InputError(f"The '{name}' parameter of {fn} must be a prime int; got {coeff!r}.")
    return int(coeff)


def _critical_values(null_max, alpha, n_null, maxdim):
    """(thresholds, gap thresholds) per dimension from null maxima (n_null, maxdim + 1, 2).

    Monte Carlo test (Besag & Diggle 1977): a ratio is significant when at most
    alpha (n_null + 1) - 1 of the null maxima reach it.
    """
    rank = int(np.ceil((1 - alpha) * (n_null + 1))) - 1
    thresholds = np.sort(null_max[:, :, 0], axis=0)[min(rank, n_null - 1)]
    gaps = [_gap_critical_value(null_max[:, q], alpha) for q in range(maxdim + 1)]
    return thresholds, gaps


def _summary(counts, n_sub, landmarks, n_points):
    """counts, confidence, undecided, reason, distribution of resample counts (n, maxdim + 1).

    `landmarks` is the landmarks used, one number or one per dimension.
    """
    n_resamples, dims = counts.shape
    per_dim = np.broadcast_to(np.asarray(landmarks), (dims,))
    result = {"counts": [], "confidence": [], "undecided": [], "reason": [], "distribution": []}
    for q in range(dims):
        values, freq = np.unique(counts[:, q], return_counts=True)
        best = int(values[np.argmax(freq)])  # ties: the smaller count
        share = float(freq.max() / n_resamples)
        empty = best == (1 if q == 0 else 0)
        lq = int(per_dim[q])
        undecided = bool(n_sub < MIN_WITNESSES_PER_LANDMARK * lq and empty)
        result["counts"].append(best)
        result["confidence"].append(share)
        result["undecided"].append(undecided)
        result["reason"].append(
            f"too few points to tell: resamples of {n_sub} of the {n_points} points give "
            f"{n_sub / lq:.2f} points per landmark ({lq} landmarks), under "
            f"{MIN_WITNESSES_PER_LANDMARK:g}; a structure could hide in the noise. "
            f"Use fewer landmarks or more points." if undecided else None)
        result["distribution"].append({int(v): float(f / n_resamples)
                                       for v, f in zip(values, freq)})
    return result


def significant_bars(points, n_landmarks=100, *, maxdim=1, density=None, n_input=None,
                     null="auto", alpha=0.01, n_resamples=20, n_null=99,
                     resample_fraction=0.8, max_witnesses=4096, coeff=2, seed=0,
                     cache_dir="default", progress=False):
    """Count the significant bars of a cloud's lazy witness barcodes, with a confidence.

    Bars are measured in link units (the median H0 death of the ``nu = 0`` lazy witness
    complex); the count of a resample is the largest ``j`` whose bar is longer than the
    longest noise bar of null clouds made the same way as the data, and stands out from the
    next bar more than noise bars do, both at level `alpha` (Monte Carlo critical values).
    The count is read on `n_resamples` resamples of the cloud; the most frequent count is
    reported with the share of resamples that give it. See the module docstring for the
    method and its references.

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
        The cloud, as the barcodes see it (for filters: normalised and density filtered).
    n_landmarks : int
        Maxmin landmarks, as for :func:`cnntopo.topology.witness.lazy_witness_barcodes` (>= 3).
    maxdim : int
        Highest homology dimension (0, 1 or 2).
    density : (int, float) or None
        The density filtration rho(k, p) the cloud went through, if any; the null clouds go
        through the same one.
    n_input : int or None
        Points that entered the density filtration (after normalising). Required with
        `density`; without it, the number of points.
    null : {"auto", "filters", "sphere", "gaussian"}
        How null clouds are drawn, before the density filtration. ``"filters"``: Gaussian
        rows normalised by :func:`cnntopo.cloud.pointcloud.normalise` (unstructured filters;
        uniform on the unit sphere of the zero-mean hyperplane). ``"sphere"``: uniform on the
        unit sphere of R^d. ``"gaussian"``: Gaussian with the cloud's covariance.
        ``"auto"``: "filters" when every row has zero mean and one norm, "sphere" when the
        rows only share one norm, else "gaussian".
    alpha : float
        False-alarm rate per dimension and resample under the null, in (0, 0.5). The
        default 0.01 (with 99 null resamples: beyond all of them) leaves room for real
        noise, which is not uniform: at 0.05 the optical and natural patches at rho(300,
        0.3) gave a second loop in up to half of the resamples.
    n_resamples : int
        Resamples of the cloud (>= 1), each with a fresh first landmark.
    n_null : int
        Null resamples (>= 19); the critical value is the ``ceil((1 - alpha)(n_null + 1))``-th
        smallest (alpha = 0.05: the 95th of 99; 0.01: the 99th).
    resample_fraction : float
        Share of the points in each resample, drawn without replacement, in (0, 1].
    max_witnesses : int
        At most this many points per resample (the lazy witness cost grows with them).
    coeff : int
        Prime field of coefficients.
    seed : int
        Seed of the resamples of the cloud. The null clouds have their own fixed seed, a
        function of their parameters, so they can be cached.
    cache_dir : path-like, "default" or None
        Where null maxima are kept between calls (``significance/null-*.json``):
        ``"default"`` is :func:`cnntopo.caches.cache_dir`, None keeps them in memory only.
    progress : bool
        Show progress bars (tqdm).

    Returns
    -------
    SignificantBars
    """
    fn = "significant_bars"
    coeff = _check_prime(coeff, "coeff", fn)
    t = _setup(points, n_landmarks, maxdim=maxdim, density=density, n_input=n_input, null=null,
               alpha=alpha, n_resamples=n_resamples, n_null=n_null,
               resample_fraction=resample_fraction, max_witnesses=max_witnesses, coeffs=(coeff,),
               seed=seed, cache_dir=cache_dir, fn=fn)
    points, n_points, dim, model, factor, cache_dir = (t["points"], t["n_points"], t["dim"],
                                                       t["model"], t["factor"], t["cache_dir"])
    n_landmarks, maxdim, alpha, n_null = t["n_landmarks"], t["maxdim"], t["alpha"], t["n_null"]
    n_resamples, n_sub, landmarks = t["n_resamples"], t["n_sub"], t["landmarks"]
    density, n_input, null_input, key = t["density"], t["n_input"], t["null_input"], t["key"]
    coeff = int(coeff)
    null_max = _null_maxima(key, dim, factor, n_null=n_null, progress=progress,
                            cache_dir=cache_dir)
    thresholds, gap_thresholds = _critical_values(null_max, alpha, n_null, maxdim)

    rng = np.random.default_rng(np.random.SeedSequence([seed, _DATA_STREAM]))
    counts = np.empty((n_resamples, maxdim + 1), dtype=np.int64)
    tops = np.empty((n_resamples, maxdim + 1))
    bar = _progress(n_resamples, "resamples", progress)
    for i in range(n_resamples):
        ratios = _replicate(points, n_landmarks, n_sub, rng, maxdim=maxdim, coeff=coeff)
        counts[i] = [_count(r, t, g) for r, t, g in zip(ratios, thresholds, gap_thresholds)]
        tops[i] = [r[0] if r.size else 0.0 for r in ratios]
        bar.update()
    bar.close()
    counts[:, 0] += 1  # the component that never dies

    result = _summary(counts, n_sub, landmarks, n_points)
    params = {"n_landmarks": n_landmarks, "landmarks_used": landmarks, "maxdim": maxdim,
              "alpha": alpha, "n_resamples": n_resamples, "n_null": n_null,
              "resample_size": n_sub, "resample_fraction": float(resample_fraction),
              "max_witnesses": t["max_witnesses"], "null": model,
              "density": None if density is None else list(density),
              "n_input": int(n_input), "null_input": null_input, "coeff": int(coeff),
              "seed": seed,
              "statistic": "bar length / median H0 death, nu = 0 lazy witness complex"}
    return SignificantBars(**result, thresholds=[float(t) for t in thresholds],
                           gap_thresholds=[float(g) for g in gap_thresholds],
                           longest=[float(v) for v in np.median(tops, axis=0)],
                           n_points=int(n_points), params=params)


# ---------------------------------------------------------------------------- two fields

#: Landmarks of the H2 complex of :func:`significant_bars_fields`: the first maxmin landmarks
#: of the 100, so the same resample reads H2 on a coarser net (H2 on all 100 landmarks cost
#: 2.2-11 times as much as the whole one-field test).
H2_LANDMARKS = 50
#: Fewer landmarks than this cannot hold a surface's H2: a count of no void is then undecided.
MIN_H2_LANDMARKS = 20


def _maxmin_order(dist, m):
    """First `m` maxmin picks (from row 0) of a square distance matrix `dist`."""
    order = [0]
    nearest = dist[0].copy()
    for _ in range(1, m):
        i = int(np.argmax(nearest))
        order.append(i)
        np.minimum(nearest, dist[i], out=nearest)
    return np.asarray(order)


def _log_ratios(dgm):
    """Multiplicative persistence ``log(death / birth)`` of every bar, sorted descending.

    H2 is measured so because link units let the diameter-scale voids of thin shapes
    through: 100 landmarks on a noisy circle gave H2 bars born at 0.99-1.0 of the largest
    filtration value and dying at 1.04-1.06 (0.3-0.6 link units, beyond the null's 0.12);
    their death/birth (1.03-1.06) stays under the null's (1.08), a Klein bottle's void
    reached 1.49 and a torus's 1.64. (Bobrowski & Skraba 2023 read noise by the same
    ratio.)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(dgm[:, 1] / np.maximum(dgm[:, 0], 1e-12))
    return np.sort(r[np.isfinite(r)])[::-1]


def _replicate_fields(points, n_landmarks, n_sub, rng, *, maxdim, fields, h2_landmarks,
                      engine="ripser"):
    """Ratios of one resample over every field: ``out[f][q]``, q = 0 .. maxdim.

    The resample and its landmarks are drawn exactly as :func:`_replicate` draws them, so
    the first field's H0 and H1 are those of the one-field test. H2 is read on the first
    `h2_landmarks` maxmin landmarks of the same complex (the nu = 0 filtration of a landmark
    pair does not depend on the other landmarks, so that complex is a corner of the matrix),
    as log(death / birth).
    """
    n = points.shape[0]
    sub = points[np.sort(rng.choice(n, n_sub, replace=False))] if n_sub < n else points
    _, dist = maxmin_distances(sub, n_landmarks, int(rng.integers(2 ** 63)))
    with _torch_threads(1):
        filt = witness_matrix(dist, 0)
    top = filt.max()
    if top > 0:
        filt /= top
    high = None
    if maxdim == 2:
        m = min(h2_landmarks, len(filt))
        if m == len(filt):
            high = filt
        elif n_landmarks >= len(sub):  # every point a landmark, in input order: pick a net
            order = _maxmin_order(dist, m)
            high = filt[np.ix_(order, order)]
        else:
            high = filt[:m, :m]
    out = []
    for i, c in enumerate(fields):
        # the first field's H0 and H1 by ripser.py, as the one-field test reads them
        ratios = _ratios(flag_diagrams(filt, maxdim=min(maxdim, 1), coeff=c) if i == 0
                         else _engine_diagrams(filt, min(maxdim, 1), c, engine))
        if high is not None:
            ratios.append(_log_ratios(_engine_diagrams(high, 2, c, engine)[2]))
        out.append(ratios)
    return out


#: Persistence engines of the two-field test: ripser.py (a core dependency) and giotto-ph
#: (optional, the ``bench`` extra: AGPL-3.0), which gives the same diagrams about 3 times
#: faster on the 50-landmark H2 complex (14 against 48 ms, one thread).
ENGINES = ("auto", "ripser", "giotto-ph")


def _engine(engine, fn):
    if engine not in ENGINES:
        raise InputError(f"The 'engine' parameter of {fn} must be one of {list(ENGINES)}; "
                         f"got {engine!r}.")
    if engine == "ripser":
        return engine
    try:
        import gph  # noqa: F401
    except ImportError:
        if engine == "giotto-ph":
            raise InputError(f"The 'engine' parameter of {fn} is 'giotto-ph', which is not "
                             f"installed: pip install giotto-ph (or use 'ripser').") from None
        return "ripser"
    return "giotto-ph"


def _engine_diagrams(filt, maxdim, coeff, engine):
    """Diagrams of the flag filtration `filt` by `engine`, as :func:`flag_diagrams` sorts them."""
    if engine == "ripser":
        return flag_diagrams(filt, maxdim=maxdim, coeff=coeff)
    from gph import ripser_parallel

    dgms = ripser_parallel(filt, metric="precomputed", maxdim=maxdim, coeff=coeff,
                           n_threads=1)["dgms"]
    out = []
    for d in dgms:
        d = np.asarray(d, dtype=np.float64).reshape(-1, 2)
        out.append(d[np.lexsort((d[:, 1], d[:, 0]))])
    return out


def _null_maxima_fields(key, base_key, dim, factor, *, n_null, progress, cache_dir,
                        engine="ripser"):
    """Null maxima over every field, shape (n_null, n_fields, maxdim + 1, 2).

    The null clouds and their resamples are drawn from the seed of `base_key`, the one-field
    test's key: its H0 and H1 maxima are the first field's, and are cached for it too.
    """
    maxima = NULL_CACHE.get(key, cache_dir)
    if maxima is not None:
        return maxima
    n_fields, maxdim = len(key["fields"]), key["maxdim"]

    def replicate(cloud, m, rng):
        ratios = _replicate_fields(cloud, key["n_landmarks"], m, rng, maxdim=maxdim,
                                   fields=key["fields"], h2_landmarks=key["h2_landmarks"],
                                   engine=engine)
        return [[_top_two(r) for r in per_field] for per_field in ratios]

    maxima = np.array(list(_null_replicates(key, base_key, dim, factor, n_null, progress,
                                            replicate)),
                      dtype=np.float64).reshape(n_null, n_fields, maxdim + 1, 2)
    NULL_CACHE.put(key, maxima, cache_dir)
    if base_key["maxdim"] <= 1 and NULL_CACHE.get(base_key, cache_dir) is None:
        NULL_CACHE.put(base_key, maxima[:, 0, :base_key["maxdim"] + 1], cache_dir)
    return maxima


@dataclass(frozen=True)
class FieldBars:
    """Significant bars over several prime fields, read on the same resamples.

    Attributes
    ----------
    fields : tuple of int
        The prime fields, in the order given (default (2, 3)).
    bars : dict of int to SignificantBars
        Per field, the counts of H0 .. H`maxdim`, their confidence and undecided flags. The
        first field's H0 and H1 are exactly :func:`significant_bars` with ``maxdim=1`` and
        that field's coefficients (same resamples, landmarks and null clouds).
    joint : list of (dict of int to tuple of int, float)
        The Betti vectors of every field read together, per resample, and the share of
        resamples that give them, most frequent first.
    confidence : float
        Share of the resamples whose Betti vectors over every field are all the reported
        counts (the ``counts`` of each field's bars): the confidence of the pair.
    h2_landmarks : int or None
        Landmarks of the H2 complex; None when ``maxdim < 2``.
    """

    fields: tuple
    bars: dict
    joint: list
    confidence: float
    h2_landmarks: int | None

    def betti(self, coeff):
        """The counts over the field of `coeff`: [b0, b1, (b2)]."""
        return list(self.bars[coeff].counts)

    def to_dict(self):
        """Plain JSON-able data."""
        return {"fields": list(self.fields),
                "bars": {str(c): b.to_dict() for c, b in self.bars.items()},
                "joint": [{"betti": {str(c): list(v) for c, v in vectors.items()},
                           "share": share} for vectors, share in self.joint],
                "confidence": self.confidence, "h2_landmarks": self.h2_landmarks}


def significant_bars_fields(points, n_landmarks=100, *, fields=(2, 3), maxdim=2,
                            h2_landmarks=H2_LANDMARKS, density=None, n_input=None,
                            null="auto", alpha=0.01, n_resamples=20, n_null=99,
                            resample_fraction=0.8, max_witnesses=4096, seed=0,
                            cache_dir="default", engine="auto", progress=False):
    """Significant bars of H0 .. H`maxdim` over several prime fields, on the same resamples.

    The test of :func:`significant_bars`, read over every field of `fields` on one set of
    resamples, landmarks and null clouds, so the Betti vectors of the fields can be compared
    and read together: the Klein bottle has b = (1, 2, 1) over Z/2 and (1, 1, 0) over Z/3,
    the torus (1, 2, 1) over both (Carlsson, Ishkhanov, de Silva & Zomorodian 2008). H0 and
    H1 are read on all `n_landmarks` landmarks, their bars in link units as in the
    one-field test; H2 on the first `h2_landmarks` maxmin landmarks of the same resample,
    its bars measured by their multiplicative persistence ``log(death / birth)`` (see
    :func:`_log_ratios`), against null clouds measured the same way.
    Below :data:`MIN_H2_LANDMARKS` H2 landmarks, H2 is undecided whatever its count (on so
    few landmarks a void says nothing about a surface).

    Parameters
    ----------
    points : array_like, shape (n_points, n_dims)
    n_landmarks : int
    fields : sequence of int
        Distinct primes (default (2, 3)).
    maxdim : int
        Highest homology dimension (0, 1 or 2).
    h2_landmarks : int
        Landmarks of the H2 complex (>= 3; at most `n_landmarks` are used).
    density, n_input, null, alpha, n_resamples, n_null, resample_fraction, max_witnesses,
    seed, cache_dir, progress
        As :func:`significant_bars`.
    engine : {"auto", "ripser", "giotto-ph"}
        Persistence engine of the second field and of H2 (the first field's H0 and H1 are
        always ripser.py's): "auto" takes giotto-ph where it is installed (the same diagrams,
        faster), else ripser.py. The result does not depend on it.

    Returns
    -------
    FieldBars
    """
    fn = "significant_bars_fields"
    if isinstance(fields, (str, bytes)) or not hasattr(fields, "__iter__"):
        raise InputError(f"The 'fields' parameter of {fn} must be a sequence of distinct primes; "
                         f"got {fields!r}.")
    fields = tuple(_check_prime(c, "fields", fn) for c in fields)
    if not fields or len(set(fields)) != len(fields):
        raise InputError(f"The 'fields' parameter of {fn} must be a non-empty sequence of "
                         f"distinct primes; got {fields!r}.")
    h2_landmarks = check_int(h2_landmarks, "h2_landmarks", fn, 3)
    engine = _engine(engine, fn)
    t = _setup(points, n_landmarks, maxdim=maxdim, density=density, n_input=n_input, null=null,
               alpha=alpha, n_resamples=n_resamples, n_null=n_null,
               resample_fraction=resample_fraction, max_witnesses=max_witnesses, coeffs=fields,
               seed=seed, cache_dir=cache_dir, fn=fn)
    maxdim, n_sub, landmarks, n_null = t["maxdim"], t["n_sub"], t["landmarks"], t["n_null"]
    base_key = dict(t["key"], maxdim=min(maxdim, 1))
    key = dict(t["key"], kind="fields", fields=list(fields), h2_landmarks=h2_landmarks)
    null_max = _null_maxima_fields(key, base_key, t["dim"], t["factor"], n_null=n_null,
                                   progress=progress, cache_dir=t["cache_dir"], engine=engine)
    critical = [_critical_values(null_max[:, f], t["alpha"], n_null, maxdim)
                for f in range(len(fields))]

    rng = np.random.default_rng(np.random.SeedSequence([seed, _DATA_STREAM]))
    n_res = t["n_resamples"]
    counts = np.empty((n_res, len(fields), maxdim + 1), dtype=np.int64)
    tops = np.empty((n_res, len(fields), maxdim + 1))
    bar = _progress(n_res, "resamples", progress)
    for i in range(n_res):
        per_field = _replicate_fields(t["points"], t["n_landmarks"], n_sub, rng, maxdim=maxdim,
                                      fields=fields, h2_landmarks=h2_landmarks, engine=engine)
        for f, (ratios, (thr, gaps)) in enumerate(zip(per_field, critical)):
            counts[i, f] = [_count(r, a, g) for r, a, g in zip(ratios, thr, gaps)]
            tops[i, f] = [r[0] if r.size else 0.0 for r in ratios]
        bar.update()
    bar.close()
    counts[:, :, 0] += 1  # the component that never dies

    h2_used = min(h2_landmarks, landmarks) if maxdim == 2 else None
    per_dim = [landmarks] * min(maxdim + 1, 2) + ([h2_used] if maxdim == 2 else [])
    bars = {}
    for f, c in enumerate(fields):
        result = _summary(counts[:, f], n_sub, per_dim, t["n_points"])
        if maxdim == 2 and h2_used < MIN_H2_LANDMARKS:
            result["undecided"][2] = True
            result["reason"][2] = (f"too few landmarks to tell H2: {h2_used} landmarks, under "
                                   f"{MIN_H2_LANDMARKS}, cannot hold a surface. Use more "
                                   f"points or landmarks.")
        thr, gaps = critical[f]
        params = {"n_landmarks": t["n_landmarks"], "landmarks_used": landmarks,
                  "h2_landmarks": h2_used, "maxdim": maxdim, "alpha": t["alpha"],
                  "n_resamples": n_res, "n_null": n_null, "resample_size": n_sub,
                  "resample_fraction": t["resample_fraction"],
                  "max_witnesses": t["max_witnesses"], "null": t["model"],
                  "density": None if t["density"] is None else list(t["density"]),
                  "n_input": int(t["n_input"]), "null_input": t["null_input"], "coeff": c,
                  "fields": list(fields), "seed": seed, "engine": engine,
                  "statistic": "bar length / median H0 death, nu = 0 lazy witness complex"}
        bars[c] = SignificantBars(**result, thresholds=[float(v) for v in thr],
                                  gap_thresholds=[float(g) for g in gaps],
                                  longest=[float(v) for v in np.median(tops[:, f], axis=0)],
                                  n_points=int(t["n_points"]), params=params)
    vectors, freq = np.unique(counts.reshape(n_res, -1), axis=0, return_counts=True)
    order = np.lexsort((np.arange(len(freq)), -freq))
    joint = [({c: tuple(int(v) for v in vectors[j].reshape(len(fields), -1)[f])
               for f, c in enumerate(fields)}, float(freq[j] / n_res)) for j in order]
    reported = np.array([bars[c].counts for c in fields])
    agree = float(np.mean(np.all(counts == reported[None], axis=(1, 2))))
    return FieldBars(fields=fields, bars=bars, joint=joint, confidence=agree,
                     h2_landmarks=h2_used)
