"""Real-model tier: published architectures (tests/workload/real_models.py), both import paths.

For every model: the torch path (``import_torch``) imports it with MACs equal to the independent
dispatch-level count (``cimkit.workload.mac_count.count_macs``); the ONNX path (TorchScript
export, ``from_onnx``) imports it with MACs equal to the same count and energy on the default
chip within 1 % of the torch table's. A quick subset (one model per family) runs in
``make test-quick``; the rest are slow-marked. Known failures are ``xfail(strict=True)`` with
their reason, so a fix shows up as an unexpected pass and the list stays honest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cimkit.workload.torchvision_shim import install as _install_torchvision_shim  # noqa: E402

_install_torchvision_shim()  # before anything imports torchvision (timm, transformers do)
pytest.importorskip("timm")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_models import MODELS, RealModel, Result, check_model  # noqa: E402

# Model name -> why the torch path fails (or its MACs differ from the independent count).
TORCH_XFAIL: dict[str, str] = {}
# Model name -> why the ONNX path fails (export, import, MACs or energy vs torch).
ONNX_XFAIL: dict[str, str] = {
    "llama_small": "exporter: TorchScript cannot convert SDPA with enable_gqa (grouped-query attn)",
    "qwen2_small": "exporter: TorchScript cannot convert SDPA with enable_gqa (grouped-query attn)",
}

_CACHE: dict[str, Result] = {}


def _result(entry: RealModel, tmp_path_factory: pytest.TempPathFactory) -> Result:
    if entry.name not in _CACHE:
        _CACHE[entry.name] = check_model(entry, tmp_path_factory.mktemp(entry.name))
    return _CACHE[entry.name]


def _params(xfail: dict[str, str]) -> list:
    params = []
    for m in MODELS:
        marks = [] if m.quick else [pytest.mark.slow]
        if m.name in xfail:
            marks.append(pytest.mark.xfail(reason=xfail[m.name], strict=True))
        params.append(pytest.param(m, id=m.name, marks=marks))
    return params


def test_tier_covers_the_families() -> None:
    families = {m.family for m in MODELS}
    assert families == {"cnn", "vit", "hybrid", "mlp", "speech", "text", "lm"}
    assert len(MODELS) >= 30
    assert len({m.name for m in MODELS}) == len(MODELS)
    quick = [m.family for m in MODELS if m.quick]
    assert len(quick) == len(set(quick))  # one quick model per family at most


@pytest.mark.parametrize("entry", _params(TORCH_XFAIL))
def test_torch_path_matches_independent_count(
    entry: RealModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    r = _result(entry, tmp_path_factory)
    assert r.torch_ok, r.torch_error
    assert r.independent_macs is not None, r.extra.get("count_error")
    assert r.torch_macs == r.independent_macs
    assert r.torch_macs > 0


@pytest.mark.parametrize("entry", _params(ONNX_XFAIL))
def test_onnx_path_matches_count_and_torch_energy(
    entry: RealModel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    r = _result(entry, tmp_path_factory)
    assert r.onnx_ok, r.onnx_error
    assert r.independent_macs is not None, r.extra.get("count_error")
    assert r.onnx_macs == r.independent_macs
    if r.torch_ok:
        assert r.energy_diff_pct is not None and r.energy_diff_pct <= 1.0, (
            f"torch {r.torch_energy_j} J vs ONNX {r.onnx_energy_j} J"
        )


def test_torchvision_shim_makes_torchvision_importable() -> None:
    import torch

    from cimkit.workload.torchvision_shim import TORCHVISION_SCHEMAS, install

    install()
    assert install() == []  # idempotent
    torchvision = pytest.importorskip("torchvision")
    for schema in TORCHVISION_SCHEMAS:
        name = schema.split("(", 1)[0]
        assert hasattr(torch.ops.torchvision, name)
    # models and transforms work; the C++ detection operators (no kernel here) say so.
    model = torchvision.models.resnet18(weights=None).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    if not torchvision.extension._has_ops():
        with pytest.raises(RuntimeError):
            torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
