"""Hardware specs: frozen, validated pydantic models with YAML round-trip."""

from cimkit.specs.chip import (
    NODES_NM,
    Chip,
    ChipSpec,
    Device,
    Dram,
    Macro,
    Router,
    Technology,
    Tile,
)
from cimkit.specs.io import chip_from_dict, dump_yaml, load_chip, read_yaml, save_chip

__all__ = [
    "NODES_NM",
    "Chip",
    "ChipSpec",
    "Device",
    "Dram",
    "Macro",
    "Router",
    "Technology",
    "Tile",
    "chip_from_dict",
    "dump_yaml",
    "load_chip",
    "read_yaml",
    "save_chip",
]
