"""SQLite run store (embedded, one file per project directory: ``runs/cimkit.sqlite`` default).

Tables: ``runs`` (name, JSON config, status, last committed generation), ``designs`` (every
archived genome and its metrics as float64/int16 blobs, exact round trip), ``history`` (per
generation: evaluations so far, best score), ``state`` (the pickled pymoo algorithm after the last
committed generation) and ``studies`` (``cimkit compare`` results).

Each generation is committed in one transaction (new designs + history + algorithm state), so a
run killed mid-generation loses only that generation's work; ``--resume`` reloads the archive and
the algorithm (with its random generator) and continues from the next generation. Resuming
therefore re-derives nothing: the pymoo object is restored exactly (pickled), which keeps
results identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError
from cimkit.search.archive import GENE_DTYPE, Archive
from cimkit.search.objectives import METRIC_NAMES

DEFAULT_STORE = Path("runs") / "cimkit.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
    name TEXT PRIMARY KEY, created REAL, config TEXT, status TEXT, gen INTEGER);
CREATE TABLE IF NOT EXISTS designs(
    run TEXT, idx INTEGER, gen INTEGER, x BLOB, m BLOB, PRIMARY KEY(run, idx));
CREATE TABLE IF NOT EXISTS history(
    run TEXT, gen INTEGER, n_evals INTEGER, best REAL, PRIMARY KEY(run, gen));
CREATE TABLE IF NOT EXISTS state(run TEXT PRIMARY KEY, gen INTEGER, algo BLOB);
CREATE TABLE IF NOT EXISTS studies(name TEXT PRIMARY KEY, config TEXT, result TEXT);
"""


def _pymoo_functions() -> dict[str, Any]:
    """Module-level pymoo functions that pymoo wraps in closures (not picklable by name)."""
    import importlib

    out = {}
    for ref in (
        "pymoo.algorithms.soo.nonconvex.ga:comp_by_cv_and_fitness",
        "pymoo.algorithms.moo.nsga2:binary_tournament",
    ):
        module, _, attr = ref.partition(":")
        fn = getattr(importlib.import_module(module), attr, None)
        if fn is not None:
            out[ref] = fn
    return out


class _AlgoPickler(pickle.Pickler):
    """Pickles a pymoo algorithm; its closure-wrapped comparators are stored by reference."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = {id(fn): ref for ref, fn in _pymoo_functions().items()}

    def persistent_id(self, obj: Any) -> Any:
        ref = self._refs.get(id(obj)) if callable(obj) else None
        return ("pymoo-function", ref) if ref else None


class _AlgoUnpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        kind, ref = pid
        if kind != "pymoo-function":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return _pymoo_functions()[ref]


def dumps_algorithm(algo: Any) -> bytes:
    """Bytes of a pymoo algorithm object, including its random generator state."""
    import io

    buf = io.BytesIO()
    _AlgoPickler(buf).dump(algo)
    return buf.getvalue()


def loads_algorithm(blob: bytes) -> Any:
    import io

    return _AlgoUnpickler(io.BytesIO(blob)).load()


class RunStore:
    """A SQLite file holding many runs; cheap to open, one connection per instance."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path)
        # WAL: a reader (report) never blocks a running search; NORMAL sync is crash-safe in WAL.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, name: str, config: dict[str, Any], overwrite: bool = False) -> None:
        with self.conn:
            if self.exists(name):
                if not overwrite:
                    raise CimkitError(
                        f"run {name!r} already exists in {self.path}; use --resume {name} or "
                        "another --name (or --overwrite)"
                    )
                self.delete_run(name)
            self.conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                (name, time.time(), json.dumps(config, sort_keys=True), "running", -1),
            )

    def delete_run(self, name: str) -> None:
        for table in ("runs", "designs", "history", "state"):
            key = "name" if table == "runs" else "run"
            self.conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (name,))

    def exists(self, name: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone() is not None
        )

    def run_info(self, name: str) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT config, status, gen FROM runs WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            known = [r[0] for r in self.conn.execute("SELECT name FROM runs ORDER BY created")]
            raise CimkitError(f"no run {name!r} in {self.path}; runs: {known[-10:]}")
        return {"config": json.loads(row[0]), "status": row[1], "gen": row[2]}

    def list_runs(self) -> list[tuple[str, str, int]]:
        return list(self.conn.execute("SELECT name, status, gen FROM runs ORDER BY created"))

    def set_status(self, name: str, status: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET status = ? WHERE name = ?", (status, name))

    # --- generations -----------------------------------------------------------------------
    def commit_generation(
        self,
        name: str,
        gen: int,
        archive: Archive,
        start: int,
        n_evals: int,
        best: float,
        algo: Any | None,
    ) -> None:
        """Atomically persist archive rows ``start:`` , the history point and the algorithm."""
        X, M, G = archive.X[start:], archive.M[start:], archive.gen[start:]
        rows = [
            (name, start + i, int(G[i]), X[i].tobytes(), M[i].astype("<f8").tobytes())
            for i in range(len(X))
        ]
        blob = dumps_algorithm(algo) if algo is not None else None
        with self.conn:
            self.conn.executemany("INSERT INTO designs VALUES (?, ?, ?, ?, ?)", rows)
            self.conn.execute(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)", (name, gen, n_evals, best)
            )
            self.conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (name, gen, blob))
            self.conn.execute("UPDATE runs SET gen = ? WHERE name = ?", (gen, name))

    def load_archive(self, name: str, n_var: int) -> Archive:
        rows = self.conn.execute(
            "SELECT gen, x, m FROM designs WHERE run = ? ORDER BY idx", (name,)
        ).fetchall()
        archive = Archive(n_var)
        if rows:
            X = np.stack([np.frombuffer(r[1], dtype=GENE_DTYPE) for r in rows])
            M = np.stack([np.frombuffer(r[2], dtype="<f8") for r in rows])
            if M.shape[1] != len(METRIC_NAMES):
                raise CimkitError(f"run {name!r} was written by another cimkit version")
            archive.add(X, M, np.array([r[0] for r in rows]))
        return archive

    def load_state(self, name: str) -> tuple[int, Any]:
        row = self.conn.execute("SELECT gen, algo FROM state WHERE run = ?", (name,)).fetchone()
        if row is None:
            return -1, None
        # The blob was written by this store from cimkit's own objects (trusted, local file).
        return int(row[0]), (loads_algorithm(row[1]) if row[1] is not None else None)

    def history(self, name: str) -> list[tuple[int, int, float]]:
        return list(
            self.conn.execute(
                "SELECT gen, n_evals, best FROM history WHERE run = ? ORDER BY gen", (name,)
            )
        )

    # --- studies (compare) -----------------------------------------------------------------
    def save_study(self, name: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO studies VALUES (?, ?, ?)",
                (name, json.dumps(config, sort_keys=True), json.dumps(result, sort_keys=True)),
            )

    def load_study(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        row = self.conn.execute(
            "SELECT config, result FROM studies WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (json.loads(row[0]), json.loads(row[1]))
