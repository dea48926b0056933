"""cimkit export / runs list|show|delete / --genome (issue 15 item 2).

Acceptance: an exported design re-evaluates to the metrics the search stored, from the files
alone (chip.yaml + genome.json), through the API and through `cimkit evaluate --genome`; the
ONNX of the subnet re-imports to the same layer table.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from search_helpers import constant_space_yaml
from typer.testing import CliRunner

from cimkit.search.objectives import COL

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    from cimkit.cli import app

    return app


@pytest.fixture(scope="module")
def stored(tmp_path_factory, app) -> dict:
    """A store with one small GA run over a constant-accuracy copy of the CIMNAS space."""
    d = tmp_path_factory.mktemp("export")
    space = constant_space_yaml(d)
    store = d / "runs.sqlite"
    res = runner.invoke(
        app,
        ["search", str(space), "--name", "r1", "--pop", "12", "--gen", "2", "--seed", "5",
         "--store", str(store)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    from cimkit.runs.design import run_space
    from cimkit.search.engine import load_result
    from cimkit.search.store import RunStore

    st = RunStore(store, readonly=True)
    try:
        sp = run_space("r1", st.run_info("r1")["config"])
        result = load_result(st, "r1", sp)
    finally:
        st.close()
    return {"dir": d, "store": store, "result": result}


def _export(app, stored, out: Path, *extra: str) -> Path:
    args = ["export", "r1", "--out", str(out), "--store", str(stored["store"]), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def test_export_round_trip_reevaluates_to_the_stored_metrics(app, stored, tmp_path) -> None:
    from cimkit.cost import evaluate
    from cimkit.runs.genome import genome_workload, read_genome
    from cimkit.specs import load_chip

    result = stored["result"]
    # Not the best design: any archived design must come back, not one that happens to be first.
    n = int(result.top(3)[-1])
    out = _export(app, stored, tmp_path / "d", "--design", str(n))
    for f in ("chip.yaml", "genome.json", "layers.csv", "network.onnx", "summary.md"):
        assert (out / f).is_file(), f
    chip = load_chip(out / "chip.yaml")
    wl = genome_workload(read_genome(str(out / "genome.json")))
    ev = evaluate(chip, wl)
    m = result.archive.M[n]
    np.testing.assert_allclose(ev.metrics["energy_j"][0] * 1e3, m[COL["energy_mj"]], rtol=1e-9)
    np.testing.assert_allclose(ev.metrics["latency_s"][0] * 1e6, m[COL["delay_us"]], rtol=1e-9)
    np.testing.assert_allclose(ev.metrics["area_mm2"][0], m[COL["area_mm2"]], rtol=1e-9)
    # The per-layer bits of the genome are in the table (not the uniform 8 of a plain network).
    layers = pd.read_csv(out / "layers.csv")
    assert sorted(layers["weight_bits"].unique()) != [8]
    g = json.loads((out / "genome.json").read_text())
    assert g["source"] == {"run": "r1", "design": n, "space": "space.yaml"}
    summary = (out / "summary.md").read_text()
    assert f"# Design {n} of run r1" in summary
    assert str(stored["dir"]) not in summary  # file names only


def test_evaluate_with_the_exported_genome_gives_the_stored_energy(app, stored, tmp_path) -> None:
    result = stored["result"]
    b = result.best()
    out = _export(app, stored, tmp_path / "d", "--no-onnx")
    assert not (out / "network.onnx").exists()
    assert "no network.onnx" in (out / "summary.md").read_text()
    ev_out = tmp_path / "ev"
    res = runner.invoke(
        app,
        ["evaluate", "--hw", str(out / "chip.yaml"), "--genome", str(out / "genome.json"),
         "--out", str(ev_out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    designs = pd.read_csv(ev_out / "designs.csv")
    np.testing.assert_allclose(
        designs["energy_j"][0] * 1e3, result.archive.M[b, COL["energy_mj"]], rtol=1e-9
    )
    # evaluate --out also charts the design (item 4): per layer and per component.
    for f in ("layers.png", "components.png"):
        assert (ev_out / f).stat().st_size > 1000, f


def test_exported_onnx_reimports_to_the_same_layer_table(app, stored, tmp_path) -> None:
    from cimkit.workload.onnx_import import from_onnx

    out = _export(app, stored, tmp_path / "d")
    table = pd.read_csv(out / "layers.csv")
    back = from_onnx(out / "network.onnx").to_frame()
    cols = ["name", "op", "in_channels", "out_channels", "kernel_h", "stride", "groups",
            "in_h", "out_h", "macs", "weights"]  # fmt: skip
    assert len(back) == len(table)
    pd.testing.assert_frame_equal(back[cols].reset_index(drop=True), table[cols], check_dtype=False)


def test_predict_reads_the_exported_genome(app, stored, tmp_path) -> None:
    out = _export(app, stored, tmp_path / "d", "--no-onnx")
    res = runner.invoke(app, ["predict", "--genome", str(out / "genome.json")])
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    g = json.loads((out / "genome.json").read_text())
    assert line["depths"] == g["depths"] and line["bits"] == g["bits"]
    assert 0 < line["accuracy"] < 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--design", "99999"], "--design 99999: run 'r1' has designs 0.."),
        (["--design", "-1"], "--design"),
    ],
)
def test_export_bad_design_is_one_line(app, stored, tmp_path, args, needle) -> None:
    res = runner.invoke(
        app, ["export", "r1", "--out", str(tmp_path / "x"), "--store", str(stored["store"]), *args]
    )
    assert res.exit_code == 2
    assert needle in res.output and "Traceback" not in res.output


def test_evaluate_genome_that_is_not_an_export_is_one_line(app, stored, tmp_path) -> None:
    p = tmp_path / "g.json"
    p.write_text('{"depths": [2, 2, 2, 2, 2]}')
    chip = _export(app, stored, tmp_path / "d", "--no-onnx") / "chip.yaml"
    res = runner.invoke(app, ["evaluate", "--hw", str(chip), "--genome", str(p)])
    assert res.exit_code == 2
    assert "not a cimkit genome file" in res.output
    res = runner.invoke(
        app, ["evaluate", "--hw", str(chip), "--genome", str(p), "--network", "vgg8"]
    )
    assert res.exit_code == 2 and "exactly one of" in res.output


def test_runs_list_and_show(app, stored) -> None:
    res = runner.invoke(app, ["runs", "list", "--store", str(stored["store"])])
    assert res.exit_code == 0, res.output
    assert "r1" in res.output and "done" in res.output
    res = runner.invoke(app, ["runs", "show", "r1", "--store", str(stored["store"])])
    assert res.exit_code == 0, res.output
    best = stored["result"].best()
    assert f"cimkit export r1 --design {best}" in " ".join(res.output.split())


def test_runs_delete_needs_yes_and_refuses_a_live_writer(app, stored, tmp_path) -> None:
    import shutil

    store = tmp_path / "copy.sqlite"
    shutil.copy(stored["store"], store)
    res = runner.invoke(app, ["runs", "delete", "r1", "--store", str(store)])
    assert res.exit_code == 2 and "add --yes" in res.output
    # A live process (our parent, on this host) is writing r1: delete must refuse.
    con = sqlite3.connect(store)
    con.execute(
        "INSERT OR REPLACE INTO writers VALUES (?, ?, ?, ?, ?)",
        ("r1", "tok", os.getppid(), socket.gethostname(), time.time()),
    )
    con.commit()
    con.close()
    res = runner.invoke(app, ["runs", "delete", "r1", "--yes", "--store", str(store)])
    assert res.exit_code == 2 and "being written by a live process" in res.output
    con = sqlite3.connect(store)
    assert con.execute("SELECT COUNT(*) FROM designs WHERE run = 'r1'").fetchone()[0] > 0
    con.execute("DELETE FROM writers")
    con.commit()
    con.close()
    res = runner.invoke(app, ["runs", "delete", "r1", "--yes", "--store", str(store)])
    assert res.exit_code == 0, res.output
    con = sqlite3.connect(store)
    left = [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "designs")]
    con.close()
    assert left == [0, 0]
    res = runner.invoke(app, ["runs", "show", "r1", "--store", str(store)])
    assert res.exit_code == 2 and "no run 'r1'" in res.output
