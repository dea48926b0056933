"""SRAM- and RRAM-based PIM array models for PIM-HLS, derived from cimkit's cost model.

PIM-HLS (Zhu et al., DAC 2023, section III) takes layer-wise latency and area of every PIM
implementation approach, array size and interface count from MNSIM. cimkit replaces MNSIM with its
own vectorized cost model: this module calls :func:`cimkit.cost.mapping.map_layers` for array
counts and cycles per input vector, :func:`cimkit.cost.engines.macro_area_um2` for the area of
one array with its peripherals, and the device table of ``cimkit/data/constants.yaml`` (through
:func:`cimkit.cost.designs.resolve_defaults`) for the write energy and latency used when weights
are rewritten at run time. No constant is introduced here.

A technology is a macro template (a :class:`~cimkit.specs.chip.ChipSpec`):

* ``rram``: the default :class:`ChipSpec` (CIMNAS baseline, examples/chips/rram_baseline.yaml):
  analog RRAM macro, 4 bits per cell, 8-bit SAR ADCs, 1-bit inputs per cycle, 256 x 256 cells,
  one ADC per 8 columns (32 interfaces per array). Write: 10 pJ per cell, 100 ns per row
  (constants.yaml ``devices.rram``).
* ``sram``: the digital SRAM macro of examples/chips/sram_digital_7nm_swapping.yaml (an ADC-less
  adder-tree readout, as the paper's SRAM reference [17] is ADC-less): 1 bit per cell, 128 x 128
  cells, 1-bit inputs per cycle. Write: 0.156 pJ per cell, 1 ns per row (``devices.sram``).

Both share the node, voltage, clock and DRAM of a base spec (default :class:`ChipSpec`: 32 nm,
0.7 V, 4 ns, 25.6 GB/s), so one clock counts all cycles. A base spec whose ``device.kind`` is the
technology's also supplies that technology's device and macro (e.g. an analog SRAM macro).

Tunable per array (:class:`~cimkit.pimhls.plan.TileConfig`): rows, cols and ``adcs``, the
interfaces per array; an analog array shares one ADC among ``cols / adcs`` columns
(``macro.cols_per_adc``). A digital macro has one adder tree per column, so its interface count is
fixed at ``adcs = cols``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from cimkit.cost.constants import load_constants
from cimkit.cost.designs import DesignTable, resolve_defaults
from cimkit.cost.engines import macro_area_um2
from cimkit.cost.mapping import map_layers
from cimkit.errors import SpecError
from cimkit.pimhls.plan import TileConfig
from cimkit.specs.chip import ChipSpec, Device, Macro
from cimkit.workload.layer import Layer, make_layer
from cimkit.workload.table import Workload

#: Technologies PIM-HLS can assign to layers.
TECHS: tuple[str, ...] = ("sram", "rram")
#: Array sizes tried by the fine-grained parameter optimization (rows and cols), section IV-C.
ARRAY_SIZES: tuple[int, ...] = (64, 128, 256, 512)
#: Upper bound of ``macro.cols_per_adc`` accepted by :class:`~cimkit.specs.chip.Macro`.
_MAX_COLS_PER_ADC = 256

# Macro templates (see the module docstring for their provenance).
_TEMPLATES: dict[str, tuple[Device, Macro]] = {
    "rram": (Device(kind="rram", bits_per_cell=4), Macro()),
    "sram": (
        Device(kind="sram", bits_per_cell=1),
        Macro(kind="digital", rows=128, cols=128, input_bits_per_cycle=1),
    ),
}


@dataclass(frozen=True)
class PimTechnology:
    """One PIM implementation approach: a macro template on a shared process and clock.

    Attributes:
        name: 'sram' or 'rram' (the ``tech`` of :class:`TileConfig`).
        spec: chip spec whose device and macro are the template; its technology section gives
            node, voltage and clock, its dram section the bandwidth weights are loaded with.
    """

    name: str
    spec: ChipSpec
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def analog(self) -> bool:
        """True when arrays are read by ADCs (``adcs`` is tunable)."""
        return self.spec.macro.kind == "analog"

    @property
    def cycle_time_ns(self) -> float:
        """Clock period shared by every technology built on the same base (ns)."""
        return float(self.spec.technology.cycle_time_ns)

    @property
    def default(self) -> TileConfig:
        """The untuned array configuration of the template."""
        m = self.spec.macro
        adcs = -(-m.cols // m.cols_per_adc) if self.analog else m.cols
        return TileConfig(self.name, m.rows, m.cols, adcs)

    def choices(
        self,
        rows: Iterable[int] = ARRAY_SIZES,
        cols: Iterable[int] = ARRAY_SIZES,
        adcs: Iterable[int] | None = None,
    ) -> tuple[TileConfig, ...]:
        """Array configurations for parameter tuning, the default first.

        ``adcs`` None means every power of two that divides ``cols`` with at most 256 columns
        per ADC (analog), or ``cols`` (digital: one adder tree per column).
        """
        out = [self.default]
        for r in rows:
            for c in cols:
                if self.analog:
                    options = (
                        [a for a in adcs if c % a == 0]
                        if adcs is not None
                        else [1 << k for k in range(c.bit_length()) if (1 << k) <= c]
                    )
                    options = [a for a in options if c // a <= _MAX_COLS_PER_ADC]
                else:
                    options = [c]
                for a in options:
                    cfg = TileConfig(self.name, int(r), int(c), int(a))
                    if cfg != self.default:
                        out.append(cfg)
        return tuple(out)

    def design_values(self, configs: Sequence[TileConfig]) -> dict[str, np.ndarray]:
        """Resolved design parameters of each configuration as (n, 1) arrays (cached).

        Ranges are validated exactly as a YAML spec would be (``DesignTable.from_arrays``).
        """
        key = tuple(configs)
        if key not in self._cache:
            for cfg in key:
                if cfg.tech != self.name:
                    raise SpecError(f"tile config {cfg} is not a {self.name} configuration")
                if cfg.adcs < 1 or cfg.cols % cfg.adcs:
                    raise SpecError(f"{cfg}: adcs must be >= 1 and divide cols={cfg.cols}")
                if not self.analog and cfg.adcs != cfg.cols:
                    raise SpecError(f"{cfg}: a digital array has one interface per column")
            arrays = {
                "rows": [c.rows for c in key],
                "cols": [c.cols for c in key],
                "cols_per_adc": [c.cols // c.adcs if self.analog else 1 for c in key],
            }
            table = DesignTable.from_arrays(self.spec, arrays)
            values = resolve_defaults(table.values, load_constants())
            self._cache[key] = {k: v[:, None] for k, v in values.items()}
        return self._cache[key]

    def array_area_mm2(self, configs: Sequence[TileConfig]) -> np.ndarray:
        """(n,) area of one array with cells, ADCs or adder trees and drivers, mm^2."""
        d = self.design_values(configs)
        c = load_constants()
        parts = macro_area_um2(d, c)
        return sum(parts.values())[:, 0] * 1e-6

    def summary(
        self,
        configs: Sequence[TileConfig] | None = None,
        weight_bits: int = 8,
        act_bits: int = 8,
        energy: bool = False,
    ) -> pd.DataFrame:
        """Memory density and compute capability of arrays (one row per configuration).

        Columns: tech, rows, cols, adcs, array_area_mm2, weights_per_array,
        density_bits_per_mm2 (stored weight bits per mm^2), cycles_per_vector (one full input
        vector), macs_per_cycle_per_mm2, write_energy_pj_per_cell, write_latency_ns_per_row. A
        full array is a linear layer of ``rows`` inputs and ``cols / cells-per-weight`` outputs
        at the given precision. With ``energy`` also compute_energy_fj_per_mac: the array's
        energy (cell reads, row drivers, ADCs or adder trees, shift-add) per MAC of that layer,
        from :func:`cimkit.cost.model.evaluate` (one call per configuration; PIM-HLS's
        objective is latency, so the optimizer never asks for it).
        """
        configs = tuple(configs) if configs is not None else (self.default,)
        d = self.design_values(configs)
        ws = -(-weight_bits // int(self.spec.device.bits_per_cell))
        rows_out = []
        area = self.array_area_mm2(configs)
        for i, cfg in enumerate(configs):
            layer = _full_array_layer(cfg, ws, weight_bits, act_bits)
            costs = self.layer_costs([layer], [cfg])
            weights = cfg.rows * (cfg.cols // ws)
            cpv = int(costs.cycles_per_vector[0, 0])
            rows_out.append(
                {
                    "tech": self.name,
                    "rows": cfg.rows,
                    "cols": cfg.cols,
                    "adcs": cfg.adcs,
                    "array_area_mm2": float(area[i]),
                    "weights_per_array": weights,
                    "density_bits_per_mm2": weights * weight_bits / float(area[i]),
                    "cycles_per_vector": cpv,
                    "macs_per_cycle_per_mm2": weights / cpv / float(area[i]),
                    "write_energy_pj_per_cell": float(d["write_energy_pj"][i, 0]),
                    "write_latency_ns_per_row": float(d["write_latency_ns"][i, 0]),
                }
            )
            if energy:
                rows_out[-1]["compute_energy_fj_per_mac"] = self._mac_energy_fj(cfg, layer)
        return pd.DataFrame(rows_out)

    def _mac_energy_fj(self, cfg: TileConfig, layer: Layer) -> float:
        """Array energy per MAC of ``layer`` on one ``cfg`` array (fJ), from the cost model."""
        from cimkit.cost.model import evaluate

        arrays = {
            "rows": [cfg.rows],
            "cols": [cfg.cols],
            "cols_per_adc": [cfg.cols // cfg.adcs if self.analog else 1],
        }
        ev = evaluate(
            DesignTable.from_arrays(self.spec, arrays), Workload("full", (layer,)), breakdown=True
        )
        parts = ("cells", "row_drivers", "readout", "shift_add")
        joules = sum(float(ev.layer_energy[k][0].sum()) for k in parts)
        return joules / layer.macs * 1e15

    def layer_costs(
        self, layers: Sequence[Layer], configs: Sequence[TileConfig] | None = None
    ) -> LayerCosts:
        """Mapping tables per (configuration, layer) of crossbar layers, see :class:`LayerCosts`."""
        configs = tuple(configs) if configs is not None else (self.default,)
        d = self.design_values(configs)
        # Piece layers may repeat a name; the cost model only needs unique row names.
        rows = [_renamed(layer, f"{i}") for i, layer in enumerate(layers)]
        la = Workload("pimhls", tuple(rows)).arrays()
        m = map_layers(d, la)
        area = self.array_area_mm2(configs)
        # Programming: every crossbar writes its used rows one at a time, all crossbars (copies
        # included: a row is broadcast to every copy, which holds the same weights) in parallel.
        # A row step moves the step's share of the weights from DRAM (read once per load) and
        # programs one row, and takes whole cycles (a clocked write port needs at least one).
        # This is the cost model's weight-swapping write time with the cycle floor; the generated
        # hardware (cimkit.codegen) does the same: its row steps write row s of every row tile
        # and copy at once (docs/codegen.md, "Input contract").
        bits = (la.weights * la.weight_bits).astype(np.float64)  # (1, L)
        seq_rows = np.minimum(m.pack * m.rows_b, d["rows"].astype(np.int64))
        step_ns = bits / np.maximum(seq_rows, 1) / (d["dram_bandwidth_gb_s"] * 8.0)
        cycle = self.cycle_time_ns
        step_cycles = np.maximum(np.ceil((step_ns + d["write_latency_ns"]) / cycle - 1e-9), 1.0)
        write_ns = np.where(m.on_xbar, seq_rows * step_cycles * cycle, 0.0)
        return LayerCosts(
            configs=configs,
            arrays=m.xbars.astype(np.int64),
            cycles_per_vector=m.cycles_per_vector.astype(np.int64),
            vectors=np.broadcast_to(m.vectors, m.xbars.shape).astype(np.int64),
            array_area_mm2=area,
            write_cycles=np.ceil(write_ns / cycle - 1e-9).astype(np.int64),
            write_energy_pj=(m.weight_cells * d["write_energy_pj"]).astype(np.float64),
        )


def _full_array_layer(cfg: TileConfig, ws: int, weight_bits: int, act_bits: int) -> Layer:
    """A linear layer that exactly fills one array of ``cfg`` (used for density figures)."""
    return make_layer(
        "full",
        "linear",
        in_channels=cfg.rows,
        out_channels=max(1, cfg.cols // ws),
        weight_bits=weight_bits,
        act_bits=act_bits,
    )


def _renamed(layer: Layer, name: str) -> Layer:
    return replace(layer, name=name, inputs=())


@dataclass(frozen=True)
class LayerCosts:
    """Mapping of L layers on n array configurations of one technology; arrays are (n, L).

    Attributes:
        configs: the n configurations.
        arrays: arrays holding one copy of the layer's weights.
        cycles_per_vector: cycles one copy needs per input vector (bit-serial slices x ADC steps).
        vectors: input vectors (output positions x repeat) per inference.
        array_area_mm2: (n,) area of one array with its peripherals, mm^2.
        write_cycles: cycles to load the layer's weights from DRAM and program them (one copy;
            copies are programmed in parallel).
        write_energy_pj: energy to program one copy's cells, pJ.
    """

    configs: tuple[TileConfig, ...]
    arrays: np.ndarray
    cycles_per_vector: np.ndarray
    vectors: np.ndarray
    array_area_mm2: np.ndarray
    write_cycles: np.ndarray
    write_energy_pj: np.ndarray

    @cached_property
    def area_mm2(self) -> np.ndarray:
        """(n, L) area of one copy of each layer, mm^2."""
        return self.arrays * self.array_area_mm2[:, None]


def get_technology(name: str, base: ChipSpec | None = None) -> PimTechnology:
    """The PIM technology ``name`` ('sram' or 'rram') on the process, clock and DRAM of ``base``.

    A base whose ``device.kind`` is ``name`` also supplies the macro template (device and macro
    sections); otherwise the documented template of the module docstring is used.
    """
    if name not in _TEMPLATES:
        raise SpecError(f"unknown PIM technology {name!r}; allowed: {', '.join(TECHS)}")
    base = base or ChipSpec()
    if base.device.kind == name:
        spec = base
    else:
        device, macro = _TEMPLATES[name]
        spec = base.model_copy(update={"device": device, "macro": macro})
        spec = ChipSpec.model_validate(spec.model_dump())
    return PimTechnology(name, spec)


def technologies(
    techs: Sequence[str] = TECHS, base: ChipSpec | None = None
) -> dict[str, PimTechnology]:
    """:func:`get_technology` for each name (one shared base, hence one clock)."""
    if not techs:
        raise SpecError("give at least one PIM technology")
    return {t: get_technology(t, base) for t in dict.fromkeys(techs)}


def technology_table(
    techs: Sequence[str] = TECHS,
    base: ChipSpec | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    all_choices: bool = False,
    energy: bool = True,
) -> pd.DataFrame:
    """Density, compute capability, energy and write costs of each technology (tidy, one row
    per array; :meth:`PimTechnology.summary`).

    With ``all_choices`` every tuning configuration is listed, else only the defaults. The
    density and compute values feed the criteria of :mod:`cimkit.pimhls.assignment`.
    """
    frames = []
    for tech in technologies(techs, base).values():
        configs = tech.choices() if all_choices else (tech.default,)
        frames.append(tech.summary(configs, weight_bits, act_bits, energy))
    return pd.concat(frames, ignore_index=True)
