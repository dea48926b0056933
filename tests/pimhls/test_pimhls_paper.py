"""Input-channel splits, the paper's baseline comparison and the sensitivity sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cimkit.pimhls import first_crossbar_layers
from cimkit.pimhls.paper import (
    baseline_schedule,
    comparison,
    headline,
    sensitivity,
    sensitivity_settings,
)
from cimkit.pimhls.schedule import dp_groups, exhaustive_groups, prepare
from cimkit.pimhls.technology import get_technology
from cimkit.workload.builtin import get_network
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload


def _mlp(fan_in: int = 2048) -> Workload:
    """fc1 with a large fan-in (8 RRAM row tiles of 256), then two small layers."""
    layers = (
        make_layer("fc1", "linear", in_channels=fan_in, out_channels=64, inputs=("",)),
        make_layer("fc2", "linear", in_channels=64, out_channels=96, inputs=("fc1",)),
        make_layer("fc3", "linear", in_channels=96, out_channels=10, inputs=("fc2",)),
    )
    return Workload("mlp", layers)


def test_input_split_dp_equals_brute_force() -> None:
    wl = _mlp()
    array = float(get_technology("rram").array_area_mm2([get_technology("rram").default])[0])
    # One output channel of fc1 needs its 8 row tiles; budgets of 3..7 arrays fit only
    # input-channel pieces.
    for arrays in (3, 4, 5, 7):
        budget = arrays * array * 1.0001
        _, items, caps = prepare(wl, budget, "rram", input_splits=True)
        fc1 = [k for k in range(len(items)) if items.names[k] == "fc1"]
        assert {items.axis_of(k) for k in fc1} == {"in"}
        assert items.pieces[fc1[0]] == -(-8 // arrays)  # ceil(8 row tiles / arrays)
        # Input pieces cover the fan-in once and each keeps all 64 outputs.
        assert sum(items.layers[k].in_channels for k in fc1) == 2048
        assert all(items.layers[k].out_channels == 64 for k in fc1)
        assert np.all(items.base_area <= caps[0] * (1 + 1e-9))
        groups, cycles = dp_groups(items, caps)
        _, brute, _ = exhaustive_groups(items, caps)
        assert cycles == brute
        with pytest.raises(Exception, match="fc1"):  # output channels alone cannot fit
            prepare(wl, budget, "rram", input_splits=False)


def test_input_splits_never_slower_in_the_optimizer() -> None:
    from cimkit.pimhls.optimize import optimize

    small = first_crossbar_layers(get_network("vgg8"), 4)
    for area in (2.0, 4.0):
        with_in = optimize(small, area, ("rram",), tune=False)
        without = optimize(small, area, ("rram",), tune=False, input_splits=False)
        f = sum(g.write_cycles + g.compute_cycles for g in with_in.groups)
        f0 = sum(g.write_cycles + g.compute_cycles for g in without.groups)
        assert f <= f0  # the DP objective F; the faster item list is kept


def test_headline_arithmetic_by_hand() -> None:
    # Four (network, baseline) pairs at 16 mm^2 with the paper's baseline areas and made-up
    # speedups 2, 8, 1, 4.
    table = pd.DataFrame(
        {
            "area_budget_mm2": [16.0] * 4,
            "baseline_area_mm2": [39.0, 47.0, 93.0, 62.0],
            "speedup": [2.0, 8.0, 1.0, 4.0],
        }
    )
    table["area_ratio"] = table["baseline_area_mm2"] / 16.0
    table["area_saving"] = 1 - 16.0 / table["baseline_area_mm2"]
    h = headline(table).iloc[0]
    assert h["pairs"] == 4
    assert h["speedup_mean"] == pytest.approx(15 / 4)
    assert h["speedup_geomean"] == pytest.approx(64 ** (1 / 4))  # (2*8*1*4)^(1/4)
    # 1 - 16/39 = 0.58974, 1 - 16/47 = 0.65957, 1 - 16/93 = 0.82796, 1 - 16/62 = 0.74194
    assert h["area_saving_mean"] == pytest.approx(0.704803, abs=1e-6)
    assert h["area_ratio_mean"] == pytest.approx((39 + 47 + 93 + 62) / 64)  # 3.765625
    assert h["paper_speedup"] == 4.8
    assert h["paper_area_ratio"] == pytest.approx(1 / 0.272)  # 72.8 % less area = 3.68x
    # The paper's means are over VGG-8 and ResNet-18 only: another network gets no paper figure.
    other = headline(table.assign(network="mlp")).iloc[0]
    assert np.isnan(other["paper_speedup"]) and np.isnan(other["paper_area_ratio"])
    assert headline(table.assign(network="vgg8")).iloc[0]["paper_speedup"] == 4.8


def test_baseline_is_resident_one_copy_and_comparison_ratios() -> None:
    small = first_crossbar_layers(get_network("vgg8"), 4)
    b = baseline_schedule(small, "rram")
    assert len(b.groups) == 1 and b.resident
    assert all(m.copies == 1 and m.write_cycles == 0 for m in b.groups[0].members)
    _, items, _ = prepare(small, 1e9, "rram")
    assert b.area_mm2 == pytest.approx(float(items.base_area.sum()))
    area = 0.5 * b.area_mm2
    t = comparison([small], [area])
    assert list(t["design"]) == ["Hetero-SP", "Hetero-SP", "RRAM-SP", "SRAM-SP"]
    assert list(t["baseline"]) == ["RRAM", "SRAM", "RRAM", "SRAM"]
    assert headline(t)["pairs"].tolist() == [2]  # the headline averages the Hetero-SP rows
    r = t.iloc[0]
    assert r["baseline_latency_s"] == pytest.approx(b.latency_s)
    assert r["speedup"] == pytest.approx(b.latency_s / r["design_latency_s"])
    assert r["area_saving"] == pytest.approx(0.5)
    assert r["design_area_mm2"] <= area * (1 + 1e-9)


def test_sensitivity_more_bandwidth_fewer_write_cycles() -> None:
    small = first_crossbar_layers(get_network("vgg8"), 4)
    settings = [s for s in sensitivity_settings() if s.input == "dram_bandwidth_gb_s"]
    assert [s.value for s in settings] == [25.6, 102.4, 409.6] and settings[0].default
    df = sensitivity([small], [1.5], settings[::2], tune_passes=1)
    assert len(df) == 2 and list(df["value"]) == [25.6, 409.6]
    share = df["rram_s_write_share"].to_numpy()
    assert 0 < share[1] < share[0] < 1
    # The resident areas do not depend on the DRAM.
    assert df["rram_resident_mm2"].nunique() == 1


def test_min_area_is_the_feasibility_threshold() -> None:
    from cimkit.errors import InfeasibleDesignError
    from cimkit.pimhls.schedule import min_area_mm2

    small = first_crossbar_layers(get_network("resnet18"), 6)
    for input_splits in (False, True):
        area, layer = min_area_mm2(small, "rram", input_splits=input_splits)
        prepare(small, area * 1.0001, "rram", input_splits=input_splits)
        with pytest.raises(InfeasibleDesignError, match=layer):
            prepare(small, area * 0.999, "rram", input_splits=input_splits)
    # With input splits the threshold is set by layer1.0.conv2, which the generator fuses the
    # block's residual add into: it takes output pieces only (its one-output-channel piece).
    assert min_area_mm2(small, "rram", input_splits=True)[1] == "layer1.0.conv2"
    # One input channel of a 3x3 conv is 9 rows: far smaller than one output channel.
    vgg = first_crossbar_layers(get_network("vgg8"), 4)
    assert min_area_mm2(vgg, "rram", input_splits=True)[0] < min_area_mm2(vgg, "rram")[0]


def test_fused_add_layers_take_output_pieces_only() -> None:
    """The optimizer never cuts a layer the generator fuses a residual add into along input
    channels (the add's operand and the partial sum would both need the skip region): it cuts
    that layer along output channels, or reports the budget infeasible, and still cuts other
    layers along input channels. The generator then builds the plan."""
    from cimkit import codegen
    from cimkit.codegen.lowering import lower, resolve_relu
    from cimkit.codegen.networks import reduced
    from cimkit.errors import InfeasibleDesignError
    from cimkit.pimhls.dfg import fused_add_layers
    from cimkit.pimhls.optimize import _mapper, optimize
    from cimkit.pimhls.schedule import Mapper, min_area_mm2

    small = first_crossbar_layers(get_network("resnet18"), 6)
    assert fused_add_layers(small) == {"layer1.0.conv2", "layer1.1.conv2"}  # the blocks' conv2
    mapper = _mapper(small, ("rram",), None)
    free = Mapper(mapper.layers, mapper.techs)  # the cost model alone would allow it
    j = [layer.name for layer in mapper.layers].index("layer1.0.conv2")
    assert mapper.units(j, "in") == 0 and free.units(j, "in") == 64
    # Below one output channel of the 64 -> 64 3x3 convs only input pieces fit.
    budget = {"rram": 0.9 * min_area_mm2(small, "rram")[0]}
    assign = ("rram",) * len(mapper.layers)
    assert free.items(assign, budget, True).axis[j] == "in"
    with pytest.raises(InfeasibleDesignError, match=r"layer1\.0\.conv2"):
        mapper.items(assign, budget, True)

    wl = reduced("mobilenetv2")  # residual adds fused into the projection convs
    s = optimize(wl, 0.2, ("sram",), False, None, max_copies=63, max_members=16)
    split_in = {m.layer for g in s.groups for m in g.members if m.split_axis == "in"}
    assert split_in and not split_in & fused_add_layers(wl)
    ops = lower(wl)
    shifts = {g.name: 8 for g in ops if g.is_mac}
    codegen.build(s, wl, codegen.random_weights(wl, 0), shifts, resolve_relu(ops, None))


def test_technology_table_energy_column() -> None:
    from cimkit.pimhls.technology import technology_table

    t = technology_table().set_index("tech")
    assert np.all(np.isfinite(t["compute_energy_fj_per_mac"]))
    assert np.all(t["compute_energy_fj_per_mac"] > 0)
    assert "compute_energy_fj_per_mac" not in technology_table(energy=False)


def test_input_pieces_never_take_less_area_than_the_whole_layer() -> None:
    # Mapper.split skips costing input pieces when output pieces waste no array area; that is
    # exact only if input pieces of a layer never need fewer arrays than the whole layer.
    from cimkit.pimhls.dfg import schedule_order
    from cimkit.pimhls.schedule import axis_piece, axis_piece_units, input_split_units

    layers = schedule_order(first_crossbar_layers(get_network("resnet18"), 8))
    layers += schedule_order(get_network("vgg8"))[-3:]
    for tech in ("rram", "sram"):
        t = get_technology(tech)
        whole = t.layer_costs(layers).arrays[0]
        for j, layer in enumerate(layers):
            for k in (2, 3, 7):
                if input_split_units(layer) >= k:
                    units = axis_piece_units(layer, k, "in")
                    parts = [axis_piece(layer, u, "in") for u in units]
                    assert t.layer_costs(parts).arrays[0].sum() >= whole[j]


def _chain(sizes: list[int], tokens: int) -> Workload:
    layers, prev = [], ""
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(
            make_layer(
                f"fc{i}", "linear", in_channels=a, out_channels=b, out_h=tokens, inputs=(prev,)
            )
        )
        prev = f"fc{i}"
    return Workload("chain", tuple(layers))


def test_joint_axis_dp_equals_brute_force_over_axes_and_groupings() -> None:
    """dp_groups_axes = the best of every axis choice x every grouping (exhaustive)."""
    import itertools

    from cimkit.errors import InfeasibleDesignError
    from cimkit.pimhls.dfg import schedule_order
    from cimkit.pimhls.schedule import Mapper, dp_groups, dp_groups_axes, interval_costs
    from cimkit.pimhls.technology import technologies

    rng = np.random.default_rng(1)
    rram = get_technology("rram")
    array = float(rram.array_area_mm2([rram.default])[0])
    checked = with_choice = better = 0
    for _ in range(40):
        sizes = [int(x) for x in rng.choice([96, 200, 300, 600, 700], 4)]
        wl = _chain(sizes, int(rng.choice([1, 4, 16])))
        mapper = Mapper(schedule_order(wl), technologies(["rram"]))
        budget = float(rng.uniform(2.5, 9)) * array
        assign, budgets, caps = ["rram"] * 3, {"rram": budget}, np.array([budget])
        try:
            options = mapper.layer_options(assign, budgets)
        except InfeasibleDesignError:
            continue
        items, groups, cycles = dp_groups_axes(mapper, assign, budgets, caps)
        starts, ends = np.array(groups).T
        t, w, ok = interval_costs(items, caps, starts, ends)
        assert ok.all() and int((t + w).sum()) == cycles  # the plan is what the DP costed
        brute = min(
            exhaustive_groups(mapper.items_for(assign, budgets, dict(enumerate(c))), caps)[1]
            for c in itertools.product(*options)
        )
        assert cycles == brute
        checked += 1
        with_choice += any(len(o) > 1 for o in options)
        try:
            better += cycles < dp_groups(mapper.items(assign, budgets), caps)[1]
        except InfeasibleDesignError:
            better += 1
    assert checked >= 30 and with_choice >= 15 and better >= 5  # the choice matters


def test_optimize_joint_never_slower_than_the_two_way_rule() -> None:
    from cimkit.pimhls.optimize import optimize

    wl = _chain([700, 600, 300, 96], 16)
    for area in (0.6, 1.0):
        joint = optimize(wl, area, ("rram",), tune=False, input_splits="joint")
        pair = optimize(wl, area, ("rram",), tune=False, input_splits=True)
        f = [sum(g.write_cycles + g.compute_cycles for g in s.groups) for s in (joint, pair)]
        assert f[0] <= f[1]
    with pytest.raises(Exception, match="input_splits"):
        optimize(wl, 1.0, ("rram",), tune=False, input_splits="both")
