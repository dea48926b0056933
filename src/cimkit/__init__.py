"""cimkit: co-design neural networks with compute-in-memory hardware.

The public API in one import::

    import cimkit
    chip = cimkit.load_chip("examples/chips/rram_baseline.yaml")
    wl = cimkit.get_network("mobilenetv2")
    result = cimkit.evaluate(chip, wl)
"""

from cimkit.cost import DesignTable, Evaluation, evaluate
from cimkit.errors import CimkitError, InfeasibleDesignError, SpecError, WorkloadError
from cimkit.specs import ChipSpec, load_chip, save_chip
from cimkit.workload import Layer, LayerArrays, LayerHistogram, Workload, make_layer

__version__ = "0.1.0"


def get_network(name: str, **kwargs: object) -> Workload:
    """A built-in network by name (see ``cimkit networks``)."""
    from cimkit.workload.builtin import get_network as _get

    return _get(name, **kwargs)


__all__ = [
    "ChipSpec",
    "CimkitError",
    "DesignTable",
    "Evaluation",
    "InfeasibleDesignError",
    "Layer",
    "LayerArrays",
    "LayerHistogram",
    "SpecError",
    "Workload",
    "WorkloadError",
    "evaluate",
    "get_network",
    "load_chip",
    "make_layer",
    "save_chip",
]
