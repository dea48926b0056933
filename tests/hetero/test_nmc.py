"""MRAM NMC macro arithmetic pinned by hand-computed values (H4H-NAS §3.2, §6.3)."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.hetero import nmc
from cimkit.hetero.energy import system_energy


def test_dedup_read_factor_3x3() -> None:
    # N adjacent outputs of a 3x3 window read 3(N + 2) inputs per lane instead of 9N.
    for n, reads in ((1, 9), (2, 12), (3, 15), (4, 18), (16, 54)):
        assert nmc.dedup_read_factor(n, 3) == pytest.approx(reads / (9 * n))
    # Read reductions 1/3, 0.444, 1/2, 0.625 for N = 2, 3, 4, 16, and the 2/3 limit.
    assert 1 - nmc.dedup_read_factor(2) == pytest.approx(1 / 3)
    assert 1 - nmc.dedup_read_factor(3) == pytest.approx(4 / 9)
    assert 1 - nmc.dedup_read_factor(4) == pytest.approx(0.5)
    assert 1 - nmc.dedup_read_factor(16) == pytest.approx(0.625)
    assert 1 - nmc.dedup_read_factor(10**9) == pytest.approx(2 / 3, abs=1e-8)


def test_area_per_compute_unit() -> None:
    # 0.9 + 0.15 mm^2 per macro, +14 % per extra CU: 4 CUs = 1.42 x 1.05 mm^2.
    assert nmc.macro_area_mm2(1) == pytest.approx(1.05)
    assert nmc.macro_area_mm2(2) == pytest.approx(1.05 * 1.14)
    assert nmc.macro_area_mm2(4) == pytest.approx(1.491)
    assert nmc.macro_area_mm2(4) / nmc.macro_area_mm2(1) == pytest.approx(1.42)


def test_capacity_arithmetic() -> None:
    # 10 Mb = 10 x 2^20 bits = 1,310,720 8-bit weights; a word holds 16 x 9 = 144 of them.
    assert nmc.CAPACITY_BITS // 8 == 1_310_720
    assert nmc.WORDS_PER_MACRO == 1_310_720 // 144 == 9102
    # 20 channels of a 3x3 conv over 16 inputs (K = 144): ceil(20/16) x ceil(144/9) = 2 x 16.
    assert nmc.weight_words(20, 144) == 32
    # depthwise 3x3, 64 channels: one word per 16 channels.
    assert nmc.weight_words(64, 9) == 4
    # a 1x1 conv with 24 inputs pads its reduction to 27 (3 words per 16 channels).
    assert nmc.weight_words(16, 24) == 3
    assert nmc.weight_words(0, 144) == 0


def test_compute_time_by_hand() -> None:
    t = 6e-9
    # pointwise 64 -> 32 channels at 14 x 14 on 2 macros, 2 CUs: words = 2 x ceil(64/9) = 16,
    # 8 per macro; positions 196 / 2 CUs = 98 steps -> 8 x 98 x 6 ns.
    got = nmc.compute_time_s(32, 64, 196, False, 1, 2, 2, t, True)
    assert got == pytest.approx(8 * 98 * t)
    # depthwise 3x3, 32 channels (2 words) at 16 x 16 on 1 macro with 4 CUs: 64 steps; the input
    # port limits 4 CUs to max(1, 4 x r): r = 3 x 6 / 36 = 1/2 with de-duplication -> factor 2.
    with_dedup = nmc.compute_time_s(32, 9, 256, True, 3, 1, 4, t, True)
    assert with_dedup == pytest.approx(2 * 64 * 2 * t)
    without = nmc.compute_time_s(32, 9, 256, True, 3, 1, 4, t, False)
    assert without == pytest.approx(2 * 64 * 4 * t)
    # one CU: no port limit either way.
    assert nmc.compute_time_s(32, 9, 256, True, 3, 1, 1, t, False) == pytest.approx(2 * 256 * t)
    assert nmc.compute_time_s(0, 9, 256, True, 3, 1, 1, t, False) == 0.0


def test_mac_energy_from_the_cited_macro_before_scaling() -> None:
    """At 22 nm the NMC energy per MAC is Chiu ISSCC'23's 46.4 TOPS/W end (2 / 46.4 pJ)."""
    e22 = system_energy(22)
    assert e22.nmc_mac_j == pytest.approx(2 / 46.4e12, rel=2e-3)
    # inside the band of the two macros H4H-NAS cites: 12.5 .. 80 fJ per 8b MAC
    assert 12.5e-15 <= e22.nmc_mac_j <= 80e-15
    # scaled to 7 nm with C(node) V^2 it is smaller
    assert system_energy(7).nmc_mac_j < e22.nmc_mac_j


def test_vectorized_over_designs() -> None:
    macros = np.array([1.0, 2.0, 4.0, 8.0])
    t = nmc.compute_time_s(64, 144, 100, False, 3, macros, 1, 6e-9, True)
    words = 4 * 16
    np.testing.assert_allclose(t, np.ceil(words / macros) * 100 * 6e-9)
