"""Search spaces in YAML: S_M (model), S_Q (quantization), S_H (hardware), accuracy source.

``load_space(path)`` validates the file (unknown fields, bad values and impossible combinations
fail with one line naming the field) and returns a :class:`SearchSpace`. See examples/spaces/ and
docs/search.md for the format.

Every value list is non-empty, ascending where it is a hardware list, without repeats, and every
value finite and inside its bounds: the model/quantization element types of
:mod:`cimkit.space.families` and, for hardware parameters, the chip spec's own field bounds
(through :meth:`~cimkit.cost.designs.DesignTable.from_arrays` and the spec's cross-field checks on
the base chip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cimkit.errors import SpecError, clip, short_repr
from cimkit.space.dims import Choice, JointSpace, SubSpace
from cimkit.space.families import (
    BitWidth,
    Depth,
    Expand,
    Kernel,
    OfaMobileNetV2,
    ResNet50,
    Width,
)
from cimkit.specs.chip import Chip, ChipSpec, field_bounds, unused_fields

#: The area budget takes the chip spec's own bounds (chip.area_constraint_mm2).
_AREA = field_bounds(Chip, "area_constraint_mm2")
assert not _AREA.lo_inclusive and _AREA.hi_inclusive  # the Field below is gt/le


class _Strict(BaseModel):
    # As the chip spec: finite numbers, no bool/str -> number, no float -> int.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class ModelSpace(_Strict):
    """S_M. ``ofa_mobilenetv2``: ``depths`` (one list for all 5 stages), ``kernels``, ``expands``.
    ``resnet50``: ``depths`` (4 lists, one per stage), ``expands`` (ratios), ``widths``."""

    family: Literal["ofa_mobilenetv2", "resnet50"]
    resolution: Annotated[
        int, Field(ge=8, le=2048, description="Input height = width, px (2048: beyond any CNN).")
    ] = 224
    num_classes: Annotated[
        int,
        Field(
            ge=2, le=100_000, description="Classifier outputs (ImageNet-21k has 21,841 classes)."
        ),
    ] = 1000
    depths: (
        Annotated[list[Depth], Field(min_length=1)]
        | Annotated[list[Annotated[list[Depth], Field(min_length=1)]], Field(min_length=1)]
    )
    kernels: Annotated[list[Kernel], Field(min_length=1)] | None = None
    expands: Annotated[list[Expand], Field(min_length=1)]
    widths: Annotated[list[Width], Field(min_length=1)] | None = None


class QuantizationSpace(_Strict):
    """S_Q: the bit widths every quantization gene may take."""

    bits: Annotated[list[BitWidth], Field(min_length=1)]


class HardwareSpace(_Strict):
    """S_H: a base chip (path relative to the YAML file) and value lists of flat parameters."""

    base_chip: Annotated[str, Field(min_length=1)]
    area_constraint_mm2: Annotated[
        float | None,
        Field(gt=_AREA.lo, le=_AREA.hi, description="Area budget, mm^2 (chip spec's bounds)."),
    ] = 800.0
    params: dict[str, Annotated[list[float], Field(min_length=1)]]


class AccuracySource(_Strict):
    """Where accuracy comes from: the shipped predictor, a stated constant or a user callable."""

    source: Literal["predictor", "constant", "callable"] = "predictor"
    value: Annotated[float | None, Field(gt=0, le=1, description="Top-1 accuracy, 0..1.")] = None
    callable: Annotated[str | None, Field(max_length=200)] = None
    note: str = ""


#: log10 of a space size: >= 0 (one design) and <= 1e6 (far beyond any space written down).
_Log10 = Annotated[float | None, Field(ge=0, le=1e6)]


class PaperSizes(_Strict):
    """The paper's sub-space sizes as log10 (for ``cimkit space``)."""

    model: _Log10 = None
    quantization: _Log10 = None
    hardware: _Log10 = None
    joint: _Log10 = None
    notes: str = ""


class SpaceSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    model: ModelSpace
    quantization: QuantizationSpace
    hardware: HardwareSpace
    accuracy: AccuracySource = AccuracySource()
    paper: PaperSizes | None = None


@dataclass
class SearchSpace:
    """A loaded space: genome layout (``joint``), family, base chip and accuracy source."""

    spec: SpaceSpec
    joint: JointSpace
    family: Any
    base_chip: ChipSpec
    source: str

    @property
    def hardware_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.joint.subspace("hardware").dims)

    @property
    def area_constraint_mm2(self) -> float | None:
        return self.spec.hardware.area_constraint_mm2

    def baseline_genome(self) -> np.ndarray:
        """(D,) baseline 1: the standard 8-bit network on the median of every hardware choice."""
        vals = dict(self.family.standard_values())
        x = self.joint.median()
        names = self.joint.names
        for i, name in enumerate(names):
            if name in vals:
                x[i] = self.joint.dims[i].index_of(vals[name])
        return x


def load_space(path: str | Path) -> SearchSpace:
    """Load and validate a search space YAML (one-line :class:`SpecError` naming the field)."""
    from cimkit.specs.io import parse_model, read_yaml

    p = Path(path)
    spec = parse_model(SpaceSpec, read_yaml(p), str(p))
    return build_space(spec, base_dir=p.parent, source=str(p))


def build_space(spec: SpaceSpec, base_dir: Path = Path("."), source: str = "space") -> SearchSpace:
    """The :class:`SearchSpace` of a validated spec (checks that need more than one field)."""
    from cimkit.cost.designs import PARAMS, DesignTable
    from cimkit.specs.io import format_validation_error, load_chip

    m = spec.model
    try:
        if m.family == "ofa_mobilenetv2":
            if m.kernels is None or any(isinstance(d, list) for d in m.depths):
                raise SpecError("model: ofa_mobilenetv2 needs depths (one list) and kernels")
            if m.widths is not None:
                raise SpecError("model.widths: not a gene of ofa_mobilenetv2")
            family: Any = OfaMobileNetV2(
                m.depths,
                m.kernels,
                m.expands,  # the family refuses 3.5 rather than truncating it
                spec.quantization.bits,
                m.resolution,
                m.num_classes,
            )
        else:
            if m.kernels is not None:
                raise SpecError("model.kernels: not a gene of resnet50")
            family = ResNet50(
                m.depths,
                m.expands,
                m.widths or [1.0],
                spec.quantization.bits,
                m.resolution,
                m.num_classes,
            )
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None

    acc = spec.accuracy
    # A value or callable the source does not read would be ignored without a word.
    if acc.value is not None and acc.source != "constant":
        raise SpecError(
            f"{source}: accuracy.value: only read with source 'constant' (source is "
            f"{acc.source!r}); remove it or set accuracy.source: constant"
        )
    if acc.callable is not None and acc.source != "callable":
        raise SpecError(
            f"{source}: accuracy.callable: only read with source 'callable' (source is "
            f"{acc.source!r}); remove it or set accuracy.source: callable"
        )
    if acc.source == "predictor":
        if not family.has_predictor:
            how = ""
            if m.family == "resnet50":
                from cimkit.accuracy.resnet_pipeline import TRAIN_COMMAND

                how = f" (train and ship one with {TRAIN_COMMAND})"
            raise SpecError(
                f"{source}: accuracy.source: no accuracy predictor for {m.family}{how}; use "
                "'constant' (with value) or 'callable' (module:function)"
            )
        from cimkit.accuracy import encoding as enc

        # resnet50: the predictor checks its own choices (the error names the gene).
        checks = () if m.family == "resnet50" else (
            ("model.depths", m.depths, enc.DEPTHS),
            ("model.kernels", m.kernels, enc.KERNELS),
            ("model.expands", m.expands, enc.EXPANDS),
            ("quantization.bits", spec.quantization.bits, enc.BITS),
        )  # fmt: skip
        for field, vals, allowed in checks:
            bad = sorted(set(vals or []) - set(allowed))  # type: ignore[arg-type]
            if bad:
                raise SpecError(
                    f"{source}: {field}: the accuracy predictor only knows {list(allowed)}, "
                    f"got {bad}"
                )
    elif acc.source == "constant" and acc.value is None:
        raise SpecError(f"{source}: accuracy.value: required for source 'constant' (0..1)")
    elif acc.source == "callable" and not (acc.callable and ":" in acc.callable):
        raise SpecError(f"{source}: accuracy.callable: give 'module:function'")

    chip_path = Path(spec.hardware.base_chip)
    if not chip_path.is_absolute():
        chip_path = base_dir / chip_path
    try:
        base = load_chip(chip_path)
    except SpecError as exc:
        raise SpecError(f"{source}: hardware.base_chip: {exc}") from None
    unused = unused_fields(base.macro.kind, base.device.kind)
    hw_dims = []
    for name, values in spec.hardware.params.items():
        field = f"{source}: hardware.params.{clip(name, 40)}"
        if name not in PARAMS or PARAMS[name][1] is not None:
            numeric = sorted(k for k, v in PARAMS.items() if v[1] is None)
            raise SpecError(f"{field}: unknown or categorical parameter; allowed: {numeric}")
        if PARAMS[name][0] in unused:
            raise SpecError(
                f"{field}: {PARAMS[name][0]} is not used by the base chip ({base.macro.kind} "
                f"macro, {base.device.kind} cells), so every value would give the same design; "
                "remove the parameter or change the base chip"
            )
        if sorted(values) != list(values):
            raise SpecError(f"{field}: list the values in ascending order")
        repeated = sorted({a for a, b in zip(values, values[1:], strict=False) if a == b})
        if repeated:
            raise SpecError(f"{field}: {short_repr(repeated)} listed twice; list each value once")
        try:
            table = DesignTable.from_arrays(base, {name: np.asarray(values, dtype=float)})
            # The table checks bounds and the vectorized cross-field rules; the spec of every
            # value also passes the chip spec's own checks (the search writes these specs out).
            for i in range(len(table)):
                table.spec(i, base)
            hw_dims.append(Choice(name, tuple(float(v) for v in values), "hardware"))
        except SpecError as exc:
            raise SpecError(f"{field}: {exc}") from None
        except ValidationError as exc:
            raise SpecError(format_validation_error(exc, field)) from None
    if not hw_dims:
        raise SpecError(f"{source}: hardware.params: give at least one parameter")
    try:
        joint = JointSpace(
            (
                SubSpace("model", tuple(family.model_dims())),
                SubSpace("quantization", tuple(family.quant_dims())),
                SubSpace("hardware", tuple(hw_dims)),
            )
        )
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None
    space = SearchSpace(spec, joint, family, base, source)
    try:
        space.baseline_genome()
    except SpecError as exc:
        raise SpecError(
            f"{source}: the standard 8-bit network of the baselines is outside the space ({exc})"
        ) from None
    return space


def size_report(space: SearchSpace) -> list[dict[str, Any]]:
    """Rows (sub-space, dims, log10 size, paper log10) for ``cimkit space``."""
    paper = space.spec.paper
    rows = []
    for s in space.joint.subspaces:
        rows.append(
            {
                "space": s.name,
                "dims": len(s.dims),
                "log10": s.log10_size,
                "paper_log10": getattr(paper, s.name, None) if paper else None,
            }
        )
    rows.append(
        {
            "space": "joint",
            "dims": space.joint.n_var,
            "log10": space.joint.log10_size,
            "paper_log10": paper.joint if paper else None,
        }
    )
    return rows


def fmt_pow10(log10: float) -> str:
    """``2.95e21`` style text of 10**log10 (exact exponent even when the float overflows)."""
    e = math.floor(log10)
    return f"{10 ** (log10 - e):.2f}e{e}"
