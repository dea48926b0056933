"""Threshold search (cimkit.osa.thresholds) against brute force on synthetic monotone evaluators."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cimkit.errors import SpecError
from cimkit.osa.thresholds import (
    NO_DEMOTION,
    Evaluation,
    levels,
    quantile_grid,
    search_thresholds,
)


class Synthetic:
    """A monotone stand-in for the network: each layer has fixed pixel saliencies S and
    importances w (correlated with S); a pixel at level k costs ``cost[k] * w``.

    loss(T) = 0.3 + sum over layers and pixels of cost[level(S, T_l)] * w / n_pixels, which rises
    with every T_i (more pixels fall to coarser levels); accuracy = 0.9 - 0.5 * (loss - 0.3).
    """

    def __init__(self, n_layers: int, n_pix: int, nb: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.s = rng.integers(0, 32, size=(n_layers, n_pix)).astype(float)
        self.w = (self.s + 1) * rng.uniform(0.5, 1.5, size=(n_layers, n_pix)) / 32
        self.cost = np.cumsum(rng.uniform(0.01, 0.05, size=nb)) - 0.0  # increasing
        self.cost[0] = 0.0
        self.calls = 0

    def __call__(self, t: np.ndarray) -> Evaluation:
        self.calls += 1
        t = np.atleast_2d(t)
        rows = t if t.shape[0] == self.s.shape[0] else np.repeat(t, self.s.shape[0], 0)
        lv = np.stack([levels(self.s[i], rows[i]) for i in range(self.s.shape[0])])
        loss = 0.3 + float((self.cost[lv] * self.w).sum() / self.s.shape[1])
        share = np.stack([np.bincount(r, minlength=len(self.cost)) / r.size for r in lv])
        return Evaluation(loss, 0.9 - 0.5 * (loss - 0.3), share)


def test_levels_count_thresholds_above() -> None:
    t = np.array([10.0, 5.0, 2.0])  # T_0 >= T_1 >= T_2
    s = np.array([0, 2, 3, 5, 9, 10, 40])
    # S >= 10 -> B_0; 5 <= S < 10 -> B_1; 2 <= S < 5 -> B_2; S < 2 -> B_3
    assert levels(s, t).tolist() == [3, 2, 2, 1, 1, 0, 0]
    assert levels(s, np.full(3, NO_DEMOTION)).tolist() == [0] * 7


def test_quantile_grid_demotes_exact_shares() -> None:
    s = np.arange(100.0)
    g = quantile_grid([s, s * 2 + 7], 4)
    assert g.shape == (2, 4)
    for row, ss in zip(g, [s, s * 2 + 7], strict=True):
        shares = [(ss < t).mean() for t in row]
        assert shares == [0.25, 0.5, 0.75, 1.0]


def _brute_force_global(ev: Synthetic, grid: np.ndarray, limits: list[float]) -> np.ndarray:
    """Lexicographic maximum over every non-increasing T on grid U {-inf} meeting each prefix
    constraint (the least precise T in the search's sense), by enumeration."""
    values = [NO_DEMOTION, *grid.tolist()]
    ref = ev(np.full((1, len(limits)), NO_DEMOTION)).loss
    best = None
    for t in itertools.product(values, repeat=len(limits)):
        if any(b > a for a, b in zip(t, t[1:], strict=False)):
            continue
        ok = True
        for i in range(len(limits)):
            prefix = np.array(list(t[: i + 1]) + [NO_DEMOTION] * (len(limits) - i - 1))
            if ev(prefix[None]).loss - ref > limits[i] + 1e-12:
                ok = False
                break
        if ok and (best is None or t > best):
            best = t
    return np.array(best)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_search_equals_brute_force(seed: int) -> None:
    ev = Synthetic(n_layers=3, n_pix=400, nb=4, seed=seed)
    grid = np.arange(0.0, 33.0, 3.0)  # 11 points; 33 > every S would demote all
    limits = [0.004, 0.01, 0.03]
    res = search_thresholds(ev, (5, 7, 9, 10), limits, grid, mode="global")
    brute = _brute_force_global(ev, grid, limits)
    assert res.thresholds.shape == (1, 3)
    np.testing.assert_array_equal(res.thresholds[0], brute)
    # Every constraint holds at its step, and the final loss is within the last one.
    for st in res.steps:
        assert st.increase <= st.constraint
    assert ev(res.thresholds).loss - res.loss_ref <= limits[-1]
    # Bisection: far fewer evaluations than the grid search (3 steps x 12 values).
    assert res.evaluations <= 1 + 3 * 5
    # The search really demotes something (not the trivial all-B_0 answer).
    assert np.isfinite(res.thresholds[0, 0])


def test_global_search_is_locally_maximal() -> None:
    """Raising any frozen T_i to the next grid value (keeping T non-increasing) breaks L_i."""
    ev = Synthetic(n_layers=2, n_pix=300, nb=3, seed=5)
    grid = np.arange(0.0, 33.0, 1.0)
    limits = [0.005, 0.02]
    res = search_thresholds(ev, (6, 8, 10), limits, grid)
    t = res.thresholds[0]
    for i in range(2):
        cap = np.inf if i == 0 else t[i - 1]
        above = grid[(grid > t[i]) & (grid <= cap)]
        if above.size == 0:
            continue
        trial = np.array([*t[:i], above[0]] + [NO_DEMOTION] * (1 - i))
        assert ev(trial[None]).loss - res.loss_ref > limits[i]


def test_zero_constraint_keeps_only_lossless_demotions() -> None:
    ev = Synthetic(n_layers=1, n_pix=200, nb=2, seed=3)
    res = search_thresholds(ev, (5, 10), [0.0], np.arange(0.0, 33.0))
    # S >= 0 always, so T = 0 demotes nobody (lossless) and T = 1 demotes the S = 0 pixels.
    assert res.thresholds[0, 0] == 0.0
    assert res.steps[0].increase == 0.0


def test_huge_constraints_demote_everything_to_the_last_boundary() -> None:
    ev = Synthetic(n_layers=2, n_pix=100, nb=3, seed=4)
    grid = np.arange(0.0, 33.0)
    res = search_thresholds(ev, (5, 8, 10), [10.0, 10.0], grid)
    assert res.thresholds[0].tolist() == [32.0, 32.0]
    share = ev(res.thresholds).b_share
    np.testing.assert_allclose(share[:, 2], 1.0)


def test_tighter_constraints_never_less_precise() -> None:
    ev = Synthetic(n_layers=3, n_pix=300, nb=3, seed=6)
    grid = np.arange(0.0, 33.0)
    losses, thresholds = [], []
    for scale in (0.25, 0.5, 1.0, 2.0):
        r = search_thresholds(ev, (5, 7, 9), [0.005 * scale, 0.015 * scale], grid)
        thresholds.append(r.thresholds[0])
        losses.append(ev(r.thresholds).loss)
    assert losses == sorted(losses)
    assert all(np.all(a <= b) for a, b in zip(thresholds, thresholds[1:], strict=False))


def _brute_force_common_index(ev, g, limits):
    """Per-layer, no refinement: the largest common index per step, by enumeration."""
    n_layers, n_grid = g.shape
    ref = ev(np.full((n_layers, len(limits)), NO_DEMOTION)).loss
    idx = np.full((n_layers, len(limits)), -1)
    for i, lim in enumerate(limits):
        cap = np.full(n_layers, n_grid - 1) if i == 0 else idx[:, i - 1]
        best = -1
        for j in range(n_grid):
            trial = idx.copy()
            trial[:, i] = np.minimum(j, cap)
            t = np.where(trial < 0, NO_DEMOTION, np.take_along_axis(g, np.maximum(trial, 0), 1))
            if ev(t).loss - ref <= lim:
                best = j
        idx[:, i] = np.minimum(best, cap)
    return np.where(idx < 0, NO_DEMOTION, np.take_along_axis(g, np.maximum(idx, 0), 1))


def test_per_layer_common_index_equals_brute_force() -> None:
    ev = Synthetic(n_layers=3, n_pix=400, nb=3, seed=7)
    g = quantile_grid(list(ev.s), 10)
    limits = [0.004, 0.012]
    res = search_thresholds(ev, (5, 7, 9), limits, g, mode="per-layer")
    np.testing.assert_array_equal(res.thresholds, _brute_force_common_index(ev, g, limits))
    for st in res.steps:
        assert st.increase <= st.constraint
    # Each row is non-increasing (a valid OSE threshold vector).
    assert np.all(np.diff(res.thresholds, axis=1) <= 0)


def test_per_layer_refine_is_coordinatewise_maximal() -> None:
    ev = Synthetic(n_layers=3, n_pix=400, nb=3, seed=8)
    g = quantile_grid(list(ev.s), 8)
    limits = [0.006, 0.015]
    plain = search_thresholds(ev, (5, 7, 9), limits, g, mode="per-layer")
    res = search_thresholds(ev, (5, 7, 9), limits, g, mode="per-layer", refine=True)
    ref = res.loss_ref
    assert np.all(res.thresholds >= plain.thresholds)  # refinement only demotes more
    t = res.thresholds
    for i in range(2):
        part = t.copy()
        part[:, i + 1 :] = NO_DEMOTION
        assert ev(part).loss - ref <= limits[i]
        for layer in range(3):
            row = g[layer]
            cap = np.inf if i == 0 else t[layer, i - 1]
            above = row[(row > t[layer, i]) & (row <= cap)]
            if above.size == 0:
                continue
            trial = part.copy()
            trial[layer, i] = above[0]
            assert ev(trial).loss - ref > limits[i]


def test_accuracy_metric_and_mapping_results() -> None:
    ev = Synthetic(n_layers=2, n_pix=200, nb=3, seed=9)

    def as_dict(t):
        r = ev(t)
        return {"loss": r.loss, "accuracy": r.accuracy}

    res = search_thresholds(as_dict, (5, 7, 9), [0.002, 0.004], np.arange(33.0), metric="accuracy")
    final = ev(res.thresholds)
    assert res.accuracy_ref - final.accuracy <= 0.004
    assert res.to_dict()["steps"][1]["increase"] <= 0.004


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": (5,)}, "at least 2"),
        ({"candidates": (7, 5)}, "strictly increasing"),
        ({"constraints": [0.1]}, "one loss constraint per threshold"),
        ({"constraints": [0.2, 0.1]}, "non-decreasing"),
        ({"constraints": [0.1, float("nan")]}, "finite"),
        ({"mode": "layerwise"}, "mode"),
        ({"metric": "f1"}, "metric"),
        ({"grid": np.array([3.0, 1.0])}, "ascending"),
        ({"grid": np.zeros((2, 3))}, "1-D grid"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match) -> None:
    args = {
        "evaluate": lambda t: Evaluation(0.0, 1.0),
        "candidates": (5, 7, 9),
        "constraints": [0.1, 0.2],
        "grid": np.arange(4.0),
    }
    args.update(kwargs)
    with pytest.raises(SpecError, match=match):
        search_thresholds(**args)


def test_evaluation_from_logits_and_boundaries() -> None:
    from cimkit.osa.thresholds import evaluation_from

    logits = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    labels = np.array([0, 1, 0])
    b = [np.array([[5, 7], [7, 7]]), np.array([9, 9, 5, 5])]
    r = evaluation_from(logits, labels, b, (5, 7, 9))
    # By hand: -log softmax = log(1 + e^-2), log 2, log(1 + e^3); argmax right for row 0 only
    # (row 1 is a tie, argmax picks class 0, wrong).
    want = (np.log1p(np.exp(-2.0)) + np.log(2.0) + np.log1p(np.exp(3.0))) / 3
    assert r.loss == pytest.approx(want)
    assert r.accuracy == pytest.approx(1 / 3)
    np.testing.assert_allclose(r.b_share, [[0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    with pytest.raises(SpecError, match="candidate list"):
        evaluation_from(logits, labels, b)
