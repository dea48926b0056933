"""Report data of PIM-HLS: latency versus area constraint (the paper's Fig. 5 and Fig. 6).

For every network and area constraint, each design family is optimized three ways:

* ``<family>-G``: no scheduling optimization, the greedy "as many layers as fit" grouping (with
  the same duplication), no parameter tuning: the baseline;
* ``<family>-S``: DP scheduling only;
* ``<family>-SP``: DP scheduling and fine-grained parameter optimization.

Families: ``RRAM`` and ``SRAM`` (homogeneous) and ``Hetero`` (SRAM + RRAM chosen per layer by the
criteria). A constraint too small for some layer gives a row with ``feasible`` False and the
reason. :func:`plot_sweep` writes the table as CSV and draws latency versus area per network
(Fig. 5 style) and the speedups of -S and -SP over the greedy baseline (Fig. 6(b) style).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cimkit.errors import InfeasibleDesignError
from cimkit.pimhls.optimize import optimize_levels, schedule_summary
from cimkit.specs.chip import ChipSpec
from cimkit.workload.builtin import get_network
from cimkit.workload.table import Workload

#: The paper's networks.
NETWORKS: tuple[str, ...] = ("vgg8", "resnet18")
#: Area constraints swept (mm^2): from below the smallest feasible RRAM design of VGG-8 to
#: resident heterogeneous designs; 16 and 40 are the paper's edge and baseline-sized points.
DEFAULT_AREAS_MM2: tuple[float, ...] = (8, 12, 16, 24, 40, 64, 100, 160, 250, 400)
#: Design families: label -> technologies.
FAMILIES: dict[str, tuple[str, ...]] = {
    "RRAM": ("rram",),
    "SRAM": ("sram",),
    "Hetero": ("sram", "rram"),
}
#: Optimization levels: G greedy grouping, S DP scheduling, SP DP + parameter tuning.
LEVELS: tuple[str, ...] = ("G", "S", "SP")

SWEEP_COLUMNS: tuple[str, ...] = (
    "network",
    "family",
    "level",
    "design",
    "area_budget_mm2",
    "feasible",
    "reason",
    "cycles",
    "latency_s",
    "throughput_inf_s",
    "compute_cycles",
    "write_cycles",
    "fill_cycles",
    "groups",
    "input_pieces",
    "area_mm2",
    "write_energy_pj",
    "assignment",
    "speedup_vs_greedy",
)


def sweep(
    networks: Sequence[str | Workload] = NETWORKS,
    areas_mm2: Iterable[float] = DEFAULT_AREAS_MM2,
    families: Sequence[str] = tuple(FAMILIES),
    base: ChipSpec | None = None,
    tune_passes: int = 2,
    input_splits: bool | str = True,
) -> pd.DataFrame:
    """Latency of every (network, family, level, area constraint); tidy, one row each.

    Args:
        networks: built-in network names or workloads.
        areas_mm2: area constraints (mm^2 of PIM arrays with peripherals).
        families: subset of :data:`FAMILIES`.
        base: spec of node, voltage, clock and DRAM.
        tune_passes: passes of the parameter optimization (-SP).
        input_splits: let oversized layers be cut along input channels too (True, False or
            'joint', see :func:`cimkit.pimhls.optimize.optimize`).

    Returns:
        Columns :data:`SWEEP_COLUMNS`: ``design`` is '<family>-<level>' (e.g. 'RRAM-SP');
        cycles and latency_s per inference; throughput_inf_s = 1 / latency_s;
        area_mm2 the arrays the design needs (<= the budget); speedup_vs_greedy the family's
        greedy latency over this row's (NaN where either is infeasible).
    """
    rows = []
    for net in networks:
        workload = get_network(net) if isinstance(net, str) else net
        for family in families:
            techs = FAMILIES[family]
            for area in areas_mm2:
                head = {"network": workload.name, "family": family, "area_budget_mm2": float(area)}
                try:
                    designs = optimize_levels(
                        workload,
                        float(area),
                        techs,
                        base,
                        tune_passes=tune_passes,
                        input_splits=input_splits,
                    )
                except InfeasibleDesignError as exc:
                    for level in LEVELS:
                        rows.append(
                            {
                                **head,
                                "level": level,
                                "design": f"{family}-{level}",
                                "feasible": False,
                                "reason": str(exc),
                            }
                        )
                    continue
                greedy = designs["G"].latency_s
                for level, sched in designs.items():
                    summary = schedule_summary(sched)
                    del summary["tech_budgets_mm2"]
                    rows.append(
                        {
                            **head,
                            "level": level,
                            "design": f"{family}-{level}",
                            "feasible": True,
                            "reason": "",
                            **summary,
                            "throughput_inf_s": 1.0 / sched.latency_s,
                            "speedup_vs_greedy": greedy / sched.latency_s,
                        }
                    )
    frame = pd.DataFrame(rows)
    for col in SWEEP_COLUMNS:
        if col not in frame:
            frame[col] = np.nan
    return frame[list(SWEEP_COLUMNS)]


def plot_sweep(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``pimhls_sweep.csv`` and, per network, latency-vs-area and speedup plots (PNG).

    Returns the written paths. matplotlib is imported here (Agg backend) so the rest of cimkit
    never needs it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "pimhls_sweep.csv"]
    df.to_csv(paths[0], index=False)
    styles = {"G": ":", "S": "--", "SP": "-"}
    colors = {"RRAM": "tab:blue", "SRAM": "tab:orange", "Hetero": "tab:green"}
    for net, sub in df.groupby("network", sort=False):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for (family, level), line in sub.groupby(["family", "level"], sort=False):
            line = line[line["feasible"].astype(bool)].sort_values("area_budget_mm2")
            if line.empty:
                continue
            ax.plot(
                line["area_budget_mm2"],
                line["latency_s"] * 1e3,
                styles.get(level, "-"),
                marker="o",
                ms=3,
                color=colors.get(family),
                label=f"{family}-{level}",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("area constraint (mm$^2$, PIM arrays)")
        ax.set_ylabel("latency per inference (ms)")
        ax.set_title(f"{net}: latency vs area constraint")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        path = out / f"pimhls_latency_{net}.png"
        fig.savefig(path, dpi=150)
        plt.close(fig)
        paths.append(path)

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        areas = sorted(sub["area_budget_mm2"].unique())
        designs = [d for d in sub["design"].unique() if not d.endswith("-G")]
        width = 0.8 / max(len(designs), 1)
        for k, design in enumerate(designs):
            vals = (
                sub[sub["design"] == design]
                .set_index("area_budget_mm2")["speedup_vs_greedy"]
                .reindex(areas)
            )
            ax.bar(
                np.arange(len(areas)) + k * width,
                vals.to_numpy(dtype=float),
                width,
                label=design,
                color=colors.get(design.split("-")[0]),
                alpha=1.0 if design.endswith("-SP") else 0.5,
            )
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(areas)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{a:g}" for a in areas])
        ax.set_xlabel("area constraint (mm$^2$)")
        ax.set_ylabel("speedup over the greedy schedule")
        ax.set_title(f"{net}: scheduling (-S) and parameter optimization (-SP)")
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        path = out / f"pimhls_speedup_{net}.png"
        fig.savefig(path, dpi=150)
        plt.close(fig)
        paths.append(path)
    return paths
