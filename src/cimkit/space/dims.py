"""Dimensions, sub-spaces and the joint space of a search (pymoo variables, Optuna distributions).

Every dimension is a :class:`Choice` over an ordered tuple of values. A genome is the integer
*index* of the chosen value of every dimension, so crossover and mutation work on ordered integers
(``xl = 0``, ``xu = len(values) - 1``) whatever the values' units are.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cimkit.errors import SpecError, short_repr


@dataclass(frozen=True)
class Choice:
    """One search dimension: ``values`` (ordered, at least one) of parameter ``name``.

    Attributes:
        name: unique gene name, e.g. ``kernel_b3`` or ``voltage_v``.
        values: the allowed values in ascending order (units in the name).
        subspace: 'model', 'quantization' or 'hardware'.
    """

    name: str
    values: tuple[float, ...]
    subspace: str

    def __post_init__(self) -> None:
        if not self.values:
            raise SpecError(f"{self.subspace}.{self.name}: needs at least one value")
        # A genome indexes the values, so NaN/inf would reach the cost model as a "design".
        bad = [v for v in self.values if not math.isfinite(float(v))]
        if bad:
            raise SpecError(f"{self.subspace}.{self.name}: values must be finite, got {bad[:3]}")
        if len(set(self.values)) != len(self.values):
            dupes = sorted(v for v, k in Counter(self.values).items() if k > 1)
            raise SpecError(
                f"{self.subspace}.{self.name}: duplicate values {short_repr(dupes)}; list each "
                "value once"
            )

    @property
    def median_index(self) -> int:
        """Index of the median value (the lower middle one for an even count)."""
        return (len(self.values) - 1) // 2

    def index_of(self, value: float) -> int:
        """Index of ``value`` (SpecError naming the dimension if it is not a choice)."""
        for i, v in enumerate(self.values):
            if math.isclose(float(v), float(value)):
                return i
        raise SpecError(f"{self.name}: {value!r} is not among {short_repr(list(self.values))}")


@dataclass(frozen=True)
class SubSpace:
    """Ordered dimensions of one of S_M, S_Q, S_H."""

    name: str
    dims: tuple[Choice, ...]

    @property
    def log10_size(self) -> float:
        """log10 of the number of genomes (product of the choice counts)."""
        return float(sum(math.log10(len(d.values)) for d in self.dims))


@dataclass(frozen=True)
class JointSpace:
    """S_M x S_Q x S_H: the concatenated dimensions; a genome is an int row of shape (D,)."""

    subspaces: tuple[SubSpace, ...]

    @property
    def dims(self) -> tuple[Choice, ...]:
        return tuple(d for s in self.subspaces for d in s.dims)

    @property
    def n_var(self) -> int:
        return len(self.dims)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    @property
    def xu(self) -> np.ndarray:
        """(D,) largest index per gene."""
        return np.array([len(d.values) - 1 for d in self.dims], dtype=np.int64)

    @property
    def log10_size(self) -> float:
        return float(sum(s.log10_size for s in self.subspaces))

    def subspace(self, name: str) -> SubSpace:
        for s in self.subspaces:
            if s.name == name:
                return s
        raise SpecError(f"no sub-space {name!r}; have {[s.name for s in self.subspaces]}")

    def indices(self, subspace: str | Sequence[str]) -> np.ndarray:
        """Gene positions (K,) of one or more sub-spaces."""
        wanted = {subspace} if isinstance(subspace, str) else set(subspace)
        return np.array([i for i, d in enumerate(self.dims) if d.subspace in wanted], dtype=int)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, D) uniformly random genomes (int64 indices)."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var), dtype=np.int64)

    def median(self) -> np.ndarray:
        """(D,) the genome of every dimension's median value."""
        return np.array([d.median_index for d in self.dims], dtype=np.int64)

    def decode(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Gene name -> (N,) float64 values of the (N, D) genomes ``X``."""
        X = np.asarray(X, dtype=np.int64)
        if X.ndim != 2 or X.shape[1] != self.n_var:
            raise SpecError(f"genomes: need shape (N, {self.n_var}), got {X.shape}")
        if (X < 0).any() or (X > self.xu).any():
            raise SpecError("genomes: gene index outside its choices")
        return {
            d.name: np.asarray(d.values, dtype=np.float64)[X[:, i]] for i, d in enumerate(self.dims)
        }

    def encode(self, values: dict[str, float]) -> np.ndarray:
        """(D,) genome of one design given as gene name -> value (all genes required)."""
        missing = [d.name for d in self.dims if d.name not in values]
        if missing:
            raise SpecError(f"genome values missing for {missing[:5]}")
        return np.array([d.index_of(values[d.name]) for d in self.dims], dtype=np.int64)
