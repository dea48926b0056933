"""YAML in and out for specs, with one-line errors that name the file, the field and the fix.

Every YAML file cimkit reads goes through :class:`StrictLoader` (a :class:`yaml.SafeLoader`:
no code from data). On top of safe loading it refuses what a spec file never needs and what
turns a small file into a hang or a traceback:

* duplicate keys in a mapping (YAML keeps the last one without a word) -> the key and its line;
* nesting deeper than :data:`MAX_DEPTH` levels (the composer recurses, so a deep file would end
  in a RecursionError);
* aliases that expand to more than :data:`MAX_ALIAS_NODES` nodes in all (a 400-byte "billion
  laughs" file expands to 10^9 nodes);
* bytes that are not UTF-8 (the error names the file and the byte offset);
* files larger than :data:`MAX_FILE_BYTES` (a spec is a few KB; parsing YAML in Python takes
  seconds per megabyte, so a huge file would look like a hang).

Numbers in exponent form without a dot or exponent sign (``1e3``, ``2.5e9``) are floats, as in
YAML 1.2 (YAML 1.1 leaves them strings, which a strict spec would then refuse as "not a number").

:func:`format_validation_error` builds its message from at most :data:`MAX_PROBLEMS` problems with
every value shortened (:func:`cimkit.errors.short_repr`), so its size and the time to build it do
not grow with the input.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cimkit.errors import SpecError, clip, short_repr
from cimkit.specs.chip import ChipSpec, unused_fields

M = TypeVar("M", bound=BaseModel)

#: Deepest nesting of mappings/sequences a YAML file may have (a chip spec needs 3).
MAX_DEPTH = 64
#: Most nodes that aliases may add by expansion, summed over the file (aliases to scalars count
#: 1 each). Generous for reuse of a few sections; a billion-laughs file needs 10^9.
MAX_ALIAS_NODES = 10_000
#: Largest YAML file :func:`read_yaml` parses (bytes): a chip spec is ~1 KB, a space ~3 KB.
MAX_FILE_BYTES = 256 * 1024
#: Problems listed in one validation message; the rest are counted ("... and 7 more").
MAX_PROBLEMS = 5
#: Longest validation message (characters), whatever the problems are.
MAX_MESSAGE = 1500


class StrictLoader(yaml.SafeLoader):
    """Safe YAML loader refusing duplicate keys, deep nesting and alias bombs (see module doc).

    Violations raise :class:`SpecError` naming the line; ``source`` (set by :func:`parse_yaml`)
    is the file name put in front of it.
    """

    source = "YAML"

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        # Expanded node count per composed node (aliases count their target's full size).
        self._sizes: dict[int, int] = {}

    def _fail(self, mark: Any, message: str) -> SpecError:
        where = f" line {mark.line + 1}:" if mark is not None else ""
        return SpecError(f"{self.source}:{where} {message}")

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # the anchor's node is still being composed
                raise self._fail(
                    event.start_mark,
                    f"alias *{clip(str(event.anchor), 40)} refers to a section that contains "
                    "it (a recursive structure); write the values out",
                )
            self._alias_nodes += self._sizes[id(node)]
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise self._fail(
                    event.start_mark,
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (alias "
                    f"*{clip(str(event.anchor), 40)}); write the values out or use fewer aliases",
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._fail(
                self.peek_event().start_mark,
                f"nesting deeper than {MAX_DEPTH} levels; a spec needs only a few",
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            sizes = self._sizes
            size += sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(v), 1) for v in node.value)
        self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                # Merge keys (<<) may be overridden by explicit ones: only explicit keys count.
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the constructor reports it
                    continue
                if first is not None:
                    raise self._fail(
                        key_node.start_mark,
                        f"duplicate key {short_repr(key, 60)} (first on line {first}); "
                        "keep one of them",
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats that YAML 1.1 leaves strings: exponent without a dot or without a sign.
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_problem(err: yaml.YAMLError, source: str) -> SpecError:
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return SpecError(f"{source}:{where}: malformed YAML: {clip(str(problem), 200)}")


def parse_yaml(text: str | bytes, source: str, mapping: bool = True) -> Any:
    """Parse YAML ``text`` with :class:`StrictLoader`; every problem is a one-line SpecError.

    Args:
        text: the document (bytes must be UTF-8; a UTF-8 byte-order mark is allowed).
        source: file name (or other origin) put in front of error messages.
        mapping: require a mapping at the top level (every spec); False allows any value.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise SpecError(
                f"{source}: not UTF-8 text (byte 0x{text[err.start]:02x} at offset {err.start}); "
                "save the file as UTF-8"
            ) from None
    loader = StrictLoader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        raise _yaml_problem(err, source) from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits (int() refuses it)
        raise SpecError(f"{source}: malformed YAML: {clip(str(err), 120)}") from None
    except RecursionError:  # only past MAX_DEPTH with a tiny stack; refused the same way
        raise SpecError(f"{source}: nesting too deep; a spec needs only a few levels") from None
    finally:
        loader.dispose()
    if mapping and not isinstance(data, dict):
        got = "nothing (the file is empty)" if data is None else type(data).__name__
        raise SpecError(f"{source}: expected a mapping of fields at the top level, got {got}")
    return data


def _field_path(loc: tuple[Any, ...]) -> str:
    """``macro.rows``; list positions as ``quantization.bits[0]``; keys clipped to 40 chars."""
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + clip(str(p), 40)
    return out or "(top level)"


def _type_hint(kind: str, value: Any) -> str:
    """Why a strict field refused a value that lax parsing would have coerced."""
    if kind == "string_type" and isinstance(value, int | float):
        return f'; quote it ("{value}") to use a number as text'
    if kind not in ("float_type", "int_type", "bool_type"):
        return ""
    if isinstance(value, bool):
        return "; true/false is not a number"
    if isinstance(value, str):
        return "; a quoted value is text, not a number (remove the quotes)"
    if kind == "int_type" and isinstance(value, float):
        return "; write a whole number without a decimal point"
    return ""


def format_validation_error(err: ValidationError, source: str) -> str:
    """``source: field.path: what is wrong; ...``: one line, bounded in size and time.

    At most :data:`MAX_PROBLEMS` problems are listed (then ``... and N more``), every value is
    shortened to a few dozen characters and the whole message to :data:`MAX_MESSAGE`.
    """
    parts: list[str] = []
    last_unknown = -1
    total = err.error_count()
    # errors() lists every problem (linear in the problems, as validation itself is); only the
    # first few are formatted, and no input is ever turned into its full repr.
    for e in err.errors(include_url=False)[:MAX_PROBLEMS]:
        loc_t = tuple(e.get("loc", ()))
        kind = e.get("type", "")
        ctx = e.get("ctx") or {}
        if kind == "cross_field":
            loc_t = (*loc_t, *str(ctx.get("field", "")).split("."))
        loc = _field_path(loc_t)
        if kind == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
            last_unknown = len(parts) - 1
            continue
        msg = clip(str(e.get("msg", "invalid")).removeprefix("Value error, "), 200)
        if (
            "input" in e
            and kind not in ("model_type", "cross_field")
            and not isinstance(e["input"], dict)
        ):
            msg += f" (got {short_repr(e['input'])})"
        parts.append(f"{loc}: {msg}{_type_hint(kind, e.get('input'))}")
    if last_unknown >= 0:  # the hint once, after the last unknown field listed
        parts[last_unknown] += " (check spelling; see `cimkit spec --help`)"
    if total > MAX_PROBLEMS:
        parts.append(f"... and {total - MAX_PROBLEMS:,} more problems")
    return clip(f"{clip(source, 200)}: " + "; ".join(parts), MAX_MESSAGE)


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


def read_yaml(path: str | Path, mapping: bool = False) -> Any:
    """Parse a YAML file with :func:`parse_yaml`; a missing file is a :class:`SpecError` too.

    ``mapping=True`` also requires a mapping at the top level.
    """
    if not str(path).strip():
        raise SpecError("no file given (the file name is empty)")
    p = Path(path)
    name = clip(str(p), 200)
    try:
        if not p.is_file():
            where = " (it is a directory)" if p.is_dir() else ""
            raise SpecError(f"{name}: file not found{where}")
        with p.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:  # e.g. a name too long for the file system, no permission
        raise SpecError(f"{name}: cannot read ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(
            f"{name}: larger than {MAX_FILE_BYTES // 1024} KB; a spec file is a few KB (is this "
            "the right file?)"
        )
    return parse_yaml(raw, str(p), mapping=mapping)


def load_chip(path: str | Path) -> ChipSpec:
    """Load and validate a chip spec from YAML."""
    return parse_model(ChipSpec, read_yaml(path), str(path))


def chip_from_dict(data: dict[str, Any], source: str = "chip spec") -> ChipSpec:
    """Validate a chip spec given as a (nested) dict."""
    return parse_model(ChipSpec, data, source)


def dump_yaml(model: BaseModel) -> str:
    """YAML text of a spec: every field the design uses, so the file documents the full design.

    A chip spec leaves out the fields its kinds do not use (:func:`cimkit.specs.chip.unused_fields`,
    e.g. ``adc_bits`` of a digital macro): they would read back as settings that do nothing.
    """
    data = model.model_dump(mode="json")
    if isinstance(model, ChipSpec):
        for path in unused_fields(model.macro.kind, model.device.kind):
            section, field = path.split(".")
            data[section].pop(field, None)
    return yaml.safe_dump(data, sort_keys=False)


def save_chip(spec: ChipSpec, path: str | Path) -> Path:
    """Write a chip spec to YAML; :func:`load_chip` gives back an equal spec."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dump_yaml(spec), encoding="utf-8")
    return p
