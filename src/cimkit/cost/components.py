"""Component names of the cost model's breakdowns (kept for importers of the first version).

The energy components are registered in :mod:`cimkit.cost.engines` (one entry per component in
:data:`cimkit.cost.registry.COMPONENTS`); the macro area model is
:func:`cimkit.cost.engines.macro_area_um2`.
"""

from __future__ import annotations

from cimkit.cost.engines import macro_area_um2, sram_pj_per_bit
from cimkit.cost.model import AREA_COMPONENTS, ENERGY_COMPONENTS

__all__ = ["AREA_COMPONENTS", "ENERGY_COMPONENTS", "macro_area_um2", "sram_pj_per_bit"]
