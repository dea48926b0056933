"""Run mutants and flag cases through the CLI and collect what went wrong (shared by the pytest
files and ``python benchmarks/hardening_tier.py``)."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .harness import Outcome, Problem, invoke, judge
from .mutants import Mutant, family

#: Built-in network of ``cimkit evaluate`` for chip mutants (the one the issue names; 0.05 s).
NETWORK = "mobilenetv2"
#: The smallest search that still runs a generation (``cimkit search`` on space mutants).
SEARCH_ARGS = ("--pop", "4", "--gen", "1", "--backend", "vectorized", "--overwrite")


@dataclass
class CaseResult:
    """One command run on one input."""

    case: str  # mutant id or flag case id
    kind: str  # mutation kind or flag value kind
    group: str  # figure group (mutation family, or the command for flags)
    command: str
    must_fail: bool
    note: str
    outcome: Outcome
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def case_dir_name(case_id: str) -> str:
    """A short folder name for a case: a hash, not the id, so that the path printed in an error
    never spells the field or flag the message is checked for."""
    import hashlib

    return "c" + hashlib.sha1(case_id.encode()).hexdigest()[:12]


@contextlib.contextmanager
def no_charts() -> Iterator[None]:
    """``evaluate --out`` without its two PNG charts (about 6 s of matplotlib per run; a PNG
    holds no number to check). The CSV and Parquet tables are still written and checked."""
    from cimkit.report import plots

    original = plots.write_design_charts
    plots.write_design_charts = lambda *args, **kwargs: []  # type: ignore[assignment]
    try:
        yield
    finally:
        plots.write_design_charts = original  # type: ignore[assignment]


def run_mutant(
    m: Mutant, workdir: Path, search: bool = True, charts: bool = False
) -> list[CaseResult]:
    """Write ``m`` under ``workdir`` and run it through its commands.

    Chips: ``cimkit spec FILE`` and ``cimkit evaluate --hw FILE --network mobilenetv2 --out D``
    (``charts``: with the PNG charts, else without, see :func:`no_charts`).
    Spaces: ``cimkit space FILE`` and (``search``) a one-generation ``cimkit search``.
    """
    case_dir = workdir / case_dir_name(m.id)
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    f = case_dir / ("chip.yaml" if m.target == "chip" else "space.yaml")
    f.write_bytes(m.data)
    out_dir = case_dir / "out"
    runs: list[tuple[str, list[str], bool]] = []
    if m.target == "chip":
        runs.append(("spec", ["spec", str(f)], False))
        runs.append(
            (
                "evaluate",
                ["evaluate", "--hw", str(f), "--network", NETWORK, "--out", str(out_dir)],
                True,
            )
        )
    else:
        runs.append(("space", ["space", str(f)], False))
        if search:
            store = case_dir / "store.sqlite"
            args = ["search", str(f), "--name", "m", "--store", str(store), *SEARCH_ARGS]
            runs.append(("search", args, False))
    results = []
    for command, args, infeasible_ok in runs:
        with contextlib.nullcontext() if charts else no_charts():
            out = invoke(args, cwd=case_dir)
        problems = judge(
            out,
            m.must_fail,
            command,
            outputs=out_dir if command == "evaluate" else None,
            infeasible_exit_1=infeasible_ok,
            # The message names the file (every mutant) and the field (must-fail ones).
            names=(f.name, *m.names),
        )
        results.append(
            CaseResult(m.id, m.kind, family(m.kind), command, m.must_fail, m.note, out, problems)
        )
    return results


# --- figures ------------------------------------------------------------------------------------

FIGURE_KINDS = (
    "traceback",
    "internal",
    "accepted",
    "message",
    "unnamed",
    "exit_code",
    "number",
    "warning",
)


@dataclass
class Figures:
    """Counts of one tier run, overall and per group."""

    cases: int = 0
    inputs: int = 0
    must_fail: int = 0
    failed: int = 0
    by_problem: Counter[str] = field(default_factory=Counter)
    by_group: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @classmethod
    def of(cls, results: Iterable[CaseResult]) -> Figures:
        fig = cls()
        inputs: set[str] = set()
        must_fail_inputs: set[str] = set()
        for r in results:
            fig.cases += 1
            inputs.add(r.case)
            if r.must_fail:
                must_fail_inputs.add(r.case)
            g = fig.by_group[r.group]
            g["cases"] += 1
            g["must_fail"] += int(r.must_fail)
            # May-pass runs that ran to the end (exit 0, or 1 = infeasible design) and so had
            # their outputs checked, as opposed to clean rejections.
            ran = r.outcome.exit_code == 0 or (r.command == "evaluate" and r.outcome.exit_code == 1)
            g["may_pass_ran"] += int(not r.must_fail and ran and not r.outcome.crash)
            if r.problems:
                fig.failed += 1
                g["failed"] += 1
            for kind in {p.kind for p in r.problems}:
                fig.by_problem[kind] += 1
                g[kind] += 1
        fig.inputs = len(inputs)
        fig.must_fail = len(must_fail_inputs)
        return fig

    def table(self, title: str, what: str = "mutants") -> str:
        """A Markdown table of the figures (the format of docs/hardening.md)."""
        cols = ("cases", "must_fail", "may_pass_ran", "failed", *FIGURE_KINDS)
        lines = [
            f"### {title}",
            "",
            f"{self.inputs} {what} ({self.must_fail} must-fail), {self.cases} command runs, "
            f"{self.failed} failing runs: "
            + ", ".join(f"{k} {self.by_problem.get(k, 0)}" for k in FIGURE_KINDS),
            "",
            "| group | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for g in sorted(self.by_group):
            c = self.by_group[g]
            lines.append(f"| {g} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
        return "\n".join(lines)


def failure_report(results: Sequence[CaseResult], limit: int = 400) -> str:
    """Failing runs grouped by (command, problem kind, cause), the cause being the problem
    text with numbers and paths blurred so that one defect is one group."""
    groups: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        for p in r.problems:
            cause = re.sub(r"/\S+", "<path>", p.detail)
            cause = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", cause)[:160]
            groups[(r.command, p.kind, cause)].append(r)
    lines = []
    for (command, kind, cause), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"- {command} [{kind}] x{len(rs)}: {cause}")
        for r in rs[:3]:
            detail = next(p.detail for p in r.problems if p.kind == kind)
            lines.append(f"    {r.case} ({r.note[:80]}): {detail[:240]}")
        if len(lines) > limit:
            lines.append("    ...")
            break
    return "\n".join(lines)
