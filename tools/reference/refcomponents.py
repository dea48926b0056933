"""Thin, documented wrappers around the hwcomponents component libraries (CiMLoop's plug-ins).

Shared by ``reference_cim_model.py`` and ``component_tables.py``. Everything numeric here comes
from the libraries, except the SAR-ADC conversion-time model (:func:`sar_conversion_time_s`),
which no library provides with a supply-voltage dependence (see docs/reference-model.md).

Libraries (pinned in requirements.txt):

* ``hwcomponents-adc``: ADC energy/area regression over the Murmann ADC survey
  (https://arxiv.org/abs/2404.06553). Inputs: ENOB (bits, >= 4), tech node, sample rate.
  No supply-voltage input. Energy per conversion is ``get_energy()``; the plug-in splits it
  80 % into the ``convert`` action and 20 % into leakage power (0.2 * E * throughput).
* ``hwcomponents-neurosim``: the CiMLoop build of NeuroSim V1.3 (C++ executable). Inputs: rows,
  cols, columns muxed per ADC, cell file, tech node, supply voltage, read pulse width, adder
  widths. Outputs per component: energy per activation, area, leakage power, latency. Supply
  voltage scales every transistor's on-current by ((V - Vth) / (Vnom - Vth))**2
  (drop_in/Technology.cpp), so its latencies follow an alpha-power law with alpha = 2.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import logging
import math
import os
from dataclasses import dataclass

import hwcomponents_neurosim
import hwcomponents_neurosim.main as ns_main
import hwcomponents_neurosim.neurointerface as ns
from hwcomponents_adc.headers import ENOB, FREQ, TECH
from hwcomponents_adc.main import ADC as SurveyADC
from hwcomponents_adc.main import MODEL_FILE as ADC_MODEL_FILE
from hwcomponents_adc.model import get_area as adc_get_area
from hwcomponents_adc.model import get_energy as adc_get_energy

LOG = logging.getLogger("cimkit.reference")
logging.getLogger().setLevel(logging.ERROR)

NS_DIR = os.path.dirname(hwcomponents_neurosim.__file__)
CELL_DIR = os.path.join(NS_DIR, "cells")
#: RRAM cell used by the reference: NVSim's RRAM crossbar cell (4 F^2, no access transistor,
#: R_on = 1 MOhm / R_off = 10 MOhm at the 0.4 V read voltage).
RRAM_CELL = "nvsim_RRAM"

#: NeuroSim's nominal supply and threshold voltage per node for the roadmap the plug-in uses
#: (deviceRoadmap -1 = LP, which NeuroSim's Technology.cpp treats like LSTP: the non-HP branch),
#: copied from hwcomponents_neurosim/drop_in/Technology.cpp (conventional CMOS / FinFET table).
NEUROSIM_VDD_VTH = {
    7: (0.70, 0.4025252),
    10: (0.75, 0.3905541),
    14: (0.80, 0.3821222),
    22: (0.85, 0.419915),
    32: (0.90, 0.442034),
    45: (1.00, 0.4643718),
    65: (1.10, 0.5016636),
    90: (1.20, 0.5013229),
    130: (1.30, 0.4660949),
}
NEUROSIM_NODES_NM = sorted(NEUROSIM_VDD_VTH)

#: NeuroSim's sensing-cycle latency factor (param->beta, 1.4 by default; applied to one read).
NEUROSIM_BETA = 1.4
#: NeuroSim's SAR ADC latency: (bits + 1) * 1 ns (SarADC.cpp), i.e. one sample phase plus one
#: comparator cycle per bit at 1 ns each, at the node's nominal supply.
SAR_BIT_CYCLE_NOM_S = 1e-9


def library_versions() -> dict[str, str]:
    out = {}
    for pkg in (
        "hwcomponents",
        "hwcomponents-adc",
        "hwcomponents-neurosim",
        "hwcomponents-library",
        "hwcomponents-cacti",
        "numpy",
        "pandas",
    ):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def neurosim_binary_info() -> dict[str, str | bool]:
    path = ns.NEUROSIM_PATH
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {
        "path_in_package": "hwcomponents_neurosim/NeuroSim/main",
        "sha256": sha,
        "rebuilt_from_shipped_sources": os.path.exists(path + ".orig"),
    }


# ---------------------------------------------------------------------------------------------
# Delay model (alpha-power law, the same one NeuroSim applies to its transistors)
# ---------------------------------------------------------------------------------------------
def gate_delay_factor(voltage: float, node_nm: int) -> float:
    """Gate delay at ``voltage`` relative to the node's nominal supply.

    delay ~ C * V / I_on with I_on ~ (V - Vth)**2 (alpha = 2, exactly how NeuroSim scales
    on-current with its vdd override), so delay(V)/delay(Vnom) = (V/Vnom) * ((Vnom-Vth)/(V-Vth))**2.
    """
    vnom, vth = NEUROSIM_VDD_VTH[node_nm]
    if voltage <= vth:
        raise ValueError(f"supply {voltage} V is not above Vth {vth} V at {node_nm} nm")
    return (voltage / vnom) * ((vnom - vth) / (voltage - vth)) ** 2


def sar_conversion_time_s(bits: int, voltage: float, node_nm: int) -> float:
    """SAR conversion time: (bits + 1) comparator/bit cycles (1 sample + 1 per bit), NeuroSim's
    1 ns bit cycle at nominal supply, scaled by the alpha-power gate-delay factor."""
    return (bits + 1) * SAR_BIT_CYCLE_NOM_S * gate_delay_factor(voltage, node_nm)


# ---------------------------------------------------------------------------------------------
# hwcomponents-adc
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdcCost:
    energy_per_conversion_j: float  # library get_energy(): convert energy + leakage share
    convert_energy_j: float  # the 'convert' action (0.8 x the above)
    leak_power_w: float  # 0.2 x energy x throughput
    area_m2: float
    extrapolated: bool  # outside the library's own validity (bits < 4 or rate > model max)


def adc_cost(bits: int, rate_sps: float, node_nm: float) -> AdcCost:
    """SAR/array ADC from hwcomponents-adc at ``rate_sps`` samples/s per ADC.

    For bits >= 4 this instantiates the library's ComponentModel. The library refuses < 4 bits;
    for those we evaluate the same fitted regression (model.yaml) directly and flag the result.
    """
    if bits >= 4:
        adc = SurveyADC(n_bits=bits, tech_node=node_nm * 1e-9, throughput=rate_sps)
        e = adc.get_energy()
        conv = adc.convert().energy
        max_rate = math.exp(adc._model[FREQ]["max value"])
        return AdcCost(e, conv, adc.leak_power, adc.area, rate_sps > max_rate)
    import yaml

    with open(ADC_MODEL_FILE) as f:
        model = yaml.safe_load(f)
    params = {ENOB: bits, TECH: math.log(node_nm), FREQ: math.log(rate_sps)}
    e_pj = adc_get_energy(params, model, True)
    params["energy (pJ/op)"] = math.log(e_pj)
    area_um2 = adc_get_area(params, model)
    e = e_pj * 1e-12
    return AdcCost(e, 0.8 * e, 0.2 * e * rate_sps, area_um2 * 1e-12, True)


# ---------------------------------------------------------------------------------------------
# hwcomponents-neurosim
# ---------------------------------------------------------------------------------------------
def _cell_path(cell: str) -> str:
    return cell if os.path.exists(cell) else os.path.join(CELL_DIR, cell + ".cell")


def neurosim_crossbar(
    rows: int,
    cols: int,
    cols_per_adc: int,
    node_nm: int,
    voltage: float,
    read_pulse_s: float = 1e-9,
    cell: str = RRAM_CELL,
    n_bits: int = 8,
    shift_register_n_bits: int = 8,
) -> ns.Crossbar:
    """Run (or fetch from the plug-in's cache) one NeuroSim crossbar, exactly as the plug-in's
    component classes do (hwcomponents_neurosim.main.build_crossbar), in parallel (CiM) mode
    with no NeuroSim ADC (the ADC comes from hwcomponents-adc)."""
    attrs = {
        "cell_config": _cell_path(cell),
        "sequential": False,
        "rows": rows,
        "cols": cols,
        "cols_active_at_once": cols // cols_per_adc,  # -> cols_muxed = cols_per_adc
        "tech_node": node_nm * 1e-9,
        "adc_resolution": 0,
        "read_pulse_width": read_pulse_s,
        "cycle_period": 1e-9,  # not passed to NeuroSim by the plug-in
        "voltage_dac_bits": 1,
        "temporal_dac_bits": 1,
        "temporal_spiking": False,
        "voltage": voltage,
        "threshold_voltage": 0,  # 0 -> NeuroSim's default Vth for the node
        "n_bits": n_bits,
        "shift_register_n_bits": shift_register_n_bits,
        "pool_window": 2,
        "n_adder_tree_inputs": 2,
        "n_mux_inputs": 2,
    }
    return ns_main.build_crossbar(attrs, LOG)


def _comp(xb: ns.Crossbar, name: str, read: bool = True) -> ns.Component:
    hits = [c for c in xb.comps if c.name == name and c.read == read]
    if not hits:
        raise KeyError(f"NeuroSim output has no component {name!r}")
    return hits[0]


class NegativeAreaError(ValueError):
    """NeuroSim's layout breaks down (negative area) for too-narrow arrays (e.g. 32 columns)."""


@dataclass(frozen=True)
class ArrayCosts:
    """Per-event costs of one crossbar's analog side from NeuroSim (SI units)."""

    rows: int
    cols: int
    cols_per_adc: int
    node_nm: int
    voltage: float
    # energies per event
    row_on_j: float  # one row driven with input bit 1 (switch matrix + wordline charge)
    row_off_j: float  # one row with input bit 0 (switch matrix activation only)
    col_j: float  # one column read (column mux + mux decoder + SL switch)
    cell_on_power_w: float  # cell read power at the high conductance (V_read^2 * G_on)
    cell_off_power_w: float  # ... at the low conductance
    # area / leakage
    row_driver_area_m2: float
    row_driver_leak_w: float
    col_driver_area_m2: float
    col_driver_leak_w: float
    cell_area_m2: float
    cell_leak_w: float
    # latencies (one read step, before NeuroSim's beta factor)
    t_wl_switch_s: float
    t_col_mux_s: float
    t_mux_decoder_s: float
    t_bitline_s: float
    neurosim_min_read_latency_s: float  # NeuroSim's own value (with its 1 ns MLSA), for reference

    def row_j(self, input_activity: float) -> float:
        return self.row_off_j + (self.row_on_j - self.row_off_j) * input_activity

    def cell_power_w(self, cell_value: float) -> float:
        return self.cell_off_power_w + (self.cell_on_power_w - self.cell_off_power_w) * cell_value

    @property
    def t_analog_s(self) -> float:
        """Analog part of one conversion step, NeuroSim's composition without its sense amp:
        max(wordline switch matrix, column mux + mux decoder) + bitline settling."""
        return max(self.t_wl_switch_s, self.t_col_mux_s + self.t_mux_decoder_s) + self.t_bitline_s


def array_costs(
    rows: int, cols: int, cols_per_adc: int, node_nm: int, voltage: float, cell: str = RRAM_CELL
) -> ArrayCosts:
    pulse = 1e-9
    xb = neurosim_crossbar(
        rows, cols, cols_per_adc, node_nm, voltage, read_pulse_s=pulse, cell=cell
    )
    # Energies exactly as the plug-in's RowDrivers/ColDrivers/MemoryCell read() compute them
    # (neurointerface.row_stats / col_stats / cell_stats), at input activity 1 and 0 and cell
    # value 1 (high conductance) and 0 (low conductance).
    row_on = ns.row_stats(xb, 1.0, 0.5)
    row_off = ns.row_stats(xb, 0.0, 0.5)
    col = ns.col_stats(xb, 1.0, 0.5)
    cell_hi = ns.cell_stats(xb, 1.0, 1.0)
    cell_lo = ns.cell_stats(xb, 1.0, 0.0)
    for name, st in (("row drivers", row_on), ("column drivers", col), ("cell", cell_hi)):
        if st["Area"] < 0:  # the plug-in's own check (get_neurosim_output) rejects these too
            raise NegativeAreaError(
                f"NeuroSim returned negative {name} area for "
                f"{rows}x{cols}, {cols_per_adc} cols/ADC, {node_nm} nm"
            )
    mlsa = _comp(xb, "col|adc(mlsa) cellhi").latency + _comp(xb, "col|adc(mlsaenc) cellhi").latency
    t_wl = _comp(xb, "row(wlswch)").latency * 1e-12
    t_mux = _comp(xb, "col(mux)").latency * 1e-12
    t_dec = _comp(xb, "col(muxdec)").latency * 1e-12
    min_lat = xb.min_latency * 1e-9  # parsed in ns
    # NeuroSim: min_latency = beta * (max(t_wl, t_mux + t_dec) + colDelay + t_MLSA + t_MLSAEnc);
    # colDelay (bitline settling, 0.2 * C_BL * R_cell / (rows/2)) is not printed, so recover it.
    t_bl = min_lat / NEUROSIM_BETA - max(t_wl, t_mux + t_dec) - mlsa * 1e-12
    return ArrayCosts(
        rows=rows,
        cols=cols,
        cols_per_adc=cols_per_adc,
        node_nm=node_nm,
        voltage=voltage,
        row_on_j=row_on["Read Energy"] * 1e-12,
        row_off_j=row_off["Read Energy"] * 1e-12,
        col_j=col["Read Energy"] * 1e-12,
        cell_on_power_w=cell_hi["Read Energy"] * 1e-12 / pulse,
        cell_off_power_w=cell_lo["Read Energy"] * 1e-12 / pulse,
        row_driver_area_m2=row_on["Area"] * 1e-12,
        row_driver_leak_w=row_on["Leakage"] * 1e-12,
        col_driver_area_m2=col["Area"] * 1e-12,
        col_driver_leak_w=col["Leakage"] * 1e-12,
        cell_area_m2=cell_hi["Area"] * 1e-12,
        cell_leak_w=cell_hi["Leakage"] * 1e-12,
        t_wl_switch_s=t_wl,
        t_col_mux_s=t_mux,
        t_mux_decoder_s=t_dec,
        t_bitline_s=max(t_bl, 0.0),
        neurosim_min_read_latency_s=min_lat,
    )


@dataclass(frozen=True)
class DigitalCost:
    energy_j: float  # per operation
    area_m2: float
    leak_w: float
    latency_s: float


def digital_costs(
    n_bits: int, node_nm: int, voltage: float, shift_register_n_bits: int = 8
) -> dict[str, DigitalCost]:
    """NeuroSim's miscellaneous digital components (one op each) at ``n_bits`` width.

    'shift_add' is NeuroSim's ShiftAdd (an n_bits adder + (n_bits + shift_register_n_bits) DFFs,
    one shift-and-accumulate step per op); 'adder' an n_bits ripple adder; 'flip_flop' n_bits DFFs;
    'mux' an n_bits 2:1 mux with its decoder.
    """
    xb = neurosim_crossbar(
        64, 64, 8, node_nm, voltage, n_bits=n_bits, shift_register_n_bits=shift_register_n_bits
    )
    out = {}
    for key, fn in (
        ("shift_add", ns.shift_add_stats),
        ("adder", ns.adder_stats),
        ("flip_flop", ns.flip_flop_stats),
        ("mux", ns.mux_stats),
    ):
        s = fn(xb, 1.0, 1.0)
        out[key] = DigitalCost(
            s["Read Energy"] * 1e-12, s["Area"] * 1e-12, s["Leakage"] * 1e-12, s["Latency"] * 1e-12
        )
    return out
