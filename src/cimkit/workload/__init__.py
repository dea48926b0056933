"""Networks as layer tables: built-in generators, PyTorch (torch.fx) and ONNX importers."""

from cimkit.workload.histograms import LayerHistogram
from cimkit.workload.layer import LAYER_COLUMNS, MAC_OPS, NON_MAC_OPS, OPS, Layer, make_layer
from cimkit.workload.table import LayerArrays, Workload

__all__ = [
    "LAYER_COLUMNS",
    "MAC_OPS",
    "NON_MAC_OPS",
    "OPS",
    "Layer",
    "LayerArrays",
    "LayerHistogram",
    "Workload",
    "make_layer",
]
