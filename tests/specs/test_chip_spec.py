"""Chip spec: YAML round-trip, immutability and one-line SpecError messages."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from cimkit.errors import CimkitError, SpecError
from cimkit.specs import (
    NODES_NM,
    ChipSpec,
    chip_from_dict,
    dump_yaml,
    load_chip,
    read_yaml,
    save_chip,
)


def _custom_spec() -> ChipSpec:
    """A spec with every section away from its defaults, optional device constants included."""
    return chip_from_dict(
        {
            "name": "my-sram-chip",
            "technology": {"node_nm": 22, "voltage_v": 0.8, "cycle_time_ns": 2.5},
            "device": {
                "kind": "sram",
                "bits_per_cell": 1,
                "read_energy_fj": 1.25,
                "cell_area_f2": 300.0,
                "on_off_ratio": 500.0,
                "write_energy_pj": 0.2,
                "write_latency_ns": 1.5,
            },
            "macro": {
                # Analog: a digital macro has no ADC to set (adc_bits, cols_per_adc are refused).
                "kind": "analog",
                "readout": "flash",
                "rows": 128,
                "cols": 64,
                "adc_bits": 6,
                "cols_per_adc": 4,
                "input_bits_per_cycle": 2,
            },
            "tile": {"macros": 4, "buffer_kb": 32.5, "vector_lanes": 8},
            "router": {"tiles": 2},
            "chip": {
                "tile_groups": 9,
                "glb_kb": 1024.0,
                "glb_bandwidth_bits": 512,
                "noc_bits": 128,
                "mode": "weight_swapping",
                "area_constraint_mm2": 12.5,
            },
            "dram": {"energy_pj_per_bit": 7.5, "bandwidth_gb_s": 12.8},
        }
    )


def _write(tmp_path: Path, text: str, name: str = "chip.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _error(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        chip_from_dict(data, source="spec.yaml")
    msg = str(info.value)
    assert "\n" not in msg, "SpecError messages are one line"
    assert msg.startswith("spec.yaml: ")
    return msg


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [ChipSpec(), _custom_spec()], ids=["default", "custom"])
def test_save_load_round_trip(tmp_path: Path, spec: ChipSpec) -> None:
    path = save_chip(spec, tmp_path / "nested" / "dir" / "chip.yaml")
    assert path.is_file()
    loaded = load_chip(path)
    assert loaded == spec
    assert loaded.model_dump() == spec.model_dump()
    # Saving the loaded spec again gives the same text (the file is a fixed point).
    assert dump_yaml(loaded) == path.read_text()


@pytest.mark.parametrize("spec", [ChipSpec(), _custom_spec()], ids=["default", "custom"])
def test_dump_yaml_chip_from_dict_round_trip(spec: ChipSpec) -> None:
    text = dump_yaml(spec)
    data = yaml.safe_load(text)
    assert chip_from_dict(data) == spec


def test_dump_yaml_writes_every_field() -> None:
    data = yaml.safe_load(dump_yaml(ChipSpec()))
    for section, model in ChipSpec.model_fields.items():
        if section == "name":
            continue
        sub_model = model.annotation
        assert set(data[section]) == set(sub_model.model_fields), section
    # Unset device constants are written as explicit nulls (the file documents the full design).
    assert data["device"]["read_energy_fj"] is None
    assert data["chip"]["area_constraint_mm2"] is None


def test_partial_yaml_fills_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: small\nmacro:\n  rows: 128\n")
    spec = load_chip(path)
    assert spec.name == "small"
    assert spec.macro.rows == 128
    assert spec.macro.cols == ChipSpec().macro.cols
    assert spec.technology == ChipSpec().technology


def test_macros_total() -> None:
    spec = _custom_spec()
    assert spec.macros_total == 4 * 2 * 9


# --- immutability -----------------------------------------------------------------------------


def test_spec_is_frozen() -> None:
    spec = ChipSpec()
    with pytest.raises(pydantic.ValidationError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        spec.macro.rows = 128  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        spec.technology.node_nm = 22  # type: ignore[misc]
    assert spec.macro.rows == 256
    # The supported way to change a value: a validated copy.
    changed = chip_from_dict(
        {**spec.model_dump(), "macro": {**spec.macro.model_dump(), "rows": 64}}
    )
    assert changed.macro.rows == 64 and spec.macro.rows == 256


# --- validation messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"macro": {"rowz": 256}}, "macro.rowz"),
        ({"technology": {"node": 45}}, "technology.node"),
        ({"chip": {"tile_group": 4}}, "chip.tile_group"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_unknown_field_names_dotted_path(data: dict, path: str) -> None:
    msg = _error(data)
    assert f"{path}: unknown field" in msg


def test_spec_error_is_a_cimkit_error() -> None:
    with pytest.raises(CimkitError):
        chip_from_dict({"macro": {"rowz": 1}})


def test_rows_out_of_range_names_field_and_bound() -> None:
    msg = _error({"macro": {"rows": 3}})
    assert "macro.rows" in msg
    assert "greater than or equal to 8" in msg
    assert "(got 3)" in msg


def test_rows_above_range_names_bound() -> None:
    msg = _error({"macro": {"rows": 10000}})
    assert "macro.rows" in msg
    assert "less than or equal to 4096" in msg


def test_voltage_out_of_range_names_field() -> None:
    msg = _error({"technology": {"voltage_v": 0.1}})
    assert "technology.voltage_v" in msg
    assert "greater than or equal to 0.4" in msg


def test_categorical_value_lists_allowed_values() -> None:
    msg = _error({"chip": {"mode": "stationary"}})
    assert "chip.mode" in msg
    assert "weight_stationary" in msg and "weight_swapping" in msg
    assert "'stationary'" in msg


def test_unsupported_node_names_field_and_allowed_nodes() -> None:
    msg = _error({"technology": {"node_nm": 33}})
    assert "technology" in msg and "node_nm" in msg and "33" in msg
    assert "allowed" in msg
    for node in NODES_NM:
        assert str(node) in msg


# Regression: these were model_validator errors reported at the section ('technology: ...').
@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"technology": {"node_nm": 33}}, "technology.node_nm"),
        ({"macro": {"cols": 8, "cols_per_adc": 16}}, "macro.cols_per_adc"),
    ],
)
def test_cross_field_errors_name_dotted_path(data: dict, path: str) -> None:
    assert f"{path}:" in _error(data)


def test_several_problems_in_one_line() -> None:
    msg = _error({"macro": {"rows": 3, "adc_bits": 20}})
    assert "macro.rows" in msg and "macro.adc_bits" in msg
    assert "; " in msg


def test_digital_macro_needs_one_bit_per_cell() -> None:
    msg = _error({"macro": {"kind": "digital"}, "device": {"kind": "sram", "bits_per_cell": 2}})
    assert "device.bits_per_cell" in msg
    assert "digital" in msg
    assert "got 2" in msg
    # The same macro with one bit per cell is accepted.
    spec = chip_from_dict(
        {"macro": {"kind": "digital"}, "device": {"kind": "sram", "bits_per_cell": 1}}
    )
    assert spec.macro.kind == "digital"


def test_digital_macro_rejects_rram() -> None:
    msg = _error({"macro": {"kind": "digital"}, "device": {"kind": "rram", "bits_per_cell": 1}})
    assert "device.kind" in msg and "digital" in msg
    assert "sram" in msg


def test_cols_per_adc_above_cols_rejected() -> None:
    msg = _error({"macro": {"cols": 8, "cols_per_adc": 16}})
    assert "cols_per_adc" in msg and "16" in msg
    assert "cols=8" in msg
    # Equal is allowed.
    assert chip_from_dict({"macro": {"cols": 16, "cols_per_adc": 16}}).macro.cols_per_adc == 16


def test_optional_device_constant_must_be_positive() -> None:
    msg = _error({"device": {"read_energy_fj": -1.0}})
    assert "device.read_energy_fj" in msg
    assert "greater than 0" in msg


def test_non_mapping_top_level() -> None:
    with pytest.raises(SpecError, match="expected a mapping of fields, got list"):
        chip_from_dict([1, 2], source="x.yaml")  # type: ignore[arg-type]


# --- files ------------------------------------------------------------------------------------


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmacro:\n  rows: 256\n  cols: [1, 2\n")
    with pytest.raises(SpecError) as info:
        load_chip(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "line 5" in msg
    assert "malformed YAML" in msg
    assert "\n" not in msg


def test_bad_indentation_reports_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmacro:\n  rows: 256\n cols: 3\n")
    with pytest.raises(SpecError, match=r"line 4, column 2: malformed YAML"):
        load_chip(path)


def test_tab_reports_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nmacro:\n\trows: 3\n")
    with pytest.raises(SpecError, match=r"line 3, column 1: malformed YAML"):
        load_chip(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no_such_chip.yaml"
    with pytest.raises(SpecError) as info:
        load_chip(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)
    with pytest.raises(SpecError, match="no_such_chip.yaml"):
        read_yaml(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_chip(tmp_path)


def test_validation_error_in_file_names_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "macro:\n  rowz: 128\n")
    with pytest.raises(SpecError) as info:
        load_chip(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "macro.rowz: unknown field" in msg


def test_yaml_list_is_not_a_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(SpecError, match="expected a mapping of fields, got list"):
        load_chip(path)
