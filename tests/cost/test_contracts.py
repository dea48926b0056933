"""Contract tests over every registered readout kind, input encoding, component and engine.

A new registration is covered automatically: shapes, finite positive outputs, vectorized ==
loop, and the monotonic trends every such model must have (more bits never cheaper or faster).
"""

from __future__ import annotations

import numpy as np
import pytest

from cimkit import get_network
from cimkit.cost import DesignTable, evaluate
from cimkit.cost.constants import load_constants
from cimkit.cost.designs import resolve_defaults
from cimkit.cost.model import ENERGY_COMPONENTS, _resolve_timing
from cimkit.cost.registry import COMPONENTS, ENCODINGS, ENGINES, READOUTS
from cimkit.specs import ChipSpec
from cimkit.specs.chip import DIGITAL_READOUTS

C = load_constants()


def _designs(**arrays: object) -> dict[str, np.ndarray]:
    table = DesignTable.from_arrays(ChipSpec(), arrays)  # type: ignore[arg-type]
    return _resolve_timing(resolve_defaults(table.values, C), C)


BITS = np.arange(1, 13)


@pytest.mark.parametrize("name", sorted(READOUTS))
def test_readout_contract(name: str) -> None:
    r = READOUTS[name]
    kind = "digital" if name in DIGITAL_READOUTS else "analog"
    extra = (
        {"bits_per_cell": [1] * len(BITS), "device": ["sram"] * len(BITS)}
        if kind == "digital" or name == "osa_hybrid"  # SRAM macros with 1-bit cells
        else {}
    )
    d = _designs(adc_bits=BITS, macro_kind=[kind] * len(BITS), readout=[name] * len(BITS), **extra)
    for fn in (r.energy_j, r.time_s, r.area_um2, r.leakage_w, r.value_share):
        v = np.asarray(fn(d, C))
        assert v.shape == BITS.shape, (name, fn)
        assert np.isfinite(v).all() and (v >= 0).all(), (name, fn)
    share = r.value_share(d, C)
    assert ((share >= 0) & (share <= 1)).all()
    assert (r.energy_j(d, C) > 0).all()
    if name not in DIGITAL_READOUTS:  # ADCs: more bits never cheaper, faster or smaller
        assert (np.diff(r.energy_j(d, C)) >= 0).all()
        assert (np.diff(r.time_s(d, C)) >= 0).all()
        assert (np.diff(r.area_um2(d, C)) > 0).all()
    # Vectorized == loop over designs.
    loop = [
        float(r.energy_j({k: v[i : i + 1] for k, v in d.items()}, C)[0]) for i in range(len(BITS))
    ]
    np.testing.assert_allclose(r.energy_j(d, C), loop, rtol=1e-12)
    # Higher voltage: faster.
    one = {k: v[:1] for k, v in extra.items()}
    lo = _designs(voltage_v=[0.6], readout=[name], macro_kind=[kind], **one)
    hi = _designs(voltage_v=[1.0], readout=[name], macro_kind=[kind], **one)
    assert r.time_s(hi, C)[0] < r.time_s(lo, C)[0]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encoding_contract(name: str) -> None:
    e = ENCODINGS[name]
    b = np.arange(1, 9) if name != "bit_serial" else np.ones(8, dtype=int)
    d = _designs(input_bits_per_cycle=b, input_encoding=[name] * len(b))
    level = np.linspace(0.0, 1.0, 11)
    p = e.pulses(level, np.full_like(level, b[-1]))
    assert p.shape == level.shape and p[0] == 0.0 and (np.diff(p) > 0).all()
    for fn in (e.fixed_j, e.slot_s, e.area_um2):
        v = np.asarray(fn(d, C))
        assert v.shape == b.shape and np.isfinite(v).all() and (v >= 0).all()
        assert (np.diff(v) >= 0).all()  # more bits per cycle: never cheaper, faster, smaller
    assert (e.slot_s(d, C) > 0).all()


def test_every_component_is_in_the_breakdown_and_sums_to_the_total() -> None:
    assert set(ENERGY_COMPONENTS) == set(COMPONENTS)
    wl = get_network("resnet18")
    rng = np.random.default_rng(0)
    designs = DesignTable.from_arrays(
        ChipSpec(),
        {
            "rows": rng.choice([64, 128, 256], 6),
            "readout": rng.choice(["sar", "flash", "integrate_fire"], 6),
            "input_encoding": rng.choice(["bit_serial", "voltage_dac"], 6),
            "execution": rng.choice(["pipelined", "sequential", "layerwise"], 6),
            "tile_groups": [64] * 6,
        },
    )
    ev = evaluate(designs, wl, breakdown=True)
    assert ev.layer_energy is not None
    total = np.zeros(len(designs))
    for name in COMPONENTS:
        e = ev.energy_by_component[name]
        assert e.shape == (6,) and np.isfinite(e).all() and (e >= 0).all(), name
        np.testing.assert_allclose(ev.layer_energy[name].sum(axis=1), e, rtol=1e-9, err_msg=name)
        total += e
    np.testing.assert_allclose(total, ev["energy_j"], rtol=1e-12)


def test_every_engine_returns_its_contract() -> None:
    from cimkit.cost.engines import Context, assign_engines
    from cimkit.cost.mapping import mapping_keys
    from cimkit.workload.histograms import stack_tables

    wl = get_network("mobilenetv2")
    la = wl.arrays()
    d = _designs(rows=[64, 128, 256, 256], cols=[64, 128, 256, 256])
    keys, kidx = mapping_keys(d)
    in_tab, w_tab = stack_tables(la.histograms)
    ctx = Context(d, C, la, assign_engines(la), keys, kidx, np.zeros(4, int), in_tab, w_tab)
    assert set(ENGINES) >= {"cim", "vector"}
    for name, engine in ENGINES.items():
        res = engine.run(ctx)
        assert res.time.shape == (4, len(res.time_cols)), name
        assert np.isfinite(res.time).all() and (res.time >= 0).all(), name
        for comp, terms in res.energy.items():
            assert comp in COMPONENTS, (name, comp)
            for t in terms:
                assert t.cost.shape == (4,) and t.events.shape[1] == len(t.cols)
                assert np.isfinite(t.total()).all() and (t.total() >= 0).all()
        for a in (*res.area_um2.values(), *res.leakage_w.values()):
            assert np.asarray(a).shape == (4,) and (np.asarray(a) >= 0).all()
    # Designs 2 and 3 share a mapping key: identical engine outputs.
    assert kidx[2] == kidx[3]
