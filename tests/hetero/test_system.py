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
    from cimkit.columns import undefined

    assert undefined(layers.columns) == [] and undefined(summary.columns) == []


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


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("dynamic", [False, True])
def test_fused_kernel_equals_numpy_reference(objective: str, dynamic: bool) -> None:
    from dataclasses import replace

    from cimkit.hetero import kernel

    if not kernel.HAVE_NUMBA:
        pytest.skip("numba not installed")
    wl = get_network("h4h_hybrid")  # 16 ViT blocks: attention heads on CIM when dynamic
    # the greedy path on both engines (the exact paths are compared in test_partition.py)
    d = replace(_random_designs(300, seed=5), objective=objective, dynamic_matmul=dynamic,
                method="fast")  # fmt: skip
    plan = build_plan(wl, d.split_steps, dynamic)
    ref = evaluate_system(plan, d, detail=False, engine="numpy")
    got = evaluate_system(plan, d, detail=False, engine="fused")
    # max_net repeats identical blocks: summation order can break a tie between two equally good
    # splits differently, so choices may differ where the objective is the same.
    same = (got.solution.choice == ref.solution.choice).all(axis=1)
    assert same.mean() > 0.95
    np.testing.assert_allclose(got.solution.objective, ref.solution.objective, rtol=1e-9)
    np.testing.assert_allclose(got.solution.lower_bound, ref.solution.lower_bound, rtol=1e-9)
    np.testing.assert_allclose(got.latency_s[same], ref.latency_s[same], rtol=1e-9)
    np.testing.assert_allclose(got.energy_j[same], ref.energy_j[same], rtol=1e-9)
    np.testing.assert_allclose(got.layer_time_s[same], ref.layer_time_s[same], rtol=1e-9,
                               atol=1e-18)  # fmt: skip
    np.testing.assert_array_equal(got.words_used[same], ref.words_used[same])
    assert (got.words_used <= got.capacity_words).all()


def test_cli_h4h_figures_writes_and_checks_claims(tmp_path: Path) -> None:
    res = runner.invoke(app, ["h4h-figures", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for f in data["files"]:
        assert (tmp_path / f).stat().st_size > 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) == len(data["claims"]) == 12
    # Fig. 5: the macros win on FC in both memory modes (weights resident vs streamed).
    fig5 = pd.read_csv(tmp_path / "fig5.csv")
    fc = fig5[fig5.layer.str.startswith("FC")]
    assert (fc.throughput_ratio > 1).all() and (fc.energy_efficiency_ratio > 1).all()
    fig3 = pd.read_csv(tmp_path / "fig3.csv")
    from cimkit.columns import undefined

    for frame in (claims, fig5, fig3):
        assert undefined(frame.columns) == []
    assert (fig3.throughput_norm <= 1.0 + 1e-9).all() and (fig3.energy_efficiency_norm <= 1).all()


def test_cli_evaluate_system_on_torch_and_onnx_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate --hw system.yaml` takes the imported workloads too; the same network through
    the built-in generator, a torch factory and an ONNX file gives the same split and totals."""
    import warnings

    torch = pytest.importorskip("torch")
    from cimkit.workload import torch_models

    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "from cimkit.workload import torch_models\n\n"
        "def build():\n"
        "    return torch_models.vgg8(), torch.rand(1, 3, 32, 32)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    onnx_file = tmp_path / "vgg8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch_models.vgg8().eval(), torch.zeros(1, 3, 32, 32), str(onnx_file),
                          dynamo=False)  # fmt: skip
    summaries, layers = {}, {}
    for key, src in (("builtin", ["--network", "vgg8"]), ("torch", ["--torch", "my_models:build"]),
                     ("onnx", ["--onnx", str(onnx_file)])):  # fmt: skip
        out = tmp_path / key
        res = runner.invoke(app, ["evaluate", "--hw", str(SYSTEM), *src, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "CIM share" in res.output
        summaries[key] = pd.read_csv(out / "summary.csv")
        layers[key] = pd.read_csv(out / "layers.csv")
    for key in ("torch", "onnx"):
        assert summaries[key]["latency_s"][0] == pytest.approx(summaries["builtin"]["latency_s"][0],
                                                               rel=1e-12)  # fmt: skip
        assert summaries[key]["energy_j"][0] == pytest.approx(summaries["builtin"]["energy_j"][0],
                                                              rel=1e-12)  # fmt: skip
        np.testing.assert_array_equal(layers[key]["cim_units"], layers["builtin"]["cim_units"])
