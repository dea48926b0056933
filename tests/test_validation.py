"""Validation against published silicon macros at every published operating point.

Protocol (docs/cost-model.md): each macro has exactly one calibration point; every other point
is out of sample. These tests check the protocol and pin the current errors so that a model
change that moves them is noticed (a regression guard, not evidence of fidelity); the error
figures themselves are reported by `cimkit validate` and docs/cost-model.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.validation import (
    get_preset,
    lomo_table,
    macro_presets,
    predict_point,
    validation_table,
)


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return validation_table()


def test_one_calibration_point_per_macro_and_several_points_each() -> None:
    for p in macro_presets():
        assert sum(q.in_sample for q in p.points) == 1, p.id
        assert len(p.points) >= 2, p.id
        assert p.citation and p.assumptions


def test_presets_cover_the_kinds() -> None:
    kinds = {(p.kind, p.device) for p in macro_presets()}
    assert {("analog", "rram"), ("analog", "sram"), ("digital", "sram")} <= kinds


def test_every_prediction_is_finite_and_positive(table) -> None:  # type: ignore[no-untyped-def]
    assert np.isfinite(table["predicted"]).all()
    assert (table["predicted"] > 0).all()


def test_calibration_points_fit_within_the_fit_tolerance(table) -> None:  # type: ignore[no-untyped-def]
    # The calibrated constants were fitted to these rows (tools/fit_macro_constants.py): most
    # of them fit within 15 %; the median must.
    cal = table[table.in_sample]
    assert cal["error"].abs().median() <= 0.15


def test_out_of_sample_error_is_pinned(table) -> None:  # type: ignore[no-untyped-def]
    # Regression guard for the figures docs/cost-model.md reports (median |error| out of sample).
    out = table[~table.in_sample]
    assert len(out) >= 90
    assert out["error"].abs().median() == pytest.approx(0.061, abs=0.01)
    # The bound on the median (the worst rows, Colonnade's TOPS/W at 0.7 and 0.8 V, are
    # not within its 40 %: the paper's energy falls ~4x from 0.8 to 0.6 V at a fixed 100 MHz
    # clock, C V^2 gives 1.8x; docs/cost-model.md).
    assert out["error"].abs().median() <= 0.15
    assert out["error"].abs().max() == pytest.approx(2.115, abs=0.02)
    worst = out.loc[out["error"].abs().idxmax()]
    assert worst.macro == "kim_jssc_2021_colonnade" and worst.voltage_v == pytest.approx(0.8)


def test_neurram_precision_sweep_holds_out_of_sample(table) -> None:  # type: ignore[no-untyped-def]
    # Phase timing + a neuron linear in the output bits (docs/cost-model.md): TOPS within 5 %
    # and TOPS/W within 55 % at all 18 out-of-sample NeuRRAM figures (before the phase model:
    # TOPS -65 %..+43 %, TOPS/W +168 %). With the neuron step derived from hwcomponents-library
    # instead of fitted, its fixed part weighs more, so the low-bit points (3,1), (4,2) came
    # out at -50 % (they were -26 %, -40 % with the fitted step).
    out = table[(table.macro == "wan_nature_2022") & ~table.in_sample]
    assert len(out) == 18
    assert out["error"].abs().max() < 0.55
    assert out[out.metric == "tops"]["error"].abs().max() < 0.05


def test_own_calibration_is_per_macro_and_lomo_goes_without_it() -> None:
    """A macro's own calibrated fields are set in its preset only; the shared constant is their
    geometric mean; leave-one-macro-out predicts the macro without them (other numbers)."""
    import math

    from cimkit.cost.constants import load_constants

    c = load_constants()
    own = {p.id: p for p in macro_presets() if p.own_calibrated}
    assert set(own) == {
        "wang_vlsi_2022",
        "jia_jssc_2020",
        "kim_jssc_2021_colonnade",
        "wan_nature_2022",
    }
    areas = [p.spec.device.cell_area_f2 for p in own.values() if "cell_area_f2" in p.own_calibrated]
    assert all(a is not None for a in areas)
    geo = math.exp(sum(math.log(a) for a in areas) / len(areas))
    assert c.device("sram", "cell_area_f2") == pytest.approx(geo, rel=2e-3)
    sar = [own[m].spec.macro.readout_energy_scale for m in ("wang_vlsi_2022", "jia_jssc_2020")]
    assert math.prod(sar) == pytest.approx(1.0, rel=2e-3)  # relative to their mean
    # Without its own ADC scale Wang's TOPS/W at its calibration point is off by its scale.
    lomo = lomo_table().set_index(["macro", "point", "metric"])
    assert abs(lomo.loc[("wang_vlsi_2022", "table3_0v7", "tops_per_w"), "error"]) > 0.05


def test_clock_follows_the_delay_law_away_from_the_calibration_point() -> None:
    # Sinangil: 5.5 ns at 0.8 V; the paper's 1.0 V clock is 4.5 ns. The alpha-power law
    # predicts it within 5 % (so TOPS at 1.0 V is a prediction, not an input).
    p = get_preset("sinangil_jssc_2021")
    point = next(q for q in p.points if q.id == "table1_1v0_out6")
    assert point.spec.technology.cycle_time_ns == pytest.approx(4.5, rel=0.05)


def test_more_output_activity_costs_energy_on_sinangil() -> None:
    # Table I: TOPS/W falls as the average output value rises (0 -> 6 -> 15 of 15).
    p = get_preset("sinangil_jssc_2021")
    eff = [
        predict_point(p, next(q for q in p.points if q.id == f"table1_0v8_out{k}"))["tops_per_w"]
        for k in (0, 6, 15)
    ]
    assert eff[0] > eff[1] > eff[2]


def test_lomo_table_covers_every_macro() -> None:
    lomo = lomo_table()
    assert set(lomo["macro"]) == {p.id for p in macro_presets()}


def test_constants_only_one_macro_identifies_are_derived_not_fitted() -> None:
    # A shared constant that only one macro's calibration point identifies swings with that
    # macro in or out of the fit (if_step_fj: 2258 fJ with NeuRRAM, its 10 fJ start without,
    # 226x). Those come from component libraries instead; the macro's deviation is its own.
    from cimkit.cost.constants import load_constants

    raw = load_constants().raw["constants"]
    for name, value in (("if_step_fj", 30.5), ("tree_fj_per_bit", 3.291)):
        assert not raw[name].get("calibrated"), name
        assert raw[name]["value"] == pytest.approx(value)
    # NeuRRAM's own readout scale is relative to its neuron model, not pooled with the SARs.
    scale = get_preset("wan_nature_2022").spec.macro.readout_energy_scale
    assert scale > 5.0


def test_colonnade_precision_trend_at_its_calibration_supply(table) -> None:  # type: ignore[no-untyped-def]
    # With b + 7 columns per b-bit weight (column_adder) the energy per MAC follows
    # N x (N + 7) / floor(128 / (N + 7)); without them (adder tree) it went as N^2 and the 16b
    # point came out -78 %. At 0.6 V every point is within 40 %, the N x N trend within 25 %.
    t = table[(table.macro == "kim_jssc_2021_colonnade") & np.isclose(table.voltage_v, 0.6)]
    assert len(t) == 9 and t["error"].abs().max() < 0.40
    by = t.set_index("point")
    pub = by.loc["fig16a_0v6_1bx1b", "reported"] / by.loc["fig16a_0v6_16bx16b", "reported"]
    mod = by.loc["fig16a_0v6_1bx1b", "predicted"] / by.loc["fig16a_0v6_16bx16b", "predicted"]
    assert mod == pytest.approx(pub, rel=0.25)


def test_published_clock_is_an_input_and_jia_follows_the_lp_delay_law() -> None:
    # Colonnade's energies are measured at 100 MHz at every supply: the point's clock is 10 ns.
    p = get_preset("kim_jssc_2021_colonnade")
    point = next(q for q in p.points if q.id == "fig16a_0v8_1bx1b")
    assert point.spec.technology.cycle_time_ns == pytest.approx(10.0)
    # Jia: 0.85 -> 1.2 V is 2.5x the TOPS; the 65 nm low-power law predicts it within 20 %.
    jia = get_preset("jia_jssc_2020")
    hi = next(q for q in jia.points if q.id == "table2_1v2_1b")
    assert predict_point(jia, hi)["tops"] / hi.reported["tops"] == pytest.approx(1.0, abs=0.2)
