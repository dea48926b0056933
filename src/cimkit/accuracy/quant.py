"""Fake quantization with straight-through estimators (weights per channel, activations per tensor).

Conventions (shared with the histograms the energy model consumes, see histograms.py):

* Weights: symmetric, per output channel, ``scale = max|w_c| / (2**(b-1) - 1)``; signed integer
  levels in ``[-(2**(b-1) - 1), 2**(b-1) - 1]``. Per-channel scaling makes the integer levels
  invariant to folding the following BatchNorm into the weights (BN scales each output channel),
  so quantizing the unfolded conv weight is what a deployed, BN-folded layer holds.
* Activations: per tensor, clip ``c`` calibrated as a running average of the batch max |x|
  (reset and re-estimated with the BatchNorm statistics for every subnet and policy).
  Unsigned (post-ReLU6) tensors use levels ``0..2**b-1`` over [0, c]; signed ones (the residual
  stream entering a block) ``-(2**(b-1)-1)..2**(b-1)-1`` over [-c, c].
* ``bits >= 32`` (or None) means full precision: the tensor passes unchanged.
* Gradients: straight-through for rounding; zero outside the clipping range (as PACT/LSQ) for
  activations; weights are never clipped (the scale covers max |w|).
"""

from __future__ import annotations

import torch
from torch import nn

FULL_PRECISION = 32


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def quantize_weight(w: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Fake-quantized ``w`` (cout, ...) with per-output-channel symmetric scales."""
    if bits is None or bits >= FULL_PRECISION:
        return w
    qmax = 2 ** (bits - 1) - 1
    scale = w.detach().abs().flatten(1).amax(1).clamp_min(1e-8) / qmax
    scale = scale.view(-1, *([1] * (w.dim() - 1)))
    return _round_ste(w / scale) * scale


def quantize_act(
    x: torch.Tensor, bits: int | None, clip: torch.Tensor, signed: bool
) -> torch.Tensor:
    """Fake-quantized activation with clipping range ``clip`` (scalar tensor, > 0)."""
    if bits is None or bits >= FULL_PRECISION:
        return x
    c = clip.clamp_min(1e-8)
    if signed:
        qmax = 2 ** (bits - 1) - 1
        lo = -c
    else:
        qmax = 2**bits - 1
        lo = torch.zeros_like(c)
    xc = torch.maximum(torch.minimum(x, c), lo)  # gradient 0 outside the range
    scale = c / qmax
    return _round_ste(xc / scale) * scale


class ActQuant(nn.Module):
    """Activation fake-quantizer with a calibrated clip (buffer ``clip``; see module docstring).

    In training mode, and while ``calibrating`` is set, the clip follows the batch max |x|
    (exponential average with ``momentum``; a cumulative average when momentum is None, as
    BatchNorm's recalibration). In eval mode it is fixed.
    """

    def __init__(self, signed: bool, momentum: float | None = 0.1) -> None:
        super().__init__()
        self.signed = signed
        self.momentum = momentum
        self.bits: int | None = None
        self.register_buffer("clip", torch.tensor(6.0 if not signed else 4.0))
        self.register_buffer("n_seen", torch.tensor(0, dtype=torch.long))
        # Last input seen in quantized form (for histograms); only kept when asked.
        self.keep_last = False
        self.last: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the calibrated clip (start of a per-subnet recalibration)."""
        self.n_seen.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                m = x.detach().abs().amax()
                if self.n_seen.item() == 0:
                    self.clip.copy_(m)
                elif self.momentum is None:
                    n = self.n_seen.item()
                    self.clip.mul_(n / (n + 1)).add_(m / (n + 1))
                else:
                    self.clip.lerp_(m, self.momentum)
                self.n_seen += 1
        y = quantize_act(x, self.bits, self.clip, self.signed)
        if self.keep_last:
            self.last = y.detach()
        return y
