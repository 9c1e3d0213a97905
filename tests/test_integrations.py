"""The Lightning and Keras 3 callbacks: snapshots at the right steps, none twice, rank zero
only, the readings in the trainer's loggers, Keras kernels in PyTorch layout."""

import os

import numpy as np
import pytest
import torch
from conftest import need_module

from cnntopo.sources.filters import filters_from_source, load_state_dict
from cnntopo.sources.rundir import read_manifest


def _steps(run):
    return [e["iteration"] for e in read_manifest(run)["checkpoints"]]


def test_lightning_monitor_records_step_0_and_every_n_steps_once_through_the_loggers(tmp_path):
    need_module("lightning", "Lightning (the cnntopo[lightning] extra)")
    need_module("tensorboard", "TensorBoard (the cnntopo[tensorboard] extra)")
    import lightning.pytorch as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cnntopo.integrations.lightning import TopologyMonitor

    class Net(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 3)
            self.fc = torch.nn.Linear(8, 2)

        def training_step(self, batch, i):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.fc(self.conv(x).mean((2, 3))), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 1, 8, 8, generator=g),
                                          torch.randint(0, 2, (64,), generator=g))
    net = Net()
    run = tmp_path / "run"
    trainer = L.Trainer(
        max_steps=7, accumulate_grad_batches=2, accelerator="cpu", devices=1,
        callbacks=[TopologyMonitor(run, every_n_train_steps=2)],
        logger=[TensorBoardLogger(tmp_path / "tb", name="", version=0),
                CSVLogger(tmp_path / "csv", name="", version=0)],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        log_every_n_steps=1)
    trainer.fit(net, torch.utils.data.DataLoader(data, batch_size=4))
    # global_step repeats under gradient accumulation: each step once; the end is recorded
    assert _steps(run) == [0, 2, 4, 6, 7]
    assert torch.equal(load_state_dict(run, iteration=7)["conv.weight"], net.conv.weight)
    assert not torch.equal(load_state_dict(run, iteration=0)["conv.weight"], net.conv.weight)
    events = EventAccumulator(str(tmp_path / "tb" / "version_0"))
    events.Reload()
    logged = [e.step for e in events.Scalars("topology/conv/klein_fraction")]
    assert logged == [0, 2, 4, 6, 7]
    assert "topology/conv/klein_density" in events.Tags()["images"]
    csv = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    assert "topology/conv/off_model_fraction" in csv[0].split(",")
    # another rank (not global zero) records nothing
    class Rank1:
        is_global_zero, global_step, loggers = False, 0, []

    other = TopologyMonitor(tmp_path / "rank1", every_n_train_steps=1)
    other.on_train_start(Rank1(), net)
    other.on_train_batch_end(Rank1(), net, None, None, 0)
    other.on_train_end(Rank1(), net)
    assert not (tmp_path / "rank1").exists()


# Keras' own conversions of torch variables under NumPy 2 (not cnntopo's: it reads the tensors)
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_keras_monitor_records_kernels_in_pytorch_layout(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = need_module("keras", "Keras 3 (the cnntopo[keras] extra)")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.fail(f"cnntopo[keras] needs Keras 3; got {keras.__version__}")
    from cnntopo.integrations.keras import TopologyMonitor, keras_conv_weights

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(6, 3, name="c1"),
                              keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
                              keras.layers.Conv2D(4, 1, name="pointwise"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 8, 8, 2)).astype("float32"), rng.integers(0, 2, 40)
    run = tmp_path / "run"
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[TopologyMonitor(run, every_n_steps=3)])
    assert _steps(run) == [0, 3, 6, 9, 10]          # 5 optimiser steps per epoch, the end
    manifest = read_manifest(run)
    assert [entry["name"] for entry in manifest["config"]["layers"]] == ["c1.weight", "dw.weight"]
    c1 = np.asarray(model.get_layer("c1").kernel.numpy())       # (3, 3, 2, 6)
    dw = np.asarray(model.get_layer("dw").kernel.numpy())       # (3, 3, 6, 2)
    saved = load_state_dict(run, iteration=10)
    np.testing.assert_array_equal(saved["c1.weight"].numpy()[5, 1], c1[:, :, 1, 5])
    # depthwise: input map c, multiplier m -> output row c * m + j, one input map
    np.testing.assert_array_equal(saved["dw.weight"].numpy()[3 * 2 + 1, 0], dw[:, :, 3, 1])
    assert {k: v.shape for k, v in keras_conv_weights(model).items()} == {
        "c1.weight": (6, 2, 3, 3), "dw.weight": (12, 1, 3, 3), "pointwise.weight": (4, 12, 1, 1)}
    filters, _, info = filters_from_source(run, 1, iteration=10)
    assert filters.shape == (12, 9) and info["layer_name"] == "c1"
