"""The H4H-NAS hybrid CNN/ViT space (H4H-NAS Table 1) as layer tables.

Stages in order (Table 1; stride on a stage's first block only): a stem conv, MBConv stages
(MobileNetV2 inverted residual blocks: searched width = output channels, depth, expansion ratio)
each optionally followed by a ViT stage (EfficientFormer-style blocks: searched Q/K/V width,
depth 0 allowed, MLP ratio; input channels = output channels so the residual bypasses it), and
the MBPool last stage. All convolutions 3x3; heads are 8-dimensional, heads = width / 8.

Choices the paper leaves open (docs/h4h-hardware.md, ../shared/papers/h4h-osa-notes.md A9):

* widths step by 8, expansion ratios {4, 5, 6}, MLP ratios {1.0, 1.5, 2.0};
* a ViT block: LayerNorm -> Q/K/V linear C -> 3d -> per head Q K^T (N x 8 x N), softmax, A V
  (N x N x 8) -> projection d -> C -> residual add -> LayerNorm -> MLP C -> rC (GELU) -> C ->
  residual add, over the N = H x W tokens of the stage's feature map (no positional encoding);
* MBPool: 1x1 conv C -> 6C, global average pool, linear 6C -> width, classifier;
* MBConv-1 has stride 1 and expansion 1 (as MobileNetV2's first block).
"""

from __future__ import annotations

from dataclasses import dataclass

from cimkit.errors import WorkloadError
from cimkit.specs.h4h_space import table1
from cimkit.workload.builtin import _T, _check_bits, _Net
from cimkit.workload.table import Workload

_T1 = table1()  # data/h4h/table1.yaml: Table 1 is data, read once here
WIDTH_STEP: int = _T1.width_step
EXPANDS: tuple[int, ...] = tuple(sorted({e for st in _T1.stages for e in st.mbconv.expands
                                          if e != 1}))  # fmt: skip
MLP_RATIOS: tuple[float, ...] = tuple(float(r) for r in _T1.mlp_ratios)
RESOLUTIONS: tuple[int, ...] = tuple(_T1.resolutions)
HEAD_DIM: int = _T1.head_dim


@dataclass(frozen=True)
class MBStage:
    """An MBConv stage of Table 1: width and depth ranges, expansion ratios, stride."""

    name: str
    widths: tuple[int, int]
    depths: tuple[int, int]
    expands: tuple[int, ...]
    stride: int


@dataclass(frozen=True)
class ViTStage:
    """A ViT stage of Table 1 (after the MBConv stage it is named after)."""

    name: str
    widths: tuple[int, int]
    depths: tuple[int, int]


#: Table 1, in order: (MBConv stage, ViT stage or None).
STEM_WIDTHS: tuple[int, int] = (_T1.stem.widths[0], _T1.stem.widths[1])
STAGES: tuple[tuple[MBStage, ViTStage | None], ...] = tuple(
    (
        MBStage(st.mbconv.name, (st.mbconv.widths[0], st.mbconv.widths[1]),
                (st.mbconv.depths[0], st.mbconv.depths[1]), tuple(st.mbconv.expands),
                st.mbconv.stride),
        None if st.vit is None else ViTStage(st.vit.name, (st.vit.widths[0], st.vit.widths[1]),
                                             (st.vit.depths[0], st.vit.depths[1])),
    )
    for st in _T1.stages
)  # fmt: skip
POOL_WIDTHS: tuple[int, int] = (_T1.pool.widths[0], _T1.pool.widths[1])
POOL_EXPAND: int = _T1.pool.expand


@dataclass(frozen=True)
class H4HConfig:
    """One subnet: per MBConv stage (width, depth, expand), per ViT stage (width, depth, mlp)."""

    stem: int
    mb: tuple[tuple[int, int, int], ...]
    vit: tuple[tuple[int, int, float] | None, ...]
    pool: int
    num_classes: int = 1000

    def __post_init__(self) -> None:
        if len(self.mb) != len(STAGES) or len(self.vit) != len(STAGES):
            raise WorkloadError(f"h4h_hybrid: {len(STAGES)} MBConv and ViT entries needed")
        _in_range("stem width", self.stem, STEM_WIDTHS)
        _in_range("MBPool width", self.pool, POOL_WIDTHS)
        for (st, vt), (w, dep, e), v in zip(STAGES, self.mb, self.vit, strict=True):
            _in_range(f"{st.name} width", w, st.widths)
            _in_range(f"{st.name} depth", dep, st.depths, step=1)
            if e not in st.expands:
                raise WorkloadError(f"h4h_hybrid: {st.name} expand {e} not in {st.expands}")
            if vt is None:
                if v is not None:
                    raise WorkloadError(f"h4h_hybrid: {st.name} has no ViT stage")
                continue
            if v is None:
                raise WorkloadError(f"h4h_hybrid: {vt.name} needs (width, depth, mlp_ratio)")
            _in_range(f"{vt.name} width", v[0], vt.widths)
            _in_range(f"{vt.name} depth", v[1], vt.depths, step=1)
            if v[2] not in MLP_RATIOS:
                raise WorkloadError(f"h4h_hybrid: {vt.name} mlp_ratio {v[2]} not in {MLP_RATIOS}")

    @property
    def vit_blocks(self) -> int:
        return sum(v[1] for v in self.vit if v is not None)

    @property
    def mb_blocks(self) -> int:
        return sum(m[1] for m in self.mb)

    def cnn_only(self) -> H4HConfig:
        """The same subnet with every ViT stage at depth 0 (the CNN-only space's member)."""
        vit = tuple(None if v is None else (v[0], 0, v[2]) for v in self.vit)
        return H4HConfig(self.stem, self.mb, vit, self.pool, self.num_classes)


@dataclass(frozen=True)
class H4HGeometry:
    """Where a subnet runs: ImageNet (the defaults, the paper's hardware figures) or a small
    data set (the accuracy proxy, docs/h4h-network.md).

    Attributes:
        in_channels: image channels (3 for ImageNet, 1 for Fashion-MNIST).
        stem_stride: stride of the 3x3 stem conv (Table 1: 2).
        stride_overrides: (stage name, stride) pairs replacing a stage's first-block stride,
            e.g. (("mb6_1", 1),) keeps 2 x 2 tokens for the last ViT stages at 28 x 28.
        width_scale: multiplier of every width of the subnet (1.0: Table 1's); scaled widths
            are rounded to multiples of 8 (heads stay 8-dimensional, at least one).
    """

    in_channels: int = 3
    stem_stride: int = _T1.stem.stride
    stride_overrides: tuple[tuple[str, int], ...] = ()
    width_scale: float = 1.0

    def stride(self, stage: MBStage) -> int:
        """First-block stride of ``stage`` under this geometry."""
        return dict(self.stride_overrides).get(stage.name, stage.stride)

    @property
    def total_stride(self) -> int:
        t = self.stem_stride
        for st, _ in STAGES:
            t *= self.stride(st)
        return t


def scaled(width: int, scale: float) -> int:
    """``width`` x ``scale`` rounded to a multiple of 8 (at least 8); ``width`` when scale is 1."""
    if scale == 1.0:
        return int(width)
    return max(WIDTH_STEP, int(round(width * scale / WIDTH_STEP)) * WIDTH_STEP)


def mlp_width(ratio: float, channels: int) -> int:
    """Hidden width of a ViT block's MLP: ratio x channels rounded to a multiple of 8."""
    return max(WIDTH_STEP, int(round(ratio * channels / WIDTH_STEP)) * WIDTH_STEP)


def _in_range(what: str, value: int, bounds: tuple[int, int], step: int = WIDTH_STEP) -> None:
    lo, hi = bounds
    if not lo <= value <= hi or (value - lo) % step:
        raise WorkloadError(
            f"h4h_hybrid: {what} {value} not in {lo}..{hi} (step {step}); Table 1's range"
        )


def h4h_config(which: str = "max") -> H4HConfig:
    """The largest (``max``) or smallest (``min``) subnet of Table 1."""
    pick = 1 if which == "max" else 0
    if which not in ("max", "min"):
        raise WorkloadError(f"h4h_hybrid: subnet {which!r}; use 'max' or 'min'")
    mb = tuple((st.widths[pick], st.depths[pick], max(st.expands) if pick else min(st.expands))
               for st, _ in STAGES)  # fmt: skip
    mlp = MLP_RATIOS[-1 if pick else 0]
    vit = tuple(None if vt is None else (vt.widths[pick], vt.depths[pick], mlp)
                for _, vt in STAGES)  # fmt: skip
    return H4HConfig(STEM_WIDTHS[pick], mb, vit, POOL_WIDTHS[pick])


class _HybridNet(_Net):
    """_Net with the token-wise rows of transformer blocks (tokens x features layout)."""

    def tok_norm(self, name: str, x: _T) -> _T:
        n = x.h * x.w
        self._row(name, "norm", (x.src,), in_channels=x.c, out_channels=x.c, in_h=n, out_h=n)
        return _T(name, x.c, x.h, x.w)

    def tok_linear(self, name: str, x: _T, out_c: int) -> _T:
        n = x.h * x.w
        self._row(name, "linear", (x.src,), in_channels=x.c, out_channels=out_c, in_h=n, out_h=n)
        return _T(name, out_c, x.h, x.w)

    def tok_act(self, name: str, x: _T) -> _T:
        n = x.h * x.w
        self._row(name, "act", (x.src,), in_channels=x.c, out_channels=x.c, in_h=n, out_h=n)
        return _T(name, x.c, x.h, x.w)

    def tok_add(self, name: str, a: _T, b: _T) -> _T:
        n = a.h * a.w
        self._row(name, "eltwise", (a.src, b.src), in_channels=a.c, out_channels=a.c, in_h=n,
                  out_h=n)  # fmt: skip
        return _T(name, a.c, a.h, a.w)

    def attention(self, p: str, qkv: _T, width: int) -> _T:
        n = qkv.h * qkv.w
        heads = width // HEAD_DIM
        self._row(f"{p}.matmul", "matmul", (qkv.src,), in_channels=HEAD_DIM, out_channels=n,
                  in_h=n, out_h=n, repeat=heads)  # fmt: skip
        self._row(f"{p}.softmax", "softmax", (f"{p}.matmul",), in_channels=heads,
                  out_channels=heads, in_h=n, in_w=n, out_h=n, out_w=n)  # fmt: skip
        self._row(f"{p}.matmul_1", "matmul", (f"{p}.softmax", qkv.src), in_channels=n,
                  out_channels=HEAD_DIM, in_h=n, out_h=n, repeat=heads)  # fmt: skip
        return _T(f"{p}.matmul_1", width, qkv.h, qkv.w)


def h4h_table(
    cfg: H4HConfig, resolution: int = 224, weight_bits: int = 8, act_bits: int = 8,
    name: str = "h4h_hybrid", geometry: H4HGeometry | None = None,
) -> Workload:  # fmt: skip
    """Layer table of one H4H-NAS subnet at ``resolution`` (module docstring); row names are
    the module paths of its torch twin (:class:`cimkit.workload.h4h_torch.H4HNet`)."""
    _check_bits(weight_bits, act_bits)
    g = geometry or H4HGeometry()
    if resolution < g.total_stride:
        raise WorkloadError(
            f"h4h_hybrid: resolution {resolution} < the total stride {g.total_stride}"
        )
    net = _HybridNet(weight_bits, act_bits)
    x = _T("", g.in_channels, resolution, resolution)
    x = net.act("stem.act", net.conv("stem.conv", x, scaled(cfg.stem, g.width_scale), 3,
                                     g.stem_stride))  # fmt: skip
    for (st, vt), (width, depth, expand), v in zip(STAGES, cfg.mb, cfg.vit, strict=True):
        cout = scaled(width, g.width_scale)
        for b in range(depth):
            p = f"{st.name}.{b}"
            stride = g.stride(st) if b == 0 else 1
            inp = x
            mid = x.c * expand
            if expand != 1:
                x = net.act(f"{p}.expand.act", net.conv(f"{p}.expand.conv", x, mid, 1))
            x = net.act(f"{p}.dw.act", net.conv(f"{p}.dw.conv", x, mid, 3, stride, groups=mid))
            x = net.conv(f"{p}.project.conv", x, cout, 1)
            if stride == 1 and inp.c == cout:
                x = net.add(f"{p}.add", inp, x)
        if vt is None or v is None:
            continue
        vwidth, vdepth, mlp = scaled(v[0], g.width_scale), v[1], v[2]
        for b in range(vdepth):
            p = f"{vt.name}.{b}"
            inp = x
            h = net.tok_norm(f"{p}.norm1", x)
            qkv = net.tok_linear(f"{p}.qkv", h, 3 * vwidth)
            att = net.attention(f"{p}.attn", qkv, vwidth)
            h = net.tok_linear(f"{p}.proj", att, x.c)
            x = net.tok_add(f"{p}.add", inp, h)
            inp = x
            h = net.tok_norm(f"{p}.norm2", x)
            h = net.tok_act(f"{p}.mlp.act", net.tok_linear(f"{p}.mlp.fc1", h,
                                                           mlp_width(mlp, x.c)))  # fmt: skip
            h = net.tok_linear(f"{p}.mlp.fc2", h, x.c)
            x = net.tok_add(f"{p}.add_1", inp, h)
    x = net.act("pool.expand.act", net.conv("pool.expand.conv", x, POOL_EXPAND * x.c, 1))
    x = net.global_pool("pool.avg", x)
    x = net.act("pool.act", net.linear("pool.fc", x, scaled(cfg.pool, g.width_scale)))
    net.linear("classifier", x, cfg.num_classes)
    return net.workload(name)


def h4h_hybrid(
    subnet: str = "max", resolution: int = 224, weight_bits: int = 8, act_bits: int = 8,
    cnn_only: bool = False,
) -> Workload:  # fmt: skip
    """The largest or smallest H4H-NAS subnet (``subnet`` 'max' / 'min'); ``cnn_only`` drops its
    ViT blocks (the CNN-only space's member)."""
    if resolution not in RESOLUTIONS and resolution < 32:
        raise WorkloadError(f"h4h_hybrid: resolution {resolution}; Table 1: {RESOLUTIONS}")
    cfg = h4h_config(subnet)
    if cnn_only:
        cfg = cfg.cnn_only()
    return h4h_table(cfg, resolution, weight_bits, act_bits, name=f"h4h_{subnet}")
