"""Mapping of layers onto crossbars: array counts, row groups, copies, cycles. Pure numpy.

Weights of a layer form, per convolution group, a matrix of ``rows_b = C/g * R * S`` rows by
``cols_b = K/g * ceil(weight_bits / bits_per_cell)`` columns (weight bits sliced over adjacent
cells, offset-encoded). A ``column_adder`` digital macro (a full adder in every bitcell, the sum
rippling down the rows, as in Colonnade) gives each weight ``ceil(log2(active_rows))`` more
columns that hold the growing sum (:func:`weight_columns`), and its output is already the whole
multi-bit product sum (no weight slices to merge). A group block that fits in one crossbar is
packed block-diagonally with other groups of the same layer (how depthwise convs are mapped); a
larger block is tiled over ``ceil(rows_b / rows) * ceil(cols_b / cols)`` crossbars. One crossbar
is one macro.

Inside a crossbar only ``active_rows`` rows are summed by one conversion (``macro.active_rows``;
all rows by default): a block taller than that is read in ``row_groups`` groups one after another,
and their partial sums are added digitally. A layer that needs fewer diagonal slots than a
crossbar has is *unrolled* in it: the free diagonal slots hold copies of the block that take
other input vectors in the same cycle (``copies``; its conversions still go through the shared
ADCs, so copies only help where converters are idle).

Time: each input vector (one output position) is applied in
``ceil(act_bits / input_bits_per_cycle)`` slices; ``slices_per_conversion`` of them are integrated
before one conversion. Per conversion window an analog macro needs as many ADC steps as columns
share an ADC (only used columns are converted); a digital macro needs one cycle.

All of this depends on the design only through its *mapping key* (:data:`KEY_PARAMS`), so
:func:`map_layers` is computed once per distinct key (``K`` rows), not once per design.

Replication (weight-stationary only): crossbars left after mapping every layer once are given to
layers as extra copies, which split the layer's input vectors. Copies follow the optimum of
minimizing sum_l t_l / r_l subject to sum_l x_l (r_l - 1) <= spare, i.e. r_l - 1 proportional to
sqrt(t_l / x_l), floored so the budget is never exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimkit.cost.constants import READOUTS
from cimkit.workload.table import OP_CODE, LayerArrays

XBAR_OPS = np.array([OP_CODE[o] for o in ("conv", "dwconv", "pwconv", "linear")])

#: Design parameters the mapping depends on (everything else enters as per-event costs).
KEY_PARAMS: tuple[str, ...] = (
    "rows",
    "cols",
    "active_rows",
    "bits_per_cell",
    "input_bits_per_cycle",
    "slices_per_conversion",
    "cols_per_adc",
    "combine_weight_bits",
    "macro_kind",
    "input_encoding",
    "readout",
    "pack_groups",
)


_COLUMN_ADDER = READOUTS.index("column_adder")


def ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ceil(a / b) for non-negative int arrays."""
    return -(-a // b)


def weight_columns(
    weight_slices: np.ndarray, readout: np.ndarray | None, active_rows: np.ndarray
) -> np.ndarray:
    """Columns one weight occupies (int array, broadcast shape of the inputs).

    Its ``weight_slices`` cells, plus for a ``column_adder`` readout ``ceil(log2(active_rows))``
    guard columns: the sum of ``active_rows`` products of a b-bit weight needs b + log2(rows)
    bits, and this macro keeps every bit of it in a column of the array (Colonnade: a weight of
    b bits takes b + 7 of the 128 columns). ``readout`` holds codes into READOUTS (None: none).
    """
    ws = np.asarray(weight_slices).astype(np.int64)
    if readout is None:
        return ws
    guard = np.ceil(np.log2(np.maximum(np.asarray(active_rows, dtype=np.float64), 1.0)))
    return ws + np.where(np.asarray(readout) == _COLUMN_ADDER, guard, 0.0).astype(np.int64)


def mapping_keys(d: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Distinct mapping keys of n designs: ((K, 1) key arrays, (n,) index of each design's key).

    Columns that are constant over the designs are skipped; the others are coded column by
    column and combined in mixed radix, so one 1-D ``np.unique`` finds the keys.
    """
    cols = [np.asarray(d[k], dtype=np.float64).reshape(-1) for k in KEY_PARAMS]
    n = len(cols[0])
    code = np.zeros(n, dtype=np.int64)
    for col in cols:
        if n and (col == col[0]).all():
            continue
        values, inv = np.unique(col, return_inverse=True)
        code = code * len(values) + inv.reshape(-1)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    keys = {k: col[first][:, None] for k, col in zip(KEY_PARAMS, cols, strict=True)}
    return keys, inverse.reshape(-1)


@dataclass(frozen=True)
class Mapping:
    """Per key x layer mapping, every array of shape (K, L) (or broadcastable to it).

    Attributes:
        on_xbar: layer runs on crossbars (conv, dwconv, pwconv, linear, not masked).
        weight_slices: cells per weight, ceil(weight_bits / bits_per_cell).
        input_slices: input slices per vector, ceil(act_bits / input_bits_per_cycle).
        windows: conversion windows per vector, ceil(input_slices / slices_per_conversion).
        rows_b, cols_b: rows and columns of one group's weight block.
        row_tiles, col_tiles: crossbars a block spans vertically / horizontally.
        row_groups: activations of ``active_rows`` rows needed to read one block's rows.
        pack: groups sharing a crossbar's rows when blocks are packed (1 when tiled).
        copies: input vectors one crossbar set serves at once (unrolled block copies).
        xbars: crossbars holding one copy of the layer's weights.
        vectors: input vectors per inference (output positions x repeat).
        steps: cycles per conversion window: ADC steps over all row groups (row groups for
            digital macros).
        cycles_per_vector: windows x steps (cycles of one crossbar set per vector).
        weight_cells: programmed cells (weights x weight_slices).
        conversions_per_window: readouts per window and vector (ADC conversions for analog
            macros, adder-tree outputs for digital ones).
        partials: digital partial values merged per output (windows x row groups x weight slices
            not combined in analog); shift-and-add work is ``outputs x (partials - 1)``.
    """

    on_xbar: np.ndarray
    weight_slices: np.ndarray
    input_slices: np.ndarray
    windows: np.ndarray
    rows_b: np.ndarray
    cols_b: np.ndarray
    row_tiles: np.ndarray
    col_tiles: np.ndarray
    row_groups: np.ndarray
    pack: np.ndarray
    copies: np.ndarray
    xbars: np.ndarray
    vectors: np.ndarray
    steps: np.ndarray
    cycles_per_vector: np.ndarray
    weight_cells: np.ndarray
    conversions_per_window: np.ndarray
    partials: np.ndarray


def map_layers(d: dict[str, np.ndarray], la: LayerArrays) -> Mapping:
    """Map every layer of ``la`` ((B, L), B in {1, K}) onto keys/designs ``d`` ((K, 1) arrays)."""
    bpc = d["bits_per_cell"].astype(np.int64)
    xr = d["rows"].astype(np.int64)
    xc = d["cols"].astype(np.int64)
    active = np.asarray(d.get("active_rows", d["rows"])).astype(np.int64)
    dac = d["input_bits_per_cycle"].astype(np.int64)
    spc = np.asarray(d.get("slices_per_conversion", np.ones_like(xr))).astype(np.int64)
    analog = d["macro_kind"] == 0
    readout = d.get("readout")
    # Sum kept in the array: no weight slices to merge after the readout (column_adder).
    in_array = np.zeros_like(analog) if readout is None else readout == _COLUMN_ADDER

    on_xbar = np.isin(la.op, XBAR_OPS) & la.mask
    # Padded (masked) slots hold zeros; clamp so they map to nothing without dividing by zero.
    g = np.maximum(la.groups, 1)
    ws = ceil_div(np.maximum(la.weight_bits, 1), bpc)
    inp = ceil_div(np.maximum(la.act_bits, 1), dac)
    windows = ceil_div(inp, spc)
    rows_b = (la.in_channels // g) * la.kernel_h * la.kernel_w
    cols_b = (la.out_channels // g) * weight_columns(ws, readout, active)
    row_tiles = ceil_div(rows_b, xr)
    col_tiles = ceil_div(cols_b, xc)
    fits = (row_tiles == 1) & (col_tiles == 1)
    slots = np.where(fits, np.minimum(xr // np.maximum(rows_b, 1), xc // np.maximum(cols_b, 1)), 1)
    slots = np.maximum(slots, 1)
    # Without group packing a grouped layer's blocks each take crossbars of their own.
    no_pack = (np.asarray(d.get("pack_groups", np.ones_like(xr))) == 0) & (g > 1)
    slots = np.where(no_pack, 1, slots)
    pack = np.minimum(slots, g)
    # Free diagonal slots of a layer with fewer groups than slots hold copies of its blocks.
    copies = np.where(fits & on_xbar, np.maximum(slots // g, 1), 1)
    xbars = np.where(on_xbar, ceil_div(g, slots) * row_tiles * col_tiles, 0)
    vectors = np.where(la.mask, la.out_h * la.out_w * la.repeat, 0)
    combined = (d["combine_weight_bits"] > 0) & analog
    n_adc = ceil_div(xc, d["cols_per_adc"].astype(np.int64))
    max_steps = np.where(combined, np.maximum(d["cols_per_adc"] // ws, 1), d["cols_per_adc"])
    # Each column is converted once per row group that holds rows of its block.
    block_groups = ceil_div(np.maximum(np.minimum(rows_b, xr), 1), active)

    def layout(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row groups, cycles per window) of one crossbar holding ``k`` copies of its blocks.

        Rows: packed blocks (and copies) sit on distinct rows, read ``active_rows`` at a time.
        Columns converted: blocks side by side, or an even share of a tile; with analog
        weight-bit combining one conversion reads all bit-columns of a weight. Steps: the
        crossbar's conversions over its ADCs, at least one cycle and at most cols_per_adc steps
        per row group (a digital macro reads all columns each cycle).
        """
        rows_in_xbar = np.where(fits, pack * k * rows_b, np.minimum(rows_b, xr))
        groups = np.where(on_xbar, ceil_div(np.maximum(rows_in_xbar, 1), active), 1)
        used_cols = np.where(fits, pack * k * cols_b, cols_b / np.maximum(col_tiles, 1))
        units = np.where(combined, used_cols / ws, used_cols)
        adc_steps = np.clip(np.ceil(units * block_groups / n_adc), groups, groups * max_steps)
        return groups, np.where(analog, adc_steps, groups).astype(np.int64)

    # Unrolled copies only where they save time: with busy ADCs the copies' extra columns cost
    # as many steps as they save vectors.
    row_groups, steps = layout(copies)
    rg1, steps1 = layout(np.ones_like(copies))
    vec = np.maximum(vectors, 1)
    better = ceil_div(vec, copies) * steps < vec * steps1
    copies = np.where(better, copies, 1)
    steps = np.where(better, steps, steps1)
    row_groups = np.where(better, row_groups, rg1)
    conversions_per_window = np.where(
        on_xbar,
        g * np.where(combined, la.out_channels // g, cols_b) * row_tiles * block_groups,
        0,
    )
    merged = np.where(combined | in_array, 1, ws)
    partials = np.where(on_xbar, windows * row_tiles * block_groups * merged, 1)
    cycles = windows * steps
    weight_cells = np.where(on_xbar, la.weights * ws, 0)
    return Mapping(
        on_xbar=on_xbar,
        weight_slices=ws,
        input_slices=inp,
        windows=windows,
        rows_b=rows_b,
        cols_b=cols_b,
        row_tiles=row_tiles,
        col_tiles=col_tiles,
        row_groups=row_groups,
        pack=pack,
        copies=copies,
        xbars=xbars,
        vectors=vectors,
        steps=steps,
        cycles_per_vector=np.where(on_xbar, cycles, 0),
        weight_cells=weight_cells,
        conversions_per_window=conversions_per_window,
        partials=partials,
    )


def replica_weights(xbars: np.ndarray, work: np.ndarray) -> np.ndarray:
    """(R, L) extra copies per spare crossbar: ``r_l - 1 = floor(spare * weight_l)``.

    ``xbars`` and ``work`` (vectors x cycles per vector of one copy) are (R, L) arrays of R
    mapping keys; ``weight_l = sqrt(t_l / x_l) / sum_k sqrt(t_k x_k)`` is the optimum of
    minimizing sum_l t_l / r_l under sum_l x_l (r_l - 1) <= spare.
    """
    t = work.astype(np.float64)
    x = xbars.astype(np.float64)
    total = np.sqrt(t * x).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(x > 0, np.sqrt(t / x) / total, 0.0)
    return np.nan_to_num(weight, nan=0.0, posinf=0.0)
