"""The training step on a CUDA GPU against the CPU float32 reference (skipped without CUDA).

Tolerances, and why. Two float32 implementations do not give the same weights after a few
steps, even on one CPU: max-pooling routes the whole gradient to one element of each
window, and two values of a window that are equal in one summation order and not in the
other (it happens: 2 of 1.2 million in C's second pooling for one batch of 4 x 64 images)
send it elsewhere. One such flip moved C's conv1 gradient by 0.4% (norm) against float64;
between the "auto" and "grouped" convolutions on the CPU, 4 C steps differ by up to 1% of
the weights' change (norm) and 6e-5 in any weight. Hence, after 4 steps:

- every step's loss within 1e-4 (relative) of the CPU's;
- each weight tensor within 5% of its change (norm) of the CPU's;
- every weight within 5e-4 (C: SGD, lr 0.1; weights ~0.05) or within the update bound of
  the steps (M: Adam moves a weight at most ~lr per step, 4 x 1e-3).

bf16 autocast (the fast path) is a different arithmetic: each network's loss at each step
within
5% + 0.01 of the float32 one (CPU, 10 steps: up to 1.5% for M), the loss falls, and the
weights' change within 50% (norm) of float32's (Adam's trajectories part quickly: on a CPU,
bf16 against fp32 for 4 x M(64,32,64), 20 steps, gave losses within 0.1% but weight
changes 11-23% apart).

The largest differences are written to the JSON file named by CNNTOPO_CUDA_REPORT (if set),
for scripts/device-check.sh.
"""

import json
import os

import numpy as np
import pytest
import torch

import cnntopo.training.loop as train_mod
from cnntopo.files import atomic_write_json
from cnntopo.training.data import cifar_transform
from cnntopo.training.loop import TrainConfig, _optimizer, _Step, build_model, numerics

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")
STEPS = 4


def _record(name, **numbers):
    path = os.environ.get("CNNTOPO_CUDA_REPORT")
    if not path:
        return
    data = json.loads(open(path).read()) if os.path.exists(path) else {}
    data[name] = numbers
    atomic_write_json(path, data)


def _batches(cfg, steps, seed=0):
    """Fixed, learnable batches on the CPU: class templates plus noise."""
    g = torch.Generator().manual_seed(seed)
    c = 3 if cfg.dataset == "cifar10-color" else 1
    size = 28 if cfg.dataset == "mnist" else 24
    templates = torch.randn(10, c, size, size, generator=g)
    out = []
    for _ in range(steps):
        y = torch.randint(0, 10, (cfg.n_nets, cfg.batch_size), generator=g)
        x = templates[y] + 0.5 * torch.randn(cfg.n_nets, cfg.batch_size, c, size, size, generator=g)
        keep = None
        if cfg.arch == "M":
            keep = torch.rand(cfg.n_nets, cfg.batch_size, cfg.widths[2], generator=g) >= 0.5
        out.append((x, y, keep))
    return out


def _run(cfg, batches, device, *, graph=False, conv_impl="auto", init=None):
    model = build_model(cfg)  # the same initial weights for every call with the same cfg
    if init is not None:
        model.load_state_dict(init)
    model = model.to(device).train()
    model.conv_impl = conv_impl
    opt = _optimizer(model, cfg, capturable=graph)
    step = _Step(model, opt, cfg, [slice(0, cfg.n_nets)], graph=graph)
    losses, states = [], []
    with numerics(cfg.precision, device):
        for x, y, keep in batches:
            loss = step(x.to(device), y.to(device), None if keep is None else keep.to(device))
            losses.append(loss.detach().float().cpu().clone())
            states.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    assert step.error is None, step.error
    if graph:
        assert step._g is not None  # the later steps were replays
    step.close()
    return torch.stack(losses), states


def _diffs(got, ref, init):
    """(largest |difference| of any weight, largest ||difference|| / ||change|| of a tensor)."""
    worst = max(float((got[k] - ref[k]).abs().max()) for k in ref)
    rel = max(float((got[k] - ref[k]).norm() / (ref[k] - init[k]).norm().clamp_min(1e-30))
              for k in ref)
    return worst, rel


def _m_config(**kw):
    return TrainConfig(**{**dict(arch="M", widths=(64, 32, 64), n_nets=4, batch_size=64,
                                 device="cuda", precision="fp32"), **kw})


def _c_config(**kw):
    return TrainConfig(**{**dict(arch="C", widths=(64, 32, 64), dataset="cifar10-color",
                                 n_nets=4, batch_size=64, device="cuda", precision="fp32"), **kw})


@pytest.mark.parametrize("conv_impl", ["auto", "im2col", "grouped"])
def test_m_adam_steps_match_the_cpu(conv_impl):
    cfg = _m_config()
    batches = _batches(cfg, STEPS)
    ref_cfg = TrainConfig(**{**cfg.__dict__, "device": "cpu"})
    ref_loss, ref = _run(ref_cfg, batches, torch.device("cpu"))
    loss, got = _run(cfg, batches, CUDA, conv_impl=conv_impl)
    worst, rel = _diffs(got[-1], ref[-1], build_model(cfg).state_dict())
    _record(f"m_adam_{conv_impl}", steps=STEPS, max_abs_diff=worst, max_rel_to_change=rel,
            max_rel_loss_diff=float(((loss - ref_loss).abs() / ref_loss).max()))
    torch.testing.assert_close(loss, ref_loss, atol=0, rtol=1e-4)
    assert rel <= 0.05 and worst <= STEPS * cfg.lr


@pytest.mark.parametrize("conv_impl", ["auto", "im2col", "grouped"])
def test_c_sgd_lrn_steps_match_the_cpu(conv_impl):
    cfg = _c_config()
    assert cfg.weight_decay == 0.004 and cfg.lr == 0.1
    batches = _batches(cfg, STEPS)
    ref_loss, ref = _run(TrainConfig(**{**cfg.__dict__, "device": "cpu"}), batches,
                         torch.device("cpu"))
    loss, got = _run(cfg, batches, CUDA, conv_impl=conv_impl)
    worst, rel = _diffs(got[-1], ref[-1], build_model(cfg).state_dict())
    _record(f"c_sgd_lrn_{conv_impl}", steps=STEPS, max_abs_diff=worst, max_rel_to_change=rel,
            max_rel_loss_diff=float(((loss - ref_loss).abs() / ref_loss).max()))
    torch.testing.assert_close(loss, ref_loss, atol=0, rtol=1e-4)
    assert rel <= 0.05 and worst <= 5e-4


@pytest.mark.parametrize("make", [_m_config, _c_config])
def test_cuda_graph_replays_the_eager_steps(make):
    cfg = make()
    batches = _batches(cfg, 7)  # 3 eager warm-up steps, the capture, 3 replays
    eager_loss, eager = _run(cfg, batches, CUDA)
    graph_loss, graph = _run(cfg, batches, CUDA, graph=True)
    worst, rel = _diffs(graph[-1], eager[-1], build_model(cfg).state_dict())
    _record(f"graph_vs_eager_{cfg.arch}", steps=7, max_abs_diff=worst, max_rel_to_change=rel)
    torch.testing.assert_close(graph_loss, eager_loss, atol=0, rtol=1e-4)
    assert rel <= 0.05 and worst <= (7 * cfg.lr if cfg.arch == "M" else 5e-4)
    # each replay moved the weights on (a replay that did nothing would leave them)
    for a, b in zip(graph[3:], graph[4:]):
        assert (a["conv1.weight"] - b["conv1.weight"]).abs().max() > 1e-6


@pytest.mark.parametrize("make", [_m_config, _c_config])
def test_bf16_autocast_stays_close_to_fp32(make):
    cfg = make()
    batches = _batches(cfg, 10)
    init = build_model(cfg).state_dict()
    ref_loss, ref = _run(cfg, batches, CUDA, init=init)
    bf_cfg = TrainConfig(**{**cfg.__dict__, "precision": "bf16"})
    loss, got = _run(bf_cfg, batches, CUDA, graph=True, init=init)
    excess = float(((loss - ref_loss).abs() - 0.05 * ref_loss.abs() - 0.01).max())
    rel_loss = float(((loss - ref_loss).abs() / ref_loss.abs()).max())
    moved = {k: got[-1][k] - init[k] for k in init}
    ref_moved = {k: ref[-1][k] - init[k] for k in init}
    rel_move = max(float((moved[k] - ref_moved[k]).norm() / ref_moved[k].norm()) for k in init)
    _record(f"bf16_vs_fp32_{cfg.arch}", steps=10, max_rel_loss_diff=rel_loss,
            max_rel_weight_change_diff=rel_move)
    assert excess <= 0 and rel_move <= 0.5
    assert loss[-1].mean() < loss[0].mean() - 0.02  # the steps learn something


def test_cifar_transform_on_the_gpu():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), generator=g, dtype=torch.uint8)
    for grey in (False, True):
        torch.testing.assert_close(cifar_transform(images.to(CUDA), train=False, grey=grey).cpu(),
                                   cifar_transform(images, train=False, grey=grey),
                                   atol=1e-5, rtol=1e-5)
    gen = torch.Generator(device=CUDA).manual_seed(1)
    out = cifar_transform(images.to(CUDA), train=True, grey=False, generator=gen).cpu()
    # every output is one of the 9 x 9 x 2 standardised crops / flips of its own image
    for i in range(len(images)):
        windows = torch.stack([images[i, :, r:r + 24, c:c + 24] for r in range(9)
                               for c in range(9)])
        windows = torch.cat([windows, windows.flip(-1)])
        candidates = cifar_transform(windows, train=False, grey=False)  # 24x24: the crop itself
        best = (candidates - out[i]).abs().amax((1, 2, 3)).min()
        assert best < 1e-4


def test_train_on_cuda_learns_and_resumes(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    templates = torch.rand(10, 1, 28, 28, generator=g)

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=g)
        return (0.7 * templates[y] + 0.3 * torch.rand(n, 1, 28, 28, generator=g)).clamp(0, 1), y

    data = (*draw(600), *draw(200))
    monkeypatch.setattr(train_mod, "load_dataset", lambda name, data_dir=None: data)
    cfg = TrainConfig(arch="M", widths=(8, 0, 16), n_nets=3, iterations=300,
                      checkpoints=[150, 300], batch_size=32, device="cuda")
    assert cfg.precision == "bf16"  # the default on CUDA
    full = train_mod.train(cfg, tmp_path / "full", progress=False)

    class Stop(Exception):
        pass

    def stop(t, model):
        if t == 200:
            raise Stop

    with pytest.raises(Stop):
        train_mod.train(cfg, tmp_path / "cut", progress=False, resume_every=50, callback=stop)
    cut = train_mod.train(cfg, tmp_path / "cut", resume=True, progress=False)
    for m in (full, cut):
        assert [c["iteration"] for c in m["checkpoints"]] == [150, 300]
        assert min(m["checkpoints"][-1]["test_accuracy"]) > 0.9
    a, b = (np.array(m["checkpoints"][-1]["test_accuracy"]) for m in (full, cut))
    _record("train_resume_cuda", accuracy_full=a.tolist(), accuracy_resumed=b.tolist())
    assert np.abs(a - b).max() <= 0.03
