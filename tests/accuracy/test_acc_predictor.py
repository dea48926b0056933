"""Accuracy predictor: scikit-learn conventions, determinism, widening, shipped artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimkit.accuracy import encoding as enc
from cimkit.accuracy.predictor import (
    DATA_DIR,
    AccuracyPredictor,
    NotFittedError,
    load_predictor,
    metrics,
    predict_accuracy,
)


def _toy(n: int, seed: int, quantized: bool) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy that grows with depth/kernel/expand and bits (a learnable toy target)."""
    d, k, e, b = enc.random_arrays(n, np.random.default_rng(seed), quantized)
    act = enc.active_slots(d)
    y = 0.80 + 0.002 * ((k + e) * act).sum(1) / 10
    if b is not None:
        y -= 0.004 * ((8 - b.mean(2)) * act).sum(1) / 4
    return enc.encode(d, k, e, b), y.astype(np.float32)


def test_sklearn_conventions() -> None:
    p = AccuracyPredictor(hidden_size=16, epochs=5, random_state=3)
    assert p.get_params()["random_state"] == 3 and not hasattr(p, "coefs_")
    with pytest.raises(NotFittedError):
        p.predict(np.zeros((1, enc.ARCH_DIM)))
    x, y = _toy(40, 0, False)
    assert p.fit(x, y) is p and p.n_features_in_ == enc.ARCH_DIM
    assert p.predict(x).shape == (40,)
    assert p.set_params(epochs=7).epochs == 7


def test_learns_and_is_deterministic() -> None:
    x, y = _toy(300, 0, False)
    xt, yt = _toy(100, 1, False)
    a = AccuracyPredictor(hidden_size=64, epochs=200, random_state=0).fit(x, y)
    b = AccuracyPredictor(hidden_size=64, epochs=200, random_state=0).fit(x, y)
    assert np.array_equal(a.predict(xt), b.predict(xt))
    m = metrics(yt, a.predict(xt))
    assert m["kendall_tau"] > 0.7, m


def test_widened_predictor_starts_as_the_fp_one(tmp_path: Path) -> None:
    import torch

    x, y = _toy(100, 0, False)
    fp = AccuracyPredictor(hidden_size=32, epochs=50).fit(x, y)
    xq, yq = _toy(100, 2, True)
    q0 = AccuracyPredictor(hidden_size=32, epochs=0, init_predictor=fp).fit(xq, yq)
    assert np.allclose(q0.predict(xq), fp.predict(xq[:, : enc.ARCH_DIM]), atol=1e-5)
    q = AccuracyPredictor(hidden_size=32, epochs=100, init_predictor=fp).fit(xq, yq)
    assert q.n_features_in_ == enc.ARCH_DIM + enc.QUANT_DIM
    q.save(tmp_path / "q.pt")
    r = AccuracyPredictor.from_state_dict(torch.load(tmp_path / "q.pt", weights_only=True))
    assert np.array_equal(r.predict(xq), q.predict(xq))


shipped = pytest.mark.skipif(
    not (DATA_DIR / "predictor_q.pt").is_file(), reason="artifacts not trained yet"
)


@shipped
def test_shipped_predictors_answer_for_any_genome() -> None:
    for quantized in (False, True):
        d, k, e, b = enc.random_arrays(1000, np.random.default_rng(0), quantized)
        acc = predict_accuracy(d, k, e, b)
        assert acc.shape == (1000,) and np.isfinite(acc).all()
        assert (acc > 0.3).all() and (acc < 1.0).all()
    assert isinstance(load_predictor("fp"), AccuracyPredictor)


@shipped
def test_shipped_artifacts_are_small_and_documented() -> None:
    manifest = json.loads((DATA_DIR / "manifest.json").read_text())
    for key in ("data", "command", "commit", "config", "predictors", "final"):
        assert key in manifest, key
    # every shipped accuracy file, the resnet50/ folder included (what the wheel carries)
    total = sum(f.stat().st_size for f in DATA_DIR.rglob("*") if f.is_file())
    assert total < 20 * 2**20, total
