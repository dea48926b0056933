"""Evaluate NPU + CIM systems on a workload: per-layer split, latency, energy, area.

Per layer and candidate split (units ``c`` on the macros, the rest on the NPU), times in s:

* ``t_npu``: the NPU's share from the Vela-calibrated engine (:mod:`cimkit.hetero.npu`);
* ``t_cim``: the macros' compute time (:func:`cimkit.hetero.nmc.compute_time_s`);
* NoC: the macros' inputs stream in over the NoC while they compute (the IFMP pipelines them),
  outputs return after; each transfer pays the warm-up. ``t_cim_path = warm + max(in / bw,
  t_cim) + out / bw``;
* the NPU's SRAM traffic and the macros' transfers share the NoC and never overlap:
  ``t_noc = t_npu_sram + warm + (in + out) / bw``;
* the layer takes ``max(t_npu, t_cim_path, t_noc)`` (NPU and macros run in parallel).

With ``c = 0`` every CIM and NoC term is 0 and the layer costs exactly its NPU-only time.

Energy per layer: NPU (MACs, SRAM and flash bytes from the calibration, constants in
``data/npu/energy.yaml``), macros (compute + weight reads, one read per word serving every CU,
input-buffer reads after de-duplication), NoC bytes, and static power for the time each part is
busy: the NPU's leakage over the whole layer, each macro's compute units' leakage while they
compute (MRAM is non-volatile, so idle macros are power-gated without losing their weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cimkit.hetero import nmc
from cimkit.hetero.energy import system_energy
from cimkit.hetero.partition import SOLVERS, Solution
from cimkit.hetero.plan import LayerPlan, NpuCost, build_plan, npu_cost
from cimkit.specs.system import SystemSpec
from cimkit.workload.table import Workload

MODES = ("Shared_Sram", "Sram_Only")


@dataclass(frozen=True)
class SystemDesigns:
    """n system designs as (n,) arrays (categories as codes; one node for all)."""

    npu_macs: np.ndarray
    npu_mode: np.ndarray  # index into MODES
    macros: np.ndarray
    compute_units: np.ndarray
    op_period_s: np.ndarray
    dedup: np.ndarray
    noc_bw_bytes_s: np.ndarray
    noc_warmup_s: np.ndarray
    node_nm: int = 7
    objective: str = "latency"
    split_steps: int = 8
    dynamic_matmul: bool = False
    method: str = "exact"
    names: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(len(self.macros))

    @classmethod
    def from_specs(cls, specs: list[SystemSpec]) -> SystemDesigns:
        """Designs from specs; node, objective, split steps, method and the dynamic-matmul
        option must agree across them (they shape the candidate table)."""
        first = specs[0]
        for s in specs[1:]:
            for attr, a, b in (
                ("node_nm", s.node_nm, first.node_nm),
                ("partition", s.partition, first.partition),
                ("cim.dynamic_matmul", s.cim.dynamic_matmul, first.cim.dynamic_matmul),
            ):
                if a != b:
                    raise ValueError(f"all systems of one evaluation need the same {attr}")
        arr = np.array
        return cls(
            npu_macs=arr([s.npu.macs_per_cycle for s in specs], dtype=np.int64),
            npu_mode=arr([MODES.index(s.npu.memory_mode) for s in specs], dtype=np.int64),
            macros=arr([s.cim.macros for s in specs], dtype=np.float64),
            compute_units=arr([s.cim.compute_units for s in specs], dtype=np.float64),
            op_period_s=arr([s.cim.op_period_ns * 1e-9 for s in specs]),
            dedup=arr([s.cim.dedup for s in specs], dtype=bool),
            noc_bw_bytes_s=arr([s.noc.bandwidth_gb_s * 1e9 for s in specs]),
            noc_warmup_s=arr([s.noc.warmup_cycles / (s.noc.clock_mhz * 1e6) for s in specs]),
            node_nm=first.node_nm,
            objective=first.partition.objective,
            split_steps=first.partition.split_steps,
            dynamic_matmul=first.cim.dynamic_matmul,
            method=first.partition.method,
            names=tuple(s.name for s in specs),
        )

    def take(self, idx: np.ndarray) -> SystemDesigns:
        """The designs at ``idx``."""
        kw = {f: getattr(self, f)[idx] for f in (
            "npu_macs", "npu_mode", "macros", "compute_units", "op_period_s", "dedup",
            "noc_bw_bytes_s", "noc_warmup_s")}  # fmt: skip
        names = tuple(self.names[i] for i in np.atleast_1d(idx)) if self.names else ()
        return SystemDesigns(**kw, node_nm=self.node_nm, objective=self.objective,
                             split_steps=self.split_steps, dynamic_matmul=self.dynamic_matmul,
                             method=self.method, names=names)  # fmt: skip


@dataclass(frozen=True)
class CostTensors:
    """(n, L, K) time and energy of every candidate, by part."""

    time_s: np.ndarray
    energy_j: np.ndarray
    parts_time: dict[str, np.ndarray]
    parts_energy: dict[str, np.ndarray]


def cost_tensors(
    plan: LayerPlan, d: SystemDesigns, npu: dict[tuple[int, int], NpuCost]
) -> CostTensors:
    """Time and energy of every candidate of every layer for the designs ``d`` (module doc)."""
    e = system_energy(d.node_nm)
    n = len(d)
    L, K = plan.cand.shape
    t_npu = np.empty((n, L, K))
    t_sram = np.empty((n, L, K))
    e_npu = np.empty((n, L, K))
    for (macs, mode), cost in npu.items():
        sel = (d.npu_macs == macs) & (d.npu_mode == mode)
        if not sel.any():
            continue
        t_npu[sel] = cost.time_s
        t_sram[sel] = cost.sram_time_s
        e_npu[sel] = (e.npu_mac_j * cost.macs + e.npu_sram_j_per_byte * cost.sram_bytes
                      + e.npu_flash_j_per_byte * cost.flash_bytes)  # fmt: skip
    col = (slice(None), None, None)
    macros, cu = d.macros[col], d.compute_units[col]
    t_cim = nmc.compute_time_s(
        plan.cim_channels[None], plan.cim_reduction[None, :, None],
        plan.cim_positions[None, :, None], plan.depthwise[None, :, None],
        plan.kernel[None, :, None], macros, cu, d.op_period_s[col], d.dedup[col],
    )  # fmt: skip
    on_cim = plan.cand[None] > 0
    # Attention heads on the macros: each weight word of the streamed operand is loaded once.
    words_streamed = nmc.weight_words(plan.cim_channels, plan.cim_reduction[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        load = np.ceil(words_streamed[None] / macros) * d.op_period_s[col]
    t_cim = np.where(plan.dynamic[None, :, None] & on_cim, t_cim + load, t_cim)
    # No macros: a CIM share cannot run.
    t_cim = np.where(on_cim & (macros == 0), np.inf, t_cim)
    bw = d.noc_bw_bytes_s[col]
    warm = np.where(on_cim, d.noc_warmup_s[col], 0.0)
    t_in = plan.noc_in_bytes[None] / bw
    t_out = plan.noc_out_bytes[None] / bw
    t_path = np.where(on_cim, warm + np.maximum(t_in, t_cim) + t_out, 0.0)
    t_noc = np.where(on_cim, t_sram + warm + t_in + t_out, 0.0)
    time = np.maximum(np.maximum(t_npu, t_path), t_noc)

    share = plan.share()[None]
    cim_macs = plan.macs[None, :, None] * share
    ops = nmc.op_count(plan.cim_channels, plan.cim_reduction[:, None], plan.cim_positions[:, None])
    reads = nmc.weight_words(plan.cim_channels, plan.cim_reduction[:, None])[None] * np.ceil(
        plan.cim_positions[None, :, None] / cu
    )
    rho = e.nmc_weight_read_share
    e_compute = (1.0 - rho) * e.nmc_mac_j * cim_macs
    e_read = rho * e.nmc_mac_j * nmc.MACS_PER_OP * reads
    per_op_inputs = np.where(plan.depthwise, nmc.MACS_PER_OP, nmc.TAPS)[None, :, None]
    r = np.where(d.dedup[col] & (plan.kernel[None, :, None] > 1),
                 nmc.dedup_read_factor(cu, plan.kernel[None, :, None]), 1.0)  # fmt: skip
    act_bytes = plan.act_bytes[None, :, None]
    e_input = e.nmc_input_j_per_byte * ops[None] * per_op_inputs * r * act_bytes
    e_cim = np.where(on_cim, e_compute + e_read + e_input, 0.0)
    e_noc = np.where(on_cim, e.noc_j_per_byte * (plan.noc_in_bytes + plan.noc_out_bytes)[None], 0.0)
    p_npu = (d.npu_macs / 256.0 * e.npu_static_w_per_256_macs + e.npu_sram_static_w)[col]
    # Each macro's compute units leak while that macro computes: the busy macro-time is the
    # words' work whatever the number of macros (t_cim x macros would count idle ones).
    with np.errstate(divide="ignore", invalid="ignore"):
        per_macro = np.ceil(words_streamed[None] / macros)
        busy = t_cim * words_streamed[None] / per_macro
    t_cim_busy = np.where(np.isfinite(busy) & on_cim, busy, 0.0)
    p_cim = cu * e.nmc_cu_static_w
    e_static = p_npu * time + p_cim * t_cim_busy
    energy = e_npu + e_cim + e_noc + e_static
    shape = (n, L, K)

    def full(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, shape)

    return CostTensors(
        time_s=full(time),
        energy_j=full(energy),
        parts_time={"npu": full(t_npu), "cim": full(np.where(on_cim, t_cim, 0.0)),
                    "noc_in": full(np.where(on_cim, t_in, 0.0) + warm),
                    "noc_out": full(np.where(on_cim, t_out, 0.0)), "noc_busy": full(t_noc)},
        parts_energy={"npu": full(e_npu), "cim": full(e_cim), "noc": full(e_noc),
                      "static": full(e_static)},
    )  # fmt: skip


@dataclass(frozen=True)
class SystemEvaluation:
    """Outcome for n designs on one workload (L layers).

    Attributes:
        latency_s, energy_j: (n,) per inference.
        cim_area_mm2: (n,) area of the macros (the NPU's area is not modelled).
        split: (n, L) units on the macros per layer; ``units`` (L,) splittable units.
        layer_time_s, layer_energy_j: (n, L) of the chosen splits.
        parts_time, parts_energy: part -> (n, L) of the chosen splits.
        words_used, capacity_words: (n,) MRAM weight words used / available.
        solution: the partitioner's :class:`Solution` (its ``gap`` certifies the fast method).
    """

    designs: SystemDesigns
    plan: LayerPlan
    latency_s: np.ndarray
    energy_j: np.ndarray
    cim_area_mm2: np.ndarray
    split: np.ndarray
    layer_time_s: np.ndarray
    layer_energy_j: np.ndarray
    parts_time: dict[str, np.ndarray]
    parts_energy: dict[str, np.ndarray]
    words_used: np.ndarray
    capacity_words: np.ndarray
    solution: Solution

    def layer_frame(self, design: int = 0) -> Any:
        """Per-layer table of one design: split, time and energy by part (SI units)."""
        import pandas as pd

        p = self.plan
        rows = {
            "layer": list(p.names),
            "op": list(p.ops),
            "units": p.units.astype(int),
            "cim_units": self.split[design].astype(int),
            "cim_share": self.split[design] / p.units,
            "latency_s": self.layer_time_s[design],
            "npu_time_s": self.parts_time["npu"][design],
            "cim_time_s": self.parts_time["cim"][design],
            "noc_time_s": self.parts_time["noc_in"][design] + self.parts_time["noc_out"][design],
            "energy_j": self.layer_energy_j[design],
        }
        for k, v in self.parts_energy.items():
            rows[f"{k}_energy_j"] = v[design]
        rows["cim_words"] = p.words[np.arange(p.n_layers), self._choice[design]]
        return pd.DataFrame(rows)

    @property
    def _choice(self) -> np.ndarray:
        return self.solution.choice

    def summary_frame(self) -> Any:
        """One row per design."""
        import pandas as pd

        d = self.designs
        return pd.DataFrame(
            {
                "system": list(d.names) if d.names else [f"design{i}" for i in range(len(d))],
                "npu_macs_per_cycle": d.npu_macs,
                "memory_mode": [MODES[i] for i in d.npu_mode],
                "macros": d.macros.astype(int),
                "compute_units": d.compute_units.astype(int),
                "latency_s": self.latency_s,
                "energy_j": self.energy_j,
                "cim_area_m2": self.cim_area_mm2 * 1e-6,
                "cim_words_used": self.words_used.astype(int),
                "cim_words_capacity": self.capacity_words.astype(int),
                "partition_gap": self.solution.gap,
            }
        )


def evaluate_system(
    workload: Workload | LayerPlan,
    designs: SystemDesigns | SystemSpec | list[SystemSpec],
    chunk: int = 1024,
    force_split: np.ndarray | None = None,
    detail: bool = True,
    engine: str = "auto",
) -> SystemEvaluation:
    """Evaluate designs on a workload, choosing each layer's split (module docstring).

    Args:
        workload: a :class:`Workload` or a prepared :class:`LayerPlan`.
        designs: specs or a :class:`SystemDesigns`.
        chunk: designs per block (bounds memory: blocks are (chunk, L, K) arrays).
        force_split: (L,) candidate index per layer to impose instead of optimising (0: NPU
            only), for checks.
        detail: keep the per-part (NPU, CIM, NoC, static) breakdown per layer; a search that
            needs only totals passes False (``parts_time`` / ``parts_energy`` are then empty).
        engine: ``numpy`` (the reference), ``fused`` (:mod:`cimkit.hetero.kernel`, numba) or
            ``auto``: fused where it applies (``detail=False``, no ``force_split``) and numba is
            installed, numpy otherwise.
    """
    if isinstance(designs, SystemSpec):
        designs = [designs]
    if isinstance(designs, list):
        designs = SystemDesigns.from_specs(designs)
    plan = workload if isinstance(workload, LayerPlan) else build_plan(
        workload, designs.split_steps, designs.dynamic_matmul)  # fmt: skip
    n = len(designs)
    L, K = plan.cand.shape
    # Layers with one candidate (NPU only) need no search: evaluated with K = 1.
    var = np.flatnonzero(plan.cand[:, -1] > 0)
    fix = np.flatnonzero(plan.cand[:, -1] <= 0)
    subplans = [(var, plan.take(var)), (fix, plan.take(fix, 1))]
    configs = sorted(
        {(int(m), int(k)) for m, k in zip(designs.npu_macs, designs.npu_mode, strict=True)}
    )
    npu = [{(m, k): npu_cost(sp, m, MODES[k]) for m, k in configs} if len(cols) else {}
           for cols, sp in subplans]  # fmt: skip
    from cimkit.hetero import kernel

    fused_ok = not detail and designs.method in ("fast", "exact") and force_split is None
    fused_ok = fused_ok and len(var) > 0
    if engine == "fused" and not (fused_ok and kernel.HAVE_NUMBA):
        raise ValueError("engine='fused' needs numba, detail=False, no force_split")
    if engine == "fused" or (engine == "auto" and fused_ok and kernel.HAVE_NUMBA):
        return _evaluate_fused(plan, designs, var, fix, subplans, npu, configs)
    solver = SOLVERS[designs.method]
    choice = np.zeros((n, L), dtype=np.int64)
    time = np.zeros((n, L))
    energy = np.zeros((n, L))
    objective = np.zeros(n)
    bound = np.zeros(n)
    words = np.zeros(n)
    parts_t: dict[str, np.ndarray] = {}
    parts_e: dict[str, np.ndarray] = {}
    for start in range(0, n, chunk):
        idx = np.arange(start, min(start + chunk, n))
        d = designs.take(idx)
        cap = d.macros * nmc.WORDS_PER_MACRO
        for (cols, sp), costs in zip(subplans, npu, strict=True):
            if not len(cols):
                continue
            ct = cost_tensors(sp, d, costs)
            obj = ct.time_s if designs.objective == "latency" else ct.energy_j
            if force_split is not None:
                ch = np.broadcast_to(
                    np.asarray(force_split, dtype=np.int64)[cols], (len(idx), len(cols))
                )
                ch = np.minimum(ch, sp.n_cand - 1)
                val = np.take_along_axis(obj, ch[..., None], axis=-1)[..., 0].sum(axis=1)
                used = sp.words[np.arange(len(cols)), ch].sum(axis=1)
                sol = Solution(ch, val, used, val)
            elif sp.n_cand == 1:
                ch = np.zeros((len(idx), len(cols)), dtype=np.int64)
                val = obj[..., 0].sum(axis=1)
                sol = Solution(ch, val, np.zeros(len(idx)), val)
            else:
                sol = solver(obj, sp.words, cap)
            ch = sol.choice
            rs = slice(start, start + len(idx))
            choice[rs, cols] = ch
            objective[rs] += sol.objective
            bound[rs] += sol.lower_bound
            words[rs] += sol.words

            def pick(a: np.ndarray, ch: np.ndarray = ch) -> np.ndarray:
                return np.take_along_axis(a, ch[..., None], axis=-1)[..., 0]

            time[rs, cols] = pick(ct.time_s)
            energy[rs, cols] = pick(ct.energy_j)
            if detail:
                for src, dst in ((ct.parts_time, parts_t), (ct.parts_energy, parts_e)):
                    for k, v in src.items():
                        if k not in dst:
                            dst[k] = np.zeros((n, L))
                        dst[k][rs, cols] = pick(v)
    solution = Solution(choice, objective, words, bound)
    split = plan.cand[np.arange(L), choice]
    return SystemEvaluation(
        designs=designs,
        plan=plan,
        latency_s=time.sum(axis=1),
        energy_j=energy.sum(axis=1),
        cim_area_mm2=designs.macros * nmc.macro_area_mm2(designs.compute_units),
        split=split,
        layer_time_s=time,
        layer_energy_j=energy,
        parts_time=parts_t,
        parts_energy=parts_e,
        words_used=words,
        capacity_words=designs.macros * nmc.WORDS_PER_MACRO,
        solution=solution,
    )


def _evaluate_fused(
    plan: LayerPlan,
    designs: SystemDesigns,
    var: np.ndarray,
    fix: np.ndarray,
    subplans: list[tuple[np.ndarray, LayerPlan]],
    npu: list[dict[tuple[int, int], NpuCost]],
    configs: list[tuple[int, int]],
) -> SystemEvaluation:
    """Totals through the fused kernel (same numbers as the numpy path; no part breakdown)."""
    from cimkit.hetero import kernel
    from cimkit.hetero.partition import HULL_TOLERANCE

    e = system_energy(designs.node_nm)
    n = len(designs)
    L = plan.n_layers
    sp = subplans[0][1]
    code = {c: i for i, c in enumerate(configs)}
    pairs = zip(designs.npu_macs, designs.npu_mode, strict=True)
    cfg = np.array([code[(int(m), int(k))] for m, k in pairs], dtype=np.int64)

    def dyn_energy(cost: NpuCost) -> np.ndarray:
        return (e.npu_mac_j * cost.macs + e.npu_sram_j_per_byte * cost.sram_bytes
                + e.npu_flash_j_per_byte * cost.flash_bytes)  # fmt: skip

    t_npu = np.stack([npu[0][c].time_s for c in configs])
    t_sram = np.stack([npu[0][c].sram_time_s for c in configs])
    e_npu = np.stack([dyn_energy(npu[0][c]) for c in configs])
    if len(fix):
        tf = np.stack([npu[1][c].time_s[:, 0] for c in configs])
        ef = np.stack([dyn_energy(npu[1][c])[:, 0] for c in configs])
    else:
        tf = np.zeros((len(configs), 0))
        ef = np.zeros((len(configs), 0))
    p_npu = designs.npu_macs / 256.0 * e.npu_static_w_per_256_macs + e.npu_sram_static_w
    S = len(var)
    choice_v = np.zeros((n, S), dtype=np.int64)
    lt = np.zeros((n, S))
    le = np.zeros((n, S))
    out = np.zeros((n, 6))
    wstream = nmc.weight_words(sp.cim_channels, sp.cim_reduction[:, None])
    order = kernel.exact_order(sp.words)
    kernel.fused_totals(
        cfg, designs.macros.astype(np.float64), designs.compute_units.astype(np.float64),
        designs.op_period_s.astype(np.float64), designs.dedup.astype(np.bool_),
        designs.noc_bw_bytes_s.astype(np.float64), designs.noc_warmup_s.astype(np.float64),
        p_npu.astype(np.float64), designs.compute_units * e.nmc_cu_static_w,
        t_npu, t_sram, e_npu, tf.sum(axis=1), ef.sum(axis=1),
        sp.cand, sp.words, wstream, sp.noc_in_bytes, sp.noc_out_bytes, sp.share(),
        sp.cim_positions, sp.kernel, sp.depthwise, sp.dynamic, sp.macs, sp.act_bytes,
        np.where(sp.depthwise, float(nmc.MACS_PER_OP), float(nmc.TAPS)),
        float(nmc.WORDS_PER_MACRO), designs.objective == "energy", e.nmc_weight_read_share,
        e.nmc_mac_j, e.nmc_input_j_per_byte, e.noc_j_per_byte, float(nmc.MACS_PER_OP),
        HULL_TOLERANCE, kernel.LAM_FACTORS, designs.method == "exact", order,
        np.ascontiguousarray(sp.words[order]), choice_v, lt, le, out,
    )  # fmt: skip
    choice = np.zeros((n, L), dtype=np.int64)
    choice[:, var] = choice_v
    time = np.zeros((n, L))
    energy = np.zeros((n, L))
    time[:, var], energy[:, var] = lt, le
    if len(fix):
        time[:, fix] = tf[cfg]
        energy[:, fix] = ef[cfg] + p_npu[:, None] * tf[cfg]
    # The objective and bound include the fixed layers, as the numpy path's do.
    fixed_obj = (time if designs.objective == "latency" else energy)[:, fix].sum(axis=1)
    solution = Solution(choice, out[:, 2] + fixed_obj, out[:, 3], out[:, 4] + fixed_obj)
    return SystemEvaluation(
        designs=designs,
        plan=plan,
        latency_s=out[:, 0],
        energy_j=out[:, 1],
        cim_area_mm2=designs.macros * nmc.macro_area_mm2(designs.compute_units),
        split=plan.cand[np.arange(L), choice],
        layer_time_s=time,
        layer_energy_j=energy,
        parts_time={},
        parts_energy={},
        words_used=out[:, 3],
        capacity_words=designs.macros * nmc.WORDS_PER_MACRO,
        solution=solution,
    )
