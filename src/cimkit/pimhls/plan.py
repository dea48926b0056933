"""The PIM-HLS plan: what the optimizer decides and what the generator builds.

The optimizer (:mod:`cimkit.pimhls.schedule` and friends) turns a workload and an area budget into
a :class:`Schedule`; the generator (:mod:`cimkit.codegen`) turns a :class:`Schedule` plus integer
weights into Verilog and an instruction stream. Time is counted in cycles of one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TileConfig:
    """Hardware parameters of the arrays serving one layer (one tile set).

    Attributes:
        tech: memory technology of the arrays, 'sram' or 'rram'.
        rows, cols: array size (cells).
        adcs: interfaces (ADCs for analog readout) per array; a column group of
            ``cols / adcs`` columns shares one interface.
    """

    tech: str
    rows: int
    cols: int
    adcs: int


@dataclass(frozen=True)
class LayerPlacement:
    """One layer (or one piece of a split layer) inside a layer group.

    Attributes:
        layer: workload layer name.
        piece, pieces: index and count of the pieces a layer too large for the budget was split
            into along its output channels (0 and 1 when not split).
        tile: the arrays' configuration.
        arrays: arrays holding one copy of this piece's weights.
        copies: copies (duplication) of those arrays; input vectors are split among copies.
        vectors: input vectors (output positions) the piece processes.
        cycles_per_vector: cycles one array copy needs per input vector.
        compute_cycles: ``ceil(vectors / copies) * cycles_per_vector``.
        write_cycles: cycles to write this piece's weights (all copies) into its arrays.
        area_mm2: area of the arrays (all copies) with their peripherals.
    """

    layer: str
    piece: int
    pieces: int
    tile: TileConfig
    arrays: int
    copies: int
    vectors: int
    cycles_per_vector: int
    compute_cycles: int
    write_cycles: int
    area_mm2: float


@dataclass(frozen=True)
class LayerGroup:
    """Layers mapped onto the accelerator at the same time and executed as a pipeline.

    Latency of a group = ``write_cycles`` (weights written before computing) + ``compute_cycles``
    (the slowest member, pipeline assumption of PIM-HLS section IV-C).
    """

    members: tuple[LayerPlacement, ...]

    @property
    def write_cycles(self) -> int:
        return sum(m.write_cycles for m in self.members)

    @property
    def compute_cycles(self) -> int:
        return max((m.compute_cycles for m in self.members), default=0)

    @property
    def cycles(self) -> int:
        return self.write_cycles + self.compute_cycles

    @property
    def area_mm2(self) -> float:
        return sum(m.area_mm2 for m in self.members)


@dataclass(frozen=True)
class Schedule:
    """A complete runtime weight schedule: layer groups executed one after another.

    Attributes:
        network: workload name.
        groups: layer groups in execution order.
        area_budget_mm2: the area constraint the schedule was made for.
        cycle_time_ns: clock period.
        notes: how it was made (e.g. 'dp', 'greedy', 'exhaustive') and options.
    """

    network: str
    groups: tuple[LayerGroup, ...]
    area_budget_mm2: float
    cycle_time_ns: float
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return sum(g.cycles for g in self.groups)

    @property
    def latency_s(self) -> float:
        return self.cycles * self.cycle_time_ns * 1e-9

    @property
    def area_mm2(self) -> float:
        """Area of the hardware: the largest group's arrays (groups reuse the same tiles)."""
        return max((g.area_mm2 for g in self.groups), default=0.0)
