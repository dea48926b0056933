"""Offline search of the OSE thresholds T from loss constraints L (OSA-HCIM Fig. 4(b)).

The paper gives the inputs (a candidate list of boundaries B = [B_0 .. B_{b-1}] and training-loss
constraints L = [L_0 .. L_{b-2}]), the output (thresholds T = [T_0 .. T_{b-2}] that the OSE
compares the saliency S with) and one sentence: the search "explores the threshold T_i within the
boundaries B_i and B_{i+1} to match the loss constraint L_i". The steps below are cimkit's
reconstruction (docs/osa-hcim.md, "Threshold search"):

1. B is sorted from the most precise boundary (B_0, the smallest: most digital orders) to the
   least precise. A pixel with saliency S gets ``B[level(S)]`` with
   ``level(S) = #{i : S < T_i}`` and T non-increasing (T_0 >= T_1 >= ...): the less salient a
   pixel, the more thresholds it falls under and the less precise its boundary. ``T_i = -inf``
   demotes nobody.
2. Reference: every T at -inf (every pixel at B_0); its calibration loss is ``loss_ref``.
3. For i = 0 .. b-2, with T_0 .. T_{i-1} frozen and T_{i+1} .. at -inf: find the largest T_i on
   the search grid, not above T_{i-1}, such that ``loss(T) - loss_ref <= L_i``, by bisection
   (the loss rises as T_i rises, since more pixels are demoted from B_i to B_{i+1}), and freeze
   it. The constraints are cumulative (L_i bounds the increase with every demotion so far), so L
   must be non-decreasing; the loss of the final T is within L_{b-2}.

Granularity (``mode``):

* ``global``: one T vector for the whole network, searched on one grid of saliency values (the
  OSE's S must then be comparable across layers).
* ``per-layer``: one T row per layer; each layer has its own ascending grid (for example its
  saliency quantiles, :func:`quantile_grid`), and step 3 bisects one common grid index, so every
  layer demotes the same share of its pixels. With ``refine=True`` each layer's index is then
  raised on its own, layer by layer (coordinate bisection), while the constraint still holds.

The network is seen only through an evaluator: a callable taking a threshold array
(n_layers, b-1) (float; -inf = no demotion) and returning an :class:`Evaluation` (loss and accuracy
on the calibration split, and the share of decisions at each B). Any simulator fits, and tests use
synthetic monotone evaluators.

"Least precise within the search resolution": if the loss is non-decreasing in every T_i, the
search returns, step by step, the largest grid value meeting each constraint: raising T_i to the
next grid value (or, after refinement, one layer's index by one) violates L_i. With a noisy, not
monotone loss, bisection still returns a T that meets every constraint (each frozen value was
measured), only not necessarily the largest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cimkit.errors import SpecError

#: Threshold meaning "demote nobody" (every S is >= -inf).
NO_DEMOTION = -np.inf
MODES = ("global", "per-layer")
METRICS = ("loss", "accuracy")


@dataclass(frozen=True)
class Evaluation:
    """What the evaluator measures for one threshold array on the calibration split.

    Attributes:
        loss: mean cross-entropy (nats per image).
        accuracy: top-1 accuracy, fraction in [0, 1].
        b_share: share of the OSE decisions at each candidate B, (b,) or (n_layers, b); rows
            sum to 1. Only reported, never used by the search.
    """

    loss: float
    accuracy: float
    b_share: np.ndarray | None = None


Evaluator = Callable[[np.ndarray], "Evaluation | Mapping[str, Any]"]


@dataclass
class Step:
    """The frozen result of step i (demotion from B_i to B_{i+1})."""

    index: int
    thresholds: np.ndarray  # (n_layers,) T[:, i]
    loss: float
    accuracy: float
    constraint: float
    increase: float  # loss - loss_ref (metric 'loss') or accuracy_ref - accuracy
    evaluations: int
    b_share: np.ndarray | None = None


@dataclass
class SearchResult:
    """Thresholds (n_layers, b-1), the reference and per-step measurements, the evaluation log."""

    thresholds: np.ndarray
    candidates: tuple[int, ...]
    constraints: tuple[float, ...]
    mode: str
    metric: str
    loss_ref: float
    accuracy_ref: float
    steps: list[Step]
    evaluations: int
    log: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (thresholds as lists, -inf as None)."""

        def clean(a: np.ndarray) -> list:
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        return {
            "mode": self.mode,
            "metric": self.metric,
            "candidates": list(self.candidates),
            "constraints": list(self.constraints),
            "thresholds": clean(np.atleast_2d(self.thresholds)),
            "loss_ref": self.loss_ref,
            "accuracy_ref": self.accuracy_ref,
            "evaluations": self.evaluations,
            "steps": [
                {
                    "i": s.index,
                    "loss": s.loss,
                    "accuracy": s.accuracy,
                    "constraint": s.constraint,
                    "increase": s.increase,
                    "evaluations": s.evaluations,
                    "b_share": None if s.b_share is None else np.asarray(s.b_share).tolist(),
                }
                for s in self.steps
            ],
        }


def levels(saliency: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Index into B of each saliency value: ``#{i : S < T_i}`` (see the module docstring).

    Args:
        saliency: S, any shape.
        thresholds: T (b-1,), non-increasing.

    Returns:
        int64 array of S's shape, values in 0 .. b-1.
    """
    s = np.asarray(saliency, dtype=float)[..., None]
    return (s < np.asarray(thresholds, dtype=float)).sum(-1).astype(np.int64)


def quantile_grid(saliency: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Per-layer grids of ``n`` thresholds at the quantiles 1/n .. 1 of each layer's saliency.

    Grid value g of layer l is the smallest threshold demoting a share >= g/n... exactly: the
    (g+1)/n quantile of that layer's S, made strictly larger than the values it should demote
    (the last column exceeds every sample, demoting all of them).

    Args:
        saliency: one 1-D array of calibration saliency values per layer.
        n: grid points per layer (>= 2).

    Returns:
        (n_layers, n) float array, each row non-decreasing.
    """
    if n < 2:
        raise SpecError(f"grid points {n}: give at least 2")
    rows = []
    for s in saliency:
        s = np.sort(np.asarray(s, dtype=float).ravel())
        if s.size == 0:
            raise SpecError("quantile_grid: a layer has no saliency samples")
        # The threshold just above the k-th smallest value demotes exactly the k smallest.
        k = np.ceil(np.arange(1, n + 1) / n * s.size).astype(int)
        rows.append(np.nextafter(s[k - 1], np.inf))
    return np.vstack(rows)


def _as_eval(r: Evaluation | Mapping[str, Any]) -> Evaluation:
    if isinstance(r, Evaluation):
        return r
    if isinstance(r, Mapping) and "loss" in r and "accuracy" in r:
        return Evaluation(float(r["loss"]), float(r["accuracy"]), r.get("b_share"))
    raise TypeError(
        "the evaluator must return an Evaluation or a mapping with 'loss' and 'accuracy'"
    )


def _check(candidates: Sequence[int], constraints: Sequence[float]) -> None:
    b = list(candidates)
    if len(b) < 2:
        raise SpecError(f"candidates {b}: give at least 2 boundaries, e.g. 5,7,9")
    if any(int(x) != x or not 0 <= x <= 15 for x in b) or any(
        b2 <= b1 for b1, b2 in zip(b, b[1:], strict=False)
    ):
        raise SpecError(
            f"candidates {b}: give strictly increasing integer boundaries in 0..15 "
            "(most precise first), e.g. 5,7,9"
        )
    L = list(constraints)
    if len(L) != len(b) - 1:
        raise SpecError(
            f"constraints {L}: give one loss constraint per threshold ({len(b) - 1} for "
            f"{len(b)} candidates)"
        )
    if any(not np.isfinite(x) or x < 0 for x in L):
        raise SpecError(f"constraints {L}: give finite values >= 0")
    if any(l2 < l1 for l1, l2 in zip(L, L[1:], strict=False)):
        raise SpecError(
            f"constraints {L}: give non-decreasing values (L_i bounds the loss increase of all "
            "demotions up to B_{i+1})"
        )


def search_thresholds(
    evaluate: Evaluator,
    candidates: Sequence[int],
    constraints: Sequence[float],
    grid: np.ndarray,
    mode: str = "global",
    metric: str = "loss",
    refine: bool = False,
) -> SearchResult:
    """Find T so that every loss constraint holds (module docstring, steps 1-3).

    Args:
        evaluate: thresholds (n_layers, b-1) float -> :class:`Evaluation` on the calibration
            split. In ``global`` mode n_layers is 1 (the evaluator applies the row everywhere).
        candidates: B, strictly increasing (most precise first), e.g. (5, 6, 7, 8, 9, 10).
        constraints: L (b-1,), non-decreasing, >= 0: allowed increase of the calibration loss
            (nats, metric 'loss') or drop of the accuracy (fraction, metric 'accuracy') over
            the all-B_0 reference.
        grid: search resolution. ``global``: (G,) ascending saliency thresholds. ``per-layer``:
            (n_layers, G), each row ascending (e.g. :func:`quantile_grid`).
        mode: 'global' or 'per-layer'.
        metric: 'loss' or 'accuracy'.
        refine: per-layer only: after the common-index bisection, raise each layer's index on
            its own while the constraint holds (about n_layers * log2(G) more evaluations per
            step).

    Returns:
        :class:`SearchResult`; ``thresholds`` is (n_layers, b-1), non-increasing along each row.
    """
    _check(candidates, constraints)
    if mode not in MODES:
        raise SpecError(f"mode {mode!r}: give one of {', '.join(MODES)}")
    if metric not in METRICS:
        raise SpecError(f"metric {metric!r}: give one of {', '.join(METRICS)}")
    g = np.asarray(grid, dtype=float)
    if mode == "global":
        if g.ndim != 1:
            raise SpecError(f"grid: global mode takes a 1-D grid, got shape {g.shape}")
        g = g[None, :]
    elif g.ndim != 2:
        raise SpecError(f"grid: per-layer mode takes (n_layers, G), got shape {g.shape}")
    if g.shape[1] < 1 or not np.all(np.isfinite(g)) or np.any(np.diff(g, axis=1) < 0):
        raise SpecError("grid: give finite, ascending threshold values (at least one)")
    n_layers, n_grid = g.shape
    nb = len(candidates)
    cache: dict[bytes, Evaluation] = {}
    log: list[dict] = []

    def run(idx: np.ndarray) -> Evaluation:
        """Evaluate the index array idx (n_layers, b-1); -1 = no demotion."""
        key = idx.tobytes()
        if key not in cache:
            t = np.where(idx < 0, NO_DEMOTION, np.take_along_axis(g, np.maximum(idx, 0), 1))
            r = _as_eval(evaluate(t.copy()))
            cache[key] = r
            log.append({"index": idx.tolist(), "loss": r.loss, "accuracy": r.accuracy})
        return cache[key]

    idx = np.full((n_layers, nb - 1), -1, dtype=np.int64)
    ref = run(idx)

    def increase(r: Evaluation) -> float:
        return r.loss - ref.loss if metric == "loss" else ref.accuracy - r.accuracy

    steps: list[Step] = []
    for i, limit in enumerate(constraints):
        n_before = len(cache)
        cap = np.full(n_layers, n_grid - 1) if i == 0 else idx[:, i - 1].copy()

        def feasible(trial: np.ndarray, limit: float = limit) -> bool:
            return increase(run(trial)) <= limit

        # Common index j for all layers (global mode: the one layer), capped per layer by the
        # previous step so T stays non-increasing; j = -1 (no demotion) is always feasible.
        lo, hi = -1, int(cap.max()) + 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            trial = idx.copy()
            trial[:, i] = np.minimum(mid, cap)
            lo, hi = (mid, hi) if feasible(trial) else (lo, mid)
        idx[:, i] = np.minimum(lo, cap)
        if refine and mode == "per-layer":
            for layer in range(n_layers):
                lo_l, hi_l = int(idx[layer, i]), int(cap[layer]) + 1
                while hi_l - lo_l > 1:
                    mid = (lo_l + hi_l) // 2
                    trial = idx.copy()
                    trial[layer, i] = mid
                    lo_l, hi_l = (mid, hi_l) if feasible(trial) else (lo_l, mid)
                idx[layer, i] = lo_l
        r = run(idx)
        t_i = np.where(idx[:, i] < 0, NO_DEMOTION, g[np.arange(n_layers), np.maximum(idx[:, i], 0)])
        steps.append(
            Step(
                i,
                t_i,
                r.loss,
                r.accuracy,
                float(limit),
                increase(r),
                len(cache) - n_before,
                None if r.b_share is None else np.asarray(r.b_share),
            )
        )
    thresholds = np.where(idx < 0, NO_DEMOTION, np.take_along_axis(g, np.maximum(idx, 0), 1))
    return SearchResult(
        thresholds,
        tuple(int(x) for x in candidates),
        tuple(float(x) for x in constraints),
        mode,
        metric,
        ref.loss,
        ref.accuracy,
        steps,
        len(cache),
        log,
    )


def evaluation_from(
    logits: np.ndarray,
    labels: np.ndarray,
    boundaries: Sequence[np.ndarray] | np.ndarray | None = None,
    candidates: Sequence[int] | None = None,
) -> Evaluation:
    """Build an :class:`Evaluation` from one calibration pass of a simulated network.

    Args:
        logits: (N, classes) float outputs on the calibration images.
        labels: (N,) int labels.
        boundaries: the B_D/A chosen per decision, one array per layer (any shape each, e.g.
            a layer's ``last_boundary``), or None.
        candidates: B, needed with ``boundaries`` (the columns of ``b_share``).

    Returns:
        loss = mean cross-entropy (nats), accuracy (fraction) and b_share (n_layers, b): the
        share of each layer's decisions at each candidate.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    acc = float((z.argmax(1) == y).mean())
    share = None
    if boundaries is not None:
        if candidates is None:
            raise SpecError("evaluation_from: boundaries need the candidate list B")
        c = np.asarray(list(candidates))
        rows = []
        for b in boundaries:
            b = np.asarray(b).ravel()
            rows.append([(b == v).mean() if b.size else 0.0 for v in c])
        share = np.asarray(rows, dtype=float)
    return Evaluation(loss, acc, share)
