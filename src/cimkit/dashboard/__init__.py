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

from cimkit.dashboard.breakdown import DesignBreakdown, design_breakdown
from cimkit.dashboard.reader import StoreReader, check_store

__all__ = ["DesignBreakdown", "StoreReader", "check_store", "design_breakdown"]
