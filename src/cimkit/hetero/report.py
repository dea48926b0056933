"""`cimkit evaluate --hw system.yaml`: print and write one NPU + CIM system on one workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from cimkit.cli_output import emit_json, note, print_table
from cimkit.hetero.model import SystemEvaluation, evaluate_system
from cimkit.specs.system import SystemSpec
from cimkit.workload.table import Workload


def _si(value: float, unit: str) -> str:
    if value == 0:
        return "-"
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def engine_breakdown(ev: SystemEvaluation, design: int = 0) -> dict[str, dict[str, float]]:
    """Per engine: busy time (s), energy (J), MACs of one design (NPU, CIM, NoC, static)."""
    p = ev.plan
    share = ev.split[design] / p.units
    macs_cim = float((p.macs * share).sum())
    noc_t = ev.parts_time["noc_in"][design] + ev.parts_time["noc_out"][design]
    return {
        "npu": {
            "busy_s": float(ev.parts_time["npu"][design].sum()),
            "energy_j": float(ev.parts_energy["npu"][design].sum()),
            "macs": float(p.macs.sum()) - macs_cim,
        },
        "cim": {
            "busy_s": float(ev.parts_time["cim"][design].sum()),
            "energy_j": float(ev.parts_energy["cim"][design].sum()),
            "macs": macs_cim,
        },
        "noc": {
            "busy_s": float(noc_t.sum()),
            "energy_j": float(ev.parts_energy["noc"][design].sum()),
            "macs": 0.0,
        },
        "static": {"busy_s": 0.0, "energy_j": float(ev.parts_energy["static"][design].sum()),
                   "macs": 0.0},
    }  # fmt: skip


def run_system_cli(
    spec: SystemSpec, wl: Workload, out: Path | None, json_output: bool, max_rows: int = 40
) -> SystemEvaluation:
    """Evaluate, print the per-layer split and per-engine breakdown, write the tables."""
    ev = evaluate_system(wl, spec)
    frame = ev.layer_frame(0)
    lat, en = float(ev.latency_s[0]), float(ev.energy_j[0])
    eng = engine_breakdown(ev)
    if json_output:
        emit_json({
            "system": spec.name,
            "network": wl.name,
            "layers": len(wl),
            "metrics": {
                "latency_s": lat,
                "energy_j": en,
                "cim_area_mm2": float(ev.cim_area_mm2[0]),
                "cim_words_used": int(ev.words_used[0]),
                "cim_words_capacity": int(ev.capacity_words[0]),
                "partition_gap": float(ev.solution.gap[0]),
            },
            "engines": eng,
            "split": frame[["layer", "op", "units", "cim_units", "latency_s", "energy_j"]]
            .to_dict(orient="records"),
        })  # fmt: skip
    title = (
        f"{spec.name} running {wl.name} ({len(wl)} layers, objective {spec.partition.objective})"
    )
    summary = Table(title=title)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    gap = float(ev.solution.gap[0])
    whole = int(((ev.split[0] >= ev.plan.units) & (ev.split[0] > 0)).sum())
    for k, v in (
        ("latency", _si(lat, "s")),
        ("energy", _si(en, "J")),
        ("CIM area", f"{float(ev.cim_area_mm2[0]):.3f} mm^2"),
        ("CIM weight words", f"{int(ev.words_used[0]):,} of {int(ev.capacity_words[0]):,}"),
        ("layers on CIM", f"{int((ev.split[0] > 0).sum())} of {len(wl)} ({whole} wholly)"),
        ("partition", "optimal" if gap == 0 else f"within {gap:.2%} of optimal (certified)"),
    ):  # fmt: skip
        summary.add_row(k, v)
    print_table(summary)
    et = Table(title="per engine")
    for c in ("engine", "busy", "energy", "MACs"):
        et.add_column(c, justify="left" if c == "engine" else "right")
    for name, e in eng.items():
        et.add_row(name, _si(e["busy_s"], "s") if name != "static" else "-",
                   _si(e["energy_j"], "J"), f"{e['macs']:.3g}")  # fmt: skip
    print_table(et)
    lt = Table(title="per layer (CIM share and time)")
    for c in ("layer", "op", "CIM share", "latency", "NPU", "CIM", "NoC", "energy"):
        lt.add_column(c, justify="left" if c in ("layer", "op") else "right")
    shown = frame if len(frame) <= max_rows else frame.nlargest(max_rows, "latency_s").sort_index()
    for r in shown.itertuples():
        lt.add_row(r.layer, r.op, f"{r.cim_share:.0%}" if r.units > 1 or r.cim_units else "-",
                   _si(r.latency_s, "s"), _si(r.npu_time_s, "s"), _si(r.cim_time_s, "s"),
                   _si(r.noc_time_s, "s"), _si(r.energy_j, "J"))  # fmt: skip
    if len(frame) > max_rows:
        lt.caption = f"the {max_rows} slowest of {len(frame)} layers; all in layers.csv (--out)"
    print_table(lt)
    if out is not None:
        write_system_tables(ev, out, title)
    return ev


def write_system_tables(ev: SystemEvaluation, out: Path, title: str) -> None:
    """layers.csv/.parquet, summary.csv/.parquet and layers.png (time per layer by engine)."""
    frames = {"layers": ev.layer_frame(0), "summary": ev.summary_frame()}
    for stem, frame in frames.items():
        frame.to_csv(out / f"{stem}.csv", index=False)
        frame.to_parquet(out / f"{stem}.parquet", index=False)
    _layer_chart(frames["layers"], out / "layers.png", title)
    note(f"wrote layers and summary as CSV and Parquet, and layers.png, to {out}")


def _layer_chart(frame: Any, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(frame))
    fig, ax = plt.subplots(2, 1, figsize=(max(8, len(frame) * 0.08), 6), sharex=True)
    ax[0].bar(x, frame["npu_time_s"] * 1e6, label="NPU", color="tab:blue")
    ax[0].bar(x, -frame["cim_time_s"] * 1e6, label="CIM (down)", color="tab:orange")
    ax[0].set_ylabel("busy time (us)")
    ax[0].legend(loc="upper right")
    ax[0].set_title(title, fontsize=9)
    ax[1].bar(x, frame["cim_share"] * 100, color="tab:green")
    ax[1].set_ylabel("CIM share (%)")
    ax[1].set_xlabel("layer index")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
