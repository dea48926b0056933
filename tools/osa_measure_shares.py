"""Measure the B_D/A distribution and operand bit densities of the shipped ResNet-20 in OSA mode.

The OSA-HCIM energy prediction (``cimkit osa-energy``, docs/osa-hcim.md "Energy and latency")
needs the share of one-bit MAC work at each boundary B_D/A. The paper gives that share only as a
figure (Fig. 8(b), ResNet-18 / CIFAR-100), so cimkit measures its own on the shipped 8-bit
ResNet-20 (Fashion-MNIST):

1. Calibrate every simulator layer (3-bit ADC full scale per B at the 99.9th percentile, OSE norm
   at the 99th) on ``--calib`` validation images 0 .. calib-1.
2. Record each layer's saliency on the search images (validation images calib .. calib+n-1,
   disjoint from the calibration ones) and build per-layer quantile grids of ``--grid`` points.
3. For each loss-constraint set, run the threshold search (``cimkit.osa.thresholds``, per-layer
   mode, B = ``--candidates``, default 5..10) on the search images, then one more pass at the
   found thresholds that counts the one-bit MACs at each B (weighted by the MACs of each
   layer, not by its pixels).
4. Also measure the operand bit densities (share of ones of each weight bit plane and each
   activation bit plane over every MAC, in the DCIM pass), which set the adder-tree activity.

Writes ``src/cimkit/data/osa/osa65_measured.json`` (or ``--out``). Resumable: each finished
constraint set is written as it completes and skipped on a rerun. Progress goes to stderr.

    nice -n 19 .venv/bin/python tools/osa_measure_shares.py --calib 32 --n 96 --grid 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "cimkit" / "data" / "osa" / "osa65_measured.json"
#: Final loss budget per set (allowed increase of the mean cross-entropy in nats over every pixel
#: at B_0); the constraints are cumulative, L_i = budget x (i + 1) / (b - 1), as osa-report's.
BUDGETS = {"tight": 0.01, "medium": 0.05, "loose": 0.15}


def constraints(name: str, b: int) -> tuple[float, ...]:
    return tuple(round(BUDGETS[name] * (i + 1) / (b - 1), 6) for i in range(b - 1))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=32, help="calibration images (validation 0..)")
    ap.add_argument("--n", type=int, default=96, help="search images (after the calibration ones)")
    ap.add_argument("--grid", type=int, default=10, help="quantile grid points per layer")
    ap.add_argument("--sets", default="tight,medium,loose", help="constraint sets to run")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--candidates", default="5,6,7,8,9,10", help="B candidates, most precise first")
    ap.add_argument(
        "--bias-correction",
        action="store_true",
        help="calibrate per-channel MAC offsets per B (docs/osa-hcim.md section 6); the sets are "
        "named '..., bias-corrected'",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    B = tuple(int(x) for x in args.candidates.split(","))

    from cimkit.accuracy.data import load
    from cimkit.osa.resnet import to_hcim
    from cimkit.osa.thresholds import evaluation_from, quantile_grid, search_thresholds
    from cimkit.osa.train import load_shipped

    doc = json.loads(args.out.read_text()) if args.out.is_file() else {}
    sp = load("fashion-mnist")
    xc = torch.from_numpy(sp.x_val[: args.calib])
    xs = torch.from_numpy(sp.x_val[args.calib : args.calib + args.n])
    ys = sp.y_val[args.calib : args.calib + args.n]
    sim, named = to_hcim(load_shipped())
    layers = [lay for _, lay in named]

    # 1. Calibration inputs of every layer (DCIM pass), then ADC ranges and OSE norms.
    captured: dict[int, torch.Tensor] = {}
    hooks = [
        lay.register_forward_pre_hook(lambda m, a, i=i: captured.__setitem__(i, a[0].detach()))
        for i, lay in enumerate(layers)
    ]
    with torch.no_grad():
        sim(xc)
    for h in hooks:
        h.remove()
    for i, lay in enumerate(layers):
        lay.calibrate(captured[i], boundaries=list(B), bias_correction=args.bias_correction)
    captured.clear()
    log(f"calibrated {len(layers)} layers on {args.calib} images")

    # 4. Bit densities over every MAC of the search images (DCIM pass, hooks on the inputs).
    w_ones = np.zeros(8)
    a_ones = np.zeros(8)
    macs_total = 0.0

    def density_hook(m: torch.nn.Module, a: tuple[torch.Tensor, ...]) -> None:
        nonlocal macs_total
        rows = m.rows(a[0])
        r = rows[0] if isinstance(rows, tuple) else rows  # (N, K) integers
        r = r.to(torch.int64)
        w = torch.remainder(m.w_int.reshape(m.w_int.shape[0], -1).to(torch.int64), 256)
        n, k = r.shape
        mo = w.shape[0]
        for bit in range(8):
            a_ones[bit] += float(((r >> bit) & 1).sum()) * mo
            w_ones[bit] += float(((w >> bit) & 1).sum()) * n
        macs_total += float(n * k * mo)

    hooks = [lay.register_forward_pre_hook(density_hook) for lay in layers]
    for lay in layers:
        lay.set_mode("dcim")
        lay.record_saliency = True
    with torch.no_grad():
        sim(xs)
    for h in hooks:
        h.remove()
    sal = [lay.last_saliency.numpy().ravel() for lay in layers]
    for lay in layers:
        lay.record_saliency = False
    doc["bit_density"] = {
        "weight": (w_ones / macs_total).round(5).tolist(),
        "activation": (a_ones / macs_total).round(5).tolist(),
        "note": "share of ones of each bit plane (LSB first) over every MAC of the search images; "
        "weights as two's complement bit patterns",
    }
    log(f"bit densities: w {doc['bit_density']['weight']} a {doc['bit_density']['activation']}")

    # 2. Per-layer quantile grids of the search images' saliency.
    grid = quantile_grid(sal, args.grid)
    macs = np.array([float(lay.last_counts["macs"]) for lay in layers])

    def run(t: np.ndarray):
        t = np.broadcast_to(t, (len(layers), len(B) - 1))
        for row, lay in zip(t, layers, strict=True):
            lay.set_mode("osa", candidates=B, thresholds=row.tolist())
        with torch.no_grad():
            logits = sim(xs).numpy()
        return evaluation_from(logits, ys, [lay.last_boundary.numpy() for lay in layers], B)

    calls = 0

    def evaluate(t: np.ndarray):
        nonlocal calls
        calls += 1
        t0 = time.time()
        r = run(t)
        log(f"  eval {calls}: loss {r.loss:.4f} acc {r.accuracy:.4f} ({time.time() - t0:.0f} s)")
        return r

    doc.setdefault("sets", {})
    doc["setup"] = {
        "network": "shipped ResNet-20 (src/cimkit/data/osa/resnet20_fmnist_int8.pt)",
        "candidates": list(B),
        "calibration_images": f"fashion-mnist validation 0..{args.calib - 1}",
        "search_images": f"fashion-mnist validation {args.calib}..{args.calib + args.n - 1}",
        "adc": "3-bit SAR, full scale per layer and B at the 99.9th percentile, no noise",
        "ose": "s = 2 orders, 3-bit N/Q, norm per layer at the 99th percentile",
        "bias_correction": "per-channel MAC offset per B from the calibration images"
        if args.bias_correction
        else "none",
        "search": f"cimkit.osa.thresholds.search_thresholds, per-layer, {args.grid}-point "
        "quantile grid, metric loss",
        "command": "tools/osa_measure_shares.py " + " ".join(sys.argv[1:]),
    }
    for set_name in args.sets.split(","):
        # One entry per constraint set and candidate list ("loose, B=6,8,10").
        name = f"{set_name}, B={','.join(map(str, B))}"
        if args.bias_correction:
            name += ", bias-corrected"
        if name in doc["sets"]:
            log(f"{name}: done already, skipped")
            continue
        L = constraints(set_name, len(B))
        log(f"{name}: search with L = {L}")
        calls = 0
        res = search_thresholds(evaluate, B, L, grid, mode="per-layer")
        final = run(res.thresholds)
        # MAC-weighted share of each B over the whole network (b_share is per layer decision).
        share = (final.b_share * macs[:, None]).sum(0) / macs.sum()
        doc["sets"][name] = {
            "constraints": list(L),
            "candidates": list(B),
            "loss_ref": res.loss_ref,
            "accuracy_ref": res.accuracy_ref,
            "loss": final.loss,
            "accuracy": final.accuracy,
            "share": {str(b): round(float(s), 6) for b, s in zip(B, share, strict=True)},
            "share_per_layer": final.b_share.round(5).tolist(),
            "layer_macs": macs.tolist(),
            "evaluations": res.evaluations,
            "setup": dict(doc["setup"]),
        }
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        log(f"{name}: share {doc['sets'][name]['share']} acc {final.accuracy:.4f}")
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
