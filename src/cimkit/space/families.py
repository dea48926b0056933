"""Model families: how the model and quantization genes of a space become layer arrays.

A family names its genes (S_M and S_Q dimensions), turns decoded genomes into the
:class:`~cimkit.workload.table.LayerArrays` the cost model reads (N designs at once), gives the
accuracy predictor its inputs and knows the standard 8-bit network of the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from cimkit.errors import SpecError, short_repr
from cimkit.space.dims import Choice
from cimkit.specs.chip import type_bounds
from cimkit.workload.table import LayerArrays

# Value types of the model and quantization lists, bounds with their reasons. The YAML models
# of cimkit.space.spec use them as list element types and the family constructors below check
# with the same bounds (type_bounds), so a space built in Python meets the rules of a YAML one.
#: Quantization bits of a weight or input: 16 is beyond any CIM precision searched (8 is the
#: baseline); at least 1.
BitWidth = Annotated[int, Field(ge=1, le=16, description="Weight/input bits, 1..16.")]
#: Depthwise kernel size (odd): 15 is beyond any mobile network's kernel (OFA uses 3..7).
Kernel = Annotated[int, Field(ge=1, le=15, description="Depthwise kernel, odd, 1..15.")]
#: Blocks per stage: 64 is beyond ResNet-152's longest stage (36 blocks).
Depth = Annotated[int, Field(ge=1, le=64, description="Blocks per stage, 1..64.")]
#: Expansion: an integer ratio 1..16 (ofa_mobilenetv2) or a bottleneck ratio in (0, 1]
#: (resnet50); the family checks its own range.
Expand = Annotated[float, Field(gt=0, le=16, description="Expansion ratio, > 0 and <= 16.")]
#: ofa_mobilenetv2 expansion: a whole channel multiple, 1..16 (OFA uses 3, 4, 6).
OfaExpand = Annotated[int, Field(ge=1, le=16, description="Expansion ratio, integer 1..16.")]
#: Width multiplier: > 0; 4x the widths is 16x the weights (ResNet50: 400 M), beyond any chip.
Width = Annotated[float, Field(gt=0, le=4, description="Width multiplier, > 0 and <= 4.")]


def check_values(field: str, values: Sequence[Any], tp: Any, hi: float | None = None) -> None:
    """SpecError naming ``field`` unless ``values`` is a non-empty list inside the bounds of the
    annotated type ``tp`` (finite, whole where ``tp`` is int; ``hi`` tightens the upper bound)."""
    b = type_bounds(tp)
    if hi is not None:
        b = type(b)(b.lo, hi, b.lo_inclusive, True, b.integer)
    if len(values) == 0:
        raise SpecError(f"{field}: give at least one value")
    bad = []
    for v in values:
        try:
            ok = not isinstance(v, bool) and b.contains(v)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad.append(v)
    if bad:
        raise SpecError(f"{field}: {short_repr(bad)} not allowed; use {b.describe()}")


#: Bit genes of a block slot (shared with cimkit.accuracy.encoding.BIT_GENES).
BIT_GENES: tuple[str, ...] = ("dw_w", "dw_a", "pw_w", "pw_a")
N_STAGES, MAX_DEPTH = 5, 4
N_SLOTS = N_STAGES * MAX_DEPTH
#: Standard MobileNetV2 (torchvision) inside the OFA space: depth per elastic stage, k3, e6.
STANDARD_DEPTHS: tuple[int, ...] = (2, 3, 4, 3, 3)
#: Bits of the layers outside the searched blocks (stem, first/last block, feature mix, fc).
FIXED_LAYER_BITS = 8


@lru_cache(maxsize=8)
def _ofa_rows(resolution: int, num_classes: int) -> tuple[np.ndarray, int]:
    """(20, 5) layer-slot index of [expand pw, its act, dw conv, its act, project pw] per block,
    and the number of layer slots L.

    ``mobilenetv2_ofa_batch`` lays every design out like the largest network, whose rows are the
    ones of ``mobilenetv2()`` at its defaults (the builtin module documents this equality), so the
    slots are found by the torchvision layer names ``features.{j + 2}.conv...``.
    """
    from cimkit.workload.builtin import mobilenetv2

    wl = mobilenetv2(resolution=resolution, num_classes=num_classes, kernels=3, expands=6)
    index = {la.name: i for i, la in enumerate(wl.layers)}
    suffixes = (".conv.0.0", ".conv.0.2", ".conv.1.0", ".conv.1.2", ".conv.2")
    rows = np.array(
        [[index[f"features.{j + 2}{s}"] for s in suffixes] for j in range(N_SLOTS)], dtype=np.int64
    )
    rows.flags.writeable = False
    return rows, len(wl.layers)


class OfaMobileNetV2:
    """Once-for-all MobileNetV2 (CIMNAS S_M and S_Q).

    Genes: ``depth_s{0..4}`` (blocks per stage), ``kernel_b{0..19}`` and ``expand_b{0..19}``
    (depthwise kernel and expansion per block slot, stage-major), and per slot the four bit genes
    ``{dw_w,dw_a,pw_w,pw_a}_b{j}``. Genes of slots beyond a stage's depth are kept (a mutation may
    revive the slot) but change neither the network nor the accuracy.
    """

    name = "ofa_mobilenetv2"
    has_predictor = True

    def __init__(
        self,
        depths: Sequence[int],
        kernels: Sequence[int],
        expands: Sequence[int],
        bits: Sequence[int],
        resolution: int = 224,
        num_classes: int = 1000,
    ) -> None:
        # Checked before int(): 3.5 must be refused, not truncated to 3.
        check_values("model.depths", depths, Depth, hi=MAX_DEPTH)
        check_values("model.kernels", kernels, Kernel)
        check_values("model.expands", expands, OfaExpand)
        check_values("quantization.bits", bits, BitWidth)
        self.depths = tuple(int(v) for v in depths)
        self.kernels = tuple(int(v) for v in kernels)
        self.expands = tuple(int(v) for v in expands)
        self.bits = tuple(int(v) for v in bits)
        self.resolution = int(resolution)
        self.num_classes = int(num_classes)
        if any(k % 2 == 0 for k in self.kernels):
            raise SpecError(f"model.kernels: must be odd, got {list(self.kernels)}")

    def model_dims(self) -> list[Choice]:
        dims = [Choice(f"depth_s{s}", self.depths, "model") for s in range(N_STAGES)]
        dims += [Choice(f"kernel_b{j}", self.kernels, "model") for j in range(N_SLOTS)]
        dims += [Choice(f"expand_b{j}", self.expands, "model") for j in range(N_SLOTS)]
        return dims

    def quant_dims(self) -> list[Choice]:
        return [
            Choice(f"{g}_b{j}", self.bits, "quantization")
            for j in range(N_SLOTS)
            for g in BIT_GENES
        ]

    # --- decoded genes -> arrays ----------------------------------------------------------
    @staticmethod
    def arrays(values: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """depths (N, 5), kernels (N, 20), expands (N, 20), bits (N, 20, 4) as int64."""
        d = np.stack([values[f"depth_s{s}"] for s in range(N_STAGES)], 1).astype(np.int64)
        k = np.stack([values[f"kernel_b{j}"] for j in range(N_SLOTS)], 1).astype(np.int64)
        e = np.stack([values[f"expand_b{j}"] for j in range(N_SLOTS)], 1).astype(np.int64)
        b = np.stack(
            [np.stack([values[f"{g}_b{j}"] for g in BIT_GENES], 1) for j in range(N_SLOTS)], 1
        ).astype(np.int64)
        return d, k, e, b

    def layer_arrays(self, values: dict[str, np.ndarray]) -> LayerArrays:
        """(N, L) layer arrays with the per-block bit widths on the block's layer slots.

        Depthwise conv: weights dw_w, inputs dw_a; expansion and projection 1x1 convs: pw_w and
        pw_a. The activation before the depthwise conv carries dw_a and the one before the
        projection pw_a (they produce those inputs); every other layer runs at 8 bits.
        """
        from cimkit.workload.builtin import mobilenetv2_ofa_batch

        d, k, e, b = self.arrays(values)
        rows, n_layers = _ofa_rows(self.resolution, self.num_classes)
        n = len(d)
        wb = np.full((n, n_layers), FIXED_LAYER_BITS, dtype=np.int64)
        ab = wb.copy()
        dw_w, dw_a, pw_w, pw_a = (b[:, :, i] for i in range(4))
        for r, w, a in (
            (0, pw_w, pw_a),
            (1, dw_a, dw_a),
            (2, dw_w, dw_a),
            (3, pw_a, pw_a),
            (4, pw_w, pw_a),
        ):
            wb[:, rows[:, r]] = w
            ab[:, rows[:, r]] = a
        return mobilenetv2_ofa_batch(
            d, k, e, self.resolution, self.num_classes, weight_bits=wb, act_bits=ab
        )

    def predictor_inputs(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """(depths, kernels, expands, bits) for ``cimkit.accuracy.predictor.predict_accuracy``."""
        return self.arrays(values)

    def active_mask(self, values: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
        """(N, G) bool: which of the genes ``names`` change the design (inactive slots don't)."""
        d = self.arrays(values)[0]
        active = d[:, np.repeat(np.arange(N_STAGES), MAX_DEPTH)] > np.tile(
            np.arange(MAX_DEPTH), N_STAGES
        )
        out = np.ones((len(d), len(names)), dtype=bool)
        for i, name in enumerate(names):
            if "_b" in name and name.rsplit("_b", 1)[1].isdigit():
                out[:, i] = active[:, int(name.rsplit("_b", 1)[1])]
        return out

    def standard_values(self) -> dict[str, float]:
        """Genes of the standard 8-bit MobileNetV2 (baselines 1 and 2)."""
        vals: dict[str, float] = {f"depth_s{s}": STANDARD_DEPTHS[s] for s in range(N_STAGES)}
        vals.update({f"kernel_b{j}": 3 for j in range(N_SLOTS)})
        vals.update({f"expand_b{j}": 6 for j in range(N_SLOTS)})
        vals.update({f"{g}_b{j}": 8 for j in range(N_SLOTS) for g in BIT_GENES})
        return vals


class ResNet50:
    """ResNet50 space of CIMNAS section IV-D: depth per stage, width multiplier, expand ratio.

    Genes: ``depth_s{0..3}`` (bottleneck blocks per stage, one value list per stage),
    ``expand_s{0..3}`` (middle/out channel ratio per stage), ``width`` (multiplier of all widths);
    quantization per stage: ``{conv_w,conv_a,pw_w,pw_a}_s{i}`` for the 3x3 conv and the 1x1 convs
    (conv1, conv3, downsample) of every block of the stage. The paper sets bits per block; per
    stage keeps the genome small (a documented simplification). Stem conv and fc run at 8 bits.
    Not vectorized: one layer table is built per distinct model gene tuple (cached).
    """

    name = "resnet50"
    GENES: tuple[str, ...] = ("conv_w", "conv_a", "pw_w", "pw_a")

    def __init__(
        self,
        depths: Sequence[Sequence[int]],
        expands: Sequence[float],
        widths: Sequence[float],
        bits: Sequence[int],
        resolution: int = 224,
        num_classes: int = 1000,
    ) -> None:
        if len(depths) != 4 or any(not isinstance(d, list | tuple) for d in depths):
            raise SpecError("model.depths: resnet50 needs 4 lists (choices per stage)")
        for s, d in enumerate(depths):
            check_values(f"model.depths[{s}]", d, Depth)
        # A bottleneck's middle is at most as wide as its output (OFA-ResNet50: 0.2..0.35).
        check_values("model.expands", expands, Expand, hi=1.0)
        check_values("model.widths", widths, Width)
        check_values("quantization.bits", bits, BitWidth)
        self.depths = tuple(tuple(int(v) for v in d) for d in depths)
        self.expands = tuple(float(v) for v in expands)
        self.widths = tuple(float(v) for v in widths)
        self.bits = tuple(int(v) for v in bits)
        self.resolution = int(resolution)
        self.num_classes = int(num_classes)

    def model_dims(self) -> list[Choice]:
        dims = [Choice(f"depth_s{s}", self.depths[s], "model") for s in range(4)]
        dims += [Choice(f"expand_s{s}", self.expands, "model") for s in range(4)]
        return [*dims, Choice("width", self.widths, "model")]

    def quant_dims(self) -> list[Choice]:
        return [
            Choice(f"{g}_s{s}", self.bits, "quantization") for s in range(4) for g in self.GENES
        ]

    def layer_arrays(self, values: dict[str, np.ndarray]) -> LayerArrays:
        n = len(values["width"])
        wls = []
        for i in range(n):
            depths = tuple(int(values[f"depth_s{s}"][i]) for s in range(4))
            exps = tuple(float(values[f"expand_s{s}"][i]) for s in range(4))
            bits = tuple(int(values[f"{g}_s{s}"][i]) for s in range(4) for g in self.GENES)
            wls.append(self._workload(depths, exps, float(values["width"][i]), bits))
        return LayerArrays.from_workloads(wls)

    @lru_cache(maxsize=4096)  # noqa: B019 - a few MB of layer tables; the family lives per run
    def _workload(self, depths: tuple, exps: tuple, width: float, bits: tuple):  # type: ignore[no-untyped-def]
        from cimkit.workload.builtin import resnet50

        wl = resnet50(depths, width, exps, self.resolution, self.num_classes)
        wb, ab = [], []
        for layer in wl.layers:
            w = a = FIXED_LAYER_BITS
            if layer.name.startswith("layer"):
                s = int(layer.name[5]) - 1
                g = "conv" if layer.name.endswith("conv2") else "pw"
                w, a = (
                    bits[4 * s + self.GENES.index(f"{g}_w")],
                    bits[4 * s + self.GENES.index(f"{g}_a")],
                )
            wb.append(w)
            ab.append(a)
        return wl.with_bits(wb, ab)

    @property
    def has_predictor(self) -> bool:
        """Whether a trained resnet50 predictor is shipped (``src/cimkit/data/accuracy/
        resnet50/``, written by ``tools/train_accuracy.sh --family resnet50 --ship``)."""
        from cimkit.accuracy.resnet_pipeline import has_shipped_predictor

        return has_shipped_predictor()

    def predict_accuracy(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """(N,) top-1 fractions from the shipped resnet50 predictor (Fashion-MNIST proxy of the
        same elastic family, :mod:`cimkit.accuracy.resnet_supernet`); numpy only.

        Raises:
            CimkitError: no predictor shipped (the message names the command that trains it).
        """
        from cimkit.accuracy.resnet_pipeline import predict_values

        return predict_values(values)

    def predictor_inputs(self, values: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """depths (N, 4), expands (N, 4), width (N,), bits (N, 4, 4) of the resnet50 predictor
        (:func:`cimkit.accuracy.resnet_pipeline.encode_arrays`); refused while none is shipped."""
        from cimkit.accuracy.resnet_pipeline import TRAIN_COMMAND, arrays_of_values

        if not self.has_predictor:
            raise SpecError(
                f"resnet50: no accuracy predictor shipped yet; train one with {TRAIN_COMMAND} "
                "--ship (docs/accuracy.md), or use accuracy.source constant/callable"
            )
        return arrays_of_values(values)

    def active_mask(self, values: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
        return np.ones((len(values["width"]), len(names)), dtype=bool)

    def standard_values(self) -> dict[str, float]:
        """Genes of the standard 8-bit ResNet50 (depths 3-4-6-3, expand 0.25, width 1)."""
        vals: dict[str, float] = {f"depth_s{s}": d for s, d in enumerate((3, 4, 6, 3))}
        vals.update({f"expand_s{s}": 0.25 for s in range(4)})
        vals["width"] = 1.0
        vals.update({f"{g}_s{s}": 8 for s in range(4) for g in self.GENES})
        return vals
