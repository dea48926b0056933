"""Energy and latency of OSA-HCIM: an event model per operating point (issue 16 item 6).

The macro (paper Sec. IV; notes B2, B6) has 8 HMUs, each a 144-row dot product with a digital
adder tree (DAT) and a 3-bit SAR ADC. One 8b x 8b MAC is 64 one-bit MACs (i, j) of order
k = i + j; at boundary B = B_D/A (:mod:`cimkit.osa.bitplane`) the k >= B ones are DCIM cycles
(one (i, j) per cycle, the DAT sums the 144 rows), the window B-4 <= k < B is one ACIM
conversion per weight bit i (1..4-bit DAC input, charge sharing over the 144 rows, a 3-bit SAR),
and the rest is discarded. The events, counted per inference:

============================  ==============================================================
``macs``                      8b x 8b MACs (2 OPs each: Table I note a)
``digital`` / ``analog``      one-bit MACs of single rows computed in DCIM / ACIM
``dat_ops``                   DAT evaluations (one (i, j) of one output over one 144-row chunk)
``digital_ones``              DCIM one-bit products that are 1 (they switch the adder tree)
``adc_conversions``           SAR conversions (one per chunk, output and weight bit with a
                              non-empty window)
``dac_steps``                 unit steps of the AIN DACs (2^bits per row and conversion,
                              each DAC shared by the 8 HMUs)
``ose_nq`` / ``ose_compares`` OSE work: one 3-bit N/Q of a saliency DMAC (and its add into S)
                              per HMU, chunk and saliency cycle; b-1 threshold compares per
                              decision (one decision per pixel and group of 8 outputs)
``popcounts``                 DAT sums of an all-ones column, one per input bit plane, row
                              and chunk (the bit-count correction's n_j; 0 without it)
``correction_macs``           multiply-adds n_j x coef of the bit-count correction, a_bits + 1
                              per output computed at a B > 0 (0 without it)
``cycles``                    DCIM clock cycles of one macro (digital and analog run in
                              parallel: per activation max(n_D, r n_Aop), r = ACIM / DCIM
                              latency ratio; OSA first runs its s-order saliency cycles)
============================  ==============================================================

Energy per inference (J), every per-event energy from :func:`load_preset`::

    E = DAT    2 e_fa (floor rows dat_ops + (1 - floor) digital_ones)
      + cells  e_cell (digital + analog)              (D_MULT reads, A_MULT charge-share caps)
      + lines  e_line (digital + analog)              (DIN / AIN line drivers, per row and op)
      + acc    e_add (dat_ops (log2 rows + 1 + 16) + adc_conversions (adc_bits + 16))
      + regs   e_ff (dat_ops (2 d + 16) + adc_conversions (adc_bits + d + 16)
                     + (digital + analog) / hmus)
                     (d = ceil(log2 rows + 1) DMAC bits: the DMAC / SAR code register and the
                     accumulator register clocked per partial; the DIN / AIN input registers,
                     one bit per row and one-bit MAC, shared by the 8 HMUs)
      + SAR    sar_energy_scale e_sar adc_conversions (the one fitted constant)
      + DAC    e_dac dac_steps
      + OSE    ose_nq (3 d + 12) e_add + ose_compares 12 e_add
      + corr   popcounts 2 e_fa rows (floor + (1 - floor) mean(density_a))
                     + correction_macs d (d + 16) e_add
                     (bit-count correction, ``bias_correction="bitcount"``: one adder-tree
                     evaluation per popcount at an input plane's activity; a shift-add
                     multiply of the d-bit count by a 16-bit coefficient per term)

Latency = cycles x t_DCIM on one macro with its weights resident (no weight loading, no
periphery outside the macro). The three operating points: DCIM (every order digital, B = 0),
fixed-B HCIM (one B everywhere, no OSE) and OSA-HCIM (a B distribution chosen by the OSE).

:func:`osa_energy` evaluates counts (any leading shape: vectorised); :func:`counts_from_shares`
builds the counts of a B distribution analytically (so ratios are predicted without
simulation); :func:`counts_from_layers` builds them from simulated ``HCIMConv2d`` /
``HCIMLinear`` layers after a forward. See docs/osa-hcim.md, "Energy and latency".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from cimkit.errors import SpecError

#: Counts :func:`osa_energy` reads (missing optional ones are 0).
COUNT_KEYS: tuple[str, ...] = (
    "macs",
    "digital",
    "analog",
    "dat_ops",
    "digital_ones",
    "adc_conversions",
    "dac_steps",
    "ose_nq",
    "ose_compares",
    "popcounts",
    "correction_macs",
    "cycles",
)
#: Energy components of :func:`osa_energy` (``energy_<name>_j``), in breakdown order.
COMPONENTS: tuple[str, ...] = (
    "dat",
    "cells",
    "lines",
    "accumulator",
    "registers",
    "sar",
    "dac",
    "ose",
    "correction",
)
#: ``osa65``: per-event energies from cimkit's component models at 65 nm / 0.6 V (NeuroSim's
#: adder and flip-flop, constants.yaml). ``osa65-paper``: the same macro on the paper's energy
#: scale: every energy x one factor that puts DCIM at the paper's own 65 nm figure for a digital
#: CIM macro (Table I, ISSCC'21 [4] normalised to 65 nm: 2.83 TOPS/W; the ``anchor`` entry of
#: osa65.yaml). Ratios are identical in both (a common factor); only absolute TOPS/W differ.
PRESETS: tuple[str, ...] = ("osa65", "osa65-paper")
#: Accumulator width beyond the partial sum: the shift of an 8b x 8b product (w + a bits).
_SHIFT_BITS = 16
#: Width of the OSE's saliency accumulator and threshold compares (bits): S stays below 2^12 for
#: 3-bit codes x order weights x 8 HMUs x a few chunks.
_OSE_BITS = 12
#: Fixed-point width of the bit-count correction's coefficients (bits).
_COEF_BITS = 16


@dataclass(frozen=True)
class Preset:
    """Resolved per-event energies (J), times (s) and geometry of one operating technology point.

    Attributes:
        name: preset name.
        node_nm, voltage_v: technology point.
        rows, hmus, cols, w_bits, a_bits, window, adc_bits: macro geometry (paper).
        adc_to_dat_latency: r, the ACIM conversion time in DCIM cycles.
        saliency_pairs: one-bit MACs evaluated by the OSE (3 for s = 2 at 8b x 8b).
        candidates: the B_D/A operating points.
        hcim_boundary: the fixed B of HCIM (the calibration point).
        e_fa_j: DAT energy per full-adder bit at activity 1, J.
        tree_floor: DAT activity with no product bit set.
        ose_q_bits: bits of the OSE's N/Q codes.
        e_cell_j, e_line_j, e_add_j, e_ff_j, e_dac_step_j: J per event (e_ff: one
            flip-flop bit clocked).
        e_sar_model_j: cimkit's SAR model at adc_bits, J per conversion (before the fit).
        sar_energy_scale: the fitted constant (1.56x calibration).
        energy_scale: factor on every energy of :func:`osa_energy` (1 on the component scale;
            on the paper scale, DCIM's energy per MAC at the anchor / the components' one).
        energy_scale_source: where ``energy_scale`` comes from.
        t_dcim_s: one DCIM cycle, s.
        density_w, density_a: (w_bits,), (a_bits,) share of ones per bit plane.
        paper: the paper's figures (name -> value).
        sources: name -> source text of every constant.
    """

    name: str
    node_nm: float
    voltage_v: float
    rows: int
    hmus: int
    cols: int
    w_bits: int
    a_bits: int
    window: int
    adc_bits: int
    adc_to_dat_latency: float
    saliency_pairs: int
    candidates: tuple[int, ...]
    hcim_boundary: int
    ose_q_bits: int
    e_fa_j: float
    tree_floor: float
    e_cell_j: float
    e_line_j: float
    e_add_j: float
    e_ff_j: float
    e_dac_step_j: float
    e_sar_model_j: float
    sar_energy_scale: float
    t_dcim_s: float
    density_w: np.ndarray
    density_a: np.ndarray
    paper: dict[str, Any]
    sources: dict[str, str]
    density_source: str
    energy_scale: float = 1.0
    energy_scale_source: str = "components: cimkit's component models at the preset's node"

    @property
    def e_sar_j(self) -> float:
        """Energy of one SAR conversion of this macro (fitted), J."""
        return self.sar_energy_scale * self.e_sar_model_j


# ---------------------------------------------------------------------------------------
# Per-B allocation tables (Fig. 5(a)) with the bit densities folded in


@dataclass(frozen=True)
class _Table:
    """Per boundary b (index = B, 0..max_order+1) quantities of one 8b x 8b MAC."""

    n_digital: np.ndarray  # (nB,) digital one-bit MACs
    n_analog: np.ndarray  # (nB,) analog one-bit MACs
    n_ops: np.ndarray  # (nB,) ACIM conversions (weight bits with a window)
    ones_digital: np.ndarray  # (nB,) expected 1-products among the digital one-bit MACs
    dac_steps: np.ndarray  # (nB,) sum over conversions of 2^(window bits)


def order_masks(boundary: int, w_bits: int = 8, a_bits: int = 8, window: int = 4):
    """(digital, analog) boolean (w_bits, a_bits) masks over (i, j) at one boundary.

    The rule of :func:`cimkit.osa.bitplane.order_masks` (k = i + j >= B digital, B - window <=
    k < B analog), restated in numpy so that the cost model can use it without importing torch
    (tests check the two agree for every B).
    """
    k = np.arange(w_bits)[:, None] + np.arange(a_bits)[None, :]
    return k >= boundary, (k >= boundary - window) & (k < boundary)


def saliency_pair_count(w_bits: int, a_bits: int, s: int) -> int:
    """One-bit MACs of the s highest orders k = w+a-2 .. w+a-1-s (3 for s = 2 at 8b x 8b)."""
    k = np.arange(w_bits)[:, None] + np.arange(a_bits)[None, :]
    return int((k >= w_bits + a_bits - 1 - s).sum())


def _table(p: Preset) -> _Table:
    rho = np.outer(p.density_w, p.density_a)  # (w, a) P(W[i] = 1 and A[j] = 1), independent
    nd, na, nop, od, ds = [], [], [], [], []
    for b in range(p.w_bits + p.a_bits):
        dig, ana = order_masks(b, p.w_bits, p.a_bits, p.window)
        per_i = ana.sum(axis=1)
        nd.append(dig.sum())
        na.append(ana.sum())
        nop.append((per_i > 0).sum())
        od.append((rho * dig).sum())
        ds.append(np.where(per_i > 0, 2.0**per_i, 0.0).sum())
    f = np.asarray
    return _Table(f(nd, float), f(na, float), f(nop, float), f(od, float), f(ds, float))


# ---------------------------------------------------------------------------------------
# Counts


def _shares(
    shares: np.ndarray | Mapping[int, Any] | Sequence[float], boundaries: Sequence[int] | None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """(..., nb) float shares and their boundaries from an array or a {B: share} mapping."""
    if isinstance(shares, Mapping):
        bs = tuple(int(b) for b in shares)
        s = np.stack([np.asarray(shares[b], dtype=np.float64) for b in shares], axis=-1)
    else:
        s = np.asarray(shares, dtype=np.float64)
        bs = tuple(int(b) for b in (boundaries if boundaries is not None else (5, 6, 7, 8, 9, 10)))
        if s.ndim == 0 or s.shape[-1] != len(bs):
            raise SpecError(
                f"shares has shape {s.shape}: the last axis must hold one share per boundary "
                f"{list(bs)}"
            )
    if any(b < 0 or b > 15 for b in bs):
        raise SpecError(f"boundaries {list(bs)}: B_D/A must be in 0..15 (0 = all digital)")
    if not np.isfinite(s).all() or (s < 0).any():
        raise SpecError("shares must be finite and >= 0")
    tot = s.sum(axis=-1)
    if (np.abs(tot - 1.0) > 1e-6).any():
        raise SpecError(f"shares must sum to 1 over the boundaries (got {np.ravel(tot)[:3]} ...)")
    return s, bs


def counts_from_shares(
    shares: np.ndarray | Mapping[int, Any] | Sequence[float],
    boundaries: Sequence[int] | None = None,
    *,
    macs: float | np.ndarray = 1.0,
    k: int = 144,
    ose: bool = True,
    preset: str | Preset = "osa65",
    correction_terms: int = 0,
    cols: int | None = None,
) -> dict[str, np.ndarray]:
    """Event counts of ``macs`` 8b x 8b MACs whose one-bit work is split by a B distribution.

    Args:
        shares: (..., nb) share of the MACs at each boundary (sums to 1 over the last axis), or a
            mapping {B: share (array or float)}. B = 0 is the all-digital DCIM mode.
        boundaries: the nb boundaries of an array ``shares`` (default 5..10, the paper's).
        macs: MACs per inference, broadcastable with ``shares[..., 0]``.
        k: reduction length of each output (rows of one dot product); ceil(k / rows) chunks.
        ose: count the saliency evaluator (OSA mode); False for DCIM and fixed-B HCIM.
        preset: preset name or a loaded :class:`Preset`.
        correction_terms: multiply-adds per output of the bit-count correction (a_bits + 1;
            0 = none or the constant one, which the accumulator adds with the bias).
        cols: outputs per input row (the layer's output channels M), for the popcounts the
            correction shares between them; required with ``correction_terms``.

    Returns:
        dict of :data:`COUNT_KEYS` -> float arrays of the leading shape (counts per inference).
    """
    p = load_preset(preset) if isinstance(preset, str) else preset
    s, bs = _shares(shares, boundaries)
    if not isinstance(k, int | np.integer) or k < 1:
        raise SpecError(f"k={k!r}: the reduction length must be a positive integer")
    t = _table(p)
    idx = np.asarray(bs)
    macs = np.asarray(macs, dtype=np.float64)
    chunks = -(-int(k) // p.rows)
    outputs = macs / k
    activations = outputs * chunks / p.hmus

    def mean(per_b: np.ndarray) -> np.ndarray:
        return (s * per_b[idx]).sum(axis=-1)

    r = p.adc_to_dat_latency
    if ose:
        sal = float(p.saliency_pairs)
        per_act = sal + np.maximum(t.n_digital - sal, r * t.n_ops)
    else:
        per_act = np.maximum(t.n_digital, r * t.n_ops)
    zero = np.zeros(np.broadcast_shapes(macs.shape, s.shape[:-1]))
    if correction_terms and (cols is None or cols < 1):
        raise SpecError("correction_terms needs cols (output channels per input row) >= 1")
    # Share of the work at a B > 0: only those outputs are corrected (B = 0 is exact).
    corrected = 1.0 - (s * (idx == 0)).sum(axis=-1) if correction_terms else zero
    out = {
        "macs": macs + zero,
        "digital": macs * mean(t.n_digital),
        "analog": macs * mean(t.n_analog),
        "dat_ops": outputs * chunks * mean(t.n_digital),
        "digital_ones": macs * mean(t.ones_digital),
        "adc_conversions": outputs * chunks * mean(t.n_ops),
        "dac_steps": outputs * chunks * min(k, p.rows) * mean(t.dac_steps) / p.hmus,
        "ose_nq": outputs * chunks * p.saliency_pairs * float(ose) + zero,
        "ose_compares": outputs / p.hmus * (len(p.candidates) - 1) * float(ose) + zero,
        "popcounts": (outputs / cols * chunks * p.a_bits * corrected) if correction_terms else zero,
        "correction_macs": outputs * correction_terms * corrected,
        "cycles": activations * mean(per_act),
    }
    return {key: np.asarray(v, dtype=np.float64) + zero for key, v in out.items()}


def mode_counts(
    mode: str,
    *,
    boundary: int | None = None,
    shares: np.ndarray | Mapping[int, Any] | None = None,
    boundaries: Sequence[int] | None = None,
    macs: float | np.ndarray = 1.0,
    k: int = 144,
    preset: str | Preset = "osa65",
) -> dict[str, np.ndarray]:
    """Counts of one operating point: ``"dcim"``, ``"hcim"`` (fixed ``boundary``, default the
    preset's) or ``"osa"`` (``shares`` over ``boundaries``, with the OSE)."""
    p = load_preset(preset) if isinstance(preset, str) else preset
    if mode == "dcim":
        return counts_from_shares({0: 1.0}, macs=macs, k=k, ose=False, preset=p)
    if mode == "hcim":
        b = p.hcim_boundary if boundary is None else int(boundary)
        return counts_from_shares({b: 1.0}, macs=macs, k=k, ose=False, preset=p)
    if mode == "osa":
        if shares is None:
            raise SpecError("mode 'osa' needs shares (the B distribution)")
        return counts_from_shares(shares, boundaries, macs=macs, k=k, ose=True, preset=p)
    raise SpecError(f"mode {mode!r}: use 'dcim', 'hcim' or 'osa'")


def counts_from_layers(
    layers: Iterable[Any], preset: str | Preset = "osa65"
) -> dict[str, np.ndarray]:
    """Counts of simulated ``HCIMConv2d`` / ``HCIMLinear`` layers after one forward pass.

    Each layer contributes :func:`counts_from_shares` of its own ``last_boundary`` map (the
    share of its decisions at each B, weighted equally: every decision covers the same MACs in a
    layer), its MACs (``last_counts["macs"]``) and reduction length; the OSE is counted for
    layers in ``"osa"`` mode. Returns scalar counts (0-d arrays) for the whole pass.
    """
    p = load_preset(preset) if isinstance(preset, str) else preset
    total: dict[str, np.ndarray] = {}
    n = 0
    for lay in layers:
        b = getattr(lay, "last_boundary", None)
        if b is None or not getattr(lay, "last_counts", None):
            raise SpecError("counts_from_layers: run a forward pass through every layer first")
        b = np.asarray(b).ravel()
        vals, cnt = np.unique(b, return_counts=True)
        shares = {int(v): c / b.size for v, c in zip(vals, cnt, strict=True)}
        k = int(np.prod(lay.w_int.shape[1:]))
        osa = getattr(lay, "mode", "") == "osa"
        lp = p
        if osa:
            # The OSE's cycles, N/Q work and threshold compares follow the layer's own s and
            # candidate list, not the preset's defaults.
            s = getattr(getattr(lay, "ose", None), "s", None)
            pairs = p.saliency_pairs if s is None else saliency_pair_count(p.w_bits, p.a_bits, s)
            cands = tuple(getattr(lay, "candidates", None) or p.candidates)
            if (pairs, cands) != (p.saliency_pairs, p.candidates):
                lp = replace(p, saliency_pairs=pairs, candidates=cands)
        terms = int(getattr(lay, "correction_terms", 0))
        c = counts_from_shares(shares, macs=float(lay.last_counts["macs"]), k=k, ose=osa,
                               preset=lp, correction_terms=terms,
                               cols=int(lay.w_int.shape[0]))  # fmt: skip
        total = {key: total.get(key, 0.0) + v for key, v in c.items()}
        n += 1
    if not n:
        raise SpecError("counts_from_layers: no layers given")
    return total


# ---------------------------------------------------------------------------------------
# Energy


def _energy_terms(c: Mapping[str, Any], p: Preset, sar_scale: float) -> dict[str, np.ndarray]:
    """Energy (J) per component of counts ``c`` (see the module docstring)."""
    missing = [k for k in ("macs", "digital", "dat_ops", "cycles") if k not in c]
    if missing:
        raise SpecError(f"counts miss {missing}; give at least macs, digital, dat_ops, cycles")
    g = {k: np.asarray(c.get(k, 0.0), dtype=np.float64) for k in COUNT_KEYS}
    for k, v in g.items():
        if not np.isfinite(v).all() or (v < 0).any():
            raise SpecError(f"counts[{k!r}] must be finite and >= 0")
    out_bits = np.log2(p.rows) + 1.0
    dmac_bits = np.ceil(out_bits)
    rows_ops = g["digital"] + g["analog"]
    return {
        "dat": 2.0
        * p.e_fa_j
        * (p.tree_floor * p.rows * g["dat_ops"] + (1.0 - p.tree_floor) * g["digital_ones"]),
        "cells": p.e_cell_j * rows_ops,
        "lines": p.e_line_j * rows_ops,
        "accumulator": p.e_add_j
        * (
            g["dat_ops"] * (out_bits + _SHIFT_BITS)
            + g["adc_conversions"] * (p.adc_bits + _SHIFT_BITS)
        ),
        "registers": p.e_ff_j
        * (
            g["dat_ops"] * (2.0 * dmac_bits + _SHIFT_BITS)
            + g["adc_conversions"] * (p.adc_bits + dmac_bits + _SHIFT_BITS)
            + rows_ops / p.hmus
        ),
        "sar": sar_scale * p.e_sar_model_j * g["adc_conversions"],
        "dac": p.e_dac_step_j * g["dac_steps"],
        # N/Q: a 3-bit code of an 8-bit DMAC by successive comparison with the per-layer levels
        # (q_bits compares of out_bits), then its add into S; decisions: b-1 compares of S.
        "ose": g["ose_nq"] * (p.ose_q_bits * np.ceil(out_bits) + _OSE_BITS) * p.e_add_j
        + g["ose_compares"] * _OSE_BITS * p.e_add_j,
        # A popcount is one more DAT evaluation (an all-ones weight column), with the adder
        # tree's activity of an input bit plane (the preset's mean activation density).
        "correction": g["popcounts"]
        * 2.0
        * p.e_fa_j
        * p.rows
        * (p.tree_floor + (1.0 - p.tree_floor) * float(np.mean(p.density_a)))
        + g["correction_macs"] * dmac_bits * (dmac_bits + _COEF_BITS) * p.e_add_j,
    }


def osa_energy(
    counts: Mapping[str, np.ndarray | float], preset: str = "osa65"
) -> dict[str, np.ndarray]:
    """Energy, efficiency and latency of OSA-HCIM event counts (vectorised over any shape).

    Args:
        counts: event counts per inference (:data:`COUNT_KEYS`; ``macs``, ``digital``,
            ``dat_ops`` and ``cycles`` are required, the rest default to 0), each a float or an
            array; arrays broadcast together (e.g. (n,) operating points). Build them with
            :func:`counts_from_shares`, :func:`mode_counts` or :func:`counts_from_layers`.
        preset: technology preset (:data:`PRESETS`).

    Returns:
        dict of float arrays of the broadcast shape: ``energy_j`` (J per inference),
        ``energy_per_mac_j`` (J per 8b x 8b MAC), ``tops_per_w`` (2 OPs per MAC / J / 1e12),
        ``latency_s`` (s, one macro), ``cycles`` (DCIM cycles), ``energy_<component>_j`` for
        :data:`COMPONENTS`, ``adc_share`` and ``ose_share`` (shares of ``energy_j``).
    """
    p = load_preset(preset)
    terms = {k: p.energy_scale * v for k, v in _energy_terms(counts, p, p.sar_energy_scale).items()}
    energy = sum(terms.values())
    macs = np.asarray(counts["macs"], dtype=np.float64)
    cycles = np.asarray(counts["cycles"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "energy_j": energy,
            "energy_per_mac_j": np.where(macs > 0, energy / macs, np.nan),
            "tops_per_w": np.where(energy > 0, 2.0 * macs / energy / 1e12, np.nan),
            "latency_s": cycles * p.t_dcim_s,
            "cycles": cycles + 0.0 * energy,
            "adc_share": np.where(energy > 0, terms["sar"] / energy, np.nan),
            "ose_share": np.where(energy > 0, terms["ose"] / energy, np.nan),
        }
    for name in COMPONENTS:
        out[f"energy_{name}_j"] = terms[name] + 0.0 * energy
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def efficiency_ratio(counts: Mapping[str, np.ndarray | float], preset: str = "osa65") -> np.ndarray:
    """Energy efficiency of ``counts`` over DCIM on the same MACs (E_DCIM / E), vectorised."""
    p = load_preset(preset)
    mine = osa_energy(counts, preset)["energy_per_mac_j"]
    ref = osa_energy(mode_counts("dcim", preset=p), preset)["energy_per_mac_j"]
    return ref / mine


# ---------------------------------------------------------------------------------------
# Preset


def neurosim_fj_per_bit(component: str, n_bits: int, node_nm: float, voltage_v: float) -> float:
    """Energy per bit of one NeuroSim V1.3 digital component at a tabulated node, fJ.

    Reads ``data/components/neurosim_digital.csv`` (hwcomponents-neurosim; energy_fj of one
    operation of an ``n_bits`` wide ``component`` at node_nm and voltage_v) and divides by
    ``n_bits``. A voltage the table lacks at that node is reached from the nearest tabulated one
    by (V / V_table)^2: at 65 nm the 8-bit adder follows V^2 within 1.1 % over 0.7-1.2 V
    (56.65-57.27 fJ / V^2), which ``tests/osa/test_energy.py`` checks. No node interpolation:
    an untabulated node is a :class:`SpecError`.

    Args:
        component: ``adder``, ``flip_flop``, ``shift_add`` or ``mux``.
        n_bits: width of the component (2..32 as tabulated).
        node_nm: technology node, nm (one of the table's).
        voltage_v: supply, V.

    Returns:
        fJ per bit per operation at (node_nm, voltage_v).
    """
    import csv

    f = resources.files("cimkit.data").joinpath("components/neurosim_digital.csv")
    rows = [
        r
        for r in csv.DictReader(f.read_text().splitlines())
        if r["component"] == component
        and int(r["n_bits"]) == int(n_bits)
        and float(r["node_nm"]) == float(node_nm)
    ]
    if not rows:
        raise SpecError(
            f"neurosim:{component}:{n_bits}: not tabulated at {node_nm:g} nm in "
            "data/components/neurosim_digital.csv; use a tabulated component, width and node"
        )
    near = min(rows, key=lambda r: abs(float(r["voltage_v"]) - voltage_v))
    v_t = float(near["voltage_v"])
    return float(near["energy_fj"]) / int(n_bits) * (voltage_v / v_t) ** 2


def _base_name(name: str) -> str:
    """The YAML file of a preset name (``osa65-paper`` reads ``osa65``)."""
    return name.removesuffix("-paper")


def _preset_text(name: str) -> str:
    return resources.files("cimkit.data").joinpath(f"osa/{name}.yaml").read_text()


def measured() -> dict[str, Any] | None:
    """The measurement of tools/osa_measure_shares.py (``data/osa/osa65_measured.json``) or None."""
    f = resources.files("cimkit.data").joinpath("osa/osa65_measured.json")
    return json.loads(f.read_text()) if f.is_file() else None


@lru_cache(maxsize=4)
def load_preset(name: str = "osa65") -> Preset:
    """Read a preset, resolve its model constants at its node and voltage, fit its one constant.

    The fit solves E(DCIM) / E(HCIM at ``hcim_boundary``) = ``paper.hcim_over_dcim`` for
    ``sar_energy_scale`` (E is linear in it), on one full 144-row chunk per output, the
    preset's bit densities and no OSE (HCIM has none).
    """
    if name not in PRESETS:
        raise SpecError(f"preset {name!r} is unknown; use one of {list(PRESETS)}")
    from cimkit.cost.constants import (
        delay_factor,
        energy_factor,
        flip_flop_energy_j,
        load_constants,
    )
    from cimkit.cost.peripherals import adc_survey_energy_j
    from cimkit.specs.io import parse_yaml

    base = _base_name(name)
    raw = parse_yaml(_preset_text(base), f"cimkit/data/osa/{base}.yaml")
    k = raw["constants"]
    c = load_constants()
    node, volt = float(k["node_nm"]["value"]), float(k["voltage_v"]["value"])
    ef = float(energy_factor(np.array(node), np.array(volt), c))
    df = float(delay_factor(np.array(node), np.array(volt), c))

    def const(key: str) -> float:
        src = k[key]["from"]
        if src.startswith("sram."):
            return c.device("sram", src.split(".", 1)[1])
        return c[src]

    def energy_fj(key: str) -> float:
        """fJ of entry ``key`` at the preset's node and voltage: a ``neurosim:<component>:<bits>``
        entry is read at that node (per bit) as tabulated; a constants.yaml entry (45 nm, 0.9 V)
        is scaled by cimkit's energy_factor."""
        src = str(k[key]["from"])
        if src.startswith("neurosim:"):
            _, comp, bits = src.split(":")
            return neurosim_fj_per_bit(comp, int(bits), node, volt)
        return const(key) * ef

    rows, cols = int(k["rows"]["value"]), int(k["cols"]["value"])
    adc_bits = int(k["adc_bits"]["value"])
    fj, pj = 1e-15, 1e-12
    d = {
        "adc_bits": np.array([float(adc_bits)]),
        "rate_hz": np.array([1e8]),  # below the survey's corner: the energy is rate-independent
        "node_nm": np.array([node]),
        "voltage_v": np.array([volt]),
    }
    e_sar = float(adc_survey_energy_j(d["adc_bits"], d["rate_hz"], d, c)[0])
    dw = np.asarray(k["bit_density_weight"]["value"], dtype=np.float64)
    da = np.asarray(k["bit_density_activation"]["value"], dtype=np.float64)
    dsrc = "preset (0.5 per bit: no measurement found)"
    m = measured()
    if m is not None and "bit_density" in m:
        dw = np.asarray(m["bit_density"]["weight"], dtype=np.float64)
        da = np.asarray(m["bit_density"]["activation"], dtype=np.float64)
        dsrc = "measured on the shipped ResNet-20 (osa65_measured.json)"
    s = int(k["saliency_orders"]["value"])
    w_bits, a_bits = int(k["w_bits"]["value"]), int(k["a_bits"]["value"])
    pairs = saliency_pair_count(w_bits, a_bits, s)
    t_cycle = ((np.log2(rows) + 2.0) * const("t_fa_ns") + const("t_pulse_ns")) * 1e-9 * df
    p = Preset(
        name=name,
        node_nm=node,
        voltage_v=volt,
        rows=rows,
        hmus=int(k["hmus"]["value"]),
        cols=cols,
        w_bits=w_bits,
        a_bits=a_bits,
        window=int(k["window"]["value"]),
        adc_bits=adc_bits,
        adc_to_dat_latency=float(k["adc_to_dat_latency"]["value"]),
        saliency_pairs=pairs,
        candidates=tuple(int(b) for b in k["candidates"]["value"]),
        hcim_boundary=int(k["hcim_boundary"]["value"]),
        ose_q_bits=int(k["ose_q_bits"]["value"]),
        e_fa_j=energy_fj("tree_fj_per_bit") * fj,
        tree_floor=const("tree_activity_floor"),
        e_cell_j=const("cell_fj") * fj * ef,
        e_line_j=(const("wl_driver_fj") + cols * const("wl_fj_per_cell")) * fj * ef / cols,
        e_add_j=const("add_fj_per_bit") * pj * ef,
        e_ff_j=float(flip_flop_energy_j(np.array(node), np.array(volt), c)),
        e_dac_step_j=const("dac_fj_per_step") * fj * ef,
        e_sar_model_j=e_sar,
        sar_energy_scale=float("nan"),
        t_dcim_s=float(t_cycle),
        density_w=dw,
        density_a=da,
        paper={key: v["value"] for key, v in raw["paper"].items()},
        sources={key: str(v["source"]) for key, v in {**k, "fit": raw["fit"]}.items()},
        density_source=dsrc,
    )
    p = _fit(p)
    if name.endswith("-paper"):
        p = _anchor(p, raw["anchor"])
    return p


def _anchor(p: Preset, anchor: Mapping[str, Any]) -> Preset:
    """``p`` on the paper's energy scale: one factor on every energy so that DCIM (at ``p``'s bit
    densities) runs at ``anchor['dcim_tops_per_w']``. The SAR fit is unchanged (a common factor
    leaves every ratio as it is), so this is a choice of units, not a second fit to a ratio."""
    target = float(anchor["dcim_tops_per_w"]["value"])
    dcim = counts_from_shares({0: 1.0}, ose=False, preset=p)
    e_model = float(sum(_energy_terms(dcim, p, p.sar_energy_scale).values()))
    e_anchor = 2.0 * float(dcim["macs"]) / (target * 1e12)  # J: 2 OPs per MAC
    return replace(
        p,
        name=f"{p.name}-paper",
        energy_scale=e_anchor / e_model,
        energy_scale_source=str(anchor["dcim_tops_per_w"]["source"]),
    )


def _fit(p: Preset) -> Preset:
    """``p`` with ``sar_energy_scale`` solving DCIM / HCIM = the paper's ratio exactly."""
    target = float(p.paper["hcim_over_dcim"])
    dcim = counts_from_shares({0: 1.0}, ose=False, preset=p)
    hcim = counts_from_shares({p.hcim_boundary: 1.0}, ose=False, preset=p)
    e_dcim = sum(_energy_terms(dcim, p, 0.0).values())
    base = sum(_energy_terms(hcim, p, 0.0).values())
    per_scale = _energy_terms(hcim, p, 1.0)["sar"]
    scale = float((e_dcim / target - base) / per_scale)
    if not scale > 0:
        raise SpecError(
            f"preset {p.name}: HCIM without its SAR already beats DCIM by more than {target}x; "
            "the SAR scale cannot be fitted"
        )
    return replace(p, sar_energy_scale=scale)
