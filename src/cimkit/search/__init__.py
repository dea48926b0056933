"""CIMNAS search: problem, objectives, archive, SQLite store, backends, GA/NSGA-II, comparators."""

from cimkit.search.engine import Search, SearchConfig, SearchResult, load_result
from cimkit.search.objectives import METRICS, OBJECTIVES, get_objective
from cimkit.search.problem import CimnasProblem

__all__ = [
    "METRICS",
    "OBJECTIVES",
    "CimnasProblem",
    "Search",
    "SearchConfig",
    "SearchResult",
    "get_objective",
    "load_result",
]
