"""What every ``cimkit`` command prints besides errors: results, ``--json``, ``--quiet``, progress.

Shared by :mod:`cimkit.cli` and :mod:`cimkit.search.cli` (errors go through
:mod:`cimkit.cli_errors`):

* :data:`JSON_OPTION` / :data:`QUIET_OPTION` and :func:`set_mode`: with ``--json`` stdout holds
  exactly one JSON document (:func:`emit_json`; notes go to stderr); with ``--quiet`` only the
  result is printed (no notes, no progress). Errors are printed either way.
* :func:`generation_progress` / :func:`step_progress`: a rich bar with elapsed time and ETA when
  stderr is a terminal, plain lines (``label: 3/70 ..., elapsed 0:00:04, ETA 0:01:29``) when it
  is piped or redirected, so a log shows progress instead of a minute of silence. Progress goes
  to stderr, never into the result on stdout.
* :func:`make_console`: a console that is full width when stdout is not a terminal (a piped
  table is never cut to 80 columns), and :func:`print_table`, which folds long cells on a narrow
  terminal instead of cutting them with an ellipsis.
* :func:`used_flags` / :func:`note_deprecated`: old flag names keep working for one release,
  with a note on stderr.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

#: Width of a console whose output is not a terminal (a pipe, a file, a test runner): wide
#: enough for every cimkit table, so nothing is cut; ``COLUMNS`` overrides it.
PIPED_WIDTH = 1000
#: Plain (piped) progress prints at most one line per this many seconds, plus the first and the
#: last update; tests set it to 0 to see every update.
PLAIN_INTERVAL_S = 2.0

JSON_OPTION = typer.Option(
    "--json", help="Print the result as one JSON document on stdout (notes go to stderr)."
)
QUIET_OPTION = typer.Option(
    "--quiet", "-q", help="Print only the result: no progress, no notes (errors still shown)."
)


@dataclass
class OutputMode:
    """How the running command prints: ``json`` (one JSON document), ``quiet`` (result only)."""

    json: bool = False
    quiet: bool = False


MODE = OutputMode()


def set_mode(json_output: bool = False, quiet: bool = False) -> OutputMode:
    """Set the output mode of the running command (each command calls this first)."""
    MODE.json, MODE.quiet = bool(json_output), bool(quiet)
    return MODE


def make_console(stderr: bool = False) -> Console:
    """A rich console; full width (:data:`PIPED_WIDTH`) when its stream is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if tty or os.environ.get("COLUMNS") else PIPED_WIDTH
    # markup=False: table titles and cells hold user text (chip and space names, notes) that
    # must print as written; "[/x]" in a name crashed rich's markup parser. Lines that want
    # markup pass markup=True (see note()). soft_wrap=True: message lines are never broken by
    # rich (the terminal wraps them), so a printed path or command copies back as one piece.
    return Console(stderr=stderr, width=width, markup=False, soft_wrap=True)


console = make_console()
progress_console = make_console(stderr=True)


def note(message: str, *, markup: bool = False) -> None:
    """An informational line: stdout normally, stderr with ``--json``, nothing with ``--quiet``."""
    if MODE.quiet:
        return
    target = progress_console if MODE.json else console
    target.print(message, markup=markup, highlight=False, soft_wrap=True)


def print_table(table: Table, target: Console | None = None) -> None:
    """Print a result table (not with ``--json``); long cells fold on a narrow terminal.

    Right-justified (numeric) columns keep each value on one line: a folded ``1.2e-05`` or
    ``2026-12-02`` reads as two numbers, one of them negative. Text columns fold instead.
    """
    if MODE.json:
        return
    for col in table.columns:
        col.overflow = "fold"  # wrap inside the cell instead of cutting with an ellipsis
        if col.justify == "right":
            # The column is never narrower than its widest value (its header may fold).
            widths = [len(c) for c in col.cells if isinstance(c, str)]
            col.min_width = max([col.min_width or 0, *widths])
    # Not cropped: when even the narrowest layout is wider than the terminal, the terminal
    # wraps the long lines rather than rich cutting off the last columns.
    (target or console).print(table, crop=False)


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python values and non-finite floats as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _jsonable(value.tolist())  # numpy arrays and scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; the commands refuse NaN results before this
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # paths and enums


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document (and a newline) on stdout."""
    sys.stdout.write(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def fmt_seconds(seconds: float) -> str:
    """``H:MM:SS`` of a duration in seconds (``-:--:--`` when unknown)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class PlainProgress:
    """Progress as plain lines on a stream (for pipes, files, CI logs): elapsed and ETA.

    At most one line per ``interval_s`` seconds per task, plus its first and its last update.
    ETA = elapsed / done x remaining, from the first update (the setup before it, imports and
    the initial population, is not extrapolated).
    """

    def __init__(self, stream: Any = None, interval_s: float | None = None) -> None:
        self.stream = stream
        self.interval_s = PLAIN_INTERVAL_S if interval_s is None else interval_s
        self._tasks: dict[str, dict[str, float]] = {}

    def update(self, label: str, done: int, total: int, extra: str = "") -> None:
        """Report ``done`` of ``total`` steps of task ``label`` (``extra``: more text)."""
        now = time.monotonic()
        t = self._tasks.setdefault(label, {"start": now, "done0": done, "last": -math.inf})
        finished = done >= total
        if not finished and now - t["last"] < self.interval_s and t["last"] > -math.inf:
            return
        t["last"] = now
        elapsed = now - t["start"]
        steps = done - t["done0"]
        eta = elapsed / steps * (total - done) if steps > 0 else math.nan
        when = "done" if finished else f"ETA {fmt_seconds(eta)}"
        tail = f", {extra}" if extra else ""
        line = f"{label}: {done}/{total}{tail}, elapsed {fmt_seconds(elapsed)}, {when}\n"
        stream = self.stream or sys.stderr
        stream.write(line)
        stream.flush()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _stderr_tty() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


GenerationCallback = Callable[[str, int, int, float], None]


def generation_progress(
    unit: str = "gen",
) -> tuple[contextlib.AbstractContextManager[Any], Callable[[int], GenerationCallback]]:
    """A progress display and ``make(total)`` -> ``on_generation(label, gen, evals, best)``.

    Rich bar with elapsed time and ETA on a terminal, plain lines when stderr is piped, nothing
    with ``--quiet`` or ``--json`` (stdout is the document; stderr stays clean for tools).
    """
    if MODE.quiet or MODE.json:

        def make_silent(total: int) -> GenerationCallback:
            return lambda label, gen, evals, best: None

        return contextlib.nullcontext(), make_silent
    if not _stderr_tty():
        plain = PlainProgress()

        def make_plain(total: int) -> GenerationCallback:
            def cb(label: str, gen: int, evals: int, best: float) -> None:
                plain.update(label, gen, total, f"{evals:,} evals, best {best:.4g}")

            return cb

        return plain, make_plain
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(unit + " {task.completed}/{task.total}"),
        TextColumn("{task.fields[evals]} evals"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=progress_console,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def make(total: int) -> GenerationCallback:
        def cb(label: str, gen: int, evals: int, best: float) -> None:
            if label not in tasks:
                tasks[label] = prog.add_task(label, total=total, evals=0, best="-")
            prog.update(tasks[label], completed=gen, evals=f"{evals:,}", best=f"{best:.4g}")

        return cb

    return prog, make


@contextlib.contextmanager
def step_progress(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """Progress over ``total`` steps; yields ``advance(what)`` to call after each step."""
    if MODE.quiet or MODE.json:
        yield lambda what="": None
        return
    if not _stderr_tty():
        plain = PlainProgress()
        done = [0]

        def advance_plain(what: str = "") -> None:
            done[0] += 1
            plain.update(label, done[0], total, what)

        plain.update(label, 0, total, "starting")
        yield advance_plain
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=progress_console,
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda what="": prog.advance(task)


# ------------------------------------------------------------------ deprecated flag names
#: command -> {old flag: new flag}. The old names are second names of the same options (so they
#: parse and validate exactly like the new ones) and are dropped in cimkit 0.2.
DEPRECATED_FLAGS: dict[str, dict[str, str]] = {
    "generate": {"--area-mm2": "--area"},
    "schedule": {"--area-mm2": "--area"},
    "pimhls-report": {"--areas": "--area", "--networks": "--network"},
    "search": {"--report": "--out"},
}
#: The release that removes the old names.
REMOVED_IN = "0.2"
#: click ``Context.meta`` key of the deprecated names used in this invocation.
META_KEY = "cimkit.deprecated_flags"


def used_flags(command: str, args: Sequence[str]) -> dict[str, str]:
    """{new flag: old flag as typed} for the deprecated names of ``command`` in ``args``."""
    table = DEPRECATED_FLAGS.get(command, {})
    used: dict[str, str] = {}
    for arg in args:
        if arg == "--":
            break
        old = arg.split("=", 1)[0]
        if old in table:
            used[table[old]] = old
    return used


def note_deprecated(command: str, used: dict[str, str]) -> None:
    """Note each deprecated flag name in ``used`` ({new: old}, :func:`used_flags`) on stderr.

    The note starts with ``# `` (an informational line, like predict's timing) so that tools
    reading ``error:`` lines see only real errors.
    """
    for new, old in used.items():
        sys.stderr.write(
            f"# deprecated: `cimkit {command} {old}` is now {new}; {old} stops working in "
            f"cimkit {REMOVED_IN}\n"
        )


def typed_flag(flag: str) -> str:
    """The name the user typed for option ``flag`` (an old name if they used one), for messages."""
    import click

    ctx = click.get_current_context(silent=True)
    used = ctx.meta.get(META_KEY, {}) if ctx is not None else {}  # meta is shared down the tree
    return str(used.get(flag, flag))
