"""The PIM-HLS paper's headline comparison and a sensitivity sweep of its inputs.

**Comparison** (Zhu et al., DAC 2023, abstract and section V-B). The paper compares its
heterogeneous designs with two homogeneous state-of-the-art baselines, an RRAM one (PRIME, [2])
and an SRAM one (Yan et al. ISSCC 2022, [17]), both evaluated by MNSIM with *every weight
resident* (no runtime weight scheduling) and their default hardware parameters. The baselines
take 39 and 47 mm^2 on VGG-8, 93 and 62 mm^2 on ResNet-18. PIM-HLS's heterogeneous designs
under a 16 mm^2 constraint are reported "4.8x" faster "while saving 3.7x area on average"; the
abstract's "5.9x speedup with 72.8 % less area" pairs with that point (1 / (1 - 0.728) = 3.7).
At 40 mm^2 the paper reports 11.7x (VGG-8) and 7.5x (ResNet-18).

cimkit's baseline of technology ``t``: every crossbar layer on ``t``'s default arrays, one copy
(MNSIM maps each layer once), a single resident group (no per-inference writes), latency from
the same model as the optimized designs (slowest layer's compute + the pipeline replay of
:mod:`cimkit.pimhls.pipeline`), area = one copy of every layer. The PIM-HLS design is
``optimize(workload, area, ("sram", "rram"))`` (Hetero-SP). Per (network, area, baseline):
``speedup = baseline latency / design latency`` and
``area_saving = 1 - area constraint / baseline area`` (the design uses at most the constraint;
the used area is reported too). :func:`headline` averages the four (network, baseline) pairs at
one constraint, arithmetic and geometric means, because the paper does not state its averaging.

**Sensitivity** (:func:`sensitivity`): one input at a time is moved off its sourced value
(DRAM bandwidth, RRAM write time per row, RRAM ADC sharing, SRAM cell area) and the figures that
differ from the paper are recomputed: resident areas, the share of weight writes, the gains of
scheduling and tuning, how much of the heterogeneous design is SRAM, and the speedup over the
baselines. It explains the trends; it does not tune anything to the paper's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cimkit.cost.constants import load_constants
from cimkit.errors import InfeasibleDesignError
from cimkit.pimhls.optimize import optimize_levels
from cimkit.pimhls.plan import Schedule
from cimkit.pimhls.schedule import prepare, schedule_dp
from cimkit.pimhls.technology import get_technology
from cimkit.specs.chip import ChipSpec, Device, Dram, Macro
from cimkit.workload.builtin import get_network
from cimkit.workload.table import Workload

#: Baseline areas the paper reports (MNSIM), mm^2: (network, technology) -> area.
PAPER_BASELINE_AREA_MM2: dict[tuple[str, str], float] = {
    ("vgg8", "rram"): 39.0,
    ("vgg8", "sram"): 47.0,
    ("resnet18", "rram"): 93.0,
    ("resnet18", "sram"): 62.0,
}
#: The paper's claims for its heterogeneous designs (section V-B and abstract).
PAPER_CLAIMS: dict[str, float] = {
    "speedup_16mm2_mean": 4.8,
    "area_ratio_16mm2_mean": 3.7,
    "abstract_speedup": 5.9,
    "abstract_area_saving": 0.728,
    "speedup_40mm2_vgg8": 11.7,
    "speedup_40mm2_resnet18": 7.5,
}
#: Per-row speedups the paper gives (section V-B): (network, constraint, family) -> speedup.
#: At 40 mm^2 the heterogeneous figures are per network ("11.7x and 7.5x on the two
#: datasets"), the homogeneous ones against the baseline of their own technology.
PAPER_SPEEDUPS: dict[tuple[str, float, str], float] = {
    ("vgg8", 40.0, "Hetero"): 11.7,
    ("resnet18", 40.0, "Hetero"): 7.5,
    ("vgg8", 40.0, "RRAM"): 10.0,
    ("resnet18", 40.0, "RRAM"): 6.3,
    ("vgg8", 40.0, "SRAM"): 10.1,
    ("resnet18", 40.0, "SRAM"): 6.0,
}
#: Constraints of the paper's comparison: 16 mm^2 (edge) and 40 mm^2 (baseline-sized).
COMPARISON_AREAS_MM2: tuple[float, ...] = (16.0, 40.0)

COMPARISON_COLUMNS: tuple[str, ...] = (
    "network",
    "area_budget_mm2",
    "baseline",
    "baseline_area_mm2",
    "paper_baseline_area_mm2",
    "baseline_latency_s",
    "design",
    "design_area_mm2",
    "design_latency_s",
    "speedup",
    "paper_speedup",
    "area_ratio",
    "area_saving",
)


def baseline_schedule(workload: Workload, tech: str, base: ChipSpec | None = None) -> Schedule:
    """The paper's homogeneous baseline on ``tech``: all weights resident, one copy per layer.

    Area = one copy of every crossbar layer on the default arrays (returned as the schedule's
    ``area_mm2``); latency = the slowest layer's compute plus the pipeline replay.
    """
    from cimkit.pimhls.pipeline import with_pipeline

    # Any budget that holds every layer gives the same unsplit items; their one-copy sum is the
    # resident area. With exactly that budget and one copy each, the single group is the only
    # grouping without writes and (max <= sum) the DP's choice.
    _, items, _ = prepare(workload, 1e9, tech, base=base)
    area = float(items.base_area.sum())
    sched = schedule_dp(workload, area, assignment=tech, base=base, max_copies=1)
    return with_pipeline(sched, workload)


def comparison(
    networks: Sequence[str | Workload] = ("vgg8", "resnet18"),
    areas_mm2: Iterable[float] = COMPARISON_AREAS_MM2,
    base: ChipSpec | None = None,
    designs: pd.DataFrame | None = None,
    tune_passes: int = 2,
) -> pd.DataFrame:
    """PIM-HLS designs against the paper's two resident baselines.

    Rows: Hetero-SP against the RRAM and the SRAM baseline (the paper's headline), and the
    homogeneous RRAM-SP and SRAM-SP designs against their own technology's baseline (the
    paper's "10.0x and 6.3x ... for RRAM" and "10.1x and 6.0x for SRAM" at 40 mm^2).

    Args:
        networks: built-in names or workloads.
        areas_mm2: area constraints of the PIM-HLS designs (mm^2).
        base: node, clock and DRAM spec shared by baselines and designs.
        designs: a :func:`cimkit.pimhls.sweep.sweep` table; its -SP rows are reused instead of
            re-optimizing (same network, constraint and base assumed).
        tune_passes: passes of the parameter optimization when a design is computed here.

    Returns:
        Columns :data:`COMPARISON_COLUMNS`, one row per (network, area, design, baseline);
        latencies in s, areas in mm^2; ``area_ratio`` = baseline area / constraint,
        ``area_saving`` = 1 - constraint / baseline area; ``paper_speedup`` the paper's figure
        for that row where it gives one; NaN where the design is infeasible.
    """
    pairs = (("Hetero", "rram"), ("Hetero", "sram"), ("RRAM", "rram"), ("SRAM", "sram"))
    rows = []
    for net in networks:
        workload = get_network(net) if isinstance(net, str) else net
        bases = {t: baseline_schedule(workload, t, base) for t in ("rram", "sram")}
        for area in areas_mm2:
            got = {
                fam: _design(workload, fam, float(area), base, designs, tune_passes)
                for fam in ("Hetero", "RRAM", "SRAM")
            }
            for fam, tech in pairs:
                b = bases[tech]
                lat, used = got[fam]
                rows.append(
                    {
                        "network": workload.name,
                        "area_budget_mm2": float(area),
                        "baseline": tech.upper(),
                        "baseline_area_mm2": b.area_mm2,
                        "paper_baseline_area_mm2": PAPER_BASELINE_AREA_MM2.get(
                            (workload.name, tech), np.nan
                        ),
                        "baseline_latency_s": b.latency_s,
                        "design": f"{fam}-SP",
                        "design_area_mm2": used,
                        "design_latency_s": lat,
                        "speedup": b.latency_s / lat,
                        "paper_speedup": PAPER_SPEEDUPS.get(
                            (workload.name, float(area), fam), np.nan
                        ),
                        "area_ratio": b.area_mm2 / float(area),
                        "area_saving": 1.0 - float(area) / b.area_mm2,
                    }
                )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _design(
    workload: Workload,
    family: str,
    area: float,
    base: ChipSpec | None,
    designs: pd.DataFrame | None,
    tune_passes: int,
) -> tuple[float, float]:
    """(latency s, used area mm^2) of the ``family``-SP design, NaN when infeasible."""
    if designs is not None:
        hit = designs[
            (designs["network"] == workload.name)
            & (designs["design"] == f"{family}-SP")
            & np.isclose(designs["area_budget_mm2"].astype(float), area)
        ]
        if len(hit):
            row = hit.iloc[0]
            if not bool(row["feasible"]):
                return np.nan, np.nan
            return float(row["latency_s"]), float(row["area_mm2"])
    techs = {"Hetero": ("sram", "rram"), "RRAM": ("rram",), "SRAM": ("sram",)}[family]
    try:
        sched = optimize_levels(workload, area, techs, base, tune_passes=tune_passes)
    except InfeasibleDesignError:
        return np.nan, np.nan
    return sched["SP"].latency_s, sched["SP"].area_mm2


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Means over the (network, baseline) pairs of the Hetero-SP rows of each constraint (the
    paper's headline), with the paper's values.

    Columns: area_budget_mm2, pairs, speedup_mean, speedup_geomean, area_ratio_mean,
    area_saving_mean (a fraction), paper_speedup, paper_area_ratio (NaN where the paper gives
    none for that constraint or when the table holds networks other than VGG-8 and ResNet-18).
    Infeasible pairs are left out of the means. A table without a ``design`` column is taken as
    all Hetero-SP, one without a ``network`` column as the paper's networks.
    """
    if "design" in table:
        table = table[table["design"] == "Hetero-SP"]
    out = []
    for area, sub in table.groupby("area_budget_mm2", sort=True):
        ok = sub[np.isfinite(sub["speedup"].astype(float))]
        sp = ok["speedup"].to_numpy(dtype=float)
        paper_sp, paper_ar = np.nan, np.nan
        # The paper's means are over VGG-8 and ResNet-18: other networks get no paper figure.
        paper_nets = "network" not in sub or set(sub["network"]) <= {"vgg8", "resnet18"}
        if np.isclose(area, 16.0) and paper_nets:
            paper_sp, paper_ar = (
                PAPER_CLAIMS["speedup_16mm2_mean"],
                1 / (1 - PAPER_CLAIMS["abstract_area_saving"]),
            )
        out.append(
            {
                "area_budget_mm2": float(area),
                "pairs": len(ok),
                "speedup_mean": float(sp.mean()) if len(sp) else np.nan,
                "speedup_geomean": float(np.exp(np.log(sp).mean())) if len(sp) else np.nan,
                "area_ratio_mean": float(ok["area_ratio"].mean()) if len(ok) else np.nan,
                "area_saving_mean": float(ok["area_saving"].mean()) if len(ok) else np.nan,
                "paper_speedup": paper_sp,
                "paper_area_ratio": paper_ar,
            }
        )
    return pd.DataFrame(out)


def format_comparison(table: pd.DataFrame) -> str:
    """Plain-text lines of the comparison and its headline, for the CLI."""
    lines = ["PIM-HLS designs vs the paper's resident baselines (cimkit model):"]
    for _, r in table.iterrows():
        paper = f" (paper {r['paper_speedup']:g}x)" if np.isfinite(r["paper_speedup"]) else ""
        paper_area = (
            f" (paper {r['paper_baseline_area_mm2']:g})"
            if np.isfinite(r["paper_baseline_area_mm2"])
            else ""
        )
        if not np.isfinite(r["design_latency_s"]):
            outcome = "design infeasible at this area"
        else:
            saving = r["area_saving"]
            area_text = (
                f"area saving {100 * saving:.1f} %"
                if saving >= 0
                # A constraint above the baseline's own area is no saving: say how much larger.
                else f"area {r['area_budget_mm2'] / r['baseline_area_mm2']:.3g}x the baseline's"
            )
            outcome = (
                f"design {r['design_latency_s'] * 1e3:.4g} ms -> speedup {r['speedup']:.3g}x"
                f"{paper}, {area_text}"
            )
        lines.append(
            f"  {r['network']:>9} {r['area_budget_mm2']:>5g} mm^2 {r['design']:>9} vs "
            f"{r['baseline']}: baseline {r['baseline_area_mm2']:.1f} mm^2{paper_area}, "
            f"{r['baseline_latency_s'] * 1e3:.4g} ms; {outcome}"
        )
    for _, h in headline(table).iterrows():
        paper = ""
        if np.isfinite(h["paper_speedup"]):
            paper = (
                f" (paper: {h['paper_speedup']:g}x, 'abstract 5.9x', "
                f"{100 * PAPER_CLAIMS['abstract_area_saving']:.1f} % less area)"
            )
        if not np.isfinite(h["speedup_mean"]):
            lines.append(f"  Hetero-SP at {h['area_budget_mm2']:g} mm^2: no feasible design")
            continue
        area_text = (
            f"area saving {100 * h['area_saving_mean']:.1f} %"
            if h["area_saving_mean"] >= 0
            else f"area {1 / h['area_ratio_mean']:.3g}x the baselines' (mean ratio)"
        )
        lines.append(
            f"  Hetero-SP mean at {h['area_budget_mm2']:g} mm^2 over {int(h['pairs'])} pairs: "
            "speedup "
            f"{h['speedup_mean']:.3g}x (geomean {h['speedup_geomean']:.3g}x), {area_text}{paper}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class Setting:
    """One input moved off its sourced value: ``name``, the value and the base spec it gives."""

    input: str
    value: float
    default: bool
    base: ChipSpec


def _rram_base(**device) -> ChipSpec:
    # A base whose device is RRAM supplies the RRAM technology (technology.get_technology);
    # the template is Device(kind="rram", bits_per_cell=4) on the default Macro.
    return ChipSpec(device=Device(kind="rram", bits_per_cell=4, **device), macro=Macro())


def sensitivity_settings() -> list[Setting]:
    """The inputs varied by :func:`sensitivity`, the sourced value first in each.

    * ``dram_bandwidth_gb_s``: 25.6 (ChipSpec default, one LPDDR4x-3200 x64 channel), 4x, 16x;
    * ``rram_write_ns_per_row``: 100 (constants.yaml devices.rram, no write-verify), 10, 1;
    * ``rram_cols_per_adc``: 8 (ChipSpec default), 32, 128 (fewer 8-bit SARs: denser arrays);
    * ``sram_cell_area_f2``: 1095 (calibrated, constants.yaml), 300 (its literature start).
    """
    c = load_constants()
    ref = ChipSpec()
    out = [Setting("dram_bandwidth_gb_s", ref.dram.bandwidth_gb_s, True, ref)]
    for bw in (102.4, 409.6):
        out.append(
            Setting("dram_bandwidth_gb_s", bw, False, ChipSpec(dram=Dram(bandwidth_gb_s=bw)))
        )
    out.append(Setting("rram_write_ns_per_row", c.device("rram", "write_latency_ns"), True, ref))
    for ns in (10.0, 1.0):
        out.append(Setting("rram_write_ns_per_row", ns, False, _rram_base(write_latency_ns=ns)))
    out.append(Setting("rram_cols_per_adc", ref.macro.cols_per_adc, True, ref))
    for cpa in (32, 128):
        spec = ChipSpec(device=Device(kind="rram", bits_per_cell=4), macro=Macro(cols_per_adc=cpa))
        out.append(Setting("rram_cols_per_adc", cpa, False, spec))
    out.append(Setting("sram_cell_area_f2", c.device("sram", "cell_area_f2"), True, ref))
    sram = get_technology("sram").spec
    spec = ChipSpec(device=sram.device.model_copy(update={"cell_area_f2": 300.0}), macro=sram.macro)
    out.append(
        Setting("sram_cell_area_f2", 300.0, False, ChipSpec.model_validate(spec.model_dump()))
    )
    return out


SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "input",
    "value",
    "default",
    "network",
    "area_budget_mm2",
    "rram_resident_mm2",
    "sram_resident_mm2",
    "rram_s_write_share",
    "sram_s_write_share",
    "rram_s_over_g",
    "sram_s_over_g",
    "rram_sp_over_s",
    "hetero_sram_layer_share",
    "hetero_sp_latency_s",
    "rram_sp_latency_s",
    "sram_sp_latency_s",
    "speedup_vs_rram_baseline",
    "speedup_vs_sram_baseline",
)


def sensitivity(
    networks: Sequence[str | Workload] = ("vgg8", "resnet18"),
    areas_mm2: Iterable[float] = COMPARISON_AREAS_MM2,
    settings: Sequence[Setting] | None = None,
    tune_passes: int = 1,
    progress=None,
) -> pd.DataFrame:
    """Recompute the figures that differ from the paper with one input moved at a time.

    Returns columns :data:`SENSITIVITY_COLUMNS`, one row per (setting, network, area):
    resident areas of the two baselines (mm^2); share of weight writes in the RRAM-S and SRAM-S
    cycles; speedups of -S over -G and of -SP over -S (RRAM, SRAM); the share of crossbar
    layers the Hetero-SP design puts on SRAM; Hetero-SP, RRAM-SP, SRAM-SP latencies (s) and
    Hetero-SP's speedup over each baseline. ``progress(msg)`` is called after each setting.
    """
    settings = list(settings) if settings is not None else sensitivity_settings()
    areas = [float(a) for a in areas_mm2]
    rows = []
    done: dict[str, list[dict]] = {}  # base spec -> rows (the sourced base appears per input)
    for s in settings:
        key = s.base.model_dump_json()
        if key in done:
            for r in done[key]:
                rows.append({**r, "input": s.input, "value": s.value, "default": s.default})
            if progress is not None:
                progress(f"{s.input}={s.value:g}")
            continue
        first = len(rows)
        for net in networks:
            w = get_network(net) if isinstance(net, str) else net
            bases = {t: baseline_schedule(w, t, s.base) for t in ("rram", "sram")}
            for area in areas:
                row = {
                    "input": s.input,
                    "value": s.value,
                    "default": s.default,
                    "network": w.name,
                    "area_budget_mm2": area,
                    "rram_resident_mm2": bases["rram"].area_mm2,
                    "sram_resident_mm2": bases["sram"].area_mm2,
                }
                fam = {}
                for label, techs in (("rram", ("rram",)), ("sram", ("sram",)), ("hetero", None)):
                    try:
                        fam[label] = optimize_levels(
                            w, area, techs or ("sram", "rram"), s.base, tune_passes=tune_passes
                        )
                    except InfeasibleDesignError:
                        fam[label] = None
                for t in ("rram", "sram"):
                    d = fam[t]
                    row[f"{t}_s_write_share"] = _write_share(d["S"]) if d else np.nan
                    row[f"{t}_s_over_g"] = d["G"].cycles / d["S"].cycles if d else np.nan
                    row[f"{t}_sp_latency_s"] = d["SP"].latency_s if d else np.nan
                d = fam["rram"]
                row["rram_sp_over_s"] = d["S"].cycles / d["SP"].cycles if d else np.nan
                h = fam["hetero"]
                row["hetero_sram_layer_share"] = _sram_share(h["SP"]) if h else np.nan
                row["hetero_sp_latency_s"] = h["SP"].latency_s if h else np.nan
                for t in ("rram", "sram"):
                    row[f"speedup_vs_{t}_baseline"] = (
                        bases[t].latency_s / h["SP"].latency_s if h else np.nan
                    )
                rows.append(row)
        done[key] = rows[first:]
        if progress is not None:
            progress(f"{s.input}={s.value:g}")
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _write_share(s: Schedule) -> float:
    """Weight-write cycles over all cycles of a schedule."""
    return sum(g.write_cycles for g in s.groups) / s.cycles


def _sram_share(s: Schedule) -> float:
    """Share of the crossbar layers (whole layers, pieces counted once) placed on SRAM."""
    tech: dict[str, set[str]] = {}
    for g in s.groups:
        for m in g.members:
            tech.setdefault(m.layer, set()).add(m.tile.tech)
    return sum("sram" in t for t in tech.values()) / max(len(tech), 1)


def plot_sensitivity(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """``pimhls_sensitivity.csv`` and one PNG per network: the figures vs each input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "pimhls_sensitivity.csv"]
    df.to_csv(paths[0], index=False)
    panels = (
        ("rram_s_write_share", "RRAM-S write share"),
        ("rram_s_over_g", "RRAM S/G speedup"),
        ("rram_sp_over_s", "RRAM SP/S speedup"),
        ("hetero_sram_layer_share", "Hetero: SRAM layer share"),
        ("speedup_vs_rram_baseline", "Hetero-SP vs RRAM baseline"),
        ("rram_resident_mm2", "RRAM resident area mm$^2$"),
    )
    inputs = list(dict.fromkeys(df["input"]))
    for net, sub in df.groupby("network", sort=False):
        fig, axes = plt.subplots(len(inputs), len(panels), figsize=(15, 2.2 * len(inputs)))
        axes = np.atleast_2d(axes)
        for i, name in enumerate(inputs):
            part = sub[sub["input"] == name].sort_values("value")
            for j, (col, title) in enumerate(panels):
                ax = axes[i, j]
                for area, line in part.groupby("area_budget_mm2"):
                    ax.plot(line["value"], line[col], marker="o", ms=3, label=f"{area:g} mm$^2$")
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
                if i == 0:
                    ax.set_title(title, fontsize=8)
                if j == 0:
                    ax.set_ylabel(name, fontsize=7)
                ax.tick_params(labelsize=6)
                ax.grid(True, alpha=0.3)
        axes[0, 0].legend(fontsize=6)
        fig.suptitle(f"{net}: sensitivity of the PIM-HLS trends to one input at a time", fontsize=9)
        fig.tight_layout()
        path = out / f"pimhls_sensitivity_{net}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths
