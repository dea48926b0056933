"""Fused kernel of the system model for searches: cost of every candidate split + the
partitioner, one design per loop iteration, compiled with numba (parallel over designs).

It computes what :func:`cimkit.hetero.model.cost_tensors` and the partitioners of
:mod:`cimkit.hetero.partition` compute, without the (n, L, K) temporaries; those numpy functions
are the reference the tests compare it with. Method ``fast`` is the same greedy as
:func:`~cimkit.hetero.partition.solve_fast` (same choices); method ``exact`` takes that greedy's
solution as the incumbent and, where its certificate leaves a gap, runs a Pareto dynamic
programme pruned by the Lagrangian bound (:func:`_exact_bb`): the optimum, as
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
#: Multipliers (x the bound's) of the pruned programme's state bounds.
BOUND_FACTORS = np.array([0.0, 0.5, 0.7, 0.85, 0.95, 1.0, 1.05, 1.15, 1.3, 1.6, 2.0, 3.0])
#: Multipliers (x the bound's) whose Lagrangian solutions are repaired into incumbents.
REPAIR_FACTORS = np.array([0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.02, 1.05, 1.1, 1.25, 1.5, 2.0])


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
    rel_tol,
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
            # A better incumbent first: the greedy can be a few % off where big layers meet the
            # capacity, and the pruned programme explores what the incumbent leaves open.
            lam0 = out[d, 5]
            for a in range(REPAIR_FACTORS.shape[0]):
                ch_r = _lagrangian_repair(O, words, cap, lam0 * REPAIR_FACTORS[a])
                v_r = 0.0
                for l in range(S):
                    v_r += O[l, ch_r[l]]
                if v_r < out[d, 2]:
                    out[d, 2] = v_r
                    ch = ch_r
            # The layer with the biggest weight steps decides most: try each of its candidates
            # fixed, the rest repaired around it.
            big = 0
            for l in range(S):
                if words[l, K - 1] > words[big, K - 1]:
                    big = l
            O2 = O.copy()
            for kf in range(K):
                if words[big, kf] > cap or not O[big, kf] < math.inf:
                    continue
                for k in range(K):
                    O2[big, k] = O[big, k] if k == kf else math.inf
                for a in range(3):
                    ch_r = _lagrangian_repair(O2, words, cap, lam0 * (0.9 + 0.1 * a))
                    v_r = 0.0
                    for l in range(S):
                        v_r += O[l, ch_r[l]]
                    if v_r < out[d, 2]:
                        out[d, 2] = v_r
                        ch = ch_r
            ch, v = _exact_fixed(O, words, cap, lam0, out[d, 2], ch, rel_tol)
            wsum = 0.0
            for l in range(S):
                wsum += words[l, ch[l]]
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
def _exact_fixed(O, W, cap, lam, inc_val, inc_choice, rel_tol):
    """:func:`_exact_bb` after Lagrangian variable fixing: a candidate whose reduced cost
    (O + lam W minus its layer's minimum) reaches the incumbent's gap to the bound at ``lam``
    cannot be in a better solution, so it is dropped; layers left with one candidate are
    constants, and the programme runs over the others only."""
    S, K = O.shape
    lb = -lam * cap
    mins = np.empty(S)
    for l in range(S):
        mn = math.inf
        for k in range(K):
            v = O[l, k] + lam * W[l, k]
            if v < mn:
                mn = v
        mins[l] = mn
        lb += mn
    gap = inc_val - lb
    if gap <= 0:
        return inc_choice.copy(), inc_val
    keep = np.zeros((S, K), dtype=np.bool_)
    nfree = 0
    kmax = 1
    for l in range(S):
        c = 0
        for k in range(K):
            if O[l, k] + lam * W[l, k] - mins[l] < gap and O[l, k] < math.inf:
                keep[l, k] = True
                c += 1
        if c == 0:
            return inc_choice.copy(), inc_val
        if c > 1:
            nfree += 1
        if c > kmax:
            kmax = c
    ch = np.zeros(S, dtype=np.int64)
    if nfree == 0:
        for l in range(S):
            for k in range(K):
                if keep[l, k]:
                    ch[l] = k
        w = 0.0
        v = 0.0
        for l in range(S):
            w += W[l, ch[l]]
            v += O[l, ch[l]]
        if w <= cap + 1e-9 and v < inc_val:
            return ch, v
        return inc_choice.copy(), inc_val
    Of = np.full((nfree, kmax), math.inf)
    Wf = np.zeros((nfree, kmax))
    idx = np.zeros((nfree, kmax), dtype=np.int64)
    rows = np.empty(nfree, dtype=np.int64)
    cap_f = cap
    off = 0.0
    i = 0
    for l in range(S):
        c = 0
        for k in range(K):
            if keep[l, k]:
                c += 1
        if c == 1:
            for k in range(K):
                if keep[l, k]:
                    ch[l] = k
                    cap_f -= W[l, k]
                    off += O[l, k]
            continue
        rows[i] = l
        j = 0
        for k in range(K):
            if keep[l, k]:
                Of[i, j] = O[l, k]
                Wf[i, j] = W[l, k]
                idx[i, j] = k
                j += 1
        i += 1
    if cap_f < -1e-9:
        return inc_choice.copy(), inc_val
    inc_f = np.zeros(nfree, dtype=np.int64)
    chf, vf = _exact_bb(Of, Wf, cap_f, lam, inc_val - off, inc_f, rel_tol)
    if not vf + off < inc_val:
        return inc_choice.copy(), inc_val
    for i in range(nfree):
        ch[rows[i]] = idx[i, chf[i]]
    return ch, vf + off


@_njit
def _exact_bb(O, W, cap, lam, inc_val, inc_choice, rel_tol):
    """Exact optimum: a Pareto dynamic programme over the layers (states = (words, objective)
    partial sums, dominated ones dropped) that also drops every state whose objective plus the
    Lagrangian lower bound of the layers left (at multiplier ``lam``, with the words left) cannot
    beat the incumbent ``inc_val``. Returns (choice, value); the incumbent when nothing beats it.
    """
    S, K = O.shape
    # R[l, j] = sum over layers >= l of min_k (O + lam_j W), for multipliers around ``lam``:
    # the bound of a state (w, o) after layer l is o + max_j (R[l+1, j] - lam_j (cap - w)).
    J = BOUND_FACTORS.shape[0]
    lams = lam * BOUND_FACTORS
    R = np.zeros((S + 1, J))
    for l in range(S - 1, -1, -1):
        for j in range(J):
            mn = math.inf
            for k in range(K):
                v = O[l, k] + lams[j] * W[l, k]
                if v < mn:
                    mn = v
            R[l, j] = R[l + 1, j] + mn
    thresh = inc_val - max(rel_tol, 1e-12) * abs(inc_val)
    size = 1024
    par = np.empty(size, dtype=np.int64)
    chs = np.empty(size, dtype=np.int64)
    n_glob = 0
    sw = np.zeros(1)
    so = np.zeros(1)
    sid = np.full(1, -1, dtype=np.int64)
    for l in range(S):
        m = sw.shape[0] * K
        cw = np.empty(m)
        co = np.empty(m)
        cp = np.empty(m, dtype=np.int64)
        ck = np.empty(m, dtype=np.int64)
        c = 0
        for i in range(sw.shape[0]):
            for k in range(K):
                w = sw[i] + W[l, k]
                o = so[i] + O[l, k]
                if w > cap + 1e-9 or not o < math.inf:
                    continue
                bnd = -math.inf
                for j in range(J):
                    b = R[l + 1, j] - lams[j] * (cap - w)
                    if b > bnd:
                        bnd = b
                if o + bnd >= thresh:
                    continue
                cw[c] = w
                co[c] = o
                cp[c] = sid[i]
                ck[c] = k
                c += 1
        if c == 0:
            return inc_choice.copy(), inc_val
        cw, co, cp, ck = cw[:c], co[:c], cp[:c], ck[:c]
        o1 = np.argsort(co, kind="mergesort")
        o2 = o1[np.argsort(cw[o1], kind="mergesort")]
        keep = np.zeros(c, dtype=np.bool_)
        run = math.inf
        nk = 0
        for j in range(c):
            i = o2[j]
            if co[i] < run:
                keep[j] = True
                run = co[i]
                nk += 1
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
                nw[t] = cw[i]
                no[t] = co[i]
                nid[t] = n_glob
                n_glob += 1
                t += 1
        sw, so, sid = nw, no, nid
    b = 0
    for i in range(so.shape[0]):
        if so[i] < so[b]:
            b = i
    if not so[b] < inc_val:
        return inc_choice.copy(), inc_val
    ch = np.empty(S, dtype=np.int64)
    g = sid[b]
    for l in range(S - 1, -1, -1):
        ch[l] = chs[g]
        g = par[g]
    return ch, so[b]


@_njit
def _lagrangian_repair(O, W, cap, lam):
    """Each layer's best candidate at multiplier ``lam``; while over capacity, the move (any
    layer to any candidate with fewer words) that loses the least objective per word freed;
    then the fill pass. Always feasible (candidate 0 uses no words)."""
    S, K = O.shape
    ch = np.empty(S, dtype=np.int64)
    used = 0.0
    for l in range(S):
        b = 0
        for k in range(1, K):
            if O[l, k] + lam * W[l, k] < O[l, b] + lam * W[l, b]:
                b = k
        ch[l] = b
        used += W[l, b]
    while used > cap + 1e-9:
        best_r = math.inf
        bl = -1
        bk = -1
        for l in range(S):
            wc = W[l, ch[l]]
            oc = O[l, ch[l]]
            for k in range(K):
                dw = wc - W[l, k]
                if dw > 0:
                    r = (O[l, k] - oc) / dw
                    if r < best_r:
                        best_r = r
                        bl = l
                        bk = k
        if bl < 0 or not best_r < math.inf:
            break
        used -= W[bl, ch[bl]] - W[bl, bk]
        ch[bl] = bk
    if used > cap + 1e-9:
        for l in range(S):
            ch[l] = 0
    _fill(ch, O, W, cap)
    return ch
