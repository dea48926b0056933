"""CLI habits (issue 15 item 5): --version, -h, --json, --quiet, one flag name per concept with
the old names deprecated, progress with ETA (plain lines when piped), full-width tables when
piped, shell completion and `spec --explain` generated from the pydantic models."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import click
import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from cimkit import cli_output
from cimkit.cli import app, package_version
from cimkit.spec_explain import explain, unit_of

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "examples" / "chips" / "rram_baseline.yaml"
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
runner = CliRunner()


def _run(*args: object) -> typing.Any:
    return runner.invoke(app, [str(a) for a in args])


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, typing.Any]]:
    """(dotted path, FieldInfo) of every leaf field, walked independently of spec_explain."""
    out = []
    for name, info in model.model_fields.items():
        tp = info.annotation
        args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None:
            out += _leaves(sub, f"{prefix}{name}.")
        else:
            out.append((prefix + name, info))
    return out


def test_version_and_short_help() -> None:
    res = _run("--version")
    assert res.exit_code == 0 and res.stdout == f"cimkit {package_version()}\n"
    assert package_version()[0].isdigit()
    root = _run("-h")
    assert root.exit_code == 0 and "evaluate" in root.stdout and "--version" in root.stdout
    # -h on every command, including the nested `train` commands.
    cmd = typer.main.get_command(app)
    assert isinstance(cmd, click.Group)
    paths = [[n] for n in cmd.commands]
    paths += [["train", n] for n in typing.cast(click.Group, cmd.commands["train"]).commands]
    for path in paths:
        res = _run(*path, "-h")
        assert res.exit_code == 0 and "Usage:" in res.stdout, (path, res.output)


def test_shell_completion_is_offered() -> None:
    res = _run("--show-completion", "bash")
    assert res.exit_code == 0 and "_CIMKIT_COMPLETE" in res.stdout


def test_spec_explain_covers_every_leaf_field() -> None:
    from cimkit.specs import ChipSpec
    from cimkit.specs.chip import field_bounds

    res = _run("spec", "--explain", "--json")
    assert res.exit_code == 0, res.output
    rows = {r["path"]: r for r in json.loads(res.stdout)}
    leaves = _leaves(ChipSpec)
    assert len(leaves) > 30 and set(rows) == {p for p, _ in leaves}
    text = _run("spec", "--explain").stdout
    for path, info in leaves:
        row = rows[path]
        assert row["description"] == " ".join((info.description or "").split()) != "", path
        assert row["unit"] and row["range"], path
        head, _, leaf = path.rpartition(".")
        assert row["unit"] == unit_of(leaf, info.annotation)
        model = ChipSpec
        for part in head.split(".") if head else []:
            model = typing.cast(type[BaseModel], ChipSpec.model_fields[part].annotation)
        bounds = field_bounds(model, leaf) if row["type"].startswith(("int", "float")) else None
        if bounds is not None and leaf != "node_nm":  # finite bounds are printed as numbers
            assert f"{bounds.hi:,.0f}" in row["range"] or f"{bounds.hi:g}" in row["range"], row
        assert f"  {path}  (" in text and row["range"] in text, path
    assert rows["technology.voltage_v"]["unit"] == "V"
    assert rows["technology.voltage_v"]["range"] == "[0.4, 2]"
    assert rows["macro.rows"]["range"] == "integer in [8, 4,096]"
    assert rows["device.read_energy_fj"]["range"].endswith("or null")
    assert rows["device.kind"]["range"] == "one of rram, sram, mram"
    assert "1024 bytes" in rows["tile.buffer_kb"]["unit"]
    assert len(explain()) == len(leaves)


def test_spec_help_lists_the_fields_and_explain_refuses_a_file() -> None:
    res = _run("spec", "--help")
    assert res.exit_code == 0
    for field in ("voltage_v", "bits_per_cell", "glb_kb", "bandwidth_gb_s", "--explain"):
        assert field in res.stdout, field
    bad = _run("spec", CHIP, "--explain")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --explain")


def test_json_outputs_are_one_document_with_finite_numbers(tmp_path: Path) -> None:
    ev = _run("evaluate", "--hw", CHIP, "--network", "mlp", "--json", "--out", tmp_path)
    assert ev.exit_code == 0, ev.output
    doc = json.loads(ev.stdout)  # the whole of stdout: no table, no 'wrote ...' line
    assert doc["feasible"] is True and doc["network"] == "mlp"
    assert doc["metrics"]["energy_j"] > 0 and doc["metrics"]["area_mm2"] > 0
    assert "wrote" in ev.stderr and (tmp_path / "designs.csv").is_file()
    nets = json.loads(_run("networks", "--json").stdout)
    assert {"mlp", "vgg8"} <= {n["name"] for n in nets} and all(n["macs"] > 0 for n in nets)
    spec = json.loads(_run("spec", "--json").stdout)
    assert spec["macro"]["rows"] == 256
    valid = json.loads(_run("spec", CHIP, "--json").stdout)
    assert valid["valid"] is True and valid["macros"] > 0
    sched = json.loads(_run("schedule", "--network", "mlp", "--area", "2", "--json").stdout)
    assert sched["summary"]["latency_s"] > 0 and len(sched["pieces"]) >= 1
    space = json.loads(_run("space", SPACE, "--json").stdout)
    assert space["subspaces"] and "baseline1" in space


def test_search_json_and_quiet(tmp_path: Path) -> None:
    base = ["search", SPACE, "--pop", "4", "--gen", "2", "--backend", "vectorized"]
    res = _run(*base, "--store", tmp_path / "a.sqlite", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["designs"] > 0 and doc["best_score"] > 0 and doc["report"] is None
    assert res.stderr == ""  # no progress with --json: stderr stays clean for tools
    q = _run(*base, "--store", tmp_path / "b.sqlite", "--quiet")
    assert q.exit_code == 0 and q.stderr == "" and "designs, best" in q.stdout


def test_plain_progress_has_elapsed_and_eta_when_piped(tmp_path: Path) -> None:
    # CliRunner's stderr is not a terminal: the progress is plain lines, one per update here.
    old = cli_output.PLAIN_INTERVAL_S
    cli_output.PLAIN_INTERVAL_S = 0.0
    try:
        res = _run(*["search", SPACE, "--pop", "4", "--gen", "3", "--backend", "vectorized"],
                   "--store", tmp_path / "s.sqlite")  # fmt: skip
    finally:
        cli_output.PLAIN_INTERVAL_S = old
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("search: ")]
    assert len(lines) == 4, res.stderr  # generations 0..3
    assert all("elapsed 0:" in ln for ln in lines)
    assert "ETA" in lines[1] and lines[-1].endswith(", done") and "3/3" in lines[-1]
    assert "\x1b[" not in res.stderr  # no terminal control codes in a log


def test_plain_progress_eta_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    p = cli_output.PlainProgress(buf, interval_s=0.0)
    # A fixed clock: 2 of 10 steps took 10 s, so 8 more take 40 s (no race with a slow machine).
    monkeypatch.setattr(cli_output.time, "monotonic", lambda: 1000.0)
    p._tasks["t"] = {"start": 990.0, "done0": 0, "last": -1.0}
    p.update("t", 2, 10, "x")
    assert buf.getvalue().startswith("t: 2/10, x, elapsed 0:00:10, ETA 0:00:40")
    assert cli_output.fmt_seconds(3725) == "1:02:05" and cli_output.fmt_seconds(-1) == "-:--:--"


def test_deprecated_flags_still_work_with_a_note(tmp_path: Path) -> None:
    res = _run("schedule", "--network", "mlp", "--area-mm2", "2", "--quiet")
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("# deprecated: `cimkit schedule --area-mm2` is now --area")
    new = _run("schedule", "--network", "mlp", "--area", "2", "--quiet")
    assert new.exit_code == 0 and new.stderr == "" and new.stdout == res.stdout
    bad = _run("schedule", "--network", "mlp", "--area-mm2", "0")
    assert bad.exit_code == 2 and bad.stderr.splitlines()[-1].startswith("error: --area-mm2 0")
    bad_new = _run("schedule", "--network", "mlp", "--area", "0")
    assert bad_new.stderr.startswith("error: --area 0")
    rep = _run("pimhls-report", "--out", tmp_path / "o", "--networks", "mlp", "--areas", "x")
    assert rep.exit_code == 2 and "--networks` is now --network" in rep.stderr
    assert rep.stderr.splitlines()[-1].startswith("error: --areas: 'x' is not a number")
    s = _run("search", SPACE, "--pop", "4", "--gen", "1", "--backend", "vectorized",
             "--store", tmp_path / "s.sqlite", "--report", tmp_path / "rep", "--quiet")  # fmt: skip
    assert s.exit_code == 0, s.output
    assert "--report` is now --out" in s.stderr and (tmp_path / "rep" / "report.md").is_file()


def test_piped_tables_are_not_cut() -> None:
    # A real pipe, in a fresh process without COLUMNS (pytest-xdist workers set COLUMNS=80, which
    # the console rightly honours): a wide table keeps every column whole.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    res = subprocess.run(
        [sys.executable, "-m", "cimkit.cli", "networks"],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "…" not in res.stdout
    widest = max(len(line) for line in res.stdout.splitlines())
    assert widest > 100  # the description column is not squeezed to 80 columns


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cimkit.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = ('pandas', 'torch', 'pymoo', 'scipy', 'matplotlib', 'pydantic', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "value, text", [(float("nan"), None), (3, 3), ((1.5, "a"), [1.5, "a"]), (Path("x"), "x")]
)
def test_jsonable(value: object, text: object) -> None:
    assert cli_output._jsonable(value) == text


def test_narrow_tables_fold_text_but_keep_every_number_whole() -> None:
    """On a 60-column terminal a table of seven numeric columns (the shape of `runs show`)
    folds its headers, and each value stays whole on one line: a folded '1.234e-05' would read
    as '1.234e' and '-05', a cut '17' as '1', a cropped last column would be missing."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    from cimkit.cli_output import print_table, set_mode

    set_mode(False, False)  # a CLI test before may have left --json on in this process
    row = ["17", "0.03133", "81.1", "1.234e-05", "-3.5e+12", "142.7", "2.541"]
    t = Table()
    for h in ("design", "score (mJ*ms*mm^2/%)", "top-1 accuracy (%)", "energy (J)", "delay"):
        t.add_column(h, justify="right")
    t.add_column("area (mm^2)", justify="right")
    t.add_column("EDAP (mJ*ms*mm^2)", justify="right")
    t.add_row(*row)
    buf = StringIO()
    print_table(t, Console(file=buf, width=60, markup=False))
    cells = [c.strip() for line in buf.getvalue().splitlines() for c in line.split("\u2502")]
    for v in row:  # every value whole, none cut off at the right edge
        assert v in cells, (v, buf.getvalue())
