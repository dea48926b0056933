"""Write a search's report in a second process that gets ready while the search runs.

Why (issue 15 item 6: the whole ``cimkit search --out`` in <= 4 s on 2 cores): the search runs on
one core (one BLAS thread). Everything the report needs that does not depend on the search's
result - importing matplotlib, pyarrow and Markdown, loading the space and the accuracy
predictor, drawing a first figure (fonts), evaluating baselines 1 and 2 (1,001 designs) - is done
by this worker on the other core meanwhile. When the search has committed its last generation the
parent sends one request and the worker writes the report with the same
:func:`cimkit.search.cli._report` as ``cimkit report`` (byte-identical files, tested), from the
store the search just wrote.

Protocol (JSON, one line each way): the worker is started as
``python -m cimkit.report.worker '{"space": PATH, "area": MM2|null, "seed": N}'``; it reads one
request ``{"store": PATH, "run": NAME, "out": DIR}`` from stdin (EOF: exit 0, nothing written)
and writes one reply on its stdout: ``{"ok": true, "printed": [lines], "written": ...}``, or
``{"ok": false, "type": "SpecError", "message": "..."}`` for a user error (the parent raises the
same one-line error), or ``{"ok": false, "internal": "traceback"}``. On anything but a reply the
parent writes the report itself (:func:`write_report_via`), so the worker can only save time.

The worker only saves time when a core is free for it; on a machine busy beyond its cores it
only adds its own CPU time (about 1.5 s), and a search shorter than the worker's preparation
would wait for it. So by default (``CIMKIT_REPORT_WORKER`` unset or ``auto``) it is started when
the machine has at least 2 cores, the 1-minute load average leaves one free (load < cores -
0.5) and the search evaluates at least :data:`MIN_DESIGNS` designs (P x (G + 1));
``CIMKIT_REPORT_WORKER=1`` always starts it, ``CIMKIT_REPORT_WORKER=0`` never (the report is
then written in process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

#: Environment switch: "0" never, "1" always, unset or "auto": when a core is free.
ENV_SWITCH = "CIMKIT_REPORT_WORKER"
#: Smallest search (P x (G + 1) designs) the worker starts for by default: about 1.5 s of
#: search on a quiet core, the time the worker takes to get ready (measured: P=150, G=70 is
#: 10,650 designs).
MIN_DESIGNS = 4000
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
            req = json.dumps({"store": str(store), "run": run, "out": str(out)})
            text, _ = proc.communicate(req + "\n")
        except (OSError, ValueError):
            proc.kill()
            proc.wait()
            return None
        lines = [ln for ln in (text or "").splitlines() if ln.strip()]
        try:
            reply = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        if isinstance(reply, dict) and "internal" in reply:
            if os.environ.get("CIMKIT_DEBUG") == "1":
                print(reply["internal"], file=sys.stderr)
            return None
        if not isinstance(reply, dict) or proc.returncode not in (0, 2):
            return None
        return reply

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
    space: str, area: float | None, seed: int, designs: int | None = None
) -> ReportWorker | None:
    """A worker for the report of a search about to run (``designs``: its P x (G + 1)), or
    None when turned off, when no core is free for it or the search is too short (see the
    module docstring) or when it cannot be started (the report is then written in process)."""
    mode = os.environ.get(ENV_SWITCH, "auto").strip().lower()
    short = designs is not None and designs < MIN_DESIGNS
    if mode == "0" or (mode != "1" and (short or not core_free())):
        return None
    try:
        return ReportWorker(space, area, seed)
    except OSError:
        return None


def write_report_via(
    worker: ReportWorker | None, st: Any, store: Path, run: str, out: Path, console: Any
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


def _prepare(space: str, area: float | None, seed: int) -> None:
    """Everything the report needs that does not depend on the search's result.

    ``_report`` builds its problem with ``cimkit.search.cli._problem`` from the run's stored
    space and area, and baselines 1 and 2 with ``cimkit.search.compare``: in this process
    (and only here) those are memoised, so the problem and baselines made now are the ones
    ``_report`` gets (same arguments, same values: nothing else changes in between).
    """
    import cimkit.search.cli as search_cli
    import cimkit.search.compare as compare

    made: dict[tuple[str, float | None], Any] = {}
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

    import pyarrow.csv  # noqa: F401  (the report's writers)
    import pyarrow.parquet  # noqa: F401

    import cimkit.report.summary  # noqa: F401  (markdown-it, the plots module)
    from cimkit.report import plots

    p = problem(space, area)
    baseline1(p)
    baseline2(p, seed=seed)
    # A first tiny figure: loads the font and the text machinery the plots use.
    import io

    fig = plots._figure(1, 1)
    ax = fig.subplots()
    ax.set_title("warm-up")
    plots._scale(ax, "y", "log")
    ax.plot([1, 2], [1, 10])
    fig.savefig(io.BytesIO(), format="png", dpi=20)


def main(argv: list[str] | None = None) -> int:
    """Run the worker (see the module docstring); returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    # Replies go to the real stdout; anything else printed here goes to stderr.
    reply_to = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # also what C code writes to fd 1
    sys.stdout = sys.stderr
    try:
        setup = json.loads(args[0])
        try:
            _prepare(setup["space"], setup.get("area"), int(setup.get("seed", 0)))
        except Exception:  # noqa: BLE001 - the report itself will say what is wrong
            pass
        line = sys.stdin.readline()
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
