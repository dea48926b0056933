"""One vectorized call over N designs equals N single-design calls, metric by metric."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cimkit.cost import DesignTable, evaluate
from cimkit.cost.model import ENERGY_COMPONENTS
from cimkit.specs import ChipSpec
from cimkit.workload import LayerArrays, LayerHistogram, Workload, make_layer
from cimkit.workload.histograms import N_BINS

RTOL = 1e-12
N = 50


def _layers(prefix: str = "") -> list:
    def conv(name, cin, cout, k, hw_in, hw_out, groups=1):
        return make_layer(
            prefix + name,
            "conv",
            in_channels=cin,
            out_channels=cout,
            kernel_h=k,
            kernel_w=k,
            in_h=hw_in,
            in_w=hw_in,
            out_h=hw_out,
            out_w=hw_out,
            groups=groups,
        )

    return [
        conv("stem", 3, 32, 3, 64, 32),
        conv("dw1", 32, 32, 3, 32, 32, groups=32),
        conv("pw1", 32, 64, 1, 32, 32),
        conv("dw2", 64, 64, 3, 32, 16, groups=64),
        conv("pw2", 64, 128, 1, 16, 16),
        make_layer(
            prefix + "add",
            "eltwise",
            in_channels=128,
            out_channels=128,
            in_h=16,
            in_w=16,
            out_h=16,
            out_w=16,
            inputs=(prefix + "pw2", prefix + "pw1"),
        ),
        conv("big", 128, 256, 3, 16, 8),
        make_layer(prefix + "attn", "matmul", in_channels=64, out_channels=64, out_h=64, repeat=4),
        make_layer(prefix + "sm", "softmax", in_channels=64, out_channels=64, out_h=64, repeat=4),
        make_layer(
            prefix + "pool",
            "pool",
            in_channels=256,
            out_channels=256,
            in_h=8,
            in_w=8,
            kernel_h=8,
            kernel_w=8,
        ),
        make_layer(prefix + "fc", "linear", in_channels=256, out_channels=100),
    ]


def _histogram(rng: np.random.Generator) -> LayerHistogram:
    return LayerHistogram(rng.random(N_BINS) ** 4, rng.random(N_BINS), source="random")


WORKLOAD = Workload(
    "small-net",
    tuple(_layers()),
    histograms={"pw1": _histogram(np.random.default_rng(1))},
)


def random_designs(n: int, seed: int = 0) -> DesignTable:
    rng = np.random.default_rng(seed)
    digital = rng.random(n) < 0.3
    cols = rng.choice([32, 64, 128, 256, 512], n)
    cols_per_adc = np.minimum(rng.choice([1, 2, 4, 8, 16, 32], n), cols)
    arrays = {
        "node_nm": rng.choice([130, 65, 45, 28, 22, 7], n),
        "voltage_v": rng.uniform(0.6, 1.1, n).round(3),
        "cycle_time_ns": rng.uniform(0.5, 10.0, n),
        "macro_kind": np.where(digital, "digital", "analog"),
        "device": np.where(
            digital, rng.choice(["sram", "mram"], n), rng.choice(["rram", "sram", "mram"], n)
        ),
        "bits_per_cell": np.where(digital, 1, rng.choice([1, 2, 3, 4], n)),
        "read_energy_fj": np.where(rng.random(n) < 0.3, rng.uniform(0.5, 5.0, n), np.nan),
        "rows": rng.choice([16, 64, 100, 128, 256, 1024], n),
        "cols": cols,
        "adc_bits": rng.integers(3, 12, n),
        "cols_per_adc": cols_per_adc,
        "input_bits_per_cycle": rng.choice([1, 2, 4], n),
        "combine_weight_bits": rng.random(n) < 0.3,
        "macros_per_tile": rng.integers(1, 33, n),
        "tile_buffer_kb": rng.choice([16.0, 64.0, 256.0], n),
        "vector_lanes": rng.choice([4, 16, 64], n),
        "tiles_per_router": rng.integers(1, 9, n),
        "tile_groups": rng.integers(1, 17, n),
        "glb_kb": rng.choice([512.0, 4096.0], n),
        "mode": rng.choice(["weight_stationary", "weight_swapping"], n),
        "area_constraint_mm2": np.where(rng.random(n) < 0.3, rng.uniform(1, 200, n), np.nan),
    }
    # Only possible designs: an SRAM cell holds 1 bit, an MRAM cell 2; digital inputs are serial.
    most = np.select([arrays["device"] == "sram", arrays["device"] == "mram"], [1, 2], 8)
    arrays["bits_per_cell"] = np.minimum(arrays["bits_per_cell"], most)
    arrays["input_bits_per_cycle"] = np.where(digital, 1, arrays["input_bits_per_cycle"])
    return DesignTable.from_arrays(ChipSpec(), arrays)


def _assert_same(batch, i: int, single, layers: int | None = None) -> None:
    """Design i of ``batch`` equals design 0 of ``single``."""
    for k in batch.metrics:
        np.testing.assert_allclose(batch[k][i], single[k][0], rtol=RTOL, atol=0, err_msg=k)
    for k in ENERGY_COMPONENTS:
        np.testing.assert_allclose(
            batch.energy_by_component[k][i],
            single.energy_by_component[k][0],
            rtol=RTOL,
            atol=0,
            err_msg=k,
        )
    for k in batch.area_by_component:
        np.testing.assert_allclose(
            batch.area_by_component[k][i],
            single.area_by_component[k][0],
            rtol=RTOL,
            atol=0,
            err_msg=k,
        )
    assert batch.feasible[i] == single.feasible[0]
    assert batch.reasons[i] == single.reasons[0]
    if batch.layer_energy is not None and single.layer_energy is not None:
        width = single.layer_latency.shape[1] if layers is None else layers
        np.testing.assert_allclose(
            batch.layer_latency[i, :width], single.layer_latency[0], rtol=RTOL, atol=0
        )
        assert (batch.layer_latency[i, width:] == 0).all()
        np.testing.assert_array_equal(batch.layer_xbars[i, :width], single.layer_xbars[0])
        np.testing.assert_array_equal(
            batch.layer_replication[i, :width], single.layer_replication[0]
        )
        for k in ENERGY_COMPONENTS:
            np.testing.assert_allclose(
                batch.layer_energy[k][i, :width],
                single.layer_energy[k][0],
                rtol=RTOL,
                atol=0,
                err_msg=k,
            )
            assert (batch.layer_energy[k][i, width:] == 0).all(), k


@pytest.fixture(scope="module")
def designs() -> DesignTable:
    return random_designs(N)


def test_random_designs_cover_the_space(designs: DesignTable) -> None:
    ev = evaluate(designs, WORKLOAD)
    frame = designs.to_frame()
    assert set(frame["macro_kind"]) == {"analog", "digital"}
    assert set(frame["device"]) == {"rram", "sram", "mram"}
    assert set(frame["mode"]) == {"weight_stationary", "weight_swapping"}
    assert ev.feasible.any() and (~ev.feasible).any()
    assert np.isfinite(ev["energy_j"]).all() and (ev["energy_j"] > 0).all()
    assert np.isfinite(ev["latency_s"]).all() and (ev["latency_s"] > 0).all()


def test_batch_equals_loop(designs: DesignTable) -> None:
    batch = evaluate(designs, WORKLOAD, breakdown=True)
    assert len(batch) == N
    assert batch.designs.names == designs.names
    for i in range(N):
        single = evaluate(designs.take(np.array([i])), WORKLOAD, breakdown=True)
        _assert_same(batch, i, single)


def test_batch_equals_loop_over_specs(designs: DesignTable) -> None:
    # The same through the ChipSpec round trip (spec(i) -> from_specs) for a few designs.
    batch = evaluate(designs, WORKLOAD)
    for i in range(0, N, 7):
        _assert_same(batch, i, evaluate(designs.spec(i), WORKLOAD))


def test_chunked_equals_unchunked(designs: DesignTable) -> None:
    whole = evaluate(designs, WORKLOAD, breakdown=True)
    chunked = evaluate(designs, WORKLOAD, breakdown=True, chunk=7)
    for k in whole.metrics:
        np.testing.assert_array_equal(chunked[k], whole[k], err_msg=k)
    for k in ENERGY_COMPONENTS:
        np.testing.assert_array_equal(
            chunked.energy_by_component[k], whole.energy_by_component[k], err_msg=k
        )
        np.testing.assert_array_equal(chunked.layer_energy[k], whole.layer_energy[k], err_msg=k)
    np.testing.assert_array_equal(chunked.layer_latency, whole.layer_latency)
    np.testing.assert_array_equal(chunked.layer_replication, whole.layer_replication)
    np.testing.assert_array_equal(chunked.layer_xbars, whole.layer_xbars)
    np.testing.assert_array_equal(chunked.feasible, whole.feasible)
    assert list(chunked.reasons) == list(whole.reasons)


def test_design_order_does_not_matter(designs: DesignTable) -> None:
    perm = np.random.default_rng(3).permutation(N)
    whole = evaluate(designs, WORKLOAD)
    shuffled = evaluate(designs.take(perm), WORKLOAD)
    for k in whole.metrics:
        np.testing.assert_array_equal(shuffled[k], whole[k][perm], err_msg=k)


def _random_workloads(n: int, seed: int = 5) -> list[Workload]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        layers = _layers()
        keep = int(rng.integers(3, len(layers) + 1))  # different lengths -> padded slots
        wl = Workload(f"net{i}", tuple(layers[:keep]))
        wl = wl.with_bits(
            weight_bits=[int(b) for b in rng.choice([2, 4, 6, 8], keep)],
            act_bits=[int(b) for b in rng.choice([4, 8, 12, 16], keep)],
        )
        if rng.random() < 0.5:
            named = [layer.name for layer in wl.layers[: int(rng.integers(1, keep + 1))]]
            wl = wl.with_histograms({name: _histogram(rng) for name in named})
        out.append(wl)
    return out


def test_batch_of_workloads_equals_per_design_workloads(designs: DesignTable) -> None:
    wls = _random_workloads(N)
    la = LayerArrays.from_workloads(wls)
    assert la.shape == (N, max(len(w) for w in wls))
    assert la.mask.sum(axis=1).tolist() == [len(w) for w in wls]
    batch = evaluate(designs, la, breakdown=True)
    chunked = evaluate(designs, la, breakdown=True, chunk=7)
    for i in range(N):
        single = evaluate(designs.take(np.array([i])), wls[i], breakdown=True)
        _assert_same(batch, i, single, layers=len(wls[i]))
        _assert_same(chunked, i, single, layers=len(wls[i]))


def test_padded_batch_emits_no_runtime_warnings(designs: DesignTable) -> None:
    la = LayerArrays.from_workloads(_random_workloads(N))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        evaluate(designs, la)


def test_shared_workload_equals_repeated_rows(designs: DesignTable) -> None:
    # A (1, L) workload broadcast over N designs equals the same workload stacked N times.
    shared = evaluate(designs, WORKLOAD)
    stacked = evaluate(designs, LayerArrays.from_workloads([WORKLOAD] * N))
    for k in shared.metrics:
        np.testing.assert_allclose(stacked[k], shared[k], rtol=RTOL, atol=0, err_msg=k)


def test_wrong_number_of_workload_rows() -> None:
    from cimkit.errors import WorkloadError

    la = LayerArrays.from_workloads([WORKLOAD] * 3)
    with pytest.raises(WorkloadError, match="3 rows for 5 designs"):
        evaluate(random_designs(5), la)


def _per_design_bits(n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    width = len(WORKLOAD)
    return rng.choice([2, 4, 6, 8], (n, width)), rng.choice([4, 8, 16], (n, width))


def test_per_design_bit_widths_equal_loop(designs: DesignTable) -> None:
    wb, ab = _per_design_bits(N)
    la = WORKLOAD.arrays().with_bits(wb, ab)
    batch = evaluate(designs, la, breakdown=True)
    for i in range(0, N, 5):
        single_wl = WORKLOAD.with_bits(weight_bits=wb[i].tolist(), act_bits=ab[i].tolist())
        single = evaluate(designs.take(np.array([i])), single_wl, breakdown=True)
        _assert_same(batch, i, single)


def test_per_design_bit_widths_chunked(designs: DesignTable) -> None:
    # Regression: with_bits made (N, L) bit columns while op/mask stayed (1, L), so evaluate did
    # not slice them per chunk (ValueError once N > chunk).
    wb, ab = _per_design_bits(N)
    la = WORKLOAD.arrays().with_bits(wb, ab)
    whole = evaluate(designs, la)
    chunked = evaluate(designs, la, chunk=7)
    np.testing.assert_array_equal(chunked["energy_j"], whole["energy_j"])
