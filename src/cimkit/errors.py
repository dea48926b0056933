"""Errors that cimkit reports to a user as one line (the CLI turns them into exit code 2)."""

from __future__ import annotations


class CimkitError(Exception):
    """Base of every error caused by user input: bad spec, unknown network, unsupported layer.

    The message must be one line that names the field or file and says what is allowed.
    """


class SpecError(CimkitError):
    """A hardware or search spec is malformed, has an unknown field or an out-of-range value."""


class WorkloadError(CimkitError):
    """A network cannot be turned into a layer table (unsupported operator, missing shapes)."""


class InfeasibleDesignError(CimkitError):
    """No design can satisfy the request (e.g. an area budget too small for any mapping)."""


class MissingDependencyError(CimkitError):
    """An optional package is needed for this feature; the message names the package."""


# Control characters would break the one-line rule; they are shown escaped.
_ESCAPES = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}


def clip(text: str, limit: int = 80) -> str:
    """``text`` on one line (control characters escaped), at most ``limit`` characters.

    A cut is marked with an ellipsis. Only the first few times ``limit`` characters are looked
    at, so clipping a megabyte string costs no more than clipping a short one.
    """
    head = text[: 4 * limit + 1].translate(_ESCAPES)
    if len(head) <= limit and len(text) <= 4 * limit:
        return head
    return head[: max(limit - 3, 0)] + "..."


def short_repr(value: object, limit: int = 80) -> str:
    """A repr of ``value`` of at most ``limit`` characters, built in time bounded by ``limit``.

    Containers show their first few items and two levels only (``[[1, 2, ...], ...]``), so a
    list of a billion shared elements costs nothing; the result is one line (:func:`clip`).
    """
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 2, 4, 4, 4, 4
    r.maxstring, r.maxother, r.maxlong = limit, limit, limit
    try:
        text = r.repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the real error
        text = f"<{type(value).__name__}>"
    return clip(text, limit)
