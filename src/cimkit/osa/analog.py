"""Analog path of OSA-HCIM: charge-share window sum, clip to full scale, 3-bit SAR, noise, SNR.

The paper gives the structure (Sec. IV-A: 1-4-bit analog inputs through a switch-matrix DAC,
bit-serial weight x bit-parallel activation, charge sharing over the 144 rows of an HMU, a
3-bit SAR ADC taking 3 cycles) but no ADC range, noise magnitude or mismatch model
(h4h-osa-notes.md B5, B8.7). Our model, step by step, for weight bit i of one chunk:

1. Window: the activation bits j_lo <= j < j_hi of the analog orders (nb = j_hi - j_lo bits,
   1..4) form an nb-bit input x_r = (A_r >> j_lo) mod 2^nb per row r.
2. DAC + charge share: each row drives W[i]_r x_r / (2^nb - 1) of the reference voltage and the
   144 rows share their charge, so the shared voltage is u / chunk of the reference, with
   u = sum_r W[i]_r x_r / (2^nb - 1) in [0, chunk] ("rows" below). The variable-precision DAC
   maps every window width onto the same voltage range, so one ADC range serves all i.
3. Clip + quantise: a uniform ADC of ``adc_bits`` bits over [0, FS] rows, LSB = FS / (2^bits - 1),
   codes 0 .. 2^bits - 1 at u = code x LSB (zero is a code, as it must be for the many empty
   windows of sparse post-ReLU data), decision levels half an LSB between codes (a SAR
   comparing with code + 1/2 LSB: round half up), inputs above FS clip to the top code.
4. Noise (optional): Gaussian, sigma = ``noise_lsb`` LSB, added to u / LSB before the decision
   (comparator and charge-sharing noise referred to the ADC input).
5. Reconstruct: v_hat = code x LSB x (2^nb - 1), shifted by s_i 2^i 2^j_lo in the accumulator.

FS is calibrated per layer: :func:`calibrate_full_scale` takes a percentile of u over
calibration data for each candidate boundary (the controller would set the ADC reference per
B_D/A; a single value for all B is also accepted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cimkit.errors import SpecError
from cimkit.osa.bitplane import BitConfig, hybrid_matmul, int_matmul, window_sums


@dataclass(frozen=True)
class AnalogConfig:
    """ADC model of the analog window.

    Attributes:
        full_scale: ADC full scale in rows (normalised charge-share units, 0 < FS <= chunk):
            one float for every boundary, a mapping boundary -> float, or None for an ideal
            (unquantised, noiseless) analog sum.
        adc_bits: SAR resolution (3 in the paper).
        noise_lsb: standard deviation of the Gaussian input-referred noise, in LSB.
    """

    full_scale: float | Mapping[int, float] | None = None
    adc_bits: int = 3
    noise_lsb: float = 0.0
    _table: tuple[tuple[int, float], ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.adc_bits, int) or not 1 <= self.adc_bits <= 12:
            raise SpecError(f"adc_bits={self.adc_bits!r} must be an integer in 1..12")
        if not (isinstance(self.noise_lsb, (int, float)) and math.isfinite(self.noise_lsb)):
            raise SpecError(f"noise_lsb={self.noise_lsb!r} must be a finite number >= 0")
        if self.noise_lsb < 0:
            raise SpecError(f"noise_lsb={self.noise_lsb!r} must be >= 0 (sigma in LSB)")
        fs = self.full_scale
        items: list[tuple[int, float]] = []
        if isinstance(fs, Mapping):
            items = [(int(k), float(v)) for k, v in fs.items()]
        elif fs is not None:
            items = [(-1, float(fs))]
        for k, v in items:
            if not (math.isfinite(v) and v > 0):
                where = "full_scale" if k < 0 else f"full_scale[{k}]"
                raise SpecError(f"{where}={v!r} must be a positive number of rows")
        object.__setattr__(self, "_table", tuple(items))

    def full_scale_for(self, boundary: torch.Tensor) -> torch.Tensor:
        """Full scale (rows, float64) of each element of an integer boundary tensor."""
        if not self._table:
            raise SpecError("full_scale is None (ideal analog): there is no ADC range")
        if self._table[0][0] < 0:
            return torch.full(boundary.shape, self._table[0][1], dtype=torch.float64,
                              device=boundary.device)  # fmt: skip
        keys = torch.tensor([k for k, _ in self._table], device=boundary.device)
        vals = torch.tensor([v for _, v in self._table], dtype=torch.float64,
                            device=boundary.device)  # fmt: skip
        hit = boundary.unsqueeze(-1) == keys
        found = hit.any(-1)
        # B <= window: nothing is analog, any range will do (the window is empty).
        if not bool(torch.all(found | (boundary <= 0))):
            missing = sorted({int(x) for x in boundary[~found & (boundary > 0)].unique()})
            raise SpecError(
                f"full_scale has no value for boundary {missing[0]}: calibrate it for every "
                f"candidate B (have {sorted(k for k, _ in self._table)})"
            )
        return torch.where(found, (hit.to(torch.float64) * vals).sum(-1), vals.max())


def _codes(
    u: torch.Tensor,
    full_scale: float | torch.Tensor,
    adc_bits: int,
    noise_lsb: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes as float64 integers, LSB) of ``u``: floor(u / LSB + noise + 1/2), clipped."""
    top = 2**adc_bits - 1
    lsb = torch.as_tensor(full_scale, dtype=torch.float64, device=u.device) / top
    x = u.to(torch.float64) / lsb
    if noise_lsb > 0:
        x = x + noise_lsb * torch.randn(
            x.shape, generator=generator, dtype=torch.float64, device=u.device
        )
    return torch.clamp(torch.floor(x + 0.5), 0, top), lsb


def sar_code(
    u: torch.Tensor,
    full_scale: float | torch.Tensor,
    adc_bits: int = 3,
    noise_lsb: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ADC codes (int64, 0 .. 2^bits - 1) of charge-share inputs ``u`` (rows), any shape.

    ``full_scale`` broadcasts against ``u``. Decision: floor(u / LSB + noise + 1/2), clipped.
    """
    return _codes(u, full_scale, adc_bits, noise_lsb, generator)[0].to(torch.int64)


def sar_reconstruct(
    u: torch.Tensor,
    full_scale: float | torch.Tensor,
    adc_bits: int = 3,
    noise_lsb: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Quantised value (rows, float64) of ``u``: ``sar_code(...) x LSB``."""
    codes, lsb = _codes(u, full_scale, adc_bits, noise_lsb, generator)
    return codes * lsb


def calibrate_full_scale(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    boundaries: Sequence[int],
    cfg: BitConfig = BitConfig(),
    percentile: float = 99.9,
    max_samples: int = 2_000_000,
    seed: int = 0,
) -> dict[int, float]:
    """Per-boundary ADC full scale (rows): a percentile of the charge-share inputs u.

    Only non-empty windows count (weight bits whose window has at least one bit). Use a
    calibration subset of the layer's inputs, not the data the result is reported on.

    Args:
        a_int: (N, K) calibration activations; w_int: (M, K) weights.
        boundaries: candidate B_D/A values.
        percentile: in (0, 100]; 100 is the largest observed u (no clipping on the subset).
        max_samples: u values drawn (seeded, uniformly) before taking the percentile.

    Returns:
        {B: FS} with FS >= 1 row (a layer whose windows are all empty gets 1).
    """
    if not 0 < percentile <= 100:
        raise SpecError(f"percentile={percentile!r} must be in (0, 100]")
    rng = np.random.default_rng(seed)
    out: dict[int, float] = {}
    for b in boundaries:
        u, nb = window_sums(a_int, w_int, int(b), cfg)
        vals = u[nb > 0].reshape(-1).cpu().numpy()
        if vals.size > max_samples:
            vals = vals[rng.integers(0, vals.size, max_samples)]
        fs = float(np.percentile(vals, percentile)) if vals.size else 1.0
        out[int(b)] = max(fs, 1.0)
    return out


def snr_db(exact: torch.Tensor, approx: torch.Tensor) -> float:
    """10 log10(mean exact^2 / mean (approx - exact)^2) in dB (inf when the error is zero)."""
    e = exact.to(torch.float64)
    err = float(((approx.to(torch.float64) - e) ** 2).mean())
    sig = float((e**2).mean())
    if err == 0:
        return math.inf
    return 10 * math.log10(sig / err) if sig > 0 else -math.inf


@dataclass(frozen=True)
class SnrPoint:
    """SNR (dB) of one boundary: with the ADC model and with ideal analog (discard only)."""

    boundary: int
    snr_db: float
    snr_ideal_db: float


def snr_vs_boundary(
    a_int: torch.Tensor,
    w_int: torch.Tensor,
    boundaries: Sequence[int],
    full_scale: float | Mapping[int, float],
    cfg: BitConfig = BitConfig(),
    noise_lsb: float = 0.0,
    seed: int = 0,
) -> list[SnrPoint]:
    """Fig. 5(b): SNR of the hybrid MAC against the exact integer MAC, per boundary.

    Args:
        a_int: (N, K) layer inputs (report data; calibrate ``full_scale`` on other rows).
        w_int: (M, K) layer weights.
        boundaries: B_D/A values (the paper's 5..10 for 8b x 8b).
        full_scale: ADC full scale (see :class:`AnalogConfig`).
        noise_lsb: ADC noise sigma in LSB.
        seed: seed of the noise.

    Returns:
        One :class:`SnrPoint` per boundary, in the given order.
    """
    exact = int_matmul(a_int, w_int).to(torch.float64)
    analog = AnalogConfig(full_scale=full_scale, noise_lsb=noise_lsb)
    gen = torch.Generator(device=a_int.device).manual_seed(seed)
    pts = []
    for b in boundaries:
        hy = hybrid_matmul(a_int, w_int, int(b), cfg, analog, gen)
        ideal = hybrid_matmul(a_int, w_int, int(b), cfg, None)
        pts.append(SnrPoint(int(b), snr_db(exact, hy), snr_db(exact, ideal)))
    return pts
