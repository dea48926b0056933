"""Lowering and the numpy golden model, checked against torch's conv2d/linear."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimkit import codegen
from cimkit.codegen.lowering import im2col, mac_chain, requantize, weight_matrix
from cimkit.errors import WorkloadError
from cimkit.workload import Workload, make_layer


def _torch_forward(wl, weights, x, shifts, relu):
    """The same integer network with torch ops in float64 (exact for these magnitudes)."""
    chain = mac_chain(wl)
    t = torch.tensor(x, dtype=torch.float64)
    for g in chain:
        w = torch.tensor(weights[g.name], dtype=torch.float64)
        if g.op == "linear":
            t = torch.flatten(t) if g.flatten else t
            t = t @ w.T
        else:
            t = torch.nn.functional.conv2d(t[None], w, stride=g.stride, padding=g.pad)[0]
        if relu[g.name]:
            t = torch.relu(t)
        t = torch.clamp(torch.floor(t / 2 ** shifts[g.name]), -128, 127)
    return t.numpy().astype(np.int64)


def test_reference_matches_torch_cnn(cnn_parts):
    wl, weights = cnn_parts
    x = codegen.random_inputs(wl, seed=5)
    shifts = codegen.calibrate_shifts(wl, weights, x)
    relu = {"conv1": True, "conv2": True, "fc1": True, "fc2": False}
    ours = codegen.reference(wl, weights, x, shifts)
    theirs = _torch_forward(wl, weights, x, shifts, relu)
    assert ours.shape == (1, 10)
    np.testing.assert_array_equal(ours, theirs.reshape(1, 10))


def test_reference_matches_torch_conv_output_and_saturates():
    wl = Workload(
        "c",
        (
            make_layer(
                "c1",
                "conv",
                in_channels=2,
                out_channels=4,
                kernel_h=3,
                kernel_w=3,
                stride=2,
                in_h=7,
                in_w=7,
                out_h=4,
                out_w=4,
            ),
        ),  # fmt: skip
    )
    weights = codegen.random_weights(wl, 1)
    x = codegen.random_inputs(wl, 1)
    out = codegen.reference(wl, weights, x, {"c1": 4})
    assert out.shape == (4, 4, 4)
    np.testing.assert_array_equal(out, _torch_forward(wl, weights, x, {"c1": 4}, {"c1": False}))
    assert out.max() == 127 and out.min() == -128  # shift 4 is too small: saturation happens


def test_requantize_floors_and_saturates():
    acc = np.array([-5, -4, 3, 1000, -1000, 255])
    np.testing.assert_array_equal(requantize(acc, 1, False, 8), [-3, -2, 1, 127, -128, 127])
    np.testing.assert_array_equal(requantize(acc, 1, True, 8), [0, 0, 1, 127, 0, 127])


def test_calibrated_shifts_avoid_saturation(mlp_parts):
    wl, weights = mlp_parts
    x = codegen.random_inputs(wl, 0)
    shifts = codegen.calibrate_shifts(wl, weights, x)
    out = codegen.reference(wl, weights, x, shifts)
    assert np.abs(out).max() <= 127
    smaller = {k: max(v - 1, 0) for k, v in shifts.items()}
    assert np.abs(codegen.reference(wl, weights, x, smaller)).max() >= np.abs(out).max()


def test_flatten_weight_permutation():
    wl = Workload(
        "f",
        (
            make_layer(
                "c",
                "conv",
                in_channels=2,
                out_channels=3,
                kernel_h=1,
                kernel_w=1,
                in_h=2,
                in_w=2,
                out_h=2,
                out_w=2,
            ),  # fmt: skip
            make_layer("fc", "linear", in_channels=12, out_channels=1),
        ),
    )
    geom = mac_chain(wl)[1]
    assert geom.flatten and (geom.kh, geom.kw, geom.in_c) == (2, 2, 3)
    w = np.arange(12).reshape(1, 12)  # torch flatten index c*4 + y*2 + x
    mat = weight_matrix(geom, w)
    # hardware order (y, x, c): element (y*2 + x)*3 + c holds torch index c*4 + y*2 + x
    assert mat[0, (1 * 2 + 0) * 3 + 2] == 2 * 4 + 1 * 2 + 0
    x_hwc = np.arange(12).reshape(2, 2, 3)
    np.testing.assert_array_equal(im2col(geom, x_hwc)[0], x_hwc.reshape(-1))


@pytest.mark.parametrize(
    "layers",
    [
        (make_layer("m", "matmul", in_channels=4, out_channels=4, out_h=4),),
        (make_layer("s", "softmax", in_channels=4, out_channels=4, out_h=4),),
        # a pool of the network input
        (
            make_layer(
                "p",
                "pool",
                in_channels=4,
                out_channels=4,
                in_h=4,
                in_w=4,
                out_h=2,
                out_w=2,
                kernel_h=2,
                kernel_w=2,
                stride=2,
            ),
        ),  # fmt: skip
        # an add whose operands are not layer outputs read only by it
        (
            make_layer("a", "linear", in_channels=4, out_channels=4, out_h=2),
            make_layer("b", "linear", in_channels=4, out_channels=4, out_h=2, inputs=("a",)),
            make_layer("r", "act", in_channels=4, out_channels=4, out_h=2, inputs=("b",)),
            make_layer("e", "eltwise", in_channels=4, out_channels=4, out_h=2, inputs=("a", "r")),
            make_layer("c", "linear", in_channels=4, out_channels=4, out_h=2, inputs=("e",)),
        ),
        (make_layer("x", "linear", in_channels=4, out_channels=4, out_h=2, repeat=2),),
    ],
)
def test_unsupported_layers_raise(layers):
    with pytest.raises(WorkloadError):
        mac_chain(Workload("bad", layers))


def test_shape_mismatch_raises():
    wl = Workload(
        "bad",
        (
            make_layer("a", "linear", in_channels=4, out_channels=8),
            make_layer("b", "linear", in_channels=6, out_channels=2),
        ),
    )
    with pytest.raises(WorkloadError):
        mac_chain(wl)


def test_weights_out_of_range_raise(mlp_parts):
    wl, weights = mlp_parts
    bad = dict(weights, fc1=weights["fc1"] * 4)
    with pytest.raises(WorkloadError):
        codegen.reference(wl, bad, codegen.random_inputs(wl), 8)
