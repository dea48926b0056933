"""Data-flow graph of a workload and the layer order PIM-HLS schedules (Algorithm 1, line 1).

Nodes are the workload's layer rows; an edge runs from every producer named in a row's ``inputs``
to the row (residual branches included; ``""`` is the network input and adds no edge). The
topological order is Kahn's algorithm that always releases the ready row that comes first in the
workload table, so a table already in a valid order is returned unchanged and the result never
depends on dict or set ordering.

Only crossbar layers are scheduled onto PIM arrays: ``conv``, ``dwconv``, ``pwconv`` and
``linear`` rows with stationary weights (:data:`CROSSBAR_OPS`). Every other row (``pool``,
``eltwise``, ``act``, ``norm``, ``softmax``, and ``matmul`` whose two operands are activations) is
carried through the graph for the dependencies only: PIM-HLS executes it in the digital periphery
of the tiles (pooling and activation units of the MNSIM-style tile, the paper's Fig. 2(b)) while
the layer group that holds its producer runs, and its latency is NOT counted (see
docs/pimhls.md). Filtering a topological order keeps it topological, so the crossbar sequence
respects every dependency, also those that pass through digital rows.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from cimkit.errors import WorkloadError
from cimkit.workload.layer import Layer
from cimkit.workload.table import Workload

#: Ops whose stationary weights are mapped onto PIM arrays and scheduled.
CROSSBAR_OPS: tuple[str, ...] = ("conv", "dwconv", "pwconv", "linear")


def is_crossbar(layer: Layer) -> bool:
    """True for a layer PIM-HLS maps onto arrays (a crossbar op with weights)."""
    return layer.op in CROSSBAR_OPS and layer.weights > 0


@dataclass(frozen=True)
class DataFlowGraph:
    """Producer/consumer graph of a workload.

    Attributes:
        workload: the network.
        order: layer names in deterministic topological order.
        preds: name -> producer names (network input excluded), in ``inputs`` order.
        succs: name -> consumer names, in workload order.
    """

    workload: Workload
    order: tuple[str, ...]
    preds: dict[str, tuple[str, ...]]
    succs: dict[str, tuple[str, ...]]

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in topological order."""
        by_name = {layer.name: layer for layer in self.workload.layers}
        return tuple(by_name[n] for n in self.order)

    @property
    def crossbar_layers(self) -> tuple[Layer, ...]:
        """The layers to schedule (crossbar ops with weights), in topological order."""
        return tuple(layer for layer in self.layers if is_crossbar(layer))

    @property
    def digital_layers(self) -> tuple[Layer, ...]:
        """Layers executed in the digital periphery (not scheduled), in topological order."""
        return tuple(layer for layer in self.layers if not is_crossbar(layer))


def build_dfg(workload: Workload) -> DataFlowGraph:
    """Build the data-flow graph of ``workload`` and sort it topologically.

    Raises:
        WorkloadError: a row names a producer that is not in the table, or the rows form a
            cycle (the message lists the rows on or behind the cycle).
    """
    names = [layer.name for layer in workload.layers]
    index = {n: i for i, n in enumerate(names)}
    preds: dict[str, tuple[str, ...]] = {}
    succs: dict[str, list[str]] = {n: [] for n in names}
    for layer in workload.layers:
        producers: list[str] = []
        for src in layer.inputs:
            if src == "":
                continue
            if src not in index:
                raise WorkloadError(
                    f"workload {workload.name!r}: layer {layer.name!r} reads {src!r}, which is "
                    "not a layer of the table (inputs must name earlier rows or '' for the "
                    "network input)"
                )
            if src not in producers:  # an op reading one tensor twice depends on it once
                producers.append(src)
        preds[layer.name] = tuple(producers)
        for src in producers:
            succs[src].append(layer.name)

    indegree = {n: len(preds[n]) for n in names}
    ready = [index[n] for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for nxt in succs[name]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, index[nxt])
    if len(order) != len(names):
        stuck = [n for n in names if indegree[n] > 0]
        shown = ", ".join(repr(n) for n in stuck[:8]) + (" ..." if len(stuck) > 8 else "")
        raise WorkloadError(
            f"workload {workload.name!r}: the layer inputs form a cycle; {len(stuck)} layers "
            f"cannot be ordered: {shown}"
        )
    sorted_succs = {n: tuple(sorted(succs[n], key=index.__getitem__)) for n in names}
    return DataFlowGraph(workload, tuple(order), preds, sorted_succs)


def schedule_order(workload: Workload) -> tuple[Layer, ...]:
    """Crossbar layers of ``workload`` in the deterministic topological order PIM-HLS schedules.

    Raises:
        WorkloadError: unknown producers, a cycle, or no crossbar layer at all.
    """
    layers = build_dfg(workload).crossbar_layers
    if not layers:
        raise WorkloadError(
            f"workload {workload.name!r} has no crossbar layers ({', '.join(CROSSBAR_OPS)} with "
            "weights) to schedule"
        )
    return layers


def fused_add_layers(workload: Workload) -> frozenset[str]:
    """Crossbar layers the Verilog generator fuses a residual add into (``cimkit.codegen``).

    Such a layer adds the add's other operand to its requantized output from its tiles' skip
    region, which an input-channel piece needs for its partial sum, so the optimizer cuts these
    layers along output channels only (docs/pimhls.md, "Input-channel split"). Empty for a
    workload the generator cannot lower (attention, concatenation), which it never builds.
    """
    from cimkit.codegen.lowering import lower
    from cimkit.errors import CimkitError

    try:
        ops = lower(workload)
    except CimkitError:
        return frozenset()
    return frozenset(g.name for g in ops if g.is_mac and g.skip is not None)
