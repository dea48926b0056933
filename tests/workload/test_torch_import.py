"""torch.fx importer: identical tables to the built-ins, op mapping rules, histograms, factories."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from cimkit.errors import WorkloadError  # noqa: E402
from cimkit.workload import builtin as B  # noqa: E402
from cimkit.workload import torch_models as TM  # noqa: E402
from cimkit.workload.histograms import LayerHistogram  # noqa: E402
from cimkit.workload.torch_import import (  # noqa: E402
    collect_histograms,
    from_torch,
    load_torch_factory,
)

OFA_SUBNET = dict(depths=(2, 3, 4, 2, 3), kernels=[3, 5, 7, 3] * 5, expands=[3, 4, 6, 6] * 5)

# (builtin workload, torch model, example input): the same network three ways
CASES = {
    "mobilenetv2": lambda: (B.mobilenetv2_standard(), TM.mobilenetv2_standard(), (1, 3, 224, 224)),
    "ofa_subnet": lambda: (
        B.mobilenetv2(**OFA_SUBNET, resolution=160),
        TM.mobilenetv2(**OFA_SUBNET),
        (1, 3, 160, 160),
    ),
    "resnet18": lambda: (B.resnet18(), TM.resnet18(), (1, 3, 224, 224)),
    "vgg8": lambda: (B.vgg8(), TM.vgg8(), (1, 3, 32, 32)),
    "resnet50": lambda: (B.resnet50(), TM.resnet50(), (1, 3, 224, 224)),
}


def _tables_equal(a, b):
    fa, fb = a.to_frame(), b.to_frame()
    assert list(fa["name"]) == list(fb["name"])
    assert fa.equals(fb)


@pytest.mark.parametrize("route", ["fx", "export"])
@pytest.mark.parametrize(
    "case",
    ["mobilenetv2", "ofa_subnet", "resnet18", "vgg8", "resnet50"],
)
def test_fx_table_equals_builtin(case, route):
    builtin, model, shape = CASES[case]()
    wl = from_torch(model, torch.randn(*shape), name=builtin.name, route=route)
    _tables_equal(builtin, wl)
    # weights cross-check: conv/linear weight tensors of the torch model
    n_weights = sum(
        m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)
    )
    assert wl.total_weights == n_weights


def test_mobilenetv2_parameter_count_matches_torchvision():
    model = TM.mobilenetv2_standard()
    assert sum(p.numel() for p in model.parameters()) == 3_504_872  # torchvision's figure
    assert sum(p.numel() for p in TM.resnet18().parameters()) == 11_689_512


def test_bits_and_name_and_mode_restored():
    model = TM.vgg8()
    model.train()
    model.classifier[0].eval()  # mixed modes survive
    wl = from_torch(model, torch.randn(1, 3, 32, 32), weight_bits=4, act_bits=6)
    assert wl.name == "VGG8"
    assert {(la.weight_bits, la.act_bits) for la in wl.layers} == {(4, 6)}
    assert model.training and model.features[0].training and not model.classifier[0].training


# ---------------------------------------------------------------- op mapping rules
class Attention(nn.Module):
    """Pre-norm attention + MLP block with explicit matmuls (what the fx importer supports)."""

    def __init__(self, d: int = 32, heads: int = 4, tokens: int = 8) -> None:
        super().__init__()
        self.d, self.h, self.t = d, heads, tokens
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.w = nn.Parameter(torch.randn(d, 2 * d) * 0.1)
        self.b = nn.Parameter(torch.zeros(2 * d))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * d, d)

    def heads(self, x):
        return x.reshape(-1, self.t, self.h, self.d // self.h).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.qkv(self.norm(x)).split(self.d, dim=-1)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        a = torch.softmax((q @ k.transpose(-2, -1)) * 0.125, dim=-1)
        o = (a @ v).transpose(1, 2).reshape(-1, self.t, self.d)
        x = x + self.proj(o)
        y = self.act(x @ self.w + self.b)  # parameter matmul + constant add = one linear row
        x = x + self.fc2(y * torch.sigmoid(y))  # x * sigmoid(x) = one SiLU row
        return x.mean(1)


def test_attention_block_rows():
    wl = from_torch(Attention(), torch.randn(1, 8, 32))
    rows = {la.name: la for la in wl.layers}
    assert [(la.name, la.op) for la in wl.layers] == [
        ("norm", "norm"),
        ("qkv", "linear"),
        ("matmul", "matmul"),  # the * 0.125 scale is a scalar constant: folded, no row
        ("softmax", "softmax"),
        ("matmul_1", "matmul"),
        ("proj", "linear"),
        ("add", "eltwise"),
        ("linear", "linear"),
        ("act", "act"),
        ("silu", "act"),
        ("fc2", "linear"),
        ("add_1", "eltwise"),
        ("mean", "pool"),
    ]
    qk = rows["matmul"]  # (4 heads) x [8 x 8] @ [8 x 8]
    assert (qk.in_channels, qk.out_channels, qk.out_h, qk.repeat) == (8, 8, 8, 4)
    assert (qk.macs, qk.weights, qk.inputs) == (8 * 8 * 8 * 4, 0, ("qkv",))
    assert rows["matmul_1"].inputs == ("softmax", "qkv")
    assert (rows["qkv"].out_h, rows["qkv"].weights) == (8, 32 * 96)  # 8 tokens
    assert (rows["linear"].in_channels, rows["linear"].out_channels) == (32, 64)
    assert rows["act"].inputs == ("linear",)  # the bias add is folded into the linear row
    assert rows["silu"].inputs == ("act",)
    assert rows["add"].inputs == ("", "proj")  # residual from the network input
    assert (rows["mean"].kernel_h, rows["mean"].out_elems) == (8, 32)


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.bn_a = nn.BatchNorm2d(8)
        self.bn_sum = nn.BatchNorm2d(16)
        self.c = nn.Conv2d(16, 4, 3, stride=2, padding=1, bias=False)
        self.bn_c = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv1d = nn.Conv1d(4, 6, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool1d(1)

    def forward(self, x):
        a = self.bn_a(self.a(x))  # folded
        y = torch.cat([a, self.b(x)], dim=1)  # shape op: lineage of both convs
        y = self.bn_sum(F.relu6(y))  # BatchNorm not after a conv: a norm row
        c = self.c(y)
        z = self.bn_c(c) + c  # conv used twice: its BatchNorm cannot fold
        z = self.pool(F.hardswish(z)).flatten(2)  # (N, 4, 16) -> conv1d
        return self.gap(F.dropout(self.conv1d(z), 0.5, self.training)).squeeze(-1)


def test_rules_bn_folding_shape_ops_and_1d_layers():
    wl = from_torch(Mixed(), torch.randn(2, 3, 16, 16))
    rows = {la.name: la for la in wl.layers}
    assert [la.name for la in wl.layers] == [
        "a",
        "b",
        "relu6",
        "bn_sum",
        "c",
        "bn_c",
        "add",
        "hardswish",
        "pool",
        "conv1d",
        "gap",
    ]
    assert rows["relu6"].inputs == ("a", "b") and rows["relu6"].in_channels == 16
    assert rows["bn_sum"].op == "norm" and rows["bn_c"].op == "norm"
    assert rows["add"].inputs == ("bn_c", "c")
    c1 = rows["conv1d"]
    assert (c1.kernel_h, c1.kernel_w, c1.in_h, c1.in_w, c1.macs) == (1, 3, 1, 16, 6 * 4 * 3 * 16)
    assert (rows["pool"].kernel_h, rows["pool"].stride, rows["pool"].out_h) == (2, 2, 4)
    assert (rows["gap"].kernel_w, rows["gap"].out_w, rows["gap"].inputs) == (16, 1, ("conv1d",))


class Pools(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.AvgPool1d(3, 2)  # stores its stride as a 1-tuple
        self.b = nn.MaxPool2d((2, 2), (2, 2))
        self.c = nn.AvgPool2d(3, stride=1, padding=1)

    def forward(self, x):
        y = self.c(self.b(x))
        z = F.avg_pool1d(y.flatten(2), 4) * 2
        return self.a(z), F.max_pool2d(y, 2)


def test_pool_windows_and_strides():
    wl = from_torch(Pools(), torch.randn(1, 4, 16, 16))
    got = [(la.name, la.kernel_h, la.kernel_w, la.stride, la.out_h, la.out_w) for la in wl.layers]
    assert got == [
        ("b", 2, 2, 2, 8, 8),
        ("c", 3, 3, 1, 8, 8),
        ("avgpool", 1, 4, 4, 1, 16),  # the * 2 that follows is a scalar constant: no row
        ("a", 1, 3, 2, 1, 7),
        ("maxpool", 2, 2, 2, 4, 4),
    ]


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        y = self.conv(x)
        y = torch.cumsum(y, 1) + torch.cumsum(y, 2)  # cumsum rows (ONNX: CumSum, not mapped)
        return self.up(self.shuffle(y)).sort(-1)[0]


def test_unsupported_operators_are_all_listed():
    # torch.fx route: real qualified names (module class paths, torch builtins, Tensor methods),
    # counts and the first scope; nn.Upsample is a supported 'resize' row on the export route
    # but an unmapped module on the fx route.
    with pytest.raises(WorkloadError) as err:
        from_torch(Unsupported(), torch.randn(1, 3, 8, 8), route="fx")
    msg = str(err.value)
    assert (
        "torch.fx: network 'Unsupported' uses unsupported operators: "
        "torch.Tensor.sort x1 (first at top level), "
        "torch.nn.modules.pixelshuffle.PixelShuffle x1 (first in 'shuffle'), "
        "torch.nn.modules.upsampling.Upsample x1 (first in 'up')"
    ) in msg
    assert "\n" not in msg and "control flow" not in msg


def test_untraceable_model_is_a_workload_error():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(WorkloadError, match="torch.fx cannot trace 'Branchy'"):
        from_torch(Branchy(), torch.randn(1, 3))
    with pytest.raises(WorkloadError, match="expected a torch.nn.Module"):
        from_torch(lambda x: x, torch.randn(1, 3))
    expected = r"running 'VGG8' on an example input of shape \(1, 3, 48, 48\) failed \(RuntimeError"
    with pytest.raises(WorkloadError, match=expected):
        from_torch(TM.vgg8(), torch.randn(1, 3, 48, 48))


def test_constant_only_ops_are_folded_and_sizes_are_metadata():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 4))
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            w = torch.tanh(self.w) * 2  # constant-foldable: no rows
            return self.fc(x @ w).view(x.size(0), -1)

    wl = from_torch(M(), torch.randn(3, 4))
    assert [(la.name, la.op) for la in wl.layers] == [("linear", "linear"), ("fc", "linear")]


# ---------------------------------------------------------------- histograms
def test_histograms_from_a_real_forward_pass():
    torch.manual_seed(0)
    model = TM.mobilenetv2(depths=(2,) * 5, kernels=3, expands=3)
    x = torch.rand(2, 3, 96, 96)  # non-negative "images"
    wl = from_torch(model, x)
    hist = collect_histograms(model, x, wl)
    mac_names = [la.name for la in wl.layers if la.op in ("conv", "dwconv", "pwconv", "linear")]
    assert sorted(hist) == sorted(mac_names)
    default = LayerHistogram.default()
    stem = hist["features.0.0"]
    assert stem.source == "torch:MobileNetV2 on 2 sample(s)"
    assert not np.allclose(stem.inputs, default.inputs)
    assert not np.allclose(stem.weights, default.weights)
    assert stem.inputs[: len(stem.inputs) // 2].sum() == 0  # rand() inputs are all >= 0
    # post-ReLU6 inputs of a pointwise conv are unsigned too
    assert hist["features.1.conv.1"].inputs[:255].sum() == 0
    arrays = wl.with_histograms(hist).arrays()
    assert len(arrays.histograms) == len(mac_names) + 1
    assert (arrays.hist_index[0] > 0).sum() == len(mac_names)


def test_histograms_of_a_module_called_twice():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    model = Twice()
    x = torch.randn(5, 4)
    wl = from_torch(model, x)
    assert [la.name for la in wl.layers] == ["fc", "relu", "fc_1"]
    hist = collect_histograms(model, x, wl)
    assert sorted(hist) == ["fc", "fc_1"]
    assert hist["fc_1"].inputs[:255].sum() == 0 and hist["fc"].inputs[:255].sum() > 0


# ---------------------------------------------------------------- factories
FACTORY_MODULE = textwrap.dedent(
    """
    import torch
    from cimkit.workload import torch_models as TM

    def with_input(width=1.0):
        return TM.vgg8(width=width), torch.zeros(2, 3, 32, 32)

    def model_attr():
        model = TM.vgg8()
        model.example_input = torch.zeros(1, 3, 32, 32)
        return model

    def factory_attr():
        return TM.vgg8()
    factory_attr.example_input = torch.zeros(4, 3, 32, 32)

    def plain():
        return torch.nn.Linear(3, 4)

    class Builder:
        @staticmethod
        def build():
            return torch.nn.Identity()

    def not_a_model():
        return 42

    def broken():
        raise RuntimeError("boom")

    NOT_CALLABLE = 3
    """
)


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "cimkit_test_factories.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cimkit_test_factories"


def test_load_torch_factory_example_input_rules(factory_module):
    model, x = load_torch_factory(f"{factory_module}:with_input", width=0.5)
    assert x.shape == (2, 3, 32, 32) and model.features[0].out_channels == 64
    assert load_torch_factory(f"{factory_module}:model_attr")[1].shape == (1, 3, 32, 32)
    assert load_torch_factory(f"{factory_module}:factory_attr")[1].shape == (4, 3, 32, 32)
    _, default = load_torch_factory(f"{factory_module}:plain")
    _, again = load_torch_factory(f"{factory_module}:plain")
    assert default.shape == (1, 3, 224, 224) and torch.equal(default, again)  # deterministic
    assert isinstance(load_torch_factory(f"{factory_module}:Builder.build")[0], nn.Identity)
    model, x = load_torch_factory(f"{factory_module}:with_input")
    assert from_torch(model, x).total_macs == B.vgg8().total_macs


@pytest.mark.parametrize(
    "suffix, match",
    [
        (":missing", "has no attribute 'missing'"),
        (":NOT_CALLABLE", "is not callable"),
        (":not_a_model", "returned int, expected a torch.nn.Module"),
        (":broken", "failed: RuntimeError: boom"),
    ],
)
def test_load_torch_factory_errors(factory_module, suffix, match):
    with pytest.raises(WorkloadError, match=match):
        load_torch_factory(factory_module + suffix)


@pytest.mark.parametrize(
    "spec, match",
    [
        ("no_colon_here", "expected 'package.module:factory'"),
        ("a:b:c", "expected 'package.module:factory'"),
        ("surely_not_a_module_xyz:build", "cannot import module 'surely_not_a_module_xyz'"),
    ],
)
def test_load_torch_factory_bad_specs(spec, match):
    with pytest.raises(WorkloadError, match=match):
        load_torch_factory(spec)
