"""cnntopo: the topology of convolutional neural networks.

Spatial filters of conv layers become points; after normalising and density
filtration they are read through lazy witness barcodes and Mapper graphs
(Gabrielsson & Carlsson, 2018).

The names below are imported on first use, so ``import cnntopo`` stays cheap: it loads
neither PyTorch nor matplotlib (tests/test_architecture.py). PyTorch comes with the functions
that need it (training, reading weights, and the lazy witness filtration, whose min-max
product runs on PyTorch's threaded kernels); matplotlib only with the drawing functions.

The package is laid out as the data flows, each stage importing only those before it:
``sources`` (weights, run directories, points files) -> ``cloud`` (normalise, density
filter) -> ``topology`` (barcodes, significance, Mapper, Klein-bottle readings) -> ``verdict``
(one analysis of a cloud, the verdict rows) -> ``training`` (the paper's nets, the Watcher)
-> ``integrations`` (Lightning and Keras callbacks, imported only when used) -> ``viz``
(figures, pages, report) -> ``experiments`` (the paper's figures) -> ``cli``.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "cloud.pointcloud": ("normalise", "knn_distance", "density_filter"),
    "validation": ("validate_points", "InputError"),
    "topology.witness": ("maxmin_landmarks", "lazy_witness_filtration", "lazy_witness_barcodes",
                 "long_bars", "WitnessBarcodes"),
    "topology.significance": ("significant_bars", "SignificantBars"),
    "topology.mapper": ("pca_lens", "cover_intervals", "variance_normalise", "single_linkage_gap",
               "mapper_graph", "to_networkx"),
    "topology.nerve": ("nerve_betti",),
    "topology.klein_filters": ("klein_filters", "circle_filters", "gabor_filters",
                               "klein_connectivity"),
    "topology.klein_grid": ("kernel_klein_readings", "random_fractions", "area_average"),
    "training.klein_layers": ("KleinConv2d", "klein_init_", "klein_connect_"),
    "verdict.analysis": ("analyse", "AnalysisSpec", "CloudAnalysis", "describe_cloud"),
    "verdict.layers": ("describe_source", "analyse_layers"),
    "verdict.frame": ("describe", "save_frame", "load_frame"),
    "verdict.table": ("verdict_row", "reading"),
    "verdict.results": ("save_result", "load_result"),
    "viz.draw": ("redraw",),
    "topology.klein": ("primary_circle_coordinates", "primary_circle_fraction", "klein_coordinates",
              "klein_readings", "KleinReadings", "angular_coverage", "klein_histogram"),
    "topology.layout": ("mapper_layout", "MapperLayout", "node_positions", "mean_filters",
               "choose_thumbnail_nodes"),
    "viz.colours": ("node_colours", "node_colours_from_values", "node_colourings",
                     "NodeColours"),
    "verdict.records": ("barcodes_record", "mapper_record"),
    "sources.patches": ("natural_patches",),
    "cloud.prepare": ("prepare_points",),
    "sources.filters": ("spatial_filters", "filter_meta", "filters_from_source", "load_state_dict"),
    "sources.arrays": ("load_points", "save_filters", "load_filters"),
    "sources.weights": ("read_weights",),
    "sources.downloads": ("fetch", "resolve_model"),
    "viz.plots": ("plot_barcodes", "plot_mapper", "plot_evolution_grid", "plot_klein_density"),
    "viz.graph_html": ("write_mapper_html",),
    "viz.notebook": ("show",),
    "training.loop": ("TrainConfig", "train", "load_checkpoint"),
    "training.watch": ("Watcher",),
    "training.readings": ("run_readings", "describe_run"),
    "viz.watch": ("plot_run_readings", "draw_run_grid", "write_run_report"),
    "sources.pretrained": ("vgg", "load_vgg_weights", "efficientnet_lite0_conv3x3"),
    "training.data": ("load_mnist", "load_cifar10", "download_cifar10"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnntopo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
