"""DesignTable: construction from specs, frames and arrays; validation; default constants."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cimkit.cost import PARAMS, DesignTable, as_design_table, evaluate
from cimkit.cost.constants import DEVICES, MACRO_KINDS, MODES, load_constants
from cimkit.cost.designs import resolve_defaults
from cimkit.errors import SpecError
from cimkit.specs import ChipSpec, chip_from_dict
from cimkit.workload import Workload, make_layer

DEVICE_CONSTANTS = (
    "read_energy_fj",
    "cell_area_f2",
    "on_off_ratio",
    "write_energy_pj",
    "write_latency_ns",
)


def _specs() -> list[ChipSpec]:
    return [
        ChipSpec(),
        chip_from_dict(
            {
                "name": "sram-digital",
                "technology": {"node_nm": 22, "voltage_v": 0.8, "cycle_time_ns": 3.0},
                "device": {"kind": "sram", "bits_per_cell": 1, "read_energy_fj": 2.5},
                "macro": {"kind": "digital", "rows": 128, "cols": 64},
                "tile": {"macros": 4, "buffer_kb": 16.0, "vector_lanes": 32},
                "router": {"tiles": 2},
                "chip": {"tile_groups": 3, "mode": "weight_swapping", "area_constraint_mm2": 50},
                "dram": {"energy_pj_per_bit": 5.0},
            }
        ),
        chip_from_dict(
            {
                "name": "mram-combined",
                "technology": {"node_nm": 7, "voltage_v": 0.6},
                "device": {"kind": "mram", "bits_per_cell": 2, "on_off_ratio": 3.0},
                "macro": {"rows": 512, "cols": 128, "adc_bits": 5, "combine_weight_bits": True},
            }
        ),
    ]


def _get(spec: ChipSpec, path: str):
    section, field = path.split(".")
    return getattr(getattr(spec, section), field)


def _tiny_workload() -> Workload:
    return Workload(
        "tiny",
        (make_layer("fc", "linear", in_channels=64, out_channels=32, out_h=4, in_h=4),),
    )


# --- from_specs / to_frame / spec(i) ----------------------------------------------------------


def test_from_specs_values_and_names() -> None:
    specs = _specs()
    table = DesignTable.from_specs(specs)
    assert len(table) == 3
    assert table.names == ("chip", "sram-digital", "mram-combined")
    for name, (path, cats) in PARAMS.items():
        v = table[name]
        assert v.shape == (3,) and v.dtype == np.float64, name
        for i, spec in enumerate(specs):
            raw = _get(spec, path)
            if cats:
                assert v[i] == cats.index(raw), name
            elif raw is None:
                assert np.isnan(v[i]), name
            else:
                assert v[i] == float(raw), name


def test_spec_round_trip() -> None:
    specs = _specs()
    table = DesignTable.from_specs(specs)
    for i, spec in enumerate(specs):
        back = table.spec(i)
        assert back == spec
        # Integer fields come back as int, booleans as bool.
        assert type(back.macro.rows) is int
        assert type(back.macro.combine_weight_bits) is bool
        assert type(back.technology.voltage_v) is float


def test_to_frame_is_tidy() -> None:
    specs = _specs()
    frame = DesignTable.from_specs(specs).to_frame()
    assert list(frame.columns) == ["design", *PARAMS]
    assert list(frame["design"]) == [s.name for s in specs]
    assert list(frame["device"]) == ["rram", "sram", "mram"]
    assert list(frame["macro_kind"]) == ["analog", "digital", "analog"]
    assert list(frame["mode"]) == ["weight_stationary", "weight_swapping", "weight_stationary"]
    assert list(frame["rows"]) == [256, 128, 512]


def test_frame_round_trip() -> None:
    table = DesignTable.from_specs(_specs())
    again = DesignTable.from_frame(table.to_frame())
    assert again.names == table.names
    for name in PARAMS:
        np.testing.assert_array_equal(again[name], table[name], err_msg=name)
    for i in range(len(table)):
        assert again.spec(i) == table.spec(i)


def test_from_frame_name_column_and_base() -> None:
    base = chip_from_dict({"macro": {"rows": 64}})
    frame = pd.DataFrame({"name": ["a", "b"], "cols": [32, 64]})
    table = DesignTable.from_frame(frame, base)
    assert table.names == ("a", "b")
    np.testing.assert_array_equal(table["rows"], [64, 64])
    np.testing.assert_array_equal(table["cols"], [32, 64])


def test_from_frame_rejects_unknown_columns() -> None:
    with pytest.raises(SpecError, match=r"unknown design columns \['rowz'\]"):
        DesignTable.from_frame(pd.DataFrame({"rowz": [1]}))


def test_take() -> None:
    table = DesignTable.from_specs(_specs())
    sub = table.take(np.array([2, 0]))
    assert sub.names == ("mram-combined", "chip")
    np.testing.assert_array_equal(sub["rows"], [512, 256])
    assert table.take(slice(1, 2)).spec(0) == table.spec(1)


def test_from_specs_rejects_empty() -> None:
    with pytest.raises(SpecError, match="no designs"):
        DesignTable.from_specs([])


# --- from_arrays ------------------------------------------------------------------------------


def test_from_arrays_overrides_base() -> None:
    base = chip_from_dict({"macro": {"adc_bits": 6}})
    table = DesignTable.from_arrays(
        base,
        {
            "rows": [64, 128, 256],
            "mode": ["weight_stationary", "weight_swapping", "weight_swapping"],
        },
    )
    assert table.names == ("design-0", "design-1", "design-2")
    np.testing.assert_array_equal(table["rows"], [64, 128, 256])
    np.testing.assert_array_equal(table["adc_bits"], [6, 6, 6])
    np.testing.assert_array_equal(table["mode"], [0, 1, 1])
    assert table.spec(1).chip.mode == "weight_swapping"
    assert table.spec(2).macro.rows == 256 and table.spec(2).macro.adc_bits == 6


def test_from_arrays_without_arrays_is_the_base() -> None:
    base = chip_from_dict({"name": "only", "macro": {"rows": 32}})
    table = DesignTable.from_arrays(base, {})
    assert len(table) == 1
    assert table.spec(0, base).macro.rows == 32


def test_from_arrays_accepts_integer_category_codes() -> None:
    table = DesignTable.from_arrays(ChipSpec(), {"device": np.array([0, 1, 2])})
    assert [table.spec(i).device.kind for i in range(3)] == list(DEVICES)


def _assert_message(msg: str, design: str, field: str, value: str, *allowed: str) -> None:
    """A from_arrays error names the design first, then the field, its value and what is allowed.

    Checked token by token so the exact wording may change.
    """
    assert "\n" not in msg
    assert msg.startswith(f"{design}: "), msg
    assert field in msg, msg
    assert re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", msg), msg
    assert "allowed" in msg, msg
    for token in allowed:
        assert token in msg, msg


@pytest.mark.parametrize(
    ("arrays", "design", "field", "value", "allowed"),
    [
        ({"rows": [256, 3]}, "design-1", "rows", "3", ("8", "4096")),
        ({"rows": [256.5]}, "design-0", "rows", "256.5", ("integer",)),
        ({"adc_bits": [15]}, "design-0", "adc_bits", "15", ("14",)),
        ({"bits_per_cell": [0]}, "design-0", "bits_per_cell", "0", ("1", "8")),
        ({"node_nm": [45, 33]}, "design-1", "node_nm", "33", ("130", "45", "5")),
        ({"voltage_v": [0.1]}, "design-0", "voltage_v", "0.1", ("0.4",)),
        ({"cycle_time_ns": [-1.0]}, "design-0", "cycle_time_ns", "-1", ()),
        ({"read_energy_fj": [-2.0]}, "design-0", "read_energy_fj", "-2", ("0",)),
        ({"cols": [16], "cols_per_adc": [32]}, "design-0", "cols_per_adc", "32", ("cols",)),
    ],
)
def test_from_arrays_errors_name_design_and_field(
    arrays: dict, design: str, field: str, value: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(SpecError) as info:
        DesignTable.from_arrays(ChipSpec(), arrays)
    _assert_message(str(info.value), design, field, value, *allowed)


def test_from_arrays_error_uses_given_names() -> None:
    with pytest.raises(SpecError) as info:
        DesignTable.from_arrays(ChipSpec(), {"rows": [64, 3]}, names=["alpha", "beta"])
    _assert_message(str(info.value), "beta", "rows", "3", "8")


def test_from_arrays_digital_constraints() -> None:
    with pytest.raises(SpecError) as info:
        DesignTable.from_arrays(
            ChipSpec(), {"macro_kind": ["digital"], "device": ["sram"], "bits_per_cell": [4]}
        )
    _assert_message(str(info.value), "design-0", "bits_per_cell", "4", "digital")
    with pytest.raises(SpecError) as info:
        DesignTable.from_arrays(
            ChipSpec(), {"macro_kind": ["digital"], "device": ["rram"], "bits_per_cell": [1]}
        )
    assert "device" in str(info.value) and "sram" in str(info.value)
    ok = DesignTable.from_arrays(
        ChipSpec(), {"macro_kind": ["digital"], "device": ["mram"], "bits_per_cell": [1]}
    )
    assert ok.spec(0).macro.kind == "digital"


def test_from_arrays_rejects_unknown_parameter() -> None:
    with pytest.raises(SpecError) as info:
        DesignTable.from_arrays(ChipSpec(), {"rowz": [128], "rows": [128]})
    msg = str(info.value)
    assert "unknown design parameters ['rowz']" in msg
    assert "'rows'" in msg  # the allowed names are listed


def test_from_arrays_rejects_unknown_category() -> None:
    with pytest.raises(SpecError, match=r"mode: unknown values \['stationary'\]"):
        DesignTable.from_arrays(ChipSpec(), {"mode": ["stationary"]})


def test_from_arrays_rejects_ragged_lengths() -> None:
    with pytest.raises(SpecError, match="same length"):
        DesignTable.from_arrays(ChipSpec(), {"rows": [64, 128], "cols": [64, 128, 256]})


# Every value the YAML spec rejects must be rejected by the vectorized checks too
# (from_arrays documents "validated against the same ranges as the YAML spec").


@pytest.mark.parametrize(
    ("name", "value", "spec"),
    [
        ("rows", 3, {"macro": {"rows": 3}}),
        ("vector_lanes", 0, {"tile": {"vector_lanes": 0}}),
        ("voltage_v", 0.2, {"technology": {"voltage_v": 0.2}}),
        ("node_nm", 33, {"technology": {"node_nm": 33}}),
        # Regressions: the vectorized checks used to miss these.
        ("on_off_ratio", 0.5, {"device": {"on_off_ratio": 0.5}}),
        ("cycle_time_ns", 0.01, {"technology": {"cycle_time_ns": 0.01}}),
        ("area_constraint_mm2", -1.0, {"chip": {"area_constraint_mm2": -1.0}}),
        ("tile_buffer_kb", 1e9, {"tile": {"buffer_kb": 1e9}}),
        ("glb_kb", 1e7, {"chip": {"glb_kb": 1e7}}),
        ("mode", 5, {"chip": {"mode": 5}}),
        ("combine_weight_bits", 2, {"macro": {"combine_weight_bits": 2}}),
    ],
)
def test_from_arrays_rejects_what_the_spec_rejects(name: str, value: float, spec: dict) -> None:
    with pytest.raises(SpecError):
        chip_from_dict(spec)
    with pytest.raises(SpecError, match=name):
        DesignTable.from_arrays(ChipSpec(), {name: [value]})


def test_from_arrays_rejects_wrong_number_of_names() -> None:
    # Regression: the table used to report len(names) designs.
    with pytest.raises(SpecError, match="names"):
        DesignTable.from_arrays(ChipSpec(), {"rows": [64, 128, 256]}, names=["only-one"])


# --- device defaults --------------------------------------------------------------------------


def test_unset_device_constants_stay_unset_in_the_table() -> None:
    table = DesignTable.from_specs(ChipSpec())
    for name in (*DEVICE_CONSTANTS, "dram_pj_per_bit"):
        assert np.isnan(table[name][0]), name
    assert table.spec(0).device.read_energy_fj is None


@pytest.mark.parametrize("how", ["specs", "arrays"])
def test_device_defaults_from_constants(how: str) -> None:
    c = load_constants()
    kinds = ["rram", "sram", "mram"]
    if how == "specs":
        table = DesignTable.from_specs([chip_from_dict({"device": {"kind": k}}) for k in kinds])
    else:
        # The base is rram: the defaults must follow each design's own device kind.
        table = DesignTable.from_arrays(ChipSpec(), {"device": kinds})
    values = resolve_defaults(table.values, c)
    for name in DEVICE_CONSTANTS:
        expected = [c.device(k, name) for k in kinds]
        np.testing.assert_array_equal(values[name], expected, err_msg=name)
    np.testing.assert_array_equal(values["dram_pj_per_bit"], [c["dram_pj_per_bit"]] * 3)
    # The table itself is left untouched.
    assert np.isnan(table["read_energy_fj"]).all()


def test_explicit_device_constants_win() -> None:
    c = load_constants()
    spec = chip_from_dict(
        {"device": {"kind": "sram", "read_energy_fj": 3.5}, "dram": {"energy_pj_per_bit": 1.0}}
    )
    values = resolve_defaults(DesignTable.from_specs(spec).values, c)
    assert values["read_energy_fj"][0] == 3.5
    assert values["cell_area_f2"][0] == c.device("sram", "cell_area_f2")
    assert values["dram_pj_per_bit"][0] == 1.0


def test_evaluation_reports_resolved_constants() -> None:
    c = load_constants()
    table = DesignTable.from_arrays(ChipSpec(), {"device": ["rram", "sram", "mram"]})
    ev = evaluate(table, _tiny_workload())
    for i, kind in enumerate(["rram", "sram", "mram"]):
        for name in DEVICE_CONSTANTS:
            assert ev.designs[name][i] == c.device(kind, name)
    assert ev.designs.names == table.names


# --- as_design_table --------------------------------------------------------------------------


def test_as_design_table_accepts_every_form() -> None:
    specs = _specs()
    table = DesignTable.from_specs(specs)
    assert as_design_table(table) is table
    assert as_design_table(specs[0]).spec(0) == specs[0]
    assert as_design_table(specs).names == table.names
    assert len(as_design_table(table.to_frame())) == 3
    from_dict = as_design_table({"rows": [64, 128]}, base=specs[0])
    np.testing.assert_array_equal(from_dict["rows"], [64, 128])
    with pytest.raises(SpecError, match="cannot read designs of type int"):
        as_design_table(3)
    with pytest.raises(SpecError, match="cannot read designs of type list"):
        as_design_table([])


def test_category_tables_are_consistent() -> None:
    assert PARAMS["device"][1] == DEVICES
    assert PARAMS["macro_kind"][1] == MACRO_KINDS
    assert PARAMS["mode"][1] == MODES
