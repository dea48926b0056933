"""H4H-NAS Table 1 layer tables: sizes against the notes' derived figures, heads, stride 32,
and the CNN-only subset."""

from __future__ import annotations

import pytest

from cimkit.errors import WorkloadError
from cimkit.workload.h4h import H4HConfig, h4h_config, h4h_hybrid, h4h_table


def test_min_and_max_sizes() -> None:
    # ../shared/papers/h4h-osa-notes.md A1 (derived under the same A9 choices):
    # min_net ~198 M MACs, ~5.65 M params; max_net ~2.56 G MACs, ~17.8 M params, at 224.
    lo, hi = h4h_hybrid("min"), h4h_hybrid("max")
    assert lo.total_macs == pytest.approx(198e6, rel=0.01)
    assert lo.total_weights == pytest.approx(5.65e6, rel=0.01)
    assert hi.total_macs == pytest.approx(2.56e9, rel=0.01)
    assert hi.total_weights == pytest.approx(17.8e6, rel=0.01)
    assert sum(1 for layer in lo.layers if layer.op == "matmul") == 0
    # 16 ViT blocks in max_net, two attention matmuls each
    assert sum(1 for layer in hi.layers if layer.op == "matmul") == 32


def test_heads_are_width_over_8_and_tokens_follow_stride_32() -> None:
    wl = h4h_hybrid("max")
    cfg = h4h_config("max")
    qk = [layer for layer in wl.layers if layer.name.endswith(".attn.matmul")]
    widths = [v[0] for v in cfg.vit if v is not None for _ in range(v[1])]
    assert [layer.repeat for layer in qk] == [w // 8 for w in widths]
    assert all(layer.in_channels == 8 for layer in qk)
    # stage 7 runs at 224 / 32 = 7 -> 49 tokens
    vit7 = [layer for layer in qk if layer.name.startswith("vit7")]
    assert vit7 and all(layer.out_h == 49 for layer in vit7)
    pool = next(layer for layer in wl.layers if layer.name == "pool.expand.conv")
    assert (pool.in_h, pool.in_w) == (7, 7)


def test_cnn_only_is_the_hybrid_with_vit_depth_zero() -> None:
    cfg = h4h_config("max")
    cnn = h4h_table(cfg.cnn_only())
    assert cnn.layers == h4h_hybrid("max", cnn_only=True).layers
    assert all(layer.op not in ("matmul", "softmax") for layer in cnn.layers)
    # min_net has no ViT block, so it is its own CNN-only member
    assert h4h_hybrid("min").layers == h4h_hybrid("min", cnn_only=True).layers


def test_out_of_range_genes_are_refused() -> None:
    cfg = h4h_config("min")
    with pytest.raises(WorkloadError, match="mb2 width"):
        H4HConfig(cfg.stem, ((16, 1, 1), (30, 2, 4), *cfg.mb[2:]), cfg.vit, cfg.pool)
    with pytest.raises(WorkloadError, match="stem width"):
        H4HConfig(20, cfg.mb, cfg.vit, cfg.pool)
