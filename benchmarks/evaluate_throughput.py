"""Throughput of the vectorized cost model: designs/s for MobileNetV2 and peak memory.

Usage: .venv/bin/python benchmarks/evaluate_throughput.py [--n 10000] [--repeat 5]

Draws N random hardware designs from the CIMNAS-like ranges below (seeded), evaluates them on the
built-in MobileNetV2 in one `evaluate` call, and prints the best and median wall time over
`--repeat` runs, designs per second, and the peak memory of one evaluation (tracemalloc, which
sees numpy buffers). In the same process it times the previous model (cost model v1, loaded from
git commit V1_COMMIT into a private package, so no old code is kept in the tree) on the same
designs, and the peak memory of 100,000 designs with breakdowns.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import cimkit
from cimkit.cost import DesignTable
from cimkit.specs import ChipSpec

V1_COMMIT = "c688f7e"
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


def random_arrays(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.choice(np.array(v), size=n) for k, v in RANGES.items()}


def random_designs(n: int, seed: int = 0) -> DesignTable:
    return DesignTable.from_arrays(ChipSpec(), random_arrays(n, seed))


def _time(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm caches (histogram tables, imports)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def load_v1() -> object | None:
    """The v1 cost model package from git (cimkit_v1.cost), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    files = ("__init__", "constants", "designs", "mapping", "components", "model")
    tmp = Path(tempfile.mkdtemp(prefix="cimkit_v1_"))
    pkg = tmp / "cimkit_v1"

    def show(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{V1_COMMIT}:src/cimkit/{path}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    try:
        (pkg / "cost").mkdir(parents=True)
        (pkg / "data").mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "__init__.py").write_text("")
        # v1's own chip spec too: its designs table reads field bounds from the spec models,
        # whose field names have changed since (tile.macros -> tile.macros_per_tile).
        (pkg / "specs").mkdir()
        (pkg / "specs" / "__init__.py").write_text("")
        (pkg / "specs" / "chip.py").write_text(show("specs/chip.py"))
        for f in files:
            src = show(f"cost/{f}.py").replace("cimkit.cost", "cimkit_v1.cost")
            src = src.replace('"cimkit.data"', '"cimkit_v1.data"')
            src = src.replace("cimkit.specs.chip", "cimkit_v1.specs.chip")
            (pkg / "cost" / f"{f}.py").write_text(src)
        (pkg / "data" / "constants.yaml").write_text(show("data/constants.yaml"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    sys.path.insert(0, str(tmp))
    return importlib.import_module("cimkit_v1.cost.model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    wl = cimkit.get_network("mobilenetv2")
    designs = random_designs(args.n)
    times = _time(lambda: cimkit.evaluate(designs, wl), args.repeat)
    ev = cimkit.evaluate(designs, wl)
    tracemalloc.start()
    cimkit.evaluate(designs, wl)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best, med = min(times), statistics.median(times)
    print(f"network: {wl.name}, {len(wl)} layers ({len(wl.mac_layers)} MAC layers)")
    print(f"designs: {args.n:,} ({int(ev.feasible.sum()):,} feasible)")
    print(f"v2 evaluate wall time: best {best * 1e3:.1f} ms, median {med * 1e3:.1f} ms")
    print(f"v2 throughput: {args.n / best:,.0f} designs/s (best), {args.n / med:,.0f} (median)")
    print(f"v2 peak memory of one evaluation (tracemalloc): {peak / 2**20:.1f} MiB")
    v1 = load_v1()
    if v1 is None:
        print("v1 reference: not available (needs a git checkout with commit " + V1_COMMIT + ")")
    else:
        from cimkit_v1.cost.designs import DesignTable as V1Table  # type: ignore[import-not-found]
        from cimkit_v1.specs.chip import ChipSpec as V1Spec  # type: ignore[import-not-found]

        old = V1Table.from_arrays(V1Spec(), random_arrays(args.n))
        t1 = _time(lambda: v1.evaluate(old, wl), args.repeat)  # type: ignore[attr-defined]
        b1, m1 = min(t1), statistics.median(t1)
        print(f"v1 throughput: {args.n / b1:,.0f} designs/s (best), {args.n / m1:,.0f} (median)")
        print(f"v2 / v1 speed (median): {m1 / med:.2f}x")
    big = random_designs(100_000, seed=1)
    tracemalloc.start()
    evb = cimkit.evaluate(big, wl, breakdown=True)
    _, peak_b = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del evb
    print(f"100,000 designs with breakdown=True: peak {peak_b / 2**20:.0f} MiB (tracemalloc)")


if __name__ == "__main__":
    main()
