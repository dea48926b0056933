"""SAR ADC energy and area from the ADC-survey table (hwcomponents-adc, generated offline).

``cimkit/data/components/adc_survey.csv`` tabulates hwcomponents-adc (CiMLoop's ADC plug-in, a
regression over B. Murmann's ADC survey) on a grid of bits 4..12 x 17 sample rates
(1e6..1e10 S/s, 4 per decade) x nodes {7, 16, 22, 32, 45, 65, 130} nm; how it was made is in
docs/reference-model.md and the ``.json`` sidecar. This module interpolates it, vectorized over a
design axis:

* log(energy) and log(area) are trilinear in (bits, log rate, log node);
* bits outside 4..12 (the library refuses < 4 bits: its fit is non-monotonic there) and nodes
  outside 7..130 nm extrapolate linearly in the same coordinates, from the end segments (the
  4 -> 5 bit segment rises by a few percent, so 1-3 bit SARs come out slightly cheaper and
  smaller than 4-bit ones),
  rates are clamped to the table (energy is rate-independent below ~1e9 S/s at 8 bits anyway).

The survey has **no supply-voltage input**; its designs run at their node's nominal supply, and
:func:`cimkit.cost.peripherals.adc_survey_energy_j` scales the energy by (V / nominal V)^2. The
library's own leakage rule (20 % of the energy at the design rate, ``LEAK_PER_CONVERT_RATE`` x
convert energy x rate) is what the offline reference model uses; cimkit's readouts take their
static power from their area instead (:mod:`cimkit.cost.peripherals`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

#: Leakage power per (convert energy x rate): the library's 20 % / 80 % split of the energy.
LEAK_PER_CONVERT_RATE = 0.25


@lru_cache(maxsize=1)
def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bits (B,), log rate (R,), log node (N,), log convert J (B,R,N), log area um^2 (B,R,N))."""
    # numpy's parser, not pandas': the search imports no pandas (its import is ~0.5 s), and
    # loadtxt reads these decimal strings to the same doubles as pd.read_csv (tested).
    text = resources.files("cimkit.data").joinpath("components/adc_survey.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    col = {name.strip(): i for i, name in enumerate(lines[0].split(","))}
    data = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2)
    # Rows ordered by (bits, rate, node): lexsort's last key is the primary one (stable, as
    # pandas' multi-column sort_values).
    data = data[
        np.lexsort((data[:, col["node_nm"]], data[:, col["rate_sps"]], data[:, col["bits"]]))
    ]
    bits = np.unique(data[:, col["bits"]])
    rates = np.unique(data[:, col["rate_sps"]])
    nodes = np.unique(data[:, col["node_nm"]])
    shape = (len(bits), len(rates), len(nodes))
    energy = np.log(data[:, col["convert_energy_pj"]] * 1e-12).reshape(shape)
    area = np.log(data[:, col["area_um2"]]).reshape(shape)
    return bits, np.log(rates), np.log(nodes), energy, area


def _axis(x: np.ndarray, grid: np.ndarray, clamp: bool) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index and fractional position of ``x`` (extrapolating unless ``clamp``)."""
    if clamp:
        x = np.clip(x, grid[0], grid[-1])
    i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
    t = (x - grid[i]) / (grid[i + 1] - grid[i])
    return i, t


def _interp(
    table: np.ndarray, bits: np.ndarray, rate_hz: np.ndarray, node_nm: np.ndarray
) -> np.ndarray:
    """exp of the trilinear interpolation of log ``table`` (B, R, N), broadcast over the inputs.

    Designs of a search share few (bits, rate, node) triples, so each distinct triple is
    interpolated once (np.unique) and the result gathered back.
    """
    b, r, n = np.broadcast_arrays(
        np.asarray(bits, dtype=np.float64),
        np.asarray(rate_hz, dtype=np.float64),
        np.asarray(node_nm, dtype=np.float64),
    )
    shape = b.shape
    # One 1-D integer key per triple (1-D np.unique is a plain sort; axis=0 is far slower).
    ur, kr = np.unique(r.ravel(), return_inverse=True)
    ubn, kbn = np.unique(b.ravel() * 1e4 + n.ravel(), return_inverse=True)
    first, inv = np.unique(kr.reshape(-1) * len(ubn) + kbn.reshape(-1), return_inverse=True)
    rate_u = ur[first // len(ubn)]
    bits_u = np.floor(ubn[first % len(ubn)] / 1e4)
    node_u = ubn[first % len(ubn)] - bits_u * 1e4
    gb, gr, gn, _, _ = _grid()
    ib, tb = _axis(bits_u, gb, clamp=False)
    ir, tr = _axis(np.log(np.maximum(rate_u, 1.0)), gr, clamp=True)
    inode, tn = _axis(np.log(node_u), gn, clamp=False)
    out = np.zeros(len(first))
    for db, wb in ((0, 1.0 - tb), (1, tb)):
        for dr, wr in ((0, 1.0 - tr), (1, tr)):
            for dn, wn in ((0, 1.0 - tn), (1, tn)):
                out = out + wb * wr * wn * table[ib + db, ir + dr, inode + dn]
    return np.exp(out)[inv.reshape(-1)].reshape(shape)


def sar_convert_energy_j(bits: np.ndarray, rate_hz: np.ndarray, node_nm: np.ndarray) -> np.ndarray:
    """Dynamic energy of one conversion (J), the survey's 'convert' action; arrays broadcast."""
    return _interp(_grid()[3], bits, rate_hz, node_nm)


def sar_area_um2(bits: np.ndarray, rate_hz: np.ndarray, node_nm: np.ndarray) -> np.ndarray:
    """Area of one SAR ADC (um^2) designed for ``rate_hz``; arrays broadcast."""
    return _interp(_grid()[4], bits, rate_hz, node_nm)
