"""Seeded mutation generator over every example chip, every example space and the macro presets.

Every mutant is a whole YAML file (bytes) and a class:

* ``must_fail``: invalid by construction (non-finite or non-positive physical quantities, 1e300,
  wrong types, unknown or misspelt keys, duplicate keys, non-UTF-8 bytes, deep nesting, alias
  bombs, empty files, a list where a mapping belongs, values outside an enumeration, empty or
  non-finite search-space value lists, fields that mean nothing for the design: ADC bits on a
  digital macro, several bits per MRAM or SRAM cell);
* may-pass (``must_fail`` false): possibly valid (another value in range, a removed optional
  key, null for a nullable field, a free-text name with odd characters, a UTF-8 BOM).

The full candidate list (source x field path x mutation kind) is deterministic; a run draws ``n``
of them with ``numpy.random.default_rng(seed)``, stratified so that every kind is drawn about
equally often, and every random value inside a mutant comes from a generator seeded by
``(seed, candidate index)``: the same seed always gives the same files.
"""

from __future__ import annotations

import copy
import math
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHIPS = ROOT / "examples" / "chips"
SPACES = ROOT / "examples" / "spaces"
PRESETS = ROOT / "src" / "cimkit" / "presets" / "macros.yaml"

# Numeric fields that are documentation, not physical quantities (log10 sizes from the paper):
# only non-finite values are invalid there.
_DOC_NUMBERS = ("paper.",)
# Free-text fields: any string is valid.
_FREE_TEXT = {"name", "description", "accuracy.note", "paper.notes"}


# --- schema -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """What a spec field accepts, read from the pydantic models (so it follows the code)."""

    path: str
    kind: str  # int | float | bool | enum | str | list | params
    nullable: bool
    required: bool
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    choices: tuple[Any, ...] = ()
    item: str = ""  # list items: int | float | list


def _bounds(metadata: list[Any]) -> tuple[float | None, bool, float | None]:
    import annotated_types as at

    lo, lo_open, hi = None, False, None
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = float(m.ge)
        elif isinstance(m, at.Gt):
            lo, lo_open = float(m.gt), True
        elif isinstance(m, at.Le):
            hi = float(m.le)
        elif isinstance(m, at.Lt):
            hi = float(m.lt)
    return lo, lo_open, hi


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and hasattr(t, "model_fields")


def _fields(model: Any, prefix: str = "") -> dict[str, Field]:
    out: dict[str, Field] = {}
    for name, info in model.model_fields.items():
        path = prefix + name
        ann = info.annotation
        args = typing.get_args(ann)
        sub = [a for a in (ann, *args) if _is_model(a)]
        if sub:
            out.update(_fields(sub[0], path + "."))
            continue
        nullable = type(None) in args
        core = [a for a in args if a is not type(None)] or [ann]
        t = core[0]
        lo, lo_open, hi = _bounds(list(info.metadata))
        origin = typing.get_origin(t)
        if origin is typing.Literal:
            f = Field(path, "enum", nullable, info.is_required(), choices=typing.get_args(t))
        elif origin is list:
            inner = typing.get_args(t)[0]
            item = "list" if typing.get_origin(inner) is list else inner.__name__
            f = Field(path, "list", nullable, info.is_required(), item=item)
        elif origin is dict:
            f = Field(path, "params", nullable, info.is_required())
        elif t is bool:
            f = Field(path, "bool", nullable, info.is_required())
        elif t in (int, float):
            f = Field(path, t.__name__, nullable, info.is_required(), lo, lo_open, hi)
        else:
            f = Field(path, "str", nullable, info.is_required())
        out[path] = f
    return out


@cache
def chip_fields() -> dict[str, Field]:
    """Every leaf field of a chip spec, dotted path -> :class:`Field`."""
    from cimkit.specs.chip import NODES_NM, ChipSpec

    fields = _fields(ChipSpec)
    node = fields["technology.node_nm"]
    # node_nm is an enumeration of integers (checked by a validator, not by bounds).
    fields["technology.node_nm"] = Field(
        node.path, "enum", node.nullable, node.required, choices=tuple(NODES_NM)
    )
    return fields


@cache
def space_fields() -> dict[str, Field]:
    """Every leaf field of a search space, dotted path -> :class:`Field`."""
    from cimkit.space.spec import SpaceSpec

    return _fields(SpaceSpec)


def param_field(name: str) -> Field | None:
    """The chip field behind a flat search-space parameter (``rows`` -> ``macro.rows``)."""
    from cimkit.cost.designs import PARAMS

    if name not in PARAMS:
        return None
    return chip_fields().get(PARAMS[name][0])


# --- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A valid document that mutants start from."""

    name: str  # chips/rram_baseline, presets/wang_vlsi_2022, spaces/cimnas_rram_mobilenetv2
    target: str  # chip | space
    doc: dict[str, Any]


@cache
def sources() -> tuple[Source, ...]:
    """The example chips, the macro presets' chips and the example spaces (base_chip made
    absolute so that a mutant file can live anywhere)."""
    out = []
    for p in sorted(CHIPS.glob("*.yaml")):
        out.append(Source(f"chips/{p.stem}", "chip", yaml.safe_load(p.read_text())))
    presets = yaml.safe_load(PRESETS.read_text())
    for key, entry in presets.items():
        if isinstance(entry, dict) and isinstance(entry.get("chip"), dict):
            out.append(Source(f"presets/{key}", "chip", {"name": key, **entry["chip"]}))
    for p in sorted(SPACES.glob("*.yaml")):
        doc = yaml.safe_load(p.read_text())
        base = Path(doc["hardware"]["base_chip"])
        doc["hardware"]["base_chip"] = str((p.parent / base).resolve())
        out.append(Source(f"spaces/{p.stem}", "space", doc))
    return tuple(out)


def source(name: str) -> Source:
    return next(s for s in sources() if s.name == name)


# --- document helpers ---------------------------------------------------------------------------

_MISSING = object()


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return _MISSING
        doc = doc[key]
    return doc


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        nxt = doc.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            doc[key] = nxt
        doc = nxt
    doc[path[-1]] = value


def _delete(doc: dict[str, Any], path: tuple[str, ...]) -> None:
    parent = _get(doc, path[:-1]) if len(path) > 1 else doc
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _dump(doc: Any) -> str:
    """Block-style YAML in the document's key order (libyaml's emitter: 10x the pure one)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100000)


def _copy(doc: Any) -> Any:
    return copy.deepcopy(doc)


def _mappings(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every mapping in ``doc`` (the top level is ``()``)."""
    out = [prefix]
    for k, v in doc.items():
        if isinstance(v, dict):
            out += _mappings(v, (*prefix, str(k)))
    return out


def _keys(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every key in ``doc`` (sections and leaves)."""
    out = []
    for k, v in doc.items():
        out.append((*prefix, str(k)))
        if isinstance(v, dict):
            out += _keys(v, (*prefix, str(k)))
    return out


class _Raw:
    """Placeholders for text YAML cannot produce from Python values (raw tokens, duplicate keys)."""

    def __init__(self) -> None:
        self.raw: dict[str, str] = {}

    def token(self, text: str) -> str:
        key = f"@@RAW{len(self.raw)}@@"
        self.raw[key] = text
        return key

    def dump(self, doc: Any) -> str:
        text = _dump(doc)
        for key, raw in self.raw.items():
            text = text.replace(f"'{key}'", raw).replace(key, raw)
        return text


def _typo(key: str, rng: np.random.Generator) -> str:
    """A misspelling of ``key``: two letters swapped, one dropped, doubled or changed."""
    if len(key) < 2:
        return key + "x"
    i = int(rng.integers(0, len(key) - 1))
    how = int(rng.integers(0, 4))
    if how == 0 and key[i] != key[i + 1]:
        out = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    elif how == 1:
        out = key[:i] + key[i + 1 :]
    elif how == 2:
        out = key[:i] + key[i] + key[i:]
    else:
        out = key[:i] + ("z" if key[i] != "z" else "q") + key[i + 1 :]
    return out if out != key else key + "s"


# --- candidates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A mutation to make: (source, field path, kind); ``must_fail`` is its class."""

    source: str
    target: str
    path: str
    kind: str
    must_fail: bool

    @property
    def id(self) -> str:
        return f"{self.source}:{self.path}:{self.kind}"


@dataclass(frozen=True)
class Mutant:
    """One mutated file."""

    id: str
    source: str
    target: str
    path: str
    kind: str
    must_fail: bool
    data: bytes
    note: str
    #: Words a must-fail mutant's error line has to contain (the field it names), beside the
    #: file name: the key that was changed, misspelt or added.
    names: tuple[str, ...] = ()


def _doc_number(path: str) -> bool:
    return path.startswith(_DOC_NUMBERS)


_NUMERIC_KINDS = (
    "nan",
    "inf",
    "-inf",
    "1e999_string",
    "1e999_float",
    "negative",
    "zero",
    "huge",
    "wrong_type_str",
    "wrong_type_list",
    "wrong_type_dict",
    "wrong_type_bool",
    "null",
    "valid_value",
)


def _numeric_candidates(src: Source, f: Field) -> list[Candidate]:
    out = []
    doc_only = _doc_number(f.path)
    kinds = list(_NUMERIC_KINDS)
    if f.kind == "int":
        kinds.append("fraction")
    for kind in kinds:
        if kind in ("nan", "inf", "-inf", "1e999_string", "1e999_float"):
            mf = True
        elif kind in ("negative", "zero", "huge"):
            # Every numeric chip/space field is a positive physical quantity or count.
            mf = not doc_only
        elif kind == "null":
            mf = not f.nullable
        elif kind == "valid_value":
            mf = False
        else:
            mf = True
        out.append(Candidate(src.name, src.target, f.path, kind, mf))
    return out


def _leaf_candidates(src: Source, f: Field) -> list[Candidate]:
    c = src.name, src.target, f.path
    if f.kind in ("int", "float"):
        return _numeric_candidates(src, f)
    if f.kind == "enum":
        return [
            Candidate(*c, "enum_out", True),
            Candidate(*c, "enum_case", True),
            Candidate(*c, "wrong_type_num", True),
            Candidate(*c, "empty_string", True),
            Candidate(*c, "wrong_type_list", True),
            Candidate(*c, "valid_value", False),
        ]
    if f.kind == "bool":
        return [
            Candidate(*c, "wrong_type_str", True),
            Candidate(*c, "wrong_type_num", True),
            Candidate(*c, "wrong_type_list", True),
            Candidate(*c, "valid_value", False),
        ]
    if f.kind == "str":
        free = f.path in _FREE_TEXT
        out = [
            Candidate(*c, "wrong_type_list", True),
            Candidate(*c, "wrong_type_dict", True),
            Candidate(*c, "markup", not free),
            Candidate(*c, "long_string", not free),
        ]
        if f.path in ("name", "hardware.base_chip", "accuracy.callable"):
            out.append(Candidate(*c, "empty_string", True))
        return out
    return []


_LIST_KINDS = {
    # kind: must_fail
    "list_empty": True,
    "list_nan": True,
    "list_inf": True,
    "list_1e999": True,
    "list_negative": True,
    "list_zero": True,
    "list_huge": True,
    "list_str": True,
    "list_bool": True,
    "list_scalar": True,
    "list_nested": True,
    "list_out_of_range": True,
    "list_duplicate": False,
    "list_valid_subset": False,
}


def _list_candidates(src: Source, path: str, param: bool) -> list[Candidate]:
    out = []
    for kind, mf in _LIST_KINDS.items():
        if kind == "list_nested" and path == "model.depths":
            continue  # a list of lists is the resnet50 form of depths
        out.append(Candidate(src.name, src.target, path, kind, mf))
    if param:
        out.append(Candidate(src.name, src.target, path, "list_unsorted", True))
        f = param_field(path.rsplit(".", 1)[1])
        if f is not None and f.kind == "int":
            out.append(Candidate(src.name, src.target, path, "list_fraction", True))
    return out


#: Mutations of the whole file (the path is "(file)").
FILE_KINDS: dict[str, bool] = {
    "empty_file": True,
    "whitespace_file": True,
    "comment_only_file": True,
    "null_document": True,
    "top_level_list": True,
    "top_level_scalar": True,
    "non_utf8_comment": True,
    "non_utf8_value": True,
    "latin1_file": True,
    "utf16_file": True,
    "binary_garbage": True,
    "deep_nesting_flow": True,
    "deep_nesting_block": True,
    "alias_bomb": True,
    "tab_indentation": True,
    "two_documents": True,
    "malformed_yaml": True,
    "bom_utf8": False,
    "crlf_newlines": False,
    "truncated": False,
}

#: Per-section and per-key structural mutations.
_KEY_KINDS = ("typo_key", "delete_key", "duplicate_key")
_SECTION_KINDS = ("mapping_as_list", "mapping_as_scalar", "unknown_key")


def _chip_combo_candidates(src: Source) -> list[Candidate]:
    c = src.name, src.target, "(combo)"
    return [
        # Fields that mean nothing for the design are an error, not silently ignored.
        Candidate(*c, "combo_adc_bits_on_digital", True),
        Candidate(*c, "combo_cols_per_adc_on_digital", True),
        Candidate(*c, "combo_bits_per_cell_4_on_mram", True),
        Candidate(*c, "combo_bits_per_cell_4_on_sram", True),
        Candidate(*c, "combo_readout_on_digital", True),
        Candidate(*c, "combo_space_file_as_chip", True),
    ]


def _space_combo_candidates(src: Source) -> list[Candidate]:
    c = src.name, src.target, "(combo)"
    out = [
        Candidate(*c, "combo_categorical_param", True),
        Candidate(*c, "combo_unknown_param", True),
        Candidate(*c, "combo_extra_valid_param", False),
        Candidate(*c, "combo_base_chip_missing", True),
        Candidate(*c, "combo_base_chip_directory", True),
        Candidate(*c, "combo_base_chip_not_a_chip", True),
        Candidate(*c, "combo_chip_file_as_space", True),
        Candidate(*c, "combo_constant_without_value", True),
    ]
    if "resnet" not in src.name:  # resnet50 has no predictor to give a value beside
        out.append(Candidate(*c, "combo_value_with_predictor", True))
    if "sram" in src.name:
        out.append(Candidate(*c, "combo_bits_per_cell_on_sram_space", True))
    if "resnet" in src.name:
        out.append(Candidate(*c, "combo_kernels_on_resnet", True))
    else:
        out.append(Candidate(*c, "combo_widths_on_ofa", True))
    return out


@cache
def candidates() -> tuple[Candidate, ...]:
    """Every mutation of every source, in a fixed order."""
    out: list[Candidate] = []
    for src in sources():
        fields = chip_fields() if src.target == "chip" else space_fields()
        for f in fields.values():
            if f.kind == "list":
                if _get(src.doc, tuple(f.path.split("."))) is not _MISSING:
                    out += _list_candidates(src, f.path, param=False)
            elif f.kind == "params":
                params = _get(src.doc, tuple(f.path.split(".")))
                for name in params if isinstance(params, dict) else ():
                    out += _list_candidates(src, f"{f.path}.{name}", param=True)
            elif src.target == "chip" or _get(src.doc, tuple(f.path.split("."))) is not _MISSING:
                # Chip fields absent from the file are inserted (every field of the schema).
                out += _leaf_candidates(src, f)
        for path in _keys(src.doc):
            p = ".".join(path)
            field = fields.get(p)
            for kind in _KEY_KINDS:
                if kind == "delete_key":
                    required = field.required if field is not None else False
                    if p.startswith("hardware.params."):
                        required = False
                    if field is None and p in ("model", "quantization", "hardware"):
                        required = True
                    out.append(Candidate(src.name, src.target, p, kind, required))
                else:
                    out.append(Candidate(src.name, src.target, p, kind, True))
        for path in _mappings(src.doc):
            p = ".".join(path) or "(top)"
            for kind in _SECTION_KINDS:
                if path == () and kind != "unknown_key":
                    continue  # the whole file as a list/scalar is a file kind
                out.append(Candidate(src.name, src.target, p, kind, True))
        for kind, mf in FILE_KINDS.items():
            out.append(Candidate(src.name, src.target, "(file)", kind, mf))
        out += (_chip_combo_candidates if src.target == "chip" else _space_combo_candidates)(src)
    # null where the file already has null would leave it unchanged: not a mutation.
    docs = {s.name: s.doc for s in sources()}
    return tuple(
        c
        for c in out
        if not (c.kind == "null" and _get(docs[c.source], tuple(c.path.split("."))) is None)
    )


def draw(seed: int, n: int) -> list[int]:
    """Indices of ``n`` candidates: a quarter may-pass, the rest must-fail, each part stratified
    by kind (round robin over the kinds in a shuffled order, a random candidate of each)."""
    rng = np.random.default_rng(seed)
    cands = candidates()
    if n >= len(cands):
        return list(range(len(cands)))
    picked: list[int] = []
    for must_fail, quota in ((False, n // 4), (True, n - n // 4)):
        by_kind: dict[str, list[int]] = {}
        for i, c in enumerate(cands):
            if c.must_fail == must_fail:
                by_kind.setdefault(c.kind, []).append(i)
        queues = {k: list(rng.permutation(v)) for k, v in sorted(by_kind.items())}
        order = list(rng.permutation(sorted(queues)))
        part: list[int] = []
        while len(part) < quota and any(queues.values()):
            for k in order:
                if queues[k] and len(part) < quota:
                    part.append(int(queues[k].pop()))
        picked += part
    return sorted(picked)


def generate(seed: int = 0, n: int = 600) -> list[Mutant]:
    """``n`` mutants for ``seed`` (n >= the number of candidates gives all of them)."""
    return [make(i, seed) for i in draw(seed, n)]


# --- making one mutant --------------------------------------------------------------------------


def _positive_value(f: Field | None, rng: np.random.Generator) -> float:
    """A random in-range value of a numeric field (log-uniform over its bounds)."""
    lo = 1.0 if f is None or f.lo is None else f.lo
    hi = lo * 1000 + 10 if f is None or f.hi is None else f.hi
    if f is not None and f.kind == "int":
        lo_i = math.ceil(lo) + (1 if f.lo_open and float(lo).is_integer() else 0)
        return int(np.exp(rng.uniform(np.log(max(lo_i, 1)), np.log(int(hi) + 1)))) // 1
    a = max(lo, 1e-3) * (1.001 if f is not None and f.lo_open else 1.0)
    return round(float(np.exp(rng.uniform(np.log(a), np.log(hi)))), 6)


def _out_of_range(f: Field | None, value: float) -> float:
    if f is not None and f.hi is not None:
        return f.hi * 2 + 1
    return -abs(value) - 1


def _numeric_value(kind: str, f: Field, current: Any, raw: _Raw, rng: np.random.Generator) -> Any:
    cur = current if isinstance(current, (int, float)) and not isinstance(current, bool) else 1
    return {
        "nan": float("nan"),
        "inf": float("inf"),
        "-inf": float("-inf"),
        "1e999_string": "1e999",
        "1e999_float": raw.token("1.0e+999"),
        "negative": -abs(cur) if cur else -1,
        "zero": 0,
        "huge": 1e300,
        "wrong_type_str": "abc",
        "wrong_type_list": [cur, cur],
        "wrong_type_dict": {"value": cur},
        # True == 1 in Python (and in YAML-loaded dicts): a field holding 1 gets False.
        "wrong_type_bool": False if current == 1 and not isinstance(current, bool) else True,
        "null": None,
        "fraction": (int(cur) if cur else 8) + 0.5,
    }[kind]


def _valid_value(f: Field, current: Any, rng: np.random.Generator) -> Any:
    if f.kind == "enum":
        others = [c for c in f.choices if c != current] or list(f.choices)
        return others[int(rng.integers(0, len(others)))]
    if f.kind == "bool":
        return not bool(current) if isinstance(current, bool) else bool(rng.integers(0, 2))
    if _doc_number(f.path):
        return round(float(rng.uniform(0, 100)), 3)
    return _positive_value(f, rng)


def _leaf_value(kind: str, f: Field, current: Any, raw: _Raw, rng: np.random.Generator) -> Any:
    if kind == "valid_value":
        value = _valid_value(f, current, rng)
        for _ in range(20):  # a value equal to the file's would be no mutation
            if value != current:
                break
            value = _valid_value(f, current, rng)
        return value
    if f.kind in ("int", "float"):
        return _numeric_value(kind, f, current, raw, rng)
    if kind == "enum_out":
        if all(isinstance(c, int) for c in f.choices):
            bad = [v for v in range(1, 200) if v not in f.choices]
            return bad[int(rng.integers(0, len(bad)))]
        base = str(current if current is not _MISSING and current is not None else f.choices[0])
        out = _typo(base, rng)
        while out in f.choices:
            out += "x"
        return out
    if kind == "enum_case":
        base = str(current if current is not _MISSING and current is not None else f.choices[0])
        return base.upper() if base.upper() != base else base + "_"
    if kind == "wrong_type_num":
        return 3 if f.kind != "str" else 5
    if kind == "empty_string":
        return ""
    if kind == "wrong_type_list":
        return [current if current is not _MISSING else "x"]
    if kind == "wrong_type_dict":
        return {"value": current if current is not _MISSING else "x"}
    if kind == "wrong_type_str":
        return "maybe"
    if kind == "markup":
        # Rich console markup: must be printed literally, never interpreted (or crash).
        return "[/x] [bold]design[/bold] [red"
    if kind == "long_string":
        return "x" * 10000
    raise ValueError(kind)


def _list_value(
    kind: str,
    path: str,
    values: Any,
    rng: np.random.Generator,
    raw: _Raw,
    raw_nested: bool = False,
) -> Any:
    vals = list(values) if isinstance(values, list) else [values]
    nested = bool(vals) and isinstance(vals[0], list)
    if nested:
        # resnet50 depths: mutate one stage's list.
        j = int(rng.integers(0, len(vals)))
        out = _copy(vals)
        out[j] = _list_value(kind, path, vals[j], rng, raw, raw_nested=True)
        return out
    first = vals[0] if vals else 1
    param = path.startswith("hardware.params.")
    f = param_field(path.rsplit(".", 1)[1]) if param else None
    j = int(rng.integers(0, len(vals))) if vals else 0

    def with_item(x: Any) -> list[Any]:
        out = list(vals)
        out[j] = x
        # Keep ascending order so that only the bad value is wrong.
        return out

    if kind == "list_empty":
        return []
    if kind == "list_nan":
        return [*vals, float("nan")]
    if kind == "list_inf":
        return [*vals, float("inf")]
    if kind == "list_1e999":
        return [*vals, raw.token("1.0e+999")]
    if kind == "list_negative":
        return [-abs(first) if first else -1, *vals]
    if kind == "list_zero":
        return [0, *vals]
    if kind == "list_huge":
        return [*vals, 1e300]
    if kind == "list_str":
        return with_item("abc")
    if kind == "list_bool":
        return with_item(True)
    if kind == "list_scalar":
        return first
    if kind == "list_nested":
        return with_item([first])
    if kind == "list_unsorted":
        return list(reversed(vals)) if len(vals) > 1 else [*vals, vals[0] / 2 if vals else 1]
    if kind == "list_fraction":
        return [*vals[:-1], vals[-1] + 0.5] if vals else [8.5]
    if kind == "list_duplicate":
        return sorted([*vals, vals[j]]) if vals else [1, 1]
    if kind == "list_valid_subset":
        k = int(rng.integers(1, len(vals))) if len(vals) > 1 else 1
        idx = sorted(rng.choice(len(vals), size=k, replace=False)) if vals else []
        return [vals[i] for i in idx] or vals
    if kind == "list_out_of_range":
        if param:
            return [*vals, _out_of_range(f, first)]
        if path == "model.depths" and raw_nested:
            # resnet50: 1000 bottlenecks in a stage, beyond any published ResNet (ResNet-1001
            # has 111 per stage).
            return [*vals, 1000]
        return {
            "model.depths": [*vals, 7],  # OFA stages have at most 4 blocks
            "model.kernels": [*vals, 4],  # an even depthwise kernel has no centre
            "model.expands": [*vals, 100],
            "model.widths": [*vals, 100.0],
            "quantization.bits": [*vals, 32],  # the CLI and the cost model stop at 16 bits
        }.get(path, [*vals, 1e9])
    raise ValueError(kind)


def _alias_bomb(levels: int = 5, width: int = 10) -> str:
    """A flow sequence of width**levels leaves built from aliases (a "billion laughs")."""
    node = "&a0 [" + ", ".join(["lol"] * width) + "]"
    for k in range(1, levels):
        node = f"&a{k} [{node}, " + ", ".join([f"*a{k - 1}"] * (width - 1)) + "]"
    return node


def _file_bytes(kind: str, src: Source, text: str, rng: np.random.Generator) -> tuple[bytes, str]:
    first_key = next(iter(src.doc))
    if kind == "empty_file":
        return b"", "empty file"
    if kind == "whitespace_file":
        return b"  \n\n\t\n", "only whitespace"
    if kind == "comment_only_file":
        return b"# nothing but a comment\n", "only a comment"
    if kind == "null_document":
        return b"~\n", "a null document"
    if kind == "top_level_list":
        return _dump([src.doc]).encode(), "the mapping wrapped in a list"
    if kind == "top_level_scalar":
        return b"42\n", "a scalar document"
    if kind == "non_utf8_comment":
        return b"# caf\xe9 \xff\xfe\n" + text.encode(), "a non-UTF-8 comment"
    if kind == "non_utf8_value":
        lines = text.encode().split(b"\n")
        i = int(rng.integers(0, max(1, len(lines) - 1)))
        lines[i] = lines[i] + b" \xff\xfe\xfd"
        return b"\n".join(lines), f"non-UTF-8 bytes at the end of line {i + 1}"
    if kind == "latin1_file":
        return (text + "# 5 \u00b5m pitch\n").encode("latin-1", "replace"), "Latin-1 encoded"
    if kind == "utf16_file":
        return text.encode("utf-16"), "UTF-16 encoded"
    if kind == "binary_garbage":
        return bytes(rng.integers(0, 256, 512, dtype=np.uint8)), "512 random bytes"
    if kind == "deep_nesting_flow":
        depth = 5000
        return f"{first_key}: {'[' * depth}{']' * depth}\n".encode(), f"{depth}-deep flow list"
    if kind == "deep_nesting_block":
        depth = 3000
        body = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v: 1\n"
        return body.encode(), f"{depth}-deep block mapping"
    if kind == "alias_bomb":
        # Under a numeric field: the loader builds 10**5 references; a message that repr()s
        # the value would be megabytes long.
        fields = chip_fields() if src.target == "chip" else space_fields()
        numeric = [p for p, f in fields.items() if f.kind in ("int", "float")]
        p = numeric[int(rng.integers(0, len(numeric)))]
        doc = _copy(src.doc)
        raw = _Raw()
        _set(doc, tuple(p.split(".")), raw.token(_alias_bomb()))
        return raw.dump(doc).encode(), f"alias bomb (10^5 leaves) at {p}"
    if kind == "tab_indentation":
        return text.replace("  ", "\t").encode(), "tabs instead of spaces"
    if kind == "two_documents":
        return (text + "---\n" + text).encode(), "two YAML documents"
    if kind == "malformed_yaml":
        return (text + f"{first_key}: [unclosed, {{\n").encode(), "unclosed flow collection"
    if kind == "bom_utf8":
        return b"\xef\xbb\xbf" + text.encode(), "UTF-8 byte-order mark"
    if kind == "crlf_newlines":
        return text.replace("\n", "\r\n").encode(), "CRLF line ends"
    if kind == "truncated":
        lines = text.splitlines(keepends=True)
        k = int(rng.integers(1, len(lines)))
        return "".join(lines[:k]).encode(), f"first {k} of {len(lines)} lines"
    raise ValueError(kind)


def _combo(kind: str, src: Source, rng: np.random.Generator) -> tuple[Any, str]:
    """(document, note) of an irrelevant or impossible combination."""
    doc = _copy(src.doc)
    digital = {"kind": "digital", "readout": "adder_tree"}

    def make_digital() -> None:
        _set(doc, ("device", "kind"), "sram")
        _set(doc, ("device", "bits_per_cell"), 1)
        macro = doc.setdefault("macro", {})
        for k in ("adc_bits", "cols_per_adc", "input_encoding", "combine_weight_bits"):
            macro.pop(k, None)
        macro.update(digital)
        macro["input_bits_per_cycle"] = 1

    if kind == "combo_adc_bits_on_digital":
        make_digital()
        doc["macro"]["adc_bits"] = 6
        return doc, "digital macro (adder tree) with adc_bits 6"
    if kind == "combo_cols_per_adc_on_digital":
        make_digital()
        doc["macro"]["cols_per_adc"] = 4
        return doc, "digital macro (adder tree) with cols_per_adc 4"
    if kind == "combo_readout_on_digital":
        make_digital()
        doc["macro"]["readout"] = "sar"
        return doc, "digital macro with a SAR readout"
    if kind == "combo_bits_per_cell_4_on_mram":
        _set(doc, ("device", "kind"), "mram")
        _set(doc, ("device", "bits_per_cell"), 4)
        return doc, "MRAM (binary cells) with bits_per_cell 4"
    if kind == "combo_bits_per_cell_4_on_sram":
        _set(doc, ("device", "kind"), "sram")
        _set(doc, ("device", "bits_per_cell"), 4)
        return doc, "SRAM (one bit per cell) with bits_per_cell 4"
    if kind == "combo_space_file_as_chip":
        sp = next(s for s in sources() if s.target == "space")
        return _copy(sp.doc), f"the search space {sp.name} given as a chip"
    if kind == "combo_chip_file_as_space":
        chip = yaml.safe_load(Path(src.doc["hardware"]["base_chip"]).read_text())
        return chip, "a chip spec given as a search space"
    params = doc["hardware"]["params"]
    if kind == "combo_categorical_param":
        params["device"] = ["rram", "sram"]
        return doc, "categorical parameter device as a value list"
    if kind == "combo_unknown_param":
        params["adc_bitz"] = [4, 8]
        return doc, "unknown parameter adc_bitz"
    if kind == "combo_extra_valid_param":
        if "sram" in src.name:
            params["tile_buffer_kb"] = [16, 32, 64]
            return doc, "extra parameter tile_buffer_kb [16, 32, 64]"
        params["adc_bits"] = [6, 7, 8]
        return doc, "extra parameter adc_bits [6, 7, 8]"
    if kind == "combo_bits_per_cell_on_sram_space":
        params["bits_per_cell"] = [1, 2, 4]
        return doc, "bits_per_cell [1, 2, 4] on a digital SRAM chip"
    if kind == "combo_base_chip_missing":
        doc["hardware"]["base_chip"] = str(ROOT / "examples" / "chips" / "no_such_chip.yaml")
        return doc, "base_chip names a missing file"
    if kind == "combo_base_chip_directory":
        doc["hardware"]["base_chip"] = str(ROOT / "examples" / "chips")
        return doc, "base_chip names a directory"
    if kind == "combo_base_chip_not_a_chip":
        doc["hardware"]["base_chip"] = str(PRESETS)
        return doc, "base_chip names the presets file (not a chip spec)"
    if kind == "combo_value_with_predictor":
        doc["accuracy"] = {"source": "predictor", "value": 0.5}
        return doc, "accuracy.value given where it is not used"
    if kind == "combo_constant_without_value":
        doc["accuracy"] = {"source": "constant"}
        return doc, "accuracy source constant without a value"
    if kind == "combo_kernels_on_resnet":
        doc["model"]["kernels"] = [3, 5]
        return doc, "model.kernels on resnet50"
    if kind == "combo_widths_on_ofa":
        doc["model"]["widths"] = [0.5, 1.0]
        return doc, "model.widths on ofa_mobilenetv2"
    raise ValueError(kind)


def _structural(kind: str, src: Source, path: str, rng: np.random.Generator) -> tuple[str, str]:
    """(text, note) of key/section mutations."""
    doc = _copy(src.doc)
    raw = _Raw()
    keys = tuple(path.split(".")) if path != "(top)" else ()
    if kind == "typo_key":
        parent = _get(doc, keys[:-1]) if len(keys) > 1 else doc
        typo = _typo(keys[-1], rng)
        # Never a sibling key or another field of the same level (that would be valid).
        depth = len(keys) - 1
        fields = chip_fields() if src.target == "chip" else space_fields()
        split = [p.split(".") for p in fields]
        known = {q[depth] for q in split if len(q) > depth and q[:depth] == list(keys[:-1])}
        while typo in parent or typo in known:
            typo += "x"
        parent_items = list(parent.items())
        parent.clear()
        for k, v in parent_items:
            parent[typo if k == keys[-1] else k] = v
        return raw.dump(doc), f"key {keys[-1]!r} misspelt {typo!r}"
    if kind == "delete_key":
        _delete(doc, keys)
        return raw.dump(doc), f"key {path} deleted"
    if kind == "duplicate_key":
        parent = _get(doc, keys[:-1]) if len(keys) > 1 else doc
        items = list(parent.items())
        parent.clear()
        for k, v in items:
            parent[k] = v
            if k == keys[-1]:
                parent["@@DUPKEY@@"] = _copy([v])[0]
        text = raw.dump(doc).replace("'@@DUPKEY@@'", keys[-1]).replace("@@DUPKEY@@", keys[-1])
        return text, f"key {path} given twice"
    if kind == "mapping_as_list":
        value = _get(doc, keys)
        _set(doc, keys, [{k: v} for k, v in value.items()] if isinstance(value, dict) else [])
        return raw.dump(doc), f"section {path} as a list of one-key mappings"
    if kind == "mapping_as_scalar":
        _set(doc, keys, 7)
        return raw.dump(doc), f"section {path} as the number 7"
    if kind == "unknown_key":
        target = _get(doc, keys) if keys else doc
        target["frobnicate"] = 1
        return raw.dump(doc), f"unknown key frobnicate in {path}"
    raise ValueError(kind)


def make(index: int, seed: int) -> Mutant:
    """Materialize candidate ``index`` with the generator seeded by ``(seed, index)``."""
    cand = candidates()[index]
    rng = np.random.default_rng([seed, index])
    src = source(cand.source)
    text = _dump(src.doc)
    fields = chip_fields() if src.target == "chip" else space_fields()
    note: str
    leaf = cand.path.rsplit(".", 1)[-1]
    names: tuple[str, ...] = (leaf,)
    if cand.path == "(file)":
        data, note = _file_bytes(cand.kind, src, text, rng)
        # File-level defects are located by the file (and a line), not by a field.
        names = ()
    elif cand.path == "(combo)":
        doc, note = _combo(cand.kind, src, rng)
        data = _dump(doc).encode()
        names = COMBO_NAMES.get(cand.kind, ())
    elif cand.kind in _KEY_KINDS or cand.kind in _SECTION_KINDS:
        body, note = _structural(cand.kind, src, cand.path, rng)
        data = body.encode()
        if cand.kind == "typo_key":
            names = (note.rsplit("'", 2)[-2],)  # the misspelt key, as the file has it
        elif cand.kind == "unknown_key":
            names = ("frobnicate",)
        elif cand.path == "(top)":
            names = ()
    elif cand.kind.startswith("list_"):
        doc = _copy(src.doc)
        raw = _Raw()
        keys = tuple(cand.path.split("."))
        value = _list_value(cand.kind, cand.path, _get(doc, keys), rng, raw)
        _set(doc, keys, value)
        data = raw.dump(doc).encode()
        note = f"{cand.path}: {_short(value)}"
    else:
        doc = _copy(src.doc)
        raw = _Raw()
        keys = tuple(cand.path.split("."))
        value = _leaf_value(cand.kind, fields[cand.path], _get(doc, keys), raw, rng)
        _set(doc, keys, value)
        data = raw.dump(doc).encode()
        shown = raw.raw.get(value, value) if isinstance(value, str) else value
        note = f"{cand.path} = {_short(shown)}"
    return Mutant(
        cand.id,
        cand.source,
        cand.target,
        cand.path,
        cand.kind,
        cand.must_fail,
        data,
        note,
        names if cand.must_fail else (),
    )


#: The field a combination's error must name.
COMBO_NAMES: dict[str, tuple[str, ...]] = {
    "combo_adc_bits_on_digital": ("adc_bits",),
    "combo_cols_per_adc_on_digital": ("cols_per_adc",),
    "combo_readout_on_digital": ("readout",),
    "combo_bits_per_cell_4_on_mram": ("bits_per_cell",),
    "combo_bits_per_cell_4_on_sram": ("bits_per_cell",),
    "combo_categorical_param": ("device",),
    "combo_unknown_param": ("adc_bitz",),
    "combo_base_chip_missing": ("base_chip",),
    "combo_base_chip_directory": ("base_chip",),
    "combo_base_chip_not_a_chip": ("base_chip",),
    "combo_value_with_predictor": ("value",),
    "combo_constant_without_value": ("value",),
    "combo_bits_per_cell_on_sram_space": ("bits_per_cell",),
    "combo_kernels_on_resnet": ("kernels",),
    "combo_widths_on_ofa": ("widths",),
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} chars)"


#: How a kind's mutants are named in the figures (grouped for the report).
def family(kind: str) -> str:
    """The figure group of a mutation kind (e.g. every ``wrong_type_*`` is ``wrong_type``)."""
    for prefix in ("wrong_type", "list", "combo", "non_utf8", "deep_nesting", "1e999"):
        if kind.startswith(prefix):
            return prefix
    return kind
