"""The ``cimkit`` command line: thin commands over the Python API.

Every user error (bad YAML, unknown field, unsupported layer, missing file, an output folder
that is a file, a full disk) is printed as one line ``error: ...`` on stderr with exit code 2; no
traceback. A cimkit bug prints ``internal error: ...`` with exit code 1 (the traceback with
``CIMKIT_DEBUG=1``). Every command goes through :func:`cimkit.cli_errors.user_errors`; a command
that writes calls :func:`cimkit.cli_errors.prepare_out_dir` on its folder before any work.

Habits (issue 15 item 5): ``cimkit --version``, ``-h`` beside ``--help`` everywhere, ``--json``
and ``--quiet`` on the commands that print results, progress with ETA (plain lines when piped),
full-width tables when piped, shell completion (``--install-completion`` /
``--show-completion``), ``cimkit spec --explain``. One flag name per concept (``--area`` in
mm^2, ``--network``, ``--out``); the old names work until cimkit 0.2 with a note on stderr
(:data:`cimkit.cli_output.DEPRECATED_FLAGS`). Heavy modules (pandas, the cost model, torch) are
imported inside the commands, so ``cimkit --help`` stays fast.
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from cimkit import cli_output as out_mode
from cimkit.cli_errors import (
    AREA_WHY,
    MAX_AREA_MM2,
    check_number,
    err_console,
    parse_names,
    parse_numbers,
    prepare_out_dir,
    prepare_out_file,
    short_text,
    user_errors,
)
from cimkit.cli_output import JSON_OPTION, QUIET_OPTION, emit_json, note, print_table
from cimkit.errors import CimkitError, SpecError, short_repr

#: ``-h`` beside ``--help``; click hands these settings down to every subcommand's context.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


class CimkitGroup(TyperGroup):
    """The root command group: finds deprecated flag names in a subcommand's arguments.

    They are noted on stderr once the arguments parsed (so a usage error still starts with
    ``Usage:``), just before the command runs; messages then quote the name as typed
    (:func:`cimkit.cli_output.typed_flag`).
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name is not None and cmd is not None:
            used = out_mode.used_flags(name, rest)
            ctx.meta[out_mode.META_KEY] = used
            if name in out_mode.DEPRECATED_FLAGS and cmd.callback is not None:
                cmd.callback = _noting_deprecated(name, cmd.callback)
                for param in cmd.params:  # click's own errors quote the name as typed, too
                    if isinstance(param, click.Option) and len(param.opts) > 1:
                        typed = used.get(param.opts[0], param.opts[0])
                        param.get_error_hint = lambda ctx, t=typed: f"'{t}'"  # type: ignore[method-assign]
        return name, cmd, rest


def _noting_deprecated(name: str, callback: Any) -> Any:
    """``callback`` that first notes the deprecated flags used (wrapped once per command)."""
    if getattr(callback, "__cimkit_notes_deprecated__", False):
        return callback
    import functools

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        out_mode.note_deprecated(name, ctx.meta.get(out_mode.META_KEY, {}))
        return callback(*args, **kwargs)

    wrapper.__cimkit_notes_deprecated__ = True  # type: ignore[attr-defined]
    return wrapper


app = typer.Typer(
    name="cimkit",
    cls=CimkitGroup,
    no_args_is_help=True,
    add_completion=True,
    context_settings=CONTEXT_SETTINGS,
    pretty_exceptions_enable=False,
)
console = out_mode.console


def package_version() -> str:
    """The installed cimkit version (importlib.metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cimkit")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from cimkit import __version__

        return __version__


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cimkit {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Print `cimkit <version>` and exit.",
        ),
    ] = False,
) -> None:
    """Co-design neural networks with compute-in-memory hardware.

    Every command takes -h/--help. Commands that print results take --json (one JSON document
    on stdout) and --quiet (the result only). Progress goes to stderr, as plain lines with the
    elapsed time and an ETA when stderr is not a terminal.
    """


__all__ = ["app", "console", "err_console", "main", "prepare_out_dir", "user_errors"]

#: Seeds: numpy's legacy and torch's generators both take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def _area(value: float, flag: str = "--area") -> float:
    flag = out_mode.typed_flag(flag)  # an old name (--area-mm2) if that is what was typed
    return float(
        check_number(value, flag, 0.0, MAX_AREA_MM2, unit="mm^2", low_open=True, why=AREA_WHY)
    )


def _bits(weight_bits: int, act_bits: int) -> None:
    for flag, value in (("--weight-bits", weight_bits), ("--act-bits", act_bits)):
        check_number(value, flag, 1, 16, why="the layer table holds 1- to 16-bit operands")


def _seed(value: int, flag: str = "--seed") -> int:
    return int(check_number(value, flag, 0, MAX_SEED, why="the range of numpy's seeds"))


def _explicit_options(*names: str) -> list[str]:
    """Flags among the current command's parameters ``names`` that the user gave (command line
    or environment), as ``--flag-name`` strings; defaults are not counted."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return []
    user = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return ["--" + n.replace("_", "-") for n in names if ctx.get_parameter_source(n) in user]


def _load_workload(
    network: str | None,
    onnx: Path | None,
    torch_factory: str | None,
    weight_bits: int,
    act_bits: int,
    histograms: bool,
    input_shape: str | None = None,
    input_dtype: str | None = None,
    genome: str | None = None,
) -> Any:
    from cimkit.errors import WorkloadError

    given = [x for x in (network, onnx, torch_factory, genome) if x]
    if len(given) != 1:
        raise WorkloadError(
            "give exactly one of --network NAME, --onnx FILE, --torch MODULE:FACTORY, "
            "--genome genome.json"
        )
    if genome:
        from cimkit.runs.genome import genome_workload, read_genome

        if input_shape or input_dtype:
            raise WorkloadError("--input-shape/--input-dtype apply to --torch models only")
        # The genome fixes every layer's bits: an explicit --weight-bits/--act-bits beside it
        # would be silently ignored (a wrong number), so it is refused.
        given_bits = _explicit_options("weight_bits", "act_bits")
        if given_bits:
            raise WorkloadError(
                f"{'/'.join(given_bits)} does not apply to --genome (the genome sets each layer's "
                "bits); drop the flag, or use --network with the bits you want"
            )
        return genome_workload(read_genome(genome))  # its own per-layer bits
    if network:
        from cimkit.workload.builtin import get_network

        if input_shape or input_dtype:
            raise WorkloadError("--input-shape/--input-dtype apply to --torch models only")
        return get_network(network, weight_bits=weight_bits, act_bits=act_bits)
    if onnx:
        from cimkit.workload.onnx_import import from_onnx

        if not onnx.is_file():
            raise WorkloadError(f"{onnx}: file not found")
        if input_shape or input_dtype:
            raise WorkloadError(
                "--input-shape/--input-dtype apply to --torch models only (an ONNX file has "
                "its own input shape)"
            )
        return from_onnx(onnx, weight_bits=weight_bits, act_bits=act_bits)
    from cimkit.workload.torch_import import collect_histograms, from_torch, load_torch_factory

    assert torch_factory is not None
    model, example = load_torch_factory(torch_factory, input_shape, input_dtype)
    wl = from_torch(model, example, weight_bits=weight_bits, act_bits=act_bits)
    if histograms:
        wl = wl.with_histograms(collect_histograms(model, example, wl))
    return wl


INPUT_SHAPE = typer.Option(
    "--input-shape",
    help="With --torch: example input shape, batch first, e.g. 1,3,96,96 (default: the "
    "factory's example input, else 1,3,224,224).",
)
INPUT_DTYPE = typer.Option(
    "--input-dtype",
    help="With --torch: example input dtype, e.g. int64 for token ids (default float32).",
)


def _check_metrics(metrics: dict[str, float], what: str) -> None:
    """Refuse to print a NaN, infinite or negative metric as if it were a result."""
    bad = [k for k, v in metrics.items() if not math.isfinite(v) or v < 0]
    if bad:
        raise SpecError(
            f"{what}: the cost model gave {', '.join(f'{k}={metrics[k]:g}' for k in bad[:4])}; "
            "the spec or network is outside the model's range (check sizes and bit widths)"
        )


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


@app.command()
@user_errors
def evaluate(
    hw: Annotated[
        Path,
        typer.Option(
            "--hw",
            help="Chip spec YAML, or an NPU + CIM system spec (kind: npu_cim_system; "
            "docs/h4h-hardware.md).",
        ),
    ],
    network: Annotated[
        str | None, typer.Option("--network", help="Built-in network (see `cimkit networks`).")
    ] = None,
    onnx: Annotated[Path | None, typer.Option("--onnx", help="ONNX model file.")] = None,
    torch_factory: Annotated[
        str | None,
        typer.Option(
            "--torch",
            help="PyTorch factory 'package.module:function' returning a model; runs Python "
            "code from that module (docs/security.md).",
        ),
    ] = None,
    genome: Annotated[
        str | None,
        typer.Option(
            "--genome",
            help="genome.json of `cimkit export` (or its JSON): the space family's network "
            "with the genome's per-layer bits (--weight-bits/--act-bits do not apply).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for designs/layers/components CSV and charts."),
    ] = None,
    weight_bits: Annotated[int, typer.Option(help="Weight bits, all layers, 1 .. 16.")] = 8,
    act_bits: Annotated[int, typer.Option(help="Activation bits, all layers, 1 .. 16.")] = 8,
    histograms: Annotated[
        bool,
        typer.Option(help="With --torch: measure per-layer value histograms on a real input."),
    ] = True,
    input_shape: Annotated[str | None, INPUT_SHAPE] = None,
    input_dtype: Annotated[str | None, INPUT_DTYPE] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Energy, latency and area of one chip running one network.

    --json prints {chip, network, layers, feasible, reason, metrics} with the metrics in SI
    units (energy_j in J, latency_s in s, area_mm2 in mm^2, edap_j_s_m2 in J*s*m^2).

    With a system spec (kind: npu_cim_system) it prints the per-layer NPU/CIM split and the
    per-engine breakdown; --json prints {system, network, layers, metrics, engines, split}.
    """
    from cimkit.cost import evaluate as run
    from cimkit.specs import load_chip, read_yaml
    from cimkit.specs.system import is_system_spec, load_system

    out_mode.set_mode(json_output, quiet)
    _bits(weight_bits, act_bits)
    system = is_system_spec(read_yaml(hw))
    spec = load_system(str(hw)) if system else load_chip(hw)
    out = prepare_out_dir(out) if out is not None else None
    wl = _load_workload(
        network,
        onnx,
        torch_factory,
        weight_bits,
        act_bits,
        histograms,
        input_shape,
        input_dtype,
        genome,
    )
    if system:
        from cimkit.hetero.report import run_system_cli

        run_system_cli(spec, wl, out, json_output)
        return
    ev = run(spec, wl, breakdown=True)
    m = {k: float(v[0]) for k, v in ev.metrics.items()}
    if ev.feasible[0]:  # an infeasible design exits 1 with its reason below
        _check_metrics(m, f"{spec.name} running {wl.name}")
    table = Table(title=f"{spec.name} running {wl.name} ({len(wl)} layers)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("energy", _si(m["energy_j"], "J")),
        ("latency", _si(m["latency_s"], "s")),
        ("area", f"{m['area_mm2']:,.2f} mm^2"),
        ("EDAP", f"{m['edap_j_s_m2']:.4g} J*s*m^2"),
        ("TOPS", f"{m['tops']:.4g}"),
        ("TOPS/W", f"{m['tops_per_w']:.4g}"),
        ("TOPS/mm^2", f"{m['tops_per_mm2']:.4g}"),
        ("utilization", f"{m['utilization']:.3f}"),
        ("crossbars", f"{int(m['xbars_needed']):,} needed / {int(m['xbars_available']):,} on chip"),
        ("feasible", "yes" if ev.feasible[0] else f"NO: {ev.reasons[0]}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    if json_output:
        emit_json(
            {
                "chip": spec.name,
                "network": wl.name,
                "layers": len(wl),
                "feasible": bool(ev.feasible[0]),
                "reason": None if ev.feasible[0] else str(ev.reasons[0]),
                "metrics": m,
            }
        )
    print_table(table)
    if out is not None:
        tables = {
            "designs": ev.to_frame(),
            "layers": ev.layers_frame(),
            "components": ev.components_frame(),
            "workload": wl.to_frame(),
        }
        from cimkit.columns import typed_frame

        for stem, frame in tables.items():
            frame = typed_frame(frame)  # integer columns as integers (cimkit.columns)
            frame.to_csv(out / f"{stem}.csv", index=False)
            frame.to_parquet(out / f"{stem}.parquet", index=False)
        from cimkit.report.plots import write_design_charts

        write_design_charts(ev, out, f"{spec.name} running {wl.name}")  # layers/components.png
        note(f"wrote {', '.join(tables)} as CSV and Parquet to {out}")
    if not ev.feasible[0]:
        raise typer.Exit(code=1)


@app.command("import")
@user_errors
def import_cmd(
    torch_factory: Annotated[
        str | None,
        typer.Option(
            "--torch",
            help="PyTorch factory 'package.module:function' returning a model; runs Python "
            "code from that module (docs/security.md).",
        ),
    ] = None,
    onnx: Annotated[Path | None, typer.Option("--onnx", help="ONNX model file.")] = None,
    input_shape: Annotated[str | None, INPUT_SHAPE] = None,
    input_dtype: Annotated[str | None, INPUT_DTYPE] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Compare the table's MACs with an independent count of the model."
        ),
    ] = False,
    route: Annotated[
        str, typer.Option(help="torch route: auto (export, then fx), export or fx.")
    ] = "auto",
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for layers.csv / layers.parquet.")
    ] = None,
    weight_bits: Annotated[int, typer.Option(help="Weight bits, all layers, 1 .. 16.")] = 8,
    act_bits: Annotated[int, typer.Option(help="Activation bits, all layers, 1 .. 16.")] = 8,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Import a PyTorch model or an ONNX file and print its layer table summary.

    With --check the table's MACs are compared, per module scope, with an independent
    dispatch-level count of the PyTorch model (exit 2 naming the layers that differ). For
    --onnx, --check needs --torch too (the same model's factory), otherwise it is skipped.

    --json prints {network, rows, mac_rows, macs, weights, route, export_error, wall_s (s),
    batch, check, out, files, layers}; layers holds the layer table, the columns of layers.csv.
    """
    import time

    from cimkit.errors import WorkloadError

    out_mode.set_mode(json_output, quiet)
    if not torch_factory and not onnx:
        raise WorkloadError("give --torch MODULE:FACTORY and/or --onnx FILE")
    _bits(weight_bits, act_bits)
    if route not in ("auto", "export", "fx"):  # before the (slow) model build
        raise WorkloadError(f"--route {short_repr(route)}: allowed: auto, export, fx")
    out = prepare_out_dir(out) if out is not None else None
    if not torch_factory and (input_shape or input_dtype):
        raise WorkloadError(
            "--input-shape/--input-dtype apply to --torch models only (an ONNX file has its own "
            "input shape)"
        )
    model = example = None
    batch = None
    if torch_factory:
        from cimkit.workload.torch_import import import_torch, load_torch_factory

        model, example = load_torch_factory(torch_factory, input_shape, input_dtype)
    if onnx:
        from cimkit.workload.onnx_import import from_onnx

        if not onnx.is_file():
            raise WorkloadError(f"{onnx}: file not found")
        start = time.perf_counter()
        wl = from_onnx(onnx, weight_bits=weight_bits, act_bits=act_bits)
        seconds, route_used = time.perf_counter() - start, "onnx"
    else:
        res = import_torch(model, example, weight_bits=weight_bits, act_bits=act_bits, route=route)
        wl, seconds, route_used, batch = res.workload, res.seconds, res.route, res.batch
    export_error = None if onnx else res.export_error
    mac_rows = sum(1 for la in wl.layers if la.is_mac)
    if not json_output:
        failed = f" (torch.export failed: {export_error})" if export_error else ""
        console.print(
            f"{wl.name}: {len(wl)} rows, {mac_rows} MAC rows, {wl.total_macs:,} MACs, "
            f"{wl.total_weights:,} weights; route {route_used}{failed}; imported in "
            f"{seconds:.2f} s",
            highlight=False,
            soft_wrap=True,
        )
    frame = wl.to_frame()
    files: list[str] = []
    if out is not None:
        frame.to_csv(out / "layers.csv", index=False)
        frame.to_parquet(out / "layers.parquet", index=False)
        files = [str(out / "layers.csv"), str(out / "layers.parquet")]
        note(f"wrote layers.csv and layers.parquet to {out}")
    check_doc: dict[str, Any] | None = None
    if check and model is None:
        reason = (
            "an ONNX file alone has no model to count; give --torch with the same model's factory"
        )
        check_doc = {"passed": None, "skipped": reason}
        note(f"MAC check skipped: {reason}")
    elif check:
        from cimkit.workload.mac_count import check_macs, count_macs

        counted = count_macs(model, example, batch)
        check_macs(wl, counted)  # a mismatch is a one-line error naming the layers, exit 2
        check_doc = {"passed": True, "macs_counted": counted.total, "scopes": len(counted.by_scope)}
        if not json_output:
            console.print(
                f"MAC check passed: {counted.total:,} MACs counted independently "
                f"({len(counted.by_scope)} scopes)",
                highlight=False,
            )
    if json_output:
        emit_json(
            {
                "network": wl.name,
                "rows": len(wl),
                "mac_rows": mac_rows,
                "macs": wl.total_macs,
                "weights": wl.total_weights,
                "route": route_used,
                "export_error": export_error or None,
                "wall_s": seconds,
                "batch": batch,
                "check": check_doc,
                "out": None if out is None else str(out),
                "files": files,
                "layers": frame.to_dict(orient="records"),
            }
        )


@app.command()
@user_errors
def networks(
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """List the built-in networks (--json: name, description, macs, weights per network)."""
    from cimkit.workload.builtin import list_networks

    out_mode.set_mode(json_output, quiet)
    rows = list_networks()
    if json_output:
        emit_json(
            [
                {"name": n, "description": d, "macs": int(m), "weights": int(w)}
                for n, d, m, w in rows
            ]
        )
        return
    table = Table(title="built-in networks")
    for col in ("name", "description", "GMACs", "M weights"):
        table.add_column(col, justify="right" if col[0].isupper() and col != "name" else "left")
    for name, desc, macs, weights in rows:
        table.add_row(name, desc, f"{macs / 1e9:.3f}", f"{weights / 1e6:.2f}")
    print_table(table)


@app.command()
@user_errors
def validate(
    out: Annotated[Path | None, typer.Option(help="Also write the table as CSV here.")] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Compare the cost model with published silicon macros at every published operating point.

    Calibration points (one per macro) are printed apart from the out-of-sample points; the
    last column is the leave-one-macro-out prediction (constants fitted without that macro, from
    tools/fit_macro_constants.py --lomo).
    """
    from cimkit.validation import lomo_table, macro_presets, validation_table

    out_mode.set_mode(json_output, quiet)
    out = prepare_out_file(out) if out is not None else None
    frame = validation_table()
    lomo = lomo_table()
    frame = frame.merge(
        lomo.rename(columns={"error": "lomo_error"})[["macro", "point", "metric", "lomo_error"]],
        on=["macro", "point", "metric"],
        how="left",
    )
    if json_output:  # errors are signed fractions: (cimkit - reported) / reported
        emit_json(frame.to_dict(orient="records"))
        if out is not None:
            frame.to_csv(out, index=False)
        return
    for title, part in (
        ("in sample: calibration points (one per macro)", frame[frame.in_sample]),
        ("out of sample: every other published operating point", frame[~frame.in_sample]),
    ):
        table = Table(title=f"cimkit vs published CIM macros, {title}")
        for col in (
            "macro",
            "point",
            "V",
            "precision",
            "metric",
            "reported",
            "cimkit",
            "error",
            "leave-one-macro-out",
        ):
            table.add_column(
                col, justify="left" if col in ("macro", "point", "metric") else "right"
            )
        for r in part.itertuples():
            lo = "" if r.lomo_error != r.lomo_error else f"{r.lomo_error:+.1%}"
            table.add_row(
                r.macro,
                r.point,
                f"{r.voltage_v:.3g}",
                r.precision,
                r.metric,
                f"{r.reported:.4g}",
                f"{r.predicted:.4g}",
                f"{r.error:+.1%}",
                lo,
            )
        print_table(table)
        e = part["error"].abs()
        console.print(
            f"{title}: {len(e)} rows, median |error| {e.median():.1%}, worst {e.max():.1%}"
        )
    lo = frame["lomo_error"].abs().dropna()
    if len(lo):
        console.print(f"leave-one-macro-out: {len(lo)} rows, median |error| {lo.median():.1%}")
    for p in macro_presets():
        note(f"[dim]{p.id}: {p.citation}[/]", markup=True)
    if out is not None:
        frame.to_csv(out, index=False)


class _SpecCommand(TyperCommand):
    """``spec``'s command: its help lists every chip-spec field, read from the pydantic models
    only when the help is shown (importing them for every ``cimkit`` call would slow it)."""

    @property  # type: ignore[override]
    def epilog(self) -> str | None:
        from cimkit.spec_explain import fields_epilog

        return fields_epilog()

    @epilog.setter
    def epilog(self, value: str | None) -> None:  # click's __init__ assigns it; computed above
        pass


@app.command(cls=_SpecCommand)
@user_errors
def spec(
    check: Annotated[
        Path | None, typer.Argument(help="A chip YAML to validate; omit to print the default.")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Every field with its type, unit, range, default and description."
        ),
    ] = False,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Print the default chip spec as YAML, or validate a chip YAML file.

    --explain lists every field (generated from the spec's pydantic models). --json prints the
    default spec, the validated spec, or the --explain list as JSON.
    """
    from cimkit.specs import ChipSpec, dump_yaml, load_chip

    out_mode.set_mode(json_output, quiet)
    if explain:
        if check is not None:
            raise SpecError("--explain describes the fields; give it without a chip file")
        from cimkit.spec_explain import explain_records, explain_text

        if json_output:
            emit_json(explain_records())
        else:
            sys.stdout.write(explain_text())
        return
    if check is None:
        if json_output:
            emit_json(ChipSpec().model_dump(mode="json"))
        else:
            sys.stdout.write(dump_yaml(ChipSpec()))
        return
    chip = load_chip(check)
    if json_output:
        emit_json(
            {
                "file": str(check),
                "valid": True,
                "macros": chip.macros_total,
                "spec": chip.model_dump(mode="json"),
            }
        )
        return
    note(f"{check}: valid chip spec '{chip.name}' with {chip.macros_total:,} macros")


def _net_args(values: list[str] | None) -> dict[str, Any]:
    """Parse repeated ``--net-arg key=value`` into keyword arguments (ints, floats or lists)."""
    from cimkit.errors import WorkloadError

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise WorkloadError(
                f"--net-arg {short_repr(item)}: expected key=value, e.g. resolution=32"
            )
        parts = [p.strip() for p in raw.split(",")]
        conv: list[float] = []
        for p in parts:
            try:
                conv.append(int(p))
            except ValueError:
                try:
                    value = float(p)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise WorkloadError(
                        f"--net-arg {short_repr(item)}: {short_repr(p)} is not a finite number"
                    ) from None
                conv.append(value)
        limit = _NET_ARG_MAX.get(key, _NET_ARG_MAX_ANY)
        if any(abs(v) > limit for v in conv):
            raise WorkloadError(
                f"--net-arg {short_repr(item)}: {key} must be at most {limit:,} in magnitude "
                "(larger layers overflow the 64-bit MAC and cell counts)"
            )
        out[key] = conv[0] if len(conv) == 1 else tuple(conv)
    return out


#: Bounds of --net-arg values: a 8192x8192 input is ~1,300x ImageNet's 224x224 and width 64 is
#: 64x the channels; beyond them (or 10^6 for any other size) layer counts overflow int64.
_NET_ARG_MAX = {"resolution": 8192, "width": 64}
_NET_ARG_MAX_ANY = 1_000_000


def _network(network: str, net_arg: list[str] | None, weight_bits: int, act_bits: int) -> Any:
    from cimkit.workload.builtin import get_network

    try:
        return get_network(
            network, weight_bits=weight_bits, act_bits=act_bits, **_net_args(net_arg)
        )
    except TypeError as exc:  # an unknown keyword for this generator
        from cimkit.errors import WorkloadError

        raise WorkloadError(f"--net-arg for {short_repr(network)}: {exc}") from None


_TECHS = {"hetero": ("sram", "rram"), "sram": ("sram",), "rram": ("rram",)}


def _techs(tech: str) -> tuple[str, ...]:
    from cimkit.errors import SpecError, short_repr

    if tech not in _TECHS:
        raise SpecError(f"--tech {short_repr(tech)}: allowed: {', '.join(_TECHS)}")
    return _TECHS[tech]


#: Network of schedule, generate and pimhls-report when neither --network nor --genome is given.
DEFAULT_NETWORK = "vgg8"
GENOME_OPTION = typer.Option(
    "--genome",
    help="genome.json of `cimkit export` (or its JSON text): the design's network with its "
    "per-layer bits, instead of --network (--net-arg does not apply).",
)


def _network_or_genome(network: str | None, genome: str | None, net_arg: list[str] | None) -> Any:
    """The workload of ``--network NAME [--net-arg k=v]`` or of ``--genome FILE``.

    The genome is read first (the shared reader of evaluate/predict/histograms, every error one
    line naming --genome), so a bad file is reported as such even beside another flag.
    """
    if genome is None:
        return _network(network or DEFAULT_NETWORK, net_arg, 8, 8)
    from cimkit.runs.genome import genome_workload, read_genome

    wl = genome_workload(read_genome(genome))  # the genome's own per-layer bits
    if network is not None:
        raise SpecError(
            f"--genome and --network {short_repr(network)}: give one (the genome names its network)"
        )
    if net_arg:
        raise SpecError("--net-arg does not apply to --genome (the genome fixes the network)")
    return wl


@app.command()
@user_errors
def schedule(
    network: Annotated[
        str | None, typer.Option("--network", help="Built-in network (default vgg8).")
    ] = None,
    area_mm2: Annotated[
        float,
        typer.Option(
            "--area",
            "--area-mm2",
            help="Area budget of the PIM arrays, mm^2, in (0, 10000] (--area-mm2: old name).",
        ),
    ] = 16.0,
    tech: Annotated[str, typer.Option(help="hetero (SRAM + RRAM), sram or rram.")] = "hetero",
    method: Annotated[str, typer.Option(help="dp (Algorithm 1) or greedy.")] = "dp",
    tune: Annotated[bool, typer.Option(help="Fine-grained tile parameter optimization.")] = True,
    net_arg: Annotated[
        list[str] | None, typer.Option(help="Network argument key=value (repeatable).")
    ] = None,
    hw: Annotated[
        Path | None, typer.Option("--hw", help="Chip spec for node, voltage, clock, DRAM.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for schedule tables.")] = None,
    genome: Annotated[str | None, GENOME_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """PIM-HLS: technology per layer, runtime weight schedule and tile parameters.

    --json prints {network, summary, pieces, out, files}: summary as summary.json (latency_s in
    s, area_mm2 in mm^2, cycles), pieces the rows of schedule.csv.
    """
    import json

    from cimkit.pimhls.optimize import hardware_table, optimize, schedule_summary, schedule_table
    from cimkit.specs import load_chip

    out_mode.set_mode(json_output, quiet)
    area_mm2 = _area(area_mm2)
    if method not in ("dp", "greedy"):
        raise SpecError(f"--method {short_repr(method)}: allowed: dp, greedy")
    techs = _techs(tech)
    out = prepare_out_dir(out) if out is not None else None
    wl = _network_or_genome(network, genome, net_arg)
    base = load_chip(hw) if hw else None
    sched = optimize(wl, area_mm2, techs, tune, base, method=method)  # type: ignore[arg-type]
    table = schedule_table(sched)
    summary = schedule_summary(sched)
    t = Table(title=f"{wl.name}: {len(sched.groups)} layer groups under {area_mm2:g} mm^2 ({tech})")
    for col in (
        "group",
        "layer",
        "piece",
        "tech",
        "rows",
        "cols",
        "adcs",
        "arrays",
        "copies",
        "compute_cycles",
        "write_cycles",
    ):
        t.add_column(col, justify="left" if col in ("layer", "tech") else "right")
    for r in table.itertuples():
        t.add_row(
            str(r.group),
            r.layer,
            f"{r.piece + 1}/{r.pieces}",
            r.tech,
            str(r.rows),
            str(r.cols),
            str(r.adcs),
            str(r.arrays),
            str(r.copies),
            f"{r.compute_cycles:,}",
            f"{r.write_cycles:,}",
        )
    print_table(t)
    if not json_output:
        console.print(
            f"latency {_si(sched.latency_s, 's')} ({sched.cycles:,} cycles), "
            f"area {sched.area_mm2:.2f} mm^2 of {area_mm2:g}, assignment {summary['assignment']}"
        )
    files: list[str] = []
    if out is not None:
        table.to_csv(out / "schedule.csv", index=False)
        hardware_table(sched).to_csv(out / "hardware.csv", index=False)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        files = [str(out / n) for n in ("schedule.csv", "hardware.csv", "summary.json")]
        note(f"wrote schedule.csv, hardware.csv, summary.json to {out}")
    if json_output:  # after the files, so a failed write is an error, not a printed result
        emit_json(
            {
                "network": wl.name,
                "summary": summary,
                "pieces": table.to_dict(orient="records"),
                "out": None if out is None else str(out),
                "files": files,
            }
        )


def _load_weights(path: Path) -> dict[str, Any]:
    """Integer weight arrays by layer name from a ``.npz`` (never unpickles: a file is data)."""
    import zipfile

    import numpy as np

    label = f"--weights {short_text(str(path))}"
    if not path.is_file():
        raise SpecError(f"{label}: file not found")
    how = "save them with numpy.savez(path, **{layer_name: integer_array})"
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise SpecError(f"{label}: a single array, not an .npz archive of layers; {how}")
        with data:
            weights = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise SpecError(
            f"{label}: not a NumPy .npz archive of arrays ({type(exc).__name__}); {how}"
        ) from None
    bad = [k for k, v in weights.items() if v.dtype.kind not in "iu"]
    if bad:
        raise SpecError(
            f"{label}: layer {short_repr(bad[0])} has {weights[bad[0]].dtype} weights; "
            "give integer arrays (the code generator does integer arithmetic)"
        )
    return weights


@app.command()
@user_errors
def generate(
    out: Annotated[Path, typer.Option(help="Directory for Verilog, program and testbench.")],
    network: Annotated[
        str | None, typer.Option("--network", help="Built-in network (default vgg8).")
    ] = None,
    area_mm2: Annotated[
        float,
        typer.Option(
            "--area",
            "--area-mm2",
            help="Area budget of the PIM arrays, mm^2, in (0, 10000] (--area-mm2: old name).",
        ),
    ] = 16.0,
    tech: Annotated[str, typer.Option(help="hetero (SRAM + RRAM), sram or rram.")] = "hetero",
    net_arg: Annotated[
        list[str] | None, typer.Option(help="Network argument key=value (repeatable).")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help=".npz of integer weights by layer name (default: seeded random)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of random weights and input, 0 .. 2**32-1.")] = 0,
    simulate: Annotated[
        bool, typer.Option(help="Run Icarus Verilog and check outputs against numpy.")
    ] = False,
    genome: Annotated[str | None, GENOME_OPTION] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Generate Verilog and an instruction stream for the optimized accelerator.

    --json prints {network, out, rtl_files, instructions, estimate_cycles, simulation}:
    rtl_files relative to --out; simulation null, or {cycles, cycle_error (signed fraction
    vs the estimate), outputs_match} with --simulate.
    """
    import numpy as np

    from cimkit import codegen
    from cimkit.pimhls.optimize import optimize

    out_mode.set_mode(json_output, quiet)
    area_mm2, seed, techs = _area(area_mm2), _seed(seed), _techs(tech)
    out = prepare_out_dir(out)
    w = _load_weights(weights) if weights is not None else None
    wl = _network_or_genome(network, genome, net_arg)
    from cimkit.codegen.lowering import mac_chain
    from cimkit.errors import WorkloadError

    try:  # lowered before the optimizer: a layer that cannot be generated fails at once
        layers = [g.name for g in mac_chain(wl)]
    except WorkloadError as exc:
        if genome is None:
            raise
        raise WorkloadError(f"--genome: the {wl.name} network cannot be generated: {exc}") from None
    # The generated controller encodes copies in 6 bits and at most 16 pieces per group; layers
    # are cut along input channels where that helps, as `cimkit schedule` allows.
    sched = optimize(wl, area_mm2, techs, True, None, max_copies=63, max_members=16)
    if w is None:
        w = codegen.random_weights(wl, seed)
    else:
        unknown = sorted(set(w) - set(layers))
        if unknown:  # most likely a misspelt layer name: its real weights would be missing
            raise SpecError(
                f"--weights: {short_repr(unknown[0])} is not a MAC layer of {wl.name}; "
                f"layers: {', '.join(layers[:12])}{', ...' if len(layers) > 12 else ''}"
            )
    x = codegen.random_inputs(wl, seed)
    shifts = codegen.calibrate_shifts(wl, w, x)
    design = codegen.generate(sched, wl, w, out, inputs=x, shifts=shifts)
    if not json_output:
        console.print(
            f"wrote {len(design.rtl_files)} Verilog files, {len(design.program)} instructions, "
            f"testbench and README to {out}; the plan estimates {design.estimate_cycles:,} cycles"
        )
    simulation: dict[str, Any] | None = None
    exact = True
    if simulate:
        res = codegen.simulate(design)
        exact = bool(np.array_equal(res.outputs, design.expected))
        err = codegen.cycle_error(res.cycles, design.estimate_cycles)
        simulation = {"cycles": res.cycles, "cycle_error": err, "outputs_match": exact}
        if not json_output:
            console.print(
                f"simulated {res.cycles:,} cycles ({err:+.2%} vs estimate); outputs "
                + ("match numpy bit-exactly" if exact else "DIFFER from numpy")
            )
    if json_output:
        emit_json(
            {
                "network": wl.name,
                "out": str(out),
                "rtl_files": [_relative(p, design.out_dir) for p in design.rtl_files],
                "instructions": len(design.program),
                "estimate_cycles": design.estimate_cycles,
                "simulation": simulation,
            }
        )
    if not exact:
        raise typer.Exit(code=1)


def _relative(path: Path | str, folder: Path) -> str:
    """``path`` relative to ``folder`` when inside it (JSON output), else as given."""
    try:
        return str(Path(path).relative_to(folder))
    except ValueError:
        return str(path)


@app.command("pimhls-report")
@user_errors
def pimhls_report(
    out: Annotated[Path, typer.Option(help="Directory for the table, plots and report.")],
    networks: Annotated[
        str | None,
        typer.Option(
            "--network",
            "--networks",
            help="Comma-separated built-in networks (default vgg8,resnet18; --networks: old).",
        ),
    ] = None,
    areas: Annotated[
        str | None,
        typer.Option(
            "--area",
            "--areas",
            help="Comma-separated area constraints in mm^2, each in (0, 10000] (--areas: old).",
        ),
    ] = None,
    genome: Annotated[
        str | None,
        typer.Option(
            "--genome",
            help="genome.json of `cimkit export` (or its JSON text): sweep the design's "
            "network (with its per-layer bits) instead of --network.",
        ),
    ] = None,
    compare: Annotated[
        bool | None,
        typer.Option(
            "--compare/--no-compare",
            help="Compare Hetero-SP at 16 and 40 mm^2 with the paper's resident RRAM and SRAM "
            "baselines (the 5.9x / 72.8 % claim): printed, pimhls_comparison.csv. Default: "
            "for the paper's networks (vgg8, resnet18) among those swept.",
        ),
    ] = None,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity/--no-sensitivity",
            help="Also sweep DRAM bandwidth, RRAM write time, RRAM ADC sharing and SRAM cell "
            "area one at a time (16 and 40 mm^2): pimhls_sensitivity.csv and PNGs (minutes).",
        ),
    ] = False,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Latency vs area for RRAM, SRAM and heterogeneous designs (PIM-HLS Fig. 5/6).

    Progress (one step per network and area) goes to stderr: a bar with ETA on a terminal,
    plain lines when piped. --json prints {out, files, rows, comparison, headline}: rows are
    those of pimhls_sweep.csv (latency_s in s, areas in mm^2), comparison those of
    pimhls_comparison.csv (speedup, area_saving as a fraction).
    """
    from cimkit.pimhls.sweep import DEFAULT_AREAS_MM2, plot_sweep, sweep
    from cimkit.workload.builtin import NETWORKS

    out_mode.set_mode(json_output, quiet)
    if genome is not None:
        from cimkit.runs.genome import genome_workload, read_genome

        nets: list[Any] = [genome_workload(read_genome(genome))]
        if networks is not None:
            flag = out_mode.typed_flag("--network")
            raise SpecError(f"--genome and {flag}: give one (the genome names its network)")
    else:
        names = networks if networks is not None else "vgg8,resnet18"
        nets = parse_names(names, out_mode.typed_flag("--network"), NETWORKS)
    if areas is None:
        area_list = list(DEFAULT_AREAS_MM2)
    else:
        flag = out_mode.typed_flag("--area")
        area_list = parse_numbers(
            areas, flag, 0.0, MAX_AREA_MM2, unit="mm^2", low_open=True, why=AREA_WHY
        )
    out = prepare_out_dir(out)
    frames = []
    with out_mode.step_progress("optimizing", len(nets) * len(area_list)) as advance:
        for net in nets:
            for a in area_list:
                frames.append(sweep([net], [a]))
                advance(f"{getattr(net, 'name', net)} at {a:g} mm^2")
    import pandas as pd

    df = pd.concat(frames, ignore_index=True)
    paths = plot_sweep(df, out)
    result: dict[str, Any] = {}
    paper_nets = [n for n in nets if compare or getattr(n, "name", n) in ("vgg8", "resnet18")]
    if compare is not False and paper_nets:
        from cimkit.pimhls.paper import (
            COMPARISON_AREAS_MM2,
            comparison,
            format_comparison,
            headline,
        )

        # The paper's constraints (16, 40 mm^2) unless the user named the areas to compare at.
        cmp_areas = COMPARISON_AREAS_MM2 if areas is None else area_list
        table = comparison(paper_nets, areas_mm2=cmp_areas, designs=df)
        table.to_csv(out / "pimhls_comparison.csv", index=False)
        paths.append(out / "pimhls_comparison.csv")
        note(format_comparison(table))
        result = {"comparison": _records(table), "headline": _records(headline(table))}
    if sensitivity:
        from cimkit.pimhls.paper import plot_sensitivity, sensitivity_settings
        from cimkit.pimhls.paper import sensitivity as sensitivity_sweep

        settings = sensitivity_settings()
        with out_mode.step_progress("sensitivity", len(settings)) as advance:
            sens = sensitivity_sweep(nets, settings=settings, progress=advance)
        paths += plot_sensitivity(sens, out)
    note(f"wrote {', '.join(p.name for p in paths)} to {out}")
    if json_output:
        # The CSV's rows as written (NaN -> null: infeasible rows have no latency).
        emit_json(
            {"out": str(out), "files": [str(p) for p in paths], "rows": _records(df), **result}
        )


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows of ``frame`` as records, NaN as None (full precision: ``DataFrame.to_json`` keeps
    only 10 digits)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _register_subcommands() -> None:
    """Commands that live beside their packages: search (space, search, compare, report),
    accuracy (train supernet|predictor, predict, histograms) and dashboard."""
    from cimkit.accuracy.cli import histograms, predict, train_app
    from cimkit.dashboard.cli import dashboard  # imports typer only; the server loads on use
    from cimkit.search.cli import register as register_search

    register_search(app)
    app.add_typer(train_app, name="train")
    app.command()(user_errors(predict))  # already wrapped there; user_errors is idempotent
    app.command()(user_errors(histograms))
    app.command("dashboard")(user_errors(dashboard))
    from cimkit.osa.energy_report import osa_energy_cmd  # typer + numpy only; no torch

    app.command("osa-energy")(user_errors(osa_energy_cmd))
    from cimkit.osa.report_cli import osa_report_cmd  # typer only; torch loads when it runs

    app.command("osa-report")(user_errors(osa_report_cmd))


_register_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


@app.command("h4h-report")
@user_errors
def h4h_report(
    runs: Annotated[Path, typer.Option(help="Folder of the `cimkit train h4h` runs.")] = Path(
        "runs/h4h"
    ),
    out: Annotated[Path, typer.Option(help="Report folder (CSV, PNG, JSON; resumable).")] = Path(
        "runs/h4h-report"
    ),
    hw: Annotated[
        Path | None,
        typer.Option(help="Base system spec (NPU, NoC, macro timing); default: the spec defaults."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the runs searched and of the search.")] = 0,
    recipe: Annotated[str, typer.Option(help="Supernet the search uses.")] = "tpi_freeze",
    space: Annotated[
        Path | None,
        typer.Option(help="Sub-space of Table 1 to search (kind: h4h_hybrid YAML)."),
    ] = None,
    measure: Annotated[int, typer.Option(help="Subnets measured for the predictor.")] = 300,
    budgets: Annotated[int, typer.Option(help="Budgets per objective and system.")] = 6,
    cycles: Annotated[int, typer.Option(help="Evolution cycles per search.")] = 400,
    population: Annotated[int, typer.Option(help="Evolution population.")] = 48,
    top: Annotated[
        int,
        typer.Option(
            help="Best predicted genomes per search measured on validation images; "
            "the best measured is the answer (1: the predictor's pick)."
        ),
    ] = 6,  # fmt: skip
    data: Annotated[str, typer.Option(help="fashion-mnist | digits | synthetic")] = "fashion-mnist",
    shipped: Annotated[
        bool,
        typer.Option(
            "--shipped",
            help="Search the supernet shipped with cimkit (its recipe and "
            "seed; its measured subnets seed the cache): no training needed.",
        ),
    ] = False,  # fmt: skip
    ship: Annotated[
        Path | None,
        typer.Option(
            help="Also copy the search supernet, predictor and measurements with a "
            "manifest here (the package's: src/cimkit/data/h4h/shipped)."
        ),
    ] = None,  # fmt: skip
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """H4H-NAS network-side report: Table 2 (training recipes), the accuracy predictor's
    held-out tau, latency- and energy-constrained searches on NPU-only and NPU + 1/4/8 macro
    systems (1 and 4 compute units), their re-measurement on the test images, Fig. 7 / 8 / 9 /
    11 analogues and the paper's headline numbers beside cimkit's (docs/h4h-network.md).

    --json prints the summary (table2, claims, predictor, headline, ordering, figures).
    """
    from cimkit.accuracy import h4h_train
    from cimkit.accuracy.cli import _dataset, _seed
    from cimkit.report.h4h import run_report
    from cimkit.specs.system import SystemSpec, load_system

    out_mode.set_mode(json_output, quiet)
    if recipe not in h4h_train.RECIPES:
        raise SpecError(f"--recipe {short_repr(recipe)}: unknown; allowed: "
                        f"{', '.join(h4h_train.RECIPES)}")  # fmt: skip
    _dataset(data)
    _seed(seed)
    check_number(measure, "--measure", 8, 100_000, why="subnets measured (seconds each)")
    check_number(budgets, "--budgets", 1, 100, why="searches per system and objective")
    check_number(cycles, "--cycles", 1, 1_000_000, why="evolution cycles per search")
    check_number(population, "--population", 2, 10_000, why="genomes kept per search")
    check_number(top, "--top", 1, 1000, why="candidates measured per search (seconds each)")
    system = load_system(str(hw)) if hw is not None else SystemSpec()
    choices = None
    if space is not None:
        from cimkit.accuracy.h4h_space import space_choices
        from cimkit.specs.h4h_space import load_space

        choices = space_choices(load_space(str(space)))
    if not runs.is_dir() and not shipped:
        raise CimkitError(f"--runs {runs}: no such folder; train with `cimkit train h4h`, or "
                          "search the shipped supernet with --shipped")  # fmt: skip
    out = prepare_out_dir(out)
    if ship is not None:
        ship = prepare_out_dir(ship, flag="--ship")
    res = run_report(runs, out, system, seed=seed, recipe=recipe, n_measure=measure,
                     budgets=budgets, cycles=cycles, population=population, top=top, data=data,
                     log=note, space=choices, shipped=shipped)  # fmt: skip
    if ship is not None:
        from cimkit.accuracy import h4h_shipped

        cmd = shlex.join(["cimkit", *sys.argv[1:]])
        res["shipped"] = h4h_shipped.ship(h4h_train.run_dir(runs, recipe, seed), out, ship,
                                          recipe, seed, cmd)  # fmt: skip
        note(f"shipped the {recipe} supernet, predictor and measurements to {ship}")
    if json_output:
        emit_json(res)
        return
    table = Table(title="H4H-NAS: the paper's numbers beside cimkit's")
    for c in ("metric", "cimkit", "paper", "unit"):
        table.add_column(c, overflow="fold")
    for r in res["headline"]:
        v = r["cimkit"]
        table.add_row(r["metric"], "-" if v is None or v != v else f"{v:.2f}",
                      f"{r['paper']:.2f}", r["unit"])  # fmt: skip
    print_table(table)
    claims = Table(title="Table 2 claims")
    for c in ("claim", "holds", "evidence"):
        claims.add_column(c, overflow="fold")
    for c in res["table2_claims"]:
        claims.add_row(c["claim"], {True: "yes", False: "NO", None: "-"}[c["holds"]],
                       c["evidence"])  # fmt: skip
    print_table(claims)
    note(f"predictor held-out: {res['predictor']['heldout']}; Fig. 7 ordering holds: "
         f"{res['ordering']['holds']}; wrote {', '.join(res['figures'])} to {out}")  # fmt: skip


@app.command("h4h-figures")
@user_errors
def h4h_figures(
    out: Annotated[Path, typer.Option(help="Directory for fig3/fig5 PNG + CSV and claims.csv.")],
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """H4H-NAS Fig. 3 (U55 throughput / energy efficiency vs data size per layer type) and Fig. 5
    (8 MRAM macros vs one U55 on FC and 3x3 depthwise layers) analogues, and the paper's
    qualitative claims checked one by one (docs/h4h-hardware.md).

    --json prints {out, files, claims: [{figure, claim, holds, evidence}]}.
    """
    from cimkit.hetero.figures import write_figures

    out_mode.set_mode(json_output, quiet)
    out = prepare_out_dir(out)
    _, _, claims = write_figures(out)
    files = ["fig3.png", "fig3.csv", "fig5.png", "fig5.csv", "claims.csv"]
    if json_output:
        emit_json({"out": str(out), "files": files, "claims": [c.__dict__ for c in claims]})
    table = Table(title="H4H-NAS claims, checked on cimkit's figures")
    for c in ("figure", "claim", "holds", "evidence"):
        table.add_column(c, overflow="fold")
    for c in claims:
        table.add_row(c.figure, c.claim, "yes" if c.holds else "NO", c.evidence)
    print_table(table)
    note(f"wrote {', '.join(files)} to {out}")


@app.command("npu-validate")
@user_errors
def npu_validate(
    out: Annotated[
        Path | None, typer.Option(help="Directory for npu_errors.csv (every held-out row).")
    ] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """The NPU engine's cycles vs Vela on the held-out layers (never used to build or choose the
    engine), per layer type, beside a plain roofline fitted on the same calibration grid.

    --json prints {vela_version, engine: {kind: {count, median_abs_error, worst_abs_error,
    worst_config_median}}, roofline: {...}} (errors as fractions).
    """
    from cimkit.hetero import npu

    out_mode.set_mode(json_output, quiet)
    out = prepare_out_dir(out) if out is not None else None
    errors = npu.validation_errors("test")
    eng = npu.validation_summary(errors)
    roof = npu.validation_summary(npu.roofline_errors("test"))
    if json_output:
        emit_json({"vela_version": npu.provenance()["vela_version"],
                   "engine": eng.to_dict(orient="index"),
                   "roofline": roof.to_dict(orient="index")})  # fmt: skip
    table = Table(title=f"NPU cycles vs Vela {npu.provenance()['vela_version']}, held-out layers "
                  "(6 U55 configurations)")  # fmt: skip
    for c in ("layer type", "rows", "median |err|", "worst config median", "worst |err|",
              "roofline median", "roofline worst"):  # fmt: skip
        table.add_column(c, justify="left" if c == "layer type" else "right")
    for kind, r in eng.iterrows():
        rr = roof.loc[kind]
        table.add_row(str(kind), f"{int(r['count'])}", f"{r['median_abs_error']:.1%}",
                      f"{r['worst_config_median']:.1%}", f"{r['worst_abs_error']:.0%}",
                      f"{rr['median_abs_error']:.1%}", f"{rr['worst_abs_error']:.0%}")  # fmt: skip
    print_table(table)
    if out is not None:
        errors.rename(columns={"kind": "layer_type"}).to_csv(out / "npu_errors.csv", index=False)
        note(f"wrote npu_errors.csv to {out}")
