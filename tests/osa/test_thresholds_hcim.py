"""The threshold search driving the real simulator: the shipped ResNet-20 through HCIM layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimkit.accuracy.data import FASHION_MNIST_DIR, load
from cimkit.osa.resnet import to_hcim
from cimkit.osa.thresholds import evaluation_from, search_thresholds
from cimkit.osa.train import load_shipped


@pytest.mark.slow
@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)
def test_global_search_on_the_simulated_network() -> None:
    """On 8 validation images (calibration), OSA mode with B = (6, 8): the found T meets its
    loss constraint when re-measured, and the next grid value up breaks it (measured)."""
    torch.set_num_threads(1)
    sp = load("fashion-mnist")
    x, y = torch.from_numpy(sp.x_val[:8]), sp.y_val[:8]
    sim, layers = to_hcim(load_shipped())
    cands = (6, 8)

    def evaluate(t: np.ndarray):
        for _, layer in layers:
            layer.set_mode("osa", candidates=cands, thresholds=t[0].tolist())
        logits = sim(x).numpy()
        return evaluation_from(logits, y, [lay.last_boundary.numpy() for _, lay in layers], cands)

    grid = np.array([0.0, 1, 2, 4, 8, 16, 32, 64, 1e9])
    res = search_thresholds(evaluate, cands, [0.05], grid)
    again = evaluate(res.thresholds)
    assert again.loss - res.loss_ref <= 0.05 + 1e-9
    assert res.steps[0].increase <= 0.05
    t = float(res.thresholds[0, 0])
    above = grid[grid > t]
    if above.size:  # one grid step less precise violates the constraint
        assert evaluate(above[:1][None]).loss - res.loss_ref > 0.05
    assert again.b_share.shape == (20, 2)
    np.testing.assert_allclose(again.b_share.sum(1), 1.0)
    assert res.evaluations <= 1 + 5  # bisection over 9 grid values + the reference
