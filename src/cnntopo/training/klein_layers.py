"""Conv layers made of Klein-bottle filters (Gabrielsson & Carlsson 2019; Love et al. 2023).

A researcher who wants to try these layers on their own model needs three things, here as
plain PyTorch:

- :class:`KleinConv2d`: an ``nn.Conv2d`` whose filters are points of the Klein bottle (or,
  for comparison, of its primary circle, Gabor filters or random filters at the same norm),
  frozen by default. **Frozen means the filters are a buffer, not a parameter**: they are
  not in ``parameters()``, get no gradient, no optimiser sees them, and they move with
  ``.to()`` and save in ``state_dict()`` under ``weight`` as an ``nn.Conv2d``'s do. (The
  published notebooks set ``module.requires_grad = False``, which only sets a Python
  attribute on the module: the weights stay trainable; tests/test_klein_layers.py shows it.)
  The bias stays a trainable parameter (a learned threshold per channel); ``bias=False``
  gives a layer with nothing to learn.
- :func:`klein_init_`: Klein filters as the initialisation of any ``nn.Conv2d``, trainable.
- :func:`klein_connect_`: the "Klein one layer" connectivity of the next conv layer, as a
  PyTorch pruning mask (``weight = weight_orig * weight_mask``, masked weights get zero
  gradient).

The scale of the filters
------------------------
Every output channel's kernel (all its input channels together) is mean-centred per spatial
filter and scaled to Euclidean norm ``sqrt(1/3)``: the norm that PyTorch's default
initialisation of an ``nn.Conv2d`` gives a kernel in expectation, whatever its fan-in
(``kaiming_uniform_(a=sqrt(5))`` draws U(-b, b), b = 1/sqrt(fan_in), so
E||w||^2 = fan_in * b^2 / 3 = 1/3). A Klein layer put where a default conv layer was thus
feeds the next layer activations of the same size, and a comparison against the default
layer (or against random filters at the same norm) is about the filters' shape alone.
``klein_init_(conv)`` keeps the norm the layer already had (the root mean square of its
kernels' norms), so a model's own initialisation scale is kept. Filters are mean-centred
because the Klein-bottle model is a model of mean-centred patches (Carlsson et al. 2008):
a centred layer responds to contrast, not to brightness, and its filters are points of the
model that :func:`cnntopo.topology.klein.klein_readings` measures.

Channels and the grid
---------------------
Output channel ``o`` is point ``o`` of an ``n1 x n2`` grid of the Klein bottle
(:func:`cnntopo.topology.klein_filters.klein_filter_angles`: t1 = pi i / n1 directions,
t2 = 2 pi j / n2 profiles), ``n1 * n2 = out_channels``; by default the factorisation closest
to ``n2 = 2 n1`` (equal steps in t1 and t2), ties to more directions: 16 channels are 4 x 4
(tied with 2 x 8), 32 are 4 x 8, 64 are 8 x 8 (tied with 4 x 16). With several input channels every input channel gets the same spatial filter,
divided by sqrt(in_channels): the filter of the channels' sum (a grey edge on colour input).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from ..topology.klein_filters import (
    circle_filters,
    gabor_filters,
    klein_connectivity,
    klein_filters,
)
from ..validation import InputError, check_int

__all__ = [
    "DEFAULT_NORM",
    "FAMILIES",
    "KleinConv2d",
    "filter_bank",
    "grid_shape",
    "klein_connect_",
    "klein_init_",
    "klein_weight",
    "random_connectivity",
]

FAMILIES = ("klein", "circle", "gabor", "random")
DEFAULT_NORM = math.sqrt(1.0 / 3.0)  # E||w|| of PyTorch's default Conv2d init, any fan-in


def grid_shape(n):
    """(n1, n2) with n1 * n2 = n, closest to n2 = 2 n1 (equal angular steps), ties to larger n1."""
    n = check_int(n, "n", "grid_shape", 1)
    pairs = [(a, n // a) for a in range(1, n + 1) if n % a == 0]
    return min(pairs, key=lambda p: (abs(math.log(p[1] / (2 * p[0]))), -p[0]))


def _check_family(family, fn):
    if family not in FAMILIES:
        raise InputError(f"The 'family' parameter of {fn} must be one of {FAMILIES}; "
                         f"got {family!r}.")


def _check_grid(grid, n, fn):
    if grid is None:
        return grid_shape(n)
    if (not isinstance(grid, (tuple, list)) or len(grid) != 2
            or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) and g >= 1
                       for g in grid) or grid[0] * grid[1] != n):
        raise InputError(f"The 'grid' parameter of {fn} must be two ints (n1, n2) with "
                         f"n1 * n2 = {n} channels; got {grid!r}.")
    return int(grid[0]), int(grid[1])


def filter_bank(family, n, kernel_size=3, *, grid=None, seed=None):
    """n spatial filters of one family, mean-centred and of unit Euclidean norm.

    Parameters
    ----------
    family : {"klein", "circle", "gabor", "random"}
        Klein-bottle filters on the `grid` (:func:`~cnntopo.topology.klein_filters.klein_filters`),
        n edges around the primary circle (``circle_filters(n)``), the Gabor twins of the
        Klein grid (``gabor_filters``), or Gaussian random filters.
    n : int
        Number of filters.
    kernel_size : int, default 3
    grid : (int, int), optional
        (n1, n2) for "klein" and "gabor", n1 * n2 = n; default :func:`grid_shape` (n).
    seed : int, optional
        For "random" (required there).

    Returns
    -------
    ndarray of float64, shape (n, k, k)
    """
    fn = "filter_bank"
    _check_family(family, fn)
    n = check_int(n, "n", fn, 1)
    k = check_int(kernel_size, "kernel_size", fn, 2)
    if family in ("klein", "gabor"):
        n1, n2 = _check_grid(grid, n, fn)
        f = klein_filters(n1, n2, k) if family == "klein" else gabor_filters(n1, n2, k)
    elif family == "circle":
        f = circle_filters(n, k)
    else:
        if seed is None:
            raise InputError(f"The 'seed' parameter of {fn} is required for family 'random'.")
        f = np.random.default_rng(seed).standard_normal((n, k, k))
    f = f - f.mean(axis=(1, 2), keepdims=True)
    norms = np.sqrt((f ** 2).sum(axis=(1, 2), keepdims=True))
    if np.any(norms < 1e-12):
        raise InputError(f"{fn}: a {family} filter of size {k} is constant; use another "
                         f"kernel size or grid.")
    return f / norms


def klein_weight(out_channels, in_channels, kernel_size=3, *, family="klein", grid=None,
                 norm=DEFAULT_NORM, seed=None, dtype=torch.float32):
    """A conv weight (out, in, k, k) whose output channels are the filters of a `filter_bank`.

    Channel o is filter o of the bank, the same on every input channel; each output
    channel's whole kernel has Euclidean norm `norm` (module docstring).
    """
    fn = "klein_weight"
    out_channels = check_int(out_channels, "out_channels", fn, 1)
    in_channels = check_int(in_channels, "in_channels", fn, 1)
    if isinstance(norm, bool) or not isinstance(norm, (int, float)) or not norm > 0:
        raise InputError(f"The 'norm' parameter of {fn} must be a float > 0; got {norm!r}.")
    bank = filter_bank(family, out_channels, kernel_size, grid=grid, seed=seed)
    w = np.repeat(bank[:, None] * (norm / math.sqrt(in_channels)), in_channels, axis=1)
    return torch.as_tensor(w, dtype=dtype)


class KleinConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose filters are Klein-bottle filters (or a comparison family).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int, default 3
    frozen : bool, default True
        The filters as a buffer (no gradient, untouched by optimisers); False: a trainable
        parameter initialised with them (:func:`klein_init_`).
    family : {"klein", "circle", "gabor", "random"}, default "klein"
    grid : (int, int), optional
        (n1, n2), n1 * n2 = out_channels (module docstring); "klein" and "gabor".
    norm : float, default sqrt(1/3)
        Euclidean norm of each output channel's kernel.
    seed : int, optional
        For family "random"; also seeds the bias initialisation when given.
    **kwargs
        ``nn.Conv2d``'s (stride, padding, dilation, bias, padding_mode, device, dtype);
        padding defaults to ``kernel_size // 2`` ("same").

    Attributes
    ----------
    frozen : bool
    family, grid : str, (int, int) or None
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, *, frozen=True,
                 family="klein", grid=None, norm=DEFAULT_NORM, seed=None, **kwargs):
        k = check_int(kernel_size, "kernel_size", "KleinConv2d", 2)
        if kwargs.get("groups", 1) != 1:
            raise InputError("The 'groups' parameter of KleinConv2d must be 1; got "
                             f"{kwargs['groups']!r}.")
        kwargs.setdefault("padding", k // 2)
        super().__init__(in_channels, out_channels, k, **kwargs)
        self.family = family
        self.grid = (_check_grid(grid, out_channels, "KleinConv2d")
                     if family in ("klein", "gabor") else None)
        w = klein_weight(out_channels, in_channels, k, family=family, grid=self.grid,
                         norm=norm, seed=seed, dtype=self.weight.dtype).to(self.weight.device)
        if self.bias is not None and seed is not None:  # nn.Conv2d's own bias init, seeded
            bound = 1.0 / math.sqrt(in_channels * k * k)
            gen = torch.Generator().manual_seed(int(seed))
            with torch.no_grad():
                self.bias.copy_(torch.empty(out_channels).uniform_(-bound, bound, generator=gen))
        with torch.no_grad():
            self.weight.copy_(w)
        self.frozen = False
        if frozen:
            self.freeze()

    def freeze(self):
        """Make the filters a buffer: no gradient, not in ``parameters()``. Returns self."""
        if not self.frozen:
            w = self.weight.detach()
            del self.weight                      # the Parameter
            self.register_buffer("weight", w)    # same name: state dicts stay Conv2d's
            self.frozen = True
        return self

    def unfreeze(self):
        """Make the filters a trainable parameter again (add it to your optimiser). Returns self."""
        if self.frozen:
            w = self._buffers.pop("weight")
            self.weight = nn.Parameter(w.clone())
            self.frozen = False
        return self

    def extra_repr(self):
        return (f"{super().extra_repr()}, family={self.family!r}, grid={self.grid}, "
                f"frozen={self.frozen}")


def _kernel_norm_rms(weight):
    return float(weight.detach().flatten(1).norm(dim=1).square().mean().sqrt())


def klein_init_(conv, family="klein", *, grid=None, norm="match", seed=None):
    """Initialise an ``nn.Conv2d``'s weight with filters of a family, in place (trainable).

    Parameters
    ----------
    conv : torch.nn.Conv2d
        Square kernels, ``groups == 1``.
    family : {"klein", "circle", "gabor", "random"}, default "klein"
    grid : (int, int), optional
        (n1, n2), n1 * n2 = out_channels.
    norm : float or "match", default "match"
        Each output channel's kernel norm; "match": the root mean square of the layer's
        current kernel norms (its own initialisation's scale), "default": sqrt(1/3).
    seed : int, optional
        For family "random".

    Returns
    -------
    torch.nn.Conv2d
        `conv`, for chaining.
    """
    fn = "klein_init_"
    if not isinstance(conv, nn.Conv2d):
        raise InputError(f"The 'conv' parameter of {fn} must be a torch.nn.Conv2d; "
                         f"got {type(conv).__name__}.")
    kh, kw = conv.kernel_size
    if kh != kw or conv.groups != 1:
        raise InputError(f"The 'conv' parameter of {fn} must have square kernels and "
                         f"groups=1; got kernel {conv.kernel_size}, groups {conv.groups}.")
    if norm == "match":
        norm = _kernel_norm_rms(conv.weight)
    elif norm == "default":
        norm = DEFAULT_NORM
    w = klein_weight(conv.out_channels, conv.in_channels, kh, family=family, grid=grid,
                     norm=norm, seed=seed, dtype=conv.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(w.to(conv.weight.device))
    return conv


def random_connectivity(like, seed):
    """A random mask with the same number of inputs per output channel as `like` (bool (out, in))."""
    like = np.asarray(like, dtype=bool)
    rng = np.random.default_rng(seed)
    out = np.zeros_like(like)
    for j, count in enumerate(like.sum(axis=1)):
        out[j, rng.choice(like.shape[1], size=int(count), replace=False)] = True
    return out


def klein_connect_(conv, radius=math.pi / 2, *, grid=None, mask=None):
    """Restrict an ``nn.Conv2d`` to Klein connectivity between Klein-indexed channels, in place.

    Output channel j reads input channel i only when their points on the Klein-bottle grid
    are within `radius` (:func:`~cnntopo.topology.klein_filters.klein_connectivity`):
    Love et al.'s "Klein one layer", after a :class:`KleinConv2d` with the same grid. Done
    with ``torch.nn.utils.prune.custom_from_mask``: ``conv.weight`` becomes
    ``weight_orig * weight_mask``, and the masked weights get zero gradient.

    Parameters
    ----------
    conv : torch.nn.Conv2d
        ``in_channels == out_channels``, indexed by the same grid.
    radius : float, default pi / 2
        On the flat Klein bottle of side pi x 2 pi; on a 4 x 4 grid pi / 2 connects each
        channel to itself, its two neighbours in profile (t2 +- pi / 2) and its neighbours
        in direction up to pi / 2 (6 or 7 inputs of 16).
    grid : (int, int), optional
        Default :func:`grid_shape` (out_channels).
    mask : array_like of bool, shape (out, in), optional
        Use this mask instead (e.g. :func:`random_connectivity` of the Klein mask).

    Returns
    -------
    numpy.ndarray of bool, shape (out, in)
        The mask applied.
    """
    fn = "klein_connect_"
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
        raise InputError(f"The 'conv' parameter of {fn} must be a torch.nn.Conv2d with "
                         f"groups=1; got {conv!r}.")
    if mask is None:
        if conv.in_channels != conv.out_channels:
            raise InputError(f"The 'conv' parameter of {fn} must have as many input as output "
                             f"channels (both on one Klein grid); got {conv.in_channels} -> "
                             f"{conv.out_channels}.")
        n1, n2 = _check_grid(grid, conv.out_channels, fn)
        mask = klein_connectivity(n1, n2, radius)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (conv.out_channels, conv.in_channels):
        raise InputError(f"The 'mask' parameter of {fn} must have shape "
                         f"{(conv.out_channels, conv.in_channels)}; got {mask.shape}.")
    full = torch.as_tensor(mask, dtype=conv.weight.dtype, device=conv.weight.device)
    prune.custom_from_mask(conv, "weight", full[:, :, None, None].expand_as(conv.weight))
    return mask
