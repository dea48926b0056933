"""torch.export route of from_torch: hand-computed rows, export == fx, batch 1 == batch 2,
importer MACs == the independent count, error messages, and the `cimkit import` CLI."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from typer.testing import CliRunner  # noqa: E402

from cimkit.cli import app  # noqa: E402
from cimkit.errors import WorkloadError  # noqa: E402
from cimkit.workload import torch_models as TM  # noqa: E402
from cimkit.workload.mac_count import check_macs, count_macs  # noqa: E402
from cimkit.workload.torch_import import from_torch, import_torch  # noqa: E402

CHIP = Path(__file__).resolve().parents[2] / "examples" / "chips" / "rram_baseline.yaml"


def _frame(model, x, route="auto"):
    return import_torch(model, x, route=route).workload.to_frame()


# ---------------------------------------------------------------- models
class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.ident = nn.Identity()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.ident(self.drop(self.relu(self.bn(self.conv(x)))))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


class DropPath(nn.Module):
    """timm-style stochastic depth: the identity at inference."""

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.rand(x.shape[0], 1, 1, device=x.device) > 0.1
        return x * keep / 0.9


class ViTBlock(nn.Module):
    """Pre-norm ViT block: attention by nn.MultiheadAttention or F.scaled_dot_product_attention."""

    def __init__(self, d=32, heads=4, sdpa=False, mask=False) -> None:
        super().__init__()
        self.d, self.h, self.sdpa, self.use_mask = d, heads, sdpa, mask
        self.norm1 = nn.LayerNorm(d)
        if sdpa:
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
        else:
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.drop_path = DropPath()
        self.norm2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * d, d)

    def attention(self, x):
        if not self.sdpa:
            return self.attn(x, x, x, need_weights=False)[0]
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        mask = torch.zeros(t, t) if self.use_mask else None
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(o.transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.drop_path(self.attention(self.norm1(x)))
        return x + self.drop_path(self.fc2(self.act(self.fc1(self.norm2(x)))))


class FoldedPatches(nn.Module):
    """MobileViT-style: patches folded into dimension 0 before attention (b*p*p, n, c)."""

    def __init__(self, c=16, p=2, heads=2) -> None:
        super().__init__()
        self.p, self.h = p, heads
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        self.local = nn.Conv2d(c, c, 1)

    def forward(self, x):
        y = self.conv(x)
        b, c, h, w = y.shape
        p = self.p
        t = y.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1)
        t = t.reshape(b * p * p, (h // p) * (w // p), c)
        q, k, v = self.qkv(t).chunk(3, -1)
        q, k, v = (z.reshape(b * p * p, -1, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b * p * p, -1, c)
        o = self.proj(o)  # (b*p*p, n, c)
        # a conv on the folded patches: (b*p*p, c, h/p, w/p)
        o = self.local(o.transpose(1, 2).reshape(b * p * p, c, h // p, w // p))
        return o.mean()


class SeqFirst(nn.Module):
    """Seq-first attention: input (T, B, C), nn.MultiheadAttention(batch_first=False)."""

    def __init__(self, d=16, heads=4) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.fc = nn.Linear(d, 8)

    def forward(self, x):
        return self.fc(self.attn(x, x, x, need_weights=False)[0])


# ---------------------------------------------------------------- hand-computed rows
def test_conv_bn_relu_rows_and_identities():
    wl = from_torch(ConvBnRelu(), torch.randn(1, 3, 16, 16))
    assert import_torch(ConvBnRelu(), torch.randn(1, 3, 16, 16)).route == "torch.export"
    assert [(la.name, la.op) for la in wl.layers] == [
        ("conv", "conv"),  # BatchNorm folded; Dropout and Identity give no row
        ("relu", "act"),
        ("avgpool", "pool"),
        ("fc", "linear"),
    ]
    assert wl.layers[0].macs == 8 * 3 * 9 * 16 * 16
    assert wl.layers[3].macs == 8 * 10
    assert wl.layers[1].inputs == ("conv",)


T, D, H = 8, 32, 4
VIT_MACS = {
    "qkv": T * D * 3 * D,
    "qk": H * T * T * (D // H),
    "av": H * T * T * (D // H),
    "proj": T * D * D,
    "mlp": T * D * 2 * D * 2,
}


@pytest.mark.parametrize("sdpa", [False, True], ids=["MultiheadAttention", "sdpa"])
def test_vit_block_hand_computed(sdpa):
    model = ViTBlock(D, H, sdpa=sdpa)
    wl = from_torch(model, torch.randn(1, T, D))
    assert wl.total_macs == sum(VIT_MACS.values())
    scope = "" if sdpa else "attn."
    mm = [la for la in wl.layers if la.op == "matmul"]
    assert [la.name for la in mm] == [f"{scope}matmul", f"{scope}matmul_1"]
    qk, av = mm
    assert (qk.in_channels, qk.out_channels, qk.out_h, qk.repeat) == (D // H, T, T, H)
    assert (av.in_channels, av.out_channels, av.out_h, av.repeat) == (T, D // H, T, H)
    soft = [la for la in wl.layers if la.op == "softmax"]
    assert len(soft) == 1 and soft[0].out_elems == H * T * T and soft[0].inputs == (qk.name,)
    assert av.inputs[0] == soft[0].name
    ops = [la.op for la in wl.layers]
    assert ops.count("norm") == 2 and ops.count("act") == 1 and ops.count("eltwise") == 2
    assert not [la for la in wl.layers if "drop" in la.name]  # DropPath is the identity
    counted = count_macs(model, torch.randn(1, T, D))
    assert counted.total == wl.total_macs
    check_macs(wl, counted)


def test_sdpa_attn_mask_is_an_add_row():
    wl = from_torch(ViTBlock(D, H, sdpa=True, mask=True), torch.randn(1, T, D))
    names = [la.name for la in wl.layers]
    i = names.index("matmul")
    assert names[i : i + 4] == ["matmul", "add", "softmax", "matmul_1"]
    assert wl.layers[i + 1].out_elems == H * T * T


def test_folded_patches_count_in_full():
    # conv 3->16 3x3 on 8x8; 4 patch groups x 16 tokens: qkv, QK^T, AV (2 heads x 16 x 16 x 8),
    # proj, and a 1x1 conv on the folded (4, 16, 4, 4) tensor.
    c, p = 16, 2
    want = (
        64 * c * 27  # conv
        + 64 * c * 3 * c  # qkv on 4 x 16 tokens
        + 2 * (p * p * 2 * 16 * 16 * (c // 2))  # QK^T and AV
        + 64 * c * c  # proj
        + p * p * 16 * c * c  # local 1x1 conv, repeat = 4 folds
    )
    model = FoldedPatches(c, p)
    x1, x2 = torch.randn(1, 3, 8, 8), torch.randn(2, 3, 8, 8)
    wl = from_torch(model, x1)
    assert wl.total_macs == want
    local = next(la for la in wl.layers if la.name == "local")
    assert (local.repeat, local.out_h, local.out_w) == (p * p, 4, 4)
    att = [la for la in wl.layers if la.op == "matmul"]
    assert sum(la.macs for la in att) == 2 * p * p * 2 * 16 * 16 * (c // 2)
    assert _frame(model, x2).equals(wl.to_frame())  # batch 2 gives the same rows
    check_macs(wl, count_macs(model, x1))
    check_macs(wl, count_macs(model, x2))


def test_seq_first_attention_batch_from_the_data():
    model = SeqFirst()
    want = 10 * 16 * 48 + 2 * (4 * 10 * 10 * 4) + 10 * 16 * 16 + 10 * 16 * 8
    frames = []
    for b in (1, 2):
        x = torch.randn(10, b, 16)  # (T, B, C)
        res = import_torch(model, x)
        assert res.batch == b
        assert res.workload.total_macs == want
        check_macs(res.workload, count_macs(model, x, batch=res.batch))
        frames.append(res.workload.to_frame())
    assert frames[0].equals(frames[1])


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: TM.resnet18(depths=(1, 1, 1, 1)), (3, 32, 32)),
        (lambda: TM.mobilenetv2(depths=(1,) * 5, kernels=3, expands=3), (3, 64, 64)),
        (lambda: ConvBnRelu(), (3, 16, 16)),
        (lambda: FoldedPatches(), (3, 8, 8)),
        (lambda: ViTBlock(sdpa=False), (8, 32)),
    ],
    ids=["resnet", "mobilenetv2", "convbnrelu", "folded", "vit-mha"],
)
def test_batch1_equals_batch2_and_independent_count(make, shape):
    model = make()
    one, two = torch.randn(1, *shape), torch.randn(2, *shape)
    wl = from_torch(model, one)
    assert _frame(model, two).equals(wl.to_frame())
    check_macs(wl, count_macs(model, one))
    check_macs(wl, count_macs(model, two))


def test_export_equals_fx_on_small_models():
    from test_torch_import import Attention, Mixed, Pools

    for model, x in (
        (Attention(), torch.randn(1, 8, 32)),
        (Mixed(), torch.randn(2, 3, 16, 16)),
        (Pools(), torch.randn(1, 4, 16, 16)),
        (ConvBnRelu(), torch.randn(2, 3, 16, 16)),
        (ViTBlock(sdpa=True), torch.randn(2, T, D)),  # SDPA and DropPath on both routes
        (FoldedPatches(), torch.randn(2, 3, 8, 8)),  # patches folded into dimension 0
    ):
        assert _frame(model, x, "export").equals(_frame(model, x, "fx")), type(model).__name__


# ---------------------------------------------------------------- errors
class Unknown(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.drop = DropPath()

    def forward(self, x):
        y = self.drop(self.conv(x))
        y = torch.cummax(y, 1)[0] + torch.cummax(y, 2)[0]
        return self.shuffle(y)


def test_unsupported_listed_by_qualified_name_count_and_scope():
    with pytest.raises(WorkloadError) as err:
        from_torch(Unknown(), torch.randn(1, 3, 8, 8))
    msg = str(err.value)
    assert msg.startswith("torch.export: network 'Unknown' uses unsupported operators: ")
    assert "aten.cummax.default x2 (first at top level)" in msg
    assert "aten.pixel_shuffle.default x1 (first in 'shuffle')" in msg
    assert "torch.cummax" not in msg and "drop" not in msg and "control flow" not in msg
    assert "\n" not in msg


def test_mismatch_names_the_differing_layers():
    model = ConvBnRelu()
    x = torch.randn(1, 3, 16, 16)
    counted = count_macs(model, x)
    wrong = from_torch(TM.vgg8(), torch.randn(1, 3, 32, 32))  # a different table
    with pytest.raises(WorkloadError, match=r"MAC check failed .*differing scopes: .*conv"):
        check_macs(wrong, counted)
    assert counted.by_scope == {"conv": 8 * 27 * 256, "fc": 80}


def test_control_flow_hint_only_for_control_flow():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(WorkloadError) as err:
        from_torch(Branchy(), torch.randn(1, 3))
    msg = str(err.value)
    assert "torch.export failed (" in msg and "the torch.fx fallback failed (" in msg
    assert "data-dependent control flow" in msg and "\n" not in msg

    with pytest.raises(WorkloadError) as err:
        from_torch(TM.vgg8(), torch.randn(1, 3, 48, 48))  # a shape error, not control flow
    msg = str(err.value)
    assert "torch.export failed (" in msg and "running 'VGG8'" in msg
    assert "control flow" not in msg


def test_fx_fallback_when_export_fails(monkeypatch):
    import cimkit.workload.torch_export as TE

    def refuse(model, inputs):
        raise RuntimeError("no export today")

    monkeypatch.setattr(TE, "export_program", refuse)
    res = import_torch(ConvBnRelu(), torch.randn(1, 3, 16, 16))
    assert res.route == "torch.fx" and "no export today" in res.export_error
    assert res.workload.to_frame().equals(_frame(ConvBnRelu(), torch.randn(1, 3, 16, 16), "fx"))


# ---------------------------------------------------------------- CLI
runner = CliRunner()

FACTORIES = textwrap.dedent(
    """
    import torch
    from cimkit.workload import torch_models as TM

    def small():
        torch.manual_seed(0)
        return TM.mobilenetv2(depths=(1,) * 5, kernels=3, expands=3)

    def tokens():
        class Text(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(100, 16)
                self.fc = torch.nn.Linear(16, 4)
            def forward(self, ids):
                return self.fc(self.emb(ids)).mean(1)
        return Text()
    """
)


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "cimkit_cli_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cimkit_cli_factories"


def test_cli_import_check_and_out(factories, tmp_path):
    out = tmp_path / "tab"
    res = runner.invoke(
        app,
        [
            "import",
            "--torch",
            f"{factories}:small",
            "--input-shape",
            "1,3,96,96",
            "--check",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "route torch.export" in res.output and "MAC check passed" in res.output
    frame = pd.read_csv(out / "layers.csv")
    model = TM.mobilenetv2(depths=(1,) * 5, kernels=3, expands=3)
    want = from_torch(model, torch.randn(1, 3, 96, 96))
    assert frame["macs"].sum() == want.total_macs and len(frame) == len(want)
    assert len(pd.read_parquet(out / "layers.parquet")) == len(want)


def test_cli_import_token_ids(factories):
    res = runner.invoke(
        app,
        [
            "import",
            "--torch",
            f"{factories}:tokens",
            "--input-shape",
            "1,12",
            "--input-dtype",
            "int64",
            "--check",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 MAC rows" in res.output and f"{12 * 16 * 4:,} MACs" in res.output


def test_cli_import_errors(factories, tmp_path, monkeypatch):
    res = runner.invoke(app, ["import", "--torch", f"{factories}:small", "--input-shape", "1,x"])
    assert res.exit_code == 2 and "--input-shape" in res.output
    res = runner.invoke(app, ["import"])
    assert res.exit_code == 2 and "--torch" in res.output
    res = runner.invoke(app, ["import", "--onnx", "x.onnx", "--input-shape", "1,3,8,8"])
    assert res.exit_code == 2 and "apply to --torch models only" in res.output

    import cimkit.workload.mac_count as MC

    real = MC.count_macs

    def off_by_one(*args, **kwargs):
        c = real(*args, **kwargs)
        by = dict(c.by_scope)
        by["features.0.0"] += 1
        return MC.MacCount(c.total + 1, by, c.scopes, c.batch)

    monkeypatch.setattr(MC, "count_macs", off_by_one)
    res = runner.invoke(
        app, ["import", "--torch", f"{factories}:small", "--input-shape", "1,3,64,64", "--check"]
    )
    assert res.exit_code == 2 and "MAC check failed" in res.output
    assert "features.0.0" in res.output


def test_cli_import_onnx_check_skipped(factories, tmp_path):
    model = TM.mobilenetv2(depths=(1,) * 5, kernels=3, expands=3).eval()
    path = tmp_path / "m.onnx"
    try:
        torch.onnx.export(model, torch.randn(1, 3, 64, 64), str(path), dynamo=False)
    except Exception as exc:  # pragma: no cover - onnx not installed
        pytest.skip(f"ONNX export unavailable: {exc}")
    res = runner.invoke(app, ["import", "--onnx", str(path), "--check"])
    assert res.exit_code == 0, res.output
    assert "route onnx" in res.output and "MAC check skipped" in res.output


def test_cli_evaluate_with_input_shape(factories):
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--hw",
            str(CHIP),
            "--torch",
            f"{factories}:small",
            "--input-shape",
            "1,3,96,96",
            "--no-histograms",
        ],
    )
    assert res.exit_code in (0, 1), res.output  # 1 = runs but does not fit the chip
    assert "TOPS/W" in res.output


class WrittenOutGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        y = self.fc(x)
        erf = y * 0.5 * (1.0 + torch.erf(y / math.sqrt(2.0)))  # erf form
        t = 0.5 * erf * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (erf + 0.044715 * erf**3)))
        return torch.tanh(t) + 1.0  # a plain tanh and a scalar add stay rows


def test_written_out_gelu_is_one_act_row():
    wl = from_torch(WrittenOutGelu(), torch.randn(1, 4, 8))
    assert [(la.name, la.op) for la in wl.layers] == [
        ("fc", "linear"),
        ("gelu", "act"),
        ("gelu_1", "act"),
        ("tanh", "act"),
        ("add", "eltwise"),
    ]
    assert wl.layers[2].inputs == ("gelu",) and wl.layers[1].inputs == ("fc",)


class NotFxTraceable(ConvBnRelu):
    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        return y + torch.zeros(y.shape[2], y.shape[3])  # fx cannot pass a Proxy to zeros()


def test_histograms_fold_batchnorm_from_the_export_graph():
    from cimkit.workload.torch_import import collect_histograms

    torch.manual_seed(0)
    model = NotFxTraceable()
    with torch.no_grad():
        model.bn.running_var.copy_(torch.arange(1.0, 9.0) ** 2)  # per-channel scale 1/(k+1)
    x = torch.rand(1, 3, 16, 16)
    res = import_torch(model, x)
    assert res.route == "torch.export"
    hist = collect_histograms(model, x, res.workload)
    from cimkit.workload.histograms import LayerHistogram

    scale = 1.0 / torch.sqrt(model.bn.running_var + model.bn.eps)
    w = model.conv.weight.detach()
    folded = LayerHistogram.from_values(x.numpy(), (w * scale[:, None, None, None]).numpy(), "")
    unfolded = LayerHistogram.from_values(x.numpy(), w.numpy(), "")
    assert folded.weights.tolist() != unfolded.weights.tolist()
    assert hist["conv"].weights.tolist() == folded.weights.tolist()


class NdimBn(nn.BatchNorm2d):
    """timm BatchNormAct2d-style: a BatchNorm subclass that inspects x.ndim and calls F."""

    def forward(self, x):
        torch._assert(x.ndim == 4, "expected 4-D input")
        y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias)
        return F.relu(y)


class AttnArgs(nn.Module):
    """timm Attention-style forward arguments: attn_mask=None, is_causal=False reach fx as
    placeholders."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = NdimBn(8)
        self.qkv = nn.Linear(8, 24)

    def forward(self, x, attn_mask=None, is_causal=False):
        y = self.bn(self.conv(x)).flatten(2).transpose(1, 2)  # (B, 16, 8)
        q, k, v = self.qkv(y).reshape(y.shape[0], 16, 3, 2, 4).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)


def test_fx_matches_export_on_library_patterns():
    model, x = AttnArgs(), torch.randn(1, 3, 4, 4)
    fx = _frame(model, x, "fx")
    assert fx.equals(_frame(model, x, "export"))
    assert list(fx["name"]) == ["conv", "bn", "qkv", "matmul", "softmax", "matmul_1"]


@pytest.mark.parametrize("route", ["export", "fx"])
def test_reshape_as_template_is_no_input(route: str) -> None:
    """``bn(y.flatten(0, 1)).reshape_as(y)`` (LeViT's LinearNorm): y gives only the shape, so
    the consumer's inputs are the norm's row, not the linear's too (as ONNX's Shape has it)."""
    import torch
    from torch import nn

    from cimkit.workload.torch_import import import_torch

    class LinearNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(8, 8)
            self.bn = nn.BatchNorm1d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.linear(x)
            z = self.bn(y.flatten(0, 1)).reshape_as(y)
            return z + x

    wl = import_torch(LinearNorm().eval(), torch.randn(1, 4, 8), route=route).workload
    add = next(layer for layer in wl.layers if layer.op == "eltwise")
    norm = next(layer for layer in wl.layers if layer.op == "norm")
    assert norm.name in add.inputs
    assert not any(name.endswith("linear") for name in add.inputs), add.inputs
