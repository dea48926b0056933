"""The H4H-NAS hybrid space in YAML (``kind: h4h_hybrid``): Table 1 as data.

``data/h4h/table1.yaml`` is the space the tables, the torch twin and the supernet are built
from (:data:`cimkit.workload.h4h.STAGES` is read from it). A user's file of the same form is a
*sub-space* for searching: the same stages in the same order with the same strides, each range
inside Table 1's, each list a subset of Table 1's; ``cnn_only: true`` sets every ViT depth to 0
(the CNN-only space). :func:`load_space` validates a file with one-line errors naming the field.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, model_validator

from cimkit.errors import SpecError
from cimkit.specs.chip import StrictModel

#: [min, max], as a two-element YAML list.
Range = Annotated[list[Annotated[int, Field(ge=0, le=100_000)]], Field(min_length=2, max_length=2)]


def _check_range(what: str, r: Range, step: int = 1) -> None:
    lo, hi = r
    if lo > hi:
        raise ValueError(f"{what}: [{lo}, {hi}] has min > max")
    if (hi - lo) % step:
        raise ValueError(f"{what}: [{lo}, {hi}] is not whole steps of {step}")


class StemSpec(StrictModel):
    widths: Annotated[Range, Field(description="[min, max] output channels.")]
    stride: Annotated[int, Field(ge=1, le=4, description="Stride of the 3x3 stem conv.")] = 2


class MBConvSpec(StrictModel):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
    widths: Annotated[Range, Field(description="[min, max] output channels.")]
    depths: Annotated[Range, Field(description="[min, max] blocks (0: the stage may vanish).")]
    expands: Annotated[list[Annotated[int, Field(ge=1, le=16)]], Field(min_length=1)]
    stride: Annotated[int, Field(ge=1, le=4, description="Stride of the stage's first block.")]


class ViTSpec(StrictModel):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
    widths: Annotated[Range, Field(description="[min, max] Q/K/V width (heads = width / 8).")]
    depths: Annotated[Range, Field(description="[min, max] blocks (0: no ViT block).")]


class StageSpec(StrictModel):
    mbconv: MBConvSpec
    vit: ViTSpec | None = None


class PoolSpec(StrictModel):
    widths: Annotated[Range, Field(description="[min, max] width of the MBPool linear.")]
    expand: Annotated[int, Field(ge=1, le=16, description="1x1 expansion before pooling.")] = 6


class H4HSpaceSpec(StrictModel):
    """A hybrid CNN/ViT space (module docstring)."""

    kind: Literal["h4h_hybrid"] = "h4h_hybrid"
    name: Annotated[str, Field(max_length=200)] = "h4h_hybrid"
    width_step: Annotated[int, Field(ge=1, le=64, description="Step of every width range.")] = 8
    head_dim: Annotated[int, Field(ge=1, le=64, description="Channels per attention head.")] = 8
    stem: StemSpec
    stages: Annotated[list[StageSpec], Field(min_length=1, max_length=32)]
    pool: PoolSpec
    mlp_ratios: Annotated[list[Annotated[float, Field(gt=0, le=8)]], Field(min_length=1)]
    resolutions: Annotated[list[Annotated[int, Field(ge=32, le=2048)]], Field(min_length=1)]
    cnn_only: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> H4HSpaceSpec:
        s = self.width_step
        _check_range("stem.widths", self.stem.widths, s)
        _check_range("pool.widths", self.pool.widths, s)
        for i, st in enumerate(self.stages):
            m = st.mbconv
            _check_range(f"stages[{i}].mbconv.widths", m.widths, s)
            _check_range(f"stages[{i}].mbconv.depths", m.depths)
            if st.vit is not None:
                _check_range(f"stages[{i}].vit.widths", st.vit.widths, s)
                _check_range(f"stages[{i}].vit.depths", st.vit.depths)
                if st.vit.widths[0] % self.head_dim:
                    raise ValueError(f"stages[{i}].vit.widths: multiples of head_dim "
                                     f"{self.head_dim} needed (whole heads)")  # fmt: skip
        return self


def parse_space(data: object, source: str) -> H4HSpaceSpec:
    from cimkit.specs.io import parse_model

    return parse_model(H4HSpaceSpec, data, source)


@functools.cache
def table1() -> H4HSpaceSpec:
    """The packaged Table 1 space (``data/h4h/table1.yaml``)."""
    from cimkit.specs.io import parse_yaml

    text = (resources.files("cimkit.data") / "h4h" / "table1.yaml").read_text()
    return parse_space(parse_yaml(text, "cimkit/data/h4h/table1.yaml"), "table1.yaml")


def check_subspace(sub: H4HSpaceSpec, source: str = "space") -> None:
    """SpecError naming the field where ``sub`` is not inside Table 1 (module docstring)."""
    full = table1()

    def inside(what: str, a: Range, b: Range) -> None:
        if a[0] < b[0] or a[1] > b[1]:
            raise SpecError(f"{source}: {what} [{a[0]}, {a[1]}] outside Table 1's "
                            f"[{b[0]}, {b[1]}]; narrow it")  # fmt: skip

    def subset(what: str, a: list, b: list) -> None:
        extra = [v for v in a if v not in b]
        if extra:
            raise SpecError(f"{source}: {what} {extra} not in Table 1's {b}")

    for f in ("width_step", "head_dim"):
        if getattr(sub, f) != getattr(full, f):
            raise SpecError(f"{source}: {f} must stay {getattr(full, f)} (the supernet's)")
    if sub.stem.stride != full.stem.stride:
        raise SpecError(f"{source}: stem.stride must stay {full.stem.stride}")
    inside("stem.widths", sub.stem.widths, full.stem.widths)
    inside("pool.widths", sub.pool.widths, full.pool.widths)
    if sub.pool.expand != full.pool.expand:
        raise SpecError(f"{source}: pool.expand must stay {full.pool.expand}")
    if len(sub.stages) != len(full.stages):
        raise SpecError(f"{source}: stages: {len(full.stages)} needed (Table 1's), got "
                        f"{len(sub.stages)}")  # fmt: skip
    for i, (a, b) in enumerate(zip(sub.stages, full.stages, strict=True)):
        p = f"stages[{i}]"
        if a.mbconv.name != b.mbconv.name or a.mbconv.stride != b.mbconv.stride:
            raise SpecError(f"{source}: {p}.mbconv must be {b.mbconv.name} with stride "
                            f"{b.mbconv.stride}")  # fmt: skip
        inside(f"{p}.mbconv.widths", a.mbconv.widths, b.mbconv.widths)
        inside(f"{p}.mbconv.depths", a.mbconv.depths, b.mbconv.depths)
        subset(f"{p}.mbconv.expands", a.mbconv.expands, b.mbconv.expands)
        if (a.vit is None) != (b.vit is None):
            raise SpecError(f"{source}: {p}.vit: Table 1 has "
                            f"{'none' if b.vit is None else b.vit.name} there")  # fmt: skip
        if a.vit is not None and b.vit is not None:
            if a.vit.name != b.vit.name:
                raise SpecError(f"{source}: {p}.vit.name must be {b.vit.name}")
            inside(f"{p}.vit.widths", a.vit.widths, b.vit.widths)
            inside(f"{p}.vit.depths", a.vit.depths, b.vit.depths)
    subset("mlp_ratios", sub.mlp_ratios, full.mlp_ratios)
    subset("resolutions", sub.resolutions, full.resolutions)


def load_space(path: str) -> H4HSpaceSpec:
    """A validated sub-space of Table 1 from YAML (one-line SpecError naming the field)."""
    from cimkit.specs.io import read_yaml

    sub = parse_space(read_yaml(path, mapping=True), str(path))
    check_subspace(sub, str(path))
    return sub
