"""Write a search's report in a second process that gets ready while the search runs.

Why (issue 15 item 6: the whole ``cimkit search --out`` in <= 4 s on 2 cores): the search runs on
one core (one BLAS thread). Everything the report needs that does not depend on the search's
result - importing matplotlib, pyarrow and Markdown, loading the space and the accuracy
predictor, drawing a first figure (fonts), evaluating baselines 1 and 2 (1,001 designs) - is done
by this worker on the other core meanwhile. When the search has committed its last generation the
parent sends one request and the worker writes the report with the same
:func:`cimkit.search.cli._report` as ``cimkit report`` (byte-identical files, tested), from the
store the search just wrote.

On Linux the worker is a fork of the search's process (:class:`ForkedWorker`), made after the
search's problem is built and before the search starts: it inherits the imported modules and
the problem, so it does not start Python, import cimkit and numpy or load the space again
(about 0.6 s of CPU time that a spawned worker spends, on a core the search may need). It then
imports the report's modules, evaluates the baselines and loads the fonts like the spawned one.
Elsewhere (no ``os.fork``; macOS, where forking a process with system frameworks loaded is
unsafe) it is a fresh ``python -m cimkit.report.worker`` (:class:`ReportWorker`).

Protocol (JSON, one line each way, over pipes): the spawned worker is started as
``python -m cimkit.report.worker '{"space": PATH, "area": MM2|null, "seed": N}'``; it reads one
request ``{"store": PATH, "run": NAME, "out": DIR}`` from stdin (EOF: exit 0, nothing written)
and writes a line ``ready`` once prepared, then one reply line on its stdout: ``{"ok": true,
"printed": [lines], "written": ...}``, or
``{"ok": false, "type": "SpecError", "message": "..."}`` for a user error (the parent raises the
same one-line error), or ``{"ok": false, "internal": "traceback"}``. On anything but a reply the
parent writes the report itself (:func:`write_report_via`), so the worker can only save time.

When it is started by default (``CIMKIT_REPORT_WORKER`` unset or ``auto``): a forked worker
does what the report would do in the search's process anyway (imports, baselines, the report),
once, so it costs no CPU time of its own and is started wherever there are >= 2 cores. A
spawned worker adds its own CPU time (about 1.5 s: Python, cimkit, the space, again), which
only pays when a core is free for it and the search is long enough to hide it: >= 2 cores, a
1-minute load average below cores - 0.5 and at least :data:`MIN_DESIGNS` designs (P x (G + 1)).
``CIMKIT_REPORT_WORKER=1`` always starts one, ``CIMKIT_REPORT_WORKER=0`` never (the report is
then written in process); ``fork`` or ``spawn`` always start that kind (tests compare them).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Environment switch: "0" never, "1" always, unset or "auto": when a core is free.
ENV_SWITCH = "CIMKIT_REPORT_WORKER"
#: Smallest search (P x (G + 1) designs) a spawned worker starts for by default: about 1.5 s of
#: search on a quiet core, the time the worker takes to get ready (measured: P=150, G=70 is
#: 10,650 designs).
MIN_DESIGNS = 4000
#: Seconds a forked worker may still be preparing once the search has ended (it needs about
#: 1 s; beyond this it is taken as stuck and the report is written in process).
READY_TIMEOUT_S = 120.0
#: The worker uses one BLAS thread, like the search beside it (two would fight for the cores).
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class ReportWorker:
    """A started worker process (see the module docstring).

    Args:
        space: the space YAML the run uses (the path stored with the run).
        area: the area constraint stored with the run (mm^2) or None.
        seed: the run's seed (baseline 2 samples its hardware with it).
        argv: the command to start (tests give a failing one); default this module.
    """

    def __init__(
        self, space: str, area: float | None, seed: int, argv: list[str] | None = None
    ) -> None:
        setup = json.dumps({"space": str(space), "area": area, "seed": int(seed)})
        env = {**os.environ, **_ONE_THREAD}
        # The same modules as this process (an editable install, a test's sys.path).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        cmd = argv or [sys.executable, "-m", "cimkit.report.worker", setup]
        self.proc: subprocess.Popen[str] | None = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )

    def report(self, store: Path, run: str, out: Path) -> dict[str, Any] | None:
        """The worker's reply to one report request, or None if it gave none (crashed,
        missing, a cimkit bug in it): then the caller writes the report itself."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            text, _ = proc.communicate(_request(store, run, out))
        except (OSError, ValueError):
            proc.kill()
            proc.wait()
            return None
        return _reply(text, proc.returncode)

    def close(self) -> None:
        """Stop the worker if it still runs (the search failed or was interrupted)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            for f in (proc.stdin, proc.stdout):
                if f is not None:
                    f.close()


class ForkedWorker:
    """The worker as a fork of this process (Linux; see the module docstring).

    Args:
        space, area, seed: as :class:`ReportWorker`.
        problem: this process's problem of ``space`` and ``area`` (the one the search uses),
            handed to the child so it is not built again; None builds it there.

    The child only reads the store (its own read-only connection, after the search's last
    commit) and writes the report folder; it never returns into the caller's code: it ends
    with ``os._exit`` (no inherited ``atexit`` handler, buffer or database connection of this
    process is flushed or closed twice).
    """

    def __init__(self, space: str, area: float | None, seed: int, problem: Any = None) -> None:
        for f in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            f.flush()
        # Frozen, what exists now (modules, the space, the problem) is never walked by the
        # child's cyclic collector (walking it would copy every page it touches); this
        # process unfreezes it at once, so its own collector is as before.
        gc.freeze()
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        with warnings.catch_warnings():
            # Python >= 3.12 warns about forking a process with threads: the only ones here
            # are BLAS's idle pool threads, which register their own fork handlers.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(req_w)
                os.close(rep_r)
                code = _forked_main(space, area, seed, problem, req_r, rep_w)
            except BaseException:  # noqa: BLE001 - nothing may unwind into the parent's code
                code = 1
            finally:
                os._exit(code)
        gc.unfreeze()
        os.close(req_r)
        os.close(rep_w)
        self.pid: int | None = pid
        self._req, self._rep = req_w, rep_r

    def report(self, store: Path, run: str, out: Path) -> dict[str, Any] | None:
        """As :meth:`ReportWorker.report`. Interrupted while it waits (Ctrl-C), the child is
        stopped by :meth:`close`."""
        import select

        pid = self.pid
        if pid is None:
            return None
        # The child says 'ready' when prepared (or EOF when it died). A child that is not
        # ready long after the search ended is stuck (a lock a thread held at the fork):
        # it is stopped and the report is written here.
        if not select.select([self._rep], [], [], READY_TIMEOUT_S)[0]:
            self.close()
            return None
        try:
            os.write(self._req, _request(store, run, out).encode())
            self._close_fds(rep=False)
            chunks = []
            while chunk := os.read(self._rep, 1 << 16):
                chunks.append(chunk)
        except OSError:  # the child is gone (broken pipe): the report is written here
            self.close()
            return None
        self._close_fds()
        self.pid = None
        _, status = os.waitpid(pid, 0)
        return _reply(b"".join(chunks).decode(errors="replace"), os.waitstatus_to_exitcode(status))

    def close(self) -> None:
        """Stop the child if it still runs (the search failed or was interrupted)."""
        pid, self.pid = self.pid, None
        self._close_fds()
        if pid is not None:
            _end(pid)

    def _close_fds(self, rep: bool = True) -> None:
        """Close the request pipe (and the reply pipe), each once: a closed descriptor's
        number is reused by the next file opened, so it must never be closed again."""
        for name in ("_req", "_rep") if rep else ("_req",):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                try:
                    os.close(fd)
                except OSError:
                    pass


def _end(pid: int) -> None:
    """Kill the child ``pid`` (if it still runs) and reap it."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # reaped already
        pass


def _request(store: Path, run: str, out: Path) -> str:
    return json.dumps({"store": str(store), "run": run, "out": str(out)}) + "\n"


def _reply(text: str | None, returncode: int | None) -> dict[str, Any] | None:
    """The reply in a worker's output (its last line), or None if there is none to use."""
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    try:
        reply = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    if isinstance(reply, dict) and "internal" in reply:
        if os.environ.get("CIMKIT_DEBUG") == "1":
            print(reply["internal"], file=sys.stderr)
        return None
    if not isinstance(reply, dict) or returncode not in (0, 2):
        return None
    return reply


def can_fork() -> bool:
    """Whether the worker can be a fork of this process: Linux with ``os.fork`` and no Python
    thread besides the main one (a thread's locks would stay taken in the child)."""
    import threading

    linux = sys.platform.startswith("linux") and hasattr(os, "fork")
    return linux and threading.active_count() == 1


def core_free() -> bool:
    """Whether a core looks free for the worker: >= 2 cores and a 1-minute load average below
    cores - 0.5 (no load average, e.g. on Windows: assumed free)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return cores >= 2 and load < cores - 0.5


def start(
    space: str,
    area: float | None,
    seed: int,
    designs: int | None = None,
    problem: Any = None,
    fork: bool = True,
) -> ReportWorker | ForkedWorker | None:
    """A worker for the report of a search about to run (``designs``: its P x (G + 1)), or
    None when turned off, when no core is free for it or the search is too short (see the
    module docstring) or when it cannot be started (the report is then written in process).

    ``problem`` is this process's problem of ``space`` and ``area``: a forked worker uses it
    instead of building its own (same arguments, same problem). ``fork=False`` (a search on a
    process pool or Ray) spawns the worker even where it could be forked."""
    mode = os.environ.get(ENV_SWITCH, "auto").strip().lower()
    if mode == "0":
        return None
    forked = mode == "fork" or (mode != "spawn" and fork and can_fork())
    if mode not in ("1", "fork", "spawn"):  # auto
        if forked:
            # A fork does only what the report would do in this process anyway, once: it
            # costs no CPU time of its own, so it pays wherever a second core exists.
            if (os.cpu_count() or 1) < 2:
                return None
        elif (designs is not None and designs < MIN_DESIGNS) or not core_free():
            return None
    try:
        if forked:
            return ForkedWorker(space, area, seed, problem)
        return ReportWorker(space, area, seed)
    except OSError:
        return None


def write_report_via(
    worker: ReportWorker | ForkedWorker | None,
    st: Any,
    store: Path,
    run: str,
    out: Path,
    console: Any,
) -> Any:
    """Write the report of ``run`` into ``out`` by ``worker`` if it answers, else in process
    with :func:`cimkit.search.cli._report` (same files either way); returns what ``_report``
    returns. A user error in the worker is raised here as the same one-line error."""
    reply = worker.report(store, run, out) if worker is not None else None
    if reply is None:
        from cimkit.search.cli import _report

        return _report(st, run, out, console)
    if not reply.get("ok"):
        from cimkit import errors

        cls = getattr(errors, str(reply.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.CimkitError)):
            cls = errors.CimkitError
        raise cls(str(reply.get("message", "the report could not be written")))
    for line in reply.get("printed", []):
        console.print(line, highlight=False)
    return reply.get("written")


# --- the worker process ----------------------------------------------------------------------


class _Lines:
    """A console that keeps what ``_report`` prints (sent to the parent to print)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.lines.append(" ".join(str(a) for a in args))


def _prepare(space: str, area: float | None, seed: int, built: Any = None) -> None:
    """Everything the report needs that does not depend on the search's result.

    ``_report`` builds its problem with ``cimkit.search.cli._problem`` from the run's stored
    space and area, and baselines 1 and 2 with ``cimkit.search.compare``: in this process
    (and only here) those are memoised, so the problem and baselines made now are the ones
    ``_report`` gets (same arguments, same values: nothing else changes in between).
    ``built``: the problem of ``space`` and ``area`` already built (a forked worker's).
    Then the first use of each writer (CSV, Parquet, PNG, Markdown) on tiny inputs, so the
    imports and one-time set-up they do are done here, not after the search.
    """
    import cimkit.search.cli as search_cli
    import cimkit.search.compare as compare

    made: dict[tuple[str, float | None], Any] = {}
    if built is not None:
        made[(str(space), area)] = built
    problem_fn = search_cli._problem

    def problem(space_path: str, area_mm2: float | None) -> Any:
        key = (str(space_path), area_mm2)
        if key not in made:
            made[key] = problem_fn(space_path, area_mm2)
        return made[key]

    b1: dict[int, Any] = {}
    b2: dict[tuple[int, int, int], Any] = {}
    baseline1_fn, baseline2_fn = compare.baseline1, compare.baseline2

    def baseline1(p: Any) -> Any:
        if id(p) not in b1:
            b1[id(p)] = baseline1_fn(p)
        return b1[id(p)]

    def baseline2(p: Any, n: int = 1000, seed: int = 0) -> Any:
        if (id(p), n, seed) not in b2:
            b2[(id(p), n, seed)] = baseline2_fn(p, n=n, seed=seed)
        return b2[(id(p), n, seed)]

    search_cli._problem = problem  # type: ignore[assignment]
    compare.baseline1 = baseline1  # type: ignore[assignment]
    compare.baseline2 = baseline2  # type: ignore[assignment]

    _skip_artist_docstrings()
    import pyarrow.csv  # noqa: F401  (the report's writers)
    import pyarrow.parquet  # noqa: F401

    import cimkit.report.summary  # noqa: F401  (markdown-it, the plots module)
    from cimkit.report import plots

    p = problem(space, area)
    baseline1(p)
    baseline2(p, seed=seed)
    _warm_up(plots)


def _skip_artist_docstrings() -> None:
    """Import matplotlib without the property tables of the ``set`` docstrings.

    At import matplotlib writes, for every Artist subclass, a docstring of its ``set`` method
    listing every property (``matplotlib.artist.kwdoc``: about 0.1 s of its 0.35 s import).
    A worker never shows a docstring, so here that table is left empty; nothing drawn depends
    on it (the worker's PNGs are byte-compared with the in-process ones in the tests). Only
    in this worker process, and only if matplotlib's figure module is not imported yet.
    """
    if "matplotlib.figure" in sys.modules:
        return
    import matplotlib.artist as artist

    if callable(getattr(artist, "kwdoc", None)):
        artist.kwdoc = lambda *a, **k: ""  # type: ignore[assignment]


def _warm_up(plots: Any) -> None:
    """Use each writer of the report once on tiny inputs (into memory)."""
    import io

    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from cimkit.report.summary import render_html

    # A first tiny figure: loads the font and the text machinery the plots use.
    fig = plots._figure(1, 1)
    ax = fig.subplots()
    ax.set_title("warm-up")
    plots._scale(ax, "y", "log")
    ax.plot([1, 2], [1, 10])
    ax.scatter([1, 2], [1, 10], s=4)
    ax.barh([0, 1], [0.5, 1.0])
    ax.legend(["a"], fontsize=7)
    fig.savefig(io.BytesIO(), format="png", dpi=20)
    frame = pd.DataFrame(
        {"a": pd.array([1, 2], dtype="Int64"), "b": [0.5, 1.5], "c": [True, False]}
    )
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), io.BytesIO())
    frame.to_parquet(io.BytesIO(), index=False)
    render_html("warm-up", "# a\n\n| a | b |\n|---|---|\n| `1` | 2 |\n")
    # Pareto fronts (SearchResult.pareto) sort with pymoo.
    import pymoo.util.nds.non_dominated_sorting  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run the spawned worker (see the module docstring); returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    # Replies go to the real stdout; anything else printed here goes to stderr.
    reply_to = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # also what C code writes to fd 1
    sys.stdout = sys.stderr

    def prepare() -> None:
        setup = json.loads(args[0])
        _prepare(setup["space"], setup.get("area"), int(setup.get("seed", 0)))
        gc.freeze()  # what is prepared stays: the collector need not walk it again

    return _serve(prepare, sys.stdin, reply_to)


def _forked_main(
    space: str, area: float | None, seed: int, problem: Any, req_fd: int, reply_fd: int
) -> int:
    """The forked worker: as :func:`main`, the request and reply on the pipes ``req_fd`` and
    ``reply_fd``; returns the exit code."""
    import signal

    from threadpoolctl import threadpool_limits

    # The parent's handlers are the parent's business; a Ctrl-C of the process group ends
    # this child as KeyboardInterrupt (exit 130), like the spawned worker.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # What is printed here goes to stderr (the parent's stdout carries the CLI's output).
    sys.stdout = sys.stderr
    # One BLAS thread, like the search beside it (the environment of a spawned worker says
    # so; BLAS is already loaded here, so it is told directly).
    limits = threadpool_limits(limits=1, user_api="blas")  # noqa: F841 - held to the end

    def prepare() -> None:
        _prepare(space, area, seed, problem)
        gc.freeze()  # what is prepared stays: the collector need not walk it again

    with os.fdopen(req_fd) as req, os.fdopen(reply_fd, "w") as reply_to:
        return _serve(prepare, req, reply_to)


def _serve(prepare: Callable[[], None], requests: Any, reply_to: Any) -> int:
    """Prepare, then answer the one request read from ``requests`` on ``reply_to``."""
    try:
        try:
            prepare()
        except Exception:  # noqa: BLE001 - the report itself will say what is wrong
            pass
        reply_to.write("ready\n")  # a forked worker's parent waits for this line
        reply_to.flush()
        line = requests.readline()
        if not line.strip():
            return 0  # the search ended without a report request
        req = json.loads(line)
        from cimkit.errors import CimkitError
        from cimkit.search.cli import _report
        from cimkit.search.store import RunStore

        lines = _Lines()
        try:
            st = RunStore(Path(req["store"]), readonly=True)
            try:
                written = _report(st, req["run"], Path(req["out"]), lines)
            finally:
                st.close()
        except CimkitError as exc:
            reply_to.write(
                json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}) + "\n"
            )
            return 2
        try:
            json.dumps(written)
        except (TypeError, ValueError):
            written = None
        reply_to.write(json.dumps({"ok": True, "printed": lines.lines, "written": written}) + "\n")
        return 0
    except KeyboardInterrupt:
        return 130  # Ctrl-C reached the whole process group: the parent reports it
    except Exception:  # noqa: BLE001 - a cimkit bug: the parent writes the report itself
        reply_to.write(json.dumps({"ok": False, "internal": traceback.format_exc()}) + "\n")
        return 1
    finally:
        reply_to.flush()


if __name__ == "__main__":
    raise SystemExit(main())
