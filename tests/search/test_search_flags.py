"""Flags of search / compare / report: every bad value is one ``error:`` line, exit 2, no store.

Each case names the flag and what is allowed; none of them may leave a new store file behind
(the flags are checked before the store is opened).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from search_helpers import constant_space_yaml
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def space_yaml(tmp_path_factory) -> Path:
    return constant_space_yaml(tmp_path_factory.mktemp("space"))


def _error_line(res) -> str:
    """The single stderr line of a user error (exit 2); fails on a traceback or exit 1."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    err = res.stderr.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    return err


BAD_SEARCH_FLAGS = [
    (["--pop", "100000000"], r"--pop\): 100000000; allowed 2\.\.100,000 \(memory: each"),
    (["--pop", "1"], r"--pop\): 1; allowed 2\.\."),
    (["--gen", "-1"], r"--gen\): -1; allowed 0\.\.100,000"),
    (["--pop", "100000", "--gen", "1000"], r"designs; allowed <= 10,000,000 \(memory"),
    (["--seed", "-1"], r"--seed\): -1; allowed 0\.\.4294967295"),
    (["--seed", str(2**32)], r"--seed\): 4294967296; allowed"),
    (["--eta-c", "nan"], r"eta_c \(--eta-c\): nan; must be a finite number > 0"),
    (["--eta-c", "inf"], r"eta_c \(--eta-c\): inf; must be a finite"),
    (["--eta-m", "0"], r"eta_m \(--eta-m\): 0\.0; must be"),
    (["--p-c", "nan"], r"p_c \(--p-c\): nan; must be in 0\.\.1"),
    (["--pareto", "bogus,edap"], r"--pareto: unknown metrics \['bogus'\]; choose from"),
    (["--pareto", "edap"], r"--pareto: give 2 or 3 metrics"),
    (["--priority", "1,1,1,1"], r"--priority applies only with --objective priority"),
    (["--objective", "priority"], r"give --priority a,b,c,d"),
    (["--backend", "process", "--workers", "-1"], r"--workers -1: allowed 1\.\.\d"),
    (["--backend", "process", "--workers", "0"], r"--workers 0: allowed 1\.\."),
    (["--backend", "process", "--workers", "100000"], r"--workers 100000: allowed 1\.\."),
    (["--workers", "2"], r"--workers applies to --backend process or ray"),
    (["--address", "10.0.0.1:6379"], r"--address applies to --backend ray only"),
    (["--backend", "gpu"], r"unknown backend 'gpu'"),
    (["--name", ""], r"--name: empty value; give a value"),
    (["--name", "../outside"], r"--name '\.\./outside': use letters"),
    (["--name", ".hidden"], r"--name '\.hidden': use"),
    (["--name", "a/b"], r"--name 'a/b': use"),
    (["--name", "x" * 101], r"at most 100 characters"),
]


@pytest.mark.parametrize("args, pattern", BAD_SEARCH_FLAGS, ids=lambda v: " ".join(v)[:40])
def test_bad_search_flag_is_one_line_and_creates_no_store(app, space_yaml, tmp_path, args,
                                                          pattern) -> None:  # fmt: skip
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["search", str(space_yaml), *args, "--store", str(store)])
    assert re.search(pattern, _error_line(res)), res.stderr
    assert not store.exists()


def test_non_integer_pop_is_a_usage_error(app, space_yaml, tmp_path) -> None:
    res = runner.invoke(app, ["search", str(space_yaml), "--pop", "1e8"])
    assert res.exit_code == 2 and "'1e8' is not a valid integer" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--study", "../x"], r"--study '\.\./x': use letters"),
        (["--priority", "1,1,1,1"], r"--priority applies only with --objective priority"),
        (["--gen", "1"], r"--gen 1: compare needs >= 2"),
        (["--pop", "0"], r"--pop\): 0; allowed 2\.\."),
        (["--seed", "-5"], r"--seed\): -5"),
    ],
)
def test_bad_compare_flag_is_one_line(app, space_yaml, tmp_path, args, pattern) -> None:
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["compare", str(space_yaml), *args, "--store", str(store)])
    assert re.search(pattern, _error_line(res)), res.stderr
    assert not store.exists()


@pytest.mark.parametrize("command, flag", [("search", "--out"), ("compare", "--out")])
def test_report_folder_in_the_way_fails_before_the_search(app, space_yaml, tmp_path, command,
                                                          flag) -> None:  # fmt: skip
    """A file where the report folder should go is refused before any search runs or a store is
    made (it used to fail in write_report, after the whole search)."""
    blocker = tmp_path / "report"
    blocker.write_text("not a folder")
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, [command, str(space_yaml), flag, str(blocker), "--store", str(store)])
    err = _error_line(res)
    assert flag in err and "is a file, not a directory" in err, err
    assert not store.exists()


def test_report_on_a_missing_store_creates_nothing(app, tmp_path) -> None:
    store = tmp_path / "runs" / "cimkit.sqlite"
    res = runner.invoke(app, ["report", "r1", "--store", str(store)])
    err = _error_line(res)
    assert f"no store at {store}" in err and "cimkit search SPACE.yaml --store" in err
    assert not store.exists() and not store.parent.exists()
    res = runner.invoke(app, ["search", "--resume", "r1", "--store", str(store)])
    assert "no store at" in _error_line(res) and not store.exists()


@pytest.fixture(scope="module")
def done_store(app, space_yaml, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("done") / "s.sqlite"
    res = runner.invoke(app, ["search", str(space_yaml), "--name", "r", "--pop", "10", "--gen",
                              "2", "--store", str(store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    return store


@pytest.mark.parametrize(
    "run, pattern",
    [
        ("../../etc/x", r"RUN '\.\./\.\./etc/x': use letters"),
        ("/abs", r"RUN '/abs': use"),
        ("nope", r"no run 'nope' in .*runs: \['r'\]"),
    ],
)
def test_report_run_names(app, done_store, tmp_path, run, pattern) -> None:
    res = runner.invoke(app, ["report", run, "--store", str(done_store), "--out", str(tmp_path)])
    assert re.search(pattern, _error_line(res)), res.stderr


def test_resume_honours_gen_and_refuses_stored_settings(app, done_store, tmp_path) -> None:
    import shutil

    from cimkit.search.store import RunStore

    store = tmp_path / "s.sqlite"
    shutil.copy(done_store, store)
    for args, pattern in (
        (["--pop", "12"], r"--resume r: --pop cannot change a stored run"),
        (["--seed", "3", "--eta-c", "2"], r"--seed, --eta-c cannot change"),
        (["--gen", "1"], r"--gen 1: run 'r' already has 2 generations"),
        (["--workers", "2"], r"--workers applies to --backend process or ray"),
    ):
        res = runner.invoke(app, ["search", "--resume", "r", *args, "--store", str(store)])
        assert re.search(pattern, _error_line(res)), res.stderr
    res = runner.invoke(app, ["search", "--resume", "r", "--gen", "4", "--store", str(store)])
    assert res.exit_code == 0, res.output
    st = RunStore(store, readonly=True)
    assert [h[0] for h in st.history("r")] == [0, 1, 2, 3, 4]
    assert st.run_info("r")["config"]["search"]["n_gen"] == 4


def test_help_says_which_inputs_run_code(app) -> None:
    from cimkit.cli import app as main_app

    def flat(text: str) -> str:
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())

    search_help = flat(runner.invoke(app, ["search", "--help"]).output)
    assert "runs Python code from the module it names" in search_help  # accuracy: callable
    assert "runs Python code from this process" in search_help  # --address (Ray unpickles)
    assert "resuming never runs code from it" in search_help  # --store
    for cmd in ("evaluate", "import"):
        text = flat(runner.invoke(main_app, [cmd, "--help"]).output)
        assert "runs Python code from that module" in text, cmd  # --torch


def test_net_arg_is_bounded(tmp_path) -> None:
    from cimkit.cli import app as main_app

    res = runner.invoke(main_app, ["schedule", "--network", "vgg8", "--net-arg",
                                   "resolution=1e9"])  # fmt: skip
    assert re.search(r"--net-arg 'resolution=1e9': resolution must be at most 8,192",
                     _error_line(res))  # fmt: skip
    res = runner.invoke(main_app, ["schedule", "--network", "vgg8", "--net-arg", "width=1000"])
    assert "width must be at most 64" in _error_line(res)
