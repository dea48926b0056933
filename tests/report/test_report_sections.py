"""Fig. 2 and Fig. 6 inside `cimkit report` (cimkit.report.sections), and --no-figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from search_helpers import constant_space_yaml  # noqa: E402

runner = CliRunner()


@pytest.mark.slow
def test_report_has_fig2_and_fig6_sections_unless_skipped(tmp_path) -> None:
    from cimkit.cli import app
    from cimkit.search.analyses import COOPT_MODES

    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["search", str(sp), "--name", "r", "--pop", "8", "--gen", "2",
                              "--store", str(store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", "r", "--store", str(store), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "o" / "report.md").read_text()
    assert "## Fig. 2: parameter sensitivity" in md and "## Fig. 6: partial co-optimization" in md
    assert "![sensitivity](fig2/sensitivity.png)" in md and "![coopt](fig6/coopt.png)" in md
    for f in ("fig2/sensitivity.csv", "fig2/correlation.csv", "fig2/sensitivity.png",
              "fig2/correlation.png", "fig6/coopt.csv", "fig6/coopt.png"):  # fmt: skip
        assert (tmp_path / "o" / f).is_file(), f
    coopt = pd.read_csv(tmp_path / "o" / "fig6" / "coopt.csv")
    assert list(coopt["mode"]) == ["baseline 1", *COOPT_MODES]
    assert (coopt["evaluations"] > 0).all()
    # Fig. 6 ran with the run's budget and seed.
    assert "--pop 8 --gen 2 --seed 0" in md
    res = runner.invoke(app, ["report", "r", "--store", str(store), "--no-figures", "--out",
                              str(tmp_path / "n")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "## Fig. 2" not in (tmp_path / "n" / "report.md").read_text()
    assert not (tmp_path / "n" / "fig2").exists()
