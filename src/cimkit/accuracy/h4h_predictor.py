"""Accuracy predictor of the H4H-NAS hybrid space: measured subnets -> a fitted regressor.

The search scores genomes by predicted accuracy (as H4H-NAS and CIMNAS do); the predictor is
fitted on subnets *measured* on the trained supernet: validation accuracy (the 5,000 images held
out of the training set) after BatchNorm recalibration on 1,024 training images. A seeded 20 %
of the measured subnets is held out and never used to fit or choose the model; its Kendall tau
and RMSE are the predictor's reported quality. The model is the better of cimkit's MLP and
ridge-regression candidates by 4-fold cross-validated tau on the training part
(:func:`cimkit.accuracy.predictor.select_predictor`), on the features of
:func:`cimkit.accuracy.h4h_space.encode`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cimkit.accuracy.h4h_space import H4HGenome, H4HSupernetConfig, SpaceChoices, encode
from cimkit.accuracy.predictor import (
    LINEAR_ALPHAS,
    AccuracyPredictor,
    metrics,
    select_predictor,
)

#: Calibration images of the BN re-estimation before a validation measurement.
N_CALIB = 1024

Log = Callable[[str], None]


def sample_genomes(
    cfg: H4HSupernetConfig, n: int, seed: int = 0, space: SpaceChoices | None = None
) -> list[H4HGenome]:
    """The largest, the smallest, then random genomes of ``space`` (default Table 1) with
    distinct keys (``n`` in all)."""
    rng = np.random.default_rng(seed)
    out = [cfg.largest(), cfg.smallest()]
    seen = {g.key() for g in out}
    while len(out) < n:
        g = cfg.random(rng, space=space)
        if g.key() not in seen:
            seen.add(g.key())
            out.append(g)
    return out[:n]


def read_records(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def measure(
    net: object,
    genomes: list[H4HGenome],
    splits: object,
    path: Path,
    log: Log = print,
    n_calib: int = N_CALIB,
) -> list[dict]:
    """Validation accuracy of each genome's subnet, appended to the jsonl ``path`` one record
    per subnet (``key``, ``genome``, ``acc``); subnets already there are not measured again, so
    an interrupted measurement resumes. Returns the records of ``genomes``, in order."""
    from cimkit.accuracy.train import measure as measure_one

    done = {r["key"]: r for r in read_records(path)}
    x_calib = splits.x_train[:n_calib]  # type: ignore[attr-defined]
    t0, n_new = time.time(), 0
    with Path(path).open("a") as f:
        for i, g in enumerate(genomes):
            k = g.key()
            if k in done:
                continue
            acc = measure_one(net, g, x_calib, splits.x_val, splits.y_val)  # type: ignore[arg-type, attr-defined]
            rec = {"key": k, "genome": g.to_dict(), "acc": acc}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            done[k] = rec
            n_new += 1
            if n_new % 20 == 0:
                rate = (time.time() - t0) / n_new
                log(f"measured {i + 1}/{len(genomes)} subnets ({rate:.1f} s each)")
    return [done[g.key()] for g in genomes]


def _candidates(seed: int) -> dict[str, Callable[[], AccuracyPredictor]]:
    out: dict[str, Callable[[], AccuracyPredictor]] = {
        "mlp": lambda: AccuracyPredictor(
            hidden_size=128, n_layers=2, epochs=800, random_state=seed
        )  # fmt: skip
    }
    for a in LINEAR_ALPHAS:
        out[f"linear_alpha{a:g}"] = lambda a=a: AccuracyPredictor(n_layers=0, alpha=a)
    return out


def fit(records: list[dict], seed: int = 0, holdout: float = 0.2) -> tuple[AccuracyPredictor, dict]:
    """Fit on measured records (module docstring). Returns the predictor (fitted on the
    training part) and its report: chosen model, cross-validation scores, held-out metrics
    (``rmse_pp``, ``kendall_tau``, ``spearman``, ``n``)."""
    gs = [H4HGenome.from_dict(r["genome"]) for r in records]
    X = encode(gs).astype(np.float32)
    y = np.array([r["acc"] for r in records], dtype=np.float32)
    n = len(y)
    rng = np.random.default_rng(seed)
    # the largest and smallest (first two records) stay in the training part
    idx = rng.permutation(np.arange(2, n))
    test = np.zeros(n, dtype=bool)
    test[idx[: max(1, round(holdout * n))]] = True
    sid = np.arange(n)
    cands = _candidates(seed)
    chosen, scores = select_predictor(cands, X[~test], y[~test], sid[~test], seed=seed)
    pred = cands[chosen]().fit(X[~test], y[~test])
    info = {
        "model": chosen,
        "selection": scores,
        "heldout": metrics(y[test], pred.predict(X[test])),
        "train": metrics(y[~test], pred.predict(X[~test])),
        "n_train": int((~test).sum()),
        "acc_range": [float(y.min()), float(y.max())],
    }
    return pred, info


def predict(pred: AccuracyPredictor, genomes: list[H4HGenome]) -> np.ndarray:
    """(N,) predicted validation accuracy (fractions)."""
    return pred.predict(encode(genomes).astype(np.float32)).astype(np.float64)
