"""System model end to end: vectorized = one design at a time, spec errors, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cimkit.cli import app
from cimkit.hetero.model import SystemDesigns, evaluate_system
from cimkit.hetero.plan import build_plan
from cimkit.workload.builtin import get_network

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ROOT / "examples" / "systems" / "u55_8mram.yaml"
runner = CliRunner()


def _random_designs(n: int, seed: int = 0) -> SystemDesigns:
    rng = np.random.default_rng(seed)
    return SystemDesigns(
        npu_macs=rng.choice([64, 128, 256], n),
        npu_mode=rng.integers(0, 2, n),
        macros=rng.choice([0, 1, 2, 4, 8], n).astype(float),
        compute_units=rng.integers(1, 5, n).astype(float),
        op_period_s=rng.uniform(3e-9, 10e-9, n),
        dedup=rng.random(n) < 0.5,
        noc_bw_bytes_s=rng.uniform(4e9, 8e9, n),
        noc_warmup_s=rng.uniform(0, 100e-9, n),
    )


def test_vectorized_equals_one_design_at_a_time() -> None:
    plan = build_plan(get_network("h4h_hybrid_min"))
    d = _random_designs(40)
    together = evaluate_system(plan, d, chunk=16)
    for i in range(0, 40, 7):
        alone = evaluate_system(plan, d.take(np.array([i])))
        assert alone.latency_s[0] == pytest.approx(together.latency_s[i], rel=1e-12)
        assert alone.energy_j[0] == pytest.approx(together.energy_j[i], rel=1e-12)
        np.testing.assert_array_equal(alone.split[0], together.split[i])


def test_totals_are_sums_of_layers_and_parts() -> None:
    plan = build_plan(get_network("mobilenetv2"))
    ev = evaluate_system(plan, _random_designs(12))
    np.testing.assert_allclose(ev.latency_s, ev.layer_time_s.sum(axis=1))
    parts = sum(ev.parts_energy.values())
    np.testing.assert_allclose(ev.layer_energy_j, parts, rtol=1e-12)
    # a layer takes at least as long as each engine's share of it
    assert (ev.layer_time_s >= ev.parts_time["npu"] - 1e-18).all()
    assert (ev.layer_time_s >= ev.parts_time["cim"] - 1e-18).all()


def test_cli_evaluate_system_prints_split_and_writes_tables(tmp_path: Path) -> None:
    res = runner.invoke(app, ["evaluate", "--hw", str(SYSTEM), "--network", "h4h_hybrid_min",
                              "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "per engine" in res.output and "CIM share" in res.output
    layers = pd.read_csv(tmp_path / "layers.csv")
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(layers) == len(get_network("h4h_hybrid_min"))
    assert summary["latency_s"][0] == pytest.approx(layers["latency_s"].sum())
    assert (tmp_path / "layers.png").stat().st_size > 0


def test_cli_evaluate_system_json() -> None:
    res = runner.invoke(app, ["evaluate", "--hw", str(SYSTEM), "--network", "mobilenetv2",
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["network"] == "mobilenetv2" and data["layers"] == len(data["split"])
    m = data["metrics"]
    assert m["latency_s"] > 0 and m["energy_j"] > 0
    assert m["cim_words_used"] <= m["cim_words_capacity"]
    assert set(data["engines"]) == {"npu", "cim", "noc", "static"}


def test_cli_bad_system_field_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SYSTEM.read_text().replace("compute_units: 1", "compute_units: 5"))
    res = runner.invoke(app, ["evaluate", "--hw", str(bad), "--network", "mobilenetv2"])
    assert res.exit_code == 2
    assert "compute_units" in res.output and "Traceback" not in res.output
    typo = tmp_path / "typo.yaml"
    typo.write_text(SYSTEM.read_text().replace("macros: 8", "macro: 8"))
    res = runner.invoke(app, ["evaluate", "--hw", str(typo), "--network", "mobilenetv2"])
    assert res.exit_code == 2 and "macro" in res.output
