"""SQLite run store (embedded, one file per project directory: ``runs/cimkit.sqlite`` default).

Tables: ``runs`` (name, JSON config, status, last committed generation), ``designs`` (every
archived genome and its metrics as float64/int16 blobs, exact round trip), ``history`` (per
generation: evaluations so far, best score), ``state`` (the pymoo algorithm after the last
committed generation, as arrays + JSON), ``studies`` (``cimkit compare`` results) and
``writers`` (which process is writing which run).

Each generation is committed in one transaction (new designs + history + algorithm state), so a
run killed mid-generation loses only that generation's work; ``--resume`` reloads the archive and
the algorithm state and continues from the next generation with results identical to an
uninterrupted run.

No code from data: the algorithm state is a JSON document and raw numeric buffers (dtypes
bool/int/float only, read with ``np.frombuffer``): the population's X/F/G/CV arrays, per-individual
scalars (rank, crowding, generation), the generation counter and the random generator's
``bit_generator.state``. :func:`restore_state` rebuilds the pymoo population from them into a
freshly set-up algorithm. A blob in any other format (e.g. a pickle written by an older cimkit,
or planted by someone who can write the file) is refused with a :class:`CimkitError`; nothing in
it is executed. See docs/security.md.

Concurrency: writes run in ``BEGIN IMMEDIATE`` transactions with a busy timeout, and the
``writers`` table names the process (pid, host) that owns a run, so a second process that tries
to ``--overwrite`` or ``--resume`` a run being written gets a one-line error instead of
corrupting it. A writer killed with SIGKILL leaves a row whose pid is dead: it is ignored.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError
from cimkit.search.archive import GENE_DTYPE, Archive
from cimkit.search.objectives import METRIC_NAMES

DEFAULT_STORE = Path("runs") / "cimkit.sqlite"

_SQLITE_MAGIC = b"SQLite format 3\x00"

_TABLES: dict[str, str] = {
    "runs": "name TEXT PRIMARY KEY, created REAL, config TEXT, status TEXT, gen INTEGER",
    "designs": "run TEXT, idx INTEGER, gen INTEGER, x BLOB, m BLOB, PRIMARY KEY(run, idx)",
    "history": "run TEXT, gen INTEGER, n_evals INTEGER, best REAL, PRIMARY KEY(run, gen)",
    "state": "run TEXT PRIMARY KEY, gen INTEGER, algo BLOB",
    "studies": "name TEXT PRIMARY KEY, config TEXT, result TEXT",
    "writers": "run TEXT PRIMARY KEY, token TEXT, pid INTEGER, host TEXT, since REAL",
}
_SCHEMA = "".join(f"CREATE TABLE IF NOT EXISTS {t}({cols});\n" for t, cols in _TABLES.items())
_COLUMNS = {
    t: [c.split()[0] for c in cols.split(", ") if c[0].islower() and " " in c]
    for t, cols in _TABLES.items()
}

MAKE_STORE_HINT = "make one with: cimkit search SPACE.yaml --store {path}"


def _no_store(path: Path) -> CimkitError:
    return CimkitError(f"no store at {path}; {MAKE_STORE_HINT.format(path=path)}")


# --- algorithm state: arrays + JSON, never pickle ---------------------------------------------

STATE_MAGIC = b"cimkit-algorithm-state/1\n"
_PICKLE_PREFIX = b"\x80"  # every pickle protocol >= 2 starts with the PROTO opcode
# Per-individual arrays of pymoo's Individual (attribute name without the leading underscore).
_IND_FIELDS = ("X", "F", "G", "H", "dF", "dG", "dH", "ddF", "ddG", "ddH", "CV")
# Numeric kinds a stored array or scalar may have: bool, signed/unsigned int, float.
_KINDS = "biuf"
_SCALAR_TAGS = {"int": int, "float": float, "bool": bool}


@dataclass
class AlgoState:
    """A decoded algorithm state: JSON metadata and named numeric arrays (no objects)."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        """Population size of the stored state."""
        return int(self.meta["n"])


def _scalar_tag(v: Any) -> str:
    # numpy scalars first: np.float64 is also a Python float, and its type is part of the state.
    if isinstance(v, np.generic):
        if v.dtype.kind in _KINDS:
            return v.dtype.str
        raise ValueError(f"cannot store a {type(v).__name__} in the algorithm state")
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    raise ValueError(f"cannot store a {type(v).__name__} in the algorithm state")


def _pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """MAGIC, 8-byte header length, JSON header (meta + array layout), raw array bytes."""
    layout, chunks, offset = {}, [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        layout[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        chunks.append(a.tobytes())
        offset += a.nbytes
    header = json.dumps({"meta": meta, "arrays": layout}).encode()
    return b"".join([STATE_MAGIC, len(header).to_bytes(8, "little"), header, *chunks])


def _narrow(a: np.ndarray) -> np.ndarray:
    """Integer arrays in the smallest integer type that holds them (genes: int8), lossless:
    the per-individual dtype is recorded separately and restored on load."""
    if a.dtype.kind not in "iu" or not a.size:
        return a
    lo, hi = int(a.min()), int(a.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a.astype(t)
    return a


def encode_state(algo: Any) -> bytes:
    """Bytes of a set-up pymoo GA/NSGA-II after ``tell``: numeric arrays and JSON only.

    Raises ValueError (a cimkit bug, not a user error) if the population holds something that
    is not a numeric array or scalar.
    """
    dicts = [ind.__dict__ for ind in algo.pop]
    n = len(dicts)
    arrays: dict[str, np.ndarray] = {}
    fields: dict[str, Any] = {}
    for f in _IND_FIELDS:
        vals = [d["_" + f] for d in dicts]
        # None is pymoo's "not computed yet" (e.g. a CV that is computed lazily from G).
        present = [v is not None for v in vals]
        arrs = [v if isinstance(v, np.ndarray) else np.asarray(v) for v in vals if v is not None]
        dtypes = [a.dtype.str for a in arrs]
        kinds = {np.dtype(d).kind for d in set(dtypes)}
        if len({a.shape for a in arrs}) > 1 or not kinds <= set(_KINDS):
            raise ValueError(f"individual field {f}: ragged or non-numeric arrays")
        spec: dict[str, Any] = {"dtype": dtypes[0] if dtypes else "<f8"}
        if len(set(dtypes)) > 1:
            # Mixed dtypes (int genomes next to float ones) are stacked in a common type and
            # cast back per individual on load, so every individual gets its own dtype again.
            spec = {"dtypes": dtypes}
        if not all(present):
            arrays["n_" + f] = np.array(present, dtype=bool)
        if arrs and arrs[0].size:
            arrays["f_" + f] = _narrow(np.stack(arrs))
        else:  # the derivative fields: empty arrays, only their shape is kept
            spec["shape"] = list(arrs[0].shape) if arrs else [0]
        fields[f] = spec
    data: dict[str, Any] = {}
    keys = {k for d in dicts for k in d["data"]}
    for k in sorted(keys, key=str):
        if not isinstance(k, str):
            raise ValueError(f"individual data key {k!r} is not a string")
        present = [k in d["data"] for d in dicts]
        vals = [d["data"][k] for d in dicts if k in d["data"]]
        tags = [_scalar_tag(v) for v in vals]
        values = np.array(vals)
        if values.dtype.kind not in _KINDS:
            raise ValueError(f"individual data {k!r}: non-numeric values")
        arrays["d_" + k] = values
        if not all(present):
            arrays["p_" + k] = np.array(present, dtype=bool)
        data[k] = {"tag": tags[0]} if len(set(tags)) == 1 else {"tags": tags}
    # Few distinct 'evaluated' sets (usually one): stored once each, with an index per individual.
    sets: dict[frozenset[str], int] = {}
    index = [sets.setdefault(frozenset(map(str, d["evaluated"] or ())), len(sets)) for d in dicts]
    bitgen = algo.random_state.bit_generator
    meta = {
        "format": 1,
        "algorithm": type(algo).__name__,
        "n": n,
        "n_iter": int(algo.n_iter),
        "rng": {"bit_generator": type(bitgen).__name__, "state": bitgen.state},
        "fields": fields,
        "data": data,
        "evaluated": [sorted(e) for e in sets],
    }
    arrays["evaluated"] = np.array(index, dtype=np.int64)
    return _pack(meta, arrays)


def decode_state(blob: bytes, run: str) -> AlgoState:
    """Parse a state blob written by :func:`encode_state`; anything else is a CimkitError.

    Only JSON and raw numeric buffers of whitelisted dtypes are read (no pickle, no objects),
    so a blob planted in the store cannot run code.
    """
    fix = f"start the run again with --overwrite (the archive of run {run!r} is intact)"
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CimkitError(f"run {run!r}: the stored algorithm state is not a blob; {fix}")
    blob = bytes(blob)
    if blob.startswith(_PICKLE_PREFIX):
        raise CimkitError(
            f"run {run!r}: the stored algorithm state is a Python pickle (older cimkit, or "
            f"planted); it was NOT loaded because unpickling can run code; {fix}"
        )
    if not blob.startswith(STATE_MAGIC):
        raise CimkitError(
            f"run {run!r}: the stored algorithm state is not in cimkit's format; {fix}"
        )
    try:
        pos = len(STATE_MAGIC)
        size = int.from_bytes(blob[pos : pos + 8], "little")
        if not 0 < size <= len(blob) - pos - 8:
            raise ValueError("bad header length")
        header = json.loads(blob[pos + 8 : pos + 8 + size].decode())
        body = memoryview(blob)[pos + 8 + size :]
        meta = header["meta"]
        if not isinstance(meta, dict) or meta.get("format") != 1:
            raise ValueError("unknown format version")
        arrays: dict[str, np.ndarray] = {}
        for name, spec in header["arrays"].items():
            dtype = np.dtype(str(spec["dtype"]))
            shape = tuple(int(v) for v in spec["shape"])
            offset = int(spec["offset"])
            if dtype.kind not in _KINDS or dtype.hasobject or any(v < 0 for v in shape):
                raise ValueError(f"array {name}: dtype {dtype}, shape {shape}")
            count = int(np.prod(shape, dtype=np.int64))
            if offset < 0 or offset + count * dtype.itemsize > len(body):
                raise ValueError(f"array {name} runs past the end of the blob")
            arrays[name] = np.frombuffer(body, dtype, count, offset).reshape(shape)
        return AlgoState(meta, arrays)
    except CimkitError:
        raise
    except Exception as exc:  # json/numpy raise many types on a damaged blob
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CimkitError(
            f"run {run!r}: the stored algorithm state is damaged ({msg}); {fix}"
        ) from None


def restore_state(algo: Any, state: AlgoState, run: str) -> Any:
    """Put a decoded state into ``algo`` (set up by the caller, not yet asked); returns it.

    ``algo`` must come from the same configuration (same class, problem dimensions and
    operators): only the population, the generation counter and the random generator are
    restored; every operator is rebuilt from the configuration, which is how they were made.
    """
    from pymoo.core.individual import Individual
    from pymoo.core.population import Population
    from pymoo.util.optimum import filter_optimum

    fix = f"start the run again with --overwrite (the archive of run {run!r} is intact)"
    meta, arrays = state.meta, state.arrays
    try:
        if meta["algorithm"] != type(algo).__name__:
            raise ValueError(f"algorithm {meta['algorithm']!r}, expected {type(algo).__name__}")
        n = int(meta["n"])
        problem = algo.problem
        if not 1 <= n <= 2 * algo.pop_size + algo.n_offsprings:
            raise ValueError(f"population of {n} for pop_size {algo.pop_size}")
        want = {"X": problem.n_var, "F": problem.n_obj, "G": problem.n_ieq_constr}
        inds = [Individual() for _ in range(n)]
        if sorted(meta["fields"]) != sorted(_IND_FIELDS):
            raise ValueError(f"fields {sorted(meta['fields'])}")
        for f, spec in meta["fields"].items():
            present = arrays.get("n_" + f, np.ones(n, dtype=bool))
            k = int(present.sum())
            if present.shape != (n,) or present.dtype != bool:
                raise ValueError(f"field {f}: mask of shape {present.shape}")
            if "f_" + f in arrays:
                a = arrays["f_" + f]
            else:  # empty arrays, e.g. the derivatives
                a = np.zeros((k, *(int(v) for v in spec["shape"])))
                if a.size:
                    raise ValueError(f"field {f}: no data for shape {spec['shape']}")
            if a.shape[0] != k or (f in want and (k != n or a.shape[1:] != (want[f],))):
                raise ValueError(f"field {f} has shape {a.shape}")
            dtypes = spec["dtypes"] if "dtypes" in spec else [spec["dtype"]] * k
            if len(dtypes) != k or any(np.dtype(str(d)).kind not in _KINDS for d in set(dtypes)):
                raise ValueError(f"field {f}: bad dtypes")
            rows = iter(zip(a, dtypes, strict=True))
            for ind, p in zip(inds, present, strict=True):
                if p:
                    row, d = next(rows)
                    setattr(ind, "_" + f, row.astype(str(d), copy=True))
                else:
                    setattr(ind, "_" + f, None)
        X = arrays["f_X"]
        if not np.isfinite(X).all() or (X < problem.xl).any() or (X > problem.xu).any():
            raise ValueError("genomes outside the search box")
        for k, spec in meta["data"].items():
            values = arrays["d_" + k]
            present = arrays.get("p_" + k, np.ones(n, dtype=bool))
            if present.shape != (n,) or values.shape != (int(present.sum()),):
                raise ValueError(f"data {k!r} has the wrong length")
            tags = spec["tags"] if "tags" in spec else [spec["tag"]] * len(values)
            owners = [ind for ind, p in zip(inds, present, strict=True) if p]
            for ind, v, t in zip(owners, values, tags, strict=True):
                if t in _SCALAR_TAGS:
                    ind.data[k] = _SCALAR_TAGS[t](v.item())
                elif np.dtype(str(t)).kind in _KINDS:
                    ind.data[k] = np.dtype(str(t)).type(v)
                else:
                    raise ValueError(f"data {k!r}: type {t!r}")
        sets = [{str(e) for e in ev} for ev in meta["evaluated"]]
        index = arrays["evaluated"]
        if (
            index.shape != (n,)
            or index.dtype.kind != "i"
            or not ((0 <= index) & (index < len(sets))).all()
        ):
            raise ValueError("evaluated index out of range")
        for ind, i in zip(inds, index.tolist(), strict=True):
            ind.evaluated = set(sets[i])
        rng_meta = meta["rng"]
        if rng_meta["bit_generator"] != type(algo.random_state.bit_generator).__name__:
            raise ValueError(f"random generator {rng_meta['bit_generator']!r}")
        algo.random_state.bit_generator.state = rng_meta["state"]
        algo.n_iter = int(meta["n_iter"])
    except CimkitError:
        raise
    except Exception as exc:  # KeyError/TypeError/ValueError from a damaged or foreign state
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CimkitError(
            f"run {run!r}: the stored algorithm state does not fit this search ({msg}); {fix}"
        ) from None
    algo.pop = Population(inds)
    algo.is_initialized = True
    algo.off = None
    # The optimum is a function of the population, computed as pymoo's _post_advance does.
    algo.opt = filter_optimum(algo.pop, least_infeasible=True)
    return algo


# --- the store -----------------------------------------------------------------------------------


def _alive(pid: int, host: str) -> bool:
    """Whether ``pid`` on ``host`` is another live process (WAL stores are single-host)."""
    if host != socket.gethostname() or pid == os.getpid():
        # Another host cannot share a WAL database, and this process is single-threaded:
        # either way a row that is not ours is a leftover of a killed writer.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunStore:
    """A SQLite file holding many runs; cheap to open, one connection per instance.

    Args:
        path: the store file (created with its folder when missing, unless ``create`` is False).
        create: False for commands that only read or continue runs: a missing file is a
            CimkitError (and no empty database is left behind).
        readonly: open without write access (``report``); every write is a CimkitError.
        timeout_s: how long a write waits for another process's transaction, seconds.

    Raises:
        CimkitError: the path is a directory, not a regular file, not an SQLite database, an
            SQLite database without cimkit's tables, read-only (for writing), or missing
            (``create=False``).
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_STORE,
        *,
        create: bool = True,
        readonly: bool = False,
        timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.timeout_s = timeout_s
        self._tokens: dict[str, str] = {}  # runs this instance owns -> its writer token
        create = create and not readonly
        self._check_file(create)
        mode = "ro" if readonly else ("rwc" if create else "rw")
        uri = f"{self.path.resolve().as_uri()}?mode={mode}"
        try:
            # isolation_level=None: no implicit transactions; writes use BEGIN IMMEDIATE below.
            self.conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from None
        try:
            self._check_schema()
            if not readonly:
                # WAL: a reader (report) never blocks a running search; NORMAL is crash-safe.
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self.conn.close()
            raise self._error(exc, "open") from None
        except CimkitError:
            self.conn.close()
            raise

    # --- validation and errors -------------------------------------------------------------
    def _check_file(self, create: bool) -> None:
        p = self.path
        if p.is_dir():
            raise CimkitError(
                f"--store {p} is a directory; give a file, e.g. {p / 'cimkit.sqlite'}"
            )
        if not p.exists():
            if not create:
                raise _no_store(p)
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CimkitError(
                    f"--store {p}: cannot create the folder {p.parent} ({exc.strerror}); "
                    "give a --store in a writable folder"
                ) from None
            return
        if not p.is_file():
            raise CimkitError(f"--store {p} is not a regular file; give a .sqlite file path")
        try:
            with p.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise CimkitError(f"--store {p}: cannot read it ({exc.strerror})") from None
        if head and head != _SQLITE_MAGIC:  # an empty file is a valid, empty database
            raise CimkitError(
                f"--store {p} is not a cimkit run store (not an SQLite database); give another "
                "--store path or move the file away"
            )

    def _check_schema(self) -> None:
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables and "runs" not in tables:
            raise CimkitError(
                f"--store {self.path} is an SQLite database but not a cimkit run store (no runs "
                "table); give another --store path"
            )
        if not tables and self.readonly:
            raise CimkitError(
                f"--store {self.path} is empty (no runs); " + MAKE_STORE_HINT.format(path=self.path)
            )
        for t in tables & set(_COLUMNS):
            cols = [r[1] for r in self.conn.execute(f"PRAGMA table_info({t})")]
            if cols != _COLUMNS[t]:
                raise CimkitError(
                    f"--store {self.path}: table {t} has columns {cols}, expected {_COLUMNS[t]} "
                    "(written by another program or cimkit version); give another --store path"
                )

    def _error(self, exc: sqlite3.Error, what: str) -> CimkitError:
        """One-line CimkitError for an sqlite3 error while doing ``what``."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        low = text.lower()
        if "readonly" in low or "read-only" in low:
            return CimkitError(
                f"--store {self.path} is read-only ({what}: {text}); give a writable --store "
                "(e.g. a copy of the file)"
            )
        if "locked" in low or "busy" in low:
            return CimkitError(
                f"--store {self.path} is locked by another process for more than "
                f"{self.timeout_s:g} s ({what}); retry when it has finished"
            )
        if "not a database" in low or "malformed" in low:
            return CimkitError(
                f"--store {self.path} is not a cimkit run store or is damaged ({text}); give "
                "another --store path"
            )
        if "unable to open" in low:
            return CimkitError(f"--store {self.path}: cannot open it ({text}); check the path")
        return CimkitError(f"--store {self.path}: {what} failed ({text})")

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so check-then-write is atomic."""
        if self.readonly:
            raise CimkitError(f"--store {self.path} was opened read-only; cannot {what}")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, what) from None
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, what) from None
            raise

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "read") from None

    def close(self) -> None:
        self.conn.close()

    # --- writers ---------------------------------------------------------------------------
    def _claim(self, conn: sqlite3.Connection, name: str) -> None:
        """Inside a transaction: make this instance the writer of ``name`` or raise."""
        row = conn.execute("SELECT token, pid, host FROM writers WHERE run = ?", (name,)).fetchone()
        if row is not None and row[0] != self._tokens.get(name) and _alive(row[1], row[2]):
            raise CimkitError(
                f"run {name!r} is being written by another process (pid {row[1]} on {row[2]}); "
                "wait for it to finish or stop it, or use another --name"
            )
        token = secrets.token_hex(8)
        conn.execute(
            "INSERT OR REPLACE INTO writers VALUES (?, ?, ?, ?, ?)",
            (name, token, os.getpid(), socket.gethostname(), time.time()),
        )
        self._tokens[name] = token

    def _owns(self, conn: sqlite3.Connection, name: str) -> bool:
        row = conn.execute("SELECT token FROM writers WHERE run = ?", (name,)).fetchone()
        return row is not None and row[0] == self._tokens.get(name)

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, name: str, config: dict[str, Any], overwrite: bool = False) -> None:
        """Register a new run (this instance becomes its writer); ``overwrite`` replaces one."""
        with self._tx(f"create run {name!r}") as conn:
            self._claim(conn, name)
            if conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
                if not overwrite:
                    raise CimkitError(
                        f"run {name!r} already exists in {self.path}; use --resume {name} or "
                        "another --name (or --overwrite)"
                    )
                self._delete(conn, name)
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                (name, time.time(), json.dumps(config, sort_keys=True), "running", -1),
            )

    def resume_run(self, name: str) -> None:
        """Become the writer of an existing run and mark it running."""
        with self._tx(f"resume run {name!r}") as conn:
            self._claim(conn, name)
            if not conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
                raise CimkitError(f"no run {name!r} in {self.path}")
            conn.execute("UPDATE runs SET status = 'running' WHERE name = ?", (name,))

    def update_search_config(self, name: str, search: dict[str, Any]) -> None:
        """Replace the ``search`` part of a run's stored config (e.g. more generations)."""
        with self._tx(f"update run {name!r}") as conn:
            if not self._owns(conn, name):
                raise CimkitError(f"run {name!r} is being written by another process")
            row = conn.execute("SELECT config FROM runs WHERE name = ?", (name,)).fetchone()
            config = {**json.loads(row[0]), "search": search}
            conn.execute(
                "UPDATE runs SET config = ? WHERE name = ?",
                (json.dumps(config, sort_keys=True), name),
            )

    def finish_run(self, name: str, status: str) -> None:
        """Set the final status ('done', 'interrupted') and release the run, if still ours."""
        with self._tx(f"finish run {name!r}") as conn:
            if self._owns(conn, name):
                conn.execute("UPDATE runs SET status = ? WHERE name = ?", (status, name))
                conn.execute("DELETE FROM writers WHERE run = ?", (name,))
        self._tokens.pop(name, None)

    def _delete(self, conn: sqlite3.Connection, name: str) -> None:
        for table in ("runs", "designs", "history", "state"):
            key = "name" if table == "runs" else "run"
            conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (name,))

    def delete_run(self, name: str) -> None:
        """Remove a run's rows (not its writer row: a live writer keeps its claim)."""
        with self._tx(f"delete run {name!r}") as conn:
            self._delete(conn, name)

    def remove_run(self, name: str) -> None:
        """Delete a finished run and its rows; a run a live process is writing is refused.

        The writer check and the delete are one transaction, so a search cannot claim the run
        between them. A writer row of a dead process (SIGKILL) is removed with the run.
        """
        with self._tx(f"delete run {name!r}") as conn:
            row = conn.execute("SELECT pid, host FROM writers WHERE run = ?", (name,)).fetchone()
            if row is not None and (row[0] == os.getpid() or _alive(row[0], row[1])):
                raise CimkitError(
                    f"run {name!r} is being written by a live process (pid {row[0]} on {row[1]}); "
                    "stop it or wait for it to finish, then delete"
                )
            if not conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
                raise CimkitError(f"no run {name!r} in {self.path}; see `cimkit runs list`")
            self._delete(conn, name)
            conn.execute("DELETE FROM writers WHERE run = ?", (name,))

    def remove_study(self, name: str) -> None:
        """Delete a comparison's result row (its stage runs are deleted with :meth:`remove_run`)."""
        with self._tx(f"delete comparison {name!r}") as conn:
            conn.execute("DELETE FROM studies WHERE name = ?", (name,))

    def run_summaries(self) -> list[dict[str, Any]]:
        """Every run, oldest first: name, created (Unix s), status, gen, designs, config, writer
        (pid of a live writing process, else None)."""
        counts = dict(self._read("SELECT run, COUNT(*) FROM designs GROUP BY run"))
        writers = {r[0]: (r[1], r[2]) for r in self._read("SELECT run, pid, host FROM writers")}
        out = []
        for name, created, config, status, gen in self._read(
            "SELECT name, created, config, status, gen FROM runs ORDER BY created"
        ):
            w = writers.get(name)
            live = w is not None and _alive(w[0], w[1])
            out.append(
                {
                    "name": name,
                    "created": created,
                    "status": status,
                    "gen": gen,
                    "designs": int(counts.get(name, 0)),
                    "config": json.loads(config),
                    "writer": w[0] if live else None,
                }
            )
        return out

    def study_names(self) -> list[str]:
        """Names of the stored comparisons (``cimkit compare --study``)."""
        return [r[0] for r in self._read("SELECT name FROM studies ORDER BY name")]

    def exists(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE name = ?", (name,)))

    def run_info(self, name: str) -> dict[str, Any]:
        rows = self._read("SELECT config, status, gen FROM runs WHERE name = ?", (name,))
        if not rows:
            known = [r[0] for r in self._read("SELECT name FROM runs ORDER BY created")]
            studies = [r[0] for r in self._read("SELECT name FROM studies ORDER BY name")]
            raise CimkitError(
                f"no run {name!r} in {self.path}; runs: {known[-10:]}"
                + (f", comparisons: {studies[-10:]}" if studies else "")
            )
        config, status, gen = rows[0]
        return {"config": json.loads(config), "status": status, "gen": gen}

    def list_runs(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self._read("SELECT name, status, gen FROM runs ORDER BY created")]

    def set_status(self, name: str, status: str) -> None:
        with self._tx(f"update run {name!r}") as conn:
            conn.execute("UPDATE runs SET status = ? WHERE name = ?", (status, name))

    # --- generations -----------------------------------------------------------------------
    def commit_generation(
        self,
        name: str,
        gen: int,
        archive: Archive,
        start: int,
        n_evals: int,
        best: float,
        state: bytes | None,
    ) -> None:
        """Atomically persist archive rows ``start:``, the history point and the algorithm state
        (bytes of :func:`encode_state`). Raises CimkitError if another process took the run."""
        X, M, G = archive.X[start:], archive.M[start:], archive.gen[start:]
        # Each row's bytes cut from one buffer per array (the same bytes as row.tobytes()),
        # not one conversion per row: 150 rows x 71 generations of a search.
        xb = np.ascontiguousarray(X).tobytes()
        mb = np.ascontiguousarray(M, dtype="<f8").tobytes()
        nx, nm = X.itemsize * X.shape[1], 8 * M.shape[1]
        rows = [
            (name, start + i, g, xb[i * nx : (i + 1) * nx], mb[i * nm : (i + 1) * nm])
            for i, g in enumerate(G.tolist())
        ]
        with self._tx(f"commit generation {gen} of run {name!r}") as conn:
            if not self._owns(conn, name):
                raise CimkitError(
                    f"run {name!r} was taken over by another process (--overwrite or --resume) "
                    "while this one was writing it; this process stopped and left that run alone"
                )
            conn.executemany("INSERT INTO designs VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute(
                "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)", (name, gen, n_evals, best)
            )
            conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (name, gen, state))
            conn.execute("UPDATE runs SET gen = ? WHERE name = ?", (gen, name))

    def load_archive(self, name: str, n_var: int) -> Archive:
        rows = self._read("SELECT gen, x, m FROM designs WHERE run = ? ORDER BY idx", (name,))
        archive = Archive(n_var)
        if rows:
            try:
                # One join and one frombuffer per column instead of one array per row (11k
                # rows: 10x faster); rows of unequal length are a damaged store, as before.
                xs, ms = [r[1] for r in rows], [r[2] for r in rows]
                if len({len(b) for b in xs}) != 1 or len({len(b) for b in ms}) != 1:
                    raise ValueError("rows of unequal length")
                X = np.frombuffer(b"".join(xs), dtype=GENE_DTYPE).reshape(len(rows), -1)
                M = np.frombuffer(b"".join(ms), dtype="<f8").reshape(len(rows), -1)
            except (TypeError, ValueError):
                raise CimkitError(
                    f"run {name!r} in {self.path}: damaged design rows; start it again with "
                    "--overwrite"
                ) from None
            if M.shape[1] != len(METRIC_NAMES) or X.shape[1] != n_var:
                raise CimkitError(f"run {name!r} was written by another cimkit version")
            archive.add(X, M, np.array([r[0] for r in rows]))
        return archive

    def load_state(self, name: str) -> tuple[int, AlgoState | None]:
        """(last committed generation, decoded state) or (-1, None) before generation 0."""
        rows = self._read("SELECT gen, algo FROM state WHERE run = ?", (name,))
        if not rows:
            return -1, None
        gen, blob = rows[0]
        # Decoded as arrays + JSON only: a replaced blob is refused, never executed.
        return int(gen), (decode_state(blob, name) if blob is not None else None)

    def history(self, name: str) -> list[tuple[int, int, float]]:
        return [
            tuple(r)
            for r in self._read(
                "SELECT gen, n_evals, best FROM history WHERE run = ? ORDER BY gen", (name,)
            )
        ]

    # --- studies (compare) -----------------------------------------------------------------
    def save_study(self, name: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        with self._tx(f"save comparison {name!r}") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO studies VALUES (?, ?, ?)",
                (name, json.dumps(config, sort_keys=True), json.dumps(result, sort_keys=True)),
            )

    def load_study(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        rows = self._read("SELECT config, result FROM studies WHERE name = ?", (name,))
        return None if not rows else (json.loads(rows[0][0]), json.loads(rows[0][1]))
