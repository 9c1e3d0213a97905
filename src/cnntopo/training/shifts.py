"""Distribution shifts of grey images in [0, 1]: class-correlated noise, polarity, blur.

``class_noise`` is our reading of the noise of Gabrielsson & Carlsson (2019) and Love et al.
(2023), whose generalisation experiments train on noisy MNIST and test on clean MNIST (and
the reverse) with tau = 0.2 and omega^2 = 0.04. Their exact recipe is not restated here (we
could not consult the text while writing this); what we implement, and what the results
mean by "class-correlated noise", is

    x' = clip(x + tau * P_y + omega * E, 0, 1),

P_y a fixed Gaussian pattern (N(0, 1) per pixel) for each class y, the same for the
training and the test images, and E fresh N(0, 1) noise per image. The pattern is a
shortcut: a network trained on noisy images can read the class from it and lose accuracy
on clean ones; a network trained on clean images meets it as structured noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import InputError, check_real

__all__ = ["NOISE_OMEGA2", "NOISE_TAU", "blur", "class_noise", "invert"]

NOISE_TAU = 0.2      # amplitude of the class pattern
NOISE_OMEGA2 = 0.04  # variance of the per-image noise


def _check_images(images, fn):
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 1:
        raise InputError(f"The 'images' parameter of {fn} must be a tensor (n, 1, H, W); "
                         f"got {getattr(images, 'shape', type(images).__name__)}.")


def class_noise(images, labels, *, tau=NOISE_TAU, omega2=NOISE_OMEGA2, pattern_seed=0,
                noise_seed=1, n_classes=10):
    """Images plus a fixed pattern per class and fresh noise per image, clipped to [0, 1].

    Parameters
    ----------
    images : torch.Tensor, float, shape (n, 1, H, W)
        In [0, 1].
    labels : torch.Tensor, int, shape (n,)
    tau : float, default 0.2
        Amplitude of the class pattern P_y (N(0, 1) per pixel, drawn from `pattern_seed`).
    omega2 : float, default 0.04
        Variance of the per-image noise (drawn from `noise_seed`).
    pattern_seed, noise_seed : int
        Keep `pattern_seed` for the training and the test images (the patterns are the
        shortcut), change `noise_seed` between them.

    Returns
    -------
    torch.Tensor, like `images`
    """
    fn = "class_noise"
    _check_images(images, fn)
    tau = check_real(tau, "tau", fn, -math.inf, math.inf)
    omega2 = check_real(omega2, "omega2", fn, -math.inf, math.inf)
    if omega2 < 0:
        raise InputError(f"The 'omega2' parameter of {fn} must be a variance >= 0; got {omega2!r}.")
    shape = images.shape[1:]
    patterns = torch.randn((n_classes, *shape), generator=torch.Generator().manual_seed(
        int(pattern_seed)))
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(int(noise_seed)))
    out = images + tau * patterns[labels.cpu()].to(images) + math.sqrt(omega2) * noise.to(images)
    return out.clamp_(0.0, 1.0)


def invert(images):
    """Polarity inversion 1 - x (white digits on black become black on white)."""
    _check_images(images, "invert")
    return 1.0 - images


def blur(images, sigma=1.0):
    """Gaussian blur of standard deviation `sigma` pixels (kernel radius ceil(2 sigma), zero padding)."""
    _check_images(images, "blur")
    sigma = check_real(sigma, "sigma", "blur", 0.0, math.inf)
    r = max(1, math.ceil(2 * sigma))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=images.dtype) ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(images.device)
    out = F.conv2d(images, g.view(1, 1, 1, -1), padding=(0, r))
    return F.conv2d(out, g.view(1, 1, -1, 1), padding=(r, 0))
