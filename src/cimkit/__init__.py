"""cimkit: co-design neural networks with compute-in-memory hardware.

The public API in one import::

    import cimkit
    chip = cimkit.load_chip("examples/chips/rram_baseline.yaml")
    wl = cimkit.get_network("mobilenetv2")
    result = cimkit.evaluate(chip, wl)

The names are imported on first use (PEP 562 ``__getattr__``): ``import cimkit`` and every
``cimkit.<subpackage>`` import stay cheap, so ``cimkit --help`` does not load pandas or the cost
model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module it lives in (imported when the name is first used).
_LAZY = {
    "DesignTable": "cimkit.cost",
    "Evaluation": "cimkit.cost",
    "evaluate": "cimkit.cost",
    "CimkitError": "cimkit.errors",
    "InfeasibleDesignError": "cimkit.errors",
    "SpecError": "cimkit.errors",
    "WorkloadError": "cimkit.errors",
    "ChipSpec": "cimkit.specs",
    "load_chip": "cimkit.specs",
    "save_chip": "cimkit.specs",
    "Layer": "cimkit.workload",
    "LayerArrays": "cimkit.workload",
    "LayerHistogram": "cimkit.workload",
    "Workload": "cimkit.workload",
    "make_layer": "cimkit.workload",
}

if TYPE_CHECKING:  # static checkers and IDEs see the eager imports
    from cimkit.cost import DesignTable, Evaluation, evaluate
    from cimkit.errors import CimkitError, InfeasibleDesignError, SpecError, WorkloadError
    from cimkit.specs import ChipSpec, load_chip, save_chip
    from cimkit.workload import Layer, LayerArrays, LayerHistogram, Workload, make_layer


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cimkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
