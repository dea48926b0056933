"""The CIMNAS paper's analyses: Fig. 2 (parameter sensitivity, metric correlation) and Fig. 6
(partial co-optimization modes), as Python functions returning frames and as report writers.

Fig. 2 of Krestinskaya et al. (arXiv 2509.25862) is a figure only; the text says it shows "the
effect of search space parameters on hardware performance and accuracy and [the] correlation
between them" over the space. cimkit's reading (docs/analyses.md):

* designs: ``n`` uniformly random genomes of the joint space that meet the constraints (weights
  fit, area <= A_constr, cycle time), sampled in batches until ``n`` are found;
* parameters (the rows of the figure): every hardware gene as it is, and the model and
  quantization genes grouped by name over the block slots or stages a design *uses*: ``depth``
  is the total number of blocks (sum of ``depth_s*``), every other group (``kernel``,
  ``expand``, ``dw_w`` ...) the mean of its effective genes (:mod:`cimkit.space.effective`);
  genes without a slot/stage suffix (``width``) are kept as they are;
* sensitivity of metric m to parameter p: Spearman's rank correlation rho(p, m) over the designs
  (signed: +1 = the metric rises with the parameter) and the correlation ratio eta^2 (share of
  the metric's variance explained by the parameter's value, binned; log10 of the hardware
  metrics, which span decades), which also sees effects that are not monotone;
* correlation matrix: Spearman's rho between the metrics (energy, delay, area, EDAP, accuracy).

Fig. 6 runs the same GA with the same budget (P, G, seed) on the seven sub-space combinations
of the paper's Section V (model, quantization, hardware, the three pairs and the full joint
search), each with the genes outside its sub-spaces fixed at baseline 1 (the standard 8-bit
network on the median hardware), and tabulates each mode's best design against the joint one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cimkit.columns import header, metrics_frame
from cimkit.errors import InfeasibleDesignError, SpecError
from cimkit.search.objectives import feasible

#: Fig. 2 metrics: data-file columns (SI; accuracy in %), in the figure's order E, D, A, EDAP, Acc.
FIG2_METRICS: tuple[str, ...] = ("energy_j", "latency_s", "area_m2", "edap_j_s_m2", "accuracy_pct")
#: Metrics whose log10 is binned for eta^2 (they span orders of magnitude over a space).
_LOG_METRICS = frozenset({"energy_j", "latency_s", "area_m2", "edap_j_s_m2"})
#: Bins of a parameter with more distinct values than this (group means): quantile bins.
MAX_BINS = 7
#: Genomes drawn per evaluation batch while sampling the random feasible designs.
SAMPLE_BATCH = 500
#: Give up when this many genomes per requested design gave too few feasible ones.
MAX_SAMPLES_PER_DESIGN = 50
#: Fig. 6: mode -> searched sub-spaces, in the paper's order (Section V: seven experiments).
COOPT_MODES: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "quantization": ("quantization",),
    "hardware": ("hardware",),
    "model+quantization": ("model", "quantization"),
    "model+hardware": ("model", "hardware"),
    "quantization+hardware": ("quantization", "hardware"),
    "joint": ("model", "quantization", "hardware"),
}
JOINT = "joint"

_GROUPED = re.compile(r"^(?P<group>.+)_(?:b|s)(?P<index>\d+)$")


# --------------------------------------------------------------------------- Fig. 2
def design_parameters(space: Any, X: np.ndarray) -> pd.DataFrame:
    """Fig. 2 parameters of the genomes ``X`` (N, D): one column per parameter, N rows.

    Hardware genes keep their names and values (units in the name); model and quantization
    genes named ``<group>_b<j>`` or ``<group>_s<i>`` become one column per group: the number of
    blocks for ``depth`` (sum), else the mean over the genes that change the design. Other genes
    (``width``) are kept as they are.
    """
    from cimkit.space.effective import effective_mask

    X = np.asarray(X, dtype=np.int64)
    values = space.joint.decode(X)
    eff = effective_mask(space, X)
    groups: dict[str, list[int]] = {}
    cols: dict[str, np.ndarray] = {}
    for i, d in enumerate(space.joint.dims):
        m = _GROUPED.match(d.name) if d.subspace != "hardware" else None
        if m is None:
            cols[d.name] = values[d.name]
        else:
            groups.setdefault(m["group"], []).append(i)
            cols.setdefault(m["group"], np.zeros(0))  # keeps the genome's order of groups
    for g, idx in groups.items():
        V = np.stack([values[space.joint.names[i]] for i in idx], 1)
        if g == "depth":
            cols[g] = V.sum(axis=1)
        else:
            w = eff[:, idx].astype(float)
            # Every group has at least one effective gene per design (each stage >= 1 block).
            cols[g] = (V * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1.0)
    return pd.DataFrame(cols)


def parameter_subspaces(space: Any, parameters: list[str]) -> dict[str, str]:
    """Sub-space ('model', 'quantization', 'hardware') of each Fig. 2 parameter."""
    out: dict[str, str] = {}
    for d in space.joint.dims:
        m = _GROUPED.match(d.name) if d.subspace != "hardware" else None
        out.setdefault(d.name if m is None else m["group"], d.subspace)
    return {p: out[p] for p in parameters}


def random_feasible(
    problem: Any,
    n: int,
    seed: int = 0,
    *,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` uniformly random genomes that meet the constraints, with their metrics.

    Returns (X (n, D) int64, M (n, len(METRICS)) metrics matrix, genomes sampled). Batches of
    :data:`SAMPLE_BATCH`; ``on_batch(found, sampled)`` after each. Raises
    InfeasibleDesignError when :data:`MAX_SAMPLES_PER_DESIGN` x n genomes give fewer than n.
    """
    rng = np.random.default_rng([seed, 2002])  # Fig. 2's own stream
    joint = problem.space.joint
    Xs: list[np.ndarray] = []
    Ms: list[np.ndarray] = []
    found = sampled = 0
    limit = MAX_SAMPLES_PER_DESIGN * n
    while found < n:
        if sampled >= limit:
            raise InfeasibleDesignError(
                f"--n {n}: only {found} of {sampled:,} random designs of "
                f"{getattr(problem.space, 'source', 'the space')} meet the constraints; ask "
                f"for at most {found} designs or relax the area constraint (--area)"
            )
        X = joint.sample(SAMPLE_BATCH, rng)
        M = problem.evaluate(X)
        ok = feasible(M)
        Xs.append(X[ok])
        Ms.append(M[ok])
        found += int(ok.sum())
        sampled += len(X)
        if on_batch is not None:
            on_batch(min(found, n), sampled)
    return np.concatenate(Xs)[:n], np.concatenate(Ms)[:n], sampled


def _ranks(a: np.ndarray) -> np.ndarray:
    """(N, K) average ranks of each column (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=0)


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P, K) Spearman's rho of every column of ``a`` (N, P) with every column of ``b`` (N, K).

    Pearson correlation of the average ranks (the textbook definition, ties included); NaN for
    a column that is constant over the N rows (no ranking to correlate).
    """
    ra, rb = _ranks(a), _ranks(b)
    ra = ra - ra.mean(axis=0)
    rb = rb - rb.mean(axis=0)
    num = ra.T @ rb
    den = np.sqrt((ra**2).sum(axis=0))[:, None] * np.sqrt((rb**2).sum(axis=0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bins(p: np.ndarray) -> np.ndarray:
    """(N,) bin code of a parameter: its distinct values, or MAX_BINS quantile bins."""
    u, inv = np.unique(p, return_inverse=True)
    if len(u) <= MAX_BINS:
        return inv
    edges = np.quantile(p, np.linspace(0, 1, MAX_BINS + 1)[1:-1])
    return np.searchsorted(np.unique(edges), p, side="right")


def eta_squared(p: np.ndarray, y: np.ndarray) -> float:
    """Correlation ratio of ``y`` (N,) on the bins of ``p`` (N,): between-bin variance / total.

    0 = the bin means are equal, 1 = ``y`` is a function of the bin. NaN when ``y`` is constant.
    """
    codes = _bins(p)
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 0:
        return math.nan
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=y) / np.maximum(counts, 1)
    between = float((counts * (means - y.mean()) ** 2).sum())
    return between / total


@dataclass
class Sensitivity:
    """Fig. 2 for one space.

    Attributes:
        designs: one row per random feasible design: the Fig. 2 parameters and the metrics
            (:data:`FIG2_METRICS` plus TOPS/W, TOPS/mm^2, utilization; SI units).
        sensitivity: one row per (parameter, metric): ``parameter``, ``subspace``, ``metric``,
            ``spearman_rho`` (-1..1), ``eta2`` (0..1), ``n``.
        effects: one row per (parameter, bin, metric): ``parameter``, ``bin``, ``value`` (mean
            parameter value of the bin), ``metric``, ``mean`` (geometric mean for the hardware
            metrics, arithmetic for accuracy; SI / %), ``n``.
        correlation: metric x metric Spearman rho (square frame, index = columns = metrics;
            correlation.csv holds it in long form: ``metric``, ``other``, ``spearman_rho``).
        n_sampled: genomes drawn to find the designs (feasible fraction = len(designs) /
            n_sampled).
    """

    designs: pd.DataFrame
    sensitivity: pd.DataFrame
    effects: pd.DataFrame
    correlation: pd.DataFrame
    n_sampled: int
    parameters: list[str] = field(default_factory=list)
    space_name: str = ""


def sensitivity(
    space: Any,
    n: int = 2000,
    seed: int = 0,
    *,
    problem: Any = None,
    area_constraint_mm2: float | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> Sensitivity:
    """Fig. 2: sensitivity of E, D, A, EDAP and accuracy to each parameter, and the metrics'
    correlation matrix, over ``n`` random feasible designs of ``space``.

    Args:
        space: a loaded :class:`~cimkit.space.spec.SearchSpace`.
        n: random feasible designs (>= 3: a rank correlation of fewer says nothing).
        seed: seeds the sampling.
        problem: evaluates the genomes (default: ``CimnasProblem(space)`` with the space's
            accuracy source; tests pass one with a stub accuracy).
        area_constraint_mm2: overrides the space's A_constr (None: the space's).
        on_batch: progress, ``fn(found, sampled)`` after each batch.
    """
    from cimkit.search.problem import CimnasProblem

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 3:
        raise SpecError(f"--n {n!r}: give an integer >= 3 (a rank correlation needs designs)")
    if problem is None:
        problem = CimnasProblem(space, area_constraint_mm2=area_constraint_mm2)
    X, M, sampled = random_feasible(problem, int(n), seed, on_batch=on_batch)
    params = design_parameters(space, X)
    names = list(params.columns)
    si = metrics_frame(M)
    metric_cols = [*FIG2_METRICS, "tops_per_w", "tops_per_mm2", "utilization"]
    designs = params.copy()
    for c in metric_cols:
        designs[c] = si[c]
    P = params.to_numpy(dtype=float)
    Y = np.stack([si[c] for c in FIG2_METRICS], 1)
    rho = spearman_matrix(P, Y)
    subs = parameter_subspaces(space, names)
    rows, effects = [], []
    for i, p in enumerate(names):
        codes = _bins(P[:, i])
        for k, m in enumerate(FIG2_METRICS):
            y = np.log10(Y[:, k]) if m in _LOG_METRICS else Y[:, k]
            rows.append(
                {
                    "parameter": p,
                    "subspace": subs[p],
                    "metric": m,
                    "spearman_rho": float(rho[i, k]),
                    "eta2": eta_squared(P[:, i], y),
                    "n": len(X),
                }
            )
            for b in np.unique(codes):
                sel = codes == b
                mean = float(y[sel].mean())
                effects.append(
                    {
                        "parameter": p,
                        "bin": int(b),
                        "value": float(P[sel, i].mean()),
                        "metric": m,
                        "mean": 10**mean if m in _LOG_METRICS else mean,
                        "n": int(sel.sum()),
                    }
                )
    corr = pd.DataFrame(spearman_matrix(Y, Y), index=list(FIG2_METRICS), columns=FIG2_METRICS)
    return Sensitivity(
        designs,
        pd.DataFrame(rows),
        pd.DataFrame(effects),
        corr,
        sampled,
        names,
        getattr(space.spec, "name", ""),
    )


def _metric_label(m: str) -> str:
    return {"edap_j_s_m2": "EDAP", "accuracy_pct": "accuracy"}.get(m, header(m).split(" (")[0])


def render_sensitivity(s: Sensitivity, path: Path) -> Any:
    """Heat map of Spearman's rho, parameters (rows) x metrics (columns), values written in."""
    from cimkit.report.plots import _describe, _figure, _layout, _save

    R = s.sensitivity.pivot(index="parameter", columns="metric", values="spearman_rho")
    R = R.loc[s.parameters, list(FIG2_METRICS)]
    fig = _figure(6.4, 1.2 + 0.3 * len(R))
    _layout(fig, 1, 1, left=1.9, right=1.2, top=0.45, bottom=0.75)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(R.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(R.columns)), [_metric_label(m) for m in R.columns])
    ax.set_yticks(range(len(R)), list(R.index))
    for (i, j), v in np.ndenumerate(R.to_numpy(float)):
        ax.text(
            j, i, "-" if not np.isfinite(v) else f"{v:+.2f}", ha="center", va="center", fontsize=7
        )
    ax.set_xlabel("metric")
    ax.set_ylabel("parameter")
    ax.set_title(f"Spearman rho over {len(s.designs):,} random feasible designs")
    fig.colorbar(im, ax=ax, fraction=0.05)
    d = _describe(ax)
    d["matrix"] = R
    return _save(fig, path, [d])


def render_correlation(s: Sensitivity, path: Path) -> Any:
    """Heat map of the metrics' Spearman correlation matrix."""
    from cimkit.report.plots import _describe, _figure, _layout, _save

    C = s.correlation
    fig = _figure(6.0, 4.6)
    _layout(fig, 1, 1, left=1.1, right=1.0, top=0.5, bottom=0.75)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(C.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [_metric_label(m) for m in C.columns]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(C.to_numpy(float)):
        ax.text(
            j, i, "-" if not np.isfinite(v) else f"{v:+.2f}", ha="center", va="center", fontsize=8
        )
    ax.set_title("Spearman correlation of the metrics")
    fig.colorbar(im, ax=ax, fraction=0.05)
    d = _describe(ax)
    d["matrix"] = C
    return _save(fig, path, [d])


def render_effects(s: Sensitivity, path: Path) -> Any:
    """One panel per parameter: each metric's bin mean relative to its overall mean (log y)."""
    from matplotlib import ticker

    from cimkit.report.plots import _describe, _figure, _layout, _save

    params = s.parameters
    ncols = 4
    nrows = max(1, math.ceil(len(params) / ncols))
    fig = _figure(3.0 * ncols, 2.3 * nrows + 0.6)
    _layout(fig, nrows, ncols, left=0.7, right=0.2, top=0.5, bottom=0.55, hgap=0.75, wgap=0.6)
    described = []
    overall = {
        m: (
            float(10 ** np.log10(s.designs[m]).mean())
            if m in _LOG_METRICS
            else float(s.designs[m].mean())
        )
        for m in FIG2_METRICS
    }
    for i, p in enumerate(params):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        e = s.effects[s.effects["parameter"] == p]
        for m in FIG2_METRICS:
            em = e[e["metric"] == m].sort_values("value")
            ax.plot(em["value"], em["mean"] / overall[m], marker="o", ms=3, label=_metric_label(m))
        ax.set_yscale("log")
        # Few fixed ticks: tick layout was 60 % of this figure's drawing time (16 panels).
        ax.yaxis.set_major_locator(ticker.FixedLocator([0.25, 0.5, 0.8, 1, 1.25, 2, 4]))
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_major_locator(ticker.MaxNLocator(4))
        ax.set_title(p, fontsize=9)
        ax.set_xlabel(p, fontsize=8)
        ax.set_ylabel("mean / overall mean", fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=6)
        described.append(_describe(ax))
    return _save(fig, path, described)


def write_sensitivity(s: Sensitivity, out: str | Path, command: str = "") -> dict[str, Path]:
    """designs.csv, sensitivity.csv, effects.csv, correlation.csv, three PNGs and report.md."""
    from cimkit.cli_errors import prepare_out_dir
    from cimkit.report.tables import md_table

    out = prepare_out_dir(out, "--out")
    files = {
        "designs": out / "designs.csv",
        "sensitivity": out / "sensitivity.csv",
        "effects": out / "effects.csv",
        "correlation": out / "correlation.csv",
    }
    s.designs.to_csv(files["designs"], index=False)
    s.sensitivity.to_csv(files["sensitivity"], index=False)
    s.effects.to_csv(files["effects"], index=False)
    # Long form (metric, other, spearman_rho): one value per row, named by what it is.
    corr = s.correlation.rename_axis(index="metric", columns="other").stack(future_stack=True)
    corr.rename("spearman_rho").reset_index().to_csv(files["correlation"], index=False)
    files["sensitivity_png"] = render_sensitivity(s, out / "sensitivity.png").path
    files["correlation_png"] = render_correlation(s, out / "correlation.png").path
    files["effects_png"] = render_effects(s, out / "effects.png").path
    R = s.sensitivity.pivot(index="parameter", columns="metric", values="spearman_rho")
    E = s.sensitivity.pivot(index="parameter", columns="metric", values="eta2")
    subs = parameter_subspaces_from(s)
    head = ["parameter", "sub-space"] + [f"rho {_metric_label(m)}" for m in FIG2_METRICS]
    head += [f"eta2 {_metric_label(m)}" for m in FIG2_METRICS]
    rows = [
        [p, subs[p]]
        + [_f(R.loc[p, m], "{:+.2f}") for m in FIG2_METRICS]
        + [_f(E.loc[p, m], "{:.2f}") for m in FIG2_METRICS]
        for p in s.parameters
    ]
    C = s.correlation
    crow = [[_metric_label(m)] + [_f(C.loc[m, c], "{:+.2f}") for c in C.columns] for m in C.index]
    n = len(s.designs)
    lines = [
        f"# Fig. 2: parameter sensitivity and metric correlation ({s.space_name})",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"{n:,} random feasible designs ({n / s.n_sampled:.1%} of {s.n_sampled:,} uniformly "
        "random genomes met the constraints). rho: Spearman's rank correlation of the parameter "
        "with the metric (+1: the metric rises with it); eta2: share of the metric's variance "
        "(log10 for energy, delay, area, EDAP) explained by the parameter's value. Model and "
        "quantization parameters are means over the block slots or stages a design uses "
        "(depth: total blocks). Definitions: docs/analyses.md.",
        "",
        md_table(head, rows),
        "",
        "![sensitivity](sensitivity.png)",
        "",
        "## Correlation of the metrics (Spearman)",
        "",
        md_table(["metric", *[_metric_label(c) for c in C.columns]], crow),
        "",
        "![correlation](correlation.png)",
        "",
        "## Effect of each parameter (bin means relative to the overall mean)",
        "",
        "![effects](effects.png)",
        "",
    ]
    files["md"] = out / "report.md"
    files["md"].write_text("\n".join(lines))
    return files


def parameter_subspaces_from(s: Sensitivity) -> dict[str, str]:
    """Parameter -> sub-space, as recorded in ``s.sensitivity``."""
    first = s.sensitivity.drop_duplicates("parameter")
    return dict(zip(first["parameter"], first["subspace"], strict=True))


def _f(v: Any, spec: str) -> str:
    return "-" if v is None or not np.isfinite(float(v)) else spec.format(float(v))


def sensitivity_summary(s: Sensitivity) -> dict[str, Any]:
    """The --json document: counts, per metric the parameter of largest |rho|, the matrix."""
    strongest = {}
    for m in FIG2_METRICS:
        sub = s.sensitivity[s.sensitivity["metric"] == m].dropna(subset=["spearman_rho"])
        if len(sub):
            r = sub.loc[sub["spearman_rho"].abs().idxmax()]
            strongest[m] = {"parameter": r["parameter"], "spearman_rho": float(r["spearman_rho"])}
    return {
        "space": s.space_name,
        "designs": len(s.designs),
        "sampled": s.n_sampled,
        "feasible_fraction": len(s.designs) / s.n_sampled,
        "parameters": s.parameters,
        "metrics": list(FIG2_METRICS),
        "strongest": strongest,
        "correlation": {
            "metrics": list(s.correlation.index),
            "spearman_rho": s.correlation.to_numpy(float).tolist(),
        },
    }


# --------------------------------------------------------------------------- Fig. 6
@dataclass
class Coopt:
    """Fig. 6 for one space: the seven modes' searches and their table.

    Attributes:
        table: one row per mode (plus ``baseline 1`` first): ``mode``, ``subspaces``, ``genes``
            (searched), ``accuracy_pct``, ``energy_j``, ``latency_s``, ``area_m2``,
            ``edap_j_s_m2``, ``score`` (the objective, baseline 1 as priority reference),
            ``tops_per_w``, ``tops_per_mm2``, ``utilization``, ``edap_vs_joint`` and
            ``score_vs_joint`` (mode / joint; > 1 is worse than joint),
            ``accuracy_vs_joint_pp``, ``evaluations`` (unique evaluations of the search),
            ``distinct_designs`` (in its archive, effective genes), ``error``.
        results: mode -> SearchResult (None where the mode found no feasible design).
        objective: the score objective.
        config: the search settings every mode used (only ``subspaces`` differs).
    """

    table: pd.DataFrame
    results: dict[str, Any]
    objective: Any
    config: Any
    space_name: str = ""


def coopt(
    space: Any,
    config: Any = None,
    *,
    problem: Any = None,
    modes: tuple[str, ...] = tuple(COOPT_MODES),
    area_constraint_mm2: float | None = None,
    on_generation: Callable[[str, int, int, float], None] | None = None,
) -> Coopt:
    """Fig. 6: one GA per co-optimization mode with the same budget, seed and objective.

    Args:
        space: a loaded search space.
        config: a :class:`~cimkit.search.engine.SearchConfig` (P, G, seed, objective); its
            ``subspaces`` is replaced per mode. Default: the paper's (P=150, G=70, EDAP/Acc).
        problem: evaluates genomes (default ``CimnasProblem(space)``).
        modes: subset of :data:`COOPT_MODES` (all seven by default; ratios need ``joint``).
        area_constraint_mm2: overrides the space's A_constr.
        on_generation: progress, ``fn(mode, gen, evaluations, best)``.
    """
    from cimkit.report.tables import table_row
    from cimkit.search.compare import baseline1
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.problem import CimnasProblem
    from cimkit.space.effective import n_distinct, top_k_distinct

    unknown = [m for m in modes if m not in COOPT_MODES]
    if unknown or not modes:
        raise SpecError(f"modes {unknown or '(none)'}: choose from {list(COOPT_MODES)}")
    cfg = config or SearchConfig()
    if problem is None:
        problem = CimnasProblem(space, area_constraint_mm2=area_constraint_mm2)
    obj = cfg.score_objective()
    base_x, b1 = baseline1(problem)
    rows = [{**table_row("baseline 1", b1, obj, b1), "mode": "baseline 1", "subspaces": "-"}]
    rows[0].update(genes=0, evaluations=1, distinct_designs=1)
    results: dict[str, Any] = {}
    for mode in modes:
        subs = COOPT_MODES[mode]
        cb = (lambda g, n, b, _m=mode: on_generation(_m, g, n, b)) if on_generation else None
        row: dict[str, Any] = {"mode": mode, "subspaces": "+".join(subs)}
        row["genes"] = len(space.joint.indices(subs))
        try:
            res = Search(
                problem, replace(cfg, subspaces=subs), fixed=base_x, on_generation=cb
            ).run()
        except InfeasibleDesignError as exc:
            results[mode] = None
            rows.append({**row, "error": str(exc)})
            continue
        results[mode] = res
        best = top_k_distinct(res, 1)
        M = res.archive.M
        if len(best):
            tr = table_row(mode, M[best[0]], obj, b1)
            tr.pop("method")
            row.update(tr)
        else:
            row["error"] = "no feasible design"
        row.update(evaluations=int(res.n_evals), distinct_designs=n_distinct(space, res.archive.X))
        rows.append(row)
    table = pd.DataFrame(rows).drop(columns=["method"], errors="ignore")
    if "error" not in table:
        table["error"] = ""
    table["error"] = table["error"].fillna("")
    joint = table[table["mode"] == JOINT]
    for col, ratio in (("edap_j_s_m2", "edap_vs_joint"), ("score", "score_vs_joint")):
        ref = float(joint[col].iloc[0]) if len(joint) and col in joint else math.nan
        table[ratio] = table[col] / ref if col in table else math.nan
    acc_ref = float(joint["accuracy_pct"].iloc[0]) if len(joint) else math.nan
    table["accuracy_vs_joint_pp"] = table["accuracy_pct"] - acc_ref
    order = [
        "mode",
        "subspaces",
        "genes",
        "accuracy_pct",
        "energy_j",
        "latency_s",
        "area_m2",
        "edap_j_s_m2",
        "score",
        "tops_per_w",
        "tops_per_mm2",
        "utilization",
        "edap_vs_joint",
        "score_vs_joint",
        "accuracy_vs_joint_pp",
        "evaluations",
        "distinct_designs",
        "error",
    ]
    for c in order:
        if c not in table:
            table[c] = math.nan
    return Coopt(table[order], results, obj, cfg, getattr(space.spec, "name", ""))


def render_coopt(c: Coopt, path: Path) -> Any:
    """Fig. 6: accuracy vs EDAP of each mode's best design (log x), and EDAP / joint EDAP."""
    from cimkit.columns import COLUMNS
    from cimkit.report.plots import _describe, _figure, _layout, _save, _scale

    t = c.table[c.table["edap_j_s_m2"].notna()]
    edap = COLUMNS["edap_j_s_m2"]
    fig = _figure(11.0, 4.4)
    _layout(fig, 1, 2, left=0.9, right=0.3, top=0.45, bottom=1.3, wgap=1.6)
    ax = fig.add_subplot(1, 2, 1)
    for _, r in t.iterrows():
        x = edap.display(float(r["edap_j_s_m2"]))
        marker = "*" if r["mode"] == "baseline 1" else ("D" if r["mode"] == JOINT else "o")
        ax.scatter([x], [float(r["accuracy_pct"])], marker=marker, s=60, label=r["mode"])
        ax.annotate(
            r["mode"],
            (x, float(r["accuracy_pct"])),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    _scale(ax, "x", "log")
    ax.set_xlabel(header("edap_j_s_m2"))
    ax.set_ylabel(header("accuracy_pct"))
    ax.set_title(f"best design per mode ({c.objective.label or c.objective.name})")
    d1 = _describe(ax)
    ax2 = fig.add_subplot(1, 2, 2)
    modes = t[t["mode"] != "baseline 1"]
    ax2.bar(list(modes["mode"]), modes["edap_vs_joint"].to_numpy(float), label="EDAP / joint EDAP")
    _scale(ax2, "y", "log")
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_ylabel("EDAP / joint search's EDAP")
    ax2.set_xlabel("mode (searched sub-spaces)")
    ax2.set_title("EDAP relative to the joint search (> 1: worse)")
    ax2.tick_params(axis="x", labelrotation=35, labelsize=7)
    return _save(fig, path, [d1, _describe(ax2)])


#: Columns of the Markdown table: (header, format); values shown in display units.
_COOPT_MD: dict[str, tuple[str, str]] = {
    "mode": ("Mode", "{}"),
    "genes": ("Genes searched", "{:.0f}"),
    "accuracy_pct": ("Top-1 (%)", "{:.2f}"),
    "energy_j": (header("energy_j"), "{:.3g}"),
    "latency_s": (header("latency_s"), "{:.3g}"),
    "area_m2": (header("area_m2"), "{:.4g}"),
    "edap_j_s_m2": (header("edap_j_s_m2"), "{:.3g}"),
    "score": ("Score", "{:.4g}"),
    "edap_vs_joint": ("EDAP / joint", "{:.3g}"),
    "score_vs_joint": ("Score / joint", "{:.3g}"),
    "accuracy_vs_joint_pp": ("Acc. vs joint (pp)", "{:+.2f}"),
    "evaluations": ("Evaluations", "{:,.0f}"),
    "distinct_designs": ("Distinct designs", "{:,.0f}"),
}


def coopt_markdown(c: Coopt) -> str:
    """The Fig. 6 table as Markdown (display units; failed modes say why)."""
    from cimkit.columns import COLUMNS
    from cimkit.report.tables import md_table

    label = c.objective.label or c.objective.name
    head = [h if k != "score" else f"Score {label}" for k, (h, _) in _COOPT_MD.items()]
    rows = []
    for _, r in c.table.iterrows():
        if r["error"]:
            rows.append([r["mode"], f"failed: {r['error']}"] + ["-"] * (len(head) - 2))
            continue
        cells = []
        for k, (_, spec) in _COOPT_MD.items():
            v = r[k]
            if isinstance(v, str):
                cells.append(v)
                continue
            if k in COLUMNS and k not in ("accuracy_pct",):
                v = COLUMNS[k].display(v)
            cells.append(_f(v, spec))
        rows.append(cells)
    return md_table(head, rows)


def write_coopt(c: Coopt, out: str | Path, command: str = "") -> dict[str, Path]:
    """coopt.csv (SI), coopt.md, coopt.png and report.md in ``out``."""
    from cimkit.cli_errors import prepare_out_dir

    out = prepare_out_dir(out, "--out")
    files = {"csv": out / "coopt.csv", "table_md": out / "coopt.md", "md": out / "report.md"}
    c.table.to_csv(files["csv"], index=False)
    md = coopt_markdown(c)
    files["table_md"].write_text(md + "\n")
    files["png"] = render_coopt(c, out / "coopt.png").path
    cfg = c.config
    lines = [
        f"# Fig. 6: partial co-optimization ({c.space_name})",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Objective: {c.objective.label or c.objective.name} ({c.objective.units}), minimised. "
        f"Every mode ran the same GA (P={cfg.pop_size}, G={cfg.n_gen}, seed {cfg.seed}) over "
        "the sub-spaces it names, the other genes fixed at baseline 1 (standard 8-bit network, "
        "median hardware). Each row is the mode's best feasible design; ratios are to the "
        "joint search's best (> 1: worse than joint).",
        "",
        md,
        "",
        "![coopt](coopt.png)",
        "",
    ]
    files["md"].write_text("\n".join(lines))
    return files


def coopt_summary(c: Coopt) -> dict[str, Any]:
    """The --json document: settings and the table's rows (SI units, NaN as null)."""
    import json

    cfg = c.config
    return {
        "space": c.space_name,
        "objective": c.objective.label or c.objective.name,
        "pop": cfg.pop_size,
        "gen": cfg.n_gen,
        "seed": cfg.seed,
        "modes": list(c.results),
        "rows": json.loads(c.table.to_json(orient="records")),
    }
