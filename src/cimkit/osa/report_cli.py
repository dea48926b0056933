"""``cimkit osa-report`` command (typer only at import; torch loads when the command runs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cimkit.cli_output import JSON_OPTION, QUIET_OPTION
from cimkit.errors import SpecError

# ---------------------------------------------------------------------------------------
# CLI


def _items(text: str, flag: str, example: str) -> list[str]:
    items = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in items):
        raise SpecError(f"{flag} {text[:40]!r}: give comma-separated values, e.g. {example}")
    return items


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _items(text, flag, "6,8,10"))
    except ValueError:
        raise SpecError(
            f"{flag} {text[:40]!r}: give comma-separated integers, e.g. 6,8,10"
        ) from None


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _items(text, flag, "0.002,0.03"))
    except ValueError:
        raise SpecError(
            f"{flag} {text[:40]!r}: give comma-separated numbers, e.g. 0.002,0.03"
        ) from None


def osa_report_cmd(
    out: Annotated[Path, typer.Option(help="Directory for the CSVs, PNGs, report and cache.")],
    images: Annotated[int, typer.Option(help="Test images (the first N of 10,000).")] = 10000,
    calib_images: Annotated[
        int, typer.Option(help="Validation images 0.. for ADC ranges and OSE norms.")
    ] = 32,
    search_images: Annotated[
        int, typer.Option(help="Validation images after those, for the threshold search.")
    ] = 128,
    candidates: Annotated[
        str, typer.Option(help="OSA's B_D/A list, most precise first.")
    ] = "6,8,10",
    fixed: Annotated[
        str, typer.Option(help="B of the fixed-boundary HCIM points.")
    ] = "5,6,7,8,9,10",
    constraints: Annotated[
        str, typer.Option(help="Loss budgets L (nats over all-B_0), one OSA point each.")
    ] = "0.002,0.01,0.03,0.1",
    grid: Annotated[int, typer.Option(help="Quantile-grid points per layer of the search.")] = 8,
    map_images: Annotated[int, typer.Option(help="Test images of the Fig. 8(a) maps.")] = 64,
    batch: Annotated[int, typer.Option(help="Images per simulated batch and checkpoint.")] = 100,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
    bias_correction: Annotated[
        bool,
        typer.Option(
            help="Add each layer's per-channel MAC offset per B, calibrated on the calibration "
            "images (--no-bias-correction: the uncorrected simulator)."
        ),
    ] = True,
    bias_model: Annotated[
        str,
        typer.Option(
            help="Correction of the hybrid MAC's error: mean (one offset per channel and B) or "
            "bitcount (the offset given the row's count of inputs with each bit set; its work "
            "is counted in the energy)."
        ),
    ] = "mean",
    refine: Annotated[
        bool,
        typer.Option(
            help="Per-layer refinement of the threshold search: after each step, raise each "
            "layer's threshold on its own while the loss constraint holds (about layers x "
            "log2(grid) more evaluations per step)."
        ),
    ] = False,
    ose_orders: Annotated[
        int,
        typer.Option(
            help="s: highest output orders the saliency evaluator computes digitally before it "
            "chooses B (the paper's Fig. 2 example: 2). Candidates must be <= 15 - s."
        ),
    ] = 2,
    random_control: Annotated[
        bool,
        typer.Option(
            help="Beside each OSA point, its saliency-blind control: the same B shares per "
            "layer, each B drawn at random, no OSE (--no-random-control: skip it)."
        ),
    ] = True,
    model: Annotated[
        Path | None,
        typer.Option(
            help="int8 ResNet-20 file to simulate (default: the shipped one; others come from "
            "'python -m cimkit.osa.train export')."
        ),
    ] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """OSA-HCIM on the shipped ResNet-20: Fig. 9, Fig. 8(a)/(b), Fig. 5, Table I and a summary.

    Every evaluation is cached under OUT/cache (one JSON per configuration and image range,
    written after each batch): rerun the same command to resume or to rebuild the figures.
    Progress lines go to stderr. --json prints {out, files, rows, checks, settings}.
    """
    from cimkit import cli_output as out_mode
    from cimkit.cli_errors import prepare_out_dir
    from cimkit.cli_output import emit_json, note
    from cimkit.osa.report import ReportSettings, run_report

    out_mode.set_mode(json_output, quiet)
    s = ReportSettings(
        images=images,
        calib_images=calib_images,
        search_images=search_images,
        candidates=_ints(candidates, "--candidates"),
        fixed=_ints(fixed, "--fixed"),
        constraints=_floats(constraints, "--constraints"),
        grid=grid,
        map_images=map_images,
        batch=batch,
        device=device,
        threads=threads,
        bias_correction=bias_correction,
        bias_model=bias_model,
        refine=refine,
        ose_orders=ose_orders,
        random_control=random_control,
        model=str(model) if model is not None else "",
    )
    s.check()
    folder = prepare_out_dir(out)

    def progress(msg: str) -> None:
        if not (quiet or json_output):
            out_mode.progress_console.print(f"[{time.strftime('%H:%M:%S')}] {msg}", markup=False,
                                            highlight=False)  # fmt: skip

    rep = run_report(folder, s, progress)
    if json_output:
        emit_json(rep)
        return
    c = rep["checks"]

    def pp(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f} pp"

    hcim = (
        f"HCIM B={c['hcim_boundary']} drop {pp(c['hcim_drop_pp'])}"
        if c.get("hcim_drop_pp") is not None
        else f"HCIM B={c['hcim_boundary']} not in --fixed"
    )
    note(
        f"DCIM {100 * c['dcim_accuracy']:.2f} %; tightest OSA drop "
        f"{pp(c.get('tight_osa_drop_pp'))}; {hcim}; wrote "
        f"{len(rep['files'])} files to {folder} (osa_report.md)"
    )
