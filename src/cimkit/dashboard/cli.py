"""``cimkit dashboard``: the command (cimkit.cli registers it wrapped in ``user_errors``).

Importing this module needs only typer; starlette, uvicorn and plotly (the ``dashboard`` extra)
are imported when the command runs, so a missing extra is a one-line error, not an import
failure of the whole CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def dashboard(
    store: Annotated[
        Path, typer.Option("--store", help="SQLite run store written by cimkit search.")
    ] = Path("runs/cimkit.sqlite"),
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 = any free port).")] = 8080,
) -> None:
    """Local web app over the run store: runs, convergence, Pareto fronts, designs, breakdowns.

    Read-only: it never creates, changes or locks the store, and keeps working while a search
    writes to it. Stop it with Ctrl+C.
    """
    from cimkit.dashboard.server import serve

    def ready(url: str) -> None:
        typer.echo(f"cimkit dashboard: {url} (store {store}; Ctrl+C to stop)")

    serve(store, host, port, on_ready=ready)
