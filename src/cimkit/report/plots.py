"""Plots of a search as data -> render: each ``*_data`` returns a tidy table, each ``render_*``
draws such a table with matplotlib (imported lazily, Agg backend) into a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cimkit.search.objectives import COL, feasible

#: PNG metadata without version or date stamps, so equal data gives byte-equal files.
_PNG_META = {"Software": None}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def convergence_data(histories: dict[str, list[tuple[int, int, float]]]) -> pd.DataFrame:
    """Rows (method, gen, evaluations, best) of every history."""
    rows = [
        {"method": name, "gen": g, "evaluations": n, "best": b}
        for name, hist in histories.items()
        for g, n, b in hist
    ]
    return pd.DataFrame(rows, columns=["method", "gen", "evaluations", "best"])


def render_convergence(df: pd.DataFrame, path: Path, score_label: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, sub in df.groupby("method", sort=False):
        ax.plot(sub["evaluations"], sub["best"], label=str(name), drawstyle="steps-post")
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"best score ({score_label})")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=_PNG_META)
    plt.close(fig)
    return path


def pareto_data(result: Any, top: np.ndarray, max_points: int = 4000) -> pd.DataFrame:
    """Feasible archive designs (accuracy %, EDAP), Pareto-front and top-five flags.

    At most ``max_points`` non-front, non-top designs are kept (evenly spaced, deterministic).
    """
    M = result.archive.M
    ok = np.flatnonzero(feasible(M))
    front = set(result.pareto(("accuracy", "edap")).tolist())
    tops = set(int(i) for i in top)
    keep = [i for i in ok if i in front or i in tops]
    rest = [i for i in ok if i not in front and i not in tops]
    if len(rest) > max_points:
        rest = [rest[int(j)] for j in np.linspace(0, len(rest) - 1, max_points)]
    idx = np.array(sorted(keep + rest), dtype=int)
    return pd.DataFrame(
        {
            "design": idx,
            "accuracy_pct": 100 * M[idx, COL["accuracy"]],
            "edap": M[idx, COL["edap"]],
            "front": [i in front for i in idx],
            "top": [i in tops for i in idx],
            "rank": [
                sorted(tops, key=list(top).index).index(i) + 1 if i in tops else 0 for i in idx
            ],
        }
    )


def render_pareto(df: pd.DataFrame, path: Path, extra: dict[str, tuple[float, float]]) -> Path:
    """Scatter EDAP vs accuracy; front as a line, top five as stars, ``extra`` points labelled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(df["edap"], df["accuracy_pct"], s=4, c="0.7", label="archive (feasible)")
    fr = df[df["front"]].sort_values("edap")
    ax.plot(fr["edap"], fr["accuracy_pct"], "-o", ms=3, c="tab:blue", label="Pareto front")
    tp = df[df["top"]]
    ax.scatter(
        tp["edap"], tp["accuracy_pct"], marker="*", s=120, c="tab:red", label="top 5", zorder=3
    )
    for name, (edap, acc) in extra.items():
        ax.scatter([edap], [acc], marker="D", s=40, zorder=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("EDAP (mJ*ms*mm^2)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=_PNG_META)
    plt.close(fig)
    return path


def params_data(result: Any, top: np.ndarray) -> pd.DataFrame:
    """Chosen values of the top designs: hardware genes, plus model/quant summaries.

    Columns: rank, parameter, value, position (index / (choices - 1), 0..1, for the chart).
    """
    space = result.space
    joint = space.joint
    X = result.archive.X[top].astype(np.int64)
    values = joint.decode(X)
    rows = []
    for r, _ in enumerate(top):
        for i, d in enumerate(joint.dims):
            if d.subspace != "hardware":
                continue
            pos = X[r, i] / max(len(d.values) - 1, 1)
            rows.append(
                {"rank": r + 1, "parameter": d.name, "value": values[d.name][r], "position": pos}
            )
        act = space.family.active_mask({k: v[r : r + 1] for k, v in values.items()}, joint.names)[0]
        for sub in ("model", "quantization"):
            idx = [i for i, d in enumerate(joint.dims) if d.subspace == sub and act[i]]
            groups: dict[str, list[float]] = {}
            for i in idx:
                key = joint.dims[i].name.rsplit("_", 1)[0]
                groups.setdefault(key, []).append(values[joint.dims[i].name][r])
            for key, vals in groups.items():
                lo = min(joint.dims[i].values[0] for i in idx if joint.dims[i].name.startswith(key))
                hi = max(
                    joint.dims[i].values[-1] for i in idx if joint.dims[i].name.startswith(key)
                )
                mean = float(np.mean(vals))
                rows.append(
                    {
                        "rank": r + 1,
                        "parameter": f"mean {key}",
                        "value": mean,
                        "position": (mean - lo) / (hi - lo) if hi > lo else 0.0,
                    }
                )
    return pd.DataFrame(rows, columns=["rank", "parameter", "value", "position"])


def render_params(df: pd.DataFrame, path: Path) -> Path:
    """Grouped horizontal bars: each parameter's position in its range for the top designs."""
    plt = _plt()
    params = list(dict.fromkeys(df["parameter"]))
    ranks = sorted(df["rank"].unique())
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(params) * max(1, len(ranks)) ** 0.5 + 1.5))
    h = 0.8 / max(len(ranks), 1)
    for k, r in enumerate(ranks):
        sub = df[df["rank"] == r].set_index("parameter").reindex(params)
        y = np.arange(len(params)) + k * h
        ax.barh(y, sub["position"], height=h, label=f"#{r}")
        if r == 1:
            for yy, (v, p) in zip(y, zip(sub["value"], sub["position"], strict=True), strict=True):
                ax.text(min(p, 0.95) + 0.01, yy, f"{v:g}", va="center", fontsize=6)
    ax.set_yticks(np.arange(len(params)) + 0.4 - h / 2)
    ax.set_yticklabels(params, fontsize=7)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("position in the parameter's range (0 = smallest choice, 1 = largest)")
    ax.legend(fontsize=7, ncol=5)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=_PNG_META)
    plt.close(fig)
    return path
