"""Hardening of chip specs (issue 14, items 1 and 3): finite bounded strict numbers, cross-field
checks, the strict YAML loader and bounded error messages. Every test here is a regression test
of a defect a user measured (named in the test's comment)."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import BaseModel

from cimkit.cost.designs import _BOUNDS, PARAMS, DesignTable
from cimkit.errors import SpecError, clip, short_repr
from cimkit.specs import ChipSpec, chip_from_dict, dump_yaml, load_chip, read_yaml, save_chip
from cimkit.specs.chip import DIGITAL_UNUSED, Macro, field_bounds
from cimkit.specs.io import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
#: A one-line error must stay readable: the issue asks for "under ~2 KB".
MAX_MSG = 2048


def _write(tmp_path: Path, text: str | bytes, name: str = "chip.yaml") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _file_error(tmp_path: Path, text: str | bytes) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_chip(path)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < MAX_MSG, msg[:300]
    assert str(path) in msg, msg
    return msg


def _dict_error(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        chip_from_dict(data, source="spec.yaml")
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < MAX_MSG, msg[:300]
    return msg


def _numeric_paths() -> list[str]:
    """Dotted paths of every int/float field of ChipSpec (bool and categorical excluded)."""
    out = []
    for section, info in ChipSpec.model_fields.items():
        sub = info.annotation
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            continue
        for name, f in sub.model_fields.items():
            types = {a for a in typing.get_args(f.annotation) or (f.annotation,)} - {type(None)}
            if types and types <= {int, float}:
                out.append(f"{section}.{name}")
    return out


# --- item 1: finite, bounded numbers ----------------------------------------------------------


# Defect: `dram.energy_pj_per_bit: .inf` wrote NaN energy and EDAP with feasible=True;
# `write_latency_ns: 1e300` overflowed EDAP to inf.
@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("dram:\n  energy_pj_per_bit: .inf\n", "dram.energy_pj_per_bit"),
        ("dram:\n  energy_pj_per_bit: 1e999\n", "dram.energy_pj_per_bit"),
        ('dram:\n  energy_pj_per_bit: "1e999"\n', "dram.energy_pj_per_bit"),
        ("device:\n  write_latency_ns: 1e300\n", "device.write_latency_ns"),
        ("device:\n  read_energy_fj: -.inf\n", "device.read_energy_fj"),
        ("technology:\n  voltage_v: .nan\n", "technology.voltage_v"),
        ("chip:\n  area_constraint_mm2: .inf\n", "chip.area_constraint_mm2"),
        ("dram:\n  bandwidth_gb_s: 1.0e-300\n", "dram.bandwidth_gb_s"),
    ],
)
def test_non_finite_and_absurd_numbers_are_refused(tmp_path: Path, text: str, field: str) -> None:
    msg = _file_error(tmp_path, text)
    assert f"{field}:" in msg


def test_every_numeric_field_has_finite_bounds() -> None:
    paths = _numeric_paths()
    assert "device.write_latency_ns" in paths and "macro.rows" in paths
    for path in paths:
        b = field_bounds(ChipSpec, path)
        assert np.isfinite(b.lo) and np.isfinite(b.hi) and b.lo < b.hi, path
        desc = (
            ChipSpec.model_fields[path.split(".")[0]]
            .annotation.model_fields[  # type: ignore[union-attr]
                path.split(".")[1]
            ]
            .description
        )
        assert desc, f"{path}: the bound's reason belongs in the description"


def test_design_table_reads_the_same_bounds_as_the_spec() -> None:
    for name, (path, cats) in PARAMS.items():
        if cats:
            continue
        b = field_bounds(ChipSpec, path)
        assert _BOUNDS[name][1:] == (b.lo, b.hi, b.lo_inclusive, b.hi_inclusive, b.integer), name


@pytest.mark.parametrize("name", [n for n, (_, c) in PARAMS.items() if c is None])
def test_vectorized_checks_refuse_inf_and_values_above_the_field_bound(name: str) -> None:
    # Defect: the vectorized range checks let inf through.
    path = PARAMS[name][0]
    b = field_bounds(ChipSpec, path)
    for bad in (np.inf, -np.inf, b.hi + max(1.0, abs(b.hi))):
        with pytest.raises(SpecError) as info:
            DesignTable.from_arrays(ChipSpec(), {name: [bad]})
        msg = str(info.value)
        assert name in msg and "allowed" in msg, msg
    # The YAML spec refuses the same value above the bound.
    section, field = path.split(".")
    with pytest.raises(SpecError, match=rf"{section}\.{field}"):
        chip_from_dict({section: {field: b.hi + max(1.0, abs(b.hi))}})


# Defect: `voltage_v: true` was 1.0 V.
@pytest.mark.parametrize(
    ("data", "field", "hint"),
    [
        ({"technology": {"voltage_v": True}}, "technology.voltage_v", "true/false"),
        ({"macro": {"rows": True}}, "macro.rows", "true/false"),
        ({"macro": {"rows": 256.0}}, "macro.rows", "whole number"),
        ({"macro": {"rows": "256"}}, "macro.rows", "quotes"),
        ({"dram": {"bandwidth_gb_s": "25.6"}}, "dram.bandwidth_gb_s", "quotes"),
        ({"macro": {"combine_weight_bits": 1}}, "macro.combine_weight_bits", "boolean"),
        ({"chip": {"glb_bandwidth_bits": 1024.5}}, "chip.glb_bandwidth_bits", "whole number"),
        ({"name": 2024}, "name", 'quote it ("2024")'),
    ],
)
def test_no_coercion_that_changes_meaning(data: dict, field: str, hint: str) -> None:
    msg = _dict_error(data)
    assert f"{field}:" in msg and hint in msg, msg


def test_ints_for_floats_and_exponent_floats_are_numbers(tmp_path: Path) -> None:
    # 4 and 4.0 mean the same for a float field; `1e3` is a float (YAML 1.2), not the string
    # "1e3" of YAML 1.1 that a strict field would refuse.
    spec = load_chip(_write(tmp_path, "technology:\n  cycle_time_ns: 4\nchip:\n  glb_kb: 1e3\n"))
    assert spec.technology.cycle_time_ns == 4.0 and type(spec.technology.cycle_time_ns) is float
    assert spec.chip.glb_kb == 1000.0
    assert parse_yaml("a: 2.5e-3\nb: -1E+2\nc: 12\nd: 1_000\ne: x1e3\n", "t") == {
        "a": 0.0025,
        "b": -100.0,
        "c": 12,
        "d": 1000,
        "e": "x1e3",
    }


def test_name_is_bounded() -> None:
    msg = _dict_error({"name": "x" * 10_000})
    assert "name:" in msg and "200" in msg


# --- cross-field checks -----------------------------------------------------------------------

_DIGITAL = {"macro": {"kind": "digital"}, "device": {"kind": "sram"}}


def _with(section: str, **fields: object) -> dict:
    data = {k: dict(v) for k, v in _DIGITAL.items()}
    data.setdefault(section, {}).update(fields)
    return data


# Defect: `adc_bits` on a digital macro was accepted (and ignored).
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("adc_bits", 6),
        ("cols_per_adc", 4),
        ("combine_weight_bits", True),
        ("readout_area_um2", 100.0),
        ("slices_per_conversion", 4),
    ],
)
def test_digital_macro_refuses_fields_it_does_not_use(field: str, value: object) -> None:
    assert field in DIGITAL_UNUSED
    msg = _dict_error(_with("macro", **{field: value}))
    assert f"macro.{field}:" in msg and "digital" in msg and "macro.kind" in msg, msg
    # The default value is what "unset" means, and is accepted (it is what a dump writes).
    default = Macro.model_fields[field].default
    assert getattr(chip_from_dict(_with("macro", **{field: default})).macro, field) == default


def test_digital_macro_lists_every_unused_field_given() -> None:
    msg = _dict_error(_with("macro", adc_bits=6, slices_per_conversion=2))
    assert "macro.adc_bits:" in msg and "macro.slices_per_conversion" in msg


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"input_bits_per_cycle": 2}, "macro.input_bits_per_cycle"),
        (
            {"input_bits_per_cycle": 4, "input_encoding": "voltage_dac"},
            "macro.input_bits_per_cycle",
        ),
        ({"input_encoding": "pulse_count"}, "macro.input_encoding"),
    ],
)
def test_digital_macro_inputs_are_bit_serial(fields: dict, field: str) -> None:
    msg = _dict_error(_with("macro", **fields))
    assert f"{field}:" in msg and "bit-serially" in msg, msg


# Defect: 4 bits per cell on MRAM was accepted.
@pytest.mark.parametrize(
    ("device", "bits", "ok"),
    [
        ("mram", 4, False),
        ("mram", 3, False),
        ("mram", 2, True),
        ("sram", 2, False),
        ("sram", 1, True),
        ("rram", 8, True),
    ],
)
def test_bits_per_cell_within_what_the_cell_holds(device: str, bits: int, ok: bool) -> None:
    data = {"device": {"kind": device, "bits_per_cell": bits}}
    if ok:
        assert chip_from_dict(data).device.bits_per_cell == bits
        table = DesignTable.from_arrays(ChipSpec(), {"device": [device], "bits_per_cell": [bits]})
        assert table.spec(0).device.bits_per_cell == bits
        return
    msg = _dict_error(data)
    assert "device.bits_per_cell:" in msg and device.upper() in msg and f"got {bits}" in msg
    # The vectorized check refuses the same design.
    with pytest.raises(SpecError, match="bits_per_cell"):
        DesignTable.from_arrays(ChipSpec(), {"device": [device], "bits_per_cell": [bits]})


def test_bits_per_cell_follows_the_cell_kind_when_not_given() -> None:
    assert chip_from_dict({"device": {"kind": "sram"}}).device.bits_per_cell == 1
    assert chip_from_dict({"device": {"kind": "mram"}}).device.bits_per_cell == 1
    assert chip_from_dict({"device": {"kind": "rram"}}).device.bits_per_cell == 4
    # Same rule in a table whose device column differs from the (rram, 4-bit) base.
    table = DesignTable.from_arrays(ChipSpec(), {"device": ["rram", "sram", "mram"]})
    np.testing.assert_array_equal(table["bits_per_cell"], [4, 1, 1])


def test_sram_refuses_a_read_voltage() -> None:
    msg = _dict_error({"device": {"kind": "sram", "read_voltage_v": 0.3}})
    assert "device.read_voltage_v:" in msg and "SRAM" in msg
    assert chip_from_dict({"device": {"kind": "rram", "read_voltage_v": 0.3}})


@pytest.mark.parametrize(
    ("macro", "field"),
    [
        ({"rows": 64, "active_rows": 128}, "macro.active_rows"),
        ({"readout": "adder_tree"}, "macro.readout"),
        ({"kind": "digital", "readout": "flash"}, "macro.readout"),
        ({"input_bits_per_cycle": 4, "input_encoding": "bit_serial"}, "macro.input_encoding"),
    ],
)
def test_cross_field_errors_are_located_at_the_field_to_change(macro: dict, field: str) -> None:
    data = {"macro": macro, "device": {"kind": "sram"}}
    assert f"spec.yaml: {field}:" in _dict_error(data)


def test_digital_spec_round_trips_without_unused_fields(tmp_path: Path) -> None:
    spec = chip_from_dict(
        {"macro": {"kind": "digital", "rows": 128}, "device": {"kind": "sram"}}, "s"
    )
    text = dump_yaml(spec)
    data = yaml.safe_load(text)
    assert not set(DIGITAL_UNUSED) & set(data["macro"]), "unused fields are left out"
    assert "read_voltage_v" not in data["device"]
    assert load_chip(save_chip(spec, tmp_path / "d.yaml")) == spec


def test_table_spec_of_a_digital_design_leaves_unused_fields_at_defaults() -> None:
    # PIM-HLS evaluates digital arrays with cols_per_adc 1 in the table (the model ignores it).
    base = chip_from_dict({"macro": {"kind": "digital"}, "device": {"kind": "sram"}})
    table = DesignTable.from_arrays(base, {"cols_per_adc": [1], "rows": [64]})
    spec = table.spec(0, base)
    assert spec.macro.rows == 64 and spec.macro.cols_per_adc == Macro().cols_per_adc


def test_shipped_specs_stay_valid() -> None:
    from cimkit.validation import macro_presets

    chips = sorted((ROOT / "examples" / "chips").glob("*.yaml"))
    assert len(chips) >= 3
    for path in chips:
        load_chip(path)
    presets = macro_presets()
    assert len(presets) >= 5
    assert {p.spec.macro.kind for p in presets} == {"analog", "digital"}


# --- item 2: the strict YAML loader -----------------------------------------------------------


# Defect: duplicate keys were accepted, the last one winning.
@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        ("macro:\n  rows: 128\n  cols: 64\n  rows: 256\n", "'rows'", 4, 2),
        ("name: a\nmacro: {rows: 128}\nname: b\n", "'name'", 3, 1),
        ("macro: {rows: 128, rows: 256}\n", "'rows'", 1, 1),
    ],
)
def test_duplicate_keys_name_the_key_and_line(
    tmp_path: Path, text: str, key: str, line: int, first: int
) -> None:
    msg = _file_error(tmp_path, text)
    assert f"line {line}:" in msg and f"duplicate key {key}" in msg
    assert f"first on line {first}" in msg


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = "base: &m {rows: 128, cols: 64}\n"
    data = parse_yaml(text + "macro:\n  <<: *m\n  rows: 256\n", "t")
    assert data["macro"] == {"rows": 256, "cols": 64}


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    # Defect: deeply nested YAML gave a RecursionError traceback.
    msg = _file_error(tmp_path, "a: " + "[" * 100_000)
    assert f"deeper than {MAX_DEPTH}" in msg
    # Within the limit, the file parses and the spec names the unknown field instead.
    depth = MAX_DEPTH - 2
    msg = _file_error(tmp_path, "a: " + "[" * depth + "]" * depth + "\n")
    assert "a: unknown field" in msg


def _laughs(levels: int) -> str:
    """The classic bomb: 9 lists of 9 aliases of the one before: 9^levels strings."""
    names = "abcdefghi"
    lines = ["a: &a [" + ",".join(["lol"] * 9) + "]"]
    for prev, cur in zip(names, names[1:levels], strict=False):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_with_a_short_message(tmp_path: Path) -> None:
    # Defect: a 400-byte "billion laughs" hung `cimkit spec` for minutes.
    text = _laughs(9)
    assert len(text) < 400 and text.count("*") == 8 * 9
    msg = _file_error(tmp_path, text)
    assert f"more than {MAX_ALIAS_NODES:,} nodes" in msg


def test_small_alias_reuse_is_fine() -> None:
    data = parse_yaml("a: &x [1, 2, 3]\nb: *x\nc: *x\n", "t")
    assert data == {"a": [1, 2, 3], "b": [1, 2, 3], "c": [1, 2, 3]}


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert "recursive" in _file_error(tmp_path, "a: &a [1, *a]\n")


def test_non_utf8_bytes_name_the_file(tmp_path: Path) -> None:
    # Defect: a UnicodeDecodeError traceback.
    msg = _file_error(tmp_path, b"name: caf\xe9\n")
    assert "not UTF-8" in msg and "offset 9" in msg
    # A UTF-8 byte-order mark is fine.
    assert load_chip(_write(tmp_path, b"\xef\xbb\xbfname: bom\n")).name == "bom"


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    msg = _file_error(tmp_path, "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert "larger than" in msg


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n", "list"), ("42\n", "int"), ("", "empty"), ("just text\n", "str")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    with pytest.raises(SpecError, match=got):
        read_yaml(_write(tmp_path, text), mapping=True)
    with pytest.raises(SpecError, match="mapping"):
        load_chip(_write(tmp_path, text))


def test_huge_integer_is_a_spec_error(tmp_path: Path) -> None:
    # int() refuses more than 4300 digits with a ValueError, not a YAMLError.
    msg = _file_error(tmp_path, "macro:\n  rows: " + "9" * 5000 + "\n")
    assert "malformed YAML" in msg


def test_loader_is_a_safe_loader(tmp_path: Path) -> None:
    msg = _file_error(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    assert "malformed YAML" in msg


# --- item 3: bounded error messages -----------------------------------------------------------


def test_two_hundred_thousand_unknown_keys_give_a_short_line() -> None:
    # Defect: a 14.5 MB "one-line" error.
    msg = _dict_error({f"k{i}": i for i in range(200_000)})
    assert "k0: unknown field" in msg and "... and 199,995 more problems" in msg


def test_many_unknown_keys_in_a_file_give_a_short_line(tmp_path: Path) -> None:
    text = "".join(f"k{i}: {i}\n" for i in range(15_000))
    assert "... and 14,995 more problems" in _file_error(tmp_path, text)


def test_huge_shared_value_is_not_expanded_in_the_message() -> None:
    # The alias bomb's shape built in Python: 9^9 leaves shared by reference. A full repr would
    # never finish; the message shows a few items of two levels.
    bomb: list = ["lol"] * 9
    for _ in range(8):
        bomb = [bomb] * 9
    msg = _dict_error({"macro": {"rows": bomb}, "name": "x" * 5_000_000})
    assert "macro.rows:" in msg and "..." in msg


def test_values_and_keys_are_shown_on_one_line() -> None:
    msg = _dict_error({"macro": {"kind": "ana\nlog"}, "bad\nkey": 1})
    assert "\\n" in msg


def test_clip_and_short_repr_are_bounded() -> None:
    assert clip("x" * 1000, 80) == "x" * 77 + "..." and len(clip("x" * 10**7, 80)) == 80
    assert clip("a\tb\r\n") == "a\\tb\\r\\n"
    assert clip("short") == "short"
    assert len(short_repr(list(range(10**6)))) <= 80
    assert short_repr({"a": [1, 2]}) == "{'a': [1, 2]}"


def test_empty_file_name_is_named_as_such() -> None:
    with pytest.raises(SpecError, match="file name is empty"):
        read_yaml("")


def test_file_name_too_long_is_a_spec_error() -> None:
    # The file system refuses the name with an OSError (ENAMETOOLONG), not a missing file.
    with pytest.raises(SpecError) as info:
        load_chip("/tmp/" + "x" * 10_000 + ".yaml")
    assert len(str(info.value)) < 400


def test_supply_near_the_transistor_threshold_is_refused_not_a_clamped_delay() -> None:
    # lp at 45 nm: Vth 0.4644 V (NeuroSim table). At 0.5 V the alpha-power law's (V - Vth) is
    # 0.036 V and the delay came out huge but finite; now both paths refuse the operating point.
    lp45 = {"node_nm": 45, "transistor": "lp"}
    with pytest.raises(SpecError, match=r"voltage_v 0\.5 V is under 0\.1 V above the lp threshold "
                                         r"\(0\.464 V at 45 nm.*use >= 0\.56 V"):  # fmt: skip
        chip_from_dict({"technology": {**lp45, "voltage_v": 0.5}})
    assert chip_from_dict({"technology": {**lp45, "voltage_v": 0.57}}).technology.voltage_v == 0.57
    # generic (Vth 0.3 V) keeps its 0.4 V floor; hp at 7 nm (Vth 0.19 V) runs at 0.4 V.
    chip_from_dict({"technology": {"voltage_v": 0.4}})
    chip_from_dict({"technology": {"node_nm": 7, "transistor": "hp", "voltage_v": 0.4}})
    base = chip_from_dict({"technology": {**lp45, "voltage_v": 0.9}})
    DesignTable.from_arrays(base, {"voltage_v": [0.9, 0.6]})
    with pytest.raises(SpecError, match=r"voltage_v .* = 0\.5 is out of range; allowed: >= 0\.56"):
        DesignTable.from_arrays(base, {"voltage_v": [0.9, 0.5]})
