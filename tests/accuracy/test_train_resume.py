"""Resumable training, the distillation loss, epoch data order and the measurement cache.

Tiny width-0.25 supernet on the synthetic data; a few seconds in all.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cimkit.accuracy import data
from cimkit.accuracy import train as tr
from cimkit.accuracy.encoding import Genome
from cimkit.accuracy.supernet import Supernet, SupernetConfig
from cimkit.errors import CimkitError

torch.set_num_threads(1)
CFG = SupernetConfig(width=0.25, stem_stride=2)
QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def splits() -> data.Splits:
    return data.load("synthetic")


def _args(**kw) -> tr.TrainArgs:
    base = {"steps": 4, "batch_size": 8, "seed": 3, "warmup": 1, "ckpt_every": 100}
    return tr.TrainArgs(**{**base, **kw})


def _net() -> Supernet:
    torch.manual_seed(0)
    return Supernet(CFG)


@pytest.mark.slow  # ~5 s idle, 17 s on the shared 2 cores
def test_resume_anywhere_equals_uninterrupted(splits: data.Splits, tmp_path: Path) -> None:
    """k steps in one go == j steps, stop (process dies), fresh net, resume, k - j steps."""
    x, y = splits.x_train, splits.y_train
    ref = _net()
    tr.train_supernet(ref, x, y, _args(), None, **QUIET)
    ck, small = tmp_path / "c.pt", tmp_path / "c.compact.pt"
    # j = 3 is not a multiple of ckpt_every: stopping writes the checkpoint anyway
    first = tr.train_supernet(_net(), x, y, _args(), ck, compact=small, until=3, **QUIET)
    assert first["steps"] == 3 and ck.is_file() and small.is_file()
    resumed = _net()  # a fresh process: initial weights, no state
    res = tr.train_supernet(resumed, x, y, _args(), ck, compact=small, **QUIET)
    assert res["steps"] == 4 and [s["to_step"] for s in res["sessions"]] == [3, 4]
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # The compact checkpoint (float16 weights, bfloat16 moments) is about half the size and
    # resumes to nearly the same weights.
    assert small.stat().st_size < 0.6 * ck.stat().st_size
    ck.unlink()
    approx = _net()
    tr.train_supernet(approx, x, y, _args(), None, compact=small, **QUIET)
    w_ref, w_apx = ref.classifier.weight, approx.classifier.weight
    assert not torch.equal(w_ref, w_apx)
    assert torch.allclose(w_ref, w_apx, atol=2e-3)


def test_checkpoint_of_other_settings_is_refused(splits: data.Splits, tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    tr.train_supernet(_net(), splits.x_train, splits.y_train, _args(), ck, until=1, **QUIET)
    with pytest.raises(CimkitError, match=r"other settings \(lr"):
        tr.train_supernet(_net(), splits.x_train, splits.y_train, _args(lr=1e-2), ck, **QUIET)


def test_sandwich_loss_arithmetic() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0])
    teacher = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    # by hand: log-softmax rows
    ls = [[2 - math.log(math.e**2 + 1), -math.log(math.e**2 + 1)],
          [-math.log(1 + math.e), 1 - math.log(1 + math.e)]]  # fmt: skip
    ce = -(ls[0][0] + ls[1][0]) / 2
    kl = (
        sum(
            t * (math.log(t) - lp)
            for row_t, row_l in zip(teacher.tolist(), ls, strict=True)
            for t, lp in zip(row_t, row_l, strict=True)
        )
        / 2
    )  # batchmean
    got = tr.sandwich_loss(logits, y, teacher, distill=0.25)
    assert float(got) == pytest.approx(0.75 * ce + 0.25 * kl, rel=1e-6)
    assert float(tr.sandwich_loss(logits, y, None, distill=0.25)) == pytest.approx(ce, rel=1e-6)
    assert float(tr.sandwich_loss(logits, y, teacher, 0.0)) == pytest.approx(ce, rel=1e-6)
    # a student equal to its teacher pays only the label term
    same = tr.sandwich_loss(logits, y, torch.softmax(logits, 1), distill=1.0)
    assert float(same) == pytest.approx(0.0, abs=1e-6)


def test_epoch_order_is_a_permutation_per_epoch() -> None:
    order = tr._EpochOrder(10, 3, seed=0)  # 3 batches per epoch, one image dropped
    for epoch in range(2):
        seen = np.concatenate([order.batch(epoch * 3 + i) for i in range(3)])
        assert len(seen) == 9 and len(set(seen.tolist())) == 9
    assert not np.array_equal(order.batch(0), order.batch(3))  # reshuffled
    assert np.array_equal(order.batch(4), tr._EpochOrder(10, 3, seed=0).batch(4))  # step only


def test_measurement_cache(splits: data.Splits, tmp_path: Path, monkeypatch) -> None:
    net = _net()
    xc, xe, ye = splits.x_train[:16], splits.x_val[:20], splits.y_val[:20]
    g = Genome.smallest()
    # differs from g only in the genes of inactive slots (depth 2: slots 2, 3 of each stage)
    k = list(g.kernels)
    k[2] = 7
    twin = Genome(g.depths, tuple(k), g.expands)
    assert tr.genome_key(g) == tr.genome_key(twin)
    out = tmp_path / "m.jsonl"
    calls: list[Genome] = []
    real = tr.measure

    def counting(net, genome, *a):
        calls.append(genome)
        return real(net, genome, *a)

    monkeypatch.setattr(tr, "measure", counting)
    first = tr.measure_many(net, [g, Genome.largest(), twin], xc, xe, ye, out, **QUIET)
    assert len(calls) == 2 and first[0] == first[2]  # the twin was a cache hit
    assert len(out.read_text().splitlines()) == 2
    again = tr.measure_many(net, [Genome.largest(), twin], xc, xe, ye, out, **QUIET)
    assert len(calls) == 2 and again == [first[1], first[0]]  # all from the file
    assert first[0]["acc"] == real(net, g, xc, xe, ye)  # the cached number is the measurement
    with pytest.raises(CimkitError, match="another supernet or other images"):
        tr.measure_many(net, [g], xc, xe[:10], ye[:10], out, **QUIET)


def test_progress_evaluations_do_not_change_training(splits: data.Splits) -> None:
    x, y = splits.x_train, splits.y_train
    plain = _net()
    tr.train_supernet(plain, x, y, _args(steps=2), None, **QUIET)
    watched = _net()
    ev = tr.progress_eval(x[:16], splits.x_val[:20], splits.y_val[:20], [Genome.smallest()])
    res = tr.train_supernet(watched, x, y, _args(steps=2, eval_every=1), None, evaluate=ev,
                            **QUIET)  # fmt: skip
    assert [e["step"] for e in res["evals"]] == [1, 2] and "acc_d2k3e3" in res["evals"][0]
    for (k, a), b in zip(plain.state_dict().items(), watched.state_dict().values(), strict=True):
        assert torch.equal(a, b), k  # BN statistics included: the evaluation restored them


def test_predictor_sample_grows_by_appending() -> None:
    from cimkit.accuracy.pipeline import _measure_seconds, _sample

    small, large = _sample(3, seed=0), _sample(5, seed=0)
    assert large[:3] == small and len({tr.genome_key(g) for g in large}) == 5
    recs = [
        {"key": "a", "seconds": 1.5},
        {"key": "b", "seconds": 2.0},
        {"key": "a", "seconds": 1.5},
    ]
    assert _measure_seconds(recs) == 3.5  # a repeat is one measurement
