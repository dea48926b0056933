"""Re-measurement of found designs (cimkit.search.remeasure) and its Table III columns.

Quick tests need no torch: the statistics, the genome mapping, the row annotation and the cache
file. The slow ones measure on the shipped supernet with a few hundred Fashion-MNIST images
(CIMKIT_MEASURE_IMAGES / CIMKIT_MEASURE_CALIB), never the full 10k split.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from search_helpers import SPACE, constant_space_yaml
from typer.testing import CliRunner

from cimkit.search import remeasure as rm
from cimkit.search.objectives import COL

runner = CliRunner()


def test_bias_and_rmse_hand_computed() -> None:
    # predicted - measured = +1, -1, +2 (pp): bias 2/3, RMSE sqrt((1 + 1 + 4) / 3) = sqrt(2).
    s = rm.error_stats([80.0, 82.0, 79.0, 70.0], [79.0, 83.0, 77.0, float("nan")])
    assert s["n"] == 3
    assert s["bias_pp"] == pytest.approx(2 / 3, abs=1e-12)
    assert s["rmse_pp"] == pytest.approx(math.sqrt(2), abs=1e-12)
    empty = rm.error_stats([], [])
    assert empty["n"] == 0 and math.isnan(empty["bias_pp"])


def test_genomes_of_maps_one_design_to_one_measurement(space) -> None:
    x = space.baseline_genome()
    g = rm.genomes_of(space, x[None])[0]
    assert g.depths == (2, 3, 4, 3, 3)
    assert set(g.kernels) == {3} and set(g.expands) == {6}
    assert {b for row in g.bits for b in row} == {8}
    # Change a gene of a slot the design does not use (stage 0 has depth 2: slot 3 is unused):
    # same supernet genome, same cache key.
    names = space.joint.names
    y = x.copy()
    j = names.index("kernel_b3")
    y[j] = (y[j] + 1) % len(space.joint.dims[j].values)
    y[names.index("dw_w_b3")] = 0
    gy = rm.genomes_of(space, y[None])[0]
    assert rm.genome_key(gy) == rm.genome_key(g)
    # A used slot's gene changes the key.
    z = x.copy()
    z[names.index("kernel_b0")] = 2
    assert rm.genome_key(rm.genomes_of(space, z[None])[0]) != rm.genome_key(g)


def test_bias_counts_a_network_once_across_hardware(space, tmp_path) -> None:
    """Two designs with one network and policy but different hardware are one measurement
    (cache hit) and one point of the bias / RMSE; the table still lists both."""
    x = space.baseline_genome()
    y = x.copy()
    hw = space.joint.indices("hardware")
    y[hw[0]] = (y[hw[0]] + 1) % len(space.joint.dims[hw[0]].values)
    key = rm.genome_key(rm.genomes_of(space, x[None])[0])
    r = rm.Remeasurer(tmp_path / "c.jsonl", rm.MeasureSettings(n_test=100))
    r.cache.put({"key": r.key(rm.genomes_of(space, x[None])[0]), "accuracy": 0.75})
    designs = [
        (rm.BASELINE1_LABEL, 0, -1, x, 0.80),
        ("Two-stage search", 1, 5, x, 0.80),
        ("Two-stage search", 2, 6, y, 0.80),
    ]
    rem = rm.remeasure(space, designs, remeasurer=r)
    assert r.misses == 0 and r.hits == 3 and key  # never measured: all from the cache
    assert list(rem.table["accuracy_measured_pct"]) == pytest.approx([75.0] * 3)
    assert rem.stats["n"] == 1 and rem.stats["bias_pp"] == pytest.approx(5.0)


def test_constant_accuracy_space_cannot_be_remeasured(tmp_path) -> None:
    from cimkit.space import load_space

    sp = load_space(constant_space_yaml(tmp_path))
    with pytest.raises(rm.RemeasureUnavailable, match="no supernet to re-measure"):
        rm.genomes_of(sp, sp.baseline_genome()[None])


def _fake_remeasured(b1: float, win: float) -> rm.Remeasured:
    table = pd.DataFrame(
        [
            [rm.BASELINE1_LABEL, 0, -1, 83.0, b1, float("nan"), 83.0 - b1],
            ["CIMNAS (joint)", 1, 7, 80.0, win, float("nan"), 80.0 - win],
        ],
        columns=[
            "method",
            "rank",
            "design",
            "accuracy_pct",
            "accuracy_measured_pct",
            "accuracy_finetuned_pct",
            "accuracy_error_pp",
        ],
    )
    stats = rm.error_stats(table["accuracy_pct"][1:], table["accuracy_measured_pct"][1:])
    return rm.Remeasured(table, stats, rm.MeasureSettings(), "0" * 64)


def test_table3_rows_use_measured_accuracy_and_show_both(space) -> None:
    from cimkit.report.tables import markdown_table, table_row
    from cimkit.search.objectives import get_objective

    obj = get_objective("edap")
    b1 = np.zeros(len(COL))
    b1[[COL["accuracy"], COL["energy_mj"], COL["delay_us"], COL["area_mm2"], COL["edap"]]] = (
        0.83, 1.0, 100.0, 300.0, 30.0,
    )  # fmt: skip
    win = b1.copy()
    # 0.1 mJ x 0.02 ms x 300 mm^2 = 0.6 mJ*ms*mm^2 (the objective multiplies E, D and A).
    win[[COL["accuracy"], COL["energy_mj"], COL["delay_us"], COL["edap"]]] = (0.80, 0.1, 20, 0.6)
    rows = [table_row(rm.BASELINE1_LABEL, b1, obj, b1), table_row("CIMNAS (joint)", win, obj, b1)]
    rows[1]["acc_change_pp"] = -3.0  # predicted: 80 - 83
    rem = _fake_remeasured(b1=84.0, win=78.5)
    out = rm.annotate_rows(rows, rem, obj, {rm.BASELINE1_LABEL: b1, "CIMNAS (joint)": win})
    cim = out[1]
    assert cim["accuracy_pct"] == pytest.approx(80.0)  # predicted kept
    assert cim["accuracy_measured_pct"] == pytest.approx(78.5)
    assert cim["acc_change_pp"] == pytest.approx(78.5 - 84.0)
    assert cim["acc_change_predicted_pp"] == pytest.approx(-3.0)
    assert cim["accuracy_used"] == "measured"
    # EDAP/Acc (Acc in %): the same EDAP over the measured accuracy.
    assert cim["score_predicted"] == pytest.approx(0.6 / 80.0)
    assert cim["score"] == pytest.approx(0.6 / 78.5)
    assert out[0]["score"] == pytest.approx(30.0 / 84.0)
    md = markdown_table(out, "EDAP/Acc")
    head = [h.strip() for h in md.splitlines()[0].strip("|").split("|")]
    for h in ("Top-1 (%)", "Measured (%)", "Change (pp)", "Accuracy used"):
        assert h in head
    line = [ln for ln in md.splitlines() if ln.startswith("| CIMNAS")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[head.index("Top-1 (%)")] == "80.00"
    assert cells[head.index("Measured (%)")] == "78.50"
    assert cells[head.index("Change (pp)")] == "-5.50"
    assert cells[head.index("Accuracy used")] == "measured"
    # Without re-measurement the optional columns are not shown.
    assert "Measured (%)" not in markdown_table(rows, "EDAP/Acc")
    cmp = rm.cimnas_vs_paper(out, "edap")
    assert cmp["measured_pp"] == pytest.approx(-5.5) and cmp["paper_pp"] == 0.81
    assert "+0.81 pp" in rm.paper_sentence(cmp) and "measured -5.50 pp" in rm.paper_sentence(cmp)


def test_cache_file_round_trip_and_bad_lines(tmp_path) -> None:
    path = tmp_path / "c.jsonl"
    c = rm.AccuracyCache(path)
    c.put({"key": "k1", "accuracy": 0.8})
    with open(path, "a") as f:
        f.write('{"key": "k2", "accuracy": 1.7}\n{"key": "cut')  # out of range, cut by a crash
    c2 = rm.AccuracyCache(path)
    assert c2.get("k1")["accuracy"] == 0.8
    assert c2.get("k2") is None and len(c2) == 1


@pytest.mark.parametrize("flag, value", [("--remeasure", "-1"), ("--remeasure", "51"),
                                         ("--finetune-steps", "-2")])  # fmt: skip
def test_bad_remeasure_flags_are_one_line(tmp_path, flag, value) -> None:
    from cimkit.cli import app

    res = CliRunner().invoke(
        app, ["report", "r", "--store", str(tmp_path / "s.sqlite"), flag, value]
    )
    assert res.exit_code == 2
    assert flag in res.output and "give an integer" in res.output


def _fashion_mnist_or_skip() -> None:
    pytest.importorskip("torch")
    from cimkit.accuracy.data import FASHION_MNIST_DIR

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


SMALL = rm.MeasureSettings(n_calib=128, n_test=200)


@pytest.mark.slow
def test_cache_hit_same_number_without_loading_torch(space, tmp_path) -> None:
    _fashion_mnist_or_skip()
    cache = tmp_path / "c.jsonl"
    g = rm.genomes_of(space, space.baseline_genome()[None])
    r1 = rm.Remeasurer(cache, SMALL)
    a1 = r1.measure(g)
    assert r1.loads == 1 and r1.misses == 1 and 0.5 < a1[0] <= 1.0
    r2 = rm.Remeasurer(cache, SMALL)
    assert r2.measure(g)[0] == a1[0] and r2.loads == 0 and r2.hits == 1
    # Other settings are another measurement (never the cached number).
    assert rm.Remeasurer(cache, rm.MeasureSettings(n_calib=64, n_test=200)).key(g[0]) != r2.key(
        g[0]
    )
    # A fresh process answers from the cache without importing torch.
    code = (
        "import sys; from cimkit.space import load_space; from cimkit.search import remeasure "
        f"as rm; sp = load_space({str(SPACE)!r}); g = rm.genomes_of(sp, "
        "sp.baseline_genome()[None]); r = rm.Remeasurer(sys.argv[1], rm.MeasureSettings("
        "n_calib=128, n_test=200)); print(r.measure(g)[0], 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) == a1[0] and out[1] == "False"


@pytest.mark.slow
def test_report_remeasures_and_finetunes_end_to_end(tmp_path, monkeypatch) -> None:
    """search -> report --remeasure 1 --finetune-steps 2 on 200 test images: Table III with
    predicted, measured and fine-tuned columns; remeasured.csv; --json; second report cached."""
    _fashion_mnist_or_skip()
    from cimkit.cli import app

    monkeypatch.setenv("CIMKIT_MEASURE_IMAGES", "200")
    monkeypatch.setenv("CIMKIT_MEASURE_CALIB", "128")
    monkeypatch.setenv("CIMKIT_REPORT_WORKER", "0")
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["search", str(SPACE), "--name", "r", "--pop", "8", "--gen", "1",
                              "--store", str(store), "--out", str(tmp_path / "fast")])  # fmt: skip
    assert res.exit_code == 0, res.output
    fast = (tmp_path / "fast" / "report.md").read_text()
    assert "Accuracy: predicted, not measured" in fast and "--remeasure 5" in fast
    args = ["report", "r", "--store", str(store), "--remeasure", "1", "--finetune-steps", "2",
            "--no-figures", "--json"]  # fmt: skip
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rem = doc["remeasured"]
    assert rem["n"] == 1 and rem["measured_now"] == 4 and rem["finetune_steps"] == 2
    md = (tmp_path / "o" / "report.md").read_text()
    head = [ln for ln in md.splitlines() if ln.startswith("| Method")][0]
    assert "Top-1 (%)" in head and "Measured (%)" in head and "Fine-tuned (%)" in head
    assert "the first 200 test images" in md and "+0.81 pp" in md
    csv = pd.read_csv(tmp_path / "o" / "remeasured.csv")
    assert list(csv["rank"]) == [0, 1]
    assert csv["accuracy_finetuned_pct"].between(1, 100).all()
    np.testing.assert_allclose(
        csv["accuracy_error_pp"], csv["accuracy_pct"] - csv["accuracy_measured_pct"]
    )
    cim = [r for r in doc["rows"] if r["method"].startswith("CIMNAS")][0]
    b1 = doc["rows"][0]
    assert cim["acc_change_pp"] == pytest.approx(
        cim["accuracy_measured_pct"] - b1["accuracy_measured_pct"]
    )
    # The second report is answered by the cache and writes the same report.
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["remeasured"]["measured_now"] == 0
    assert (tmp_path / "o2" / "report.md").read_text() == md


def test_report_of_a_constant_accuracy_run_says_not_remeasured(tmp_path) -> None:
    from cimkit.cli import app

    sp = constant_space_yaml(tmp_path)
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["search", str(sp), "--name", "c", "--pop", "6", "--gen", "1",
                              "--store", str(store)])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["report", "c", "--store", str(store), "--no-figures", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    md = (tmp_path / "o" / "report.md").read_text()
    assert "## Accuracy: not re-measured" in md and "accuracy source 'constant'" in md
    assert not (tmp_path / "o" / "remeasured.csv").exists()
