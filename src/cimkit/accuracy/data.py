"""Offline image-classification data for the supernet: train / validation / test splits.

Sources (nothing is downloaded at run time):

* ``fashion-mnist`` (reported numbers): Fashion-MNIST, 60k train / 10k test, 28x28 grayscale,
  10 classes, MIT licence, from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz``). The official 60k training set is
  split (seeded) into ``n_val`` validation images, used to measure subnets for the predictors
  and to recalibrate nothing else, and the rest for training; the official 10k test set is only
  used for the final numbers of the largest/smallest subnets.
* ``digits`` (fast checks): scikit-learn's 1,797 8x8 digits, zero-padded to 28x28 after a
  nearest-neighbour 3x upscale (24x24). Split 1,297 / 250 / 250.
* ``synthetic`` (unit tests only, never reported): class-dependent random blobs.

Images come back as float32 tensors (N, 1, 28, 28) normalized with the training split's mean and
std, labels as int64 (N,).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimkit.errors import MissingDependencyError

FASHION_MNIST_DIR = Path(
    os.environ.get("CIMKIT_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DATASETS = ("fashion-mnist", "digits", "synthetic")


@dataclass(frozen=True)
class Splits:
    """Images (N, 1, 28, 28) float32 normalized and labels (N,) int64 of each split."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: float
    std: float

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def describe(self) -> str:
        return (
            f"{self.name}: train {len(self.y_train)}, val {len(self.y_val)}, "
            f"test {len(self.y_test)}, {self.num_classes} classes, 28x28"
        )


def _read_idx(path: Path) -> np.ndarray:
    """Decode an IDX file (gzip'ed) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist_raw() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    files = {
        k: FASHION_MNIST_DIR / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
        for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise MissingDependencyError(
            f"Fashion-MNIST not found ({missing[0]}): install the Debian package with "
            "`apt-get install dataset-fashion-mnist` (or set CIMKIT_FASHION_MNIST to its folder)"
        )
    return tuple(_read_idx(files[k]) for k in files)  # type: ignore[return-value]


def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError(
            "the digits data set needs scikit-learn: pip install scikit-learn"
        ) from None
    d = load_digits()
    img = (d.images / 16.0 * 255).astype(np.uint8)  # (N, 8, 8), 0..16 -> 0..255
    img = img.repeat(3, axis=1).repeat(3, axis=2)  # 24x24
    img = np.pad(img, ((0, 0), (2, 2), (2, 2)))
    return img, d.target.astype(np.int64)


def _synthetic_raw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class = a fixed random template plus noise (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, size=(10, 28, 28))
    y = rng.integers(0, 10, size=n)
    x = np.clip(templates[y] * 0.7 + rng.normal(0, 40, size=(n, 28, 28)), 0, 255)
    return x.astype(np.uint8), y.astype(np.int64)


def load(name: str = "fashion-mnist", n_val: int = 5000, seed: int = 0) -> Splits:
    """Load a data set (see module docstring) with a seeded validation split.

    Args:
        name: 'fashion-mnist', 'digits' or 'synthetic'.
        n_val: validation images taken out of the training set (fashion-mnist; digits and
            synthetic use fixed small splits).
        seed: seed of the train/validation split.

    Raises:
        MissingDependencyError: the package holding the data is not installed (the message
            names it: ``apt-get install dataset-fashion-mnist`` or scikit-learn).
        ValueError: unknown name.
    """
    rng = np.random.default_rng(seed)
    if name == "fashion-mnist":
        xtr, ytr, xte, yte = _fashion_mnist_raw()
        ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
    elif name == "digits":
        x, y = _digits_raw()
        perm = rng.permutation(len(y))
        x, y = x[perm], y[perm]
        xtr, ytr, xte, yte = x[:-250], y[:-250], x[-250:], y[-250:]
        n_val = 250
    elif name == "synthetic":
        xtr, ytr = _synthetic_raw(600, seed)
        xte, yte = _synthetic_raw(200, seed + 1)
        n_val = 200
    else:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
    perm = rng.permutation(len(ytr))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    x_train = xtr[tr_idx].astype(np.float32) / 255.0
    mean, std = float(x_train.mean()), float(x_train.std())

    def norm(a: np.ndarray) -> np.ndarray:
        return ((a.astype(np.float32) / 255.0 - mean) / std)[:, None]

    return Splits(
        name,
        ((x_train - mean) / std)[:, None],
        ytr[tr_idx],
        norm(xtr[val_idx]),
        ytr[val_idx],
        norm(xte),
        yte,
        mean,
        std,
    )
