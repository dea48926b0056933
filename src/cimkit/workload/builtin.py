"""Built-in networks as layer tables, generated in pure Python (no PyTorch needed).

Every generator produces exactly the table that :func:`cimkit.workload.torch_import.from_torch`
and :func:`cimkit.workload.onnx_import.from_onnx` produce for the matching PyTorch model in
:mod:`cimkit.workload.torch_models` (same rows, order, names and ``inputs``); the tests check this.

Layer-table rules (shared with the importers, see docs/workloads.md):

* Convolutions and linear layers are MAC rows; bias adds are part of them.
* BatchNorm directly after a convolution is folded into it at inference (no row).
* Every activation (ReLU, ReLU6, ...) is its own 'act' row, named after its module.
* Residual additions are 'eltwise' rows named ``<block>.add``; pooling is a 'pool' row.
* Data movement (flatten, reshape, dropout at inference, ...) produces no row; ``inputs`` is
  traced through it.

Counts are per inference of one image; ``resolution`` is the input height = width in pixels.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cimkit.errors import WorkloadError
from cimkit.workload.histograms import LayerHistogram
from cimkit.workload.layer import Layer, make_layer
from cimkit.workload.table import ARRAY_COLUMNS, OP_CODE, LayerArrays, Workload

# --- once-for-all MobileNetV2 space (OFA's OFAProxylessNASNets with base_stage_width='google') --
#: Output channels of the 5 elastic stages (before the width multiplier).
OFA_STAGE_WIDTHS: tuple[int, ...] = (24, 32, 64, 96, 160)
#: Stride of the first block of each elastic stage.
OFA_STAGE_STRIDES: tuple[int, ...] = (2, 2, 2, 1, 2)
#: Blocks per elastic stage in the largest network (every design uses these slots).
OFA_MAX_DEPTH = 4
OFA_N_STAGES = len(OFA_STAGE_WIDTHS)
OFA_N_BLOCKS = OFA_N_STAGES * OFA_MAX_DEPTH
#: The choices of the OFA search space (the generators accept a wider range, see _check_ofa).
OFA_DEPTHS: tuple[int, ...] = (2, 3, 4)
OFA_KERNELS: tuple[int, ...] = (3, 5, 7)
OFA_EXPANDS: tuple[int, ...] = (3, 4, 6)
#: Stem, first-block, last-block and feature-mix widths of MobileNetV2.
_MBV2_STEM, _MBV2_FIRST, _MBV2_LAST_BLOCK, _MBV2_LAST_CHANNEL = 32, 16, 320, 1280
#: Standard MobileNetV2 (Sandler et al. 2018, torchvision): depth per elastic stage.
MOBILENETV2_DEPTHS: tuple[int, ...] = (2, 3, 4, 3, 3)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never more than 10% down.

    The rule of MobileNetV2/OFA/torchvision (``_make_divisible``), used for width multipliers.
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def _make_divisible_array(value: np.ndarray, divisor: int = 8) -> np.ndarray:
    """Vectorized :func:`make_divisible` of positive integers (int64 array, same shape)."""
    v = np.asarray(value, dtype=np.int64)
    new = np.maximum(divisor, (v + divisor // 2) // divisor * divisor)
    new += divisor * (10 * new < 9 * v)  # integer form of "new < 0.9 * v"
    return new


def expand_channels(in_channels: int, expand: float) -> int:
    """Hidden (expanded) channels of an inverted-residual block: OFA's make_divisible rule."""
    return make_divisible(round(in_channels * expand), 8)


# --------------------------------------------------------------------------- table builder
@dataclass(frozen=True)
class _T:
    """A tensor flowing between rows: its producer row name and per-sample C x H x W."""

    src: str
    c: int
    h: int
    w: int


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class _Net:
    """Accumulates rows with make_layer, tracking shapes and producers like a forward pass."""

    def __init__(self, weight_bits: int, act_bits: int) -> None:
        self.layers: list[Layer] = []
        self.wb, self.ab = weight_bits, act_bits

    def _row(self, name: str, op: str, inputs: tuple[str, ...], **dims: int) -> None:
        self.layers.append(
            make_layer(name, op, weight_bits=self.wb, act_bits=self.ab, inputs=inputs, **dims)
        )

    def conv(self, name: str, x: _T, out_c: int, k: int, stride: int = 1, groups: int = 1) -> _T:
        """Conv with 'same'-style padding k // 2 (all built-in convs use it)."""
        oh, ow = _conv_out(x.h, k, stride, k // 2), _conv_out(x.w, k, stride, k // 2)
        self._row(
            name,
            "conv",
            (x.src,),
            in_channels=x.c,
            out_channels=out_c,
            in_h=x.h,
            in_w=x.w,
            out_h=oh,
            out_w=ow,
            kernel_h=k,
            kernel_w=k,
            stride=stride,
            groups=groups,
        )
        return _T(name, out_c, oh, ow)

    def act(self, name: str, x: _T) -> _T:
        self._row(
            name,
            "act",
            (x.src,),
            in_channels=x.c,
            out_channels=x.c,
            in_h=x.h,
            in_w=x.w,
            out_h=x.h,
            out_w=x.w,
        )
        return _T(name, x.c, x.h, x.w)

    def add(self, name: str, a: _T, b: _T) -> _T:
        self._row(
            name,
            "eltwise",
            (a.src, b.src),
            in_channels=a.c,
            out_channels=a.c,
            in_h=a.h,
            in_w=a.w,
            out_h=a.h,
            out_w=a.w,
        )
        return _T(name, a.c, a.h, a.w)

    def pool(self, name: str, x: _T, k: int, stride: int, padding: int = 0) -> _T:
        oh, ow = _conv_out(x.h, k, stride, padding), _conv_out(x.w, k, stride, padding)
        self._row(
            name,
            "pool",
            (x.src,),
            in_channels=x.c,
            out_channels=x.c,
            in_h=x.h,
            in_w=x.w,
            out_h=oh,
            out_w=ow,
            kernel_h=k,
            kernel_w=k,
            stride=stride,
        )
        return _T(name, x.c, oh, ow)

    def global_pool(self, name: str, x: _T) -> _T:
        """Global average pool to 1 x 1: window H x W, stride H (the importers' adaptive rule)."""
        self._row(
            name,
            "pool",
            (x.src,),
            in_channels=x.c,
            out_channels=x.c,
            in_h=x.h,
            in_w=x.w,
            out_h=1,
            out_w=1,
            kernel_h=x.h,
            kernel_w=x.w,
            stride=x.h,
        )
        return _T(name, x.c, 1, 1)

    def linear(self, name: str, x: _T, out_features: int) -> _T:
        """Linear on the flattened tensor (one token)."""
        self._row(name, "linear", (x.src,), in_channels=x.c * x.h * x.w, out_channels=out_features)
        return _T(name, out_features, 1, 1)

    def workload(self, name: str) -> Workload:
        return Workload(name=name, layers=tuple(self.layers))


def _check_bits(weight_bits: int, act_bits: int) -> None:
    for key, value in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if not 1 <= int(value) <= 16:
            raise WorkloadError(f"{key} must be in 1..16, got {value}")


def _check_positive(**values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise WorkloadError(f"{key} must be > 0, got {value}")


# --------------------------------------------------------------------------- MobileNetV2
def _per_block(value: int | Sequence[int], what: str) -> list[int]:
    """Expand a kernel/expand argument to one value per elastic block slot (20).

    Accepts one int (all blocks), 5 values (one per stage) or 20 values (one per block slot of
    the largest network, stage-major; values of inactive slots are ignored, as in OFA).
    """
    if isinstance(value, int | np.integer):
        return [int(value)] * OFA_N_BLOCKS
    values = [int(v) for v in value]
    if len(values) == OFA_N_STAGES:
        return [v for v in values for _ in range(OFA_MAX_DEPTH)]
    if len(values) == OFA_N_BLOCKS:
        return values
    raise WorkloadError(
        f"{what}: give one int, {OFA_N_STAGES} values (per stage) or {OFA_N_BLOCKS} values "
        f"(per block slot), got {len(values)}"
    )


def _check_ofa(depths: Sequence[int], kernels: Sequence[int], expands: Sequence[int]) -> None:
    if len(depths) != OFA_N_STAGES:
        raise WorkloadError(
            f"depths: need {OFA_N_STAGES} values (one per stage), got {len(depths)}"
        )
    bad = [d for d in depths if not 1 <= d <= OFA_MAX_DEPTH]
    if bad:
        raise WorkloadError(f"depths must be in 1..{OFA_MAX_DEPTH} (OFA uses 2, 3, 4), got {bad}")
    bad = [k for k in kernels if k < 1 or k % 2 == 0]
    if bad:
        raise WorkloadError(
            f"kernels must be odd and >= 1 (OFA uses 3, 5, 7), got {sorted(set(bad))}"
        )
    bad = [e for e in expands if not 1 <= e <= 16]
    if bad:
        raise WorkloadError(f"expands must be in 1..16 (OFA uses 3, 4, 6), got {sorted(set(bad))}")


@dataclass(frozen=True)
class MobileNetV2Config:
    """Resolved architecture of a MobileNetV2-family network (shared by the torch model).

    Attributes:
        stem: stem conv output channels.
        first: output channels of the fixed first block (expand 1, kernel 3).
        blocks: (in_channels, out_channels, kernel, stride, expand) of each elastic block that is
            active, in order, then the fixed last block.
        last_channel: output channels of the 1x1 feature-mix conv.
        num_classes: classifier outputs.
    """

    stem: int
    first: int
    blocks: tuple[tuple[int, int, int, int, int], ...]
    last_channel: int
    num_classes: int


def mobilenetv2_config(
    depths: Sequence[int] = (OFA_MAX_DEPTH,) * OFA_N_STAGES,
    kernels: int | Sequence[int] = 7,
    expands: int | Sequence[int] = 6,
    num_classes: int = 1000,
    width: float = 1.0,
    last_kernel: int = 3,
    last_expand: int = 6,
    last_channel: int | None = None,
) -> MobileNetV2Config:
    """Resolve OFA-style arguments to the list of blocks (see :func:`mobilenetv2`)."""
    _check_positive(width=width, num_classes=num_classes)
    depths = [int(d) for d in depths]
    ks, es = _per_block(kernels, "kernels"), _per_block(expands, "expands")
    _check_ofa(depths, ks + [int(last_kernel)], es + [int(last_expand)])
    stem = make_divisible(_MBV2_STEM * width)
    first = make_divisible(_MBV2_FIRST * width)
    blocks: list[tuple[int, int, int, int, int]] = []
    cin = first
    for stage, (base, stride) in enumerate(zip(OFA_STAGE_WIDTHS, OFA_STAGE_STRIDES, strict=True)):
        cout = make_divisible(base * width)
        for b in range(depths[stage]):
            slot = stage * OFA_MAX_DEPTH + b
            blocks.append((cin, cout, ks[slot], stride if b == 0 else 1, es[slot]))
            cin = cout
    blocks.append(
        (cin, make_divisible(_MBV2_LAST_BLOCK * width), int(last_kernel), 1, int(last_expand))
    )
    if last_channel is None:
        last_channel = make_divisible(_MBV2_LAST_CHANNEL * width)
    return MobileNetV2Config(stem, first, tuple(blocks), int(last_channel), int(num_classes))


def _mobilenetv2_table(
    cfg: MobileNetV2Config, resolution: int, weight_bits: int, act_bits: int, name: str
) -> Workload:
    """Rows of the torchvision-layout MobileNetV2 built from ``cfg`` (names = module paths)."""
    _check_bits(weight_bits, act_bits)
    _check_positive(resolution=resolution)
    net = _Net(weight_bits, act_bits)
    x = _T("", 3, resolution, resolution)
    # features.0: ConvBNReLU6 (Sequential: 0 conv, 1 BN folded, 2 ReLU6)
    x = net.act("features.0.2", net.conv("features.0.0", x, cfg.stem, 3, 2))
    all_blocks = [(cfg.stem, cfg.first, 3, 1, 1), *cfg.blocks]
    for i, (cin, cout, k, stride, expand) in enumerate(all_blocks, start=1):
        p = f"features.{i}.conv"
        inp, mid, j = x, expand_channels(cin, expand), 0
        if expand != 1:  # 1x1 expansion (skipped when expand == 1, as in torchvision)
            x = net.act(f"{p}.0.2", net.conv(f"{p}.0.0", x, mid, 1))
            j = 1
        x = net.act(f"{p}.{j}.2", net.conv(f"{p}.{j}.0", x, mid, k, stride, groups=mid))
        x = net.conv(f"{p}.{j + 1}", x, cout, 1)  # linear bottleneck; BN p.{j+2} folded
        if stride == 1 and cin == cout:
            x = net.add(f"features.{i}.add", inp, x)
    last = len(all_blocks) + 1
    x = net.act(f"features.{last}.2", net.conv(f"features.{last}.0", x, cfg.last_channel, 1))
    x = net.global_pool("avgpool", x)  # F.adaptive_avg_pool2d in the top-level forward
    net.linear("classifier.1", x, cfg.num_classes)  # classifier.0 is dropout
    return net.workload(name)


def mobilenetv2(
    depths: Sequence[int] = (OFA_MAX_DEPTH,) * OFA_N_STAGES,
    kernels: int | Sequence[int] = 7,
    expands: int | Sequence[int] = 6,
    resolution: int = 224,
    num_classes: int = 1000,
    width: float = 1.0,
    weight_bits: int = 8,
    act_bits: int = 8,
    last_kernel: int = 3,
    last_expand: int = 6,
) -> Workload:
    """A MobileNetV2 from the once-for-all (OFA) search space; defaults give the LARGEST network.

    Layout (OFA's ``OFAProxylessNASNets(base_stage_width='google')``, torchvision module names):
    3x3 stride-2 stem conv (32 ch) + ReLU6; a fixed inverted-residual block (expand 1, 3x3,
    16 ch); 5 elastic stages of widths 24, 32, 64, 96, 160 and first-block strides 2, 2, 2, 1, 2,
    each with ``depths[s]`` blocks; a fixed 320-channel block (``last_kernel``, ``last_expand``,
    stride 1; OFA makes this block elastic too); a 1x1 conv to 1280 ch (feature mix) + ReLU6;
    global average pool; linear classifier. A block adds its input when stride 1 and channels
    match (every block but the first of a stage).

    Args:
        depths: blocks per elastic stage, 5 values in 1..4 (OFA: {2, 3, 4}). Default 4 each.
        kernels: depthwise kernel size per block: one int, 5 (per stage) or 20 (per block slot,
            stage-major, inactive slots ignored). OFA: {3, 5, 7}. Default 7.
        expands: expansion ratio per block, same forms. OFA: {3, 4, 6}. Default 6.
        resolution: input image height = width (pixels). Default 224.
        num_classes: classifier outputs.
        width: width multiplier applied to every width, including the 1280 feature mix (OFA rule),
            rounded with :func:`make_divisible`.
        weight_bits, act_bits: quantization written into every row.
        last_kernel, last_expand: the fixed 320-channel block.

    ``mobilenetv2(depths=(2, 3, 4, 3, 3), kernels=3, expands=6)`` is the standard MobileNetV2
    (identical table to :func:`mobilenetv2_standard`). The default (largest) network has 129 rows,
    524,091,968 MACs and 4,258,208 weights at 224 x 224; the smallest OFA choice (depth 2,
    kernel 3, expand 3) has 148,110,656 MACs and 2,539,808 weights.
    """
    cfg = mobilenetv2_config(depths, kernels, expands, num_classes, width, last_kernel, last_expand)
    return _mobilenetv2_table(cfg, resolution, weight_bits, act_bits, "mobilenetv2_ofa")


def mobilenetv2_standard(
    resolution: int = 224,
    num_classes: int = 1000,
    width: float = 1.0,
    weight_bits: int = 8,
    act_bits: int = 8,
) -> Workload:
    """The classic MobileNetV2 (torchvision ``mobilenet_v2``): kernel 3, expand 6 everywhere.

    t, c, n, s table (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2)
    (6,320,1,1); last channel 1280 * max(1, width) as in torchvision. At 224 x 224, width 1:
    300,774,272 MACs and 3,469,760 conv/linear weights (3,504,872 parameters with biases and BN).
    """
    cfg = mobilenetv2_standard_config(num_classes, width)
    return _mobilenetv2_table(cfg, resolution, weight_bits, act_bits, "mobilenetv2")


def mobilenetv2_standard_config(num_classes: int = 1000, width: float = 1.0) -> MobileNetV2Config:
    """The :class:`MobileNetV2Config` of :func:`mobilenetv2_standard`."""
    return mobilenetv2_config(
        depths=MOBILENETV2_DEPTHS,
        kernels=3,
        expands=6,
        num_classes=num_classes,
        width=width,
        last_channel=make_divisible(_MBV2_LAST_CHANNEL * max(1.0, width)),
    )


# --------------------------------------------------------------------------- ResNet
def _per_stage(value: float | Sequence[float], what: str, n: int = 4) -> list[float]:
    if isinstance(value, int | float | np.integer | np.floating):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise WorkloadError(f"{what}: give one value or {n} (one per stage), got {len(values)}")
    return values


@dataclass(frozen=True)
class ResNetConfig:
    """Resolved ResNet: stem width and per block (in, mid, out, stride); mid == out for basic."""

    bottleneck: bool
    stem: int
    blocks: tuple[tuple[int, int, int, int], ...]
    block_names: tuple[str, ...]
    num_classes: int


def resnet_config(
    bottleneck: bool,
    depths: Sequence[int],
    width: float = 1.0,
    expand_ratio: float | Sequence[float] = 0.25,
    num_classes: int = 1000,
) -> ResNetConfig:
    """Resolve ResNet knobs: blocks per stage, width multiplier, bottleneck expand ratio.

    Stage output widths are 64/128/256/512 (basic) or 256/512/1024/2048 (bottleneck) times
    ``width``; a bottleneck's middle width is ``out * expand_ratio`` (OFA-ResNet's rule; 0.25 is
    the standard ResNet-50). Widths are rounded with :func:`make_divisible`.
    """
    _check_positive(width=width, num_classes=num_classes)
    depths = [int(d) for d in depths]
    if len(depths) != 4 or any(d < 1 for d in depths):
        raise WorkloadError(f"depths: need 4 values >= 1 (blocks per stage), got {depths}")
    ratios = _per_stage(expand_ratio, "expand_ratio")
    _check_positive(**{f"expand_ratio[{i}]": r for i, r in enumerate(ratios)})
    bases = (256, 512, 1024, 2048) if bottleneck else (64, 128, 256, 512)
    stem = make_divisible(64 * width)
    blocks, names, cin = [], [], stem
    for s, (base, depth) in enumerate(zip(bases, depths, strict=True)):
        cout = make_divisible(base * width)
        mid = make_divisible(round(cout * ratios[s])) if bottleneck else cout
        for b in range(depth):
            blocks.append((cin, mid, cout, 2 if (b == 0 and s > 0) else 1))
            names.append(f"layer{s + 1}.{b}")
            cin = cout
    return ResNetConfig(bottleneck, stem, tuple(blocks), tuple(names), int(num_classes))


def _resnet_table(
    cfg: ResNetConfig, resolution: int, weight_bits: int, act_bits: int, name: str
) -> Workload:
    """Rows of the torchvision-layout ResNet (``relu`` module reused: relu, relu_1, relu_2)."""
    _check_bits(weight_bits, act_bits)
    _check_positive(resolution=resolution)
    net = _Net(weight_bits, act_bits)
    x = _T("", 3, resolution, resolution)
    x = net.act("relu", net.conv("conv1", x, cfg.stem, 7, 2))
    x = net.pool("maxpool", x, 3, 2, padding=1)
    for (cin, mid, cout, stride), p in zip(cfg.blocks, cfg.block_names, strict=True):
        inp = x
        if cfg.bottleneck:
            x = net.act(f"{p}.relu", net.conv(f"{p}.conv1", x, mid, 1))
            x = net.act(f"{p}.relu_1", net.conv(f"{p}.conv2", x, mid, 3, stride))
            x = net.conv(f"{p}.conv3", x, cout, 1)
            last_relu = f"{p}.relu_2"
        else:
            x = net.act(f"{p}.relu", net.conv(f"{p}.conv1", x, cout, 3, stride))
            x = net.conv(f"{p}.conv2", x, cout, 3)
            last_relu = f"{p}.relu_1"
        if stride != 1 or cin != cout:
            inp = net.conv(f"{p}.downsample.0", inp, cout, 1, stride)  # BN downsample.1 folded
        x = net.act(last_relu, net.add(f"{p}.add", x, inp))
    x = net.global_pool("avgpool", x)
    net.linear("fc", x, cfg.num_classes)
    return net.workload(name)


def resnet18(
    depths: Sequence[int] = (2, 2, 2, 2),
    width: float = 1.0,
    resolution: int = 224,
    num_classes: int = 1000,
    weight_bits: int = 8,
    act_bits: int = 8,
) -> Workload:
    """ResNet-18 (torchvision layout, basic blocks); defaults give the standard network.

    Knobs (CIMNAS section IV-D): ``depths`` = basic blocks per stage, ``width`` = multiplier of
    all widths (stem 64 and stages 64/128/256/512). At 224 x 224: 1,814,073,344 MACs and
    11,678,912 conv/linear weights (11,689,512 parameters with biases and BN).
    """
    cfg = resnet_config(False, depths, width, 0.25, num_classes)
    return _resnet_table(cfg, resolution, weight_bits, act_bits, "resnet18")


def resnet50(
    depths: Sequence[int] = (3, 4, 6, 3),
    width: float = 1.0,
    expand_ratio: float | Sequence[float] = 0.25,
    resolution: int = 224,
    num_classes: int = 1000,
    weight_bits: int = 8,
    act_bits: int = 8,
) -> Workload:
    """ResNet-50 (torchvision layout, bottleneck blocks); defaults give the standard network.

    Knobs (CIMNAS section IV-D, OFA-ResNet semantics): ``depths`` = bottleneck blocks per
    stage, ``width`` = multiplier of all widths, ``expand_ratio`` = bottleneck middle width /
    block output width (one value or one per stage; OFA uses 0.2, 0.25, 0.35; 0.25 is standard).
    At 224 x 224: 4,089,184,256 MACs and 25,502,912 conv/linear weights (25,557,032 parameters).
    """
    cfg = resnet_config(True, depths, width, expand_ratio, num_classes)
    return _resnet_table(cfg, resolution, weight_bits, act_bits, "resnet50")


# --------------------------------------------------------------------------- VGG-8
#: NeuroSim's VGG-8 for CIFAR-10 (DNN+NeuroSim models/VGG.py): ('C', out) conv 3x3 'same',
#: ('M', 2) 2x2 max pool stride 2; then linear 8192->1024, ReLU, linear 1024->classes.
VGG8_FEATURES: tuple[tuple[str, int], ...] = (
    ("C", 128),
    ("C", 128),
    ("M", 2),
    ("C", 256),
    ("C", 256),
    ("M", 2),
    ("C", 512),
    ("C", 512),
    ("M", 2),
)


def vgg8(
    resolution: int = 32,
    num_classes: int = 10,
    width: float = 1.0,
    fc_width: int = 1024,
    weight_bits: int = 8,
    act_bits: int = 8,
) -> Workload:
    """VGG-8 of NeuroSim / DNN+NeuroSim on CIFAR-10 (32 x 32 input), no BatchNorm.

    conv128, conv128, pool, conv256, conv256, pool, conv512, conv512, pool (3x3 convs, padding 1,
    each followed by a ReLU module), flatten, fc ``fc_width`` + ReLU, fc ``num_classes``.
    ``width`` scales the conv widths. Names are the torch Sequential indices (``features.0`` conv,
    ``features.1`` its ReLU, ..., ``classifier.0``/``classifier.2`` the linears). At 32 x 32:
    615,917,568 MACs and 12,973,440 weights.
    """
    _check_bits(weight_bits, act_bits)
    _check_positive(resolution=resolution, width=width, fc_width=fc_width, num_classes=num_classes)
    net = _Net(weight_bits, act_bits)
    x = _T("", 3, resolution, resolution)
    idx = 0
    for kind, value in VGG8_FEATURES:
        if kind == "C":
            x = net.conv(f"features.{idx}", x, make_divisible(value * width), 3)
            x = net.act(f"features.{idx + 1}", x)
            idx += 2
        else:
            x = net.pool(f"features.{idx}", x, value, value)
            idx += 1
    x = net.act("classifier.1", net.linear("classifier.0", x, int(fc_width)))
    net.linear("classifier.2", x, int(num_classes))
    return net.workload("vgg8")


# --------------------------------------------------------------------------- batch generator
#: Columns stored in the batch generator's (U, L, N) block (+ one bit-width plane); the *_w
#: twins alias the *_h arrays because every built-in MobileNetV2 layer is square.
_BLOCK_COLS: tuple[str, ...] = (
    "in_channels",
    "out_channels",
    "kernel_h",
    "stride",
    "groups",
    "in_h",
    "out_h",
    "repeat",
    "macs",
    "weights",
    "in_elems",
    "out_elems",
    "ops",
)
_COL = {c: i for i, c in enumerate(_BLOCK_COLS)}
_ALIASES = {"kernel_w": "kernel_h", "in_w": "in_h", "out_w": "out_h"}


@dataclass(frozen=True)
class _OfaTemplate:
    """Slot layout of the largest OFA MobileNetV2: constant columns and elastic-block rows.

    Attributes:
        op: (1, L) int64 op codes of the slots.
        base: (U, L) int64 column values of the largest network (kernel 3, expand 6 placeholder).
        rows: (20, 6) row index per elastic block slot of [expand conv, act, dw conv, act,
            project conv, residual add]; the add is -1 for the first block of a stage.
        stage, block: (20,) stage and position in stage of each slot.
        cin, cout, hin2, hout2: (20, 1) block in/out channels and in/out spatial sizes squared.
    """

    op: np.ndarray
    base: np.ndarray
    rows: np.ndarray
    stage: np.ndarray
    block: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    hin2: np.ndarray
    hout2: np.ndarray


@lru_cache(maxsize=32)
def _ofa_template(
    resolution: int, num_classes: int, width: float, last_kernel: int, last_expand: int
) -> _OfaTemplate:
    wl = mobilenetv2(
        resolution=resolution,
        num_classes=num_classes,
        width=width,
        kernels=3,
        expands=6,
        last_kernel=last_kernel,
        last_expand=last_expand,
    )
    layers = wl.layers
    base = np.array([[getattr(la, c) for la in layers] for c in _BLOCK_COLS], dtype=np.int64)
    for twin, col in _ALIASES.items():
        assert [getattr(la, twin) for la in layers] == [getattr(la, col) for la in layers]
    index = {la.name: i for i, la in enumerate(layers)}
    rows = np.full((OFA_N_BLOCKS, 6), -1, dtype=np.int64)
    suffixes = (".conv.0.0", ".conv.0.2", ".conv.1.0", ".conv.1.2", ".conv.2", ".add")
    for j in range(OFA_N_BLOCKS):
        for r, suffix in enumerate(suffixes):  # features.0 = stem, features.1 = first block
            rows[j, r] = index.get(f"features.{j + 2}{suffix}", -1)
    assert (rows[:, :5] >= 0).all()

    def col(c: str, r: int) -> np.ndarray:
        return base[_COL[c], rows[:, r]][:, None]

    tpl = _OfaTemplate(
        op=np.array([[OP_CODE[la.op] for la in layers]], dtype=np.int64),
        base=base,
        rows=rows,
        stage=np.repeat(np.arange(OFA_N_STAGES), OFA_MAX_DEPTH),
        block=np.tile(np.arange(OFA_MAX_DEPTH), OFA_N_STAGES),
        cin=col("in_channels", 0),
        cout=col("out_channels", 4),
        hin2=col("in_h", 0) ** 2,
        hout2=col("out_h", 2) ** 2,
    )
    for arr in (tpl.op, tpl.base, tpl.rows, tpl.cin, tpl.cout, tpl.hin2, tpl.hout2):
        arr.flags.writeable = False
    return tpl


def _as_int_matrix(value: object, shape: tuple[int, int], what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and not (
        arr.dtype.kind == "f" and np.array_equal(arr, np.round(arr))
    ):
        raise WorkloadError(f"{what}: need integers, got dtype {arr.dtype}")
    try:
        return np.broadcast_to(arr.astype(np.int64, copy=False), shape)
    except ValueError:
        raise WorkloadError(f"{what}: shape {arr.shape} does not broadcast to {shape}") from None


def _bits_array(bits: int | np.ndarray | None, mask: np.ndarray, what: str) -> np.ndarray | int:
    """Bit widths: a checked int for scalars (filled into the block), else an (N, L) array."""
    if bits is None:
        return 8
    if np.ndim(bits) == 0:
        if not 1 <= int(bits) <= 16:
            raise WorkloadError(f"{what} must be in 1..16, got {bits}")
        return int(bits)
    full = _as_int_matrix(bits, mask.shape, what)
    if ((full < 1) | (full > 16))[mask].any():
        raise WorkloadError(f"{what} must be in 1..16 for every active layer")
    out = np.where(mask, full, 0)
    out.flags.writeable = False
    return out


def _fill_elastic(
    block: np.ndarray, tpl: _OfaTemplate, mask_t: np.ndarray, mid: np.ndarray, kernel: np.ndarray
) -> None:
    """Write the design-dependent entries of every elastic block slot into ``block`` (U, L, N).

    ``mid``/``kernel`` are (20, N) expanded channels and depthwise kernels. Rows of a slot:
    r0 1x1 expansion cin -> mid, r1 its activation (both masked by "expand != 1"), r2 k x k
    depthwise with the slot's stride, r3 its activation, r4 1x1 projection mid -> cout.

    All 20 slots at once: each statement writes a (20, N) plane through the slots' row indices
    (a few dozen array operations instead of 25 per slot; the same int64 products, so the same
    values as the slot-by-slot loop, tested).
    """
    c = _COL
    r0, r1, r2, r3, r4 = (tpl.rows[:, i] for i in range(5))  # (20,) each, distinct rows
    cin, cout, hin2, hout2 = tpl.cin, tpl.cout, tpl.hin2, tpl.hout2  # (20, 1)

    def put(col: str, rows: np.ndarray, value: np.ndarray) -> None:
        block[c[col], rows] = value

    me = mid * mask_t[r0]  # expanded channels, 0 when inactive or expand 1
    w0 = me * cin
    e0 = me * hin2
    put("out_channels", r0, me)
    put("weights", r0, w0)
    put("macs", r0, w0 * hin2)
    put("out_elems", r0, e0)
    put("in_channels", r1, me)
    put("out_channels", r1, me)
    for col in ("in_elems", "out_elems", "ops"):
        put(col, r1, e0)
    m = mid * mask_t[r2]  # depthwise channels, 0 when inactive
    kh = kernel * mask_t[r2]
    w2 = m * kh * kh
    el = m * hout2
    for col in ("in_channels", "out_channels", "groups"):
        put(col, r2, m)
    put("kernel_h", r2, kh)
    put("weights", r2, w2)
    put("macs", r2, w2 * hout2)
    put("in_elems", r2, m * hin2)
    put("out_elems", r2, el)
    for col in ("in_channels", "out_channels"):
        put(col, r3, m)
    for col in ("in_elems", "out_elems", "ops"):
        put(col, r3, el)
    w4 = m * cout
    put("in_channels", r4, m)
    put("weights", r4, w4)
    put("macs", r4, w4 * hout2)
    put("in_elems", r4, el)


def mobilenetv2_ofa_batch(
    depths: np.ndarray,
    kernels: np.ndarray,
    expands: np.ndarray,
    resolution: int = 224,
    num_classes: int = 1000,
    width: float = 1.0,
    weight_bits: int | np.ndarray | None = None,
    act_bits: int | np.ndarray | None = None,
    last_kernel: int = 3,
    last_expand: int = 6,
) -> LayerArrays:
    """Layer arrays of N OFA MobileNetV2 designs at once (vectorized over designs).

    Every design uses the slot layout of the largest network (4 blocks per stage, L = 129 slots
    at the default settings); slots of inactive blocks (beyond a stage's depth, and the
    expansion conv + activation of blocks with expand 1) have ``mask`` False and 0 in every
    column. For each design, the active slots in order equal the rows of
    ``mobilenetv2(depths[i], kernels[i], expands[i], ...)`` column by column.

    Args:
        depths: (N, 5) blocks per stage, in 1..4.
        kernels: (N, 20) depthwise kernel per block slot (stage-major; inactive slots ignored);
            anything broadcastable to (N, 20), e.g. one int.
        expands: (N, 20) expansion ratio per block slot, same forms.
        resolution, num_classes, width, last_kernel, last_expand: as in :func:`mobilenetv2`,
            shared by the batch.
        weight_bits, act_bits: None (8), one int, or an int array broadcastable to (N, L).

    Returns:
        LayerArrays of shape (N, L); ``names`` is None, ``workload_names`` 'mobilenetv2_ofa'.
        For speed (N = 10,000 writes about 145 MB of int64) the arrays are read-only and stored
        slot-major (Fortran order: filling one slot for all designs is a contiguous write);
        ``kernel_w``/``in_w``/``out_w`` share memory with ``kernel_h``/``in_h``/``out_h``, equal
        bit widths share one array, and ``op`` is a broadcast view of the slots' op codes (also
        where masked: the mask, not ``op``, says whether a layer exists).
    """
    d = np.asarray(depths)
    if d.ndim != 2 or d.shape[1] != OFA_N_STAGES or d.shape[0] == 0:
        raise WorkloadError(f"depths: need shape (N, {OFA_N_STAGES}) with N >= 1, got {d.shape}")
    n = d.shape[0]
    d = _as_int_matrix(d, (n, OFA_N_STAGES), "depths")
    k = _as_int_matrix(kernels, (n, OFA_N_BLOCKS), "kernels")
    e = _as_int_matrix(expands, (n, OFA_N_BLOCKS), "expands")
    if ((d < 1) | (d > OFA_MAX_DEPTH)).any():
        raise WorkloadError(f"depths must be in 1..{OFA_MAX_DEPTH} (OFA uses 2, 3, 4)")
    tpl = _ofa_template(int(resolution), int(num_classes), float(width), last_kernel, last_expand)
    active = d[:, tpl.stage] > tpl.block  # (N, 20): block slot exists in the design
    if (active & ((k < 1) | (k % 2 == 0))).any():
        raise WorkloadError("kernels must be odd and >= 1 for every active block (OFA: 3, 5, 7)")
    if (active & ((e < 1) | (e > 16))).any():
        raise WorkloadError("expands must be in 1..16 for every active block (OFA: 3, 4, 6)")

    n_rows = tpl.base.shape[1]
    # Slot-major (L, N) mask; the (N, L) views handed out are transposes.
    mask_t = np.ones((n_rows, n), dtype=bool)
    act_t, has_expand = active.T, (active & (e != 1)).T
    for r in range(5):
        mask_t[tpl.rows[:, r]] = has_expand if r < 2 else act_t
    with_add = tpl.rows[:, 5] >= 0
    mask_t[tpl.rows[with_add, 5]] = act_t[with_add]
    mask = mask_t.T
    wb = _bits_array(weight_bits, mask, "weight_bits")
    ab = _bits_array(act_bits, mask, "act_bits")
    scalar_bits = list(dict.fromkeys(b for b in (wb, ab) if isinstance(b, int)))

    # One allocation: the template columns (and scalar bit widths) times the mask; then the
    # elastic entries of each block slot are written in place, one contiguous (N,) row at a time.
    planes = np.concatenate([tpl.base, np.full((len(scalar_bits), n_rows), 1)])
    if scalar_bits:
        planes[len(_BLOCK_COLS) :] *= np.array(scalar_bits)[:, None]
    block = np.multiply(planes[:, :, None], mask_t[None, :, :], dtype=np.int64)  # (U, L, N)
    _fill_elastic(block, tpl, mask_t, _make_divisible_array(tpl.cin * e.T), k.T)
    block.flags.writeable = False

    columns = {c: block[i].T for i, c in enumerate(_BLOCK_COLS)}
    for twin, col in _ALIASES.items():
        columns[twin] = columns[col]
    for key, bits in (("weight_bits", wb), ("act_bits", ab)):
        columns[key] = (
            block[len(_BLOCK_COLS) + scalar_bits.index(bits)].T if isinstance(bits, int) else bits
        )
    return LayerArrays(
        op=np.broadcast_to(tpl.op, (n, n_rows)),
        mask=mask,
        columns={c: columns[c] for c in ARRAY_COLUMNS},
        hist_index=np.zeros((n, n_rows), dtype=np.int64),
        histograms=(LayerHistogram.default(),),
        names=None,
        workload_names=("mobilenetv2_ofa",) * n,
    )


# --------------------------------------------------------------------------- registry
#: Built-in networks by name; each returns a :class:`Workload` (keyword arguments as documented).
def mlp(
    features: Sequence[int] = (64, 128, 128, 10),
    tokens: int = 16,
    weight_bits: int = 8,
    act_bits: int = 8,
) -> Workload:
    """A multilayer perceptron: linear layers ``features[i] -> features[i+1]`` with ReLU between.

    ``tokens`` input vectors per inference (e.g. patches or a batch folded into one pass). Row
    names follow a ``torch.nn.Sequential`` of Linear/ReLU (``layers.0``, ``layers.1``, ...). Small
    enough to generate and simulate as Verilog (``cimkit generate --network mlp``).
    """
    _check_bits(weight_bits, act_bits)
    sizes = [int(f) for f in features]
    if len(sizes) < 2:
        raise WorkloadError(f"mlp: features needs at least 2 sizes, got {sizes}")
    _check_positive(tokens=tokens, **{f"features[{i}]": f for i, f in enumerate(sizes)})
    layers, src, k = [], "", 0
    for i, (fin, fout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        name = f"layers.{k}"
        layers.append(
            make_layer(
                name,
                "linear",
                in_channels=fin,
                out_channels=fout,
                out_h=int(tokens),
                weight_bits=weight_bits,
                act_bits=act_bits,
                inputs=(src,),
            )
        )
        src, k = name, k + 1
        if i < len(sizes) - 2:
            name = f"layers.{k}"
            layers.append(
                make_layer(
                    name,
                    "act",
                    in_channels=fout,
                    out_channels=fout,
                    in_h=int(tokens),
                    out_h=int(tokens),
                    weight_bits=weight_bits,
                    act_bits=act_bits,
                    inputs=(src,),
                )
            )
            src, k = name, k + 1
    return Workload(name="mlp", layers=tuple(layers))


def h4h_hybrid(
    subnet: str = "max",
    resolution: int = 224,
    weight_bits: int = 8,
    act_bits: int = 8,
    cnn_only: bool = False,
) -> Workload:
    """The largest / smallest subnet of H4H-NAS's hybrid space (cimkit.workload.h4h)."""
    from cimkit.workload.h4h import h4h_hybrid as build

    return build(subnet, resolution, weight_bits, act_bits, cnn_only)


def h4h_hybrid_min(
    resolution: int = 224, weight_bits: int = 8, act_bits: int = 8, cnn_only: bool = False
) -> Workload:
    """The smallest subnet of H4H-NAS's hybrid space (no ViT block: Table 1's minimum depths)."""
    return h4h_hybrid("min", resolution, weight_bits, act_bits, cnn_only)


NETWORKS: dict[str, Callable[..., Workload]] = {
    "h4h_hybrid": h4h_hybrid,
    "h4h_hybrid_min": h4h_hybrid_min,
    "mlp": mlp,
    "mobilenetv2": mobilenetv2_standard,
    "mobilenetv2_ofa": mobilenetv2,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "vgg8": vgg8,
}

NETWORK_DESCRIPTIONS: dict[str, str] = {
    "h4h_hybrid": "H4H-NAS hybrid MBConv/ViT space, largest subnet (Table 1; 16 ViT blocks), "
    "ImageNet 224x224",
    "h4h_hybrid_min": "H4H-NAS hybrid space, smallest subnet (Table 1's minimum; no ViT block), "
    "ImageNet 224x224",
    "mlp": "MLP 64-128-128-10 with ReLU, 16 tokens (features, tokens); small enough for Verilog",
    "mobilenetv2": "MobileNetV2 (torchvision), ImageNet 224x224",
    "mobilenetv2_ofa": "once-for-all MobileNetV2 space (depths/kernels/expands), largest by "
    "default, ImageNet 224x224",
    "resnet18": "ResNet-18 (torchvision; depths, width), ImageNet 224x224",
    "resnet50": "ResNet-50 (torchvision; depths, width, expand_ratio), ImageNet 224x224",
    "vgg8": "VGG-8 of NeuroSim, CIFAR-10 32x32",
}


def get_network(name: str, **kwargs: object) -> Workload:
    """The built-in network ``name`` built with ``kwargs`` (see each generator's parameters).

    Raises:
        WorkloadError: unknown name (the message lists the available ones) or bad arguments.
    """
    key = name.strip().lower()
    if key not in NETWORKS:
        raise WorkloadError(f"unknown network {name!r}; available: {', '.join(sorted(NETWORKS))}")
    fn = NETWORKS[key]
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as exc:
        params = ", ".join(inspect.signature(fn).parameters)
        raise WorkloadError(f"network {key!r}: {exc}; parameters: {params}") from None
    return fn(**kwargs)


def list_networks() -> list[tuple[str, str, int, int]]:
    """(name, description, total MACs, total weights) of every built-in at its defaults."""
    rows = []
    for name in sorted(NETWORKS):
        wl = NETWORKS[name]()
        rows.append((name, NETWORK_DESCRIPTIONS[name], wl.total_macs, wl.total_weights))
    return rows
