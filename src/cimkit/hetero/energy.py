"""Energy and static-power constants of the NPU + CIM system, scaled to the system's node.

The constants and their sources are in ``data/npu/energy.yaml``. A constant stated at
(node, voltage) is scaled to the system's node at that node's nominal supply with cimkit's law
C(node) x V^2 (:func:`cimkit.cost.constants.energy_factor`); one stated without a voltage is
taken at its node's nominal supply; one without a node is not scaled (off-chip I/O).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from cimkit.cost.constants import energy_factor, load_constants, nominal_vdd_v


@functools.cache
def raw_constants() -> dict[str, Any]:
    """The YAML entries (value, unit, node_nm, voltage_v, source)."""
    from cimkit.specs.io import parse_yaml

    text = (resources.files("cimkit.data") / "npu" / "energy.yaml").read_text()
    return parse_yaml(text, "cimkit/data/npu/energy.yaml")


def _scaled(name: str, node_nm: float) -> float:
    e = raw_constants()[name]
    value = float(e["value"])
    if e.get("node_nm") is None:
        return value
    v_from = e.get("voltage_v") or float(nominal_vdd_v(np.float64(e["node_nm"])))
    v_to = float(nominal_vdd_v(np.float64(node_nm)))
    ratio = energy_factor(np.float64(node_nm), np.float64(v_to)) / energy_factor(
        np.float64(e["node_nm"]), np.float64(v_from)
    )
    return value * float(ratio)


@dataclass(frozen=True)
class SystemEnergy:
    """Per-event energies (J) and static powers (W) at one node."""

    npu_mac_j: float
    npu_sram_j_per_byte: float
    npu_flash_j_per_byte: float
    npu_static_w_per_256_macs: float
    npu_sram_static_w: float
    nmc_mac_j: float
    nmc_weight_read_share: float
    nmc_input_j_per_byte: float
    nmc_cu_static_w: float
    noc_j_per_byte: float


@functools.cache
def system_energy(node_nm: int) -> SystemEnergy:
    """The constants of ``data/npu/energy.yaml`` at ``node_nm`` (nominal supply)."""
    c = load_constants()
    raw = raw_constants()
    v = float(nominal_vdd_v(np.float64(node_nm)))
    v_ratio = v / c.ref_voltage_v
    logic_leak = c["logic_leak_w_per_mm2"] * v_ratio
    sram_leak = c["sram_leak_pw_per_bit"] * 1e-12 * v_ratio
    from cimkit.hetero.nmc import COMPUTE_AREA_MM2

    return SystemEnergy(
        npu_mac_j=_scaled("npu_mac_pj", node_nm) * 1e-12,
        npu_sram_j_per_byte=_scaled("npu_sram_pj_per_byte", node_nm) * 1e-12,
        npu_flash_j_per_byte=_scaled("npu_flash_pj_per_byte", node_nm) * 1e-12,
        npu_static_w_per_256_macs=float(raw["npu_logic_area_mm2_per_256_macs"]["value"])
        * logic_leak,
        npu_sram_static_w=float(raw["npu_sram_bytes"]["value"]) * 8 * sram_leak,
        nmc_mac_j=_scaled("nmc_mac_fj", node_nm) * 1e-15,
        nmc_weight_read_share=float(raw["nmc_weight_read_share"]["value"]),
        nmc_input_j_per_byte=_scaled("nmc_input_buffer_pj_per_byte", node_nm) * 1e-12,
        nmc_cu_static_w=COMPUTE_AREA_MM2 * logic_leak,
        noc_j_per_byte=_scaled("noc_pj_per_byte", node_nm) * 1e-12,
    )
