#!/usr/bin/env python3
"""Upper bound of the OSE: osa-report on validation images with an *oracle* saliency.

Not an OSE (it reads the float network's gradients): per pixel and group of 8 outputs, S is the
norm of the gradient of the QAT network's log-probability of its own prediction (no labels)
with respect to that layer's outputs, computed per batch before the simulated forward. The
threshold search, the controls and the energy (the OSE still charged) are those of
``cimkit osa-report``; the test split is swapped for validation images 3000.. as in
``tools/osa_screen.py``. docs/osa-hcim.md, "An oracle saliency", reports what it gives.

Usage (same options as osa-report; use its own --out: the cache keys carry an "oracle" tag):
    .venv/bin/python tools/osa_oracle_screen.py --out runs/screen/oracle --images 1000 \
        --calib-images 32 --search-images 256 --map-images 8 --fixed 8,9,10 \
        --candidates 9,10 --constraints 0.04 --grid 4 --ose-orders 3
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import cimkit.osa.layers as L
import cimkit.osa.report as R

sys.path.insert(0, str(Path(__file__).resolve().parent))
import osa_screen  # noqa: E402  (the validation swap)

ORACLE = {}  # layer index -> (rows, G) float64 for the current batch
IDX = {}  # w_int data_ptr -> layer index
_orig = L.saliency


def oracle_saliency(a, w, cfg, ose):
    i = IDX.get(w.data_ptr())
    if i is None or i not in ORACLE:
        return _orig(a, w, cfg, ose)
    s = ORACLE[i]
    assert s.shape[0] == a.shape[0], (s.shape, a.shape)
    return s


def oracle(runner, qat, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per simulated layer i, the oracle (rows, G) float64 of images ``x``: per pixel (in the
    im2col row order) and group of ``hmus`` outputs, the norm of the gradient of the QAT
    network's log-probability of its own prediction w.r.t. that layer's outputs."""
    qlayers = [m for _, m in qat.quantized_layers()]
    outs = {}
    hs = [
        m.register_forward_hook(lambda mod, inp, out, i=i: outs.__setitem__(i, out))
        for i, m in enumerate(qlayers)
    ]
    with torch.enable_grad():
        logits = qat(x)
        for o in outs.values():
            o.retain_grad()
        lp = torch.log_softmax(logits, 1)
        lp.gather(1, lp.argmax(1, keepdim=True)).sum().backward()
    for h in hs:
        h.remove()
    res = {}
    for i, o in outs.items():
        g = o.grad.detach().double()
        if g.dim() == 4:  # (N, M, H, W) -> one row per pixel, in the im2col row order
            g = g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])
        hm = runner.layers[i].bits.hmus
        m = g.shape[1]
        groups = -(-m // hm)
        g = torch.nn.functional.pad(g, (0, groups * hm - m))
        res[i] = g.view(g.shape[0], groups, hm).norm(dim=2)
    qat.zero_grad(set_to_none=True)
    return res


def _install(runner):
    from cimkit.osa.train import load_shipped

    qat = load_shipped(runner.model_file)
    for i, lay in enumerate(runner.layers):
        IDX[lay.w_int.data_ptr()] = i
        lay.block_rows = 10**9
    sim_forward = runner.sim.forward

    def forward(x):
        ORACLE.clear()
        ORACLE.update(oracle(runner, qat, x))
        return sim_forward(x)

    runner.sim.forward = forward


_cal = R.Runner._calibrate


def _calibrate(self):
    _cal(self)
    _install(self)
    self.calib_key = R._hash({"k": self.calib_key, "oracle": 1})
    self.progress("oracle saliency installed")


if __name__ == "__main__":
    L.saliency = oracle_saliency
    R.Runner._calibrate = _calibrate
    raise SystemExit(osa_screen.main())
