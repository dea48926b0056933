"""Technology constants (``cimkit/data/constants.yaml``) and node/voltage scaling laws.

Every constant in the YAML carries a value, a unit and a source. This module reads it once and
exposes plain floats plus vectorized scaling functions over arrays of nodes and voltages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, get_args

import numpy as np

from cimkit.specs.chip import (
    DeviceKind,
    Execution,
    InputEncoding,
    MacroKind,
    Mode,
    Readout,
    Transistor,
)

# Category codes of the design table, in the order of the spec's Literal types (one source).
DEVICES: tuple[str, ...] = get_args(DeviceKind)
MACRO_KINDS: tuple[str, ...] = get_args(MacroKind)
MODES: tuple[str, ...] = get_args(Mode)
READOUTS: tuple[str, ...] = get_args(Readout)
ENCODINGS: tuple[str, ...] = get_args(InputEncoding)
EXECUTIONS: tuple[str, ...] = get_args(Execution)
TRANSISTORS: tuple[str, ...] = get_args(Transistor)


@dataclass(frozen=True)
class Constants:
    """Parsed constants. ``values`` maps name -> float; ``devices`` maps kind -> name -> float."""

    raw: dict[str, Any]
    values: dict[str, float]
    devices: dict[str, dict[str, float]]
    ref_node_nm: float
    ref_voltage_v: float
    node_table_nm: np.ndarray  # (K,) ascending nodes
    node_area_factor: np.ndarray  # (K,) area relative to the reference node
    vth_nodes_nm: np.ndarray  # (M,) ascending nodes of the hp/lp threshold tables
    vth_table_v: np.ndarray  # (len(TRANSISTORS), M) Vth per flavour (generic: constant)
    alpha_table: np.ndarray  # (len(TRANSISTORS),) alpha-power exponent per flavour
    vdd_table_v: np.ndarray  # (M,) nominal supply per node of the same roadmaps
    dff_nodes_nm: np.ndarray  # (D,) ascending nodes of the flip-flop energy table
    dff_fj_per_bit: np.ndarray  # (D,) flip-flop energy per bit at 0.8 V, fJ

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def device(self, kind: str, name: str) -> float:
        return self.devices[kind][name]


def _constants_text() -> str:
    return resources.files("cimkit.data").joinpath("constants.yaml").read_text()


@lru_cache(maxsize=1)
def load_constants() -> Constants:
    """Read the packaged constants file (cached)."""
    from cimkit.specs.io import parse_yaml

    return parse_constants(parse_yaml(_constants_text(), "cimkit/data/constants.yaml"))


def parse_constants(raw: dict[str, Any]) -> Constants:
    """Build :class:`Constants` from the YAML mapping (used by the calibration tool too)."""
    values = {k: float(v["value"]) for k, v in raw["constants"].items()}
    devices = {
        kind: {k: float(v["value"]) for k, v in entries.items()}
        for kind, entries in raw["devices"].items()
    }
    table = raw["node_scaling"]["sram_cell_um2"]
    nodes = np.array(sorted(int(n) for n in table), dtype=np.float64)
    ref = float(raw["reference"]["node_nm"])
    cell = np.array([float(table[int(n)]) for n in nodes])
    ref_cell = float(table[int(ref)])
    vt = raw["transistor_vth_v"]
    vnodes = np.array(sorted(int(n) for n in vt["hp"]), dtype=np.float64)
    vth_rows, alphas = [], []
    for name in TRANSISTORS:
        if name == "generic":
            vth_rows.append(np.full(len(vnodes), values["vth_v"]))
            alphas.append(values["alpha_power"])
        else:
            vth_rows.append(np.array([float(vt[name][int(n)]) for n in vnodes]))
            alphas.append(float(vt["alpha"]))
    vdd = np.array([float(vt["vdd"][int(n)]) for n in vnodes])
    dff = raw["flip_flop_fj_per_bit_0v8"]["values"]
    dnodes = np.array(sorted(int(n) for n in dff), dtype=np.float64)
    return Constants(
        dff_nodes_nm=dnodes,
        dff_fj_per_bit=np.array([float(dff[int(n)]) for n in dnodes]),
        vth_nodes_nm=vnodes,
        vth_table_v=np.array(vth_rows),
        alpha_table=np.array(alphas),
        vdd_table_v=vdd,
        raw=raw,
        values=values,
        devices=devices,
        ref_node_nm=ref,
        ref_voltage_v=float(raw["reference"]["voltage_v"]),
        node_table_nm=nodes,
        node_area_factor=cell / ref_cell,
    )


def area_factor(node_nm: np.ndarray, c: Constants | None = None) -> np.ndarray:
    """Area of a layout at ``node_nm`` relative to the reference node (log-log interpolation)."""
    c = c or load_constants()
    x = np.log(np.asarray(node_nm, dtype=np.float64))
    return np.exp(np.interp(x, np.log(c.node_table_nm), np.log(c.node_area_factor)))


def feature_factor(node_nm: np.ndarray, c: Constants | None = None) -> np.ndarray:
    """Effective linear feature size relative to the reference node: sqrt(area_factor)."""
    return np.sqrt(area_factor(node_nm, c))


def energy_factor(
    node_nm: np.ndarray, voltage_v: np.ndarray, c: Constants | None = None
) -> np.ndarray:
    """Dynamic energy relative to the reference point: C(node) * V^2."""
    c = c or load_constants()
    v = np.asarray(voltage_v, dtype=np.float64)
    return feature_factor(node_nm, c) * (v / c.ref_voltage_v) ** 2


def flip_flop_energy_j(
    node_nm: np.ndarray, voltage_v: np.ndarray, c: Constants | None = None
) -> np.ndarray:
    """Energy of clocking one flip-flop bit, J: NeuroSim's DFF at the node, x (V / 0.8 V)^2."""
    c = c or load_constants()
    logn = np.log(np.asarray(node_nm, dtype=np.float64))
    per_bit = np.exp(np.interp(logn, np.log(c.dff_nodes_nm), np.log(c.dff_fj_per_bit)))
    return per_bit * 1e-15 * (np.asarray(voltage_v, dtype=np.float64) / 0.8) ** 2


def nominal_vdd_v(node_nm: np.ndarray, c: Constants | None = None) -> np.ndarray:
    """Nominal supply (V) of a node: NeuroSim V1.3's roadmap (1.3 V at 130 nm ... 0.7 V at 7 nm),
    interpolated in log(node); outside the table the end value holds. Shape of ``node_nm``."""
    c = c or load_constants()
    logn = np.log(np.asarray(node_nm, dtype=np.float64))
    return np.interp(logn, np.log(c.vth_nodes_nm), c.vdd_table_v)


#: Smallest supply overdrive above the transistor's threshold (V) at which the alpha-power delay
#: law is used: nearer threshold (near/sub-threshold operation) the law diverges and the model
#: would print a huge, meaningless delay, so such an operating point is refused instead.
MIN_OVERDRIVE_V = 0.1


def threshold_voltage(
    node_nm: np.ndarray, transistor: np.ndarray | int | None = None, c: Constants | None = None
) -> np.ndarray:
    """Threshold voltage (V) of each design's transistor flavour at its node, shape of the
    broadcast of ``node_nm`` and ``transistor`` (codes into :data:`TRANSISTORS`; None: generic).
    Nodes between the table's are interpolated in log(node)."""
    c = c or load_constants()
    logn = np.log(np.asarray(node_nm, dtype=np.float64))
    code = (
        np.zeros(np.shape(logn), dtype=np.int64) if transistor is None else np.asarray(transistor)
    )
    shape = np.broadcast_shapes(np.shape(code), np.shape(logn))
    code = np.broadcast_to(code, shape).astype(np.int64)
    lx = np.log(c.vth_nodes_nm)
    return np.choose(
        code, [np.interp(np.broadcast_to(logn, shape), lx, row) for row in c.vth_table_v]
    )


def delay_factor(
    node_nm: np.ndarray,
    voltage_v: np.ndarray,
    c: Constants | None = None,
    transistor: np.ndarray | int | None = None,
) -> np.ndarray:
    """Gate delay relative to the reference point: feature size times the alpha-power law in V.

    ``transistor`` holds codes into :data:`TRANSISTORS` (None or 0: 'generic'). Each flavour's
    law ``V / (V - Vth)^alpha`` is normalised at the reference voltage *with that flavour's Vth at
    the design's node*, so a flavour changes how delay follows the supply, not the delay at the
    reference voltage.
    """
    c = c or load_constants()
    v = np.asarray(voltage_v, dtype=np.float64)
    code = np.zeros(np.shape(v), dtype=np.int64) if transistor is None else np.asarray(transistor)
    code = np.broadcast_to(code, np.broadcast_shapes(np.shape(code), np.shape(v))).astype(np.int64)
    vth = threshold_voltage(np.broadcast_to(np.asarray(node_nm, dtype=np.float64), code.shape),
                            code, c)  # fmt: skip
    alpha = c.alpha_table[code]
    law = v / np.maximum(v - vth, 1e-3) ** alpha
    ref = c.ref_voltage_v / np.maximum(c.ref_voltage_v - vth, 1e-3) ** alpha
    return feature_factor(node_nm, c) * law / ref
