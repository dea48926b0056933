"""Plots of a search as data -> render: each ``*_data`` returns a tidy table, each ``render_*``
draws such a table with matplotlib (imported lazily, Agg backend) into a PNG.

Every ``render_*`` returns a :class:`Chart`: the PNG path and, per axes, what was drawn (axis
labels, title, each line's/bar series' values), so tests check the plotted data and labels
rather than pixels.

Speed (issue 15 item 6: the report of an 11,250-design archive in <= 1 s): figures are made
with :class:`matplotlib.figure.Figure` and the Agg canvas, without pyplot; margins are fixed in
inches (:func:`_layout`) instead of ``tight_layout``, which measured every tick label twice;
log axes get major ticks at 1, 2 and 5 per decade labelled as plain numbers (``0.002``) and no
minor ticks, so no mathtext parser is built and no minor Tick objects are created. Measured with
the same data in one process (``benchmarks/search_wall_time.py``): about 5x less plotting time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cimkit.columns import COLUMNS, header, metrics_frame
from cimkit.search.objectives import feasible

#: PNG metadata without version or date stamps, so equal data gives byte-equal files.
_PNG_META = {"Software": None}

#: Each NSGA-II metric (the names of ``--pareto``): (metrics-matrix column, data column, scale).
_PARETO: dict[str, tuple[str, str, str]] = {
    "accuracy": ("accuracy", "accuracy_pct", "linear"),
    "energy": ("energy_mj", "energy_j", "log"),
    "delay": ("delay_us", "latency_s", "log"),
    "area": ("area_mm2", "area_m2", "log"),
    "edap": ("edap", "edap_j_s_m2", "log"),
}
#: Axis of each NSGA-II metric: (metrics column, label with display unit, scale); labels come
#: from :mod:`cimkit.columns`, so plots, tables and files name and scale a metric alike.
PARETO_AXES: dict[str, tuple[str, str, str]] = {
    k: (m, header(data), scale) for k, (m, data, scale) in _PARETO.items()
}


@dataclass
class Chart:
    """A written PNG and what its axes show (for tests and captions).

    Attributes:
        path: the PNG.
        axes: one dict per axes: ``xlabel``, ``ylabel``, ``title``, ``lines`` (legend label ->
            (x, y) arrays of each line), ``bars`` (label -> bar lengths), ``points`` (label ->
            (x, y) of each scatter series).
    """

    path: Path
    axes: list[dict[str, Any]] = field(default_factory=list)


def _figure(width_in: float, height_in: float) -> Any:
    """A new figure on the Agg canvas (no pyplot: no global figure manager, nothing to close)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def _layout(
    fig: Any,
    nrows: int,
    ncols: int = 1,
    *,
    left: float = 0.9,
    right: float = 0.2,
    top: float = 0.35,
    bottom: float = 0.55,
    hgap: float = 0.85,
    wgap: float = 0.9,
) -> None:
    """Fixed margins and gaps in inches (room for tick labels, axis label, title).

    ``tight_layout`` measured every tick label (a third of the report's time); these margins fit
    the labels cimkit draws (numbers of at most ~7 characters, one-line titles and labels).
    """
    w, h = fig.get_size_inches()
    ah = (h - top - bottom - hgap * (nrows - 1)) / nrows  # height of one axes, inches
    aw = (w - left - right - wgap * (ncols - 1)) / ncols
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        top=1 - top / h,
        bottom=bottom / h,
        hspace=hgap / max(ah, 1e-3),
        wspace=wgap / max(aw, 1e-3),
    )


def _plain_number(v: float, _pos: Any = None) -> str:
    """Tick label of a log axis: ``0.002``, ``50``, ``1e+04`` (plain text, never mathtext)."""
    return f"{v:g}"


def _log_ticks(axis: Any) -> None:
    """Ticks of a log-scaled ``axis`` (XAxis/YAxis): major at 1, 2, 5 x 10^k, no minor ones."""
    from matplotlib import ticker

    axis.set_major_locator(ticker.LogLocator(base=10.0, subs=(1.0, 2.0, 5.0), numticks=9))
    axis.set_minor_locator(ticker.NullLocator())
    axis.set_major_formatter(ticker.FuncFormatter(_plain_number))


def _scale(ax: Any, which: str, scale: str) -> None:
    """``ax.set_xscale``/``set_yscale`` with cimkit's log ticks (see :func:`_log_scale`)."""
    (ax.set_xscale if which == "x" else ax.set_yscale)(scale)
    if scale == "log":
        _log_ticks(ax.xaxis if which == "x" else ax.yaxis)


def _save(fig: Any, path: Path, described: list[dict[str, Any]]) -> Chart:
    fig.savefig(path, dpi=110, metadata=_PNG_META)
    return Chart(Path(path), described)


def _describe(ax: Any) -> dict[str, Any]:
    """Labels and drawn data of ``ax`` (lines, bar containers, scatter collections)."""
    lines = {
        str(ln.get_label()): (np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float))
        for ln in ax.get_lines()
        if not str(ln.get_label()).startswith("_")
    }
    bars = {
        str(c.get_label()): np.array(
            [p.get_width() if c.orientation == "horizontal" else p.get_height() for p in c]
        )
        for c in ax.containers
    }
    points = {}
    for col in ax.collections:
        off = np.asarray(col.get_offsets(), float)
        if off.ndim == 2 and off.shape[1] == 2:
            points[str(col.get_label())] = (off[:, 0], off[:, 1])
    return {
        "xlabel": ax.get_xlabel(),
        "ylabel": ax.get_ylabel(),
        "title": ax.get_title(),
        "lines": lines,
        "bars": bars,
        "points": points,
    }


# --- convergence -----------------------------------------------------------------------------


def convergence_data(
    histories: dict[str, list[tuple[int, int, float]]],
    objectives: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Rows (series, objective, gen, evaluations, best) of every history.

    ``objectives`` names the objective each series' ``best`` is in (series -> label); a series
    without one is labelled 'score'. Series of different objectives are never drawn on one axis.
    """
    objectives = objectives or {}
    rows = [
        {
            "series": name,
            "objective": objectives.get(name, "score"),
            "gen": g,
            "evaluations": n,
            "best": b,
        }
        for name, hist in histories.items()
        for g, n, b in hist
    ]
    return pd.DataFrame(rows, columns=["series", "objective", "gen", "evaluations", "best"])


def main_objective_series(
    store_history: list[tuple[int, int, float]],
    gen: np.ndarray,
    scores: np.ndarray,
    offset: int = 0,
) -> list[tuple[int, int, float]]:
    """Best-so-far of ``scores`` (one per archived design, inf = infeasible) per generation.

    ``gen`` is each design's generation; ``store_history`` gives the evaluations made by the end
    of each generation (shifted by ``offset``, the evaluations of earlier stages).
    """
    out = []
    for g, n, _ in store_history:
        s = scores[gen <= g]
        out.append((g, n + offset, float(s.min()) if len(s) else float("inf")))
    return out


def render_convergence(
    df: pd.DataFrame,
    path: Path,
    main: str | None = None,
    higher_better: set[str] | frozenset[str] = frozenset(),
) -> Chart:
    """One panel per objective: each series in the objective it was searched (or ranked) in.

    ``main`` (an objective label) is drawn first, titled as the comparable panel; objectives in
    ``higher_better`` (e.g. accuracy) are titled so.
    """
    df = df[np.isfinite(df["best"].astype(float))]
    objs = list(dict.fromkeys(df["objective"]))
    if main in objs:
        objs.remove(main)
        objs.insert(0, main)
    n = max(len(objs), 1)
    fig = _figure(6.4, 2.9 * n + 0.4)
    axs = fig.subplots(n, 1, squeeze=False)
    _layout(fig, n)
    for ax, obj in zip(axs[:, 0], objs, strict=False):
        sub = df[df["objective"] == obj]
        for name, s in sub.groupby("series", sort=False):
            ax.plot(s["evaluations"], s["best"], label=str(name), drawstyle="steps-post")
        ax.set_xlabel("evaluations")
        ax.set_ylabel(f"best {obj}")
        if (sub["best"] > 0).all():
            _scale(ax, "y", "log")
        better = "higher" if obj in higher_better else "lower"
        head = f"all methods in {obj}" if obj == main and len(objs) > 1 else str(obj)
        ax.set_title(f"{head} ({better} is better)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path, [_describe(ax) for ax in axs[: len(objs), 0]])


# --- Pareto / accuracy vs EDAP ----------------------------------------------------------------


def pareto_data(
    result: Any,
    top: np.ndarray,
    max_points: int = 4000,
    metrics: tuple[str, ...] = ("accuracy", "edap"),
) -> pd.DataFrame:
    """Feasible archive designs with every metric, Pareto-front (of ``metrics``) and top flags.

    Columns: design, accuracy_pct, energy_j, latency_s, area_m2, edap_j_s_m2 (SI, as in
    designs.csv; :func:`render_pareto` draws them in display units), front, top, rank. At most
    ``max_points`` non-front, non-top designs are kept (evenly spaced, deterministic).
    """
    M = result.archive.M
    ok = np.flatnonzero(feasible(M))
    front = set(result.pareto(tuple(metrics)).tolist())
    tops = set(int(i) for i in top)
    keep = [i for i in ok if i in front or i in tops]
    rest = [i for i in ok if i not in front and i not in tops]
    if len(rest) > max_points:
        rest = [rest[int(j)] for j in np.linspace(0, len(rest) - 1, max_points)]
    idx = np.array(sorted(keep + rest), dtype=int)
    order = list(top)
    si = metrics_frame(M[idx])
    return pd.DataFrame(
        {
            "design": idx,
            **{data: si[data] for _, data, _ in _PARETO.values()},
            "front": [i in front for i in idx],
            "top": [i in tops for i in idx],
            "rank": [order.index(i) + 1 if i in tops else 0 for i in idx],
        }
    )


def _col(metric: str) -> str:
    return _PARETO[metric][1]


def _shown(df: pd.DataFrame, metric: str) -> np.ndarray:
    """Column of ``metric`` in its display unit (the axis label's)."""
    c = COLUMNS[_col(metric)]
    return c.display(df[c.name].to_numpy(float))


def render_pareto(
    df: pd.DataFrame,
    path: Path,
    extra: dict[str, tuple[float, float]] | None = None,
    metrics: tuple[str, ...] = ("accuracy", "edap"),
) -> Chart:
    """Scatter of every pair of ``metrics`` (x: the second of the pair, y: the first); front
    (non-dominated in all of ``metrics``) highlighted, top five as stars. ``extra`` points
    (label -> (EDAP in J*s*m^2, accuracy %), the data-file units) are drawn on an
    accuracy-vs-EDAP panel only. Axes are in display units, labelled with them."""
    pairs = [(a, b) for i, a in enumerate(metrics) for b in metrics[i + 1 :]]
    fig = _figure(6.2, 4.0 * len(pairs))
    axs = fig.subplots(len(pairs), 1, squeeze=False)
    _layout(fig, len(pairs))
    for ax, (ym, xm) in zip(axs[:, 0], pairs, strict=True):
        ax.scatter(_shown(df, xm), _shown(df, ym), s=4, c="0.7", label="archive (feasible)")
        fr = df[df["front"]].sort_values(_col(xm))
        ax.scatter(_shown(fr, xm), _shown(fr, ym), s=14, c="tab:blue", label="Pareto set", zorder=2)
        if len(metrics) == 2:
            ax.plot(_shown(fr, xm), _shown(fr, ym), "-", c="tab:blue", lw=1, label="Pareto front")
        tp = df[df["top"]]
        ax.scatter(
            _shown(tp, xm), _shown(tp, ym), marker="*", s=120, c="tab:red", label="top 5", zorder=3
        )
        if {xm, ym} == {"accuracy", "edap"}:
            for name, (edap_si, acc) in (extra or {}).items():
                edap = COLUMNS["edap_j_s_m2"].display(edap_si)
                x, y = (edap, acc) if xm == "edap" else (acc, edap)
                ax.scatter([x], [y], marker="D", s=40, zorder=3, label=name)
        _scale(ax, "x", PARETO_AXES[xm][2])
        _scale(ax, "y", PARETO_AXES[ym][2])
        ax.set_xlabel(PARETO_AXES[xm][1])
        ax.set_ylabel(PARETO_AXES[ym][1])
        ax.set_title(f"{PARETO_AXES[ym][1]} vs {PARETO_AXES[xm][1]}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path, [_describe(ax) for ax in axs[:, 0]])


# --- parameters of the top designs -------------------------------------------------------------


def params_data(result: Any, top: np.ndarray) -> pd.DataFrame:
    """Chosen values of the top designs: hardware genes, plus model/quant summaries.

    Columns: rank, parameter, value, position. ``position`` is in (0, 1]: choice ``i`` (0-based)
    of ``n`` is ``(i + 1) / n``, so the smallest choice has a visible bar of ``1 / n`` and the
    largest a full one; a mean of model/quant genes maps its range onto the same scale.
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
            n = len(d.values)
            rows.append(
                {
                    "rank": r + 1,
                    "parameter": d.name,
                    "value": values[d.name][r],
                    "position": (X[r, i] + 1) / n,
                }
            )
        act = space.family.active_mask({k: v[r : r + 1] for k, v in values.items()}, joint.names)[0]
        for sub in ("model", "quantization"):
            idx = [i for i, d in enumerate(joint.dims) if d.subspace == sub and act[i]]
            groups: dict[str, list[int]] = {}
            for i in idx:
                groups.setdefault(joint.dims[i].name.rsplit("_", 1)[0], []).append(i)
            for key, members in groups.items():
                choices = sorted({v for i in members for v in joint.dims[i].values})
                lo, hi, n = choices[0], choices[-1], len(choices)
                mean = float(np.mean([values[joint.dims[i].name][r] for i in members]))
                frac = (mean - lo) / (hi - lo) if hi > lo else 1.0
                rows.append(
                    {
                        "rank": r + 1,
                        "parameter": f"mean {key}",
                        "value": mean,
                        "position": (1 + (n - 1) * frac) / n,
                    }
                )
    return pd.DataFrame(rows, columns=["rank", "parameter", "value", "position"])


def render_params(df: pd.DataFrame, path: Path) -> Chart:
    """Grouped horizontal bars: each parameter's choice for the top designs (see params_data)."""
    params = list(dict.fromkeys(df["parameter"]))
    ranks = sorted(df["rank"].unique())
    fig = _figure(7, 0.32 * len(params) * max(1, len(ranks)) ** 0.5 + 1.5)
    ax = fig.subplots()
    # Room for the longest parameter name (7 pt tick labels: about 0.055 in per character).
    longest = max((len(str(p)) for p in params), default=1)
    _layout(fig, 1, left=0.25 + 0.055 * longest, top=0.15)
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
    ax.set_xlabel("choice: 1/n = smallest of the n choices, 1 = largest")
    ax.legend(fontsize=7, ncol=5)
    ax.invert_yaxis()
    return _save(fig, path, [_describe(ax)])


# --- one design: per-layer and per-component charts (cimkit evaluate --out) --------------------


def render_layers(layers: pd.DataFrame, path: Path, title: str = "") -> Chart:
    """Per-layer energy (uJ, stacked by component) and latency (us) of one design.

    ``layers`` is :meth:`~cimkit.cost.Evaluation.layers_frame` of one design; layers with
    neither energy nor latency (e.g. reshapes) are left out.
    """
    comps = [c for c in layers.columns if c.startswith("energy_") and c != "energy_j"]
    busy = layers[(layers["energy_j"] > 0) | (layers["latency_s"] > 0)].reset_index(drop=True)
    x = np.arange(len(busy))
    fig = _figure(max(7.0, 0.12 * len(busy) + 2), 6.4)
    ax1, ax2 = fig.subplots(2, 1)
    bottom = np.zeros(len(busy))
    for c in comps:
        v = busy[c].to_numpy(float) * 1e6
        if not v.any():
            continue
        ax1.bar(x, v, bottom=bottom, width=0.85, label=c[len("energy_") : -len("_j")])
        bottom += v
    ax1.set_ylabel("energy (uJ)")
    ax1.set_title(f"{title}: energy per layer by component" if title else "energy per layer")
    ax1.legend(fontsize=6, ncol=4)
    ax2.bar(x, busy["latency_s"].to_numpy(float) * 1e6, width=0.85, label="latency")
    ax2.set_ylabel("latency (us)")
    ax2.set_xlabel("layer (in execution order)")
    ax2.set_title("latency per layer")
    step = max(1, len(busy) // 40)
    for ax in (ax1, ax2):
        ax.set_xticks(x[::step])
        ax.set_xticklabels(busy["layer"].astype(str)[::step], rotation=90, fontsize=5)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()  # rotated layer names of any length: measured (not on the search path)
    return _save(fig, path, [_describe(ax1), _describe(ax2)])


def render_components(components: pd.DataFrame, path: Path, title: str = "") -> Chart:
    """Energy (uJ) and area (mm^2) per component of one design (zero components left out).

    ``components`` is :meth:`~cimkit.cost.Evaluation.components_frame` of one design.
    """
    fig = _figure(9, 3.8)
    ax1, ax2 = fig.subplots(1, 2)
    for ax, col, scale, label in (
        (ax1, "energy_j", 1e6, "energy (uJ)"),
        (ax2, "area_m2", COLUMNS["area_m2"].display_factor, header("area_m2")),
    ):
        sub = components[components[col] > 0].sort_values(col)
        ax.barh(sub["component"].astype(str), sub[col].to_numpy(float) * scale, label=label)
        ax.set_xlabel(label)
        ax.set_title(f"{title}: {label} by component" if title else f"{label} by component")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()  # component names of any length: measured (not on the search path)
    return _save(fig, path, [_describe(ax1), _describe(ax2)])


def write_design_charts(ev: Any, out: Path, title: str = "") -> list[Path]:
    """``layers.png`` and ``components.png`` of the first design of a cost-model evaluation
    (``evaluate(..., breakdown=True)``) in ``out``; returns their paths."""
    first = ev.designs.names[0]
    layers = ev.layers_frame()
    comps = ev.components_frame()
    return [
        render_layers(layers[layers["design"] == first], out / "layers.png", title).path,
        render_components(comps[comps["design"] == first], out / "components.png", title).path,
    ]
