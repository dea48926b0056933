"""Supernet training (sandwich rule), quantization-aware fine-tuning, BN recalibration, measuring.

Sandwich rule (BigNAS / OFA "largest + smallest + random"): every step runs the largest subnet,
the smallest and two random ones on the same batch, each loss divided by 4, gradients summed
(= averaged) before one AdamW step. The largest learns from the labels; the others from the labels
and, with weight ``distill``, from the largest's detached soft predictions (in-place distillation).

Quantization-aware fine-tuning (:func:`train_supernet` with ``quantized=True``): the same loop
where every sampled subnet also gets a uniformly random policy from S_Q (weights and inputs of
every block at 4/6/8 bits, fixed layers at 8), so one shared set of weights is fine-tuned for all
policies at once (deviation from the paper's per-subnet 1-epoch QAT: see docs/accuracy.md).

Before a subnet is evaluated its BatchNorm statistics and activation clips are re-estimated on
training images (:func:`recalibrate`): the shared statistics belong to no subnet in particular.

Everything is seeded: the same arguments and seed give the same weights and numbers (on the same
machine and thread count).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cimkit.accuracy.encoding import Genome, random_arrays
from cimkit.accuracy.supernet import Supernet, SupernetConfig

Log = Callable[[str], None]


def _print(msg: str) -> None:
    print(msg, flush=True)


def device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels and horizontal flip, (B, C, H, W) -> same."""
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=float(x.min()))
    dx = torch.randint(0, 2 * pad + 1, (1,), generator=gen).item()
    dy = torch.randint(0, 2 * pad + 1, (1,), generator=gen).item()
    out = xp[:, :, dy : dy + h, dx : dx + w]
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def _genome_from_rng(rng: np.random.Generator, quantized: bool) -> Genome:
    d, k, e, b = random_arrays(1, rng, quantized)
    bits = None if b is None else tuple(tuple(r) for r in b[0].tolist())
    return Genome(tuple(d[0].tolist()), tuple(k[0].tolist()), tuple(e[0].tolist()), bits)


def _random_policy(rng: np.random.Generator) -> tuple[tuple[int, int, int, int], ...]:
    b = rng.choice((4, 6, 8), size=(20, 4))
    return tuple(tuple(r) for r in b.tolist())


@dataclass
class TrainArgs:
    """Hyperparameters of one supernet training phase (stored in checkpoints/manifests)."""

    steps: int = 200
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 10
    distill: float = 0.5
    quantized: bool = False
    seed: int = 0
    ckpt_every: int = 20
    label_smoothing: float = 0.1


def _lr_at(step: int, args: TrainArgs) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 0.5 * args.lr * (1 + math.cos(math.pi * min(t, 1.0)))


def _sandwich(rng: np.random.Generator, quantized: bool) -> list[Genome]:
    """Largest, smallest and two random subnets (with random policies when quantized)."""
    gs = [Genome.largest(), Genome.smallest(), _genome_from_rng(rng, False)]
    gs.append(_genome_from_rng(rng, False))
    if not quantized:
        return gs
    return [Genome(g.depths, g.kernels, g.expands, _random_policy(rng)) for g in gs]


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """A training checkpoint written by :func:`train_supernet`, read with ``weights_only=True``.

    Only tensors and plain Python values are accepted, so a replaced file cannot run code.

    Raises:
        CimkitError: the file is not such a checkpoint (one line naming the file).
    """
    import pickle

    from cimkit.errors import CimkitError

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CimkitError(
            f"{path}: not a cimkit training checkpoint (tensors and plain values only; {first}); "
            "delete it to train from the start"
        ) from None
    keys = ("model", "opt", "step", "np_rng", "torch_gen", "torch_rng")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise CimkitError(
            f"{path}: not a cimkit training checkpoint (needs keys {list(keys)}); delete it to "
            "train from the start"
        )
    return state


def train_supernet(
    net: Supernet,
    x_train: np.ndarray,
    y_train: np.ndarray,
    args: TrainArgs,
    ckpt: Path | None = None,
    log: Log = _print,
    sample: Callable[[np.random.Generator], list[Genome]] | None = None,
) -> dict:
    """Sandwich-rule training of ``net`` in place; resumes from ``ckpt`` when it exists.

    Args:
        net: the supernet (its current weights are the starting point).
        x_train: (N, C, H, W) float32 normalized images; y_train: (N,) int64 labels.
        args: hyperparameters.
        ckpt: checkpoint written every ``args.ckpt_every`` steps and at the end (model,
            optimizer, step, RNG states: tensors and plain values, loaded with
            ``weights_only=True``); training resumes from it.
        log: progress sink (one line per checkpoint interval).
        sample: genomes per step (default: the sandwich rule); the standalone baseline passes a
            function returning only the largest subnet.

    Returns:
        Summary: steps, wall seconds of this call, last loss, images seen.
    """
    dev = device()
    net.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    step, elapsed_before = 0, 0.0
    if ckpt is not None and ckpt.is_file():
        state = load_checkpoint(ckpt, dev)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before = state["step"], state.get("elapsed", 0.0)
        rng.bit_generator.state = state["np_rng"]
        gen.set_state(state["torch_gen"])
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {ckpt} at step {step}/{args.steps}")
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    n = len(yt)
    sample = sample or (lambda r: _sandwich(r, args.quantized))
    t0 = time.time()
    loss_avg = float("nan")

    def save() -> None:
        if ckpt is None:
            return
        tmp = ckpt.with_suffix(".tmp")
        # Tensors and plain values only (dicts, lists, ints incl. the PCG64 128-bit state,
        # floats, str): what torch.load(weights_only=True) accepts, so loading runs no code.
        torch.save(
            {
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "elapsed": elapsed_before + time.time() - t0,
                "np_rng": rng.bit_generator.state,
                "torch_gen": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "config": net.config.to_dict(),
            },
            tmp,
        )
        tmp.replace(ckpt)

    net.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, args)
        idx = torch.from_numpy(rng.integers(0, n, size=args.batch_size))
        x = augment(xt[idx], gen).to(dev)
        y = yt[idx].to(dev)
        genomes = sample(rng)
        opt.zero_grad(set_to_none=True)
        teacher = None
        total = 0.0
        for i, g in enumerate(genomes):
            net.set_active(g)
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            if teacher is not None and args.distill > 0:
                kd = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
                loss = (1 - args.distill) * loss + args.distill * kd
            if i == 0 and len(genomes) > 1:
                teacher = F.softmax(logits.detach(), 1)
            (loss / len(genomes)).backward()
            total += float(loss.detach())
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        step += 1
        loss_avg = (
            total / len(genomes)
            if math.isnan(loss_avg)
            else 0.9 * loss_avg + 0.1 * (total / len(genomes))
        )
        if step % args.ckpt_every == 0 or step == args.steps:
            save()
            el = elapsed_before + time.time() - t0
            log(
                f"step {step}/{args.steps} loss {loss_avg:.3f} lr {_lr_at(step - 1, args):.2e} "
                f"{el:.0f}s elapsed, eta {el / step * (args.steps - step):.0f}s"
            )
    net.set_active(Genome.largest())
    return {
        "steps": step,
        "wall_s": round(elapsed_before + time.time() - t0, 1),
        "loss": round(loss_avg, 4),
        "images": step * args.batch_size,
    }


@torch.no_grad()
def recalibrate(net: Supernet, genome: Genome, x_calib: np.ndarray, batch_size: int = 256) -> None:
    """Select ``genome`` and re-estimate BN statistics and activation clips on ``x_calib``.

    Statistics are cumulative averages over the calibration batches (no augmentation, no
    dropout or stochastic depth). Afterwards ``net`` is in eval mode.
    """
    dev = next(net.parameters()).device
    net.set_active(genome)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    acts = net.act_quantizers()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    for q in acts:
        q.reset()
        q.momentum = None
    drop = net.config
    net.train()
    saved = [(b, b.drop_connect) for b in net.blocks]
    for b in net.blocks:
        b.drop_connect = 0.0
    dropout = drop.dropout
    object.__setattr__(net.config, "dropout", 0.0)
    try:
        for i in range(0, len(x_calib), batch_size):
            net(torch.from_numpy(x_calib[i : i + batch_size]).to(dev))
    finally:
        object.__setattr__(net.config, "dropout", dropout)
        for b, r in saved:
            b.drop_connect = r
        for m in bns:
            m.momentum = 0.1
        for q in acts:
            q.momentum = 0.1
    net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Top-1 accuracy (fraction) of ``net`` (eval mode) on images x (N,C,H,W), labels y (N,)."""
    dev = next(net.parameters()).device
    net.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        logits = net(torch.from_numpy(x[i : i + batch_size]).to(dev))
        correct += int((logits.argmax(1).cpu().numpy() == y[i : i + batch_size]).sum())
    return correct / len(y)


def measure(
    net: Supernet,
    genome: Genome,
    x_calib: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
) -> float:
    """Accuracy of one subnet + policy after recalibration (the predictors' training label)."""
    recalibrate(net, genome, x_calib)
    return accuracy(net, x_eval, y_eval)


def measure_many(
    net: Supernet,
    genomes: list[Genome],
    x_calib: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    out: Path,
    log: Log = _print,
) -> list[dict]:
    """Measure genomes in order, appending one JSON line each to ``out`` (resumes: lines already
    in ``out`` are kept and their genomes skipped). Returns all records."""
    done: list[dict] = []
    if out.is_file():
        done = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    t0 = time.time()
    with out.open("a") as f:
        for i, g in enumerate(genomes):
            if i < len(done):
                continue
            t = time.time()
            acc = measure(net, g, x_calib, x_eval, y_eval)
            rec = {"genome": g.to_dict(), "acc": acc, "seconds": round(time.time() - t, 2)}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            done.append(rec)
            if (i + 1) % 10 == 0 or i + 1 == len(genomes):
                log(f"{out.name}: {i + 1}/{len(genomes)} acc {acc:.4f} ({time.time() - t0:.0f}s)")
    return done


def new_supernet(config: SupernetConfig, imagenet_init: bool, log: Log = _print) -> Supernet:
    """A seeded supernet, optionally with the largest subnet from ImageNet MobileNetV2."""
    net = Supernet(config)
    if imagenet_init:
        from cimkit.accuracy.supernet import load_imagenet_mobilenetv2

        info = load_imagenet_mobilenetv2(net)
        log(f"initialized from {info.source}: {info.copied} tensors, new slots {info.new_blocks}")
    return net
