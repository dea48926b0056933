"""Serving the dashboard: ``serve`` (blocking, what ``cimkit dashboard`` runs) and ``running``
(a server in a background thread, for tests and the docs screenshot script).

The listening socket is bound here, before uvicorn starts, so a port in use or an unknown host
is a one-line :class:`~cimkit.errors.CimkitError` (exit 2 from the CLI) and ``--port 0`` picks a
free port whose URL is printed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cimkit.errors import CimkitError, MissingDependencyError, SpecError


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0 = any free port)."""
    if not 0 <= port <= 65535:
        raise SpecError(f"--port {port}: must be in 0..65535 (0 = any free port)")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise CimkitError(f"--host {_shown(host)}: cannot resolve it ({exc.strerror})") from None
    except (UnicodeError, ValueError) as exc:  # a label over 63 characters, a NUL byte
        raise CimkitError(f"--host {_shown(host)}: not a host name or address ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise CimkitError(
            f"--host {_shown(host)} --port {port}: cannot listen ({exc.strerror}); pick another "
            "--port (0 = any free port)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _shown(host: str) -> str:
    """``host`` as it goes into a one-line message (cut, quoted when not printable)."""
    return host if host.isprintable() and len(host) <= 80 else repr(host[:80])


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _server(app: Any) -> Any:
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "cimkit dashboard needs uvicorn; install the extra: pip install -e '.[dashboard]'"
        ) from None
    # No lifespan (the app has no startup work); uvicorn's own log only for warnings.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(
    store: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard of ``store`` until interrupted (Ctrl+C / SIGTERM).

    ``on_ready(url)`` is called once the socket listens (the CLI prints the URL).
    """
    from cimkit.dashboard.app import create_app

    app = create_app(store)
    server = _server(app)
    sock = bind(host, port)
    if on_ready is not None:
        on_ready(url_of(sock))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl+C, then re-raises the signal: stopping is not an error.
        pass
    finally:
        sock.close()


@contextmanager
def running(store: str | Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The dashboard of ``store`` served from a background thread; yields its URL.

    The server stops (and the thread is joined) when the block exits.
    """
    from cimkit.dashboard.app import create_app

    server = _server(create_app(store))
    sock = bind(host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="cimkit-dashboard", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30.0
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server thread did not start")
            time.sleep(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30.0)
        sock.close()
