"""LayerHistogram: slice-level tables by hand, default distribution, from_values normalization."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.workload import LayerHistogram
from cimkit.workload.histograms import (
    CENTERS,
    EDGES,
    MAX_BITS,
    MAX_SLICE,
    N_BINS,
    histogram_of,
    stack_tables,
)

ZERO_BIN = N_BINS // 2  # the grid value 0 (N_BINS is odd)
TOP_BIN = N_BINS - 1  # the grid value 1.0


def _center(k: int) -> float:
    """Grid value k of N_BINS evenly spaced values on [-1, 1] (ends included), exactly."""
    return -1.0 + 2.0 * k / (N_BINS - 1)


def _bin_of(x: float) -> int:
    """The grid value nearest to x (where np.histogram with the midpoint EDGES counts x)."""
    return int(np.clip(np.floor((x + 1) / 2 * (N_BINS - 1) + 0.5), 0, N_BINS - 1))


def _bin_with(q: int, bits: int, signed: bool) -> int:
    """First bin whose center quantizes to q (unsigned: x >= 0; signed: x < 0, offset encoded)."""
    for k in range(N_BINS):
        x = _center(k)
        if signed and x < 0 and round((x + 1) / 2 * (2**bits - 1)) == q:
            return k
        if not signed and x >= 0 and round(x * (2**bits - 1)) == q:
            return k
    raise AssertionError(f"no bin quantizes to {q}")


def _one_hot(k: int) -> np.ndarray:
    p = np.zeros(N_BINS)
    p[k] = 1.0
    return p


def _gauss() -> np.ndarray:
    return np.exp(-0.5 * (3 * CENTERS) ** 2)


def _levels(q: int, bits: int, width: int) -> float:
    """Mean of (LSB-first width-bit slice of q) / (slice maximum)."""
    out = []
    for lo in range(0, bits, width):
        w = min(width, bits - lo)
        out.append(((q >> lo) & ((1 << w) - 1)) / ((1 << w) - 1))
    return sum(out) / len(out)


def test_bins() -> None:
    assert EDGES.shape == (N_BINS + 1,) and CENTERS.shape == (N_BINS,)
    assert EDGES[0] == -1.0 and EDGES[-1] == 1.0
    assert EDGES[ZERO_BIN] <= 0.0 < EDGES[ZERO_BIN + 1]
    expected = [_center(k) for k in range(N_BINS)]
    np.testing.assert_allclose(CENTERS, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(CENTERS, -CENTERS[::-1], rtol=0, atol=1e-15)


def test_zero_bin_center_is_not_negative() -> None:
    assert CENTERS[ZERO_BIN] >= 0.0


# --- tables by hand ---------------------------------------------------------------------------

IN_BIN = _bin_with(181, 8, signed=False)  # a center near 0.709


def test_unsigned_point_mass_by_hand() -> None:
    x = _center(IN_BIN)
    assert 0.7 < x < 0.72
    tab, _ = LayerHistogram(_one_hot(IN_BIN), _one_hot(IN_BIN)).tables()
    assert tab.shape == (MAX_BITS + 1, MAX_SLICE + 1)
    # 8 bits: q = round(x * 255) = 181 = 0b1011_0101 (x in [180.5, 181.5) / 255).
    assert tab[8, 1] == pytest.approx(5 / 8)  # five 1-bits of eight
    # 2-bit slices LSB first: 01, 01, 11, 10 -> 1/3, 1/3, 1, 2/3.
    assert tab[8, 2] == pytest.approx((1 / 3 + 1 / 3 + 1 + 2 / 3) / 4)
    # 3-bit slices: 101 = 5, 110 = 6, then the 2-bit remainder 10 = 2 -> 5/7, 6/7, 2/3.
    assert tab[8, 3] == pytest.approx((5 / 7 + 6 / 7 + 2 / 3) / 3)
    # 4-bit slices: 0101 = 5, 1011 = 11.
    assert tab[8, 4] == pytest.approx((5 / 15 + 11 / 15) / 2)
    # One 8-bit slice: the value itself over full scale.
    assert tab[8, 8] == pytest.approx(181 / 255)
    # 4 bits: x * 15 in [10.62, 10.68) -> q = 11 = 0b1011.
    assert tab[4, 1] == pytest.approx(3 / 4)
    assert tab[4, 2] == pytest.approx((3 / 3 + 2 / 3) / 2)
    assert tab[4, 4] == pytest.approx(11 / 15)
    # Slices wider than the value: a single slice of all b bits.
    assert tab[4, 8] == pytest.approx(11 / 15)
    # 1 bit: q = round(0.709) = 1.
    assert tab[1, 1] == 1.0
    # Unused corners stay zero.
    assert (tab[0] == 0).all() and (tab[:, 0] == 0).all()


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16])
@pytest.mark.parametrize("width", [1, 2, 3, 4, 8])
def test_unsigned_point_mass_general(bits: int, width: int) -> None:
    x = _center(IN_BIN)
    q = int(round(x * (2**bits - 1)))
    tab, _ = LayerHistogram(_one_hot(IN_BIN), _one_hot(IN_BIN)).tables()
    assert tab[bits, width] == pytest.approx(_levels(q, bits, width), rel=1e-12)


W_BIN = _bin_with(54, 8, signed=True)  # a center near -0.576


def test_signed_offset_encoding_by_hand() -> None:
    x = _center(W_BIN)
    assert -0.59 < x < -0.56
    _, tab = LayerHistogram(_one_hot(IN_BIN), _one_hot(W_BIN)).tables()
    # Negative mass -> offset encoding u = (x + 1) / 2, about 0.212.
    # 8 bits: q = round(u * 255) = 54 = 0b0011_0110.
    assert tab[8, 1] == pytest.approx(4 / 8)
    assert tab[8, 4] == pytest.approx((6 / 15 + 3 / 15) / 2)  # slices 0110, 0011
    assert tab[8, 8] == pytest.approx(54 / 255)
    # 4 bits: u * 15 in [3.15, 3.21) -> q = 3 = 0b0011.
    assert tab[4, 1] == pytest.approx(2 / 4)
    assert tab[4, 2] == pytest.approx((3 / 3 + 0 / 3) / 2)
    assert tab[4, 4] == pytest.approx(3 / 15)


def test_positive_only_weights_use_unsigned_encoding() -> None:
    # The same positive value: unsigned (q = 181) when alone, offset-encoded once any mass is
    # negative: u = (1 + x) / 2 -> round(u * 255) = 218 at 8 bits.
    q_offset = round((1 + _center(IN_BIN)) / 2 * 255)
    assert q_offset == 218
    alone = LayerHistogram(_one_hot(IN_BIN), _one_hot(IN_BIN)).tables()[1]
    assert alone[8, 8] == pytest.approx(181 / 255)
    mixed = 0.75 * _one_hot(IN_BIN) + 0.25 * _one_hot(W_BIN)
    tab = LayerHistogram(_one_hot(IN_BIN), mixed).tables()[1]
    assert tab[8, 8] == pytest.approx(0.75 * 218 / 255 + 0.25 * 54 / 255)
    assert tab[8, 1] == pytest.approx(0.75 * _levels(218, 8, 1) + 0.25 * _levels(54, 8, 1))


def test_symmetric_two_point_distribution_has_level_one_half() -> None:
    # Offset encoding maps -x to the bitwise complement of +x at 8 bits (u(+x) + u(-x) = 1 and
    # x * 255 is no rounding tie), so every slice of +-x has mean level exactly 1/2.
    sym = _one_hot(IN_BIN) + _one_hot(N_BINS - 1 - IN_BIN)
    _, tab = LayerHistogram(_one_hot(IN_BIN), sym).tables()
    np.testing.assert_allclose(tab[8, 1:], 0.5, rtol=0, atol=1e-12)


def test_symmetric_gaussian_weights_have_level_one_half() -> None:
    _, tab = LayerHistogram(_one_hot(IN_BIN), _gauss()).tables()
    np.testing.assert_allclose(tab[1:, 1:], 0.5, rtol=0, atol=0.01)


def test_full_scale_value() -> None:
    # max |x| lands in the top bin, which quantizes to full scale (all ones) up to 8 bits.
    tab, _ = LayerHistogram(_one_hot(TOP_BIN), _one_hot(TOP_BIN)).tables()
    np.testing.assert_allclose(tab[1:9, 1:], 1.0, rtol=0, atol=1e-12)


def test_mixture_is_linear() -> None:
    a, b = _one_hot(IN_BIN), _one_hot(TOP_BIN)
    ta = LayerHistogram(a, a).tables()[0]
    tb = LayerHistogram(b, b).tables()[0]
    tm = LayerHistogram(0.3 * a + 0.7 * b, a).tables()[0]
    np.testing.assert_allclose(tm, 0.3 * ta + 0.7 * tb, rtol=1e-12, atol=1e-15)


def test_zero_inputs_have_zero_levels_at_every_width() -> None:
    hist = LayerHistogram.from_values(np.zeros(100), np.linspace(-1, 1, 101))
    np.testing.assert_array_equal(hist.inputs, _one_hot(ZERO_BIN))
    tab, _ = hist.tables()
    np.testing.assert_array_equal(tab[1:, 1:], 0.0)


def test_tables_are_cached_and_bounded() -> None:
    hist = LayerHistogram(np.random.default_rng(0).random(N_BINS), _gauss())
    first = hist.tables()
    assert hist.tables() is first
    for tab in first:
        assert ((tab >= 0) & (tab <= 1)).all()
    stacked = stack_tables((LayerHistogram.default(), hist))
    assert stacked[0].shape == stacked[1].shape == (2, MAX_BITS + 1, MAX_SLICE + 1)
    np.testing.assert_array_equal(stacked[0][1], first[0])
    np.testing.assert_array_equal(stacked[1][0], LayerHistogram.default().tables()[1])


# --- default distribution ---------------------------------------------------------------------


def test_default_histogram() -> None:
    d = LayerHistogram.default()
    assert d is LayerHistogram.default()  # built once
    assert d.source == "default"
    np.testing.assert_allclose(d.inputs.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(d.weights.sum(), 1.0, rtol=1e-12)
    # Post-ReLU inputs: no mass below the zero bin, half of all inputs exactly zero (with an
    # even bin count the zero bin also holds the half-normal's first bin).
    assert d.inputs[:ZERO_BIN].sum() == 0
    assert 0.5 - 1e-12 <= d.inputs[ZERO_BIN] < 0.51
    # Half-normal over the rest, decreasing away from zero.
    assert (np.diff(d.inputs[ZERO_BIN + 1 :]) < 0).all()
    # Weights: symmetric zero-mean normal clipped at 3 sigma.
    np.testing.assert_allclose(d.weights, d.weights[::-1], rtol=1e-12)
    assert d.weights.argmax() in (ZERO_BIN - 1, ZERO_BIN)
    np.testing.assert_allclose(d.weights[0] / d.weights.max(), np.exp(-4.5), rtol=0.05)


def test_default_weight_tables_at_8_bits() -> None:
    _, w_tab = LayerHistogram.default().tables()
    # Symmetric signed weights: mean slice level one half (up to the zero bin's share).
    np.testing.assert_allclose(w_tab[8, 1:], 0.5, atol=0.005)


def test_default_inputs_are_unsigned() -> None:
    in_tab, _ = LayerHistogram.default().tables()
    # Mean normalized input: half zeros, half a half-normal of sigma 1/3 -> 0.5 * sqrt(2/pi) / 3.
    assert in_tab[8, 8] == pytest.approx(0.5 * np.sqrt(2 / np.pi) / 3, rel=0.02)
    # Half of the inputs are 0 -> every input slice level is below one half.
    assert (in_tab[1:, 1:] < 0.5).all()
    # Zero inputs contribute nothing: a 1-bit input is set exactly for the upper half of the
    # half-normal (x >= 1/2 of the range).
    upper = LayerHistogram.default().inputs[[k for k in range(N_BINS) if _center(k) >= 0.5]]
    assert in_tab[1, 1] == pytest.approx(upper.sum(), rel=1e-9)


# --- from_values / histogram_of ---------------------------------------------------------------


def test_from_values_normalizes_by_max_abs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    w = rng.normal(size=500)
    a = LayerHistogram.from_values(x, w, source="t")
    b = LayerHistogram.from_values(7.5 * x, 0.01 * w)
    np.testing.assert_allclose(a.inputs, b.inputs)
    np.testing.assert_allclose(a.weights, b.weights)
    assert a.source == "t" and b.source == "measured"
    for p in (a.inputs, a.weights):
        assert p.shape == (N_BINS,)
        assert p.sum() == pytest.approx(1.0, rel=1e-12)
        assert (p >= 0).all()
    # The largest |value| is at an end of the range.
    assert a.inputs[0] > 0 or a.inputs[-1] > 0


def test_histogram_of_counts() -> None:
    # Values / max|x| = -1, -0.5, 0, 0.5, 1 (1.0 in the last bin).
    p = histogram_of(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    expected = np.zeros(N_BINS)
    bins = [_bin_of(x) for x in (-1.0, -0.5, 0.0, 0.5, 1.0)]
    assert bins[0] == 0 and bins[2] == ZERO_BIN and bins[4] == N_BINS - 1
    expected[bins] = 0.2
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-15)


def test_histogram_of_clip() -> None:
    # Values beyond the clip go to the end bins.
    p = histogram_of(np.array([0.5, 4.0, -4.0, 0.25]), clip=1.0)
    assert p[0] == pytest.approx(0.25) and p[-1] == pytest.approx(0.25)
    assert p[_bin_of(0.5)] == pytest.approx(0.25) and p[_bin_of(0.25)] == pytest.approx(0.25)


def test_histogram_of_all_zeros() -> None:
    p = histogram_of(np.zeros(10))
    np.testing.assert_array_equal(p, _one_hot(ZERO_BIN))
    relu = np.maximum(np.random.default_rng(1).normal(size=1000), 0)
    q = histogram_of(relu)
    assert q[:ZERO_BIN].sum() == 0
    upper_edge = -1 + 2 * (ZERO_BIN + 1) / N_BINS  # of the zero bin, in units of max|x|
    assert q[ZERO_BIN] == pytest.approx((relu / relu.max() < upper_edge).mean())


def test_constructor_normalizes_mass() -> None:
    counts = np.zeros(N_BINS)
    counts[[10, 20]] = [3.0, 1.0]
    h = LayerHistogram(counts, counts * 100)
    assert h.inputs[10] == pytest.approx(0.75) and h.inputs[20] == pytest.approx(0.25)
    np.testing.assert_allclose(h.weights, h.inputs)
    # Negative mass is clipped to zero.
    neg = counts.copy()
    neg[30] = -5.0
    assert LayerHistogram(neg, counts).inputs[30] == 0.0


def test_constructor_rejects_bad_histograms() -> None:
    with pytest.raises(ValueError, match="no mass"):
        LayerHistogram(np.zeros(N_BINS), _gauss())
    with pytest.raises(ValueError, match="shape"):
        LayerHistogram(np.ones(10), np.ones(10))
