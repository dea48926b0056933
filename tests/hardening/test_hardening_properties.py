"""Property tests (hypothesis) over random VALID designs: finite outputs and cost-model invariants.

Each example is a random valid chip spec (every level: technology, device, macro, tile, router,
chip, DRAM) and a built-in network at random precisions. It is evaluated vectorized together
with three variants that change one thing (2x rows, 2x columns, 2x tile groups), so that the
monotonic trends are checked on the same design. ``derandomize=True`` (a fixed example sequence)
and ``deadline=None``: reproducible and free of timing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cimkit.cost import evaluate
from cimkit.cost.model import ENERGY_COMPONENTS
from cimkit.errors import SpecError
from cimkit.specs import NODES_NM, ChipSpec, chip_from_dict, dump_yaml
from cimkit.workload import LayerArrays
from cimkit.workload.builtin import get_network

NETWORKS = ("mlp", "mobilenetv2", "vgg8", "resnet18")
QUICK = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SLOW = settings(QUICK, max_examples=600)


@cache
def _network(name: str, weight_bits: int, act_bits: int) -> Any:
    return get_network(name, weight_bits=weight_bits, act_bits=act_bits)


@st.composite
def chip_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A chip spec as a dict; physically consistent by construction (SRAM/MRAM cells hold one
    bit, digital macros are bit-serial, read out with an adder tree and have no ADC fields)."""
    digital = draw(st.booleans())
    device = draw(st.sampled_from(("sram", "mram") if digital else ("rram", "sram", "mram")))
    bits_per_cell = draw(st.integers(1, 8)) if device == "rram" else 1
    rows = draw(st.sampled_from((16, 32, 64, 128, 256, 512, 1024, 2048)))
    cols = draw(st.sampled_from((16, 32, 64, 128, 256, 512, 1024, 2048)))
    # Digital macros take their inputs bit-serially (one bit per adder-tree pass).
    dac = 1 if digital else draw(st.integers(1, 8))
    macro: dict[str, Any] = {"kind": "digital" if digital else "analog", "rows": rows, "cols": cols}
    macro["input_bits_per_cycle"] = dac
    macro["input_encoding"] = (
        "bit_serial" if dac == 1 else draw(st.sampled_from(("pulse_count", "voltage_dac")))
    )
    if digital:
        macro["readout"] = "adder_tree"
    else:
        macro["readout"] = draw(st.sampled_from(("sar", "flash", "integrate_fire")))
        macro["adc_bits"] = draw(st.integers(1, 14))
        macro["cols_per_adc"] = draw(
            st.sampled_from([c for c in (1, 2, 4, 8, 16, 32) if c <= cols])
        )
        macro["combine_weight_bits"] = draw(st.booleans())
        macro["slices_per_conversion"] = draw(st.sampled_from((1, 1, 2, 4)))
        active = draw(st.sampled_from((None, rows, max(8, rows // 2), max(8, rows // 4))))
        if active is not None:
            macro["active_rows"] = active
    macro["pack_groups"] = draw(st.booleans())
    cycle = draw(st.one_of(st.none(), st.floats(0.2, 50.0, allow_nan=False)))
    return {
        "name": "hypothesis",
        "technology": {
            "node_nm": draw(st.sampled_from(NODES_NM)),
            "voltage_v": draw(st.floats(0.5, 1.3, allow_nan=False)),
            "cycle_time_ns": cycle,
            "transistor": draw(st.sampled_from(("generic", "hp", "lp"))),
        },
        "device": {"kind": device, "bits_per_cell": bits_per_cell},
        "macro": macro,
        "tile": {
            "macros_per_tile": draw(st.integers(1, 64)),
            "buffer_kb": draw(st.sampled_from((8.0, 32.0, 64.0, 256.0))),
            "vector_lanes": draw(st.sampled_from((4, 16, 64))),
        },
        "router": {"tiles_per_router": draw(st.integers(1, 16))},
        "chip": {
            "tile_groups": draw(st.integers(1, 64)),
            "glb_kb": draw(st.sampled_from((512.0, 4096.0, 16384.0))),
            "glb_bandwidth_bits": draw(st.sampled_from((None, 256, 1024, 4096))),
            "noc_bits": draw(st.sampled_from((None, 64, 256, 1024))),
            "mode": draw(st.sampled_from(("weight_stationary", "weight_swapping"))),
            "execution": draw(st.sampled_from(("pipelined", "sequential", "layerwise"))),
        },
        "dram": {
            "energy_pj_per_bit": draw(st.one_of(st.none(), st.floats(0.5, 40.0))),
            "bandwidth_gb_s": draw(st.sampled_from((6.4, 25.6, 102.4))),
        },
    }


def _spec(data: dict[str, Any]) -> ChipSpec:
    try:
        return chip_from_dict(data)
    except SpecError:
        # A combination the spec rejects (e.g. a pulse train longer than its macro allows):
        # not a valid design, so not this test's input.
        assume(False)
        raise


def _variant(data: dict[str, Any], section: str, key: str, factor: int, cap: int) -> ChipSpec:
    d = yaml.safe_load(yaml.safe_dump(data))
    d[section][key] = min(cap, d[section][key] * factor)
    if section == "macro" and key == "rows" and d["macro"].get("active_rows"):
        d["macro"]["active_rows"] = min(cap, d["macro"]["active_rows"] * factor)
    return _spec(d)


def _check_design_set(data: dict[str, Any], network: str, wbits: int, abits: int) -> None:
    base = _spec(data)
    specs = [
        base,
        _variant(data, "macro", "rows", 2, 4096),
        _variant(data, "macro", "cols", 2, 4096),
        _variant(data, "chip", "tile_groups", 2, 4096),
    ]
    wl = _network(network, wbits, abits)
    ev = evaluate(specs, wl, breakdown=True)
    m = ev.metrics

    # Finite, and positive where a physical quantity must be.
    for k, v in m.items():
        assert np.isfinite(v).all(), (k, v)
        assert (v >= 0).all(), (k, v)
    for k in ("energy_j", "latency_s", "period_s", "area_m2", "ops", "tops", "power_w"):
        assert (m[k] > 0).all(), (k, m[k])
    for part in (ev.energy_by_component, ev.area_by_component):
        for k, v in part.items():
            assert np.isfinite(v).all() and (v >= 0).all(), (k, v)

    # Breakdowns add up to the totals; derived metrics follow their definitions.
    e_sum = sum(ev.energy_by_component[k] for k in ENERGY_COMPONENTS)
    np.testing.assert_allclose(e_sum, m["energy_j"], rtol=1e-9)
    np.testing.assert_allclose(sum(ev.area_by_component.values()), m["area_m2"], rtol=1e-9)
    assert ev.layer_energy is not None and ev.layer_latency is not None
    for k in ENERGY_COMPONENTS:
        np.testing.assert_allclose(
            ev.layer_energy[k].sum(axis=1), ev.energy_by_component[k], rtol=1e-9, atol=1e-30
        )
    np.testing.assert_allclose(m["area_mm2"], m["area_m2"] * 1e6, rtol=1e-12)
    np.testing.assert_allclose(
        m["edap_j_s_m2"], m["energy_j"] * m["latency_s"] * m["area_m2"], rtol=1e-9
    )
    np.testing.assert_allclose(m["tops_per_w"], m["ops"] / m["energy_j"] / 1e12, rtol=1e-9)
    np.testing.assert_allclose(m["power_w"], m["energy_j"] / m["period_s"], rtol=1e-9)
    assert (m["latency_s"] >= m["period_s"] * (1 - 1e-12)).all()
    pipelined = np.array(
        [s.chip.execution == "pipelined" and s.chip.mode == "weight_stationary" for s in specs]
    )
    layer_sum = ev.layer_latency.sum(axis=1)
    # Layers in turn (sequential, layerwise, weight swapping): the latency is their sum.
    np.testing.assert_allclose(layer_sum[~pipelined], m["latency_s"][~pipelined], rtol=1e-9)

    # Counting: crossbars on chip, utilization, feasibility and its reason.
    avail = np.array([s.macros_total for s in specs], dtype=float)
    np.testing.assert_array_equal(m["xbars_available"], avail)
    assert (m["xbar_utilization"] <= 1 + 1e-12).all()
    stationary = np.array([s.chip.mode == "weight_stationary" for s in specs])
    fits = stationary & ev.feasible
    assert (m["utilization"][fits] <= 1 + 1e-12).all()
    for ok, reason in zip(ev.feasible, ev.reasons, strict=True):
        assert ok == (reason == ""), reason
        assert "\n" not in reason

    # Monotonic trends at equal everything else:
    # - bigger arrays never need more crossbars for the same weights;
    # - more tile groups add crossbars without changing how many the weights need, and add
    #   silicon (every tile group brings tiles, a router and their buffers);
    # - at a given clock, more rows or columns add cells and peripherals to every macro, so the
    #   chip is not smaller (without a clock the readout is sized for the fastest clock the
    #   array allows, which changes with its size).
    xb = m["xbars_needed"]
    assert xb[1] <= xb[0] and xb[2] <= xb[0], xb
    assert xb[3] == xb[0]
    assert m["xbars_available"][3] == min(4096, 2 * specs[0].chip.tile_groups) * (
        specs[0].tile.macros_per_tile * specs[0].router.tiles_per_router
    )
    area = m["area_m2"]
    if specs[0].chip.tile_groups < 4096:
        assert area[3] > area[0], area
    if data["technology"]["cycle_time_ns"] is not None:
        assert area[1] >= area[0] * (1 - 1e-12), area
        assert area[2] >= area[0] * (1 - 1e-12), area

    # The spec printed by `cimkit spec` / save_chip loads back as the same design.
    again = chip_from_dict(yaml.safe_load(dump_yaml(base)))
    assert again == base


def _check_weight_bits(data: dict[str, Any], network: str) -> None:
    """More weight bits never need fewer crossbars: each weight takes ceil(bits / bits_per_cell)
    cells (or bit columns) of the same array."""
    spec = _spec(data)
    wls = [_network(network, b, 8) for b in (2, 4, 8)]
    ev = evaluate([spec] * 3, LayerArrays.from_workloads(wls))
    xb = ev.metrics["xbars_needed"]
    assert (np.diff(xb) >= 0).all(), xb
    assert np.isfinite(ev.metrics["energy_j"]).all() and (ev.metrics["energy_j"] > 0).all()


_DESIGNS = given(
    data=chip_dicts(),
    network=st.sampled_from(NETWORKS),
    wbits=st.sampled_from((2, 4, 8)),
    abits=st.sampled_from((4, 8)),
)


@QUICK
@_DESIGNS
def test_random_valid_designs_are_finite_and_consistent(
    data: dict[str, Any], network: str, wbits: int, abits: int
) -> None:
    _check_design_set(data, network, wbits, abits)


@QUICK
@given(data=chip_dicts(), network=st.sampled_from(NETWORKS))
def test_more_weight_bits_never_need_fewer_crossbars(data: dict[str, Any], network: str) -> None:
    _check_weight_bits(data, network)


@pytest.mark.slow
@SLOW
@_DESIGNS
def test_random_valid_designs_slow(
    data: dict[str, Any], network: str, wbits: int, abits: int
) -> None:
    _check_design_set(data, network, wbits, abits)


def test_property_strategy_yields_valid_specs() -> None:
    """The strategy's designs are valid specs (a strategy that only produced rejected specs
    would make the property tests vacuous)."""
    valid = 0

    @settings(QUICK, max_examples=40)
    @given(data=chip_dicts())
    def probe(data: dict[str, Any]) -> None:
        nonlocal valid
        try:
            chip_from_dict(data)
        except SpecError:
            return
        valid += 1

    probe()
    assert valid >= 30, valid
