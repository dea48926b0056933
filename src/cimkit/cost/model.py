"""``evaluate(designs, workload)``: energy, latency, area and figures of merit of N designs.

The model is pure numpy over a leading design axis: design parameters are (n, 1) arrays, layer
columns (B, L) arrays with B in {1, n}, so every per-layer quantity is an (n, L) array and a whole
population costs a few hundred vector operations. Designs are processed in chunks to bound memory.
See docs/cost-model.md for every equation and its provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cimkit.cost import components as comp
from cimkit.cost.constants import (
    MODES,
    Constants,
    area_factor,
    delay_factor,
    energy_factor,
    load_constants,
)
from cimkit.cost.designs import DesignTable, as_design_table, resolve_defaults
from cimkit.cost.mapping import XBAR_OPS, map_layers, replicate
from cimkit.errors import WorkloadError
from cimkit.specs.chip import ChipSpec
from cimkit.workload.histograms import stack_tables
from cimkit.workload.table import OP_CODE, LayerArrays, Workload

CHUNK = 2048
_MATMUL = OP_CODE["matmul"]
_NONMAC = np.array([OP_CODE[o] for o in ("pool", "eltwise", "softmax", "norm", "act")])

#: Scalar metrics per design, with units.
METRICS: dict[str, str] = {
    "energy_j": "J",
    "latency_s": "s",
    "area_m2": "m^2",
    "area_mm2": "mm^2",
    "edap_j_s_m2": "J*s*m^2",
    "ops": "operations (2 per MAC)",
    "tops": "TOPS",
    "tops_per_w": "TOPS/W",
    "tops_per_mm2": "TOPS/mm^2",
    "utilization": "programmed cells / cells on chip",
    "xbar_utilization": "programmed cells / cells of the crossbars used",
    "xbars_needed": "crossbars for one copy of all weights",
    "xbars_available": "crossbars on chip",
    "weight_groups": "layer groups loaded in turn (weight swapping; 1 when stationary)",
    "min_cycle_time_ns": "ns, shortest period the readout allows at this voltage",
    "power_w": "W, average",
}

#: Non-parameter columns of :meth:`Evaluation.to_frame` (skipped when the table is read back).
RESULT_COLUMNS: tuple[str, ...] = (*METRICS, "feasible", "reason")


@dataclass
class Evaluation:
    """Result of :func:`evaluate` for N designs.

    Attributes:
        designs: the evaluated :class:`DesignTable`.
        metrics: name -> (N,) array, see :data:`METRICS`.
        feasible: (N,) bool.
        checks: the (N,) masks of each constraint (no_fit, too_big, too_fast); read
            :attr:`reasons` for the message of every infeasible design.
        energy_by_component: component -> (N,) J.
        area_by_component: component -> (N,) m^2.
        layer_energy: component -> (N, L) J per layer (only with ``breakdown=True``).
        layer_latency: (N, L) s per layer (only with ``breakdown=True``).
        layer_names: names of the L layers (single workload), or slot indices.
    """

    designs: DesignTable
    metrics: dict[str, np.ndarray]
    feasible: np.ndarray
    checks: dict[str, np.ndarray]
    energy_by_component: dict[str, np.ndarray]
    area_by_component: dict[str, np.ndarray]
    layer_energy: dict[str, np.ndarray] | None = None
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
        rows = []
        for i, name in enumerate(self.designs.names):
            for k in comp.ENERGY_COMPONENTS:
                area = self.area_by_component.get(k)
                rows.append(
                    {
                        "design": name,
                        "component": k,
                        "energy_j": float(self.energy_by_component[k][i]),
                        "area_m2": float(area[i]) if area is not None else 0.0,
                    }
                )
            for k in comp.AREA_COMPONENTS:
                if k not in self.energy_by_component:
                    rows.append(
                        {
                            "design": name,
                            "component": k,
                            "energy_j": 0.0,
                            "area_m2": float(self.area_by_component[k][i]),
                        }
                    )
        return pd.DataFrame(rows)

    def layers_frame(self) -> pd.DataFrame:
        """layers.csv: one row per design x layer with per-component energy and latency."""
        if self.layer_energy is None or self.layer_latency is None:
            raise ValueError("per-layer results need evaluate(..., breakdown=True)")
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
        for k in comp.ENERGY_COMPONENTS:
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
        breakdown: also return per-layer (N, L) energies per component and latencies.
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
    parts = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        d = {k: v[start:stop, None] for k, v in values.items()}
        sub = la if la.shape[0] == 1 else la.take_rows(start, stop)
        parts.append(_evaluate_block(d, sub, c, in_tab, w_tab, breakdown))
    # The result shows the constants actually used, not NaN placeholders.
    return _assemble(DesignTable(values, table.names), la, parts, breakdown)


def _evaluate_block(
    d: dict[str, np.ndarray],
    la: LayerArrays,
    c: Constants,
    in_tab: np.ndarray,
    w_tab: np.ndarray,
    breakdown: bool,
) -> dict[str, Any]:
    n = d["rows"].shape[0]
    ef = energy_factor(d["node_nm"], d["voltage_v"], c)  # (n, 1)
    af = area_factor(d["node_nm"], c)
    v2 = (d["voltage_v"] / c.ref_voltage_v) ** 2
    cycle_s = d["cycle_time_ns"] * 1e-9
    analog = d["macro_kind"] == 0
    stationary = d["mode"] == MODES.index("weight_stationary")
    tiles = d["tiles_per_router"] * d["tile_groups"]
    xbars_avail = (d["macros_per_tile"] * tiles)[:, 0]

    # Crossbar quantities are computed only on the layer slots that hold crossbar layers (about
    # half of a MobileNet's rows are pool/eltwise/act); the rest of the model is per layer.
    n_layers = la.shape[1]
    xi = np.flatnonzero((np.isin(la.op, XBAR_OPS) & la.mask).any(axis=0))
    lx = la.take_cols(xi)
    m = map_layers(d, lx)
    wb, ab = lx.weight_bits, lx.act_bits
    xbars_needed = m.xbars.sum(axis=1)
    spare = np.where(stationary[:, 0], np.maximum(xbars_avail - xbars_needed, 0), 0)
    reps = replicate(m, spare)

    # Data statistics (CiMLoop-style): mean levels of input slices and weight slices.
    h = lx.hist_index
    dac = d["input_bits_per_cycle"].astype(np.int64)
    bpc = d["bits_per_cell"].astype(np.int64)
    in_lvl = in_tab[h, ab, dac]
    w_lvl = w_tab[h, wb, bpc]

    on = m.on_xbar
    vec = m.vectors.astype(np.float64)
    slices = m.input_slices.astype(np.float64)
    rows_total = (np.maximum(lx.groups, 1) * m.rows_b).astype(np.float64)
    g0 = 1.0 / d["on_off_ratio"]
    # Passes: a layer larger than the whole chip (weight swapping) runs in several loads.
    passes = np.maximum(np.ceil(m.xbars / xbars_avail[:, None]), 1.0)

    ex: dict[str, np.ndarray] = {}  # (n, Lx) energies of crossbar layers
    cell_events = vec * slices * m.weight_cells * in_lvl
    level = (g0 + (1 - g0) * w_lvl) + (m.pack - 1) * g0  # off-diagonal packed cells sit at g_min
    ex["cells"] = cell_events * level * (d["read_energy_fj"] * comp.FJ * v2)  # 0 off-crossbar
    row_j = c["row_fj_per_col"] * d["cols"] * (2.0 ** d["input_bits_per_cycle"] - 1) * comp.FJ * ef
    ex["row_drivers"] = np.where(on, vec * slices * rows_total * m.col_tiles * in_lvl, 0.0) * row_j
    conversions = vec * slices * m.conversions_per_slice
    ex["adc"] = conversions * np.where(analog, comp.adc_energy_j(d["adc_bits"], c) * ef, 0.0)
    digital = ~analog
    if digital.any():
        in_bit = in_tab[h, ab, 1]
        w_bit = w_tab[h, wb, 1]
        act = c["tree_activity_floor"] + (1 - c["tree_activity_floor"]) * in_bit * w_bit
        tree_bits = 2.0 * np.minimum(m.rows_b, d["rows"])
        ex["adder_tree"] = (
            conversions
            * tree_bits
            * act
            * np.where(analog, 0.0, c["tree_fj_per_bit"] * comp.FJ * ef)
        )
    else:
        ex["adder_tree"] = np.zeros_like(conversions)
    acc = comp.accumulator_bits(np.where(analog, d["adc_bits"], np.log2(d["rows"]) + 1), wb, ab)
    outputs = vec * lx.out_channels
    psum_adds = conversions + outputs * np.maximum(m.row_tiles * m.weight_slices - 1, 0)
    ex["shift_add"] = np.where(on, psum_adds * acc, 0.0) * (c["add_pj_per_bit"] * comp.PJ * ef)
    tb_j = comp.sram_pj_per_bit(d["tile_buffer_kb"], c) * comp.PJ * ef
    tb_reads = np.where(on, vec * rows_total * m.col_tiles * ab, 0.0)
    weight_bits_total = np.where(on, lx.weights * wb, 0).astype(np.float64)
    swap = ~stationary
    dram_j = d["dram_pj_per_bit"] * comp.PJ
    ex["dram"] = np.where(swap, weight_bits_total, 0.0) * dram_j
    ex["weight_write"] = np.where(
        swap & on, m.weight_cells * d["write_energy_pj"] * comp.PJ * v2, 0.0
    )

    # Per-layer quantities that do not depend on the design: (B, L) arrays.
    mask = la.mask
    in_bits = la.in_elems * la.act_bits
    out_bits = la.out_elems * la.act_bits
    io_bits = np.where(mask, in_bits + out_bits, 0).astype(np.float64)
    is_matmul = (la.op == _MATMUL) & mask
    is_nonmac = np.isin(la.op, _NONMAC) & mask
    ab_all = la.act_bits
    mult_j = c["mult8_pj"] * (ab_all / 8.0) ** 2 * comp.PJ
    add_j = c["add_pj_per_bit"] * ab_all * comp.PJ
    vector_j = np.where(is_matmul, la.macs * (mult_j + 2 * add_j), 0.0) + np.where(
        is_nonmac, la.ops * add_j, 0.0
    )
    # Network input (first layer) and output (last layer) cross the DRAM interface.
    last_idx = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    io_dram = in_bits[:, 0] + np.take_along_axis(out_bits, last_idx[:, None], 1)[:, 0]
    hops = 1.0 + (2.0 / 3.0) * np.sqrt(d["tile_groups"])
    io_factor = {  # energy per io bit (n, 1)
        "tile_buffer": tb_j,
        "glb": comp.sram_pj_per_bit(d["glb_kb"], c) * comp.PJ * ef,
        "noc": hops * c["noc_pj_per_bit_hop"] * comp.PJ * ef,
    }

    # Latency per layer: compute, bounded below by buffer and NoC bandwidth; swapping adds loads.
    compute_x = np.ceil(vec / reps) * m.cycles_per_vector * passes * cycle_s
    load_t = weight_bits_total / (d["dram_bandwidth_gb_s"] * 8e9)
    # Rows programmed per crossbar: packed groups stack their blocks (pack x rows_b rows).
    write_t = np.minimum(m.pack * m.rows_b, d["rows"]) * passes * d["write_latency_ns"] * 1e-9
    swap_x = np.where(swap & on, load_t + write_t, 0.0)
    lanes = d["vector_lanes"] * tiles
    vec_ops = np.where(is_matmul, la.macs, 0) + np.where(is_nonmac, la.ops, 0)
    bound = (
        np.maximum(
            np.ceil(vec_ops / lanes),
            np.maximum(
                io_bits / d["glb_bandwidth_bits"],
                io_bits / (d["noc_bits"] * np.sqrt(d["tile_groups"])),
            ),
        )
        * cycle_s
    )
    layer_t = np.where(mask, bound, 0.0)  # (n, L)
    layer_t[:, xi] = np.maximum(layer_t[:, xi], np.where(lx.mask, compute_x, 0.0)) + swap_x
    latency = layer_t.sum(axis=1)

    area = comp.chip_area_um2(d, c, af)
    area_total = sum(area.values())[:, 0]
    leak_w = comp.leakage_w(d, c, area)[:, 0]

    energy_by = {k: v.sum(axis=1) for k, v in ex.items() if k != "dram"}
    io_total = io_bits.sum(axis=1)
    energy_by["tile_buffer"] = energy_by.pop("tile_buffer", 0.0) + (
        tb_reads.sum(axis=1) * tb_j[:, 0] + io_total * tb_j[:, 0]
    )
    energy_by["glb"] = io_total * io_factor["glb"][:, 0]
    energy_by["noc"] = io_total * io_factor["noc"][:, 0]
    energy_by["vector_unit"] = vector_j.sum(axis=1) * ef[:, 0]
    energy_by["dram"] = ex["dram"].sum(axis=1) + io_dram * dram_j[:, 0]
    energy_by["leakage"] = leak_w * latency
    energy_by = {k: np.broadcast_to(energy_by[k], (n,)) for k in comp.ENERGY_COMPONENTS}
    energy = sum(energy_by.values())
    macs = np.where(la.mask, la.macs, 0).sum(axis=1).astype(np.float64)
    macs = np.broadcast_to(macs, (n,))
    ops = 2.0 * macs
    area_m2 = area_total * 1e-12
    area_mm2 = area_total * 1e-6

    cells_chip = xbars_avail * d["rows"][:, 0] * d["cols"][:, 0]
    programmed = m.weight_cells.sum(axis=1)
    used_cells = (m.xbars * d["rows"] * d["cols"]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(
            stationary[:, 0], programmed / cells_chip, np.minimum(programmed / cells_chip, 1.0)
        )
        xutil = np.where(used_cells > 0, programmed / used_cells, 0.0)

    # Weight groups when swapping: consecutive layers packed until the chip is full.
    groups = np.ones(n)
    if swap.any():
        groups = _count_groups(m.xbars, xbars_avail)
        groups = np.where(swap[:, 0], groups, 1.0)

    min_cycle = np.where(
        analog,
        (c["t_read_ns"] + d["adc_bits"] * c["t_sar_bit_ns"]),
        (np.log2(d["rows"]) + 2) * c["t_fa_ns"],
    ) * delay_factor(d["node_nm"], d["voltage_v"], c)

    metrics = {
        "energy_j": energy,
        "latency_s": latency,
        "area_m2": area_m2,
        "area_mm2": area_mm2,
        "edap_j_s_m2": energy * latency * area_m2,
        "ops": ops,
        "tops": ops / latency / 1e12,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": ops / latency / 1e12 / area_mm2,
        "utilization": util,
        "xbar_utilization": xutil,
        "xbars_needed": xbars_needed.astype(np.float64),
        "xbars_available": xbars_avail.astype(np.float64),
        "weight_groups": groups,
        "min_cycle_time_ns": min_cycle[:, 0],
        "power_w": energy / latency,
    }
    out: dict[str, Any] = {
        "metrics": metrics,
        "energy_by": energy_by,
        "area_by": {k: v[:, 0] * 1e-12 for k, v in area.items()},
        "stationary": stationary[:, 0],
        "cycle_ns": d["cycle_time_ns"][:, 0],
        "area_constraint": d["area_constraint_mm2"][:, 0],
    }
    if breakdown:
        e = {k: np.zeros((n, n_layers)) for k in comp.ENERGY_COMPONENTS}
        for k, v in ex.items():
            e[k][:, xi] = v
        e["tile_buffer"][:, xi] += tb_reads * tb_j
        e["tile_buffer"] += io_bits * tb_j
        e["glb"] += io_bits * io_factor["glb"]
        e["noc"] += io_bits * io_factor["noc"]
        e["vector_unit"] += vector_j * ef
        e["dram"][:, 0] += in_bits[:, 0] * dram_j[:, 0]
        np.add.at(
            e["dram"],
            (np.arange(n), np.broadcast_to(last_idx, (n,))),
            np.broadcast_to(io_dram - in_bits[:, 0], (n,)) * dram_j[:, 0],
        )
        e["leakage"] = leak_w[:, None] * layer_t
        out["layer_energy"] = e
        out["layer_latency"] = layer_t
        reps_full = np.zeros((n, n_layers), dtype=np.int64)
        reps_full[:, xi] = np.where(on, reps, 0)
        xbars_full = np.zeros((n, n_layers), dtype=np.int64)
        xbars_full[:, xi] = m.xbars
        out["layer_replication"] = reps_full
        out["layer_xbars"] = xbars_full
    return out


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
    metrics: dict[str, np.ndarray],
    stationary: np.ndarray,
    cycle_ns: np.ndarray,
    area_constraint: np.ndarray,
) -> dict[str, np.ndarray]:
    """Boolean (N,) masks of every violated constraint."""
    return {
        "no_fit": stationary & (metrics["xbars_needed"] > metrics["xbars_available"]),
        "too_big": ~np.isnan(area_constraint) & (metrics["area_mm2"] > area_constraint),
        "too_fast": cycle_ns < metrics["min_cycle_time_ns"],
        "area_constraint": area_constraint,
        "cycle_ns": cycle_ns,
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
    table: DesignTable, la: LayerArrays, parts: list[dict[str, Any]], breakdown: bool
) -> Evaluation:
    def cat(key: str) -> np.ndarray:
        """Concatenate the chunks' (n, ...) arrays of ``key`` along designs."""
        return np.concatenate([p[key] for p in parts])

    def cat_dict(key: str) -> dict[str, np.ndarray]:
        """Concatenate, entry by entry, the chunks' dicts of arrays of ``key``."""
        return {k: np.concatenate([p[key][k] for p in parts]) for k in parts[0][key]}

    metrics = cat_dict("metrics")
    checks = _feasibility(metrics, cat("stationary"), cat("cycle_ns"), cat("area_constraint"))
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
        ev.layer_energy = cat_dict("layer_energy")
        ev.layer_latency = cat("layer_latency")
        ev.layer_replication = cat("layer_replication")
        ev.layer_xbars = cat("layer_xbars")  # already (n, L) per chunk
    return ev
