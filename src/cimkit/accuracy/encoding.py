"""Genomes of the CIMNAS search space and their one-hot encoding for the accuracy predictors.

Search space (CIMNAS section III-A, once-for-all MobileNetV2):

* S_M: depth per elastic stage in {2, 3, 4} (5 stages); per block slot (20 = 5 x 4) depthwise
  kernel in {3, 5, 7} and expansion in {3, 4, 6}. Stem, first block (expand 1, k3), last block
  (k3, e6), feature-mix conv and classifier are fixed. Slots beyond a stage's depth are inactive
  and their genes are ignored.
* S_Q: per block slot four bit widths ``(dw_w, dw_a, pw_w, pw_a)``: weights and input
  activations of the depthwise conv and of the pointwise convs (expansion and projection share
  the pointwise pair), each in {4, 6, 8}. Full precision is NOT a search choice (the paper's
  3^84 = 1.2e40 quantization space has three choices per gene); ``bits=None`` means the whole
  network in full precision, which the full-precision predictor scores. The fixed layers run at
  8 bits whenever a policy is given.

Encoding (the predictors' input, float32, all one-hot):

* architecture, :data:`ARCH_DIM` = 135: per slot kernel one-hot (3) and expansion one-hot (3),
  all zero for an inactive slot (20 x 6 = 120), then depth one-hot per stage (5 x 3 = 15);
* quantization, :data:`QUANT_DIM` = 240: per slot and gene a one-hot over {4, 6, 8}, zero for
  inactive slots (20 x 4 x 3). The quantized predictor's input is ``[arch, quant]`` (375).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimkit.errors import CimkitError

N_STAGES = 5
MAX_DEPTH = 4
N_SLOTS = N_STAGES * MAX_DEPTH
DEPTHS: tuple[int, ...] = (2, 3, 4)
KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANDS: tuple[int, ...] = (3, 4, 6)
BITS: tuple[int, ...] = (4, 6, 8)
#: Bit genes per block slot: depthwise weight, depthwise input, pointwise weight, pointwise input.
BIT_GENES: tuple[str, ...] = ("dw_w", "dw_a", "pw_w", "pw_a")
ARCH_DIM = N_SLOTS * (len(KERNELS) + len(EXPANDS)) + N_STAGES * len(DEPTHS)
QUANT_DIM = N_SLOTS * len(BIT_GENES) * len(BITS)
#: Bits of the fixed layers (stem, first/last block, feature mix, classifier) when quantized.
FIXED_LAYER_BITS = 8


class GenomeError(CimkitError):
    """A genome is outside the search space (wrong length or a value not among the choices)."""


@dataclass(frozen=True)
class Genome:
    """One point of S_M x S_Q.

    Attributes:
        depths: (5,) blocks per stage, each in {2, 3, 4}.
        kernels: (20,) depthwise kernel per block slot (stage-major), each in {3, 5, 7}.
        expands: (20,) expansion ratio per block slot, each in {3, 4, 6}.
        bits: None (full precision) or (20, 4) bit widths per slot ``(dw_w, dw_a, pw_w, pw_a)``.
    """

    depths: tuple[int, ...]
    kernels: tuple[int, ...]
    expands: tuple[int, ...]
    bits: tuple[tuple[int, int, int, int], ...] | None = None

    def __post_init__(self) -> None:
        check_genomes(
            np.asarray(self.depths)[None],
            np.asarray(self.kernels)[None],
            np.asarray(self.expands)[None],
            None if self.bits is None else np.asarray(self.bits)[None],
        )

    @classmethod
    def largest(cls, bits: int | None = None) -> Genome:
        """Depth 4, kernel 7, expand 6 everywhere; ``bits`` for every gene (None = FP)."""
        return cls.uniform(4, 7, 6, bits)

    @classmethod
    def smallest(cls, bits: int | None = None) -> Genome:
        """Depth 2, kernel 3, expand 3 everywhere; ``bits`` for every gene (None = FP)."""
        return cls.uniform(2, 3, 3, bits)

    @classmethod
    def uniform(cls, depth: int, kernel: int, expand: int, bits: int | None = None) -> Genome:
        """The same choice in every stage/slot."""
        b = None if bits is None else ((bits,) * 4,) * N_SLOTS
        return cls((depth,) * N_STAGES, (kernel,) * N_SLOTS, (expand,) * N_SLOTS, b)

    def active(self) -> np.ndarray:
        """(20,) bool: which block slots exist."""
        return active_slots(np.asarray(self.depths)[None])[0]

    def to_dict(self) -> dict:
        return {
            "depths": list(self.depths),
            "kernels": list(self.kernels),
            "expands": list(self.expands),
            "bits": None if self.bits is None else [list(b) for b in self.bits],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Genome:
        """Inverse of :meth:`to_dict`; ``bits`` may also be one int (every gene)."""
        try:
            bits = d.get("bits")
            if isinstance(bits, int):
                bits = ((bits,) * 4,) * N_SLOTS
            elif bits is not None:
                bits = tuple(tuple(int(v) for v in row) for row in bits)
            kern, exp = d["kernels"], d["expands"]
            kern = (kern,) * N_SLOTS if isinstance(kern, int) else kern
            exp = (exp,) * N_SLOTS if isinstance(exp, int) else exp
            return cls(
                tuple(int(v) for v in d["depths"]),
                tuple(int(v) for v in kern),
                tuple(int(v) for v in exp),
                bits,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GenomeError(f"genome: need depths, kernels, expands[, bits] ({exc})") from None


def active_slots(depths: np.ndarray) -> np.ndarray:
    """(N, 20) bool mask of existing block slots from (N, 5) depths."""
    d = np.asarray(depths)
    return d[:, np.repeat(np.arange(N_STAGES), MAX_DEPTH)] > np.tile(np.arange(MAX_DEPTH), N_STAGES)


def check_genomes(
    depths: np.ndarray, kernels: np.ndarray, expands: np.ndarray, bits: np.ndarray | None = None
) -> None:
    """Raise :class:`GenomeError` unless the batch lies in the search space.

    Shapes: depths (N, 5), kernels and expands (N, 20), bits (N, 20, 4) or None. Genes of
    inactive slots must still be valid choices (a search keeps them for later mutations).
    """
    n = len(depths)
    for name, arr, shape, choices in (
        ("depths", depths, (n, N_STAGES), DEPTHS),
        ("kernels", kernels, (n, N_SLOTS), KERNELS),
        ("expands", expands, (n, N_SLOTS), EXPANDS),
        ("bits", bits, (n, N_SLOTS, 4), BITS),
    ):
        if arr is None:
            continue
        a = np.asarray(arr)
        if a.shape != shape:
            raise GenomeError(f"{name}: need shape {shape}, got {a.shape}")
        if not np.isin(a, choices).all():
            bad = sorted(set(np.unique(a).tolist()) - set(choices))
            raise GenomeError(f"{name}: values must be in {choices}, got {bad}")


def _one_hot(values: np.ndarray, choices: tuple[int, ...]) -> np.ndarray:
    """(..., len(choices)) float32 one-hot of ``values`` (...)."""
    return (values[..., None] == np.asarray(choices)).astype(np.float32)


def encode_arch(depths: np.ndarray, kernels: np.ndarray, expands: np.ndarray) -> np.ndarray:
    """(N, ARCH_DIM) float32 one-hot architecture features (layout in the module docstring)."""
    depths, kernels, expands = (np.asarray(a) for a in (depths, kernels, expands))
    check_genomes(depths, kernels, expands)
    act = active_slots(depths)[..., None]
    per_slot = np.concatenate([_one_hot(kernels, KERNELS), _one_hot(expands, EXPANDS)], axis=-1)
    n = len(depths)
    return np.concatenate(
        [(per_slot * act).reshape(n, -1), _one_hot(depths, DEPTHS).reshape(n, -1)], axis=1
    )


def encode_quant(depths: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """(N, QUANT_DIM) float32 one-hot bit-width features; bits (N, 20, 4) in {4, 6, 8}."""
    bits = np.asarray(bits)
    act = active_slots(np.asarray(depths))[..., None, None]
    return (_one_hot(bits, BITS) * act).reshape(len(bits), -1)


def encode(
    depths: np.ndarray,
    kernels: np.ndarray,
    expands: np.ndarray,
    bits: np.ndarray | None = None,
) -> np.ndarray:
    """Predictor input: arch features (N, 135), or [arch, quant] (N, 375) when ``bits`` given."""
    x = encode_arch(depths, kernels, expands)
    if bits is None:
        return x
    check_genomes(depths, kernels, expands, bits)
    return np.concatenate([x, encode_quant(depths, bits)], axis=1)


def stack(genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Batch arrays (depths (N,5), kernels (N,20), expands (N,20), bits (N,20,4) or None)."""
    d = np.array([g.depths for g in genomes], dtype=np.int64)
    k = np.array([g.kernels for g in genomes], dtype=np.int64)
    e = np.array([g.expands for g in genomes], dtype=np.int64)
    quant = [g.bits is not None for g in genomes]
    if any(quant) and not all(quant):
        raise GenomeError("a batch must be all full precision or all quantized")
    b = np.array([g.bits for g in genomes], dtype=np.int64) if all(quant) and genomes else None
    return d, k, e, b


def random_arrays(
    n: int, rng: np.random.Generator, quantized: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``n`` uniformly random genomes as batch arrays (see :func:`stack`)."""
    d = rng.choice(DEPTHS, size=(n, N_STAGES))
    k = rng.choice(KERNELS, size=(n, N_SLOTS))
    e = rng.choice(EXPANDS, size=(n, N_SLOTS))
    b = rng.choice(BITS, size=(n, N_SLOTS, 4)) if quantized else None
    return d, k, e, b


def random_genomes(n: int, seed: int = 0, quantized: bool = False) -> list[Genome]:
    """``n`` uniformly random genomes (same seed -> same genomes)."""
    d, k, e, b = random_arrays(n, np.random.default_rng(seed), quantized)
    return [
        Genome(
            tuple(d[i].tolist()),
            tuple(k[i].tolist()),
            tuple(e[i].tolist()),
            None if b is None else tuple(tuple(r) for r in b[i].tolist()),
        )
        for i in range(n)
    ]
