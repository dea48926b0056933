"""PIM-HLS: heterogeneous SRAM/RRAM PIM accelerators, DP weight scheduling, tile tuning.

The optimizer half of Zhu et al., "PIM-HLS", DAC 2023 (see docs/pimhls.md):

* :func:`optimize` -- technology selection, DP scheduling and parameter tuning in one call;
* :func:`schedule_dp`, :func:`schedule_greedy`, :func:`schedule_exhaustive` -- scheduling of a
  given technology assignment;
* :func:`tune` -- fine-grained parameter optimization of a schedule;
* :func:`schedule_table`, :func:`hardware_table` -- tidy views of a :class:`Schedule`;
* :func:`sweep`, :func:`plot_sweep` -- latency versus area constraint (the paper's Fig. 5/6);
* :func:`assignment_pareto` -- criteria candidates versus brute force (the paper's Fig. 3).

The :class:`Schedule` contract consumed by the Verilog generator lives in
:mod:`cimkit.pimhls.plan`.
"""

from cimkit.pimhls.assignment import (
    CRITERIA,
    assignment_pareto,
    candidate_assignments,
    criteria_candidates,
    first_crossbar_layers,
    pareto_summary,
)
from cimkit.pimhls.dfg import DataFlowGraph, build_dfg, schedule_order
from cimkit.pimhls.optimize import (
    hardware_table,
    optimize,
    optimize_levels,
    schedule_summary,
    schedule_table,
)
from cimkit.pimhls.pipeline import group_cycles, with_pipeline
from cimkit.pimhls.plan import LayerGroup, LayerPlacement, Schedule, TileConfig
from cimkit.pimhls.schedule import (
    schedule_dp,
    schedule_exhaustive,
    schedule_greedy,
    split_layer,
)
from cimkit.pimhls.sweep import plot_sweep, sweep
from cimkit.pimhls.technology import TECHS, get_technology, technology_table
from cimkit.pimhls.tuning import tune

__all__ = [
    "CRITERIA",
    "TECHS",
    "DataFlowGraph",
    "LayerGroup",
    "LayerPlacement",
    "Schedule",
    "TileConfig",
    "assignment_pareto",
    "build_dfg",
    "candidate_assignments",
    "criteria_candidates",
    "first_crossbar_layers",
    "get_technology",
    "group_cycles",
    "hardware_table",
    "optimize",
    "optimize_levels",
    "pareto_summary",
    "plot_sweep",
    "schedule_dp",
    "schedule_exhaustive",
    "schedule_greedy",
    "schedule_order",
    "schedule_summary",
    "schedule_table",
    "split_layer",
    "sweep",
    "technology_table",
    "tune",
    "with_pipeline",
]
