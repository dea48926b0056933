"""Shared fixtures of the PIM-HLS optimizer tests: random scheduling instances."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from cimkit.pimhls.plan import TileConfig
from cimkit.pimhls.schedule import Items
from cimkit.workload.layer import make_layer

POOLS = ("sram", "rram")
#: mm^2 per array of each pool (the default arrays' order of magnitude; exact values are not
#: needed by the scheduler tests).
ARRAY_AREA = {"sram": 0.068, "rram": 0.356}


def random_items(rng: np.random.Generator, n: int, n_pools: int) -> tuple[Items, np.ndarray]:
    """n random items on ``n_pools`` pools and random pool budgets (each item fits alone)."""
    pools = POOLS[:n_pools]
    pool = rng.integers(0, n_pools, n)
    arrays = rng.integers(1, 13, n)
    area = np.array([ARRAY_AREA[pools[p]] for p in pool])
    vectors = rng.choice(np.array([1, 3, 16, 49, 64, 196, 256, 784, 1024]), n)
    cpv = rng.choice(np.array([8, 16, 24, 64, 128]), n)
    write = rng.integers(0, 30000, n)
    base = arrays * area
    caps = np.zeros(n_pools)
    for p in range(n_pools):
        mine = base[pool == p]
        if len(mine) == 0:
            caps[p] = 1.0
            continue
        lo, hi = mine.max(), 1.6 * mine.sum()
        caps[p] = lo + (hi - lo) * rng.random() ** 2
    layers = tuple(make_layer(f"l{k}", "linear", in_channels=16, out_channels=8) for k in range(n))
    items = Items(
        layers=layers,
        names=tuple(f"l{k}" for k in range(n)),
        piece=np.zeros(n, dtype=np.int64),
        pieces=np.ones(n, dtype=np.int64),
        tile=tuple(TileConfig(pools[p], 256, 256, 32) for p in pool),
        pools=pools,
        pool=pool.astype(np.int64),
        arrays=arrays.astype(np.int64),
        array_area=area,
        vectors=vectors.astype(np.int64),
        cpv=cpv.astype(np.int64),
        write_cycles=write.astype(np.int64),
        write_energy_pj=np.zeros(n),
        macs=(vectors * arrays * 1000).astype(np.int64),
    )
    return items, caps


@pytest.fixture
def make_random_items() -> Callable[..., tuple[Items, np.ndarray]]:
    """The :func:`random_items` factory."""
    return random_items
