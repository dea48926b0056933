"""Fixtures of the dashboard tests: one store with two small real runs (built once per worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import GA_RUN, NSGA_RUN, make_run, space_yaml


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives Debian's chromium with playwright (acceptance: make test runs it)",
    )


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store with a GA run (EDAP/Acc) and an NSGA-II run (accuracy, energy, area).

    Shared by the tests of a worker: tests that write to a store build their own.
    """
    d = tmp_path_factory.mktemp("dash")
    space = space_yaml(d)
    store = d / "runs.sqlite"
    make_run(store, space, GA_RUN)
    make_run(store, space, NSGA_RUN, algorithm="nsga2", pareto=("accuracy", "energy", "area"))
    return {"store": store, "space": space}
