"""Measure the networks that searches pick, as extra predictor data (search-informed labels).

The predictors are fitted on *random* subnets x policies, but a search evaluates them where it
goes: low-bit, cheap corners for EDAP, the accuracy maximum for two-stage. There the fit is
extrapolating, and the designs a search keeps are the ones whose predictions came out high (the
optimizer's curse): re-measured on the supernet, the CIMNAS space's winners are 1.2-2.5 points
below their predictions. This tool runs `cimkit compare` (baselines, CIMNAS, two-stage,
XPert-like) on a space for several seeds and objectives, takes every method's ``--top`` best
distinct networks (with their policies) per run, and measures each on the validation split with
exactly the settings of the random-subnet labels (``measure_q.jsonl``: same supernet, 2,048
calibration and 5,000 validation images, same fingerprint), into
``checkpoints/accuracy/measure_q_search.jsonl`` (resumable: measured genomes are skipped).

Seeds are the evaluation's business: the check on search-chosen designs (`cimkit compare`,
seed 0) must use seeds not listed here, and reports which of its designs were measured here.

    .venv/bin/python tools/measure_search_designs.py --seeds 1-8 --objectives edap,delay,ea
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--space", type=Path, default=SPACE)
    p.add_argument("--seeds", default="1-8", help="e.g. 1-8 or 1,3,5 (never the evaluation's 0)")
    p.add_argument("--objectives", default="edap,delay,ea")
    p.add_argument("--top", type=int, default=5, help="best distinct networks per method and run")
    p.add_argument("--pop", type=int, default=150)
    p.add_argument("--gen", type=int, default=70)
    p.add_argument("--run", type=Path, default=ROOT / "checkpoints" / "accuracy")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    seeds = _seeds(a.seeds)
    if 0 in seeds:
        sys.exit("--seeds: 0 is the evaluation seed of `cimkit compare`; leave it out")

    import torch

    from cimkit.accuracy import data
    from cimkit.accuracy.pipeline import SHIP_DIR
    from cimkit.accuracy.supernet import SupernetConfig, load_state
    from cimkit.accuracy.train import genome_key, measure_many, new_supernet
    from cimkit.search.compare import run_compare
    from cimkit.search.engine import SearchConfig
    from cimkit.search.problem import CimnasProblem
    from cimkit.search.remeasure import genomes_of
    from cimkit.space import load_space

    torch.set_num_threads(a.threads)
    problem = CimnasProblem(load_space(str(a.space)))
    picked: dict[str, object] = {}
    origin: dict[str, list[str]] = {}
    t0 = time.time()
    for obj in a.objectives.split(","):
        for seed in seeds:
            cfg = SearchConfig(pop_size=a.pop, n_gen=a.gen, seed=seed, objective=obj)
            cr = run_compare(problem, cfg)
            for name, m in cr.methods.items():
                if m.result is None:
                    continue
                X = m.result.archive.X[m.top]
                n = 0
                for g in genomes_of(problem.space, X):
                    k = genome_key(g)
                    origin.setdefault(k, []).append(f"{obj}/{seed}/{name}")
                    if k not in picked:
                        picked[k] = g
                        n += 1
                    if n >= a.top:
                        break
            print(f"{obj} seed {seed}: {len(picked)} distinct networks so far "
                  f"({time.time() - t0:.0f}s)", flush=True)  # fmt: skip

    summary = json.loads((a.run / "summary.json").read_text())
    settings = summary["measure_q_settings"]
    cfg = SupernetConfig.from_dict(summary["config"])
    net = new_supernet(cfg, False, lambda m: None)
    load_state(net, torch.load(SHIP_DIR / "supernet_q.pt", weights_only=True))
    s = data.load("fashion-mnist", seed=summary["args"]["seed"])
    random_keys = {
        json.loads(ln)["key"] for ln in (a.run / "measure_q.jsonl").read_text().splitlines() if ln
    }
    genomes = list(picked.values())
    n_known = sum(k in random_keys for k in picked)
    print(f"{len(genomes)} distinct search-chosen networks, {n_known} among the random labels")
    recs = measure_many(
        net, genomes, s.x_train[: settings["n_calib"]], s.x_val[: settings["n_eval"]],
        s.y_val[: settings["n_eval"]], a.run / "measure_q_search.jsonl", print,
    )  # fmt: skip
    (a.run / "measure_q_search_origin.json").write_text(
        json.dumps(
            {
                "seeds": seeds,
                "objectives": a.objectives.split(","),
                "top": a.top,
                "space": a.space.name,
                "origin": origin,
            },
            indent=1,
        )
        + "\n"  # fmt: skip
    )
    acc = np.array([r["acc"] for r in recs]) * 100
    print(f"measured {len(recs)}: {acc.min():.2f}-{acc.max():.2f} %, mean {acc.mean():.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
