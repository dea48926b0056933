"""Lowering of a workload to what the generated hardware runs, and the numpy golden model.

Supported networks are chains of MAC layers: ``linear``, ``pwconv`` and ``conv`` with groups 1.
Every layer is lowered to a matrix multiply over input vectors:

* An activation tensor is stored position-major: one buffer word per spatial position (or token)
  holding all channels, i.e. shape (H, W, C).
* The input vector of output position (oy, ox) is the im2col window in (ky, kx, c) order:
  element ``(ky * kw + kx) * C + c`` = input[oy*s - pad + ky, ox*s - pad + kx, c], zero outside
  the map (symmetric zero padding).
* A ``linear`` layer acts on every position (token) of its input with a 1x1 window. A ``linear``
  whose in_features equal C*H*W of a conv producer with H*W > 1 *flattens* it (torch's ``(C, H,
  W)`` flatten order): it becomes a conv with an H x W window and one output position, with its
  weight columns permuted accordingly.
* Between layers: optional ReLU, arithmetic right shift by ``shift`` (floor), saturation to the
  signed ``act_bits`` range. Integers throughout; no bias.

``act`` rows are skipped (ReLU is controlled by ``relu``); any other non-MAC op, grouped or
depthwise convs, ``matmul`` and ``repeat`` > 1 are rejected with a :class:`WorkloadError`.

Input and output layouts seen by users: a conv-first network takes ``(C, H, W)``; a linear-first
network takes ``(tokens, features)`` (1-D when tokens == 1). Outputs are ``(K, OH, OW)`` for a conv
last layer and ``(tokens, K)`` for a linear last layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cimkit.errors import WorkloadError
from cimkit.workload import Layer, Workload


@dataclass(frozen=True)
class LayerGeometry:
    """How one MAC layer runs: its input tensor, window and output tensor (position-major).

    Attributes:
        name: layer name.
        op: the workload op ('linear', 'pwconv' or 'conv').
        producer: name of the layer whose output is the input, None for the network input.
        in_h, in_w, in_c: input tensor as stored: in_h x in_w positions of in_c channels.
        kh, kw, stride, pad: window (kernel) size, stride and symmetric zero padding.
        out_h, out_w, out_c: output positions and channels.
        flatten: a linear layer that flattens a (C, H, W) producer (window = whole map).
        weight_bits, act_bits: quantization of weights and activations.
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

    @property
    def in_len(self) -> int:
        """Length of one input vector (rows of the weight matrix)."""
        return self.kh * self.kw * self.in_c

    @property
    def vectors(self) -> int:
        """Input vectors (output positions) per inference."""
        return self.out_h * self.out_w

    @property
    def in_positions(self) -> int:
        return self.in_h * self.in_w


def _pad_for(name: str, size_in: int, size_out: int, k: int, s: int) -> int:
    """Symmetric padding p with floor((in + 2p - k) / s) + 1 == out (torch's convention)."""
    p = max(0, -(-((size_out - 1) * s + k - size_in) // 2))
    if (size_in + 2 * p - k) // s + 1 != size_out:
        raise WorkloadError(
            f"layer {name!r}: no symmetric padding maps input {size_in} to output {size_out} "
            f"with kernel {k} and stride {s}"
        )
    return p


def mac_chain(workload: Workload) -> tuple[LayerGeometry, ...]:
    """The MAC layers of ``workload`` as a chain of :class:`LayerGeometry` (execution order).

    Raises:
        WorkloadError: unsupported ops, or a layer whose input is not the previous MAC layer's
            output (branches, shape mismatches).
    """
    chain: list[LayerGeometry] = []
    prev: LayerGeometry | None = None
    for layer in workload.layers:
        if layer.op == "act":
            continue
        if layer.op not in ("linear", "pwconv", "conv"):
            raise WorkloadError(
                f"layer {layer.name!r}: op {layer.op!r} is not supported by the code generator "
                "(supported: linear, pwconv, conv with groups=1; act rows are folded as ReLU)"
            )
        if layer.groups != 1 or layer.repeat != 1:
            raise WorkloadError(
                f"layer {layer.name!r}: groups={layer.groups}, repeat={layer.repeat}; the code "
                "generator supports groups=1 and repeat=1 only"
            )
        geom = _geometry(layer, prev)
        chain.append(geom)
        prev = geom
    if not chain:
        raise WorkloadError(f"workload {workload.name!r} has no linear/conv layers to generate")
    return tuple(chain)


def _geometry(layer: Layer, prev: LayerGeometry | None) -> LayerGeometry:
    common = dict(
        name=layer.name,
        op=layer.op,
        producer=prev.name if prev else None,
        out_c=layer.out_channels,
        weight_bits=layer.weight_bits,
        act_bits=layer.act_bits,
    )
    if layer.op == "linear":
        tokens_h, tokens_w = layer.out_h, layer.out_w
        if prev is None or (
            prev.out_c == layer.in_channels and prev.out_h * prev.out_w == tokens_h * tokens_w
        ):
            # Per-token linear: a 1x1 window over the producer's positions (kept in its shape).
            in_h, in_w = (prev.out_h, prev.out_w) if prev else (tokens_h, tokens_w)
            return LayerGeometry(
                in_h=in_h,
                in_w=in_w,
                in_c=layer.in_channels,
                kh=1,
                kw=1,
                stride=1,
                pad=0,
                out_h=in_h,
                out_w=in_w,
                flatten=False,
                **common,
            )
        if layer.in_channels == prev.out_c * prev.out_h * prev.out_w and tokens_h * tokens_w == 1:
            return LayerGeometry(
                in_h=prev.out_h,
                in_w=prev.out_w,
                in_c=prev.out_c,
                kh=prev.out_h,
                kw=prev.out_w,
                stride=1,
                pad=0,
                out_h=1,
                out_w=1,
                flatten=True,
                **common,
            )
        raise WorkloadError(
            f"layer {layer.name!r}: linear with {layer.in_channels} in-features x "
            f"{tokens_h * tokens_w} tokens does not match its producer {prev.name!r} "
            f"({prev.out_c} channels x {prev.out_h}x{prev.out_w} positions)"
        )
    if prev is not None and (prev.out_c, prev.out_h, prev.out_w) != (
        layer.in_channels,
        layer.in_h,
        layer.in_w,
    ):
        raise WorkloadError(
            f"layer {layer.name!r}: input {layer.in_channels}x{layer.in_h}x{layer.in_w} does not "
            f"match producer {prev.name!r} output {prev.out_c}x{prev.out_h}x{prev.out_w}"
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


def weight_matrix(geom: LayerGeometry, weights: np.ndarray) -> np.ndarray:
    """The (out_c, in_len) int64 matrix whose row order matches the hardware's input vector.

    ``weights`` uses torch layouts: (K, C, kh, kw) for conv (or (K, C) for a 1x1 conv), (K, F)
    for linear.
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
        expect = (k, geom.in_c * geom.in_h * geom.in_w)
        _check_shape(geom, w, expect)
        w4 = w.reshape(k, geom.in_c, geom.in_h, geom.in_w)
    elif geom.op == "linear":
        _check_shape(geom, w, (k, geom.in_c))
        return w.copy()
    else:
        if w.ndim == 2 and geom.kh == geom.kw == 1:
            w = w.reshape(k, geom.in_c, 1, 1)
        _check_shape(geom, w, (k, geom.in_c, geom.kh, geom.kw))
        w4 = w
    # (K, C, kh, kw) -> (K, kh, kw, C): the (ky, kx, c) order of the im2col vector.
    return np.ascontiguousarray(w4.transpose(0, 2, 3, 1).reshape(k, -1))


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
    """Last layer output (out_h, out_w, out_c) -> user layout (see module docstring)."""
    if geom.op == "linear":
        return hwc.reshape(geom.out_h * geom.out_w, geom.out_c)
    return hwc.transpose(2, 0, 1)


def im2col(geom: LayerGeometry, x_hwc: np.ndarray) -> np.ndarray:
    """Input vectors (vectors, in_len) of a layer from its (in_h, in_w, in_c) input, zero-padded."""
    p, s = geom.pad, geom.stride
    padded = np.zeros((geom.in_h + 2 * p, geom.in_w + 2 * p, geom.in_c), dtype=np.int64)
    padded[p : p + geom.in_h, p : p + geom.in_w] = x_hwc
    cols = np.empty((geom.out_h, geom.out_w, geom.kh, geom.kw, geom.in_c), dtype=np.int64)
    for ky in range(geom.kh):
        for kx in range(geom.kw):
            cols[:, :, ky, kx] = padded[
                ky : ky + s * (geom.out_h - 1) + 1 : s, kx : kx + s * (geom.out_w - 1) + 1 : s
            ]
    return cols.reshape(geom.vectors, geom.in_len)


def requantize(acc: np.ndarray, shift: int, relu: bool, act_bits: int) -> np.ndarray:
    """ReLU (optional), arithmetic right shift (floor) and saturation to signed ``act_bits``."""
    y = np.maximum(acc, 0) if relu else acc
    y = np.right_shift(y, shift)
    return np.clip(y, -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1)


def resolve_relu(chain: tuple[LayerGeometry, ...], relu: Mapping[str, bool] | None) -> dict:
    """ReLU per layer; default: after every MAC layer except the last."""
    names = [g.name for g in chain]
    out = {n: i < len(names) - 1 for i, n in enumerate(names)}
    for key, value in (relu or {}).items():
        if key not in out:
            raise WorkloadError(f"relu given for unknown layer {key!r}; layers: {names}")
        out[key] = bool(value)
    return out


def resolve_shifts(
    chain: tuple[LayerGeometry, ...], shifts: Mapping[str, int] | int
) -> dict[str, int]:
    """Shift per layer from one int or a complete mapping; each in 0..31."""
    names = [g.name for g in chain]
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
    chain = mac_chain(workload)
    relu_ = resolve_relu(chain, relu)
    fixed = None if shifts is None else resolve_shifts(chain, shifts)
    x = input_to_hwc(chain[0], inputs)
    used: dict[str, int] = {}
    for geom in chain:
        if geom.name not in weights:
            raise WorkloadError(f"no weights given for layer {geom.name!r}")
        acc = im2col(geom, x) @ weight_matrix(geom, weights[geom.name]).T
        if fixed is None:
            # Smallest shift that keeps the largest activation within range (no saturation).
            peak = int(np.max(np.maximum(acc, 0) if relu_[geom.name] else np.abs(acc), initial=0))
            limit = (1 << (geom.act_bits - 1)) - 1
            s = 0
            while (peak >> s) > limit:
                s += 1
            used[geom.name] = s
        else:
            used[geom.name] = fixed[geom.name]
        y = requantize(acc, used[geom.name], relu_[geom.name], geom.act_bits)
        x = y.reshape(geom.out_h, geom.out_w, geom.out_c)
    return output_from_hwc(chain[-1], x), used


def reference(
    workload: Workload,
    weights: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    shifts: Mapping[str, int] | int,
    relu: Mapping[str, bool] | None = None,
) -> np.ndarray:
    """Golden integer model of the generated hardware (bit-exact by construction of semantics).

    Args:
        workload: a chain of linear/conv layers (see module docstring).
        weights: integer weights per layer name in torch layouts.
        inputs: one sample, (C, H, W) for a conv-first network, (tokens, features) for linear.
        shifts: right shift per layer (or one for all), 0..31.
        relu: ReLU per layer; default after every layer except the last.

    Returns:
        int64 outputs of the last layer: (K, OH, OW) for conv, (tokens, K) for linear.
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
            shape = (geom.out_c, geom.in_c, geom.kh, geom.kw)
        out[geom.name] = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    return out


def random_inputs(workload: Workload, seed: int | np.random.Generator = 0) -> np.ndarray:
    """A seeded integer input sample in the user layout of ``workload``'s first layer."""
    rng = np.random.default_rng(seed)
    g = mac_chain(workload)[0]
    lo, hi = -(1 << (g.act_bits - 1)), (1 << (g.act_bits - 1)) - 1
    shape = (g.in_h * g.in_w, g.in_c) if g.op == "linear" else (g.in_c, g.in_h, g.in_w)
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
