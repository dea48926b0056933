"""Design tables: N hardware designs as a struct of (N,) arrays, the cost model's input.

A :class:`DesignTable` is built from chip specs, from a pandas table (one row per design, columns
named as :data:`PARAMS`), or from a base spec plus arrays for the parameters that vary (what a
search produces). Categorical parameters (device, macro kind, mode) are stored as integer codes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cimkit.cost.constants import (
    DEVICES,
    ENCODINGS,
    EXECUTIONS,
    MACRO_KINDS,
    MODES,
    READOUTS,
    TRANSISTORS,
    Constants,
    load_constants,
)
from cimkit.errors import SpecError
from cimkit.specs.chip import (
    DEFAULT_BITS_PER_CELL,
    DIGITAL_READOUTS,
    MAX_BITS_PER_CELL,
    NODES_NM,
    Bounds,
    ChipSpec,
    field_bounds,
    unused_fields,
)

if TYPE_CHECKING:  # pandas is imported where a frame is built (the search path never does)
    import pandas as pd

#: Flat parameter name -> (dotted spec path, categories or None).
PARAMS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "node_nm": ("technology.node_nm", None),
    "voltage_v": ("technology.voltage_v", None),
    "cycle_time_ns": ("technology.cycle_time_ns", None),
    "transistor": ("technology.transistor", TRANSISTORS),
    "device": ("device.kind", DEVICES),
    "bits_per_cell": ("device.bits_per_cell", None),
    "read_energy_fj": ("device.read_energy_fj", None),
    "cell_area_f2": ("device.cell_area_f2", None),
    "on_off_ratio": ("device.on_off_ratio", None),
    "write_energy_pj": ("device.write_energy_pj", None),
    "write_latency_ns": ("device.write_latency_ns", None),
    "read_voltage_v": ("device.read_voltage_v", None),
    "macro_kind": ("macro.kind", MACRO_KINDS),
    "rows": ("macro.rows", None),
    "cols": ("macro.cols", None),
    "adc_bits": ("macro.adc_bits", None),
    "cols_per_adc": ("macro.cols_per_adc", None),
    "input_bits_per_cycle": ("macro.input_bits_per_cycle", None),
    "combine_weight_bits": ("macro.combine_weight_bits", None),
    "readout": ("macro.readout", READOUTS),
    "input_encoding": ("macro.input_encoding", ENCODINGS),
    "active_rows": ("macro.active_rows", None),
    "slices_per_conversion": ("macro.slices_per_conversion", None),
    "osa_boundary": ("macro.osa_boundary", None),
    "pack_groups": ("macro.pack_groups", None),
    "readout_area_um2": ("macro.readout_area_um2", None),
    "readout_energy_scale": ("macro.readout_energy_scale", None),
    "macros_per_tile": ("tile.macros_per_tile", None),
    "tile_buffer_kb": ("tile.buffer_kb", None),
    "vector_lanes": ("tile.vector_lanes", None),
    "tiles_per_router": ("router.tiles_per_router", None),
    "tile_groups": ("chip.tile_groups", None),
    "glb_kb": ("chip.glb_kb", None),
    "glb_bandwidth_bits": ("chip.glb_bandwidth_bits", None),
    "noc_bits": ("chip.noc_bits", None),
    "mode": ("chip.mode", MODES),
    "area_constraint_mm2": ("chip.area_constraint_mm2", None),
    "execution": ("chip.execution", EXECUTIONS),
    "dram_pj_per_bit": ("dram.energy_pj_per_bit", None),
    "dram_bandwidth_gb_s": ("dram.bandwidth_gb_s", None),
}

#: Device constants filled from the technology table when a spec leaves them None.
_DEVICE_DEFAULTS = (
    "read_energy_fj",
    "cell_area_f2",
    "on_off_ratio",
    "write_energy_pj",
    "write_latency_ns",
    "read_voltage_v",
)


def _get(spec: ChipSpec, path: str) -> Any:
    obj: Any = spec
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class DesignTable:
    """N designs. ``values[name]`` is a float64 array of shape (N,); categories are int codes.

    Use :meth:`from_specs`, :meth:`from_frame` or :meth:`from_arrays`; :meth:`to_frame` gives the
    tidy table back (categories as strings, one row per design).
    """

    values: dict[str, np.ndarray]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]

    def take(self, index: np.ndarray | slice) -> DesignTable:
        """A sub-table of the designs selected by ``index``."""
        idx = np.arange(len(self))[index]
        return DesignTable(
            {k: v[idx] for k, v in self.values.items()}, tuple(self.names[i] for i in idx)
        )

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        data: dict[str, Any] = {"design": list(self.names)}
        for name, (_, cats) in PARAMS.items():
            v = self.values[name]
            data[name] = [cats[int(i)] for i in v] if cats else v
        return pd.DataFrame(data)

    def spec(self, i: int, base: ChipSpec | None = None) -> ChipSpec:
        """Design ``i`` as a :class:`ChipSpec` (inverse of :meth:`from_specs`)."""
        data = (base or ChipSpec()).model_dump()
        data["name"] = self.names[i]
        kinds = {}
        for name, (path, cats) in PARAMS.items():
            v = self.values[name][i]
            section, field = path.split(".")
            if cats:
                data[section][field] = cats[int(v)]
                kinds[name] = cats[int(v)]
            elif np.isnan(v):
                data[section][field] = None
            elif isinstance(data[section][field], bool):
                data[section][field] = bool(v)
            elif isinstance(data[section][field], int):
                data[section][field] = int(v)
            else:
                data[section][field] = float(v)
        # A table has every column for every design; the spec of a design leaves the ones its
        # kinds do not use (e.g. adc_bits of a digital macro) at their defaults, as YAML must.
        for path in unused_fields(kinds["macro_kind"], kinds["device"]):
            section, field = path.split(".")
            sub = ChipSpec.model_fields[section].annotation
            data[section][field] = sub.model_fields[field].default  # type: ignore[union-attr]
        return ChipSpec.model_validate(data)

    @classmethod
    def from_specs(cls, specs: ChipSpec | Sequence[ChipSpec]) -> DesignTable:
        specs = [specs] if isinstance(specs, ChipSpec) else list(specs)
        if not specs:
            raise SpecError("no designs given")
        values: dict[str, np.ndarray] = {}
        for name, (path, cats) in PARAMS.items():
            raw = [_get(s, path) for s in specs]
            if cats:
                values[name] = np.array([cats.index(r) for r in raw], dtype=np.float64)
            else:
                values[name] = np.array([np.nan if r is None else r for r in raw], dtype=np.float64)
        return cls(values, tuple(s.name for s in specs))

    @classmethod
    def from_arrays(
        cls,
        base: ChipSpec,
        arrays: Mapping[str, np.ndarray | Sequence[Any]],
        names: Sequence[str] | None = None,
    ) -> DesignTable:
        """``base`` for every design, overridden by ``arrays`` (flat names, each shape (N,)).

        Values are validated against the same ranges as the YAML spec (vectorized checks).
        """
        unknown = sorted(set(arrays) - set(PARAMS))
        if unknown:
            raise SpecError(f"unknown design parameters {unknown}; allowed: {sorted(PARAMS)}")
        lengths = {len(np.atleast_1d(np.asarray(v))) for v in arrays.values()}
        n = lengths.pop() if len(lengths) == 1 else (1 if not lengths else -1)
        if n < 0:
            raise SpecError("design parameter arrays must all have the same length")
        one = cls.from_specs(base)
        values = {k: np.repeat(v, n) for k, v in one.values.items()}
        for name, arr in arrays.items():
            cats = PARAMS[name][1]
            a = np.asarray(arr)
            if cats and a.dtype.kind in "OUS":
                bad = sorted({str(x) for x in a.ravel() if x not in cats})
                if bad:
                    raise SpecError(f"{name}: unknown values {bad}; allowed: {list(cats)}")
                a = np.array([cats.index(x) for x in a.ravel()])
            values[name] = np.asarray(a, dtype=np.float64).reshape(n)
        # The spec's default rule for the encoding: an unset encoding follows the DAC width.
        if "input_bits_per_cycle" in arrays and "input_encoding" not in arrays:
            serial = values["input_encoding"] == ENCODINGS.index("bit_serial")
            multi = values["input_bits_per_cycle"] > 1
            values["input_encoding"] = np.where(
                serial & multi, float(ENCODINGS.index("pulse_count")), values["input_encoding"]
            )
        # ... and bits per cell follow a device kind other than the base's (as in a YAML spec
        # that gives only device.kind: an SRAM cell cannot hold the rram default of 4 bits).
        if "device" in arrays and "bits_per_cell" not in arrays:
            dev = values["device"]
            for kind, bits in DEFAULT_BITS_PER_CELL.items():
                other = (dev == DEVICES.index(kind)) & (kind != base.device.kind)
                values["bits_per_cell"] = np.where(other, float(bits), values["bits_per_cell"])
        if "macro_kind" in arrays and "readout" not in arrays:
            digital = values["macro_kind"] == MACRO_KINDS.index("digital")
            tree = float(READOUTS.index("adder_tree"))
            default = float(
                READOUTS.index(base.macro.readout if base.macro.kind == "analog" else "sar")
            )
            values["readout"] = np.where(digital, tree, default)
        if names is not None and len(names) != n:
            raise SpecError(f"got {len(names)} design names for {n} designs")
        table = cls(values, tuple(names) if names else tuple(f"design-{i}" for i in range(n)))
        validate_table(table)
        return table

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, base: ChipSpec | None = None) -> DesignTable:
        """One row per design; columns are flat parameter names (missing ones from ``base``)."""
        from cimkit.cost.model import RESULT_COLUMNS

        cols = [c for c in frame.columns if c in PARAMS]
        # A designs.csv written by cimkit reads back: its result columns are skipped.
        known = {"design", "name", *RESULT_COLUMNS}
        extra = [
            c
            for c in frame.columns
            if c not in PARAMS and c not in known and not str(c).startswith("energy_")
        ]
        if extra:
            raise SpecError(f"unknown design columns {extra}; allowed: {sorted(PARAMS)}")
        name_col = "design" if "design" in frame else ("name" if "name" in frame else None)
        names = [str(x) for x in frame[name_col]] if name_col else None
        return cls.from_arrays(base or ChipSpec(), {c: frame[c].to_numpy() for c in cols}, names)


def resolve_defaults(
    values: dict[str, np.ndarray], c: Constants | None = None
) -> dict[str, np.ndarray]:
    """A copy with NaN (unset) device constants and DRAM energy taken from the constants table.

    Unset values stay NaN in a :class:`DesignTable` so that the constants in force at evaluation
    time (e.g. a calibration run) decide them. Also adds ``read_voltage_ref_v``, the device's
    table read voltage (the point its ``read_energy_fj`` is stated at).
    """
    c = c or load_constants()
    values = dict(values)
    dev = values["device"].astype(np.int64)
    for name in _DEVICE_DEFAULTS:
        table = np.array([c.device(kind, name) for kind in DEVICES])[dev]
        v = values[name]
        values[name] = np.where(np.isnan(v), table, v)
        if name == "read_voltage_v":
            values["read_voltage_ref_v"] = table
    v = values["dram_pj_per_bit"]
    values["dram_pj_per_bit"] = np.where(np.isnan(v), c["dram_pj_per_bit"], v)
    v = values["active_rows"]
    values["active_rows"] = np.where(np.isnan(v), values["rows"], v)
    return values


def _field_bounds() -> dict[str, tuple[str, float, float, bool, bool, bool]]:
    """Per flat parameter: (dotted path, low, high, low inclusive, high inclusive, integer).

    Read from the pydantic field metadata of :class:`ChipSpec`
    (:func:`cimkit.specs.chip.field_bounds`), so the vectorized checks below can never drift
    from what a YAML spec accepts.
    """
    out = {}
    for name, (path, cats) in PARAMS.items():
        if cats:
            out[name] = (path, 0, len(cats) - 1, True, True, True)
            continue
        b = field_bounds(ChipSpec, path)
        out[name] = (path, b.lo, b.hi, b.lo_inclusive, b.hi_inclusive, b.integer)
    return out


_BOUNDS = _field_bounds()
#: Parameters that may be NaN (unset, resolved from constants or meaning 'no constraint').
_OPTIONAL = (
    *_DEVICE_DEFAULTS,
    "dram_pj_per_bit",
    "area_constraint_mm2",
    "cycle_time_ns",
    "active_rows",
    "readout_area_um2",
    "glb_bandwidth_bits",
    "noc_bits",
)


# The per-field bounds as (F, 1) columns, for one stacked check of all F fields of N designs.
_B_NAMES = tuple(_BOUNDS)
_B_LO = np.array([_BOUNDS[k][1] for k in _B_NAMES], dtype=np.float64)[:, None]
_B_HI = np.array([_BOUNDS[k][2] for k in _B_NAMES], dtype=np.float64)[:, None]
_B_LO_INC = np.array([_BOUNDS[k][3] for k in _B_NAMES])[:, None]
_B_HI_INC = np.array([_BOUNDS[k][4] for k in _B_NAMES])[:, None]
_B_INT = np.array([_BOUNDS[k][5] for k in _B_NAMES])[:, None]
_B_OPTIONAL = np.array([k in _OPTIONAL for k in _B_NAMES])[:, None]


def _ranges_ok(values: Mapping[str, np.ndarray]) -> bool:
    """True when every field of every design passes the per-field checks of
    :func:`validate_table` (one (F, N) array expression instead of a loop over F fields).

    Exactly the loop's conditions: False whenever the loop would fail on some field, so the
    loop (which names the first failure) runs only then.
    """
    try:
        v = np.stack([np.asarray(values[k], dtype=np.float64) for k in _B_NAMES])
    except ValueError:  # ragged lengths: let the loop report whatever it reports
        return False
    unset = np.isnan(v)
    with np.errstate(invalid="ignore"):
        low = np.where(_B_LO_INC, v < _B_LO, v <= _B_LO)
        high = np.where(_B_HI_INC, v > _B_HI, v >= _B_HI)
        frac = _B_INT & (v != np.round(v))
    bad = np.isinf(v) | (unset & ~_B_OPTIONAL) | (~unset & (low | high | frac))
    return not bad.any()


def validate_table(t: DesignTable) -> None:
    """Vectorized range checks equal to the spec's; the first failure names design and field."""

    def fail(name: str, mask: np.ndarray, allowed: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise SpecError(
            f"{t.names[i]}: {name} ({_BOUNDS[name][0]}) = {t.values[name][i]:g} is out of range; "
            f"allowed: {allowed}"
        )

    if _ranges_ok(t.values):  # the common case: skip the per-field loop
        _validate_rules(t, fail)
        return
    for name, (_, lo, hi, lo_inc, hi_inc, is_int) in _BOUNDS.items():
        v = t.values[name]
        unset = np.isnan(v)
        bad = unset if name not in _OPTIONAL else np.zeros_like(unset)
        # inf is never a setting (every field has a finite bound; this says so in words).
        described = Bounds(lo, hi, lo_inc, hi_inc, is_int).describe()
        inf = np.isinf(v)
        if inf.any():
            fail(name, inf, described)
        with np.errstate(invalid="ignore"):
            bad = bad | ~unset & ((v < lo) if lo_inc else (v <= lo))
            bad = bad | ~unset & ((v > hi) if hi_inc else (v >= hi))
            if is_int:
                bad = bad | ~unset & (v != np.round(v))
        if bad.any():
            cats = PARAMS[name][1]
            allowed = f"one of {list(cats)}" if cats else described
            fail(name, bad, allowed)
    _validate_rules(t, fail)


def _validate_rules(t: DesignTable, fail: Callable[[str, np.ndarray, str], None]) -> None:
    """The checks across fields (after every field is in its own range)."""
    bad = ~np.isin(t.values["node_nm"], NODES_NM)
    if bad.any():
        fail("node_nm", bad, f"one of {NODES_NM}")
    bad = t.values["cols_per_adc"] > t.values["cols"]
    if bad.any():
        fail("cols_per_adc", bad, "at most cols")
    digital = t.values["macro_kind"] == MACRO_KINDS.index("digital")
    bad = digital & (t.values["bits_per_cell"] != 1)
    if bad.any():
        fail("bits_per_cell", bad, "1 for a digital macro")
    bad = digital & (t.values["device"] == DEVICES.index("rram"))
    if bad.any():
        fail("device", bad, "sram or mram for a digital macro")
    for kind, most in MAX_BITS_PER_CELL.items():
        bad = (t.values["device"] == DEVICES.index(kind)) & (t.values["bits_per_cell"] > most)
        if bad.any():
            fail("bits_per_cell", bad, f"at most {most} for a {kind} cell")
    bad = digital & (t.values["input_bits_per_cycle"] != 1)
    if bad.any():
        fail("input_bits_per_cycle", bad, "1 for a digital macro (bit-serial inputs)")
    bad = digital & (t.values["input_encoding"] != ENCODINGS.index("bit_serial"))
    if bad.any():
        fail("input_encoding", bad, "bit_serial for a digital macro")
    tree = np.isin(t.values["readout"], [READOUTS.index(r) for r in DIGITAL_READOUTS])
    bad = digital != tree
    if bad.any():
        fail(
            "readout",
            bad,
            "adder_tree or column_adder for a digital macro, sar/flash/integrate_fire for analog",
        )
    serial = t.values["input_encoding"] == ENCODINGS.index("bit_serial")
    bad = serial & (t.values["input_bits_per_cycle"] != 1)
    if bad.any():
        fail(
            "input_bits_per_cycle",
            bad,
            "1 with input_encoding bit_serial (use pulse_count or voltage_dac for more)",
        )
    bad = t.values["active_rows"] > t.values["rows"]
    if bad.any():
        fail("active_rows", bad, "at most rows")
    # OSA-HCIM's hybrid readout (cimkit.cost.osa_readout): one one-bit MAC per readout slot.
    osa = t.values["readout"] == READOUTS.index("osa_hybrid")
    bad = ~osa & (t.values["osa_boundary"] != 8.0)
    if bad.any():
        fail("osa_boundary", bad, "8 (the default) unless readout is osa_hybrid")
    for name, want in (
        ("input_bits_per_cycle", 1.0),
        ("combine_weight_bits", 0.0),
        ("slices_per_conversion", 1.0),
        ("bits_per_cell", 1.0),
        ("device", float(DEVICES.index("sram"))),
    ):
        bad = osa & (t.values[name] != want)
        if bad.any():
            fail(name, bad, f"{'sram' if name == 'device' else int(want)} with readout osa_hybrid")
    from cimkit.cost.constants import MIN_OVERDRIVE_V, threshold_voltage

    floor = threshold_voltage(t.values["node_nm"], t.values["transistor"]) + MIN_OVERDRIVE_V
    bad = t.values["voltage_v"] < floor - 1e-9
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fail("voltage_v", bad, f">= {floor[i]:.2f} V ({MIN_OVERDRIVE_V:g} V above the "
             "transistor's threshold at this node, where the delay model holds)")  # fmt: skip


def as_design_table(designs: Any, base: ChipSpec | None = None) -> DesignTable:
    """Accept a DesignTable, a ChipSpec, a list of ChipSpecs, a DataFrame or a dict of arrays."""
    if isinstance(designs, DesignTable):
        return designs
    if isinstance(designs, ChipSpec):
        return DesignTable.from_specs(designs)
    # Only a DataFrame's module can have built one: no pandas import on the search path.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(designs, pd.DataFrame):
        return DesignTable.from_frame(designs, base)
    if isinstance(designs, Mapping):
        return DesignTable.from_arrays(base or ChipSpec(), designs)
    if isinstance(designs, Sequence) and designs and all(isinstance(d, ChipSpec) for d in designs):
        return DesignTable.from_specs(designs)
    raise SpecError(
        f"cannot read designs of type {type(designs).__name__}; give a ChipSpec, a list of them, "
        "a DataFrame or a dict of parameter arrays"
    )
