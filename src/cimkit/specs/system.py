"""Spec of an H4H-NAS-style heterogeneous edge system: an Ethos-U55-class NPU, MRAM
near-memory-compute macros and the NoC they share (docs/h4h-hardware.md).

Data only: frozen pydantic models that reject unknown fields, as the chip spec
(:mod:`cimkit.specs.chip`). Units are in the field names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cimkit.specs.chip import NODES_NM, StrictModel

MemoryMode = Literal["Shared_Sram", "Sram_Only"]
Objective = Literal["latency", "energy"]
PartitionMethod = Literal["fast", "exact"]


class Npu(StrictModel):
    """The NPU: an Arm Ethos-U55 configuration, as calibrated with Vela."""

    macs_per_cycle: Annotated[
        Literal[64, 128, 256],
        Field(description="U55 configuration: 64, 128 or 256 int8 MACs per cycle."),
    ] = 256
    memory_mode: Annotated[
        MemoryMode,
        Field(
            description="Vela memory mode: 'Shared_Sram' (weights in off-chip flash, feature "
            "maps in SRAM) or 'Sram_Only' (everything in SRAM)."
        ),
    ] = "Shared_Sram"


class Cim(StrictModel):
    """MRAM near-memory-compute macros (H4H-NAS §3.2: 10 Mb, 144 8b MACs per operation)."""

    macros: Annotated[
        int, Field(ge=0, le=64, description="Number of macros (0: NPU only; the paper: 0/1/4/8).")
    ] = 8
    compute_units: Annotated[
        int,
        Field(ge=1, le=4, description="Compute units per macro, 1-4 (+14 % area each)."),
    ] = 1
    op_period_ns: Annotated[
        float,
        Field(
            gt=0.5,
            le=1000.0,
            description="Time of one 144-MAC operation, ns. Default 6 ns: the MRAM read time "
            "H4H-NAS's ref. [35] reports at 16 nm (the paper gives no clock).",
        ),
    ] = 6.0
    dedup: Annotated[
        bool,
        Field(
            description="Input de-duplication by the IFMP controller: adjacent outputs of a k x k "
            "window computed together read k (N + k - 1) inputs instead of k^2 N."
        ),
    ] = True
    dynamic_matmul: Annotated[
        bool,
        Field(
            description="Allow attention matmuls (Q K^T, A V) on the macros, both operands "
            "streamed through the compute units (no MRAM write). Off by default: the paper does "
            "not say how CIM would run dynamic operands, and an MRAM write per inference is not "
            "viable (endurance)."
        ),
    ] = False


class Noc(StrictModel):
    """The NoC the NPU and the macros share; they never use it at the same time."""

    bandwidth_gb_s: Annotated[
        float,
        Field(ge=0.5, le=64.0, description="Bandwidth, GB/s (10^9 bytes/s); the paper: 4-8."),
    ] = 4.0
    warmup_cycles: Annotated[
        int,
        Field(ge=0, le=10000, description="Warm-up latency per transfer, NoC cycles ('tens')."),
    ] = 32
    clock_mhz: Annotated[
        float, Field(gt=1.0, le=5000.0, description="NoC clock, MHz (the warm-up's time base).")
    ] = 500.0


class Partition(StrictModel):
    """How each layer is split between NPU and CIM."""

    objective: Annotated[
        Objective,
        Field(description="What the split minimises: 'latency' or 'energy' of the inference."),
    ] = "latency"
    split_steps: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Candidate splits per layer: the CIM share takes multiples of "
            "max(16 channels, channels / split_steps) (whole heads for attention matmuls).",
        ),
    ] = 8
    method: Annotated[
        PartitionMethod,
        Field(
            description="'exact': the optimal split under the capacity (multiple-choice "
            "knapsack: greedy incumbent, then a Pareto dynamic programme pruned by the LP bound "
            "where the greedy is not provably optimal); 'fast': the greedy alone, with a "
            "certified bound on its gap to the optimum."
        ),
    ] = "exact"


class SystemSpec(StrictModel):
    """An NPU + CIM heterogeneous system (``cimkit evaluate --hw system.yaml``)."""

    kind: Literal["npu_cim_system"] = "npu_cim_system"
    name: Annotated[str, Field(max_length=200, description="Free-text name.")] = "system"
    node_nm: Annotated[
        int,
        Field(
            ge=min(NODES_NM),
            le=max(NODES_NM),
            description="Technology node of the NPU, macros and NoC, nm (the paper: 7).",
        ),
    ] = 7
    npu: Npu = Npu()
    cim: Cim = Cim()
    noc: Noc = Noc()
    partition: Partition = Partition()


#: The ``kind`` value that marks a YAML file as a system spec (chip specs have no ``kind``).
SYSTEM_KIND = "npu_cim_system"


def is_system_spec(data: object) -> bool:
    """Whether parsed YAML ``data`` is a system spec (``kind: npu_cim_system``)."""
    return isinstance(data, dict) and data.get("kind") == SYSTEM_KIND


def load_system(path: str) -> SystemSpec:
    """Load and validate a system spec from YAML (one-line errors naming the field)."""
    from cimkit.specs.io import parse_model, read_yaml

    return parse_model(SystemSpec, read_yaml(path), str(path))
