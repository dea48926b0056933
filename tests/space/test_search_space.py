"""Search-space YAML: sizes, baseline medians, one-line errors naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cimkit.errors import SpecError
from cimkit.space import load_space, size_report

ROOT = Path(__file__).resolve().parents[2]
SPACES = ROOT / "examples" / "spaces"


def test_cimnas_space_sizes_and_baseline() -> None:
    sp = load_space(SPACES / "cimnas_rram_mobilenetv2.yaml")
    sizes = {r["space"]: r["log10"] for r in size_report(sp)}
    assert sizes["model"] == pytest.approx(45 * np.log10(3))
    assert sizes["quantization"] == pytest.approx(80 * np.log10(3))
    assert 10 ** sizes["hardware"] == pytest.approx(1.47e7, rel=0.01)  # paper: 1.4e7
    assert sizes["joint"] == pytest.approx(sum(v for k, v in sizes.items() if k != "joint"))
    base = sp.joint.decode(sp.baseline_genome()[None])
    paper = {
        "voltage_v": 0.7,
        "bits_per_cell": 4,
        "cycle_time_ns": 4,
        "rows": 256,
        "cols": 256,
        "macros_per_tile": 16,
        "tiles_per_router": 8,
        "tile_groups": 16,
        "glb_kb": 4096,
    }
    assert {k: base[k][0] for k in paper} == paper
    assert base["depth_s2"][0] == 4 and base["kernel_b0"][0] == 3 and base["dw_w_b0"][0] == 8


def test_resnet50_space_loads_with_its_shipped_predictor() -> None:
    sp = load_space(SPACES / "cimnas_sram_resnet50_7nm.yaml")
    assert sp.spec.accuracy.source == "predictor" and sp.family.has_predictor
    assert sp.base_chip.chip.mode == "weight_swapping"
    base = sp.joint.decode(sp.baseline_genome()[None])
    assert (base["rows"][0], base["macros_per_tile"][0], base["tile_groups"][0]) == (128, 32, 32)


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = (SPACES / "cimnas_rram_mobilenetv2.yaml").read_text().replace(old, new)
    text = text.replace("../chips/", str(ROOT / "examples/chips") + "/")
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  num_classes: 1000", "  num_clases: 1000", "model.num_clases"),
        ("    rows: [64,", "    rowz: [64,", "hardware.params.rowz"),
        ("    rows: [64,", "    rows: [4,", "hardware.params.rows"),
        ("  kernels: [3, 5, 7]", "  kernels: [3, 5, 9]", "model.kernels"),
        ("  bits: [4, 6, 8]", "  bits: [4, 6]", "baselines"),
        ("    voltage_v: [0.5, 0.6", "    voltage_v: [0.6, 0.5", "hardware.params.voltage_v"),
    ],
)
def test_malformed_specs_fail_with_one_line_naming_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_space(_write(tmp_path, old, new))
    msg = str(err.value)
    assert field in msg and "\n" not in msg
