"""The ADC-survey table behind the SAR readout (cimkit.cost.adc_survey)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from cimkit.cost.adc_survey import sar_area_um2, sar_convert_energy_j


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    with resources.files("cimkit.data").joinpath("components/adc_survey.csv").open() as fh:
        return pd.read_csv(fh)


def test_grid_points_are_the_table(table) -> None:
    rows = table.sample(60, random_state=0)
    e = sar_convert_energy_j(rows.bits, rows.rate_sps, rows.node_nm)
    a = sar_area_um2(rows.bits, rows.rate_sps, rows.node_nm)
    np.testing.assert_allclose(e, rows.convert_energy_pj * 1e-12, rtol=1e-9)
    np.testing.assert_allclose(a, rows.area_um2, rtol=1e-9)


def test_vectorized_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    bits = rng.integers(1, 15, 500).astype(float)
    rate = 10 ** rng.uniform(5, 11, 500)  # beyond the table's 1e6..1e10 on both sides
    node = rng.choice([5, 7, 12, 22, 28, 40, 65, 90, 130], 500).astype(float)
    # Repeated triples exercise the deduplication.
    bits[::7], rate[::7], node[::7] = 8.0, 1e8, 32.0
    e = sar_convert_energy_j(bits, rate, node)
    one = [float(sar_convert_energy_j(b, r, n)) for b, r, n in zip(bits, rate, node, strict=True)]
    np.testing.assert_allclose(e, one, rtol=1e-12)
    assert e.shape == (500,) and np.all(e > 0) and np.all(np.isfinite(e))


def test_between_rates_is_geometric(table) -> None:
    t = table[(table.bits == 8) & (table.node_nm == 32)].sort_values("rate_sps")
    lo, hi = t.iloc[10], t.iloc[11]
    mid = np.sqrt(lo.rate_sps * hi.rate_sps)
    expect = np.sqrt(lo.area_um2 * hi.area_um2)
    assert float(sar_area_um2(8, mid, 32)) == pytest.approx(expect, rel=1e-9)
    # Outside the table the rate is clamped.
    assert float(sar_area_um2(8, 1e3, 32)) == pytest.approx(t.iloc[0].area_um2, rel=1e-9)


def test_energy_rises_with_bits_and_falls_with_node() -> None:
    bits = np.arange(1, 15, dtype=float)
    e = sar_convert_energy_j(bits, 1e8, 32)
    assert np.all(np.diff(e) > 0)
    # The survey's shape: 4 -> 8 bits 1.5-2x (not 2^4), above 10 bits > 2x per 2 bits.
    assert 1.4 < e[7] / e[3] < 2.0
    assert e[11] / e[9] > 2.0
    nodes = np.array([7, 16, 22, 32, 45, 65, 130], dtype=float)
    assert np.all(np.diff(sar_convert_energy_j(8, 1e8, nodes)) > 0)
