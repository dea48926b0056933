"""End-to-end optimizer API, tables and the report sweep."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cimkit.errors import InfeasibleDesignError
from cimkit.pimhls import (
    first_crossbar_layers,
    hardware_table,
    optimize,
    optimize_levels,
    plot_sweep,
    schedule_table,
    sweep,
)
from cimkit.pimhls.plan import Schedule
from cimkit.workload.builtin import get_network

TOL = 1 + 1e-9


@pytest.fixture(scope="module")
def vgg8():
    return get_network("vgg8")


def test_heterogeneous_beats_homogeneous_when_resident(vgg8) -> None:
    hetero = optimize(vgg8, 160.0, tune=False)
    rram = optimize(vgg8, 160.0, ("rram",), tune=False)
    sram = optimize(vgg8, 160.0, ("sram",), tune=False)
    assert isinstance(hetero, Schedule)
    assert hetero.cycles <= min(rram.cycles, sram.cycles)
    assert hetero.cycles < rram.cycles  # SRAM for the 1024-vector layers, RRAM for the rest
    assert set(hetero.notes["assignment"]) == {"S", "R"}
    assert hetero.area_mm2 <= 160.0 * TOL
    budgets = json.loads(hetero.notes["tech_budgets_mm2"])
    assert sum(budgets.values()) <= 160.0 * TOL


def test_levels_are_ordered(vgg8) -> None:
    levels = optimize_levels(vgg8, 24.0, ("rram",))
    assert levels["SP"].cycles <= levels["S"].cycles <= levels["G"].cycles
    assert levels["G"].notes["method"] == "greedy" and levels["SP"].notes["tuned"] == "true"
    assert all(s.area_mm2 <= 24.0 * TOL for s in levels.values())


def test_tables(vgg8) -> None:
    sched = optimize(vgg8, 40.0, ("sram",))
    table = schedule_table(sched)
    assert len(table) == sum(len(g.members) for g in sched.groups)
    assert table.groupby("group")["bottleneck"].sum().eq(1).all()
    first = table.drop_duplicates("group")
    assert first["start_cycle"].iloc[-1] + first["group_cycles"].iloc[-1] == sched.cycles
    assert (table["compute_cycles"] <= table["group_compute_cycles"]).all()
    hw = hardware_table(sched)
    assert hw["area_mm2"].sum() == pytest.approx(sched.area_mm2)
    assert int(sched.notes["unscheduled_rows"]) == 10  # 7 act + 3 pool rows of VGG-8


def test_infeasible_everywhere_raises(vgg8) -> None:
    with pytest.raises(InfeasibleDesignError, match="classifier.0"):
        optimize(vgg8, 3.0)


def test_sweep_and_plots(tmp_path) -> None:
    small = first_crossbar_layers(get_network("vgg8"), 4)
    df = sweep([small], areas_mm2=(0.5, 4.0, 30.0), families=("RRAM", "Hetero"))
    assert len(df) == 3 * 2 * 3
    assert set(df["design"]) == {
        f"{f}-{lvl}" for f in ("RRAM", "Hetero") for lvl in ("G", "S", "SP")
    }
    ok = df[df["feasible"]]
    assert (ok["area_mm2"] <= ok["area_budget_mm2"] * TOL).all()
    assert (ok["speedup_vs_greedy"] >= 1.0 - 1e-12).all()
    assert not df[(df["area_budget_mm2"] == 0.5) & (df["family"] == "RRAM")]["feasible"].any()
    piv = ok.pivot_table(index="area_budget_mm2", columns="design", values="cycles")
    assert (piv["Hetero-S"] <= piv["RRAM-S"]).all()
    paths = plot_sweep(df, tmp_path)
    assert [p.name for p in paths] == [
        "pimhls_sweep.csv",
        f"pimhls_latency_{small.name}.png",
        f"pimhls_speedup_{small.name}.png",
    ]
    assert all(p.stat().st_size > 0 for p in paths)
    assert len(pd.read_csv(paths[0])) == len(df)
