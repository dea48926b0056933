"""The osa_hybrid readout kind (OSA-HCIM's hybrid macro in the cost model): its own contract
beyond tests/cost/test_contracts.py, its agreement with the OSA event model, and the spec and
design-table rules of macro.osa_boundary."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cimkit.cost import DesignTable
from cimkit.cost.constants import load_constants
from cimkit.cost.designs import resolve_defaults
from cimkit.cost.model import _resolve_timing
from cimkit.cost.registry import READOUTS
from cimkit.errors import SpecError
from cimkit.specs import ChipSpec, chip_from_dict

C = load_constants()
R = READOUTS["osa_hybrid"]


def _osa(n: int, **arrays: object) -> dict[str, np.ndarray]:
    base = {
        "readout": ["osa_hybrid"] * n,
        "device": ["sram"] * n,
        "bits_per_cell": [1] * n,
        "node_nm": [65] * n,
        "voltage_v": [0.6] * n,
        "rows": [144] * n,
        "cols": [64] * n,
        "cols_per_adc": [8] * n,
        "adc_bits": [3] * n,
    }
    base.update(arrays)  # type: ignore[arg-type]
    table = DesignTable.from_arrays(ChipSpec(), base)  # type: ignore[arg-type]
    return _resolve_timing(resolve_defaults(table.values, C), C)


B = np.linspace(5.0, 10.0, 11)


def test_higher_boundary_is_cheaper_and_faster_vectorised_equals_loop() -> None:
    from cimkit.cost.osa_readout import dat_share

    d = _osa(len(B), osa_boundary=B)
    e, t, dat = R.energy_j(d, C), R.time_s(d, C), dat_share(d)
    # More analog (higher B) means more conversions but fewer DAT sums; the slot time falls.
    assert (np.diff(e) >= 0).all() and (np.diff(dat) < 0).all()
    assert (np.diff(t) <= 0).all() and (np.diff(t[:6]) < 0).all()
    assert (R.value_share(d, C) == 0).all()
    for fn in (R.energy_j, R.time_s, R.value_share, R.area_um2, R.leakage_w):
        full = fn(d, C)
        loop = [float(fn({k: v[i : i + 1] for k, v in d.items()}, C)[0]) for i in range(len(B))]
        np.testing.assert_allclose(full, loop, rtol=1e-12)
    # The cycle the readout allows is its slot time (no separate settle / input slot).
    np.testing.assert_allclose(d["min_cycle_time_ns"], t * 1e9, rtol=1e-12)


def test_slot_energy_equals_the_osa_event_model() -> None:
    """64 slots of one output at an integer B = the event model's SAR, DAC and OSE energy of one
    144-row output, and 64 x dat_share = its DAT sums (the engine counts the DAT per layer)."""
    from cimkit.osa import energy as en

    p = en.load_preset()
    ones = replace(p, density_w=np.ones(8), density_a=np.ones(8))
    for b in (5, 8, 10):
        d = _osa(1, osa_boundary=[float(b)])
        c = en.counts_from_shares({b: 1.0}, macs=144.0, k=144, ose=True, preset=ones)
        terms = en._energy_terms(c, ones, p.sar_energy_scale)
        want = terms["sar"] + terms["dac"] + terms["ose"]
        assert 64 * R.energy_j(d, C)[0] == pytest.approx(float(want), rel=1e-9)
        from cimkit.cost.osa_readout import dat_share

        assert 64 * dat_share(d)[0] == float(c["dat_ops"])  # DAT sums of the output
        # Time: one output's 64 slots = the event model's cycles of one macro activation.
        cyc = float(en.counts_from_shares({b: 1.0}, macs=144.0 * 8, ose=True, preset=p)["cycles"])
        assert 64 * R.time_s(d, C)[0] == pytest.approx(cyc * p.t_dcim_s, rel=1e-9)


def test_fractional_boundary_mixes_its_neighbours() -> None:
    d = _osa(3, osa_boundary=[8.0, 8.25, 9.0])
    from cimkit.cost.osa_readout import dat_share

    for e in (R.energy_j(d, C), dat_share(d)):
        assert e[1] == pytest.approx(0.75 * e[0] + 0.25 * e[2], rel=1e-12)


def _spec(**macro: object) -> ChipSpec:
    return chip_from_dict(
        {
            "name": "osa",
            "technology": {"node_nm": 65, "voltage_v": 0.6},
            "device": {"kind": "sram"},
            "macro": {"rows": 144, "cols": 64, "cols_per_adc": 8, "adc_bits": 3, **macro},
        }
    )


def test_spec_rules_of_osa_boundary() -> None:
    s = _spec(readout="osa_hybrid", osa_boundary=9.5)
    assert s.macro.osa_boundary == 9.5
    t = DesignTable.from_specs(s)
    assert t.spec(0).macro.osa_boundary == 9.5  # round trip through the table
    with pytest.raises(SpecError, match="osa_boundary"):
        _spec(readout="sar", osa_boundary=9.0)  # unused by another readout
    with pytest.raises(SpecError, match="osa_boundary"):
        _spec(readout="osa_hybrid", osa_boundary=11.0)  # outside 5..10
    with pytest.raises(SpecError, match="input_bits_per_cycle"):
        _spec(readout="osa_hybrid", input_bits_per_cycle=2, input_encoding="voltage_dac")
    with pytest.raises(SpecError, match="osa_boundary"):
        DesignTable.from_arrays(ChipSpec(), {"osa_boundary": [9.0]})
    with pytest.raises(SpecError, match="osa_hybrid"):
        DesignTable.from_arrays(ChipSpec(), {"readout": ["osa_hybrid"]})  # rram default device


def test_engine_counts_the_dat_share_of_the_slots() -> None:
    """Readout energy of a layer = slots x the kind's analog-side energy + the adder tree (the
    DCIM macro's per-layer formula) on dat_share of the slots: one linear fit over three
    boundaries recovers the slot count (8 x 8 pixels x 8 outputs x 64) and leaves no residual."""
    from cimkit.cost import evaluate
    from cimkit.cost.osa_readout import dat_share
    from cimkit.workload import Workload, make_layer

    lay = make_layer("c", "conv", in_channels=16, out_channels=8, in_h=8, in_w=8, out_h=8,
                     out_w=8, kernel_h=3, kernel_w=3)  # fmt: skip
    b = [5.0, 8.0, 10.0]
    d = _osa(3, osa_boundary=b)
    table = DesignTable.from_arrays(
        ChipSpec(),
        {"readout": ["osa_hybrid"] * 3, "device": ["sram"] * 3, "bits_per_cell": [1] * 3,
         "node_nm": [65] * 3, "voltage_v": [0.6] * 3, "rows": [144] * 3, "cols": [64] * 3,
         "cols_per_adc": [8] * 3, "adc_bits": [3] * 3, "osa_boundary": b},
    )  # fmt: skip
    ev = evaluate(table, Workload("one", (lay,)), breakdown=True)
    a = np.stack([R.energy_j(d, C), dat_share(d)], axis=1)
    coef, *_ = np.linalg.lstsq(a, ev.energy_by_component["readout"], rcond=None)
    np.testing.assert_allclose(a @ coef, ev.energy_by_component["readout"], rtol=1e-9)
    assert coef[0] == pytest.approx(8 * 8 * 8 * 64, rel=1e-9)
