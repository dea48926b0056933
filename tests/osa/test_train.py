"""OSA ResNet-20: quantized layers, integer views, augmentation, schedule, resumable training,
int8 export and loading (synthetic data: fast, no Fashion-MNIST needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cimkit.accuracy.data import load
from cimkit.errors import CimkitError, SpecError
from cimkit.osa.resnet import ResNet20, fake_quant_weight, num_parameters
from cimkit.osa.train import (
    CHECKPOINT,
    TrainConfig,
    app,
    augment,
    export_int8,
    load_checkpoint,
    load_shipped,
    lr_at,
    train,
)

runner = CliRunner()


def _calibrated_net(seed: int = 0) -> ResNet20:
    torch.manual_seed(seed)
    net = ResNet20(10, mean=0.3, std=0.35)
    net.train()
    with torch.no_grad():
        net(torch.randn(16, 1, 28, 28))  # sets every input clip from a batch
    for m in net.modules():  # non-trivial BN so the test is not on zero-init blocks
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_resnet20_shape_and_size() -> None:
    net = ResNet20()
    layers = net.quantized_layers()
    assert len(layers) == 20  # 19 convs + 1 linear = ResNet-20
    # By hand: conv weights 144 + 6*2304 + (4608 + 5*9216) + (18432 + 5*36864) = 267,408;
    # BN scales+shifts 2*(16*7 + 32*6 + 64*6) = 1,376; linear 64*10 + 10 = 650 (He et al.: 0.27 M).
    assert num_parameters(net) == 269_434
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # Channel plan 16 / 32 / 64 and the two stride-2 stages (28 -> 14 -> 7).
    outs = [m.out_channels for _, m in layers[:-1]]
    assert outs == [16] * 7 + [32] * 6 + [64] * 6
    assert [m.stride[0] for _, m in layers[:-1]].count(2) == 2


def test_integer_operands_reproduce_every_layer() -> None:
    """conv(x, w) == s_x * s_w[c] * conv(x_int, w_int): the integers a bit-plane simulator gets."""
    net = _calibrated_net()
    x = torch.randn(3, 1, 28, 28)
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, a, n=n: inputs.__setitem__(n, a[0]))
        for n, m in net.quantized_layers()
    ]
    net(x)
    for h in hooks:
        h.remove()
    for name, m in net.quantized_layers():
        xi, sx = m.int_input(inputs[name])
        wi, sw = m.int_weight()
        assert xi.min() >= 0 and xi.max() <= 255 and wi.abs().max() == 127
        if isinstance(m, torch.nn.Conv2d):
            acc = F.conv2d(xi.double(), wi.double(), None, m.stride, m.padding)
            ref = m(inputs[name]).double()
            got = acc * float(sx) * sw.double().view(1, -1, 1, 1)
        else:
            got = (xi.double() @ wi.double().T) * float(sx) * sw.double() + m.bias.double()
            ref = m(inputs[name]).double()
        # Integer sums are exact in double; only the float32 forward rounds.
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5), name
        # The integer accumulation is exactly an integer (what the macro adds up).
        assert torch.equal(
            acc if isinstance(m, torch.nn.Conv2d) else acc_lin(xi, wi),
            (acc if isinstance(m, torch.nn.Conv2d) else acc_lin(xi, wi)).round(),
        )


def acc_lin(xi: torch.Tensor, wi: torch.Tensor) -> torch.Tensor:
    return xi.double() @ wi.double().T


def test_first_layer_sees_the_8bit_pixels() -> None:
    sp = load("synthetic")
    net = ResNet20(10, sp.mean, sp.std).eval()
    seen = {}
    net.conv1.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    net(torch.from_numpy(sp.x_test[:4]))
    levels, scale = net.conv1.int_input(seen["x"])
    pixels = np.round((sp.x_test[:4] * sp.std + sp.mean) * 255)
    np.testing.assert_array_equal(levels.numpy(), pixels)
    assert math.isclose(float(scale), 1 / 255, rel_tol=1e-6)


def test_weights_are_signed_8bit_per_channel() -> None:
    w = torch.tensor([[1.0, -0.5, 0.25], [0.02, 0.01, -0.04]]).view(2, 3, 1, 1)
    q = fake_quant_weight(w)
    # Channel 0: scale 1/127 -> levels 127, -63.5 -> -64 (half to even), 31.75 -> 32.
    np.testing.assert_allclose((q[0].flatten() * 127).numpy(), [127, -64, 32], atol=1e-4)
    # Channel 1: its own scale 0.04/127: -0.04 -> -127, 0.02 -> 63.5 -> 64.
    np.testing.assert_allclose((q[1].flatten() / 0.04 * 127).numpy(), [64, 32, -127], atol=1e-3)


def test_augment_is_a_shifted_or_flipped_crop() -> None:
    x = torch.arange(4 * 36, dtype=torch.float).view(4, 1, 6, 6) + 1.0
    out = augment(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    xp = F.pad(x, (2, 2, 2, 2), value=float(x.min()))
    for b in range(4):
        crops = [
            c
            for dy in range(5)
            for dx in range(5)
            for c in (
                xp[b, :, dy : dy + 6, dx : dx + 6],
                xp[b, :, dy : dy + 6, dx : dx + 6].flip(2),
            )
        ]
        assert any(torch.equal(out[b], c) for c in crops)
    # Not the identity for every image (the generator really moves them).
    assert not torch.equal(out, x)


def test_lr_schedule_hand_values() -> None:
    cfg = TrainConfig(lr=0.1, warmup_steps=10)
    assert math.isclose(lr_at(0, 110, cfg), 0.01)
    assert math.isclose(lr_at(9, 110, cfg), 0.1)
    assert math.isclose(lr_at(10, 110, cfg), 0.1)
    assert math.isclose(lr_at(60, 110, cfg), 0.05)  # half-way through the cosine
    assert lr_at(110, 110, cfg) == 0.0


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=32, lr=0.05, warmup_steps=2, ckpt_every=3, data="synthetic",
                n_val=200)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_resumed_run_equals_uninterrupted(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = _cfg()
    a = train(tmp_path / "a", cfg, log=lambda m: None, max_steps=12)
    train(tmp_path / "b", cfg, log=lambda m: None, max_steps=5)
    state = load_checkpoint(tmp_path / "b" / CHECKPOINT)
    assert state["step"] == 5
    b = train(tmp_path / "b", cfg, log=lambda m: None, max_steps=12)
    assert a["steps"] == b["steps"] == 12
    sa = load_checkpoint(tmp_path / "a" / CHECKPOINT)["model"]
    sb = load_checkpoint(tmp_path / "b" / CHECKPOINT)["model"]
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    train(tmp_path, _cfg(), log=lambda m: None, max_steps=2)
    with pytest.raises(SpecError, match="lr"):
        train(tmp_path, _cfg(lr=0.2), log=lambda m: None, max_steps=3)


def test_corrupt_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(CimkitError, match="delete it") as e:
        train(tmp_path, _cfg(), log=lambda m: None, max_steps=1)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_training_learns_digits(tmp_path: Path) -> None:
    """Two epochs on scikit-learn's digits (1,297 training images) learn far above chance.

    (The synthetic set's classes are per-pixel random templates, which a network ending in
    global average pooling cannot tell apart quickly, so it only serves the mechanics tests.)
    """
    torch.set_num_threads(1)
    cfg = _cfg(epochs=2, lr=0.05, warmup_steps=10, ckpt_every=1000, data="digits", n_val=250,
               zero_init_residual=False)  # fmt: skip
    s = train(tmp_path, cfg, log=lambda m: None)
    assert s["test_acc"] > 0.5  # 10 classes: chance is 0.1
    assert s["history"][-1]["train_loss"] < s["history"][0]["train_loss"]


def test_export_roundtrips(tmp_path: Path) -> None:
    """A finished (short) run exports to int8 and the file reproduces the trained network."""
    torch.set_num_threads(1)
    cfg = _cfg(epochs=1)
    s = train(tmp_path / "run", cfg, log=lambda m: None)
    m = export_int8(tmp_path / "run", tmp_path / "dest", "test-command")
    # Measured on the exported file: the same predictions as the training model's.
    assert m["test_acc_int8"] == s["test_acc"] == m["test_acc_training_model"]
    assert m["command"] == "test-command" and m["seed"] == 0 and m["test_images"] == 200
    # int8 levels: the 267,408 conv weights and the 640 linear weights.
    assert m["file_bytes"] < 2_000_000 and m["parameters"] == 267_408 + 640
    manifest = json.loads((tmp_path / "dest" / "resnet20_fmnist_int8.json").read_text())
    for key in ("epochs", "wall_s", "hardware", "seed", "command", "git_commit", "test_acc_int8"):
        assert key in manifest
    payload = torch.load(tmp_path / "dest" / "resnet20_fmnist_int8.pt", weights_only=True)
    assert all(q.dtype == torch.int8 for q in payload["levels"].values())
    net = load_shipped(tmp_path / "dest" / "resnet20_fmnist_int8.pt")
    trained = ResNet20(10)
    trained.load_state_dict(load_checkpoint(tmp_path / "run" / CHECKPOINT)["model"])
    trained.eval()
    for (n, a), (_, b) in zip(net.quantized_layers(), trained.quantized_layers(), strict=True):
        assert torch.equal(a.int_weight()[0], b.int_weight()[0]), n
        assert torch.equal(a.act.clip, b.act.clip)
    x = torch.from_numpy(load("synthetic").x_test[:50])
    torch.testing.assert_close(net(x), trained(x), rtol=1e-4, atol=1e-4)


def test_export_refuses_unfinished_run(tmp_path: Path) -> None:
    train(tmp_path, _cfg(), log=lambda m: None, max_steps=2)
    with pytest.raises(CimkitError, match="resume it first"):
        export_int8(tmp_path, tmp_path / "d", "x")


def test_load_shipped_rejects_other_files(tmp_path: Path) -> None:
    with pytest.raises(CimkitError, match="no such model file"):
        load_shipped(tmp_path / "missing.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(CimkitError, match="format tag"):
        load_shipped(tmp_path / "x.pt")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--lr", "0"], "--lr"),
        (["train", "--threads", "0"], "--threads"),
        (["evaluate", "--limit", "0"], "--limit"),
        (["evaluate", "--split", "train"], "--split"),
        (["export", "--run", "/nonexistent/run"], "--run"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], flag: str, tmp_path: Path) -> None:
    if args[0] == "export":
        args = [*args, "--dest", str(tmp_path / "d")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert flag in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_to_hcim_dcim_mode_equals_the_qat_model() -> None:
    """All-digital simulation of the 20 layers gives the fake-quantized model's logits."""
    from cimkit.osa.resnet import HCIMStage, to_hcim

    net = _calibrated_net(1)
    x = torch.randn(1, 1, 28, 28)
    sim, layers = to_hcim(net)
    assert len(layers) == 20
    assert sum(isinstance(m, HCIMStage) for m in sim.modules()) == 20
    torch.testing.assert_close(sim(x), net(x), rtol=0, atol=1e-5)
    # The simulator really runs: a coarse fixed boundary changes the logits.
    for _, layer in layers:
        layer.set_mode("fixed", boundary=10)
    assert (sim(x) - net(x)).abs().max() > 1e-3
    # The original network is untouched (to_hcim works on a copy).
    assert sum(isinstance(m, HCIMStage) for m in net.modules()) == 0


def test_init_from_starts_at_the_given_weights(tmp_path: Path) -> None:
    train(tmp_path / "a", _cfg(), log=lambda m: None, max_steps=3)
    src = load_checkpoint(tmp_path / "a" / CHECKPOINT)["model"]
    cfg = _cfg(lr=1e-12, init_from=str(tmp_path / "a" / CHECKPOINT))
    train(tmp_path / "b", cfg, log=lambda m: None, max_steps=1)
    got = load_checkpoint(tmp_path / "b" / CHECKPOINT)["model"]
    fresh = ResNet20(10).state_dict()
    for k, v in src.items():
        if k.endswith("conv1.weight"):  # weights moved by 1e-12 * grad at most
            torch.testing.assert_close(got[k], v, rtol=0, atol=1e-9)
            assert not torch.equal(got[k], fresh[k])
    res = runner.invoke(app, ["train", "--init-from", str(tmp_path / "none.pt"),
                              "--out", str(tmp_path / "c")])  # fmt: skip
    assert res.exit_code == 2 and "--init-from" in res.output


def test_batch_statistic_is_max_or_percentile() -> None:
    from cimkit.osa.resnet import _PERCENTILE_SAMPLE, batch_statistic

    x = torch.arange(1, 1001, dtype=torch.float32).reshape(10, 100)  # 1 .. 1000
    assert batch_statistic(x, 100.0).item() == 1000.0
    assert batch_statistic(x, 99.9).item() == 999.0  # 999 of 1000 values are <= 999
    assert batch_statistic(x, 50.0).item() == 500.0
    # Above the sample size a strided subsample estimates it (uniform values: within 0.5 %).
    big = torch.rand(4 * _PERCENTILE_SAMPLE + 3, generator=torch.Generator().manual_seed(0))
    assert abs(batch_statistic(big, 99.0).item() - 0.99) < 0.005


def test_clip_percentile_follows_the_batch_percentile(tmp_path: Path) -> None:
    """A training step with clip_percentile < 100 moves the clips towards that percentile, so
    they end below the max-clip run's; the exported model starts a fine-tuning run."""
    torch.set_num_threads(1)
    a = train(tmp_path / "a", _cfg(), log=lambda m: None)
    b = train(tmp_path / "b", _cfg(clip_percentile=99.0), log=lambda m: None)
    assert b["config"]["clip_percentile"] == 99.0 and a["config"]["clip_percentile"] == 100.0
    ca = load_checkpoint(tmp_path / "a" / CHECKPOINT)["model"]
    cb = load_checkpoint(tmp_path / "b" / CHECKPOINT)["model"]
    inner = [k for k in ca if k.endswith("act.clip") and k != "conv1.act.clip"]
    assert len(inner) == 19
    assert all(cb[k] < ca[k] for k in inner)
    assert cb["conv1.act.clip"] == ca["conv1.act.clip"] == 1.0  # the pixels' fixed range
    # Fine-tune from the exported file (not a checkpoint): starts at its int8 weights.
    export_int8(tmp_path / "b", tmp_path / "m", "x")
    model = tmp_path / "m" / "resnet20_fmnist_int8.pt"
    cfg = _cfg(lr=1e-12, clip_percentile=99.0, init_from=str(model))
    train(tmp_path / "c", cfg, log=lambda m: None, max_steps=1)
    got = load_checkpoint(tmp_path / "c" / CHECKPOINT)["model"]
    ref = load_shipped(model).state_dict()
    torch.testing.assert_close(got["blocks.0.conv1.weight"], ref["blocks.0.conv1.weight"],
                               rtol=0, atol=1e-9)  # fmt: skip
    cfg_full = _cfg(clip_percentile=99.0, init_from=str(model))
    train(tmp_path / "d", cfg_full, log=lambda m: None)
    m = export_int8(tmp_path / "d", tmp_path / "m2", "y")
    assert m["previous_phase"]["model"] == str(model)
    assert m["previous_phase"]["manifest"]["command"] == "x"
    res = runner.invoke(app, ["train", "--clip-percentile", "20", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "--clip-percentile" in res.output
