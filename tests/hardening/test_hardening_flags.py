"""Every option of every ``cimkit`` command with bad values (see flags.py for the table of
minimal invocations, the roles and what is left to the slow tier)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .flags import BASES, FlagCase, cases, commands, run_case
from .harness import text_of

QUICK = cases()
SLOW = [c for c in cases(slow=True) if c.slow]


def _check(case: FlagCase, hardening_dir: Path, flag_fixtures: tuple[Path, Path]) -> None:
    fx, store = flag_fixtures
    r = run_case(case, hardening_dir / "flags", fx, store)
    assert not r.problems, (
        f"cimkit {' '.join(a[:60] for a in r.outcome.args)}\n"
        f"({'must-fail' if case.must_fail else 'may-pass'}) {text_of(r.problems)}"
    )


@pytest.mark.parametrize("case", QUICK, ids=[c.id for c in QUICK])
def test_flag(case: FlagCase, hardening_dir: Path, flag_fixtures: tuple[Path, Path]) -> None:
    _check(case, hardening_dir, flag_fixtures)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=[c.id for c in SLOW])
def test_flag_slow(case: FlagCase, hardening_dir: Path, flag_fixtures: tuple[Path, Path]) -> None:
    _check(case, hardening_dir, flag_fixtures)


def test_every_command_has_a_minimal_invocation() -> None:
    """A command added without a row in BASES would be fuzzed without its required inputs
    (every case a usage error): the table must follow the CLI."""
    missing = sorted({name for name, _ in commands()} - set(BASES))
    assert not missing, f"add minimal invocations to tests/hardening/flags.py BASES: {missing}"


def test_every_option_is_fuzzed() -> None:
    """Each option of each command appears in at least one case (quick or slow tier)."""
    from .flags import NEVER

    all_cases = cases(slow=True)
    covered = {(c.command, c.option) for c in all_cases}
    for name, cmd in commands():
        for p in cmd.params:
            if p.name == "help" or (name, p.name) in NEVER:
                continue
            assert (name, p.name) in covered, (name, p.name)
    assert len(QUICK) >= 300
