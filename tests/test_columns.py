"""One naming and unit convention (cimkit issue 15, item 3): each measured defect, checked on the
files the writers produce and read back (CSV and Parquet), and on the reports' own figures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cimkit.columns import COLUMNS, METRIC_MATRIX, columns_markdown, undefined, upgrade_row
from cimkit.search.objectives import COL, METRIC_NAMES

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
CHIP = ROOT / "examples" / "chips" / "rram_baseline.yaml"
SMALL = {"pop_size": 10, "n_gen": 3, "seed": 3}


@pytest.fixture(scope="module")
def result():
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.problem import CimnasProblem
    from cimkit.search.proxies import proxy_accuracy
    from cimkit.space import load_space

    problem = CimnasProblem(load_space(SPACE), accuracy_fn=proxy_accuracy)
    return problem, Search(problem, SearchConfig(**SMALL)).run()


@pytest.fixture(scope="module")
def report(result, tmp_path_factory):
    from cimkit.report.summary import write_report
    from cimkit.search.cli import _single_run_rows

    problem, res = result
    rows = _single_run_rows(problem, res)
    out = tmp_path_factory.mktemp("report")
    files = write_report(out, res, rows, {"run": res.history}, title="t", command="cimkit search")
    return rows, files


def _designs(files) -> dict[str, pd.DataFrame]:
    return {"csv": pd.read_csv(files["csv"]), "parquet": pd.read_parquet(files["parquet"])}


def test_every_report_column_is_defined_and_si(report) -> None:
    _, files = report
    for kind, df in _designs(files).items():
        assert undefined(df.columns) == [], kind
        # SI names only: no paper-unit names, no bare `edap` (defects: energy_mj, edap).
        assert {"energy_j", "latency_s", "area_m2", "edap_j_s_m2", "accuracy_pct"} <= set(df)
        assert not {"energy_mj", "delay_us", "area_mm2", "edap", "accuracy"} & set(df), kind


def test_report_units_match_the_file(report, result) -> None:
    _, res = result
    rows, files = report
    df = pd.read_csv(files["csv"])
    M = res.archive.M
    # designs.csv is SI: J, s, m^2, J*s*m^2 of the same designs the search kept in mJ/us/mm^2.
    np.testing.assert_allclose(df["energy_j"] * 1e3, M[:, COL["energy_mj"]], rtol=1e-9)
    np.testing.assert_allclose(df["latency_s"] * 1e6, M[:, COL["delay_us"]], rtol=1e-9)
    np.testing.assert_allclose(df["area_m2"] * 1e6, M[:, COL["area_mm2"]], rtol=1e-9)
    np.testing.assert_allclose(df["edap_j_s_m2"] * 1e12, M[:, COL["edap"]], rtol=1e-9)
    # The report's Table III shows the best design's energy in mJ = designs.csv's J * 1e3, and
    # its accuracy in the same unit (%) as the CSV's accuracy_pct.
    best = rows[-1]
    i = int(res.top(1)[0])
    md = files["md"].read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| CIMNAS")][0]
    cells = [c.strip() for c in table.strip("|").split("|")]
    head = [ln for ln in md.splitlines() if ln.startswith("| Method")][0].strip("|").split("|")
    head = [h.strip() for h in head]
    energy_cell = float(cells[head.index("Energy (mJ)")])
    assert energy_cell == pytest.approx(df["energy_j"][i] * 1e3, rel=1e-2)
    acc_cell = float(cells[head.index("Top-1 (%)")])
    assert acc_cell == pytest.approx(df["accuracy_pct"][i], abs=0.005)
    assert 1 < df["accuracy_pct"][i] <= 100  # percent, not a fraction
    assert best["accuracy_pct"] == pytest.approx(df["accuracy_pct"][i], rel=1e-12)
    assert best["energy_j"] == pytest.approx(df["energy_j"][i], rel=1e-12)
    # Every header of the top-five table carries a unit from the definitions.
    assert "| top-1 accuracy (%) | EDAP (mJ*ms*mm^2) |" in md


def test_integer_columns_stay_integers(report) -> None:
    _, files = report
    for kind, df in _designs(files).items():
        for name in ("design", "gen", "rows", "cols", "macros_per_tile", "depth_s0", "dw_w_b0"):
            assert pd.api.types.is_integer_dtype(df[name]), (kind, name, df[name].dtype)
        for name in ("voltage_v", "energy_j", "g_fit", "accuracy_pct"):
            assert pd.api.types.is_float_dtype(df[name]), (kind, name)
        assert df["rows"].isin([64, 128, 256, 512, 1024]).all()
    assert re.match(r'^"?design"?,"?gen"?,', files["csv"].read_text())
    first = files["csv"].read_text().splitlines()[1].split(",")
    assert first[0] == "0" and "." not in first[1]  # written 0, not 0.0


def test_evaluate_out_columns_defined_and_integers(tmp_path: Path) -> None:
    from cimkit.cli import app

    res = CliRunner().invoke(
        app, ["evaluate", "--hw", str(CHIP), "--network", "vgg8", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    for stem in ("designs", "layers", "components"):
        for df in (
            pd.read_csv(tmp_path / f"{stem}.csv"),
            pd.read_parquet(tmp_path / f"{stem}.parquet"),
        ):
            assert undefined(df.columns) == [], stem
    d = pd.read_csv(tmp_path / "designs.csv")
    for name in ("rows", "cols", "macros_per_tile", "node_nm", "xbars_needed"):
        assert pd.api.types.is_integer_dtype(d[name]), name
    assert d["energy_j"][0] > 0 and "edap_j_s_m2" in d


def test_validation_columns_defined() -> None:
    from cimkit.validation import lomo_table, validation_table

    frame = validation_table()
    assert undefined(frame.columns) == []
    assert undefined(lomo_table().columns) == []
    assert pd.api.types.is_integer_dtype(frame["node_nm"])


def test_metric_matrix_is_the_store_order() -> None:
    # The run store keeps metric rows as blobs in this order: the definitions must not reorder it.
    assert METRIC_NAMES == tuple(METRIC_MATRIX) == (
        "accuracy", "energy_mj", "delay_us", "area_mm2", "edap", "tops_per_w",
        "tops_per_mm2", "utilization", "g_fit", "g_area", "g_cycle",
    )  # fmt: skip
    for _, file_col, _ in METRIC_MATRIX.values():
        assert file_col in COLUMNS
    for name in ("g_fit", "g_area", "g_cycle", "score"):
        assert len(COLUMNS[name].description) > 40  # explained, not just named


def test_old_comparison_rows_read_with_new_names() -> None:
    from cimkit.report.tables import cells

    new = {"method": "m", "accuracy_pct": 70.0, "energy_j": 2e-3, "latency_s": 5e-6,
           "area_m2": 3e-4, "edap_j_s_m2": 2e-3 * 5e-6 * 3e-4, "score": 1.0}  # fmt: skip
    old = {"method": "m", "accuracy_pct": 70.0, "energy_mj": 2.0, "delay_us": 5.0,
           "area_mm2": 300.0, "edap": 2.0 * 5e-3 * 300.0, "score": 1.0}  # fmt: skip
    assert cells(old) == cells(new)
    assert cells(new)[3:7] == ["2", "5", "300", "3"]  # mJ, us, mm^2, mJ*ms*mm^2
    assert upgrade_row(new) == new


def test_old_yaml_key_works_with_a_deprecation_note(tmp_path: Path, capsys) -> None:
    from cimkit.errors import SpecError
    from cimkit.specs.io import chip_from_dict, load_chip

    text = CHIP.read_text().replace("macros_per_tile: 16", "macros: 12")
    text = text.replace("tiles_per_router: 8", "tiles: 2")
    (tmp_path / "old.yaml").write_text(text)
    spec = load_chip(tmp_path / "old.yaml")
    assert (spec.tile.macros_per_tile, spec.router.tiles_per_router) == (12, 2)
    err = capsys.readouterr().err
    assert "# deprecated: chip spec key tile.macros is now tile.macros_per_tile" in err
    assert "router.tiles is now router.tiles_per_router" in err and "cimkit 0.2" in err
    assert spec.model_dump()["tile"]["macros_per_tile"] == 12  # saved with the new name
    load_chip(CHIP)  # the examples use the new names: no note
    assert capsys.readouterr().err == ""
    with pytest.raises(SpecError, match=r"give tile.macros_per_tile only"):
        chip_from_dict({"tile": {"macros": 4, "macros_per_tile": 4}})


def test_columns_doc_is_current() -> None:
    doc = ROOT / "docs" / "columns.md"
    assert doc.read_text() == columns_markdown(), "run: python -m cimkit.columns > docs/columns.md"
