"""cnntopo: the topology of convolutional neural networks.

Spatial filters of conv layers become points; after normalising and density
filtration they are read through lazy witness barcodes and Mapper graphs
(Gabrielsson & Carlsson, 2018).

The names below are imported on first use, so ``import cnntopo`` stays cheap and
does not pull in PyTorch until a training or weights function is asked for.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "pointcloud": ("normalise", "knn_distance", "density_filter", "validate_points"),
    "homology": ("maxmin_landmarks", "lazy_witness_filtration", "lazy_witness_barcodes",
                 "long_bars", "WitnessBarcodes"),
    "significance": ("significant_bars", "SignificantBars"),
    "mapper": ("pca_lens", "cover_intervals", "variance_normalise", "single_linkage_gap",
               "mapper_graph", "to_networkx"),
    "nerve": ("nerve_betti",),
    "describe": ("describe_cloud", "describe_source", "verdict_row", "reading"),
    "klein": ("primary_circle_coordinates", "primary_circle_fraction", "klein_coordinates",
              "klein_readings", "KleinReadings", "angular_coverage", "klein_histogram"),
    "layout": ("mapper_layout", "MapperLayout", "node_positions", "mean_filters",
               "choose_thumbnail_nodes"),
    "node_colours": ("node_colours", "node_colours_from_values", "node_colourings",
                     "NodeColours"),
    "records": ("barcodes_record", "mapper_record"),
    "patches": ("natural_patches",),
    "pipeline": ("load_points", "prepare_points"),
    "filters": ("spatial_filters", "filter_meta", "filters_from_source", "load_state_dict"),
    "weights": ("read_weights",),
    "downloads": ("fetch",),
    "plots": ("plot_barcodes", "plot_mapper", "plot_evolution_grid", "plot_klein_density"),
    "graph_html": ("write_mapper_html",),
    "train": ("TrainConfig", "train", "load_checkpoint"),
    "pretrained": ("vgg", "load_vgg_weights", "efficientnet_lite0_conv3x3"),
    "data": ("load_mnist", "load_cifar10", "download_cifar10"),
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
