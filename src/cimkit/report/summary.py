"""Markdown and HTML report of a search (or a comparison) plus the archive as CSV and Parquet.

Everything written is a function of the stored archive: no timestamps or wall times, so the
same seed gives byte-identical reports (a test checks this).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.report import plots
from cimkit.report.tables import markdown_table
from cimkit.search.objectives import COL, feasible


def write_report(
    out: Path,
    result: Any,
    rows: list[dict[str, Any]],
    histories: dict[str, list[tuple[int, int, float]]],
    *,
    title: str,
    command: str,
    extra_points: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, designs.csv/.parquet and three PNGs into ``out``.

    ``out`` is created with its parents; a file in the way or a folder that cannot be written
    raises :class:`~cimkit.errors.SpecError` (one line) before anything is written.
    """
    from cimkit.cli_errors import prepare_out_dir

    out = prepare_out_dir(out, "report folder")
    obj = result.objective
    top = result.top(5)
    files: dict[str, Path] = {}
    frame = result.frame()
    files["csv"] = out / "designs.csv"
    frame.to_csv(files["csv"], index=False, float_format="%.17g")
    files["parquet"] = out / "designs.parquet"
    frame.to_parquet(files["parquet"], index=False)
    files["convergence"] = plots.render_convergence(
        plots.convergence_data(histories), out / "convergence.png", obj.label or obj.name
    )
    if len(top):
        files["pareto"] = plots.render_pareto(
            plots.pareto_data(result, top), out / "pareto.png", extra_points or {}
        )
        files["params"] = plots.render_params(plots.params_data(result, top), out / "params.png")

    acc_note = result.space.spec.accuracy.note or result.space.spec.accuracy.source
    cfg = result.config
    M = result.archive.M
    md = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Space: `{result.space.source}` ({result.space.joint.n_var} genes, "
        f"10^{result.space.joint.log10_size:.1f} genomes). Objective: {obj.label or obj.name} "
        f"({obj.units}), minimised; constraints: weights fit (weight-stationary), area <= "
        f"{result.space.area_constraint_mm2} mm^2, cycle time >= readout time.",
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
        markdown_table(rows, obj.label or obj.name),
        "",
        "Score of baseline 2 = mean of the per-configuration scores; diversity = mean pairwise "
        "fraction of differing effective genes among the top five (docs/search.md).",
        "",
        "## Convergence",
        "",
        "![convergence](convergence.png)",
        "",
    ]
    if len(top):
        md += [
            "## Accuracy vs EDAP (all feasible designs, Pareto front, top five)",
            "",
            "![pareto](pareto.png)",
            "",
            "## Parameters of the top five designs",
            "",
            "![params](params.png)",
            "",
            _top_table(result, top),
            "",
        ]
    else:
        md += ["**No feasible design was found.**", ""]
    md += ["Files: `designs.csv`, `designs.parquet` (one row per evaluated design).", ""]
    text = "\n".join(md)
    files["md"] = out / "report.md"
    files["md"].write_text(text)
    files["html"] = out / "report.html"
    files["html"].write_text(_html(title, text))
    return files


def _top_table(result: Any, top: np.ndarray) -> str:
    joint = result.space.joint
    values = joint.decode(result.archive.X[top].astype(np.int64))
    hw = [d.name for d in joint.dims if d.subspace == "hardware"]
    scores = result.scores()
    head = ["rank", "design", "score", "top-1 (%)", "EDAP", *hw]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r, i in enumerate(top):
        cells_ = [
            str(r + 1),
            str(int(i)),
            f"{scores[i]:.4g}",
            f"{100 * result.archive.M[i, COL['accuracy']]:.2f}",
            f"{result.archive.M[i, COL['edap']]:.3g}",
        ]
        cells_ += [f"{values[h][r]:g}" for h in hw]
        lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def _html(title: str, md: str) -> str:
    """A self-contained HTML page: the Markdown's paragraphs, tables and images."""
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            if set(line.replace("|", "").strip()) <= {"-"}:
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            cells_ = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells_) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1 : -1]
            body.append(f'<img src="{html.escape(src)}" alt="{html.escape(src)}">')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
        "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:"
        "right}img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
