"""Wall time of the default CIMNAS search (P=150, G=70, EDAP/Acc) and of `cimkit compare`.

Usage: python benchmarks/search_wall_time.py [--pop 150] [--gen 70] [--skip-compare]
       [--stub-accuracy]

Runs in memory (no store) except where noted, on the shipped space and accuracy predictor.
``--stub-accuracy`` replaces the predictor by a fixed smooth function of the genes (only for
machines without the predictor artifact; the printed line says so). Goal: <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from cimkit.search.proxies import proxy_accuracy

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pop", type=int, default=150)
    ap.add_argument("--gen", type=int, default=70)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--stub-accuracy", action="store_true")
    args = ap.parse_args()

    from cimkit.search import CimnasProblem, Search, SearchConfig
    from cimkit.search.compare import run_compare
    from cimkit.search.store import RunStore
    from cimkit.space import load_space

    space = load_space(SPACE)
    problem = CimnasProblem(space, accuracy_fn=proxy_accuracy if args.stub_accuracy else None)
    label = "STUB accuracy (not the predictor)" if args.stub_accuracy else "shipped predictor"
    print(f"cores: {os.cpu_count()}, accuracy: {label}")
    problem.evaluate(space.baseline_genome()[None])  # imports, predictor load, caches
    cfg = SearchConfig(pop_size=args.pop, n_gen=args.gen, seed=args.seed)

    t = time.perf_counter()
    r = Search(problem, cfg).run()
    wall = time.perf_counter() - t
    print(
        f"search P={args.pop} G={args.gen} (in memory): {wall:.2f} s, {len(r.archive):,} "
        f"evaluations, best EDAP/Acc {r.scores()[r.best()]:.4g}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        st = RunStore(Path(tmp) / "b.sqlite")
        t = time.perf_counter()
        Search(problem, cfg, store=st, name="bench").run()
        print(
            f"search P={args.pop} G={args.gen} (SQLite store, state per generation): "
            f"{time.perf_counter() - t:.2f} s"
        )
        if not args.skip_compare:
            t = time.perf_counter()
            cr = run_compare(problem, cfg, store=st, study="bench-compare")
            print(
                f"compare (baselines + CIMNAS + two-stage + XPert-like): "
                f"{time.perf_counter() - t:.2f} s"
            )
            for row in cr.rows():
                print(f"  {row['method']:<40} score {row.get('score', float('nan')):.4g}")


if __name__ == "__main__":
    main()
