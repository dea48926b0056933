"""The one error path of every ``cimkit`` command, and the option checks the commands share.

:func:`user_errors` wraps each command callback (cimkit.cli, cimkit.accuracy.cli and
cimkit.search.cli all use this one implementation; it lives here so that subpackages need not
import :mod:`cimkit.cli`):

* :class:`~cimkit.errors.CimkitError` and the exceptions a user's input or machine causes
  (out of memory, recursion too deep, OS errors such as a full disk or a denied permission,
  SQLite errors, undecodable text, bad numbers) -> ``error: <one line>`` on stderr, exit 2;
* a ``SystemExit`` from code the command called (a user's factory or callable) -> exit 2 with
  one line (otherwise ``sys.exit(0)`` deep inside would look like success);
* any other exception is a cimkit bug -> ``internal error: ... (set CIMKIT_DEBUG=1 for the
  traceback; please report)``, exit 1. With ``CIMKIT_DEBUG=1`` every exception that is not a
  :class:`CimkitError` propagates with its traceback.

Typer's and click's own usage errors (``--pop abc``) never reach the wrapper; click prints them
naming the option, exit 2.

The checks (:func:`prepare_out_dir`, :func:`prepare_out_file`, :func:`check_number`,
:func:`parse_numbers`, :func:`parse_names`) raise :class:`~cimkit.errors.SpecError` with the
flag, the allowed range and the reason, and can be called by any command.
"""

from __future__ import annotations

import errno
import functools
import math
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

from cimkit.errors import CimkitError, SpecError, clip, short_repr

#: Environment variable that lets internal and OS errors propagate with their traceback.
DEBUG_ENV = "CIMKIT_DEBUG"
#: Longest error line printed (characters); longer messages are cut in the middle, marked.
MAX_MESSAGE_CHARS = 600
#: Largest area budget a command accepts (mm^2; --area of schedule, search, compare): over ten
#: times the ~860 mm^2 lithography reticle, so anything above is a typo or a unit mix-up.
MAX_AREA_MM2 = 10_000.0
AREA_WHY = "above 10,000 mm^2 is larger than any reticle-sized die by over 10x"
#: Attribute set on wrapped callbacks (tests walk the app and check every command has it).
WRAPPED_ATTR = "__cimkit_user_errors__"

err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def short_text(text: str, limit: int = 200) -> str:
    """``text`` (a path, a name) unquoted, on one line, cut to ``limit`` characters."""
    return clip(str(text), limit)


# Control characters in a message (a user's exception text) would break the one-line rule.
_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 127: "\\x7f"}


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (lines joined with '; ')."""
    line = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    line = line.translate(_CONTROL)
    if len(line) <= limit:
        return line
    # Keep the head (what failed) and the tail (most messages end with how to fix it).
    marker = f" ...[{len(line) - limit:,} chars cut]... "
    room = max(limit - len(marker), 2)
    head = (room * 3) // 5
    return f"{line[:head]}{marker}{line[len(line) - (room - head) :]}"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "no")


def _command_name() -> str:
    ctx = click.get_current_context(silent=True)
    return f"`{ctx.command_path}`" if ctx is not None else "the command"


def _exc_text(exc: BaseException) -> str:
    text = one_line(str(exc), MAX_MESSAGE_CHARS // 2)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
    errno.EACCES: "permission denied; choose a location you can write to",
    errno.EPERM: "operation not permitted; choose a location you can write to",
    errno.EROFS: "read-only file system; choose a writable location",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EISDIR: "is a directory; give a file",
    errno.ENOTDIR: "a part of the path is not a directory; check the path",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
}


def os_error_message(exc: OSError) -> str:
    """One line for an OS error: the path(s), the reason and what to do."""
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = _OS_HINTS.get(exc.errno or -1) or one_line(exc.strerror or str(exc)) or "OS error"
    return f"{short_text(where)}: {reason}" if where else reason


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an exception a user's input or machine causes, else None."""
    if isinstance(exc, CimkitError):
        return one_line(str(exc))
    if isinstance(exc, MemoryError):
        return (
            f"out of memory while running {_command_name()}; use a smaller input (a smaller "
            "network, population, image count or batch)"
        )
    if isinstance(exc, RecursionError):
        return (
            f"recursion too deep while running {_command_name()}: the input is nested too "
            "deeply (YAML/JSON or model); flatten it"
        )
    if isinstance(exc, sqlite3.Error):
        return (
            f"run store (SQLite): {_exc_text(exc)}; check the --store file (not locked by "
            "another process, not corrupt, a cimkit store)"
        )
    if isinstance(exc, OSError):
        return os_error_message(exc)
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}); give a text file "
            "saved as UTF-8"
        )
    if isinstance(exc, OverflowError):
        return f"number out of range ({_exc_text(exc)}); give finite values of ordinary size"
    if isinstance(exc, ValueError):
        return f"bad value ({_exc_text(exc)})"
    return None


def _print_error(prefix: str, message: str) -> None:
    # Text, not markup: a message quoting '[rram]' must not be read as a rich style tag.
    err_console.print(Text.assemble((prefix, "bold red"), " ", message), soft_wrap=True)


def _refuse_empty_path(
    self: click.Path, value: Any, param: click.Parameter | None, ctx: click.Context | None
) -> Any:
    # An empty path ('') would become Path('.') and be taken as the working directory, so
    # `--out ''` wrote into it and `spec ''` said ".: file not found": an empty path is an error.
    if isinstance(value, str) and value.strip() == "":
        self.fail("empty path; give a file or folder name", param, ctx)
    return _CLICK_PATH_CONVERT(self, value, param, ctx)


# Every path option and argument of cimkit is a click.Path (typer builds them from the Path
# annotations), so the check is made once here for the whole command tree. cimkit.cli imports
# this module before any command runs.
_CLICK_PATH_CONVERT = click.Path.convert
if getattr(click.Path.convert, "__name__", "") != "_refuse_empty_path":
    click.Path.convert = _refuse_empty_path  # type: ignore[method-assign]


def _refuse_empty_values(kwargs: dict[str, Any]) -> None:
    """An explicit empty text value (``--torch ''``, ``--resume ''``) is an error, not 'unset'."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.name not in kwargs:
            continue
        value = kwargs[param.name]
        values = value if isinstance(value, (list, tuple)) else (value,)
        if not any(isinstance(v, str) and v.strip() == "" for v in values):
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        name = (
            param.opts[0]
            if param.opts and param.opts[0].startswith("-")
            else (param.human_readable_name)
        )
        raise SpecError(f"{name}: empty value; give a value or leave the option out")


def user_errors(fn: F) -> F:
    """Wrap a command callback so every failure is one line (see the module docstring).

    Idempotent: wrapping a wrapped callback returns it unchanged.
    """
    if getattr(fn, WRAPPED_ATTR, False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _refuse_empty_values(kwargs)
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # typer.Exit(code), Ctrl-C and click's usage errors keep their own meaning
        except CimkitError as exc:
            _print_error("error:", user_message(exc) or "")
            raise typer.Exit(code=2) from None
        except SystemExit as exc:
            if _debug():
                raise
            _print_error(
                "error:",
                f"code called by {_command_name()} exited (SystemExit {short_repr(exc.code)}) "
                "before the command finished",
            )
            raise typer.Exit(code=2) from None
        except Exception as exc:
            if _debug():
                raise
            message = user_message(exc)
            if message is not None:
                _print_error("error:", message)
                raise typer.Exit(code=2) from None
            _print_error(
                "internal error:",
                f"{_exc_text(exc)} (set {DEBUG_ENV}=1 for the traceback; please report)",
            )
            raise typer.Exit(code=1) from None

    setattr(wrapper, WRAPPED_ATTR, True)
    return wrapper  # type: ignore[return-value]


def _label(path: Path, flag: str | None) -> str:
    shown = short_text(str(path))
    return f"{flag} {shown}" if flag else shown


def prepare_out_dir(path: str | Path, flag: str | None = "--out") -> Path:
    """Create the output directory ``path`` (with its parents) and check it is writable.

    Call it before the command's work, so a bad ``--out`` fails in a second, not after an hour.

    Args:
        path: the directory.
        flag: the option that named it, quoted in messages (None: the path alone).

    Returns:
        ``path`` as a :class:`~pathlib.Path` (``~`` expanded).

    Raises:
        SpecError: ``path`` or one of its parents is a file, or the directory cannot be
            created or written (permission, read-only file system, full disk).
    """
    out = Path(path).expanduser()
    label = _label(out, flag)
    if out.exists() and not out.is_dir():
        raise SpecError(
            f"{label}: is a file, not a directory; give a directory (created if missing)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        what = f"{blocker} is a file" if blocker is not None else "a part of the path is a file"
        raise SpecError(f"{label}: cannot create the directory: {what}") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot create the directory ({os_error_message(exc)})") from None
    try:
        # A real write: os.access says yes to root on a read-only mount and to ACL-less checks.
        fd, probe = tempfile.mkstemp(prefix=".cimkit-write-check-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SpecError(f"{label}: cannot write there ({os_error_message(exc)})") from None
    return out


def prepare_out_file(
    path: str | Path, flag: str | None = "--out", suffixes: Iterable[str] = ()
) -> Path:
    """Check an output FILE path: not a directory, an allowed suffix, its folder writable.

    The parent directory is created (see :func:`prepare_out_dir`).

    Raises:
        SpecError: ``path`` is a directory, has a suffix not in ``suffixes`` (when given), or
            its folder cannot be created or written.
    """
    out = Path(path).expanduser()
    label = _label(out, flag)
    allowed = tuple(suffixes)
    if out.is_dir():
        raise SpecError(f"{label}: is a directory; give a file name")
    if allowed and out.suffix.lower() not in allowed:
        raise SpecError(f"{label}: give a file name ending in {' or '.join(allowed)}")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise SpecError(f"{label}: cannot create its folder: {short_text(str(blocker))} is a file")
    try:
        prepare_out_dir(out.parent, None)
    except SpecError as exc:
        raise SpecError(f"{label}: its folder {exc}") from None
    return out


def _fmt(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return short_repr(value)
    if isinstance(value, int):
        return short_text(f"{value:,}", 40)
    return f"{value:,.6g}"


def check_number(
    value: float,
    flag: str,
    low: float,
    high: float,
    *,
    unit: str = "",
    low_open: bool = False,
    why: str = "",
) -> Any:
    """Return ``value`` if it is finite and within ``[low, high]`` (``(low, high]`` with
    ``low_open``), else raise a one-line :class:`SpecError` naming ``flag``, the range,
    ``unit`` and the reason ``why``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    # An int is finite; math.isfinite(10**400) would raise OverflowError.
    ok = ok and (isinstance(value, int) or math.isfinite(value))
    ok = ok and (value > low if low_open else value >= low)
    if ok and value <= high:
        return value
    interval = f"{'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}]"
    unit_text = f" {unit}" if unit else ""
    reason = f" ({why})" if why else ""
    kind = "an integer" if isinstance(low, int) and isinstance(high, int) else "a finite number"
    raise SpecError(f"{flag} {_fmt(value)}: give {kind} in {interval}{unit_text}{reason}")


def parse_numbers(
    text: str,
    flag: str,
    low: float,
    high: float,
    *,
    unit: str = "",
    low_open: bool = False,
    why: str = "",
) -> list[float]:
    """Comma-separated numbers, each checked with :func:`check_number`; at least one."""
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise SpecError(f"{flag}: empty; give comma-separated numbers, e.g. 16,40")
    values = []
    for item in items:
        if not item:
            raise SpecError(f"{flag} {short_repr(text)}: empty item between commas")
        try:
            value = float(item)
        except ValueError:
            raise SpecError(
                f"{flag}: {short_repr(item)} is not a number; give comma-separated numbers, "
                "e.g. 16,40"
            ) from None
        values.append(check_number(value, flag, low, high, unit=unit, low_open=low_open, why=why))
    return values


def parse_names(text: str, flag: str, allowed: Iterable[str]) -> list[str]:
    """Comma-separated names (case-insensitive, duplicates dropped), each one of ``allowed``."""
    choices = sorted(allowed)
    names = list(dict.fromkeys(n.strip().lower() for n in str(text).split(",") if n.strip()))
    if not names:
        raise SpecError(f"{flag}: empty; give comma-separated names from {', '.join(choices)}")
    unknown = [n for n in names if n not in choices]
    if unknown:
        raise SpecError(f"{flag}: unknown {short_repr(unknown[0])}; allowed: {', '.join(choices)}")
    return names
