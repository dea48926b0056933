"""Spec and space mutants through the CLI: must-fail ones exit 2 with one ``error:`` line, the
others exit cleanly with finite, non-negative numbers (see harness.py for the rules).

Quick tier: seed 0, 600 mutants (``CIMKIT_HARDENING_SEED`` / ``CIMKIT_HARDENING_N`` change
them). Slow tier: seeds 1..3, 1000 mutants each (every space mutant also searched).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from .harness import env_int, text_of
from .mutants import FILE_KINDS, candidates, draw, make, sources
from .tier import failure_report, run_mutant

SEED = env_int("CIMKIT_HARDENING_SEED", 0)
N = env_int("CIMKIT_HARDENING_N", 600)
# One extra seed in `make test` (about 85 s on one core; CI has 15 minutes for the whole suite);
# CIMKIT_HARDENING_SLOW_SEEDS=1,2,3 runs more.
SLOW_SEEDS = tuple(
    int(s) for s in os.environ.get("CIMKIT_HARDENING_SLOW_SEEDS", "1").split(",") if s.strip()
)
SLOW_N = 1000

_INDICES = draw(SEED, N)


def _search_too(index: int, must_fail: bool) -> bool:
    """Space mutants also run a one-generation search: every may-pass one, a quarter of the
    must-fail ones (they are rejected by the same loader as `cimkit space`)."""
    return not must_fail or index % 4 == 0


@pytest.mark.parametrize("index", _INDICES, ids=[candidates()[i].id for i in _INDICES])
def test_mutant(index: int, hardening_dir: Path) -> None:
    m = make(index, SEED)
    results = run_mutant(m, hardening_dir, search=_search_too(index, m.must_fail))
    failed = [r for r in results if r.problems]
    assert not failed, "\n".join(
        f"{r.command} ({'must-fail' if r.must_fail else 'may-pass'}: {m.note}): "
        f"{text_of(r.problems)}"
        for r in failed
    )


def test_generator_contract() -> None:
    """At least 500 mutants per run, every source and every file-level kind drawn, a quarter
    may-pass, the same seed gives the same bytes (another seed other mutants), and no mutant
    leaves its document unchanged."""
    import yaml

    assert len(_INDICES) >= 500 or N < 500
    picked = draw(0, 600)
    cands = [candidates()[i] for i in picked]
    assert len(picked) == 600 and len({c.id for c in cands}) == 600
    assert {c.source for c in cands} == {s.name for s in sources()}
    kinds = Counter(c.kind for c in cands)
    assert set(FILE_KINDS) <= set(kinds), set(FILE_KINDS) - set(kinds)
    assert sum(not c.must_fail for c in cands) == 150
    assert draw(1, 600) != picked
    sample = picked[::4]
    ms = [make(i, 0) for i in sample]
    assert [m.data for m in ms] == [make(i, 0).data for i in sample]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = {s.name: s.doc for s in sources()}
    for m in ms:
        if m.path == "(file)" or m.kind == "duplicate_key":
            # File-level kinds change bytes, not fields; a duplicate key loads as the same
            # document in PyYAML (the point of the mutant).
            continue
        doc = yaml.load(m.data.decode("utf-8"), Loader=loader)
        assert doc != docs[m.source], m.id


def test_oracle_catches_each_kind_of_defect(tmp_path: Path) -> None:
    """The rules fail on the defects they are meant to catch (else the tier could not fail)."""
    from .harness import Outcome, judge

    def fails(out: Outcome, must_fail: bool, outputs: Path | None = None) -> set[str]:
        return {p.kind for p in judge(out, must_fail, "evaluate", outputs)}

    assert fails(Outcome([], 1, "", "", crash="ValueError: x at io.py:3"), True) == {"traceback"}
    assert fails(Outcome([], 1, "", "internal error: KeyError: 'a' (set ...)"), True) == {
        "internal"
    }
    assert fails(Outcome([], 0, "ok\n", ""), True) == {"accepted"}
    assert fails(Outcome([], 2, "", "error: a\nerror: b\n"), True) == {"message"}
    assert fails(Outcome([], 2, "", "oops\n"), True) == {"message"}
    assert fails(Outcome([], 2, "", "error: " + "x" * 3000 + "\n"), True) == {"message"}
    assert fails(Outcome([], 2, "", "error: a\n", warnings=["RuntimeWarning: overflow"]), True) == {
        "warning"
    }
    assert fails(Outcome([], 0, "energy nan J\n", ""), False) == {"number"}
    assert fails(Outcome([], 0, "latency -3 s\n", ""), False) == {"number"}
    (tmp_path / "designs.csv").write_text("design,energy_j\nd,inf\n")
    assert fails(Outcome([], 0, "", ""), False, tmp_path) == {"number"}
    # pandas writes NaN as an empty cell: caught among numbers, and in the Parquet twin.
    (tmp_path / "designs.csv").write_text("design,energy_j,reason\nd,1e-3,\ne,,\n")
    assert fails(Outcome([], 0, "", ""), False, tmp_path) == {"number"}
    (tmp_path / "designs.csv").unlink()
    import pandas as pd

    pd.DataFrame({"design": ["d"], "energy_j": [float("nan")]}).to_parquet(tmp_path / "d.parquet")
    assert fails(Outcome([], 0, "", ""), False, tmp_path) == {"number"}
    (tmp_path / "d.parquet").unlink()
    # Clean outcomes pass: a one-line rejection, a usage error of a flag, a finite run.
    (tmp_path / "designs.csv").write_text("design,energy_j,cycle_time_ns,reason\nd,1e-3,,\n")
    assert fails(Outcome([], 0, "rram-32nm 1e-9 J\n", ""), False, tmp_path) == set()
    assert fails(Outcome([], 2, "", "error: macro.rows: too small\n"), True) == set()
    usage = Outcome([], 2, "", "Usage: cimkit x\nTry 'cimkit x --help'\n\nError: bad\n")
    assert {p.kind for p in judge(usage, True, "x", allow_usage=True)} == set()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_mutants_more_seeds(seed: int, tmp_path: Path) -> None:
    results = []
    for index in draw(seed, SLOW_N):
        m = make(index, seed)
        # Charts (6 s each) for one may-pass mutant in ten.
        charts = not m.must_fail and index % 10 == 0
        results += run_mutant(m, tmp_path, search=True, charts=charts)
    failed = [r for r in results if r.problems]
    assert not failed, f"{len(failed)} failing runs:\n" + failure_report(failed)
