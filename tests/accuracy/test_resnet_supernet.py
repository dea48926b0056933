"""Elastic ResNet supernet: subnet shapes/MACs equal the resnet50 workload table, sandwich
training step, exact resume, measurement cache keys. Tiny configs; a few seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cimkit.accuracy import data
from cimkit.accuracy import resnet_supernet as rs
from cimkit.accuracy import train as tr
from cimkit.errors import CimkitError
from cimkit.workload.builtin import resnet50

torch.set_num_threads(1)
QUIET = {"log": lambda m: None}
#: Tiny proxy: width scale 1/16, depths 1..2 per stage.
TINY = rs.ResNetSupernetConfig(
    depth_choices=((1, 2), (1, 2), (1, 2), (1, 2)), scale=1 / 16, dropout=0.0
)


@pytest.fixture(scope="module")
def splits() -> data.Splits:
    return data.load("synthetic")


def _genomes(cfg: rs.ResNetSupernetConfig, n: int, seed: int = 0) -> list[rs.ResNetGenome]:
    rng = np.random.default_rng(seed)
    return [cfg.largest(), cfg.smallest()] + [cfg.random(rng) for _ in range(n)]


@pytest.mark.parametrize("scale", [0.25, 1 / 16])
def test_imagenet_stem_subnets_equal_workload_table(scale: float) -> None:
    """stem='imagenet': every layer (name, cin, cout, kernel, stride, output side) and the MACs
    equal cimkit.workload.builtin.resnet50(depths, width * scale, expands) at the same input."""
    cfg = rs.ResNetSupernetConfig(scale=scale, stem="imagenet", resolution=64, in_channels=3)
    net = rs.ResNetSupernet(cfg)
    for g in _genomes(cfg, 6):
        wl = resnet50(g.depths, g.width * scale, g.expands, resolution=64, num_classes=10)
        table = {
            la.name: (la.in_channels, la.out_channels, la.kernel_h, la.stride, la.out_h)
            for la in wl.layers
            if la.is_mac
        }
        assert net.layer_shapes(g) == table
        assert rs.count_macs(net, g) == sum(la.macs for la in wl.layers if la.is_mac)
        # The real forward pass produces the final feature width the table says.
        net.set_active(g)
        net.eval()
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 10)


def test_small_stem_block_channels_equal_workload() -> None:
    """The 28x28 proxy keeps the workload's block channels (cin, mid, cout, stride) exactly;
    only the stem differs (3x3 stride 1, no max-pool): 28 -> 28 -> 14 -> 7 -> 4."""
    cfg = rs.ResNetSupernetConfig()
    net = rs.ResNetSupernet(cfg)
    g = rs.ResNetGenome((3, 4, 5, 2), (0.2, 0.35, 0.25, 0.2), 0.8)
    shapes = net.layer_shapes(g)
    wl = resnet50(g.depths, 0.8 * cfg.scale, g.expands)
    ref = {la.name: (la.in_channels, la.out_channels, la.stride) for la in wl.layers if la.is_mac}
    for name, (ci, co, _, st, _) in shapes.items():
        if name not in ("conv1", "fc"):
            assert ref[name] == (ci, co, st), name
    assert set(shapes) == set(ref)
    assert [shapes[f"layer{s}.0.conv2"][4] for s in (1, 2, 3, 4)] == [28, 14, 7, 4]
    # By hand, layer1.0 at width 0.8, scale 0.25, expand 0.2: stem make_divisible(12.8) = 16,
    # cout make_divisible(51.2) = 48, mid make_divisible(round(9.6) = 10) = 8 -> below 90 % of
    # 10, so 16.
    assert shapes["layer1.0.conv1"] == (16, 16, 1, 1, 28)
    assert shapes["layer1.0.conv3"] == (16, 48, 1, 1, 28)
    assert shapes["layer1.0.downsample.0"] == (16, 48, 1, 1, 28)
    net.set_active(g)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_stride2_small_stem_halves_every_side() -> None:
    """stem='small2' (the pipeline's): the same channels, every map side of 28 -> 14 by hand."""
    g = rs.ResNetGenome((3, 4, 5, 2), (0.2, 0.35, 0.25, 0.2), 0.8)
    one = rs.ResNetSupernet(rs.ResNetSupernetConfig()).layer_shapes(g)
    net = rs.ResNetSupernet(rs.ResNetSupernetConfig(stem="small2"))
    two = net.layer_shapes(g)
    assert two["conv1"] == (1, 16, 3, 2, 14)
    assert [two[f"layer{s}.0.conv2"][4] for s in (1, 2, 3, 4)] == [14, 7, 4, 2]
    assert {k: v[:4] for k, v in two.items()} == {k: v[:4] for k, v in one.items() if k} | {
        "conv1": (1, 16, 3, 2)
    }
    net.set_active(g)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="small2"):
        rs.ResNetSupernetConfig(stem="tiny")


def test_genome_outside_choices_is_refused() -> None:
    net = rs.ResNetSupernet(TINY)
    with pytest.raises(ValueError, match=r"width: 0.5 not in"):
        net.set_active(rs.ResNetGenome((1, 1, 1, 1), (0.25,) * 4, 0.5))
    with pytest.raises(ValueError, match=r"depths\[2\]: 3 not in"):
        net.set_active(rs.ResNetGenome((1, 1, 3, 1), (0.25,) * 4, 1.0))


def test_sandwich_largest_first_smallest_second_and_policies() -> None:
    rng = np.random.default_rng(0)
    gs = TINY.sandwich(rng, quantized=True, n_random=2)
    assert len(gs) == 4
    assert gs[0].depths == (2, 2, 2, 2) and gs[0].width == 1.0 and gs[0].expands == (0.35,) * 4
    assert gs[1].depths == (1, 1, 1, 1) and gs[1].width == 0.65 and gs[1].expands == (0.2,) * 4
    assert all(g.bits is not None and {b for r in g.bits for b in r} <= {4, 6, 8} for g in gs)


def _train(splits: data.Splits, steps: int, **kw) -> tuple[rs.ResNetSupernet, dict]:
    torch.manual_seed(0)
    net = rs.ResNetSupernet(TINY)
    args = tr.TrainArgs(steps=steps, batch_size=8, seed=3, warmup=1, ckpt_every=100)
    q = args.quantized
    out = tr.train_supernet(
        net, splits.x_train, splits.y_train, args,
        sample=lambda r: TINY.sandwich(r, q, args.n_random), **QUIET, **kw,
    )  # fmt: skip
    return net, out


def test_sandwich_step_trains_and_resume_is_exact(splits: data.Splits, tmp_path: Path) -> None:
    """4 steps straight == 2 steps, checkpoint, 2 more steps from the checkpoint (bit-exact);
    and the weights moved (the step trains every sampled subnet's prefix)."""
    torch.manual_seed(0)
    init = {k: v.clone() for k, v in rs.ResNetSupernet(TINY).state_dict().items()}
    full, res = _train(splits, 4)
    assert res["steps"] == 4 and np.isfinite(res["loss"])
    assert not torch.equal(full.state_dict()["stem.conv.weight"], init["stem.conv.weight"])
    ck = tmp_path / "ck.pt"
    _train(splits, 4, ckpt=ck, until=2)
    assert tr.load_checkpoint(ck)["step"] == 2
    resumed, _ = _train(splits, 4, ckpt=ck)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_compact_checkpoint_is_small(splits: data.Splits, tmp_path: Path) -> None:
    ck, cp = tmp_path / "ck.pt", tmp_path / "compact.pt"
    _train(splits, 1, ckpt=ck, compact=cp)
    state = tr.load_checkpoint(cp)
    assert state["compact"] is True
    assert all(v.dtype != torch.float32 for v in state["model"].values())
    assert cp.stat().st_size < 0.7 * ck.stat().st_size
    assert rs.ResNetSupernetConfig.from_dict(state["config"]) == TINY


def test_measure_cache_keys(splits: data.Splits, tmp_path: Path) -> None:
    """One line per distinct genome (FP and quantized differ), repeats and a second call are
    cache hits with the same numbers, another supernet's file is refused."""
    torch.manual_seed(0)
    net = rs.ResNetSupernet(TINY)
    x_c, x_e, y_e = splits.x_train[:16], splits.x_val[:32], splits.y_val[:32]
    g = TINY.smallest()
    gq = TINY.smallest(bits=((4, 4, 4, 4),) * 4)
    out = tmp_path / "m.jsonl"
    recs = rs.measure_many(net, [g, gq, g], x_c, x_e, y_e, out, **QUIET)
    assert len(out.read_text().splitlines()) == 2
    assert recs[0] is recs[2] and recs[0]["key"] != recs[1]["key"]
    assert recs[0]["acc"] == tr.measure(net, g, x_c, x_e, y_e)  # type: ignore[arg-type]
    again = rs.measure_many(net, [gq, g], x_c, x_e, y_e, out, **QUIET)
    assert [r["acc"] for r in again] == [recs[1]["acc"], recs[0]["acc"]]
    assert len(out.read_text().splitlines()) == 2
    assert rs.ResNetGenome.from_dict(again[0]["genome"]) == gq
    torch.manual_seed(1)
    other = rs.ResNetSupernet(TINY)
    with pytest.raises(CimkitError, match="another supernet"):
        rs.measure_many(other, [g], x_c, x_e, y_e, out, **QUIET)


def test_genome_from_family_values() -> None:
    from cimkit.space.families import ResNet50

    fam = ResNet50([[2, 3, 4], [2, 3, 4], [4, 5, 6], [2, 3, 4]], [0.2, 0.25, 0.35],
                   [0.65, 0.8, 1.0], [4, 6, 8])  # fmt: skip
    vals = {k: np.array([v]) for k, v in fam.standard_values().items()}
    vals["depth_s0"] = np.array([2])
    g = rs.genome_from_values(vals, 0)
    assert g == rs.ResNetGenome((2, 4, 6, 3), (0.25,) * 4, 1.0, ((8, 8, 8, 8),) * 4)
