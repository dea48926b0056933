"""SRAM/RRAM array models derived from the cost model."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost.constants import load_constants
from cimkit.errors import SpecError
from cimkit.pimhls.plan import TileConfig
from cimkit.pimhls.technology import get_technology, technology_table
from cimkit.specs.chip import ChipSpec, Device, Macro
from cimkit.workload.builtin import get_network


def test_rram_is_denser_and_sram_computes_faster() -> None:
    t = technology_table().set_index("tech")
    # 4-bit 25 F^2 RRAM cells versus 1-bit ~1456 F^2 SRAM compute cells.
    assert t.loc["rram", "density_bits_per_mm2"] > 2 * t.loc["sram", "density_bits_per_mm2"]
    # An SRAM array reads every column each cycle (adder trees); RRAM shares one ADC by 8.
    assert t.loc["rram", "cycles_per_vector"] >= 2 * t.loc["sram", "cycles_per_vector"]
    c = load_constants()
    for tech in ("sram", "rram"):
        assert t.loc[tech, "write_energy_pj_per_cell"] == c.device(tech, "write_energy_pj")
        assert t.loc[tech, "write_latency_ns_per_row"] == c.device(tech, "write_latency_ns")


@pytest.mark.xfail(
    strict=True,
    reason="cost model v2 (SAR area from the ADC survey: an 8-bit SAR is ~4650 um^2 at 32 nm, "
    "CiMLoop's figure; was ~10080 in v1): the SRAM array does 1.6x the MACs per cycle per mm^2 "
    "of the 32-ADC RRAM array, not the 2x of PIM-HLS's premise",
)
def test_sram_computes_more_per_area() -> None:
    t = technology_table().set_index("tech")
    assert t.loc["sram", "macs_per_cycle_per_mm2"] > 2 * t.loc["rram", "macs_per_cycle_per_mm2"]


def test_defaults_and_choices() -> None:
    rram, sram = get_technology("rram"), get_technology("sram")
    assert rram.default == TileConfig("rram", 256, 256, 32)  # ChipSpec(): 8 columns per ADC
    assert sram.default == TileConfig("sram", 128, 128, 128)  # digital: one tree per column
    choices = rram.choices()
    assert choices[0] == rram.default and len(set(choices)) == len(choices)
    assert all(c.cols % c.adcs == 0 and c.cols // c.adcs <= 256 for c in choices)
    assert all(c.adcs == c.cols for c in sram.choices())
    assert len(sram.choices()) == 16


def test_fewer_adcs_make_denser_slower_arrays() -> None:
    rram = get_technology("rram")
    cfgs = [TileConfig("rram", 256, 256, a) for a in (4, 32, 256)]
    s = rram.summary(cfgs)
    assert np.all(np.diff(s["array_area_mm2"]) > 0)
    assert np.all(np.diff(s["cycles_per_vector"]) < 0)


def test_layer_costs_follow_the_mapping() -> None:
    layer = get_network("vgg8").layers[2]  # features.2: 128 -> 128, 3x3, 32 x 32
    costs = get_technology("rram").layer_costs([layer])
    # 1152 rows / 256 -> 5 row tiles; 128 outputs x 2 cells = 256 columns -> 1 column tile.
    assert costs.arrays[0, 0] == 5
    assert costs.vectors[0, 0] == 32 * 32
    assert costs.cycles_per_vector[0, 0] == 8 * 8  # 8 input bits x 8 columns per ADC
    # Write: each of the 5 crossbars programs its 256 rows one at a time, in parallel; a row step
    # moves 147456 x 8 / 256 bits from DRAM at 25.6 GB/s (180 ns) and programs a row (100 ns),
    # rounded up to whole 4 ns cycles: 70 cycles a step.
    step_ns = 147456 * 8 / 256 / (25.6 * 8) + 100.0
    assert costs.write_cycles[0, 0] == 256 * int(np.ceil(step_ns / 4.0))
    assert costs.write_energy_pj[0, 0] == pytest.approx(147456 * 2 * 10.0)


def test_base_spec_supplies_process_and_matching_template() -> None:
    base = ChipSpec(
        device=Device(kind="sram", bits_per_cell=1),
        macro=Macro(kind="analog", rows=64, cols=64, cols_per_adc=4),
    )
    sram = get_technology("sram", base)
    assert sram.analog and sram.default == TileConfig("sram", 64, 64, 16)
    rram = get_technology("rram", base)
    assert rram.spec.device.kind == "rram" and rram.cycle_time_ns == base.technology.cycle_time_ns


def test_invalid_configurations_are_errors() -> None:
    rram = get_technology("rram")
    with pytest.raises(SpecError, match="divide cols"):
        rram.design_values([TileConfig("rram", 256, 256, 3)])
    with pytest.raises(SpecError, match="one interface per column"):
        get_technology("sram").design_values([TileConfig("sram", 128, 128, 4)])
    with pytest.raises(SpecError, match="unknown PIM technology"):
        get_technology("flash")
