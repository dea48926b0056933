"""8-bit quantization-aware training of the OSA-HCIM ResNet-20 (Fashion-MNIST); the shipped model.

Training (:func:`train`): SGD with Nesterov momentum 0.9, weight decay 5e-4 (not on BatchNorm
parameters and biases), batch 128, a linear warm-up over the first ``warmup_steps`` then a cosine
decay of the learning rate to zero at the last step, cross-entropy with label smoothing 0.05,
light augmentation (a random translation by up to 2 pixels and a horizontal flip, per image).
Every weight layer runs with 8-bit fake quantization from the first step (see
:mod:`cimkit.osa.resnet`). Data: :func:`cimkit.accuracy.data.load` ``('fashion-mnist')``: 55,000
training images, 5,000 validation images (seed 0, used to follow training and, downstream, to
calibrate thresholds) and the 10,000-image test split (only for the final number).

Resuming: a checkpoint (model, optimizer, step, elapsed time, per-epoch history; tensors and
plain values, read with ``weights_only=True``) is written every ``ckpt_every`` steps and at the end
of every epoch. The image order of epoch ``e`` is ``np.random.default_rng([seed, e])`` and the
augmentation of step ``t`` uses a torch generator seeded with ``(seed, t)``, so a resumed run sees
the same batches as an uninterrupted one.

Shipped artifact (:func:`export_int8`, :func:`load_shipped`): ``src/cimkit/data/osa/`` holds
``resnet20_fmnist_int8.pt`` (the 20 weight layers as int8 levels with float32 per-channel scales,
BatchNorm parameters and statistics, input clips, the linear bias) and ``resnet20_fmnist_int8.json``
(the manifest: epochs, wall time, hardware, seed, command, git commit, accuracies).

Command line (``python -m cimkit.osa.train --help``; ``tools/train_osa_resnet20.sh`` runs the
shipped recipe)::

    python -m cimkit.osa.train train --out runs/osa-resnet20 --epochs 3
    python -m cimkit.osa.train export --run runs/osa-resnet20 --dest src/cimkit/data/osa
    python -m cimkit.osa.train evaluate [--model FILE] [--limit N]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
import typer
from torch import nn

from cimkit.cli_errors import check_number, prepare_out_dir, user_errors
from cimkit.errors import CimkitError, SpecError
from cimkit.osa.resnet import QConv2d, QLinear, ResNet20, int_weight

Log = Callable[[str], None]

#: Where the shipped model and its manifest live (package data).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "osa"
SHIPPED_MODEL = SHIPPED_DIR / "resnet20_fmnist_int8.pt"
SHIPPED_MANIFEST = SHIPPED_DIR / "resnet20_fmnist_int8.json"
#: Format tag of the shipped file (checked on load).
FORMAT = "cimkit-osa-resnet20-int8/1"
CHECKPOINT = "checkpoint.pt"
#: Test images of the fast accuracy check of the shipped model (the first ones of the split).
SUBSET = 1000


def _print(msg: str) -> None:
    print(msg, flush=True)


def device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainConfig:
    """Hyperparameters of one training run (stored in checkpoints and the manifest)."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_steps: int = 100
    label_smoothing: float = 0.05
    augment: bool = True
    seed: int = 0
    n_val: int = 5000
    ckpt_every: int = 100
    data: str = "fashion-mnist"
    zero_init_residual: bool = True
    #: Start from the weights of a finished run's checkpoint or of an exported model file (a
    #: fine-tuning phase); "" = init.
    init_from: str = ""
    #: Percentile of each batch's layer input that the input clips follow (100 = the batch max;
    #: :class:`cimkit.osa.resnet.InputQuant`).
    clip_percentile: float = 100.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped: every step has the same size)."""
    return n_train // batch_size


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate of ``step`` (0-based) of ``total``: linear warm-up, then cosine to 0."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(t, 1.0)))


def augment(x: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Per image: a random translation by up to ``pad`` pixels (the border filled with the
    background value) and a horizontal flip with probability 1/2. (B, C, H, W) -> same."""
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=float(x.min()))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    flip = torch.rand(b, generator=gen) < 0.5
    cols = torch.where(flip[:, None, None], 2 * pad + w - 1 - cols, cols)
    out = xp[torch.arange(b)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def _param_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in net.parameters():
        (no_decay if p.dim() == 1 else decay).append(p)  # BN scales/shifts and biases
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _is_model_file(path: Path) -> bool:
    """Whether ``path`` is an exported int8 model (:func:`export_int8`), not a run checkpoint."""
    try:
        head = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError):
        return False
    return isinstance(head, dict) and head.get("format") == FORMAT


def _initial_state(path: Path, dev: torch.device) -> dict[str, torch.Tensor]:
    """Model weights to start a fine-tuning run from: a run's checkpoint or an exported model."""
    if _is_model_file(path):
        return {k: v.to(dev) for k, v in load_shipped(path).state_dict().items()}
    return load_checkpoint(path, dev)["model"]


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :func:`train`, read with ``weights_only=True``.

    Raises:
        CimkitError: the file is not such a checkpoint (one line naming the file and the fix).
    """
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CimkitError(
            f"{path}: not an OSA ResNet-20 checkpoint ({first}); delete it to train from the start"
        ) from None
    keys = ("model", "opt", "step", "config", "history")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise CimkitError(
            f"{path}: not an OSA ResNet-20 checkpoint (needs keys {list(keys)}); delete it to "
            "train from the start"
        )
    return state


@torch.no_grad()
def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Top-1 accuracy (fraction) of ``net`` in eval mode on x (N, 1, 28, 28) float32, y (N,)."""
    dev = next(net.parameters()).device
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        logits = net(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])).to(dev))
        correct += int((logits.argmax(1).cpu().numpy() == y[i : i + batch_size]).sum())
    net.train(was_training)
    return correct / max(1, len(y))


def train(
    out: Path,
    cfg: TrainConfig,
    log: Log = _print,
    splits: Any = None,
    max_steps: int | None = None,
) -> dict:
    """Train (or resume) the 8-bit ResNet-20 in ``out``; returns the run summary.

    Args:
        out: run folder; ``out/checkpoint.pt`` is resumed from when present and written every
            ``cfg.ckpt_every`` steps and at each epoch's end; ``out/summary.json`` at the end.
        cfg: hyperparameters. A resumed run must use the checkpoint's configuration (a
            different one is refused: the schedule would not be the one recorded).
        log: progress sink.
        splits: data (a :class:`cimkit.accuracy.data.Splits`); default ``load(cfg.data)``.
        max_steps: stop after this many steps in total (tests of resuming); None = all.

    Returns:
        dict with ``steps``, ``epochs``, ``wall_s`` (all calls together), ``history`` (per epoch:
        loss, validation accuracy), ``val_acc`` and, when the run is complete, ``test_acc``
        (fractions, 8-bit model, full test split).
    """
    from cimkit.accuracy.data import load

    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT
    dev = device()
    sp = splits if splits is not None else load(cfg.data, n_val=cfg.n_val, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    net = ResNet20(sp.num_classes, sp.mean, sp.std, zero_init_residual=cfg.zero_init_residual)
    net = net.to(dev)
    # channels_last: ~20 % faster convolutions on CPU (oneDNN) for the same numbers.
    fmt = torch.channels_last
    net = net.to(memory_format=fmt)
    opt = torch.optim.SGD(
        _param_groups(net, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True
    )
    step, elapsed_before, history = 0, 0.0, []
    if ckpt.is_file():
        state = load_checkpoint(ckpt, dev)
        saved = TrainConfig.from_dict(state["config"])
        if saved != cfg:
            diff = [f.name for f in fields(cfg) if getattr(saved, f.name) != getattr(cfg, f.name)]
            raise SpecError(
                f"{ckpt}: the checkpoint was trained with other settings ({', '.join(diff)}); "
                "give the same options or another --out"
            )
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before, history = state["step"], state["elapsed"], list(state["history"])
        log(f"resumed from {ckpt} at step {step}")
    elif cfg.init_from:
        net.load_state_dict(_initial_state(Path(cfg.init_from), dev))
        log(f"initialized from {cfg.init_from}")
    for _, layer in net.quantized_layers():
        layer.act.percentile = cfg.clip_percentile
    n = len(sp.y_train)
    per_epoch = steps_per_epoch(n, cfg.batch_size)
    total = per_epoch * cfg.epochs
    stop = total if max_steps is None else min(total, max_steps)
    xt, yt = torch.from_numpy(sp.x_train), torch.from_numpy(sp.y_train)
    t0 = time.time()
    loss_sum, loss_n = 0.0, 0

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": net.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "elapsed": elapsed_before + time.time() - t0,
                "config": cfg.to_dict(),
                "history": history,
                "threads": torch.get_num_threads(),
                "hardware": _hardware(),
            },
            tmp,
        )
        tmp.replace(ckpt)

    net.train()
    while step < stop:
        epoch, k = divmod(step, per_epoch)
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(n))
        idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
        x = xt[idx]
        if cfg.augment:
            x = augment(x, torch.Generator().manual_seed(cfg.seed * 1_000_003 + step))
        x, y = x.to(dev).contiguous(memory_format=fmt), yt[idx].to(dev)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, cfg)
        loss = F.cross_entropy(net(x), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_sum, loss_n = loss_sum + float(loss.detach()), loss_n + 1
        if step % per_epoch == 0:
            val = accuracy(net, sp.x_val, sp.y_val)
            el = elapsed_before + time.time() - t0
            history.append(
                {
                    "epoch": step // per_epoch,
                    "step": step,
                    "train_loss": round(loss_sum / loss_n, 4),
                    "val_acc": round(val, 4),
                    "elapsed_s": round(el, 1),
                }
            )
            log(
                f"epoch {step // per_epoch}/{cfg.epochs} step {step}/{total} loss "
                f"{loss_sum / loss_n:.4f} val {val:.4f} {el:.0f}s elapsed, "
                f"eta {el / step * (total - step):.0f}s"
            )
            loss_sum, loss_n = 0.0, 0
            save()
        elif step % cfg.ckpt_every == 0 or step == stop:
            save()
            el = elapsed_before + time.time() - t0
            log(f"step {step}/{total} loss {loss_sum / max(1, loss_n):.4f} {el:.0f}s elapsed")
    summary: dict[str, Any] = {
        "steps": step,
        "total_steps": total,
        "epochs": step / per_epoch,
        "wall_s": round(elapsed_before + time.time() - t0, 1),
        "history": history,
        "val_acc": accuracy(net, sp.x_val, sp.y_val),
        "config": cfg.to_dict(),
    }
    if step >= total:
        summary["test_acc"] = accuracy(net, sp.x_test, sp.y_test)
        log(f"test accuracy (8-bit, {len(sp.y_test)} images): {summary['test_acc']:.4f}")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# --------------------------------------------------------------------------------------------
# Shipped int8 model


def _int8_state(net: ResNet20) -> dict[str, Any]:
    """The model's state with every quantized layer's weight as int8 levels + float scales."""
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    levels, scales = {}, {}
    for name, layer in net.quantized_layers():
        q, s = int_weight(layer.weight)
        levels[name] = q.to(torch.int8)
        scales[name] = s.float().cpu()
        del state[f"{name}.weight"]
    return {"levels": levels, "scales": scales, "float": state}


def export_int8(run: Path, dest: Path, command: str, manifest_extra: dict | None = None) -> dict:
    """Write the int8 model of the finished run in ``run`` and its manifest into ``dest``.

    The test accuracy in the manifest is measured on the exported file itself (loaded back with
    :func:`load_shipped`), not on the training model.

    Returns:
        The manifest (also written as ``dest/resnet20_fmnist_int8.json``).

    Raises:
        CimkitError: ``run`` has no checkpoint, or the run is not finished.
    """
    from cimkit.accuracy.data import load

    ckpt = run / CHECKPOINT
    if not ckpt.is_file():
        raise CimkitError(f"--run {run}: no {CHECKPOINT}; train first (train --out {run})")
    state = load_checkpoint(ckpt)
    cfg = TrainConfig.from_dict(state["config"])
    sp = load(cfg.data, n_val=cfg.n_val, seed=cfg.seed)
    total = steps_per_epoch(len(sp.y_train), cfg.batch_size) * cfg.epochs
    if state["step"] < total:
        raise CimkitError(
            f"--run {run}: training stopped at step {state['step']} of {total}; resume it first"
        )
    net = ResNet20(sp.num_classes, sp.mean, sp.std)
    net.load_state_dict(state["model"])
    dest.mkdir(parents=True, exist_ok=True)
    model_path = dest / SHIPPED_MODEL.name
    payload = {"format": FORMAT, "num_classes": sp.num_classes, **_int8_state(net)}
    torch.save(payload, model_path)
    shipped = load_shipped(model_path)
    test_acc = accuracy(shipped, sp.x_test, sp.y_test)
    # The fast test's subset (tests/osa/test_train_shipped.py) is recorded too.
    subset_acc = accuracy(shipped, sp.x_test[:SUBSET], sp.y_test[:SUBSET])
    val_acc = accuracy(shipped, sp.x_val, sp.y_val)
    train_acc = accuracy(net.eval(), sp.x_test, sp.y_test)
    manifest = {
        "model": model_path.name,
        "network": "ResNet-20 (CIFAR-style, 3x3 basic blocks, 16/32/64 channels, option-A "
        "shortcuts), 28x28x1 input",
        "quantization": "8-bit QAT: signed per-output-channel weights in [-127, 127], unsigned "
        "8-bit layer inputs (first layer: the 8-bit pixels)",
        "data": f"{cfg.data}: {len(sp.y_train)} train / {len(sp.y_val)} val (seed {cfg.seed}) / "
        f"{len(sp.y_test)} test",
        "epochs": state["step"] / steps_per_epoch(len(sp.y_train), cfg.batch_size),
        "steps": state["step"],
        "wall_s": round(state["elapsed"], 1),
        # Where it was trained (older checkpoints lack it: then the exporting machine's).
        "hardware": state.get("hardware", _hardware()),
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "command": command,
        "git_commit": _git_commit(),
        "test_acc_int8": round(test_acc, 4),
        f"test_acc_int8_first_{SUBSET}": round(subset_acc, 4),
        "test_acc_training_model": round(train_acc, 4),
        "val_acc_int8": round(val_acc, 4),
        "test_images": len(sp.y_test),
        "history": state["history"],
        "file_bytes": model_path.stat().st_size,
        "parameters": sum(q.numel() for q in payload["levels"].values()),
    }
    init = Path(cfg.init_from) if cfg.init_from else None
    if init is not None and _is_model_file(init):
        # Fine-tuned from an exported model: its manifest (beside it) is the previous phase.
        init_manifest = init.with_suffix(".json")
        prev_m = json.loads(init_manifest.read_text()) if init_manifest.is_file() else {}
        manifest["previous_phase"] = {
            "model": cfg.init_from,
            "sha256": hashlib.sha256(init.read_bytes()).hexdigest(),
            "manifest": prev_m,
        }
        prev_wall = float(prev_m.get("wall_s_all_phases", prev_m.get("wall_s", 0.0)))
        manifest["wall_s_all_phases"] = round(prev_wall + state["elapsed"], 1)
    elif init is not None and init.is_file():
        prev = load_checkpoint(init)
        manifest["previous_phase"] = {
            "checkpoint": cfg.init_from,
            "config": prev["config"],
            "steps": prev["step"],
            "wall_s": round(prev["elapsed"], 1),
            "history": prev["history"],
        }
        manifest["wall_s_all_phases"] = round(prev["elapsed"] + state["elapsed"], 1)
    manifest.update(manifest_extra or {})
    (dest / SHIPPED_MANIFEST.name).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _hardware() -> str:
    """CPU model, logical CPUs, torch version and threads, GPU (one line)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {gpu}"
    )


def _git(*args: str) -> str:
    try:
        r = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        )
        return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _git_commit() -> str:
    """HEAD at export, with ``+dirty`` when the training code (this module and resnet.py) has
    uncommitted changes."""
    head = _git("rev-parse", "HEAD") or "unknown"
    here = Path(__file__).resolve().parent
    dirty = _git("status", "--porcelain", "--", str(here / "train.py"), str(here / "resnet.py"))
    return head + ("+dirty" if dirty else "")


def load_shipped(path: Path | None = None, map_location: str | torch.device = "cpu") -> ResNet20:
    """The shipped 8-bit ResNet-20 (``path`` defaults to the package's file), in eval mode.

    Weights are rebuilt as ``levels * scale``; quantizing them again (every forward does) gives
    back the same int8 levels, so the network computes exactly the shipped integers.

    Raises:
        CimkitError: the file is missing or is not such a model (one line naming the file).
    """
    path = SHIPPED_MODEL if path is None else Path(path)
    if not path.is_file():
        raise CimkitError(
            f"{path}: no such model file; train and export one "
            "(tools/train_osa_resnet20.sh) or reinstall cimkit"
        )
    try:
        p = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CimkitError(f"{path}: not a cimkit OSA model file ({first})") from None
    if not isinstance(p, dict) or p.get("format") != FORMAT:
        raise CimkitError(f"{path}: not a cimkit OSA model file (format tag {FORMAT!r} missing)")
    state = dict(p["float"])
    for name, q in p["levels"].items():
        s = p["scales"][name]
        state[f"{name}.weight"] = q.float() * s.view(-1, *([1] * (q.dim() - 1)))
    net = ResNet20(int(p["num_classes"]))
    net.load_state_dict(state)
    return net.eval()


def evaluate_shipped(
    limit: int | None = None, path: Path | None = None, split: str = "test"
) -> tuple[float, int]:
    """8-bit accuracy of the shipped model on the first ``limit`` images of ``split``.

    Args:
        limit: images (None: the whole split: 10,000 test or 5,000 validation images).
        path: model file (default: the shipped one).
        split: 'test' or 'val' (the validation split of the manifest's seed).

    Returns:
        (accuracy as a fraction, images evaluated).
    """
    from cimkit.accuracy.data import load

    if split not in ("test", "val"):
        raise SpecError(f"--split {split!r}: give test or val")
    net = load_shipped(path)
    manifest = json.loads(SHIPPED_MANIFEST.read_text()) if SHIPPED_MANIFEST.is_file() else {}
    cfg = TrainConfig.from_dict(manifest.get("config", {}))
    sp = load(cfg.data, n_val=cfg.n_val, seed=cfg.seed)
    x, y = (sp.x_test, sp.y_test) if split == "test" else (sp.x_val, sp.y_val)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return accuracy(net, x, y), len(y)


def quantized_layer_names(net: ResNet20) -> list[str]:
    """Names of the 20 weight layers (QConv2d / QLinear) in execution order."""
    return [n for n, m in net.named_modules() if isinstance(m, QConv2d | QLinear)]


# --------------------------------------------------------------------------------------------
# Command line

app = typer.Typer(
    help="Train, export and evaluate the 8-bit OSA-HCIM ResNet-20 (Fashion-MNIST).",
    no_args_is_help=True,
)


@app.command("train")
@user_errors
def train_cmd(
    out: Annotated[Path, typer.Option(help="run folder (checkpoint, summary)")] = Path(
        "runs/osa-resnet20"
    ),
    epochs: Annotated[int, typer.Option(help="epochs over the 55k training images (1..500)")] = 3,
    batch_size: Annotated[int, typer.Option(help="images per step (8..4096)")] = 128,
    lr: Annotated[float, typer.Option(help="peak SGD learning rate (0, 10]")] = 0.1,
    seed: Annotated[int, typer.Option(help="seed of init, split, order (0..2**32-1)")] = 0,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1..256)")] = 1,
    ckpt_every: Annotated[int, typer.Option(help="steps between checkpoints (1..100000)")] = 100,
    warmup_steps: Annotated[int, typer.Option(help="linear warm-up steps (0..100000)")] = 100,
    init_from: Annotated[
        Path | None,
        typer.Option(help="start from this finished run's checkpoint.pt or an exported model .pt"),
    ] = None,
    clip_percentile: Annotated[
        float,
        typer.Option(help="percentile of each batch's layer input the clips follow (50..100)"),
    ] = 100.0,
) -> None:
    """Train (or resume) the 8-bit ResNet-20; prints one line per epoch."""
    check_number(epochs, "--epochs", 1, 500)
    check_number(batch_size, "--batch-size", 8, 4096)
    check_number(lr, "--lr", 0.0, 10.0, low_open=True)
    check_number(seed, "--seed", 0, 2**32 - 1)
    check_number(threads, "--threads", 1, 256)
    check_number(ckpt_every, "--ckpt-every", 1, 100_000)
    check_number(warmup_steps, "--warmup-steps", 0, 100_000)
    check_number(clip_percentile, "--clip-percentile", 50.0, 100.0)
    if init_from is not None and not init_from.is_file():
        raise SpecError(f"--init-from {init_from}: no such checkpoint; give a run's checkpoint.pt")
    out = prepare_out_dir(out)
    torch.set_num_threads(threads)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        ckpt_every=ckpt_every,
        warmup_steps=warmup_steps,
        init_from=str(init_from) if init_from is not None else "",
        clip_percentile=clip_percentile,
    )
    s = train(out, cfg)
    print(json.dumps({k: v for k, v in s.items() if k != "history"}))


@app.command("export")
@user_errors
def export_cmd(
    run: Annotated[Path, typer.Option(help="finished run folder")] = Path("runs/osa-resnet20"),
    dest: Annotated[Path, typer.Option(help="where the .pt and .json go")] = SHIPPED_DIR,
    command: Annotated[str, typer.Option(help="training command recorded in the manifest")] = "",
) -> None:
    """Write the int8 model and its manifest; prints the measured 8-bit test accuracy."""
    dest = prepare_out_dir(dest, "--dest")
    m = export_int8(run, dest, command or " ".join(sys.argv))
    print(
        f"{dest / m['model']}: {m['file_bytes']} bytes, 8-bit test accuracy "
        f"{m['test_acc_int8']:.4f} on {m['test_images']} images"
    )


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    model: Annotated[Path | None, typer.Option(help="model file (default: shipped)")] = None,
    limit: Annotated[int | None, typer.Option(help="first N images only (1..10000)")] = None,
    split: Annotated[str, typer.Option(help="test | val")] = "test",
) -> None:
    """8-bit accuracy of the shipped (or given) model on the test or validation split."""
    if limit is not None:
        check_number(limit, "--limit", 1, 10_000)
    acc, n = evaluate_shipped(limit, model, split)
    print(f"8-bit accuracy {acc:.4f} on {n} {split} images")


if __name__ == "__main__":
    app()
