"""Read-only access to a SQLite run store (the tables ``cimkit.search.store.RunStore`` writes).

The dashboard never writes: every read opens the file with ``mode=ro`` (so a missing store is an
error, never a new empty file, and no table is created) and reads inside one transaction, so the
rows of one answer (run, designs, history) come from one committed state even while a search is
committing generations. In WAL mode (what RunStore sets) readers never wait for the writer; in
rollback-journal mode a reader waits up to ``timeout_s`` while a writer holds its exclusive lock
and then gets :class:`StoreBusyError`.

Blob layout (``RunStore.commit_generation``): ``designs.x`` is the genome as GENE_DTYPE (int16,
native order) bytes, ``designs.m`` the metrics row as little-endian float64 (columns
:data:`~cimkit.search.objectives.METRIC_NAMES`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError
from cimkit.search.archive import GENE_DTYPE
from cimkit.search.objectives import METRIC_NAMES

#: Tables the dashboard reads (``state``, the pickled algorithm, is never read).
TABLES: tuple[str, ...] = ("runs", "designs", "history")


class StoreBusyError(CimkitError):
    """A writer held the store's exclusive lock for longer than the reader's timeout."""


class UnknownRunError(CimkitError):
    """The store has no run of that name."""


@dataclass
class RunData:
    """One run as stored: its row of ``runs``, its archive and its history.

    Attributes:
        name, status ('running' | 'done' | 'interrupted'), gen (last committed generation, -1
        before the first), created (s since the epoch), config (the JSON config the search
        stored: ``search`` = SearchConfig fields, ``space`` = space YAML path when run from the
        CLI, ``area_constraint_mm2``, ``command``).
        X: (N, D) int16 genomes; M: (N, K) float64 metrics; G: (N,) generation of each design.
        history: (gen, evaluations so far, best score) per committed generation.
    """

    name: str
    status: str
    gen: int
    created: float
    config: dict[str, Any]
    X: np.ndarray
    M: np.ndarray
    G: np.ndarray
    history: list[tuple[int, int, float]] = field(default_factory=list)


def check_store(path: str | Path) -> Path:
    """``path`` as an absolute Path after checking it is a cimkit run store (never creates it).

    Raises:
        CimkitError: one line naming ``--store`` and the problem (missing, not SQLite, no
            ``runs``/``designs``/``history`` tables).
    """
    p = Path(path).expanduser()
    shown = _shown(p)
    try:
        exists, is_file = p.exists(), p.is_file()
    except OSError as exc:  # a name too long, a denied parent folder
        raise CimkitError(f"--store {shown}: cannot use this path ({exc.strerror})") from None
    if not exists:
        raise CimkitError(
            f"--store {shown}: file not found; give the SQLite file a search wrote "
            "(cimkit search --store PATH, default runs/cimkit.sqlite)"
        )
    if not is_file:
        raise CimkitError(f"--store {shown}: not a file; give the SQLite file a search wrote")
    reader = StoreReader(p)
    try:
        with reader.snapshot() as conn:
            names = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.DatabaseError as exc:
        raise CimkitError(f"--store {shown}: not a SQLite database ({exc})") from None
    missing = [t for t in TABLES if t not in names]
    if missing:
        raise CimkitError(
            f"--store {shown}: not a cimkit run store (no table {', '.join(missing)}); give "
            "the file cimkit search --store wrote"
        )
    return p.resolve()


def _shown(p: Path) -> str:
    """A path as it goes into a one-line message (cut, quoted when not printable)."""
    text = str(p)
    return text if text.isprintable() and len(text) <= 200 else repr(text[:200])


class StoreReader:
    """Read-only view of a run store; one short-lived connection per :meth:`snapshot`.

    Args:
        path: the SQLite file (must exist; see :func:`check_store`).
        timeout_s: how long a read waits for a writer's exclusive lock (rollback-journal
            stores only; WAL readers never wait), s.
    """

    def __init__(self, path: str | Path, timeout_s: float = 5.0) -> None:
        self.path = Path(path).expanduser().resolve()
        self.timeout_s = timeout_s

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection inside one read transaction (one consistent committed state)."""
        uri = f"{self.path.as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise CimkitError(f"store {self.path}: cannot open read-only ({exc})") from None
        try:
            conn.execute("BEGIN")
            yield conn
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"store {self.path}: a writer held its lock for more than {self.timeout_s:g} s"
                    " (rollback-journal mode); retry, or let searches use WAL (RunStore does)"
                ) from None
            raise
        finally:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                pass
            conn.close()

    # --- queries ---------------------------------------------------------------------------
    def list_runs(self) -> list[dict[str, Any]]:
        """Every run (oldest first): name, status, gen, created, config, design count, and the
        evaluations and best score of its last committed generation (None before the first)."""
        with self.snapshot() as conn:
            counts = dict(conn.execute("SELECT run, COUNT(*) FROM designs GROUP BY run"))
            last = {
                run: (int(n), float(best) if best is not None else None)
                for run, n, best in conn.execute(
                    "SELECT h.run, h.n_evals, h.best FROM history h JOIN ("
                    "SELECT run, MAX(gen) AS g FROM history GROUP BY run) t "
                    "ON h.run = t.run AND h.gen = t.g"
                )
            }
            rows = conn.execute(
                "SELECT name, status, gen, created, config FROM runs ORDER BY created, name"
            ).fetchall()
        return [
            {
                "name": name,
                "status": status,
                "gen": int(gen if gen is not None else -1),
                "created": float(created or 0.0),
                "config": _config(name, config),
                "n_designs": int(counts.get(name, 0)),
                "n_evals": last.get(name, (0, None))[0],
                "best": last.get(name, (0, None))[1],
            }
            for name, status, gen, created, config in rows
        ]

    def run_names(self) -> list[str]:
        with self.snapshot() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY created, name")]

    def load_run(self, name: str) -> RunData:
        """One run with its whole archive and history, read in one transaction."""
        with self.snapshot() as conn:
            row = conn.execute(
                "SELECT status, gen, created, config FROM runs WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                known = [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY created")]
                raise UnknownRunError(f"run {name!r}: not in {self.path}; runs: {known[-10:]}")
            designs = conn.execute(
                "SELECT gen, x, m FROM designs WHERE run = ? ORDER BY idx", (name,)
            ).fetchall()
            history = conn.execute(
                "SELECT gen, n_evals, best FROM history WHERE run = ? ORDER BY gen", (name,)
            ).fetchall()
        status, gen, created, config = row
        cfg = _config(name, config)
        n_var = len(cfg.get("fixed") or []) or (len(designs[0][1]) // 2 if designs else 0)
        if designs:
            X = np.stack([np.frombuffer(r[1], dtype=GENE_DTYPE) for r in designs])
            M = np.stack([np.frombuffer(r[2], dtype="<f8") for r in designs]).astype(np.float64)
            G = np.array([r[0] for r in designs], dtype=np.int64)
        else:
            X = np.zeros((0, n_var), dtype=GENE_DTYPE)
            M = np.zeros((0, len(METRIC_NAMES)))
            G = np.zeros(0, dtype=np.int64)
        if M.shape[1] != len(METRIC_NAMES):
            raise CimkitError(
                f"run {name!r}: metrics rows have {M.shape[1]} columns, this cimkit reads "
                f"{len(METRIC_NAMES)}; it was written by another cimkit version"
            )
        return RunData(
            name=name,
            status=str(status),
            gen=int(gen if gen is not None else -1),
            created=float(created or 0.0),
            config=cfg,
            X=X,
            M=M,
            G=G,
            history=[(int(g), int(n), float(b)) for g, n, b in history],
        )


def _config(name: str, text: str | None) -> dict[str, Any]:
    try:
        cfg = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise CimkitError(f"run {name!r}: its stored config is not JSON") from None
    return cfg if isinstance(cfg, dict) else {}
