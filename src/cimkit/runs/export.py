"""``cimkit export RUN --design N --out DIR``: a stored design as files you can carry on with.

Written into DIR:

* ``chip.yaml``: the chip spec of the design (base chip of the run's space with the design's
  hardware genes and the run's area constraint); ``cimkit evaluate --hw chip.yaml`` reads it.
* ``genome.json``: the genome (:mod:`cimkit.runs.genome`), read by every ``--genome`` option.
* ``layers.csv``: the network's layer table with per-layer bit widths (what the cost model ran).
* ``network.onnx``: the subnet as ONNX (torchvision layout, random weights: architecture only),
  when torch and onnx are installed; otherwise the summary says why there is none.
* ``summary.md``: one page: where the design came from, its stored and re-evaluated metrics,
  chip parameters, network and quantization, and the commands that use these files.

The design is re-evaluated from ``chip.yaml`` + ``genome.json`` exactly as ``cimkit evaluate``
would, and the result is compared with the stored metrics (energy, delay, area, EDAP); a
difference beyond 1e-9 relative is an error, so an export never hands out files that describe
another design than the one the search stored. Paths in the summary are file names only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cimkit.errors import CimkitError
from cimkit.search.objectives import COL

#: Stored metrics re-checked on export: metrics column -> (label, unit).
CHECKED: dict[str, tuple[str, str]] = {
    "energy_mj": ("energy", "mJ"),
    "delay_us": ("delay", "us"),
    "area_mm2": ("area", "mm^2"),
    "edap": ("EDAP", "mJ*ms*mm^2"),
}
#: Largest relative difference between stored and re-evaluated metrics an export accepts.
RTOL = 1e-9


@dataclass
class Export:
    """What :func:`export_design` wrote and measured.

    Attributes:
        files: kind ('chip', 'genome', 'layers', 'onnx', 'summary') -> path.
        stored, reevaluated: metrics column -> value (units of :data:`CHECKED`).
        onnx_note: why no ONNX was written ('' when it was).
    """

    files: dict[str, Path]
    stored: dict[str, float]
    reevaluated: dict[str, float]
    onnx_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def si(self, which: str = "stored") -> dict[str, float]:
        """``stored`` or ``reevaluated`` metrics under the data-file names, in SI units
        (``energy_j`` J, ``latency_s`` s, ``area_m2`` m^2, ``edap_j_s_m2`` J*s*m^2)."""
        from cimkit.columns import METRIC_MATRIX

        values = self.stored if which == "stored" else self.reevaluated
        out = {}
        for k, v in values.items():
            _, name, factor = METRIC_MATRIX[k]
            out[name] = v * factor
        return out


def reevaluate(chip: Any, workload: Any) -> dict[str, float]:
    """Energy (mJ), delay (us), area (mm^2) and EDAP of ``chip`` running ``workload``."""
    from cimkit.cost import evaluate

    ev = evaluate(chip, workload)
    e_mj = float(ev.metrics["energy_j"][0]) * 1e3
    d_us = float(ev.metrics["latency_s"][0]) * 1e6
    a = float(ev.metrics["area_mm2"][0])
    return {"energy_mj": e_mj, "delay_us": d_us, "area_mm2": a, "edap": e_mj * d_us * 1e-3 * a}


def design_chip(space: Any, x: np.ndarray, area_constraint_mm2: float | None, name: str) -> Any:
    """The :class:`~cimkit.specs.chip.ChipSpec` of genome ``x``: the space's base chip with the
    design's hardware genes and the area constraint (None: the base chip's own)."""
    from cimkit.cost import DesignTable

    values = space.joint.decode(np.asarray(x, dtype=np.int64).reshape(1, -1))
    hw = {n: values[n] for n in space.hardware_names}
    if area_constraint_mm2 is not None:
        hw["area_constraint_mm2"] = np.full(1, float(area_constraint_mm2))
    return DesignTable.from_arrays(space.base_chip, hw, names=[name]).spec(0, space.base_chip)


def write_onnx(model: Any, resolution: int, path: Path) -> None:
    """Export ``model`` with the TorchScript exporter (the dynamo one needs onnxscript)."""
    import torch

    model.eval()
    example = torch.zeros(1, 3, resolution, resolution)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (above); its deprecation notice is noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
        )


def export_design(store: Any, run: str, design: int, out: Path, *, onnx: bool = True) -> Export:
    """Write the files of design ``design`` (archive row) of stored run ``run`` into ``out``.

    ``out`` is created (a file in the way is a one-line error before anything is written).
    Raises CimkitError for an unknown run, a design index outside the archive or a
    re-evaluation that differs from the stored metrics.
    """
    from cimkit.cli_errors import prepare_out_dir
    from cimkit.runs.design import area_constraint, run_space
    from cimkit.runs.genome import genome_record, genome_workload, parse_genome_file
    from cimkit.specs.io import save_chip

    info = store.run_info(run)
    space = run_space(run, info["config"])
    archive = store.load_archive(run, space.joint.n_var)
    if not 0 <= design < len(archive):
        raise CimkitError(
            f"--design {design}: run {run!r} has designs 0..{len(archive) - 1}; see "
            f"`cimkit runs show {run}` for its best designs"
        )
    out = prepare_out_dir(out, "--out")
    x, m = archive.X[design], archive.M[design]
    area = area_constraint(space, info["config"], m)
    stem = f"{run.replace('/', '-')}-design{design}"
    files: dict[str, Path] = {}
    chip = design_chip(space, x, area, stem)
    files["chip"] = save_chip(chip, out / "chip.yaml")
    rec = genome_record(space, x, run=run, design=design)
    import json

    files["genome"] = out / "genome.json"
    files["genome"].write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    g = parse_genome_file(rec)
    wl = genome_workload(g)
    files["layers"] = out / "layers.csv"
    wl.to_frame().to_csv(files["layers"], index=False)

    # Re-evaluated from the written files (as `cimkit evaluate` reads them), not from memory.
    from cimkit.runs.genome import read_genome
    from cimkit.specs import load_chip

    again = reevaluate(load_chip(files["chip"]), genome_workload(read_genome(str(files["genome"]))))
    stored = {k: float(m[COL[k]]) for k in CHECKED}
    bad = [k for k in CHECKED if not math.isclose(again[k], stored[k], rel_tol=RTOL, abs_tol=0.0)]
    if bad:
        k = bad[0]
        raise CimkitError(
            f"run {run!r} design {design}: re-evaluated {CHECKED[k][0]} {again[k]:.9g} differs "
            f"from the stored {stored[k]:.9g} {CHECKED[k][1]} (space or cost model changed "
            "since the search?); nothing reliable to export"
        )

    note = ""
    if onnx:
        try:
            from cimkit.runs.genome import genome_torch_model

            model = genome_torch_model(g)
            files["onnx"] = out / "network.onnx"
            write_onnx(model, g.resolution, files["onnx"])
        except ImportError as exc:
            files.pop("onnx", None)
            note = f"no network.onnx: {exc.name or 'torch/onnx'} is not installed"
    else:
        note = "no network.onnx: not asked for (--no-onnx)"
    files["summary"] = out / "summary.md"
    ex = Export(files, stored, again, note, {"accuracy": float(m[COL["accuracy"]])})
    files["summary"].write_text(
        _summary(run, design, info, space, x, m, area, chip, wl, ex), encoding="utf-8"
    )
    return ex


def _summary(
    run: str,
    design: int,
    info: dict[str, Any],
    space: Any,
    x: np.ndarray,
    m: np.ndarray,
    area: float | None,
    chip: Any,
    wl: Any,
    ex: Export,
) -> str:
    from cimkit.report.tables import md_table
    from cimkit.runs.design import constraint_ratios
    from cimkit.search.engine import SearchConfig

    cfg = SearchConfig.from_dict(info["config"]["search"])
    obj = cfg.score_objective()
    values = space.joint.decode(np.asarray(x, dtype=np.int64).reshape(1, -1))
    lines = [
        f"# Design {design} of run {run}",
        "",
        f"Space `{Path(str(space.source)).name}` ({space.family.name}, "
        f"{space.family.resolution} x {space.family.resolution} px, {space.family.num_classes} "
        f"classes); search {cfg.algorithm.upper()}, objective {obj.label or obj.name}, seed "
        f"{cfg.seed}; area constraint " + ("none" if area is None else f"{area:g} mm^2") + ".",
        "",
        "## Metrics",
        "",
        "Top-1 accuracy (stored; from the space's accuracy source): "
        f"{100 * m[COL['accuracy']]:.2f} %",
        "",
    ]
    rows = [
        [f"{label} ({unit})", f"{ex.stored[k]:.6g}", f"{ex.reevaluated[k]:.6g}"]
        for k, (label, unit) in CHECKED.items()
    ]
    lines += [md_table(["metric", "stored", "re-evaluated from chip.yaml + genome.json"], rows), ""]
    ratios = constraint_ratios(m)
    lines += [
        "Constraints (feasible <= 1): "
        + ", ".join(f"{k[2:]} {'n/a' if v is None else f'{v:.3f}'}" for k, v in ratios.items())
        + ".",
        "",
        "## Chip",
        "",
        md_table(
            ["searched parameter", "value"],
            [[n, f"{values[n][0]:g}"] for n in space.hardware_names],
        ),
        "",
        f"Chip `{chip.name}`: the rest is the space's base chip; see `chip.yaml`.",
        "",
        "## Network",
        "",
        f"{len(wl.layers)} layers ({len(wl.mac_layers)} with MACs), {wl.total_macs:,} MACs, "
        f"{wl.total_weights:,} weights. Layer table with per-layer bits: `layers.csv`.",
        "",
    ]
    wb = sorted({la.weight_bits for la in wl.mac_layers})
    ab = sorted({la.act_bits for la in wl.mac_layers})
    lines += [
        f"Quantization: weight bits {wb}, activation bits {ab} over the MAC layers.",
        "",
        "ONNX: `network.onnx` (architecture only: random weights, float; the bit widths are in "
        "`layers.csv` and `genome.json`)."
        if not ex.onnx_note
        else f"ONNX: {ex.onnx_note}.",
        "",
        "## Use these files",
        "",
        "- `cimkit evaluate --hw chip.yaml --genome genome.json` re-evaluates the design.",
    ]
    if space.family.name == "ofa_mobilenetv2":
        lines += [
            "- `cimkit predict --genome genome.json` predicts its accuracy; "
            "`cimkit histograms --genome genome.json --out h.npz` measures its histograms.",
        ]
    if not ex.onnx_note:
        lines += ["- `cimkit import --onnx network.onnx` reads the network back."]
    return "\n".join(lines) + "\n"
