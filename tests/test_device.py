"""Choosing the training device: one clear error for a device this machine does not have."""

import json

import pytest
import torch

import cnntopo.training.loop as train_mod
from cnntopo.cli import main
from cnntopo.training.loop import TrainConfig, check_device, device_problem, train

TRAIN = ["train", "--arch", "M", "--widths", "4,0,8", "--iterations", "2", "--nets", "1",
         "--quiet"]


@pytest.fixture
def cpu_only_build(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def _one_line_error(capsys):
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


def test_cuda_on_a_cpu_only_build_is_one_line(cpu_only_build, tmp_path, capsys):
    assert main(TRAIN + ["--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert err == (f"cnntopo train: error: --device cuda: this PyTorch has no CUDA (CPU-only "
                   f"build {torch.__version__}); available: cpu")
    assert not (tmp_path / "run").exists()


def test_cuda_build_without_a_visible_gpu(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(TRAIN + ["--device", "cuda:0", "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert "--device cuda:0: PyTorch" in err and "(CUDA 13.0) sees no CUDA GPU" in err
    assert err.endswith("available: cpu")


def test_gpu_index_beyond_the_gpus(one_gpu, tmp_path, capsys):
    assert main(TRAIN + ["--device", "cuda:3", "--out", str(tmp_path / "run")]) == 2
    assert _one_line_error(capsys) == ("cnntopo train: error: --device cuda:3: there is only "
                                       "1 CUDA GPU; available: cpu, cuda:0")
    assert device_problem("cuda:0") is None and device_problem("cuda") is None


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", "cpu:3", ""])
def test_not_a_device(cpu_only_build, bad, tmp_path, capsys):
    assert main(TRAIN + ["--device", bad, "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert err == (f"cnntopo train: error: --device {bad}: not a device this package trains "
                   "on (expected cpu, cuda or cuda:N); available: cpu")


def test_library_errors_name_the_parameter(cpu_only_build, tmp_path):
    with pytest.raises(ValueError, match=r"'device' parameter of TrainConfig must be 'cpu', "
                                         r"'cuda' or 'cuda:N'; got 'gpu'"):
        TrainConfig(arch="M", widths=(4, 0, 8), device="gpu")
    with pytest.raises(ValueError, match=r"'device' parameter of train is 'cuda': this "
                                         r"PyTorch has no CUDA"):
        train(TrainConfig(arch="M", widths=(4, 0, 8), device="cuda"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert check_device("cpu") == torch.device("cpu")


def test_resuming_a_cuda_run_without_cuda(cpu_only_build, monkeypatch, tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(40, 1, 28, 28, generator=g), torch.randint(0, 10, (40,), generator=g),
            torch.rand(20, 1, 28, 28, generator=g), torch.randint(0, 10, (20,), generator=g))
    monkeypatch.setattr(train_mod, "load_dataset", lambda name, data_dir=None: data)
    run = tmp_path / "run"

    class Stop(Exception):
        pass

    def stop_at_2(t, model):
        if t == 2:
            raise Stop

    with pytest.raises(Stop):
        train(TrainConfig(arch="M", widths=(4, 0, 8), iterations=3, batch_size=8), run,
              progress=False, resume_every=1, callback=stop_at_2)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["device"] = "cuda"  # as if trained on a GPU machine
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert _one_line_error(capsys) == (f"cnntopo train: error: the run in {run} trains on "
                                       f"cuda: this PyTorch has no CUDA (CPU-only build "
                                       f"{torch.__version__}); available: cpu")


def test_precision_defaults_and_flag(cpu_only_build, monkeypatch, tmp_path):
    assert TrainConfig(arch="M", widths=(4, 0, 8)).precision == "fp32"
    assert TrainConfig(arch="M", widths=(4, 0, 8), device="cuda").precision == "bf16"
    with pytest.raises(ValueError, match="'precision' parameter of TrainConfig must be one of"):
        TrainConfig(arch="M", widths=(4, 0, 8), precision="fp16")
    seen = {}

    def fake_train(config, out, **kw):
        seen["c"] = config
        return {"checkpoints": []}

    monkeypatch.setattr(train_mod, "train", fake_train)
    assert main(TRAIN + ["--precision", "bf16", "--out", str(tmp_path / "run")]) == 0
    assert seen["c"].precision == "bf16" and seen["c"].device == "cpu"
    # a config saved before the field existed reads back with the default
    old = {k: v for k, v in TrainConfig(arch="M", widths=(4, 0, 8)).__dict__.items()
           if k != "precision"}
    assert TrainConfig.from_dict(old) == TrainConfig(arch="M", widths=(4, 0, 8))
