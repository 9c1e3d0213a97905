"""One cache folder for everything (``~`` expanded), and a bounded in-memory result cache."""

import numpy as np

from cnntopo import caches
from cnntopo.caches import ResultCache, cache_dir
from cnntopo.sources import downloads
from cnntopo.topology.significance import NULL_CACHE, significant_bars


def test_a_tilde_in_cnntopo_cache_means_home_for_downloads_and_significance(
        tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CNNTOPO_CACHE", "~/x")
    monkeypatch.chdir(work)
    assert cache_dir() == home / "x"
    assert downloads.cached("vgg16") is None  # looks in home/x, finds nothing
    NULL_CACHE.clear()
    rng = np.random.default_rng(0)
    significant_bars(rng.normal(size=(60, 3)), 10, n_resamples=2, n_null=19, alpha=0.05)
    written = list((home / "x" / "significance").glob("null-*.json"))
    assert len(written) == 1
    assert not (work / "~").exists()  # the bug this guards: a folder literally named "~"


def test_result_cache_forgets_the_least_recently_used(tmp_path):
    cache = ResultCache("t", "v", prefix="r", maxsize=2)
    for i in range(3):
        cache.put({"i": i}, [i])
    assert cache.get({"i": 0}) is None            # evicted from memory, no folder given
    assert cache.get({"i": 2}).tolist() == [2.0]
    cache.put({"i": 5}, [5.0, 6.0], tmp_path)
    cache.clear()
    np.testing.assert_array_equal(cache.get({"i": 5}, tmp_path), [5.0, 6.0])  # from disk
    assert cache.get({"i": 6}, tmp_path) is None


def test_a_damaged_cache_file_is_recomputed_not_an_error(tmp_path):
    cache = ResultCache("t", "v", prefix="r")
    cache.put({"a": 1}, [1.0], tmp_path)
    (path,) = (tmp_path / "t").glob("r-*.json")
    path.write_text("{half a fi")
    cache.clear()
    assert cache.get({"a": 1}, tmp_path) is None
    assert caches.CACHE_ENV == "CNNTOPO_CACHE"
