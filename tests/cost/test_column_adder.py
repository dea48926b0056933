"""The column_adder readout (a full adder in every bitcell, Colonnade): guard columns, energy."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.cost import evaluate
from cimkit.cost.constants import READOUTS, load_constants
from cimkit.cost.mapping import weight_columns
from cimkit.specs import ChipSpec
from cimkit.workload.histograms import CENTERS, LayerHistogram
from cimkit.workload.layer import make_layer
from cimkit.workload.table import Workload


def test_weight_columns_add_log2_rows_guard_columns() -> None:
    col, tree = READOUTS.index("column_adder"), READOUTS.index("adder_tree")
    ws = np.array([1, 2, 8, 16])
    assert weight_columns(ws, np.full(4, col), np.full(4, 128)).tolist() == [8, 9, 15, 23]
    assert weight_columns(ws, np.full(4, tree), np.full(4, 128)).tolist() == ws.tolist()
    assert weight_columns(ws, None, np.full(4, 128)).tolist() == ws.tolist()


def _chip(readout: str) -> ChipSpec:
    return ChipSpec.model_validate(
        {
            "technology": {"node_nm": 65, "voltage_v": 0.6, "cycle_time_ns": 10.0},
            "device": {"kind": "sram", "bits_per_cell": 1},
            "macro": {"kind": "digital", "rows": 128, "cols": 128, "readout": readout},
        }
    )


def test_column_adder_energy_is_one_adder_per_row_and_column_per_input_bit() -> None:
    # 16 weights of 1 bit fill the 128 columns (8 columns each); one 1-bit input vector makes
    # every one of the 128 x 128 adders add once: readout energy = 16384 adds of one
    # full-adder bit + 128 one-bit column registers (all-ones data: activity 1).
    c = load_constants()
    layer = make_layer(
        "fc", "linear", in_channels=128, out_channels=16, out_h=1, weight_bits=1, act_bits=1
    )
    top = np.zeros_like(CENTERS)
    top[-1] = 1.0
    ones = LayerHistogram(top, top.copy(), source="all ones")
    wl = Workload("w", (layer,), histograms={"fc": ones})
    ev = evaluate(_chip("column_adder"), wl, breakdown=True)
    ef = (0.57 / 0.346) ** 0.5 * (0.6 / 0.9) ** 2
    adds = 128 * 128 * c["tree_fj_per_bit"] * 1e-15 * ef
    regs = 128 * c["add_pj_per_bit"] * 1e-12 * ef
    assert float(ev.layer_energy["readout"].sum()) == pytest.approx(adds + regs, rel=1e-3)
    # The same layer needs 8x the columns of an adder-tree macro: 1 crossbar either way here,
    # but 17 weights no longer fit in one column_adder crossbar.
    wide = make_layer(
        "fc", "linear", in_channels=128, out_channels=17, out_h=1, weight_bits=1, act_bits=1
    )
    two = evaluate(_chip("column_adder"), Workload("w", (wide,)), breakdown=True)
    one = evaluate(_chip("adder_tree"), Workload("w", (wide,)), breakdown=True)
    assert two.layer_xbars is not None and one.layer_xbars is not None
    assert two.layer_xbars.sum() == 2 and one.layer_xbars.sum() == 1
