"""Per-layer breakdowns add up to the per-design totals, for every component and the latency."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.components import ENERGY_COMPONENTS
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


@pytest.mark.parametrize("mode", ["weight_stationary", "weight_swapping"])
@pytest.mark.parametrize("kind", ["analog", "digital"])
def test_breakdown_sums_to_totals(mode: str, kind: str) -> None:
    rng = np.random.default_rng(3)
    n = 12
    base = ChipSpec.model_validate(
        {
            "macro": {"kind": kind},
            "device": {"kind": "sram", "bits_per_cell": 1},
            "chip": {"mode": mode},
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
    batch = LayerArrays.from_workloads([_net(int(k)) for k in rng.integers(0, 4, n)])
    ev = evaluate(designs, batch, breakdown=True)
    assert ev.layer_energy is not None and ev.layer_latency is not None
    for k in ENERGY_COMPONENTS:
        np.testing.assert_allclose(
            ev.layer_energy[k].sum(axis=1), ev.energy_by_component[k], rtol=1e-12, atol=0, err_msg=k
        )
    np.testing.assert_allclose(ev.layer_latency.sum(axis=1), ev["latency_s"], rtol=1e-12)
    # The matmul (two dynamic operands) runs on the digital ALUs: its slot has vector-unit energy.
    assert (ev.energy_by_component["vector_unit"] > 0).all()
    frame = ev.layers_frame()
    assert len(frame) == n * batch.shape[1]
    np.testing.assert_allclose(
        frame.groupby("design", sort=False)["energy_j"].sum().to_numpy(), ev["energy_j"], rtol=1e-12
    )
