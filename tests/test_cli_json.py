"""``--json`` and ``--quiet`` on every command that prints a result (issue 15 item 5).

Each JSON document is the whole of stdout (``json.loads(stdout)`` parses it), carries SI units
and the column names of :mod:`cimkit.columns`, and holds the same values as the files the
command writes (compared here file by file). Human text goes to stderr in ``--json`` mode.
"""

from __future__ import annotations

import json
import math
import shutil
import typing
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from hardening.flags import commands  # the command-tree walk the flag fuzzer uses
from typer.testing import CliRunner

from cimkit.cli import app

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
runner = CliRunner()

#: Commands without --json, with the reason: ``dashboard`` serves a web app until interrupted
#: (no result to print), ``train supernet`` is the long training pipeline whose results are the
#: files of its run folder (docs/accuracy.md).
NO_JSON = {"dashboard", "train supernet"}


def _run(*args: object) -> typing.Any:
    return runner.invoke(app, [str(a) for a in args])


def _doc(*args: object) -> typing.Any:
    res = _run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # the whole of stdout: one document, nothing around it


def _records(frame: pd.DataFrame) -> list[dict[str, typing.Any]]:
    """CSV rows as JSON would hold them (NaN -> None, numpy scalars -> Python numbers)."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{k: v.item() if hasattr(v, "item") else v for k, v in r.items()} for r in rows]


def _close(a: typing.Any, b: typing.Any) -> bool:
    """Equal, floats to 1e-12 relative (CSV round trips the last digit), None == NaN/''."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def test_every_command_that_prints_a_result_has_json_and_quiet() -> None:
    leaves = dict(commands())  # every leaf command, as the flag fuzzer walks them
    assert NO_JSON <= set(leaves), "a command of NO_JSON is gone: update the list"
    missing = []
    for name, cmd in leaves.items():
        opts = {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
        if name not in NO_JSON and not {"--json", "--quiet"} <= opts:
            missing.append(name)
    assert not missing, f"commands without --json/--quiet: {missing}"
    assert len(leaves) - len(NO_JSON) >= 19


# --------------------------------------------------------------------------- import
def _tiny_onnx(path: Path) -> None:
    """Two Gemm layers (16 -> 8 -> 4) written with onnx.helper (no torch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1),
        helper.make_node("Gemm", ["h", "w2"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w1, w2],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_import_json_is_the_layer_table_written(tmp_path: Path) -> None:
    model = tmp_path / "tiny.onnx"
    _tiny_onnx(model)
    res = _run("import", "--onnx", model, "--out", tmp_path / "o", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert "wrote layers.csv" in res.stderr  # the note goes to stderr
    table = pd.read_csv(tmp_path / "o" / "layers.csv", keep_default_na=False)
    assert _close(doc["layers"], _records(table))
    # Hand count: 16 x 8 + 8 x 4 MACs and weights.
    assert doc["macs"] == doc["weights"] == 160 == int(table["macs"].sum())
    assert doc["rows"] == len(table) == 2 and doc["mac_rows"] == 2
    assert doc["route"] == "onnx" and doc["export_error"] is None and doc["check"] is None
    assert doc["wall_s"] > 0 and doc["files"] == [
        str(tmp_path / "o" / "layers.csv"),
        str(tmp_path / "o" / "layers.parquet"),
    ]
    # --check without --torch is skipped, and says so in the document.
    skipped = _doc("import", "--onnx", model, "--check")
    assert skipped["check"]["passed"] is None and "--torch" in skipped["check"]["skipped"]
    quiet = _run("import", "--onnx", model, "--out", tmp_path / "q", "--quiet")
    assert quiet.exit_code == 0 and "wrote" not in quiet.output
    assert quiet.stdout.startswith("tiny: 2 rows, 2 MAC rows, 160 MACs")


def test_import_torch_json_reports_the_mac_check(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tinynet.py").write_text(
        "import torch\n"
        "def build():\n"
        "    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),\n"
        "                            torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))\n"
        "    return m, torch.zeros(1, 3, 8, 8)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    doc = _doc("import", "--torch", "tinynet:build", "--check")
    # Hand count: conv 4 x 3 x 3 x 3 weights at 6 x 6 outputs; linear 144 x 5.
    assert doc["macs"] == 4 * 27 * 36 + 144 * 5
    assert doc["check"] == {"passed": True, "macs_counted": doc["macs"], "scopes": 2}
    assert doc["batch"] == 1 and doc["route"] in ("torch.export", "torch.fx")


# --------------------------------------------------------------------------- PIM-HLS, codegen
def test_schedule_json_equals_its_files(tmp_path: Path) -> None:
    doc = _doc("schedule", "--network", "mlp", "--area", "2", "--out", tmp_path)
    table = pd.read_csv(tmp_path / "schedule.csv", keep_default_na=False)
    assert _close(doc["pieces"], _records(table))
    assert doc["summary"] == json.loads((tmp_path / "summary.json").read_text())
    assert doc["network"] == "mlp" and doc["files"][0] == str(tmp_path / "schedule.csv")
    assert doc["summary"]["latency_s"] < 1e-3  # seconds, not microseconds: an MLP is fast


def test_pimhls_report_json_equals_the_sweep_csv(tmp_path: Path) -> None:
    res = _run("pimhls-report", "--network", "mlp", "--area", "2", "--out", tmp_path, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    csv = pd.read_csv(tmp_path / "pimhls_sweep.csv", keep_default_na=False)
    assert _close(doc["rows"], _records(csv))
    assert len(doc["rows"]) == 9  # 3 families x 3 levels
    assert all(Path(f).is_file() for f in doc["files"])
    assert "optimizing" not in res.stdout  # progress is on stderr (or off)


def test_generate_json_names_the_files_it_wrote(tmp_path: Path) -> None:
    doc = _doc("generate", "--network", "mlp", "--area", "2", "--out", tmp_path)
    assert doc["rtl_files"] and all((tmp_path / f).is_file() for f in doc["rtl_files"])
    assert all(f.endswith(".v") for f in doc["rtl_files"])
    hex_lines = (tmp_path / "program.hex").read_text().split()
    assert doc["instructions"] == len(hex_lines)
    assert doc["estimate_cycles"] > 0 and doc["simulation"] is None and doc["network"] == "mlp"
    quiet = _run("generate", "--network", "mlp", "--area", "2", "--out", tmp_path, "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith(f"wrote {len(doc['rtl_files'])} Verilog files")


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_generate_simulate_json(tmp_path: Path) -> None:
    doc = _doc("generate", "--network", "mlp", "--area", "2", "--out", tmp_path, "--simulate")
    sim = doc["simulation"]
    assert sim["outputs_match"] is True and sim["cycles"] > 0
    assert sim["cycle_error"] == pytest.approx(sim["cycles"] / doc["estimate_cycles"] - 1)


# --------------------------------------------------------------------------- accuracy
def test_predict_json_is_one_document_in_percent() -> None:
    fp = {"depths": [2, 2, 2, 2, 2], "kernels": 3, "expands": 3, "bits": None}
    q = {"depths": [4, 4, 4, 4, 4], "kernels": 7, "expands": 6, "bits": 8}
    genomes = json.dumps([q, fp])  # quantized first: the document keeps the order given
    res = _run("predict", "--genome", genomes, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    lines = [json.loads(ln) for ln in _run("predict", "--genome", genomes).stdout.splitlines()]
    assert [d["predictor"] for d in doc] == ["q", "fp"]
    assert doc[0]["depths"] == [4] * 5 and doc[1]["bits"] is None
    by_depth = {tuple(ln["depths"]): ln["accuracy"] for ln in lines}  # the lines: fraction
    for d in doc:
        assert d["accuracy_pct"] == pytest.approx(100 * by_depth[tuple(d["depths"])], abs=1e-3)
        assert 50 < d["accuracy_pct"] < 100
    quiet = _run("predict", "--random", "2", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == "" and len(quiet.stdout.splitlines()) == 2


# --------------------------------------------------------------------------- runs, report, export
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one small GA run ``r1`` (P=4, G=2, the shipped predictor)."""
    d = tmp_path_factory.mktemp("json-store")
    path = d / "s.sqlite"
    res = _run(*["search", SPACE, "--name", "r1", "--pop", "4", "--gen", "2"],
               *["--backend", "vectorized", "--store", path, "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    return path


@pytest.fixture(scope="module")
def report(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, typing.Any]:
    out = tmp_path_factory.mktemp("json-report")
    # Predicted accuracy only and no Fig. 2 / Fig. 6: the rows then equal designs.csv (the
    # re-measured rows and their --json are tested in tests/search/test_remeasure.py).
    res = _run("report", "r1", "--store", store, "--out", out, "--json", "--remeasure", "0",
               "--no-figures")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "report:" in res.stderr  # the paths line is a note on stderr with --json
    return {"doc": json.loads(res.stdout), "out": out, "designs": pd.read_csv(out / "designs.csv")}


def test_report_json_names_its_files_and_table_rows(report: dict[str, typing.Any]) -> None:
    doc, out = report["doc"], report["out"]
    assert doc["run"] == "r1" and doc["kind"] == "search" and doc["out"] == str(out)
    assert {"md", "html", "csv", "parquet", "convergence"} <= set(doc["files"])
    assert all(Path(p).is_file() for p in doc["files"].values())
    designs = report["designs"]
    best = designs[designs["feasible"]].sort_values("score").iloc[0]
    cimnas = doc["rows"][-1]  # Table III: baseline 1, baseline 2, CIMNAS
    assert cimnas["method"].startswith("CIMNAS") and len(doc["rows"]) == 3
    for col in ("energy_j", "latency_s", "area_m2", "edap_j_s_m2", "accuracy_pct", "score"):
        assert cimnas[col] == pytest.approx(best[col], rel=1e-12), col
    # SI: an inference of MobileNetV2 takes microjoules to joules, never 0.1 kJ (mJ numbers).
    assert 1e-9 < cimnas["energy_j"] < 1.0 and cimnas["area_m2"] < 1e-2


def test_runs_list_and_show_json(store: Path, report: dict[str, typing.Any]) -> None:
    listed = _doc("runs", "list", "--store", store)
    assert listed["store"] == str(store) and listed["comparisons"] == []
    (row,) = listed["runs"]
    designs = report["designs"]
    assert row["run"] == "r1" and row["status"] == "done" and row["gen"] == row["n_gen"] == 2
    assert row["designs"] == len(designs) and row["pop_size"] == 4
    assert row["space"] == SPACE.name and row["created"].endswith("Z")
    shown = _doc("runs", "show", "r1", "--store", store, "--top", "3")
    assert shown["settings"]["designs"] == len(designs) and shown["settings"]["seed"] == 0
    assert shown["settings"]["feasible"] == int(designs["feasible"].sum())
    assert shown["objective"]["name"] == "edap" and shown["note"] is None
    best3 = np.sort(designs.loc[designs["feasible"], "score"].to_numpy())[:3]
    assert [d["score"] for d in shown["designs"]] == pytest.approx(best3, rel=1e-12)
    by_index = designs.set_index("design")
    for d in shown["designs"]:  # each row is the archive row it names, in SI
        ref = by_index.loc[d["design"]]
        for col in ("score", "accuracy_pct", "energy_j", "latency_s", "area_m2", "edap_j_s_m2"):
            assert d[col] == pytest.approx(ref[col], rel=1e-12), col
    human = _run("runs", "show", "r1", "--store", store, "--top", "1")
    # The table shows display units: energy in mJ (the SI value x 1e3).
    assert f"{shown['designs'][0]['energy_j'] * 1e3:.4g}" in human.stdout
    # (the header may fold on a narrow terminal: "energy" over "(mJ)")
    assert "energy" in human.stdout and "(mJ)" in human.stdout and "export one:" in human.stdout
    quiet = _run("runs", "show", "r1", "--store", store, "--quiet")
    assert quiet.exit_code == 0 and "export one:" not in quiet.stdout


def test_export_json_and_delete_json(
    store: Path, report: dict[str, typing.Any], tmp_path: Path
) -> None:
    doc = _doc("export", "r1", "--store", store, "--out", tmp_path / "d", "--no-onnx")
    designs = report["designs"]
    best = designs.set_index("design").loc[doc["design"]]
    best_score = designs.loc[designs["feasible"], "score"].min()
    assert best["score"] == best_score and doc["run"] == "r1"  # the run's best
    assert set(doc["files"]) == {"chip", "genome", "layers", "summary"}
    assert all(Path(p).is_file() for p in doc["files"].values())
    for col in ("energy_j", "latency_s", "area_m2", "edap_j_s_m2"):
        assert doc["stored"][col] == pytest.approx(best[col], rel=1e-12), col
        assert doc["reevaluated"][col] == pytest.approx(doc["stored"][col], rel=1e-9), col
    assert doc["accuracy_pct"] == pytest.approx(best["accuracy_pct"], rel=1e-12)
    assert "--no-onnx" in doc["onnx_note"]
    genome = json.loads(Path(doc["files"]["genome"]).read_text())
    assert genome["source"] == {"run": "r1", "design": doc["design"], "space": SPACE.name}

    copy = tmp_path / "copy.sqlite"
    shutil.copy(store, copy)
    refused = _run("runs", "delete", "r1", "--store", copy, "--json")
    assert refused.exit_code == 2 and refused.stdout == "" and "add --yes" in refused.stderr
    gone = _doc("runs", "delete", "r1", "--store", copy, "--yes")
    assert gone == {"store": str(copy), "deleted": ["r1"]}
    assert _doc("runs", "list", "--store", copy)["runs"] == []


# --------------------------------------------------------------------------- shell completion
@pytest.mark.parametrize(
    ("words", "expected"),
    [("cimkit runs sh", "show"), ("cimkit schedule --gen", "--genome"), ("cimkit exp", "export")],
)
def test_shell_completion_completes_commands_and_options(words: str, expected: str) -> None:
    # What bash's completion function asks the program (typer's protocol, click's env vars).
    env = {"_CIMKIT_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split()) - 1)
    res = runner.invoke(app, [], env=env, prog_name="cimkit")
    assert res.exit_code == 0 and res.stdout.split() == [expected]


def test_install_completion_writes_a_script_the_shell_sources(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    cimkit = Path(sys.executable).with_name("cimkit")  # the console script `pip install` made
    if not cimkit.is_file():
        pytest.skip("cimkit is not installed as a console script in this environment")
    # typer detects the shell from the process tree (shellingham) unless this variable is set;
    # a test run under a detached job has no shell ancestor, so the shell is named instead.
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    res = subprocess.run([str(cimkit), "--install-completion", "bash"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    script = tmp_path / ".bash_completions" / "cimkit.sh"
    assert "_CIMKIT_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
