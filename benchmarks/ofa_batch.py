"""Speed of the vectorized OFA MobileNetV2 batch generator against a per-design Python loop.

Usage: .venv/bin/python benchmarks/ofa_batch.py [--n 10000] [--repeat 3]

Builds the layer arrays of N random OFA subnets with ``mobilenetv2_ofa_batch`` (best of
``--repeat``) and, in the same process, with ``LayerArrays.from_workloads`` over N per-design
``mobilenetv2`` tables (the plain reference), and prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cimkit.workload import builtin as B
from cimkit.workload.table import LayerArrays


def best_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    depths = rng.integers(2, 5, (args.n, 5))
    kernels = rng.choice([3, 5, 7], (args.n, 20))
    expands = rng.choice([3, 4, 6], (args.n, 20))
    B.mobilenetv2_ofa_batch(depths, kernels, expands)  # template cached
    t_batch = best_of(lambda: B.mobilenetv2_ofa_batch(depths, kernels, expands), args.repeat)
    m = min(args.n, 1000)  # the loop is slow: time 1,000 designs and scale

    def loop() -> None:
        LayerArrays.from_workloads(
            [B.mobilenetv2(depths[i], kernels[i], expands[i]) for i in range(m)]
        )

    t_loop = best_of(loop, 1) * args.n / m
    print(f"batch of {args.n:,}: {t_batch * 1e3:.1f} ms")
    print(f"per-design loop (scaled from {m:,}): {t_loop * 1e3:.0f} ms")
    print(f"batch speed-up: {t_loop / t_batch:.0f}x")


if __name__ == "__main__":
    main()
