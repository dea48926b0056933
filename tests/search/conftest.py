"""Shared fixtures: the CIMNAS space and a deterministic stub accuracy (no predictor artifact)."""

from __future__ import annotations

import pytest
from search_helpers import SPACE, stub_accuracy


@pytest.fixture(scope="session")
def space():
    from cimkit.space import load_space

    return load_space(SPACE)


@pytest.fixture(scope="session")
def problem(space):
    from cimkit.search.problem import CimnasProblem

    return CimnasProblem(space, accuracy_fn=stub_accuracy)


@pytest.fixture(scope="module")
def app():
    """A typer app holding only the search commands (space, search, compare, report, runs,
    export), as cimkit.search.cli registers them."""
    import typer

    from cimkit.search.cli import register

    a = typer.Typer()
    register(a)
    return a
