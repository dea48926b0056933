"""Execution backends: how a batch of new genomes is evaluated.

* ``vectorized``: one in-process call on the whole batch (the default for vectorized problems:
  the cost model and the predictor are numpy over the design axis, so splitting only adds cost).
* ``process``: the batch is split into chunks evaluated in a local process pool (default for
  problems that are not vectorized: data-dependent histograms through torch, external
  simulators).
* ``ray``: the same chunks as Ray tasks, on a local Ray instance or a cluster (``address``).

Every backend returns the rows in input order, so results never depend on the backend except
for floating-point effects of batch size inside the evaluator.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

import numpy as np

from cimkit.errors import MissingDependencyError, SpecError


class Backend(Protocol):
    name: str

    def evaluate(self, problem: Any, X: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


#: Ray workers without a local bound (a cluster's size is not known here); chunks beyond the
#: batch size are never made, so more only costs scheduling.
MAX_RAY_WORKERS = 10_000


def max_local_workers() -> int:
    """Most local pool processes: 4 per CPU core (more only add memory and start-up time)."""
    return 4 * (os.cpu_count() or 1)


def check_workers(workers: int | None, limit: int, what: str) -> int | None:
    """``workers`` if None or in 1..limit, else a SpecError naming --workers and the range."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not 1 <= int(workers) <= limit:
        raise SpecError(f"--workers {workers}: allowed 1..{limit:,} ({what})")
    return int(workers)


def _chunks(X: np.ndarray, n: int) -> list[np.ndarray]:
    return [c for c in np.array_split(X, max(1, min(n, len(X)))) if len(c)]


def _evaluate_chunk(problem: Any, X: np.ndarray) -> np.ndarray:
    return problem.evaluate(X)


class VectorizedBackend:
    """One call of ``problem.evaluate`` on the whole batch."""

    name = "vectorized"

    def evaluate(self, problem: Any, X: np.ndarray) -> np.ndarray:
        return problem.evaluate(X)

    def close(self) -> None:
        pass


class ProcessPoolBackend:
    """Chunks in a local process pool of ``workers`` processes (created on first use)."""

    name = "process"

    def __init__(self, workers: int | None = None, chunks_per_worker: int = 1) -> None:
        cores = os.cpu_count() or 1
        limit = max_local_workers()
        workers = check_workers(workers, limit, f"4 x the {cores} CPU cores of this machine")
        self.workers = workers or cores
        self.chunks_per_worker = chunks_per_worker
        self._pool: ProcessPoolExecutor | None = None

    def evaluate(self, problem: Any, X: np.ndarray) -> np.ndarray:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers)
        parts = _chunks(X, self.workers * self.chunks_per_worker)
        futures = [self._pool.submit(_evaluate_chunk, problem, c) for c in parts]
        return np.concatenate([f.result() for f in futures])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayBackend:
    """Chunks as Ray tasks. ``address`` None starts (or joins) a local Ray instance.

    The problem (with its accuracy function) is pickled to the workers, so user code it refers
    to must be importable there: pass ``runtime_env`` (Ray's, e.g. ``{"env_vars":
    {"PYTHONPATH": ...}}``) for code outside installed packages. Unpickling on the workers runs
    code by design: connect only to a cluster you control (docs/security.md).

    The problem is put in Ray's object store once per backend, not once per task.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        num_cpus: int | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise MissingDependencyError(
                "the ray backend needs Ray: pip install 'cimkit[ray]'"
            ) from None
        workers = check_workers(workers, MAX_RAY_WORKERS, "Ray tasks per generation")
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "ignore_reinit_error": True,
                "include_dashboard": False,
                "log_to_driver": False,
            }
            if runtime_env:
                kwargs["runtime_env"] = runtime_env  # e.g. PYTHONPATH for user accuracy code
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
            self._owns = True
        else:
            self._owns = False
        self.workers = workers or int(ray.available_resources().get("CPU", 1)) or 1
        self._task = ray.remote(_evaluate_chunk)
        self._problem_ref: Any = None
        self._problem_id: int | None = None

    def evaluate(self, problem: Any, X: np.ndarray) -> np.ndarray:
        if self._problem_id != id(problem):
            self._problem_ref, self._problem_id = self.ray.put(problem), id(problem)
        refs = [self._task.remote(self._problem_ref, c) for c in _chunks(X, self.workers)]
        return np.concatenate(self.ray.get(refs))

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()


def make_backend(
    name: str, problem: Any = None, address: str | None = None, workers: int | None = None
) -> Backend:
    """Backend by command-line name: auto, vectorized, process or ray.

    Raises:
        SpecError: unknown name, ``workers`` out of range or given to the in-process
            vectorized backend, ``address`` without ray.
    """
    key = name.strip().lower()
    if key not in ("auto", "vectorized", "process", "ray"):
        raise SpecError(f"unknown backend {name!r}; choose from auto, vectorized, process, ray")
    if address is not None and key != "ray":
        raise SpecError(f"--address applies to --backend ray only (backend is {key!r})")
    chosen = key
    if key == "auto":
        vec = problem is None or getattr(problem, "vectorized", True)
        key = "vectorized" if vec else "process"
    if key == "vectorized":
        if workers is not None:
            how = " (chosen by --backend auto for this problem)" if chosen == "auto" else ""
            raise SpecError(
                f"--workers applies to --backend process or ray; the vectorized backend{how} "
                "evaluates each generation in this process"
            )
        return VectorizedBackend()
    if key == "process":
        return ProcessPoolBackend(workers)
    if key == "ray":
        return RayBackend(address, workers)
    raise SpecError(f"unknown backend {name!r}; choose from auto, vectorized, process, ray")
