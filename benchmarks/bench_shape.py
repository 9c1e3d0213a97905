"""Cost of the shape verdict (H0-H2 over Z/2 and Z/3) against today's significance test.

Issue 23's budget: the verdict with H2 over both fields costs at most 2x the one-field test
(``significant_bars``, H0 and H1 over Z/2, what the verdict ran before) on the same cloud.
Three clouds: 2,000 points of the Klein-bottle model (patch space, noise 0.02, no density
filtration), VGG16 layer 5 (32,768 filters -> 9,830 points at rho(100, 0.3)) and layer 13
(262,144 -> 78,643). Both tests at their defaults (100 landmarks, 20 resamples, 99 null
resamples); "cold": the null cache emptied (null clouds drawn, filtered and read), "warm":
the null maxima in memory. Times are the CPU seconds of this process (the tests run on one
thread), so the ratio holds on a shared machine; wall times there count the other jobs too.
The two-field test runs with each engine of its second field and H2 (ripser.py, always
there; giotto-ph, the bench extra).

    python benchmarks/bench_shape.py                    # all three clouds
    python benchmarks/bench_shape.py --clouds klein     # the 2,000 points only
"""

from __future__ import annotations

import argparse
import os
import time


def clouds(names):
    from cnntopo.cloud.prepare import prepare_points
    from cnntopo.topology.shape_samples import sample_shape

    out = []
    if "klein" in names:
        prep = prepare_points(sample_shape("Klein bottle", 2000, noise=0.02, seed=0))
        out.append(("Klein bottle, 2,000 points", prep, None))
    layers = [n for n in names if n.startswith("vgg16-")]
    if layers:
        from cnntopo.sources.downloads import resolve_model
        from cnntopo.sources.filters import filters_from_source

        path = resolve_model("vgg16", progress=False).path
        for name in layers:
            layer = int(name.split("-")[1])
            prep = prepare_points(filters_from_source(path, layer)[0], k=100, p=0.3)
            out.append((f"VGG16 layer {layer}, rho(100, 0.3)", prep, (100, 0.3)))
    return out


def _timed(fn):
    """(result, CPU seconds of this process): on a shared machine the CPU time, unlike the
    wall time, does not count the other jobs' turns."""
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds", default="klein,vgg16-5,vgg16-13",
                        help="comma-separated: klein, vgg16-N (default: %(default)s)")
    parser.add_argument("--engines", default="ripser,giotto-ph",
                        help="engines of the two-field test's second field and H2")
    args = parser.parse_args(argv)

    from cnntopo.topology.significance import (
        NULL_CACHE,
        significant_bars,
        significant_bars_fields,
    )

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print("CPU seconds of this process (time.process_time)")
    print("| cloud | points | engine | one field cold (s) | two fields cold (s) | ratio | one "
          "field warm (s) | two fields warm (s) | ratio | Z/2 b | Z/3 b |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, prep, density in clouds(args.clouds.split(",")):
        kw = {"density": density, "n_input": prep.n_points, "cache_dir": None}
        one = lambda: significant_bars(prep.points, 100, **kw)  # noqa: E731
        NULL_CACHE.clear()
        _, one_cold = _timed(one)
        _, one_warm = _timed(one)
        for engine in args.engines.split(","):
            def two(engine=engine):
                return significant_bars_fields(prep.points, 100, engine=engine, **kw)

            NULL_CACHE.clear()
            res, two_cold = _timed(two)
            _, two_warm = _timed(two)
            print(f"| {label} | {prep.n_kept:,} | {engine} | {one_cold:.1f} | {two_cold:.1f} | "
                  f"{two_cold / one_cold:.2f} | {one_warm:.1f} | {two_warm:.1f} | "
                  f"{two_warm / one_warm:.2f} | {tuple(res.betti(2))} | {tuple(res.betti(3))} |",
                  flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
