"""MRAM near-memory-compute (NMC) macro engine, as H4H-NAS describes it (§3.2, §6.3).

Geometry from the paper: 10 Mb of STT-MRAM per macro; one operation of one compute unit (CU)
computes 16 accumulations of 9 products of 8-bit inputs and 8-bit weights (144 MACs); area
0.9 mm^2 of memory + 0.15 mm^2 of compute; each further CU adds 14 % of the macro's area.

Mapping (cimkit's reading, docs/h4h-hardware.md):

* weights are stored in *words* of 16 output lanes x 9 reduction taps (144 weights, the operand
  of one operation): a layer's CIM share of ``c`` output channels and a reduction of ``K``
  (``c_in / groups x kh x kw``) occupies ``ceil(c / 16) x ceil(K / 9)`` words. A macro holds
  ``floor(capacity_bits / 8 / 144)`` words. Weights stay resident: the words of every layer's
  CIM share must fit together (the partitioner's capacity constraint).
* words are spread evenly over the macros; a macro's CUs work on different output positions
  with the same weight word (one weight read serves all its CUs). Time =
  ``ceil(words / macros) x ceil(positions / CUs) x t_op`` for layers whose inputs are shared by
  the 16 lanes (conv, pointwise, fully connected).
* a depthwise 3x3 operation needs 9 distinct inputs per lane (144 input bytes); the macro's input
  port delivers 144 bytes per operation, so several CUs on depthwise are input-bound. Input
  de-duplication (the IFMP controller) lets N CUs computing N adjacent outputs of a row read
  ``k (N + k - 1)`` inputs per lane instead of ``k^2 N`` (3(N+2) vs 9N for 3x3: read reduction
  1 - (N+2)/(3N), -> 2/3), which is the depthwise time and input-read energy.
"""

from __future__ import annotations

import numpy as np

#: Paper's geometry (H4H-NAS §3.2, §6.3).
CAPACITY_BITS = 10 * 2**20
LANES = 16
TAPS = 9
MACS_PER_OP = LANES * TAPS
MEMORY_AREA_MM2 = 0.9
COMPUTE_AREA_MM2 = 0.15
CU_AREA_OVERHEAD = 0.14
WEIGHT_BITS = 8
#: Weight words (16 x 9 weights of 8 bits) one macro stores.
WORDS_PER_MACRO = CAPACITY_BITS // (WEIGHT_BITS * MACS_PER_OP)
#: Input bytes the macro's input port delivers per operation period (one CU's need on a
#: depthwise 3x3 operation without de-duplication: 16 lanes x 9 taps x 8 bits).
INPUT_PORT_BYTES_PER_OP = LANES * TAPS


def macro_area_mm2(n_cu: np.ndarray | int) -> np.ndarray:
    """Area of one macro with ``n_cu`` compute units, mm^2: 1.05 x (1 + 0.14 (n_cu - 1))."""
    n = np.asarray(n_cu, dtype=np.float64)
    return (MEMORY_AREA_MM2 + COMPUTE_AREA_MM2) * (1.0 + CU_AREA_OVERHEAD * (n - 1.0))


def weight_words(channels: np.ndarray, reduction: np.ndarray) -> np.ndarray:
    """Words of 16 x 9 weights for ``channels`` output channels of reduction length
    ``reduction`` (per output channel): ceil(c / 16) x ceil(K / 9); 0 where c = 0."""
    c = np.asarray(channels, dtype=np.float64)
    k = np.asarray(reduction, dtype=np.float64)
    return np.ceil(c / LANES) * np.ceil(k / TAPS)


def dedup_read_factor(n_adjacent: np.ndarray | int, kernel: np.ndarray | int = 3) -> np.ndarray:
    """Inputs read per lane for N adjacent outputs of a k x k window, relative to no reuse:
    k (N + k - 1) / (k^2 N). 1 for N = 1; 3 (N + 2) / 9N for 3x3 (-> 1/3, a 2/3 reduction)."""
    n = np.asarray(n_adjacent, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    return k * (n + k - 1.0) / (k * k * n)


def op_count(channels: np.ndarray, reduction: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Operations (144-MAC each) of ``channels`` outputs at ``positions`` output positions."""
    return weight_words(channels, reduction) * np.asarray(positions, dtype=np.float64)


def compute_time_s(
    channels: np.ndarray,
    reduction: np.ndarray,
    positions: np.ndarray,
    depthwise: np.ndarray,
    kernel: np.ndarray,
    macros: np.ndarray,
    n_cu: np.ndarray,
    t_op_s: np.ndarray,
    dedup: np.ndarray,
) -> np.ndarray:
    """Compute time of a CIM share (broadcast over designs and layers), s.

    ``ceil(words / macros) x ceil(positions / CUs) x t_op`` x the input-port factor of depthwise
    layers: ``max(1, CUs x r)`` where ``r`` is :func:`dedup_read_factor` of the CUs' adjacent
    outputs (1 without de-duplication). 0 where ``channels`` = 0 (and inf with no macros).
    """
    words = weight_words(channels, reduction)
    m = np.asarray(macros, dtype=np.float64)
    cu = np.asarray(n_cu, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_macro = np.ceil(words / m)
    steps = np.ceil(np.asarray(positions, dtype=np.float64) / cu)
    r = np.where(np.asarray(dedup, dtype=bool), dedup_read_factor(cu, kernel), 1.0)
    port = np.where(np.asarray(depthwise, dtype=bool), np.maximum(1.0, cu * r), 1.0)
    t = per_macro * steps * port * np.asarray(t_op_s, dtype=np.float64)
    return np.where(words > 0, t, 0.0)
