"""Hand-computed cost of one layer on one design, component by component.

Every expected number below is derived in this file from the documented equations
(the docstrings of cimkit.cost.mapping/peripherals/engines/model, v2) and the constants table
read through ``load_constants()``; nothing is copied from the implementation. The design is at
the reference point (45 nm, 0.9 V), so every node/voltage scaling factor is exactly 1. The
hand-computed cases run ``chip.execution: sequential`` (latency = period = sum of layer times)
except the pipelined case, which says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.constants import load_constants
from cimkit.cost.designs import resolve_defaults
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


def _reference_spec(
    execution: str = "sequential",
    technology: dict | None = None,
    chip: dict | None = None,
    tile: dict | None = None,
    **macro,
) -> ChipSpec:
    return chip_from_dict(
        {
            "name": "ref",
            "technology": {
                "node_nm": 45,
                "voltage_v": 0.9,
                "cycle_time_ns": 4.0,
                **(technology or {}),
            },
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
            "tile": {"macros": 1, "buffer_kb": 64.0, "vector_lanes": 16, **(tile or {})},
            "router": {"tiles": 1},
            "chip": {
                "tile_groups": 1,
                "glb_kb": 256.0,
                "glb_bandwidth_bits": 1024,
                "noc_bits": 256,
                "mode": "weight_stationary",
                "execution": execution,
                **(chip or {}),
            },
        }
    )


TOKENS = 10
IN_FEATURES = 128


def _linear_layer(name: str, in_features: int, out_features: int, tokens: int = TOKENS):
    # For a linear layer out_h is the token count (one input vector per token).
    return make_layer(
        name,
        "linear",
        in_channels=in_features,
        out_channels=out_features,
        in_h=tokens,
        out_h=tokens,
        weight_bits=8,
        act_bits=8,
    )


def _linear_workload(
    out_features: int, in_features: int = IN_FEATURES, tokens: int = TOKENS, hist=None
) -> Workload:
    layer = _linear_layer("fc", in_features, out_features, tokens)
    return Workload("one-linear", (layer,), histograms={"fc": hist or _histogram()})


def _mapped(spec: ChipSpec, wl: Workload):
    """The mapping of ``wl`` on ``spec`` (design values resolved as evaluate() resolves them)."""
    table = DesignTable.from_specs(spec)
    d = {k: v[:, None] for k, v in resolve_defaults(table.values, load_constants()).items()}
    return map_layers(d, wl.arrays())


def _sram_pj(kb: float) -> float:
    c = load_constants()
    return c["sram_pj_per_bit_8kb"] * (kb / 8.0) ** c["sram_size_exponent"]


def _survey(bits: int, rate_hz: float, node_nm: int = 45) -> tuple[float, float]:
    """(convert energy J, area um^2) of one SAR from the ADC-survey table, by hand: the two
    table rows of this resolution and node around ``rate_hz``, geometric interpolation in rate."""
    path = resources.files("cimkit.data").joinpath("components/adc_survey.csv")
    with path.open() as fh:
        t = pd.read_csv(fh)
    t = t[(t.bits == bits) & (t.node_nm == node_nm)].sort_values("rate_sps")
    lo = t[t.rate_sps <= rate_hz].iloc[-1]
    hi = t[t.rate_sps > rate_hz].iloc[0]
    w = math.log(rate_hz / lo.rate_sps) / math.log(hi.rate_sps / lo.rate_sps)
    e = lo.convert_energy_pj ** (1 - w) * hi.convert_energy_pj**w * 1e-12
    a = lo.area_um2 ** (1 - w) * hi.area_um2**w
    return e, a


#: Supply of the reference point over the 45 nm node's nominal supply (1.0 V, NeuroSim roadmap):
#: SAR energy scales as its square, SAR static power linearly.
V_REL = 0.9 / 1.0


def _sar_j(bits: int, cycle_s: float) -> float:
    """SAR conversion at 45 nm / 0.9 V converting once per cycle (rate 1 / cycle): the survey's
    convert energy x adc_energy_scale x (V / nominal V)^2."""
    c = load_constants()
    return c["adc_energy_scale"] * _survey(bits, 1.0 / cycle_s)[0] * V_REL**2


def _sar_area_um2(bits: int, cycle_s: float = 4e-9) -> float:
    c = load_constants()
    return c["adc_area_scale"] * _survey(bits, 1.0 / cycle_s)[1]


def _wordline_j(cols: int) -> float:
    """One wordline activation: driver output stage plus one access gate per attached column."""
    c = load_constants()
    return (c["wl_driver_fj"] + cols * c["wl_fj_per_cell"]) * FJ


def _dff_j() -> float:
    """One flip-flop bit clocked at 45 nm, 0.9 V: NeuroSim's 6.046 fJ at 0.8 V, x (0.9 / 0.8)^2."""
    return 6.046e-15 * (0.9 / 0.8) ** 2


def _levels() -> tuple[int, int]:
    return _quantize(_center(IN_BIN), 8, signed=False), _quantize(_center(W_BIN), 8, signed=True)


@dataclass(frozen=True)
class Case:
    out_features: int
    input_bits_per_cycle: int
    # Mapping, written out by hand in the case table below.
    xbars: int
    weight_slices: int
    cols: int
    input_slices: int
    copies: int
    steps: int
    in_level: float


CASES = [
    # 128 x 16 weights, 8 bits over 4-bit cells -> 2 cells per weight -> a 128 x 32 block.
    # It fits one 256 x 256 crossbar: 1 crossbar. Two blocks fit on its diagonal
    # (min(256 // 128, 256 // 32) = 2 slots, 1 group), but 2 unrolled copies would not save time:
    # 256 columns / 8 per ADC = 32 ADCs; 2 copies x 32 used columns = 64 over 32 ADCs -> 2 steps
    # per window for ceil(10 / 2) = 5 rounds = 10 steps, against 10 tokens x ceil(32 / 32) = 1
    # step = 10 steps for one copy. Not fewer -> 1 copy, 1 step per window.
    # 8-bit inputs, 1 bit per cycle -> 8 slices (bit_serial).
    # Mean input bit level: 181 = 0b10110101 has five 1-bits -> 5/8.
    Case(
        16, 1, xbars=1, weight_slices=2, cols=32, input_slices=8, copies=1, steps=1, in_level=5 / 8
    ),
    # 128 x 128 weights -> a 128 x 256 block, one slot, no copy; 256 used columns over 32 ADCs
    # -> 8 steps (the full ADC sharing factor).
    Case(
        128,
        1,
        xbars=1,
        weight_slices=2,
        cols=256,
        input_slices=8,
        copies=1,
        steps=8,
        in_level=5 / 8,
    ),
    # 2 input bits per cycle (pulse_count by default) -> 4 slices; 2-bit slices of 181 (LSB
    # first): 01, 01, 11, 10 -> levels 1/3, 1/3, 3/3, 2/3 -> mean 7/12. Copies as in case 0
    # (the step counts per window do not depend on the slices): 1 copy, 1 step.
    Case(
        16, 2, xbars=1, weight_slices=2, cols=32, input_slices=4, copies=1, steps=1, in_level=7 / 12
    ),
]


def _hand_linear(case: Case) -> dict[str, dict[str, float]]:
    """Every component and metric of the linear layer on the reference design, by hand.

    Sequential execution: latency = period = the layer's time.
    """
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
    slots = min(rows // block_rows, cols // block_cols)
    unrolled = max(slots // 1, 1)  # one group: every free diagonal slot could hold a copy
    in_slices = math.ceil(ab / dac)
    assert in_slices == case.input_slices
    windows = in_slices  # slices_per_conversion = 1
    n_adc = math.ceil(cols / cols_per_adc)  # 32 ADCs per crossbar
    vectors = TOKENS

    def window_steps(n_copies: int) -> tuple[int, int]:
        """(row groups, ADC steps per window) with n_copies blocks on the diagonal."""
        groups = math.ceil(n_copies * block_rows / rows)  # all rows active
        used_cols = n_copies * block_cols
        return groups, min(max(math.ceil(used_cols / n_adc), groups), groups * cols_per_adc)

    # Copies are used only where they save time: ceil(vectors / copies) rounds of their steps
    # against every vector in turn on one copy.
    rg_u, steps_u = window_steps(unrolled)
    rg_1, steps_1 = window_steps(1)
    if math.ceil(vectors / unrolled) * steps_u < vectors * steps_1:
        copies, row_groups, steps = unrolled, rg_u, steps_u
    else:
        copies, row_groups, steps = 1, rg_1, steps_1
    assert copies == case.copies
    assert row_groups == 1
    assert steps == case.steps
    cycles_per_vector = windows * steps
    weight_cells = weights * ws
    partials = windows * 1 * 1 * ws  # windows x row tiles x row groups x weight slices

    # --- data statistics ---------------------------------------------------------------------
    q_in, q_w = _levels()
    in_lvl = _mean_slice_level(q_in, ab, dac)
    assert in_lvl == pytest.approx(case.in_level, rel=1e-15)
    w_lvl = _mean_slice_level(q_w, wb, bpc)  # 0.3
    # bit_serial: one pulse per 1-bit; pulse_count: a slice of value v is v unit pulses.
    pulses = in_lvl if dac == 1 else in_lvl * (2**dac - 1)

    # --- energy (J); every scaling factor is 1 at 45 nm / 0.9 V -------------------------------
    e: dict[str, float] = {}
    # Cells: per unit pulse a programmed cell at level l draws g0 + (1 - g0) l of its full read
    # energy (g0 = 1 / on_off_ratio); the other (copies - 1) blocks' cells on the same row sit
    # at g0. RRAM read energy follows the read voltage (the table's own): factor 1.
    g0 = 1.0 / c.device("rram", "on_off_ratio")
    e_read = c.device("rram", "read_energy_fj") * FJ
    cell_pulses = vectors * in_slices * weight_cells * pulses
    e["cells"] = cell_pulses * e_read * (copies * g0 + (1.0 - g0) * w_lvl)
    # Row drivers: every unit pulse charges the driver and the wordline of all `cols` cells.
    # pulse_count (dac > 1): each row's dac-bit pulse counter clocks through 2^dac - 1 slots per
    # slice whatever the value.
    counter = (2**dac - 1) * dac * _dff_j() if dac > 1 else 0.0
    e["row_drivers"] = vectors * in_slices * block_rows * (pulses * _wordline_j(cols) + counter)
    # Readout: one SAR conversion per block column per window and vector.
    conversions = vectors * windows * block_cols
    e["readout"] = conversions * _sar_j(adc_bits, cycle_s)
    # Shift-add: each output merges `partials` digital values of (adc + weight + input) bits.
    outputs = vectors * k
    e["shift_add"] = outputs * (partials - 1) * (adc_bits + wb + ab) * c["add_pj_per_bit"] * PJ
    in_bits = IN_FEATURES * TOKENS * ab
    out_bits = k * TOKENS * ab
    io_bits = in_bits + out_bits
    # Tile buffer: inputs read once per vector per row (ab bits each), plus the layer's I/O.
    tb_reads = vectors * block_rows * ab
    e["tile_buffer"] = (tb_reads + io_bits) * _sram_pj(tile_kb) * PJ
    # Sequential: the layer's I/O is stored in the GLB; NoC 1 + 2/3 sqrt(groups) hops.
    e["glb"] = io_bits * _sram_pj(glb_kb) * PJ
    hops = 1.0 + 2.0 / 3.0 * math.sqrt(1)
    e["noc"] = io_bits * hops * c["noc_pj_per_bit_hop"] * PJ
    e["vector_unit"] = 0.0
    # DRAM: network input (first layer) and output (last layer); no weight traffic when stationary.
    e["dram"] = (in_bits + out_bits) * c["dram_pj_per_bit"] * PJ
    e["weight_write"] = 0.0

    # --- latency -----------------------------------------------------------------------------
    # Copies share the vectors; no spare crossbar -> no replication.
    compute_s = math.ceil(vectors / copies) * cycles_per_vector * cycle_s
    glb_s = io_bits / glb_bw * cycle_s
    noc_s = io_bits / noc_bits * cycle_s
    latency = max(compute_s, glb_s, noc_s)

    # --- area (um^2) -------------------------------------------------------------------------
    f_um = 45 / 1000.0
    fa = c["fa_area_um2"]
    bit_um2 = c.raw["node_scaling"]["sram_cell_um2"][45] / c["sram_array_efficiency"]
    a: dict[str, float] = {
        "cells": rows * cols * c.device("rram", "cell_area_f2") * f_um**2,
        "readout": n_adc * _sar_area_um2(adc_bits),
        "row_drivers": rows * (c["row_driver_area_um2"] + c["row_driver_area_um2_per_col"] * cols),
        "shift_add": n_adc * (adc_bits + 8) * fa,
        "tile_buffer": tile_kb * 8192 * bit_um2,
        "vector_unit": lanes * c["vector_lane_area_um2"],
        "tile_overhead": c["tile_overhead_mm2"] * 1e6,
        "router": c["router_area_mm2"] * 1e6,
        "glb": glb_kb * 8192 * bit_um2,
    }
    area_um2 = sum(a.values())

    # --- leakage: SRAM buffer bits, logic area, and the readout's bias (RRAM cells: none) ------
    buffer_bits = (tile_kb + glb_kb) * 8192
    logic_mm2 = 1e-6 * sum(
        a[x] for x in ("row_drivers", "shift_add", "vector_unit", "tile_overhead", "router")
    )
    readout_w = a["readout"] * 1e-6 * c["adc_leak_w_per_mm2"]
    leak_w = (
        buffer_bits * c["sram_leak_pw_per_bit"] * PJ
        + logic_mm2 * c["logic_leak_w_per_mm2"]
        + readout_w
    )
    e["leakage"] = leak_w * latency

    energy = sum(e.values())
    ops = 2.0 * weights * TOKENS
    area_m2 = area_um2 * 1e-12
    chip_cells = 1 * rows * cols
    # Peak: every crossbar a full-array 8b x 8b MVM per window: rows x floor(cols / ws) MACs in
    # 8 / dac windows of ceil(cols / n_adc) steps each.
    peak = (
        2.0 * rows * (cols // ws) / (math.ceil(8 / dac) * math.ceil(cols / n_adc) * cycle_s) / 1e12
    )
    slot_ns = c["t_pulse_ns"] * (2**dac - 1)  # one pulse (bit_serial) or a 2^d - 1 pulse train
    metrics = {
        "energy_j": energy,
        "latency_s": latency,
        "period_s": latency,
        "area_m2": area_m2,
        "area_mm2": area_um2 * 1e-6,
        "edap_j_s_m2": energy * latency * area_m2,
        "ops": ops,
        "tops": ops / latency / 1e12,
        "peak_tops": peak,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": ops / latency / 1e12 / (area_um2 * 1e-6),
        "peak_tops_per_mm2": peak / (area_um2 * 1e-6),
        "utilization": weight_cells / chip_cells,
        "xbar_utilization": weight_cells / (xbars * rows * cols),
        "xbars_needed": xbars,
        "xbars_available": 1,
        "weight_groups": 1,
        "cycle_time_ns": 4.0,
        # Bitline settling (256 active rows) + the encoding's slot + adc_bits + 1 comparisons.
        "min_cycle_time_ns": c["t_read_ns"] + slot_ns + (adc_bits + 1) * c["t_comparator_ns"],
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
            "conversions_per_window": block_cols,
            "weight_cells": weight_cells,
            "partials": partials,
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
    m = _mapped(spec, _linear_workload(case.out_features))
    hand = _hand_linear(case)["mapping"]
    assert m.xbars[0, 0] == case.xbars
    assert m.weight_slices[0, 0] == case.weight_slices
    assert m.cols_b[0, 0] == case.cols
    assert m.rows_b[0, 0] == IN_FEATURES
    assert m.input_slices[0, 0] == case.input_slices
    assert m.windows[0, 0] == case.input_slices
    assert m.copies[0, 0] == case.copies
    assert m.row_groups[0, 0] == 1
    assert m.steps[0, 0] == case.steps
    assert m.cycles_per_vector[0, 0] == hand["cycles_per_vector"]
    assert m.conversions_per_window[0, 0] == hand["conversions_per_window"]
    assert m.partials[0, 0] == hand["partials"]
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
    # Case 0: compute 10 tokens x 8 windows x 1 step x 4 ns = 320 ns beats the NoC
    # (11,520 bits / 256 x 4 ns = 180 ns) and the GLB (45 ns). Case 2 (2 bits per cycle):
    # compute drops to 160 ns, so the NoC bound of 180 ns sets the latency.
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


# --- pipelined execution ----------------------------------------------------------------------


@pytest.mark.parametrize("noc_bits", [256, 8], ids=["stage-bound", "noc-bound"])
def test_pipelined_two_layers_by_hand(noc_bits: int) -> None:
    """fc1 128 -> 16 then fc2 16 -> 128, 10 tokens, one crossbar each (2 macros, no spare)."""
    c = load_constants()
    fc1 = _linear_layer("fc1", IN_FEATURES, 16)
    fc2 = _linear_layer("fc2", 16, 128)
    wl = Workload("two", (fc1, fc2), histograms={"fc1": _histogram(), "fc2": _histogram()})
    cycle_s, ab = 4e-9, 8
    pipe = _reference_spec("pipelined", tile={"macros": 2}, chip={"noc_bits": noc_bits})
    seq = _reference_spec("sequential", tile={"macros": 2}, chip={"noc_bits": noc_bits})
    ev = evaluate(pipe, wl, breakdown=True)
    ev_seq = evaluate(seq, wl, breakdown=True)
    # fc1: case 0 above, 1 copy (2 would not save time) x 1 step: 10 tokens x 8 windows x 1 step.
    t1 = TOKENS * 8 * 1 * cycle_s
    # fc2: a 16 x 256 block: one slot (256 columns), 8 steps per window.
    t2 = TOKENS * 8 * math.ceil(256 / 32) * cycle_s
    assert (t1, t2) == pytest.approx((320e-9, 2560e-9), rel=1e-12)
    # Stage times are the engines' busy times (no per-layer GLB/NoC bound in a pipeline).
    np.testing.assert_allclose(ev.layer_latency[0], [t1, t2], rtol=RTOL)
    # Period: the slowest stage, the shared NoC (all stages' traffic over noc_bits x groups per
    # cycle) or the DRAM stream of the network input and output.
    io1 = (IN_FEATURES + 16) * TOKENS * ab
    io2 = (16 + 128) * TOKENS * ab
    shared = (io1 + io2) / (noc_bits * 1) * cycle_s
    dram_bits = (IN_FEATURES + 128) * TOKENS * ab
    dram_s = dram_bits / (25.6e9 * 8)
    period = max(t1, t2, shared, dram_s)
    assert period == pytest.approx(2560e-9 if noc_bits == 256 else 11520e-9, rel=1e-12)
    np.testing.assert_allclose(ev["period_s"][0], period, rtol=RTOL)
    # Latency: each stage's fill (the rows its consumer needs first: fc2 needs 1 of fc1's 10
    # token rows; the network output needs all of fc2), plus the rest of the slowest stage
    # (fc2, whose fill is already all of it: + 0); never below one period.
    fill = (1 / TOKENS, 1.0)
    t_b, f_b = max((t1, fill[0]), (t2, fill[1]))
    assert (t_b, f_b) == (t2, 1.0)
    latency = max(t1 * fill[0] + t2 * fill[1] + (1 - f_b) * t_b, period)
    # Stage-bound: 32 ns + 2560 ns; NoC-bound: the 11,520 ns period.
    assert latency == pytest.approx(2592e-9 if noc_bits == 256 else 11520e-9, rel=1e-12)
    np.testing.assert_allclose(ev["latency_s"][0], latency, rtol=RTOL)
    ops = 2.0 * (IN_FEATURES * 16 + 16 * 128) * TOKENS
    np.testing.assert_allclose(ev["tops"][0], ops / period / 1e12, rtol=RTOL)
    np.testing.assert_allclose(ev["power_w"][0], ev["energy_j"][0] / period, rtol=RTOL)
    # Sequential on the same chip: every layer waits for its own GLB/NoC traffic, in turn.
    per_bit = max(1 / 1024, 1 / noc_bits) * cycle_s
    seq_t = max(t1, io1 * per_bit) + max(t2, io2 * per_bit)
    np.testing.assert_allclose(ev_seq["latency_s"][0], seq_t, rtol=RTOL)
    np.testing.assert_allclose(ev_seq["period_s"][0], seq_t, rtol=RTOL)
    # Energy: in a pipeline activations go tile to tile over one hop and only the network
    # input and output pass the GLB; sequential stores every layer's I/O in the GLB and
    # crosses 1 + 2/3 sqrt(1) hops on average.
    glb_pj, noc_pj = _sram_pj(256.0), c["noc_pj_per_bit_hop"]
    e, es = ev.energy_by_component, ev_seq.energy_by_component
    np.testing.assert_allclose(e["glb"][0], dram_bits * glb_pj * PJ, rtol=RTOL)
    np.testing.assert_allclose(es["glb"][0], (io1 + io2) * glb_pj * PJ, rtol=RTOL)
    np.testing.assert_allclose(e["noc"][0], (io1 + io2) * noc_pj * PJ, rtol=RTOL)
    np.testing.assert_allclose(es["noc"][0], (io1 + io2) * (5 / 3) * noc_pj * PJ, rtol=RTOL)
    # Leakage is charged over one period (the same static power in both).
    np.testing.assert_allclose(e["leakage"][0] / period, es["leakage"][0] / seq_t, rtol=RTOL)
    for name in ("cells", "row_drivers", "readout", "shift_add", "tile_buffer", "dram"):
        np.testing.assert_allclose(e[name][0], es[name][0], rtol=1e-12, err_msg=name)


def test_pipelined_single_inference_is_never_slower_than_sequential() -> None:
    # One layer, unbounded GLB/NoC: a single inference takes the layer's compute time whether
    # the (one-stage) pipeline or a sequential schedule runs it (hand: 10 x 8 x 8 x 4 ns).
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    wl = _linear_workload(128)
    pipe = evaluate(_reference_spec("pipelined", chip=chip), wl)
    seq = evaluate(_reference_spec("sequential", chip=chip), wl)
    t = TOKENS * 8 * 8 * 4e-9
    np.testing.assert_allclose(seq["latency_s"][0], t, rtol=RTOL)
    np.testing.assert_allclose(pipe["period_s"][0], t, rtol=RTOL)
    assert pipe["latency_s"][0] <= seq["latency_s"][0] * (1 + 1e-12)


# --- digital SRAM macro -----------------------------------------------------------------------


def test_digital_linear_by_hand() -> None:
    """Adder-tree readout: one-bit cells, one readout per column and input bit, no ADC."""
    c = load_constants()
    base = _reference_spec(chip={"glb_bandwidth_bits": None, "noc_bits": None})
    spec = chip_from_dict(
        {
            **base.model_dump(),
            "device": {"kind": "sram", "bits_per_cell": 1},
            "macro": {**base.macro.model_dump(), "kind": "digital", "readout": "adder_tree"},
        }
    )
    ev = evaluate(spec, _linear_workload(16), breakdown=True)
    rows, cols, wb, ab = 256, 256, 8, 8
    ws = wb  # one bit per cell
    block_rows, block_cols = IN_FEATURES, 16 * ws  # 128 x 128 -> 2 diagonal slots: 2 copies
    copies = min(rows // block_rows, cols // block_cols)
    assert copies == 2
    in_slices = ab
    conversions = TOKENS * in_slices * block_cols
    q_in, q_w = _levels()
    in_bit = _mean_slice_level(q_in, ab, 1)  # 5/8
    w_bit = _mean_slice_level(q_w, wb, 1)  # 54 = 0b00110110 -> 4/8
    assert (in_bit, w_bit) == (5 / 8, 4 / 8)
    # Readout: per output an adder tree of ~2 full-adder bits per summed row (activity floor +
    # data activity), plus the output register of log2(rows) + 1 bits.
    floor = c["tree_activity_floor"]
    activity = floor + (1 - floor) * in_bit * w_bit
    tree_bits = 2 * min(block_rows, rows)
    e_tree = conversions * tree_bits * activity * c["tree_fj_per_bit"] * FJ
    e_reg = conversions * (math.log2(rows) + 1) * c["add_pj_per_bit"] * PJ
    np.testing.assert_allclose(ev.energy_by_component["readout"][0], e_tree + e_reg, rtol=RTOL)
    # Cells: a one-bit cell's level is its bit; SRAM on/off ratio for g0; the other copy's
    # block on each row sits at g0. SRAM read energy is C V^2 at the reference: factor 1.
    g0 = 1 / c.device("sram", "on_off_ratio")
    cells = TOKENS * in_slices * (IN_FEATURES * 16 * ws) * in_bit * (copies * g0 + (1 - g0) * w_bit)
    np.testing.assert_allclose(
        ev.energy_by_component["cells"][0],
        cells * c.device("sram", "read_energy_fj") * FJ,
        rtol=RTOL,
    )
    # Shift-add: per output 8 input slices x 8 weight slices = 64 partials of
    # (log2(rows) + 1 + wb + ab) bits merged.
    partials = in_slices * ws
    adds = TOKENS * 16 * (partials - 1)
    np.testing.assert_allclose(
        ev.energy_by_component["shift_add"][0],
        adds * (math.log2(rows) + 1 + wb + ab) * c["add_pj_per_bit"] * PJ,
        rtol=RTOL,
    )
    # Area: per column an adder tree of 2 x active rows full-adder bits (the readout) and
    # log2(rows) + 9 bits of accumulator; no ADCs.
    fa = c["fa_area_um2"]
    np.testing.assert_allclose(
        ev.area_by_component["readout"][0], cols * 2 * rows * fa * 1e-12, rtol=RTOL
    )
    np.testing.assert_allclose(
        ev.area_by_component["shift_add"][0], cols * (math.log2(rows) + 9) * fa * 1e-12, rtol=RTOL
    )
    # Cycle: one input pulse slot + log2(rows) + 2 full-adder delays; one step per input slice,
    # 2 copies share the 10 tokens.
    np.testing.assert_allclose(
        ev["min_cycle_time_ns"][0],
        c["t_pulse_ns"] + (math.log2(rows) + 2) * c["t_fa_ns"],
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        ev["latency_s"][0], math.ceil(TOKENS / copies) * in_slices * 4e-9, rtol=RTOL
    )
    # Leakage (one macro, 0.9 V: factor 1): buffer bits and SRAM cells at their per-bit rates;
    # the adder trees (the readout area) leak as logic, like the row drivers and shift-add.
    a = ev.area_by_component
    logic = ("readout", "row_drivers", "shift_add", "vector_unit", "tile_overhead", "router")
    logic_mm2 = sum(a[x][0] for x in logic) * 1e6
    leak_w = (
        (64.0 + 256.0) * 8192 * c["sram_leak_pw_per_bit"] * PJ
        + rows * cols * c.device("sram", "leak_pw_per_cell") * PJ
        + logic_mm2 * c["logic_leak_w_per_mm2"]
    )
    np.testing.assert_allclose(
        ev.energy_by_component["leakage"][0], leak_w * ev["latency_s"][0], rtol=RTOL
    )


# --- new knobs: active rows, slices per conversion, unrolling, encodings, readouts ------------


def test_active_rows_add_row_groups_cycles_and_conversions() -> None:
    # 128 -> 128 (a 128 x 256 block, one slot) with 64 of 256 rows active: the block is read in
    # ceil(128 / 64) = 2 row groups; each column is converted once per group.
    c = load_constants()
    wl = _linear_workload(128)
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    full = _reference_spec(chip=chip)
    half = _reference_spec(chip=chip, active_rows=64)
    m = _mapped(half, wl)
    groups = math.ceil(IN_FEATURES / 64)
    assert m.row_groups[0, 0] == groups == 2
    # 256 columns x 2 groups over 32 ADCs: 16 steps per window (vs 8), 8 windows.
    steps = math.ceil(256 * groups / 32)
    assert m.steps[0, 0] == steps == 16
    assert m.cycles_per_vector[0, 0] == 8 * steps
    assert m.conversions_per_window[0, 0] == 256 * groups
    # Partials per output: 8 windows x 2 groups x 2 weight slices.
    assert m.partials[0, 0] == 8 * groups * 2
    ev_full, ev_half = evaluate(full, wl), evaluate(half, wl)
    np.testing.assert_allclose(ev_half["latency_s"][0], TOKENS * 8 * steps * 4e-9, rtol=RTOL)
    np.testing.assert_allclose(ev_full["latency_s"][0], TOKENS * 8 * 8 * 4e-9, rtol=RTOL)
    e_conv = _sar_j(8, 4e-9)
    np.testing.assert_allclose(
        ev_half.energy_by_component["readout"][0],
        TOKENS * 8 * 256 * groups * e_conv,
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        ev_half.energy_by_component["readout"][0],
        2 * ev_full.energy_by_component["readout"][0],
        rtol=1e-12,
    )
    add = (8 + 8 + 8) * c["add_pj_per_bit"] * PJ
    np.testing.assert_allclose(
        ev_half.energy_by_component["shift_add"][0],
        TOKENS * 128 * (8 * groups * 2 - 1) * add,
        rtol=RTOL,
    )
    # Fewer rows on the bitline settle faster: t_read x sqrt(64 / 256).
    np.testing.assert_allclose(
        ev_half["min_cycle_time_ns"][0],
        c["t_read_ns"] * math.sqrt(64 / 256) + c["t_pulse_ns"] + 9 * c["t_comparator_ns"],
        rtol=RTOL,
    )


def test_slices_per_conversion_fewer_conversions() -> None:
    # 4 one-bit slices integrated per conversion: 8 slices -> 2 windows; 4x fewer conversions
    # and cycles (8 steps per window); cells and drivers still see every slice.
    c = load_constants()
    wl = _linear_workload(128)
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    one = evaluate(_reference_spec(chip=chip), wl)
    four = evaluate(_reference_spec(chip=chip, slices_per_conversion=4), wl)
    m = _mapped(_reference_spec(slices_per_conversion=4), wl)
    windows = math.ceil(8 / 4)
    assert m.windows[0, 0] == windows == 2
    assert m.input_slices[0, 0] == 8
    np.testing.assert_allclose(
        four.energy_by_component["readout"][0], TOKENS * windows * 256 * _sar_j(8, 4e-9), rtol=RTOL
    )
    np.testing.assert_allclose(
        four.energy_by_component["readout"][0],
        one.energy_by_component["readout"][0] / 4,
        rtol=1e-12,
    )
    # Partials: 2 windows x 2 weight slices per output.
    add = (8 + 8 + 8) * c["add_pj_per_bit"] * PJ
    np.testing.assert_allclose(
        four.energy_by_component["shift_add"][0], TOKENS * 128 * (2 * 2 - 1) * add, rtol=RTOL
    )
    np.testing.assert_allclose(four["latency_s"][0], TOKENS * windows * 8 * 4e-9, rtol=RTOL)
    for name in ("cells", "row_drivers"):
        np.testing.assert_allclose(
            four.energy_by_component[name][0], one.energy_by_component[name][0], rtol=1e-12
        )


def _dw_workload(channels: int) -> Workload:
    layer = make_layer(
        "dw",
        "dwconv",
        in_channels=channels,
        out_channels=channels,
        kernel_h=3,
        kernel_w=3,
        groups=channels,
        in_h=8,
        in_w=8,
        out_h=8,
        out_w=8,
    )
    return Workload("w", (layer,), histograms={"dw": _histogram()})


def test_pack_groups_false_gives_each_group_its_own_crossbar() -> None:
    # Depthwise 32 ch 3x3: 9 x 2 blocks. Packed: 28 per crossbar -> 2 crossbars; unpacked
    # (CiMLoop's placement): one crossbar per group -> 32.
    c = load_constants()
    wl = _dw_workload(32)
    packed, unpacked = _reference_spec(), _reference_spec(pack_groups=False)
    mp, mu = _mapped(packed, wl), _mapped(unpacked, wl)
    assert (int(mp.pack[0, 0]), int(mp.xbars[0, 0])) == (28, 2)
    assert (int(mu.pack[0, 0]), int(mu.xbars[0, 0]), int(mu.copies[0, 0])) == (1, 32, 1)
    # Unpacked, a crossbar converts its 2 columns in one step (vs ceil(56 / 32) = 2 packed);
    # the same 32 x 2 columns are converted per window either way.
    assert (int(mu.steps[0, 0]), int(mp.steps[0, 0])) == (1, 2)
    assert int(mu.conversions_per_window[0, 0]) == int(mp.conversions_per_window[0, 0]) == 64
    ev_p = evaluate(packed, wl)
    ev_u = evaluate(unpacked, wl)
    assert ev_u["xbars_needed"][0] == 32 and not ev_u.feasible[0]  # one macro on chip
    np.testing.assert_allclose(
        ev_u.energy_by_component["readout"][0], ev_p.energy_by_component["readout"][0], rtol=1e-12
    )
    # Cells: a packed row also drives the 27 other blocks' cells at g0; unpacked none.
    q_in, q_w = _levels()
    pulses = 64 * 8 * (32 * 9 * 2) * _mean_slice_level(q_in, 8, 1)  # positions x slices x cells
    g0 = 1 / c.device("rram", "on_off_ratio")
    w_lvl = _mean_slice_level(q_w, 8, 4)
    e_read = c.device("rram", "read_energy_fj") * FJ
    for ev, blocks in ((ev_p, 28), (ev_u, 1)):
        np.testing.assert_allclose(
            ev.energy_by_component["cells"][0],
            pulses * e_read * (blocks * g0 + (1 - g0) * w_lvl),
            rtol=RTOL,
        )


def test_in_array_unrolling_copies_and_cycles() -> None:
    # Depthwise with 8 groups: 28 diagonal slots -> 28 // 8 = 3 copies of the 8 packed blocks.
    m = _mapped(_reference_spec(), _dw_workload(8))
    assert (int(m.pack[0, 0]), int(m.copies[0, 0]), int(m.xbars[0, 0])) == (8, 3, 1)
    # 32 groups fill more than the slots: no copy.
    assert int(_mapped(_reference_spec(), _dw_workload(32)).copies[0, 0]) == 1
    # Linear 128 -> 16 (a 128 x 32 block): 2 slots -> 2 copies. With one ADC per column the
    # converters are idle: 1 step per window, so the copies halve the cycles (5 rounds x 8).
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    idle = _reference_spec(chip=chip, cols_per_adc=1)
    m = _mapped(idle, _linear_workload(16))
    assert (int(m.copies[0, 0]), int(m.steps[0, 0])) == (2, 1)
    ev = evaluate(idle, _linear_workload(16))
    np.testing.assert_allclose(ev["latency_s"][0], math.ceil(TOKENS / 2) * 8 * 1 * 4e-9, rtol=RTOL)
    # A 129-row block has one slot: no copy, every token in turn.
    ev129 = evaluate(idle, _linear_workload(16, in_features=129))
    assert int(_mapped(idle, _linear_workload(16, in_features=129)).copies[0, 0]) == 1
    np.testing.assert_allclose(ev129["latency_s"][0], TOKENS * 8 * 1 * 4e-9, rtol=RTOL)
    assert ev["latency_s"][0] < ev129["latency_s"][0]
    # Copies do not change the conversions (the same outputs are converted).
    np.testing.assert_allclose(
        ev.energy_by_component["readout"][0], TOKENS * 8 * 32 * _sar_j(8, 4e-9), rtol=RTOL
    )


@pytest.mark.parametrize(
    ("in_features", "tokens"), [(128, 9), (16, 10)], ids=["odd-tokens", "eight-copies"]
)
def test_unrolling_never_adds_cycles(in_features: int, tokens: int) -> None:
    # ADC-bound (8 columns per ADC): without copies a 128 x 32 or 16 x 32 block needs
    # ceil(32 / 32) = 1 step per window, i.e. tokens x 8 windows x 1 step; copies cannot beat
    # the ADCs, but they must not be slower either (copies are dropped where they save nothing).
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    ev = evaluate(_reference_spec(chip=chip), _linear_workload(16, in_features, tokens))
    assert ev["latency_s"][0] <= tokens * 8 * 1 * 4e-9 * (1 + 1e-12)


def _encoding_spec(encoding: str, dac: int) -> ChipSpec:
    return _reference_spec(input_bits_per_cycle=dac, input_encoding=encoding)


def test_input_encodings_energy_ordering() -> None:
    # Input value 181 on 128 rows of a 128 -> 16 layer, 10 tokens:
    #   bit_serial (1 bit/cycle): 8 slices, 5 pulses per row in all;
    #   pulse_count (2 bits): slices 1, 1, 3, 2 -> 7 unit pulses per row;
    #   voltage_dac (2 bits): 4 DAC conversions per row + a wordline swing to the level:
    #   4 x 7/12 = 7/3 full swings.
    c = load_constants()
    wl = _linear_workload(16)
    q_in, q_w = _levels()
    pulses_per_row = {
        "bit_serial": 8 * _mean_slice_level(q_in, 8, 1),
        "pulse_count": 4 * _mean_slice_level(q_in, 8, 2) * 3,
        "voltage_dac": 4 * _mean_slice_level(q_in, 8, 2),
    }
    assert pulses_per_row == pytest.approx(
        {"bit_serial": 5, "pulse_count": 7, "voltage_dac": 7 / 3}
    )
    dac_j = {
        "bit_serial": 0.0,
        "pulse_count": 4 * 3 * 2 * _dff_j(),  # 4 slices x 3 counter steps x 2 bits
        "voltage_dac": 4 * c["dac_fj_per_step"] * 4 * FJ,
    }
    g0 = 1 / c.device("rram", "on_off_ratio")
    # One copy (case 0: a second would not save time): g0 + (1 - g0) x level per cell.
    cell = (
        c.device("rram", "read_energy_fj") * FJ * (1 * g0 + (1 - g0) * _mean_slice_level(q_w, 8, 4))
    )
    got = {}
    for enc, dac in (("bit_serial", 1), ("pulse_count", 2), ("voltage_dac", 2)):
        ev = evaluate(_encoding_spec(enc, dac), wl)
        rd, cl = ev.energy_by_component["row_drivers"][0], ev.energy_by_component["cells"][0]
        hand_rd = TOKENS * IN_FEATURES * (pulses_per_row[enc] * _wordline_j(256) + dac_j[enc])
        np.testing.assert_allclose(rd, hand_rd, rtol=RTOL, err_msg=enc)
        # 32 cells per row (one copy: no other block's cells on the row at g0).
        hand_cl = TOKENS * IN_FEATURES * 32 * pulses_per_row[enc] * cell
        np.testing.assert_allclose(cl, hand_cl, rtol=RTOL, err_msg=enc)
        got[enc] = (rd + cl, ev["min_cycle_time_ns"][0])
    assert got["voltage_dac"][0] < got["bit_serial"][0] < got["pulse_count"][0]
    # Cycle: one pulse slot, a 3-pulse train, or one DAC settling.
    slot = {
        "bit_serial": c["t_pulse_ns"],
        "pulse_count": 3 * c["t_pulse_ns"],
        "voltage_dac": c["t_dac_ns"],
    }
    for enc, s in slot.items():
        expected = c["t_read_ns"] + s + 9 * c["t_comparator_ns"]
        np.testing.assert_allclose(got[enc][1], expected, rtol=RTOL, err_msg=enc)
    # A row DAC per row: 2^2 unit steps of area each.
    a_dac = evaluate(_encoding_spec("voltage_dac", 2), wl).area_by_component["row_drivers"][0]
    a_cnt = evaluate(_encoding_spec("pulse_count", 2), wl).area_by_component["row_drivers"][0]
    np.testing.assert_allclose(
        a_dac - a_cnt, 256 * c["dac_area_um2_per_step"] * 4 * 1e-12, rtol=1e-9
    )


@pytest.mark.parametrize("bits", [3, 4, 6, 8])
def test_flash_readout_energy_follows_comparators(bits: int) -> None:
    # 2^bits - 1 comparators decide per conversion; one comparison (x2) of time.
    c = load_constants()
    ev = evaluate(_reference_spec(readout="flash", adc_bits=bits), _linear_workload(16))
    conversions = TOKENS * 8 * 32
    np.testing.assert_allclose(
        ev.energy_by_component["readout"][0],
        conversions * (2**bits - 1) * c["comparator_fj"] * FJ,
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        ev.area_by_component["readout"][0],
        32 * (2**bits - 1) * c["comparator_area_um2"] * 1e-12,
        rtol=RTOL,
    )
    np.testing.assert_allclose(
        ev["min_cycle_time_ns"][0],
        c["t_read_ns"] + c["t_pulse_ns"] + 2 * c["t_comparator_ns"],
        rtol=RTOL,
    )


def test_integrate_fire_energy_grows_with_output_level() -> None:
    # Energy per conversion: the integrator (fixed) plus one decrement step per output bit,
    # weighted by the mean output level = (mean input bit level) x (mean weight slice level).
    # 8 bit-serial input slices are 8 phases; phase i resolves max(4 - i, 0) output bits (the
    # rest fall below the output's LSB): 4 + 3 + 2 + 1 = 10 decrement steps per vector.
    c = load_constants()
    bits = 4
    spec = _reference_spec(
        readout="integrate_fire", adc_bits=bits, technology={"cycle_time_ns": None}
    )
    _, q_w = _levels()
    w_lvl = _mean_slice_level(q_w, 8, 4)
    energies = []
    for q in (1, 181, 255):
        k = next(
            k for k in range(N_BINS) if _center(k) > 0 and _quantize(_center(k), 8, False) == q
        )
        hist = LayerHistogram(_one_hot(k), _one_hot(W_BIN), source=f"q={q}")
        ev = evaluate(spec, _linear_workload(16, hist=hist))
        out_lvl = _mean_slice_level(q, 8, 1) * w_lvl
        per_vec = (8 * c["if_fixed_fj"] + out_lvl * 10 * c["if_step_fj"]) * FJ
        np.testing.assert_allclose(
            ev.energy_by_component["readout"][0], TOKENS * 32 * per_vec, rtol=RTOL
        )
        energies.append(ev.energy_by_component["readout"][0])
        # One neuron step is the clock of a time-domain macro (clock left unset).
        t_min = c["t_read_ns"] + c["t_pulse_ns"] + c["t_if_step_ns"]
        np.testing.assert_allclose(ev["cycle_time_ns"][0], t_min, rtol=RTOL)
    assert energies[0] < energies[1] < energies[2]


def test_unset_cycle_time_uses_min_cycle_time() -> None:
    c = load_constants()
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    spec = _reference_spec(technology={"cycle_time_ns": None}, chip=chip)
    ev = evaluate(spec, _linear_workload(128))
    t_min = c["t_read_ns"] + c["t_pulse_ns"] + 9 * c["t_comparator_ns"]
    np.testing.assert_allclose(ev["min_cycle_time_ns"][0], t_min, rtol=RTOL)
    np.testing.assert_allclose(ev["cycle_time_ns"][0], t_min, rtol=RTOL)
    assert ev.feasible[0]
    # The clock sets the time and the ADC's conversion rate (hence its speed penalty).
    cycle_s = t_min * 1e-9
    np.testing.assert_allclose(ev["latency_s"][0], TOKENS * 8 * 8 * cycle_s, rtol=RTOL)
    np.testing.assert_allclose(
        ev.energy_by_component["readout"][0], TOKENS * 8 * 256 * _sar_j(8, cycle_s), rtol=RTOL
    )


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
    m = _mapped(spec, Workload("w", (layer,)))
    got = {k: int(getattr(m, k)[0, 0]) for k in expected}
    assert got == expected
    ev = evaluate(spec, Workload("w", (layer,)), breakdown=True)
    assert ev.layer_xbars[0, 0] == expected["xbars"]
    assert ev["xbars_needed"][0] == expected["xbars"]


def test_depthwise_packed_steps_and_conversions() -> None:
    # 28 packed 9 x 2 blocks use 56 columns of a 256-column crossbar with 32 ADCs -> ceil(56 / 32)
    # = 2 conversion steps per window; every channel's 2 columns are converted:
    # 32 x 2 = 64 conversions per window and output position. 32 groups > 28 slots: no copy.
    spec = _reference_spec()
    wl = _dw_workload(32)
    m = _mapped(spec, wl)
    assert int(m.copies[0, 0]) == 1
    assert int(m.row_groups[0, 0]) == 1  # 28 x 9 = 252 rows, all active
    assert int(m.steps[0, 0]) == 2
    assert int(m.cycles_per_vector[0, 0]) == 8 * 2
    assert int(m.conversions_per_window[0, 0]) == 64
    ev = evaluate(spec, wl, breakdown=True)
    conversions = 64 * 8 * 64  # positions x windows x per window
    np.testing.assert_allclose(
        ev.energy_by_component["readout"][0], conversions * _sar_j(8, 4e-9), rtol=RTOL
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
    # Doubling the typical SAR's scale over the survey doubles every conversion.
    raw["constants"]["adc_energy_scale"]["value"] = 2 * c["adc_energy_scale"]
    raw["devices"]["rram"]["read_energy_fj"]["value"] = 3 * c.device("rram", "read_energy_fj")
    raw["constants"]["row_driver_area_um2"]["value"] = 5 * c["row_driver_area_um2"]
    raw["constants"]["row_driver_area_um2_per_col"]["value"] = 5 * c["row_driver_area_um2_per_col"]
    c2 = parse_constants(raw)
    spec, wl = _reference_spec(), _linear_workload(16)
    base = evaluate(spec, wl)
    mod = evaluate(spec, wl, constants=c2)
    e0, e1 = base.energy_by_component, mod.energy_by_component
    ratio = 2.0
    np.testing.assert_allclose(e1["readout"], ratio * e0["readout"], rtol=1e-12)
    np.testing.assert_allclose(e1["cells"], 3 * e0["cells"], rtol=1e-12)
    for name in ("row_drivers", "shift_add", "tile_buffer", "glb", "noc", "dram"):
        np.testing.assert_allclose(e1[name], e0[name], rtol=1e-12, err_msg=name)
    a0, a1 = base.area_by_component, mod.area_by_component
    np.testing.assert_allclose(a1["row_drivers"], 5 * a0["row_drivers"], rtol=1e-12)
    np.testing.assert_allclose(a1["cells"], a0["cells"], rtol=1e-12)
    assert mod.designs["read_energy_fj"][0] == 3 * c.device("rram", "read_energy_fj")


def test_combined_weight_bits_by_hand() -> None:
    # Analog bit-column combining: the 2 bit-columns of a weight give one conversion, so the
    # 128 -> 16 layer converts 16 (not 32) values per window; 2 copies x 16 weights over 32 ADCs
    # -> 1 step; one partial per window (8 per output).
    c = load_constants()
    chip = {"glb_bandwidth_bits": None, "noc_bits": None}
    spec = _reference_spec(chip=chip, combine_weight_bits=True)
    m = _mapped(spec, _linear_workload(16))
    assert (int(m.conversions_per_window[0, 0]), int(m.steps[0, 0])) == (16, 1)
    assert int(m.partials[0, 0]) == 8
    ev = evaluate(spec, _linear_workload(16))
    conversions = TOKENS * 8 * 16
    np.testing.assert_allclose(
        ev.energy_by_component["readout"][0], conversions * _sar_j(8, 4e-9), rtol=RTOL
    )
    add = (8 + 8 + 8) * c["add_pj_per_bit"] * PJ
    np.testing.assert_allclose(
        ev.energy_by_component["shift_add"][0], TOKENS * 16 * (8 - 1) * add, rtol=RTOL
    )
    np.testing.assert_allclose(ev["latency_s"][0], math.ceil(TOKENS / 2) * 8 * 1 * 4e-9, rtol=RTOL)


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
    for name in ("cells", "row_drivers", "readout", "shift_add", "weight_write"):
        assert ev.energy_by_component[name][0] == 0.0, name
    assert ev["xbars_needed"][0] == 0
    # Latency (sequential): operations over 16 lanes x 1 tile, one per cycle; above the GLB/NoC
    # bounds (matmul I/O: (32*64 + 64*64) * 2 + 64*32*2 = 16,384 elements x 8 bits over 256-bit NoC
    # = 512 cycles; softmax 8,192 elements -> 256 cycles).
    lanes, cycle = 16, 4e-9
    np.testing.assert_allclose(ev.layer_latency[0, 0], math.ceil(macs / lanes) * cycle, rtol=RTOL)
    np.testing.assert_allclose(ev.layer_latency[0, 1], math.ceil(ops / lanes) * cycle, rtol=RTOL)
    assert ev["ops"][0] == 2 * macs


def test_readout_energy_scale_scales_only_the_readout() -> None:
    """macro.readout_energy_scale (a macro's own ADC vs its kind's model) multiplies the energy
    per conversion and the readout's static power, and nothing else."""
    spec, wl = _reference_spec(), _linear_workload(16)
    base = evaluate(spec, wl, breakdown=True)
    data = spec.model_dump()
    data["macro"]["readout_energy_scale"] = 2.5
    scaled = evaluate(ChipSpec.model_validate(data), wl, breakdown=True)
    e0, e1 = base.energy_by_component, scaled.energy_by_component
    np.testing.assert_allclose(e1["readout"], 2.5 * e0["readout"], rtol=1e-12)
    for name in ("cells", "row_drivers", "shift_add", "tile_buffer", "glb", "noc", "dram"):
        np.testing.assert_allclose(e1[name], e0[name], rtol=1e-12, err_msg=name)
    # Leakage: the SARs' static power (area x the bias density, at 45 nm / 0.9 V) grows by 1.5x
    # itself; the rest of the chip's leakage is unchanged.
    c = load_constants()
    extra_w = 1.5 * 32 * _sar_area_um2(8) * 1e-6 * c["adc_leak_w_per_mm2"]
    np.testing.assert_allclose(
        e1["leakage"] - e0["leakage"], extra_w * base["latency_s"], rtol=1e-9
    )
    np.testing.assert_allclose(scaled["latency_s"], base["latency_s"], rtol=1e-12)
    np.testing.assert_allclose(scaled["area_m2"], base["area_m2"], rtol=1e-12)
