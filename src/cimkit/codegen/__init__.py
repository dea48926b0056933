"""PIM-HLS generation stage: Verilog, instruction streams and simulation of a schedule.

Typical use::

    from cimkit import codegen
    sched = codegen.plan_for(workload, groups=[["fc1", "fc2"], ["fc3"]], copies={"fc1": 2})
    design = codegen.generate(sched, workload, weights, "build/mlp")
    result = codegen.simulate(design)          # runs iverilog + vvp
    assert (result.outputs == design.expected).all()
    print(result.cycles, codegen.cycle_error(result.cycles, design.estimate_cycles))

See docs/codegen.md for the architecture, the instruction set and the timing model.
"""

from cimkit.codegen.generate import GeneratedDesign, generate
from cimkit.codegen.isa import (
    FIELDS,
    OPCODES,
    Instruction,
    decode,
    encode,
    field_layout,
    from_asm,
    from_hex,
    to_asm,
    to_hex,
)
from cimkit.codegen.lowering import (
    LayerGeometry,
    calibrate_shifts,
    mac_chain,
    random_inputs,
    random_weights,
    reference,
)
from cimkit.codegen.planning import (
    cycle_error,
    estimate_cycles,
    piece_channels,
    plan_for,
    write_ops,
)
from cimkit.codegen.program import DesignMap, HardwareConfig, PieceMap, TileParams, build
from cimkit.codegen.simulate import (
    SimResult,
    SimulationError,
    compile_design,
    find_tools,
    simulate,
)

__all__ = [
    "FIELDS",
    "OPCODES",
    "DesignMap",
    "GeneratedDesign",
    "HardwareConfig",
    "Instruction",
    "LayerGeometry",
    "PieceMap",
    "SimResult",
    "SimulationError",
    "TileParams",
    "build",
    "calibrate_shifts",
    "compile_design",
    "cycle_error",
    "decode",
    "encode",
    "estimate_cycles",
    "field_layout",
    "find_tools",
    "from_asm",
    "from_hex",
    "generate",
    "mac_chain",
    "piece_channels",
    "plan_for",
    "random_inputs",
    "random_weights",
    "reference",
    "simulate",
    "to_asm",
    "to_hex",
    "write_ops",
]
