"""Linear (ridge) accuracy predictor and the cross-validated choice between it and the MLP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimkit.accuracy import encoding as enc
from cimkit.accuracy.predictor import (
    AccuracyPredictor,
    fit_predictors,
    group_folds,
    load_predictor,
    select_predictor,
)

#: A small MLP candidate: these tests check the plumbing, not the paper's 3 x 400 model.
SMALL_MLP = {"hidden_size": 16, "epochs": 30}


def _linear_data(n: int, seed: int, quantized: bool, noise: float = 0.0):
    d, k, e, b = enc.random_arrays(n, np.random.default_rng(seed), quantized)
    x = enc.encode(d, k, e, b)
    w = np.random.default_rng(99).normal(0, 0.002, x.shape[1])
    y = 0.9 + x @ w + np.random.default_rng(seed + 1).normal(0, noise, n)
    return (d, k, e, b), x, y.astype(np.float32)


def test_linear_fit_is_the_ridge_closed_form() -> None:
    """Against the normal equations written out by hand on a small dense problem."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = (0.8 + x @ np.array([0.01, -0.02, 0.0, 0.005]) + rng.normal(0, 1e-3, 30)).astype(np.float32)
    p = AccuracyPredictor(n_layers=0, alpha=2.0).fit(x, y)
    xm, ym, ys = x.astype(float).mean(0), float(y.mean()), float(y.std())
    xc = x - xm
    w = np.linalg.inv(xc.T @ xc + 2.0 * np.eye(4)) @ xc.T @ ((y - ym) / ys)
    expect = ((x - xm) @ w) * ys + ym
    assert np.allclose(p.predict(x), expect, atol=1e-6)
    # alpha -> 0 is least squares: the noise-free part is recovered almost exactly
    p0 = AccuracyPredictor(n_layers=0, alpha=1e-9).fit(x, y)
    assert np.abs(p0.predict(x) - y).max() < 4e-3


def test_linear_predictor_tables_npz_and_errors(tmp_path: Path) -> None:
    for quantized in (False, True):
        (d, k, e, b), x, y = _linear_data(300, 0, quantized)
        p = AccuracyPredictor(n_layers=0, alpha=1.0).fit(x, y)
        # the per-slot table path equals the dense one-hot product
        assert np.allclose(p.predict_genomes(d, k, e, b), p.predict(x), atol=1e-5)
        p.save_npz(tmp_path / "p.npz")
        r = load_predictor(path=tmp_path / "p.npz")
        assert r.n_layers == 0 and r.alpha == 1.0
        assert np.array_equal(r.predict(x), p.predict(x))
    with pytest.raises(ValueError, match="alpha"):
        AccuracyPredictor(n_layers=0, alpha=0.0).fit(x, y)
    with pytest.raises(ValueError, match="init_predictor"):
        AccuracyPredictor(n_layers=0, init_predictor=p).fit(x, y)
    with pytest.raises(ValueError, match="depth"):  # an MLP cannot start from a linear model
        AccuracyPredictor(hidden_size=8, epochs=1, init_predictor=p).fit(x, y)


def test_group_folds_keep_subnets_together() -> None:
    sid = np.repeat(np.arange(10), 3)
    folds = group_folds(sid, 4, seed=0)
    assert sum(f.sum() for f in folds) == 30 and not np.any(np.sum(folds, axis=0) != 1)
    for f in folds:
        assert not set(sid[f]) & set(sid[~f])


def test_selection_prefers_the_model_that_generalizes() -> None:
    """Noisy linear labels: the ridge model ranks unseen rows better than an interpolating MLP;
    select_predictor scores every candidate and returns the argmax of the CV tau."""
    _, x, y = _linear_data(400, 1, False, noise=0.002)
    sid = np.arange(len(y))
    cands = {
        "mlp": lambda: AccuracyPredictor(hidden_size=32, epochs=200, weight_decay=0.0),
        "linear": lambda: AccuracyPredictor(n_layers=0, alpha=10.0),
    }
    best, scores = select_predictor(cands, x, y, sid, k=4, seed=0)
    assert set(scores) == {"mlp", "linear"}
    assert best == max(scores, key=lambda n: scores[n]["cv_tau"]) == "linear"
    with pytest.raises(ValueError, match="2 distinct"):
        select_predictor(cands, x[:3], y[:3], np.zeros(3, int))


def test_fit_predictors_records_the_choice(tmp_path: Path) -> None:
    """The whole fit on a small measured-like run: both files written, choice documented."""
    for name, quantized, n in (("measure_fp.jsonl", False, 60), ("measure_q.jsonl", True, 80)):
        (d, k, e, b), _, y = _linear_data(n, 3 if quantized else 2, quantized, noise=0.001)
        lines = []
        for i in range(n):
            g = enc.Genome(
                tuple(int(v) for v in d[i]), tuple(int(v) for v in k[i]),
                tuple(int(v) for v in e[i]),
                None if b is None else tuple(tuple(int(v) for v in r) for r in b[i]),
            )  # fmt: skip
            lines.append(json.dumps({"genome": g.to_dict(), "acc": float(y[i])}))
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    res = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP)
    for kind in ("fp", "q"):
        info = res[kind]
        assert info["model"] in info["selection"]
        best = max(info["selection"], key=lambda n: info["selection"][n]["cv_tau"])
        assert info["model"] == best
        p = load_predictor(path=tmp_path / f"predictor_{kind}.npz")
        assert p.n_layers == (3 if info["model"] == "mlp" else 0)


def test_search_labels_join_training_only(tmp_path: Path) -> None:
    """measure_q_search.jsonl rows are training rows; one of a held-out network is dropped."""
    recs = {}
    for name, quantized, n in (("measure_fp.jsonl", False, 40), ("measure_q.jsonl", True, 60)):
        (d, k, e, b), _, y = _linear_data(n, 5 if quantized else 4, quantized, noise=0.001)
        recs[name] = [
            {
                "genome": enc.Genome(
                    tuple(int(v) for v in d[i]), tuple(int(v) for v in k[i]),
                    tuple(int(v) for v in e[i]),
                    None if b is None else tuple(tuple(int(v) for v in r) for r in b[i]),
                ).to_dict(),
                "acc": float(y[i]),
            }
            for i in range(n)
        ]  # fmt: skip
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in recs[name]) + "\n")
    base = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP)
    assert "n_search_labels" not in base["q"]
    # every quantized network once more, with another policy: the held-out ones must be dropped
    extra = []
    for r in recs["measure_q.jsonl"]:
        g = dict(r["genome"])
        g["bits"] = [[4, 4, 4, 4]] * 20
        extra.append({"genome": g, "acc": r["acc"] - 0.01})
    (tmp_path / "measure_q_search.jsonl").write_text("\n".join(json.dumps(r) for r in extra))
    res = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP)
    q = res["q"]
    n_held = q["heldout"]["n"]
    assert q["n_search_labels_dropped"] == n_held > 0
    assert q["n_search_labels"] == 60 - n_held
    assert q["n_train"] == base["q"]["n_train"]  # the random training split is unchanged
    assert q["heldout"]["n"] == base["q"]["heldout"]["n"]


def test_test_split_offset_is_the_mean_reference_gap(tmp_path: Path) -> None:
    """With the pipeline's final stage in summary.json, each predictor is shifted by the mean
    (test - val) of its reference subnets; metrics stay those of the unshifted fit."""
    for name, quantized, n in (("measure_fp.jsonl", False, 40), ("measure_q.jsonl", True, 40)):
        (d, k, e, b), _, y = _linear_data(n, 7 if quantized else 6, quantized)
        lines = [
            json.dumps({"genome": enc.Genome(
                tuple(int(v) for v in d[i]), tuple(int(v) for v in k[i]),
                tuple(int(v) for v in e[i]),
                None if b is None else tuple(tuple(int(v) for v in r) for r in b[i]),
            ).to_dict(), "acc": float(y[i])})
            for i in range(n)
        ]  # fmt: skip
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    plain = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP)
    ref = {kind: load_predictor(path=tmp_path / f"predictor_{kind}.npz") for kind in ("fp", "q")}
    final = {
        "largest_fp": {"test": 0.93, "val": 0.94},  # FP: -1.0 and -0.4 -> -0.7 pp
        "smallest_fp": {"test": 0.92, "val": 0.924},
        "largest_8bit": {"test": 0.92, "val": 0.922},  # quantized: -0.2 and -0.6 -> -0.4 pp
        "smallest_4bit": {"test": 0.86, "val": 0.866},
        "largest_4bit_no_qat": {"test": 0.87},  # no val: not a reference
    }
    (tmp_path / "summary.json").write_text(json.dumps({"final": final}))
    res = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP)
    for kind, shift in (("fp", -0.007), ("q", -0.004)):
        assert res[kind]["test_offset_pp"] == pytest.approx(100 * shift)
        assert len(res[kind]["test_offset_from"]) == 2
        assert res[kind]["heldout"] == plain[kind]["heldout"]
        (d, k, e, b), x, _ = _linear_data(30, 11, kind == "q")
        p = load_predictor(path=tmp_path / f"predictor_{kind}.npz")
        assert np.allclose(p.predict(x), ref[kind].predict(x) + shift, atol=1e-6)
    off = fit_predictors(tmp_path, seed=0, log=lambda m: None, mlp=SMALL_MLP, test_offset=False)
    assert "test_offset_pp" not in off["q"]
