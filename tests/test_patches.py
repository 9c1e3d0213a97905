import numpy as np
import pytest

from cnntopo.sources.patches import d_norm, grid_laplacian, natural_patches


def test_grid_laplacian_is_twelve_pair_sum():
    lap = grid_laplacian(3)
    assert np.trace(lap) == 2 * 12
    np.testing.assert_array_equal(lap.sum(axis=1), 0)
    x = np.random.default_rng(0).standard_normal(9)
    g = x.reshape(3, 3)
    brute = ((g[:, 1:] - g[:, :-1]) ** 2).sum() + ((g[1:] - g[:-1]) ** 2).sum()
    np.testing.assert_allclose(x @ lap @ x, brute, rtol=1e-13)
    np.testing.assert_array_equal(np.diag(lap).reshape(3, 3), [[2, 3, 2], [3, 4, 3], [2, 3, 2]])


def test_d_norm_known_values():
    np.testing.assert_allclose(d_norm([[1, 0, -1] * 3, [5.0] * 9]), [np.sqrt(6), 0])
    with pytest.raises(ValueError, match=r"shape \(n, 9\)"):
        d_norm(np.ones((2, 4)))


def test_natural_patches_shape_determinism_and_contrast():
    a = natural_patches(2000, seed=1)
    assert a.shape == (2000, 9) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, natural_patches(2000, seed=1))
    assert not np.array_equal(a, natural_patches(2000, seed=2))
    # log1p of 8-bit intensities
    assert a.min() >= 0 and a.max() <= np.log1p(255) + 1e-12


def test_natural_patches_keeps_top_contrast_per_image():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (40, 40))
    img[:, :20] = 100.0                       # flat half: zero contrast there
    full = natural_patches(100, top_contrast=1.0, images=[img], seed=3)
    top = natural_patches(100, top_contrast=0.2, images=[img], seed=3)
    assert np.median(d_norm(top)) > np.median(d_norm(full))
    assert (d_norm(top) > 0).all()
    # a 500-patch sample of 38x38 = 1444 positions at top 20% keeps the 100 strongest
    positions = np.lib.stride_tricks.sliding_window_view(np.log1p(img), (3, 3)).reshape(-1, 9)
    threshold = np.sort(d_norm(positions))[::-1][499]
    assert d_norm(top).min() >= threshold - 1e-12


def test_natural_patches_grey_weights_on_colour():
    rgb = np.zeros((5, 5, 3))
    rgb[..., 0] = np.arange(5)[None, :] * 10
    grey = rgb @ [0.2989, 0.5870, 0.1140]
    a = natural_patches(9, top_contrast=1.0, images=[rgb], seed=0)
    b = natural_patches(9, top_contrast=1.0, images=[grey], seed=0)
    np.testing.assert_allclose(a, b)


def test_natural_patches_bad_input():
    with pytest.raises(ValueError, match=r"'n_patches' parameter .* int >= 1; got 0"):
        natural_patches(0)
    with pytest.raises(ValueError, match=r"'top_contrast' .* \(0, 1\]; got 1.5"):
        natural_patches(10, top_contrast=1.5)
    with pytest.raises(ValueError, match=r"ask for fewer patches"):
        natural_patches(100, images=[np.ones((5, 5))])
    with pytest.raises(ValueError, match=r"Unknown skimage.data image 'nope'"):
        natural_patches(10, images=["nope"])
