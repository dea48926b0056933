"""Helpers of the dashboard tests (a plain module: tests/ has no packages)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
WRITER = Path(__file__).with_name("dashboard_writer.py")
#: The two runs of the ``two_runs`` fixture (conftest.py).
GA_RUN = "ga-edap"
NSGA_RUN = "nsga2-acc-energy-area"


def space_yaml(tmp_path: Path, value: float = 0.7) -> Path:
    """A copy of the CIMNAS space whose accuracy is a constant (no predictor artifact needed).

    Runs made with :func:`make_run` still get varied accuracies: they pass the proxy accuracy
    of cimkit.search.proxies as ``accuracy_fn`` (the store keeps whatever accuracy was used).
    """
    text = SPACE.read_text()
    text = text.replace(
        "base_chip: ../chips/rram_baseline.yaml",
        f"base_chip: {ROOT / 'examples/chips/rram_baseline.yaml'}",
    )
    head, _, _ = text.partition("accuracy:\n  source: predictor")
    text = head + f"accuracy:\n  source: constant\n  value: {value}\n  note: test constant\n"
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


def make_run(
    store_path: Path, space_path: Path, name: str, *, meta: dict[str, Any] | None = None, **cfg: Any
) -> Any:
    """Run a small real search into ``store_path`` (as `cimkit search` would); its result."""
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.problem import CimnasProblem
    from cimkit.search.proxies import proxy_accuracy
    from cimkit.search.store import RunStore
    from cimkit.space import load_space

    problem = CimnasProblem(load_space(space_path), accuracy_fn=proxy_accuracy)
    store = RunStore(store_path)
    try:
        config = SearchConfig(**{"pop_size": 16, "n_gen": 3, **cfg})
        meta = {"space": str(space_path), "area_constraint_mm2": None} if meta is None else meta
        return Search(problem, config, store=store, name=name, meta=meta).run()
    finally:
        store.close()


def non_dominated(F: np.ndarray, sense: list[str]) -> set[int]:
    """Brute-force Pareto set of the rows of ``F`` (O(N^2); an independent check)."""
    G = F * np.array([-1.0 if s == "max" else 1.0 for s in sense])
    out = set()
    for i in range(len(G)):
        dominated = ((G <= G[i]).all(axis=1) & (G < G[i]).any(axis=1)).any()
        if not dominated:
            out.add(i)
    return out


class PausedWriter:
    """A search in another process (dashboard_writer.py), paused after ``pause_after``
    generations with an open write transaction; :meth:`finish` lets it run to the end."""

    def __init__(self, proc: subprocess.Popen, n_committed: int) -> None:
        self.proc = proc
        self.n_committed = n_committed  # designs committed when it paused

    def finish(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().startswith("done")
        assert self.proc.wait(timeout=60) == 0


@contextmanager
def paused_writer(
    store: Path, space: Path, name: str, pop: int, gen: int, pause_after: int
) -> Iterator[PausedWriter]:
    """Start the writer, wait until it says it paused, and kill it on the way out if a test
    failed before :meth:`PausedWriter.finish`."""
    args = [str(store), str(space), name, str(pop), str(gen), str(pause_after)]
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:2] == ["paused", str(pause_after)], line
        yield PausedWriter(proc, int(line[2]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
