"""Accuracy side of CIMNAS: elastic supernet, quantization-aware evaluation, accuracy predictors.

Submodules importing torch (supernet, quant, train, histograms) are imported lazily; the
predictor (:mod:`cimkit.accuracy.predictor`) and the genome encoding need only numpy, so a search
can score genomes without importing torch. See docs/accuracy.md.
"""

from cimkit.accuracy.encoding import Genome, random_genomes

__all__ = ["Genome", "random_genomes"]
