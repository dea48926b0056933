"""The run store holds data, never code; opening, read-only use and concurrent writers.

Issue 14 item 2: a planted algorithm-state blob is refused (and never executed), resuming
rebuilds pymoo exactly, the store file is validated, and two writers of one run cannot corrupt it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cimkit.errors import CimkitError, SpecError
from cimkit.search.engine import Search, SearchConfig
from cimkit.search.store import STATE_MAGIC, RunStore

SMALL = {"pop_size": 12, "n_gen": 3}


class _Planted:
    """Unpickling this object runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _one_line(msg: str) -> None:
    assert msg and "\n" not in msg and "Traceback" not in msg, msg


@pytest.fixture(scope="module")
def stored_run(problem, tmp_path_factory) -> Path:
    """A store with one finished run 'r' (SMALL, seed 0); tests work on copies of it."""
    path = tmp_path_factory.mktemp("store") / "base.sqlite"
    st = RunStore(path)
    Search(problem, SearchConfig(**SMALL), store=st, name="r").run()
    st.close()
    return path


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "s.sqlite"
    shutil.copy(src, dst)
    return dst


def _set_blob(path: Path, blob: bytes, run: str = "r") -> None:
    with sqlite3.connect(path) as c:
        c.execute("UPDATE state SET algo = ? WHERE run = ?", (blob, run))
        c.execute("UPDATE runs SET status = 'interrupted', gen = 2 WHERE name = ?", (run,))


def _forged_header(dtype: str) -> bytes:
    header = json.dumps(
        {"meta": {"format": 1}, "arrays": {"f_X": {"dtype": dtype, "shape": [1], "offset": 0}}}
    ).encode()
    return STATE_MAGIC + len(header).to_bytes(8, "little") + header + b"\0" * 8


# --- no code from data ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["os.system pickle", "benign pickle", "object dtype", "garbage"])
def test_planted_state_blob_is_refused_and_never_run(problem, stored_run, tmp_path, kind) -> None:
    marker = tmp_path / "pwned"
    blob = {
        "os.system pickle": pickle.dumps(_Planted(marker), protocol=4),
        "benign pickle": pickle.dumps({"pop": [1, 2, 3]}),
        "object dtype": _forged_header("|O"),
        "garbage": STATE_MAGIC + os.urandom(64),
    }[kind]
    path = _copy(stored_run, tmp_path)
    _set_blob(path, blob)
    st = RunStore(path)
    with pytest.raises(CimkitError, match="stored algorithm state") as exc:
        Search(problem, SearchConfig(**SMALL), store=st, name="r").run(resume=True)
    _one_line(str(exc.value))
    assert "--overwrite" in str(exc.value)
    assert not marker.exists()
    # The refused resume released the run as it was (not left 'running' by this process).
    assert st.run_info("r")["status"] == "interrupted"
    if kind == "os.system pickle":
        assert "pickle" in str(exc.value)
        pickle.loads(blob)  # the blob is live: an unrestricted unpickler would have run it
        assert marker.exists()


def test_planted_state_through_the_cli_is_exit_2(app, stored_run, tmp_path) -> None:
    from search_helpers import constant_space_yaml
    from typer.testing import CliRunner

    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "cli.sqlite"
    runner = CliRunner()
    args = ["search", str(sp), "--name", "c", "--pop", "8", "--gen", "2", "--store", str(store)]
    assert runner.invoke(app, args).exit_code == 0
    marker = tmp_path / "pwned"
    _set_blob(store, pickle.dumps(_Planted(marker)), run="c")
    res = runner.invoke(app, ["search", "--resume", "c", "--store", str(store)])
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("error:") and "pickle" in err
    _one_line(err)
    assert not marker.exists()


def test_state_is_arrays_and_json_not_pickle(stored_run) -> None:
    with sqlite3.connect(stored_run) as c:
        (blob,) = c.execute("SELECT algo FROM state WHERE run = 'r'").fetchone()
    assert blob.startswith(STATE_MAGIC)
    assert b"pymoo" not in blob and b"\x80\x04\x95" not in blob  # no class names, no pickle


def test_nsga2_interrupted_run_resumes_to_the_same_result(problem, tmp_path) -> None:
    cfg = SearchConfig(algorithm="nsga2", pareto=("accuracy", "edap"), **SMALL)
    st = RunStore(tmp_path / "n.sqlite")
    full = Search(problem, cfg, store=st, name="full").run()

    def boom(gen: int) -> None:
        if gen == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Search(problem, cfg, store=st, name="cut", on_evaluated=boom).run()
    assert st.run_info("cut")["gen"] == 1
    res = Search(problem, cfg, store=st, name="cut").run(resume=True)
    assert np.array_equal(res.archive.X, full.archive.X)
    assert np.array_equal(res.archive.M, full.archive.M)
    assert res.history == full.history


def test_resume_with_more_generations_equals_a_longer_run(problem, stored_run, tmp_path) -> None:
    path = _copy(stored_run, tmp_path)
    st = RunStore(path)
    longer = SearchConfig(**{**SMALL, "n_gen": 5})
    ref = Search(problem, longer, store=st, name="ref").run()
    res = Search(problem, longer, store=st, name="r").run(resume=True)
    assert [h[0] for h in res.history] == list(range(6))
    assert np.array_equal(res.archive.X, ref.archive.X)
    assert np.array_equal(res.archive.M, ref.archive.M)
    info = st.run_info("r")
    assert info["status"] == "done" and info["config"]["search"]["n_gen"] == 5


def test_resume_refuses_other_settings_and_fewer_generations(problem, stored_run, tmp_path):
    st = RunStore(_copy(stored_run, tmp_path))
    with pytest.raises(SpecError, match=r"only the number of generations.*pop_size=14"):
        Search(problem, SearchConfig(**{**SMALL, "pop_size": 14}), store=st, name="r").run(True)
    with pytest.raises(SpecError, match=r"--gen 2: run 'r' already has 3 generations"):
        Search(problem, SearchConfig(**{**SMALL, "n_gen": 2}), store=st, name="r").run(True)
    assert st.run_info("r")["status"] == "done"


# --- training checkpoints -------------------------------------------------------------------


def test_training_checkpoint_with_code_is_refused(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from cimkit.accuracy.train import load_checkpoint

    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}, "payload": _Planted(marker)}, bad)
    with pytest.raises(CimkitError, match="not a cimkit training checkpoint") as exc:
        load_checkpoint(bad)
    _one_line(str(exc.value))
    assert not marker.exists()
    # A checkpoint of the shape train_supernet writes loads (tensors and plain values only).
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    good = tmp_path / "good.pt"
    rng = np.random.default_rng(0)
    torch.save(
        {
            "model": net.state_dict(),
            "opt": opt.state_dict(),
            "step": 1,
            "elapsed": 0.5,
            "np_rng": rng.bit_generator.state,
            "torch_gen": torch.Generator().get_state(),
            "torch_rng": torch.get_rng_state(),
            "config": {"width": 0.25, "stage_strides": [2, 2]},
        },
        good,
    )
    state = load_checkpoint(good)
    assert state["np_rng"] == rng.bit_generator.state and state["step"] == 1


# --- opening a store ------------------------------------------------------------------------


def _sqlite_with(path: Path, sql: str) -> Path:
    with sqlite3.connect(path) as c:
        c.executescript(sql)
    return path


@pytest.mark.parametrize(
    "kind, words",
    [
        ("directory", "is a directory"),
        ("random bytes", "not an SQLite database"),
        ("text file", "not an SQLite database"),
        ("other database", r"not a cimkit run store \(no runs table\)"),
        ("other columns", "table runs has columns"),
    ],
)
def test_a_path_that_is_not_a_store_is_one_line(tmp_path, kind, words) -> None:
    p = tmp_path / "s.sqlite"
    if kind == "directory":
        p.mkdir()
    elif kind == "random bytes":
        p.write_bytes(os.urandom(4096))
    elif kind == "text file":
        p.write_text("name,status\nr1,done\n")
    elif kind == "other database":
        _sqlite_with(p, "CREATE TABLE notes(x TEXT);")
    else:
        _sqlite_with(p, "CREATE TABLE runs(name TEXT, other TEXT);")
    before = p.read_bytes() if p.is_file() else None
    for kwargs in ({}, {"readonly": True}):
        with pytest.raises(CimkitError, match=words) as exc:
            RunStore(p, **kwargs)
        _one_line(str(exc.value))
    assert (p.read_bytes() if p.is_file() else None) == before  # left exactly as it was


def test_missing_store_for_reading_is_an_error_and_no_file(tmp_path) -> None:
    p = tmp_path / "none" / "s.sqlite"
    for kwargs in ({"readonly": True}, {"create": False}):
        with pytest.raises(CimkitError, match=r"no store at .*cimkit search SPACE.yaml --store"):
            RunStore(p, **kwargs)
    assert not p.exists() and not p.parent.exists()


def test_read_only_store_reads_and_refuses_writes(stored_run, tmp_path) -> None:
    st = RunStore(_copy(stored_run, tmp_path), readonly=True)
    assert st.run_info("r")["status"] == "done" and len(st.history("r")) == 4
    for write in (
        lambda: st.create_run("x", {}),
        lambda: st.save_study("x", {}, {}),
        lambda: st.finish_run("r", "done"),
    ):
        with pytest.raises(CimkitError, match="read-only") as exc:
            write()
        _one_line(str(exc.value))
    # A store SQLite itself cannot write (read-only file or mount; root ignores file modes, so
    # the connection is made read-only here): SQLite's error becomes the same one line.
    rw = RunStore(st.path)
    rw.conn.close()
    rw.conn = sqlite3.connect(f"{st.path.resolve().as_uri()}?mode=ro", uri=True)
    with pytest.raises(CimkitError, match=r"is read-only \(create run 'x'") as exc:
        rw.create_run("x", {})
    _one_line(str(exc.value))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_store_without_write_permission_is_a_clear_error(stored_run, tmp_path) -> None:
    p = _copy(stored_run, tmp_path)
    p.chmod(0o444)
    try:
        with pytest.raises(CimkitError, match="read-only"):
            RunStore(p).create_run("x", {})
        assert RunStore(p, readonly=True).run_info("r")["status"] == "done"
    finally:
        p.chmod(0o644)


# --- concurrent writers ---------------------------------------------------------------------


def test_overwrite_of_a_run_a_live_process_writes_is_refused(problem, stored_run, tmp_path):
    path = _copy(stored_run, tmp_path)
    # A live process that is not this one: it owns run 'r' until it exits.
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        with sqlite3.connect(path) as c:
            c.execute(
                "INSERT OR REPLACE INTO writers VALUES ('r', 'theirs', ?, ?, 0)",
                (other.pid, socket.gethostname()),
            )
        st = RunStore(path)
        for claim in (
            lambda: st.create_run("r", {}, overwrite=True),
            lambda: st.resume_run("r"),
        ):
            with pytest.raises(CimkitError, match=rf"being written by another process \(pid "
                               rf"{other.pid}") as exc:  # fmt: skip
                claim()
            _one_line(str(exc.value))
        assert len(st.load_archive("r", problem.n_var)) > 0  # nothing was deleted
    finally:
        other.stdin.close()
        other.wait()
    st.create_run("r", {}, overwrite=True)  # its writer exited: the claim is stale
    assert st.run_info("r")["gen"] == -1


def test_a_writer_whose_run_was_taken_over_stops(problem, tmp_path) -> None:
    path = tmp_path / "t.sqlite"
    first, second = RunStore(path), RunStore(path)
    first.create_run("r", {"search": {}})
    second.create_run("r", {"search": {}, "by": "second"}, overwrite=True)
    from cimkit.search.archive import Archive

    arch = Archive(problem.n_var)
    with pytest.raises(CimkitError, match="taken over by another process") as exc:
        first.commit_generation("r", 0, arch, 0, 0, 1.0, None)
    _one_line(str(exc.value))
    first.finish_run("r", "interrupted")  # not the owner any more: changes nothing
    info = second.run_info("r")
    assert info["status"] == "running" and info["config"]["by"] == "second"


@pytest.mark.slow
def test_two_processes_overwriting_one_run_never_corrupt_it(tmp_path) -> None:
    from search_helpers import constant_space_yaml

    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "c.sqlite"
    cmd = [sys.executable, "-m", "cimkit.search", "search", str(sp), "--name", "same",
           "--overwrite", "--pop", "12", "--gen", "4", "--store", str(store)]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]  # fmt: skip
    outs = [(p.wait(timeout=300), *(s.decode() for s in p.communicate())) for p in procs]
    for rc, out, err in outs:
        assert rc in (0, 2) and "Traceback" not in out + err, (rc, out, err)
        if rc == 2:
            assert "being written by another process" in err or "taken over" in err, err
    assert any(rc == 0 for rc, _, _ in outs)
    st = RunStore(store, readonly=True)
    info = st.run_info("same")
    assert info["status"] == "done" and info["gen"] == 4
    with sqlite3.connect(store) as c:
        idx = [r[0] for r in c.execute("SELECT idx FROM designs WHERE run='same' ORDER BY idx")]
    assert idx == list(range(len(idx))) and st.history("same")[-1][1] == len(idx)
