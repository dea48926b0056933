"""Search-space hardening (issue 14, item 1): every value finite, inside its field's bounds, in
non-empty lists without repeats; bits >= 1, width multipliers > 0; hardware lists checked with the
chip spec's own bounds and cross-field rules. Regression tests of the defects a user measured."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cimkit.errors import SpecError
from cimkit.space import load_space
from cimkit.space.dims import Choice
from cimkit.space.families import OfaMobileNetV2, ResNet50
from cimkit.specs.chip import Chip, ChipSpec, field_bounds

ROOT = Path(__file__).resolve().parents[2]
SPACES = ROOT / "examples" / "spaces"
RESNET = "cimnas_sram_resnet50_7nm.yaml"
MOBILENET = "cimnas_rram_mobilenetv2.yaml"


def _space(tmp_path: Path, example: str, old: str, new: str) -> Path:
    text = (SPACES / example).read_text()
    assert old in text, old
    text = text.replace(old, new).replace("../chips/", str(ROOT / "examples/chips") + "/")
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_space(path)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 2048, msg[:300]
    assert msg.startswith(f"{path}: "), msg
    return msg


# Defect: the ResNet50 space accepted `bits: [-8, 8]` or `[0, 8]` (and reported a "better"
# EDAP); `widths: [0.0, 1.0]` passed.
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("bits: [4, 6, 8]", "bits: [-8, 8]", "quantization.bits"),
        ("bits: [4, 6, 8]", "bits: [0, 8]", "quantization.bits"),
        ("bits: [4, 6, 8]", "bits: [8, 32]", "quantization.bits"),
        ("bits: [4, 6, 8]", "bits: []", "quantization.bits"),
        ("bits: [4, 6, 8]", "bits: [4, 6.5, 8]", "quantization.bits"),
        ("widths: [0.65, 0.8, 1.0]", "widths: [0.0, 1.0]", "model.widths"),
        ("widths: [0.65, 0.8, 1.0]", "widths: [-1.0, 1.0]", "model.widths"),
        ("widths: [0.65, 0.8, 1.0]", "widths: [1.0, .inf]", "model.widths"),
        ("widths: [0.65, 0.8, 1.0]", "widths: []", "model.widths"),
        ("expands: [0.2, 0.25, 0.35]", "expands: [0.25, 2.0]", "model.expands"),
        ("expands: [0.2, 0.25, 0.35]", "expands: [0.0, 0.25]", "model.expands"),
        ("[4, 5, 6], [2, 3, 4]]", "[4, 5, 0], [2, 3, 4]]", "model.depths"),
        ("[4, 5, 6], [2, 3, 4]]", "[], [2, 3, 4]]", "model.depths"),
        ("num_classes: 1000", "num_classes: 1e9", "model.num_classes"),
        ("source: predictor", "source: constant\n  value: .nan", "accuracy.value"),
    ],
)
def test_resnet50_model_and_bits_values_are_checked(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    assert field in _error(_space(tmp_path, RESNET, old, new))


def test_list_positions_are_named(tmp_path: Path) -> None:
    msg = _error(_space(tmp_path, RESNET, "bits: [4, 6, 8]", "bits: [4, 6, -8]"))
    assert "quantization.bits[2]:" in msg and "(got -8)" in msg


# Defect: `[1, .inf]` was a valid hardware list; `.nan`, `1e999` and empty lists must fail too.
@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("cycle_time_ns: [1, 2, 3, 4, 5, 6, 8]", "cycle_time_ns: [1, 4, .inf]", "finite"),
        ("cycle_time_ns: [1, 2, 3, 4, 5, 6, 8]", "cycle_time_ns: [1, 4, 1e999]", "finite"),
        ("voltage_v: [0.5, 0.6, 0.7, 0.8, 0.9]", "voltage_v: [0.5, .nan]", "finite"),
        ("glb_kb: [1024, 2048, 3072, 4096, 5120, 6144, 8192]", "glb_kb: []", "at least 1"),
        ("rows: [64, 128, 256, 512, 1024]", "rows: [64, 128, 128, 256]", "twice"),
        ("rows: [64, 128, 256, 512, 1024]", "rows: [64, 128.5, 256]", "integers"),
        ("rows: [64, 128, 256, 512, 1024]", "rows: [64, true, 256]", "true/false"),
        ("rows: [64, 128, 256, 512, 1024]", 'rows: [64, "128", 256]', "quotes"),
        ("voltage_v: [0.5, 0.6, 0.7, 0.8, 0.9]", "voltage_v: [0.5, 2.5]", "<= 2"),
        ("bits_per_cell: [1, 2, 3, 4, 5, 6, 8]", "bits_per_cell: [1, 16]", "<= 8"),
    ],
)
def test_hardware_values_are_finite_and_inside_the_field_bounds(
    tmp_path: Path, old: str, new: str, why: str
) -> None:
    name = old.split(":")[0]
    msg = _error(_space(tmp_path, MOBILENET, old, new))
    assert f"hardware.params.{name}" in msg and why in msg, msg


def test_hardware_bound_is_the_spec_field_bound(tmp_path: Path) -> None:
    # The space reads the chip spec's bound: its upper end is accepted, just above it is not.
    hi = field_bounds(ChipSpec, "technology.voltage_v").hi
    old = "voltage_v: [0.5, 0.6, 0.7, 0.8, 0.9]"
    sp = load_space(_space(tmp_path, MOBILENET, old, f"voltage_v: [0.5, 0.7, {hi}]"))
    assert sp.joint.dims[sp.joint.names.index("voltage_v")].values[-1] == hi
    msg = _error(_space(tmp_path, MOBILENET, old, f"voltage_v: [0.5, 0.7, {hi + 0.01}]"))
    assert "voltage_v" in msg


def test_area_budget_uses_the_chip_spec_bounds(tmp_path: Path) -> None:
    hi = field_bounds(Chip, "area_constraint_mm2").hi
    for bad in (".inf", "0", str(hi * 10)):
        msg = _error(
            _space(tmp_path, MOBILENET, "area_constraint_mm2: 800", f"area_constraint_mm2: {bad}")
        )
        assert "hardware.area_constraint_mm2" in msg


def test_dimension_over_a_field_the_base_chip_does_not_use_is_refused(tmp_path: Path) -> None:
    # The ResNet50 space's base is a digital SRAM macro: it has no ADC.
    old = "    rows: [32, 64, 128, 256, 512]"
    msg = _error(_space(tmp_path, RESNET, old, old + "\n    adc_bits: [4, 6, 8]"))
    assert "hardware.params.adc_bits" in msg and "not used by the base chip" in msg


def test_hardware_values_pass_the_spec_cross_field_checks(tmp_path: Path) -> None:
    # Digital macros take bit-serial inputs: a DAC-width dimension is impossible there.
    old = "    rows: [32, 64, 128, 256, 512]"
    msg = _error(_space(tmp_path, RESNET, old, old + "\n    input_bits_per_cycle: [1, 2]"))
    assert "hardware.params.input_bits_per_cycle" in msg and "digital" in msg


def test_ofa_expands_must_be_whole(tmp_path: Path) -> None:
    # 3.5 used to be truncated to 3 without a word (constant accuracy: no predictor check first).
    path = _space(tmp_path, MOBILENET, "expands: [3, 4, 6]", "expands: [3, 3.5, 6]")
    text = path.read_text().replace("source: predictor", "source: constant\n  value: 0.7")
    path.write_text(text)
    msg = _error(path)
    assert "model.expands" in msg and "3.5" in msg


def test_python_constructed_families_check_the_same_bounds() -> None:
    depths = [[2, 3], [2, 3], [4, 5], [2, 3]]
    with pytest.raises(SpecError, match=r"quantization\.bits"):
        ResNet50(depths, [0.25], [1.0], [-8, 8])
    with pytest.raises(SpecError, match=r"model\.widths"):
        ResNet50(depths, [0.25], [0.0, 1.0], [8])
    with pytest.raises(SpecError, match=r"model\.depths"):
        ResNet50([[0, 3], [2], [4], [2]], [0.25], [1.0], [8])
    with pytest.raises(SpecError, match=r"model\.expands"):
        OfaMobileNetV2([2, 3], [3, 5], [3.5, 6], [4, 8])
    with pytest.raises(SpecError, match=r"quantization\.bits"):
        OfaMobileNetV2([2, 3], [3, 5], [3, 6], [True, 8])
    with pytest.raises(SpecError, match=r"model\.depths"):
        OfaMobileNetV2([2, 5], [3, 5], [3, 6], [4, 8])
    assert ResNet50(depths, [0.25], [0.5, 1.0], [4, 8]).widths == (0.5, 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_choice_refuses_non_finite_values(bad: float) -> None:
    with pytest.raises(SpecError, match="finite"):
        Choice("voltage_v", (0.5, bad), "hardware")


def test_choice_duplicate_message_is_bounded() -> None:
    with pytest.raises(SpecError) as info:
        Choice("rows", tuple(float(v) for v in range(100_000)) + (5.0,), "hardware")
    assert "[5.0]" in str(info.value) and len(str(info.value)) < 200


def test_shipped_spaces_stay_valid() -> None:
    for path in sorted(SPACES.glob("*.yaml")):
        assert load_space(path).joint.n_var > 0


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # A value or callable the accuracy source never reads.
        ("source: predictor", "source: predictor\n  value: 0.5", "accuracy.value"),
        ("source: predictor", "source: predictor\n  callable: m:f", "accuracy.callable"),
    ],
)
def test_accuracy_fields_the_source_does_not_read_are_refused(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    msg = _error(_space(tmp_path, MOBILENET, old, new))
    assert f"{field}: only read with source" in msg


@pytest.mark.parametrize(
    "target", ["no_such_chip.yaml", ".", str(ROOT / "src/cimkit/presets/macros.yaml")]
)
def test_base_chip_errors_name_the_space_field(tmp_path: Path, target: str) -> None:
    path = _space(tmp_path, MOBILENET, "../chips/rram_baseline.yaml", target)
    assert "hardware.base_chip: " in _error(path)
