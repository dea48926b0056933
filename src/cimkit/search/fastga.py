"""pymoo's GA, as :class:`~cimkit.search.engine.Search` configures it, on plain arrays.

Why: with pymoo every individual is a Python object, so a GA generation of P = 150 spent about
two thirds of its time in ``Population.get``/``Individual`` bookkeeping, one tournament at a time
in Python and in the duplicate check; the cost model itself was ~17 % of the search (issue 15,
item 6). This module does the same steps on (N, D) arrays and draws the *same random numbers in
the same order* from the same ``numpy.random.Generator``, so a seed gives the identical
population, offspring, archive and best design as pymoo 0.6.2's GA (tests/search/
test_speed_paths.py runs both side by side and compares every generation, including the stored
state, byte for byte). pymoo stays the reference (``Search(..., engine="pymoo")``) and runs
NSGA-II.

The steps of one generation (pymoo's names in brackets):

1. mating, repeated until P unique offspring or 100 rounds [``Mating`` / ``InfillCriterion``]:
   binary tournaments on a random permutation of the population, the winner by constraint
   violation if either is infeasible, else by fitness, a random pick on ties
   [``TournamentSelection`` with ``comp_by_cv_and_fitness``]; SBX on each mating with probability
   ``p_c`` [``SBX``], polynomial mutation of each offspring with probability ``p_m`` and of each
   gene with probability 1 / D [``PM``], rounding to integers after each [``RoundingRepair``];
   offspring equal to an earlier offspring, to a member of the population or to an offspring of
   an earlier round are dropped [``DefaultDuplicateElimination``];
2. survival: population and offspring sorted by (constraint violation, fitness), stable, the
   first P kept [``FitnessSurvival``].

The state written to the run store is the same blob :func:`cimkit.search.store.encode_state`
writes for pymoo's GA, so a run started with either engine resumes with either.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Mating rounds before giving up on filling the offspring (pymoo's ``n_max_iterations``).
MAX_MATING_ROUNDS = 100
#: SBX settings Search leaves at pymoo's defaults: per-gene crossover and exchange probability.
SBX_PROB_VAR = 0.5
SBX_PROB_BIN = 0.5
SBX_PROB_EXCH = 1.0
#: Genes closer than this are not crossed (pymoo's ``eps`` of ``cross_sbx``).
SBX_EPS = 1.0e-14
#: Rows at most this far apart (Euclidean) are duplicates (pymoo's ``epsilon``).
DUPLICATE_EPS = 1e-16


class FastGA:
    """Single-objective GA on arrays; ``ask()`` -> offspring (N, D), ``tell(F, G)``.

    Args:
        X0: (N0, D) initial population (gene indices; pymoo's ``sampling`` array).
        xu: (D,) upper bound of each gene index (lower bounds are 0).
        pop_size: P.
        seed: seeds the generator (pymoo's ``setup(seed=...)``).
        p_c, eta_c: SBX probability per mating and distribution index.
        p_m, eta_m: PM probability per offspring and distribution index.

    Attributes:
        X: (N, D) float64 population genes (integer values); ``xint``: (N,) whether pymoo holds
            the row as int64 (offspring) or float64 (the initial sample), for the stored state.
        F: (N, 1) fitness; G: (N, k) constraints (k = 0 when unconstrained); CV: (N,) the
            violation sum(max(0, G)).
        born: (N,) pymoo iteration that created each row (its ``n_gen``/``n_iter`` data).
        rank: (N,) survival rank, or None before the first survival.
        n_iter: pymoo's iteration counter (1 before the first ``tell``).
    """

    def __init__(
        self,
        X0: np.ndarray,
        xu: np.ndarray,
        pop_size: int,
        seed: int,
        *,
        p_c: float,
        eta_c: float,
        p_m: float,
        eta_m: float,
    ) -> None:
        self.random_state = np.random.default_rng(seed)
        self.xu = np.asarray(xu, dtype=float)
        self.xl = np.zeros_like(self.xu)
        self.n_var = len(self.xu)
        self.pop_size = pop_size
        self.n_offsprings = pop_size
        self.p_c, self.eta_c, self.p_m, self.eta_m = p_c, eta_c, p_m, eta_m
        self.X0 = np.asarray(X0, dtype=float)
        self.is_initialized = False
        self.n_iter = 1
        n = self.n_var
        self.X = np.zeros((0, n))
        self.xint = np.zeros(0, bool)
        self.F = np.zeros((0, 1))
        self.G = np.zeros((0, 0))
        self.CV = np.zeros(0)
        self.born = np.zeros(0, np.int64)
        self.rank: np.ndarray | None = None
        self._off: np.ndarray | None = None

    # --- pymoo's Algorithm.ask / tell -----------------------------------------------------------
    def ask(self) -> np.ndarray:
        """Offspring genes (N, D) to evaluate (the initial population on the first call)."""
        if not self.is_initialized:
            self.n_iter = 1
            X = self.X0[~_duplicates_within(self.X0)]
            self._off = X
            self._off_int = False
        else:
            self._off = self._mating()
            self._off_int = True
        return self._off

    def tell(self, F: np.ndarray, G: np.ndarray | None) -> None:
        """Fitness (N, 1) and constraints (N, k) or None of the offspring of the last ask."""
        X = self._off
        assert X is not None, "tell() without ask()"
        n = len(X)
        F = np.asarray(F, dtype=float).reshape(n, 1)
        G = np.zeros((n, 0)) if G is None else np.asarray(G, dtype=float)
        if G.ndim != 2:
            G = G.reshape(n, -1)
        # pymoo's calc_cv: sum of max(0, g) over the constraints, plus 0.0 for no equalities.
        CV = np.maximum(0.0, G).sum(axis=1) + 0.0 if G.shape[1] else np.zeros(n)
        born = np.full(n, self.n_iter, dtype=np.int64)
        xint = np.full(n, self._off_int)
        if not self.is_initialized:
            # GA does not run survival on the initial population (advance_after_initial_infill).
            self.X, self.xint, self.F, self.G, self.CV, self.born = X, xint, F, G, CV, born
            self.is_initialized = True
        else:
            X = np.concatenate([self.X, X])
            xint = np.concatenate([self.xint, xint])
            F = np.concatenate([self.F, F])
            G = np.concatenate([self.G, G])
            CV = np.concatenate([self.CV, CV])
            born = np.concatenate([self.born, born])
            S = np.lexsort([F[:, 0], CV])[: self.pop_size]  # FitnessSurvival
            self.X, self.xint, self.F, self.G, self.CV, self.born = (
                X[S],
                xint[S],
                F[S],
                G[S],
                CV[S],
                born[S],
            )
            self.rank = np.arange(len(S), dtype=np.int64)
        self._off = None
        self.n_iter += 1

    # --- mating ---------------------------------------------------------------------------------
    def _mating(self) -> np.ndarray:
        off = np.zeros((0, self.n_var))
        rounds = 0
        while len(off) < self.n_offsprings:
            n_remaining = self.n_offsprings - len(off)
            n_matings = math.ceil(n_remaining / 2)
            parents = self._select(n_matings)
            Xo = self._mutate(self._crossover(parents))
            keep = ~_duplicates_within(Xo)
            Xo = Xo[keep]
            if len(Xo) and len(self.X):
                Xo = Xo[~_duplicates_of(Xo, self.X)]
            if len(Xo) and len(off):
                Xo = Xo[~_duplicates_of(Xo, off)]
            if len(off) + len(Xo) > self.n_offsprings:
                Xo = Xo[: self.n_offsprings - len(off)]
            off = np.concatenate([off, Xo])
            rounds += 1
            if rounds >= MAX_MATING_ROUNDS:
                break
        return off

    def _select(self, n_matings: int) -> np.ndarray:
        """(n_matings, 2) parent rows by binary tournaments (comp_by_cv_and_fitness)."""
        rng = self.random_state
        n_random = n_matings * 2 * 2
        n_perms = math.ceil(n_random / len(self.X))
        P = np.concatenate([rng.permutation(len(self.X)) for _ in range(n_perms)])[:n_random]
        P = P.reshape(n_matings * 2, 2)
        a, b = P[:, 0], P[:, 1]
        infeasible = (self.CV[a] > 0.0) | (self.CV[b] > 0.0)
        va = np.where(infeasible, self.CV[a], self.F[a, 0])
        vb = np.where(infeasible, self.CV[b], self.F[b, 0])
        S = np.where(va < vb, a, b)
        # Ties (neither smaller nor larger, NaN included) draw one random choice each, in order.
        for i in np.flatnonzero(~(va < vb) & ~(va > vb)):
            S[i] = rng.choice([a[i], b[i]])
        return S.reshape(n_matings, 2)

    def _crossover(self, parents: np.ndarray) -> np.ndarray:
        """(2 n_matings, D) rounded offspring: first children of all matings, then second."""
        rng = self.random_state
        n_matings = len(parents)
        X = np.swapaxes(self.X[parents], 0, 1).astype(float)  # (2, n_matings, D)
        Xp = np.empty((2, n_matings, self.n_var), dtype=X.dtype)
        cross = rng.random(n_matings) < np.full(n_matings, self.p_c)
        if np.any(cross):
            eta = np.full((n_matings, 1), float(self.eta_c))
            prob_var = np.full((n_matings, 1), SBX_PROB_VAR)
            prob_bin = np.full((n_matings, 1), SBX_PROB_BIN)
            rand = rng.random((len(prob_bin), 1))
            prob_bin[rand > SBX_PROB_EXCH] = 0.0
            Q = _cross_sbx(X.astype(float), self.xl, self.xu, eta, prob_var, prob_bin, rng)
            Xp[:, cross] = Q[:, cross]
        for k in np.flatnonzero(~cross):
            Xp[:, k] = np.copy(X[[0, 1], k])
        return np.around(Xp.reshape(-1, self.n_var)).astype(int)

    def _mutate(self, X: np.ndarray) -> np.ndarray:
        """Polynomial mutation of the rounded offspring ``X`` (N, D), rounded again."""
        rng = self.random_state
        n = len(X)
        Xf = X.astype(float)
        eta = np.full(n, float(self.eta_m))
        prob_var = np.full(n, min(0.5, 1 / self.n_var))
        Xp = _mut_pm(Xf, self.xl, self.xu, eta, prob_var, rng)
        mut = rng.random(size=n) <= np.full(n, self.p_m)
        out = X.astype(float)
        out[mut] = Xp[mut]
        return np.around(out).astype(int)

    # --- the stored state ------------------------------------------------------------------------
    def encode(self) -> bytes:
        """The bytes :func:`cimkit.search.store.encode_state` writes for pymoo's GA in the same
        state (same fields, dtypes, JSON and array layout)."""
        from cimkit.search.store import _narrow, _pack

        n = len(self.X)
        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        xdt = ["<i8" if i else "<f8" for i in self.xint]
        per_field = {"X": None, "F": self.F, "G": self.G, "CV": self.CV[:, None]}
        for f in ("X", "F", "G", "H", "dF", "dG", "dH", "ddF", "ddG", "ddH", "CV"):
            if f == "X":
                spec: dict[str, Any] = {"dtype": xdt[0] if n else "<f8"}
                if len(set(xdt)) > 1:
                    spec = {"dtypes": xdt}
                    arrays["f_X"] = self.X.astype(np.float64)
                elif self.xint.all() and n:
                    arrays["f_X"] = _narrow(self.X.astype(np.int64))
                else:
                    arrays["f_X"] = self.X.astype(np.float64)
                fields[f] = spec
                continue
            a = per_field.get(f)
            spec = {"dtype": "<f8"}
            if a is not None and a.shape[1]:
                arrays["f_" + f] = np.ascontiguousarray(a, dtype=np.float64)
            else:
                spec["shape"] = [0]
            fields[f] = spec
        data: dict[str, Any] = {}
        arrays["d_n_gen"] = self.born.astype(np.int64)
        data["n_gen"] = {"tag": "int"}
        arrays["d_n_iter"] = self.born.astype(np.int64)
        data["n_iter"] = {"tag": "int"}
        if self.rank is not None:
            arrays["d_rank"] = self.rank.astype(np.int64)
            data["rank"] = {"tag": "<i8"}
        bitgen = self.random_state.bit_generator
        meta = {
            "format": 1,
            "algorithm": "GA",
            "n": n,
            "n_iter": int(self.n_iter),
            "rng": {"bit_generator": type(bitgen).__name__, "state": bitgen.state},
            "fields": fields,
            "data": data,
            "evaluated": [["F", "G", "H"]],
        }
        arrays["evaluated"] = np.zeros(n, dtype=np.int64)
        return _pack(meta, arrays)

    @classmethod
    def from_pymoo(cls, algo: Any, template: FastGA) -> FastGA:
        """This GA in the state of a restored pymoo GA ``algo`` (resume of a stored run);
        ``template`` gives the settings (built from the search configuration)."""
        pop = algo.pop
        new = template
        new.X = np.array([np.asarray(ind.X, dtype=float) for ind in pop])
        new.xint = np.array([np.asarray(ind.X).dtype.kind in "iu" for ind in pop])
        new.F = np.array([np.asarray(ind.F, dtype=float) for ind in pop]).reshape(len(pop), 1)
        G = [np.asarray(ind.G, dtype=float).ravel() for ind in pop]
        new.G = np.array(G).reshape(len(pop), -1)
        new.CV = np.array([float(np.asarray(ind.CV).ravel()[0]) for ind in pop])
        new.born = np.array([int(ind.data.get("n_gen", 1)) for ind in pop], dtype=np.int64)
        ranks = [ind.data.get("rank") for ind in pop]
        new.rank = None if any(r is None for r in ranks) else np.array(ranks, dtype=np.int64)
        new.random_state = algo.random_state
        new.n_iter = int(algo.n_iter)
        new.is_initialized = True
        return new


def _row_keys(X: np.ndarray) -> list[bytes]:
    """One hashable key per row of integral genes (int64 bytes: 0.0 and -0.0 are one key, as
    they are one point for pymoo's distance test)."""
    return [r.tobytes() for r in np.ascontiguousarray(X, dtype=np.int64)]


def _duplicates_within(X: np.ndarray) -> np.ndarray:
    """(N,) rows equal to an earlier row of ``X`` (pymoo's check against itself).

    A dict of row bytes, not ``np.unique(axis=0)`` (its structured sort cost half of the mating
    and turns a Ctrl-C into a TypeError, see the archive).
    """
    seen: set[bytes] = set()
    dup = np.zeros(len(X), bool)
    for i, k in enumerate(_row_keys(X)):
        if k in seen:
            dup[i] = True
        else:
            seen.add(k)
    return dup


def _duplicates_of(X: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(N,) rows of ``X`` equal to some row of ``other``."""
    seen = set(_row_keys(other))
    return np.array([k in seen for k in _row_keys(X)], dtype=bool)


def _cross_sbx(
    X: np.ndarray,
    xl: np.ndarray,
    xu: np.ndarray,
    eta: np.ndarray,
    prob_var: np.ndarray,
    prob_bin: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """pymoo 0.6.2's ``cross_sbx`` (same operations in the same order: bit-identical)."""
    n_parents, n_matings, n_var = X.shape
    cross = rng.random((n_matings, n_var)) < prob_var
    too_close = np.abs(X[0] - X[1]) <= SBX_EPS
    cross[too_close] = False
    cross[:, xl == xu] = False
    p1 = X[0][cross]
    p2 = X[1][cross]
    sm = p1 < p2
    y1 = np.where(sm, p1, p2)
    y2 = np.where(sm, p2, p1)
    _xl = np.repeat(xl[None, :], n_matings, axis=0)[cross]
    _xu = np.repeat(xu[None, :], n_matings, axis=0)[cross]
    eta = eta.repeat(n_var, axis=1)[cross]
    prob_bin = prob_bin.repeat(n_var, axis=1)[cross]
    rand = rng.random(len(eta))

    def calc_betaq(beta: np.ndarray) -> np.ndarray:
        alpha = 2.0 - np.power(beta, -(eta + 1.0))
        mask, mask_not = (rand <= (1.0 / alpha)), (rand > (1.0 / alpha))
        betaq = np.zeros(mask.shape)
        betaq[mask] = np.power((rand * alpha), (1.0 / (eta + 1.0)))[mask]
        betaq[mask_not] = np.power((1.0 / (2.0 - rand * alpha)), (1.0 / (eta + 1.0)))[mask_not]
        return betaq

    delta = y2 - y1
    beta = 1.0 + (2.0 * (y1 - _xl) / delta)
    betaq = calc_betaq(beta)
    c1 = 0.5 * ((y1 + y2) - betaq * delta)
    beta = 1.0 + (2.0 * (_xu - y2) / delta)
    betaq = calc_betaq(beta)
    c2 = 0.5 * ((y1 + y2) + betaq * delta)
    child1 = np.where(sm, c1, c2)
    child2 = np.where(sm, c2, c1)
    b = np.bitwise_xor(rng.random(len(prob_bin)) < prob_bin, X[0, cross] > X[1, cross])
    child1, child2 = np.where(b, (child2, child1), (child1, child2))
    Q = np.copy(X)
    Q[0, cross] = child1
    Q[1, cross] = child2
    Q[0] = np.clip(Q[0], xl, xu)  # repair_clamp: only out-of-bounds values change
    Q[1] = np.clip(Q[1], xl, xu)
    return Q


def _mut_pm(
    X: np.ndarray,
    xl: np.ndarray,
    xu: np.ndarray,
    eta: np.ndarray,
    prob: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """pymoo 0.6.2's ``mut_pm`` with ``at_least_once=False`` (bit-identical)."""
    n, n_var = X.shape
    Xp = np.full(X.shape, np.inf)
    mut = rng.random((n, n_var)) < (np.ones(n) * prob)[:, None]
    mut[:, xl == xu] = False
    Xp[:, :] = X
    _xl = np.repeat(xl[None, :], X.shape[0], axis=0)[mut]
    _xu = np.repeat(xu[None, :], X.shape[0], axis=0)[mut]
    X = X[mut]
    eta = np.tile(eta[:, None], (1, n_var))[mut]
    delta1 = (X - _xl) / (_xu - _xl)
    delta2 = (_xu - X) / (_xu - _xl)
    mut_pow = 1.0 / (eta + 1.0)
    rand = rng.random(X.shape)
    mask = rand <= 0.5
    mask_not = np.logical_not(mask)
    deltaq = np.zeros(X.shape)
    with np.errstate(invalid="ignore"):
        xy = 1.0 - delta1
        val = 2.0 * rand + (1.0 - 2.0 * rand) * (np.power(xy, (eta + 1.0)))
        d = np.power(val, mut_pow) - 1.0
        deltaq[mask] = d[mask]
        xy = 1.0 - delta2
        val = 2.0 * (1.0 - rand) + 2.0 * (rand - 0.5) * (np.power(xy, (eta + 1.0)))
        d = 1.0 - (np.power(val, mut_pow))
        deltaq[mask_not] = d[mask_not]
    _Y = X + deltaq * (_xu - _xl)
    _Y[_Y < _xl] = _xl[_Y < _xl]
    _Y[_Y > _xu] = _xu[_Y > _xu]
    Xp[mut] = _Y
    return np.clip(Xp, xl, xu)  # set_to_bounds_if_outside
