"""Physical models of macro peripherals: readout kinds, input encodings, drivers, cycle time.

Pure functions of (n,) design arrays ``d`` (already resolved, see
:func:`cimkit.cost.designs.resolve_defaults`) and the constants table; every constant is in
``cimkit/data/constants.yaml`` with its unit and source. Reference point: 45 nm, 0.9 V. Dynamic
energy scales as C(node) * V^2 (:func:`~cimkit.cost.constants.energy_factor`), delay by the
alpha-power law (:func:`~cimkit.cost.constants.delay_factor`), area by the node's area factor.

Readout kinds (``macro.readout``), registered in :data:`cimkit.cost.registry.READOUTS`:

* ``sar``: successive approximation. Energy per conversion follows the ADC survey's two
  regimes (Murmann's survey, the basis of CiMLoop's ADC plug-in): the larger of a Walden
  figure-of-merit term ``FoM_W * 2^bits`` and a thermal-noise term from the Schreier figure of
  merit ``0.5 * 10^((6.02 bits + 1.76 - FoM_S) / 10)``, times a speed penalty
  ``1 + rate / f_corner(node)`` above the node's corner rate. Conversion time: ``bits + 1``
  comparator cycles.
* ``flash``: ``2^bits - 1`` comparators fire per conversion; one comparator delay.
* ``integrate_fire``: a time-domain / spike-count converter (NeuRRAM's neurons): energy is a
  fixed integrator part plus one counting step per output count, so it follows the output value;
  time ``2^bits`` count steps.
* ``adder_tree``: digital macros; its energy is counted per full-adder bit by the CIM engine,
  so the per-conversion energy here is only the output register.

Input encodings (``macro.input_encoding``): ``bit_serial`` (one pulse per 1-bit, one bit per
cycle), ``pulse_count`` (a b-bit slice as 0..2^b-1 unit pulses in one cycle: wordline energy
follows the mean count, time the longest train; each row's b-bit pulse counter is clocked through
all 2^b - 1 slots whatever the value, at NeuroSim's flip-flop energy) and ``voltage_dac`` (a b-bit
DAC per row converts every slice: fixed DAC energy plus the wordline charge, one settling time).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cimkit.cost.constants import (
    Constants,
    area_factor,
    delay_factor,
    energy_factor,
    flip_flop_energy_j,
)
from cimkit.cost.registry import (
    InputEncoding,
    Readout,
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
    """SAR ADC energy per conversion (J) from the survey regression (module docstring).

    The Walden term scales with the node's capacitance and V^2; the thermal term is a property of
    the noise floor and does not; the corner rate rises as gates get faster (1 / delay factor).
    """
    walden = c["adc_fom_walden_fj"] * FJ * 2.0**bits * _ef(d, c)
    thermal = 0.5 * 10.0 ** ((6.02 * bits + 1.76 - c["adc_fom_schreier_db"]) / 10.0)
    corner = c["adc_corner_mhz"] * 1e6 / _df(d, c)
    return np.maximum(walden, thermal) * (1.0 + rate_hz / corner)


def _sar_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return adc_survey_energy_j(d["adc_bits"], d["rate_hz"], d, c)


def _sar_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (d["adc_bits"] + 1.0) * c["t_comparator_ns"] * NS * _df(d, c)


def _sar_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (c["adc_area_um2_per_step"] * 2.0 ** d["adc_bits"] + c["adc_area_um2_fixed"]) * _af(d, c)


def _flash_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (2.0 ** d["adc_bits"] - 1.0) * c["comparator_fj"] * FJ * _ef(d, c)


def _flash_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return 2.0 * c["t_comparator_ns"] * NS * _df(d, c)


def _flash_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (2.0 ** d["adc_bits"] - 1.0) * c["comparator_area_um2"] * _af(d, c)


def _if_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # Full activity: the integrator plus every count step up to full scale.
    return (c["if_fixed_fj"] + (2.0 ** d["adc_bits"] - 1.0) * c["if_step_fj"]) * FJ * _ef(d, c)


def _if_share(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    """Share of the full-scale IF energy spent on count steps (follows the output value)."""
    steps = (2.0 ** d["adc_bits"] - 1.0) * c["if_step_fj"]
    return steps / (c["if_fixed_fj"] + steps)


def _if_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return 2.0 ** d["adc_bits"] * c["t_if_step_ns"] * NS * _df(d, c)


def _if_area(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (c["if_area_um2"] + d["adc_bits"] * c["counter_area_um2_per_bit"]) * _af(d, c)


def _tree_energy(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    # Output register of the column: one flip-flop write per output bit (the tree itself is
    # counted per full-adder bit by the engine).
    return (np.log2(d["active_rows"]) + 1.0) * c["add_pj_per_bit"] * PJ * _ef(d, c)


def _tree_time(d: dict[str, np.ndarray], c: Constants) -> np.ndarray:
    return (np.log2(d["active_rows"]) + 2.0) * c["t_fa_ns"] * NS * _df(d, c)


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
