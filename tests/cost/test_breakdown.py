"""Per-layer breakdowns add up to the per-design totals, for every component and the latency.

Energy always adds up. Latency adds up layer by layer where layers run in turn (sequential,
layerwise, weight swapping); a pipeline's period is its slowest stage or shared resource.
"""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.model import ENERGY_COMPONENTS
from cimkit.specs import ChipSpec
from cimkit.workload import LayerArrays, Workload, make_layer


def _net(extra: int) -> Workload:
    layers = [
        make_layer(
            "c0",
            "conv",
            in_channels=3,
            out_channels=16,
            in_h=16,
            in_w=16,
            out_h=8,
            out_w=8,
            kernel_h=3,
            kernel_w=3,
            stride=2,
        ),
        make_layer("a0", "act", in_channels=16, out_channels=16, in_h=8, in_w=8, out_h=8, out_w=8),
    ]
    for i in range(extra):
        layers.append(
            make_layer(
                f"dw{i}",
                "conv",
                in_channels=16,
                out_channels=16,
                groups=16,
                kernel_h=3,
                kernel_w=3,
                in_h=8,
                in_w=8,
                out_h=8,
                out_w=8,
            )
        )
    layers += [
        make_layer(
            "sm", "softmax", in_channels=16, out_channels=16, in_h=8, in_w=8, out_h=8, out_w=8
        ),
        make_layer("mm", "matmul", in_channels=16, out_channels=64, out_h=8),
        make_layer("fc", "linear", in_channels=64, out_channels=10, out_h=8),
    ]
    return Workload(f"net{extra}", tuple(layers))


def _pipeline_bounds(wl: Workload, noc_bits: float, tile_groups: float, cycle_s: float):
    """(shared NoC time, DRAM time) of one inference in a pipeline, by hand.

    Every layer's input and output cross the NoC (an activation/norm right after a MAC layer is
    fused into it: no traffic); all routers share the load. DRAM streams the network input and
    output at 25.6 GB/s (the default).
    """
    mac_ops = ("conv", "dwconv", "pwconv", "linear", "matmul")
    bits = 0.0
    for prev, layer in zip((None, *wl.layers[:-1]), wl.layers, strict=True):
        fused = layer.op in ("act", "norm") and prev is not None and prev.op in mac_ops
        if not fused:
            bits += (layer.in_elems + layer.out_elems) * layer.act_bits
    first, last = wl.layers[0], wl.layers[-1]
    dram_bits = first.in_elems * first.act_bits + last.out_elems * last.act_bits
    return bits / (noc_bits * tile_groups) * cycle_s, dram_bits / (25.6e9 * 8)


@pytest.mark.parametrize("execution", ["pipelined", "sequential", "layerwise"])
@pytest.mark.parametrize("mode", ["weight_stationary", "weight_swapping"])
@pytest.mark.parametrize("kind", ["analog", "digital"])
def test_breakdown_sums_to_totals(mode: str, kind: str, execution: str) -> None:
    rng = np.random.default_rng(3)
    n = 12
    base = ChipSpec.model_validate(
        {
            "macro": {"kind": kind},
            "device": {"kind": "sram", "bits_per_cell": 1},
            "chip": {"mode": mode, "execution": execution},
        }
    )
    designs = DesignTable.from_arrays(
        base,
        {
            "rows": rng.choice([32, 64, 128], n),
            "macros_per_tile": rng.choice([1, 2, 4], n),
            "tile_groups": rng.choice([1, 2], n),
            "tiles_per_router": rng.choice([1, 2], n),
        },
    )
    nets = [_net(int(k)) for k in rng.integers(0, 4, n)]
    batch = LayerArrays.from_workloads(nets)
    ev = evaluate(designs, batch, breakdown=True)
    assert ev.layer_energy is not None and ev.layer_latency is not None
    # Energy: the per-layer breakdown sums to the totals, whatever the execution.
    for k in ENERGY_COMPONENTS:
        np.testing.assert_allclose(
            ev.layer_energy[k].sum(axis=1), ev.energy_by_component[k], rtol=1e-12, atol=0, err_msg=k
        )
    total = sum(ev.energy_by_component[k] for k in ENERGY_COMPONENTS)
    np.testing.assert_allclose(total, ev["energy_j"], rtol=1e-12)
    layer_sum = ev.layer_latency.sum(axis=1)
    if execution == "pipelined" and mode == "weight_stationary":
        # Stages overlap: one inference per period = the slowest stage, the shared NoC or the
        # DRAM stream; a single inference takes at least one period and at most every stage's
        # full time plus one period.
        cycle_s = 4e-9
        bounds = [
            _pipeline_bounds(wl, 256, g, cycle_s)
            for wl, g in zip(nets, designs["tile_groups"], strict=True)
        ]
        shared = np.array([b[0] for b in bounds])
        dram = np.array([b[1] for b in bounds])
        period = np.maximum(ev.layer_latency.max(axis=1), np.maximum(shared, dram))
        np.testing.assert_allclose(ev["period_s"], period, rtol=1e-12)
        assert (ev["latency_s"] >= ev["period_s"] * (1 - 1e-12)).all()
        assert (ev["latency_s"] <= (layer_sum + ev["period_s"]) * (1 + 1e-12)).all()
    else:
        # Sequential / layerwise (and weight swapping, always sequential): layers in turn.
        np.testing.assert_allclose(layer_sum, ev["latency_s"], rtol=1e-12)
        np.testing.assert_allclose(ev["period_s"], ev["latency_s"], rtol=1e-12)
    # The activation after the first conv is fused into it: no time and no activation traffic,
    # but its vector-unit work is charged.
    j = 1
    assert all(wl.layers[j].name == "a0" for wl in nets)
    assert (ev.layer_latency[:, j] == 0).all()
    for k in ("tile_buffer", "glb", "noc", "dram"):
        assert (ev.layer_energy[k][:, j] == 0).all(), k
    assert (ev.layer_energy["vector_unit"][:, j] > 0).all()
    # The matmul (two dynamic operands) runs on the digital ALUs: its slot has vector-unit energy.
    assert (ev.energy_by_component["vector_unit"] > 0).all()
    frame = ev.layers_frame()
    assert len(frame) == n * batch.shape[1]
    np.testing.assert_allclose(
        frame.groupby("design", sort=False)["energy_j"].sum().to_numpy(), ev["energy_j"], rtol=1e-12
    )
