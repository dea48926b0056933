"""Throughput of the vectorized cost model: designs/s for MobileNetV2 and peak memory.

Usage: .venv/bin/python benchmarks/evaluate_throughput.py [--n 10000] [--repeat 5]

Draws N random hardware designs from the CIMNAS-like ranges below (seeded), evaluates them on the
built-in MobileNetV2 in one `evaluate` call, and prints the best and median wall time over
`--repeat` runs, designs per second, and the peak memory of one evaluation (tracemalloc, which
sees numpy buffers) plus the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np

import cimkit
from cimkit.cost import DesignTable
from cimkit.specs import ChipSpec

RANGES = {
    "voltage_v": [0.5, 0.6, 0.7, 0.8, 0.9],
    "bits_per_cell": [1, 2, 4],
    "cycle_time_ns": [1.0, 2.0, 4.0, 6.0, 8.0],
    "rows": [64, 128, 256, 512],
    "cols": [64, 128, 256, 512],
    "macros_per_tile": [4, 8, 16, 32, 64],
    "tiles_per_router": [2, 4, 8, 16],
    "tile_groups": [4, 8, 16, 32, 64],
    "glb_kb": [1024, 2048, 4096, 8192],
}


def random_designs(n: int, seed: int = 0) -> DesignTable:
    rng = np.random.default_rng(seed)
    arrays = {k: rng.choice(np.array(v), size=n) for k, v in RANGES.items()}
    return DesignTable.from_arrays(ChipSpec(), arrays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    wl = cimkit.get_network("mobilenetv2")
    designs = random_designs(args.n)
    cimkit.evaluate(designs.take(slice(0, 8)), wl)  # warm caches (histogram tables, imports)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ev = cimkit.evaluate(designs, wl)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    cimkit.evaluate(designs, wl)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best, med = min(times), statistics.median(times)
    print(f"network: {wl.name}, {len(wl)} layers ({len(wl.mac_layers)} MAC layers)")
    print(f"designs: {args.n:,} ({int(ev.feasible.sum()):,} feasible)")
    print(f"evaluate wall time: best {best * 1e3:.1f} ms, median {med * 1e3:.1f} ms")
    print(
        f"throughput: {args.n / best:,.0f} designs/s (best), {args.n / med:,.0f} designs/s (median)"
    )
    print(f"peak memory of one evaluation (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"process peak RSS: {rss_mb:.1f} MiB")


if __name__ == "__main__":
    main()
