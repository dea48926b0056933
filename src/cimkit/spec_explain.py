"""``cimkit spec --explain``: every chip-spec field with its unit, range, default and description.

Generated from the pydantic models (:class:`cimkit.specs.ChipSpec` and its sections), so a field
added there is explained without touching this module: the description is the field's
``description``, the range comes from :func:`cimkit.specs.chip.type_bounds` (the numbers the
validators use), the unit from the field name's suffix (the spec's naming rule: ``_nm``, ``_v``,
``_ns``, ...; see :data:`UNIT_SUFFIXES`).
"""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel

#: Field-name suffix -> unit, longest first (the spec puts units in its field names).
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_pj_per_bit", "pJ/bit"),
    ("_gb_s", "GB/s (10^9 bytes per second)"),
    ("_bits_per_cycle", "bits/cycle"),
    ("_bits_per_cell", "bits/cell"),
    ("_per_conversion", "bit-slices/conversion"),
    ("_per_adc", "columns/ADC"),
    ("_mm2", "mm^2"),
    ("_um2", "um^2"),
    ("_f2", "F^2 (F = the technology node)"),
    ("_nm", "nm"),
    ("_ns", "ns"),
    ("_fj", "fJ"),
    ("_pj", "pJ"),
    ("_kb", "KB (1024 bytes)"),
    ("_bits", "bits"),
    ("_ratio", "ratio (dimensionless)"),
    ("_v", "V"),
)


@dataclass(frozen=True)
class FieldDoc:
    """One leaf field: dotted ``path``, ``type``, ``unit``, ``range``, ``default``, text."""

    path: str
    type: str
    unit: str
    range: str
    default: str
    description: str


def unit_of(name: str, tp: Any) -> str:
    """The unit of field ``name`` of type ``tp`` (a count, a flag or a choice if no suffix)."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) or name == suffix[1:]:
            return unit
    base = _base(tp)
    if base is bool:
        return "flag (true/false)"
    if typing.get_origin(base) is Literal:
        return "choice"
    if base is str:
        return "text"
    if base is int:
        return "count"
    return "dimensionless"


def _base(tp: Any) -> Any:
    from cimkit.specs.chip import _strip_optional

    tp = _strip_optional(tp)
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def range_of(model: type[BaseModel], name: str) -> str:
    """Allowed values of ``model.name``: an interval, the choices, or the length limits."""
    from cimkit.specs.chip import NODES_NM, field_bounds

    info = model.model_fields[name]
    base = _base(info.annotation)
    nullable = " or null" if _optional(info.annotation) else ""
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(base)) + nullable
    if base is bool:
        return "true or false"
    if base is str:
        meta = {type(m).__name__: m for m in info.metadata}
        lo = getattr(meta.get("MinLen"), "min_length", 0)
        hi = getattr(meta.get("MaxLen"), "max_length", None)
        return f"{lo} to {hi} characters" if hi else f"at least {lo} characters"
    if name == "node_nm":  # a validator restricts it to the nodes with scaling data
        return "one of " + ", ".join(str(n) for n in NODES_NM) + nullable
    b = field_bounds(model, name)
    if math.isinf(b.lo) and math.isinf(b.hi):
        return "any finite number" + nullable
    lo = "-inf" if math.isinf(b.lo) else _num(b.lo)
    hi = "inf" if math.isinf(b.hi) else _num(b.hi)
    left = "[" if b.lo_inclusive and not math.isinf(b.lo) else "("
    right = "]" if b.hi_inclusive and not math.isinf(b.hi) else ")"
    kind = "integer in " if b.integer else ""
    return f"{kind}{left}{lo}, {hi}{right}{nullable}"


def _type_name(tp: Any) -> str:
    base = _base(tp)
    if typing.get_origin(base) is Literal:
        name = "choice"
    else:
        name = getattr(base, "__name__", str(base))
    return name + (" | null" if _optional(tp) else "")


def explain(model: type[BaseModel] | None = None, prefix: str = "") -> list[FieldDoc]:
    """Every leaf field of ``model`` (default :class:`~cimkit.specs.ChipSpec`), depth first."""
    if model is None:
        from cimkit.specs import ChipSpec

        model = ChipSpec
    docs: list[FieldDoc] = []
    for name, info in model.model_fields.items():
        tp = info.annotation
        base = _base(tp)
        path = prefix + name
        if isinstance(base, type) and issubclass(base, BaseModel):
            docs.extend(explain(base, path + "."))
            continue
        default = info.get_default(call_default_factory=True)
        shown = "null" if default is None else repr(default)  # what null means: description
        if isinstance(default, bool):
            shown = str(default).lower()
        docs.append(
            FieldDoc(
                path=path,
                type=_type_name(tp),
                unit=unit_of(name, tp),
                range=range_of(model, name),
                default=shown,
                description=" ".join((info.description or "").split()),
            )
        )
    return docs


def sections(model: type[BaseModel] | None = None) -> dict[str, str]:
    """Section name -> the section model's first docstring line (``name`` for the top level)."""
    if model is None:
        from cimkit.specs import ChipSpec

        model = ChipSpec
    out = {}
    for name, info in model.model_fields.items():
        base = _base(info.annotation)
        if isinstance(base, type) and issubclass(base, BaseModel):
            out[name] = (base.__doc__ or "").strip().splitlines()[0]
    return out


def explain_text() -> str:
    """The fields as text blocks, one per field, grouped by section."""
    heads = sections()
    lines: list[str] = [
        "Chip spec fields (YAML keys; nested keys are sections). Units are in the names; "
        "null: what the description says (for device constants: from cimkit/data/constants.yaml).",
        "",
    ]
    current = None
    for d in explain():
        section = d.path.split(".")[0] if "." in d.path else ""
        if section != current:
            current = section
            if section:
                lines += ["", f"{section}: {heads.get(section, '')}"]
        lines.append(f"  {d.path}  ({d.type}; unit {d.unit}; default {d.default})")
        lines.append(f"      range: {d.range}")
        if d.description:
            lines.append(f"      {d.description}")
    return "\n".join(lines) + "\n"


def explain_records() -> list[dict[str, str]]:
    """The fields as JSON-ready dicts (``spec --explain --json``)."""
    return [asdict(d) for d in explain()]


def fields_epilog() -> str:
    """A short list of the sections and their fields, for ``cimkit spec --help``."""
    by: dict[str, list[str]] = {}
    for d in explain():
        head, _, leaf = d.path.rpartition(".")
        by.setdefault(head or "(top)", []).append(leaf)
    parts = [f"{k}: {', '.join(v)}" for k, v in by.items()]
    return (
        "Fields (units in the names; `cimkit spec --explain` for units, ranges, "
        "descriptions):\n\n" + "\n\n".join(parts)
    )
