"""The dashboard reads a store read-only: never creates or changes it, and keeps answering while a
search writes to it (WAL, as RunStore sets, and rollback-journal mode)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from dashboard_helpers import GA_RUN, make_run, paused_writer

from cimkit.dashboard.app import runs_json
from cimkit.dashboard.reader import StoreBusyError, StoreReader, check_store
from cimkit.errors import CimkitError


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_store_is_an_error_and_is_not_created(tmp_path) -> None:
    p = tmp_path / "sub" / "none.sqlite"
    with pytest.raises(CimkitError, match="file not found") as exc:
        check_store(p)
    assert "--store" in str(exc.value) and "\n" not in str(exc.value)
    assert not p.exists() and not p.parent.exists()


def test_unusable_store_paths_are_one_short_line(tmp_path) -> None:
    with pytest.raises(CimkitError, match="cannot use this path") as exc:
        check_store(tmp_path / ("x" * 300) / "a.sqlite")  # a name over the OS limit
    assert len(str(exc.value)) < 400
    with pytest.raises(CimkitError, match=r"--store 'a\\x00b': file not found"):
        check_store("a\x00b")  # quoted: no raw control character in the message


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"hello, not a database" * 100, "not a SQLite database"),
        (b"", "not a cimkit run store"),  # an empty file is an empty SQLite database
    ],
)
def test_not_a_store_is_one_line(tmp_path, content, match) -> None:
    p = tmp_path / "x.sqlite"
    p.write_bytes(content)
    with pytest.raises(CimkitError, match=match) as exc:
        check_store(p)
    assert "\n" not in str(exc.value)
    assert p.read_bytes() == content  # nothing written


def test_sqlite_without_run_tables_and_directory(tmp_path) -> None:
    p = tmp_path / "other.sqlite"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE runs(name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(CimkitError, match="no table designs, history"):
        check_store(p)
    with pytest.raises(CimkitError, match="not a file"):
        check_store(tmp_path)


def test_reading_never_changes_the_store_file(two_runs, tmp_path) -> None:
    from starlette.testclient import TestClient

    from cimkit.dashboard.app import create_app

    store = tmp_path / "copy.sqlite"
    store.write_bytes(two_runs["store"].read_bytes())
    before = digest(store)
    c = TestClient(create_app(store))
    for path, params in [
        ("/api/runs", {}),
        ("/api/run", {"name": GA_RUN}),
        ("/api/designs", {"run": GA_RUN}),
        ("/api/design", {"run": GA_RUN, "idx": 0}),
        ("/api/run", {"name": "missing"}),
    ]:
        c.get(path, params=params)
    assert digest(store) == before
    # A write through the reader's connection is refused (opened with mode=ro).
    with StoreReader(store).snapshot() as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM runs")
    assert digest(store) == before


def test_wal_reads_while_a_search_commits_and_holds_a_write_lock(two_runs, tmp_path) -> None:
    """A real search in another process, paused after generation 2 with an open write
    transaction: the dashboard lists the run as running with exactly the committed rows, never
    the uncommitted one; after the search finishes it shows the finished run."""
    store = tmp_path / "live.sqlite"
    make_run(store, two_runs["space"], "first")
    reader = StoreReader(store)
    with paused_writer(store, two_runs["space"], "third", 12, 6, 2) as writer:
        n_committed = writer.n_committed
        runs = {r["name"]: r for r in runs_json(reader)["runs"]}
        assert runs["third"]["status"] == "running" and runs["third"]["gen"] == 2
        assert runs["third"]["n_designs"] == n_committed
        third = reader.load_run("third")
        assert [h[0] for h in third.history] == [0, 1, 2]  # not the uncommitted 1000000
        assert len(third.M) == n_committed and runs["first"]["status"] == "done"
        with sqlite3.connect(store) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.finish()
    final = {r["name"]: r for r in runs_json(reader)["runs"]}["third"]
    assert final["status"] == "done" and final["gen"] == 6 and final["n_designs"] > n_committed


def test_rollback_journal_store_reads_past_a_writer_and_reports_a_long_lock(two_runs, tmp_path):
    store = tmp_path / "journal.sqlite"
    make_run(store, two_runs["space"], "one")
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    reader = StoreReader(store, timeout_s=0.05)
    writer = sqlite3.connect(store, isolation_level=None)
    try:
        # A writer between statements (RESERVED lock): readers go on, seeing committed rows.
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE runs SET status = 'interrupted' WHERE name = 'one'")
        assert [r["status"] for r in runs_json(reader)["runs"]] == ["done"]
        writer.execute("COMMIT")
        assert [r["status"] for r in runs_json(reader)["runs"]] == ["interrupted"]
        # A writer committing (EXCLUSIVE lock) for longer than the reader waits: one line.
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusyError, match="writer held its lock") as exc:
            runs_json(reader)
        assert "\n" not in str(exc.value)
        writer.execute("ROLLBACK")
        assert [r["status"] for r in runs_json(reader)["runs"]] == ["interrupted"]
    finally:
        writer.close()
    with sqlite3.connect(store) as conn:  # the dashboard did not switch the journal mode
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not store.with_name(store.name + "-wal").exists()


def test_busy_store_is_a_503_answer(two_runs, tmp_path) -> None:
    from starlette.testclient import TestClient

    from cimkit.dashboard.app import create_app

    store = tmp_path / "busy.sqlite"
    make_run(store, two_runs["space"], "one")
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    c = TestClient(create_app(store, timeout_s=0.05))
    writer = sqlite3.connect(store, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        r = c.get("/api/runs")
        assert r.status_code == 503 and "writer held its lock" in r.json()["error"]
    finally:
        writer.close()
    assert c.get("/api/runs").status_code == 200
