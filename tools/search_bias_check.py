"""Predicted vs measured accuracy on the designs `cimkit compare` picks, pooled over seeds.

Reads the reports of `cimkit compare ... --seed S --out DIR/report` runs (their
``remeasured.csv`` and the re-measurement cache beside the store), counts each distinct network
(with its policy) once per run, and says which of them are among the search-chosen training
labels (``checkpoints/accuracy/measure_q_search.jsonl``): the bias over the others is the
out-of-sample figure.

    .venv/bin/python tools/search_bias_check.py runs/cmp17-s0 runs/cmp17-s9 runs/cmp17-s10
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="compare output folders (report/ inside)")
    p.add_argument(
        "--labels", type=Path,
        default=ROOT / "checkpoints" / "accuracy" / "measure_q_search.jsonl",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="write the pooled rows as CSV")
    a = p.parse_args(argv)

    from cimkit.accuracy.encoding import Genome
    from cimkit.accuracy.train import genome_key
    from cimkit.search.remeasure import error_stats

    known = set()
    if a.labels.is_file():
        known = {json.loads(ln)["key"] for ln in a.labels.read_text().splitlines() if ln.strip()}
    rows = []
    for run in a.runs:
        # measured accuracy (0.01 % steps on 10k images) -> genome keys, from the cache beside
        # the store (remeasured.csv names designs by archive row, not by genes)
        by_acc: dict[float, set[str]] = {}
        for f in run.glob("*.remeasure.jsonl"):
            for ln in f.read_text().splitlines():
                if ln.strip():
                    r = json.loads(ln)
                    if not r.get("finetune_steps"):
                        k = genome_key(Genome.from_dict(r["genome"]))
                        by_acc.setdefault(round(100 * r["accuracy"], 2), set()).add(k)
        seen = set()
        with open(run / "report" / "remeasured.csv") as fh:
            for r in csv.DictReader(fh):
                if r["method"].startswith("Baseline"):
                    continue
                meas = round(float(r["accuracy_measured_pct"]), 2)
                keys = by_acc.get(meas, set())
                ident = (r["method"], meas, r["accuracy_pct"])
                if ident in seen:  # one row per distinct network (with its policy) and run
                    continue
                seen.add(ident)
                # two networks of one run with the same measured accuracy: counted as one match
                # only if all candidates agree (else 'ambiguous')
                inside = {k in known for k in keys}
                rows.append({
                    "run": run.name, "method": r["method"],
                    "predicted_pct": float(r["accuracy_pct"]), "measured_pct": meas,
                    "error_pp": float(r["accuracy_pct"]) - meas,
                    "in_labels": inside == {True},
                    "ambiguous": len(inside) != 1,
                })  # fmt: skip
    ins = np.array([r["in_labels"] for r in rows])

    pred = np.array([r["predicted_pct"] for r in rows])
    meas = np.array([r["measured_pct"] for r in rows])

    def stats(m: np.ndarray) -> str:
        if not m.any():
            return "n 0"
        e = error_stats(pred[m], meas[m])  # the reports' own bias / RMSE
        return f"n {e['n']}, bias {e['bias_pp']:+.2f} pp, RMSE {e['rmse_pp']:.2f} pp"

    print(f"all distinct networks: {stats(np.ones(len(rows), bool))}")
    print(f"not among the search-chosen labels: {stats(~ins)}")
    print(f"among them: {stats(ins)}")
    amb = sum(r["ambiguous"] for r in rows)
    if amb:
        print(f"({amb} rows could not be matched to one cached genome: counted as not among them)")
    for meth in sorted({r["method"] for r in rows}):
        m = np.array([r["method"] == meth for r in rows])
        print(f"  {meth}: {stats(m)}")
    if a.out:
        with open(a.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
