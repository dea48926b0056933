"""The genome file of an exported design and the one ``--genome`` reader of the CLI.

``cimkit export`` writes ``genome.json``: a JSON object with ``"format": "cimkit-genome/1"``, the
model family and its fixed geometry (``family``, ``resolution``, ``num_classes``), every model and
quantization gene by name (``genes``), the hardware genes for reference (``hardware``; the chip
YAML written beside it is what counts), where it came from (``source``: run, design, space file
name) and, for ``ofa_mobilenetv2``, the ``depths``/``kernels``/``expands``/``bits`` form that
``cimkit predict`` and ``cimkit histograms`` read. So one file works everywhere a network is
taken: ``evaluate --hw chip.yaml --genome genome.json`` rebuilds the family's network with its
per-layer bit widths (:func:`genome_workload`), ``predict``/``histograms --genome`` read the
accuracy genome.

:func:`genome_json` is the single reader of ``--genome`` (JSON text, or the path of a .json file);
every error is one line naming ``--genome``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cimkit.errors import CimkitError, SpecError, short_repr

FORMAT = "cimkit-genome/1"
FAMILIES = ("ofa_mobilenetv2", "resnet50")

GENOME_HELP = (
    'give a JSON object {"depths": [...], "kernels": ..., "expands": ...}, a JSON list of them, '
    "or a .json file holding one (e.g. the genome.json of `cimkit export`)"
)


def genome_text(value: str, flag: str = "--genome") -> str:
    """The JSON text of ``--genome``: the option itself, or the file it names."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return text
    path = Path(text).expanduser()
    label = f"{flag} {short_repr(text)}"
    try:
        is_file = path.is_file()
    except OSError:  # e.g. a name too long to be a path
        is_file = False
    if not is_file:
        if text.endswith(".json"):
            raise CimkitError(f"{label}: file not found")
        raise CimkitError(f"{label}: not a JSON object and no such file; {GENOME_HELP}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CimkitError(f"{label}: not a UTF-8 text file; {GENOME_HELP}") from None
    except OSError as exc:
        raise CimkitError(f"{label}: cannot read it ({exc.strerror})") from None


def genome_json(value: str, flag: str = "--genome") -> Any:
    """Parsed JSON of ``--genome`` (text or file); one-line CimkitError when it is not JSON."""
    text = genome_text(value, flag)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CimkitError(
            f"{flag}: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise CimkitError(f"{flag}: JSON nested too deeply") from None


@dataclass
class GenomeFile:
    """A design's network as exported: family, fixed geometry and gene values.

    Attributes:
        family: ``ofa_mobilenetv2`` or ``resnet50``.
        resolution: input height = width, px.
        num_classes: classifier outputs.
        genes: model and quantization gene -> value (blocks, kernel sizes, ratios, bits).
        hardware: hardware gene -> value (informational; the chip YAML is authoritative).
        source: run, design index and space file name it was exported from.
    """

    family: str
    resolution: int
    num_classes: int
    genes: dict[str, float]
    hardware: dict[str, float] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """Genes as the (1,) arrays a family's ``layer_arrays`` reads."""
        import numpy as np

        return {k: np.array([v]) for k, v in self.genes.items()}


def _plain(v: float) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else f


def genome_record(
    space: Any, x: Any, *, run: str | None = None, design: int | None = None
) -> dict[str, Any]:
    """The ``genome.json`` object of genome ``x`` (D,) of ``space`` (see the module docstring)."""
    import numpy as np

    X = np.asarray(x, dtype=np.int64).reshape(1, -1)
    values = space.joint.decode(X)
    fam = space.family
    genes = {
        d.name: _plain(values[d.name][0])
        for d in space.joint.dims
        if d.subspace in ("model", "quantization")
    }
    rec: dict[str, Any] = {
        "format": FORMAT,
        "family": fam.name,
        "resolution": int(fam.resolution),
        "num_classes": int(fam.num_classes),
        "genes": genes,
        "hardware": {n: _plain(values[n][0]) for n in space.hardware_names},
        "indices": [int(v) for v in X[0]],
        # The file name only: the folder is that of the machine the search ran on.
        "source": {"run": run, "design": design, "space": Path(str(space.source)).name},
    }
    if fam.name == "ofa_mobilenetv2":
        d, k, e, b = fam.arrays(values)
        rec.update(
            depths=d[0].tolist(),
            kernels=k[0].tolist(),
            expands=e[0].tolist(),
            bits=b[0].tolist(),
        )
    return rec


def parse_genome_file(raw: Any, flag: str = "--genome") -> GenomeFile:
    """A :class:`GenomeFile` from parsed ``genome.json``; one-line errors naming ``flag``."""
    import math

    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CimkitError(
            f'{flag}: not a cimkit genome file (no "format": "{FORMAT}"); give the '
            "genome.json written by `cimkit export RUN --design N --out DIR`"
        )
    fam = raw.get("family")
    if fam not in FAMILIES:
        raise CimkitError(f"{flag}: family {short_repr(fam)}; allowed: {', '.join(FAMILIES)}")
    genes = raw.get("genes")
    if not isinstance(genes, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in genes.values()
    ):
        raise CimkitError(f"{flag}: 'genes' must be an object of gene name -> finite number")
    geo = {}
    for key, lo, hi in (("resolution", 8, 2048), ("num_classes", 2, 100_000)):
        v = raw.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise CimkitError(f"{flag}: {key} {short_repr(v)}; give an integer in {lo}..{hi}")
        geo[key] = v
    hw = raw.get("hardware") or {}
    src = raw.get("source") or {}
    return GenomeFile(
        fam,
        geo["resolution"],
        geo["num_classes"],
        dict(genes),
        dict(hw) if isinstance(hw, dict) else {},
        dict(src) if isinstance(src, dict) else {},
    )


def read_genome(value: str, flag: str = "--genome") -> GenomeFile:
    """``--genome`` (a genome.json path or its JSON text) as a :class:`GenomeFile`."""
    return parse_genome_file(genome_json(value, flag), flag)


def genome_family(g: GenomeFile, flag: str = "--genome") -> Any:
    """The space family that decodes ``g``, with each gene's value as its only choice.

    The family's own constructor checks every value (odd kernels, bits 1..16, ...), and the
    gene names must be exactly the family's.
    """
    from cimkit.space.families import OfaMobileNetV2, ResNet50

    def vals(prefix: str) -> list[float]:
        return sorted({g.genes[k] for k in g.genes if k.startswith(prefix)})

    try:
        if g.family == "ofa_mobilenetv2":
            bits = sorted({v for k, v in g.genes.items() if k.split("_b")[0] in _OFA_BITS})
            fam: Any = OfaMobileNetV2(
                vals("depth_s"), vals("kernel_b"), vals("expand_b"), bits, g.resolution,
                g.num_classes,
            )  # fmt: skip
        else:
            bits = sorted({v for k, v in g.genes.items() if k.rsplit("_s", 1)[0] in _RN_BITS})
            depths = [[g.genes.get(f"depth_s{s}", 0)] for s in range(4)]
            fam = ResNet50(
                depths, vals("expand_s"), vals("width"), bits, g.resolution, g.num_classes
            )
    except SpecError as exc:
        raise SpecError(f"{flag}: {exc}") from None
    names = {d.name for d in (*fam.model_dims(), *fam.quant_dims())}
    missing, unknown = sorted(names - set(g.genes)), sorted(set(g.genes) - names)
    if missing or unknown:
        raise SpecError(
            f"{flag}: genes of {g.family} do not match (missing {short_repr(missing)}, unknown "
            f"{short_repr(unknown)}); export the design again with `cimkit export`"
        )
    return fam


_OFA_BITS = ("dw_w", "dw_a", "pw_w", "pw_a")
_RN_BITS = ("conv_w", "conv_a", "pw_w", "pw_a")


def genome_workload(g: GenomeFile, flag: str = "--genome") -> Any:
    """The :class:`~cimkit.workload.table.Workload` of ``g``: the family's network with the
    genome's per-layer weight/activation bits, row for row the layers the search evaluated."""
    fam = genome_family(g, flag)
    values = g.values()
    if g.family == "resnet50":
        return fam._workload(
            tuple(int(values[f"depth_s{s}"][0]) for s in range(4)),
            tuple(float(values[f"expand_s{s}"][0]) for s in range(4)),
            float(values["width"][0]),
            tuple(int(values[f"{b}_s{s}"][0]) for s in range(4) for b in fam.GENES),
        )
    import numpy as np

    from cimkit.workload.builtin import mobilenetv2

    d, k, e, _ = fam.arrays(values)
    la = fam.layer_arrays(values)
    mask = np.broadcast_to(la.mask, la.shape)[0]
    wb = np.broadcast_to(la.columns["weight_bits"], la.shape)[0][mask]
    ab = np.broadcast_to(la.columns["act_bits"], la.shape)[0][mask]
    # The batch layout's active slots in order are the rows of the compact network (the
    # builtin module documents this equality), so the bits carry over row by row.
    wl = mobilenetv2(d[0].tolist(), k[0].tolist(), e[0].tolist(), g.resolution, g.num_classes)
    return wl.with_bits([int(v) for v in wb], [int(v) for v in ab])


def genome_torch_model(g: GenomeFile) -> Any:
    """A torch model of ``g``'s network (torchvision layout, random weights): architecture only.

    The accuracy supernet (:mod:`cimkit.accuracy.supernet`) is trained on 28x28 Fashion-MNIST,
    not at the search's resolution, so its weights do not belong to this network.
    """
    from cimkit.workload import torch_models

    fam = genome_family(g)
    values = g.values()
    if g.family == "resnet50":
        return torch_models.resnet50(
            [int(values[f"depth_s{s}"][0]) for s in range(4)],
            float(values["width"][0]),
            [float(values[f"expand_s{s}"][0]) for s in range(4)],
            g.num_classes,
        )
    d, k, e, _ = fam.arrays(values)
    return torch_models.mobilenetv2(d[0].tolist(), k[0].tolist(), e[0].tolist(), g.num_classes)
