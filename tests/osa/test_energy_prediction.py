"""Out-of-sample predictions of the OSA-HCIM energy model against the paper (issue 16 item 6).

The one fitted constant reproduces HCIM / DCIM = 1.56x (tests/osa/test_energy.py). Here the
B distributions measured on the shipped ResNet-20 (src/cimkit/data/osa/osa65_measured.json,
tools/osa_measure_shares.py) predict OSA-HCIM / DCIM (paper 1.95x) and TOPS/W (paper 5.33-5.79,
on the paper's energy scale: preset osa65-paper), each against the issue's +-15 % acceptance
band. Nothing here was tuned to these numbers.
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
def test_tops_per_w_within_15pct_of_the_paper() -> None:
    """On the paper's energy scale (DCIM at Table I's 2.83 TOPS/W, not fitted) the loose set's
    TOPS/W is in 5.33-5.79 +-15 %. It is DCIM's level x the predicted ratio, so it tests the
    ratio again in the paper's units (docs/osa-hcim.md section 8)."""
    tw = _prediction(PAPER_SET)["tops_per_w"]
    assert tw["within_band"], tw
    assert 5.33 * 0.85 <= tw["value"] <= 5.79 * 1.15


def test_paper_scale_is_one_common_factor() -> None:
    """The paper scale changes units only: DCIM lands on the anchor exactly, every ratio, share
    and latency equals the component scale's, and the factor is DCIM's energy per MAC at 2.83
    TOPS/W over the components' (2 OPs per MAC)."""
    import numpy as np

    from cimkit.osa.energy import counts_from_shares, load_preset, mode_counts, osa_energy

    comp, paper = load_preset("osa65"), load_preset("osa65-paper")
    assert comp.energy_scale == 1.0 and paper.sar_energy_scale == comp.sar_energy_scale
    dc = osa_energy(mode_counts("dcim", macs=1e6, preset=comp), "osa65")
    dp = osa_energy(mode_counts("dcim", macs=1e6, preset=comp), "osa65-paper")
    assert float(dp["tops_per_w"]) == pytest.approx(2.83, rel=1e-12)
    want = (2.0 / 2.83e12) / float(dc["energy_per_mac_j"])
    assert paper.energy_scale == pytest.approx(want, rel=1e-12)
    c = counts_from_shares(np.eye(6), macs=1e6, preset=comp)  # B = 5..10 alone, (6,)
    a, b = osa_energy(c, "osa65"), osa_energy(c, "osa65-paper")
    np.testing.assert_allclose(b["energy_j"], paper.energy_scale * a["energy_j"], rtol=1e-12)
    for k in ("adc_share", "ose_share", "latency_s"):
        np.testing.assert_allclose(b[k], a[k], rtol=1e-12)
    rep = energy_report()
    assert rep["calibration"]["paper_scale"]["dcim_tops_per_w"] == pytest.approx(2.83)
    assert rep["calibration"]["hcim_over_dcim"] == pytest.approx(1.56)
