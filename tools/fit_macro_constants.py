"""Fit the `calibrated` constants of cimkit/data/constants.yaml to published macros.

Usage: .venv/bin/python tools/fit_macro_constants.py [--write] [--lomo]

Calibration uses ONE operating point per macro (``calibration_point`` in presets/macros.yaml):
scipy's bounded least squares on the squared log-ratio of predicted to reported TOPS/W,
TOPS/mm^2 and macro area at those points, each constant within 1/30x..30x of its `start` value
in constants.yaml (the literature value it was first set to; the search starts there too, so a
refit is reproducible). Every other operating point is out of sample. Prints the in-sample and
out-of-sample summary; with --lomo also refits once per macro without that macro's calibration
point and predicts all of its points (leave one macro out). With --write, rewrites only the
`value:` lines of the fitted constants in constants.yaml.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from cimkit.cost.constants import load_constants, parse_constants
from cimkit.validation import macro_presets, predict_point, validation_table

CONSTANTS_FILE = Path(__file__).resolve().parents[1] / "src/cimkit/data/constants.yaml"
LOMO_FILE = CONSTANTS_FILE.with_name("validation_lomo.csv")
# (section, key) of every fitted constant; section 'constants' or a device name.
FITTED: tuple[tuple[str, str], ...] = (
    ("constants", "adc_fom_walden_fj"),
    ("constants", "tree_fj_per_bit"),
    ("constants", "adc_area_um2_fixed"),
    ("constants", "wl_fj_per_cell"),
    ("constants", "comparator_fj"),
    ("constants", "if_step_fj"),
    ("sram", "read_energy_fj"),
    ("sram", "cell_area_f2"),
)
FIGURES = ("tops_per_w", "tops_per_mm2")


def _with(raw: dict, x: np.ndarray) -> dict:
    new = copy.deepcopy(raw)
    for (section, key), val in zip(FITTED, x, strict=True):
        table = new["constants"] if section == "constants" else new["devices"][section]
        table[key]["value"] = float(val)
    return new


def residuals(logx: np.ndarray, raw: dict, skip: str | None = None) -> np.ndarray:
    """Log ratios predicted/reported at every calibration point (``skip``: leave that macro out)."""
    c = parse_constants(_with(raw, np.exp(logx)))
    out = []
    for p in macro_presets():
        if p.id == skip:
            continue
        point = next(q for q in p.points if q.in_sample)
        pred = predict_point(p, point, c)
        for f in FIGURES:
            rep = point.reported.get(f)
            if rep:
                out.append(np.log(pred[f] / rep))
        if p.reported.get("area_mm2"):
            out.append(np.log(pred["area_mm2"] / p.reported["area_mm2"]))
    return np.array(out)


def fit(raw: dict, x0: np.ndarray, skip: str | None = None) -> np.ndarray:
    res = least_squares(
        residuals, np.log(x0), args=(raw, skip), bounds=(np.log(x0 / 30), np.log(x0 * 30))
    )
    return np.exp(res.x)


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
    x = fit(raw, x0)
    for (s, k), a, b in zip(FITTED, x0, x, strict=True):
        print(f"  {s}.{k}: {a:.4g} -> {b:.4g}")
    c = parse_constants(_with(raw, x))
    table = validation_table(c)
    print(summary(table[table.in_sample], "in sample (calibration points)"))
    print(summary(table[~table.in_sample], "out of sample"))
    if args.lomo:
        rows = []
        for p in macro_presets():
            cx = parse_constants(_with(raw, fit(raw, x0, skip=p.id)))
            t = validation_table(cx)
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
        for (s, k), v in zip(FITTED, x, strict=True):
            indent = "  " if s == "constants" else "    "
            start = text.index(f"\n  {s}:\n") if s != "constants" else text.index("\nconstants:\n")
            pos = text.index(f"\n{indent}{k}:\n", start)
            m = re.compile(r"value: [^\n]+").search(text, pos)
            assert m is not None
            text = text[: m.start()] + f"value: {v:.4g}" + text[m.end() :]
        CONSTANTS_FILE.write_text(text)
        print(f"wrote {CONSTANTS_FILE}")


if __name__ == "__main__":
    main()
