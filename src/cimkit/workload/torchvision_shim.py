"""Make the PyPI torchvision importable beside the CPU build of torch.

Why: timm (the model-definition library of the real-model test tier) imports torchvision. The
only torchvision wheel served for torch 2.13.0 (torchvision 0.28.0, whose metadata requires
torch==2.13.0) is a CUDA build: its C++ extension ``torchvision/_C.so`` links against
``libtorch_cuda.so`` / ``libc10_cuda.so``, which the CPU torch does not ship, so the extension
does not load. torchvision tolerates that (``torchvision.extension._has_ops()`` is then False),
but its ``_meta_registrations`` module calls ``torch.library.register_fake("torchvision::nms")``
at import time, which fails with ``RuntimeError: operator torchvision::nms does not exist``.

What: :func:`install` defines the schemas of every operator that ``_C.so`` would have registered
(the ``torchvision::`` namespace, copied from torchvision 0.28.0's C++ sources) with
``torch.library``, *without* kernels, before torchvision is imported. torchvision's Python code
then imports unchanged: the fake (meta) registrations attach to these schemas, and everything
that does not call the C++ detection operators works (models, transforms, timm's layers). Calling
one of them (``torchvision.ops.nms``, ``roi_align``, ``deform_conv2d``, ...) raises torchvision's
own "Couldn't load custom C++ ops" error, since ``_has_ops()`` stays False; no network of the
real-model tier uses them.

Use: ``from cimkit.workload.torchvision_shim import install; install()`` before ``import timm`` or
``import torchvision``. It is idempotent, does nothing when the operators already exist (a
torchvision whose extension loads), and never imports torchvision itself.
"""

from __future__ import annotations

import torch

# Schemas of torchvision 0.28.0 (torchvision/csrc/ops/*.cpp, TORCH_LIBRARY_FRAGMENT(torchvision)).
TORCHVISION_SCHEMAS: tuple[str, ...] = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, "
    "float rois_scale, int rois_zero_point, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, "
    "SymInt channels, SymInt height, SymInt width) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
    "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
    "Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, "
    "SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, "
    "bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version() -> int",
)

# The Library object must stay alive: dropping it unregisters the schemas.
_LIBRARY: torch.library.Library | None = None


def _has_schema(name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def install() -> list[str]:
    """Define the missing ``torchvision::`` operator schemas (no kernels).

    Returns:
        The qualified names defined by this call (empty when torchvision's own extension, or an
        earlier call, already defined them all).
    """
    global _LIBRARY
    missing = [s for s in TORCHVISION_SCHEMAS if not _has_schema(s.split("(", 1)[0])]
    if not missing:
        return []
    if _LIBRARY is None:
        _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for schema in missing:
        _LIBRARY.define(schema)
    return ["torchvision::" + s.split("(", 1)[0] for s in missing]


def import_torchvision():  # noqa: ANN201 (the module object)
    """:func:`install`, then ``import torchvision``; returns the module."""
    install()
    import torchvision

    return torchvision
