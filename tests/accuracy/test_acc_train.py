"""Training, recalibration, measuring and histograms on the synthetic fallback (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cimkit.accuracy import data
from cimkit.accuracy.encoding import Genome, random_genomes
from cimkit.accuracy.supernet import Supernet, SupernetConfig
from cimkit.accuracy.train import TrainArgs, measure, measure_many, train_supernet
from cimkit.errors import MissingDependencyError

torch.set_num_threads(1)
CFG = SupernetConfig(width=0.25, stem_stride=2)


@pytest.fixture(scope="module")
def splits() -> data.Splits:
    return data.load("synthetic")


def _train(
    splits: data.Splits, tmp: Path | None, steps: int = 3, until: int | None = None, **kw
) -> Supernet:
    torch.manual_seed(0)
    net = Supernet(CFG)
    args = TrainArgs(steps=steps, batch_size=16, seed=0, ckpt_every=2, **kw)
    train_supernet(net, splits.x_train, splits.y_train, args, tmp, log=lambda m: None,
                   until=until)  # fmt: skip
    return net


def test_same_seed_same_weights_and_resume(splits: data.Splits, tmp_path: Path) -> None:
    a = _train(splits, None)
    b = _train(splits, None)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    # interrupted after 2 steps (checkpoint), resumed to 3: same result as uninterrupted
    _train(splits, tmp_path / "c.pt", until=2)
    c = _train(splits, tmp_path / "c.pt", steps=3)
    for (k, va), vc in zip(a.state_dict().items(), c.state_dict().values(), strict=True):
        assert torch.equal(va, vc), k


def test_qat_and_measure(splits: data.Splits, tmp_path: Path) -> None:
    net = _train(splits, None, steps=2, quantized=True, distill=0.0)
    g = Genome.smallest(bits=4)
    acc = measure(net, g, splits.x_train[:64], splits.x_val[:50], splits.y_val[:50])
    assert 0.0 <= acc <= 1.0
    out = tmp_path / "m.jsonl"
    gs = random_genomes(2, seed=0)
    recs = measure_many(net, gs, splits.x_train[:32], splits.x_val[:20], splits.y_val[:20], out,
                        log=lambda m: None)  # fmt: skip
    again = measure_many(net, gs, splits.x_train[:32], splits.x_val[:20], splits.y_val[:20], out,
                         log=lambda m: None)  # fmt: skip
    assert len(out.read_text().splitlines()) == 2 and recs == again  # resumed, not re-measured
    # A copy taken mid-write ends in a partial line: it is dropped and that genome re-measured.
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n" + lines[1][:25])
    third = measure_many(net, gs, splits.x_train[:32], splits.x_val[:20], splits.y_val[:20], out,
                         log=lambda m: None)  # fmt: skip
    fixed = out.read_text().splitlines()
    assert (
        len(fixed) == 2
        and fixed[0] == lines[0]
        and [r["acc"] for r in third] == [r["acc"] for r in recs]
    )


def test_histograms_are_on_the_quantization_grid(splits: data.Splits) -> None:
    from cimkit.accuracy.histograms import subnet_histograms
    from cimkit.workload.builtin import mobilenetv2
    from cimkit.workload.histograms import CENTERS

    net = Supernet(CFG)
    g = Genome.smallest(bits=4)
    hist = subnet_histograms(net, g, splits.x_val[:8])
    wl = mobilenetv2(g.depths, g.kernels, g.expands, resolution=28, num_classes=10, width=0.25)
    assert set(hist) == {la.name for la in wl.layers if la.op in ("conv", "dwconv", "pwconv",
                                                                    "linear")}  # fmt: skip
    h = hist["features.3.conv.1.0"]  # depthwise of the 2nd elastic block, 4-bit
    assert (h.inputs > 0).sum() <= 16 and (CENTERS[h.inputs > 0] >= 0).all()  # unsigned 4 bit
    assert (h.weights > 0).sum() <= 15  # signed 4-bit levels
    wl.with_histograms(hist)  # the energy model's input form


def test_data_splits_are_disjoint_and_seeded() -> None:
    s = data.load("synthetic", seed=0)
    assert s.x_train.shape[1:] == (1, 28, 28) and s.x_train.dtype == np.float32
    assert len(s.y_val) == 200 and len(s.y_test) == 200
    assert np.array_equal(s.x_val, data.load("synthetic", seed=0).x_val)
    d = data.load("digits")
    assert d.num_classes == 10 and len(d.y_train) + len(d.y_val) + len(d.y_test) == 1797


def test_missing_fashion_mnist_names_the_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(MissingDependencyError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")


def test_summary_continues_and_travels_with_the_compact_checkpoints(tmp_path: Path) -> None:
    import argparse

    from cimkit.accuracy.train import open_summary, save_summary

    out, cdir = tmp_path / "run", tmp_path / "ckpt"
    out.mkdir()
    cdir.mkdir()
    args = argparse.Namespace(out=out, n_fp=3)
    s = open_summary(out, args, {"width": 0.25})
    assert s == {"args": {"out": str(out), "n_fp": 3}, "config": {"width": 0.25}}
    s["measure_fp_s"] = 12.5
    save_summary(s, out, cdir)
    assert (out / "summary.json").read_text() == (cdir / "summary.json").read_text()
    again = open_summary(out, argparse.Namespace(out=out, n_fp=5), {"width": 0.25})
    assert again["measure_fp_s"] == 12.5 and again["args"]["n_fp"] == 5  # results kept, args new
    save_summary(again, out, None)
    assert json.loads((cdir / "summary.json").read_text())["args"]["n_fp"] == 3  # untouched
