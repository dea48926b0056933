"""Bias correction of the hybrid MAC (HCIMConv2d / HCIMLinear.calibrate(bias_correction=True)):
a hand-computed offset, the per-output B of a group map, the calibration invariant, and a lower
error on held-out data."""

from __future__ import annotations

import pytest
import torch

from cimkit.accuracy.data import FASHION_MNIST_DIR
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


# --- bit-count correction (bias_correction="bitcount") -----------------------------------


def test_bitplane_counts_by_hand() -> None:
    from cimkit.osa.layers import bitplane_counts

    rows = torch.tensor([[0, 1, 3, 255], [128, 128, 0, 0]])
    f = bitplane_counts(rows, 8)
    # row 0: bit 0 set in 1, 3, 255 (3 inputs); bit 1 in 3, 255; bits 2..7 in 255 only
    assert f[0].tolist() == [3, 2, 1, 1, 1, 1, 1, 1, 1]
    assert f[1].tolist() == [0, 0, 0, 0, 0, 0, 0, 2, 1]


def test_bitcount_correction_restores_a_row_dependent_loss_exactly() -> None:
    """One output, 144 weights of 1 (bit 0 only), B = 8: every activation bit j < 4 is discarded
    (the window j = 4..7 meets no weight bit but 0), so the loss of a row is
    sum_j<4 2^j n_j, linear in the bit-plane counts. Rows of A = 15 and of A = 3 lose 2160 and
    432: one mean offset (1296) gets neither right; the bit-count fit restores both exactly."""
    lay = _linear(torch.ones(1, 144, dtype=torch.int64))
    x = torch.cat([torch.full((3, 144), 15.0), torch.full((3, 144), 3.0),
                   torch.full((2, 144), 5.0)])  # fmt: skip
    lay.calibrate(x, boundaries=[8], bias_correction="mean")
    lay.set_mode("fixed", boundary=8)
    mean_out = lay(x).flatten()
    assert mean_out[0].item() != 2160.0 and mean_out[3].item() != 432.0
    lay.calibrate(x, boundaries=[8], bias_correction="bitcount")
    assert lay.mac_offset == {} and set(lay.mac_offset_coef) == {8}
    assert lay.correction_terms == 9
    assert lay(x).flatten().tolist() == [2160.0] * 3 + [432.0] * 3 + [720.0] * 2
    lay.set_mode("dcim")  # B = 0 is exact and never corrected
    assert lay(x).flatten().tolist() == [2160.0] * 3 + [432.0] * 3 + [720.0] * 2


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)
def test_bitcount_lowers_error_and_magnitude_bias_on_the_shipped_layer() -> None:
    """The shipped ResNet-20's first block conv (validation images 0-31 calibrate, 32-47 are
    held out), B = 10: the mean offset over-corrects rows of small inputs and under-corrects
    rows of large ones; the bit-count fit cuts each class's mean error per channel by more than
    half and the squared error by more than a fifth (measured: 1502 -> 235, 1765 -> 427, and
    -31 %)."""
    from cimkit.accuracy.data import load
    from cimkit.osa.resnet import to_hcim
    from cimkit.osa.train import load_shipped

    torch.set_num_threads(1)
    sim, named = to_hcim(load_shipped())
    lay = dict(named)["blocks.0.conv1"]
    cap: list[torch.Tensor] = []
    h = lay.register_forward_pre_hook(lambda m, a: cap.append(a[0]))
    with torch.no_grad():
        sim(torch.from_numpy(load("fashion-mnist").x_val[:48]))
    h.remove()
    x = cap[0]
    rows, _ = lay.rows(x[32:48])
    exact = hybrid_matmul(rows, lay.w_int, 0, lay.bits, None)
    bmap = torch.full((rows.shape[0], lay.groups), 10)
    small = rows.sum(1) <= rows.sum(1).median()
    bias, mse = {}, {}
    for model in ("mean", "bitcount"):
        lay.calibrate(x[:32], boundaries=[10], bias_correction=model)
        err = exact - lay._correct(hybrid_matmul(rows, lay.w_int, 10, lay.bits, lay.analog),
                                   bmap, rows)  # fmt: skip
        bias[model] = [float(err[c].mean(0).abs().mean()) for c in (small, ~small)]
        mse[model] = float((err**2).mean())
    assert all(bc < 0.5 * m for bc, m in zip(bias["bitcount"], bias["mean"], strict=True)), bias
    assert mse["bitcount"] < 0.8 * mse["mean"], mse


def test_bad_bias_model_is_a_spec_error() -> None:
    from cimkit.errors import SpecError

    lay = _linear(torch.ones(1, 144, dtype=torch.int64))
    with pytest.raises(SpecError, match="bias_correction"):
        lay.calibrate(torch.ones(2, 144), boundaries=[8], bias_correction="median")
