"""Real layer data for the SNR (Fig. 5(b)) and saliency checks: a small trained CNN's 2nd conv.

A two-conv network (conv 1->16 3x3 + ReLU + 2x2 max pool, conv 16->16 3x3 + ReLU, 4x4 average pool,
linear) is trained for a few hundred steps on real images (Fashion-MNIST, or scikit-learn's
bundled digits when the Debian package is absent), seeded, on CPU in seconds. The second
conv's 8-bit inputs (post-ReLU activations of real images, 16 channels x 3 x 3 = one 144-row
chunk per output) and its per-channel 8-bit weights are what :func:`trained_layer` returns,
split into a calibration and an evaluation part by image, so that the ADC range and the OSE
norm are fitted on images the figures are not reported on.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import torch
from torch import nn

from cimkit.errors import CimkitError
from cimkit.osa.bitplane import BitConfig
from cimkit.osa.layers import HCIMConv2d


@dataclass
class LayerData:
    """One trained layer and its real inputs.

    Attributes:
        layer: the second conv as an :class:`HCIMConv2d` (dcim mode, act scale from the
            calibration images' 99.9th percentile).
        x_calib, x_eval: float inputs of that conv (N, 16, 14, 14), calibration / evaluation
            images (disjoint).
        images_eval: the evaluation images (N, 1, 28, 28), normalised, for foreground masks.
        dataset: which data set was used.
        accuracy: test accuracy (fraction) of the small float network, a sanity figure.
    """

    layer: HCIMConv2d
    x_calib: torch.Tensor
    x_eval: torch.Tensor
    images_eval: torch.Tensor
    dataset: str
    accuracy: float


class _TinyCNN(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c2(self.features(x)))
        return self.fc(nn.functional.adaptive_avg_pool2d(h, 4).flatten(1))


def trained_layer(
    dataset: str | None = None,
    steps: int = 300,
    n_calib: int = 64,
    n_eval: int = 64,
    seed: int = 0,
    bits: BitConfig = BitConfig(),
) -> LayerData:
    """Train the small CNN and return its second conv with calibration / evaluation inputs.

    Args:
        dataset: 'fashion-mnist', 'digits', or None (Fashion-MNIST when installed, else digits).
        steps: Adam steps of batch 64.
        n_calib, n_eval: test images whose conv-2 inputs are returned (disjoint, seeded).
        seed: seed of the initialisation, the batches and the image choice.
        bits: precision of the returned layer.
    """
    from cimkit.accuracy.data import load
    from cimkit.errors import MissingDependencyError

    if dataset is None:
        try:
            splits = load("fashion-mnist", n_val=0, seed=seed)
        except MissingDependencyError:
            splits = load("digits", seed=seed)
    else:
        splits = load(dataset, seed=seed)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = _TinyCNN(splits.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xtr = torch.from_numpy(splits.x_train)
    ytr = torch.from_numpy(splits.y_train)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(0, len(ytr), (64,), generator=g)
            loss = nn.functional.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    xte = torch.from_numpy(splits.x_test)
    yte = torch.from_numpy(splits.y_test)
    with torch.no_grad():
        acc = float((net(xte).argmax(1) == yte).float().mean())
        perm = torch.randperm(len(yte), generator=g)[: n_calib + n_eval]
        imgs = xte[perm]
        feats = net.features(imgs)
    x_cal, x_ev = feats[:n_calib], feats[n_calib:]
    amax = float(torch.quantile(x_cal.reshape(-1)[:1_000_000], 0.999))
    act_scale = max(amax, 1e-6) / (2**bits.a_bits - 1)
    layer = HCIMConv2d.from_conv(net.c2, act_scale=act_scale, bits=bits)
    return LayerData(layer, x_cal, x_ev, imgs[n_calib:], splits.name, acc)


def auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Probability that a positive scores above a negative (ties count half): the Mann-Whitney
    AUROC of ``pos`` vs ``neg`` (1-D)."""
    allv = torch.cat([pos.reshape(-1), neg.reshape(-1)]).double()
    _, inv, cnt = torch.unique(allv, return_inverse=True, return_counts=True)
    # mid-ranks of tied values (1-based)
    ends = torch.cumsum(cnt, 0).double()
    mid = ends - (cnt.double() - 1) / 2
    r_pos = mid[inv[: pos.numel()]].sum()
    n_p, n_n = pos.numel(), neg.numel()
    return float((r_pos - n_p * (n_p + 1) / 2) / (n_p * n_n))


@dataclass(frozen=True)
class ContentStats:
    """Saliency vs content on real images (early layer): foreground vs background pixels."""

    mean_b_foreground: float
    mean_b_background: float
    auroc: float
    foreground_share: float


def content_stats(
    data: LayerData,
    candidates: tuple[int, ...] = (6, 8, 10),
    quantiles: tuple[float, ...] = (0.6, 0.3),
) -> ContentStats:
    """Run ``data.layer`` in OSA mode on the evaluation images and compare B with content.

    The ADC range and the OSE norm are calibrated on ``data.x_calib``; the thresholds are the
    given quantiles of the calibration images' saliency (not a loss-constrained search, see
    :mod:`cimkit.osa.thresholds`). A conv-2 output pixel is foreground when its 2x2 block of
    the input image holds any pixel above the image's background (its minimum).
    """
    from torch.nn import functional as F

    from cimkit.osa.ose import saliency

    layer = data.layer
    layer.calibrate(data.x_calib, boundaries=list(candidates))
    rc, _ = layer.rows(data.x_calib)
    s_cal = saliency(rc, layer.w_int, layer.bits, layer.ose).reshape(-1)
    t = [float(torch.quantile(s_cal, q)) for q in quantiles]
    layer.set_mode("osa", candidates=list(candidates), thresholds=t)
    layer(data.x_eval)
    b = layer.last_boundary.double().mean(1)
    s = layer.last_saliency.double().sum(1)
    img = data.images_eval
    fg = F.max_pool2d((img > img.amin((2, 3), keepdim=True) + 1e-3).float(), 2)[:, 0] > 0
    layer.set_mode("dcim")
    return ContentStats(
        float(b[fg].mean()), float(b[~fg].mean()), auroc(s[fg], s[~fg]), float(fg.float().mean())
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m cimkit.osa.layerdata``: allocation table, SNR vs B_D/A and saliency vs
    content on a small CNN trained on real images (Fashion-MNIST when installed)."""
    ap = argparse.ArgumentParser(prog="python -m cimkit.osa.layerdata", description=main.__doc__)
    ap.add_argument("--dataset", choices=("fashion-mnist", "digits"), default=None)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--images", type=int, default=32, help="calibration and evaluation images each")
    ap.add_argument("--noise-lsb", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for flag, value, low in (("--steps", args.steps, 1), ("--images", args.images, 2)):
        if value < low:
            ap.error(f"{flag}={value} must be >= {low}")
    if not args.noise_lsb >= 0:
        ap.error(f"--noise-lsb={args.noise_lsb} must be >= 0 (sigma in ADC LSB)")
    try:
        _report(args)
    except CimkitError as exc:  # e.g. the data set's package is missing: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _report(args: argparse.Namespace) -> None:
    from cimkit.osa.analog import calibrate_full_scale, snr_vs_boundary
    from cimkit.osa.bitplane import allocation

    d = trained_layer(args.dataset, args.steps, args.images, args.images, args.seed)
    print(f"data: {d.dataset}; small CNN test accuracy {100 * d.accuracy:.1f} %")
    print("Fig. 5(a) allocation per 8b x 8b MAC (one-bit MACs):")
    print("  B   digital analog discarded ACIM-ops DAC bits (weight bit 0 first)")
    for b in range(5, 11):
        al = allocation(b)
        print(f"  {b:<3d} {al.digital:7d} {al.analog:6d} {al.discarded:9d} {al.acim_ops:8d} "
              f"{al.dac_bits}")  # fmt: skip
    rc, _ = d.layer.rows(d.x_calib)
    re, _ = d.layer.rows(d.x_eval)
    bs = list(range(5, 11))
    fs = calibrate_full_scale(rc, d.layer.w_int, bs)
    quiet = snr_vs_boundary(re, d.layer.w_int, bs, fs)
    noisy = snr_vs_boundary(re, d.layer.w_int, bs, fs, noise_lsb=args.noise_lsb, seed=args.seed)
    print(f"Fig. 5(b) SNR (dB) of conv 2 on {args.images} evaluation images "
          f"(ADC range calibrated on {args.images} others, 99.9th percentile):")  # fmt: skip
    print(f"  B   ideal-analog  3-bit-ADC  3-bit-ADC+{args.noise_lsb:g}LSB-noise")
    for q, nz in zip(quiet, noisy, strict=True):
        print(f"  {q.boundary:<3d} {q.snr_ideal_db:12.1f} {q.snr_db:10.1f} {nz.snr_db:12.1f}")
    c = content_stats(d)
    print(
        f"saliency vs content (B from {{6, 8, 10}}, thresholds at the 60th/30th saliency "
        f"percentiles of the calibration images): mean B foreground {c.mean_b_foreground:.2f}, "
        f"background {c.mean_b_background:.2f}, AUROC(S: foreground vs background) "
        f"{c.auroc:.3f}, foreground share {100 * c.foreground_share:.0f} %"
    )


if __name__ == "__main__":
    main()
