"""The paper's CNNs M(X, Y, Z) and C(X, Y, Z), one at a time or as a vectorised ensemble.

Architectures (Tables 1 and 2 of the paper; "same" padding, stride 1 convolutions)::

    M(X, Y, Z)   conv 3x3 X, ReLU, 2x2 max-pool stride 2
                 conv 3x3 Y, ReLU, 2x2 max-pool stride 2
                 FC Z, ReLU, dropout 0.5, readout 10; softmax cross-entropy, Adam
    C(X, Y, Z)   conv 3x3 X, ReLU, 3x3 max-pool stride 2, LRN
                 conv 3x3 Y, ReLU, 2x2 max-pool stride 1, LRN
                 FC Z, ReLU, readout 10; softmax cross-entropy + L2 weight loss, SGD
    C*(X, Y, Z)  C without the max-pooling (paper Figure 11)

A width of 0 removes that block: M(64, 0, 64) has one conv block; its conv layer is
``conv1``. Conv layers are numbered from 1 in the order they are applied.

`Ensemble` holds N independent networks in one module, every parameter with a leading
network axis; its ``state_dict`` is a contract other modules read::

    conv1.weight (N, X, C, 3, 3)   conv1.bias (N, X)
    conv2.weight (N, Y, X, 3, 3)   conv2.bias (N, Y)
    fc.weight    (N, Z, F)         fc.bias    (N, Z)
    out.weight   (N, 10, Z)        out.bias   (N, 10)

so that ``ensemble.state_dict()[key][i]`` is ``Net.state_dict()[key]`` of network i.
Inside, activations are channels-last, (N, B, H, W, C): a first layer with few input
channels runs as im2col and one batched matmul (a 9-deep GEMM, which oneDNN's direct
convolution handles poorly), deeper ones as one grouped convolution (groups = N), and the
dense layers as batched matmuls (``conv_impl="auto"``; "im2col" or "grouped" force one
way for every conv layer, for GPUs where the other is faster). Max-pooling comes before
the bias and ReLU, which it commutes with (a per-channel shift and a monotone map), so
they touch 4x fewer values. Under bf16 autocast the activations stay bf16 (the bias is
cast to them) and LRN is computed in fp32. benchmarks/bench_ensemble.py measures this
against a loop over N `Net` modules.

Values the paper leaves open, and what is used here
---------------------------------------------------
The paper says it used TensorFlow; the C network is the TensorFlow CIFAR-10 tutorial
(``cifar10.py``: 3x3/2 max-pool, ``tf.nn.lrn(4, bias=1.0, alpha=0.001 / 9.0, beta=0.75)``,
L2 "weight loss", plain gradient descent) with 3x3 kernels, one FC layer and the pooling of
Table 2; M is the TensorFlow "Deep MNIST for experts" network (``mnist_deep.py``) with
widths X, Y, Z. Where the paper is silent we take the value of that tutorial.

==========================  ==============================  ====================================
quantity                    value                           why
==========================  ==============================  ====================================
M init, conv weights        truncated normal, std 0.1       mnist_deep.py. The paper reads these
                                                            weights: they must move far from a
                                                            small random start. He's std
                                                            sqrt(2/9) = 0.47 on conv1 keeps
                                                            the random start dominant after
                                                            1,000 Adam steps (8 x M(64,32,64):
                                                            3.5% of filters near the primary
                                                            circle, no long H1 bar; with 0.1:
                                                            22%, one long H1 bar)
M init, FC weight           truncated normal, std           He et al. (2015). mnist_deep.py's
                            sqrt(2 / F), F its inputs       0.1 puts M(64, 0, 64)'s FC (12,544
                                                            inputs) pre-activations at ~10x
                                                            unit scale: 95.3% mean test
                                                            accuracy after 1,000 iterations
M init, readout weight      truncated normal, std 0.1       mnist_deep.py
M init, all biases          0                               8 x M(64, 0, 64), 1,000 iterations:
                                                            97.7% mean test accuracy; 96.1%
                                                            with mnist_deep.py's 0.1
C init, conv weights        truncated normal, std 5e-2      cifar10.py conv1 / conv2
C init, conv biases         conv1 0.0, conv2 0.1            cifar10.py
C init, FC weight / bias    truncated normal std 0.04 / 0.1 cifar10.py local3 / local4
C init, readout             trunc. normal std 1/Z, bias 0   cifar10.py softmax_linear (1/192)
truncation                  redraw beyond 2 std             ``tf.truncated_normal``
LRN                         radius 4, bias 1, alpha         cifar10.py norm1 / norm2; torch's
                            0.001/9 per summed square,      ``local_response_norm(size=9,
                            beta 0.75                       alpha=0.001)`` is the same formula
pooling padding             TF "SAME" (extra row/column     TF ``max_pool(padding="SAME")``;
                            at the bottom/right)            24 -> 12 for 3x3/2 on CIFAR
LRN position                after the pooling               Table 2's order (the tutorial puts
                                                            norm2 before pool2)
dropout                     0.5, FC layer of M only         Table 1; Table 2 has none
M optimiser                 Adam, lr 1e-3, betas (0.9,      ``tf.train.AdamOptimizer``
                            0.999), eps 1e-8                defaults (mnist_deep.py uses 1e-4)
C optimiser                 SGD, lr 0.1, constant           cifar10.py INITIAL_LEARNING_RATE;
                                                            its first 10x decay comes after
                                                            350 epochs = 136,719 iterations,
                                                            beyond the paper's longest run
                                                            (100,000), so none is applied
C L2 weight loss            0.004 * sum(w**2) / 2 on the    cifar10.py wd=0.004 on local3 and
                            FC weight only                  local4 (``tf.nn.l2_loss``), 0 on
                                                            conv and readout
batch size                  128                             the paper (it once says 124)
flatten order               (channel, row, column)          PyTorch's; only the FC weight's
                                                            column order depends on it
==========================  ==============================  ====================================

The tutorial's moving average of the weights for evaluation is not used: the paper studies
the trained weights themselves.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..validation import InputError

__all__ = ["ARCHS", "CONV_IMPLS", "DROPOUT", "Ensemble", "Net", "network_seed"]

ARCHS = ("M", "C")
CONV_IMPLS = ("auto", "im2col", "grouped")  # how Ensemble runs its conv layers
KERNEL = 3
DROPOUT = 0.5            # probability of dropping a unit of M's FC layer
LRN_RADIUS = 4           # tf.nn.lrn depth_radius
LRN_BIAS = 1.0
LRN_ALPHA = 0.001 / 9.0  # TF's alpha multiplies the plain sum of squares over 2r+1 maps
LRN_BETA = 0.75

# (pool kernel, pool stride, LRN after it) of conv block 1 and 2
_BLOCKS = {"M": ((2, 2, False), (2, 2, False)), "C": ((3, 2, True), (2, 1, True))}
# init: (conv weight std, conv biases (block 1, block 2), fc std, fc bias, out bias);
# None: He, sqrt(2 / fan_in)
_INIT = {"M": (0.1, (0.0, 0.0), None, 0.0, 0.0), "C": (5e-2, (0.0, 0.1), 0.04, 0.1, 0.0)}


def network_seed(seed, *keys):
    """A 64-bit seed derived from ``(seed, *keys)`` alone (NumPy's SeedSequence hashing)."""
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)
    return int(state[0])


_INIT_STREAM = 0  # first key after the seed: separates init from batch order, dropout, ...


def _check_arch(arch, widths, no_pool, caller):
    if arch not in ARCHS:
        raise InputError(f"The 'arch' parameter of {caller} must be 'M' or 'C'; got {arch!r}.")
    if (not isinstance(widths, (tuple, list)) or len(widths) != 3
            or not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 0
                       for w in widths)):
        raise InputError(f"The 'widths' parameter of {caller} must be three integers >= 0 "
                         f"(X, Y, Z); got {widths!r}.")
    if no_pool and arch != "C":
        raise InputError(f"The 'no_pool' parameter of {caller} applies to arch 'C' only; "
                         f"got no_pool=True with arch {arch!r}.")
    return tuple(int(w) for w in widths)


def _layout(arch, widths, no_pool, in_channels, image_size):
    """Conv blocks (in, out, pool kernel, pool stride, lrn, block of the table), feature size."""
    blocks, c, size = [], in_channels, image_size
    for block, (width, (k, s, lrn)) in enumerate(zip(widths[:2], _BLOCKS[arch])):
        if width == 0:
            continue
        if no_pool:
            k = s = None
        else:
            size = math.ceil(size / s)  # TF "SAME" pooling
        blocks.append((c, width, k, s, lrn, block))
        c = width
    return blocks, c * size * size


def _pool_same(x, k, s):
    """Max-pool with TensorFlow's "SAME" padding: out = ceil(in / s), padding at the end."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=-math.inf)
    return F.max_pool2d(x, k, s)


def _lrn(x):
    """``tf.nn.lrn(x, 4, 1.0, 0.001 / 9, 0.75)`` over dim 1 of (B, C, H, W)."""
    return _lrn_last(x.movedim(1, -1)).movedim(-1, 1)


def _lrn_last(x):
    """``tf.nn.lrn(x, 4, 1.0, 0.001 / 9, 0.75)`` over the last dim (channels-last maps).

    The windowed sum of squares is one matmul with a banded 0/1 matrix (C x C): on
    channels-last maps that is a plain GEMM, where torch's ``local_response_norm`` pads and
    average-pools a 5-D view (3-4x slower forward + backward on a CPU at C's 12 x 12 maps).
    Computed in float32 whatever the dtype of `x` (bf16 would round 1 + alpha * sum to 1;
    autocast is off inside), returned in the dtype of `x`.
    """
    c = x.shape[-1]
    i = torch.arange(c, device=x.device)
    band = ((i[:, None] - i[None, :]).abs() <= LRN_RADIUS).float() * LRN_ALPHA
    with torch.autocast(x.device.type, enabled=False):
        x32 = x.float()
        bias = torch.full((), LRN_BIAS, device=x.device)
        t = torch.addmm(bias, (x32 * x32).reshape(-1, c), band).view(x32.shape)
        y = x32 * t.pow(-LRN_BETA)
    return y.to(x.dtype)


def _dropout(x, generator):
    if generator is None:
        return F.dropout(x, DROPOUT, training=True)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= DROPOUT
    return x * keep / (1.0 - DROPOUT)


def _init_network_(params, arch, blocks, generator):
    """Fill one network's tensors (name -> tensor, in layer order) from `generator`."""
    conv_std, conv_bias, fc_std, fc_bias, out_bias = _INIT[arch]
    with torch.no_grad():
        for name, t in params.items():
            layer, kind = name.split(".")
            if layer.startswith("conv"):
                std, bias = conv_std, conv_bias[blocks[int(layer[4:]) - 1][5]]
            elif layer == "fc":
                std, bias = fc_std, fc_bias
            else:  # readout: cifar10.py uses std 1/(inputs), mnist_deep.py 0.1
                std, bias = (1.0 / t.shape[-1] if arch == "C" else 0.1), out_bias
            if kind == "weight":
                if std is None:
                    std = math.sqrt(2.0 / t[0].numel())
                nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=generator)
            else:
                t.fill_(bias)


class Net(nn.Module):
    """One M or C network (plain PyTorch layers); the baseline of the vectorised `Ensemble`.

    Parameters
    ----------
    arch : {"M", "C"}
    widths : tuple of 3 ints
        (X, Y, Z): conv widths and FC width; 0 removes the block.
    in_channels, image_size, n_classes : int
        Input (C, image_size, image_size) and number of classes.
    no_pool : bool
        C without max-pooling (paper Figure 11).
    seed, index : int
        The weights are network `index` of ``Ensemble(..., seed=seed)``.

    Notes
    -----
    Input (B, C, H, W) -> logits (B, n_classes).
    """

    def __init__(self, arch, widths, *, in_channels=1, image_size=28, n_classes=10,
                 no_pool=False, seed=0, index=0):
        super().__init__()
        widths = _check_arch(arch, widths, no_pool, "Net")
        self.arch, self.widths, self.no_pool = arch, widths, bool(no_pool)
        self.blocks, features = _layout(arch, widths, no_pool, in_channels, image_size)
        for j, (cin, cout, *_) in enumerate(self.blocks, start=1):
            setattr(self, f"conv{j}", nn.Conv2d(cin, cout, KERNEL, padding=KERNEL // 2))
        if widths[2]:
            self.fc = nn.Linear(features, widths[2])
            features = widths[2]
        self.out = nn.Linear(features, n_classes)
        gen = torch.Generator().manual_seed(network_seed(seed, _INIT_STREAM, index))
        _init_network_(dict(self.named_parameters()), arch, self.blocks, gen)

    def forward(self, x, *, generator=None):
        """Logits (B, n_classes) of images `x` (B, C, H, W); `generator` drives dropout."""
        for j, (_, _, k, s, lrn, _) in enumerate(self.blocks, start=1):
            x = F.relu(getattr(self, f"conv{j}")(x))
            if k:
                x = _pool_same(x, k, s)
            if lrn:
                x = _lrn(x)
        x = x.flatten(1)
        if self.widths[2]:
            x = F.relu(self.fc(x))
            if self.arch == "M" and self.training:
                x = _dropout(x, generator)
        return self.out(x)


class _Stacked(nn.Module):
    """weight and bias of one layer of N networks, network axis first."""

    def __init__(self, n, weight_shape, bias_size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, *weight_shape))
        self.bias = nn.Parameter(torch.empty(n, bias_size))


class Ensemble(nn.Module):
    """N independent M or C networks as one vectorised module.

    Parameters
    ----------
    arch : {"M", "C"}
    widths : tuple of 3 ints
        (X, Y, Z); 0 removes the block.
    n_nets : int
        N, the number of networks.
    in_channels, image_size, n_classes : int
    no_pool : bool
        C without max-pooling.
    seed : int
        Network i is initialised from a generator seeded by (seed, i) alone: the same as
        ``Net(..., seed=seed, index=i)``, whatever N is.
    conv_impl : {"auto", "im2col", "grouped"}
        How the conv layers run (same result up to rounding): "auto" im2col + batched
        matmul when C * 9 <= 32 (the first layer), else one grouped convolution; the
        others force one way for every layer. An attribute: it may be changed later.

    Notes
    -----
    ``forward(x)`` takes (N, B, C, H, W), one batch per network, or (B, C, H, W), one batch
    shared by all (evaluation), and returns logits (N, B, n_classes).
    """

    def __init__(self, arch, widths, n_nets, *, in_channels=1, image_size=28, n_classes=10,
                 no_pool=False, seed=0, conv_impl="auto"):
        super().__init__()
        widths = _check_arch(arch, widths, no_pool, "Ensemble")
        if conv_impl not in CONV_IMPLS:
            raise InputError(f"The 'conv_impl' parameter of Ensemble must be one of "
                             f"{CONV_IMPLS}; got {conv_impl!r}.")
        self.conv_impl = conv_impl
        if isinstance(n_nets, bool) or not isinstance(n_nets, (int, np.integer)) or n_nets < 1:
            raise InputError(f"The 'n_nets' parameter of Ensemble must be an int >= 1; "
                             f"got {n_nets!r}.")
        self.arch, self.widths, self.no_pool, self.n_nets = arch, widths, bool(no_pool), int(n_nets)
        self.in_channels, self.image_size, self.n_classes = in_channels, image_size, n_classes
        self.seed = seed
        self.blocks, features = _layout(arch, widths, no_pool, in_channels, image_size)
        for j, (cin, cout, *_) in enumerate(self.blocks, start=1):
            setattr(self, f"conv{j}", _Stacked(n_nets, (cout, cin, KERNEL, KERNEL), cout))
        if widths[2]:
            self.fc = _Stacked(n_nets, (widths[2], features), widths[2])
            features = widths[2]
        self.out = _Stacked(n_nets, (n_classes, features), n_classes)
        named = dict(self.named_parameters())
        for i in range(self.n_nets):
            gen = torch.Generator().manual_seed(network_seed(seed, _INIT_STREAM, i))
            _init_network_({k: p.data[i] for k, p in named.items()}, arch, self.blocks, gen)

    def network(self, i):
        """Network `i` as a `Net` holding a copy of its weights (same training mode)."""
        net = Net(self.arch, self.widths, in_channels=self.in_channels,
                  image_size=self.image_size, n_classes=self.n_classes, no_pool=self.no_pool)
        net.load_state_dict({k: v[i] for k, v in self.state_dict().items()})
        return net.to(self.out.weight.device).train(self.training)

    def activation_bytes(self, batch):
        """Bytes of the largest activation of one network on `batch` images (float32)."""
        if not self.blocks:
            return 4 * batch * self.in_channels * self.image_size ** 2
        return 4 * batch * self.blocks[0][1] * self.image_size ** 2

    def forward(self, x, *, nets=None, keep=None, generator=None, weights=None):
        """Logits (n, B, n_classes) of `x` (n, B, C, H, W) or shared (B, C, H, W).

        Parameters
        ----------
        x : torch.Tensor
            One batch per network, or one batch for all (evaluation).
        nets : slice, optional
            Run only these networks (n of them); None: all N.
        keep : torch.Tensor of bool, shape (n, B, Z), optional
            Dropout keep-mask of M's FC layer (training mode); None: drawn from
            `generator` (None: PyTorch's global generator).
        weights : dict, optional
            ``state_dict`` key -> tensor (n, ...) used instead of this module's parameters
            of networks `nets`: e.g. leaf views, so that a pass over a few networks gets
            gradients of their size only.
        """
        nets = slice(None) if nets is None else nets
        n = len(range(self.n_nets)[nets])
        if x.ndim not in (4, 5) or (x.ndim == 5 and x.shape[0] != n):
            raise InputError(f"The input of Ensemble must have shape ({n}, B, C, H, W) or "
                             f"(B, C, H, W); got {tuple(x.shape)}.")
        if weights is None:
            weights = {k: v[nets] for k, v in self.named_parameters()}
        if x.ndim == 4:  # shared batch: a view, copied once by the first layer
            x = x.expand(n, *x.shape)
        b = x.shape[1]
        x = x.permute(0, 1, 3, 4, 2)  # (n, B, H, W, C)
        for j, (_, _, k, s, lrn, _) in enumerate(self.blocks, start=1):
            x = _conv_nhwc(x, weights[f"conv{j}.weight"], self.conv_impl)
            if k:
                x = _per_image(x, _pool_same, k, s)
            # the bias in the activations' dtype: under autocast they stay bf16
            x = F.relu(x + weights[f"conv{j}.bias"].to(x.dtype)[:, None, None, None])
            if lrn:  # across one network's maps only
                x = _lrn_last(x)
        x = x.permute(0, 1, 4, 2, 3).reshape(n, b, -1)  # (n, B, F), F in (c, h, w) order
        if self.widths[2]:
            x = F.relu(torch.baddbmm(weights["fc.bias"].unsqueeze(1), x,
                                     weights["fc.weight"].transpose(1, 2)))
            if self.arch == "M" and self.training:
                x = x * keep / (1.0 - DROPOUT) if keep is not None else _dropout(x, generator)
        return torch.baddbmm(weights["out.bias"].unsqueeze(1), x,
                             weights["out.weight"].transpose(1, 2))


_IM2COL_MAX_DEPTH = 32  # C * 3 * 3 up to which a convolution runs as im2col + matmul


def _conv_nhwc(x, weight, impl="auto"):
    """"Same" 3x3 convolution, no bias, of n networks: x (n, B, H, W, C) -> (n, B, H, W, O).

    `impl`: "im2col" (one batched matmul), "grouped" (one grouped convolution) or "auto"
    (im2col up to C * 9 = _IM2COL_MAX_DEPTH).
    """
    n, b, h, w, c = x.shape
    out = weight.shape[1]
    kind = x.device.type
    if torch.is_autocast_enabled(kind):  # copy (im2col, regrouping) in the autocast dtype
        x = x.to(torch.get_autocast_dtype(kind))
    if impl == "im2col" or (impl == "auto" and c * KERNEL ** 2 <= _IM2COL_MAX_DEPTH):
        p = KERNEL // 2
        cols = F.pad(x, (0, 0, p, p, p, p)).unfold(2, KERNEL, 1).unfold(3, KERNEL, 1)
        cols = cols.reshape(n, b * h * w, c * KERNEL ** 2)  # (C, ky, kx) as in the weight
        y = torch.bmm(cols, weight.reshape(n, out, -1).transpose(1, 2))
        return y.view(n, b, h, w, out)
    # one grouped convolution; channels-last, network i's maps side by side
    x = x.permute(1, 2, 3, 0, 4).reshape(b, h, w, n * c).permute(0, 3, 1, 2)
    y = F.conv2d(x, weight.flatten(0, 1).contiguous(memory_format=torch.channels_last),
                 padding=KERNEL // 2, groups=n)
    return y.permute(0, 2, 3, 1).reshape(b, h, w, n, out).permute(3, 0, 1, 2, 4)


def _per_image(x, f, *args):
    """``f`` of (images, C, H, W) applied to channels-last x (n, B, H, W, C)."""
    n, b, h, w, c = x.shape
    y = f(x.reshape(n * b, h, w, c).permute(0, 3, 1, 2), *args)
    return y.permute(0, 2, 3, 1).reshape(n, b, *y.shape[2:], c)
