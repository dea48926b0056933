"""Elastic ResNet (bottleneck) supernet: the accuracy proxy of the CIMNAS IV-D ResNet50 space.

One set of weights serves every genome of the ``resnet50`` family
(:class:`cimkit.space.families.ResNet50`), whose genes it takes exactly:

* elastic depth per stage: a stage runs its first ``depths[s]`` bottleneck blocks (OFA);
* elastic width: the width multiplier ``width`` (one for the network, as the space) selects the
  channel prefix ``make_divisible(base * scale * width)`` of every layer (stem and stages);
* elastic expansion per stage: a block's middle width is ``make_divisible(round(cout * e))``
  (OFA-ResNet's rule, the one of :func:`cimkit.workload.builtin.resnet_config`), a prefix of the
  widest middle;
* quantization per stage ``(conv_w, conv_a, pw_w, pw_a)``: weight/input bits of the 3x3 conv
  and of the 1x1 convs (conv1, conv3, downsample) of every block of the stage; stem and fc run
  at :data:`~cimkit.space.families.FIXED_LAYER_BITS` in a quantized genome.

BatchNorm keeps statistics of the widest channels; a subnet uses the prefix and
:func:`cimkit.accuracy.train.recalibrate` re-estimates them per subnet before it is measured.

Scale (stated plainly): the *hardware* workload of the space is the ImageNet ResNet50 at 224 x 224
(:func:`cimkit.workload.builtin.resnet50`); the *accuracy proxy* is the same elastic family at
small scale, on Fashion-MNIST 28 x 28 (as the MobileNetV2 proxy): ``scale`` multiplies every
width (default 0.25: stage outputs 64/128/256/512 at width 1.0) and the stem is a 3 x 3 conv
without max-pool, stride 1 (``stem="small"``: 28 -> 28 -> 14 -> 7 -> 4 through the stages) or
stride 2 (``"small2"``, what the training pipeline uses: 28 -> 14 -> 7 -> 4 -> 2, as the
MobileNetV2 proxy's stride-2 stem), instead of the 7 x 7 stride-2 conv + max-pool of ImageNet.
With ``stem="imagenet"`` and ``scale`` s the subnet of a genome is exactly
``resnet50(depths, width * s, expands)``: same layer names, shapes and MACs
(checked in tests/accuracy/test_resnet_supernet.py).

Tensors are NCHW float32.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cimkit.accuracy.quant import ActQuant, quantize_weight
from cimkit.accuracy.resnet_space import (
    FIXED_BITS,
    GENES,
    STAGE_OUTS,
    STEM,
    STEMS,
    Bits4,
    ResNetGenome,
    ResNetSupernetConfig,
    genome_from_values,
)
from cimkit.accuracy.supernet import _bn, _drop_path


class _QConv(nn.Module):
    """Conv weight (widest channels) + BN + input fake-quantizer; sliced per subnet."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, signed: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.q_in = ActQuant(signed=signed)

    def forward(
        self, x: torch.Tensor, cout: int, w_bits: int | None, a_bits: int | None
    ) -> torch.Tensor:
        cin = x.shape[1]
        self.q_in.bits = a_bits
        w = quantize_weight(self.conv.weight[:cout, :cin], w_bits)
        y = F.conv2d(self.q_in(x), w, None, self.conv.stride, self.conv.padding)
        return _bn(y, self.bn, cout)


class ElasticBottleneck(nn.Module):
    """Bottleneck block 1x1 -> 3x3 (stride) -> 1x1 (+ 1x1 downsample in a stage's first block)
    with elastic middle and output channels (prefixes of ``max_mid`` / ``max_cout``)."""

    def __init__(self, max_cin: int, max_mid: int, max_cout: int, stride: int, first: bool):
        super().__init__()
        self.stride, self.first = stride, first
        self.conv1 = _QConv(max_cin, max_mid, 1, 1, signed=False)
        self.conv2 = _QConv(max_mid, max_mid, 3, stride, signed=False)
        self.conv3 = _QConv(max_mid, max_cout, 1, 1, signed=False)
        self.downsample = _QConv(max_cin, max_cout, 1, stride, signed=False) if first else None
        self.mid, self.cout = max_mid, max_cout
        self.bits: tuple[int | None, ...] = (None,) * 4
        self.drop_connect = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cw, ca, pw, pa = self.bits
        h = F.relu(self.conv1(x, self.mid, pw, pa))
        h = F.relu(self.conv2(h, self.mid, cw, ca))
        h = self.conv3(h, self.cout, pw, pa)
        sc = x if self.downsample is None else self.downsample(x, self.cout, pw, pa)
        return F.relu(sc + _drop_path(h, self.drop_connect, self.training))


class ResNetSupernet(nn.Module):
    """The elastic ResNet supernet (see module docstring). Call :meth:`set_active` first.

    Forward: (B, in_channels, resolution, resolution) images -> (B, num_classes) logits of the
    active subnet (default: the largest, full precision).
    """

    family = "resnet50"

    def __init__(self, config: ResNetSupernetConfig | None = None) -> None:
        super().__init__()
        cfg = config or ResNetSupernetConfig()
        self.config = cfg
        wmax, emax = max(cfg.width_choices), max(cfg.expand_choices)
        k, s = STEMS[cfg.stem]
        self.stem = _QConv(cfg.in_channels, cfg.stem_channels(wmax), k, s, signed=True)
        self.max_depths = tuple(max(c) for c in cfg.depth_choices)
        blocks: list[ElasticBottleneck] = []
        cin = cfg.stem_channels(wmax)
        for st in range(4):
            mid, cout = cfg.channels(wmax, emax, st)
            for b in range(self.max_depths[st]):
                stride = 2 if (b == 0 and st > 0) else 1
                blocks.append(ElasticBottleneck(cin, mid, cout, stride, first=b == 0))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.q_fc = ActQuant(signed=False)
        self.fc = nn.Linear(cin, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init every block's last BN (torchvision zero_init_residual): a block starts as
        # the identity of its shortcut, which makes elastic depth benign.
        for blk in self.blocks:
            nn.init.zeros_(blk.conv3.bn.weight)
        self.active: ResNetGenome = cfg.largest()
        self.stem_cout = cfg.stem_channels(wmax)
        self.fixed_bits: int | None = None
        self.set_active(cfg.largest())

    def set_active(self, genome: ResNetGenome) -> None:
        """Select the subnet and quantization policy of ``genome`` (bits None = FP).

        Raises:
            ValueError: a gene outside the supernet's choices (names the gene and the choices).
        """
        cfg = self.config
        if not isinstance(genome, ResNetGenome):
            # train.train_supernet ends by selecting the MobileNetV2 ``Genome.largest()``: any
            # other genome type means "the largest subnet, full precision".
            genome = cfg.largest()
        for s, d in enumerate(genome.depths):
            if d not in cfg.depth_choices[s]:
                raise ValueError(f"depths[{s}]: {d} not in {list(cfg.depth_choices[s])}")
        for s, e in enumerate(genome.expands):
            if e not in cfg.expand_choices:
                raise ValueError(f"expands[{s}]: {e} not in {list(cfg.expand_choices)}")
        if genome.width not in cfg.width_choices:
            raise ValueError(f"width: {genome.width} not in {list(cfg.width_choices)}")
        self.active = genome
        self.stem_cout = cfg.stem_channels(genome.width)
        self.fixed_bits = None if genome.bits is None else FIXED_BITS
        n_active = sum(genome.depths)
        idx = 0
        for st, blocks in enumerate(self._stage_blocks()):
            mid, cout = cfg.channels(genome.width, genome.expands[st], st)
            for blk in blocks:
                blk.mid, blk.cout = mid, cout
                blk.bits = (None,) * 4 if genome.bits is None else tuple(genome.bits[st])
            for blk in blocks[: genome.depths[st]]:
                blk.drop_connect = cfg.drop_connect * idx / max(n_active, 1)
                idx += 1

    def _stage_blocks(self) -> list[list[ElasticBottleneck]]:
        out, j = [], 0
        for d in self.max_depths:
            out.append(list(self.blocks[j : j + d]))
            j += d
        return out

    def active_blocks(self) -> list[tuple[str, ElasticBottleneck]]:
        """(torchvision name ``layer{s+1}.{b}``, block) of the active subnet, in order."""
        return [
            (f"layer{s + 1}.{b}", blk)
            for s, blocks in enumerate(self._stage_blocks())
            for b, blk in enumerate(blocks[: self.active.depths[s]])
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fb = self.fixed_bits
        x = F.relu(self.stem(x, self.stem_cout, fb, fb))
        if self.config.stem == "imagenet":
            x = F.max_pool2d(x, 3, 2, 1)
        for _, blk in self.active_blocks():
            x = blk(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = F.dropout(x, self.config.dropout, self.training)
        c = x.shape[1]
        self.q_fc.bits = fb
        w = quantize_weight(self.fc.weight[:, :c], fb)
        return F.linear(self.q_fc(x), w, self.fc.bias)

    def act_quantizers(self) -> list[ActQuant]:
        return [m for m in self.modules() if isinstance(m, ActQuant)]

    def layer_shapes(self, genome: ResNetGenome) -> dict[str, tuple[int, int, int, int, int]]:
        """Torchvision name -> (cin, cout, kernel, stride, output side) of every MAC layer of
        ``genome``'s subnet (``conv1``, ``layer{s}.{b}.conv{1,2,3}``, ``...downsample.0``,
        ``fc`` with kernel 1 and side 1)."""
        self.set_active(genome)
        cfg = self.config
        k, s = STEMS[cfg.stem]
        side = math.floor((cfg.resolution + 2 * (k // 2) - k) / s) + 1
        out = {"conv1": (cfg.in_channels, self.stem_cout, k, s, side)}
        if cfg.stem == "imagenet":
            side = (side + 2 - 3) // 2 + 1
        cin = self.stem_cout
        for name, blk in self.active_blocks():
            o = (side + 2 - 3) // blk.stride + 1
            out[f"{name}.conv1"] = (cin, blk.mid, 1, 1, side)
            out[f"{name}.conv2"] = (blk.mid, blk.mid, 3, blk.stride, o)
            out[f"{name}.conv3"] = (blk.mid, blk.cout, 1, 1, o)
            if blk.downsample is not None:
                out[f"{name}.downsample.0"] = (cin, blk.cout, 1, blk.stride, o)
            side, cin = o, blk.cout
        out["fc"] = (cin, cfg.num_classes, 1, 1, 1)
        return out

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def count_macs(net: ResNetSupernet, genome: ResNetGenome) -> int:
    """Multiply-accumulates of one inference of ``genome``'s subnet (conv + fc layers)."""
    return int(
        sum(
            ci * co * k * k * side * side
            for ci, co, k, _, side in net.layer_shapes(genome).values()
        )
    )


def measure_many(
    net: ResNetSupernet,
    genomes: Sequence[ResNetGenome],
    x_calib: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    out: Path,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Measure ``genomes`` (BN recalibration + top-1), one cached JSON line per distinct genome.

    The ResNet counterpart of :func:`cimkit.accuracy.train.measure_many` (same record format
    ``{"genome", "acc", "seconds", "key", "fp"}``, same fingerprint of supernet + images, same
    refusal of a file measured with another fingerprint), keyed by :meth:`ResNetGenome.key`.
    """
    from cimkit.accuracy import train as tr

    fp = tr.measurement_fingerprint(net, x_calib, x_eval, y_eval)  # type: ignore[arg-type]
    cache = tr.read_measure_cache(out, fp, lambda rec: ResNetGenome.from_dict(rec["genome"]).key())
    result: list[dict] = []
    with out.open("a") as f:
        for g in genomes:
            key = g.key()
            if key not in cache:
                t = time.time()
                acc = tr.measure(net, g, x_calib, x_eval, y_eval)  # type: ignore[arg-type]
                rec = {"genome": g.to_dict(), "acc": acc, "seconds": round(time.time() - t, 2),
                       "key": key, "fp": fp}  # fmt: skip
                f.write(json.dumps(rec) + "\n")
                f.flush()
                cache[key] = rec
                log(f"{out.name}: {key} acc {acc:.4f}")
            result.append(cache[key])
    return result


__all__ = [
    "FIXED_BITS",
    "GENES",
    "STAGE_OUTS",
    "STEM",
    "Bits4",
    "ElasticBottleneck",
    "ResNetGenome",
    "ResNetSupernet",
    "ResNetSupernetConfig",
    "count_macs",
    "genome_from_values",
    "measure_many",
]
