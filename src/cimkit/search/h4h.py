"""H4H-NAS search: regularized (aging) evolution maximising accuracy under a latency or an
energy budget on an NPU + CIM system, swept over budgets and systems (§4.2, §5, §6.3).

* Hardware: every genome's layer table at the paper's ImageNet geometry
  (:meth:`~cimkit.accuracy.h4h_space.H4HGenome.table`) on each system of :data:`SYSTEMS`
  (a U55 and 0/1/4/8 MRAM macros with 1 or 4 compute units), with the optimal per-layer split
  for the search's objective (:func:`cimkit.hetero.model.evaluate_system`); cached per genome.
* Accuracy: a predictor fitted on measured subnets (:mod:`cimkit.accuracy.h4h_predictor`).
* Evolution (Real et al. 2019, the paper's ref. [49]): a population of feasible genomes; each
  cycle draws a tournament sample, mutates one gene of its best into a child, discards it if it
  breaks the budget, adds it and removes the oldest member. The best feasible genome seen is
  the search's answer.

Headline metrics (:func:`reductions`, the definition the paper leaves open, notes A9.5): on the
best-accuracy frontiers A (baseline) and B, the cost B needs for an accuracy A reaches, on a
uniform accuracy grid over the range both cover, as ``1 - cost_B / cost_A``: mean ("average
reduction") and max ("up to"); and at each budget, the accuracy gained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cimkit.accuracy.h4h_space import (
    H4HGenome,
    H4HSupernetConfig,
    SpaceChoices,
    gene_choices,
    genome_from_values,
    genome_values,
)

#: Systems of the paper's comparisons: name -> (macros, compute units per macro).
SYSTEMS: dict[str, tuple[int, int]] = {
    "npu": (0, 1),
    "npu+1": (1, 1),
    "npu+4": (4, 1),
    "npu+8": (8, 1),
    "npu+1x4cu": (1, 4),
    "npu+4x4cu": (4, 4),
    "npu+8x4cu": (8, 4),
}
OBJECTIVES = ("latency", "energy")

Log = Callable[[str], None]


def system_designs(base: object, names: list[str], objective: str) -> object:
    """SystemDesigns of ``names`` on the base system spec (its NPU, NoC, macro timing), with the
    macros / compute units of :data:`SYSTEMS` and the partition minimising ``objective``."""
    from cimkit.hetero.model import SystemDesigns
    from cimkit.specs.system import SystemSpec

    b: SystemSpec = base  # type: ignore[assignment]
    specs = []
    for n in names:
        m, cu = SYSTEMS[n]
        specs.append(b.model_copy(update={
            "cim": b.cim.model_copy(update={"macros": m, "compute_units": cu}),
            "partition": b.partition.model_copy(update={"objective": objective}),
        }))  # fmt: skip
    return SystemDesigns.from_specs(specs)


class HardwareCache:
    """Latency (s) and energy (J) of genomes on the systems ``names``, per partition objective,
    computed once per genome (canonical key)."""

    def __init__(self, base: object, names: list[str]) -> None:
        self.names = list(names)
        self.designs = {o: system_designs(base, self.names, o) for o in OBJECTIVES}
        self.cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.evaluated = 0

    def metrics(self, g: H4HGenome, objective: str) -> tuple[np.ndarray, np.ndarray]:
        """((S,) latency s, (S,) energy J) of ``g`` on the systems, split for ``objective``."""
        from cimkit.hetero.model import evaluate_system
        from cimkit.hetero.plan import build_plan

        key = (g.key(), objective)
        hit = self.cache.get(key)
        if hit is None:
            ev = evaluate_system(build_plan(g.table()), self.designs[objective], detail=False)
            hit = (ev.latency_s.copy(), ev.energy_j.copy())
            self.cache[key] = hit
            self.evaluated += 1
        return hit

    def cost(self, g: H4HGenome, system: str, objective: str) -> float:
        lat, en = self.metrics(g, objective)
        i = self.names.index(system)
        return float(lat[i] if objective == "latency" else en[i])


def mutate(g: H4HGenome, rng: np.random.Generator, space: SpaceChoices | None = None) -> H4HGenome:
    """``g`` with one gene (uniformly chosen among those with several choices in ``space``,
    default Table 1) set to another of its choices."""
    ch = gene_choices(space)
    vals = genome_values(g, canonical=False)
    multi = [i for i, (_, c) in enumerate(ch) if len(c) > 1]
    i = multi[int(rng.integers(len(multi)))]
    others = [c for c in ch[i][1] if c != vals[i]]
    vals[i] = others[int(rng.integers(len(others)))]
    return genome_from_values(vals)


@dataclass
class SearchResult:
    """Best genome of one constrained search and its trace."""

    system: str
    objective: str
    budget: float
    genome: H4HGenome | None
    fitness: float
    cost: float
    cycles: int
    infeasible: int
    history: list[float] = field(default_factory=list)
    #: the best distinct feasible genomes seen, (genome, fitness), best first (``top`` of them)
    candidates: list[tuple[H4HGenome, float]] = field(default_factory=list)


def evolve(
    fitness: Callable[[list[H4HGenome]], np.ndarray],
    cost: Callable[[H4HGenome], float],
    budget: float,
    cfg: H4HSupernetConfig,
    rng: np.random.Generator,
    population: int = 48,
    sample: int = 12,
    cycles: int = 600,
    seeds: list[H4HGenome] | None = None,
    space: SpaceChoices | None = None,
    top: int = 1,
) -> tuple[H4HGenome | None, float, float, int, list[float], list[tuple[H4HGenome, float]]]:
    """Regularized evolution (module docstring). ``fitness``: (N,) predicted accuracies of a
    list of genomes; ``cost(g)``: its latency or energy on the search's system. Returns (best
    genome or None when nothing is feasible, its fitness, its cost, infeasible children, best
    fitness after each cycle, the ``top`` best distinct feasible genomes seen with their
    fitness, best first). ``space``: the sub-space searched (default Table 1); seeds outside it
    are skipped."""
    pop: list[tuple[H4HGenome, float]] = []
    cand = [g for g in (seeds or []) if space is None or space.contains(g) is None]
    tries = 0
    while len(pop) < population and tries < 20 * population:
        g = cand.pop() if cand else cfg.random(rng, space=space)
        tries += 1
        if cost(g) <= budget:
            pop.append((g, float(fitness([g])[0])))
    if not pop:
        small = cfg.smallest()
        if space is not None and space.contains(small) is not None:
            return None, float("nan"), float("nan"), tries, [], []
        if cost(small) > budget:
            return None, float("nan"), float("nan"), tries, [], []
        pop.append((small, float(fitness([small])[0])))
    while len(pop) < population:  # a tight budget: fill with mutants of feasible members
        g = mutate(pop[int(rng.integers(len(pop)))][0], rng, space)
        tries += 1
        if cost(g) <= budget:
            pop.append((g, float(fitness([g])[0])))
        elif tries > 200 * population:
            break
    best = max(pop, key=lambda p: p[1])
    seen = {g.key(): (g, f) for g, f in pop}  # every feasible genome evaluated, by key
    infeasible, history = 0, []
    for _ in range(cycles):
        idx = rng.choice(len(pop), size=min(sample, len(pop)), replace=False)
        parent = max((pop[i] for i in idx), key=lambda p: p[1])[0]
        child = mutate(parent, rng, space)
        if cost(child) > budget:
            infeasible += 1
        else:
            f = float(fitness([child])[0])
            seen.setdefault(child.key(), (child, f))
            pop.append((child, f))
            if len(pop) > population:
                pop.pop(0)  # aging: the oldest dies, whatever its fitness
            if f > best[1]:
                best = (child, f)
        history.append(best[1])
    # best first; ties keep the order of discovery, so the answer itself leads
    bk = best[0].key()
    ranked = sorted((p for k, p in seen.items() if k != bk), key=lambda p: -p[1])
    cands = [best] + ranked[: max(0, top - 1)]
    return best[0], best[1], cost(best[0]), infeasible, history, cands


def budgets_for(costs: np.ndarray, n: int) -> np.ndarray:
    """``n`` budgets geometrically spaced between the 5th and 95th percentile of ``costs``."""
    lo, hi = np.quantile(costs, [0.05, 0.95])
    return np.geomspace(lo, hi, n)


def sweep(
    hw: HardwareCache,
    fitness: Callable[[list[H4HGenome]], np.ndarray],
    cfg: H4HSupernetConfig,
    systems: list[str],
    objective: str,
    budgets: np.ndarray,
    seed: int = 0,
    log: Log = print,
    **kw: Any,
) -> list[SearchResult]:
    """One constrained search per (system, budget), budgets in increasing order: a search
    also starts from the answers of the smaller budgets (still feasible), so a larger budget
    never ends worse than a smaller one. ``kw`` goes to :func:`evolve` (``seeds``: extra
    starting genomes, e.g. another system's answers)."""
    out = []
    extra = list(kw.pop("seeds", None) or [])
    for si, s in enumerate(systems):
        found: list[H4HGenome] = []
        for bi, b in enumerate(sorted(float(x) for x in budgets)):
            t0 = time.time()
            rng = np.random.default_rng([seed, si, bi, OBJECTIVES.index(objective)])
            g, f, c, infeasible, hist, cands = evolve(
                fitness, lambda x, s=s: hw.cost(x, s, objective), float(b), cfg, rng,
                seeds=extra + found, **kw,
            )  # fmt: skip
            if g is not None:
                found.append(g)
            out.append(SearchResult(s, objective, float(b), g, f, c, len(hist), infeasible, hist,
                                    cands))  # fmt: skip
            log(f"{objective} {s} budget {b:.4g}: best {f:.4f} at {c:.4g} "
                f"({time.time() - t0:.0f} s, {hw.evaluated} genomes evaluated)")  # fmt: skip
    return out


def frontier(costs: np.ndarray, accs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best-accuracy frontier of points: sorted by cost, accuracy running maximum (the
    most accurate design affordable at each cost)."""
    o = np.argsort(costs, kind="stable")
    c, a = np.asarray(costs, float)[o], np.maximum.accumulate(np.asarray(accs, float)[o])
    return c, a


def reductions(
    base: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray], grid: int = 50
) -> dict[str, float]:
    """Cost reduction of frontier ``new`` over ``base`` at equal accuracy, and accuracy gain at
    equal cost (module docstring). Each frontier is (costs, accuracies) as :func:`frontier`
    returns. Returns mean / max reduction (fractions), mean / max accuracy gain (fractions) and
    the accuracy range compared."""

    def cost_at(f: tuple[np.ndarray, np.ndarray], acc: np.ndarray) -> np.ndarray:
        c, a = f
        # cheapest cost reaching each accuracy: first frontier point with a >= acc
        idx = np.searchsorted(a, acc, side="left")
        return c[np.minimum(idx, len(c) - 1)]

    def acc_at(f: tuple[np.ndarray, np.ndarray], cost: np.ndarray) -> np.ndarray:
        c, a = f
        idx = np.searchsorted(c, cost, side="right") - 1
        return np.where(idx >= 0, a[np.maximum(idx, 0)], np.nan)

    lo = max(base[1].min(), new[1].min())
    hi = min(base[1].max(), new[1].max())
    out: dict[str, float] = {"acc_lo": float(lo), "acc_hi": float(hi)}
    if hi > lo:
        accs = np.linspace(lo, hi, grid)
        red = 1.0 - cost_at(new, accs) / cost_at(base, accs)
        out["reduction_mean"] = float(red.mean())
        out["reduction_max"] = float(red.max())
    c_lo = max(base[0].min(), new[0].min())
    c_hi = min(base[0].max(), new[0].max())
    if c_hi > c_lo:
        costs = np.geomspace(c_lo, c_hi, grid)
        gain = acc_at(new, costs) - acc_at(base, costs)
        out["acc_gain_mean"] = float(np.nanmean(gain))
        out["acc_gain_max"] = float(np.nanmax(gain))
    return out


#: The systems whose chosen answers a system's selection pool inherits (when feasible on it):
#: the one with fewer macros, and for 4 compute units the 1-CU system of as many macros.
PARENTS: dict[str, tuple[str, ...]] = {
    "npu+1": ("npu",),
    "npu+4": ("npu+1",),
    "npu+8": ("npu+4",),
    "npu+1x4cu": ("npu+1",),
    "npu+4x4cu": ("npu+4", "npu+1x4cu"),
    "npu+8x4cu": ("npu+8", "npu+4x4cu"),
}


@dataclass
class Selection:
    """The answer chosen for one (system, budget) by measured validation accuracy."""

    system: str
    budget: float
    genome: H4HGenome
    val_acc: float
    #: where it came from: 'search' (this search's candidates), 'smaller budget' or a parent
    source: str
    pool: int
    #: validation accuracy of the predictor's own answer (the search's best predicted genome)
    search_val_acc: float


def select(
    results: list[SearchResult],
    score: Callable[[list[H4HGenome]], np.ndarray],
    cost: Callable[[H4HGenome, str], float],
    log: Log | None = None,
) -> list[Selection]:
    """Choose each search's answer by measured accuracy instead of predicted accuracy.

    The pool of (system ``s``, budget ``b``) is: the answers chosen for ``s``'s
    :data:`PARENTS` at ``b`` and for ``s`` at the smaller budgets, then the search's
    candidates (:attr:`SearchResult.candidates`), each kept only if ``cost(g, s) <= b``. The
    pool member of highest ``score`` (validation accuracy; ties go to the earlier member, so an
    inherited answer is kept unless something measures better) is the answer. Hence, wherever a
    parent's answer stays feasible (latency never grows with macros), the answer's validation
    accuracy is at least the parent's, and a larger budget never ends worse on validation:
    the Fig. 7 ordering holds on validation by construction and on test up to the noise
    between the two image sets. ``results`` of one objective; ``score``: (N,) accuracies;
    ``log``: one line per answer chosen.
    """
    by = {(r.system, r.budget): r for r in results}
    systems = list(dict.fromkeys(r.system for r in results))
    # parents first (the systems of one objective are listed in dependency order in PARENTS)
    order = [s for s in SYSTEMS if s in systems] + [s for s in systems if s not in SYSTEMS]
    chosen: dict[tuple[str, float], Selection] = {}
    for s in order:
        budgets = sorted({b for (sys_, b) in by if sys_ == s})
        for bi, b in enumerate(budgets):
            pool: list[tuple[H4HGenome, str]] = []
            for p in PARENTS.get(s, ()):
                if (p, b) in chosen:
                    pool.append((chosen[p, b].genome, p))
            pool += [(chosen[s, bb].genome, "smaller budget") for bb in budgets[:bi]
                     if (s, bb) in chosen]  # fmt: skip
            r = by[s, b]
            pool += [(g, "search") for g, _ in r.candidates]
            seen: set[str] = set()
            keep: list[tuple[H4HGenome, str]] = []
            for g, src in pool:
                if g.key() not in seen and cost(g, s) <= b:
                    seen.add(g.key())
                    keep.append((g, src))
            if not keep:
                continue
            acc = np.asarray(score([g for g, _ in keep]), dtype=np.float64)
            i = int(np.argmax(acc))  # the first maximum: inherited answers win ties
            own = r.genome.key() if r.genome is not None else None
            own_acc = next((float(a) for (g, _), a in zip(keep, acc, strict=True)
                            if g.key() == own), float("nan"))  # fmt: skip
            chosen[s, b] = Selection(s, b, keep[i][0], float(acc[i]), keep[i][1], len(keep),
                                     own_acc)  # fmt: skip
            if log is not None:
                log(f"{r.objective} {s} budget {b:.4g}: answer from {keep[i][1]}, validation "
                    f"{acc[i]:.4f} (predictor's pick {own_acc:.4f}, pool {len(keep)})")  # fmt: skip
    return [chosen[k] for k in sorted(chosen, key=lambda k: (order.index(k[0]), k[1]))]
