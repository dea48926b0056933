"""Independent MAC count: hand-computed counts per scope, repeated modules, fused kernels, and the
check against imported tables."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from cimkit.errors import WorkloadError  # noqa: E402
from cimkit.workload import builtin as B  # noqa: E402
from cimkit.workload import torch_models as TM  # noqa: E402
from cimkit.workload.mac_count import check_macs, count_macs, row_scope  # noqa: E402
from cimkit.workload.torch_import import from_torch  # noqa: E402


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = nn.Linear(8, 8)
        self.w = nn.Parameter(torch.randn(8, 4))

    def forward(self, x):  # x: (B, 8, 4, 4)
        y = self.dw(x).flatten(2).transpose(1, 2)  # (B, 16, 8)
        y = self.fc(torch.relu(self.fc(y)))  # the same module twice: fc, fc_1
        a = torch.einsum("btc,bsc->bts", y, y)  # (B, 16, 16): 16 x 16 x 8
        return (a @ y) @ self.w  # matmul (16 x 16 x 8) and a parameter matmul (16 x 8 x 4)


def test_counts_by_scope_hand_computed():
    counted = count_macs(Twice(), torch.randn(3, 8, 4, 4))
    assert counted.batch == 3
    assert counted.by_scope == {
        "dw": 8 * 9 * 16,
        "fc": 16 * 8 * 8,
        "fc_1": 16 * 8 * 8,
        "": 16 * 16 * 8 + 16 * 16 * 8 + 16 * 8 * 4,
    }
    assert counted.total == sum(counted.by_scope.values())
    assert {"dw", "fc", "fc_1", ""} <= counted.scopes


def test_imported_table_matches_the_count():
    model = Twice()
    x = torch.randn(1, 8, 4, 4)
    wl = from_torch(model, x)
    assert [la.name for la in wl.layers if la.macs] == [
        "dw",
        "fc",
        "fc_1",
        "matmul",
        "matmul_1",
        "linear",
    ]
    check_macs(wl, count_macs(model, x))


@pytest.mark.parametrize(
    "builtin, model, shape",
    [
        (B.resnet18, TM.resnet18, (1, 3, 224, 224)),
        (B.mobilenetv2_standard, TM.mobilenetv2_standard, (1, 3, 224, 224)),
        (B.vgg8, TM.vgg8, (1, 3, 32, 32)),
    ],
    ids=["resnet18", "mobilenetv2", "vgg8"],
)
def test_builtin_networks_match_the_count(builtin, model, shape):
    counted = count_macs(model(), torch.randn(*shape))
    assert counted.total == builtin().total_macs
    check_macs(builtin(), counted)


def test_sdpa_and_mha_kernels_are_counted():
    q = torch.randn(2, 4, 10, 8)

    class Sdpa(nn.Module):
        def forward(self, x):
            return F.scaled_dot_product_attention(x, x, x)

    assert count_macs(Sdpa(), q).total == 4 * 10 * 10 * 8 * 2
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.randn(1, 10, 16)
    want = 10 * 16 * 16 * 4 + 2 * 10 * 10 * 16
    assert count_macs(mha, (x, x, x)).total == want
    assert from_torch(mha, (x, x, x)).total_macs == want


def test_row_scope_and_mismatch_message():
    scopes = frozenset({"", "a", "a.b", "blocks.0.attn"})
    assert row_scope("a.b", scopes) == "a.b"
    assert row_scope("a.b.add", scopes) == "a.b"
    assert row_scope("a.matmul_1", scopes) == "a"
    assert row_scope("matmul", scopes) == ""
    model = Twice()
    x = torch.randn(1, 8, 4, 4)
    counted = count_macs(model, x)
    wl = from_torch(model, x)
    bad = type(wl)(wl.name, tuple(la for la in wl.layers if la.name != "fc_1"))
    with pytest.raises(WorkloadError) as err:
        check_macs(bad, counted)
    msg = str(err.value)
    assert "fc_1: table 0 vs counted 1,024" in msg and "\n" not in msg


def test_forward_failure_is_a_workload_error():
    with pytest.raises(WorkloadError, match="count_macs: forward pass failed"):
        count_macs(TM.vgg8(), torch.randn(1, 3, 48, 48))


def test_constant_kernels_are_folded_in_the_count():
    class PosEnc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(4, 8, 1)  # applied to a grid-only tensor: constant-folded
            self.conv = nn.Conv2d(3, 8, 1)

        def forward(self, x):
            grid = torch.ones(1, 4, x.shape[2], x.shape[3])
            return self.conv(x) + self.proj(grid)

    model, x = PosEnc(), torch.randn(1, 3, 4, 4)
    counted = count_macs(model, x)
    assert counted.by_scope == {"conv": 8 * 3 * 16}
    check_macs(from_torch(model, x), counted)
