"""A search writing to a store while the dashboard reads it (run as a subprocess by the tests).

``python dashboard_writer.py STORE SPACE NAME POP GEN PAUSE_GEN``: runs a real search (proxy
accuracy) into STORE. After committing generation PAUSE_GEN it also opens a second connection,
starts a write transaction and inserts a history row for generation 1000000 without committing
(so the store is locked for writing, and a reader that saw uncommitted rows would show it),
prints ``paused <gen> <designs>`` and waits for a line on stdin; then it rolls that back and
finishes the search, printing ``done <designs>``.
"""

from __future__ import annotations

import sqlite3
import sys

from cimkit.search.engine import Search, SearchConfig
from cimkit.search.problem import CimnasProblem
from cimkit.search.proxies import proxy_accuracy
from cimkit.search.store import RunStore
from cimkit.space import load_space

UNCOMMITTED_GEN = 1_000_000


def main() -> None:
    store_path, space_path, name = sys.argv[1:4]
    pop, n_gen, pause = (int(v) for v in sys.argv[4:7])
    store = RunStore(store_path)
    problem = CimnasProblem(load_space(space_path), accuracy_fn=proxy_accuracy)

    def on_generation(gen: int, n_evals: int, best: float) -> None:
        if gen != pause:
            return
        lock = sqlite3.connect(store_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        lock.execute("INSERT INTO history VALUES (?, ?, ?, ?)", (name, UNCOMMITTED_GEN, 0, 0.0))
        n = lock.execute("SELECT COUNT(*) FROM designs WHERE run = ?", (name,)).fetchone()[0]
        print(f"paused {gen} {n}", flush=True)
        sys.stdin.readline()
        lock.execute("ROLLBACK")
        lock.close()

    cfg = SearchConfig(pop_size=pop, n_gen=n_gen)
    meta = {"space": space_path, "area_constraint_mm2": None}
    result = Search(
        problem, cfg, store=store, name=name, meta=meta, on_generation=on_generation
    ).run()
    store.close()
    print(f"done {len(result.archive)}", flush=True)


if __name__ == "__main__":
    main()
