"""Analog window: a hand-computed 3-bit example, the SAR decision, noise, calibration, SNR."""

from __future__ import annotations

import math

import pytest
import torch

from cimkit.errors import SpecError
from cimkit.osa.analog import (
    AnalogConfig,
    calibrate_full_scale,
    sar_code,
    sar_reconstruct,
    snr_db,
    snr_vs_boundary,
)
from cimkit.osa.bitplane import BitConfig, hybrid_matmul, int_matmul, window_sums


def _one_output(rows: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, K) activations and (1, K) weights from (a, w) pairs."""
    a = torch.tensor([[r[0] for r in rows]])
    w = torch.tensor([[r[1] for r in rows]])
    return a, w


def test_hand_computed_3bit_example():
    # One HMU, 8b x 8b, B = 8, weights w = 1 (only weight bit i = 0 set).
    # i = 0: digital j >= 8 (none), analog window j = 4..7 (4 bits), discarded j = 0..3.
    #   7 rows a = 0xF0 = 240 (window 15), 3 rows a = 0x80 = 128 (window 8),
    #   2 rows a = 0x0F = 15 (window 0: only discarded bits), 132 rows a = 0.
    # Charge share: v = 7*15 + 3*8 = 129, u = v / (2^4 - 1) = 8.6 rows.
    # ADC full scale 14 rows, 3 bits: LSB = 14 / 7 = 2 rows; u / LSB = 4.3 -> code 4.
    # Reconstruct: 4 * 2 * 15 = 120, shifted by 2^(i + j_lo) = 2^4 -> 1920.
    # Exact: 7*240 + 3*128 + 2*15 = 2094.
    a, w = _one_output([(240, 1)] * 7 + [(128, 1)] * 3 + [(15, 1)] * 2 + [(0, 1)] * 132)
    assert int(int_matmul(a, w)) == 2094
    u, nb = window_sums(a, w, 8)
    assert nb.tolist() == [4, 4, 4, 4, 4, 3, 2, 1]
    assert u[0].item() == pytest.approx(8.6)
    assert int(sar_code(u[0], 14.0)) == 4
    assert hybrid_matmul(a, w, 8, analog=AnalogConfig(full_scale=14.0)).item() == 1920.0
    # Ideal analog keeps the window exactly: 2094 - 2*15 (discarded) = 2064.
    assert hybrid_matmul(a, w, 8).item() == 2064.0
    # Clipping: full scale 6 rows -> LSB 6/7, u / LSB = 10.03 -> top code 7 -> 6 rows
    #   -> 6 * 15 * 16 = 1440.
    assert hybrid_matmul(a, w, 8, analog=AnalogConfig(full_scale=6.0)).item() == 1440.0


def test_hand_computed_sign_plane_example():
    # w = -128: only the sign plane i = 7 (weight -2^7). B = 8: digital j >= 1, analog j = 0
    # (1 bit), nothing discarded. 5 rows a = 1 (only bit 0) and 4 rows a = 2 (only bit 1).
    # Digital: -128 * (4 * 2) = -1024. Analog: u = 5 / (2^1 - 1) = 5 rows; full scale 14,
    # LSB 2: 2.5 -> code 3 (half up) -> 6 rows -> -128 * 6 = -768. Total -1792 (exact -1664).
    a, w = _one_output([(1, -128)] * 5 + [(2, -128)] * 4)
    assert int(int_matmul(a, w)) == -1664
    assert hybrid_matmul(a, w, 8, analog=AnalogConfig(full_scale=14.0)).item() == -1792.0


def test_sar_decision_levels_and_clip():
    u = torch.tensor([0.0, 0.99, 1.0, 2.99, 3.0, 12.9, 13.0, 14.0, 100.0, -1.0])
    # full scale 14, LSB 2: code = floor(u / 2 + 1/2), clipped to 0..7
    assert sar_code(u, 14.0).tolist() == [0, 0, 1, 1, 2, 6, 7, 7, 7, 0]
    assert sar_reconstruct(u, 14.0).tolist() == [0, 0, 2, 2, 4, 12, 14, 14, 14, 0]
    assert sar_code(torch.tensor([0.49, 0.5]), 3.0, adc_bits=2).tolist() == [0, 1]


def test_noise_statistics_and_seed():
    u = torch.full((200_000,), 7.3)  # 3.65 LSB at full scale 14
    g = torch.Generator().manual_seed(1)
    codes = sar_code(u, 14.0, noise_lsb=1.0, generator=g).double()
    # Away from the rails the quantiser with dithering noise is unbiased: mean code = 3.65.
    assert float(codes.mean()) == pytest.approx(3.65, abs=0.01)
    # Var(code) = sigma^2 + ~1/12 LSB^2 (the uniform part), for sigma = 1 LSB.
    assert float(codes.var()) == pytest.approx(1 + 1 / 12, rel=0.03)
    c1 = sar_code(u[:100], 14.0, noise_lsb=0.5, generator=torch.Generator().manual_seed(3))
    c2 = sar_code(u[:100], 14.0, noise_lsb=0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c1, c2)
    assert torch.equal(sar_code(u[:100], 14.0), torch.full((100,), 4))


def test_full_scale_per_boundary_and_errors():
    cfg = AnalogConfig(full_scale={5: 10.0, 8: 20.0})
    assert cfg.full_scale_for(torch.tensor([5, 8, 0])).tolist() == [10.0, 20.0, 20.0]
    with pytest.raises(SpecError, match="no value for boundary 7"):
        cfg.full_scale_for(torch.tensor([5, 7]))
    with pytest.raises(SpecError, match="full_scale=-1"):
        AnalogConfig(full_scale=-1.0)
    with pytest.raises(SpecError, match="full_scale\\[6\\]"):
        AnalogConfig(full_scale={6: float("nan")})
    with pytest.raises(SpecError, match="noise_lsb"):
        AnalogConfig(full_scale=1.0, noise_lsb=-0.1)
    with pytest.raises(SpecError, match="adc_bits"):
        AnalogConfig(full_scale=1.0, adc_bits=0)
    with pytest.raises(SpecError, match="ideal analog"):
        AnalogConfig().full_scale_for(torch.tensor([5]))


def test_calibrate_full_scale_is_a_percentile_of_window_sums():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (40, 144), generator=g)
    w = torch.randint(-128, 128, (8, 144), generator=g)
    fs = calibrate_full_scale(a, w, [5, 8], percentile=100)
    for b in (5, 8):
        u, nb = window_sums(a, w, b)
        assert fs[b] == pytest.approx(float(u[nb > 0].max()))
        # 100th percentile: nothing clips, so quantisation error is at most half an LSB
        lsb = fs[b] / 7
        q = sar_reconstruct(u[nb > 0], fs[b])
        assert float((q - u[nb > 0]).abs().max()) <= lsb / 2 + 1e-9
    fs50 = calibrate_full_scale(a, w, [8], percentile=50)
    assert fs50[8] < fs[8]
    with pytest.raises(SpecError, match="percentile"):
        calibrate_full_scale(a, w, [8], percentile=0)


def test_snr_db_definition():
    e = torch.tensor([3.0, -4.0])
    assert snr_db(e, e) == math.inf
    # mean e^2 = (9 + 16) / 2 = 12.5, mean err^2 = 0.25: ratio 50 -> 16.99 dB
    assert snr_db(e, e + torch.tensor([0.5, -0.5])) == pytest.approx(16.9897, abs=1e-4)
    assert snr_db(e, e * 1.1) == pytest.approx(20.0)


@pytest.mark.slow
def test_snr_falls_monotonically_with_boundary_on_real_data(real_layer):
    d, rc, re = real_layer
    assert d.accuracy > 0.8  # the network really learned
    assert re.shape[1] == 144  # 16 channels x 3 x 3: one HMU chunk
    bs = list(range(5, 11))
    fs = calibrate_full_scale(rc, d.layer.w_int, bs)  # calibration images only
    pts = snr_vs_boundary(re, d.layer.w_int, bs, fs)
    snr = [p.snr_db for p in pts]
    ideal = [p.snr_ideal_db for p in pts]
    # Fig. 5(b) shape: every step from B = 5 to 10 costs SNR, with and without the ADC.
    assert all(x > y for x, y in zip(snr, snr[1:], strict=False)), snr
    assert all(x > y for x, y in zip(ideal, ideal[1:], strict=False)), ideal
    # The 3-bit ADC only adds error on top of the discarded orders.
    assert all(s <= i + 1e-9 for s, i in zip(snr, ideal, strict=False))
    # ADC noise lowers the SNR further at every boundary.
    noisy = [p.snr_db for p in snr_vs_boundary(re, d.layer.w_int, bs, fs, noise_lsb=1.0)]
    assert all(n < s for n, s in zip(noisy, snr, strict=False))
    # More output orders digital, more SNR: each step is worth several dB.
    assert snr[0] - snr[-1] > 20


def test_window_sums_match_bit_planes():
    cfg = BitConfig(4, 4)
    a = torch.tensor([[0b1011, 0b0110]])
    w = torch.tensor([[0b0011, -1]])  # -1 = 0b1111
    u, nb = window_sums(a, w, 5, cfg)  # analog orders k = 1..4
    # i = 0: window j = 1..3 (3 bits) of both rows: (0b101 = 5) + (0b011 = 3) = 8, / 7
    assert nb.tolist() == [3, 4, 3, 2]
    assert u[0, 0, 0, 0].item() == pytest.approx(8 / 7)
    # i = 3 (only row 2 has bit 3): window j = 0..1 of 0b0110 -> 0b10 = 2, / 3
    assert u[3, 0, 0, 0].item() == pytest.approx(2 / 3)
