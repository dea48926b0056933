"""Golden comparison of the cost model with published silicon macros.

Each preset (``presets/macros.yaml``) describes one macro as a cimkit chip of a single macro plus
the precision of the paper's headline figures; the reported figures come from
``data/published_macros.yaml``. The macro is driven by a linear layer that fills its array
exactly, so every cell and converter works on every cycle (peak throughput), with the default
activation/weight distributions. Only macro components count (cells, drivers, converters, adder
trees, shift-add), as in the papers' macro-level figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cimkit.cost.constants import Constants, load_constants
from cimkit.cost.designs import DesignTable
from cimkit.cost.mapping import map_layers
from cimkit.cost.model import evaluate
from cimkit.specs.chip import ChipSpec
from cimkit.specs.io import chip_from_dict
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload

MACRO_ENERGY = ("cells", "row_drivers", "adc", "adder_tree", "shift_add")
MACRO_AREA = ("cells", "adc", "row_drivers", "shift_add", "adder_tree")
METRIC_NAMES = ("tops", "tops_per_w", "tops_per_mm2", "area_mm2")
#: Relative tolerance the golden tests hold for every reported figure.
TOLERANCE = 0.25
TOKENS = 256


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


def _yaml(package: str, name: str) -> Any:
    return yaml.safe_load(resources.files(package).joinpath(name).read_text())


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
        chip["tile"] = {**chip["tile"], "macros": macros}
        chip.setdefault("router", {"tiles": 1})
        chip.setdefault("chip", {"tile_groups": 1})
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
            )
        )
    return tuple(out)


def get_preset(preset_id: str) -> MacroPreset:
    for p in macro_presets():
        if p.id == preset_id:
            return p
    raise KeyError(f"unknown macro preset {preset_id!r}; known: {[p.id for p in macro_presets()]}")


def _filling_layer(p: MacroPreset) -> Workload:
    """A linear layer whose weights fill every macro's array exactly."""
    m = p.spec.macro
    slices = -(-p.weight_bits // p.spec.device.bits_per_cell)
    out = p.macros * m.cols // slices
    layer = make_layer(
        "fill",
        "linear",
        in_channels=m.rows,
        out_channels=out,
        out_h=TOKENS,
        weight_bits=p.weight_bits,
        act_bits=p.input_bits,
    )
    return Workload(p.id, (layer,))


def predict_macro(p: MacroPreset, constants: Constants | None = None) -> dict[str, float]:
    """Peak TOPS, TOPS/W, TOPS/mm^2 and macro area (mm^2) that cimkit predicts for ``p``."""
    c = constants or load_constants()
    wl = _filling_layer(p)
    ev = evaluate(p.spec, wl, breakdown=True, constants=c)
    assert ev.layer_energy is not None
    energy = sum(float(ev.layer_energy[k].sum()) for k in MACRO_ENERGY)
    area_mm2 = sum(float(ev.area_by_component[k][0]) for k in MACRO_AREA) * 1e6
    table = DesignTable.from_specs(p.spec)
    d = {k: v[:, None] for k, v in table.values.items()}
    m = map_layers(d, wl.arrays())
    seconds = TOKENS * float(m.cycles_per_vector[0, 0]) * p.spec.technology.cycle_time_ns * 1e-9
    ops = 2.0 * wl.total_macs
    tops = ops / seconds / 1e12
    return {
        "tops": tops,
        "tops_per_w": ops / energy / 1e12,
        "tops_per_mm2": tops / area_mm2,
        "area_mm2": area_mm2,
    }


def validation_table(constants: Constants | None = None) -> pd.DataFrame:
    """One row per preset x reported figure: reported, predicted, relative error."""
    rows = []
    for p in macro_presets():
        pred = predict_macro(p, constants)
        for metric in METRIC_NAMES:
            rep = p.reported.get(metric)
            rows.append(
                {
                    "macro": p.id,
                    "kind": f"{p.kind} {p.device}",
                    "node_nm": p.spec.technology.node_nm,
                    "precision": f"{p.input_bits}b x {p.weight_bits}b",
                    "metric": metric,
                    "reported": rep,
                    "predicted": pred[metric],
                    "error": (pred[metric] / rep - 1.0) if rep else np.nan,
                }
            )
    return pd.DataFrame(rows)
