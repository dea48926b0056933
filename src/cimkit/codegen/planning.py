"""A simple rule-based :class:`~cimkit.pimhls.plan.Schedule` maker and the plan's cycle estimate.

:func:`plan_for` lets users (and tests) generate hardware without the PIM-HLS optimizer: they
choose the layer groups, splits and copies; array counts, cycles and areas follow fixed rules
(below). Conventions shared with the optimizer and the generator:

* A layer split into ``n`` pieces along output channels gives piece ``i`` channels
  ``[i*K//n, (i+1)*K//n)`` (:func:`piece_channels`), never empty while n <= K.
* A piece's weight matrix has ``in_len = C * kh * kw`` rows (in-features for linear; for a grouped
  conv ``kh * kw`` times the input channels of the piece's groups) and one
  column per output channel of the piece.
* Writing weights: every array has its own row driver, so a piece is written in
  ``min(in_len, rows)`` *row steps* (:func:`write_ops`): step ``s`` writes row ``s`` of every
  array of every copy at once (copies hold the same weights). This is the optimizer's rule
  (``cimkit.pimhls.technology``: "every crossbar programs its used rows one at a time, all
  crossbars in parallel"). The generator sets the step latency to
  ``round(programming cycles / row steps)`` (at least 1): a plan whose write cycles follow this
  rule is reproduced exactly.

Rules of :func:`plan_for` (documented defaults, override per call):

* arrays = ``ceil(in_len / rows) * ceil(piece_channels / cols)``
* cycles_per_vector: SRAM, bit-serial digital: ``act_bits`` (1 input bit a cycle); RRAM:
  ``ceil(act_bits / 2) * ceil(min(cols, piece_channels) / adcs)`` (2-bit DACs, columns sharing
  an ADC convert in turn).
* write_cycles = ``write_ops * row_write_cycles`` (row steps x SRAM 1, RRAM 4 cycles a step).
* area_mm2 = ``arrays * copies * rows * cols * cell_area`` (a rough placeholder: SRAM 0.3 um^2,
  RRAM 0.05 um^2 a cell, peripherals ignored); the generator ignores areas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cimkit.codegen.lowering import LayerGeometry, mac_chain, piece_slice
from cimkit.errors import CimkitError
from cimkit.pimhls.plan import LayerGroup, LayerPlacement, Schedule, TileConfig, piece_range
from cimkit.workload import Workload

#: Default cycles to write one weight row, by technology.
ROW_WRITE_CYCLES: dict[str, int] = {"sram": 1, "rram": 4}
#: Placeholder cell areas (um^2) for :func:`plan_for`'s area field.
CELL_AREA_UM2: dict[str, float] = {"sram": 0.3, "rram": 0.05}

PieceKey = str | tuple[str, int]


def piece_channels(out_channels: int, piece: int, pieces: int) -> tuple[int, int]:
    """Output-channel range ``[start, stop)`` of piece ``piece`` of ``pieces`` (balanced split)."""
    if not 0 <= piece < pieces or pieces > out_channels:
        raise CimkitError(
            f"piece {piece} of {pieces} is invalid for a layer with {out_channels} channels"
        )
    return piece_range(out_channels, piece, pieces)


def write_ops(geom: LayerGeometry, copies: int, rows: int | None = None, piece: int = 0,
              pieces: int = 1, axis: str = "out") -> int:  # fmt: skip
    """Row steps the hardware takes to write one piece into ``copies`` copies of ``rows``-row
    arrays: ``min(in_len, rows)`` (all arrays program a row at once; copies get each step by
    broadcast, so the count does not grow with ``copies``). ``rows=None``: one array tall enough
    for the whole piece (``in_len`` steps). ``axis``: the split axis ('out' or 'in'); an input
    piece of a flattening linear layer counts its in-features."""
    del copies  # kept in the signature: callers describe a piece by (geometry, copies)
    sl = piece_slice(geom, piece, pieces, axis)
    in_len = sl.f_hi - sl.f_lo if sl.f_hi > sl.f_lo else sl.in_len
    return in_len if rows is None else min(in_len, rows)


def estimate_cycles(schedule: Schedule) -> int:
    """Latency the plan predicts: sum over groups of write cycles + the slowest member's compute
    + the group's ``fill_cycles`` (pipeline fill and drain, pools, controller; set by
    :func:`plan_for` and the optimizer through :func:`cimkit.pimhls.pipeline.with_pipeline`,
    0 in a hand-built schedule, which then gets PIM-HLS's bare pipeline assumption).
    Compare it with simulated cycles.
    """
    # The generated program always writes the weights (once, for a resident plan), so the
    # estimate counts programming cycles, not the per-inference write cycles.
    return sum(
        sum(m.programming_cycles for m in g.members) + g.compute_cycles + g.fill_cycles
        for g in schedule.groups
    )


def cycle_error(simulated: int, estimated: int) -> float:
    """Relative error ``(simulated - estimated) / estimated`` of the plan's estimate."""
    return (simulated - estimated) / estimated


def _lookup(value: object, key: tuple[str, int], default: object) -> object:
    """A per-piece option: a scalar, or a mapping keyed by (layer, piece) or layer name."""
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        return value.get(key[0], default)
    return default if value is None else value


def plan_for(
    workload: Workload,
    groups: Sequence[Sequence[PieceKey]] | None = None,
    *,
    rows: int = 32,
    cols: int = 32,
    adcs: int | None = None,
    tech: str | Mapping[str, str] = "sram",
    copies: int | Mapping[PieceKey, int] = 1,
    pieces: Mapping[str, int] | None = None,
    axes: Mapping[str, str] | None = None,
    cycles_per_vector: int | Mapping[PieceKey, int] | None = None,
    row_write_cycles: int | Mapping[PieceKey, int] | None = None,
    cycle_time_ns: float = 1.0,
    area_budget_mm2: float = float("inf"),
) -> Schedule:
    """A valid :class:`Schedule` for ``workload`` from explicit choices and simple rules.

    Args:
        workload: a chain of linear/conv layers (see :mod:`cimkit.codegen.lowering`).
        groups: layer groups in execution order; an entry is a layer name (all its pieces) or
            ``(name, piece)``. Default: every layer in one group.
        rows, cols: array size (cells) for every placement.
        adcs: ADCs per array (RRAM timing); default ``cols // 8`` (at least 1).
        tech: 'sram' or 'rram', for all layers or per layer name.
        copies: copies per placement: one int, or a mapping by layer name or (name, piece).
        pieces: number of pieces per layer (default 1, or as many as ``groups`` names with
            tuples), along output channels unless ``axes`` says otherwise.
        axes: split axis per layer name: 'out' (default) or 'in' (input-channel pieces, each a
            partial sum of all output channels; their sum is requantized by the last piece).
        cycles_per_vector, row_write_cycles: overrides of the timing rules (module docstring).
        cycle_time_ns: clock period recorded in the schedule.
        area_budget_mm2: recorded in the schedule (not enforced).

    Returns:
        A schedule whose placements follow the rules in the module docstring.
    """
    chain = {g.name: g for g in mac_chain(workload)}
    order = list(chain)
    if groups is None:
        groups = [order]
    n_pieces = dict(pieces or {})
    for grp in groups:
        for entry in grp:
            if isinstance(entry, tuple):
                name, idx = entry
                n_pieces[name] = max(n_pieces.get(name, 1), idx + 1)
    seen: set[tuple[str, int]] = set()
    built = []
    for grp in groups:
        members = []
        for entry in grp:
            keys = (
                [entry]
                if isinstance(entry, tuple)
                else [(entry, i) for i in range(n_pieces.get(entry, 1))]
            )
            for name, idx in keys:
                if name not in chain:
                    raise CimkitError(f"group entry {name!r} is not a MAC layer; layers: {order}")
                if (name, idx) in seen:
                    raise CimkitError(f"piece {idx} of layer {name!r} is placed twice")
                seen.add((name, idx))
                members.append(
                    _placement(
                        chain[name],
                        idx,
                        n_pieces.get(name, 1),
                        rows=rows,
                        cols=cols,
                        adcs=adcs,
                        tech=str(_lookup(tech, (name, idx), "sram")),
                        axis=str((axes or {}).get(name, "out")),
                        copies=int(_lookup(copies, (name, idx), 1)),
                        cpv=_lookup(cycles_per_vector, (name, idx), None),
                        rwc=_lookup(row_write_cycles, (name, idx), None),
                    )
                )
        built.append(LayerGroup(tuple(members)))
    missing = [(n, i) for n in order for i in range(n_pieces.get(n, 1)) if (n, i) not in seen]
    if missing:
        raise CimkitError(f"pieces not placed in any group: {missing}")
    from cimkit.pimhls.pipeline import with_pipeline

    plan = Schedule(
        network=workload.name,
        groups=tuple(built),
        area_budget_mm2=area_budget_mm2,
        cycle_time_ns=cycle_time_ns,
        notes={"method": "codegen.plan_for"},
    )
    return with_pipeline(plan, workload)


def _placement(
    geom: LayerGeometry,
    piece: int,
    pieces: int,
    *,
    rows: int,
    cols: int,
    adcs: int | None,
    tech: str,
    copies: int,
    cpv: object,
    rwc: object,
    axis: str = "out",
) -> LayerPlacement:
    if tech not in ROW_WRITE_CYCLES:
        raise CimkitError(f"tech {tech!r} is not one of {sorted(ROW_WRITE_CYCLES)}")
    if copies < 1:
        raise CimkitError(f"layer {geom.name!r}: copies must be >= 1, got {copies}")
    if axis not in ("out", "in"):
        raise CimkitError(f"axes[{geom.name!r}]={axis!r}: use 'out' or 'in'")
    sl = piece_slice(geom, piece, pieces, axis)
    width = sl.width
    n_adc = max(1, cols // 8) if adcs is None else adcs
    if geom.groups > 1 and geom.kh * geom.kw * geom.cin_group <= rows and geom.cout_group <= cols:
        # Grouped conv: group blocks packed block-diagonally, `pack` groups an array.
        pack = min(rows // (geom.kh * geom.kw * geom.cin_group), cols // geom.cout_group)
        arrays = -(-(sl.width // geom.cout_group) // pack)
    else:
        arrays = -(-sl.in_len // rows) * -(-width // cols)
    if cpv is None:
        if tech == "sram":
            cpv = geom.act_bits
        else:
            cpv = -(-geom.act_bits // 2) * -(-min(cols, width) // n_adc)
    cpv = int(cpv)  # type: ignore[arg-type]
    per_row = ROW_WRITE_CYCLES[tech] if rwc is None else int(rwc)  # type: ignore[arg-type]
    return LayerPlacement(
        layer=geom.name,
        piece=piece,
        pieces=pieces,
        tile=TileConfig(tech=tech, rows=rows, cols=cols, adcs=n_adc),
        arrays=arrays,
        copies=copies,
        vectors=geom.vectors,
        cycles_per_vector=cpv,
        compute_cycles=-(-geom.vectors // copies) * cpv,
        write_cycles=write_ops(geom, copies, rows, piece, pieces, axis) * per_row,
        area_mm2=arrays * copies * rows * cols * CELL_AREA_UM2[tech] * 1e-6,
        split_axis=axis,
    )
