"""Per-layer value histograms and the bit statistics the data-dependent energy model needs.

As in CiMLoop, energy depends on the values a layer sees, not only its shape: a row driver fires
only for input bits that are 1, an analog cell draws current in proportion to its programmed
level, a digital adder tree toggles with the AND of input and weight bits. cimkit keeps, per layer,
a histogram of input activations and of weights on a normalized range, and derives from it, for
any quantization (bits) and slicing (bits per DAC cycle or per cell), the mean slice level.

Normalization: values are divided by the layer's clipping range (max |x|, or a calibrated clip), so
histograms live on [-1, 1] as mass at :data:`N_BINS` evenly spaced grid values (0 and +-1 among
them). Quantization to b bits rounds half up, as a hardware quantizer:
``q = floor(u * (2**b - 1) + 1/2)`` with ``u = x`` for unsigned data (all mass at x >= 0) and
offset encoding ``u = (x + 1) / 2`` for signed data. Slices of d bits are taken LSB first; a
slice's level is its value divided by its own maximum, so levels lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Histograms hold probability mass at N_BINS grid values spaced evenly over [-1, 1], both ends
# and 0 included, so exact zeros (ReLU outputs, pruned weights) quantize to 0 and full-scale
# values to all ones at every bit width. A sample counts toward its nearest grid value (EDGES are
# the midpoints).
N_BINS = 513
MAX_BITS = 16
MAX_SLICE = 8
CENTERS = np.linspace(-1.0, 1.0, N_BINS)
EDGES = np.concatenate(([-1.0], 0.5 * (CENTERS[:-1] + CENTERS[1:]), [1.0]))

#: Default distribution parameters (documented in docs/cost-model.md).
DEFAULT_RELU_ZERO_FRACTION = 0.5  # post-ReLU activations: about half are exactly zero
DEFAULT_CLIP_SIGMAS = 3.0  # clip range = 3 sigma for both activations and weights


def _normalize(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    total = p.sum()
    if total <= 0:
        raise ValueError("histogram has no mass")
    return p / total


def histogram_of(values: np.ndarray, clip: float | None = None) -> np.ndarray:
    """Normalized histogram (N_BINS,) of ``values / clip`` on [-1, 1] (clip defaults to max |x|)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    scale = float(np.max(np.abs(v))) if clip is None else float(clip)
    if not np.isfinite(scale) or scale <= 0:
        counts = np.zeros(N_BINS)
        counts[np.searchsorted(EDGES, 0.0, side="right") - 1] = 1.0
        return counts
    counts, _ = np.histogram(np.clip(v / scale, -1.0, 1.0), bins=EDGES)
    return _normalize(counts)


@dataclass(frozen=True, eq=False)
class LayerHistogram:
    """Input-activation and weight histograms of one layer, each shape (N_BINS,) on [-1, 1].

    Attributes:
        inputs: probability mass of normalized input activations.
        weights: probability mass of normalized weights (a delta at 0 for weightless layers).
        source: where the data came from (e.g. 'default', 'torch:resnet18 on 1 image').
    """

    inputs: np.ndarray
    weights: np.ndarray
    source: str = "measured"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _normalize(self.inputs))
        object.__setattr__(self, "weights", _normalize(self.weights))
        if self.inputs.shape != (N_BINS,) or self.weights.shape != (N_BINS,):
            raise ValueError(f"histograms must have shape ({N_BINS},)")

    @classmethod
    def from_values(
        cls, inputs: np.ndarray, weights: np.ndarray, source: str = "measured"
    ) -> LayerHistogram:
        """Histograms of raw (float) values, each normalized by its own max |x|."""
        return cls(histogram_of(inputs), histogram_of(weights), source)

    @classmethod
    def default(cls) -> LayerHistogram:
        """The documented default: post-ReLU half-normal inputs and Gaussian weights.

        Inputs: a point mass of 0.5 at zero plus a half-normal clipped at 3 sigma.
        Weights: a zero-mean normal clipped at 3 sigma (symmetric, signed).
        """
        return _default_histogram()

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean slice levels: (input_table, weight_table), each (MAX_BITS+1, MAX_SLICE+1).

        ``table[b, d]`` is the mean level in [0, 1] of d-bit slices of b-bit quantized values.
        Computed once per histogram and cached (histograms are immutable).
        """
        cached = self.__dict__.get("_tables")
        if cached is None:
            cached = (_slice_table(self.inputs), _slice_table(self.weights))
            object.__setattr__(self, "_tables", cached)
        return cached


@lru_cache(maxsize=1)
def _default_histogram() -> LayerHistogram:
    gauss = np.exp(-0.5 * (CENTERS * DEFAULT_CLIP_SIGMAS) ** 2)
    relu = np.where(CENTERS > 0, gauss, 0.0)
    relu = (1.0 - DEFAULT_RELU_ZERO_FRACTION) * relu / relu.sum()
    relu[np.searchsorted(EDGES, 0.0, side="right") - 1] += DEFAULT_RELU_ZERO_FRACTION
    return LayerHistogram(relu, gauss, source="default")


def _slice_table(p: np.ndarray) -> np.ndarray:
    """Mean slice level for every (bits, slice width); see module docstring for the encoding."""
    signed = bool(np.any(p[CENTERS < 0] > 0))
    u = (CENTERS + 1.0) / 2.0 if signed else np.clip(CENTERS, 0.0, 1.0)
    table = np.zeros((MAX_BITS + 1, MAX_SLICE + 1))
    for b in range(1, MAX_BITS + 1):
        q = np.floor(u * (2**b - 1) + 0.5).astype(np.int64)
        for d in range(1, MAX_SLICE + 1):
            levels = []
            for lo in range(0, b, d):
                width = min(d, b - lo)
                s = (q >> lo) & ((1 << width) - 1)
                levels.append(float(p @ s) / ((1 << width) - 1))
            table[b, d] = float(np.mean(levels))
    return table


def stack_tables(histograms: tuple[LayerHistogram, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Tables of all histograms: two arrays of shape (H, MAX_BITS+1, MAX_SLICE+1)."""
    tabs = [h.tables() for h in histograms]
    return np.stack([t[0] for t in tabs]), np.stack([t[1] for t in tabs])
