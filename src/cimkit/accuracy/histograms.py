"""Histograms of quantized inputs and weights per layer of a subnet, for the energy model.

CIMNAS evaluates hardware energy from layer-specific histograms of the quantized inputs and
weights of the candidate (Algorithm 1: "obtain FP weights and activations from the supernet,
quantize, generate histograms"). :func:`subnet_histograms` does exactly that with real validation
images: it recalibrates the supernet for the genome (BN statistics and activation clips), runs the
images through it with the genome's policy, and records each MAC layer's quantized input tensor
and quantized weight.

Output: ``{layer name: LayerHistogram}`` keyed by the names of
:func:`cimkit.workload.builtin.mobilenetv2` for the same depths/kernels/expands (torchvision
layout), i.e. what ``Workload.with_histograms`` and the data-dependent energy model consume.
Values are normalized to the quantizer's range, so the histogram mass sits on the integer grid:
inputs ``q / (2**b - 1)`` (unsigned, post-ReLU6) or ``q / (2**(b-1) - 1)`` (signed residual
stream), weights ``q / (2**(b-1) - 1)`` with per-output-channel scales. Full-precision layers are
normalized by their clip (inputs) or per-channel max |w| (weights).
"""

from __future__ import annotations

import numpy as np
import torch

from cimkit.accuracy.encoding import Genome
from cimkit.accuracy.quant import FULL_PRECISION, quantize_weight
from cimkit.accuracy.supernet import ElasticBlock, QConvBN, Supernet
from cimkit.accuracy.train import recalibrate
from cimkit.workload.builtin import expand_channels
from cimkit.workload.histograms import LayerHistogram, histogram_of


def _norm_weight(w: torch.Tensor) -> np.ndarray:
    """Weights divided by their per-output-channel max |w| (quantized ones land on q / qmax)."""
    w = w.detach().double()
    scale = w.abs().flatten(1).amax(1).clamp_min(1e-12)
    return (w / scale.view(-1, *([1] * (w.dim() - 1)))).cpu().numpy()


def _layer_tensors(
    module: torch.nn.Module, role: str, net: Supernet
) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """(quantized input seen in the last forward, quantized weight, input bits) of one layer."""
    if role == "classifier":
        q = net.q_classifier
        return q.last, quantize_weight(net.classifier.weight, net.cls_bits), q.bits
    if isinstance(module, QConvBN):
        return (
            module.q_in.last,
            quantize_weight(module.conv.weight, module.w_bits),
            module.q_in.bits,
        )
    assert isinstance(module, ElasticBlock)
    dw_w, _, pw_w, _ = module.bits
    mid = expand_channels(module.cin, module.expand)
    if role == "expand":
        w = quantize_weight(module.expand_conv.weight[:mid], pw_w)
        return module.q_expand.last, w, module.q_expand.bits
    if role == "dw":
        w = quantize_weight(module.depthwise_weight(module.kernel, mid), dw_w)
        return module.q_dw.last, w, module.q_dw.bits
    w = quantize_weight(module.project_conv.weight[:, :mid], pw_w)
    return module.q_project.last, w, module.q_project.bits


@torch.no_grad()
def subnet_histograms(
    net: Supernet,
    genome: Genome,
    images: np.ndarray,
    calib_images: np.ndarray | None = None,
) -> dict[str, LayerHistogram]:
    """Per-layer histograms of quantized inputs/weights of ``genome`` on real ``images``.

    Args:
        net: the supernet (the QAT weights for quantized genomes, see :func:`load_supernet`).
        genome: subnet and policy (bits None = full precision).
        images: (N, C, H, W) normalized validation images the histograms are measured on.
        calib_images: images for BN/clip recalibration (default: ``images``).

    Returns:
        {layer name: LayerHistogram} for every conv/linear layer of the subnet (names as in
        :func:`cimkit.workload.builtin.mobilenetv2`).
    """
    recalibrate(net, genome, images if calib_images is None else calib_images)
    quants = net.act_quantizers()
    for q in quants:
        q.keep_last, q.last = True, None
    dev = next(net.parameters()).device
    names = net.layer_names()
    try:
        net(torch.from_numpy(images).to(dev))
        out: dict[str, LayerHistogram] = {}
        n = len(images)
        for name, (module, role) in names.items():
            x, w, _bits = _layer_tensors(module, role, net)
            clip = module_clip(module, role, net)
            out[name] = LayerHistogram(
                histogram_of(x.double().cpu().numpy(), clip=clip),
                histogram_of(_norm_weight(w), clip=1.0),
                source=f"cimkit supernet on {n} validation image(s), policy "
                f"{'fp' if genome.bits is None else 'quantized'}",
            )
        return out
    finally:
        for q in quants:
            q.keep_last, q.last = False, None


def module_clip(module: torch.nn.Module, role: str, net: Supernet) -> float:
    """Calibrated clipping range of the input quantizer of a layer (normalizes its inputs)."""
    if role == "classifier":
        return float(net.q_classifier.clip)
    if isinstance(module, QConvBN):
        return float(module.q_in.clip)
    q = {"expand": "q_expand", "dw": "q_dw", "project": "q_project"}[role]
    return float(getattr(module, q).clip)


def load_supernet(quantized: bool = True) -> Supernet:
    """The shipped supernet: QAT weights (``quantized``) or the full-precision ones.

    Loaded with ``torch.load(..., weights_only=True)`` from src/cimkit/data/accuracy.
    """
    import json

    from cimkit.accuracy.predictor import DATA_DIR
    from cimkit.accuracy.supernet import SupernetConfig, load_state
    from cimkit.errors import CimkitError

    path = DATA_DIR / ("supernet_q.pt" if quantized else "supernet_fp.pt")
    manifest = DATA_DIR / "manifest.json"
    if not path.is_file() or not manifest.is_file():
        raise CimkitError(f"shipped supernet {path} missing: run tools/train_accuracy.sh")
    cfg = SupernetConfig.from_dict(json.loads(manifest.read_text())["config"])
    net = Supernet(cfg)
    load_state(net, torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    return net


__all__ = ["FULL_PRECISION", "load_supernet", "subnet_histograms"]
