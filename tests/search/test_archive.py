"""Archive bookkeeping: each genome evaluated once, first occurrence kept in batch order."""

from __future__ import annotations

import numpy as np

from cimkit.search.archive import Archive
from cimkit.search.objectives import METRIC_NAMES


def _fn(calls: list[np.ndarray]):
    def fn(X: np.ndarray) -> np.ndarray:
        calls.append(X.copy())
        M = np.zeros((len(X), len(METRIC_NAMES)))
        M[:, 0] = X.sum(1)  # a metric that identifies the genome's row
        return M

    return fn


def test_repeats_inside_a_batch_are_evaluated_once_in_first_occurrence_order() -> None:
    a, b, c = [3, 1, 2], [0, 0, 1], [5, 5, 5]
    X = np.array([b, a, b, c, a, c, b])
    calls: list[np.ndarray] = []
    arc = Archive(3)
    M, n_new = arc.evaluate(X, _fn(calls), gen=0)
    assert n_new == 3 and len(calls) == 1
    np.testing.assert_array_equal(calls[0], [b, a, c])  # batch order, not sorted order
    np.testing.assert_array_equal(arc.X, [b, a, c])
    np.testing.assert_array_equal(M[:, 0], X.sum(1))
    np.testing.assert_array_equal(arc.lookup(X), [0, 1, 0, 2, 1, 2, 0])


def test_known_genomes_are_looked_up_not_reevaluated() -> None:
    calls: list[np.ndarray] = []
    arc = Archive(2)
    arc.evaluate(np.array([[1, 2], [3, 4]]), _fn(calls), gen=0)
    M, n_new = arc.evaluate(np.array([[3, 4], [9, 9], [1, 2], [9, 9]]), _fn(calls), gen=1)
    assert n_new == 1
    np.testing.assert_array_equal(calls[1], [[9, 9]])
    np.testing.assert_array_equal(arc.gen, [0, 0, 1])
    np.testing.assert_array_equal(M[:, 0], [7, 18, 3, 18])
