"""Torch twin of the H4H-NAS hybrid layer tables (:mod:`cimkit.workload.h4h`).

:class:`H4HNet` is one subnet (an :class:`~cimkit.workload.h4h.H4HConfig`) at a
:class:`~cimkit.workload.h4h.H4HGeometry` as a plain ``nn.Module``: importing it with
``cimkit.workload.torch_import.from_torch`` gives :func:`~cimkit.workload.h4h.h4h_table`'s
table row for row and column by column (a test), which is what makes the generator trustworthy.
Module names are chosen so that the importer's row names are the generator's.

Blocks: MBConv = [1x1 expand + BN + ReLU6] + 3x3 depthwise + BN + ReLU6 + 1x1 project + BN
(+ residual when the shape allows); ViT = pre-norm multi-head self-attention (8-dim heads) and an
MLP with GELU over the H x W tokens of the feature map, both with residuals; MBPool = 1x1 expand
+ BN + ReLU6, global average pool, linear + ReLU6, classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from cimkit.workload.h4h import (
    HEAD_DIM,
    POOL_EXPAND,
    STAGES,
    H4HConfig,
    H4HGeometry,
    mlp_width,
    scaled,
)


class ConvBN(nn.Module):
    """Conv (padding k // 2, no bias) + BatchNorm (+ ReLU6): the importer folds the BN."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual block (MobileNetV2)."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1) if expand != 1 else None
        self.dw = ConvBN(mid, mid, 3, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.dw(h))
        return x + h if self.residual else h


class Attention(nn.Module):
    """Multi-head self-attention core over (N, T, 3d) Q/K/V: softmax(Q K^T / sqrt(8)) V."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width, self.heads = width, width // HEAD_DIM

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        n, t, _ = qkv.shape
        q, k, v = qkv.split(self.width, dim=-1)
        q = q.reshape(n, t, self.heads, HEAD_DIM).transpose(1, 2)
        k = k.reshape(n, t, self.heads, HEAD_DIM).transpose(1, 2)
        v = v.reshape(n, t, self.heads, HEAD_DIM).transpose(1, 2)
        a = torch.softmax((q @ k.transpose(-2, -1)) * HEAD_DIM**-0.5, dim=-1)
        return (a @ v).transpose(1, 2).reshape(n, t, self.width)


class Mlp(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm transformer block on a feature map (tokens = positions; input channels = output
    channels, so both residuals bypass it)."""

    def __init__(self, c: int, width: int, mlp: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * width)
        self.attn = Attention(width)
        self.proj = nn.Linear(width, c)
        self.norm2 = nn.LayerNorm(c)
        self.mlp = Mlp(c, mlp_width(mlp, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + self.proj(self.attn(self.qkv(self.norm1(t))))
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape(n, c, h, w)


class Pool(nn.Module):
    """MBPool: 1x1 expand, global average pool, linear + ReLU6."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.expand = ConvBN(cin, POOL_EXPAND * cin, 1)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(POOL_EXPAND * cin, width)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.avg(self.expand(x)).flatten(1)))


class H4HNet(nn.Module):
    """One H4H-NAS subnet (module docstring); stage modules are named as Table 1's stages."""

    def __init__(self, cfg: H4HConfig, geometry: H4HGeometry | None = None) -> None:
        super().__init__()
        g = geometry or H4HGeometry()
        stem = scaled(cfg.stem, g.width_scale)
        self.stem = ConvBN(g.in_channels, stem, 3, g.stem_stride)
        c = stem
        for (st, vt), (width, depth, expand), v in zip(STAGES, cfg.mb, cfg.vit, strict=True):
            cout = scaled(width, g.width_scale)
            blocks = []
            for b in range(depth):
                blocks.append(MBConv(c, cout, expand, g.stride(st) if b == 0 else 1))
                c = cout
            self.add_module(st.name, nn.ModuleList(blocks))
            if vt is not None and v is not None:
                vw = scaled(v[0], g.width_scale)
                self.add_module(vt.name, nn.ModuleList(ViTBlock(c, vw, v[2]) for _ in range(v[1])))
        self.pool = Pool(c, scaled(cfg.pool, g.width_scale))
        self.classifier = nn.Linear(scaled(cfg.pool, g.width_scale), cfg.num_classes)
        self._order = [st.name for st, _ in STAGES]
        self._vits = {st.name: vt.name for st, vt in STAGES if vt is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self._order:
            for block in getattr(self, name):
                x = block(x)
            vit = self._vits.get(name)
            if vit is not None and hasattr(self, vit):
                for block in getattr(self, vit):
                    x = block(x)
        return self.classifier(self.pool(x))
