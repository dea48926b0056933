"""Column names and units, defined once (cimkit issue 15, item 3).

Every column a cimkit writer puts in a data file (CSV, Parquet, JSON) is a :class:`Column` of
:data:`COLUMNS`: its name, the unit of the values in files, the unit reports show it in (with
the factor from one to the other), its type and what it means. The rules:

* **Data files hold SI units, the unit in the name**: ``energy_j`` (J), ``latency_s`` (s),
  ``area_m2`` (m^2), ``edap_j_s_m2`` (J*s*m^2). Reports, tables and plots show display units
  (mJ, us, mm^2, mJ*ms*mm^2) taken from the same definitions: ``value * display_factor``.
* **Accuracy is in percent everywhere** a person or a file sees it (``accuracy_pct``, 0..100):
  the paper's unit, in designs.csv and in every report. Only the in-memory metrics matrix (and
  the run store's blobs, the same matrix) keep the predictor's fraction (see :data:`METRIC_MATRIX`).
* **Integers stay integers**: columns of dtype ``int`` are written as integers (pandas Int64)
  by :func:`typed_frame`; gene columns whose choices are all whole numbers too.

``docs/columns.md`` is generated from these definitions (:func:`columns_markdown`; a test keeps
it current) and a test checks that every column any writer emits is defined here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Dtype = Literal["int", "float", "bool", "str"]


@dataclass(frozen=True)
class Column:
    """One column: ``name`` holds values in ``unit``; reports show ``value * display_factor`` in
    ``display_unit``. ``unit`` is "" for text and flags, "1" for dimensionless ratios."""

    name: str
    label: str
    unit: str
    dtype: Dtype
    description: str
    display_unit: str = ""
    display_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.display_unit:  # displayed in the unit it is stored in
            object.__setattr__(self, "display_unit", self.unit)

    def header(self) -> str:
        """Label with the display unit, e.g. ``energy (mJ)``; no unit for text or ratios."""
        u = self.display_unit
        return f"{self.label} ({u})" if u and u != "1" else self.label

    def display(self, value: Any) -> Any:
        """``value`` (in :attr:`unit`) in :attr:`display_unit`."""
        return value * self.display_factor if self.display_factor != 1.0 else value


_ALL: list[Column] = [
    # --- one evaluated design of a search (designs.csv / designs.parquet of a report) ---------
    Column("design", "design", "", "int", "Row of the run's archive (evaluation order, from 0)."),
    Column(
        "gen",
        "generation",
        "",
        "int",
        "Generation that first evaluated the design (0 = the initial sample).",
    ),
    Column(
        "accuracy_pct",
        "top-1 accuracy",
        "%",
        "float",
        "Top-1 accuracy in percent (0..100), "
        "the accuracy source of the space (predictor, table or constant).",
    ),
    Column(
        "energy_j",
        "energy",
        "J",
        "float",
        "Energy per inference (steady state: leakage over one period).",
        "mJ",
        1e3,
    ),
    Column(
        "latency_s",
        "delay",
        "s",
        "float",
        "One inference from input to output; the "
        "paper's 'delay' (the objective `delay` is latency / accuracy).",
        "us",
        1e6,
    ),
    Column("area_m2", "area", "m^2", "float", "Chip area.", "mm^2", 1e6),
    Column(
        "edap_j_s_m2",
        "EDAP",
        "J*s*m^2",
        "float",
        "Energy x latency x area (the paper's EDAP, reported in mJ*ms*mm^2).",
        "mJ*ms*mm^2",
        1e12,
    ),
    Column("tops_per_w", "TOPS/W", "TOPS/W", "float", "Operations (2 per MAC) per joule / 1e12."),
    Column("tops_per_mm2", "TOPS/mm^2", "TOPS/mm^2", "float", "Effective TOPS per mm^2 of chip."),
    Column("utilization", "utilization", "1", "float", "Programmed cells / cells on the chip."),
    Column(
        "g_fit",
        "weights-fit constraint",
        "1",
        "float",
        "Crossbars needed for one copy of "
        "the weights / crossbars on chip - 1 (weight-stationary designs; <= 0 is feasible, "
        "-1 under weight swapping).",
    ),
    Column(
        "g_area",
        "area constraint",
        "1",
        "float",
        "Area / area constraint - 1 (<= 0 is feasible; -1 without a constraint).",
    ),
    Column(
        "g_cycle",
        "cycle-time constraint",
        "1",
        "float",
        "Shortest readout cycle / cycle time - 1 (<= 0 is feasible).",
    ),
    Column(
        "feasible",
        "feasible",
        "",
        "bool",
        "Every constraint g_* <= 0 (and, for evaluate, no reason in `reason`).",
    ),
    Column(
        "score",
        "score",
        "objective",
        "float",
        "The run's objective, minimised: edap = "
        "EDAP/Acc in mJ*ms*mm^2/%, delay = latency/Acc in ns/%, ea = E*A/Acc in mJ*mm^2/%, "
        "priority = normalised to design 0; the report names it. inf: infeasible.",
    ),
    # --- Table III rows (report tables, `search --json` / `compare --json` rows) --------------
    Column("method", "method", "", "str", "Baseline or search method of a Table III row."),
    Column(
        "acc_change_pp",
        "accuracy change",
        "pp",
        "float",
        "accuracy_pct minus baseline 1's, percentage points.",
    ),
    Column(
        "diversity",
        "diversity (top 5)",
        "1",
        "float",
        "Mean pairwise fraction of differing effective genes among the top five designs.",
    ),
    Column("diversity_label", "diversity note", "", "str", "What the diversity was measured on."),
    Column("evals", "evaluations", "", "int", "Designs evaluated by the method."),
    # Re-measured accuracy (cimkit.search.remeasure: `report --remeasure`, `compare`).
    Column(
        "accuracy_measured_pct",
        "measured top-1",
        "%",
        "float",
        "Top-1 accuracy measured on the supernet (design's policy, BN recalibrated, "
        "10k test images); the predictor's value is accuracy_pct.",
    ),
    Column(
        "accuracy_finetuned_pct",
        "fine-tuned top-1",
        "%",
        "float",
        "Top-1 accuracy after --finetune-steps of quantization-aware fine-tuning of the "
        "design alone, measured as accuracy_measured_pct.",
    ),
    Column(
        "accuracy_used",
        "accuracy used",
        "",
        "str",
        "Which accuracy acc_change_pp and score use: measured or predicted.",
    ),
    Column(
        "acc_change_predicted_pp",
        "predicted accuracy change",
        "pp",
        "float",
        "acc_change_pp from the predicted accuracies (where acc_change_pp is measured).",
    ),
    Column(
        "score_predicted",
        "predicted score",
        "objective",
        "float",
        "score from the predicted accuracies (where score uses the measured ones).",
    ),
    Column(
        "accuracy_error_pp",
        "prediction error",
        "pp",
        "float",
        "accuracy_pct (predicted) minus accuracy_measured_pct: positive = optimistic.",
    ),
    Column(
        "rank",
        "rank",
        "",
        "int",
        "Position among the method's best distinct designs (1 = its winner; 0 = baseline 1).",
    ),
    Column(
        "wall_s",
        "wall time",
        "s",
        "float",
        "Seconds the method's search took (compare "
        "rows; not in reports, which are a function of the archive only).",
    ),
    Column(
        "error",
        "error",
        "",
        "str",
        "Why a Table III method failed (text; only on failure) "
        "- in validate output: see the validation columns.",
    ),
    # --- cost model (`cimkit evaluate --out`: designs.csv, layers.csv, components.csv) --------
    Column("reason", "reason", "", "str", "Why a design is infeasible (empty when feasible)."),
    Column(
        "period_s",
        "period",
        "s",
        "float",
        "Time between inferences in steady state (= latency_s unless pipelined).",
        "us",
        1e6,
    ),
    Column(
        "area_mm2",
        "area",
        "mm^2",
        "float",
        "Chip area in mm^2 (the cost model writes it "
        "beside area_m2 because the chip spec's area_constraint_mm2 is in mm^2).",
    ),
    Column("ops", "operations", "", "float", "Operations per inference (2 per MAC)."),
    Column("tops", "TOPS", "TOPS", "float", "Effective throughput: ops / period / 1e12."),
    Column(
        "peak_tops",
        "peak TOPS",
        "TOPS",
        "float",
        "Every crossbar doing a full-array 8b x 8b MVM every window.",
    ),
    Column("peak_tops_per_mm2", "peak TOPS/mm^2", "TOPS/mm^2", "float", "peak_tops / area."),
    Column(
        "xbar_utilization",
        "crossbar utilization",
        "1",
        "float",
        "Programmed cells / cells of the crossbars used.",
    ),
    Column("xbars_needed", "crossbars needed", "", "int", "Crossbars for one copy of all weights."),
    Column("xbars_available", "crossbars", "", "int", "Crossbars on the chip."),
    Column(
        "weight_groups",
        "weight groups",
        "",
        "int",
        "Layer groups loaded in turn (weight swapping; 1 when stationary).",
    ),
    Column(
        "min_cycle_time_ns",
        "shortest cycle",
        "ns",
        "float",
        "Shortest period the readout allows at this node and voltage.",
    ),
    Column("power_w", "power", "W", "float", "Average power (energy / period)."),
    Column("layer", "layer", "", "str", "Layer name of the workload."),
    Column("component", "component", "", "str", "Cost-model component (cells, readout, ...)."),
    Column("xbars", "crossbars", "", "int", "Crossbars of one copy of the layer's weights."),
    Column("replication", "replication", "", "int", "Copies of the layer's weights on the chip."),
    # --- validation (`cimkit validate --out`) --------------------------------------------------
    Column("macro", "macro", "", "str", "Published macro preset id."),
    Column("kind", "kind", "", "str", "Macro kind and cell device."),
    Column("point", "operating point", "", "str", "Operating point id in published_macros.yaml."),
    Column("precision", "precision", "", "str", "Input bits x weight bits of the point."),
    Column(
        "metric",
        "figure",
        "",
        "str",
        "Published figure compared: tops, tops_per_w or tops_per_mm2 (in their own units).",
    ),
    Column("in_sample", "in sample", "", "bool", "The macro's calibration point."),
    Column("reported", "reported", "metric", "float", "The paper's value of `metric`."),
    Column("predicted", "predicted", "metric", "float", "cimkit's value of `metric`."),
    Column(
        "lomo_error",
        "leave-one-macro-out error",
        "1",
        "float",
        "Signed relative error with the constants fitted without this macro.",
    ),
    # --- NPU + CIM systems (`cimkit evaluate --hw system.yaml`, h4h-figures, npu-validate) ----
    Column("op", "op", "", "str", "Layer op kind (conv, dwconv, pwconv, linear, matmul, ...)."),
    Column("units", "units", "", "int", "Splittable units of a layer: output channels or heads."),
    Column("cim_units", "CIM units", "", "int", "Units of the layer run on the CIM macros."),
    Column("cim_share", "CIM share", "1", "float", "cim_units / units."),
    Column("npu_time_s", "NPU time", "s", "float", "NPU busy time of the layer.", "us", 1e6),
    Column(
        "cim_time_s", "CIM time", "s", "float", "Macros' compute time of the layer.", "us", 1e6
    ),  # fmt: skip
    Column(
        "noc_time_s",
        "NoC time",
        "s",
        "float",
        "NoC transfers of the CIM share (with warm-up).",
        "us",
        1e6,
    ),  # fmt: skip
    Column(
        "npu_energy_j", "NPU energy", "J", "float", "NPU MACs, SRAM and flash bytes.", "uJ", 1e6
    ),  # fmt: skip
    Column(
        "cim_energy_j",
        "CIM energy",
        "J",
        "float",
        "Macros' compute, weight and input reads.",
        "uJ",
        1e6,
    ),  # fmt: skip
    Column("noc_energy_j", "NoC energy", "J", "float", "NoC bytes of the CIM share.", "uJ", 1e6),
    Column(
        "static_energy_j",
        "static energy",
        "J",
        "float",
        "Leakage of the NPU over the layer and of busy macros' compute units.",
        "uJ",
        1e6,
    ),  # fmt: skip
    Column("cim_words", "CIM words", "", "int", "MRAM words (16 x 9 weights) the CIM share holds."),
    Column("system", "system", "", "str", "System spec name."),
    Column("npu_macs_per_cycle", "NPU MACs/cycle", "", "int", "U55 configuration (64/128/256)."),
    Column("memory_mode", "memory mode", "", "str", "Vela memory mode: Shared_Sram or Sram_Only."),
    Column("macros", "macros", "", "int", "MRAM NMC macros of the system."),
    Column("compute_units", "compute units", "", "int", "Compute units per macro."),
    Column("cim_area_m2", "CIM area", "m^2", "float", "Area of the macros.", "mm^2", 1e6),
    Column("cim_words_used", "CIM words used", "", "int", "MRAM words holding weights."),
    Column("cim_words_capacity", "CIM words", "", "int", "MRAM words of all macros."),
    Column(
        "partition_gap",
        "partition gap",
        "1",
        "float",
        "Certified bound on the split's relative distance from the optimum (0: optimal).",
    ),  # fmt: skip
    Column(
        "layer_type",
        "layer type",
        "",
        "str",
        "Layer type (Conv, DConv, PConv, FC; conv, dw, "
        "pw, fc, bmm, add, softmax in the Vela table).",
    ),  # fmt: skip
    Column("data_bytes", "data size", "byte", "float", "Input feature-map bytes of the layer."),
    Column("macs", "MACs", "", "int", "Multiply-accumulates of the layer per inference."),
    Column("cycles", "cycles", "", "float", "NPU cycles (500 MHz) of the layer."),
    Column(
        "throughput_norm",
        "throughput / peak",
        "1",
        "float",
        "MACs per cycle / configured MACs per cycle.",
    ),  # fmt: skip
    Column(
        "energy_efficiency_norm",
        "energy efficiency / MAC-only",
        "1",
        "float",
        "MAC energy / total energy (1: only MACs cost energy).",
    ),  # fmt: skip
    Column(
        "npu_latency_s", "NPU latency", "s", "float", "Layer latency on the NPU alone.", "us", 1e6
    ),  # fmt: skip
    Column(
        "cim8_latency_s",
        "8-macro latency",
        "s",
        "float",
        "Layer latency on 8 macros alone.",
        "us",
        1e6,
    ),  # fmt: skip
    Column(
        "cim8_energy_j",
        "8-macro energy",
        "J",
        "float",
        "Layer energy on 8 macros alone.",
        "uJ",
        1e6,
    ),  # fmt: skip
    Column("throughput_ratio", "throughput ratio", "1", "float", "NPU latency / 8-macro latency."),
    Column(
        "energy_efficiency_ratio",
        "energy-efficiency ratio",
        "1",
        "float",
        "NPU energy / 8-macro energy.",
    ),  # fmt: skip
    Column("figure", "figure", "", "str", "Paper figure a claim is about."),
    Column("claim", "claim", "", "str", "The paper's qualitative statement."),
    Column("holds", "holds", "", "bool", "Whether cimkit's figure shows it."),
    Column("evidence", "evidence", "", "str", "The numbers the check read."),
    Column("h", "h", "", "int", "Vela table: side (tokens for fc, M for bmm, rows for softmax)."),
    Column("w", "w", "", "int", "Vela table: width (N for bmm)."),
    Column("c_in", "c_in", "", "int", "Vela table: input channels (K for bmm, row length)."),
    Column("c_out", "c_out", "", "int", "Vela table: output channels (batch for bmm)."),
    Column("k", "kernel", "", "int", "Vela table: kernel side."),
    Column("stride", "stride", "", "int", "Vela table: stride."),
    Column("accelerator_macs", "U55 MACs/cycle", "", "int", "U55 configuration of the row."),
    Column("vela_cycles", "Vela cycles", "", "float", "Vela 5.2.0's cycle estimate."),
    Column("predicted_cycles", "predicted cycles", "", "float", "cimkit's NPU engine."),
    Column("rel_error", "relative error", "1", "float", "predicted / Vela - 1."),
]
#: Every column of every cimkit data file, by name.
COLUMNS: dict[str, Column] = {c.name: c for c in _ALL}

#: Validate's signed relative error: same name as Table III's failure text, other table.
VALIDATION_ERROR = Column(
    "error", "error", "1", "float", "Signed relative error: predicted / reported - 1."
)

#: Names used before this convention -> (name now, factor from the old unit to the new one).
#: Old stored comparisons (Table III rows) are read through :func:`upgrade_row`.
RENAMED: dict[str, tuple[str, float]] = {
    "energy_mj": ("energy_j", 1e-3),
    "delay_us": ("latency_s", 1e-6),
    "edap": ("edap_j_s_m2", 1e-12),
}

#: The in-memory metrics matrix (also the run store's float64 blobs, in this order: stored runs
#: keep loading): column -> (unit of the matrix, data-file column, factor matrix -> file).
#: Working units are the paper's (Table III), so the objectives read the matrix directly.
METRIC_MATRIX: dict[str, tuple[str, str, float]] = {
    "accuracy": ("fraction (0..1)", "accuracy_pct", 100.0),
    "energy_mj": ("mJ", "energy_j", 1e-3),
    "delay_us": ("us", "latency_s", 1e-6),
    "area_mm2": ("mm^2", "area_m2", 1e-6),
    "edap": ("mJ*ms*mm^2", "edap_j_s_m2", 1e-12),
    "tops_per_w": ("TOPS/W", "tops_per_w", 1.0),
    "tops_per_mm2": ("TOPS/mm^2", "tops_per_mm2", 1.0),
    "utilization": ("1", "utilization", 1.0),
    "g_fit": ("1", "g_fit", 1.0),
    "g_area": ("1", "g_area", 1.0),
    "g_cycle": ("1", "g_cycle", 1.0),
}

#: Gene columns of designs.csv are the space's dimensions: hardware parameters (the flat names
#: of cimkit.cost.designs.PARAMS, as in a space's hardware.params) and model/quantization genes.
GENE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"depth_s\d+", "Blocks of stage s (model gene)."),
    (r"kernel_b\d+", "Depthwise kernel of block slot b (model gene)."),
    (r"expand_[bs]\d+", "Expansion ratio of block slot b / stage s (model gene)."),
    (
        r"(dw|pw|conv)_[wa]_[bs]\d+",
        "Weight (w) / activation (a) bits of a block's depthwise, "
        "pointwise or conv layers (quantization gene).",
    ),
)


#: Per-component columns of ``cimkit evaluate --out`` (designs.csv, layers.csv): one per
#: component of the cost model's registry (cells, readout, glb, leakage, ...).
COMPONENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"energy_[a-z_]+_j",
        "Energy of one component (named between energy_ and _j) per "
        "inference, J; reports show it in mJ (designs) or uJ (per-layer charts).",
    ),
)


def column(name: str) -> Column:
    """The definition of column ``name`` (KeyError names the column)."""
    return COLUMNS[name]


def header(name: str) -> str:
    """Report header of column ``name``: label and display unit."""
    return COLUMNS[name].header()


def is_gene(name: str) -> bool:
    """Whether ``name`` is a gene column (a space dimension)."""
    from cimkit.cost.designs import PARAMS

    return name in PARAMS or any(re.fullmatch(p, name) for p, _ in GENE_PATTERNS)


def undefined(names: Iterable[str]) -> list[str]:
    """The names in ``names`` that are neither a defined column nor a gene column."""
    return [
        n
        for n in names
        if n not in COLUMNS
        and not is_gene(n)
        and not any(re.fullmatch(p, n) for p, _ in COMPONENT_PATTERNS)
    ]


def integer_param(name: str) -> bool:
    """Whether hardware parameter ``name`` is an integer field of the chip spec."""
    from cimkit.cost.designs import PARAMS
    from cimkit.specs.chip import ChipSpec, field_bounds

    path, cats = PARAMS[name]
    if cats is not None:
        return False
    try:
        return field_bounds(ChipSpec, path).integer
    except (TypeError, ValueError, KeyError, AttributeError):
        return False


def typed_frame(frame: Any) -> Any:
    """``frame`` with integer columns as pandas Int64 (so CSV/Parquet hold 16, not 16.0).

    Integer columns: those defined with dtype ``int``, integer chip-spec parameters, and gene
    columns whose values are all whole numbers (model and quantization genes). A float column
    with a fractional value is left alone (never rounded).
    """
    import numpy as np

    out = frame.copy()
    for name in out.columns:
        c = COLUMNS.get(name)
        if c is not None:
            want = c.dtype == "int"
        elif name in _params():
            want = integer_param(name)
        else:
            want = is_gene(name)
        if not want or out[name].dtype.kind not in "fiu":
            continue
        v = out[name].to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(v)
        if (v[ok] == np.round(v[ok])).all():
            out[name] = out[name].astype("Int64")
    return out


def _params() -> dict[str, Any]:
    from cimkit.cost.designs import PARAMS

    return PARAMS


def metrics_frame(M: Any) -> dict[str, Any]:
    """Data-file columns (SI, :data:`METRIC_MATRIX` order) of a metrics matrix (N, K)."""
    return {file: M[:, i] * f for i, (_, file, f) in enumerate(METRIC_MATRIX.values())}


def upgrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Table III row with names from before this convention (:data:`RENAMED`) renamed and
    converted; ``area_mm2`` of an old row becomes ``area_m2``. Rows already new are unchanged."""
    out = dict(row)
    for old, (new, f) in {**RENAMED, "area_mm2": ("area_m2", 1e-6)}.items():
        if old in out and new not in out:
            v = out.pop(old)
            out[new] = v * f if isinstance(v, int | float) else v
    return out


def columns_markdown() -> str:
    """docs/columns.md: every column with its unit, display unit and meaning."""
    lines = [
        "# Columns of cimkit's data files",
        "",
        "Generated from `src/cimkit/columns.py` (`python -m cimkit.columns > docs/columns.md`);",
        "a test checks it is current. Data files hold the unit in the column name (SI);",
        "reports show the display unit (value x factor). Accuracy is in percent everywhere.",
        "",
        "| column | unit in files | shown as | type | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in [*_ALL, VALIDATION_ERROR]:
        shown = (
            c.display_unit
            if c.display_factor == 1.0
            else (f"{c.display_unit} (x {c.display_factor:g})")
        )
        where = " (validate)" if c is VALIDATION_ERROR else ""
        lines.append(
            f"| `{c.name}`{where} | {c.unit or '-'} | {shown or '-'} | {c.dtype} | "
            f"{c.description} |"
        )
    lines += [
        "",
        "Gene columns (one per dimension of the search space) follow the design columns:",
        "",
        "- hardware parameters: the flat names of a space's `hardware.params` "
        "(`macros_per_tile`, `rows`, ...; see `cimkit spec --explain`), in the chip spec's unit;",
    ]
    lines += [f"- `{p}`: {d}" for p, d in GENE_PATTERNS]
    lines += ["", "Per-component columns of `cimkit evaluate --out`:", ""]
    lines += [f"- `{p}`: {d}" for p, d in COMPONENT_PATTERNS]
    lines += [
        "",
        "## The metrics matrix (in memory and in the run store)",
        "",
        "Searches keep one float64 row per design in the paper's working units; the run store",
        "saves these rows as blobs in this order. designs.csv converts them to the SI columns.",
        "",
        "| matrix column | unit | file column | factor |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k}` | {u} | `{file}` | {f:g} |" for k, (u, file, f) in METRIC_MATRIX.items()]
    lines += [
        "",
        "## Renamed",
        "",
        "Comparisons stored before these names are read with the new ones: "
        + ", ".join(f"`{o}` -> `{n}`" for o, (n, _) in RENAMED.items())
        + ". Chip specs: `tile.macros` is `tile.macros_per_tile` and `router.tiles` is "
        "`router.tiles_per_router` (the names of spaces and tables); the old keys are read "
        "with a deprecation note on stderr until cimkit 0.2.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m cimkit.columns > docs/columns.md
    print(columns_markdown(), end="")
