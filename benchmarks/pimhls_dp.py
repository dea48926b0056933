"""Wall time of the PIM-HLS DP scheduler (Algorithm 1) on a 54-layer network.

Usage: .venv/bin/python benchmarks/pimhls_dp.py [--repeat 20] [--network resnet50]

The network is the built-in ResNet-50 (``get_network('resnet50')``, torchvision layout, 224 x 224):
its 54 crossbar layers (53 convolutions including the 4 downsample 1x1 convs, plus the
classifier) are scheduled in topological order; the 67 other rows (ReLU, residual adds, pools)
are carried through. For each technology and area budget it prints the scheduled items (layer
pieces after splitting), the candidate groups costed (valid intervals), the DP time alone
(``dp_groups``: every interval's duplication + Eq. 2 + backtracking; best and median of
``--repeat``), and the end-to-end ``schedule_dp`` time (topological sort, cost tables from the
cost model, splitting, DP, plan). The goal is a DP under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cimkit.pimhls.schedule import dp_groups, prepare, schedule_dp, valid_intervals
from cimkit.workload.builtin import get_network

BUDGETS_MM2 = (16.0, 40.0, 100.0, 400.0, 2000.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--network", default="resnet50")
    args = parser.parse_args()
    workload = get_network(args.network)
    print(f"network {args.network}: {len(workload)} rows")
    header = (
        f"{'tech':5} {'budget_mm2':>10} {'items':>5} {'intervals':>9} {'groups':>6} "
        f"{'dp_best_ms':>10} {'dp_median_ms':>12} {'end_to_end_ms':>13} {'latency_ms':>10}"
    )
    print(header)
    worst = 0.0
    for tech in ("rram", "sram"):
        for budget in BUDGETS_MM2:
            _, items, caps = prepare(workload, budget, tech)
            n_intervals = len(valid_intervals(items, caps)[0])
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                groups, _ = dp_groups(items, caps)
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sched = schedule_dp(workload, budget, assignment=tech)
            e2e = time.perf_counter() - t0
            worst = max(worst, float(np.median(times)))
            print(
                f"{tech:5} {budget:10.0f} {len(items):5d} {n_intervals:9d} {len(groups):6d} "
                f"{min(times) * 1e3:10.2f} {statistics.median(times) * 1e3:12.2f} "
                f"{e2e * 1e3:13.1f} {sched.latency_s * 1e3:10.3f}"
            )
    print(f"slowest median DP: {worst * 1e3:.1f} ms (goal < 100 ms)")


if __name__ == "__main__":
    main()
