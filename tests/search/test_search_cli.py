"""The search commands through typer, and a real SIGINT to a running search subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_helpers import SPACE, constant_space_yaml
from typer.testing import CliRunner

runner = CliRunner()


def test_space_command_prints_sizes(app) -> None:
    res = runner.invoke(app, ["space", str(SPACE)])
    assert res.exit_code == 0, res.output
    assert "6.42e66" in res.output and "9.91e85" in res.output


def test_bad_spec_is_one_line_exit_2(app, tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(SPACE.read_text().replace("bits: [4, 6, 8]", "bitz: [4, 6, 8]"))
    res = runner.invoke(app, ["space", str(p)])
    assert res.exit_code == 2
    assert "quantization.bitz" in res.output


def test_search_then_report(app, tmp_path: Path) -> None:
    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "runs.sqlite"
    res = runner.invoke(
        app, ["search", str(sp), "--name", "r1", "--pop", "16", "--gen", "3", "--store", str(store)]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", "r1", "--store", str(store), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    for f in ("report.md", "report.html", "designs.csv", "designs.parquet", "pareto.png"):
        assert (tmp_path / "o" / f).is_file()
    assert "Baseline 1" in (tmp_path / "o" / "report.md").read_text()


def test_unmeetable_area_is_a_clear_message(app, tmp_path: Path) -> None:
    sp = constant_space_yaml(tmp_path, area=0.5)
    res = runner.invoke(
        app, ["search", str(sp), "--pop", "8", "--gen", "1", "--store", str(tmp_path / "s.sqlite")]
    )
    assert res.exit_code == 2
    assert "area_constraint_mm2" in res.output and "no feasible design" in res.output


@pytest.mark.slow
def test_sigint_mid_run_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "s.sqlite"
    base = [
        sys.executable,
        "-m",
        "cimkit.search",
        "search",
        str(sp),
        "--pop",
        "60",
        "--gen",
        "40",
        "--store",
        str(store),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run([*base, "--name", "full"], check=True, capture_output=True, env=env)
    proc = subprocess.Popen(
        [*base, "--name", "cut"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    gen = -1
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(store) as c:
                row = c.execute("SELECT gen FROM runs WHERE name='cut'").fetchone()
            gen = row[0] if row else -1
        except sqlite3.OperationalError:
            continue
        if gen >= 3:
            proc.send_signal(signal.SIGINT)
            break
    out = proc.communicate(timeout=60)[0].decode()
    assert 3 <= gen < 40, out
    assert proc.returncode == 130, out
    res = subprocess.run(
        [*base[:3], "search", "--resume", "cut", "--store", str(store)],
        capture_output=True,
        env=env,
    )
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    with sqlite3.connect(store) as c:
        rows = {
            n: c.execute("SELECT idx, x, m FROM designs WHERE run=? ORDER BY idx", (n,)).fetchall()
            for n in ("full", "cut")
        }
    assert rows["full"] == rows["cut"] and len(rows["full"]) > 60
