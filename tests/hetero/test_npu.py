"""The Vela-calibrated NPU engine: exact on its table, within 10 % of Vela off the grid, and the
committed table is what ethos-u-vela produces."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cimkit.hetero import npu

ROOT = Path(__file__).resolve().parents[2]


def test_grid_points_are_reproduced_exactly() -> None:
    df = npu.calibration_table()
    grid = df[df["set"] == "grid"]
    for (kind, macs, mode, stride), g in grid.groupby(
        ["kind", "accelerator_macs", "memory_mode", "stride"]
    ):
        pred = npu.predict(str(kind), npu.table_dims(g), int(macs), str(mode), int(stride))
        for q in npu.QUANTITIES:
            np.testing.assert_allclose(pred[q], g[q].to_numpy(float), rtol=1e-9, atol=1e-6)


def test_profile_points_are_reproduced_exactly() -> None:
    """A profile runs through the reference layer along one axis: the grid interpolation times
    that axis's correction must give Vela's value at every profile point."""
    df = npu.calibration_table()
    prof = df[df["set"] == "profile"]
    for (kind, macs, mode, stride), g in prof.groupby(
        ["kind", "accelerator_macs", "memory_mode", "stride"]
    ):
        pred = npu.predict(str(kind), npu.table_dims(g), int(macs), str(mode), int(stride))
        np.testing.assert_allclose(pred["cycles_total"], g["cycles_total"].to_numpy(float),
                                   rtol=1e-6)  # fmt: skip


def test_heldout_median_error_within_10_percent_per_layer_type() -> None:
    """Acceptance: shapes not in the calibration (the 'test' set, never used to choose the
    model) per layer type, over all six configurations: median |error| <= 10 %."""
    errors = npu.validation_errors("test")
    summary = npu.validation_summary(errors)
    assert set(summary.index) >= {"conv", "dw", "pw", "fc", "bmm"}
    assert (summary["count"] >= 100).all()
    assert (summary["median_abs_error"] <= 0.10).all(), summary
    # Per configuration too (a median over all six could hide one bad one).
    assert (summary["worst_config_median"] <= 0.10).all(), summary


def test_heldout_rows_are_off_grid() -> None:
    df = npu.calibration_table()
    cols = ["kind", "h", "w", "c_in", "c_out", "k", "stride"]
    grid = {tuple(r) for r in df[df["set"] == "grid"][cols].itertuples(index=False)}
    test = {tuple(r) for r in df[df["set"] == "test"][cols].itertuples(index=False)}
    assert test and not (test & grid)


def test_provenance_names_vela_version_and_system() -> None:
    prov = npu.provenance()
    assert prov["vela_version"] == "5.2.0"
    assert prov["system_config"] == "Ethos_U55_High_End_Embedded"
    assert prov["errors"] == 0


@pytest.mark.skipif(
    importlib.util.find_spec("ethosu") is None,
    reason="ethos-u-vela not installed (the npu extra; make test installs it)",
)
def test_committed_table_matches_live_vela() -> None:
    """Recompile a few table rows with the pinned Vela: the committed numbers are Vela's."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import vela_calibrate as vc
        from vela_tflite import LayerShape
    finally:
        sys.path.pop(0)
    df = npu.calibration_table()
    rng = np.random.default_rng(0)
    rows = df[df["set"].isin(["test", "grid"])].sample(6, random_state=int(rng.integers(1e6)))
    for r in rows.itertuples(index=False):
        shape = LayerShape(r.kind, int(r.h), int(r.w), int(r.c_in), int(r.c_out), int(r.k),
                           int(r.stride))  # fmt: skip
        got = vc._compile((r.set, shape, int(r.accelerator_macs), r.memory_mode, ""))
        assert got["status"] == "ok"
        assert float(got["cycles_total"]) == pytest.approx(float(r.cycles_total), rel=1e-9)


def test_cli_npu_validate_json_and_roofline_baseline(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cimkit.cli import app

    res = CliRunner().invoke(app, ["npu-validate", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["vela_version"] == "5.2.0"
    for kind in ("conv", "dw", "pw", "fc", "bmm"):
        assert data["engine"][kind]["median_abs_error"] <= 0.10
        # the interpolating engine beats a roofline fitted on the same grid
        assert data["engine"][kind]["median_abs_error"] < data["roofline"][kind]["median_abs_error"]
    import pandas as pd

    from cimkit.columns import undefined

    assert undefined(pd.read_csv(tmp_path / "npu_errors.csv").columns) == []
