"""Issue 15 item 6 (wall time): every faster path gives the same results as the path it replaced.

Each test keeps the replaced implementation as a reference here (or in cimkit, where it is
still used) and compares them on the same inputs; nothing here measures time
(benchmarks/search_wall_time.py does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def small_result(problem):
    from cimkit.search.engine import Search, SearchConfig

    return Search(problem, SearchConfig(pop_size=16, n_gen=3, seed=5)).run()


def _reference_frame(result) -> pd.DataFrame:
    """SearchResult.frame before the int64 fast path: gene values as float64."""
    from cimkit.columns import metrics_frame, typed_frame
    from cimkit.search.objectives import feasible

    values = result.space.joint.decode(result.archive.X.astype(np.int64))
    data = {"design": np.arange(len(result.archive)), "gen": result.archive.gen}
    data.update(metrics_frame(result.archive.M))
    data["feasible"] = feasible(result.archive.M)
    data["score"] = result.objective.score(result.archive.M, result.archive.M[0])
    data.update(values)
    return typed_frame(pd.DataFrame(data))


def test_frame_matches_the_float_reference(small_result) -> None:
    fast = small_result.frame()
    ref = _reference_frame(small_result)
    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    # The fast path really had whole-valued genes to convert, and fractional ones stay float.
    assert (fast.dtypes == "Int64").sum() > 20
    assert any(dt == np.float64 for dt in fast.dtypes)


def test_top_is_the_reference_ranking_for_every_k(problem) -> None:
    """SearchResult.top ranks once per archive and config: the same rows as top_k_distinct
    (the reference) for every k, and ranked again when the archive grows or the config
    changes."""
    from dataclasses import replace

    from cimkit.errors import SpecError
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.space.effective import top_k_distinct

    res = Search(problem, SearchConfig(pop_size=16, n_gen=3, seed=5)).run()
    n = len(res.archive)
    for k in (1, 2, 5, n, n + 3):
        np.testing.assert_array_equal(res.top(k), top_k_distinct(res, k))
    res.top(5)[0] = -1  # a caller changing its copy changes nothing cached
    np.testing.assert_array_equal(res.top(5), top_k_distinct(res, 5))
    # The archive grows (a resumed run's result): the new rows are ranked too.
    other = Search(problem, SearchConfig(pop_size=16, n_gen=1, seed=9)).run()
    keep = np.flatnonzero(res.archive.lookup(other.archive.X) < 0)
    assert len(keep)
    res.archive.add(other.archive.X[keep], other.archive.M[keep], 4)
    np.testing.assert_array_equal(res.top(7), top_k_distinct(res, 7))
    # Another objective ranks differently.
    res.config = replace(res.config, objective="delay")
    np.testing.assert_array_equal(res.top(7), top_k_distinct(res, 7))
    with pytest.raises(SpecError, match="k must be an integer >= 1"):
        res.top(0)


def test_load_archive_reads_back_the_committed_rows(problem, tmp_path) -> None:
    from cimkit.errors import CimkitError
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.store import RunStore

    st = RunStore(tmp_path / "s.sqlite")
    res = Search(problem, SearchConfig(pop_size=8, n_gen=2, seed=1), store=st, name="r").run()
    back = st.load_archive("r", problem.space.joint.n_var)
    np.testing.assert_array_equal(back.X, res.archive.X)
    np.testing.assert_array_equal(back.M, res.archive.M)
    np.testing.assert_array_equal(back.gen, res.archive.gen)
    assert back.lookup(res.archive.X).tolist() == list(range(len(res.archive)))
    # A row of another length is a damaged store: one line, not a reshape traceback.
    st.conn.execute("UPDATE designs SET x = ? WHERE run = 'r' AND idx = 3", (b"\x01\x00",))
    st.conn.commit()
    with pytest.raises(CimkitError, match="damaged design rows"):
        st.load_archive("r", problem.space.joint.n_var)
    st.close()


# --- the GA on arrays (cimkit.search.fastga) vs pymoo's GA ---------------------------------------


def _run(problem, tmp_path, engine, name="r", store=None, resume=False, **cfg):
    """A stored run and the state blob committed after each of its generations."""
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.store import RunStore

    st = store or RunStore(tmp_path / f"{engine}-{name}.sqlite")
    blobs: list[bytes] = []

    def grab(gen, n, best):
        row = st.conn.execute("SELECT algo FROM state WHERE run = ?", (name,)).fetchone()
        blobs.append(bytes(row[0]))

    s = Search(problem, SearchConfig(**cfg), store=st, name=name, engine=engine,
               on_generation=grab)  # fmt: skip
    return s.run(resume=resume), blobs, st


def _same_archive(a, b) -> None:
    np.testing.assert_array_equal(a.archive.X, b.archive.X)
    np.testing.assert_array_equal(a.archive.M, b.archive.M)
    np.testing.assert_array_equal(a.archive.gen, b.archive.gen)
    assert a.history == b.history
    assert a.n_evals == b.n_evals


@pytest.mark.parametrize(
    "cfg",
    [
        {"pop_size": 20, "n_gen": 6, "seed": 1},
        # Low crossover/mutation rates: matings copied unchanged, many duplicates to drop.
        {"pop_size": 30, "n_gen": 6, "seed": 7, "p_c": 0.5, "p_m": 0.3, "eta_c": 10.0},
        # Stage 1 of the two-stage search: no constraints (G has no columns, CV = 0).
        {"pop_size": 10, "n_gen": 5, "seed": 3, "constrained": False},
        # A sub-space search: the other genes fixed (XPert-like stage 2 / two-stage stage 2).
        {"pop_size": 16, "n_gen": 5, "seed": 2, "subspaces": ("hardware",)},
        {"pop_size": 12, "n_gen": 4, "seed": 4, "objective": "delay"},
    ],
)
def test_fast_ga_equals_pymoo_ga_generation_by_generation(problem, tmp_path, cfg) -> None:
    ref, ref_blobs, s1 = _run(problem, tmp_path, "pymoo", **cfg)
    fast, fast_blobs, s2 = _run(problem, tmp_path, "fast", **cfg)
    _same_archive(ref, fast)
    assert ref.best() == fast.best()
    # The stored algorithm state (population, ranks, generation counters, random generator) is
    # byte for byte the one pymoo's GA writes, after every generation.
    assert len(ref_blobs) == cfg["n_gen"] + 1
    assert fast_blobs == ref_blobs
    s1.close()
    s2.close()


@pytest.mark.parametrize("first,then", [("pymoo", "fast"), ("fast", "pymoo")])
def test_a_run_started_on_one_engine_resumes_on_the_other(problem, tmp_path, first, then) -> None:
    from cimkit.search.store import RunStore

    cfg = {"pop_size": 14, "seed": 9}
    whole, _, s0 = _run(problem, tmp_path, "pymoo", name="whole", n_gen=5, **cfg)
    st = RunStore(tmp_path / "split.sqlite")
    _run(problem, tmp_path, first, name="split", store=st, n_gen=2, **cfg)
    resumed, _, _ = _run(problem, tmp_path, then, name="split", store=st, resume=True, n_gen=5,
                         **cfg)  # fmt: skip
    _same_archive(whole, resumed)
    s0.close()
    st.close()


def test_fast_ga_with_the_shipped_predictor_full_size(tmp_path) -> None:
    """P = 150 (the default) for a few generations with the real accuracy predictor."""
    from search_helpers import SPACE

    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.problem import CimnasProblem
    from cimkit.space import load_space

    problem = CimnasProblem(load_space(SPACE))
    cfg = SearchConfig(pop_size=150, n_gen=4, seed=0)
    ref = Search(problem, cfg, engine="pymoo").run()
    fast = Search(problem, cfg).run()
    _same_archive(ref, fast)


def test_fast_ga_without_a_new_offspring_keeps_its_population() -> None:
    """Every genome of a 2-gene binary box is in the population: 100 mating rounds give only
    duplicates, so a generation has no offspring (pymoo's GA stops asking then)."""
    from cimkit.search.fastga import FastGA

    X0 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    ga = FastGA(X0, np.array([1, 1]), 4, 0, p_c=0.95, eta_c=3.0, p_m=0.95, eta_m=3.0)
    ga.tell(ga.ask().sum(axis=1, keepdims=True), -np.ones((4, 3)))
    before = ga.X.copy()
    off = ga.ask()
    assert off.shape == (0, 2)
    ga.tell(np.zeros((0, 1)), np.zeros((0, 3)))
    np.testing.assert_array_equal(np.sort(ga.X, axis=0), np.sort(before, axis=0))
    assert ga.n_iter == 3 and ga.G.shape == (4, 3)


def test_unknown_engine_is_refused(problem) -> None:
    from cimkit.errors import SpecError
    from cimkit.search.engine import Search, SearchConfig

    with pytest.raises(SpecError, match="engine: 'numba'; choose from"):
        Search(problem, SearchConfig(pop_size=4, n_gen=1), engine="numba")


# --- the report worker (cimkit.report.worker) vs the report written in process -------------------


def _search_out(app, tmp_path, monkeypatch, worker: str, sp) -> Path:
    from typer.testing import CliRunner

    monkeypatch.setenv("CIMKIT_REPORT_WORKER", worker)
    # The same names in another folder: the report names its store (a command to re-run).
    out = tmp_path / worker / "report"
    store = tmp_path / worker / "s.sqlite"
    out.parent.mkdir()
    args = ["search", str(sp), "--name", "r", "--pop", "12", "--gen", "2", "--seed", "4",
            "--store", str(store), "--out", str(out), "--quiet"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'report.md'} and {out / 'report.html'}" in res.output
    return out


@pytest.mark.parametrize("kind", ["spawn", "fork"])
def test_search_out_by_the_worker_writes_the_same_files(app, tmp_path, monkeypatch, kind) -> None:
    import os

    from search_helpers import constant_space_yaml

    import cimkit.search.cli as search_cli
    from cimkit.report import worker

    if kind == "fork" and not worker.can_fork():
        pytest.skip("no fork here (not Linux, or a thread runs)")
    sp = constant_space_yaml(tmp_path)
    here = _search_out(app, tmp_path, monkeypatch, "0", sp)
    # With the worker on, this process must not write the report itself (a forked worker
    # inherits this patch: there, in the child, the real one runs).
    parent, real = os.getpid(), search_cli._report

    def report(*a, **k):
        if os.getpid() == parent:
            pytest.fail("report in process")
        return real(*a, **k)

    monkeypatch.setattr(search_cli, "_report", report)
    there = _search_out(app, tmp_path, monkeypatch, kind, sp)
    names = sorted(p.name for p in here.iterdir())
    assert names == sorted(p.name for p in there.iterdir())
    assert {"report.md", "designs.csv", "designs.parquet", "convergence.png"} <= set(names)
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


def test_a_worker_that_fails_leaves_the_report_to_this_process(problem, tmp_path) -> None:
    import sys

    from cimkit.report.worker import ReportWorker, write_report_via
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.store import RunStore

    st = RunStore(tmp_path / "s.sqlite")
    meta = {"space": str(problem.space.source), "area_constraint_mm2": None}
    Search(problem, SearchConfig(pop_size=8, n_gen=1), store=st, name="r", meta=meta).run()
    dead = ReportWorker("x", None, 0, argv=[sys.executable, "-c", "import sys; sys.exit(3)"])

    class Lines:
        printed: list[str] = []

        def print(self, *a, **k):
            self.printed.append(" ".join(map(str, a)))

    con = Lines()
    write_report_via(dead, st, tmp_path / "s.sqlite", "r", tmp_path / "o", con)
    assert (tmp_path / "o" / "report.md").is_file()
    assert con.printed == [
        f"report: {tmp_path / 'o' / 'report.md'} and {tmp_path / 'o' / 'report.html'}"
    ]
    st.close()


def test_a_user_error_in_the_worker_is_the_same_one_line_error(
    problem, tmp_path, monkeypatch
) -> None:
    from cimkit.errors import CimkitError
    from cimkit.report.worker import start, write_report_via
    from cimkit.search.cli import _report
    from cimkit.search.store import RunStore

    st = RunStore(tmp_path / "s.sqlite")
    with pytest.raises(CimkitError) as here:
        _report(st, "nope", tmp_path / "o1", None)
    monkeypatch.setenv("CIMKIT_REPORT_WORKER", "1")
    worker = start(str(problem.space.source), None, 0)
    assert worker is not None
    with pytest.raises(CimkitError) as there:
        write_report_via(worker, st, tmp_path / "s.sqlite", "nope", tmp_path / "o2", None)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value)
    worker.close()
    st.close()


@pytest.mark.parametrize(
    "mode, cores, load, designs, started",
    [
        ("auto", 2, 0.2, 10_650, True),  # a quiet 2-core machine: the second core is free
        ("auto", 2, 1.6, 10_650, False),  # both cores busy: the worker would only add CPU time
        ("auto", 1, 0.0, 10_650, False),  # one core: nothing to overlap with
        ("auto", 16, 9.0, 10_650, True),
        ("auto", 2, 0.2, 36, False),  # P=12, G=2: done before the worker is ready
        ("1", 1, 5.0, 36, True),  # forced on
        ("0", 16, 0.0, 10_650, False),  # forced off
    ],
)
def test_the_worker_starts_only_when_a_core_is_free(
    monkeypatch, mode, cores, load, designs, started
) -> None:
    """A spawned worker (no fork here) costs CPU time of its own: only with a free core."""
    import cimkit.report.worker as w

    monkeypatch.setenv("CIMKIT_REPORT_WORKER", mode)
    monkeypatch.setattr(w.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(w.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(w, "can_fork", lambda: False)
    monkeypatch.setattr(w, "ReportWorker", lambda *a, **k: "worker")
    monkeypatch.setattr(w, "ForkedWorker", lambda *a, **k: pytest.fail("forked"))
    assert (w.start("space.yaml", None, 0, designs) == "worker") is started


@pytest.mark.parametrize(
    "mode, cores, load, designs, started",
    [
        ("auto", 2, 0.2, 10_650, True),
        ("auto", 2, 1.6, 10_650, True),  # busy cores: the fork does no work of its own
        ("auto", 2, 0.2, 36, True),  # a short search: never slower than in process
        ("auto", 1, 0.0, 10_650, False),  # one core: nothing to overlap with
        ("0", 16, 0.0, 10_650, False),
    ],
)
def test_a_forked_worker_starts_wherever_a_second_core_exists(
    monkeypatch, mode, cores, load, designs, started
) -> None:
    import cimkit.report.worker as w

    monkeypatch.setenv("CIMKIT_REPORT_WORKER", mode)
    monkeypatch.setattr(w.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(w.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(w, "can_fork", lambda: True)
    monkeypatch.setattr(w, "ReportWorker", lambda *a, **k: pytest.fail("spawned"))
    monkeypatch.setattr(w, "ForkedWorker", lambda *a, **k: "worker")
    assert (w.start("space.yaml", None, 0, designs) == "worker") is started


@pytest.mark.parametrize(
    "mode, fork_ok, can_fork, kind",
    [
        ("1", True, True, "forked"),  # Linux, the in-process backend: a fork of this process
        ("1", False, True, "spawned"),  # a process pool or Ray beside it: never forked
        ("1", True, False, "spawned"),  # no fork (not Linux, or a thread runs)
        ("spawn", True, True, "spawned"),
        ("fork", False, True, "forked"),  # forced (tests)
    ],
)
def test_the_worker_is_a_fork_only_where_that_is_safe(
    monkeypatch, mode, fork_ok, can_fork, kind
) -> None:
    import cimkit.report.worker as w

    monkeypatch.setenv("CIMKIT_REPORT_WORKER", mode)
    monkeypatch.setattr(w, "can_fork", lambda: can_fork)
    monkeypatch.setattr(w, "ReportWorker", lambda *a, **k: "spawned")
    monkeypatch.setattr(w, "ForkedWorker", lambda *a, **k: "forked")
    assert w.start("space.yaml", None, 0, 10_650, fork=fork_ok) == kind


def test_a_forked_worker_that_fails_leaves_the_report_to_this_process(
    problem, tmp_path, monkeypatch
) -> None:
    """A forked worker that dies before its reply: this process writes the same report."""
    import os

    from cimkit.report import worker
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.store import RunStore

    if not worker.can_fork():
        pytest.skip("no fork here (not Linux, or a thread runs)")
    st = RunStore(tmp_path / "s.sqlite")
    meta = {"space": str(problem.space.source), "area_constraint_mm2": None}
    Search(problem, SearchConfig(pop_size=8, n_gen=1), store=st, name="r", meta=meta).run()
    # The child's preparation ends it (inherited patch): no reply, exit code 7.
    monkeypatch.setattr(worker, "_prepare", lambda *a, **k: os._exit(7))
    dead = worker.ForkedWorker(str(problem.space.source), None, 0, problem)

    class Lines:
        printed: list[str] = []

        def print(self, *a, **k):
            self.printed.append(" ".join(map(str, a)))

    con = Lines()
    worker.write_report_via(dead, st, tmp_path / "s.sqlite", "r", tmp_path / "o", con)
    assert (tmp_path / "o" / "report.md").is_file()
    assert con.printed == [
        f"report: {tmp_path / 'o' / 'report.md'} and {tmp_path / 'o' / 'report.html'}"
    ]
    dead.close()  # already reaped: nothing left to stop
    # A child stuck in its preparation (a lock held at the fork) is stopped after
    # READY_TIMEOUT_S and the report is written here.
    import time

    monkeypatch.setattr(worker, "_prepare", lambda *a, **k: time.sleep(600))
    monkeypatch.setattr(worker, "READY_TIMEOUT_S", 0.5)
    stuck = worker.ForkedWorker(str(problem.space.source), None, 0, problem)
    pid = stuck.pid
    worker.write_report_via(stuck, st, tmp_path / "s.sqlite", "r", tmp_path / "o3", con)
    assert (tmp_path / "o3" / "report.md").read_bytes() == (
        tmp_path / "o" / "report.md"
    ).read_bytes()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # killed and reaped
    # A worker stopped before any request (the search failed) leaves no child behind.
    idle = worker.ForkedWorker(str(problem.space.source), None, 0, problem)
    pid = idle.pid
    idle.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    st.close()


def test_an_interrupted_search_leaves_no_forked_worker_behind(tmp_path) -> None:
    """SIGINT to the search's process alone (not its group): it exits 130 and its forked
    report worker is stopped and reaped, not left running."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from search_helpers import constant_space_yaml

    from cimkit.report import worker

    if not worker.can_fork():
        pytest.skip("no fork here (not Linux, or a thread runs)")
    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "cimkit.search", "search", str(sp), "--pop", "60", "--gen",
           "400", "--store", str(store), "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    env = {**os.environ, "CIMKIT_REPORT_WORKER": "fork"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    children: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(store) as c:
                row = c.execute("SELECT gen FROM runs WHERE name='search'").fetchone()
        except sqlite3.OperationalError:
            continue
        if row and row[0] >= 3:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            children = [int(k) for k in kids]
            proc.send_signal(signal.SIGINT)
            break
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, out
    assert len(children) == 1, children  # the forked worker
    with pytest.raises(ProcessLookupError):
        os.kill(children[0], 0)
    assert not (tmp_path / "out" / "report.md").exists()
