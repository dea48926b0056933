"""Real-model tier: import every architecture of tests/workload/real_models.py by both paths.

Prints one row per model (family, torch ok / route, ONNX ok, MACs, importer MACs == the
independent count, torch vs ONNX energy difference on the default chip, import seconds per
path), the acceptance figures (share importing through at least one path, through torch, silent
MAC mismatches, largest energy difference) and every failure with its reason; writes the table
as CSV (default runs/real_models.csv).

    .venv/bin/python benchmarks/real_models.py [--out runs/real_models.csv] [--only a,b]
        [--markdown]
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "workload"))

from real_models import MODELS, Result, check_model  # noqa: E402


def _fmt(value: object, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return format(value, spec)


def _row(r: Result) -> dict[str, str]:
    return {
        "model": r.name,
        "family": r.family,
        "torch": f"ok ({r.torch_route})" if r.torch_ok else "fail",
        "onnx": "ok" if r.onnx_ok else "fail",
        "macs": _fmt(r.independent_macs if r.independent_macs is not None else r.torch_macs, ","),
        "torch_macs_exact": _fmt(r.torch_exact),
        "onnx_macs_exact": _fmt(r.onnx_exact),
        "energy_diff_pct": _fmt(r.energy_diff_pct, ".3f"),
        "torch_s": _fmt(r.torch_s, ".2f"),
        "onnx_s": _fmt(r.onnx_s, ".2f"),
        "torch_error": r.torch_error,
        "onnx_error": r.onnx_error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "real_models.csv")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    only = {n for n in args.only.split(",") if n}
    models = [m for m in MODELS if not only or m.name in only]
    results: list[Result] = []
    cols = (
        "model",
        "family",
        "torch",
        "onnx",
        "macs",
        "torch_macs_exact",
        "onnx_macs_exact",
        "energy_diff_pct",
        "torch_s",
        "onnx_s",
    )
    widths = (26, 7, 20, 5, 15, 6, 6, 8, 7, 7)
    head = ["model", "family", "torch", "onnx", "MACs", "t==cnt", "o==cnt", "dE %", "t s", "o s"]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            r = check_model(m, Path(tmp), clock=time.perf_counter)
            results.append(r)
            row = _row(r)
            print("  ".join(row[c].ljust(w) for c, w in zip(cols, widths, strict=True)), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_row(results[0])))
        writer.writeheader()
        writer.writerows(_row(r) for r in results)
    if args.markdown:
        print()
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in results:
            row = _row(r)
            print("| " + " | ".join(row[c] for c in cols) + " |")
    n = len(results)
    either = sum(r.torch_ok or r.onnx_ok for r in results)
    by_torch = sum(r.torch_ok for r in results)
    by_onnx = sum(r.onnx_ok for r in results)
    silent = [
        r.name + f" ({p})"
        for r in results
        for p, ok in (("torch", r.torch_exact), ("onnx", r.onnx_exact))
        if ok is False
    ]
    diffs = [(r.energy_diff_pct, r.name) for r in results if r.energy_diff_pct is not None]
    worst = max(diffs) if diffs else None
    print()
    print(f"models: {n}")
    print(f"imported through at least one path: {either}/{n} = {100 * either / n:.1f} %")
    print(f"imported through torch: {by_torch}/{n} = {100 * by_torch / n:.1f} %")
    print(f"imported through ONNX: {by_onnx}/{n} = {100 * by_onnx / n:.1f} %")
    print(
        f"silent MAC mismatches (imported, MACs != independent count): {len(silent)}"
        + (f" {silent}" if silent else "")
    )
    over = [name for d, name in diffs if d > 1.0]
    if worst is not None:
        print(
            f"max torch vs ONNX energy difference: {worst[0]:.3f} % ({worst[1]}); "
            f"over 1 %: {len(over)}/{len(diffs)} {over if over else ''}"
        )
    print("\nfailures:")
    for r in results:
        if r.torch_error:
            print(f"  {r.name} torch: {r.torch_error}")
        if r.onnx_error:
            print(f"  {r.name} onnx: {r.onnx_error}")
        if "count_error" in r.extra:
            print(f"  {r.name} count: {r.extra['count_error']}")
    print(f"\nCSV: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
