"""YAML in and out for specs, with one-line errors that name the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cimkit.errors import SpecError
from cimkit.specs.chip import ChipSpec

M = TypeVar("M", bound=BaseModel)


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem, joined with '; ': ``source: field.path: what is wrong``."""
    parts = []
    for e in err.errors():
        loc = _field_path(tuple(e.get("loc", ())))
        kind = e.get("type", "")
        if kind == "extra_forbidden":
            parts.append(f"{loc}: unknown field (check spelling; see `cimkit spec --help`)")
            continue
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if "input" in e and kind not in ("model_type",) and not isinstance(e["input"], dict):
            msg += f" (got {e['input']!r})"
        parts.append(f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def parse_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as ``model``; raise :class:`SpecError` with a one-line message."""
    if data is None:
        raise SpecError(f"{source}: the spec is empty; expected a mapping of fields")
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, source)) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; missing files and syntax errors become :class:`SpecError`."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: file not found")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{p}:{where}: malformed YAML: {problem}") from None


def load_chip(path: str | Path) -> ChipSpec:
    """Load and validate a chip spec from YAML."""
    return parse_model(ChipSpec, read_yaml(path), str(path))


def chip_from_dict(data: dict[str, Any], source: str = "chip spec") -> ChipSpec:
    """Validate a chip spec given as a (nested) dict."""
    return parse_model(ChipSpec, data, source)


def dump_yaml(model: BaseModel) -> str:
    """YAML text of a spec (every field, so the file documents the full design)."""
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)


def save_chip(spec: ChipSpec, path: str | Path) -> Path:
    """Write a chip spec to YAML; :func:`load_chip` gives back an equal spec."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dump_yaml(spec))
    return p
