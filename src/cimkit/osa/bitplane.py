"""Bit-plane MAC of OSA-HCIM: orders k = i + j, 144-row chunks, digital / analog / discard by B_D/A.

An a-bit unsigned activation A and a w-bit weight W are split into w x a one-bit MACs
(paper Eq. 1; h4h-osa-notes.md B1)::

    A . W = sum_i sum_j  s_i 2^(i+j)  sum_r W[i][r] A[j][r]

with i the weight bit, j the activation bit and k = i + j the output order. Weights are signed
two's complement (our reading, notes B8.3): the sign plane i = w-1 has s_i = -1, every other
plane s_i = +1, and the sign is applied digitally in the accumulator. Activations are unsigned
(post-ReLU); :mod:`cimkit.osa.layers` handles a zero point for signed inputs.

For a boundary B = B_D/A (paper Sec. III):

* k >= B          -> digital (DCIM, exact, one 1-bit MAC per cycle),
* B-4 <= k < B    -> analog (ACIM: for weight bit i the activation bits j of the window are a
  1..4-bit input of one charge-sharing conversion, see :mod:`cimkit.osa.analog`),
* k < B-4         -> discarded.

B = 0 is the all-digital (DCIM) mode: no order is analog or discarded.

The macro (paper Sec. IV, 64b x 144b) has 8 HMUs, each a 144-row dot product with its own
adder tree and 3-bit SAR ADC, so sums are formed per 144-row chunk ``c`` of the reduction axis
(an im2col row of 16 in-channels x 3 x 3 is one chunk). Digital chunk sums are exact, so their
order does not matter; analog conversions happen per (chunk, weight bit, output).

Two implementations share these rules and are tested against each other:

* :func:`order_sums` + :func:`mac_from_order_sums`: the reference, literally per (c, i, j)
  one-bit sums (w x a binary matmuls per chunk), combined with explicit masks.
* :func:`hybrid_matmul`: the fast path (at most 2 w matmuls of multi-bit operands): for weight
  bit i the digital part is the activation with its bits j < B - i cleared, the analog part the
  activation's window bits (left in place, the sum divided by 2^j_lo); both are exact integer
  sums, and the per-row B enters as a per-row bit mask before the matmul, so one matmul serves
  every row's own B. Weight planes that are all-digital for every row are merged into one
  matmul by linearity (at B = 0 the whole MAC is one matmul).

Shapes: activations ``a_int`` are (N, K) integers (N rows = output pixels, K = reduction),
weights ``w_int`` are (M, K) integers (M outputs), results are (N, M) float64 integers
(exact up to 2^53). Boundaries are a scalar, (N,) per row, or (N, G) per row and group of
``hmus`` outputs (G = ceil(M / hmus)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from cimkit.errors import SpecError

if TYPE_CHECKING:
    from cimkit.osa.analog import AnalogConfig

SUPPORTED_BITS = (4, 8)


@dataclass(frozen=True)
class BitConfig:
    """Precision and geometry of the hybrid MAC.

    Attributes:
        a_bits: activation bits (unsigned), 4 or 8 (Table I: inputs 4/8b).
        w_bits: weight bits, 4 or 8 (Table I: weights 4/8b).
        signed_weights: two's complement weights (sign plane weighted -2^(w-1)); False for
            unsigned weights 0 .. 2^w - 1.
        chunk: rows summed by one HMU (144 in the paper's 64 x 144 macro).
        window: analog orders below B_D/A (4 in the paper: 1..4-bit analog inputs).
        hmus: outputs (HMUs) per macro activation, the group that shares one saliency and
            one B_D/A (8 in the paper).
    """

    a_bits: int = 8
    w_bits: int = 8
    signed_weights: bool = True
    chunk: int = 144
    window: int = 4
    hmus: int = 8

    def __post_init__(self) -> None:
        for name in ("a_bits", "w_bits"):
            v = getattr(self, name)
            if v not in SUPPORTED_BITS:
                raise SpecError(f"{name}={v!r} is not supported: use 4 or 8 bits")
        for name in ("chunk", "window", "hmus"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SpecError(f"{name}={v!r} must be a positive integer")

    @property
    def max_order(self) -> int:
        """Highest output order k = (a-1) + (w-1)."""
        return self.a_bits + self.w_bits - 2

    @property
    def a_range(self) -> tuple[int, int]:
        """Inclusive integer range of activations."""
        return 0, 2**self.a_bits - 1

    @property
    def w_range(self) -> tuple[int, int]:
        """Inclusive integer range of weights."""
        if self.signed_weights:
            return -(2 ** (self.w_bits - 1)), 2 ** (self.w_bits - 1) - 1
        return 0, 2**self.w_bits - 1

    def plane_weights(self) -> np.ndarray:
        """(w_bits,) float64: s_i 2^i of each weight plane (the sign plane negative)."""
        p = 2.0 ** np.arange(self.w_bits)
        if self.signed_weights:
            p[-1] = -p[-1]
        return p


DCIM = 0  # the boundary of the all-digital mode


def check_ints(x: torch.Tensor, lo: int, hi: int, name: str) -> torch.Tensor:
    """``x`` as int64 after checking it holds integers in [lo, hi] (one-line SpecError)."""
    if not isinstance(x, torch.Tensor):
        raise SpecError(f"{name} must be a torch tensor of integers, got {type(x).__name__}")
    if x.dtype.is_floating_point:
        if x.numel() and not bool(torch.all(x == torch.round(x))):
            raise SpecError(f"{name} must hold integers (quantize it first)")
    xi = x.to(torch.int64)
    if xi.numel():
        mn, mx = int(xi.min()), int(xi.max())
        if mn < lo or mx > hi:
            raise SpecError(
                f"{name} holds values in [{mn}, {mx}], outside [{lo}, {hi}]: "
                "quantize to the configured bits (BitConfig a_bits / w_bits / signed_weights)"
            )
    return xi


def bit_planes(x_int: torch.Tensor, bits: int) -> torch.Tensor:
    """(bits, *x.shape) 0/1 planes of ``x_int``, LSB first (two's complement for negatives)."""
    u = torch.remainder(x_int.to(torch.int64), 2**bits)
    shifts = torch.arange(bits, device=x_int.device).view(-1, *([1] * x_int.dim()))
    return (u.unsqueeze(0) >> shifts) & 1


def _as_boundary(
    boundary: int | torch.Tensor, n: int, g: int, device: torch.device
) -> torch.Tensor:
    """Boundary as an (N, G) int64 tensor from a scalar, (N,) or (N, G)."""
    b = torch.as_tensor(boundary, dtype=torch.int64, device=device)
    if b.dim() == 0:
        return b.expand(n, g)
    if b.dim() == 1:
        if b.shape[0] != n:
            raise SpecError(f"boundary has {b.shape[0]} rows, the activations {n}")
        return b.view(n, 1).expand(n, g)
    if b.dim() == 2 and b.shape[0] == n and b.shape[1] in (1, g):
        return b.expand(n, g)
    raise SpecError(
        f"boundary shape {tuple(b.shape)} must be a scalar, ({n},) or ({n}, {g}) "
        "(rows x groups of hmus outputs)"
    )


# ---------------------------------------------------------------------------------------
# Workload allocation (Fig. 5(a))


def order_masks(boundary: int, cfg: BitConfig = BitConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(digital, analog) boolean masks of shape (w_bits, a_bits) over (i, j) for one boundary."""
    k = np.arange(cfg.w_bits)[:, None] + np.arange(cfg.a_bits)[None, :]
    return k >= boundary, (k >= boundary - cfg.window) & (k < boundary)


@dataclass(frozen=True)
class Allocation:
    """One-bit MACs of one a x w MAC at one boundary (Fig. 5(a); notes B1).

    ``acim_ops`` counts analog conversions (one per weight bit with a non-empty window) and
    ``dac_bits`` gives each one's input bits, weight bit 0 first.
    """

    boundary: int
    digital: int
    analog: int
    discarded: int
    acim_ops: int
    dac_bits: tuple[int, ...]


def allocation(boundary: int, cfg: BitConfig = BitConfig()) -> Allocation:
    """Digital / analog / discarded 1-bit MACs of one MAC at ``boundary``, from the masks."""
    dig, ana = order_masks(boundary, cfg)
    per_i = ana.sum(axis=1)
    return Allocation(
        boundary=int(boundary),
        digital=int(dig.sum()),
        analog=int(ana.sum()),
        discarded=int((~dig & ~ana).sum()),
        acim_ops=int((per_i > 0).sum()),
        dac_bits=tuple(int(x) for x in per_i if x > 0),
    )


def allocation_counts(
    boundary: torch.Tensor, cfg: BitConfig = BitConfig()
) -> dict[str, torch.Tensor]:
    """Vectorised :func:`allocation`: per-element digital/analog/discarded/acim_ops counts.

    Args:
        boundary: integer tensor of any shape (e.g. a B map (N, G, H, W)).

    Returns:
        dict of int64 tensors of the same shape, per one a x w MAC.
    """
    b = boundary.to(torch.int64)
    k = (
        torch.arange(cfg.w_bits, device=b.device)[:, None]
        + torch.arange(cfg.a_bits, device=b.device)[None, :]
    )  # (w, a)
    kk = k.view(*([1] * b.dim()), cfg.w_bits, cfg.a_bits)
    bb = b[..., None, None]
    dig = kk >= bb
    ana = (kk >= bb - cfg.window) & (kk < bb)
    return {
        "digital": dig.sum(dim=(-1, -2)),
        "analog": ana.sum(dim=(-1, -2)),
        "discarded": (~dig & ~ana).sum(dim=(-1, -2)),
        "acim_ops": (ana.any(dim=-1)).sum(dim=-1),
    }


def allocation_lookup(
    boundary: torch.Tensor, cfg: BitConfig = BitConfig()
) -> dict[str, torch.Tensor]:
    """:func:`allocation_counts` by table lookup (one row per B in 0 .. max order + 1).

    Same values (tested); it avoids the (..., w, a) mask tensors of a large B map.
    """
    b = boundary.to(torch.int64)
    table = allocation_counts(torch.arange(cfg.max_order + 2, device=b.device), cfg)
    idx = torch.clamp(b, 0, cfg.max_order + 1)
    return {k: v[idx] for k, v in table.items()}


# ---------------------------------------------------------------------------------------
# Reference: per-order one-bit sums


def _pad_chunks(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """(..., K) -> (..., C, chunk), zero-padding K to a multiple of ``chunk``."""
    k = x.shape[-1]
    c = -(-k // chunk)
    if c * chunk != k:
        x = torch.nn.functional.pad(x, (0, c * chunk - k))
    return x.reshape(*x.shape[:-1], c, chunk)


def order_sums(
    a_int: torch.Tensor, w_int: torch.Tensor, cfg: BitConfig = BitConfig()
) -> torch.Tensor:
    """One-bit MAC sums per chunk and (weight bit, activation bit): the macro's DMACs.

    Args:
        a_int: (N, K) activations in [0, 2^a - 1].
        w_int: (M, K) weights in ``cfg.w_range``.

    Returns:
        (C, w_bits, a_bits, N, M) int64: P[c, i, j, n, m] = sum over rows r of chunk c of
        W[m, r] bit i times A[n, r] bit j (each in 0 .. chunk).
    """
    a = check_ints(a_int, *cfg.a_range, "activations")
    w = check_ints(w_int, *cfg.w_range, "weights")
    if a.dim() != 2 or w.dim() != 2 or a.shape[1] != w.shape[1]:
        raise SpecError(
            f"activations {tuple(a.shape)} and weights {tuple(w.shape)} must be (N, K) and (M, K)"
        )
    ap = _pad_chunks(bit_planes(a, cfg.a_bits).to(torch.float32), cfg.chunk)  # (a, N, C, r)
    wp = _pad_chunks(bit_planes(w, cfg.w_bits).to(torch.float32), cfg.chunk)  # (w, M, C, r)
    p = torch.einsum("jncr,imcr->cijnm", ap, wp)
    return torch.round(p).to(torch.int64)


def mac_from_order_sums(
    p: torch.Tensor,
    boundary: int | torch.Tensor,
    cfg: BitConfig = BitConfig(),
    analog: AnalogConfig | None = None,
) -> torch.Tensor:
    """Reference hybrid MAC from :func:`order_sums`, one (i, j) at a time (no noise).

    Args:
        p: (C, w, a, N, M) from :func:`order_sums`.
        boundary: scalar, (N,) or (N, G) B_D/A.
        analog: ADC model of the analog window (None: ideal, unquantised window sums).
            Noise is not applied here (the reference is deterministic).

    Returns:
        (N, M) float64.
    """
    from cimkit.osa.analog import _codes

    c_, w_, a_, n, m = p.shape
    g = -(-m // cfg.hmus)
    b = _as_boundary(boundary, n, g, p.device)
    b = b.repeat_interleave(cfg.hmus, dim=1)[:, :m]  # (N, M)
    pw = cfg.plane_weights()
    out = torch.zeros(n, m, dtype=torch.float64, device=p.device)
    pf = p.to(torch.float64)
    adc = analog is not None and analog.full_scale is not None
    codes_acc = torch.zeros(n, m, dtype=torch.float64, device=p.device)
    for i in range(w_):
        win = torch.zeros(c_, n, m, dtype=torch.float64, device=p.device)
        j_lo = torch.clamp(b - cfg.window - i, 0, a_)
        nb = torch.clamp(b - i, 0, a_) - j_lo
        for j in range(a_):
            k = i + j
            out += torch.where(k >= b, pw[i] * 2.0**j * pf[:, i, j].sum(0), 0.0)
            in_win = (k >= b - cfg.window) & (k < b)
            win += torch.where(in_win, 2.0 ** (j - j_lo).to(torch.float64) * pf[:, i, j], 0.0)
        if adc:
            # The ADC codes are integers; their weighted sum stays exact and is scaled by
            # the LSB once at the end (as the accumulator adds codes).
            full = torch.clamp(2.0 ** nb.to(torch.float64) - 1, min=1.0)
            codes, _ = _codes(win / full, analog.full_scale_for(b), analog.adc_bits, 0.0, None)
            codes = torch.where(nb > 0, codes * full, 0.0)
            codes_acc += pw[i] * (2.0 ** j_lo.to(torch.float64)) * codes.sum(0)
            continue
        # pw[i] = s_i 2^i already holds the weight bit's order; the window adds 2^j_lo.
        out += pw[i] * (2.0 ** j_lo.to(torch.float64)) * win.sum(0)
    if adc:
        out = out + codes_acc * (
            analog.full_scale_for(b).to(torch.float64) / (2**analog.adc_bits - 1)
        )
    return out


# ---------------------------------------------------------------------------------------
# Fast path


def _exact_float(k: int, a_max: int, device: torch.device) -> torch.dtype:
    """float32 when every partial sum of a K-long integer dot product is exact, else float64."""
    exact32 = k * a_max < 2**24 and (
        device.type == "cpu" or torch.get_float32_matmul_precision() == "highest"
    )
    return torch.float32 if exact32 else torch.float64


def hybrid_matmul(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    boundary: int | torch.Tensor = DCIM,
    cfg: BitConfig = BitConfig(),
    analog: AnalogConfig | None = None,
    generator: torch.Generator | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Hybrid digital/analog MAC of every row with every output (the simulator's core).

    Args:
        a_int: (N, K) activations in [0, 2^a - 1] (any integer or integral float dtype).
        w_int: (M, K) weights in ``cfg.w_range``.
        boundary: B_D/A: a scalar, (N,) per row or (N, G) per row and group of ``cfg.hmus``
            outputs. 0 (``DCIM``) is all-digital and equals ``a_int @ w_int.T`` exactly.
        analog: ADC model of the analog window; None = ideal analog (the window sums exact,
            only the discarded orders are lost).
        generator: random source of the ADC noise (``analog.noise_lsb > 0``).
        check: validate the integer ranges (skip in inner loops that already did).

    Returns:
        (N, M) float64 MAC results in integer units (A . W).

    How (equal bit for bit to :func:`hybrid_matmul_reference`, tested): the rows are grouped
    by their B (one group per distinct value; an (N, G) map sends each row to every B it
    uses, and each output takes the result of its own B). For one B, all digital one-bit MACs
    are a single batched matmul: weight plane i sees the activation with its bits j < B - i
    cleared, and those (N, K) operands are laid side by side along K, per 144-row chunk, so
    float32 stays exact. The analog windows of all weight bits are one more batched matmul
    (weight bit x chunk), whose per-chunk sums go through the ADC together. Every partial sum
    is an integer (the ADC codes are summed as integers and scaled by the LSB once), so the
    result does not depend on the order of the sums. With ADC noise the reference path runs
    instead (its noise draws keep their order).
    """
    if check:
        a_int = check_ints(a_int, *cfg.a_range, "activations")
        w_int = check_ints(w_int, *cfg.w_range, "weights")
        if a_int.dim() != 2 or w_int.dim() != 2 or a_int.shape[1] != w_int.shape[1]:
            raise SpecError(
                f"activations {tuple(a_int.shape)} and weights {tuple(w_int.shape)} "
                "must be (N, K) and (M, K)"
            )
    n, kdim = a_int.shape
    m = w_int.shape[0]
    g = -(-m // cfg.hmus)
    dev = a_int.device
    b = _as_boundary(boundary, n, g, dev)
    if check and b.numel():
        lo_b, hi_b = int(b.min()), int(b.max())
        if lo_b < 0 or hi_b > cfg.max_order + 1:
            raise SpecError(
                f"boundary holds values in [{lo_b}, {hi_b}], outside 0..{cfg.max_order + 1} "
                f"(B_D/A for {cfg.a_bits}b x {cfg.w_bits}b; 0 = all digital)"
            )
    if analog is not None and analog.full_scale is not None and analog.noise_lsb > 0:
        return hybrid_matmul_reference(a_int, w_int, b, cfg, analog, generator, check=False)
    values = [int(v) for v in torch.unique(b).tolist()] if b.numel() else [0]
    if len(values) == 1:
        return _uniform_matmul(a_int, w_int, values[0], cfg, analog)
    out = torch.empty(n, m, dtype=torch.float64, device=dev)
    b_out = b.repeat_interleave(cfg.hmus, dim=1)[:, :m]  # (N, M): each output's own B
    for v in values:
        hit = b_out == v
        rows = torch.nonzero(hit.any(1)).view(-1)
        res = _uniform_matmul(a_int.index_select(0, rows), w_int, v, cfg, analog)
        cur = out.index_select(0, rows)
        out.index_copy_(0, rows, torch.where(hit.index_select(0, rows), res, cur))
    return out


def _uniform_matmul(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    boundary: int,
    cfg: BitConfig,
    analog: AnalogConfig | None,
) -> torch.Tensor:
    """(N, M) float64 hybrid MAC of every row at one boundary (no noise): see hybrid_matmul.

    Two batched matmuls per call, whatever B: the digital part as the activation's a bit
    planes of each 144-row chunk laid side by side, (C, N, a x r), against one weight per
    plane j (sum over the digital weight bits i, i + j >= B, of s_i 2^(i+j) W[i]); the analog
    part as the I window operands (A >> lo_i) mod 2^nb_i against weight planes i, per chunk.
    Operands are formed with uint8 bit operations. Per-chunk sums stay below 2^24
    (chunk x 255 x 128), so float32 is exact; chunks are summed in float64.
    """
    from cimkit.osa.analog import _codes

    n, kdim = a_int.shape
    m = w_int.shape[0]
    dev = a_int.device
    ideal = analog is None or analog.full_scale is None
    pw = cfg.plane_weights()
    w_planes = bit_planes(w_int, cfg.w_bits).to(torch.float64)  # (w, M, K)
    if boundary <= 0:  # all digital: one exact matmul, as DCIM
        w_full = sum(pw[i] * w_planes[i] for i in range(cfg.w_bits))
        ft = _exact_float(kdim, cfg.a_range[1] * 2**cfg.w_bits, dev)
        return (a_int.to(ft) @ w_full.to(ft).T).to(torch.float64)
    c_ = -(-kdim // cfg.chunk)
    r_ = kdim if c_ == 1 else cfg.chunk
    # Digital weight of (plane j, row): sum_{i + j >= cut} s_i 2^(i + j) W[i]; with ideal
    # analog the window orders count as exact too (cut = B - window).
    cut = boundary - cfg.window if ideal else boundary
    windows = []  # (i, lo, nb) of the analog windows
    if not ideal:
        for i in range(cfg.w_bits):
            hi = min(max(boundary - i, 0), cfg.a_bits)
            lo = min(max(boundary - cfg.window - i, 0), cfg.a_bits)
            if hi > lo:
                windows.append((i, lo, hi - lo))
    # Digital: plane j of the activation against sum_{i + j >= cut} s_i 2^(i + j) W[i].
    wd = torch.zeros(cfg.a_bits, m, kdim, dtype=torch.float64, device=dev)
    for j in range(cfg.a_bits):
        for i in range(cfg.w_bits):
            if i + j >= cut:
                wd[j] += pw[i] * 2.0**j * w_planes[i]
    # (a, M, C, r) -> (C, a x r, M)
    wd = _pad_chunks(wd, r_).permute(2, 0, 3, 1).reshape(c_, cfg.a_bits * r_, m)
    a8 = _pad_chunks(a_int.to(torch.uint8), r_).transpose(0, 1).contiguous()  # (C, N, r)
    shifts = torch.arange(cfg.a_bits, dtype=torch.uint8, device=dev).view(-1, 1)
    planes = ((a8.unsqueeze(2) >> shifts) & 1).to(torch.float32)  # (C, N, a, r)
    d = torch.matmul(planes.view(c_, n, cfg.a_bits * r_), wd.to(torch.float32))  # (C, N, M)
    out = d.to(torch.float64).sum(0)
    if not windows:
        return out
    # Analog: the I windows (A >> lo) mod 2^nb of every weight bit, one batched matmul per
    # chunk: (I, C, N, r) @ (I, C, r, M) -> (I, C, N, M), each sum <= chunk x 15 (exact).
    xw = torch.empty(len(windows), c_, n, r_, dtype=torch.float32, device=dev)
    for q, (_, lo, nb) in enumerate(windows):
        xw[q].copy_((a8 >> lo) & (2**nb - 1))
    wp = _pad_chunks(w_planes[[i for i, _, _ in windows]], r_).permute(0, 2, 3, 1)
    v = torch.matmul(xw, wp.to(torch.float32))  # (I, C, N, M)
    full = torch.tensor([2.0**nb - 1 for _, _, nb in windows], dtype=torch.float64, device=dev)
    fs = analog.full_scale_for(torch.tensor(boundary, device=dev)).to(torch.float64)
    # u = v / (2^nb - 1) rows (the reference divides its in-place sums by 2^lo (2^nb - 1):
    # the same value, 2^lo being exact).
    codes, _ = _codes(v.to(torch.float64) / full.view(-1, 1, 1, 1), fs, analog.adc_bits, 0.0, None)
    # s_i 2^i 2^lo (2^nb - 1): each code's weight in the accumulator; the sum is an integer.
    coef = torch.tensor(
        [pw[i] * 2.0**lo * (2.0**nb - 1) for i, lo, nb in windows],
        dtype=torch.float64,
        device=dev,
    )
    # (I x C) @ (I x C, N x M): an exact integer sum, without an (I, C, N, M) product.
    codes_acc = (coef.repeat_interleave(c_) @ codes.reshape(-1, n * m)).view(n, m)
    return out + codes_acc * (fs / (2**analog.adc_bits - 1))


def hybrid_matmul_reference(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    boundary: int | torch.Tensor = DCIM,
    cfg: BitConfig = BitConfig(),
    analog: AnalogConfig | None = None,
    generator: torch.Generator | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Reference hybrid MAC, one weight bit at a time with per-row masks (the original path).

    Same arguments and results as :func:`hybrid_matmul`, which equals it bit for bit (tested)
    and is several times faster; this path also draws the ADC noise (``analog.noise_lsb > 0``),
    so :func:`hybrid_matmul` hands noisy runs to it.

    Args:
        a_int: (N, K) activations in [0, 2^a - 1] (any integer or integral float dtype).
        w_int: (M, K) weights in ``cfg.w_range``.
        boundary: B_D/A: a scalar, (N,) per row or (N, G) per row and group of ``cfg.hmus``
            outputs. 0 (``DCIM``) is all-digital and equals ``a_int @ w_int.T`` exactly.
        analog: ADC model of the analog window; None = ideal analog (the window sums exact,
            only the discarded orders are lost).
        generator: random source of the ADC noise (``analog.noise_lsb > 0``).
        check: validate the integer ranges (skip in inner loops that already did).

    Returns:
        (N, M) float64 MAC results in integer units (A . W).
    """
    from cimkit.osa.analog import _codes

    if check:
        a_int = check_ints(a_int, *cfg.a_range, "activations")
        w_int = check_ints(w_int, *cfg.w_range, "weights")
        if a_int.dim() != 2 or w_int.dim() != 2 or a_int.shape[1] != w_int.shape[1]:
            raise SpecError(
                f"activations {tuple(a_int.shape)} and weights {tuple(w_int.shape)} "
                "must be (N, K) and (M, K)"
            )
    n, kdim = a_int.shape
    m = w_int.shape[0]
    g = -(-m // cfg.hmus)
    dev = a_int.device
    b = _as_boundary(boundary, n, g, dev)
    if check and b.numel():
        lo_b, hi_b = int(b.min()), int(b.max())
        if lo_b < 0 or hi_b > cfg.max_order + 1:
            raise SpecError(
                f"boundary holds values in [{lo_b}, {hi_b}], outside 0..{cfg.max_order + 1} "
                f"(B_D/A for {cfg.a_bits}b x {cfg.w_bits}b; 0 = all digital)"
            )
    uniform = bool(torch.all(b == b[:, :1]))
    gd = 1 if uniform else g  # a leading group axis only when B differs between groups
    mg = m if uniform else cfg.hmus  # outputs per group
    bg = (b[:, :1] if uniform else b).T.contiguous().view(gd, n, 1)  # (Gd, N, 1)
    a = a_int.to(torch.int32)
    ft = _exact_float(kdim, cfg.a_range[1], dev)
    w_planes = bit_planes(w_int, cfg.w_bits).to(ft)  # (w, M, K)
    if not uniform:  # (w, M, K) -> (w, G, hmus, K), zero outputs padding the last group
        w_planes = torch.nn.functional.pad(w_planes, (0, 0, 0, g * cfg.hmus - m))
    w_planes = w_planes.reshape(cfg.w_bits, gd, mg, kdim)
    pw = cfg.plane_weights()
    ideal = analog is None or analog.full_scale is None
    if not ideal:
        fs = analog.full_scale_for(bg).to(torch.float64).view(gd, 1, n, 1)
        top = 2**analog.adc_bits - 1
        codes_acc = torch.zeros(gd, n, mg, dtype=torch.float64, device=dev)
        w_chunks = _pad_chunks(w_planes, cfg.chunk).permute(0, 1, 3, 4, 2)  # (w, Gd, C, r, Mg)
    out = torch.zeros(gd, n, mg, dtype=torch.float64, device=dev)
    # Weight planes whose every row is all-digital (B <= i) see the whole activation: by
    # linearity they are one matmul with sum_i s_i 2^i W[i] (exact in float64 or when small).
    full_digital = [i for i in range(cfg.w_bits) if bool(torch.all(bg <= i))]
    if full_digital:
        w_sum = sum(pw[i] * w_planes[i].to(torch.float64) for i in full_digital)
        ft_sum = ft if kdim * cfg.a_range[1] * 2**cfg.w_bits < 2**24 else torch.float64
        out += (a.to(ft_sum) @ w_sum.to(ft_sum).transpose(-1, -2)).to(torch.float64)
    for i in range(cfg.w_bits):
        if i in full_digital:
            continue
        hi = torch.clamp(bg - i, 0, cfg.a_bits)  # digital: bits j >= B - i
        lo = torch.clamp(bg - cfg.window - i, 0, cfg.a_bits)  # analog: lo <= j < hi
        one = torch.ones_like(hi, dtype=torch.int32)
        below_hi = (one << hi.to(torch.int32)) - 1  # (Gd, N, 1) masks of the bits j < hi
        below_lo = (one << lo.to(torch.int32)) - 1
        a_dig = a & ~below_hi  # (Gd, N, K) the digital bits, in place
        out += pw[i] * (a_dig.to(ft) @ w_planes[i].transpose(-1, -2)).to(torch.float64)
        nb = hi - lo  # (Gd, N, 1) analog input bits of weight bit i
        if not bool(torch.any(nb > 0)):
            continue
        # The window bits, left in place: their sums are 2^lo times the DAC inputs' sums.
        a_win = (a & (below_hi ^ below_lo)).to(ft)
        if ideal:
            v = (a_win @ w_planes[i].transpose(-1, -2)).to(torch.float64)
            out += pw[i] * v
            continue
        # Per-chunk window sums: (Gd, C, N, r) @ (Gd, C, r, Mg) -> (Gd, C, N, Mg), one SAR
        # conversion each; u is the window sum over 2^lo (2^nb - 1), in rows.
        v = torch.matmul(_pad_chunks(a_win, cfg.chunk).transpose(1, 2), w_chunks[i])
        full = torch.clamp(2.0 ** nb.to(torch.float64) - 1, min=1.0).view(gd, 1, n, 1)
        scale = (2.0 ** lo.to(torch.float64)).view(gd, 1, n, 1) * full
        codes, _ = _codes(
            v.to(torch.float64) / scale, fs, analog.adc_bits, analog.noise_lsb, generator
        )
        codes = torch.where(nb.view(gd, 1, n, 1) > 0, codes * full, 0.0)
        # s_i 2^i 2^lo x (2^nb - 1) x codes: exact integers; the LSB multiplies once, below.
        codes_acc += pw[i] * 2.0 ** lo.to(torch.float64) * codes.sum(1)
    if not ideal:
        out = out + codes_acc * (fs.view(gd, n, 1) / top)
    return out.permute(1, 0, 2).reshape(n, gd * mg)[:, :m]


def int_matmul(a_int: torch.Tensor, w_int: torch.Tensor) -> torch.Tensor:
    """(N, M) exact integer reference ``a_int @ w_int.T`` in int64 (what DCIM must equal)."""
    return a_int.to(torch.int64) @ w_int.to(torch.int64).T


def window_sums(
    a_int: torch.Tensor, w_int: torch.Tensor, boundary: int, cfg: BitConfig = BitConfig()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised charge-share inputs of the ADC at one scalar boundary (for calibration, SNR).

    For weight bit i the window holds activation bits j_lo(i) <= j < j_hi(i) (nb(i) bits); its
    per-chunk sum v = sum_r W[i][r] (A[r] >> j_lo mod 2^nb) is divided by 2^nb - 1, the DAC's
    full input code, so u lies in [0, chunk] whatever the window's width (see
    :mod:`cimkit.osa.analog`).

    Returns:
        u: (w_bits, C, N, M) float64 (zero where the window is empty), nb: (w_bits,) int64.
    """
    a = check_ints(a_int, *cfg.a_range, "activations")
    w = check_ints(w_int, *cfg.w_range, "weights")
    ft = _exact_float(a.shape[1], cfg.a_range[1], a.device)
    wc = _pad_chunks(bit_planes(w, cfg.w_bits).to(ft), cfg.chunk).permute(0, 2, 3, 1)
    us, nbs = [], []
    for i in range(cfg.w_bits):
        hi = min(max(boundary - i, 0), cfg.a_bits)
        lo = min(max(boundary - cfg.window - i, 0), cfg.a_bits)
        nb = hi - lo
        nbs.append(nb)
        if nb == 0:
            us.append(torch.zeros(wc.shape[1], a.shape[0], w.shape[0], dtype=torch.float64))
            continue
        a_win = (a >> lo) & (2**nb - 1)
        v = torch.matmul(_pad_chunks(a_win.to(ft), cfg.chunk).transpose(0, 1), wc[i])
        us.append(v.to(torch.float64) / (2**nb - 1))
    return torch.stack(us), torch.tensor(nbs, dtype=torch.int64)
