"""Hardware spec of a hierarchical CIM chip (CIMNAS Fig. 1).

Levels: device -> macro -> tile -> router -> chip.

Specs are data only: frozen pydantic models that reject unknown fields, validate ranges and
round-trip through YAML. Units are in the field names (``_nm``, ``_v``, ``_ns``, ``_kb``, ...);
KB means 1024 bytes. Optional device constants default to the technology table in
``cimkit/data/constants.yaml`` (see :mod:`cimkit.cost.constants`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DeviceKind = Literal["rram", "sram", "mram"]
MacroKind = Literal["analog", "digital"]
Mode = Literal["weight_stationary", "weight_swapping"]
#: How a macro turns its column sums into digital values (the readout registry's names).
Readout = Literal["sar", "flash", "integrate_fire", "adder_tree"]
#: How input bits reach the rows (the input-encoding registry's names).
InputEncoding = Literal["bit_serial", "pulse_count", "voltage_dac"]
#: How layers share time: one after another, or as a pipeline over the tiles.
Execution = Literal["pipelined", "sequential", "layerwise"]
#: How gate delay follows the supply: a generic short-channel law, or NeuroSim's high-performance
#: / low-power device roadmaps (per-node threshold voltage, alpha = 2).
Transistor = Literal["generic", "hp", "lp"]

#: Technology nodes with scaling data (nm).
NODES_NM: tuple[int, ...] = (130, 90, 65, 45, 40, 32, 28, 22, 16, 14, 12, 7, 5)


class StrictModel(BaseModel):
    """Frozen, unknown fields rejected, defaults validated."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Technology(StrictModel):
    """Process and operating point."""

    node_nm: Annotated[int, Field(description="CMOS technology node in nm; one of NODES_NM.")] = 32
    voltage_v: Annotated[
        float, Field(ge=0.4, le=2.0, description="Operating (supply) voltage in V.")
    ] = 0.7
    cycle_time_ns: Annotated[
        float | None,
        Field(
            gt=0.05,
            le=100000.0,
            description="Macro clock period in ns (one readout step). null: the shortest period "
            "the readout allows at this node and voltage (min_cycle_time_ns).",
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


class Device(StrictModel):
    """Memory device of the crossbar cells. ``None`` constants come from the technology table."""

    kind: Annotated[DeviceKind, Field(description="Cell technology: rram, sram or mram.")] = "rram"
    bits_per_cell: Annotated[int, Field(ge=1, le=8, description="Weight bits per cell.")] = 4
    read_energy_fj: Annotated[
        float | None,
        Field(gt=0, description="Energy of one cell read at full conductance/level, fJ, at 0.9 V."),
    ] = None
    cell_area_f2: Annotated[
        float | None, Field(gt=0, description="Cell area in F^2 (F = node).")
    ] = None
    on_off_ratio: Annotated[
        float | None, Field(gt=1, description="Ratio of highest to lowest cell conductance.")
    ] = None
    write_energy_pj: Annotated[
        float | None, Field(gt=0, description="Energy to program one cell, pJ.")
    ] = None
    write_latency_ns: Annotated[
        float | None, Field(gt=0, description="Time to program one crossbar row, ns.")
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


class Macro(StrictModel):
    """A crossbar macro with its peripherals."""

    kind: Annotated[
        MacroKind, Field(description="analog (ADC readout) or digital (adder-tree readout).")
    ] = "analog"
    rows: Annotated[int, Field(ge=8, le=4096, description="Crossbar rows (wordlines).")] = 256
    cols: Annotated[int, Field(ge=8, le=4096, description="Crossbar columns (bitlines).")] = 256
    adc_bits: Annotated[
        int, Field(ge=1, le=14, description="ADC resolution in bits (analog macros).")
    ] = 8
    cols_per_adc: Annotated[
        int, Field(ge=1, le=256, description="Columns multiplexed onto one ADC.")
    ] = 8
    input_bits_per_cycle: Annotated[
        int, Field(ge=1, le=8, description="Input bits applied per cycle (DAC resolution).")
    ] = 1
    combine_weight_bits: Annotated[
        bool,
        Field(
            description="Analog macros: the bit-columns of one weight are merged in the analog "
            "domain (binary-weighted charge sharing, C-2C ladder) before a single conversion, "
            "so cols_per_adc counts bit-columns of whole weights."
        ),
    ] = False
    readout: Annotated[
        Readout,
        Field(
            description="Column readout: sar, flash or integrate_fire ADCs (analog macros) or "
            "adder_tree (digital macros). Default: sar for analog, adder_tree for digital."
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
            "come from the readout model.",
        ),
    ] = None
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
            "conversion (NeuRRAM-style accumulate-then-convert); 1 = convert every slice.",
        ),
    ] = 1

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
        if self.kind == "digital" and self.readout != "adder_tree":
            raise ValueError(
                f"macro.readout {self.readout!r} needs an analog macro; a digital macro reads "
                "out with 'adder_tree'"
            )
        if self.kind == "analog" and self.readout == "adder_tree":
            raise ValueError(
                "macro.readout 'adder_tree' needs macro.kind 'digital'; analog macros use "
                "'sar', 'flash' or 'integrate_fire'"
            )
        if self.input_encoding == "bit_serial" and self.input_bits_per_cycle != 1:
            raise ValueError(
                f"macro.input_encoding 'bit_serial' applies 1 bit per cycle, but "
                f"input_bits_per_cycle is {self.input_bits_per_cycle}; use 'pulse_count' or "
                "'voltage_dac'"
            )
        if self.active_rows is not None and self.active_rows > self.rows:
            raise ValueError(
                f"macro.active_rows {self.active_rows} exceeds rows={self.rows}; use at most rows"
            )
        return self


class Tile(StrictModel):
    """A tile: macros sharing an input/output buffer and a digital vector unit."""

    macros: Annotated[int, Field(ge=1, le=1024, description="Crossbar macros per tile.")] = 16
    buffer_kb: Annotated[
        float, Field(gt=0, le=65536, description="Tile activation buffer, KB.")
    ] = 64.0
    vector_lanes: Annotated[
        int,
        Field(ge=1, le=4096, description="Digital ALU lanes for non-MAC ops and dynamic matmuls."),
    ] = 16


class Router(StrictModel):
    """A router and the tiles attached to it (one tile group)."""

    tiles: Annotated[int, Field(ge=1, le=1024, description="Tiles per router.")] = 8


class Dram(StrictModel):
    """Off-chip memory, used for weight swapping and network input/output."""

    energy_pj_per_bit: Annotated[
        float | None, Field(gt=0, description="DRAM access energy, pJ/bit.")
    ] = None
    bandwidth_gb_s: Annotated[
        float, Field(gt=0, description="DRAM bandwidth, GB/s (1e9 bytes/s).")
    ] = 25.6


class Chip(StrictModel):
    """Chip level: tile groups on a mesh NoC, global buffer and operating mode."""

    tile_groups: Annotated[
        int, Field(ge=1, le=4096, description="Tile groups (routers) per chip.")
    ] = 16
    glb_kb: Annotated[float, Field(gt=0, le=1048576, description="Global buffer size, KB.")] = (
        4096.0
    )
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
        float | None, Field(gt=0, description="Designs larger than this are infeasible, mm^2.")
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

    name: Annotated[str, Field(min_length=1, description="Free-form design name.")] = "chip"
    technology: Technology = Technology()
    device: Device = Device()
    macro: Macro = Macro()
    tile: Tile = Tile()
    router: Router = Router()
    chip: Chip = Chip()
    dram: Dram = Dram()

    @model_validator(mode="after")
    def _consistent(self) -> ChipSpec:
        if self.macro.kind == "digital" and self.device.bits_per_cell != 1:
            raise ValueError(
                "device.bits_per_cell must be 1 for a digital macro (its cells hold one bit each); "
                f"got {self.device.bits_per_cell}"
            )
        if self.macro.kind == "digital" and self.device.kind == "rram":
            raise ValueError(
                "macro.kind 'digital' needs device.kind 'sram' or 'mram' (near-memory readout)"
            )
        return self

    @property
    def macros_total(self) -> int:
        """Crossbar macros on the chip."""
        return self.tile.macros * self.router.tiles * self.chip.tile_groups
