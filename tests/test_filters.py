"""Tests for cnntopo.sources.filters: extraction order, metadata, and reading weights from files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from cnntopo.sources.filters import (
    ENSEMBLE_FORMAT,
    conv_layers,
    describe_layers,
    filter_meta,
    filters_from_source,
    load_state_dict,
    spatial_filters,
)

# ----------------------------------------------------------------------------- extraction order

def test_row_major_flatten_of_a_non_square_kernel():
    # (out=1, in=1, kh=2, kw=3): entry [i, j] lands at coordinate i * kw + j.
    w = np.arange(6.0).reshape(1, 1, 2, 3)
    f = spatial_filters(w)
    assert f.shape == (1, 6)
    np.testing.assert_array_equal(f[0], [0, 1, 2, 3, 4, 5])
    w2 = np.zeros((1, 1, 2, 3))
    w2[0, 0, 1, 0] = 7.0  # row 1, column 0 -> coordinate 3
    assert np.flatnonzero(spatial_filters(w2)[0]).tolist() == [3]


def test_single_network_rows_are_output_then_input_map():
    w = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    f, meta = spatial_filters(w, return_meta=True)
    assert f.dtype == np.float64 and f.shape == (6, 9)
    # Row (o * 3 + c) holds w[o, c]; arange makes each row 9 consecutive integers.
    np.testing.assert_array_equal(f[0], np.arange(0, 9))
    np.testing.assert_array_equal(f[1], np.arange(9, 18))
    np.testing.assert_array_equal(f[3], np.arange(27, 36))  # out 1, in 0
    np.testing.assert_array_equal(f[5], np.arange(45, 54))
    np.testing.assert_array_equal(meta["out_map"], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(meta["in_map"], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(meta["network"], np.zeros(6))
    np.testing.assert_array_equal(meta["iteration"], np.full(6, -1))


def test_ensemble_order_matches_a_brute_force_loop():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 5, 3, 3, 2))
    f, meta = spatial_filters(w, return_meta=True, iteration=250)
    rows, nets, outs, ins = [], [], [], []
    for net in range(4):
        for o in range(5):
            for c in range(3):
                rows.append([w[net, o, c, i, j] for i in range(3) for j in range(2)])
                nets.append(net), outs.append(o), ins.append(c)
    np.testing.assert_array_equal(f, np.array(rows))
    np.testing.assert_array_equal(meta["network"], nets)
    np.testing.assert_array_equal(meta["out_map"], outs)
    np.testing.assert_array_equal(meta["in_map"], ins)
    np.testing.assert_array_equal(meta["iteration"], np.full(60, 250))


def test_channel_selects_one_input_map():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(2, 7, 3, 3, 3))
    f, meta = spatial_filters(w, channel=1, return_meta=True)
    assert f.shape == (14, 9)
    np.testing.assert_array_equal(f, w[:, :, 1].reshape(14, 9))
    np.testing.assert_array_equal(meta["in_map"], np.ones(14))
    np.testing.assert_array_equal(meta["out_map"], np.tile(np.arange(7), 2))
    np.testing.assert_array_equal(meta["network"], np.repeat(np.arange(2), 7))


@pytest.mark.parametrize("channel", [3, -1, 1.0, True])
def test_channel_out_of_range(channel):
    with pytest.raises(ValueError, match=r"'channel' parameter .* \[0, 2\]"):
        spatial_filters(np.zeros((4, 3, 3, 3)), channel=channel)


def test_tf_layout_only_when_asked():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(6, 4, 3, 2))                     # (out, in, kh, kw)
    w_tf = w.transpose(2, 3, 1, 0)                         # (kh, kw, in, out)
    np.testing.assert_array_equal(spatial_filters(w_tf, layout="tf"), spatial_filters(w))
    ens = rng.normal(size=(2, 6, 4, 3, 3))
    np.testing.assert_array_equal(spatial_filters(ens.transpose(0, 3, 4, 2, 1), layout="tf"),
                                  spatial_filters(ens))
    with pytest.raises(ValueError, match="'layout' parameter"):
        spatial_filters(w, layout="keras")


def test_torch_tensor_equals_numpy():
    w = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(spatial_filters(w), spatial_filters(w.numpy()))
    wb = w.to(torch.bfloat16)  # NumPy has no bfloat16
    np.testing.assert_array_equal(spatial_filters(wb), spatial_filters(wb.float().numpy()))


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (1, 2, 3, 4, 5, 6)])
def test_wrong_ndim(shape):
    with pytest.raises(ValueError, match="must be 4-D or 5-D"):
        spatial_filters(np.zeros(shape))


def test_empty_and_non_numeric():
    with pytest.raises(ValueError, match="non-empty"):
        spatial_filters(np.zeros((0, 3, 3, 3)))
    with pytest.raises(TypeError, match="real numeric"):
        spatial_filters(np.full((1, 1, 3, 3), "a"))


def test_filter_meta_matches_spatial_filters():
    meta = filter_meta((3, 2, 4, 3, 3), channel=2, iteration=7)
    assert {k: v.shape for k, v in meta.items()} == {k: (6,) for k in meta}
    np.testing.assert_array_equal(meta["in_map"], np.full(6, 2))


# ----------------------------------------------------------------------------- conv_layers

def _fake_state_dict():
    return {
        "stem.weight": torch.zeros(4, 3, 3, 3),
        "stem.bias": torch.zeros(4),
        "bn.weight": torch.ones(4),
        "block.pw.weight": torch.zeros(8, 4, 1, 1),
        "block.dw.weight": torch.zeros(8, 1, 5, 5),
        "block.conv.weight": torch.zeros(8, 8, 3, 3),
        "block.conv.weight_scale": torch.zeros(8, 8, 3, 3),  # key must end with "weight"
        "fc.weight": torch.zeros(10, 8),
    }


def test_conv_layers_in_state_dict_order_and_kernel_size():
    sd = _fake_state_dict()
    assert [n for n, _ in conv_layers(sd)] == ["stem.weight", "block.pw.weight",
                                              "block.dw.weight", "block.conv.weight"]
    assert [n for n, _ in conv_layers(sd, kernel_size=3)] == ["stem.weight", "block.conv.weight"]
    assert [n for n, _ in conv_layers(sd, kernel_size=(5, 5))] == ["block.dw.weight"]
    assert conv_layers(sd)[0][1] is sd["stem.weight"]  # no copy
    with pytest.raises(ValueError, match="'kernel_size' parameter"):
        conv_layers(sd, kernel_size="3x3")
    with pytest.raises(TypeError, match="mapping"):
        conv_layers([("a", np.zeros((1, 1, 3, 3)))])


# ----------------------------------------------------------------------------- files

def _ensemble_checkpoint(iteration, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = {
        "conv1.weight": torch.randn(3, 8, 1, 3, 3, generator=g),
        "conv1.bias": torch.randn(3, 8, generator=g),
        "conv2.weight": torch.randn(3, 4, 8, 3, 3, generator=g),
        "conv2.bias": torch.randn(3, 4, generator=g),
        "fc1.weight": torch.randn(3, 16, 196, generator=g),
        "fc2.weight": torch.randn(3, 10, 16, generator=g),
    }
    return {"format": ENSEMBLE_FORMAT, "model": model, "iteration": iteration,
            "config": {"arch": "M", "widths": [8, 4, 16]}}


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
@pytest.mark.parametrize("wrap", [None, "state_dict", "model"])
def test_torch_file_round_trip(tmp_path, suffix, wrap):
    sd = _fake_state_dict()
    path = tmp_path / f"m{suffix}"
    torch.save(sd if wrap is None else {wrap: sd, "epoch": 3}, path)
    got = load_state_dict(path)
    assert list(got) == list(sd)
    for k in sd:
        np.testing.assert_array_equal(np.asarray(got[k]), sd[k].numpy())
    f, meta, info = filters_from_source(path, 4)
    np.testing.assert_array_equal(f, spatial_filters(sd["block.conv.weight"]))
    assert info == {"layer_name": "block.conv", "shape": [8, 8, 3, 3],
                    "source": str(path), "layer": 4, "iteration": None, "channel": None}


def test_legacy_torch_format(tmp_path):
    sd = _fake_state_dict()
    path = tmp_path / "legacy.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=False)  # cannot be mmapped
    f, _, _ = filters_from_source(path, 1, channel=2)
    np.testing.assert_array_equal(f, sd["stem.weight"][:, 2].reshape(4, 9).numpy())


def test_safetensors_round_trip(tmp_path):
    from safetensors.torch import save_file

    sd = {k: v.contiguous() for k, v in _fake_state_dict().items()}
    sd["block.conv.weight"] = torch.randn(8, 8, 3, 3, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "m.safetensors"
    save_file(sd, str(path))
    # safetensors stores keys sorted by name: block.conv.weight comes first.
    f, _, info = filters_from_source(path, 1, kernel_size=3)
    np.testing.assert_array_equal(f, sd["block.conv.weight"].reshape(64, 9).double().numpy())
    assert info["layer_name"] == "block.conv"
    # ... in natural order, so a Sequential's features.10 follows features.2.
    seq = {f"features.{i}.weight": torch.full((2, 1, 3, 3), float(i)) for i in (0, 2, 10, 12)}
    save_file(seq, str(tmp_path / "seq.safetensors"))
    assert list(load_state_dict(tmp_path / "seq.safetensors")) == list(seq)
    save_file({"c.weight": torch.randn(2, 3, 3, 3).to(torch.bfloat16)}, str(tmp_path / "bf.safetensors"))
    assert filters_from_source(tmp_path / "bf.safetensors", 1)[0].shape == (6, 9)


def test_ensemble_checkpoint(tmp_path):
    ckpt = _ensemble_checkpoint(500)
    path = tmp_path / "ens.pt"
    torch.save(ckpt, path)
    f, meta, info = filters_from_source(path, 2)
    w = ckpt["model"]["conv2.weight"]
    assert f.shape == (3 * 4 * 8, 9)
    np.testing.assert_array_equal(f[(1 * 4 + 2) * 8 + 5], w[1, 2, 5].reshape(9).numpy())
    np.testing.assert_array_equal(meta["iteration"], np.full(96, 500))
    assert info["iteration"] == 500 and info["shape"] == [3, 4, 8, 3, 3]
    assert [n for n, _ in conv_layers(load_state_dict(path))] == ["conv1.weight", "conv2.weight"]
    with pytest.raises(ValueError, match="single file holding iteration 500, not 100"):
        filters_from_source(path, 1, iteration=100)


def _write_run(tmp_path, iterations):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    entries = []
    for i, it in enumerate(iterations):
        name = f"checkpoints/iter_{it:07d}.pt"
        torch.save(_ensemble_checkpoint(it, seed=i), run / name)
        entries.append({"iteration": it, "file": name, "test_accuracy": [0.9]})
    (run / "manifest.json").write_text(json.dumps({"format": "cnntopo-run/1", "config": {},
                                                   "checkpoints": entries}))
    return run


def test_run_directory(tmp_path):
    run = _write_run(tmp_path, [100, 1000, 250])
    assert (run / "checkpoints" / "iter_0000100.pt").is_file()
    last, meta, info = filters_from_source(run, 1)
    assert info["iteration"] == 1000
    assert info["source"] == str(run / "checkpoints" / "iter_0001000.pt")
    np.testing.assert_array_equal(meta["iteration"], np.full(24, 1000))
    expected = _ensemble_checkpoint(1000, seed=1)["model"]["conv1.weight"]
    np.testing.assert_array_equal(last, expected.reshape(24, 9).numpy())
    first, _, info = filters_from_source(run, 1, iteration=100)
    np.testing.assert_array_equal(first, _ensemble_checkpoint(100, seed=0)["model"]["conv1.weight"]
                                  .reshape(24, 9).numpy())
    with pytest.raises(ValueError, match=r"\[100, 250, 1000\]; got 500"):
        filters_from_source(run, 1, iteration=500)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match="not a run directory: it has no manifest.json"):
        load_state_dict(tmp_path)
    # checkpoints without a manifest are not a run: train writes the manifest first
    (tmp_path / "checkpoints").mkdir()
    torch.save(_ensemble_checkpoint(10), tmp_path / "checkpoints" / "iter_0000010.pt")
    with pytest.raises(ValueError, match="not a run directory"):
        load_state_dict(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_state_dict(tmp_path / "nope.pt")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_file(tmp_path, legacy):
    path = tmp_path / "cut.pt"
    torch.save(_fake_state_dict(), path, _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is not a readable") as exc:
        load_state_dict(path)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__  # no pickle traceback


def test_garbage_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ValueError, match="junk.pth is not a readable PyTorch checkpoint"):
        load_state_dict(tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 50)
    with pytest.raises(ValueError, match="junk.safetensors is not a readable safetensors"):
        load_state_dict(tmp_path / "junk.safetensors")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_state_dict(tmp_path / "list.pt")


def test_missing_layer_message(tmp_path):
    path = tmp_path / "ens.pt"
    torch.save(_ensemble_checkpoint(10), path)
    msg = f"layer 5 does not exist: {path} has 2 conv layers (1 conv1, 2 conv2)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        filters_from_source(path, 5)
    with pytest.raises(ValueError, match=re.escape("has 0 conv layers of kernel size 5x5.")):
        filters_from_source(path, 1, kernel_size=5)
    with pytest.raises(ValueError, match="'layer' parameter .* 1-based"):
        filters_from_source(path, 0)


def test_kernel_size_renumbers_layers():
    sd = _fake_state_dict()
    sd["block.conv.weight"] = torch.arange(8 * 8 * 9.0).reshape(8, 8, 3, 3)
    f, _, info = filters_from_source(sd, 2, kernel_size=3)
    assert info["layer_name"] == "block.conv" and info["source"] == "the state dict"
    np.testing.assert_array_equal(f, np.arange(8 * 8 * 9.0).reshape(64, 9))
    assert filters_from_source(sd, 2)[2]["layer_name"] == "block.pw"


def test_describe_layers(tmp_path):
    path = tmp_path / "ens.pt"
    torch.save(_ensemble_checkpoint(10), path)
    lines = describe_layers(path)
    assert lines[0] == f"{path}: 2 conv layers (PyTorch checkpoint, tensors as stored)"
    assert lines[1].split() == ["1", "conv1", "(3,", "8,", "1,", "3,", "3)", "24",
                                "spatial", "filters", "of", "3x3"]
    assert "96 spatial filters" in lines[2]


def test_what_the_cli_writes_the_library_reads(tmp_path):
    """`cnntopo filters -o OUT.npy` writes three files; cnntopo.load_filters reads them back."""
    from cnntopo import load_filters
    from cnntopo.cli import main

    run = _write_run(tmp_path, [100, 250])
    out = tmp_path / "layer2.npy"
    assert main(["filters", str(run), "--layer", "2", "--iteration", "100", "-o", str(out)]) == 0
    filters, meta, info = load_filters(out)
    want, want_meta, want_info = filters_from_source(run, 2, iteration=100)
    np.testing.assert_array_equal(filters, want)
    assert sorted(meta) == sorted(want_meta)
    for key in meta:
        np.testing.assert_array_equal(meta[key], want_meta[key])
    assert meta["iteration"].tolist() == [100] * len(filters)
    assert info["layer_name"] == want_info["layer_name"] == "conv2"
    assert info["n_filters"] == 3 * 4 * 8
    out.with_suffix(".meta.npz").write_bytes(b"half an archive")
    with pytest.raises(ValueError, match="is not a NumPy .npz archive"):
        load_filters(out)
