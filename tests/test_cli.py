"""End-to-end CLI: evaluate from YAML for a built-in network, an ONNX file and a PyTorch factory."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cimkit.cli import app

CHIP = Path(__file__).resolve().parents[1] / "examples" / "chips" / "rram_baseline.yaml"
runner = CliRunner()


def _run(*args: str) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_evaluate_builtin_writes_tables(tmp_path: Path) -> None:
    res = _run("evaluate", "--hw", CHIP, "--network", "vgg8", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "TOPS/W" in res.output and "feasible" in res.output
    designs = pd.read_csv(tmp_path / "designs.csv")
    layers = pd.read_csv(tmp_path / "layers.csv")
    comps = pd.read_csv(tmp_path / "components.csv")
    assert len(designs) == 1 and bool(designs["feasible"][0])
    assert designs["energy_j"][0] == pytest.approx(layers["energy_j"].sum(), rel=1e-9)
    assert designs["energy_j"][0] == pytest.approx(comps["energy_j"].sum(), rel=1e-9)
    assert set(comps["component"]) >= {"readout", "cells", "glb", "leakage"}
    for stem in ("designs", "layers", "components", "workload"):
        parquet = pd.read_parquet(tmp_path / f"{stem}.parquet")
        # CSV cannot tell an empty string from a missing value; Parquet keeps the ''.
        parquet = parquet.replace("", np.nan)
        pd.testing.assert_frame_equal(
            parquet, pd.read_csv(tmp_path / f"{stem}.csv"), check_dtype=False
        )


@pytest.mark.slow
def test_three_importers_give_identical_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    from cimkit.workload import torch_models

    # A user's factory module: returns the model and a real-sized example input.
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "from cimkit.workload import torch_models\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch_models.vgg8(), torch.rand(1, 3, 32, 32)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    out = {k: tmp_path / k for k in ("builtin", "torch", "onnx")}
    assert (
        _run("evaluate", "--hw", CHIP, "--network", "vgg8", "--out", out["builtin"]).exit_code == 0
    )
    res = _run(
        "evaluate",
        "--hw",
        CHIP,
        "--torch",
        "my_models:build",
        "--out",
        out["torch"],
    )
    assert res.exit_code == 0, res.output
    model = torch_models.vgg8().eval()
    onnx_file = tmp_path / "vgg8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 32, 32), str(onnx_file), dynamo=False)
    res = _run("evaluate", "--hw", CHIP, "--onnx", onnx_file, "--out", out["onnx"])
    assert res.exit_code == 0, res.output
    tables = {k: pd.read_csv(v / "workload.csv") for k, v in out.items()}
    pd.testing.assert_frame_equal(tables["builtin"], tables["torch"])
    pd.testing.assert_frame_equal(tables["builtin"], tables["onnx"])
    # Histograms measured through the real model change the (data-dependent) energy.
    e = {k: pd.read_csv(v / "designs.csv")["energy_j"][0] for k, v in out.items()}
    assert e["builtin"] == pytest.approx(e["onnx"], rel=1e-12)
    assert e["torch"] != pytest.approx(e["builtin"], rel=1e-6)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("macro:\n  rowz: 3\n", "macro.rowz: unknown field"),
        ("macro:\n  rows: 3\n", "macro.rows"),
        ("technology:\n  node_nm: 33\n", "technology.node_nm"),
        ("macro: [\n", "malformed YAML"),
        ("", "empty"),
    ],
)
def test_bad_spec_is_one_line_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    res = _run("evaluate", "--hw", bad, "--network", "vgg8")
    assert res.exit_code == 2
    assert expected in res.output
    assert "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0 or res.output.count("error:") == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--network", "alexnet"], "alexnet"),
        (["--onnx", "missing.onnx"], "missing.onnx"),
        (["--torch", "no_such_module:build"], "no_such_module"),
        ([], "exactly one of"),
    ],
)
def test_bad_network_is_exit_2(args: list[str], expected: str) -> None:
    res = _run("evaluate", "--hw", CHIP, *args)
    assert res.exit_code == 2, res.output
    assert expected in res.output and "Traceback" not in res.output


def test_missing_hw_file_is_exit_2() -> None:
    res = _run("evaluate", "--hw", "nope.yaml", "--network", "vgg8")
    assert res.exit_code == 2 and "nope.yaml: file not found" in res.output


def test_infeasible_design_exits_1_with_reason(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("tile: {macros: 1}\nrouter: {tiles: 1}\nchip: {tile_groups: 1}\n")
    res = _run("evaluate", "--hw", small, "--network", "vgg8")
    assert res.exit_code == 1
    assert "crossbars, chip has 1" in res.output.replace("\n", " ")


def test_networks_and_validate_and_spec(tmp_path: Path) -> None:
    res = _run("networks")
    assert res.exit_code == 0 and "mobilenetv2" in res.output and "resnet50" in res.output
    res = _run("validate", "--out", tmp_path / "v.csv")
    assert res.exit_code == 0 and "sinangil" in res.output
    assert len(pd.read_csv(tmp_path / "v.csv")) > 0
    res = _run("spec")
    assert res.exit_code == 0 and "macro:" in res.output
    (tmp_path / "chip.yaml").write_text(res.output)
    assert _run("spec", tmp_path / "chip.yaml").exit_code == 0


def test_schedule_writes_tables_and_small_budget_is_exit_2(tmp_path: Path) -> None:
    res = _run("schedule", "--network", "vgg8", "--area", "40", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "schedule.csv")
    assert set(table["tech"]) <= {"sram", "rram"} and (table["copies"] >= 1).all()
    assert (tmp_path / "hardware.csv").is_file() and (tmp_path / "summary.json").is_file()
    res = _run("schedule", "--network", "vgg8", "--area", "1", "--tech", "rram")
    assert res.exit_code == 2
    assert "does not fit the rram area budget of 1 mm^2" in res.output.replace("\n", " ")


def test_generate_simulates_bit_exact(tmp_path: Path) -> None:
    res = _run("generate", "--network", "mlp", "--area", "2", "--out", tmp_path, "--simulate")
    assert res.exit_code == 0, res.output
    text = res.output.replace("\n", " ")
    assert "match numpy bit-exactly" in text
    assert (tmp_path / "tb_top.v").is_file() and (tmp_path / "program.hex").is_file()
    # VGG-8 (pools) generates since issue 12; a reduced one keeps the test fast
    res = _run("generate", "--network", "vgg8", "--net-arg", "width=0.125", "--net-arg",
               "resolution=16", "--area", "4", "--out", tmp_path / "v")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "POOL" in (tmp_path / "v" / "program.asm").read_text()
