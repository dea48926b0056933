"""Test networks of the code generator tests: workloads and a small trained, quantized MLP."""

from __future__ import annotations

import numpy as np

from cimkit.workload import Workload, make_layer

#: Spread of the blobs around their centres (sets how hard the task is).
NOISE = 1.0
#: Training steps (full batch).
STEPS = 60


def mlp(tokens: int = 64) -> Workload:
    """Linear 16->32 -> ReLU -> 32->32 -> ReLU -> 32->16 over ``tokens`` input vectors."""
    return Workload(
        "mlp",
        (
            make_layer("fc1", "linear", in_channels=16, out_channels=32, out_h=tokens),
            make_layer("fc2", "linear", in_channels=32, out_channels=32, out_h=tokens),
            make_layer("fc3", "linear", in_channels=32, out_channels=16, out_h=tokens),
        ),
    )


def cnn() -> Workload:
    """conv 3x3 3->8 (8x8) -> conv 3x3/2 8->16 (4x4) -> flatten linear 256->32 -> linear 32->10."""
    return Workload(
        "cnn",
        (
            make_layer(
                "conv1",
                "conv",
                in_channels=3,
                out_channels=8,
                kernel_h=3,
                kernel_w=3,
                in_h=8,
                in_w=8,
                out_h=8,
                out_w=8,
            ),  # fmt: skip
            make_layer(
                "relu1", "act", in_channels=8, out_channels=8, in_h=8, in_w=8, out_h=8, out_w=8
            ),  # fmt: skip
            make_layer(
                "conv2",
                "conv",
                in_channels=8,
                out_channels=16,
                kernel_h=3,
                kernel_w=3,
                stride=2,
                in_h=8,
                in_w=8,
                out_h=4,
                out_w=4,
            ),  # fmt: skip
            make_layer(
                "relu2", "act", in_channels=16, out_channels=16, in_h=4, in_w=4, out_h=4, out_w=4
            ),  # fmt: skip
            make_layer("fc1", "linear", in_channels=256, out_channels=32),
            make_layer("relu3", "act", in_channels=32, out_channels=32),
            make_layer("fc2", "linear", in_channels=32, out_channels=10),
        ),
    )


def trained_mlp(
    tokens: int = 64, seed: int = 0
) -> tuple[Workload, dict, np.ndarray, float, np.ndarray]:
    """A 16-32-10 torch MLP trained briefly on a seeded 10-class Gaussian-blob task, int8.

    Weights are quantized per layer (symmetric, max-abs to 127), the inputs of ``tokens`` test
    samples to int8. Returns (workload, int weights, int inputs (tokens, 16), the float model's
    test accuracy, test labels (tokens,)).
    """
    import torch

    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(10, 16))
    labels = rng.integers(0, 10, size=1024 + tokens)
    x = centers[labels] + NOISE * rng.normal(size=(labels.size, 16))
    test_x, test_y = x[1024:], labels[1024:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only add contention
    try:
        model, acc = _train(torch, x[:1024], labels[:1024], test_x, test_y, seed)
    finally:
        torch.set_num_threads(threads)
    weights = {}
    for name, layer in (("fc1", model[0]), ("fc2", model[2])):
        w = layer.weight.detach().numpy().astype(np.float64)
        weights[name] = np.round(w / np.abs(w).max() * 127).astype(np.int64)
    inputs = np.clip(np.round(test_x / np.abs(test_x).max() * 127), -128, 127).astype(np.int64)
    wl = Workload(
        "trained_mlp",
        (
            make_layer("fc1", "linear", in_channels=16, out_channels=32, out_h=tokens),
            make_layer("fc2", "linear", in_channels=32, out_channels=10, out_h=tokens),
        ),
    )
    return wl, weights, inputs, acc, test_y


def _train(torch, x, y, test_x, test_y, seed: int):
    """Full-batch Adam on a bias-free 16-32-10 MLP; returns (model, float test accuracy)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32, bias=False), torch.nn.ReLU(), torch.nn.Linear(32, 10, bias=False)
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        pred = model(torch.tensor(test_x, dtype=torch.float32)).argmax(1).numpy()
    return model, float((pred == test_y).mean())


def branch() -> Workload:
    """a -> b -> add, a -> c -> c2 -> add (6 x 6 maps, 3x3 convs, 8 channels): b can run in
    groups around c, so its input-channel pieces pass a partial sum across a group (through the
    global buffer); the add is fused into c2 (b has a ReLU of its own)."""

    def row(name: str, op: str, cin: int, k: int = 3, inputs: tuple[str, ...] = ()):
        return make_layer(name, op, in_channels=cin, out_channels=8, in_h=6, in_w=6, out_h=6,
                          out_w=6, kernel_h=k, kernel_w=k, inputs=inputs)  # fmt: skip

    return Workload(
        "branch",
        (
            row("a", "conv", 3, inputs=("",)),
            row("ra", "act", 8, 1, ("a",)),
            row("b", "conv", 8, inputs=("ra",)),
            row("rb", "act", 8, 1, ("b",)),
            row("c", "conv", 8, inputs=("ra",)),
            row("rc", "act", 8, 1, ("c",)),
            row("c2", "conv", 8, inputs=("rc",)),
            row("e", "eltwise", 8, 1, ("rb", "c2")),
            row("re", "act", 8, 1, ("e",)),
        ),
    )
