"""OSA-HCIM report (issue 16 item 5): fast simulator path == reference, the command end to end,
resume after an interruption, Table I rows, one-line errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from cimkit.accuracy.data import FASHION_MNIST_DIR
from cimkit.errors import SpecError
from cimkit.osa.analog import AnalogConfig
from cimkit.osa.bitplane import (
    BitConfig,
    allocation_counts,
    allocation_lookup,
    hybrid_matmul,
    hybrid_matmul_reference,
)

needs_fmnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)


def _operands(cfg: BitConfig, n: int, k: int, m: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    lo, hi = cfg.a_range
    a = torch.randint(lo, hi + 1, (n, k), generator=g)
    a = a * (torch.rand(n, k, generator=g) < 0.6)  # post-ReLU-like zeros
    wl, wh = cfg.w_range
    w = torch.randint(wl, wh + 1, (m, k), generator=g)
    return a, w


@pytest.mark.parametrize(
    "a_bits,w_bits,signed,k",
    [(8, 8, True, 300), (8, 8, True, 144), (4, 4, True, 100), (8, 4, False, 9)],
)
def test_fast_path_equals_reference_bit_exactly(a_bits, w_bits, signed, k):
    """Every B (scalar, per row, per row and group), ideal analog and two ADCs: equal floats."""
    cfg = BitConfig(a_bits, w_bits, signed)
    n, m = 37, 21  # 3 groups of 8 outputs, the last one short; K = 300 pads a third chunk
    a, w = _operands(cfg, n, k, m, 1)
    g = -(-m // cfg.hmus)
    top = cfg.max_order + 1
    b_map = torch.randint(0, top + 1, (n, g), generator=torch.Generator().manual_seed(2))
    fs = {b: 7.0 + 2.5 * b for b in range(top + 1)}
    for analog in (None, AnalogConfig(full_scale=fs), AnalogConfig(full_scale=11.0, adc_bits=2)):
        for b in [*range(top + 1), b_map, b_map[:, 0]]:
            fast = hybrid_matmul(a, w, b, cfg, analog)
            ref = hybrid_matmul_reference(a, w, b, cfg, analog)
            assert torch.equal(fast, ref), (analog, b if isinstance(b, int) else "map")


def test_fast_path_with_noise_is_the_reference_draw():
    cfg = BitConfig()
    a, w = _operands(cfg, 20, 200, 16, 3)
    an = AnalogConfig(full_scale=20.0, noise_lsb=0.7)
    b = torch.randint(5, 11, (20, 2), generator=torch.Generator().manual_seed(4))
    fast = hybrid_matmul(a, w, b, cfg, an, torch.Generator().manual_seed(9))
    ref = hybrid_matmul_reference(a, w, b, cfg, an, torch.Generator().manual_seed(9))
    assert torch.equal(fast, ref)


def test_allocation_lookup_equals_the_mask_counts():
    b = torch.randint(0, 16, (5, 3, 7, 7), generator=torch.Generator().manual_seed(0))
    want, got = allocation_counts(b), allocation_lookup(b)
    assert all(torch.equal(want[key], got[key]) for key in want)


def test_bad_settings_are_one_line_spec_errors():
    from cimkit.osa.report import ReportSettings

    for kw, word in (
        ({"images": 0}, "--images"),
        ({"candidates": (8, 6)}, "--candidates"),
        ({"candidates": (6, 14)}, "--candidates"),
        ({"constraints": (-1.0,)}, "--constraints"),
        ({"device": "tpu"}, "--device"),
        ({"calib_images": 4000, "search_images": 2000}, "--search-images"),
        ({"ose_orders": 0}, "--ose-orders"),
        ({"ose_orders": 4, "candidates": (9, 12)}, "--candidates"),  # 12 > 15 - 4
        ({"model": "/nonexistent/model.pt"}, "--model"),
        ({"bias_model": "median"}, "--bias-model"),
    ):
        with pytest.raises(SpecError, match=word) as e:
            ReportSettings(**kw).check()
        assert "\n" not in str(e.value)


def _refuse(name: str) -> None:
    raise AssertionError(f"non-JSON constant {name} in a report file")


def test_report_writers_emit_no_nan(tmp_path):
    """NaN / inf become JSON null and empty CSV cells (json.dumps alone would write NaN)."""
    from cimkit.osa.report import _write_csv, _write_json

    doc = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -float("inf"), "e": 2}}
    _write_json(tmp_path / "x.json", doc)
    back = json.loads((tmp_path / "x.json").read_text(), parse_constant=_refuse)
    assert back == {"a": None, "b": [1.5, None], "c": {"d": None, "e": 2}}
    _write_csv(
        tmp_path / "x.csv", [{"p": "HCIM B=8", "acc": float("nan")}, {"p": "DCIM", "acc": 0.9}]
    )
    rows = list(csv.DictReader(open(tmp_path / "x.csv")))
    assert [r["acc"] for r in rows] == ["", "0.9"]


def test_cli_bad_flag_exits_2():
    from cimkit.cli import app

    r = CliRunner().invoke(app, ["osa-report", "--out", "/tmp/never", "--candidates", "8,x"])
    assert r.exit_code == 2
    assert "--candidates" in r.output


TINY = {
    "images": 6,
    "calib_images": 4,
    "search_images": 6,
    "fixed": (8,),
    "constraints": (0.01,),
    "grid": 2,
    "map_images": 2,
    "batch": 3,
}


@pytest.mark.slow
@needs_fmnist
def test_report_end_to_end_resume_and_cli(tmp_path):
    """Tiny report: files and Table I; an interrupted run resumes to the uninterrupted result;
    a rerun reads every evaluation from the cache (no cache file rewritten); the CLI works."""
    from cimkit.osa.report import ReportSettings, run_report

    torch.set_num_threads(1)
    s = ReportSettings(**TINY)

    class Stop(Exception):
        pass

    seen: list[str] = []

    def stop_after_first_checkpoint(msg: str) -> None:
        seen.append(msg)
        if "DCIM: test 3/6" in msg:
            raise Stop

    with pytest.raises(Stop):
        run_report(tmp_path / "a", s, stop_after_first_checkpoint)
    part = [json.loads(p.read_text()) for p in (tmp_path / "a" / "cache").glob("*.json")]
    assert [d["done"] for d in part if d.get("label") == "DCIM"] == [3]
    resumed = run_report(tmp_path / "a", s)
    fresh = run_report(tmp_path / "b", s)
    for r1, r2 in zip(resumed["rows"], fresh["rows"], strict=True):
        assert r1["point"] == r2["point"]
        assert r1["accuracy"] == r2["accuracy"] and r1["loss"] == pytest.approx(r2["loss"])
        assert r1["digital_one_bit_macs"] == pytest.approx(r2["digital_one_bit_macs"])
    out = tmp_path / "a"
    for f in ("osa_fig9.csv", "osa_fig9.png", "osa_fig8a_maps.png", "osa_fig8b_layers.csv",
              "osa_fig5.csv", "osa_fig5.png", "osa_table1.md", "osa_report.md"):  # fmt: skip
        assert (out / f).is_file(), f
    points = [r["point"] for r in csv.DictReader(open(out / "osa_fig9.csv"))]
    assert points == ["DCIM", "HCIM B=8", "OSA L=0.01", "random-B L=0.01"]
    ctrl = {r["point"]: r for r in fresh["rows"]}
    # the control takes the OSA point's B shares, without the OSE
    assert ctrl["random-B L=0.01"]["ose_ops"] == 0
    assert fresh["checks"]["osa_vs_random_control"][0]["osa"] == "OSA L=0.01"
    for f in [*out.glob("*.json"), *out.glob("*.csv")]:  # strict JSON, no "nan" in any file
        text = f.read_text()
        assert "nan" not in text.lower().replace("fashion", ""), f
        if f.suffix == ".json":
            json.loads(text, parse_constant=_refuse)
    table = (out / "osa_table1.md").read_text()
    for cell in ("ICCAD'22", "ISSCC'21", "MCSoC'22", "5.33-5.79", "64x144", "cimkit OSA-HCIM"):
        assert cell in table
    # DCIM has no analog work; fixed B = 8 has 28 of 64 one-bit MACs digital per MAC (exact).
    rows = {r["point"]: r for r in fresh["rows"]}
    assert rows["DCIM"]["analog_one_bit_macs"] == 0
    macs = rows["HCIM B=8"]["macs_per_inference"]
    assert rows["HCIM B=8"]["digital_one_bit_macs"] == pytest.approx(28 * macs)
    assert rows["HCIM B=8"]["efficiency_vs_dcim"] > 1
    # A rerun changes no cache file: every evaluation is read back.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cache").glob("*.json")}
    from cimkit.cli import app

    args = ["osa-report", "--out", str(out), "--json", "--images", "6", "--calib-images", "4",
            "--search-images", "6", "--fixed", "8", "--constraints", "0.01", "--grid", "2",
            "--map-images", "2", "--batch", "3"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["checks"]["images"] == 6
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cache").glob("*.json")} == stamps


@pytest.mark.slow
@needs_fmnist
def test_longer_run_reuses_the_blocks_already_done(tmp_path, monkeypatch):
    """Blocks of BLOCK images are cached separately: 8 images after 6 recompute only the
    second block, and the totals equal a fresh 8-image run's."""
    from cimkit.osa import report
    from cimkit.osa.report import ReportSettings, Runner

    torch.set_num_threads(1)
    monkeypatch.setattr(report, "BLOCK", 4)
    s = ReportSettings(**TINY)
    run = Runner(tmp_path / "a", s)
    run.evaluate({"mode": "dcim"}, "test", 0, 6)
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "cache").glob("*.json")}
    longer = run.evaluate({"mode": "dcim"}, "test", 0, 8)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "cache").glob("*.json")}
    assert len(after) == len(first) + 1  # block 4..7 is new; 4..5 stays, unused
    kept = [name for name in first if after[name] == first[name]]
    assert len(kept) == len(first)  # no block rewritten
    fresh = Runner(tmp_path / "b", s).evaluate({"mode": "dcim"}, "test", 0, 8)
    assert (longer.n, longer.correct) == (fresh.n, fresh.correct) == (8, longer.correct)
    assert longer.loss_sum == pytest.approx(fresh.loss_sum)
    assert longer.counts["digital"] == pytest.approx(fresh.counts["digital"])


def _row(point: str, kind: str, acc: float, tops: float) -> dict:
    return {"point": point, "kind": kind, "accuracy": acc, "tops_per_w": tops}


def test_frontier_check_is_not_met_by_having_nothing_to_compare() -> None:
    from cimkit.osa.report import frontier_checks

    base = [_row("DCIM", "DCIM", 0.92, 9.0), _row("HCIM B=8", "HCIM", 0.916, 14.0),
            _row("HCIM B=10", "HCIM", 0.858, 19.5)]  # fmt: skip
    # Every OSA point less efficient than every HCIM point: not shown, not "met".
    c = frontier_checks(base + [_row("OSA L=0.03", "OSA-HCIM", 0.916, 13.8)])
    assert c["osa_dominates_hcim"] is None
    assert c["osa_dominates_every_fixed_b"] is False
    assert c["hcim_points_beyond_osa_range"] == ["HCIM B=8", "HCIM B=10"]
    # On the line 9.0 -> 14.0: at 13.8 the line is 0.92 - 0.004 * 4.8 / 5 = 0.91616.
    assert c["osa_vs_fixed_b_line"][0]["pp_above_fixed_b_line"] == pytest.approx(-0.016)
    # An OSA point beyond B=8 with more accuracy dominates B=8; B=10 stays out of range.
    c = frontier_checks(base + [_row("OSA L=0.1", "OSA-HCIM", 0.91, 16.0)])
    assert c["osa_dominates_hcim"] is False  # 0.91 < 0.916 at >= 14 TOPS/W
    c = frontier_checks(base + [_row("OSA L=0.1", "OSA-HCIM", 0.917, 16.0)])
    assert c["osa_dominates_hcim"] is True and c["hcim_points_beyond_osa_range"] == ["HCIM B=10"]
    assert c["osa_dominates_every_fixed_b"] is False  # B=10 is beyond every OSA point
    c = frontier_checks(base + [_row("OSA L=0.1", "OSA-HCIM", 0.917, 16.0)], "HCIM B=8")
    assert c["osa_dominates_paper_hcim"] is True
    assert (
        frontier_checks(base + [_row("a", "OSA-HCIM", 0.917, 16.0)], "HCIM B=10")[
            "osa_dominates_paper_hcim"
        ]
        is False
    )  # beyond every OSA point
    assert (
        c["osa_dominates_hcim"] is True
        and frontier_checks(base)["osa_dominates_paper_hcim"] is None
    )
    c = frontier_checks(
        base + [_row("a", "OSA-HCIM", 0.917, 16.0), _row("b", "OSA-HCIM", 0.86, 20.0)]
    )
    assert c["osa_dominates_every_fixed_b"] is True
    assert (
        frontier_checks(base[:1] + [_row("a", "OSA-HCIM", 0.9, 9.5)])["osa_dominates_every_fixed_b"]
        is None
    )  # no fixed-B point at all
    # Line between B=8 (14, 0.916) and B=10 (19.5, 0.858) at 16: 0.916 - 0.058 * 2 / 5.5.
    gap = c["osa_vs_fixed_b_line"][0]["pp_above_fixed_b_line"]
    assert gap == pytest.approx(100 * (0.917 - (0.916 - 0.058 * 2 / 5.5)))
    # Outside the line's span: no number.
    c = frontier_checks(base + [_row("OSA L=0.5", "OSA-HCIM", 0.85, 20.0)])
    assert c["osa_vs_fixed_b_line"][0]["pp_above_fixed_b_line"] is None


@pytest.mark.slow
@needs_fmnist
def test_ose_orders_rekey_only_the_osa_points(tmp_path):
    """--ose-orders 4 recalibrates the OSE norms (not the ADC ranges or offsets) and keys OSA
    evaluations apart from s = 2, while DCIM and fixed-B blocks are shared between the two."""
    from cimkit.osa.report import ReportSettings, Runner

    torch.set_num_threads(1)
    r2 = Runner(tmp_path, ReportSettings(**TINY))
    r4 = Runner(tmp_path, ReportSettings(**TINY, ose_orders=4))
    assert all(lay.ose.s == 4 for lay in r4.layers)
    assert r2.calib_key_no_ose == r4.calib_key_no_ose
    assert r2.calib_key == r2.calib_key_no_ose and r4.calib_key != r2.calib_key
    for a, b in zip(r2.layers, r4.layers, strict=True):
        assert a.analog.full_scale == b.analog.full_scale
    assert any(a.ose.norm != b.ose.norm for a, b in zip(r2.layers, r4.layers, strict=True))
    r2.evaluate({"mode": "fixed", "boundary": 8}, "test", 0, 3)
    n_files = len(list((tmp_path / "cache").glob("*.json")))
    again = r4.evaluate({"mode": "fixed", "boundary": 8}, "test", 0, 3)
    assert len(list((tmp_path / "cache").glob("*.json"))) == n_files  # read back, not rerun
    assert again.n == 3
    spec = {"mode": "osa", "candidates": [8, 10], "thresholds": [[1.0]]}
    o2 = r2.evaluate(spec, "test", 0, 3)
    o4 = r4.evaluate(spec, "test", 0, 3)
    assert len(list((tmp_path / "cache").glob("*.json"))) == n_files + 2
    # OSE work per pixel follows s: 10 saliency one-bit MACs at s = 4 vs 3 at s = 2
    assert o4.counts["ose_nq"] == pytest.approx(o2.counts["ose_nq"] * 10 / 3)


def test_other_model_file_is_simulated_and_keyed_apart(tmp_path):
    """--model loads that file (its weights reach the simulator) and its hash keys every cache
    block apart from the shipped model's, so two models never share a cached result."""
    from cimkit.osa.report import ReportSettings, Runner
    from cimkit.osa.train import SHIPPED_MODEL

    torch.set_num_threads(1)
    payload = torch.load(SHIPPED_MODEL, weights_only=True)
    payload["levels"]["fc"] = -payload["levels"]["fc"]  # another network, same format
    other = tmp_path / "other.pt"
    torch.save(payload, other)
    r0 = Runner(tmp_path, ReportSettings(**TINY))
    r1 = Runner(tmp_path, ReportSettings(**TINY, model=str(other)))
    assert r0.model_hash != r1.model_hash and r0.calib_key_no_ose != r1.calib_key_no_ose
    fc0, fc1 = r0.layers[-1], r1.layers[-1]
    assert torch.equal(fc1.w_int, -fc0.w_int)
    a = r0.evaluate({"mode": "dcim"}, "test", 0, 3)
    b = r1.evaluate({"mode": "dcim"}, "test", 0, 3)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert a.loss != b.loss


def test_random_control_spec_by_hand() -> None:
    """Demoted shares per layer from a B histogram: layer 0 holds 6/3/1 decisions at B = 8,
    9, 10, so 40 % are at 9 or beyond and 10 % at 10; an empty layer demotes nobody."""
    import numpy as np

    from cimkit.osa.report import random_control_spec

    h = np.zeros((2, 16), dtype=np.int64)
    h[0, [8, 9, 10]] = [6, 3, 1]
    spec = random_control_spec(h, [8, 9, 10])
    assert spec["mode"] == "random" and spec["candidates"] == [8, 9, 10]
    assert spec["thresholds"][0] == pytest.approx([0.4, 0.1])
    assert spec["thresholds"][1] == [0.0, 0.0]
