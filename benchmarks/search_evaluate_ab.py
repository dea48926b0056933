"""One search generation's evaluate (P genomes, each its own subnet, policy and chip): the
optimised cost-model path against the plain reference path, in one process.

Usage: python benchmarks/search_evaluate_ab.py [--pop 150] [--draws 10] [--repeat 7]

The reference path swaps in the replaced helpers kept in tests/search/test_speed_eval.py
(np.isin op tests, two-sided neighbour scans, np.clip, the per-field range loop of
validate_table); the two alternate, best of ``--repeat`` rounds of ``--draws`` generations each,
so a load that changes during the run hits both. Prints the ratio, the load average beside the
absolute times, whether the metrics are bit-equal, the cProfile fractions of the optimised
evaluate and the search path's pandas import (a fresh process; the search no longer does it).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


class _Patch:
    """Minimal monkeypatch (setattr / undo) for swapping the reference helpers in."""

    def __init__(self) -> None:
        self.saved: list[tuple[object, str, object]] = []

    def setattr(self, obj: object, name: str, value: object) -> None:
        self.saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def undo(self) -> None:
        for obj, name, value in reversed(self.saved):
            setattr(obj, name, value)
        self.saved.clear()


def _fractions(stats: pstats.Stats, total: float) -> dict[str, float]:
    """Cumulative share of the evaluate's time per part (functions matched by file:name)."""
    parts = {
        "cost model (cimkit.cost.evaluate)": ("cost/model.py", "evaluate"),
        "  of which engines (CIM + vector)": ("cost/engines.py", "run"),
        "design table (DesignTable.from_arrays)": ("cost/designs.py", "from_arrays"),
        "  of which validate_table": ("cost/designs.py", "validate_table"),
        "layer arrays (family.layer_arrays)": ("space/families.py", "layer_arrays"),
        "accuracy predictor": ("search/problem.py", "predictor_accuracy"),
        "genome decode": ("space/dims.py", "decode"),
    }
    out = {}
    for label, (file, fn) in parts.items():
        cum = sum(
            v[3]
            for k, v in stats.stats.items()
            if k[0].endswith(file) and k[2] == fn  # type: ignore[attr-defined]
        )
        out[label] = cum / total
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pop", type=int, default=150)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from cimkit.search import CimnasProblem
    from cimkit.space import load_space

    spec = importlib.util.spec_from_file_location(
        "speed_eval_ref", ROOT / "tests" / "search" / "test_speed_eval.py"
    )
    ref = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(ref)  # type: ignore[union-attr]

    space = load_space(SPACE)
    problem = CimnasProblem(space)
    problem.evaluate(space.baseline_genome()[None])  # imports, predictor load, caches
    rng = np.random.default_rng(0)
    draws = [space.joint.sample(args.pop, rng) for _ in range(args.draws)]
    patch = _Patch()

    def run(reference: bool) -> tuple[float, list[np.ndarray]]:
        if reference:
            ref.use_reference_path(patch)
        try:
            t = time.perf_counter()
            out = [problem.evaluate(X) for X in draws]
            return time.perf_counter() - t, out
        finally:
            patch.undo()

    times: dict[bool, list[float]] = {False: [], True: []}
    outs: dict[bool, list[np.ndarray]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        run(False), run(True)  # warm both
        for _ in range(args.repeat):
            for reference in (True, False):
                s, outs[reference] = run(reference)
                times[reference].append(s)
        pr = cProfile.Profile()
        t = time.perf_counter()
        pr.enable()
        for X in draws:
            problem.evaluate(X)
        pr.disable()
        prof_s = time.perf_counter() - t
    same = all(np.array_equal(a, b) for a, b in zip(outs[False], outs[True], strict=True))
    fast, slow = min(times[False]), min(times[True])
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average (1 min): {load:.2f}")
    print(
        f"evaluate of {args.pop} genomes (one generation), best of {args.repeat} x "
        f"{args.draws}: reference {slow / args.draws * 1e3:.1f} ms, optimised "
        f"{fast / args.draws * 1e3:.1f} ms: {slow / fast:.3f}x (metrics bit-equal: {same})"
    )
    print("cProfile of the optimised evaluate (cumulative share of its time):")
    for label, share in _fractions(pstats.Stats(pr), prof_s).items():
        print(f"  {label:<42} {share * 100:5.1f} %")
    probe = (
        "import sys; from cimkit.search import CimnasProblem; from cimkit.space import load_space;"
        f"s = load_space({str(SPACE)!r}); CimnasProblem(s).evaluate(s.baseline_genome()[None]);"
        "print('pandas' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pandas"], check=True, cwd=ROOT)
    pd_s = time.perf_counter() - t
    print(
        f"search path (fresh process, one evaluate) imports pandas: {r.stdout.strip()}; "
        f"python -c 'import pandas' takes {pd_s:.2f} s here (load {load:.1f})"
    )


if __name__ == "__main__":
    main()
