"""One analysis of one cloud: filters and a spec in, one plain result out.

Every caller goes through :func:`analyse`: ``describe`` (one row per layer), the experiment
runner (figures and reports), the atlas, and the training watcher. What they compute about a
cloud is therefore the same everywhere; they differ only in what they keep and write::

    filters --prepare_points--> points --+--> significant bars (the verdict's bars)
                                         +--> lazy witness barcodes    (spec.barcodes)
                                         +--> Klein-bottle readings    (k x k filters, k >= 3)
                                         +--> Mapper graph, its nerve  (spec.mapper)
                                         |    and layout               (spec.layout)
                                         +--> the verdict row

Nothing here draws or writes files: :mod:`cnntopo.verdict.results` saves a result as plain
files and reads it back, and :mod:`cnntopo.viz.draw` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from ..cloud.prepare import PreparedPoints, prepare_points
from ..validation import InputError, is_int, renamed, warn_deprecated
from .table import verdict_row

__all__ = ["SignificanceSpec", "BarcodesSpec", "MapperSpec", "AnalysisSpec", "CloudAnalysis",
           "analyse", "mapper_of", "describe_cloud", "cloud_fields", "verdict_spec", "mapper_spec",
           "n_landmarks_of", "cloud_significance", "auto_landmarks",
           "klein_numbers", "klein_readings_of", "KLEIN_KEYS", "MIN_TESTABLE", "filter_shape"]

# Fewer kept points than this cannot be tested (significant_bars needs 5).
MIN_TESTABLE = 5
KLEIN_KEYS = ("primary_circle_fraction", "primary_circle_coverage", "klein_fraction",
              "off_model_fraction")


# ------------------------------------------------------------------------------ the spec

@dataclass(frozen=True)
class SignificanceSpec:
    """The significance test of the verdict (:func:`cnntopo.topology.significance.significant_bars`).

    ``landmarks="auto"`` is :func:`auto_landmarks` of the kept points; ``n_resamples=None``
    the test's default (20). ``fields=(2, 3)`` reads H0, H1 and H2 over both fields on the
    same resamples (:func:`cnntopo.topology.significance.significant_bars_fields`) and names
    the shape (:func:`cnntopo.topology.shape.shape_of`): what the verdict does; `maxdim` and
    `coeff` are then those of the first field's H0 and H1, which are exactly the one-field
    test's. None: the one-field test of `maxdim` and `coeff` alone.
    """

    landmarks: int | str = 100
    maxdim: int = 1
    coeff: int = 2
    seed: int = 0
    n_resamples: int | None = None
    fields: tuple | None = None

    def __post_init__(self):
        if self.fields is not None:
            fields = tuple(int(c) for c in self.fields)
            if set(fields) != {2, 3}:
                raise InputError(f"The 'fields' of a SignificanceSpec must be (2, 3) (the "
                                 f"shape models' two fields) or None; got {self.fields!r}.")
            object.__setattr__(self, "fields", fields)


@dataclass(frozen=True)
class BarcodesSpec:
    """Lazy witness barcodes to keep and draw (:func:`cnntopo.topology.witness.lazy_witness_barcodes`)."""

    landmarks: int = 100
    nu: int = 1
    maxdim: int = 1
    coeff: int = 2
    seed: int = 0
    max_filtration: float | None = None
    num_divisions: int | None = None


@dataclass(frozen=True)
class MapperSpec:
    """A Mapper graph (:func:`cnntopo.topology.mapper.mapper_graph`), its confidence and its
    pictures' thumbnails.

    ``resolution`` and ``gain`` take ``"auto"``: parameters from the data
    (:func:`cnntopo.topology.mapper_stats.auto_parameters`; single linkage in the points'
    Euclidean metric is then cut at the estimated sampling scale, and ``vne`` is not used). ``n_bootstrap`` resamples give each loop and component of the
    graph a confidence (:func:`cnntopo.topology.mapper_stats.mapper_confidence`; 0: none).
    """

    resolution: int | str | tuple = 30
    gain: float | str = 3.0
    vne: str = "variance"
    n_bins: int = 10
    lens: str = "pca"
    min_cluster_fraction: float = 0.0
    seed: int = 0
    n_thumbnails: int = 12
    n_bootstrap: int = 100


def _from_dict(cls, d, where):
    if d is None or isinstance(d, cls):
        return d
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(f"{where} has unknown key {unknown[0]!r} (allowed: "
                         f"{', '.join(sorted(names))}).")
    return cls(**d)


@dataclass(frozen=True)
class AnalysisSpec:
    """What to compute about one cloud.

    Attributes
    ----------
    k, p : int and float, or None
        The density filtration rho(k, p); both or neither.
    significance : SignificanceSpec or None
        The verdict's significance test; None skips it (the row then has no bars).
    barcodes : BarcodesSpec or None
        Lazy witness barcodes to keep (for the barcodes figure and JSON).
    mapper : MapperSpec or None
        A Mapper graph; its nerve's Betti numbers go into the row.
    layout : bool
        Also lay the Mapper graph out (node positions and thumbnails), for pictures.
    """

    k: int | None = None
    p: float | None = None
    significance: SignificanceSpec | None = field(default_factory=SignificanceSpec)
    barcodes: BarcodesSpec | None = None
    mapper: MapperSpec | None = None
    layout: bool = False

    def __post_init__(self):
        if (self.k is None) != (self.p is None):
            raise InputError(f"The 'k' and 'p' parameters go together (rho(k, p)); got "
                             f"k={self.k}, p={self.p}")
        for name, cls in (("significance", SignificanceSpec), ("barcodes", BarcodesSpec),
                          ("mapper", MapperSpec)):
            object.__setattr__(self, name, _from_dict(cls, getattr(self, name), name))

    @classmethod
    def from_config(cls, block, *, layout=True):
        """The spec of an experiment config's analysis (or grid row), as validated by
        :func:`cnntopo.experiments.validate_config`: its barcodes block, else the paper's 100
        landmarks, sets the significance test."""
        b = block.get("barcodes")
        m = block.get("mapper")
        bars = None if b is None else BarcodesSpec(**b)
        sig = SignificanceSpec() if bars is None else SignificanceSpec(
            landmarks=bars.landmarks, maxdim=bars.maxdim, coeff=bars.coeff, seed=bars.seed)
        return cls(k=block.get("k"), p=block.get("p"), significance=sig, barcodes=bars,
                   mapper=None if m is None else MapperSpec(**m), layout=layout and m is not None)

    def to_dict(self):
        """Plain JSON-able data; :meth:`from_dict` reads it back."""
        def plain(v):
            return None if v is None else {f.name: getattr(v, f.name) for f in fields(v)}

        return {"k": self.k, "p": self.p, "significance": plain(self.significance),
                "barcodes": plain(self.barcodes), "mapper": plain(self.mapper),
                "layout": self.layout}

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


# ------------------------------------------------------------------------------ the result

@dataclass
class CloudAnalysis:
    """Everything :func:`analyse` computed about one cloud.

    Attributes
    ----------
    spec : AnalysisSpec
    filters : ndarray of shape (n_filters, d)
        The input rows, as given (every row index below refers to them).
    prepared : cnntopo.cloud.prepare.PreparedPoints
        The analysed points (normalised, density filtered) and their input rows.
    meta : dict of str to ndarray of shape (n_kept,), or None
        Per analysed point, what the caller knew of its input row (``network``, ...).
    significance : cnntopo.topology.significance.SignificantBars or None
        None when not asked for, or too few points were kept to test (under 5). With the
        two-field test, its first field's bars (H0, H1, H2 over Z/2).
    fields : cnntopo.topology.significance.FieldBars or None
        The homology over Z/2 and Z/3 (``spec.significance.fields``), else None.
    significance_landmarks : int or None
        Landmarks the test used (``"auto"`` resolved).
    barcodes : cnntopo.topology.witness.WitnessBarcodes or None
    klein : cnntopo.topology.klein.KleinReadings or None
        For square k x k filters, k >= 3 (k > 3: read area-averaged to 3x3,
        :mod:`cnntopo.topology.klein_grid`).
    primary_circle_fraction_before_filtering : float or None
        Primary-circle fraction of every normalised filter (k x k with a density filtration).
        (``circle_fraction_before_filtering`` is a deprecated alias.)
    graph : dict or None
        The node-link Mapper graph; members are rows of ``prepared.points``.
    nerve_betti : list of int or None
    mapper_confidence : cnntopo.topology.mapper_stats.MapperConfidence or None
        Bootstrap confidence of the graph's loops and components, and its stability.
    layout : cnntopo.topology.layout.MapperLayout or None
    row : dict
        The verdict row (:func:`cnntopo.verdict.table.verdict_row`).
    """

    spec: AnalysisSpec
    filters: np.ndarray
    prepared: PreparedPoints
    meta: dict | None
    significance: object
    significance_landmarks: int | None
    barcodes: object
    klein: object
    primary_circle_fraction_before_filtering: float | None
    graph: dict | None
    nerve_betti: list | None
    layout: object
    row: dict
    mapper_confidence: object = None
    fields: object = None

    @property
    def points(self):
        return self.prepared.points

    @property
    def circle_fraction_before_filtering(self):
        warn_deprecated("CloudAnalysis.circle_fraction_before_filtering",
                        "primary_circle_fraction_before_filtering")
        return self.primary_circle_fraction_before_filtering

    def _repr_html_(self):
        """In a notebook: the numbers, barcodes, the Klein-bottle picture and the Mapper view
        (:func:`cnntopo.viz.notebook.analysis_html`)."""
        from ..viz.notebook import analysis_html  # display only: computing never gets here

        return analysis_html(self)

    @property
    def shape(self):
        """(h, w) of a filter: square when its size is a square, else (1, d)."""
        return filter_shape(self.filters.shape[1])


def filter_shape(d):
    """(h, w) of a filter with `d` weights: (r, r) when d = r * r, else (1, d)."""
    r = math.isqrt(int(d))
    return (r, r) if r * r == d else (1, int(d))


# ------------------------------------------------------------------------------ the pieces

def auto_landmarks(n_kept):
    """The paper's 100 landmarks, fewer for small clouds: ``max(10, min(100, n_kept // 4))``.

    Four points per landmark leave a resample of the significance test (80% of the points)
    over three, enough to decide (:data:`cnntopo.topology.significance.MIN_WITNESSES_PER_LANDMARK`);
    under 40 points the test stays at 10 landmarks and may say "too few points to tell".
    """
    return max(10, min(100, int(n_kept) // 4))


@renamed(landmarks="n_landmarks")
def cloud_significance(prep, n_landmarks=100, *, k=None, p=None, maxdim=1, coeff=2, seed=0,
                       n_resamples=None):
    """:func:`cnntopo.topology.significance.significant_bars` of a prepared cloud, its null
    clouds made as `prep` was (normalised, then rho(k, p) when given)."""
    from ..topology.significance import significant_bars

    kwargs = {} if n_resamples is None else {"n_resamples": int(n_resamples)}
    return significant_bars(prep.points, n_landmarks, maxdim=maxdim, coeff=coeff, seed=seed,
                            density=None if k is None else (k, p), n_input=prep.n_points,
                            **kwargs)


def _kernel_side(d):
    from ..topology.klein_grid import MODEL_SIZE, kernel_side

    k = kernel_side(d)
    return k if k is not None and k >= MODEL_SIZE else None


def klein_readings_of(points):
    """The Klein-bottle readings of normalised k x k filters (k >= 3; area-averaged to 3x3
    when k > 3, :mod:`cnntopo.topology.klein_grid`), or None for other shapes."""
    if _kernel_side(points.shape[1]) is None:
        return None
    from ..topology.klein_grid import kernel_klein_readings

    return kernel_klein_readings(points)


def klein_numbers(points):
    """The Klein-bottle readings of a row, beside the same fractions for random filters.

    Parameters
    ----------
    points : ndarray of shape (n, k * k)
        Normalised filters of one layer.

    Returns
    -------
    dict or None
        :meth:`cnntopo.topology.klein.KleinReadings.to_dict` (``primary_circle_fraction``,
        ``primary_circle_coverage``, ``klein_fraction``, ``off_model_fraction``, counts and
        radius) and :func:`cnntopo.topology.klein_grid.random_fractions` of the shape
        (``primary_circle_fraction_random``, ``klein_fraction_random``,
        ``off_model_fraction_random``); the same keys for every square kernel k >= 3. None
        for other shapes (1x1, 2x2, not square).
    """
    readings = klein_readings_of(points)
    if readings is None:
        return None
    from ..topology.klein_grid import random_fractions

    return {**readings.to_dict(), **random_fractions(_kernel_side(points.shape[1]))}


def cloud_fields(prep, n_landmarks=100, *, k=None, p=None, seed=0, n_resamples=None):
    """:func:`cnntopo.topology.significance.significant_bars_fields` over Z/2 and Z/3 (H0-H2)
    of a prepared cloud, its null clouds made as `prep` was."""
    from ..topology.significance import significant_bars_fields

    kwargs = {} if n_resamples is None else {"n_resamples": int(n_resamples)}
    return significant_bars_fields(prep.points, n_landmarks, fields=(2, 3), maxdim=2,
                                   seed=seed, density=None if k is None else (k, p),
                                   n_input=prep.n_points, **kwargs)


def _significance(prep, spec):
    """(bars, landmarks, fields): the verdict's test of the kept points."""
    s = spec.significance
    if s is None or prep.n_kept < MIN_TESTABLE:
        return None, None, None
    landmarks = auto_landmarks(prep.n_kept) if s.landmarks == "auto" else int(s.landmarks)
    if s.fields is not None:
        fields = cloud_fields(prep, landmarks, k=spec.k, p=spec.p, seed=s.seed,
                              n_resamples=s.n_resamples)
        return fields.bars[2], landmarks, fields
    return cloud_significance(prep, landmarks, k=spec.k, p=spec.p, maxdim=s.maxdim,
                              coeff=s.coeff, seed=s.seed, n_resamples=s.n_resamples), \
        landmarks, None


def _barcodes(points, b):
    from ..topology.witness import lazy_witness_barcodes

    return lazy_witness_barcodes(points, b.landmarks, nu=b.nu, maxdim=b.maxdim, coeff=b.coeff,
                                 seed=b.seed, max_filtration=b.max_filtration,
                                 num_divisions=b.num_divisions)


def mapper_of(points, m, *, lens=None, n_jobs=None, ray=None, progress=False):
    """A Mapper graph of `points` as `m` says, its nerve and their confidence.

    Parameters
    ----------
    points : array of shape (n, d)
    m : MapperSpec or dict
    lens : array of shape (n, n_lenses), optional
        Lens values to use instead of ``m.lens`` (the graph then says ``"user"``).
    n_jobs, ray
        Where the resampled graphs run (:func:`cnntopo.topology.mapper_stats.mapper_confidence`;
        the same result everywhere).

    Returns
    -------
    graph : dict
        Node-link data (:func:`cnntopo.topology.mapper.mapper_graph`); ``graph["graph"]``
        names the lens and, where parameters came from the data, holds ``auto``.
    betti : list of int
    confidence : cnntopo.topology.mapper_stats.MapperConfidence or None
        None when ``m.n_bootstrap`` is 0.
    """
    from ..topology.mapper import lens_values, mapper_graph
    from ..topology.mapper_stats import auto_parameters, mapper_confidence
    from ..topology.nerve import nerve_betti

    m = _from_dict(MapperSpec, m, "mapper")
    if lens is None:
        lens, name = lens_values(points, m.lens, seed=m.seed)
    else:
        lens, name = lens_values(points, lens), "user"
    kw = {"vne": None if m.vne == "none" else m.vne, "n_bins": m.n_bins,
          "min_cluster_fraction": m.min_cluster_fraction, "seed": m.seed}
    auto = None
    if "auto" in (m.resolution, m.gain):
        # Carrière et al.'s parameters come with single linkage in the points' own metric:
        # VNE's division by each column's variance would let near-constant (noise) columns
        # set the sampling scale.
        kw["vne"] = None
        params, auto = auto_parameters(points, lens, resolution=m.resolution, gain=m.gain,
                                       vne=None, graph_kwargs={k: v for k, v in kw.items()
                                                               if k != "vne"}, seed=m.seed,
                                       n_jobs=n_jobs, ray=ray)
        auto["metric"] = "euclidean"
    else:
        params = {"resolution": m.resolution, "gain": m.gain}
    graph = mapper_graph(points, lens=lens, **params, **kw)
    graph["graph"]["lens"] = name  # the values were computed here, from that lens
    if auto is not None:
        graph["graph"]["auto"] = auto
    betti = [int(b) for b in nerve_betti(graph)]
    conf = None
    if m.n_bootstrap:
        conf = mapper_confidence(points, graph, lens, n_bootstrap=m.n_bootstrap, seed=m.seed,
                                 graph_kwargs={**params, **kw}, n_jobs=n_jobs, ray=ray,
                                 progress=progress)
    return graph, betti, conf


# ------------------------------------------------------------------------------ the core

def analyse(filters, spec=None, *, layer=None, iteration=None, meta=None, n_jobs=None,
            ray=None):
    """Everything the spec asks about one cloud of filters, and its verdict row.

    Parameters
    ----------
    filters : array_like of shape (n_filters, d)
        Raw filters (normalised and density filtered here, as everywhere).
    spec : AnalysisSpec or dict, optional
        What to compute (default: the significance test and the Klein-bottle readings).
    layer, iteration : int or None
        Copied into the verdict row.
    meta : dict of str to array of shape (n_filters,), optional
        What is known of each input row (``network``, ``iteration``, ...); kept for the
        analysed points.
    n_jobs, ray
        Where the Mapper graph's resampled graphs run (:func:`mapper_of`); the result is the
        same everywhere.

    Returns
    -------
    CloudAnalysis
    """
    if spec is None:
        spec = AnalysisSpec()
    elif isinstance(spec, dict):
        spec = AnalysisSpec(**spec)
    filters = np.asarray(filters)
    prep = prepare_points(filters, k=spec.k, p=spec.p)
    points = prep.points
    if meta is not None:
        bad = [k for k, v in meta.items() if len(v) != len(filters)]
        if bad:
            raise InputError(f"The 'meta' parameter of analyse must hold one value per filter "
                             f"({len(filters)}); {bad[0]!r} has {len(meta[bad[0]])}.")
        meta = {k: np.asarray(v)[prep.rows] for k, v in meta.items()}
    klein = before = random = None
    side = _kernel_side(points.shape[1])
    if side is not None and len(points):
        from ..topology.klein_grid import kernel_circle_fraction, random_fractions

        klein = klein_readings_of(points)
        random = random_fractions(side)
        if spec.k is not None:
            before = kernel_circle_fraction(prepare_points(filters).points)
    sig, n_land, two = _significance(prep, spec)
    bars = None if spec.barcodes is None else _barcodes(points, spec.barcodes)
    graph = betti = lay = conf = None
    if spec.mapper is not None:
        graph, betti, conf = mapper_of(points, spec.mapper, n_jobs=n_jobs, ray=ray)
        if spec.layout:
            from ..topology.layout import mapper_layout

            lay = mapper_layout(graph, points, shape=filter_shape(points.shape[1]),
                                seed=spec.mapper.seed, n_thumbnails=spec.mapper.n_thumbnails)
    row = verdict_row(layer=layer, iteration=iteration, n_filters=prep.n_input,
                      n_kept=prep.n_kept, k=spec.k, p=spec.p, significance=sig,
                      klein=None if klein is None else {**klein.to_dict(), **random},
                      nerve_betti=betti, mapper_confidence=conf, fields=two,
                      shape=spec.significance is not None and spec.significance.fields is not None)
    return CloudAnalysis(spec=spec, filters=filters, prepared=prep, meta=meta,
                         significance=sig, significance_landmarks=n_land, barcodes=bars,
                         klein=klein, primary_circle_fraction_before_filtering=before, graph=graph,
                         nerve_betti=betti, layout=lay, row=row, mapper_confidence=conf,
                         fields=two)


def mapper_spec(mapper, *, n_bootstrap=None, seed=0, n_thumbnails=None, where="mapper"):
    """The one reading of a ``mapper`` argument: ``(resolution, gain[, n_bootstrap])``.

    Parameters
    ----------
    mapper : tuple, list, dict, MapperSpec or None
        ``(resolution, gain)`` or ``(resolution, gain, n_bootstrap)``; resolution an int and
        gain a float, either may be ``"auto"``; a dict of :class:`MapperSpec` fields or a
        MapperSpec is taken as it is. None: no Mapper graph.
    n_bootstrap : int, optional
        The bootstrap resamples when `mapper` has no third entry; None:
        ``MapperSpec.n_bootstrap`` (100).
    seed : int
        Of the graph (its lens and bootstrap) when `mapper` is a tuple.
    n_thumbnails : int, optional
        Thumbnails of the graph's pictures; None: ``MapperSpec.n_thumbnails``.
    where : str
        The argument, for messages.

    Returns
    -------
    MapperSpec or None
    """
    if mapper is None or isinstance(mapper, MapperSpec):
        return mapper
    if isinstance(mapper, dict):
        return _from_dict(MapperSpec, mapper, where)
    try:
        parts = list(mapper)
        if len(parts) not in (2, 3) or isinstance(mapper, str):
            raise ValueError
        res = "auto" if parts[0] == "auto" else parts[0]
        gain = "auto" if parts[1] == "auto" else parts[1]
        if res != "auto" and (not is_int(res) and not float(res).is_integer()):
            raise ValueError
        res = res if res == "auto" else int(res)
        gain = gain if gain == "auto" else float(gain)
        boot = parts[2] if len(parts) == 3 else n_bootstrap
        boot = MapperSpec.n_bootstrap if boot is None else boot
        if not is_int(boot) and not (isinstance(boot, float) and boot.is_integer()):
            raise ValueError
        boot = int(boot)
        if boot < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"The {where!r} parameter must be (resolution, gain) or (resolution, "
                         f"gain, n_bootstrap): an int resolution >= 1 and a gain > 1, either "
                         f"may be 'auto', and n_bootstrap an int >= 0; got {mapper!r}.") from None
    kw = {} if n_thumbnails is None else {"n_thumbnails": int(n_thumbnails)}
    return MapperSpec(resolution=res, gain=gain, n_bootstrap=boot, seed=seed, **kw)


@renamed(landmarks="n_landmarks")
def verdict_spec(*, k=None, p=None, n_landmarks="auto", seed=0, mapper=None, n_resamples=None):
    """The :class:`AnalysisSpec` of a verdict row: the significance test over Z/2 and Z/3
    (H0-H2) and the shape it names, the Klein-bottle readings and optionally a Mapper graph. What ``describe``, ``describe_run``, the atlas and
    the CLI compute for each layer.

    Parameters
    ----------
    k, p : int and float, optional
        rho(k, p); both or neither.
    n_landmarks : int or "auto", default "auto"
        Landmarks of the significance test; "auto": :func:`auto_landmarks` of the kept points
        (the paper's 100 for 400 kept points or more). (``landmarks`` is a deprecated alias.)
    seed : int
        Of the significance test.
    mapper : (resolution, gain[, n_bootstrap]) or None
        See :func:`mapper_spec` (n_bootstrap default 100; the graph's seed is 0).
    n_resamples : int, optional
        Resamples of the significance test (its default, 20, when None).

    Returns
    -------
    AnalysisSpec
    """
    if n_landmarks != "auto" and not (is_int(n_landmarks) and n_landmarks >= 1):
        raise InputError(f"The 'n_landmarks' parameter must be an int >= 1 or 'auto'; got "
                         f"{n_landmarks!r}.")
    return AnalysisSpec(k=k, p=p, mapper=mapper_spec(mapper), significance=SignificanceSpec(
        landmarks=n_landmarks if n_landmarks == "auto" else int(n_landmarks), seed=seed,
        n_resamples=n_resamples, fields=(2, 3)))


def n_landmarks_of(result):
    """The landmarks of a result's significance test: the row's ``n_landmarks``.

    Parameters
    ----------
    result : CloudAnalysis

    Returns
    -------
    int or None
        The landmarks the test used, or would have used on a cloud too small to test
        (``"auto"`` resolved); None without a significance test.
    """
    if result.significance_landmarks is not None:
        return int(result.significance_landmarks)
    s = result.spec.significance
    if s is None:
        return None
    return auto_landmarks(result.prepared.n_kept) if s.landmarks == "auto" else int(s.landmarks)


@renamed(landmarks="n_landmarks")
def describe_cloud(filters, *, layer=None, iteration=None, k=None, p=None, n_landmarks="auto",
                   seed=0, mapper=None, n_resamples=None):
    """The verdict row of one cloud of spatial filters (:func:`analyse`'s row).

    Parameters
    ----------
    filters : array_like, shape (n_filters, d)
        Raw filters (normalised and density filtered here, as everywhere).
    layer, iteration : int or None
        Copied into the row.
    k, p, n_landmarks, seed, mapper, n_resamples
        As :func:`verdict_spec`.

    Returns
    -------
    row : dict
        The verdict row (:data:`cnntopo.verdict.table.ROW_KEYS`) and ``n_landmarks``.
    """
    spec = verdict_spec(k=k, p=p, n_landmarks=n_landmarks, seed=seed, mapper=mapper,
                        n_resamples=n_resamples)
    result = analyse(filters, spec, layer=layer, iteration=iteration)
    return dict(result.row, n_landmarks=n_landmarks_of(result))
