"""Physical models of macro peripherals: readout kinds, input encodings, drivers, cycle time.

Pure functions of (n,) design arrays ``d`` (already resolved, see
:func:`cimkit.cost.designs.resolve_defaults`) and the constants table; every constant is in
``cimkit/data/constants.yaml`` with its unit and source. Reference point: 45 nm, 0.9 V. Dynamic
energy scales as C(node) * V^2 (:func:`~cimkit.cost.constants.energy_factor`), delay by the
alpha-power law (:func:`~cimkit.cost.constants.delay_factor`), area by the node's area factor.

Readout kinds (``macro.readout``), registered in :data:`cimkit.cost.registry.READOUTS`:

* ``sar``: successive approximation. Energy per conversion, static power and area come from
  the ADC survey (hwcomponents-adc, CiMLoop's ADC plug-in: a regression over B. Murmann's survey
  of published ADCs), tabulated offline over bits x conversion rate x node
  (:mod:`cimkit.cost.adc_survey`). The survey has no supply input; its designs run at their
  node's nominal supply, and a SAR's switching energy is C V^2 at the supply it runs from, so
  energy scales as (V / nominal V)^2 (CiMLoop's macro models apply the same V^2 rule).
  Conversion time: ``bits + 1`` comparator cycles.
* ``flash``: ``2^bits - 1`` comparators fire per conversion; one comparator delay.
* ``integrate_fire``: a time-domain / spike-count converter (NeuRRAM's neurons): energy is a
  fixed integrator part plus one counting step per output count, so it follows the output value.
  Its macro runs in phases of clock steps (:func:`if_phase_steps`): 2^w - 1 integration steps
  for w accumulated input bits, one sample step and one step per output bit resolved; its
  ``time_s`` is one step (the macro's clock).
* ``osa_hybrid``: OSA-HCIM's saliency-aware hybrid digital/analog macro (DAT + 3-bit SAR per
  HMU, boundary ``macro.osa_boundary``), in :mod:`cimkit.cost.osa_readout`.
* ``adder_tree``: digital macros; its energy is counted per full-adder bit by the CIM engine,
  so the per-conversion energy here is only the output register.
* ``column_adder``: digital macros with a full adder in every bitcell (Colonnade): the column
  sum ripples down the rows, one adder per row and column, over weight_bits + log2(rows)
  columns per weight (:func:`cimkit.cost.mapping.weight_columns`); the engine counts one
  full-adder bit per row and column; here each column's one-bit output register, and a cycle
  that ripples through every active row.

Input encodings (``macro.input_encoding``): ``bit_serial`` (one pulse per 1-bit, one bit per
cycle), ``pulse_count`` (a b-bit slice as 0..2^b-1 unit pulses in one cycle: wordline energy
follows the mean count, time the longest train; each row's b-bit pulse counter is clocked through
all 2^b - 1 slots whatever the value, at NeuroSim's flip-flop energy) and ``voltage_dac`` (a b-bit
DAC per row converts every slice: fixed DAC energy plus the wordline charge, one settling time).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimkit.cost.adc_survey import sar_area_um2, sar_convert_energy_j
from cimkit.cost.constants import (
    READOUTS,
    Constants,
    area_factor,
    delay_factor,
    energy_factor,
    flip_flop_energy_j,
    nominal_vdd_v,
)
from cimkit.cost.registry import (
    InputEncoding,
    Readout,
    per_encoding,
    per_readout,
    register_encoding,
    register_readout,
)

FJ = 1e-15
PJ = 1e-12
NS = 1e-9


def _ef(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return energy_factor(d["node_nm"], d["voltage_v"], c)


def _df(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return delay_factor(d["node_nm"], d["voltage_v"], c, d.get("transistor"))


def _af(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return area_factor(d["node_nm"], c)


# --- readouts -----------------------------------------------------------------------------------


def adc_survey_energy_j(
    bits: np.ndarray, rate_hz: np.ndarray, d: dict[str, np.ndarray], c: Constants
) -> np.ndarray:
    """SAR ADC dynamic energy per conversion (J), each (n,): the survey's convert energy at
    (bits, rate, node) x ``adc_energy_scale`` (the typical in-macro SAR relative to the survey,
    calibrated) x (V / nominal V of the node)^2.

    Below the survey's corner rate (~1e9 S/s at 8 bits) the energy does not depend on the rate;
    from 4 to 8 bits it rises 1.5-1.9x (a fixed comparator/logic part dominates low
    resolutions), far less than a Walden 2^bits law.
    """
    vrel = d["voltage_v"] / nominal_vdd_v(d["node_nm"], c)
    e = sar_convert_energy_j(bits, rate_hz, d["node_nm"])
    return c["adc_energy_scale"] * e * vrel**2


def _sar_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return adc_survey_energy_j(d["adc_bits"], d["rate_hz"], d, c)


def _sar_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (d["adc_bits"] + 1.0) * c["t_comparator_ns"] * NS * _df(d, c)


def _sar_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return c["adc_area_scale"] * sar_area_um2(d["adc_bits"], d["rate_hz"], d["node_nm"])


def _flash_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (2.0 ** d["adc_bits"] - 1.0) * c["comparator_fj"] * FJ * _ef(d, c)


def _flash_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return 2.0 * c["t_comparator_ns"] * NS * _df(d, c)


def _flash_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (2.0 ** d["adc_bits"] - 1.0) * c["comparator_area_um2"] * _af(d, c)


def _if_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # The integrator reset plus one charge-decrement step per output bit resolved.
    return (c["if_fixed_fj"] + d["adc_bits"] * c["if_step_fj"]) * FJ * _ef(d, c)


def _if_share(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """Share of the full-scale IF energy spent on decrement steps (follows the output value)."""
    steps = d["adc_bits"] * c["if_step_fj"]
    return steps / (c["if_fixed_fj"] + steps)


def _if_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # One step of the neuron: the clock of a time-domain macro (see if_phase_steps).
    return c["t_if_step_ns"] * NS * _df(d, c)


#: Readout kinds that integrate inputs in the time domain and convert one output bit per step:
#: their macros run in phases of :func:`if_phase_steps` clock steps (not one cycle per window).
TIME_DOMAIN_READOUTS: tuple[str, ...] = ("integrate_fire",)


def if_phase_steps(
    in_bits: np.ndarray, windows: np.ndarray, out_bits: np.ndarray, max_windows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Clock steps of one input vector on a time-domain (integrate-and-fire) readout.

    An input of ``in_bits`` magnitude bits is applied in ``windows`` phases (one conversion each),
    its bits split over the phases as evenly as possible (first phases take the extra bit). A
    phase of w bits integrates binary-weighted pulses, bit k for 2^k unit steps: 2^w - 1
    integration steps, plus one sample / reset step. Its conversion resolves one output bit per
    step (a charge-decrement binary search, NeuRRAM's variable-precision neuron as CiMLoop models
    it): phase i's partial sum sits E_i bits (the bits of the earlier phases) below the first's,
    so only max(out_bits - E_i, 0) of its bits reach the output.

    Args:
        in_bits: magnitude input bits, any shape broadcastable with ``windows``.
        windows: phases per input vector (>= 1 where in_bits > 0).
        out_bits: output bits of the conversion; broadcastable with the others.
        max_windows: an upper bound of ``windows`` (the loop runs over phase positions only).

    Returns:
        (integration + sample steps, conversion steps), float arrays of the broadcast shape.
    """
    w = np.maximum(np.asarray(windows, dtype=np.float64), 1.0)
    b = np.asarray(in_bits, dtype=np.float64)
    q = np.floor(b / w)
    r = b - q * w
    integ = r * (2.0 ** (q + 1.0) - 1.0) + (w - r) * (2.0**q - 1.0) + w
    conv = np.zeros(np.broadcast_shapes(w.shape, np.shape(out_bits)))
    for i in range(int(max_windows)):
        earlier = i * q + np.minimum(i, r)
        conv = conv + np.where(i < w, np.maximum(out_bits - earlier, 0.0), 0.0)
    return integ, conv


def _if_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (c["if_area_um2"] + d["adc_bits"] * c["counter_area_um2_per_bit"]) * _af(d, c)


def _tree_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # Output register of the column: one flip-flop write per output bit (the tree itself is
    # counted per full-adder bit by the engine).
    return (np.log2(d["active_rows"]) + 1.0) * c["add_pj_per_bit"] * PJ * _ef(d, c)


def _tree_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (np.log2(d["active_rows"]) + 2.0) * c["t_fa_ns"] * NS * _df(d, c)


def _column_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # Each column of a column_adder macro holds one bit of the sum: one register bit per column.
    return c["add_pj_per_bit"] * PJ * _ef(d, c)


def _column_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # The sum ripples through one full adder per active row, then the carry across the
    # log2(rows) guard columns (no pipeline registers modelled: the slowest configuration).
    rows = d["active_rows"]
    return (rows + np.log2(rows) + 1.0) * c["t_fa_ns"] * NS * _df(d, c)


def _zero(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return np.zeros_like(d["rows"], dtype=np.float64)


_DesignFn = Callable[[dict[str, np.ndarray], Constants], np.ndarray]


def _leak(area: _DesignFn) -> _DesignFn:
    """Static power of a unit from its area: the analog bias / logic leakage density, x V."""

    def f(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
        density = c["adc_leak_w_per_mm2"]
        return area(d, c) * 1e-6 * density * d["voltage_v"] / c.ref_voltage_v

    return f


# SAR and flash energies do not follow the output code here (the comparator decisions are the
# same for every code; CDAC switching energy varies by a few ten percent at most).
register_readout(Readout("sar", _sar_energy, _zero, _sar_time, _sar_area, _leak(_sar_area)))
register_readout(
    Readout("flash", _flash_energy, _zero, _flash_time, _flash_area, _leak(_flash_area))
)
register_readout(
    Readout("integrate_fire", _if_energy, _if_share, _if_time, _if_area, _leak(_if_area))
)
register_readout(Readout("adder_tree", _tree_energy, _zero, _tree_time, _zero, _zero))
register_readout(Readout("column_adder", _column_energy, _zero, _column_time, _zero, _zero))


# --- input encodings ----------------------------------------------------------------------------


def _serial_pulses(level: np.ndarray, b: np.ndarray) -> np.ndarray:
    return level


def _count_pulses(level: np.ndarray, b: np.ndarray) -> np.ndarray:
    return level * (2.0**b - 1.0)


def _dac_pulses(level: np.ndarray, b: np.ndarray) -> np.ndarray:
    # The wordline swings to the level: charge C V_level, energy from the supply C V V_level.
    return level


def _no_fixed(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return np.zeros_like(d["rows"], dtype=np.float64)


def _count_fixed(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # Each row's pulse generator is a b-bit counter clocked through all 2^b - 1 pulse slots of the
    # access whatever the row's value (it compares its count with the value to gate the pulse).
    b = d["input_bits_per_cycle"]
    return (2.0**b - 1.0) * b * flip_flop_energy_j(d["node_nm"], d["voltage_v"], c)


def _dac_fixed(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return c["dac_fj_per_step"] * FJ * 2.0 ** d["input_bits_per_cycle"] * _ef(d, c)


def _serial_slot(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return c["t_pulse_ns"] * NS * _df(d, c)


def _count_slot(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (2.0 ** d["input_bits_per_cycle"] - 1.0) * c["t_pulse_ns"] * NS * _df(d, c)


def _dac_slot(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return c["t_dac_ns"] * NS * _df(d, c)


def _dac_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return c["dac_area_um2_per_step"] * 2.0 ** d["input_bits_per_cycle"] * _af(d, c)


register_encoding(InputEncoding("bit_serial", _serial_pulses, _no_fixed, _serial_slot, _no_fixed))
register_encoding(InputEncoding("pulse_count", _count_pulses, _count_fixed, _count_slot, _no_fixed))
register_encoding(InputEncoding("voltage_dac", _dac_pulses, _dac_fixed, _dac_slot, _dac_area))


# --- drivers, cells, timing ---------------------------------------------------------------------


def wordline_energy_j(d: dict[str, np.ndarray], c: Constants) -> tuple[np.ndarray, np.ndarray]:
    """(fixed, per attached cell) energy of one wordline activation, J, each (n,).

    A row driver charges its own output stage and the wordline: wire plus one access-device gate
    per column (C = C_drv + cols * C_cell), at C(node) V^2.
    """
    ef = _ef(d, c)
    return c["wl_driver_fj"] * FJ * ef, c["wl_fj_per_cell"] * FJ * ef


def row_driver_area_um2(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """Area of one row driver (um^2): a fixed part plus an output stage sized for ``cols`` loads."""
    return (c["row_driver_area_um2"] + c["row_driver_area_um2_per_col"] * d["cols"]) * _af(d, c)


def cell_read_energy_j(d: dict[str, np.ndarray], c: Constants, sram: np.ndarray) -> np.ndarray:
    """Energy of one cell read at full level, J (n,).

    SRAM compute cells are capacitive: C(node) V^2 from the ``read_energy_fj`` at the reference
    point. Non-volatile cells dissipate V_read^2 G t: set by the read pulse, not by the node or
    the supply, so they scale with (read_voltage_v / reference read voltage)^2.
    """
    ref_v = np.where(sram, 1.0, d["read_voltage_ref_v"])
    nvm = d["read_energy_fj"] * (d["read_voltage_v"] / ref_v) ** 2
    return np.where(sram, d["read_energy_fj"] * _ef(d, c), nvm) * FJ


def settle_time_s(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """Bitline settling before a conversion (s): RC grows with the rows on the bitline."""
    return c["t_read_ns"] * NS * (d["active_rows"] / 256.0) ** 0.5 * _df(d, c)


def min_cycle_time_ns(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """(n,) shortest clock period the readout allows, ns.

    Analog: bitline settling (grows with active rows) + the input encoding's slot (a pulse train
    for pulse_count) + one conversion of the readout kind; digital: the encoding's slot + the
    adder tree's ripple. All at the design's node and voltage (alpha-power law).
    """
    t_ro = per_readout("time_s", d, c)
    slot = per_encoding("slot_s", d, c)
    settle = np.where(d["macro_kind"] == 0, settle_time_s(d, c), 0.0)
    # osa_hybrid's readout time is its whole slot (DCIM cycle with its input pulse, ACIM in
    # parallel; cimkit.cost.osa_readout): no separate settle or input slot.
    osa = np.asarray(d["readout"]) == READOUTS.index("osa_hybrid")
    return np.where(osa, t_ro, settle + slot + t_ro) * 1e9


def resolve_timing(values: dict[str, np.ndarray], c: Constants) -> dict[str, np.ndarray]:
    """A copy of resolved design arrays with the readout's minimum cycle (``min_cycle_time_ns``),
    the clock in use (``cycle_time_ns``, ``cycle_s``: the given one, or the minimum when unset)
    and the conversion rate each readout unit is designed for (``rate_hz``, Hz)."""
    values = dict(values)
    tmin = min_cycle_time_ns(values, c)
    given = values["cycle_time_ns"]
    values["min_cycle_time_ns"] = tmin
    values["cycle_time_ns"] = np.where(np.isnan(given), tmin, given)
    values["cycle_s"] = values["cycle_time_ns"] * 1e-9
    # Each readout unit converts once per cycle: the rate its energy and area are designed for.
    values["rate_hz"] = 1.0 / values["cycle_s"]
    return values


# OSA-HCIM's saliency-aware hybrid readout (cimkit.cost.osa_readout, beside the OSA event model).
from cimkit.cost import osa_readout as _osa_readout  # noqa: E402,F401  (registers osa_hybrid)
