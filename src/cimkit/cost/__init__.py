"""Vectorized CIM cost model: designs x layers -> energy, latency, area."""

from cimkit.cost.designs import PARAMS, DesignTable, as_design_table
from cimkit.cost.model import METRICS, Evaluation, evaluate

__all__ = ["METRICS", "PARAMS", "DesignTable", "Evaluation", "as_design_table", "evaluate"]
