"""CLI commands, registered on a typer app the way src/cimkit/cli.py registers them."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cimkit.accuracy.cli import histograms, predict, train_app
from cimkit.accuracy.predictor import DATA_DIR

app = typer.Typer()
app.add_typer(train_app, name="train")
app.command()(predict)
app.command()(histograms)
runner = CliRunner()


def test_bad_genome_is_one_line_exit_2() -> None:
    res = runner.invoke(app, ["predict", "--genome", '{"depths": [9, 2, 2, 2, 2], "kernels": 3, '
                              '"expands": 3}'])  # fmt: skip
    assert res.exit_code == 2 and "depths" in res.output
    res = runner.invoke(app, ["predict"])
    assert res.exit_code == 2


def test_train_predictor_needs_measurements(tmp_path) -> None:
    res = runner.invoke(app, ["train", "predictor", "--run", str(tmp_path)])
    assert res.exit_code == 2 and "measure_fp.jsonl" in res.output


@pytest.mark.skipif(not (DATA_DIR / "predictor_q.pt").is_file(), reason="not trained yet")
def test_predict_from_a_fresh_checkout() -> None:
    g = {"depths": [4] * 5, "kernels": 7, "expands": 6, "bits": 8}
    res = runner.invoke(app, ["predict", "--genome", json.dumps(g)])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    assert 0.5 < rec["accuracy"] < 1.0 and len(rec["bits"]) == 20
    res = runner.invoke(app, ["predict", "--random", "5", "--fp"])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 5
