"""Re-export of :mod:`cimkit.runs.design` (moved there so ``cimkit export`` and the dashboard
re-evaluate a stored design with one piece of code)."""

from cimkit.runs.design import (
    LAYER_COLUMNS,
    DesignBreakdown,
    area_constraint,
    constraint_ratios,
    design_breakdown,
    run_space,
)

__all__ = [
    "LAYER_COLUMNS",
    "DesignBreakdown",
    "area_constraint",
    "constraint_ratios",
    "design_breakdown",
    "run_space",
]
