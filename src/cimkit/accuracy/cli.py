"""CLI commands of the accuracy side (registered on cimkit's main typer app).

Register in src/cimkit/cli.py::

    from cimkit.accuracy.cli import histograms, predict, train_app

    app.add_typer(train_app, name="train")
    app.command()(predict)
    app.command()(histograms)

Every callback is already wrapped by :func:`cimkit.cli_errors.user_errors` (the one error path of
all commands; wrapping again is a no-op).

Commands: ``cimkit train supernet``, ``cimkit train predictor``, ``cimkit train h4h``,
``cimkit predict``,
``cimkit histograms``. Torch is imported only inside the commands that need it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cimkit.cli_errors import (
    check_number,
    prepare_out_dir,
    prepare_out_file,
    short_text,
    user_errors,
)
from cimkit.cli_output import JSON_OPTION, QUIET_OPTION
from cimkit.errors import CimkitError, SpecError, short_repr

train_app = typer.Typer(
    help="Train the supernet and the accuracy predictors.", no_args_is_help=True
)

#: Seeds: numpy's legacy and torch's generators both take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
#: Most validation images `histograms` measures on: more than any shipped split holds
#: (Fashion-MNIST keeps 5,000 for validation), and 50,000 28x28 images are ~150 MB of float32.
MAX_IMAGES = 50_000
#: Most random genomes `predict` scores in one call (all are encoded in memory at once).
MAX_RANDOM = 1_000_000
#: Most training steps per stage: the shipped run uses 120 + 30; more is a typo.
MAX_STEPS = 1_000_000


def _seed(value: int, flag: str = "--seed") -> int:
    return int(check_number(value, flag, 0, MAX_SEED, why="the range of numpy's seeds"))


def _dataset(name: str, flag: str = "--data") -> str:
    from cimkit.accuracy.data import DATASETS

    if name not in DATASETS:
        raise SpecError(
            f"{flag} {short_repr(name)}: unknown data set; allowed: {', '.join(DATASETS)}"
        )
    return name


@train_app.command("supernet")
@user_errors
def train_supernet(
    out: Annotated[Path, typer.Option(help="run folder (checkpoints, logs, results)")] = Path(
        "runs/accuracy"
    ),
    data: Annotated[str, typer.Option(help="fashion-mnist | digits | synthetic")] = "fashion-mnist",
    epochs_fp: Annotated[
        float, typer.Option(help="FP supernet epochs of 55k images (0 .. 1,000)")
    ] = 8.0,
    epochs_q: Annotated[float, typer.Option(help="QAT epochs (0 .. 1,000)")] = 1.0,
    steps_fp: Annotated[
        int | None, typer.Option(help="sandwich steps, FP (0 .. 1,000,000; overrides epochs)")
    ] = None,
    steps_q: Annotated[
        int | None, typer.Option(help="QAT steps (0 .. 1,000,000; overrides --epochs-q)")
    ] = None,
    width: Annotated[
        float, typer.Option(help="channel multiplier, (0, 4]; 1.0 = the ImageNet MobileNetV2")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed, 0 .. 2**32-1")] = 0,
    ship: Annotated[bool, typer.Option(help="copy results to src/cimkit/data/accuracy")] = False,
) -> None:
    """Train the elastic supernet (FP sandwich rule, then QAT); resumable, then the remaining
    pipeline stages (measurements, baseline, predictors). See tools/train_accuracy.sh."""
    from cimkit.accuracy.pipeline import main

    _dataset(data)
    for flag, steps in (("--steps-fp", steps_fp), ("--steps-q", steps_q)):
        if steps is not None:
            check_number(steps, flag, 0, MAX_STEPS, why="a step is seconds on CPU")
    for flag, epochs in (("--epochs-fp", epochs_fp), ("--epochs-q", epochs_q)):
        check_number(epochs, flag, 0, 1000, why="an epoch is minutes to hours on CPU")
    check_number(
        width, "--width", 0.0, 4.0, low_open=True, why="a channel multiplier; 4 is 16x the compute"
    )
    _seed(seed)
    out = prepare_out_dir(out)
    argv = ["--out", str(out), "--data", data, "--epochs-fp", str(epochs_fp)]
    argv += ["--epochs-q", str(epochs_q), "--width", str(width), "--seed", str(seed)]
    for flag, steps in (("--steps-fp", steps_fp), ("--steps-q", steps_q)):
        if steps is not None:
            argv += [flag, str(steps)]
    raise typer.Exit(main(argv + (["--ship"] if ship else [])))


@train_app.command("predictor")
@user_errors
def train_predictor(
    run: Annotated[Path, typer.Option(help="run folder with measure_fp/q.jsonl")] = Path(
        "runs/accuracy"
    ),
    seed: Annotated[int, typer.Option(help="random seed, 0 .. 2**32-1")] = 0,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Fit the FP and quantized predictors on measured subnets; print held-out RMSE / tau.

    The fit's log lines go to stdout (stderr with --json, nowhere with --quiet), then its
    results as JSON; --json prints only that JSON document on stdout.
    """
    from cimkit.accuracy.predictor import fit_predictors
    from cimkit.cli_output import emit_json, set_mode

    set_mode(json_output, quiet)
    _seed(seed)
    if run.exists() and not run.is_dir():
        raise CimkitError(f"--run {short_text(str(run))}: is a file; give the run folder")
    for name in ("measure_fp.jsonl", "measure_q.jsonl"):
        if not (run / name).is_file():
            raise CimkitError(f"{run / name} missing: run `cimkit train supernet --out {run}`")
    prepare_out_dir(run, "--run")  # the predictors are written into the run folder

    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=json_output)

    res = fit_predictors(run, seed=seed, log=log)
    if json_output:
        emit_json(res)
    else:
        typer.echo(json.dumps(res, indent=2))


@train_app.command("h4h")
@user_errors
def train_h4h(
    recipe: Annotated[
        str, typer.Option(help="vanilla | cnn_only | tpi_freeze | tpi_unfreeze")
    ] = "vanilla",
    out: Annotated[Path, typer.Option(help="folder of all H4H runs (one sub-folder each)")] = Path(
        "runs/h4h"
    ),
    seed: Annotated[int, typer.Option(help="random seed, 0 .. 2**32-1")] = 0,
    steps: Annotated[
        int | None,
        typer.Option(help="sandwich steps (1 .. 1,000,000; default 2000, phase 2: 1000)"),
    ] = None,
    until: Annotated[
        int | None, typer.Option(help="stop at this step (resume later with the same command)")
    ] = None,
    data: Annotated[str, typer.Option(help="fashion-mnist | digits | synthetic")] = "fashion-mnist",
    batch_size: Annotated[int, typer.Option(help="images per step, 1 .. 4096")] = 128,
    keep: Annotated[
        Path | None,
        typer.Option(
            help="folder to commit (e.g. checkpoints/h4h): compact checkpoint, final "
            "weights, result"
        ),
    ] = None,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Train one H4H-NAS hybrid-supernet recipe (resumable), then measure its min_net and
    max_net on the test images (docs/h4h-network.md). Phase-2 recipes (tpi_*) start from the
    cnn_only run of the same seed.

    --json prints the run's result (recipe, seed, steps, min_net, max_net, wall_s, ...).
    """
    from cimkit.accuracy import h4h_train
    from cimkit.cli_output import emit_json, set_mode

    set_mode(json_output, quiet)
    if recipe not in h4h_train.RECIPES:
        raise SpecError(
            f"--recipe {short_repr(recipe)}: unknown; allowed: {', '.join(h4h_train.RECIPES)}"
        )
    _dataset(data)
    _seed(seed)
    if steps is None:
        steps = 1000 if recipe in h4h_train.PHASE2 else 2000
    check_number(steps, "--steps", 1, MAX_STEPS, why="a step is about a second on CPU")
    if until is not None:
        check_number(until, "--until", 1, MAX_STEPS, why="a step of the schedule")
    check_number(batch_size, "--batch-size", 1, 4096, why="images in memory per step")
    out = prepare_out_dir(out)
    if keep is not None:
        keep = prepare_out_dir(keep, "--keep")

    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    res = h4h_train.run(recipe, out, seed, steps, data, batch_size, until, log=log, keep=keep)
    if json_output:
        emit_json(res)
    elif not quiet:
        typer.echo(json.dumps(res, indent=1))


# One reader of --genome for every command (cimkit.runs.genome): JSON text or a .json file,
# including the genome.json of `cimkit export`.
from cimkit.runs.genome import GENOME_HELP, genome_text  # noqa: E402

_genome_text = genome_text  # kept for callers of the old name


def _read_genomes(genome: str | None, random: int, bits: int | None, seed: int) -> list:
    from cimkit.accuracy.encoding import BITS, N_SLOTS, Genome, random_genomes

    if bits is not None and bits not in BITS:
        raise CimkitError(f"--bits {bits}: allowed: {', '.join(map(str, BITS))}")
    if genome is None and random <= 0:
        raise CimkitError("give --genome (JSON or a .json file) or --random N")
    if genome is not None:
        from cimkit.runs.genome import FORMAT, genome_json

        raw = genome_json(genome)
        records = raw if isinstance(raw, list) else [raw]
        if not records:
            raise CimkitError(f"--genome: an empty list; {GENOME_HELP}")
        bad = next((r for r in records if not isinstance(r, dict)), None)
        if bad is not None:
            raise CimkitError(
                f"--genome: {short_repr(bad)} is a JSON {type(bad).__name__}; {GENOME_HELP}"
            )
        other = next(
            (
                r
                for r in records
                if r.get("format") == FORMAT and r.get("family") != "ofa_mobilenetv2"
            ),
            None,
        )
        if other is not None:
            raise CimkitError(
                f"--genome: a {short_repr(other.get('family'))} genome; the accuracy predictor "
                "and supernet know ofa_mobilenetv2 only"
            )
        gs = [Genome.from_dict(r) for r in records]
    else:
        gs = random_genomes(random, seed=seed, quantized=bits is None)
    if bits is not None:
        gs = [Genome(g.depths, g.kernels, g.expands, ((bits,) * 4,) * N_SLOTS) for g in gs]
    return gs


@user_errors
def predict(
    genome: Annotated[
        str | None,
        typer.Option(
            help='JSON genome(s) or a .json file: {"depths": [5], "kernels": [20] or '
            'int, "expands": [20] or int, "bits": null | int | [[dw_w,dw_a,pw_w,pw_a]]*20}'
        ),
    ] = None,
    random: Annotated[
        int, typer.Option(help="score N random genomes instead (0 .. 1,000,000)")
    ] = 0,
    bits: Annotated[int | None, typer.Option(help="override: every gene at 4, 6 or 8 bits")] = None,
    fp: Annotated[bool, typer.Option("--fp", help="with --random: full-precision genomes")] = False,
    seed: Annotated[int, typer.Option(help="seed of --random, 0 .. 2**32-1")] = 0,
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Predicted top-1 accuracy (Fashion-MNIST validation) of genomes, from the shipped MLPs.

    Prints one JSON line per genome, {"accuracy": fraction 0..1, depths, kernels, expands,
    bits}, and the predictors' timing on stderr (not with --quiet). --json prints one JSON
    document instead: a list of {accuracy_pct (0..100), predictor ("fp" or "q"), depths,
    kernels, expands, bits}, in the order of the genomes given.
    """
    from cimkit.accuracy import encoding as enc
    from cimkit.accuracy.predictor import predict_accuracy
    from cimkit.cli_output import emit_json, set_mode

    set_mode(json_output, quiet)
    check_number(random, "--random", 0, MAX_RANDOM, why="all are encoded in memory at once")
    _seed(seed)
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
        if not quiet:
            typer.echo(
                f"# {'quantized' if quant else 'full-precision'} predictor: {len(part)} "
                f"genome(s) in {dt * 1e6:.0f} us (incl. encoding)",
                err=True,
            )
    if json_output:
        order = {id(g): i for i, g in enumerate(gs)}  # FP genomes are scored first, above
        out.sort(key=lambda ga: order[id(ga[0])])
        emit_json(
            [
                {
                    "accuracy_pct": round(100 * a, 3),
                    "predictor": "fp" if g.bits is None else "q",
                    **g.to_dict(),
                }
                for g, a in out
            ]
        )
        return
    for g, a in out:
        typer.echo(json.dumps({"accuracy": round(a, 5), **g.to_dict()}))


@user_errors
def histograms(
    genome: Annotated[str, typer.Option(help="JSON genome or .json file (see predict)")],
    out: Annotated[Path, typer.Option(help=".npz: <layer>/inputs and <layer>/weights arrays")],
    images: Annotated[
        int, typer.Option(help="validation images to measure on (1 .. 50,000)")
    ] = 256,
    data: Annotated[str, typer.Option(help="fashion-mnist | digits | synthetic")] = (
        "fashion-mnist"
    ),
    json_output: Annotated[bool, JSON_OPTION] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """Per-layer histograms of quantized inputs/weights of a subnet on real validation images
    (the shipped QAT supernet; energy-model format, layer names as `cimkit networks`).

    --json prints {out, images, data, layers}: layers maps each layer name to {inputs,
    weights}, the probability masses of the .npz's <layer>/inputs and <layer>/weights arrays
    (equal-width bins over normalized values in [-1, 1]).
    """
    from cimkit.accuracy import data as data_mod
    from cimkit.accuracy.histograms import load_supernet, subnet_histograms
    from cimkit.cli_output import emit_json, set_mode

    set_mode(json_output, quiet)
    check_number(images, "--images", 1, MAX_IMAGES, why="more than any validation split holds")
    _dataset(data)
    out = prepare_out_file(out, "--out", (".npz",))  # numpy would append .npz to any other name
    gs = _read_genomes(genome, 0, None, 0)
    if len(gs) != 1:
        raise CimkitError(f"--genome: {len(gs)} genomes; histograms measures one subnet at a time")
    g = gs[0]
    splits = data_mod.load(data)
    if images > len(splits.x_val):
        raise CimkitError(
            f"--images {images:,}: the {data} validation split has {len(splits.x_val):,} images"
        )
    net = load_supernet(quantized=g.bits is not None)
    hist = subnet_histograms(net, g, splits.x_val[:images], splits.x_train[:512])
    arrays = {}
    for name, h in hist.items():
        arrays[f"{name}/inputs"] = h.inputs
        arrays[f"{name}/weights"] = h.weights
    import numpy as np  # here, not at the top: `cimkit --help` does not load numpy

    np.savez_compressed(out, **arrays)
    if json_output:  # the .npz's arrays, by layer
        layers = {name: {"inputs": h.inputs, "weights": h.weights} for name, h in hist.items()}
        emit_json({"out": str(out), "images": images, "data": data, "layers": layers})
        return
    typer.echo(f"{len(hist)} layers -> {out}")
