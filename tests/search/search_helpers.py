"""Helpers shared by the search tests (a plain module: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path

from cimkit.search.proxies import proxy_accuracy

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


# The deterministic proxy accuracy the search tests use instead of the shipped predictor.
stub_accuracy = proxy_accuracy


def constant_space_yaml(tmp_path: Path, area: float = 800.0, value: float = 0.7) -> Path:
    """A copy of the CIMNAS space with a constant accuracy (CLI tests in subprocesses)."""
    text = SPACE.read_text()
    text = text.replace(
        "base_chip: ../chips/rram_baseline.yaml",
        f"base_chip: {ROOT / 'examples/chips/rram_baseline.yaml'}",
    )
    text = text.replace("area_constraint_mm2: 800", f"area_constraint_mm2: {area}")
    head, _, _ = text.partition("accuracy:\n  source: predictor")
    text = head + f"accuracy:\n  source: constant\n  value: {value}\n  note: test constant\n"
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p
