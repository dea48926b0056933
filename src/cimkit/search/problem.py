"""The CIMNAS evaluation problem: genomes (N, D) -> metrics matrix (N, len(METRICS)).

One call evaluates a whole population: the genomes are decoded, the N networks with their
quantization policies are built as one (N, L) layer-array batch, the cost model evaluates the N
hardware designs on them in one vectorized call and the accuracy source scores the N genomes.
Constraints (``G <= 0`` is feasible): the weights fit on chip in weight-stationary mode, area <=
the space's area constraint, and the cycle time is not shorter than the readout needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from cimkit.errors import SpecError, clip, short_repr
from cimkit.search.objectives import COL, METRIC_NAMES
from cimkit.space.spec import SearchSpace

#: (decoded gene values name -> (N,), search space) -> (N,) accuracy as a fraction.
AccuracyFn = Callable[[dict[str, np.ndarray], SearchSpace], np.ndarray]


def predictor_accuracy(values: dict[str, np.ndarray], space: SearchSpace) -> np.ndarray:
    """The shipped quantized accuracy predictor (Fashion-MNIST top-1 of the same architecture)."""
    own = getattr(space.family, "predict_accuracy", None)  # resnet50: its own predictor
    if own is not None:
        return np.asarray(own(values), dtype=np.float64)
    from cimkit.accuracy.predictor import predict_accuracy

    return np.asarray(predict_accuracy(*space.family.predictor_inputs(values)), dtype=np.float64)


def resolve_accuracy(space: SearchSpace) -> AccuracyFn:
    """The accuracy function the space's ``accuracy`` section names."""
    acc = space.spec.accuracy
    if acc.source == "predictor":
        return predictor_accuracy
    if acc.source == "constant":
        value = float(acc.value)  # type: ignore[arg-type]
        return lambda values, space: np.full(len(next(iter(values.values()))), value)
    module, _, name = str(acc.callable).partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"accuracy.callable: cannot import {acc.callable!r} ({exc})") from None

    def call(values: dict[str, np.ndarray], space: SearchSpace) -> np.ndarray:
        # A user's function: whatever it raises becomes one line naming it (exit 2, not a trace).
        try:
            result = fn(values)
        except SystemExit as exc:
            raise SpecError(
                f"accuracy.callable {acc.callable!r} exited (SystemExit {short_repr(exc.code)})"
            ) from None
        except Exception as exc:
            raise SpecError(
                f"accuracy.callable {acc.callable!r} raised {type(exc).__name__}: "
                f"{clip(' '.join(str(exc).split()), 200)}"
            ) from exc
        try:
            return np.asarray(result, dtype=np.float64)
        except (TypeError, ValueError):
            raise SpecError(
                f"accuracy.callable {acc.callable!r} returned {type(result).__name__}; "
                "return an array of accuracies (fractions), one per genome"
            ) from None

    return call


class CimnasProblem:
    """Evaluate genomes of ``space``; picklable, so backends can ship it to workers.

    Args:
        space: the loaded search space.
        accuracy_fn: overrides the space's accuracy source (tests inject a deterministic stub);
            must be picklable for the process-pool and Ray backends.
        area_constraint_mm2: overrides the space's area constraint (None = the space's).

    Attributes:
        vectorized: True when one call on N genomes is cheaper than N calls (the OFA family);
            the ResNet50 family builds one layer table per distinct model and is not.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        accuracy_fn: AccuracyFn | None = None,
        area_constraint_mm2: float | None = None,
    ) -> None:
        self.space = space
        self.accuracy_fn = accuracy_fn
        self.area_constraint_mm2 = (
            area_constraint_mm2 if area_constraint_mm2 is not None else space.area_constraint_mm2
        )
        self.vectorized = space.family.name == "ofa_mobilenetv2"

    @property
    def n_var(self) -> int:
        return self.space.joint.n_var

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """Metrics (N, len(METRICS)) of the genomes ``X`` (N, D) int."""
        from cimkit.cost import DesignTable, evaluate

        X = np.asarray(X, dtype=np.int64)
        values = self.space.joint.decode(X)
        n = len(X)
        la = self.space.family.layer_arrays(values)
        hw = {name: values[name] for name in self.space.hardware_names}
        if self.area_constraint_mm2 is not None:
            hw["area_constraint_mm2"] = np.full(n, float(self.area_constraint_mm2))
        ev = evaluate(DesignTable.from_arrays(self.space.base_chip, hw), la)
        fn = self.accuracy_fn or resolve_accuracy(self.space)
        acc = np.asarray(fn(values, self.space), dtype=np.float64).reshape(n)
        return metrics_matrix(ev, acc, self.area_constraint_mm2)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)


def metrics_matrix(ev: Any, accuracy: np.ndarray, area_constraint_mm2: float | None) -> np.ndarray:
    """Pack a cost-model :class:`~cimkit.cost.Evaluation` and accuracies into the metrics matrix."""
    m = ev.metrics
    n = len(accuracy)
    M = np.empty((n, len(METRIC_NAMES)), dtype=np.float64)
    e_mj = m["energy_j"] * 1e3
    d_us = m["latency_s"] * 1e6
    M[:, COL["accuracy"]] = accuracy
    M[:, COL["energy_mj"]] = e_mj
    M[:, COL["delay_us"]] = d_us
    M[:, COL["area_mm2"]] = m["area_mm2"]
    M[:, COL["edap"]] = e_mj * (d_us * 1e-3) * m["area_mm2"]
    M[:, COL["tops_per_w"]] = m["tops_per_w"]
    M[:, COL["tops_per_mm2"]] = m["tops_per_mm2"]
    M[:, COL["utilization"]] = m["utilization"]
    stationary = ev.designs["mode"] == 0
    avail = np.maximum(m["xbars_available"], 1)
    M[:, COL["g_fit"]] = np.where(stationary, m["xbars_needed"] / avail - 1.0, -1.0)
    M[:, COL["g_area"]] = (
        -1.0 if area_constraint_mm2 is None else m["area_mm2"] / area_constraint_mm2 - 1.0
    )
    cyc = ev.designs["cycle_time_ns"]
    M[:, COL["g_cycle"]] = m["min_cycle_time_ns"] / cyc - 1.0
    return M
