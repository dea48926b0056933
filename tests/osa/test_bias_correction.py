"""Bias correction of the hybrid MAC (HCIMConv2d / HCIMLinear.calibrate(bias_correction=True)):
a hand-computed offset, the per-output B of a group map, the calibration invariant, and a lower
error on held-out data."""

from __future__ import annotations

import pytest
import torch

from cimkit.osa.bitplane import hybrid_matmul
from cimkit.osa.layers import HCIMConv2d, HCIMLinear


def _linear(w_int: torch.Tensor) -> HCIMLinear:
    return HCIMLinear(w_int, torch.ones(w_int.shape[0]), None, act_scale=1.0)


def test_hand_computed_offset_restores_a_discarded_constant() -> None:
    """One output, 144 rows of weight 1 (only bit 0) and A = 15 (bits 0..3): at B = 8 weight
    bit 0's window is j = 4..7 (empty) and j < 4 is discarded, so the hybrid MAC is 0 for the
    exact 144 x 15 = 2160. The offset is 2160 and the corrected B = 8 output is exact; DCIM has
    no offset; without bias correction nothing changes."""
    lay = _linear(torch.ones(1, 144, dtype=torch.int64))
    x = torch.full((4, 144), 15.0)
    lay.calibrate(x, boundaries=[8])
    lay.set_mode("fixed", boundary=8)
    assert lay.mac_offset == {}
    assert lay(x).flatten().tolist() == [0.0] * 4
    lay.calibrate(x, boundaries=[8], bias_correction=True)
    assert lay.mac_offset[8].tolist() == [2160.0]
    assert lay(x).flatten().tolist() == [2160.0] * 4
    lay.set_mode("dcim")
    assert lay(x).flatten().tolist() == [2160.0] * 4


def _conv_data(seed: int, n: int) -> tuple[HCIMConv2d, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(-128, 128, (16, 16, 3, 3), generator=g)
    conv = HCIMConv2d(w, torch.ones(16), None, 1, 1, act_scale=1.0)
    # post-ReLU-like activations: small codes, many zeros (as the shipped network's)
    x = (torch.rand(n, 16, 8, 8, generator=g) ** 3 * 120).floor()
    x = x * (torch.rand(n, 16, 8, 8, generator=g) < 0.5)
    return conv, x


def test_offsets_zero_the_mean_error_on_the_calibration_rows() -> None:
    """Invariant: on the calibration rows the corrected error of every output channel has a
    mean within 0.5 (the offset is the rounded mean), at every calibrated B."""
    conv, x = _conv_data(0, 6)
    conv.calibrate(x, boundaries=[6, 8, 10], bias_correction=True)
    rows, _ = conv.rows(x)
    exact = hybrid_matmul(rows, conv.w_int, 0, conv.bits, None)
    for b in (6, 8, 10):
        raw = hybrid_matmul(rows, conv.w_int, b, conv.bits, conv.analog)
        corrected = conv._correct(raw, torch.full((rows.shape[0], conv.groups), b))
        mean_err = (exact - corrected).mean(0)
        assert mean_err.abs().max() <= 0.5 + 1e-9, b
        torch.testing.assert_close(
            corrected - raw, conv.mac_offset[b].expand_as(raw), rtol=0, atol=1e-6
        )
        assert (conv.mac_offset[b] == conv.mac_offset[b].round()).all()  # integer constants


def test_each_output_takes_the_offset_of_its_own_group_boundary() -> None:
    """A (N, G) map with B = 6 on group 0 (outputs 0..7) and B = 10 on group 1 (8..15)."""
    conv, x = _conv_data(1, 2)
    conv.calibrate(x, boundaries=[6, 10], bias_correction=True)
    n = x.shape[0]
    bmap = torch.stack([torch.full((n, 8, 8), 6), torch.full((n, 8, 8), 10)], dim=1)
    conv.mac_offset, offs = {}, conv.mac_offset
    raw = conv(x, boundary=bmap)
    conv.mac_offset = offs
    got = conv(x, boundary=bmap)
    want = torch.cat([offs[6][:8], offs[10][8:]]).float().view(1, 16, 1, 1)
    # float32 outputs of magnitude up to ~3e4: their ulp is 0.004
    torch.testing.assert_close(got - raw, want.expand_as(raw), rtol=0, atol=1e-2)


@pytest.mark.parametrize("b", [8, 10])
def test_correction_lowers_the_error_on_held_out_data(b: int) -> None:
    """Offsets from 6 calibration images lower the mean squared MAC error on 6 other images of
    the same distribution (the discard error has a per-channel mean: truncation)."""
    conv, x = _conv_data(2, 12)
    cal, held = x[:6], x[6:]
    conv.calibrate(cal, boundaries=[b], bias_correction=True)
    rows, _ = conv.rows(held)
    exact = hybrid_matmul(rows, conv.w_int, 0, conv.bits, None)
    raw = hybrid_matmul(rows, conv.w_int, b, conv.bits, conv.analog)
    corrected = conv._correct(raw, torch.full((rows.shape[0], conv.groups), b))
    mse_raw = ((exact - raw) ** 2).mean()
    mse_cor = ((exact - corrected) ** 2).mean()
    assert mse_cor < 0.8 * mse_raw, (float(mse_raw), float(mse_cor))
