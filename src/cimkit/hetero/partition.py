"""Choose one candidate split per layer under the macros' weight capacity.

The problem, per design: minimise sum_l O[l, k_l] subject to sum_l W[l, k_l] <= capacity, with
one candidate k_l per layer (a multiple-choice knapsack; O is the layer's latency or energy,
W its MRAM words). Candidate 0 uses no words, so the NPU-only choice is always feasible.

* :func:`solve_fast` (vectorized over designs): when the per-layer best choices fit, they are
  optimal. Otherwise the greedy over the lower convex hull of each layer's (W, O) points: hull
  segments of all layers in order of decreasing saving per word, each taken if it fits (a layer
  whose segment does not fit takes none of its later ones). The Lagrangian dual at the saving
  per word of the first segment that does not fit (and multipliers near it) is
  ``lower_bound``, which certifies the gap. A second solution takes that first segment and drops
  the lowest-saving ones before it until the words fit; each solution then gives each layer, in
  order, the best candidate that fits in what is left, and the better one is returned.
* :func:`solve_exact`: exact, by dynamic programming over Pareto-optimal (words, objective)
  partial sums (dominated states pruned), one design at a time.
* :func:`solve_brute`: every combination, for tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Solution:
    """Chosen candidate per layer for n designs.

    Attributes:
        choice: (n, L) candidate index per layer.
        objective: (n,) sum of the chosen objective values.
        words: (n,) words used.
        lower_bound: (n,) a lower bound on the optimal objective (= objective when exact).
    """

    choice: np.ndarray
    objective: np.ndarray
    words: np.ndarray
    lower_bound: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """(n,) certified relative gap to the optimum: (objective - bound) / objective."""
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (self.objective - self.lower_bound) / self.objective
        return np.where(np.isfinite(g), np.maximum(g, 0.0), 0.0)


def _gather(obj: np.ndarray, choice: np.ndarray) -> np.ndarray:
    return np.take_along_axis(obj, choice[..., None], axis=-1)[..., 0]


def solve_fast(obj: np.ndarray, words: np.ndarray, capacity: np.ndarray) -> Solution:
    """Greedy hull solution with a certified bound (module docstring).

    Args:
        obj: (n, L, K) objective of each candidate (finite; inf marks a forbidden candidate).
        words: (L, K) words of each candidate; candidate 0 must use none.
        capacity: (n,) words available.
    """
    n, L, K = obj.shape
    w = np.broadcast_to(words, (n, L, K))
    best = np.argmin(obj, axis=-1)
    used = _gather(w, best).sum(axis=1)
    choice = best.copy()
    value = _gather(obj, best).sum(axis=1)
    bound = value.copy()
    bad = np.flatnonzero(used > capacity)
    if bad.size:
        c, v, b = _hull_greedy(obj[bad], words, capacity[bad])
        choice[bad], value[bad], bound[bad] = c, v, b
        used = _gather(w, choice).sum(axis=1)
    return Solution(choice=choice, objective=value, words=used, lower_bound=bound)


#: Relative slope tolerance of the hull walk (see _hull_greedy).
HULL_TOLERANCE = 0.02


def lagrangian_bound(
    obj: np.ndarray, words: np.ndarray, capacity: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """A lower bound on the optimum for any multiplier ``lam`` >= 0 ((n,) or (n, J)):
    sum_l min_k (O + lam W) - lam capacity; the best over the J multipliers."""
    lam = np.atleast_2d(np.asarray(lam, dtype=np.float64).T).T if np.ndim(lam) == 1 else lam
    best = np.full(obj.shape[0], -np.inf)
    for j in range(lam.shape[1]):
        lj = np.maximum(lam[:, j], 0.0)
        d = (obj + lj[:, None, None] * words[None]).min(axis=-1).sum(axis=1) - lj * capacity
        best = np.maximum(best, d)
    return best


def _hull_greedy(
    obj: np.ndarray, words: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, L, K = obj.shape
    w = np.broadcast_to(words, (m, L, K)).astype(np.float64)
    rows = np.arange(m)[:, None]
    cols = np.arange(L)[None, :]
    # Start from the best candidate among those using the fewest words (candidate 0 uses none,
    # but others may too: attention heads on the macros hold no weights).
    start = np.argmin(np.where(w <= w[..., :1], obj, np.inf), axis=-1)
    cur = start.copy()
    seg_dw = np.zeros((m, L, K - 1))
    seg_do = np.zeros((m, L, K - 1))
    seg_s = np.full((m, L, K - 1), -np.inf)
    seg_k = np.zeros((m, L, K - 1), dtype=np.int64)
    alive = np.ones((m, L), dtype=bool)
    for j in range(K - 1):
        wc = w[rows, cols, cur][..., None]
        oc = obj[rows, cols, cur][..., None]
        dw = w - wc
        do = oc - obj
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(dw > 0, do / dw, -np.inf)
        s = np.where(np.isfinite(s), s, -np.inf)
        smax = s.max(axis=-1)
        # Near-collinear points (slopes within HULL_TOLERANCE of the steepest) are taken one at
        # a time, nearest first: a long segment through them would make the greedy all or
        # nothing on a big layer (a classifier's equal steps of 1,144 words each).
        near = (s > 0) & (s >= (smax * (1.0 - HULL_TOLERANCE))[..., None])
        nxt = np.argmax(near, axis=-1)
        smax = np.take_along_axis(s, nxt[..., None], axis=-1)[..., 0]
        ok = alive & near.any(axis=-1)
        seg_s[..., j] = np.where(ok, smax, -np.inf)
        seg_dw[..., j] = np.where(ok, _gather(dw, nxt), 0.0)
        seg_do[..., j] = np.where(ok, _gather(do, nxt), 0.0)
        seg_k[..., j] = nxt
        cur = np.where(ok, nxt, cur)
        alive = ok
        if not alive.any():
            break
    # Keep each layer's slopes non-increasing (the tolerance can make a later segment slightly
    # steeper), so that sorting by slope never puts a layer's segment before an earlier one.
    seg_s = np.minimum.accumulate(seg_s, axis=-1)
    flat_s = seg_s.reshape(m, -1)
    order = np.argsort(-flat_s, axis=1, kind="stable")
    s_sorted = np.take_along_axis(flat_s, order, axis=1)
    dw_sorted = np.take_along_axis(seg_dw.reshape(m, -1), order, axis=1)
    valid = np.isfinite(s_sorted)
    # The plain prefix of segments that fit, and the first that does not (the critical one).
    cum = np.cumsum(np.where(valid, dw_sorted, 0.0), axis=1)
    prefix = np.cumprod(valid & (cum <= capacity[:, None] + 1e-9), axis=1).astype(bool)
    n_pre = prefix.sum(axis=1)
    has_next = n_pre < valid.sum(axis=1)
    nxt_i = np.minimum(n_pre, flat_s.shape[1] - 1)
    r = np.arange(m)
    used_pre = np.where(n_pre > 0, cum[r, np.maximum(n_pre - 1, 0)], 0.0)
    nxt_dw = dw_sorted[r, nxt_i]
    # Lower bound: the Lagrangian dual at multipliers around the critical slope (the saving per
    # word of the first segment that does not fit), which is where the relaxation's optimum is.
    crit = np.where(has_next, s_sorted[r, nxt_i], 0.0)
    lam = crit[:, None] * np.array([0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25])[None, :]
    bound = lagrangian_bound(obj, words, capacity, lam)
    # The integral solution: segments in the same order, skipping one that does not fit and
    # every later segment of its layer (a layer's segments must be taken in hull order).
    seg_layer = order // (K - 1)
    blocked = np.zeros((m, L), dtype=bool)
    take = np.zeros_like(valid)
    left = capacity.astype(np.float64).copy()
    for j in range(int(valid.sum(axis=1).max(initial=0))):
        lay = seg_layer[:, j]
        v = valid[:, j] & ~blocked[r, lay]
        ok = v & (dw_sorted[:, j] <= left + 1e-9)
        take[:, j] = ok
        left = left - np.where(ok, dw_sorted[:, j], 0.0)
        blocked[r, lay] |= v & ~ok
    choice_a = _choice_from_taken(take, order, seg_k, start)
    # Second solution: take the critical segment (the first that does not fit) and drop the
    # lowest-saving segments taken before it until the words fit (a suffix of the prefix, so
    # each layer keeps a prefix of its hull); invalid when that drops the critical layer's own.
    crit_layer = seg_layer[r, nxt_i]
    excess = used_pre + nxt_dw - capacity
    suffix = used_pre[:, None] - np.concatenate([np.zeros((m, 1)), cum[:, :-1]], axis=1)
    keep_from = np.where(prefix & (suffix >= excess[:, None] - 1e-9),
                         np.arange(prefix.shape[1])[None, :], -1).max(axis=1)  # fmt: skip
    pos = np.arange(prefix.shape[1])[None, :]
    dropped = prefix & (pos >= keep_from[:, None])
    take_b = (prefix & ~dropped) | ((pos == nxt_i[:, None]) & has_next[:, None])
    ok_b = has_next & (keep_from >= 0) & ~(dropped & (seg_layer == crit_layer[:, None])).any(axis=1)
    choice_b = _choice_from_taken(take_b, order, seg_k, start)
    choice_a = _fill(choice_a, obj, w, capacity)
    choice_b = _fill(choice_b, obj, w, capacity)
    value_a = _gather(obj, choice_a).sum(axis=1)
    fits_b = _gather(w, choice_b).sum(axis=1) <= capacity + 1e-9
    value_b = np.where(ok_b & fits_b, _gather(obj, choice_b).sum(axis=1), np.inf)
    use_b = value_b < value_a
    choice = np.where(use_b[:, None], choice_b, choice_a)
    value = np.where(use_b, value_b, value_a)
    return choice, value, np.minimum(bound, value)


def _choice_from_taken(
    take: np.ndarray, order: np.ndarray, seg_k: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Each layer's candidate: the target of its last taken hull segment (else ``start``)."""
    m, L, s = seg_k.shape
    taken_flat = np.zeros(m * L * s, dtype=bool)
    taken_flat[(np.arange(m)[:, None] * (L * s) + order)[take]] = True
    taken = taken_flat.reshape(m, L, s)
    last = np.where(taken.any(axis=-1), (s - 1) - np.argmax(taken[..., ::-1], axis=-1), -1)
    target = np.take_along_axis(seg_k, np.maximum(last, 0)[..., None], -1)[..., 0]
    return np.where(last >= 0, target, start)


def _fill(choice: np.ndarray, obj: np.ndarray, w: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Each layer in turn takes its best candidate within the words left."""
    m, L, _ = obj.shape
    r = np.arange(m)
    choice = choice.copy()
    left = capacity - _gather(w, choice).sum(axis=1)
    for layer in range(L):
        wl = w[:, layer, :]
        ol = obj[:, layer, :]
        wc = wl[r, choice[:, layer]]
        cand = np.where(wl - wc[:, None] <= left[:, None] + 1e-9, ol, np.inf)
        k = np.argmin(cand, axis=1)
        new = np.where(cand[r, k] < ol[r, choice[:, layer]], k, choice[:, layer])
        left = left - (wl[r, new] - wc)
        choice[:, layer] = new
    return choice


def solve_exact(obj: np.ndarray, words: np.ndarray, capacity: np.ndarray) -> Solution:
    """Exact optimum by a Pareto dynamic programme, one design at a time."""
    n, L, K = obj.shape
    choice = np.zeros((n, L), dtype=np.int64)
    value = np.zeros(n)
    used = np.zeros(n)
    for d in range(n):
        cap = float(capacity[d])
        st_w = np.zeros(1)
        st_o = np.zeros(1)
        back: list[tuple[np.ndarray, np.ndarray]] = []
        for layer in range(L):
            ow = st_w[:, None] + words[layer][None, :]
            oo = st_o[:, None] + obj[d, layer][None, :]
            parent = np.repeat(np.arange(len(st_w)), K)
            kk = np.tile(np.arange(K), len(st_w))
            ow, oo = ow.ravel(), oo.ravel()
            keep = (ow <= cap + 1e-9) & np.isfinite(oo)
            ow, oo, parent, kk = ow[keep], oo[keep], parent[keep], kk[keep]
            order = np.lexsort((oo, ow))
            ow, oo, parent, kk = ow[order], oo[order], parent[order], kk[order]
            # Keep states whose objective beats every state with fewer or equal words.
            run = np.minimum.accumulate(oo)
            pareto = np.ones(len(oo), dtype=bool)
            pareto[1:] = oo[1:] < run[:-1]
            st_w, st_o = ow[pareto], oo[pareto]
            back.append((parent[pareto], kk[pareto]))
        i = int(np.argmin(st_o))
        value[d], used[d] = st_o[i], st_w[i]
        for layer in range(L - 1, -1, -1):
            par, kk = back[layer]
            choice[d, layer] = kk[i]
            i = int(par[i])
    return Solution(choice=choice, objective=value, words=used, lower_bound=value.copy())


def solve_brute(obj: np.ndarray, words: np.ndarray, capacity: np.ndarray) -> Solution:
    """Every combination of candidates (K^L per design): the reference for tests."""
    n, L, K = obj.shape
    combos = np.array(list(itertools.product(range(K), repeat=L)), dtype=np.int64)
    wsum = words[np.arange(L)[None, :], combos].sum(axis=1)
    choice = np.zeros((n, L), dtype=np.int64)
    value = np.zeros(n)
    used = np.zeros(n)
    for d in range(n):
        osum = obj[d][np.arange(L)[None, :], combos].sum(axis=1)
        osum = np.where(wsum <= capacity[d] + 1e-9, osum, np.inf)
        i = int(np.argmin(osum))
        choice[d], value[d], used[d] = combos[i], osum[i], wsum[i]
    return Solution(choice=choice, objective=value, words=used, lower_bound=value.copy())


SOLVERS = {"fast": solve_fast, "exact": solve_exact, "brute": solve_brute}
