"""Phase timing of time-domain (integrate-and-fire) readouts: hand-computed step counts."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost.peripherals import if_phase_steps
from cimkit.validation import get_preset, predict_point

# (magnitude bits, phases, output bits) -> (integration + sample steps, conversion steps),
# worked by hand: phases split the bits evenly (first phases take the extra bit), a w-bit phase
# integrates 2^w - 1 steps plus one sample step, phase i converts out - (earlier bits) bits.
CASES = {
    (3, 1, 6): (7 + 1, 6),
    (1, 1, 3): (1 + 1, 3),
    (4, 2, 7): (3 + 3 + 2, 7 + 5),
    (5, 2, 8): (7 + 3 + 2, 8 + 5),
    (7, 2, 10): (15 + 7 + 2, 10 + 6),
    (7, 3, 10): (7 + 3 + 3 + 3, 10 + 7 + 5),
    (8, 8, 3): (8 * (1 + 1), 3 + 2 + 1),
}


@pytest.mark.parametrize(("key", "want"), CASES.items())
def test_phase_steps_by_hand(key: tuple[int, int, int], want: tuple[int, int]) -> None:
    bits, phases, out = key
    integ, conv = if_phase_steps(np.array([bits]), np.array([phases]), np.array([out]), 8)
    assert (integ[0], conv[0]) == want


def test_phase_steps_vectorised_equals_loop() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 9, 50)
    phases = np.array([rng.integers(1, b + 1) for b in bits])
    out = rng.integers(1, 11, 50)
    integ, conv = if_phase_steps(bits, phases, out, 8)
    for i in range(50):
        a, b = if_phase_steps(bits[i : i + 1], phases[i : i + 1], out[i : i + 1], 8)
        assert (a[0], b[0]) == (integ[i], conv[i])


def test_two_phases_beat_one_for_many_bits() -> None:
    # 2^w growth: splitting 6 bits in two phases saves integration steps.
    one = sum(if_phase_steps(np.array([6]), np.array([1]), np.array([8]), 2))
    two = sum(if_phase_steps(np.array([6]), np.array([2]), np.array([8]), 2))
    assert two[0] < one[0]


def test_neurram_tops_follow_phase_timing() -> None:
    # Out-of-sample NeuRRAM TOPS (Fig. 12c): the clock is calibrated at (6, 4) only.
    p = get_preset("wan_nature_2022")
    for point in p.points:
        rep = point.reported["tops"]
        pred = predict_point(p, point)["tops"]
        assert abs(pred / rep - 1) < 0.06, (point.id, pred, rep)


def test_neurram_tops_ratio_is_the_step_ratio() -> None:
    # Same clock and voltage: TOPS(3 out, 1 in) / TOPS(6 out, 4 in) = 14 steps / 5 steps, worked
    # by hand: (6,4) = 3 magnitude bits, 7 + 1 + 6; (3,1) = 1 magnitude bit, 1 + 1 + 3.
    p = get_preset("wan_nature_2022")
    by_id = {q.id: q for q in p.points}
    hi = predict_point(p, by_id["fig12_out3_in1_one_or_two_phase"])["tops"]
    lo = predict_point(p, by_id["fig12_out6_in4_one_or_two_phase"])["tops"]
    assert hi / lo == pytest.approx(14 / 5, rel=1e-9)


def test_peak_tops_is_the_tops_of_an_array_filling_8b_layer_for_every_macro() -> None:
    """Peak TOPS (every crossbar a full-array 8b x 8b MVM) counts the same cycles the engine
    runs: for each preset and operating point it equals the TOPS of an 8-bit layer that fills
    every array, time-domain readouts (phase steps, a one-step clock) included."""
    from cimkit.cost import evaluate
    from cimkit.validation import _filling_layer, macro_presets

    kinds = set()
    for p in macro_presets():
        for point in p.points:
            wl = _filling_layer(point.spec, p.macros, 8, 8)
            ev = evaluate(point.spec, wl, breakdown=True)
            assert ev.layer_latency is not None
            tops = 2.0 * wl.total_macs / float(ev.layer_latency[0, 0]) / 1e12
            peak = float(ev.metrics["peak_tops"][0])
            assert peak == pytest.approx(tops, rel=1e-9), (p.id, point.id, peak, tops)
            kinds.add(point.spec.macro.readout)
    assert "integrate_fire" in kinds and "sar" in kinds
