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

from dataclasses import dataclass

import torch
from torch import nn

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
