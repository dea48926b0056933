"""Throughput of the NPU + CIM system model: system designs/s on a 100-layer hybrid workload.

Usage: .venv/bin/python benchmarks/hetero_throughput.py [--n 20000] [--repeat 3]

The workload is an H4H-NAS subnet of exactly 100 rows (Table 1's smallest subnet with two
MBConv-1 blocks and one block in each of ViT-4-1 and ViT-5-1: conv, depthwise, pointwise, Q/K/V,
attention matmuls, softmax, LayerNorm, MLP, residual adds). N random system designs (seeded):
U55-64/128/256 x both memory modes, 0/1/2/4/8 macros, 1-4 compute units, 3-10 ns operations,
de-duplication on/off, 4-8 GB/s NoC. Each design's split is chosen per layer under its capacity
(the fast partitioner). Printed, in one process: designs/s of the fused kernel (what a search
calls: totals only), of the numpy reference path without and with the per-part breakdown, and
of the numpy path one design at a time (the reference the ratios are against); the partition's
certified gap (mean, 99th percentile, max) and, for a sample, its gap to the exact optimum.
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
    ap.add_argument("--one-at-a-time", type=int, default=200, help="designs for the reference")
    args = ap.parse_args()
    wl = workload_100()
    plan = build_plan(wl)
    d = random_designs(args.n)
    print(f"workload {wl.name}: {len(wl)} layers, {int((plan.cand[:, -1] > 0).sum())} splittable, "
          f"{plan.n_cand} candidates each; {args.n} designs")  # fmt: skip
    t = time.perf_counter()
    evaluate_system(plan, d.take(np.arange(8)), detail=False, engine="fused")
    print(f"first fused call (compile or load the cached kernel): {time.perf_counter() - t:.2f} s")
    rows = []
    for label, kw in (
        ("fused kernel, totals", dict(detail=False, engine="fused")),
        ("numpy, totals", dict(detail=False, engine="numpy")),
        ("numpy, with breakdown", dict(detail=True, engine="numpy")),
    ):
        ts = timed(lambda kw=kw: evaluate_system(plan, d, **kw), args.repeat)
        rows.append((label, args.n / min(ts), args.n / statistics.median(ts)))
    k = args.one_at_a_time
    sub = d.take(np.arange(k))
    t = time.perf_counter()
    for i in range(k):
        evaluate_system(plan, sub.take(np.array([i])), engine="numpy")
    ref = k / (time.perf_counter() - t)
    print(f"{'path':<26} {'designs/s (best)':>17} {'(median)':>10} {'x one-at-a-time':>16}")
    for label, best, med in rows:
        print(f"{label:<26} {best:>17,.0f} {med:>10,.0f} {best / ref:>16.0f}")
    print(f"{'numpy, one at a time':<26} {ref:>17,.0f} {'':>10} {1:>16}")
    ev = evaluate_system(plan, d, detail=False)
    g = ev.solution.gap
    print(f"certified partition gap: mean {g.mean():.4%}, p99 {np.quantile(g, 0.99):.4%}, "
          f"max {g.max():.4%}; {np.mean(g == 0):.1%} of designs provably optimal")  # fmt: skip
    sample = np.argsort(-g)[:20]
    ex = evaluate_system(plan, replace(d.take(sample), method="exact"))
    true_gap = ev.solution.objective[sample] / ex.solution.objective - 1
    print(f"the 20 largest certified gaps vs the exact optimum: max {true_gap.max():.4%}, "
          f"mean {true_gap.mean():.4%}")  # fmt: skip


if __name__ == "__main__":
    main()
