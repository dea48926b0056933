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
