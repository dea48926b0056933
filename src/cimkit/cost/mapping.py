"""Mapping of layers onto crossbars: array counts, replication, cycles. Pure numpy over (N, L).

Weights of a layer form, per convolution group, a matrix of ``rows_b = C/g * R * S`` rows by
``cols_b = K/g * ceil(weight_bits / bits_per_cell)`` columns (weight bits sliced over adjacent
cells, offset-encoded). A group block that fits in one crossbar is packed block-diagonally with
other groups of the same layer (how depthwise convs are mapped); a larger block is tiled over
``ceil(rows_b / rows) * ceil(cols_b / cols)`` crossbars. One crossbar is one macro.

Time: each input vector (one output position) is applied in
``ceil(act_bits / input_bits_per_cycle)``
bit-serial slices; per slice an analog macro needs as many ADC conversion steps as columns share
an ADC (only used columns are converted); a digital macro needs one cycle.

Replication (weight-stationary only): crossbars left after mapping every layer once are given to
layers as extra copies, which split the layer's input vectors. Copies follow the optimum of
minimizing sum_l t_l / r_l subject to sum_l x_l (r_l - 1) <= spare, i.e. r_l - 1 proportional to
sqrt(t_l / x_l), floored so the budget is never exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimkit.workload.table import OP_CODE, LayerArrays

XBAR_OPS = np.array([OP_CODE[o] for o in ("conv", "dwconv", "pwconv", "linear")])


def ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ceil(a / b) for non-negative int arrays."""
    return -(-a // b)


@dataclass(frozen=True)
class Mapping:
    """Per design x layer mapping, every array of shape (n, L).

    Attributes:
        on_xbar: layer runs on crossbars (conv, dwconv, pwconv, linear, not masked).
        weight_slices: cells per weight, ceil(weight_bits / bits_per_cell).
        input_slices: bit-serial input cycles per vector, ceil(act_bits / input_bits_per_cycle).
        rows_b, cols_b: rows and columns of one group's weight block.
        row_tiles, col_tiles: crossbars a block spans vertically / horizontally.
        pack: groups sharing a crossbar's rows when blocks are packed (1 when tiled).
        xbars: crossbars holding one copy of the layer's weights.
        vectors: input vectors per inference (output positions x repeat).
        steps: ADC conversion steps per input slice (1 for digital).
        cycles_per_vector: input_slices x steps.
        weight_cells: programmed cells (weights x weight_slices).
        conversions_per_slice: readouts per input slice and vector (ADC conversions for analog
            macros, adder-tree outputs for digital ones).
    """

    on_xbar: np.ndarray
    weight_slices: np.ndarray
    input_slices: np.ndarray
    rows_b: np.ndarray
    cols_b: np.ndarray
    row_tiles: np.ndarray
    col_tiles: np.ndarray
    pack: np.ndarray
    xbars: np.ndarray
    vectors: np.ndarray
    steps: np.ndarray
    cycles_per_vector: np.ndarray
    weight_cells: np.ndarray
    conversions_per_slice: np.ndarray


def map_layers(d: dict[str, np.ndarray], la: LayerArrays) -> Mapping:
    """Map every layer of ``la`` (shape (B, L), B in {1, n}) onto designs ``d`` ((n, 1) arrays)."""
    bpc = d["bits_per_cell"].astype(np.int64)
    xr = d["rows"].astype(np.int64)
    xc = d["cols"].astype(np.int64)
    dac = d["input_bits_per_cycle"].astype(np.int64)
    analog = d["macro_kind"] == 0

    on_xbar = np.isin(la.op, XBAR_OPS) & la.mask
    # Padded (masked) slots hold zeros; clamp so they map to nothing without dividing by zero.
    g = np.maximum(la.groups, 1)
    ws = ceil_div(np.maximum(la.weight_bits, 1), bpc)
    inp = ceil_div(np.maximum(la.act_bits, 1), dac)
    rows_b = (la.in_channels // g) * la.kernel_h * la.kernel_w
    cols_b = (la.out_channels // g) * ws
    row_tiles = ceil_div(rows_b, xr)
    col_tiles = ceil_div(cols_b, xc)
    fits = (row_tiles == 1) & (col_tiles == 1)
    per_xbar = np.where(
        fits, np.minimum(xr // np.maximum(rows_b, 1), xc // np.maximum(cols_b, 1)), 1
    )
    per_xbar = np.maximum(per_xbar, 1)
    pack = np.minimum(per_xbar, g)
    xbars = np.where(on_xbar, ceil_div(g, per_xbar) * row_tiles * col_tiles, 0)
    vectors = np.where(la.mask, la.out_h * la.out_w * la.repeat, 0)

    # Columns a crossbar actually converts: packed blocks side by side, or an even share of a tile.
    # With analog weight-bit combining, one conversion reads all bit-columns of a weight.
    used_cols = np.where(fits, pack * cols_b, cols_b / np.maximum(col_tiles, 1))
    combined = d["combine_weight_bits"] > 0
    units = np.where(combined, used_cols / ws, used_cols)
    n_adc = ceil_div(xc, d["cols_per_adc"].astype(np.int64))
    max_steps = np.where(combined, np.maximum(d["cols_per_adc"] // ws, 1), d["cols_per_adc"])
    steps = np.where(analog, np.clip(np.ceil(units / n_adc), 1, max_steps), 1.0).astype(np.int64)
    conversions_per_slice = np.where(
        on_xbar, g * np.where(combined & analog, la.out_channels // g, cols_b) * row_tiles, 0
    )
    cycles = inp * steps
    weight_cells = np.where(on_xbar, la.weights * ws, 0)
    return Mapping(
        on_xbar=on_xbar,
        weight_slices=ws,
        input_slices=inp,
        rows_b=rows_b,
        cols_b=cols_b,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        pack=pack,
        xbars=xbars,
        vectors=vectors,
        steps=steps,
        cycles_per_vector=np.where(on_xbar, cycles, 0),
        weight_cells=weight_cells,
        conversions_per_slice=conversions_per_slice,
    )


def replicate(m: Mapping, spare: np.ndarray) -> np.ndarray:
    """Copies per layer (n, L) >= 1 using at most ``spare`` (n,) extra crossbars per design."""
    t = (m.vectors * m.cycles_per_vector).astype(np.float64)
    x = m.xbars.astype(np.float64)
    share = np.sqrt(t * x)  # x_l * sqrt(t_l / x_l)
    total = share.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(x > 0, np.floor(spare[:, None] * np.sqrt(t / x) / total), 0.0)
    extra = np.nan_to_num(extra, nan=0.0, posinf=0.0)
    r = 1 + extra.astype(np.int64)
    return np.minimum(r, np.maximum(m.vectors, 1))
