"""The ``osa_hybrid`` readout kind: OSA-HCIM's saliency-aware hybrid digital/analog macro.

Registered in :data:`cimkit.cost.registry.READOUTS` (imported by :mod:`cimkit.cost.peripherals`),
so the cost model, the contract tests and the CIMNAS-style search treat it like any readout.
The physics is the event model of :mod:`cimkit.osa.energy` (paper Sec. III-V; notes B6):

* The macro is an analog-kind SRAM macro with bit-serial inputs and one cell per weight bit, so
  the CIM engine issues 64 readout slots per 8b x 8b output and row group (8 weight-bit columns
  x 8 input slices), each a one-bit MAC (i, j) over the active rows. One readout unit (a DAT, a
  3-bit SAR and an N/Q) serves ``cols_per_adc`` columns, like an HMU its 8 weight bits.
* The design's boundary ``osa_boundary`` (``macro.osa_boundary``, the mean B_D/A of the OSE's
  choices, 5..10, default 8 = the paper's fixed-boundary HCIM point) splits the 64 slots: per
  output n_D(B) slots are DCIM cycles (the DAT adds the rows: 2 x active_rows full-adder bits),
  n_Aop(B) weight bits are one ACIM conversion each (charge share, AIN DAC, SAR at ``adc_bits``)
  and the rest is discarded. A fractional B mixes floor(B) and ceil(B) linearly (the share of
  pixels at each), so every quantity is a weighted mean of the allocation table (Fig. 5(a)).
* Energy of one slot (J) = [n_D 2 R e_fa + n_Aop (s e_SAR + R 2^nb e_dac / units) + OSE] / 64
  with e_fa = ``tree_fj_per_bit`` and e_SAR the ADC-survey SAR (as the ``sar`` kind) times the
  OSA preset's one fitted scale ``s`` (:func:`cimkit.osa.energy.load_preset`). The DAT part
  above its activity floor follows the operands (``value_share``: the engine multiplies it by
  the mean product of input and weight bit levels, as for an adder-tree macro).
* Time of one slot: digital and analog run in parallel, so an output's 64 slots take
  (s_OSE +) max(n_D - s_OSE, r n_Aop) DCIM cycles, r = 2 (adc_bits + 1) / 4 DCIM cycles per
  conversion (the paper's 2 at its 3-bit SAR: "the DAT has twice lower latency than the ADC",
  more bits take more SAR cycles); one DCIM cycle = the DAT ripple plus one input pulse. The slot
  time is that / 64 and is the macro's whole clock (no separate bitline settle or input slot).

Cells and input drivers are counted by the engine for every slot, discarded ones included (a
small overcount: they are about 1 % of the energy).
"""

from __future__ import annotations

import numpy as np

from cimkit.cost.constants import Constants, area_factor, delay_factor, energy_factor
from cimkit.cost.peripherals import adc_survey_energy_j
from cimkit.cost.registry import Readout, register_readout

NAME = "osa_hybrid"
FJ = 1e-15
PJ = 1e-12
NS = 1e-9
#: Slots per 8b x 8b output and row group (w_bits x a_bits one-bit MACs).
SLOTS = 64.0
#: Width of the OSE's saliency accumulator and compares (bits), as cimkit.osa.energy.
_OSE_BITS = 12


def _tables() -> tuple[np.ndarray, ...]:
    """Per integer B (index 0..15): n_D, n_Aop, mean 2^nb per conversion, and the preset."""
    from cimkit.osa.energy import _table, load_preset

    p = load_preset("osa65")
    t = _table(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        dac = np.where(t.n_ops > 0, t.dac_steps / t.n_ops, 0.0)
    return t.n_digital, t.n_ops, dac, p  # type: ignore[return-value]


def _mix(per_b: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Linear interpolation of a per-integer-B table at a (n,) fractional mean boundary."""
    b = np.clip(np.asarray(boundary, dtype=np.float64), 0.0, len(per_b) - 1.0)
    return np.interp(b, np.arange(len(per_b), dtype=np.float64), per_b)


def _dcim_cycle_s(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """One DCIM cycle (s): the DAT ripple over log2(active rows) + 2 stages and one input pulse."""
    df = delay_factor(d["node_nm"], d["voltage_v"], c, d.get("transistor"))
    return ((np.log2(d["active_rows"]) + 2.0) * c["t_fa_ns"] + c["t_pulse_ns"]) * NS * df


def _conversion_cycles(d: dict[str, np.ndarray]) -> np.ndarray:
    """DCIM cycles of one ACIM conversion: 2 at the paper's 3-bit SAR, x (bits + 1) / 4."""
    return 2.0 * (d["adc_bits"] + 1.0) / 4.0


def _sar_rate_hz(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """The rate the SAR is built for, Hz: one conversion per 2 DCIM cycles (the paper's pace;
    kept independent of adc_bits, so more bits never give a smaller converter)."""
    return 1.0 / (2.0 * _dcim_cycle_s(d, c))


def _parts(d: dict[str, np.ndarray], c: Constants) -> tuple[np.ndarray, np.ndarray]:
    """(DAT energy of one slot at activity 1, all other energy of one slot), J, each (n,)."""
    nd_t, nop_t, dac_t, p = _tables()
    b = d["osa_boundary"]
    nd, nop, dac = _mix(nd_t, b), _mix(nop_t, b), _mix(dac_t, b)
    rows = d["active_rows"]
    ef = energy_factor(d["node_nm"], d["voltage_v"], c)
    dat = nd * 2.0 * rows * c["tree_fj_per_bit"] * FJ * ef
    # The SAR converts at its own pace (not once per slot): its survey energy at that rate.
    rate = _sar_rate_hz(d, c)
    sar = p.sar_energy_scale * adc_survey_energy_j(d["adc_bits"], rate, d, c)
    units = np.maximum(d["cols"] / d["cols_per_adc"], 1.0)  # readout units sharing a row DAC
    analog = nop * (sar + rows * dac * c["dac_fj_per_step"] * FJ * ef / units)
    add = c["add_pj_per_bit"] * PJ * ef
    dmac_bits = np.ceil(np.log2(rows) + 1.0)
    ose = p.saliency_pairs * (p.ose_q_bits * dmac_bits + _OSE_BITS) * add
    ose = ose + (len(p.candidates) - 1) * _OSE_BITS * add / units
    return dat / SLOTS, (analog + ose) / SLOTS


def dat_share(d: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) share of the readout slots summed by the adder tree: n_D(B) / 64 for osa_hybrid
    designs, 1 for every other design (the CIM engine scales its adder-tree energy by it)."""
    from cimkit.cost.constants import READOUTS

    nd_t, _, _, _ = _tables()
    osa = np.asarray(d["readout"]) == READOUTS.index(NAME)
    return np.where(osa, _mix(nd_t, d["osa_boundary"]) / SLOTS, 1.0)


def _energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # The DAT part is counted by the CIM engine per layer (its rows and data activity, as for
    # an adder-tree macro, scaled by dat_share); the readout kind carries the analog side.
    _, rest = _parts(d, c)
    return rest


def _time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    nd_t, nop_t, _, p = _tables()
    b = d["osa_boundary"]
    nd, nop = _mix(nd_t, b), _mix(nop_t, b)
    sal = float(p.saliency_pairs)
    cycles = sal + np.maximum(nd - sal, _conversion_cycles(d) * nop)
    return _dcim_cycle_s(d, c) * cycles / SLOTS


#: The paper's SAR ADCs take 6 % of the macro's area (Sec. VI, Fig. 7), at 3 bits.
ADC_AREA_SHARE = 0.06


def _area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """One readout unit (an HMU's periphery), um^2: a DAT (2 x active rows full adders), an N/Q
    and S adder, and a SAR sized by the paper's fact that its ADCs are 6 % of the macro area:
    6/94 of the unit's cells and DAT at 3 bits, x 2 per extra bit (the capacitor DAC).

    Not the ADC survey's area (as for ``sar``): at 3 bits its regression gives ~30x the paper's
    share for this macro, which the paper's layout rules out.
    """
    rows = d["active_rows"]
    af = area_factor(d["node_nm"], c)
    fa = (2.0 * rows + 3.0 * np.ceil(np.log2(rows) + 1.0) + _OSE_BITS) * c["fa_area_um2"] * af
    f_ref_um = c.ref_node_nm / 1000.0
    cells = d["rows"] * d["cols_per_adc"] * d["cell_area_f2"] * f_ref_um**2 * af
    sar = ADC_AREA_SHARE / (1.0 - ADC_AREA_SHARE) * (cells + fa) * 2.0 ** (d["adc_bits"] - 3.0)
    return fa + c["adc_area_scale"] * sar


def _leak(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return _area(d, c) * 1e-6 * c["adc_leak_w_per_mm2"] * d["voltage_v"] / c.ref_voltage_v


def _zero(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return np.zeros_like(np.asarray(d["rows"], dtype=np.float64))


OSA_HYBRID = register_readout(Readout(NAME, _energy, _zero, _time, _area, _leak))
