"""Run tda-mapper 0.12 on saved points and lens values; print one JSON line.

Called by bench_mapper.py with tda-mapper's own interpreter (its venv, NumPy < 2):

    /work/venvs/tdamapper/bin/python benchmarks/_tdamapper_run.py IN.npz ALGORITHM

IN.npz holds ``points`` (already VNE-scaled), ``lens``, ``resolution``, ``overlap`` and
``height``; ALGORITHM is tda-mapper's cubical cover algorithm, "standard" or "proximity".
The clusterer is scikit-learn's single linkage cut at ``height`` (distance_threshold).
"""

import json
import sys
import time
import warnings

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from tdamapper.cover import CubicalCover
from tdamapper.learn import MapperAlgorithm


def main():
    path, algorithm = sys.argv[1], sys.argv[2]
    data = np.load(path)
    X, lens = data["points"], data["lens"]
    cover = CubicalCover(n_intervals=int(data["resolution"]), overlap_frac=float(data["overlap"]),
                         algorithm=algorithm)
    clustering = AgglomerativeClustering(n_clusters=None, linkage="single",
                                         distance_threshold=float(data["height"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap_frac > 0.5 is "expected to be <= 0.5"
        t0 = time.perf_counter()
        graph = MapperAlgorithm(cover=cover, clustering=clustering, verbose=False,
                                n_jobs=1).fit_transform(X, lens)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "nodes": graph.number_of_nodes(),
                      "links": graph.number_of_edges()}))


if __name__ == "__main__":
    main()
