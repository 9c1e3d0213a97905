"""Klein-bottle conv layers: frozen really frozen, the scale, the connectivity mask, and the
vectorised ensemble of conditions against plain PyTorch networks trained by torch.optim.Adam."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnntopo.cloud.pointcloud import normalise
from cnntopo.topology.klein import klein_coordinates
from cnntopo.topology.klein_filters import klein_connectivity, klein_filters
from cnntopo.training.conditions import (
    BatchStream,
    ConditionEnsemble,
    Member,
    MemberAdam,
    SmallCNN,
    accuracy,
)
from cnntopo.training.klein_layers import (
    DEFAULT_NORM,
    KleinConv2d,
    filter_bank,
    grid_shape,
    klein_connect_,
    klein_init_,
    random_connectivity,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread (two spend their time waiting on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _steps(module, params, n=3, seed=0):
    """n Adam steps on a random batch; returns the module."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=1e-2)
    x = torch.rand(4, module.in_channels, 8, 8, generator=gen)
    for _ in range(n):
        opt.zero_grad()
        module(x).square().mean().backward()
        opt.step()
    return module


def test_frozen_klein_layer_gets_no_gradient_and_does_not_move():
    conv = KleinConv2d(1, 16, seed=0)
    w0 = conv.weight.clone()
    assert [n for n, _ in conv.named_parameters()] == ["bias"]
    assert not conv.weight.requires_grad
    b0 = conv.bias.detach().clone()
    # an optimiser over all the module's parameters does not reach the filters
    _steps(conv, conv.parameters())
    assert conv.weight.grad is None
    assert torch.equal(conv.weight, w0)
    assert not torch.equal(conv.bias, b0)            # the bias (threshold) learns
    # it saves and loads as an nn.Conv2d
    plain = nn.Conv2d(1, 16, 3, padding=1)
    plain.load_state_dict(conv.state_dict())
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(plain(x), conv(x))
    # unfreeze: a parameter again, and it trains
    conv.unfreeze()
    assert conv.weight.requires_grad and not conv.frozen
    _steps(conv, conv.parameters())
    assert not torch.equal(conv.weight, w0)
    assert torch.equal(conv.freeze().weight, conv.weight) and conv.frozen


def test_the_published_freeze_leaves_the_weights_trainable():
    # what the notebooks did: an attribute on the module, which PyTorch never reads
    conv = nn.Conv2d(1, 16, 3, padding=1)
    conv.requires_grad = False
    w0 = conv.weight.detach().clone()
    _steps(conv, conv.parameters())
    assert conv.weight.requires_grad and not torch.equal(conv.weight, w0)
    # what does freeze an nn.Conv2d: requires_grad_ (the method) on its parameters
    conv = nn.Conv2d(1, 16, 3, padding=1).requires_grad_(False)
    w0 = conv.weight.detach().clone()
    conv.bias.requires_grad_(True)
    _steps(conv, [conv.bias])
    assert torch.equal(conv.weight, w0)


def test_kernel_norm_is_that_of_pytorch_default_init():
    # the claim of the module docstring, checked on PyTorch itself: E||w||^2 = 1/3 per kernel
    torch.manual_seed(0)
    for cin in (1, 3, 64):
        w = nn.Conv2d(cin, 4096, 3).weight.detach()
        assert abs(w.flatten(1).norm(dim=1).square().mean().item() - 1 / 3) < 0.01
    conv = KleinConv2d(3, 32, family="gabor")
    norms = conv.weight.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((32,), DEFAULT_NORM))
    # each input channel carries the same mean-centred filter
    w = conv.weight.double()
    torch.testing.assert_close(w[:, 0], w[:, 2])
    assert w.sum((2, 3)).abs().max() < 1e-6


def test_klein_layer_filters_are_the_klein_filters_and_lie_on_the_model():
    conv = KleinConv2d(1, 32)                         # grid 4 x 8
    assert conv.grid == (4, 8) == grid_shape(32)
    ref = normalise(klein_filters(4, 8).reshape(-1, 9))[0]
    got = conv.weight.double().reshape(32, 9).numpy() / DEFAULT_NORM
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert klein_coordinates(ref)[2].max() < 0.01
    assert [grid_shape(n) for n in (16, 64, 8)] == [(4, 4), (8, 8), (2, 4)]


def test_klein_init_keeps_the_layer_scale_and_sets_the_shape():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 16, 3, padding=1)
    before = conv.weight.flatten(1).norm(dim=1).square().mean().sqrt()
    klein_init_(conv)
    norms = conv.weight.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, before.expand(16))
    assert conv.weight.requires_grad
    ref = torch.as_tensor(filter_bank("klein", 16).reshape(16, 9), dtype=torch.float32)
    torch.testing.assert_close(conv.weight.reshape(16, 9) / norms[:, None], ref)
    with pytest.raises(ValueError, match="'conv' parameter of klein_init_"):
        klein_init_(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="'grid' parameter"):
        KleinConv2d(1, 16, grid=(3, 5))


def test_klein_connect_masks_weights_and_their_gradients():
    conv = nn.Conv2d(16, 16, 3, padding=1)
    mask = klein_connect_(conv)
    np.testing.assert_array_equal(mask, klein_connectivity(4, 4, math.pi / 2))
    orig = conv.weight_orig.detach().clone()
    _steps(conv, conv.parameters())
    off = ~torch.as_tensor(mask)
    assert torch.all(conv.weight[off] == 0)
    assert torch.equal(conv.weight_orig[off], orig[off])       # zero gradient there
    assert not torch.equal(conv.weight_orig[~off], orig[~off])
    rand = random_connectivity(mask, seed=3)
    np.testing.assert_array_equal(rand.sum(1), mask.sum(1))
    assert not np.array_equal(rand, mask)
    np.testing.assert_array_equal(rand, random_connectivity(mask, seed=3))


# ------------------------------------------------------------------ the ensemble of conditions

MEMBERS = [Member("default", lr=1e-3), Member("klein", lr=3e-4), Member("klein", True),
           Member("klein", True, "klein"), Member("circle", True, lr=1e-4),
           Member("gabor", True), Member("random", True),
           Member("klein", True, "random", loss="mse", lr=1e-5),
           Member("default", loss="mse", lr=1e-5)]


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 28, 28, generator=gen), torch.randint(0, 10, (6,), generator=gen)


def test_each_member_is_a_plain_network_trained_by_torch_adam(batch):
    x, y = batch
    ens = ConditionEnsemble(MEMBERS, seed=3)
    nets = [ens.network(i) for i in range(len(MEMBERS))]
    assert isinstance(nets[0], SmallCNN) and isinstance(nets[2].conv1, KleinConv2d)
    logits = ens(x)
    for i, net in enumerate(nets):
        torch.testing.assert_close(net(x), logits[i], atol=1e-6, rtol=1e-5)
    frozen_before = ens.banks.clone()
    opt = MemberAdam(ens)
    for _ in range(3):
        opt.zero_grad()
        ens.losses(ens(x), y).sum().backward()
        opt.step()
    logits = ens(x)
    onehot = F.one_hot(y, 10).float()
    for i, (m, net) in enumerate(zip(MEMBERS, nets)):
        ref = torch.optim.Adam(net.parameters(), lr=m.lr)
        for _ in range(3):
            ref.zero_grad()
            out = net(x)
            loss = (F.cross_entropy(out, y) if m.loss == "ce"
                    else F.mse_loss(out.softmax(-1), onehot))
            loss.backward()
            ref.step()
        torch.testing.assert_close(net(x), logits[i], atol=2e-5, rtol=1e-4)
    assert torch.equal(ens.banks, frozen_before)
    # masked conv2 weights never move (and the mask is the Klein one / a random one)
    off = ens.mask2[3] == 0
    assert off.sum() == 256 - klein_connectivity(4, 4, math.pi / 2).sum()
    assert torch.equal(ens.mask2[7].sum(1), ens.mask2[3].sum(1))


def test_a_subset_continues_exactly_where_the_ensemble_was(batch):
    x, y = batch
    ens = ConditionEnsemble(MEMBERS, seed=5)
    opt = MemberAdam(ens)

    def step(e, o):
        o.zero_grad()
        e.losses(e(x), y).sum().backward()
        o.step()

    step(ens, opt)
    keep = [1, 3, 8]
    sub = ens.subset(keep)
    sub_opt = opt.subset(ens, sub, keep)
    torch.testing.assert_close(sub(x), ens(x)[keep], atol=0, rtol=0)
    step(ens, opt)
    step(sub, sub_opt)
    torch.testing.assert_close(sub(x), ens(x)[keep], atol=1e-6, rtol=1e-5)


def test_members_of_one_seed_share_everything_a_condition_does_not_set():
    ens = ConditionEnsemble([Member("default"), Member("default", lr=1e-4),
                             Member("klein", True)], seed=0)
    other = ConditionEnsemble([Member("default")], seed=1)
    assert torch.equal(ens.w2[0], ens.w2[2]) and torch.equal(ens.wf[1], ens.wf[2])
    assert torch.equal(ens.w1[0], ens.w1[1])
    assert not torch.equal(ens.w2[0], other.w2[0])
    # and a seed's ensemble is the same whoever else is in it
    alone = ConditionEnsemble([Member("klein", True)], seed=0)
    torch.testing.assert_close(alone(torch.ones(1, 1, 28, 28))[0], ens(torch.ones(1, 1, 28, 28))[2])


def test_batch_stream_is_a_permutation_per_epoch():
    stream = BatchStream(7, 10, 4)
    rows = torch.cat([stream(t) for t in range(5)])          # 20 rows: two epochs
    assert sorted(rows[:10].tolist()) == list(range(10)) == sorted(rows[10:].tolist())
    assert torch.equal(BatchStream(7, 10, 4)(2), stream(2))   # t = 2 spans the boundary
    assert not torch.equal(BatchStream(8, 10, 4)(0), stream(0))


def test_accuracy_counts_exactly():
    ens = ConditionEnsemble([Member("default"), Member("klein", True)], seed=0)
    x = torch.rand(7, 1, 28, 28)
    pred = ens(x).argmax(-1)
    acc = accuracy(ens, x, pred[0], batch=3)
    assert acc[0] == 1.0 and acc[1] == (pred[1] == pred[0]).float().mean().item()


def test_member_errors_are_named():
    with pytest.raises(ValueError, match="'frozen' parameter of Member"):
        Member("default", frozen=True)
    with pytest.raises(ValueError, match="'loss' parameter of Member"):
        Member(loss="hinge")
    with pytest.raises(ValueError, match="C1 == C2"):
        ConditionEnsemble([Member("klein", True, "klein")], seed=0, widths=(16, 8, 32))
