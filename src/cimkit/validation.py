"""Comparison of the cost model with published silicon macros at every published operating point.

Each preset (``presets/macros.yaml``) describes one macro as a cimkit chip at its calibration
point; the operating points and their reported figures come from ``data/published_macros.yaml``
(one :class:`OperatingPoint` each, with the supply, precision, clock and data of that point).
The macro is driven by a linear layer that fills its array exactly, so every cell and converter
works on every cycle (peak throughput). Only macro components count (cells, drivers, readout,
shift-add), as in the papers' macro-level figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from cimkit.cost.constants import READOUTS as READOUT_CODES
from cimkit.cost.constants import TRANSISTORS, Constants, delay_factor, load_constants
from cimkit.cost.mapping import weight_columns
from cimkit.cost.model import evaluate
from cimkit.specs.chip import ChipSpec
from cimkit.specs.io import chip_from_dict, parse_yaml
from cimkit.workload.histograms import CENTERS, LayerHistogram
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload

MACRO_ENERGY = ("cells", "row_drivers", "readout", "shift_add")
MACRO_AREA = ("cells", "readout", "row_drivers", "shift_add")
#: Figures compared at every operating point.
FIGURES = ("tops", "tops_per_w", "tops_per_mm2")
TOKENS = 256


@dataclass(frozen=True)
class OperatingPoint:
    """One published operating point of a macro, as cimkit models it.

    Attributes:
        id: the point's id in published_macros.yaml.
        spec: the macro's chip at this point (voltage, precision, readout bits, clock).
        input_bits, weight_bits: precision of the point's figures.
        output_level: mean output value / full scale stated by the paper's data condition
            (None: the documented default data, uniform inputs and weights).
        reported: tops, tops_per_w, tops_per_mm2 (None where not reported).
        in_sample: this is the macro's calibration point.
        data: the paper's data condition, as published_macros.yaml states it.
    """

    id: str
    spec: ChipSpec
    input_bits: int
    weight_bits: int
    output_level: float | None
    reported: dict[str, float | None]
    in_sample: bool
    data: str


@dataclass(frozen=True)
class MacroPreset:
    """A published macro: the chip that models it and the figures the paper reports."""

    id: str
    label: str
    citation: str
    kind: str
    device: str
    spec: ChipSpec
    macros: int
    input_bits: int
    weight_bits: int
    reported: dict[str, float | None]
    assumptions: tuple[str, ...]
    calibration_point: str
    points: tuple[OperatingPoint, ...]
    #: Spec fields calibrated on this macro's own calibration point (``calibrated`` in the preset).
    own_calibrated: tuple[str, ...] = ()
    #: The sign bit of the published input bits is a pulse polarity (``sign_as_polarity``): the
    #: array integrates max(1, input_bits - 1) magnitude bits.
    sign_as_polarity: bool = False
    #: Figures of the calibration point that the calibration fits (``fit_figures`` in the preset;
    #: default all of tops_per_w, tops_per_mm2 and area_mm2). A macro whose energy no fitted
    #: constant belongs to (Colonnade: NeuroSim's adder) fits only its area, so its energy stays
    #: a prediction and does not pull the constants of other macros.
    fit_figures: tuple[str, ...] = ("tops_per_w", "tops_per_mm2", "area_mm2")

    def array_input_bits(self, input_bits: int) -> int:
        """Input bits the array applies in time for a point of ``input_bits`` published bits."""
        return max(1, input_bits - 1) if self.sign_as_polarity else input_bits


def _yaml(package: str, name: str) -> Any:
    text = resources.files(package).joinpath(name).read_bytes()
    return parse_yaml(text, f"{package}/{name}", mapping=False)


_LEVEL = re.compile(r"output value (\d+) of (\d+)")


def _output_level(data: str) -> float | None:
    """Mean output level the paper's data condition states (None: not stated)."""
    m = _LEVEL.search(data or "")
    if m:
        return int(m.group(1)) / int(m.group(2))
    if "worst case" in (data or "") and "maximum" in (data or ""):
        return 1.0
    return None


def _points(pid: str, cfg: dict[str, Any], pub: dict[str, Any], spec: ChipSpec) -> tuple:
    """The modelled operating points of a macro (those with a supply and a reported figure).

    Per point: the supply scales the preset's voltage by supply / calibration supply; the clock
    is the point's published measurement clock (``frequency_mhz``) where the paper states one,
    an input like the supply (Colonnade: 100 MHz at every supply); otherwise it follows the
    alpha-power delay law from the calibration point's clock (so TOPS away from the calibration
    point is a prediction). A ``cycle_time_ns`` computed from the reported TOPS is never used
    (that would make TOPS agree by construction). The output bits set the ADC resolution.
    """
    raw = pub.get("operating_points") or []
    by_id = {p["id"]: p for p in raw}
    cal = by_id[cfg["calibration_point"]]
    v_cal = float(cal["supply_v"])
    c = load_constants()
    node = spec.technology.node_nm
    t_cal = spec.technology.cycle_time_ns
    flavour = TRANSISTORS.index(spec.technology.transistor)
    d_cal = float(delay_factor(node, spec.technology.voltage_v, c, flavour))
    out = []
    for p in raw:
        rep = {k: p.get(k) for k in ("tops", "tops_per_w", "tops_per_mm2")}
        if p.get("supply_v") is None or not any(rep.values()):
            continue
        v = spec.technology.voltage_v * float(p["supply_v"]) / v_cal
        cycle = t_cal * float(delay_factor(node, v, c, flavour)) / d_cal if t_cal else None
        if p.get("frequency_mhz"):
            cycle = 1000.0 / float(p["frequency_mhz"])
        data = spec.model_dump()
        data["technology"]["voltage_v"] = v
        data["technology"]["cycle_time_ns"] = cycle
        if p.get("output_bits") and spec.macro.kind == "analog":
            data["macro"]["adc_bits"] = int(p["output_bits"])
        # The macro's own mode at this point (e.g. one- vs two-phase), as the preset states it.
        data["macro"].update((cfg.get("point_macro") or {}).get(p["id"], {}))
        in_bits = int(p.get("input_bits") or cfg["input_bits"])
        out.append(
            OperatingPoint(
                id=p["id"],
                spec=ChipSpec.model_validate(data),
                input_bits=in_bits,
                weight_bits=int(p.get("weight_bits") or cfg["weight_bits"]),
                output_level=_output_level(str(p.get("data") or "")),
                reported=rep,
                in_sample=p["id"] == cfg["calibration_point"],
                data=str(p.get("data") or ""),
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def macro_presets() -> tuple[MacroPreset, ...]:
    """All presets, in file order."""
    published = {m["id"]: m for m in _yaml("cimkit.data", "published_macros.yaml")}
    out = []
    for pid, cfg in _yaml("cimkit.presets", "macros.yaml").items():
        pub = published[pid]
        rep = dict(pub.get("reported") or {})
        reported = {k: rep.get(k) for k in ("tops", "tops_per_w", "tops_per_mm2")}
        reported["area_mm2"] = pub.get("macro_area_mm2")
        macros = int(cfg.get("macros", 1))
        chip = dict(cfg["chip"])
        chip.setdefault("tile", {})
        chip["tile"] = {**chip["tile"], "macros_per_tile": macros}
        chip.setdefault("router", {"tiles_per_router": 1})
        chip.setdefault("chip", {"tile_groups": 1})
        # Macro-level figures: the array's own time, no buffer or NoC bandwidth bound.
        chip["chip"] = {
            **chip["chip"],
            "execution": "sequential",
            "glb_bandwidth_bits": None,
            "noc_bits": None,
        }
        spec = chip_from_dict({"name": pid, **chip}, f"presets/macros.yaml:{pid}")
        out.append(
            MacroPreset(
                id=pid,
                label=cfg["label"],
                citation=pub["citation"],
                kind=pub["kind"],
                device=pub["device"],
                spec=spec,
                macros=macros,
                input_bits=int(cfg["input_bits"]),
                weight_bits=int(cfg["weight_bits"]),
                reported=reported,
                assumptions=tuple(cfg.get("assumptions", ())),
                calibration_point=cfg["calibration_point"],
                points=_points(pid, cfg, pub, spec),
                own_calibrated=tuple(cfg.get("calibrated", ())),
                sign_as_polarity=bool(cfg.get("sign_as_polarity", False)),
                fit_figures=tuple(
                    cfg.get("fit_figures", ("tops_per_w", "tops_per_mm2", "area_mm2"))
                ),
            )
        )
    return tuple(out)


def get_preset(preset_id: str) -> MacroPreset:
    for p in macro_presets():
        if p.id == preset_id:
            return p
    raise KeyError(f"unknown macro preset {preset_id!r}; known: {[p.id for p in macro_presets()]}")


def _histogram(level: float | None) -> LayerHistogram:
    """Validation data: point masses at sqrt(level) for a stated output level, else uniform."""
    if level is None:
        inputs = np.where(CENTERS >= 0, 1.0, 0.0)
        weights = np.ones_like(CENTERS)
        return LayerHistogram(inputs, weights, source="validation: uniform")
    x = float(np.sqrt(level))
    k = int(np.argmin(np.abs(CENTERS - x)))
    p = np.zeros_like(CENTERS)
    p[k] = 1.0
    return LayerHistogram(p, p.copy(), source=f"validation: output level {level:g}")


def _filling_layer(spec: ChipSpec, macros: int, input_bits: int, weight_bits: int) -> Workload:
    """A linear layer whose weights fill every macro's array exactly."""
    m = spec.macro
    slices = -(-weight_bits // spec.device.bits_per_cell)
    readout = np.array(READOUT_CODES.index(m.readout))
    width = int(weight_columns(np.array(slices), readout, np.array(m.active_rows or m.rows)))
    out = macros * (m.cols // width)
    layer = make_layer(
        "fill",
        "linear",
        in_channels=m.rows,
        out_channels=out,
        out_h=TOKENS,
        weight_bits=weight_bits,
        act_bits=input_bits,
    )
    return Workload("fill", (layer,))


def predict_point(
    p: MacroPreset,
    point: OperatingPoint | None = None,
    constants: Constants | None = None,
    overrides: dict[str, float | None] | None = None,
) -> dict[str, float]:
    """Peak TOPS, TOPS/W, TOPS/mm^2 and macro area (mm^2) cimkit predicts for one point.

    ``point`` defaults to the calibration point; ``overrides`` replaces macro or device fields
    of the preset's chip by name (``readout_energy_scale``, ``cell_area_f2``; None = unset): a
    calibration run, or a leave-one-macro-out prediction without the macro's own calibration.
    """
    c = constants or load_constants()
    point = point or next(q for q in p.points if q.in_sample)
    spec = point.spec
    if overrides:
        data = spec.model_dump()
        for field, value in overrides.items():
            section = "macro" if field in data["macro"] else "device"
            data[section][field] = value
        spec = ChipSpec.model_validate(data)
    wl = _filling_layer(spec, p.macros, p.array_input_bits(point.input_bits), point.weight_bits)
    wl = wl.with_histograms({"fill": _histogram(point.output_level)})
    ev = evaluate(spec, wl, breakdown=True, constants=c)
    assert ev.layer_energy is not None and ev.layer_latency is not None
    energy = sum(float(ev.layer_energy[k].sum()) for k in MACRO_ENERGY)
    area_mm2 = sum(float(ev.area_by_component[k][0]) for k in MACRO_AREA) * 1e6
    seconds = float(ev.layer_latency[0, 0])
    ops = 2.0 * wl.total_macs
    tops = ops / seconds / 1e12
    return {
        "tops": tops,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": tops / area_mm2,
        "area_mm2": area_mm2,
    }


def validation_table(
    constants: Constants | None = None,
    overrides: dict[str, dict[str, float | None]] | None = None,
) -> pd.DataFrame:
    """One row per macro x operating point x reported figure: reported, predicted, error.

    ``in_sample`` marks the calibration point of each macro (at most one per macro); every other
    row is out of sample. ``overrides`` maps macro id -> fields replacing the preset's (see
    :func:`predict_point`; macros not named keep theirs).
    """
    rows = []
    overrides = overrides or {}
    for p in macro_presets():
        for point in p.points:
            pred = predict_point(p, point, constants, overrides.get(p.id))
            for metric in FIGURES:
                rep = point.reported.get(metric)
                if not rep:
                    continue
                rows.append(
                    {
                        "macro": p.id,
                        "kind": f"{p.kind} {p.device}",
                        "node_nm": p.spec.technology.node_nm,
                        "point": point.id,
                        "voltage_v": point.spec.technology.voltage_v,
                        "precision": f"{point.input_bits}b x {point.weight_bits}b",
                        "metric": metric,
                        "in_sample": point.in_sample,
                        "reported": float(rep),
                        "predicted": pred[metric],
                        "error": pred[metric] / float(rep) - 1.0,
                    }
                )
    return pd.DataFrame(rows)


def lomo_table() -> pd.DataFrame:
    """The committed leave-one-macro-out predictions (macro, point, metric, predicted, error)."""
    path = resources.files("cimkit.data").joinpath("validation_lomo.csv")
    if not path.is_file():
        return pd.DataFrame(columns=["macro", "point", "metric", "predicted", "error"])
    from io import StringIO

    return pd.read_csv(StringIO(path.read_text()), comment="#")
