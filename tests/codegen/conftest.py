"""Fixtures shared by the code generator tests."""

from __future__ import annotations

import pytest
from codegen_nets import branch, cnn, mlp

from cimkit import codegen


@pytest.fixture(scope="session")
def mlp_parts():
    wl = mlp(64)
    return wl, codegen.random_weights(wl, seed=3)


@pytest.fixture(scope="session")
def cnn_parts():
    wl = cnn()
    return wl, codegen.random_weights(wl, seed=2)


@pytest.fixture(scope="session")
def branch_parts():
    wl = branch()
    return wl, codegen.random_weights(wl, seed=2)
