"""plan_for, the cycle estimate, schedule checks and the instruction stream of a schedule."""

from __future__ import annotations

import dataclasses

import pytest

from cimkit import codegen
from cimkit.codegen.program import build
from cimkit.errors import CimkitError
from cimkit.pimhls.plan import LayerGroup, Schedule


def _build(schedule, wl, weights):
    chain = codegen.mac_chain(wl)
    return build(schedule, wl, weights, {g.name: 8 for g in chain},
                 {g.name: True for g in chain})  # fmt: skip


def test_piece_channels_balanced_and_cover():
    for k, n in [(10, 4), (9, 4), (32, 2), (5, 5)]:
        ranges = [codegen.piece_channels(k, i, n) for i in range(n)]
        assert ranges[0][0] == 0 and ranges[-1][1] == k
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(hi > lo for lo, hi in ranges)
    with pytest.raises(CimkitError):
        codegen.piece_channels(4, 0, 5)


def test_plan_for_rules(cnn_parts):
    wl, _ = cnn_parts
    s = codegen.plan_for(
        wl, [["conv1", "conv2"], [("fc1", 0)], [("fc1", 1), "fc2"]], rows=32, cols=16,
        copies={"conv1": 2}, tech={"fc2": "rram"}, adcs=4,
    )  # fmt: skip
    m = {(p.layer, p.piece): p for g in s.groups for p in g.members}
    conv1 = m[("conv1", 0)]
    assert (conv1.vectors, conv1.copies, conv1.cycles_per_vector) == (64, 2, 8)
    assert conv1.compute_cycles == 32 * 8
    # in_len 3*3*3 rows, broadcast to both copies, SRAM 1 cycle a row
    assert conv1.write_cycles == 27
    assert conv1.arrays == 1
    fc1 = m[("fc1", 1)]
    assert (fc1.pieces, fc1.arrays, fc1.vectors) == (2, 8, 1)  # 256 rows / 32, 16 cols / 16
    assert fc1.write_cycles == 32  # 8 row tiles program in parallel: 32 row steps
    fc2 = m[("fc2", 0)]
    assert fc2.tile.tech == "rram"
    assert fc2.cycles_per_vector == 4 * 3  # ceil(8/2) DAC slices x ceil(10 cols / 4 ADCs)
    assert fc2.write_cycles == 32 * 4  # 32 rows fit one array: 32 steps of 4 cycles
    assert codegen.estimate_cycles(s) == s.cycles
    assert s.cycles == sum(g.write_cycles + g.compute_cycles + g.fill_cycles for g in s.groups)
    assert all(g.fill_cycles > 0 for g in s.groups)  # the pipeline model (pimhls.pipeline)


def test_plan_for_rejects_bad_groups(mlp_parts):
    wl, _ = mlp_parts
    with pytest.raises(CimkitError):
        codegen.plan_for(wl, [["fc1", "fc2"]])  # fc3 missing
    with pytest.raises(CimkitError):
        codegen.plan_for(wl, [["fc1", "fc2", "fc3", "fc1"]])
    with pytest.raises(CimkitError):
        codegen.plan_for(wl, [["fc1", "nope"]])


def test_cycle_error():
    assert codegen.cycle_error(105, 100) == pytest.approx(0.05)


def test_instruction_counts(cnn_parts):
    wl, weights = cnn_parts
    groups = [["conv1", "conv2"], [("fc1", 0)], [("fc1", 1), "fc2"]]
    s = codegen.plan_for(wl, groups, rows=32, cols=16, copies={"conv1": 2})
    dm = _build(s, wl, weights)
    ops = [ins.op for ins in dm.program]
    placements = sum(len(g.members) for g in s.groups)
    assert ops.count("LOAD_W") == placements == 5
    assert ops.count("COMPUTE") == placements
    assert ops.count("SETIN") == placements
    assert ops.count("SYNC") == len(s.groups)
    assert ops.count("CLRV") == len(s.groups) - 1
    assert ops[-1] == "HALT" and ops.count("HALT") == 1
    # network input -> conv1; conv2 (group 0) -> fc1 piece 1 (group 2) goes through the GB
    assert ops.count("MOVE") == 2
    loads = {ins.comment.split(":")[0]: ins for ins in dm.program if ins.op == "LOAD_W"}
    assert loads["conv1 piece 0/1"]["copies"] == 2 and loads["conv1 piece 0/1"]["steps"] == 27
    # 256 weight rows in 32-row arrays: 8 row tiles written in parallel, 32 row steps
    assert loads["fc1 piece 1/2"]["steps"] == 32
    assert dm.hardware.tiles[loads["fc1 piece 1/2"]["tile"]].rt == 8
    # the step latency reproduces the plan's write cycles exactly under plan_for rules
    for p in dm.pieces:
        assert p.wlat * p.steps == p.placement.write_cycles  # steps broadcast to copies
        assert p.steps == min(p.slice.in_len, 32)
    # a group's LOAD_Ws come first, its COMPUTEs (which wait for them) before its SYNC
    first_compute = ops.index("COMPUTE")
    assert ops.index("LOAD_W") < first_compute < ops.index("SYNC")


def test_slowest_member_gets_tile_zero(mlp_parts):
    wl, weights = mlp_parts
    s = codegen.plan_for(wl, [["fc1", "fc2", "fc3"]], copies={"fc1": 4, "fc2": 2})
    dm = _build(s, wl, weights)
    tiles = {p.placement.layer: p.tile for p in dm.pieces}
    assert tiles == {"fc3": 0, "fc2": 1, "fc1": 2}
    assert dm.hardware.tiles[2].ncopy == 4


def test_schedule_contract_violations(mlp_parts):
    wl, weights = mlp_parts
    good = codegen.plan_for(wl, [["fc1"], ["fc2", "fc3"]])
    # consumer scheduled before its producer
    swapped = dataclasses.replace(good, groups=(good.groups[1], good.groups[0]))
    with pytest.raises(CimkitError, match="before its input"):
        _build(swapped, wl, weights)
    # vectors disagree with the layer
    m = good.groups[0].members[0]
    bad_m = dataclasses.replace(m, vectors=m.vectors + 1)
    bad = dataclasses.replace(good, groups=(LayerGroup((bad_m,)), good.groups[1]))
    with pytest.raises(CimkitError, match="vectors"):
        _build(bad, wl, weights)
    # a layer left out
    missing = Schedule(good.network, good.groups[:1], good.area_budget_mm2, good.cycle_time_ns)
    with pytest.raises(CimkitError, match="pieces"):
        _build(missing, wl, weights)
    # an unknown split axis (input-channel pieces, 'in', are generated: test_codegen_sim)
    ax_m = dataclasses.replace(m, split_axis="rows")
    bad_axis = dataclasses.replace(good, groups=(LayerGroup((ax_m,)), good.groups[1]))
    with pytest.raises(CimkitError, match="split_axis"):
        _build(bad_axis, wl, weights)


def test_input_split_of_a_fused_add_layer_is_refused(branch_parts):
    """A hand plan cutting c2 (the residual add's host) along input channels is a one-line
    error; the optimizer never plans it (cimkit.pimhls.dfg.fused_add_layers)."""
    from cimkit.pimhls.dfg import fused_add_layers

    wl, weights = branch_parts
    assert fused_add_layers(wl) == {"c2"}
    s = codegen.plan_for(wl, [["a", "b", "c"], ["c2"]], rows=32, cols=8, pieces={"c2": 2},
                         axes={"c2": "in"})  # fmt: skip
    with pytest.raises(CimkitError, match="'c2'.*output channels only"):
        _build(s, wl, weights)
    ok = codegen.plan_for(wl, [["a", "b", "c"], ["c2"]], rows=32, cols=8, pieces={"b": 2},
                          axes={"b": "in"})  # fmt: skip
    _build(ok, wl, weights)
