"""Genomes and choices of the elastic ResNet (``resnet50`` family), without torch.

:class:`ResNetGenome` (one subnet + optional per-stage policy) and
:class:`ResNetSupernetConfig` (the space's choices, the proxy's scale and geometry) are what the
supernet (:mod:`cimkit.accuracy.resnet_supernet`), the pipeline and the predictor share; the
search imports this module (and numpy) only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from cimkit.workload.builtin import make_divisible

#: Stage output widths of ResNet50 (bottleneck), times ``scale * width``.
STAGE_OUTS: tuple[int, ...] = (256, 512, 1024, 2048)
#: Stem width of ResNet50, times ``scale * width``.
STEM = 64
#: Bits of stem and fc in a quantized genome (the family's fixed layers).
FIXED_BITS = 8
#: Per-stage bit genes, in the order of :attr:`cimkit.space.families.ResNet50.GENES`.
GENES: tuple[str, ...] = ("conv_w", "conv_a", "pw_w", "pw_a")

Bits4 = tuple[int, int, int, int]


@dataclass(frozen=True)
class ResNetGenome:
    """One subnet (+ optional quantization policy) of the elastic ResNet.

    Attributes:
        depths: bottleneck blocks per stage (4 values).
        expands: middle / output channel ratio per stage (4 values, e.g. 0.2 / 0.25 / 0.35).
        width: width multiplier of every layer (e.g. 0.65 / 0.8 / 1.0).
        bits: per stage ``(conv_w, conv_a, pw_w, pw_a)``, or None for full precision.
    """

    depths: tuple[int, ...]
    expands: tuple[float, ...]
    width: float
    bits: tuple[Bits4, ...] | None = None

    def to_dict(self) -> dict:
        return {
            "depths": list(self.depths),
            "expands": list(self.expands),
            "width": self.width,
            "bits": None if self.bits is None else [list(b) for b in self.bits],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ResNetGenome:
        bits = d.get("bits")
        return cls(
            tuple(int(v) for v in d["depths"]),
            tuple(float(v) for v in d["expands"]),
            float(d["width"]),
            None if bits is None else tuple(tuple(int(v) for v in b) for b in bits),  # type: ignore[misc]
        )

    def key(self) -> str:
        """Canonical text of what a measurement depends on (every gene counts: no inactive
        genes in this family)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


#: Stem name -> (kernel, stride) of its convolution ("imagenet" adds a 3x3 stride-2 max-pool).
STEMS: dict[str, tuple[int, int]] = {"small": (3, 1), "small2": (3, 2), "imagenet": (7, 2)}


@dataclass(frozen=True)
class ResNetSupernetConfig:
    """Geometry, choices and regularization of an elastic ResNet (stored in checkpoints).

    Attributes:
        depth_choices: allowed blocks per stage (4 lists; the space's ``model.depths``).
        expand_choices: allowed middle/output ratios (the space's ``model.expands``).
        width_choices: allowed width multipliers (the space's ``model.widths``).
        bit_choices: allowed weight/input bits (the space's ``quantization.bits``).
        scale: multiplier of every width on top of ``width`` (0.25 = the CPU-sized proxy).
        stem: "small" (3x3 stride 1, no max-pool; 28x28 data), "small2" (3x3 stride 2, no
            max-pool: 28 -> 14 px, as the MobileNetV2 proxy's stem; about 5x cheaper per step
            on CPU than "small") or "imagenet" (7x7 stride 2 +
            3x3 max-pool stride 2, as torchvision).
        resolution: input height = width in pixels.
        in_channels: image channels (1 for Fashion-MNIST).
        num_classes: classifier outputs.
        dropout: dropout before the classifier (training only).
        drop_connect: maximum stochastic-depth rate (grows with the active block index).
    """

    depth_choices: tuple[tuple[int, ...], ...] = ((2, 3, 4), (2, 3, 4), (4, 5, 6), (2, 3, 4))
    expand_choices: tuple[float, ...] = (0.2, 0.25, 0.35)
    width_choices: tuple[float, ...] = (0.65, 0.8, 1.0)
    bit_choices: tuple[int, ...] = (4, 6, 8)
    scale: float = 0.25
    stem: str = "small"
    resolution: int = 28
    in_channels: int = 1
    num_classes: int = 10
    dropout: float = 0.1
    drop_connect: float = 0.1

    def __post_init__(self) -> None:
        if self.stem not in STEMS:
            raise ValueError(
                f"stem: {self.stem!r} not allowed; use one of {', '.join(map(repr, STEMS))}"
            )
        if len(self.depth_choices) != 4:
            raise ValueError("depth_choices: need 4 lists (choices per stage)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["depth_choices"] = [list(c) for c in self.depth_choices]
        for k in ("expand_choices", "width_choices", "bit_choices"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ResNetSupernetConfig:
        d = dict(d)
        d["depth_choices"] = tuple(tuple(c) for c in d["depth_choices"])
        for k in ("expand_choices", "width_choices", "bit_choices"):
            d[k] = tuple(d[k])
        return cls(**d)

    # ------------------------------------------------------------------ genomes
    def largest(self, bits: tuple[Bits4, ...] | None = None) -> ResNetGenome:
        return ResNetGenome(
            tuple(max(c) for c in self.depth_choices),
            (max(self.expand_choices),) * 4,
            max(self.width_choices),
            bits,
        )

    def smallest(self, bits: tuple[Bits4, ...] | None = None) -> ResNetGenome:
        return ResNetGenome(
            tuple(min(c) for c in self.depth_choices),
            (min(self.expand_choices),) * 4,
            min(self.width_choices),
            bits,
        )

    def random_policy(self, rng: np.random.Generator) -> tuple[Bits4, ...]:
        b = rng.choice(self.bit_choices, size=(4, 4))
        return tuple(tuple(int(v) for v in r) for r in b)  # type: ignore[misc]

    def random(self, rng: np.random.Generator, quantized: bool = False) -> ResNetGenome:
        """A uniformly random genome of the space (random policy when ``quantized``)."""
        d = tuple(int(rng.choice(c)) for c in self.depth_choices)
        e = tuple(float(rng.choice(self.expand_choices)) for _ in range(4))
        w = float(rng.choice(self.width_choices))
        return ResNetGenome(d, e, w, self.random_policy(rng) if quantized else None)

    def sandwich(
        self, rng: np.random.Generator, quantized: bool = False, n_random: int = 2
    ) -> list[ResNetGenome]:
        """Largest, smallest and ``n_random`` random subnets (the sandwich rule; the largest is
        first, the teacher of in-place distillation), random policies when ``quantized``."""
        gs = [self.largest(), self.smallest()]
        gs += [self.random(rng) for _ in range(n_random)]
        if not quantized:
            return gs
        return [ResNetGenome(g.depths, g.expands, g.width, self.random_policy(rng)) for g in gs]

    def channels(self, width: float, expand: float, stage: int) -> tuple[int, int]:
        """(mid, cout) channels of a stage's blocks at ``width`` and ``expand``."""
        cout = make_divisible(STAGE_OUTS[stage] * (self.scale * width))
        return make_divisible(round(cout * expand)), cout

    def stem_channels(self, width: float) -> int:
        return make_divisible(STEM * (self.scale * width))


def genome_from_values(values: dict[str, np.ndarray], i: int) -> ResNetGenome:
    """The genome of design ``i`` of decoded ``resnet50`` family genes (``depth_s{s}``,
    ``expand_s{s}``, ``width``, ``{conv_w,conv_a,pw_w,pw_a}_s{s}``; bits None when the values
    hold no bit genes)."""
    d = tuple(int(values[f"depth_s{s}"][i]) for s in range(4))
    e = tuple(float(values[f"expand_s{s}"][i]) for s in range(4))
    bits = None
    if "conv_w_s0" in values:
        bits = tuple(tuple(int(values[f"{g}_s{s}"][i]) for g in GENES) for s in range(4))
    return ResNetGenome(d, e, float(values["width"][i]), bits)  # type: ignore[arg-type]
