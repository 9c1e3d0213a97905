"""Readings of a point cloud: lazy witness barcodes and their significance, Mapper (lenses,
cover, graph, layout), the nerve's Betti numbers, Klein-bottle and primary-circle readings.

Nothing here draws: plotting lives in :mod:`cnntopo.viz`."""
