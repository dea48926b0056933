"""Data-flow graph and topological order (PIM-HLS Algorithm 1, line 1)."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.errors import WorkloadError
from cimkit.pimhls.dfg import build_dfg, is_crossbar, schedule_order
from cimkit.workload.builtin import get_network
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload


def _respects_edges(workload: Workload, order: tuple[str, ...]) -> bool:
    pos = {n: i for i, n in enumerate(order)}
    return all(
        pos[src] < pos[layer.name] for layer in workload.layers for src in layer.inputs if src
    )


def _residual_block() -> Workload:
    """conv a -> conv b -> add(a, b) -> conv c, with the skip edge a -> add."""
    conv = dict(in_channels=8, out_channels=8, in_h=4, in_w=4, out_h=4, out_w=4)
    return Workload(
        "res",
        (
            make_layer("a", "conv", kernel_h=3, kernel_w=3, inputs=("",), **conv),
            make_layer("a.relu", "act", inputs=("a",), **conv),
            make_layer("b", "conv", kernel_h=3, kernel_w=3, inputs=("a.relu",), **conv),
            make_layer("add", "eltwise", inputs=("a.relu", "b"), **conv),
            make_layer("c", "conv", kernel_h=1, kernel_w=1, inputs=("add",), **conv),
        ),
    )


def test_resnet18_order_is_topological_and_keeps_table_order() -> None:
    wl = get_network("resnet18")
    dfg = build_dfg(wl)
    # The built-in table is already in execution order: Kahn stable by position keeps it.
    assert dfg.order == tuple(layer.name for layer in wl.layers)
    assert _respects_edges(wl, dfg.order)
    assert len(dfg.crossbar_layers) == 21  # 17 convs + 3 downsample convs + fc
    adds = [layer for layer in dfg.digital_layers if layer.op == "eltwise"]
    assert len(adds) == 8 and all(len(dfg.preds[a.name]) == 2 for a in adds)


def test_shuffled_residual_network_is_sorted_deterministically() -> None:
    wl = get_network("resnet18")
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(3):
        shuffled = Workload("shuffled", tuple(rng.permutation(np.array(wl.layers, dtype=object))))
        dfg = build_dfg(shuffled)
        assert _respects_edges(wl, dfg.order)
        assert sorted(dfg.order) == sorted(layer.name for layer in wl.layers)
        orders.add(tuple(layer.name for layer in dfg.crossbar_layers))
    # Every residual block's convs keep their data dependencies whatever the row order.
    for crossbar in orders:
        pos = {n: i for i, n in enumerate(crossbar)}
        assert pos["layer1.0.conv1"] < pos["layer1.0.conv2"] < pos["layer1.1.conv1"]
        assert pos["layer2.0.conv2"] < pos["layer2.1.conv1"]
        assert pos["layer2.0.downsample.0"] < pos["layer2.1.conv1"]
        assert crossbar[-1] == "fc"


def test_stable_kahn_prefers_table_position() -> None:
    wl = _residual_block()
    # Rows listed consumers-first: the ready row that comes first in the table is released.
    rev = Workload("rev", tuple(reversed(wl.layers)))
    assert build_dfg(rev).order == ("a", "a.relu", "b", "add", "c")
    assert [layer.name for layer in schedule_order(rev)] == ["a", "b", "c"]
    dfg = build_dfg(wl)
    assert dfg.succs["a.relu"] == ("b", "add")
    assert dfg.preds["add"] == ("a.relu", "b")


def test_digital_rows_are_carried_not_scheduled() -> None:
    dfg = build_dfg(_residual_block())
    assert [layer.name for layer in dfg.digital_layers] == ["a.relu", "add"]
    assert all(is_crossbar(layer) for layer in dfg.crossbar_layers)
    matmul = make_layer("qk", "matmul", in_channels=4, out_channels=4, out_h=4)
    assert not is_crossbar(matmul)


def test_unknown_producer_is_an_error() -> None:
    layer = make_layer("x", "linear", in_channels=4, out_channels=4, inputs=("ghost",))
    with pytest.raises(WorkloadError, match="'x' reads 'ghost'"):
        build_dfg(Workload("w", (layer,)))


def test_cycle_is_an_error_listing_the_rows() -> None:
    a = make_layer("a", "linear", in_channels=4, out_channels=4, inputs=("b",))
    b = make_layer("b", "linear", in_channels=4, out_channels=4, inputs=("a",))
    c = make_layer("c", "linear", in_channels=4, out_channels=4, inputs=("",))
    with pytest.raises(WorkloadError, match=r"cycle; 2 layers cannot be ordered: 'a', 'b'"):
        build_dfg(Workload("w", (c, a, b)))


def test_no_crossbar_layer_is_an_error() -> None:
    act = make_layer("r", "act", in_channels=4, out_channels=4, inputs=("",))
    with pytest.raises(WorkloadError, match="no crossbar layers"):
        schedule_order(Workload("w", (act,)))
