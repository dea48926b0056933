"""H4H-NAS supernet training recipes (§4.1, §6.2) and the Table 2 analogue.

Recipes (``cimkit train h4h --recipe R``), all with the sandwich rule (largest, smallest, two
random subnets; averaged gradient), AdamW, dropout and drop-connect 0.2, in-place distillation
from the largest subnet, on Fashion-MNIST at the proxy geometry (docs/h4h-network.md):

* ``vanilla``: the hybrid supernet from scratch, hybrid subnets sampled;
* ``cnn_only``: the same supernet, only CNN-only subnets sampled (every ViT depth 0): the
  CNN-only competitor, and phase 1 of both TPI recipes;
* ``tpi_freeze``: phase 2 of two-phase incremental training: the ``cnn_only`` run's weights
  (same seed), hybrid subnets sampled, every CNN conv / linear weight frozen (ViT blocks and
  BatchNorm parameters train);
* ``tpi_unfreeze``: the same phase 2 with nothing frozen.

Each run lives in ``OUT/<recipe>-s<seed>/``: ``ckpt.pt`` (exact, resumable), ``final.pt``
(weights only), ``log.txt``, ``result.json`` (min_net / max_net test accuracy after BN
recalibration on 2,048 training images; the 10,000 test images). Runs resume where they stopped;
``--until`` stops a run at a step so a session's time budget can be respected.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from cimkit.accuracy.h4h_space import H4HGenome, H4HSupernetConfig
from cimkit.accuracy.h4h_supernet import H4HSupernet
from cimkit.errors import CimkitError

RECIPES: dict[str, str] = {
    "vanilla": "hybrid supernet, hybrid subnets, from scratch",
    "cnn_only": "CNN-only subnets (ViT depth 0), from scratch; TPI phase 1",
    "tpi_freeze": "TPI phase 2 from cnn_only: hybrid subnets, CNN conv/linear weights frozen",
    "tpi_unfreeze": "TPI phase 2 from cnn_only: hybrid subnets, nothing frozen",
}
PHASE2 = ("tpi_freeze", "tpi_unfreeze")
#: Calibration images of the BN re-estimation before a test measurement.
N_CALIB = 2048

Log = Callable[[str], None]


def run_dir(out: Path, recipe: str, seed: int) -> Path:
    return Path(out) / f"{recipe}-s{seed}"


def train_args(recipe: str, steps: int, seed: int, batch_size: int = 128) -> object:
    """The TrainArgs of a recipe: phase 2 continues at half the peak learning rate."""
    from cimkit.accuracy.train import TrainArgs

    phase2 = recipe in PHASE2
    return TrainArgs(
        steps=steps,
        batch_size=batch_size,
        lr=1e-3 if phase2 else 2e-3,
        weight_decay=0.05,
        warmup=min(50 if phase2 else 100, max(1, steps // 10)),
        distill=0.5,
        seed=seed,
        ckpt_every=100,
        ckpt_minutes=5.0,
    )


def freeze_cnn(net: H4HSupernet) -> int:
    """Freeze every CNN conv / linear weight of ``net`` (TPI phase 2); returns their count."""
    n = 0
    for _, p in net.cnn_parameters():
        p.requires_grad_(False)
        n += p.numel()
    return n


def sampler(cfg: H4HSupernetConfig, recipe: str) -> Callable[[np.random.Generator], list]:
    cnn = recipe == "cnn_only"
    return lambda rng: cfg.sandwich(rng, cnn_only=cnn)


def new_net(recipe: str, seed: int, out: Path, cfg: H4HSupernetConfig | None = None,
            log: Log = print, keep: Path | None = None) -> H4HSupernet:  # fmt: skip
    """The supernet a recipe starts from (phase 2: the cnn_only run's final weights, from
    ``out`` or the kept copies under ``keep``)."""
    torch.manual_seed(seed)
    net = H4HSupernet(cfg or H4HSupernetConfig())
    if recipe in PHASE2:
        src = run_dir(out, "cnn_only", seed) / "final.pt"
        if not src.is_file() and keep is not None:
            src = run_dir(keep, "cnn_only", seed) / "final.pt"
        if not src.is_file():
            raise CimkitError(
                f"{recipe}: phase 2 starts from the cnn_only run of seed {seed}, and {src} does "
                f"not exist; run `cimkit train h4h --recipe cnn_only --seed {seed} --out {out}` "
                "first"
            )
        state = torch.load(src, map_location="cpu", weights_only=True)
        if state.get("config") != net.config.to_dict():
            raise CimkitError(f"{src}: a supernet of another geometry; retrain phase 1")
        ref = net.state_dict()
        net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state["model"].items()})
        log(f"{recipe}: phase 1 weights from {src}")
    if recipe == "tpi_freeze":
        log(f"{recipe}: froze {freeze_cnn(net):,} CNN weights")
    return net


def save_weights(net: H4HSupernet, path: Path, meta: dict) -> None:
    """Weights only (float16), the supernet's config and ``meta``: what later phases, the
    search and the shipped artifact load."""
    from cimkit.accuracy.train import _save_atomic

    model = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    _save_atomic({"model": model, "config": net.config.to_dict(), "meta": meta}, path)


def load_weights(path: Path) -> H4HSupernet:
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = H4HSupernet(H4HSupernetConfig.from_dict(state["config"]))
    ref = net.state_dict()
    net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state["model"].items()})
    return net


def test_accuracy(net: H4HSupernet, genome: H4HGenome, splits: object) -> float:
    """Top-1 test accuracy of ``genome``'s subnet after BN recalibration (fraction)."""
    from cimkit.accuracy.train import measure

    return measure(net, genome, splits.x_train[:N_CALIB], splits.x_test, splits.y_test)  # type: ignore[arg-type, attr-defined]


def min_max(cfg: H4HSupernetConfig, recipe: str) -> dict[str, H4HGenome]:
    """Table 2's min_net and max_net of a recipe's space (CNN-only: its own largest)."""
    big = cfg.largest()
    return {"min_net": cfg.smallest(), "max_net": big.cnn_only() if recipe == "cnn_only" else big}


def run(
    recipe: str,
    out: Path,
    seed: int = 0,
    steps: int = 2000,
    data: str = "fashion-mnist",
    batch_size: int = 128,
    until: int | None = None,
    cfg: H4HSupernetConfig | None = None,
    log: Log | None = None,
    keep: Path | None = None,
) -> dict:
    """Train (or resume) one recipe and measure its min/max nets (module docstring).

    ``keep``: a folder (committed to git, e.g. ``checkpoints/h4h``) that receives a compact
    resumable checkpoint while the run trains (float16 weights, bfloat16 optimizer moments; the
    run resumes from it on a machine without ``out``) and, at the end, ``final.pt``,
    ``result.json`` and ``log.txt`` (the compact checkpoint is then removed).

    Returns the run's result (also ``result.json``); ``{"done": False, ...}`` when ``until``
    stopped it before the end of its schedule.
    """
    from cimkit.accuracy.data import load
    from cimkit.accuracy.train import hardware, train_supernet

    if recipe not in RECIPES:
        raise CimkitError(f"--recipe {recipe!r}: unknown; use one of {', '.join(RECIPES)}")
    d = run_dir(out, recipe, seed)
    d.mkdir(parents=True, exist_ok=True)
    logf = (d / "log.txt").open("a")

    def _log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        logf.write(line + "\n")
        logf.flush()
        (log or print)(line)

    kd = run_dir(keep, recipe, seed) if keep is not None else None
    try:
        splits = load(data)
        net = new_net(recipe, seed, out, cfg, _log, keep)
        args = train_args(recipe, steps, seed, batch_size)
        summary = train_supernet(
            net, splits.x_train, splits.y_train, args, ckpt=d / "ckpt.pt", log=_log,  # type: ignore[arg-type]
            sample=sampler(net.config, recipe), until=until,
            compact=None if kd is None else kd / "ckpt.compact.pt",
        )  # fmt: skip
        if summary["steps"] < steps:
            return {"done": False, "steps": summary["steps"], "of": steps}
        meta = {"recipe": recipe, "seed": seed, "data": data, "train_args": asdict(args),  # type: ignore[call-overload]
                "train": {k: v for k, v in summary.items() if k != "evals"}}  # fmt: skip
        save_weights(net, d / "final.pt", meta)
        res: dict = {"recipe": recipe, "seed": seed, "steps": steps, "data": data,
                     "wall_s": summary["wall_s"], "hardware": hardware()}  # fmt: skip
        for name, g in min_max(net.config, recipe).items():
            res[name] = test_accuracy(net, g, splits)
            _log(f"{recipe} seed {seed}: {name} test accuracy {res[name]:.4f}")
        (d / "result.json").write_text(json.dumps(res, indent=1) + "\n")
        if kd is not None:
            keep_run(d, kd)
        return {"done": True, **res}
    finally:
        logf.close()


def keep_run(d: Path, kd: Path) -> None:
    """Copy a run folder's committable part to ``kd``: ``final.pt``, ``result.json`` and
    ``log.txt`` when it finished (its compact checkpoint removed), else a compact resumable
    checkpoint made from ``ckpt.pt`` and the log."""
    import shutil

    from cimkit.accuracy.train import _compact_state, _save_atomic, load_checkpoint

    kd.mkdir(parents=True, exist_ok=True)
    if (d / "log.txt").is_file():
        shutil.copyfile(d / "log.txt", kd / "log.txt")
    if (d / "result.json").is_file() and (d / "final.pt").is_file():
        for f in ("final.pt", "result.json"):
            shutil.copyfile(d / f, kd / f)
        (kd / "ckpt.compact.pt").unlink(missing_ok=True)
    elif (d / "ckpt.pt").is_file():
        _save_atomic(_compact_state(load_checkpoint(d / "ckpt.pt")), kd / "ckpt.compact.pt")


def table2(out: Path) -> list[dict]:
    """Rows of the Table 2 analogue from the finished runs under ``out``: per recipe, mean and
    standard error over seeds of min_net / max_net test accuracy (fractions), seeds listed."""
    rows = []
    for recipe in RECIPES:
        res = [
            json.loads(p.read_text()) for p in sorted(Path(out).glob(f"{recipe}-s*/result.json"))
        ]
        if not res:
            continue
        row: dict = {"recipe": recipe, "seeds": [r["seed"] for r in res]}
        for k in ("min_net", "max_net"):
            v = np.array([r[k] for r in res], dtype=np.float64)
            row[k] = float(v.mean())
            row[f"{k}_se"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
        rows.append(row)
    return rows
