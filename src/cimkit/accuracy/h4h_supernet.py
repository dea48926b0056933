"""The H4H-NAS hybrid CNN/ViT supernet: one set of weights for every subnet of Table 1.

Weight sharing (as OFA for the MBConv part, as NASViT / AutoFormer for the ViT part): every
layer holds the weights of its largest choice and a subnet uses prefixes of them.

* elastic width: the first ``c`` output channels of a conv / linear (and the matching input
  rows of the next layer); Q, K and V each take the first ``w`` of their own block of rows (so
  heads are whole 8-dim prefixes); the MLP hidden layer the first ``mlp_width(r, C)`` units;
* elastic depth: the first ``d`` blocks of a stage (``d`` may be 0 for ViT stages and for the
  three MBConv stages Table 1 allows it: the stage is the identity);
* elastic expansion: the first ``C_in x e`` hidden channels of an MBConv block;
* elastic resolution: the input is resized (bilinear) to the subnet's proxy side.

BatchNorm keeps statistics of the largest channel count and uses their prefix; they are
re-estimated per subnet before a measurement (:func:`cimkit.accuracy.train.recalibrate`).
LayerNorm has none. Module names mirror the static twin :class:`~cimkit.workload.h4h_torch.H4HNet`,
so :meth:`H4HSupernet.extract` copies a subnet's weight prefixes into it: the twin computes the
same outputs (a test) and imports to the generator's layer table (another test).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cimkit.accuracy.h4h_space import H4HGenome, H4HSupernetConfig, gene_choices, genome_values
from cimkit.workload.h4h import HEAD_DIM, POOL_EXPAND, STAGES, mlp_width, scaled
from cimkit.workload.h4h_torch import H4HNet


def _drop_path(h: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the residual branch per sample with probability ``rate``."""
    if not training or rate <= 0:
        return h
    keep = 1.0 - rate
    mask = torch.rand((h.shape[0],) + (1,) * (h.dim() - 1), device=h.device) < keep
    return h * mask / keep


class DynConv2d(nn.Conv2d):
    """Conv holding its largest weight; forward uses the first ``cout`` x ``x.shape[1]``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, depthwise: bool = False):
        super().__init__(cin, cout, k, stride, k // 2, groups=cout if depthwise else 1, bias=False)
        self.depthwise = depthwise

    def forward(self, x: torch.Tensor, cout: int | None = None) -> torch.Tensor:  # type: ignore[override]
        cin = x.shape[1]
        if self.depthwise:
            return F.conv2d(x, self.weight[:cin], None, self.stride, self.padding, groups=cin)
        return F.conv2d(x, self.weight[:cout, :cin], None, self.stride, self.padding)


class DynBN(nn.BatchNorm2d):
    """BatchNorm of the largest channel count, applied to the first ``x.shape[1]`` channels
    (the same running-statistics rules as ``nn.BatchNorm2d``, cumulative when momentum is
    None, on the prefix)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
        return F.batch_norm(
            x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
            self.training, factor, self.eps,
        )  # fmt: skip


class DynLinear(nn.Linear):
    def forward(self, x: torch.Tensor, out: int | None = None) -> torch.Tensor:  # type: ignore[override]
        cin = x.shape[-1]
        o = self.out_features if out is None else out
        return F.linear(x, self.weight[:o, :cin], self.bias[:o])


class DynLayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[-1]
        return F.layer_norm(x, (c,), self.weight[:c], self.bias[:c], self.eps)


class DynQKV(nn.Linear):
    """Q/K/V generation of the largest width ``W``: rows [0, W), [W, 2W), [2W, 3W) are Q, K, V;
    width ``w`` takes the first ``w`` rows of each."""

    def __init__(self, c: int, width: int) -> None:
        super().__init__(c, 3 * width)
        self.wmax = width

    def rows(self, w: int) -> torch.Tensor:
        return torch.cat([torch.arange(i * self.wmax, i * self.wmax + w) for i in range(3)])

    def forward(self, x: torch.Tensor, w: int | None = None) -> torch.Tensor:  # type: ignore[override]
        w = self.wmax if w is None else w
        cin = x.shape[-1]
        W, b = self.weight[:, :cin], self.bias
        wq = torch.cat([W[i * self.wmax : i * self.wmax + w] for i in range(3)])
        bq = torch.cat([b[i * self.wmax : i * self.wmax + w] for i in range(3)])
        return F.linear(x, wq, bq)


class DynConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, depthwise: bool = False,
                 act: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.conv = DynConv2d(cin, cout, k, stride, depthwise)
        self.bn = DynBN(cout)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor, cout: int | None = None) -> torch.Tensor:
        return self.act(self.bn(self.conv(x, cout)))


class DynMBConv(nn.Module):
    """Elastic inverted residual block: active output width ``cout`` and expansion ``expand``."""

    def __init__(self, cin: int, cout: int, expands: tuple[int, ...], stride: int) -> None:
        super().__init__()
        emax = max(expands)
        self.expand = DynConvBN(cin, cin * emax, 1) if emax != 1 else None
        self.dw = DynConvBN(cin * emax, cin * emax, 3, stride, depthwise=True)
        self.project = DynConvBN(cin * emax, cout, 1, act=False)
        self.stride = stride
        self.cout, self.e = cout, emax
        self.drop_connect = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cin = x.shape[1]
        h = self.expand(x, cin * self.e) if self.expand is not None else x
        h = self.project(self.dw(h), self.cout)
        if self.stride == 1 and cin == self.cout:
            return x + _drop_path(h, self.drop_connect, self.training)
        return h


class DynAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.width = HEAD_DIM

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        n, t, _ = qkv.shape
        w = self.width
        heads = w // HEAD_DIM
        q, k, v = (z.reshape(n, t, heads, HEAD_DIM).transpose(1, 2) for z in qkv.split(w, -1))
        a = torch.softmax((q @ k.transpose(-2, -1)) * HEAD_DIM**-0.5, dim=-1)
        return (a @ v).transpose(1, 2).reshape(n, t, w)


class DynMlp(nn.Module):
    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = DynLinear(c, hidden)
        self.act = nn.GELU()
        self.fc2 = DynLinear(hidden, c)
        self.ratio = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[-1]
        return self.fc2(self.act(self.fc1(x, mlp_width(self.ratio, c))), c)


class DynViTBlock(nn.Module):
    """Elastic transformer block: active Q/K/V width and MLP ratio; channels follow the input."""

    def __init__(self, c: int, width: int, mlp_max: float) -> None:
        super().__init__()
        self.norm1 = DynLayerNorm(c)
        self.qkv = DynQKV(c, width)
        self.attn = DynAttention()
        self.proj = DynLinear(width, c)
        self.norm2 = DynLayerNorm(c)
        self.mlp = DynMlp(c, mlp_width(mlp_max, c))
        self.width = width
        self.drop_connect = 0.0

    def set(self, width: int, mlp: float) -> None:
        self.width = width
        self.attn.width = width
        self.mlp.ratio = mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        a = self.proj(self.attn(self.qkv(self.norm1(t), self.width)), c)
        t = t + _drop_path(a, self.drop_connect, self.training)
        t = t + _drop_path(self.mlp(self.norm2(t)), self.drop_connect, self.training)
        return t.transpose(1, 2).reshape(n, c, h, w)


class DynPool(nn.Module):
    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.expand = DynConvBN(cin, POOL_EXPAND * cin, 1)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = DynLinear(POOL_EXPAND * cin, width)
        self.act = nn.ReLU6()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.avg(self.expand(x, POOL_EXPAND * x.shape[1])).flatten(1)
        return self.act(self.fc(h, self.width))


class H4HSupernet(nn.Module):
    """The hybrid supernet (module docstring). Call :meth:`set_active` to pick a subnet.

    Forward: (B, in_channels, H, W) images -> (B, num_classes) logits of the active subnet;
    inputs are resized to the active proxy resolution when their side differs.
    """

    family = "h4h_hybrid"

    def __init__(self, config: H4HSupernetConfig | None = None) -> None:
        super().__init__()
        cfg = config or H4HSupernetConfig()
        self.config = cfg
        s = cfg.width_scale
        g = cfg.geometry()
        big = cfg.largest()
        c = scaled(big.stem, s)
        self.stem = DynConvBN(cfg.in_channels, c, 3, cfg.stem_stride)
        self._order: list[tuple[str, str | None]] = []
        blocks: list[nn.Module] = []
        for st, vt in STAGES:
            cout = scaled(st.widths[1], s)
            stage = []
            for b in range(st.depths[1]):
                stride = g.stride(st) if b == 0 else 1
                # A block's input is at most the widest earlier width (stages of depth 0 pass
                # their input through), which the running maximum c is.
                stage.append(DynMBConv(c, cout, st.expands, stride))
                c = max(c, cout)
            self.add_module(st.name, nn.ModuleList(stage))
            blocks += stage
            if vt is not None:
                vit = [DynViTBlock(c, scaled(vt.widths[1], s), 2.0) for _ in range(vt.depths[1])]
                self.add_module(vt.name, nn.ModuleList(vit))
                blocks += vit
            self._order.append((st.name, None if vt is None else vt.name))
        self.pool = DynPool(c, scaled(big.pool, s))
        self.classifier = DynLinear(scaled(big.pool, s), cfg.num_classes)
        self.blocks = blocks
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.active: H4HGenome = big
        self.set_active(big)

    # ------------------------------------------------------------------ selection
    def check(self, genome: H4HGenome) -> None:
        """ValueError naming the gene when ``genome`` is outside the space or the supernet."""
        values = genome_values(genome)
        for (name, choices), v in zip(gene_choices(), values, strict=True):
            if name == "resolution":
                if int(v) not in self.config.resolutions:
                    raise ValueError(f"resolution: {int(v)} not in {list(self.config.resolutions)}")
                continue
            if not any(math.isclose(v, c) for c in choices):
                raise ValueError(f"{name}: {v:g} not in {[float(c) for c in choices]}")

    def set_active(self, genome: H4HGenome) -> None:
        """Select ``genome``'s subnet (any other genome type: the largest, as train.py's end)."""
        if not isinstance(genome, H4HGenome):
            genome = self.config.largest()
        self.check(genome)
        s = self.config.width_scale
        self.active = genome
        self.stem_cout = scaled(genome.stem, s)
        n_active = genome.mb_blocks + genome.vit_blocks
        idx = 0
        for (mb_name, vit_name), (w, d, e), v in zip(self._order, genome.mb, genome.vit,
                                                    strict=True):  # fmt: skip
            for b, blk in enumerate(getattr(self, mb_name)):
                blk.cout, blk.e = scaled(w, s), e
                blk.drop_connect = self.config.drop_connect * idx / max(n_active, 1)
                idx += b < d
            if vit_name is not None and v is not None:
                for b, blk in enumerate(getattr(self, vit_name)):
                    blk.set(scaled(v[0], s), v[2])
                    blk.drop_connect = self.config.drop_connect * idx / max(n_active, 1)
                    idx += b < v[1]
        self.pool.width = scaled(genome.pool, s)

    def active_modules(self) -> list[nn.Module]:
        out: list[nn.Module] = []
        for (mb_name, vit_name), m, v in zip(self._order, self.active.mb, self.active.vit,
                                            strict=True):  # fmt: skip
            out += list(getattr(self, mb_name))[: m[1]]
            if vit_name is not None and v is not None:
                out += list(getattr(self, vit_name))[: v[1]]
        return out

    def act_quantizers(self) -> list[nn.Module]:
        """None: the H4H space searches no quantization (recalibrate() asks)."""
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = self.config.proxy_resolution(self.active)
        if x.shape[-1] != side:
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        x = self.stem(x, self.stem_cout)
        for blk in self.active_modules():
            x = blk(x)
        x = self.pool(x)
        x = F.dropout(x, self.config.dropout, self.training)
        return self.classifier(x)

    # ------------------------------------------------------------------ parts
    def cnn_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) of the CNN part: every conv and linear weight and bias outside
        the ViT stages (stem, MBConv, MBPool, classifier); BatchNorm parameters excluded (the
        TPI recipe's phase 2 trains them)."""
        vit = {v for _, v in self._order if v is not None}
        out = []
        for name, p in self.named_parameters():
            top = name.split(".")[0]
            if top in vit or ".bn." in name:
                continue
            out.append((name, p))
        return out

    def extract(self, genome: H4HGenome) -> H4HNet:
        """The static twin of ``genome``'s subnet with this supernet's weight prefixes and BN
        statistics (eval mode). Its input is at the proxy resolution."""
        cfg = self.config
        net = H4HNet(genome.config(cfg.num_classes), cfg.geometry())
        self.set_active(genome)
        with torch.no_grad():
            for name, dst in net.named_modules():
                if not isinstance(dst, nn.Conv2d | nn.Linear | nn.BatchNorm2d | nn.LayerNorm):
                    continue
                src = self.get_submodule(name)
                if isinstance(src, DynQKV):
                    w = dst.out_features // 3
                    rows = src.rows(w)
                    dst.weight.copy_(src.weight[rows, : dst.in_features])
                    dst.bias.copy_(src.bias[rows])
                    continue
                for pname, t in list(dst.named_parameters(recurse=False)) + list(
                    dst.named_buffers(recurse=False)
                ):
                    s = getattr(src, pname)
                    if t.dim() == 0:
                        t.copy_(s)
                    else:
                        t.copy_(s[tuple(slice(0, n) for n in t.shape)])
        return net.eval()


def count_macs(cfg: H4HSupernetConfig, genomes: list[H4HGenome]) -> np.ndarray:
    """(N,) MACs per image of each genome's subnet at the proxy (from its layer table)."""
    return np.array([cfg.table(g).total_macs for g in genomes], dtype=np.float64)


__all__ = ["H4HSupernet", "count_macs"]
