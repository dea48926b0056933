"""What the dashboard shows of a run, computed from its stored archive (no evaluation).

* Scores: the run's own scalar objective (``SearchConfig.score_objective``) exactly as ``cimkit
  search``/``cimkit report`` rank designs (inf for infeasible designs of a constrained run).
* Front axes, in the run's own objectives: an NSGA-II run's ``pareto`` metrics; a GA run's score
  E^a D^b A^c / Acc^d split into its hardware-cost term E^a D^b A^c (minimised) and accuracy
  (maximised), so the front is the set of designs no other design beats on both terms (for
  ``edap`` that is EDAP vs accuracy, the report's Pareto plot).
* The design table: one row per archived design (metrics in paper units, score, feasibility,
  front and top-5 flags, hardware genes when the run's space file can be read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cimkit.columns import COLUMNS, METRIC_MATRIX
from cimkit.errors import CimkitError
from cimkit.search.archive import Archive
from cimkit.search.engine import SearchConfig, SearchResult
from cimkit.search.objectives import COL, METRICS, Objective, feasible

#: Metrics-matrix columns the design table shows (the objectives' units come from cimkit.columns).
_TABLE_KEYS = (
    "accuracy", "energy_mj", "delay_us", "area_mm2", "edap", "tops_per_w", "tops_per_mm2",
    "utilization",
)  # fmt: skip


def _display(key: str) -> tuple[str, str, float]:
    """(label, display unit, factor matrix -> display) of a metrics-matrix column, from its
    data-file column's definition in :mod:`cimkit.columns` (units defined once)."""
    _, file_col, to_file = METRIC_MATRIX[key]
    col = COLUMNS[file_col]
    unit = "" if col.display_unit == "1" else col.display_unit
    return col.label, unit, to_file * col.display_factor


#: Table columns taken from the metrics matrix: key -> (label, unit, scale from the stored unit).
TABLE_METRICS: dict[str, tuple[str, str, float]] = {k: _display(k) for k in _TABLE_KEYS}

#: NSGA-II metric name -> (metrics column, label, unit, scale) of its front axis.
_PARETO_AXES: dict[str, tuple[str, str, str, float]] = {
    name: (key, *_display(key))
    for name, key in (
        ("accuracy", "accuracy"), ("energy", "energy_mj"), ("delay", "delay_us"),
        ("area", "area_mm2"), ("edap", "edap"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Axis:
    """One objective of a run's front: values from the metrics matrix, minimised or maximised.

    ``key`` is a metrics column or ``cost`` (the GA score's hardware term); ``log`` says a
    chart should use a log scale (positive values spanning decades).
    """

    key: str
    label: str
    unit: str
    sense: str  # "min" | "max"
    log: bool
    exponents: tuple[float, float, float] | None = None  # cost axis: (a, b, c)
    normalized: bool = False
    objective_name: str = ""

    def values(self, M: np.ndarray) -> np.ndarray:
        """(N,) axis values of the metrics rows ``M`` (N, K), in :attr:`unit`."""
        if self.key != "cost":
            scale = 100.0 if self.key == "accuracy" else 1.0
            return M[:, COL[self.key]] * scale
        a, b, c = self.exponents or (1.0, 1.0, 1.0)
        obj = Objective(self.objective_name, (a, b, c, 0.0), "", self.normalized)
        if not len(M):
            return np.zeros(0)
        return obj.score(M, M[0])

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "sense": self.sense,
            "log": self.log,
        }


def search_config(name: str, config: dict[str, Any]) -> SearchConfig:
    """The stored run's :class:`SearchConfig` (one-line error if another version wrote it)."""
    try:
        return SearchConfig.from_dict(config.get("search") or {})
    except (TypeError, ValueError) as exc:
        raise CimkitError(
            f"run {name!r}: its search config cannot be read by this cimkit ({exc})"
        ) from None


def front_axes(cfg: SearchConfig) -> list[Axis]:
    """The axes of the run's Pareto front, in its own objectives (see the module docstring)."""
    if cfg.algorithm == "nsga2":
        axes = []
        for m in cfg.pareto:
            column, label, unit, _ = _PARETO_AXES[m]
            sense = "max" if m == "accuracy" else "min"
            axes.append(Axis(column, label, unit, sense, m != "accuracy"))
        return axes
    obj = cfg.score_objective()
    a, b, c, _ = obj.exponents
    acc = Axis("accuracy", "accuracy", "%", "max", False)
    if a == b == c == 0:
        # An accuracy-only stage (two-stage comparator): EDAP is the cost it ignores.
        return [Axis("edap", "EDAP", "mJ*ms*mm^2", "min", True), acc]
    named = {"edap": ("EDAP", "mJ*ms*mm^2"), "delay": ("delay", "ns"), "ea": ("E*A", "mJ*mm^2")}
    if obj.name in named:
        label, unit = named[obj.name]
    else:  # priority (normalised) or a comparator stage's custom exponents
        label = _cost_label(a, b, c, obj.normalized)
        unit = "1 (normalised to the first design)" if obj.normalized else "E mJ, D ms, A mm^2"
    cost = Axis("cost", label, unit, "min", True, (a, b, c), obj.normalized, obj.name)
    return [cost, acc]


def _cost_label(a: float, b: float, c: float, normalized: bool) -> str:
    parts = [f"{s}^{v:g}" if v != 1 else s for s, v in zip("EDA", (a, b, c), strict=True) if v]
    return ("normalised " if normalized else "") + "*".join(parts)


def pareto_front(F: np.ndarray, sense: list[str], ok: np.ndarray) -> np.ndarray:
    """Rows of the non-dominated designs among rows ``ok`` of objective values ``F`` (N, k).

    ``sense`` says per column whether it is minimised ('min') or maximised ('max'); rows with a
    non-finite value never enter the front. Returned sorted by row index.
    """
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    rows = np.flatnonzero(ok & np.isfinite(F).all(axis=1))
    if not len(rows):
        return rows
    G = F[rows] * np.array([-1.0 if s == "max" else 1.0 for s in sense])
    front = NonDominatedSorting().do(G, only_non_dominated_front=True)
    return np.sort(rows[np.asarray(front, dtype=np.int64)])


@dataclass
class RunView:
    """A stored run with its scores, front and top five (everything the run page plots)."""

    result: SearchResult
    axes: list[Axis]
    F: np.ndarray  # (N, k) axis values
    ok: np.ndarray  # (N,) designs eligible for the front (feasible, or all if unconstrained)
    front: np.ndarray  # rows on the front
    scores: np.ndarray  # (N,) inf where infeasible
    top: np.ndarray  # rows of the five best scores


def run_view(
    name: str, config: dict[str, Any], X: np.ndarray, M: np.ndarray, G: np.ndarray
) -> RunView:
    """Scores, front and top five of a stored archive (X genomes, M metrics, G generations)."""
    cfg = search_config(name, config)
    archive = Archive(X.shape[1])
    if len(X):
        archive.add(X, M, G)
    result = SearchResult(archive, cfg, None, name=name)
    axes = front_axes(cfg)
    F = np.stack([ax.values(M) for ax in axes], axis=1) if len(M) else np.zeros((0, len(axes)))
    ok = feasible(M) if cfg.constrained else np.ones(len(M), dtype=bool)
    front = pareto_front(F, [ax.sense for ax in axes], ok)
    return RunView(result, axes, F, ok, front, result.scores(), result.top(5))


def objective_json(cfg: SearchConfig) -> dict[str, Any]:
    """Label and unit of the run's scalar score, plus its algorithm and Pareto metrics."""
    obj = cfg.score_objective()
    return {
        "name": obj.name,
        "label": obj.label or obj.name,
        "units": obj.units,
        "algorithm": cfg.algorithm,
        "pareto": list(cfg.pareto) if cfg.algorithm == "nsga2" else None,
        "constrained": cfg.constrained,
    }


def metric_columns() -> list[dict[str, str]]:
    """Table metric columns with labels and units (the metrics matrix columns the table shows)."""
    return [
        {"key": k, "label": label, "unit": unit, "help": METRICS[k]}
        for k, (label, unit, _) in TABLE_METRICS.items()
    ]


def metric_row(m: np.ndarray) -> dict[str, float]:
    """One metrics row (K,) in the table's units (accuracy in %)."""
    return {k: float(m[COL[k]]) * scale for k, (_, _, scale) in TABLE_METRICS.items()}


__all__ = [
    "Axis",
    "RunView",
    "TABLE_METRICS",
    "front_axes",
    "metric_columns",
    "metric_row",
    "objective_json",
    "pareto_front",
    "run_view",
    "search_config",
]
