"""The PIM-HLS optimizer end to end: technology selection, scheduling, parameter tuning.

:func:`optimize` runs the three steps of the paper's optimization stage (Fig. 2(a)):

1. Technology selection (section IV-A): with one technology every crossbar layer uses it; with
   SRAM and RRAM, every candidate of the criteria (:mod:`cimkit.pimhls.assignment`) is scheduled
   under several splits of the area constraint between the two technologies (the SRAM share in
   ``splits`` plus the split proportional to each technology's weights), and the fastest
   (assignment, split) wins; ties keep the first found.
2. Scheduling (section IV-B): the DP of :mod:`cimkit.pimhls.schedule` (or the greedy baseline).
3. Parameter tuning (section IV-C): :mod:`cimkit.pimhls.tuning`, when ``tune`` is true.

:func:`schedule_table` and :func:`hardware_table` turn a :class:`~cimkit.pimhls.plan.Schedule`
into tidy tables for reports and the CLI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cimkit.errors import InfeasibleDesignError, SpecError
from cimkit.pimhls.assignment import CRITERIA, criteria_candidates
from cimkit.pimhls.dfg import build_dfg, fused_add_layers, schedule_order
from cimkit.pimhls.plan import Schedule
from cimkit.pimhls.schedule import (
    Items,
    Mapper,
    default_budgets,
    dp_groups,
    dp_groups_axes,
    greedy_groups,
    interval_costs,
    make_schedule,
)
from cimkit.pimhls.technology import ARRAY_SIZES, TECHS, PimTechnology, technologies
from cimkit.pimhls.tuning import tune_items
from cimkit.specs.chip import ChipSpec
from cimkit.workload.table import Workload

#: SRAM shares of the area constraint tried for heterogeneous designs.
DEFAULT_SPLITS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

Method = Literal["dp", "greedy"]


def _solve(
    items: Items, caps: np.ndarray, method: Method, limits: tuple[int | None, int | None]
) -> tuple[list[tuple[int, int]], int]:
    max_copies, max_members = limits
    if method == "dp":
        return dp_groups(items, caps, max_copies, max_members)
    if method == "greedy":
        groups = greedy_groups(items, caps, max_members)
        starts, ends = np.array(groups).T
        t, write, _ = interval_costs(items, caps, starts, ends, max_copies)
        return groups, int((t + write).sum())
    raise SpecError(f"unknown scheduling method {method!r}; allowed: dp, greedy")


def _budget_options(
    mapper: Mapper, assignment: Sequence[str], area_mm2: float, splits: Iterable[float]
) -> list[dict[str, float]]:
    used = list(dict.fromkeys(assignment))
    if len(used) == 1:
        return [{used[0]: float(area_mm2)}]
    if len(used) > 2:
        raise SpecError("heterogeneous designs support two technologies")
    first, second = (t for t in TECHS if t in used)
    options = [default_budgets(mapper, assignment, area_mm2)]
    options += [{first: area_mm2 * r, second: area_mm2 * (1 - r)} for r in splits]
    return options


@dataclass
class _Best:
    """The fastest design of one kind found by the search."""

    cycles: int
    assignment: tuple[str, ...]
    source: str
    items: Items
    caps: np.ndarray
    groups: list[tuple[int, int]]


@dataclass
class _Search:
    """Result of technology selection + scheduling for one workload and constraint."""

    workload: Workload
    area_mm2: float
    techs: tuple[str, ...]
    mapper: Mapper
    tech_models: dict[str, PimTechnology]
    method: str
    best: dict[str, _Best]  # kind ('sram', 'rram' or 'mixed') -> best of that kind
    evaluated: int
    limits: tuple[int | None, int | None]  # (max_copies, max_members)

    def schedule(
        self,
        b: _Best,
        copies: Mapping[tuple[int, int], Sequence[int]] | None = None,
        items: Items | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Schedule:
        """The plan of design ``b``; tuning passes its re-costed ``items`` and ``copies``."""
        notes = {
            "method": self.method,
            "techs": ",".join(self.techs),
            "assignment": "".join(t[0].upper() for t in b.assignment),
            "assignment_source": b.source,
            "candidates_evaluated": str(self.evaluated),
            "unscheduled_rows": str(len(build_dfg(self.workload).digital_layers)),
            "tuned": "false",
            **(extra or {}),
        }
        return make_schedule(
            items if items is not None else b.items,
            b.groups,
            copies,
            b.caps,
            network=self.workload.name,
            area_mm2=self.area_mm2,
            cycle_time_ns=self.mapper.cycle_time_ns,
            notes=notes,
            max_copies=self.limits[0],
        )

    def overall(self) -> _Best:
        """The fastest design of all kinds (the first kind found on a tie)."""
        return min(self.best.values(), key=lambda b: b.cycles)


def _mapper(workload: Workload, techs: Sequence[str], base: ChipSpec | None) -> Mapper:
    """Cost tables of the workload's crossbar layers on ``techs`` (shared by searches)."""
    return Mapper(
        schedule_order(workload),
        technologies(tuple(dict.fromkeys(techs)), base),
        fused_add_layers(workload),
    )


def _caps(mapper: Mapper, assign: Sequence[str], budgets: Mapping[str, float]) -> np.ndarray:
    """Pool budgets in the pool order of ``Mapper.items`` (TECHS order, then the rest)."""
    pools = [t for t in TECHS if t in set(assign)] + sorted(set(assign) - set(TECHS))
    return np.array([budgets[p] for p in pools], dtype=np.float64)


def _search(
    workload: Workload,
    area_mm2: float,
    techs: Sequence[str],
    base: ChipSpec | None,
    method: Method,
    criteria: Sequence[str],
    splits: Iterable[float],
    limits: tuple[int | None, int | None] = (None, None),
    input_splits: bool | str = False,
    mapper: Mapper | None = None,
) -> _Search:
    """Technology selection + scheduling: every candidate assignment and budget split."""
    if not (math.isfinite(area_mm2) and area_mm2 > 0):  # inf would "fit" any design
        raise SpecError(f"area budget must be a finite number > 0 mm^2, got {area_mm2}")
    if input_splits not in (True, False, "joint"):
        raise SpecError(f"input_splits must be True, False or 'joint', got {input_splits!r}")
    techs = tuple(dict.fromkeys(techs))
    if mapper is None:
        mapper = _mapper(workload, techs, base)
    tech_models = mapper.techs
    layers = list(mapper.layers)
    if len(techs) == 1:
        candidates = [((techs[0],) * len(layers), "homogeneous")]
    else:
        table = criteria_candidates(layers, list(tech_models.values()), criteria)
        merged: dict[tuple[str, ...], list[str]] = {}
        for crit, assign in zip(table["criterion"], table["assignment"], strict=True):
            merged.setdefault(assign, []).append(crit)
        candidates = [(a, ";".join(dict.fromkeys(c))) for a, c in merged.items()]
    splits = tuple(splits)
    best: dict[str, _Best] = {}
    error: InfeasibleDesignError | None = None
    evaluated = 0
    for assign, source in candidates:
        kind = assign[0] if len(set(assign)) == 1 else "mixed"
        for budgets in _budget_options(mapper, assign, area_mm2, splits):
            if input_splits == "joint" and method == "dp":
                # The split axis of every oversized layer chosen jointly with the grouping.
                try:
                    items, groups, cycles = dp_groups_axes(
                        mapper, assign, budgets, _caps(mapper, assign, budgets), *limits
                    )
                except InfeasibleDesignError as exc:
                    error = exc
                    continue
                caps = np.array([budgets[p] for p in items.pools])
                evaluated += 1
                if kind not in best or cycles < best[kind].cycles:
                    best[kind] = _Best(cycles, assign, source, items, caps, groups)
                continue
            options = []
            try:
                options.append(mapper.items(assign, budgets))
            except InfeasibleDesignError as exc:
                error = exc
            if input_splits:
                # Input-channel pieces where they take less area (or where no output piece
                # fits): scheduled as a second item list, the faster of the two kept, so
                # allowing them never loses to output-only splitting.
                try:
                    alt = mapper.items(assign, budgets, input_splits=True)
                    if alt.axis:
                        options.append(alt)
                except InfeasibleDesignError as exc:
                    error = exc
            for items in options:
                caps = np.array([budgets[p] for p in items.pools])
                groups, cycles = _solve(items, caps, method, limits)
                evaluated += 1
                if kind not in best or cycles < best[kind].cycles:
                    best[kind] = _Best(cycles, assign, source, items, caps, groups)
    if not best:
        raise error or InfeasibleDesignError(f"no design fits {area_mm2} mm^2")
    return _Search(workload, area_mm2, techs, mapper, tech_models, method, best, evaluated, limits)


def _tuned(
    search: _Search,
    rows: Iterable[int],
    cols: Iterable[int],
    adcs: Iterable[int] | None,
    passes: int,
) -> Schedule:
    """Tune the best design of every kind and keep the fastest tuned one."""
    rows, cols = tuple(rows), tuple(cols)  # iterated once per kind
    adcs = None if adcs is None else tuple(adcs)
    out: Schedule | None = None
    for b in sorted(search.best.values(), key=lambda b: b.cycles):
        items, copies, notes = tune_items(
            b.items,
            b.groups,
            b.caps,
            search.tech_models,
            rows=rows,
            cols=cols,
            adcs=adcs,
            max_passes=passes,
            max_copies=search.limits[0],
        )
        sched = search.schedule(b, copies, items, notes)
        if out is None or sched.cycles < out.cycles:
            out = sched
    assert out is not None
    return out


def optimize(
    workload: Workload,
    area_mm2: float,
    techs: Sequence[str] = TECHS,
    tune: bool = True,
    base: ChipSpec | None = None,
    *,
    method: Method = "dp",
    criteria: Sequence[str] = CRITERIA,
    splits: Iterable[float] = DEFAULT_SPLITS,
    rows: Iterable[int] = ARRAY_SIZES,
    cols: Iterable[int] = ARRAY_SIZES,
    adcs: Iterable[int] | None = None,
    tune_passes: int = 2,
    max_copies: int | None = None,
    max_members: int | None = None,
    input_splits: bool | str = True,
) -> Schedule:
    """Optimize a PIM accelerator and its runtime weight schedule for ``workload``.

    Args:
        workload: the network (its crossbar layers are scheduled, see :mod:`cimkit.pimhls.dfg`).
        area_mm2: area constraint on the PIM arrays with their peripherals, mm^2.
        techs: 'sram', 'rram' or both (heterogeneous: layers choose by the criteria).
        tune: run the fine-grained parameter optimization after scheduling (-SP); False gives
            the scheduling-only design (-S). With several technologies the best scheduled design
            of each kind (all-SRAM, all-RRAM, mixed) is tuned and the fastest kept, so a
            heterogeneous -SP design is never slower than a homogeneous one.
        base: spec of node, voltage, clock and DRAM (default :class:`ChipSpec`); see
            :func:`cimkit.pimhls.technology.get_technology` for the array templates.
        method: 'dp' (Algorithm 1) or 'greedy' (the no-scheduling baseline: groups as large as
            fit).
        criteria: criteria generating heterogeneous candidates.
        splits: SRAM shares of ``area_mm2`` tried for heterogeneous candidates.
        rows, cols, adcs, tune_passes: tuning choices (see :func:`cimkit.pimhls.tuning.tune`).
        max_copies, max_members: optional bounds on copies per piece and pieces per group (the
            Verilog generator accepts at most 63 and 16); None = unbounded.
        input_splits: also cut oversized layers along input channels where the pieces take
            less area or no output-channel piece fits (each candidate is scheduled both ways,
            the faster kept). ``"joint"``: choose every layer's axis jointly with the grouping
            (:func:`cimkit.pimhls.schedule.dp_groups_axes`, exact, ~10x slower on
            heterogeneous searches; DP only, greedy keeps the two-way rule). Pass False for a
            plan meant for the Verilog generator, which builds output-channel pieces only.

    Returns:
        The best :class:`Schedule`; ``notes`` record the method, assignment (one letter per
        crossbar layer in schedule order), the criteria that produced it, the technology
        budgets and the tuning statistics.

    Raises:
        InfeasibleDesignError: no candidate fits (the message of the last failure names the
            layer, its smallest piece and the budget).
    """
    from cimkit.pimhls.pipeline import with_pipeline

    limits = (max_copies, max_members)
    search = _search(
        workload, area_mm2, techs, base, method, criteria, splits, limits, input_splits
    )
    if not tune:
        best = search.schedule(search.overall())
    else:
        best = _tuned(search, rows, cols, adcs, tune_passes)
    # The groups' latency as the pipelined hardware runs them (fill, drain, pools, controller).
    return with_pipeline(best, workload)


def optimize_levels(
    workload: Workload,
    area_mm2: float,
    techs: Sequence[str] = TECHS,
    base: ChipSpec | None = None,
    *,
    criteria: Sequence[str] = CRITERIA,
    splits: Iterable[float] = DEFAULT_SPLITS,
    tune_passes: int = 2,
    max_copies: int | None = None,
    max_members: int | None = None,
    input_splits: bool | str = True,
) -> dict[str, Schedule]:
    """The three designs of the paper's ablation for one constraint, sharing their searches:
    'G' (greedy grouping), 'S' (DP scheduling) and 'SP' (DP + parameter tuning), each as
    :func:`optimize` would return it."""
    from cimkit.pimhls.pipeline import with_pipeline

    limits = (max_copies, max_members)
    # One mapper for both searches: its cost tables and split pieces are costed once.
    args = (criteria, splits, limits, input_splits, _mapper(workload, techs, base))
    greedy = _search(workload, area_mm2, techs, base, "greedy", *args)
    dp = _search(workload, area_mm2, techs, base, "dp", *args)
    levels = {
        "G": greedy.schedule(greedy.overall()),
        "S": dp.schedule(dp.overall()),
        "SP": _tuned(dp, ARRAY_SIZES, ARRAY_SIZES, None, tune_passes),
    }
    return {k: with_pipeline(s, workload) for k, s in levels.items()}


def schedule_table(schedule: Schedule) -> pd.DataFrame:
    """One row per placement (layer piece in a group), groups in execution order.

    Columns: group, start_cycle (of the group), layer, piece, pieces, split_axis ('out' or
    'in'), tech, rows, cols, adcs,
    arrays (one copy), copies, vectors, cycles_per_vector, compute_cycles, write_cycles,
    area_mm2 (all copies), write_energy_pj, bottleneck (sets the group's compute time),
    group_compute_cycles, group_write_cycles, group_fill_cycles (pipeline fill and drain, pools,
    controller: :mod:`cimkit.pimhls.pipeline`), group_cycles (their sum), group_area_mm2.
    """
    rows, start = [], 0
    for g, group in enumerate(schedule.groups):
        slow = group.bottleneck
        for m in group.members:
            rows.append(
                {
                    "group": g,
                    "start_cycle": start,
                    "layer": m.layer,
                    "piece": m.piece,
                    "pieces": m.pieces,
                    "split_axis": m.split_axis,
                    "tech": m.tile.tech,
                    "rows": m.tile.rows,
                    "cols": m.tile.cols,
                    "adcs": m.tile.adcs,
                    "arrays": m.arrays,
                    "copies": m.copies,
                    "vectors": m.vectors,
                    "cycles_per_vector": m.cycles_per_vector,
                    "compute_cycles": m.compute_cycles,
                    "write_cycles": m.write_cycles,
                    "area_mm2": m.area_mm2,
                    "write_energy_pj": m.write_energy_pj,
                    "bottleneck": m is slow,
                    "group_compute_cycles": group.compute_cycles,
                    "group_write_cycles": group.write_cycles,
                    "group_fill_cycles": group.fill_cycles,
                    "group_cycles": group.cycles,
                    "group_area_mm2": group.area_mm2,
                }
            )
        start += group.cycles
    return pd.DataFrame(rows)


def hardware_table(schedule: Schedule) -> pd.DataFrame:
    """The arrays the chip needs: one row per array configuration (tech, rows, cols, adcs,
    arrays, area_mm2), see :meth:`Schedule.hardware`."""
    return pd.DataFrame(
        [
            {
                "tech": t.tech,
                "rows": t.rows,
                "cols": t.cols,
                "adcs": t.adcs,
                "arrays": n,
                "area_mm2": a,
            }
            for t, n, a in schedule.hardware()
        ],
        columns=["tech", "rows", "cols", "adcs", "arrays", "area_mm2"],
    )


def schedule_summary(schedule: Schedule) -> dict[str, object]:
    """Scalar figures of a schedule (one row of a sweep table)."""
    return {
        "cycles": schedule.cycles,
        "latency_s": schedule.latency_s,
        "compute_cycles": sum(g.compute_cycles for g in schedule.groups),
        "write_cycles": sum(g.write_cycles for g in schedule.groups),
        "fill_cycles": sum(g.fill_cycles for g in schedule.groups),
        "groups": len(schedule.groups),
        "input_pieces": sum(m.split_axis == "in" for g in schedule.groups for m in g.members),
        "area_mm2": schedule.area_mm2,
        "write_energy_pj": schedule.write_energy_pj,
        "assignment": schedule.notes.get("assignment", ""),
        "tech_budgets_mm2": json.loads(schedule.notes.get("tech_budgets_mm2", "{}")),
    }
