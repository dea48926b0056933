"""The full, resumable accuracy pipeline: supernet -> QAT -> measurements -> baseline -> predictors.

``python -m cimkit.accuracy.pipeline --out runs/accuracy`` (what tools/train_accuracy.sh runs).
Every stage writes its result into ``--out`` and is skipped when that result exists, so an
interrupted run continues where it stopped (training stages resume from their checkpoints,
measurement stages from their JSON lines). ``--ship`` copies the artifacts to
``src/cimkit/data/accuracy`` with a manifest.

Stages:
  1. supernet_fp   sandwich-rule training of the full-precision supernet (in-place distillation)
  2. baseline      the largest architecture trained alone with the same budget (reference)
  3. supernet_q    quantization-aware fine-tuning with random policies (copy of 1)
  4. final         test-split accuracy of the largest/smallest subnet (FP, 8 and 4 bit)
  5. measure_fp    validation accuracy of random FP subnets (predictor data)
  6. measure_q     validation accuracy of random subnets x policies (quantized predictor data)
  7. predictors    FP and quantized MLP predictors, held-out RMSE / Kendall tau

Training budgets are given in epochs of the 55k training images (``--epochs-fp``,
``--epochs-q``; ``--steps-fp`` / ``--steps-q`` override them). With ``--compact-dir`` the
training stages also write compact checkpoints there (float16 weights, ~18 MB each, meant to
be committed to git) and the log is mirrored there, so a run killed with its session can be
continued from a fresh checkout: rerun the same command.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

SHIP_DIR = Path(__file__).resolve().parents[1] / "data" / "accuracy"


def _log_to(path: Path):
    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with path.open("a") as f:
            f.write(line + "\n")

    return log


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()  # fmt: skip
    except Exception:  # not a checkout: the manifest says so
        return "unknown"


def _policies(n: int, rng: np.random.Generator) -> list:
    """Uniform 8-bit, uniform 4-bit, then random policies."""
    out = [((8,) * 4,) * 20, ((4,) * 4,) * 20]
    while len(out) < n:
        out.append(tuple(tuple(r) for r in rng.choice((4, 6, 8), size=(20, 4)).tolist()))
    return out[:n]


def _sample(n: int, seed: int) -> list:
    """``n`` random genomes where the i-th depends only on (seed, i): a larger sample starts
    with a smaller one, so measuring more subnets later re-uses the cached measurements."""
    from cimkit.accuracy.encoding import random_genomes

    return [random_genomes(1, seed=seed * 100_003 + i)[0] for i in range(max(0, n))]


def _measure_seconds(records: list[dict]) -> float:
    """Seconds spent measuring the distinct genomes of ``records`` (over all sessions)."""
    return round(sum({r.get("key", i): r["seconds"] for i, r in enumerate(records)}.values()), 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/accuracy"))
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--no-imagenet-init", action="store_true")
    p.add_argument("--epochs-fp", type=float, default=8.0, help="FP supernet epochs")
    p.add_argument("--epochs-q", type=float, default=1.0, help="QAT epochs")
    p.add_argument("--steps-fp", type=int, default=None, help="overrides --epochs-fp")
    p.add_argument("--steps-q", type=int, default=None, help="overrides --epochs-q")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW LR of the FP phase")
    p.add_argument("--warmup", type=int, default=50, help="linear warm-up steps (FP phase)")
    p.add_argument("--distill", type=float, default=0.5, help="in-place distillation weight")
    p.add_argument(
        "--compact-dir",
        type=Path,
        default=None,
        help="also write compact (git-committable) checkpoints and the log here",
    )
    p.add_argument("--ckpt-minutes", type=float, default=5.0, help="checkpoint interval")
    p.add_argument(
        "--eval-images",
        type=int,
        default=2000,
        help="validation images of the progress evaluations (twice per epoch)",
    )
    # Predictor data: thousands of subnets, each recalibrated on the same 2,048 training
    # images (fewer move accuracy by up to 0.5-1 point: tools/calib_size_check.py, in
    # docs/accuracy.md) and measured on all 5,000 validation images.
    p.add_argument("--n-fp", type=int, default=2000, help="FP subnets measured")
    p.add_argument("--n-q-subnets", type=int, default=500)
    p.add_argument("--n-policies", type=int, default=4, help="policies per quantized subnet")
    p.add_argument("--n-calib", type=int, default=2048, help="BN recalibration images (FP)")
    p.add_argument("--n-eval", type=int, default=5000, help="validation images per FP subnet")
    p.add_argument("--n-calib-q", type=int, default=2048, help="recalibration images (quantized)")
    p.add_argument("--n-eval-q", type=int, default=5000, help="validation images per quantized")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--ship", action="store_true", help="copy artifacts to src/cimkit/data/accuracy")
    a = p.parse_args(argv)

    import torch

    from cimkit.accuracy import data as data_mod
    from cimkit.accuracy import train as tr_summary
    from cimkit.accuracy.encoding import Genome
    from cimkit.accuracy.supernet import SupernetConfig, load_state, state_dict_fp16
    from cimkit.accuracy.train import (
        TrainArgs,
        accuracy,
        measure_many,
        new_supernet,
        progress_eval,
        recalibrate,
        train_supernet,
    )

    torch.set_num_threads(a.threads)
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    log_local = _log_to(out / "log.txt")
    compact_dir: Path | None = a.compact_dir
    if compact_dir is not None:
        compact_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        log_local(msg)
        if compact_dir is not None:
            with (compact_dir / "log.txt").open("a") as f:
                f.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}\n")

    def compact(name: str) -> Path | None:
        return None if compact_dir is None else compact_dir / name

    t_start = time.time()
    splits = data_mod.load(a.data, seed=a.seed)
    log(f"data {splits.describe()}; torch {torch.__version__}, {a.threads} threads")
    cfg = SupernetConfig(width=a.width, stem_stride=2, num_classes=splits.num_classes)
    summary = tr_summary.open_summary(out, a, cfg.to_dict())

    def save_summary() -> None:
        tr_summary.save_summary(summary, out, compact_dir)

    imagenet = not a.no_imagenet_init and a.width == 1.0
    x_calib = splits.x_train[: a.n_calib]
    x_val, y_val = splits.x_val[: a.n_eval], splits.y_val[: a.n_eval]
    fp_path, q_path = out / "supernet_fp.pt", out / "supernet_q.pt"

    spe = max(1, len(splits.y_train) // a.batch_size)  # steps per epoch
    steps_fp = a.steps_fp if a.steps_fp is not None else round(a.epochs_fp * spe)
    steps_q = a.steps_q if a.steps_q is not None else round(a.epochs_q * spe)
    x_prog = splits.x_train[:512]
    progress = progress_eval(
        x_prog, splits.x_val[: a.eval_images], splits.y_val[: a.eval_images],
        (Genome.largest(), Genome.smallest()),
    )  # fmt: skip
    eval_every = max(1, spe // 2)
    fp_args = TrainArgs(
        steps=steps_fp, batch_size=a.batch_size, lr=a.lr, warmup=a.warmup, seed=a.seed,
        distill=a.distill, ckpt_every=50, ckpt_minutes=a.ckpt_minutes, eval_every=eval_every,
    )  # fmt: skip

    # 1. full-precision supernet
    if not fp_path.is_file():
        torch.manual_seed(a.seed)
        net = new_supernet(cfg, imagenet, log)
        res = train_supernet(
            net, splits.x_train, splits.y_train, fp_args, out / "ckpt_fp.pt", log,
            compact=compact("supernet_fp.ckpt.pt"), evaluate=progress,
        )  # fmt: skip
        torch.save(state_dict_fp16(net), fp_path)
        summary["supernet_fp"] = {**res, "train_args": asdict(fp_args), "imagenet_init": imagenet}
        save_summary()
    # 2. reference: the largest architecture trained alone, same init/steps/batch/data/schedule
    if not a.skip_baseline and "baseline" not in summary:
        torch.manual_seed(a.seed)
        base = new_supernet(cfg, imagenet, log)
        targs = TrainArgs(**{**asdict(fp_args), "distill": 0.0})
        res = train_supernet(
            base, splits.x_train, splits.y_train, targs, out / "ckpt_baseline.pt", log,
            sample=lambda r: [Genome.largest()], compact=compact("baseline.ckpt.pt"),
            evaluate=progress_eval(x_prog, splits.x_val[: a.eval_images],
                                   splits.y_val[: a.eval_images], (Genome.largest(),)),
        )  # fmt: skip
        recalibrate(base, Genome.largest(), splits.x_train[:2048])
        fp_acc = accuracy(base, splits.x_test, splits.y_test)
        val_acc = accuracy(base, x_val, y_val)
        recalibrate(base, Genome.largest(8), splits.x_train[:2048])
        q8 = accuracy(base, splits.x_test, splits.y_test)
        summary["baseline"] = {
            **res, "train_args": asdict(targs), "test_fp": fp_acc, "val_fp": val_acc,
            "test_8bit_ptq": q8,
        }  # fmt: skip
        log(f"baseline largest alone: test FP {fp_acc:.4f}, 8-bit PTQ {q8:.4f}")
        save_summary()
    # 3. quantization-aware fine-tuning
    if not q_path.is_file():
        net = new_supernet(cfg, False)
        load_state(net, torch.load(fp_path, weights_only=True))
        targs = TrainArgs(
            steps=steps_q, batch_size=a.batch_size, lr=5e-4, warmup=min(20, steps_q),
            quantized=True, seed=a.seed + 1, distill=0.0, ckpt_every=25,
            ckpt_minutes=a.ckpt_minutes,
        )  # fmt: skip
        res = train_supernet(
            net, splits.x_train, splits.y_train, targs, out / "ckpt_q.pt", log,
            compact=compact("supernet_q.ckpt.pt"),
        )  # fmt: skip
        torch.save(state_dict_fp16(net), q_path)
        summary["supernet_q"] = {**res, "train_args": asdict(targs)}
        save_summary()
    # Nothing is shipped before the predictors are refit: shipped supernets and predictors
    # must describe the same weights (the predictors are fit on this supernet's measurements).

    fp_net = new_supernet(cfg, False)
    load_state(fp_net, torch.load(fp_path, weights_only=True))
    q_net = new_supernet(cfg, False)
    load_state(q_net, torch.load(q_path, weights_only=True))

    # 4. test accuracy of the extremes
    if "final" not in summary:
        final = {}
        for name, g in (("largest", Genome.largest()), ("smallest", Genome.smallest())):
            for bits in (None, 8, 4):
                gg = Genome(g.depths, g.kernels, g.expands, None if bits is None else
                            ((bits,) * 4,) * 20)  # fmt: skip
                net = fp_net if bits is None else q_net
                recalibrate(net, gg, splits.x_train[:2048])
                key = f"{name}_{'fp' if bits is None else f'{bits}bit'}"
                final[key] = {
                    "test": accuracy(net, splits.x_test, splits.y_test),
                    "val": accuracy(net, x_val, y_val),
                }
                if bits == 4 and name == "largest":  # 4-bit without QAT, for the record
                    recalibrate(fp_net, gg, splits.x_train[:2048])
                    final["largest_4bit_no_qat"] = {
                        "test": accuracy(fp_net, splits.x_test, splits.y_test)
                    }
                log(f"final {key}: {final[key]}")
        summary["final"] = final
        save_summary()

    # 5./6. predictor data
    fp_genomes = [Genome.largest(), Genome.smallest(), *_sample(a.n_fp - 2, a.seed)]
    recs = measure_many(fp_net, fp_genomes, x_calib, x_val, y_val, out / "measure_fp.jsonl", log)
    summary["measure_fp_s"] = _measure_seconds(recs)
    summary.setdefault("measure_fp_settings", {"n_calib": a.n_calib, "n_eval": a.n_eval})
    rng = np.random.default_rng(a.seed + 7)
    extra = _sample(a.n_q_subnets - 2, a.seed + 1000)
    subnets = [Genome.largest(), Genome.smallest(), *extra]
    q_genomes = [
        Genome(g.depths, g.kernels, g.expands, pol)
        for g in subnets
        for pol in _policies(a.n_policies, rng)
    ]
    x_calib_q = splits.x_train[: a.n_calib_q]
    x_val_q, y_val_q = splits.x_val[: a.n_eval_q], splits.y_val[: a.n_eval_q]
    recs = measure_many(q_net, q_genomes, x_calib_q, x_val_q, y_val_q, out / "measure_q.jsonl", log)
    summary["measure_q_s"] = _measure_seconds(recs)
    summary.setdefault("measure_q_settings", {"n_calib": a.n_calib_q, "n_eval": a.n_eval_q})
    save_summary()

    # 7. predictors
    from cimkit.accuracy.predictor import fit_predictors

    pred = fit_predictors(out, seed=a.seed, log=log)
    summary["predictors"] = pred
    summary["total_wall_s"] = summary.get("total_wall_s", 0) + round(time.time() - t_start, 1)
    save_summary()
    if a.ship:
        _ship_all(out, summary)
    log(f"done in {time.time() - t_start:.0f}s")
    return 0


def ship_copy(src: Path, ship_dir: Path) -> Path:
    """Copy one artifact into ``ship_dir``; a ``.jsonl`` goes in gzip-compressed as ``.jsonl.gz``.

    The measurement records are shipped as the predictors' provenance, not read at run time;
    thousands of JSON lines (1.7 MB for 2,000 quantized subnets) compress about 15x, which keeps
    the wheel's accuracy data under its 20 MiB budget. The archive's header carries no time stamp
    (``mtime=0``), so the same records always give the same bytes. A stale uncompressed copy of
    the same name is removed.
    """
    if src.suffix != ".jsonl":
        shutil.copy2(src, ship_dir / src.name)
        return ship_dir / src.name
    dst = ship_dir / (src.name + ".gz")
    with open(src, "rb") as fin, open(dst, "wb") as raw:
        with gzip.GzipFile(filename=src.name, mode="wb", fileobj=raw, mtime=0) as fout:
            shutil.copyfileobj(fin, fout)
    (ship_dir / src.name).unlink(missing_ok=True)
    return dst


def _ship_all(out: Path, summary: dict) -> None:
    SHIP_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("supernet_fp.pt", "supernet_q.pt", "predictor_fp.pt", "predictor_q.pt",
                 "predictor_fp.npz", "predictor_q.npz",  # what load_predictor reads, torch-free
                 "measure_fp.jsonl", "measure_q.jsonl"):  # fmt: skip
        if (out / name).is_file():
            ship_copy(out / name, SHIP_DIR)
    _write_manifest(summary)


def _write_manifest(summary: dict) -> None:
    from cimkit.accuracy.train import hardware

    files = {
        f.name: {"bytes": f.stat().st_size}
        for f in sorted(SHIP_DIR.iterdir())
        if f.is_file() and f.name != "manifest.json"
    }
    manifest = {
        "data": "Fashion-MNIST (Debian dataset-fashion-mnist): 55k train / 5k val (seeded split "
        "of the official 60k) / official 10k test",
        "command": "tools/train_accuracy.sh",
        "commit": _git_commit(),
        "python": sys.version.split()[0],
        "host": f"{os.cpu_count()} CPU cores",
        # The machine writing the manifest; each training stage's "sessions" list says where
        # and how long every part of it ran (a run may span sessions and machines).
        "hardware": hardware(),
        "files": files,
        **summary,
    }
    (SHIP_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
