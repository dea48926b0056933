"""HCIMConv2d / HCIMLinear: all-digital = integer conv / linear, B maps, counts, modes, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cimkit.errors import SpecError
from cimkit.osa.analog import AnalogConfig
from cimkit.osa.bitplane import BitConfig, allocation, hybrid_matmul
from cimkit.osa.layers import HCIMConv2d, HCIMLinear, quantize_activations, quantize_weights


def _int_conv(a, w_int, stride, padding, zp):
    """Exact integer conv of the quantised input (float64 holds these sums exactly)."""
    a = F.pad(a.double(), (padding,) * 4, value=float(zp))
    return F.conv2d(a, w_int.double(), stride=stride)


@pytest.mark.parametrize(
    "cin,cout,k,stride,pad,hw,bits",
    [
        (16, 8, 3, 1, 1, 7, BitConfig()),
        (3, 10, 3, 2, 1, 9, BitConfig()),
        (32, 16, 3, 1, 0, 6, BitConfig()),  # K = 288: two chunks
        (20, 5, 1, 1, 0, 5, BitConfig(4, 4)),
        (5, 7, 5, 2, 2, 11, BitConfig(8, 4)),
    ],
)
@pytest.mark.parametrize("zp", [0, 77])
def test_dcim_conv_equals_integer_conv(cin, cout, k, stride, pad, hw, bits, zp):
    g = torch.Generator().manual_seed(cin * 100 + cout)
    lo, hi = bits.w_range
    top = 2**bits.a_bits - 1
    zp = min(zp, top)
    w_int = torch.randint(lo, hi + 1, (cout, cin, k, k), generator=g)
    # Unit scales: the output is the integer conv of (A - zero point) itself, exactly.
    exact = HCIMConv2d(w_int, torch.ones(cout), None, stride, pad, act_scale=1.0,
                       zero_point=zp, bits=bits)  # fmt: skip
    x_int = torch.randint(-zp, top - zp + 1, (2, cin, hw, hw), generator=g).float()
    a = quantize_activations(x_int, 1.0, zp, bits)
    assert torch.equal(a, (x_int + zp).long())
    mac = _int_conv(a, w_int, stride, pad, zp) - zp * w_int.sum((1, 2, 3)).double().view(
        1, -1, 1, 1
    )
    assert torch.equal(mac, F.conv2d(x_int.double(), w_int.double(), stride=stride, padding=pad))
    y = exact(x_int)
    assert y.shape == mac.shape
    assert torch.equal(y.double(), mac)
    assert bool(torch.all(exact.last_boundary == 0))
    # Real scales and bias: the same integers, rescaled (float rounding only).
    scale = torch.rand(cout, generator=g) + 0.1
    bias = torch.randn(cout, generator=g)
    act = 0.02
    layer = HCIMConv2d(w_int, scale, bias, stride, pad, act_scale=act, zero_point=zp, bits=bits)
    want = mac * act * scale.double().view(1, -1, 1, 1) + bias.double().view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x_int * act), want.float(), rtol=1e-5, atol=1e-5)


def test_dcim_linear_equals_integer_linear():
    g = torch.Generator().manual_seed(0)
    w_int = torch.randint(-128, 128, (12, 300), generator=g)
    scale = torch.rand(12, generator=g)
    layer = HCIMLinear(w_int, scale, None, act_scale=0.01)
    x = torch.rand(7, 300, generator=g) * 2.55
    a = quantize_activations(x, 0.01, 0)
    want = ((a.double() @ w_int.double().T) * 0.01 * scale.double()).float()
    assert torch.equal(layer(x), want)
    assert layer.last_boundary.shape == (7, 2)


def test_from_conv_and_from_linear_are_close_to_float():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 8, 3, padding=1).requires_grad_(False)
    x = torch.rand(2, 16, 6, 6)
    layer = HCIMConv2d.from_conv(conv, act_scale=1 / 255)
    err = (layer(x) - conv(x)).abs().max()
    assert float(err) < 0.02 * float(conv(x).abs().max())
    lin = nn.Linear(40, 3).requires_grad_(False)
    xl = torch.rand(4, 40)
    hl = HCIMLinear.from_linear(lin, act_scale=1 / 255)
    assert float((hl(xl) - lin(xl)).abs().max()) < 0.02 * float(lin(xl).abs().max())
    w_int, w_scale = quantize_weights(conv.weight)
    assert int(w_int.abs().amax()) == 127 and w_scale.shape == (8,)


def _layer(mode="dcim", **kw):
    g = torch.Generator().manual_seed(1)
    w_int = torch.randint(-128, 128, (16, 16, 3, 3), generator=g)
    return HCIMConv2d(w_int, torch.ones(16), None, 1, 1, act_scale=1.0, mode=mode, **kw)


def test_boundary_map_equals_each_pixel_at_its_own_boundary():
    an = AnalogConfig(full_scale={b: 25.0 for b in range(5, 11)})
    layer = _layer(analog=an)
    x = torch.randint(0, 256, (2, 16, 5, 5), generator=torch.Generator().manual_seed(2)).float()
    bmap = torch.randint(5, 11, (2, 2, 5, 5), generator=torch.Generator().manual_seed(3))
    y = layer(x, boundary=bmap)
    assert torch.equal(layer.last_boundary, bmap)
    fixed = {b: layer(x, boundary=b) for b in range(5, 11)}
    for b, yb in fixed.items():
        for gi in range(2):
            sel = (bmap[:, gi] == b).unsqueeze(1).expand(-1, 8, -1, -1)
            assert torch.equal(y[:, gi * 8 : (gi + 1) * 8][sel], yb[:, gi * 8 : (gi + 1) * 8][sel])
    # a per-pixel map (N, H, W) applies to every group
    y2 = layer(x, boundary=bmap[:, 0])
    assert torch.equal(layer.last_boundary[:, 1], bmap[:, 0])
    assert torch.equal(y2[:, :8], y[:, :8])


def test_conv_rows_are_hybrid_matmul_rows():
    layer = _layer(mode="fixed", boundary=8)
    x = torch.randint(0, 256, (1, 16, 4, 4), generator=torch.Generator().manual_seed(4)).float()
    rows, (ho, wo) = layer.rows(x)
    assert rows.shape == (16, 144) and (ho, wo) == (4, 4)
    mac = hybrid_matmul(rows, layer.w_int, 8)
    assert torch.equal(layer(x), mac.float().view(1, 4, 4, 16).permute(0, 3, 1, 2))


def test_counts_hand_computed():
    layer = _layer(mode="fixed", boundary=8)
    x = torch.rand(3, 16, 4, 4) * 255
    layer(x)
    c = layer.last_counts
    n, m, k = 3 * 16, 16, 144
    al = allocation(8)
    assert c["macs"] == n * m * k
    assert c["digital"] == al.digital * n * m * k  # 28 per 8b x 8b MAC
    assert c["analog"] == al.analog * n * m * k
    assert c["discarded"] == al.discarded * n * m * k
    assert c["adc_conversions"] == al.acim_ops * n * m * 1  # one chunk per output
    assert c["digital"] + c["analog"] + c["discarded"] == 64 * c["macs"]


def test_osa_mode_uses_thresholds():
    layer = _layer()
    x = torch.rand(2, 16, 6, 6) * 255
    layer.set_mode("osa", candidates=[6, 8, 10], thresholds=[float("-inf"), float("-inf")])
    y6 = layer(x)
    assert bool(torch.all(layer.last_boundary == 6)) and layer.last_saliency is not None
    assert torch.equal(y6, layer(x, boundary=6))
    layer.set_mode("osa", candidates=[6, 8, 10], thresholds=[float("inf"), float("inf")])
    layer(x)
    assert bool(torch.all(layer.last_boundary == 10))
    # a real threshold splits the pixels by saliency: more salient -> lower B
    layer.set_mode("osa", candidates=[6, 10], thresholds=[float(layer.last_saliency.median())])
    layer(x)
    s, b = layer.last_saliency.reshape(-1), layer.last_boundary.reshape(-1)
    assert float(s[b == 6].min()) >= float(s[b == 10].max())


def test_noise_is_seeded_and_reset():
    an = AnalogConfig(full_scale=30.0, noise_lsb=0.7)
    layer = _layer(mode="fixed", boundary=9, analog=an, noise_seed=5)
    x = torch.rand(1, 16, 5, 5) * 255
    y1 = layer(x)
    y2 = layer(x)
    assert not torch.equal(y1, y2)  # the noise sequence goes on
    layer.reset_noise()
    assert torch.equal(layer(x), y1)


def test_calibrate_sets_full_scale_and_norm():
    layer = _layer(mode="fixed", boundary=8)
    x = torch.rand(2, 16, 6, 6) * 255
    layer.calibrate(x)  # the fixed boundary
    assert set(layer.analog.full_scale) == {8}
    assert layer.ose.norm is not None and layer.ose.norm >= 1
    layer.calibrate(x, boundaries=[5, 9], noise_lsb=0.25)
    assert set(layer.analog.full_scale) == {5, 9} and layer.analog.noise_lsb == 0.25
    with pytest.raises(SpecError, match="no value for boundary 8"):
        layer(x)


def test_bad_layer_inputs():
    layer = _layer()
    with pytest.raises(SpecError, match="mode='fixed' needs boundary"):
        layer.set_mode("fixed")
    with pytest.raises(SpecError, match="mode='osa' needs candidates"):
        layer.set_mode("osa")
    with pytest.raises(SpecError, match="mode='xyz'"):
        layer.set_mode("xyz")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="boundary=99"):
        layer.set_mode("fixed", boundary=99)
    with pytest.raises(SpecError, match="input shape"):
        layer(torch.zeros(1, 3, 5, 5))
    with pytest.raises(SpecError, match="boundary map shape"):
        layer(torch.zeros(1, 16, 5, 5), boundary=torch.zeros(1, 3, 3, dtype=torch.int64))
    with pytest.raises(SpecError, match="boundary map holds values in \\[16, 16\\]"):
        layer(torch.zeros(1, 16, 5, 5), boundary=16)
    with pytest.raises(SpecError, match="act_scale"):
        HCIMConv2d(torch.zeros(1, 1, 1, 1, dtype=torch.int64), torch.ones(1), act_scale=0)
    with pytest.raises(SpecError, match="weights outside"):
        HCIMConv2d(torch.full((1, 1, 1, 1), 300), torch.ones(1), act_scale=1.0)
    with pytest.raises(SpecError, match="groups=1"):
        HCIMConv2d.from_conv(nn.Conv2d(4, 4, 3, groups=2), act_scale=1.0)
    with pytest.raises(SpecError, match="thresholds has 1"):
        layer.set_mode("osa", candidates=[5, 6, 7], thresholds=[1.0])


def test_random_mode_matches_the_shares_and_ignores_batching():
    """Mode 'random' (the saliency-blind control): each decision's B follows the requested
    demoted shares, does not depend on how the images are batched, varies between all-zero
    rows at different positions, and its MACs are those of the same B map given explicitly."""
    torch.manual_seed(0)
    conv = HCIMConv2d.from_conv(nn.Conv2d(16, 16, 3, padding=1), act_scale=4 / 255)
    x = torch.rand(12, 16, 12, 12) * 4
    conv.set_mode("random", candidates=[8, 9, 10], thresholds=[0.5, 0.2])
    y = conv(x)
    b = conv.last_boundary
    n = b.numel()
    for v, want in ((8, 0.5), (9, 0.3), (10, 0.2)):
        share = float((b == v).float().mean())
        assert abs(share - want) < 4 * (want * (1 - want) / n) ** 0.5 + 1e-9, (v, share)
    assert torch.equal(torch.cat([conv(x[:5]), conv(x[5:])]), y)
    assert torch.equal(conv(x, boundary=b), y)
    z = torch.zeros(1, 16, 12, 12)
    conv(z)
    assert conv.last_boundary.unique().numel() == 3  # zero rows: B still varies by position
    from cimkit.osa.energy import counts_from_layers

    conv(x)
    assert float(counts_from_layers([conv])["ose_nq"]) == 0  # no saliency evaluator
    for bad in ([0.2, 0.5], [1.5, 0.1], [0.5]):
        with pytest.raises(SpecError, match="thresholds"):
            conv.set_mode("random", candidates=[8, 9, 10], thresholds=bad)
