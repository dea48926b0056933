"""Hardware spec of a hierarchical CIM chip (CIMNAS Fig. 1).

Levels: device -> macro -> tile -> router -> chip.

Specs are data only: frozen pydantic models that reject unknown fields, validate ranges and
round-trip through YAML. Units are in the field names (``_nm``, ``_v``, ``_ns``, ``_kb``, ...);
KB means 1024 bytes. Optional device constants default to the technology table in
``cimkit/data/constants.yaml`` (see :mod:`cimkit.cost.constants`).

Every number is finite and has a lower and an upper bound with a physical reason (in the field's
description or the comment above it). Types are strict: a YAML ``true`` is not 1, ``"1e3"`` (a
quoted string) is not a number and ``256.0`` is not an integer. :func:`field_bounds` reads a
field's bounds from this metadata, so the vectorized checks of
:mod:`cimkit.cost.designs` and the search-space dimensions of :mod:`cimkit.space` use the same
numbers. Cross-field checks refuse impossible combinations (an SRAM cell with 4 bits) and fields
the chosen design does not use (``adc_bits`` on a digital macro), each naming the field to change.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

DeviceKind = Literal["rram", "sram", "mram"]
MacroKind = Literal["analog", "digital"]
Mode = Literal["weight_stationary", "weight_swapping"]
#: How a macro turns its column sums into digital values (the readout registry's names).
Readout = Literal["sar", "flash", "integrate_fire", "adder_tree", "column_adder", "osa_hybrid"]
#: Readout kinds of digital macros (every other kind is an analog converter).
DIGITAL_READOUTS: tuple[str, ...] = ("adder_tree", "column_adder")
#: How input bits reach the rows (the input-encoding registry's names).
InputEncoding = Literal["bit_serial", "pulse_count", "voltage_dac"]
#: How layers share time: one after another, or as a pipeline over the tiles.
Execution = Literal["pipelined", "sequential", "layerwise"]
#: How gate delay follows the supply: a generic short-channel law, or NeuroSim's high-performance
#: / low-power device roadmaps (per-node threshold voltage, alpha = 2).
Transistor = Literal["generic", "hp", "lp"]

#: ``macro.osa_boundary`` default: the paper's fixed-boundary HCIM point (B_D/A = 8).
OSA_DEFAULT_BOUNDARY = 8.0

#: Technology nodes with scaling data (nm).
NODES_NM: tuple[int, ...] = (130, 90, 65, 45, 40, 32, 28, 22, 16, 14, 12, 7, 5)


@dataclass(frozen=True)
class Bounds:
    """The range of a numeric field: ``lo``/``hi`` with their inclusiveness; ``integer`` fields
    take whole numbers only. Non-finite values are never inside (specs refuse inf and NaN)."""

    lo: float
    hi: float
    lo_inclusive: bool = True
    hi_inclusive: bool = True
    integer: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` is a finite number inside the range (and whole, for integers)."""
        v = float(value)
        if not math.isfinite(v) or (self.integer and v != round(v)):
            return False
        above = v >= self.lo if self.lo_inclusive else v > self.lo
        below = v <= self.hi if self.hi_inclusive else v < self.hi
        return above and below

    def describe(self) -> str:
        """``integers >= 8 and <= 4096`` style text of the range (for error messages)."""
        kind = "integers" if self.integer else "finite values"
        lo = f"{'>=' if self.lo_inclusive else '>'} {self.lo:g}"
        hi = f"{'<=' if self.hi_inclusive else '<'} {self.hi:g}"
        return f"{kind} {lo} and {hi}"


def _strip_optional(tp: Any) -> Any:
    """``X | None`` -> ``X`` (other unions and plain types unchanged)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _bounds_of(tp: Any, metadata: list[Any]) -> Bounds:
    """Bounds from annotated-types constraints in ``metadata`` (or, for a ``list[...]`` field
    without its own, from the element type's ``Annotated`` metadata)."""
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is Annotated:
        base, *extra = typing.get_args(tp)
        return _bounds_of(base, [*metadata, *extra])
    flat: list[Any] = []
    for meta in metadata:
        flat.extend(meta.metadata if isinstance(meta, FieldInfo) else [meta])
    limits = [m for m in flat if isinstance(m, at.Ge | at.Gt | at.Le | at.Lt)]
    if not limits and typing.get_origin(tp) is list:
        return _bounds_of(typing.get_args(tp)[0], [])
    if tp is bool:
        return Bounds(0.0, 1.0, integer=True)
    lo, hi, lo_inc, hi_inc = -math.inf, math.inf, True, True
    for meta in limits:
        if isinstance(meta, at.Ge):
            lo, lo_inc = float(meta.ge), True  # type: ignore[arg-type]
        elif isinstance(meta, at.Gt):
            lo, lo_inc = float(meta.gt), False  # type: ignore[arg-type]
        elif isinstance(meta, at.Le):
            hi, hi_inc = float(meta.le), True  # type: ignore[arg-type]
        elif isinstance(meta, at.Lt):
            hi, hi_inc = float(meta.lt), False  # type: ignore[arg-type]
    return Bounds(lo, hi, lo_inc, hi_inc, integer=tp is int)


def type_bounds(tp: Any) -> Bounds:
    """The :class:`Bounds` of an annotated type, e.g. ``Annotated[int, Field(ge=1, le=16)]``."""
    return _bounds_of(tp, [])


def field_bounds(model: type[BaseModel], field: str) -> Bounds:
    """The :class:`Bounds` of numeric field ``field`` of ``model``, from its pydantic metadata.

    ``field`` may be dotted to walk into sub-models (``field_bounds(ChipSpec, "macro.rows")``).
    A ``list[...]`` field gives the bounds of its elements. Unbounded sides are +-inf.
    """
    head, _, rest = field.partition(".")
    info = model.model_fields.get(head)
    if info is None:
        raise KeyError(f"{model.__name__} has no field {head!r}")
    if rest:
        return field_bounds(_strip_optional(info.annotation), rest)
    return _bounds_of(info.annotation, list(info.metadata))


def cross_field_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field error located at ``field`` (dotted, relative to the model that raises it).

    :func:`cimkit.specs.io.format_validation_error` reports it at that path, so the user is told
    which field to change rather than the section that holds it.
    """
    return PydanticCustomError("cross_field", "{message}", {"field": field, "message": message})


class StrictModel(BaseModel):
    """Frozen, unknown fields rejected, defaults validated, finite numbers, strict types.

    ``strict``: no bool -> number, no numeric string -> number, no float -> int (an int is still
    accepted for a float field, since 4 and 4.0 mean the same there).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False, strict=True
    )


class Technology(StrictModel):
    """Process and operating point."""

    node_nm: Annotated[
        int,
        Field(
            ge=min(NODES_NM),
            le=max(NODES_NM),
            description="CMOS technology node in nm; one of NODES_NM (nodes with scaling data).",
        ),
    ] = 32
    voltage_v: Annotated[
        float,
        Field(
            ge=0.4,
            le=2.0,
            description="Operating (supply) voltage in V. 0.4 V: near-threshold floor of the "
            "delay law (with transistor hp/lp: at least 0.1 V above that roadmap's threshold "
            "at the node); 2 V: above the core supply of every node in NODES_NM.",
        ),
    ] = 0.7
    cycle_time_ns: Annotated[
        float | None,
        Field(
            gt=0.05,
            le=100000.0,
            description="Macro clock period in ns (one readout step). null: the shortest period "
            "the readout allows at this node and voltage (min_cycle_time_ns). Bounds: 0.05 ns "
            "(20 GHz, beyond any CMOS macro clock) to 100 us (slower than any readout step).",
        ),
    ] = 4.0
    transistor: Annotated[
        Transistor,
        Field(
            description="How delay follows the supply voltage (the alpha-power law): 'generic' "
            "(Vth 0.3 V, alpha 1.3, every node), or NeuroSim's 'hp' / 'lp' device roadmaps "
            "(per-node Vth, alpha 2; 'lp' slows steeply toward 0.6 V). Delay at the reference "
            "point (45 nm, 0.9 V) is the same for all three."
        ),
    ] = "generic"

    @field_validator("node_nm")
    @classmethod
    def _known_node(cls, v: int) -> int:
        if v not in NODES_NM:
            allowed = ", ".join(map(str, NODES_NM))
            raise ValueError(f"{v} nm is not a supported node; allowed: {allowed}")
        return v

    @model_validator(mode="after")
    def _above_threshold(self) -> Technology:
        # Lazy import: the threshold tables live with the cost constants (which import this
        # module). Near threshold the alpha-power delay law diverges: refuse, do not print a
        # clamped, meaningless delay.
        if self.transistor == "generic":
            return self  # Vth 0.3 V at every node: the 0.4 V floor of voltage_v keeps 0.1 V above
        from cimkit.cost.constants import MIN_OVERDRIVE_V, TRANSISTORS, threshold_voltage

        vth = float(threshold_voltage(self.node_nm, TRANSISTORS.index(self.transistor)))
        if self.voltage_v < vth + MIN_OVERDRIVE_V - 1e-9:
            raise ValueError(
                f"voltage_v {self.voltage_v:g} V is under {MIN_OVERDRIVE_V:g} V above the "
                f"{self.transistor} threshold ({vth:.3f} V at {self.node_nm} nm; delay law "
                f"invalid): use >= {vth + MIN_OVERDRIVE_V:.2f} V or another transistor"
            )
        return self


class Device(StrictModel):
    """Memory device of the crossbar cells. ``None`` constants come from the technology table."""

    kind: Annotated[DeviceKind, Field(description="Cell technology: rram, sram or mram.")] = "rram"
    bits_per_cell: Annotated[
        int,
        Field(
            ge=1,
            le=8,
            description="Weight bits per cell (256 conductance levels is beyond any reported "
            "multi-level cell). SRAM cells hold 1 bit, MRAM cells at most 2 (two MTJs). "
            "Default: 4 for rram, 1 for sram and mram.",
        ),
    ] = 4
    read_energy_fj: Annotated[
        float | None,
        Field(
            gt=0,
            le=1e5,
            description="Energy of one cell read at full conductance/level, fJ, at 0.9 V. "
            "At most 100 pJ (a 1 V, 1 mA, 100 ns read pulse).",
        ),
    ] = None
    cell_area_f2: Annotated[
        float | None,
        Field(
            gt=0,
            le=1e5,
            description="Cell area in F^2 (F = node). At most 1e5 F^2 (a compute cell of ~70 6T "
            "SRAM cells).",
        ),
    ] = None
    on_off_ratio: Annotated[
        float | None,
        Field(
            gt=1,
            le=1e9,
            description="Ratio of highest to lowest cell conductance. At most 1e9 (beyond a "
            "transistor's on/off current ratio).",
        ),
    ] = None
    write_energy_pj: Annotated[
        float | None,
        Field(
            gt=0,
            le=1e4,
            description="Energy to program one cell, pJ. At most 10 nJ (a 3 V, 1 mA, 3 us pulse, "
            "beyond PCM RESET and flash programming).",
        ),
    ] = None
    write_latency_ns: Annotated[
        float | None,
        Field(
            gt=0,
            le=1e6,
            description="Time to program one crossbar row, ns. At most 1 ms (a NAND flash page "
            "program, the slowest non-volatile write in use).",
        ),
    ] = None
    read_voltage_v: Annotated[
        float | None,
        Field(
            gt=0,
            le=2.0,
            description="Non-volatile cells: read pulse amplitude in V; cell read energy scales "
            "as its square (SRAM cells follow the supply voltage and node instead).",
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        # Bits per cell follow the cell kind unless given (4 would be impossible for SRAM/MRAM).
        if isinstance(data, dict) and "bits_per_cell" not in data:
            kind = data.get("kind")
            if isinstance(kind, str) and kind in DEFAULT_BITS_PER_CELL:
                data = {**data, "bits_per_cell": DEFAULT_BITS_PER_CELL[kind]}
        return data


class Macro(StrictModel):
    """A crossbar macro with its peripherals."""

    kind: Annotated[
        MacroKind,
        Field(
            description="analog (ADC readout) or digital (adder-tree readout). A digital macro "
            "has no ADC: adc_bits, cols_per_adc, combine_weight_bits, readout_area_um2, "
            "readout_energy_scale and slices_per_conversion must stay unset, and inputs are "
            "bit-serial."
        ),
    ] = "analog"
    rows: Annotated[int, Field(ge=8, le=4096, description="Crossbar rows (wordlines).")] = 256
    cols: Annotated[int, Field(ge=8, le=4096, description="Crossbar columns (bitlines).")] = 256
    adc_bits: Annotated[
        int,
        Field(
            ge=1,
            le=14,
            description="ADC resolution in bits (analog macros only; 14 bits is beyond any "
            "in-memory ADC reported).",
        ),
    ] = 8
    cols_per_adc: Annotated[
        int, Field(ge=1, le=256, description="Columns multiplexed onto one ADC (analog only).")
    ] = 8
    input_bits_per_cycle: Annotated[
        int,
        Field(
            ge=1,
            le=8,
            description="Input bits applied per cycle (DAC resolution; 8 = a whole 8-bit input). "
            "Digital macros take 1 (bit-serial inputs).",
        ),
    ] = 1
    combine_weight_bits: Annotated[
        bool,
        Field(
            description="Analog macros only: the bit-columns of one weight are merged in the "
            "analog "
            "domain (binary-weighted charge sharing, C-2C ladder) before a single conversion, "
            "so cols_per_adc counts bit-columns of whole weights."
        ),
    ] = False
    readout: Annotated[
        Readout,
        Field(
            description="Column readout: sar, flash or integrate_fire ADCs (analog macros); "
            "adder_tree (digital: an adder tree under each column) or column_adder (digital: "
            "a full adder in every bitcell, the column sum ripples down the rows in "
            "weight_bits + log2(active_rows) columns per weight, as in Colonnade). Default: "
            "sar for analog, adder_tree for digital."
        ),
    ] = "sar"
    input_encoding: Annotated[
        InputEncoding,
        Field(
            description="How input bits drive the rows: bit_serial (1 bit per cycle), "
            "pulse_count (input_bits_per_cycle bits as 0..2^b-1 unit pulses in one cycle) or "
            "voltage_dac (a b-bit DAC level per row). Default: bit_serial when "
            "input_bits_per_cycle is 1, else pulse_count."
        ),
    ] = "bit_serial"
    active_rows: Annotated[
        int | None,
        Field(
            ge=1,
            le=4096,
            description="Rows summed by one conversion (activated together); at most rows. "
            "null: all rows. Fewer active rows than physical rows means a weight block is "
            "read in several row groups whose partial sums are added digitally.",
        ),
    ] = None
    readout_area_um2: Annotated[
        float | None,
        Field(
            gt=0,
            le=1e6,
            description="Layout area of one readout unit (ADC / neuron) in um^2, to use a "
            "known converter (your silicon, or the component a paper's numbers were made "
            "with). null: the readout kind's model at this node. Energy and leakage still "
            "come from the readout model. Analog macros only; at most 1 mm^2.",
        ),
    ] = None
    readout_energy_scale: Annotated[
        float,
        Field(
            gt=0,
            le=100,
            description="Energy (and static power) of one readout unit relative to the readout "
            "kind's model: 1 = the model (for sar, the ADC survey regression); a known "
            "converter's own efficiency, e.g. a published macro's ADC calibrated at one "
            "operating point. Analog macros only; at most 100.",
        ),
    ] = 1.0
    pack_groups: Annotated[
        bool,
        Field(
            description="Pack the groups of a grouped/depthwise convolution block-diagonally "
            "into one crossbar (true), or give every group crossbars of its own (false: how "
            "CiMLoop's mapper places groups)."
        ),
    ] = True
    slices_per_conversion: Annotated[
        int,
        Field(
            ge=1,
            le=16,
            description="Consecutive input slices integrated in the analog domain before one "
            "conversion (NeuRRAM-style accumulate-then-convert); 1 = convert every slice. "
            "Analog macros only; at most 16 (two 8-bit inputs bit-serially).",
        ),
    ] = 1
    osa_boundary: Annotated[
        float,
        Field(
            ge=5,
            le=10,
            description="readout osa_hybrid only (OSA-HCIM's saliency-aware hybrid macro): the "
            "mean digital/analog boundary B_D/A the saliency evaluator picks, in one-bit-MAC "
            "orders (k >= B digital, the 4 orders below analog, the rest discarded); a "
            "fractional value mixes the two neighbouring boundaries. 5 (most precise) to 10 "
            "(the paper's operating points); default 8, the paper's fixed-boundary HCIM point. "
            "Take it from the accuracy report of your network (B share per loss constraint).",
        ),
    ] = OSA_DEFAULT_BOUNDARY

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        # Readout and encoding follow the macro kind and DAC width unless given explicitly.
        if isinstance(data, dict):
            data = dict(data)
            if "readout" not in data and data.get("kind") == "digital":
                data["readout"] = "adder_tree"
            ibpc = data.get("input_bits_per_cycle", 1)
            if "input_encoding" not in data and isinstance(ibpc, int) and ibpc > 1:
                data["input_encoding"] = "pulse_count"
        return data

    @field_validator("cols_per_adc")
    @classmethod
    def _adc_sharing(cls, v: int, info: ValidationInfo) -> int:
        cols = info.data.get("cols")
        if cols is not None and v > cols:
            raise ValueError(f"{v} exceeds cols={cols}; use at most cols")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Macro:
        if self.kind == "digital" and self.readout not in DIGITAL_READOUTS:
            raise cross_field_error(
                "readout",
                f"{self.readout!r} needs an analog macro; a digital macro reads out with "
                "'adder_tree' or 'column_adder' (or set macro.kind: analog)",
            )
        if self.kind == "analog" and self.readout in DIGITAL_READOUTS:
            raise cross_field_error(
                "readout",
                f"{self.readout!r} needs macro.kind 'digital'; analog macros use 'sar', "
                "'flash' or 'integrate_fire'",
            )
        if self.kind == "digital":
            # The cost model ignores these on a digital macro: a value other than the default
            # would be dropped without a word, so it is refused (the default means "unset").
            unused = [f for f in DIGITAL_UNUSED if getattr(self, f) != _default(Macro, f)]
            if unused:
                also = ", ".join(f"macro.{f}" for f in unused[1:])
                raise cross_field_error(
                    unused[0],
                    "not used by a digital macro (adder-tree readout: no ADC, no analog "
                    f"accumulation); remove it{f' (and {also})' if also else ''}, or set "
                    "macro.kind: analog",
                )
            if self.input_bits_per_cycle != 1 or self.input_encoding != "bit_serial":
                raise cross_field_error(
                    "input_bits_per_cycle" if self.input_bits_per_cycle != 1 else "input_encoding",
                    "a digital macro takes its inputs bit-serially: use input_bits_per_cycle 1 and "
                    f"input_encoding 'bit_serial' (got {self.input_bits_per_cycle}, "
                    f"{self.input_encoding!r})",
                )
        if self.readout != "osa_hybrid" and self.osa_boundary != OSA_DEFAULT_BOUNDARY:
            raise cross_field_error(
                "osa_boundary",
                "only used by readout 'osa_hybrid'; remove it, or set macro.readout: osa_hybrid",
            )
        if self.readout == "osa_hybrid":
            # The kind's model is one one-bit MAC per readout slot (cimkit.cost.osa_readout).
            for f, want in (
                ("input_bits_per_cycle", 1),
                ("combine_weight_bits", False),
                ("slices_per_conversion", 1),
            ):
                if getattr(self, f) != want:
                    raise cross_field_error(
                        f,
                        f"readout 'osa_hybrid' takes bit-serial inputs and one conversion per "
                        f"weight bit and input slice: use {f} {str(want).lower()}",
                    )
        if self.input_encoding == "bit_serial" and self.input_bits_per_cycle != 1:
            raise cross_field_error(
                "input_encoding",
                f"'bit_serial' applies 1 bit per cycle, but input_bits_per_cycle is "
                f"{self.input_bits_per_cycle}; use 'pulse_count' or 'voltage_dac'",
            )
        if self.active_rows is not None and self.active_rows > self.rows:
            raise cross_field_error(
                "active_rows",
                f"{self.active_rows} exceeds rows={self.rows}; use at most rows",
            )
        return self


#: Spec keys renamed to the names of spaces and tables (cimkit issue 15): section -> {old: new}.
#: The old keys are read, with a note on stderr, until cimkit 0.2.
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "tile": {"macros": "macros_per_tile"},
    "router": {"tiles": "tiles_per_router"},
}


def _renamed(section: str, data: Any) -> Any:
    """``data`` with the deprecated keys of ``section`` renamed (a note on stderr for each)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for old, new in RENAMED_KEYS[section].items():
        if old not in out:
            continue
        if new in out:
            raise PydanticCustomError(
                "renamed_key",
                f"give {section}.{new} only ({section}.{old} is its old name)",
            )
        out[new] = out.pop(old)
        import sys

        sys.stderr.write(
            f"# deprecated: chip spec key {section}.{old} is now {section}.{new}; "
            f"{section}.{old} stops working in cimkit 0.2\n"
        )
    return out


class Tile(StrictModel):
    """A tile: macros sharing an input/output buffer and a digital vector unit."""

    macros_per_tile: Annotated[
        int, Field(ge=1, le=1024, description="Crossbar macros per tile (old name: macros).")
    ] = 16
    buffer_kb: Annotated[
        float, Field(gt=0, le=65536, description="Tile activation buffer, KB (at most 64 MB).")
    ] = 64.0
    vector_lanes: Annotated[
        int,
        Field(ge=1, le=4096, description="Digital ALU lanes for non-MAC ops and dynamic matmuls."),
    ] = 16

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        return _renamed("tile", data)

    @property
    def macros(self) -> int:
        """Old name of :attr:`macros_per_tile` (Python API; removed in cimkit 0.2)."""
        return self.macros_per_tile


class Router(StrictModel):
    """A router and the tiles attached to it (one tile group)."""

    tiles_per_router: Annotated[
        int, Field(ge=1, le=1024, description="Tiles per router (old name: tiles).")
    ] = 8

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: Any) -> Any:
        return _renamed("router", data)

    @property
    def tiles(self) -> int:
        """Old name of :attr:`tiles_per_router` (Python API; removed in cimkit 0.2)."""
        return self.tiles_per_router


class Dram(StrictModel):
    """Off-chip memory, used for weight swapping and network input/output."""

    energy_pj_per_bit: Annotated[
        float | None,
        Field(
            gt=0,
            le=1000.0,
            description="DRAM access energy, pJ/bit. At most 1 nJ/bit (10x an off-board DDR "
            "access with its I/O).",
        ),
    ] = None
    bandwidth_gb_s: Annotated[
        float,
        Field(
            ge=0.001,
            le=100000.0,
            description="DRAM bandwidth, GB/s (1e9 bytes/s). 1 MB/s (below any DRAM interface; "
            "less would overflow the latency) to 100 TB/s (beyond many HBM stacks).",
        ),
    ] = 25.6


class Chip(StrictModel):
    """Chip level: tile groups on a mesh NoC, global buffer and operating mode."""

    tile_groups: Annotated[
        int, Field(ge=1, le=4096, description="Tile groups (routers) per chip.")
    ] = 16
    glb_kb: Annotated[
        float, Field(gt=0, le=1048576, description="Global buffer size, KB (at most 1 GB).")
    ] = 4096.0
    glb_bandwidth_bits: Annotated[
        int | None,
        Field(
            ge=8,
            le=65536,
            description="Global buffer bandwidth, bits per cycle. null: never a bottleneck "
            "(the assumption of Timeloop/CiMLoop, whose buffers have no bandwidth limit).",
        ),
    ] = 1024
    noc_bits: Annotated[
        int | None,
        Field(
            ge=8,
            le=8192,
            description="NoC link width, bits per cycle. null: never a bottleneck (as CiMLoop).",
        ),
    ] = 256
    mode: Annotated[
        Mode,
        Field(
            description="weight_stationary: all weights on chip; weight_swapping: layer groups "
            "are loaded from DRAM in turn."
        ),
    ] = "weight_stationary"
    area_constraint_mm2: Annotated[
        float | None,
        Field(
            gt=0,
            le=100000.0,
            description="Designs larger than this are infeasible, mm^2. At most 1e5 mm^2 (a "
            "300 mm wafer is 70,686 mm^2).",
        ),
    ] = None
    execution: Annotated[
        Execution,
        Field(
            description="pipelined: weight-stationary layers run concurrently on their own "
            "crossbars, one inference per period (the slowest stage or shared resource); "
            "sequential: layers run one after another on their own crossbars; layerwise: layers "
            "run one after another, each with its weights copied over every crossbar of the "
            "chip (how Timeloop/CiMLoop, hence the CIMNAS paper, time a network). Weight "
            "swapping is always sequential."
        ),
    ] = "pipelined"


class ChipSpec(StrictModel):
    """A whole CIM chip. Load with :func:`cimkit.specs.load_chip`, save with :func:`save_chip`."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Free-form design name (at most 200 characters: it heads tables and "
            "error messages).",
        ),
    ] = "chip"
    technology: Technology = Technology()
    device: Device = Device()
    macro: Macro = Macro()
    tile: Tile = Tile()
    router: Router = Router()
    chip: Chip = Chip()
    dram: Dram = Dram()

    @model_validator(mode="after")
    def _consistent(self) -> ChipSpec:
        bpc = self.device.bits_per_cell
        if self.macro.kind == "digital" and bpc != 1:
            raise cross_field_error(
                "device.bits_per_cell",
                f"must be 1 for a digital macro (its cells hold one bit each); got {bpc}",
            )
        if self.macro.kind == "digital" and self.device.kind == "rram":
            raise cross_field_error(
                "device.kind",
                "macro.kind 'digital' needs device.kind 'sram' or 'mram' (near-memory readout)",
            )
        most = MAX_BITS_PER_CELL.get(self.device.kind)
        if most is not None and bpc > most:
            hint = " (or macro.combine_weight_bits true to merge bit-columns)" if most == 1 else ""
            raise cross_field_error(
                "device.bits_per_cell",
                f"an {self.device.kind.upper()} cell holds at most {most} bit(s), got {bpc}; use "
                f"at most {most}: a weight then spans more cells{hint}",
            )
        if self.macro.readout == "osa_hybrid" and (self.device.kind != "sram" or bpc != 1):
            raise cross_field_error(
                "device.kind",
                "readout 'osa_hybrid' is an SRAM macro with one bit per cell (split-port 6T "
                "cells): use device.kind sram and device.bits_per_cell 1",
            )
        if self.device.kind == "sram" and self.device.read_voltage_v is not None:
            raise cross_field_error(
                "device.read_voltage_v",
                "not used by SRAM cells (they read at the supply, technology.voltage_v); remove "
                "it, or use device.kind rram or mram",
            )
        return self

    @property
    def macros_total(self) -> int:
        """Crossbar macros on the chip."""
        return self.tile.macros_per_tile * self.router.tiles_per_router * self.chip.tile_groups


def _default(model: type[BaseModel], field: str) -> Any:
    return model.model_fields[field].default


#: Macro fields a digital macro does not use (no ADC, no analog accumulation of slices).
DIGITAL_UNUSED: tuple[str, ...] = (
    "adc_bits",
    "cols_per_adc",
    "combine_weight_bits",
    "readout_area_um2",
    "readout_energy_scale",
    "slices_per_conversion",
    "osa_boundary",
)
#: Most bits one cell of a device kind holds: an SRAM cell is a latch (1 bit); an MRAM cell's
#: MTJ has two states, and two series MTJs give the 2-bit multi-level cells reported. RRAM:
#: the field's own bound (multi-level filaments).
MAX_BITS_PER_CELL: dict[str, int] = {"sram": 1, "mram": 2}
#: ``device.bits_per_cell`` when a spec gives only the kind (rram: the field's default, 4).
DEFAULT_BITS_PER_CELL: dict[str, int] = {"sram": 1, "mram": 1}


def unused_fields(macro_kind: str, device_kind: str) -> tuple[str, ...]:
    """Dotted paths of the fields a design of these kinds does not use (they stay at defaults).

    Used by the spec's own checks, by :func:`cimkit.specs.io.dump_yaml` (which leaves them out)
    and by search spaces (which refuse a dimension over one of them).
    """
    out = [f"macro.{f}" for f in DIGITAL_UNUSED] if macro_kind == "digital" else []
    if device_kind == "sram":
        out.append("device.read_voltage_v")
    return tuple(out)
