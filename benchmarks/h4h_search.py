"""Speed of the H4H-NAS search's inner loop: genomes evaluated per second.

Usage: .venv/bin/python benchmarks/h4h_search.py [--n 100]

Per genome: its ImageNet layer table (h4h_table), the system model's plan and the exact
partition on the 7 systems of cimkit.search.h4h.SYSTEMS (one evaluate_system call), and a
predictor call; printed as genomes/s and ms per stage, in one process. The first evaluation
compiles (or loads) the fused kernel; it is timed apart. A search of 66 budgets x 400 cycles
evaluates about this many new genomes per second (cached genomes cost nothing).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cimkit.accuracy.h4h_space import H4HSupernetConfig, encode
from cimkit.hetero.model import evaluate_system
from cimkit.hetero.plan import build_plan
from cimkit.search import h4h as S
from cimkit.specs.system import SystemSpec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    cfg = H4HSupernetConfig()
    rng = np.random.default_rng(0)
    gs = [cfg.random(rng) for _ in range(args.n)]
    designs = S.system_designs(SystemSpec(), list(S.SYSTEMS), "latency")
    t = time.perf_counter()
    evaluate_system(build_plan(gs[0].table()), designs, detail=False)
    print(f"first evaluation (kernel compile or cache load): {time.perf_counter() - t:.2f} s")
    t0 = time.perf_counter()
    tabs = [g.table() for g in gs]
    t1 = time.perf_counter()
    plans = [build_plan(w) for w in tabs]
    t2 = time.perf_counter()
    for p in plans:
        evaluate_system(p, designs, detail=False)
    t3 = time.perf_counter()
    encode(gs)
    t4 = time.perf_counter()
    n = args.n
    print(f"{n} random genomes, {len(S.SYSTEMS)} systems each, layers per genome "
          f"{np.mean([len(w) for w in tabs]):.0f}")  # fmt: skip
    stages = (("layer table", t1 - t0), ("plan", t2 - t1), ("evaluate (7 systems)", t3 - t2),
              ("predictor features", t4 - t3))  # fmt: skip
    for label, dt in stages:
        print(f"  {label:<22} {1e3 * dt / n:7.2f} ms per genome")
    print(f"genomes per second, all stages: {n / (t4 - t0):.1f}")


if __name__ == "__main__":
    main()
