"""A workload prepared for the NPU + CIM system model: per layer, its candidate splits and every
design-independent quantity of each candidate (NPU cycles and bytes, CIM words, NoC bytes).

A layer's *units* are what the partitioner splits: output channels of conv, pointwise, fully
connected and depthwise layers (a depthwise layer's channels are its inputs too), whole heads of
an attention matmul (only when the design opts in), nothing for the other ops (NPU only).
Candidate ``k`` of a layer puts ``cand[l, k]`` units on the CIM macros and the rest on the NPU;
candidate 0 is always 0 units (NPU only). Candidates step by ``max(16, ceil(units / steps))``
channels rounded up to a multiple of 16 (the macro's 16 lanes), and the last is all units.
Shorter lists are padded by repeating their last candidate, so arrays are (L, K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimkit.hetero import nmc, npu
from cimkit.workload.table import Workload

#: Split kinds.
SPLIT_NONE, SPLIT_CHANNELS, SPLIT_HEADS = 0, 1, 2


@dataclass(frozen=True)
class LayerPlan:
    """Design-independent arrays of one workload (L layers, K candidates).

    Attributes:
        names, ops: (L,) layer names and op kinds.
        split_kind: (L,) :data:`SPLIT_NONE` / ``SPLIT_CHANNELS`` / ``SPLIT_HEADS``.
        units: (L,) splittable units (channels or heads; 1 for unsplittable layers).
        cand: (L, K) CIM units of each candidate.
        macs: (L,) multiply-accumulates of the whole layer.
        words: (L, K) MRAM weight words (16 x 9 weights) the CIM share occupies (0 for heads).
        cim_channels, cim_reduction, cim_positions: (L, K), (L,), (L,) the CIM share's output
            lanes, reduction length and output positions (see :mod:`cimkit.hetero.nmc`).
        depthwise, kernel: (L,) depthwise flag and kernel side (input de-duplication).
        noc_in_bytes, noc_out_bytes: (L, K) bytes streamed to / returned from the macros.
        dynamic: (L,) attention matmul (both operands streamed; only with ``dynamic_matmul``).
        act_bytes: (L,) bytes per activation value.
    """

    names: tuple[str, ...]
    ops: tuple[str, ...]
    split_kind: np.ndarray
    units: np.ndarray
    cand: np.ndarray
    macs: np.ndarray
    words: np.ndarray
    cim_channels: np.ndarray
    cim_reduction: np.ndarray
    cim_positions: np.ndarray
    depthwise: np.ndarray
    kernel: np.ndarray
    noc_in_bytes: np.ndarray
    noc_out_bytes: np.ndarray
    dynamic: np.ndarray
    act_bytes: np.ndarray
    workload: Workload
    steps: int

    @property
    def n_layers(self) -> int:
        return len(self.names)

    @property
    def n_cand(self) -> int:
        return int(self.cand.shape[1])

    def take(self, idx: np.ndarray, n_cand: int | None = None) -> LayerPlan:
        """The plan of the layers at ``idx`` (their first ``n_cand`` candidates)."""
        idx = np.asarray(idx, dtype=np.int64)
        k = slice(None, n_cand)
        layers = tuple(self.workload.layers[i] for i in idx)
        return LayerPlan(
            names=tuple(self.names[i] for i in idx),
            ops=tuple(self.ops[i] for i in idx),
            split_kind=self.split_kind[idx],
            units=self.units[idx],
            cand=self.cand[idx][:, k],
            macs=self.macs[idx],
            words=self.words[idx][:, k],
            cim_channels=self.cim_channels[idx][:, k],
            cim_reduction=self.cim_reduction[idx],
            cim_positions=self.cim_positions[idx],
            depthwise=self.depthwise[idx],
            kernel=self.kernel[idx],
            noc_in_bytes=self.noc_in_bytes[idx][:, k],
            noc_out_bytes=self.noc_out_bytes[idx][:, k],
            dynamic=self.dynamic[idx],
            act_bytes=self.act_bytes[idx],
            workload=Workload(self.workload.name, layers) if layers else self.workload,
            steps=self.steps,
        )

    def share(self) -> np.ndarray:
        """(L, K) fraction of each layer's units on the CIM macros."""
        return self.cand / self.units[:, None]


def _candidates(units: int, kind: int, steps: int) -> list[int]:
    if kind == SPLIT_NONE:
        return [0]
    if kind == SPLIT_HEADS:
        step = max(1, -(-units // steps))
    else:
        step = max(nmc.LANES, -(-units // steps))
        step = -(-step // nmc.LANES) * nmc.LANES
    out = list(range(0, units, step)) + [units]
    return sorted(set(out))


def build_plan(workload: Workload, steps: int = 8, dynamic_matmul: bool = False) -> LayerPlan:
    """Prepare ``workload`` for the system model (see module docstring)."""
    layers = workload.layers
    kinds, units, cands = [], [], []
    for layer in layers:
        if layer.op in ("conv", "pwconv", "linear", "dwconv"):
            kind, u = SPLIT_CHANNELS, layer.out_channels
        elif layer.op == "matmul" and dynamic_matmul:
            kind, u = SPLIT_HEADS, layer.repeat
        else:
            kind, u = SPLIT_NONE, 1
        kinds.append(kind)
        units.append(u)
        cands.append(_candidates(u, kind, steps))
    k_max = max(len(c) for c in cands)
    cand = np.array([c + [c[-1]] * (k_max - len(c)) for c in cands], dtype=np.float64)
    units_a = np.array(units, dtype=np.float64)
    kind_a = np.array(kinds, dtype=np.int64)
    share = cand / units_a[:, None]
    L = len(layers)
    red = np.ones(L)
    pos = np.ones(L)
    lanes_per_unit = np.ones(L)
    dw = np.zeros(L, dtype=bool)
    kern = np.ones(L)
    in_b = np.zeros(L)
    out_b = np.zeros(L)
    macs = np.zeros(L)
    dyn = np.zeros(L, dtype=bool)
    whole_input = np.zeros(L, dtype=bool)
    for i, layer in enumerate(layers):
        macs[i] = layer.macs
        a_bytes = layer.act_bits / 8.0
        in_b[i] = layer.in_elems * a_bytes
        out_b[i] = layer.out_elems * a_bytes
        if layer.op in ("conv", "pwconv", "dwconv"):
            pos[i] = layer.out_h * layer.out_w * layer.repeat
            kern[i] = max(layer.kernel_h, layer.kernel_w)
            if layer.op == "dwconv":
                dw[i] = True
                red[i] = layer.kernel_h * layer.kernel_w
            else:
                red[i] = layer.in_channels // layer.groups * layer.kernel_h * layer.kernel_w
                whole_input[i] = True
        elif layer.op == "linear":
            pos[i] = layer.out_h * layer.out_w * layer.repeat
            red[i] = layer.in_channels
            whole_input[i] = True
        elif layer.op == "matmul":
            dyn[i] = bool(dynamic_matmul)
            pos[i] = layer.out_h
            red[i] = layer.in_channels
            lanes_per_unit[i] = layer.out_channels
    cim_channels = cand * lanes_per_unit[:, None]
    words = nmc.weight_words(cim_channels, red[:, None])
    words = np.where(dyn[:, None] | (kind_a[:, None] == SPLIT_NONE), 0.0, words)
    # Channel-split layers need their whole input on the macros whatever the share (every output
    # channel reads every input); depthwise layers and heads only their own channels' inputs.
    noc_in = np.where(whole_input[:, None], in_b[:, None], in_b[:, None] * share)
    noc_in = np.where(cand > 0, noc_in, 0.0)
    noc_out = out_b[:, None] * share
    return LayerPlan(
        names=tuple(layer.name for layer in layers),
        ops=tuple(layer.op for layer in layers),
        split_kind=kind_a,
        units=units_a,
        cand=cand,
        macs=macs,
        words=words,
        cim_channels=cim_channels,
        cim_reduction=red,
        cim_positions=pos,
        depthwise=dw,
        kernel=kern,
        noc_in_bytes=noc_in,
        noc_out_bytes=noc_out,
        dynamic=dyn,
        act_bytes=np.array([layer.act_bits / 8.0 for layer in layers]),
        workload=workload,
        steps=steps,
    )


def _npu_queries(
    plan: LayerPlan,
) -> list[tuple[str, int, np.ndarray, dict[str, np.ndarray], float]]:
    """Group the (layer, candidate) entries with NPU work by calibration kind.

    Returns (kind, stride, flat index into (L, K), dims, multiplier) per group: the NPU's share
    of each entry as a layer of the calibration table, and a factor on its cycles and bytes for
    what the table does not hold (kernels other than 3x3 depthwise, extra elementwise passes).
    """
    groups: dict[tuple[str, int, float], list[tuple[int, dict[str, float]]]] = {}
    L, K = plan.cand.shape
    for i, layer in enumerate(plan.workload.layers):
        for k in range(K):
            n = plan.units[i] - plan.cand[i, k]
            # Vela fuses an activation into the operator producing its input (LUT-based ones
            # too, for int8), so an activation row costs nothing of its own.
            if n <= 0 or layer.op == "act":
                continue
            idx = i * K + k
            side = float(np.sqrt(layer.in_h * layer.in_w))
            mult = 1.0
            s = min(layer.stride, 2)
            if layer.op == "conv":
                ci = layer.in_channels // layer.groups * layer.kernel_h * layer.kernel_w / 9.0
                if layer.stride > 2:
                    side = side * 2.0 / layer.stride
                key = ("conv", s, mult)
                dims = {"h": side, "c_in": max(ci, 1.0), "c_out": n}
            elif layer.op == "dwconv":
                mult = layer.kernel_h * layer.kernel_w / 9.0
                if layer.stride > 2:
                    side = side * 2.0 / layer.stride
                key = ("dw", s, mult)
                dims = {"h": side, "c_in": n}
            elif layer.op == "pwconv":
                key = ("pw", 1, mult)
                dims = {"h": float(np.sqrt(layer.out_h * layer.out_w)), "c_in": layer.in_channels,
                        "c_out": n}  # fmt: skip
            elif layer.op == "linear":
                key = ("fc", 1, mult)
                dims = {"h": layer.out_h * layer.out_w * layer.repeat, "c_in": layer.in_channels,
                        "c_out": n}  # fmt: skip
            elif layer.op == "matmul":
                key = ("bmm", 1, mult)
                dims = {"c_out": n, "h": layer.out_h, "c_in": layer.in_channels,
                        "w": layer.out_channels}  # fmt: skip
            elif layer.op == "softmax":
                length = layer.out_w if layer.out_w > 1 else layer.out_channels
                key = ("softmax", 1, mult)
                dims = {"h": max(layer.out_elems / length, 1.0), "c_in": length}
            else:
                # Elementwise, activation, norm, pool: passes of the calibrated elementwise ADD over
                # the elements read (norm: one pass per elementary op per element).
                elems = layer.in_elems if layer.op == "pool" else layer.out_elems
                c = max(layer.out_channels if layer.op != "pool" else layer.in_channels, 1)
                passes = layer.ops / max(layer.out_elems, 1) if layer.op == "norm" else 1.0
                key = ("add", 1, passes)
                dims = {"h": float(np.sqrt(max(elems / c, 1.0))), "c_in": c}
            groups.setdefault(key, []).append((idx, dims))
    out = []
    for (kind, s, mult), entries in groups.items():
        idx = np.array([e[0] for e in entries], dtype=np.int64)
        axes = npu.KIND_AXES[kind]
        dims = {a: np.array([e[1][a] for e in entries], dtype=np.float64) for a in axes}
        out.append((kind, s, idx, dims, mult))
    return out


@dataclass(frozen=True)
class NpuCost:
    """(L, K) NPU time and bytes of each candidate's NPU share on one configuration."""

    time_s: np.ndarray
    sram_time_s: np.ndarray
    macs: np.ndarray
    sram_bytes: np.ndarray
    flash_bytes: np.ndarray


def npu_cost(plan: LayerPlan, macs_per_cycle: int, memory_mode: str) -> NpuCost:
    """The NPU share of every candidate of ``plan`` on one U55 configuration."""
    L, K = plan.cand.shape
    flat = {q: np.zeros(L * K) for q in npu.QUANTITIES}
    for kind, s, idx, dims, mult in _npu_queries(plan):
        pred = npu.predict(kind, dims, macs_per_cycle, memory_mode, s)
        for q in npu.QUANTITIES:
            flat[q][idx] = pred[q] * mult
    f = npu.CORE_CLOCK_HZ
    share_npu = 1.0 - plan.share()
    return NpuCost(
        time_s=flat["cycles_total"].reshape(L, K) / f,
        sram_time_s=flat["cycles_sram_access"].reshape(L, K) / f,
        macs=plan.macs[:, None] * share_npu,
        sram_bytes=flat["sram_total_bytes"].reshape(L, K),
        flash_bytes=flat["off_chip_flash_total_bytes"].reshape(L, K),
    )
