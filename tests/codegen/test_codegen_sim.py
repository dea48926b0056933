"""End to end: generate Verilog from schedules, simulate with Icarus Verilog, compare.

Icarus Verilog is a test dependency (``make sysdeps`` installs the Debian package ``iverilog``):
these tests fail, with the install hint, when it is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from codegen_nets import trained_mlp

from cimkit import codegen
from cimkit.errors import MissingDependencyError

#: Bound on |simulated - planned| / planned for the test networks (measured +1.0 % .. +9.6 %).
MAX_CYCLE_ERROR = 0.10

# name -> (workload fixture, groups, plan_for options)
CASES = {
    # three linear layers pipelined in one group
    "mlp_1group": ("mlp_parts", [["fc1", "fc2", "fc3"]], dict(rows=16, cols=16)),
    # split layers in parallel (multicast to both consumer pieces) and uneven copies
    "mlp_split_copies": (
        "mlp_parts",
        [["fc1", "fc2", "fc3"]],
        dict(rows=16, cols=16, pieces={"fc1": 2, "fc2": 2}, copies={"fc1": 2, ("fc2", 1): 3}),
    ),
    # pieces spread over 4 groups: direct routes to the next group and global-buffer routes;
    # RRAM timing (4 cycles a row write, ADC-shared column readout)
    "mlp_far_rram": (
        "mlp_parts",
        [[("fc1", 0)], [("fc1", 1)], [("fc2", 0)], ["fc3", ("fc2", 1)]],
        dict(rows=16, cols=16, tech="rram", adcs=4, copies={"fc3": 2}),
    ),
    # conv 3x3 -> strided conv -> flatten linear split over two groups -> linear, 3 groups
    "cnn_3groups": (
        "cnn_parts",
        [["conv1", "conv2"], [("fc1", 0)], [("fc1", 1), "fc2"]],
        dict(rows=32, cols=16, copies={"conv1": 2}),
    ),
    # input-channel pieces (partial sums added before requantization): conv2 in 2 pieces over
    # groups 0-1, the flattening fc1 in 3 pieces over groups 1-3 (feature ranges that cut
    # channels), partial sums passed within a group and into the next group's skip region
    "cnn_input_pieces": (
        "cnn_parts",
        [["conv1", ("conv2", 0)], [("conv2", 1), ("fc1", 0)], [("fc1", 1)], [("fc1", 2), "fc2"]],
        dict(rows=32, cols=16, pieces={"fc1": 3, "conv2": 2}, axes={"fc1": "in", "conv2": "in"}),
    ),
    # the same pieces in one group: each piece waits per position for its predecessor's
    # partial sum (the replay counts it: +6.0 % without, see docs/codegen.md)
    "cnn_input_chain_1group": (
        "cnn_parts",
        [["conv1", ("conv2", 0), ("conv2", 1), ("fc1", 0), ("fc1", 1), ("fc1", 2), "fc2"]],
        dict(
            rows=32,
            cols=16,
            pieces={"fc1": 3, "conv2": 2},
            axes={"fc1": "in", "conv2": "in"},
            copies={"conv1": 2},
        ),
    ),
    # b's partial sum crosses group 1 (c) through a global-buffer region and a MOVE into the
    # skip region of b's last piece; the add fused into c2 reads b from the previous group
    "branch_psum_via_gb": (
        "branch_parts",
        [["a", ("b", 0)], ["c"], [("b", 1)], ["c2"]],
        dict(rows=32, cols=8, pieces={"b": 2}, axes={"b": "in"}),
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def simulated(request, tmp_path_factory):
    parts, groups, options = CASES[request.param]
    wl, weights = request.getfixturevalue(parts)
    schedule = codegen.plan_for(wl, groups, **options)
    out = tmp_path_factory.mktemp(request.param)
    design = codegen.generate(schedule, wl, weights, out, seed=7)
    return request.param, design, codegen.simulate(design)


def test_bit_exact(simulated):
    name, design, result = simulated
    assert result.outputs.shape == design.expected.shape
    np.testing.assert_array_equal(result.outputs, design.expected, err_msg=name)
    assert np.abs(design.expected).max() > 0  # not a trivially zero network


def test_cycle_error_small_but_real(simulated):
    name, design, result = simulated
    err = codegen.cycle_error(result.cycles, design.estimate_cycles)
    print(f"{name}: simulated {result.cycles} cycles, plan {design.estimate_cycles}, "
          f"error {err:+.2%}")  # fmt: skip
    # The plan counts writes, compute, pipeline fill and drain and the controller
    # (cimkit.pimhls.pipeline): the hardware keeps it.
    assert abs(err) <= MAX_CYCLE_ERROR


def test_instruction_stream_matches_schedule(simulated):
    _, design, _ = simulated
    placements = sum(len(g.members) for g in design.schedule.groups)
    assert design.count("LOAD_W") == design.count("COMPUTE") == placements
    assert design.count("SYNC") == len(design.schedule.groups)
    assert codegen.decode(design.words) == list(design.program)


def test_rtl_compiles_without_warnings(mlp_parts, tmp_path):
    wl, weights = mlp_parts
    schedule = codegen.plan_for(wl, [["fc1", "fc2"], ["fc3"]], rows=16, cols=16, copies=2)
    design = codegen.generate(schedule, wl, weights, tmp_path)
    _, log = codegen.compile_design(design, tmp_path / "sim")
    assert "warning" not in log.lower(), log
    assert "error" not in log.lower(), log


def test_generated_folder(simulated):
    _, design, _ = simulated
    out = design.out_dir
    for rel in ["program.asm", "program.hex", "inputs.hex", "tb_top.v", "README.md",
                "expected.txt", "rtl/cim_top.v", "rtl/cim_pim_array.v"]:  # fmt: skip
        assert (out / rel).is_file(), rel
    pieces = sum(len(g.members) for g in design.schedule.groups)
    assert len(list((out / "weights").glob("*.hex"))) == pieces
    readme = (out / "README.md").read_text()
    assert "iverilog -g2005 -Wall -s tb_top -o tb.vvp rtl/*.v tb_top.v" in readme
    assert "vvp -n tb.vvp" in readme
    assert codegen.decode(codegen.from_hex((out / "program.hex").read_text())) == list(
        design.program
    )
    assert codegen.from_asm((out / "program.asm").read_text()) == list(design.program)


def test_saturation_bit_exact(mlp_parts, tmp_path):
    wl, weights = mlp_parts
    schedule = codegen.plan_for(wl, [["fc1", "fc2", "fc3"]], rows=16, cols=16)
    x = codegen.random_inputs(wl, 1)
    shifts = {k: max(v - 2, 0) for k, v in codegen.calibrate_shifts(wl, weights, x).items()}
    design = codegen.generate(schedule, wl, weights, tmp_path, inputs=x, shifts=shifts)
    result = codegen.simulate(design)
    assert (design.expected == 127).any() and (design.expected == -128).any()
    np.testing.assert_array_equal(result.outputs, design.expected)


def test_trained_quantized_mlp(tmp_path):
    wl, weights, x, float_acc, labels = trained_mlp(tokens=64)
    schedule = codegen.plan_for(wl, [["fc1", "fc2"]], rows=16, cols=16, copies={"fc1": 2})
    design = codegen.generate(schedule, wl, weights, tmp_path, inputs=x)
    result = codegen.simulate(design)
    np.testing.assert_array_equal(result.outputs, design.expected)
    hw_acc = float((result.outputs.argmax(axis=1) == labels).mean())
    print(f"trained MLP: float accuracy {float_acc:.2f}, int8 hardware accuracy {hw_acc:.2f}")
    assert float_acc > 0.8
    assert hw_acc >= float_acc - 0.1


def test_missing_iverilog_names_debian_package(monkeypatch, mlp_parts, tmp_path):
    wl, weights = mlp_parts
    design = codegen.generate(codegen.plan_for(wl), wl, weights, tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="iverilog") as info:
        codegen.simulate(design)
    assert "apt-get install iverilog" in str(info.value)


def test_iverilog_is_installed():
    """The contract: the Makefile installs iverilog; fail loudly (with the hint) without it."""
    try:
        iverilog, vvp = codegen.find_tools()
    except MissingDependencyError as exc:
        pytest.fail(str(exc))
    assert Path(iverilog).name == "iverilog" and Path(vvp).name == "vvp"
