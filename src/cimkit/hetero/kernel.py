"""Fused kernel of the system model for searches: cost of every candidate split + the
partitioner, one design per loop iteration, compiled with numba (parallel over designs).

It computes what :func:`cimkit.hetero.model.cost_tensors` and the partitioners of
:mod:`cimkit.hetero.partition` compute, without the (n, L, K) temporaries; those numpy functions
are the reference the tests compare it with. Method ``fast`` is the same greedy as
:func:`~cimkit.hetero.partition.solve_fast` (same choices); method ``exact`` takes that greedy's
solution as the incumbent and, where its certificate leaves a gap, runs a Pareto dynamic
programme pruned by the LP bound of the layers left, with LP-guided dives that improve the
incumbent as it goes (:func:`_exact_lp`): the optimum, as
:func:`~cimkit.hetero.partition.solve_exact` finds it, at a fraction of its cost.
Without numba the model uses the numpy path (``evaluate_system(..., engine="numpy")``).
"""

# The loops keep the solver's notation (O objective, W words, l layer, k candidate) of
# partition.py's docstring; E741 would rename them into something harder to check against it.
# ruff: noqa: E741

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; the numpy path stays usable without it
    import numba

    _njit_par = numba.njit(parallel=True, cache=True)
    _njit = numba.njit(cache=True)
    _prange = numba.prange
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

    def _njit(f):  # type: ignore[no-redef]
        return f

    _njit_par = _njit

    _prange = range

#: Lagrangian multipliers tried around the critical slope (as partition.py).
LAM_FACTORS = np.array([0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25])
#: The exact programme dives from its most promising state every this many layers.
DIVE_EVERY = 2
#: States whose bound is within this relative margin of the incumbent are pruned: the optimum is
#: exact to this tolerance (rounding of the bound's sums is ~1e-15).
PRUNE_RTOL = 1e-12


@_njit_par
def fused_totals(
    cfg,  # (n,) int: index into the NPU tables
    macros,
    cu,
    t_op,
    dedup,
    bw,
    warm,
    p_npu,
    p_cu,
    t_npu,  # (C, S, K)
    t_sram,  # (C, S, K)
    e_npu,  # (C, S, K)
    t_fix,  # (C,) fixed layers' time
    e_fix,  # (C,) fixed layers' dynamic energy
    cand,  # (S, K)
    words,  # (S, K)
    wstream,  # (S, K)
    nin,  # (S, K)
    nout,  # (S, K)
    share,  # (S, K)
    pos,  # (S,)
    kern,  # (S,)
    dw,  # (S,) bool
    dyn,  # (S,) bool
    macs,  # (S,)
    act_bytes,  # (S,)
    per_op_in,  # (S,)
    words_per_macro,
    objective_energy,
    rho,
    e_mac,
    e_in,
    e_noc,
    macs_per_op,
    tol,
    lam_factors,
    exact,
    order,  # (S,) layer order of the exact programme (decreasing weight words)
    words_ord,  # (S, K) words[order]
    choice_out,  # (n, S) int64
    layer_t,  # (n, S) chosen candidates' time
    layer_e,  # (n, S) chosen candidates' energy
    out,  # (n, 6): latency, energy, objective, words, bound, multiplier of the bound
):
    n = cfg.shape[0]
    S, K = cand.shape
    for d in _prange(n):
        ci = cfg[d]
        m = macros[d]
        c = cu[d]
        T = np.empty((S, K))
        E = np.empty((S, K))
        for l in range(S):
            steps = math.ceil(pos[l] / c)
            kk = kern[l]
            r = kk * (c + kk - 1.0) / (kk * kk * c) if dedup[d] else 1.0
            port = max(1.0, c * r) if dw[l] else 1.0
            r_e = r if (dedup[d] and kk > 1) else 1.0
            for k in range(K):
                tn = t_npu[ci, l, k]
                en = e_npu[ci, l, k]
                if cand[l, k] > 0:
                    ws = wstream[l, k]
                    if m == 0:
                        tc = math.inf
                        busy = 0.0
                    elif ws == 0:
                        tc = 0.0
                        busy = 0.0
                    else:
                        per_macro = math.ceil(ws / m)
                        tc = per_macro * steps * port * t_op[d]
                        if dyn[l]:
                            tc += per_macro * t_op[d]
                        busy = tc * ws / per_macro
                    ti = nin[l, k] / bw[d]
                    to = nout[l, k] / bw[d]
                    tp = warm[d] + max(ti, tc) + to
                    tq = t_sram[ci, l, k] + warm[d] + ti + to
                    t = max(tn, tp, tq)
                    cim_macs = macs[l] * share[l, k]
                    ops = ws * pos[l]
                    reads = ws * steps
                    ec = (1.0 - rho) * e_mac * cim_macs + rho * e_mac * macs_per_op * reads
                    ec += e_in * ops * per_op_in[l] * r_e * act_bytes[l]
                    e = en + ec + e_noc * (nin[l, k] + nout[l, k]) + p_npu[d] * t + p_cu[d] * busy
                else:
                    t = tn
                    e = en + p_npu[d] * t
                T[l, k] = t
                E[l, k] = e
        O = E if objective_energy else T
        cap = m * words_per_macro
        ch = _solve_one(O, words, cap, tol, lam_factors, out, d)
        if exact and out[d, 4] < out[d, 2]:
            # The certificate leaves a gap: the pruned programme, layers in ``order``.
            Op = np.empty((S, K))
            inc = np.empty(S, dtype=np.int64)
            for i in range(S):
                inc[i] = ch[order[i]]
                for k in range(K):
                    Op[i, k] = O[order[i], k]
            chp, v = _exact_lp(Op, words_ord, cap, out[d, 2], inc)
            wsum = 0.0
            for i in range(S):
                ch[order[i]] = chp[i]
                wsum += words_ord[i, chp[i]]
            out[d, 2] = v
            out[d, 3] = wsum
            out[d, 4] = v
        lat = t_fix[ci]
        en_tot = e_fix[ci] + p_npu[d] * t_fix[ci]
        for l in range(S):
            choice_out[d, l] = ch[l]
            layer_t[d, l] = T[l, ch[l]]
            layer_e[d, l] = E[l, ch[l]]
            lat += T[l, ch[l]]
            en_tot += E[l, ch[l]]
        out[d, 0] = lat
        out[d, 1] = en_tot


@_njit
def _fill(ch, O, W, cap):
    S, K = O.shape
    left = cap
    for l in range(S):
        left -= W[l, ch[l]]
    for l in range(S):
        wc = W[l, ch[l]]
        best = -1
        bo = math.inf
        for k in range(K):
            if W[l, k] - wc <= left + 1e-9 and O[l, k] < bo:
                bo = O[l, k]
                best = k
        if best >= 0 and bo < O[l, ch[l]]:
            left -= W[l, best] - wc
            ch[l] = best


@_njit
def _solve_one(O, W, cap, tol, lam_factors, out, d):
    S, K = O.shape
    ch = np.empty(S, dtype=np.int64)
    used = 0.0
    val = 0.0
    for l in range(S):
        b = 0
        for k in range(1, K):
            if O[l, k] < O[l, b]:
                b = k
        ch[l] = b
        used += W[l, b]
        val += O[l, b]
    if used <= cap:
        out[d, 2] = val
        out[d, 3] = used
        out[d, 4] = val
        out[d, 5] = 0.0
        return ch
    # hull walk per layer (partition._hull_greedy)
    J = K - 1
    start = np.empty(S, dtype=np.int64)
    seg_dw = np.zeros((S, J))
    seg_s = np.full((S, J), -math.inf)
    seg_k = np.zeros((S, J), dtype=np.int64)
    for l in range(S):
        b = -1
        for k in range(K):
            if W[l, k] <= W[l, 0] and (b < 0 or O[l, k] < O[l, b]):
                b = k
        start[l] = b
        cur = b
        for j in range(J):
            smax = -math.inf
            for k in range(K):
                dwk = W[l, k] - W[l, cur]
                if dwk > 0:
                    s = (O[l, cur] - O[l, k]) / dwk
                    if s > smax and s < math.inf:
                        smax = s
            nxt = -1
            for k in range(K):
                dwk = W[l, k] - W[l, cur]
                if dwk > 0:
                    s = (O[l, cur] - O[l, k]) / dwk
                    if s > 0 and s >= smax * (1.0 - tol) and s < math.inf:
                        nxt = k
                        break
            if nxt < 0:
                break
            seg_s[l, j] = (O[l, cur] - O[l, nxt]) / (W[l, nxt] - W[l, cur])
            seg_dw[l, j] = W[l, nxt] - W[l, cur]
            seg_k[l, j] = nxt
            cur = nxt
        for j in range(1, J):
            if seg_s[l, j] > seg_s[l, j - 1]:
                seg_s[l, j] = seg_s[l, j - 1]
    flat = np.empty(S * J)
    for l in range(S):
        for j in range(J):
            flat[l * J + j] = -seg_s[l, j]
    order = np.argsort(flat, kind="mergesort")
    nv = 0
    for i in range(S * J):
        if flat[i] < math.inf:
            nv += 1
    # plain prefix and the critical segment
    cum = 0.0
    n_pre = 0
    for i in range(nv):
        f = order[i]
        if cum + seg_dw[f // J, f % J] <= cap + 1e-9:
            cum += seg_dw[f // J, f % J]
            n_pre += 1
        else:
            break
    used_pre = cum
    has_next = n_pre < nv
    crit = 0.0
    crit_dw = 0.0
    crit_layer = -1
    if has_next:
        f = order[n_pre]
        crit = seg_s[f // J, f % J]
        crit_dw = seg_dw[f // J, f % J]
        crit_layer = f // J
    bound = -math.inf
    best_lam = 0.0
    for a in range(lam_factors.shape[0]):
        lam = max(crit * lam_factors[a], 0.0)
        tot = -lam * cap
        for l in range(S):
            mn = math.inf
            for k in range(K):
                v = O[l, k] + lam * W[l, k]
                if v < mn:
                    mn = v
            tot += mn
        if tot > bound:
            bound = tot
            best_lam = lam
    out[d, 5] = best_lam
    # a: skip greedy
    last = np.full(S, -1, dtype=np.int64)
    blocked = np.zeros(S, dtype=np.bool_)
    left = cap
    for i in range(nv):
        f = order[i]
        l = f // J
        if blocked[l]:
            continue
        if seg_dw[l, f % J] <= left + 1e-9:
            left -= seg_dw[l, f % J]
            last[l] = f % J
        else:
            blocked[l] = True
    cha = np.empty(S, dtype=np.int64)
    for l in range(S):
        cha[l] = seg_k[l, last[l]] if last[l] >= 0 else start[l]
    _fill(cha, O, W, cap)
    va = 0.0
    for l in range(S):
        va += O[l, cha[l]]
    # b: take the critical segment, drop a suffix of the prefix
    best = cha
    vbest = va
    if has_next:
        excess = used_pre + crit_dw - cap
        acc = 0.0
        keep_from = -1
        for i in range(n_pre - 1, -1, -1):
            f = order[i]
            acc += seg_dw[f // J, f % J]
            if acc >= excess - 1e-9:
                keep_from = i
                break
        ok = keep_from >= 0
        if ok:
            for i in range(keep_from, n_pre):
                if order[i] // J == crit_layer:
                    ok = False
        if ok:
            lastb = np.full(S, -1, dtype=np.int64)
            for i in range(keep_from):
                f = order[i]
                if f % J > lastb[f // J]:
                    lastb[f // J] = f % J
            fc = order[n_pre]
            if fc % J > lastb[fc // J]:
                lastb[fc // J] = fc % J
            chb = np.empty(S, dtype=np.int64)
            for l in range(S):
                chb[l] = seg_k[l, lastb[l]] if lastb[l] >= 0 else start[l]
            _fill(chb, O, W, cap)
            wb = 0.0
            vb = 0.0
            for l in range(S):
                wb += W[l, chb[l]]
                vb += O[l, chb[l]]
            if wb <= cap + 1e-9 and vb < va:
                best = chb
                vbest = vb
    wsum = 0.0
    for l in range(S):
        wsum += W[l, best[l]]
    out[d, 2] = vbest
    out[d, 3] = wsum
    out[d, 4] = min(bound, vbest)
    return best


@_njit
def _suffix_lp(O, W):
    """The LP relaxation of every suffix of layers as a function of the words left.

    Per layer, the lower convex hull of its (W, O) points from its best zero-word candidate:
    segments of decreasing saving per word. For the layers ``>= l``, ``base[l]`` is the sum of
    their starting objectives and ``cw[l, :m[l] + 1]``, ``cs[l, :m[l] + 1]`` the cumulative words
    and savings of all their segments merged in order of decreasing slope (the LP optimum with
    ``c`` words takes them in that order, the last one fractionally). Merging one layer at a time
    from the last keeps each suffix sorted in O(segments)."""
    S, K = O.shape
    J = K - 1
    seg_w = np.zeros((S, J))
    seg_s = np.zeros((S, J))
    nseg = np.zeros(S, dtype=np.int64)
    start_o = np.zeros(S)
    for l in range(S):
        b = -1
        for k in range(K):
            if W[l, k] <= 0.0 and O[l, k] < math.inf and (b < 0 or O[l, k] < O[l, b]):
                b = k
        start_o[l] = O[l, b]
        cur = b
        j = 0
        while True:
            best = -1
            bs = 0.0
            for k in range(K):
                dwk = W[l, k] - W[l, cur]
                if dwk > 0 and O[l, k] < math.inf:
                    s = (O[l, cur] - O[l, k]) / dwk
                    if s > bs or (s == bs and best >= 0 and W[l, k] > W[l, best]):
                        bs = s
                        best = k
            if best < 0:
                break
            seg_w[l, j] = W[l, best] - W[l, cur]
            seg_s[l, j] = bs
            j += 1
            cur = best
        nseg[l] = j
    tot = 0
    for l in range(S):
        tot += nseg[l]
    cw = np.zeros((S + 1, tot + 1))
    cs = np.zeros((S + 1, tot + 1))
    m = np.zeros(S + 1, dtype=np.int64)
    base = np.zeros(S + 1)
    ls = np.empty(tot)
    lw = np.empty(tot)
    ns = np.empty(tot)
    nw = np.empty(tot)
    n = 0
    for l in range(S - 1, -1, -1):
        base[l] = base[l + 1] + start_o[l]
        a = 0
        b = 0
        t = 0
        q = nseg[l]
        while a < n or b < q:
            if b >= q or (a < n and ls[a] >= seg_s[l, b]):
                ns[t] = ls[a]
                nw[t] = lw[a]
                a += 1
            else:
                ns[t] = seg_s[l, b]
                nw[t] = seg_w[l, b]
                b += 1
            t += 1
        n = t
        aw = 0.0
        asv = 0.0
        for i in range(n):
            ls[i] = ns[i]
            lw[i] = nw[i]
            aw += nw[i]
            asv += nw[i] * ns[i]
            cw[l, i + 1] = aw
            cs[l, i + 1] = asv
        m[l] = n
    return base, cw, cs, m


@_njit
def _lp_at(base, cw, cs, m, l, c):
    """LP lower bound of the layers ``>= l`` with ``c`` words left (:func:`_suffix_lp`)."""
    n = m[l]
    if c < -1e-9:
        return math.inf
    if n == 0 or c <= 0.0:
        return base[l]
    if c >= cw[l, n]:
        return base[l] - cs[l, n]
    lo = 0
    hi = n
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if cw[l, mid] <= c:
            lo = mid
        else:
            hi = mid
    frac = (c - cw[l, lo]) / (cw[l, hi] - cw[l, lo])
    return base[l] - (cs[l, lo] + frac * (cs[l, hi] - cs[l, lo]))


@_njit
def _dive(O, W, cap, base, cw, cs, m, l0, w, ch):
    """Complete ``ch[l0:]`` from ``w`` words used: each layer in turn takes the candidate that
    fits with the least objective + LP bound of the layers after it. Returns the objective of
    the layers ``>= l0`` (a feasible completion; candidate 0 always fits)."""
    S, K = O.shape
    o = 0.0
    for l in range(l0, S):
        best = 0
        bv = math.inf
        for k in range(K):
            if w + W[l, k] > cap + 1e-9 or not O[l, k] < math.inf:
                continue
            v = O[l, k] + _lp_at(base, cw, cs, m, l + 1, cap - w - W[l, k])
            if v < bv:
                bv = v
                best = k
        ch[l] = best
        w += W[l, best]
        o += O[l, best]
    return o


@_njit
def _exact_lp(O, W, cap, inc_val, inc_choice):
    """The optimum of ``min sum O[l, k_l]`` s.t. ``sum W[l, k_l] <= cap`` (to
    :data:`PRUNE_RTOL`): a Pareto dynamic programme over the layers (states = (words, objective)
    partial sums, dominated ones dropped) that drops every state whose objective plus the LP
    bound of the layers left (:func:`_suffix_lp`) cannot beat the incumbent. The incumbent
    starts as the better of ``inc_val`` and an LP-guided dive, and improves by diving from the
    most promising state every :data:`DIVE_EVERY` layers: with a near-optimal incumbent the
    bound leaves a handful of states per layer. Layers with the most words should come first
    (the bound is tightest over many small ones). Returns (choice, value)."""
    S, K = O.shape
    base, cw, cs, m = _suffix_lp(O, W)
    best_ch = inc_choice.copy()
    best_v = inc_val
    tmp = np.zeros(S, dtype=np.int64)
    v = _dive(O, W, cap, base, cw, cs, m, 0, 0.0, tmp)
    if v < best_v:
        best_v = v
        best_ch[:] = tmp
    size = 1024
    par = np.empty(size, dtype=np.int64)  # parent state id of each kept state
    chs = np.empty(size, dtype=np.int64)  # its candidate
    n_glob = 0
    sw = np.zeros(1)
    so = np.zeros(1)
    sid = np.full(1, -1, dtype=np.int64)
    for l in range(S):
        thresh = best_v - PRUNE_RTOL * abs(best_v)
        mm = sw.shape[0] * K
        cw_ = np.empty(mm)
        co = np.empty(mm)
        cb = np.empty(mm)
        cp = np.empty(mm, dtype=np.int64)
        ck = np.empty(mm, dtype=np.int64)
        c = 0
        for i in range(sw.shape[0]):
            for k in range(K):
                if k > 0 and W[l, k] == W[l, k - 1] and O[l, k] >= O[l, k - 1]:
                    continue  # a padded repeat or no better for the same words
                w = sw[i] + W[l, k]
                o = so[i] + O[l, k]
                if w > cap + 1e-9 or not o < math.inf:
                    continue
                bnd = o + _lp_at(base, cw, cs, m, l + 1, cap - w)
                if bnd >= thresh:
                    continue
                cw_[c] = w
                co[c] = o
                cb[c] = bnd
                cp[c] = sid[i]
                ck[c] = k
                c += 1
        if c == 0:
            return best_ch, best_v
        o1 = np.argsort(co[:c], kind="mergesort")
        o2 = o1[np.argsort(cw_[:c][o1], kind="mergesort")]
        keep = np.zeros(c, dtype=np.bool_)
        run = math.inf
        nk = 0
        bi = -1
        for j in range(c):
            i = o2[j]
            if co[i] < run:
                keep[j] = True
                run = co[i]
                nk += 1
                if bi < 0 or cb[i] < cb[bi]:
                    bi = i
        if l + 1 < S and l % DIVE_EVERY == 0 and nk > 1:
            tmp[l] = ck[bi]
            g = cp[bi]
            for ll in range(l - 1, -1, -1):
                tmp[ll] = chs[g]
                g = par[g]
            v = co[bi] + _dive(O, W, cap, base, cw, cs, m, l + 1, cw_[bi], tmp)
            if v < best_v:
                best_v = v
                best_ch[:] = tmp
        nw = np.empty(nk)
        no = np.empty(nk)
        nid = np.empty(nk, dtype=np.int64)
        t = 0
        for j in range(c):
            if keep[j]:
                i = o2[j]
                if n_glob >= size:
                    size *= 2
                    p2 = np.empty(size, dtype=np.int64)
                    c2 = np.empty(size, dtype=np.int64)
                    p2[:n_glob] = par[:n_glob]
                    c2[:n_glob] = chs[:n_glob]
                    par, chs = p2, c2
                par[n_glob] = cp[i]
                chs[n_glob] = ck[i]
                nw[t] = cw_[i]
                no[t] = co[i]
                nid[t] = n_glob
                n_glob += 1
                t += 1
        sw, so, sid = nw, no, nid
    b = 0
    for i in range(so.shape[0]):
        if so[i] < so[b]:
            b = i
    if not so[b] < best_v:
        return best_ch, best_v
    ch = np.empty(S, dtype=np.int64)
    g = sid[b]
    for l in range(S - 1, -1, -1):
        ch[l] = chs[g]
        g = par[g]
    return ch, so[b]


def exact_order(words: np.ndarray) -> np.ndarray:
    """(S,) layer order of the exact programme: decreasing words of the whole layer."""
    return np.argsort(-np.asarray(words)[:, -1], kind="stable")
