"""Small CNNs that differ only in their first layers, trained side by side as one ensemble.

Every member has the same architecture (one for all conditions, ReLU after both convs)::

    conv1 3x3, C1 maps ("same") -> 2x2 max-pool -> + bias -> ReLU        28 -> 14
    conv2 3x3, C2 maps, optionally masked -> 2x2 max-pool -> + bias -> ReLU  14 -> 7
    FC Z -> ReLU -> readout 10 (no dropout)

(max-pooling before the bias and ReLU is the same function as after: both commute with it.)
A `Member` says what differs: conv1 trainable from PyTorch's default initialisation,
trainable from a filter family (:func:`cnntopo.training.klein_layers.filter_bank`), or frozen
at one; conv2 unmasked, masked by Klein connectivity, or by a random mask with the same
number of inputs per channel; its learning rate; its loss (cross-entropy, or the published
MSE on the softmax).

All members of a `ConditionEnsemble` share one seed and so everything random: the batch
stream, and the initialisation of every layer a condition does not set (conv2, FC and
readout weights, all biases, the default conv1). Conditions are compared on common random
numbers; seeds differ in all of it. Other seeds are other ensembles.

Speed on a CPU (why it is written this way): a frozen filter family's conv1 output is
computed once per batch for every member that uses it, without autograd (its max-pooled
response does not depend on the bias, which is added after); conv1 runs as one matmul over
the shared im2col of the batch; conv2 as one grouped convolution; the dense layers as
batched matmuls. `MemberAdam` is Adam with a learning rate per member.

:meth:`ConditionEnsemble.network` returns member i as a plain PyTorch model built from
:class:`~cnntopo.training.klein_layers.KleinConv2d`, ``nn.Conv2d`` with
:func:`~cnntopo.training.klein_layers.klein_connect_` and ``nn.Linear``: what a user would
write, and the reference the tests compare the ensemble with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..topology.klein_filters import klein_connectivity
from ..validation import InputError
from .klein_layers import (
    FAMILIES,
    KleinConv2d,
    grid_shape,
    klein_connect_,
    klein_weight,
    random_connectivity,
)
from .nets import network_seed

__all__ = ["LOSSES", "MASKS", "BatchStream", "ConditionEnsemble", "Member", "MemberAdam",
           "SmallCNN", "accuracy", "train_members"]

LOSSES = ("ce", "mse")        # cross-entropy; MSE between softmax and one-hot (published)
MASKS = (None, "klein", "random")
IMAGE = 28                    # MNIST / Fashion-MNIST, 1 channel
CLASSES = 10
KLEIN_RADIUS = math.pi / 2    # conv2's Klein connectivity (klein_connect_)

# second key of network_seed: one stream per purpose
_INIT, _BATCH, _BANK, _MASK = 0, 1, 2, 3


@dataclass(frozen=True)
class Member:
    """What one member of a `ConditionEnsemble` is.

    Attributes
    ----------
    conv1 : {"default", "klein", "circle", "gabor", "random"}
        Filters of conv1: PyTorch's default initialisation, or a filter family
        (``filter_bank``) at the default conv norm sqrt(1/3).
    frozen : bool
        conv1's filters fixed (its bias still learns); not with "default".
    mask : {None, "klein", "random"}
        conv2's connectivity: full, Klein (``klein_connect_``), or random with the same
        inputs per channel as the Klein mask.
    lr : float
        Adam's learning rate.
    loss : {"ce", "mse"}
    """

    conv1: str = "default"
    frozen: bool = False
    mask: str | None = None
    lr: float = 1e-3
    loss: str = "ce"

    def __post_init__(self):
        if self.conv1 not in ("default",) + FAMILIES:
            raise InputError(f"The 'conv1' parameter of Member must be 'default' or one of "
                             f"{FAMILIES}; got {self.conv1!r}.")
        if self.frozen and self.conv1 == "default":
            raise InputError("The 'frozen' parameter of Member needs a filter family for "
                             "conv1; got frozen=True with conv1='default'.")
        if self.mask not in MASKS:
            raise InputError(f"The 'mask' parameter of Member must be one of {MASKS}; "
                             f"got {self.mask!r}.")
        if self.loss not in LOSSES:
            raise InputError(f"The 'loss' parameter of Member must be one of {LOSSES}; "
                             f"got {self.loss!r}.")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise InputError(f"The 'lr' parameter of Member must be a float > 0; got {self.lr!r}.")


def _uniform(shape, bound, gen):
    return torch.empty(shape).uniform_(-bound, bound, generator=gen)


class ConditionEnsemble(nn.Module):
    """G members (`Member`) of one architecture and one seed, as one module.

    Parameters
    ----------
    members : sequence of Member
    seed : int
    widths : (int, int, int), default (16, 16, 64)
        (C1, C2, Z). A Klein or random conv2 mask needs C2 == C1 (both on C1's grid).

    Notes
    -----
    ``forward(x)`` takes one batch (B, 1, 28, 28) for all members and returns logits
    (G, B, 10). Per-member tensors have the member axis first; ``w1`` holds the trainable
    conv1 filters only (rows ``trainable``), ``banks`` the frozen families'.
    """

    def __init__(self, members, seed, widths=(16, 16, 64)):
        super().__init__()
        members = tuple(members)
        if not members or not all(isinstance(m, Member) for m in members):
            raise InputError("The 'members' parameter of ConditionEnsemble must be a non-empty "
                             f"sequence of Member; got {members!r}.")
        c1, c2, z = (int(w) for w in widths)
        if any(m.mask for m in members) and c1 != c2:
            raise InputError(f"The 'widths' parameter of ConditionEnsemble must have C1 == C2 "
                             f"for a masked conv2; got {tuple(widths)}.")
        self.members, self.seed, self.widths = members, int(seed), (c1, c2, z)
        g = len(members)

        def gen(*keys):
            return torch.Generator().manual_seed(network_seed(self.seed, *keys))

        # PyTorch's default init (U(-b, b), b = 1/sqrt(fan_in), weights and biases), one draw
        # per layer for the seed, shared by every member
        feat = c2 * (IMAGE // 4) ** 2
        default_w1 = _uniform((c1, 9), 1 / 3, gen(_INIT, 1))
        shared = {
            "b1": _uniform((c1,), 1 / 3, gen(_INIT, 2)),
            "w2": _uniform((c2, c1, 3, 3), 1 / math.sqrt(9 * c1), gen(_INIT, 3)),
            "b2": _uniform((c2,), 1 / math.sqrt(9 * c1), gen(_INIT, 4)),
            "wf": _uniform((z, feat), 1 / math.sqrt(feat), gen(_INIT, 5)).t(),  # (F, Z)
            "bf": _uniform((z,), 1 / math.sqrt(feat), gen(_INIT, 6)),
            "wo": _uniform((CLASSES, z), 1 / math.sqrt(z), gen(_INIT, 7)).t(),  # (Z, 10)
            "bo": _uniform((CLASSES,), 1 / math.sqrt(z), gen(_INIT, 8)),
        }
        for name, t in shared.items():
            setattr(self, name, nn.Parameter(t.expand(g, *t.shape).clone()))

        def family(name):
            w = klein_weight(c1, 1, 3, family=name, seed=network_seed(self.seed, _BANK))
            return w.reshape(c1, 9)

        self.trainable = [i for i, m in enumerate(members) if not m.frozen]
        self.w1 = nn.Parameter(torch.stack(
            [default_w1 if members[i].conv1 == "default" else family(members[i].conv1)
             for i in self.trainable]) if self.trainable else torch.empty(0, c1, 9))
        self.bank_names = sorted({m.conv1 for m in members if m.frozen})
        self.register_buffer("banks", torch.stack([family(n) for n in self.bank_names])
                             if self.bank_names else torch.empty(0, c1, 9))
        nt = len(self.trainable)
        block = [self.trainable.index(i) if not m.frozen else nt + self.bank_names.index(m.conv1)
                 for i, m in enumerate(members)]
        self.register_buffer("channels", (torch.tensor(block)[:, None] * c1
                                          + torch.arange(c1)).flatten())
        klein = klein_connectivity(*grid_shape(c1), KLEIN_RADIUS) if c1 == c2 else None
        masks = {None: np.ones((c2, c1), bool), "klein": klein,
                 "random": (random_connectivity(klein, network_seed(self.seed, _MASK))
                            if klein is not None else None)}
        self.register_buffer("mask2", torch.stack(
            [torch.as_tensor(masks[m.mask], dtype=torch.float32) for m in members]))
        self.register_buffer("lr", torch.tensor([float(m.lr) for m in members]))
        self.register_buffer("mse", torch.tensor([m.loss == "mse" for m in members]))

    # ------------------------------------------------------------------------- forward

    def member_rows(self, name):
        """Member index of each row (dim 0) of parameter `name`."""
        return torch.tensor(self.trainable if name == "w1" else range(len(self.members)),
                            dtype=torch.long)

    def forward(self, x):
        """Logits (G, B, 10) of one batch x (B, 1, 28, 28) shared by all members."""
        b = x.shape[0]
        c1, c2, _ = self.widths
        g = len(self.members)
        cols = F.pad(x, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1).reshape(b * IMAGE ** 2, 9)

        def pooled(w):  # (b*784, 9) @ (9, n) -> max-pooled maps (b, n, 14, 14), channels-last
            y = (cols @ w.reshape(-1, 9).t()).view(b, IMAGE, IMAGE, -1).permute(0, 3, 1, 2)
            return F.max_pool2d(y, 2)

        parts = []
        if self.trainable:
            parts.append(pooled(self.w1))
        if self.bank_names:
            with torch.no_grad():  # frozen: no gradient through these maps, only to the bias
                parts.append(pooled(self.banks))
        h = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        h = h.index_select(1, self.channels)                         # (b, G*C1, 14, 14)
        h = F.relu(h + self.b1.reshape(1, -1, 1, 1))
        w2 = (self.w2 * self.mask2[..., None, None]).reshape(g * c2, c1, 3, 3)
        h = F.max_pool2d(F.conv2d(h, w2, padding=1, groups=g), 2)
        h = F.relu(h + self.b2.reshape(1, -1, 1, 1))                 # (b, G*C2, 7, 7)
        h = h.reshape(b, g, -1).transpose(0, 1)                      # (G, b, C2*49)
        h = F.relu(torch.baddbmm(self.bf.unsqueeze(1), h, self.wf))
        return torch.baddbmm(self.bo.unsqueeze(1), h, self.wo)

    def losses(self, logits, labels):
        """(G,) each member's loss on its batch: cross-entropy, or MSE(softmax, one-hot)."""
        g, b, k = logits.shape
        ce = F.cross_entropy(logits.reshape(g * b, k), labels.repeat(g),
                             reduction="none").view(g, b).mean(1)
        if not bool(self.mse.any()):
            return ce
        onehot = F.one_hot(labels, k).to(logits.dtype)
        mse = (logits.softmax(-1) - onehot).square().mean((1, 2))
        return torch.where(self.mse, mse, ce)

    # ---------------------------------------------------------------------- members

    def conv1_filters(self, i):
        """Member i's conv1 filters, (C1, 3, 3) float64 NumPy."""
        m = self.members[i]
        w = (self.banks[self.bank_names.index(m.conv1)] if m.frozen
             else self.w1[self.trainable.index(i)])
        return w.detach().double().reshape(-1, 3, 3).cpu().numpy()

    def network(self, i):
        """Member i as a plain PyTorch model (`SmallCNN`) holding a copy of its weights."""
        m, (c1, c2, z) = self.members[i], self.widths
        conv1 = (KleinConv2d(1, c1, 3, family=m.conv1, seed=network_seed(self.seed, _BANK))
                 if m.frozen else nn.Conv2d(1, c1, 3, padding=1))
        net = SmallCNN(conv1, c2, z)
        with torch.no_grad():
            if not m.frozen:
                net.conv1.weight.copy_(self.w1[self.trainable.index(i)].view(c1, 1, 3, 3))
            net.conv1.bias.copy_(self.b1[i])
            if m.mask:
                klein_connect_(net.conv2, KLEIN_RADIUS, mask=self.mask2[i].bool().cpu().numpy())
                net.conv2.weight_orig.copy_(self.w2[i])
            else:
                net.conv2.weight.copy_(self.w2[i])
            for layer, w, bias in ((net.conv2, None, self.b2), (net.fc, self.wf, self.bf),
                                   (net.out, self.wo, self.bo)):
                if w is not None:
                    layer.weight.copy_(w[i].t())
                layer.bias.copy_(bias[i])
        return net.to(self.b1.device)

    def subset(self, index, state=None):
        """A new ensemble of members `index` (list of int), from `state` (a ``state_dict``
        of this ensemble, e.g. a snapshot; default: the current weights)."""
        index = [int(i) for i in index]
        state = self.state_dict() if state is None else state
        new = ConditionEnsemble([self.members[i] for i in index], self.seed, self.widths)
        rows = {name: [self.trainable.index(i) for i in index if i in self.trainable]
                if name == "w1" else index for name in state}
        with torch.no_grad():
            for name, t in new.state_dict().items():
                if name not in ("banks", "channels"):
                    t.copy_(state[name][rows[name]])
        return new.to(self.b1.device)


class SmallCNN(nn.Module):
    """One member of `ConditionEnsemble` in plain PyTorch layers (input (B, 1, 28, 28))."""

    def __init__(self, conv1, c2=16, z=64):
        super().__init__()
        self.conv1 = conv1
        self.conv2 = nn.Conv2d(conv1.out_channels, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * (IMAGE // 4) ** 2, z)
        self.out = nn.Linear(z, CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.out(F.relu(self.fc(x.flatten(1))))


class MemberAdam:
    """Adam (torch.optim.Adam's update, no weight decay) with member i's rows at lr[i].

    Parameters
    ----------
    ensemble : ConditionEnsemble
    betas, eps : as torch.optim.Adam
    """

    def __init__(self, ensemble, betas=(0.9, 0.999), eps=1e-8):
        self.params = dict(ensemble.named_parameters())
        self.betas, self.eps, self.t = betas, eps, 0
        # each row's lr, at the parameter's full shape (the multi-tensor ops do not broadcast)
        self.lr = {k: ensemble.lr[ensemble.member_rows(k).to(ensemble.lr.device)]
                   .view(-1, *[1] * (p.ndim - 1)).expand_as(p).contiguous()
                   for k, p in self.params.items()}
        self.m = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in self.params.items()}

    def zero_grad(self):
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self):
        """p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps), torch.optim.Adam's update."""
        self.t += 1
        b1, b2 = self.betas
        keys = [k for k, p in self.params.items() if p.grad is not None and p.numel()]
        p, g = [self.params[k] for k in keys], [self.params[k].grad for k in keys]
        m, v, lr = ([d[k] for k in keys] for d in (self.m, self.v, self.lr))
        # multi-tensor kernels, as torch.optim.Adam(foreach=True): one launch per op for all
        torch._foreach_lerp_(m, g, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, g, g, 1 - b2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(1 - b2 ** self.t))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_div_(denom, lr)
        torch._foreach_addcdiv_(p, m, denom, -1.0 / (1 - b1 ** self.t))

    def subset(self, old, new, index):
        """The optimiser of `new` = ``old.subset(index)``, carrying this state (moments, step)."""
        opt = MemberAdam(new, self.betas, self.eps)
        opt.t = self.t
        for k in self.params:
            rows = ([old.trainable.index(i) for i in index if i in old.trainable]
                    if k == "w1" else list(index))
            opt.m[k].copy_(self.m[k][rows])
            opt.v[k].copy_(self.v[k][rows])
        return opt


class BatchStream:
    """Training rows of iteration t: positions [t B, (t + 1) B) of a seed's stream of epochs.

    Epoch e is a permutation of ``range(n_train)`` drawn from (seed, e) alone, so any
    iteration's batch is known without replaying the ones before.
    """

    def __init__(self, seed, n_train, batch):
        self.seed, self.n, self.b, self._perms = int(seed), int(n_train), int(batch), {}

    def _perm(self, epoch):
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(network_seed(self.seed, _BATCH, epoch))
            self._perms = {epoch: torch.randperm(self.n, generator=gen)}
        return self._perms[epoch]

    def __call__(self, t):
        start, stop = t * self.b, (t + 1) * self.b
        parts = []
        for epoch in range(start // self.n, (stop - 1) // self.n + 1):
            lo, hi = max(start, epoch * self.n), min(stop, (epoch + 1) * self.n)
            parts.append(self._perm(epoch)[lo - epoch * self.n:hi - epoch * self.n])
        return torch.cat(parts)


@torch.no_grad()
def accuracy(ensemble, images, labels, batch=100):
    """(G,) fraction of `images` (n, 1, 28, 28) each member classifies as `labels` (n,).

    `batch` images a pass: the conv1 maps of 100 images for 26 members are 80 MB already.
    """
    correct = torch.zeros(len(ensemble.members), dtype=torch.long, device=images.device)
    for s in range(0, len(labels), batch):
        logits = ensemble(images[s:s + batch])
        correct += (logits.argmax(-1) == labels[s:s + batch]).sum(1)
    return (correct.double() / len(labels)).cpu().numpy()


def train_members(ensemble, optimizer, images, labels, stream, *, start, stop, checkpoints=(),
                  callback=None, bar=None):
    """Train every member on the batches of `stream` from image `start` to `stop`.

    Parameters
    ----------
    ensemble : ConditionEnsemble
    optimizer : MemberAdam
    images, labels : torch.Tensor
        The training set (n, 1, 28, 28) and (n,), on the ensemble's device.
    stream : BatchStream
        Over ``range(n)``; its batch size B must divide `start` and `stop`.
    start, stop : int
        Training images seen before and after (multiples of B).
    checkpoints : collection of int
        After this many images, call ``callback(images)``.
    bar : tqdm, optional
        Advanced by one per iteration.
    """
    b = stream.b
    if start % b or stop % b:
        raise InputError(f"The 'start' and 'stop' parameters of train_members must be "
                         f"multiples of the batch size {b}; got {start} and {stop}.")
    checkpoints = set(checkpoints)
    for t in range(start // b, stop // b):
        idx = stream(t).to(images.device)
        optimizer.zero_grad()
        ensemble.losses(ensemble(images[idx]), labels[idx]).sum().backward()
        optimizer.step()
        if bar is not None:
            bar.update(1)
        if callback is not None and (t + 1) * b in checkpoints:
            callback((t + 1) * b)
