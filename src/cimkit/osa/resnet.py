"""CIFAR-style ResNet-20 for 28x28x1 images with 8-bit fake quantization, as OSA-HCIM runs it.

Network (He et al. 2016, section 4.2, "option A" shortcuts): a 3x3 conv to 16 channels, then 3
stages of 3 basic blocks (16, 32, 64 channels; the first block of stages 2 and 3 has stride 2),
global average pooling and a 64 -> 10 linear layer: 19 convolutions + 1 linear = 20 weight
layers, 0.27 M parameters. On 28x28 inputs the feature maps are 28x28, 14x14 and 7x7.
Downsampling shortcuts take every other pixel and zero-pad the new channels (no weights), so
every multiply-accumulate of the network is in one of the 20 weight layers.

Quantization (what the OSA-HCIM macro takes, paper section II: 8b x 8b MACs):

* Weights of every conv and of the linear layer: signed 8-bit two's-complement levels in
  [-127, 127] (-128 unused, symmetric), one scale per output channel,
  ``scale_c = max|w_c| / 127`` (the convention of :mod:`cimkit.accuracy.quant`). Per-channel
  scales commute with the BatchNorm that follows each conv (BN scales each output channel), so
  the levels are those of the deployed, BN-folded layer.
* Inputs of every weight layer: unsigned 8-bit levels 0..255 over [0, clip] (one clip per
  tensor). Inside the network every weight-layer input follows a ReLU, so it is non-negative.
  The first conv takes the image itself: the model undoes the data set's normalisation and
  quantizes the pixels over the fixed range [0, 1], so its input levels are exactly the
  original 8-bit pixel values 0..255.
* Clips of the calibrated inputs: an exponential average (momentum 0.1) of the batch max while
  training, fixed in eval mode (stored as buffers, so they ship with the weights).
* Rounding: torch's fused fake-quantization ops (``fake_quantize_per_channel_affine`` /
  ``..._per_tensor_affine``: round half to even of ``x * (1 / scale)``, straight-through gradient
  inside the range, zero outside). They are 2.3x faster on CPU than the unfused arithmetic of
  :mod:`cimkit.accuracy.quant`, which rounds ``x / scale`` and so may differ by one level on
  exact ties; the integer views below use the same fused ops, so they match the forward exactly.
* Biases (BatchNorm shifts, the linear layer's bias) and the residual additions stay in
  floating point: they are applied after the integer MAC, as the macro's digital periphery does.

Each quantized layer exposes its integer operands (:meth:`QConv2d.int_weight`,
:meth:`QConv2d.int_input`) so a bit-plane simulator can run the same layer on integers:
``conv(x, w) = s_x * s_w[c] * conv(x_int, w_int)`` up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_BITS = 8
ACT_BITS = 8


class InputQuant(nn.Module):
    """Unsigned ``bits``-bit fake quantizer of a layer input over [0, clip].

    Args:
        bits: levels 0..2**bits-1.
        fixed_clip: a fixed range (the image input, 1.0); None calibrates the clip while
            training (EMA of a batch statistic with ``momentum``).

    Attributes:
        percentile: the batch statistic the clip follows while training, in (0, 100]: 100 is
            the batch maximum (the first shipped model); below it, that percentile of the batch's
            values (zeros included), so the top levels are used more often and the largest
            values saturate (set by ``TrainConfig.clip_percentile``; not saved, eval mode only
            reads ``clip``).
    """

    def __init__(self, bits: int = ACT_BITS, fixed_clip: float | None = None) -> None:
        super().__init__()
        self.bits = bits
        self.fixed = fixed_clip is not None
        self.momentum = 0.1
        self.percentile = 100.0
        self.register_buffer("clip", torch.tensor(1.0 if fixed_clip is None else fixed_clip))
        self.register_buffer("n_seen", torch.tensor(0, dtype=torch.long))

    @property
    def scale(self) -> torch.Tensor:
        """Value of one level, clip / (2**bits - 1) (scalar tensor)."""
        return self.clip.clamp_min(1e-8) / (2**self.bits - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self.fixed:
            with torch.no_grad():
                m = batch_statistic(x.detach(), self.percentile)
                if self.n_seen.item() == 0:
                    self.clip.copy_(m)
                else:
                    self.clip.lerp_(m, self.momentum)
                self.n_seen += 1
        return fake_quant_unsigned(x, self.scale, self.bits)

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels (int64, same shape as ``x``) of ``x`` in 0..2**bits-1."""
        s = self.scale
        return torch.round(fake_quant_unsigned(x.detach(), s, self.bits) / s).long()


_ZERO = torch.zeros((), dtype=torch.int32)

#: Values of a batch the percentile clip is estimated from at most (a strided subsample above it:
#: kthvalue on every value of a 128-image batch would cost more than the convolution).
_PERCENTILE_SAMPLE = 1 << 18


def batch_statistic(x: torch.Tensor, percentile: float) -> torch.Tensor:
    """The clip target of one batch: its max (``percentile >= 100``) or that percentile (scalar).

    Args:
        x: the layer input, any shape (post-ReLU: non-negative).
        percentile: in (0, 100].
    """
    if percentile >= 100.0:
        return x.amax()
    flat = x.reshape(-1)
    if flat.numel() > _PERCENTILE_SAMPLE:
        flat = flat[:: -(-flat.numel() // _PERCENTILE_SAMPLE)]
    k = max(1, min(flat.numel(), round(flat.numel() * percentile / 100.0)))
    return flat.float().kthvalue(k).values.to(x.dtype)


def fake_quant_unsigned(x: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """``clamp(round(x / scale), 0, 2**bits - 1) * scale`` (fused; STE gradient in range)."""
    s = scale.detach().reshape(1).float()
    return torch.fake_quantize_per_tensor_affine(x, s, _ZERO.reshape(1), 0, 2**bits - 1)


def fake_quant_weight(w: torch.Tensor, bits: int = WEIGHT_BITS) -> torch.Tensor:
    """Per-output-channel symmetric fake quantization of ``w`` (cout, ...) (fused op)."""
    qmax = 2 ** (bits - 1) - 1
    scale = w.detach().abs().flatten(1).amax(1).clamp_min(1e-8) / qmax
    zp = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale.float(), zp, 0, -qmax, qmax)


class QConv2d(nn.Conv2d):
    """Conv2d (no bias) with 8-bit per-channel weights and an 8-bit unsigned input quantizer."""

    def __init__(self, *args, fixed_clip: float | None = None, **kwargs) -> None:
        kwargs.setdefault("bias", False)
        super().__init__(*args, **kwargs)
        self.w_bits = WEIGHT_BITS
        self.act = InputQuant(ACT_BITS, fixed_clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.act(x), fake_quant_weight(self.weight, self.w_bits), None)

    @torch.no_grad()
    def int_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed levels (cout, cin, k, k) int64 in [-127, 127] and scales (cout,) float."""
        return int_weight(self.weight, self.w_bits)

    @torch.no_grad()
    def int_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unsigned levels of the layer input (same shape, int64) and its scale (scalar)."""
        return self.act.levels(x), self.act.scale


class QLinear(nn.Linear):
    """Linear layer with 8-bit per-row weights, an 8-bit unsigned input and a float bias."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.w_bits = WEIGHT_BITS
        self.act = InputQuant(ACT_BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.act(x), fake_quant_weight(self.weight, self.w_bits), self.bias)

    @torch.no_grad()
    def int_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed levels (out, in) int64 in [-127, 127] and scales (out,) float."""
        return int_weight(self.weight, self.w_bits)

    @torch.no_grad()
    def int_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unsigned levels of the layer input (same shape, int64) and its scale (scalar)."""
        return self.act.levels(x), self.act.scale


def int_weight(w: torch.Tensor, bits: int = WEIGHT_BITS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric levels of ``w`` (cout, ...) and their scales (cout,).

    The same rounding as :func:`fake_quant_weight` (what the forward uses), so
    ``levels * scale == fake_quant_weight(w, bits)`` (up to float rounding).
    """
    qmax = 2 ** (bits - 1) - 1
    scale = w.detach().abs().flatten(1).amax(1).clamp_min(1e-8) / qmax
    shape = (-1, *([1] * (w.dim() - 1)))
    levels = torch.round(fake_quant_weight(w.detach(), bits) / scale.view(shape))
    return levels.long(), scale


class BasicBlock(nn.Module):
    """Two 3x3 QConv2d + BN, ReLU between and after the residual sum (option-A shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = QConv2d(cin, cout, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = QConv2d(cout, cout, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.pad = cout - cin

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Identity, or every ``stride``-th pixel with the new channels zero (option A)."""
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 (3 x 3 basic blocks, 16/32/64 channels) for (N, 1, 28, 28) normalized images.

    Args:
        num_classes: outputs of the linear layer.
        mean, std: the normalisation of the inputs (:func:`cimkit.accuracy.data.load` gives
            ``(pixel / 255 - mean) / std``); the model maps inputs back to [0, 1] so the first
            conv sees the 8-bit pixels. Stored as buffers.
        blocks: basic blocks per stage (3 for ResNet-20).
        zero_init_residual: start each block's last BatchNorm scale at 0 (the shipped recipe).

    Forward: (N, 1, 28, 28) float -> logits (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 10,
        mean: float = 0.0,
        std: float = 1.0,
        blocks: int = 3,
        zero_init_residual: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.conv1 = QConv2d(1, 16, 3, padding=1, fixed_clip=1.0)
        self.bn1 = nn.BatchNorm2d(16)
        layers: list[nn.Module] = []
        cin = 16
        for stage, cout in enumerate((16, 32, 64)):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(cin, cout, stride))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = QLinear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # zero_init_residual: the last BN of each block starts at 0, so every block starts as the
        # identity (Goyal et al.). The shipped model was trained so; measured afterwards, it
        # slows the first steps here (loss 1.65 vs 0.79 after 40 steps, same batches), see
        # docs/osa-hcim-training.md.
        if zero_init_residual:
            for blk in layers:
                nn.init.zeros_(blk.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * self.std + self.mean).clamp(0.0, 1.0)  # back to pixel / 255
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)

    def quantized_layers(self) -> list[tuple[str, QConv2d | QLinear]]:
        """The 20 weight layers in execution order, with their module names."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, QConv2d | QLinear)]


def num_parameters(net: nn.Module) -> int:
    """Trainable parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


class HCIMStage(nn.Module):
    """A trained layer's input quantizer followed by its simulator layer.

    The quantizer (eval mode: the trained clip) rounds the input exactly as the QAT model did;
    the simulator layer then re-reads those values as integers (``x / act_scale`` is within
    float rounding of an integer level), so it computes on the model's own integers.
    """

    def __init__(self, act: InputQuant, hcim: nn.Module) -> None:
        super().__init__()
        self.act = act
        self.hcim = hcim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hcim(self.act(x))


def to_hcim(net: ResNet20, **layer_kw: object) -> tuple[ResNet20, list[tuple[str, nn.Module]]]:
    """A copy of ``net`` whose 20 weight layers run through the OSA-HCIM simulator.

    Each :class:`QConv2d` / :class:`QLinear` becomes an :class:`HCIMStage` holding an
    ``HCIMConv2d`` / ``HCIMLinear`` (:mod:`cimkit.osa.layers`) built from the layer's own int8
    weights, per-channel scales and input scale (zero point 0: every input is unsigned). The
    rest (BatchNorm, ReLU, shortcuts, pooling) stays in float, as the macro's periphery.

    Args:
        net: a trained ResNet-20 (e.g. :func:`cimkit.osa.train.load_shipped`).
        layer_kw: passed to every simulator layer (``mode``, ``boundary``, ``candidates``,
            ``thresholds``, ``analog``, ``ose``, ``bits``, ...); default: all-digital (DCIM).

    Returns:
        (the copy in eval mode, [(name, simulator layer)] in execution order). Change a
        layer's policy with its ``set_mode``.
    """
    import copy

    from cimkit.osa.layers import HCIMConv2d, HCIMLinear

    out = copy.deepcopy(net).eval()
    layers: list[tuple[str, nn.Module]] = []
    for name, m in out.quantized_layers():
        w_int, w_scale = m.int_weight()
        scale = float(m.act.scale)
        if isinstance(m, QConv2d):
            h: nn.Module = HCIMConv2d(
                w_int, w_scale, None, m.stride, m.padding, act_scale=scale, **layer_kw
            )
        else:
            h = HCIMLinear(w_int, w_scale, m.bias, act_scale=scale, **layer_kw)
        parent_name, _, child = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, child, HCIMStage(m.act, h))
        layers.append((name, h))
    return out, layers
