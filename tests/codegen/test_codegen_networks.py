"""The paper's networks (reduced, see cimkit.codegen.networks) and a small DAG network: golden
model vs torch, Verilog vs numpy, and the plan's cycles vs the simulated ones on optimizer
schedules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimkit import codegen
from cimkit.codegen.lowering import lower
from cimkit.codegen.networks import (
    INPUT_PIECE_DESIGNS,
    REDUCED,
    STAGES,
    optimized,
    reduced,
    stage_groups,
)
from cimkit.errors import CimkitError
from cimkit.workload import Workload, make_layer

#: Bound on |simulated / planned - 1| for designs whose groups run long enough for the plan's
#: pipeline assumption (no fill or drain) to hold; see docs/codegen.md for the networks' errors.
MAX_CYCLE_ERROR = 0.10
NETWORKS = REDUCED


def dag_net() -> Workload:
    """conv 3x3 -> ReLU -> max pool 3x3/2 pad 1 -> grouped conv (2 groups) -> ReLU -> depthwise ->
    pointwise -> + max pool output -> ReLU -> global average pool (3 x 3: not a power of two) ->
    linear 8 -> 10."""

    def conv(name, cin, cout, k, h, groups=1, inputs=()):
        return make_layer(name, "conv", in_channels=cin, out_channels=cout, kernel_h=k,
                          kernel_w=k, in_h=h, in_w=h, out_h=h, out_w=h, groups=groups,
                          inputs=inputs)  # fmt: skip

    def act(name, c, h, src):
        return make_layer(name, "act", in_channels=c, out_channels=c, in_h=h, in_w=h, out_h=h,
                          out_w=h, inputs=(src,))  # fmt: skip

    return Workload(
        "dag",
        (
            conv("c1", 3, 8, 3, 6, inputs=("",)),
            act("r1", 8, 6, "c1"),
            make_layer(
                "mp",
                "pool",
                in_channels=8,
                out_channels=8,
                in_h=6,
                in_w=6,
                out_h=3,
                out_w=3,
                kernel_h=3,
                kernel_w=3,
                stride=2,
                inputs=("r1",),
            ),  # fmt: skip
            conv("gc", 8, 8, 3, 3, groups=2, inputs=("mp",)),
            act("r2", 8, 3, "gc"),
            conv("dw", 8, 8, 3, 3, groups=8, inputs=("r2",)),
            conv("pw", 8, 8, 1, 3, inputs=("dw",)),
            make_layer(
                "add",
                "eltwise",
                in_channels=8,
                out_channels=8,
                in_h=3,
                in_w=3,
                out_h=3,
                out_w=3,
                inputs=("pw", "mp"),
            ),  # fmt: skip
            act("r3", 8, 3, "add"),
            make_layer(
                "gap",
                "pool",
                in_channels=8,
                out_channels=8,
                in_h=3,
                in_w=3,
                out_h=1,
                out_w=1,
                kernel_h=3,
                kernel_w=3,
                stride=3,
                inputs=("r3",),
            ),  # fmt: skip
            make_layer("fc", "linear", in_channels=8, out_channels=10, inputs=("gap",)),
        ),
    )


def torch_forward(wl: Workload, weights: dict, x: np.ndarray, shifts: dict) -> np.ndarray:
    """The same integer network, row by row with torch ops in float64 (independent of the
    lowering: no fusion, padding from the shapes, torch's own grouped conv and pooling)."""
    f = torch.nn.functional
    lo, hi = -128, 127
    t: dict[str, torch.Tensor] = {"": torch.tensor(x, dtype=torch.float64)}
    prev = ""
    for layer in wl.layers:
        src = [t[s] for s in layer.inputs] if layer.inputs else [t[prev]]
        a = src[0]
        if layer.op in ("conv", "dwconv", "pwconv"):
            w = torch.tensor(weights[layer.name], dtype=torch.float64)
            w = w.reshape(layer.out_channels, -1, layer.kernel_h, layer.kernel_w)
            pad = ((layer.out_h - 1) * layer.stride + layer.kernel_h - layer.in_h + 1) // 2
            y = f.conv2d(a[None], w, stride=layer.stride, padding=pad, groups=layer.groups)[0]
            y = torch.clamp(torch.floor(y / 2 ** shifts[layer.name]), lo, hi)
        elif layer.op == "linear":
            w = torch.tensor(weights[layer.name], dtype=torch.float64)
            y = torch.flatten(a) @ w.T
            y = torch.clamp(torch.floor(y / 2 ** shifts[layer.name]), lo, hi)[None]
        elif layer.op == "act":
            y = torch.relu(a)
        elif layer.op == "eltwise":
            y = torch.clamp(src[0] + src[1], lo, hi)
        elif layer.op == "pool" and (layer.out_h, layer.out_w) == (1, 1):
            n = layer.kernel_h * layer.kernel_w
            mul, sh = codegen.lowering.avg_scale(n)
            y = torch.clamp(torch.floor(a.sum(dim=(1, 2), keepdim=True) * mul / 2**sh), lo, hi)
        else:
            pad = ((layer.out_h - 1) * layer.stride + layer.kernel_h - layer.in_h + 1) // 2
            y = f.max_pool2d(a[None], layer.kernel_h, layer.stride, padding=pad)[0]
        t[layer.name] = y
        prev = layer.name
    return t[prev].numpy().astype(np.int64)


def _parts(key: str):
    wl = dag_net() if key == "dag" else reduced(key)
    weights = codegen.random_weights(wl, seed=0)
    x = codegen.random_inputs(wl, seed=1)
    return wl, weights, x, codegen.calibrate_shifts(wl, weights, x)


@pytest.mark.parametrize("key", ["dag", *NETWORKS])
def test_reference_matches_torch(key):
    wl, weights, x, shifts = _parts(key)
    ours = codegen.reference(wl, weights, x, shifts)
    theirs = torch_forward(wl, weights, x, shifts)
    np.testing.assert_array_equal(ours.reshape(-1), theirs.reshape(-1))
    assert np.abs(ours).max() > 0


def test_lowering_folds_pools_adds_and_groups():
    ops = {g.name: g for g in lower(dag_net())}
    assert list(ops) == ["c1", "mp", "gc", "dw", "pw", "gap", "fc"]  # acts and the add folded
    assert ops["mp"].pool == "max" and ops["mp"].pad == 1
    assert ops["gap"].pool == "avg" and (ops["gap"].pool_mul, ops["gap"].pool_shift) == (
        round(2**19 / 9),
        19,
    )
    assert ops["pw"].skip == "mp" and ops["pw"].add == "add" and ops["pw"].default_relu
    assert ops["gc"].groups == 2 and ops["dw"].groups == 8 and not ops["dw"].default_relu
    resnet = {g.name: g for g in lower(reduced("resnet18"))}
    # the add of a downsampling block is fused into the later operand, its skip the other
    assert resnet["layer2.0.downsample.0"].skip == "layer2.0.conv2"
    assert resnet["layer1.0.conv2"].skip == "maxpool"


def test_grouped_weight_matrix_is_zero_outside_groups():
    g = {x.name: x for x in lower(dag_net())}["gc"]
    w = (np.arange(8 * 4 * 9) % 127 + 1).reshape(8, 4, 3, 3)  # nonzero, in int8 range
    mat = codegen.lowering.weight_matrix(g, w).reshape(8, 3, 3, 8)  # (K, ky, kx, c)
    assert (mat[:4, :, :, 4:] == 0).all() and (mat[4:, :, :, :4] == 0).all()
    assert (mat[:4, :, :, :4] != 0).all() and (mat[4:, :, :, 4:] != 0).all()
    # output 5 (group 1) at (ky, kx) = (2, 1) reads input channel 4 + 3
    assert mat[5, 2, 1, 4 + 3] == w[5, 3, 2, 1]
    # piece 1 of 2 holds group 1: outputs 4..7 over input channels 4..7 only
    sl = codegen.lowering.piece_slice(g, 1, 2)
    assert (sl.out_lo, sl.out_hi, sl.in_lo, sl.in_hi, sl.in_len) == (4, 8, 4, 8, 36)
    pm = codegen.lowering.piece_matrix(g, w, sl).reshape(4, 3, 3, 4)
    np.testing.assert_array_equal(pm, w[4:].transpose(0, 2, 3, 1))


def _simulate(wl, weights, x, shifts, schedule, tmp_path):
    design = codegen.generate(schedule, wl, weights, tmp_path, inputs=x, shifts=shifts)
    result = codegen.simulate(design)
    err = codegen.cycle_error(result.cycles, design.estimate_cycles)
    return design, result, err


def test_dag_network_bit_exact_across_groups(tmp_path):
    """Pools on vector tiles, a grouped conv split in two pieces, a depthwise conv, a residual
    add whose skip operand crosses three groups (global buffer + MOVE into the skip region) and
    a 3 x 3 average pool."""
    wl, weights, x, shifts = _parts("dag")
    groups = [["c1"], [("gc", 0), ("gc", 1)], ["dw"], ["pw", "fc"]]
    # 12 copies at 8 cycles a vector: c1 finishes 12 vectors at once, NoC bundles of 2 words
    s = codegen.plan_for(wl, groups, rows=32, cols=8, copies={"c1": 12})
    design, result, err = _simulate(wl, weights, x, shifts, s, tmp_path)
    np.testing.assert_array_equal(result.outputs, design.expected)
    assert design.hardware.ports == 2
    log = codegen.compile_design(design, tmp_path / "wall")[1]
    assert "warning" not in log.lower(), log
    asm = (design.out_dir / "program.asm").read_text()
    assert "dst_skip=1" in asm and design.count("POOL") == 2
    kinds = [t.kind for t in design.hardware.tiles]
    assert kinds.count("vector") == 1  # the two pools run in different groups: one vector tile
    print(f"dag: simulated {result.cycles}, plan {design.estimate_cycles}, error {err:+.2%}")


@pytest.mark.slow
@pytest.mark.parametrize("key", list(NETWORKS))
def test_network_generates_and_is_bit_exact(key, tmp_path):
    wl, weights, x, shifts = _parts(key)
    s = codegen.plan_for(wl, stage_groups(wl, STAGES[key]), rows=64, cols=16)
    design, result, err = _simulate(wl, weights, x, shifts, s, tmp_path)
    np.testing.assert_array_equal(result.outputs, design.expected)
    print(f"{key}: {len(s.groups)} groups, simulated {result.cycles}, plan "
          f"{design.estimate_cycles}, error {err:+.2%}")  # fmt: skip
    # Writes, compute, pipeline fill and drain, pools and the controller as planned
    # (cimkit.pimhls.pipeline): the plan is what the hardware does.
    assert sum(g.fill_cycles for g in s.groups) > 0
    assert abs(err) <= MAX_CYCLE_ERROR


@pytest.mark.slow
@pytest.mark.parametrize("area", [1.5, 40.0])
def test_optimizer_designs_keep_the_plan(area, tmp_path):
    """At 1.5 mm^2 the optimizer reschedules (5 groups, fc1 split, 8 row tiles of 128 rows, up to
    22 copies); at 40 mm^2 the design is resident. Writes, duplication and DRAM traffic are timed
    as planned: |simulated / planned - 1| <= 10 %."""
    wl, s = optimized("chain", ("sram",), area)
    weights = codegen.random_weights(wl, 0)
    x = codegen.random_inputs(wl, 1)
    shifts = codegen.calibrate_shifts(wl, weights, x)
    design, result, err = _simulate(wl, weights, x, shifts, s, tmp_path)
    np.testing.assert_array_equal(result.outputs, design.expected)
    dm = design.design
    for p in dm.pieces:  # the hardware's write time is the plan's, row steps in parallel
        assert p.steps * p.wlat == p.placement.programming_cycles
    if area < 10:
        assert len(s.groups) >= 4 and not s.resident
        assert max(t.rt for t in design.hardware.tiles) >= 8  # fc1 spans 8 row tiles
        assert max(m.copies for g in s.groups for m in g.members) > 8  # copies > cycles/vector
    else:
        assert s.resident
    print(f"chain at {area} mm^2: {len(s.groups)} groups, simulated {result.cycles}, plan "
          f"{design.estimate_cycles}, error {err:+.2%}")  # fmt: skip
    assert abs(err) <= MAX_CYCLE_ERROR


@pytest.mark.slow
@pytest.mark.parametrize("key", list(INPUT_PIECE_DESIGNS))
def test_optimizer_input_pieces_keep_the_plan(key, tmp_path):
    """Plans the optimizer cuts along input channels (its default, as `cimkit generate`): the
    reduced VGG-8 on 0.3 mm^2 of RRAM (12 groups, three layers in 2-3 input pieces) and the chain
    on 0.3 mm^2 of SRAM (fc1 in 8 input pieces, one a group). Every piece's partial sum is added
    bit-exactly, and the replay of the partial-sum chain keeps |simulated / planned - 1| <= 10 %."""
    name, techs, area = INPUT_PIECE_DESIGNS[key]
    wl, s = optimized(name, techs, area)
    split_in = [m for g in s.groups for m in g.members if m.split_axis == "in"]
    assert split_in and all(m.pieces > 1 for m in split_in)
    assert len(s.groups) > 4 and not s.resident  # rescheduled, partial sums cross groups
    weights = codegen.random_weights(wl, 0)
    x = codegen.random_inputs(wl, 1)
    shifts = codegen.calibrate_shifts(wl, weights, x)
    design, result, err = _simulate(wl, weights, x, shifts, s, tmp_path)
    np.testing.assert_array_equal(result.outputs, design.expected)
    assert np.abs(design.expected).max() > 0
    asm = (design.out_dir / "program.asm").read_text()
    layers_in = {m.layer for m in split_in}
    # every input-split layer: pieces - 1 partial sums received (psin) and sent (psout)
    assert asm.count("psin=1") == asm.count("psout=1") == len(split_in) - len(layers_in)
    for p in design.design.pieces:
        if p.placement is not None:
            assert p.steps * p.wlat == p.placement.programming_cycles
    print(f"{key}: {len(s.groups)} groups, {len(split_in)} input pieces, simulated "
          f"{result.cycles}, plan {design.estimate_cycles}, error {err:+.2%}")  # fmt: skip
    assert abs(err) <= MAX_CYCLE_ERROR


def _self_add_net() -> Workload:
    """a = conv(x); y = pool(pool(a + pw(a))): an add reading a layer and its own producer, two
    pools in a row and a pool as the network output."""

    def row(name, op, cin, cout, h, oh, k=1, s=1, inputs=()):
        return make_layer(name, op, in_channels=cin, out_channels=cout, in_h=h, in_w=h, out_h=oh,
                          out_w=oh, kernel_h=k, kernel_w=k, stride=s, inputs=inputs)  # fmt: skip

    return Workload(
        "self_add",
        (
            row("a", "conv", 3, 4, 4, 4, k=3, inputs=("",)),
            row("b", "conv", 4, 4, 4, 4, inputs=("a",)),
            row("e", "eltwise", 4, 4, 4, 4, inputs=("a", "b")),
            row("p", "pool", 4, 4, 4, 2, k=2, s=2, inputs=("e",)),
            row("q", "pool", 4, 4, 2, 1, k=2, s=2, inputs=("p",)),
        ),
    )


def test_add_of_a_layer_and_its_producer(tmp_path):
    wl = _self_add_net()
    weights = codegen.random_weights(wl, 0)
    # one group: b would need a's output in both regions of its tile while a computes it
    with pytest.raises(CimkitError, match="schedule them apart"):
        codegen.generate(codegen.plan_for(wl, rows=32, cols=8), wl, weights, tmp_path / "one")
    s = codegen.plan_for(wl, [["a"], ["b"]], rows=32, cols=8)
    design = codegen.generate(s, wl, weights, tmp_path / "two")
    result = codegen.simulate(design)
    assert result.outputs.shape == (4, 1, 1)
    np.testing.assert_array_equal(result.outputs, design.expected)
