#!/usr/bin/env python3
"""osa-report on validation images with a *fitted* OSE saliency (an OSE-computable score).

The OSE's accumulate step sums the N/Q codes q of the s-order one-bit MACs of the 8 outputs of a
group, each shifted by its order (paper Sec. III). Here the shifts are replaced by a weight
table: per layer, output channel m and saliency pair p one weight W[p, m], plus one constant per
group, so S(n, g) = c_g + sum over the group's outputs m and the pairs p of W[p, m] q[p, n, m]
(q summed over the row chunks, as the accumulator does). At run time that is the OSE's work
with multiply-adds in place of shifts; only the table is new.

The table is fitted once, offline, by least squares on the calibration images (validation
0..calib-1) to the log of the oracle of ``tools/osa_oracle_screen.py`` (the norm of the gradient
of the QAT net's log-probability of its own prediction w.r.t. the layer's outputs, per pixel and
group of 8). The threshold search (search images) and the screen (validation 3000..) never see
the oracle. Same options as osa-report; use its own --out (cache keys carry a "fitted" tag).

    .venv/bin/python tools/osa_fitted_screen.py --out runs/screen/f --images 1000 \
        --calib-images 32 --search-images 256 --map-images 8 --fixed 8,9,10 \
        --candidates 9,10 --constraints 0.02 --grid 4 --ose-orders 3 --bias-model bitcount

``--popcounts`` (this tool's own flag) adds the row's input bit-plane counts to the fit (one
weight per plane and group): with ``--bias-model bitcount`` the macro computes them already.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import cimkit.osa.layers as L
import cimkit.osa.report as R
from cimkit.osa.ose import group_sum, nq_codes, saliency_dmacs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import osa_screen  # noqa: E402  (the validation swap)
from osa_oracle_screen import oracle  # noqa: E402

# w_int data_ptr -> (W (P, M), c (G,), V (a_bits, G) or None)
TABLES: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
#: --popcounts: also the row's input bit-plane counts (the popcounts the bit-count correction
#: already computes), one weight per bit plane and group
POPCOUNTS = "--popcounts" in sys.argv
if POPCOUNTS:
    sys.argv.remove("--popcounts")
RIDGE = 1e-3  #: relative ridge on the normal equations (keeps rare codes finite)
_orig = L.saliency


def codes(a: torch.Tensor, w: torch.Tensor, cfg, ose) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """N/Q codes summed over chunks: (P, N, M) float64."""
    return nq_codes(saliency_dmacs(a, w, cfg, ose.s), cfg, ose).sum(1)


def fitted_saliency(a, w, cfg, ose):  # type: ignore[no-untyped-def]
    t = TABLES.get(w.data_ptr())
    if t is None:
        return _orig(a, w, cfg, ose)
    wt, c, v = t
    q = codes(a, w, cfg, ose)  # (P, N, M)
    s = group_sum(torch.einsum("pnm,pm->nm", q, wt), cfg.hmus) + c
    if v is not None:
        s = s + L.bitplane_counts(a, cfg.a_bits)[:, :-1] @ v
    return s


L.saliency = fitted_saliency


def fit_table(
    q: torch.Tensor, target: torch.Tensor, hmus: int, pc: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Least squares per group: q (P, N, M) codes, target (N, G), popcounts pc (N, a_bits) or
    None -> W (P, M), c (G,), V (a_bits, G) or None."""
    p, n, m = q.shape
    g = target.shape[1]
    qp = torch.nn.functional.pad(q, (0, g * hmus - m))  # (P, N, G*h)
    x = qp.view(p, n, g, hmus).permute(2, 1, 0, 3).reshape(g, n, p * hmus)  # (G, N, F)
    if pc is not None:
        x = torch.cat([x, pc.unsqueeze(0).expand(g, n, pc.shape[1])], 2)
    x = torch.cat([x, torch.ones(g, n, 1, dtype=x.dtype)], 2)
    y = target.T.unsqueeze(2)  # (G, N, 1)
    xtx = x.transpose(1, 2) @ x
    lam = RIDGE * xtx.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-12)
    eye = torch.eye(xtx.shape[1], dtype=x.dtype)
    eye[-1, -1] = 0  # the constant is not shrunk
    beta = torch.linalg.solve(xtx + lam[:, None, None] * eye, x.transpose(1, 2) @ y)[..., 0]
    k = p * hmus
    w = beta[:, :k].reshape(g, p, hmus).permute(1, 0, 2).reshape(p, g * hmus)[:, :m]
    v = None if pc is None else beta[:, k:-1].T.contiguous()
    return w.contiguous(), beta[:, -1].contiguous(), v


_cal = R.Runner._calibrate


def _calibrate(self):  # type: ignore[no-untyped-def]
    _cal(self)
    xc = torch.from_numpy(self.data.x_val[: self.s.calib_images]).to(self.dev)
    from cimkit.osa.train import load_shipped

    target = oracle(self, load_shipped(self.model_file), xc)
    from scipy.stats import spearmanr

    for i, lay in enumerate(self.layers):
        x_in = self.calib_inputs[i]
        rows = lay.rows(x_in)
        rows = rows[0] if isinstance(rows, tuple) else rows
        w = lay.w_int.to(rows.device)
        q = codes(rows, w, lay.bits, lay.ose)
        y = torch.log(target[i] + 1e-6 * target[i].mean().clamp_min(1e-30))
        pc = L.bitplane_counts(rows, lay.bits.a_bits)[:, :-1] if POPCOUNTS else None
        TABLES[w.data_ptr()] = fit_table(q, y, lay.bits.hmus, pc)
        lay.w_int = w  # the same tensor the table is keyed on
        s_fit = fitted_saliency(rows, w, lay.bits, lay.ose)
        rho = spearmanr(s_fit.reshape(-1).numpy(), y.reshape(-1).numpy()).statistic
        self.progress(f"fitted saliency {self.names[i]}: in-sample Spearman {rho:.2f}")
    tag = {"k": self.calib_key, "fitted": 1, "ridge": RIDGE}
    self.calib_key = R._hash({**tag, "popcounts": 1} if POPCOUNTS else tag)
    self.progress("fitted saliency installed")


R.Runner._calibrate = _calibrate


if __name__ == "__main__":
    raise SystemExit(osa_screen.main())
