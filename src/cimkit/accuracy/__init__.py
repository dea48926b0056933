"""Accuracy side of CIMNAS: elastic supernet, quantization-aware evaluation, accuracy predictors.

Submodules importing torch (supernet, quant, train, histograms) are imported lazily; the
predictor (:mod:`cimkit.accuracy.predictor`) and the genome encoding need only numpy, so a search
can score genomes without importing torch. See docs/accuracy.md. ``Genome`` and
``random_genomes`` are imported on first use, so ``cimkit --help`` does not load numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cimkit.accuracy.encoding import Genome, random_genomes


def __getattr__(name: str) -> Any:
    if name in ("Genome", "random_genomes"):
        value = getattr(importlib.import_module("cimkit.accuracy.encoding"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cimkit.accuracy' has no attribute {name!r}")


__all__ = ["Genome", "random_genomes"]
