"""Fine-grained hardware parameter optimization (PIM-HLS section IV-C).

After scheduling, the array size and the interfaces per array are chosen per *tile set*:

1. In every layer group the members of each technology are sorted by computation (MACs,
   descending); tile set ``(tech, k)`` is the k-th member of every group (Fig. 4(c)), so the most
   demanding layers of all groups reuse the same tiles and one configuration serves them all.
2. Tile sets are visited bottleneck first (a set is a bottleneck where it holds the slowest member
   of a group, weighted by that group's compute cycles; the others follow by MACs). For each, every
   configuration of its technology (rows, cols in 64..512, ADCs per array in powers of two; SRAM
   arrays are digital, so only their size varies) is tried together with a few area shares, and
   the best one is kept if it lowers the total latency: O(C) trials per tile set, O(C * L) per
   pass (Fig. 4(d)). Passes repeat while they improve, at most ``max_passes``.

Area model of a tuned design (what keeps it inside the constraint): arrays of one configuration
are interchangeable between groups, arrays of different configurations are not. The untuned
arrays of a technology form a shared pool whose budget is the technology's budget from
scheduling; a tile set moved to another configuration gets a dedicated pool of ``X`` mm^2 taken
from that budget (X is one of the trial area shares). In every group a dedicated member gets the
copies that fit in X, and the shared members are duplicated as in the DP
(:func:`cimkit.pimhls.schedule.min_max_copies`) within what is left. The chip's arrays are then
at most the sum of the budgets, i.e. the constraint, and :attr:`Schedule.area_mm2` (per
configuration, the largest use over groups) never exceeds it.

Each trial re-evaluates the whole schedule (all groups, writes included) with vectorized numpy;
a tuned schedule is never slower than its input (a trial is kept only if it is strictly faster).
Changing the interfaces or sizes of non-bottleneck tile sets is allowed too (the paper tunes only
bottlenecks): a denser configuration frees area the bottleneck's copies can use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cimkit.errors import SpecError
from cimkit.pimhls.plan import Schedule, TileConfig
from cimkit.pimhls.schedule import (
    AREA_RTOL,
    Items,
    axis_piece,
    axis_piece_units,
    copies_for,
    items_from_costs,
    make_schedule,
    min_max_copies,
)
from cimkit.pimhls.technology import ARRAY_SIZES, PimTechnology, technologies
from cimkit.specs.chip import ChipSpec
from cimkit.workload.table import Workload

#: Area shares tried for a re-configured tile set, relative to its current footprint.
FOOTPRINT_SHARES: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
#: ... and relative to the area of one copy of its largest member.
BASE_SHARES: tuple[float, ...] = (1.0, 2.0, 4.0)


@dataclass
class _Tables:
    """Every item's costs under every configuration of its technology, padded to (n, C)."""

    configs: list[tuple[TileConfig, ...]]  # per pool
    n_choices: np.ndarray  # (P,)
    arrays: np.ndarray
    cpv: np.ndarray
    write: np.ndarray
    energy: np.ndarray
    array_area: np.ndarray


def _tables(
    items: Items,
    techs: Mapping[str, PimTechnology],
    rows: Iterable[int],
    cols: Iterable[int],
    adcs: Iterable[int] | None,
) -> _Tables:
    n = len(items)
    configs = []
    for pool in items.pools:
        tech = techs[pool]
        defaults = {items.tile[k] for k in range(n) if items.pools[items.pool[k]] == pool}
        if defaults != {tech.default}:
            raise SpecError(f"tuning starts from the default {pool} arrays, found {defaults}")
        configs.append(tech.choices(rows, cols, adcs))
    width = max(len(c) for c in configs)
    out = {k: np.zeros((n, width)) for k in ("arrays", "cpv", "write", "energy", "array_area")}
    for p, pool in enumerate(items.pools):
        idx = np.flatnonzero(items.pool == p)
        table = techs[pool].layer_costs([items.layers[k] for k in idx], configs[p])
        c = len(configs[p])
        # Padding repeats the default column so any index is safe; trials never use it.
        pad = np.r_[np.arange(c), np.zeros(width - c, dtype=np.int64)]
        out["arrays"][idx] = table.arrays[pad].T
        out["cpv"][idx] = table.cycles_per_vector[pad].T
        out["write"][idx] = table.write_cycles[pad].T
        out["energy"][idx] = table.write_energy_pj[pad].T
        out["array_area"][idx] = table.array_area_mm2[pad][None, :]
    return _Tables(
        configs=configs,
        n_choices=np.array([len(c) for c in configs]),
        arrays=out["arrays"].astype(np.int64),
        cpv=out["cpv"].astype(np.int64),
        write=out["write"].astype(np.int64),
        energy=out["energy"],
        array_area=out["array_area"],
    )


def tile_sets(items: Items, groups: Sequence[tuple[int, int]]) -> tuple[np.ndarray, list]:
    """Tile set of every item: (n,) set index and the list of (pool, rank) per set.

    Rank k of a pool in a group is its k-th member by MACs (descending, ties by order).
    """
    of = np.full(len(items), -1, dtype=np.int64)
    sets: dict[tuple[int, int], int] = {}
    for p, i in groups:
        for pool in range(len(items.pools)):
            members = [k for k in range(p, i) if items.pool[k] == pool]
            members.sort(key=lambda k: (-int(items.macs[k]), k))
            for rank, k in enumerate(members):
                of[k] = sets.setdefault((pool, rank), len(sets))
    return of, list(sets)


class _Evaluator:
    """Latency of the schedule's groups for a batch of tile-set configurations (vectorized)."""

    def __init__(
        self,
        items: Items,
        groups: Sequence[tuple[int, int]],
        caps: np.ndarray,
        tab: _Tables,
        max_copies: int | None = None,
    ) -> None:
        self.items, self.caps, self.tab = items, caps, tab
        self.max_copies = max_copies
        self.set_of, self.sets = tile_sets(items, groups)
        self.set_pool = np.array([pool for pool, _ in self.sets], dtype=np.int64)
        self.n_groups = len(groups)
        width = max(i - p for p, i in groups)
        slot = np.full((len(groups), width), -1, dtype=np.int64)
        for g, (p, i) in enumerate(groups):
            slot[g, : i - p] = np.arange(p, i)
        self.slot_mask = slot >= 0
        self.slot = np.where(self.slot_mask, slot, 0)
        self.resident = len(groups) == 1

    def run(self, set_cfg: np.ndarray, set_cap: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate B states: ``set_cfg`` (B, S) choice per tile set (0 = default, shared pool),
        ``set_cap`` (B, S) dedicated budget (mm^2, ignored for 0). Returns total cycles (B,),
        ok (B,), group cycles T (B, G), configuration per item (B, n)."""
        it, tab = self.items, self.tab
        b_size, n = set_cfg.shape[0], len(it)
        cfg = set_cfg[:, self.set_of]  # (B, n)
        cap = set_cap[:, self.set_of]
        ded = cfg != 0
        rows = np.arange(n)[None, :]
        arrays = tab.arrays[rows, cfg]
        cpv = tab.cpv[rows, cfg]
        base = arrays * tab.array_area[rows, cfg]
        v = it.vectors[None, :]

        shared_caps = np.repeat(self.caps[None, :], b_size, axis=0).astype(np.float64)
        for p in range(len(it.pools)):
            in_pool = (self.set_pool == p)[None, :] & (set_cfg != 0)
            shared_caps[:, p] -= np.where(in_pool, set_cap, 0.0).sum(axis=1)
        ok = (shared_caps >= -AREA_RTOL * self.caps.max()).all(axis=1)
        shared_caps = np.maximum(shared_caps, 0.0)

        with np.errstate(divide="ignore", invalid="ignore"):
            fit = np.floor(cap * (1 + AREA_RTOL) / base)
        most = v if self.max_copies is None else np.minimum(v, self.max_copies)
        ded_copies = np.clip(np.nan_to_num(fit), 0, most).astype(np.int64)
        ok &= ~(ded & (ded_copies < 1)).any(axis=1)
        ded_lat = np.where(ded, -(-v // np.maximum(ded_copies, 1)) * cpv, 0)

        g, w = self.slot.shape
        gather = self.slot[None, :, :]
        bidx = np.arange(b_size)[:, None, None]
        mask = self.slot_mask[None] & ~ded[bidx, gather]
        t_shared, ok_shared = min_max_copies(
            np.broadcast_to(it.vectors[self.slot], (b_size, g, w)).reshape(-1, w),
            cpv[bidx, gather].reshape(-1, w),
            base[bidx, gather].reshape(-1, w),
            np.broadcast_to(it.pool[self.slot], (b_size, g, w)).reshape(-1, w),
            mask.reshape(-1, w),
            np.repeat(shared_caps, g, axis=0),
            self.max_copies,
        )
        ok &= ok_shared.reshape(b_size, g).all(axis=1)
        t_ded = np.where(self.slot_mask[None], ded_lat[bidx, gather], 0).max(axis=2)
        t_group = np.maximum(t_shared.reshape(b_size, g), t_ded)
        write = 0 if self.resident else tab.write[rows, cfg].sum(axis=1)
        total = t_group.sum(axis=1) + write
        return {"total": total, "ok": ok, "t": t_group, "cfg": cfg, "cpv": cpv, "arrays": arrays}

    def footprints(self, state: dict[str, np.ndarray], b: int = 0) -> np.ndarray:
        """(S,) largest area a tile set's member uses over groups in state row ``b`` (mm^2)."""
        it, tab = self.items, self.tab
        cfg = state["cfg"][b]
        t_item = np.zeros(len(it), dtype=np.int64)
        for g in range(self.n_groups):
            t_item[self.slot[g][self.slot_mask[g]]] = state["t"][b, g]
        copies = copies_for(it.vectors, state["cpv"][b], t_item)
        area = copies * state["arrays"][b] * tab.array_area[np.arange(len(it)), cfg]
        out = np.zeros(len(self.sets))
        np.maximum.at(out, self.set_of, area)
        return out

    def priority(self, state: dict[str, np.ndarray], b: int = 0) -> list[int]:
        """Tile sets bottleneck first (by the compute cycles they hold), then by MACs."""
        it = self.items
        weight = np.zeros(len(self.sets))
        macs = np.zeros(len(self.sets))
        np.add.at(macs, self.set_of, it.macs.astype(np.float64))
        cpv = state["cpv"][b]
        for g in range(self.n_groups):
            members = self.slot[g][self.slot_mask[g]]
            t = state["t"][b, g]
            copies = copies_for(it.vectors[members], cpv[members], t)
            lat = -(-it.vectors[members] // copies) * cpv[members]
            weight[self.set_of[members[int(np.argmax(lat))]]] += t
        return sorted(range(len(self.sets)), key=lambda s: (-weight[s], -macs[s], s))


def tune_items(
    items: Items,
    groups: Sequence[tuple[int, int]],
    caps: np.ndarray,
    techs: Mapping[str, PimTechnology],
    *,
    rows: Iterable[int] = ARRAY_SIZES,
    cols: Iterable[int] = ARRAY_SIZES,
    adcs: Iterable[int] | None = None,
    max_passes: int = 2,
    max_copies: int | None = None,
) -> tuple[Items, dict[tuple[int, int], np.ndarray], dict[str, str]]:
    """Tune the tile sets of a scheduled item sequence.

    Returns the items re-costed with their tuned configurations, the copies of every group and
    notes (trials, passes, tuned sets, cycles before/after).
    """
    tab = _tables(items, techs, list(rows), list(cols), None if adcs is None else list(adcs))
    ev = _Evaluator(items, groups, caps, tab, max_copies)
    n_sets = len(ev.sets)
    cfg = np.zeros((1, n_sets), dtype=np.int64)
    cap = np.zeros((1, n_sets))
    state = ev.run(cfg, cap)
    start = int(state["total"][0])
    best = start
    trials = passes = 0
    for _ in range(max_passes):
        passes += 1
        improved = False
        for s in ev.priority(state):
            pool = int(ev.set_pool[s])
            members = np.flatnonzero(ev.set_of == s)
            footprint = ev.footprints(state)[s]
            cand_cfg, cand_cap = [0], [0.0]
            others = (ev.set_pool == pool) & (cfg[0] != 0) & (np.arange(n_sets) != s)
            budget = float(caps[pool]) - float(cap[0, others].sum())
            for c in range(1, int(tab.n_choices[pool])):
                one = float((tab.arrays[members, c] * tab.array_area[members, c]).max())
                shares = {one * f for f in BASE_SHARES} | {footprint * f for f in FOOTPRINT_SHARES}
                for x in sorted(shares):
                    if one <= x <= budget * (1 + AREA_RTOL):
                        cand_cfg.append(c)
                        cand_cap.append(x)
            batch_cfg = np.repeat(cfg, len(cand_cfg), axis=0)
            batch_cap = np.repeat(cap, len(cand_cfg), axis=0)
            batch_cfg[:, s] = cand_cfg
            batch_cap[:, s] = cand_cap
            result = ev.run(batch_cfg, batch_cap)
            trials += len(cand_cfg)
            total = np.where(result["ok"], result["total"], np.iinfo(np.int64).max)
            k = int(np.argmin(total))
            if total[k] < best:
                best = int(total[k])
                cfg, cap = batch_cfg[k : k + 1].copy(), batch_cap[k : k + 1].copy()
                state = ev.run(cfg, cap)
                improved = True
        if not improved:
            break

    tuned = _retile(items, tab, state["cfg"][0])
    copies = {}
    for g, (p, i) in enumerate(groups):
        idx = np.arange(p, i)
        copies[(p, i)] = copies_for(tuned.vectors[idx], tuned.cpv[idx], int(state["t"][0, g]))
    changed = sorted({(ev.sets[s][0], ev.sets[s][1]) for s in np.flatnonzero(cfg[0] != 0)})
    notes = {
        "tuned": "true",
        "tuning_trials": str(trials),
        "tuning_passes": str(passes),
        "tuning_sets": str(n_sets),
        "tuning_changed_sets": str(len(changed)),
        "cycles_before_tuning": str(start),
        "dedicated_pools_mm2": json.dumps(
            {
                f"{items.pools[ev.set_pool[s]]}#{ev.sets[s][1]}": float(cap[0, s])
                for s in np.flatnonzero(cfg[0] != 0)
            }
        ),
    }
    return tuned, copies, notes


def _retile(items: Items, tab: _Tables, cfg: np.ndarray) -> Items:
    """``items`` with every item's configuration ``cfg`` (choice index) and its costs."""
    rows = np.arange(len(items))
    return Items(
        layers=items.layers,
        names=items.names,
        piece=items.piece,
        pieces=items.pieces,
        tile=tuple(tab.configs[items.pool[k]][cfg[k]] for k in rows),
        pools=items.pools,
        pool=items.pool,
        arrays=tab.arrays[rows, cfg],
        array_area=tab.array_area[rows, cfg],
        vectors=items.vectors,
        cpv=tab.cpv[rows, cfg],
        write_cycles=tab.write[rows, cfg],
        write_energy_pj=tab.energy[rows, cfg],
        macs=items.macs,
        axis=items.axis,
    )


def _items_of(schedule: Schedule, workload: Workload, techs: Mapping[str, PimTechnology]):
    """Rebuild the scheduled items (default configurations) and groups of ``schedule``."""
    by_name = {layer.name: layer for layer in workload.layers}
    layers, names, piece, pieces, tech_of, axis = [], [], [], [], [], []
    groups, start = [], 0
    for group in schedule.groups:
        for m in group.members:
            if m.layer not in by_name:
                raise SpecError(f"schedule layer {m.layer!r} is not in workload {workload.name!r}")
            layer = by_name[m.layer]
            units = axis_piece_units(layer, m.pieces, m.split_axis)[m.piece]
            layers.append(axis_piece(layer, units, m.split_axis))
            axis.append(m.split_axis)
            names.append(m.layer)
            piece.append(m.piece)
            pieces.append(m.pieces)
            tech_of.append(m.tile.tech)
        groups.append((start, start + len(group.members)))
        start += len(group.members)
    pools = [t for t in techs if t in set(tech_of)]
    costs = [None] * len(layers)
    for t in pools:
        idx = [k for k, x in enumerate(tech_of) if x == t]
        table = techs[t].layer_costs([layers[k] for k in idx])
        for col, k in enumerate(idx):
            costs[k] = (table, 0, col)
    items = items_from_costs(layers, names, piece, pieces, tech_of, costs, pools, axis)
    return items, groups


def tune(
    schedule: Schedule,
    workload: Workload,
    *,
    base: ChipSpec | None = None,
    rows: Iterable[int] = ARRAY_SIZES,
    cols: Iterable[int] = ARRAY_SIZES,
    adcs: Iterable[int] | None = None,
    max_passes: int = 2,
    max_copies: int | None = None,
) -> Schedule:
    """Fine-grained parameter optimization of a schedule's tile sets (PIM-HLS section IV-C).

    Args:
        schedule: a schedule made by :func:`~cimkit.pimhls.schedule.schedule_dp` (or greedy or
            exhaustive) from ``workload`` and ``base``; its groups are kept.
        workload: the scheduled network.
        base: the spec the schedule was made with (node, voltage, clock, DRAM).
        rows, cols: array sizes to try; adcs: interfaces per array to try (default: every power
            of two allowed by the array's columns; digital SRAM arrays keep one per column).
        max_passes: passes over the tile sets (each O(C * L) trials).
        max_copies: bound on the copies of one piece (None: its input vectors).

    Returns:
        The tuned schedule: total cycles never above the input's, area within its budget.
    """
    tech_names = list(dict.fromkeys(m.tile.tech for g in schedule.groups for m in g.members))
    techs = technologies(tech_names, base)
    items, groups = _items_of(schedule, workload, techs)
    budgets = json.loads(schedule.notes.get("tech_budgets_mm2", "{}"))
    if not budgets:
        budgets = {t: schedule.area_budget_mm2 / len(items.pools) for t in items.pools}
    caps = np.array([float(budgets[p]) for p in items.pools])
    tuned, copies, notes = tune_items(
        items,
        groups,
        caps,
        techs,
        rows=rows,
        cols=cols,
        adcs=adcs,
        max_passes=max_passes,
        max_copies=max_copies,
    )
    out = make_schedule(
        tuned,
        groups,
        copies,
        caps,
        network=schedule.network,
        area_mm2=schedule.area_budget_mm2,
        cycle_time_ns=schedule.cycle_time_ns,
        notes={**schedule.notes, **notes},
        max_copies=max_copies,
    )
    if out.cycles < schedule.cycles:
        return out
    return replace(schedule, notes={**schedule.notes, **notes, "tuning_changed_sets": "0"})
