"""OSA-HCIM energy/latency event model (cimkit.osa.energy): counts, the one fitted constant, the
out-of-sample predictions and vectorisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cimkit.errors import SpecError
from cimkit.osa.energy import (
    COMPONENTS,
    counts_from_shares,
    efficiency_ratio,
    load_preset,
    mode_counts,
    osa_energy,
)


def _flat(p):  # a preset with round densities, for hand-computed counts
    return replace(p, density_w=np.full(8, 0.5), density_a=np.full(8, 0.5))


def test_hand_computed_counts_one_chunk_b8() -> None:
    """One output of a 144-row dot product (144 MACs) at B = 8 (notes B1 table row 8)."""
    p = _flat(load_preset())
    c = counts_from_shares({8: 1.0}, macs=144.0, k=144, ose=True, preset=p)
    assert float(c["digital"]) == 144 * 28
    assert float(c["analog"]) == 144 * 26
    assert float(c["dat_ops"]) == 28  # one DAT sum per digital (i, j)
    assert float(c["adc_conversions"]) == 8  # weight bits 0..7 all have a window at B = 8
    assert float(c["digital_ones"]) == 144 * 28 * 0.25
    # DAC bits (4, 4, 4, 4, 4, 3, 2, 1): 5 x 16 + 8 + 4 + 2 = 94 steps per row, shared by 8 HMUs.
    assert float(c["dac_steps"]) == 144 * 94 / 8
    assert float(c["ose_nq"]) == 3  # s = 2 orders: (7,7), (7,6), (6,7)
    assert float(c["ose_compares"]) == pytest.approx(5 / 8)  # 5 thresholds, 1 of 8 outputs
    # 1/8 of a macro activation; OSA: 3 saliency cycles + max(28 - 3, 2 x 8) = 28 cycles.
    assert float(c["cycles"]) == pytest.approx(28 / 8)
    fixed = counts_from_shares({10: 1.0}, macs=144.0, ose=False, preset=p)
    assert float(fixed["cycles"]) == pytest.approx(max(15, 2 * 8) / 8)  # ACIM-bound at B = 10
    dcim = mode_counts("dcim", macs=144.0, preset=p)
    assert float(dcim["dat_ops"]) == 64 and float(dcim["adc_conversions"]) == 0
    assert float(dcim["cycles"]) == 64 / 8


def test_chunks_of_a_longer_reduction() -> None:
    p = _flat(load_preset())
    c = counts_from_shares({9: 1.0}, macs=300.0 * 2, k=300, ose=False, preset=p)  # 2 outputs
    assert float(c["dat_ops"]) == 2 * 3 * 21  # ceil(300 / 144) = 3 chunks, 21 digital (i, j)
    assert float(c["adc_conversions"]) == 2 * 3 * 8
    assert float(c["digital"]) == 600 * 21


def test_hand_computed_energy_terms() -> None:
    """Every per-event energy set to a round number: E by hand from the module's formula."""
    p = replace(
        _flat(load_preset()),
        e_fa_j=1.0,
        tree_floor=0.1,
        e_cell_j=2.0,
        e_line_j=3.0,
        e_add_j=0.5,
        e_ff_j=1.5,
        e_dac_step_j=0.25,
        e_sar_model_j=10.0,
        sar_energy_scale=2.0,
    )
    c = counts_from_shares({8: 1.0}, macs=144.0, ose=True, preset=p)
    from cimkit.osa import energy as en

    terms = en._energy_terms(c, p, p.sar_energy_scale)
    assert terms["dat"] == pytest.approx(2 * (0.1 * 144 * 28 + 0.9 * 1008))
    assert terms["cells"] == pytest.approx(2.0 * (4032 + 3744))
    assert terms["lines"] == pytest.approx(3.0 * (4032 + 3744))
    assert terms["accumulator"] == pytest.approx(0.5 * (28 * (np.log2(144) + 1 + 16) + 8 * 19))
    # Registers: DMAC (9 bits) + accumulator (9 + 16) per DAT op, SAR code (3) + accumulator per
    # conversion, and one input-register bit per row one-bit MAC shared by the 8 HMUs.
    assert terms["registers"] == pytest.approx(
        1.5 * (28 * (9 + 9 + 16) + 8 * (3 + 9 + 16) + (4032 + 3744) / 8)
    )
    assert terms["sar"] == pytest.approx(2.0 * 10.0 * 8)
    assert terms["dac"] == pytest.approx(0.25 * 1692)
    # N/Q: 3 compares of the DMAC (ceil(log2 144 + 1) = 9 bits wide), then a 12-bit add into S.
    dmac_bits = np.ceil(np.log2(144) + 1)
    assert terms["ose"] == pytest.approx(3 * (3 * dmac_bits + 12) * 0.5 + 5 / 8 * 12 * 0.5)


def test_fitted_constant_reproduces_hcim_ratio_exactly() -> None:
    p = load_preset()
    assert p.sar_energy_scale > 0
    r = float(efficiency_ratio(mode_counts("hcim")))
    assert r == pytest.approx(p.paper["hcim_over_dcim"], rel=1e-12)
    assert p.hcim_boundary == 8


def test_ratio_falls_as_precision_rises_and_ose_costs_little() -> None:
    eye = np.eye(6)
    r = efficiency_ratio(counts_from_shares(eye, ose=False))  # B = 5..10 alone
    assert (np.diff(r) > 0).all()  # a higher boundary is always cheaper
    with_ose = efficiency_ratio(counts_from_shares(eye, ose=True))
    assert (with_ose < r).all() and (with_ose > 0.95 * r).all()


def test_vectorised_equals_loop() -> None:
    rng = np.random.default_rng(0)
    s = rng.dirichlet(np.ones(6), size=7)
    macs = rng.uniform(1e5, 1e7, size=7)
    c = counts_from_shares(s, macs=macs, k=288)
    out = osa_energy(c)
    for i in range(7):
        one = osa_energy(counts_from_shares(s[i], macs=float(macs[i]), k=288))
        for key, v in out.items():
            assert v.shape == (7,)
            np.testing.assert_allclose(v[i], one[key], rtol=1e-12, err_msg=key)
    total = sum(out[f"energy_{n}_j"] for n in COMPONENTS)
    np.testing.assert_allclose(total, out["energy_j"], rtol=1e-12)
    np.testing.assert_allclose(out["tops_per_w"], 2 * macs / out["energy_j"] / 1e12)


def test_bad_inputs_are_one_line_errors() -> None:
    with pytest.raises(SpecError, match="sum to 1"):
        counts_from_shares([0.5, 0.1, 0, 0, 0, 0])
    with pytest.raises(SpecError, match="last axis"):
        counts_from_shares([0.5, 0.5])
    with pytest.raises(SpecError, match="0..15"):
        counts_from_shares({16: 1.0})
    with pytest.raises(SpecError, match="counts miss"):
        osa_energy({"macs": 1.0})
    with pytest.raises(SpecError, match="preset"):
        osa_energy(mode_counts("dcim"), preset="nope")
    with pytest.raises(SpecError, match="mode"):
        mode_counts("analog")


def test_numpy_allocation_equals_the_simulator_rule() -> None:
    """energy.py restates the order rule without torch; it must equal cimkit.osa.bitplane's."""
    from cimkit.osa.bitplane import BitConfig, allocation
    from cimkit.osa.energy import order_masks, saliency_pair_count
    from cimkit.osa.ose import saliency_pairs

    for b in range(16):
        dig, ana = order_masks(b)
        ref = allocation(b)
        assert (int(dig.sum()), int(ana.sum())) == (ref.digital, ref.analog)
        assert int((ana.sum(axis=1) > 0).sum()) == ref.acim_ops
    assert saliency_pair_count(8, 8, 2) == len(saliency_pairs(BitConfig(), 2)) == 3


def test_counts_from_simulated_layers_match_the_simulator() -> None:
    """counts_from_layers on an HCIM conv after a forward: the simulator's own one-bit MAC and
    ADC counts (last_counts), and the analytic counts of its B map."""
    import torch

    from cimkit.osa.energy import counts_from_layers
    from cimkit.osa.layers import HCIMConv2d

    torch.manual_seed(0)
    conv = HCIMConv2d.from_conv(torch.nn.Conv2d(16, 16, 3, padding=1), act_scale=4 / 255)
    x = torch.rand(1, 16, 6, 6) * 4
    b = torch.randint(5, 11, (1, 2, 6, 6))  # a B per pixel and group of 8 outputs
    conv.set_mode("fixed", boundary=8)
    conv(x, boundary=b)
    c = counts_from_layers([conv])
    lc = conv.last_counts
    for key in ("macs", "digital", "analog", "adc_conversions"):
        assert float(c[key]) == pytest.approx(lc[key], rel=1e-12), key
    assert float(c["ose_nq"]) == 0  # fixed mode: no saliency evaluator
    conv.set_mode("osa", candidates=[6, 8, 10], thresholds=[1.0, 0.5])
    conv(x)
    c = counts_from_layers([conv])
    assert float(c["ose_nq"]) == 36 * 16 * 3  # pixels x outputs x saliency cycles (1 chunk)
    # 3 candidates: 2 compares per pixel and group of 8 outputs (not the preset's 6 - 1)
    assert float(c["ose_compares"]) == 36 * 2 * 2
    # s = 4 orders: 1 + 2 + 3 + 4 = 10 saliency one-bit MACs, and 3 more serial cycles at least
    conv.calibrate_ose(x, s=4)
    assert conv.ose.s == 4
    conv(x)
    c4 = counts_from_layers([conv])
    assert float(c4["ose_nq"]) == 36 * 16 * 10
    assert float(c4["cycles"]) >= float(c["cycles"])


def test_dat_adder_is_neurosim_at_65nm_by_hand() -> None:
    """The DAT's full-adder bit is NeuroSim V1.3's 8-bit adder at 65 nm, read at the node:
    28.0598 fJ at 0.7 V (lowest tabulated supply) x (0.6 / 0.7)^2 / 8 bits = 2.5770 fJ; the
    table follows V^2 at 65 nm (energy / V^2 within 1.1 % over 0.7-1.2 V), which justifies
    reaching 0.6 V that way; an untabulated node is a one-line SpecError."""
    from cimkit.osa.energy import neurosim_fj_per_bit

    want = 28.0598 * (0.6 / 0.7) ** 2 / 8
    assert want == pytest.approx(2.5770, abs=1e-4)
    assert neurosim_fj_per_bit("adder", 8, 65, 0.6) == pytest.approx(want, rel=1e-9)
    assert load_preset().e_fa_j == pytest.approx(want * 1e-15, rel=1e-9)
    per_v2 = [
        neurosim_fj_per_bit("adder", 8, 65, v) * 8 / v**2 for v in (0.7, 0.8, 0.9, 1.0, 1.1, 1.2)
    ]
    assert max(per_v2) / min(per_v2) < 1.011
    assert neurosim_fj_per_bit("adder", 8, 65, 0.9) == pytest.approx(46.1603 / 8, rel=1e-9)
    with pytest.raises(SpecError, match="not tabulated at 60 nm"):
        neurosim_fj_per_bit("adder", 8, 60, 0.6)


def test_bitcount_correction_counts_and_energy_by_hand() -> None:
    """10 input rows x 16 outputs of a 144-long reduction, half the work at B = 9: the
    correction multiplies 9 terms for each of the 80 corrected outputs (720) and takes 8
    bit-plane popcounts for each row's corrected half (10 x 8 x 0.5 = 40); its energy is 40
    adder-tree evaluations (2 e_fa x 144 at an input plane's activity) + 720 multiply-adds of
    9 x (9 + 16) bit-adds. Without it the counts are 0 and every other count is unchanged."""
    from cimkit.osa.energy import _energy_terms, load_preset

    p = load_preset("osa65")
    macs = 10 * 16 * 144
    base = counts_from_shares({0: 0.5, 9: 0.5}, macs=macs, k=144, ose=False, preset=p)
    corr = counts_from_shares({0: 0.5, 9: 0.5}, macs=macs, k=144, ose=False, preset=p,
                              correction_terms=9, cols=16)  # fmt: skip
    assert float(corr["correction_macs"]) == pytest.approx(720.0)
    assert float(corr["popcounts"]) == pytest.approx(40.0)
    assert float(base["correction_macs"]) == float(base["popcounts"]) == 0.0
    for key in base:
        if key not in ("correction_macs", "popcounts"):
            assert float(corr[key]) == float(base[key]), key
    e = _energy_terms(corr, p, p.sar_energy_scale)["correction"]
    tree = 2 * p.e_fa_j * 144 * (p.tree_floor + (1 - p.tree_floor) * float(np.mean(p.density_a)))
    assert float(e) == pytest.approx(40 * tree + 720 * 9 * 25 * p.e_add_j)
    assert float(_energy_terms(base, p, p.sar_energy_scale)["correction"]) == 0.0
    with pytest.raises(SpecError, match="cols"):
        counts_from_shares({9: 1.0}, macs=macs, k=144, preset=p, correction_terms=9)
