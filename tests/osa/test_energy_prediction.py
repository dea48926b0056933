"""Out-of-sample predictions of the OSA-HCIM energy model against the paper (issue 16 item 6).

The one fitted constant reproduces HCIM / DCIM = 1.56x (tests/osa/test_energy.py). Here the
B distributions measured on the shipped ResNet-20 (src/cimkit/data/osa/osa65_measured.json,
tools/osa_measure_shares.py) predict OSA-HCIM / DCIM (paper 1.95x) and TOPS/W (paper 5.33-5.79),
each against the issue's +-15 % acceptance band. Nothing here was tuned to these numbers.
"""

from __future__ import annotations

import pytest

from cimkit.osa.energy import measured
from cimkit.osa.energy_report import energy_report

M = measured()
SETS = sorted((M or {}).get("sets", {}))
needs_measurement = pytest.mark.skipif(not SETS, reason="no osa65_measured.json sets")


#: The set compared with the paper: its loosest constraint, measured with the simulator as the
#: report runs it (bias-corrected MACs, docs/osa-hcim.md section 6), on the paper's candidate
#: list (B = 5..10, Fig. 5(b)) when measured, else on B = 6, 8, 10; the uncorrected sets only
#: when no corrected one exists.
PAPER_SET = next(
    (
        s
        for s in (
            "loose, B=5,6,7,8,9,10, bias-corrected",
            "loose, B=6,8,10, bias-corrected",
            "loose, B=5,6,7,8,9,10",
            "loose, B=6,8,10",
        )
        if s in SETS
    ),
    SETS[0] if SETS else "",
)


def _prediction(name: str) -> dict:
    rep = energy_report()
    return next(p for p in rep["predictions"] if p["distribution"] == f"measured ({name})")


@needs_measurement
def test_loose_constraint_ratio_within_15pct_of_1_95() -> None:
    """The paper's headline 1.95x is its efficient end (5.79 TOPS/W at loose L): the loosest
    measured constraint set is the comparable point. Met since the MACs are bias-corrected
    (2.19x at B = 6, 8, 10: the loose search then demotes almost every pixel to B = 10); the
    uncorrected simulator's loose sets stay at 1.54x (mean B 8)."""
    r = _prediction(PAPER_SET)["osa_over_dcim"]
    assert 1.95 * 0.85 <= r["value"] <= 1.95 * 1.15, r
    assert r["within_band"]


@needs_measurement
@pytest.mark.parametrize("name", SETS)
def test_osa_beats_fixed_hcim_only_where_its_boundaries_are_higher(name: str) -> None:
    """Consistency of the model, not a paper number: a mean B above the fixed HCIM's 8 gives a
    ratio above 1.56x, below 8 a ratio below it (the OSE's own cost is ~1 %)."""
    p = _prediction(name)
    if p["mean_boundary"] > 8.1:
        assert p["osa_over_dcim"]["value"] > 1.56
    elif p["mean_boundary"] < 7.9:
        assert p["osa_over_dcim"]["value"] < 1.56


@needs_measurement
@pytest.mark.xfail(
    strict=True,
    reason="known miss: with NeuroSim V1.3's 65 nm adder and DFF at 0.6 V the model's DCIM is "
    "9.0 TOPS/W (222 fJ/MAC), the paper's implied 2.73-2.97 (674 fJ/MAC): the paper's level "
    "matches its own (node/65)^2 normalisation of ISSCC'21 (2.83), cimkit's C V^2 law puts that "
    "macro at 14.3; no sourced component closes a 3x gap (docs/osa-hcim.md section 8); ratios "
    "are unaffected",
)
def test_tops_per_w_within_15pct_of_the_paper() -> None:
    tw = _prediction(PAPER_SET)["tops_per_w"]
    assert tw["within_band"], tw
