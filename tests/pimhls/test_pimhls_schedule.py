"""Runtime weight scheduling (Algorithm 1): DP optimality, greedy baseline, split, duplication."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.errors import InfeasibleDesignError
from cimkit.pimhls.schedule import (
    copies_for,
    dp_groups,
    exhaustive_groups,
    greedy_copies,
    greedy_groups,
    interval_costs,
    make_schedule,
    min_max_copies,
    piece_channels,
    prepare,
    schedule_dp,
    schedule_exhaustive,
    schedule_greedy,
    split_layer,
)
from cimkit.pimhls.technology import get_technology
from cimkit.workload.builtin import get_network
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload

TOL = 1 + 1e-9


def _greedy_total(items, caps, max_copies=None, max_members=None) -> int:
    groups = greedy_groups(items, caps, max_members)
    starts, ends = np.array(groups).T
    t, write, ok = interval_costs(items, caps, starts, ends, max_copies)
    assert ok.all()
    return int((t + write).sum())


def _schedule_of(items, caps, groups, copies=None):
    return make_schedule(
        items,
        groups,
        copies,
        caps,
        network="x",
        area_mm2=float(caps.sum()),
        cycle_time_ns=1.0,
        notes={},
    )


def _random_workload(rng: np.random.Generator, n: int) -> Workload:
    layers, prev = [], ""
    for k in range(n):
        hw = int(rng.choice([4, 8, 16, 32]))
        if rng.random() < 0.25:
            layer = make_layer(
                f"fc{k}",
                "linear",
                in_channels=int(rng.integers(16, 2048)),
                out_channels=int(rng.integers(4, 512)),
                inputs=(prev,),
            )
        else:
            k_size = int(rng.choice([1, 3]))
            layer = make_layer(
                f"conv{k}",
                "conv",
                in_channels=int(rng.integers(3, 300)),
                out_channels=int(rng.integers(4, 400)),
                in_h=hw,
                in_w=hw,
                out_h=hw,
                out_w=hw,
                kernel_h=k_size,
                kernel_w=k_size,
                inputs=(prev,),
            )
        layers.append(layer)
        prev = layer.name
    return Workload("random", tuple(layers))


# ------------------------------------------------------------------ (a) DP == exhaustive
def test_dp_equals_exhaustive_on_300_random_instances(make_random_items) -> None:
    rng = np.random.default_rng(1234)
    for trial in range(300):
        n = int(rng.integers(1, 10))
        items, caps = make_random_items(rng, n, 1 + trial % 2)
        groups, total = dp_groups(items, caps)
        _, best, _ = exhaustive_groups(items, caps)
        assert total == best, (trial, groups)
        # The plan built from the DP groups reproduces the DP's latency.
        assert _schedule_of(items, caps, groups).cycles == total


def test_dp_equals_exhaustive_with_generator_limits(make_random_items) -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        items, caps = make_random_items(rng, int(rng.integers(2, 9)), 1 + trial % 2)
        lim = dict(max_copies=int(rng.integers(1, 6)), max_members=int(rng.integers(1, 4)))
        groups, total = dp_groups(items, caps, **lim)
        _, best, _ = exhaustive_groups(items, caps, **lim)
        assert total == best
        sched = make_schedule(
            items,
            groups,
            None,
            caps,
            network="x",
            area_mm2=1.0,
            cycle_time_ns=1.0,
            notes={},
            max_copies=lim["max_copies"],
        )
        assert all(len(g.members) <= lim["max_members"] for g in sched.groups)
        assert all(m.copies <= lim["max_copies"] for g in sched.groups for m in g.members)


def test_dp_equals_exhaustive_on_random_networks_through_the_cost_model() -> None:
    rng = np.random.default_rng(99)
    for _ in range(20):
        wl = _random_workload(rng, int(rng.integers(2, 7)))
        _, items, _ = prepare(wl, 1e6, "rram")
        total = float(items.base_area.sum())
        # Budgets from "a few arrays" to "everything fits", splitting large layers.
        budget = float(items.base_area.max()) * rng.uniform(0.3, 1.0) + total * rng.uniform(0, 0.6)
        tech = str(rng.choice(["sram", "rram"]))
        try:
            dp = schedule_dp(wl, budget, assignment=tech)
        except InfeasibleDesignError:
            continue
        if sum(len(g.members) for g in dp.groups) > 12:
            continue
        ex = schedule_exhaustive(wl, budget, assignment=tech)
        assert dp.cycles == ex.cycles


# ------------------------------------------------------------------ (b) DP <= greedy
def test_dp_never_worse_than_greedy(make_random_items) -> None:
    rng = np.random.default_rng(5)
    for trial in range(200):
        items, caps = make_random_items(rng, int(rng.integers(1, 30)), 1 + trial % 2)
        _, total = dp_groups(items, caps)
        assert total <= _greedy_total(items, caps)


def test_dp_beats_greedy_on_the_papers_vgg8_example() -> None:
    # Section IV-B: VGG-8 on an 8 Mb RRAM accelerator. One default RRAM array holds
    # 256 x 256 cells of 4 bits = 32768 8-bit weights = 2^18 bits, so 8 Mb = 32 arrays.
    wl = get_network("vgg8")
    _, items, _ = prepare(wl, 1e6, "rram")
    budget = 32 * float(items.array_area[0])
    dp = schedule_dp(wl, budget, assignment="rram")
    greedy = schedule_greedy(wl, budget, assignment="rram")
    assert dp.cycles < greedy.cycles
    dp_compute = sum(g.compute_cycles for g in dp.groups)
    greedy_compute = sum(g.compute_cycles for g in greedy.groups)
    assert dp_compute < greedy_compute
    # Greedy fills the first group with the first layers; the DP gives the 1024-vector
    # layers their own groups to duplicate them.
    assert [m.layer for m in greedy.groups[0].members][:2] == ["features.0", "features.2"]
    assert dp.groups[0].members[0].copies > greedy.groups[0].members[0].copies


# ------------------------------------------------------------------ (c) split
@pytest.mark.parametrize(
    "layer",
    [
        make_layer("fc", "linear", in_channels=8192, out_channels=1000),
        make_layer(
            "c",
            "conv",
            in_channels=64,
            out_channels=130,
            kernel_h=3,
            kernel_w=3,
            in_h=8,
            in_w=8,
            out_h=8,
            out_w=8,
        ),
        make_layer(
            "dw",
            "conv",
            in_channels=96,
            out_channels=96,
            groups=96,
            kernel_h=3,
            kernel_w=3,
            in_h=8,
            in_w=8,
            out_h=8,
            out_w=8,
        ),
    ],
)
@pytest.mark.parametrize("pieces", [1, 2, 3, 7, 96])
def test_split_pieces_cover_the_output_channels_exactly(layer, pieces) -> None:
    parts = split_layer(layer, pieces)
    ranges = piece_channels(layer, pieces)
    assert len(parts) == pieces
    assert ranges[0][0] == 0 and ranges[-1][1] == layer.out_channels
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(ranges, ranges[1:], strict=False))
    sizes = [p.out_channels for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sum(p.weights for p in parts) == layer.weights
    assert sum(p.macs for p in parts) == layer.macs
    # A one-channel piece of a depthwise conv is re-classified as a plain conv (groups = 1).
    assert all(p.op == layer.op or p.groups == 1 for p in parts)
    assert all(p.out_h == layer.out_h and p.in_h == layer.in_h for p in parts)
    assert [r[1] - r[0] for r in ranges] == sizes


def test_split_matches_the_generators_convention() -> None:
    planning = pytest.importorskip("cimkit.codegen.planning")
    layer = make_layer("fc", "linear", in_channels=64, out_channels=1000)
    for n in (1, 3, 7, 64):
        assert piece_channels(layer, n) == [planning.piece_channels(1000, i, n) for i in range(n)]


def _one_channel_area(wl: Workload, name: str, tech: str = "rram") -> tuple[int, float]:
    """(arrays, mm^2) of one output channel of layer ``name`` on ``tech``'s default arrays."""
    layer = next(layer for layer in wl.layers if layer.name == name)
    costs = get_technology(tech).layer_costs([split_layer(layer, layer.out_channels)[0]])
    return int(costs.arrays[0, 0]), float(costs.area_mm2[0, 0])


def test_scheduled_pieces_cover_each_layer() -> None:
    wl = get_network("vgg8")
    _, items, _ = prepare(wl, 1e6, "rram")
    whole = dict(zip(items.names, items.base_area, strict=True))
    # Just above the 32 arrays one output channel of classifier.0 (8192 inputs) needs: the
    # 8192 x 1024 layer (256 arrays) and features.12 (72 arrays) must be split.
    budget = 34 * float(items.array_area[0])
    assert _one_channel_area(wl, "classifier.0")[1] < budget < whole["features.12"]
    sched = schedule_dp(wl, budget, assignment="rram")
    by_layer: dict[str, list] = {}
    for g in sched.groups:
        for m in g.members:
            by_layer.setdefault(m.layer, []).append(m)
    assert len(by_layer["classifier.0"]) > 1
    assert len(by_layer["features.12"]) > 1
    for name, ms in by_layer.items():
        assert sorted(m.piece for m in ms) == list(range(ms[0].pieces))
        assert all(m.area_mm2 <= budget * TOL for m in ms)
        layer = next(layer for layer in wl.layers if layer.name == name)
        assert ms[0].pieces == 1 or ms[0].arrays * ms[0].pieces >= 1
        assert sum(p.out_channels for p in split_layer(layer, ms[0].pieces)) == layer.out_channels


# ------------------------------------------------------------------ (d) duplication
def test_min_max_copies_equals_the_papers_duplication_loop(make_random_items) -> None:
    rng = np.random.default_rng(11)
    for trial in range(300):
        items, caps = make_random_items(rng, int(rng.integers(1, 7)), 1 + trial % 2)
        n = len(items)
        max_copies = None if trial % 3 else int(rng.integers(1, 8))
        ref = greedy_copies(
            items.vectors.tolist(),
            items.cpv.tolist(),
            items.base_area.tolist(),
            items.pool.tolist(),
            caps.tolist(),
            max_copies,
        )
        t, ok = min_max_copies(
            items.vectors[None],
            items.cpv[None],
            items.base_area[None],
            items.pool[None],
            np.ones((1, n), dtype=bool),
            caps,
            max_copies,
        )
        assert bool(ok[0]) == (ref is not None)
        if ref is not None:
            assert int(t[0]) == ref[0]
            # The fewest copies reaching T never use more area than the loop.
            fewest = copies_for(items.vectors, items.cpv, int(t[0]))
            assert (fewest <= np.array(ref[1])).all()


def _assert_within_budget(sched, caps_by_tech: dict[str, float]) -> None:
    for g in sched.groups:
        for tech, cap in caps_by_tech.items():
            used = sum(m.area_mm2 for m in g.members if m.tile.tech == tech)
            assert used <= cap * TOL
        for m in g.members:
            assert 1 <= m.copies <= m.vectors
            assert m.compute_cycles == -(-m.vectors // m.copies) * m.cycles_per_vector
    assert sched.area_mm2 <= sched.area_budget_mm2 * TOL


def test_duplication_never_exceeds_the_budget(make_random_items) -> None:
    rng = np.random.default_rng(3)
    for trial in range(100):
        items, caps = make_random_items(rng, int(rng.integers(1, 25)), 1 + trial % 2)
        for groups in (dp_groups(items, caps)[0], greedy_groups(items, caps)):
            sched = _schedule_of(items, caps, groups)
            _assert_within_budget(sched, dict(zip(items.pools, caps, strict=True)))


@pytest.mark.parametrize("budget", [16.3, 22.8, 40.0, 160.0])
def test_real_networks_stay_within_budget(budget) -> None:
    wl = get_network("vgg8")
    for fn in (schedule_dp, schedule_greedy):
        sched = fn(wl, budget, assignment="rram")
        _assert_within_budget(sched, {"rram": budget})
    hetero = schedule_dp(
        wl,
        budget,
        assignment=["sram"] * 2 + ["rram"] * 6,
        tech_budgets_mm2={"sram": budget * 0.3, "rram": budget * 0.7},
    )
    _assert_within_budget(hetero, {"sram": budget * 0.3, "rram": budget * 0.7})


def test_single_group_keeps_weights_resident() -> None:
    wl = get_network("vgg8")
    _, items, _ = prepare(wl, 1e6, "rram")
    total = float(items.base_area.sum())  # one copy of every layer on RRAM
    big = schedule_dp(wl, 2.8 * total, assignment="rram")
    assert big.resident and len(big.groups) == 1
    assert all(m.write_cycles == 0 and m.write_energy_pj == 0 for m in big.groups[0].members)
    assert big.cycles == big.groups[0].compute_cycles
    small = schedule_dp(wl, 0.28 * total, assignment="rram")
    assert not small.resident and all(g.write_cycles > 0 for g in small.groups)


# ------------------------------------------------------------------ (g) infeasible budgets
def test_too_small_budget_names_layer_piece_and_budget() -> None:
    wl = get_network("vgg8")
    # classifier.0 has 8192 inputs: one output channel needs 32 row tiles of RRAM arrays.
    _, items, _ = prepare(wl, 1e6, "rram")
    arrays, area = _one_channel_area(wl, "classifier.0")
    assert arrays == 32 and area == pytest.approx(32 * float(items.array_area[0]))
    budget = 0.7 * area
    # Every other layer's output channel fits, so classifier.0 is the one named.
    others = [_one_channel_area(wl, m) for m in items.names if m != "classifier.0"]
    assert max(a for _, a in others) < budget
    with pytest.raises(InfeasibleDesignError) as err:
        schedule_dp(wl, budget, assignment="rram")
    msg = str(err.value)
    assert "'classifier.0'" in msg and f"{budget:.4g} mm^2" in msg
    assert "one output channel" in msg
    # The area is 32 RRAM arrays at the calibrated array area (docs/cost-model.md).
    assert f"32 arrays = {32 * float(items.array_area[0]):.4g} mm^2" in msg


def test_zero_technology_budget_is_infeasible() -> None:
    wl = get_network("vgg8")
    with pytest.raises(InfeasibleDesignError, match="budget is 0 mm"):
        schedule_dp(wl, 100.0, assignment=["sram"] + ["rram"] * 7, tech_budgets_mm2={"rram": 100.0})
