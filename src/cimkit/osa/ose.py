"""On-the-fly Saliency Evaluator (OSE): saliency S from the highest orders, and B_D/A from S.

Paper Sec. III and V-A; the hardware is only Fig. 4(a), so this is our reading, step by step
(h4h-osa-notes.md B1, B3, B8.4-5):

1. Saliency Evaluation Mode: the s highest orders k = w+a-2 .. w+a-1-s are computed exactly in
   DCIM, one one-bit MAC (i, j) per cycle (s = 2 at 8b x 8b: (7,7), (7,6), (6,7), 3 cycles).
   ``s`` counts orders, as the paper's k range says. Each cycle gives, per HMU (one output
   channel) and per 144-row chunk, a DMAC count in 0 .. 144.
2. N/Q: each DMAC is normalised by ``norm`` rows and quantised to ``q_bits`` = 3 bits:
   q = min(2^q - 1, floor(DMAC (2^q - 1) / norm + 1/2)). ``norm`` is a per-layer constant
   (``calibrate_norm``: a percentile of the non-zero DMACs on calibration data; 144 if unset).
3. Accumulate: S = sum over the HMUs of a group (``BitConfig.hmus`` = 8 outputs), the chunks
   and the cycles of q x 2^(k - k_low) (the accumulator's shift by order; ``order_weighted``
   False sums the q unweighted). One S per output pixel and group of 8 outputs.
4. Select: with candidates B_0 < B_1 < ... < B_{b-1} (B_0 the most precise) and thresholds
   T_0 .. T_{b-2}, a pixel starts at B_0 and is demoted from B_t to B_{t+1} while S < T_t
   (the order in which :mod:`cimkit.osa.thresholds` searches them). For thresholds sorted
   in decreasing order this is "B_t for T_t <= S < T_{t-1}".

Counts are non-negative, so S works unchanged with two's complement weights (the sign plane's
bits are counted like the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cimkit.errors import SpecError
from cimkit.osa.bitplane import BitConfig, _exact_float, _pad_chunks, check_ints


@dataclass(frozen=True)
class OSEConfig:
    """Saliency evaluator settings.

    Attributes:
        s: highest output orders computed first (2 in the paper's Fig. 2).
        q_bits: N/Q output bits (3).
        norm: DMAC count (rows) mapped to the top N/Q code; None = the chunk (144).
        order_weighted: weight each cycle's q by 2^(k - k_low) when accumulating.
    """

    s: int = 2
    q_bits: int = 3
    norm: float | None = None
    order_weighted: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.s, int) or isinstance(self.s, bool) or self.s < 1:
            raise SpecError(f"s={self.s!r} must be a positive integer (orders)")
        if not isinstance(self.q_bits, int) or not 1 <= self.q_bits <= 8:
            raise SpecError(f"q_bits={self.q_bits!r} must be an integer in 1..8")
        if self.norm is not None and not (float(self.norm) > 0 and np.isfinite(self.norm)):
            raise SpecError(f"norm={self.norm!r} must be a positive number of rows")


def saliency_pairs(cfg: BitConfig, s: int) -> list[tuple[int, int, int]]:
    """(i, j, k) of the one-bit MACs of the s highest orders, highest order first."""
    k_low = cfg.max_order + 1 - s
    if k_low < 0:
        raise SpecError(f"s={s} exceeds the {cfg.max_order + 1} orders of the MAC")
    pairs = [
        (i, k - i, k)
        for k in range(cfg.max_order, k_low - 1, -1)
        for i in range(cfg.w_bits - 1, -1, -1)
        if 0 <= k - i < cfg.a_bits
    ]
    return pairs


def saliency_dmacs(
    a_int: torch.Tensor, w_int: torch.Tensor, cfg: BitConfig = BitConfig(), s: int = 2
) -> torch.Tensor:
    """DMAC counts of the saliency cycles: (P, C, N, M) float, P = len(saliency_pairs)."""
    a = check_ints(a_int, *cfg.a_range, "activations")
    w = check_ints(w_int, *cfg.w_range, "weights")
    ft = _exact_float(cfg.chunk, 1, a.device)
    pairs = saliency_pairs(cfg, s)
    wu = torch.remainder(w, 2**cfg.w_bits)  # two's complement bit patterns
    a_planes = {
        j: _pad_chunks(((a >> j) & 1).to(ft), cfg.chunk).transpose(0, 1)
        for j in {j for _, j, _ in pairs}
    }  # (C, N, r) each
    w_planes = {
        i: _pad_chunks(((wu >> i) & 1).to(ft), cfg.chunk).permute(1, 2, 0)
        for i in {i for i, _, _ in pairs}
    }  # (C, r, M) each
    return torch.stack([torch.matmul(a_planes[j], w_planes[i]) for i, j, _ in pairs])


def saliency(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    cfg: BitConfig = BitConfig(),
    ose: OSEConfig = OSEConfig(),
) -> torch.Tensor:
    """Saliency S of every row and group of ``cfg.hmus`` outputs.

    Args:
        a_int: (N, K) activations; w_int: (M, K) weights.

    Returns:
        (N, G) float64, G = ceil(M / hmus); integer-valued.
    """
    q = nq_codes(saliency_dmacs(a_int, w_int, cfg, ose.s), cfg, ose)  # (P, C, N, M)
    pairs = saliency_pairs(cfg, ose.s)
    k_low = cfg.max_order + 1 - ose.s
    wts = torch.tensor(
        [2.0 ** (k - k_low) if ose.order_weighted else 1.0 for _, _, k in pairs],
        dtype=torch.float64,
        device=q.device,
    )
    return group_sum(torch.einsum("pcnm,p->nm", q, wts), cfg.hmus)


def nq_codes(dmacs: torch.Tensor, cfg: BitConfig, ose: OSEConfig) -> torch.Tensor:
    """Step 2 (N/Q): DMAC counts (any shape) -> float64 codes in 0 .. 2^q_bits - 1."""
    top = 2**ose.q_bits - 1
    norm = float(cfg.chunk if ose.norm is None else ose.norm)
    return torch.clamp(torch.floor(dmacs.to(torch.float64) * top / norm + 0.5), 0, top)


def group_sum(per_out: torch.Tensor, hmus: int) -> torch.Tensor:
    """(N, M) per-output values -> (N, G) sums over groups of ``hmus`` outputs (the last group
    zero-padded), G = ceil(M / hmus)."""
    n, m = per_out.shape
    g = -(-m // hmus)
    per_out = torch.nn.functional.pad(per_out, (0, g * hmus - m))
    return per_out.view(n, g, hmus).sum(-1)


def check_candidates(candidates: Sequence[int], cfg: BitConfig, s: int | None = None) -> list[int]:
    """Candidates as a list of ints, strictly increasing, within 0 .. max order + 1."""
    c = [int(x) for x in candidates]
    if not c:
        raise SpecError("candidates is empty: give at least one B_D/A")
    if any(b < 0 or b > cfg.max_order + 1 for b in c):
        raise SpecError(f"candidates {c} must lie in 0..{cfg.max_order + 1}")
    if any(x >= y for x, y in zip(c, c[1:], strict=False)):
        raise SpecError(f"candidates {c} must be strictly increasing (most precise first)")
    if s is not None and c[-1] > cfg.max_order + 1 - s:
        raise SpecError(
            f"candidate B={c[-1]} would move saliency order {cfg.max_order + 1 - s} out of "
            f"DCIM: use B <= {cfg.max_order + 1 - s} with s={s}"
        )
    return c


def select_boundary(
    sal: torch.Tensor, candidates: Sequence[int], thresholds: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """B_D/A per element of ``sal`` (int64, same shape): the threshold cascade of step 4."""
    c = [int(x) for x in candidates]
    t = torch.as_tensor(thresholds, dtype=torch.float64, device=sal.device).reshape(-1)
    if t.numel() != len(c) - 1:
        raise SpecError(f"thresholds has {t.numel()} values; {len(c)} candidates need {len(c) - 1}")
    if bool(torch.any(torch.isnan(t))):
        raise SpecError("thresholds must be numbers (inf allowed, not NaN)")
    idx = torch.zeros(sal.shape, dtype=torch.int64, device=sal.device)
    s = sal.to(torch.float64)
    for step in range(len(c) - 1):
        idx = torch.where((idx == step) & (s < t[step]), step + 1, idx)
    return torch.tensor(c, dtype=torch.int64, device=sal.device)[idx]


def calibrate_norm(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    cfg: BitConfig = BitConfig(),
    s: int = 2,
    percentile: float = 99.0,
) -> float:
    """N/Q normalisation (rows): a percentile of the non-zero saliency DMACs (>= 1).

    Calibrate on a subset of the layer's inputs; the top-order DMACs of post-ReLU data are
    mostly zero, so the zeros are left out of the percentile.
    """
    if not 0 < percentile <= 100:
        raise SpecError(f"percentile={percentile!r} must be in (0, 100]")
    d = saliency_dmacs(a_int, w_int, cfg, s).reshape(-1)
    d = d[d > 0].cpu().numpy()
    return max(float(np.percentile(d, percentile)), 1.0) if d.size else float(cfg.chunk)
