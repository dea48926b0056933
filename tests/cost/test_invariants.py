"""Monotonicity and feasibility invariants of the cost model over parameter sweeps."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.constants import load_constants
from cimkit.specs import NODES_NM, ChipSpec, chip_from_dict
from cimkit.workload import LayerHistogram, Workload, make_layer
from cimkit.workload.histograms import CENTERS, N_BINS

#: Components whose energy is C(node) V^2 per event (RRAM cells follow the read pulse instead;
#: the SAR readout has a thermal floor and a rate penalty, checked on their own).
DYNAMIC = ("row_drivers", "shift_add", "tile_buffer", "glb", "noc", "vector_unit")


def _energy_factor(node_nm: float, voltage_v: float) -> float:
    """C(node) V^2 relative to 45 nm / 0.9 V: sqrt of the SRAM cell area ratio times (V / 0.9)^2."""
    c = load_constants()
    cell = c.raw["node_scaling"]["sram_cell_um2"]
    return (cell[node_nm] / cell[45]) ** 0.5 * (voltage_v / 0.9) ** 2


def _delay_factor(node_nm: float, voltage_v: float) -> float:
    """Gate delay relative to 45 nm / 0.9 V: feature size x the alpha-power law."""
    c = load_constants()
    cell = c.raw["node_scaling"]["sram_cell_um2"]
    vth, alpha = c["vth_v"], c["alpha_power"]
    law = voltage_v / (voltage_v - vth) ** alpha / (0.9 / (0.9 - vth) ** alpha)
    return (cell[node_nm] / cell[45]) ** 0.5 * law


def _survey_pj(bits: int, rate_hz: float, node_nm: int) -> float:
    """The ADC survey table's convert energy (pJ) at integer bits and a tabulated node, by hand:
    geometric interpolation between the two tabulated rates around ``rate_hz``."""
    path = resources.files("cimkit.data").joinpath("components/adc_survey.csv")
    with path.open() as fh:
        t = pd.read_csv(fh)
    t = t[(t.bits == bits) & (t.node_nm == node_nm)].sort_values("rate_sps")
    lo, hi = t[t.rate_sps <= rate_hz].iloc[-1], t[t.rate_sps > rate_hz].iloc[0]
    w = np.log(rate_hz / lo.rate_sps) / np.log(hi.rate_sps / lo.rate_sps)
    return float(lo.convert_energy_pj ** (1 - w) * hi.convert_energy_pj**w)


def mobilenet_like(weight_bits: int = 8, act_bits: int = 8) -> Workload:
    """A MobileNetV2-flavoured stack: stem conv, depthwise/pointwise blocks, pooling, classifier."""
    kw = dict(weight_bits=weight_bits, act_bits=act_bits)

    def conv(name, cin, cout, k, hw_in, hw_out, groups=1, op="conv"):
        return make_layer(
            name,
            op,
            in_channels=cin,
            out_channels=cout,
            kernel_h=k,
            kernel_w=k,
            in_h=hw_in,
            in_w=hw_in,
            out_h=hw_out,
            out_w=hw_out,
            groups=groups,
            stride=max(1, hw_in // hw_out),
            **kw,
        )

    layers = [
        conv("stem", 3, 32, 3, 224, 112),
        conv("b1.dw", 32, 32, 3, 112, 112, groups=32),
        conv("b1.pw", 32, 16, 1, 112, 112),
        conv("b2.exp", 16, 96, 1, 112, 112),
        conv("b2.dw", 96, 96, 3, 112, 56, groups=96),
        conv("b2.pw", 96, 24, 1, 56, 56),
        conv("b3.exp", 24, 144, 1, 56, 56),
        conv("b3.dw", 144, 144, 3, 56, 56, groups=144),
        conv("b3.pw", 144, 24, 1, 56, 56),
        make_layer(
            "b3.add",
            "eltwise",
            in_channels=24,
            out_channels=24,
            in_h=56,
            in_w=56,
            out_h=56,
            out_w=56,
            inputs=("b2.pw", "b3.pw"),
            **kw,
        ),
        conv("b4.exp", 24, 144, 1, 56, 56),
        conv("b4.dw", 144, 144, 5, 56, 28, groups=144),
        conv("b4.pw", 144, 96, 1, 28, 28),
        conv("big", 96, 320, 3, 28, 28),
        conv("grouped", 320, 320, 3, 28, 28, groups=4),
        conv("head", 320, 1280, 1, 28, 7),
        make_layer(
            "pool",
            "pool",
            in_channels=1280,
            out_channels=1280,
            in_h=7,
            in_w=7,
            kernel_h=7,
            kernel_w=7,
            **kw,
        ),
        make_layer("fc", "linear", in_channels=1280, out_channels=1000, **kw),
    ]
    return Workload("mobilenet-like", tuple(layers))


WORKLOAD = mobilenet_like()


def _sweep(base: ChipSpec, **arrays) -> DesignTable:
    return DesignTable.from_arrays(base, arrays)


# --- monotonicity -----------------------------------------------------------------------------


@pytest.mark.parametrize("combine", [False, True])
def test_more_adc_bits_more_readout_energy(combine: bool) -> None:
    bits = np.arange(1, 15)
    base = chip_from_dict({"macro": {"combine_weight_bits": combine}})
    ev = evaluate(_sweep(base, adc_bits=bits), WORKLOAD)
    readout = ev.energy_by_component["readout"]
    assert (readout > 0).all()
    assert (np.diff(readout) > 0).all()
    # ADC survey table (CiMLoop's ADC plug-in): at a fixed clock (rate 1 / 4 ns) and node
    # (32 nm) the conversions are the same for every resolution, so readout energy follows the
    # table's energy per conversion from 4 to 12 bits (outside it, linear extrapolation in
    # log energy, still rising).
    tab = np.array([_survey_pj(int(b), 1 / 4e-9, 32) for b in range(4, 13)])
    np.testing.assert_allclose(readout[4:12] / readout[3:11], tab[1:] / tab[:-1], rtol=1e-9)
    # Nearly flat at low resolution, steep above ~10 bits: 4 -> 8 bits costs 1.5-2x, not the
    # 16x of a Walden 2^bits law (the reason the survey replaced it, issue 9).
    assert 1.4 < readout[7] / readout[3] < 2.0
    assert readout[11] / readout[9] > 4.0
    assert (np.diff(ev.area_by_component["readout"]) > 0).all()
    assert (np.diff(ev["min_cycle_time_ns"]) > 0).all()


SIZES = np.array([8, 9, 16, 24, 32, 48, 64, 100, 128, 256, 300, 512, 1000, 1024, 2048, 4096])


@pytest.mark.parametrize("bpc", [1, 2, 4, 8])
def test_bigger_arrays_never_need_more_crossbars(bpc: int) -> None:
    rows, cols = np.meshgrid(SIZES, SIZES, indexing="ij")  # (R, C)
    table = _sweep(
        chip_from_dict({"device": {"bits_per_cell": bpc}, "macro": {"cols_per_adc": 8}}),
        rows=rows.ravel(),
        cols=cols.ravel(),
    )
    ev = evaluate(table, WORKLOAD, breakdown=True)
    per_layer = ev.layer_xbars.reshape(len(SIZES), len(SIZES), -1)  # (R, C, L)
    assert (np.diff(per_layer, axis=0) <= 0).all(), "more rows needed more crossbars"
    assert (np.diff(per_layer, axis=1) <= 0).all(), "more cols needed more crossbars"
    total = ev["xbars_needed"].reshape(len(SIZES), len(SIZES))
    assert (np.diff(total, axis=0) <= 0).all() and (np.diff(total, axis=1) <= 0).all()
    # Only crossbar layers (not pool/eltwise) take crossbars.
    names = ev.layer_names
    for j, name in enumerate(names):
        assert (per_layer[..., j] == 0).all() == (name in ("b3.add", "pool")), name


def _bin_for(q: int, bits: int = 8) -> int:
    """A bin whose center quantizes (unsigned) to q at ``bits`` bits."""
    centers = CENTERS
    hits = np.flatnonzero((centers >= 0) & (np.floor(centers * (2**bits - 1) + 0.5) == q))
    assert hits.size, q
    return int(hits[0])


@pytest.mark.parametrize("dac", [1, 2, 4, 8])
def test_energy_grows_with_input_bit_density(dac: int) -> None:
    # Inputs all at q = 1, 3, 7, ..., 255: magnitude and number of 1-bits both increase.
    weights = np.exp(-0.5 * np.linspace(-3, 3, N_BINS) ** 2)
    energies = []
    for q in (1, 3, 7, 15, 31, 63, 127, 255):
        inputs = np.zeros(N_BINS)
        inputs[_bin_for(q)] = 1.0
        hist = LayerHistogram(inputs, weights, source=f"q={q}")
        wl = WORKLOAD.with_histograms({layer.name: hist for layer in WORKLOAD.layers})
        ev = evaluate(chip_from_dict({"macro": {"input_bits_per_cycle": dac}}), wl)
        energies.append(
            ev.energy_by_component["cells"][0] + ev.energy_by_component["row_drivers"][0]
        )
    energies = np.array(energies)
    assert energies[0] > 0
    assert (np.diff(energies) > 0).all(), energies


def test_zero_inputs_activate_no_row_and_no_cell() -> None:
    inputs = np.zeros(N_BINS)
    inputs[_bin_for(0)] = 1.0
    hist = LayerHistogram(inputs, np.ones(N_BINS), source="zeros")
    wl = WORKLOAD.with_histograms({layer.name: hist for layer in WORKLOAD.layers})
    ev = evaluate(ChipSpec(), wl)
    assert ev.energy_by_component["cells"][0] == 0.0
    assert ev.energy_by_component["row_drivers"][0] == 0.0


def test_energy_grows_with_fraction_of_full_scale_inputs() -> None:
    # A mixture of inputs at q = 1 (one bit set) and q = 255 (all bits set).
    weights = np.ones(N_BINS)
    low_bin, full_bin = _bin_for(1), _bin_for(255)
    values = []
    fractions = np.linspace(0.0, 1.0, 6)
    for p in fractions:
        inputs = np.zeros(N_BINS)
        inputs[low_bin] += 1 - p
        inputs[full_bin] += p
        hist = LayerHistogram(inputs, weights)
        wl = WORKLOAD.with_histograms({layer.name: hist for layer in WORKLOAD.layers})
        ev = evaluate(ChipSpec(), wl)
        values.append(ev.energy_by_component["cells"][0] + ev.energy_by_component["row_drivers"][0])
    values = np.array(values)
    assert (np.diff(values) > 0).all()
    # Cells and row drivers are linear in the input bit density.
    expected = values[0] + fractions * (values[-1] - values[0])
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=0)


def test_lower_voltage_lower_dynamic_energy() -> None:
    volts = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2])
    ev = evaluate(_sweep(ChipSpec(), voltage_v=volts), WORKLOAD)
    for name in DYNAMIC:
        e = ev.energy_by_component[name]
        assert (e > 0).all(), name
        assert (np.diff(e) > 0).all(), name
        # Dynamic energy scales as V^2 at a fixed node.
        np.testing.assert_allclose(e / e[4], (volts / 0.9) ** 2, rtol=1e-12, err_msg=name)
    # SAR readout: the survey's energy at the node's nominal supply x (V / nominal V)^2; the rate
    # (1 / 4 ns) is fixed, so it follows V^2 exactly.
    readout = ev.energy_by_component["readout"]
    np.testing.assert_allclose(readout / readout[4], (volts / 0.9) ** 2, rtol=1e-12)
    assert (np.diff(readout) > 0).all()
    # RRAM cells dissipate V_read^2 G t: independent of the supply.
    cells = ev.energy_by_component["cells"]
    np.testing.assert_allclose(cells, cells[4], rtol=1e-12)
    # Off-chip energy does not depend on the chip's supply.
    np.testing.assert_allclose(ev.energy_by_component["dram"], ev.energy_by_component["dram"][0])
    assert (np.diff(ev.energy_by_component["leakage"]) > 0).all()
    assert (np.diff(ev["energy_j"]) > 0).all()
    # Lower voltage: slower gates.
    assert (np.diff(ev["min_cycle_time_ns"]) < 0).all()


@pytest.mark.parametrize("kind", ["rram", "mram"])
def test_cell_energy_follows_read_voltage_squared(kind: str) -> None:
    # Non-volatile cells: E = V_read^2 G t, the table's read energy at its own read voltage.
    c = load_constants()
    ref = c.device(kind, "read_voltage_v")
    volts = np.array([0.5, 1.0, 1.5, 2.0]) * ref
    base = chip_from_dict({"device": {"kind": kind, "bits_per_cell": 2}})
    ev = evaluate(_sweep(base, read_voltage_v=volts), WORKLOAD)
    cells = ev.energy_by_component["cells"]
    np.testing.assert_allclose(cells / cells[1], (volts / ref) ** 2, rtol=1e-12)
    # Nothing else depends on the read pulse.
    np.testing.assert_allclose(
        ev.energy_by_component["row_drivers"], ev.energy_by_component["row_drivers"][0], rtol=1e-12
    )
    # SRAM compute cells follow the supply instead: read_voltage_v has no effect.
    sram = chip_from_dict({"device": {"kind": "sram", "bits_per_cell": 1}})
    ev = evaluate(_sweep(sram, read_voltage_v=volts), WORKLOAD)
    cells = ev.energy_by_component["cells"]
    np.testing.assert_allclose(cells, cells[0], rtol=1e-12)


def test_smaller_node_smaller_area() -> None:
    nodes = np.array(sorted(NODES_NM, reverse=True))  # 130 ... 5
    ev = evaluate(_sweep(ChipSpec(), node_nm=nodes), WORKLOAD)
    assert (np.diff(ev["area_m2"]) < 0).all()
    for name, a in ev.area_by_component.items():
        assert (a > 0).all(), name
        assert (np.diff(a) < 0).all(), name
    # Node-scaled dynamic energy falls with the node as well (RRAM cells follow the read pulse
    # only); the SAR readout's Walden term and its rate penalty both shrink with the node.
    for name in ("row_drivers", "readout", "shift_add", "tile_buffer", "glb", "noc"):
        assert (np.diff(ev.energy_by_component[name]) < 0).all(), name
    np.testing.assert_allclose(
        ev.energy_by_component["cells"], ev.energy_by_component["cells"][0], rtol=1e-12
    )


def test_more_crossbars_never_slow_a_stationary_design() -> None:
    macros = np.array([8, 12, 16, 24, 32, 64, 128, 256])
    ev = evaluate(_sweep(ChipSpec(), macros_per_tile=macros), WORKLOAD, breakdown=True)
    assert ev.feasible.all(), ev.reasons
    assert (np.diff(ev["latency_s"]) <= 0).all()
    assert (np.diff(ev.layer_replication, axis=0) >= 0).all()
    # The spare crossbars replicate the layers, so every stage gets faster...
    assert (np.diff(ev.layer_latency.sum(axis=1)) < 0).all()
    # ...but a single pipelined inference is never shorter than one period (all of its traffic
    # crosses the shared 256-bit NoC): on the default chip that floor holds every design here.
    assert (ev["latency_s"] >= ev["period_s"] * (1 - 1e-12)).all()
    # Without the shared GLB/NoC bound, the extra crossbars do shorten the latency.
    free = chip_from_dict({"chip": {"glb_bandwidth_bits": None, "noc_bits": None}})
    ev_free = evaluate(_sweep(free, macros_per_tile=macros), WORKLOAD, breakdown=True)
    assert ev_free.feasible.all(), ev_free.reasons
    assert (np.diff(ev_free["latency_s"]) <= 0).all()
    assert ev_free["latency_s"][-1] < ev_free["latency_s"][0]
    assert (np.diff(ev_free.layer_replication, axis=0) >= 0).all()


# --- feasibility ------------------------------------------------------------------------------


def _big_linear_workload() -> tuple[Workload, int, int]:
    """14 linear 1024 -> 1024 layers and one 1024 -> 384, 8-bit weights."""
    layers = [
        make_layer(f"fc{i}", "linear", in_channels=1024, out_channels=1024, out_h=4, in_h=4)
        for i in range(14)
    ]
    layers.append(make_layer("fc14", "linear", in_channels=1024, out_channels=384, out_h=4, in_h=4))
    # On 128 x 128 crossbars with 4-bit cells a 1024 -> 1024 layer is a 1024 x 2048 block:
    # 8 row tiles x 16 column tiles = 128 crossbars; 1024 -> 384 is 1024 x 768: 8 x 6 = 48.
    xbars = 14 * 128 + 48
    weights = 14 * 1024 * 1024 + 1024 * 384
    return Workload("big-linear", tuple(layers)), xbars, weights


def _small_chip(mode: str) -> ChipSpec:
    # 16 macros x 8 tiles x 8 groups = 1,024 crossbars of 128 x 128.
    return chip_from_dict(
        {
            "device": {"bits_per_cell": 4},
            "macro": {"rows": 128, "cols": 128},
            "tile": {"macros": 16},
            "router": {"tiles": 8},
            "chip": {"tile_groups": 8, "mode": mode},
        }
    )


def test_too_small_stationary_design_is_infeasible() -> None:
    wl, xbars, _ = _big_linear_workload()
    assert xbars == 1840
    ev = evaluate(_small_chip("weight_stationary"), wl)
    assert ev["xbars_needed"][0] == xbars
    assert ev["xbars_available"][0] == 1024
    assert not ev.feasible[0]
    reason = ev.reasons[0]
    assert f"{xbars:,} crossbars" in reason
    assert "1,840 crossbars" in reason
    assert "chip has 1,024" in reason
    assert "\n" not in reason


def test_swapping_makes_it_feasible() -> None:
    wl, xbars, weights = _big_linear_workload()
    stat = evaluate(_small_chip("weight_stationary"), wl)
    swap = evaluate(_small_chip("weight_swapping"), wl, breakdown=True)
    assert swap.feasible[0], swap.reasons[0]
    assert swap.reasons[0] == ""
    # Greedy groups of consecutive layers up to 1,024 crossbars: 8 x 128, then 6 x 128 + 48.
    assert swap["weight_groups"][0] == 2
    assert stat["weight_groups"][0] == 1
    # Every weight bit is streamed from DRAM once per inference, on top of the network I/O.
    e_swap, e_stat = swap.energy_by_component["dram"][0], stat.energy_by_component["dram"][0]
    assert e_swap > e_stat
    from cimkit.cost.constants import load_constants

    dram_pj = load_constants()["dram_pj_per_bit"]
    np.testing.assert_allclose(e_swap - e_stat, weights * 8 * dram_pj * 1e-12, rtol=1e-12)
    assert swap.energy_by_component["weight_write"][0] > 0
    assert stat.energy_by_component["weight_write"][0] == 0
    # No replication when swapping.
    assert (swap.layer_replication[swap.layer_xbars > 0] == 1).all()
    assert swap["latency_s"][0] > stat["latency_s"][0]


def test_area_constraint() -> None:
    area = evaluate(ChipSpec(), WORKLOAD)["area_mm2"][0]
    table = _sweep(ChipSpec(), area_constraint_mm2=[area * 0.5, area * 2.0])
    ev = evaluate(table, WORKLOAD)
    assert not ev.feasible[0] and ev.feasible[1]
    assert "area" in ev.reasons[0]
    assert "mm^2" in ev.reasons[0]
    assert ev.reasons[1] == ""


def test_cycle_time_below_readout_is_infeasible() -> None:
    base = chip_from_dict({"macro": {"adc_bits": 10}, "technology": {"voltage_v": 0.6}})
    t_min = evaluate(base, WORKLOAD)["min_cycle_time_ns"][0]
    ev = evaluate(_sweep(base, cycle_time_ns=[t_min * 0.9, t_min * 1.1]), WORKLOAD)
    np.testing.assert_allclose(ev["min_cycle_time_ns"], t_min, rtol=1e-12)
    assert not ev.feasible[0] and ev.feasible[1]
    assert "cycle time" in ev.reasons[0]
    assert ev.reasons[1] == ""


def test_several_reasons_are_joined() -> None:
    wl, _, _ = _big_linear_workload()
    spec = chip_from_dict(
        {
            **_small_chip("weight_stationary").model_dump(),
            "technology": {"cycle_time_ns": 0.1},
            "chip": {
                **_small_chip("weight_stationary").chip.model_dump(),
                "area_constraint_mm2": 1,
            },
        }
    )
    reason = evaluate(spec, wl).reasons[0]
    assert "crossbars" in reason and "area" in reason and "cycle time" in reason
    assert reason.count("; ") == 2


def test_replication_never_exceeds_the_crossbar_budget() -> None:
    rng = np.random.default_rng(7)
    n = 200
    table = _sweep(
        ChipSpec(),
        rows=rng.choice([64, 128, 256, 512], n),
        cols=rng.choice([64, 128, 256, 512], n),
        bits_per_cell=rng.choice([1, 2, 4], n),
        macros_per_tile=rng.integers(1, 64, n),
        tiles_per_router=rng.integers(1, 16, n),
        tile_groups=rng.integers(1, 32, n),
    )
    ev = evaluate(table, WORKLOAD, breakdown=True)
    used = (ev.layer_xbars * ev.layer_replication).sum(axis=1)
    fits = ev["xbars_needed"] <= ev["xbars_available"]
    assert fits.any() and (~fits).any()
    assert (used[fits] <= ev["xbars_available"][fits]).all()
    on = ev.layer_xbars > 0
    assert (ev.layer_replication[on] >= 1).all()
    assert (ev.layer_replication[~on] == 0).all()
    assert (ev.layer_replication[fits] > 1).any(), "spare crossbars were never used"
    # Infeasible (too small) stationary designs get no copies.
    assert (ev.layer_replication[~fits][on[~fits]] == 1).all()
    # Programmed cells never exceed the chip's cells for a design that fits.
    assert (ev["utilization"][fits] <= 1.0).all()
    assert ((ev["xbar_utilization"] > 0) & (ev["xbar_utilization"] <= 1.0)).all()


def test_replication_bounded_by_vectors() -> None:
    # The classifier has one input vector: copying it cannot help.
    ev = evaluate(chip_from_dict({"tile": {"macros": 1024}}), WORKLOAD, breakdown=True)
    j = ev.layer_names.index("fc")
    assert ev.layer_replication[0, j] == 1
    assert ev.layer_replication[0].max() > 1


def test_area_reason_shows_distinct_numbers() -> None:
    # Regression: both numbers were formatted with :,.1f, so a design 0.01 % above its
    # constraint read 'area 756.4 mm^2 above constraint 756.4 mm^2'.
    import re

    area = evaluate(ChipSpec(), WORKLOAD)["area_mm2"][0]
    ev = evaluate(_sweep(ChipSpec(), area_constraint_mm2=[area * (1 - 1e-4)]), WORKLOAD)
    assert not ev.feasible[0]
    found = re.findall(r"([\d,.]+) mm\^2", ev.reasons[0])
    assert len(found) == 2
    assert found[0] != found[1], ev.reasons[0]
