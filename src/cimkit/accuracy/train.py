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

Everything is seeded, and every random choice of a step (its batch, augmentation, subnets,
dropout) is drawn from generators seeded by ``(seed, step)``: the same arguments give the same
weights on the same machine and thread count, and a run resumed from a checkpoint at any step
continues exactly as the uninterrupted run would (model, optimizer and step restore everything;
the data order is a seeded permutation per epoch, a function of the step).

Checkpoints (:func:`train_supernet`): an *exact* one (float32 model and optimizer, bit-exact
resume) and optionally a *compact* one small enough to commit to git (float16 model, bfloat16
optimizer moments: about 18 MB for the width-1.0 supernet), both written atomically
(temporary file + rename) every ``ckpt_every`` steps and every ``ckpt_minutes`` of wall time.
Resuming takes whichever holds more steps; resuming from the compact one is exact up to the
rounding of its weights (relative 5e-4), which training absorbs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    """Hyperparameters of one supernet training phase (stored in checkpoints/manifests).

    Attributes:
        steps: optimizer steps in total (the cosine schedule spans them).
        batch_size: images per step (every sampled subnet sees the same batch).
        lr: peak AdamW learning rate (after ``warmup`` linear steps; cosine to 0 at ``steps``).
        weight_decay: AdamW decoupled weight decay.
        warmup: linear warm-up steps.
        distill: weight of in-place distillation for the non-largest subnets (0 = labels only).
        quantized: sample a random S_Q policy for every subnet (QAT phase).
        seed: seed of data order, augmentation, subnets and dropout.
        ckpt_every: checkpoint every this many steps (and at the end).
        label_smoothing: label smoothing of the cross-entropy.
        ckpt_minutes: also checkpoint when this many wall minutes passed since the last one
            (0 = off); what keeps a run killed at a session's hard stop cheap to continue.
        n_random: random subnets per step besides the largest and the smallest (sandwich rule).
        channels_last: NHWC memory layout (25-40 % faster on CPU, measured; same numbers up to
            float rounding).
        eval_every: steps between progress evaluations (``evaluate`` callback; 0 = off).
    """

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
    ckpt_minutes: float = 0.0
    n_random: int = 2
    channels_last: bool = True
    eval_every: int = 0


# Fields that may differ between a checkpoint and the run resuming it (bookkeeping only).
_RESUME_FREE = ("ckpt_every", "ckpt_minutes", "eval_every", "channels_last")


def _lr_at(step: int, args: TrainArgs) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 0.5 * args.lr * (1 + math.cos(math.pi * min(t, 1.0)))


def _sandwich(rng: np.random.Generator, quantized: bool, n_random: int = 2) -> list[Genome]:
    """Largest, smallest and ``n_random`` random subnets (random policies when quantized)."""
    gs = [Genome.largest(), Genome.smallest()]
    gs += [_genome_from_rng(rng, False) for _ in range(n_random)]
    if not quantized:
        return gs
    return [Genome(g.depths, g.kernels, g.expands, _random_policy(rng)) for g in gs]


def sandwich_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    teacher: torch.Tensor | None,
    distill: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Loss of one sampled subnet: label loss, mixed with in-place distillation for students.

    ``(1 - distill) * CE(logits, y) + distill * KL(teacher || softmax(logits))`` where
    ``teacher`` (B, C) are the largest subnet's detached probabilities on the same batch;
    plain (label-smoothed) cross-entropy when ``teacher`` is None (the largest itself) or
    ``distill`` is 0. logits: (B, C); y: (B,) int64. Returns a scalar (mean over the batch).
    """
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if teacher is None or distill <= 0:
        return loss
    kd = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
    return (1 - distill) * loss + distill * kd


def _step_generators(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """Generators of one step, seeded by (seed, step); also seeds torch's global RNG (dropout,
    stochastic depth). A resumed run draws exactly what the uninterrupted one drew."""
    rng = np.random.default_rng([seed, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    torch.manual_seed(int(rng.integers(2**62)))
    return rng, gen


class _EpochOrder:
    """Seeded permutation of the training set per epoch; batch ``step`` = a slice of it.

    Every image is seen once per epoch (the last ``n % batch_size`` images of a permutation
    are dropped); the batch of a step depends only on (seed, step), so resume restores it.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.bs, self.seed = n, min(batch_size, n), seed
        self.per_epoch = max(1, n // self.bs)
        self._epoch, self._perm = -1, np.arange(n)

    def batch(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, 7_919, epoch]).permutation(self.n)
        return self._perm[i * self.bs : (i + 1) * self.bs]


def hardware() -> dict:
    """Where a run executes (for manifests): CPU model, cores, torch threads, device."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux: platform's answer stands
        pass
    dev = device()
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
        "torch": str(torch.__version__),
    }


def _compact_state(state: dict) -> dict:
    """A checkpoint with the model in float16 and optimizer moments in bfloat16 (bfloat16
    keeps AdamW's squared-gradient average from underflowing, which float16 would not)."""
    model = {k: (v.half() if v.is_floating_point() else v) for k, v in state["model"].items()}
    opt = dict(state["opt"])
    opt["state"] = {
        i: {
            k: (v.bfloat16() if torch.is_tensor(v) and v.is_floating_point() and v.dim() else v)
            for k, v in st.items()
        }
        for i, st in state["opt"]["state"].items()
    }
    return {**state, "model": model, "opt": opt, "compact": True}


def _save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # atomic: a process killed mid-write leaves the old checkpoint


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
    compact: Path | None = None,
    evaluate: Callable[[Supernet], dict] | None = None,
    until: int | None = None,
) -> dict:
    """Sandwich-rule training of ``net`` in place; resumes from ``ckpt`` / ``compact``.

    Args:
        net: the supernet (its current weights are the starting point).
        x_train: (N, C, H, W) float32 normalized images; y_train: (N,) int64 labels.
        args: hyperparameters.
        ckpt: exact checkpoint (float32 model, optimizer, step, history; tensors and plain
            values, loaded with ``weights_only=True``), written every ``args.ckpt_every`` steps,
            every ``args.ckpt_minutes`` and at the end.
        log: progress sink (one line per checkpoint or evaluation).
        sample: genomes per step (default: the sandwich rule); the standalone baseline passes a
            function returning only the largest subnet.
        compact: optional compact checkpoint (float16 / bfloat16, ~18 MB at width 1.0: the one
            committed to git), written together with ``ckpt``. Training resumes from the one of
            the two holding more steps (``ckpt`` on a tie).
        evaluate: called every ``args.eval_every`` steps with the net (training mode on
            return); its dict goes to the log and to the checkpoint's ``evals`` history.
            It must not change the weights (:func:`progress_eval` restores the BN buffers).
        until: stop after this step (checkpointed) although the schedule runs to
            ``args.steps``: a later call with the same arguments continues from there.

    Returns:
        Summary: steps, epochs, wall seconds of all sessions, last loss, images seen,
        per-session hardware and wall time (``sessions``), evaluations (``evals``).

    Raises:
        CimkitError: a checkpoint from different hyperparameters (its schedule would not be
            this run's).
    """
    from cimkit.errors import CimkitError

    dev = device()
    net.to(dev)
    if args.channels_last:
        net.to(memory_format=torch.channels_last)
    # Frozen parameters (requires_grad False, e.g. H4H-NAS's phase 2 CNN) stay out of the
    # optimizer: AdamW's decoupled weight decay would move them even without a gradient.
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    step, elapsed_before = 0, 0.0
    sessions: list[dict] = []
    evals: list[dict] = []
    state, src = None, None
    for path in (ckpt, compact):
        if path is not None and path.is_file():
            cand = load_checkpoint(path, dev)
            if state is None or cand["step"] > state["step"]:
                state, src = cand, path
    if state is not None:
        mine = {k: v for k, v in asdict(args).items() if k not in _RESUME_FREE}
        theirs = {k: v for k, v in state.get("train_args", mine).items() if k in mine}
        diff = [k for k in mine if k in theirs and theirs[k] != mine[k]]
        if diff:
            raise CimkitError(
                f"{src}: checkpoint of a run with other settings ({', '.join(diff)}: "
                f"{[theirs[k] for k in diff]} vs {[mine[k] for k in diff]}); rerun with the "
                "same settings or delete the checkpoint"
            )
        ref = net.state_dict()
        net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state["model"].items()})
        opt.load_state_dict(state["opt"])  # casts bfloat16 moments back to the params' dtype
        step, elapsed_before = state["step"], state.get("elapsed", 0.0)
        sessions, evals = list(state.get("sessions", [])), list(state.get("evals", []))
        log(f"resumed from {src} at step {step}/{args.steps}")
    this_session = {**hardware(), "from_step": step, "to_step": step, "wall_s": 0.0}
    sessions.append(this_session)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    order = _EpochOrder(len(yt), args.batch_size, args.seed)
    sample = sample or (lambda r: _sandwich(r, args.quantized, args.n_random))
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    t0 = time.time()
    last_save = t0
    loss_avg = float(state.get("loss", float("nan"))) if state is not None else float("nan")

    def save() -> None:
        this_session["to_step"] = step
        this_session["wall_s"] = round(time.time() - t0, 1)
        # Tensors and plain values only: what torch.load(weights_only=True) accepts, so
        # loading runs no code. The RNG entries are kept for load_checkpoint's format check;
        # the step's generators are re-derived from (seed, step) on resume.
        full = {
            "model": net.state_dict(),
            "opt": opt.state_dict(),
            "step": step,
            "elapsed": elapsed_before + time.time() - t0,
            "loss": loss_avg,
            "np_rng": np.random.default_rng([args.seed, step]).bit_generator.state,
            "torch_gen": torch.Generator().manual_seed(args.seed).get_state(),
            "torch_rng": torch.get_rng_state(),
            "config": net.config.to_dict(),
            "train_args": asdict(args),
            "sessions": sessions,
            "evals": evals,
        }
        if ckpt is not None:
            _save_atomic(full, ckpt)
        if compact is not None:
            _save_atomic(_compact_state(full), compact)

    stop = args.steps if until is None else min(until, args.steps)
    net.train()
    while step < stop:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, args)
        rng, gen = _step_generators(args.seed, step)
        idx = torch.from_numpy(order.batch(step))
        x = augment(xt[idx], gen).to(dev).contiguous(memory_format=fmt)
        y = yt[idx].to(dev)
        genomes = sample(rng)
        opt.zero_grad(set_to_none=True)
        teacher = None
        total = 0.0
        for i, g in enumerate(genomes):
            net.set_active(g)
            logits = net(x)
            loss = sandwich_loss(logits, y, teacher, args.distill, args.label_smoothing)
            if i == 0 and len(genomes) > 1:
                teacher = F.softmax(logits.detach(), 1)
            (loss / len(genomes)).backward()
            total += float(loss.detach())
        nn.utils.clip_grad_norm_(trainable, 5.0)
        opt.step()
        step += 1
        loss_avg = (
            total / len(genomes)
            if math.isnan(loss_avg)
            else 0.9 * loss_avg + 0.1 * (total / len(genomes))
        )
        if (
            evaluate is not None
            and args.eval_every > 0
            and (step % args.eval_every == 0 or step == args.steps)
        ):
            res = {"step": step, "epoch": round(step / order.per_epoch, 3), **evaluate(net)}
            evals.append(res)
            net.train()
            log(f"eval {res}")
        timed = args.ckpt_minutes > 0 and time.time() - last_save >= 60 * args.ckpt_minutes
        if step % args.ckpt_every == 0 or step == stop or timed:
            save()
            last_save = time.time()
            el = elapsed_before + time.time() - t0
            rate = (time.time() - t0) / max(1, step - this_session["from_step"])
            log(
                f"step {step}/{args.steps} (epoch {step / order.per_epoch:.2f}) loss "
                f"{loss_avg:.3f} lr {_lr_at(step - 1, args):.2e} {el:.0f}s elapsed, "
                f"{rate:.2f} s/step now, eta {rate * (args.steps - step):.0f}s"
            )
    net.set_active(Genome.largest())
    if args.channels_last:
        net.to(memory_format=torch.contiguous_format)
    return {
        "steps": step,
        "epochs": round(step / order.per_epoch, 3),
        "steps_per_epoch": order.per_epoch,
        "wall_s": round(elapsed_before + time.time() - t0, 1),
        "loss": round(loss_avg, 4),
        "images": step * order.bs,
        "sessions": sessions,
        "evals": evals,
    }


def progress_eval(
    x_calib: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, genomes: Iterable[Genome]
) -> Callable[[Supernet], dict]:
    """An ``evaluate`` callback for :func:`train_supernet`: accuracy of each genome (after
    recalibration) on the given images; the BN / clip buffers are restored afterwards, so
    training continues as if nothing had happened. Keys: ``acc_<d>_<k>_<e>`` per genome
    (uniform genomes), else ``acc_<i>``."""
    gs = list(genomes)

    def name(i: int, g: Genome) -> str:
        if len(set(g.kernels)) == 1 and len(set(g.expands)) == 1 and len(set(g.depths)) == 1:
            return f"acc_d{g.depths[0]}k{g.kernels[0]}e{g.expands[0]}"
        return f"acc_{i}"

    def run(net: Supernet) -> dict:
        saved = {k: v.clone() for k, v in net.named_buffers()}
        out = {}
        try:
            for i, g in enumerate(gs):
                recalibrate(net, g, x_calib)
                out[name(i, g)] = round(accuracy(net, x_eval, y_eval), 4)
        finally:
            with torch.no_grad():
                for k, v in net.named_buffers():
                    v.copy_(saved[k])
            net.train()  # the next training step selects its own subnets
        return out

    return run


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
            net(_as_input(x_calib[i : i + batch_size], net, dev))
    finally:
        object.__setattr__(net.config, "dropout", dropout)
        for b, r in saved:
            b.drop_connect = r
        for m in bns:
            m.momentum = 0.1
        for q in acts:
            q.momentum = 0.1
    net.eval()


def _as_input(x: np.ndarray, net: nn.Module, dev: torch.device) -> torch.Tensor:
    """(B, C, H, W) images as a tensor on ``dev`` in the memory layout of ``net``'s weights
    (channels-last when the net was converted: 25-40 % faster on CPU)."""
    t = torch.from_numpy(x).to(dev)
    w = next(p for p in net.parameters() if p.dim() == 4)
    if w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous():
        t = t.contiguous(memory_format=torch.channels_last)
    return t


@torch.inference_mode()
def correct(net: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """(N,) bool: is ``net``'s (eval mode) top-1 class right on each image of x (N,C,H,W)?"""
    dev = next(net.parameters()).device
    net.eval()
    ok = np.empty(len(y), dtype=bool)
    for i in range(0, len(y), batch_size):
        logits = net(_as_input(x[i : i + batch_size], net, dev))
        ok[i : i + batch_size] = logits.argmax(1).cpu().numpy() == y[i : i + batch_size]
    return ok


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy (fraction) of ``net`` (eval mode) on images x (N,C,H,W), labels y (N,)."""
    return int(correct(net, x, y, batch_size).sum()) / len(y)


def measure(
    net: Supernet,
    genome: Genome,
    x_calib: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
) -> float:
    """Accuracy of one subnet + policy after recalibration (the predictors' training label).

    Forward passes only: BN statistics and activation clips re-estimated on ``x_calib``
    (batches of 256), then top-1 accuracy on ``x_eval`` / ``y_eval`` (fraction).
    """
    recalibrate(net, genome, x_calib)
    return accuracy(net, x_eval, y_eval)


def genome_key(genome: Genome) -> str:
    """Canonical text of what a measurement depends on: the genes of inactive slots (beyond a
    stage's depth) are masked to 0, so genomes differing only there share one key."""
    act = genome.active()
    k = [int(v) if a else 0 for v, a in zip(genome.kernels, act, strict=True)]
    e = [int(v) if a else 0 for v, a in zip(genome.expands, act, strict=True)]
    b = None
    if genome.bits is not None:
        b = [list(map(int, r)) if a else [0] * 4 for r, a in zip(genome.bits, act, strict=True)]
    return json.dumps([list(genome.depths), k, e, b], separators=(",", ":"))


def measurement_fingerprint(
    net: Supernet, x_calib: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray
) -> str:
    """Short hash of the supernet's parameters and of the calibration / evaluation data: two
    measurements of a genome with the same fingerprint are the same number (buffers, i.e. BN
    statistics and clips, are excluded: every measurement re-estimates them)."""
    h = hashlib.sha1()
    for k, v in net.named_parameters():
        h.update(k.encode())
        h.update(v.detach().float().contiguous().cpu().numpy().tobytes())
    for a in (x_calib, x_eval, y_eval):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def open_summary(out: Path, args: Any, config: dict) -> dict:
    """A pipeline's ``summary.json`` (stage results so far) with this run's arguments and config.

    Args:
        out: the run folder; its summary.json, when present, is continued.
        args: the parsed argparse namespace (Paths are stored as strings).
        config: the supernet configuration (``cfg.to_dict()``).
    """
    path = out / "summary.json"
    summary: dict = json.loads(path.read_text()) if path.is_file() else {}
    summary["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    summary["config"] = config
    return summary


def save_summary(summary: dict, out: Path, compact_dir: Path | None) -> None:
    """Write ``summary`` to ``out/summary.json`` and, when given, ``compact_dir/summary.json``
    (committed with the compact checkpoints, so a fresh checkout continues from it)."""
    text = json.dumps(summary, indent=2)
    (out / "summary.json").write_text(text)
    if compact_dir is not None:
        (compact_dir / "summary.json").write_text(text)


def read_measure_cache(out: Path, fp: str, key_of: Callable[[dict], str]) -> dict[str, dict]:
    """Records of a measurement cache (one JSON line each) by key; {} when ``out`` is missing.

    A record's ``key`` is used when present, else ``key_of(record)`` (older files). A partial
    last line (no final newline: the writer was killed mid-line) is removed from the file. Raises
    CimkitError naming the line when a record was measured with another fingerprint (another
    supernet or other images): mixing them would average two different networks.
    """
    from cimkit.errors import CimkitError

    cache: dict[str, dict] = {}
    if not out.is_file():
        return cache
    text = out.read_text()
    if text and not text.endswith("\n"):
        # A run killed mid-write (or a copy taken mid-write) leaves a partial last line: drop
        # it so the next append starts on a line of its own; that one genome is measured again.
        text = text[: text.rfind("\n") + 1]
        out.write_text(text)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("fp") != fp:
            raise CimkitError(
                f"{out}:{n}: measured with another supernet or other images (fingerprint "
                f"{rec.get('fp')} vs {fp}); use another file or delete this one"
            )
        cache[rec.get("key") or key_of(rec)] = rec
    return cache


def measure_many(
    net: Supernet,
    genomes: list[Genome],
    x_calib: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    out: Path,
    log: Log = _print,
) -> list[dict]:
    """Measure ``genomes``, caching one JSON line per distinct genome in ``out``.

    The cache is keyed by :func:`genome_key` (inactive-slot genes masked): genomes already in
    ``out`` and repeats within ``genomes`` are not measured again, so an interrupted call
    resumes where it stopped and a larger sample re-uses the smaller one. Every line carries
    the :func:`measurement_fingerprint` of (supernet, calibration images, evaluation images);
    a file written with another supernet or other images is refused rather than mixed.

    Returns:
        One record ``{"genome", "acc", "seconds", "key", "fp"}`` per entry of ``genomes``, in
        order (the cached record for a repeat).

    Raises:
        CimkitError: ``out`` holds measurements with another fingerprint (or none).
    """
    fp = measurement_fingerprint(net, x_calib, x_eval, y_eval)
    cache = read_measure_cache(out, fp, lambda rec: genome_key(Genome.from_dict(rec["genome"])))
    hits = sum(genome_key(g) in cache for g in genomes)
    if hits:
        log(f"{out.name}: {hits}/{len(genomes)} genomes cached")
    t0 = time.time()
    result: list[dict] = []
    measured = 0
    with out.open("a") as f:
        for i, g in enumerate(genomes):
            key = genome_key(g)
            if key not in cache:
                t = time.time()
                acc = measure(net, g, x_calib, x_eval, y_eval)
                rec = {"genome": g.to_dict(), "acc": acc, "seconds": round(time.time() - t, 2),
                       "key": key, "fp": fp}  # fmt: skip
                f.write(json.dumps(rec) + "\n")
                f.flush()
                cache[key] = rec
                measured += 1
                if measured % 10 == 0:
                    el = time.time() - t0
                    log(f"{out.name}: {i + 1}/{len(genomes)} acc {acc:.4f} ({el:.0f}s, "
                        f"{el / measured:.2f} s/subnet)")  # fmt: skip
            result.append(cache[key])
    return result


def new_supernet(config: SupernetConfig, imagenet_init: bool, log: Log = _print) -> Supernet:
    """A seeded supernet, optionally with the largest subnet from ImageNet MobileNetV2."""
    net = Supernet(config)
    if imagenet_init:
        from cimkit.accuracy.supernet import load_imagenet_mobilenetv2

        info = load_imagenet_mobilenetv2(net)
        log(f"initialized from {info.source}: {info.copied} tensors, new slots {info.new_blocks}")
    return net
