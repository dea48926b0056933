"""Genomes and choices of the H4H-NAS hybrid CNN/ViT space (Table 1), without torch.

:class:`H4HGenome` is one subnet of Table 1 at one of its input resolutions;
:class:`H4HSupernetConfig` holds the proxy's geometry (the data set's resolution, a width
scale for CPU training, strides) and the regularisation. The supernet
(:mod:`cimkit.accuracy.h4h_supernet`), the training recipes and the search share them; the
hardware side builds a genome's layer table at the paper's ImageNet resolution with
:meth:`H4HGenome.table` and the proxy's with :meth:`H4HSupernetConfig.table`.

The CNN-only space is the subset with every ViT depth 0 (:meth:`H4HGenome.cnn_only`): its
genomes *are* hybrid genomes, so the subset relation of the paper holds by construction and the
two layer tables are identical (a test).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from cimkit.workload.h4h import (
    MLP_RATIOS,
    POOL_WIDTHS,
    RESOLUTIONS,
    STAGES,
    STEM_WIDTHS,
    WIDTH_STEP,
    H4HConfig,
    H4HGeometry,
    h4h_table,
)
from cimkit.workload.table import Workload

MB = tuple[int, int, int]  # (width, depth, expand)
VIT = tuple[int, int, float]  # (width, depth, mlp ratio)


def _widths(bounds: tuple[int, int]) -> tuple[int, ...]:
    return tuple(range(bounds[0], bounds[1] + 1, WIDTH_STEP))


def _depths(bounds: tuple[int, int]) -> tuple[int, ...]:
    return tuple(range(bounds[0], bounds[1] + 1))


@dataclass(frozen=True)
class H4HGenome:
    """One subnet of the hybrid space.

    Attributes:
        stem: stem conv width.
        mb: per MBConv stage of Table 1 (10): (width, depth, expansion ratio).
        vit: per MBConv stage: (width, depth, MLP ratio) of the ViT stage after it, or None
            where Table 1 has none (mb1, mb2).
        pool: MBPool width.
        resolution: input side at ImageNet scale (192, 224, 256 or 288).
    """

    stem: int
    mb: tuple[MB, ...]
    vit: tuple[VIT | None, ...]
    pool: int
    resolution: int = 224

    def config(self, num_classes: int = 1000) -> H4HConfig:
        return H4HConfig(self.stem, self.mb, self.vit, self.pool, num_classes)

    def table(self, weight_bits: int = 8, act_bits: int = 8) -> Workload:
        """Layer table at the paper's ImageNet geometry (3 channels, 1000 classes)."""
        return h4h_table(self.config(), self.resolution, weight_bits, act_bits, name="h4h_genome")

    def cnn_only(self) -> H4HGenome:
        """The same subnet with every ViT depth 0: the CNN-only space's member."""
        return replace(self, vit=self.config().cnn_only().vit)

    @property
    def is_cnn_only(self) -> bool:
        return self.vit_blocks == 0

    @property
    def vit_blocks(self) -> int:
        return self.config().vit_blocks

    @property
    def mb_blocks(self) -> int:
        return self.config().mb_blocks

    def canonical(self) -> H4HGenome:
        """Inactive genes (width and MLP ratio of a ViT stage of depth 0; width and expansion
        of an MBConv stage of depth 0) set to their stage's minimum: genomes that build the
        same network share one canonical form."""
        mb = tuple(
            m if m[1] > 0 else (st.widths[0], 0, min(st.expands))
            for (st, _), m in zip(STAGES, self.mb, strict=True)
        )
        vit = tuple(
            v if (v is None or v[1] > 0 or vt is None) else (vt.widths[0], 0, MLP_RATIOS[0])
            for (_, vt), v in zip(STAGES, self.vit, strict=True)
        )
        return replace(self, mb=mb, vit=vit)

    def to_dict(self) -> dict:
        return {
            "stem": self.stem,
            "mb": [list(m) for m in self.mb],
            "vit": [None if v is None else [v[0], v[1], v[2]] for v in self.vit],
            "pool": self.pool,
            "resolution": self.resolution,
        }

    @classmethod
    def from_dict(cls, d: dict) -> H4HGenome:
        return cls(
            int(d["stem"]),
            tuple((int(m[0]), int(m[1]), int(m[2])) for m in d["mb"]),
            tuple(None if v is None else (int(v[0]), int(v[1]), float(v[2])) for v in d["vit"]),
            int(d["pool"]),
            int(d.get("resolution", 224)),
        )

    def key(self) -> str:
        """Canonical text of what a measurement depends on (inactive genes masked)."""
        return json.dumps(self.canonical().to_dict(), separators=(",", ":"))


@dataclass(frozen=True)
class SpaceChoices:
    """The choices of every gene of a (sub-)space of Table 1 (a ``kind: h4h_hybrid`` YAML)."""

    stem: tuple[int, ...]
    mb: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...]
    vit: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]] | None, ...]
    pool: tuple[int, ...]
    resolutions: tuple[int, ...]

    def contains(self, g: H4HGenome) -> str | None:
        """None when ``g`` is in the space, else the first gene outside it (its name). Genes
        of a stage of depth 0 (its width, expansion or MLP ratio) build nothing: not checked."""
        names_values = list(zip(gene_choices(self), genome_values(g, canonical=False),
                                strict=True))  # fmt: skip
        depth = {n.rsplit(".", 1)[0]: v for (n, _), v in names_values if n.endswith(".depth")}
        for (name, choices), v in names_values:
            stage, _, gene = name.rpartition(".")
            if stage and gene != "depth" and depth.get(stage, 1) == 0:
                continue
            if not any(abs(v - c) < 1e-9 for c in choices):
                return name
        return None


def space_choices(space: object | None = None) -> SpaceChoices:
    """The choices of ``space`` (a :class:`~cimkit.specs.h4h_space.H4HSpaceSpec`; None: Table
    1). A CNN-only space has ViT depth 0 only."""
    if space is None:
        mb = tuple((_widths(st.widths), _depths(st.depths), tuple(st.expands)) for st, _ in STAGES)
        vit = tuple(None if vt is None else (_widths(vt.widths), _depths(vt.depths), MLP_RATIOS)
                    for _, vt in STAGES)  # fmt: skip
        return SpaceChoices(_widths(STEM_WIDTHS), mb, vit, _widths(POOL_WIDTHS), RESOLUTIONS)
    sp = space  # H4HSpaceSpec
    mlp = tuple(float(r) for r in sp.mlp_ratios)  # type: ignore[attr-defined]
    mb, vit = [], []
    for st in sp.stages:  # type: ignore[attr-defined]
        m = st.mbconv
        mb.append((_widths(tuple(m.widths)), _depths(tuple(m.depths)), tuple(m.expands)))
        if st.vit is None:
            vit.append(None)
            continue
        d = (0,) if sp.cnn_only else _depths(tuple(st.vit.depths))  # type: ignore[attr-defined]
        vit.append((_widths(tuple(st.vit.widths)), d, mlp))
    return SpaceChoices(_widths(tuple(sp.stem.widths)), tuple(mb), tuple(vit),  # type: ignore[attr-defined]
                        _widths(tuple(sp.pool.widths)), tuple(sp.resolutions))  # type: ignore[attr-defined]  # fmt: skip


def gene_choices(space: SpaceChoices | None = None) -> list[tuple[str, tuple[float, ...]]]:
    """Per gene of a genome, (name, choices), in encoding order (``space``: Table 1)."""
    c = space or space_choices()
    out: list[tuple[str, tuple[float, ...]]] = [("stem", tuple(map(float, c.stem)))]
    for (st, vt), (w, d, e), v in zip(STAGES, c.mb, c.vit, strict=True):
        out += [
            (f"{st.name}.width", tuple(map(float, w))),
            (f"{st.name}.depth", tuple(map(float, d))),
        ]
        out += [(f"{st.name}.expand", tuple(float(x) for x in e))]
        if vt is not None and v is not None:
            out += [(f"{vt.name}.width", tuple(map(float, v[0]))),
                    (f"{vt.name}.depth", tuple(map(float, v[1]))),
                    (f"{vt.name}.mlp", tuple(v[2]))]  # fmt: skip
    out += [("pool", tuple(map(float, c.pool))),
            ("resolution", tuple(float(r) for r in c.resolutions))]  # fmt: skip
    return out


def genome_values(g: H4HGenome, canonical: bool = True) -> list[float]:
    """The genes of ``g`` in :func:`gene_choices` order (``canonical``: inactive genes set to
    their minimum, see :meth:`H4HGenome.canonical`)."""
    c = g.canonical() if canonical else g
    out: list[float] = [c.stem]
    for (_, vt), m, v in zip(STAGES, c.mb, c.vit, strict=True):
        out += [m[0], m[1], m[2]]
        if vt is not None and v is not None:
            out += [v[0], v[1], v[2]]
    return [*out, c.pool, c.resolution]


def genome_from_values(values: list[float]) -> H4HGenome:
    """Inverse of :func:`genome_values` (``canonical=False``)."""
    it = iter(values)
    stem = int(next(it))
    mb, vit = [], []
    for _, vt in STAGES:
        mb.append((int(next(it)), int(next(it)), int(next(it))))
        vit.append(None if vt is None else (int(next(it)), int(next(it)), float(next(it))))
    pool, res = int(next(it)), int(next(it))
    return H4HGenome(stem, tuple(mb), tuple(vit), pool, res)


def encode(genomes: list[H4HGenome]) -> np.ndarray:
    """(N, F) predictor features: each gene with more than one choice scaled to [0, 1] over its
    choices (0 for a stage's inactive genes, which canonical() sets to the minimum), plus one
    flag per ViT stage that is active (depth > 0)."""
    ch = gene_choices()
    lo = np.array([min(c) for _, c in ch])
    span = np.array([max(c) - min(c) or 1.0 for _, c in ch])
    vals = np.array([genome_values(g) for g in genomes], dtype=np.float64).reshape(-1, len(ch))
    varying = np.array([len(c) > 1 for _, c in ch])  # mb1 / mb7 expansion have one choice
    feats = ((vals - lo) / span)[:, varying]
    vit_depth = [i for i, (n, _) in enumerate(ch) if n.startswith("vit") and n.endswith("depth")]
    flags = (vals[:, vit_depth] > 0).astype(np.float64)
    return np.concatenate([feats, flags], axis=1)


@dataclass(frozen=True)
class H4HSupernetConfig:
    """The proxy a supernet trains at, and its regularisation (stored in checkpoints).

    Attributes:
        width_scale: multiplier of every width (0.5: CPU-sized; heads stay 8-dimensional).
        res_divisor: proxy input side = genome resolution / this (8: 192..288 -> 24..36, the
            notes' scaled resolution set for 28 x 28 Fashion-MNIST).
        in_channels: image channels (1).
        num_classes: classifier outputs (10).
        stem_stride: stem conv stride (2, as Table 1).
        stride_overrides: stage first-block strides replaced at the proxy: mb6_1 stride 1
            keeps 2 x 2 tokens (not 1) for ViT-6/7 at 28 x 28.
        dropout: before the classifier (training only; the paper: 0.2).
        drop_connect: maximum stochastic-depth rate of residual branches, growing with the
            block index (the paper: 0.2).
        resolutions: genome resolutions the supernet samples.
    """

    width_scale: float = 0.5
    res_divisor: int = 8
    in_channels: int = 1
    num_classes: int = 10
    stem_stride: int = 2
    stride_overrides: tuple[tuple[str, int], ...] = (("mb6_1", 1),)
    dropout: float = 0.2
    drop_connect: float = 0.2
    resolutions: tuple[int, ...] = field(default=RESOLUTIONS)

    def geometry(self) -> H4HGeometry:
        return H4HGeometry(self.in_channels, self.stem_stride, self.stride_overrides,
                           self.width_scale)  # fmt: skip

    def proxy_resolution(self, g: H4HGenome) -> int:
        return g.resolution // self.res_divisor

    def table(self, g: H4HGenome) -> Workload:
        """Layer table of ``g``'s subnet at the proxy (what the supernet computes)."""
        return h4h_table(g.config(self.num_classes), self.proxy_resolution(g),
                         name="h4h_proxy", geometry=self.geometry())  # fmt: skip

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stride_overrides"] = [list(p) for p in self.stride_overrides]
        d["resolutions"] = list(self.resolutions)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> H4HSupernetConfig:
        d = dict(d)
        d["stride_overrides"] = tuple((str(a), int(b)) for a, b in d["stride_overrides"])
        d["resolutions"] = tuple(int(r) for r in d["resolutions"])
        return cls(**d)

    # ------------------------------------------------------------------ genomes
    def largest(self) -> H4HGenome:
        mb = tuple((st.widths[1], st.depths[1], max(st.expands)) for st, _ in STAGES)
        vit = tuple(None if vt is None else (vt.widths[1], vt.depths[1], max(MLP_RATIOS))
                    for _, vt in STAGES)  # fmt: skip
        return H4HGenome(STEM_WIDTHS[1], mb, vit, POOL_WIDTHS[1], max(self.resolutions))

    def smallest(self) -> H4HGenome:
        mb = tuple((st.widths[0], st.depths[0], min(st.expands)) for st, _ in STAGES)
        vit = tuple(None if vt is None else (vt.widths[0], vt.depths[0], min(MLP_RATIOS))
                    for _, vt in STAGES)  # fmt: skip
        return H4HGenome(STEM_WIDTHS[0], mb, vit, POOL_WIDTHS[0], min(self.resolutions))

    def random(
        self, rng: np.random.Generator, cnn_only: bool = False, space: SpaceChoices | None = None
    ) -> H4HGenome:
        """A uniformly random genome (every gene uniform over its choices in ``space``, default
        Table 1; resolutions also among this supernet's); ``cnn_only``: all ViT depths 0."""
        c = space or space_choices()

        def pick(values: tuple) -> float:
            return values[int(rng.integers(len(values)))]

        mb, vit = [], []
        for (w, dep, e), v in zip(c.mb, c.vit, strict=True):
            mb.append((int(pick(w)), int(pick(dep)), int(pick(e))))
            if v is None:
                vit.append(None)
                continue
            d = 0 if cnn_only else int(pick(v[1]))
            vit.append((int(pick(v[0])), d, float(pick(v[2]))))
        res = tuple(r for r in self.resolutions if r in c.resolutions) or self.resolutions
        return H4HGenome(int(pick(c.stem)), tuple(mb), tuple(vit), int(pick(c.pool)),
                         int(pick(res)))  # fmt: skip

    def sandwich(
        self, rng: np.random.Generator, cnn_only: bool = False, n_random: int = 2
    ) -> list[H4HGenome]:
        """Largest, smallest and ``n_random`` random subnets (the sandwich rule; the largest
        first, the teacher of in-place distillation); in the CNN-only space with ``cnn_only``."""
        big = self.largest().cnn_only() if cnn_only else self.largest()
        return [big, self.smallest()] + [self.random(rng, cnn_only) for _ in range(n_random)]


__all__ = [
    "H4HGenome",
    "SpaceChoices",
    "space_choices",
    "H4HSupernetConfig",
    "encode",
    "gene_choices",
    "genome_from_values",
    "genome_values",
]
