"""Golden tests: cimkit's predictions for published silicon macros.

Two kinds of pin: (1) each figure stays within +-15 % of the paper's number (the calibrated model
reaches 0.4 % in sample; docs/cost-model.md also gives leave-one-out errors); (2) each prediction
stays within 2 % of its current value, so any model change that moves a validated figure is
noticed and the docs table is updated with it.
"""

from __future__ import annotations

import pytest

from cimkit.validation import get_preset, macro_presets, predict_macro, validation_table

# (macro, figure, cimkit prediction when docs/cost-model.md was last updated)
GOLDEN = [
    ("sinangil_jssc_2021", "tops", 0.372364),
    ("sinangil_jssc_2021", "tops_per_w", 351.067),
    ("wang_vlsi_2022", "tops", 0.299854),
    ("wang_vlsi_2022", "tops_per_w", 32.2044),
    ("wang_vlsi_2022", "tops_per_mm2", 2.40924),
    ("wang_vlsi_2022", "area_mm2", 0.12446),
    ("wan_nature_2022", "tops", 0.744023),
    ("wan_nature_2022", "tops_per_w", 15.9551),
    ("kim_jssc_2021_colonnade", "tops_per_w", 117.337),
    ("kim_jssc_2021_colonnade", "area_mm2", 0.227229),
]
# Error bound per figure against the paper. The calibrated model reproduces every figure within
# 0.4 % in sample; the bound is the issue's +-15 % so a model change that breaks a figure fails.
BOUND: dict[tuple[str, str], float] = {}
DEFAULT_BOUND = 0.15


@pytest.mark.parametrize(("macro", "figure", "value"), GOLDEN)
def test_prediction_is_pinned(macro: str, figure: str, value: float) -> None:
    assert predict_macro(get_preset(macro))[figure] == pytest.approx(value, rel=0.02)


@pytest.mark.parametrize(("macro", "figure", "value"), GOLDEN)
def test_prediction_within_stated_error_of_paper(macro: str, figure: str, value: float) -> None:
    reported = get_preset(macro).reported[figure]
    assert reported is not None
    error = predict_macro(get_preset(macro))[figure] / reported - 1.0
    assert abs(error) <= BOUND.get((macro, figure), DEFAULT_BOUND)


def test_every_reported_figure_is_covered_by_a_golden_test() -> None:
    table = validation_table().dropna(subset=["reported"])
    assert {(r.macro, r.metric) for r in table.itertuples()} == {(m, f) for m, f, _ in GOLDEN}


def test_presets_cover_three_kinds_with_citations() -> None:
    kinds = {(p.kind, p.device) for p in macro_presets()}
    assert {("analog", "rram"), ("analog", "sram"), ("digital", "sram")} <= kinds
    assert all(p.citation and p.assumptions for p in macro_presets())
