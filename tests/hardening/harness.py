"""Run one ``cimkit`` command in-process and judge what it did (the oracle of the bad-input tier).

Every case is one of two classes:

* ``must-fail``: the input is invalid by construction. The command must exit 2 with exactly one
  non-empty stderr line ``error: ...`` (under 2 KB), no traceback and no Python warning.
* ``may-pass``: the input may be valid. Either a clean rejection (as above) or a run that exits
  0 (1 where the command reports an infeasible design) whose stdout and output files (CSV,
  Parquet, JSON, Markdown, NPZ) hold only finite numbers, and no negative ones outside the
  columns that are signed by definition (relative errors, accuracy changes, rank correlations).

Click usage errors (exit 2, ``Usage: ...`` panel) count as a clean rejection of a CLI flag.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import traceback
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Most bytes a one-line error may take.
MAX_ERROR_BYTES = 2048

#: Warning categories a fresh ``python`` process does not print (its default filters).
_SILENT_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)

#: Output columns / JSON keys that are signed by definition: relative errors of the validation
#: table, accuracy changes in points, rank correlations of the predictor fit, cycle error, and
#: the search archive's constraint values ``g_*`` (pymoo's G: <= 0 is satisfied), and area
#: savings (PIM-HLS comparison: negative where the constraint exceeds the baseline's area).
SIGNED = re.compile(r"error|change|_pp$|tau|spearman|pearson|delta|diff|corr|^g_|saving", re.I)

#: Commands whose stdout holds signed figures (validate: relative errors; compare: accuracy
#: change; train predictor and analyze sensitivity: rank correlations; generate --simulate:
#: cycle error).
SIGNED_STDOUT = {"validate", "compare", "train predictor", "generate", "analyze sensitivity"}

_NAN_INF = re.compile(r"(?<![\w.])[-+]?(nan|inf|infinity)(?![\w])", re.I)
# A minus sign that starts a number: not inside a word (``rram-32nm``) or an exponent (``1e-9``).
_NEGATIVE = re.compile(r"(?<![\w.\-])-(?=\.?\d)")
# Rich draws tables with box characters; a number cell never contains them.
_BOX = re.compile(r"[\u2500-\u257f]")


@dataclass
class Outcome:
    """What one in-process invocation did."""

    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    #: Last line of the traceback when the command raised (not SystemExit); '' otherwise.
    crash: str = ""
    #: Python warnings a real process would print (category: message, deduplicated).
    warnings: list[str] = field(default_factory=list)

    @property
    def usage_error(self) -> bool:
        """A click usage error (bad flag value, missing argument): exit 2 with its panel."""
        return self.exit_code == 2 and self.stderr.lstrip().startswith("Usage:")

    def error_lines(self) -> list[str]:
        """Non-empty stderr lines, without informational ``# ...`` lines (predict's timing)."""
        return [ln for ln in self.stderr.splitlines() if ln.strip() and not ln.startswith("# ")]


@dataclass(frozen=True)
class Problem:
    """One violated rule of one case: ``kind`` is the figure it counts towards."""

    kind: str  # traceback | internal | accepted | message | unnamed | exit_code | number | warning
    detail: str


_RUNNER: Any = None
_COMMAND: Any = None


def _runner() -> tuple[Any, Any]:
    """click's CliRunner and the click command of ``cimkit.cli.app``, built once: typer's own
    runner rebuilds the whole command tree on every call (~0.1 s, most of a failing run)."""
    global _RUNNER, _COMMAND
    if _RUNNER is None:
        import typer
        from click.testing import CliRunner

        from cimkit.cli import app

        _COMMAND = typer.main.get_command(app)
        _RUNNER = CliRunner()
    return _RUNNER, _COMMAND


def invoke(args: Sequence[str], cwd: Path | None = None) -> Outcome:
    """Run ``cimkit ARGS`` in-process (typer's CliRunner) with ``cwd`` as working directory.

    stdout and stderr are kept apart (click 8.2+). Warnings are recorded as a fresh process
    would print them (default filters), so that a warning before an error line is caught even
    though pytest would otherwise swallow it.
    """
    runner, command = _runner()
    argv = [str(a) for a in args]
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        res = runner.invoke(command, argv, catch_exceptions=True, prog_name="cimkit")
    crash = ""
    exc = res.exception
    if exc is not None and not isinstance(exc, SystemExit):
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        where = ""
        if exc.__traceback__ is not None:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f" at {Path(frame.filename).name}:{frame.lineno}"
        crash = f"{last}{where}"
    seen: dict[str, None] = {}
    for w in caught:
        if issubclass(w.category, _SILENT_WARNINGS):
            continue
        seen[f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"] = None
    return Outcome(argv, res.exit_code, res.stdout, res.stderr, crash, list(seen))


def invoke_subprocess(args: Sequence[str], cwd: Path, timeout_s: float) -> Outcome:
    """Run ``cimkit ARGS`` as a child process, killed after ``timeout_s`` (for commands whose
    accepted runs last minutes: still running at the limit means the value was accepted)."""
    import subprocess
    import sys

    argv = [str(a) for a in args]
    cmd = [sys.executable, "-c", "from cimkit.cli import main; main()", *argv]
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Outcome(argv, 0, out, err + f"\n# still running after {timeout_s:g} s\n")
    return Outcome(argv, res.returncode, res.stdout, res.stderr)


# --- output checks ------------------------------------------------------------------------------


def _cell_problem(text: str) -> str | None:
    """'nan'/'inf'/'negative' when a CSV cell is such a number, else None."""
    t = text.strip()
    if not t:
        return None
    try:
        v = float(t)
    except ValueError:
        return None
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf"
    return "negative" if v < 0 else None


def _param_columns() -> frozenset[str]:
    from cimkit.cost.designs import PARAMS

    return frozenset(PARAMS)


def check_csv(path: Path) -> list[str]:
    """Bad numbers in a CSV file: nan/inf/negative cells, and empty cells (pandas' NaN) in a
    numeric column that is not a design parameter (parameters may be unset)."""
    issues: list[str] = []
    with path.open(newline="", errors="replace") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return issues
    header, body = rows[0], rows[1:]
    params = _param_columns()
    for j, col in enumerate(header):
        cells = [r[j] for r in body if j < len(r)]
        numeric = [c for c in cells if c.strip() and _isnum(c)]
        for c in cells:
            p = _cell_problem(c)
            if p == "negative" and SIGNED.search(col):
                continue
            if p:
                issues.append(f"{path.name}: column {col!r} has {p} value {c!r}")
                break
        else:
            if numeric and col not in params and any(not c.strip() for c in cells):
                issues.append(f"{path.name}: column {col!r} has empty (NaN) cells")
    return issues


def _isnum(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_parquet(path: Path) -> list[str]:
    """NaN/inf/negative values in the float columns of a Parquet file (unset parameters and
    signed columns excepted)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path)
    params = _param_columns()
    issues = []
    for col in frame.columns:
        s = frame[col]
        if s.dtype.kind not in "fiu":
            continue
        v = s.to_numpy(dtype=float)
        if col not in params and np.isnan(v).any():
            issues.append(f"{path.name}: column {col!r} has NaN")
        elif np.isinf(v).any():
            issues.append(f"{path.name}: column {col!r} has inf")
        elif not SIGNED.search(str(col)) and (v[~np.isnan(v)] < 0).any():
            issues.append(f"{path.name}: column {col!r} has negative values")
    return issues


def _walk_json(obj: Any, key: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield key, float(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_json(v, str(k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_json(v, key)


def check_json_text(text: str, source: str) -> list[str]:
    """Non-finite / negative numbers in a JSON document (Python's json reads NaN and Infinity)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return []
    issues = []
    for key, v in _walk_json(obj):
        if not math.isfinite(v):
            issues.append(f"{source}: {key!r} is {v}")
        elif v < 0 and not SIGNED.search(key):
            issues.append(f"{source}: {key!r} is negative ({v})")
    return issues


def check_text(text: str, source: str, negatives: bool = True) -> list[str]:
    """nan/inf tokens (and, with ``negatives``, negative numbers) in free text such as stdout."""
    issues = []
    for line in text.splitlines():
        if _NAN_INF.search(line):
            issues.append(f"{source}: {line.strip()[:160]!r}")
        elif negatives and _NEGATIVE.search(_BOX.sub(" ", line)):
            issues.append(f"{source}: negative number in {line.strip()[:160]!r}")
    return issues


def check_npz(path: Path) -> list[str]:
    import numpy as np

    issues = []
    with np.load(path) as data:
        for k in data.files:
            a = data[k]
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                issues.append(f"{path.name}: array {k!r} has NaN/inf")
            elif a.dtype.kind in "fi" and (a < 0).any() and "weights" not in k:
                # Histogram counts cannot be negative; weight *values* are signed.
                issues.append(f"{path.name}: array {k!r} has negative values")
    return issues


def check_outputs(root: Path) -> list[str]:
    """Bad numbers in every output file under ``root``."""
    issues: list[str] = []
    if not root.exists():
        return issues
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        suffix = p.suffix.lower()
        try:
            if suffix == ".csv":
                issues += check_csv(p)
            elif suffix == ".parquet":
                issues += check_parquet(p)
            elif suffix == ".json":
                issues += check_json_text(p.read_text(errors="replace"), p.name)
            elif suffix == ".md":
                # Markdown tables hold signed changes; only non-finite numbers are checked.
                issues += check_text(p.read_text(errors="replace"), p.name, negatives=False)
            elif suffix == ".npz":
                issues += check_npz(p)
        except Exception as exc:  # an unreadable output is itself a defect worth reporting
            issues.append(f"{p.name}: unreadable output ({type(exc).__name__}: {exc})"[:300])
    return issues


def check_stdout(out: Outcome, command: str) -> list[str]:
    """Bad numbers in stdout: JSON lines are checked as JSON, the rest as text."""
    if out.stdout.lstrip().startswith(("{", "[")):  # --json: one document, checked by its keys
        with contextlib.suppress(ValueError):
            json.loads(out.stdout)
            return check_json_text(out.stdout, "stdout")
    issues = []
    text_lines = []
    for line in out.stdout.splitlines():
        s = line.strip()
        if s.startswith(("{", "[")) and s.endswith(("}", "]")):
            issues += check_json_text(s, "stdout")
        else:
            text_lines.append(line)
    issues += check_text("\n".join(text_lines), "stdout", negatives=command not in SIGNED_STDOUT)
    return issues


# --- judging ------------------------------------------------------------------------------------


def _message_problem(out: Outcome) -> str | None:
    """Why a non-usage exit-2 rejection is not one clean ``error:`` line, or None."""
    lines = out.error_lines()
    if not lines:
        return "exit 2 with nothing on stderr"
    if len(lines) > 1:
        return f"{len(lines)} stderr lines, first {lines[0][:120]!r}, last {lines[-1][:120]!r}"
    line = lines[0]
    if not line.startswith("error: ") or len(line) <= len("error: "):
        return f"stderr line does not start with 'error: ': {line[:160]!r}"
    if len(line.encode()) >= MAX_ERROR_BYTES:
        return f"error line is {len(line.encode()):,} bytes: {line[:120]!r}..."
    return None


def judge(
    out: Outcome,
    must_fail: bool,
    command: str,
    outputs: Path | None = None,
    allow_usage: bool = False,
    infeasible_exit_1: bool = False,
    names: Sequence[str] = (),
    any_of: Sequence[str] = (),
) -> list[Problem]:
    """Every rule ``out`` breaks (empty when the case passed).

    Args:
        out: the invocation.
        must_fail: the input is invalid by construction (exit 2 required).
        command: command path (``search``, ``train predictor``) for signed-stdout rules.
        outputs: folder whose files the command may have written (checked when it ran).
        allow_usage: a click usage error is a clean rejection (CLI flag cases).
        infeasible_exit_1: exit 1 is the command's "design infeasible" answer (evaluate).
        names: words a clean one-line rejection must contain (the file, field or flag).
        any_of: words of which it must contain at least one (a flag or its value).
    """
    problems: list[Problem] = []
    text = out.stdout + out.stderr
    if out.crash:
        return [Problem("traceback", out.crash)]
    if "Traceback (most recent call last)" in text:
        tail = [ln for ln in text.splitlines() if ln.strip()][-1:]
        return [Problem("traceback", f"printed a traceback: {tail[0][:200] if tail else ''}")]
    code = out.exit_code
    if code == 2:
        if out.usage_error and not allow_usage:
            problems.append(Problem("message", "click usage error for a file input"))
        elif not out.usage_error:
            msg = _message_problem(out)
            if msg:
                problems.append(Problem("message", msg))
            else:
                line = out.error_lines()[0]
                low = line.lower()
                missing = [n for n in names if n and n.lower() not in low]
                if any_of and not any(a.lower() in low for a in any_of if a):
                    missing.append(" or ".join(a for a in any_of if a))
                if missing:
                    problems.append(Problem("unnamed", f"does not name {missing}: {line[:200]!r}"))
        if must_fail and out.warnings:
            problems.append(Problem("warning", "; ".join(out.warnings)[:300]))
        return problems
    if code == 1 and out.stderr.lstrip().startswith("internal error:"):
        # The CLI's wrapper caught an exception it does not expect from user input: a cimkit bug
        # (the traceback is hidden, not absent).
        return [Problem("internal", out.stderr.strip().splitlines()[0][:300])]
    ran = code == 0 or (code == 1 and infeasible_exit_1)
    if not ran:
        lines = out.error_lines()
        problems.append(
            Problem("exit_code", f"exit {code}: {lines[-1][:200] if lines else out.stdout[-200:]}")
        )
        return problems
    if must_fail:
        problems.append(Problem("accepted", f"exit {code}: accepted an invalid input"))
    issues = check_stdout(out, command)
    if outputs is not None:
        issues += check_outputs(outputs)
    if issues:
        problems.append(Problem("number", "; ".join(dict.fromkeys(issues))[:600]))
    return problems


def text_of(problems: Sequence[Problem]) -> str:
    """One line per problem, for assertion messages and the tier's report."""
    buf = io.StringIO()
    for p in problems:
        buf.write(f"[{p.kind}] {p.detail}\n")
    return buf.getvalue().rstrip()


def env_int(name: str, default: int) -> int:
    """An integer knob from the environment (the tier's seed and size)."""
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default
