"""Extension points of the cost model: engines, energy components, readout kinds, input encodings.

Every extension is one registered pure function; the contract tests in ``tests/cost/
test_contracts.py`` run over everything registered here (shapes, vectorized == loop, monotonic
trends, finite outputs), so adding one is a function plus its entry.

The central data type is :class:`Term`. An energy component does not return an ``(n, L)`` array;
it returns terms ``energy[i, l] = events[index[i], l] * cost[i]``: ``events`` are per-layer event
counts (already weighted by data statistics) that depend only on the layer table and on the
discrete mapping parameters of a design (its *mapping key*: rows, cols, bits per cell, ...), and
``cost`` is the per-event energy of each design (J), which carries every continuous parameter
(node, voltage, rates, constants). The same term gives the per-layer breakdown (gather the rows,
multiply) and the totals (sum events over layers first, then multiply): one formula, two orders
of contraction, and designs that share a mapping key share their event arrays. That is what makes
10,000 designs cost a few (n, L) operations (the latency) plus (K, L) work for K distinct keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Term:
    """``energy[i, cols[j]] = events[index[i], j] * cost[i]`` for designs i and event columns j.

    Attributes:
        events: (R, J) float event counts per layer slot (R rows of mapping keys or workloads).
        cost: (n,) float energy per event, J.
        index: (n,) int row of ``events`` for each design.
        cols: (J,) int layer slots of the J event columns (crossbar layers are a subset).
    """

    events: np.ndarray
    cost: np.ndarray
    index: np.ndarray
    cols: np.ndarray

    def total(self) -> np.ndarray:
        """(n,) energy summed over layers, J."""
        return self.events.sum(axis=1)[self.index] * self.cost

    def per_layer(self, n_layers: int) -> np.ndarray:
        """(n, n_layers) energy per layer slot, J."""
        out = np.zeros((len(self.cost), n_layers))
        out[:, self.cols] = self.events[self.index] * self.cost[:, None]
        return out


class Engine(Protocol):
    """An execution engine: what running its share of each layer costs on n designs.

    ``run(ctx)`` returns an :class:`EngineResult`; ``ctx`` is the evaluation context built by
    :mod:`cimkit.cost.model` (design arrays, layer arrays, mapping, constants).
    """

    name: str

    def run(self, ctx: Any) -> EngineResult: ...


@dataclass
class EngineResult:
    """Per-layer outcome of one engine for n designs.

    Attributes:
        energy: component name -> list of :class:`Term` (J).
        time: (n, J) busy time of the engine's layer slots ``time_cols`` (J,), s.
        area_um2: component name -> (n,) area, um^2.
        leakage_w: component name -> (n,) static power, W.
        extra: engine-specific outputs (the CIM engine: its mapping and per-layer copies).
    """

    energy: dict[str, list[Term]]
    time: np.ndarray
    time_cols: np.ndarray
    area_um2: dict[str, np.ndarray]
    leakage_w: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Readout:
    """A readout kind: per-design cost and timing of one conversion (all arrays (n,)).

    Attributes:
        name: the ``macro.readout`` value.
        energy_j: f(d, c) -> energy of one conversion at full scale, J. ``d`` holds (n,)
            design arrays (plus ``rate_hz``, the conversion rate the readout is built for).
        value_share: f(d, c) -> (n,) share of ``energy_j`` that scales with the output value
            (mean output level in [0, 1]); the rest is spent on every conversion.
        time_s: f(d, c) -> conversion time at the design's node and voltage, s.
        area_um2: f(d, c) -> area of one readout unit, um^2.
        leakage_w: f(d, c) -> static power of one unit, W.
    """

    name: str
    energy_j: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    value_share: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    time_s: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    area_um2: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    leakage_w: Callable[[dict[str, np.ndarray], Any], np.ndarray]


@dataclass(frozen=True)
class InputEncoding:
    """An input encoding: energy and time of driving rows with input slices.

    Attributes:
        name: the ``macro.input_encoding`` value.
        pulses: f(level, dac_bits) -> mean unit activations of a row per slice, for mean slice
            level ``level`` in [0, 1] (e.g. ``level * (2^b - 1)`` pulses for pulse_count).
        fixed_j: f(d, c) -> (n,) energy per row and slice spent whatever the value (a DAC), J.
        slot_s: f(d, c) -> (n,) time the encoding adds to one cycle (pulse train), s.
        area_um2: f(d, c) -> (n,) area per row, um^2, beyond the wordline driver.
    """

    name: str
    pulses: Callable[[np.ndarray, np.ndarray], np.ndarray]
    fixed_j: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    slot_s: Callable[[dict[str, np.ndarray], Any], np.ndarray]
    area_um2: Callable[[dict[str, np.ndarray], Any], np.ndarray]


ENGINES: dict[str, Engine] = {}
#: Energy component name -> (engine name, one-line description). Breakdown rows, in order.
COMPONENTS: dict[str, tuple[str, str]] = {}
READOUTS: dict[str, Readout] = {}
ENCODINGS: dict[str, InputEncoding] = {}


def register_engine(engine: Engine) -> Engine:
    ENGINES[engine.name] = engine
    return engine


def register_component(name: str, engine: str, description: str) -> None:
    """Declare an energy component (a breakdown row and an ``energy_<name>_j`` column)."""
    COMPONENTS[name] = (engine, description)


def register_readout(r: Readout) -> Readout:
    READOUTS[r.name] = r
    return r


def register_encoding(e: InputEncoding) -> InputEncoding:
    ENCODINGS[e.name] = e
    return e


def _per_kind(
    codes: np.ndarray,
    names: tuple[str, ...],
    registry: dict[str, Any],
    attr: str,
    d: dict[str, np.ndarray],
    c: Any,
) -> np.ndarray:
    """Per design, ``registry[kind].attr(d, c)`` of the kind its code names.

    Only the kinds present among the designs are computed; no Python loop over designs.
    """
    codes = np.asarray(codes).astype(np.int64)
    out = np.zeros(codes.shape)
    for i, name in enumerate(names):
        mask = codes == i
        if mask.any():
            out = np.where(mask, getattr(registry[name], attr)(d, c), out)
    return out


def per_readout(attr: str, d: dict[str, np.ndarray], c: Any) -> np.ndarray:
    """(n,) ``Readout.<attr>`` of each design's ``readout`` kind (energy_j, time_s, ...)."""
    from cimkit.cost.constants import READOUTS as NAMES

    return _per_kind(d["readout"], NAMES, READOUTS, attr, d, c)


def per_encoding(attr: str, d: dict[str, np.ndarray], c: Any) -> np.ndarray:
    """(n,) ``InputEncoding.<attr>`` of each design's ``input_encoding`` (fixed_j, slot_s, ...)."""
    from cimkit.cost.constants import ENCODINGS as NAMES

    return _per_kind(d["input_encoding"], NAMES, ENCODINGS, attr, d, c)
