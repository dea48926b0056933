"""How many calibration images does a subnet measurement need? (predictor-data throughput)

Measures the same subnets with BN/clip recalibration on the first n training images for each n
in --sizes, on the same validation images, and compares every size with the largest one
(the reference): mean and worst |difference| in accuracy points, Kendall tau of the ranking,
and seconds per measurement. The smallest size whose differences stay well below the
predictors' RMSE target (0.5 pp) is the one to measure thousands of subnets with.

    .venv/bin/python tools/calib_size_check.py                      # shipped FP supernet
    .venv/bin/python tools/calib_size_check.py --supernet runs/accuracy/supernet_fp.pt
    .venv/bin/python tools/calib_size_check.py --quantized          # shipped QAT supernet

Prints one line per size and, with --out, writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--supernet", type=Path, default=None, help="fp16 state dict (shipped)")
    p.add_argument("--quantized", action="store_true", help="random S_Q policies, QAT weights")
    p.add_argument("--subnets", type=int, default=10, help="random subnets (+ largest/smallest)")
    p.add_argument("--sizes", default="128,256,512,1024,2048")
    p.add_argument("--n-eval", type=int, default=3000, help="validation images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    import torch
    from scipy.stats import kendalltau

    from cimkit.accuracy import data
    from cimkit.accuracy.encoding import Genome, random_genomes
    from cimkit.accuracy.pipeline import SHIP_DIR, _policies
    from cimkit.accuracy.supernet import SupernetConfig, load_state
    from cimkit.accuracy.train import measure, new_supernet

    torch.set_num_threads(a.threads)
    path = a.supernet or SHIP_DIR / ("supernet_q.pt" if a.quantized else "supernet_fp.pt")
    manifest = json.loads((SHIP_DIR / "manifest.json").read_text())
    cfg = SupernetConfig.from_dict(manifest["config"])
    net = new_supernet(cfg, False, lambda m: None)
    load_state(net, torch.load(path, weights_only=True))
    s = data.load("fashion-mnist")
    gs = [Genome.largest(), Genome.smallest(), *random_genomes(a.subnets, seed=a.seed)]
    if a.quantized:
        pol = _policies(len(gs) + 2, np.random.default_rng(a.seed))[2:]  # random policies
        gs = [Genome(g.depths, g.kernels, g.expands, b) for g, b in zip(gs, pol, strict=False)]
    sizes = sorted(int(v) for v in a.sizes.split(","))
    xe, ye = s.x_val[: a.n_eval], s.y_val[: a.n_eval]
    acc = np.zeros((len(sizes), len(gs)))
    secs = np.zeros(len(sizes))
    for i, n in enumerate(sizes):
        t = time.time()
        for j, g in enumerate(gs):
            acc[i, j] = measure(net, g, s.x_train[:n], xe, ye)
        secs[i] = (time.time() - t) / len(gs)
    ref = acc[-1]
    rows = []
    for i, n in enumerate(sizes):
        d = np.abs(acc[i] - ref) * 100
        rows.append({
            "n_calib": n, "mean_abs_diff_pp": round(float(d.mean()), 3),
            "max_abs_diff_pp": round(float(d.max()), 3),
            "kendall_tau_vs_ref": round(float(kendalltau(acc[i], ref)[0]), 3),
            "s_per_subnet": round(float(secs[i]), 2),
        })  # fmt: skip
        print(
            f"n_calib {n:5d}: |diff| mean {d.mean():.3f} pp, max {d.max():.3f} pp vs "
            f"{sizes[-1]}; tau {rows[-1]['kendall_tau_vs_ref']:.3f}; {secs[i]:.2f} s/subnet",
            flush=True,
        )
    print(
        f"{len(gs)} subnets ({'quantized' if a.quantized else 'FP'}, {path.name}), "
        f"{a.n_eval} validation images; accuracy range {ref.min():.4f}-{ref.max():.4f}"
    )
    if a.out:
        a.out.write_text(json.dumps({"supernet": str(path), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
