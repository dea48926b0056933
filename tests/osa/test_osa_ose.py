"""OSE: saliency from the highest orders, N/Q, accumulation, threshold cascade, content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cimkit.errors import SpecError
from cimkit.osa.bitplane import BitConfig, order_sums
from cimkit.osa.layerdata import auroc
from cimkit.osa.layers import HCIMConv2d
from cimkit.osa.ose import (
    OSEConfig,
    calibrate_norm,
    check_candidates,
    saliency,
    saliency_dmacs,
    saliency_pairs,
    select_boundary,
)


def test_saliency_pairs_count_orders():
    # s counts orders (k = 14, 13 at 8b x 8b): three one-bit MACs, highest order first.
    assert saliency_pairs(BitConfig(), 2) == [(7, 7, 14), (7, 6, 13), (6, 7, 13)]
    assert saliency_pairs(BitConfig(), 1) == [(7, 7, 14)]
    assert saliency_pairs(BitConfig(4, 4), 2) == [(3, 3, 6), (3, 2, 5), (2, 3, 5)]
    assert len(saliency_pairs(BitConfig(), 3)) == 6


def test_hand_computed_saliency():
    # 20 rows a = 128 (bit 7), 10 rows a = 64 (bit 6), 114 rows 0; output 0: w = -128 (bits
    # 7 only), output 1: w = 64 (bit 6). DMACs (i, j): out0 (7,7) = 20, (7,6) = 10, (6,7) = 0;
    # out1 (6,7) = 20, others 0. N/Q with norm 40: q = floor(d * 7 / 40 + 1/2): 20 -> 4,
    # 10 -> 2. S = 2 * 4 + 1 * 2 (out0) + 1 * 4 (out1) = 14 (order weights 2^(k - 13)).
    a = torch.tensor([[128] * 20 + [64] * 10 + [0] * 114])
    w = torch.tensor([[-128] * 144, [64] * 144])
    d = saliency_dmacs(a, w)
    assert d[:, 0, 0, 0].tolist() == [20, 10, 0] and d[:, 0, 0, 1].tolist() == [0, 0, 20]
    assert saliency(a, w, ose=OSEConfig(norm=40.0)).tolist() == [[14.0]]
    assert saliency(a, w, ose=OSEConfig(norm=40.0, order_weighted=False)).tolist() == [[10.0]]
    # default norm = 144 rows: 20 -> floor(0.97 + 0.5) = 1, 10 -> 0: S = 2 + 0 + 1 = 3
    assert saliency(a, w).tolist() == [[3.0]]


def test_dmacs_are_the_order_sums_and_groups_sum_hmus():
    cfg = BitConfig()
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (5, 300), generator=g)
    w = torch.randint(-128, 128, (20, 300), generator=g)
    p = order_sums(a, w, cfg)
    d = saliency_dmacs(a, w, cfg, 2)
    for n, (i, j, _) in enumerate(saliency_pairs(cfg, 2)):
        assert torch.equal(d[n].long(), p[:, i, j])
    s = saliency(a, w, cfg, OSEConfig(order_weighted=False, norm=7.0))  # q = min(d, 7)
    assert s.shape == (5, 3)  # 20 outputs in groups of 8, 8, 4
    q = torch.clamp(d, 0, 7).sum((0, 1))  # (N, M)
    assert torch.equal(s[:, 0], q[:, :8].sum(1).double())
    assert torch.equal(s[:, 2], q[:, 16:].sum(1).double())


def test_select_boundary_cascade():
    s = torch.tensor([12.0, 10.0, 9.9, 4.0, 3.0, -1.0])
    b = select_boundary(s, [6, 8, 10], [10.0, 4.0])
    assert b.tolist() == [6, 6, 8, 8, 10, 10]
    # Unsorted thresholds: a pixel is only demoted from B_t while S < T_t, step by step.
    b = select_boundary(torch.tensor([5.0, 3.0]), [6, 8, 10], [4.0, 10.0])
    assert b.tolist() == [6, 10]
    # one candidate: no thresholds, everything at that B
    assert select_boundary(s, [7], []).tolist() == [7] * 6
    # -inf thresholds keep everything at B_0, +inf send everything to the last candidate
    assert select_boundary(s, [5, 9], [float("-inf")]).tolist() == [5] * 6
    assert select_boundary(s, [5, 9], [float("inf")]).tolist() == [9] * 6


def test_select_boundary_is_monotone_for_sorted_thresholds():
    rng = np.random.default_rng(0)
    s = torch.tensor(rng.uniform(0, 100, 1000))
    t = sorted(rng.uniform(0, 100, 4), reverse=True)
    b = select_boundary(s, [5, 6, 7, 8, 10], t)
    order = torch.argsort(s)
    assert bool(torch.all(b[order][1:] <= b[order][:-1]))  # more saliency, lower B
    count = sum((s < ti).long() for ti in t)
    assert torch.equal(b, torch.tensor([5, 6, 7, 8, 10])[count])


def test_bad_ose_inputs():
    with pytest.raises(SpecError, match="thresholds has 1 values; 3 candidates need 2"):
        select_boundary(torch.zeros(2), [5, 6, 7], [1.0])
    with pytest.raises(SpecError, match="strictly increasing"):
        check_candidates([8, 6], BitConfig())
    with pytest.raises(SpecError, match="out of DCIM"):
        check_candidates([8, 14], BitConfig(), s=2)
    with pytest.raises(SpecError, match="s=0"):
        OSEConfig(s=0)
    with pytest.raises(SpecError, match="norm"):
        OSEConfig(norm=0.0)
    with pytest.raises(SpecError, match="NaN"):
        select_boundary(torch.zeros(2), [5, 6], [float("nan")])


def _edge_bank() -> torch.Tensor:
    """16 zero-sum 3x3 filters (Sobel, Laplacian, diagonals and their negatives)."""
    sx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    d1 = torch.tensor([[0.0, 1, 2], [-1, 0, 1], [-2, -1, 0]])
    base = [sx, sx.T, lap, d1, d1.flip(1), lap.roll(1, 0) - lap, sx.flip(0).T, d1.T]
    bank = torch.stack(base + [-f for f in base])
    return bank.unsqueeze(1)  # (16, 1, 3, 3)


def test_high_content_region_gets_lower_boundary_than_flat_region():
    # Left half: texture; right half: flat (constant). Zero-sum edge filters + ReLU leave the
    # flat half's activations at zero, so its high-order DMACs and saliency are zero.
    g = torch.Generator().manual_seed(0)
    img = torch.full((2, 1, 32, 32), 0.5)
    img[..., :16] = torch.rand(2, 1, 32, 16, generator=g)
    x = torch.relu(F.conv2d(img, _edge_bank(), padding=1))
    w = torch.randn(16, 16, 3, 3, generator=g)
    layer = HCIMConv2d.from_conv(
        torch.nn.Conv2d(16, 16, 3, padding=1), act_scale=float(x.max()) / 255
    )
    layer.w_int.copy_(torch.round(w / w.abs().max() * 127).long().reshape(16, -1))
    layer.calibrate(x[:1], boundaries=[6, 8, 10])
    rows, _ = layer.rows(x[:1])
    s_cal = saliency(rows, layer.w_int, layer.bits, layer.ose)
    t = [float(torch.quantile(s_cal, 0.7)), float(torch.quantile(s_cal, 0.4))]
    layer.set_mode("osa", candidates=[6, 8, 10], thresholds=t)
    layer(x[1:])  # the other image
    # (G, H, W), two pixels away from the image border (conv 1's zero padding is an edge too)
    # and from the texture (conv 2 sees conv 1's outputs 1 pixel around, conv 1 the image's).
    b = layer.last_boundary[0, :, 2:-2].double()
    textured, flat = b[..., 2:14].mean(), b[..., 18:-2].mean()
    assert float(textured) < float(flat)
    assert float(flat) == 10.0  # zero saliency: the least precise candidate
    assert float(textured) < 8.0


def test_calibrate_norm():
    a = torch.tensor([[128] * 20 + [0] * 124, [128] * 100 + [0] * 44])
    w = torch.tensor([[-128] * 144])
    # non-zero DMACs: (7,7) = 20 and 100 -> 100th percentile 100
    assert calibrate_norm(a, w, percentile=100) == 100.0
    assert calibrate_norm(torch.zeros(2, 144, dtype=torch.int64), w) == 144.0


@pytest.mark.slow
def test_saliency_follows_content_on_real_images(real_layer):
    # Early layer of a trained CNN on real digit images: pixels whose receptive field holds
    # the digit (foreground) must get more digital orders (a lower B) than the background.
    d, rc, re = real_layer
    layer = d.layer
    layer.calibrate(d.x_calib, boundaries=[6, 8, 10])
    s_cal = saliency(rc, layer.w_int, layer.bits, layer.ose).reshape(-1)
    t = [float(torch.quantile(s_cal, 0.6)), float(torch.quantile(s_cal, 0.3))]
    layer.set_mode("osa", candidates=[6, 8, 10], thresholds=t)
    layer(d.x_eval)
    b = layer.last_boundary.double().mean(1)  # (N, 14, 14), mean over the 2 groups
    s = layer.last_saliency.double().sum(1)
    img = d.images_eval
    fg = F.max_pool2d((img > img.amin((2, 3), keepdim=True) + 1e-3).float(), 2)[:, 0] > 0
    assert fg.float().mean() > 0.1 and (~fg).float().mean() > 0.1
    assert float(b[fg].mean()) < float(b[~fg].mean()) - 0.5
    assert auroc(s[fg], s[~fg]) >= 0.7
