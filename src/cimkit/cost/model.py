"""``evaluate(designs, workload)``: energy, latency, area and figures of merit of N designs.

The system model composes the registered engines (:mod:`cimkit.cost.engines`): every layer slot
is assigned to an engine (crossbars, vector units), each engine returns per-layer energy terms,
busy time, area and leakage, and this module adds what the chip shares (activation traffic
through tile buffers, global buffer and NoC; network I/O over DRAM; leakage), the execution model
(pipelined, sequential or layerwise, see ``chip.execution``) and the figures of merit.

Speed: the mapping depends on a design only through its mapping key
(:data:`cimkit.cost.mapping.KEY_PARAMS`), so it is computed once per distinct key; energies are
:class:`~cimkit.cost.registry.Term` products of keyed event counts and per-design costs, summed
over layers before they meet the design axis. Only the latency (replication, max, sums) is a
per-(design, layer) computation. Evaluating designs one at a time (every key distinct) is the
plain reference path; tests/cost/test_vectorized.py compares it with batched and chunked runs.
See docs/cost-model.md for every equation and its provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cimkit.cost.constants import (
    EXECUTIONS,
    MODES,
    READOUTS,
    Constants,
    area_factor,
    energy_factor,
    load_constants,
)
from cimkit.cost.designs import DesignTable, as_design_table, resolve_defaults
from cimkit.cost.engines import (
    CIM,
    ENGINE_NAMES,
    VECTOR,
    Context,
    assign_engines,
    sram_pj_per_bit,
)
from cimkit.cost.mapping import KEY_PARAMS, mapping_keys, weight_columns
from cimkit.cost.peripherals import (
    TIME_DOMAIN_READOUTS,
    if_phase_steps,
    min_cycle_time_ns,  # noqa: F401  (public here since v1)
)
from cimkit.cost.peripherals import resolve_timing as _resolve_timing
from cimkit.cost.registry import COMPONENTS, Term
from cimkit.errors import WorkloadError
from cimkit.specs.chip import ChipSpec
from cimkit.workload.histograms import stack_tables
from cimkit.workload.table import OP_CODE, LayerArrays, Workload

if TYPE_CHECKING:  # pandas is imported where a frame is built (the search path never does)
    import pandas as pd

CHUNK = 8192
PJ = 1e-12

#: Scalar metrics per design, with units.
METRICS: dict[str, str] = {
    "energy_j": "J per inference (steady state: leakage over one period)",
    "latency_s": "s, one inference from input to output",
    "period_s": "s between inferences in steady state (= latency_s unless pipelined)",
    "area_m2": "m^2",
    "area_mm2": "mm^2",
    "edap_j_s_m2": "J*s*m^2 (energy x latency x area)",
    "ops": "operations per inference (2 per MAC)",
    "tops": "TOPS, effective: ops / period",
    "peak_tops": "TOPS, every crossbar doing a full-array 8b x 8b MVM every window",
    "tops_per_w": "TOPS/W (ops / energy)",
    "tops_per_mm2": "TOPS/mm^2, effective (tops / area)",
    "peak_tops_per_mm2": "TOPS/mm^2 at peak_tops",
    "utilization": "programmed cells / cells on chip",
    "xbar_utilization": "programmed cells / cells of the crossbars used",
    "xbars_needed": "crossbars for one copy of all weights",
    "xbars_available": "crossbars on chip",
    "weight_groups": "layer groups loaded in turn (weight swapping; 1 when stationary)",
    "cycle_time_ns": "ns, the clock used (given, or min_cycle_time_ns when unset)",
    "min_cycle_time_ns": "ns, shortest period the readout allows at this node and voltage",
    "power_w": "W, average (energy / period)",
}

#: Non-parameter columns of :meth:`Evaluation.to_frame` (skipped when the table is read back).
RESULT_COLUMNS: tuple[str, ...] = (*METRICS, "feasible", "reason")

#: Energy components (breakdown rows), in registry order.
ENERGY_COMPONENTS: tuple[str, ...] = tuple(COMPONENTS)
AREA_COMPONENTS: tuple[str, ...] = (
    "cells",
    "readout",
    "row_drivers",
    "shift_add",
    "tile_buffer",
    "vector_unit",
    "tile_overhead",
    "router",
    "glb",
)


@dataclass
class _Block:
    """One chunk's results: metrics (n,), per-layer time (n, L), energy terms, breakdown parts."""

    metrics: dict[str, np.ndarray]
    energy_by: dict[str, np.ndarray]
    area_by: dict[str, np.ndarray]
    checks: dict[str, np.ndarray]
    terms: dict[str, list[Term]] | None
    layer_t: np.ndarray | None
    leak_share: np.ndarray | None
    replication: np.ndarray | None
    xbars: np.ndarray | None
    n_layers: int


class LayerEnergy:
    """Per-layer energy by component, built on access: ``ev.layer_energy[name]`` is (N, L) J.

    Kept as terms (keyed event counts x per-design costs), so a breakdown of 100,000 designs costs
    megabytes until a component is read.
    """

    def __init__(self, blocks: list[_Block]) -> None:
        self._blocks = blocks

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in COMPONENTS:
            raise KeyError(f"unknown component {name!r}; known: {list(COMPONENTS)}")
        parts = []
        for b in self._blocks:
            assert b.terms is not None and b.layer_t is not None and b.leak_share is not None
            if name == "leakage":
                parts.append(b.leak_share)
                continue
            out = np.zeros((len(b.metrics["energy_j"]), b.n_layers))
            for t in b.terms.get(name, []):
                out[:, t.cols] += t.events[t.index] * t.cost[:, None]
            parts.append(out)
        return np.concatenate(parts)

    def keys(self) -> tuple[str, ...]:
        return ENERGY_COMPONENTS

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(ENERGY_COMPONENTS)

    def __contains__(self, name: object) -> bool:
        return name in COMPONENTS

    def items(self):  # type: ignore[no-untyped-def]
        return ((k, self[k]) for k in ENERGY_COMPONENTS)


@dataclass
class Evaluation:
    """Result of :func:`evaluate` for N designs.

    Attributes:
        designs: the evaluated :class:`DesignTable` (unset values resolved).
        metrics: name -> (N,) array, see :data:`METRICS`.
        feasible: (N,) bool.
        checks: the (N,) masks of each constraint (no_fit, too_big, too_fast); read
            :attr:`reasons` for the message of every infeasible design.
        energy_by_component: component -> (N,) J.
        area_by_component: component -> (N,) m^2.
        layer_energy: component -> (N, L) J per layer, built on access (``breakdown=True``).
        layer_latency: (N, L) s busy time per layer (``breakdown=True``).
        layer_replication: (N, L) crossbar copies per layer (``breakdown=True``).
        layer_xbars: (N, L) crossbars of one copy per layer (``breakdown=True``).
        layer_names: names of the L layers (single workload), or slot indices.
    """

    designs: DesignTable
    metrics: dict[str, np.ndarray]
    feasible: np.ndarray
    checks: dict[str, np.ndarray]
    energy_by_component: dict[str, np.ndarray]
    area_by_component: dict[str, np.ndarray]
    layer_energy: LayerEnergy | None = None
    layer_latency: np.ndarray | None = None
    layer_names: tuple[str, ...] = field(default=())
    layer_replication: np.ndarray | None = None
    layer_xbars: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.feasible)

    @property
    def reasons(self) -> np.ndarray:
        """(N,) str: '' for feasible designs, else every violated constraint with its numbers.

        Built on first access (formatting strings is the slowest part of a large evaluation).
        """
        cached = self.__dict__.get("_reasons")
        if cached is None:
            cached = np.full(len(self.feasible), "", dtype=object)
            for i in np.flatnonzero(~self.feasible):
                cached[i] = _reason(int(i), self.checks, self.metrics)
            self.__dict__["_reasons"] = cached
        return cached

    def __getitem__(self, key: str) -> np.ndarray:
        return self.metrics[key]

    def to_frame(self) -> pd.DataFrame:
        """designs.csv: one row per design, parameters then metrics then feasibility."""
        frame = self.designs.to_frame()
        for k, v in self.metrics.items():
            frame[k] = v
        for k, v in self.energy_by_component.items():
            frame[f"energy_{k}_j"] = v
        frame["feasible"] = self.feasible
        frame["reason"] = self.reasons
        return frame

    def components_frame(self) -> pd.DataFrame:
        """components.csv: one row per design x component with energy (J) and area (m^2)."""
        import pandas as pd

        names = list(ENERGY_COMPONENTS) + [k for k in AREA_COMPONENTS if k not in COMPONENTS]
        n = len(self)
        data = {
            "design": np.repeat(np.array(self.designs.names, dtype=object), len(names)),
            "component": np.tile(np.array(names, dtype=object), n),
        }
        energy = np.stack(
            [self.energy_by_component.get(k, np.zeros(n)) for k in names], axis=1
        ).ravel()
        area = np.stack([self.area_by_component.get(k, np.zeros(n)) for k in names], 1).ravel()
        data["energy_j"] = energy
        data["area_m2"] = area
        return pd.DataFrame(data)

    def layers_frame(self) -> pd.DataFrame:
        """layers.csv: one row per design x layer with per-component energy and latency."""
        if self.layer_energy is None or self.layer_latency is None:
            raise ValueError("per-layer results need evaluate(..., breakdown=True)")
        import pandas as pd

        n, n_layers = self.layer_latency.shape
        names = self.layer_names or tuple(str(j) for j in range(n_layers))
        data: dict[str, Any] = {
            "design": np.repeat(np.array(self.designs.names, dtype=object), n_layers),
            "layer": np.tile(np.array(names, dtype=object), n),
            "latency_s": self.layer_latency.ravel(),
        }
        if self.layer_xbars is not None and self.layer_replication is not None:
            data["xbars"] = self.layer_xbars.ravel()
            data["replication"] = self.layer_replication.ravel()
        total = np.zeros(n * n_layers)
        for k in ENERGY_COMPONENTS:
            data[f"energy_{k}_j"] = self.layer_energy[k].ravel()
            total += data[f"energy_{k}_j"]
        data["energy_j"] = total
        return pd.DataFrame(data)


def _as_layer_arrays(workload: Workload | LayerArrays) -> LayerArrays:
    if isinstance(workload, LayerArrays):
        return workload
    if isinstance(workload, Workload):
        return workload.arrays()
    raise WorkloadError(f"expected a Workload or LayerArrays, got {type(workload).__name__}")


def evaluate(
    designs: DesignTable | ChipSpec | list[ChipSpec] | pd.DataFrame | dict[str, Any],
    workload: Workload | LayerArrays,
    *,
    breakdown: bool = False,
    base: ChipSpec | None = None,
    constants: Constants | None = None,
    chunk: int = CHUNK,
) -> Evaluation:
    """Evaluate N hardware designs on a workload (or on N workloads, one per design).

    Args:
        designs: N designs; see :func:`cimkit.cost.designs.as_design_table`.
        workload: a :class:`Workload` shared by all designs, or :class:`LayerArrays` of shape
            (1, L) or (N, L) (one network and quantization policy per design).
        breakdown: also keep per-layer (N, L) energies per component (built on access),
            latencies, replication and crossbar counts.
        base: spec supplying parameters a DataFrame/dict leaves out.
        constants: technology constants (defaults to the packaged table).
        chunk: designs evaluated per vectorized block (bounds peak memory).

    Returns:
        An :class:`Evaluation`; energies in J, latency in s, area in m^2.
    """
    table = as_design_table(designs, base)
    la = _as_layer_arrays(workload)
    c = constants or load_constants()
    n = len(table)
    if la.shape[0] not in (1, n):
        raise WorkloadError(f"layer arrays have {la.shape[0]} rows for {n} designs")
    in_tab, w_tab = stack_tables(la.histograms)
    values = resolve_defaults(table.values, c)
    values = _resolve_timing(values, c)
    # A fused activation/norm is applied in its producer's output stage at the rate outputs
    # stream out: it costs vector-unit energy but no time of its own.
    engine = np.where(_fused(la), ENGINE_NAMES.index("vector_fused"), assign_engines(la))
    blocks = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d = {k: v[start:stop] for k, v in values.items()}
        sub = la if la.shape[0] == 1 else la.take_rows(start, stop)
        eng = engine if engine.shape[0] == 1 else engine[start:stop]
        blocks.append(_evaluate_block(d, sub, eng, c, in_tab, w_tab, breakdown))
    return _assemble(DesignTable(values, table.names), la, blocks, breakdown)


def _block_keys(
    d: dict[str, np.ndarray], la: LayerArrays
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(keys (K, 1), key index (n,), workload index (n,)) of a block of n designs."""
    n = len(d["rows"])
    if la.shape[0] == 1:
        keys, kidx = mapping_keys(d)
        return keys, kidx, np.zeros(n, dtype=np.int64)
    # One workload per design: the layer arrays already have a row per design.
    keys = {k: np.asarray(d[k], dtype=np.float64)[:, None] for k in KEY_PARAMS}
    idx = np.arange(n)
    return keys, idx, idx


def _evaluate_block(
    d: dict[str, np.ndarray],
    la: LayerArrays,
    engine: np.ndarray,
    c: Constants,
    in_tab: np.ndarray,
    w_tab: np.ndarray,
    breakdown: bool,
) -> _Block:
    """One chunk of designs: engines, shared traffic, execution model, area, figures of merit."""
    n, n_layers = len(d["rows"]), la.shape[1]
    keys, kidx, widx = _block_keys(d, la)
    ctx = Context(d, c, la, engine, keys, kidx, widx, in_tab, w_tab)
    cim = CIM.run(ctx)
    vec = VECTOR.run(ctx)
    stationary = d["mode"] == MODES.index("weight_stationary")
    pipelined = stationary & (d["execution"] == EXECUTIONS.index("pipelined"))

    terms: dict[str, list[Term]] = {k: [] for k in COMPONENTS}
    for res in (cim, vec):
        for k, ts in res.energy.items():
            terms[k].extend(ts)
    io_bits, io_dram = _traffic_terms(ctx, pipelined, terms)
    busy = np.zeros((n, n_layers))
    for res in (cim, vec):
        busy[:, res.time_cols] = np.maximum(busy[:, res.time_cols], res.time)
    layer_t, latency, period = _execution(ctx, busy, io_bits, io_dram, pipelined)

    area = _chip_area_um2(ctx, cim.area_um2 | vec.area_um2)
    leak_w = _leakage_w(ctx, area, cim.leakage_w)
    energy_by = {k: sum((t.total() for t in ts), np.zeros(n)) for k, ts in terms.items()}
    energy_by["leakage"] = leak_w * period
    energy = sum(energy_by.values())
    ops = 2.0 * ctx.by_workload(np.where(la.mask, la.macs, 0).sum(axis=1).astype(np.float64))
    area_total = sum(area.values())
    area_m2 = area_total * 1e-12
    area_mm2 = area_total * 1e-6

    m = cim.extra["mapping"]
    xb = cim.extra["xbars"]  # (R, Lx) keyed crossbars of one copy of each layer
    avail = ctx.xbars_available
    xbars_needed = ctx.by_key(xb.sum(axis=1))
    cells_chip = avail * d["rows"] * d["cols"]
    programmed = ctx.by_key(np.broadcast_to(m.weight_cells, xb.shape).sum(axis=1)).astype(float)
    used_cells = xbars_needed * d["rows"] * d["cols"]
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(stationary, programmed / cells_chip, np.minimum(programmed / cells_chip, 1))
        xutil = np.where(used_cells > 0, programmed / used_cells, 0.0)
    groups = np.ones(n)
    if (~stationary).any():
        groups = np.where(stationary, 1.0, _count_groups(ctx.by_key(xb), avail))
    peak = _peak_tops(d, avail)
    metrics = {
        "energy_j": energy,
        "latency_s": latency,
        "period_s": period,
        "area_m2": area_m2,
        "area_mm2": area_mm2,
        "edap_j_s_m2": energy * latency * area_m2,
        "ops": ops,
        "tops": ops / period / 1e12,
        "peak_tops": peak,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": ops / period / 1e12 / area_mm2,
        "peak_tops_per_mm2": peak / area_mm2,
        "utilization": util,
        "xbar_utilization": xutil,
        "xbars_needed": xbars_needed,
        "xbars_available": avail.astype(np.float64),
        "weight_groups": groups,
        "cycle_time_ns": d["cycle_time_ns"],
        "min_cycle_time_ns": d["min_cycle_time_ns"],
        "power_w": energy / period,
    }
    checks = _feasibility(metrics, stationary, d["area_constraint_mm2"])
    block = _Block(
        metrics=metrics,
        energy_by=energy_by,
        area_by={k: v * 1e-12 for k, v in area.items()},
        checks=checks,
        terms=None,
        layer_t=None,
        leak_share=None,
        replication=None,
        xbars=None,
        n_layers=n_layers,
    )
    if breakdown:
        xi = cim.extra["xi"]
        block.terms = terms
        block.layer_t = layer_t
        seq = layer_t.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(seq[:, None] > 0, layer_t / seq[:, None], 0.0)
        block.leak_share = share * energy_by["leakage"][:, None]
        xbf = np.zeros((n, n_layers), dtype=np.int32)
        xbf[:, xi] = ctx.by_key(xb)
        reps = np.zeros((n, n_layers), dtype=np.int32)
        reps[:, xi] = np.where(xbf[:, xi] > 0, cim.extra["replication"], 0)
        block.replication = reps
        block.xbars = xbf
    return block


def _traffic_terms(
    ctx: Context, pipelined: np.ndarray, terms: dict[str, list[Term]]
) -> tuple[np.ndarray, np.ndarray]:
    """Add the activation-traffic terms to ``terms``; return (io bits, DRAM io bits), (B, L).

    Every layer's inputs and outputs pass the tile buffer and the NoC; in sequential/layerwise
    execution they are stored in the GLB between layers, in a pipeline they go producer tile ->
    consumer tile over one hop (the GLB holds only the network input and output, which cross
    the DRAM interface). A fused activation/norm has no traffic of its own.
    """
    d, c, la, widx = ctx.d, ctx.c, ctx.la, ctx.widx
    ef = energy_factor(d["node_nm"], d["voltage_v"], c)
    mask = la.mask
    fused = ctx.engine == ENGINE_NAMES.index("vector_fused")
    in_bits = la.in_elems * la.act_bits
    out_bits = la.out_elems * la.act_bits
    shape = np.broadcast_shapes(in_bits.shape, out_bits.shape, mask.shape, fused.shape)
    io_bits = np.broadcast_to(np.where(mask & ~fused, in_bits + out_bits, 0), shape).astype(float)
    last_idx = np.broadcast_to(mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1), shape[:1])
    io_dram = np.zeros(shape)
    io_dram[:, 0] += np.broadcast_to(in_bits, shape)[:, 0]
    io_dram[np.arange(shape[0]), last_idx] += np.take_along_axis(
        np.broadcast_to(out_bits, shape), last_idx[:, None], 1
    )[:, 0]
    cols = np.arange(la.shape[1])
    glb = sram_pj_per_bit(d["glb_kb"], c) * PJ * ef
    hops = np.where(pipelined, 1.0, 1.0 + (2.0 / 3.0) * np.sqrt(d["tile_groups"]))
    tb_j = sram_pj_per_bit(d["tile_buffer_kb"], c) * PJ * ef
    terms["tile_buffer"].append(Term(io_bits, tb_j, widx, cols))
    terms["glb"].append(Term(io_bits, np.where(pipelined, 0.0, glb), widx, cols))
    terms["glb"].append(Term(io_dram, np.where(pipelined, glb, 0.0), widx, cols))
    terms["noc"].append(Term(io_bits, hops * c["noc_pj_per_bit_hop"] * PJ * ef, widx, cols))
    terms["dram"].append(Term(io_dram, d["dram_pj_per_bit"] * PJ, widx, cols))
    return io_bits, io_dram


def _execution(
    ctx: Context,
    busy: np.ndarray,
    io_bits: np.ndarray,
    io_dram: np.ndarray,
    pipelined: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time per layer slot (n, L), latency (n,), period (n,)) under ``chip.execution``.

    ``busy`` is the engines' time per slot. Sequential and layerwise execution store every
    layer's activations, so each layer also waits for GLB and NoC bandwidth (unset bandwidths
    are never the bottleneck) and latency = period = the sum. Pipelined stages stream producer
    -> consumer: one inference per period, bounded by the slowest stage, by the NoC traffic of
    all stages (each router carries its tiles' traffic) and by the DRAM I/O; a single inference
    waits for each stage to produce the rows its consumer needs first (fill), and for all of
    the bottleneck stage.
    """
    d, n = ctx.d, ctx.n
    cycle_s = d["cycle_s"]
    io_n = ctx.by_workload(io_bits)
    glb_bw = np.nan_to_num(d["glb_bandwidth_bits"], nan=np.inf)
    noc_link = np.nan_to_num(d["noc_bits"], nan=np.inf)
    per_bit = np.maximum(1.0 / glb_bw, 1.0 / (noc_link * np.sqrt(d["tile_groups"]))) * cycle_s
    bounded = ~pipelined & np.isfinite(per_bit)
    if bounded.any():
        layer_t = np.maximum(busy, io_n * np.where(bounded, per_bit, 0.0)[:, None])
    else:
        layer_t = busy
    seq = layer_t.sum(axis=1)
    if not pipelined.any():
        return layer_t, seq, seq
    fill_n = ctx.by_workload(_fill_fraction(ctx.la))
    shared = np.broadcast_to(io_n.sum(axis=1) / (noc_link * d["tile_groups"]) * cycle_s, (n,))
    dram_t = ctx.by_workload(io_dram.sum(axis=1)) / (d["dram_bandwidth_gb_s"] * 8e9)
    period_p = np.maximum(np.maximum(busy.max(axis=1), shared), dram_t)
    b = np.argmax(busy, axis=1)
    t_b = busy[np.arange(n), b]
    f_b = np.broadcast_to(fill_n, busy.shape)[np.arange(n), b]
    latency_p = np.maximum((busy * fill_n).sum(axis=1) + (1.0 - f_b) * t_b, period_p)
    latency = np.where(pipelined, latency_p, seq)
    return layer_t, latency, np.where(pipelined, period_p, latency)


def _chip_area_um2(ctx: Context, engines: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Chip area by component (um^2, (n,)): the engines' areas plus buffers, control, routers."""
    d, c = ctx.d, ctx.c
    af = area_factor(d["node_nm"], c)
    bit = _sram_bit_area_um2(c) * af
    return {
        **engines,
        "tile_buffer": d["tile_buffer_kb"] * 8192 * bit * ctx.tiles,
        "tile_overhead": c["tile_overhead_mm2"] * 1e6 * af * ctx.tiles,
        "router": c["router_area_mm2"] * 1e6 * af * d["tile_groups"],
        "glb": d["glb_kb"] * 8192 * bit,
    }


def _leakage_w(
    ctx: Context, area: dict[str, np.ndarray], engines: dict[str, np.ndarray]
) -> np.ndarray:
    """(n,) static power, W: buffer bits, logic area (digital adder trees included), and the
    engines' own leakage (readout bias, SRAM cells), all x V / V_ref."""
    d, c = ctx.d, ctx.c
    v = d["voltage_v"] / c.ref_voltage_v
    buffer_bits = (d["tile_buffer_kb"] * ctx.tiles + d["glb_kb"]) * 8192
    logic = ("row_drivers", "shift_add", "vector_unit", "tile_overhead", "router")
    logic_mm2 = sum(area[k] for k in logic) * 1e-6
    # Digital macros' adder trees are logic too (analog readouts leak through their own model).
    logic_mm2 = logic_mm2 + np.where(d["macro_kind"] == 1, area["readout"], 0.0) * 1e-6
    return (
        buffer_bits * c["sram_leak_pw_per_bit"] * PJ * v
        + logic_mm2 * c["logic_leak_w_per_mm2"] * v
        + sum(engines.values())
    )


def _neighbours(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(previous, next) valid slot of every slot, (B, L) int; -1 / L where there is none.

    Batches of networks may hold masked (inactive) slots between layers, so neighbours are the
    nearest unmasked slots, not adjacent columns.
    """
    return _previous(mask), _next(mask)


def _previous(mask: np.ndarray) -> np.ndarray:
    """(B, L) int: the nearest unmasked slot before each slot, -1 where there is none."""
    b, n_layers = mask.shape
    prev = np.full((b, n_layers), -1, dtype=np.int64)
    # Running maximum of the valid slots' indices, shifted one slot right (written in place).
    np.maximum.accumulate(np.where(mask[:, :-1], np.arange(n_layers - 1), -1), axis=1,
                          out=prev[:, 1:])  # fmt: skip
    return prev


def _next(mask: np.ndarray) -> np.ndarray:
    """(B, L) int: the nearest unmasked slot after each slot, L where there is none."""
    b, n_layers = mask.shape
    nxt = np.full((b, n_layers), n_layers, dtype=np.int64)
    rev = np.where(mask[:, :0:-1], np.arange(n_layers - 1, 0, -1), n_layers)
    np.minimum.accumulate(rev, axis=1, out=nxt[:, -2::-1])
    return nxt


def _take(a: np.ndarray, index: np.ndarray, fill: int) -> np.ndarray:
    """``a[row, index[row, j]]`` with ``fill`` where the index is out of range."""
    ok = (index >= 0) & (index < a.shape[1])
    a = np.broadcast_to(a, index.shape)
    # minimum/maximum, not np.clip (same integers; np.clip's wrapper costs more than the work).
    safe = np.minimum(np.maximum(index, 0), a.shape[1] - 1)
    return np.where(ok, np.take_along_axis(a, safe, 1), fill)


def _fused(la: LayerArrays) -> np.ndarray:
    """(B, L) bool: an activation or norm layer directly after a MAC layer (fused into it)."""
    mask = la.mask
    op = np.broadcast_to(la.op, np.broadcast_shapes(la.op.shape, mask.shape))
    mask = np.broadcast_to(mask, op.shape)
    prev = _previous(mask)
    # Lookup tables indexed by op code instead of np.isin (a sort per call, 10x slower on a
    # (150, 70) batch); the last entry answers the fill code -1 (no previous layer).
    prev_mac = _IS_MAC[_take(op, prev, -1)]
    elementwise = _IS_ELEMENTWISE[op]
    return elementwise & prev_mac & mask


def _op_table(ops: tuple[str, ...]) -> np.ndarray:
    """(len(OPS) + 1,) bool: True at the codes of ``ops``; index -1 (no layer) is False."""
    table = np.zeros(len(OP_CODE) + 1, dtype=bool)
    table[[OP_CODE[o] for o in ops]] = True
    return table


_IS_MAC = _op_table(("conv", "dwconv", "pwconv", "linear", "matmul"))
_IS_ELEMENTWISE = _op_table(("act", "norm"))


def _fill_fraction(la: LayerArrays) -> np.ndarray:
    """(B, L) share of a layer's work done before its consumer can start (pipelined latency).

    The next layer needs ``kernel_h`` rows of this layer's output (1 for 1x1 and elementwise
    consumers); a global consumer (pool to 1x1, linear) or the network output needs all of it.
    """
    shape = np.broadcast_shapes(la.mask.shape, la.kernel_h.shape, la.out_h.shape)
    mask = np.broadcast_to(la.mask, shape)
    nxt = _next(mask)
    nxt_k = _take(la.kernel_h, nxt, 1)
    nxt_out = _take(la.out_h, nxt, 1)
    h = np.maximum(np.broadcast_to(la.out_h, shape), 1)
    need = np.where(nxt_out == 1, h, np.minimum(np.maximum(nxt_k, 1), h))
    return np.where(mask, need / h, 0.0)


def _peak_tops(d: dict[str, np.ndarray], avail: np.ndarray) -> np.ndarray:
    """(n,) TOPS with every crossbar doing a full-array 8b x 8b MVM in every window."""
    ws = np.ceil(8 / d["bits_per_cell"])
    windows = np.ceil(np.ceil(8 / d["input_bits_per_cycle"]) / d["slices_per_conversion"])
    groups = np.ceil(d["rows"] / d["active_rows"])
    analog = d["macro_kind"] == 0
    combined = (d["combine_weight_bits"] > 0) & analog
    units = np.where(combined, d["cols"] / ws, d["cols"])
    n_adc = np.ceil(d["cols"] / d["cols_per_adc"])
    steps = np.where(analog, np.maximum(np.ceil(units / n_adc), 1) * groups, groups)
    # A column_adder macro's weights also take their sum's guard columns (weight_columns).
    macs = (
        avail * d["rows"] * np.floor(d["cols"] / weight_columns(ws, d["readout"], d["active_rows"]))
    )
    cycles = windows * steps
    # A time-domain readout's clock is one neuron step, and an input vector takes its phases'
    # integration, sample and conversion steps (the engine's own count, if_phase_steps), not
    # one cycle per window.
    tdr = analog & np.isin(d["readout"], [READOUTS.index(r) for r in TIME_DOMAIN_READOUTS])
    if tdr.any():
        integ, conv = if_phase_steps(8.0, windows, d["adc_bits"], int(windows[tdr].max()))
        cycles = np.where(tdr, steps * (integ + conv), cycles)
    return 2.0 * macs / (cycles * d["cycle_s"]) / 1e12


def _sram_bit_area_um2(c: Constants) -> float:
    ref = c.raw["node_scaling"]["sram_cell_um2"][int(c.ref_node_nm)]
    return float(ref) / c["sram_array_efficiency"]


def _count_groups(xbars: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Layer groups when packing consecutive layers greedily into ``capacity`` crossbars."""
    n, n_layers = xbars.shape
    used = np.zeros(n)
    groups = np.zeros(n)
    for j in range(n_layers):
        x = xbars[:, j].astype(np.float64)
        has = x > 0
        big = x > capacity
        new = has & ((used + x > capacity) | (used == 0))
        groups += np.where(big, np.ceil(x / capacity), np.where(new, 1, 0))
        used = np.where(big, 0.0, np.where(new, x, np.where(has, used + x, used)))
    return np.maximum(groups, 1)


def _feasibility(
    metrics: dict[str, np.ndarray], stationary: np.ndarray, area_constraint: np.ndarray
) -> dict[str, np.ndarray]:
    """Boolean (N,) masks of every violated constraint."""
    return {
        "no_fit": stationary & (metrics["xbars_needed"] > metrics["xbars_available"]),
        "too_big": ~np.isnan(area_constraint) & (metrics["area_mm2"] > area_constraint),
        "too_fast": metrics["cycle_time_ns"] < metrics["min_cycle_time_ns"] * (1 - 1e-12),
        "area_constraint": area_constraint,
        "cycle_ns": metrics["cycle_time_ns"],
    }


def _reason(i: int, f: dict[str, np.ndarray], metrics: dict[str, np.ndarray]) -> str:
    """The violated constraints of design ``i``, with the numbers, joined by '; '."""
    parts = []
    if f["no_fit"][i]:
        parts.append(
            f"weights need {int(metrics['xbars_needed'][i]):,} crossbars, chip has "
            f"{int(metrics['xbars_available'][i]):,} (weight-stationary)"
        )
    if f["too_big"][i]:
        parts.append(
            f"area {metrics['area_mm2'][i]:,.6g} mm^2 above constraint "
            f"{f['area_constraint'][i]:,.6g} mm^2"
        )
    if f["too_fast"][i]:
        parts.append(
            f"cycle time {f['cycle_ns'][i]:g} ns below the "
            f"{metrics['min_cycle_time_ns'][i]:.2f} ns "
            "the readout needs at this voltage"
        )
    return "; ".join(parts)


def _assemble(
    table: DesignTable, la: LayerArrays, blocks: list[_Block], breakdown: bool
) -> Evaluation:
    def cat_dict(key: str) -> dict[str, np.ndarray]:
        first = getattr(blocks[0], key)
        return {k: np.concatenate([getattr(b, key)[k] for b in blocks]) for k in first}

    metrics = cat_dict("metrics")
    checks = cat_dict("checks")
    feasible = ~(checks["no_fit"] | checks["too_big"] | checks["too_fast"])
    names = la.names or tuple(f"slot{j}" for j in range(la.shape[1]))
    ev = Evaluation(
        designs=table,
        metrics=metrics,
        feasible=feasible,
        checks=checks,
        energy_by_component=cat_dict("energy_by"),
        area_by_component=cat_dict("area_by"),
        layer_names=names,
    )
    if breakdown:
        ev.layer_energy = LayerEnergy(blocks)
        ev.layer_latency = np.concatenate([b.layer_t for b in blocks])  # type: ignore[misc]
        ev.layer_replication = np.concatenate([b.replication for b in blocks])  # type: ignore[misc]
        ev.layer_xbars = np.concatenate([b.xbars for b in blocks])  # type: ignore[misc]
    return ev


__all__ = [
    "AREA_COMPONENTS",
    "ENERGY_COMPONENTS",
    "METRICS",
    "RESULT_COLUMNS",
    "Evaluation",
    "LayerEnergy",
    "evaluate",
    "min_cycle_time_ns",
]
