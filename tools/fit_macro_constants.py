"""Fit the `calibrated` constants of cimkit/data/constants.yaml to published macros.

Usage: .venv/bin/python tools/fit_macro_constants.py [--write] [--lomo]

Calibration uses ONE operating point per macro (``calibration_point`` in presets/macros.yaml):
scipy's bounded least squares on the squared log-ratio of predicted to reported TOPS/W,
TOPS/mm^2 and macro area at those points, plus a weak prior (PRIOR) at each constant's `start`
value in constants.yaml: the literature value its `source` describes, never a fitted one (the
search starts there too, so a refit is reproducible, and a macro left out falls back to the
literature). Every other operating point is out of sample.

Besides the shared constants, a macro may calibrate its own spec fields (``calibrated`` in its
preset, see :data:`OWN`): ``macro.readout_energy_scale`` of the SAR macros and
``device.cell_area_f2`` of the SRAM compute macros, fitted with the rest. The shared constant
of each (``adc_energy_scale``, devices.sram ``cell_area_f2``) becomes the geometric mean of the
macros' values; presets keep readout_energy_scale relative to that mean and cell_area_f2 as is.

Prints the in-sample and out-of-sample summary; with --lomo also refits once per macro without
that macro's calibration point and predicts all of its points (leave one macro out: without its
own fields, the shared constants and means from the other macros only). With --write, rewrites
only the `value:` lines of the fitted constants in constants.yaml, the per-macro fields in
presets/macros.yaml and (with --lomo) data/validation_lomo.csv. A full --lomo run takes ~5 min.
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
    ("constants", "wl_fj_per_cell"),
    ("constants", "comparator_fj"),
    ("sram", "read_energy_fj"),
)
# Not fitted: tree_fj_per_bit (Colonnade is the only digital macro; it is NeuroSim's adder, and
# Colonnade's calibration point agrees with it within 15 % once its guard columns are modelled);
# if_step_fj (only NeuRRAM has an integrate-and-fire readout, so a shared fit swung
# it 226x between leave-one-out folds: 2258 fJ with NeuRRAM in, its 10 fJ start without). It is
# derived from a component library instead (constants.yaml), and NeuRRAM's deviation from that
# model is its own readout_energy_scale (OWN), which a left-out NeuRRAM does not get.
#: Spec fields a macro may calibrate on its own calibration point (``calibrated`` in its
#: preset) -> (the shared constant that is the geometric mean of the macros' own values,
#: whether the preset stores the value relative to that mean, start value, the value a
#: left-out macro gets). readout_energy_scale multiplies adc_energy_scale, so it is stored
#: relative to it (and a left-out macro has 1: the typical SAR); cell_area_f2 is stored as it is
#: (a left-out macro has none and takes the table's value, the mean of the others).
OWN: dict[str, tuple[tuple[str, str], bool, float, float | None]] = {
    "readout_energy_scale": (("constants", "adc_energy_scale"), True, 1.0, 1.0),
    "cell_area_f2": (("sram", "cell_area_f2"), False, 300.0, None),
}
#: Readout kinds whose per-macro readout_energy_scale is pooled into adc_energy_scale (the SAR
#: survey scale); another kind's own scale is relative to its own model and stored as it is.
POOLED_READOUTS = ("sar",)
#: Search range of an own field around its start (a factor; readout_energy_scale's spec bound
#: is 100).
OWN_SPAN = {"readout_energy_scale": 100.0, "cell_area_f2": 30.0}
FIGURES = ("tops_per_w", "tops_per_mm2")
#: Weight of the prior at the literature value, per unit of log(constant / start).
PRIOR = 0.01
#: Search range of each shared constant around its literature value (the prior keeps the fit
#: well posed; the range only guards against numerical runaways).
SPAN = 1000.0


def _table(raw: dict, section: str) -> dict:
    return raw["constants"] if section == "constants" else raw["devices"][section]


def _with(raw: dict, x: np.ndarray, shared: dict[tuple[str, str], float] | None = None) -> dict:
    """A copy of the raw constants with the fitted values (and derived shared ones) set."""
    new = copy.deepcopy(raw)
    for (section, key), val in zip(FITTED, x, strict=True):
        _table(new, section)[key]["value"] = float(val)
    # While fitting, the shared value of a relative field is 1 (the macros carry it all).
    for where, relative, _, _ in OWN.values():
        if relative:
            _table(new, where[0])[where[1]]["value"] = 1.0
    for (section, key), val in (shared or {}).items():
        _table(new, section)[key]["value"] = float(val)
    return new


def own_fields(skip: str | None = None) -> list[tuple[str, str]]:
    """(macro id, field) of every own calibration (``skip``: that macro left out)."""
    return [
        (p.id, f) for p in macro_presets() if p.id != skip for f in p.own_calibrated if f in OWN
    ]


def residuals(params: np.ndarray, raw: dict, x0: np.ndarray, skip: str | None = None) -> np.ndarray:
    """Log ratios predicted/reported at every calibration point (``skip``: leave that macro out).

    ``params``: log of the shared constants (:data:`FITTED`), then the log of each own field of
    :func:`own_fields` (relative fields with their shared constant held at 1).
    """
    n = len(FITTED)
    c = parse_constants(_with(raw, np.exp(params[:n])))
    own: dict[str, dict[str, float | None]] = {}
    for (macro, field), v in zip(own_fields(skip), np.exp(params[n:]), strict=True):
        own.setdefault(macro, {})[field] = float(v)
    out = []
    for p in macro_presets():
        if p.id == skip:
            continue
        point = next(q for q in p.points if q.in_sample)
        pred = predict_point(p, point, c, own.get(p.id))
        for f in FIGURES:
            rep = point.reported.get(f)
            if rep and f in p.fit_figures:
                out.append(np.log(pred[f] / rep))
        if p.reported.get("area_mm2") and "area_mm2" in p.fit_figures:
            out.append(np.log(pred["area_mm2"] / p.reported["area_mm2"]))
    # A weak prior at each shared constant's literature value (its `start`): with about as many
    # calibration figures as constants, directions the data do not fix (e.g. SRAM cell vs
    # wordline energy, which no calibration point separates) stay at the literature instead of
    # wandering to a bound; and a macro left out falls back to the literature, not to a fit that
    # saw it. PRIOR = 0.01: a factor e from the literature costs what a 1 % misfit of one figure
    # costs, so the calibration points still decide every constant they constrain.
    out.extend(PRIOR * (params[:n] - np.log(x0)))
    return np.array(out)


@dataclass(frozen=True)
class Fit:
    """A calibration: shared constants, derived shared means and every macro's own fields."""

    x: np.ndarray  # (len(FITTED),) shared constants
    shared: dict[tuple[str, str], float]  # derived: geometric means of the own values
    own: dict[str, dict[str, float | None]]  # macro id -> field -> value as the preset stores it

    def constants(self, raw: dict):  # type: ignore[no-untyped-def]
        return parse_constants(_with(raw, self.x, self.shared))


def fit(raw: dict, x0: np.ndarray, skip: str | None = None) -> Fit:
    fields = own_fields(skip)
    starts = np.log([OWN[f][2] for _, f in fields])
    span = np.log([OWN_SPAN[f] for _, f in fields])
    p0 = np.concatenate([np.log(x0), starts])
    lo = np.concatenate([np.log(x0 / SPAN), starts - span])
    hi = np.concatenate([np.log(x0 * SPAN), starts + span])
    res = least_squares(residuals, p0, args=(raw, x0, skip), bounds=(lo, hi))
    n = len(FITTED)
    values = dict(zip(fields, np.exp(res.x[n:]), strict=True))
    shared: dict[tuple[str, str], float] = {}
    own: dict[str, dict[str, float | None]] = {}
    pooled = {p.id for p in macro_presets() if p.spec.macro.readout in POOLED_READOUTS}
    for field, (where, relative, _, _) in OWN.items():
        mine = {m: v for (m, f), v in values.items() if f == field}
        pool = {m: v for m, v in mine.items() if not relative or m in pooled}
        g = float(np.exp(np.mean(np.log(list(pool.values()))))) if pool else None
        if g is not None:
            shared[where] = g
        for m, v in mine.items():
            rel = relative and g and m in pool
            own.setdefault(m, {})[field] = float(v / g) if rel else float(v)
    return Fit(np.exp(res.x[:n]), shared, own)


def left_out(macro_id: str) -> dict[str, float | None]:
    """The own fields of a macro predicted without its calibration (leave one macro out)."""
    p = next(q for q in macro_presets() if q.id == macro_id)
    return {f: OWN[f][3] for f in p.own_calibrated if f in OWN}


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
    for (s, k), v in f.shared.items():
        print(f"  {s}.{k} (geometric mean of the macros' own): -> {v:.4g}")
    for m, fields in f.own.items():
        for k, v in fields.items():
            print(f"  {m}: {k} -> {v:.4g}")
    c = f.constants(raw)
    table = validation_table(c, f.own)
    print(summary(table[table.in_sample], "in sample (calibration points)"))
    print(summary(table[~table.in_sample], "out of sample"))
    if args.lomo:
        rows = []
        for p in macro_presets():
            fx = fit(raw, x0, skip=p.id)
            # The left-out macro has no calibration of its own (left_out); the shared values,
            # derived means included, come from the other macros only.
            t = validation_table(fx.constants(raw), {**fx.own, p.id: left_out(p.id)})
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
        for (s, k), v in [*zip(FITTED, f.x, strict=True), *f.shared.items()]:
            indent = "  " if s == "constants" else "    "
            start = text.index(f"\n  {s}:\n") if s != "constants" else text.index("\nconstants:\n")
            pos = text.index(f"\n{indent}{k}:\n", start)
            m = re.compile(r"value: [^\n]+").search(text, pos)
            assert m is not None
            text = text[: m.start()] + f"value: {v:.4g}" + text[m.end() :]
        CONSTANTS_FILE.write_text(text)
        print(f"wrote {CONSTANTS_FILE}")
        text = PRESETS_FILE.read_text()
        for macro_id, fields in f.own.items():
            start = text.index(f"\n{macro_id}:\n")
            for k, v in fields.items():
                m = re.compile(rf"{k}: [0-9.eE+-]+").search(text, start)
                assert m is not None, (macro_id, k)
                text = text[: m.start()] + f"{k}: {v:.4g}" + text[m.end() :]
        PRESETS_FILE.write_text(text)
        print(f"wrote {PRESETS_FILE}")


if __name__ == "__main__":
    main()
