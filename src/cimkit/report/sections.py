"""Report sections beyond Table III: re-measured accuracy, Fig. 2 and Fig. 6.

Each function returns Markdown lines (and writes its CSV/PNG files into the report folder);
:func:`cimkit.report.summary.write_report` places them after Table III. What they show:

* :func:`accuracy_section`: the re-measured designs (predicted vs measured, optional fine-tuned),
  the bias and RMSE of the predictor over the search-chosen designs, the CIMNAS row's measured
  change vs baseline 1 beside the paper's, and how it was measured (``remeasured.csv``); or, when
  nothing was re-measured, one line saying the accuracy is predicted and the command that
  re-measures.
* :func:`figures_section`: the paper's Fig. 2 (:func:`cimkit.search.analyses.sensitivity`) and
  Fig. 6 (:func:`cimkit.search.analyses.coopt`) for the run's space and budget, written into
  ``fig2/`` and ``fig6/`` of the report folder (the CSVs and the PNGs shown; Fig. 2's per-bin
  effects figure is left to ``cimkit analyze sensitivity``) and summarised here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cimkit.report.tables import md_table

#: Random feasible designs of the report's Fig. 2 (as `cimkit analyze sensitivity`'s default).
FIG2_DESIGNS = 2000


def _pct(v: Any, spec: str = "{:.2f}") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return spec.format(f) if math.isfinite(f) else "-"


def predicted_only_lines(remeasure_command: str) -> list[str]:
    """The line a report without re-measurement carries (e.g. ``search --out``)."""
    return [
        "## Accuracy: predicted, not measured",
        "",
        "Accuracy in this report is the accuracy predictor's (fast, but optimistic on the "
        "designs a search picks: docs/search.md). Re-measure the best designs on the supernet "
        f"(quantized, BN recalibrated, 10k test images; cached) with: `{remeasure_command}`",
        "",
    ]


def accuracy_section(rem: Any, out: Path, paper: dict[str, Any] | None) -> tuple[list[str], Path]:
    """Markdown of a :class:`~cimkit.search.remeasure.Remeasured` and its ``remeasured.csv``.

    Args:
        rem: the re-measured designs.
        out: the report folder (``remeasured.csv`` is written there; SI names, accuracy in %).
        paper: :func:`cimkit.search.remeasure.cimnas_vs_paper` of the annotated rows.
    """
    from cimkit.search.remeasure import paper_sentence, stats_sentence

    path = out / "remeasured.csv"
    rem.table.to_csv(path, index=False)
    ft = rem.finetune_steps > 0
    head = ["method", "rank", "design", "predicted (%)", "measured (%)"]
    head += ["fine-tuned (%)"] if ft else []
    head += ["predicted - measured (pp)"]
    rows = []
    for _, r in rem.table.iterrows():
        cells = [
            r["method"],
            str(int(r["rank"])) if int(r["rank"]) else "-",
            str(int(r["design"])) if int(r["design"]) >= 0 else "-",
            _pct(r["accuracy_pct"]),
            _pct(r["accuracy_measured_pct"]),
        ]
        if ft:
            cells.append(_pct(r["accuracy_finetuned_pct"]))
        cells.append(_pct(r["accuracy_error_pp"], "{:+.2f}"))
        rows.append(cells)
    how = (
        f"Measured on `{rem.supernet_name}` (sha256 {rem.supernet_sha256[:12]}): each design's "
        f"subnet with its quantization policy, {rem.settings.describe()}."
    )
    if ft:
        how += (
            f" Fine-tuned: each method's winner and baseline 1 trained alone for "
            f"{rem.finetune_steps} steps of {rem.settings.finetune_batch} training images "
            "from the supernet's weights with its policy (quantization-aware, AdamW, lr "
            f"{rem.settings.finetune_lr:g}), then measured the same way."
        )
    # No counts of cache hits here: the report stays a function of the archive and the
    # measurements (the second report is byte-identical to the first); --json has them.
    how += (
        " Results are cached beside the store, keyed by the supernet's hash, these settings "
        "and the design's effective genes."
    )
    lines = [
        "## Accuracy: predicted vs measured",
        "",
        "Table III's `Measured (%)` is the winner's accuracy measured on the supernet; `Change "
        "(pp)` and the score use the measured accuracies where a row has one (column "
        "`Accuracy used`; the predicted values are `acc_change_predicted_pp` and "
        "`score_predicted` in `--json`).",
        "",
        md_table(head, rows),
        "",
        stats_sentence(rem),
        "",
    ]
    sentence = paper_sentence(paper)
    if sentence:
        lines += [sentence, ""]
    lines += [how, "", "All re-measured designs: `remeasured.csv`.", ""]
    return lines, path


def figures_section(
    problem: Any,
    config: Any,
    out: Path,
    *,
    n_designs: int = FIG2_DESIGNS,
    on_generation: Any = None,
) -> tuple[list[str], dict[str, Path]]:
    """Fig. 2 and Fig. 6 of the run's space into ``out/fig2`` and ``out/fig6``; Markdown lines.

    Args:
        problem: the run's problem (space, area constraint, accuracy source).
        config: the run's :class:`~cimkit.search.engine.SearchConfig`: Fig. 6 runs its seven
            modes with the same P, G, seed and objective (a GA each; NSGA-II runs use the GA with
            their scalar objective), Fig. 2 samples with its seed.
        n_designs: random feasible designs of Fig. 2.
    """
    from cimkit.search.analyses import (
        _metric_label,
        coopt,
        coopt_markdown,
        sensitivity,
        sensitivity_summary,
        write_coopt,
    )
    from cimkit.search.engine import SearchConfig

    space = problem.space
    name = Path(str(space.source)).name
    s = sensitivity(space, n_designs, config.seed, problem=problem)
    f2 = _write_fig2(s, out / "fig2")
    cfg = SearchConfig(
        pop_size=config.pop_size,
        n_gen=config.n_gen,
        seed=config.seed,
        objective=config.objective,
        priority=config.priority,
    )
    c = coopt(space, cfg, problem=problem, on_generation=on_generation)
    cmd = (
        f"cimkit analyze coopt {name} --objective {cfg.objective} --pop {cfg.pop_size} "
        f"--gen {cfg.n_gen} --seed {cfg.seed}"
    )
    if cfg.priority:
        cmd += " --priority " + ",".join(f"{v:g}" for v in cfg.priority)
    f6 = write_coopt(c, out / "fig6", cmd)
    summ = sensitivity_summary(s)
    strongest = [
        [_metric_label(m), v["parameter"], f"{v['spearman_rho']:+.2f}"]
        for m, v in summ["strongest"].items()
    ]
    C = s.correlation
    corr = [[_metric_label(m)] + [_pct(C.loc[m, o], "{:+.2f}") for o in C.columns] for m in C.index]
    n = len(s.designs)
    lines = [
        "## Fig. 2: parameter sensitivity and metric correlation",
        "",
        f"{n:,} random feasible designs of `{name}` (seed {config.seed}; "
        f"{n / s.n_sampled:.1%} of {s.n_sampled:,} random genomes were feasible). Per metric the "
        "parameter with the largest |Spearman rho|; every parameter and eta2 in "
        "`fig2/sensitivity.csv`, the matrix in `fig2/correlation.csv`; the per-bin effects "
        f"figure and full table: `{f2_cmd(name, n_designs, config.seed)} --out DIR`. "
        "Accuracy here is the predictor's.",
        "",
        md_table(["metric", "strongest parameter", "Spearman rho"], strongest),
        "",
        "![sensitivity](fig2/sensitivity.png)",
        "",
        md_table(["metric", *[_metric_label(m) for m in C.columns]], corr),
        "",
        "![correlation](fig2/correlation.png)",
        "",
        "## Fig. 6: partial co-optimization",
        "",
        f"The seven modes of the paper's Fig. 6, one GA each with this run's budget (P = "
        f"{cfg.pop_size}, G = {cfg.n_gen}, seed {cfg.seed}, {c.objective.label or c.objective.name}"
        "), the genes outside each mode fixed at baseline 1; accuracy predicted. "
        f"`fig6/coopt.csv` (SI), command: `{cmd}`.",
        "",
        coopt_markdown(c),
        "",
        "![coopt](fig6/coopt.png)",
        "",
    ]
    files = {f"fig2_{k}": v for k, v in f2.items()} | {f"fig6_{k}": v for k, v in f6.items()}
    return lines, files


def _write_fig2(s: Any, out: Path) -> dict[str, Path]:
    """The CSVs and the two PNGs of Fig. 2 the report shows (the per-bin effects figure, 4 s
    of drawing, is left to ``cimkit analyze sensitivity``)."""
    from cimkit.cli_errors import prepare_out_dir
    from cimkit.search.analyses import render_correlation, render_sensitivity

    out = prepare_out_dir(out, "report folder")
    files = {"sensitivity": out / "sensitivity.csv", "correlation": out / "correlation.csv"}
    s.sensitivity.to_csv(files["sensitivity"], index=False)
    # Long form (metric, other, spearman_rho), as `cimkit analyze sensitivity` writes it.
    corr = s.correlation.rename_axis(index="metric", columns="other").stack(future_stack=True)
    corr.rename("spearman_rho").reset_index().to_csv(files["correlation"], index=False)
    files["sensitivity_png"] = render_sensitivity(s, out / "sensitivity.png").path
    files["correlation_png"] = render_correlation(s, out / "correlation.png").path
    return files


def f2_cmd(name: str, n: int, seed: int) -> str:
    return f"cimkit analyze sensitivity {name} --n {n} --seed {seed}"


def report_sections(
    st: Any,
    run: str,
    out: Path,
    problem: Any,
    result: Any,
    study: tuple[dict[str, Any], dict[str, Any]] | None,
    rows: list[dict[str, Any]],
    *,
    remeasure: int = 0,
    finetune_steps: int = 0,
    figures: bool = False,
    log: Any = None,
) -> tuple[list[dict[str, Any]], list[str], dict[str, Path], dict[str, Any]]:
    """The report's extra sections for run (or comparison) ``run`` of store ``st``.

    Returns (Table III rows, annotated with measured accuracy when re-measured; Markdown
    lines; files written; a JSON-able summary ``{"remeasured": ..., "figures": bool}``).
    ``remeasure`` = designs per method (0: a line saying accuracy is predicted);
    ``finetune_steps`` > 0 also fine-tunes each winner; ``figures`` adds Fig. 2 and Fig. 6.
    """
    from cimkit.cli_errors import prepare_out_dir
    from cimkit.report.summary import relative_command
    from cimkit.search import remeasure as rm
    from cimkit.search.engine import SearchConfig

    out = prepare_out_dir(out, "report folder")
    cfg = result.config if study is None else SearchConfig.from_dict(study[0]["search"])
    lines: list[str] = []
    files: dict[str, Path] = {}
    summary: dict[str, Any] = {"remeasured": None, "figures": bool(figures)}
    try:
        if remeasure or finetune_steps:
            rm.check_space(problem.space)
    except rm.RemeasureUnavailable as exc:
        why = str(exc).split("; use --remeasure")[0]
        lines += ["## Accuracy: not re-measured", "", f"{why}.", ""]
        remeasure = finetune_steps = 0
    if remeasure or finetune_steps:
        from cimkit.search.compare import baseline2

        k = max(1, remeasure)
        if study is not None:
            plan = rm.plan_comparison(st, problem, study[0], study[1], k)
            obj = cfg.score_objective()
        else:
            label = next(
                (r["method"] for r in rows if str(r.get("method", "")).startswith("CIMNAS")),
                f"CIMNAS ({cfg.algorithm})",
            )
            plan = rm.plan_run(problem, result, k, label)
            obj = result.objective
        rows, rem = rm.measure_plan(
            problem.space,
            plan,
            rows,
            obj,
            cache=rm.cache_path_for(st.path),
            finetune_steps=finetune_steps,
            base2_M=baseline2(problem, seed=cfg.seed)["M"],
            log=log,
        )
        paper = rm.cimnas_vs_paper(rows, obj.name)
        acc_lines, files["remeasured"] = accuracy_section(rem, out, paper)
        lines += acc_lines
        summary["remeasured"] = rm.summary_json(rem, paper)
    elif not lines:
        hint = f"cimkit report {run} --store {st.path} --remeasure {rm.DEFAULT_K}"
        lines += predicted_only_lines(relative_command(hint))
    if figures:
        fig_lines, fig_files = figures_section(problem, cfg, out)
        lines += fig_lines
        files.update(fig_files)
    return rows, lines, files, summary
