"""``HCIMConv2d`` / ``HCIMLinear``: torch layers that run their MACs through the OSA-HCIM simulator.

Each layer holds integer weights (per-output-channel symmetric scale, two's complement) and an
activation quantiser (scale and zero point, unsigned ``a_bits``). A forward pass

1. quantises the input: A = clamp(floor(x / act_scale + 1/2) + zero_point, 0, 2^a - 1)
   (post-ReLU inputs use zero_point 0; a signed input such as a normalised image uses a zero
   point and the term zero_point x sum_r W[m, r] is removed digitally, exactly),
2. forms the (N x H_out x W_out, C_in x kh x kw) im2col rows (channel-major, so 16 input
   channels x 3 x 3 fill one 144-row chunk), padding with the zero point (= a real 0),
3. picks B_D/A per output pixel and group of ``hmus`` outputs: 0 in ``"dcim"`` mode, the
   fixed ``boundary`` in ``"fixed"`` mode, or the OSE's choice from ``candidates`` and
   ``thresholds`` in ``"osa"`` mode (an explicit ``boundary=`` argument to ``forward``
   overrides all three),
4. runs :func:`cimkit.osa.bitplane.hybrid_matmul` and rescales:
   y = act_scale x w_scale[m] x (MAC - zero_point x sum_r W[m, r]) + bias[m].

After each forward the layer keeps ``last_boundary`` (N, G, H_out, W_out) (``HCIMLinear``:
(N, G)), ``last_saliency`` (same shape, OSA mode or ``record_saliency``) and ``last_counts``
(one-bit MACs: digital / analog / discarded, ADC conversions, 8b x 8b MACs), the inputs of the
energy model. The layers are for inference (no gradient flows through the simulator).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from cimkit.errors import SpecError
from cimkit.osa.analog import AnalogConfig, calibrate_full_scale
from cimkit.osa.bitplane import BitConfig, allocation_lookup, hybrid_matmul
from cimkit.osa.ose import OSEConfig, calibrate_norm, check_candidates, saliency, select_boundary

Mode = Literal["dcim", "fixed", "osa", "random"]
MODES = ("dcim", "fixed", "osa", "random")


#: Corrections of the hybrid MAC's error (``calibrate(bias_correction=...)``).
BIAS_MODELS = ("none", "mean", "bitcount")


def bias_model(value: bool | str) -> str:
    """The correction named by a ``bias_correction`` value (True = "mean", False = "none")."""
    if value is True:
        return "mean"
    if value is False:
        return "none"
    if value not in BIAS_MODELS:
        raise SpecError(f"bias_correction={value!r}: use one of {list(BIAS_MODELS)} or a bool")
    return str(value)


def bitplane_counts(rows: torch.Tensor, a_bits: int) -> torch.Tensor:
    """(N, a_bits + 1) float64: per row, how many of its K inputs have bit j set (j = 0 ..
    a_bits - 1), and a constant 1. In the macro these are the DAT sums of an all-ones weight
    column, one per input bit plane."""
    r = rows.to(torch.int64)
    cols = [((r >> j) & 1).sum(1).to(torch.float64) for j in range(a_bits)]
    cols.append(torch.ones(r.shape[0], dtype=torch.float64, device=r.device))
    return torch.stack(cols, 1)


def quantize_weights(
    weight: torch.Tensor, cfg: BitConfig = BitConfig()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric quantisation of a (M, ...) float weight.

    Returns:
        (w_int (M, ...) int64 in ``cfg.w_range``, w_scale (M,) float32) with
        weight ~= w_scale[m] x w_int[m]. An all-zero channel gets scale 1.
    """
    if not cfg.signed_weights:
        raise SpecError("quantize_weights needs signed_weights=True (symmetric two's complement)")
    qmax = 2 ** (cfg.w_bits - 1) - 1
    amax = weight.detach().abs().reshape(weight.shape[0], -1).amax(1)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax)).to(torch.float32)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    w_int = torch.clamp(torch.round(weight.detach() / scale.view(shape)), -qmax - 1, qmax)
    return w_int.to(torch.int64), scale


def quantize_activations(
    x: torch.Tensor, act_scale: float, zero_point: int, cfg: BitConfig = BitConfig()
) -> torch.Tensor:
    """A = clamp(floor(x / act_scale + 1/2) + zero_point, 0, 2^a - 1) as int64."""
    q = torch.floor(x.detach() / act_scale + 0.5) + zero_point
    return torch.clamp(q, 0, 2**cfg.a_bits - 1).to(torch.int64)


class _HCIMBase(nn.Module):
    """Shared state and B_D/A logic of the two layers."""

    def _setup(
        self,
        w_int: torch.Tensor,
        w_scale: torch.Tensor,
        bias: torch.Tensor | None,
        act_scale: float,
        zero_point: int,
        bits: BitConfig,
        mode: Mode,
        boundary: int | None,
        candidates: Sequence[int] | None,
        thresholds: Sequence[float] | None,
        analog: AnalogConfig | None,
        ose: OSEConfig,
        noise_seed: int,
        block_rows: int,
    ) -> None:
        if not (isinstance(act_scale, (int, float)) and act_scale > 0):
            raise SpecError(f"act_scale={act_scale!r} must be a positive number")
        if not isinstance(zero_point, int) or not 0 <= zero_point < 2**bits.a_bits:
            raise SpecError(
                f"zero_point={zero_point!r} must be an integer in 0..{2**bits.a_bits - 1}"
            )
        if not isinstance(block_rows, int) or block_rows < 1:
            raise SpecError(f"block_rows={block_rows!r} must be a positive integer")
        lo, hi = bits.w_range
        if w_int.numel() and (int(w_int.min()) < lo or int(w_int.max()) > hi):
            raise SpecError(f"weights outside [{lo}, {hi}]: quantize to w_bits={bits.w_bits}")
        self.bits = bits
        self.register_buffer("w_int", w_int.to(torch.int64).reshape(w_int.shape[0], -1))
        self.register_buffer("w_scale", w_scale.to(torch.float32).reshape(-1))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32))
        self.register_buffer("w_colsum", self.w_int.sum(1).to(torch.float64))
        self.act_scale = float(act_scale)
        self.zero_point = int(zero_point)
        self.analog = analog
        self.ose = ose
        self.noise_seed = int(noise_seed)
        self.block_rows = block_rows
        self.record_saliency = False
        self._pixels_per_image = 1  # rows per image of the current forward (random mode)
        #: B -> (M,) float64 integer MAC offsets added to each output computed at that B (the
        #: per-channel mean error of the hybrid MAC on calibration data; empty: no correction).
        self.mac_offset: dict[int, torch.Tensor] = {}
        #: B -> (a_bits + 1, M) float64 coefficients of the input-conditional correction
        #: (``bias_correction="bitcount"``): the offset added to output m of a row at B is
        #: round([n_0 .. n_{a-1}, 1] . coef[:, m]), n_j = the row's count of inputs with bit j
        #: set (empty: none; at most one of this and ``mac_offset`` is set).
        self.mac_offset_coef: dict[int, torch.Tensor] = {}
        self._generator: torch.Generator | None = None
        self.candidates: list[int] | None = None
        self.thresholds: list[float] | None = None
        self.set_mode(mode, boundary=boundary, candidates=candidates, thresholds=thresholds)
        self.last_boundary: torch.Tensor | None = None
        self.last_saliency: torch.Tensor | None = None
        self.last_counts: dict[str, int] = {}

    @property
    def groups(self) -> int:
        """G: groups of ``bits.hmus`` outputs sharing one saliency and one B_D/A."""
        return -(-self.w_int.shape[0] // self.bits.hmus)

    def set_mode(
        self,
        mode: Mode,
        boundary: int | None = None,
        candidates: Sequence[int] | None = None,
        thresholds: Sequence[float] | None = None,
    ) -> None:
        """Switch between ``"dcim"``, ``"fixed"`` (needs ``boundary``), ``"osa"`` (needs
        ``candidates`` and ``thresholds``, len(thresholds) = len(candidates) - 1) and
        ``"random"``: the saliency-blind control of OSA mode. It takes ``candidates`` and, as
        ``thresholds``, the shares demoted past each step (non-increasing, in [0, 1]: element
        t is the share of decisions at B_{t+1} or beyond), and draws each decision's B from a
        pseudo-random number of its input row and position (:meth:`_pseudo_uniform`), so the
        B shares match a given OSA point's with no saliency (and no OSE) behind the choice."""
        if mode not in MODES:
            raise SpecError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        if mode == "fixed":
            if boundary is None or not isinstance(boundary, int):
                raise SpecError("mode='fixed' needs boundary=<int B_D/A> (e.g. 8)")
            if not 0 <= boundary <= self.bits.max_order + 1:
                raise SpecError(f"boundary={boundary} must lie in 0..{self.bits.max_order + 1}")
        if mode in ("osa", "random"):
            if candidates is None or thresholds is None:
                raise SpecError(
                    f"mode={mode!r} needs candidates=[B0, B1, ...] and thresholds=[T0, ...]"
                )
            c = check_candidates(candidates, self.bits, self.ose.s if mode == "osa" else None)
            if mode == "random":
                sh = [float(v) for v in thresholds]
                if any(not 0 <= v <= 1 for v in sh) or any(
                    b > a for a, b in zip(sh, sh[1:], strict=False)
                ):
                    raise SpecError(
                        f"mode='random' thresholds {sh}: give demoted shares in [0, 1], "
                        "non-increasing (share at B_1 or beyond, at B_2 or beyond, ...)"
                    )
            if len(list(thresholds)) != len(c) - 1:
                raise SpecError(
                    f"thresholds has {len(list(thresholds))} values; {len(c)} candidates "
                    f"need {len(c) - 1}"
                )
            self.candidates, self.thresholds = c, [float(t) for t in thresholds]
        elif candidates is not None:
            self.candidates = check_candidates(candidates, self.bits, self.ose.s)
        self.mode: Mode = mode
        self.boundary = boundary if mode == "fixed" else None

    def reset_noise(self, seed: int | None = None) -> None:
        """Restart the ADC noise sequence (same seed: the same noise on the same inputs)."""
        if seed is not None:
            self.noise_seed = int(seed)
        self._generator = None

    def _gen(self, device: torch.device) -> torch.Generator | None:
        if self.analog is None or self.analog.noise_lsb == 0:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.noise_seed)
        return self._generator

    def _run_rows(
        self, rows: torch.Tensor, boundary: int | torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """MACs (N, M) float64, B (N, G) and S (N, G) or None for (N, K) integer rows."""
        n = rows.shape[0]
        g = self.groups
        w = self.w_int.to(rows.device)
        if boundary is not None and boundary.numel():
            lo, hi = int(boundary.min()), int(boundary.max())
            if lo < 0 or hi > self.bits.max_order + 1:
                raise SpecError(
                    f"boundary map holds values in [{lo}, {hi}], outside "
                    f"0..{self.bits.max_order + 1} (0 = all digital)"
                )
        want_s = self.mode == "osa" and boundary is None or self.record_saliency
        outs, bs, ss = [], [], []
        for start in range(0, n, self.block_rows):
            r = rows[start : start + self.block_rows]
            s = saliency(r, w, self.bits, self.ose) if want_s else None
            if boundary is not None:
                b = boundary[start : start + self.block_rows]
            elif self.mode == "dcim":
                b = torch.zeros(r.shape[0], g, dtype=torch.int64, device=r.device)
            elif self.mode == "fixed":
                b = torch.full((r.shape[0], g), int(self.boundary), device=r.device)
            elif self.mode == "random":
                u = self._pseudo_uniform(r, start)
                b = select_boundary(u, self.candidates, self.thresholds)
            else:
                b = select_boundary(s, self.candidates, self.thresholds)
            b = b.to(torch.int64).reshape(r.shape[0], -1).expand(r.shape[0], g)
            if self.analog is not None and self.analog.full_scale is not None:
                self.analog.full_scale_for(b.unique())  # a missing B fails before the work
            out = hybrid_matmul(r, w, b, self.bits, self.analog, self._gen(r.device), check=False)
            outs.append(self._correct(out, b, r))
            bs.append(b)
            if s is not None:
                ss.append(s)
        return torch.cat(outs), torch.cat(bs), (torch.cat(ss) if ss else None)

    def _pseudo_uniform(self, r: torch.Tensor, start: int) -> torch.Tensor:
        """(N, G) float64 in [0, 1): a hash of each row's integers, its pixel position in the
        image (row index ``start + i`` modulo :attr:`_pixels_per_image`) and the group, so
        the draw does not depend on batching, on resuming, or on other images in the batch.
        All-zero rows at different positions get different draws."""
        dev = r.device
        k = r.shape[1]
        g = torch.Generator().manual_seed(0x05A1 + self.noise_seed)
        coef = torch.randint(1, 2**31 - 1, (k,), generator=g, dtype=torch.int64).to(dev)
        pos = (torch.arange(r.shape[0], device=dev) + start) % max(self._pixels_per_image, 1)
        h = (r.to(torch.int64) * coef).sum(1) + pos * 0x9E3779B1  # int64 arithmetic wraps
        grp = torch.arange(self.groups, device=dev, dtype=torch.int64) * 0x632BE5AB
        x = h[:, None] + grp[None, :]
        for _ in range(2):  # xorshift-multiply mixing (splitmix64's finaliser, wrapping)
            x = x ^ ((x >> 31) & 0x1FFFFFFFF)
            x = x * 0x5851F42D4C957F2D
        return ((x >> 11) & (2**40 - 1)).to(torch.float64) / 2.0**40

    @property
    def correction_terms(self) -> int:
        """Multiply-adds per output of the input-conditional correction (0: none or a constant)."""
        return self.bits.a_bits + 1 if self.mac_offset_coef else 0

    def _correct(
        self, mac: torch.Tensor, b: torch.Tensor, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N, M) MACs plus the calibrated offset of each output's own B.

        ``mac_offset``: the accumulator adds one integer constant per output channel and B (it
        already adds the bias): the expected value of what the discarded orders and the ADC's
        rounding and clipping remove. ``mac_offset_coef`` (needs ``rows``): that expectation
        given the row's bit-plane counts (:func:`bitplane_counts`), so a row of small inputs,
        which loses less, is corrected by less. B = 0 (all digital, exact) and a B without an
        offset get none.
        """
        if not (self.mac_offset or self.mac_offset_coef):
            return mac
        m = mac.shape[1]
        bm = b.repeat_interleave(self.bits.hmus, dim=1)[:, :m]  # (N, M) B of each output
        if self.mac_offset_coef:
            if rows is None:
                raise SpecError("the bit-count correction needs the rows of the MACs")
            feats = bitplane_counts(rows, self.bits.a_bits)  # (N, a + 1)
            out = mac
            for bb, coef in self.mac_offset_coef.items():
                sel = bm == bb
                if bool(sel.any()):
                    off = torch.round(feats @ coef.to(mac.device))
                    out = torch.where(sel, out + off, out)
            return out
        table = torch.zeros(self.bits.max_order + 2, m, dtype=torch.float64, device=mac.device)
        for bb, off in self.mac_offset.items():
            table[bb] = off.to(mac.device)
        return mac + table[bm, torch.arange(m, device=mac.device)]

    def _count(self, b: torch.Tensor, k: int) -> None:
        """``last_counts`` from a (N, G) B map for a K-long reduction of each output."""
        m = self.w_int.shape[0]
        per_group = torch.full((self.groups,), self.bits.hmus, device=b.device)
        per_group[-1] = m - self.bits.hmus * (self.groups - 1)
        c = allocation_lookup(b, self.bits)
        chunks = -(-k // self.bits.chunk)
        self.last_counts = {
            "macs": int(b.shape[0] * m * k),
            "digital": int((c["digital"] * per_group).sum()) * k,
            "analog": int((c["analog"] * per_group).sum()) * k,
            "discarded": int((c["discarded"] * per_group).sum()) * k,
            "adc_conversions": int((c["acim_ops"] * per_group).sum()) * chunks,
        }

    def _rescale(self, mac: torch.Tensor) -> torch.Tensor:
        """(N, M) float64 MACs -> float32 outputs (zero point removed, scales, bias)."""
        y = (mac - self.zero_point * self.w_colsum.to(mac.device)) * (
            self.act_scale * self.w_scale.to(mac.device).to(torch.float64)
        )
        if self.bias is not None:
            y = y + self.bias.to(mac.device).to(torch.float64)
        return y.to(torch.float32)

    @torch.no_grad()
    def calibrate_ose(
        self, x: torch.Tensor, s: int | None = None, norm_percentile: float = 99.0
    ) -> None:
        """Set the OSE's order count ``s`` (default: keep it) and re-calibrate its N/Q norm on
        inputs ``x`` (as :meth:`calibrate` does), leaving the ADC ranges and MAC offsets as
        they are: they do not depend on the saliency evaluator."""
        s = self.ose.s if s is None else s
        ose = OSEConfig(s, self.ose.q_bits, self.ose.norm, self.ose.order_weighted)
        if self.candidates is not None:
            check_candidates(self.candidates, self.bits, ose.s)
        rows = self.rows(x)
        rows = rows[0] if isinstance(rows, tuple) else rows
        norm = calibrate_norm(rows, self.w_int.to(rows.device), self.bits, ose.s, norm_percentile)
        self.ose = OSEConfig(ose.s, ose.q_bits, norm, ose.order_weighted)

    def _calibrate_rows(
        self,
        rows: torch.Tensor,
        boundaries: Sequence[int] | None,
        fs_percentile: float,
        norm_percentile: float,
        noise_lsb: float | None,
        bias_correction: bool | str = False,
    ) -> None:
        model = bias_model(bias_correction)
        w = self.w_int.to(rows.device)
        cands = list(boundaries) if boundaries is not None else (
            self.candidates or ([self.boundary] if self.boundary is not None else [])
        )  # fmt: skip
        if not cands:
            raise SpecError("calibrate needs boundaries=[...] (or a fixed/osa mode that has them)")
        fs = calibrate_full_scale(rows, w, cands, self.bits, fs_percentile)
        noise = self.analog.noise_lsb if (noise_lsb is None and self.analog) else (noise_lsb or 0.0)
        adc_bits = self.analog.adc_bits if self.analog else 3
        self.analog = AnalogConfig(full_scale=fs, adc_bits=adc_bits, noise_lsb=noise)
        norm = calibrate_norm(rows, w, self.bits, self.ose.s, norm_percentile)
        self.ose = OSEConfig(self.ose.s, self.ose.q_bits, norm, self.ose.order_weighted)
        self.mac_offset = {}
        self.mac_offset_coef = {}
        if model != "none":
            # Post-training bias correction (Nagel et al., ICCV 2019, "Data-Free Quantization
            # Through Weight Equalization and Bias Correction", Sec. 4.2, here with data): the
            # discarded orders (k < B - 4) only ever drop the same-signed part of each weight
            # plane and the 3-bit ADC rounds and clips, so the hybrid MAC's error has a mean per
            # output channel. Its rounded mean over the calibration rows (noise-free ADC: the
            # noise has zero mean) is added back per B.
            exact = hybrid_matmul(rows, w, 0, self.bits, None)
            ideal = AnalogConfig(full_scale=fs, adc_bits=adc_bits, noise_lsb=0.0)
            feats = bitplane_counts(rows, self.bits.a_bits) if model == "bitcount" else None
            for bb in sorted({int(v) for v in cands if int(v) > 0}):
                err = exact - hybrid_matmul(rows, w, bb, self.bits, ideal)
                if feats is None:
                    self.mac_offset[bb] = err.mean(0).round()
                else:
                    # Least squares of the error on the row's bit-plane counts and a constant
                    # (one fit per output channel: the discarded orders of output m are
                    # sum_{i+j<B-4} sign_i 2^(i+j) sum_r W_i[m, r] A_j[r], whose expectation
                    # given the counts n_j = sum_r A_j[r] is linear in them). gelsd: rank-
                    # deficient columns (a bit plane that is never set) get a minimum-norm 0.
                    sol = torch.linalg.lstsq(feats.cpu(), err.cpu(), driver="gelsd").solution
                    self.mac_offset_coef[bb] = sol.to(torch.float64)


class HCIMConv2d(_HCIMBase):
    """A Conv2d (groups = 1, dilation = 1) computed by the OSA-HCIM simulator.

    Args:
        w_int: (C_out, C_in, kh, kw) integer weights in ``bits.w_range``.
        w_scale: (C_out,) float scale of each output channel's weights.
        bias: (C_out,) float or None.
        stride, padding: as ``nn.Conv2d`` (ints or pairs).
        act_scale, zero_point: input quantiser (see the module docstring).
        bits: precision and macro geometry.
        mode, boundary, candidates, thresholds: the B_D/A policy (see :meth:`set_mode`).
        analog: ADC model (None = ideal analog; calibrate with :meth:`calibrate`).
        ose: saliency evaluator settings.
        noise_seed: seed of the ADC noise.
        block_rows: im2col rows simulated at once (bounds memory).
    """

    def __init__(
        self,
        w_int: torch.Tensor,
        w_scale: torch.Tensor,
        bias: torch.Tensor | None = None,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        act_scale: float,
        zero_point: int = 0,
        bits: BitConfig = BitConfig(),
        mode: Mode = "dcim",
        boundary: int | None = None,
        candidates: Sequence[int] | None = None,
        thresholds: Sequence[float] | None = None,
        analog: AnalogConfig | None = None,
        ose: OSEConfig = OSEConfig(),
        noise_seed: int = 0,
        block_rows: int = 4096,
    ) -> None:
        super().__init__()
        if w_int.dim() != 4:
            raise SpecError(f"conv weights must be (C_out, C_in, kh, kw), got {tuple(w_int.shape)}")
        self.in_channels, self.out_channels = int(w_int.shape[1]), int(w_int.shape[0])
        self.kernel_size = (int(w_int.shape[2]), int(w_int.shape[3]))
        self.stride = nn.modules.utils._pair(stride)
        self.padding = nn.modules.utils._pair(padding)
        self._setup(w_int, w_scale, bias, act_scale, zero_point, bits, mode, boundary,
                    candidates, thresholds, analog, ose, noise_seed, block_rows)  # fmt: skip

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, act_scale: float, **kw: object) -> HCIMConv2d:
        """Quantise a float ``nn.Conv2d`` (per-channel symmetric weights) into an HCIM layer."""
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
            raise SpecError("HCIMConv2d supports groups=1, dilation=1, zero padding only")
        if isinstance(conv.padding, str):
            raise SpecError("HCIMConv2d needs numeric padding (not 'same'/'valid')")
        bits = kw.get("bits", BitConfig())
        w_int, w_scale = quantize_weights(conv.weight, bits)  # type: ignore[arg-type]
        return cls(w_int, w_scale, conv.bias, conv.stride, conv.padding, act_scale=act_scale, **kw)  # type: ignore[arg-type]

    def rows(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(N x H_out x W_out, C_in x kh x kw) integer im2col rows of ``x`` and (H_out, W_out)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise SpecError(f"input shape {tuple(x.shape)} must be (N, {self.in_channels}, H, W)")
        a = quantize_activations(x, self.act_scale, self.zero_point, self.bits)
        ph, pw = self.padding
        a = F.pad(a.to(torch.float32), (pw, pw, ph, ph), value=float(self.zero_point))
        kh, kw = self.kernel_size
        cols = F.unfold(a, (kh, kw), stride=self.stride)  # (N, K, L)
        ho = (a.shape[2] - kh) // self.stride[0] + 1
        wo = (a.shape[3] - kw) // self.stride[1] + 1
        return cols.transpose(1, 2).reshape(-1, cols.shape[1]).to(torch.int64), (ho, wo)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, boundary: int | torch.Tensor | None = None) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H_out, W_out). ``boundary``: an int or a B map
        (N, H_out, W_out) or (N, G, H_out, W_out) overriding the layer's mode."""
        n = x.shape[0]
        rows, (ho, wo) = self.rows(x)
        b = None
        if boundary is not None:
            b = torch.as_tensor(boundary, dtype=torch.int64, device=x.device)
            if b.dim() == 0:
                b = b.expand(rows.shape[0], self.groups)
            elif b.shape in ((n, ho, wo), (n, self.groups, ho, wo)):
                b = b.reshape(n, -1, ho * wo).transpose(1, 2).reshape(rows.shape[0], -1)
            else:
                raise SpecError(
                    f"boundary map shape {tuple(b.shape)} must be ({n}, {ho}, {wo}) or "
                    f"({n}, {self.groups}, {ho}, {wo})"
                )
        self._pixels_per_image = ho * wo
        mac, bmap, sal = self._run_rows(rows, b)
        self._count(bmap, rows.shape[1])
        self.last_boundary = bmap.view(n, ho, wo, -1).permute(0, 3, 1, 2).contiguous()
        self.last_saliency = (
            None if sal is None else sal.view(n, ho, wo, -1).permute(0, 3, 1, 2).contiguous()
        )
        y = self._rescale(mac)
        return y.view(n, ho, wo, -1).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def calibrate(
        self,
        x: torch.Tensor,
        boundaries: Sequence[int] | None = None,
        fs_percentile: float = 99.9,
        norm_percentile: float = 99.0,
        noise_lsb: float | None = None,
        bias_correction: bool | str = False,
    ) -> None:
        """Set the ADC full scale per boundary and the OSE norm from calibration inputs ``x``;
        with ``bias_correction`` also the correction of each boundary's MAC error: True or
        ``"mean"``, the per-channel mean (:attr:`mac_offset`, integer MAC units);
        ``"bitcount"``, its regression on the row's bit-plane counts
        (:attr:`mac_offset_coef`); False or ``"none"``, no correction."""
        rows, _ = self.rows(x)
        self._calibrate_rows(
            rows, boundaries, fs_percentile, norm_percentile, noise_lsb, bias_correction
        )


class HCIMLinear(_HCIMBase):
    """A Linear layer computed by the OSA-HCIM simulator (one "pixel" per sample).

    Args: as :class:`HCIMConv2d`, with ``w_int`` (out_features, in_features).
    """

    def __init__(
        self,
        w_int: torch.Tensor,
        w_scale: torch.Tensor,
        bias: torch.Tensor | None = None,
        *,
        act_scale: float,
        zero_point: int = 0,
        bits: BitConfig = BitConfig(),
        mode: Mode = "dcim",
        boundary: int | None = None,
        candidates: Sequence[int] | None = None,
        thresholds: Sequence[float] | None = None,
        analog: AnalogConfig | None = None,
        ose: OSEConfig = OSEConfig(),
        noise_seed: int = 0,
        block_rows: int = 4096,
    ) -> None:
        super().__init__()
        if w_int.dim() != 2:
            raise SpecError(f"linear weights must be (out, in), got {tuple(w_int.shape)}")
        self.out_features, self.in_features = int(w_int.shape[0]), int(w_int.shape[1])
        self._setup(w_int, w_scale, bias, act_scale, zero_point, bits, mode, boundary,
                    candidates, thresholds, analog, ose, noise_seed, block_rows)  # fmt: skip

    @classmethod
    def from_linear(cls, lin: nn.Linear, act_scale: float, **kw: object) -> HCIMLinear:
        """Quantise a float ``nn.Linear`` (per-output symmetric weights) into an HCIM layer."""
        bits = kw.get("bits", BitConfig())
        w_int, w_scale = quantize_weights(lin.weight, bits)  # type: ignore[arg-type]
        return cls(w_int, w_scale, lin.bias, act_scale=act_scale, **kw)  # type: ignore[arg-type]

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_features) integer rows of ``x``."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise SpecError(f"input shape {tuple(x.shape)} must be (N, {self.in_features})")
        return quantize_activations(x, self.act_scale, self.zero_point, self.bits)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, boundary: int | torch.Tensor | None = None) -> torch.Tensor:
        """(N, in) -> (N, out). ``boundary``: an int, (N,) or (N, G) overriding the mode."""
        rows = self.rows(x)
        b = None
        if boundary is not None:
            b = torch.as_tensor(boundary, dtype=torch.int64, device=x.device)
            if b.dim() == 0:
                b = b.expand(rows.shape[0], self.groups)
            elif b.shape not in ((rows.shape[0],), (rows.shape[0], self.groups)):
                raise SpecError(
                    f"boundary shape {tuple(b.shape)} must be ({rows.shape[0]},) or "
                    f"({rows.shape[0]}, {self.groups})"
                )
        mac, bmap, sal = self._run_rows(rows, b)
        self._count(bmap, rows.shape[1])
        self.last_boundary, self.last_saliency = bmap, sal
        return self._rescale(mac)

    @torch.no_grad()
    def calibrate(
        self,
        x: torch.Tensor,
        boundaries: Sequence[int] | None = None,
        fs_percentile: float = 99.9,
        norm_percentile: float = 99.0,
        noise_lsb: float | None = None,
        bias_correction: bool | str = False,
    ) -> None:
        """As :meth:`HCIMConv2d.calibrate`."""
        self._calibrate_rows(
            self.rows(x), boundaries, fs_percentile, norm_percentile, noise_lsb, bias_correction
        )
