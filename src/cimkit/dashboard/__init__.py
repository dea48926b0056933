"""``cimkit dashboard``: a local web app over the SQLite run store (read-only).

Pages: the runs of a store; per run its convergence, its Pareto front in the run's own
objectives, a table of every archived design (sort, filter, select) and, for a selected design,
its chip parameters, network, quantization and per-layer/per-component energy, latency and area
(re-evaluated with the cost model); two runs side by side. Starlette + uvicorn serve one HTML
page with plain JavaScript and plotly.min.js from the ``plotly`` package (works offline).

Modules: :mod:`.reader` (read-only SQL over ``runs``/``designs``/``history``), :mod:`.analysis`
(scores, front axes, Pareto front), :mod:`.breakdown` (a design re-evaluated), :mod:`.app` (the
ASGI app and JSON API), :mod:`.server` (serve / background server), :mod:`.cli` (the command).
Needs the ``dashboard`` extra (``pip install -e '.[dashboard]'``) only to serve.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DesignBreakdown", "StoreReader", "check_store", "design_breakdown"]


def __getattr__(name: str) -> Any:
    # Lazy: `cimkit --help` imports cimkit.dashboard.cli, which must not pull in the search
    # package and numpy work of these modules.
    if name in ("DesignBreakdown", "design_breakdown"):
        from cimkit.dashboard import breakdown

        return getattr(breakdown, name)
    if name in ("StoreReader", "check_store"):
        from cimkit.dashboard import reader

        return getattr(reader, name)
    raise AttributeError(name)
