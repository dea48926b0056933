"""Genetic search on pymoo with ask/tell, the archive and the SQLite store (CIMNAS Algorithm 1).

``Search(problem, config).run()``:

1. initial population: random genomes are sampled in batches of P and evaluated until P feasible
   ones are found (all of them archived);
2. G generations: pymoo's GA (or NSGA-II) ``ask()`` proposes offspring by tournament selection,
   simulated binary crossover and polynomial mutation on the integer genome (rounded); genomes
   already in the archive are looked up, the rest are evaluated in one backend call; ``tell()``
   ranks them with constraint-domination (feasible first, then by total violation);
3. after every generation the new archive rows, the history point and the algorithm state
   (population arrays, generation counter, random generator state: no pickle) are committed in
   one SQLite transaction, so ``resume`` rebuilds the algorithm and continues exactly where the
   last committed generation ended (``n_gen`` may be raised on resume to run more generations);
4. the final designs are the best feasible ones of the whole archive.

A sub-space search (two-stage and XPert-like comparators) fixes the other genes with ``fixed``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from cimkit.errors import CimkitError, InfeasibleDesignError, SpecError
from cimkit.search.archive import Archive
from cimkit.search.backends import Backend, VectorizedBackend
from cimkit.search.objectives import (
    COL,
    MultiObjective,
    Objective,
    constraints,
    feasible,
    get_objective,
)
from cimkit.search.store import RunStore, encode_state, restore_state

ALGORITHMS = ("ga", "nsga2")
#: GA implementations: arrays (same results, less overhead) or pymoo's objects (reference).
ENGINES = ("fast", "pymoo")

#: Upper bounds of the search size, with the reason printed when one is exceeded.
MAX_POP = 100_000
MAX_GEN = 100_000
MAX_DESIGNS = 10_000_000
# Measured: the cost model evaluates a generation as (P, layers) arrays, about 58 KiB per design
# at the peak (tracemalloc, CIMNAS MobileNetV2 space); the archive keeps ~360 bytes per design.
_POP_REASON = "memory: each individual takes about 60 kB while a generation is evaluated"
_DESIGNS_REASON = (
    "memory: the archive keeps every evaluated design (about 360 bytes each, plus the store)"
)
SEED_LIMIT = 2**32  # numpy seeds are unsigned; one 32-bit word is what the CLI documents


@dataclass
class SearchConfig:
    """Hyper-parameters of one search (stored with the run; defaults = the paper's).

    Attributes:
        algorithm: 'ga' (single objective) or 'nsga2' (Pareto front of ``pareto`` metrics).
        pop_size, n_gen: P and G (G generations of offspring after the initial population).
        seed: seeds the initial sampling and pymoo's random generator.
        eta_c, eta_m: distribution indices of SBX crossover and polynomial mutation.
        p_c: crossover probability per mating; p_m: mutation probability per offspring (pymoo's
            PM then mutates each gene with probability 1/n_var).
        objective: 'edap', 'delay', 'ea' or 'priority' (with ``priority`` = (a, b, c, d)), or
            ``exponents`` for a custom E^a D^b A^c / Acc^d (comparator stages).
        pareto: metrics of NSGA-II (2 or 3 of accuracy, energy, delay, area, edap).
        subspaces: sub-spaces whose genes are searched (others fixed to ``fixed``).
        constrained: apply the fit/area/cycle constraints (False: the two-stage search's
            hardware-agnostic first stage).
        max_init_batches: give up sampling the initial population after this many batches.
    """

    algorithm: str = "ga"
    pop_size: int = 150
    n_gen: int = 70
    seed: int = 0
    eta_c: float = 3.0
    eta_m: float = 3.0
    p_c: float = 0.95
    p_m: float = 0.95
    objective: str = "edap"
    priority: tuple[float, float, float, float] | None = None
    exponents: tuple[float, float, float, float] | None = None
    pareto: tuple[str, ...] = ("accuracy", "edap")
    subspaces: tuple[str, ...] = ("model", "quantization", "hardware")
    constrained: bool = True
    max_init_batches: int = 100

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise SpecError(f"algorithm: {self.algorithm!r}; choose from {list(ALGORITHMS)}")
        flags = {"pop_size": "--pop", "n_gen": "--gen", "seed": "--seed"}
        for name in ("pop_size", "n_gen", "seed", "max_init_batches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise SpecError(f"{name}: must be an integer, got {v!r}")
        label = {k: f"{k} ({f})" for k, f in flags.items()}
        if not 2 <= self.pop_size <= MAX_POP:
            raise SpecError(
                f"{label['pop_size']}: {self.pop_size}; allowed 2..{MAX_POP:,} ({_POP_REASON})"
            )
        if not 0 <= self.n_gen <= MAX_GEN:
            raise SpecError(f"{label['n_gen']}: {self.n_gen}; allowed 0..{MAX_GEN:,}")
        if self.pop_size * (self.n_gen + 1) > MAX_DESIGNS:
            raise SpecError(
                f"--pop x (--gen + 1) = {self.pop_size * (self.n_gen + 1):,} designs; allowed "
                f"<= {MAX_DESIGNS:,} ({_DESIGNS_REASON})"
            )
        if not 0 <= self.seed < SEED_LIMIT:
            raise SpecError(f"{label['seed']}: {self.seed}; allowed 0..{SEED_LIMIT - 1}")
        if self.max_init_batches < 1:
            raise SpecError("max_init_batches: must be >= 1")
        for name in ("p_c", "p_m"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and 0 <= v <= 1):
                raise SpecError(f"{name} (--{name.replace('_', '-')}): {v}; must be in 0..1")
        for name in ("eta_c", "eta_m"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise SpecError(
                    f"{name} (--{name.replace('_', '-')}): {v}; must be a finite number > 0"
                )
        # Checked for GA too: the report ranks any run's archive by these metrics.
        MultiObjective(tuple(self.pareto))
        if self.priority is not None and self.objective != "priority":
            raise SpecError(
                f"--priority applies only with --objective priority (objective is "
                f"{self.objective!r}); drop --priority or add --objective priority"
            )
        self.score_objective()

    def score_objective(self) -> Objective:
        """The scalar score (GA objective; ranks NSGA-II's archive for the top five)."""
        if self.exponents is not None:
            a, b, c, d = self.exponents
            return Objective("custom", (a, b, c, d), "", label=f"E^{a:g} D^{b:g} A^{c:g}/Acc^{d:g}")
        return get_objective(self.objective, self.priority)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchConfig:
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise SpecError(
                f"stored search config has unknown fields {unknown} (written by another cimkit "
                "version); start the run again with --overwrite"
            )
        for k in ("priority", "exponents", "pareto", "subspaces"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class SearchResult:
    """Archive of a finished (or interrupted) search with its score objective.

    ``scores`` are inf for infeasible designs, so ``top(k)`` only returns feasible ones.
    """

    archive: Archive
    config: SearchConfig
    space: Any
    history: list[tuple[int, int, float]] = field(default_factory=list)
    n_evals: int = 0
    wall_s: float = 0.0
    name: str | None = None
    # (key, rows): every distinct feasible design's best row, best first, for the archive and
    # config named by key (see :meth:`top`).
    _ranked: tuple[tuple[Any, ...], np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def objective(self) -> Objective:
        return self.config.score_objective()

    def scores(self) -> np.ndarray:
        M = self.archive.M
        if not len(M):
            return np.zeros(0)
        s = self.objective.score(M, M[0])
        ok = feasible(M) if self.config.constrained else np.ones(len(M), bool)
        return np.where(ok, s, np.inf)

    def top(self, k: int = 5) -> np.ndarray:
        """Archive rows of the ``k`` best feasible *distinct* designs (ties: earliest first).

        Genomes that differ only in genes without effect (slots beyond a stage's depth) are one
        design, so the best of them stands for all (:func:`cimkit.space.effective.top_k_distinct`);
        otherwise a top five can be five copies of the same network and chip.
        """
        from cimkit.space.effective import top_k_distinct

        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            return top_k_distinct(self, k)  # its one-line error
        # The ranking of all distinct designs is computed once per archive and config: the
        # report, its table and the CLI ask for top(1) and top(5) of the same result (each
        # canonicalises the whole archive: ~40 ms at 11k designs). top_k_distinct ranks
        # independently of k, so top(k) is the first k of that ranking.
        key = (id(self.archive), len(self.archive), id(self.space), repr(self.config))
        if self._ranked is None or self._ranked[0] != key:
            self._ranked = (key, top_k_distinct(self, max(len(self.archive), 1)))
        return self._ranked[1][: int(k)].copy()

    def best(self) -> int:
        t = self.top(1)
        if not len(t):
            raise InfeasibleDesignError("the search found no feasible design")
        return int(t[0])

    def pareto(self, metrics: tuple[str, ...] | None = None) -> np.ndarray:
        """Archive rows of the feasible non-dominated designs for ``metrics`` (NSGA-II's)."""
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        mo = MultiObjective(tuple(metrics or self.config.pareto))
        ok = np.flatnonzero(feasible(self.archive.M))
        if not len(ok):
            return ok
        F = mo.F(self.archive.M[ok])
        front = NonDominatedSorting().do(F, only_non_dominated_front=True)
        return np.sort(ok[front])

    def frame(self) -> Any:
        """Tidy table: one row per archived design (metrics in SI columns, feasible, score,
        genes as values), columns and units as :mod:`cimkit.columns` defines them; integer
        columns are pandas Int64."""
        import pandas as pd

        from cimkit.columns import metrics_frame, typed_frame

        values = self.space.joint.decode(self.archive.X.astype(np.int64))
        data: dict[str, Any] = {"design": np.arange(len(self.archive)), "gen": self.archive.gen}
        data.update(metrics_frame(self.archive.M))
        data["feasible"] = feasible(self.archive.M)
        data["score"] = self.objective.score(self.archive.M, self.archive.M[0])
        # Whole-valued gene columns go in as int64: pandas turns int64 into Int64 about 10x
        # faster than float64 (0.3 s of an 11k-design report). Columns typed_frame leaves
        # as plain numpy ints were floats before and are turned back, so the frame is the
        # same as from the float values (test_frame_matches_the_float_reference).
        whole = set()
        for k, v in values.items():
            if np.array_equal(v, np.round(v)):
                data[k] = v.astype(np.int64)
                whole.add(k)
            else:
                data[k] = v
        frame = typed_frame(pd.DataFrame(data))
        back = [k for k in whole if frame[k].dtype == np.int64]
        if back:
            frame[back] = frame[back].astype(np.float64)
        return frame


class _Box:
    """Factory of the pymoo Problem describing the genome box (imports pymoo lazily)."""

    @staticmethod
    def make(n_var: int, n_obj: int, n_ieq: int, xu: np.ndarray) -> Any:
        from pymoo.core.problem import Problem

        return Problem(n_var=n_var, n_obj=n_obj, n_ieq_constr=n_ieq, xl=0, xu=xu, vtype=int)


class Search:
    """One search run: problem + config (+ fixed genes), archive, store and backend.

    Args:
        problem: a :class:`~cimkit.search.problem.CimnasProblem` (or anything with ``space`` and
            ``evaluate(X) -> metrics``).
        config: hyper-parameters.
        fixed: (D,) genome supplying the genes outside ``config.subspaces`` (default: baseline).
        backend: evaluation backend (default: vectorized, in process).
        store: a :class:`RunStore`; None keeps everything in memory (no resume).
        name: run name in the store.
        on_generation: called as ``fn(gen, n_evals, best)`` after each committed generation.
        on_evaluated: called as ``fn(gen)`` after a generation's evaluation, before its commit
            (tests raise KeyboardInterrupt here to simulate a kill mid-generation).
        engine: 'fast' (default) runs the GA on arrays (:mod:`cimkit.search.fastga`, the same
            random numbers and results as pymoo's GA, ~4x less overhead); 'pymoo' runs pymoo's
            GA itself (the reference the tests compare with). NSGA-II always runs on pymoo.
    """

    def __init__(
        self,
        problem: Any,
        config: SearchConfig,
        *,
        fixed: np.ndarray | None = None,
        backend: Backend | None = None,
        store: RunStore | None = None,
        name: str | None = None,
        on_generation: Callable[[int, int, float], None] | None = None,
        on_evaluated: Callable[[int], None] | None = None,
        meta: dict[str, Any] | None = None,
        engine: str = "fast",
    ) -> None:
        if engine not in ENGINES:
            raise SpecError(f"engine: {engine!r}; choose from {list(ENGINES)}")
        self.engine = engine
        self.problem = problem
        self.space = problem.space
        self.config = config
        joint = self.space.joint
        self.free = joint.indices(config.subspaces)
        if not len(self.free):
            raise SpecError(f"subspaces {config.subspaces}: no genes to search")
        self.fixed = np.asarray(
            fixed if fixed is not None else self.space.baseline_genome(), dtype=np.int64
        )
        self.backend = backend or VectorizedBackend()
        self.store = store
        self.name = name
        self.on_generation = on_generation
        self.on_evaluated = on_evaluated
        self.meta = meta or {}
        self.n_evals = 0

    # --- helpers ---------------------------------------------------------------------------
    def _full(self, Xf: np.ndarray) -> np.ndarray:
        X = np.repeat(self.fixed[None], len(Xf), axis=0)
        X[:, self.free] = Xf
        return X

    def _eval(self, X: np.ndarray) -> np.ndarray:
        return self.backend.evaluate(self.problem, X)

    def _ok(self, M: np.ndarray) -> np.ndarray:
        return feasible(M) if self.config.constrained else np.ones(len(M), bool)

    def _FG(self, M: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        cfg = self.config
        if cfg.algorithm == "nsga2":
            F = MultiObjective(tuple(cfg.pareto)).F(M)
        else:
            F = cfg.score_objective().score(M, ref)[:, None]
        F = np.where(np.isfinite(F), F, 1e300)
        return F, (constraints(M) if cfg.constrained else None)

    def _best(self, archive: Archive) -> float:
        s = self.config.score_objective().score(archive.M, archive.M[0])
        s = s[self._ok(archive.M)]
        return float(s.min()) if len(s) else float("inf")

    def _initial_population(self, archive: Archive) -> np.ndarray:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 20250])  # its own stream, independent of pymoo's
        joint = self.space.joint
        chosen: list[int] = []
        seen: set[int] = set()
        for _ in range(cfg.max_init_batches):
            Xs = joint.sample(cfg.pop_size, rng)
            Xs[:, np.setdiff1d(np.arange(joint.n_var), self.free)] = self.fixed[
                np.setdiff1d(np.arange(joint.n_var), self.free)
            ]
            M, n_new = archive.evaluate(Xs, self._eval, 0)
            self.n_evals += n_new
            rows = archive.lookup(Xs)
            for r, ok in zip(rows, self._ok(M), strict=True):
                if ok and r not in seen and len(chosen) < cfg.pop_size:
                    chosen.append(int(r))
                    seen.add(int(r))
            if len(chosen) >= cfg.pop_size:
                break
        if not chosen:
            raise InfeasibleDesignError(self._why_infeasible(archive))
        if len(chosen) < cfg.pop_size:
            # Fill with the least-violating designs; the GA's constraint handling ranks them last.
            viol = np.maximum(constraints(archive.M), 0).sum(axis=1)
            for r in np.argsort(viol, kind="stable"):
                if len(chosen) >= cfg.pop_size:
                    break
                if int(r) not in seen:
                    chosen.append(int(r))
                    seen.add(int(r))
            warnings.warn(
                f"only {len(seen)} feasible designs in {len(archive)} samples; the initial "
                "population is filled with the least-violating ones",
                stacklevel=2,
            )
        return archive.X[np.array(chosen)].astype(np.int64)

    def _why_infeasible(self, archive: Archive) -> str:
        G = constraints(archive.M)
        n = len(archive)
        area = archive.M[:, COL["area_mm2"]]
        limit = getattr(self.problem, "area_constraint_mm2", None)
        parts = []
        if (G[:, 1] > 0).all() and limit is not None:
            parts.append(
                f"hardware.area_constraint_mm2 (or --area) = {limit:g} mm^2 is below the "
                f"smallest area of "
                f"{area.min():,.1f} mm^2 seen"
            )
        if (G[:, 0] > 0).all():
            parts.append("the weights never fit on chip (weight-stationary)")
        if (G[:, 2] > 0).all():
            parts.append("the cycle time is always shorter than the readout needs")
        if not parts:
            parts.append(
                f"every design violates a constraint (fit {int((G[:, 0] > 0).sum())}, area "
                f"{int((G[:, 1] > 0).sum())}, cycle {int((G[:, 2] > 0).sum())} of {n})"
            )
        space = getattr(getattr(self.problem, "space", None), "source", None)
        where = f"{space}: " if space else ""
        return f"{where}no feasible design in {n} random samples: " + "; ".join(parts)

    def _algorithm(self, X0: np.ndarray) -> Any:
        """The set-up algorithm for the initial population ``X0`` (N, free genes)."""
        cfg = self.config
        if cfg.algorithm == "ga" and self.engine == "fast":
            from cimkit.search.fastga import FastGA

            return FastGA(
                X0,
                self.space.joint.xu[self.free],
                cfg.pop_size,
                cfg.seed,
                p_c=cfg.p_c,
                eta_c=cfg.eta_c,
                p_m=cfg.p_m,
                eta_m=cfg.eta_m,
            )
        return self._pymoo_algorithm(X0)

    def _restore(self, X0: np.ndarray, state: Any, name: str) -> Any:
        """The algorithm in a stored state (both engines write pymoo's GA state format)."""
        algo = restore_state(self._pymoo_algorithm(X0), state, name)
        if self.config.algorithm == "ga" and self.engine == "fast":
            from cimkit.search.fastga import FastGA

            return FastGA.from_pymoo(algo, self._algorithm(X0))
        return algo

    def _pymoo_algorithm(self, X0: np.ndarray) -> Any:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.algorithms.soo.nonconvex.ga import GA
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair

        cfg = self.config
        kwargs = {
            "pop_size": cfg.pop_size,
            "sampling": X0.astype(float),
            "crossover": SBX(prob=cfg.p_c, eta=cfg.eta_c, vtype=float, repair=RoundingRepair()),
            "mutation": PM(prob=cfg.p_m, eta=cfg.eta_m, vtype=float, repair=RoundingRepair()),
            "eliminate_duplicates": True,
        }
        algo = NSGA2(**kwargs) if cfg.algorithm == "nsga2" else GA(**kwargs)
        n_obj = len(cfg.pareto) if cfg.algorithm == "nsga2" else 1
        box = _Box.make(
            len(self.free), n_obj, 3 if cfg.constrained else 0, self.space.joint.xu[self.free]
        )
        algo.setup(box, seed=cfg.seed, verbose=False)
        return algo

    def _tell(self, algo: Any, pop: Any, archive: Archive, gen: int) -> None:
        fast = not hasattr(pop, "get")  # FastGA asks with an array, pymoo with a Population
        Xf = np.rint(pop if fast else pop.get("X")).astype(np.int64)
        M, n_new = archive.evaluate(self._full(Xf), self._eval, gen)
        self.n_evals += n_new
        if self.on_evaluated is not None:
            self.on_evaluated(gen)
        F, G = self._FG(M, archive.M[0])
        if fast:
            algo.tell(F, G)
            return
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        kw = {"F": F} if G is None else {"F": F, "G": G}
        Evaluator().eval(StaticProblem(algo.problem, **kw), pop)
        algo.tell(infills=pop)

    # --- the run -----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> SearchResult:
        """Run (or continue, with ``resume``) the search; returns the whole archive."""
        t0 = time.perf_counter()
        cfg, store, name = self.config, self.store, self.name
        archive = Archive(self.space.joint.n_var)
        algo, last = None, -1
        if store is not None and name is None:
            raise SpecError("a stored search needs a run name")
        if resume:
            if store is None:
                raise SpecError("resume needs a run store")
            assert name is not None
            info = store.run_info(name)
            stored = SearchConfig.from_dict(info["config"]["search"])
            if replace(stored, n_gen=cfg.n_gen) != cfg:
                diff = [
                    f"{f.name}={getattr(cfg, f.name)!r} (stored {getattr(stored, f.name)!r})"
                    for f in fields(cfg)
                    if f.name != "n_gen" and getattr(cfg, f.name) != getattr(stored, f.name)
                ]
                raise SpecError(
                    f"resume {name!r}: only the number of generations may change; "
                    + ", ".join(diff)
                )
            if cfg.n_gen < info["gen"]:
                raise SpecError(
                    f"--gen {cfg.n_gen}: run {name!r} already has {info['gen']} generations; "
                    f"give --gen {info['gen']} or more to continue it"
                )
            # Claim the run before reading its state: another writer could be mid-commit.
            store.resume_run(name)
            try:
                archive = store.load_archive(name, self.space.joint.n_var)
                last, state = store.load_state(name)
                if state is None:  # killed during the initial sampling: nothing committed
                    archive, last = Archive(self.space.joint.n_var), -1
                else:
                    X = state.arrays.get("f_X")
                    X0 = X if X is not None and X.ndim == 2 else np.zeros((1, len(self.free)))
                    algo = self._restore(X0.astype(float), state, name)
                if cfg.n_gen != stored.n_gen:
                    store.update_search_config(name, cfg.to_dict())
            except BaseException:
                store.finish_run(name, info["status"])  # untouched: release it as it was
                raise
            hist = store.history(name)
            self.n_evals = hist[-1][1] if hist else 0
        elif store is not None:
            store.create_run(
                name,  # type: ignore[arg-type]
                {"search": cfg.to_dict(), "fixed": self.fixed.tolist(), **self.meta},
                overwrite=bool(self.meta.get("overwrite")),
            )
        try:
            if algo is None:
                X0 = self._initial_population(archive)
                algo = self._algorithm(X0[:, self.free])
                start = 0
                pop = algo.ask()
                self._tell(algo, pop, archive, 0)
                last = 0
                self._commit(archive, 0, start, algo)
            for g in range(last + 1, cfg.n_gen + 1):
                start = len(archive)
                pop = algo.ask()
                self._tell(algo, pop, archive, g)
                self._commit(archive, g, start, algo)
        except BaseException:
            if store is not None:
                try:
                    store.finish_run(name, "interrupted")  # type: ignore[arg-type]
                except CimkitError:
                    pass  # e.g. the store is locked: the original error is the one to report
            raise
        if store is not None:
            store.finish_run(name, "done")  # type: ignore[arg-type]
        hist = store.history(name) if store is not None else self._hist  # type: ignore[arg-type]
        return SearchResult(
            archive, cfg, self.space, list(hist), self.n_evals, time.perf_counter() - t0, name
        )

    _hist: list[tuple[int, int, float]]

    def _commit(self, archive: Archive, gen: int, start: int, algo: Any) -> None:
        best = self._best(archive)
        if self.store is not None:
            self.store.commit_generation(
                self.name,  # type: ignore[arg-type]
                gen,
                archive,
                start if gen else 0,
                self.n_evals,
                best,
                algo.encode() if hasattr(algo, "encode") else encode_state(algo),
            )
        else:
            if gen == 0:
                self._hist = []
            self._hist.append((gen, self.n_evals, best))
        if self.on_generation is not None:
            self.on_generation(gen, self.n_evals, best)


def load_result(store: RunStore, name: str, space: Any) -> SearchResult:
    """A stored run's archive as a :class:`SearchResult` (no evaluation)."""
    info = store.run_info(name)
    cfg = SearchConfig.from_dict(info["config"]["search"])
    archive = store.load_archive(name, space.joint.n_var)
    hist = store.history(name)
    return SearchResult(archive, cfg, space, hist, hist[-1][1] if hist else 0, 0.0, name)
