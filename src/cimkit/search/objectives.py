"""Metrics of evaluated designs (paper units) and the objective functions of CIMNAS.

Every evaluated design is one row of :data:`METRICS` (float64). The matrix keeps Table III's
working units (energy mJ, delay us, area mm^2, EDAP mJ*ms*mm^2, accuracy as a fraction, taken
as % by the scores); :data:`cimkit.columns.METRIC_MATRIX` defines them and the SI data-file
column of each (designs.csv writes energy_j, latency_s, area_m2, edap_j_s_m2, accuracy_pct).

Objectives (minimised, registry :data:`OBJECTIVES`, names used on the command line):

* ``edap``: E*D*A/Acc in mJ*ms*mm^2/% (section III-B2, Eq. 1);
* ``delay``: D/Acc in ns/% (Table III prints 6,940 ns / 73 % = 95.1 for baseline 1);
* ``ea``: E*A/Acc in mJ*mm^2/%;
* ``priority``: E_n^a * D_n^b * A_n^c / Acc_n^d with every metric divided by the one of the
  first design of the archive (section IV-C); the reference only scales the score, so it never
  changes the ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cimkit.columns import METRIC_MATRIX
from cimkit.errors import SpecError

#: Columns of the metrics matrix, in order, with units (defined in :mod:`cimkit.columns`:
#: the matrix keeps the paper's working units; data files get the SI columns).
METRICS: dict[str, str] = {
    name: f"{unit}; file column {file}" for name, (unit, file, _) in METRIC_MATRIX.items()
}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
COL = {name: i for i, name in enumerate(METRIC_NAMES)}
CONSTRAINTS: tuple[str, ...] = ("g_fit", "g_area", "g_cycle")


def col(M: np.ndarray, name: str) -> np.ndarray:
    """Column ``name`` of a metrics matrix (N, len(METRICS))."""
    return M[:, COL[name]]


def constraints(M: np.ndarray) -> np.ndarray:
    """(N, 3) constraint values G (feasible where every G <= 0)."""
    return M[:, [COL[c] for c in CONSTRAINTS]]


def feasible(M: np.ndarray) -> np.ndarray:
    return (constraints(M) <= 0).all(axis=1)


@dataclass(frozen=True)
class Objective:
    """A score to minimise from the metrics matrix: ``score(M, ref) -> (N,)``.

    ``exponents`` (a, b, c, d) multiply log E, log D, log A and -log Acc; ``ref`` (a metrics row)
    normalises each metric when ``normalized`` (priority form).
    """

    name: str
    exponents: tuple[float, float, float, float]
    units: str
    normalized: bool = False
    label: str = ""

    def score(self, M: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
        a, b, c, d = self.exponents
        e, t, ar, acc = (
            col(M, "energy_mj"),
            col(M, "delay_us") * 1e-3,  # ms: EDAP in mJ*ms*mm^2
            col(M, "area_mm2"),
            col(M, "accuracy") * 100.0,
        )
        if self.name == "delay":
            t = t * 1e6  # ns, the unit of Table III's L/Acc
        if self.normalized:
            if ref is None:
                raise ValueError("priority objective needs the reference metrics row")
            r = ref.reshape(1, -1)
            e, t, ar, acc = (
                e / col(r, "energy_mj"),
                t / (col(r, "delay_us") * 1e-3),
                (ar / col(r, "area_mm2")),
                acc / (col(r, "accuracy") * 100.0),
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            out = e**a * t**b * ar**c / acc**d
        return np.where(np.isfinite(out), out, np.inf)


def priority(a: float, b: float, c: float, d: float) -> Objective:
    """E_n^a D_n^b A_n^c / Acc_n^d (coefficients in 0..1, the paper's range)."""
    for k, v in zip("abcd", (a, b, c, d), strict=True):
        if not 0 <= v <= 1:
            raise SpecError(f"priority.{k}: must be in 0..1, got {v}")
    return Objective(
        "priority",
        (a, b, c, d),
        "1 (normalised to the first sample)",
        True,
        f"E^{a:g} D^{b:g} A^{c:g} / Acc^{d:g}",
    )


OBJECTIVES: dict[str, Objective] = {
    "edap": Objective("edap", (1, 1, 1, 1), "mJ*ms*mm^2/%", label="EDAP/Acc"),
    "delay": Objective("delay", (0, 1, 0, 1), "ns/%", label="D/Acc"),
    "ea": Objective("ea", (1, 0, 1, 1), "mJ*mm^2/%", label="EA/Acc"),
}


def get_objective(name: str, coefficients: Sequence[float] | None = None) -> Objective:
    """Objective by command-line name; ``priority`` needs 4 coefficients (a, b, c, d)."""
    key = name.strip().lower()
    if key == "priority":
        if coefficients is None or len(coefficients) != 4:
            raise SpecError("objective priority: give --priority a,b,c,d (four numbers in 0..1)")
        return priority(*coefficients)
    if key not in OBJECTIVES:
        raise SpecError(f"unknown objective {name!r}; choose from {[*OBJECTIVES, 'priority']}")
    return OBJECTIVES[key]


#: Metrics NSGA-II can minimise (accuracy is maximised: its objective is -accuracy).
PARETO_METRICS: dict[str, str] = {
    "accuracy": "accuracy",
    "energy": "energy_mj",
    "delay": "delay_us",
    "area": "area_mm2",
    "edap": "edap",
}


@dataclass(frozen=True)
class MultiObjective:
    """Two or three metrics for NSGA-II; ``F(M)`` is (N, k), all minimised."""

    metrics: tuple[str, ...]
    label: str = field(default="")

    def __post_init__(self) -> None:
        if not 2 <= len(self.metrics) <= 3:
            raise SpecError(f"--pareto: give 2 or 3 metrics, got {list(self.metrics)}")
        bad = [m for m in self.metrics if m not in PARETO_METRICS]
        if bad:
            raise SpecError(f"--pareto: unknown metrics {bad}; choose from {list(PARETO_METRICS)}")

    def F(self, M: np.ndarray) -> np.ndarray:
        cols = []
        for m in self.metrics:
            v = col(M, PARETO_METRICS[m])
            # Log scale keeps crowding distances meaningful over decades of EDAP/energy.
            cols.append(-v if m == "accuracy" else np.log10(np.maximum(v, 1e-300)))
        return np.stack(cols, axis=1)
