"""The PIM-HLS plan: what the optimizer decides and what the generator builds.

The optimizer (:mod:`cimkit.pimhls.schedule` and friends) turns a workload and an area budget into
a :class:`Schedule`; the generator (:mod:`cimkit.codegen`) turns a :class:`Schedule` plus integer
weights into Verilog and an instruction stream. Time is counted in cycles of one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def piece_range(units: int, piece: int, pieces: int) -> tuple[int, int]:
    """Units ``[start, stop)`` of piece ``piece`` of ``pieces`` when ``units`` output channels (or
    convolution groups) are split as evenly as possible: ``[i * U // n, (i + 1) * U // n)``.

    The one split convention of the optimizer and the Verilog generator.
    """
    return piece * units // pieces, (piece + 1) * units // pieces


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
            into along its output channels (0 and 1 when not split). Piece ``i`` of ``n`` holds
            output channels ``[i * K // n, (i + 1) * K // n)`` (whole convolution groups
            ``[i * g // n, (i + 1) * g // n)`` for a grouped conv), as in
            :func:`cimkit.pimhls.schedule.piece_units` and ``cimkit.codegen.planning``.
        tile: the arrays' configuration.
        arrays: arrays holding one copy of this piece's weights.
        copies: copies (duplication) of those arrays; input vectors are split among copies.
        vectors: input vectors (output positions) the piece processes.
        cycles_per_vector: cycles one array copy needs per input vector.
        compute_cycles: ``ceil(vectors / copies) * cycles_per_vector``.
        write_cycles: cycles to write this piece's weights (all copies) into its arrays; 0 when
            the schedule is resident (one group, weights written once at deployment). The
            optimizer charges the DRAM load of the weights once (copies are written from the
            same stream) plus the row-by-row programming of one array (all arrays program in
            parallel), like the cost model's weight swapping.
        area_mm2: area of the arrays (all copies) with their peripherals.
        write_energy_pj: energy to program this piece's cells in all copies (0 when the weights
            stay resident, see :attr:`Schedule.resident`). Added after the first contract;
            defaults to 0 so older constructors still work.
        program_cycles: cycles to write this piece's weights when the hardware programs them,
            also for a resident schedule (where it happens once, at deployment, and
            ``write_cycles`` is 0). 0 means "same as write_cycles" (constructors that predate
            the field). Read :attr:`programming_cycles`.
        split_axis: 'out' (pieces hold output channels, above) or 'in': piece ``i`` of ``n``
            reads input channels ``[i * C // n, (i + 1) * C // n)`` (in-features of a linear
            layer) and produces a partial sum of all output channels; the layer's output is the
            sum of its pieces' outputs. Added with input-channel splitting (issue 12); the
            Verilog generator accepts only 'out'.
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
    write_energy_pj: float = 0.0
    program_cycles: int = 0
    split_axis: str = "out"

    @property
    def programming_cycles(self) -> int:
        """Cycles the hardware spends writing this piece's weights (deployment or swap)."""
        return self.program_cycles or self.write_cycles


@dataclass(frozen=True)
class LayerGroup:
    """Layers mapped onto the accelerator at the same time and executed as a pipeline.

    Latency of a group = ``write_cycles`` (weights written before computing) + ``compute_cycles``
    (the slowest member, pipeline assumption of PIM-HLS section IV-C) + ``fill_cycles``.

    Attributes:
        members: the placements.
        fill_cycles: cycles the pipelined hardware takes beyond programming + the slowest
            member's compute: fill and drain of the pipeline, pools, global-buffer copies and
            the controller (:func:`cimkit.pimhls.pipeline.group_cycles`). 0 until
            :func:`cimkit.pimhls.pipeline.with_pipeline` sets it.
    """

    members: tuple[LayerPlacement, ...]
    fill_cycles: int = 0

    @property
    def write_cycles(self) -> int:
        return sum(m.write_cycles for m in self.members)

    @property
    def compute_cycles(self) -> int:
        return max((m.compute_cycles for m in self.members), default=0)

    @property
    def cycles(self) -> int:
        return self.write_cycles + self.compute_cycles + self.fill_cycles

    @property
    def area_mm2(self) -> float:
        return sum(m.area_mm2 for m in self.members)

    @property
    def bottleneck(self) -> LayerPlacement | None:
        """The member that sets ``compute_cycles`` (the first one on a tie); None when empty."""
        return max(self.members, key=lambda m: m.compute_cycles, default=None)

    def area_by_tile(self) -> dict[TileConfig, float]:
        """Area of the arrays this group uses per array configuration (mm^2)."""
        out: dict[TileConfig, float] = {}
        for m in self.members:
            out[m.tile] = out.get(m.tile, 0.0) + m.area_mm2
        return out

    def arrays_by_tile(self) -> dict[TileConfig, int]:
        """Arrays (copies included) this group uses per array configuration."""
        out: dict[TileConfig, int] = {}
        for m in self.members:
            out[m.tile] = out.get(m.tile, 0) + m.arrays * m.copies
        return out


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
    def resident(self) -> bool:
        """True for a single group: its weights are written once at deployment and stay, so no
        write time is charged per inference (``write_cycles`` are 0)."""
        return len(self.groups) == 1

    def hardware(self) -> tuple[tuple[TileConfig, int, float], ...]:
        """The arrays the chip must have: (configuration, arrays, area mm^2) per configuration.

        Arrays of one configuration are interchangeable between groups (every group rewrites the
        weights it needs), so the chip needs, per configuration, the largest number any group
        uses. Arrays of different configurations (technology, size or interfaces) are different
        hardware and cannot stand in for each other. Sorted by configuration.
        """
        arrays: dict[TileConfig, int] = {}
        area: dict[TileConfig, float] = {}
        for g in self.groups:
            for tile, n in g.arrays_by_tile().items():
                arrays[tile] = max(arrays.get(tile, 0), n)
            for tile, a in g.area_by_tile().items():
                area[tile] = max(area.get(tile, 0.0), a)
        keys = sorted(arrays, key=lambda t: (t.tech, t.rows, t.cols, t.adcs))
        return tuple((t, arrays[t], area[t]) for t in keys)

    @property
    def area_mm2(self) -> float:
        """Area of the PIM arrays on chip: per configuration, the largest use over groups, summed.

        For a homogeneous, untuned schedule (one configuration) this is the largest group's area.
        With several configurations (heterogeneous technologies, tuned tile sets) it can exceed
        the largest group, because one configuration's arrays cannot host another's layers.
        """
        return sum(a for _, _, a in self.hardware())

    @property
    def write_energy_pj(self) -> float:
        """Energy to program the weights of one inference (pJ; 0 when resident)."""
        return sum(m.write_energy_pj for g in self.groups for m in g.members)
