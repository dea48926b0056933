"""Hand-computed cost of one layer on one design, component by component.

Every expected number below is derived in this file from the documented equations
(docs/cost-model.md, the docstrings of cimkit.cost.mapping/components/model) and the constants
table read through ``load_constants()``; nothing is copied from the implementation. The design is
at the reference point (45 nm, 0.9 V), so every node/voltage scaling factor is exactly 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.constants import load_constants
from cimkit.cost.mapping import map_layers
from cimkit.cost.model import METRICS
from cimkit.specs import ChipSpec, chip_from_dict
from cimkit.workload import LayerHistogram, Workload, make_layer
from cimkit.workload.histograms import N_BINS

RTOL = 1e-9
FJ, PJ = 1e-15, 1e-12

# One 8-bit input value and one 8-bit weight value, each a histogram with all its mass in one bin.
# Bin k of N_BINS uniform bins on [-1, 1] has center -1 + (2k + 1) / N_BINS.


def _center(k: int) -> float:
    return (2 * k + 1 - N_BINS) / N_BINS


def _one_hot(k: int) -> np.ndarray:
    p = np.zeros(N_BINS)
    p[k] = 1.0
    return p


def _find_bin(q: int, signed: bool) -> int:
    """First bin whose center quantizes to q at 8 bits (positive centers unsigned, negative
    centers offset-encoded)."""
    for k in range(N_BINS):
        x = _center(k)
        if (x < 0) == signed and x != 0 and _quantize(x, 8, signed) == q:
            return k
    raise AssertionError(q)


def _quantize(x: float, bits: int, signed: bool) -> int:
    """q = floor(u * (2^b - 1) + 1/2), u = x (unsigned) or (x + 1) / 2 (signed offset encoding)."""
    u = (x + 1.0) / 2.0 if signed else x
    return int(np.floor(u * (2**bits - 1) + 0.5))


def _mean_slice_level(q: int, bits: int, width: int) -> float:
    """Mean over the LSB-first ``width``-bit slices of q of slice value / slice maximum."""
    levels = []
    for lo in range(0, bits, width):
        w = min(width, bits - lo)
        levels.append(((q >> lo) & ((1 << w) - 1)) / ((1 << w) - 1))
    return sum(levels) / len(levels)


IN_BIN = _find_bin(181, signed=False)  # center about +0.709 (positive: unsigned encoding)
W_BIN = _find_bin(54, signed=True)  # center about -0.576 (negative: offset encoding)


def _histogram() -> LayerHistogram:
    return LayerHistogram(_one_hot(IN_BIN), _one_hot(W_BIN), source="test")


def test_quantized_test_values() -> None:
    # The two values the hand computations below use.
    q_in = _quantize(_center(IN_BIN), 8, signed=False)
    q_w = _quantize(_center(W_BIN), 8, signed=True)
    assert q_in == 181 == 0b1011_0101  # five 1-bits
    assert q_w == 54 == 0b0011_0110  # 4-bit slices (LSB first): 0110 = 6, 0011 = 3
    assert _mean_slice_level(q_in, 8, 1) == 5 / 8
    assert _mean_slice_level(q_w, 8, 4) == pytest.approx((6 / 15 + 3 / 15) / 2)
    # The library's tables agree with this derivation.
    in_tab, w_tab = _histogram().tables()
    assert in_tab[8, 1] == pytest.approx(5 / 8, rel=1e-12)
    assert w_tab[8, 4] == pytest.approx(0.3, rel=1e-12)


def _reference_spec(**macro) -> ChipSpec:
    return chip_from_dict(
        {
            "name": "ref",
            "technology": {"node_nm": 45, "voltage_v": 0.9, "cycle_time_ns": 4.0},
            "device": {"kind": "rram", "bits_per_cell": 4},
            "macro": {
                "kind": "analog",
                "rows": 256,
                "cols": 256,
                "adc_bits": 8,
                "cols_per_adc": 8,
                "input_bits_per_cycle": 1,
                **macro,
            },
            "tile": {"macros": 1, "buffer_kb": 64.0, "vector_lanes": 16},
            "router": {"tiles": 1},
            "chip": {
                "tile_groups": 1,
                "glb_kb": 256.0,
                "glb_bandwidth_bits": 1024,
                "noc_bits": 256,
                "mode": "weight_stationary",
            },
        }
    )


TOKENS = 10
IN_FEATURES = 128


def _linear_workload(out_features: int) -> Workload:
    # For a linear layer out_h is the token count (one input vector per token).
    layer = make_layer(
        "fc",
        "linear",
        in_channels=IN_FEATURES,
        out_channels=out_features,
        in_h=TOKENS,
        out_h=TOKENS,
        weight_bits=8,
        act_bits=8,
    )
    return Workload("one-linear", (layer,), histograms={"fc": _histogram()})


@dataclass(frozen=True)
class Case:
    out_features: int
    input_bits_per_cycle: int
    # Mapping, written out by hand in the case table below.
    xbars: int
    weight_slices: int
    cols: int
    input_slices: int
    steps: int
    in_level: float


CASES = [
    # 128 x 16 weights, 8 bits over 4-bit cells -> 2 cells per weight -> a 128 x 32 block.
    # It fits one 256 x 256 crossbar: 1 crossbar. 8-bit inputs, 1 bit per cycle -> 8 slices.
    # 256 columns / 8 per ADC = 32 ADCs; 32 used columns over 32 ADCs -> 1 conversion step.
    # Mean input bit level: 181 = 0b10110101 has five 1-bits -> 5/8.
    Case(16, 1, xbars=1, weight_slices=2, cols=32, input_slices=8, steps=1, in_level=5 / 8),
    # 128 x 128 weights -> a 128 x 256 block, still one crossbar; 256 used columns over 32 ADCs
    # -> 8 steps (the full ADC sharing factor).
    Case(128, 1, xbars=1, weight_slices=2, cols=256, input_slices=8, steps=8, in_level=5 / 8),
    # 2 input bits per cycle -> 4 slices; 2-bit slices of 181 (LSB first): 01, 01, 11, 10
    # -> levels 1/3, 1/3, 3/3, 2/3 -> mean 7/12.
    Case(16, 2, xbars=1, weight_slices=2, cols=32, input_slices=4, steps=1, in_level=7 / 12),
]


def _hand_linear(case: Case) -> dict[str, dict[str, float]]:
    """Every component and metric of the linear layer on the reference design, by hand."""
    c = load_constants()
    rows, cols, bpc, adc_bits, cols_per_adc = 256, 256, 4, 8, 8
    dac = case.input_bits_per_cycle
    wb = ab = 8
    cycle_s = 4.0e-9
    tile_kb, glb_kb, glb_bw, noc_bits, lanes = 64.0, 256.0, 1024, 256, 16

    # --- mapping -----------------------------------------------------------------------------
    k = case.out_features
    weights = IN_FEATURES * k
    ws = math.ceil(wb / bpc)
    assert ws == case.weight_slices
    block_rows, block_cols = IN_FEATURES, k * ws
    assert block_cols == case.cols
    assert block_rows <= rows and block_cols <= cols  # one block fits one crossbar
    xbars = 1
    assert xbars == case.xbars
    in_slices = math.ceil(ab / dac)
    assert in_slices == case.input_slices
    n_adc = math.ceil(cols / cols_per_adc)  # 32 ADCs per crossbar
    steps = min(max(math.ceil(block_cols / n_adc), 1), cols_per_adc)
    assert steps == case.steps
    cycles_per_vector = in_slices * steps
    vectors = TOKENS
    weight_cells = weights * ws

    # --- data statistics ---------------------------------------------------------------------
    q_in = _quantize(_center(IN_BIN), ab, signed=False)
    q_w = _quantize(_center(W_BIN), wb, signed=True)
    in_lvl = _mean_slice_level(q_in, ab, dac)
    assert in_lvl == pytest.approx(case.in_level, rel=1e-15)
    w_lvl = _mean_slice_level(q_w, wb, bpc)  # 0.3

    # --- energy (J); every scaling factor is 1 at 45 nm / 0.9 V -------------------------------
    e: dict[str, float] = {}
    # Cells: every programmed cell in an active row conducts, once per input slice; the mean
    # conductance of a cell at level l is g0 + (1 - g0) * l with g0 = 1 / on_off_ratio.
    g0 = 1.0 / c.device("rram", "on_off_ratio")
    cell_level = g0 + (1.0 - g0) * w_lvl
    e_read = c.device("rram", "read_energy_fj") * FJ
    e["cells"] = vectors * in_slices * weight_cells * in_lvl * cell_level * e_read
    # Row drivers: an active row (in proportion to the input slice level) drives a wordline of
    # all `cols` cells, per input bit applied in the cycle.
    # A d-bit input slice drives up to 2^d - 1 unit pulses / DAC steps per row activation.
    row_j = c["row_fj_per_col"] * cols * (2**dac - 1) * FJ
    e["row_drivers"] = vectors * in_slices * block_rows * in_lvl * row_j
    # ADC: one conversion per used column per input slice; Walden FoM x 2^bits each.
    conversions = vectors * in_slices * block_cols
    e["adc"] = conversions * c["adc_fj_per_step"] * 2.0**adc_bits * FJ
    e["adder_tree"] = 0.0  # analog macro
    # Shift-add: every conversion is accumulated, plus combining the ws weight slices of each
    # output; accumulator width = adc bits + weight bits + act bits (max 32).
    outputs = vectors * k
    psum_adds = conversions + outputs * (ws - 1)
    acc_bits = min(adc_bits + wb + ab, 32)
    e["shift_add"] = psum_adds * acc_bits * c["add_pj_per_bit"] * PJ

    def sram_pj(kb: float) -> float:
        return c["sram_pj_per_bit_8kb"] * (kb / 8.0) ** c["sram_size_exponent"]

    in_bits = IN_FEATURES * TOKENS * ab
    out_bits = k * TOKENS * ab
    io_bits = in_bits + out_bits
    # Tile buffer: inputs read once per vector per row (ab bits each), plus layer I/O.
    tb_reads = vectors * block_rows * ab
    e["tile_buffer"] = (tb_reads + io_bits) * sram_pj(tile_kb) * PJ
    e["glb"] = io_bits * sram_pj(glb_kb) * PJ
    hops = 1.0 + 2.0 / 3.0 * math.sqrt(1)  # one tile group
    e["noc"] = io_bits * hops * c["noc_pj_per_bit_hop"] * PJ
    e["vector_unit"] = 0.0
    # DRAM: network input (first layer) and output (last layer); no weight traffic when stationary.
    e["dram"] = (in_bits + out_bits) * c["dram_pj_per_bit"] * PJ
    e["weight_write"] = 0.0

    # --- latency -----------------------------------------------------------------------------
    compute_s = vectors * cycles_per_vector * cycle_s  # no spare crossbar -> no replication
    glb_s = io_bits / glb_bw * cycle_s
    noc_s = io_bits / noc_bits * cycle_s
    latency = max(compute_s, glb_s, noc_s)

    # --- area (um^2) -------------------------------------------------------------------------
    f_um = 45 / 1000.0
    fa = c["fa_area_um2"]
    bit_um2 = c.raw["node_scaling"]["sram_cell_um2"][45] / c["sram_array_efficiency"]
    a: dict[str, float] = {
        "cells": rows * cols * c.device("rram", "cell_area_f2") * f_um**2,
        "adc": n_adc * (c["adc_area_um2_per_step"] * 2.0**adc_bits + c["adc_area_um2_fixed"]),
        "row_drivers": rows * dac * c["row_driver_area_um2"],
        "shift_add": n_adc * (adc_bits + 8) * fa,
        "adder_tree": 0.0,
        "tile_buffer": tile_kb * 8192 * bit_um2,
        "vector_unit": lanes * c["vector_lane_area_um2"],
        "tile_overhead": c["tile_overhead_mm2"] * 1e6,
        "router": c["router_area_mm2"] * 1e6,
        "glb": glb_kb * 8192 * bit_um2,
    }
    area_um2 = sum(a.values())

    # --- leakage: SRAM bits (buffers; RRAM cells do not leak) plus logic area -----------------
    buffer_bits = (tile_kb + glb_kb) * 8192
    logic_mm2 = 1e-6 * sum(
        a[x]
        for x in (
            "adc",
            "row_drivers",
            "shift_add",
            "adder_tree",
            "vector_unit",
            "tile_overhead",
            "router",
        )
    )
    leak_w = buffer_bits * c["sram_leak_pw_per_bit"] * PJ + logic_mm2 * c["logic_leak_w_per_mm2"]
    e["leakage"] = leak_w * latency

    energy = sum(e.values())
    ops = 2.0 * weights * TOKENS
    area_m2 = area_um2 * 1e-12
    chip_cells = 1 * rows * cols
    metrics = {
        "energy_j": energy,
        "latency_s": latency,
        "area_m2": area_m2,
        "area_mm2": area_um2 * 1e-6,
        "edap_j_s_m2": energy * latency * area_m2,
        "ops": ops,
        "tops": ops / latency / 1e12,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": ops / latency / 1e12 / (area_um2 * 1e-6),
        "utilization": weight_cells / chip_cells,
        "xbar_utilization": weight_cells / (xbars * rows * cols),
        "xbars_needed": xbars,
        "xbars_available": 1,
        "weight_groups": 1,
        "min_cycle_time_ns": c["t_read_ns"] + adc_bits * c["t_sar_bit_ns"],
        "power_w": energy / latency,
    }
    latency_parts = {"compute": compute_s, "glb": glb_s, "noc": noc_s}
    return {
        "energy": e,
        "area": {x: v * 1e-12 for x, v in a.items()},
        "metrics": metrics,
        "latency_parts": latency_parts,
        "mapping": {
            "cycles_per_vector": cycles_per_vector,
            "conversions_per_slice": block_cols,
            "weight_cells": weight_cells,
        },
    }


@pytest.fixture(params=CASES, ids=lambda k: f"out{k.out_features}-dac{k.input_bits_per_cycle}")
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


def _evaluate(case: Case):
    spec = _reference_spec(input_bits_per_cycle=case.input_bits_per_cycle)
    return evaluate(spec, _linear_workload(case.out_features), breakdown=True)


def test_linear_mapping(case: Case) -> None:
    spec = _reference_spec(input_bits_per_cycle=case.input_bits_per_cycle)
    table = DesignTable.from_specs(spec)
    d = {k: v[:, None] for k, v in table.values.items()}
    m = map_layers(d, _linear_workload(case.out_features).arrays())
    hand = _hand_linear(case)["mapping"]
    assert m.xbars[0, 0] == case.xbars
    assert m.weight_slices[0, 0] == case.weight_slices
    assert m.cols_b[0, 0] == case.cols
    assert m.rows_b[0, 0] == IN_FEATURES
    assert m.input_slices[0, 0] == case.input_slices
    assert m.steps[0, 0] == case.steps
    assert m.cycles_per_vector[0, 0] == hand["cycles_per_vector"]
    assert m.conversions_per_slice[0, 0] == hand["conversions_per_slice"]
    assert m.weight_cells[0, 0] == hand["weight_cells"]
    assert m.vectors[0, 0] == TOKENS
    assert m.pack[0, 0] == 1


def test_linear_energy_components(case: Case) -> None:
    ev = _evaluate(case)
    hand = _hand_linear(case)["energy"]
    assert set(hand) == set(ev.energy_by_component)
    for name, expected in hand.items():
        got = ev.energy_by_component[name][0]
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, err_msg=name)
        # One layer: the per-layer breakdown is the same number.
        np.testing.assert_allclose(ev.layer_energy[name][0, 0], expected, rtol=RTOL, err_msg=name)


def test_linear_area_components(case: Case) -> None:
    ev = _evaluate(case)
    hand = _hand_linear(case)["area"]
    assert set(hand) == set(ev.area_by_component)
    for name, expected in hand.items():
        np.testing.assert_allclose(
            ev.area_by_component[name][0], expected, rtol=RTOL, atol=0, err_msg=name
        )


def test_linear_metrics(case: Case) -> None:
    ev = _evaluate(case)
    hand = _hand_linear(case)
    assert set(hand["metrics"]) == set(METRICS)
    for name, expected in hand["metrics"].items():
        np.testing.assert_allclose(ev[name][0], expected, rtol=RTOL, atol=0, err_msg=name)
    assert ev.feasible[0]
    assert ev.reasons[0] == ""
    np.testing.assert_allclose(ev.layer_latency[0, 0], hand["metrics"]["latency_s"], rtol=RTOL)
    assert ev.layer_xbars[0, 0] == 1
    assert ev.layer_replication[0, 0] == 1
    assert ev.layer_names == ("fc",)


def test_linear_latency_bound_by_hand() -> None:
    # Case 0: compute 10 vectors x 8 cycles x 4 ns = 320 ns beats the NoC (11,520 bits / 256 x 4 ns
    # = 180 ns) and the GLB (45 ns). Case 2 (2 bits per cycle): compute drops to 160 ns, so the NoC
    # bound of 180 ns sets the latency.
    parts = _hand_linear(CASES[0])["latency_parts"]
    assert parts == pytest.approx({"compute": 320e-9, "glb": 45e-9, "noc": 180e-9}, rel=1e-12)
    parts = _hand_linear(CASES[2])["latency_parts"]
    assert parts["compute"] == pytest.approx(160e-9, rel=1e-12)
    np.testing.assert_allclose(_evaluate(CASES[2])["latency_s"][0], 180e-9, rtol=RTOL)


def test_layer_frames_agree_with_totals() -> None:
    ev = _evaluate(CASES[0])
    layers = ev.layers_frame()
    assert len(layers) == 1
    np.testing.assert_allclose(layers["energy_j"].iloc[0], ev["energy_j"][0], rtol=1e-12)
    comps = ev.components_frame()
    np.testing.assert_allclose(comps["energy_j"].sum(), ev["energy_j"][0], rtol=1e-12)
    np.testing.assert_allclose(comps["area_m2"].sum(), ev["area_m2"][0], rtol=1e-12)


# --- digital SRAM macro -----------------------------------------------------------------------


def test_digital_linear_by_hand() -> None:
    """Adder-tree readout: one-bit cells, one readout per column and input bit, no ADC."""
    c = load_constants()
    spec = chip_from_dict(
        {
            **_reference_spec().model_dump(),
            "device": {"kind": "sram", "bits_per_cell": 1},
            "macro": {**_reference_spec().macro.model_dump(), "kind": "digital"},
        }
    )
    ev = evaluate(spec, _linear_workload(16), breakdown=True)
    rows, wb, ab = 256, 8, 8
    ws = wb  # one bit per cell
    block_rows, block_cols = IN_FEATURES, 16 * ws  # 128 x 128 -> one crossbar, one step
    in_slices = ab
    conversions = TOKENS * in_slices * block_cols
    q_in = _quantize(_center(IN_BIN), ab, signed=False)
    q_w = _quantize(_center(W_BIN), wb, signed=True)
    in_bit = _mean_slice_level(q_in, ab, 1)  # 5/8
    w_bit = _mean_slice_level(q_w, wb, 1)  # 54 = 0b00110110 -> 4/8
    assert (in_bit, w_bit) == (5 / 8, 4 / 8)
    floor = c["tree_activity_floor"]
    activity = floor + (1 - floor) * in_bit * w_bit
    tree_bits = 2 * min(block_rows, rows)  # about 2 full-adder bits per summed row
    e_tree = conversions * tree_bits * activity * c["tree_fj_per_bit"] * FJ
    np.testing.assert_allclose(ev.energy_by_component["adder_tree"][0], e_tree, rtol=RTOL)
    assert ev.energy_by_component["adc"][0] == 0.0
    # Cells: a one-bit cell's level is its bit; SRAM on/off ratio for g0.
    g0 = 1 / c.device("sram", "on_off_ratio")
    cells = TOKENS * in_slices * (IN_FEATURES * 16 * ws) * in_bit * (g0 + (1 - g0) * w_bit)
    np.testing.assert_allclose(
        ev.energy_by_component["cells"][0],
        cells * c.device("sram", "read_energy_fj") * FJ,
        rtol=RTOL,
    )
    # Shift-add: accumulator of log2(rows) + 1 + 8 + 8 bits; weight slices combined per output.
    acc = min(math.log2(rows) + 1 + wb + ab, 32)
    psum = conversions + TOKENS * 16 * (ws - 1)
    np.testing.assert_allclose(
        ev.energy_by_component["shift_add"][0], psum * acc * c["add_pj_per_bit"] * PJ, rtol=RTOL
    )
    # Area: per column an adder tree of 2 x rows full-adder bits and log2(rows) + 9 bits of
    # accumulator; no ADCs.
    cols, fa = 256, c["fa_area_um2"]
    np.testing.assert_allclose(
        ev.area_by_component["adder_tree"][0], cols * 2 * rows * fa * 1e-12, rtol=RTOL
    )
    np.testing.assert_allclose(
        ev.area_by_component["shift_add"][0], cols * (math.log2(rows) + 9) * fa * 1e-12, rtol=RTOL
    )
    assert ev.area_by_component["adc"][0] == 0.0
    # Readout: log2(rows) + 2 full-adder delays; one step per input slice.
    np.testing.assert_allclose(
        ev["min_cycle_time_ns"][0], (math.log2(rows) + 2) * c["t_fa_ns"], rtol=RTOL
    )
    np.testing.assert_allclose(ev["latency_s"][0], TOKENS * in_slices * 4e-9, rtol=RTOL)


# --- crossbar packing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer_kw", "macro_kw", "bpc", "expected"),
    [
        # Depthwise 32 ch 3x3, 8-bit weights on 4-bit cells: per channel a block of 9 rows x 2
        # columns; floor(256 / 9) = 28 blocks fit on the diagonal of a 256 x 256 crossbar
        # (column limit floor(256 / 2) = 128) -> ceil(32 / 28) = 2 crossbars.
        (
            dict(op="dwconv", in_channels=32, out_channels=32, kernel_h=3, kernel_w=3, groups=32),
            dict(rows=256, cols=256),
            4,
            dict(rows_b=9, cols_b=2, pack=28, xbars=2),
        ),
        # Depthwise 64 ch 5x5 on 128 x 128 with 2-bit cells: blocks of 25 x 4; floor(128/25) = 5
        # per crossbar (column limit 32) -> ceil(64 / 5) = 13 crossbars.
        (
            dict(op="dwconv", in_channels=64, out_channels=64, kernel_h=5, kernel_w=5, groups=64),
            dict(rows=128, cols=128),
            2,
            dict(rows_b=25, cols_b=4, pack=5, xbars=13),
        ),
        # Column-limited packing: 1-bit cells -> blocks of 9 x 8 on 256 x 64: min(28, 8) = 8
        # blocks per crossbar -> ceil(32 / 8) = 4 crossbars.
        (
            dict(op="dwconv", in_channels=32, out_channels=32, kernel_h=3, kernel_w=3, groups=32),
            dict(rows=256, cols=64),
            1,
            dict(rows_b=9, cols_b=8, pack=8, xbars=4),
        ),
        # A 9-row block on an 8-row crossbar does not fit: each channel is tiled over
        # ceil(9 / 8) = 2 crossbars -> 16 x 2 = 32 crossbars, nothing packed.
        (
            dict(op="dwconv", in_channels=16, out_channels=16, kernel_h=3, kernel_w=3, groups=16),
            dict(rows=8, cols=8),
            4,
            dict(rows_b=9, cols_b=2, pack=1, xbars=32),
        ),
        # Dense 3x3 conv 64 -> 128: a 576 x 256 block -> ceil(576 / 256) = 3 row tiles x 1 column
        # tile = 3 crossbars.
        (
            dict(op="conv", in_channels=64, out_channels=128, kernel_h=3, kernel_w=3),
            dict(rows=256, cols=256),
            4,
            dict(rows_b=576, cols_b=256, pack=1, xbars=3),
        ),
        # Grouped conv (4 groups) 64 -> 64 3x3: blocks of 144 x 32; floor(256 / 144) = 1 per
        # crossbar -> 4 crossbars.
        (
            dict(op="conv", in_channels=64, out_channels=64, kernel_h=3, kernel_w=3, groups=4),
            dict(rows=256, cols=256),
            4,
            dict(rows_b=144, cols_b=32, pack=1, xbars=4),
        ),
        # Linear 1000 -> 1000 on 128 x 128, 8-bit on 4-bit cells: 1000 x 2000 block ->
        # ceil(1000 / 128) = 8 x ceil(2000 / 128) = 16 -> 128 crossbars.
        (
            dict(op="linear", in_channels=1000, out_channels=1000),
            dict(rows=128, cols=128),
            4,
            dict(rows_b=1000, cols_b=2000, pack=1, xbars=128),
        ),
    ],
    ids=["dw3x3-256", "dw5x5-128", "dw-col-limited", "dw-no-fit", "conv", "grouped", "linear"],
)
def test_crossbar_counts(layer_kw: dict, macro_kw: dict, bpc: int, expected: dict) -> None:
    layer = make_layer("l", **layer_kw, in_h=8, in_w=8, out_h=8, out_w=8, weight_bits=8)
    spec = chip_from_dict(
        {"macro": {**macro_kw, "cols_per_adc": 8}, "device": {"bits_per_cell": bpc}}
    )
    table = DesignTable.from_specs(spec)
    d = {k: v[:, None] for k, v in table.values.items()}
    m = map_layers(d, Workload("w", (layer,)).arrays())
    got = {k: int(getattr(m, k)[0, 0]) for k in expected}
    assert got == expected
    ev = evaluate(spec, Workload("w", (layer,)), breakdown=True)
    assert ev.layer_xbars[0, 0] == expected["xbars"]
    assert ev["xbars_needed"][0] == expected["xbars"]


def test_depthwise_packed_steps_and_conversions() -> None:
    # 28 packed 9 x 2 blocks use 56 columns of a 256-column crossbar with 32 ADCs -> ceil(56 / 32)
    # = 2 conversion steps per input slice; every channel's 2 columns are converted:
    # 32 x 2 = 64 conversions per slice and output position.
    layer = make_layer(
        "dw",
        "dwconv",
        in_channels=32,
        out_channels=32,
        kernel_h=3,
        kernel_w=3,
        groups=32,
        in_h=8,
        in_w=8,
        out_h=8,
        out_w=8,
    )
    spec = _reference_spec()
    table = DesignTable.from_specs(spec)
    d = {k: v[:, None] for k, v in table.values.items()}
    m = map_layers(d, Workload("w", (layer,)).arrays())
    assert int(m.steps[0, 0]) == 2
    assert int(m.cycles_per_vector[0, 0]) == 8 * 2
    assert int(m.conversions_per_slice[0, 0]) == 64
    ev = evaluate(spec, Workload("w", (layer,)), breakdown=True)
    c = load_constants()
    conversions = 64 * 8 * 64  # positions x input slices x per slice
    np.testing.assert_allclose(
        ev.energy_by_component["adc"][0],
        conversions * c["adc_fj_per_step"] * 2.0**8 * FJ,
        rtol=RTOL,
    )


def test_linear_input_elements_follow_tokens() -> None:
    # Regression: make_layer('linear', out_h=tokens) counted in_elems from in_h (default 1).
    layer = make_layer("fc", "linear", in_channels=IN_FEATURES, out_channels=16, out_h=TOKENS)
    assert layer.out_elems == 16 * TOKENS
    assert layer.in_elems == IN_FEATURES * TOKENS


def test_constants_argument_is_honored() -> None:
    """A modified constants table (as a calibration run passes) is used for every term."""
    import copy

    from cimkit.cost.constants import parse_constants

    c = load_constants()
    raw = copy.deepcopy(c.raw)
    raw["constants"]["adc_fj_per_step"]["value"] = 2 * c["adc_fj_per_step"]
    raw["devices"]["rram"]["read_energy_fj"]["value"] = 3 * c.device("rram", "read_energy_fj")
    raw["constants"]["row_driver_area_um2"]["value"] = 5 * c["row_driver_area_um2"]
    c2 = parse_constants(raw)
    spec, wl = _reference_spec(), _linear_workload(16)
    base = evaluate(spec, wl)
    mod = evaluate(spec, wl, constants=c2)
    e0, e1 = base.energy_by_component, mod.energy_by_component
    np.testing.assert_allclose(e1["adc"], 2 * e0["adc"], rtol=1e-12)
    np.testing.assert_allclose(e1["cells"], 3 * e0["cells"], rtol=1e-12)
    for name in ("row_drivers", "shift_add", "tile_buffer", "glb", "noc", "dram"):
        np.testing.assert_allclose(e1[name], e0[name], rtol=1e-12, err_msg=name)
    a0, a1 = base.area_by_component, mod.area_by_component
    np.testing.assert_allclose(a1["row_drivers"], 5 * a0["row_drivers"], rtol=1e-12)
    np.testing.assert_allclose(a1["cells"], a0["cells"], rtol=1e-12)
    assert mod.designs["read_energy_fj"][0] == 3 * c.device("rram", "read_energy_fj")


def test_combined_weight_bits_by_hand() -> None:
    # Analog bit-column combining: the 2 bit-columns of a weight give one conversion, so the
    # 128 -> 16 layer converts 16 (not 32) values per input slice; 16 weights over 32 ADCs -> 1
    # step.
    c = load_constants()
    ev = evaluate(_reference_spec(combine_weight_bits=True), _linear_workload(16))
    conversions = TOKENS * 8 * 16
    np.testing.assert_allclose(
        ev.energy_by_component["adc"][0],
        conversions * c["adc_fj_per_step"] * 2.0**8 * FJ,
        rtol=RTOL,
    )
    np.testing.assert_allclose(ev["latency_s"][0], TOKENS * 8 * 1 * 4e-9, rtol=RTOL)


def test_vector_unit_layers_by_hand() -> None:
    """Dynamic matmuls and non-MAC ops run on the tiles' digital lanes, not on crossbars."""
    c = load_constants()
    # Attention-like A[32, 64] x B[64, 64] for 2 heads, then a softmax over its output.
    mm = make_layer("qk", "matmul", in_channels=64, out_channels=64, out_h=32, repeat=2)
    sm = make_layer("sm", "softmax", in_channels=64, out_channels=64, in_h=32, out_h=32, repeat=2)
    ev = evaluate(_reference_spec(), Workload("attn", (mm, sm)), breakdown=True)
    macs = 32 * 64 * 64 * 2
    assert mm.macs == macs and mm.weights == 0
    ops = 3 * (64 * 32 * 2)  # exp, sum, divide per element
    assert sm.ops == ops
    ab = 8
    mult = c["mult8_pj"] * (ab / 8) ** 2 * PJ
    add = c["add_pj_per_bit"] * ab * PJ
    np.testing.assert_allclose(
        ev.layer_energy["vector_unit"][0, 0], macs * (mult + 2 * add), rtol=RTOL
    )
    np.testing.assert_allclose(ev.layer_energy["vector_unit"][0, 1], ops * add, rtol=RTOL)
    for name in ("cells", "row_drivers", "adc", "shift_add", "weight_write"):
        assert ev.energy_by_component[name][0] == 0.0, name
    assert ev["xbars_needed"][0] == 0
    # Latency: operations over 16 lanes x 1 tile, one per cycle; above the GLB/NoC bounds
    # (matmul I/O: (32*64 + 64*64) * 2 + 64*32*2 = 16,384 elements x 8 bits over 256-bit NoC
    # = 512 cycles; softmax 8,192 elements -> 256 cycles).
    lanes, cycle = 16, 4e-9
    np.testing.assert_allclose(ev.layer_latency[0, 0], math.ceil(macs / lanes) * cycle, rtol=RTOL)
    np.testing.assert_allclose(ev.layer_latency[0, 1], math.ceil(ops / lanes) * cycle, rtol=RTOL)
    assert ev["ops"][0] == 2 * macs
