"""The split solver: exact = brute force, fast is feasible and certified, and the system model's
invariants (NPU-only split = no macros, more macros never slower)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cimkit.hetero import nmc
from cimkit.hetero.model import SystemDesigns, evaluate_system
from cimkit.hetero.partition import lagrangian_bound, solve_brute, solve_exact, solve_fast
from cimkit.hetero.plan import build_plan
from cimkit.specs.system import SystemSpec
from cimkit.workload.builtin import get_network


def _random_case(rng: np.random.Generator, n: int, L: int, K: int):
    words = np.sort(rng.integers(0, 50, size=(L, K)), axis=1).astype(float)
    words[:, 0] = 0.0
    obj = rng.uniform(1.0, 10.0, size=(n, L, K))
    cap = rng.uniform(0, words[:, -1].sum(), size=n)
    return obj, words, cap


@pytest.mark.parametrize("seed", range(30))
def test_exact_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    obj, words, cap = _random_case(rng, 8, int(rng.integers(2, 6)), int(rng.integers(2, 5)))
    ex = solve_exact(obj, words, cap)
    bf = solve_brute(obj, words, cap)
    np.testing.assert_allclose(ex.objective, bf.objective, rtol=1e-12)
    assert (ex.words <= cap + 1e-9).all()


@pytest.mark.parametrize("seed", range(30))
def test_fast_is_feasible_and_its_bound_holds(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    obj, words, cap = _random_case(rng, 16, int(rng.integers(2, 6)), int(rng.integers(2, 5)))
    fast = solve_fast(obj, words, cap)
    bf = solve_brute(obj, words, cap)
    used = words[np.arange(words.shape[0])[None, :], fast.choice].sum(axis=1)
    assert (used <= cap + 1e-9).all()
    np.testing.assert_allclose(used, fast.words)
    assert (fast.objective >= bf.objective - 1e-9).all()
    assert (fast.lower_bound <= bf.objective + 1e-9).all()
    # the reported objective is the chosen candidates' sum
    chosen = np.take_along_axis(obj, fast.choice[..., None], -1)[..., 0].sum(axis=1)
    np.testing.assert_allclose(chosen, fast.objective)


def test_fast_is_exact_when_capacity_is_slack() -> None:
    rng = np.random.default_rng(7)
    obj, words, _ = _random_case(rng, 20, 5, 4)
    cap = np.full(20, words[:, -1].sum())
    fast = solve_fast(obj, words, cap)
    np.testing.assert_allclose(fast.objective, obj.min(axis=-1).sum(axis=1))
    assert (fast.gap == 0).all()


def test_lagrangian_bound_is_a_lower_bound() -> None:
    rng = np.random.default_rng(3)
    obj, words, cap = _random_case(rng, 10, 4, 4)
    bf = solve_brute(obj, words, cap)
    for lam in (0.0, 0.01, 0.1, 1.0, 10.0):
        b = lagrangian_bound(obj, words, cap, np.full(10, lam))
        assert (b <= bf.objective + 1e-9).all()


def _designs(macros: list[int], **kw: object) -> SystemDesigns:
    specs = [SystemSpec.model_validate({"cim": {"macros": m, **kw}}) for m in macros]
    return SystemDesigns.from_specs(specs)


@pytest.mark.parametrize("network", ["h4h_hybrid_min", "mobilenetv2"])
@pytest.mark.parametrize("mode", ["Shared_Sram", "Sram_Only"])
def test_split_zero_reproduces_npu_only_exactly(network: str, mode: str) -> None:
    wl = get_network(network)
    specs = [SystemSpec.model_validate({"npu": {"memory_mode": mode}, "cim": {"macros": m}})
             for m in (0, 4)]  # fmt: skip
    plan = build_plan(wl)
    npu_only = evaluate_system(plan, specs[:1])
    forced = evaluate_system(plan, specs[1:], force_split=np.zeros(plan.n_layers, dtype=int))
    assert forced.latency_s[0] == npu_only.latency_s[0]
    assert forced.energy_j[0] == npu_only.energy_j[0]
    assert (forced.split == 0).all() and (npu_only.split == 0).all()
    np.testing.assert_array_equal(forced.layer_time_s, npu_only.layer_time_s)


@pytest.mark.parametrize("method", ["fast", "exact"])
@pytest.mark.parametrize("cu", [1, 4])
def test_latency_never_increases_with_more_macros(method: str, cu: int) -> None:
    wl = get_network("h4h_hybrid_min")
    macros = [0, 1, 2, 3, 4, 6, 8, 12, 16]
    d = replace(_designs(macros, compute_units=cu), method=method)
    ev = evaluate_system(wl, d)
    assert (np.diff(ev.latency_s) <= 1e-12 * ev.latency_s[:-1]).all(), ev.latency_s
    assert (ev.words_used <= np.array(macros) * nmc.WORDS_PER_MACRO).all()


def test_fast_matches_exact_on_a_real_network_within_its_bound() -> None:
    wl = get_network("h4h_hybrid_min")
    d = _designs([1, 2, 4])
    fast = evaluate_system(wl, d)
    exact = evaluate_system(wl, replace(d, method="exact"))
    assert (fast.solution.objective >= exact.solution.objective - 1e-15).all()
    assert (fast.solution.lower_bound <= exact.solution.objective + 1e-15).all()
    assert (exact.solution.gap == 0).all()


def test_energy_objective_minimises_energy() -> None:
    wl = get_network("h4h_hybrid_min")
    lat = evaluate_system(wl, replace(_designs([4]), method="exact"))
    en = evaluate_system(wl, replace(_designs([4]), objective="energy", method="exact"))
    assert en.energy_j[0] <= lat.energy_j[0]
    assert en.latency_s[0] >= lat.latency_s[0] - 1e-15


@pytest.mark.parametrize("seed", range(40))
def test_fused_exact_equals_brute_force(seed: int) -> None:
    """The compiled exact partitioner (greedy incumbent, LP-bounded Pareto programme with
    dives) against every combination."""
    from cimkit.hetero import kernel

    if not kernel.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(1000 + seed)
    obj, words, cap = _random_case(rng, 6, int(rng.integers(2, 7)), int(rng.integers(2, 5)))
    bf = solve_brute(obj, words, cap)
    for d in range(obj.shape[0]):
        out = np.zeros((1, 6))
        ch = kernel._solve_one(obj[d], words, cap[d], 0.02, kernel.LAM_FACTORS, out, 0)
        assert out[0, 4] <= bf.objective[d] + 1e-12  # the certificate is a lower bound
        order = kernel.exact_order(words)
        chp, v = kernel._exact_lp(obj[d][order], words[order], cap[d], out[0, 2], ch[order])
        ch = np.empty_like(chp)
        ch[order] = chp
        assert v == pytest.approx(bf.objective[d], rel=1e-12)
        assert words[np.arange(len(ch)), ch].sum() <= cap[d] + 1e-9
        assert obj[d][np.arange(len(ch)), ch].sum() == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_fused_exact_equals_the_pareto_programme_on_larger_cases(seed: int) -> None:
    """Beyond brute force: 24 layers x 9 candidates with words over three decades (as a real
    network's, where the LP bound is tight over many small layers and loose over a few big
    ones) against the unpruned Pareto programme, which is exact by construction."""
    from cimkit.hetero import kernel

    if not kernel.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(500 + seed)
    L, K, n = 24, 9, 10
    scale = 10.0 ** rng.uniform(0, 3, size=L)
    words = np.round(np.arange(K)[None, :] * scale[:, None])
    # a layer's time falls, then rises, as more channels move to the macros
    f = np.arange(K) / (K - 1)
    t_npu, t_cim = rng.uniform(1, 10, (n, L, 1)), rng.uniform(0.5, 20, (n, L, 1))
    obj = np.maximum(t_npu * (1 - f), t_cim * f) + rng.uniform(0, 0.3, (n, L, K))
    cap = rng.uniform(0.1, 0.6, n) * words[:, -1].sum()
    ref = solve_exact(obj, words, cap)
    fast = solve_fast(obj, words, cap)
    order = kernel.exact_order(words)
    for d in range(n):
        chp, v = kernel._exact_lp(obj[d][order], words[order], cap[d], fast.objective[d],
                                  fast.choice[d][order])  # fmt: skip
        assert v == pytest.approx(ref.objective[d], rel=1e-12)
        assert words[order][np.arange(L), chp].sum() <= cap[d] + 1e-9
    assert (fast.objective > ref.objective * (1 + 1e-9)).any()  # the cases are not all easy


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_fused_exact_equals_numpy_exact_on_a_real_network(objective: str) -> None:
    from cimkit.hetero import kernel

    if not kernel.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(11)
    n = 60
    d = SystemDesigns(
        npu_macs=rng.choice([64, 128, 256], n), npu_mode=rng.integers(0, 2, n),
        macros=rng.choice([1, 2, 4], n).astype(float),
        compute_units=rng.integers(1, 5, n).astype(float),
        op_period_s=rng.uniform(3e-9, 10e-9, n), dedup=rng.random(n) < 0.5,
        noc_bw_bytes_s=rng.uniform(4e9, 8e9, n), noc_warmup_s=np.full(n, 64e-9),
        objective=objective, method="exact",
    )  # fmt: skip
    plan = build_plan(get_network("h4h_hybrid_min"))
    ref = evaluate_system(plan, d, engine="numpy")
    got = evaluate_system(plan, d, detail=False, engine="fused")
    np.testing.assert_allclose(got.solution.objective, ref.solution.objective, rtol=1e-12)
    assert (got.solution.gap == 0).all()
    assert (got.words_used <= got.capacity_words).all()
