"""Fit the `calibrated` constants of cimkit/data/constants.yaml to the published macros.

Usage: .venv/bin/python tools/fit_macro_constants.py [--write] [--loo]

Minimizes the squared log-ratio of predicted to reported figures (TOPS/W, TOPS/mm^2, macro area;
TOPS is fixed by each preset's cycle time) with scipy's bounded least squares, each constant
allowed within 1/30x..30x of its literature starting value. Prints before/after tables; with
--write, rewrites only the `value:` lines of the fitted constants in constants.yaml.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from cimkit.cost.constants import load_constants, parse_constants
from cimkit.validation import macro_presets, predict_macro

CONSTANTS_FILE = Path(__file__).resolve().parents[1] / "src/cimkit/data/constants.yaml"
# (section, key) of every fitted constant; section 'constants' or a device name.
FITTED: tuple[tuple[str, str], ...] = (
    ("constants", "adc_fj_per_step"),
    ("constants", "tree_fj_per_bit"),
    ("constants", "adc_area_um2_fixed"),
    ("constants", "adc_area_um2_per_step"),
    ("constants", "row_fj_per_col"),
    ("constants", "row_driver_area_um2"),
    ("constants", "fa_area_um2"),
    ("sram", "read_energy_fj"),
    ("sram", "cell_area_f2"),
)
FIGURES = ("tops_per_w", "tops_per_mm2", "area_mm2")


def _with(raw: dict, x: np.ndarray) -> dict:
    new = copy.deepcopy(raw)
    for (section, key), val in zip(FITTED, x, strict=True):
        table = new["constants"] if section == "constants" else new["devices"][section]
        table[key]["value"] = float(val)
    return new


def figures() -> list[tuple[str, str]]:
    """(macro, figure) pairs with a reported value, in a fixed order."""
    return [(p.id, f) for p in macro_presets() for f in FIGURES if p.reported.get(f)]


def residuals(logx: np.ndarray, raw: dict, skip: int | None = None) -> np.ndarray:
    """Log ratios predicted/reported of every figure (``skip``: leave that one out)."""
    c = parse_constants(_with(raw, np.exp(logx)))
    out = []
    for p in macro_presets():
        pred = predict_macro(p, c)
        for f in FIGURES:
            rep = p.reported.get(f)
            if rep:
                out.append(np.log(pred[f] / rep))
    res = np.array(out)
    return res if skip is None else np.delete(res, skip)


def leave_one_out(raw: dict, x0: np.ndarray) -> list[float]:
    """Error of each figure predicted by constants fitted to all the other figures."""
    errors = []
    for k in range(len(figures())):
        fit = least_squares(
            residuals, np.log(x0), args=(raw, k), bounds=(np.log(x0 / 30), np.log(x0 * 30))
        )
        errors.append(float(np.expm1(residuals(fit.x, raw)[k])))
    return errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite constants.yaml values")
    ap.add_argument(
        "--loo", action="store_true", help="also print leave-one-out errors (one refit per figure)"
    )
    args = ap.parse_args()
    raw = load_constants().raw
    x0 = np.array(
        [
            (raw["constants"] if s == "constants" else raw["devices"][s])[k]["value"]
            for s, k in FITTED
        ]
    )
    r0 = residuals(np.log(x0), raw)
    fit = least_squares(
        residuals, np.log(x0), args=(raw,), bounds=(np.log(x0 / 30), np.log(x0 * 30))
    )
    x = np.exp(fit.x)
    print("figure errors before: " + " ".join(f"{np.expm1(r):+.1%}" for r in r0))
    print("figure errors after:  " + " ".join(f"{np.expm1(r):+.1%}" for r in fit.fun))
    for (s, k), a, b in zip(FITTED, x0, x, strict=True):
        print(f"  {s}.{k}: {a:.4g} -> {b:.4g}")
    if args.loo:
        print("leave-one-out (each figure predicted by a fit to the others):")
        for (macro, fig), err in zip(figures(), leave_one_out(raw, x0), strict=True):
            print(f"  {macro} {fig}: {err:+.1%}")
    if args.write:
        text = CONSTANTS_FILE.read_text()
        for (s, k), v in zip(FITTED, x, strict=True):
            # The entry's block starts at '  key:' (constants) or '    key:' (devices).
            indent = "  " if s == "constants" else "    "
            if s != "constants":
                start = text.index(f"\n  {s}:\n")
            else:
                start = text.index("\nconstants:\n")
            pos = text.index(f"\n{indent}{k}:\n", start)
            m = re.compile(r"value: [^\n]+").search(text, pos)
            assert m is not None
            text = text[: m.start()] + f"value: {v:.4g}" + text[m.end() :]
        CONSTANTS_FILE.write_text(text)
        print(f"wrote {CONSTANTS_FILE}")


if __name__ == "__main__":
    main()
