"""Markdown and HTML report of a search (or a comparison) plus the archive as CSV and Parquet.

Everything written is a function of the stored archive: no timestamps or wall times, so the
same seed gives byte-identical reports (a test checks this). The report says what it shows:

* a GA run: its objective, convergence in that objective, accuracy vs EDAP, the top five;
* an NSGA-II run: its 2-3 Pareto objectives, the best value of each objective per generation
  (one panel each), every pair of objectives as a scatter with the Pareto set, and the Pareto
  set as a table (the top five are ranked by the scalar score named in the text);
* a comparison: one panel with every method in the comparison's objective (the final stage's
  archive scored in it, the number the table reports), then one panel per stage objective.

HTML is rendered from the Markdown with markdown-it-py (CommonMark + tables); raw HTML in the
text is escaped. Paths in reports are file names (the report folder's own files, the space
file's name): no folder of the machine the search ran on.
"""

from __future__ import annotations

import html
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.columns import COLUMNS, METRIC_MATRIX, header
from cimkit.report import plots
from cimkit.report.tables import markdown_table, md_table
from cimkit.search.objectives import COL, feasible

#: Rows of the Pareto-set table at most (the CSV holds every design).
MAX_PARETO_ROWS = 100


def relative_command(command: str) -> str:
    """``command`` with every absolute path (also in ``--opt=/path``) cut to its file name."""
    try:
        tokens = shlex.split(command)
    except ValueError:  # unbalanced quotes: leave the words, cut what looks like a path
        tokens = command.split()
    out = []
    for t in tokens:
        key, eq, val = t.partition("=") if t.startswith("--") else ("", "", t)
        v = val if eq or not key else t
        if v.startswith(("/", "~")) or (len(v) > 2 and v[1] == ":" and v[2] in "\\/"):
            v = Path(v).name or v
        out.append(f"{key}={v}" if eq else v)
    return shlex.join(out)


def write_report(
    out: Path,
    result: Any,
    rows: list[dict[str, Any]],
    histories: dict[str, list[tuple[int, int, float]]],
    *,
    title: str,
    command: str,
    extra_points: dict[str, tuple[float, float]] | None = None,
    objectives: dict[str, str] | None = None,
    main: str | None = None,
    sections: list[str] | None = None,
    section_files: dict[str, Path] | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, designs.csv/.parquet and the PNGs into ``out``.

    Args:
        result: the run's (comparison: CIMNAS's) :class:`~cimkit.search.engine.SearchResult`.
        rows: Table III rows.
        histories: series -> [(gen, evaluations, best)].
        objectives: series -> label of the objective its ``best`` is in (default: the run's).
        main: label of the objective every method is compared in (default: the run's).
        sections: Markdown lines placed after Table III (:mod:`cimkit.report.sections`:
            re-measured accuracy, Fig. 2, Fig. 6); ``section_files``: the files they wrote.

    ``out`` is created with its parents; a file in the way or a folder that cannot be written
    raises :class:`~cimkit.errors.SpecError` (one line) before anything is written.
    """
    from cimkit.cli_errors import prepare_out_dir

    out = prepare_out_dir(out, "report folder")
    cfg = result.config
    obj = result.objective
    label = obj.label or obj.name
    nsga = cfg.algorithm == "nsga2"
    metrics = tuple(cfg.pareto) if nsga else ("accuracy", "edap")
    top = result.top(5)
    files: dict[str, Path] = {}
    frame = result.frame()
    files["csv"] = out / "designs.csv"
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    # pyarrow's writer is ~14x faster than pandas' (0.3 s vs 4 s for an 11k x 149 archive);
    # floats are written shortest-round-trip, so read_csv gives back the same values.
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), files["csv"])
    files["parquet"] = out / "designs.parquet"
    frame.to_parquet(files["parquet"], index=False)

    if nsga:
        histories, objectives, main = _pareto_convergence(result, metrics)
    else:
        objectives = objectives or {k: label for k in histories}
        main = main or label
    conv = plots.render_convergence(
        plots.convergence_data(histories, objectives),
        out / "convergence.png",
        main,
        higher_better={plots.PARETO_AXES["accuracy"][1]},
    )
    files["convergence"] = conv.path
    front = result.pareto(metrics) if len(top) or nsga else np.zeros(0, int)
    if len(top):
        files["pareto"] = plots.render_pareto(
            plots.pareto_data(result, top, metrics=metrics),
            out / "pareto.png",
            extra_points or {},
            metrics,
        ).path
        files["params"] = plots.render_params(
            plots.params_data(result, top), out / "params.png"
        ).path

    acc_note = result.space.spec.accuracy.note or result.space.spec.accuracy.source
    M = result.archive.M
    space_name = Path(str(result.space.source)).name
    constraints = (
        f"constraints: weights fit (weight-stationary), area <= "
        f"{result.space.area_constraint_mm2} mm^2, cycle time >= readout time."
    )
    if nsga:
        names = ", ".join(
            f"{m} ({'maximised' if m == 'accuracy' else 'minimised'})" for m in metrics
        )
        what = (
            f"Objectives (NSGA-II Pareto front): {names}; {constraints} The top five and the "
            f"table's scores rank the archive by {label} ({obj.units})."
        )
    else:
        what = f"Objective: {label} ({obj.units}), minimised; {constraints}"
    md = [
        f"# {title}",
        "",
        f"Command: `{relative_command(command)}`",
        "",
        f"Space: `{space_name}` ({result.space.joint.n_var} genes, "
        f"10^{result.space.joint.log10_size:.1f} genomes). {what}",
        "",
        f"Algorithm: {cfg.algorithm.upper()} (pymoo), P = {cfg.pop_size}, G = {cfg.n_gen}, "
        f"seed {cfg.seed}, SBX eta {cfg.eta_c:g} p {cfg.p_c:g}, PM eta {cfg.eta_m:g} "
        f"p {cfg.p_m:g}. Archive: {len(M):,} unique designs, "
        f"{int(feasible(M).sum()):,} feasible.",
        "",
        f"Accuracy: {acc_note}",
        "",
        "## Comparison (Table III layout)",
        "",
        markdown_table(rows, label),
        "",
        f"Score = {label} of each method's best design; baseline 2's score is the mean of the "
        "per-configuration scores; diversity = mean pairwise fraction of differing effective "
        "genes among the top five (docs/search.md).",
        "",
        *(sections or []),
        "## Convergence",
        "",
        "![convergence](convergence.png)",
        "",
        _convergence_caption(nsga, objectives, main),
        "",
    ]
    if nsga:
        md += _pareto_section(result, metrics, front, top)
    elif len(top):
        md += [
            "## Accuracy vs EDAP (all feasible designs, Pareto front, top five)",
            "",
            "![pareto](pareto.png)",
            "",
        ]
    if len(top):
        md += [
            f"## Parameters of the top five designs (by {label})",
            "",
            "![params](params.png)",
            "",
            "Bars: choice i of n is drawn (i + 1) / n long (the smallest choice 1/n, the largest "
            "full); labels are the values of design #1.",
            "",
            _top_table(result, top),
            "",
        ]
    else:
        md += ["**No feasible design was found.**", ""]
    md += [
        "Files: `designs.csv`, `designs.parquet` (one row per evaluated design; SI units named "
        "in the columns: energy_j, latency_s, area_m2, edap_j_s_m2, accuracy_pct in %; "
        "g_fit, g_area, g_cycle are the constraints, feasible where <= 0; score is the "
        "objective above; every column is described in docs/columns.md).",
        "",
    ]
    files.update(section_files or {})
    text = "\n".join(md)
    files["md"] = out / "report.md"
    files["md"].write_text(text)
    files["html"] = out / "report.html"
    files["html"].write_text(render_html(title, text))
    return files


def _convergence_caption(nsga: bool, objectives: dict[str, str], main: str | None) -> str:
    if nsga:
        return (
            "One panel per Pareto objective: the best feasible value in the archive after each "
            "generation (NSGA-II optimises all of them at once; no single score)."
        )
    others = sorted(set(objectives.values()) - {main})
    text = f"Best feasible {main} by evaluations (lower is better)."
    if others:
        text += (
            f" The first panel scores every method's final-stage archive in {main}, the "
            "number the table reports; the other panels show each stage in the objective it "
            f"searched ({', '.join(others)}), never on the {main} axis."
        )
    return text


def _pareto_convergence(
    result: Any, metrics: tuple[str, ...]
) -> tuple[dict[str, list[tuple[int, int, float]]], dict[str, str], str]:
    """Per Pareto metric: best feasible value after each generation, its axis label."""
    M, gen = result.archive.M, result.archive.gen
    ok = feasible(M)
    hist = result.history or [(int(g), 0, 0.0) for g in np.unique(gen)]
    histories, objectives = {}, {}
    for m in metrics:
        col, lab, _ = plots.PARETO_AXES[m]
        v = _display(M, col)
        series = []
        for g, n, _ in hist:
            sel = v[ok & (gen <= g)]
            best = (sel.max() if m == "accuracy" else sel.min()) if len(sel) else np.inf
            series.append((g, n, float(best)))
        histories[m] = series
        objectives[m] = lab
    return histories, objectives, objectives[metrics[0]]


def _pareto_section(
    result: Any, metrics: tuple[str, ...], front: np.ndarray, top: np.ndarray
) -> list[str]:
    M = result.archive.M
    title = ", ".join(metrics)
    out = [
        f"## Pareto set ({title})",
        "",
        "![pareto](pareto.png)" if len(top) else "",
        "",
        f"Every pair of the objectives; blue: the {len(front)} feasible designs no other "
        f"design beats in all of {title}; stars: the top five.",
        "",
    ]
    if not len(front):
        return out + ["**No feasible design was found.**", ""]
    cols = [plots.PARETO_AXES[m] for m in metrics]
    others = [k for k in ("accuracy", "energy", "delay", "area", "edap") if k not in metrics]
    cols += [plots.PARETO_AXES[k] for k in others]
    first = plots.PARETO_AXES[metrics[0]][0]
    order = sorted(front, key=lambda i: (-1 if first == "accuracy" else 1) * M[i, COL[first]])
    shown = order[:MAX_PARETO_ROWS]
    rows = []
    for i in shown:
        cells = [str(int(i))]
        for c, _, _ in cols:
            v = _display(M[i : i + 1], c)[0]
            cells.append(f"{v:.2f}" if c == "accuracy" else f"{v:.4g}")
        rows.append(cells)
    head = ["design", *(lab for _, lab, _ in cols)]
    out += [md_table(head, rows), ""]
    if len(order) > len(shown):
        out += [f"First {len(shown)} of {len(order)} rows; all designs are in designs.csv.", ""]
    return out


def _top_table(result: Any, top: np.ndarray) -> str:
    joint = result.space.joint
    values = joint.decode(result.archive.X[top].astype(np.int64))
    hw = [d.name for d in joint.dims if d.subspace == "hardware"]
    scores = result.scores()
    label = result.objective.label or result.objective.name
    head = [
        "rank",
        "design",
        f"score ({label}, {result.objective.units})",
        header("accuracy_pct"),
        header("edap_j_s_m2"),
        *hw,
    ]
    rows = []
    M = result.archive.M
    for r, i in enumerate(top):
        cells_ = [
            str(r + 1),
            str(int(i)),
            f"{scores[i]:.4g}",
            f"{_display(M[i : i + 1], 'accuracy')[0]:.2f}",
            f"{_display(M[i : i + 1], 'edap')[0]:.3g}",
        ]
        cells_ += [f"{values[h][r]:g}" for h in hw]
        rows.append(cells_)
    return md_table(head, rows)


def _display(M: np.ndarray, col: str) -> np.ndarray:
    """Metrics-matrix column ``col`` in the display unit of its data column (cimkit.columns)."""
    _, file_col, factor = METRIC_MATRIX[col]
    return COLUMNS[file_col].display(M[:, COL[col]] * factor)


def render_html(title: str, md: str) -> str:
    """A self-contained HTML page of the Markdown ``md`` (CommonMark + GFM tables)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
        "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:"
        "right}img{max-width:100%}code{background:#f3f3f3;padding:0 3px}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>\n{body}</body></html>\n"
    )
