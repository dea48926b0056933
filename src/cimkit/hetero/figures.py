"""H4H-NAS Fig. 3 and Fig. 5 analogues (`cimkit h4h-figures`), with the paper's qualitative
claims checked one by one.

* Fig. 3: the U55's throughput and energy efficiency per layer type vs data size, normalised by
  its theoretical best (throughput: MACs per cycle / configured MACs per cycle; energy
  efficiency: MAC energy alone / total energy, i.e. 1 when nothing but MACs cost energy).
  Layer types as the paper's: Conv 3x3 and DConv 3x3 and PConv 1x1 (64 channels in and out,
  feature map side 4-128), FC (512 -> 512, 1-1024 tokens); data size = input bytes.
* Fig. 5: 8 MRAM macros vs one U55, throughput and energy-efficiency ratios, on FC layers and
  3x3 depthwise layers with a (32, 32) input, channel counts of existing models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.hetero import npu
from cimkit.hetero.energy import system_energy
from cimkit.hetero.model import evaluate_system
from cimkit.specs.system import SystemSpec
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload

SIDES = np.array([4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128])
TOKENS = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])


@dataclass(frozen=True)
class Claim:
    """One qualitative claim of the paper and whether cimkit's figure shows it."""

    figure: str
    claim: str
    holds: bool
    evidence: str


def fig3_frame(macs: int = 256, mode: str = "Shared_Sram", node_nm: int = 7) -> Any:
    """Rows: layer type, data size (bytes), MACs, cycles, normalised throughput and energy
    efficiency, for the U55 configuration ``macs`` / ``mode``."""
    import pandas as pd

    e = system_energy(node_nm)
    p_static = macs / 256.0 * e.npu_static_w_per_256_macs + e.npu_sram_static_w
    rows = []
    c = 64.0
    sweeps = {
        "Conv": ("conv", {"h": SIDES, "c_in": c, "c_out": c}, SIDES**2 * c * c * 9, SIDES**2 * c),
        "DConv": ("dw", {"h": SIDES, "c_in": c}, SIDES**2 * c * 9, SIDES**2 * c),
        "PConv": ("pw", {"h": SIDES, "c_in": c, "c_out": c}, SIDES**2 * c * c, SIDES**2 * c),
        "FC": ("fc", {"h": TOKENS, "c_in": 512.0, "c_out": 512.0}, TOKENS * 512 * 512,
               TOKENS * 512),
    }  # fmt: skip
    for label, (kind, dims, mac_count, data) in sweeps.items():
        size = len(next(v for v in dims.values() if np.ndim(v)))
        full = {
            k: np.broadcast_to(np.asarray(v, dtype=np.float64), (size,)) for k, v in dims.items()
        }
        pred = npu.predict(kind, full, macs, mode, 1)
        cycles = pred["cycles_total"]
        t = cycles / npu.CORE_CLOCK_HZ
        e_mac = e.npu_mac_j * mac_count
        energy = (e_mac + e.npu_sram_j_per_byte * pred["sram_total_bytes"]
                  + e.npu_flash_j_per_byte * pred["off_chip_flash_total_bytes"]
                  + p_static * t)  # fmt: skip
        for i in range(size):
            rows.append({
                "layer_type": label, "data_bytes": float(data[i]), "macs": float(mac_count[i]),
                "cycles": float(cycles[i]),
                "throughput_norm": float(mac_count[i] / cycles[i] / macs),
                "energy_efficiency_norm": float(e_mac[i] / energy[i]),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _single(name: str, op: str, **dims: int) -> Workload:
    return Workload(name, (make_layer(name, op, **dims),))


def fig5_layers() -> list[tuple[str, Workload]]:
    """FC layers of existing models and 3x3 depthwise layers at a (32, 32) input."""
    out = []
    for c in (16, 32, 64, 96, 144, 192, 384):
        out.append((f"DConv 3x3 C={c}", _single(
            f"dw{c}", "dwconv", in_channels=c, out_channels=c, in_h=32, in_w=32, out_h=32, out_w=32,
            kernel_h=3, kernel_w=3, groups=c)))  # fmt: skip
    for ci, co in ((256, 256), (512, 512), (1024, 1000), (1280, 1000), (2048, 1000)):
        out.append((f"FC {ci}x{co}", _single(f"fc{ci}", "linear", in_channels=ci,
                                             out_channels=co)))  # fmt: skip
    return out


def fig5_frame(mode: str = "Shared_Sram") -> Any:
    """Per layer: NPU-only and CIM-only (8 macros) latency and energy, and their ratios."""
    import pandas as pd

    npu_only = SystemSpec.model_validate({"npu": {"memory_mode": mode}, "cim": {"macros": 0}})
    cim8 = SystemSpec.model_validate({"npu": {"memory_mode": mode}, "cim": {"macros": 8}})
    rows = []
    for label, wl in fig5_layers():
        a = evaluate_system(wl, npu_only)
        from cimkit.hetero.plan import build_plan

        plan = build_plan(wl)
        b = evaluate_system(plan, cim8, force_split=np.array([plan.n_cand - 1]))
        rows.append({
            "layer": label, "memory_mode": mode, "macs": int(wl.total_macs),
            "npu_latency_s": float(a.latency_s[0]), "cim8_latency_s": float(b.latency_s[0]),
            "npu_energy_j": float(a.energy_j[0]), "cim8_energy_j": float(b.energy_j[0]),
            "throughput_ratio": float(a.latency_s[0] / b.latency_s[0]),
            "energy_efficiency_ratio": float(a.energy_j[0] / b.energy_j[0]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def check_claims(f3: Any, f5: Any) -> list[Claim]:
    """The paper's qualitative statements about Fig. 3 and Fig. 5, checked on the frames."""
    claims = []
    for metric, what in (("throughput_norm", "throughput"), ("energy_efficiency_norm",
                                                              "energy efficiency")):  # fmt: skip
        parts, ok = [], True
        for lt, g in f3.groupby("layer_type", sort=False):
            g = g.sort_values("data_bytes")
            x, y = np.log(g["data_bytes"].to_numpy()), g[metric].to_numpy()
            rise = y[-1] / y[0]
            # saturation: growth over the last doubling of the data size
            last = y[-1] / np.interp(x[-1] - np.log(2.0), x, y) - 1.0
            ok &= bool(rise > 1.2 and last <= 0.10)
            change = f"+{max(last, 0.0):.0%}" if round(last, 2) >= 0 else f"falls {-last:.0%}"
            parts.append(f"{lt}: x{rise:.1f} over the sweep, {change} over its last doubling")
        claims.append(Claim(
            "Fig. 3", f"{what} of every layer type increases, then saturates, with data size "
            "(last doubling adds <= 10 %)", ok, "; ".join(parts)))  # fmt: skip
    plateau = f3.groupby("layer_type")["throughput_norm"].max()
    dw_low = plateau["DConv"] < 0.5 * plateau.drop("DConv").min()
    claims.append(Claim("Fig. 3", "depthwise conv saturates low", bool(dw_low),
                        ", ".join(f"{k} peak {v:.2f}" for k, v in plateau.items())))  # fmt: skip

    def knee(lt: str) -> float:
        g = f3[f3.layer_type == lt].sort_values("data_bytes")
        y = g["throughput_norm"].to_numpy()
        return float(g["data_bytes"].to_numpy()[np.argmax(y >= 0.9 * y.max())])

    knees = {lt: knee(lt) for lt in ("Conv", "DConv", "PConv")}
    early = knees["DConv"] <= min(knees["Conv"], knees["PConv"])
    claims.append(Claim("Fig. 3", "depthwise conv saturates early (90 % of its peak at the "
                        "smallest data size)", bool(early),
                        ", ".join(f"{k} at {v / 1024:.0f} KiB"
                                  for k, v in knees.items())))  # fmt: skip
    for kind in ("DConv", "FC"):
        g = f5[f5.layer.str.startswith(kind)]
        ok = bool((g.throughput_ratio > 1).all() and (g.energy_efficiency_ratio > 1).all())
        claims.append(Claim(
            "Fig. 5", f"8 CIM macros outperform one U55 on {kind} layers in throughput and "
            "energy efficiency", ok,
            f"throughput x{g.throughput_ratio.min():.1f}-{g.throughput_ratio.max():.1f}, energy "
            f"efficiency x{g.energy_efficiency_ratio.min():.1f}-"
            f"{g.energy_efficiency_ratio.max():.1f} over {len(g)} layers"))  # fmt: skip
    return claims


def write_figures(out: Path) -> tuple[Any, Any, list[Claim]]:
    """fig3.csv/.png, fig5.csv/.png and claims.csv in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    modes = ("Shared_Sram", "Sram_Only")
    f3 = pd.concat([fig3_frame(mode=m).assign(memory_mode=m) for m in modes], ignore_index=True)
    f5 = pd.concat([fig5_frame(m) for m in modes], ignore_index=True)
    claims = []
    for m in modes:
        for c in check_claims(f3[f3.memory_mode == m], f5[f5.memory_mode == m]):
            claims.append(Claim(f"{c.figure} ({m})", c.claim, c.holds, c.evidence))
    f3.to_csv(out / "fig3.csv", index=False)
    f5.to_csv(out / "fig5.csv", index=False)
    pd.DataFrame([c.__dict__ for c in claims]).to_csv(out / "claims.csv", index=False)
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5), sharex=True)
    for row, m in enumerate(modes):
        g3 = f3[f3.memory_mode == m]
        for lt, g in g3.groupby("layer_type", sort=False):
            ax[row, 0].plot(g.data_bytes / 1024, g.throughput_norm, marker="o", ms=3, label=lt)
            ax[row, 1].plot(g.data_bytes / 1024, g.energy_efficiency_norm, marker="o", ms=3,
                            label=lt)  # fmt: skip
        for a, t in zip(ax[row], ("throughput / peak", "energy efficiency / MAC-only"),
                        strict=True):  # fmt: skip
            a.set_xscale("log")
            a.set_ylabel(f"{t}\n({m})")
            a.set_ylim(0, 1.05)
            a.grid(alpha=0.3)
        ax[row, 0].legend(fontsize=8)
    for a in ax[1]:
        a.set_xlabel("input data size (KiB)")
    fig.suptitle("Fig. 3 analogue: Ethos-U55-256 (Vela 5.2.0 cycles and bytes, cimkit energy)")
    fig.tight_layout()
    fig.savefig(out / "fig3.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for a, col, t in ((ax[0], "throughput_ratio", "throughput ratio"),
                      (ax[1], "energy_efficiency_ratio", "energy-efficiency ratio")):  # fmt: skip
        for j, mode in enumerate(("Shared_Sram", "Sram_Only")):
            g = f5[f5.memory_mode == mode]
            x = np.arange(len(g)) + (j - 0.5) * 0.38
            a.bar(x, g[col], width=0.38, label=mode)
        a.set_yscale("log")
        a.axhline(1.0, color="k", lw=0.8)
        a.set_xticks(np.arange(len(g)), g.layer, rotation=60, ha="right", fontsize=7)
        a.set_ylabel(f"{t}, 8 macros / U55")
        a.legend(fontsize=8)
    fig.suptitle("Fig. 5 analogue: 8 MRAM NMC macros vs one U55-256")
    fig.tight_layout()
    fig.savefig(out / "fig5.png", dpi=110)
    plt.close(fig)
    return f3, f5, claims
