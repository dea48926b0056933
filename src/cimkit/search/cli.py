"""``cimkit space | search | compare | report``: thin commands over cimkit.space and cimkit.search.

Register them on the main app with ``register(app)`` (cimkit.cli does this); ``python -m
cimkit.search`` runs them on their own.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cimkit.cli_output import (
    JSON_OPTION,
    QUIET_OPTION,
    emit_json,
    print_table,
    progress_console,
    set_mode,
    typed_flag,
)
from cimkit.errors import SpecError

STORE_HELP = (
    "SQLite run store (one per project directory). Data only: resuming never runs code from it."
)
SPACE_HELP = (
    "Search space YAML. Data, except 'accuracy: {source: callable}', which runs Python code "
    "from the module it names (docs/security.md)."
)
COMMANDS = ("space", "search", "compare", "report", "runs", "export")
REMEASURE_HELP = (
    "Best distinct designs per method to re-measure on the supernet (0..50; ~10-35 s each on "
    "one core, cached beside the store); 0 = predicted accuracy only."
)
FINETUNE_HELP = (
    "Quantization-aware fine-tuning steps (batches of 128) of each winner and baseline 1 before "
    "a second measurement (0..100,000; 0 = none)."
)
FIGURES_HELP = "Add Fig. 2 (sensitivity) and Fig. 6 (co-optimization) of the space; costly."

#: Run and comparison names: they become folder names (report) and appear in commands.
NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
NAME_RULE = "letters, digits, '.', '_' and '-', not starting with '.', at most 100 characters"
# Settings stored with a run: on --resume they come from the store (only --gen may change).
_RUN_SETTINGS = (
    "space",
    "name",
    "objective",
    "priority",
    "algorithm",
    "pareto",
    "pop",
    "seed",
    "eta_c",
    "eta_m",
    "p_c",
    "p_m",
    "area",
    "overwrite",
)


def check_name(name: str, flag: str, nested: bool = False) -> str:
    """``name`` if it is a safe run/comparison name, else a SpecError naming ``flag``.

    ``nested`` accepts ``study/method`` names (each part safe), the runs ``compare`` stores.
    """
    parts = name.split("/") if nested else [name]
    if not all(NAME_RE.fullmatch(p) for p in parts):
        raise SpecError(f"{flag} {name!r}: use {NAME_RULE}")
    return name


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise SpecError(f"{what}: give comma-separated numbers, got {text!r}") from None


def _method_config(pop: int, gen: int, seed: int, objective: str, priority: str | None) -> Any:
    """The SearchConfig every method of ``compare`` and every mode of ``analyze coopt`` shares:
    the same P, G, seed and stage-2 objective (--priority parsed here)."""
    from cimkit.search.engine import SearchConfig

    return SearchConfig(
        pop_size=pop,
        n_gen=gen,
        seed=seed,
        objective=objective,
        priority=_floats(priority, "--priority"),
    )  # type: ignore[arg-type]


def _problem(space_path: str, area: float | None) -> Any:
    from cimkit.search.problem import CimnasProblem
    from cimkit.space import load_space

    if area is not None:
        from cimkit.cli_errors import AREA_WHY, MAX_AREA_MM2, check_number

        # The same bound as schedule --area: finite, > 0, at most MAX_AREA_MM2.
        check_number(area, "--area", 0.0, MAX_AREA_MM2, unit="mm^2", low_open=True, why=AREA_WHY)
    return CimnasProblem(load_space(space_path), area_constraint_mm2=area)


def _progress() -> tuple[Any, Any]:
    """Progress display and ``make(total)`` -> ``on_generation(label, gen, evals, best)``:
    a bar with ETA on a terminal, plain lines when piped, nothing with --quiet/--json (stderr;
    see :func:`cimkit.cli_output.generation_progress`)."""
    from cimkit.cli_output import generation_progress

    return generation_progress()


def _one_blas_thread() -> Any:
    """Small matmuls (the accuracy predictor's 400-wide layers) on one BLAS thread.

    The default thread count makes the search 1.15x slower on a quiet 2-core machine (issue 15)
    and 2.2x slower under load (benchmarks/search_wall_time.py): threads spin and fight over the
    cores for products that take about a millisecond.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _single_run_rows(problem: Any, result: Any) -> list[dict[str, Any]]:
    from cimkit.report.tables import table_row
    from cimkit.search.compare import baseline1, baseline2, diversity, diversity_label
    from cimkit.search.objectives import COL

    obj = result.objective
    _, b1 = baseline1(problem)
    b2 = baseline2(problem, seed=result.config.seed)
    rows = [table_row("Baseline 1 (median hardware, 8-bit)", b1, obj, b1)]
    r2 = table_row("Baseline 2 (mean of random hardware)", b2["mean"], obj, b1)
    import numpy as np

    r2["score"] = float(np.mean(obj.score(b2["M"], b1)))
    r2["evals"] = b2["n_used"]
    rows.append(r2)
    top = result.top(5)
    if len(top):
        M = result.archive.M
        row = table_row(f"CIMNAS ({result.config.algorithm})", M[top[0]], obj, b1)
        row["acc_change_pp"] = 100 * (M[top[0], COL["accuracy"]] - b1[COL["accuracy"]])
        d = diversity(problem.space, result.archive.X[top])
        row.update(diversity=d, diversity_label=diversity_label(d), evals=len(M))
        rows.append(row)
    return rows


def register(app: typer.Typer) -> None:
    """Add the space, search, compare, report, runs and export commands to ``app``."""
    from cimkit.cli import console, user_errors

    # --- `cimkit analyze sensitivity | coopt`: the CIMNAS paper's Fig. 2 and Fig. 6 as commands
    # (the work is in cimkit.search.analyses; docs/analyses.md). One self-contained block.
    analyze_app = typer.Typer(
        help="The CIMNAS paper's analyses: Fig. 2 (sensitivity) and Fig. 6 (co-optimization).",
        no_args_is_help=True,
    )
    app.add_typer(analyze_app, name="analyze")

    @analyze_app.command("sensitivity")
    @user_errors
    def analyze_sensitivity(
        space: Annotated[Path, typer.Argument(help=SPACE_HELP)],
        out: Annotated[Path, typer.Option(help="Folder for the CSVs, PNGs and report.md.")],
        n: Annotated[int, typer.Option("--n", help="Random feasible designs (3..200,000).")] = 2000,
        seed: Annotated[int, typer.Option(help="Random seed (0..2^32-1).")] = 0,
        area: Annotated[
            float | None, typer.Option(help="Area constraint, mm^2 (default: the space's).")
        ] = None,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Fig. 2: sensitivity of energy, delay, area, EDAP and accuracy to each parameter over
        random feasible designs, and the metrics' correlation matrix (CSV + PNG + report.md).

        --json prints {space, designs, sampled, feasible_fraction, parameters, metrics,
        strongest (per metric: parameter of largest |rho|), correlation, out, files}.
        """
        from cimkit.cli_errors import check_number, prepare_out_dir
        from cimkit.cli_output import generation_progress
        from cimkit.search.analyses import sensitivity, sensitivity_summary, write_sensitivity
        from cimkit.search.engine import SEED_LIMIT

        set_mode(json_output, quiet)
        check_number(
            n, "--n", 3, 200_000, why="rho's standard error is ~1/sqrt(n): 0.002 at 200,000"
        )
        check_number(seed, "--seed", 0, SEED_LIMIT - 1, why="numpy seeds are one 32-bit word")
        problem = _problem(str(space), area)  # checks --area and the space file
        prepare_out_dir(out, "--out")  # before the sampling, not after it
        prog, make_cb = generation_progress("designs")
        cb = make_cb(n)
        with prog, _one_blas_thread():
            s = sensitivity(
                problem.space,
                n,
                seed,
                problem=problem,
                on_batch=lambda found, sampled: cb(
                    "random feasible designs (best: feasible share)",
                    found,
                    sampled,
                    found / sampled,
                ),
            )
        command = f"cimkit analyze sensitivity {space.name} --n {n} --seed {seed} --out {out.name}"
        files = write_sensitivity(s, out, command + (f" --area {area:g}" if area else ""))
        if json_output:
            emit_json(
                {
                    **sensitivity_summary(s),
                    "out": str(out),
                    "files": {k: str(v) for k, v in files.items()},
                }
            )
            return
        from rich.table import Table

        summary = sensitivity_summary(s)
        t = Table(title=f"{s.space_name}: {len(s.designs):,} random feasible designs")
        for c in ("metric", "strongest parameter", "Spearman rho"):
            t.add_column(c, justify="right" if c == "Spearman rho" else "left")
        for m, v in summary["strongest"].items():
            t.add_row(m, v["parameter"], f"{v['spearman_rho']:+.2f}")
        print_table(t)
        console.print(f"report: {files['md']} (CSV and PNG beside it)", highlight=False)

    @analyze_app.command("coopt")
    @user_errors
    def analyze_coopt(
        space: Annotated[Path, typer.Argument(help=SPACE_HELP)],
        out: Annotated[Path, typer.Option(help="Folder for coopt.csv/.md/.png and report.md.")],
        objective: Annotated[str, typer.Option(help="edap | delay | ea | priority")] = "edap",
        priority: Annotated[
            str | None, typer.Option(help="a,b,c,d in 0..1, with --objective priority only.")
        ] = None,
        pop: Annotated[
            int, typer.Option(help="Population size P of every mode (2..100,000).")
        ] = 150,
        gen: Annotated[int, typer.Option(help="Generations G of every mode (0..100,000).")] = 70,
        seed: Annotated[
            int, typer.Option(help="Random seed (0..2^32-1, same for every mode).")
        ] = 0,
        area: Annotated[
            float | None, typer.Option(help="Area constraint, mm^2 (default: the space's).")
        ] = None,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Fig. 6: the seven co-optimization modes (model, quantization, hardware, the pairs,
        joint), one GA each with the same budget; one table (CSV + Markdown) and a plot.

        --json prints {space, objective, pop, gen, seed, modes, rows, out, files}; rows as
        coopt.csv (SI units; ratios are mode / joint).
        """
        from cimkit.cli_errors import prepare_out_dir
        from cimkit.search.analyses import coopt, coopt_summary, write_coopt

        set_mode(json_output, quiet)
        cfg = _method_config(pop, gen, seed, objective, priority)
        problem = _problem(str(space), area)
        prepare_out_dir(out, "--out")  # before the seven searches, not after them
        prog, make_cb = _progress()
        with prog, _one_blas_thread():
            c = coopt(problem.space, cfg, problem=problem, on_generation=make_cb(gen))
        command = (
            f"cimkit analyze coopt {space.name} --objective {objective} --pop {pop} --gen {gen} "
            f"--seed {seed} --out {out.name}"
            + (f" --priority {priority}" if priority else "")
            + (f" --area {area:g}" if area else "")
        )
        files = write_coopt(c, out, command)
        if json_output:
            emit_json(
                {
                    **coopt_summary(c),
                    "out": str(out),
                    "files": {k: str(v) for k, v in files.items()},
                }
            )
            return
        from rich.table import Table

        from cimkit.columns import column

        t = Table(
            title=f"{c.space_name}: co-optimization modes ({c.objective.label}, P={pop}, G={gen})"
        )
        heads = (
            "mode",
            "top-1 (%)",
            column("edap_j_s_m2").header(),
            "score",
            "EDAP / joint",
            "evaluations",
        )
        for h in heads:
            t.add_column(h, justify="left" if h == "mode" else "right")
        for _, r in c.table.iterrows():
            if r["error"]:
                t.add_row(r["mode"], f"failed: {r['error']}", "-", "-", "-", "-")
                continue
            t.add_row(
                r["mode"],
                f"{r['accuracy_pct']:.2f}",
                f"{column('edap_j_s_m2').display(r['edap_j_s_m2']):.3g}",
                f"{r['score']:.4g}",
                "-" if r["edap_vs_joint"] != r["edap_vs_joint"] else f"{r['edap_vs_joint']:.3g}",
                f"{int(r['evaluations']):,}",
            )
        print_table(t)
        console.print(
            f"report: {files['md']} (coopt.csv, coopt.md, coopt.png beside it)", highlight=False
        )

    @app.command("space")
    @user_errors
    def space_cmd(
        space: Annotated[Path, typer.Argument(help=SPACE_HELP + " Examples: examples/spaces/.")],
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Print each sub-space's size and the joint size (powers of ten) vs the paper.

        SPACE is data, except `accuracy: {source: callable}`, which runs Python code from the
        module it names (docs/security.md).
        """
        from rich.table import Table

        from cimkit.space import fmt_pow10, load_space, size_report

        set_mode(json_output, quiet)
        sp = load_space(space)
        t = Table(title=f"{sp.spec.name}: {sp.spec.description}")
        for c in ("sub-space", "genes", "size", "paper"):
            t.add_column(c, justify="left" if c == "sub-space" else "right")
        for r in size_report(sp):
            paper = "-" if r["paper_log10"] is None else fmt_pow10(r["paper_log10"])
            t.add_row(r["space"], str(r["dims"]), fmt_pow10(r["log10"]), paper)
        hw = sp.joint.subspace("hardware")
        base = sp.joint.decode(sp.baseline_genome()[None])
        if json_output:
            emit_json(
                {
                    "space": sp.spec.name,
                    "subspaces": size_report(sp),
                    "baseline1": {d.name: base[d.name][0] for d in hw.dims},
                }
            )
            return
        print_table(t)
        console.print(
            "baseline 1 (medians): " + ", ".join(f"{d.name}={base[d.name][0]:g}" for d in hw.dims),
            highlight=False,
        )
        if sp.spec.paper and sp.spec.paper.notes:
            console.print(f"differences from the paper: {sp.spec.paper.notes}", highlight=False)
        console.print(
            f"accuracy: {sp.spec.accuracy.note or sp.spec.accuracy.source}", highlight=False
        )

    @app.command("search")
    @user_errors
    def search_cmd(
        ctx: typer.Context,
        space: Annotated[Path | None, typer.Argument(help=SPACE_HELP)] = None,
        name: Annotated[str, typer.Option(help=f"Run name in the store ({NAME_RULE}).")] = (
            "search"
        ),
        resume: Annotated[
            str | None,
            typer.Option(
                help="Continue the stored run RUN (no re-evaluation; its stored settings are "
                "used, only --gen may change: more generations continue it)."
            ),
        ] = None,
        objective: Annotated[str, typer.Option(help="edap | delay | ea | priority")] = "edap",
        priority: Annotated[
            str | None, typer.Option(help="a,b,c,d in 0..1, with --objective priority only.")
        ] = None,
        algorithm: Annotated[str, typer.Option(help="ga | nsga2")] = "ga",
        pareto: Annotated[
            str, typer.Option(help="NSGA-II metrics: 2-3 of accuracy,energy,delay,area,edap")
        ] = "accuracy,edap",
        pop: Annotated[int, typer.Option(help="Population size P (2..100,000).")] = 150,
        gen: Annotated[int, typer.Option(help="Generations G (0..100,000).")] = 70,
        seed: Annotated[int, typer.Option(help="Random seed (0..2^32-1).")] = 0,
        eta_c: Annotated[float, typer.Option(help="SBX distribution index (> 0).")] = 3.0,
        eta_m: Annotated[float, typer.Option(help="PM distribution index (> 0).")] = 3.0,
        p_c: Annotated[float, typer.Option(help="Crossover probability (0..1).")] = 0.95,
        p_m: Annotated[float, typer.Option(help="Mutation probability (0..1).")] = 0.95,
        area: Annotated[
            float | None, typer.Option(help="Area constraint, mm^2 (default: the space's).")
        ] = None,
        backend: Annotated[str, typer.Option(help="auto | vectorized | process | ray")] = "auto",
        address: Annotated[
            str | None,
            typer.Option(
                help="Ray cluster address (--backend ray). The cluster unpickles the problem, "
                "so it runs Python code from this process: connect only to your own cluster."
            ),
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(help="Pool / Ray workers (--backend process or ray; 1..4 x CPU cores)."),
        ] = None,
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        report: Annotated[
            Path | None,
            typer.Option("--out", "--report", help="Write the report to DIR (--report: old name)."),
        ] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace a run of the same name.")] = False,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Run (or resume) a CIMNAS search; every generation is committed to the store.

        SPACE is data, except `accuracy: {source: callable}`, which runs Python code from the
        module it names; the store is data only (docs/security.md).
        """
        from click.core import ParameterSource

        from cimkit.search.backends import make_backend
        from cimkit.search.engine import Search, SearchConfig
        from cimkit.search.store import RunStore

        def given(param: str) -> bool:
            return ctx.get_parameter_source(param) not in (None, ParameterSource.DEFAULT)

        set_mode(json_output, quiet)

        if resume:
            check_name(resume, "--resume", nested=True)
            extra = [p for p in _RUN_SETTINGS if given(p)]
            if extra:
                flags = ", ".join(
                    "SPACE" if p == "space" else "--" + p.replace("_", "-") for p in extra
                )
                raise SpecError(
                    f"--resume {resume}: {flags} cannot change a stored run (its settings are "
                    "used); only --gen may be given, to run more generations"
                )
            st = RunStore(store, create=False)
            info = st.run_info(resume)
            meta = info["config"]
            cfg = SearchConfig.from_dict(meta["search"])
            if given("gen") and gen != cfg.n_gen:
                from dataclasses import replace

                cfg = replace(cfg, n_gen=gen)
            space_path, area, run = meta["space"], meta.get("area_constraint_mm2"), resume
            if info["status"] == "done" and info["gen"] >= cfg.n_gen:
                console.print(f"run {resume!r} is already complete", highlight=False)
        else:
            if space is None:
                raise SpecError("give a SPACE.yaml (or --resume RUN)")
            check_name(name, "--name")
            cfg = SearchConfig(
                algorithm=algorithm,
                pop_size=pop,
                n_gen=gen,
                seed=seed,
                eta_c=eta_c,
                eta_m=eta_m,
                p_c=p_c,
                p_m=p_m,
                objective=objective,
                priority=_floats(priority, "--priority"),  # type: ignore[arg-type]
                pareto=tuple(p.strip() for p in pareto.split(",")),
            )
            space_path, run = str(space.resolve()), name
        if report is not None:
            from cimkit.cli_errors import prepare_out_dir

            # Checked before the search, so a bad folder fails now, not after an hour of search.
            prepare_out_dir(report, typed_flag("--out"))
        try:
            problem = _problem(space_path, area)
            be = make_backend(backend, problem, address, workers)
        except BaseException:
            if resume:
                st.close()
            raise
        if not resume:
            # Opened after every flag is checked, so a bad flag never leaves a new empty store.
            try:
                st = RunStore(store)
            except BaseException:
                be.close()
                raise
        worker = None
        if report is not None:
            from cimkit.report.worker import start

            # Gets the report ready on the other core while the search runs (report/worker.py);
            # a fork of this process only beside the in-process backend (Ray and pools have
            # threads and processes of their own that a fork must not copy).
            worker = start(
                space_path,
                area,
                cfg.seed,
                cfg.pop_size * (cfg.n_gen + 1),
                problem,
                fork=be.name == "vectorized",
            )
        try:
            prog, make_cb = _progress()
            cb = make_cb(cfg.n_gen)
            s = Search(
                problem,
                cfg,
                backend=be,
                store=st,
                name=run,
                on_generation=lambda g, n, b: cb(run, g, n, b),
                meta={
                    "space": space_path,
                    "area_constraint_mm2": area,
                    "overwrite": overwrite,
                    "command": shlex.join(["cimkit", *sys.argv[1:]]),
                },
            )
            try:
                with prog, _one_blas_thread():
                    result = s.run(resume=bool(resume))
            except KeyboardInterrupt:
                last = st.run_info(run)["gen"]
                console.print(
                    f"interrupted after generation {last}; continue with: cimkit search --resume "
                    f"{run} --store {store}",
                    highlight=False,
                )
                raise typer.Exit(code=130) from None
            finally:
                be.close()
            b = result.best()
            if not json_output:
                console.print(
                    f"{run}: {len(result.archive):,} designs, best {result.objective.label} = "
                    f"{result.scores()[b]:.4g} (design {b}) in {result.wall_s:.1f} s",
                    highlight=False,
                )
            if report is not None:  # with --json the report's paths are a note on stderr
                from cimkit.report.worker import write_report_via

                con = progress_console if json_output else console
                write_report_via(worker, st, store, run, report, con)
            if json_output:
                emit_json(
                    {
                        "run": run,
                        "designs": len(result.archive),
                        "objective": result.objective.label,
                        "best_score": float(result.scores()[b]),
                        "best_design": int(b),
                        "wall_s": float(result.wall_s),
                        "report": None if report is None else str(report),
                    }
                )
        finally:
            if worker is not None:
                worker.close()
            st.close()

    @app.command("compare")
    @user_errors
    def compare_cmd(
        space: Annotated[Path, typer.Argument(help=SPACE_HELP)],
        study: Annotated[
            str, typer.Option(help=f"Name of the comparison in the store ({NAME_RULE}).")
        ] = "compare",
        objective: Annotated[str, typer.Option(help="edap | delay | ea | priority")] = "edap",
        priority: Annotated[
            str | None, typer.Option(help="a,b,c,d in 0..1, with --objective priority only.")
        ] = None,
        pop: Annotated[int, typer.Option(help="Population size P (2..100,000).")] = 150,
        gen: Annotated[
            int, typer.Option(help="Generations G (0..100,000; split in two for 2-stage).")
        ] = 70,
        seed: Annotated[
            int, typer.Option(help="Random seed (0..2^32-1, same for every method).")
        ] = 0,
        area: Annotated[float | None, typer.Option(help="Area constraint, mm^2.")] = None,
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        out: Annotated[Path | None, typer.Option(help="Write the report to DIR.")] = None,
        remeasure: Annotated[int, typer.Option(help=REMEASURE_HELP)] = 5,
        finetune_steps: Annotated[int, typer.Option(help=FINETUNE_HELP)] = 0,
        figures: Annotated[
            bool, typer.Option(help=FIGURES_HELP + " In the report (--out) only.")
        ] = True,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Baselines 1/2, CIMNAS, two-stage and XPert-like with one seed and budget (Table III),
        each method's best designs re-measured on the supernet (predicted and measured shown).

        SPACE is data, except `accuracy: {source: callable}`, which runs Python code from the
        module it names (docs/security.md).
        """
        from cimkit.report.tables import rich_table
        from cimkit.search.compare import run_compare
        from cimkit.search.remeasure import check_finetune_steps, check_k
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        check_name(study, "--study")
        check_k(remeasure)
        check_finetune_steps(finetune_steps)
        cfg = _method_config(pop, gen, seed, objective, priority)
        if gen < 2:  # two-stage and XPert-like split G into two stages of >= 1 generation
            raise SpecError(f"--gen {gen}: compare needs >= 2 (two stages of >= 1 generation)")
        if out is not None:
            from cimkit.cli_errors import prepare_out_dir

            prepare_out_dir(out, "--out")  # before the five searches, not after them
        problem = _problem(str(space.resolve()), area)
        st = RunStore(store)
        try:
            prog, make_cb = _progress()
            with prog, _one_blas_thread():
                cr = run_compare(
                    problem, cfg, store=st, study=study, on_generation=make_cb(gen), overwrite=True
                )
            rows, rem_json, notes = _compare_remeasure(
                problem, cr, st.path, remeasure, finetune_steps
            )
            print_table(
                rich_table(
                    rows,
                    cr.objective.label,
                    f"{study} ({cr.objective.label}, P={pop}, G={gen}, seed {seed})",
                )
            )
            from cimkit.cli_output import note

            for line in notes:  # stderr with --json (stdout holds one JSON document)
                note(line)
            if out is not None:
                _report(
                    st,
                    study,
                    out,
                    progress_console if json_output else console,
                    remeasure=remeasure,
                    finetune_steps=finetune_steps,
                    figures=figures,
                )
            if json_output:
                emit_json(
                    {
                        "study": study,
                        "objective": cr.objective.label,
                        "rows": rows,
                        "remeasured": rem_json,
                    }
                )
        finally:
            st.close()

    @app.command("report")
    @user_errors
    def report_cmd(
        run: Annotated[str, typer.Argument(help="Run or comparison (study) name.")],
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        out: Annotated[Path | None, typer.Option(help="Output folder (runs/report/RUN).")] = None,
        remeasure: Annotated[int, typer.Option(help=REMEASURE_HELP)] = 5,
        finetune_steps: Annotated[int, typer.Option(help=FINETUNE_HELP)] = 0,
        figures: Annotated[bool, typer.Option(help=FIGURES_HELP)] = True,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Markdown + HTML report, plots and the archive as CSV/Parquet; the best designs
        re-measured on the supernet (cached), Fig. 2 and Fig. 6 of the run's space.

        --json prints {run, kind (search or comparison), out, files, rows, remeasured,
        figures}: files by kind (md, html, csv, parquet, plots), rows the report's Table III
        rows (SI, as in designs.csv), remeasured {designs, bias_pp, rmse_pp, n, ...} or null.
        """
        from cimkit.search.remeasure import check_finetune_steps, check_k
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        # The name becomes part of the default output path: no '..' or absolute parts.
        check_name(run, "RUN", nested=True)
        check_k(remeasure)
        check_finetune_steps(finetune_steps)
        target = out or Path("runs") / "report" / run
        st = RunStore(store, readonly=True)  # never creates a file; a missing store is an error
        try:
            written = _report(
                st,
                run,
                target,
                progress_console if json_output else console,
                remeasure=remeasure,
                finetune_steps=finetune_steps,
                figures=figures,
            )
        finally:
            st.close()
        if json_output:
            emit_json({"run": run, "out": str(target), **written})

    runs_app = typer.Typer(help="List, show and delete the runs of a store.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")

    @runs_app.command("list")
    @user_errors
    def runs_list(
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Every run of the store (oldest first) and the stored comparisons.

        --json prints {store, runs, comparisons}; a run is {run, status, gen, n_gen, designs,
        algorithm, objective, pop_size, space, created (UTC, ISO 8601)}.
        """
        from rich.table import Table

        from cimkit.runs.manage import list_rows, list_table_row
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        st = RunStore(store, readonly=True)
        try:
            rows, studies = list_rows(st), st.study_names()
        finally:
            st.close()
        if json_output:
            emit_json({"store": str(store), "runs": rows, "comparisons": list(studies)})
            return
        t = Table(title=f"{len(rows)} runs in {store}")
        cols = ("run", "status", "gen", "designs", "algorithm", "objective", "P", "space")
        for c in (*cols, "created"):
            # On a narrow terminal numbers stay whole (print_table) and the date keeps its day
            # on one line (a folded "2026-12-02" reads as "2026-12" and "-02"); the time,
            # names and paths fold.
            t.add_column(
                c,
                justify="right" if c in ("gen", "designs", "P") else "left",
                min_width=len("2026-12-02") if c == "created" else None,
            )
        for r in rows:
            cells = list_table_row(r)
            t.add_row(*(cells[c] for c in (*cols, "created")))
        print_table(t)
        if studies:
            console.print("comparisons: " + ", ".join(studies), highlight=False)

    @runs_app.command("show")
    @user_errors
    def runs_show(
        run: Annotated[str, typer.Argument(help="Run name (see `cimkit runs list`).")],
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        top: Annotated[int, typer.Option(help="Best designs to list (1..100).")] = 5,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """A run's settings and its best designs (the N to give `cimkit export --design`).

        --json prints {settings, objective, designs, note}: settings as plain values (gen,
        n_gen, pop_size, seed, area_constraint_mm2, feasible, ...), objective {name, label,
        units}, designs [{design, score, accuracy_pct, energy_j, latency_s, area_m2,
        edap_j_s_m2}] in SI units, best first.
        """
        from rich.table import Table

        from cimkit.cli_errors import check_number
        from cimkit.columns import column
        from cimkit.runs.manage import show
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        check_name(run, "RUN", nested=True)
        check_number(top, "--top", 1, 100, why="a table to read, not the archive (report)")
        st = RunStore(store, readonly=True)
        try:
            view = show(st, run, top)
        finally:
            st.close()
        if json_output:
            obj = view.get("score")
            emit_json(
                {
                    "settings": view["facts"],
                    "objective": None
                    if obj is None
                    else {"name": obj.name, "label": obj.label, "units": obj.units},
                    "designs": view["designs"],
                    "note": view["note"] or None,
                }
            )
            return
        t = Table(title=f"run {run}", show_header=False)
        t.add_column("setting")
        t.add_column("value")
        for k, v in view["settings"]:
            t.add_row(k, v)
        print_table(t)
        if view["designs"]:
            obj = view["score"]
            d = Table(title=f"best {len(view['designs'])} designs by {obj.label or obj.name}")
            d.add_column("design", justify="right")
            d.add_column(f"score ({obj.units})" if obj.units else "score", justify="right")
            # SI in the rows; the table shows each column in its display unit (cimkit.columns).
            metrics = [k for k in view["designs"][0] if k not in ("design", "score")]
            for k in metrics:
                d.add_column(column(k).header(), justify="right")
            for r in view["designs"]:
                cells = [f"{column(k).display(r[k]):.4g}" for k in metrics]
                d.add_row(str(r["design"]), f"{r['score']:.4g}", *cells)
            print_table(d)
            from cimkit.cli_output import note

            note(
                f"export one: cimkit export {run} --design {view['designs'][0]['design']} "
                f"--out DIR --store {store}"
            )
        if view["note"]:
            console.print(view["note"], highlight=False)

    @runs_app.command("delete")
    @user_errors
    def runs_delete(
        run: Annotated[str, typer.Argument(help="Run or comparison name.")],
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        yes: Annotated[
            bool, typer.Option("--yes", help="Really delete (without it: say what would go).")
        ] = False,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Delete a run (or a comparison with its stage runs); refuses a run being written.

        --json prints {store, deleted}: the runs deleted (and "comparison NAME").
        """
        from cimkit.runs.manage import delete
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        check_name(run, "RUN", nested=True)
        st = RunStore(store, create=False)
        try:
            gone = delete(st, run, yes)
        finally:
            st.close()
        if json_output:
            emit_json({"store": str(store), "deleted": gone})
            return
        console.print("deleted " + ", ".join(gone), highlight=False)

    @app.command("export")
    @user_errors
    def export_cmd(
        run: Annotated[str, typer.Argument(help="Run name (see `cimkit runs list`).")],
        out: Annotated[Path, typer.Option(help="Folder for the design's files.")],
        design: Annotated[
            int | None,
            typer.Option(
                help="Archive index of the design (default: the run's best; see "
                "`cimkit runs show RUN`)."
            ),
        ] = None,
        store: Annotated[Path, typer.Option(help=STORE_HELP)] = Path("runs/cimkit.sqlite"),
        onnx: Annotated[
            bool, typer.Option(help="Also write network.onnx (needs torch and onnx).")
        ] = True,
        json_output: Annotated[bool, JSON_OPTION] = False,
        quiet: Annotated[bool, QUIET_OPTION] = False,
    ) -> None:
        """Chip YAML, genome, layer table, ONNX and a one-page summary of a stored design.

        The files re-evaluate to the stored metrics (checked): `cimkit evaluate --hw
        DIR/chip.yaml --genome DIR/genome.json`. --json prints {run, design, out, files,
        accuracy_pct, stored, reevaluated, onnx_note}: stored and re-evaluated metrics in SI
        (energy_j, latency_s, area_m2, edap_j_s_m2).
        """
        from cimkit.cli_errors import check_number
        from cimkit.runs.export import export_design
        from cimkit.search.store import RunStore

        set_mode(json_output, quiet)
        check_name(run, "RUN", nested=True)
        if design is not None:
            check_number(design, "--design", 0, 2**31 - 1, why="an archive row index")
        st = RunStore(store, readonly=True)
        try:
            if design is None:
                from cimkit.runs.design import run_space
                from cimkit.search.engine import load_result

                info = st.run_info(run)
                design = load_result(st, run, run_space(run, info["config"])).best()
            ex = export_design(st, run, design, out, onnx=onnx)
        finally:
            st.close()
        if json_output:
            emit_json(
                {
                    "run": run,
                    "design": design,
                    "out": str(out),
                    "files": {k: str(p) for k, p in ex.files.items()},
                    "accuracy_pct": 100 * ex.extra["accuracy"],
                    "stored": ex.si("stored"),
                    "reevaluated": ex.si("reevaluated"),
                    "onnx_note": ex.onnx_note or None,
                }
            )
            return
        names = ", ".join(p.name for p in ex.files.values())
        console.print(f"design {design} of {run}: {names} in {out}", highlight=False)
        if ex.onnx_note:
            from cimkit.cli_output import note

            note(ex.onnx_note)


def _compare_remeasure(
    problem: Any, cr: Any, store: Path, k: int, finetune_steps: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """Table III rows of ``cr`` with each method's ``k`` best designs re-measured (cached
    beside ``store``), the --json summary, and the lines to print under the table."""
    from cimkit.search import remeasure as rm

    rows = cr.rows()
    if not (k or finetune_steps):
        return rows, None, ["accuracy: predicted (--remeasure 0)"]
    try:
        rm.check_space(problem.space)
    except rm.RemeasureUnavailable as exc:
        return rows, None, [f"accuracy not re-measured: {str(exc).split('; use')[0]}"]
    from cimkit.cli_output import note

    rows, rem = rm.measure_plan(
        problem.space,
        rm.plan_compare_result(cr, max(1, k)),
        rows,
        cr.objective,
        cache=rm.cache_path_for(store),
        finetune_steps=finetune_steps,
        base2_M=cr.base2["M"],
        log=note,  # progress: stdout, stderr with --json, nothing with --quiet
    )
    paper = rm.cimnas_vs_paper(rows, cr.objective.name)
    notes = [rm.stats_sentence(rem), rm.paper_sentence(paper)]
    return rows, rm.summary_json(rem, paper), [n for n in notes if n]


def _measure_log(target: Any) -> Any:
    """Progress lines of re-measurement: note() for the CLI's consoles (stderr with --json,
    nothing with --quiet), else ``target.print`` (the report worker's line collector)."""
    from cimkit import cli_output

    if target is cli_output.console or target is cli_output.progress_console:
        return cli_output.note
    return lambda m: target.print(m, highlight=False)


def _report(
    st: Any,
    run: str,
    out: Path,
    console: Any,
    *,
    remeasure: int = 0,
    finetune_steps: int = 0,
    figures: bool = False,
) -> dict[str, Any]:
    """Write the report of run or comparison ``run`` into ``out``; print where it is.

    ``remeasure`` (designs per method), ``finetune_steps`` and ``figures`` add the sections of
    :func:`cimkit.report.sections.report_sections` (defaults: none, the fast report that
    ``search --out`` writes, saying its accuracy is predicted).

    Returns ``{"kind": "search" | "comparison", "files": {kind: path}, "rows": Table III
    rows, "remeasured": ... | None, "figures": bool}`` (rows as the report's table: SI names,
    :func:`cimkit.columns.upgrade_row`).
    """
    from cimkit.report.summary import write_report
    from cimkit.search.engine import load_result

    study = st.load_study(run)
    objectives: dict[str, str] | None = None
    main_label: str | None = None
    if study is not None:
        cfg, res = study
        problem = _problem(cfg["space"], None)
        main = f"{run}/cimnas"
        result = load_result(st, main, problem.space)
        rows = res["rows"]
        histories, objectives, main_label = _study_convergence(st, problem, result, res)
        command = f"cimkit compare {cfg['space']} --study {run}"
        title = f"CIMNAS comparison: {run}"
    else:
        info = st.run_info(run)
        problem = _problem(info["config"]["space"], info["config"].get("area_constraint_mm2"))
        result = load_result(st, run, problem.space)
        if not len(result.top(1)):
            from cimkit.errors import InfeasibleDesignError

            raise InfeasibleDesignError(f"run {run!r} has no feasible design; nothing to report")
        rows = _single_run_rows(problem, result)
        histories = {run: st.history(run)}
        command = info["config"].get("command", f"cimkit search --name {run}")
        title = f"CIMNAS search: {run}"
    from cimkit.columns import upgrade_row
    from cimkit.report.sections import report_sections

    rows, sections, section_files, extra_json = report_sections(
        st,
        run,
        out,
        problem,
        result,
        study,
        [upgrade_row(r) for r in rows],
        remeasure=remeasure,
        finetune_steps=finetune_steps,
        figures=figures,
        log=_measure_log(console) if remeasure or finetune_steps else None,
    )
    b1 = upgrade_row(rows[0])  # a comparison stored before the SI names has 'edap' (mJ*ms*mm^2)
    extra = {"baseline 1": (b1["edap_j_s_m2"], b1["accuracy_pct"])}
    files = write_report(
        out,
        result,
        rows,
        histories,
        title=title,
        command=command,
        extra_points=extra,
        objectives=objectives,
        main=main_label,
        sections=sections,
        section_files=section_files,
    )
    console.print(f"report: {files['md']} and {files['html']}", highlight=False)
    return {
        "kind": "search" if study is None else "comparison",
        "files": {k: str(v) for k, v in files.items()},
        "rows": [upgrade_row(r) for r in rows],
        **extra_json,
    }


#: Labels of the compare methods (as in the Table III rows).
_METHOD_LABELS = {
    "cimnas": "CIMNAS (joint)",
    "two-stage": "Two-stage search",
    "xpert-like": "XPert-like search",
}


def _study_convergence(
    st: Any, problem: Any, result: Any, res: dict[str, Any]
) -> tuple[dict[str, list[tuple[int, int, float]]], dict[str, str], str]:
    """Convergence series of a comparison, each labelled with the objective it is in.

    Per method, the final stage's archive is scored in the comparison's objective (best so far
    per generation, x shifted by the earlier stages' evaluations): the number the table reports
    at the end. Each stage's own history is a second series in the objective that stage
    searched, so a stage-2 score of another objective is never drawn on the main axis.
    """
    import numpy as np

    from cimkit.report.plots import main_objective_series
    from cimkit.search.compare import baseline1
    from cimkit.search.engine import SearchConfig, load_result
    from cimkit.search.objectives import feasible

    main_obj = result.objective
    main_label = main_obj.label or main_obj.name
    _, ref = baseline1(problem)  # the table's reference row (priority scores are normalised)
    histories: dict[str, list[tuple[int, int, float]]] = {}
    objectives: dict[str, str] = {}
    for method, stages in res["runs"].items():
        label = _METHOD_LABELS.get(method, method)
        offset = 0
        for k, stage in enumerate(stages):
            h = st.history(stage)
            scfg = SearchConfig.from_dict(st.run_info(stage)["config"]["search"])
            sobj = scfg.score_objective()
            slabel = sobj.label or sobj.name
            if stage == stages[-1]:
                sres = load_result(st, stage, problem.space)
                M = sres.archive.M
                scores = np.where(feasible(M), main_obj.score(M, ref), np.inf)
                histories[label] = main_objective_series(h, sres.archive.gen, scores, offset)
                objectives[label] = main_label
            # The final stage in the main objective is already the series above.
            if slabel != main_label or stage != stages[-1]:
                name = f"{label}, stage {k + 1}" if len(stages) > 1 else label
                histories[name] = [(g, n + offset, b) for g, n, b in h]
                objectives[name] = slabel
            offset += h[-1][1] if h else 0
    return histories, objectives, main_label
