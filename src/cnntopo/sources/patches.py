"""High-contrast 3x3 patches of natural photographs (Lee, Mumford & Huang 2003;
Carlsson, Ishkhanov, de Silva & Zomorodian 2008).

The patches are the reference point cloud for what trained first-layer filters look like:
after mean-centring, normalising and density filtration rho(300, 0.3) they concentrate on
the primary circle of edges. The photographs are the ones shipped inside scikit-image, so
no download is needed.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..validation import InputError

__all__ = ["NATURAL_IMAGES", "grid_laplacian", "d_norm", "natural_patches"]

# Photographs of natural scenes in skimage.data (no text, no microscopy, no drawings).
NATURAL_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "grass", "brick",
                  "gravel")
# The paper's grey conversion (section 5.2); used for the colour photographs too.
# ITU-R BT.601 luma, as MATLAB's rgb2gray and the paper's CIFAR-10 grey (cnntopo.training.data)
GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def grid_laplacian(size=3):
    """Graph Laplacian D of the ``size x size`` pixel grid with four-neighbour edges.

    ``x @ D @ x`` is the sum of ``(x_i - x_j)**2`` over the 12 (for size 3) pairs of
    horizontally or vertically adjacent pixels, pixels in row-major order.

    Returns
    -------
    D : ndarray of float64, shape (size**2, size**2)
    """
    n = size * size
    lap = np.zeros((n, n))
    for r in range(size):
        for c in range(size):
            i = r * size + c
            for j in ([i + 1] if c + 1 < size else []) + ([i + size] if r + 1 < size else []):
                lap[i, i] += 1
                lap[j, j] += 1
                lap[i, j] -= 1
                lap[j, i] -= 1
    return lap


def d_norm(patches):
    """Contrast (D-norm) ``sqrt(x^T D x)`` of flattened 3x3 patches.

    Parameters
    ----------
    patches : array_like, shape (n, 9)

    Returns
    -------
    contrast : ndarray of float64, shape (n,)
    """
    x = np.asarray(patches, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 9:
        raise InputError(f"The 'patches' array must have shape (n, 9); got {x.shape}.")
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, grid_laplacian(3), x), 0.0))


def _log_grey(image):
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = img[..., :3] @ np.asarray(GREY_WEIGHTS)
    if img.ndim != 2 or min(img.shape) < 3:
        raise InputError(
            f"Each image must be a 2-D grey or (h, w, 3|4) colour array at least 3x3; "
            f"got shape {np.shape(image)}."
        )
    # Log intensity, as in both papers; +1 because 8-bit photographs contain zeros.
    return np.log1p(img)


def _load_images(images):
    import skimage.data

    out = []
    for item in images:
        if isinstance(item, str):
            if item not in NATURAL_IMAGES and not hasattr(skimage.data, item):
                raise InputError(f"Unknown skimage.data image {item!r} in 'images'.")
            item = getattr(skimage.data, item)()
        out.append(_log_grey(item))
    return out


def natural_patches(n_patches=50_000, *, top_contrast=0.2, seed=0, images=None):
    """Sample high-contrast 3x3 patches from natural photographs.

    From every image, ``ceil(n_patches / (top_contrast * n_images))`` patch positions are
    drawn without replacement from the log-intensity grey image, the fraction
    `top_contrast` with the largest D-norm contrast (see :func:`d_norm`) is kept per image,
    as in Carlsson et al. (2008), and `n_patches` of the pooled patches are drawn.

    Parameters
    ----------
    n_patches : int, default 50000
        Number of patches returned.
    top_contrast : float, default 0.2
        Fraction of highest-contrast patches kept, in (0, 1].
    seed : int, default 0
        Seed of the sampling.
    images : sequence of str or array_like, optional
        Names in ``skimage.data`` or image arrays (grey ``(h, w)`` or colour ``(h, w, 3)``
        in linear intensity). Default: :data:`NATURAL_IMAGES`.

    Returns
    -------
    patches : ndarray of float64, shape (n_patches, 9)
        Raw log-intensity patches, rows in row-major pixel order (not normalised: the
        pipeline's :func:`cnntopo.cloud.pointcloud.normalise` does that).
    """
    if isinstance(n_patches, (bool, np.bool_)) or not isinstance(n_patches, numbers.Integral) \
            or n_patches < 1:
        raise InputError(
            f"The 'n_patches' parameter of natural_patches must be an int >= 1; "
            f"got {n_patches!r}."
        )
    if not isinstance(top_contrast, numbers.Real) or not 0 < top_contrast <= 1:
        raise InputError(
            f"The 'top_contrast' parameter of natural_patches must be a float in (0, 1]; "
            f"got {top_contrast!r}."
        )
    grey = _load_images(NATURAL_IMAGES if images is None else images)
    if not grey:
        raise InputError("The 'images' parameter of natural_patches must name at least one image.")
    rng = np.random.default_rng(seed)
    per_image = int(np.ceil(n_patches / (top_contrast * len(grey))))
    pooled = []
    for img in grey:
        windows = np.lib.stride_tricks.sliding_window_view(img, (3, 3))
        n_positions = windows.shape[0] * windows.shape[1]
        if per_image > n_positions:
            raise InputError(
                f"n_patches={n_patches} needs {per_image} patch positions per image but an "
                f"image of shape {img.shape} has {n_positions}; ask for fewer patches."
            )
        pos = rng.choice(n_positions, size=per_image, replace=False)
        sample = windows.reshape(n_positions, 9)[pos]
        n_keep = max(1, int(np.floor(top_contrast * per_image + 0.5)))
        order = np.argsort(-d_norm(sample), kind="stable")[:n_keep]
        pooled.append(sample[order])
    pooled = np.concatenate(pooled)
    pick = np.sort(rng.choice(pooled.shape[0], size=n_patches, replace=False))
    return pooled[pick]
