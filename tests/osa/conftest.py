"""Shared fixtures of the OSA-HCIM simulator tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def real_layer():
    """A small CNN trained briefly on real images (scikit-learn's bundled digits, no download):
    its second conv as an HCIMConv2d, with disjoint calibration / evaluation inputs and their
    integer im2col rows ``(data, rows_calib, rows_eval)``."""
    from cimkit.osa.layerdata import trained_layer

    d = trained_layer("digits", steps=150, n_calib=12, n_eval=12, seed=0)
    rc, _ = d.layer.rows(d.x_calib)
    re, _ = d.layer.rows(d.x_eval)
    return d, rc, re
