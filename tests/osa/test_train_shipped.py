"""The shipped 8-bit ResNet-20 (src/cimkit/data/osa/): file, manifest and measured accuracy."""

from __future__ import annotations

import json

import pytest
import torch

from cimkit.accuracy.data import FASHION_MNIST_DIR
from cimkit.osa.train import (
    SHIPPED_MANIFEST,
    SHIPPED_MODEL,
    SUBSET,
    evaluate_shipped,
    load_shipped,
)

needs_data = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)


def _manifest() -> dict:
    return json.loads(SHIPPED_MANIFEST.read_text())


def test_shipped_file_is_small_int8_and_described() -> None:
    assert SHIPPED_MODEL.stat().st_size < 2_000_000
    payload = torch.load(SHIPPED_MODEL, weights_only=True)
    levels = payload["levels"]
    assert len(levels) == 20 and all(q.dtype == torch.int8 for q in levels.values())
    assert all(int(q.abs().max()) == 127 for q in levels.values())  # symmetric, -128 unused
    m = _manifest()
    for key in ("epochs", "wall_s", "hardware", "seed", "command", "git_commit", "config"):
        assert m[key] not in (None, "", "unknown"), key
    assert m["test_images"] == 10_000 and m["steps"] > 0
    net = load_shipped()
    for (_, layer), q in zip(net.quantized_layers(), levels.values(), strict=True):
        assert torch.equal(layer.int_weight()[0], q.long())  # re-quantizing gives the file's ints


@needs_data
def test_shipped_accuracy_on_a_subset() -> None:
    acc, n = evaluate_shipped(limit=SUBSET)
    assert n == SUBSET
    # The recorded figure, measured at export on the same images (2 images of slack for
    # another CPU's convolution rounding).
    assert acc == pytest.approx(_manifest()[f"test_acc_int8_first_{SUBSET}"], abs=0.002)
    assert acc > 0.88


@pytest.mark.slow
@needs_data
def test_shipped_accuracy_on_the_full_test_split() -> None:
    acc, n = evaluate_shipped()
    assert n == 10_000
    assert acc == pytest.approx(_manifest()["test_acc_int8"], abs=0.0005)
    assert acc > 0.90
