"""The archive: every evaluated genome once, with its metrics, in evaluation order.

Genomes are keyed by their bytes (int16 row), so a design proposed again (by mutation, by another
generation, or by a resumed run) is looked up, never re-evaluated. Final designs are chosen from the
whole archive (CIMNAS section III-B2), not only from the last population.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimkit.search.objectives import METRIC_NAMES, feasible

GENE_DTYPE = np.int16


class Archive:
    """Growing table of (genome (D,), metrics (K,), generation) rows.

    Attributes:
        X: (N, D) int16 genomes; M: (N, K) float64 metrics (columns METRIC_NAMES);
        gen: (N,) generation that first evaluated each row (0 = initial sampling).
    """

    def __init__(self, n_var: int) -> None:
        self.n_var = n_var
        self._X = np.zeros((0, n_var), dtype=GENE_DTYPE)
        self._M = np.zeros((0, len(METRIC_NAMES)))
        self._gen = np.zeros(0, dtype=np.int64)
        self._n = 0
        self.index: dict[bytes, int] = {}

    def __len__(self) -> int:
        return self._n

    @property
    def X(self) -> np.ndarray:
        return self._X[: self._n]

    @property
    def M(self) -> np.ndarray:
        return self._M[: self._n]

    @property
    def gen(self) -> np.ndarray:
        return self._gen[: self._n]

    def add(self, X: np.ndarray, M: np.ndarray, gen: int | np.ndarray) -> None:
        """Append rows (genomes must be new)."""
        k = len(X)
        if self._n + k > len(self._X):  # amortised growth: no copy per generation
            cap = max(2 * len(self._X), self._n + k, 256)
            self._X = np.resize(self._X, (cap, self.n_var))
            self._M = np.resize(self._M, (cap, len(METRIC_NAMES)))
            self._gen = np.resize(self._gen, cap)
        Xs = np.asarray(X, dtype=GENE_DTYPE)
        self._X[self._n : self._n + k] = Xs
        self._M[self._n : self._n + k] = M
        self._gen[self._n : self._n + k] = gen
        for i in range(k):
            self.index[Xs[i].tobytes()] = self._n + i
        self._n += k

    def lookup(self, X: np.ndarray) -> np.ndarray:
        """(N,) archive row of each genome, -1 where not yet evaluated."""
        Xs = np.ascontiguousarray(X, dtype=GENE_DTYPE)
        return np.array([self.index.get(r.tobytes(), -1) for r in Xs], dtype=np.int64)

    def evaluate(
        self, X: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], gen: int
    ) -> tuple[np.ndarray, int]:
        """Metrics (N, K) of ``X``; only genomes never seen are passed to ``fn`` (one call).

        Returns the metrics and the number of new evaluations.
        """
        rows = self.lookup(X)
        new = np.flatnonzero(rows < 0)
        n_new = 0
        if len(new):
            # Keep the first occurrence of genomes repeated inside the batch, in batch order.
            # Keyed by row bytes, not np.unique(axis=0): numpy compares those rows as structured
            # arrays and turns a Ctrl-C arriving mid-compare into a TypeError ("Cannot compare
            # structured arrays ..."), so an interrupted search crashed instead of exiting 130.
            Xn = np.ascontiguousarray(np.asarray(X)[new], dtype=GENE_DTYPE)
            first: dict[bytes, int] = {}
            for i, r in enumerate(Xn):
                first.setdefault(r.tobytes(), i)
            new = new[np.fromiter(first.values(), dtype=np.int64, count=len(first))]
            M_new = fn(np.asarray(X)[new])
            self.add(np.asarray(X)[new], M_new, gen)
            n_new = len(new)
            rows = self.lookup(X)
        return self.M[rows], n_new

    def feasible(self) -> np.ndarray:
        return feasible(self.M)
