"""The pipeline timing model of a plan (cimkit.pimhls.pipeline): hand-computed cases and the
vectorised server against the recurrence it implements."""

import numpy as np

from cimkit.codegen.planning import plan_for
from cimkit.pimhls import pipeline
from cimkit.workload import Workload, make_layer


def test_serve_equals_recurrence():
    rng = np.random.default_rng(0)
    for d in (1, 3, 8):
        ready = rng.integers(0, 200, 50)
        got = pipeline._serve(ready, 17, d)
        free, want = 17, []
        for r in ready:  # f_j = max(ready_j, f_{j-1}) + d, unit free from cycle 17
            free = max(int(r), free) + d
            want.append(free)
        np.testing.assert_array_equal(got, want)


def _mlp(tokens: int) -> Workload:
    return Workload("mlp", (
        make_layer("fc1", "linear", in_channels=4, out_channels=4, out_h=tokens),
        make_layer("fc2", "linear", in_channels=4, out_channels=4, out_h=tokens),
    ))  # fmt: skip


def test_two_layer_chain_by_hand():
    """fc1 -> fc2, 4 tokens, 8 cycles a vector, 4-row arrays (4 write cycles each), one group.

    Instructions: LOAD_W x2 (cycles 1, 2), MOVE (3), SETIN x2, COMPUTE fc1 waits for the writes:
    1 + WRITE_START + 8 = 11; COMPUTE fc2 at 12. The MOVE (issue 3) delivers token p at
    3 + 2 + p. fc1's copy starts at 12: tokens end 20, 28, 36, 44, delivered +2: 22, 30, 38, 46.
    fc2 (free from 13) ends 30, 38, 46, 54, delivered 56 = SYNC; HALT 57; CYCLES 58.
    """
    s = plan_for(_mlp(4), rows=4, cols=4)
    assert [m.programming_cycles for m in s.groups[0].members] == [4, 4]
    assert pipeline.group_cycles(s, _mlp(4)) == [58]
    g = s.groups[0]
    assert g.fill_cycles == 58 - 8 - 32
    assert s.cycles == 58  # plan_for charges the writes of a one-group plan too


def test_input_pieces_wait_for_the_partial_sum_by_hand():
    """fc1 in 2 input-channel pieces (2 rows, 2 write cycles each) -> fc2, 4 tokens, 8 cycles a
    vector, one group.

    LOAD_W x3 (1-3), MOVE (4): token p valid at 6 + p; SETIN x3; the writes end at
    1 + WRITE_START + 2 + 2 + 4 = 11: COMPUTE fc1.0 at 11, fc1.1 at 12, fc2 at 13. fc1.0 (free
    from 12) ends 20, 28, 36, 44, its partial sums valid in fc1.1's skip region at 22, 30, 38,
    46. fc1.1 waits for them: ends 30, 38, 46, 54, delivered 32, 40, 48, 56 (the layer's output
    leaves its last piece). fc2 (free from 14): 40, 48, 56, 64, delivered 66 = SYNC; CYCLES
    68. Pieces run independently (output-channel pieces) take 59: the chain costs d + 1.
    """
    from dataclasses import replace

    wl = _mlp(4)
    s = plan_for(wl, rows=4, cols=4, pieces={"fc1": 2}, axes={"fc1": "in"})
    assert [m.programming_cycles for m in s.groups[0].members] == [2, 2, 4]
    assert pipeline.group_cycles(s, wl) == [68]
    out = replace(s.groups[0], members=tuple(
        replace(m, split_axis="out") for m in s.groups[0].members
    ))  # fmt: skip
    assert pipeline.group_cycles(replace(s, groups=(out,)), wl) == [59]


def test_fill_grows_with_depth_not_with_vectors():
    """Drain of the second stage is one vector's compute and NoC latency, whatever the tokens."""
    f = [plan_for(_mlp(n), rows=4, cols=4).groups[0].fill_cycles for n in (4, 64)]
    assert f[0] == f[1]


def test_optimizer_plan_carries_the_replay():
    """optimize and optimize_levels return plans whose cycles include the replayed fill."""
    from cimkit.codegen.networks import chain
    from cimkit.pimhls.optimize import optimize, optimize_levels

    wl = chain()
    s = optimize(wl, 1.5, ("sram",), True, None, max_copies=63, max_members=16)
    assert s.notes["pipeline"] == "modelled"
    total = pipeline.group_cycles(s, wl)
    for g, c in zip(s.groups, total, strict=True):
        assert g.fill_cycles > 0
        assert sum(m.programming_cycles for m in g.members) + g.compute_cycles + g.fill_cycles == c
    assert s.cycles == sum(g.write_cycles + g.compute_cycles + g.fill_cycles for g in s.groups)
    levels = optimize_levels(wl, 1.5, ("sram",), max_copies=63, max_members=16)
    assert all(x.notes["pipeline"] == "modelled" for x in levels.values())


def test_unlowerable_workload_keeps_zero_fill():
    """A matmul of two activations cannot be generated: the plan keeps PIM-HLS's latency and
    says why."""
    wl = Workload("att", (
        make_layer("q", "linear", in_channels=8, out_channels=8, out_h=4),
        make_layer("k", "linear", in_channels=8, out_channels=8, out_h=4, inputs=("",)),
        make_layer("s", "matmul", in_channels=8, out_channels=4, out_h=4, inputs=("q", "k")),
    ))  # fmt: skip
    from cimkit.pimhls.optimize import optimize

    s = optimize(wl, 4.0, ("sram",), False)
    assert s.notes["pipeline"].startswith("not modelled") and "matmul" in s.notes["pipeline"]
    assert all(g.fill_cycles == 0 for g in s.groups)


def test_replay_equals_the_simulated_rtl_of_the_reduced_networks():
    """Icarus Verilog cycle counts of the generated RTL (docs/codegen.md, "Measured"; the
    slow test_codegen_networks simulates them again): the replay predicts them exactly."""
    from cimkit.codegen.networks import STAGES, reduced, stage_groups

    simulated = {"vgg8": 2935, "resnet18": 4104, "mobilenetv2": 3821}
    for name, cycles in simulated.items():
        wl = reduced(name)
        s = plan_for(wl, stage_groups(wl, STAGES[name]), rows=64, cols=16)
        assert sum(pipeline.group_cycles(s, wl)) == cycles, name


def test_unplaced_layer_is_a_one_line_error():
    import pytest

    from cimkit.errors import CimkitError
    from cimkit.pimhls.plan import LayerGroup

    s = plan_for(_mlp(4), rows=4, cols=4)
    part = type(s)(s.network, (LayerGroup(s.groups[0].members[:1]),), 1.0, 1.0)
    with pytest.raises(CimkitError, match="'fc2' is in no group"):
        pipeline.group_cycles(part, _mlp(4))
