"""The vectorised ensemble against single networks, TF-style pooling / LRN, init, shapes."""

import math

import pytest
import torch

from cnntopo.training.nets import Ensemble, Net, _lrn, _pool_same

CASES = [  # arch, widths, no_pool, in_channels, image_size
    ("M", (6, 5, 8), False, 1, 28),
    ("M", (6, 0, 8), False, 1, 28),
    ("C", (6, 5, 8), False, 1, 24),
    ("C", (6, 5, 8), False, 3, 24),
    ("C", (6, 0, 8), True, 3, 24),
    ("C", (6, 5, 0), False, 1, 24),
]


@pytest.mark.parametrize("arch, widths, no_pool, c, size", CASES)
def test_ensemble_network_i_equals_single_net(arch, widths, no_pool, c, size):
    ens = Ensemble(arch, widths, 3, in_channels=c, image_size=size, no_pool=no_pool, seed=7).eval()
    x = torch.randn(3, 5, c, size, size, generator=torch.Generator().manual_seed(0))
    logits = ens(x)
    assert logits.shape == (3, 5, 10)
    for i in range(3):
        # an independent copy: a fresh Net with network i's weights loaded by hand
        net = Net(arch, widths, in_channels=c, image_size=size, no_pool=no_pool).eval()
        net.load_state_dict({k: v[i].clone() for k, v in ens.state_dict().items()})
        torch.testing.assert_close(logits[i], net(x[i]), atol=1e-5, rtol=1e-5)
        # the same weights come from the seed alone
        twin = Net(arch, widths, in_channels=c, image_size=size, no_pool=no_pool, seed=7, index=i)
        for k, v in twin.state_dict().items():
            assert torch.equal(v, ens.state_dict()[k][i]), k
    # a batch shared by all networks (evaluation) = that batch given to each
    torch.testing.assert_close(ens(x[0]), ens(x[0].expand(3, *x[0].shape)), atol=1e-5, rtol=1e-5)


def test_state_dict_contract():
    ens = Ensemble("M", (64, 32, 64), 4)
    shapes = {k: tuple(v.shape) for k, v in ens.state_dict().items()}
    assert shapes == {"conv1.weight": (4, 64, 1, 3, 3), "conv1.bias": (4, 64),
                      "conv2.weight": (4, 32, 64, 3, 3), "conv2.bias": (4, 32),
                      "fc.weight": (4, 64, 32 * 7 * 7), "fc.bias": (4, 64),
                      "out.weight": (4, 10, 64), "out.bias": (4, 10)}


def test_width_zero_removes_the_block():
    one_conv = Ensemble("M", (4, 0, 8), 2).state_dict()
    assert list(one_conv) == ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias",
                              "out.weight", "out.bias"]
    assert one_conv["fc.weight"].shape == (2, 8, 4 * 14 * 14)
    no_fc = Ensemble("M", (4, 3, 0), 2).state_dict()
    assert "fc.weight" not in no_fc and no_fc["out.weight"].shape == (2, 10, 3 * 7 * 7)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("no_pool, features", [(False, 5 * 12 * 12), (True, 5 * 24 * 24)])
def test_c_on_cifar_crops(c, no_pool, features):
    # 24 -> 3x3/2 SAME -> 12 -> 2x2/1 SAME -> 12; without pooling 24 throughout
    ens = Ensemble("C", (6, 5, 8), 2, in_channels=c, image_size=24, no_pool=no_pool)
    assert ens.state_dict()["conv1.weight"].shape == (2, 6, c, 3, 3)
    assert ens.state_dict()["fc.weight"].shape == (2, 8, features)
    assert ens(torch.randn(2, 4, c, 24, 24)).shape == (2, 4, 10)


def test_init_depends_only_on_seed_and_index():
    small, big = Ensemble("M", (4, 3, 8), 2, seed=5), Ensemble("M", (4, 3, 8), 4, seed=5)
    other = Ensemble("M", (4, 3, 8), 2, seed=6)
    for k, v in small.state_dict().items():
        assert torch.equal(v, big.state_dict()[k][:2]), k
    w = big.conv1.weight
    assert all(not torch.equal(w[i], w[j]) for i in range(4) for j in range(i))
    assert not torch.equal(small.conv1.weight, other.conv1.weight)


def test_init_values():
    m = Ensemble("M", (32, 8, 32), 200).state_dict()
    # convs mnist_deep's 0.1, the FC He std sqrt(2 / fan_in), fan_in 8 * 7 * 7; the readout
    # 0.1; truncation at 2 std leaves 0.88 of the std
    for key, std in [("conv1.weight", 0.1), ("conv2.weight", 0.1),
                     ("fc.weight", math.sqrt(2 / 392)), ("out.weight", 0.1)]:
        assert m[key].std().item() == pytest.approx(0.88 * std, rel=0.03), key
        assert m[key].abs().max() <= 2 * std, key
    assert all(torch.all(m[k] == 0) for k in m if k.endswith("bias"))
    c = Ensemble("C", (16, 8, 32), 2, image_size=24).state_dict()
    assert c["conv1.weight"].abs().max() <= 0.1
    assert torch.all(c["conv1.bias"] == 0) and torch.all(c["conv2.bias"] == 0.1)
    assert c["out.weight"].abs().max() <= 2 / 32 and torch.all(c["out.bias"] == 0)


def test_lrn_is_tf_lrn():
    x = torch.rand(2, 13, 3, 3, generator=torch.Generator().manual_seed(1)) * 5
    r, bias, alpha, beta = 4, 1.0, 0.001 / 9.0, 0.75
    ref = torch.empty_like(x)
    for d in range(13):  # tf.nn.lrn, written out
        sqr_sum = (x[:, max(0, d - r):d + r + 1] ** 2).sum(1)
        ref[:, d] = x[:, d] / (bias + alpha * sqr_sum) ** beta
    torch.testing.assert_close(_lrn(x), ref, atol=1e-6, rtol=1e-6)


def test_pool_same_pads_like_tensorflow():
    x = torch.arange(25.0).view(1, 1, 5, 5)
    # 3x3/2 on 5: out 3, one pad row on each side
    assert torch.equal(_pool_same(x, 3, 2)[0, 0], x[0, 0][[1, 3, 4]][:, [1, 3, 4]])
    x4 = torch.arange(16.0).view(1, 1, 4, 4)
    # 3x3/2 on 4: out 2, the single pad row goes at the bottom (TF), windows rows 0-2, 2-4
    assert torch.equal(_pool_same(x4, 3, 2)[0, 0], x4[0, 0][[2, 3]][:, [2, 3]])
    # 2x2/1 on 4: out 4, padded at the bottom/right
    idx = [1, 2, 3, 3]
    assert torch.equal(_pool_same(x4, 2, 1)[0, 0], x4[0, 0][idx][:, idx])
    assert _pool_same(torch.zeros(1, 1, 24, 24), 3, 2).shape[-1] == math.ceil(24 / 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="'arch' parameter of Ensemble"):
        Ensemble("X", (4, 0, 8), 2)
    with pytest.raises(ValueError, match="'widths' parameter of Net"):
        Net("M", (4, -1, 8))
    with pytest.raises(ValueError, match="'n_nets' parameter of Ensemble"):
        Ensemble("M", (4, 0, 8), 0)
    with pytest.raises(ValueError, match="'no_pool' parameter"):
        Ensemble("M", (4, 0, 8), 1, no_pool=True)
    with pytest.raises(ValueError, match=r"shape \(2, B, C, H, W\)"):
        Ensemble("M", (4, 0, 8), 2)(torch.zeros(3, 1, 1, 28, 28))


@pytest.mark.parametrize("arch, widths, c, size", [("M", (6, 5, 8), 1, 28), ("C", (6, 5, 8), 3, 24)])
def test_conv_implementations_agree(arch, widths, c, size):
    # "auto" (im2col first layer, grouped deeper), all-im2col and all-grouped: same logits
    # and gradients up to float rounding
    x = torch.randn(3, 5, c, size, size, generator=torch.Generator().manual_seed(0))
    out = {}
    for impl in ("auto", "im2col", "grouped"):
        ens = Ensemble(arch, widths, 3, in_channels=c, image_size=size, seed=1, conv_impl=impl)
        logits = ens.eval()(x)
        logits.square().sum().backward()
        out[impl] = logits.detach(), {k: p.grad for k, p in ens.named_parameters()}
    for impl in ("im2col", "grouped"):
        torch.testing.assert_close(out[impl][0], out["auto"][0], atol=1e-5, rtol=1e-5)
        for k, g in out["auto"][1].items():
            torch.testing.assert_close(out[impl][1][k], g, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="'conv_impl' parameter of Ensemble must be one of"):
        Ensemble(arch, widths, 3, conv_impl="fft")


def test_lrn_in_bf16_is_computed_in_float32():
    # under bf16 autocast LRN gets bf16 maps; it computes in float32 and rounds once, so it
    # is within half a bf16 ulp of tf.nn.lrn in float64 (and works where torch's bf16 LRN
    # does not: avg_pool3d has no bf16 CPU kernel)
    x = (torch.rand(2, 13, 3, 3, generator=torch.Generator().manual_seed(1)) * 5).bfloat16()
    got = _lrn(x)
    assert got.dtype == torch.bfloat16
    xd = x.double()
    ref = torch.empty_like(xd)
    for d in range(13):
        ref[:, d] = xd[:, d] / (1 + 0.001 / 9 * (xd[:, max(0, d - 4):d + 5] ** 2).sum(1)) ** 0.75
    assert ((got.double() - ref).abs() / ref.abs()).max() <= 2.0 ** -8  # bf16 unit roundoff
