"""One stored design re-evaluated with the cost model: chip, network, quantization, breakdowns.

The store keeps only a design's genome and its metrics row. To show where its energy, latency
and area go, :func:`design_breakdown` rebuilds the design exactly as
:class:`~cimkit.search.problem.CimnasProblem` did during the search (decode the genome in the
run's space, the family's layer arrays, the hardware genes over the space's base chip, the run's
area constraint) and calls :func:`cimkit.cost.evaluate` with ``breakdown=True``. Accuracy is not
re-run (it may come from a trained predictor or a user callable): the stored value is used, so the
re-evaluated metrics row equals the stored one (a test checks 1e-9 relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError
from cimkit.search.objectives import COL, CONSTRAINTS

#: Per-layer columns of the network table: LayerArrays column -> label.
LAYER_COLUMNS: dict[str, str] = {
    "in_channels": "in ch",
    "out_channels": "out ch",
    "kernel_h": "kernel",
    "stride": "stride",
    "groups": "groups",
    "out_h": "out h",
    "macs": "MACs",
    "weights": "weights",
    "weight_bits": "w bits",
    "act_bits": "a bits",
}


@lru_cache(maxsize=16)
def _load_space(path: str, mtime_ns: int) -> Any:
    from cimkit.space import load_space

    return load_space(path)


def run_space(name: str, config: dict[str, Any]) -> Any:
    """The run's :class:`~cimkit.space.spec.SearchSpace`, loaded from the path its config stores.

    Cached per file version (path, modification time). Raises a one-line CimkitError when the run
    has no space path (made through the Python API without ``meta={"space": ...}``) or the file
    is gone.
    """
    path = config.get("space")
    if not path:
        raise CimkitError(
            f"run {name!r}: its config names no space file (run from the Python API without "
            "meta={'space': PATH}); genes and breakdowns need it"
        )
    p = Path(path)
    if not p.is_file():
        raise CimkitError(f"run {name!r}: space file {p} not found (moved since the search?)")
    return _load_space(str(p), p.stat().st_mtime_ns)


def area_constraint(
    space: Any, config: dict[str, Any], stored: np.ndarray | None = None
) -> float | None:
    """The area constraint the run searched under (``--area``, else the space's), mm^2.

    ``cimkit search`` stores ``area_constraint_mm2`` (None = the space's). The stage runs of
    ``cimkit compare`` do not store it (their ``--area`` is lost from the config), so for them
    it is read back from a stored metrics row ``stored``: g_area = area / limit - 1, or -1 when
    the run had no limit.
    """
    if "area_constraint_mm2" in config or stored is None:
        given = config.get("area_constraint_mm2")
        return float(given) if given is not None else space.area_constraint_mm2
    g = float(stored[COL["g_area"]])
    if g == -1.0:
        return None
    return float(stored[COL["area_mm2"]]) / (g + 1.0)


@dataclass
class DesignBreakdown:
    """A re-evaluated design (all energies in J, latencies in s, areas in mm^2).

    Attributes:
        metrics: (K,) metrics row (columns METRIC_NAMES; accuracy the stored one).
        chip: resolved chip parameter -> value (categories as names, None = derived/unset).
        searched: names of the chip parameters that are hardware genes of the space.
        genes: subspace -> list of (gene, value, active) (inactive genes change nothing).
        layers: one dict per existing layer: name, op, shape columns, bits, latency_s,
            energy_j (total), energy per component and xbars (crossbars it occupies).
        energy_by_component, area_by_component: component -> J / mm^2.
        layer_components: energy components in column order.
        xbars_available: crossbars on the chip (layers' ``xbars`` are out of this).
    """

    metrics: np.ndarray
    chip: dict[str, Any]
    searched: list[str]
    genes: dict[str, list[tuple[str, float, bool]]]
    layers: list[dict[str, Any]]
    energy_by_component: dict[str, float]
    area_by_component: dict[str, float]
    layer_components: list[str]
    family: str
    feasible_reason: str
    xbars_available: int


def design_breakdown(
    space: Any, x: np.ndarray, accuracy: float, area_constraint_mm2: float | None
) -> DesignBreakdown:
    """Re-evaluate genome ``x`` (D,) of ``space`` with per-layer/per-component breakdowns.

    Args:
        space: the run's search space.
        x: the stored genome (int gene indices).
        accuracy: the stored accuracy (fraction 0..1), put in the metrics row as is.
        area_constraint_mm2: the run's area constraint (None: unconstrained), mm^2.
    """
    from cimkit.cost import DesignTable, evaluate
    from cimkit.cost.designs import PARAMS
    from cimkit.search.problem import metrics_matrix
    from cimkit.workload.layer import OPS

    X = np.asarray(x, dtype=np.int64).reshape(1, -1)
    values = space.joint.decode(X)
    la = space.family.layer_arrays(values)
    hw = {n: values[n] for n in space.hardware_names}
    if area_constraint_mm2 is not None:
        hw["area_constraint_mm2"] = np.full(1, float(area_constraint_mm2))
    ev = evaluate(DesignTable.from_arrays(space.base_chip, hw), la, breakdown=True)
    M = metrics_matrix(ev, np.array([float(accuracy)]), area_constraint_mm2)

    chip: dict[str, Any] = {}
    for name, (_, cats) in PARAMS.items():
        v = float(ev.designs.values[name][0])
        chip[name] = cats[int(v)] if cats else (None if np.isnan(v) else v)

    act = space.family.active_mask(values, space.joint.names)[0]
    genes: dict[str, list[tuple[str, float, bool]]] = {}
    for i, d in enumerate(space.joint.dims):
        genes.setdefault(d.subspace, []).append((d.name, float(values[d.name][0]), bool(act[i])))

    assert ev.layer_energy is not None and ev.layer_latency is not None
    comps = list(ev.layer_energy.keys())
    energy = {k: ev.layer_energy[k][0] for k in comps}
    names = _layer_names(space, la)
    mask = np.broadcast_to(la.mask, la.shape)[0]
    op = np.broadcast_to(la.op, la.shape)[0]
    cols = {k: np.broadcast_to(la.columns[k], la.shape)[0] for k in LAYER_COLUMNS}
    layers = []
    for j in np.flatnonzero(mask):
        row: dict[str, Any] = {"slot": int(j), "name": names[j], "op": OPS[int(op[j])]}
        row.update({k: int(cols[k][j]) for k in LAYER_COLUMNS})
        row["latency_s"] = float(ev.layer_latency[0, j])
        if ev.layer_xbars is not None and ev.layer_replication is not None:
            # Crossbars the layer occupies (one copy x copies): its share of the chip's arrays,
            # the per-layer view of area (the cost model's area is per chip, not per layer).
            row["xbars"] = int(ev.layer_xbars[0, j] * ev.layer_replication[0, j])
        row["energy"] = {k: float(energy[k][j]) for k in comps}
        row["energy_j"] = float(sum(row["energy"].values()))
        layers.append(row)
    return DesignBreakdown(
        metrics=M[0],
        chip=chip,
        searched=list(space.hardware_names),
        genes=genes,
        layers=layers,
        energy_by_component={k: float(v[0]) for k, v in ev.energy_by_component.items()},
        area_by_component={k: float(v[0]) * 1e6 for k, v in ev.area_by_component.items()},
        layer_components=comps,
        family=space.family.name,
        feasible_reason=str(ev.reasons[0]),
        xbars_available=int(ev.metrics["xbars_available"][0]),
    )


def _layer_names(space: Any, la: Any) -> list[str]:
    """Layer name of every slot: the workload's, else the OFA layout's torchvision names."""
    n = la.shape[1]
    if la.names is not None and len(la.names) == n:
        return list(la.names)
    fam = space.family
    if fam.name == "ofa_mobilenetv2":
        # mobilenetv2_ofa_batch lays every design out like the largest network, whose rows are
        # those of mobilenetv2() with 4 blocks per stage (cimkit.space.families._ofa_rows).
        from cimkit.workload.builtin import mobilenetv2

        wl = mobilenetv2(
            resolution=fam.resolution, num_classes=fam.num_classes, kernels=3, expands=6
        )
        if len(wl.layers) == n:
            return [layer.name for layer in wl.layers]
    return [f"slot {j}" for j in range(n)]


def constraint_ratios(m: np.ndarray) -> dict[str, float | None]:
    """Each constraint as a ratio (feasible <= 1): crossbars needed / available, area / limit,
    shortest readout cycle / cycle time; None where the constraint does not apply."""
    out: dict[str, float | None] = {}
    for name in CONSTRAINTS:
        g = float(m[COL[name]])
        # The store writes -1 for a constraint that does not apply (no area limit, weights
        # streamed instead of stationary), i.e. a ratio of 0.
        out[name] = None if g == -1.0 else g + 1.0
    return out
