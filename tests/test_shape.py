"""Naming the shape from homology over Z/2 and Z/3: the models, the reading, known shapes."""

import numpy as np
import pytest
from conftest import shared_file

from cnntopo.topology.shape import (
    MODELS,
    NO_MODEL,
    NO_STRUCTURE,
    TOO_FEW,
    match_model,
    shape_of,
    shape_reading,
)
from cnntopo.topology.shape_samples import SAMPLES, sample_shape
from cnntopo.topology.significance import (
    NULL_CACHE,
    significant_bars,
    significant_bars_fields,
)
from cnntopo.validation import InputError
from cnntopo.verdict.analysis import describe_cloud

# Every known-shape test reads its nulls from one folder of this module: a null is a pure
# function of its parameters, and the shapes share theirs.
_CACHE = {}


@pytest.fixture
def shared_nulls(tmp_path_factory, monkeypatch):
    if "dir" not in _CACHE:
        _CACHE["dir"] = tmp_path_factory.mktemp("shape-nulls")
    monkeypatch.setenv("CNNTOPO_CACHE", str(_CACHE["dir"]))


# ----------------------------------------------------------------- the models

def test_each_model_matches_itself_and_only_itself():
    for name, betti in MODELS.items():
        assert match_model(betti) == name
    assert len({tuple(sorted(b.items())) for b in MODELS.values()}) == len(MODELS)
    # the Klein bottle and the torus agree over Z/2: only Z/3 tells them apart
    assert MODELS["Klein bottle"][2] == MODELS["torus"][2]
    assert match_model({2: (1, 2, 1), 3: (1, 1, 0)}) == "Klein bottle"
    assert match_model({2: (1, 2, 1), 3: (1, 2, 1)}) == "torus"
    assert match_model({2: (1, 2, 0), 3: (1, 2, 0)}) is None      # two loops, no surface
    assert match_model({2: (2, 0, 0), 3: (2, 0, 0)}) is None      # clusters
    with pytest.raises(InputError, match="'betti' parameter of match_model"):
        match_model({2: (1, 2, 1)})


def _row(z2, z3, conf=0.9, K=None, P=None, und2=(False,) * 3, und3=(False,) * 3):
    return {"significant": list(z2), "significant_z3": list(z3), "undecided": list(und2),
            "undecided_z3": list(und3), "shape_confidence": conf, "klein_fraction": K,
            "primary_circle_fraction": P}


def test_reading_names_the_model_and_its_evidence():
    shape, text = shape_reading(_row((1, 2, 1), (1, 1, 0), 0.9, K=0.97, P=0.3))
    assert shape == "Klein bottle"
    assert text == ("Klein bottle: b = (1, 2, 1) over Z/2 and (1, 1, 0) over Z/3, confidence "
                    "0.90; 97% of the filters within 0.5 of the Klein-bottle model")
    assert shape_reading(_row((1, 2, 1), (1, 2, 1)))[1] == \
        "torus: b = (1, 2, 1) over Z/2 and Z/3, confidence 0.90"
    assert shape_reading(_row((1, 0, 0), (1, 0, 0)))[0] == NO_STRUCTURE
    assert shape_reading(_row((1, 0, 1), (1, 0, 1)))[0] == "sphere"
    assert shape_reading(_row((1, 5, 0), (1, 5, 0), K=0.9, P=0.4))[0] == "three circles"
    assert shape_reading(_row((1, 3, 0), (1, 3, 0)))[0] == "two circles meeting in two points"
    # a circle is the primary circle when the Klein readings place it there
    assert shape_reading(_row((1, 1, 0), (1, 1, 0), P=0.8))[0] == "primary circle"
    assert shape_reading(_row((1, 1, 0), (1, 1, 0), P=0.1))[0] == "circle"
    assert shape_reading(_row((1, 1, 0), (1, 1, 0)))[0] == "circle"
    assert shape_reading({"significant": [1, 1]})[0] is None  # no second field: no shape


def test_reading_says_where_homology_and_model_disagree():
    _, text = shape_reading(_row((1, 2, 1), (1, 1, 0), K=0.12, P=0.05))
    assert text.endswith("12% of the filters within 0.5 of the Klein-bottle model (under half: "
                         "the homology is the model's, the filters are not on it)")
    shape, text = shape_reading(_row((1, 2, 0), (1, 2, 0), K=0.95, P=0.2))
    assert shape == NO_MODEL
    assert "yet 95% of the filters lie within 0.5 of the Klein-bottle model: the model's " \
           "filters without its homology" in text
    # the primary circle lies on the Klein bottle: no disagreement
    assert "yet" not in shape_reading(_row((1, 1, 0), (1, 1, 0), K=1.0, P=0.9))[1]
    _, text = shape_reading(_row((1, 2, 0), (1, 1, 0)))
    assert text.endswith("the fields disagree: the integer homology has 2-torsion")


def test_too_few_points_for_h2_is_said_not_guessed():
    shape, text = shape_reading(_row((1, 1, 0), (1, 1, 0), und2=(False, False, True),
                                     und3=(False, False, True)))
    assert shape == TOO_FEW
    assert text == f"{TOO_FEW}: b = (1, 1, ?) over Z/2 and Z/3, confidence 0.90"
    # 60 filters: 15 landmarks, too few for a surface
    row = describe_cloud(sample_shape("sphere", 60, noise=0.02), n_resamples=4)
    assert row["n_landmarks"] == 15 and row["undecided"][2] and row["undecided_z3"][2]
    assert row["shape"] == TOO_FEW


# ----------------------------------------------------------------- the test over two fields

def test_first_field_is_the_one_field_test_exactly(shared_nulls):
    x = sample_shape("Klein bottle", 800, noise=0.02, seed=3)
    one = significant_bars(x, 40, n_resamples=6, seed=2)
    two = significant_bars_fields(x, 40, n_resamples=6, seed=2)
    z2 = two.bars[2]
    assert z2.counts[:2] == one.counts and z2.confidence[:2] == one.confidence
    assert z2.distribution[:2] == one.distribution and z2.thresholds[:2] == one.thresholds
    assert z2.gap_thresholds[:2] == one.gap_thresholds and z2.longest[:2] == one.longest
    assert len(z2.counts) == 3 and len(two.bars[3].counts) == 3 and two.h2_landmarks == 40
    # H0 does not see the field
    assert two.bars[3].counts[0] == z2.counts[0]
    assert 0 < two.confidence <= min(min(b.confidence) for b in two.bars.values())
    assert sum(share for _, share in two.joint) == pytest.approx(1.0)


def test_bad_input_to_the_two_field_test():
    x = sample_shape("circle", 200)
    with pytest.raises(InputError, match="'fields' parameter of significant_bars_fields must "
                                         "be a prime int; got 4"):
        significant_bars_fields(x, 20, fields=(2, 4))
    with pytest.raises(InputError, match="distinct primes"):
        significant_bars_fields(x, 20, fields=(3, 3))
    with pytest.raises(InputError, match=r"'maxdim' parameter of significant_bars_fields must "
                                         r"be an int in \[0, 2\]; got 3"):
        significant_bars_fields(x, 20, maxdim=3)
    with pytest.raises(InputError, match="'coeff' parameter of significant_bars must be a prime"):
        significant_bars(x, 20, coeff=6)
    with pytest.raises(InputError, match=r"'maxdim' parameter of significant_bars must be an "
                                         r"int in \[0, 2\]; got 3"):
        significant_bars(x, 20, maxdim=3)
    with pytest.raises(InputError, match="'fields' parameter of shape_of"):
        shape_of(significant_bars(x, 20, n_resamples=2))
    with pytest.raises(InputError, match="'name' parameter of sample_shape"):
        sample_shape("pretzel", 10)


def test_samples_are_normalised_filters_on_their_model():
    from cnntopo.topology.klein import klein_coordinates

    for name in SAMPLES:
        x = sample_shape(name, 300, seed=1)
        assert x.shape == (300, 9)
        assert np.allclose(x.mean(axis=1), 0) and np.allclose(np.linalg.norm(x, axis=1), 1)
    for name in ("circle", "three circles", "Klein bottle"):
        assert klein_coordinates(sample_shape(name, 300))[2].max() < 1e-2
        assert klein_coordinates(sample_shape(name, 300, space="plain"))[2].min() > 0.05
    torus = sample_shape("torus", 300)
    # isometric: the flat torus's distances are sqrt(2 - cos da - cos db) / ... on R^4
    assert np.sort(np.linalg.norm(torus[:, None] - torus[None], axis=2).ravel())[-1] <= 2 + 1e-9
    assert np.array_equal(sample_shape("torus", 50, seed=4), sample_shape("torus", 50, seed=4))


# ----------------------------------------------------------------- known shapes

@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLES)
def test_each_model_reads_its_own_name_in_patch_space(name, shared_nulls):
    row = describe_cloud(sample_shape(name, 2000, noise=0.02, seed=1), n_landmarks=100,
                         n_resamples=10)
    want = {"point": NO_STRUCTURE, "circle": "primary circle"}.get(name, name)
    assert row["shape"] == want, row["shape_reading"]
    assert row["shape_confidence"] >= 0.5
    if name == "point":  # a null cloud: no significant structure
        assert row["reading"] == NO_STRUCTURE


@pytest.mark.slow
@pytest.mark.parametrize("name", ["circle", "two circles meeting in two points",
                                  "three circles", "Klein bottle"])
def test_each_model_reads_its_own_name_in_plain_r9(name, shared_nulls):
    row = describe_cloud(sample_shape(name, 2000, noise=0.02, space="plain", seed=1),
                         n_landmarks=100, n_resamples=10)
    assert row["shape"] == name, row["shape_reading"]
    assert row["klein_fraction"] < 0.5  # off the patch coordinates: the model's filters are not
    if name == "Klein bottle":
        assert "the homology is the model's, the filters are not on it" in row["shape_reading"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLES)
def test_each_model_reads_its_own_name_through_outliers_and_rho(name, shared_nulls):
    # a third of the points uniform noise; rho(10, 0.65) keeps the 1,300 densest of 2,000 (the
    # noise is sparser than every model). A p well under the models' share (0.3 or 0.5) cuts
    # holes into a uniformly sampled surface: extra loops, measured on the torus and the sphere.
    x = sample_shape(name, 2000, noise=0.02, outliers=1 / 3, seed=1)
    row = describe_cloud(x, k=10, p=0.65, n_landmarks=100, n_resamples=10)
    want = {"point": NO_STRUCTURE, "circle": "primary circle"}.get(name, name)
    assert row["n_kept"] == 1300 and row["shape"] == want, row["shape_reading"]
    # the Klein bottle holds both vectors in 3-5 of the 10 resamples (666 or 667 outliers)
    assert row["shape_confidence"] >= (0.3 if name == "Klein bottle" else 0.5)


def test_clusters_keep_the_model_of_their_loops():
    shape, text = shape_reading(_row((2, 5, 0), (2, 5, 0), 0.6, K=0.9, P=0.4))
    assert shape == "three circles" and text.startswith("three circles, in 2 clusters: b = "
                                                         "(2, 5, 0) over Z/2 and Z/3")
    assert shape_reading(_row((3, 0, 0), (3, 0, 0)))[0] == "clusters"


def _optical(k):
    from scipy.io import loadmat

    path = shared_file("data", "javaplex-optical-patches", f"pointsOpticalDct_k{k}.mat")
    return loadmat(path)[f"pointsOpticalDct_k{k}"]


@pytest.mark.slow
@pytest.mark.parametrize("k, shape", [(300, "primary circle"), (15, "three circles")])
def test_optical_patches_keep_their_readings(k, shape):
    # 15,000 unit vectors of R^8 (DCT coordinates, isometric to patch space through the
    # Euclidean DCT basis): the core X(k, 30%) of 50,000 patches
    from cnntopo.topology.klein import dct_basis
    from cnntopo.verdict.analysis import klein_numbers

    x = _optical(k)
    fields = significant_bars_fields(x, 100, density=(k, 0.3), n_input=50_000, n_resamples=10)
    cols = shape_of(fields, klein_numbers(x @ dct_basis(normalisation="euclidean")))
    assert cols["shape"] == shape, cols["shape_reading"]
    assert cols["significant"][1:] == cols["significant_z3"][1:] == [1 if k == 300 else 5, 0]
    assert cols["shape_confidence"] >= 0.5


def test_engines_agree(shared_nulls):
    # giotto-ph (optional, the bench extra) and ripser.py give the same diagrams: the same test
    pytest.importorskip("gph")
    x = sample_shape("torus", 600, noise=0.02, seed=5)
    a = significant_bars_fields(x, 30, n_resamples=4, n_null=19, alpha=0.05, engine="ripser",
                                cache_dir=None)
    NULL_CACHE.clear()  # the nulls computed again, by the other engine
    b = significant_bars_fields(x, 30, n_resamples=4, n_null=19, alpha=0.05,
                                engine="giotto-ph", cache_dir=None)
    for c in (2, 3):
        assert a.bars[c].counts == b.bars[c].counts
        assert a.bars[c].distribution == b.bars[c].distribution
        np.testing.assert_allclose(a.bars[c].thresholds, b.bars[c].thresholds, rtol=1e-6)
        np.testing.assert_allclose(a.bars[c].longest, b.bars[c].longest, rtol=1e-6)
    with pytest.raises(InputError, match="'engine' parameter of significant_bars_fields"):
        significant_bars_fields(x, 30, engine="gudhi")


def test_too_few_points_for_h1_is_the_verdicts_words():
    from cnntopo.topology.shape import TOO_FEW_TO_TELL

    shape, text = shape_reading(_row((1, 0, 0), (1, 0, 0), und2=(False, True, True),
                                     und3=(False, True, True)))
    assert shape == TOO_FEW_TO_TELL == "too few points to tell"
    assert text == "too few points to tell: b = (1, ?, ?) over Z/2 and Z/3, confidence 0.90"


def test_the_table_shows_the_second_field_and_the_shape_and_old_rows_stay_as_they_were():
    from cnntopo.verdict.table import format_table

    row = {"layer": 1, "n_filters": 100, "n_kept": 90, "significant": [1, 2, 1],
           "significant_confidence": [1.0, 0.9, 0.8], "undecided": [False] * 3,
           "significant_z3": [1, 1, 0], "significant_z3_confidence": [1.0, 0.9, 0.7],
           "undecided_z3": [False] * 3, "shape": "Klein bottle", "shape_confidence": 0.7,
           "reading": "two circles"}
    head, line = format_table([row]).splitlines()
    assert "Z/3 b0 (conf)" in head and "shape (conf)" in head
    assert "1 (1.00)  2 (0.90)  1 (0.80)" in line and "1 (1.00)  1 (0.90)  0 (0.70)" in line
    assert "Klein bottle (0.70)" in line and line.endswith("two circles")
    old = {k: v for k, v in row.items() if "z3" not in k and "shape" not in k}
    old.update(significant=[1, 2], significant_confidence=[1.0, 0.9], undecided=[False] * 2)
    head, line = format_table([old]).splitlines()
    assert "Z/3" not in head and "shape" not in head and "b2" not in head
