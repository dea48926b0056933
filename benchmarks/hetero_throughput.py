"""Throughput of the NPU + CIM system model: system designs/s on a 100-layer hybrid workload.

Usage: .venv/bin/python benchmarks/hetero_throughput.py [--n 20000] [--repeat 3]
       [--objective latency|energy]

The workload is an H4H-NAS subnet of exactly 100 rows (Table 1's smallest subnet with two
MBConv-1 blocks and one block in each of ViT-4-1 and ViT-5-1: conv, depthwise, pointwise, Q/K/V,
attention matmuls, softmax, LayerNorm, MLP, residual adds). N random system designs (seeded):
U55-64/128/256 x both memory modes, 0/1/2/4/8 macros, 1-4 compute units, 3-10 ns operations,
de-duplication on/off, 4-8 GB/s NoC. Each design's split is chosen per layer under its capacity
(exact: the optimum; fast: the greedy with a certified gap). Printed, in one process: designs/s
of the fused kernel (what a search calls: totals only) with each partitioner, of the numpy
reference path (fast) without and with the per-part breakdown, and of the numpy path one design
at a time (the reference the ratios are against); the fast partition's certified gap and its
true gap to the exact optimum; the fused exact optimum against the numpy exact programme.
The first fused call compiles the kernel (numba, cached on disk); it is timed apart.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np

from cimkit.hetero.model import SystemDesigns, evaluate_system
from cimkit.hetero.plan import build_plan
from cimkit.workload.h4h import H4HConfig, h4h_config, h4h_table


def workload_100() -> object:
    c = h4h_config("min")
    mb = list(c.mb)
    mb[0] = (16, 2, 1)
    vit = list(c.vit)
    vit[3] = (48, 1, 1.0)
    vit[5] = (64, 1, 1.0)
    return h4h_table(H4HConfig(c.stem, tuple(mb), tuple(vit), c.pool), name="h4h_bench100")


def random_designs(n: int, seed: int = 0) -> SystemDesigns:
    rng = np.random.default_rng(seed)
    return SystemDesigns(
        npu_macs=rng.choice([64, 128, 256], n),
        npu_mode=rng.integers(0, 2, n),
        macros=rng.choice([0, 1, 2, 4, 8], n).astype(float),
        compute_units=rng.integers(1, 5, n).astype(float),
        op_period_s=rng.uniform(3e-9, 10e-9, n),
        dedup=rng.random(n) < 0.5,
        noc_bw_bytes_s=rng.uniform(4e9, 8e9, n),
        noc_warmup_s=np.full(n, 64e-9),
    )


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--objective", choices=("latency", "energy"), default="latency")
    ap.add_argument("--one-at-a-time", type=int, default=200, help="designs for the reference")
    args = ap.parse_args()
    wl = workload_100()
    plan = build_plan(wl)
    d = replace(random_designs(args.n), objective=args.objective)
    print(f"workload {wl.name}: {len(wl)} layers, {int((plan.cand[:, -1] > 0).sum())} splittable, "
          f"{plan.n_cand} candidates each; {args.n} designs")  # fmt: skip
    t = time.perf_counter()
    evaluate_system(plan, d.take(np.arange(8)), detail=False, engine="fused")
    print(f"first fused call (compile or load the cached kernel): {time.perf_counter() - t:.2f} s")
    rows = []
    fast, exact = replace(d, method="fast"), replace(d, method="exact")
    for label, dd, kw in (
        ("fused, exact partition", exact, dict(detail=False, engine="fused")),
        ("fused, fast partition", fast, dict(detail=False, engine="fused")),
        ("numpy, fast, totals", fast, dict(detail=False, engine="numpy")),
        ("numpy, fast, breakdown", fast, dict(detail=True, engine="numpy")),
    ):
        ts = timed(lambda dd=dd, kw=kw: evaluate_system(plan, dd, **kw), args.repeat)
        rows.append((label, args.n / min(ts), args.n / statistics.median(ts)))
    tight = exact.take(np.flatnonzero(np.isin(d.macros, (1, 2, 4))))
    ts = timed(lambda: evaluate_system(plan, tight, detail=False, engine="fused"), args.repeat)
    rows.append(
        ("fused, exact, 1-4 macros", len(tight) / min(ts), len(tight) / statistics.median(ts))
    )
    k = args.one_at_a_time
    sub = fast.take(np.arange(k))
    t = time.perf_counter()
    for i in range(k):
        evaluate_system(plan, sub.take(np.array([i])), engine="numpy")
    ref = k / (time.perf_counter() - t)
    print(f"{'path':<26} {'designs/s (best)':>17} {'(median)':>10} {'x one-at-a-time':>16}")
    for label, best, med in rows:
        print(f"{label:<26} {best:>17,.0f} {med:>10,.0f} {best / ref:>16.0f}")
    print(f"{'numpy, one at a time':<26} {ref:>17,.0f} {'':>10} {1:>16}")
    ev = evaluate_system(plan, fast, detail=False)
    ex = evaluate_system(plan, exact, detail=False)
    g = ev.solution.gap
    print(f"fast partition, certified gap: mean {g.mean():.4%}, p99 {np.quantile(g, 0.99):.4%}, "
          f"max {g.max():.4%}; {np.mean(g == 0):.1%} of designs provably optimal")  # fmt: skip
    true_gap = ev.solution.objective / ex.solution.objective - 1
    print(f"fast partition vs the exact optimum: mean {true_gap.mean():.4%}, "
          f"p99 {np.quantile(true_gap, 0.99):.4%}, max {true_gap.max():.4%}")  # fmt: skip
    k = min(200, args.n)
    ref = evaluate_system(plan, exact.take(np.arange(k)), engine="numpy")
    diff = np.abs(ex.solution.objective[:k] / ref.solution.objective - 1).max()
    print(f"fused exact vs numpy exact (Pareto programme, no bound) on {k} designs: "
          f"max relative difference {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
