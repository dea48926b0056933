"""Ethos-U55-class NPU engine: cycles and bytes per layer from a Vela calibration table.

The table (``data/npu/u55_vela.csv.gz``, made by ``tools/vela_calibrate.py`` with ethos-u-vela
5.2.0; provenance in ``u55_vela.json``) holds Vela's summary of single-layer int8 models for the
U55-64/128/256 configurations in the ``Shared_Sram`` and ``Sram_Only`` memory modes of Arm's
``Ethos_U55_High_End_Embedded`` system (500 MHz core clock).

Model, per layer kind and configuration (docs/h4h-hardware.md):

* a regular grid over the kind's axes (powers of two) is interpolated multilinearly in
  log(value) / log(axis) space (exact at grid points, power laws between them);
* Vela's block choices make cycles jump with channel counts and sides (a 24-channel input costs
  more than a 32-channel one), which a power-of-two grid cannot see. One-dimensional *profiles*
  through a reference layer at every value an axis can take (channels in steps of 8, sides and
  tokens in steps of 1) give, per axis, the ratio of the true profile to the grid's
  interpolation of it; the prediction multiplies the grid interpolation by these ratios, one per
  axis (separable correction);
* outside the table's range the interpolation extrapolates linearly in log-log space.

Predicted quantities (all per inference, batch 1): ``cycles_total``, ``cycles_sram_access``,
``sram_total_bytes``, ``off_chip_flash_total_bytes``. Vela reports no energy; see
:mod:`cimkit.hetero.energy`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

#: Layer kinds of the table and the LayerShape fields that are their axes (in grid order).
KIND_AXES: dict[str, tuple[str, ...]] = {
    "conv": ("h", "c_in", "c_out"),
    "pw": ("h", "c_in", "c_out"),
    "dw": ("h", "c_in"),
    "fc": ("h", "c_in", "c_out"),
    "bmm": ("c_out", "h", "c_in", "w"),
    "add": ("h", "c_in"),
    "softmax": ("h", "c_in"),
}
#: Kinds whose table has a stride axis (1 or 2).
STRIDED: tuple[str, ...] = ("conv", "dw")
#: Quantities the engine predicts (Vela summary columns).
QUANTITIES: tuple[str, ...] = (
    "cycles_total",
    "cycles_sram_access",
    "sram_total_bytes",
    "off_chip_flash_total_bytes",
)
ACCELERATOR_MACS: tuple[int, ...] = (64, 128, 256)
MEMORY_MODES: tuple[str, ...] = ("Shared_Sram", "Sram_Only")
#: Core clock of the calibrated system (Hz), Vela's Ethos_U55_High_End_Embedded.
CORE_CLOCK_HZ = 500e6


@functools.cache
def calibration_table() -> Any:
    """The committed Vela calibration table as a pandas DataFrame (all sets)."""
    import pandas as pd

    path = resources.files("cimkit.data") / "npu" / "u55_vela.csv.gz"
    with resources.as_file(path) as p:
        return pd.read_csv(p)


@functools.cache
def provenance() -> dict[str, Any]:
    """Provenance of the calibration table (Vela version, system config, command, date)."""
    path = resources.files("cimkit.data") / "npu" / "u55_vela.json"
    return json.loads(path.read_text())


def _log1p(x: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(x, dtype=np.float64) + 1.0)


@dataclass(frozen=True)
class _Axis:
    """One axis: its grid nodes, and the profile's values with the log correction at each."""

    nodes: np.ndarray  # (G,) log of the grid values
    prof_x: np.ndarray  # (P,) log of the profile values
    prof_corr: dict[str, np.ndarray]  # quantity -> (P,) log(profile) - interp(grid of profile)


class _Table:
    """Interpolant of one (kind, accelerator, memory mode, stride)."""

    def __init__(self, grid: Any, prof: Any, axes: tuple[str, ...]) -> None:
        self.axes = axes
        grid = grid.sort_values(list(axes))
        self.nodes = [np.log(np.sort(grid[a].unique()).astype(np.float64)) for a in axes]
        shape = tuple(len(n) for n in self.nodes)
        if int(np.prod(shape)) != len(grid):
            raise ValueError(f"calibration grid for {axes} is not a full grid: {len(grid)} rows")
        self.values = {q: _log1p(grid[q].to_numpy()).reshape(shape) for q in QUANTITIES}
        self.corr: list[_Axis | None] = []
        for i, a in enumerate(axes):
            rows = prof[prof["axis"] == a].sort_values(a) if prof is not None else None
            if rows is None or len(rows) == 0:
                self.corr.append(None)
                continue
            px = np.log(rows[a].to_numpy(dtype=np.float64))
            corr = {}
            for q in QUANTITIES:
                py = _log1p(rows[q].to_numpy())
                # The profile as the grid sees it: its values at the grid nodes, interpolated.
                at_nodes = np.interp(self.nodes[i], px, py)
                corr[q] = py - np.interp(px, self.nodes[i], at_nodes)
            self.corr.append(_Axis(self.nodes[i], px, corr))

    def predict(self, x: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Predicted quantities at points ``x`` (one (n,) array per axis, natural units)."""
        lx = [np.log(np.maximum(np.asarray(v, dtype=np.float64), 1e-9)) for v in x]
        n = len(lx[0])
        # Multilinear interpolation/extrapolation on the log grid, one cell per point.
        idx, wts = [], []
        for nodes, v in zip(self.nodes, lx, strict=True):
            j = np.clip(np.searchsorted(nodes, v, side="right") - 1, 0, len(nodes) - 2)
            t = (v - nodes[j]) / (nodes[j + 1] - nodes[j])
            idx.append(j)
            wts.append(t)
        out: dict[str, np.ndarray] = {}
        d = len(self.nodes)
        for q in QUANTITIES:
            tab = self.values[q]
            acc = np.zeros(n)
            for corner in range(1 << d):
                w = np.ones(n)
                sel = []
                for k in range(d):
                    bit = (corner >> k) & 1
                    w = w * (wts[k] if bit else 1.0 - wts[k])
                    sel.append(idx[k] + bit)
                acc += w * tab[tuple(sel)]
            for k, ax in enumerate(self.corr):
                if ax is not None:
                    acc += np.interp(lx[k], ax.prof_x, ax.prof_corr[q], left=0.0, right=0.0)
            out[q] = np.maximum(np.exp(acc) - 1.0, 0.0)
        return out


@functools.cache
def _tables() -> dict[tuple[str, int, str, int], _Table]:
    df = calibration_table()
    out: dict[tuple[str, int, str, int], _Table] = {}
    for (kind, macs, mode, stride), g in df.groupby(
        ["kind", "accelerator_macs", "memory_mode", "stride"]
    ):
        grid = g[g["set"] == "grid"]
        if len(grid) == 0:
            continue
        prof = g[g["set"] == "profile"]
        out[(str(kind), int(macs), str(mode), int(stride))] = _Table(grid, prof, KIND_AXES[kind])
    return out


def predict(
    kind: str, dims: dict[str, np.ndarray], macs: int, mode: str, stride: int = 1
) -> dict[str, np.ndarray]:
    """Vela-calibrated cycles and bytes of ``n`` layers of one kind on one configuration.

    Args:
        kind: one of :data:`KIND_AXES` (``conv`` is 3x3).
        dims: the kind's axes (LayerShape field names: ``h``, ``w``, ``c_in``, ``c_out``) as
            (n,) arrays. For ``fc``: h = tokens; for ``bmm``: h = M, w = N, c_in = K,
            c_out = batch; for ``softmax``: h = rows, c_in = row length; for ``add``: h = side
            (h x h x c_in elements).
        macs: MACs per cycle of the configuration (64, 128 or 256).
        mode: memory mode, ``Shared_Sram`` or ``Sram_Only``.
        stride: 1 or 2 (``conv`` and ``dw`` only).

    Returns:
        :data:`QUANTITIES` -> (n,) arrays (cycles at :data:`CORE_CLOCK_HZ`, bytes).
    """
    key = (kind, int(macs), mode, int(stride) if kind in STRIDED else 1)
    tables = _tables()
    if key not in tables:
        raise KeyError(f"no NPU calibration for {key}")
    tab = tables[key]
    return tab.predict([np.atleast_1d(np.asarray(dims[a], dtype=np.float64)) for a in tab.axes])


def table_dims(rows: Any) -> dict[str, np.ndarray]:
    """Axis arrays of calibration-table rows (LayerShape field names)."""
    return {a: rows[a].to_numpy(dtype=np.float64) for a in ("h", "w", "c_in", "c_out")}


def validation_errors(set_name: str = "test", table: Any = None) -> Any:
    """Predicted vs Vela cycles on the rows of one off-grid set (``dev`` or ``test``).

    Returns a DataFrame with the set's shape columns, ``vela_cycles``, ``predicted_cycles`` and
    ``rel_error`` (predicted / Vela - 1). ``test`` rows were never used to choose the model.
    """
    df = calibration_table() if table is None else table
    rows = df[df["set"] == set_name]
    parts = []
    for (kind, macs, mode, stride), g in rows.groupby(
        ["kind", "accelerator_macs", "memory_mode", "stride"]
    ):
        pred = predict(str(kind), table_dims(g), int(macs), str(mode), int(stride))
        part = g[["kind", "h", "w", "c_in", "c_out", "k", "stride", "accelerator_macs",
                  "memory_mode", "macs"]].copy()  # fmt: skip
        part["vela_cycles"] = g["cycles_total"].to_numpy(dtype=np.float64)
        part["predicted_cycles"] = pred["cycles_total"]
        part["rel_error"] = part["predicted_cycles"] / part["vela_cycles"] - 1.0
        parts.append(part)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def validation_summary(errors: Any) -> Any:
    """Median and worst |relative error| per layer kind (all configurations together) and the
    worst per-configuration median."""
    import pandas as pd

    e = errors.assign(abs_error=errors["rel_error"].abs())
    per_cfg = e.groupby(["kind", "accelerator_macs", "memory_mode"])["abs_error"].median()
    out = e.groupby("kind")["abs_error"].agg(["count", "median", "max"])
    out["worst_config_median"] = per_cfg.groupby("kind").max()
    return pd.DataFrame(out).rename(columns={"median": "median_abs_error",
                                             "max": "worst_abs_error"})  # fmt: skip


def _roofline_features(rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(work, feature-map bytes, weight bytes) of table rows from their shapes alone."""
    kind = rows["kind"].to_numpy()
    h, w = rows["h"].to_numpy(float), rows["w"].to_numpy(float)
    ci, co = rows["c_in"].to_numpy(float), rows["c_out"].to_numpy(float)
    k, s = rows["k"].to_numpy(float), rows["stride"].to_numpy(float)
    ho, wo = np.ceil(h / s), np.ceil(w / s)
    work = rows["macs"].to_numpy(float)
    fm = h * w * ci + ho * wo * co
    wt = co * ci * k * k
    dw = kind == "dw"
    wt = np.where(dw, ci * k * k, wt)
    fc = kind == "fc"
    fm = np.where(fc, h * ci + h * co, fm)
    wt = np.where(fc, ci * co, wt)
    bmm = kind == "bmm"
    fm = np.where(bmm, co * (h * ci + ci * w + h * w), fm)
    wt = np.where(bmm, 0.0, wt)
    elem = kind == "add"
    fm = np.where(elem, 3 * h * w * ci, fm)
    sm = kind == "softmax"
    fm = np.where(sm, 2 * h * ci, fm)
    work = np.where(elem | sm, np.where(elem, h * w * ci, h * ci), work)
    wt = np.where(elem | sm, 0.0, wt)
    return work, fm, wt


def _roofline_log(p: np.ndarray, f: tuple[np.ndarray, ...]) -> np.ndarray:
    """log(1 + max_i f_i / exp(p_i)): the roofline's log cycles at log rates ``p``."""
    rates = np.exp(p)
    return np.log(np.maximum.reduce([f[i] / rates[i] for i in range(3)]) + 1.0)


def _roofline_residual(p: np.ndarray, f: tuple[np.ndarray, ...], y: np.ndarray) -> np.ndarray:
    return _roofline_log(p, f) - y


def roofline_errors(set_name: str = "test") -> Any:
    """A plain roofline for comparison: cycles = max(work / a, feature-map bytes / b, weight
    bytes / c) with a, b, c fitted per kind and configuration on the calibration grid (least
    squares on log cycles); relative errors on the rows of ``set_name``."""
    import pandas as pd
    from scipy.optimize import least_squares

    df = calibration_table()
    parts = []
    for key, g in df.groupby(["kind", "accelerator_macs", "memory_mode", "stride"]):
        grid, rows = g[g["set"] == "grid"], g[g["set"] == set_name]
        if len(grid) == 0 or len(rows) == 0:
            continue
        fg = _roofline_features(grid)
        yg = np.log(grid["cycles_total"].to_numpy(float))

        fit = least_squares(_roofline_residual, x0=np.log([key[1] / 2, 8.0, 1.0]), args=(fg, yg))
        pred = np.exp(_roofline_log(fit.x, _roofline_features(rows))) - 1.0
        part = rows[["kind", "accelerator_macs", "memory_mode"]].copy()
        part["rel_error"] = pred / rows["cycles_total"].to_numpy(float) - 1.0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
