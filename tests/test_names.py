"""One front door (issue 22): one spelling per concept, old spellings as deprecated aliases,
one JSON schema read back, one default checkpoint, model names resolved cache-first.

docs/reference/names.md lists the names these tests hold to.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import primary_circle_filters

import cnntopo
from cnntopo.cli import build_parser, main

FAST = dict(n_landmarks=10, n_resamples=3, progress=False)


def _weights(tmp_path):
    import torch

    path = tmp_path / "two.pt"
    conv1 = torch.as_tensor(primary_circle_filters(16 * 25, seed=1).reshape(16, 25, 3, 3),
                            dtype=torch.float32)
    conv2 = torch.as_tensor(np.random.default_rng(2).normal(size=(8, 50, 3, 3)),
                            dtype=torch.float32)
    # as DataParallel saves it: the wrapper's prefix goes in one place (clean_name)
    torch.save({"module.a.weight": conv1, "module.b.weight": conv2}, path)
    return path


# ------------------------------------------------------------------ deprecated aliases

def test_old_keyword_names_work_and_warn(tmp_path):
    path = _weights(tmp_path)
    new = cnntopo.describe(path, layers=[1], **FAST)
    with pytest.warns(DeprecationWarning, match="'landmarks' parameter of describe is "
                                                "deprecated; use 'n_landmarks'"):
        old = cnntopo.describe(path, layers=[1], landmarks=10, n_resamples=3, progress=False)
    assert old.equals(new) and new.n_landmarks[0] == 10
    with pytest.raises(ValueError, match="got both 'landmarks' and 'n_landmarks'"):
        cnntopo.describe_source(path, landmarks=10, n_landmarks=10, progress=False)


def test_old_attribute_names_work_and_warn():
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.viz import colours

    prep = prepare_points(primary_circle_filters(50), k=5, p=0.5)
    with pytest.warns(DeprecationWarning, match="n_filtered is deprecated; use n_kept"):
        assert prep.n_filtered == prep.n_kept == 25
    result = cnntopo.analyse(primary_circle_filters(60), {"k": 5, "p": 0.5,
                                                          "significance": None})
    with pytest.warns(DeprecationWarning, match="circle_fraction_before_filtering"):
        assert result.circle_fraction_before_filtering == \
            result.primary_circle_fraction_before_filtering == 1.0
    with pytest.warns(DeprecationWarning, match="COLOR_BY is deprecated; use COLOUR_BY"):
        assert colours.COLOR_BY == colours.COLOUR_BY


def test_the_old_cli_flag_works_and_says_so(tmp_path, capsys):
    pts = tmp_path / "c.npy"
    np.save(pts, primary_circle_filters(300, seed=1))
    args = ["mapper", str(pts), "--resolution", "6", "--gain", "3", "--bootstrap", "0"]
    with pytest.warns(DeprecationWarning, match="--color-by is deprecated; use --colour-by"):
        assert main(args + ["--color-by", "theta", "--json", str(tmp_path / "old.json"),
                            "--html", str(tmp_path / "old.html")]) == 0
    assert "note: --color-by is deprecated; use --colour-by" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(args + ["--colour-by", "theta", "--json", str(tmp_path / "new.json"),
                            "--html", str(tmp_path / "new.html")]) == 0
    assert (tmp_path / "old.html").read_text() == (tmp_path / "new.html").read_text()
    # the page's data spells colour as the Python does
    page = (tmp_path / "new.html").read_text()
    data = json.loads(page.split('id="mapper-data">')[1].split("</script>")[0])
    assert {"colour", "colours"} <= set(data["nodes"][0]) and "color" not in data["nodes"][0]


def test_rows_of_an_earlier_version_come_back_under_todays_names():
    from cnntopo.verdict.table import upgrade_row

    old = {"layer": 1, "layer_name": "conv1.weight", "n_filtered": 40, "landmarks": 10,
           "skipped": "NaN weights"}
    assert upgrade_row(old) == {"layer": 1, "layer_name": "conv1", "n_kept": 40,
                                "n_landmarks": 10, "status": "skipped",
                                "reason": "NaN weights"}
    now = {"layer": 1, "layer_name": "conv1", "n_kept": 40, "status": "ok", "reason": None}
    assert upgrade_row(now) == now


# ------------------------------------------------------------------ one path, one answer

def test_one_layer_name_status_and_message_everywhere(tmp_path):
    from cnntopo.sources.filters import filters_from_source
    from cnntopo.verdict.layers import analyse_layers

    path = _weights(tmp_path)
    rows = cnntopo.describe_source(path, **FAST)
    assert [r["layer_name"] for r in rows] == ["a", "b"]
    assert [(r["status"], r["reason"]) for r in rows] == [("ok", None), ("ok", None)]
    assert filters_from_source(path, 1)[2]["layer_name"] == "a"
    results = analyse_layers(path, ["b.weight"], progress=False)   # a name, with .weight
    assert [r.row["layer"] for r in results] == [2]
    assert results[0].analysis.row["n_kept"] == results[0].row["n_kept"] == 400
    message = f"layer 3 does not exist: {path} has 2 conv layers (1 a, 2 b)."
    for call in (lambda: cnntopo.describe(path, layers=[3], progress=False),
                 lambda: analyse_layers(path, [3], progress=False),
                 lambda: filters_from_source(path, 3)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    import torch

    run = tmp_path_factory.mktemp("watched") / "run"
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 40, 3))
    w = cnntopo.Watcher(run, every=1)
    for step in range(3):
        with torch.no_grad():
            net[0].weight.copy_(torch.as_tensor(
                primary_circle_filters(40, seed=step, noise=0.05).reshape(40, 1, 3, 3)))
        w.step(net, step)
    w.close()
    return run


def test_one_default_checkpoint_the_last(watched):
    from cnntopo.training.readings import describe_run

    assert list(cnntopo.describe(watched, **FAST).iteration) == [2]
    assert [r["iteration"] for r in describe_run(watched, **FAST)] == [2]
    assert [r["iteration"] for r in cnntopo.describe_source(watched, iterations="all",
                                                            **FAST)] == [0, 1, 2]
    every = describe_run(watched, iterations="all", **FAST)
    assert [r["iteration"] for r in every] == [0, 1, 2]
    # the run's verdict rows are describe's rows
    assert every == cnntopo.describe_source(watched, iterations="all", **FAST)


def test_mapper_is_read_one_way_auto_and_bootstrap_kept(watched):
    from cnntopo.training.readings import describe_run, read_verdict

    rows = describe_run(watched, mapper=("auto", "auto", 4), **FAST)
    assert read_verdict(watched)["settings"]["mapper"] == ["auto", "auto", 4]
    assert rows[0]["nerve_confidence"] is not None and rows[0]["nerve_betti"] is not None
    with pytest.raises(ValueError, match="'mapper' parameter must be"):
        describe_run(watched, mapper=(10,), **FAST)


# ------------------------------------------------------------------ the JSON, read back

def test_the_describe_file_reads_back_as_the_frame(tmp_path, capsys):
    path = _weights(tmp_path)
    frame = cnntopo.describe(path, mapper=(6, 3, 3), **FAST)
    out = cnntopo.save_frame(frame, tmp_path / "frame.json")
    back = cnntopo.load_frame(out)
    assert back.equals(frame) and list(back.columns) == list(frame.columns)
    assert dict(back.dtypes) == dict(frame.dtypes) and back.attrs == json.loads(
        json.dumps(frame.attrs))
    # the CLI writes the same document with --json and --format json
    args = ["describe", str(path), "--landmarks", "10", "--resamples", "3", "--mapper",
            "6,3,3", "--quiet"]
    assert main(args + ["--format", "json", "--json", str(tmp_path / "cli.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "cli.json").read_text())
    assert printed == written and written["rows"] == json.loads(out.read_text())["rows"]
    assert cnntopo.load_frame(tmp_path / "cli.json").equals(frame)
    (tmp_path / "bad.json").write_text('{"rows": []}')
    with pytest.raises(ValueError, match="is not a 'cnntopo-describe/1' file"):
        cnntopo.load_frame(tmp_path / "bad.json")


# ------------------------------------------------------------------ the CLI's defaults

def test_the_cli_defaults_are_the_librarys():
    import inspect

    sub = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices[
        "describe"]._actions}
    lib = inspect.signature(cnntopo.describe).parameters
    assert sub["landmarks"].default == lib["n_landmarks"].default == "auto"
    assert sub["seed"].default == lib["seed"].default
    assert sub["k"].default is lib["k"].default is None
    assert sub["resamples"].default is lib["n_resamples"].default is None
    assert sub["jobs"].default is lib["n_jobs"].default is None
    assert sub["ray"].default is lib["ray"].default is None


# ------------------------------------------------------------------ model names

def test_a_model_name_resolves_to_what_is_cached_before_any_network(tmp_path, monkeypatch):
    from cnntopo.sources import downloads

    data = b"weights of the keras format"
    sha = downloads.hashlib.sha256(data).hexdigest()
    fake = {
        "tiny-pt": downloads.Artifact(name="tiny-pt", filename="tiny.pt",
                                      checksums=("sha256:" + "0" * 64,),
                                      urls=("https://example.invalid/tiny.pt",)),
        "tiny-keras": downloads.Artifact(name="tiny-keras", filename="tiny.h5",
                                         checksums=(f"sha256:{sha}",), format="keras-h5"),
    }
    monkeypatch.setattr(downloads, "ARTIFACTS", {**downloads.ARTIFACTS, **fake})
    monkeypatch.setattr(downloads, "MODELS", {**downloads.MODELS,
                                              "tiny": {"torchvision": "tiny-pt",
                                                       "keras": "tiny-keras"}})
    (tmp_path / "tiny.h5").write_bytes(data)
    opened = []

    def opener(url, headers):
        opened.append(url)
        raise OSError("offline")

    got = downloads.resolve_model("tiny", dest=tmp_path, opener=opener, progress=False)
    assert (got.artifact.name, got.source, got.path) == ("tiny-keras", "cache",
                                                          tmp_path / "tiny.h5")
    assert opened == []                      # no URL was tried first
    # a named format is that format alone: not cached, so fetched, and its failure says so
    with pytest.raises(downloads.DownloadError, match="Could not get tiny-pt"):
        downloads.resolve_model("tiny", "torchvision", dest=tmp_path, opener=opener,
                                progress=False)
    assert opened == ["https://example.invalid/tiny.pt"]


def test_vgg16_by_name_uses_the_cached_file_and_says_which(capsys):
    """``cnntopo ... vgg16`` offline with VGG16 in the cache (here the ONNX fallback of
    vgg16-keras): no URL is tried, and the command names the file."""
    from conftest import missing_asset

    from cnntopo.sources.downloads import cached

    hit = next((h for h in (cached("vgg16"), cached("vgg16-keras")) if h is not None), None)
    if hit is None:
        missing_asset("no VGG16 in any format in the download cache", required=False)
    assert main(["filters", "vgg16", "--list"]) == 0
    out = capsys.readouterr()
    assert f"note: vgg16: using {hit.path} ({hit.artifact.name}, from cache)" in out.err
    assert "13 conv layers" in out.out
