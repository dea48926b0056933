"""The real-model tier: published architectures built from their libraries' configs.

Every entry builds the real layer configuration of a published network with random weights (no
downloads: ``timm.create_model(name, pretrained=False)``, transformers ``XxxConfig(...)`` +
``from_config``) and a batch-1 example input. Sizes are kept modest so the whole tier runs in a
few minutes per path on 2 cores: images at 96x96 / 128x128 where the architecture allows any
resolution divisible by its total stride (224x224 where position biases or windows fix it),
text at 32 tokens, audio at 0.5 s (8000 samples at 16 kHz), the Whisper encoder at its fixed
3000 mel frames. Transformers models with a published small variant use it (whisper-tiny);
the small language models use small Llama/Qwen2 configurations (4 layers) with their real
block structure (RMSNorm, rotary embedding, SwiGLU, grouped-query attention).

:func:`check_model` imports one entry by both paths and measures everything the test and the
benchmark (benchmarks/real_models.py) report: torch route, ONNX export, MACs of both tables, the
independent MAC count (:mod:`cimkit.workload.mac_count`), energy on the default chip, seconds.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cimkit.workload.torchvision_shim import install as _install_torchvision_shim


@dataclass(frozen=True)
class RealModel:
    """One architecture of the tier.

    Attributes:
        name: a short name (the timm name, or the transformers family + size).
        family: 'cnn', 'vit', 'hybrid', 'mlp', 'speech', 'text' or 'lm'.
        build: returns (model in eval mode, example input with batch 1).
        size: what the example input is, in words (resolution / sequence length).
        quick: part of the quick subset (``make test``, unmarked).
    """

    name: str
    family: str
    build: Callable[[], tuple[nn.Module, Any]]
    size: str
    quick: bool = False


def _timm(name: str, res: int, **kwargs: Any) -> Callable[[], tuple[nn.Module, Any]]:
    def build() -> tuple[nn.Module, Any]:
        _install_torchvision_shim()
        import timm

        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, **kwargs).eval()
        return model, torch.randn(1, 3, res, res)

    return build


class _Hidden(nn.Module):
    """A transformers model returning one tensor (last_hidden_state or logits)."""

    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(x), self.output)


def _hf(
    config_fn: Callable[[], Any],
    auto: str,
    make_input: Callable[[], torch.Tensor],
    output: str = "last_hidden_state",
    encoder_only: bool = False,
    **model_kwargs: Any,
) -> Callable[[], tuple[nn.Module, Any]]:
    """A transformers builder; ``model_kwargs`` go to the model class (e.g. no pooler: the
    forward returns last_hidden_state, and an unused pooler is dead code the ONNX exporter
    drops while the independent count, which runs the module, counts it)."""

    def build() -> tuple[nn.Module, Any]:
        _install_torchvision_shim()
        import transformers

        torch.manual_seed(0)
        config = config_fn()
        cls = getattr(transformers, auto)
        if auto.startswith("Auto"):
            model = cls.from_config(config, **model_kwargs)
        else:
            model = cls(config, **model_kwargs)
        if encoder_only:
            model = model.get_encoder()
        return _Hidden(model.eval(), output).eval(), make_input()

    return build


def _tokens(n: int = 32, vocab: int = 1000) -> Callable[[], torch.Tensor]:
    return lambda: torch.randint(0, vocab, (1, n))


def _cfg(cls: str, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        import transformers

        return getattr(transformers, cls)(**kwargs)

    return make


_AUDIO = lambda: torch.randn(1, 8000)  # noqa: E731  (0.5 s at 16 kHz)

MODELS: tuple[RealModel, ...] = (
    # CNNs
    RealModel("resnet18", "cnn", _timm("resnet18", 96), "3x96x96", quick=True),
    RealModel("resnet50", "cnn", _timm("resnet50", 96), "3x96x96"),
    RealModel("mobilenetv2_100", "cnn", _timm("mobilenetv2_100", 96), "3x96x96"),
    RealModel("mobilenetv3_small_100", "cnn", _timm("mobilenetv3_small_100", 96), "3x96x96"),
    RealModel("efficientnet_b0", "cnn", _timm("efficientnet_b0", 96), "3x96x96"),
    RealModel("convnext_atto", "cnn", _timm("convnext_atto", 96), "3x96x96"),
    RealModel("regnetx_002", "cnn", _timm("regnetx_002", 96), "3x96x96"),
    RealModel("densenet121", "cnn", _timm("densenet121", 64), "3x64x64"),
    RealModel("ghostnet_100", "cnn", _timm("ghostnet_100", 96), "3x96x96"),
    # Vision transformers
    RealModel(
        "vit_tiny_patch16",
        "vit",
        _timm("vit_tiny_patch16_224", 96, img_size=96),
        "3x96x96",
        quick=True,
    ),
    RealModel(
        "deit_tiny_patch16", "vit", _timm("deit_tiny_patch16_224", 96, img_size=96), "3x96x96"
    ),
    RealModel(
        "swin_tiny_patch4_window7", "vit", _timm("swin_tiny_patch4_window7_224", 224), "3x224x224"
    ),
    RealModel("pvt_v2_b0", "vit", _timm("pvt_v2_b0", 96), "3x96x96"),
    RealModel("levit_128s", "vit", _timm("levit_128s", 224), "3x224x224"),
    # Hybrid CNN/ViT
    RealModel("mobilevit_xxs", "hybrid", _timm("mobilevit_xxs", 128), "3x128x128", quick=True),
    RealModel("efficientformer_l1", "hybrid", _timm("efficientformer_l1", 224), "3x224x224"),
    RealModel("fastvit_t8", "hybrid", _timm("fastvit_t8", 128), "3x128x128"),
    RealModel("coatnet_0_rw", "hybrid", _timm("coatnet_0_rw_224", 224), "3x224x224"),
    RealModel("edgenext_xx_small", "hybrid", _timm("edgenext_xx_small", 128), "3x128x128"),
    # MLP-mixers
    RealModel("mixer_s16", "mlp", _timm("mixer_s16_224", 96, img_size=96), "3x96x96", quick=True),
    RealModel("resmlp_12", "mlp", _timm("resmlp_12_224", 96, img_size=96), "3x96x96"),
    RealModel("gmlp_ti16", "mlp", _timm("gmlp_ti16_224", 96, img_size=96), "3x96x96"),
    # Speech encoders (transformers)
    RealModel(
        "wav2vec2_base",
        "speech",
        _hf(_cfg("Wav2Vec2Config"), "Wav2Vec2Model", _AUDIO),
        "8000 samples",
    ),
    RealModel(
        "hubert_base", "speech", _hf(_cfg("HubertConfig"), "HubertModel", _AUDIO), "8000 samples"
    ),
    RealModel(
        "whisper_tiny_encoder",
        "speech",
        _hf(
            _cfg(
                "WhisperConfig",
                d_model=384,
                encoder_layers=4,
                decoder_layers=4,
                encoder_attention_heads=6,
                decoder_attention_heads=6,
                encoder_ffn_dim=1536,
                decoder_ffn_dim=1536,
                num_mel_bins=80,
            ),
            "WhisperModel",
            lambda: torch.randn(1, 80, 3000),
            encoder_only=True,
        ),
        "80x3000 mel",
    ),
    # Text encoders (transformers)
    RealModel(
        "bert_base",
        "text",
        _hf(_cfg("BertConfig"), "BertModel", _tokens(), add_pooling_layer=False),
        "32 tokens",
        quick=True,
    ),
    RealModel(
        "distilbert_base",
        "text",
        _hf(_cfg("DistilBertConfig"), "DistilBertModel", _tokens()),
        "32 tokens",
    ),
    RealModel(
        "roberta_base",
        "text",
        _hf(_cfg("RobertaConfig"), "RobertaModel", _tokens(), add_pooling_layer=False),
        "32 tokens",
    ),
    RealModel(
        "albert_base",
        "text",
        _hf(
            _cfg("AlbertConfig", hidden_size=768, num_attention_heads=12, intermediate_size=3072),
            "AlbertModel",
            _tokens(),
            add_pooling_layer=False,
        ),
        "32 tokens",
    ),
    # Small language models (transformers)
    RealModel(
        "gpt2",
        "lm",
        _hf(_cfg("GPT2Config"), "GPT2LMHeadModel", _tokens(), output="logits"),
        "32 tokens",
    ),
    RealModel(
        "llama_small",
        "lm",
        _hf(
            _cfg(
                "LlamaConfig",
                hidden_size=256,
                intermediate_size=688,
                num_hidden_layers=4,
                num_attention_heads=8,
                num_key_value_heads=4,
                vocab_size=32000,
            ),
            "AutoModelForCausalLM",
            _tokens(),
            output="logits",
        ),
        "32 tokens",
    ),
    RealModel(
        "qwen2_small",
        "lm",
        _hf(
            _cfg(
                "Qwen2Config",
                hidden_size=256,
                intermediate_size=688,
                num_hidden_layers=4,
                num_attention_heads=8,
                num_key_value_heads=2,
                vocab_size=32000,
            ),
            "AutoModelForCausalLM",
            _tokens(),
            output="logits",
        ),
        "32 tokens",
    ),
)

BY_NAME: dict[str, RealModel] = {m.name: m for m in MODELS}


@dataclass
class Result:
    """What :func:`check_model` measured for one model (MACs per sample, energy in J)."""

    name: str
    family: str
    independent_macs: int | None = None
    torch_ok: bool = False
    torch_route: str = ""
    torch_macs: int | None = None
    torch_energy_j: float | None = None
    torch_s: float | None = None
    torch_error: str = ""
    onnx_ok: bool = False
    onnx_exporter: str = ""
    onnx_macs: int | None = None
    onnx_energy_j: float | None = None
    onnx_s: float | None = None
    onnx_error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def torch_exact(self) -> bool | None:
        """Torch table MACs == independent count (None when not imported)."""
        if not self.torch_ok or self.independent_macs is None:
            return None
        return self.torch_macs == self.independent_macs

    @property
    def onnx_exact(self) -> bool | None:
        if not self.onnx_ok or self.independent_macs is None:
            return None
        return self.onnx_macs == self.independent_macs

    @property
    def energy_diff_pct(self) -> float | None:
        """|E_torch - E_onnx| / E_torch in %, when both paths imported."""
        if self.torch_energy_j is None or self.onnx_energy_j is None:
            return None
        return abs(self.torch_energy_j - self.onnx_energy_j) / self.torch_energy_j * 100.0


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:limit]


def energy_j(workload: Any) -> float:
    """Energy per inference (J) of ``workload`` on the default chip ``ChipSpec()``."""
    from cimkit.cost import evaluate
    from cimkit.specs import ChipSpec

    return float(evaluate(ChipSpec(), workload).metrics["energy_j"][0])


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python and C-level output (the exporter prints whole graphs from C++)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with (
        open(os.devnull, "w") as null,
        redirect_stdout(io.StringIO()),
        redirect_stderr(io.StringIO()),
    ):
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def export_onnx(model: nn.Module, example: Any, path: Path) -> str:
    """Export ``model`` to ``path``: the TorchScript exporter (dynamo=False), opset 17.

    When it fails and onnxscript is installed, the dynamo exporter (dynamo=True) is tried.
    The exporters' own output (on failure the TorchScript exporter prints the whole graph) is
    swallowed. Returns the exporter used ('torchscript' or 'dynamo'); raises the TorchScript
    exporter's error when no exporter succeeds.
    """
    args = example if isinstance(example, tuple) else (example,)
    try:
        with torch.no_grad(), _quiet():
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17)
        return "torchscript"
    except Exception as exc:
        if importlib.util.find_spec("onnxscript") is None:
            raise
        first = exc
    try:
        with torch.no_grad(), _quiet():
            torch.onnx.export(model, args, str(path), dynamo=True, external_data=False)
        return "dynamo"
    except Exception:
        raise first from None


def check_model(
    entry: RealModel, workdir: Path, clock: Callable[[], float] | None = None
) -> Result:
    """Build ``entry`` and import it by both paths; never raises (errors land in the result).

    Timing is the benchmark's business (benchmarks/real_models.py passes ``time.perf_counter``
    as ``clock``); the tests pass none, so ``onnx_s`` stays None there. ``torch_s`` is the
    importer's own ``TorchImport.seconds``.
    """
    from cimkit.workload.mac_count import count_macs
    from cimkit.workload.onnx_import import from_onnx
    from cimkit.workload.torch_import import import_torch

    res = Result(entry.name, entry.family)
    try:
        model, example = entry.build()
    except Exception as exc:  # a builder failure is a tier bug: report it on both paths
        res.torch_error = res.onnx_error = "build: " + _one_line(exc)
        res.extra["traceback"] = traceback.format_exc()
        return res
    batch = 1
    try:
        imp = import_torch(model, example, name=entry.name)
        res.torch_s = imp.seconds
        res.torch_ok, res.torch_route = True, imp.route
        res.torch_macs = int(imp.workload.total_macs)
        res.torch_energy_j = energy_j(imp.workload)
        batch = imp.batch
    except Exception as exc:
        res.torch_error = _one_line(exc)
    try:
        res.independent_macs = int(count_macs(model, example, batch=batch).total)
    except Exception as exc:
        res.extra["count_error"] = _one_line(exc)
    path = workdir / f"{entry.name}.onnx"
    try:
        res.onnx_exporter = export_onnx(model, example, path)
    except Exception as exc:
        res.onnx_error = "export: " + _one_line(exc)
        return res
    try:
        start = clock() if clock else 0.0
        wl = from_onnx(path, name=entry.name)
        res.onnx_s = clock() - start if clock else None
        res.onnx_ok = True
        res.onnx_macs = int(wl.total_macs)
        res.onnx_energy_j = energy_j(wl)
    except Exception as exc:
        res.onnx_error = _one_line(exc)
    finally:
        path.unlink(missing_ok=True)
        for extra in workdir.glob(f"{entry.name}.onnx*"):
            extra.unlink(missing_ok=True)
    return res
