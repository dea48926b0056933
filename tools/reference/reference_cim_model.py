"""Reference per-layer energy and latency of ResNet-18 on a CiMLoop-style analog RRAM CIM macro.

Independent of cimkit's cost model: only the layer shapes come from cimkit (exported once into
src/cimkit/data/reference/resnet18_layers.csv). Per-event costs come from the hwcomponents
libraries (hwcomponents-neurosim, hwcomponents-adc) through refcomponents.py; event counting,
the mapping and the timing composition are in this file. See docs/reference-model.md.

Run with the reference venv (Python >= 3.12):

    tools/reference/setup_venv.sh
    tools/reference/.venv/bin/python tools/reference/reference_cim_model.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
from dataclasses import asdict, dataclass

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcomponents as rc  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "src", "cimkit", "data", "reference")

# ---- fixed macro semantics -----------------------------------------------------------------
NODE_NM = 32
WEIGHT_BITS = 8
BITS_PER_CELL = 2
SLICES_PER_WEIGHT = WEIGHT_BITS // BITS_PER_CELL  # 4 adjacent cell columns per weight
INPUT_BITS = 8  # unsigned, bit-serial, one bit per input cycle through 1-bit row drivers
COLS_PER_ADC = 8  # one SAR ADC per 8 bit-columns, time-multiplexed: 8 conversion steps
INPUT_ACTIVITY = 0.5  # probability an input bit is 1 (uniform 8-bit unsigned inputs)
CELL_VALUE = 0.5  # mean normalised cell level: 2-bit offset-encoded slices uniform on {0..3}

GRID_ROWS = (64, 128, 256, 512)
GRID_ADC_BITS = (4, 5, 6, 7, 8)
GRID_VOLTAGE = (0.6, 0.7, 0.8, 0.9, 1.0)

COMPONENTS = (
    "cell",
    "row_driver",
    "col_driver",
    "adc",
    "adc_leak",
    "shift_add",
    "weight_shift_add",
    "tile_add",
    "periph_leak",
)


@dataclass(frozen=True)
class MacroPoint:
    """Per-event costs and timing of one (rows, adc_bits, voltage) macro configuration."""

    rows: int
    cols: int
    adc_bits: int
    voltage_v: float
    node_nm: int
    t_analog_ns: float  # NeuroSim: max(WL switch, col mux + decoder) + bitline settling
    t_sar_ns: float  # (bits + 1) alpha-power-scaled comparator cycles
    cycle_time_ns: float  # one conversion step = beta * (t_analog + t_sar)
    read_pulse_ns: float  # cell conduction time per step = beta * t_analog
    adc_rate_sps: float  # sample rate fed to hwcomponents-adc = 1 / cycle time
    e_cell_j: float  # one cell conducting for one read pulse (activity-weighted)
    e_row_driver_j: float  # one row driven for one conversion step (activity-weighted)
    e_col_driver_j: float  # one column read
    e_adc_j: float  # one conversion ('convert' action, 80 % of the survey energy)
    e_shift_add_j: float  # one input-bit shift-and-add step (adc_bits wide, 8 slices)
    e_weight_shift_add_j: float  # one weight-slice shift-and-add step (adc_bits + 8 wide)
    p_leak_adc_array_w: float  # leakage power of one array's ADCs (0.2 x E x rate each)
    p_leak_periph_array_w: float  # leakage of one array's drivers, cells and shift-adders
    adc_area_um2: float
    array_area_um2: float  # cells + row/col drivers + ADCs + shift-adders of one array
    adc_energy_per_conversion_total_j: float  # survey energy incl. its 20 % leakage share


def tile_adder_bits(adc_bits: int, n_row_tiles: int) -> int:
    """Width of the cross-row-tile partial-sum adder: an array's partial sum after input-bit
    (+8) and weight-slice (+2*(4-1) = +6) shift-and-add, plus the carry growth of the tree."""
    return (
        adc_bits
        + INPUT_BITS
        + BITS_PER_CELL * (SLICES_PER_WEIGHT - 1)
        + max(0, math.ceil(math.log2(max(n_row_tiles, 1))))
    )


_ADDER_CACHE: dict[tuple[int, float], rc.DigitalCost] = {}


def adder_cost(n_bits: int, voltage: float) -> rc.DigitalCost:
    key = (n_bits, voltage)
    if key not in _ADDER_CACHE:
        _ADDER_CACHE[key] = rc.digital_costs(n_bits, NODE_NM, voltage)["adder"]
    return _ADDER_CACHE[key]


def macro_point(rows: int, adc_bits: int, voltage: float) -> MacroPoint:
    cols = rows
    arr = rc.array_costs(rows, cols, COLS_PER_ADC, NODE_NM, voltage)
    # NeuroSim digital parts at this voltage
    sa_in = rc.digital_costs(adc_bits, NODE_NM, voltage, shift_register_n_bits=INPUT_BITS)
    sa_w = rc.digital_costs(
        adc_bits + INPUT_BITS,
        NODE_NM,
        voltage,
        shift_register_n_bits=BITS_PER_CELL * (SLICES_PER_WEIGHT - 1) + 1,
    )
    shift_add, weight_shift_add = sa_in["shift_add"], sa_w["shift_add"]

    t_analog = arr.t_analog_s
    t_sar = rc.sar_conversion_time_s(adc_bits, voltage, NODE_NM)
    cycle = rc.NEUROSIM_BETA * (t_analog + t_sar)
    # digital accumulation is pipelined behind the conversions; it only limits the cycle if
    # slower than one conversion step
    cycle = max(cycle, shift_add.latency_s, weight_shift_add.latency_s)
    pulse = rc.NEUROSIM_BETA * t_analog
    rate = 1.0 / cycle
    adc = rc.adc_cost(adc_bits, rate, NODE_NM)
    # hwcomponents-adc has no supply input. CiMLoop's macro models scale the ADC's convert
    # ('read') action by the supply: ADC_ENERGY_SCALE = VOLTAGE_ENERGY_SCALE = VOLTAGE ** 2
    # (mit-emze/cimloop workspace/models/arch/1_macro/basic_analog/variables_iso.yaml lines
    # 32-36, applied in workspace/models/components/CiM_components.yaml line 103; colonnade,
    # jia and lightning do the same). Its leakage is not scaled there, nor here.
    adc_scale = voltage**2

    n_adc = cols // COLS_PER_ADC
    e_cell = arr.cell_power_w(CELL_VALUE) * pulse * INPUT_ACTIVITY
    p_leak_adc = n_adc * adc.leak_power_w
    p_leak_periph = (
        arr.row_driver_leak_w
        + arr.col_driver_leak_w
        + rows * cols * arr.cell_leak_w
        + n_adc * (shift_add.leak_w + weight_shift_add.leak_w)
    )
    area = (
        rows * cols * arr.cell_area_m2
        + arr.row_driver_area_m2
        + arr.col_driver_area_m2
        + n_adc * (adc.area_m2 + shift_add.area_m2 + weight_shift_add.area_m2)
    )
    return MacroPoint(
        rows=rows,
        cols=cols,
        adc_bits=adc_bits,
        voltage_v=voltage,
        node_nm=NODE_NM,
        t_analog_ns=t_analog * 1e9,
        t_sar_ns=t_sar * 1e9,
        cycle_time_ns=cycle * 1e9,
        read_pulse_ns=pulse * 1e9,
        adc_rate_sps=rate,
        e_cell_j=e_cell,
        e_row_driver_j=arr.row_j(INPUT_ACTIVITY),
        e_col_driver_j=arr.col_j,
        e_adc_j=adc.convert_energy_j * adc_scale,
        e_shift_add_j=shift_add.energy_j,
        e_weight_shift_add_j=weight_shift_add.energy_j,
        p_leak_adc_array_w=p_leak_adc,
        p_leak_periph_array_w=p_leak_periph,
        adc_area_um2=adc.area_m2 * 1e12,
        array_area_um2=area * 1e12,
        adc_energy_per_conversion_total_j=adc.convert_energy_j * adc_scale
        + adc.energy_per_conversion_j
        - adc.convert_energy_j,
    )


@dataclass(frozen=True)
class LayerEvents:
    n_row_tiles: int
    n_col_tiles: int
    n_arrays: int
    vectors: int
    cell_reads: int
    row_activations: int
    col_reads: int
    adc_conversions: int
    shift_adds: int
    weight_shift_adds: int
    tile_adds: int


def layer_events(layer: dict, rows: int, cols: int) -> LayerEvents:
    """Count events of one layer mapped alone (no replication) on ceil(CRS/rows) x
    ceil(4K/cols) arrays per group, all working in parallel on one output position at a time."""
    g = int(layer["groups"])
    crs = int(layer["in_channels"]) // g * int(layer["kernel_h"]) * int(layer["kernel_w"])
    k = int(layer["out_channels"]) // g
    kc = k * SLICES_PER_WEIGHT  # bit-columns per group
    n_rt = math.ceil(crs / rows)
    n_ct = math.ceil(kc / cols)
    vectors = int(layer["out_h"]) * int(layer["out_w"])
    per_vec_bit = INPUT_BITS * vectors * g
    # used columns per column tile; each array's column mux steps through min(8, used/n_adc)
    used_cols = [min(cols, kc - j * cols) for j in range(n_ct)]
    steps = [min(COLS_PER_ADC, u) for u in used_cols]  # an ADC's group is 8 adjacent columns
    # every used row of every array is driven in each of that array's conversion steps
    row_act_per = crs * sum(steps)
    return LayerEvents(
        n_row_tiles=n_rt,
        n_col_tiles=n_ct,
        n_arrays=g * n_rt * n_ct,
        vectors=vectors,
        cell_reads=per_vec_bit * crs * kc,  # each used cell conducts in its column's step
        row_activations=per_vec_bit * row_act_per,
        col_reads=per_vec_bit * kc * n_rt,
        adc_conversions=per_vec_bit * kc * n_rt,
        shift_adds=per_vec_bit * kc * n_rt,  # one accumulate per conversion (8 input slices)
        weight_shift_adds=vectors * g * kc * n_rt,  # 4 slice results -> one weight partial sum
        tile_adds=vectors * g * k * (n_rt - 1),  # reduce n_rt partial sums per output
    )


def evaluate(layers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows_out, points = [], []
    for rows in GRID_ROWS:
        for bits in GRID_ADC_BITS:
            for v in GRID_VOLTAGE:
                mp = macro_point(rows, bits, v)
                points.append(asdict(mp))
                for layer in layers.to_dict("records"):
                    ev = layer_events(layer, rows, mp.cols)
                    latency = ev.vectors * INPUT_BITS * COLS_PER_ADC * mp.cycle_time_ns * 1e-9
                    tadd = adder_cost(tile_adder_bits(bits, ev.n_row_tiles), v)
                    e = {
                        "cell": ev.cell_reads * mp.e_cell_j,
                        "row_driver": ev.row_activations * mp.e_row_driver_j,
                        "col_driver": ev.col_reads * mp.e_col_driver_j,
                        "adc": ev.adc_conversions * mp.e_adc_j,
                        "shift_add": ev.shift_adds * mp.e_shift_add_j,
                        "weight_shift_add": ev.weight_shift_adds * mp.e_weight_shift_add_j,
                        "tile_add": ev.tile_adds * tadd.energy_j,
                        "adc_leak": ev.n_arrays * mp.p_leak_adc_array_w * latency,
                        "periph_leak": ev.n_arrays * mp.p_leak_periph_array_w * latency,
                    }
                    rec = {
                        "layer": layer["name"],
                        "rows": rows,
                        "cols": mp.cols,
                        "adc_bits": bits,
                        "voltage_v": v,
                        "node_nm": NODE_NM,
                        "energy_j": sum(e.values()),
                        "latency_s": latency,
                        "cycle_time_ns": mp.cycle_time_ns,
                    }
                    rec.update({f"energy_{c}_j": e[c] for c in COMPONENTS})
                    rec.update(
                        {
                            "n_arrays": ev.n_arrays,
                            "n_row_tiles": ev.n_row_tiles,
                            "n_col_tiles": ev.n_col_tiles,
                            "vectors": ev.vectors,
                            "adc_conversions": ev.adc_conversions,
                            "row_activations": ev.row_activations,
                            "cell_reads": ev.cell_reads,
                            "macs": int(layer["macs"]),
                        }
                    )
                    rows_out.append(rec)
    return pd.DataFrame(rows_out), pd.DataFrame(points)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default=os.path.join(DATA, "resnet18_layers.csv"))
    ap.add_argument("--out", default=os.path.join(DATA, "resnet18_rram_reference.csv"))
    args = ap.parse_args(argv)

    layers = pd.read_csv(args.layers)
    table, points = evaluate(layers)
    table.to_csv(args.out, index=False, float_format="%.6g")
    points_path = args.out.replace(".csv", "_points.csv")
    points.to_csv(points_path, index=False, float_format="%.6g")
    sidecar = {
        "what": "Reference per-layer energy/latency of ResNet-18 on a CiMLoop-style analog "
        "RRAM CIM macro, from hwcomponents component models; see "
        "docs/reference-model.md",
        "command": "tools/reference/.venv/bin/python tools/reference/reference_cim_model.py",
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cimkit_git_commit": git_commit(),
        "python": sys.version.split()[0],
        "libraries": rc.library_versions(),
        "neurosim_binary": rc.neurosim_binary_info(),
        "layers_file": os.path.relpath(args.layers, REPO),
        "points_file": os.path.relpath(points_path, REPO),
        "macro": {
            "node_nm": NODE_NM,
            "weight_bits": WEIGHT_BITS,
            "bits_per_cell": BITS_PER_CELL,
            "slices_per_weight": SLICES_PER_WEIGHT,
            "weight_encoding": "offset (unsigned)",
            "input_bits": INPUT_BITS,
            "input_mode": "bit-serial, 1-bit row drivers",
            "cols_per_adc": COLS_PER_ADC,
            "input_activity": INPUT_ACTIVITY,
            "cell_value": CELL_VALUE,
            "cell_file": rc.RRAM_CELL,
            "neurosim_beta": rc.NEUROSIM_BETA,
            "vdd_vth_nominal_v": rc.NEUROSIM_VDD_VTH[NODE_NM],
        },
        "grid": {"rows=cols": GRID_ROWS, "adc_bits": GRID_ADC_BITS, "voltage_v": GRID_VOLTAGE},
        "units": {
            "energy_j": "J per layer (one inference of that layer)",
            "energy_<component>_j": "J per layer, by component; they sum to energy_j. "
            "energy_adc_leak_j / energy_periph_leak_j are leakage "
            "power of all the layer's arrays x latency",
            "latency_s": "s per layer = vectors x 8 input bits x 8 conversion steps x cycle",
            "cycle_time_ns": "ns per conversion step",
        },
    }
    with open(args.out.replace(".csv", ".json"), "w") as f:
        json.dump(sidecar, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out} ({len(table)} rows), {points_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
