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
from cimkit.pimhls.dfg import schedule_order
from cimkit.pimhls.plan import Schedule
from cimkit.pimhls.schedule import prepare, split_layer
from cimkit.pimhls.technology import get_technology
from cimkit.workload.builtin import get_network

TOL = 1 + 1e-9


@pytest.fixture(scope="module")
def vgg8():
    return get_network("vgg8")


#: SRAM for the two 1024-vector layers of VGG-8, RRAM for the rest (the paper's hybrid).
HYBRID = ("sram",) * 2 + ("rram",) * 6


def _one_copy_area(workload, assignment) -> float:
    """mm^2 of one copy of every crossbar layer under a per-layer technology assignment."""
    mapper, _, _ = prepare(workload, 1e6, list(assignment))
    return sum(float(mapper.one_copy_area(t)[j]) for j, t in enumerate(assignment))


def _one_channel_area(workload, tech: str) -> dict[str, float]:
    """mm^2 of one output channel of each crossbar layer on ``tech``'s default arrays."""
    layers = schedule_order(workload)
    pieces = [split_layer(layer, layer.out_channels)[0] for layer in layers]
    area = get_technology(tech).layer_costs(pieces).area_mm2[0]
    return {layer.name: float(a) for layer, a in zip(layers, area, strict=True)}


def _resident_budget(vgg8) -> float:
    # 10% above one copy of the hybrid: every design can keep its weights resident.
    budget = 1.1 * _one_copy_area(vgg8, HYBRID)
    assert budget > _one_copy_area(vgg8, ("rram",) * 8)
    return budget


def test_heterogeneous_never_worse_than_homogeneous_when_resident(vgg8) -> None:
    budget = _resident_budget(vgg8)
    hetero = optimize(vgg8, budget, tune=False)
    rram = optimize(vgg8, budget, ("rram",), tune=False)
    sram = optimize(vgg8, budget, ("sram",), tune=False)
    assert isinstance(hetero, Schedule)
    assert rram.resident and hetero.resident
    assert hetero.cycles <= min(rram.cycles, sram.cycles)
    assert hetero.area_mm2 <= budget * TOL
    budgets = json.loads(hetero.notes["tech_budgets_mm2"])
    assert sum(budgets.values()) <= budget * TOL


def test_heterogeneous_beats_homogeneous_when_resident(vgg8) -> None:
    budget = _resident_budget(vgg8)
    hetero = optimize(vgg8, budget, tune=False)
    rram = optimize(vgg8, budget, ("rram",), tune=False)
    assert hetero.cycles < rram.cycles  # SRAM for the 1024-vector layers, RRAM for the rest
    assert set(hetero.notes["assignment"]) == {"S", "R"}


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
    # One output channel of classifier.0 (8192 inputs) is the largest on both technologies.
    units = {t: _one_channel_area(vgg8, t) for t in ("sram", "rram")}
    assert all(max(u, key=u.get) == "classifier.0" for u in units.values())
    budget = 0.9 * min(u["classifier.0"] for u in units.values())
    # RRAM alone: a budget just under its own classifier.0 channel (the next layer fits).
    with pytest.raises(InfeasibleDesignError, match="classifier.0"):
        optimize(vgg8, 0.9 * units["rram"]["classifier.0"], ("rram",), input_splits=False)
    # Heterogeneous: every candidate and split fails; the message is the last failure's, which
    # may name another layer that does not fit its technology's share.
    with pytest.raises(InfeasibleDesignError, match=r"smallest piece \(one output channel\)"):
        optimize(vgg8, budget, input_splits=False)


def test_input_splits_fit_a_large_fan_in(vgg8) -> None:
    # Below one output channel of classifier.0 (8192 inputs = 32 row tiles of RRAM), only
    # input-channel pieces fit: the design becomes feasible, and every piece fits the budget.
    budget = 0.9 * _one_channel_area(vgg8, "rram")["classifier.0"]
    sched = optimize(vgg8, budget, ("rram",), tune=False)
    cls = [m for g in sched.groups for m in g.members if m.layer == "classifier.0"]
    assert {m.split_axis for m in cls} == {"in"}
    assert sorted(m.piece for m in cls) == list(range(cls[0].pieces))
    assert all(m.area_mm2 <= budget * (1 + 1e-9) for m in cls)
    assert all(g.area_mm2 <= budget * (1 + 1e-9) for g in sched.groups)
    # The plan table names the axis.
    assert set(schedule_table(sched).query("layer == 'classifier.0'")["split_axis"]) == {"in"}


def test_sweep_and_plots(tmp_path) -> None:
    small = first_crossbar_layers(get_network("vgg8"), 4)
    # Areas: below one output channel of the largest layer on either technology (infeasible),
    # a little above it on both (layers split), and 2.5x one RRAM copy (resident, duplicated).
    units = [max(_one_channel_area(small, t).values()) for t in ("sram", "rram")]
    areas = (0.5 * min(units), 1.25 * max(units), 2.5 * _one_copy_area(small, ("rram",) * 4))
    # Output-channel splits only, so the smallest area stays infeasible.
    df = sweep([small], areas_mm2=areas, families=("RRAM", "Hetero"), input_splits=False)
    assert len(df) == 3 * 2 * 3
    assert set(df["design"]) == {
        f"{f}-{lvl}" for f in ("RRAM", "Hetero") for lvl in ("G", "S", "SP")
    }
    ok = df[df["feasible"]]
    assert (ok["area_mm2"] <= ok["area_budget_mm2"] * TOL).all()
    assert (ok["speedup_vs_greedy"] >= 1.0 - 1e-12).all()
    assert not df[(df["area_budget_mm2"] == areas[0]) & (df["family"] == "RRAM")]["feasible"].any()
    assert df[df["area_budget_mm2"] > areas[0]]["feasible"].all()
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
