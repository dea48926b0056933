"""Generate component tables cimkit can interpolate at run time (no hwcomponents needed there).

Writes into src/cimkit/data/components/:

* adc_survey.csv (+ .json)       hwcomponents-adc: SAR/array ADC energy per conversion, area and
                                 leakage vs bits x sample rate x node.
* neurosim_array.csv (+ .json)   hwcomponents-neurosim: crossbar row drivers (wordline switch
                                 matrix + wordline charge), column drivers (column mux + decoder
                                 + source-line switches), RRAM cell read power, areas, leakage
                                 and component latencies vs rows x cols x cols_per_adc x node x
                                 supply voltage.
* neurosim_digital.csv (+ .json) hwcomponents-neurosim: shift-add, adder, flip-flop and 2:1 mux
                                 energy/op, area, leakage, latency vs bit width x node x voltage.

    tools/reference/.venv/bin/python tools/reference/component_tables.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcomponents as rc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "src", "cimkit", "data", "components")

ADC_BITS = tuple(range(4, 13))  # the library refuses < 4 bits (see docs)
ADC_RATES = tuple(float(f"{x:.4g}") for x in np.logspace(6, 10, 17))  # 4 points per decade
ADC_NODES = (7, 16, 22, 32, 45, 65, 130)

ARRAY_DIMS = (32, 64, 128, 256, 512, 1024)
COLS_PER_ADC = (4, 8, 16)
VOLTAGES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)
MIN_OVERDRIVE_V = 0.1  # skip supplies within 0.1 V of NeuroSim's Vth (its I_on law breaks down)
DIGITAL_BITS = (2, 4, 6, 8, 10, 12, 16, 20, 24, 32)


def provenance(extra: dict) -> dict:
    base = {
        "generator": "tools/reference/component_tables.py",
        "command": "tools/reference/.venv/bin/python tools/reference/component_tables.py",
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "libraries": rc.library_versions(),
    }
    base.update(extra)
    return base


def write(name: str, frame: pd.DataFrame, meta: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".csv")
    frame.to_csv(path, index=False, float_format="%.6g")
    meta = provenance({**meta, "rows": len(frame), "columns": list(frame.columns)})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {path} ({len(frame)} rows)")


def adc_table() -> None:
    recs = []
    for node in ADC_NODES:
        for bits in ADC_BITS:
            for rate in ADC_RATES:
                a = rc.adc_cost(bits, rate, node)
                recs.append(
                    {
                        "bits": bits,
                        "rate_sps": rate,
                        "node_nm": node,
                        "energy_pj": a.energy_per_conversion_j * 1e12,
                        "convert_energy_pj": a.convert_energy_j * 1e12,
                        "leak_power_uw": a.leak_power_w * 1e6,
                        "area_um2": a.area_m2 * 1e12,
                        "extrapolated": int(a.extrapolated),
                    }
                )
    write(
        "adc_survey",
        pd.DataFrame(recs),
        {
            "source": "hwcomponents-adc ADC (component names adc/sar_adc/cim_adc...), a regression "
            "over B. Murmann's ADC survey (215 ISSCC/VLSI designs: 4-1000 nm, 1e3-9e10 "
            "S/s, ENOB 3.4-17.2), https://arxiv.org/abs/2404.06553",
            "inputs": {
                "bits": "ENOB (the library treats n_bits as effective bits)",
                "rate_sps": "sample rate of ONE ADC (library 'throughput' with n_adcs=1)",
                "node_nm": "technology node",
            },
            "units": {
                "energy_pj": "pJ per conversion, the library's get_energy(): all of it, convert "
                "action plus the leakage share",
                "convert_energy_pj": "pJ, the library's 'convert' action = 0.8 x energy_pj",
                "leak_power_uw": "uW, the library's leak_power = 0.2 x energy x rate (it assumes "
                "leakage is 20 % of the energy at the design rate)",
                "area_um2": "um^2 of one ADC (area grows with rate: ~rate^0.18)",
                "extrapolated": "1 where rate > the model's max (1e10 S/s)",
            },
            "no_supply_voltage_input": True,
            "bits_supported": "4..12 here; the library asserts bits >= 4 (its fitted energy is "
            "non-monotonic below ~4.4 bits: ENOB^-2.83 term). Interpolate in "
            "log(energy) vs bits and log(rate).",
            "rate_independence_note": "Below a corner rate f_c(bits) = "
            "exp((213.78 - FOMS_max(bits)) / 2.872) "
            "(~9e10 S/s at 4 b, ~1.1e9 at 8 b, ~1.2e7 at 12 b) "
            "the Schreier FOM is capped per ENOB, so energy/conversion "
            "does not depend on rate there.",
        },
    )


def _voltages(node: int) -> list[float]:
    vth = rc.NEUROSIM_VDD_VTH[node][1]
    return [v for v in VOLTAGES if v >= vth + MIN_OVERDRIVE_V]


def array_table(quick: bool) -> None:
    dims = (64, 256) if quick else ARRAY_DIMS
    nodes = (32,) if quick else rc.NEUROSIM_NODES_NM
    recs, skipped = [], []
    for node in nodes:
        vth = rc.NEUROSIM_VDD_VTH[node][1]
        for v in _voltages(node):
            for rows in dims:
                for cols in dims:
                    for cpa in COLS_PER_ADC:
                        if cols % cpa:
                            continue
                        try:
                            a = rc.array_costs(rows, cols, cpa, node, v)
                        except rc.NegativeAreaError:
                            skipped.append((rows, cols, cpa, node, v))
                            continue
                        recs.append(
                            {
                                "rows": rows,
                                "cols": cols,
                                "cols_per_adc": cpa,
                                "node_nm": node,
                                "voltage_v": v,
                                "vth_v": vth,
                                "row_on_fj": a.row_on_j * 1e15,
                                "row_off_fj": a.row_off_j * 1e15,
                                "col_fj": a.col_j * 1e15,
                                "cell_on_power_uw": a.cell_on_power_w * 1e6,
                                "cell_off_power_uw": a.cell_off_power_w * 1e6,
                                "row_driver_area_um2": a.row_driver_area_m2 * 1e12,
                                "col_driver_area_um2": a.col_driver_area_m2 * 1e12,
                                "cell_area_um2": a.cell_area_m2 * 1e12,
                                "row_driver_leak_nw": a.row_driver_leak_w * 1e9,
                                "col_driver_leak_nw": a.col_driver_leak_w * 1e9,
                                "t_wl_switch_ps": a.t_wl_switch_s * 1e12,
                                "t_col_mux_ps": a.t_col_mux_s * 1e12,
                                "t_mux_decoder_ps": a.t_mux_decoder_s * 1e12,
                                "t_bitline_ps": a.t_bitline_s * 1e12,
                                "t_analog_ps": a.t_analog_s * 1e12,
                                "neurosim_read_latency_ps": a.neurosim_min_read_latency_s * 1e12,
                            }
                        )
    write(
        "neurosim_array",
        pd.DataFrame(recs),
        {
            "source": "hwcomponents-neurosim (CiMLoop's NeuroSim V1.3 build), parallel CiM mode, "
            "no NeuroSim ADC (adc_resolution 0), 1-bit inputs (voltage/temporal DAC bits "
            "1), cell file " + rc.RRAM_CELL + " (RRAM crossbar cell, 4 F^2, no access "
            "transistor, R_on 1 MOhm / R_off 10 MOhm at the 0.4 V read voltage)",
            "neurosim_binary": rc.neurosim_binary_info(),
            "inputs": {
                "rows, cols": "crossbar dimensions",
                "cols_per_adc": "bit-columns muxed onto one ADC (NeuroSim numColMuxed); the "
                "plug-in's cols_active_at_once = cols / cols_per_adc",
                "node_nm": "NeuroSim nodes 7..130 nm (exact, no interpolation)",
                "voltage_v": "supply (NeuroSim vdd override); rows with voltage < vth_v + "
                f"{MIN_OVERDRIVE_V} are omitted",
                "vth_v": "NeuroSim's default threshold voltage for the node (LP roadmap)",
            },
            "units": {
                "row_on_fj": "fJ per row per conversion step with input bit 1 (plug-in "
                "RowDrivers.read() at average_input_value 1): wordline switch-matrix "
                "activation + C_WL * Vdd^2",
                "row_off_fj": "fJ per row per step with input bit 0 (switch-matrix activation "
                "only). Energy at input activity a = off + (on - off) * a",
                "col_fj": "fJ per column read (plug-in ColDrivers.read()): column mux + "
                "mux decoder + source-line switch matrix",
                "cell_on_power_uw": "uW drawn by one cell at high conductance while its row is "
                "driven and its column is selected (NeuroSim Memcell read "
                "energy / read pulse; = V_read^2 * G_on). Energy = power x "
                "pulse x input activity; for a cell level c in [0,1] use "
                "off + (on - off) * c",
                "cell_off_power_uw": "uW at low conductance",
                "*_area_um2": "um^2 of the whole row-driver / column-driver block of one array, "
                "cell_area per cell",
                "*_leak_nw": "nW of the whole block (cells leak 0 in NeuroSim's crossbar)",
                "t_wl_switch_ps": "wordline switch matrix delay",
                "t_col_mux_ps, t_mux_decoder_ps": "column mux and its decoder",
                "t_bitline_ps": "bitline settling, NeuroSim's 0.2 * C_BL * R_cell / (rows/2), "
                "recovered from its read latency",
                "t_analog_ps": "max(t_wl_switch, t_col_mux + t_mux_decoder) + t_bitline: the "
                "analog part of one conversion step (before NeuroSim's beta = 1.4)",
                "neurosim_read_latency_ps": "NeuroSim's own 'minimum latency per read' = beta * "
                "(t_analog + its multilevel sense amp, fixed 1 ns + "
                "encoder) — for reference only",
            },
            "skipped_negative_area": {
                "count": len(skipped),
                "cols": sorted({k[1] for k in skipped}),
                "note": "NeuroSim returns a negative column-driver area for these (its layout "
                "model breaks down for narrow arrays); the plug-in refuses them too",
            },
            "plugin_latency_bug_note": "hwcomponents-neurosim 1.0.43 returns RowDrivers/ColDrivers "
            "latency as NeuroSim's read latency in ns treated as ps and "
            "divided by rows/columns; we read component latencies from "
            "NeuroSim's own per-component output instead.",
        },
    )


def digital_table(quick: bool) -> None:
    nodes = (32,) if quick else rc.NEUROSIM_NODES_NM
    bits_list = (4, 8, 16) if quick else DIGITAL_BITS
    recs = []
    for node in nodes:
        for v in _voltages(node):
            for bits in bits_list:
                for comp, c in rc.digital_costs(bits, node, v, shift_register_n_bits=8).items():
                    recs.append(
                        {
                            "component": comp,
                            "n_bits": bits,
                            "node_nm": node,
                            "voltage_v": v,
                            "energy_fj": c.energy_j * 1e15,
                            "area_um2": c.area_m2 * 1e12,
                            "leak_nw": c.leak_w * 1e9,
                            "latency_ps": c.latency_s * 1e12,
                        }
                    )
    write(
        "neurosim_digital",
        pd.DataFrame(recs),
        {
            "source": "hwcomponents-neurosim misc components (NeuroSim V1.3 Adder, ShiftAdd, DFF, "
            "Mux+decoder), one operation each",
            "neurosim_binary": rc.neurosim_binary_info(),
            "components": {
                "shift_add": "NeuroSim ShiftAdd with n_bits adder and shift_register_n_bits = 8 "
                "(n_bits + 8 DFFs): one shift-and-accumulate step per op, e.g. "
                "accumulating one ADC result of an 8-bit bit-serial input",
                "adder": "n_bits ripple-carry adder, one add",
                "flip_flop": "n_bits D flip-flops, one clocked write",
                "mux": "n_bits-wide 2:1 mux with its decoder, one selection",
            },
            "units": {
                "energy_fj": "fJ per op",
                "area_um2": "um^2",
                "leak_nw": "nW",
                "latency_ps": "ps per op",
            },
            "voltage_note": f"rows with voltage < Vth(node) + {MIN_OVERDRIVE_V} V are omitted",
        },
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grids (smoke test)")
    ap.add_argument("--only", choices=("adc", "array", "digital"), default=None)
    args = ap.parse_args(argv)
    if args.only in (None, "adc"):
        adc_table()
    if args.only in (None, "array"):
        array_table(args.quick)
    if args.only in (None, "digital"):
        digital_table(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
