"""Lowering of a workload to what the generated hardware runs, and the numpy golden model.

A network is lowered to *ops* in table (execution) order; every op produces one tensor, named
after the op, consumed by later ops:

* **MAC ops** (``linear``, ``pwconv``, ``conv``, ``dwconv`` and grouped ``conv``) run on the
  pseudo-PIM arrays as a matrix multiply over im2col input vectors.
* **Pool ops** (``pool`` rows: max or average, global pooling included) run on the vector tiles.
* ``act`` rows become the ReLU flag of the op they follow; a residual ``eltwise`` add is *fused*
  into one of its two operands' MAC op (the later one in the table, whose only consumer is the
  add): that op adds the other operand (its *skip* tensor) to its requantized output, then applies
  the ReLU of an ``act`` after the add.

Conventions shared with the hardware:

* An activation tensor is stored position-major: one buffer word per spatial position (or token)
  holding all channels, i.e. shape (H, W, C).
* The input vector of output position (oy, ox) of a MAC op is its im2col window in ``(ky, kx, c)``
  order: element ``(ky * kw + kx) * C + c`` = input[oy*s - pad + ky, ox*s - pad + kx, c], zero
  outside the map (symmetric zero padding), over the channels the op (or piece) reads. A grouped
  conv's weight matrix holds zeros outside each output channel's group; a piece holding groups
  ``[g0, g1)`` reads only their input channels ``[g0 * Cg, g1 * Cg)`` (``Cg = C / groups``), so
  a depthwise piece is a ``kh * kw * n`` x ``n`` matrix with one nonzero per row.
* A ``linear`` layer acts on every position (token) of its input with a 1x1 window. A ``linear``
  whose in_features equal C*H*W of a producer with H*W > 1 *flattens* it (torch's ``(C, H, W)``
  flatten order): it becomes a conv with an H x W window and one output position, with its
  weight columns permuted accordingly.
* MAC requantization: ``y = sat(relu(acc) >> shift)`` (arithmetic shift = floor, saturation to the
  signed ``act_bits`` range). With a fused add: ``y = sat(relu(sat(acc >> shift) + skip))``.
* Max pooling: the largest element of the window (padding never wins); average pooling:
  ``sat(relu((sum * mul) >> sh))`` over the whole window (padding counts as zeros, torch's
  ``count_include_pad``); ``mul, sh`` = ``1, log2(k*k)`` for a power-of-two window (the exact
  floor average), else ``round(2**sh / (k*k))`` with ``sh = 15 + ceil(log2(k*k))``. Integers
  throughout; no bias.
* ReLU: an op followed by an ``act`` row gets ReLU; a workload without any ``act`` row gets ReLU
  after every MAC op but the last (the convention of hand-written chains).

Rejected with a :class:`WorkloadError` naming the layer: ``matmul``, ``softmax``, ``norm``,
element-wise ops other than a two-operand add of equal shapes, ``repeat`` > 1, a pool reading the
network input, a tensor consumed both before and after its activation.

Input and output layouts seen by users: a conv-first network takes ``(C, H, W)``; a linear-first
network takes ``(tokens, features)`` (1-D when tokens == 1). Outputs are ``(K, OH, OW)`` for a conv
or pool last op and ``(tokens, K)`` for a linear last layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cimkit.errors import WorkloadError
from cimkit.pimhls.plan import piece_range
from cimkit.workload import Layer, Workload

#: Ops of the generated hardware that run on the pseudo-PIM arrays.
MAC_OPS = ("linear", "pwconv", "conv", "dwconv")


@dataclass(frozen=True)
class LayerGeometry:
    """How one op runs: its input tensor, window and output tensor (position-major).

    Attributes:
        name: layer name (also the name of the tensor it produces).
        op: 'linear', 'pwconv', 'conv', 'dwconv' (MAC ops) or 'pool'.
        producer: tensor read through the window, None for the network input.
        in_h, in_w, in_c: input tensor as stored: in_h x in_w positions of in_c channels.
        kh, kw, stride, pad: window (kernel) size, stride and symmetric zero padding.
        out_h, out_w, out_c: output positions and channels.
        flatten: a linear layer that flattens a (C, H, W) producer (window = whole map).
        weight_bits, act_bits: quantization of weights and activations.
        groups: convolution groups (1 for dense layers; C for depthwise).
        skip: tensor added to the requantized output (a fused residual add), or None.
        add: name of the fused ``eltwise`` row (empty when none).
        pool: 'max' or 'avg' for a pool op ('' otherwise).
        pool_mul, pool_shift: average pooling's ``(sum * mul) >> shift``.
        default_relu: ReLU unless the caller overrides it (module docstring).
    """

    name: str
    op: str
    producer: str | None
    in_h: int
    in_w: int
    in_c: int
    kh: int
    kw: int
    stride: int
    pad: int
    out_h: int
    out_w: int
    out_c: int
    flatten: bool
    weight_bits: int
    act_bits: int
    groups: int = 1
    skip: str | None = None
    add: str = ""
    pool: str = ""
    pool_mul: int = 1
    pool_shift: int = 0
    default_relu: bool = False

    @property
    def is_mac(self) -> bool:
        """True for ops on the arrays (weights), False for pools."""
        return self.op in MAC_OPS

    @property
    def cin_group(self) -> int:
        """Input channels per convolution group."""
        return self.in_c // self.groups

    @property
    def cout_group(self) -> int:
        """Output channels per convolution group."""
        return self.out_c // self.groups

    @property
    def in_len(self) -> int:
        """Length of one input vector of the whole layer (rows of its weight matrix)."""
        return self.kh * self.kw * self.in_c

    @property
    def vectors(self) -> int:
        """Input vectors (output positions) per inference."""
        return self.out_h * self.out_w

    @property
    def in_positions(self) -> int:
        return self.in_h * self.in_w

    @property
    def split_units(self) -> int:
        """What pieces split: convolution groups of a grouped conv, else output channels."""
        return self.groups if self.groups > 1 else self.out_c


@dataclass(frozen=True)
class PieceSlice:
    """The part of a MAC layer one piece holds (pieces split output channels or whole groups,
    or, with ``axis == 'in'``, input channels: a partial sum of every output channel).

    Attributes:
        out_lo, out_hi: output channels ``[out_lo, out_hi)`` (all of them for an input piece).
        in_lo, in_hi: input channels the piece reads (all of them unless grouped or an input
            piece).
        kk: window elements (kh * kw).
        axis: 'out' or 'in' (the plan's ``LayerPlacement.split_axis``).
        f_lo, f_hi: in-features ``[f_lo, f_hi)`` (torch's ``(C, H, W)`` order) of an input
            piece of a flattening linear layer, whose piece reads the channels covering them
            and holds zero weights for the other features of those channels; 0, 0 otherwise.
    """

    out_lo: int
    out_hi: int
    in_lo: int
    in_hi: int
    kk: int = 1
    axis: str = "out"
    f_lo: int = 0
    f_hi: int = 0

    @property
    def width(self) -> int:
        return self.out_hi - self.out_lo

    @property
    def in_len(self) -> int:
        """Rows of the piece's weight matrix (length of its input vectors)."""
        return self.kk * (self.in_hi - self.in_lo)


def input_split_units(geom: LayerGeometry) -> int:
    """Units an input-channel split cuts (the optimizer's ``input_split_units``): input channels,
    in-features (``C*H*W``) of a flattening linear layer; 0 for a grouped conv."""
    if geom.groups > 1:
        return 0
    return geom.in_c * geom.in_h * geom.in_w if geom.flatten else geom.in_c


def piece_slice(geom: LayerGeometry, piece: int, pieces: int, axis: str = "out") -> PieceSlice:
    """Channels and weight rows of piece ``piece`` of ``pieces`` along ``axis`` (the optimizer's
    split rule: ``[i*U//n, (i+1)*U//n)`` of output channels / groups, or of input channels)."""
    if axis == "in":
        units = input_split_units(geom)
        if not 0 <= piece < pieces or pieces > units:
            raise WorkloadError(
                f"layer {geom.name!r}: input piece {piece} of {pieces} is invalid (at most "
                f"{units} input-channel pieces)"
            )
        lo, hi = piece_range(units, piece, pieces)
        kk = geom.kh * geom.kw
        if not geom.flatten:
            return PieceSlice(0, geom.out_c, lo, hi, kk, "in")
        hw = geom.in_h * geom.in_w  # feature f = c * H*W + position: channels covering [lo, hi)
        return PieceSlice(0, geom.out_c, lo // hw, -(-hi // hw), kk, "in", lo, hi)
    if not 0 <= piece < pieces or pieces > geom.split_units:
        raise WorkloadError(
            f"layer {geom.name!r}: piece {piece} of {pieces} is invalid (at most "
            f"{geom.split_units} pieces)"
        )
    lo, hi = piece_range(geom.split_units, piece, pieces)
    kk = geom.kh * geom.kw
    if geom.groups == 1:
        return PieceSlice(lo, hi, 0, geom.in_c, kk)
    return PieceSlice(
        lo * geom.cout_group, hi * geom.cout_group, lo * geom.cin_group, hi * geom.cin_group, kk
    )


def piece_matrix(geom: LayerGeometry, weights: np.ndarray, sl: PieceSlice) -> np.ndarray:
    """The (width, in_len) weight matrix of one piece: its output channels, over the im2col
    vector of the input channels it reads."""
    full = weight_matrix(geom, weights)[sl.out_lo : sl.out_hi]
    full = full.reshape(sl.width, geom.kh * geom.kw, geom.in_c)[:, :, sl.in_lo : sl.in_hi]
    if sl.f_hi > sl.f_lo:
        # A flattening linear's input piece: keep only its in-features (torch's (C, H, W) order
        # of feature c * H*W + position), zero the rest of the channels it reads.
        pos = np.arange(geom.kh * geom.kw)[:, None]
        feat = np.arange(sl.in_lo, sl.in_hi)[None, :] * (geom.kh * geom.kw) + pos
        full = full * ((feat >= sl.f_lo) & (feat < sl.f_hi))[None, :, :]
    return np.ascontiguousarray(full.reshape(sl.width, -1))


def _pad_for(name: str, size_in: int, size_out: int, k: int, s: int) -> int:
    """Symmetric padding p with floor((in + 2p - k) / s) + 1 == out (torch's convention)."""
    p = max(0, -(-((size_out - 1) * s + k - size_in) // 2))
    if (size_in + 2 * p - k) // s + 1 != size_out:
        raise WorkloadError(
            f"layer {name!r}: no symmetric padding maps input {size_in} to output {size_out} "
            f"with kernel {k} and stride {s}"
        )
    return p


def avg_scale(window: int) -> tuple[int, int]:
    """``(mul, shift)`` of average pooling over ``window`` elements (module docstring)."""
    if window & (window - 1) == 0:
        return 1, window.bit_length() - 1
    shift = 15 + (window - 1).bit_length()
    return round((1 << shift) / window), shift


def lower(workload: Workload) -> tuple[LayerGeometry, ...]:
    """All ops (MAC and pool) of ``workload`` in execution order, acts and adds folded in.

    Raises:
        WorkloadError: unsupported ops or patterns (module docstring), shape mismatches.
    """
    layers = list(workload.layers)
    index = {layer.name: i for i, layer in enumerate(layers)}
    alias: dict[str, str] = {}  # act/add row -> the tensor it stands for
    shapes: dict[str, tuple[int, int, int]] = {}  # tensor -> (C, H, W)
    ops: dict[str, LayerGeometry] = {}
    relu: dict[str, bool] = {}
    consumers: dict[str, list[str]] = {}  # raw input names -> consuming rows
    for layer in layers:
        for src in layer.inputs:
            consumers.setdefault(src, []).append(layer.name)
    has_act = any(layer.op == "act" for layer in layers)

    def resolve(src: str) -> str | None:
        while src in alias:
            src = alias[src]
        return src or None

    prev: str | None = None  # previous op's tensor: the input of rows without `inputs`
    for layer in layers:
        srcs = [resolve(s) for s in layer.inputs] if layer.inputs else [prev]
        for s, raw in zip(srcs, layer.inputs or ("",), strict=False):
            if s is not None and s not in ops:
                raise WorkloadError(
                    f"layer {layer.name!r}: input {raw!r} is not an earlier layer of the table"
                )
        if layer.repeat != 1:
            raise WorkloadError(
                f"layer {layer.name!r}: repeat={layer.repeat}; the code generator supports "
                "repeat=1 only"
            )
        if layer.op == "act":
            src = srcs[0]
            if src is None:
                raise WorkloadError(f"layer {layer.name!r}: an activation of the network input")
            others = [
                c for c in consumers.get(_raw_name(layer, layers, index), []) if c != layer.name
            ]
            if others:
                raise WorkloadError(
                    f"layer {layer.name!r}: {src!r} is also read before the activation by "
                    f"{others[0]!r}; the generator applies ReLU in the producing op"
                )
            relu[src] = True
            alias[layer.name] = src
            continue
        if layer.op == "eltwise":
            host = _fuse_add(layer, srcs, ops, relu, consumers, index, shapes)
            ops[host] = _with(ops[host], add=layer.name)
            alias[layer.name] = host
            prev = host
            continue
        if layer.op == "pool":
            geom = _pool_geometry(layer, srcs[0], shapes)
        elif layer.op in MAC_OPS:
            geom = _mac_geometry(layer, srcs[0], shapes)
        else:
            raise WorkloadError(
                f"layer {layer.name!r}: op {layer.op!r} is not supported by the code generator "
                "(supported: linear, pwconv, conv, dwconv, grouped conv, max/avg pool, residual "
                "add; act rows are folded as ReLU)"
            )
        ops[geom.name] = geom
        shapes[geom.name] = (geom.out_c, geom.out_h, geom.out_w)
        prev = geom.name
    if not any(g.is_mac for g in ops.values()):
        raise WorkloadError(f"workload {workload.name!r} has no linear/conv layers to generate")
    out = []
    macs = [n for n, g in ops.items() if g.is_mac]
    for name, geom in ops.items():
        if has_act:
            default = relu.get(name, False)
        else:
            default = geom.is_mac and name != macs[-1]
        out.append(_with(geom, default_relu=default))
    abits = {g.act_bits for g in out}
    if len(abits) != 1:
        raise WorkloadError(f"all layers must share act_bits; got {sorted(abits)}")
    return tuple(out)


def _raw_name(layer: Layer, layers: list[Layer], index: dict[str, int]) -> str:
    """The raw row name an act reads (consumer lists are keyed by raw names)."""
    if layer.inputs:
        return layer.inputs[0]
    i = index[layer.name]
    return layers[i - 1].name if i > 0 else ""


def _with(geom: LayerGeometry, **changes: object) -> LayerGeometry:
    from dataclasses import replace

    return replace(geom, **changes)


def _fuse_add(
    layer: Layer,
    srcs: list[str | None],
    ops: dict[str, LayerGeometry],
    relu: dict[str, bool],
    consumers: dict[str, list[str]],
    index: dict[str, int],
    shapes: dict[str, tuple[int, int, int]],
) -> str:
    """Fuse a two-operand add into one operand's MAC op; returns that op's name."""
    if len(srcs) != 2 or None in srcs:
        raise WorkloadError(
            f"layer {layer.name!r}: the generator fuses two-operand adds of layer outputs only"
        )
    a, b = srcs
    if shapes[a] != shapes[b]:
        raise WorkloadError(
            f"layer {layer.name!r}: operands {a!r} {shapes[a]} and {b!r} {shapes[b]} differ"
        )
    # The op that hosts the add: a MAC op read only by this add, not yet activated (its ReLU
    # would have to run before the add) and without an add of its own; the later one in the
    # table, so that its skip operand is always computed first.
    cands = [
        s
        for s in (a, b)
        if ops[s].is_mac
        and ops[s].skip is None
        and not relu.get(s, False)
        and consumers.get(s, []) == [layer.name]
    ]
    if not cands:
        raise WorkloadError(
            f"layer {layer.name!r}: neither operand ({a!r}, {b!r}) is a conv/linear read only "
            "by this add; the generator fuses residual adds into such a layer"
        )
    host = max(cands, key=lambda s: index[s])
    other = b if host == a else a
    ops[host] = _with(ops[host], skip=other)
    return host


def _pool_geometry(
    layer: Layer, src: str | None, shapes: dict[str, tuple[int, int, int]]
) -> LayerGeometry:
    if src is None:
        raise WorkloadError(f"layer {layer.name!r}: a pool of the network input is not supported")
    c, h, w = shapes[src]
    if (c, h, w) != (layer.in_channels, layer.in_h, layer.in_w):
        raise WorkloadError(
            f"layer {layer.name!r}: input {layer.in_channels}x{layer.in_h}x{layer.in_w} does not "
            f"match {src!r} output {c}x{h}x{w}"
        )
    pad_h = _pad_for(layer.name, h, layer.out_h, layer.kernel_h, layer.stride)
    pad_w = _pad_for(layer.name, w, layer.out_w, layer.kernel_w, layer.stride)
    if pad_h != pad_w:
        raise WorkloadError(
            f"layer {layer.name!r}: padding differs between height ({pad_h}) and width ({pad_w})"
        )
    # Pool rows do not say max or average: a global pool (window = the whole map, one output)
    # is the networks' average pool, every other pool is a max pool (VGG, ResNet's stem).
    kind = (
        "avg"
        if (layer.out_h, layer.out_w) == (1, 1)
        and (layer.kernel_h, layer.kernel_w)
        == (
            h,
            w,
        )
        else "max"
    )
    mul, sh = avg_scale(layer.kernel_h * layer.kernel_w) if kind == "avg" else (1, 0)
    return LayerGeometry(
        name=layer.name,
        op="pool",
        producer=src,
        in_h=h,
        in_w=w,
        in_c=c,
        kh=layer.kernel_h,
        kw=layer.kernel_w,
        stride=layer.stride,
        pad=pad_h,
        out_h=layer.out_h,
        out_w=layer.out_w,
        out_c=c,
        flatten=False,
        weight_bits=layer.weight_bits,
        act_bits=layer.act_bits,
        pool=kind,
        pool_mul=mul,
        pool_shift=sh,
    )


def _mac_geometry(
    layer: Layer, src: str | None, shapes: dict[str, tuple[int, int, int]]
) -> LayerGeometry:
    common = dict(
        name=layer.name,
        op=layer.op,
        producer=src,
        out_c=layer.out_channels,
        weight_bits=layer.weight_bits,
        act_bits=layer.act_bits,
        groups=layer.groups,
    )
    prev = shapes.get(src) if src is not None else None
    if layer.op == "linear":
        tokens_h, tokens_w = layer.out_h, layer.out_w
        if prev is None or (
            prev[0] == layer.in_channels and prev[1] * prev[2] == tokens_h * tokens_w
        ):
            # Per-token linear: a 1x1 window over the producer's positions (kept in its shape).
            in_h, in_w = (prev[1], prev[2]) if prev else (tokens_h, tokens_w)
            return LayerGeometry(
                in_h=in_h, in_w=in_w, in_c=layer.in_channels, kh=1, kw=1, stride=1, pad=0,
                out_h=in_h, out_w=in_w, flatten=False, **common,
            )  # fmt: skip
        c, h, w = prev
        if layer.in_channels == c * h * w and tokens_h * tokens_w == 1:
            return LayerGeometry(
                in_h=h, in_w=w, in_c=c, kh=h, kw=w, stride=1, pad=0, out_h=1, out_w=1,
                flatten=True, **common,
            )  # fmt: skip
        raise WorkloadError(
            f"layer {layer.name!r}: linear with {layer.in_channels} in-features x "
            f"{tokens_h * tokens_w} tokens does not match its producer {src!r} "
            f"({c} channels x {h}x{w} positions)"
        )
    if prev is not None and prev != (layer.in_channels, layer.in_h, layer.in_w):
        raise WorkloadError(
            f"layer {layer.name!r}: input {layer.in_channels}x{layer.in_h}x{layer.in_w} does not "
            f"match producer {src!r} output {prev[0]}x{prev[1]}x{prev[2]}"
        )
    pad_h = _pad_for(layer.name, layer.in_h, layer.out_h, layer.kernel_h, layer.stride)
    pad_w = _pad_for(layer.name, layer.in_w, layer.out_w, layer.kernel_w, layer.stride)
    if pad_h != pad_w:
        raise WorkloadError(
            f"layer {layer.name!r}: padding differs between height ({pad_h}) and width ({pad_w})"
        )
    return LayerGeometry(
        in_h=layer.in_h,
        in_w=layer.in_w,
        in_c=layer.in_channels,
        kh=layer.kernel_h,
        kw=layer.kernel_w,
        stride=layer.stride,
        pad=pad_h,
        out_h=layer.out_h,
        out_w=layer.out_w,
        flatten=False,
        **common,
    )


def mac_chain(workload: Workload) -> tuple[LayerGeometry, ...]:
    """The MAC ops of ``workload`` (execution order), see :func:`lower`.

    Raises:
        WorkloadError: unsupported ops or patterns, shape mismatches.
    """
    return tuple(g for g in lower(workload) if g.is_mac)


def weight_matrix(geom: LayerGeometry, weights: np.ndarray) -> np.ndarray:
    """The (out_c, in_len) int64 matrix whose row order matches the hardware's input vector.

    ``weights`` uses torch layouts: (K, C/groups, kh, kw) for conv (or (K, C) for a 1x1 conv),
    (K, F) for linear. A grouped conv's matrix is zero outside each output channel's group.
    """
    w = np.asarray(weights)
    if not np.issubdtype(w.dtype, np.integer):
        if not np.all(np.equal(np.mod(w, 1), 0)):
            raise WorkloadError(f"layer {geom.name!r}: weights must be integers")
    w = w.astype(np.int64)
    lo, hi = -(1 << (geom.weight_bits - 1)), (1 << (geom.weight_bits - 1)) - 1
    if w.size and (w.min() < lo or w.max() > hi):
        raise WorkloadError(
            f"layer {geom.name!r}: weights span [{w.min()}, {w.max()}], outside the signed "
            f"{geom.weight_bits}-bit range [{lo}, {hi}]"
        )
    k = geom.out_c
    if geom.flatten:
        _check_shape(geom, w, (k, geom.in_c * geom.in_h * geom.in_w))
        w4 = w.reshape(k, geom.in_c, geom.in_h, geom.in_w)
    elif geom.op == "linear":
        _check_shape(geom, w, (k, geom.in_c))
        return w.copy()
    else:
        cg = geom.cin_group
        if w.ndim == 2 and geom.kh == geom.kw == 1:
            w = w.reshape(k, cg, 1, 1)
        _check_shape(geom, w, (k, cg, geom.kh, geom.kw))
        w4 = w
    g, kg, cg = geom.groups, geom.cout_group, geom.cin_group
    # (K, Cg, kh, kw) -> (K, kh, kw, Cg): the (ky, kx, c) order, channels of the own group.
    w4 = w4.transpose(0, 2, 3, 1)
    if g == 1:
        return np.ascontiguousarray(w4.reshape(k, -1))
    full = np.zeros((k, geom.kh, geom.kw, geom.in_c), dtype=np.int64)
    for i in range(g):
        full[i * kg : (i + 1) * kg, :, :, i * cg : (i + 1) * cg] = w4[i * kg : (i + 1) * kg]
    return full.reshape(k, -1)


def _check_shape(geom: LayerGeometry, w: np.ndarray, expect: tuple[int, ...]) -> None:
    if tuple(w.shape) != expect:
        raise WorkloadError(f"layer {geom.name!r}: weights have shape {w.shape}, expected {expect}")


def input_to_hwc(geom: LayerGeometry, inputs: np.ndarray) -> np.ndarray:
    """Network input in user layout -> (in_h, in_w, in_c) int64 (see module docstring)."""
    x = np.asarray(inputs)
    if geom.op == "linear":
        tokens = geom.in_h * geom.in_w
        if x.ndim == 1 and tokens == 1:
            x = x[None, :]
        if x.shape != (tokens, geom.in_c):
            raise WorkloadError(
                f"inputs have shape {x.shape}, expected (tokens, features) = {(tokens, geom.in_c)}"
            )
        hwc = x.reshape(geom.in_h, geom.in_w, geom.in_c)
    else:
        if x.shape != (geom.in_c, geom.in_h, geom.in_w):
            raise WorkloadError(
                f"inputs have shape {x.shape}, expected (C, H, W) = "
                f"{(geom.in_c, geom.in_h, geom.in_w)}"
            )
        hwc = x.transpose(1, 2, 0)
    hwc = hwc.astype(np.int64)
    lo, hi = -(1 << (geom.act_bits - 1)), (1 << (geom.act_bits - 1)) - 1
    if hwc.size and (hwc.min() < lo or hwc.max() > hi):
        raise WorkloadError(
            f"inputs span [{hwc.min()}, {hwc.max()}], outside the signed {geom.act_bits}-bit range"
        )
    return hwc


def output_from_hwc(geom: LayerGeometry, hwc: np.ndarray) -> np.ndarray:
    """Last op output (out_h, out_w, out_c) -> user layout (see module docstring)."""
    if geom.op == "linear":
        return hwc.reshape(geom.out_h * geom.out_w, geom.out_c)
    return hwc.transpose(2, 0, 1)


def _windows(geom: LayerGeometry, x_hwc: np.ndarray, fill: int) -> np.ndarray:
    """(out_h, out_w, kh, kw, C) windows of ``x_hwc``, ``fill`` outside the map."""
    p, s = geom.pad, geom.stride
    padded = np.full((geom.in_h + 2 * p, geom.in_w + 2 * p, geom.in_c), fill, dtype=np.int64)
    padded[p : p + geom.in_h, p : p + geom.in_w] = x_hwc
    cols = np.empty((geom.out_h, geom.out_w, geom.kh, geom.kw, geom.in_c), dtype=np.int64)
    for ky in range(geom.kh):
        for kx in range(geom.kw):
            cols[:, :, ky, kx] = padded[
                ky : ky + s * (geom.out_h - 1) + 1 : s, kx : kx + s * (geom.out_w - 1) + 1 : s
            ]
    return cols


def im2col(geom: LayerGeometry, x_hwc: np.ndarray) -> np.ndarray:
    """Input vectors (vectors, in_len) of a MAC op from its (in_h, in_w, in_c) input, zero-padded,
    in (ky, kx, c) order."""
    return _windows(geom, x_hwc, 0).reshape(geom.vectors, geom.in_len)


def requantize(acc: np.ndarray, shift: int, relu: bool, act_bits: int) -> np.ndarray:
    """ReLU (optional), arithmetic right shift (floor) and saturation to signed ``act_bits``."""
    y = np.maximum(acc, 0) if relu else acc
    y = np.right_shift(y, shift)
    return np.clip(y, -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1)


def pool_forward(geom: LayerGeometry, x_hwc: np.ndarray, relu: bool) -> np.ndarray:
    """Max or average pooling of (in_h, in_w, C) -> (out_h, out_w, C), module docstring rules."""
    if geom.pool == "max":
        lowest = np.iinfo(np.int64).min
        y = _windows(geom, x_hwc, lowest).max(axis=(2, 3))
        return np.maximum(y, 0) if relu else y
    total = _windows(geom, x_hwc, 0).sum(axis=(2, 3))
    return requantize(total * geom.pool_mul, geom.pool_shift, relu, geom.act_bits)


def resolve_relu(ops: tuple[LayerGeometry, ...], relu: Mapping[str, bool] | None) -> dict:
    """ReLU per op; default :attr:`LayerGeometry.default_relu`, overridden by ``relu``."""
    out = {g.name: g.default_relu for g in ops}
    for key, value in (relu or {}).items():
        if key not in out:
            raise WorkloadError(f"relu given for unknown layer {key!r}; layers: {list(out)}")
        out[key] = bool(value)
    return out


def resolve_shifts(
    chain: tuple[LayerGeometry, ...], shifts: Mapping[str, int] | int
) -> dict[str, int]:
    """Shift per MAC op from one int or a complete mapping; each in 0..31."""
    names = [g.name for g in chain if g.is_mac]
    if isinstance(shifts, int | np.integer):
        out = {n: int(shifts) for n in names}
    else:
        missing = [n for n in names if n not in shifts]
        if missing:
            raise WorkloadError(f"shifts missing for layers {missing}")
        out = {n: int(shifts[n]) for n in names}
    bad = {n: s for n, s in out.items() if not 0 <= s <= 31}
    if bad:
        raise WorkloadError(f"shifts must be in 0..31, got {bad}")
    return out


def _run(
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    shifts: Mapping[str, int] | int | None,
    relu: Mapping[str, bool] | None,
) -> tuple[np.ndarray, dict[str, int]]:
    ops = lower(workload)
    relu_ = resolve_relu(ops, relu)
    fixed = None if shifts is None else resolve_shifts(ops, shifts)
    tensors: dict[str | None, np.ndarray] = {None: input_to_hwc(ops[0], inputs)}
    used: dict[str, int] = {}
    for geom in ops:
        x = tensors[geom.producer]
        if not geom.is_mac:
            tensors[geom.name] = pool_forward(geom, x, relu_[geom.name])
            continue
        if geom.name not in weights:
            raise WorkloadError(f"no weights given for layer {geom.name!r}")
        acc = im2col(geom, x) @ weight_matrix(geom, weights[geom.name]).T
        pre_relu = relu_[geom.name] and geom.skip is None
        if fixed is None:
            # Smallest shift that keeps the largest activation within range (no saturation).
            peak = int(np.max(np.maximum(acc, 0) if pre_relu else np.abs(acc), initial=0))
            limit = (1 << (geom.act_bits - 1)) - 1
            s = 0
            while (peak >> s) > limit:
                s += 1
            used[geom.name] = s
        else:
            used[geom.name] = fixed[geom.name]
        y = requantize(acc, used[geom.name], pre_relu, geom.act_bits)
        if geom.skip is not None:
            y = y + tensors[geom.skip].reshape(geom.vectors, geom.out_c)
            y = requantize(y, 0, relu_[geom.name], geom.act_bits)
        tensors[geom.name] = y.reshape(geom.out_h, geom.out_w, geom.out_c)
    return output_from_hwc(ops[-1], tensors[ops[-1].name]), used


def reference(
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    shifts: Mapping[str, int] | int,
    relu: Mapping[str, bool] | None = None,
) -> np.ndarray:
    """Golden integer model of the generated hardware (same integer semantics, module docstring).

    Args:
        workload: the network (see module docstring for what is supported).
        weights: integer weights per MAC layer name in torch layouts.
        inputs: one sample, (C, H, W) for a conv-first network, (tokens, features) for linear.
        shifts: right shift per MAC layer (or one for all), 0..31.
        relu: ReLU per op; default from the ``act`` rows (module docstring).

    Returns:
        int64 outputs of the last op: (K, OH, OW) for conv/pool, (tokens, K) for linear.
    """
    return _run(workload, weights, inputs, shifts, relu)[0]


def calibrate_shifts(
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    relu: Mapping[str, bool] | None = None,
) -> dict[str, int]:
    """Per-layer shifts: the smallest that avoids saturation for ``inputs`` (layer by layer)."""
    return _run(workload, weights, inputs, None, relu)[1]


def random_weights(workload: Workload, seed: int | np.random.Generator = 0) -> dict:
    """Seeded integer weights in each layer's signed ``weight_bits`` range, torch layouts."""
    rng = np.random.default_rng(seed)
    out = {}
    for geom in mac_chain(workload):
        lo, hi = -(1 << (geom.weight_bits - 1)), (1 << (geom.weight_bits - 1)) - 1
        if geom.op == "linear":
            shape: tuple[int, ...] = (geom.out_c, geom.in_len)
        else:
            shape = (geom.out_c, geom.cin_group, geom.kh, geom.kw)
        out[geom.name] = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    return out


def random_inputs(workload: Workload, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A seeded integer input sample in the user layout of ``workload``'s first layer."""
    rng = np.random.default_rng(seed)
    g = lower(workload)[0]
    lo, hi = -(1 << (g.act_bits - 1)), (1 << (g.act_bits - 1)) - 1
    shape = (g.in_h * g.in_w, g.in_c) if g.op == "linear" else (g.in_c, g.in_h, g.in_w)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
