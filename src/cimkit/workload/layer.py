"""The layer table: one row per operator of a network, the contract between importers and models.

Every importer (built-in generators, torch.fx, ONNX) produces :class:`Layer` rows through
:func:`make_layer`, so the derived columns (MACs, weights, element counts, the op kind) are computed
in one place and the three importers agree by construction.

Conventions (all counts are per inference of one input sample):

* ``conv``/``dwconv``/``pwconv``: ``in_channels`` C, ``out_channels`` K, kernel R x S, ``groups``.
  ``dwconv`` is a grouped conv with groups == C == K (channel multiplier 1); ``pwconv`` is a 1x1,
  groups == 1 conv. Anything else with groups > 1 stays ``conv`` (grouped).
* ``linear``: ``in_channels`` = in features, ``out_channels`` = out features, kernel 1x1,
  ``out_h`` = number of tokens (input vectors), ``out_w`` = 1.
* ``matmul``: two dynamic operands A[M, Kr] x B[Kr, N] as in attention. ``in_channels`` = Kr (the
  reduction), ``out_channels`` = N, ``out_h`` = M, ``repeat`` = number of heads/batched matrices.
  It has no stationary weights (``weights`` = 0): the cost model executes it on the tiles' digital
  vector units, because writing a dynamic operand into non-volatile cells per inference is not
  viable.
* non-MAC ops (``pool``, ``eltwise``, ``softmax``, ``norm``, ``act``): ``ops`` counts elementary
  operations (one per output element and reduction step, see :func:`make_layer`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Literal

MAC_OPS: tuple[str, ...] = ("conv", "dwconv", "pwconv", "linear", "matmul")
NON_MAC_OPS: tuple[str, ...] = ("pool", "eltwise", "softmax", "norm", "act")
OPS: tuple[str, ...] = MAC_OPS + NON_MAC_OPS

OpKind = Literal[
    "conv", "dwconv", "pwconv", "linear", "matmul", "pool", "eltwise", "softmax", "norm", "act"
]


@dataclass(frozen=True, slots=True)
class Layer:
    """One operator of a network. Shapes are per sample; bit widths are the quantization policy.

    Attributes:
        name: unique name within the workload (importers use the PyTorch module path).
        op: operator kind, one of :data:`OPS`.
        in_channels, out_channels: C and K (see module docstring for linear/matmul).
        kernel_h, kernel_w: R and S; 1 for linear, matmul and elementwise ops.
        stride: spatial stride (same in both directions).
        groups: convolution groups (C for depthwise).
        in_h, in_w: input feature-map height and width.
        out_h, out_w: output height and width (tokens x 1 for linear/matmul).
        repeat: number of independent copies (heads of a batched matmul); 1 otherwise.
        weight_bits, act_bits: quantization of the stationary weights and of the input activations.
        inputs: names of the layers whose outputs this layer reads ("" for the network input).
        macs: multiply-accumulates per inference.
        weights: number of stationary weight values (0 for matmul and non-MAC ops).
        in_elems, out_elems: activation elements read and written (per operand for matmul: A + B).
        ops: elementary non-MAC operations (0 for MAC layers).
    """

    name: str
    op: OpKind
    in_channels: int
    out_channels: int
    kernel_h: int
    kernel_w: int
    stride: int
    groups: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    repeat: int
    weight_bits: int
    act_bits: int
    inputs: tuple[str, ...] = field(default=())
    macs: int = 0
    weights: int = 0
    in_elems: int = 0
    out_elems: int = 0
    ops: int = 0

    @property
    def is_mac(self) -> bool:
        """True for layers executed on crossbars or as dense MACs."""
        return self.op in MAC_OPS

    def as_row(self) -> dict[str, object]:
        """A flat dict for a tidy table; ``inputs`` joined with ';'."""
        row = asdict(self)
        row["inputs"] = ";".join(self.inputs)
        return row


LAYER_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Layer))
#: Columns that identify a layer's computation; two importers agree when these match row by row.
SHAPE_COLUMNS: tuple[str, ...] = tuple(c for c in LAYER_COLUMNS if c not in ("name", "inputs"))


def classify_conv(
    in_channels: int, out_channels: int, kernel_h: int, kernel_w: int, groups: int
) -> str:
    """The op kind of a convolution: 'dwconv', 'pwconv' or 'conv' (the rule all importers use)."""
    if groups > 1 and groups == in_channels == out_channels:
        return "dwconv"
    if groups == 1 and kernel_h == 1 and kernel_w == 1:
        return "pwconv"
    return "conv"


def make_layer(
    name: str,
    op: str,
    *,
    in_channels: int,
    out_channels: int,
    in_h: int = 1,
    in_w: int = 1,
    out_h: int = 1,
    out_w: int = 1,
    kernel_h: int = 1,
    kernel_w: int = 1,
    stride: int = 1,
    groups: int = 1,
    repeat: int = 1,
    weight_bits: int = 8,
    act_bits: int = 8,
    inputs: tuple[str, ...] | list[str] = (),
) -> Layer:
    """Build a :class:`Layer` and derive MACs, weights, element counts and op counts.

    ``op`` may be 'conv' for any convolution: it is re-classified with :func:`classify_conv`.
    Non-MAC ops count ``ops`` as: pool = out elements x window; eltwise/act = out elements;
    softmax = 3 per element (exp, sum, divide); norm = 4 per element (mean, var, scale, shift).
    """
    from cimkit.errors import WorkloadError

    if op in ("conv", "dwconv", "pwconv"):
        op = classify_conv(in_channels, out_channels, kernel_h, kernel_w, groups)
    if op not in OPS:
        raise WorkloadError(f"layer {name!r}: unknown op {op!r}; allowed: {', '.join(OPS)}")
    dims = dict(
        in_channels=in_channels,
        out_channels=out_channels,
        in_h=in_h,
        in_w=in_w,
        out_h=out_h,
        out_w=out_w,
        kernel_h=kernel_h,
        kernel_w=kernel_w,
        stride=stride,
        groups=groups,
        repeat=repeat,
    )
    for key, value in dims.items():
        if int(value) < 1:
            raise WorkloadError(f"layer {name!r}: {key} must be >= 1, got {value}")
    if in_channels % groups or out_channels % groups:
        raise WorkloadError(
            f"layer {name!r}: groups={groups} must divide in_channels={in_channels} "
            f"and out_channels={out_channels}"
        )
    for key, value in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if not 1 <= int(value) <= 16:
            raise WorkloadError(f"layer {name!r}: {key} must be in 1..16, got {value}")

    positions = out_h * out_w
    out_elems = out_channels * positions * repeat
    macs = weights = ops = 0
    if op in ("conv", "dwconv", "pwconv", "linear"):
        weights = out_channels * (in_channels // groups) * kernel_h * kernel_w
        macs = weights * positions * repeat
        # A linear layer reads one input vector per token (out_h x out_w tokens).
        spatial = positions if op == "linear" else in_h * in_w
        in_elems = in_channels * spatial * repeat
    elif op == "matmul":
        macs = out_h * in_channels * out_channels * repeat
        in_elems = (out_h * in_channels + in_channels * out_channels) * repeat
    else:
        # An elementwise op reads every operand (a residual add reads two tensors).
        operands = max(1, len(inputs)) if op == "eltwise" else 1
        in_elems = in_channels * in_h * in_w * repeat * operands
        per_elem = {"pool": kernel_h * kernel_w, "eltwise": 1, "act": 1, "softmax": 3, "norm": 4}
        ops = out_elems * per_elem[op]
    return Layer(
        name=name,
        op=op,
        weight_bits=int(weight_bits),
        act_bits=int(act_bits),
        inputs=tuple(inputs),
        macs=int(macs),
        weights=int(weights),
        in_elems=int(in_elems),
        out_elems=int(out_elems),
        ops=int(ops),
        **{k: int(v) for k, v in dims.items()},
    )
