"""Ensemble training: determinism, exact resume, run-directory files and their errors."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import missing_asset

import cnntopo.training.loop as train_mod
from cnntopo.training.data import prepare_batch
from cnntopo.training.loop import (
    TrainConfig,
    _BatchOrder,
    evaluate,
    load_checkpoint,
    load_run_config,
    train,
)


def _synthetic(n_train=300, n_test=100, seed=0):
    """MNIST-shaped, learnable: each class a fixed random template plus noise."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 1, 28, 28, generator=g)

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=g)
        x = (0.7 * templates[y] + 0.3 * torch.rand(n, 1, 28, 28, generator=g)).clamp(0, 1)
        return x, y

    return (*draw(n_train), *draw(n_test))


@pytest.fixture
def tiny_data(monkeypatch):
    data = _synthetic()
    monkeypatch.setattr(train_mod, "load_dataset", lambda name, data_dir=None: data)
    return data


def _config(**kw):
    base = dict(arch="M", widths=(4, 0, 8), n_nets=2, iterations=20, checkpoints=[8, 20],
                seed=3, batch_size=16)
    return TrainConfig(**{**base, **kw})


def _weights(run_dir, t):
    return load_checkpoint(run_dir / "checkpoints" / f"iter_{t:07d}.pt")["model"]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


class Stop(Exception):
    pass


def test_same_seed_same_weights_and_manifest(tiny_data, tmp_path):
    m1 = train(_config(), tmp_path / "a", progress=False)
    m2 = train(_config(), tmp_path / "b", progress=False)
    _assert_same(_weights(tmp_path / "a", 20), _weights(tmp_path / "b", 20))
    other = train(_config(seed=4), tmp_path / "c", progress=False)
    assert not torch.equal(_weights(tmp_path / "c", 20)["conv1.weight"],
                           _weights(tmp_path / "a", 20)["conv1.weight"])
    assert m1["checkpoints"][-1]["test_accuracy"] == m2["checkpoints"][-1]["test_accuracy"]
    assert other["config"]["seed"] == 4


def test_manifest_holds_every_networks_accuracy(tiny_data, tmp_path):
    manifest = train(_config(n_nets=3), tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["config"]["widths"] == [4, 0, 8] and on_disk["completed"] is True
    assert [c["iteration"] for c in on_disk["checkpoints"]] == [8, 20]
    for entry in on_disk["checkpoints"]:
        assert len(entry["test_accuracy"]) == 3 and len(entry["train_loss_per_network"]) == 3
        assert entry["mean_test_accuracy"] == pytest.approx(np.mean(entry["test_accuracy"]))
        # the accuracies recorded are those of the saved weights
        model = train_mod.build_model(on_disk["config"])
        model.load_state_dict(load_checkpoint(tmp_path / entry["file"])["model"])
        np.testing.assert_allclose(evaluate(model, *tiny_data[2:], "mnist"), entry["test_accuracy"])
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "iter_0000020.pt")
    assert ckpt["iteration"] == 20 and ckpt["config"]["n_nets"] == 3
    assert ckpt["model"]["conv1.weight"].shape == (3, 4, 1, 3, 3)
    assert load_run_config(tmp_path) == _config(n_nets=3)


@pytest.mark.parametrize("stop_at", [8, 13])  # at a checkpoint; between checkpoints
def test_interrupted_run_resumes_to_the_same_weights(tiny_data, tmp_path, stop_at):
    train(_config(), tmp_path / "full", progress=False)

    def crash(t, model):
        if t == stop_at:
            raise Stop

    with pytest.raises(Stop):
        train(_config(), tmp_path / "cut", progress=False, resume_every=5, callback=crash)
    first = (tmp_path / "cut" / "checkpoints" / "iter_0000008.pt").read_bytes()
    manifest = train(_config(), tmp_path / "cut", resume=True, progress=False)
    for t in (8, 20):
        _assert_same(_weights(tmp_path / "full", t), _weights(tmp_path / "cut", t))
    resumed = torch.load(tmp_path / "cut" / "resume.pt", weights_only=True)
    full = torch.load(tmp_path / "full" / "resume.pt", weights_only=True)
    _assert_same(resumed["model"], full["model"])
    assert [c["iteration"] for c in manifest["checkpoints"]] == [8, 20]
    # the finished checkpoint was not rewritten
    assert (tmp_path / "cut" / "checkpoints" / "iter_0000008.pt").read_bytes() == first
    full_manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    for a, b in zip(manifest["checkpoints"], full_manifest["checkpoints"]):
        assert a["test_accuracy"] == b["test_accuracy"]
        assert a["train_loss_per_network"] == pytest.approx(b["train_loss_per_network"], abs=1e-12)


def test_one_network_per_pass_trains_the_same_networks(tiny_data, tmp_path):
    train(_config(n_nets=3), tmp_path / "all", progress=False, nets_per_pass=3)
    train(_config(n_nets=3), tmp_path / "one", progress=False, nets_per_pass=1)
    a, b = _weights(tmp_path / "all", 20), _weights(tmp_path / "one", 20)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def _have_cpp_compiler():
    return train_mod.cpp_compiler() is not None


@pytest.mark.slow
def test_compiled_forward_trains_the_same_networks(tiny_data, tmp_path):
    if not _have_cpp_compiler():
        missing_asset("torch.compile on the CPU needs a C++ compiler (g++)")
    # torch.compile (inductor) of the forward pass and its backward: the same networks up to
    # float rounding (fused element-wise work reorders sums), under the CPU's deterministic mode
    from cnntopo.cli import main

    cfg = _config(widths=(4, 3, 8), iterations=6, checkpoints=[6])
    train(cfg, tmp_path / "eager", progress=False)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    assert main(["train", "--arch", "M", "--widths", "4,3,8", "--nets", "2", "--iterations", "6",
                 "--checkpoints", "6", "--seed", "3", "--batch-size", "16", "--compile",
                 "--quiet", "--out", str(tmp_path / "compiled")]) == 0
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile
    a, b = _weights(tmp_path / "eager", 6), _weights(tmp_path / "compiled", 6)
    init = train_mod.build_model(cfg).state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-4)
        # and training moved every layer far more than that
        assert (a[k] - init[k]).abs().max() > 1e-3, k


def test_compile_without_a_cpp_compiler_is_one_line_and_writes_nothing(tiny_data, tmp_path,
                                                                          monkeypatch, capsys):
    from cnntopo.cli import main

    # the check reads $CXX as torch documents it; monkeypatch.setenv restores it afterwards
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    out = tmp_path / "run"
    assert main(["train", "--arch", "M", "--widths", "4,0,8", "--iterations", "2", "--compile",
                 "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'compile' parameter of train needs a C++ compiler" in err[0]
    assert "no-such-g++" in err[0] and "is not an executable on PATH" in err[0]
    assert not out.exists()


def test_cpp_compiler_is_found_as_torch_documents_it(tmp_path, monkeypatch):
    fake = tmp_path / "my-c++"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    assert train_mod.cpp_compiler() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path))  # a bare name is looked up on PATH
    monkeypatch.setenv("CXX", "my-c++")
    assert train_mod.cpp_compiler() == str(fake)
    monkeypatch.delenv("CXX")  # then g++ or clang++ on PATH, and here there is neither
    assert train_mod.cpp_compiler() is None
    (tmp_path / "g++").symlink_to(fake)
    assert train_mod.cpp_compiler() == str(tmp_path / "g++")


def test_loss_decreases_on_a_learnable_problem(tiny_data, tmp_path):
    cfg = _config(widths=(8, 0, 16), iterations=300, checkpoints=[10, 290, 300], batch_size=32)
    first, _, last = train(cfg, tmp_path, progress=False)["checkpoints"]  # iterations 1-10, 291-300
    assert first["train_loss"] == pytest.approx(np.log(10), abs=0.05)  # chance at the start
    assert last["train_loss"] < 0.7 * first["train_loss"]
    assert min(last["test_accuracy"]) > 0.9  # chance is 0.1


def test_c_trains_with_sgd_and_weight_loss(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    data = (torch.randint(0, 256, (64, 3, 32, 32), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (64,), generator=g),
            torch.randint(0, 256, (32, 3, 32, 32), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (32,), generator=g))
    monkeypatch.setattr(train_mod, "load_dataset", lambda name, data_dir=None: data)
    cfg = _config(arch="C", widths=(4, 3, 8), dataset="cifar10-color", iterations=3,
                  checkpoints=[3], batch_size=8)
    assert cfg.lr == 0.1 and cfg.weight_decay == 0.004
    manifest = train(cfg, tmp_path, progress=False)
    assert len(manifest["checkpoints"][0]["test_accuracy"]) == 2
    assert _weights(tmp_path, 3)["conv1.weight"].shape == (2, 4, 3, 3, 3)


def test_loss_includes_the_l2_weight_loss():
    model = train_mod.build_model(_config(arch="C", widths=(4, 0, 8), dataset="cifar10-grey"))
    logits = torch.randn(2, 5, 10)
    labels = torch.randint(0, 10, (2, 5))
    cfg = _config(arch="C", widths=(4, 0, 8), dataset="cifar10-grey")
    got = train_mod._loss_per_network(logits, labels, cfg, model.fc.weight)
    for i in range(2):
        ce = torch.nn.functional.cross_entropy(logits[i], labels[i])
        l2 = 0.004 * (model.fc.weight[i] ** 2).sum() / 2  # tf.nn.l2_loss * wd
        torch.testing.assert_close(got[i], ce + l2)


def test_batch_order_is_a_permutation_per_epoch_and_per_network():
    order = _BatchOrder(seed=1, n_nets=3, n_train=10, batch_size=4, device="cpu")
    stream = torch.cat([order(t) for t in range(5)], dim=1)  # 20 positions = 2 epochs
    for i in range(3):
        for e in range(2):
            assert sorted(stream[i, 10 * e:10 * (e + 1)].tolist()) == list(range(10))
    assert not torch.equal(stream[0], stream[1])
    # network i's order is a function of (seed, i, epoch) only: no state carried over
    fresh = _BatchOrder(seed=1, n_nets=2, n_train=10, batch_size=4, device="cpu")
    assert torch.equal(fresh(3), stream[:2, 12:16])


def test_truncated_checkpoint_and_resume_file_are_named(tiny_data, tmp_path):
    train(_config(iterations=8, checkpoints=[8]), tmp_path, progress=False)
    ckpt = tmp_path / "checkpoints" / "iter_0000008.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"Checkpoint .*iter_0000008\.pt is corrupt or truncated"):
        load_checkpoint(ckpt)
    resume = tmp_path / "resume.pt"
    resume.write_bytes(resume.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"Resume file .*resume\.pt is corrupt or truncated"):
        train(_config(iterations=8, checkpoints=[8]), tmp_path, resume=True, progress=False)
    torch.save({"format": "something-else"}, resume)
    with pytest.raises(ValueError, match=r"resume\.pt is not a 'cnntopo-resume/1' file"):
        train(_config(iterations=8, checkpoints=[8]), tmp_path, resume=True, progress=False)


def test_resume_refuses_other_config_missing_run_and_overwrite(tiny_data, tmp_path):
    train(_config(iterations=8, checkpoints=[8]), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"differs from the saved one in \['lr', 'seed'\]"):
        train(_config(iterations=8, checkpoints=[8], seed=9, lr=0.01), tmp_path / "run",
              resume=True, progress=False)
    with pytest.raises(FileExistsError, match="already holds a training run"):
        train(_config(iterations=8, checkpoints=[8]), tmp_path / "run", progress=False)
    with pytest.raises(FileNotFoundError, match="holds no training run"):
        train(_config(), tmp_path / "empty", resume=True, progress=False)
    (tmp_path / "run" / "resume.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"Resume file .*resume\.pt does not exist"):
        train(_config(iterations=8, checkpoints=[8]), tmp_path / "run", resume=True, progress=False)


def test_config_validation():
    with pytest.raises(ValueError, match="'checkpoints' parameter of TrainConfig"):
        _config(checkpoints=[0, 20])
    with pytest.raises(ValueError, match="'widths' parameter of TrainConfig"):
        _config(widths=(0, 4, 8))
    with pytest.raises(ValueError, match="'dataset' parameter of TrainConfig"):
        _config(dataset="imagenet")
    cfg = _config(checkpoints=[20, 8, 8], lr=None)
    assert cfg.checkpoints == [8, 20] and cfg.lr == 1e-3 and cfg.weight_decay == 0.0
    with pytest.raises(TypeError, match="'config' parameter of train"):
        train({"arch": "M"}, "x")


def test_train_step_gives_each_network_the_gradient_of_its_own_net():
    # uneven passes (networks 0-1, then 2): every network's SGD step (lr 1) must be minus the
    # gradient plain autograd gives the same weights as a `Net`, with the same dropout mask
    cfg = _config(widths=(6, 5, 8), n_nets=3, lr=1.0)
    ens = train_mod.build_model(cfg).train()
    opt = torch.optim.SGD(ens.parameters(), lr=1.0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 16, 1, 28, 28, generator=g), torch.randint(0, 10, (3, 16), generator=g)
    keep = torch.stack([torch.rand(16, 8, generator=torch.Generator().manual_seed(i)) >= 0.5
                        for i in range(3)])
    before = {k: v.clone() for k, v in ens.state_dict().items()}
    loss = train_mod.train_step(ens, opt, x, y, cfg, [slice(0, 2), slice(2, 3)], keep)
    for i in range(3):
        net = train_mod.Ensemble("M", (6, 5, 8), 3, seed=3).network(i).train()
        ref = torch.nn.functional.cross_entropy(
            net(x[i], generator=torch.Generator().manual_seed(i)), y[i])
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach())
        for k, p in net.named_parameters():
            torch.testing.assert_close(before[k][i] - ens.state_dict()[k][i], p.grad,
                                       atol=1e-5, rtol=1e-4)


def test_missing_data_leaves_no_run_behind(tmp_path):
    # A wrong data_dir fails before any file is written, so the corrected command can run.
    with pytest.raises(FileNotFoundError, match="MNIST train files not found"):
        train(_config(data_dir=str(tmp_path / "nowhere")), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def _plain_c_net(c, widths, size):
    """C(X, Y, Z) from ordinary PyTorch layers, as the TF tutorial defines it.

    TF "SAME" max-pooling pads at the bottom/right; after the ReLU every value is >= 0, so a
    zero pad row/column gives the same maxima as TF's -inf padding. tf.nn.lrn(depth_radius
    4, bias 1, alpha 0.001/9, beta 0.75) divides by (1 + alpha * sum of 9 squares) ** 0.75;
    nn.LocalResponseNorm divides alpha by its size, so its alpha is 0.001 / 9 * 9.
    """
    x, y, z = widths

    def lrn():
        return torch.nn.LocalResponseNorm(size=9, alpha=0.001 / 9 * 9, beta=0.75, k=1.0)

    pad1 = (math.ceil(size / 2) - 1) * 2 + 3 - size       # 3x3/2: 1 on 24
    s1 = math.ceil(size / 2)
    pad2 = (s1 - 1) * 1 + 2 - s1                            # 2x2/1: 1
    nn = torch.nn
    return nn.ModuleDict({
        "conv1": nn.Conv2d(c, x, 3, padding=1), "conv2": nn.Conv2d(x, y, 3, padding=1),
        "fc": nn.Linear(y * s1 * s1, z), "out": nn.Linear(z, 10),
    }), nn.Sequential(nn.ReLU(), nn.ZeroPad2d((0, pad1, 0, pad1)), nn.MaxPool2d(3, 2), lrn()), \
        nn.Sequential(nn.ReLU(), nn.ZeroPad2d((0, pad2, 0, pad2)), nn.MaxPool2d(2, 1), lrn())


@pytest.mark.parametrize("dataset, conv_impl", [("cifar10-color", "auto"),
                                                ("cifar10-grey", "auto"),
                                                ("cifar10-color", "im2col"),
                                                ("cifar10-color", "grouped")])
def test_c_steps_equal_plain_pytorch_networks_with_sgd(dataset, conv_impl):
    # The C path as `train` runs it (Ensemble with LRN and TF "SAME" pooling, fused SGD,
    # L2 weight loss on the FC weight in the loss) against N ordinary networks, each with
    # torch.optim.SGD whose weight_decay on the FC weight alone is that L2 loss's gradient.
    n, b, widths, steps = 3, 16, (8, 6, 12), 3
    cfg = _config(arch="C", widths=widths, dataset=dataset, n_nets=n, batch_size=b)
    assert (cfg.lr, cfg.weight_decay) == (0.1, 0.004)
    c = 3 if dataset == "cifar10-color" else 1
    ens = train_mod.build_model(cfg).train()
    ens.conv_impl = conv_impl
    opt = train_mod._optimizer(ens, cfg)
    refs = []
    for i in range(n):
        layers, block1, block2 = _plain_c_net(c, widths, 24)
        layers.load_state_dict({k: v[i].clone() for k, v in ens.state_dict().items()})
        params = dict(layers.named_parameters())
        sgd = torch.optim.SGD([
            {"params": [params["fc.weight"]], "weight_decay": cfg.weight_decay},
            {"params": [p for k, p in params.items() if k != "fc.weight"], "weight_decay": 0.0},
        ], lr=cfg.lr, foreach=False)
        refs.append((layers, block1, block2, sgd))
    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (steps, n * b, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (steps, n, b), generator=g)
    for t in range(steps):
        x = prepare_batch(dataset, raw[t], train=True,
                          generator=torch.Generator().manual_seed(t)).view(n, b, c, 24, 24)
        loss = train_mod.train_step(ens, opt, x, labels[t], cfg, [slice(0, 2), slice(2, 3)])
        for i, (layers, block1, block2, sgd) in enumerate(refs):
            h = block1(layers["conv1"](x[i]))
            h = block2(layers["conv2"](h))
            logits = layers["out"](torch.relu(layers["fc"](h.flatten(1))))
            ce = torch.nn.functional.cross_entropy(logits, labels[t, i])
            sgd.zero_grad()
            ce.backward()
            l2 = cfg.weight_decay * 0.5 * layers["fc"].weight.detach().square().sum()
            torch.testing.assert_close(loss[i], ce.detach() + l2, atol=1e-5, rtol=1e-5)
            sgd.step()
    for i, (layers, *_) in enumerate(refs):
        for k, v in layers.state_dict().items():
            torch.testing.assert_close(ens.state_dict()[k][i], v, atol=1e-5, rtol=1e-4,
                                       msg=lambda m, k=k: f"network {i} {k}: {m}")
    # the steps moved every layer (the comparison is not of untouched weights)
    fresh = train_mod.build_model(cfg).state_dict()
    for k, v in ens.state_dict().items():
        assert (v - fresh[k]).abs().max() > 1e-4, k
