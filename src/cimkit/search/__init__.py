"""CIMNAS search: problem, objectives, archive, SQLite store, backends, GA/NSGA-II, comparators.

The names below are imported on first use (PEP 562 ``__getattr__``), so importing a submodule
(``cimkit.search.cli`` for ``cimkit --help``) does not load the problem, pandas and pymoo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Search": "cimkit.search.engine",
    "SearchConfig": "cimkit.search.engine",
    "SearchResult": "cimkit.search.engine",
    "load_result": "cimkit.search.engine",
    "METRICS": "cimkit.search.objectives",
    "OBJECTIVES": "cimkit.search.objectives",
    "get_objective": "cimkit.search.objectives",
    "CimnasProblem": "cimkit.search.problem",
}

if TYPE_CHECKING:
    from cimkit.search.engine import Search, SearchConfig, SearchResult, load_result
    from cimkit.search.objectives import METRICS, OBJECTIVES, get_objective
    from cimkit.search.problem import CimnasProblem


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cimkit.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
