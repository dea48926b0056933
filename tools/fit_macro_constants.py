"""Fit the `calibrated` constants of cimkit/data/constants.yaml to published macros.

Usage: .venv/bin/python tools/fit_macro_constants.py [--write] [--lomo]

Calibration uses ONE operating point per macro (``calibration_point`` in presets/macros.yaml):
scipy's bounded least squares on the squared log-ratio of predicted to reported TOPS/W,
TOPS/mm^2 and macro area at those points, each constant within 1/30x..30x of its `start` value
in constants.yaml (the literature value it was first set to; the search starts there too, so a
refit is reproducible). Every other operating point is out of sample.

Besides the shared constants, a macro may calibrate its own spec fields (``calibrated`` in its
preset; today ``macro.readout_energy_scale`` of the SAR macros): each SAR macro's ADC scale s_m
over the survey is fitted with the rest; then ``adc_energy_scale`` = the geometric mean of the
s_m (the typical in-macro SAR) and each macro keeps s_m / that mean.

Prints the in-sample and out-of-sample summary; with --lomo also refits once per macro without
that macro's calibration point and predicts all of its points (leave one macro out: its own
fields at 1, the shared ones, adc_energy_scale included, from the other macros only). With
--write, rewrites only the `value:` lines of the fitted constants in constants.yaml, the
per-macro fields in presets/macros.yaml and (with --lomo) data/validation_lomo.csv.
"""

from __future__ import annotations

import argparse
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from cimkit.cost.constants import load_constants, parse_constants
from cimkit.validation import macro_presets, predict_point, validation_table

CONSTANTS_FILE = Path(__file__).resolve().parents[1] / "src/cimkit/data/constants.yaml"
PRESETS_FILE = CONSTANTS_FILE.parents[1] / "presets/macros.yaml"
LOMO_FILE = CONSTANTS_FILE.with_name("validation_lomo.csv")
# (section, key) of every fitted constant; section 'constants' or a device name.
FITTED: tuple[tuple[str, str], ...] = (
    ("constants", "tree_fj_per_bit"),
    ("constants", "adc_area_scale"),
    ("constants", "wl_fj_per_cell"),
    ("constants", "comparator_fj"),
    ("constants", "if_step_fj"),
    ("sram", "read_energy_fj"),
    ("sram", "cell_area_f2"),
)
FIGURES = ("tops_per_w", "tops_per_mm2")
#: Weight of the prior at the literature value, per unit of log(constant / start).
PRIOR = 0.1


def _with(raw: dict, x: np.ndarray, adc_scale: float = 1.0) -> dict:
    new = copy.deepcopy(raw)
    for (section, key), val in zip(FITTED, x, strict=True):
        table = new["constants"] if section == "constants" else new["devices"][section]
        table[key]["value"] = float(val)
    new["constants"]["adc_energy_scale"]["value"] = float(adc_scale)
    return new


def own_scaled(skip: str | None = None) -> list[str]:
    """Ids of the macros that calibrate their own readout_energy_scale (``skip`` left out)."""
    return [
        p.id for p in macro_presets() if "readout_energy_scale" in p.own_calibrated and p.id != skip
    ]


def residuals(params: np.ndarray, raw: dict, x0: np.ndarray, skip: str | None = None) -> np.ndarray:
    """Log ratios predicted/reported at every calibration point (``skip``: leave that macro out).

    ``params``: log of the shared constants (:data:`FITTED`), then log s_m of each macro of
    :func:`own_scaled` (its SAR over the survey; adc_energy_scale held at 1 while fitting).
    """
    n = len(FITTED)
    c = parse_constants(_with(raw, np.exp(params[:n])))
    scales = dict(zip(own_scaled(skip), np.exp(params[n:]), strict=True))
    out = []
    for p in macro_presets():
        if p.id == skip:
            continue
        point = next(q for q in p.points if q.in_sample)
        pred = predict_point(p, point, c, scales.get(p.id))
        for f in FIGURES:
            rep = point.reported.get(f)
            if rep:
                out.append(np.log(pred[f] / rep))
        if p.reported.get("area_mm2"):
            out.append(np.log(pred["area_mm2"] / p.reported["area_mm2"]))
    # A weak prior at each shared constant's literature value (its `start`): with about as many
    # calibration figures as constants, directions the data do not fix (e.g. SRAM cell vs
    # wordline energy, which no calibration point separates) stay at the literature instead of
    # wandering to a bound. PRIOR = 0.1: a factor e from the literature costs what a 10 % misfit
    # of one figure costs. Chosen before looking at any out-of-sample row.
    out.extend(PRIOR * (params[:n] - np.log(x0)))
    return np.array(out)


@dataclass(frozen=True)
class Fit:
    """A calibration: shared constants, adc_energy_scale and each own-scaled macro's field."""

    x: np.ndarray  # (len(FITTED),) shared constants
    adc_scale: float  # geometric mean of the s_m
    own: dict[str, float]  # macro id -> s_m / adc_scale

    def constants(self, raw: dict):  # type: ignore[no-untyped-def]
        return parse_constants(_with(raw, self.x, self.adc_scale))


def fit(raw: dict, x0: np.ndarray, skip: str | None = None) -> Fit:
    ids = own_scaled(skip)
    p0 = np.concatenate([np.log(x0), np.zeros(len(ids))])
    lo = np.concatenate([np.log(x0 / 30), np.full(len(ids), np.log(1 / 30))])
    hi = np.concatenate([np.log(x0 * 30), np.full(len(ids), np.log(30))])
    res = least_squares(residuals, p0, args=(raw, x0, skip), bounds=(lo, hi))
    n = len(FITTED)
    s = np.exp(res.x[n:])
    g = float(np.exp(np.log(s).mean())) if len(s) else 1.0
    return Fit(np.exp(res.x[:n]), g, {m: float(v / g) for m, v in zip(ids, s, strict=True)})


def summary(frame, label: str) -> str:  # type: ignore[no-untyped-def]
    e = frame["error"].abs()
    return (
        f"{label}: {len(e)} rows, median |error| {e.median():.1%}, worst {e.max():.1%}, "
        f"within 15 %: {(e <= 0.15).mean():.0%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite constants.yaml values")
    ap.add_argument("--lomo", action="store_true", help="also run leave-one-macro-out")
    args = ap.parse_args()
    raw = load_constants().raw
    # Start (and bound the search) from each constant's recorded `start` value, not from the last
    # fit's `value`, so that refitting is reproducible instead of drifting toward the bounds.
    x0 = np.array(
        [
            float((entry := (raw["constants"] if s == "constants" else raw["devices"][s])[k])
                  .get("start", entry["value"]))
            for s, k in FITTED
        ]
    )  # fmt: skip
    f = fit(raw, x0)
    for (s, k), a, b in zip(FITTED, x0, f.x, strict=True):
        print(f"  {s}.{k}: {a:.4g} -> {b:.4g}")
    print(f"  constants.adc_energy_scale: -> {f.adc_scale:.4g}")
    for m, v in f.own.items():
        print(f"  {m}: macro.readout_energy_scale -> {v:.4g}")
    c = f.constants(raw)
    table = validation_table(c, f.own)
    print(summary(table[table.in_sample], "in sample (calibration points)"))
    print(summary(table[~table.in_sample], "out of sample"))
    if args.lomo:
        rows = []
        for p in macro_presets():
            fx = fit(raw, x0, skip=p.id)
            # The left-out macro has no calibration of its own: its field at 1 (typical SAR).
            t = validation_table(fx.constants(raw), {p.id: 1.0})
            rows.append(t[t.macro == p.id])
            print(summary(rows[-1], f"  leave out {p.id}"))
        import pandas as pd

        lomo = pd.concat(rows)
        print(summary(lomo, "leave-one-macro-out, all points"))
        if args.write:
            LOMO_FILE.write_text(
                "# Leave-one-macro-out predictions written by tools/fit_macro_constants.py --lomo "
                "--write: each macro predicted by constants fitted without it.\n"
                + lomo[["macro", "point", "metric", "predicted", "error"]].to_csv(index=False)
            )
            print(f"wrote {LOMO_FILE}")
    if args.write:
        text = CONSTANTS_FILE.read_text()
        fitted = [*zip(FITTED, f.x, strict=True), (("constants", "adc_energy_scale"), f.adc_scale)]
        for (s, k), v in fitted:
            indent = "  " if s == "constants" else "    "
            start = text.index(f"\n  {s}:\n") if s != "constants" else text.index("\nconstants:\n")
            pos = text.index(f"\n{indent}{k}:\n", start)
            m = re.compile(r"value: [^\n]+").search(text, pos)
            assert m is not None
            text = text[: m.start()] + f"value: {v:.4g}" + text[m.end() :]
        CONSTANTS_FILE.write_text(text)
        print(f"wrote {CONSTANTS_FILE}")
        text = PRESETS_FILE.read_text()
        for macro_id, v in f.own.items():
            start = text.index(f"\n{macro_id}:\n")
            m = re.compile(r"readout_energy_scale: [0-9.eE+-]+").search(text, start)
            assert m is not None, macro_id
            text = text[: m.start()] + f"readout_energy_scale: {v:.4g}" + text[m.end() :]
        PRESETS_FILE.write_text(text)
        print(f"wrote {PRESETS_FILE}")


if __name__ == "__main__":
    main()
