"""Resumable accuracy pipeline of the elastic ResNet (``resnet50`` family): supernet -> QAT ->
measurements -> predictors, the counterpart of :mod:`cimkit.accuracy.pipeline` (MobileNetV2).

``python -m cimkit.accuracy.resnet_pipeline --out runs/accuracy-resnet50`` (what
``tools/train_accuracy.sh --family resnet50`` runs). Every stage writes its result into ``--out``
and is skipped when it exists; training resumes from its checkpoints, measurements from their
JSON lines. ``--ship`` copies the predictors (``.npz``, read without torch), the QAT supernet and
the measurements (gzipped) to ``src/cimkit/data/accuracy/resnet50/`` with a ``manifest.json``.

Stages:
  1. supernet_fp  sandwich-rule training (largest + smallest + 2 random, in-place distillation)
  2. supernet_q   quantization-aware fine-tuning with random per-stage policies (copy of 1)
  3. final        test accuracy of the largest / smallest subnet (FP, 8 and 4 bit)
  4. measure_fp   validation accuracy of random FP subnets (BN recalibrated; cached jsonl)
  5. measure_q    random subnets x policies on the QAT supernet (cached jsonl)
  6. predictors   FP and quantized, the MLP or ridge by cross-validation (held-out RMSE / tau)

Predictor features (:func:`encode`): one-hot per-stage depth (the space's choices per stage),
per-stage expand, width, and with bits one-hot per stage and gene (conv_w, conv_a, pw_w, pw_a).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cimkit.accuracy.pipeline import ship_copy
from cimkit.accuracy.resnet_space import GENES, ResNetGenome, ResNetSupernetConfig
from cimkit.errors import CimkitError

#: Where ``--ship`` puts the resnet50 artifacts (beside, never over, the MobileNetV2 ones).
SHIP_DIR = Path(__file__).resolve().parents[1] / "data" / "accuracy" / "resnet50"
NPZ_FILES = {"fp": "predictor_fp.npz", "q": "predictor_q.npz"}
#: The command that produces the shipped resnet50 predictors (named in error messages).
TRAIN_COMMAND = "tools/train_accuracy.sh --family resnet50"


# --------------------------------------------------------------------------- encoding
def _onehot(values: np.ndarray, choices: Sequence[float], name: str) -> np.ndarray:
    """(N,) values -> (N, len(choices)) float32 one-hot; CimkitError naming ``name`` otherwise."""
    ch = np.asarray(choices, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    hit = np.isclose(v[:, None], ch[None, :])
    bad = ~hit.any(1)
    if bad.any():
        raise CimkitError(
            f"{name}: {sorted(set(v[bad].tolist()))} not among the predictor's choices "
            f"{list(choices)}; retrain it on this space ({TRAIN_COMMAND})"
        )
    return hit.astype(np.float32)


def encode_arrays(
    cfg: ResNetSupernetConfig,
    depths: np.ndarray,
    expands: np.ndarray,
    width: np.ndarray,
    bits: np.ndarray | None = None,
) -> np.ndarray:
    """One-hot features (N, F): depths (N, 4), expands (N, 4), width (N,), bits (N, 4, 4)
    per stage (conv_w, conv_a, pw_w, pw_a) or None (architecture features only)."""
    cols = [_onehot(depths[:, s], cfg.depth_choices[s], f"depth_s{s}") for s in range(4)]
    cols += [_onehot(expands[:, s], cfg.expand_choices, f"expand_s{s}") for s in range(4)]
    cols.append(_onehot(width, cfg.width_choices, "width"))
    if bits is not None:
        cols += [
            _onehot(bits[:, s, g], cfg.bit_choices, f"{GENES[g]}_s{s}")
            for s in range(4)
            for g in range(4)
        ]
    return np.concatenate(cols, 1)


def encode(cfg: ResNetSupernetConfig, genomes: Sequence[ResNetGenome], quantized: bool):  # type: ignore[no-untyped-def]
    """Features (N, F) of genomes (bits used only when ``quantized``)."""
    d = np.array([g.depths for g in genomes], dtype=np.float64).reshape(-1, 4)
    e = np.array([g.expands for g in genomes], dtype=np.float64).reshape(-1, 4)
    w = np.array([g.width for g in genomes], dtype=np.float64)
    b = None
    if quantized:
        b = np.array([g.bits for g in genomes], dtype=np.float64).reshape(-1, 4, 4)
    return encode_arrays(cfg, d, e, w, b)


def arrays_of_values(values: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """depths (N, 4), expands (N, 4), width (N,), bits (N, 4, 4) of decoded family genes."""
    d = np.stack([values[f"depth_s{s}"] for s in range(4)], 1)
    e = np.stack([values[f"expand_s{s}"] for s in range(4)], 1)
    b = np.stack([np.stack([values[f"{g}_s{s}"] for g in GENES], 1) for s in range(4)], 1)
    return d, e, np.asarray(values["width"]), b


# --------------------------------------------------------------------------- shipped predictor
def shipped_config(ship_dir: Path | None = None) -> ResNetSupernetConfig | None:
    """The config of the shipped resnet50 supernet/predictors, None when nothing is shipped."""
    m = (ship_dir or SHIP_DIR) / "manifest.json"
    if not m.is_file() or not ((ship_dir or SHIP_DIR) / NPZ_FILES["q"]).is_file():
        return None
    return ResNetSupernetConfig.from_dict(json.loads(m.read_text())["config"])


def has_shipped_predictor(ship_dir: Path | None = None) -> bool:
    """Whether a trained resnet50 predictor (``.npz`` + manifest) is shipped."""
    return shipped_config(ship_dir) is not None


_CACHE: dict[tuple[str, str], object] = {}


def predict_values(values: dict[str, np.ndarray], ship_dir: Path | None = None) -> np.ndarray:
    """Predicted top-1 (N,) fractions of decoded ``resnet50`` genes with the shipped quantized
    predictor (numpy only).

    Raises:
        CimkitError: no predictor shipped (names the command that trains it), or a gene value
            the predictor was not trained on.
    """
    from cimkit.accuracy.predictor import AccuracyPredictor

    d = ship_dir or SHIP_DIR
    cfg = shipped_config(d)
    if cfg is None:
        raise CimkitError(
            f"resnet50: no accuracy predictor in {d} yet; train it with {TRAIN_COMMAND} (hours "
            "on 2 cores, docs/accuracy.md) or use accuracy.source constant/callable"
        )
    key = (str(d), "q")
    if key not in _CACHE:
        _CACHE[key] = AccuracyPredictor.from_npz(d / NPZ_FILES["q"])
    pred = _CACHE[key]
    depths, exps, width, bits = arrays_of_values(values)
    return pred.predict(encode_arrays(cfg, depths, exps, width, bits))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- predictors
def _arch_key(g: ResNetGenome) -> tuple:
    """(depths, expands, width): a subnet without its quantization policy."""
    return (tuple(g.depths), tuple(g.expands), g.width)


def records_arrays(
    cfg: ResNetSupernetConfig, records: list[dict], quantized: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple]]:
    """(X (N, F), y (N,), subnet id (N,), networks) of measurement records: all policies of one
    subnet share an id, and ``networks[sid[i]]`` is row i's :func:`_arch_key`."""
    gs = [ResNetGenome.from_dict(r["genome"]) for r in records]
    keys: dict[tuple, int] = {}
    sid = np.array([keys.setdefault(_arch_key(g), len(keys)) for g in gs], dtype=np.int64)
    y = np.array([r["acc"] for r in records], dtype=np.float32)
    return encode(cfg, gs, quantized), y, sid, list(keys)


def test_offsets(out: Path, cfg: ResNetSupernetConfig) -> dict[str, dict[str, float]]:
    """{"fp"/"q": {reference: test - val accuracy}} of the reference subnets that were measured
    on both splits: the ``final`` stage (test split, summary.json) against the same genome's
    record in measure_{fp,q}.jsonl (validation split). FP: largest and smallest; quantized: the
    largest at 8 bit and the smallest at 4 bit (the two extremes the measurements start with)."""
    from cimkit.accuracy.predictor import _read_jsonl

    summ = out / "summary.json"
    final = json.loads(summ.read_text()).get("final", {}) if summ.is_file() else {}
    res: dict[str, dict[str, float]] = {}
    for kind, name in (("fp", "measure_fp.jsonl"), ("q", "measure_q.jsonl")):
        if not (out / name).is_file():
            continue
        val = {json.dumps(r["genome"], sort_keys=True): float(r["acc"])
               for r in _read_jsonl(out / name)}  # fmt: skip
        for ext, make in (("largest", cfg.largest), ("smallest", cfg.smallest)):
            for bits in (None, 8, 4):
                key = f"{ext}_{'fp' if bits is None else f'{bits}bit'}"
                if (bits is None) != (kind == "fp") or not isinstance(final.get(key), float):
                    continue
                g = make(None if bits is None else ((bits,) * 4,) * 4)
                v = val.get(json.dumps(g.to_dict(), sort_keys=True))
                if v is not None:
                    res.setdefault(kind, {})[key] = float(final[key]) - v
    return res


def fit_predictors(
    out: Path,
    cfg: ResNetSupernetConfig,
    seed: int = 0,
    holdout: float = 0.2,
    epochs: int = 600,
    log: Callable[[str], None] = print,
    test_offset: bool = True,
) -> dict:
    """Fit the FP and quantized predictors on ``out``/measure_{fp,q}.jsonl exactly as the
    MobileNetV2 pipeline does (:func:`cimkit.accuracy.predictor.fit_predictors`: held-out = a
    seeded ``holdout`` fraction of the subnets, all policies of a held-out subnet held out,
    largest and smallest always train; the model -- the paper's MLP or ridge -- chosen by 4-fold
    subnet-grouped cross-validation on the training split; the shipped output shifted by the
    test - val offset of the reference subnets, :func:`test_offsets`). ``epochs``: both MLPs'
    epochs when not the default 600 (then the quantized one trains 400). Writes
    ``out``/predictor_{fp,q}.{pt,npz}; returns the metrics."""
    from cimkit.accuracy.predictor import fit_predictors as fit

    arch_dim = encode(cfg, [cfg.largest()], False).shape[1]
    return fit(
        out, seed=seed, holdout=holdout, log=log, mlp=None if epochs == 600 else {"epochs": epochs},
        test_offset=test_offset, arrays=lambda recs, q: records_arrays(cfg, recs, q),
        offsets=test_offsets(out, cfg), arch_dim=arch_dim,
    )  # fmt: skip


# --------------------------------------------------------------------------- pipeline
def _sample(cfg: ResNetSupernetConfig, n: int, seed: int, quantized: bool) -> list[ResNetGenome]:
    """``n`` random genomes, the i-th a function of (seed, i) only (a larger sample extends a
    smaller one, so its cached measurements are re-used)."""
    return [cfg.random(np.random.default_rng([seed, i]), quantized) for i in range(max(0, n))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/accuracy-resnet50"))
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=0.25, help="width scale of the proxy")
    p.add_argument(
        "--stem", choices=("small", "small2"), default="small2",
        help="3x3 stem of stride 1 (small) or 2 (small2: 28 -> 14 px, ~5x cheaper per step)",
    )  # fmt: skip
    p.add_argument("--epochs-fp", type=float, default=8.0)
    p.add_argument("--epochs-q", type=float, default=1.0)
    p.add_argument("--steps-fp", type=int, default=None, help="overrides --epochs-fp")
    p.add_argument("--steps-q", type=int, default=None, help="overrides --epochs-q")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--distill", type=float, default=0.5)
    p.add_argument("--compact-dir", type=Path, default=None)
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--n-fp", type=int, default=1000, help="FP subnets measured")
    p.add_argument("--n-q", type=int, default=1000, help="quantized subnets x policies measured")
    p.add_argument("--n-calib", type=int, default=2048)
    p.add_argument("--n-eval", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=0, help="test images of 'final' (0 = all)")
    p.add_argument("--predictor-epochs", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ship", action="store_true", help=f"copy artifacts to {SHIP_DIR}")
    p.add_argument("--ship-dir", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    import torch

    from cimkit.accuracy import data as data_mod
    from cimkit.accuracy import train as tr_summary
    from cimkit.accuracy.resnet_supernet import ResNetSupernet, measure_many
    from cimkit.accuracy.supernet import load_state, state_dict_fp16
    from cimkit.accuracy.train import TrainArgs, accuracy, hardware, recalibrate, train_supernet

    torch.set_num_threads(a.threads)
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    cdir: Path | None = a.compact_dir
    if cdir is not None:
        cdir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}"
        print(line, flush=True)
        for d in [out] + ([cdir] if cdir is not None else []):
            with (d / "log.txt").open("a") as f:
                f.write(line + "\n")

    t_start = time.time()
    splits = data_mod.load(a.data, seed=a.seed)
    cfg = ResNetSupernetConfig(scale=a.scale, stem=a.stem, num_classes=splits.num_classes,
                               in_channels=splits.x_train.shape[1],
                               resolution=splits.x_train.shape[-1])  # fmt: skip
    log(f"resnet50 proxy: data {splits.describe()}; config {cfg.to_dict()}")
    summary = tr_summary.open_summary(out, a, cfg.to_dict())

    def save_summary() -> None:
        tr_summary.save_summary(summary, out, cdir)

    spe = max(1, len(splits.y_train) // a.batch_size)
    steps_fp = a.steps_fp if a.steps_fp is not None else round(a.epochs_fp * spe)
    steps_q = a.steps_q if a.steps_q is not None else round(a.epochs_q * spe)
    fp_path, q_path = out / "supernet_fp.pt", out / "supernet_q.pt"

    def compact(name: str) -> Path | None:
        return None if cdir is None else cdir / name

    def new() -> ResNetSupernet:
        torch.manual_seed(a.seed)
        return ResNetSupernet(cfg)

    # 1. FP supernet
    if not fp_path.is_file():
        net = new()
        targs = TrainArgs(steps=steps_fp, batch_size=a.batch_size, lr=a.lr,
                          warmup=min(a.warmup, steps_fp), seed=a.seed, distill=a.distill,
                          ckpt_every=50, ckpt_minutes=a.ckpt_minutes)  # fmt: skip
        res = train_supernet(
            net, splits.x_train, splits.y_train, targs, out / "ckpt_fp.pt", log,  # type: ignore[arg-type]
            sample=lambda r: cfg.sandwich(r, False), compact=compact("supernet_fp.ckpt.pt"),
        )  # fmt: skip
        torch.save(state_dict_fp16(net), fp_path)
        summary["supernet_fp"] = {**res, "train_args": asdict(targs)}
        save_summary()
    # 2. QAT
    if not q_path.is_file():
        net = new()
        load_state(net, torch.load(fp_path, weights_only=True))
        targs = TrainArgs(steps=steps_q, batch_size=a.batch_size, lr=5e-4,
                          warmup=min(20, steps_q), quantized=True, seed=a.seed + 1, distill=0.0,
                          ckpt_every=25, ckpt_minutes=a.ckpt_minutes)  # fmt: skip
        res = train_supernet(
            net, splits.x_train, splits.y_train, targs, out / "ckpt_q.pt", log,  # type: ignore[arg-type]
            sample=lambda r: cfg.sandwich(r, True), compact=compact("supernet_q.ckpt.pt"),
        )  # fmt: skip
        torch.save(state_dict_fp16(net), q_path)
        summary["supernet_q"] = {**res, "train_args": asdict(targs)}
        save_summary()
    fp_net, q_net = new(), new()
    load_state(fp_net, torch.load(fp_path, weights_only=True))
    load_state(q_net, torch.load(q_path, weights_only=True))
    x_calib = splits.x_train[: a.n_calib]
    x_val, y_val = splits.x_val[: a.n_eval], splits.y_val[: a.n_eval]
    n_test = a.n_test or len(splits.y_test)
    # 3. extremes on the test split
    if "final" not in summary:
        final = {}
        for name, make in (("largest", cfg.largest), ("smallest", cfg.smallest)):
            for bits in (None, 8, 4):
                g = make(None if bits is None else ((bits,) * 4,) * 4)
                net = fp_net if bits is None else q_net
                recalibrate(net, g, x_calib)  # type: ignore[arg-type]
                key = f"{name}_{'fp' if bits is None else f'{bits}bit'}"
                final[key] = accuracy(net, splits.x_test[:n_test], splits.y_test[:n_test])
                log(f"final {key}: test {final[key]:.4f}")
        summary["final"] = final
        save_summary()
    # 4./5. measurements (cached, resumable)
    fp_g = [cfg.largest(), cfg.smallest(), *_sample(cfg, a.n_fp - 2, a.seed, False)]
    measure_many(fp_net, fp_g, x_calib, x_val, y_val, out / "measure_fp.jsonl", log)
    q_g = [cfg.largest(((8,) * 4,) * 4), cfg.smallest(((4,) * 4,) * 4)]
    q_g += _sample(cfg, a.n_q - 2, a.seed + 1000, True)
    measure_many(q_net, q_g, x_calib, x_val, y_val, out / "measure_q.jsonl", log)
    # 6. predictors
    summary["predictors"] = fit_predictors(out, cfg, a.seed, epochs=a.predictor_epochs, log=log)
    summary["total_wall_s"] = summary.get("total_wall_s", 0) + round(time.time() - t_start, 1)
    summary["hardware"] = hardware()
    save_summary()
    if a.ship:
        ship = a.ship_dir or SHIP_DIR
        ship.mkdir(parents=True, exist_ok=True)
        # Not the FP supernet (re-measurement runs on the QAT one) nor the FP predictor (the
        # family's searches read the quantized one): the package's accuracy data stay under
        # 20 MiB. Both are kept with the committed compact checkpoints (--compact-dir).
        names = ("supernet_q.pt", "predictor_q.npz", "measure_fp.jsonl", "measure_q.jsonl")
        if cdir is not None:
            shutil.copyfile(out / NPZ_FILES["fp"], cdir / NPZ_FILES["fp"])
        files = {}
        for n in names:
            dst = ship_copy(out / n, ship)
            files[dst.name] = {"bytes": dst.stat().st_size}
        manifest = {"family": "resnet50", "command": TRAIN_COMMAND, "files": files,
                    "python": sys.version.split()[0], **summary}  # fmt: skip
        (ship / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        log(f"shipped to {ship}")
    log(f"done in {time.time() - t_start:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
