"""Issue 15 item 6: the search's per-generation evaluate, faster with identical results.

The optimised path is compared with the plain reference path on random genomes (arrays
equal to the last bit); the search path imports no pandas (checked in a fresh process).
Nothing here measures time (benchmarks/search_wall_time.py does).
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


def test_adc_survey_grid_matches_the_pandas_reader() -> None:
    """The numpy reader of the SAR survey gives pandas' doubles, in pandas' row order."""
    from cimkit.cost.adc_survey import _grid

    text = resources.files("cimkit.data").joinpath("components/adc_survey.csv").open()
    frame = pd.read_csv(text, comment="#").sort_values(["bits", "rate_sps", "node_nm"])
    bits = np.sort(frame["bits"].unique()).astype(np.float64)
    rates = np.sort(frame["rate_sps"].unique()).astype(np.float64)
    nodes = np.sort(frame["node_nm"].unique()).astype(np.float64)
    shape = (len(bits), len(rates), len(nodes))
    ref = (
        bits,
        np.log(rates),
        np.log(nodes),
        np.log(frame["convert_energy_pj"].to_numpy() * 1e-12).reshape(shape),
        np.log(frame["area_um2"].to_numpy()).reshape(shape),
    )
    got = _grid()
    assert len(got) == 5
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert shape[0] > 1 and shape[1] > 1  # a real grid, not one row


def test_cli_search_without_out_imports_no_pandas(tmp_path) -> None:
    """`cimkit search` with a store and no --out never imports pandas (~0.5 s per process)."""
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('PANDAS', 'pandas' in sys.modules))\n"
        "from cimkit.cli import main\n"
        f"sys.argv = ['cimkit', 'search', {str(SPACE)!r}, '--pop', '8', '--gen', '2', "
        f"'--quiet', '--store', {str(tmp_path / 's.sqlite')!r}]\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert "search:" in out.stdout, out.stderr[-2000:]
    assert "PANDAS False" in out.stdout, out.stdout
