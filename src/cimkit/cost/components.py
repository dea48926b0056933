"""Energy and area of every chip component, as pure functions of (n, 1) design arrays.

One function per component; each documents its event count and per-event cost. Energies are in
joules, areas in um^2 (converted to m^2 by the model). The registry :data:`ENERGY_COMPONENTS`
fixes the component names used in breakdown tables.
"""

from __future__ import annotations

import numpy as np

from cimkit.cost.constants import Constants

ENERGY_COMPONENTS: tuple[str, ...] = (
    "cells",  # crossbar cell reads (analog current/charge, or digital bit reads)
    "row_drivers",  # wordline drivers / input DACs
    "adc",  # analog-to-digital conversions
    "adder_tree",  # digital macros' column adder trees
    "shift_add",  # shift-and-add of bit slices and partial sums across row tiles
    "tile_buffer",  # tile activation buffer reads/writes
    "glb",  # global buffer reads/writes
    "noc",  # router and link traffic
    "vector_unit",  # digital ALUs: non-MAC ops and dynamic-operand matmuls
    "dram",  # off-chip traffic (network I/O, streamed weights)
    "weight_write",  # programming cells when weights are swapped in
    "leakage",  # static power over the run time
)

AREA_COMPONENTS: tuple[str, ...] = (
    "cells",
    "adc",
    "row_drivers",
    "shift_add",
    "adder_tree",
    "tile_buffer",
    "vector_unit",
    "tile_overhead",
    "router",
    "glb",
)

PJ = 1e-12
FJ = 1e-15


def sram_pj_per_bit(size_kb: np.ndarray, c: Constants) -> np.ndarray:
    """Energy per bit accessed of an SRAM buffer of ``size_kb`` at the reference point (pJ)."""
    return c["sram_pj_per_bit_8kb"] * (np.maximum(size_kb, 0.125) / 8.0) ** c["sram_size_exponent"]


def adc_energy_j(adc_bits: np.ndarray, c: Constants) -> np.ndarray:
    """Energy of one conversion at the reference point: Walden FoM x 2^bits (J)."""
    return c["adc_fj_per_step"] * FJ * 2.0**adc_bits


def adc_area_um2(adc_bits: np.ndarray, c: Constants) -> np.ndarray:
    """SAR ADC area at the reference node: capacitor DAC (2^bits units) + comparator/logic."""
    return c["adc_area_um2_per_step"] * 2.0**adc_bits + c["adc_area_um2_fixed"]


def accumulator_bits(
    adc_bits: np.ndarray, weight_bits: np.ndarray, act_bits: np.ndarray
) -> np.ndarray:
    """Width of the shift-add accumulator: converted bits plus the shifts of weight/input slices."""
    return np.minimum(adc_bits + weight_bits + act_bits, 32)


def sram_bit_area_um2(c: Constants) -> float:
    """Area of one buffer bit at the reference node, array efficiency included (um^2)."""
    ref = c.raw["node_scaling"]["sram_cell_um2"][int(c.ref_node_nm)]
    return float(ref) / c["sram_array_efficiency"]


def macro_area_um2(d: dict[str, np.ndarray], c: Constants, af: np.ndarray) -> dict[str, np.ndarray]:
    """Area of one macro by component at the design's node (um^2), each shape of ``d`` arrays.

    Cells: rows x cols x cell_area_f2 x F_ref^2 scaled by the node's area factor. Analog macros
    have ceil(cols / cols_per_adc) ADCs each with an accumulator of (adc_bits + 8) bits; digital
    macros have per column an adder tree of about 2 x rows full-adder bits plus an accumulator.
    """
    f_ref_um = c.ref_node_nm / 1000.0
    analog = d["macro_kind"] == 0
    xr, xc = d["rows"], d["cols"]
    n_adc = np.where(analog, np.ceil(xc / d["cols_per_adc"]), 0.0)
    fa = c["fa_area_um2"]
    return {
        "cells": xr * xc * d["cell_area_f2"] * f_ref_um**2 * af,
        "adc": n_adc * adc_area_um2(d["adc_bits"], c) * af,
        "row_drivers": xr * d["input_bits_per_cycle"] * c["row_driver_area_um2"] * af,
        "shift_add": np.where(analog, n_adc * (d["adc_bits"] + 8), xc * (np.log2(xr) + 9))
        * fa
        * af,
        "adder_tree": np.where(analog, 0.0, xc * 2.0 * xr) * fa * af,
    }


def chip_area_um2(d: dict[str, np.ndarray], c: Constants, af: np.ndarray) -> dict[str, np.ndarray]:
    """Chip area by component (um^2): tiles x (macros + buffer + ALUs + control), routers, GLB."""
    macro = macro_area_um2(d, c, af)
    macros = d["macros_per_tile"]
    tiles = d["tiles_per_router"] * d["tile_groups"]
    bit = sram_bit_area_um2(c) * af
    out = {k: v * macros * tiles for k, v in macro.items()}
    out["tile_buffer"] = d["tile_buffer_kb"] * 8192 * bit * tiles
    out["vector_unit"] = d["vector_lanes"] * c["vector_lane_area_um2"] * af * tiles
    out["tile_overhead"] = c["tile_overhead_mm2"] * 1e6 * af * tiles
    out["router"] = c["router_area_mm2"] * 1e6 * af * d["tile_groups"]
    out["glb"] = d["glb_kb"] * 8192 * bit
    return out


def leakage_w(d: dict[str, np.ndarray], c: Constants, area: dict[str, np.ndarray]) -> np.ndarray:
    """Static power (W): SRAM bits (buffers, SRAM cells) plus logic area, scaled linearly with V."""
    v = d["voltage_v"] / c.ref_voltage_v
    tiles = d["tiles_per_router"] * d["tile_groups"]
    cells = d["rows"] * d["cols"] * d["macros_per_tile"] * tiles
    sram_dev = d["device"] == 1
    buffer_bits = (d["tile_buffer_kb"] * tiles + d["glb_kb"]) * 8192
    cell_leak = np.where(sram_dev, c.device("sram", "leak_pw_per_cell"), 0.0) * cells
    bits_w = (buffer_bits * c["sram_leak_pw_per_bit"] + cell_leak) * PJ
    logic = (
        "adc",
        "row_drivers",
        "shift_add",
        "adder_tree",
        "vector_unit",
        "tile_overhead",
        "router",
    )
    logic_mm2 = sum(area[k] for k in logic) * 1e-6
    return (bits_w + logic_mm2 * c["logic_leak_w_per_mm2"]) * v
