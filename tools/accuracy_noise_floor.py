"""How much of a measured subnet accuracy is the choice of validation images? (label noise)

A predictor's label is one measurement: a subnet's top-1 on the 5,000 validation images after
BN/clip recalibration. Which images happen to be in that split moves the label by a few tenths
of a point. This tool measures how much: it re-measures subnets from the predictor data
(``measure_{fp,q}.jsonl``) keeping every image's outcome, compares the full-split accuracy with
the cached label (same supernet and settings; ``repeat_*`` in the summary), and compares the
two disjoint halves of the split (even / odd image index) with each other:

* ``tau_halves``: Kendall tau between the two half-split accuracies (2,500 images each).
* ``noise_pp``: std over the subnets of (even - odd) / 2, the image-sampling noise of one
  full-split label (its part common to all subnets removed; it does not change a ranking).
* ``label_std_pp``: std of the labels over the subnets; ``noise_share`` = noise^2 / label^2,
  the share of the label variance that is which images are in the split.

A large ``noise_share`` says the label mostly ranks subnets by how they fare on these particular
images. That part is not pure noise to a predictor (subnets that share genes share much of it,
so a predictor fitted to such labels can reach a tau above ``tau_halves``), but it is not the
accuracy either: a held-out tau near 1 would mean the predictor learnt the split, not the space.

    .venv/bin/python tools/accuracy_noise_floor.py --kind fp --subnets 200
    .venv/bin/python tools/accuracy_noise_floor.py --kind q --subnets 200

Records (one JSON line per subnet: genome key, cached label, half accuracies) go to
``checkpoints/accuracy/noise_floor_{kind}.jsonl`` and are reused on a rerun (resumable); the
summary is printed and written beside them as ``noise_floor_{kind}.json``. Two CPU threads by
default, as the pipeline measured (about 3 s per FP and 5-15 s per quantized subnet).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def summarize(label: np.ndarray, half_a: np.ndarray, half_b: np.ndarray) -> dict:
    """Noise statistics of N measurements: label (N,) full-split accuracy, halves (N,) each.

    All accuracies are fractions; ``noise_pp`` and ``label_std_pp`` are percentage points.
    """
    from scipy.stats import kendalltau

    r = float(np.corrcoef(half_a, half_b)[0, 1])
    var = float(np.var(label, ddof=1))
    noise = float(np.var((half_a - half_b) / 2, ddof=1))
    return {
        "n": int(len(label)),
        "label_std_pp": round(float(np.sqrt(var)) * 100, 4),
        "noise_pp": round(float(np.sqrt(noise)) * 100, 4),
        "noise_share": round(noise / var, 4) if var > 0 else None,
        "pearson_halves": round(r, 4),
        "tau_halves": round(float(kendalltau(half_a, half_b).statistic), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kind", choices=("fp", "q"), default="fp")
    p.add_argument("--subnets", type=int, default=200, help="records drawn from the cache")
    p.add_argument(
        "--run", type=Path, default=ROOT / "checkpoints" / "accuracy",
        help="folder with summary.json and measure_{fp,q}.jsonl",
    )  # fmt: skip
    p.add_argument(
        "--supernet", type=Path, default=None,
        help="weights (default: the shipped src/cimkit/data/accuracy/supernet_{fp,q}.pt)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import torch

    from cimkit.accuracy import data
    from cimkit.accuracy.encoding import Genome
    from cimkit.accuracy.pipeline import SHIP_DIR
    from cimkit.accuracy.supernet import SupernetConfig, load_state
    from cimkit.accuracy.train import correct, hardware, new_supernet, recalibrate

    torch.set_num_threads(a.threads)
    summary = json.loads((a.run / "summary.json").read_text())
    settings = summary[f"measure_{a.kind}_settings"]
    path = a.supernet or SHIP_DIR / f"supernet_{a.kind}.pt"
    cfg = SupernetConfig.from_dict(summary["config"])
    net = new_supernet(cfg, False, lambda m: None)
    load_state(net, torch.load(path, weights_only=True))
    s = data.load("fashion-mnist", seed=summary["args"]["seed"])
    x_calib = s.x_train[: settings["n_calib"]]
    xe, ye = s.x_val[: settings["n_eval"]], s.y_val[: settings["n_eval"]]

    recs = [json.loads(ln) for ln in (a.run / f"measure_{a.kind}.jsonl").read_text().splitlines()]
    recs = [r for r in recs if "acc" in r and "genome" in r]
    pick = np.random.default_rng(a.seed).choice(len(recs), size=min(a.subnets, len(recs)),
                                                 replace=False)  # fmt: skip
    out_lines = a.run / f"noise_floor_{a.kind}.jsonl"
    done = {}
    if out_lines.is_file():
        for ln in out_lines.read_text().splitlines():
            try:
                d = json.loads(ln)
            except json.JSONDecodeError:  # a line cut by a kill: measured again
                continue
            done[d["key"]] = d
    t0 = time.time()
    with out_lines.open("a") as f:
        for i, j in enumerate(pick):
            rec = recs[int(j)]
            if rec["key"] in done:
                continue
            g = Genome.from_dict(rec["genome"])
            recalibrate(net, g, x_calib)
            ok = correct(net, xe, ye)  # what measure() counts, kept per image
            acc = float(ok.mean())
            # Quantized subnets need not repeat their cached label exactly on another machine or
            # thread count: float sums move a calibrated activation clip, a 4-bit rounding flips
            # and a few images change (kept: the summary reports it). More than 2 pp means other
            # weights or settings.
            if abs(acc - rec["acc"]) > 0.02:
                raise SystemExit(
                    f"record {rec['key'][:40]}...: re-measured {acc:.4f}, cached {rec['acc']:.4f};"
                    " --supernet is not the one that wrote the cache"
                )
            d = {
                "key": rec["key"], "acc": acc, "acc_cached": rec["acc"],
                "acc_even": float(ok[0::2].mean()), "acc_odd": float(ok[1::2].mean()),
            }  # fmt: skip
            f.write(json.dumps(d) + "\n")
            f.flush()
            done[d["key"]] = d
            print(f"[{i + 1}/{len(pick)}] {acc:.4f} ({time.time() - t0:.0f}s)", flush=True)
    rows = [done[recs[int(j)]["key"]] for j in pick]
    res = summarize(
        np.array([r["acc"] for r in rows]),
        np.array([r["acc_even"] for r in rows]),
        np.array([r["acc_odd"] for r in rows]),
    )
    diff = np.array([r["acc"] - r.get("acc_cached", r["acc"]) for r in rows]) * 100
    res.update(
        kind=a.kind, supernet=path.name, n_eval=len(ye), n_calib=len(x_calib),
        threads=a.threads, cpu=hardware()["cpu"],
        # this run against the cached label (written on another machine / session)
        repeat_abs_diff_pp_mean=round(float(np.abs(diff).mean()), 4),
        repeat_abs_diff_pp_max=round(float(np.abs(diff).max()), 4),
        repeat_diff_std_pp=round(float(diff.std(ddof=1)), 4) if len(diff) > 1 else 0.0,
    )  # fmt: skip
    (a.run / f"noise_floor_{a.kind}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
