"""Sweep crossbar size and ADC resolution for MobileNetV2 on the baseline RRAM chip.

Run:  .venv/bin/python examples/sweep_array_size.py [--out runs/sweep]

Evaluates every (rows = cols, adc_bits) pair in one vectorized call, writes the table as CSV and
Parquet, and plots energy, latency and area against array size (one line per ADC resolution) to
sweep.png. Infeasible designs (weights that do not fit, area above 800 mm^2) are left out of the
plot and listed with their reason.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cimkit  # noqa: E402
from cimkit.cost import DesignTable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/sweep"))
    args = ap.parse_args()
    chip = cimkit.load_chip(ROOT / "examples/chips/rram_baseline.yaml")
    net = cimkit.get_network("mobilenetv2")
    sizes, adcs = [64, 128, 256, 512, 1024], [4, 5, 6, 7, 8]
    grid = list(itertools.product(sizes, adcs))
    designs = DesignTable.from_arrays(
        chip,
        {
            "rows": [s for s, _ in grid],
            "cols": [s for s, _ in grid],
            "adc_bits": [a for _, a in grid],
        },
        names=[f"xbar{s}-adc{a}" for s, a in grid],
    )
    ev = cimkit.evaluate(designs, net)
    table = ev.to_frame()
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "sweep.csv", index=False)
    table.to_parquet(args.out / "sweep.parquet", index=False)

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for a in adcs:
        sel = table[(table["adc_bits"] == a) & table["feasible"]]
        for ax, col, scale, label in zip(
            axes,
            ("energy_j", "latency_s", "area_mm2"),
            (1e3, 1e6, 1.0),
            ("energy (mJ)", "latency (us)", "area (mm^2)"),
            strict=True,
        ):
            ax.plot(sel["rows"], sel[col] * scale, marker="o", label=f"{a}-bit ADC")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("crossbar rows = cols")
            ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{net.name} on {chip.name}: array size x ADC resolution")
    fig.tight_layout()
    fig.savefig(args.out / "sweep.png", dpi=120)
    print(table[["design", "energy_j", "latency_s", "area_mm2", "edap_j_s_m2", "feasible"]])
    for name, reason in zip(table["design"], ev.reasons, strict=True):
        if reason:
            print(f"infeasible {name}: {reason}")
    print(f"wrote {args.out / 'sweep.csv'}, sweep.parquet and sweep.png")


if __name__ == "__main__":
    main()
