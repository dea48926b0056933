"""Built-in network generators, the registry and the vectorized OFA batch generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cimkit.errors import WorkloadError
from cimkit.workload import builtin as B
from cimkit.workload.table import ARRAY_COLUMNS, OP_CODE, LayerArrays


def _layer(wl, name):
    return next(la for la in wl.layers if la.name == name)


def _frame(wl):
    return wl.to_frame()


# ---------------------------------------------------------------- pinned totals
# Hand-checked: MACs count conv/linear multiply-accumulates only; weights exclude biases and
# (folded) BatchNorm; parameter totals with biases and BN match torchvision (checked against the
# torch models in test_torch_import.py).
PINNED = {
    "mobilenetv2": (300_774_272, 3_469_760, 99),
    "mobilenetv2_ofa": (524_091_968, 4_258_208, 129),
    "resnet18": (1_814_073_344, 11_678_912, 48),
    "resnet50": (4_089_184_256, 25_502_912, 121),
    "vgg8": (615_917_568, 12_973_440, 18),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_totals(name):
    wl = B.get_network(name)
    macs, weights, rows = PINNED[name]
    assert (wl.total_macs, wl.total_weights, len(wl)) == (macs, weights, rows)


def test_list_networks_rows():
    rows = B.list_networks()
    assert [r[0] for r in rows] == sorted(B.NETWORKS)
    by_name = {r[0]: r for r in rows}
    for name, (macs, weights, _) in PINNED.items():
        _, desc, m, w = by_name[name]
        assert desc and (m, w) == (macs, weights)


def test_get_network_errors_list_names_and_parameters():
    with pytest.raises(
        WorkloadError,
        match="available: h4h_hybrid, h4h_hybrid_min, mlp, mobilenetv2, mobilenetv2_ofa, resnet18",
    ):
        B.get_network("alexnet")
    with pytest.raises(WorkloadError, match="parameters: .*resolution"):
        B.get_network("vgg8", depth=3)
    assert B.get_network(" ResNet18 ", width=0.5).name == "resnet18"


# ---------------------------------------------------------------- MobileNetV2
def test_mobilenetv2_standard_hand_computed_rows():
    wl = B.mobilenetv2_standard()
    stem = _layer(wl, "features.0.0")
    assert (stem.op, stem.stride, stem.out_h) == ("conv", 2, 112)
    assert stem.weights == 3 * 32 * 3 * 3 == 864
    assert stem.macs == 864 * 112 * 112 == 10_838_016
    dw = _layer(wl, "features.2.conv.1.0")  # first block of stage 24: 16 * 6 = 96 channels
    assert (dw.op, dw.groups, dw.stride, dw.in_h, dw.out_h) == ("dwconv", 96, 2, 112, 56)
    assert dw.macs == 96 * 9 * 56 * 56 == 2_709_504
    pw = _layer(wl, "features.3.conv.2")
    assert (pw.op, pw.in_channels, pw.out_channels, pw.macs) == (
        "pwconv",
        144,
        24,
        144 * 24 * 56 * 56,
    )
    add = _layer(wl, "features.3.add")
    assert add.op == "eltwise" and add.inputs == ("features.2.conv.2", "features.3.conv.2")
    assert add.in_elems == 2 * add.out_elems == 2 * 24 * 56 * 56
    pool = _layer(wl, "avgpool")
    assert (pool.op, pool.kernel_h, pool.kernel_w, pool.stride) == ("pool", 7, 7, 7)
    assert pool.ops == 1280 * 49
    fc = _layer(wl, "classifier.1")
    assert (fc.op, fc.macs, fc.weights, fc.inputs) == ("linear", 1_280_000, 1_280_000, ("avgpool",))
    # Only the 10 stride-1, same-width blocks have residual adds.
    assert sum(la.op == "eltwise" for la in wl.layers) == 10
    assert [la.op for la in wl.layers[:5]] == ["conv", "act", "dwconv", "act", "pwconv"]


def test_standard_is_a_point_of_the_ofa_space():
    ofa = B.mobilenetv2(depths=B.MOBILENETV2_DEPTHS, kernels=3, expands=6)
    assert _frame(ofa).equals(_frame(B.mobilenetv2_standard()))


def test_mobilenetv2_ofa_knobs():
    small = B.mobilenetv2(depths=(2,) * 5, kernels=3, expands=3)
    assert (small.total_macs, small.total_weights) == (148_110_656, 2_539_808)
    wl = B.mobilenetv2(depths=(2, 3, 4, 2, 3), kernels=[3, 5, 7, 3, 5], expands=4, resolution=160)
    # stage 2 (width 32) starts at features.2 + 2 = features.4 with kernel 5
    dw = _layer(wl, "features.4.conv.1.0")
    assert (dw.kernel_h, dw.in_channels, dw.stride, dw.in_h) == (5, 24 * 4, 2, 40)
    assert wl.layers[0].in_h == 160 and _layer(wl, "avgpool").kernel_h == 5
    # per-slot values: inactive slots are ignored, as in OFA
    per_slot = [7] * 20
    per_slot[3] = 3  # stage 0, block 3: inactive at depth 2
    assert _frame(B.mobilenetv2(depths=(2,) * 5, kernels=per_slot)).equals(
        _frame(B.mobilenetv2(depths=(2,) * 5, kernels=7))
    )
    # expand 1 skips the 1x1 expansion conv (torchvision rule)
    e1 = B.mobilenetv2(expands=1)
    assert "features.2.conv.0.0" in {la.name for la in e1.layers}  # dw conv at index 0
    assert _layer(e1, "features.2.conv.0.0").op == "dwconv"
    # width multiplier scales every width, 1280 included (OFA rule); standard keeps 1280
    half = B.mobilenetv2(width=0.5)
    assert _layer(half, "classifier.1").in_channels == 640
    assert _layer(B.mobilenetv2_standard(width=0.5), "classifier.1").in_channels == 1280


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depths=(2, 2, 2, 2)), "depths: need 5"),
        (dict(depths=(2, 2, 2, 2, 5)), "depths must be in 1..4"),
        (dict(kernels=4), "kernels must be odd"),
        (dict(expands=[3] * 7), "expands: give one int, 5 values"),
        (dict(expands=0), "expands must be in 1..16"),
        (dict(resolution=0), "resolution must be > 0"),
        (dict(weight_bits=0), "weight_bits must be in 1..16"),
    ],
)
def test_mobilenetv2_argument_errors(kwargs, match):
    with pytest.raises(WorkloadError, match=match):
        B.mobilenetv2(**kwargs)


def test_make_divisible_matches_reference_rule():
    assert [B.make_divisible(v) for v in (32 * 0.75, 16 * 0.35, 1280 * 1.4, 90, 4)] == [
        24,
        8,
        1792,
        88,
        8,
    ]
    values = np.arange(1, 2000)
    expected = [B.make_divisible(int(v)) for v in values]
    assert B._make_divisible_array(values).tolist() == expected


# ---------------------------------------------------------------- ResNet / VGG
def test_resnet18_hand_computed_rows():
    wl = B.resnet18()
    conv1 = _layer(wl, "conv1")
    assert (conv1.weights, conv1.macs, conv1.out_h) == (9408, 9408 * 112 * 112, 112)
    mp = _layer(wl, "maxpool")
    assert (mp.kernel_h, mp.stride, mp.out_h, mp.inputs) == (3, 2, 56, ("relu",))
    ds = _layer(wl, "layer2.0.downsample.0")
    assert (ds.op, ds.weights, ds.macs, ds.inputs) == (
        "pwconv",
        8192,
        8192 * 28 * 28,
        ("layer1.1.relu_1",),
    )
    add = _layer(wl, "layer1.0.add")
    assert add.inputs == ("layer1.0.conv2", "maxpool")
    assert _layer(wl, "layer2.0.add").inputs == ("layer2.0.conv2", "layer2.0.downsample.0")
    assert _layer(wl, "layer1.0.relu_1").inputs == ("layer1.0.add",)
    assert _layer(wl, "fc").weights == 512 * 1000


def test_resnet_knobs():
    shallow = B.resnet18(depths=(1, 1, 1, 1), width=0.5)
    assert _layer(shallow, "conv1").out_channels == 32
    assert "layer1.1.conv1" not in {la.name for la in shallow.layers}
    assert _layer(shallow, "fc").in_channels == 256
    r50 = B.resnet50(expand_ratio=0.35)
    assert _layer(r50, "layer1.0.conv1").out_channels == 88  # round(256 * .35) = 90 -> 88
    assert _layer(r50, "layer1.0.conv3").out_channels == 256
    per_stage = B.resnet50(depths=(2, 2, 2, 2), expand_ratio=[0.2, 0.25, 0.25, 0.35])
    assert _layer(per_stage, "layer4.0.conv2").in_channels == 720  # 2048 * .35 = 716.8 -> 720
    with pytest.raises(WorkloadError, match="expand_ratio: give one value or 4"):
        B.resnet50(expand_ratio=[0.25, 0.25])
    with pytest.raises(WorkloadError, match="depths: need 4"):
        B.resnet18(depths=(2, 2, 2))


def test_vgg8_follows_neurosim():
    wl = B.vgg8()
    assert [la.op for la in wl.layers] == (
        ["conv", "act", "conv", "act", "pool"] * 3 + ["linear", "act", "linear"]
    )
    assert [la.out_channels for la in wl.layers if la.op == "conv"] == [
        128,
        128,
        256,
        256,
        512,
        512,
    ]
    fc1 = _layer(wl, "classifier.0")
    assert (fc1.in_channels, fc1.out_channels, fc1.inputs) == (8192, 1024, ("features.14",))
    assert _layer(wl, "features.4").out_h == 16
    assert _layer(wl, "features.2").macs == 128 * 128 * 9 * 32 * 32


@pytest.mark.parametrize("name", sorted(PINNED))
def test_inputs_form_a_topological_graph(name):
    wl = B.get_network(name)
    seen: set[str] = {""}
    for layer in wl.layers:
        assert layer.inputs and set(layer.inputs) <= seen, layer.name
        seen.add(layer.name)
    assert wl.layers[0].inputs == ("",)
    # BatchNorm is always folded into the preceding conv in the built-ins
    assert not any(la.op == "norm" for la in wl.layers)


# ---------------------------------------------------------------- batch generator
def _random_designs(rng, n, depth_lo=1, expands=(1, 3, 4, 6)):
    depths = rng.integers(depth_lo, 5, (n, 5))
    kernels = rng.choice([3, 5, 7], (n, 20))
    exps = rng.choice(expands, (n, 20))
    return depths, kernels, exps


def _assert_batch_matches(la, workloads):
    ref = LayerArrays.from_workloads(workloads)
    for i, wl in enumerate(workloads):
        m = la.mask[i]
        assert m.sum() == len(wl)
        np.testing.assert_array_equal(la.op[i, m], ref.op[i, : len(wl)])
        for c in ARRAY_COLUMNS:
            np.testing.assert_array_equal(la.columns[c][i, m], ref.columns[c][i, : len(wl)], c)
            assert not la.columns[c][i, ~m].any(), f"{c} not 0 where masked"


def test_batch_equals_per_design_workloads():
    rng = np.random.default_rng(7)
    depths, kernels, expands = _random_designs(rng, 25)
    depths[0], kernels[0], expands[0] = 4, 7, 6  # the largest network: nothing masked
    la = B.mobilenetv2_ofa_batch(depths, kernels, expands, resolution=192, width=0.75)
    assert la.shape == (25, 129) and la.mask[0].all()
    wls = [
        B.mobilenetv2(d, k, e, resolution=192, width=0.75)
        for d, k, e in zip(depths, kernels, expands, strict=True)
    ]
    _assert_batch_matches(la, wls)
    assert la.names is None and la.workload_names == ("mobilenetv2_ofa",) * 25
    assert la.histograms[0].source == "default" and not la.hist_index.any()


def test_batch_bits_and_broadcast_arguments():
    rng = np.random.default_rng(3)
    depths, _, _ = _random_designs(rng, 6, depth_lo=2)
    la = B.mobilenetv2_ofa_batch(depths, 5, 4, weight_bits=4, act_bits=6)
    wls = [B.mobilenetv2(d, 5, 4, weight_bits=4, act_bits=6) for d in depths]
    _assert_batch_matches(la, wls)
    per_layer = rng.integers(2, 9, (6, 129))
    la2 = B.mobilenetv2_ofa_batch(depths, 5, 4, weight_bits=per_layer)
    np.testing.assert_array_equal(la2.weight_bits, np.where(la2.mask, per_layer, 0))
    assert (la2.act_bits[la2.mask] == 8).all()
    with pytest.raises(WorkloadError, match="weight_bits must be in 1..16"):
        B.mobilenetv2_ofa_batch(depths, 5, 4, weight_bits=0)


def test_batch_layout_is_shared_slot_positions():
    la = B.mobilenetv2_ofa_batch(np.array([[4] * 5, [2] * 5]), 3, 6)
    # Design 1 lacks blocks 2-3 of every stage; the surviving rows keep the max-net slots.
    assert la.mask[0].sum() == 129 and la.mask[1].sum() == 129 - 5 * 2 * 6
    assert la.op[1, 0] == OP_CODE["conv"] and la.mask[1, -1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depths=np.full((3, 4), 2)), r"need shape \(N, 5\)"),
        (dict(depths=np.full((3, 5), 5)), "depths must be in 1..4"),
        (dict(kernels=np.full((3, 20), 4)), "kernels must be odd"),
        (dict(expands=np.zeros((3, 20), int)), "expands must be in 1..16"),
        (dict(kernels=np.full((3, 7), 3)), "does not broadcast"),
        (dict(depths=np.full((3, 5), 2.5)), "need integers"),
    ],
)
def test_batch_argument_errors(kwargs, match):
    args = dict(depths=np.full((3, 5), 2), kernels=3, expands=6) | kwargs
    with pytest.raises(WorkloadError, match=match):
        B.mobilenetv2_ofa_batch(**args)


def test_batch_of_10000_matches_per_design_networks():
    # Its speed (a vectorized batch vs a Python loop) is measured in benchmarks/ofa_batch.py.
    rng = np.random.default_rng(0)
    depths, kernels, expands = _random_designs(rng, 10_000, depth_lo=2, expands=(3, 4, 6))
    la = B.mobilenetv2_ofa_batch(depths, kernels, expands)
    assert la.shape == (10_000, 129)
    i = 1234
    wl = B.mobilenetv2(depths[i], kernels[i], expands[i])
    assert la.macs[i].sum() == wl.total_macs and la.weights[i].sum() == wl.total_weights


def test_batch_arrays_evaluate_like_per_design_workloads():
    """The read-only, slot-major batch arrays work in the real cost model (same numbers)."""
    import cimkit

    chip_path = Path(__file__).resolve().parents[2] / "examples" / "chips" / "rram_baseline.yaml"
    if not chip_path.is_file():
        pytest.skip("example chip spec not present")
    chip = cimkit.load_chip(chip_path)
    rng = np.random.default_rng(1)
    depths, kernels, expands = _random_designs(rng, 6, depth_lo=2, expands=(3, 4, 6))
    la = B.mobilenetv2_ofa_batch(depths, kernels, expands, act_bits=6)
    ref = LayerArrays.from_workloads(
        [
            B.mobilenetv2(d, k, e, act_bits=6)
            for d, k, e in zip(depths, kernels, expands, strict=True)
        ]
    )
    got, want = (
        cimkit.evaluate([chip] * 6, la).to_frame(),
        cimkit.evaluate([chip] * 6, ref).to_frame(),
    )
    numeric = want.select_dtypes("number").columns
    np.testing.assert_allclose(got[numeric].to_numpy(float), want[numeric].to_numpy(float))


def test_mlp_rows_by_hand():
    wl = B.mlp(features=(4, 8, 3), tokens=5)
    assert [(r.name, r.op) for r in wl.layers] == [
        ("layers.0", "linear"),
        ("layers.1", "act"),
        ("layers.2", "linear"),
    ]
    assert wl.total_macs == 5 * (4 * 8 + 8 * 3) and wl.total_weights == 4 * 8 + 8 * 3
    assert wl.layers[2].inputs == ("layers.1",) and wl.layers[0].in_elems == 5 * 4
    with pytest.raises(WorkloadError, match="at least 2 sizes"):
        B.mlp(features=(4,))
