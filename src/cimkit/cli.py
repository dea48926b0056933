"""The ``cimkit`` command line: thin commands over the Python API.

Every user error (bad YAML, unknown field, unsupported layer, missing file) is printed as one line
``error: ...`` on stderr with exit code 2; no traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cimkit.errors import CimkitError

app = typer.Typer(
    name="cimkit",
    help="Co-design neural networks with compute-in-memory hardware.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn :class:`CimkitError` into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CimkitError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True, highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _load_workload(
    network: str | None,
    onnx: Path | None,
    torch_factory: str | None,
    weight_bits: int,
    act_bits: int,
    histograms: bool,
) -> Any:
    from cimkit.errors import WorkloadError

    given = [x for x in (network, onnx, torch_factory) if x]
    if len(given) != 1:
        raise WorkloadError(
            "give exactly one of --network NAME, --onnx FILE, --torch MODULE:FACTORY"
        )
    if network:
        from cimkit.workload.builtin import get_network

        return get_network(network, weight_bits=weight_bits, act_bits=act_bits)
    if onnx:
        from cimkit.workload.onnx_import import from_onnx

        if not onnx.is_file():
            raise WorkloadError(f"{onnx}: file not found")
        return from_onnx(onnx, weight_bits=weight_bits, act_bits=act_bits)
    from cimkit.workload.torch_import import collect_histograms, from_torch, load_torch_factory

    assert torch_factory is not None
    model, example = load_torch_factory(torch_factory)
    wl = from_torch(model, example, weight_bits=weight_bits, act_bits=act_bits)
    if histograms:
        wl = wl.with_histograms(collect_histograms(model, example, wl))
    return wl


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, "")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


@app.command()
@user_errors
def evaluate(
    hw: Annotated[Path, typer.Option("--hw", help="Chip spec YAML.")],
    network: Annotated[
        str | None, typer.Option("--network", help="Built-in network (see `cimkit networks`).")
    ] = None,
    onnx: Annotated[Path | None, typer.Option("--onnx", help="ONNX model file.")] = None,
    torch_factory: Annotated[
        str | None,
        typer.Option(
            "--torch", help="PyTorch factory 'package.module:function' returning a model."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for designs/layers/components CSV.")
    ] = None,
    weight_bits: Annotated[int, typer.Option(min=1, max=16, help="Weight bits, all layers.")] = 8,
    act_bits: Annotated[int, typer.Option(min=1, max=16, help="Activation bits, all layers.")] = 8,
    histograms: Annotated[
        bool,
        typer.Option(help="With --torch: measure per-layer value histograms on a real input."),
    ] = True,
) -> None:
    """Energy, latency and area of one chip running one network."""
    from cimkit.cost import evaluate as run
    from cimkit.specs import load_chip

    spec = load_chip(hw)
    wl = _load_workload(network, onnx, torch_factory, weight_bits, act_bits, histograms)
    ev = run(spec, wl, breakdown=True)
    m = {k: float(v[0]) for k, v in ev.metrics.items()}
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
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tables = {
            "designs": ev.to_frame(),
            "layers": ev.layers_frame(),
            "components": ev.components_frame(),
            "workload": wl.to_frame(),
        }
        for stem, frame in tables.items():
            frame.to_csv(out / f"{stem}.csv", index=False)
            frame.to_parquet(out / f"{stem}.parquet", index=False)
        console.print(f"wrote {', '.join(tables)} as CSV and Parquet to {out}")
    if not ev.feasible[0]:
        raise typer.Exit(code=1)


@app.command()
@user_errors
def networks() -> None:
    """List the built-in networks."""
    from cimkit.workload.builtin import list_networks

    table = Table(title="built-in networks")
    for col in ("name", "description", "GMACs", "M weights"):
        table.add_column(col, justify="right" if col[0].isupper() and col != "name" else "left")
    for name, desc, macs, weights in list_networks():
        table.add_row(name, desc, f"{macs / 1e9:.3f}", f"{weights / 1e6:.2f}")
    console.print(table)


@app.command()
@user_errors
def validate(
    out: Annotated[Path | None, typer.Option(help="Also write the table as CSV here.")] = None,
) -> None:
    """Compare the cost model with published silicon macros (reported vs predicted)."""
    from cimkit.validation import macro_presets, validation_table

    frame = validation_table()
    table = Table(title="cimkit vs published CIM macros (peak, macro level)")
    for col in ("macro", "kind", "node", "precision", "metric", "reported", "cimkit", "error"):
        table.add_column(col, justify="left" if col in ("macro", "kind", "metric") else "right")
    for r in frame.itertuples():
        if r.reported is None or r.reported != r.reported:
            continue
        table.add_row(
            r.macro,
            r.kind,
            f"{r.node_nm} nm",
            r.precision,
            r.metric,
            f"{r.reported:.4g}",
            f"{r.predicted:.4g}",
            f"{r.error:+.1%}",
        )
    console.print(table)
    for p in macro_presets():
        console.print(f"[dim]{p.id}: {p.citation}[/]", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)


@app.command()
@user_errors
def spec(
    check: Annotated[
        Path | None, typer.Argument(help="A chip YAML to validate; omit to print the default.")
    ] = None,
) -> None:
    """Print the default chip spec as YAML, or validate a chip YAML file."""
    from cimkit.specs import ChipSpec, dump_yaml, load_chip

    if check is None:
        sys.stdout.write(dump_yaml(ChipSpec()))
        return
    chip = load_chip(check)
    console.print(f"{check}: valid chip spec '{chip.name}' with {chip.macros_total:,} macros")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
