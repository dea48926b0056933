"""The report's plots and frame now vs at a git revision, timed in one process (a ratio).

Usage: python benchmarks/report_plots_ab.py [--ref 84855cb] [--pop 150] [--gen 70] [--repeat 3]

Runs one search (P x G, seed 0, in memory, the shipped predictor), then draws the
report's three figures (convergence, accuracy vs EDAP, parameters) with ``cimkit.report.plots``
of this tree and with the same module as it was at ``--ref`` (read with ``git show``), each
warmed once and then timed alternately ``--repeat`` times (best of); the same for
``SearchResult.frame()`` against the float-valued reference. The ratios hold on a loaded
machine; the absolute times do not (the load average is printed beside them).
84855cb is the commit before issue 15 item 6's report changes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


def _module_at(rev: str, path: str, name: str):
    """The module at ``path`` as it was in git revision ``rev`` (imported as ``name``)."""
    text = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    tmp = Path(tempfile.mkdtemp()) / f"{name}.py"
    tmp.write_text(text)
    spec = importlib.util.spec_from_file_location(name, tmp)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _draw(plots, result, top, hist, out: Path) -> None:
    plots.render_convergence(plots.convergence_data(hist, None), out / "c.png", None)
    plots.render_pareto(plots.pareto_data(result, top), out / "p.png", {}, ("accuracy", "edap"))
    plots.render_params(plots.params_data(result, top), out / "q.png")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="84855cb")
    ap.add_argument("--pop", type=int, default=150)
    ap.add_argument("--gen", type=int, default=70)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from cimkit.report import plots as now
    from cimkit.search import CimnasProblem, Search, SearchConfig
    from cimkit.space import load_space

    then = _module_at(args.ref, "src/cimkit/report/plots.py", "plots_at_ref")
    problem = CimnasProblem(load_space(SPACE))
    with threadpool_limits(limits=1, user_api="blas"):
        result = Search(problem, SearchConfig(pop_size=args.pop, n_gen=args.gen)).run()
    top = result.top(5)
    hist = {"run": result.history}
    out = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {"now": [], "ref": []}
    for k in range(args.repeat + 1):  # the first round warms (imports, fonts, mathtext)
        for label, mod in (("ref", then), ("now", now)):
            t = time.perf_counter()
            _draw(mod, result, top, hist, out)
            if k:
                times[label].append(time.perf_counter() - t)
    ref_s, now_s = min(times["ref"]), min(times["now"])
    load = os.getloadavg()[0]
    print(f"load average (1 min): {load:.2f}; archive {len(result.archive):,} designs")
    print(f"report plots (3 PNGs): now {now_s:.2f} s, at {args.ref} {ref_s:.2f} s "
          f"({ref_s / now_s:.1f}x)")  # fmt: skip

    sys.path.insert(0, str(ROOT / "tests" / "search"))
    from test_speed_paths import _reference_frame

    f_now, f_ref = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        result.frame()
        f_now.append(time.perf_counter() - t)
        t = time.perf_counter()
        _reference_frame(result)
        f_ref.append(time.perf_counter() - t)
    print(f"SearchResult.frame(): now {min(f_now):.2f} s, float reference {min(f_ref):.2f} s "
          f"({min(f_ref) / min(f_now):.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
