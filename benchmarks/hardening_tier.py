"""Run the bad-input tier outside pytest and print its figures (the numbers of docs/hardening.md).

    .venv/bin/python benchmarks/hardening_tier.py --seed 0 --n 600
    .venv/bin/python benchmarks/hardening_tier.py --seed 1 --n 1500 --slow   # flag slow tier too

It lives in benchmarks/ because it times the two parts (wall seconds in the section titles); the
tier's pass/fail tests are tests/hardening/, which time nothing.

Prints, per mutation family and per command: runs, must-fail runs, failing runs, and each failure
kind (traceback, internal error, silently accepted, bad message, bad exit code, wrong numbers,
warning before an error); then every failing run grouped by cause. Exit status 1 if anything
failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.*

from tests.hardening.flags import cases, make_fixtures, run_case  # noqa: E402
from tests.hardening.mutants import draw, make  # noqa: E402
from tests.hardening.tier import (  # noqa: E402
    CaseResult,
    Figures,
    failure_report,
    run_mutant,
)


def _mutants(seed: int, n: int, work: Path, search_all: bool) -> list[CaseResult]:
    results: list[CaseResult] = []
    for index in draw(seed, n):
        m = make(index, seed)
        search = search_all or not m.must_fail or index % 4 == 0
        # Charts (6 s each): in the slow tier for one may-pass chip mutant in ten.
        charts = search_all and not m.must_fail and index % 10 == 0
        results += run_mutant(m, work / "mutants", search=search, charts=charts)
    return results


def _flags(work: Path, slow: bool) -> list[CaseResult]:
    fx = work / "fixtures"
    store = make_fixtures(fx)
    return [run_case(c, work / "flags", fx, store) for c in cases(slow=slow)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="mutation seed (default 0)")
    ap.add_argument("--n", type=int, default=600, help="mutants to draw (default 600)")
    ap.add_argument("--slow", action="store_true", help="flag cases of the slow tier too")
    ap.add_argument("--no-flags", action="store_true", help="mutants only")
    ap.add_argument("--no-mutants", action="store_true", help="flag cases only")
    ap.add_argument("--json", type=Path, help="also write every failing run here")
    ap.add_argument("--work", type=Path, help="folder for mutant files (default: a temp dir)")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="cimkit-hardening-"))
    everything: list[CaseResult] = []
    sections = []
    if not args.no_mutants:
        t = time.perf_counter()
        res = _mutants(args.seed, args.n, work, search_all=args.slow)
        dt = time.perf_counter() - t
        everything += res
        title = f"Spec and space mutants (seed {args.seed}, {dt:.0f} s)"
        sections.append(Figures.of(res).table(title, "mutants"))
    if not args.no_flags:
        t = time.perf_counter()
        res = _flags(work, args.slow)
        dt = time.perf_counter() - t
        everything += res
        title = f"CLI flags ({'quick and slow' if args.slow else 'quick'} tier, {dt:.0f} s)"
        sections.append(Figures.of(res).table(title, "flag cases"))
    print("\n\n".join(sections))
    failed = [r for r in everything if r.problems]
    print(f"\n{len(failed)} failing runs" + (":" if failed else ""))
    if failed:
        print(failure_report(failed, limit=1000))
    if args.json:
        rows = [
            {
                "case": r.case,
                "command": r.command,
                "kind": r.kind,
                "must_fail": r.must_fail,
                "note": r.note,
                "args": [a[:200] for a in r.outcome.args],
                "exit_code": r.outcome.exit_code,
                "stderr": r.outcome.stderr[-2000:],
                "problems": [{"kind": p.kind, "detail": p.detail} for p in r.problems],
            }
            for r in failed
        ]
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
