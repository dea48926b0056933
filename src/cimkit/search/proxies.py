"""A smooth proxy accuracy for tests and benchmarks that must not depend on the shipped predictor.

Not a model of any data set: it only orders genomes plausibly (deeper, wider, larger kernels and
more bits score higher) so the search machinery can be exercised and timed deterministically.
Reports that use it must say so (the benchmark labels its output "STUB accuracy").
"""

from __future__ import annotations

from typing import Any

import numpy as np


def proxy_accuracy(values: dict[str, np.ndarray], space: Any) -> np.ndarray:
    """Accuracy in 0.6..0.8 (N,) from the genome columns ``values`` of ``space``'s model family."""
    d, k, e, b = space.family.predictor_inputs(values)
    return (
        0.6
        + 0.05 * (d.mean(1) - 2) / 2
        + 0.02 * (k.mean(1) - 3) / 4
        + 0.03 * (e.mean(1) - 3) / 3
        + 0.1 * (b.mean((1, 2)) - 4) / 4
    )
