"""Coarse-grained PIM technology selection per layer (PIM-HLS section IV-A, Eq. 1).

Each criterion pairs a demand of every layer (``Cl_i``) with a capability of every technology
(``Cr_a``):

========== ========================================== =========================================
criterion  layer demand Cl_i                          technology capability Cr_a
========== ========================================== =========================================
memory     weight bits (weights x weight_bits)        density, weight bits per mm^2
computation MACs                                      MACs per cycle per mm^2
ratio      weight bits / MACs                         density / (MACs per cycle per mm^2)
========== ========================================== =========================================

Capabilities come from :meth:`cimkit.pimhls.technology.PimTechnology.summary` (one full array of
the default configuration, 8-bit weights and activations). A candidate assignment satisfies Eq. 1,
``(Cr_a - Cr_b)(Cl_i - Cl_j) >= 0`` for every pair of layers i, j assigned a, b: the layers sorted
by demand (descending) receive the technologies sorted by capability (descending) in contiguous
runs. With K technologies and L layers there are C(L + K - 1, K - 1) such runs per criterion, i.e.
L + 1 for SRAM + RRAM (the top t layers get the denser / more capable technology, t = 0..L), which
is the paper's O(L^(K-1)). Layers with equal demand are ordered by their position in the network
(stable sort), so exactly one assignment is produced per run length. Candidates of the three
criteria are pooled and de-duplicated (the two homogeneous assignments belong to every criterion).

:func:`assignment_pareto` checks the criteria against brute force (all K^L assignments) on small
networks: every assignment is evaluated as a resident design (area = one copy of every layer on
its technology, the pool budgets being those areas) and scheduled by the same DP, giving one
(area, latency) point; the Pareto front of these points is compared with the criteria's candidates
(the paper's Fig. 3).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations_with_replacement, product

import numpy as np
import pandas as pd

from cimkit.errors import SpecError, WorkloadError
from cimkit.pimhls.dfg import build_dfg, is_crossbar, schedule_order
from cimkit.pimhls.schedule import Mapper, dp_groups
from cimkit.pimhls.technology import TECHS, PimTechnology, technologies
from cimkit.specs.chip import ChipSpec
from cimkit.workload.layer import Layer
from cimkit.workload.table import Workload

#: The criteria of section IV-A, in the paper's order.
CRITERIA: tuple[str, ...] = ("memory", "computation", "ratio")


def layer_demands(layers: Sequence[Layer]) -> pd.DataFrame:
    """Demands of each crossbar layer: memory (weight bits), computation (MACs) and their ratio."""
    memory = np.array([layer.weights * layer.weight_bits for layer in layers], dtype=np.float64)
    macs = np.array([layer.macs for layer in layers], dtype=np.float64)
    return pd.DataFrame(
        {
            "layer": [layer.name for layer in layers],
            "memory": memory,
            "computation": macs,
            "ratio": memory / np.maximum(macs, 1.0),
        }
    )


def tech_capabilities(techs: Sequence[PimTechnology]) -> pd.DataFrame:
    """Capabilities of each technology's default array for the three criteria."""
    rows = []
    for tech in techs:
        s = tech.summary().iloc[0]
        rows.append(
            {
                "tech": tech.name,
                "memory": s["density_bits_per_mm2"],
                "computation": s["macs_per_cycle_per_mm2"],
                "ratio": s["density_bits_per_mm2"] / s["macs_per_cycle_per_mm2"],
            }
        )
    return pd.DataFrame(rows)


def criterion_candidates(
    demand: Sequence[float], capability: Sequence[float], techs: Sequence[str]
) -> list[tuple[str, ...]]:
    """Every assignment satisfying Eq. 1 for one criterion, one technology name per layer.

    Layers sorted by ``demand`` (descending, stable) get technologies sorted by ``capability``
    (descending, stable) in contiguous runs: C(L + K - 1, K - 1) assignments, ordered by the run
    lengths of the most capable technology first (descending).
    """
    n, k = len(demand), len(techs)
    if len(capability) != k:
        raise SpecError(f"{len(capability)} capabilities for {k} technologies")
    layer_order = sorted(range(n), key=lambda i: -demand[i])
    tech_order = [techs[a] for a in sorted(range(k), key=lambda a: -capability[a])]
    out = []
    # A run layout is a non-decreasing sequence of K-1 cut positions in 0..n.
    for cuts in combinations_with_replacement(range(n, -1, -1), k - 1):
        bounds = [0, *sorted(cuts), n]
        assign = [""] * n
        for a, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            for pos in range(lo, hi):
                assign[layer_order[pos]] = tech_order[a]
        out.append(tuple(assign))
    return out


def criteria_candidates(
    layers: Sequence[Layer],
    techs: Sequence[PimTechnology],
    criteria: Sequence[str] = CRITERIA,
) -> pd.DataFrame:
    """Candidates of every criterion (tidy, one row per criterion x run layout).

    Columns: criterion, index (position within the criterion), assignment (tuple of technology
    names per layer), and one ``n_<tech>`` count per technology. Duplicates across criteria are
    kept here; :func:`candidate_assignments` pools them.
    """
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown:
        raise SpecError(f"unknown criteria {unknown}; allowed: {', '.join(CRITERIA)}")
    demand = layer_demands(layers)
    caps = tech_capabilities(techs)
    names = [t.name for t in techs]
    rows = []
    for crit in criteria:
        cands = criterion_candidates(demand[crit].tolist(), caps[crit].tolist(), names)
        for i, assign in enumerate(cands):
            row = {"criterion": crit, "index": i, "assignment": assign}
            for t in names:
                row[f"n_{t}"] = sum(a == t for a in assign)
            rows.append(row)
    return pd.DataFrame(rows)


def candidate_assignments(
    layers: Sequence[Layer],
    techs: Sequence[PimTechnology],
    criteria: Sequence[str] = CRITERIA,
) -> list[tuple[str, ...]]:
    """The pooled, de-duplicated candidates of the criteria, in criterion order."""
    table = criteria_candidates(layers, techs, criteria)
    return list(dict.fromkeys(table["assignment"]))


def all_assignments(n_layers: int, techs: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Brute force: all K^L assignments (the first layer varies slowest)."""
    return product(tuple(techs), repeat=n_layers)


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for points no other point dominates (both minimized; equal points are all kept)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    le = (x[None, :] <= x[:, None]) & (y[None, :] <= y[:, None])
    lt = (x[None, :] < x[:, None]) | (y[None, :] < y[:, None])
    return ~(le & lt).any(axis=1)


def evaluate_resident(mapper: Mapper, assignment: Sequence[str]) -> tuple[float, int]:
    """(area mm^2, cycles) of an assignment as a resident design scheduled by the DP.

    The pool budgets are the areas of one copy of each technology's layers, so nothing is split
    and the single resident group is always feasible; the DP may still prefer several groups.
    """
    budgets: dict[str, float] = {}
    for j, tech in enumerate(assignment):
        budgets[tech] = budgets.get(tech, 0.0) + float(mapper.one_copy_area(tech)[j])
    items = mapper.items(assignment, budgets)
    caps = np.array([budgets[p] for p in items.pools])
    _, cycles = dp_groups(items, caps)
    return sum(budgets.values()), cycles


def first_crossbar_layers(workload: Workload, n: int) -> Workload:
    """The workload cut after its ``n``-th crossbar layer in topological order (all rows up to
    it, residual branches included), e.g. a ResNet-18 slice for brute-force checks."""
    dfg = build_dfg(workload)
    rows, seen = [], 0
    for layer in dfg.layers:
        rows.append(layer)
        seen += is_crossbar(layer)
        if seen == n:
            break
    if seen < n:
        raise WorkloadError(f"workload {workload.name!r} has only {seen} crossbar layers, not {n}")
    return Workload(f"{workload.name}[:{n}]", tuple(rows))


def assignment_pareto(
    workload: Workload,
    techs: Sequence[str] = TECHS,
    base: ChipSpec | None = None,
    criteria: Sequence[str] = CRITERIA,
    max_layers: int = 12,
) -> pd.DataFrame:
    """Brute force over all K^L assignments versus the criteria's candidates (the paper's Fig. 3).

    Args:
        workload: a small network (at most ``max_layers`` crossbar layers; see
            :func:`first_crossbar_layers` to cut one).
        techs: technologies; base: spec of node, clock and DRAM.
        criteria: criteria whose candidates are marked.

    Returns:
        One row per assignment: ``assignment`` (technology initials joined, in schedule order,
        e.g. 'RSSR...'), ``n_<tech>`` counts, ``area_mm2`` (resident arrays), ``cycles`` and
        ``latency_s`` (DP schedule at that area), ``pareto`` (on the latency/area front) and
        ``criteria`` (';'-joined criteria that generate it, '' if none).
    """
    layers = schedule_order(workload)
    if len(layers) > max_layers:
        raise SpecError(
            f"brute force over {len(techs)}^{len(layers)} assignments is limited to "
            f"{max_layers} layers; cut the network with first_crossbar_layers()"
        )
    tech_models = technologies(techs, base)
    mapper = Mapper(layers, tech_models)
    names = list(tech_models)
    cands = criteria_candidates(layers, list(tech_models.values()), criteria)
    source: dict[tuple[str, ...], list[str]] = {}
    for crit, assign in zip(cands["criterion"], cands["assignment"], strict=True):
        source.setdefault(assign, [])
        if crit not in source[assign]:
            source[assign].append(crit)
    rows = []
    for assign in all_assignments(len(layers), names):
        area, cycles = evaluate_resident(mapper, assign)
        row = {"assignment": "".join(t[0].upper() for t in assign)}
        for t in names:
            row[f"n_{t}"] = sum(a == t for a in assign)
        row.update(
            area_mm2=area,
            cycles=cycles,
            latency_s=cycles * mapper.cycle_time_ns * 1e-9,
            criteria=";".join(source.get(assign, [])),
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["pareto"] = pareto_mask(frame["area_mm2"].to_numpy(), frame["cycles"].to_numpy())
    return frame


def pareto_summary(frame: pd.DataFrame, criteria: Sequence[str] = CRITERIA) -> pd.DataFrame:
    """Per criterion: candidates, how many lie on the Pareto front, and the share of the front
    they cover (from :func:`assignment_pareto`)."""
    front = int(frame["pareto"].sum())
    rows = []
    for crit in criteria:
        mine = frame["criteria"].str.split(";").apply(lambda cs, c=crit: c in cs)
        on = int((mine & frame["pareto"]).sum())
        rows.append(
            {
                "criterion": crit,
                "candidates": int(mine.sum()),
                "on_front": on,
                "front_size": front,
                "share_of_candidates_on_front": on / max(int(mine.sum()), 1),
                "share_of_front_covered": on / max(front, 1),
            }
        )
    return pd.DataFrame(rows)
