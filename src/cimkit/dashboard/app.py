"""The dashboard's ASGI app (Starlette): one HTML page, its static files and a JSON API.

Routes (all GET; run names go in query strings because they may contain ``/``, e.g. the stages
``STUDY/two-stage/1`` of ``cimkit compare``):

* ``/``: the page (static/index.html; plain JavaScript, no build step);
* ``/static/plotly.min.js``: the chart library, served from the ``plotly`` Python package (no
  CDN: the page works offline); ``/static/*``: the page's own JS and CSS;
* ``/api/health``: ``{"ok": true, "store": PATH}``;
* ``/api/runs``: every run with status, progress and best score;
* ``/api/run?name=RUN``: one run's config, objective, convergence history, front and top five;
* ``/api/designs?run=RUN``: the design table (one row per archived design);
* ``/api/design?run=RUN&idx=I``: design I re-evaluated with per-layer/per-component breakdowns;
* ``/api/compare?a=RUN&b=RUN``: two runs side by side (summaries, histories, both fronts in
  run a's objectives).

Errors are JSON ``{"error": "<one line>"}``: 400 for a bad request or an unreadable run, 404 for
an unknown run or design, 503 when a rollback-journal writer holds the store locked too long.
Every API answer is read in one read-only transaction per call (see :mod:`.reader`), so pages
keep working while a search commits generations to the same file. Non-finite numbers (the inf
score of an infeasible design) are sent as ``null``.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.dashboard.analysis import (
    TABLE_METRICS,
    RunView,
    front_axes,
    metric_columns,
    metric_row,
    objective_json,
    pareto_front,
    run_view,
    search_config,
)
from cimkit.dashboard.breakdown import (
    LAYER_COLUMNS,
    area_constraint,
    constraint_ratios,
    design_breakdown,
    run_space,
)
from cimkit.dashboard.reader import RunData, StoreBusyError, StoreReader, UnknownRunError
from cimkit.errors import CimkitError, MissingDependencyError
from cimkit.search.objectives import COL, feasible

STATIC = Path(__file__).with_name("static")
#: Designs not on the front sent for the front chart at most (evenly spaced, deterministic).
MAX_CLOUD_POINTS = 4000


def plotly_js() -> Path:
    """Path of plotly.min.js inside the installed ``plotly`` package."""
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "cimkit dashboard needs plotly (its charts' JavaScript); install the extra: "
            "pip install -e '.[dashboard]'"
        ) from None
    if not path.is_file():
        raise MissingDependencyError(f"plotly is installed without {path.name}; reinstall plotly")
    return path


def clean(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones and non-finite floats as None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


# --- JSON builders (plain functions: the API and the tests call them) ----------------------------
def runs_json(reader: StoreReader) -> dict[str, Any]:
    """Every run of the store for the runs list."""
    out = []
    for r in reader.list_runs():
        cfg = r["config"]
        search = cfg.get("search") or {}
        try:
            objective = objective_json(search_config(r["name"], cfg))
        except CimkitError:
            objective = {"label": "?", "algorithm": search.get("algorithm", "?")}
        out.append(
            {
                "name": r["name"],
                "status": r["status"],
                "gen": r["gen"],
                "n_gen": search.get("n_gen"),
                "pop_size": search.get("pop_size"),
                "n_designs": r["n_designs"],
                "n_evals": r["n_evals"],
                "best": r["best"],
                "created": r["created"],
                "objective": objective,
                "space": cfg.get("space"),
            }
        )
    return {"store": str(reader.path), "runs": out}


def _view(run: RunData) -> RunView:
    return run_view(run.name, run.config, run.X, run.M, run.G)


def _cloud(view: RunView) -> np.ndarray:
    """Rows for the front chart: every front/top design plus at most MAX_CLOUD_POINTS others."""
    eligible = np.flatnonzero(view.ok & np.isfinite(view.F).all(axis=1))
    keep = np.union1d(view.front, view.top)
    rest = np.setdiff1d(eligible, keep)
    if len(rest) > MAX_CLOUD_POINTS:
        rest = rest[np.linspace(0, len(rest) - 1, MAX_CLOUD_POINTS).astype(np.int64)]
    return np.union1d(np.intersect1d(keep, eligible), rest)


def _summary(run: RunData, view: RunView) -> dict[str, Any]:
    cfg = view.result.config
    best = int(view.top[0]) if len(view.top) else None
    return {
        "name": run.name,
        "status": run.status,
        "gen": run.gen,
        "n_gen": cfg.n_gen,
        "pop_size": cfg.pop_size,
        "seed": cfg.seed,
        "created": run.created,
        "n_designs": len(run.M),
        "n_feasible": int(feasible(run.M).sum()) if len(run.M) else 0,
        "n_evals": run.history[-1][1] if run.history else 0,
        "objective": objective_json(cfg),
        "best": None
        if best is None
        else {"design": best, "score": view.scores[best], "metrics": metric_row(run.M[best])},
        "space": run.config.get("space"),
        "command": run.config.get("command"),
        "area_constraint_mm2": run.config.get("area_constraint_mm2"),
    }


def run_json(reader: StoreReader, name: str) -> dict[str, Any]:
    """Everything the run page plots except the design table."""
    run = reader.load_run(name)
    view = _view(run)
    rows = _cloud(view)
    front = set(view.front.tolist())
    return clean(
        {
            **_summary(run, view),
            "config": run.config.get("search") or {},
            "history": {
                "gen": [h[0] for h in run.history],
                "evals": [h[1] for h in run.history],
                "best": [h[2] for h in run.history],
            },
            "front": {
                "axes": [a.to_json() for a in view.axes],
                "design": rows,
                "values": view.F[rows],
                "on_front": [int(i) in front for i in rows],
                "n_front": len(view.front),
            },
            "top": view.top,
        }
    )


def designs_json(reader: StoreReader, name: str) -> dict[str, Any]:
    """The design table: columns (key, label, unit) and one row (list) per archived design."""
    run = reader.load_run(name)
    view = _view(run)
    n = len(run.M)
    rank = np.zeros(n, dtype=np.int64)
    rank[view.top] = np.arange(1, len(view.top) + 1)
    on_front = np.zeros(n, dtype=bool)
    on_front[view.front] = True
    cols: list[dict[str, Any]] = [
        {"key": "design", "label": "design", "unit": ""},
        {"key": "gen", "label": "gen", "unit": ""},
    ]
    data: list[np.ndarray] = [np.arange(n), run.G]
    for c in metric_columns():
        cols.append(c)
        data.append(run.M[:, COL[c["key"]]] * TABLE_METRICS[c["key"]][2])
    obj = view.result.objective
    cols.append({"key": "score", "label": f"score ({obj.label or obj.name})", "unit": obj.units})
    data.append(view.scores)
    cols += [
        {"key": "feasible", "label": "feasible", "unit": ""},
        {"key": "front", "label": "front", "unit": ""},
        {"key": "top", "label": "top", "unit": ""},
    ]
    data += [feasible(run.M) if n else np.zeros(0, bool), on_front, rank]
    genes_note = None
    try:
        space = run_space(name, run.config)
        values = space.joint.decode(run.X.astype(np.int64)) if n else {}
        for g in space.hardware_names:
            cols.append({"key": g, "label": g, "unit": "", "gene": True})
            data.append(values[g] if n else np.zeros(0))
    except CimkitError as exc:
        genes_note = str(exc)
    # Column by column (10,000 designs x 20 columns: a per-value clean() would take seconds).
    rows = [list(r) for r in zip(*(_json_column(d) for d in data), strict=True)] if n else []
    return {"run": name, "columns": clean(cols), "rows": rows, "genes_note": genes_note}


def _json_column(a: np.ndarray) -> list[Any]:
    """A column as Python values; non-finite floats (inf scores) as None."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return a.tolist()
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return [None if v is None else float(v) for v in out]


def design_json(reader: StoreReader, name: str, idx: int) -> dict[str, Any]:
    """Design ``idx`` of run ``name`` re-evaluated: chip, network, quantization, breakdowns."""
    from cimkit.cost.designs import PARAMS

    run = reader.load_run(name)
    if not 0 <= idx < len(run.M):
        raise UnknownRunError(f"design {idx}: run {name!r} has designs 0..{len(run.M) - 1}")
    space = run_space(name, run.config)
    stored = run.M[idx]
    limit = area_constraint(space, run.config, stored)
    b = design_breakdown(space, run.X[idx], float(stored[COL["accuracy"]]), limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(b.metrics - stored) / np.maximum(np.abs(stored), 1e-300)
    view = _view(run)
    searched = set(b.searched)
    chip = [
        {
            "name": k,
            "section": PARAMS[k][0].split(".")[0],
            "value": v,
            "searched": k in searched,
        }
        for k, v in b.chip.items()
    ]
    layers = b.layers
    return clean(
        {
            "run": name,
            "design": idx,
            "gen": int(run.G[idx]),
            "score": view.scores[idx],
            "objective": objective_json(view.result.config),
            "feasible": bool(feasible(stored[None])[0]),
            "reason": b.feasible_reason,
            "constraints": constraint_ratios(stored),
            "stored": metric_row(stored),
            "evaluated": metric_row(b.metrics),
            "max_rel_diff": float(np.nanmax(rel)),
            "chip": chip,
            "genes": {
                sub: [{"name": n, "value": v, "active": a} for n, v, a in rows]
                for sub, rows in b.genes.items()
            },
            "network": {
                "family": b.family,
                "n_layers": len(layers),
                "macs": sum(r["macs"] for r in layers),
                "weights": sum(r["weights"] for r in layers),
                "columns": [{"key": k, "label": v} for k, v in LAYER_COLUMNS.items()],
                "layers": layers,
                "xbars_available": b.xbars_available,
            },
            "components": b.layer_components,
            "energy_by_component_j": b.energy_by_component,
            "area_by_component_mm2": b.area_by_component,
        }
    )


def compare_json(reader: StoreReader, a: str, b: str) -> dict[str, Any]:
    """Runs ``a`` and ``b`` side by side; both fronts in run ``a``'s objectives."""
    runs = [reader.load_run(a), reader.load_run(b)]
    views = [_view(r) for r in runs]
    axes = front_axes(views[0].result.config)
    fronts = []
    for run, view in zip(runs, views, strict=True):
        F = np.stack([ax.values(run.M) for ax in axes], axis=1) if len(run.M) else np.zeros((0, 2))
        rows = pareto_front(F, [ax.sense for ax in axes], view.ok)
        fronts.append({"run": run.name, "design": rows, "values": F[rows]})
    return clean(
        {
            "axes": [ax.to_json() for ax in axes],
            "axes_from": a,
            "runs": [_summary(r, v) for r, v in zip(runs, views, strict=True)],
            "histories": [
                {
                    "run": r.name,
                    "evals": [h[1] for h in r.history],
                    "best": [h[2] for h in r.history],
                    "label": objective_json(v.result.config)["label"],
                }
                for r, v in zip(runs, views, strict=True)
            ],
            "fronts": fronts,
        }
    )


# --- the ASGI app ---------------------------------------------------------------------------
def create_app(store: str | Path, timeout_s: float = 5.0) -> Any:
    """The Starlette app over the run store ``store`` (checked: must exist and be a run store).

    Args:
        store: SQLite file written by ``cimkit search``.
        timeout_s: how long a read waits for a rollback-journal writer's lock, s.
    """
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import FileResponse, JSONResponse, Response
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "cimkit dashboard needs starlette and uvicorn; install the extra: "
            "pip install -e '.[dashboard]'"
        ) from None
    from cimkit.dashboard.reader import check_store

    reader = StoreReader(check_store(store), timeout_s=timeout_s)
    js = plotly_js()

    class CleanJSON(JSONResponse):
        # The builders return clean() data; allow_nan=False turns a stray NaN into an error
        # instead of invalid JSON, and numpy values left anywhere go through clean().
        def render(self, content: Any) -> bytes:
            return json.dumps(
                content, allow_nan=False, separators=(",", ":"), ensure_ascii=False, default=clean
            ).encode()

    def answer(fn: Any, *args: Any) -> Response:
        headers = {"Cache-Control": "no-store"}
        try:
            return CleanJSON(fn(*args), headers=headers)
        except UnknownRunError as exc:
            return CleanJSON({"error": str(exc)}, status_code=404, headers=headers)
        except StoreBusyError as exc:
            return CleanJSON({"error": str(exc)}, status_code=503, headers=headers)
        except CimkitError as exc:
            return CleanJSON({"error": str(exc)}, status_code=400, headers=headers)

    def arg(request: Request, key: str) -> str:
        value = request.query_params.get(key)
        if not value:
            raise CimkitError(f"query parameter {key!r} is required")
        return value

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def plotly(request: Request) -> Response:
        return FileResponse(js, media_type="text/javascript")

    def favicon(request: Request) -> Response:
        return Response(status_code=204)  # no icon; answers so browsers log no 404

    def health(request: Request) -> Response:
        return answer(lambda: {"ok": True, "store": str(reader.path)})

    def api_runs(request: Request) -> Response:
        return answer(runs_json, reader)

    def api_run(request: Request) -> Response:
        return answer(lambda: run_json(reader, arg(request, "name")))

    def api_designs(request: Request) -> Response:
        return answer(lambda: designs_json(reader, arg(request, "run")))

    def api_design(request: Request) -> Response:
        def go() -> dict[str, Any]:
            text = arg(request, "idx")
            try:
                idx = int(text)
            except ValueError:
                raise CimkitError(f"idx: give a design number, got {text!r}") from None
            return design_json(reader, arg(request, "run"), idx)

        return answer(go)

    def api_compare(request: Request) -> Response:
        return answer(lambda: compare_json(reader, arg(request, "a"), arg(request, "b")))

    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/static/plotly.min.js", plotly),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/health", health),
        Route("/api/runs", api_runs),
        Route("/api/run", api_run),
        Route("/api/designs", api_designs),
        Route("/api/design", api_design),
        Route("/api/compare", api_compare),
    ]
    app = Starlette(routes=routes)
    app.state.reader = reader
    return app
