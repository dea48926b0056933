"""Fixtures of the bad-input tier: a work folder per session and the flag fuzzer's inputs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis caches under ./.hypothesis by default: the working tree is shared, so the cache
# goes to the temporary folder (the examples are derandomized; nothing needs to persist).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cimkit-hypothesis")


@pytest.fixture(scope="session")
def hardening_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for mutant files and their outputs (one per test session / xdist worker)."""
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="session")
def flag_fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(fixture folder, store holding run ``fz`` and study ``c``) for the flag cases."""
    from .flags import make_fixtures

    fx = tmp_path_factory.mktemp("flag-fixtures")
    return fx, make_fixtures(fx)
