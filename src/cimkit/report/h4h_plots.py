"""Figures of the H4H-NAS report (:mod:`cimkit.report.h4h`): Fig. 7 / 11 frontiers per system,
Fig. 8 recipes, Fig. 9 ViT / IRB ratio of searched networks. PNG files, matplotlib (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cimkit.search.h4h import frontier

#: The paper's band of searched ViT / IRB ratios ("2-5 ViT combined with 10 IRB", Fig. 9).
RATIO_BAND = (0.2, 0.5)


def _frontier_plot(ax: Any, d: Any, col: str, scale: float, label: str) -> None:
    c, a = frontier(d[col].to_numpy() * scale, 100 * d["test_acc"].to_numpy())
    ax.step(c, a, where="post", marker="o", ms=3, label=label)


def write_all(out: Path, sdf: Any, fig8: Any) -> list[str]:
    """Write every figure into ``out``; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    panels = (
        ("fig7_latency.png", "latency", ["npu", "npu+1", "npu+4", "npu+8"], "latency_s", 1e3,
         "latency (ms)"),
        ("fig7_energy.png", "energy", ["npu", "npu+1", "npu+4", "npu+8"], "energy_j", 1e3,
         "energy (mJ)"),
        ("fig11_energy_cu.png", "energy", ["npu", "npu+1", "npu+1x4cu", "npu+4x4cu", "npu+8x4cu"],
         "energy_j", 1e3, "energy (mJ)"),
    )  # fmt: skip
    for name, objective, systems, col, scale, xlabel in panels:
        d = sdf[sdf.objective == objective]
        if d.empty:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for s in systems:
            g = d[d.system == s]
            if len(g):
                _frontier_plot(ax, g, col, scale, s)
        ax.set_xscale("log")
        ax.set_xlabel(f"{xlabel}, ImageNet-scale network on the system")
        ax.set_ylabel("test accuracy (%), Fashion-MNIST proxy")
        ax.set_title(f"{objective}-constrained search: best accuracy per budget")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        files.append(name)
    if fig8 is not None and len(fig8):
        fig, ax = plt.subplots(figsize=(6, 4))
        for recipe, g in fig8.groupby("recipe", sort=False):
            c, a = frontier(g["latency_s"].to_numpy() * 1e3, 100 * g["val_acc"].to_numpy())
            ax.step(c, a, where="post", marker="o", ms=3, label=recipe)
        ax.set_xscale("log")
        ax.set_xlabel("latency on the NPU-only system (ms)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title("Fig. 8 analogue: training recipes on one candidate set")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "fig8_recipes.png", dpi=120)
        plt.close(fig)
        files.append("fig8_recipes.png")
    if len(sdf):
        ratio = sdf["vit_blocks"].to_numpy() / np.maximum(sdf["mb_blocks"].to_numpy(), 1)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(ratio, bins=np.linspace(0, max(1.0, float(ratio.max())) + 1e-9, 21))
        ax.axvspan(*RATIO_BAND, color="orange", alpha=0.2, label="paper: 2-5 ViT per 10 IRB")
        ax.set_xlabel("ViT blocks / IRB (MBConv) blocks of searched networks")
        ax.set_ylabel("searched networks")
        ax.set_title("Fig. 9 analogue")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "fig9_ratio.png", dpi=120)
        plt.close(fig)
        files.append("fig9_ratio.png")
    return files
