"""The resnet50 accuracy pipeline end to end at tiny settings (synthetic data, 2 steps, a few
measurements): stages, resume (a rerun measures nothing new), predictor .npz == torch, ship
directory and manifest, family predictions from the shipped files, the encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimkit.accuracy import resnet_pipeline as rp
from cimkit.accuracy.predictor import AccuracyPredictor, load_predictor
from cimkit.accuracy.resnet_supernet import ResNetGenome, ResNetSupernetConfig
from cimkit.errors import CimkitError

ARGS = ["--data", "synthetic", "--scale", "0.0625", "--steps-fp", "2", "--steps-q", "1",
        "--batch-size", "16", "--n-fp", "6", "--n-q", "6", "--n-calib", "32", "--n-eval", "64",
        "--n-test", "32", "--predictor-epochs", "20", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out, ship = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("ship")
    assert rp.main([*ARGS, "--out", str(out), "--ship", "--ship-dir", str(ship)]) == 0
    return out, ship


def test_stages_write_their_results(run: tuple[Path, Path]) -> None:
    out, ship = run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["supernet_fp"]["steps"] == 2 and summary["supernet_q"]["steps"] == 1
    assert set(summary["final"]) == {f"{n}_{b}" for n in ("largest", "smallest")
                                     for b in ("fp", "8bit", "4bit")}  # fmt: skip
    for name in ("measure_fp.jsonl", "measure_q.jsonl"):
        lines = (out / name).read_text().splitlines()
        assert len(lines) == 6 and len({json.loads(s)["key"] for s in lines}) == 6
    manifest = json.loads((ship / "manifest.json").read_text())
    assert manifest["family"] == "resnet50" and "predictor_q.npz" in manifest["files"]
    # what re-measurement needs, under the package budget: no FP supernet, gzipped records
    assert {"supernet_q.pt", "measure_q.jsonl.gz"} <= set(manifest["files"])
    assert not (ship / "supernet_fp.pt").exists() and not (ship / "measure_q.jsonl").exists()
    assert ResNetSupernetConfig.from_dict(manifest["config"]).scale == 0.0625


def test_predictors_chosen_by_cv_with_test_offset(run: tuple[Path, Path]) -> None:
    """The resnet50 predictors go through the same selection as MobileNetV2's (MLP or ridge by
    grouped CV) and carry the test - val shift of the reference subnets, computed here by hand
    from the final stage and the first measurement records."""
    from cimkit.accuracy.predictor import LINEAR_ALPHAS

    out, ship = run
    summary = json.loads((out / "summary.json").read_text())
    names = {"mlp", *(f"linear_alpha{a:g}" for a in LINEAR_ALPHAS)}
    recs = {k: [json.loads(s) for s in (out / f"measure_{k}.jsonl").read_text().splitlines()]
            for k in ("fp", "q")}  # fmt: skip
    # records 0/1: largest and smallest (FP; quantized at 8 and 4 bit), as the pipeline orders them
    refs = {"fp": {"largest_fp": recs["fp"][0], "smallest_fp": recs["fp"][1]},
            "q": {"largest_8bit": recs["q"][0], "smallest_4bit": recs["q"][1]}}  # fmt: skip
    for kind in ("fp", "q"):
        p = summary["predictors"][kind]
        assert p["model"] in names and set(p["selection"]) == names
        want = np.mean([summary["final"][k] - r["acc"] for k, r in refs[kind].items()])
        assert p["test_offset_pp"] == pytest.approx(100 * want, abs=1e-9)
        assert set(p["test_offset_from"]) == set(refs[kind])
    m = json.loads((ship / "manifest.json").read_text())
    assert m["predictors"]["q"]["model"] == summary["predictors"]["q"]["model"]


def test_rerun_resumes_without_measuring(run: tuple[Path, Path]) -> None:
    out, _ = run
    before = {n: (out / n).read_text() for n in ("measure_fp.jsonl", "measure_q.jsonl")}
    assert rp.main([*ARGS, "--out", str(out)]) == 0
    for n, text in before.items():
        assert (out / n).read_text() == text


def test_predictor_npz_equals_torch(run: tuple[Path, Path]) -> None:
    out, _ = run
    cfg = ResNetSupernetConfig(scale=0.0625)
    rng = np.random.default_rng(5)
    x = rp.encode(cfg, [cfg.random(rng, True) for _ in range(20)], quantized=True)
    npz = AccuracyPredictor.from_npz(out / "predictor_q.npz")
    pt = load_predictor(path=out / "predictor_q.pt")
    np.testing.assert_array_equal(npz.predict(x), pt.predict(x))
    assert x.shape == (20, 12 + 12 + 3 + 48)


def test_family_values_predicted_from_shipped(run: tuple[Path, Path]) -> None:
    _, ship = run
    from cimkit.space.families import ResNet50

    fam = ResNet50([[2, 3, 4], [2, 3, 4], [4, 5, 6], [2, 3, 4]], [0.2, 0.25, 0.35],
                   [0.65, 0.8, 1.0], [4, 6, 8])  # fmt: skip
    vals = {k: np.array([v, v]) for k, v in fam.standard_values().items()}
    vals["pw_w_s2"] = np.array([8, 4])
    acc = rp.predict_values(vals, ship)
    assert acc.shape == (2,) and np.all(np.isfinite(acc))
    assert acc[0] != acc[1]  # the policy changes the prediction
    with pytest.raises(CimkitError, match="width: \\[0.5\\] not among"):
        rp.predict_values({**vals, "width": np.array([0.5, 1.0])}, ship)


def test_no_predictor_error_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(CimkitError, match="tools/train_accuracy.sh --family resnet50"):
        rp.predict_values({}, tmp_path)


def test_encoding_by_hand() -> None:
    cfg = ResNetSupernetConfig()
    g = ResNetGenome((2, 4, 6, 3), (0.2, 0.25, 0.35, 0.2), 0.8, ((4, 6, 8, 4),) * 4)
    x = rp.encode(cfg, [g], quantized=True)[0]
    hot = np.flatnonzero(x).tolist()
    # depths: stage 0 choice 0, stage 1 choice 2 (+3), stage 2 choice 2 (+6), stage 3 choice 1
    # (+9); expands from 12; width 0.8 = 25; bits from 27, three per gene.
    assert hot[:9] == [0, 5, 8, 10, 12, 16, 20, 21, 25]
    assert hot[9:13] == [27, 31, 35, 36] and len(hot) == 9 + 16


def _space_yaml(tmp_path: Path, source: str) -> Path:
    src = Path(__file__).resolve().parents[2] / "examples/spaces/cimnas_sram_resnet50_7nm.yaml"
    text = src.read_text().replace("../chips/", f"{src.parent.parent}/chips/")
    head, _, _ = text.partition("accuracy:")
    p = tmp_path / "space.yaml"
    p.write_text(head + f"accuracy:\n  source: {source}\n")
    return p


def test_space_predictor_source_without_shipped_predictor_names_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cimkit.errors import SpecError
    from cimkit.space.spec import load_space

    monkeypatch.setattr(rp, "SHIP_DIR", tmp_path / "none")
    with pytest.raises(SpecError, match="no accuracy predictor for resnet50 .train and ship one "
                       "with tools/train_accuracy.sh --family resnet50"):  # fmt: skip
        load_space(_space_yaml(tmp_path, "predictor"))


def test_search_accuracy_varies_with_network_once_shipped(
    run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a (tiny, test-only) predictor shipped, the ResNet50 space accepts source predictor
    and its accuracy differs between designs: no longer one constant."""
    from cimkit.search.problem import resolve_accuracy
    from cimkit.space.spec import load_space

    monkeypatch.setattr(rp, "SHIP_DIR", run[1])
    space = load_space(_space_yaml(tmp_path, "predictor"))
    assert space.family.has_predictor
    X = space.joint.sample(16, np.random.default_rng(0))
    values = space.joint.decode(X)
    acc = resolve_accuracy(space)(values, space)
    assert acc.shape == (16,) and len(np.unique(acc)) > 1
    np.testing.assert_allclose(acc, rp.predict_values(values, run[1]), rtol=1e-6)


def test_remeasure_resnet_designs_on_its_supernet(
    run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search genomes of the ResNet50 space -> ResNetGenome -> measured on the shipped elastic
    ResNet (same number as a direct recalibrate + top-1), cached on the second call."""
    import torch

    from cimkit.accuracy import data
    from cimkit.accuracy.resnet_supernet import ResNetSupernet
    from cimkit.accuracy.supernet import load_state
    from cimkit.accuracy.train import accuracy, recalibrate
    from cimkit.search import remeasure as rm
    from cimkit.space.spec import load_space

    monkeypatch.setattr(rp, "SHIP_DIR", run[1])
    space = load_space(_space_yaml(tmp_path, "predictor"))
    X = space.joint.sample(2, np.random.default_rng(1))
    genomes = rm.genomes_of(space, X)
    assert all(isinstance(g, ResNetGenome) and g.bits is not None for g in genomes)
    settings = rm.MeasureSettings(dataset="synthetic", n_calib=32, n_test=40)
    r = rm.Remeasurer(tmp_path / "c.jsonl", settings, family="resnet50")
    assert r.supernet == run[1] / "supernet_q.pt"
    got = r.measure(genomes)
    cfg = ResNetSupernetConfig.from_dict(
        json.loads((run[1] / "manifest.json").read_text())["config"]
    )
    net = ResNetSupernet(cfg)
    load_state(net, torch.load(run[1] / "supernet_q.pt", weights_only=True))
    s = data.load("synthetic")
    for g, acc in zip(genomes, got, strict=True):
        recalibrate(net, g, s.x_train[:32])  # type: ignore[arg-type]
        assert acc == accuracy(net, s.x_test[:40], s.y_test[:40])
    r2 = rm.Remeasurer(tmp_path / "c.jsonl", settings, family="resnet50")
    np.testing.assert_array_equal(r2.measure(genomes), got)
    assert r2.hits == 2 and r2.loads == 0
