"""One error path for every command (issue 14, item 4): a user's mistake is one line, exit 2.

Each defect a user measured has a regression test here: output folders that are files, read-only
or missing parents; bad numbers (inf, NaN, out of range); unreadable --weights / --genome; a
factory or accuracy callable that raises or exits; OS, SQLite, memory errors; internal errors
(exit 1, traceback only with CIMKIT_DEBUG=1).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import typer
import typer.main
from typer.testing import CliRunner

from cimkit import cli_errors
from cimkit.cli import _check_metrics, app
from cimkit.cli_errors import (
    check_number,
    parse_names,
    parse_numbers,
    prepare_out_dir,
    prepare_out_file,
    user_errors,
)
from cimkit.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "examples" / "chips" / "rram_baseline.yaml"
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
runner = CliRunner()
GENOME = {"depths": [4] * 5, "kernels": 7, "expands": 6, "bits": 8}


def _run(*args: object, **env: str) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=env or None)


def _error_line(res: Any, code: int = 2) -> str:
    """The single ``error:`` line of a failed command (asserts there is exactly one)."""
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------- every command is wrapped


def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), group.callback


_WRAPPER_CODE = user_errors(lambda: None).__code__


def _is_wrapped(callback: Callable[..., Any]) -> bool:
    # Follow functools.wraps chains (typer adds its own layer) down to our wrapper's code.
    fn: Any = callback
    while fn is not None:
        if getattr(fn, "__code__", None) is _WRAPPER_CODE:
            return True
        fn = getattr(fn, "__wrapped__", None)
    return False


def _unwrapped(a: typer.Typer) -> list[str]:
    return [name for name, cb in _commands(typer.main.get_command(a)) if not _is_wrapped(cb)]


def test_every_registered_command_goes_through_user_errors() -> None:
    names = {name for name, _ in _commands(typer.main.get_command(app))}
    expected = {"evaluate", "import", "networks", "validate", "spec", "schedule", "generate"}
    expected |= {"pimhls-report", "predict", "histograms", "train supernet", "train predictor"}
    expected |= {"space", "search", "compare", "report"}
    assert expected <= names
    assert _unwrapped(app) == []


def test_the_walk_finds_an_unwrapped_command() -> None:
    a = typer.Typer()

    @a.command()
    def plain() -> None: ...

    @a.command()
    @user_errors
    def wrapped() -> None: ...

    assert _unwrapped(a) == ["plain"]


def test_user_errors_is_idempotent_and_app_shows_no_pretty_tracebacks() -> None:
    def f() -> None: ...

    once = user_errors(f)
    assert user_errors(once) is once and once is not f
    assert app.pretty_exceptions_enable is False


# ---------------------------------------------------------------- the wrapper's mapping


def _raising_app(exc: BaseException) -> typer.Typer:
    a = typer.Typer()

    @a.command()
    @user_errors
    def boom() -> None:
        raise exc

    @a.command()
    def other() -> None: ...

    return a


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (SpecError("spec.field: bad\nsecond line"), "error: spec.field: bad; second line"),
        (SpecError("tech [rram] only"), "error: tech [rram] only"),  # brackets are not markup
        (SpecError("name 'a\x1b[2Jb'"), "error: name 'a\\x1b[2Jb'"),  # no terminal escapes
        (MemoryError(), "out of memory while running"),
        (RecursionError("maximum recursion depth exceeded"), "recursion too deep"),
        (OSError(errno.ENOSPC, "No space left on device", "out/designs.csv"), "disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/x/y.csv"), "/x/y.csv: permission"),
        (sqlite3.DatabaseError("file is not a database"), "run store (SQLite)"),
        (OverflowError("int too large to convert to float"), "number out of range"),
        (ValueError("could not convert string to float: 'x'"), "bad value"),
        (SystemExit(0), "exited (SystemExit 0)"),
    ],
)
def test_user_and_machine_errors_are_one_line_exit_2(exc: BaseException, expected: str) -> None:
    res = runner.invoke(_raising_app(exc), ["boom"])
    assert expected in _error_line(res)


def test_undecodable_text_is_one_line_exit_2() -> None:
    try:
        b"ok \xff\xfe".decode("utf-8")
    except UnicodeDecodeError as exc:
        err = exc
    res = runner.invoke(_raising_app(err), ["boom"])
    assert "not UTF-8 text" in _error_line(res) and "byte 3" in res.stderr


def test_long_messages_are_bounded_keeping_the_fix_at_the_end() -> None:
    exc = SpecError("field.x: " + "y" * 100_000 + " give a number")
    line = _error_line(runner.invoke(_raising_app(exc), ["boom"]))
    assert len(line) == cli_errors.MAX_MESSAGE_CHARS + len("error: ")
    assert line.startswith("error: field.x: yyy") and line.endswith("yyy give a number")
    assert "chars cut]" in line


def test_internal_error_is_exit_1_with_a_hint_and_debug_env_shows_it() -> None:
    a = _raising_app(KeyError("oops"))
    res = runner.invoke(a, ["boom"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().startswith("internal error: KeyError: 'oops'")
    assert "CIMKIT_DEBUG=1" in res.stderr and "please report" in res.stderr
    res = runner.invoke(a, ["boom"], env={"CIMKIT_DEBUG": "1"})
    assert isinstance(res.exception, KeyError)  # propagates: the traceback is printed


def test_typer_exit_codes_pass_through() -> None:
    res = runner.invoke(_raising_app(typer.Exit(code=1)), ["boom"])
    assert res.exit_code == 1 and res.stderr == ""


def test_typer_usage_errors_name_the_option_without_traceback() -> None:
    # click's own parse errors: a usage line and the message in a box naming the option.
    for args, flag in (
        (["search", "--pop", "abc"], "'--pop'"),
        (["schedule", "--area-mm2", "abc"], "'--area-mm2'"),
        (["histograms", "--images", "1.5"], "'--images'"),
    ):
        res = _run(*args)
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert f"Invalid value for {flag}" in res.output


# ---------------------------------------------------------------- output folders


def test_prepare_out_dir_creates_parents_and_refuses_files(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    assert prepare_out_dir(deep) == deep and deep.is_dir()
    assert list(deep.iterdir()) == []  # the write probe leaves nothing behind
    (tmp_path / "f").write_text("")
    with pytest.raises(SpecError, match=r"^--out .*f: is a file, not a directory"):
        prepare_out_dir(tmp_path / "f")
    with pytest.raises(SpecError, match=r"^--report .*sub: cannot create .*f is a file"):
        prepare_out_dir(tmp_path / "f" / "sub", "--report")
    with pytest.raises(SpecError, match=r"^--out .*b: is a directory; give a file name"):
        prepare_out_file(deep.parent, "--out")
    with pytest.raises(SpecError, match=r"ending in \.npz"):
        prepare_out_file(tmp_path / "h.txt", "--out", (".npz",))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_prepare_out_dir_refuses_a_read_only_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(SpecError, match="cannot write there .*permission denied"):
            prepare_out_dir(ro)
        with pytest.raises(SpecError, match="cannot create the directory"):
            prepare_out_dir(ro / "sub")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only file system"),
        (errno.ENOSPC, "the disk is full"),
    ],
)
def test_prepare_out_dir_reports_why_a_folder_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, expected: str
) -> None:
    # root ignores permission bits, so the failing write is simulated at the probe itself.
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(err, os.strerror(err), str(tmp_path / "probe"))

    monkeypatch.setattr(cli_errors.tempfile, "mkstemp", refuse)
    with pytest.raises(SpecError, match=f"^--out .*: cannot write there .*{expected}"):
        prepare_out_dir(tmp_path)


#: Every writing command, with arguments that reach the --out check (cheap: it comes first).
WRITERS = {
    "evaluate": ["evaluate", "--hw", CHIP, "--network", "vgg8", "--out"],
    "import": ["import", "--onnx", "missing.onnx", "--out"],
    "validate": ["validate", "--out"],
    "schedule": ["schedule", "--network", "mlp", "--area", "2", "--out"],
    "generate": ["generate", "--network", "mlp", "--area", "2", "--out"],
    "pimhls-report": ["pimhls-report", "--network", "mlp", "--area", "2", "--out"],
    "histograms": ["histograms", "--genome", "{}", "--out"],
    "train supernet": ["train", "supernet", "--out"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_out_that_is_a_file_or_under_a_file_is_one_line(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / ("taken.npz" if command == "histograms" else "taken.csv")
    blocker.write_text("precious")
    # A folder command gets the file itself; a file command a file "inside" it.
    is_file_cmd = command in ("validate", "histograms")
    target = blocker / f"x{blocker.suffix}" if is_file_cmd else blocker
    line = _error_line(_run(*WRITERS[command], target))
    assert "--out" in line and "taken" in line and "is a file" in line
    if not is_file_cmd:  # also a file in the middle of the path
        line = _error_line(_run(*WRITERS[command], blocker / "sub" / "dir"))
        assert "taken.csv is a file" in line
    assert blocker.read_text() == "precious"


def test_report_folder_that_is_a_file_is_refused_before_writing(tmp_path: Path) -> None:
    from cimkit.report.summary import write_report

    (tmp_path / "r").write_text("")
    with pytest.raises(SpecError, match="report folder .*r: is a file"):
        write_report(tmp_path / "r", None, [], {}, title="t", command="c")


def test_train_predictor_run_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("")
    assert "--run" in _error_line(_run("train", "predictor", "--run", tmp_path / "run"))


@pytest.mark.parametrize("command", ["evaluate", "schedule", "generate", "pimhls-report"])
def test_missing_parents_of_out_are_created(tmp_path: Path, command: str) -> None:
    out = tmp_path / "new" / "deeper" / "out"
    res = _run(*WRITERS[command], out)
    assert res.exit_code == 0, res.output
    assert out.is_dir() and any(out.iterdir())


def test_validate_creates_the_folder_of_its_csv(tmp_path: Path) -> None:
    res = _run("validate", "--out", tmp_path / "new" / "v.csv")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "new" / "v.csv").is_file()


def test_a_full_disk_while_writing_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    def full(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    line = _error_line(_run(*WRITERS["evaluate"], tmp_path / "o"))
    assert "designs.csv: the disk is full" in line


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "10001"])
@pytest.mark.parametrize("command", ["schedule", "generate"])
def test_area_must_be_finite_positive_and_bounded(tmp_path: Path, command: str, value: str) -> None:
    res = _run(command, "--network", "mlp", "--area", value, "--out", tmp_path / "o")
    line = _error_line(res)
    assert line.startswith("error: --area ") and "(0, 10,000] mm^2" in line and "reticle" in line
    assert not (tmp_path / "o" / "schedule.csv").exists()


def test_area_at_the_bound_is_accepted() -> None:
    assert check_number(10_000.0, "--area-mm2", 0.0, 10_000.0, low_open=True) == 10_000.0
    with pytest.raises(SpecError, match=r"--x 0: give a finite number in \(0, 1\]"):
        check_number(0.0, "--x", 0.0, 1.0, low_open=True)
    with pytest.raises(SpecError, match=r"--n 10,000,000.*: give an integer in \[1, 5\]"):
        check_number(10**400, "--n", 1, 5)  # no OverflowError on a huge int


@pytest.mark.parametrize(
    ("areas", "expected"),
    [
        ("abc", "'abc' is not a number"),
        ("inf", "--area inf: give a finite number"),
        ("nan", "--area nan"),
        ("16,-2", "--area -2"),
        ("", "--area: empty"),
        ("16,,40", "empty item"),
    ],
)
def test_pimhls_report_areas(tmp_path: Path, areas: str, expected: str) -> None:
    res = _run("pimhls-report", "--out", tmp_path / "o", "--area", areas)
    assert expected in _error_line(res)


@pytest.mark.parametrize(("networks", "expected"), [(" , ", "empty"), ("vgg8,nope", "nope")])
def test_pimhls_report_networks(tmp_path: Path, networks: str, expected: str) -> None:
    res = _run("pimhls-report", "--out", tmp_path / "o", "--network", networks)
    line = _error_line(res)
    assert expected in line and "vgg8" in line  # the allowed names are listed


def test_pimhls_report_empty_network(tmp_path: Path) -> None:
    # The shared wrapper refuses an explicit '' before the command parses it.
    res = _run("pimhls-report", "--out", tmp_path / "o", "--network", "")
    assert "--network: empty value" in _error_line(res)


def test_parsers() -> None:
    assert parse_numbers(" 16, 40 ", "--a", 0, 100, low_open=True) == [16.0, 40.0]
    assert parse_names("VGG8, mlp,vgg8", "--n", ["vgg8", "mlp"]) == ["vgg8", "mlp"]


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_generate_seed_range(tmp_path: Path, seed: str) -> None:
    line = _error_line(_run("generate", "--network", "mlp", "--seed", seed, "--out", tmp_path))
    assert "--seed" in line and "4,294,967,295" in line


def test_net_arg_must_be_finite() -> None:
    res = _run("schedule", "--network", "mlp", "--net-arg", "hidden=inf")
    assert "'inf' is not a finite number" in _error_line(res)


def test_metrics_guard_refuses_nan_and_negative() -> None:
    _check_metrics({"energy_j": 1e-3, "latency_s": 0.0}, "ok")
    with pytest.raises(SpecError, match="energy_j=nan, area_mm2=-1"):
        _check_metrics({"energy_j": float("nan"), "latency_s": 1.0, "area_mm2": -1.0}, "chip")


# ---------------------------------------------------------------- files a command reads


def test_generate_weights_that_are_not_an_npz(tmp_path: Path) -> None:
    args = ["generate", "--network", "mlp", "--area", "2", "--out", tmp_path / "o"]
    rnd = tmp_path / "rnd.npz"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    assert "--weights" in _error_line(_run(*args, "--weights", rnd))
    one = tmp_path / "one.npy"
    np.save(one, np.zeros(3, dtype=np.int8))
    assert "not an .npz archive" in _error_line(_run(*args, "--weights", one))
    flt = tmp_path / "float.npz"
    np.savez(flt, fc1=np.zeros((2, 2), dtype=np.float32))
    assert "integer arrays" in _error_line(_run(*args, "--weights", flt))
    assert "file not found" in _error_line(_run(*args, "--weights", tmp_path / "none.npz"))
    extra = tmp_path / "extra.npz"
    np.savez(extra, **{"layers.0": np.zeros((128, 64), dtype=np.int8), "layer.2": np.zeros(2)})
    line = _error_line(_run(*args, "--weights", extra))
    assert "integer arrays" in line  # dtype first
    np.savez(extra, **{"layers.0": np.zeros((128, 64), dtype=np.int8), "layer.2": np.zeros(2, int)})
    line = _error_line(_run(*args, "--weights", extra))
    assert "'layer.2' is not a MAC layer of mlp; layers: layers.0, layers.2, layers.4" in line


@pytest.mark.parametrize(
    ("genome", "expected"),
    [
        ("5", "not a JSON object and no such file"),
        ("missing.json", "--genome 'missing.json': file not found"),
        ("[1]", "is a JSON int"),
        ("[]", "an empty list"),
        ("{nope", "not JSON"),
        ('{"depths": "abc", "kernels": 3, "expands": 3}', "genome: need depths"),
    ],
)
def test_predict_bad_genomes(genome: str, expected: str) -> None:
    assert expected in _error_line(_run("predict", "--genome", genome))


def test_predict_genome_file_that_is_binary(tmp_path: Path) -> None:
    g = tmp_path / "g.json"
    g.write_bytes(b"\xff\xfe\x00")
    assert "not a UTF-8 text file" in _error_line(_run("predict", "--genome", g))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--random", "-1"], "--random -1"),
        (["--random", "2", "--bits", "5"], "--bits 5: allowed: 4, 6, 8"),
        (["--random", "2", "--seed", "-3"], "--seed -3"),
    ],
)
def test_predict_numbers(args: list[str], expected: str) -> None:
    assert expected in _error_line(_run("predict", *args))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--genome", "g.json"], "--genome 'g.json': file not found"),
        (["--genome", "{}", "--images", "0"], "--images 0: give an integer in [1, 50,000]"),
        (["--genome", "{}", "--images", "50001"], "--images 50,001"),
        (["--genome", "{}", "--data", "imagenet"], "--data 'imagenet': unknown data set"),
        (["--genome", json.dumps([GENOME, GENOME])], "2 genomes; histograms measures one"),
    ],
)
def test_histograms_bad_arguments(tmp_path: Path, args: list[str], expected: str) -> None:
    res = _run("histograms", *args, "--out", tmp_path / "h.npz")
    assert expected in _error_line(res)
    assert not (tmp_path / "h.npz").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--width", "inf"], "--width inf"),
        (["--width", "0"], "--width 0"),
        (["--steps-fp", "-1"], "--steps-fp -1"),
        (["--steps-q", "10000000"], "--steps-q 10,000,000"),
        (["--data", "cifar"], "--data 'cifar'"),
        (["--seed", "-1"], "--seed -1"),
    ],
)
def test_train_supernet_numbers(tmp_path: Path, args: list[str], expected: str) -> None:
    res = _run("train", "supernet", *args, "--out", tmp_path / "run")
    assert expected in _error_line(res)
    assert not (tmp_path / "run").exists()  # refused before anything is created


def test_a_corrupt_run_store_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    store.write_bytes(b"not a database, just bytes " * 100)
    line = _error_line(_run("report", "r1", "--store", store, "--out", tmp_path / "o"))
    assert "runs.sqlite" in line or "database" in line


# ---------------------------------------------------------------- user code that fails


_MODULE_IDS = itertools.count()


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Write a module into a folder on sys.path; return its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(stem: str, body: str) -> str:
        # Unique per call: a name imported by an earlier test would come from sys.modules.
        name = f"cimkit_user_{stem}_{next(_MODULE_IDS)}_{os.getpid()}"
        (tmp_path / f"{name}.py").write_text(body)
        return name

    return make


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "def build():\n    raise SystemExit(0)\n",
            "exited (SystemExit 0) while building the model",
        ),
        ("def build():\n    raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
        ("import sys\nsys.exit(3)\n", "exited (SystemExit 3) while importing"),
        ("raise ValueError('bad config')\n", "raised ValueError: bad config"),
        ("def build():\n    raise ValueError('x' * 100000)\n", "ValueError: xxx"),
    ],
)
def test_torch_factory_that_exits_or_raises(
    user_module: Callable[[str, str], str], body: str, expected: str
) -> None:
    pytest.importorskip("torch")
    name = user_module("factory", body)
    res = _run("evaluate", "--hw", CHIP, "--torch", f"{name}:build")
    line = _error_line(res)
    assert expected in line and len(line) < 500
    if "while building" in expected:
        assert f"factory {name}:build exited (SystemExit 0) while building the model" in line


def test_torch_factory_sys_exit_in_import_command(user_module: Callable[[str, str], str]) -> None:
    pytest.importorskip("torch")
    name = user_module("factory", "import sys\n\ndef build():\n    sys.exit(0)\n")
    assert "SystemExit 0" in _error_line(_run("import", "--torch", f"{name}:build"))


def _callable_space(tmp_path: Path, target: str) -> Path:
    text = SPACE.read_text().replace(
        "base_chip: ../chips/rram_baseline.yaml",
        f"base_chip: {ROOT / 'examples/chips/rram_baseline.yaml'}",
    )
    head, _, _ = text.partition("accuracy:\n  source: predictor")
    p = tmp_path / "space.yaml"
    p.write_text(head + f"accuracy:\n  source: callable\n  callable: {target}\n")
    return p


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def acc(values):\n    raise ZeroDivisionError('division by zero')\n",
         "raised ZeroDivisionError: division by zero"),
        ("def acc(values):\n    raise SystemExit(0)\n", "exited (SystemExit 0)"),
        ("def acc(values):\n    return 'high'\n", "returned str"),
    ],
)  # fmt: skip
def test_failing_accuracy_callable_is_one_line(
    tmp_path: Path, user_module: Callable[[str, str], str], body: str, expected: str
) -> None:
    name = user_module("acc", body)
    space = _callable_space(tmp_path, f"{name}:acc")
    res = _run(
        "search", space, "--pop", "4", "--gen", "1", "--backend", "vectorized",
        "--store", tmp_path / "s.sqlite",
    )  # fmt: skip
    line = _error_line(res)
    assert f"accuracy.callable '{name}:acc'" in line and expected in line


def test_genome_json_file_is_read(tmp_path: Path) -> None:
    # The file route of --genome still works (a real file, not only inline JSON).
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"depths": [9] * 5, "kernels": 3, "expands": 3}))
    assert "depths" in _error_line(_run("predict", "--genome", g))


def test_import_route_is_checked_before_the_model_is_built() -> None:
    from cimkit.workload.torch_import import ROUTES

    line = _error_line(_run("import", "--torch", "no_such_module:build", "--route", "jit"))
    assert f"--route 'jit': allowed: {', '.join(ROUTES)}" in line


@pytest.mark.parametrize("flag", ["--weight-bits", "--act-bits"])
@pytest.mark.parametrize("value", ["0", "17"])
def test_bit_widths_have_a_range_and_a_reason(flag: str, value: str) -> None:
    line = _error_line(_run("evaluate", "--hw", CHIP, "--network", "vgg8", flag, value))
    assert f"{flag} {value}: give an integer in [1, 16]" in line and "16-bit" in line
    line = _error_line(_run("import", "--onnx", "missing.onnx", flag, value))
    assert f"{flag} {value}" in line


def test_factory_sys_exit_in_a_real_process_is_exit_2(tmp_path: Path) -> None:
    # The console entry point, not CliRunner: SystemExit(0) must not end the process "fine".
    import subprocess
    import sys

    pytest.importorskip("torch")
    (tmp_path / "quitter.py").write_text("import sys\n\ndef build():\n    sys.exit(0)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("CIMKIT_DEBUG", None)
    code = "from cimkit.cli import main; main()"
    argv = ["evaluate", "--hw", str(CHIP), "--torch", "quitter:build"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "error: factory quitter:build exited (SystemExit 0) while building the model"
    )


def test_histograms_images_beyond_the_split(tmp_path: Path) -> None:
    args = ["histograms", "--genome", json.dumps(GENOME), "--data", "synthetic"]
    line = _error_line(_run(*args, "--images", "300", "--out", tmp_path / "h.npz"))
    assert "--images 300: the synthetic validation split has 200 images" in line


@pytest.mark.slow
def test_histograms_creates_missing_parents_of_out(tmp_path: Path) -> None:
    args = ["histograms", "--genome", json.dumps(GENOME), "--data", "synthetic"]
    out = tmp_path / "new" / "deeper" / "h.npz"
    res = _run(*args, "--images", "8", "--out", out)
    assert res.exit_code == 0, res.output
    with np.load(out) as data:
        assert any(k.endswith("/inputs") for k in data.files)


# ------------------------------------------- empty values, markup in names, area of compare
@pytest.mark.parametrize(
    "args",
    [
        ["spec", ""],
        ["evaluate", "--hw", "", "--network", "mlp"],
        ["evaluate", "--hw", CHIP, "--network", "mlp", "--out", ""],
        ["space", ""],
    ],
    ids=["spec", "evaluate-hw", "evaluate-out", "space"],
)
def test_an_empty_path_is_refused_not_read_as_the_working_directory(args, tmp_path) -> None:
    # Path('') is Path('.'): `--out ''` wrote into the working directory and `spec ''` said
    # ".: file not found". Now click refuses it as a usage error naming the option (exit 2).
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    assert "empty path" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args, flag",
    [
        (["evaluate", "--hw", CHIP, "--torch", ""], "--torch"),
        (["search", "--resume", "", "--store", "STORE"], "--resume"),
    ],
)
def test_an_empty_text_value_is_an_error_not_unset(args, flag, tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, [str(store) if a == "STORE" else str(a) for a in args])
    assert _error_line(res) == f"error: {flag}: empty value; give a value or leave the option out"
    assert not store.exists()  # `search --resume ''` used to start a fresh search


def test_rich_markup_in_a_chip_name_prints_as_written(tmp_path) -> None:
    name = "[/x] [bold]design[/bold] [red"
    chip = tmp_path / "chip.yaml"
    text = CHIP.read_text()
    assert "\nname: rram-baseline-32nm\n" in text
    chip.write_text(text.replace("\nname: rram-baseline-32nm\n", f"\nname: '{name}'\n"))
    res = runner.invoke(app, ["evaluate", "--hw", str(chip), "--network", "mlp"])
    assert res.exit_code == 0, res.output  # was: internal error: MarkupError, exit 1
    assert "[/x]" in res.stdout and "[bold]design[/bold]" in res.stdout


def test_compare_area_nan_is_refused_before_sampling(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["compare", str(SPACE), "--area", "nan", "--store", str(store)])
    assert _error_line(res).startswith("error: --area nan: give a finite number in (0, 10,000]")
    assert not store.exists()
