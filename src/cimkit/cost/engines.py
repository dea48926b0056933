"""The engines of a CIM chip: crossbar macros (``cim``) and the tiles' digital vector units.

An engine computes, for n designs, what its share of each layer costs: energy as
:class:`~cimkit.cost.registry.Term` lists per component, busy time per layer, area and leakage
per component (see :class:`~cimkit.cost.registry.EngineResult`). Which engine runs a layer is the
``engine`` assignment of :func:`assign_engines` (default rule: conv/dwconv/pwconv/linear on the
crossbars, dynamic matmuls and non-MAC ops on the vector units).

Every event count below is a (K, L) array over the distinct mapping keys (or (B, L) over
workloads) and every per-event cost an (n,) array; see :mod:`cimkit.cost.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimkit.cost import peripherals as ph
from cimkit.cost.constants import (
    DEVICES,
    ENCODINGS,
    EXECUTIONS,
    MODES,
    READOUTS,
    Constants,
    area_factor,
    energy_factor,
)
from cimkit.cost.mapping import XBAR_OPS, Mapping, ceil_div, map_layers, replica_weights
from cimkit.cost.osa_readout import dat_share
from cimkit.cost.registry import ENCODINGS as ENCODING_REGISTRY
from cimkit.cost.registry import (
    EngineResult,
    Term,
    per_encoding,
    per_readout,
    register_component,
    register_engine,
)
from cimkit.workload.table import OP_CODE, LayerArrays

PJ = 1e-12
FJ = 1e-15

#: Engine codes of the per-layer assignment (``engine`` column of :func:`assign_engines`);
#: ``vector_fused`` is vector-unit work applied in the producer's output stage (no time).
ENGINE_NAMES: tuple[str, ...] = ("none", "cim", "vector", "vector_fused")
_MATMUL = OP_CODE["matmul"]
_NONMAC = np.array([OP_CODE[o] for o in ("pool", "eltwise", "softmax", "norm", "act")])

for _name, _engine, _desc in (
    ("cells", "cim", "crossbar cell reads (analog current/charge, or digital bit reads)"),
    ("row_drivers", "cim", "wordline drivers and input DACs"),
    ("readout", "cim", "column readout: ADC conversions or digital adder trees"),
    ("shift_add", "cim", "digital merge of input slices, weight slices, row groups and tiles"),
    ("tile_buffer", "system", "tile activation buffer reads/writes"),
    ("glb", "system", "global buffer reads/writes"),
    ("noc", "system", "router and link traffic"),
    ("vector_unit", "vector", "digital ALUs: non-MAC ops and dynamic-operand matmuls"),
    ("dram", "system", "off-chip traffic (network I/O, streamed weights)"),
    ("weight_write", "cim", "programming cells when weights are swapped in"),
    ("leakage", "system", "static power over the time one inference occupies the chip"),
):
    register_component(_name, _engine, _desc)


def assign_engines(la: LayerArrays) -> np.ndarray:
    """(B, L) engine code per layer slot (:data:`ENGINE_NAMES`): the default assignment rule."""
    on_xbar = np.isin(la.op, XBAR_OPS) & la.mask
    on_vec = ((la.op == _MATMUL) | np.isin(la.op, _NONMAC)) & la.mask
    cim, vector = ENGINE_NAMES.index("cim"), ENGINE_NAMES.index("vector")
    return np.where(on_xbar, cim, np.where(on_vec, vector, 0))


@dataclass
class Context:
    """Everything an engine reads for one block of n designs.

    Attributes:
        d: design arrays, each (n,) (resolved; plus ``cycle_s`` and ``rate_hz``).
        c: constants.
        la: layer arrays (B, L).
        engine: (B, L) engine code per slot.
        keys: mapping-key arrays, each (K, 1); ``kidx`` (n,) each design's key row.
        widx: (n,) each design's workload row of ``la`` (all 0 when B = 1).
        in_tab, w_tab: histogram slice tables (H, MAX_BITS+1, MAX_SLICE+1).
    """

    d: dict[str, np.ndarray]
    c: Constants
    la: LayerArrays
    engine: np.ndarray
    keys: dict[str, np.ndarray]
    kidx: np.ndarray
    widx: np.ndarray
    in_tab: np.ndarray
    w_tab: np.ndarray

    @property
    def n(self) -> int:
        return len(self.kidx)

    def by_key(self, a: np.ndarray) -> np.ndarray:
        """(n, ...) per-design view of a keyed array (K rows, or 1 row shared by all)."""
        return a[self.kidx] if a.shape[0] > 1 else np.broadcast_to(a, (self.n, *a.shape[1:]))

    def by_workload(self, a: np.ndarray) -> np.ndarray:
        """(n, ...) per-design view of a workload array (B rows, or 1 row shared by all)."""
        return a[self.widx] if a.shape[0] > 1 else np.broadcast_to(a, (self.n, *a.shape[1:]))

    @property
    def tiles(self) -> np.ndarray:
        return self.d["tiles_per_router"] * self.d["tile_groups"]

    @property
    def xbars_available(self) -> np.ndarray:
        return self.d["macros_per_tile"] * self.tiles


class CimEngine:
    """Crossbar macros: cells, drivers, readout, shift-add, weight loading; mapping and time."""

    name = "cim"

    def run(self, ctx: Context) -> EngineResult:
        d, c, la = ctx.d, ctx.c, ctx.la
        n = ctx.n
        xi = np.flatnonzero((ctx.engine == ENGINE_NAMES.index("cim")).any(axis=0))
        lx = la.take_cols(xi)
        k = ctx.keys
        m = map_layers(k, lx)
        K = len(next(iter(k.values())))
        shape = (K, len(xi))

        def keyed(a: np.ndarray) -> np.ndarray:
            return np.broadcast_to(np.asarray(a, dtype=np.float64), shape)

        on = keyed(m.on_xbar)
        wb, ab = lx.weight_bits, lx.act_bits
        h = lx.hist_index
        dac = k["input_bits_per_cycle"].astype(np.int64)
        bpc = k["bits_per_cell"].astype(np.int64)
        in_lvl = ctx.in_tab[h, ab, dac]
        w_lvl = ctx.w_tab[h, wb, bpc]
        enc = k["input_encoding"].astype(np.int64)
        pulses = np.zeros(np.broadcast_shapes(in_lvl.shape, enc.shape))
        for i, name in enumerate(ENCODINGS):
            if (enc == i).any():
                pulses = np.where(enc == i, ENCODING_REGISTRY[name].pulses(in_lvl, dac), pulses)

        vec = keyed(m.vectors)
        slices = keyed(m.input_slices)
        rows_total = keyed(np.maximum(lx.groups, 1) * m.rows_b)
        row_acts = vec * slices * rows_total * keyed(m.col_tiles) * on
        conversions = vec * keyed(m.windows) * keyed(m.conversions_per_window)
        kidx = ctx.kidx
        ef = energy_factor(d["node_nm"], d["voltage_v"], c)
        idx_w = ctx.widx

        def term(events: np.ndarray, cost: np.ndarray, rows: np.ndarray = kidx) -> Term:
            return Term(np.ascontiguousarray(events, dtype=np.float64), cost, rows, xi)

        energy: dict[str, list[Term]] = {}
        # Cells: every slice drives the row's programmed cells; a cell draws g0 + (1-g0) * level
        # of its full current per unit pulse; the other blocks' cells on a packed row sit at g0.
        sram = d["device"] == DEVICES.index("sram")
        e_cell = ph.cell_read_energy_j(d, c, sram)
        g0 = 1.0 / d["on_off_ratio"]
        cell_ev = vec * slices * keyed(m.weight_cells) * pulses
        energy["cells"] = [
            term(cell_ev * keyed(m.pack * m.copies), e_cell * g0),
            term(cell_ev * w_lvl, e_cell * (1.0 - g0)),
        ]
        # Row drivers: a wordline activation charges the driver and one gate per column.
        fixed_j, cell_j = ph.wordline_energy_j(d, c)
        dac_fixed = per_encoding("fixed_j", d, c)
        drive = row_acts * pulses
        energy["row_drivers"] = [
            term(drive, fixed_j),
            term(drive * keyed(k["cols"]), cell_j),
            term(row_acts, dac_fixed),
        ]
        # Readout: per-design cost of the selected kind; integrate-and-fire energy follows the
        # mean output level (column sum / full scale ~ mean input level x mean weight level).
        # A macro's own converter may sit above or below its kind's model (a calibrated
        # readout_energy_scale; 1 = the model).
        e_conv = per_readout("energy_j", d, c) * d["readout_energy_scale"]
        share = per_readout("value_share", d, c)
        out_lvl = ctx.in_tab[h, ab, 1] * w_lvl
        phases = self._phases(ctx, m, lx.act_bits)
        step_ev = conversions * out_lvl
        if phases is None:
            step_term = term(step_ev, e_conv * share)
        else:
            # A time-domain neuron resolves only the bits of each phase that reach the output
            # (if_phase_steps): its per-bit energy follows those, not windows x adc_bits.
            tdr, _, conv = phases
            full = ctx.by_key(keyed(m.windows)) * d["adc_bits"][:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(ctx.by_key(tdr) & (full > 0), conv / full, 1.0)
            step_term = term(ctx.by_key(step_ev) * frac, e_conv * share, np.arange(n))
        energy["readout"] = [term(conversions, e_conv * (1.0 - share)), step_term]
        digital_key = k["macro_kind"] == 1
        # OSA-HCIM's hybrid macro sums its DCIM one-bit MACs in an adder tree too, on a share
        # of its readout slots set by each design's boundary (cimkit.cost.osa_readout).
        osa_key = k["readout"] == READOUTS.index("osa_hybrid")
        if digital_key.any() or osa_key.any():
            in_bit = ctx.in_tab[h, ab, 1]
            w_bit = ctx.w_tab[h, wb, 1]
            floor = c["tree_activity_floor"]
            # An adder tree has ~2 full-adder bits per summed row, idle where no product bit is
            # 1. A column_adder macro has one full adder per row in every column (guard columns
            # included in conversions); the running sum passes through every adder, so at
            # random data (product-bit density 1/4: input and weight bits 1/2) each one adds a
            # random operand, NeuroSim's per-add energy (tree_fj_per_bit); sparser products
            # leave the sums, hence the adders, still in proportion.
            column = k["readout"] == READOUTS.index("column_adder")
            q = in_bit * w_bit
            act = floor + (1 - floor) * np.where(column, np.minimum(1.0, 4.0 * q), q)
            per_row = np.where(column, 1.0, 2.0)
            tree_bits = per_row * np.minimum(m.rows_b, k["active_rows"])
            tree_ev = np.where(digital_key | osa_key, conversions * tree_bits * act, 0.0)
            tree_j = c["tree_fj_per_bit"] * FJ * ef * dat_share(d)
            energy["readout"].append(term(tree_ev, tree_j))
        # Shift-add: each output merges `partials` digital values of (converted bits + the
        # shifts of weight and input slices) bits; nothing to add where the readout is final.
        adds = vec * keyed(lx.out_channels) * keyed(m.partials - 1) * on
        conv_bits = np.where(d["macro_kind"] == 0, d["adc_bits"], np.log2(d["active_rows"]) + 1)
        add_bit = c["add_pj_per_bit"] * PJ * ef
        energy["shift_add"] = [
            term(adds * keyed(wb + ab), add_bit),
            term(adds, add_bit * conv_bits),
        ]
        # Tile buffer: each input vector is read once per crossbar column tile.
        tb_j = sram_pj_per_bit(d["tile_buffer_kb"], c) * PJ * ef
        energy["tile_buffer"] = [term(vec * rows_total * keyed(m.col_tiles) * keyed(ab) * on, tb_j)]
        # Weight swapping: weights stream from DRAM and are written into the cells.
        swap = d["mode"] == MODES.index("weight_swapping")
        w_bits = np.where(lx.mask & np.isin(lx.op, XBAR_OPS), lx.weights * wb, 0).astype(float)
        dram_j = np.where(swap, d["dram_pj_per_bit"] * PJ, 0.0)
        energy["dram"] = [term(w_bits, dram_j, idx_w)]
        energy["weight_write"] = [
            term(keyed(m.weight_cells) * on, np.where(swap, d["write_energy_pj"] * PJ * ef, 0.0))
        ]
        # Time per layer slot (n, Lx): vectors shared by unrolled copies and replicas.
        time, xb, reps = self._time(ctx, m, ctx.by_workload(w_bits), phases)
        area = macro_area_um2(d, c) if n else {}
        macros = d["macros_per_tile"] * ctx.tiles
        area = {key: v * macros for key, v in area.items()}
        leak = {
            "readout": per_readout("leakage_w", d, c)
            * d["readout_energy_scale"]
            * n_adc(d)
            * macros,
            "cells": np.where(sram, c.device("sram", "leak_pw_per_cell"), 0.0)
            * d["rows"]
            * d["cols"]
            * macros
            * PJ
            * d["voltage_v"]
            / c.ref_voltage_v,
        }
        extra = {"mapping": m, "xi": xi, "xbars": xb, "replication": reps}
        return EngineResult(
            energy=energy, time=time, time_cols=xi, area_um2=area, leakage_w=leak, extra=extra
        )

    @staticmethod
    def _phases(
        ctx: Context, m: Mapping, act_bits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Phase steps of time-domain readouts (:func:`cimkit.cost.peripherals.if_phase_steps`).

        Returns None when no key has such a readout, else (mask (R, Lx) bool keyed: layer slots
        of time-domain keys; integration + sample steps per window set (R, Lx) keyed;
        conversion steps per vector (n, Lx), from each design's ``adc_bits``).
        """
        shape = np.broadcast_shapes(m.windows.shape, m.cycles_per_vector.shape)
        codes = [READOUTS.index(r) for r in ph.TIME_DOMAIN_READOUTS]
        tdr = np.broadcast_to(np.isin(ctx.keys["readout"], codes) & np.asarray(m.on_xbar), shape)
        if not tdr.any():
            return None
        bits = np.broadcast_to(np.maximum(act_bits, 1), shape)
        wins = np.broadcast_to(m.windows, shape)
        integ, _ = ph.if_phase_steps(bits, wins, 0.0, 0)
        adc = ctx.d["adc_bits"][:, None]
        _, conv = ph.if_phase_steps(ctx.by_key(bits), ctx.by_key(wins), adc, int(wins.max()))
        return tdr, integ, conv

    def _time(
        self,
        ctx: Context,
        m: Mapping,
        w_bits: np.ndarray,
        phases: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(compute time (n, Lx) s, crossbars of one copy (R, Lx) keyed, copies (n, Lx)).

        ``phases``: :meth:`_phases` (time-domain readouts) or None.

        Quantities of one copy are keyed (R rows: keys, or designs when every design has its own
        workload); only the replica counts and the times are per design.
        """
        d = ctx.d
        avail = ctx.xbars_available
        stationary = d["mode"] == MODES.index("weight_stationary")
        shape = np.broadcast_shapes(m.xbars.shape, m.vectors.shape, m.cycles_per_vector.shape)
        xb = np.broadcast_to(m.xbars, shape).astype(np.float64)
        ev = np.broadcast_to(ceil_div(m.vectors, m.copies), shape).astype(np.float64)
        cy = np.broadcast_to(m.cycles_per_vector, shape).astype(np.float64)
        # Time-domain readouts (integrate-and-fire) run in phases of clock steps, not one cycle
        # per window: integration and sample steps are keyed, conversion steps follow each
        # design's output bits (n, Lx).
        conv_cy = None
        if phases is not None:
            tdr, integ, conv = phases
            steps = np.broadcast_to(m.steps, shape).astype(np.float64)
            cy = np.where(tdr, steps * integ, cy)
            conv_cy = np.where(ctx.by_key(tdr), ctx.by_key(steps) * conv, 0.0)
        xb_n, ev_n = ctx.by_key(xb), ctx.by_key(ev)
        need = ctx.by_key(xb.sum(axis=1))
        spare = np.where(stationary, np.maximum(avail - need, 0), 0)
        weight = replica_weights(xb, ev * cy)  # keyed
        vmax = np.maximum(ev_n, 1)
        reps = np.minimum(1.0 + np.floor(spare[:, None] * ctx.by_key(weight)), vmax)
        # Layerwise execution: each layer alone has every crossbar, its weights copied over all.
        layerwise = stationary & (d["execution"] == EXECUTIONS.index("layerwise"))
        if layerwise.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                whole = np.where(xb_n > 0, np.floor(avail[:, None] / xb_n), 1.0)
            whole = np.minimum(np.maximum(whole, 1.0), vmax)
            reps = np.where(layerwise[:, None], whole, reps)
        cy_n = ctx.by_key(cy) if conv_cy is None else ctx.by_key(cy) + conv_cy
        compute = np.ceil(ev_n / reps) * (cy_n * d["cycle_s"][:, None])
        swap = ~stationary
        if swap.any():
            # A layer larger than the chip runs in several passes, each loading its share.
            passes = np.maximum(np.ceil(xb_n / avail[:, None]), 1.0)
            load = w_bits / (d["dram_bandwidth_gb_s"][:, None] * 8e9)
            seq = np.broadcast_to(np.minimum(m.pack * m.rows_b, ctx.keys["rows"]), shape)
            write = ctx.by_key(seq) * passes * d["write_latency_ns"][:, None] * 1e-9
            swapped = compute * passes + np.where(xb_n > 0, load + write, 0.0)
            compute = np.where(swap[:, None], swapped, compute)
        return compute, xb, reps


def _fa_per_row(d: dict[str, np.ndarray]) -> np.ndarray:
    """Full-adder bits per column and summed row of a digital macro: ~2 in an adder tree, 1 in
    a column_adder macro (one adder per bitcell)."""
    return np.where(d["readout"] == READOUTS.index("column_adder"), 1.0, 2.0)


def n_adc(d: dict[str, np.ndarray]) -> np.ndarray:
    """Readout units per macro: one per ``cols_per_adc`` columns (analog), none for digital."""
    return np.where(d["macro_kind"] == 0, np.ceil(d["cols"] / d["cols_per_adc"]), 0.0)


def sram_pj_per_bit(size_kb: np.ndarray, c: Constants) -> np.ndarray:
    """Energy per bit accessed of an SRAM buffer of ``size_kb`` at the reference point (pJ)."""
    return c["sram_pj_per_bit_8kb"] * (np.maximum(size_kb, 0.125) / 8.0) ** c["sram_size_exponent"]


def needs_shift_add(d: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) bool: the macro has digital shift-and-add units.

    A macro whose readout is already the whole product (weight bits combined in analog and a
    multi-bit input applied in one window) has none; every other macro merges slices digitally.
    """
    whole_input = d["input_bits_per_cycle"] * d["slices_per_conversion"] >= 8
    return ~((d["combine_weight_bits"] > 0) & (d["macro_kind"] == 0) & whole_input)


def macro_area_um2(d: dict[str, np.ndarray], c: Constants) -> dict[str, np.ndarray]:
    """Area of one macro by component (um^2), each shaped like the ``d`` arrays.

    Cells: rows x cols x cell_area_f2 x F_ref^2 scaled by the node's area factor. Readout units
    (one per ``cols_per_adc`` columns) from the readout registry; digital macros have per column
    an adder tree of about 2 x active rows full-adder bits. Row drivers (and row DACs for
    ``voltage_dac``) per row; shift-add accumulators where the macro has them.
    """
    if "rate_hz" not in d:
        # A survey ADC's area depends on the rate it is built for (one conversion per cycle).
        d = ph.resolve_timing(d, c)
    af = area_factor(d["node_nm"], c)
    f_ref_um = c.ref_node_nm / 1000.0
    analog = d["macro_kind"] == 0
    xr, xc = d["rows"], d["cols"]
    unit = per_readout("area_um2", d, c)
    given = d.get("readout_area_um2")
    if given is not None:
        unit = np.where(np.isnan(given), unit, given)
    enc_area = per_encoding("area_um2", d, c)
    fa = c["fa_area_um2"]
    acc = np.where(analog, n_adc(d) * (d["adc_bits"] + 8), xc * (np.log2(xr) + 9))
    return {
        "cells": xr * xc * d["cell_area_f2"] * f_ref_um**2 * af,
        "readout": n_adc(d) * unit
        + np.where(analog, 0.0, xc * _fa_per_row(d) * d["active_rows"]) * fa * af,
        "row_drivers": xr * (ph.row_driver_area_um2(d, c) + enc_area),
        "shift_add": np.where(needs_shift_add(d), acc, 0.0) * fa * af,
    }


class VectorEngine:
    """The tiles' digital vector units: non-MAC ops and dynamic-operand matmuls."""

    name = "vector"

    def run(self, ctx: Context) -> EngineResult:
        d, c, la = ctx.d, ctx.c, ctx.la
        n_layers = la.shape[1]
        timed = ctx.engine == ENGINE_NAMES.index("vector")
        on = timed | (ctx.engine == ENGINE_NAMES.index("vector_fused"))
        is_matmul = on & (la.op == _MATMUL)
        is_nonmac = on & np.isin(la.op, _NONMAC)
        ab = la.act_bits
        ef = energy_factor(d["node_nm"], d["voltage_v"], c)
        mult_ev = np.where(is_matmul, la.macs * (ab / 8.0) ** 2, 0.0)
        add_ev = np.where(is_matmul, 2 * la.macs * ab, 0.0) + np.where(is_nonmac, la.ops * ab, 0.0)
        cols = np.arange(n_layers)
        energy = {
            "vector_unit": [
                Term(mult_ev.astype(float), c["mult8_pj"] * PJ * ef, ctx.widx, cols),
                Term(add_ev.astype(float), c["add_pj_per_bit"] * PJ * ef, ctx.widx, cols),
            ]
        }
        vi = np.flatnonzero(timed.any(axis=0))
        ops = (np.where(is_matmul, la.macs, 0) + np.where(is_nonmac, la.ops, 0))[:, vi]
        lanes = d["vector_lanes"] * ctx.tiles
        ops_n = ctx.by_workload(ops)
        time = np.ceil(ops_n / lanes[:, None]) * d["cycle_s"][:, None]
        af = area_factor(d["node_nm"], c)
        area = {"vector_unit": d["vector_lanes"] * c["vector_lane_area_um2"] * af * ctx.tiles}
        return EngineResult(energy=energy, time=time, time_cols=vi, area_um2=area, leakage_w={})


CIM = register_engine(CimEngine())
VECTOR = register_engine(VectorEngine())
