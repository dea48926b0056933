"""Genome encoding: shapes, one-hot structure, inactive slots, validation."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.accuracy import encoding as enc


def test_dims_and_one_hot_structure() -> None:
    d, k, e, b = enc.random_arrays(64, np.random.default_rng(0), quantized=True)
    x = enc.encode(d, k, e, b)
    assert x.shape == (64, enc.ARCH_DIM + enc.QUANT_DIM) == (64, 375)
    assert x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
    n_active = enc.active_slots(d).sum(1)
    # per active slot: 1 kernel + 1 expand + 4 bit genes; per stage one depth
    assert np.array_equal(x.sum(1), n_active * 6 + 5)


def test_inactive_slots_are_zero_and_ignored() -> None:
    g = enc.Genome.smallest(bits=4)
    d, k, e, b = enc.stack([g])
    k2 = k.copy()
    k2[0, 3] = 7  # slot 3 (stage 0, block 3) is inactive at depth 2
    b2 = b.copy()
    b2[0, 3] = 8
    assert np.array_equal(enc.encode(d, k, e, b), enc.encode(d, k2, e, b2))


@pytest.mark.parametrize(
    "bad",
    [
        {"depths": [1, 2, 2, 2, 2], "kernels": 3, "expands": 3},
        {"depths": [2, 2, 2, 2, 2], "kernels": 4, "expands": 3},
        {"depths": [2, 2, 2, 2, 2], "kernels": 3, "expands": 3, "bits": 5},
        {"depths": [2, 2, 2, 2], "kernels": 3, "expands": 3},
    ],
)
def test_out_of_space_is_a_user_error(bad: dict) -> None:
    with pytest.raises(enc.GenomeError):
        enc.Genome.from_dict(bad)


def test_roundtrip_and_seeded_sampling() -> None:
    gs = enc.random_genomes(5, seed=3, quantized=True)
    assert gs == enc.random_genomes(5, seed=3, quantized=True)
    assert gs != enc.random_genomes(5, seed=4, quantized=True)
    assert all(enc.Genome.from_dict(g.to_dict()) == g for g in gs)
