"""PyTorch modules of the built-in networks (MobileNetV2 incl. the OFA space, ResNet, VGG-8).

Written by hand in the torchvision layout so that module paths (``features.1.conv.0.0``,
``layer1.0.conv1``...) are the layer names of :mod:`cimkit.workload.builtin`; tracing these
models with :func:`cimkit.workload.torch_import.from_torch` or exporting them to ONNX gives the
built-in tables exactly. Weights are randomly initialized (no pretrained weights are shipped).

This module imports torch at import time; import it only when PyTorch is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from cimkit.errors import MissingDependencyError

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - torch is a declared dependency
    raise MissingDependencyError(
        "cimkit.workload.torch_models needs PyTorch: pip install torch"
    ) from exc

from cimkit.workload.builtin import (
    OFA_MAX_DEPTH,
    OFA_N_STAGES,
    VGG8_FEATURES,
    MobileNetV2Config,
    ResNetConfig,
    expand_channels,
    make_divisible,
    mobilenetv2_config,
    mobilenetv2_standard_config,
    resnet_config,
)


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + activation, children '0', '1', '2' like torchvision."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        act: type[nn.Module] = nn.ReLU6,
    ) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            act(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand] -> kxk depthwise -> 1x1 linear projection (+ input)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = expand_channels(cin, expand)
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, mid, 1))
        layers += [
            ConvBNAct(mid, mid, kernel, stride, groups=mid),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 from a :class:`~cimkit.workload.builtin.MobileNetV2Config`, torchvision names."""

    def __init__(self, cfg: MobileNetV2Config, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, cfg.stem, 3, 2)]
        for cin, cout, k, stride, expand in [(cfg.stem, cfg.first, 3, 1, 1), *cfg.blocks]:
            layers.append(InvertedResidual(cin, cout, k, stride, expand))
        layers.append(ConvBNAct(cfg.blocks[-1][1], cfg.last_channel, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(cfg.last_channel, cfg.num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def mobilenetv2(
    depths: Sequence[int] = (OFA_MAX_DEPTH,) * OFA_N_STAGES,
    kernels: int | Sequence[int] = 7,
    expands: int | Sequence[int] = 6,
    num_classes: int = 1000,
    width: float = 1.0,
    last_kernel: int = 3,
    last_expand: int = 6,
) -> MobileNetV2:
    """The torch model of :func:`cimkit.workload.builtin.mobilenetv2` (same arguments)."""
    cfg = mobilenetv2_config(depths, kernels, expands, num_classes, width, last_kernel, last_expand)
    return MobileNetV2(cfg)


def mobilenetv2_standard(num_classes: int = 1000, width: float = 1.0) -> MobileNetV2:
    """The torch model of :func:`cimkit.workload.builtin.mobilenetv2_standard`."""
    return MobileNetV2(mobilenetv2_standard_config(num_classes, width))


class BasicBlock(nn.Module):
    """ResNet basic block; ``relu`` is called twice (torchvision), hence rows relu, relu_1."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet bottleneck (stride on the 3x3, torchvision v1.5); rows relu, relu_1, relu_2."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet from a :class:`~cimkit.workload.builtin.ResNetConfig` (torchvision names)."""

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, cfg.stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages: list[list[nn.Module]] = [[], [], [], []]
        for (cin, mid, cout, stride), name in zip(cfg.blocks, cfg.block_names, strict=True):
            stage = int(name.split(".")[0].removeprefix("layer")) - 1
            block = (
                Bottleneck(cin, mid, cout, stride)
                if cfg.bottleneck
                else BasicBlock(cin, cout, stride)
            )
            stages[stage].append(block)
        self.layer1 = nn.Sequential(*stages[0])
        self.layer2 = nn.Sequential(*stages[1])
        self.layer3 = nn.Sequential(*stages[2])
        self.layer4 = nn.Sequential(*stages[3])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cfg.blocks[-1][2], cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(
    depths: Sequence[int] = (2, 2, 2, 2), width: float = 1.0, num_classes: int = 1000
) -> ResNet:
    """The torch model of :func:`cimkit.workload.builtin.resnet18`."""
    return ResNet(resnet_config(False, depths, width, 0.25, num_classes))


def resnet50(
    depths: Sequence[int] = (3, 4, 6, 3),
    width: float = 1.0,
    expand_ratio: float | Sequence[float] = 0.25,
    num_classes: int = 1000,
) -> ResNet:
    """The torch model of :func:`cimkit.workload.builtin.resnet50`."""
    return ResNet(resnet_config(True, depths, width, expand_ratio, num_classes))


class VGG8(nn.Module):
    """NeuroSim's VGG-8 (CIFAR-10): convs without bias or BatchNorm, ReLU modules, max pools."""

    def __init__(
        self, num_classes: int = 10, width: float = 1.0, fc_width: int = 1024, resolution: int = 32
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for kind, value in VGG8_FEATURES:
            if kind == "C":
                cout = make_divisible(value * width)
                layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.ReLU(inplace=True)]
                cin = cout
            else:
                layers.append(nn.MaxPool2d(value, value))
        self.features = nn.Sequential(*layers)
        side = resolution // 8
        self.classifier = nn.Sequential(
            nn.Linear(cin * side * side, fc_width, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(fc_width, num_classes, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


def vgg8(
    num_classes: int = 10, width: float = 1.0, fc_width: int = 1024, resolution: int = 32
) -> VGG8:
    """The torch model of :func:`cimkit.workload.builtin.vgg8` (``resolution`` sizes fc1)."""
    return VGG8(num_classes, width, fc_width, resolution)
