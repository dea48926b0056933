"""Rank agreement with the offline reference component model, and the transistor flavours."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost.constants import TRANSISTORS, delay_factor, load_constants
from cimkit.reference_rank import rank_agreement


def test_lp_delay_law_by_hand() -> None:
    """NeuroSim 32 nm LP: Vth 0.442 V, alpha 2; D(V) / D(0.9 V) = 5.60 at 0.6 V (the number the
    reference model documents), 1.0 at the reference voltage for every flavour."""
    c = load_constants()
    lp = TRANSISTORS.index("lp")
    ratio = delay_factor(32, 0.6, c, lp) / delay_factor(32, 0.9, c, lp)
    by_hand = (0.6 / (0.6 - 0.442) ** 2) / (0.9 / (0.9 - 0.442) ** 2)
    assert ratio == pytest.approx(by_hand, rel=1e-9) and by_hand == pytest.approx(5.60, abs=0.01)
    at_ref = [float(delay_factor(32, 0.9, c, k)) for k in range(len(TRANSISTORS))]
    assert np.allclose(at_ref, at_ref[0])
    # generic is the default (None) and keeps its own law
    assert delay_factor(32, 0.6, c) == delay_factor(32, 0.6, c, 0)
    assert delay_factor(32, 0.6, c, lp) > delay_factor(32, 0.6, c, TRANSISTORS.index("hp"))


@pytest.fixture(scope="module")
def agreement():
    return rank_agreement("lp")


def test_latency_ranks_agree_with_reference(agreement) -> None:
    """Across rows x ADC bits x voltage (100 configurations) per ResNet-18 layer."""
    assert len(agreement.per_layer) == 21
    assert agreement.median_latency >= 0.9, agreement.per_layer


def test_energy_ranks_agree_with_reference(agreement) -> None:
    """The survey-table SAR: energy ranks agree (issue 9 asks tau >= 0.9); no layer below 0.85."""
    assert agreement.median_energy >= 0.9, agreement.per_layer
    assert agreement.per_layer["tau_energy"].min() >= 0.85, agreement.per_layer
