"""CLI commands of the accuracy side (registered on cimkit's main typer app).

Register in src/cimkit/cli.py::

    from cimkit.accuracy.cli import histograms, predict, train_app

    app.add_typer(train_app, name="train")
    app.command()(user_errors(predict))
    app.command()(user_errors(histograms))

Commands: ``cimkit train supernet``, ``cimkit train predictor``, ``cimkit predict``,
``cimkit histograms``. Torch is imported only inside the commands that need it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from cimkit.errors import CimkitError

train_app = typer.Typer(
    help="Train the supernet and the accuracy predictors.", no_args_is_help=True
)


def _errors(fn):  # same contract as cimkit.cli.user_errors, without importing cimkit.cli
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CimkitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


@train_app.command("supernet")
@_errors
def train_supernet(
    out: Annotated[Path, typer.Option(help="run folder (checkpoints, logs, results)")] = Path(
        "runs/accuracy"
    ),
    data: Annotated[str, typer.Option(help="fashion-mnist | digits | synthetic")] = "fashion-mnist",
    steps_fp: Annotated[int, typer.Option(help="sandwich steps, full precision")] = 120,
    steps_q: Annotated[int, typer.Option(help="QAT steps with random policies")] = 30,
    width: float = 1.0,
    seed: int = 0,
    ship: Annotated[bool, typer.Option(help="copy results to src/cimkit/data/accuracy")] = False,
) -> None:
    """Train the elastic supernet (FP sandwich rule, then QAT); resumable, then the remaining
    pipeline stages (measurements, baseline, predictors). See tools/train_accuracy.sh."""
    from cimkit.accuracy.pipeline import main

    argv = ["--out", str(out), "--data", data, "--steps-fp", str(steps_fp)]
    argv += ["--steps-q", str(steps_q), "--width", str(width), "--seed", str(seed)]
    raise typer.Exit(main(argv + (["--ship"] if ship else [])))


@train_app.command("predictor")
@_errors
def train_predictor(
    run: Annotated[Path, typer.Option(help="run folder with measure_fp/q.jsonl")] = Path(
        "runs/accuracy"
    ),
    seed: int = 0,
) -> None:
    """Fit the FP and quantized predictors on measured subnets; print held-out RMSE / tau."""
    from cimkit.accuracy.predictor import fit_predictors

    for name in ("measure_fp.jsonl", "measure_q.jsonl"):
        if not (run / name).is_file():
            raise CimkitError(f"{run / name} missing: run `cimkit train supernet --out {run}`")
    res = fit_predictors(run, seed=seed, log=lambda m: typer.echo(m))
    typer.echo(json.dumps(res, indent=2))


def _read_genomes(genome: str | None, random: int, bits: int | None, seed: int) -> list:
    from cimkit.accuracy.encoding import N_SLOTS, Genome, random_genomes

    if genome is None and random <= 0:
        raise CimkitError("give --genome (JSON or a .json file) or --random N")
    if genome is not None:
        text = Path(genome).read_text() if genome.endswith(".json") else genome
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CimkitError(f"--genome: not JSON ({exc.msg})") from None
        gs = [Genome.from_dict(r) for r in (raw if isinstance(raw, list) else [raw])]
    else:
        gs = random_genomes(random, seed=seed, quantized=bits is None)
    if bits is not None:
        gs = [Genome(g.depths, g.kernels, g.expands, ((bits,) * 4,) * N_SLOTS) for g in gs]
    return gs


@_errors
def predict(
    genome: Annotated[
        str | None,
        typer.Option(
            help='JSON genome(s) or a .json file: {"depths": [5], "kernels": [20] or '
            'int, "expands": [20] or int, "bits": null | int | [[dw_w,dw_a,pw_w,pw_a]]*20}'
        ),
    ] = None,
    random: Annotated[int, typer.Option(help="score N random genomes instead")] = 0,
    bits: Annotated[int | None, typer.Option(help="override: every gene at 4, 6 or 8 bits")] = None,
    fp: Annotated[bool, typer.Option("--fp", help="with --random: full-precision genomes")] = False,
    seed: int = 0,
) -> None:
    """Predicted top-1 accuracy (Fashion-MNIST validation) of genomes, from the shipped MLPs."""
    from cimkit.accuracy import encoding as enc
    from cimkit.accuracy.predictor import predict_accuracy

    gs = _read_genomes(genome, random, bits, seed)
    if fp:
        gs = [enc.Genome(g.depths, g.kernels, g.expands, None) for g in gs]
    out = []
    for quant in (False, True):
        part = [g for g in gs if (g.bits is not None) == quant]
        if not part:
            continue
        d, k, e, b = enc.stack(part)
        t = time.perf_counter()
        acc = predict_accuracy(d, k, e, b)
        dt = time.perf_counter() - t
        out += [(g, float(a)) for g, a in zip(part, acc, strict=True)]
        typer.echo(
            f"# {'quantized' if quant else 'full-precision'} predictor: {len(part)} genome(s) "
            f"in {dt * 1e6:.0f} us (incl. encoding)",
            err=True,
        )
    for g, a in out:
        typer.echo(json.dumps({"accuracy": round(a, 5), **g.to_dict()}))


@_errors
def histograms(
    genome: Annotated[str, typer.Option(help="JSON genome or .json file (see predict)")],
    out: Annotated[Path, typer.Option(help=".npz: <layer>/inputs and <layer>/weights arrays")],
    images: Annotated[int, typer.Option(help="validation images to measure on")] = 256,
    data: str = "fashion-mnist",
) -> None:
    """Per-layer histograms of quantized inputs/weights of a subnet on real validation images
    (the shipped QAT supernet; energy-model format, layer names as `cimkit networks`)."""
    from cimkit.accuracy import data as data_mod
    from cimkit.accuracy.histograms import load_supernet, subnet_histograms

    g = _read_genomes(genome, 0, None, 0)[0]
    splits = data_mod.load(data)
    net = load_supernet(quantized=g.bits is not None)
    hist = subnet_histograms(net, g, splits.x_val[:images], splits.x_train[:512])
    arrays = {}
    for name, h in hist.items():
        arrays[f"{name}/inputs"] = h.inputs
        arrays[f"{name}/weights"] = h.weights
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    typer.echo(f"{len(hist)} layers -> {out}")
